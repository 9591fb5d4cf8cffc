# iscard -- build, test, demo, install.
#
#   make            build $(BUILD)/iscard/core.so and vcard_io.so for $(LUA)
#   make check      the unit specs (spec/unit): no root, no pcscd, a few
#                   seconds; ends "N passed, N failed".  LUA=lua5.1 (5.2,
#                   5.3, luajit) builds and runs them for that Lua
#   make test       build, start the PC/SC test bed (as root), run the specs
#                   (spec/unit and spec/bed); ends "N passed, N failed"
#   make test-all   the specs on Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT
#   make test-faults  the reliability scenarios, slow ones included
#   make valgrind   the specs under memcheck;  make asan  under ASan+UBSan
#   make demo       run examples/ against the virtual card
#   make install    install under $(DESTDIR)$(PREFIX)
#   make docs       LDoc reference in build/docs; fails on any LDoc warning
#   make lint       luacheck, clang-tidy, cppcheck, clang-format, the module
#                   lists, PC/SC binding coverage (make format: clang-format)
#   make deps       as root: install the Debian packages of the DEPS sets
#                   (default: all of them); every other target only says
#                   what is missing
#   make rock-check, windows, soak, flake-check: tools/tools.mk
#   make fuzz: fuzz/fuzz.mk;  make bench: bench/bench.mk
#
# Variables follow LuaRocks' names so `luarocks make` can drive it too.

LUA         ?= lua5.4
# Each Lua's headers, and where its C modules go: 5.4's in build/, so that
# .busted and the tools find them without being told; the others' in
# build/5.1, build/5.2, build/5.3, build/luajit (as test-all builds them).
LUA_INCDIR_lua5.1 = /usr/include/lua5.1
LUA_INCDIR_lua5.2 = /usr/include/lua5.2
LUA_INCDIR_lua5.3 = /usr/include/lua5.3
LUA_INCDIR_lua5.4 = /usr/include/lua5.4
LUA_INCDIR_luajit = /usr/include/luajit-2.1
LUA_VERSION ?= $(if $(filter luajit,$(LUA)),5.1,$(patsubst lua%,%,$(notdir $(LUA))))
LUA_INCDIR  ?= $(or $(LUA_INCDIR_$(notdir $(LUA))),/usr/include/lua$(LUA_VERSION))
BUILD       ?= $(if $(filter lua5.4,$(notdir $(LUA))),build,build/$(if $(filter luajit,$(notdir $(LUA))),luajit,$(LUA_VERSION)))
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

