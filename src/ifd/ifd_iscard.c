/*
 * libifd-iscard.so -- a virtual smart card reader for pcscd, for tests.
 * It is not a driver for production readers: it exists so that programs
 * can be tested against PIN pads, reader attributes, many slots and
 * readers going away without hardware.
 *
 * An IFD handler (pcsc-lite's driver API 3.0, PCSC/ifdhandler.h), loaded
 * by pcscd from a reader.conf entry:
 *
 *   FRIENDLYNAME "iscard Virtual Reader"
 *   LIBPATH      /usr/local/lib/pcsc/drivers/serial/libifd-iscard.so
 *   DEVICENAME   "127.0.0.1:36000;slots=2;pinpad=1;control=/run/vreader"
 *
 * (quoted: pcscd's reader.conf reader takes no ';' in a bare word).  Slot
 * i listens on TCP HOST:PORT+i for its card, which speaks vpcd's wire
 * protocol (vsmartcard): frames of a 2-byte big-endian length and a
 * payload; a 1-byte payload is a control (0 power off, 1 power on, 2
 * reset, 4 give the ATR), anything longer a command APDU answered by one
 * frame.  Connecting inserts the card, closing removes it.  So vpcd's
 * card emulators (`iscard vcard --port P`, vicc) work unchanged.
 *
 * Options (key=value after the address): slots=1..16, pinpad=0|1,
 * control=PATH (the control socket, ctl.c), control_mode=0600 (octal),
 * pin_timeout=30 (seconds, for bTimerOut 0), and the PIN pad's properties
 * lcd_layout, min_pin_size, max_pin_size, entry_validation_condition,
 * id_vendor, id_product, max_apdu_data_size, firmware_id.
 *
 * Threads: the driver says it is thread safe and so are its slots, so
 * pcscd calls slots in parallel (each slot's calls still one at a time).
 * Card insertion and removal wake pcscd's event thread through the
 * polling function (TAG_IFD_POLLING_THREAD_WITH_TIMEOUT) at once.  Each
 * slot's lock guards what the control thread shares with pcscd's calls
 * (keypad entries, attributes, the unplugged flag, which card fd is
 * current); card I/O runs outside it, only in pcscd's calls for that slot.
 */
#if !defined(_GNU_SOURCE)
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): feature-test macro */
#define _GNU_SOURCE 1 /* POLLRDHUP, accept4, SO_PEERCRED: Linux, as pcscd */
#endif

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#pragma GCC visibility push(default) /* the IFDH* entry points */
#include <ifdhandler.h>
#pragma GCC visibility pop
#include <reader.h>
#include <debuglog.h>

#include "vreader.h"

#define VR_MAX_READERS 16
#define VR_QUEUE 8   /* keypad entries waiting per slot */
#define VR_CLIENTS 8 /* control connections at once */
#define VR_FRAME_MAX 65535U
#define VR_ATR_MAX 33
#define VR_ATR_WAIT_MS 10000 /* a card that does not give its ATR is broken */
#define VR_MAX_ATTRS 16

#define VR_LOG(prio, ...) log_msg(prio, "vreader: " __VA_ARGS__)

/* Our features' control codes: function 3500 + the feature tag, in
 * pcsc-lite's form (SCARD_CTL_CODE) or Windows' (what a client asking
 * GET_FEATURE_REQUEST in Windows' form gets). */
#define VR_CTL_PCSC(n) (0x42000000UL + (unsigned long)(n))
#define VR_CTL_WIN(n) (0x310000UL | ((unsigned long)(n) << 2))
#define VR_GET_FEATURE_REQUEST 3400
#define VR_FEATURE_BASE 3500
typedef char vr_ctl_code_matches_header
    [(VR_CTL_PCSC(3400) == (unsigned long)CM_IOCTL_GET_FEATURE_REQUEST) ? 1
                                                                        : -1];
typedef char
    vr_attr_ids_match_header[(SCARD_ATTR_VENDOR_NAME == 0x10100UL &&
                              SCARD_ATTR_MAXINPUT == 0x7A007UL &&
                              SCARD_ATTR_ATR_STRING == 0x90303UL &&
                              SCARD_ATTR_CURRENT_PROTOCOL_TYPE == 0x80201UL)
                                 ? 1
                                 : -1];

typedef struct {
  unsigned slots;
  int pinpad;
  char host[64];
  unsigned port;
  char control[sizeof(((struct sockaddr_un *)0)->sun_path)];
  unsigned control_mode;
  unsigned pin_timeout;
  unsigned lcd_layout, min_pin, max_pin, validation, id_vendor, id_product;
  unsigned long max_apdu;
  char firmware[VR_TEXT_MAX + 1];
} vr_config;

typedef struct {
  int key;
  int nwords;
  char words[VR_MAX_WORDS][VR_MAX_DIGITS + 1];
} vr_entry;

enum { VR_DEFAULT, VR_SET, VR_UNSET };
typedef struct {
  int state;
  unsigned long number;
  char text[VR_TEXT_MAX + 1];
} vr_value;

struct vr_reader;

typedef struct {
  struct vr_reader *reader;
  unsigned index;
  int listen_fd, card_fd;
  int wake[2];  /* wakes the polling function (insert/remove, stop) */
  int abort[2]; /* ends any card I/O for good (unplugged, closing) */
  int locks;    /* lock and keys initialised */
  pthread_mutex_t lock;
  pthread_cond_t keys;
  vr_entry queue[VR_QUEUE];
  unsigned qhead, qcount;
  int unplugged, closed;
  vr_value values[VR_MAX_ATTRS];
  /* the card: pcscd's calls for this slot only (card_fd changes under
   * the lock, for the polling function's look) */
  unsigned char atr[VR_ATR_MAX];
  size_t atr_len;
  int powered;
  unsigned long protocol;
  unsigned char *frame; /* one reply from the card */
} vr_slot;

typedef struct vr_reader {
  DWORD base; /* Lun >> 16 */
  vr_config cfg;
  int ctl_fd, ctl_wake[2], ctl_running;
  pthread_t ctl_thread;
  unsigned open_slots;
  vr_slot slots[VR_MAX_SLOTS];
} vr_reader;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static vr_reader *registry[VR_MAX_READERS];

/* ------------------------------------------------------------ helpers */

static void close_fd(int *fd) {
  if (*fd >= 0) (void)close(*fd);
  *fd = -1;
}

static void poke(int fd) {
  char b = 1;
  ssize_t n;
  do {
    n = write(fd, &b, 1);
  } while (n < 0 && errno == EINTR); /* a full pipe is awake already */
}

static void drain(int fd) {
  char b[64];
  while (read(fd, b, sizeof b) > 0) {
  }
}

