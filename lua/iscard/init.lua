--- iscard: smart cards from Lua, with the interface of Windows' ISCard,
-- ISCardCmd and ISCardISO7816, on PC/SC.
--
-- The ISCard object itself is a userdata of the C core (`iscard.core`); this
-- module adds the members that are logic rather than byte moving
-- (`Transaction` with its T=0 handling, options, tracing) to the core's
-- method table, and gathers the public names in one table.
-- @module iscard

local core = require "iscard.core"

local M = {}

--- The seed's constants with their COM values: `EXCLUSIVE`, `SHARED`,
-- `DIRECT`; `LEAVE`, `RESET`, `UNPOWER`, `EJECT`; `T0`, `T1`, `RAW`;
-- `ABSENT` .. `SPECIFICMODE`; `ISO_CASE_1` .. `ISO_CASE_4`.
-- @table constants
for name, value in pairs(core.constants) do M[name] = value end

--- Error names to codes and codes to names (`iscard.errors.SCARD_E_NO_SMARTCARD
-- == 0x8010000C`, `iscard.errors[0x8010000C] == "SCARD_E_NO_SMARTCARD"`).
-- Codes are unsigned 32-bit numbers on every platform.
M.errors = core.errors

--- PC/SC reader-state bits, as used by `iscard.status_change`.
M.reader_states = core.reader_states

--- Largest command or reply APDU PC/SC carries (pcsc-lite's
-- `MAX_BUFFER_SIZE_EXTENDED`).
M.MAX_APDU = core.MAX_APDU

--- Creates an ISCard: one PC/SC context, ready to attach to one card.
-- @function ISCard
-- @return the ISCard, or nil, message, code (`SCARD_E_NO_SERVICE` without pcscd)
M.ISCard = core.ISCard

--- Lists the reader names the resource manager knows.
-- @function readers
-- @param[opt] card an ISCard whose context to use (else a temporary one)
-- @return array of names (empty when there is no reader), or nil, message, code
M.readers = core.readers

--- Waits for reader state changes (SCardGetStatusChange).
-- @function status_change
-- @param card an ISCard whose context to use, or nil for a temporary one
-- @int timeout_ms milliseconds; negative waits forever
-- @tparam table states array of `{reader = name, current = bits}`
-- @return the same array with `event` (state bits) and `atr` filled in, or
--   nil, message, code (`SCARD_E_TIMEOUT` when nothing changed in time)
M.status_change = core.status_change

local RS = core.reader_states

-- Bit tests by arithmetic, not the & operator, so the module also loads on
-- Lua 5.1, 5.2 and LuaJIT. Flags are single bits.
local function has(bits, flag) return math.floor(bits / flag) % 2 == 1 end

--- Waits until a card is present in (or absent from) a reader.
-- @string reader reader name
-- @tparam[opt=true] boolean present wait for presence (true) or absence (false)
-- @int[opt=-1] timeout_ms milliseconds; negative waits forever
-- @return true, or nil, message, code (`SCARD_E_TIMEOUT`, `SCARD_E_UNKNOWN_READER`...)
function M.wait(reader, present, timeout_ms)
  if present == nil then present = true end
  timeout_ms = timeout_ms or -1
  local want = present and RS.PRESENT or RS.EMPTY
  local entry = { reader = reader, current = RS.UNAWARE }
  local ctx, msg, code = core.ISCard()
  if not ctx then return nil, msg, code end
  local ok, emsg, ecode = true, nil, nil
  while true do
    local r
    r, emsg, ecode = core.status_change(ctx, timeout_ms, { entry })
    if not r then ok = nil; break end
    if has(entry.event, RS.UNKNOWN) then
      ok, emsg, ecode = nil, "SCARD_E_UNKNOWN_READER: no reader of that name is known ('"
        .. reader .. "')", M.errors.SCARD_E_UNKNOWN_READER
      break
    end
    if has(entry.event, want) then break end
    -- Echo the whole event state back, counter bits included, or pcsc-lite
    -- reports the same change again at once.
    entry.current = entry.event
    if has(entry.current, RS.CHANGED) then entry.current = entry.current - RS.CHANGED end
  end
  ctx:close()
  return ok, emsg, ecode
end

return M
