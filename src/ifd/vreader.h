/*
 * The virtual reader (libifd-iscard.so): what its parts share.
 *
 * The driver (ifd_iscard.c) is the pcscd side; the two parsers below are
 * pure functions of their input, kept apart so that a fuzz target
 * (fuzz/vreader_parsers.c) can run them without pcscd:
 *   pin.c  checks a PIN_VERIFY / PIN_MODIFY structure as a CCID reader does
 *          and builds the APDU with the digits typed on the keypad;
 *   ctl.c  reads one line of the control socket into a command.
 */
#ifndef ISCARD_VREADER_H
#define ISCARD_VREADER_H

#include <stddef.h>

#define VR_MAX_SLOTS 16
#define VR_MAX_DIGITS 32 /* longest PIN the keypad types */
#define VR_MAX_WORDS 3   /* old PIN, new PIN, confirmation */
#define VR_LINE_MAX 1024 /* longest control line, newline excluded */
#define VR_TEXT_MAX 127  /* longest text attribute, NUL excluded */
#define VR_MAX_PIN_APDU (5 + 255 + 1)

/* ------------------------------------------------------------ PIN pad */

/* The fields of PIN_VERIFY_STRUCTURE / PIN_MODIFY_STRUCTURE the reader
 * acts on (PC/SC part 10; multi-byte fields little-endian). */
typedef struct {
  int modify;
  unsigned timeout;    /* bTimerOut, seconds; 0: the reader's default */
  unsigned format;     /* bmFormatString */
  unsigned block;      /* bmPINBlockString */
  unsigned length_fmt; /* bmPINLengthFormat */
  unsigned offset_old; /* bInsertionOffsetOld (modify), bytes */
  unsigned offset_new; /* bInsertionOffsetNew (modify), bytes */
  unsigned max_digits; /* wPINMaxExtraDigit, low byte */
  unsigned min_digits; /* wPINMaxExtraDigit, high byte */
  unsigned confirm;    /* bConfirmPIN (modify): bit 0 confirm, bit 1 old */
  unsigned validation; /* bEntryValidationCondition, as corrected */
  const unsigned char *apdu; /* the template, inside the caller's input */
  size_t apdu_len;
} vr_pin_request;

#define VR_VERIFY_HEADER 19
#define VR_MODIFY_HEADER 24

/* Checks a structure of len bytes; fills req (pointing into in).  Returns 0,
 * or -1 with *why set (the reader refuses: IFD_NOT_SUPPORTED). */
int vr_pin_parse(int modify, const unsigned char *in, size_t len,
                 vr_pin_request *req, const char **why);

/* Entries the user must type for req: 1 (verify), or for modify 1..3
 * (old PIN when asked, new PIN, confirmation when asked). */
int vr_pin_entries(const vr_pin_request *req);

/* The outcome of building the APDU from the typed digits. */
enum {
  VR_PIN_OK = 0,
  VR_PIN_BAD_LENGTH = 1, /* a PIN outside min..max digits: SW 6403 */
  VR_PIN_MISMATCH = 2,   /* the confirmation differs: SW 6402 */
  VR_PIN_INCOMPLETE = 3  /* fewer entries typed than asked: SW 6400 */
};

/* Builds the command into out (at least VR_MAX_PIN_APDU bytes): words are
 * the typed entries (digits '0'..'9'), nwords of them, in the order the
 * reader asks (old when asked, new, confirmation when asked); a missing
 * confirmation is the new PIN again.  reader_min/reader_max: the reader's
 * own limits (bMinPINSize/bMaxPINSize).  Returns VR_PIN_* and *out_len. */
int vr_pin_build(const vr_pin_request *req, const char *const *words,
                 int nwords, unsigned reader_min, unsigned reader_max,
                 unsigned char *out, size_t *out_len);

/* ------------------------------------------------------- attributes */

enum { VR_TEXT, VR_NUMBER, VR_STATE };

typedef struct {
  const char *name; /* without SCARD_ATTR_ */
  unsigned long id; /* class << 16 | tag */
  int kind;         /* VR_TEXT, VR_NUMBER (4 bytes LE), VR_STATE (the
                         card's: not settable) */
} vr_attr_info;

extern const vr_attr_info vr_attrs[];
extern const int vr_attr_count;

/* ----------------------------------------------------- control socket */

enum { VR_CMD_KEYPAD, VR_CMD_ATTR, VR_CMD_UNPLUG };
enum { VR_KEY_DIGITS, VR_KEY_TIMEOUT, VR_KEY_CANCEL };

typedef struct {
  int op;
  unsigned slot;
  /* keypad */
  int key;
  int nwords;
  char words[VR_MAX_WORDS][VR_MAX_DIGITS + 1];
  /* attr */
  int attr;      /* index into vr_attrs */
  int has_value; /* 0: unset the attribute (the driver answers no tag) */
  unsigned long number;
  char text[VR_TEXT_MAX + 1];
} vr_command;

/* Reads one line (len bytes, no newline) for a reader of nslots slots.
 * Returns 0, or -1 with the reason in why (NUL-terminated). */
int vr_parse_command(const char *line, size_t len, unsigned nslots,
                     vr_command *cmd, char *why, size_t why_size);

#endif
