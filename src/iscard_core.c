/*
 * iscard.core -- the ISCard userdata on the PC/SC C API.
 *
 * This file moves bytes between Lua and SCard* calls and keeps the state of
 * one connection.  What is logic (Transaction with its T=0 handling, APDU
 * building, status words) lives in the Lua modules (lua/iscard/), which add
 * methods to the table exposed as `methods`.
 *
 * Two policies live here all the same, because they need the handles and
 * exist to keep a call from hanging or failing for no reason of the
 * caller's:
 * - the same-state lock guard (set_lock, locked_elsewhere): pcsc-lite makes
 *   every other handle of the process wait while one holds
 *   SCardBeginTransaction, and a Lua state runs one call at a time, so that
 *   wait would never end; while an ISCard of this Lua state holds the lock
 *   on a reader, the calls of the state's other ISCards that would wait
 *   fail at once with SCARD_E_SHARING_VIOLATION instead;
 * - the context retry after garbage collection (contexts_held, l_new): when
 *   PC/SC refuses a new context while this state holds contexts in ISCards
 *   the collector has not finalized yet, ISCard() runs a full collection
 *   and asks once more.
 *
 * Conventions: misuse raises a Lua error at the caller's line; a PC/SC
 * failure returns nil, "NAME: text (where)", code -- code as an unsigned
 * 32-bit number whatever the width of LONG on the platform.
 */
/* clock_gettime and nanosleep (now, sleep) under -std=c99 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): feature-test macro */
#define _POSIX_C_SOURCE 200809L
#endif
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): feature-test macro */
#define _DARWIN_C_SOURCE 1
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <time.h>
#endif

#ifdef _WIN32
/* Reader names are byte strings: always the ANSI entry points
 * (SCardConnectA, ...), whatever the build's UNICODE setting. */
#undef UNICODE
#undef _UNICODE
#include <windows.h>
#include <winscard.h>
#elif defined(__APPLE__)
/* PCSC.framework: the compiler finds <PCSC/...> in the SDK's frameworks. */
#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>
#else
#include <winscard.h>
#include <reader.h> /* SCARD_CTL_CODE, to check our formula against */
#endif

#include "compat.h"
#include "iscard_names.h"
#include "worker.h"

/* pcsc-lite's names; WinSCard calls the ATR limit SCARD_ATR_LENGTH (33). */
#ifndef MAX_ATR_SIZE
#define MAX_ATR_SIZE 33
#endif
#ifndef MAX_BUFFER_SIZE_EXTENDED
#define MAX_BUFFER_SIZE_EXTENDED (4 + 3 + (1 << 16) + 3 + 2)
#endif

/* CardHandle and Context travel as lua_Integer, cast both ways: pcsc-lite's
 * LONG, macOS's int32_t and Windows' ULONG_PTR all fit (before 5.3 the value
 * then goes through a double, exact below 2^53; handles are far smaller). A
 * build with 32-bit Lua integers would truncate 64-bit Windows handles. */
typedef char
    iscard_handle_fits_lua_Integer[(sizeof(lua_Integer) >=
                                        sizeof(SCARDHANDLE) &&
                                    sizeof(lua_Integer) >= sizeof(SCARDCONTEXT))
                                       ? 1
                                       : -1];

#define ISCARD_MT "iscard.ISCard"
/* Longest reader name we accept; pcsc-lite's own limit is 128 with the NUL. */
#define ISCARD_MAX_READERNAME 128
/* Shortest command APDU: CLA INS P1 P2.  vpcd would read a 1-byte APDU as a
 * control code (power off, reset...), so shorter ones never reach PC/SC. */
#define ISCARD_MIN_APDU 4

/* COM protocol values (Windows' ISCard) versus PC/SC's. */
#define COM_T0 0x01
#define COM_T1 0x02
#define COM_RAW 0xFF

ISCARD_API int luaopen_iscard_core(lua_State *L);

typedef struct ISCard {
  SCARDCONTEXT ctx;
  SCARDHANDLE card;
  int has_ctx;       /* ctx is valid (not yet released) */
  int attached;      /* card is valid */
  int borrowed;      /* card came from AttachByHandle: never disconnect it */
  int locked;        /* we hold SCardBeginTransaction */
  int lock_counted;  /* that lock is counted in *locks */
  int *locks;        /* this Lua state's count of recorded locks (set_lock) */
  DWORD share;       /* PC/SC share mode used at attach, reused by ReAttach */
  DWORD prefer;      /* PC/SC protocol mask asked for at attach */
  DWORD active;      /* PC/SC active protocol */
  IscWorker *worker; /* the thread of the calls that yield (NULL: none yet) */
  int generation;    /* isc_fork_generation when made: another is a child's */
  char reader[ISCARD_MAX_READERNAME + 1];
  /* One reply buffer per object, so Transaction allocates nothing but the
   * Lua string of the reply.  rbuf_busy: an exchange holds it (take_rbuf). */
  int rbuf_busy;
  BYTE rbuf[MAX_BUFFER_SIZE_EXTENDED];
} ISCard;

/* ------------------------------------------------------------------ */
/* errors                                                              */

typedef struct ErrorName {
  const char *name;
  unsigned long code;
  const char *text;
} ErrorName;

#define ISCARD_ERROR_ENTRY(n, c, t) {#n, (unsigned long)(c), t},
static const ErrorName error_names[] = {
    ISCARD_ERRORS(ISCARD_ERROR_ENTRY){NULL, 0, NULL}};

static const ErrorName *find_error(unsigned long code) {
  const ErrorName *e;
  for (e = error_names; e->name != NULL; e++)
    if (e->code == code) return e;
  return NULL;
}

/* The 32-bit code, the same on Linux (64-bit LONG) and Windows/macOS. */
static unsigned long code32(LONG rv) {
  return (unsigned long)((unsigned long)rv & 0xFFFFFFFFUL);
}

/* Pushes nil, "NAME: text (where)", code and returns 3. */
static int pcsc_fail(lua_State *L, LONG rv, const char *where) {
  unsigned long code = code32(rv);
#ifdef _WIN32
  /* WinSCard reports some failures with plain Windows error codes; give
   * them the PC/SC names the same failure has on other platforms. */
  switch (code) {
    case ERROR_INVALID_HANDLE: code = 0x80100003UL; break; /* INVALID_HANDLE */
    case ERROR_INVALID_PARAMETER:
      code = 0x80100004UL;
      break; /* INVALID_PARAMETER */
    case ERROR_NOT_SUPPORTED:
      code = 0x8010001FUL;
      break; /* UNSUPPORTED_FEATURE */
    case ERROR_BROKEN_PIPE: code = 0x8010001EUL; break; /* SERVICE_STOPPED */
    default: break;
  }
#endif
  const ErrorName *e = find_error(code);
  lua_pushnil(L);
  if (e != NULL) {
    lua_pushfstring(L, "%s: %s (%s)", e->name, e->text, where);
  } else {
    char hex[16];
    (void)snprintf(hex, sizeof hex, "%08lX", code);
    lua_pushfstring(L, "PCSC_0x%s: unknown PC/SC error (%s)", hex, where);
  }
  iscard_pushu32(L, code);
  return 3;
}

/* ------------------------------------------------------------------ */
/* options: integers with the COM values, or lower-case names         */

typedef struct Option {
  const char *name;
  lua_Integer value;
} Option;

static const Option share_opts[] = {
    {"exclusive", 1}, {"shared", 2}, {"direct", 3}, {NULL, 0}};
static const Option disposition_opts[] = {
    {"leave", 0}, {"reset", 1}, {"unpower", 2}, {"eject", 3}, {NULL, 0}};
static const Option protocol_opts[] = {{"none", 0},
                                       {"t0", COM_T0},
                                       {"t1", COM_T1},
                                       {"t0|t1", COM_T0 | COM_T1},
                                       {"any", COM_T0 | COM_T1},
                                       {"raw", COM_RAW},
                                       {NULL, 0}};

/* Reads an option that is either one of opts' names or one of its values. */
static lua_Integer check_option(lua_State *L, int arg, lua_Integer def,
                                const Option *opts, const char *what) {
  const Option *o;
  if (lua_isnoneornil(L, arg)) return def;
  if (lua_type(L, arg) == LUA_TSTRING) {
    const char *s = lua_tostring(L, arg);
    for (o = opts; o->name != NULL; o++)
      if (strcmp(o->name, s) == 0) return o->value;
    return luaL_argerror(L, arg,
                         lua_pushfstring(L, "unknown %s '%s'", what, s));
  }
  {
    lua_Integer v = (lua_Integer)iscard_checkint(L, arg, arg, what,
                                                 -2147483647 - 1, 2147483647);
    for (o = opts; o->name != NULL; o++)
      if (o->value == v) return v;
    return luaL_argerror(L, arg,
                         lua_pushfstring(L, "invalid %s %d", what, (int)v));
  }
}

static DWORD protocol_to_pcsc(lua_Integer com) {
  DWORD p = 0;
  if (com == COM_RAW) return SCARD_PROTOCOL_RAW;
  if (com & COM_T0) p |= SCARD_PROTOCOL_T0;
  if (com & COM_T1) p |= SCARD_PROTOCOL_T1;
  return p;
}

static lua_Integer protocol_to_com(DWORD p) {
  lua_Integer com = 0;
  if (p & SCARD_PROTOCOL_RAW) return COM_RAW;
  if (p & SCARD_PROTOCOL_T0) com |= COM_T0;
  if (p & SCARD_PROTOCOL_T1) com |= COM_T1;
  return com;
}

/* ------------------------------------------------------------------ */
/* object state                                                        */

/* Every function of the metatable (methods, getters, metamethods) has the
 * metatable as its upvalue 1, so that the type check of self compares two
 * pointers instead of looking the metatable up in the registry by name. */
#define ISCARD_UV_MT lua_upvalueindex(1)

static ISCard *to_card(lua_State *L) {
  ISCard *c = (ISCard *)lua_touserdata(L, 1);
  if (c != NULL && lua_getmetatable(L, 1)) {
    int ours = lua_rawequal(L, -1, ISCARD_UV_MT);
    lua_pop(L, 1);
    if (ours) return c;
  }
  return (ISCard *)luaL_checkudata(L, 1,
                                   ISCARD_MT); /* raises for a non-ISCard */
}

/* Registry slot of the function that raises a misuse error at the user's
 * line: the Lua layer hands iscard.util's misuse over once
 * (core.set_misuse), as it looks past iscard's own frames (Transaction
 * calls transmit for the user, and the property getters run under
 * __index). */
#define ISCARD_MISUSE_KEY "iscard.misuse"

/* Raises the message on top of the stack at the line of the user's
 * program: through the function of ISCARD_MISUSE_KEY when the Lua layer
 * gave one; else at our caller, as luaL_error does. */
static void raise_misuse(lua_State *L) {
  int msg = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, ISCARD_MISUSE_KEY);
  if (lua_isfunction(L, -1)) {
    lua_pushliteral(L, "%s");
    lua_pushvalue(L, msg);
    lua_call(L, 2, 0); /* raises */
  }
  lua_settop(L, msg);
  luaL_where(L, 1);
  lua_insert(L, msg);
  lua_concat(L, 2);
  lua_error(L);
}

/* set_misuse(f): f(fmt, msg) raises the misuse errors of the core from now
 * on (the Lua layer's iscard.util.misuse). */
static int l_set_misuse(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, ISCARD_MISUSE_KEY);
  return 0;
}

/* The member a misuse message names: the method the user called when the C
 * function was called as one (`card:get_Atr()`, `card:transmit(a)`), else
 * `member`, the name the user knows the function by (a property read through
 * __index, or transmit called for the user by Transaction). */
static const char *called_as(lua_State *L, const char *member) {
  lua_Debug ar;
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name != NULL &&
      ar.namewhat != NULL && strcmp(ar.namewhat, "method") == 0)
    return ar.name;
  return member;
}

/* An ISCard that has not been released. */
static ISCard *check_open(lua_State *L, const char *member) {
  ISCard *c = to_card(L);
  if (!c->has_ctx) {
    lua_pushfstring(L, "iscard.ISCard: %s: the object is closed (released)",
                    called_as(L, member));
    raise_misuse(L);
  }
  return c;
}

