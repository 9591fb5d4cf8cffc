-- Garbage collection never touches what a call returns, and never sends
-- anything to a card: every public call, made with the collector at its
-- most eager (spec/support/pest.lua) and a finalizer that keeps using the
-- same card -- an exchange of its own, its properties -- running inside
-- the C functions and between the exchanges of one Transaction, returns
-- exactly what the card answered it. A channel dropped without close()
-- sends nothing when collected (its close waits for the next MANAGE
-- CHANNEL the program sends on that card).
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local iscard = require "iscard"
local pest = require "support.pest"
local oracle = require "support.oracle"
local pattern, adler32 = oracle.pattern, oracle.adler32

local ROUNDS = tonumber(os.getenv("ISCARD_GC_ROUNDS") or "") or 40
-- The pest's own exchange: 80 11 answers its data as the whole reply, here
-- 6A 82 again and again (254 bytes, longer than any reply under test), so
-- that a status word or bytes read from the wrong exchange show wherever
-- they are read from; it touches no state of the ISO commands under test.
local PEST_REPLY, PEST_SW = string.rep("\106\130", 127), 0x6A82
local PEST_APDU = "\128\17\0\0\254" .. PEST_REPLY

local function cmd(...) return iscard.ISCardCmd():BuildCmd(...) end

local function be(s, i, n)
  local v = 0
  for k = i, i + n - 1 do v = v * 256 + s:byte(k) end
  return v
end

