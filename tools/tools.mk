# tools/tools.mk -- the targets around the library, included from the
# Makefile (which defines need-SETS, BUILD, CFLAGS, WARN, LUA, ROCKSPEC):
#   make rock-check   luarocks lint + luarocks make into an empty tree,
#                     offline; require "iscard" from it
#   make windows      cross-compile the core for Windows (mingw-w64, -Werror)
#   make soak         SOAK_MINUTES (default 10) of random traffic from
#                     SOAK_CLIENTS processes under faults; RSS and fds flat
#   make flake-check  test-all FLAKE_RUNS times in a row (default 20); with
#                     FLAKE_STRESS=1 while stress-ng loads both cores

.PHONY: rock-check windows soak flake-check

DEBS_rock    = luarocks lua-argparse lua5.4 liblua5.4-dev libpcsclite-dev gcc util-linux
DEBS_windows = mingw-w64 liblua5.4-dev

# --- the suite's determinism: test-all many times in a row, optionally
# with both cores loaded (tools/flake-check.sh; never part of CI).
FLAKE_RUNS   ?= 20
FLAKE_STRESS ?= 0
flake-check: need-test+all+flake
	STRESS=$(FLAKE_STRESS) MAKE="$(MAKE)" tools/flake-check.sh $(FLAKE_RUNS)

# --- the soak: clients on both readers under card removals, resets and
# pcscd restarts, their memory and descriptors sampled (tools/soak.lua;
# never part of CI).
SOAK_MINUTES ?= 10
SOAK_CLIENTS ?= 4
soak: need-test all
	LUA=$(LUA) ISCARD_BUILD=$(BUILD) spec/support/testbed $(LUA) tools/soak.lua $(SOAK_MINUTES) $(SOAK_CLIENTS)

# --- LuaRocks: lint, make into an empty tree (offline), require from it
ROCK_LUA_VERSION  ?= 5.4
rock-check: need-rock
	tools/rock-check.sh $(ROCKSPEC) $(ROCK_LUA_VERSION)

# --- Windows: the core compiled by mingw-w64 against the Lua headers, with
# the same warnings as errors; then linked against an import library for
# lua54.dll made from the object's own lua_*/luaL_* references, which shows
# that the DLL links and exports luaopen_iscard_core only.
WIN_TARGETS    ?= x86_64-w64-mingw32 i686-w64-mingw32
WIN_LUA_INCDIR ?= /usr/include/lua5.4
WIN_BUILD       = build/windows
windows: need-windows
	@for t in $(WIN_TARGETS); do \
	  $(MAKE) --no-print-directory $(WIN_BUILD)/$$t/iscard/core.dll || exit 1; \
	  printf '%s: exports' "$$t"; $$t-objdump -p $(WIN_BUILD)/$$t/iscard/core.dll \
	    | sed -n '/Ordinal\/Name Pointer/,/^$$/p' | awk '/^[[:space:]]*\[ *[0-9]+\]/ {printf " %s", $$NF}'; echo; \
	done

.PRECIOUS: $(WIN_BUILD)/%/iscard_core.o $(WIN_BUILD)/%/worker.o
$(WIN_BUILD)/%/iscard_core.o: src/iscard_core.c src/iscard_names.h src/compat.h src/worker.h
	@mkdir -p $(dir $@)
	$*-gcc $(WARN) -Werror $(CFLAGS) -I$(WIN_LUA_INCDIR) -c -o $@ src/iscard_core.c

$(WIN_BUILD)/%/worker.o: src/worker.c src/worker.h src/compat.h
	@mkdir -p $(dir $@)
	$*-gcc $(WARN) -Werror $(CFLAGS) -I$(WIN_LUA_INCDIR) -c -o $@ src/worker.c

$(WIN_BUILD)/%/iscard/core.dll: $(WIN_BUILD)/%/iscard_core.o $(WIN_BUILD)/%/worker.o
	@mkdir -p $(dir $@)
	{ echo "LIBRARY lua54.dll"; echo EXPORTS; $*-nm -u $^ | awk 'NF == 2 {print $$2}' | sed 's/^_//' \
	  | grep -E '^luaL?_' | sort -u; } > $(WIN_BUILD)/$*/lua54.def
	$*-dlltool -d $(WIN_BUILD)/$*/lua54.def -l $(WIN_BUILD)/$*/liblua54.a -D lua54.dll
	$*-gcc -shared -o $@ $^ $(WIN_BUILD)/$*/liblua54.a -lwinscard
