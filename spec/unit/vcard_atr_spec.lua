-- The virtual card announces only ATRs that decode cleanly: TS 3B or 3F, and
-- the right TCK wherever one is due.  No pcscd needed.
local vcard = require "iscard.vcard"

local function card(atr)
  local c = vcard.new_card({ apdu = function() end, atr = atr }) -- (no tail call: 5.1 would lose the line)
  return c
end

-- The message of the error f raises, which must name this file: the error is
-- the caller's, not the module's.
local function refusal(f)
  local ok, msg = pcall(f)
  assert.is_false(ok)
  assert.matches("vcard_atr_spec.lua:%d+: ", msg)
  return msg
end

describe("the virtual card's ATR", function()
  it("takes the default ATR, a T=0 ATR without TCK and one with the right TCK", function()
    assert.are.equal(vcard.DEFAULT_ATR, card().atr)
    assert.are.equal("\59\0", card("\59\0").atr)                             -- 3B 00: T=0 only
    assert.are.equal("\59\128\128\1\1", card("\59\128\128\1\1").atr)         -- T=1, TCK 01
    assert.are.equal("\63\129\128\1\65\65", card("\63\129\128\1\65\65").atr) -- inverse convention
  end)

  it("refuses a TS other than 3B or 3F: what a \\x escape becomes on Lua 5.1", function()
    -- "\x3B\x80..." reads as the text "x3B..." on Lua 5.1
    local msg = refusal(function() card("x3Bx80x80x01x01") end)
    assert.matches("vcard%.new_card: atr: ATR 78 33 42 [%x ]+: TS 78 is neither 3B %(direct%) nor 3F", msg)
  end)

  it("refuses a wrong TCK, naming it and the expected value", function()
    local c = card()
    local msg = refusal(function() c:set_atr("\59\128\128\1\2") end)
    assert.matches("card:set_atr: ATR 3B 80 80 01 02: wrong TCK 02 (expected 01)", msg, 1, true)
    assert.are.equal(vcard.DEFAULT_ATR, c.atr) -- unchanged
  end)

  it("refuses a missing TCK when a T other than 0 is offered, saying which byte is due", function()
    local msg = refusal(function() card():set_atr("\59\128\128\1") end)
    assert.matches("TCK is missing", msg, 1, true)
    assert.matches("expected 01 at the end", msg, 1, true)
  end)

  it("refuses bytes missing or left over, and what is not 1..33 bytes", function()
    assert.matches("T0 announces 2 historical bytes, 1 present",
      refusal(function() card():set_atr("\59\2\65") end), 1, true)
    assert.matches("1 extra byte", refusal(function() card():set_atr("\59\0\0") end), 1, true)
    assert.matches("1 to 33 bytes", refusal(function() card():set_atr("") end), 1, true)
    assert.matches("1 to 33 bytes", refusal(function() card():set_atr(59) end), 1, true)
  end)

  it("swap checks the same way and keeps the old ATR on refusal", function()
    local c = card()
    assert.matches("card:swap: ATR 3F 00 01", refusal(function() c:swap("\63\0\1", 10) end), 1, true)
    assert.are.equal(vcard.DEFAULT_ATR, c.atr)
    assert.is_nil(c._remove)
    c:swap("\63\0", 10)
    assert.are.equal("\63\0", c.atr)
  end)

  it("a card script's atr is checked when it is loaded, naming the file", function()
    local name = os.tmpname()
    local f = assert(io.open(name, "w"))
    f:write('return { atr = "\\59\\128\\128\\1\\0", apdu = function() return "\\144\\0" end }\n')
    f:close()
    local ok, msg = pcall(vcard.load, name)
    os.remove(name)
    assert.is_false(ok)
    assert.matches(name .. ": atr: ATR 3B 80 80 01 00: wrong TCK 00 (expected 01)", msg, 1, true)
  end)

  it("raw_atr still sends any bytes: it is the knob for broken cards", function()
    local c = card()
    c:raw_atr("x3B", 0)
    assert.are.equal("x3B", c._next_atr)
  end)
end)
