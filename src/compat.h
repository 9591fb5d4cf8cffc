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

/* Unsigned 32-bit values (PC/SC codes, reader state words) out to Lua.
 * 5.3+ has 64-bit integers; before that a Lua number is a double, which
 * holds every 32-bit value exactly, while lua_Integer may be a 32-bit
 * ptrdiff_t on 32-bit platforms and would turn 0x8010000C negative. */
#if LUA_VERSION_NUM >= 503
#define iscard_pushu32(L, v) lua_pushinteger(L, (lua_Integer)((v) & 0xFFFFFFFFUL))
#else
#define iscard_pushu32(L, v) lua_pushnumber(L, (lua_Number)((v) & 0xFFFFFFFFUL))
#endif

/* The one check of every number iscard takes from Lua (timeouts, share
 * modes, protocols, state words, ports, handles): the value at idx must be
 * a number that is a whole number in lo..hi, or an argument error names arg
 * (idx may be a table field checked for argument arg).  luaL_checkinteger
 * differs by version -- 5.1 and LuaJIT truncate 1.5 and turn NaN into an
 * arbitrary integer, 5.3+ raise -- and a masked or truncated value changes
 * what PC/SC is asked, or makes a wait endless; this refuses NaN,
 * infinities, fractions, numeric strings and out-of-range values alike on
 * every Lua.  lo and hi stay within +-2^53, where doubles are exact. */
static inline long long iscard_checkint(lua_State *L, int idx, int arg,
                                        const char *what, long long lo,
                                        long long hi) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx)) {
      lua_Integer v = lua_tointeger(L, idx);
      if (v >= lo && v <= hi) return (long long)v;
    } else
#endif
    {
      lua_Number n = lua_tonumber(L, idx);
      /* n == n is false for NaN; the cast is exact for a whole n in range */
      if (n == n && n >= (lua_Number)lo && n <= (lua_Number)hi &&
          (lua_Number)(long long)n == n)
        return (long long)n;
    }
    lua_pushvalue(L, idx); /* lua_tostring converts in place: a copy */
    lua_pushfstring(L, "%s: whole number in %f..%f expected, got %s", what,
                    (lua_Number)lo, (lua_Number)hi, lua_tostring(L, -1));
  } else {
    lua_pushfstring(L, "%s: whole number expected, got %s", what,
                    luaL_typename(L, idx));
  }
  return luaL_argerror(L, arg, lua_tostring(L, -1));
}
#endif
