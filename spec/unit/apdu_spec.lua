-- ISCardCmd: encoding at every case border, parsing written APDUs, the
-- properties and their checks. Byte vectors are hex.

local util = require "iscard.util"
local cmdm = require "iscard.cmd"

local H, X = util.fromhex, util.tohex
local mtype = util.mtype

local function built(...)
  return cmdm.new():BuildCmd(...)
end

-- Checks that a call raises an error that names `pattern` and points at this
-- file (the error level blames the caller, not the library).
local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, err)
  return err
end
local function raises_here(pattern, f)
  local err = raises(pattern, f)
  assert.matches("apdu_spec%.lua:%d+:", err)
end

describe("iscard.util hex", function()
  it("converts both ways", function()
    assert.equal("\0\1\171\255", H("00 01 ab FF"))
    assert.equal("0001ABFF", X("\0\1\171\255"))
    assert.equal("00 01 AB FF", X("\0\1\171\255", " "))
    assert.equal("", X(""))
    assert.equal("", H(""))
    assert.equal("\18\52", H(" 12\n\t34 "))
  end)
  it("round-trips every byte", function()
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    all = table.concat(all)
    assert.equal(all, H(X(all)))
    assert.equal(all, H(X(all, " ")))
  end)
  it("refuses odd lengths and bad characters", function()
    raises("odd number of hex digits %(3%)", H, "ABC")
    raises("invalid hex character \"G\" at position 2", H, "0G")
    raises("invalid hex character \"x\"", H, "0x00")
    raises("string expected, got nil", H, nil)
    raises("string expected, got number", X, 5)
  end)
end)

