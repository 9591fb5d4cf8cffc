-- The reader itself on the real stack (pcscd + vpcd): control codes, part
-- 10 probing, attributes, reader groups, context validity, DIRECT attach.
-- Debian 12's vpcd has no part 10 feature and answers no attribute of its
-- own; pcscd answers the two reader-name attributes.
local iscard = require "iscard"
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local E = iscard.errors

describe("reader", function()
  local card
  before_each(function() card = bed.attach(bed.reader) end)
  after_each(function() card:close() end)

  it("attr gives the reader's name for DEVICE_SYSTEM_NAME_A and FRIENDLY_NAME_A", function()
    assert.are.equal(bed.reader, card:attr("DEVICE_SYSTEM_NAME_A"))
    local v, raw = card:attr(iscard.attributes.DEVICE_FRIENDLY_NAME_A)
    assert.are.equal(bed.reader, v)
    assert.are.equal(bed.reader .. "\0", raw)
  end)

  it("an unsupported attribute is SCARD_E_UNSUPPORTED_FEATURE from attr and absent from attrs", function()
    local v, msg, code = card:attr("VENDOR_NAME")
    assert.is_nil(v)
    assert.are.equal(E.SCARD_E_UNSUPPORTED_FEATURE, code)
    assert.matches("^SCARD_E_UNSUPPORTED_FEATURE: .*attribute 0x00010100", msg)
    v, msg, code = card:attr_raw(iscard.attributes.MAXINPUT)
    assert.is_nil(v)
    assert.are.equal(E.SCARD_E_UNSUPPORTED_FEATURE, code, msg)
    local all = assert(card:attrs())
    assert.are.same({ DEVICE_SYSTEM_NAME_A = bed.reader, DEVICE_FRIENDLY_NAME_A = bed.reader }, all)
  end)

  it("set_attr failure is a value", function()
    local ok, msg, code = card:set_attr("VENDOR_NAME", "x")
    assert.is_nil(ok)
    assert.are.equal("number", type(code))
    assert.matches("^SCARD_E_[A-Z_]+: .*SCardSetAttrib", msg)
    assert.has_error(function() card:set_attr("NO_SUCH_ATTRIBUTE", "x") end)
    assert.has_error(function() card:set_attr(1, {}) end)
  end)

  it("control with an unsupported code fails as a value", function()
    local r, msg, code = card:control(iscard.ctl_code(1), "\1\2\3")
    assert.is_nil(r)
    assert.are.equal(E.SCARD_E_UNSUPPORTED_FEATURE, code)
    assert.matches("control 0x42000001", msg, 1, true)
  end)

  it("control misuse raises before any PC/SC call", function()
    local code = iscard.ctl_code(3400)
    assert.has_error(function() card:control(code, "", -1) end)
    assert.has_error(function() card:control(code, "", iscard.MAX_APDU + 1) end)
    assert.has_error(function() card:control(code, ("\0"):rep(iscard.MAX_APDU + 1)) end)
    assert.has_error(function() card:control(-1, "") end)
    assert.has_error(function() card:control(2 ^ 32, "") end)
    assert.has_error(function() card:control("x", "") end)
    assert.has_error(function() card:attr_raw(-5) end)
    assert.has_error(function() card:attr("NO_SUCH_ATTRIBUTE") end)
  end)

  it("features() is {} without an error, and kept for the connection", function()
    local f = card:features()
    assert.are.same({}, f)
    assert.are.equal(f, card:features())
    assert(card:ReAttach())
    assert.are.same({}, card:features())
  end)

  it("properties, pin_properties, verify_pin, modify_pin fail as values without the feature", function()
    for _, m in ipairs({ "properties", "pin_properties" }) do
      local r, msg, code = card[m](card)
      assert.is_nil(r)
      assert.are.equal(E.SCARD_E_UNSUPPORTED_FEATURE, code)
      assert.matches("FEATURE_", msg)
    end
    local r, msg, code = card:verify_pin({ apdu = "\0\32\0\1\8" .. ("\0"):rep(8) })
    assert.is_nil(r)
    assert.are.equal(E.SCARD_E_UNSUPPORTED_FEATURE, code)
    assert.matches("FEATURE_VERIFY_PIN_DIRECT", msg)
    r, msg, code = card:modify_pin({ apdu = "\0\36\0\1" })
    assert.is_nil(r)
    assert.are.equal(E.SCARD_E_UNSUPPORTED_FEATURE, code)
    assert.matches("FEATURE_MODIFY_PIN_DIRECT", msg)
    -- misuse of the structure raises at the caller
    assert.has_error(function() card:verify_pin({ apdu = "\0\32\0\1", timeout = 300 }) end)
  end)

  it("members that need a card raise when detached", function()
    assert(card:Detach())
    assert.has_error(function() card:control(iscard.ctl_code(1), "") end)
    assert.has_error(function() card:attr("DEVICE_SYSTEM_NAME_A") end)
    assert.has_error(function() card:features() end)
  end)
end)