describe("garbage collection during every call", function()
  local card, p, bad

  -- What the pest does each time the collector runs it: an exchange of its
  -- own on the same card (PEST_APDU), and the card's properties. Its own
  -- results are checked too.
  local function use_card()
    local r, sw = card:transmit(PEST_APDU)
    if r ~= PEST_REPLY or sw ~= PEST_SW then
      bad[#bad + 1] = ("pest transmit: %q %s"):format(tostring(r), tostring(sw))
    end
    local atr = card.Atr
    if atr ~= "\59\128\128\1\1" then bad[#bad + 1] = "pest Atr: " .. tostring(atr) end
    if card.Status ~= iscard.SPECIFICMODE then bad[#bad + 1] = "pest Status" end
    if card.reader ~= bed.reader then bad[#bad + 1] = "pest reader: " .. tostring(card.reader) end
    local s = tostring(card)
    if s ~= "iscard.ISCard (attached: " .. bed.reader .. ")" then bad[#bad + 1] = "pest tostring: " .. s end
  end

  before_each(function()
    card = bed.attach()
    assert(card:ReAttach(nil, iscard.RESET)) -- no channel left open by others
    bad = {}
    pest.aggressive()
    p = pest.start(use_card)
  end)

  after_each(function()
    p.stop()
    pest.relax()
    assert.are.same({}, p.errors)
    assert.are.same({}, bad)
    card:Detach(iscard.RESET)
  end)

  -- Each test checks the pest ran often inside the calls it made: without
  -- that it would prove nothing.
  local function ran_often(calls)
    if os.getenv("ISCARD_GC_VERBOSE") then io.stderr:write(("RUNS %d in %d calls\n"):format(p.runs, calls)) end
    assert(p.runs >= calls, ("the finalizer ran %d times in %d calls"):format(p.runs, calls))
  end

  it("transmit returns the bytes and status word of its own exchange", function()
    local n = pest.rounds(ROUNDS * 5)
    for i = 1, n do
      local data = pattern(i % 200 + 1, i)
      local r, sw = card:transmit(bed.echo_apdu(data))
      assert.are.equal(data .. "\144\0", r)
      assert.are.equal(0x9000, sw)
      r, sw = card:transmit("\0\224\0\5") -- E0 00 05: 3 pattern bytes + 9000
      assert.are.equal(pattern(3) .. "\144\0", r)
      assert.are.equal(0x9000, sw)
      r, sw = card:transmit("\0\164\4\0") -- SELECT the test card does not know
      assert.are.equal("\109\0", r)
      assert.are.equal(0x6D00, sw)
    end
    assert(bed.journal(card))
    ran_often(n)
  end)

  it("Transaction follows 61xx with GET RESPONSE and 6Cxx with the right Le", function()
    local n = pest.rounds(ROUNDS)
    for i = 1, n do
      local c = cmd(0x00, 0xE2, 0x10, 3, nil, 0) -- 61 10 three times
      assert.are.equal(card, card:Transaction(c))
      assert.are.equal(0x9000, c.ReplyStatus)
      assert.are.equal(pattern(48), c.ReplyData)
      c = cmd(0x00, 0xE4, 0x00, 0x20 + i % 16, nil, 1) -- 6Cxx then 61xx
      assert(card:Transaction(c))
      assert.are.equal(0x9000, c.ReplyStatus)
      assert.are.equal(pattern(0x20 + i % 16), c.ReplyData)
      c = cmd(0x00, 0xA4, 0x04, 0x00, "\1\2\3")
      assert(card:Transaction(c))
      assert.are.equal(0x6D00, c.ReplyStatus)
      assert.are.equal("", c.ReplyData)
    end
    ran_often(n)
  end)

  it("Transaction chains a long command part by part", function()
    local n = pest.rounds(ROUNDS / 4)
    for i = 1, n do
      local data = pattern(600 + i, i)
      local c = cmd(0x00, 0xE8, 0, 0, data, 0)
      assert(card:Transaction(c, { chaining = true, chain_size = 64 }))
      assert.are.equal(0x9000, c.ReplyStatus)
      local r = c.ReplyData
      assert.are.equal(10, #r)
      assert.are.equal(#data, be(r, 1, 4))
      assert.are.equal(adler32(data), be(r, 5, 4))
      assert.are.equal(math.ceil(#data / 64), be(r, 9, 2))
    end
    ran_often(n)
  end)

  it("channels open, carry their own state, follow 61xx on their CLA and close", function()
    local n = pest.rounds(ROUNDS / 2)
    for i = 1, n do
      local a = assert(card:open_channel())
      local b = assert(card:open_channel())
      assert.are.same({ 1, 2 }, { a.number, b.number })
      assert(a:Transaction(cmd(0x80, 0x07, 0, 0, "on a " .. i)))
      assert(b:Transaction(cmd(0x80, 0x07, 0, 0, "on b " .. i)))
      local c = cmd(0x80, 0x08, 0, 0, nil, 0)
      assert(a:Transaction(c)); assert.are.equal("on a " .. i, c.ReplyData)
      assert(b:Transaction(c)); assert.are.equal("on b " .. i, c.ReplyData)
      c = cmd(0x00, 0xE2, 0x08, 2, nil, 0)
      assert.are.equal(b, b:Transaction(c))
      assert.are.equal(pattern(16), c.ReplyData)
      assert.are.equal(0x9000, c.ReplyStatus)
      assert.are.equal(true, a:close())
      assert.are.equal(true, b:close())
    end
    ran_often(n)
  end)

  it("properties, attributes, control and the module functions", function()
    local n = pest.rounds(ROUNDS)
    for _ = 1, n do
      assert.are.equal("\59\128\128\1\1", card.Atr)
      assert.are.equal("\59\128\128\1\1", card:get_Atr())
      assert.are.equal(iscard.SPECIFICMODE, card.Status)
      assert.are.equal(bed.reader, card.reader)
      assert.are.equal(bed.reader, card:attr("DEVICE_SYSTEM_NAME_A"))
      assert.are.equal("iscard.ISCard (attached: " .. bed.reader .. ")", tostring(card))
      local r, msg, code = card:control(iscard.ctl_code(1), "\1\2\3")
      assert.is_nil(r)
      assert.matches("^SCARD_E_.*control 0x42000001", msg)
      assert.is_number(code)
      local list = assert(iscard.readers(card))
      assert.are.same(bed.readers, list)
      local st = assert(iscard.status_change(card, 0, { { reader = bed.reader } }))
      assert.are.equal("\59\128\128\1\1", st[1].atr)
    end
    ran_often(n)
  end)
end)

describe("a channel dropped without close()", function()
  local card

  before_each(function()
    card = bed.attach()
    assert(card:ReAttach(nil, iscard.RESET))
  end)

  after_each(function() card:Detach(iscard.RESET) end)

  local function open_on_card(n)
    local c = cmd(n, 0x08, 0, 0) -- 80 08 on channel n: 6881 when closed
    assert(card:Transaction(c))
    return c.ReplyStatus ~= 0x6881
  end

  it("sends nothing when collected; the next open_channel closes it first", function()
    local ch = assert(card:open_channel())
    local n = ch.number
    local before = bed.counters(card).apdus
    ch = nil -- luacheck: ignore 311
    collectgarbage(); collectgarbage()
    -- the counters command itself is the one APDU since
    assert.are.equal(before + 1, bed.counters(card).apdus)
    assert.is_true(open_on_card(n)) -- still open on the card
    local again = assert(card:open_channel())
    assert.are.equal(n, again.number) -- closed before the open: the number was free
    assert.are.equal(true, again:close())
    assert.is_false(open_on_card(n))
  end)

  it("on <close> or collection is closed by the next explicit close", function()
    local a = assert(card:open_channel())
    local b = assert(card:open_channel())
    local na = a.number
    a = nil -- luacheck: ignore 311
    collectgarbage(); collectgarbage()
    assert.is_true(open_on_card(na))
    assert.are.equal(true, b:close())
    assert.is_false(open_on_card(na))
  end)

  it("is never closed on another card attached later to the same object", function()
    local ch = assert(card:open_channel())
    local n = ch.number
    assert(card:Detach())
    ch = nil -- luacheck: ignore 311
    collectgarbage(); collectgarbage()
    assert(card:AttachByReader(bed.readers[2]))
    assert(card:ReAttach(nil, iscard.RESET))
    local mine = assert(card:open_channel(n)) -- the same number, opened here
    local other = assert(card:open_channel())
    assert.are.equal(true, other:close()) -- must not close channel n too
    assert.is_true(open_on_card(n))
    assert.are.equal(true, mine:close())
  end)

  it("collected while the collector never rests: nothing goes to the card, every reply exact", function()
    local chans = setmetatable({}, { __mode = "v" }) -- they are collected
    for i = 1, 3 do chans[i] = assert(card:open_channel()) end
    local before = bed.counters(card).apdus
    pest.aggressive()
    local p = pest.start(function() end)
    local calls = 0
    for i = 1, 200 do
      local data = pattern(i % 50 + 1, i)
      local r, sw = card:transmit(bed.echo_apdu(data))
      assert.are.equal(data .. "\144\0", r)
      assert.are.equal(0x9000, sw)
      calls = calls + 1
    end
    p.stop()
    pest.relax()
    collectgarbage(); collectgarbage()
    assert(p.runs > 0)
    assert.is_nil(next(chans))
    assert.are.equal(before + calls + 1, bed.counters(card).apdus)
    assert(bed.journal(card))
  end)
end)
