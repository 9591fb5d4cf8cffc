/*
 * The control socket's language: one command a line, words separated by
 * spaces or tabs.
 *
 *   keypad SLOT DIGITS             what the next PIN entry on SLOT types
 *   keypad SLOT OLD NEW [CONFIRM]  ... for a MODIFY (the entries in the
 *                                  order the reader asks for them)
 *   keypad SLOT timeout | cancel   the user lets it time out / cancels
 *   attr SLOT NAME [VALUE]         an attribute's value (text: the rest of
 *                                  the line; a number: decimal or 0x hex);
 *                                  no VALUE: the reader does not answer it
 *   unplug SLOT                    the reader is gone (IFD_NO_SUCH_DEVICE)
 *
 * Also the reader attributes the driver answers.  Pure functions of their
 * input: the fuzz target runs them on any bytes.
 */
#include <stdio.h>
#include <string.h>

#include "vreader.h"

/* The ids are reader.h's SCARD_ATTR_VALUE(class, tag); ifd_iscard.c checks
 * them against the header at compile time. */
const vr_attr_info vr_attrs[] = {
    {"VENDOR_NAME", 0x10100UL, VR_TEXT},
    {"VENDOR_IFD_TYPE", 0x10101UL, VR_TEXT},
    {"VENDOR_IFD_VERSION", 0x10102UL, VR_NUMBER},
    {"VENDOR_IFD_SERIAL_NO", 0x10103UL, VR_TEXT},
    {"CHANNEL_ID", 0x20110UL, VR_NUMBER},
    {"DEFAULT_CLK", 0x30121UL, VR_NUMBER},
    {"MAX_CLK", 0x30122UL, VR_NUMBER},
    {"DEFAULT_DATA_RATE", 0x30123UL, VR_NUMBER},
    {"MAX_DATA_RATE", 0x30124UL, VR_NUMBER},
    {"MAX_IFSD", 0x30125UL, VR_NUMBER},
    {"CURRENT_PROTOCOL_TYPE", 0x80201UL, VR_STATE},
    {"ICC_PRESENCE", 0x90300UL, VR_STATE},
    {"ICC_INTERFACE_STATUS", 0x90301UL, VR_STATE},
    {"ATR_STRING", 0x90303UL, VR_STATE},
    {"MAXINPUT", 0x7A007UL, VR_NUMBER},
};
const int vr_attr_count = (int)(sizeof vr_attrs / sizeof vr_attrs[0]);

typedef struct {
  const char *p, *end;
} cursor;

static int is_space(char c) {
  return c == ' ' || c == '\t';
}

static void skip_space(cursor *c) {
  while (c->p < c->end && is_space(*c->p)) c->p++;
}

/* The next word (*n bytes at the returned pointer), or NULL at the end. */
static const char *word(cursor *c, size_t *n) {
  const char *w;
  skip_space(c);
  if (c->p == c->end) return NULL;
  w = c->p;
  while (c->p < c->end && !is_space(*c->p)) c->p++;
  *n = (size_t)(c->p - w);
  return w;
}

static int is(const char *w, size_t n, const char *s) {
  return n == strlen(s) && memcmp(w, s, n) == 0;
}

static int fail(char *why, size_t size, const char *fmt, const char *arg,
                size_t n) {
  char buf[48];
  if (n >= sizeof buf) n = sizeof buf - 1;
  memcpy(buf, arg ? arg : "", arg ? n : 0);
  buf[arg ? n : 0] = '\0';
  if (arg == NULL)
    (void)snprintf(why, size, "%s", fmt);
  else
    (void)snprintf(why, size, fmt, buf);
  return -1;
}

static int all_digits(const char *w, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (w[i] < '0' || w[i] > '9') return 0;
  return n > 0;
}

/* Reads the decimal or 0x-hex number of w (n bytes) into *v, at most
 * 0xFFFFFFFF.  Returns 0, or -1. */
