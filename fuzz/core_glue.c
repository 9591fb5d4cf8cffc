/*
 * Fuzz target: the C core (src/iscard_core.c) through an embedded
 * lua_State, with a PC/SC layer that lies.  The SCard* functions below
 * replace pcsc-lite in this binary and answer from the input: return codes
 * (success, every error, unknown codes), handles and contexts, reader
 * lists, reader names, ATRs, reply lengths and reply bytes -- including
 * answers no correct pcsc-lite gives (a length past the buffer, a list
 * without its terminating NULs), because the core must not trust the
 * library's arithmetic with its own buffers.  fuzz/harness/core_glue.lua
 * makes the calls, with arguments from the same input (right, wrong,
 * NaN, huge, closed objects...), and checks the error convention.
 */
#include "../src/iscard_core.c"
#include "lua_embed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *in;
static size_t in_left;

static unsigned take(void) {
  if (in_left == 0) return 0;
  in_left--;
  return *in++;
}

static unsigned long take32(void) {
  unsigned long v = take();
  v = (v << 8) | take();
  v = (v << 8) | take();
  return (v << 8) | take();
}

static const LONG failures[] = {
    SCARD_E_NO_SERVICE,
    SCARD_F_COMM_ERROR,
    SCARD_W_SECURITY_VIOLATION,
    SCARD_E_INSUFFICIENT_BUFFER,
    SCARD_E_SHARING_VIOLATION,
    SCARD_W_RESET_CARD,
    SCARD_W_REMOVED_CARD,
    SCARD_E_NO_SMARTCARD,
    SCARD_E_TIMEOUT,
    SCARD_E_INVALID_HANDLE,
    SCARD_E_NO_READERS_AVAILABLE,
    SCARD_E_INVALID_VALUE,
    SCARD_E_UNSUPPORTED_FEATURE,
    SCARD_E_CANCELLED,
    SCARD_E_UNKNOWN_READER,
    (LONG)0x7FFFFFFF /* a code nobody knows */
};

/* Success mostly; else one of the failures. */
static LONG outcome(void) {
  unsigned b = take();
  if (b < 192) return SCARD_S_SUCCESS;
  return failures[b % (sizeof failures / sizeof failures[0])];
}

/* A length near the buffer's: within it mostly, sometimes past it. */
static DWORD length_for(DWORD cap) {
  unsigned b = take();
  if (b < 200) return cap ? (DWORD)(take32() % (cap + 1)) : 0;
  if (b < 230) return cap;
  return cap + 1 + (DWORD)(take32() % 70000);
}

static void fill(void *buf, DWORD n) {
  DWORD i;
  for (i = 0; i < n; i++) ((BYTE *)buf)[i] = (BYTE)take();
}

const SCARD_IO_REQUEST g_rgSCardT0Pci = {SCARD_PROTOCOL_T0,
                                         sizeof(SCARD_IO_REQUEST)};
const SCARD_IO_REQUEST g_rgSCardT1Pci = {SCARD_PROTOCOL_T1,
                                         sizeof(SCARD_IO_REQUEST)};
const SCARD_IO_REQUEST g_rgSCardRawPci = {SCARD_PROTOCOL_RAW,
                                          sizeof(SCARD_IO_REQUEST)};

LONG SCardEstablishContext(DWORD scope, LPCVOID r1, LPCVOID r2,
                           LPSCARDCONTEXT ctx) {
  (void)scope;
  (void)r1;
  (void)r2;
  *ctx = (SCARDCONTEXT)take32();
  return outcome();
}

LONG SCardReleaseContext(SCARDCONTEXT ctx) {
  (void)ctx;
  return outcome();
}

LONG SCardConnect(SCARDCONTEXT ctx, LPCSTR reader, DWORD share, DWORD proto,
                  LPSCARDHANDLE h, LPDWORD active) {
  (void)ctx;
  (void)reader;
  (void)share;
  (void)proto;
  *h = (SCARDHANDLE)take32();
  *active = (DWORD)1 << (take() % 20);
  return outcome();
}

LONG SCardReconnect(SCARDHANDLE h, DWORD share, DWORD proto, DWORD init,
                    LPDWORD active) {
  (void)h;
  (void)share;
  (void)proto;
  (void)init;
  *active = (DWORD)1 << (take() % 20);
  return outcome();
}

LONG SCardDisconnect(SCARDHANDLE h, DWORD disp) {
  (void)h;
  (void)disp;
  return outcome();
}
LONG SCardBeginTransaction(SCARDHANDLE h) {
  (void)h;
  return outcome();
}
LONG SCardEndTransaction(SCARDHANDLE h, DWORD disp) {
  (void)h;
  (void)disp;
  return outcome();
}