/* An ISCard that holds a card connection: what the COM members need. */
static ISCard *check_attached(lua_State *L, const char *member) {
  ISCard *c = check_open(L, member);
  if (!c->attached) {
    lua_pushfstring(L,
                    "iscard.ISCard: %s needs an attached card "
                    "(call AttachByReader or AttachByHandle first)",
                    called_as(L, member));
    raise_misuse(L);
  }
  return c;
}

/* The buffer for one exchange's reply.  Pushing the reply (a Lua string)
 * may run a collection step and so any finalizer, and a finalizer may make
 * an exchange on this same object: Lua 5.1 and LuaJIT even collect before
 * they copy the bytes.  So an exchange holds c->rbuf from its PC/SC call
 * until its reply is pushed, and one that finds it held (it runs inside
 * such a push) gets a buffer of its own, a userdata on its stack.  After a
 * memory error in the push, the buffer stays held: later exchanges are
 * slower (a userdata each), never wrong. */
static BYTE *take_rbuf(lua_State *L, ISCard *c) {
  if (!c->rbuf_busy) {
    c->rbuf_busy = 1;
    return c->rbuf;
  }
  return (BYTE *)lua_newuserdatauv(L, sizeof c->rbuf, 0);
}

static void give_rbuf(ISCard *c, const BYTE *buf) {
  if (buf == c->rbuf) c->rbuf_busy = 0;
}

/* Pushes the len bytes of buf, an exchange's reply, and lets go of buf. */
static void push_reply(lua_State *L, ISCard *c, const BYTE *buf, DWORD len) {
  lua_pushlstring(L, (const char *)buf, len);
  give_rbuf(c, buf);
}

/* Use of an ISCard in a process other than the one that made it (after
 * fork): its context is a socket the parent shares, so nothing may be sent
 * on it.  Pushes nil, message, ISCARD_E_FORKED (lua/iscard/util.lua). */
#define ISCARD_E_FORKED 0xA0100006UL
#define ISCARD_FORKED(c) ((c)->generation != isc_fork_generation)
static int forked_fail(lua_State *L, const char *where) {
  lua_pushnil(L);
  lua_pushfstring(L,
                  "ISCARD_E_FORKED: this ISCard was made in another process "
                  "(create ISCards and monitors after fork) (%s)",
                  where);
  iscard_pushu32(L, ISCARD_E_FORKED);
  return 3;
}

static void forget_card(ISCard *c) {
  c->attached = 0;
  c->borrowed = 0;
  c->locked = 0;
  c->card = 0;
  c->active = 0;
  c->reader[0] = '\0';
}

/* How many ISCard objects of this Lua state hold a context, in the
 * registry: when PC/SC refuses a new context, and some may be held by
 * unreachable objects the collector has not finalized yet, ISCard() collects
 * and tries again (pcscd serves 200 contexts; a big heap can hide more
 * garbage ISCards than that, notably on Lua 5.1 and LuaJIT). */
#define ISCARD_HELD_KEY "iscard.contexts_held"

static lua_Integer contexts_held(lua_State *L, int delta) {
  lua_Integer n;
  lua_getfield(L, LUA_REGISTRYINDEX, ISCARD_HELD_KEY);
  n = lua_tointeger(L, -1) + delta;
  lua_pop(L, 1);
  if (delta != 0) {
    lua_pushinteger(L, n);
    lua_setfield(L, LUA_REGISTRYINDEX, ISCARD_HELD_KEY);
  }
  return n;
}

/* Which ISCard of this Lua state holds the lock (SCardBeginTransaction) on
 * which reader: a weak-valued table in the registry, reader -> ISCard.
 * pcsc-lite makes every other handle of the process wait while one holds
 * the lock -- connect, transmit, status, reconnect, lock -- and a Lua state
 * runs one call at a time, so such a wait would never end.  Those calls ask
 * here first and fail with SCARD_E_SHARING_VIOLATION instead. */
#define ISCARD_LOCKS_KEY "iscard.locks"

/* Pushes the weak registry table at key (made on first use). */
static void push_weak(lua_State *L, const char *key, const char *mode) {
  lua_getfield(L, LUA_REGISTRYINDEX, key);
  if (lua_istable(L, -1)) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_newtable(L);
  lua_pushstring(L, mode);
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, key);
}

static void push_locks(lua_State *L) {
  push_weak(L, ISCARD_LOCKS_KEY, "v");
}

/* How many ISCards of this Lua state have a lock recorded by set_lock: an
 * int in a userdata in the registry, which every ISCard points to (c->locks).
 * While it is 0, which is nearly always, locked_elsewhere has nothing to
 * look up and a transmit pays nothing for the guard. */
#define ISCARD_LOCK_COUNT_KEY "iscard.lock_count"

