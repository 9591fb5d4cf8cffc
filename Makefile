# iscard -- build, test, demo, install.
#
#   make            build build/iscard/core.so and build/iscard/vcard_io.so
#   make check      the unit specs (spec/unit): no root, no pcscd, no package
#                   install, a few seconds; ends "N passed, N failed"
#   make test       (as root: install missing Debian packages) build, start
#                   the PC/SC test bed, run the specs (spec/unit and
#                   spec/bed); ends "N passed, N failed"
#   make demo       run examples/ against the virtual card
#   make install    install under $(DESTDIR)$(PREFIX)
#   make test-faults  the reliability scenarios (README, Reliability), slow
#                   ones included (make test leaves out those tagged #slow)
#   make test-all   the specs on Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT (C modules
#                   in build/<name>/); ends "N passed, N failed" for all
#   make rock-check luarocks lint + luarocks make into an empty tree, offline;
#                   require "iscard" from it
#   make windows    cross-compile the core for Windows (mingw-w64, -Werror)
#   make docs       LDoc reference in build/docs; fails on any LDoc warning
#   make lint       luacheck, clang-tidy, cppcheck, clang-format; PC/SC
#                   binding coverage (make format: clang-format the C files)
#   make soak       SOAK_MINUTES (default 10) of random traffic from
#                   SOAK_CLIENTS processes under faults; RSS and fds flat
#   make flake-check  test-all FLAKE_RUNS times in a row (default 20); with
#                   FLAKE_STRESS=1 while stress-ng loads both cores
#   make asan       the specs with the C modules under ASan+UBSan (clang)
#   make fuzz       each libFuzzer target for FUZZ_SECONDS (README: Reliability)
#
# Each target installs the Debian packages it needs when run as root
# (DEBS_* below), like `make test`.
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
CLI_MODULES = $(wildcard lua/iscard/cli/*.lua)

# Debian packages the tests and the demo need.
DEBS = valgrind lua5.4 liblua5.4-dev lua-busted pcscd libpcsclite-dev vsmartcard-vpcd iproute2 util-linux pkg-config gcc make
# ... and the other targets (on top of DEBS for test-all).
DEBS_ALL     = lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev luajit libluajit-5.1-dev
DEBS_ROCK    = luarocks lua5.4 liblua5.4-dev libpcsclite-dev gcc util-linux
DEBS_WINDOWS = mingw-w64 liblua5.4-dev
DEBS_DOCS    = lua-ldoc lua-markdown lua5.1
DEBS_LINT    = lua-check clang-tidy clang-format-14 cppcheck liblua5.4-dev libpcsclite-dev pkg-config
DEBS_FLAKE   = stress-ng
DEBS_ASAN    = clang-14 libclang-rt-14-dev
DEBS_FUZZ    = clang-14 libclang-rt-14-dev liblua5.4-dev libpcsclite-dev pkg-config

.PHONY: all test demo install clean format deps valgrind test-all rock-check windows docs lint flake-check soak asan fuzz fuzz-replay test-faults

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

# spec/unit: specs that run anywhere; spec/bed: specs that need the test bed
# (spec/support/testbed), each one pending with the reason outside it.
SPECS ?= spec
# Fault specs tagged #slow (pcscd restarts, cards pulled several times) are
# left out of test, test-all and valgrind; test-faults runs them.
BUSTED_TAGS ?= --exclude-tags=slow
# The unit specs on the machine as it is: nothing installed, no pcscd
# started; the C modules and the fuzz replay builds are compiled first.
.PHONY: check
check: all fuzz-replay
	sh spec/support/run-busted $(LUA) spec/unit

test: deps
	$(MAKE) all fuzz-replay
	LUA=$(LUA) spec/support/testbed sh spec/support/run-busted $(LUA) $(BUSTED_TAGS) $(SPECS)

# --- every scenario of the README's reliability table (README, Reliability):
# the specs it points to, slow ones included.
FAULT_SPECS = spec/bed/faults_spec.lua spec/bed/restart_spec.lua spec/bed/iscard_spec.lua \
              spec/bed/quickstart_spec.lua spec/unit/transaction_spec.lua
test-faults:
	$(MAKE) --no-print-directory test SPECS="$(FAULT_SPECS)" BUSTED_TAGS=

demo: deps
	$(MAKE) all
	LUA=$(LUA) ISCARD_TEST_CARD=$(CURDIR)/examples/cards/echo.lua spec/support/testbed $(LUA) examples/demo.lua

# The specs under valgrind: the summary of leaks our code is responsible for.
valgrind: all fuzz-replay
	LUA=$(LUA) spec/support/testbed sh spec/support/valgrind-specs $(LUA) $(BUSTED_TAGS) $(SPECS)

# The specs with the C modules built by clang under AddressSanitizer and
# UndefinedBehaviorSanitizer (any UB aborts), run by the plain interpreter
# with the ASan runtime preloaded and the collector never resting
# (spec/support/asan-lua); fails on any report of any process.
ASAN_CC     ?= clang-14
ASAN_CFLAGS  = -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_BUILD   = $(BUILD)/asan
asan:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS) $(DEBS_ASAN)"
	$(MAKE) --no-print-directory all BUILD=$(ASAN_BUILD) CC=$(ASAN_CC) CFLAGS="$(ASAN_CFLAGS)"
	$(MAKE) --no-print-directory fuzz-replay
	ISCARD_ASAN_RT=$$($(ASAN_CC) -print-file-name=libclang_rt.asan-$$(uname -m).so) ISCARD_ASAN_LUA=$(LUA) \
	  ISCARD_BUILD=$(ASAN_BUILD) LUA=$(CURDIR)/spec/support/asan-lua \
	  spec/support/testbed sh spec/support/asan-specs $(BUSTED_TAGS) $(SPECS)

# --- fuzzing with libFuzzer (clang-14). One target per input that a card,
# the daemon or a script controls: fuzz/<name>.c for C targets, and for the
# pure-Lua parts one generic target, fuzz/lua_target.c, built once per
# harness fuzz/harness/<name>.lua.  A new parser needs its harness, a
# fuzz/<name>/start/ folder and its name in FUZZ_LUA_TARGETS.
#   make fuzz FUZZ_SECONDS=N [FUZZ_RUNS=N] [FUZZ_TARGETS="apdu ..."]
# runs each target for N seconds (or N executions, whichever first), from
# its starting inputs (fuzz/<name>/start/) and the corpus it grew before (build/fuzz/corpus/<name>), and
# prints the executions of each; findings go to build/fuzz/findings/<name>/.
# -detect_leaks=0: every target keeps one lua_State across inputs, whose
# heap grows and shrinks with the collector, not per input; libFuzzer would
# run a full LeakSanitizer scan after nearly every input (measured: 90% of
# the time).  Leaks of the C code are `make asan`'s and valgrind's job.
# Kept findings live in fuzz/<name>/regress/, and `make test` replays them
# and the starting inputs (spec/unit/fuzz_regress_spec.lua) through the same code, built by
# $(CC) without libFuzzer (fuzz/replay.c: build/fuzz-replay/<name>).
FUZZ_C_TARGETS   = vcard_frames core_glue
FUZZ_LUA_TARGETS = apdu transaction swtext decoders
FUZZ_TARGETS    ?= $(FUZZ_C_TARGETS) $(FUZZ_LUA_TARGETS)
FUZZ_SECONDS    ?= 10
FUZZ_RUNS       ?= -1
FUZZ_CC         ?= clang-14
FUZZ_BUILD       = $(BUILD)/fuzz
REPLAY_BUILD     = $(BUILD)/fuzz-replay
# the embedded interpreter: Debian's Lua 5.4 (not instrumented)
FUZZ_LUA_INCDIR ?= /usr/include/lua5.4
FUZZ_LUA_LIBS   ?= -llua5.4
FUZZ_FLAGS       = -I$(FUZZ_LUA_INCDIR) $(PCSC_CFLAGS) -DISCARD_ROOT='"$(CURDIR)"'
FUZZ_SAN         = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                   -fno-omit-frame-pointer -DISCARD_FUZZ_COVER
FUZZ_DEPS        = fuzz/lua_embed.h src/iscard_core.c src/vcard_io.c src/iscard_names.h src/compat.h

$(FUZZ_C_TARGETS:%=$(FUZZ_BUILD)/%): $(FUZZ_BUILD)/%: fuzz/%.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LUA_LIBS)
$(FUZZ_LUA_TARGETS:%=$(FUZZ_BUILD)/%): $(FUZZ_BUILD)/%: fuzz/lua_target.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) $(FUZZ_FLAGS) -DISCARD_HARNESS='"$(CURDIR)/fuzz/harness/$*.lua"' \
	  -o $@ $< $(FUZZ_LUA_LIBS)
$(FUZZ_C_TARGETS:%=$(REPLAY_BUILD)/%): $(REPLAY_BUILD)/%: fuzz/%.c fuzz/replay.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O1 -g $(FUZZ_FLAGS) -o $@ $< fuzz/replay.c $(FUZZ_LUA_LIBS)

fuzz-replay: $(FUZZ_C_TARGETS:%=$(REPLAY_BUILD)/%)

fuzz:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS_FUZZ)"
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/findings/$$t; \
	  log=$(FUZZ_BUILD)/$$t.log; \
	  $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) -print_final_stats=1 -detect_leaks=0 \
	    -artifact_prefix=$(FUZZ_BUILD)/findings/$$t/ $(FUZZ_BUILD)/corpus/$$t fuzz/$$t/start \
	    >$$log 2>&1 || { tail -n 60 $$log; echo "fuzz: $$t found a crash (above; input in $(FUZZ_BUILD)/findings/$$t/)"; exit 1; }; \
	  awk -v t=$$t '/stat::number_of_executed_units/ {n=$$2} /stat::average_exec_per_sec/ {r=$$2} \
	    /stat::new_units_added/ {u=$$2} END {printf "%-13s %11d executions, %6d/s, %4d new corpus units\n", t, n, r, u}' $$log; \
	done

install: all
	install -d $(DESTDIR)$(LUA_LIBDIR)/iscard $(DESTDIR)$(LUA_SHAREDIR)/iscard $(DESTDIR)$(BINDIR)
	install -m 755 $(CORE) $(VCARDIO) $(DESTDIR)$(LUA_LIBDIR)/iscard/
	install -m 644 $(LUA_MODULES) $(DESTDIR)$(LUA_SHAREDIR)/iscard/
	install -d $(DESTDIR)$(LUA_SHAREDIR)/iscard/cli
	install -m 644 $(CLI_MODULES) $(DESTDIR)$(LUA_SHAREDIR)/iscard/cli/
	install -m 755 bin/iscard $(DESTDIR)$(BINDIR)/iscard

# --- every Lua: name:interpreter:include-dir; C modules in build/<name>/
LUAS = 5.1:lua5.1:/usr/include/lua5.1 5.2:lua5.2:/usr/include/lua5.2 \
       5.3:lua5.3:/usr/include/lua5.3 5.4:lua5.4:/usr/include/lua5.4 \
       luajit:luajit:/usr/include/luajit-2.1
test-all:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS) $(DEBS_ALL)"
	@$(MAKE) --no-print-directory fuzz-replay
	LUAS="$(LUAS)" MAKE="$(MAKE)" spec/support/test-all $(BUSTED_TAGS) $(SPECS)

# --- the suite's determinism: test-all many times in a row, optionally
# with both cores loaded (tools/flake-check.sh; never part of CI).
FLAKE_RUNS   ?= 20
FLAKE_STRESS ?= 0
flake-check:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS) $(DEBS_ALL) $(DEBS_FLAKE)"
	STRESS=$(FLAKE_STRESS) MAKE="$(MAKE)" tools/flake-check.sh $(FLAKE_RUNS)

# --- the soak: clients on both readers under card removals, resets and
# pcscd restarts, their memory and descriptors sampled (tools/soak.lua;
# never part of CI).
SOAK_MINUTES ?= 10
SOAK_CLIENTS ?= 4
soak: deps
	$(MAKE) all
	LUA=$(LUA) spec/support/testbed $(LUA) tools/soak.lua $(SOAK_MINUTES) $(SOAK_CLIENTS)

# --- LuaRocks: lint, make into an empty tree (offline), require from it
ROCKSPEC          ?= rockspec/iscard-scm-1.rockspec
ROCK_LUA_VERSION  ?= 5.4
rock-check:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS_ROCK)"
	tools/rock-check.sh $(ROCKSPEC) $(ROCK_LUA_VERSION)

# --- Windows: the core compiled by mingw-w64 against the Lua headers, with
# the same warnings as errors; then linked against an import library for
# lua54.dll made from the object's own lua_*/luaL_* references, which shows
# that the DLL links and exports luaopen_iscard_core only.
WIN_TARGETS    ?= x86_64-w64-mingw32 i686-w64-mingw32
WIN_LUA_INCDIR ?= /usr/include/lua5.4
WIN_BUILD       = $(BUILD)/windows
windows:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS_WINDOWS)"
	@for t in $(WIN_TARGETS); do \
	  $(MAKE) --no-print-directory $(WIN_BUILD)/$$t/iscard/core.dll || exit 1; \
	  printf '%s: exports' "$$t"; $$t-objdump -p $(WIN_BUILD)/$$t/iscard/core.dll \
	    | sed -n '/Ordinal\/Name Pointer/,/^$$/p' | awk '/^[[:space:]]*\[ *[0-9]+\]/ {printf " %s", $$NF}'; echo; \
	done

