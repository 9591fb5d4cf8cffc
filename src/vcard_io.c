/*
 * iscard.vcard_io -- minimal POSIX TCP client for the vpcd wire protocol.
 *
 * vpcd (the virtual reader driver of vsmartcard) listens on TCP; a "card"
 * is a client that connects to it.  Every message in either direction is a
 * 2-byte big-endian length followed by that many payload bytes.
 *
 * Lua API (see lua/iscard/vcard.lua for the emulator built on it):
 *   vcard_io.connect(host, port)  -> conn | nil, msg, errno
 *   vcard_io.listen(host, port)   -> listener | nil, msg, errno  (tests, fake vpcd)
 *   vcard_io.readable(fd_a [, fd_b [, timeout_ms]]) -> 1 | 2 | nil, "timeout" ...
 *   vcard_io.read(fd, max)        -> bytes ("" at end of file) | nil, msg ...
 *   conn:recv([timeout_ms])       -> payload | nil, "timeout" | nil, "closed"
 *                                    | nil, "interrupted" | nil, msg, errno
 *   conn:send(payload)            -> true | nil, "closed" | nil, msg, errno
 *   conn:sendraw(bytes)           -> same, but unframed (tests / fake servers)
 *   conn:close(), conn:fileno()
 *   listener:accept([timeout_ms]) -> conn | nil, "timeout" | nil, msg, errno
 *   listener:port(), listener:close(), listener:fileno()
 *
 * Latency: vpcd writes the length and the payload in two writes and does not
 * disable Nagle, so the card side sets TCP_NODELAY once and TCP_QUICKACK
 * after every read (Linux clears QUICKACK on its own).  Without this each
 * APDU costs a delayed-ACK timeout (~40 ms).
 *
 * EINTR: interrupted system calls are retried, except when a Lua hook is
 * pending (the standalone interpreter installs one from its SIGINT handler);
 * then the call returns nil, "interrupted" (no buffered byte is lost) so that
 * Ctrl-C takes effect.  Callers simply call again.
 */
#if !defined(_POSIX_C_SOURCE)
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): feature-test macro */
#define _POSIX_C_SOURCE 200809L
#endif
#if !defined(_DEFAULT_SOURCE)
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): feature-test macro */
#define _DEFAULT_SOURCE 1
#endif
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
/* _POSIX_C_SOURCE alone hides the BSD socket types on macOS */
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): feature-test macro */
#define _DARWIN_C_SOURCE 1
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"

/* macOS (before 10.x) has no MSG_NOSIGNAL: SO_NOSIGPIPE on the socket
 * keeps a write to a closed vpcd from raising SIGPIPE there. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define CONN_MT "iscard.vcard_io.conn"
#define LISTENER_MT "iscard.vcard_io.listener"
#define MAX_PAYLOAD 65535U
/* one full message plus room to read ahead */
#define BUF_CAP (2U + MAX_PAYLOAD + 4096U)

typedef struct {
  int fd;
  size_t have; /* bytes buffered in buf */
  unsigned char buf[BUF_CAP];
} Conn;

typedef struct {
  int fd;
} Listener;

ISCARD_API int luaopen_iscard_vcard_io(lua_State *L);

/* ---------------------------------------------------------------- helpers */

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int push_errno(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, strerror(err));
  lua_pushinteger(L, err);
  return 3;
}

static int push_fail(lua_State *L, const char *what) {
  lua_pushnil(L);
  lua_pushstring(L, what);
  return 2;
}

/* After EINTR: should we go back to Lua (a hook is pending) or retry? */
static int interrupted(lua_State *L) {
  return lua_gethook(L) != NULL;
}

