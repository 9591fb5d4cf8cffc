# bench/bench.mk -- `make bench`: the benchmarks (never part of CI
# pass/fail).  Included from the Makefile; can also be used as
#   make -f Makefile -f bench/bench.mk bench
#
#   make bench                 full run (a few minutes: 1M Transactions, 60 s idle)
#   make bench BENCH_QUICK=1   smoke run (everything short)
#
# Missing Debian packages are named first (`make deps DEPS=bench` installs
# them as root), and everything runs in the private test bed (spec/support/testbed: its own
# pcscd + vpcd in a mount+net namespace, bench/cards/bulk.lua in both
# readers).  The report goes to stdout and to bench/last-run.txt.
# Knobs (environment or make variables): BENCH_QUICK, BENCH_IDLE_S (60),
# BENCH_RSS_N (1000000), BENCH_ROUNDS (7), BENCH_N (20000), BENCH_CG_N
# (2000), BENCH_CG_REPS (3), BENCH_BULK_ROUNDS (5), BENCH_BULK_REPS (10), BENCH_SKIP (section
# names: roundtrips unpinned callgrind lualayer bulk vcard memory idle),
# BENCH_ONLY (only these sections),
# BENCH_CPUS (0): the CPU list everything is pinned to (taskset -c); empty =
# no pinning.  See bench/README.md for why one CPU is the default.

# Wherever this file is included, it must not change the default goal.
bench_saved_goal := $(.DEFAULT_GOAL)

LUA         ?= lua5.4
CC          ?= cc
PCSC_CFLAGS ?= $(shell pkg-config --cflags libpcsclite 2>/dev/null || echo -I/usr/include/PCSC)
PCSC_LIBS   ?= $(shell pkg-config --libs libpcsclite 2>/dev/null || echo -lpcsclite)

BENCH_DIR   = bench
BENCH_BUILD = build/bench
BENCH_CFLAGS = -std=c99 -O2 -g -Wall -Wextra
DEBS_bench  = lua5.4 liblua5.4-dev pcscd libpcsclite-dev vsmartcard-vpcd python3-pyscard valgrind \
              iproute2 util-linux pkg-config gcc make

BENCH_CPUS ?= 0
export BENCH_CPUS BENCH_QUICK BENCH_IDLE_S BENCH_RSS_N BENCH_ROUNDS BENCH_N BENCH_CG_N BENCH_CG_REPS BENCH_BULK_ROUNDS \
       BENCH_BULK_REPS BENCH_SKIP BENCH_ONLY

.PHONY: bench bench-deps bench-build

# Says what is missing of DEBS_bench (`make deps DEPS=bench` installs it).
bench-deps: need-bench

bench-build:
	@mkdir -p $(BENCH_BUILD)
	$(CC) $(BENCH_CFLAGS) $(PCSC_CFLAGS) -o $(BENCH_BUILD)/raw_transmit $(BENCH_DIR)/raw_transmit.c $(PCSC_LIBS)
	$(CC) $(BENCH_CFLAGS) $(PCSC_CFLAGS) -o $(BENCH_BUILD)/bulk_c $(BENCH_DIR)/bulk_c.c $(PCSC_LIBS)

bench: bench-deps
	$(MAKE) all
	$(MAKE) -f $(lastword $(filter %bench.mk,$(MAKEFILE_LIST))) bench-build
	LUA=$(LUA) ISCARD_TEST_CARD=$(CURDIR)/$(BENCH_DIR)/cards/bulk.lua BENCH_OUT=$(CURDIR)/$(BENCH_DIR)/last-run.txt \
	  $(if $(BENCH_CPUS),taskset -c $(BENCH_CPUS)) spec/support/testbed $(LUA) $(BENCH_DIR)/bench.lua

.DEFAULT_GOAL := $(bench_saved_goal)