.PRECIOUS: $(WIN_BUILD)/%/iscard_core.o
$(WIN_BUILD)/%/iscard_core.o: src/iscard_core.c src/iscard_names.h src/compat.h
	@mkdir -p $(dir $@)
	$*-gcc $(WARN) -Werror $(CFLAGS) -I$(WIN_LUA_INCDIR) -c -o $@ src/iscard_core.c

$(WIN_BUILD)/%/iscard/core.dll: $(WIN_BUILD)/%/iscard_core.o
	@mkdir -p $(dir $@)
	{ echo "LIBRARY lua54.dll"; echo EXPORTS; $*-nm -u $< | awk '{print $$2}' | sed 's/^_//' \
	  | grep -E '^luaL?_'; } > $(WIN_BUILD)/$*/lua54.def
	$*-dlltool -d $(WIN_BUILD)/$*/lua54.def -l $(WIN_BUILD)/$*/liblua54.a -D lua54.dll
	$*-gcc -shared -o $@ $< $(WIN_BUILD)/$*/liblua54.a -lwinscard

# --- LDoc (config.ld) into build/docs. lua-markdown is a Lua 5.1 module, so
# LDoc runs on lua5.1; any line but LDoc's two progress lines fails.
LDOC ?= lua5.1 /usr/bin/ldoc
docs:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS_DOCS)"
	@out=$$($(LDOC) . 2>&1); rc=$$?; printf '%s\n' "$$out"; \
	problems=$$(printf '%s\n' "$$out" | grep -v -E '^(reading configuration from|output written to) '); \
	if [ $$rc -ne 0 ] || [ -n "$$problems" ]; then echo "docs: LDoc reported problems (above)"; exit 1; fi

