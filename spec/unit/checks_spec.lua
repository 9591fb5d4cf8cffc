-- The argument checks of the builders, BuildCmd and the byte properties
-- look values up in tables first and fall back to util's checks for the
-- message: they must accept exactly what util.int accepts, give back the
-- same integers, and check in the same order.

local util = require "iscard.util"
local cmdm = require "iscard.cmd"
local iso7816 = require "iscard.iso7816"

local mtype = util.mtype

local function raises_here(pattern, f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, err)
  assert.matches("checks_spec%.lua:%d+:", err)
end

describe("util.byte_of, int_table, int_in", function()
  it("agree with util.int on every kind of value", function()
    local t = util.int_table(0, 300)
    local values = { 0, 1, 255, 256, 300, 301, -1, 0.0, 5.0, -0.0, 255.0, 1.5, 2 ^ 53, -(2 ^ 53), 1 / 0, -1 / 0,
      0 / 0, "5", "0x10", true, false, {}, print }
    for _, v in ipairs(values) do
      for _, range in ipairs { { util.byte_of, 0, 255 }, { t, 0, 300 } } do
        local tab, lo, hi = range[1], range[2], range[3]
        local ok, want = pcall(util.int, v, "x", lo, hi)
        local got = tab[v]
        if ok then
          assert.equal(want, got)
          assert.equal(mtype(want), mtype(got))
        else
          assert.is_nil(got)
        end
        local got2 = util.int_in(v, lo, hi)
        if ok then
          assert.equal(want, got2)
          assert.equal(mtype(want), mtype(got2))
        else
          assert.is_nil(got2)
        end
      end
    end
  end)
end)

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

describe("BuildCmd checks", function()
  it("check in order and leave the command as it was", function()
    local c = cmdm.new():BuildCmd(0, 0xB0)
    raises_here("BuildCmd: INS: integer 0%.%.255 expected, got nil", function() c:BuildCmd(0, nil, 300) end)
    raises_here("BuildCmd: P1: integer 0%.%.255 expected, got integer 300", function() c:BuildCmd(0, 0, 300, -1) end)
    raises_here("BuildCmd: data: binary string or nil expected, got boolean",
      function() c:BuildCmd(0, 0, 0, 0, true, -1) end)
    raises_here("BuildCmd: Le: integer 0%.%.65536 expected, got string",
      function() c:BuildCmd(0, 0, 0, 0, nil, "1") end)
    assert.equal("00B00000", c:hex())
  end)
end)
