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

-- Each builder is its checks between `cla_of` (self first, so that a call
-- with '.' says so) and `build`. The checks try a table lookup first
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
local function build(m, cla, ins, p1, p2, data, ne, cmd)
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

--- APPEND RECORD (INS E2, P1 00): a new record at the end of a linear EF,
-- or record 1 of a cyclic EF. The record is passed through unchanged.
-- @tparam integer refctrl P2: 00 = current EF, or SFI in bits 8-4 and 000
-- @tparam string record the record
-- @tparam[opt] iscard.ISCardCmd cmd to rebuild
-- @treturn iscard.ISCardCmd
function methods:AppendRecord(refctrl, record, cmd)
  local m = "AppendRecord"
  local cla = cla_of(self, m)
  local p2 = byte(refctrl, m, "reference control (P2)")
  if p2 % 8 ~= 0 or p2 >= 0xF8 then -- p2 & 0x07, p2 >> 3 == 31
    misuse("%s: P2=%02X: must be 00 or a short EF identifier 1..30 in bits 8-4 with bits 3-1 = 000", m, p2)
  end
  return build(m, cla, 0xE2, 0x00, p2, check_data(record, m, "record", true), nil, cmd)
end

--- ERASE BINARY (INS 0E).
-- @tparam integer p1 offset high byte, or 80|SFI
-- @tparam integer p2 offset low byte
-- @tparam[opt] string data nil = erase to the end of the file; else the
--   offset of the first data unit not to erase
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
function methods:EraseBinary(p1, p2, data, cmd)
  local m = "EraseBinary"
  local cla = cla_of(self, m)
  p1, p2 = p1p2(p1, p2, m)
  return build(m, cla, 0x0E, binary_p1(p1, m), p2, check_data(data, m, "data", false), nil, cmd)
end

--- EXTERNAL AUTHENTICATE (INS 82): the host proves itself.
-- @tparam integer algorithm P1: algorithm reference (00 = known beforehand)
-- @tparam integer secret P2: secret reference (00 = none given)
-- @tparam[opt] string challenge authentication data computed by the host
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
function methods:ExternalAuthenticate(algorithm, secret, challenge, cmd)
  local m = "ExternalAuthenticate"
  local cla = cla_of(self, m)
  local p1 = byte(algorithm, m, "algorithm reference (P1)")
  local p2 = byte(secret, m, "secret reference (P2)")
  return build(m, cla, 0x82, p1, p2, check_data(challenge, m, "challenge", false), nil, cmd)
end

--- GET CHALLENGE (INS 84, P1 P2 00 00).
-- @tparam[opt=0] integer expected Ne (0 = Le 00)
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
function methods:GetChallenge(expected, cmd)
  local m = "GetChallenge"
  local cla = cla_of(self, m)
  return build(m, cla, 0x84, 0x00, 0x00, "", le(expected, m, "bytes expected"), cmd)
end

-- GET DATA and GET RESPONSE: P1, P2 and Ne, differing only in INS.
local function p1p2_getter(m, ins, what)
  return function(self, p1, p2, bytes, cmd)
    local cla = cla_of(self, m)
    p1, p2 = p1p2(p1, p2, m)
    return build(m, cla, ins, p1, p2, "", le(bytes, m, what), cmd)
  end
end

--- GET DATA (INS CA): P1-P2 name the data object (tag).
-- @function GetData
-- @tparam integer p1
-- @tparam integer p2
-- @tparam[opt=0] integer bytes Ne
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
methods.GetData = p1p2_getter("GetData", 0xCA, "bytes to get")

--- GET RESPONSE (INS C0). Transaction sends these on its own after 61xx;
-- this builder is for doing it by hand (with `get_response = false`).
-- @function GetResponse
-- @tparam integer p1 normally 00
-- @tparam integer p2 normally 00
-- @tparam[opt=0] integer length Ne, normally the xx of 61xx
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
methods.GetResponse = p1p2_getter("GetResponse", 0xC0, "data length")

--- INTERNAL AUTHENTICATE (INS 88): the card authenticates itself.
-- @tparam integer algorithm P1
-- @tparam integer secret P2
-- @tparam string challenge data the card computes its answer from
-- @tparam[opt=0] integer reply Ne
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
function methods:InternalAuthenticate(algorithm, secret, challenge, reply, cmd)
  local m = "InternalAuthenticate"
  local cla = cla_of(self, m)
  local p1 = byte(algorithm, m, "algorithm reference (P1)")
  local p2 = byte(secret, m, "secret reference (P2)")
  local data = check_data(challenge, m, "challenge", true)
  return build(m, cla, 0x88, p1, p2, data, le(reply, m, "reply bytes"), cmd)
end

--- MANAGE CHANNEL (INS 70). Opening with channel 00 lets the card choose
-- and report the number in one byte, so that form has Le = 1 (case 2); all
-- other forms are case 1.
-- @tparam integer state P1: 00 open, 80 close
-- @tparam integer channel P2: channel number 0..19 (0 on open = card chooses;
--   0 on close = the channel named by CLA)
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
function methods:ManageChannel(state, channel, cmd)
  local m = "ManageChannel"
  local cla = cla_of(self, m)
  local p1 = byte(state, m, "channel state (P1)")
  local p2 = byte(channel, m, "channel (P2)")
  if p1 ~= 0x00 and p1 ~= 0x80 then misuse("%s: P1=%02X: 00 (open) or 80 (close) expected", m, p1) end
  if p2 > 19 then misuse("%s: channel %d is outside 0..19", m, p2) end
  return build(m, cla, 0x70, p1, p2, "", (p1 == 0x00 and p2 == 0x00) and 1 or nil, cmd)
end