static void set_nodelay(int fd) {
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef SO_NOSIGPIPE
  (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
}

static void set_quickack(int fd) {
#ifdef TCP_QUICKACK
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
  (void)fd;
#endif
}

static void set_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFD);
  if (fl >= 0) (void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/* Optional timeout argument: nil/absent/negative = wait forever. */
static double opt_timeout(lua_State *L, int arg) {
  if (lua_isnoneornil(L, arg)) return -1.0;
  /* a whole number of ms: NaN would make the wait endless */
  return (double)iscard_checkint(L, arg, arg, "timeout_ms", -2147483647 - 1,
                                 2147483647);
}

/* Wait until fd is readable.  Returns 1 ready, 0 timeout, -1 interrupted
 * (hook pending), -2 error (errno set).  deadline < 0 means forever. */
static int wait_readable(lua_State *L, int fd, double deadline) {
  for (;;) {
    struct pollfd p;
    int ms = -1, r;
    if (deadline >= 0) {
      double left = deadline - mono_ms();
      if (left <= 0)
        ms = 0;
      else if (left > (double)INT_MAX)
        ms = INT_MAX;
      else
        ms = (int)(left + 0.999);
    }
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    r = poll(&p, 1, ms);
    if (r > 0) return 1;
    if (r == 0) {
      if (deadline >= 0 && mono_ms() < deadline) continue;
      return 0;
    }
    if (errno == EINTR) {
      if (interrupted(L)) return -1;
      continue;
    }
    return -2;
  }
}

static int open_socket(lua_State *L, const char *host, const char *port,
                       int passive, int *out_fd) {
  struct addrinfo hints, *res = NULL, *ai;
  int rc, err = ECONNREFUSED, fd = -1;

  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s:%s: %s", host ? host : "*", port, gai_strerror(rc));
    lua_pushinteger(L, rc);
    return 3;
  }
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    set_cloexec(fd);
    if (passive) {
      int one = 1;
      (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0)
        break;
    } else {
      int r;
      do {
        r = connect(fd, ai->ai_addr, ai->ai_addrlen);
      } while (r != 0 && errno == EINTR && !interrupted(L));
      if (r == 0) break;
    }
    err = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return push_errno(L, err);
  *out_fd = fd;
  return 0;
}

static const char *port_arg(lua_State *L, int arg, char *buf, size_t n) {
  long long p = iscard_checkint(L, arg, arg, "port", 0, 65535);
  (void)snprintf(buf, n, "%d", (int)p);
  return buf;
}

static Conn *new_conn(lua_State *L, int fd) {
  Conn *c = (Conn *)lua_newuserdata(L, sizeof(Conn));
  c->fd = fd;
  c->have = 0;
  luaL_getmetatable(L, CONN_MT);
  lua_setmetatable(L, -2);
  set_nodelay(fd);
  set_quickack(fd);
  return c;
}

/* --------------------------------------------------------------- module */

/** connect(host, port) -> conn | nil, msg, errno */
static int l_connect(lua_State *L) {
  const char *host = luaL_optstring(L, 1, "127.0.0.1");
  char pbuf[16];
  const char *port = port_arg(L, 2, pbuf, sizeof pbuf);
  int fd = -1, n;
  luaL_checkstack(L, 4, NULL);
  n = open_socket(L, host, port, 0, &fd);
  if (n) return n;
  new_conn(L, fd);
  return 1;
}

/** listen(host, port) -> listener | nil, msg, errno (port 0 = any) */
static int l_listen(lua_State *L) {
  const char *host = luaL_optstring(L, 1, "127.0.0.1");
  char pbuf[16];
  const char *port = port_arg(L, 2, pbuf, sizeof pbuf);
  int fd = -1, n;
  Listener *s;
  n = open_socket(L, host, port, 1, &fd);
  if (n) return n;
  s = (Listener *)lua_newuserdata(L, sizeof(Listener));
  s->fd = fd;
  luaL_getmetatable(L, LISTENER_MT);
  lua_setmetatable(L, -2);
  return 1;
}

/* ----------------------------------------------------------- connection */

static Conn *check_conn(lua_State *L) {
  return (Conn *)luaL_checkudata(L, 1, CONN_MT);
}

static Conn *check_open_conn(lua_State *L) {
  Conn *c = check_conn(L);
  if (c->fd < 0) luaL_error(L, "vcard_io: connection is closed");
  return c;
}

/** conn:recv([timeout_ms]) -> payload | nil, why [, errno] */
static int c_recv(lua_State *L) {
  Conn *c = check_open_conn(L);
  double t = opt_timeout(L, 2);
  double deadline = t >= 0 ? mono_ms() + t : -1.0;
  for (;;) {
    ssize_t n;
    if (c->have >= 2) {
      size_t len = ((size_t)c->buf[0] << 8) | (size_t)c->buf[1];
      if (c->have >= 2 + len) {
        lua_pushlstring(L, (const char *)c->buf + 2, len);
        c->have -= 2 + len;
        if (c->have > 0) memmove(c->buf, c->buf + 2 + len, c->have);
        return 1;
      }
    }
    if (deadline >= 0) {
      int w = wait_readable(L, c->fd, deadline);
      if (w == 0) return push_fail(L, "timeout");
      if (w == -1) return push_fail(L, "interrupted");
      if (w == -2) return push_errno(L, errno);
    }
    n = read(c->fd, c->buf + c->have, BUF_CAP - c->have);
    if (n > 0) {
      c->have += (size_t)n;
      set_quickack(c->fd);
      continue;
    }
    if (n == 0) return push_fail(L, "closed");
    if (errno == EINTR) {
      if (interrupted(L)) return push_fail(L, "interrupted");
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) continue;
    if (errno == ECONNRESET) {
      lua_pushnil(L);
      lua_pushliteral(L, "closed");
      lua_pushinteger(L, errno);
      return 3;
    }
    return push_errno(L, errno);
  }
}

