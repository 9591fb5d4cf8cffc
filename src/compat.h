/*
 * The few Lua API differences iscard meets between Lua 5.1 (and LuaJIT),
 * 5.2, 5.3 and 5.4.  The C code is written against 5.4; this header
 * supplies the 5.4 names on older versions so there is one copy of each
 * function.
 */
#ifndef ISCARD_COMPAT_H
#define ISCARD_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

/* The only symbols a module exports are its luaopen_* functions: the build
 * hides everything else (-fvisibility=hidden). */
#if defined(_WIN32)
#define ISCARD_API __declspec(dllexport)
#elif defined(__GNUC__)
#define ISCARD_API __attribute__((visibility("default")))
#else
#define ISCARD_API
#endif

#if LUA_VERSION_NUM < 502
#define lua_rawlen(L, i) lua_objlen(L, i)
/* LuaJIT 2.1 has luaL_newlib, luaL_setfuncs and luaL_testudata; PUC 5.1
 * does not.  (static inline: a file that does not use one gets no warning.) */
#ifndef luaL_newlib
static inline void iscard_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup + 1, "too many upvalues");
  for (; l->name != NULL; l++) {
    int i;
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
static inline void *iscard_testudata(lua_State *L, int i, const char *tname) {
  void *p = lua_touserdata(L, i);
  if (p == NULL || !lua_getmetatable(L, i)) return NULL;
  luaL_getmetatable(L, tname);
  if (!lua_rawequal(L, -1, -2)) p = NULL;
  lua_pop(L, 2);
  return p;
}
#define luaL_setfuncs(L, l, nup) iscard_setfuncs(L, l, nup)
#define luaL_testudata(L, i, tname) iscard_testudata(L, i, tname)
#define luaL_newlib(L, l) (lua_newtable(L), luaL_setfuncs(L, l, 0))
#endif
#endif

#if LUA_VERSION_NUM < 504
#define lua_newuserdatauv(L, sz, nuv) lua_newuserdata(L, sz)
#endif

/* Unsigned 32-bit values (PC/SC codes, reader state words) in and out of
 * Lua.  5.3+ has 64-bit integers; before that a Lua number is a double,
 * which holds every 32-bit value exactly, while lua_Integer may be a 32-bit
 * ptrdiff_t on 32-bit platforms and would turn 0x8010000C negative. */
#if LUA_VERSION_NUM >= 503
#define iscard_pushu32(L, v) lua_pushinteger(L, (lua_Integer)((v) & 0xFFFFFFFFUL))
static inline unsigned long iscard_optu32(lua_State *L, int i, unsigned long def) {
  return (unsigned long)luaL_optinteger(L, i, (lua_Integer)def) & 0xFFFFFFFFUL;
}
#else
#define iscard_pushu32(L, v) lua_pushnumber(L, (lua_Number)((v) & 0xFFFFFFFFUL))
static inline unsigned long iscard_optu32(lua_State *L, int i, unsigned long def) {
  lua_Number n = luaL_optnumber(L, i, (lua_Number)def);
  if (!(n >= 0 && n <= 4294967295.0))
    luaL_error(L, "unsigned 32-bit value expected, got %f", (double)n);
  return (unsigned long)n;
}
#endif

#endif
