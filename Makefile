# iscard -- build, test, demo, install.
#
#   make            build build/iscard/core.so and build/iscard/vcard_io.so
#   make test       (as root: install missing Debian packages) build, start
#                   the PC/SC test bed, run the specs; ends "N passed, N failed"
#   make demo       run examples/ against the virtual card
#   make install    install under $(DESTDIR)$(PREFIX)
#
# Variables follow LuaRocks' names so `luarocks make` can drive it too.

LUA         ?= lua5.4
LUA_VERSION ?= 5.4
LUA_INCDIR  ?= /usr/include/lua$(LUA_VERSION)
PREFIX      ?= /usr/local
LUA_LIBDIR  ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
LUA_SHAREDIR?= $(PREFIX)/share/lua/$(LUA_VERSION)
BINDIR      ?= $(PREFIX)/bin
PCSC_CFLAGS ?= $(shell pkg-config --cflags libpcsclite 2>/dev/null || echo -I/usr/include/PCSC)
PCSC_LIBS   ?= $(shell pkg-config --libs libpcsclite 2>/dev/null || echo -lpcsclite)

CC          ?= cc
WARN        = -std=c99 -Wall -Wextra -pedantic -Wshadow -Wmissing-prototypes -Wstrict-prototypes
CFLAGS      ?= -O2 -g
ALL_CFLAGS  = $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden -I$(LUA_INCDIR) $(PCSC_CFLAGS)
LIBFLAG     ?= -shared

BUILD       = build
CORE        = $(BUILD)/iscard/core.so
VCARDIO     = $(BUILD)/iscard/vcard_io.so
LUA_MODULES = $(wildcard lua/iscard/*.lua)

# Debian packages the tests and the demo need.
DEBS = valgrind lua5.4 liblua5.4-dev lua-busted pcscd libpcsclite-dev vsmartcard-vpcd iproute2 util-linux pkg-config gcc make

.PHONY: all test demo install clean deps valgrind

all: $(CORE) $(VCARDIO)

$(CORE): src/iscard_core.c src/iscard_names.h src/compat.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ src/iscard_core.c $(PCSC_LIBS)

$(VCARDIO): src/vcard_io.c src/compat.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ src/vcard_io.c

# As root, install whatever Debian package is missing; otherwise only say.
deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get install -y -q $$missing >/dev/null 2>&1 || (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null)) \
	      || { echo "apt-get install failed for:$$missing"; exit 1; }; \
	  else echo "missing Debian packages (run as root to install):$$missing"; exit 1; fi; \
	fi

SPECS ?= spec
test: deps
	$(MAKE) all
	LUA=$(LUA) spec/support/testbed sh spec/support/run-busted $(LUA) $(SPECS)

demo: deps
	$(MAKE) all
	LUA=$(LUA) ISCARD_TEST_CARD=$(CURDIR)/examples/cards/echo.lua spec/support/testbed $(LUA) examples/demo.lua

# The specs under valgrind: the summary of leaks our code is responsible for.
valgrind: all
	LUA=$(LUA) spec/support/testbed sh spec/support/valgrind-specs $(LUA) $(SPECS)

install: all
	install -d $(DESTDIR)$(LUA_LIBDIR)/iscard $(DESTDIR)$(LUA_SHAREDIR)/iscard $(DESTDIR)$(BINDIR)
	install -m 755 $(CORE) $(VCARDIO) $(DESTDIR)$(LUA_LIBDIR)/iscard/
	install -m 644 $(LUA_MODULES) $(DESTDIR)$(LUA_SHAREDIR)/iscard/
	install -m 755 bin/iscard $(DESTDIR)$(BINDIR)/iscard

clean:
	rm -rf $(BUILD)