/* Records (obj_index != 0) or forgets (0) the lock c holds on its reader. */
static void set_lock(lua_State *L, ISCard *c, int obj_index) {
  if (c->reader[0] == '\0') return;
  /* counted once however often it is recorded or forgotten */
  if (c->lock_counted != (obj_index != 0)) {
    c->lock_counted = obj_index != 0;
    *c->locks += c->lock_counted ? 1 : -1;
  }
  push_locks(L);
  if (obj_index != 0) {
    lua_pushvalue(L, obj_index);
    lua_setfield(L, -2, c->reader);
  } else {
    const ISCard *holder;
    lua_getfield(L, -1, c->reader);
    holder = (const ISCard *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (holder == c) {
      lua_pushnil(L);
      lua_setfield(L, -2, c->reader);
    }
  }
  lua_pop(L, 1);
}

/* When another ISCard of this state holds the lock on reader (through
 * another handle than h), pushes nil, message, code and returns 3. */
static int locked_elsewhere(lua_State *L, const ISCard *c, const char *reader,
                            SCARDHANDLE h, const char *where) {
  const ISCard *holder;
  char name[ISCARD_MAX_READERNAME + 1];
  if (*c->locks == 0) return 0; /* no lock recorded at all */
  push_locks(L);
  lua_getfield(L, -1, reader);
  holder = (const ISCard *)luaL_testudata(L, -1, ISCARD_MT);
  lua_pop(L, 2);
  if (holder == NULL || holder == c || !holder->has_ctx || !holder->attached ||
      !holder->locked || strcmp(holder->reader, reader) != 0 ||
      (h != 0 && holder->card == h))
    return 0;
  /* a copy: the push may run a finalizer that detaches c (reader may be
   * c->reader) */
  (void)snprintf(name, sizeof name, "%s", reader);
  lua_pushfstring(L,
                  "%s: the card in '%s' is locked by another ISCard of "
                  "this Lua state, and pcscd would wait for ever",
                  where, name);
  return pcsc_fail(L, SCARD_E_SHARING_VIOLATION, lua_tostring(L, -1));
}

/* Every ISCard of this Lua state that attached, as the keys of a weak
 * registry table (an entry whose object detached since is ignored, not
 * removed).  SCardReconnect to EXCLUSIVE while another handle is connected
 * to the reader gets SCARD_E_SHARING_VIOLATION from pcscd, and pcsc-lite's
 * client asks again every 100 ms until the other handle goes (SCardConnect
 * fails at once instead).  When that handle belongs to an ISCard of this
 * Lua state, which runs one call at a time, it never goes: ReAttach asks
 * here first and fails at once. */
#define ISCARD_ATTACHED_KEY "iscard.attached"

static void note_attached(lua_State *L, int obj_index) {
  push_weak(L, ISCARD_ATTACHED_KEY, "k");
  lua_pushvalue(L, obj_index);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* When another ISCard of this state is connected to c's reader through
 * another handle, pushes nil, message, code and returns 3. */
static int connected_elsewhere(lua_State *L, const ISCard *c,
                               const char *where) {
  const ISCard *other = NULL;
  char name[ISCARD_MAX_READERNAME + 1];
  push_weak(L, ISCARD_ATTACHED_KEY, "k");
  lua_pushnil(L);
  while (other == NULL && lua_next(L, -2) != 0) {
    const ISCard *o = (const ISCard *)luaL_testudata(L, -2, ISCARD_MT);
    lua_pop(L, 1);
    if (o != NULL && o != c && o->has_ctx && o->attached &&
        o->card != c->card && strcmp(o->reader, c->reader) == 0)
      other = o;
  }
  if (other != NULL) lua_pop(L, 1); /* the key lua_next left */
  lua_pop(L, 1);
  if (other == NULL) return 0;
  memcpy(name, c->reader, sizeof name); /* as in locked_elsewhere */
  lua_pushfstring(L,
                  "%s: another ISCard of this Lua state is attached to "
                  "'%s', and pcscd would wait for ever",
                  where, name);
  return pcsc_fail(L, SCARD_E_SHARING_VIOLATION, lua_tostring(L, -1));
}

static void release_on_worker(lua_State *L, ISCard *c);

/* Releases what the object holds, once, never raising: __gc, __close and
 * close() all come here.  Fields are cleared before each SCard call so a
 * second call (or an error inside the first) cannot release twice. */
static void release(lua_State *L, ISCard *c) {
  if (c->attached && c->locked) set_lock(L, c, 0);
  if (ISCARD_FORKED(c)) { /* the parent's: let go, send nothing */
    c->worker = NULL;     /* (its thread is the parent's too) */
    forget_card(c);
    if (c->has_ctx) (void)contexts_held(L, -1);
    c->has_ctx = 0;
    c->ctx = 0;
    return;
  }
  if (c->worker != NULL) {
    release_on_worker(L, c);
    return;
  }
  if (c->attached) {
    SCARDHANDLE h = c->card;
    int borrowed = c->borrowed, locked = c->locked;
    forget_card(c);
    if (borrowed) {
      /* The lock is ours even if the handle is not. */
      if (locked) (void)SCardEndTransaction(h, SCARD_LEAVE_CARD);
    } else {
      (void)SCardDisconnect(h, SCARD_LEAVE_CARD);
    }
  }
  if (c->has_ctx) {
    SCARDCONTEXT ctx = c->ctx;
    c->has_ctx = 0;
    c->ctx = 0;
    (void)SCardReleaseContext(ctx);
    (void)contexts_held(L, -1);
  }
}

/* ------------------------------------------------------------------ */
/* ISCard() and its methods                                            */

/***
 * ISCard: one PC/SC context and at most one card connection, with the
 * members of Windows' ISCard interface (`AttachByReader`, `Transaction`,
 * `Atr`...) and a few of ours in lower case.
 *
 * Made by `iscard.ISCard()`. Properties are read like fields
 * (`card.Atr`); they are read-only, and reading or writing an unknown member
 * raises. Misuse raises a Lua error; a PC/SC failure returns
 * `nil, "NAME: text (where)", code` with `code` an unsigned 32-bit number;
 * success returns the object itself, so calls chain and `assert` them.
 *
 * Garbage collection, a `<close>` variable (Lua 5.4) and `close` detach
 * with LEAVE and release the context, once, never raising. `tostring(card)`
 * tells the state: closed, detached, or attached to which reader.
 *
 * Options take the COM values of the `iscard` constants or lower-case
 * names: share modes `"exclusive"`, `"shared"`, `"direct"`; dispositions
 * `"leave"`, `"reset"`, `"unpower"`, `"eject"`; protocols `"t0"`, `"t1"`,
 * `"t0|t1"` (or `"any"`), `"raw"`.

 * @classmod iscard.ISCard
 */

/* iscard.ISCard(): a new object with its own PC/SC context. */
static int l_new(lua_State *L) {
  LONG rv;
  /* Created closed first: if anything below fails, __gc has nothing to
   * release, and nothing can leak. */
  ISCard *c = (ISCard *)lua_newuserdatauv(L, sizeof(ISCard), 0);
  c->ctx = 0;
  c->has_ctx = 0;
  c->worker = NULL;
  c->generation = isc_fork_generation;
  forget_card(c);
  c->lock_counted = 0;
  c->rbuf_busy = 0;
  lua_getfield(L, LUA_REGISTRYINDEX, ISCARD_LOCK_COUNT_KEY);
  c->locks = (int *)lua_touserdata(L, -1); /* made by luaopen, kept there */
  lua_pop(L, 1);
  c->share = SCARD_SHARE_SHARED;
  c->prefer = SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1;
  luaL_getmetatable(L, ISCARD_MT);
  lua_setmetatable(L, -2);
  rv = SCardEstablishContext(SCARD_SCOPE_USER, NULL, NULL, &c->ctx);
  if (rv != SCARD_S_SUCCESS && contexts_held(L, 0) > 0) {
    /* Garbage ISCards may hold the contexts pcscd is short of. */
    lua_gc(L, LUA_GCCOLLECT, 0);
    c->ctx = 0;
    rv = SCardEstablishContext(SCARD_SCOPE_USER, NULL, NULL, &c->ctx);
  }
  if (rv != SCARD_S_SUCCESS) {
    c->ctx = 0;
    return pcsc_fail(L, rv, "ISCard: SCardEstablishContext");
  }
  c->has_ctx = 1;
  (void)contexts_held(L, 1);
  return 1;
}

static const char *check_reader(lua_State *L, int arg) {
  size_t len;
  const char *name = luaL_checklstring(L, arg, &len);
  if (len == 0 || len > ISCARD_MAX_READERNAME || strlen(name) != len)
    luaL_argerror(L, arg, "reader name must be 1..128 bytes without NUL");
  return name;
}

/***
 * Connects to the card in a reader (SCardConnect).
 * Defaults differ from the COM header's on purpose: SHARED and T=0 or T=1,
 * which work with most cards and leave them usable by other programs.
 * @function AttachByReader
 * @string name reader name, 1..128 bytes without NUL
 * @param[opt=SHARED] share share mode: `iscard.EXCLUSIVE`, `SHARED`, `DIRECT` or a name
 * @param[opt=T0|T1] protocols acceptable protocols: `iscard.T0`, `T1`, `T0 + T1`, `RAW` or a name
 * @return the card, or nil, message, code (`SCARD_E_NO_SMARTCARD`...)
 * @raise when already attached, or on a bad argument
 */
static int m_attach_by_reader(lua_State *L) {
  ISCard *c = check_open(L, "AttachByReader");
  const char *name = check_reader(L, 2);
  lua_Integer share = check_option(L, 3, 2, share_opts, "share mode");
  lua_Integer proto =
      check_option(L, 4, COM_T0 | COM_T1, protocol_opts, "protocol");
  SCARDHANDLE h = 0;
  DWORD active = 0;
  LONG rv;
  int n;
  if (ISCARD_FORKED(c)) return forked_fail(L, "AttachByReader");
  if (c->attached)
    return luaL_error(L, "iscard.ISCard: AttachByReader on an attached card "
                         "(Detach first)");
  if ((n = locked_elsewhere(L, c, name, 0, "AttachByReader")) != 0) return n;
  rv = SCardConnect(c->ctx, name, (DWORD)share, protocol_to_pcsc(proto), &h,
                    &active);
  if (rv != SCARD_S_SUCCESS) {
    lua_pushfstring(L, "AttachByReader '%s'", name);
    return pcsc_fail(L, rv, lua_tostring(L, -1));
  }
  c->card = h;
  c->attached = 1;
  c->borrowed = 0;
  c->locked = 0;
  c->share = (DWORD)share;
  c->prefer = protocol_to_pcsc(proto);
  c->active = active;
  memcpy(c->reader, name, strlen(name) + 1); /* at most 128 + 1: check_reader */
  note_attached(L, 1);
  lua_settop(L, 1);
  return 1;
}

/* Reads the card's status.  reader may be NULL; atr/atrlen may be NULL. */
static LONG card_status(ISCard *c, DWORD *state, DWORD *proto, BYTE *atr,
                        DWORD *atrlen, char *reader, DWORD readerlen) {
  char rbuf[ISCARD_MAX_READERNAME + 64];
  BYTE abuf[MAX_ATR_SIZE];
  DWORD rlen = reader ? readerlen : (DWORD)sizeof rbuf;
  DWORD alen = (DWORD)sizeof abuf;
  LONG rv = SCardStatus(c->card, reader ? reader : rbuf, &rlen, state, proto,
                        abuf, &alen);
  if (rv == SCARD_S_SUCCESS && atr != NULL) {
    /* never past our buffer, whatever length the library reports */
    if (alen > (DWORD)sizeof abuf) alen = (DWORD)sizeof abuf;
    memcpy(atr, abuf, alen);
    *atrlen = alen;
  }
  return rv;
}

/***
 * Borrows a card handle someone else connected: another ISCard's
 * `CardHandle`, or a handle of the program that embeds Lua. The handle is
 * validated with SCardStatus, which also gives reader, protocol and ATR.
 * A borrower never disconnects the handle: `Detach` only lets go, and
 * garbage collection and `close` leave it alone.
 * @function AttachByHandle
 * @int handle a non-zero SCARDHANDLE of this process
 * @return the card, or nil, message, code (`SCARD_E_INVALID_HANDLE`...)
 * @raise when already attached, or for handle 0
 */
static int m_attach_by_handle(lua_State *L) {
  ISCard *c = check_open(L, "AttachByHandle");
  /* +-2^53: the widest a handle gets through a 5.1/LuaJIT double */
  lua_Integer h = (lua_Integer)iscard_checkint(
      L, 2, 2, "card handle", -9007199254740992LL, 9007199254740992LL);
  DWORD state = 0, proto = 0;
  char reader[ISCARD_MAX_READERNAME + 64];
  LONG rv;
  if (ISCARD_FORKED(c)) return forked_fail(L, "AttachByHandle");
  if (c->attached)
    return luaL_error(L, "iscard.ISCard: AttachByHandle on an attached card "
                         "(Detach first)");
  if (h == 0) return luaL_argerror(L, 2, "card handle must not be 0");
  c->card = (SCARDHANDLE)h;
  /* Validate the handle (and learn reader and protocol) before adopting it. */
  rv = card_status(c, &state, &proto, NULL, NULL, reader, sizeof reader);
  if (rv != SCARD_S_SUCCESS) {
    c->card = 0;
    return pcsc_fail(L, rv, "AttachByHandle: SCardStatus");
  }
  c->attached = 1;
  c->borrowed = 1;
  c->locked = 0;
  c->share = SCARD_SHARE_SHARED;
  c->prefer = SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1;
  c->active = proto;
  reader[sizeof reader - 1] = '\0';
  strncpy(c->reader, reader, ISCARD_MAX_READERNAME);
  c->reader[ISCARD_MAX_READERNAME] = '\0';
  note_attached(L, 1);
  lua_settop(L, 1);
  return 1;
}

/***
 * Ends the card connection (SCardDisconnect). A disposition PC/SC refuses
 * (`SCARD_E_INVALID_VALUE`) keeps the card attached so you can retry; any
 * other failure ends the connection too. A borrowed handle is only let go
 * (ending our lock, if any), and only with LEAVE.
 * @function Detach
 * @param[opt=LEAVE] disposition `iscard.LEAVE`, `RESET`, `UNPOWER`, `EJECT` or a name
 * @return the card, or nil, message, code
 * @raise when not attached; a disposition other than LEAVE on a borrowed handle
 */
static int m_detach(lua_State *L) {
  ISCard *c = check_attached(L, "Detach");
  lua_Integer disp = check_option(L, 2, 0, disposition_opts, "disposition");
  SCARDHANDLE h = c->card;
  LONG rv = SCARD_S_SUCCESS;
  int n;
  if (ISCARD_FORKED(c)) return forked_fail(L, "Detach");
  if (disp != SCARD_LEAVE_CARD &&
      (n = locked_elsewhere(L, c, c->reader, h, "Detach")) != 0)
    return n;
  /* A borrowed handle belongs to its owner: Detach only lets go of it
   * (ending our lock, if we took one).  Any disposition other than LEAVE
   * would need SCardDisconnect, which is the owner's call to make.  (Raised
   * before the lock is forgotten: the card stays attached and locked.) */
  if (c->borrowed && disp != SCARD_LEAVE_CARD)
    return luaL_argerror(L, 2,
                         "a handle attached by AttachByHandle can "
                         "only be detached with LEAVE");
  if (c->locked) set_lock(L, c, 0);
  if (c->borrowed) {
    if (c->locked) rv = SCardEndTransaction(h, SCARD_LEAVE_CARD);
    forget_card(c);
  } else {
    rv = SCardDisconnect(h, (DWORD)disp);
    /* An unsupported disposition leaves the handle usable: let the caller
     * try again with another one.  Any other outcome ends the handle. */
    if (rv == SCARD_E_INVALID_VALUE || rv == SCARD_E_UNSUPPORTED_FEATURE) {
      if (c->locked) set_lock(L, c, 1); /* still ours: recorded again */
      return pcsc_fail(L, rv, "Detach: SCardDisconnect");
    }
    forget_card(c);
  }
  if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, "Detach");
  lua_settop(L, 1);
  return 1;
}

/***
 * Reconnects (SCardReconnect) with the protocols of the attach, as needed
 * after `SCARD_W_RESET_CARD`. pcsc-lite refuses EJECT here.
 * @function ReAttach
 * @param[opt] share share mode; default: the one of the attach
 * @param[opt=LEAVE] init what to do with the card: `iscard.LEAVE`, `RESET` or `UNPOWER`
 * @return the card, or nil, message, code
 * @raise when not attached
 */
static int m_reattach(lua_State *L) {
  ISCard *c = check_attached(L, "ReAttach");
  lua_Integer share =
      check_option(L, 2, (lua_Integer)c->share, share_opts, "share mode");
  lua_Integer init = check_option(L, 3, 0, disposition_opts, "disposition");
  DWORD active = 0;
  LONG rv;
  int n;
  /* Reconnecting changes the owner's connection (share mode, protocol)
   * behind its back, as Detach with a disposition would. */
  if (ISCARD_FORKED(c)) return forked_fail(L, "ReAttach");
  if (c->borrowed)
    return luaL_error(L, "iscard.ISCard: ReAttach of a handle attached by "
                         "AttachByHandle (its owner reconnects it)");
  if ((n = locked_elsewhere(L, c, c->reader, c->card, "ReAttach")) != 0)
    return n;
  if (share == SCARD_SHARE_EXCLUSIVE &&
      (n = connected_elsewhere(L, c, "ReAttach")) != 0)
    return n;
  rv = SCardReconnect(c->card, (DWORD)share, c->prefer, (DWORD)init, &active);
  if (rv != SCARD_S_SUCCESS)
    return pcsc_fail(L, rv, "ReAttach: SCardReconnect");
  /* pcscd 1.9.9 keeps the lock it took for an EXCLUSIVE connection when
   * the connection turns SHARED or DIRECT (its unlock runs before the mode
   * changes, and is refused), and then holds back every other connection to
   * the card until this one ends -- within this Lua state, for ever.  Ending
   * that lock gives what pcscd meant; where there is none (a fixed pcscd,
   * WinSCard) the call fails harmlessly.  A LockSCard of ours is left as it
   * is: pcscd counted it on top, and its count is right. */
  if (c->share == SCARD_SHARE_EXCLUSIVE && share != SCARD_SHARE_EXCLUSIVE &&
      !c->locked)
    (void)SCardEndTransaction(c->card, SCARD_LEAVE_CARD);
  c->share = (DWORD)share;
  c->active = active;
  lua_settop(L, 1);
  return 1;
}

/***
 * Takes exclusive use of the card (SCardBeginTransaction); blocks while
 * another process holds it. Locks do not nest. `UnlockSCard`, `Detach`,
 * `close` and garbage collection end it.
 * @function LockSCard
 * @return the card, or nil, message, code
 * @raise when not attached, or already locked
 */
static int m_lock(lua_State *L) {
  ISCard *c = check_attached(L, "LockSCard");
  LONG rv;
  int n;
  if (ISCARD_FORKED(c)) return forked_fail(L, "LockSCard");
  if (c->locked)
    return luaL_error(L, "iscard.ISCard: LockSCard while already locked "
                         "(locks do not nest; UnlockSCard first)");
  if ((n = locked_elsewhere(L, c, c->reader, c->card, "LockSCard")) != 0)
    return n;
  rv = SCardBeginTransaction(c->card);
  if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, "LockSCard");
  c->locked = 1;
  set_lock(L, c, 1);
  lua_settop(L, 1);
  return 1;
}