static int make_pipe(int p[2]) {
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    p[0] = p[1] = -1;
    return -1;
  }
  return 0;
}

static vr_slot *slot_of(DWORD lun) {
  vr_slot *s = NULL;
  unsigned i;
  (void)pthread_mutex_lock(&registry_lock);
  for (i = 0; i < VR_MAX_READERS; i++) {
    vr_reader *r = registry[i];
    if (r != NULL && r->base == (lun >> 16) && (lun & 0xFFFFU) < r->cfg.slots)
      s = &r->slots[lun & 0xFFFFU];
  }
  (void)pthread_mutex_unlock(&registry_lock);
  return (s != NULL && !s->closed) ? s : NULL;
}

static int is_unplugged(vr_slot *s) {
  int u;
  (void)pthread_mutex_lock(&s->lock);
  u = s->unplugged;
  (void)pthread_mutex_unlock(&s->lock);
  return u;
}

/* ----------------------------------------------------- configuration */

static int cfg_number(const char *v, unsigned long max, int base,
                      unsigned long *out) {
  char *end;
  unsigned long n;
  if (*v == '\0' || *v == '-' || *v == '+') return -1;
  errno = 0;
  n = strtoul(v, &end, base);
  if (errno != 0 || *end != '\0' || n > max) return -1;
  *out = n;
  return 0;
}

typedef struct {
  const char *key;
  unsigned long min, max;
  size_t offset; /* of an unsigned in vr_config */
} vr_option;

static const vr_option options[] = {
    {"slots", 1, VR_MAX_SLOTS, offsetof(vr_config, slots)},
    {"pinpad", 0, 1, offsetof(vr_config, pinpad)},
    {"control_mode", 0, 0777, offsetof(vr_config, control_mode)},
    {"pin_timeout", 1, 3600, offsetof(vr_config, pin_timeout)},
    {"lcd_layout", 0, 0xFFFF, offsetof(vr_config, lcd_layout)},
    {"min_pin_size", 0, 255, offsetof(vr_config, min_pin)},
    {"max_pin_size", 0, 255, offsetof(vr_config, max_pin)},
    {"entry_validation_condition", 0, 255, offsetof(vr_config, validation)},
    {"id_vendor", 0, 0xFFFF, offsetof(vr_config, id_vendor)},
    {"id_product", 0, 0xFFFF, offsetof(vr_config, id_product)},
};

static int cfg_option(vr_config *c, const char *k, const char *v) {
  size_t i;
  unsigned long n;
  if (strcmp(k, "control") == 0 || strcmp(k, "firmware_id") == 0) {
    char *dst = k[0] == 'c' ? c->control : c->firmware;
    size_t cap = k[0] == 'c' ? sizeof c->control : sizeof c->firmware;
    if (strlen(v) >= cap || (k[0] == 'c' && v[0] != '/')) return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
  }
  if (strcmp(k, "max_apdu_data_size") == 0) {
    if (cfg_number(v, 0xFFFFFFFFUL, 0, &n) != 0) return -1;
    c->max_apdu = n;
    return 0;
  }
  for (i = 0; i < sizeof options / sizeof options[0]; i++) {
    if (strcmp(k, options[i].key) != 0) continue;
    if (cfg_number(v, options[i].max, strcmp(k, "control_mode") ? 0 : 8, &n) !=
            0 ||
        n < options[i].min)
      return -1;
    if (options[i].offset == offsetof(vr_config, pinpad))
      c->pinpad = (int)n;
    else
      *(unsigned *)(void *)((char *)c + options[i].offset) = (unsigned)n;
    return 0;
  }
  return -1;
}

static int cfg_address(vr_config *c, char *a) {
  char *colon = strrchr(a, ':');
  unsigned long port;
  const char *p = a;
  if (colon != NULL) {
    size_t hl = (size_t)(colon - a);
    if (hl >= sizeof c->host) return -1;
    if (hl > 0) {
      memcpy(c->host, a, hl);
      c->host[hl] = '\0';
    }
    p = colon + 1;
  }
  if (cfg_number(p, 65535, 10, &port) != 0 || port == 0) return -1;
  c->port = (unsigned)port;
  return 0;
}

/* Reads DEVICENAME "HOST:PORT;key=value;..." into c; logs what is wrong. */
static int parse_config(const char *dev, vr_config *c) {
  char buf[1024], *item, *save = NULL;
  int first = 1;
  memset(c, 0, sizeof *c);
  c->slots = 1;
  (void)snprintf(c->host, sizeof c->host, "127.0.0.1");
  c->control_mode = 0600;
  c->pin_timeout = 30;
  c->validation = 0x02; /* the OK key */
  c->min_pin = 1;
  c->max_pin = VR_MAX_DIGITS;
  c->max_apdu = VR_FRAME_MAX - 9; /* case 4E: header, 3-byte Lc, 2-byte Le */
  if (dev == NULL || strlen(dev) >= sizeof buf) {
    VR_LOG(PCSC_LOG_CRITICAL, "DEVICENAME missing or too long");
    return -1;
  }
  /* pcscd keeps the quotes a DEVICENAME with ';' needs */
  if (dev[0] == '"' || dev[0] == '\'') {
    size_t n = strlen(dev + 1);
    memcpy(buf, dev + 1, n + 1);
    if (n > 0 && buf[n - 1] == dev[0]) buf[n - 1] = '\0';
  } else {
    memcpy(buf, dev, strlen(dev) + 1);
  }
  for (item = strtok_r(buf, ";", &save); item != NULL;
       item = strtok_r(NULL, ";", &save), first = 0) {
    char *eq = strchr(item, '=');
    if (first) {
      if (cfg_address(c, item) == 0) continue;
      VR_LOG(PCSC_LOG_CRITICAL, "DEVICENAME must start HOST:PORT, not '%s'",
             item);
      return -1;
    }
    if (eq != NULL) *eq = '\0';
    if (eq == NULL || cfg_option(c, item, eq + 1) != 0) {
      VR_LOG(PCSC_LOG_CRITICAL, "bad option '%s' in DEVICENAME", item);
      return -1;
    }
  }
  if (first || c->port + c->slots - 1 > 65535) {
    VR_LOG(PCSC_LOG_CRITICAL, "DEVICENAME: no port, or ports past 65535");
    return -1;
  }
  return 0;
}

/* --------------------------------------------------------- card I/O */

enum { IO_OK = 0, IO_CLOSED = -1, IO_ABORTED = -2, IO_TIMEOUT = -3 };

