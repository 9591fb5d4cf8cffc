-- ISCardISO7816: every builder's bytes, reuse of a passed ISCardCmd, the
-- default class and the range checks.

local util = require "iscard.util"
local cmdm = require "iscard.cmd"
local iso7816 = require "iscard.iso7816"

local H, X = util.fromhex, util.tohex
local mtype = util.mtype

local function raises_here(pattern, f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, err)
  assert.matches("iso7816_spec%.lua:%d+:", err)
end

describe("ISCardISO7816 builders", function()
  local iso
  before_each(function() iso = iso7816.new() end)

  local d300 = ("\90"):rep(300)
  -- { name, args, expected hex, Type }
  local vectors = {
    { "AppendRecord", { 0x00, H "0102AABB" }, "00E2000004 0102AABB", 3 },
    { "AppendRecord", { 0x18, H "01" }, "00E2001801 01", 3 }, -- SFI 3
    { "EraseBinary", { 0x00, 0x10 }, "000E0010", 1 },
    { "EraseBinary", { 0x81, 0x10, H "0020" }, "000E811002 0020", 3 },
    { "ExternalAuthenticate", { 0x00, 0x81, H "0011223344556677" }, "0082008108 0011223344556677", 3 },
    { "ExternalAuthenticate", { 0x01, 0x00 }, "00820100", 1 },
    { "GetChallenge", { 8 }, "0084000008", 2 },
    { "GetChallenge", {}, "0084000000", 2 },
    { "GetChallenge", { 256 }, "0084000000", 2 },
    { "GetData", { 0x9F, 0x7F, 0x2D }, "00CA9F7F2D", 2 },
    { "GetData", { 0x00, 0x66, 0 }, "00CA006600", 2 },
    { "GetData", { 0x5F, 0x50, 300 }, "00CA5F5000012C", 2 },
    { "GetResponse", { 0x00, 0x00, 0x1C }, "00C000001C", 2 },
    { "GetResponse", { 0x00, 0x00 }, "00C0000000", 2 },
    { "InternalAuthenticate", { 0x00, 0x00, H "0102030405060708", 0 }, "0088000008 0102030405060708 00", 4 },
    { "InternalAuthenticate", { 0x00, 0x81, d300, 256 }, "0088008100 012C" .. X(d300) .. "0100", 4 },
    { "ManageChannel", { 0x00, 0x00 }, "0070000001", 2 },
    { "ManageChannel", { 0x00, 0x02 }, "00700002", 1 },
    { "ManageChannel", { 0x80, 0x01 }, "00708001", 1 },
    { "ManageChannel", { 0x80, 0x00 }, "00708000", 1 },
    { "PutData", { 0x00, 0x5B, "Name" }, "00DA005B04 4E616D65", 3 },
    { "ReadBinary", { 0x00, 0x00, 0 }, "00B0000000", 2 },
    { "ReadBinary", { 0x7F, 0xFF, 1 }, "00B07FFF01", 2 }, -- offset 32767
    { "ReadBinary", { 0x81, 0x00, 256 }, "00B0810000", 2 },
    { "ReadBinary", { 0x9E, 0x05, 257 }, "00B09E05000101", 2 }, -- SFI 30
    { "ReadBinary", { 0x00, 0x00, 65536 }, "00B00000000000", 2 },
    { "ReadBinary", { 0x00, 0x00 }, "00B0000000", 2 },
    { "ReadRecord", { 0x01, 0x0C, 0 }, "00B2010C00", 2 },
    { "ReadRecord", { 0x00, 0x04, 0x20 }, "00B2000420", 2 },
    { "ReadRecord", { 0xFF, 0x00, 0 }, "00B2FF0000", 2 }, -- record identifier FF is fine
    { "SelectFile", { 0x00, 0x00, H "3F00", 0 }, "00A4000002 3F00", 3 },
    { "SelectFile", { 0x00, 0x00 }, "00A40000", 1 },
    { "SelectFile", { 0x04, 0x00, H "A000000003", 256 }, "00A4040005 A000000003 00", 4 },
    { "SelectFile", { 0x04, 0x0C, H "A000000003" }, "00A4040C05 A000000003", 3 },
    { "SelectFile", { 0x08, 0x04, H "3F002F00", 0x40 }, "00A4080404 3F002F00 40", 4 },
    { "UpdateBinary", { 0x00, 0x10, H "CAFE" }, "00D6001002 CAFE", 3 },
    { "UpdateBinary", { 0x00, 0x00, d300 }, "00D6000000 012C" .. X(d300), 3 },
    { "UpdateRecord", { 0x02, 0x14, H "AA" }, "00DC021401 AA", 3 },
    { "UpdateRecord", { 0x00, 0x00, H "AA" }, "00DC000001 AA", 3 },
    { "Verify", { 0x81, "123456" }, "0020008106 313233343536", 3 },
    { "Verify", { 0x81 }, "00200081", 1 },
    { "WriteBinary", { 0x85, 0x00, H "01" }, "00D0850001 01", 3 },
    { "WriteRecord", { 0x03, 0x04, H "0102" }, "00D2030402 0102", 3 },
    { "envelope", { H "00B0000010", 0 }, "00C2000005 00B0000010 00", 4 },
    { "envelope", { H "0102" }, "00C2000002 0102", 3 },
  }

  for _, v in ipairs(vectors) do
    it(v[1] .. " -> " .. v[3]:sub(1, 40), function()
      local c = iso[v[1]](iso, util.unpack(v[2], 1, 5))
      assert.is_true(cmdm.is(c))
      assert.equal(X(H(v[3])), c:hex())
      assert.equal(v[4], c.Type)
    end)
  end

  it("has all 18 members of the Windows interface", function()
    for _, m in ipairs { "AppendRecord", "EraseBinary", "ExternalAuthenticate", "GetChallenge", "GetData",
      "GetResponse", "InternalAuthenticate", "ManageChannel", "PutData", "ReadBinary", "ReadRecord",
      "SelectFile", "SetDefaultClassId", "UpdateBinary", "UpdateRecord", "Verify", "WriteBinary",
      "WriteRecord" } do
      assert.is_function(iso[m], m)
    end
  end)

  it("uses the default class", function()
    assert.equal(iso, iso:SetDefaultClassId(0x80))
    assert.equal("80CA9F7F00", iso:GetData(0x9F, 0x7F, 0):hex())
    assert.equal("80200081", iso:Verify(0x81):hex())
    assert.equal("iscard.ISCardISO7816 (CLA 80)", tostring(iso))
    iso:SetDefaultClassId(0x00)
    assert.equal("00CA9F7F00", iso:GetData(0x9F, 0x7F, 0):hex())
  end)

  it("keeps one default class per object", function()
    local other = iso7816.new()
    iso:SetDefaultClassId(0x84)
    assert.equal(0x00, other:GetChallenge(8).ClassId)
    assert.equal(0x84, iso:GetChallenge(8).ClassId)
  end)

  it("returns a new ISCardCmd each time without a cmd argument", function()
    local a, b = iso:GetChallenge(8), iso:GetChallenge(8)
    assert.are_not.equal(a, b)
  end)

  it("rebuilds a passed ISCardCmd: reply cleared, Nad and AlternateClassId kept", function()
    local c = cmdm.new():BuildCmd(0x00, 0xA4, 0, 0, H "3F00", 0)
    c.ApduReply = H "6F00 9000"
    c.AlternateClassId = 0x00
    c.Nad = 0
    c.ReplyNad = 0x12
    local r = iso:ReadBinary(0x00, 0x10, 4, c)
    assert.equal(c, r)
    assert.equal("00B0001004", c:hex())
    assert.equal("", c.ApduReply)
    assert.is_nil(c.ReplyStatus)
    assert.is_nil(c.ReplyNad)
    assert.equal(0x00, c.AlternateClassId)
    -- and for a builder with data and the optional arguments in between
    assert.equal(c, iso:SelectFile(0x00, 0x0C, H "2F00", nil, c))
    assert.equal(X(H "00A4000C02 2F00"), c:hex())
    assert.equal(c, iso:Verify(0x81, nil, c))
    assert.equal("00200081", c:hex())
  end)

  it("refuses a last argument that is not an ISCardCmd", function()
    raises_here("ReadBinary: iscard%.ISCardCmd or nil expected as the last argument, got table",
      function() iso:ReadBinary(0, 0, 1, {}) end)
    raises_here("Verify: iscard%.ISCardCmd or nil expected as the last argument, got iscard%.ISCardISO7816",
      function() iso:Verify(0x81, "1234", iso) end)
  end)
end)