/***
 * Ends the lock of `LockSCard` (SCardEndTransaction). The lock is over
 * whatever the result.
 * @function UnlockSCard
 * @param[opt=LEAVE] disposition `iscard.LEAVE`, `RESET`, `UNPOWER`, `EJECT` or a name
 * @return the card, or nil, message, code
 * @raise when not attached, or not locked
 */
static int m_unlock(lua_State *L) {
  ISCard *c = check_attached(L, "UnlockSCard");
  lua_Integer disp = check_option(L, 2, 0, disposition_opts, "disposition");
  LONG rv;
  if (ISCARD_FORKED(c)) return forked_fail(L, "UnlockSCard");
  if (!c->locked)
    return luaL_error(L, "iscard.ISCard: UnlockSCard without LockSCard");
  rv = SCardEndTransaction(c->card, (DWORD)disp);
  /* Whatever the outcome, the lock is over: a failed end (card removed or
   * reset) means pcscd has already dropped it. */
  set_lock(L, c, 0);
  c->locked = 0;
  if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, "UnlockSCard");
  lua_settop(L, 1);
  return 1;
}

/***
 * One raw exchange (SCardTransmit): no GET RESPONSE, no Le correction, no
 * trace. `Transaction` is built on it. Ours.
 * @function transmit
 * @string apdu command APDU of 4..`iscard.MAX_APDU` bytes
 * @treturn[1] string the reply, data followed by SW1 SW2
 * @treturn[1] integer SW1*256+SW2 (nil for a reply shorter than 2 bytes)
 * @return[2] nil, message, code
 * @raise when not attached, or for an APDU of a bad length
 */
static int m_transmit(lua_State *L) {
  ISCard *c = check_attached(L, "Transaction");
  size_t len;
  const char *apdu = lua_tolstring(L, 2, &len);
  const SCARD_IO_REQUEST *pci;
  DWORD rlen = (DWORD)sizeof c->rbuf;
  BYTE *buf;
  lua_Integer sw;
  LONG rv;
  int n;
  if (ISCARD_FORKED(c)) return forked_fail(L, "Transaction");
  if (apdu == NULL) apdu = luaL_checklstring(L, 2, &len); /* raises */
  if (len < ISCARD_MIN_APDU || len > MAX_BUFFER_SIZE_EXTENDED)
    return luaL_argerror(
        L, 2,
        lua_pushfstring(L, "command APDU of %d bytes (must be 4..%d)", (int)len,
                        (int)MAX_BUFFER_SIZE_EXTENDED));
  if (*c->locks != 0 && /* (the guard's own test, saving a call per APDU) */
      (n = locked_elsewhere(L, c, c->reader, c->card, "Transaction")) != 0)
    return n;
  switch (c->active) {
    case SCARD_PROTOCOL_T0: pci = SCARD_PCI_T0; break;
    case SCARD_PROTOCOL_T1: pci = SCARD_PCI_T1; break;
    default: pci = SCARD_PCI_RAW; break;
  }
  buf = take_rbuf(L, c);
  rv = SCardTransmit(c->card, pci, (LPCBYTE)apdu, (DWORD)len, NULL, buf, &rlen);
  if (rv != SCARD_S_SUCCESS) {
    give_rbuf(c, buf);
    return pcsc_fail(L, rv, "Transaction: SCardTransmit");
  }
  if (rlen > (DWORD)sizeof c->rbuf) rlen = (DWORD)sizeof c->rbuf;
  /* the status word too: Transaction needs it, and C reads it for less;
   * read before the push, which may run Lua (take_rbuf) */
  sw = rlen < 2 ? -1 : (lua_Integer)buf[rlen - 2] * 256 + buf[rlen - 1];
  push_reply(L, c, buf, rlen);
  if (sw < 0) return 1;
  lua_pushinteger(L, sw);
  return 2;
}

/***
 * Releases the object now, as garbage collection or `<close>` would: detaches
 * with LEAVE (a borrowed handle is only let go) and releases the context.
 * Harmless twice; any other member used afterwards raises. Ours.
 * @function close
 */
static int m_close(lua_State *L) {
  release(L, to_card(L));
  return 0;
}

static int m_gc(lua_State *L) {
  ISCard *c = (ISCard *)luaL_testudata(L, 1, ISCARD_MT);
  if (c != NULL) release(L, c);
  return 0;
}

static int m_tostring(lua_State *L) {
  ISCard *c = to_card(L);
  char name[ISCARD_MAX_READERNAME + 1];
  if (!c->has_ctx)
    lua_pushstring(L, ISCARD_MT " (closed)");
  else if (!c->attached)
    lua_pushstring(L, ISCARD_MT " (detached)");
  else {
    /* a copy: the push may run a finalizer that detaches this very card */
    memcpy(name, c->reader, sizeof name);
    lua_pushfstring(L, ISCARD_MT " (%s: %s%s)",
                    c->borrowed ? "attached by handle" : "attached", name,
                    c->locked ? ", locked" : "");
  }
  return 1;
}

/* ------------------------------------------------------------------ */
/* properties: each getter returns the value, or nil, msg, code        */

/* pcsc-lite's state bits to COM's ordinal SCARD_STATES. */
static lua_Integer state_to_com(DWORD state, DWORD proto) {
  state &= 0xFFFF; /* pcsc-lite keeps an event counter in bits 16 and up */
  if (state & SCARD_ABSENT) return 1;
  /* Windows reports SPECIFIC while a protocol is active; pcsc-lite does not
   * set that bit for a connected card, so derive it. */
  if ((state & SCARD_SPECIFIC) || (proto != 0 && (state & SCARD_POWERED)))
    return 6;
  if (state & SCARD_NEGOTIABLE) return 5;
  if (state & SCARD_POWERED) return 4;
  if (state & SCARD_SWALLOWED) return 3;
  if (state & SCARD_PRESENT) return 2;
  return 1;
}

/***
 * State of the card, one of `iscard.ABSENT`, `PRESENT`, `SWALLOWED`,
 * `POWERED`, `NEGOTIABLEMODE`, `SPECIFICMODE` (SCardStatus; the most
 * advanced pcsc-lite bit wins, SPECIFICMODE while a protocol is active).
 * ABSENT after the card was removed. nil on another PC/SC failure (see
 * `get_Status`). Raises when detached.
 * @tfield integer Status
 */

/***
 * The `Status` property, or its error.
 * @function get_Status
 * @treturn[1] integer the state
 * @return[2] nil, message, code
 * @raise when not attached
 */
static int g_status(lua_State *L) {
  ISCard *c = check_attached(L, "Status");
  DWORD state = 0, proto = 0;
  LONG rv;
  int n;
  if (ISCARD_FORKED(c)) return forked_fail(L, "Status");
  if ((n = locked_elsewhere(L, c, c->reader, c->card, "Status")) != 0) return n;
  rv = card_status(c, &state, &proto, NULL, NULL, NULL, 0);
  if (rv == SCARD_W_REMOVED_CARD || rv == SCARD_E_NO_SMARTCARD) {
    lua_pushinteger(L, 1); /* ABSENT: a removed card is a state, not an error */
    return 1;
  }
  if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, "Status: SCardStatus");
  lua_pushinteger(L, state_to_com(state, proto));
  return 1;
}

/***
 * Answer To Reset of the card, a binary string (SCardStatus). nil on a PC/SC
 * failure (see `get_Atr`). Raises when detached.
 * @tfield string Atr
 */

/***
 * The `Atr` property, or its error.
 * @function get_Atr
 * @treturn[1] string the ATR
 * @return[2] nil, message, code
 * @raise when not attached
 */
static int g_atr(lua_State *L) {
  ISCard *c = check_attached(L, "Atr");
  DWORD state = 0, proto = 0, alen = 0;
  BYTE atr[MAX_ATR_SIZE];
  LONG rv;
  int n;
  if (ISCARD_FORKED(c)) return forked_fail(L, "Atr");
  if ((n = locked_elsewhere(L, c, c->reader, c->card, "Atr")) != 0) return n;
  rv = card_status(c, &state, &proto, atr, &alen, NULL, 0);
  if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, "Atr: SCardStatus");
  lua_pushlstring(L, (const char *)atr, alen);
  return 1;
}

/***
 * Active protocol: `iscard.T0`, `T1` or `RAW`. Raises when detached.
 * @tfield integer Protocol
 */
static int g_protocol(lua_State *L) {
  ISCard *c = check_attached(L, "Protocol");
  lua_pushinteger(L, protocol_to_com(c->active));
  return 1;
}

/***
 * The PC/SC card handle (SCARDHANDLE) as an integer, 0 when detached; for
 * `AttachByHandle` of another ISCard.
 * @tfield integer CardHandle
 */
static int g_card_handle(lua_State *L) {
  ISCard *c = check_open(L, "CardHandle");
  lua_pushinteger(L, c->attached ? (lua_Integer)c->card : 0);
  return 1;
}

/***
 * The PC/SC context (SCARDCONTEXT) as an integer, 0 once closed.
 * @tfield integer Context
 */
static int g_context(lua_State *L) {
  ISCard *c = to_card(L);
  lua_pushinteger(L, c->has_ctx ? (lua_Integer)c->ctx : 0);
  return 1;
}

/***
 * Name of the reader attached to, nil when detached. Ours.
 * @tfield string reader
 */
static int g_reader(lua_State *L) {
  ISCard *c = check_open(L, "reader");
  char name[ISCARD_MAX_READERNAME + 1];
  if (!c->attached) {
    lua_pushnil(L);
    return 1;
  }
  /* a copy: the push may run a finalizer that detaches this very card */
  memcpy(name, c->reader, sizeof name);
  lua_pushstring(L, name);
  return 1;
}

/***
 * Whether this object holds a `LockSCard` lock. Ours.
 * @tfield boolean locked
 */
static int g_locked(lua_State *L) {
  ISCard *c = to_card(L);
  lua_pushboolean(L, c->attached && c->locked);
  return 1;
}

/***
 * Whether the handle was borrowed with `AttachByHandle`. Ours.
 * @tfield boolean borrowed
 */
static int g_borrowed(lua_State *L) {
  ISCard *c = to_card(L);
  lua_pushboolean(L, c->attached && c->borrowed);
  return 1;
}

/***
 * Whether a card is attached. Ours.
 * @tfield boolean attached
 */
static int g_attached(lua_State *L) {
  ISCard *c = to_card(L);
  lua_pushboolean(L, c->has_ctx && c->attached);
  return 1;
}

/* __index(self, key): methods first, then property getters (whose first
 * result is the value), then an error, so that a mistyped member name is
 * caught at once rather than read as nil. */
static int m_index(lua_State *L) {
  /* no lua_settop: the interpreter passes exactly (self, key), and a
   * missing value reads as nil */
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(2));
  if (lua_isfunction(L, -1)) {
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    return 1;
  }
  lua_pop(L, 1);
  /* last, through the methods' own __index: the members the Lua layer loads
   * on first use (iscard.card) */
  lua_pushvalue(L, 2);
  lua_gettable(L, lua_upvalueindex(1));
  if (!lua_isnil(L, -1)) return 1;
  if (lua_type(L, 2) == LUA_TSTRING)
    return luaL_error(L, ISCARD_MT " has no member '%s'", lua_tostring(L, 2));
  return luaL_error(L, ISCARD_MT " has no member of type %s",
                    luaL_typename(L, 2));
}

static int m_newindex(lua_State *L) {
  lua_settop(L, 3);
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(2));
  if (!lua_isnil(L, -1))
    return luaL_error(L, ISCARD_MT ": property '%s' is read-only",
                      lua_tostring(L, 2));
  return luaL_error(L, ISCARD_MT ": cannot set member '%s'",
                    lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?");
}

/* ------------------------------------------------------------------ */
/* the reader itself: control codes, attributes                        */

/* An unsigned 32-bit argument (control code, attribute id): raises on
 * anything else rather than letting PC/SC see a truncated value. */
static unsigned long check_u32(lua_State *L, int arg, const char *what) {
  return (unsigned long)iscard_checkint(L, arg, arg, what, 0, 4294967295LL);
}

/* PC/SC part 10's control codes are built by a platform macro: pcsc-lite
 * (Linux, macOS) adds the function number to 0x42000000, WinSCard makes an
 * IOCTL code of device type FILE_DEVICE_SMARTCARD (0x31), METHOD_BUFFERED,
 * FILE_ANY_ACCESS.  The build picks its own; the other stays callable for
 * tools and for the unit specs of both formulas. */