static double now_ms(void) {
  struct timespec ts;
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Waits for fd (events ev) or the slot's abort pipe; deadline < 0: none. */
static int wait_io(vr_slot *s, int fd, short ev, double deadline) {
  for (;;) {
    struct pollfd p[2];
    int ms = -1, r;
    if (deadline >= 0) {
      double left = deadline - now_ms();
      if (left <= 0) return IO_TIMEOUT;
      ms = (int)left + 1;
    }
    p[0].fd = fd;
    p[0].events = ev;
    p[1].fd = s->abort[0];
    p[1].events = POLLIN;
    p[0].revents = p[1].revents = 0;
    r = poll(p, 2, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return IO_CLOSED;
    if (p[1].revents != 0) return IO_ABORTED;
    if (r > 0) return IO_OK;
  }
}

static int read_full(vr_slot *s, int fd, unsigned char *buf, size_t n,
                     double deadline) {
  size_t got = 0;
  while (got < n) {
    ssize_t k;
    int w = wait_io(s, fd, POLLIN, deadline);
    if (w != IO_OK) return w;
    k = read(fd, buf + got, n - got);
    if (k == 0) return IO_CLOSED;
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return IO_CLOSED;
    }
    got += (size_t)k;
  }
  {
    int one = 1; /* the card may wait for our ACK (Nagle on its side) */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  }
  return IO_OK;
}

static int write_frame(vr_slot *s, int fd, unsigned char *p, size_t n) {
  unsigned char hdr[2];
  struct iovec iov[2];
  int cnt = 2;
  struct iovec *v = iov;
  hdr[0] = (unsigned char)(n >> 8);
  hdr[1] = (unsigned char)(n & 0xFFU);
  iov[0].iov_base = hdr;
  iov[0].iov_len = 2;
  iov[1].iov_base = p;
  iov[1].iov_len = n;
  while (cnt > 0) {
    struct msghdr m;
    ssize_t k;
    int w = wait_io(s, fd, POLLOUT, -1);
    if (w != IO_OK) return w;
    memset(&m, 0, sizeof m);
    m.msg_iov = v;
    m.msg_iovlen = (size_t)cnt;
    k = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return IO_CLOSED;
    }
    while (cnt > 0 && (size_t)k >= v->iov_len) {
      k -= (ssize_t)v->iov_len;
      v++;
      cnt--;
    }
    if (cnt > 0) {
      v->iov_base = (char *)v->iov_base + k;
      v->iov_len -= (size_t)k;
    }
  }
  return IO_OK;
}

/* The card is gone: forget it (pcscd's calls for this slot only). */
static void drop_card(vr_slot *s) {
  int fd;
  (void)pthread_mutex_lock(&s->lock);
  fd = s->card_fd;
  s->card_fd = -1;
  (void)pthread_mutex_unlock(&s->lock);
  s->atr_len = 0;
  s->powered = 0;
  s->protocol = 0;
  if (fd >= 0) {
    (void)shutdown(fd, SHUT_RDWR); /* wakes a poll on it elsewhere */
    (void)close(fd);
  }
  poke(s->wake[1]);
}

static RESPONSECODE io_failure(vr_slot *s, int w) {
  drop_card(s);
  if (w == IO_ABORTED && is_unplugged(s)) return IFD_NO_SUCH_DEVICE;
  return IFD_COMMUNICATION_ERROR;
}

/* Sends one frame; with reply, reads the card's answer into s->frame
 * (*rlen bytes).  A broken exchange drops the card. */
static RESPONSECODE exchange(vr_slot *s, unsigned char *cmd, size_t n,
                             size_t *rlen, double wait_ms) {
  unsigned char hdr[2];
  double deadline = wait_ms >= 0 ? now_ms() + wait_ms : -1.0;
  int w, fd = s->card_fd;
  size_t len;
  if (fd < 0) return IFD_ICC_NOT_PRESENT;
  w = write_frame(s, fd, cmd, n);
  if (w == IO_OK && rlen == NULL) return IFD_SUCCESS;
  if (w == IO_OK) w = read_full(s, fd, hdr, 2, deadline);
  if (w != IO_OK) return io_failure(s, w);
  len = ((size_t)hdr[0] << 8) | hdr[1];
  w = read_full(s, fd, s->frame, len, deadline);
  if (w != IO_OK) return io_failure(s, w);
  *rlen = len;
  return IFD_SUCCESS;
}

static int card_alive(int fd) {
  unsigned char b;
  ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  /* 0: closed; data: a card talking unasked is broken */
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

/* A card waiting to be inserted becomes the slot's card. */
static void try_accept(vr_slot *s) {
  int one = 1;
  int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!card_alive(fd)) {
    (void)close(fd);
    return;
  }
  (void)pthread_mutex_lock(&s->lock);
  s->card_fd = fd;
  (void)pthread_mutex_unlock(&s->lock);
  s->atr_len = 0;
  s->powered = 0;
  s->protocol = 0;
}

static int listen_on(const char *host, unsigned port) {
  struct addrinfo hints, *res = NULL, *ai;
  char pbuf[16];
  int fd = -1;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  (void)snprintf(pbuf, sizeof pbuf, "%u", port);
  if (getaddrinfo(host, pbuf, &hints, &res) != 0) return -1;
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    int one = 1;
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                ai->ai_protocol);
    if (fd < 0) continue;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4) == 0) break;
    close_fd(&fd);
  }
  freeaddrinfo(res);
  return fd;
}

/* ------------------------------------------------------- attributes */

static int attr_index(unsigned long id) {
  int i;
  for (i = 0; i < vr_attr_count; i++)
    if (vr_attrs[i].id == id) return i;
  return -1;
}

static void put_le32(unsigned char *p, unsigned long v) {
  p[0] = (unsigned char)(v & 0xFFU);
  p[1] = (unsigned char)((v >> 8) & 0xFFU);
  p[2] = (unsigned char)((v >> 16) & 0xFFU);
  p[3] = (unsigned char)((v >> 24) & 0xFFU);
}

/* The default of a text or number attribute. */
static void attr_default(const vr_slot *s, unsigned long id, vr_value *v) {
  const vr_config *c = &s->reader->cfg;
  unsigned addr = c->port + s->index;
  v->state = VR_SET;
  switch (id) {
    case SCARD_ATTR_VENDOR_NAME:
      (void)snprintf(v->text, sizeof v->text, "iscard");
      break;
    case SCARD_ATTR_VENDOR_IFD_TYPE:
      (void)snprintf(v->text, sizeof v->text, "%s",
                     c->pinpad ? "Virtual PIN Pad Reader" : "Virtual Reader");
      break;
    case SCARD_ATTR_VENDOR_IFD_SERIAL_NO:
      (void)snprintf(v->text, sizeof v->text, "vreader-%u", addr);
      break;
    case SCARD_ATTR_VENDOR_IFD_VERSION: v->number = 0x01000000UL; break;
    /* data channel type F000 (vendor defined: TCP), channel: the port */
    case SCARD_ATTR_CHANNEL_ID: v->number = 0xF0000000UL | addr; break;
    /* ISO 7816-3's defaults, and no faster mode: 4 MHz, 372 clocks a bit */
    case SCARD_ATTR_DEFAULT_CLK:
    case SCARD_ATTR_MAX_CLK: v->number = 4000; break;
    case SCARD_ATTR_DEFAULT_DATA_RATE:
    case SCARD_ATTR_MAX_DATA_RATE: v->number = 10752; break;
    case SCARD_ATTR_MAX_IFSD: v->number = 254; break;
    case SCARD_ATTR_MAXINPUT: v->number = VR_FRAME_MAX; break;
    default: v->state = VR_UNSET;
  }
}

