--- ISCardISO7816: builders for the ISO/IEC 7816-4 commands of the Windows
-- interface. None of them talks to the card: each fills an ISCardCmd and
-- returns it; send it with `ISCard:Transaction`.
--
-- Every builder takes the Windows parameters in the Windows order, then an
-- optional ISCardCmd. Without it a new ISCardCmd is made; with it that object
-- is rebuilt (its reply is cleared, its Nad and AlternateClassId are kept, as
-- they are transport settings the caller chose) and returned.
--
-- CLA is the object's default class (`SetDefaultClassId`, initially 00).
-- Lengths follow the Le convention of ISCardCmd: the "bytes to read/get/
-- expect" arguments are Ne (1..65536) or 0 for a Le of zeros ("as many as
-- available"); when omitted (nil) they mean 0, because these commands exist to
-- return data. SelectFile is the exception, as its Windows page says: 0 or nil
-- mean no Le at all (pass 256 for a Le of 00).
--
-- Checked here (misuse raises): bytes 0..255, Nc <= 65535, Ne <= 65536, data
-- present where the command needs it, short EF identifiers 1..30 (P1 of the
-- binary commands with bit 8 set; bits 8-4 of P2 of the record commands,
-- 11111 being reserved), record number FF (reserved) where P1 is a record
-- number, reserved P2 bits 3-1 of the record commands, ManageChannel's P1
-- (00 or 80) and channel number (0..19). Offsets are the raw P1-P2 bytes and
-- so always within 0..32767 (bit 8 of P1 clear) or 0..255 (short EF).
-- Everything that depends on the card's files and security state is the
-- card's business.
-- @classmod iscard.ISCardISO7816

local util = require "iscard.util"
local cmdm = require "iscard.cmd"

local format = string.format
local misuse = util.misuse

local M = {}

local NAME = "iscard.ISCardISO7816"
local MAX_NC, MAX_NE = cmdm.MAX_NC, cmdm.MAX_NE

local states = setmetatable({}, { __mode = "k" })

-- Each builder is a row of BUILDERS below: its INS, how many Windows
-- arguments it takes, and `fields`, which checks those arguments and turns
-- them into P1, P2, data and Ne. One function (`method`) makes every row a
-- method: `cla_of` first (self first, so that a call with '.' says so),
-- then `fields`, then `build`. The checks try a table lookup first
-- (`byte_of`, `ne_of`: the accepted values, as integers) and call util's
-- checks only when that misses, for their messages; `build` fills the
-- ISCardCmd through cmd.lua's internal `set`, since everything `BuildCmd`
-- would check is checked here.
local byte_of = util.byte_of
local ne_of = util.int_table(0, 256) -- the Ne of a short APDU, and 0
local cmd_states, set = cmdm.internal.states, cmdm.internal.set

-- The object's CLA; raises unless self is an ISCardISO7816.
local function cla_of(self, m)
  local s = states[self] or util.state_of(states, self, NAME, m)
  return s.cla
end

-- The command into `cmd` (a new ISCardCmd when nil), which is returned.
local function build(m, cmd, cla, ins, p1, p2, data, ne)
  if cmd == nil then
    cmd = cmdm.new()
  elseif not cmd_states[cmd] then
    misuse("%s: iscard.ISCardCmd or nil expected as the last argument, got %s", m, util.describe(cmd))
  end
  return set(cmd, cla, ins, p1, p2, data, ne)
end

local function byte(v, m, what)
  return byte_of[v] or util.byte(v, m .. ": " .. what)
end

-- P1 and P2 when they are plain bytes.
local function p1p2(p1, p2, m)
  return byte_of[p1] or util.byte(p1, m .. ": P1"), byte_of[p2] or util.byte(p2, m .. ": P2")
end

-- Ne: nil means 0 (as many as available).
local function le(v, m, what)
  if v == nil then return 0 end
  return ne_of[v] or util.int(v, m .. ": " .. what, 0, MAX_NE)
end

local function check_data(v, m, what, required)
  local d = v
  if d == nil then
    d = ""
  elseif type(d) ~= "string" or #d > MAX_NC then
    d = util.bytes(v, m .. ": " .. what, MAX_NC) -- raises
  end
  if required and d == "" then
    misuse("%s: %s is required (a non-empty binary string)", m, what)
  end
  return d
end

