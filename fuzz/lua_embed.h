/*
 * What the fuzz targets that run Lua share: a fresh lua_State with the
 * standard libraries and this tree's modules on package.path/cpath, a
 * harness file loaded into it, and -- in a libFuzzer build -- coverage of
 * the Lua code as libFuzzer's extra counters.
 *
 * The interpreter comes from Debian (not instrumented), so libFuzzer alone
 * would see only the C lines of the target and fuzz the Lua code blind.  A
 * line hook marks (function, line, previous line) in a counter array that
 * libFuzzer reads like its own edge counters: inputs that reach new Lua
 * lines, or old ones by a new path, join the corpus.
 *
 * Included once per target; everything is static (inline: a target that
 * uses only part of it gets no warning).
 */
#ifndef ISCARD_LUA_EMBED_H
#define ISCARD_LUA_EMBED_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

#ifdef ISCARD_FUZZ_COVER
#define ISCARD_LUA_COUNTERS (1 << 16)
__attribute__((section("__libfuzzer_extra_counters")))
static uint8_t lua_counters[ISCARD_LUA_COUNTERS];
static uintptr_t lua_prev;

static void line_hook(lua_State *L, lua_Debug *ar) {
  uintptr_t at;
  if (!lua_getinfo(L, "S", ar)) return;
  /* source strings are interned and live as long as their function */
  at = (uintptr_t)ar->source * 31u + (uintptr_t)ar->currentline;
  lua_counters[(at ^ (lua_prev >> 1)) % ISCARD_LUA_COUNTERS]++;
  lua_prev = at;
}
#endif

/* Dies with the message on top of the stack: what a fuzzer counts as a
 * crash, and what the replay driver reports. */
static inline void lua_die(lua_State *L, const char *what) {
  fprintf(stderr, "%s: %s\n", what, lua_tostring(L, -1));
  abort();
}

/* A new state with the tree's Lua modules (ISCARD_ROOT/lua) and the C
 * modules of build_dir, the harness file run in it; its global `fuzz` is
 * what each input is given to. */
static inline lua_State *lua_embed_open(const char *harness) {
  lua_State *L = luaL_newstate();
  if (L == NULL) abort();
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_pushstring(L, ISCARD_ROOT "/lua/?.lua;" ISCARD_ROOT "/lua/?/init.lua;"
                    ISCARD_ROOT "/fuzz/harness/?.lua");
  lua_setfield(L, -2, "path");
  lua_pushstring(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
  if (luaL_dofile(L, harness) != 0) lua_die(L, harness);
#ifdef ISCARD_FUZZ_COVER
  lua_sethook(L, line_hook, LUA_MASKLINE, 0);
#endif
  return L;
}

/* Calls the global `fuzz` with the input as a string; a Lua error is a
 * finding (the harness catches every error the API may raise by design). */
static inline void lua_embed_run(lua_State *L, const uint8_t *data, size_t size) {
  int top = lua_gettop(L);
  lua_getglobal(L, "fuzz");
  lua_pushlstring(L, (const char *)data, size);
#ifdef ISCARD_FUZZ_COVER
  lua_prev = 0;
#endif
  if (lua_pcall(L, 1, 0, 0) != 0) lua_die(L, "fuzz harness");
  lua_settop(L, top);
}

#endif