/* The bytes of attribute i into out (at least VR_TEXT_MAX + 1 bytes);
 * returns their count, or -1 when the reader does not answer it. */
static int attr_bytes(vr_slot *s, int i, unsigned char *out) {
  const vr_attr_info *a = &vr_attrs[i];
  vr_value v;
  if (a->kind == VR_STATE) {
    switch (a->id) {
      case SCARD_ATTR_ATR_STRING:
        memcpy(out, s->atr, s->atr_len);
        return (int)s->atr_len;
      case SCARD_ATTR_ICC_PRESENCE: out[0] = s->card_fd >= 0 ? 2 : 0; return 1;
      case SCARD_ATTR_ICC_INTERFACE_STATUS:
        out[0] = s->powered ? 1 : 0;
        return 1;
      default: put_le32(out, s->protocol); return 4;
    }
  }
  (void)pthread_mutex_lock(&s->lock);
  v = s->values[i];
  (void)pthread_mutex_unlock(&s->lock);
  if (v.state == VR_DEFAULT) attr_default(s, a->id, &v);
  if (v.state == VR_UNSET) return -1;
  if (a->kind == VR_NUMBER) {
    put_le32(out, v.number);
    return 4;
  }
  memcpy(out, v.text, strlen(v.text) + 1); /* with its NUL, as CCID */
  return (int)strlen(v.text) + 1;
}

static RESPONSECODE give(PDWORD length, PUCHAR value, const void *p, size_t n) {
  if (*length < n || (value == NULL && n > 0)) {
    *length = (DWORD)n;
    return IFD_ERROR_INSUFFICIENT_BUFFER;
  }
  if (n > 0) memcpy(value, p, n);
  *length = (DWORD)n;
  return IFD_SUCCESS;
}

/* ---------------------------------------------------------- polling */

/* pcscd's event thread for the slot waits here until something may have
 * changed: a card connecting (no card), the card's connection ending, or
 * a stop; then it calls IFDHICCPresence. */
static RESPONSECODE vr_poll(DWORD lun, int timeout_ms) {
  vr_slot *s = slot_of(lun);
  struct pollfd p[2];
  nfds_t n = 1;
  int r;
  if (s == NULL) return IFD_COMMUNICATION_ERROR;
  p[0].fd = s->wake[0];
  p[0].events = POLLIN;
  (void)pthread_mutex_lock(&s->lock);
  if (!s->unplugged) {
    p[1].fd = s->card_fd >= 0 ? s->card_fd : s->listen_fd;
    p[1].events = s->card_fd >= 0 ? POLLRDHUP : POLLIN;
    n = 2;
  }
  (void)pthread_mutex_unlock(&s->lock);
  p[0].revents = p[1].revents = 0;
  do {
    r = poll(p, n, timeout_ms < 0 ? -1 : timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (p[0].revents != 0) drain(s->wake[0]);
  return IFD_SUCCESS;
}

static RESPONSECODE vr_stop_poll(DWORD lun) {
  vr_slot *s = slot_of(lun);
  if (s != NULL) poke(s->wake[1]);
  return IFD_SUCCESS;
}

/* ---------------------------------------------------- control socket */

typedef struct {
  int fd;
  size_t have;
  char buf[VR_LINE_MAX + 1];
} vr_client;

static void answer(vr_client *c, const char *text) {
  char line[256];
  int n = snprintf(line, sizeof line, "%s\n", text);
  if (n < 0 || (size_t)n >= sizeof line) n = (int)sizeof line - 1;
  if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n)
    close_fd(&c->fd); /* a client that does not read its answers */
}

static void execute(vr_reader *r, const vr_command *cmd, char *out,
                    size_t size) {
  vr_slot *s = &r->slots[cmd->slot];
  (void)snprintf(out, size, "ok");
  (void)pthread_mutex_lock(&s->lock);
  if (s->unplugged) {
    (void)snprintf(out, size, "error: slot %u is unplugged", cmd->slot);
  } else if (cmd->op == VR_CMD_KEYPAD) {
    if (s->qcount == VR_QUEUE) {
      (void)snprintf(out, size, "error: %d keypad entries wait already",
                     VR_QUEUE);
    } else {
      vr_entry *e = &s->queue[(s->qhead + s->qcount++) % VR_QUEUE];
      e->key = cmd->key;
      e->nwords = cmd->nwords;
      memcpy(e->words, cmd->words, sizeof e->words);
      (void)pthread_cond_broadcast(&s->keys);
    }
  } else if (cmd->op == VR_CMD_ATTR) {
    vr_value *v = &s->values[cmd->attr];
    v->state = cmd->has_value ? VR_SET : VR_UNSET;
    v->number = cmd->number;
    memcpy(v->text, cmd->text, sizeof v->text);
  } else {
    s->unplugged = 1;
    (void)pthread_cond_broadcast(&s->keys);
    poke(s->abort[1]);
    poke(s->wake[1]);
  }
  (void)pthread_mutex_unlock(&s->lock);
}

/* Handles the complete lines in c's buffer. */
static void client_lines(vr_reader *r, vr_client *c) {
  char *nl;
  while (c->fd >= 0 && (nl = memchr(c->buf, '\n', c->have)) != NULL) {
    vr_command cmd;
    char out[200], why[160];
    size_t len = (size_t)(nl - c->buf);
    if (vr_parse_command(c->buf, len, r->cfg.slots, &cmd, why, sizeof why) == 0)
      execute(r, &cmd, out, sizeof out);
    else
      (void)snprintf(out, sizeof out, "error: %s", why);
    answer(c, out);
    c->have -= len + 1;
    memmove(c->buf, nl + 1, c->have);
  }
  if (c->fd >= 0 && c->have == VR_LINE_MAX) {
    answer(c, "error: a line of more than 1024 bytes");
    close_fd(&c->fd);
  }
}

static void client_read(vr_reader *r, vr_client *c) {
  ssize_t n = read(c->fd, c->buf + c->have, VR_LINE_MAX - c->have);
  if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
    close_fd(&c->fd);
    return;
  }
  if (n > 0) c->have += (size_t)n;
  client_lines(r, c);
}