#define ISCARD_CTL_PCSCLITE(n) (0x42000000UL + (unsigned long)(n))
#define ISCARD_CTL_WINDOWS(n) (0x310000UL | ((unsigned long)(n) << 2))
#ifdef _WIN32
#define ISCARD_CTL_NATIVE "windows"
#define ISCARD_CTL_CHECK(n) ISCARD_CTL_WINDOWS(n)
#else
#define ISCARD_CTL_NATIVE "pcsc-lite"
#define ISCARD_CTL_CHECK(n) ISCARD_CTL_PCSCLITE(n)
#endif
/* The build fails if the platform header's own macro disagrees with the
 * formula chosen (winsmcrd.h on Windows, reader.h with pcsc-lite). */
#ifdef SCARD_CTL_CODE
typedef char iscard_ctl_code_matches_platform
    [(ISCARD_CTL_CHECK(3400) == (unsigned long)SCARD_CTL_CODE(3400)) ? 1 : -1];
#endif

/* ctl_code(n [, formula]) -> the control code of function n (0..4095, the
 * width of the function field of a Windows IOCTL code). */
static int l_ctl_code(lua_State *L) {
  static const char *const formulas[] = {"pcsc-lite", "windows", NULL};
  lua_Integer n =
      (lua_Integer)iscard_checkint(L, 1, 1, "function number", 0, 4095);
  int f = luaL_checkoption(L, 2, ISCARD_CTL_NATIVE, formulas);
  iscard_pushu32(L, f == 0 ? ISCARD_CTL_PCSCLITE(n) : ISCARD_CTL_WINDOWS(n));
  return 1;
}

/***
 * Sends a control code to the reader's driver (SCardControl): PC/SC part
 * 10 features, vendor escape commands. Works with a card attached normally
 * or with share mode `DIRECT` (no card needed). The code is passed as
 * given: use the codes `features` returns, or `iscard.ctl_code(n)`. Ours.
 * @function control
 * @int code control code, 0..0xFFFFFFFF
 * @string[opt=""] bytes input, at most `iscard.MAX_APDU` bytes
 * @int[opt=iscard.MAX_APDU] max_reply largest reply accepted, 0..`iscard.MAX_APDU`
 * @treturn[1] string the driver's reply
 * @return[2] nil, message, code (`SCARD_E_UNSUPPORTED_FEATURE` for a code the driver does not know)
 * @raise when not attached, or on a bad argument
 */
static int m_control(lua_State *L) {
  ISCard *c = check_attached(L, "control");
  unsigned long code = check_u32(L, 2, "control code");
  size_t len;
  const char *in = luaL_optlstring(L, 3, "", &len);
  lua_Integer max =
      lua_isnoneornil(L, 4)
          ? (lua_Integer)MAX_BUFFER_SIZE_EXTENDED
          : (lua_Integer)iscard_checkint(L, 4, 4, "max_reply", 0,
                                         MAX_BUFFER_SIZE_EXTENDED);
  DWORD got = 0;
  BYTE *buf;
  LONG rv;
  if (ISCARD_FORKED(c)) return forked_fail(L, "control");
  if (len > MAX_BUFFER_SIZE_EXTENDED)
    return luaL_argerror(L, 3,
                         lua_pushfstring(L, "%d bytes (at most %d)", (int)len,
                                         (int)MAX_BUFFER_SIZE_EXTENDED));
  buf = take_rbuf(L, c);
  rv = SCardControl(c->card, (DWORD)code, (LPCVOID)in, (DWORD)len, buf,
                    (DWORD)max, &got);
  if (rv != SCARD_S_SUCCESS) {
    give_rbuf(c, buf);
    char hex[16];
    (void)snprintf(hex, sizeof hex, "%08lX", code);
    lua_pushfstring(L, "control 0x%s: SCardControl", hex);
    return pcsc_fail(L, rv, lua_tostring(L, -1));
  }
  if (got > (DWORD)max) got = (DWORD)max;
  push_reply(L, c, buf, got);
  return 1;
}

/* pcsc-lite's client refuses an attribute buffer larger than its
 * MAX_BUFFER_SIZE (264 bytes) with SCARD_E_INSUFFICIENT_BUFFER; WinSCard
 * takes any size.  So ask with 264 bytes, and only when the driver says it
 * needs more, again with what it asked for (within our reply buffer). */
#define ISCARD_ATTR_FIRST 264

static int attr_fail(lua_State *L, LONG rv, unsigned long id,
                     const char *call) {
  char hex[16];
  (void)snprintf(hex, sizeof hex, "%08lX", id);
  lua_pushfstring(L, "attribute 0x%s: %s", hex, call);
  return pcsc_fail(L, rv, lua_tostring(L, -1));
}

/* attr_raw(card, id) -> the bytes of one reader attribute
 * (SCardGetAttrib).  The method card:attr_raw (lua/iscard/card.lua) adds
 * attribute names. */
static int m_attr_raw(lua_State *L) {
  ISCard *c = check_attached(L, "attr_raw");
  unsigned long id = check_u32(L, 2, "attribute id");
  DWORD len = ISCARD_ATTR_FIRST;
  BYTE *buf;
  LONG rv;
  if (ISCARD_FORKED(c)) return forked_fail(L, "attr_raw");
  buf = take_rbuf(L, c);
  rv = SCardGetAttrib(c->card, (DWORD)id, buf, &len);
  if (rv == SCARD_E_INSUFFICIENT_BUFFER && len > ISCARD_ATTR_FIRST &&
      len <= (DWORD)sizeof c->rbuf)
    rv = SCardGetAttrib(c->card, (DWORD)id, buf, &len);
  if (rv != SCARD_S_SUCCESS) {
    give_rbuf(c, buf);
    return attr_fail(L, rv, id, "SCardGetAttrib");
  }
  if (len > (DWORD)sizeof c->rbuf) len = (DWORD)sizeof c->rbuf;
  push_reply(L, c, buf, len);
  return 1;
}

/* set_attr(card, id, bytes) -> card: sets a reader attribute
 * (SCardSetAttrib).  The method card:set_attr (lua/iscard/card.lua) adds
 * attribute names. */
static int m_set_attr(lua_State *L) {
  ISCard *c = check_attached(L, "set_attr");
  unsigned long id = check_u32(L, 2, "attribute id");
  size_t len;
  const char *v = luaL_checklstring(L, 3, &len);
  LONG rv;
  if (ISCARD_FORKED(c)) return forked_fail(L, "set_attr");
  if (len > MAX_BUFFER_SIZE_EXTENDED)
    return luaL_argerror(L, 3,
                         lua_pushfstring(L, "%d bytes (at most %d)", (int)len,
                                         (int)MAX_BUFFER_SIZE_EXTENDED));
  rv = SCardSetAttrib(c->card, (DWORD)id, (LPCBYTE)v, (DWORD)len);
  if (rv != SCARD_S_SUCCESS) return attr_fail(L, rv, id, "SCardSetAttrib");
  lua_settop(L, 1);
  return 1;
}

/* ------------------------------------------------------------------ */
/* module functions                                                    */

/* Uses the ISCard at arg for its context, or makes a temporary one. */
static int with_context(lua_State *L, int arg, SCARDCONTEXT *ctx, int *temp) {
  LONG rv;
  if (!lua_isnoneornil(L, arg)) {
    ISCard *c = (ISCard *)luaL_checkudata(L, arg, ISCARD_MT);
    if (!c->has_ctx) luaL_argerror(L, arg, "the ISCard is closed");
    if (ISCARD_FORKED(c)) return forked_fail(L, "the ISCard's context");
    *ctx = c->ctx;
    *temp = 0;
    return 0;
  }
  rv = SCardEstablishContext(SCARD_SCOPE_USER, NULL, NULL, ctx);
  if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, "SCardEstablishContext");
  *temp = 1;
  return 0;
}

/* The two PC/SC calls that fill a multi-string (names, each ended by a
 * NUL, then one more NUL): SCardListReaders (groups may be NULL) and
 * SCardListReaderGroups. */
static LONG list_call(SCARDCONTEXT ctx, int list_groups, const char *groups,
                      char *buf, DWORD *len) {
  if (list_groups) return SCardListReaderGroups(ctx, buf, len);
  return SCardListReaders(ctx, groups, buf, len);
}

/* Lists reader names or groups with the context of the ISCard at index 1
 * (or a temporary one) and pushes them as an array; NO_READERS_AVAILABLE
 * is an empty array. */
static int push_list(lua_State *L, int list_groups, const char *groups,
                     const char *where) {
  SCARDCONTEXT ctx;
  int temp, n, tries;
  DWORD len = 0, cap = 0;
  char *buf = NULL;
  const char *p, *end;
  LONG rv;
  if ((n = with_context(L, 1, &ctx, &temp)) != 0) return n;
  /* A reader plugged in between the two calls makes the second one find
   * the buffer too small: ask again. The buffer is a userdata, so a Lua
   * error cannot leak it. */
  for (tries = 0; tries < 3; tries++) {
    rv = list_call(ctx, list_groups, groups, NULL, &len);
    if (rv != SCARD_S_SUCCESS) break;
    cap = len ? len : 1;
    buf = (char *)lua_newuserdatauv(L, cap, 0);
    rv = list_call(ctx, list_groups, groups, buf, &len);
    if (rv != SCARD_E_INSUFFICIENT_BUFFER) break;
    lua_pop(L, 1);
  }
  /* Released before anything below can raise. */
  if (temp) (void)SCardReleaseContext(ctx);
  if (rv == SCARD_E_NO_READERS_AVAILABLE) {
    lua_newtable(L);
    return 1;
  }
  if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, where);
  lua_newtable(L);
  n = 0;
  /* Within the buffer whatever length and NULs the library reports (found
   * by fuzz/core_glue): names end at a NUL or at the end of the data. */
  end = buf + (len < cap ? len : cap);
  for (p = buf; p < end && *p != '\0';) {
    const char *nul = (const char *)memchr(p, '\0', (size_t)(end - p));
    size_t nlen = nul != NULL ? (size_t)(nul - p) : (size_t)(end - p);
    lua_pushlstring(L, p, nlen);
    lua_rawseti(L, -2, ++n);
    p += nlen + 1;
  }
  return 1;
}

/* readers([card] [, group]) or readers(group) -> array of reader names
 * (empty when there are none) */
static int l_readers(lua_State *L) {
  /* The group as a multi-string of one name: name, NUL, NUL. */
  char groups[ISCARD_MAX_READERNAME + 2];
  if (lua_type(L, 1) == LUA_TSTRING) { /* readers(group) */
    lua_pushnil(L);
    lua_insert(L, 1);
  }
  if (lua_isnoneornil(L, 2))
    return push_list(L, 0, NULL, "readers: SCardListReaders");
  {
    size_t len;
    const char *g = luaL_checklstring(L, 2, &len);
    if (len == 0 || len > ISCARD_MAX_READERNAME || strlen(g) != len)
      return luaL_argerror(L, 2, "group name must be 1..128 bytes without NUL");
    memcpy(groups, g, len);
    groups[len] = groups[len + 1] = '\0';
  }
  return push_list(L, 0, groups, "readers: SCardListReaders");
}

/* reader_groups([card]) -> array of reader group names */
static int l_reader_groups(lua_State *L) {
  return push_list(L, 1, NULL, "reader_groups: SCardListReaderGroups");
}

/* valid_context(ctx) -> true, or false, message, code (SCardIsValidContext).
 * Any integer is safe to ask about: PC/SC looks it up, nothing more. */
static int l_valid_context(lua_State *L) {
  /* +-2^53: the widest a context gets through a 5.1/LuaJIT double */
  lua_Integer ctx = (lua_Integer)iscard_checkint(
      L, 1, 1, "context", -9007199254740992LL, 9007199254740992LL);
  LONG rv = SCardIsValidContext((SCARDCONTEXT)ctx);
  if (rv == SCARD_S_SUCCESS) {
    lua_pushboolean(L, 1);
    return 1;
  }
  (void)pcsc_fail(L, rv, "SCardIsValidContext");
  lua_pushboolean(L, 0);
  lua_replace(L, -4);
  return 3;
}

