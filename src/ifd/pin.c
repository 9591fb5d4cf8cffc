/*
 * The PIN pad's arithmetic: checks PIN_VERIFY_STRUCTURE and
 * PIN_MODIFY_STRUCTURE (PC/SC part 10) as a CCID reader does, and puts the
 * typed digits into the APDU template by the CCID rules of
 * PC_to_RDR_Secure:
 *
 *   bmFormatString    bit 7 unit of the PIN's position (0 bits, 1 bytes);
 *                     bits 6-3 that position; bit 2 justification (0 left,
 *                     1 right); bits 1-0 coding (0 binary: a byte 0..9 per
 *                     digit, 1 BCD: a nibble per digit, 2 ASCII)
 *   bmPINBlockString  bits 7-4 size in bits of a PIN length field; bits
 *                     3-0 size in bytes of the PIN block (0: as long as
 *                     the PIN, and Lc follows it)
 *   bmPINLengthFormat bit 4 unit of the length field's position; bits 3-0
 *                     that position
 *
 * Positions count from the first byte after Lc (for MODIFY, from the
 * insertion offset of the PIN, in bytes), bit 0 being the most significant
 * bit of that byte.  The digits overwrite the template's bits; the rest of
 * the template (the application's filler) stays.  Pure functions: the
 * fuzz target runs them on any input.
 */
#include <string.h>

#include "vreader.h"