/* Owner-only unless the mode lets the group or others in (the socket
 * file's mode says the same; this also covers the moment between bind
 * and chmod). */
static int peer_allowed(const vr_reader *r, int fd) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
  if (cred.uid == geteuid() || cred.uid == 0) return 1;
  if (r->cfg.control_mode & 0006U) return 1;
  return (r->cfg.control_mode & 0060U) && cred.gid == getegid();
}

static void client_accept(vr_reader *r, vr_client *cl) {
  int i, fd = accept4(r->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  if (!peer_allowed(r, fd)) {
    (void)close(fd);
    return;
  }
  for (i = 0; i < VR_CLIENTS; i++) {
    if (cl[i].fd < 0) {
      cl[i].fd = fd;
      cl[i].have = 0;
      return;
    }
  }
  (void)send(fd, "error: too many control connections\n", 36,
             MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)close(fd);
}

static void *control_main(void *arg) {
  vr_reader *r = (vr_reader *)arg;
  static vr_client none = {-1, 0, {0}};
  vr_client *cl = (vr_client *)malloc(sizeof(vr_client) * VR_CLIENTS);
  int i;
  if (cl == NULL) return NULL;
  for (i = 0; i < VR_CLIENTS; i++) cl[i] = none;
  for (;;) {
    struct pollfd p[2 + VR_CLIENTS];
    p[0].fd = r->ctl_wake[0];
    p[1].fd = r->ctl_fd;
    for (i = 0; i < 2 + VR_CLIENTS; i++) {
      if (i >= 2) p[i].fd = cl[i - 2].fd;
      p[i].events = POLLIN;
      p[i].revents = 0;
    }
    if (poll(p, 2 + VR_CLIENTS, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents != 0) break;
    if (p[1].revents != 0) client_accept(r, cl);
    for (i = 0; i < VR_CLIENTS; i++)
      if (cl[i].fd >= 0 && p[2 + i].revents != 0) client_read(r, &cl[i]);
  }
  for (i = 0; i < VR_CLIENTS; i++) close_fd(&cl[i].fd);
  free(cl);
  return NULL;
}

static int control_open(vr_reader *r) {
  struct sockaddr_un a;
  struct stat st;
  const char *path = r->cfg.control;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path, path, strlen(path) + 1); /* fits: checked by config */
  if (lstat(path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      VR_LOG(PCSC_LOG_CRITICAL, "control=%s exists and is no socket", path);
      return -1;
    }
    (void)unlink(path); /* a socket left by an earlier pcscd */
  }
  r->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (r->ctl_fd < 0 || bind(r->ctl_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      chmod(path, (mode_t)r->cfg.control_mode) != 0 ||
      listen(r->ctl_fd, VR_CLIENTS) != 0 || make_pipe(r->ctl_wake) != 0) {
    VR_LOG(PCSC_LOG_CRITICAL, "control=%s: %s", path, strerror(errno));
    return -1;
  }
  if (pthread_create(&r->ctl_thread, NULL, control_main, r) != 0) return -1;
  r->ctl_running = 1;
  return 0;
}

/* -------------------------------------------------- reader lifecycle */

static void reader_free(vr_reader *r) {
  unsigned i;
  if (r->ctl_running) {
    poke(r->ctl_wake[1]);
    (void)pthread_join(r->ctl_thread, NULL);
  }
  if (r->ctl_fd >= 0) {
    close_fd(&r->ctl_fd);
    (void)unlink(r->cfg.control);
  }
  close_fd(&r->ctl_wake[0]);
  close_fd(&r->ctl_wake[1]);
  for (i = 0; i < r->cfg.slots; i++) {
    vr_slot *s = &r->slots[i];
    close_fd(&s->card_fd);
    close_fd(&s->listen_fd);
    close_fd(&s->wake[0]);
    close_fd(&s->wake[1]);
    close_fd(&s->abort[0]);
    close_fd(&s->abort[1]);
    if (s->locks) {
      (void)pthread_mutex_destroy(&s->lock);
      (void)pthread_cond_destroy(&s->keys);
    }
    free(s->frame);
  }
  free(r);
}

static int slot_init(vr_reader *r, unsigned i) {
  vr_slot *s = &r->slots[i];
  pthread_condattr_t ca;
  s->reader = r;
  s->index = i;
  if (make_pipe(s->wake) != 0 || make_pipe(s->abort) != 0) return -1;
  s->frame = (unsigned char *)malloc(VR_FRAME_MAX);
  if (s->frame == NULL) return -1;
  if (pthread_condattr_init(&ca) != 0) return -1;
  (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  if (pthread_mutex_init(&s->lock, NULL) != 0) return -1;
  if (pthread_cond_init(&s->keys, &ca) != 0) {
    (void)pthread_mutex_destroy(&s->lock);
    return -1;
  }
  (void)pthread_condattr_destroy(&ca);
  s->locks = 1;
  s->listen_fd = listen_on(r->cfg.host, r->cfg.port + i);
  if (s->listen_fd < 0) {
    VR_LOG(PCSC_LOG_CRITICAL, "cannot listen on %s:%u: %s", r->cfg.host,
           r->cfg.port + i, strerror(errno));
    return -1;
  }
  return 0;
}

/* pcscd opens each slot of a reader: slot 0 makes the reader, the others
 * join it (DEVICENAME is the same for all). */
static RESPONSECODE slot_open(DWORD lun) {
  RESPONSECODE rc = IFD_COMMUNICATION_ERROR;
  unsigned i;
  (void)pthread_mutex_lock(&registry_lock);
  for (i = 0; i < VR_MAX_READERS; i++) {
    vr_reader *r = registry[i];
    if (r != NULL && r->base == (lun >> 16) && (lun & 0xFFFFU) < r->cfg.slots &&
        r->slots[lun & 0xFFFFU].closed == 0) {
      r->open_slots++;
      rc = IFD_SUCCESS;
    }
  }
  (void)pthread_mutex_unlock(&registry_lock);
  return rc;
}

static RESPONSECODE reader_open(DWORD lun, const char *device) {
  vr_reader *r;
  unsigned i;
  int free_at = -1;
  if ((lun & 0xFFFFU) != 0) return slot_open(lun);
  r = (vr_reader *)calloc(1, sizeof(vr_reader));
  if (r == NULL) return IFD_COMMUNICATION_ERROR;
  r->base = lun >> 16;
  r->ctl_fd = r->ctl_wake[0] = r->ctl_wake[1] = -1;
  for (i = 0; i < VR_MAX_SLOTS; i++) {
    vr_slot *s = &r->slots[i];
    s->listen_fd = s->card_fd = -1;
    s->wake[0] = s->wake[1] = s->abort[0] = s->abort[1] = -1;
  }
  if (parse_config(device, &r->cfg) != 0) {
    r->cfg.slots = 0;
    reader_free(r);
    return IFD_COMMUNICATION_ERROR;
  }
  for (i = 0; i < r->cfg.slots; i++) {
    if (slot_init(r, i) != 0) {
      reader_free(r);
      return IFD_COMMUNICATION_ERROR;
    }
  }
  if (r->cfg.control[0] != '\0' && control_open(r) != 0) {
    reader_free(r);
    return IFD_COMMUNICATION_ERROR;
  }
  r->open_slots = 1;
  (void)pthread_mutex_lock(&registry_lock);
  for (i = 0; i < VR_MAX_READERS; i++) {
    if (registry[i] != NULL && registry[i]->base == r->base) free_at = -2;
    if (registry[i] == NULL && free_at == -1) free_at = (int)i;
  }
  if (free_at >= 0) registry[free_at] = r;
  (void)pthread_mutex_unlock(&registry_lock);
  if (free_at < 0) {
    VR_LOG(PCSC_LOG_CRITICAL, "reader 0x%lX opened twice, or too many",
           (unsigned long)lun);
    reader_free(r);
    return IFD_COMMUNICATION_ERROR;
  }
  return IFD_SUCCESS;
}

/* ----------------------------------------------------- IFD handler */

RESPONSECODE IFDHCreateChannelByName(DWORD Lun, LPSTR DeviceName) {
  return reader_open(Lun, DeviceName);
}

RESPONSECODE IFDHCreateChannel(DWORD Lun, DWORD Channel) {
  char dev[32];
  if (Channel == 0 || Channel > 65535) return IFD_COMMUNICATION_ERROR;
  (void)snprintf(dev, sizeof dev, "127.0.0.1:%lu", (unsigned long)Channel);
  return reader_open(Lun, dev);
}

RESPONSECODE IFDHCloseChannel(DWORD Lun) {
  vr_slot *s = slot_of(Lun);
  vr_reader *r;
  int last;
  if (s == NULL) return IFD_COMMUNICATION_ERROR;
  r = s->reader;
  poke(s->abort[1]);
  drop_card(s);
  (void)pthread_mutex_lock(&registry_lock);
  s->closed = 1;
  last = --r->open_slots == 0; /* decided under the lock: one frees */
  if (last) {
    unsigned i;
    for (i = 0; i < VR_MAX_READERS; i++)
      if (registry[i] == r) registry[i] = NULL;
  }
  (void)pthread_mutex_unlock(&registry_lock);
  if (last) reader_free(r);
  return IFD_SUCCESS;
}

RESPONSECODE IFDHGetCapabilities(DWORD Lun, DWORD Tag, PDWORD Length,
                                 PUCHAR Value) {
  vr_slot *s = slot_of(Lun);
  unsigned char b[VR_TEXT_MAX + 1];
  RESPONSECODE (*poll_fn)(DWORD, int) = vr_poll;
  RESPONSECODE (*stop_fn)(DWORD) = vr_stop_poll;
  if (s == NULL || Length == NULL) return IFD_COMMUNICATION_ERROR;
  switch (Tag) {
    case TAG_IFD_ATR: return give(Length, Value, s->atr, s->atr_len);
    case TAG_IFD_SLOTS_NUMBER:
      b[0] = (unsigned char)s->reader->cfg.slots;
      break;
    case TAG_IFD_SIMULTANEOUS_ACCESS: b[0] = VR_MAX_READERS; break;
    case TAG_IFD_THREAD_SAFE:
    case TAG_IFD_SLOT_THREAD_SAFE:
    case TAG_IFD_DEVICE_REMOVED: b[0] = 1; break;
    case TAG_IFD_POLLING_THREAD_KILLABLE: b[0] = 0; break;
    case TAG_IFD_POLLING_THREAD_WITH_TIMEOUT:
      return give(Length, Value, &poll_fn, sizeof poll_fn);
    case TAG_IFD_STOP_POLLING_THREAD:
      return give(Length, Value, &stop_fn, sizeof stop_fn);
    default: {
      int i = attr_index(Tag), n;
      if (i < 0)
        return IFD_ERROR_TAG; /* *Length untouched: pcscd answers
                                          the reader-name attributes */
      if (is_unplugged(s)) return IFD_NO_SUCH_DEVICE;
      n = attr_bytes(s, i, b);
      if (n < 0) return IFD_ERROR_TAG;
      return give(Length, Value, b, (size_t)n);
    }
  }
  return give(Length, Value, b, 1);
}

/* Value is not const in pcscd's prototype */
RESPONSECODE IFDHSetCapabilities(
    DWORD Lun, DWORD Tag, DWORD Length,
    PUCHAR Value) { /* NOLINT(readability-non-const-parameter) */
  (void)Length;
  (void)Value;
  if (slot_of(Lun) == NULL) return IFD_COMMUNICATION_ERROR;
  if (Tag == TAG_IFD_DEVICE_REMOVED) return IFD_SUCCESS;
  return attr_index(Tag) >= 0 ? IFD_ERROR_VALUE_READ_ONLY : IFD_ERROR_TAG;
}

RESPONSECODE IFDHSetProtocolParameters(DWORD Lun, DWORD Protocol, UCHAR Flags,
                                       UCHAR PTS1, UCHAR PTS2, UCHAR PTS3) {
  vr_slot *s = slot_of(Lun);
  (void)Flags;
  (void)PTS1;
  (void)PTS2;
  (void)PTS3;
  if (s == NULL) return IFD_COMMUNICATION_ERROR;
  if (is_unplugged(s)) return IFD_NO_SUCH_DEVICE;
  if (Protocol != SCARD_PROTOCOL_T0 && Protocol != SCARD_PROTOCOL_T1)
    return IFD_PROTOCOL_NOT_SUPPORTED;
  if (s->card_fd < 0) return IFD_ICC_NOT_PRESENT;
  s->protocol = Protocol;
  return IFD_SUCCESS;
}

RESPONSECODE IFDHPowerICC(DWORD Lun, DWORD Action, PUCHAR Atr,
                          PDWORD AtrLength) {
  vr_slot *s = slot_of(Lun);
  DWORD cap = AtrLength ? *AtrLength : 0;
  unsigned char code;
  size_t n = 0;
  RESPONSECODE rc;
  if (AtrLength != NULL) *AtrLength = 0;
  if (s == NULL) return IFD_COMMUNICATION_ERROR;
  if (is_unplugged(s)) return IFD_NO_SUCH_DEVICE;
  if (Action == IFD_POWER_DOWN)
    code = 0;
  else if (Action == IFD_POWER_UP)
    code = 1;
  else if (Action == IFD_RESET)
    code = 2;
  else
    return IFD_NOT_SUPPORTED;
  s->powered = 0;
  s->protocol = 0;
  if (s->card_fd < 0) return code == 0 ? IFD_SUCCESS : IFD_ICC_NOT_PRESENT;
  rc = exchange(s, &code, 1, NULL, -1);
  if (rc != IFD_SUCCESS || code == 0) return rc;
  code = 4;
  rc = exchange(s, &code, 1, &n, VR_ATR_WAIT_MS);
  if (rc != IFD_SUCCESS) return rc;
  if (n < 1 || n > VR_ATR_MAX) {
    VR_LOG(PCSC_LOG_ERROR, "slot %u: the card sent an ATR of %lu bytes",
           s->index, (unsigned long)n);
    return IFD_ERROR_POWER_ACTION;
  }
  memcpy(s->atr, s->frame, n);
  s->atr_len = n;
  s->powered = 1;
  if (Atr == NULL || AtrLength == NULL || cap < n) return IFD_SUCCESS;
  memcpy(Atr, s->atr, n);
  *AtrLength = (DWORD)n;
  return IFD_SUCCESS;
}

RESPONSECODE IFDHTransmitToICC(DWORD Lun, SCARD_IO_HEADER SendPci,
                               PUCHAR TxBuffer, DWORD TxLength, PUCHAR RxBuffer,
                               PDWORD RxLength, PSCARD_IO_HEADER RecvPci) {
  vr_slot *s = slot_of(Lun);
  DWORD cap = RxLength ? *RxLength : 0;
  size_t n = 0;
  RESPONSECODE rc;
  if (RxLength != NULL) *RxLength = 0;
  if (s == NULL || RxLength == NULL || TxBuffer == NULL || RxBuffer == NULL)
    return IFD_COMMUNICATION_ERROR;
  if (is_unplugged(s)) return IFD_NO_SUCH_DEVICE;
  /* a 1-byte frame would be read as a control code; longer ones do not fit */
  if (TxLength < 2 || TxLength > VR_FRAME_MAX) return IFD_COMMUNICATION_ERROR;
  rc = exchange(s, TxBuffer, TxLength, &n, -1);
  if (rc != IFD_SUCCESS) return rc;
  if (n < 2) return IFD_COMMUNICATION_ERROR; /* no status word */
  if (n > cap) return IFD_ERROR_INSUFFICIENT_BUFFER;
  memcpy(RxBuffer, s->frame, n);
  *RxLength = (DWORD)n;
  if (RecvPci != NULL) RecvPci->Protocol = SendPci.Protocol;
  return IFD_SUCCESS;
}

RESPONSECODE IFDHICCPresence(DWORD Lun) {
  vr_slot *s = slot_of(Lun);
  if (s == NULL) return IFD_COMMUNICATION_ERROR;
  if (is_unplugged(s)) {
    if (s->card_fd >= 0) drop_card(s);
    return IFD_NO_SUCH_DEVICE;
  }
  if (s->card_fd >= 0 && !card_alive(s->card_fd)) drop_card(s);
  if (s->card_fd < 0) try_accept(s);
  return s->card_fd >= 0 ? IFD_ICC_PRESENT : IFD_ICC_NOT_PRESENT;
}

/* ----------------------------------------------------------- PIN pad */

/* Waits up to secs for the next keypad entry: 1 (in *e), 0 none, -1 the
 * slot was unplugged. */
static int take_entry(vr_slot *s, unsigned secs, vr_entry *e) {
  struct timespec dl;
  int got = 0;
  (void)clock_gettime(CLOCK_MONOTONIC, &dl);
  dl.tv_sec += (time_t)secs;
  (void)pthread_mutex_lock(&s->lock);
  while (!s->unplugged && s->qcount == 0)
    if (pthread_cond_timedwait(&s->keys, &s->lock, &dl) == ETIMEDOUT) break;
  if (s->unplugged) {
    got = -1;
  } else if (s->qcount > 0) {
    *e = s->queue[s->qhead];
    s->qhead = (s->qhead + 1) % VR_QUEUE;
    s->qcount--;
    got = 1;
  }
  (void)pthread_mutex_unlock(&s->lock);
  return got;
}

static RESPONSECODE status_word(unsigned sw, PUCHAR rx, DWORD cap,
                                LPDWORD ret) {
  if (cap < 2) return IFD_ERROR_INSUFFICIENT_BUFFER;
  rx[0] = (unsigned char)(sw >> 8);
  rx[1] = (unsigned char)(sw & 0xFFU);
  *ret = 2;
  return IFD_SUCCESS;
}

static RESPONSECODE pin_entry(vr_slot *s, int modify, PUCHAR tx, DWORD txlen,
                              PUCHAR rx, DWORD cap, LPDWORD ret) {
  const vr_config *c = &s->reader->cfg;
  vr_pin_request req;
  vr_entry e;
  const char *why, *words[VR_MAX_WORDS];
  unsigned char apdu[VR_MAX_PIN_APDU];
  size_t n, got = 0;
  int k, built;
  RESPONSECODE rc;
  if (vr_pin_parse(modify, tx, txlen, &req, &why) != 0) {
    VR_LOG(PCSC_LOG_ERROR, "slot %u: PIN structure refused: %s", s->index, why);
    return IFD_NOT_SUPPORTED;
  }
  if (cap < 2) return IFD_ERROR_INSUFFICIENT_BUFFER;
  if (s->card_fd < 0) return IFD_ICC_NOT_PRESENT;
  k = take_entry(s, req.timeout ? req.timeout : c->pin_timeout, &e);
  if (k < 0) return IFD_NO_SUCH_DEVICE;
  if (k == 0 || e.key == VR_KEY_TIMEOUT)
    return status_word(0x6400, rx, cap, ret);
  if (e.key == VR_KEY_CANCEL) return status_word(0x6401, rx, cap, ret);
  for (k = 0; k < e.nwords; k++) words[k] = e.words[k];
  built = vr_pin_build(&req, words, e.nwords, c->min_pin, c->max_pin, apdu, &n);
  if (built == VR_PIN_BAD_LENGTH) return status_word(0x6403, rx, cap, ret);
  if (built == VR_PIN_MISMATCH) return status_word(0x6402, rx, cap, ret);
  if (built != VR_PIN_OK) return status_word(0x6400, rx, cap, ret);
  rc = exchange(s, apdu, n, &got, -1);
  if (rc != IFD_SUCCESS) return rc;
  if (got < 2 || got > cap) return IFD_COMMUNICATION_ERROR;
  memcpy(rx, s->frame, got);
  *ret = (DWORD)got;
  return IFD_SUCCESS;
}

static size_t put_tlv(unsigned char *p, unsigned tag, unsigned long v,
                      unsigned len) {
  unsigned i;
  p[0] = (unsigned char)tag;
  p[1] = (unsigned char)len;
  for (i = 0; i < len; i++) p[2 + i] = (unsigned char)((v >> (8 * i)) & 0xFF);
  return 2 + len;
}

/* FEATURE_GET_TLV_PROPERTIES: tag, length, little-endian value. */
static size_t properties(const vr_config *c, unsigned char *p) {
  size_t n = put_tlv(p, 0x01, c->lcd_layout, 2); /* wLcdLayout */
  if (c->lcd_layout != 0) {
    n += put_tlv(p + n, 0x04, c->lcd_layout & 0xFFU, 2); /* characters */
    n += put_tlv(p + n, 0x05, c->lcd_layout >> 8, 2);    /* lines */
  }
  n += put_tlv(p + n, 0x03, 0, 1); /* bTimeOut2: not told apart */
  if (c->pinpad) {
    n += put_tlv(p + n, 0x06, c->min_pin, 1);
    n += put_tlv(p + n, 0x07, c->max_pin, 1);
    n += put_tlv(p + n, 0x02, c->validation, 1);
  }
  if (c->firmware[0] != '\0') {
    size_t len = strlen(c->firmware);
    p[n] = 0x08;
    p[n + 1] = (unsigned char)len;
    memcpy(p + n + 2, c->firmware, len);
    n += 2 + len;
  }
  n += put_tlv(p + n, 0x09, 0, 1); /* bPPDUSupport: none */
  n += put_tlv(p + n, 0x0B, c->id_vendor, 2);
  n += put_tlv(p + n, 0x0C, c->id_product, 2);
  n += put_tlv(p + n, 0x0A, c->max_apdu, 4);
  return n;
}

/* The feature tag a control code names (3500 + tag, either form), 0 for
 * GET_FEATURE_REQUEST, -1 for none; *windows: which form. */
static int feature_of(DWORD code, int *windows) {
  unsigned long f;
  *windows = 0;
  if (code >= VR_CTL_PCSC(0) && code <= VR_CTL_PCSC(4095)) {
    f = code - VR_CTL_PCSC(0);
  } else if ((code & ~0xFFFCUL) == VR_CTL_WIN(0)) {
    f = (code >> 2) & 0x3FFFUL;
    *windows = 1;
  } else {
    return -1;
  }
  if (f == VR_GET_FEATURE_REQUEST) return 0;
  if (f > VR_FEATURE_BASE && f <= VR_FEATURE_BASE + 0x20)
    return (int)(f - VR_FEATURE_BASE);
  return -1;
}

static const unsigned char pinpad_features[] = {
    FEATURE_VERIFY_PIN_DIRECT, FEATURE_MODIFY_PIN_DIRECT,
    FEATURE_IFD_PIN_PROPERTIES, FEATURE_GET_TLV_PROPERTIES};

static RESPONSECODE features(const vr_config *c, int windows, PUCHAR rx,
                             DWORD cap, LPDWORD ret) {
  unsigned char out[6 * sizeof pinpad_features] = {0};
  size_t i, n = 0, first = c->pinpad ? 0 : 3;
  for (i = first; i < sizeof pinpad_features; i++) {
    unsigned f = VR_FEATURE_BASE + pinpad_features[i];
    unsigned long code = windows ? VR_CTL_WIN(f) : VR_CTL_PCSC(f);
    out[n] = pinpad_features[i];
    out[n + 1] = 4;
    out[n + 2] = (unsigned char)(code >> 24); /* big-endian, as part 10 */
    out[n + 3] = (unsigned char)((code >> 16) & 0xFFU);
    out[n + 4] = (unsigned char)((code >> 8) & 0xFFU);
    out[n + 5] = (unsigned char)(code & 0xFFU);
    n += 6;
  }
  if (cap < n) return IFD_ERROR_INSUFFICIENT_BUFFER;
  memcpy(rx, out, n);
  *ret = (DWORD)n;
  return IFD_SUCCESS;
}

/* cppcheck-suppress funcArgOrderDifferent ; ifdhandler.h also declares v2's */
RESPONSECODE IFDHControl(DWORD Lun, DWORD dwControlCode, PUCHAR TxBuffer,
                         DWORD TxLength, PUCHAR RxBuffer, DWORD RxLength,
                         LPDWORD pdwBytesReturned) {
  vr_slot *s = slot_of(Lun);
  const vr_config *c;
  int windows, f;
  if (pdwBytesReturned == NULL) return IFD_COMMUNICATION_ERROR;
  *pdwBytesReturned = 0;
  /* pcscd always passes its receive buffer; a NULL one is refused outright */
  if (s == NULL || RxBuffer == NULL || (TxBuffer == NULL && TxLength > 0))
    return IFD_COMMUNICATION_ERROR;
  if (is_unplugged(s)) return IFD_NO_SUCH_DEVICE;
  c = &s->reader->cfg;
  f = feature_of(dwControlCode, &windows);
  if (f == 0) return features(c, windows, RxBuffer, RxLength, pdwBytesReturned);
  if (f == FEATURE_GET_TLV_PROPERTIES) {
    unsigned char p[64 + VR_TEXT_MAX];
    size_t n = properties(c, p);
    if (RxLength < n) return IFD_ERROR_INSUFFICIENT_BUFFER;
    memcpy(RxBuffer, p, n);
    *pdwBytesReturned = (DWORD)n;
    return IFD_SUCCESS;
  }
  if (!c->pinpad) return IFD_ERROR_NOT_SUPPORTED;
  if (f == FEATURE_IFD_PIN_PROPERTIES) {
    if (RxLength < 4) return IFD_ERROR_INSUFFICIENT_BUFFER;
    RxBuffer[0] = (unsigned char)(c->lcd_layout & 0xFFU);
    RxBuffer[1] = (unsigned char)(c->lcd_layout >> 8);
    RxBuffer[2] = (unsigned char)c->validation;
    RxBuffer[3] = 0; /* bTimeOut2 */
    *pdwBytesReturned = 4;
    return IFD_SUCCESS;
  }
  if (f == FEATURE_VERIFY_PIN_DIRECT || f == FEATURE_MODIFY_PIN_DIRECT)
    return pin_entry(s, f == FEATURE_MODIFY_PIN_DIRECT, TxBuffer, TxLength,
                     RxBuffer, RxLength, pdwBytesReturned);
  return IFD_ERROR_NOT_SUPPORTED;
}