# --- lint: luacheck (.luacheckrc), clang-tidy (.clang-tidy), cppcheck, the
# C layout (.clang-format) and the PC/SC binding coverage (informational).
# FORMAT_FILES: the C files clang-format checks (`make format` formats them).
CLANG_FORMAT   ?= clang-format-14
FORMAT_FILES    = $(wildcard src/*.c fuzz/*.c)
LUACHECK_PATHS = lua spec examples bench fuzz bin/iscard tools
CPPCHECK_FLAGS = --enable=warning,style,performance,portability --std=c99 --force \
                 --inline-suppr --error-exitcode=1 --quiet
lint:
	@$(MAKE) --no-print-directory deps DEBS="$(DEBS_LINT)"
	luacheck -q --no-color $(LUACHECK_PATHS)
	@echo "clang-tidy src/iscard_core.c src/vcard_io.c"; \
	out=$$(clang-tidy --quiet src/iscard_core.c src/vcard_io.c -- -std=c99 -I$(LUA_INCDIR) $(PCSC_CFLAGS) 2>&1); \
	rc=$$?; printf '%s\n' "$$out" | grep -v -E '^[0-9]+ warnings? generated\.$$'; exit $$rc
	cppcheck $(CPPCHECK_FLAGS) -I$(LUA_INCDIR) $(filter -I%,$(PCSC_CFLAGS)) src/
	$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES)
	@tools/bindcov.sh
	@echo "lint: clean"

format:
	$(CLANG_FORMAT) -i $(FORMAT_FILES)

clean:
	rm -rf $(BUILD)
	rm -f src/*.o iscard/*.so
	-rmdir iscard 2>/dev/null

# make bench: benchmarks, never part of CI (bench/README.md)
include bench/bench.mk