/* status_change(card_or_nil, timeout_ms, {{reader=, current=}, ...})
 * -> the same array with event (the state bits) and atr set on each entry,
 * or nil, msg, code (SCARD_E_TIMEOUT when nothing changed in time).
 * timeout_ms < 0 waits forever.  No limit of our own on the number of
 * entries: pcsc-lite before 2.5 refuses more than 16 itself
 * (SCARD_E_INVALID_PARAMETER), later versions take any number. */
typedef struct WaitEntry {
  SCARD_READERSTATE rs;
  /* Our own copy of the name: a string read from a table the script owns
   * may be collected before SCardGetStatusChange is done with it. */
  char name[ISCARD_MAX_READERNAME + 1];
} WaitEntry;

/* Reads the array at index 3 of status_change into w (n entries). */
static void read_entries(lua_State *L, WaitEntry *w, int n) {
  int i;
  for (i = 0; i < n; i++) {
    size_t len;
    const char *name;
    lua_rawgeti(L, 3, i + 1);
    luaL_argcheck(L, lua_istable(L, -1), 3, "entries must be tables");
    lua_pushliteral(L, "reader");
    lua_rawget(L, -2);
    name = lua_tolstring(L, -1, &len);
    if (lua_type(L, -1) != LUA_TSTRING || len == 0 ||
        len > ISCARD_MAX_READERNAME || strlen(name) != len)
      luaL_argerror(L, 3,
                    "each entry needs a reader name of 1..128 "
                    "bytes without NUL");
    memcpy(w[i].name, name, len + 1);
    w[i].rs.szReader = w[i].name;
    lua_pushliteral(L, "current");
    lua_rawget(L, -3);
    w[i].rs.dwCurrentState =
        lua_isnil(L, -1)
            ? 0
            : (DWORD)iscard_checkint(L, -1, 3, "current", 0, 4294967295LL);
    lua_pop(L, 3);
  }
}

/* Writes event and atr of each of the n answers into the entries of the
 * array at index `arr`. */
static void write_events(lua_State *L, int arr, const SCARD_READERSTATE *rs,
                         int n) {
  int i;
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, arr, i + 1);
    iscard_pushu32(L, (unsigned long)rs[i].dwEventState);
    lua_setfield(L, -2, "event");
    lua_pushlstring(L, (const char *)rs[i].rgbAtr,
                    rs[i].cbAtr <= sizeof rs[i].rgbAtr ? rs[i].cbAtr : 0);
    lua_setfield(L, -2, "atr");
    lua_pop(L, 1);
  }
}

/* The checks of status_change's arguments: the timeout and the number of
 * entries (the entries themselves are read by read_entries). */
static int check_status_change(lua_State *L, long long *timeout) {
  size_t len3;
  /* up to 0xFFFFFFFE: 0xFFFFFFFF is PC/SC's INFINITE */
  *timeout =
      iscard_checkint(L, 2, 2, "timeout_ms", -2147483647 - 1, 4294967294LL);
  luaL_checktype(L, 3, LUA_TTABLE);
  len3 = (size_t)lua_rawlen(L, 3);
  luaL_argcheck(L, len3 >= 1 && len3 <= (size_t)0x7FFFFFFF / sizeof(WaitEntry),
                3, "1 or more reader entries");
  return (int)len3;
}

static int l_status_change(lua_State *L) {
  WaitEntry *w;
  SCARDCONTEXT ctx;
  int temp, n, r;
  long long timeout;
  n = check_status_change(L, &timeout);
  /* A userdata, so that an argument error below cannot leak it. */
  w = (WaitEntry *)lua_newuserdatauv(L, (size_t)n * sizeof(WaitEntry), 0);
  memset(w, 0, (size_t)n * sizeof(WaitEntry));
  read_entries(L, w, n);
  if ((r = with_context(L, 1, &ctx, &temp)) != 0) return r;
  {
    /* pcsc-lite wants one contiguous array of SCARD_READERSTATE; the names
     * stay in w.  A second userdata for the same reason as w. */
    SCARD_READERSTATE *rs = (SCARD_READERSTATE *)lua_newuserdatauv(
        L, (size_t)n * sizeof(SCARD_READERSTATE), 0);
    LONG rv;
    int i;
    for (i = 0; i < n; i++) rs[i] = w[i].rs;
    rv = SCardGetStatusChange(ctx, timeout < 0 ? INFINITE : (DWORD)timeout, rs,
                              (DWORD)n);
    if (temp) (void)SCardReleaseContext(ctx);
    if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, "SCardGetStatusChange");
    write_events(L, 3, rs, n);
  }
  lua_pushvalue(L, 3);
  return 1;
}

/* cancel(card) -> true, or nil, msg, code: SCardCancel on the ISCard's
 * context.  pcsc-lite only cancels a SCardGetStatusChange in progress on
 * that very context; with none, it does nothing and reports success. */
static int l_cancel(lua_State *L) {
  ISCard *c = (ISCard *)luaL_checkudata(L, 1, ISCARD_MT);
  LONG rv;
  if (!c->has_ctx) return luaL_argerror(L, 1, "the ISCard is closed");
  if (ISCARD_FORKED(c)) return forked_fail(L, "SCardCancel");
  rv = SCardCancel(c->ctx);
  if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, "SCardCancel");
  lua_pushboolean(L, 1);
  return 1;
}

/* Milliseconds of a monotonic clock (only differences mean something).
 * Lua itself has only os.time (seconds, and it jumps with the wall clock)
 * and os.clock (CPU time). */
static double mono_ms(void) {
#ifdef _WIN32
  return (double)GetTickCount64();
#else
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
#endif
}

/* now() -> mono_ms() as a float: the one clock of iscard (the monitor's
 * timeouts, the virtual card's delays). */
static int l_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)mono_ms());
  return 1;
}

/* sleep(ms) -> true after ms milliseconds (0..86400000: NaN, infinities
 * and negative values would never end or overflow time_t), or false as
 * soon as a signal leaves a Lua hook pending (the standalone interpreter's
 * Ctrl-C), so that the hook gets control; any other signal resumes the
 * sleep.  Waits without a PC/SC context (the monitor's back-off while
 * pcscd is away, the virtual card's delays). */
#define ISCARD_MAX_SLEEP_MS 86400000.0
static int l_sleep(lua_State *L) {
  double ms = (double)luaL_checknumber(L, 1);
  luaL_argcheck(L, ms >= 0 && ms <= ISCARD_MAX_SLEEP_MS, 1,
                "milliseconds must be 0..86400000");
#ifdef _WIN32
  Sleep((DWORD)ms);
#else
  {
    double deadline = mono_ms() + ms;
    for (;;) {
      struct timespec ts;
      double left = deadline - mono_ms();
      if (left <= 0) break;
      ts.tv_sec = (time_t)(left / 1000.0);
      ts.tv_nsec = (long)((left - (double)ts.tv_sec * 1000.0) * 1e6);
      if (ts.tv_nsec > 999999999L) ts.tv_nsec = 999999999L;
      if (nanosleep(&ts, NULL) != 0) {
        if (errno != EINTR) break; /* not with the range checked above */
        if (lua_gethook(L) != NULL) {
          lua_pushboolean(L, 0);
          return 1;
        }
      }
    }
  }
#endif
  lua_pushboolean(L, 1);
  return 1;
}

/* ------------------------------------------------------------------ */
/* calls that yield: the same calls, run on the ISCard's worker thread */

/* core.async.X(card, ...) checks its arguments as card:X does, copies them
 * into a job (worker.h), queues it on the card's worker and returns the
 * waitable, or nil, message, code when the call fails before any PC/SC
 * call.  core.collect(card, w, ...) then returns what card:X would have
 * (lua/iscard/loop.lua puts the two around the program's waiter).  Every
 * payload starts with an AsyncHead: finish, the half that runs in Lua, and
 * the PC/SC result. */
typedef struct AsyncHead {
  int (*finish)(lua_State *L, ISCard *c, void *job);
  LONG rv;
} AsyncHead;

typedef int (*AsyncFinish)(lua_State *L, ISCard *c, void *job);

/* A new job of `size` bytes on c's worker (made on first use); its
 * waitable is left on the stack for async_submit. */
static void *async_job(lua_State *L, ISCard *c, size_t size, IscRun run,
                       AsyncFinish finish) {
  AsyncHead *h;
  if (c->worker == NULL && (c->worker = isc_worker_new()) == NULL)
    luaL_error(L, "not enough memory");
  h = (AsyncHead *)isc_job_new(L, size, run, c);
  h->finish = finish;
  return h;
}

static int async_submit(lua_State *L, ISCard *c) {
  isc_worker_submit(L, c->worker);
  return 1;
}

/* collect(card, w, ...) -> what the call returns.  A call whose ISCard was
 * closed before it could run fails with SCARD_E_CANCELLED. */
static int l_collect(lua_State *L) {
  ISCard *c = (ISCard *)luaL_checkudata(L, 1, ISCARD_MT);
  int dropped = 0;
  AsyncHead *h = (AsyncHead *)isc_job_result(L, 2, c, &dropped);
  if (dropped || !c->has_ctx)
    return pcsc_fail(L, SCARD_E_CANCELLED,
                     "the ISCard was closed while the call waited");
  return h->finish(L, c, h);
}

/* What the object holds, released on its worker once the call in flight
 * (if any) is over: SCardCancel ends a status wait at once. */
typedef struct ReleaseJob {
  SCARDCONTEXT ctx;
  SCARDHANDLE card;
  int has_ctx, attached, borrowed, locked;
} ReleaseJob;

static void run_release(void *p) {
  ReleaseJob *r = (ReleaseJob *)p;
  if (r->attached) {
    if (!r->borrowed)
      (void)SCardDisconnect(r->card, SCARD_LEAVE_CARD);
    else if (r->locked)
      (void)SCardEndTransaction(r->card, SCARD_LEAVE_CARD);
  }
  if (r->has_ctx) (void)SCardReleaseContext(r->ctx);
}

static void release_on_worker(lua_State *L, ISCard *c) {
  ReleaseJob r;
  r.ctx = c->ctx;
  r.card = c->card;
  r.has_ctx = c->has_ctx;
  r.attached = c->attached;
  r.borrowed = c->borrowed;
  r.locked = c->locked;
  if (c->has_ctx && isc_worker_busy_cancellable(c->worker))
    (void)SCardCancel(c->ctx);
  isc_worker_close(c->worker, run_release, &r, sizeof r);
  c->worker = NULL;
  forget_card(c);
  if (c->has_ctx) {
    c->has_ctx = 0;
    c->ctx = 0;
    (void)contexts_held(L, -1);
  }
}

/* --- transmit */
typedef struct TransmitJob {
  AsyncHead head;
  SCARDHANDLE card;
  const SCARD_IO_REQUEST *pci;
  DWORD len, rlen;
  BYTE reply[MAX_BUFFER_SIZE_EXTENDED];
  /* the command APDU follows */
} TransmitJob;

static void run_transmit(void *p) {
  TransmitJob *j = (TransmitJob *)p;
  j->rlen = (DWORD)sizeof j->reply;
  j->head.rv = SCardTransmit(j->card, j->pci, (LPCBYTE)(j + 1), j->len, NULL,
                             j->reply, &j->rlen);
}

static int finish_transmit(lua_State *L, ISCard *c, void *p) {
  TransmitJob *j = (TransmitJob *)p;
  (void)c;
  if (j->head.rv != SCARD_S_SUCCESS)
    return pcsc_fail(L, j->head.rv, "Transaction: SCardTransmit");
  if (j->rlen > (DWORD)sizeof j->reply) j->rlen = (DWORD)sizeof j->reply;
  lua_pushlstring(L, (const char *)j->reply, j->rlen);
  if (j->rlen < 2) return 1;
  lua_pushinteger(L, (lua_Integer)j->reply[j->rlen - 2] * 256 +
                         j->reply[j->rlen - 1]);
  return 2;
}

