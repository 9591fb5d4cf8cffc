-- Logical channels end to end: card:open_channel() through pcscd + vpcd to
-- the test card, which implements MANAGE CHANNEL (spec/cards/testcard.lua).
-- The CLA coding on its own: spec/unit/channel_spec.lua.
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local iscard = require "iscard"
local util = require "iscard.util"

local H = util.fromhex
local READER = "Virtual PCD 00 00"

describe("logical channels on pcscd + vpcd", function()
  local card

  before_each(function()
    card = assert(iscard.ISCard())
    assert(card:AttachByReader(READER))
    -- a reset closes every channel an earlier spec may have left open
    assert(card:ReAttach(nil, iscard.RESET))
  end)

  after_each(function()
    if card then card:Detach(iscard.RESET) end
    card = nil
  end)

  local function cmd(...) return iscard.ISCardCmd():BuildCmd(...) end

  it("opens channels, keeps their state apart, sends every APDU with the channel's CLA", function()
    local seen = {}
    card:options { trace = function(dir, bytes) if dir == "send" then seen[#seen + 1] = bytes:byte(1) end end }
    local a = assert(card:open_channel())
    local b = assert(card:open_channel())
    assert.are.equal(1, a.number)
    assert.are.equal(2, b.number)
    assert.are.equal(a, a:Transaction(cmd(0x80, 0x07, 0, 0, "on a")))
    assert(b:Transaction(cmd(0x80, 0x07, 0, 0, "on b")))
    assert(card:Transaction(cmd(0x80, 0x07, 0, 0, "basic")))
    local c = cmd(0x80, 0x08, 0, 0, nil, 0)
    assert(a:Transaction(c)); assert.are.equal("on a", c.ReplyData)
    assert(b:Transaction(c)); assert.are.equal("on b", c.ReplyData)
    assert(card:Transaction(c)); assert.are.equal("basic", c.ReplyData)
    assert(a:Transaction(c)); assert.are.equal("on a", c.ReplyData)
    -- open, open (basic channel), then the writes and the reads
    assert.are.same({ 0x00, 0x00, 0x81, 0x82, 0x80, 0x81, 0x82, 0x80, 0x81 }, seen)
    assert(a:close())
    assert(b:close())
  end)

  it("sends GET RESPONSE and Le resends on the channel", function()
    local ch = assert(card:open_channel())
    local sent = {}
    local c = cmd(0x00, 0xE2, 0x03, 0x02, nil, 0) -- 61 03 chain of 2 pieces
    assert(ch:Transaction(c, { trace = function(dir, bytes)
      if dir == "send" then sent[#sent + 1] = util.tohex(bytes:sub(1, 2)) end
    end }))
    assert.are.equal(0x9000, c.ReplyStatus)
    assert.are.equal(H "000102 030405", c.ReplyData)
    assert.are.same({ "01E2", "01C0", "01C0" }, sent)
    -- 6Cxx: the resend carries the channel too (the card answers by channel)
    local e = cmd(0x00, 0xE3, 0x00, 0x05, nil, 1)
    assert(ch:Transaction(e))
    assert.are.equal(0x9000, e.ReplyStatus)
    assert.are.equal(5, #e.ReplyData)
    -- without the channel's CLA the GET RESPONSE would reach the basic
    -- channel, where nothing is pending
    assert(ch:close())
  end)

  it("uses the further class for channels 4 and up", function()
    local chans = {}
    for i = 1, 4 do chans[i] = assert(card:open_channel()) end
    local four = chans[4]
    assert.are.equal(4, four.number)
    local cla
    local c = cmd(0x00, 0xE2, 0x02, 0x01, nil, 0)
    assert(four:Transaction(c, { trace = function(dir, bytes) if dir == "send" then cla = bytes:byte(1) end end }))
    assert.are.equal(0x40, cla) -- the GET RESPONSE, last
    assert.are.equal(H "0001", c.ReplyData)
    for i = 1, 4 do assert(chans[i]:close()) end
  end)

  it("closes: the card then refuses the channel number, and the object refuses use", function()
    local ch = assert(card:open_channel())
    local n = ch.number
    assert.are.equal(true, ch:close())
    assert.are.equal(true, ch:close()) -- again: nothing happens
    assert.matches("closed", tostring(ch))
    assert.has_error(function() ch:Transaction(cmd(0x80, 0x08, 0, 0)) end, "Transaction: the channel 1 is closed")
    local c = cmd(0x80 + n, 0x08, 0, 0) -- CLA with the channel number
    assert(card:Transaction(c))
    assert.are.equal(0x6881, c.ReplyStatus)
    -- the number is free again: the card hands it out once more
    local again = assert(card:open_channel())
    assert.are.equal(n, again.number)
    assert(again:close())
  end)

  it("opens a given channel number, and the card refuses a used one", function()
    local ch = assert(card:open_channel(7))
    assert.are.equal(7, ch.number)
    local dup, msg, code = card:open_channel(7)
    assert.is_nil(dup)
    assert.matches("^ISCARD_E_CARD_STATUS: MANAGE CHANNEL open: 6A86", msg)
    assert.are.equal(iscard.errors.ISCARD_E_CARD_STATUS, code)
    assert.has_error(function() card:open_channel(20) end)
    assert.has_error(function() card:open_channel(0) end)
    assert(ch:close())
  end)

  it("raises for a command whose CLA cannot go on the channel", function()
    local ch = assert(card:open_channel(4))
    assert.has_error(function() ch:Transaction(cmd(0x0C, 0xB0, 0, 0)) end,
      "Transaction on channel 4: CLA 0C: secure messaging coding 11 has no place in the further class of channel 4")
    assert.has_error(function() ch:Transaction(cmd(0x01, 0xB0, 0, 0)) end)
    local c = cmd(0x00, 0xB0, 0, 0)
    c.AlternateClassId = 0x42
    assert.has_error(function() ch:Transaction(c) end)
    assert(ch:close())
  end)

  it("closes on <close> and on collection without raising, also after the card is gone", function()
    local ch = assert(card:open_channel())
    local n = ch.number
    ch = nil -- luacheck: ignore 311
    collectgarbage(); collectgarbage()
    local c = cmd(n, 0x08, 0, 0)
    assert(card:Transaction(c))
    assert.are.equal(0x6881, c.ReplyStatus) -- closed by __gc
    local other = assert(iscard.ISCard())
    assert(other:AttachByReader(READER))
    local late = assert(other:open_channel())
    other:Detach()
    assert.is_nil((late:close())) -- the card is detached: an error, not a raise
    local gone = setmetatable({}, getmetatable(late))
    assert.has_no_error(function() getmetatable(gone).__gc(gone) end)
  end)
end)
