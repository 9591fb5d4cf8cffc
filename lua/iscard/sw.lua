--- Status words (SW1 SW2) made readable, after ISO/IEC 7816-4.
--
-- A status word other than 9000 is not a failure of `Transaction`; these
-- helpers turn it into text, and, when the caller opts in, into an error.
-- @module iscard.sw

local util = require "iscard.util"
local cmd = require "iscard.cmd"

local format = string.format
local misuse = util.misuse -- raises at the line of the user's program

local M = {}

local function count256(x) return x == 0 and "256 or more" or tostring(x) end

--- Meanings, one entry per fact. Keys: exact `"6A82"`; `"63Cx"` (low nibble
-- is a parameter); `"61xx"` (SW2 is a parameter or not specified). A function
-- receives the parameter (SW2, or its low nibble) and returns the text.
-- @table meanings
M.meanings = {
  ["9000"] = "success",
  ["61xx"] = function(x) return count256(x) .. " response bytes still available (GET RESPONSE)" end,
  ["62xx"] = "warning: state of non-volatile memory unchanged",
  ["6200"] = "warning: no information given, non-volatile memory unchanged",
  ["6281"] = "warning: part of returned data may be corrupted",
  ["6282"] = "warning: end of file or record reached before reading Ne bytes",
  ["6283"] = "warning: selected file deactivated",
  ["6284"] = "warning: file control information not formatted according to ISO 7816-4",
  ["6285"] = "warning: selected file in termination state",
  ["6286"] = "warning: no input data available from a sensor on the card",
  ["63xx"] = "warning: state of non-volatile memory changed",
  ["6300"] = "warning: no information given, non-volatile memory changed",
  ["6381"] = "warning: file filled up by the last write",
  ["63Cx"] = function(x) return format("warning: counter is %d (verification failed, %d tries left)", x, x) end,
  ["64xx"] = "execution error: state of non-volatile memory unchanged",
  ["6401"] = "execution error: immediate response required by the card",
  ["65xx"] = "execution error: state of non-volatile memory changed",
  ["6581"] = "execution error: memory failure",
  ["66xx"] = "execution error: security-related issue",
  ["67xx"] = "checking error: wrong length",
  ["6700"] = "checking error: wrong length (Lc or Le)",
  ["68xx"] = "checking error: functions in CLA not supported",
  ["6881"] = "checking error: logical channel not supported",
  ["6882"] = "checking error: secure messaging not supported",
  ["6883"] = "checking error: last command of the chain expected",
  ["6884"] = "checking error: command chaining not supported",
  ["69xx"] = "checking error: command not allowed",
  ["6981"] = "checking error: command incompatible with file structure",
  ["6982"] = "checking error: security status not satisfied",
  ["6983"] = "checking error: authentication method blocked",
  ["6984"] = "checking error: reference data not usable",
  ["6985"] = "checking error: conditions of use not satisfied",
  ["6986"] = "checking error: command not allowed (no current EF)",
  ["6987"] = "checking error: expected secure messaging data objects missing",
  ["6988"] = "checking error: incorrect secure messaging data objects",
  ["6Axx"] = "checking error: wrong parameters P1-P2",
  ["6A80"] = "checking error: incorrect parameters in the command data field",
  ["6A81"] = "checking error: function not supported",
  ["6A82"] = "checking error: file or application not found",
  ["6A83"] = "checking error: record not found",
  ["6A84"] = "checking error: not enough memory space in the file",
  ["6A85"] = "checking error: Nc inconsistent with TLV structure",
  ["6A86"] = "checking error: incorrect parameters P1-P2",
  ["6A87"] = "checking error: Nc inconsistent with parameters P1-P2",
  ["6A88"] = "checking error: referenced data or reference data not found",
  ["6A89"] = "checking error: file already exists",
  ["6A8A"] = "checking error: DF name already exists",
  ["6Bxx"] = "checking error: wrong parameters P1-P2",
  ["6Cxx"] = function(x) return format("checking error: wrong Le field, %d bytes available", x == 0 and 256 or x) end,
  ["6Dxx"] = "checking error: instruction code not supported or invalid",
  ["6Exx"] = "checking error: class not supported",
  ["6Fxx"] = "checking error: no precise diagnosis",
  ["9xxx"] = "application-specific status",
}

-- The status word `x` stands for; `what` names the function called.
local function to_sw(x, what)
  if type(x) == "number" then return util.int(x, what, 0, 0xFFFF) end
  if cmd.is(x) then return x.ReplyStatus end -- nil while it has no reply
  misuse("%s: status word (integer) or iscard.ISCardCmd expected, got %s", what, util.describe(x))
end

--- Meaning of a status word, without the hex prefix.
-- @tparam integer sw SW1*256+SW2
-- @treturn string
function M.meaning(sw)
  sw = util.int(sw, "sw.meaning", 0, 0xFFFF)
  local t = M.meanings
  local h = format("%04X", sw)
  local m, arg = t[h], nil
  if m == nil then m, arg = t[h:sub(1, 3) .. "x"], sw % 0x10 end
  if m == nil then m, arg = t[h:sub(1, 2) .. "xx"], sw % 0x100 end
  if m == nil then m, arg = t[h:sub(1, 1) .. "xxx"], nil end
  if m == nil then return "unknown status word" end
  if type(m) == "function" then return m(arg) end
  return m
end

--- `"6A82: checking error: file or application not found"`.
-- @tparam integer|iscard.ISCardCmd x a status word, or a command whose
--   ReplyStatus is used
-- @treturn string ("no reply" when the command has none)
function M.text(x)
  local sw = to_sw(x, "sw.text")
  if sw == nil then return "no reply" end
  return format("%04X: %s", sw, M.meaning(sw))
end

--- Class of a status word, from SW1: "success" (9000, 61xx), "warning"
-- (62xx, 63xx), "error" (64xx..6Fxx) or "other" (everything else, such as
-- proprietary 9xxx).
-- @tparam integer sw
-- @treturn string
function M.kind(sw)
  sw = util.int(sw, "sw.kind", 0, 0xFFFF)
  local sw1 = (sw - sw % 256) / 256
  if sw == 0x9000 or sw1 == 0x61 then return "success" end
  if sw1 == 0x62 or sw1 == 0x63 then return "warning" end
  if sw1 >= 0x64 and sw1 <= 0x6F then return "error" end
  return "other"
end

--- Opt-in strictness: succeed only on 9000.
-- @tparam integer|iscard.ISCardCmd x a status word, or a command
-- @return[1] `x` itself, so `local c = assert(sw.check(cmd))` chains
-- @return[2] nil
-- @treturn[2] string `"ISCARD_E_CARD_STATUS: 6A82: checking error: ..."`
-- @treturn[2] integer the code of ISCARD_E_CARD_STATUS
function M.check(x)
  local sw = to_sw(x, "sw.check")
  if sw == 0x9000 then return x end
  return util.failure("ISCARD_E_CARD_STATUS", "%s", M.text(sw == nil and x or sw))
end

return M
