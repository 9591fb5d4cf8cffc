--- ISCardCmd: a command APDU and the reply APDU that came back for it.
--
-- Objects are made by `new()` (exported as `iscard.ISCardCmd()`). Members keep
-- the Windows names; every property is read and written like a field
-- (`cmd.P1 = 0x04`, `print(cmd.ReplyStatus)`), methods are called with `:`.
-- Members whose names start with a lower-case letter are additions of ours.
--
-- Le convention: `nil` = no Le; an integer 1..65536 = Ne, the
-- number of bytes expected; `0` = the Le field of all zeros, "as many as
-- available" (256 short, 65536 extended). The extended form is used whenever
-- Nc > 255 or Ne > 256 (or when a written raw APDU was already extended).
--
-- Misuse (bad type, a byte out of 0..255, a length out of range, a write to a
-- read-only or unknown member, a read of an unknown member) raises an error
-- that points at the caller's line.
-- @classmod iscard.ISCardCmd

local util = require "iscard.util"

local format, char, sbyte, ssub = string.format, string.char, string.byte, string.sub

-- Checks without a call on success: a value that is not in these tables goes
-- to util's check, which raises with the message and level it always had.
local byte_of, int_in = util.byte_of, util.int_in

-- Bytes and 16-bit words by arithmetic (the same on Lua 5.1 .. 5.4 and LuaJIT):
-- the high byte of a word w is (w - w % 256) / 256, the low byte w % 256.

local M = {}

local NAME = "iscard.ISCardCmd"
--- Largest command data field (Nc) of an extended APDU.
M.MAX_NC = 65535
--- Largest number of expected bytes (Ne) of an extended APDU.
M.MAX_NE = 65536

-- State lives outside the object so that every access goes through
-- __index/__newindex (a raw field would bypass the checks).
local states = setmetatable({}, { __mode = "k" })

-- ===========================================================================
-- Encoding and decoding (pure functions, also used by the Transaction engine)

local function iso_case(nc, le)
  if nc == 0 then return le == nil and 1 or 2 end
  return le == nil and 3 or 4
end

local function needs_extended(nc, le)
  return nc > 255 or (le ~= nil and le > 256)
end

-- `ext` forces the extended form (kept from a parsed extended APDU, so that
-- writing Apdu and reading it back gives the same bytes). One string.char and
-- at most one concatenation per APDU.
local function encode(cla, ins, p1, p2, data, le, ext)
  local nc = #data
  if nc == 0 then
    if le == nil then return char(cla, ins, p1, p2) end
    if ext or le > 256 then
      local v = le % 65536 -- 65536 and 0 are both coded 0000
      local lo = v % 256
      return char(cla, ins, p1, p2, 0, (v - lo) / 256, lo)
    end
    return char(cla, ins, p1, p2, le % 256) -- 256 and 0 are both coded 00
  end
  if ext or nc > 255 or (le ~= nil and le > 256) then
    -- the single 00 that marks the extended form, then Lc in two bytes
    local lo = nc % 256
    local head = char(cla, ins, p1, p2, 0, (nc - lo) / 256, lo)
    if le == nil then return head .. data end
    local v = le % 65536
    local vlo = v % 256
    return head .. data .. char((v - vlo) / 256, vlo)
  end
  if le == nil then return char(cla, ins, p1, p2, nc) .. data end
  return char(cla, ins, p1, p2, nc) .. data .. char(le % 256)
end

--- Encode a command APDU from its fields, with the library's Le rules.
-- @tparam integer cla
-- @tparam integer ins
-- @tparam[opt=0] integer p1
-- @tparam[opt=0] integer p2
-- @tparam[opt] string data command data (nil or "" = none), at most 65535 bytes
-- @tparam[opt] integer le nil, 0 or Ne 1..65536
-- @tparam[opt] boolean extended force the extended form (only matters for cases 2-4)
-- @treturn string the APDU
function M.encode(cla, ins, p1, p2, data, le, extended)
  cla = util.byte(cla, "encode: CLA")
  ins = util.byte(ins, "encode: INS")
  p1 = util.byte(p1 == nil and 0 or p1, "encode: P1")
  p2 = util.byte(p2 == nil and 0 or p2, "encode: P2")
  data = util.bytes(data, "encode: data", M.MAX_NC)
  if le ~= nil then le = util.int(le, "encode: Le", 0, M.MAX_NE) end
  local apdu = encode(cla, ins, p1, p2, data, le, extended)
  return apdu