describe("ISCardISO7816 range checks", function()
  local iso = iso7816.new()

  it("checks bytes, lengths and data", function()
    raises_here("SetDefaultClassId: class: integer 0..255 expected, got integer 256",
      function() iso:SetDefaultClassId(256) end)
    raises_here("ReadBinary: P2: integer 0..255 expected, got nil", function() iso:ReadBinary(0) end)
    raises_here("ReadBinary: bytes to read: integer 0..65536 expected, got integer 65537",
      function() iso:ReadBinary(0, 0, 65537) end)
    raises_here("GetChallenge: bytes expected: integer 0..65536 expected, got integer %-1",
      function() iso:GetChallenge(-1) end)
    raises_here("UpdateBinary: data: at most 65535 bytes", function() iso:UpdateBinary(0, 0, ("x"):rep(65536)) end)
    raises_here("UpdateBinary: data is required", function() iso:UpdateBinary(0, 0, "") end)
    raises_here("UpdateBinary: data is required", function() iso:UpdateBinary(0, 0) end)
    raises_here("WriteBinary: data is required", function() iso:WriteBinary(0, 0, nil) end)
    raises_here("PutData: data is required", function() iso:PutData(0, 0x5B) end)
    raises_here("UpdateRecord: data is required", function() iso:UpdateRecord(1, 4) end)
    raises_here("WriteRecord: data is required", function() iso:WriteRecord(1, 4, "") end)
    raises_here("AppendRecord: record is required", function() iso:AppendRecord(0) end)
    raises_here("InternalAuthenticate: challenge is required", function() iso:InternalAuthenticate(0, 0, nil, 0) end)
    raises_here("envelope: data is required", function() iso:envelope(nil) end)
    raises_here("Verify: data: binary string or nil expected, got integer 1234", function() iso:Verify(0x81, 1234) end)
  end)

  it("checks short EF identifiers of the binary commands", function()
    raises_here("ReadBinary: P1=80: short EF identifier 0 is outside 1%.%.30",
      function() iso:ReadBinary(0x80, 0, 1) end)
    raises_here("UpdateBinary: P1=9F: short EF identifier 31 is outside 1%.%.30",
      function() iso:UpdateBinary(0x9F, 0, "x") end)
    raises_here("WriteBinary: P1=A1: with short EF addressing %(bit 8%) bits 7%-6 must be 0",
      function() iso:WriteBinary(0xA1, 0, "x") end)
    raises_here("EraseBinary: P1=C1", function() iso:EraseBinary(0xC1, 0) end)
    -- the borders that are allowed
    assert.equal(0x81, iso:ReadBinary(0x81, 0xFF, 1).P1)
    assert.equal(0x9E, iso:ReadBinary(0x9E, 0, 1).P1)
    assert.equal(0x7F, iso:ReadBinary(0x7F, 0xFF, 1).P1)
  end)

  it("checks record addressing", function()
    raises_here("ReadRecord: P2=F8: short EF identifier 31 %(11111%) is reserved",
      function() iso:ReadRecord(1, 0xF8, 0) end)
    raises_here("ReadRecord: P2=07: bits 3%-1 = 7 are reserved", function() iso:ReadRecord(1, 0x07, 0) end)
    raises_here("ReadRecord: record number FF is reserved", function() iso:ReadRecord(0xFF, 0x04, 0) end)
    raises_here("ReadRecord: record number FF is reserved", function() iso:ReadRecord(0xFF, 0x05, 0) end)
    raises_here("UpdateRecord: P2=05: bits 3%-1 = 5 are reserved", function() iso:UpdateRecord(1, 0x05, "x") end)
    raises_here("WriteRecord: record number FF is reserved", function() iso:WriteRecord(0xFF, 0x04, "x") end)
    raises_here("AppendRecord: P2=1C: must be 00 or a short EF identifier", function() iso:AppendRecord(0x1C, "x") end)
    raises_here("AppendRecord: P2=F8", function() iso:AppendRecord(0xF8, "x") end)
    -- FF as an identifier or with "first/last/next/previous" is not a record number
    assert.equal(0xFF, iso:UpdateRecord(0xFF, 0x00, "x").P1)
    assert.equal(0xF0, iso:ReadRecord(1, 0xF0, 0).P2) -- SFI 30
  end)

  it("checks ManageChannel", function()
    raises_here("ManageChannel: P1=01: 00 %(open%) or 80 %(close%) expected", function() iso:ManageChannel(1, 0) end)
    raises_here("ManageChannel: channel 20 is outside 0%.%.19", function() iso:ManageChannel(0, 20) end)
    assert.equal("00700013", iso:ManageChannel(0, 19):hex())
  end)

  it("refuses unknown members and bad self", function()
    raises_here("has no member 'readBinary'", function() return iso.readBinary end)
    raises_here("has no member 'x'", function() iso.x = 1 end)
    raises_here("ReadBinary is a method and cannot be assigned", function() iso.ReadBinary = 1 end)
    raises_here("ReadBinary: iscard%.ISCardISO7816 expected as self", function() iso.ReadBinary(0, 0, 1) end)
  end)
end)