-- P1 of READ/UPDATE/WRITE/ERASE BINARY: bit 8 set = short EF addressing;
-- bit 8 clear: P1-P2 is a 15-bit offset, 0..32767 by construction.
local function binary_p1(p1, m)
  if p1 < 0x80 then return p1 end
  if p1 % 0x80 >= 0x20 then -- p1 & 0x60
    misuse("%s: P1=%02X: with short EF addressing (bit 8) bits 7-6 must be 0", m, p1)
  end
  local sfi = p1 % 0x20 -- p1 & 0x1F
  if sfi < 1 or sfi > 30 then
    misuse("%s: P1=%02X: short EF identifier %d is outside 1..30", m, p1, sfi)
  end
  return p1
end

-- P1 (record) and P2 (reference control) of the record commands: P2 bits
-- 8-4 short EF identifier (0 = current EF, 31 reserved), bits 3-1 the
-- selection, `max3` the largest allowed value. When bits 3-1 say "record
-- number in P1", that number must not be FF: those are the selections 100,
-- 101 and 110, the ones with bit 3 set, and with bits 3-1 at most 110 that
-- is `sel >= 4`.
local function record_p1p2(record, refctrl, m, max3)
  local p1 = byte(record, m, "record (P1)")
  local p2 = byte(refctrl, m, "reference control (P2)")
  if p2 >= 0xF8 then -- p2 >> 3 == 31
    misuse("%s: P2=%02X: short EF identifier 31 (11111) is reserved", m, p2)
  end
  local sel = p2 % 8 -- p2 & 0x07
  if sel > max3 then
    misuse("%s: P2=%02X: bits 3-1 = %d are reserved for this command", m, p2, sel)
  end
  if p1 == 0xFF and sel >= 4 then
    misuse("%s: record number FF is reserved", m)
  end
  return p1, p2
end

local methods = {}

--- Set the CLA used by every later builder call of this object (starts as 00).
-- @tparam integer cla class byte
-- @return self
function methods:SetDefaultClassId(cla)
  local s = states[self] or util.state_of(states, self, NAME, "SetDefaultClassId")
  s.cla = byte(cla, "SetDefaultClassId", "class")
  return self
end

-- The fields of the commands that several builders share.

-- GET DATA, GET RESPONSE: P1, P2 and Ne.
local function p1_p2_ne(what)
  return function(m, p1, p2, bytes)
    p1, p2 = p1p2(p1, p2, m)
    return p1, p2, "", le(bytes, m, what)
  end
end

-- The binary commands that write (UPDATE, WRITE): offset or SFI, data.
local function binary_data(m, p1, p2, data)
  p1, p2 = p1p2(p1, p2, m)
  return binary_p1(p1, m), p2, check_data(data, m, "data", true)
end

-- The record commands that write (UPDATE, WRITE): record, reference control, data.
local function record_data(m, record, refctrl, data)
  local p1, p2 = record_p1p2(record, refctrl, m, 4)
  return p1, p2, check_data(data, m, "data", true)
end

-- A reference (algorithm in P1, secret in P2) and a challenge: the
-- authentication commands.
local function authentication(m, algorithm, secret)
  return byte(algorithm, m, "algorithm reference (P1)"), byte(secret, m, "secret reference (P2)")
end

