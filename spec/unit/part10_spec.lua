-- PC/SC part 10 and attributes, pure byte work: golden bytes, parsers.
local iscard = require "iscard"
local part10 = iscard.part10
local hex, fromhex = iscard.tohex, iscard.fromhex

describe("iscard.ctl_code", function()
  it("computes both formulas, the build's by default", function()
    assert.are.equal(0x42000D48, iscard.ctl_code(3400, "pcsc-lite"))
    assert.are.equal(0x313520, iscard.ctl_code(3400, "windows"))
    assert.are.equal(0x42000001, iscard.ctl_code(1, "pcsc-lite"))
    assert.are.equal(0x310004, iscard.ctl_code(1, "windows"))
    assert.are.equal(0x313FFC, iscard.ctl_code(4095, "windows"))
    assert.are.equal(iscard.ctl_code(3400, "pcsc-lite"), iscard.ctl_code(3400))
  end)
  it("raises for a function number out of 0..4095 or an unknown formula", function()
    assert.has_error(function() iscard.ctl_code(-1) end)
    assert.has_error(function() iscard.ctl_code(4096) end)
    assert.has_error(function() iscard.ctl_code(1, "macos") end)
  end)
end)

-- The sample structures of part 10 as programs reproduce them (the CCID
-- driver's example program, after the specification): ASCII PIN of 4..8
-- digits, validation key, English prompts; bytes worked out by hand.
local VERIFY_FIELDS = {
  format_string = 0x82, pin_block_string = 0x04, pin_length_format = 0x00,
  min_digits = 4, max_digits = 8, entry_validation = 0x02, number_message = 1,
  lang_id = 0x0409, apdu = fromhex("00 20 00 00 08 30 30 30 30 00 00 00 00"),
}
local VERIFY_BYTES = "00 00 82 04 00 08 04 02 01 09 04 00 00 00 00 0D 00 00 00 "
  .. "00 20 00 00 08 30 30 30 30 00 00 00 00"
local MODIFY_FIELDS = {
  format_string = 0x82, pin_block_string = 0x04, insertion_offset_new = 4,
  min_digits = 4, max_digits = 8, confirm_pin = 0x03, entry_validation = 0x02,
  number_message = 3, lang_id = 0x0409, msg_index1 = 0, msg_index2 = 1, msg_index3 = 2,
  apdu = fromhex("00 24 00 00 08 30 30 30 30 30 30 30 30"),
}
local MODIFY_BYTES = "00 00 82 04 00 00 04 08 04 03 02 03 09 04 00 01 02 00 00 00 "
  .. "0D 00 00 00 00 24 00 00 08 30 30 30 30 30 30 30 30"

-- t with every number of the layout present (what the parsers return)
local function filled(t, names)
  local r = { teo_prologue = "\0\0\0" }
  for _, n in ipairs(names) do r[n] = 0 end
  for k, v in pairs(t) do r[k] = v end
  return r
end
local COMMON = { "timeout", "timeout2", "format_string", "pin_block_string",
  "pin_length_format", "min_digits", "max_digits", "entry_validation",
  "number_message", "lang_id" }
local VERIFY_NAMES = { "msg_index" }
local MODIFY_NAMES = { "msg_index1", "msg_index2", "msg_index3",
  "insertion_offset_old", "insertion_offset_new", "confirm_pin" }
for _, n in ipairs(COMMON) do
  VERIFY_NAMES[#VERIFY_NAMES + 1] = n
  MODIFY_NAMES[#MODIFY_NAMES + 1] = n
end

describe("part10.verify_pin / modify_pin", function()
  for _, case in ipairs({
    { "verify", 19, VERIFY_FIELDS, VERIFY_BYTES, VERIFY_NAMES },
    { "modify", 24, MODIFY_FIELDS, MODIFY_BYTES, MODIFY_NAMES },
  }) do
    local kind, header, fields, golden, names = case[1], case[2], case[3], case[4], case[5]
    it("builds the part 10 " .. kind .. " sample, " .. header .. "-byte header + APDU, and reads it back", function()
      local s = part10[kind .. "_pin"](fields)
      assert.are.equal(golden, hex(s, " "))
      assert.are.equal(header + 13, #s)
      assert.are.same(filled(fields, names), part10["parse_" .. kind .. "_pin"](s))
    end)
  end

  it("writes every field at its offset, multi-byte ones little-endian", function()
    local s = part10.verify_pin({ timeout = 1, timeout2 = 2, format_string = 3,
      pin_block_string = 4, pin_length_format = 5, min_digits = 6, max_digits = 7,
      entry_validation = 8, number_message = 9, lang_id = 0x0B0A, msg_index = 12,
      teo_prologue = "\13\14\15", apdu = "\0\32\0\1" })
    assert.are.equal("01 02 03 04 05 07 06 08 09 0A 0B 0C 0D 0E 0F 04 00 00 00 00 20 00 01",
      hex(s, " "))
    local m = part10.modify_pin({ timeout = 1, timeout2 = 2, format_string = 3,
      pin_block_string = 4, pin_length_format = 5, insertion_offset_old = 6,
      insertion_offset_new = 7, min_digits = 8, max_digits = 9, confirm_pin = 10,
      entry_validation = 11, number_message = 12, lang_id = 0x0E0D, msg_index1 = 15,
      msg_index2 = 16, msg_index3 = 17, teo_prologue = "\18\19\20", apdu = "\0\36\0\1" })
    assert.are.equal("01 02 03 04 05 06 07 09 08 0A 0B 0C 0D 0E 0F 10 11 12 13 14 "
      .. "04 00 00 00 00 24 00 01", hex(m, " "))
  end)

  it("raises on misuse: unknown field, out-of-range number, bad apdu or prologue", function()
    local function try(t) return function() part10.verify_pin(t) end end
    assert.has_error(try({ apdu = "\0\32\0\0", bogus = 1 }), "verify_pin: unknown field 'bogus'")
    assert.has_error(try({ apdu = "\0\32\0\0", timeout = 256 }))
    assert.has_error(try({ apdu = "\0\32\0\0", lang_id = 65536 }))
    assert.has_error(try({ apdu = "\0\32\0\0", min_digits = -1 }))
    assert.has_error(try({ apdu = "\0\32\0\0", max_digits = 1.5 }))
    assert.has_error(try({ apdu = "\0\32\0" }))
    assert.has_error(try({}))
    assert.has_error(try({ apdu = "\0\32\0\0", teo_prologue = "\0\0" }))
    assert.has_error(function() part10.modify_pin({ apdu = "\0\36\0\0", msg_index = 1 }) end)
    assert.has_error(function() part10.verify_pin("x") end)
  end)

  it("parsers refuse short structures and a wrong ulDataLength", function()
    local s = part10.verify_pin(VERIFY_FIELDS)
    assert.is_nil((part10.parse_verify_pin(s:sub(1, 18))))
    assert.is_nil((part10.parse_verify_pin(s .. "\0")))
    assert.is_nil((part10.parse_verify_pin(s:sub(1, -2))))
    assert.is_nil((part10.parse_modify_pin(s)))
    local t, msg = part10.parse_modify_pin(part10.modify_pin(MODIFY_FIELDS):sub(1, 23))
    assert.is_nil(t)
    assert.matches("header", msg)
  end)
end)

describe("part10.parse_features", function()
  it("decodes 6-byte TLVs with big-endian codes, names known tags", function()
    local f = assert(part10.parse_features(fromhex("06 04 42 33 00 06 07 04 42 33 00 07 12 04 42 33 00 12")))
    assert.are.same({ verify_pin_direct = 0x42330006, modify_pin_direct = 0x42330007,
      get_tlv_properties = 0x42330012 }, f)
  end)
  it("knows every part 10 tag and keeps unknown ones under their number", function()
    local f = assert(part10.parse_features(fromhex("0A 04 00 00 00 0A 13 04 00 00 00 13 "
      .. "20 04 00 00 00 20 01 04 00 00 00 01 7F 04 01 02 03 04")))
    assert.are.equal(10, f.ifd_pin_properties)
    assert.are.equal(0x13, f.ccid_esc_command)
    assert.are.equal(0x20, f.execute_pace)
    assert.are.equal(1, f.verify_pin_start)
    assert.are.equal(0x01020304, f[0x7F])
  end)
  it("keeps the first of duplicate tags", function()
    assert.are.same({ verify_pin_direct = 1 },
      part10.parse_features(fromhex("06 04 00 00 00 01 06 04 00 00 00 02")))
  end)
  it("gives {} for an empty reply, nil and a message for truncated or bad TLVs", function()
    assert.are.same({}, part10.parse_features(""))
    local t, msg = part10.parse_features(fromhex("06 04 42 33 00"))
    assert.is_nil(t)
    assert.matches("6%-byte", msg)
    t, msg = part10.parse_features(fromhex("06 03 42 33 00 06"))
    assert.is_nil(t)
    assert.matches("length 3", msg)
  end)
end)

describe("part10.parse_properties", function()
  it("decodes little-endian values sized by their length, firmware as text", function()
    local p = assert(part10.parse_properties(fromhex(
      "01 02 10 02 02 01 07 03 01 00 04 02 10 00 05 01 02 06 01 04 07 01 08 "
      .. "08 03 41 42 43 09 01 01 0A 04 00 00 01 00 0B 02 E6 08 0C 02 34 12")))
    assert.are.same({ lcd_layout = 0x0210, entry_validation_condition = 7, timeout2 = 0,
      lcd_max_characters = 16, lcd_max_lines = 2, min_pin_size = 4, max_pin_size = 8,
      firmware_id = "ABC", ppdu_support = 1, max_apdu_data_size = 65536,
      id_vendor = 0x08E6, id_product = 0x1234, raw = {} }, p)
  end)
  it("keeps unknown tags as bytes in raw, the first of duplicates", function()
    local p = assert(part10.parse_properties(fromhex("0A 04 00 00 01 00 0A 01 05 55 02 AB CD 55 00")))
    assert.are.equal(65536, p.max_apdu_data_size)
    assert.are.same({ [0x55] = fromhex("AB CD") }, p.raw)
  end)
  it("gives nil and a message for truncated TLVs and empty numbers", function()
    assert.is_nil((part10.parse_properties(fromhex("0A"))))
    assert.is_nil((part10.parse_properties(fromhex("0A 04 00 00 01"))))
    assert.is_nil((part10.parse_properties(fromhex("0A 00"))))
    assert.are.same({ raw = {} }, part10.parse_properties(""))
  end)
  it("pin properties: the 4-byte structure", function()
    assert.are.same({ lcd_layout = 0x0210, entry_validation_condition = 7, timeout2 = 1 },
      part10.parse_pin_properties(fromhex("10 02 07 01")))
    assert.is_nil((part10.parse_pin_properties(fromhex("10 02 07"))))
  end)
end)

describe("iscard.attributes", function()
  local A = iscard.attributes
  it("maps reader.h's names to ids and back", function()
    assert.are.equal(0x10100, A.VENDOR_NAME)
    assert.are.equal(0x10102, A.VENDOR_IFD_VERSION)
    assert.are.equal(0x20110, A.CHANNEL_ID)
    assert.are.equal(0x7A007, A.MAXINPUT)
    assert.are.equal(0x90303, A.ATR_STRING)
    assert.are.equal(0x7FFF0004, A.DEVICE_SYSTEM_NAME_A)
    assert.are.equal("DEVICE_FRIENDLY_NAME_A", A[0x7FFF0003])
    assert.are.equal("ICC_PRESENCE", A[0x90300])
  end)
  it("decodes strings, integers, the version and the channel", function()
    local at = require "iscard.attributes"
    assert.are.equal("ACME", at.decode(A.VENDOR_NAME, "ACME\0"))
    assert.are.equal(0x0102, at.decode(A.MAXINPUT, "\2\1\0\0"))
    assert.are.equal(2, at.decode(A.ICC_PRESENCE, "\2"))
    assert.are.same({ major = 1, minor = 5, build = 0x0203 },
      at.decode(A.VENDOR_IFD_VERSION, fromhex("03 02 05 01")))
    assert.are.same({ type = "usb", code = 0x20, channel = 0x0307, bus = 3, address = 7 },
      at.decode(A.CHANNEL_ID, fromhex("07 03 20 00")))
    assert.are.same({ type = 0x99, code = 0x99, channel = 1 },
      at.decode(A.CHANNEL_ID, fromhex("01 00 99 00")))
    assert.are.equal("\1\2", at.decode(A.VENDOR_IFD_VERSION, "\1\2"))
    assert.are.equal("\59\0", at.decode(A.ATR_STRING, "\59\0"))
    assert.are.equal("", at.decode(A.MAXINPUT, ""))
  end)
end)