static int number(const char *w, size_t n, unsigned long *v) {
  size_t i = 0;
  unsigned base = 10;
  *v = 0;
  if (n > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X')) base = 16, i = 2;
  if (i == n) return -1;
  for (; i < n; i++) {
    unsigned d;
    char ch = w[i];
    if (ch >= '0' && ch <= '9')
      d = (unsigned)(ch - '0');
    else if (base == 16 && ch >= 'a' && ch <= 'f')
      d = (unsigned)(ch - 'a') + 10;
    else if (base == 16 && ch >= 'A' && ch <= 'F')
      d = (unsigned)(ch - 'A') + 10;
    else
      return -1;
    *v = *v * base + d;
    if (*v > 0xFFFFFFFFUL) return -1;
  }
  return 0;
}

static int slot_word(cursor *c, unsigned nslots, vr_command *cmd, char *why,
                     size_t size) {
  size_t n;
  unsigned long v;
  const char *w = word(c, &n);
  if (w == NULL) return fail(why, size, "a slot number is missing", NULL, 0);
  if (!all_digits(w, n) || n > 5 || number(w, n, &v) != 0 || v >= nslots) {
    (void)snprintf(why, size, "no slot '%.*s' (this reader has 0..%u)",
                   (int)(n > 16 ? 16 : n), w, nslots - 1);
    return -1;
  }
  cmd->slot = (unsigned)v;
  return 0;
}

static int keypad(cursor *c, vr_command *cmd, char *why, size_t size) {
  size_t n;
  const char *w;
  cmd->op = VR_CMD_KEYPAD;
  while ((w = word(c, &n)) != NULL) {
    int timeout = is(w, n, "timeout");
    if (timeout || is(w, n, "cancel")) {
      if (cmd->nwords != 0 || word(c, &n) != NULL)
        return fail(why, size, "timeout and cancel stand alone", NULL, 0);
      cmd->key = timeout ? VR_KEY_TIMEOUT : VR_KEY_CANCEL;
      return 0;
    }
    if (cmd->nwords == VR_MAX_WORDS)
      return fail(why, size, "at most 3 entries (old, new, confirmation)", NULL,
                  0);
    if (!all_digits(w, n))
      return fail(why, size, "'%s' is not digits, timeout or cancel", w, n);
    if (n > VR_MAX_DIGITS)
      return fail(why, size, "a PIN of more than 32 digits", NULL, 0);
    memcpy(cmd->words[cmd->nwords], w, n);
    cmd->words[cmd->nwords][n] = '\0';
    cmd->nwords++;
  }
  if (cmd->nwords == 0)
    return fail(why, size, "keypad: digits, timeout or cancel expected", NULL,
                0);
  cmd->key = VR_KEY_DIGITS;
  return 0;
}

static int find_attr(const char *w, size_t n) {
  int i;
  if (n > 11 && memcmp(w, "SCARD_ATTR_", 11) == 0) w += 11, n -= 11;
  for (i = 0; i < vr_attr_count; i++)
    if (is(w, n, vr_attrs[i].name)) return i;
  return -1;
}

static int attr(cursor *c, vr_command *cmd, char *why, size_t size) {
  size_t n, vlen;
  const char *w = word(c, &n);
  const vr_attr_info *a;
  cmd->op = VR_CMD_ATTR;
  if (w == NULL)
    return fail(why, size, "an attribute name is missing", NULL, 0);
  cmd->attr = find_attr(w, n);
  if (cmd->attr < 0) return fail(why, size, "unknown attribute '%s'", w, n);
  a = &vr_attrs[cmd->attr];
  if (a->kind == VR_STATE)
    return fail(why, size, "%s is the card's state, not settable", a->name,
                strlen(a->name));
  skip_space(c);
  vlen = (size_t)(c->end - c->p);
  if (vlen == 0) return 0; /* unset */
  cmd->has_value = 1;
  if (a->kind == VR_NUMBER) {
    while (vlen > 0 && is_space(c->p[vlen - 1])) vlen--;
    if (number(c->p, vlen, &cmd->number) != 0)
      return fail(why, size, "%s takes a number 0..0xFFFFFFFF", a->name,
                  strlen(a->name));
    return 0;
  }
  if (vlen > VR_TEXT_MAX)
    return fail(why, size, "a text of more than 127 bytes", NULL, 0);
  memcpy(cmd->text, c->p, vlen);
  cmd->text[vlen] = '\0';
  return 0;
}

int vr_parse_command(const char *line, size_t len, unsigned nslots,
                     vr_command *cmd, char *why, size_t why_size) {
  cursor c;
  size_t i, n;
  const char *w;
  memset(cmd, 0, sizeof *cmd);
  if (why_size > 0) why[0] = '\0';
  if (len > 0 && line[len - 1] == '\r') len--; /* a CRLF client */
  for (i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)line[i];
    if ((ch < 0x20 && ch != '\t') || ch == 0x7F)
      return fail(why, why_size, "control characters in the line", NULL, 0);
  }
  c.p = line;
  c.end = line + len;
  w = word(&c, &n);
  if (w == NULL) return fail(why, why_size, "empty command", NULL, 0);
  if (is(w, n, "keypad")) {
    if (slot_word(&c, nslots, cmd, why, why_size) != 0) return -1;
    return keypad(&c, cmd, why, why_size);
  }
  if (is(w, n, "attr")) {
    if (slot_word(&c, nslots, cmd, why, why_size) != 0) return -1;
    return attr(&c, cmd, why, why_size);
  }
  if (is(w, n, "unplug")) {
    cmd->op = VR_CMD_UNPLUG;
    if (slot_word(&c, nslots, cmd, why, why_size) != 0) return -1;
    if (word(&c, &n) != NULL)
      return fail(why, why_size, "unplug takes only a slot", NULL, 0);
    return 0;
  }
  return fail(why, why_size, "unknown command '%s' (keypad, attr, unplug)", w,
              n);
}