static int a_transmit(lua_State *L) {
  ISCard *c = check_attached(L, "Transaction");
  size_t len;
  const char *apdu = luaL_checklstring(L, 2, &len);
  TransmitJob *j;
  int n;
  if (ISCARD_FORKED(c)) return forked_fail(L, "Transaction");
  if (len < ISCARD_MIN_APDU || len > MAX_BUFFER_SIZE_EXTENDED)
    return luaL_argerror(
        L, 2,
        lua_pushfstring(L, "command APDU of %d bytes (must be 4..%d)", (int)len,
                        (int)MAX_BUFFER_SIZE_EXTENDED));
  if ((n = locked_elsewhere(L, c, c->reader, c->card, "Transaction")) != 0)
    return n;
  j = (TransmitJob *)async_job(L, c, sizeof *j + len, run_transmit,
                               finish_transmit);
  j->card = c->card;
  j->pci = c->active == SCARD_PROTOCOL_T0   ? SCARD_PCI_T0
           : c->active == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1
                                            : SCARD_PCI_RAW;
  j->len = (DWORD)len;
  memcpy(j + 1, apdu, len);
  return async_submit(L, c);
}

/* --- control */
typedef struct ControlJob {
  AsyncHead head;
  SCARDHANDLE card;
  unsigned long code;
  DWORD len, max, got;
  BYTE reply[MAX_BUFFER_SIZE_EXTENDED];
  /* the input follows */
} ControlJob;

static void run_control(void *p) {
  ControlJob *j = (ControlJob *)p;
  j->head.rv = SCardControl(j->card, (DWORD)j->code, (LPCVOID)(j + 1), j->len,
                            j->reply, j->max, &j->got);
}

static int finish_control(lua_State *L, ISCard *c, void *p) {
  ControlJob *j = (ControlJob *)p;
  (void)c;
  if (j->head.rv != SCARD_S_SUCCESS) {
    char hex[16];
    (void)snprintf(hex, sizeof hex, "%08lX", j->code);
    lua_pushfstring(L, "control 0x%s: SCardControl", hex);
    return pcsc_fail(L, j->head.rv, lua_tostring(L, -1));
  }
  if (j->got > j->max) j->got = j->max;
  lua_pushlstring(L, (const char *)j->reply, j->got);
  return 1;
}

static int a_control(lua_State *L) {
  ISCard *c = check_attached(L, "control");
  unsigned long code = check_u32(L, 2, "control code");
  size_t len;
  const char *in = luaL_optlstring(L, 3, "", &len);
  lua_Integer max =
      lua_isnoneornil(L, 4)
          ? (lua_Integer)MAX_BUFFER_SIZE_EXTENDED
          : (lua_Integer)iscard_checkint(L, 4, 4, "max_reply", 0,
                                         MAX_BUFFER_SIZE_EXTENDED);
  ControlJob *j;
  if (ISCARD_FORKED(c)) return forked_fail(L, "control");
  if (len > MAX_BUFFER_SIZE_EXTENDED)
    return luaL_argerror(L, 3,
                         lua_pushfstring(L, "%d bytes (at most %d)", (int)len,
                                         (int)MAX_BUFFER_SIZE_EXTENDED));
  j = (ControlJob *)async_job(L, c, sizeof *j + len, run_control,
                              finish_control);
  j->card = c->card;
  j->code = code;
  j->len = (DWORD)len;
  j->max = (DWORD)max;
  memcpy(j + 1, in, len);
  return async_submit(L, c);
}

/* --- attr_raw and set_attr */
typedef struct AttrJob {
  AsyncHead head;
  SCARDHANDLE card;
  unsigned long id;
  int set;
  DWORD len;
  BYTE buf[MAX_BUFFER_SIZE_EXTENDED];
} AttrJob;

static void run_attr(void *p) {
  AttrJob *j = (AttrJob *)p;
  if (j->set) {
    j->head.rv = SCardSetAttrib(j->card, (DWORD)j->id, j->buf, j->len);
    return;
  }
  j->len = ISCARD_ATTR_FIRST; /* as m_attr_raw: 264 bytes, then more */
  j->head.rv = SCardGetAttrib(j->card, (DWORD)j->id, j->buf, &j->len);
  if (j->head.rv == SCARD_E_INSUFFICIENT_BUFFER && j->len > ISCARD_ATTR_FIRST &&
      j->len <= (DWORD)sizeof j->buf)
    j->head.rv = SCardGetAttrib(j->card, (DWORD)j->id, j->buf, &j->len);
}

static int finish_attr(lua_State *L, ISCard *c, void *p) {
  AttrJob *j = (AttrJob *)p;
  (void)c;
  if (j->head.rv != SCARD_S_SUCCESS)
    return attr_fail(L, j->head.rv, j->id,
                     j->set ? "SCardSetAttrib" : "SCardGetAttrib");
  if (j->set) {
    lua_settop(L, 1);
    return 1;
  }
  if (j->len > (DWORD)sizeof j->buf) j->len = (DWORD)sizeof j->buf;
  lua_pushlstring(L, (const char *)j->buf, j->len);
  return 1;
}

static int a_attr(lua_State *L, int set) {
  ISCard *c = check_attached(L, set ? "set_attr" : "attr_raw");
  unsigned long id = check_u32(L, 2, "attribute id");
  size_t len = 0;
  const char *v = set ? luaL_checklstring(L, 3, &len) : NULL;
  AttrJob *j;
  if (ISCARD_FORKED(c)) return forked_fail(L, set ? "set_attr" : "attr_raw");
  if (len > MAX_BUFFER_SIZE_EXTENDED)
    return luaL_argerror(L, 3,
                         lua_pushfstring(L, "%d bytes (at most %d)", (int)len,
                                         (int)MAX_BUFFER_SIZE_EXTENDED));
  j = (AttrJob *)async_job(L, c, sizeof *j, run_attr, finish_attr);
  j->card = c->card;
  j->id = id;
  j->set = set;
  j->len = (DWORD)len;
  if (len > 0) memcpy(j->buf, v, len);
  return async_submit(L, c);
}

static int a_attr_raw(lua_State *L) {
  return a_attr(L, 0);
}
static int a_set_attr(lua_State *L) {
  return a_attr(L, 1);
}

/* --- the connection: AttachByReader, ReAttach, Detach, Lock, Unlock */
typedef struct ConnJob {
  AsyncHead head;
  SCARDCONTEXT ctx;
  SCARDHANDLE card;
  int op; /* CONN_* */
  DWORD share, prefer, disp, active;
  int end_exclusive; /* ReAttach: end pcscd's leftover lock (m_reattach) */
  char reader[ISCARD_MAX_READERNAME + 1];
} ConnJob;

enum { CONN_ATTACH, CONN_REATTACH, CONN_DETACH, CONN_LOCK, CONN_UNLOCK };

static void run_conn(void *p) {
  ConnJob *j = (ConnJob *)p;
  switch (j->op) {
    case CONN_ATTACH:
      j->head.rv = SCardConnect(j->ctx, j->reader, j->share, j->prefer,
                                &j->card, &j->active);
      break;
    case CONN_REATTACH:
      j->head.rv =
          SCardReconnect(j->card, j->share, j->prefer, j->disp, &j->active);
      if (j->head.rv == SCARD_S_SUCCESS && j->end_exclusive)
        (void)SCardEndTransaction(j->card, SCARD_LEAVE_CARD);
      break;
    case CONN_DETACH: j->head.rv = SCardDisconnect(j->card, j->disp); break;
    case CONN_LOCK: j->head.rv = SCardBeginTransaction(j->card); break;
    default: j->head.rv = SCardEndTransaction(j->card, j->disp); break;
  }
}

/* The card c is attached to now: after SCardConnect, sync or not. */
static void adopt(lua_State *L, ISCard *c, SCARDHANDLE h, DWORD share,
                  DWORD prefer, DWORD active, const char *name) {
  c->card = h;
  c->attached = 1;
  c->borrowed = 0;
  c->locked = 0;
  c->share = share;
  c->prefer = prefer;
  c->active = active;
  memcpy(c->reader, name, strlen(name) + 1); /* at most 128 + 1: check_reader */
  note_attached(L, 1);
}

static int finish_attach(lua_State *L, ISCard *c, ConnJob *j) {
  if (j->head.rv != SCARD_S_SUCCESS) {
    lua_pushfstring(L, "AttachByReader '%s'", j->reader);
    return pcsc_fail(L, j->head.rv, lua_tostring(L, -1));
  }
  if (c->attached) { /* another coroutine attached meanwhile: not twice */
    (void)SCardDisconnect(j->card, SCARD_LEAVE_CARD);
    return luaL_error(L, "iscard.ISCard: AttachByReader on an attached card "
                         "(Detach first)");
  }
  adopt(L, c, j->card, j->share, j->prefer, j->active, j->reader);
  lua_settop(L, 1);
  return 1;
}

/* The state change of a call on the connection, once it is over; the
 * card may have been detached (and attached again) meanwhile by another
 * coroutine: then only the result is reported. */
static int finish_conn(lua_State *L, ISCard *c, void *p) {
  ConnJob *j = (ConnJob *)p;
  int same = c->attached && c->card == j->card;
  LONG rv = j->head.rv;
  if (j->op == CONN_ATTACH) return finish_attach(L, c, j);
  if (j->op == CONN_REATTACH) {
    if (rv != SCARD_S_SUCCESS)
      return pcsc_fail(L, rv, "ReAttach: SCardReconnect");
    if (same) {
      c->share = j->share;
      c->active = j->active;
    }
  } else if (j->op == CONN_DETACH) {
    if (rv == SCARD_E_INVALID_VALUE || rv == SCARD_E_UNSUPPORTED_FEATURE)
      return pcsc_fail(L, rv, "Detach: SCardDisconnect");
    if (same) {
      if (c->locked) set_lock(L, c, 0);
      forget_card(c);
    }
    if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, "Detach");
  } else if (j->op == CONN_LOCK) {
    if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, "LockSCard");
    if (same) {
      c->locked = 1;
      set_lock(L, c, 1);
    }
  } else {
    if (same) {
      set_lock(L, c, 0);
      c->locked = 0;
    }
    if (rv != SCARD_S_SUCCESS) return pcsc_fail(L, rv, "UnlockSCard");
  }
  lua_settop(L, 1);
  return 1;
}

static ConnJob *conn_job(lua_State *L, ISCard *c, int op) {
  ConnJob *j =
      (ConnJob *)async_job(L, c, sizeof(ConnJob), run_conn, finish_conn);
  j->op = op;
  j->ctx = c->ctx;
  j->card = c->card;
  return j;
}

static int a_attach_by_reader(lua_State *L) {
  ISCard *c = check_open(L, "AttachByReader");
  const char *name = check_reader(L, 2);
  lua_Integer share = check_option(L, 3, 2, share_opts, "share mode");
  lua_Integer proto =
      check_option(L, 4, COM_T0 | COM_T1, protocol_opts, "protocol");
  ConnJob *j;
  int n;
  if (ISCARD_FORKED(c)) return forked_fail(L, "AttachByReader");
  if (c->attached)
    return luaL_error(L, "iscard.ISCard: AttachByReader on an attached card "
                         "(Detach first)");
  if ((n = locked_elsewhere(L, c, name, 0, "AttachByReader")) != 0) return n;
  j = conn_job(L, c, CONN_ATTACH);
  j->share = (DWORD)share;
  j->prefer = protocol_to_pcsc(proto);
  memcpy(j->reader, name, strlen(name) + 1);
  return async_submit(L, c);
}

static int a_reattach(lua_State *L) {
  ISCard *c = check_attached(L, "ReAttach");
  lua_Integer share =
      check_option(L, 2, (lua_Integer)c->share, share_opts, "share mode");
  lua_Integer init = check_option(L, 3, 0, disposition_opts, "disposition");
  ConnJob *j;
  int n;
  if (ISCARD_FORKED(c)) return forked_fail(L, "ReAttach");
  if (c->borrowed)
    return luaL_error(L, "iscard.ISCard: ReAttach of a handle attached by "
                         "AttachByHandle (its owner reconnects it)");
  if ((n = locked_elsewhere(L, c, c->reader, c->card, "ReAttach")) != 0)
    return n;
  if (share == SCARD_SHARE_EXCLUSIVE &&
      (n = connected_elsewhere(L, c, "ReAttach")) != 0)
    return n;
  j = conn_job(L, c, CONN_REATTACH);
  j->share = (DWORD)share;
  j->prefer = c->prefer;
  j->disp = (DWORD)init;
  j->end_exclusive = c->share == SCARD_SHARE_EXCLUSIVE &&
                     share != SCARD_SHARE_EXCLUSIVE && !c->locked;
  return async_submit(L, c);
}