CORE        = $(BUILD)/iscard/core.so
VCARDIO     = $(BUILD)/iscard/vcard_io.so
LUA_MODULES = $(wildcard lua/iscard/*.lua)
CLI_MODULES = $(wildcard lua/iscard/cli/*.lua)

# Debian packages, in sets by target (DEBS_fuzz: fuzz/fuzz.mk, DEBS_bench:
# bench/bench.mk, DEBS_rock and DEBS_windows: tools/tools.mk).
DEBS_test  = valgrind lua5.4 liblua5.4-dev lua-busted lua-argparse pcscd libpcsclite-dev vsmartcard-vpcd iproute2 \
             util-linux pkg-config gcc make
DEBS_all   = lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev luajit libluajit-5.1-dev
DEBS_docs  = lua-ldoc lua-markdown lua5.1
DEBS_lint  = lua-check lua5.4 clang-tidy clang-format-14 cppcheck liblua5.4-dev libpcsclite-dev pkg-config
DEBS_flake = stress-ng
DEBS_asan  = clang-14 libclang-rt-14-dev
DEPS      ?= test all docs lint flake asan fuzz rock windows bench
# need-SETS (sets joined by +, as need-test+asan): fails, naming what is
# missing of those sets; the targets list it first among their prerequisites.
need-%:
	@sh tools/debs.sh check "$(subst +, ,$*)" $(foreach s,$(subst +, ,$*),$(DEBS_$(s)))

.PHONY: all check test test-faults demo valgrind asan test-all install deps docs lint format clean

all: $(CORE) $(VCARDIO)

$(CORE): src/iscard_core.c src/worker.c src/worker.h src/iscard_names.h src/compat.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ src/iscard_core.c src/worker.c $(PCSC_LIBS) -lpthread -ldl

$(VCARDIO): src/vcard_io.c src/compat.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ src/vcard_io.c

deps:
	@sh tools/debs.sh install $(foreach s,$(DEPS),$(DEBS_$(s)))

# spec/unit: specs that run anywhere; spec/bed: specs that need the test bed
# (spec/support/testbed), each one pending with the reason outside it.
SPECS ?= spec
# Fault specs tagged #slow (pcscd restarts, cards pulled several times) are
# left out of test, test-all and valgrind; test-faults runs them.
BUSTED_TAGS ?= --exclude-tags=slow
# The specs and the programs they start find this Lua and its build here.
RUN = LUA=$(LUA) ISCARD_BUILD=$(BUILD)

# (check: the programs the specs start find the tree's modules, as the
# test bed sets them for the other targets)
check: all fuzz-replay
	$(RUN) LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;;" \
	  LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;" sh spec/support/run-busted $(LUA) spec/unit

test: need-test all fuzz-replay
	$(RUN) spec/support/testbed sh spec/support/run-busted $(LUA) $(BUSTED_TAGS) $(SPECS)

# every scenario of the README's reliability table: the specs it points
# to, slow ones included
FAULT_SPECS = spec/bed/faults_spec.lua spec/bed/restart_spec.lua spec/bed/iscard_spec.lua \
              spec/bed/quickstart_spec.lua spec/unit/transaction_spec.lua
test-faults:
	$(MAKE) --no-print-directory test SPECS="$(FAULT_SPECS)" BUSTED_TAGS=

demo: need-test all
	$(RUN) ISCARD_TEST_CARD=$(CURDIR)/examples/cards/echo.lua spec/support/testbed $(LUA) examples/demo.lua

# The specs under valgrind: the summary of leaks our code is responsible for.
valgrind: need-test all fuzz-replay
	$(RUN) spec/support/testbed sh spec/support/valgrind-specs $(LUA) $(BUSTED_TAGS) $(SPECS)

# The specs with the C modules built by clang under AddressSanitizer and
# UndefinedBehaviorSanitizer (any UB aborts), run by the plain interpreter
# with the ASan runtime preloaded and the collector never resting
# (spec/support/asan-lua); fails on any report of any process.
ASAN_CC     ?= clang-14
ASAN_CFLAGS  = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_BUILD   = build/asan
asan: need-test+asan fuzz-replay
	$(MAKE) --no-print-directory all BUILD=$(ASAN_BUILD) CC=$(ASAN_CC) CFLAGS="$(ASAN_CFLAGS)"
	ISCARD_ASAN_RT=$$($(ASAN_CC) -print-file-name=libclang_rt.asan-$$(uname -m).so) ISCARD_ASAN_LUA=$(LUA) \
	  ISCARD_BUILD=$(ASAN_BUILD) LUA=$(CURDIR)/spec/support/asan-lua \
	  spec/support/testbed sh spec/support/asan-specs $(BUSTED_TAGS) $(SPECS)

# every Lua: name:interpreter:include-dir; C modules in build/<name>/
LUAS = 5.1:lua5.1:/usr/include/lua5.1 5.2:lua5.2:/usr/include/lua5.2 \
       5.3:lua5.3:/usr/include/lua5.3 5.4:lua5.4:/usr/include/lua5.4 \
       luajit:luajit:/usr/include/luajit-2.1
test-all: need-test+all fuzz-replay
	LUAS="$(LUAS)" MAKE="$(MAKE)" spec/support/test-all $(BUSTED_TAGS) $(SPECS)

install: all
	install -d $(DESTDIR)$(LUA_LIBDIR)/iscard $(DESTDIR)$(LUA_SHAREDIR)/iscard $(DESTDIR)$(BINDIR)
	install -m 755 $(CORE) $(VCARDIO) $(DESTDIR)$(LUA_LIBDIR)/iscard/
	install -m 644 $(LUA_MODULES) $(DESTDIR)$(LUA_SHAREDIR)/iscard/
	install -d $(DESTDIR)$(LUA_SHAREDIR)/iscard/cli
	install -m 644 $(CLI_MODULES) $(DESTDIR)$(LUA_SHAREDIR)/iscard/cli/
	install -d $(DESTDIR)$(LUA_SHAREDIR)/iscard/loop
	install -m 644 $(wildcard lua/iscard/loop/*.lua) $(DESTDIR)$(LUA_SHAREDIR)/iscard/loop/
	install -m 755 bin/iscard $(DESTDIR)$(BINDIR)/iscard

# LDoc (config.ld) into build/docs. lua-markdown is a Lua 5.1 module, so
# LDoc runs on lua5.1; any line but LDoc's progress lines fails (the merge
# of the ISCard page from the C and the Lua file is one of them).
LDOC ?= lua5.1 /usr/bin/ldoc
docs: need-docs
	@out=$$($(LDOC) . 2>&1); rc=$$?; printf '%s\n' "$$out"; \
	problems=$$(printf '%s\n' "$$out" | grep -v -E '^(reading configuration from|output written to|found master module)\b'); \
	if [ $$rc -ne 0 ] || [ -n "$$problems" ]; then echo "docs: LDoc reported problems (above)"; exit 1; fi

# lint: luacheck (.luacheckrc), clang-tidy (.clang-tidy), cppcheck, the C
# layout (.clang-format), the module lists of the rockspec and config.ld,
# and the PC/SC binding coverage (informational).
ROCKSPEC       ?= rockspec/iscard-scm-1.rockspec
CLANG_FORMAT   ?= clang-format-14
FORMAT_FILES    = $(wildcard src/*.c fuzz/*.c)
LUACHECK_PATHS  = lua spec examples bench fuzz bin/iscard tools
CPPCHECK_FLAGS  = --enable=warning,style,performance,portability --std=c99 --force \
                  --inline-suppr --error-exitcode=1 --quiet
# No function over 60 lines in the library and the command (tools/funclen.sh).
FUNCLEN_FILES   = $(wildcard lua/iscard/*.lua lua/iscard/*/*.lua) bin/iscard
lint: need-lint
	luacheck -q --no-color $(LUACHECK_PATHS)
	tools/funclen.sh 60 $(FUNCLEN_FILES)
	@echo "clang-tidy src/iscard_core.c src/worker.c src/vcard_io.c"; \
	out=$$(clang-tidy --quiet src/iscard_core.c src/worker.c src/vcard_io.c -- -std=c99 -I$(LUA_INCDIR) $(PCSC_CFLAGS) 2>&1); \
	rc=$$?; printf '%s\n' "$$out" | grep -v -E '^[0-9]+ warnings? generated\.$$'; exit $$rc
	cppcheck $(CPPCHECK_FLAGS) -I$(LUA_INCDIR) $(filter -I%,$(PCSC_CFLAGS)) src/
	$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES)
	lua5.4 tools/module-list-check.lua $(ROCKSPEC) config.ld
	@tools/bindcov.sh
	@echo "lint: clean"

format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

clean:
	rm -rf build
	rm -f src/*.o iscard/*.so
	-rmdir iscard 2>/dev/null

include fuzz/fuzz.mk tools/tools.mk bench/bench.mk
# make ifd: the virtual reader driver (src/ifd/ifd.mk)
include src/ifd/ifd.mk