-- Every builder: name = { INS, number of Windows arguments, fields }, where
-- fields(m, ...) gets the Windows arguments and returns P1, P2, data, Ne
-- (nil: no Le). Their documentation follows the table.
local BUILDERS = {
  AppendRecord = { 0xE2, 2, function(m, refctrl, record)
    local p2 = byte(refctrl, m, "reference control (P2)")
    if p2 % 8 ~= 0 or p2 >= 0xF8 then -- p2 & 0x07, p2 >> 3 == 31
      misuse("%s: P2=%02X: must be 00 or a short EF identifier 1..30 in bits 8-4 with bits 3-1 = 000", m, p2)
    end
    return 0x00, p2, check_data(record, m, "record", true)
  end },
  EraseBinary = { 0x0E, 3, function(m, p1, p2, data)
    p1, p2 = p1p2(p1, p2, m)
    return binary_p1(p1, m), p2, check_data(data, m, "data", false)
  end },
  ExternalAuthenticate = { 0x82, 3, function(m, algorithm, secret, challenge)
    local p1, p2 = authentication(m, algorithm, secret)
    return p1, p2, check_data(challenge, m, "challenge", false)
  end },
  GetChallenge = { 0x84, 1, function(m, expected)
    return 0x00, 0x00, "", le(expected, m, "bytes expected")
  end },
  GetData = { 0xCA, 3, p1_p2_ne("bytes to get") },
  GetResponse = { 0xC0, 3, p1_p2_ne("data length") },
  InternalAuthenticate = { 0x88, 4, function(m, algorithm, secret, challenge, reply)
    local p1, p2 = authentication(m, algorithm, secret)
    local data = check_data(challenge, m, "challenge", true)
    return p1, p2, data, le(reply, m, "reply bytes")
  end },
  ManageChannel = { 0x70, 2, function(m, state, channel)
    local p1 = byte(state, m, "channel state (P1)")
    local p2 = byte(channel, m, "channel (P2)")
    if p1 ~= 0x00 and p1 ~= 0x80 then misuse("%s: P1=%02X: 00 (open) or 80 (close) expected", m, p1) end
    if p2 > 19 then misuse("%s: channel %d is outside 0..19", m, p2) end
    return p1, p2, "", (p1 == 0x00 and p2 == 0x00) and 1 or nil
  end },
  PutData = { 0xDA, 3, function(m, p1, p2, data)
    p1, p2 = p1p2(p1, p2, m)
    return p1, p2, check_data(data, m, "data", true)
  end },
  ReadBinary = { 0xB0, 3, function(m, p1, p2, bytes)
    p1, p2 = p1p2(p1, p2, m)
    return binary_p1(p1, m), p2, "", le(bytes, m, "bytes to read")
  end },
  ReadRecord = { 0xB2, 3, function(m, record, refctrl, bytes)
    local p1, p2 = record_p1p2(record, refctrl, m, 6)
    return p1, p2, "", le(bytes, m, "bytes to read")
  end },
  SelectFile = { 0xA4, 4, function(m, p1, p2, data, bytes)
    p1, p2 = p1p2(p1, p2, m)
    data = check_data(data, m, "data", false)
    local n = le(bytes, m, "bytes to read")
    return p1, p2, data, n ~= 0 and n or nil
  end },
  UpdateBinary = { 0xD6, 3, binary_data },
  WriteBinary = { 0xD0, 3, binary_data },
  UpdateRecord = { 0xDC, 3, record_data },
  WriteRecord = { 0xD2, 3, record_data },
  Verify = { 0x20, 2, function(m, refctrl, pin)
    return 0x00, byte(refctrl, m, "reference control (P2)"), check_data(pin, m, "data", false)
  end },
  envelope = { 0xC2, 2, function(m, data, bytes)
    data = check_data(data, m, "data", true)
    return 0x00, 0x00, data, bytes ~= nil and le(bytes, m, "bytes expected") or nil
  end },
}

-- The method of builder `m`: the CLA, the fields from the Windows
-- arguments, and the command built into the ISCardCmd that follows them.
local function method(m, row)
  local ins, nargs, fields = row[1], row[2], row[3]
  -- (fixed parameters rather than `...`: no vararg frame on every call)
  return function(self, a, b, c, d, e)
    local cla = cla_of(self, m)
    local cmd -- the argument after the Windows ones
    if nargs == 3 then cmd = d elseif nargs == 2 then cmd = c elseif nargs == 4 then cmd = e else cmd = b end
    return build(m, cmd, cla, ins, fields(m, a, b, c, d))
  end
end

for m, row in pairs(BUILDERS) do methods[m] = method(m, row) end

--- APPEND RECORD (INS E2, P1 00): a new record at the end of a linear EF,
-- or record 1 of a cyclic EF. The record is passed through unchanged.
-- @function AppendRecord
-- @tparam integer refctrl P2: 00 = current EF, or SFI in bits 8-4 and 000
-- @tparam string record the record
-- @tparam[opt] iscard.ISCardCmd cmd to rebuild
-- @treturn iscard.ISCardCmd

