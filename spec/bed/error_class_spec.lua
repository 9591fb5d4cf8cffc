-- Every failure of every public function is `nil, message, code` (false
-- for is_valid) with a code that `iscard.error_class` classifies,
-- with and without the card, without raising: with pcscd up, with the card
-- pulled, and with pcscd gone.
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local iscard = require "iscard"
local oracle = require "support.oracle"

local R1, R2 = bed.readers[1], bed.readers[2]
local E = iscard.errors
local CLASSES = {}
for _, c in pairs(iscard.errclass.classes) do CLASSES[c] = true end
CLASSES.other = true

local function cmd(...) return iscard.ISCardCmd():BuildCmd(...) end

-- A failure as the conventions say: first result nil (false for
-- is_valid), "NAME: text" with NAME the code's name, a number as
-- code, and a class for it whatever the second argument.
local function typed(what, card, first, msg, code, ...)
  assert(first == nil or first == false, what .. ": succeeded: " .. tostring(first))
  assert(type(code) == "number", what .. ": no code: " .. tostring(msg))
  assert(type(msg) == "string", what .. ": no message")
  local name = E[code]
  assert(name, what .. ": code not in iscard.errors: " .. tostring(code))
  assert(msg:sub(1, #name + 2) == name .. ": ", what .. ": message does not start with its name: " .. msg)
  for _, with in ipairs { false, true } do
    local ok, class = pcall(iscard.error_class, code, with and card or nil)
    assert(ok, what .. ": error_class raised: " .. tostring(class))
    assert(CLASSES[class], what .. ": unknown class " .. tostring(class))
  end
  assert(select("#", ...) == 0, what .. ": more results than nil, message, code")
  return name, iscard.error_class(code, card)
end

local VERIFY = { apdu = "\0\32\0\1\8" .. ("\0"):rep(8) }

-- The calls of an attached card and what may go wrong with them; each
-- returns the call's results (and is run on a card whose state makes it fail).
local function card_calls(card, ch)
  return {
    { "transmit", function() return card:transmit("\0\164\4\0") end },
    { "Transaction", function() return card:Transaction(cmd(0x00, 0xA4, 0x04, 0x00)) end },
    { "get_Atr", function() return card:get_Atr() end },
    { "ReAttach", function() return card:ReAttach() end },
    { "LockSCard", function() return card:LockSCard() end },
    { "control", function() return card:control(iscard.ctl_code(1)) end },
    { "attr_raw", function() return card:attr_raw(iscard.attributes.VENDOR_NAME) end },
    { "attr", function() return card:attr("DEVICE_SYSTEM_NAME_A") end },
    { "set_attr", function() return card:set_attr("VENDOR_NAME", "x") end },
    { "properties", function() return card:properties() end },
    { "pin_properties", function() return card:pin_properties() end },
    { "verify_pin", function() return card:verify_pin(VERIFY) end },
    { "open_channel", function() return card:open_channel() end },
    { "Channel:Transaction", function() return ch:Transaction(cmd(0x80, 0x08, 0, 0)) end },
    { "Channel:close", function() return ch:close() end },
  }
end

describe("error_class on the failure of every public function", function()
  local card

  before_each(function()
    card = bed.attach()
    assert(card:ReAttach(nil, iscard.RESET))
  end)
  after_each(function()
    if card then card:close() end
    bed.restore()
  end)

  it("with pcscd up: the reader, the card's refusals, the waits", function()
    local seen = {}
    local function check(what, ...) seen[what] = { typed(what, card, ...) } end
    local other = assert(iscard.ISCard())
    check("AttachByReader", other:AttachByReader("No such reader"))
    check("AttachByHandle", other:AttachByHandle(0x7FFFFF01))
    check("control", card:control(iscard.ctl_code(1), "\1\2\3"))
    check("attr_raw", card:attr_raw(iscard.attributes.VENDOR_NAME))
    check("attr", card:attr("VENDOR_NAME"))
    check("set_attr", card:set_attr("VENDOR_NAME", "x"))
    check("properties", card:properties())
    check("pin_properties", card:pin_properties())
    check("verify_pin", card:verify_pin(VERIFY))
    check("modify_pin", card:modify_pin({ apdu = "\0\36\0\1\16" .. ("\0"):rep(16) }))
    check("Transaction malformed", card:Transaction(cmd(0x00, 0xE0, 0x00, 0x01)))
    check("Transaction chain", card:Transaction(cmd(0x00, 0xE5, 0x00, 0x00, nil, 0), { max_exchanges = 3 }))
    check("Transaction chaining", card:Transaction(cmd(0x00, 0xE9, 0, 0, oracle.pattern(600)), { extended = false }))
    check("Transaction status", card:Transaction(cmd(0x00, 0xA4, 0x04, 0x00), { check = true }))
    local seven = assert(card:open_channel(7))
    check("open_channel", card:open_channel(7))
    check("is_valid", iscard.is_valid({ Context = 1 }))
    -- nothing changed since the state it is told: a timeout at once
    local now = assert(iscard.status_change(card, 0, { { reader = R1 } }))[1].event
    check("status_change", iscard.status_change(card, 0, { { reader = R1, current = now } }))
    check("wait", iscard.wait(R1, false, 0))
    check("wait(nil)", iscard.wait(nil, false, 0))
    assert(card:Detach())
    check("Channel:close detached", seven:close())
    other:close()
    assert.are.same({ "SCARD_E_UNKNOWN_READER", "reader_gone" }, seen.AttachByReader)
    assert.are.same({ "ISCARD_E_MALFORMED_RESPONSE", "malformed_response" }, seen["Transaction malformed"])
    assert.are.same({ "SCARD_E_NOT_TRANSACTED", "exchange_failed" }, seen.set_attr)
    assert.are.same({ "SCARD_E_TIMEOUT", "timeout" }, seen.wait)
    assert.are.same({ "SCARD_E_INVALID_HANDLE", "invalid" }, seen["Channel:close detached"])
  end)

  it("with the card pulled", function()
    local ch = assert(card:open_channel())
    assert(card:LockSCard())
    assert(card:UnlockSCard())
    -- out for 8 s: every call below takes milliseconds
    bed.remove(card, 8000)
    local seen = {}
    for _, c in ipairs(card_calls(card, ch)) do
      if c[1] ~= "Channel:close" then seen[c[1]] = { typed(c[1], card, c[2]()) } end
    end
    typed("Channel:close", card, ch:close())
    assert.are.same({ "SCARD_W_REMOVED_CARD", "card_removed" }, seen.transmit)
    assert.are.same({ "SCARD_W_REMOVED_CARD", "card_removed" }, seen.Transaction)
  end)

  it("with pcscd gone", function()
    if not bed.private then return pending("needs the private pcscd of the test bed") end
    local ch = assert(card:open_channel())
    local locked = bed.attach(R2)
    assert(locked:LockSCard())
    local mon = iscard.monitor({ initial = false })
    assert(bed.restart("TERM", true))
    local seen = {}
    for _, c in ipairs(card_calls(card, ch)) do seen[c[1]] = { typed(c[1], card, c[2]()) } end
    typed("UnlockSCard", locked, locked:UnlockSCard())
    typed("Detach", card, card:Detach(iscard.RESET))
    typed("ISCard", nil, iscard.ISCard())
    typed("readers", nil, iscard.readers())
    typed("reader_groups", nil, iscard.reader_groups())
    typed("status_change", nil, iscard.status_change(nil, 0, { { reader = R1 } }))
    typed("wait", nil, iscard.wait(R1, true, 0))
    typed("wait(nil)", nil, iscard.wait(nil, true, 0))
    -- a lost pcscd is an event of the monitor, not a failure
    local events = assert(mon:poll(0))
    assert.are.equal("service_lost", events[#events].type)
    mon:close()
    locked:close()
    assert.are.equal("service_lost", seen.transmit[2])
  end)
end)
