-- iscard.tlv: BER-TLV and SIMPLE-TLV (pure Lua, no card).
local tlv = require "iscard.tlv"
local util = require "iscard.util"

local H = util.fromhex

-- An FCI as a payment card answers SELECT: nested constructed objects,
-- two-byte tags (9F38, 5F2D, BF0C), an empty constructed one.
local FCI = H [[
  6F 22
     84 07 A0000000031010
     A5 17
        50 04 56495341
        9F38 03 9F1A02
        BF0C 00
        5F2D 02 656E
        87 01 01
]]

describe("tlv.decode", function()
  it("decodes nested constructed objects with multi-byte tags and offsets", function()
    local nodes = assert(tlv.decode(FCI))
    assert.are.equal(1, #nodes)
    local fci = nodes[1]
    assert.are.equal(0x6F, fci.tag)
    assert.is_true(fci.constructed)
    assert.are.equal(1, fci.offset)
    assert.are.equal(FCI:sub(3), fci.value)
    local aid, a5 = fci.children[1], fci.children[2]
    assert.are.same({ tag = 0x84, constructed = false, value = H "A0000000031010", offset = 3 }, aid)
    assert.are.equal(0xA5, a5.tag)
    assert.are.equal(12, a5.offset)
    local pdol = a5.children[2]
    assert.are.equal(0x9F38, pdol.tag)
    assert.is_false(pdol.constructed)
    assert.are.equal(20, pdol.offset)
    assert.are.same({ tag = 0xBF0C, constructed = true, value = "", children = {}, offset = 26 }, a5.children[3])
    assert.are.equal(0x5F2D, a5.children[4].tag)
    assert.are.equal("en", a5.children[4].value)
    assert.are.same({}, assert(tlv.decode("")))
  end)

  it("reads long-form lengths of 1 to 4 bytes, also non-minimal ones", function()
    local v = ("x"):rep(300)
    for _, head in ipairs { "04 81 FF", "04 82 01 2C", "04 83 00 01 2C", "04 84 00 00 01 2C" } do
      local want = head == "04 81 FF" and v:sub(1, 255) or v
      local nodes = assert(tlv.decode(H(head) .. want))
      assert.are.equal(#want, #nodes[1].value)
    end
    assert.are.equal(5, #assert(tlv.decode(H "04 81 05 0102030405"))[1].value)
  end)

  it("refuses indefinite and too long lengths, long tags, stray padding", function()
    assert.are.same({ nil, "tag 24: indefinite length (80) not allowed", 1 }, { tlv.decode(H "24 80 00 00") })
    assert.are.same({ nil, "tag 4: length byte 85 (more than 4 length bytes)", 1 },
      { tlv.decode(H "04 85 0000000001 00") })
    assert.are.same({ nil, "tag longer than 4 bytes", 1 }, { tlv.decode(H "1F 81 82 83 04 00") })
    assert.are.same({ 0x1F818203 }, { assert(tlv.decode(H "1F 81 82 03 00"))[1].tag })
    assert.are.same({ nil, "byte 00 where a tag is expected (padding is allowed only with opts.padding)", 3 },
      { tlv.decode(H "80 00 00 80 00") })
  end)

  it("checks a child against its parent, not only against the input", function()
    -- A5 says 3 bytes, its child 50 says 4: the child would run past A5 into
    -- the bytes after it
    assert.are.same({ nil, "tag 50: length 4, only 1 byte left", 3 }, { tlv.decode(H "A5 03 50 04 41 42 43 44") })
  end)

  it("rejects every truncation of a valid input, at the offset of the object cut", function()
    local two = FCI .. H "9F 36 02 00 01" -- a second top-level object at offset 38
    for n = 1, #two - 1 do
      local nodes, msg, at = tlv.decode(two:sub(1, n))
      if n == #FCI then
        assert.is_table(nodes)
      else
        assert.is_nil(nodes, n)
        assert.is_string(msg)
        assert.are.equal(n < #FCI and 1 or #FCI + 1, at, "cut at " .. n .. ": " .. msg)
      end
    end
    assert.are.same({ nil, "length of tag 84 missing", 1 }, { tlv.decode(H "84") })
    assert.are.same({ nil, "tag truncated", 1 }, { tlv.decode(H "9F") })
    assert.are.same({ nil, "tag 84: length truncated", 1 }, { tlv.decode(H "84 82 01") })
  end)

  it("skips 00 and FF between objects with opts.padding", function()
    local nodes = assert(tlv.decode(H "00 FF 84 01 41 00 00 85 00 FF", { padding = true }))
    assert.are.equal(2, #nodes)
    assert.are.equal(3, nodes[1].offset)
    assert.are.equal(8, nodes[2].offset)
    local inside = assert(tlv.decode(H "6F 05 00 84 01 41 FF", { padding = true }))
    assert.are.equal(1, #inside[1].children)
  end)

  it("keeps a constructed object whose value is not TLV with opts.lenient", function()
    local bad = H "6F 02 01 05 84 01 41" -- 01 05 inside 6F runs past it
    assert.are.same({ nil, "tag 1: length 5, only 0 bytes left", 3 }, { tlv.decode(bad) })
    local nodes = assert(tlv.decode(bad, { lenient = true }))
    assert.are.equal(2, #nodes)
    assert.is_false(nodes[1].constructed)
    assert.is_nil(nodes[1].children)
    assert.are.equal(H "01 05", nodes[1].value)
    assert.are.equal("tag 1: length 5, only 0 bytes left (at 3)", nodes[1].err)
    assert.are.equal(0x84, nodes[2].tag)
  end)

  it("limits nesting depth instead of overflowing the stack", function()
    -- 200 levels of 30 (constructed), each wrapping the previous one
    local deep = ""
    for _ = 1, 200 do
      local n = #deep
      local len = n < 128 and string.char(n) or (n < 256 and "\129" .. string.char(n) or
        "\130" .. string.char(math.floor(n / 256), n % 256))
      deep = "\48" .. len .. deep
    end
    local nodes, msg = tlv.decode(deep)
    assert.is_nil(nodes)
    assert.matches("nested deeper than " .. tlv.MAX_DEPTH, msg)
  end)

  it("raises only for a non-string or bad options", function()
    assert.has_error(function() tlv.decode(nil) end, "tlv.decode: string expected, got nil")
    assert.has_error(function() tlv.decode("", { strict = true }) end, "tlv.decode: unknown option 'strict'")
    assert.has_error(function() tlv.decode("", 1) end)
  end)
end)

describe("tlv.encode", function()
  it("gives back every minimally encoded input: encode(decode(x)) == x", function()
    for _, x in ipairs {
      FCI, "", H "84 00", H "04 81 80" .. ("a"):rep(128), H "04 82 01 00" .. ("b"):rep(256),
      H "1F 81 82 03 00", H "DF 7F 01 00 9F 02 00",
    } do
      assert.are.equal(util.tohex(x), util.tohex(tlv.encode(assert(tlv.decode(x)))))
    end
  end)

  it("writes minimal lengths from values or children", function()
    assert.are.equal(H "04 81 FF", tlv.encode { { tag = 4, value = ("z"):rep(255) } }:sub(1, 3))
    assert.are.equal(H "04 82 01 00", tlv.encode { { tag = 4, value = ("z"):rep(256) } }:sub(1, 4))
    assert.are.equal(H "04 81 FF", tlv.encode(assert(tlv.decode(H "04 82 00 FF" .. ("z"):rep(255)))):sub(1, 3))
    assert.are.equal(H "6F 05 9F38 02 0102 84 00",
      tlv.encode { { tag = 0x6F, children = { { tag = 0x9F38, value = H "0102" } } }, { tag = 0x84 } })
  end)

  it("raises on a tag that is not a well-formed tag", function()
    for _, bad in ipairs { 0, 0x9F, 0x1F, 0x9F80, 0x9F8081, 0x0101, 0x100000000, 1.5, "84" } do
      assert.has_error(function() tlv.encode { { tag = bad } } end)
    end
    assert.has_error(function() tlv.encode { { tag = 4, value = 5 } } end)
    assert.has_error(function() tlv.encode(5) end)
  end)
end)

local function deep(depth, leaf)
  if depth == 0 then return leaf end
  return { { tag = 0x30, children = deep(depth - 1, leaf) } }
end

describe("tlv.encode refuses what decode refuses", function()
  it("refuses a first tag byte FF, children under a primitive tag, a constructed value that is not TLV", function()
    for _, bad in ipairs { 0xFF01, 0xFF8101, 0xFF818101 } do
      assert.has_error(function() tlv.encode { { tag = bad } } end, ("tlv.encode: bad tag %X"):format(bad))
    end
    assert.has_error(function() tlv.encode { { tag = 0x84, children = {} } } end,
      "tlv.encode: tag 84 is primitive (bit 6 of its first byte clear): it cannot have children")
    assert.has_error(function() tlv.encode { { tag = 0x6F, value = H "84 05 01" } } end,
      "tlv.encode: tag 6F is constructed and its value is not BER-TLV: tag 84: length 5, only 1 byte left (at 1)")
    assert.are.equal(H "6F 03 84 01 01", tlv.encode { { tag = 0x6F, value = H "84 01 01" } })
  end)

  it("nests exactly as deep as decode reads", function()
    local s = tlv.encode(deep(tlv.MAX_DEPTH, { { tag = 0x84, value = "x" } }))
    assert.is_truthy(tlv.decode(s))
    -- one constructed object more: decode refuses it, and so does encode
    local bytes = H "30 00"
    for _ = 1, tlv.MAX_DEPTH do bytes = "\48" .. (#bytes < 128 and "" or "\129") .. string.char(#bytes) .. bytes end
    local nodes, msg = tlv.decode(bytes)
    assert.is_nil(nodes)
    assert.matches("nested deeper than " .. tlv.MAX_DEPTH, msg)
    assert.has_error(function() tlv.encode(deep(tlv.MAX_DEPTH, { { tag = 0x30 } })) end,
      "tlv.encode: tag 30: nested deeper than " .. tlv.MAX_DEPTH)
    assert.has_error(function() tlv.encode(deep(tlv.MAX_DEPTH - 1, { { tag = 0x30, value = H "30 00" } })) end)
  end)
end)

describe("tlv.find", function()
  it("finds the first node on a path, trying every branch", function()
    local nodes = assert(tlv.decode(FCI))
    assert.are.equal("VISA", tlv.find(nodes, "6F/A5/50").value)
    assert.are.equal(H "9F1A02", tlv.find(nodes, "6f/a5/9f38").value)
    assert.are.equal(0x6F, tlv.find(nodes, "6F").tag)
    assert.is_nil(tlv.find(nodes, "6F/50"))
    assert.is_nil(tlv.find(nodes, "A5"))
    local two = assert(tlv.decode(H "70 03 5A 01 11 70 03 57 01 22"))
    assert.are.equal(H "22", tlv.find(two, "70/57").value) -- in the second 70
    assert.has_error(function() tlv.find(nodes, "6F//50") end)
    assert.has_error(function() tlv.find(nodes, "xyz") end)
    assert.has_error(function() tlv.find(nil, "6F") end)
  end)
end)

describe("tlv.simple_decode", function()
  it("decodes 1- and 3-byte lengths", function()
    local nodes = assert(tlv.simple_decode(H "01 02 AABB 02 FF 0003 CCDDEE 03 00"))
    assert.are.same({
      { tag = 1, value = H "AABB", offset = 1 },
      { tag = 2, value = H "CCDDEE", offset = 5 },
      { tag = 3, value = "", offset = 12 },
    }, nodes)
    assert.are.equal(300, #assert(tlv.simple_decode(H "05 FF 012C" .. ("q"):rep(300)))[1].value)
  end)

  it("rejects invalid tags and every truncation, at the object's offset", function()
    assert.are.same({ nil, "invalid SIMPLE-TLV tag 00", 1 }, { tlv.simple_decode(H "00 00") })
    assert.are.same({ nil, "invalid SIMPLE-TLV tag FF", 3 }, { tlv.simple_decode(H "01 00 FF 00") })
    local x = H "01 02 AABB 02 FF 0003 CCDDEE"
    for n = 1, #x - 1 do
      local nodes, _, at = tlv.simple_decode(x:sub(1, n))
      if n == 4 then
        assert.is_table(nodes)
      else
        assert.is_nil(nodes)
        assert.are.equal(n < 4 and 1 or 5, at)
      end
    end
    assert.has_error(function() tlv.simple_decode({}) end)
  end)
end)
