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
/* Lua 5.1 / LuaJIT */
#define luaL_newlib(L, l) (lua_newtable(L), luaL_register(L, NULL, l))
static void luaL_setfuncs(lua_State *L, const luaL_Reg *l, int nup) {
  luaL_checkstack(L, nup + 1, "too many upvalues");
  for (; l->name != NULL; l++) {
    int i;
    for (i = 0; i < nup; i++) lua_pushvalue(L, -nup);
    lua_pushcclosure(L, l->func, nup);
    lua_setfield(L, -(nup + 2), l->name);
  }
  lua_pop(L, nup);
}
static void *luaL_testudata(lua_State *L, int i, const char *tname) {
  void *p = lua_touserdata(L, i);
  if (p == NULL || !lua_getmetatable(L, i)) return NULL;
  luaL_getmetatable(L, tname);
  if (!lua_rawequal(L, -1, -2)) p = NULL;
  lua_pop(L, 2);
  return p;
}
#define lua_rawlen(L, i) lua_objlen(L, i)
#endif

#if LUA_VERSION_NUM < 504
#define lua_newuserdatauv(L, sz, nuv) lua_newuserdata(L, sz)
#endif

#endif
