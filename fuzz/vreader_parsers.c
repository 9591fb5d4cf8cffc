/*
 * Fuzz target: the virtual reader's two parsers (src/ifd/), which take
 * bytes from pcscd's clients and from the control socket inside pcscd.
 * The first input byte picks one:
 *   0     the rest is a control line (ctl.c) for a reader of (byte 1 % 16)
 *         + 1 slots
 *   1, 2  a PIN_VERIFY (1) or PIN_MODIFY (2) structure of byte 1 bytes
 *         follows (pin.c), then the keypad: bytes cut into up to three
 *         entries at each byte >= 0xF0, each byte a digit (its value % 10)
 * Checked: a parsed command stays in range; a structure that parses gives
 * a command of at most VR_MAX_PIN_APDU bytes whose Lc is its data's
 * length.  The first input also checks two readers' worked examples.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/ifd/ctl.c"
#include "../src/ifd/pin.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
  fprintf(stderr, "vreader_parsers: %s\n", what);
  abort();
}

static void control_line(const uint8_t *d, size_t n) {
  vr_command cmd;
  char why[160];
  unsigned slots = n > 0 ? (unsigned)(d[0] % 16) + 1 : 1;
  if (n > 0) d++, n--;
  if (vr_parse_command((const char *)d, n, slots, &cmd, why, sizeof why) != 0) {
    if (why[0] == '\0' || memchr(why, '\0', sizeof why) == NULL)
      die("an error without its reason");
    return;
  }
  if (cmd.slot >= slots) die("a slot out of range");
  if (cmd.op == VR_CMD_KEYPAD && cmd.key == VR_KEY_DIGITS) {
    int i;
    if (cmd.nwords < 1 || cmd.nwords > VR_MAX_WORDS) die("entries");
    for (i = 0; i < cmd.nwords; i++)
      if (strlen(cmd.words[i]) < 1 || strlen(cmd.words[i]) > VR_MAX_DIGITS)
        die("an entry's length");
  }
  if (cmd.op == VR_CMD_ATTR && (cmd.attr < 0 || cmd.attr >= vr_attr_count ||
                                vr_attrs[cmd.attr].kind == VR_STATE))
    die("an attribute");
}

/* Builds the command for structure s with the entries words. */
static size_t build(int modify, const uint8_t *s, size_t n,
                    const char *const *words, int nwords, unsigned char *out,
                    int *rc) {
  vr_pin_request req;
  const char *why;
  size_t len = 0;
  *rc = -1;
  if (vr_pin_parse(modify, s, n, &req, &why) != 0) return 0;
  *rc = vr_pin_build(&req, words, nwords, 0, 0, out, &len);
  if (*rc == VR_PIN_OK) {
    size_t lc = out[4];
    if (len > VR_MAX_PIN_APDU || len < 5 + lc || len > 6 + lc)
      die("the command's length");
  } else if (len != 0) {
    die("a length for a failure");
  }
  return len;
}

static void pin(int modify, const uint8_t *d, size_t n) {
  char words[VR_MAX_WORDS][VR_MAX_DIGITS + 1];
  const char *w[VR_MAX_WORDS];
  unsigned char out[VR_MAX_PIN_APDU];
  size_t slen, i, k = 0;
  int nw = 1, rc;
  if (n < 1) return;
  slen = d[0] < n - 1 ? d[0] : n - 1;
  for (i = 1 + slen; i < n; i++) {
    if (d[i] >= 0xF0) {
      words[nw - 1][k] = '\0';
      if (nw == VR_MAX_WORDS) break;
      nw++, k = 0;
    } else if (k < VR_MAX_DIGITS) {
      words[nw - 1][k++] = (char)('0' + d[i] % 10);
    }
  }
  words[nw - 1][k] = '\0';
  for (i = 0; i < (size_t)nw; i++) w[i] = words[i];
  (void)build(modify, d + 1, slen, w, nw, out, &rc);
}

/* PIN_VERIFY_STRUCTURE bytes: a header and the template. */
static size_t verify_structure(unsigned char *s, unsigned fmt, unsigned block,
                               unsigned lenfmt, unsigned min, unsigned max,
                               const char *apdu_hex) {
  size_t n = 0, i;
  memset(s, 0, 19);
  s[0] = 5, s[2] = (unsigned char)fmt, s[3] = (unsigned char)block;
  s[4] = (unsigned char)lenfmt, s[5] = (unsigned char)max;
  s[6] = (unsigned char)min, s[7] = 2;
  for (i = 0; apdu_hex[i] && apdu_hex[i + 1]; i += 2) {
    unsigned v;
    if (sscanf(apdu_hex + i, "%2x", &v) != 1) die("hex");
    s[19 + n++] = (unsigned char)v;
  }
  s[15] = (unsigned char)n;
  return 19 + n;
}

/* The worked examples: ISO 9564 format 2, and a reader manual's bit-unit
 * example (BCD at bit 11, a 4-bit length at bit 6). */
static void examples(void) {
  unsigned char s[64], out[VR_MAX_PIN_APDU];
  const char *w[1];
  size_t n;
  int rc;
  static const unsigned char want1[] = {0x00, 0x20, 0x00, 0x01, 0x08,
                                        0x24, 0x12, 0x34, 0xFF, 0xFF,
                                        0xFF, 0xFF, 0xFF};
  static const unsigned char want2[] = {0x00, 0x20, 0x00, 0x01, 0x08,
                                        0x55, 0x62, 0x46, 0x8A, 0x30,
                                        0x30, 0x30, 0x30};
  w[0] = "1234";
  n = verify_structure(s, 0x89, 0x47, 0x04, 4, 12,
                       "002000010820FFFFFFFFFFFFFF");
  if (build(0, s, n, w, 1, out, &rc) != sizeof want1 ||
      memcmp(out, want1, sizeof want1) != 0)
    die("the format 2 example");
  w[0] = "12345";
  n = verify_structure(s, 0x59, 0x48, 0x06, 1, 8, "002000010857A5303030303030");
  if (build(0, s, n, w, 1, out, &rc) != sizeof want2 ||
      memcmp(out, want2, sizeof want2) != 0)
    die("the bit-unit example");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int checked;
  if (!checked) examples(), checked = 1;
  if (size < 1) return 0;
  if (data[0] % 3 == 0)
    control_line(data + 1, size - 1);
  else
    pin(data[0] % 3 == 2, data + 1, size - 1);
  return 0;
}
