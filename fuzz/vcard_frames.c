/*
 * Fuzz target: the vpcd frame reader of vcard_io (conn:recv), the one
 * place where bytes from vpcd -- that is, from pcscd's side -- are parsed
 * by C.  The input, after its first byte, is the byte stream vpcd would
 * send: 2-byte big-endian lengths and payloads, cut anywhere.  It goes
 * through a real socket pair in pieces whose sizes the first byte chooses,
 * with conn:recv(0) called between pieces (so frames arrive split, joined
 * and back to back), then the writer closes and recv() drains the rest.
 * Checked: every complete frame comes out whole and in order, an
 * incomplete tail ends in "closed", and nothing else comes out.
 */
#include "../src/vcard_io.c"
#include "lua_embed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;

/* conn:recv(timeout) through Lua; returns the payload or NULL (why in *why) */
static const char *recv_frame(int conn, int timeout, size_t *len,
                              const char **why) {
  lua_getfield(L, conn, "recv");
  lua_pushvalue(L, conn);
  if (timeout >= 0)
    lua_pushinteger(L, timeout);
  else
    lua_pushnil(L);
  if (lua_pcall(L, 2, 2, 0) != 0) lua_die(L, "recv");
  if (lua_isstring(L, -2)) {
    const char *p = lua_tolstring(L, -2, len);
    return p; /* left on the stack until the caller pops */
  }
  *why = lua_tostring(L, -1);
  return NULL;
}

/* The next complete frame of the stream at *pos, or NULL at its end. */
static const uint8_t *next_expected(const uint8_t *s, size_t n, size_t *pos,
                                    size_t *len) {
  size_t l;
  if (n - *pos < 2) return NULL;
  l = ((size_t)s[*pos] << 8) | s[*pos + 1];
  if (n - *pos - 2 < l) return NULL;
  *len = l;
  *pos += 2 + l;
  return s + *pos - l;
}

static void expect(const uint8_t *stream, size_t n, size_t *pos,
                   const char *got, size_t glen) {
  size_t elen = 0;
  const uint8_t *e = next_expected(stream, n, pos, &elen);
  if (e == NULL || elen != glen || memcmp(e, got, glen) != 0) {
    fprintf(stderr,
            "vcard_frames: frame of %u bytes does not match the stream\n",
            (unsigned)glen);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t steps[] = {1, 2, 3, 7, 64, 1000, 4096, 65537};
  int sv[2], conn, top;
  size_t off = 1, pos = 1, step;
  const char *why = NULL;
  if (size < 1) return 0;
  if (L == NULL) {
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_pushcfunction(L, luaopen_iscard_vcard_io);
    lua_call(L, 0, 0);
  }
  top = lua_gettop(L);
  step = steps[data[0] % 8];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) abort();
  (void)fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
  (void)new_conn(L, sv[0]);
  conn = lua_gettop(L);
  while (off < size) {
    size_t chunk = size - off < step ? size - off : step;
    ssize_t w = send(sv[1], data + off, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0)
      off += (size_t)w;
    else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      abort();
    for (;;) { /* take what is complete now */
      size_t glen;
      const char *got = recv_frame(conn, 0, &glen, &why);
      if (got == NULL) break;
      expect(data, size, &pos, got, glen);
      lua_pop(L, 2);
    }
    if (strcmp(why, "timeout") != 0) abort();
    lua_pop(L, 2);
  }
  close(sv[1]);
  for (;;) {
    size_t glen;
    const char *got = recv_frame(conn, -1, &glen, &why);
    if (got == NULL) break;
    expect(data, size, &pos, got, glen);
    lua_pop(L, 2);
  }
  {
    size_t elen;
    if (strcmp(why, "closed") != 0 ||
        next_expected(data, size, &pos, &elen) != NULL) {
      fprintf(stderr, "vcard_frames: ended with '%s' before the stream did\n",
              why);
      abort();
    }
  }
  lua_settop(L, top); /* the conn: its __gc closes sv[0] */
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
