# fuzz/fuzz.mk -- fuzzing with libFuzzer (clang-14), included from the
# Makefile (which defines CC, WARN, PCSC_CFLAGS and need-SETS).
#
# One target per input that a card, the daemon or a script controls:
# fuzz/<name>.c for C targets, and for the pure-Lua parts one generic
# target, fuzz/lua_target.c, built once per harness fuzz/harness/<name>.lua.
# A new parser needs its harness, a fuzz/<name>/start/ folder and its name
# in FUZZ_LUA_TARGETS.
#   make fuzz FUZZ_SECONDS=N [FUZZ_RUNS=N] [FUZZ_TARGETS="apdu ..."]
# runs each target for N seconds (or N executions, whichever first), from
# its starting inputs (fuzz/<name>/start/) and the corpus it grew before
# (build/fuzz/corpus/<name>), and prints the executions of each; findings go
# to build/fuzz/findings/<name>/.
# -detect_leaks=0: every target keeps one lua_State across inputs, whose
# heap grows and shrinks with the collector, not per input; libFuzzer would
# run a full LeakSanitizer scan after nearly every input (measured: 90% of
# the time).  Leaks of the C code are `make asan`'s and valgrind's job.
# Kept findings live in fuzz/<name>/regress/, and `make check` replays them
# and the starting inputs (spec/unit/fuzz_regress_spec.lua) through the same
# code, built by $(CC) without libFuzzer (fuzz/replay.c:
# build/fuzz-replay/<name>).

.PHONY: fuzz fuzz-replay

DEBS_fuzz        = clang-14 libclang-rt-14-dev liblua5.4-dev libpcsclite-dev pkg-config
FUZZ_C_TARGETS   = vcard_frames core_glue vreader_parsers
FUZZ_LUA_TARGETS = apdu transaction swtext decoders cli
FUZZ_TARGETS    ?= $(FUZZ_C_TARGETS) $(FUZZ_LUA_TARGETS)
FUZZ_SECONDS    ?= 10
FUZZ_RUNS       ?= -1
FUZZ_CC         ?= clang-14
FUZZ_BUILD       = build/fuzz
# the replay builds do not depend on LUA: one for every Lua's `make check`
REPLAY_BUILD     = build/fuzz-replay
# the embedded interpreter: Debian's Lua 5.4 (not instrumented)
FUZZ_LUA_INCDIR ?= /usr/include/lua5.4
FUZZ_LUA_LIBS   ?= -llua5.4
FUZZ_FLAGS       = -I$(FUZZ_LUA_INCDIR) $(PCSC_CFLAGS) -DISCARD_ROOT='"$(CURDIR)"'
FUZZ_SAN         = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                   -fno-omit-frame-pointer -DISCARD_FUZZ_COVER
FUZZ_DEPS        = fuzz/lua_embed.h src/iscard_core.c src/worker.c src/worker.h src/vcard_io.c src/iscard_names.h src/compat.h
# the core's thread half, linked into every target that includes the core
FUZZ_WORKER      = src/worker.c -lpthread -ldl

$(FUZZ_C_TARGETS:%=$(FUZZ_BUILD)/%): $(FUZZ_BUILD)/%: fuzz/%.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_WORKER) $(FUZZ_LUA_LIBS)
$(FUZZ_LUA_TARGETS:%=$(FUZZ_BUILD)/%): $(FUZZ_BUILD)/%: fuzz/lua_target.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) $(FUZZ_FLAGS) -DISCARD_HARNESS='"$(CURDIR)/fuzz/harness/$*.lua"' \
	  -o $@ $< $(FUZZ_WORKER) $(FUZZ_LUA_LIBS)
$(FUZZ_C_TARGETS:%=$(REPLAY_BUILD)/%): $(REPLAY_BUILD)/%: fuzz/%.c fuzz/replay.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O1 -g $(FUZZ_FLAGS) -o $@ $< fuzz/replay.c $(FUZZ_WORKER) $(FUZZ_LUA_LIBS)

fuzz-replay: $(FUZZ_C_TARGETS:%=$(REPLAY_BUILD)/%)

fuzz: need-fuzz
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
