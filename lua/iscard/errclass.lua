--- Error classes: what a program branches on after a failure, whatever the
-- PC/SC name (`iscard.error_class(code [, card])`).
--
-- Classes: `service_lost` (pcscd is gone or restarted: make a new ISCard),
-- `reader_gone`, `card_removed`, `card_reset` (ReAttach), `sharing` (another
-- connection holds the card), `timeout`, `cancelled`, `malformed_response`
-- (the card's reply broke the protocol), `exchange_failed` (the exchange
-- with the card failed, as right after a removal: check `Status`, then
-- retry or wait for a card), `invalid` (the call cannot succeed as made),
-- `other`.
-- @module iscard.errclass

local core = require "iscard.core"
local util = require "iscard.util"

local M = {}

-- The class of each error name (`classes`). A name in neither this table
-- nor `other` is `other` too, but spec/unit/hostile_calls_spec.lua fails for such
-- a code of `iscard.errors`: a new code gets its class on purpose.
M.classes = {
  -- pcsc-lite reports a lost daemon as any of these, depending on where the
  -- call was when the socket went (see `error_class` for SECURITY_VIOLATION)
  SCARD_E_NO_SERVICE = "service_lost",
  SCARD_E_SERVICE_STOPPED = "service_lost",
  SCARD_F_COMM_ERROR = "service_lost",
  SCARD_P_SHUTDOWN = "service_lost",
  SCARD_W_SECURITY_VIOLATION = "service_lost",
  SCARD_E_UNKNOWN_READER = "reader_gone",
  SCARD_E_READER_UNAVAILABLE = "reader_gone",
  SCARD_E_NO_READERS_AVAILABLE = "reader_gone",
  SCARD_W_REMOVED_CARD = "card_removed",
  SCARD_E_NO_SMARTCARD = "card_removed",
  SCARD_W_RESET_CARD = "card_reset",
  SCARD_E_SHARING_VIOLATION = "sharing",
  SCARD_E_TIMEOUT = "timeout",
  SCARD_F_WAITED_TOO_LONG = "timeout",
  SCARD_E_CANCELLED = "cancelled",
  SCARD_E_SYSTEM_CANCELLED = "cancelled",
  SCARD_W_CANCELLED_BY_USER = "cancelled",
  ISCARD_E_MALFORMED_RESPONSE = "malformed_response",
  ISCARD_E_CHAIN_TOO_LONG = "malformed_response", -- endless 61xx/6Cxx
  -- pcsc-lite's answer when the driver reports an error for an exchange:
  -- most often a card just pulled, before pcscd's poll sees it go
  SCARD_E_NOT_TRANSACTED = "exchange_failed",
  SCARD_E_INVALID_HANDLE = "invalid",
  SCARD_E_INVALID_PARAMETER = "invalid",
  SCARD_E_INVALID_VALUE = "invalid",
  SCARD_E_INVALID_TARGET = "invalid",
  SCARD_E_INSUFFICIENT_BUFFER = "invalid",
  SCARD_E_PCI_TOO_SMALL = "invalid",
  SCARD_E_UNSUPPORTED_FEATURE = "invalid",
  SCARD_E_PROTO_MISMATCH = "invalid",
  ISCARD_E_NAD_UNSUPPORTED = "invalid",
  ISCARD_E_FORKED = "invalid", -- made in another process: create it after fork
}

-- Names that are `other` on purpose: card answers (a status word, a PIN
-- refused), card or driver trouble a program cannot branch on usefully, and
-- Windows-only codes.
M.other = {}
for _, name in ipairs({
  "SCARD_S_SUCCESS", "SCARD_F_INTERNAL_ERROR", "SCARD_E_NO_MEMORY", "SCARD_E_UNKNOWN_CARD",
  "SCARD_E_CANT_DISPOSE", "SCARD_E_NOT_READY", "SCARD_F_UNKNOWN_ERROR", "SCARD_E_INVALID_ATR",
  "SCARD_E_READER_UNSUPPORTED", "SCARD_E_DUPLICATE_READER", "SCARD_E_CARD_UNSUPPORTED",
  "SCARD_E_ICC_INSTALLATION", "SCARD_E_ICC_CREATEORDER", "SCARD_E_DIR_NOT_FOUND",
  "SCARD_E_FILE_NOT_FOUND", "SCARD_E_NO_DIR", "SCARD_E_NO_FILE", "SCARD_E_NO_ACCESS",
  "SCARD_E_WRITE_TOO_MANY", "SCARD_E_BAD_SEEK", "SCARD_E_INVALID_CHV", "SCARD_E_UNKNOWN_RES_MNG",
  "SCARD_E_NO_SUCH_CERTIFICATE", "SCARD_E_CERTIFICATE_UNAVAILABLE", "SCARD_E_COMM_DATA_LOST",
  "SCARD_E_NO_KEY_CONTAINER", "SCARD_E_SERVER_TOO_BUSY", "SCARD_W_UNSUPPORTED_CARD",
  "SCARD_W_UNRESPONSIVE_CARD", "SCARD_W_UNPOWERED_CARD", "SCARD_W_WRONG_CHV",
  "SCARD_W_CHV_BLOCKED", "SCARD_W_EOF", "SCARD_W_CARD_NOT_AUTHENTICATED",
  "ISCARD_E_CHAINING_ABORTED", "ISCARD_E_CARD_STATUS",
}) do M.other[name] = true end

-- code -> name, PC/SC's and ours
local names = require "iscard.errors"

--- The class of an error code.
--
-- pcsc-lite's client returns SCARD_W_SECURITY_VIOLATION in one place only:
-- when pcscd reset the socket under a call (pcscd killed, or refusing the
-- client). The connection is gone either way, so without `card` the class
-- is `service_lost`. With `card` (the ISCard the call failed on) the
-- context is asked (SCardListReaders): `service_lost` when it fails with a
-- service-lost code, `other` when pcscd answers -- a real refusal, as on
-- platforms where the code means more. The same question settles
-- SCARD_E_INVALID_HANDLE, which pcsc-lite also gives for a handle of a
-- daemon that restarted: `service_lost` if the context is dead, else
-- `invalid`.
-- @param code the third result of a failed call (a number); a name works too
-- @param[opt] card the ISCard the call was made on
-- @treturn string the class
-- @raise when code is neither a number nor a string
function M.classify(code, card)
  local t = type(code)
  if t ~= "number" and t ~= "string" then
    util.misuse("error_class: error code (number) expected, got %s", util.describe(code))
  end
  local name = t == "string" and code or names[code]
  local class = M.classes[name] or "other"
  if card ~= nil and (name == "SCARD_W_SECURITY_VIOLATION" or name == "SCARD_E_INVALID_HANDLE") then
    local ok, list, _, pcode = pcall(core.readers, card)
    if ok and list then
      return name == "SCARD_E_INVALID_HANDLE" and "invalid" or "other"
    end
    -- a closed ISCard (readers raises) has no context to ask: as without one
    if ok then return M.classes[names[pcode]] == "service_lost" and "service_lost" or class end
  end
  return class
end

return M
