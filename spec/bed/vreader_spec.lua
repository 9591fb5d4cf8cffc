-- The virtual reader (src/ifd/, the pcscd driver libifd-iscard.so) in the
-- test bed: two PIN-pad slots next to vpcd, the card spec/cards/pinpad.lua
-- in each, scripted through the control socket.  Its part 10 features and
-- properties, PIN entry into every kind of APDU template (the card's
-- journal shows the exact command it received), timeout and cancel,
-- attributes, and a reader unplugged.
local iscard = require "iscard"
local bed = require "support.bed"
local vr = require "support.vreader"
local cli = require "support.cli"
if not vr.up then return pending(vr.needed()) end

local vreader = require "iscard.vreader"
local hex, fromhex = bed.hex, vr.fromhex
local E = iscard.errors

-- The verify structure of the fields given, with an APDU template in hex.
local function verify(t, apdu_hex)
  t.apdu = fromhex(apdu_hex)
  t.timeout = t.timeout or 5
  t.entry_validation = t.entry_validation or 2
  return t
end

describe("the virtual reader", function()
  local card
  setup(vr.start)
  teardown(vr.stop)
  before_each(function() card = vr.attach(0) end)
  after_each(function() if card then card:close() end end)

  describe("part 10", function()
    it("offers the PIN pad's four features, their codes in pcsc-lite's form", function()
      local f = card:features()
      for name, tag in pairs({ verify_pin_direct = 6, modify_pin_direct = 7,
                               ifd_pin_properties = 10, get_tlv_properties = 18 }) do
        assert.are.equal(iscard.ctl_code(3500 + tag), f[name], name)
      end
    end)

    it("answers GET_FEATURE_REQUEST in Windows' form with Windows' codes, which work", function()
      local reply = assert(card:control(iscard.ctl_code(3400, "windows")))
      local f = assert(iscard.part10.parse_features(reply))
      assert.are.equal(iscard.ctl_code(3506, "windows"), f.verify_pin_direct)
      local p = assert(card:control(iscard.ctl_code(3518, "windows")))
      assert.are.equal(4, #assert(card:control(f.ifd_pin_properties)))
      assert.are.equal(vr.option("id_vendor"), iscard.part10.parse_properties(p).id_vendor)
    end)

    it("properties() decodes what the reader.conf entry told the driver", function()
      local p = assert(card:properties())
      assert.are.equal(vr.option("lcd_layout"), p.lcd_layout)
      assert.are.equal(0x10, p.lcd_max_characters) -- the low byte of 0x0210
      assert.are.equal(0x02, p.lcd_max_lines)
      assert.are.equal(vr.option("min_pin_size"), p.min_pin_size)
      assert.are.equal(vr.option("max_pin_size"), p.max_pin_size)
      assert.are.equal(vr.option("id_vendor"), p.id_vendor)
      assert.are.equal(vr.option("id_product"), p.id_product)
      assert.are.equal(vr.option("max_apdu_data_size"), p.max_apdu_data_size)
      assert.are.equal(vr.option("firmware_id"), p.firmware_id)
      assert.are.equal(2, p.entry_validation_condition)
      assert.are.equal(0, p.timeout2)
    end)

    it("pin_properties() gives the LCD layout and the validation condition", function()
      assert.are.same({ lcd_layout = 0x0210, entry_validation_condition = 2, timeout2 = 0 },
                      assert(card:pin_properties()))
    end)

    it("refuses a structure whose ulDataLength does not match (SCARD_E_UNSUPPORTED_FEATURE)", function()
      local s = iscard.part10.verify_pin(verify({ format_string = 0x82, pin_block_string = 0x08,
        min_digits = 4, max_digits = 8 }, "00 20 00 81 08 FFFFFFFFFFFFFFFF"))
      vr.cmd("keypad 0 1234")
      local bad = s:sub(1, 15) .. "\9\0\0\0" .. s:sub(20)
      local r, msg, code = card:control(card:features().verify_pin_direct, bad)
      assert.is_nil(r)
      assert.are.equal(E.SCARD_E_UNSUPPORTED_FEATURE, code, msg)
      -- nothing was typed away: the entry is still there for the next one
      local reply = assert(card:verify_pin(iscard.part10.parse_verify_pin(s)))
      assert.are.equal("\144\0", reply)
      assert.are.same({ "002000810831323334FFFFFFFF" }, bed.journal(card))
    end)
  end)

  describe("verify_pin puts the typed PIN where the structure says", function()
    local cases = {
      { "ASCII, left, 8-byte block (OpenPGP)", "123456",
        { format_string = 0x82, pin_block_string = 0x08, min_digits = 6, max_digits = 8 },
        "00 20 00 81 08 FFFFFFFFFFFFFFFF", "0020008108313233343536FFFF" },
      { "ISO 9564 format 2: BCD from byte 1, 4-bit length at bit 4", "1234",
        { format_string = 0x89, pin_block_string = 0x47, pin_length_format = 0x04,
          min_digits = 4, max_digits = 12 },
        "00 20 00 01 08 20FFFFFFFFFFFFFF", "002000010824 1234FFFFFFFFFF" },
      { "ISO 9564 format 2, an odd number of digits", "12345",
        { format_string = 0x89, pin_block_string = 0x47, pin_length_format = 0x04,
          min_digits = 4, max_digits = 12 },
        "00 20 00 01 08 20FFFFFFFFFFFFFF", "002000010825 12345FFFFFFFFF" },
      { "BCD right-justified in the format 2 block", "12345",
        { format_string = 0x8D, pin_block_string = 0x47, pin_length_format = 0x04,
          min_digits = 4, max_digits = 12 },
        "00 20 00 01 08 20FFFFFFFFFFFFFF", "002000010825 FFFFFFFFF12345" },
      { "binary coding, a byte per digit", "1234",
        { format_string = 0x80, pin_block_string = 0x08, min_digits = 4, max_digits = 8 },
        "00 20 00 01 08 FFFFFFFFFFFFFFFF", "002000010801020304FFFFFFFF" },
      { "ASCII right-justified after one byte", "1234",
        { format_string = 0x8E, pin_block_string = 0x06, min_digits = 4, max_digits = 6 },
        "00 20 00 01 07 00 30303030 3030", "0020000107 00 3030 31323334" },
      { "positions in bits: BCD at bit 11, 4-bit length at bit 6", "12345",
        { format_string = 0x59, pin_block_string = 0x48, pin_length_format = 0x06,
          min_digits = 1, max_digits = 8 },
        "00 20 00 01 08 57A5303030303030", "0020000108 55 62 46 8A 30303030" },
      { "variable length: no block, the reader sets Lc (GnuPG style)", "123456",
        { format_string = 0x82, pin_block_string = 0x00, min_digits = 6, max_digits = 12 },
        "00 20 00 81", "0020008106313233343536" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        vr.cmd("keypad 0 " .. c[2])
        local reply, sw = card:verify_pin(verify(c[3], c[4]))
        assert.are.equal("\144\0", reply)
        assert.are.equal(0x9000, sw)
        assert.are.same({ (c[5]:gsub(" ", "")) }, bed.journal(card))
      end)
    end

    it("passes the card's answer on (63C2: wrong PIN)", function()
      vr.cmd("keypad 0 1234")
      local reply, sw = card:verify_pin(verify({ format_string = 0x82, pin_block_string = 0x04,
        min_digits = 4, max_digits = 4 }, "00 20 00 82 04 FFFFFFFF"))
      assert.are.equal("\99\194", reply)
      assert.are.equal(0x63C2, sw)
      assert.are.same({ "002000820431323334" }, bed.journal(card))
    end)

    it("takes an entry typed while it waits", function()
      local child = bed.spawn("spec/children/type_pin_later.lua", { vr.control })
      local reply = card:verify_pin(verify({ format_string = 0x82, pin_block_string = 0x04,
        min_digits = 4, max_digits = 4, timeout = 20 }, "00 20 00 81 04 FFFFFFFF"))
      assert.matches("typed", child.wait())
      assert.are.equal("\144\0", reply)
      assert.are.same({ "002000810434333231" }, bed.journal(card))
    end)
  end)

  describe("modify_pin", function()
    local function modify(t, apdu_hex)
      t.apdu = fromhex(apdu_hex)
      t.timeout = 5
      t.entry_validation = 2
      t.number_message = 3
      return t
    end

    it("puts old and new PIN at their offsets, the confirmation typed the same", function()
      vr.cmd("keypad 0 123456 654321 654321")
      local reply = card:modify_pin(modify({ format_string = 0x82, pin_block_string = 0x08,
        insertion_offset_old = 0, insertion_offset_new = 8, confirm_pin = 3,
        min_digits = 6, max_digits = 8 }, "00 24 00 81 10 FFFFFFFFFFFFFFFF FFFFFFFFFFFFFFFF"))
      assert.are.equal("\144\0", reply)
      assert.are.same({ "0024008110313233343536FFFF363534333231FFFF" }, bed.journal(card))
    end)

    it("takes the new PIN as its own confirmation when none is typed", function()
      vr.cmd("keypad 0 1234 5678")
      assert.are.equal("\144\0", card:modify_pin(modify({ format_string = 0x89,
        pin_block_string = 0x47, pin_length_format = 0x04, insertion_offset_old = 0,
        insertion_offset_new = 8, confirm_pin = 3, min_digits = 4, max_digits = 12 },
        "00 24 00 01 10 20FFFFFFFFFFFFFF 20FFFFFFFFFFFFFF")))
      assert.are.same({ "0024000110" .. "241234FFFFFFFFFF" .. "245678FFFFFFFFFF" }, bed.journal(card))
    end)

    it("a new PIN alone in a format 2 block (no old PIN asked)", function()
      vr.cmd("keypad 0 9876")
      assert.are.equal("\144\0", card:modify_pin(modify({ format_string = 0x89,
        pin_block_string = 0x47, pin_length_format = 0x04, insertion_offset_new = 0,
        confirm_pin = 1, min_digits = 4, max_digits = 12 }, "00 24 00 81 08 20FFFFFFFFFFFFFF")))
      assert.are.same({ "0024008108" .. "249876FFFFFFFFFF" }, bed.journal(card))
    end)

    it("a confirmation that differs gives 6402 and sends nothing", function()
      vr.cmd("keypad 0 123456 654321 111111")
      local reply, sw = card:modify_pin(modify({ format_string = 0x82, pin_block_string = 0x08,
        insertion_offset_old = 0, insertion_offset_new = 8, confirm_pin = 3,
        min_digits = 6, max_digits = 8 }, "00 24 00 81 10 FFFFFFFFFFFFFFFF FFFFFFFFFFFFFFFF"))
      assert.are.equal(0x6402, sw, hex(reply))
      assert.are.same({}, bed.journal(card))
    end)
  end)

  describe("without a PIN sent to the card", function()
    local structure = { format_string = 0x82, pin_block_string = 0x08, min_digits = 6,
                        max_digits = 8, timeout = 1 }
    local template = "00 20 00 81 08 FFFFFFFFFFFFFFFF"

    it("a keypad timeout gives 6400", function()
      vr.cmd("keypad 0 timeout")
      local reply, sw = card:verify_pin(verify(structure, template))
      assert.are.equal("\100\0", reply)
      assert.are.equal(0x6400, sw)
      assert.are.same({}, bed.journal(card))
    end)

    it("a cancel gives 6401", function()
      vr.cmd("keypad 0 cancel")
      local _, sw = card:verify_pin(verify(structure, template))
      assert.are.equal(0x6401, sw)
      assert.are.same({}, bed.journal(card))
    end)

    it("no keypad input times out after bTimerOut with 6400", function()
      local t0 = iscard.now and iscard.now() or os.time() * 1000
      local _, sw = card:verify_pin(verify(structure, template))
      assert.are.equal(0x6400, sw)
      assert.are.same({}, bed.journal(card))
      if iscard.now then assert.is_true(iscard.now() - t0 >= 900) end -- it waited
    end)

    it("a PIN shorter than the structure's minimum gives 6403", function()
      vr.cmd("keypad 0 12345")
      local _, sw = card:verify_pin(verify(structure, template))
      assert.are.equal(0x6403, sw)
      vr.cmd("keypad 0 123")
      _, sw = card:verify_pin(verify({ format_string = 0x82, pin_block_string = 0x08,
        min_digits = 1, max_digits = 8 }, template))
      assert.are.equal(0x6403, sw) -- below the reader's own min_pin_size (4)
      assert.are.same({}, bed.journal(card))
    end)
  end)

  describe("attributes", function()
    it("attrs() decodes the driver's defaults and the card's state", function()
      local a = assert(card:attrs())
      assert.are.equal("iscard", a.VENDOR_NAME)
      assert.are.equal("Virtual PIN Pad Reader", a.VENDOR_IFD_TYPE)
      assert.are.same({ major = 1, minor = 0, build = 0 }, a.VENDOR_IFD_VERSION)
      assert.are.equal("vreader-36000", a.VENDOR_IFD_SERIAL_NO)
      assert.are.same({ type = 0xF000, code = 0xF000, channel = 36000 }, a.CHANNEL_ID)
      assert.are.equal(65535, a.MAXINPUT)
      assert.are.equal("\59\128\128\1\1", a.ATR_STRING)
      assert.are.equal(2, a.ICC_PRESENCE)
      assert.are.equal(1, a.ICC_INTERFACE_STATUS)
      assert.are.equal(4000, a.DEFAULT_CLK)
      assert.are.equal(10752, a.DEFAULT_DATA_RATE)
      assert.are.equal(254, a.MAX_IFSD)
      assert.are.equal(2, a.CURRENT_PROTOCOL_TYPE) -- T=1, what pcscd set
      assert.are.equal(card.Protocol, a.CURRENT_PROTOCOL_TYPE)
      assert.are.equal(vr.readers[1], a.DEVICE_FRIENDLY_NAME_A)
      assert.is_nil(a.POWER_MGMT_SUPPORT) -- the rest: no tag
    end)

    it("attr overrides a text and a number, and unsets one", function()
      local c1 = vr.attach(1)
      vr.cmd("attr 1 VENDOR_NAME Acme Readers, Inc.")
      vr.cmd("attr 1 MAX_IFSD 0x20")
      vr.cmd("attr 1 VENDOR_IFD_SERIAL_NO")
      local a = assert(c1:attrs())
      c1:close()
      assert.are.equal("Acme Readers, Inc.", a.VENDOR_NAME)
      assert.are.equal(32, a.MAX_IFSD)
      assert.is_nil(a.VENDOR_IFD_SERIAL_NO)
      assert.are.equal("iscard", assert(card:attrs()).VENDOR_NAME) -- slot 0 unchanged
    end)

    it("`iscard info` shows the attributes, the features and the properties", function()
      local out = cli.run("info --reader '" .. vr.readers[1] .. "'")
      assert.matches("rc=0\n$", out)
      assert.matches("VENDOR_NAME%s+iscard\n", out)
      assert.matches("verify_pin_direct%s+0x42000DB2", out)
      assert.matches("id_vendor%s+4617 %(0x1209%)", out)
    end)
  end)

  describe("the control socket", function()
    it("answers error: for a bad command and touches nothing", function()
      for line, why in pairs({
        ["keypad 2 1234"] = "no slot '2'", ["keypad 0 12a4"] = "not digits",
        ["frobnicate 0"] = "unknown command", ["attr 0 ATR_STRING 3B00"] = "card's state",
        ["attr 0 MAX_IFSD lots"] = "takes a number", [""] = "empty command",
        ["keypad 0 " .. string.rep("1", 33)] = "more than 32 digits",
      }) do
        local ok, err = vreader.control(vr.control, line)
        assert.is_nil(ok, line)
        assert.matches(why, err, 1, true)
      end
      local ok, err = vreader.control(vr.control, string.rep("x", 2000))
      assert.is_nil(ok)
      assert.matches("more than 1024", err)
    end)

    it("is a socket only its owner may use (mode 0600)", function()
      local p = assert(io.popen("stat -c '%a %F' " .. vr.control))
      local out = p:read("*a")
      p:close()
      assert.are.equal("600 socket\n", out)
    end)

    it("`iscard vreader` sends one command: 0 for ok, 1 for error:, 2 for usage", function()
      assert.are.equal("rc=0\n", cli.run("vreader --control " .. vr.control .. " attr 0 MAX_CLK 5000"))
      assert.are.equal(5000, card:attr("MAX_CLK"))
      assert.matches("iscard vreader: no slot '7'.*rc=1\n$",
                     cli.run("vreader --control " .. vr.control .. " keypad 7 1234"))
      assert.matches("rc=2\n$", cli.run("vreader keypad 0 1234"))
      assert.matches("No such file.*rc=1\n$", cli.run("vreader -c /nonexistent/x unplug 0"))
    end)
  end)
end)