describe("ISCardCmd.BuildCmd encoding", function()
  local d255, d256, d300 = ("\170"):rep(255), ("\187"):rep(256), ("\204"):rep(300)
  local d65535 = ("\221"):rep(65535)

  -- { description, args, expected hex, Type, P3, extended }
  local vectors = {
    { "case 1", { 0x00, 0xA4 }, "00A40000", 1, 0, false },
    { "case 1 with P1 P2", { 0x80, 0xCA, 0x9F, 0x7F }, "80CA9F7F", 1, 0, false },
    { "case 2S Ne=1", { 0x00, 0xB0, 0, 0, nil, 1 }, "00B0000001", 2, 1, false },
    { "case 2S Ne=255", { 0x00, 0xB0, 0, 0, nil, 255 }, "00B00000FF", 2, 0xFF, false },
    { "case 2S Ne=256 -> Le 00", { 0x00, 0xB0, 0, 0, nil, 256 }, "00B0000000", 2, 0, false },
    { "case 2S Le=0 -> 00", { 0x00, 0xB0, 0, 0, nil, 0 }, "00B0000000", 2, 0, false },
    { "case 2E Ne=257", { 0x00, 0xB0, 0, 0, nil, 257 }, "00B00000000101", 2, 0, true },
    { "case 2E Ne=65535", { 0x00, 0xB0, 0, 0, nil, 65535 }, "00B0000000FFFF", 2, 0, true },
    { "case 2E Ne=65536 -> 0000", { 0x00, 0xB0, 0, 0, nil, 65536 }, "00B00000000000", 2, 0, true },
    { "case 3S Nc=1", { 0x00, 0x20, 0, 0x81, "\1" }, "0020008101 01", 3, 1, false },
    { "case 3S Nc=255", { 0x00, 0xD6, 0, 0, d255 }, "00D60000FF" .. X(d255), 3, 0xFF, false },
    { "case 3E Nc=256", { 0x00, 0xD6, 0, 0, d256 }, "00D6000000 0100" .. X(d256), 3, 0, true },
    { "case 3E Nc=65535", { 0x00, 0xD6, 0, 0, d65535 }, "00D6000000 FFFF" .. X(d65535), 3, 0, true },
    { "case 4S Nc=7 Le=0", { 0x00, 0xA4, 4, 0, H "A0000000031010", 0 },
      "00A4040007 A0000000031010 00", 4, 7, false },
    { "case 4S Nc=255 Ne=256", { 0x00, 0x88, 0, 0, d255, 256 }, "00880000FF" .. X(d255) .. "00", 4, 0xFF, false },
    { "case 4S Nc=1 Ne=1", { 0x00, 0x88, 0, 0, "\1", 1 }, "008800000101 01", 4, 1, false },
    { "case 4E Nc=256 Ne=1", { 0x00, 0x88, 0, 0, d256, 1 }, "0088000000 0100" .. X(d256) .. "0001", 4, 0, true },
    { "case 4E Nc=255 Ne=257", { 0x00, 0x88, 0, 0, d255, 257 }, "0088000000 00FF" .. X(d255) .. "0101", 4, 0, true },
    { "case 4E Nc=1 Ne=65536", { 0x00, 0x88, 0, 0, "\1", 65536 }, "0088000000 0001 01 0000", 4, 0, true },
    { "case 4E Nc=300 Ne=256 (Le 2 bytes, no 00 prefix)", { 0x00, 0x88, 0, 0, d300, 256 },
      "0088000000 012C" .. X(d300) .. "0100", 4, 0, true },
    { "case 4E Nc=300 Le=0 -> 0000", { 0x00, 0x88, 0, 0, d300, 0 },
      "0088000000 012C" .. X(d300) .. "0000", 4, 0, true },
  }

  for _, v in ipairs(vectors) do
    it(v[1], function()
      local c = built(util.unpack(v[2], 1, 6))
      assert.equal(X(H(v[3])), c:hex())
      assert.equal(#H(v[3]), c.ApduLength)
      assert.equal(v[4], c.Type)
      assert.equal(v[5], c.P3)
      assert.equal(v[6], c:is_extended())
      assert.equal(X(H(v[3])), X(cmdm.encode(util.unpack(v[2], 1, 6))))
    end)
  end

  it("treats empty data like no data", function()
    local c = built(0, 0xA4, 0, 0, "")
    assert.equal("00A40000", c:hex())
    assert.equal(1, c.Type)
    assert.equal("", c.Data)
  end)

  it("reports the fields it was given", function()
    local c = built(0x0C, 0xA4, 0x04, 0x0C, "\1\2", 300)
    assert.equal(0x0C, c.ClassId)
    assert.equal(0xA4, c.InstructionId)
    assert.equal(0x04, c.P1)
    assert.equal(0x0C, c.P2)
    assert.equal("\1\2", c.Data)
    assert.equal(300, c.LeField)
    assert.equal(300, c:ne())
  end)

  it("derives Ne from a Le of zeros by form", function()
    assert.equal(256, built(0, 0xB0, 0, 0, nil, 0):ne())
    assert.equal(65536, built(0, 0xB0, 0, 0, ("x"):rep(256), 0):ne())
    assert.is_nil(built(0, 0xB0):ne())
    assert.equal(0, built(0, 0xB0, 0, 0, nil, 0).LeField)
    assert.is_nil(built(0, 0xB0).LeField)
  end)

  it("defaults P1 and P2 to 0 and returns the object", function()
    local c = cmdm.new()
    assert.equal(c, c:BuildCmd(0x00, 0x84, nil, nil, nil, 8))
    assert.equal("0084000008", c:hex())
  end)

  it("checks every argument and blames the caller", function()
    local c = cmdm.new()
    raises_here("BuildCmd: CLA: integer 0..255 expected, got integer 256", function() c:BuildCmd(256, 0) end)
    raises_here("BuildCmd: INS: integer 0..255 expected, got integer %-1", function() c:BuildCmd(0, -1) end)
    raises_here("BuildCmd: P1: integer 0..255 expected, got string", function() c:BuildCmd(0, 0, "1") end)
    raises_here("BuildCmd: P2: integer 0..255 expected, got float 1.5", function() c:BuildCmd(0, 0, 0, 1.5) end)
    raises_here("BuildCmd: data: binary string or nil expected, got table", function() c:BuildCmd(0, 0, 0, 0, {}) end)
    raises_here("BuildCmd: data: at most 65535 bytes allowed, got 65536",
      function() c:BuildCmd(0, 0, 0, 0, ("x"):rep(65536)) end)
    raises_here("BuildCmd: Le: integer 0..65536 expected, got integer 65537",
      function() c:BuildCmd(0, 0, 0, 0, nil, 65537) end)
    raises_here("BuildCmd: Le: integer 0..65536 expected, got integer %-1",
      function() c:BuildCmd(0, 0, 0, 0, nil, -1) end)
    raises_here("BuildCmd: CLA: integer 0..255 expected, got nil", function() c:BuildCmd() end)
    raises_here("call it with ':'", function() c.BuildCmd(0, 0xA4) end)
    -- a failed BuildCmd leaves the command as it was
    assert.equal("", c.Apdu)
  end)

  it("accepts floats with integral values", function()
    assert.equal("00B0000001", built(0.0, 176.0, 0, 0, nil, 1.0):hex())
  end)
end)

describe("ISCardCmd.Apdu parsing", function()
  local function parsed(hex)
    local c = cmdm.new()
    c.Apdu = H(hex)
    return c
  end

  local d256 = ("\17"):rep(256)
  -- { hex, Type, Data, LeField, extended }
  local vectors = {
    { "00A40000", 1, "", nil, false },
    { "00B0000010", 2, "", 0x10, false },
    { "00B0000000", 2, "", 0, false },
    { "00B00000000101", 2, "", 257, true },
    { "00B00000000000", 2, "", 0, true },
    { "00B00000000005", 2, "", 5, true }, -- needlessly extended: kept extended
    { "00D6000002 AABB", 3, "\170\187", nil, false },
    { "00D6000000 0002 AABB", 3, "\170\187", nil, true },
    { "00D6000000 0100" .. X(d256), 3, d256, nil, true },
    { "00A4040002 3F00 00", 4, "\63\0", 0, false },
    { "00A4040002 3F00 12", 4, "\63\0", 0x12, false },
    { "0088000000 0002 AABB 0000", 4, "\170\187", 0, true },
    { "0088000000 0100" .. X(d256) .. "0101", 4, d256, 257, true },
  }
  for _, v in ipairs(vectors) do
    it("parses " .. v[1]:sub(1, 24), function()
      local c = parsed(v[1])
      assert.equal(v[2], c.Type)
      assert.equal(v[3], c.Data)
      assert.equal(v[4], c.LeField)
      assert.equal(v[5], c:is_extended())
      assert.equal(H(v[1]):byte(1), c.ClassId)
      assert.equal(H(v[1]):byte(2), c.InstructionId)
      assert.equal(H(v[1]):byte(3), c.P1)
      assert.equal(H(v[1]):byte(4), c.P2)
      -- the bytes come back unchanged
      assert.equal(X(H(v[1])), c:hex())
    end)
  end

  it("reads a Le of 0000 in the extended form as 65536 expected bytes", function()
    assert.equal(65536, parsed("00B00000000000"):ne())
    assert.equal(256, parsed("00B0000000"):ne())
  end)

  it("round-trips every built case through Apdu", function()
    for _, args in ipairs {
      { 0, 1 }, { 0, 2, 3, 4, nil, 1 }, { 0, 2, 3, 4, nil, 256 }, { 0, 2, 3, 4, nil, 257 },
      { 0, 2, 3, 4, nil, 65536 }, { 0, 3, 0, 0, "abc" }, { 0, 3, 0, 0, ("z"):rep(255) },
      { 0, 3, 0, 0, ("z"):rep(256) }, { 0x84, 4, 1, 2, "abc", 0 }, { 0, 4, 1, 2, ("q"):rep(1000), 65536 },
      { 0, 4, 1, 2, ("q"):rep(255), 256 }, { 0, 4, 1, 2, ("q"):rep(255), 257 },
    } do
      local a = built(util.unpack(args, 1, 6))
      local b = cmdm.new()
      b.Apdu = a.Apdu
      assert.equal(a:hex(), b:hex())
      assert.equal(a.Type, b.Type)
      assert.equal(a.Data, b.Data)
      assert.equal(a:ne(), b:ne())
      assert.equal(a.P3, b.P3)
    end
  end)

  it("refuses malformed APDUs with a clear message", function()
    local c = built(0, 0xA4)
    raises_here("Apdu: malformed APDU: 3 bytes", function() c.Apdu = H "00A400" end)
    raises_here("Apdu: malformed APDU: 1 bytes", function() c.Apdu = H "00" end)
    raises_here("short Lc=05 needs 5 or 6 bytes after it, found 2", function() c.Apdu = H "00D6000005 AABB" end)
    -- trailing garbage after a short case 4
    raises_here("short Lc=02 needs 2 or 3 bytes after it, found 5", function() c.Apdu = H "00D6000002 AABB 00 1122" end)
    raises_here("extended Lc=0000 with 1 more bytes", function() c.Apdu = H "00D6000000 0000 AA" end)
    raises_here("extended Lc=0003 needs 3 or 5 bytes after it, found 2",
      function() c.Apdu = H "00D6000000 0003 AABB" end)
    raises_here("extended Lc=0002 needs 2 or 4 bytes after it, found 3",
      function() c.Apdu = H "00D6000000 0002 AABB 00" end)
    raises_here("2 body bytes starting with 00", function() c.Apdu = H "00B0000000 05" end)
    raises_here("Apdu: binary string expected, got integer 5", function() c.Apdu = 5 end)
    -- a refused write leaves the command alone
    assert.equal("00A40000", c:hex())
  end)

  it("decode() reports instead of raising", function()
    local r, err = cmdm.decode(H "00A400")
    assert.is_nil(r)
    assert.matches("3 bytes", err)
    local d = cmdm.decode(H "00A4040002 3F00 00")
    assert.same({ cla = 0, ins = 0xA4, p1 = 4, p2 = 0, data = "\63\0", le = 0, extended = false, case = 4 }, d)
  end)

  it("clears the reply on write and empties the command with ''", function()
    local c = built(0, 0xA4)
    c.ApduReply = H "9000"
    c.Apdu = H "00B0000001"
    assert.equal("", c.ApduReply)
    c.Apdu = ""
    assert.equal("", c.Apdu)
    assert.equal(0, c.ApduLength)
    assert.is_nil(c.Type)
  end)
end)

describe("ISCardCmd properties", function()
  it("starts empty", function()
    local c = cmdm.new()
    assert.equal("", c.Apdu)
    assert.equal(0, c.ApduLength)
    assert.is_nil(c.Type)
    assert.equal(0, c.P3)
    assert.equal(0, c.ClassId)
    assert.equal("", c.Data)
    assert.is_nil(c.LeField)
    assert.equal("", c.ApduReply)
    assert.equal(0, c.ApduReplyLength)
    assert.is_nil(c.ReplyStatus)
    assert.is_nil(c.ReplyStatusSW1)
    assert.is_nil(c.ReplyStatusSW2)
    assert.equal("", c.ReplyData)
    assert.equal(0, c.Nad)
    assert.is_nil(c.ReplyNad)
    assert.is_nil(c.AlternateClassId)
    assert.is_false(c:is_extended())
    assert.equal("iscard.ISCardCmd (empty)", tostring(c))
  end)

  it("builds a header field by field", function()
    local c = cmdm.new()
    c.ClassId = 0x80
    assert.equal("80000000", c:hex())
    c.InstructionId = 0xCA
    c.P1 = 0x9F
    c.P2 = 0x7F
    assert.equal("80CA9F7F", c:hex())
    assert.equal(1, c.Type)
  end)

  it("lets Data switch between cases and forms", function()
    local c = built(0x00, 0xD6, 0, 0, "\1\2\3", 0x10)
    assert.equal(X(H "00D6000003 010203 10"), c:hex())
    c.Data = ("\7"):rep(300)
    assert.equal(4, c.Type)
    assert.is_true(c:is_extended())
    assert.equal("00D6000000012C", X(c.Apdu:sub(1, 7)))
    assert.equal("0010", X(c.Apdu:sub(-2)))
    c.Data = nil
    assert.equal("00D6000010", c:hex())
    assert.equal(2, c.Type)
    c.Data = "\9"
    assert.equal(1, c.P3)
    assert.equal(4, c.Type)
  end)

  it("refuses writes to read-only members, naming them", function()
    local c = built(0, 0xA4)
    for _, k in ipairs { "ApduLength", "LeField", "P3", "ReplyStatusSW1", "ReplyStatusSW2", "Type", "ReplyData" } do
      raises_here("iscard%.ISCardCmd%." .. k .. " is read%-only", function() c[k] = 1 end)
    end
    raises_here("iscard%.ISCardCmd%.BuildCmd is read%-only", function() c.BuildCmd = print end)
  end)

  it("refuses unknown members on write and on read", function()
    local c = cmdm.new()
    raises_here("has no member 'Replystatus'", function() c.Replystatus = 1 end)
    raises_here("has no member 'Replystatus'", function() return c.Replystatus end)
    raises_here("has no member '1'", function() c[1] = 1 end)
  end)

  it("range-checks byte properties", function()
    local c = cmdm.new()
    for _, k in ipairs { "ClassId", "InstructionId", "P1", "P2", "Nad" } do
      raises_here(k .. ": integer 0..255 expected, got integer 256", function() c[k] = 256 end)
      raises_here(k .. ": integer 0..255 expected, got nil", function() c[k] = nil end)
      c[k] = 255
      assert.equal(255, c[k])
    end
    raises_here("Data: at most 65535 bytes", function() c.Data = ("x"):rep(65536) end)
    raises_here("AlternateClassId: integer 0..255 expected, got integer %-1", function() c.AlternateClassId = -1 end)
    raises_here("ReplyNad: integer 0..255 expected, got string", function() c.ReplyNad = "1" end)
  end)

  it("keeps AlternateClassId unset until written, and unsets it with nil", function()
    local c = cmdm.new()
    assert.is_nil(c.AlternateClassId)
    c.AlternateClassId = 0
    assert.equal(0, c.AlternateClassId)
    c.AlternateClassId = nil
    assert.is_nil(c.AlternateClassId)
    c.ReplyNad = 0x21
    assert.equal(0x21, c.ReplyNad)
  end)

  it("shows case, bytes and status in tostring", function()
    local c = built(0x00, 0xA4, 0x04, 0x00, H "A0000000031010", 0)
    assert.equal("iscard.ISCardCmd (case 4S: 00 A4 04 00 07 A0 00 00 00 03 10 10 00)", tostring(c))
    c.ApduReply = H "6A82"
    assert.equal("iscard.ISCardCmd (case 4S: 00 A4 04 00 07 A0 00 00 00 03 10 10 00; reply 6A82)", tostring(c))
    c:BuildCmd(0, 0xD6, 0, 0, ("\0"):rep(300))
    assert.matches("^iscard%.ISCardCmd %(case 3E: 00 D6 00 00 00 01 2C 00 00 00 00 00 00 00 00 00"
      .. " %.%.%. %(307 bytes%)%)$", tostring(c))
    assert.equal("iscard.ISCardCmd", getmetatable(c).__name)
  end)
end)

describe("ISCardCmd reply", function()
  it("splits a reply into data and status", function()
    local c = built(0, 0xB0, 0, 0, nil, 3)
    c.ApduReply = H "010203 9000"
    assert.equal(0x9000, c.ReplyStatus)
    assert.equal(0x90, c.ReplyStatusSW1)
    assert.equal(0x00, c.ReplyStatusSW2)
    assert.equal("\1\2\3", c.ReplyData)
    assert.equal(5, c.ApduReplyLength)
    assert.equal("0102039000", c:reply_hex())
  end)

  it("takes a status-only reply", function()
    local c = cmdm.new()
    c.ApduReply = H "6A82"
    assert.equal(0x6A82, c.ReplyStatus)
    assert.equal("", c.ReplyData)
  end)

  it("refuses a 1-byte reply and clears with '' or nil", function()
    local c = cmdm.new()
    raises_here("ApduReply: a reply of 1 byte is malformed", function() c.ApduReply = "\144" end)
    c.ApduReply = H "9000"
    c.ApduReply = nil
    assert.is_nil(c.ReplyStatus)
    raises_here("ApduReply: binary string expected, got integer 36864", function() c.ApduReply = 0x9000 end)
  end)

  it("writes ReplyStatus over the status word, keeping the data", function()
    local c = cmdm.new()
    c.ReplyStatus = 0x6283
    assert.equal("6283", c:reply_hex())
    c.ApduReply = H "AABB 9000"
    c.ReplyStatus = 0x6A82
    assert.equal("AABB6A82", c:reply_hex())
    raises_here("ReplyStatus: integer 0..65535 expected, got integer 65536", function() c.ReplyStatus = 0x10000 end)
  end)

  it("truncates data, not the status word, through ApduReplyLength", function()
    local c = cmdm.new()
    c.ApduReply = H "01020304 9000"
    c.ApduReplyLength = 4
    assert.equal("01029000", c:reply_hex())
    c.ApduReplyLength = 2
    assert.equal("9000", c:reply_hex())
    raises_here("ApduReplyLength: integer 0..2 expected, got integer 3", function() c.ApduReplyLength = 3 end)
    raises_here("ApduReplyLength: 1 would cut the status word", function() c.ApduReplyLength = 1 end)
    c.ApduReplyLength = 0
    assert.equal("", c.ApduReply)
    assert.is_nil(c.ReplyStatus)
  end)

  it("is cleared by BuildCmd and Clear, kept by field edits", function()
    local c = built(0, 0xB0, 0, 0, nil, 1)
    c.ApduReply = H "01 9000"
    c.P2 = 1
    assert.equal("019000", c:reply_hex())
    c:BuildCmd(0, 0xB0)
    assert.equal("", c.ApduReply)
  end)
end)

describe("ISCardCmd.Clear", function()
  it("empties command and reply, keeps Nad and AlternateClassId", function()
    local c = built(0x00, 0xA4, 4, 0, "\1", 0)
    c.ApduReply = H "9000"
    c.Nad = 0x12
    c.AlternateClassId = 0x80
    c.ReplyNad = 5
    assert.equal(c, c:Clear())
    assert.equal("", c.Apdu)
    assert.equal("", c.ApduReply)
    assert.is_nil(c.Type)
    assert.is_nil(c.ReplyNad)
    assert.equal(0x12, c.Nad)
    assert.equal(0x80, c.AlternateClassId)
    -- nothing of the old command survives into the next one
    assert.is_nil(c.LeField)
    assert.equal("", c.Data)
    c.InstructionId = 0xB0
    assert.equal("00B00000", c:hex())
  end)
end)

describe("ISCardCmd.Encapsulate", function()
  it("wraps a case 2 APDU in ENVELOPE with Le 00", function()
    local c = cmdm.new()
    assert.equal(c, c:Encapsulate(H "00B0000010", 2))
    assert.equal(X(H "00C2000005 00B0000010 00"), c:hex())
    assert.equal(0xC2, c.InstructionId)
    assert.equal(4, c.Type)
    assert.equal(0, c.LeField)
  end)

  it("gives a case 1/3 APDU an ENVELOPE without Le", function()
    assert.equal(X(H "00C2000004 00A40000"), cmdm.new():Encapsulate(H "00A40000", 1):hex())
    assert.equal("00C2000007" .. "00D6000002AABB", cmdm.new():Encapsulate(H "00D6000002AABB", 3):hex())
  end)

  it("derives CLA from the wrapped APDU (channel kept, SM and chaining dropped)", function()
    assert.equal(0x01, cmdm.new():Encapsulate(H "0DB0000010").ClassId) -- SM bits, channel 1
    assert.equal(0x03, cmdm.new():Encapsulate(H "13B0000010").ClassId) -- chaining bit, channel 3
    assert.equal(0x4D, cmdm.new():Encapsulate(H "7DB0000010").ClassId) -- further class, channel 17
    assert.equal(0x84, cmdm.new():Encapsulate(H "84B0000010").ClassId) -- proprietary: unchanged
    assert.equal(0xA0, cmdm.new():Encapsulate(H "A0B0000010").ClassId)
  end)

  it("uses AlternateClassId when set", function()
    local c = cmdm.new()
    c.AlternateClassId = 0x80
    assert.equal(0x80, c:Encapsulate(H "00B0000010", 2).ClassId)
  end)

  it("goes extended for a long APDU", function()
    local inner = cmdm.encode(0, 0xD6, 0, 0, ("x"):rep(300))
    local c = cmdm.new():Encapsulate(inner, 3)
    assert.is_true(c:is_extended())
    assert.equal(inner, c.Data)
  end)

  it("checks the APDU and its type", function()
    local c = cmdm.new()
    raises_here("Encapsulate: the APDU is ISO case 2, not case 4", function() c:Encapsulate(H "00B0000010", 4) end)
    raises_here("Encapsulate: type: integer 1..4 expected, got integer 5",
      function() c:Encapsulate(H "00B0000010", 5) end)
    raises_here("Encapsulate: malformed APDU: 3 bytes", function() c:Encapsulate(H "00B000", 1) end)
    raises_here("Encapsulate: binary string expected, got nil", function() c:Encapsulate(nil, 1) end)
    local big = cmdm.encode(0, 0xD6, 0, 0, ("x"):rep(65535))
    raises_here("does not fit in one ENVELOPE", function() c:Encapsulate(big, 3) end)
  end)
end)

describe("cmd.transport_cla", function()
  it("keeps channels, drops SM and chaining bits, leaves proprietary classes alone", function()
    local t = cmdm.transport_cla
    assert.equal(0x00, t(0x00))
    assert.equal(0x00, t(0x10))
    assert.equal(0x00, t(0x0C))
    assert.equal(0x03, t(0x1F))
    assert.equal(0x40, t(0x70))
    assert.equal(0x4F, t(0x7F))
    assert.equal(0x80, t(0x80))
    assert.equal(0xA0, t(0xA0))
    assert.equal(0x94, t(0x94))
  end)
end)

-- The argument checks of BuildCmd, the builders and the byte properties
-- look values up in tables first and fall back to util's checks for the
-- message: they accept exactly what util.int accepts, give back the same
-- integers, and check in the same order.
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