describe("reader groups and contexts", function()
  it("reader_groups lists pcsc-lite's one group; readers(group) its readers", function()
    local groups = assert(iscard.reader_groups())
    assert.are.same({ "SCard$DefaultReaders" }, groups)
    assert.are.same(bed.readers, assert(iscard.readers(groups[1])))
    local card = assert(iscard.ISCard())
    assert.are.same(groups, assert(iscard.reader_groups(card)))
    assert.are.same(bed.readers, assert(iscard.readers(card, groups[1])))
    assert.are.same(bed.readers, assert(iscard.readers(card)))
    card:close()
    assert.has_error(function() iscard.reader_groups(card) end)
    assert.has_error(function() iscard.readers("") end)
    assert.has_error(function() iscard.readers(("g"):rep(129)) end)
  end)

  it("is_valid is true before close and false after, for an ISCard or a Context holder", function()
    local card = assert(iscard.ISCard())
    local holder = { Context = card.Context }
    assert.is_true(iscard.is_valid(card))
    assert.is_true(iscard.is_valid(holder))
    card:close()
    local ok, msg, code = iscard.is_valid(card)
    assert.is_false(ok)
    assert.are.equal(E.SCARD_E_INVALID_HANDLE, code)
    assert.matches("SCardIsValidContext", msg)
    assert.is_false((iscard.is_valid(holder)))
    assert.has_error(function() iscard.is_valid({}) end)
    assert.has_error(function() iscard.is_valid(42) end)
    assert.has_error(function() iscard.is_valid({ Context = "1" }) end)
  end)
end)

describe("DIRECT attach", function()
  local reader = bed.readers[2]

  it("works on an empty reader: the reader answers without a card", function()
    local holder = bed.attach(reader)
    local ok, err = pcall(function()
      bed.remove(holder, 4000, reader) -- returns once pcscd has seen the card go
      local direct = assert(iscard.ISCard())
      assert(direct:AttachByReader(reader, iscard.DIRECT, 0))
      assert.is_true(direct.attached)
      assert.are.equal(reader, direct:attr("DEVICE_SYSTEM_NAME_A"))
      assert.are.same({}, direct:features())
      local _, _, code = direct:control(iscard.ctl_code(3400), "")
      assert.are.equal(E.SCARD_E_UNSUPPORTED_FEATURE, code)
      direct:close()
    end)
    holder:close()
    bed.inserted(reader) -- the bed as the other specs need it
    assert(ok, err)
  end)

  it("works with a card in the reader", function()
    local direct = assert(iscard.ISCard())
    assert(direct:AttachByReader(reader, "direct", "none"))
    assert.are.equal(reader, direct:attr("DEVICE_FRIENDLY_NAME_A"))
    direct:close()
  end)
end)