end

-- Decodes a command APDU into cla, ins, p1, p2, data, le, extended; or
-- nil, why. No table: the Apdu setter stores the fields straight away.
local function parse(apdu)
  local n = #apdu
  if n < 4 then
    return nil, format("malformed APDU: %d bytes, a command needs at least CLA INS P1 P2", n)
  end
  local cla, ins, p1, p2, b1 = sbyte(apdu, 1, 5)
  local body = n - 4
  if body == 0 then return cla, ins, p1, p2, "", nil, false end
  if body == 1 then return cla, ins, p1, p2, "", b1, false end -- case 2S; 00 stays 0
  if b1 ~= 0 then
    if body == 1 + b1 then return cla, ins, p1, p2, ssub(apdu, 6), nil, false end
    if body == 2 + b1 then return cla, ins, p1, p2, ssub(apdu, 6, n - 1), sbyte(apdu, n), false end
    return nil, format("malformed APDU: short Lc=%02X needs %d or %d bytes after it, found %d",
      b1, b1, b1 + 1, body - 1)
  end
  if body == 2 then
    return nil, "malformed APDU: 2 body bytes starting with 00 are neither a short nor an extended body"
  end
  local x1, x2 = sbyte(apdu, 6, 7)
  local x = x1 * 256 + x2
  if body == 3 then return cla, ins, p1, p2, "", x, true end -- case 2E; 0000 stays 0
  if x == 0 then
    return nil, format("malformed APDU: extended Lc=0000 with %d more bytes (Lc must be 1..65535)", body - 3)
  end
  if body == 3 + x then return cla, ins, p1, p2, ssub(apdu, 8), nil, true end
  if body == 5 + x then
    local l1, l2 = sbyte(apdu, n - 1, n)
    return cla, ins, p1, p2, ssub(apdu, 8, n - 2), l1 * 256 + l2, true
  end
  return nil, format("malformed APDU: extended Lc=%04X needs %d or %d bytes after it, found %d",
    x, x, x + 2, body - 3)
end