--- ERASE BINARY (INS 0E).
-- @function EraseBinary
-- @tparam integer p1 offset high byte, or 80|SFI
-- @tparam integer p2 offset low byte
-- @tparam[opt] string data nil = erase to the end of the file; else the
--   offset of the first data unit not to erase
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- EXTERNAL AUTHENTICATE (INS 82): the host proves itself.
-- @function ExternalAuthenticate
-- @tparam integer algorithm P1: algorithm reference (00 = known beforehand)
-- @tparam integer secret P2: secret reference (00 = none given)
-- @tparam[opt] string challenge authentication data computed by the host
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- GET CHALLENGE (INS 84, P1 P2 00 00).
-- @function GetChallenge
-- @tparam[opt=0] integer expected Ne (0 = Le 00)
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- GET DATA (INS CA): P1-P2 name the data object (tag).
-- @function GetData
-- @tparam integer p1
-- @tparam integer p2
-- @tparam[opt=0] integer bytes Ne
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- GET RESPONSE (INS C0). Transaction sends these on its own after 61xx;
-- this builder is for doing it by hand (with `get_response = false`).
-- @function GetResponse
-- @tparam integer p1 normally 00
-- @tparam integer p2 normally 00
-- @tparam[opt=0] integer length Ne, normally the xx of 61xx
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- INTERNAL AUTHENTICATE (INS 88): the card authenticates itself.
-- @function InternalAuthenticate
-- @tparam integer algorithm P1
-- @tparam integer secret P2
-- @tparam string challenge data the card computes its answer from
-- @tparam[opt=0] integer reply Ne
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- MANAGE CHANNEL (INS 70). Opening with channel 00 lets the card choose
-- and report the number in one byte, so that form has Le = 1 (case 2); all
-- other forms are case 1.
-- @function ManageChannel
-- @tparam integer state P1: 00 open, 80 close
-- @tparam integer channel P2: channel number 0..19 (0 on open = card chooses;
--   0 on close = the channel named by CLA)
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- PUT DATA (INS DA).
-- @function PutData
-- @tparam integer p1
-- @tparam integer p2
-- @tparam string data the value (or TLV objects for P1-P2 00FF / 02FF)
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- READ BINARY (INS B0).
-- @function ReadBinary
-- @tparam integer p1 offset high byte (bit 8 clear), or 80|SFI
-- @tparam integer p2 offset low byte (or the offset within the short EF)
-- @tparam[opt=0] integer bytes Ne (0 = Le of zeros: up to the end of file)
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- READ RECORD(S) (INS B2).
-- @function ReadRecord
-- @tparam integer record P1: record number (00 = current) or identifier
-- @tparam integer refctrl P2: SFI in bits 8-4, selection in bits 3-1 (111 reserved)
-- @tparam[opt=0] integer bytes Ne
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- SELECT (INS A4).
-- @function SelectFile
-- @tparam integer p1 selection by: 00 FID, 01 child DF, 02 EF, 03 parent,
--   04 DF name, 08 path from MF, 09 path from current DF
-- @tparam integer p2 occurrence (bits 2-1) and answer (bits 4-3; 0C = none)
-- @tparam[opt] string data FID, path or DF name
-- @tparam[opt] integer bytes Ne; 0 or nil = no Le (256 gives Le 00)
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- UPDATE BINARY (INS D6).
-- @function UpdateBinary
-- @tparam integer p1
-- @tparam integer p2
-- @tparam string data the new data units
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- WRITE BINARY (INS D0).
-- @function WriteBinary
-- @tparam integer p1
-- @tparam integer p2
-- @tparam string data data units to write
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- UPDATE RECORD (INS DC).
-- @function UpdateRecord
-- @tparam integer record P1: 00 = current record, else a record number
-- @tparam integer refctrl P2: SFI in bits 8-4; bits 3-1: 000 first, 001 last,
--   010 next, 011 previous, 100 number in P1
-- @tparam string data the record
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- WRITE RECORD (INS D2); P1/P2 as for UpdateRecord.
-- @function WriteRecord
-- @tparam integer record
-- @tparam integer refctrl
-- @tparam string data
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- VERIFY (INS 20, P1 00). Without data (case 1) the card reports whether
-- verification is needed (9000) or how many tries are left (63Cx).
-- @function Verify
-- @tparam integer refctrl P2: reference data (PIN) qualifier
-- @tparam[opt] string pin verification data
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

--- ENVELOPE (INS C2, P1 P2 00 00) with the object's CLA: carries `data` (a
-- command APDU or a piece of one). Ours; `ISCardCmd:Encapsulate` wraps one
-- whole APDU with a CLA derived from it instead.
-- @function envelope
-- @tparam string data
-- @tparam[opt] integer bytes Ne; nil = no Le, 0 = Le of zeros
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd

local mt = { __name = NAME }

function mt.__index(_, k)
  local f = methods[k]
  if f then return f end
  misuse("%s has no member '%s'", NAME, tostring(k))
end

function mt.__newindex(_, k)
  if methods[k] then misuse("%s.%s is a method and cannot be assigned", NAME, tostring(k)) end
  misuse("%s has no member '%s'", NAME, tostring(k))
end

function mt.__tostring(obj)
  return format("%s (CLA %02X)", NAME, states[obj].cla)
end

--- Make an ISCardISO7816 with default class 00.
-- @treturn iscard.ISCardISO7816
function M.new()
  local obj = setmetatable({}, mt)
  states[obj] = { cla = 0x00 }
  return obj
end

return M