static unsigned long le32(const unsigned char *p) {
  return (unsigned long)p[0] | (unsigned long)p[1] << 8 |
         (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
}

/* Where the template's data is: *data_len bytes after a 5-byte header
 * (none for a 4-byte APDU); *has_le when a short Le follows it. */
static int template_data(const vr_pin_request *r, size_t *data_len, int *has_le,
                         const char **why) {
  size_t lc;
  *has_le = 0;
  *data_len = 0;
  if (r->apdu_len == 4) return 0;
  lc = r->apdu[4];
  if (lc == 0) {
    if (r->apdu_len == 5) return 0; /* Lc 0: no data yet */
    *why = "the APDU template is not a short APDU (Lc 0 and more bytes)";
    return -1;
  }
  if (r->apdu_len != 5 + lc && r->apdu_len != 6 + lc) {
    *why = "the APDU template's Lc does not match its length";
    return -1;
  }
  *data_len = lc;
  *has_le = r->apdu_len == 6 + lc;
  return 0;
}

static unsigned digit_bits(const vr_pin_request *r) {
  return (r->format & 3U) == 1 ? 4U : 8U;
}

/* Bit position of the PIN frame of the block at byte offset base. */
static size_t frame_start(const vr_pin_request *r, unsigned base) {
  size_t unit = (r->format & 0x80U) ? 8 : 1;
  return (size_t)base * 8 + ((r->format >> 3) & 0xFU) * unit;
}

static size_t length_start(const vr_pin_request *r, unsigned base) {
  size_t unit = (r->length_fmt & 0x10U) ? 8 : 1;
  return (size_t)base * 8 + (r->length_fmt & 0xFU) * unit;
}

/* End (bit position) of a fixed-size frame: its size, cut at the end of
 * the data (readers place right-justified PINs against the data's end when
 * the block would run past it). */
static size_t frame_end(const vr_pin_request *r, unsigned base,
                        size_t data_len) {
  size_t end = frame_start(r, base) + (size_t)(r->block & 0xFU) * 8;
  return end < data_len * 8 ? end : data_len * 8;
}

/* Can the block at base hold max_digits and its length field? */
static int check_block(const vr_pin_request *r, unsigned base, size_t data_len,
                       const char **why) {
  size_t start = frame_start(r, base), dbits = digit_bits(r);
  unsigned lbits = r->block >> 4;
  if ((r->block & 0xFU) != 0) {
    size_t end = frame_end(r, base, data_len);
    if (end <= start || (end - start) / dbits < r->max_digits) {
      *why = "the PIN block cannot hold the maximum number of digits";
      return -1;
    }
  } else if (start + r->max_digits * dbits > (size_t)255 * 8) {
    *why = "the PIN would make the command data longer than 255 bytes";
    return -1;
  }
  if (lbits != 0) {
    if (length_start(r, base) + lbits > data_len * 8) {
      *why = "the PIN length field lies outside the command data";
      return -1;
    }
    if (lbits < 16 && r->max_digits >= (1UL << lbits)) {
      *why = "the PIN length field is too small for the maximum length";
      return -1;
    }
  }
  return 0;
}

static int check(const vr_pin_request *r, const char **why) {
  size_t data_len;
  int has_le;
  if ((r->format & 3U) == 3) {
    *why = "bmFormatString: PIN coding 3 is reserved";
    return -1;
  }
  if (template_data(r, &data_len, &has_le, why) != 0) return -1;
  if (r->max_digits == 0 || r->min_digits > r->max_digits) {
    *why = "wPINMaxExtraDigit: minimum above maximum, or maximum 0";
    return -1;
  }
  if (!r->modify) return check_block(r, 0, data_len, why);
  if ((r->block & 0xFU) == 0 && (r->confirm & 2U)) {
    *why = "a variable-length PIN block cannot hold both old and new PIN";
    return -1;
  }
  if ((r->confirm & 2U) && check_block(r, r->offset_old, data_len, why))
    return -1;
  return check_block(r, r->offset_new, data_len, why);
}

int vr_pin_parse(int modify, const unsigned char *in, size_t len,
                 vr_pin_request *req, const char **why) {
  size_t hdr = modify ? VR_MODIFY_HEADER : VR_VERIFY_HEADER;
  unsigned long ul;
  memset(req, 0, sizeof *req);
  if (in == NULL || len < hdr + 4) {
    *why = "the structure is shorter than its header and a 4-byte APDU";
    return -1;
  }
  ul = le32(in + hdr - 4);
  if (ul != (unsigned long)(len - hdr)) {
    *why = "ulDataLength does not match the APDU's length";
    return -1;
  }
  req->modify = modify;
  req->timeout = in[0];
  req->format = in[2];
  req->block = in[3];
  req->length_fmt = in[4];
  if (modify) {
    req->offset_old = in[5];
    req->offset_new = in[6];
    req->max_digits = in[7];
    req->min_digits = in[8];
    req->confirm = in[9];
    req->validation = in[10];
    if (in[11] > 3 && in[11] != 0xFF) {
      *why = "bNumberMessage above 3";
      return -1;
    }
  } else {
    req->max_digits = in[5];
    req->min_digits = in[6];
    req->validation = in[7];
  }
  /* what CCID readers do with a condition they do not know */
  if (req->validation == 0 || req->validation > 7) req->validation = 2;
  req->apdu = in + hdr;
  req->apdu_len = len - hdr;
  return check(req, why);
}

int vr_pin_entries(const vr_pin_request *req) {
  if (!req->modify) return 1;
  return 1 + ((req->confirm & 2U) ? 1 : 0) + ((req->confirm & 1U) ? 1 : 0);
}

/* Writes the nbits low bits of value at bit position pos, most
 * significant first. */
static void put_bits(unsigned char *data, size_t pos, unsigned nbits,
                     unsigned long value) {
  unsigned k;
  for (k = 0; k < nbits; k++) {
    size_t bit = pos + k;
    unsigned char mask = (unsigned char)(0x80U >> (bit % 8));
    if ((value >> (nbits - 1 - k)) & 1UL)
      data[bit / 8] = (unsigned char)(data[bit / 8] | mask);
    else
      data[bit / 8] = (unsigned char)(data[bit / 8] & ~mask);
  }
}

/* Puts one PIN (n digits) into its block at byte offset base; a variable
 * block makes the data grow to hold it (*len, up to 255 bytes). */
static void put_pin(const vr_pin_request *r, unsigned char *data, size_t *len,
                    size_t template_len, unsigned base, const char *digits,
                    size_t n) {
  size_t dbits = digit_bits(r), start = frame_start(r, base), i;
  unsigned coding = r->format & 3U;
  if ((r->block & 0xFU) == 0) {
    size_t need = (start + n * dbits + 7) / 8;
    while (*len < need) data[(*len)++] = 0xFF;
  } else if (r->format & 4U) {
    start = frame_end(r, base, template_len) - n * dbits;
  }
  for (i = 0; i < n; i++) {
    unsigned d = (unsigned)(digits[i] - '0');
    put_bits(data, start + i * dbits, (unsigned)dbits,
             coding == 2 ? (unsigned long)('0' + d) : (unsigned long)d);
  }
  if ((r->block >> 4) != 0)
    put_bits(data, length_start(r, base), r->block >> 4, (unsigned long)n);
}

static int bad_length(size_t n, const vr_pin_request *r, unsigned rmin,
                      unsigned rmax) {
  return n < r->min_digits || n > r->max_digits || n < rmin ||
         (rmax != 0 && n > rmax) || n > VR_MAX_DIGITS;
}

int vr_pin_build(const vr_pin_request *req, const char *const *words,
                 int nwords, unsigned reader_min, unsigned reader_max,
                 unsigned char *out, size_t *out_len) {
  const char *old = NULL, *pin, *again = NULL;
  size_t data_len = 0, len, i;
  int has_le = 0, k = 0;
  const char *why;
  *out_len = 0;
  if (nwords < 1 + ((req->modify && (req->confirm & 2U)) ? 1 : 0))
    return VR_PIN_INCOMPLETE;
  if (req->modify && (req->confirm & 2U)) old = words[k++];
  pin = words[k++];
  if (req->modify && (req->confirm & 1U)) again = k < nwords ? words[k] : pin;
  if ((old && bad_length(strlen(old), req, reader_min, reader_max)) ||
      bad_length(strlen(pin), req, reader_min, reader_max))
    return VR_PIN_BAD_LENGTH;
  if (again && strcmp(again, pin) != 0) return VR_PIN_MISMATCH;
  (void)template_data(req, &data_len, &has_le, &why); /* checked by parse */
  memcpy(out, req->apdu, 4);
  memcpy(out + 5, req->apdu + 5, data_len);
  len = data_len;
  if (old)
    put_pin(req, out + 5, &len, data_len, req->offset_old, old, strlen(old));
  put_pin(req, out + 5, &len, data_len, req->modify ? req->offset_new : 0, pin,
          strlen(pin));
  out[4] = (unsigned char)len;
  i = 5 + len;
  if (has_le) out[i++] = req->apdu[req->apdu_len - 1];
  *out_len = i;
  return VR_PIN_OK;
}