LONG SCardTransmit(SCARDHANDLE h, const SCARD_IO_REQUEST *spci, LPCBYTE send,
                   DWORD slen, SCARD_IO_REQUEST *rpci, LPBYTE recv,
                   LPDWORD rlen) {
  DWORD n = length_for(*rlen);
  (void)h;
  (void)spci;
  (void)send;
  (void)slen;
  (void)rpci;
  fill(recv, n < *rlen ? n : *rlen);
  *rlen = n;
  return outcome();
}

LONG SCardStatus(SCARDHANDLE h, LPSTR reader, LPDWORD rlen, LPDWORD state,
                 LPDWORD proto, LPBYTE atr, LPDWORD alen) {
  DWORD n = length_for(*rlen), a = length_for(*alen);
  (void)h;
  fill(reader, n < *rlen ? n : *rlen); /* maybe without a NUL */
  *rlen = n;
  *state = (DWORD)take32();
  *proto = (DWORD)1 << (take() % 20);
  fill(atr, a < *alen ? a : *alen);
  *alen = a;
  return outcome();
}

LONG SCardListReaders(SCARDCONTEXT ctx, LPCSTR groups, LPSTR buf, LPDWORD len) {
  (void)ctx;
  (void)groups;
  if (buf == NULL) {
    *len = (DWORD)(take() % 200);
  } else {
    DWORD n = length_for(*len);
    fill(buf, n < *len ? n : *len); /* maybe without the final NULs */
    *len = n;
  }
  return outcome();
}

LONG SCardGetStatusChange(SCARDCONTEXT ctx, DWORD timeout,
                          SCARD_READERSTATE *rs, DWORD n) {
  DWORD i;
  (void)ctx;
  (void)timeout;
  for (i = 0; i < n; i++) {
    rs[i].dwEventState = (DWORD)take32();
    rs[i].cbAtr = (DWORD)(take() % 64); /* past rgbAtr now and then */
    fill(rs[i].rgbAtr, rs[i].cbAtr < sizeof rs[i].rgbAtr
                           ? rs[i].cbAtr
                           : (DWORD)sizeof rs[i].rgbAtr);
  }
  return outcome();
}

LONG SCardListReaderGroups(SCARDCONTEXT ctx, LPSTR buf, LPDWORD len) {
  return SCardListReaders(ctx, NULL, buf, len);
}

LONG SCardIsValidContext(SCARDCONTEXT ctx) {
  (void)ctx;
  return outcome();
}
LONG SCardCancel(SCARDCONTEXT ctx) {
  (void)ctx;
  return outcome();
}

LONG SCardControl(SCARDHANDLE h, DWORD code, LPCVOID inbuf, DWORD inlen,
                  LPVOID out, DWORD outlen, LPDWORD got) {
  DWORD n = length_for(outlen);
  (void)h;
  (void)code;
  (void)inbuf;
  (void)inlen;
  fill(out, n < outlen ? n : outlen);
  *got = n;
  return outcome();
}

LONG SCardGetAttrib(SCARDHANDLE h, DWORD id, LPBYTE attr, LPDWORD len) {
  DWORD n = length_for(*len);
  (void)h;
  (void)id;
  fill(attr, n < *len ? n : *len);
  *len = n;
  return outcome();
}

LONG SCardSetAttrib(SCARDHANDLE h, DWORD id, LPCBYTE attr, DWORD len) {
  (void)h;
  (void)id;
  (void)attr;
  (void)len;
  return outcome();
}

/* take() for the Lua harness: the next input byte (0 once used up) */
static int l_take(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)take());
  return 1;
}

static int l_left(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)in_left);
  return 1;
}

static lua_State *state;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (state == NULL) {
    /* the harness requires iscard in fuzz(), after the preload is set */
    state = lua_embed_open(ISCARD_ROOT "/fuzz/harness/core_glue.lua");
    lua_getglobal(state, "package");
    lua_getfield(state, -1, "preload");
    lua_pushcfunction(state, luaopen_iscard_core); /* on the fake PC/SC */
    lua_setfield(state, -2, "iscard.core");
    lua_pop(state, 2);
    lua_pushcfunction(state, l_take);
    lua_setglobal(state, "take");
    lua_pushcfunction(state, l_left);
    lua_setglobal(state, "left");
  }
  in = data;
  in_left = size;
  lua_embed_run(state, data, size);
  lua_gc(state, LUA_GCCOLLECT, 0); /* every ISCard left over: __gc */
  return 0;
}
