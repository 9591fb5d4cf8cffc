/*
 * The one table of iscard's error names and codes, and of its constants.
 *
 * Codes are written as numbers here, not taken from the platform header,
 * because pcsc-lite, WinSCard and PCSC.framework disagree on which names
 * exist and on the width of LONG; the numbers themselves are the same
 * everywhere.  Errors found by the Lua layer rather than by PC/SC
 * (ISCARD_E_*) are listed in lua/iscard/util.lua.
 *
 * Each X-macro user defines E(name, code, text) / C(name, value) first.
 */

#define ISCARD_ERRORS(E) \
  E(SCARD_S_SUCCESS,                0x00000000, "no error") \
  E(SCARD_F_INTERNAL_ERROR,         0x80100001, "internal consistency check failed") \
  E(SCARD_E_CANCELLED,              0x80100002, "the action was cancelled by SCardCancel") \
  E(SCARD_E_INVALID_HANDLE,         0x80100003, "the card handle is not valid (detached or from another process)") \
  E(SCARD_E_INVALID_PARAMETER,      0x80100004, "a parameter could not be interpreted") \
  E(SCARD_E_INVALID_TARGET,         0x80100005, "registry start-up information is missing or invalid") \
  E(SCARD_E_NO_MEMORY,              0x80100006, "not enough memory to complete the command") \
  E(SCARD_F_WAITED_TOO_LONG,        0x80100007, "an internal timer expired") \
  E(SCARD_E_INSUFFICIENT_BUFFER,    0x80100008, "the receive buffer is too small for the answer") \
  E(SCARD_E_UNKNOWN_READER,         0x80100009, "no reader of that name is known") \
  E(SCARD_E_TIMEOUT,                0x8010000A, "the time-out expired") \
  E(SCARD_E_SHARING_VIOLATION,      0x8010000B, "the card is in use by another connection") \
  E(SCARD_E_NO_SMARTCARD,           0x8010000C, "no smart card in the reader") \
  E(SCARD_E_UNKNOWN_CARD,           0x8010000D, "the card name is not known") \
  E(SCARD_E_CANT_DISPOSE,           0x8010000E, "the card cannot be disposed of as asked") \
  E(SCARD_E_PROTO_MISMATCH,         0x8010000F, "the card cannot use the requested protocol") \
  E(SCARD_E_NOT_READY,              0x80100010, "the reader or card is not ready") \
  E(SCARD_E_INVALID_VALUE,          0x80100011, "a parameter value is not valid for this call") \
  E(SCARD_E_SYSTEM_CANCELLED,       0x80100012, "the system cancelled the action") \
  E(SCARD_F_COMM_ERROR,             0x80100013, "internal communication error with the resource manager") \
  E(SCARD_F_UNKNOWN_ERROR,          0x80100014, "internal error of unknown cause") \
  E(SCARD_E_INVALID_ATR,            0x80100015, "the ATR is not valid") \
  E(SCARD_E_NOT_TRANSACTED,         0x80100016, "no lock (transaction) is held on the card") \
  E(SCARD_E_READER_UNAVAILABLE,     0x80100017, "the reader is not available (unplugged?)") \
  E(SCARD_P_SHUTDOWN,               0x80100018, "the operation was aborted by a shutdown") \
  E(SCARD_E_PCI_TOO_SMALL,          0x80100019, "the PCI receive buffer is too small") \
  E(SCARD_E_READER_UNSUPPORTED,     0x8010001A, "the reader driver does not meet requirements") \
  E(SCARD_E_DUPLICATE_READER,       0x8010001B, "a reader of that name already exists") \
  E(SCARD_E_CARD_UNSUPPORTED,       0x8010001C, "the card driver does not meet requirements") \
  E(SCARD_E_NO_SERVICE,             0x8010001D, "the smart card resource manager (pcscd) is not running") \
  E(SCARD_E_SERVICE_STOPPED,        0x8010001E, "the smart card resource manager has shut down") \
  E(SCARD_E_UNSUPPORTED_FEATURE,    0x8010001F, "the reader or resource manager does not support this feature") \
  E(SCARD_E_ICC_INSTALLATION,       0x80100020, "no primary provider for the card") \
  E(SCARD_E_ICC_CREATEORDER,        0x80100021, "the requested creation order is not supported") \
  E(SCARD_E_DIR_NOT_FOUND,          0x80100023, "the directory does not exist on the card") \
  E(SCARD_E_FILE_NOT_FOUND,         0x80100024, "the file does not exist on the card") \
  E(SCARD_E_NO_DIR,                 0x80100025, "the path is not a directory") \
  E(SCARD_E_NO_FILE,                0x80100026, "the path is not a file") \
  E(SCARD_E_NO_ACCESS,              0x80100027, "access to the file is denied") \
  E(SCARD_E_WRITE_TOO_MANY,         0x80100028, "the card has no room for more data") \
  E(SCARD_E_BAD_SEEK,               0x80100029, "error setting the file pointer") \
  E(SCARD_E_INVALID_CHV,            0x8010002A, "the PIN is wrong") \
  E(SCARD_E_UNKNOWN_RES_MNG,        0x8010002B, "unrecognised error from the resource manager") \
  E(SCARD_E_NO_SUCH_CERTIFICATE,    0x8010002C, "the certificate does not exist") \
  E(SCARD_E_CERTIFICATE_UNAVAILABLE,0x8010002D, "the certificate cannot be obtained") \
  E(SCARD_E_NO_READERS_AVAILABLE,   0x8010002E, "no reader is available") \
  E(SCARD_E_COMM_DATA_LOST,         0x8010002F, "communication with the card lost data; retry") \
  E(SCARD_E_NO_KEY_CONTAINER,       0x80100030, "the key container does not exist") \
  E(SCARD_E_SERVER_TOO_BUSY,        0x80100031, "the resource manager is too busy") \
  E(SCARD_W_UNSUPPORTED_CARD,       0x80100065, "the card's ATR conflicts with the reader's configuration") \
  E(SCARD_W_UNRESPONSIVE_CARD,      0x80100066, "the card does not answer a reset") \
  E(SCARD_W_UNPOWERED_CARD,         0x80100067, "the card is not powered") \
  E(SCARD_W_RESET_CARD,             0x80100068, "the card was reset; ReAttach before further use") \
  E(SCARD_W_REMOVED_CARD,           0x80100069, "the card was removed") \
  E(SCARD_W_SECURITY_VIOLATION,     0x8010006A, "access denied: security violation") \
  E(SCARD_W_WRONG_CHV,              0x8010006B, "the PIN was not accepted") \
  E(SCARD_W_CHV_BLOCKED,            0x8010006C, "the PIN retry limit was reached") \
  E(SCARD_W_EOF,                    0x8010006D, "end of the card file reached") \
  E(SCARD_W_CANCELLED_BY_USER,      0x8010006E, "the user cancelled") \
  E(SCARD_W_CARD_NOT_AUTHENTICATED, 0x8010006F, "no PIN was presented to the card")

/* The enumerations of the COM interfaces (README: ISCard), with their COM
 * values, which Lua scripts use; the C core translates them to PC/SC's. */
#define ISCARD_CONSTANTS(C) \
  C(EXCLUSIVE, 1) C(SHARED, 2) C(DIRECT, 3) \
  C(LEAVE, 0) C(RESET, 1) C(UNPOWER, 2) C(EJECT, 3) \
  C(T0, 0x01) C(T1, 0x02) C(RAW, 0xFF) \
  C(ABSENT, 1) C(PRESENT, 2) C(SWALLOWED, 3) C(POWERED, 4) \
  C(NEGOTIABLEMODE, 5) C(SPECIFICMODE, 6) \
  C(ISO_CASE_1, 1) C(ISO_CASE_2, 2) C(ISO_CASE_3, 3) C(ISO_CASE_4, 4)