--- PUT DATA (INS DA).
-- @tparam integer p1
-- @tparam integer p2
-- @tparam string data the value (or TLV objects for P1-P2 00FF / 02FF)
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
function methods:PutData(p1, p2, data, cmd)
  local m = "PutData"
  local cla = cla_of(self, m)
  p1, p2 = p1p2(p1, p2, m)
  return build(m, cla, 0xDA, p1, p2, check_data(data, m, "data", true), nil, cmd)
end

--- READ BINARY (INS B0).
-- @tparam integer p1 offset high byte (bit 8 clear), or 80|SFI
-- @tparam integer p2 offset low byte (or the offset within the short EF)
-- @tparam[opt=0] integer bytes Ne (0 = Le of zeros: up to the end of file)
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
function methods:ReadBinary(p1, p2, bytes, cmd)
  local m = "ReadBinary"
  local cla = cla_of(self, m)
  p1, p2 = p1p2(p1, p2, m)
  return build(m, cla, 0xB0, binary_p1(p1, m), p2, "", le(bytes, m, "bytes to read"), cmd)
end

--- READ RECORD(S) (INS B2).
-- @tparam integer record P1: record number (00 = current) or identifier
-- @tparam integer refctrl P2: SFI in bits 8-4, selection in bits 3-1 (111 reserved)
-- @tparam[opt=0] integer bytes Ne
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
function methods:ReadRecord(record, refctrl, bytes, cmd)
  local m = "ReadRecord"
  local cla = cla_of(self, m)
  local p1, p2 = record_p1p2(record, refctrl, m, 6)
  return build(m, cla, 0xB2, p1, p2, "", le(bytes, m, "bytes to read"), cmd)
end

--- SELECT (INS A4).
-- @tparam integer p1 selection by: 00 FID, 01 child DF, 02 EF, 03 parent,
--   04 DF name, 08 path from MF, 09 path from current DF
-- @tparam integer p2 occurrence (bits 2-1) and answer (bits 4-3; 0C = none)
-- @tparam[opt] string data FID, path or DF name
-- @tparam[opt] integer bytes Ne; 0 or nil = no Le (256 gives Le 00)
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
function methods:SelectFile(p1, p2, data, bytes, cmd)
  local m = "SelectFile"
  local cla = cla_of(self, m)
  p1, p2 = p1p2(p1, p2, m)
  data = check_data(data, m, "data", false)
  local n = le(bytes, m, "bytes to read")
  return build(m, cla, 0xA4, p1, p2, data, n ~= 0 and n or nil, cmd)
end

-- UPDATE and WRITE differ only in INS (and in what the card does), for
-- binary and for record files alike: one maker for each pair.
local function binary_writer(m, ins)
  return function(self, p1, p2, data, cmd)
    local cla = cla_of(self, m)
    p1, p2 = p1p2(p1, p2, m)
    return build(m, cla, ins, binary_p1(p1, m), p2, check_data(data, m, "data", true), nil, cmd)
  end
end

local function record_writer(m, ins)
  return function(self, record, refctrl, data, cmd)
    local cla = cla_of(self, m)
    local p1, p2 = record_p1p2(record, refctrl, m, 4)
    return build(m, cla, ins, p1, p2, check_data(data, m, "data", true), nil, cmd)
  end
end

--- UPDATE BINARY (INS D6).
-- @function UpdateBinary
-- @tparam integer p1
-- @tparam integer p2
-- @tparam string data the new data units
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
methods.UpdateBinary = binary_writer("UpdateBinary", 0xD6)

--- WRITE BINARY (INS D0).
-- @function WriteBinary
-- @tparam integer p1
-- @tparam integer p2
-- @tparam string data data units to write
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
methods.WriteBinary = binary_writer("WriteBinary", 0xD0)

--- UPDATE RECORD (INS DC).
-- @function UpdateRecord
-- @tparam integer record P1: 00 = current record, else a record number
-- @tparam integer refctrl P2: SFI in bits 8-4; bits 3-1: 000 first, 001 last,
--   010 next, 011 previous, 100 number in P1
-- @tparam string data the record
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
methods.UpdateRecord = record_writer("UpdateRecord", 0xDC)

--- WRITE RECORD (INS D2); P1/P2 as for UpdateRecord.
-- @function WriteRecord
-- @tparam integer record
-- @tparam integer refctrl
-- @tparam string data
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
methods.WriteRecord = record_writer("WriteRecord", 0xD2)

--- VERIFY (INS 20, P1 00). Without data (case 1) the card reports whether
-- verification is needed (9000) or how many tries are left (63Cx).
-- @tparam integer refctrl P2: reference data (PIN) qualifier
-- @tparam[opt] string pin verification data
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
function methods:Verify(refctrl, pin, cmd)
  local m = "Verify"
  local cla = cla_of(self, m)
  local p2 = byte(refctrl, m, "reference control (P2)")
  return build(m, cla, 0x20, 0x00, p2, check_data(pin, m, "data", false), nil, cmd)
end

--- ENVELOPE (INS C2, P1 P2 00 00) with the object's CLA: carries `data` (a
-- command APDU or a piece of one). Ours; `ISCardCmd:Encapsulate` wraps one
-- whole APDU with a CLA derived from it instead.
-- @tparam string data
-- @tparam[opt] integer bytes Ne; nil = no Le, 0 = Le of zeros
-- @tparam[opt] iscard.ISCardCmd cmd
-- @treturn iscard.ISCardCmd
function methods:envelope(data, bytes, cmd)
  local m = "envelope"
  local cla = cla_of(self, m)
  data = check_data(data, m, "data", true)
  local n = bytes ~= nil and le(bytes, m, "bytes expected") or nil
  return build(m, cla, 0xC2, 0x00, 0x00, data, n, cmd)
end

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