--- Parse a raw command APDU (ISO 7816-3 decoding of the body).
-- @tparam string apdu
-- @treturn[1] table `{cla=, ins=, p1=, p2=, data=, le=, extended=, case=}`;
--   `le` follows the Le convention (a coded 00 / 0000 gives 0)
-- @treturn[2] nil
-- @treturn[2] string why the bytes are not a command APDU
function M.decode(apdu)
  if type(apdu) ~= "string" then
    return nil, "binary string expected, got " .. util.describe(apdu)
  end
  local cla, ins, p1, p2, data, le, ext = parse(apdu)
  if not cla then return nil, ins end
  return { cla = cla, ins = ins, p1 = p1, p2 = p2, data = data, le = le, extended = ext,
           case = iso_case(#data, le) }
end

--- The CLA for transport commands the library makes on its own behalf
-- (GET RESPONSE, ENVELOPE) when AlternateClassId is not set.
-- Inter-industry classes keep only their logical-channel bits: the chaining
-- bit would announce more parts, and the secure-messaging bits would claim a
-- protection these plain transport commands do not have. Proprietary classes
-- (bit 8 set, e.g. A0 of GSM SIMs, 80 of GlobalPlatform) are kept unchanged,
-- because their bit meanings are not ours to know and such cards expect their
-- own class on GET RESPONSE.
-- @tparam integer cla class byte of the command
-- @treturn integer
function M.transport_cla(cla)
  cla = util.byte(cla, "transport_cla: CLA")
  if cla >= 0x80 then return cla end -- bit 8: proprietary
  -- further inter-industry (bit 7): channels 4..19 in bits 4-1, i.e. cla & 0x4F
  if cla >= 0x40 then return 0x40 + cla % 0x10 end
  return cla % 0x04 -- first inter-industry: channels 0..3 in bits 2-1, i.e. cla & 0x03
end

-- ===========================================================================
-- Object internals

local function new_state()
  return {
    built = false, cla = 0, ins = 0, p1 = 0, p2 = 0, data = "", le = nil, ext = false,
    apdu = nil,            -- cached encoding
    reply = "", reply_nad = nil,
    nad = 0, alt_cla = nil, -- transport settings: survive Clear and rebuilds
  }
end

local function set_command(s, cla, ins, p1, p2, data, le, ext)
  s.built, s.cla, s.ins, s.p1, s.p2, s.data, s.le, s.ext = true, cla, ins, p1, p2, data, le, ext
  s.apdu = nil
end

local function clear_reply(s)
  s.reply, s.reply_nad = "", nil
end

local function apdu_of(s)
  if not s.built then return "" end
  local a = s.apdu
  if not a then
    a = encode(s.cla, s.ins, s.p1, s.p2, s.data, s.le, s.ext)
    s.apdu = a
  end
  return a
end

local function is_extended(s)
  return s.built and iso_case(#s.data, s.le) ~= 1 and (s.ext or needs_extended(#s.data, s.le))
end

local function case_label(s)
  if not s.built then return nil end
  local c = iso_case(#s.data, s.le)
  if c == 1 then return "1" end
  return c .. (is_extended(s) and "E" or "S")
end

local function status(s)
  local r = s.reply
  if #r < 2 then return nil end
  local sw1, sw2 = sbyte(r, -2, -1)
  return sw1 * 256 + sw2
end

local function self_state(obj, method)
  local s = util.state_of(states, obj, NAME, method, 3) -- not a tail call: levels count this frame
  return s
end

-- ===========================================================================
-- Properties. Getters take the state; setters take (state, value, name) and
-- pass level 3 to the checks (setter <- __newindex <- the assignment).

local getters, setters = {}, {}

--- Whole command APDU as a binary string ("" when none was built).
-- Writing parses the bytes: ClassId, InstructionId, P1, P2, P3, Data, LeField
-- and Type follow, and the reply is cleared. Writing "" empties the command.
-- Malformed bytes raise.
-- @tfield string Apdu
function getters.Apdu(s)
  local a = s.apdu
  if a then return a end
  return apdu_of(s)
end
function setters.Apdu(s, v, k)
  if v == "" or v == nil then
    set_command(s, 0, 0, 0, 0, "", nil, false)
    s.built = false
    clear_reply(s)
    return
  end
  if type(v) ~= "string" then
    error(format("%s.%s: binary string expected, got %s", NAME, k, util.describe(v)), 3)
  end
  local cla, ins, p1, p2, data, le, ext = parse(v)
  if not cla then error(format("%s.%s: %s", NAME, k, ins), 3) end
  s.built, s.cla, s.ins, s.p1, s.p2, s.data, s.le, s.ext, s.apdu = true, cla, ins, p1, p2, data, le, ext, nil
  s.reply, s.reply_nad = "", nil
end

--- Length of the command APDU in bytes (0 when none was built). Read-only.
-- @tfield integer ApduLength
function getters.ApduLength(s) return #apdu_of(s) end

--- Whole reply APDU as received: data followed by SW1 SW2 ("" before any reply).
-- Writable: "" (or nil) clears the reply, otherwise at least 2 bytes are needed.
-- @tfield string ApduReply
function getters.ApduReply(s) return s.reply end
function setters.ApduReply(s, v, k)
  if v == nil then v = "" end
  if type(v) ~= "string" then
    error(format("%s.%s: binary string expected, got %s", NAME, k, util.describe(v)), 3)
  end
  if #v == 1 then
    error(format("%s.%s: a reply of 1 byte is malformed (SW1 SW2 need 2)", NAME, k), 3)
  end
  s.reply = v
end

--- Length of ApduReply in bytes. Writing truncates only: 0 clears the reply;
-- n (2..current length) keeps the first n-2 data bytes and the status word,
-- so ReplyStatus stays meaningful. Anything else raises.
-- @tfield integer ApduReplyLength
function getters.ApduReplyLength(s) return #s.reply end
function setters.ApduReplyLength(s, v, k)
  local cur = #s.reply
  local n = util.int(v, NAME .. "." .. k, 0, cur, 3)
  if n == 0 then s.reply = "" return end
  if n == 1 then
    error(format("%s.%s: 1 would cut the status word; use 0 or 2..%d", NAME, k, cur), 3)
  end
  s.reply = s.reply:sub(1, n - 2) .. s.reply:sub(-2)
end

local function header_field(field, label)
  getters[label] = function(s) return s[field] end
  setters[label] = function(s, v, k)
    local b = byte_of[v]
    if b == nil then b = util.byte(v, NAME .. "." .. k, 3) end -- raises
    s.built = true -- a header may be written field by field
    s[field], s.apdu = b, nil
  end
end

--- CLA byte (0 when no command was built).
-- @tfield integer ClassId
header_field("cla", "ClassId")
--- INS byte.
-- @tfield integer InstructionId
header_field("ins", "InstructionId")
--- P1 byte.
-- @tfield integer P1
header_field("p1", "P1")
--- P2 byte.
-- @tfield integer P2
header_field("p2", "P2")

--- Command data field ("" when none). Writable (the header declares put_Data):
-- nil or "" removes the data; the case, Lc, P3 and the short/extended form follow.
-- @tfield string Data
function getters.Data(s) return s.data end
function setters.Data(s, v, k)
  local d = util.bytes(v, NAME .. "." .. k, M.MAX_NC, 3)
  s.built, s.data, s.apdu = true, d, nil
end

--- Le as given: nil (no Le), 0 (Le field of zeros) or Ne 1..65536. A parsed
-- APDU reports its Le bytes, so `00`/`0000` read back as 0. Read-only: use
-- BuildCmd or Apdu to change it.
-- @tfield integer LeField
function getters.LeField(s) return s.le end

--- The fifth byte of the encoded APDU, i.e. T=0's P3 for the short cases:
-- 0 for case 1, Le for case 2S (00 for 256), Lc for cases 3S and 4S. For the
-- extended cases it is the 00 that marks the extended form. 0 when empty.
-- Read-only.
-- @tfield integer P3
function getters.P3(s)
  local a = apdu_of(s)
  return #a > 4 and sbyte(a, 5) or 0
end

--- SW1*256+SW2 of the reply; nil while there is no reply. Writing an integer
-- 0..65535 replaces the status word (making a 2-byte reply if there was none).
-- @tfield integer ReplyStatus
getters.ReplyStatus = status
function setters.ReplyStatus(s, v, k)
  local sw = util.int(v, NAME .. "." .. k, 0, 0xFFFF, 3)
  local data = #s.reply >= 2 and s.reply:sub(1, -3) or ""
  local sw2 = sw % 256
  s.reply = data .. char((sw - sw2) / 256, sw2)
end

--- SW1 of the reply, or nil. Read-only.
-- @tfield integer ReplyStatusSW1
function getters.ReplyStatusSW1(s)
  local r = s.reply
  if #r < 2 then return nil end
  return (sbyte(r, -2))
end

--- SW2 of the reply, or nil. Read-only.
-- @tfield integer ReplyStatusSW2
function getters.ReplyStatusSW2(s)
  local r = s.reply
  if #r < 2 then return nil end
  return (sbyte(r, -1))
end

--- Reply data without SW1 SW2 ("" when none). Read-only. Ours.
-- @tfield string ReplyData
function getters.ReplyData(s)
  local r = s.reply
  return #r >= 2 and ssub(r, 1, -3) or ""
end

--- ISO case of the command, 1..4 (`iscard.ISO_CASE_1` ..); nil when empty.
-- Read-only ("reserved" in the Windows documentation).
-- @tfield integer Type
function getters.Type(s)
  return s.built and iso_case(#s.data, s.le) or nil
end

--- T=1 node address to send with. Default 0. PC/SC cannot carry it, so
-- Transaction refuses any other value; it is kept for ported scripts.
-- @tfield integer Nad
function getters.Nad(s) return s.nad end
function setters.Nad(s, v, k)
  local b = byte_of[v]
  if b == nil then b = util.byte(v, NAME .. "." .. k, 3) end -- raises
  s.nad = b
end

--- NAD of the card's reply: nil, because PC/SC never reports it (Windows
-- fails with E_ACCESSDENIED instead). Writable with a byte or nil.
-- @tfield integer ReplyNad
function getters.ReplyNad(s) return s.reply_nad end
function setters.ReplyNad(s, v, k)
  s.reply_nad = v ~= nil and util.byte(v, NAME .. "." .. k, 3) or nil
end

--- CLA for the commands the library generates (GET RESPONSE, ENVELOPE).
-- nil until set (Windows fails the read with E_ACCESSDENIED); writing nil
-- unsets it. When nil the CLA comes from `transport_cla` of the command.
-- @tfield integer AlternateClassId
function getters.AlternateClassId(s) return s.alt_cla end
function setters.AlternateClassId(s, v, k)
  s.alt_cla = v ~= nil and util.byte(v, NAME .. "." .. k, 3) or nil
end

-- ===========================================================================
-- Methods

local methods = {}

--- Build a command APDU; replaces the command and clears the reply (Nad and
-- AlternateClassId are kept).
-- @tparam integer cla CLA byte
-- @tparam integer ins INS byte
-- @tparam[opt=0] integer p1
-- @tparam[opt=0] integer p2
-- @tparam[opt] string data command data, up to 65535 bytes (nil/"" = none)
-- @tparam[opt] integer le nil = no Le, 0 = Le of zeros, 1..65536 = Ne
-- @return self
function methods:BuildCmd(cla, ins, p1, p2, data, le)
  local s = states[self] or self_state(self, "BuildCmd")
  -- each check falls back to util's, which raises with its message
  cla = byte_of[cla] or util.byte(cla, "BuildCmd: CLA")
  ins = byte_of[ins] or util.byte(ins, "BuildCmd: INS")
  if p1 == nil then p1 = 0 else p1 = byte_of[p1] or util.byte(p1, "BuildCmd: P1") end
  if p2 == nil then p2 = 0 else p2 = byte_of[p2] or util.byte(p2, "BuildCmd: P2") end
  if data == nil then
    data = ""
  elseif type(data) ~= "string" or #data > M.MAX_NC then
    data = util.bytes(data, "BuildCmd: data", M.MAX_NC)
  end
  if le ~= nil then le = byte_of[le] or int_in(le, 0, M.MAX_NE) or util.int(le, "BuildCmd: Le", 0, M.MAX_NE) end
  s.built, s.cla, s.ins, s.p1, s.p2, s.data, s.le, s.ext, s.apdu = true, cla, ins, p1, p2, data, le, false, nil
  s.reply, s.reply_nad = "", nil
  return self
end

--- Empty the command and the reply. Nad and AlternateClassId are settings,
-- not buffers, and are kept. Always succeeds (there is no S_FALSE here).
-- @return self
function methods:Clear()
  local s = self_state(self, "Clear")
  setters.Apdu(s, "")
  return self
end

--- Replace the command by an ENVELOPE (INS C2, P1 = P2 = 00) whose data is
-- the given complete command APDU. CLA: AlternateClassId when set, else
-- `transport_cla` of the wrapped APDU's CLA (same logical channel). Le: 0
-- ("as many as available") when the wrapped command expects data (case 2
-- or 4), none otherwise. The reply is cleared.
-- @tparam string apdu a complete command APDU (at most 65535 bytes)
-- @tparam[opt] integer apdu_type its ISO case 1..4; checked against the bytes
--   when given, derived from them when nil
-- @return self
function methods:Encapsulate(apdu, apdu_type)
  local s = self_state(self, "Encapsulate")
  local d, err = M.decode(apdu)
  if not d then error("Encapsulate: " .. err, 2) end
  if apdu_type ~= nil then
    apdu_type = util.int(apdu_type, "Encapsulate: type", 1, 4)
    if apdu_type ~= d.case then
      error(format("Encapsulate: the APDU is ISO case %d, not case %d", d.case, apdu_type), 2)
    end
  end
  if #apdu > M.MAX_NC then
    error(format("Encapsulate: an APDU of %d bytes does not fit in one ENVELOPE (at most %d)",
      #apdu, M.MAX_NC), 2)
  end
  local le = (d.case == 2 or d.case == 4) and 0 or nil
  set_command(s, s.alt_cla or M.transport_cla(d.cla), 0xC2, 0, 0, apdu, le, false)
  clear_reply(s)
  return self
end

--- Command APDU as hex. Ours.
-- @tparam[opt=""] string sep separator between bytes
-- @treturn string
function methods:hex(sep)
  local s = self_state(self, "hex")
  return util.tohex(apdu_of(s), sep)
end

--- Reply APDU as hex. Ours.
-- @tparam[opt=""] string sep separator between bytes
-- @treturn string
function methods:reply_hex(sep)
  local s = self_state(self, "reply_hex")
  return util.tohex(s.reply, sep)
end

--- Whether the command is encoded in the extended form. Ours.
-- @treturn boolean
function methods:is_extended()
  return is_extended(self_state(self, "is_extended"))
end

--- Ne that the Le field stands for: nil without Le, 256 or 65536 for a Le of
-- zeros (short/extended), else LeField. Ours.
-- @treturn integer|nil
function methods:ne()
  local s = self_state(self, "ne")
  if s.le ~= 0 then return s.le end
  return is_extended(s) and M.MAX_NE or 256
end

-- ===========================================================================
-- Metatable

local mt = { __name = NAME }

function mt.__index(obj, k)
  local m = methods[k]
  if m then return m end
  local g = getters[k]
  if g then return g(states[obj]) end
  error(format("%s has no member '%s'", NAME, tostring(k)), 2)
end

function mt.__newindex(obj, k, v)
  local set = setters[k]
  if set then
    set(states[obj], v, k) -- not a tail call: the checks count this frame
    return
  end
  if getters[k] or methods[k] then
    error(format("%s.%s is read-only", NAME, tostring(k)), 2)
  end
  error(format("%s has no member '%s'", NAME, tostring(k)), 2)
end

function mt.__tostring(obj)
  local s = states[obj]
  if not s.built then return NAME .. " (empty)" end
  local a = apdu_of(s)
  local shown = util.tohex(a:sub(1, 16), " ")
  if #a > 16 then shown = shown .. format(" ... (%d bytes)", #a) end
  local sw = status(s)
  return format("%s (case %s: %s%s)", NAME, case_label(s), shown,
    sw and format("; reply %04X", sw) or "")
end

-- ===========================================================================
-- For iscard.transaction and iscard.iso7816 only (not part of the API): the
-- state of each object, and the pieces they need without the checks of the
-- public members, which their callers have already made.

M._states = states
M._apdu_of = apdu_of
M._encode = encode
M._is_extended = is_extended

-- Replaces the command of ISCardCmd `c` by checked fields (data a string,
-- never nil) and clears the reply, as BuildCmd does; returns `c`.
function M._set(c, cla, ins, p1, p2, data, le)
  local s = states[c]
  s.built, s.cla, s.ins, s.p1, s.p2, s.data, s.le, s.ext, s.apdu = true, cla, ins, p1, p2, data, le, false, nil
  s.reply, s.reply_nad = "", nil
  return c
end

--- Make an empty ISCardCmd (no command, no reply, Nad 0, AlternateClassId unset).
-- @treturn iscard.ISCardCmd
function M.new()
  local obj = setmetatable({}, mt)
  states[obj] = new_state()
  return obj
end

--- Whether `x` is an ISCardCmd made by `new`.
-- @param x any value
-- @treturn boolean
function M.is(x)
  return states[x] ~= nil
end

return M