/* Detach of a borrowed handle only lets go (no PC/SC wait): card:Detach. */
static int a_detach(lua_State *L) {
  ISCard *c = check_attached(L, "Detach");
  lua_Integer disp = check_option(L, 2, 0, disposition_opts, "disposition");
  ConnJob *j;
  int n;
  if (ISCARD_FORKED(c)) return forked_fail(L, "Detach");
  if (c->borrowed) return m_detach(L);
  if (disp != SCARD_LEAVE_CARD &&
      (n = locked_elsewhere(L, c, c->reader, c->card, "Detach")) != 0)
    return n;
  j = conn_job(L, c, CONN_DETACH);
  j->disp = (DWORD)disp;
  return async_submit(L, c);
}

static int a_lock(lua_State *L) {
  ISCard *c = check_attached(L, "LockSCard");
  int n;
  if (ISCARD_FORKED(c)) return forked_fail(L, "LockSCard");
  if (c->locked)
    return luaL_error(L, "iscard.ISCard: LockSCard while already locked "
                         "(locks do not nest; UnlockSCard first)");
  if ((n = locked_elsewhere(L, c, c->reader, c->card, "LockSCard")) != 0)
    return n;
  (void)conn_job(L, c, CONN_LOCK);
  return async_submit(L, c);
}

static int a_unlock(lua_State *L) {
  ISCard *c = check_attached(L, "UnlockSCard");
  lua_Integer disp = check_option(L, 2, 0, disposition_opts, "disposition");
  if (ISCARD_FORKED(c)) return forked_fail(L, "UnlockSCard");
  if (!c->locked)
    return luaL_error(L, "iscard.ISCard: UnlockSCard without LockSCard");
  conn_job(L, c, CONN_UNLOCK)->disp = (DWORD)disp;
  return async_submit(L, c);
}

/* --- status_change on an ISCard's context (a status wait: cancellable) */
typedef struct StatusJob {
  AsyncHead head;
  SCARDCONTEXT ctx;
  DWORD timeout;
  int n;
  /* n WaitEntry, then n SCARD_READERSTATE, follow */
} StatusJob;

static void run_status(void *p) {
  StatusJob *j = (StatusJob *)p;
  WaitEntry *w = (WaitEntry *)(j + 1);
  SCARD_READERSTATE *rs = (SCARD_READERSTATE *)(w + j->n);
  int i;
  for (i = 0; i < j->n; i++) {
    rs[i] = w[i].rs;
    rs[i].szReader = w[i].name; /* the names in this very block */
  }
  j->head.rv = SCardGetStatusChange(j->ctx, j->timeout, rs, (DWORD)j->n);
}

static int finish_status(lua_State *L, ISCard *c, void *p) {
  StatusJob *j = (StatusJob *)p;
  (void)c;
  if (j->head.rv != SCARD_S_SUCCESS)
    return pcsc_fail(L, j->head.rv, "SCardGetStatusChange");
  /* collect(card, w, timeout, states): the array is at index 4 */
  write_events(L, 4, (SCARD_READERSTATE *)((WaitEntry *)(j + 1) + j->n), j->n);
  lua_pushvalue(L, 4);
  return 1;
}

static int a_status_change(lua_State *L) {
  long long timeout;
  int n = check_status_change(L, &timeout);
  ISCard *c = (ISCard *)luaL_checkudata(L, 1, ISCARD_MT);
  StatusJob *j;
  if (!c->has_ctx) luaL_argerror(L, 1, "the ISCard is closed");
  if (ISCARD_FORKED(c)) return forked_fail(L, "SCardGetStatusChange");
  j = (StatusJob *)async_job(
      L, c,
      sizeof *j + (size_t)n * (sizeof(WaitEntry) + sizeof(SCARD_READERSTATE)),
      run_status, finish_status);
  j->ctx = c->ctx;
  j->timeout = timeout < 0 ? INFINITE : (DWORD)timeout;
  j->n = n;
  read_entries(L, (WaitEntry *)(j + 1), n);
  isc_job_set_cancellable(L, -1);
  return async_submit(L, c);
}

/* The same calls, blocking: what the methods table holds without a waiter
 * (read from here, not from that table, which the Lua layer changes). */
static const luaL_Reg blocking_functions[] = {
    {"AttachByReader", m_attach_by_reader},
    {"ReAttach", m_reattach},
    {"Detach", m_detach},
    {"LockSCard", m_lock},
    {"UnlockSCard", m_unlock},
    {"transmit", m_transmit},
    {"control", m_control},
    {"attr_raw", m_attr_raw},
    {"set_attr", m_set_attr},
    {"status_change", l_status_change},
    {NULL, NULL}};

static const luaL_Reg async_functions[] = {
    {"AttachByReader", a_attach_by_reader},
    {"ReAttach", a_reattach},
    {"Detach", a_detach},
    {"LockSCard", a_lock},
    {"UnlockSCard", a_unlock},
    {"transmit", a_transmit},
    {"control", a_control},
    {"attr_raw", a_attr_raw},
    {"set_attr", a_set_attr},
    {"status_change", a_status_change},
    {NULL, NULL}};

/* ------------------------------------------------------------------ */

static const luaL_Reg methods[] = {
    {"AttachByReader", m_attach_by_reader},
    {"AttachByHandle", m_attach_by_handle},
    {"Detach", m_detach},
    {"ReAttach", m_reattach},
    {"LockSCard", m_lock},
    {"UnlockSCard", m_unlock},
    {"transmit", m_transmit},
    {"close", m_close},
    {"control", m_control},
    /* get_X: the property X with its error (properties can give only the
   * value, and give nil on failure). COM spells its getters the same way. */
    {"get_Atr", g_atr},
    {"get_Status", g_status},
    {NULL, NULL}};

static const luaL_Reg getters[] = {
    {"Atr", g_atr},           {"CardHandle", g_card_handle},
    {"Context", g_context},   {"Protocol", g_protocol},
    {"Status", g_status},     {"reader", g_reader},
    {"locked", g_locked},     {"borrowed", g_borrowed},
    {"attached", g_attached}, {NULL, NULL}};

static const luaL_Reg metamethods[] = {{"__gc", m_gc},
                                       {"__close", m_gc},
                                       {"__tostring", m_tostring},
                                       {NULL, NULL}};

/* Sets the functions of l into the table on top of the stack, each with
 * the metatable, just below that table, as upvalue (ISCARD_UV_MT). */
static void set_with_mt(lua_State *L, const luaL_Reg *l) {
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, l, 1);
}

static const luaL_Reg functions[] = {{"ISCard", l_new},
                                     {"readers", l_readers},
                                     {"reader_groups", l_reader_groups},
                                     {"valid_context", l_valid_context},
                                     {"ctl_code", l_ctl_code},
                                     {"status_change", l_status_change},
                                     {"cancel", l_cancel},
                                     {"now", l_now},
                                     {"sleep", l_sleep},
                                     {"set_misuse", l_set_misuse},
                                     {NULL, NULL}};

/* The C halves of methods written in Lua (iscard.card), exported under
 * their own names: core.attr_raw(card, id), core.set_attr(card, id, bytes). */
static const luaL_Reg wrapped[] = {
    {"attr_raw", m_attr_raw}, {"set_attr", m_set_attr}, {NULL, NULL}};

/* PC/SC reader-state bits, for status_change. */
#define ISCARD_READER_STATES(S)                                                \
  S(UNAWARE, SCARD_STATE_UNAWARE)                                              \
  S(IGNORE, SCARD_STATE_IGNORE)                                                \
  S(CHANGED, SCARD_STATE_CHANGED)                                              \
  S(UNKNOWN, SCARD_STATE_UNKNOWN)                                              \
  S(UNAVAILABLE, SCARD_STATE_UNAVAILABLE)                                      \
  S(EMPTY, SCARD_STATE_EMPTY)                                                  \
  S(PRESENT, SCARD_STATE_PRESENT)                                              \
  S(ATRMATCH, SCARD_STATE_ATRMATCH)                                            \
  S(EXCLUSIVE, SCARD_STATE_EXCLUSIVE)                                          \
  S(INUSE, SCARD_STATE_INUSE)                                                  \
  S(MUTE, SCARD_STATE_MUTE)                                                    \
  S(UNPOWERED, SCARD_STATE_UNPOWERED)

ISCARD_API int luaopen_iscard_core(lua_State *L) {
  const ErrorName *e;
  luaL_newlib(L, functions);

  /* methods are shared with the Lua layer, which adds Transaction and
   * friends to them (exported as `methods`; lua/iscard/card.lua).  Methods and getters live in
   * the metatable, so a second luaopen in the same state (a reloaded
   * module) finds the tables the existing objects use instead of making
   * new, unused ones. */
  if (luaL_newmetatable(L, ISCARD_MT)) {
    int *count = (int *)lua_newuserdatauv(L, sizeof *count, 0);
    *count = 0;
    lua_setfield(L, LUA_REGISTRYINDEX, ISCARD_LOCK_COUNT_KEY);
    /* The registry tables of the guards made now, so that the calls that
     * use them never allocate (which could run a finalizer) between their
     * PC/SC call and their return. */
    push_locks(L);
    push_weak(L, ISCARD_ATTACHED_KEY, "k");
    lua_pop(L, 2);
    lua_newtable(L);
    set_with_mt(L, methods);
    lua_setfield(L, -2, "methods");
    lua_newtable(L);
    set_with_mt(L, getters);
    lua_setfield(L, -2, "getters");
    lua_pushvalue(L, -1);
    set_with_mt(L, metamethods);
    lua_pop(L, 1);
    lua_getfield(L, -1, "methods");
    lua_getfield(L, -2, "getters");
    lua_pushcclosure(L, m_index, 2);
    lua_setfield(L, -2, "__index");
    lua_getfield(L, -1, "methods");
    lua_getfield(L, -2, "getters");
    lua_pushcclosure(L, m_newindex, 2);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "iscard.ISCard");
    lua_setfield(L, -2, "__metatable");
  }
  lua_getfield(L, -1, "methods");
  lua_setfield(L, -3, "methods");
  lua_pushvalue(L, -2); /* module, metatable, module */
  set_with_mt(L, wrapped);
  lua_pop(L, 2);

  /* errors: name -> code and code -> name, from the one list. */
  lua_newtable(L);
  for (e = error_names; e->name != NULL; e++) {
    iscard_pushu32(L, e->code);
    lua_setfield(L, -2, e->name);
    iscard_pushu32(L, e->code);
    lua_pushstring(L, e->name);
    lua_settable(L, -3);
  }
  lua_setfield(L, -2, "errors");

  lua_newtable(L);
#define ISCARD_CONSTANT_ENTRY(n, v)                                            \
  lua_pushinteger(L, (lua_Integer)(v));                                        \
  lua_setfield(L, -2, #n);
  ISCARD_CONSTANTS(ISCARD_CONSTANT_ENTRY)
  lua_setfield(L, -2, "constants");

  lua_newtable(L);
#define ISCARD_STATE_ENTRY(n, v)                                               \
  lua_pushinteger(L, (lua_Integer)(v));                                        \
  lua_setfield(L, -2, #n);
  ISCARD_READER_STATES(ISCARD_STATE_ENTRY)
  lua_setfield(L, -2, "reader_states");

  lua_pushinteger(L, (lua_Integer)ISCARD_MIN_APDU);
  lua_setfield(L, -2, "MIN_APDU");
  lua_pushinteger(L, (lua_Integer)MAX_BUFFER_SIZE_EXTENDED);
  lua_setfield(L, -2, "MAX_APDU");

  /* The calls that yield (lua/iscard/loop.lua), and the blocking ones
   * under the same names, for the Lua layer to switch between. */
  isc_worker_open(L);
  luaL_getmetatable(L, ISCARD_MT);
  lua_newtable(L);
  set_with_mt(L, async_functions);
  lua_setfield(L, -3, "async");
  lua_newtable(L);
  set_with_mt(L, blocking_functions);
  lua_setfield(L, -3, "blocking");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_collect);
  lua_setfield(L, -2, "collect");
  return 1;
}