-- The builders' argument checks accept exactly what util.int accepts (the
-- tables behind them: spec/unit/apdu_spec.lua), in the order of the
-- arguments, and change nothing when they fail.
describe("builder checks", function()
  local iso
  before_each(function() iso = iso7816.new() end)

  it("turn floats with integral values into integers", function()
    local c = iso:ReadBinary(1.0, 2.0, 256.0)
    assert.equal("00B0010200", c:hex())
    assert.equal(mtype(1), mtype(c.P1))
    assert.equal(mtype(256), mtype(c.LeField))
    c = iso:ReadBinary(0, 0, 300.0)
    assert.equal(mtype(300), mtype(c.LeField))
    iso:SetDefaultClassId(128.0)
    assert.equal(mtype(128), mtype(iso:GetData(0, 0).ClassId))
    c = cmdm.new():BuildCmd(0.0, 176.0, 1.0, 2.0, nil, 65536.0)
    assert.equal(mtype(1), mtype(c.P1))
    assert.equal(mtype(65536), mtype(c.LeField))
    c.P2 = 7.0
    assert.equal(mtype(7), mtype(c.P2))
    c.Nad = 0.0
    assert.equal(mtype(0), mtype(c.Nad))
  end)

  it("check the arguments in order, the ISCardCmd last", function()
    local bad = {}
    raises_here("ReadBinary: P1: integer 0%.%.255 expected, got integer 256",
      function() iso:ReadBinary(256, -1, -1, bad) end)
    raises_here("ReadBinary: P2: integer 0%.%.255 expected, got integer %-1",
      function() iso:ReadBinary(0, -1, -1, bad) end)
    raises_here("ReadBinary: P1=A0: with short EF addressing",
      function() iso:ReadBinary(0xA0, 0, -1, bad) end)
    raises_here("ReadBinary: bytes to read: integer 0%.%.65536 expected, got integer %-1",
      function() iso:ReadBinary(0, 0, -1, bad) end)
    raises_here("ReadBinary: bytes to read: integer 0%.%.65536 expected, got float 1%.5",
      function() iso:ReadBinary(0, 0, 1.5, bad) end)
    raises_here("ReadBinary: iscard%.ISCardCmd or nil expected as the last argument, got table",
      function() iso:ReadBinary(0, 0, 65536, bad) end)
    raises_here("UpdateBinary: data: binary string or nil expected, got integer 5",
      function() iso:UpdateBinary(0, 0, 5, bad) end)
    raises_here("UpdateBinary: data is required", function() iso:UpdateBinary(0, 0, "", bad) end)
    raises_here("UpdateBinary: data: at most 65535 bytes allowed, got 65536",
      function() iso:UpdateBinary(0, 0, ("x"):rep(65536)) end)
    raises_here("envelope: bytes expected: integer 0%.%.65536 expected, got string",
      function() iso:envelope("x", "1") end)
    raises_here("SetDefaultClassId: class: integer 0%.%.255 expected, got nil",
      function() iso:SetDefaultClassId() end)
    raises_here("GetData: iscard%.ISCardISO7816 expected as self, got nil %(call it with ':'%)",
      function() iso.GetData(nil, 0, 0) end)
  end)

  it("leave the passed ISCardCmd as it was when a check fails", function()
    local c = iso:ReadBinary(0, 1, 2)
    c.ApduReply = "\144\0"
    assert.has_error(function() iso:ReadBinary(0, 300, 2, c) end)
    assert.equal("00B0000102", c:hex())
    assert.equal(0x9000, c.ReplyStatus)
  end)

  it("build the envelope's Le only when given", function()
    assert.equal("00C200000141", iso:envelope("A"):hex())
    assert.equal("00C20000014100", iso:envelope("A", 0):hex())
    assert.equal("00C20000014100", iso:envelope("A", 256.0):hex())
  end)
end)