/* Write all iov data in as few calls as possible (normally exactly one). */
static int write_all(lua_State *L, int fd, struct iovec *iov, int cnt) {
  while (cnt > 0) {
    struct msghdr m;
    ssize_t n;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)cnt;
    n = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (n < 0) {
      int err = errno;
      if (err == EINTR) continue; /* nothing written yet: safe to retry */
      if (err == EPIPE || err == ECONNRESET) {
        lua_pushnil(L);
        lua_pushliteral(L, "closed");
        lua_pushinteger(L, err);
        return 3;
      }
      return push_errno(L, err);
    }
    while (cnt > 0 && (size_t)n >= iov->iov_len) {
      n -= (ssize_t)iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0) {
      iov->iov_base = (char *)iov->iov_base + n;
      iov->iov_len -= (size_t)n;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

/** conn:send(payload) -> true | nil, why [, errno]; raises if > 65535 */
static int c_send(lua_State *L) {
  Conn *c = check_open_conn(L);
  size_t len;
  const char *p = luaL_checklstring(L, 2, &len);
  unsigned char hdr[2];
  struct iovec iov[2];
  luaL_argcheck(L, len <= MAX_PAYLOAD, 2, "payload longer than 65535 bytes");
  hdr[0] = (unsigned char)(len >> 8);
  hdr[1] = (unsigned char)(len & 0xFF);
  iov[0].iov_base = hdr;
  iov[0].iov_len = 2;
  iov[1].iov_base = (void *)p;
  iov[1].iov_len = len;
  return write_all(L, c->fd, iov, len ? 2 : 1);
}

/** conn:sendraw(bytes): unframed write, for tests and fake servers */
static int c_sendraw(lua_State *L) {
  Conn *c = check_open_conn(L);
  size_t len;
  const char *p = luaL_checklstring(L, 2, &len);
  struct iovec iov[1];
  iov[0].iov_base = (void *)p;
  iov[0].iov_len = len;
  if (len == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  return write_all(L, c->fd, iov, 1);
}

/** conn:close(): idempotent; also __gc and __close */
static int c_close(lua_State *L) {
  Conn *c = check_conn(L);
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
  c->have = 0;
  return 0;
}

/** conn:fileno() -> fd, or -1 when closed */
static int c_fileno(lua_State *L) {
  lua_pushinteger(L, check_conn(L)->fd);
  return 1;
}

static int c_tostring(lua_State *L) {
  Conn *c = check_conn(L);
  if (c->fd >= 0)
    lua_pushfstring(L, "vcard_io.conn (fd %d)", c->fd);
  else
    lua_pushliteral(L, "vcard_io.conn (closed)");
  return 1;
}

/* ------------------------------------------------------------- listener */

static Listener *check_listener(lua_State *L) {
  return (Listener *)luaL_checkudata(L, 1, LISTENER_MT);
}

/** listener:accept([timeout_ms]) -> conn | nil, why [, errno] */
static int s_accept(lua_State *L) {
  Listener *s = check_listener(L);
  double t = opt_timeout(L, 2);
  double deadline = t >= 0 ? mono_ms() + t : -1.0;
  int fd;
  if (s->fd < 0) return luaL_error(L, "vcard_io: listener is closed");
  for (;;) {
    int w = wait_readable(L, s->fd, deadline);
    if (w == 0) return push_fail(L, "timeout");
    if (w == -1) return push_fail(L, "interrupted");
    if (w == -2) return push_errno(L, errno);
    fd = accept(s->fd, NULL, NULL);
    if (fd >= 0) break;
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ||
        errno == ECONNABORTED)
      continue;
    return push_errno(L, errno);
  }
  set_cloexec(fd);
  new_conn(L, fd);
  return 1;
}

/** listener:port() -> the bound TCP port (useful after listen(host, 0)) */
static int s_port(lua_State *L) {
  Listener *s = check_listener(L);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (s->fd < 0 || getsockname(s->fd, (struct sockaddr *)&ss, &sl) != 0)
    return push_errno(L, s->fd < 0 ? EBADF : errno);
  if (ss.ss_family == AF_INET)
    lua_pushinteger(L, ntohs(((struct sockaddr_in *)&ss)->sin_port));
  else if (ss.ss_family == AF_INET6)
    lua_pushinteger(L, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
  else
    lua_pushnil(L);
  return 1;
}

static int s_close(lua_State *L) {
  Listener *s = check_listener(L);
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
  return 0;
}

static int s_fileno(lua_State *L) {
  lua_pushinteger(L, check_listener(L)->fd);
  return 1;
}

/* ------------------------------------------------------------- register */

/* readable(fd_a [, fd_b [, timeout_ms]]) -> 1 or 2: which one can be read
 * (a first when both can), or nil, "timeout" | nil, "interrupted" |
 * nil, msg, errno.  For a card that also takes commands on stdin.  A conn
 * may hold a whole message in its buffer while its fd is quiet: call
 * conn:recv(0) before waiting here. */
static int l_readable(lua_State *L) {
  struct pollfd p[2];
  int n = 1, ms = -1, r;
  double t;
  p[0].fd = (int)luaL_checkinteger(L, 1);
  if (!lua_isnoneornil(L, 2)) {
    p[1].fd = (int)luaL_checkinteger(L, 2);
    n = 2;
  }
  t = opt_timeout(L, 3);
  if (t >= 0) ms = t > (double)INT_MAX ? INT_MAX : (int)(t + 0.999);
  p[0].events = p[1].events = POLLIN;
  p[0].revents = p[1].revents = 0;
  r = poll(p, (nfds_t)n, ms);
  if (r > 0) {
    lua_pushinteger(L, (p[0].revents != 0) ? 1 : 2);
    return 1;
  }
  if (r == 0) return push_fail(L, "timeout");
  if (errno == EINTR) return push_fail(L, "interrupted");
  return push_errno(L, errno);
}

/* read(fd, max) -> the bytes read now (at most max; "" at end of file), or
 * nil, "interrupted" | nil, msg, errno.  One read(2): no buffering behind
 * the caller's back, so readable() stays truthful. */
static int l_read(lua_State *L) {
  char buf[4096];
  int fd = (int)luaL_checkinteger(L, 1);
  lua_Integer max = luaL_checkinteger(L, 2);
  ssize_t got;
  luaL_argcheck(L, max >= 1 && max <= (lua_Integer)sizeof buf, 2,
                "1..4096 bytes");
  got = read(fd, buf, (size_t)max);
  if (got < 0) {
    int err = errno;
    if (err == EINTR) return push_fail(L, "interrupted");
    return push_errno(L, err);
  }
  lua_pushlstring(L, buf, (size_t)got);
  return 1;
}

static const luaL_Reg conn_methods[] = {
    {"recv", c_recv},   {"send", c_send},     {"sendraw", c_sendraw},
    {"close", c_close}, {"fileno", c_fileno}, {NULL, NULL}};

static const luaL_Reg listener_methods[] = {{"accept", s_accept},
                                            {"port", s_port},
                                            {"close", s_close},
                                            {"fileno", s_fileno},
                                            {NULL, NULL}};

static const luaL_Reg module_funcs[] = {{"connect", l_connect},
                                        {"listen", l_listen},
                                        {"readable", l_readable},
                                        {"read", l_read},
                                        {NULL, NULL}};

static void make_mt(lua_State *L, const char *name, const luaL_Reg *methods,
                    lua_CFunction closer, lua_CFunction tostr) {
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, closer);
  lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
  lua_pushcfunction(L, closer);
  lua_setfield(L, -2, "__close");
#endif
  if (tostr != NULL) {
    lua_pushcfunction(L, tostr);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}

ISCARD_API int luaopen_iscard_vcard_io(lua_State *L) {
  make_mt(L, CONN_MT, conn_methods, c_close, c_tostring);
  make_mt(L, LISTENER_MT, listener_methods, s_close, NULL);
  lua_newtable(L);
  luaL_setfuncs(L, module_funcs, 0);
  lua_pushinteger(L, (lua_Integer)MAX_PAYLOAD);
  lua_setfield(L, -2, "MAX_PAYLOAD");
  return 1;
}
