-- The ISO layer on the real stack: ISCard:Transaction through pcscd + vpcd
-- to the test card, whose ISO behaviours are spec/cards/iso.lua (INS map at
-- the top of that file). Run through spec/support/testbed (make test does).
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local oracle = require "support.oracle"
local pattern, adler32 = oracle.pattern, oracle.adler32
local iscard = require "iscard"
local util = require "iscard.util"

local H = util.fromhex
local E = iscard.errors
local READER = os.getenv("ISCARD_TEST_READER") or "Virtual PCD 00 00"

local function be(s, i, n)
  local v = 0
  for k = i, i + n - 1 do v = v * 256 + s:byte(k) end
  return v
end

local fails_with = require("support.oracle").failure_check(E)

describe("ISO layer on pcscd + vpcd", function()
  local card

  before_each(function()
    card = assert(iscard.ISCard())
    assert(card:AttachByReader(READER))
  end)

  after_each(function()
    if card then card:Detach() end
    card = nil
  end)

  local function cmd(...)
    return iscard.ISCardCmd():BuildCmd(...)
  end

  it("runs a command and returns the card", function()
    local c = cmd(0x00, 0xE1, 1, 0, nil, 0)
    assert.equal(card, card:Transaction(c))
    assert.equal(pattern(256), c.ReplyData)
    assert.equal(0x9000, c.ReplyStatus)
  end)

  for _, n in ipairs { 2, 3, 256, 257, 258, 65535 } do
    it("receives a reply of " .. n .. " bytes", function()
      local c = cmd(0x00, 0xE0, math.floor(n / 256), n % 256)
      assert(card:Transaction(c))
      assert.equal(n, c.ApduReplyLength)
      assert.equal(pattern(n - 2), c.ReplyData)
    end)
  end

  -- The same sizes as response data (plus SW1 SW2): over Le 00, so the card
  -- hands out what does not fit by 61xx and Transaction collects it.
  for _, n in ipairs { 0, 1, 2, 256, 257, 65535 } do
    it("collects " .. n .. " bytes of response data", function()
      local c = cmd(0x00, 0xE1, math.floor(n / 256), n % 256, nil, 0)
      assert(card:Transaction(c))
      assert.equal(0x9000, c.ReplyStatus)
      assert.equal(n + 2, c.ApduReplyLength)
      assert.equal(pattern(n), c.ReplyData)
    end)
  end

  it("calls a 1-byte reply malformed", function()
    fails_with("ISCARD_E_MALFORMED_RESPONSE", card:Transaction(cmd(0x00, 0xE0, 0x00, 0x01)))
  end)

  -- An empty reply cannot be staged here: vpcd reads a 0-byte answer as
  -- "no answer yet" and the transmit never returns (a card that never
  -- answers blocks, as PC/SC documents).  The engine's handling of an empty
  -- reply is covered in spec/unit/transaction_spec.lua.

  it("collects 61xx chains, 6100 pieces included", function()
    for _, v in ipairs { { 0x10, 5 }, { 0x00, 3 }, { 0xFF, 2 } } do
      local piece = v[1] == 0 and 256 or v[1]
      local c = cmd(0x00, 0xE2, v[1], v[2], nil, 0)
      assert(card:Transaction(c))
      assert.equal(pattern(piece * v[2]), c.ReplyData)
      assert.equal(0x9000, c.ReplyStatus)
    end
  end)

  it("fixes Le after 6Cxx and 6C00, and follows 6Cxx with 61xx", function()
    local c = cmd(0x00, 0xE3, 0x00, 0x10, nil, 1)
    assert(card:Transaction(c))
    assert.equal(pattern(16), c.ReplyData)
    c = cmd(0x00, 0xE3, 0x00, 0x00, nil, 1)
    assert(card:Transaction(c))
    assert.equal(pattern(256), c.ReplyData)
    c = cmd(0x00, 0xE4, 0x00, 0x20, nil, 1)
    assert(card:Transaction(c))
    assert.equal(pattern(32), c.ReplyData)
  end)

  it("ends an endless 61xx chain in bounded time and stays usable", function()
    local c = cmd(0x00, 0xE5, 0x00, 0x00, nil, 0)
    -- bounded: the command and exactly max_exchanges GET RESPONSEs go out
    local sent = 0
    local function count(dir) if dir == "send" then sent = sent + 1 end end
    fails_with("ISCARD_E_CHAIN_TOO_LONG", card:Transaction(c, { max_exchanges = 20, trace = count }))
    assert.equal(21, sent)
    assert.equal(0x6100, c.ReplyStatus)
    c = cmd(0x00, 0xE1, 0, 4, nil, 4)
    assert(card:Transaction(c))
    assert.equal(pattern(4), c.ReplyData)
  end)

  it("shows every automatic APDU in the trace", function()
    local seen = {}
    local c = cmd(0x00, 0xE4, 0x00, 0x08, nil, 1)
    assert(card:Transaction(c, { trace = function(dir, bytes) seen[#seen + 1] = dir .. " " .. util.tohex(bytes) end }))
    assert.same({
      "send 00E4000801", "recv 6C08",
      "send 00E4000808", "recv 6108",
      "send 00C0000008", "recv " .. util.tohex(pattern(8)) .. "9000",
    }, seen)
  end)

  it("leaves 61xx and 6Cxx to the caller when switched off", function()
    local c = cmd(0x00, 0xE2, 0x10, 0x02, nil, 0)
    assert(card:Transaction(c, { get_response = false }))
    assert.equal(0x6110, c.ReplyStatus)
    -- fetch by hand with the ISO builder
    local iso = iscard.ISCardISO7816()
    local g = iso:GetResponse(0, 0, 0x10)
    assert(card:Transaction(g, { get_response = false }))
    assert.equal(pattern(16), g.ReplyData)
    c = cmd(0x00, 0xE3, 0x00, 0x10, nil, 1)
    assert(card:Transaction(c, { fix_le = false }))
    assert.equal(0x6C10, c.ReplyStatus)
  end)

  local function sink_result(c)
    local r = c.ReplyData
    assert.equal(10, #r)
    return be(r, 1, 4), be(r, 5, 4), be(r, 9, 2)
  end

  for _, n in ipairs { 300, 4000 } do
    it("delivers " .. n .. " bytes intact, chained and extended", function()
      local data = pattern(n, 3)
      for _, opts in ipairs { { extended = false }, { extended = true }, { chaining = true, chain_size = 64 } } do
        local c = cmd(0x00, 0xE8, 0, 0, data, 0)
        assert(card:Transaction(c, opts))
        local len, sum, parts = sink_result(c)
        assert.equal(n, len)
        assert.equal(adler32(data), sum)
        assert.equal(opts.extended and 1 or math.ceil(n / (opts.chain_size or 255)), parts)
      end
    end)
  end

  it("reports a refused chain part", function()
    local c = cmd(0x00, 0xE9, 0, 0, pattern(600))
    fails_with("ISCARD_E_CHAINING_ABORTED", card:Transaction(c, { extended = false }))
    assert.equal(0x6884, c.ReplyStatus)
  end)

  it("gets 65535 bytes through GET RESPONSE and echoes extended data", function()
    local c = cmd(0x00, 0xE1, 0xFF, 0xFF, nil, 65536)
    assert(card:Transaction(c))
    assert.equal(pattern(65535), c.ReplyData)
    local data = pattern(4000, 9)
    c = cmd(0x00, 0xE7, 0, 0, data, 4000)
    assert(card:Transaction(c))
    assert.equal(data, c.ReplyData)
  end)

  it("refuses a non-zero Nad without sending", function()
    local c = cmd(0x00, 0xE1, 0, 1, nil, 1)
    c.Nad = 1
    fails_with("ISCARD_E_NAD_UNSUPPORTED", card:Transaction(c))
  end)

  it("fails on request when the final status is not 9000", function()
    local c = cmd(0x00, 0xE9, 0, 0)
    assert(card:Transaction(c, { check = true }))
    c = iscard.ISCardCmd()
    c.Apdu = H "10E9000001AA"
    fails_with("ISCARD_E_CARD_STATUS", card:Transaction(c, { check = true }))
    assert.equal(0x6884, c.ReplyStatus)
  end)
end)
