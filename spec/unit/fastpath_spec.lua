-- The plain-case path of Transaction (one exchange, no trace, no chaining)
-- and the option caches behind it must behave like the general engine:
-- return values, stored replies, changes to transaction.defaults and to a
-- card's options between calls, and misuse errors that point at the
-- caller's line.

local util = require "iscard.util"
local cmdm = require "iscard.cmd"
local transaction = require "iscard.transaction"
require "iscard" -- adds Transaction and options to the core's methods
local core = require "iscard.core"

local H = util.fromhex
local E = util.errors
local run = transaction.run
local Transaction, options = core.methods.Transaction, core.methods.options

local function cmd(...) return cmdm.new():BuildCmd(...) end

-- replies in turn from a list of hex strings; records what it was sent
local function card_replying(...)
  local replies, sent = { ... }, {}
  local card = {}
  function card.transmit(self, apdu)
    assert(self == card, "called as card:transmit")
    sent[#sent + 1] = util.tohex(apdu)
    return H(assert(replies[#sent], "unexpected APDU " .. util.tohex(apdu)))
  end
  return card, sent
end

-- Lua 5.1 keeps no position for a frame a tail call replaced, and
-- ISCard:Transaction tail-calls the engine (as it always did).
local positions = _VERSION ~= "Lua 5.1"

local function raises_here(pattern, f, tail_called)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, err)
  if positions or not tail_called then assert.matches("fastpath_spec%.lua:%d+:", err) end
end

-- the same for ISCard:Transaction
local function raises_here_T(pattern, f) return raises_here(pattern, f, true) end

local function with_defaults(changes, f)
  local d = transaction.defaults
  local saved = {}
  for k in pairs(changes) do saved[k] = d[k] end
  for k, v in pairs(changes) do d[k] = v end
  local ok, err = pcall(f)
  for k in pairs(changes) do d[k] = saved[k] end
  assert(ok, err)
end

describe("Transaction plain case", function()
  it("returns exactly one value on success, the given one or true", function()
    local function t() return H "9000" end
    assert.equal(1, select("#", run(t, cmd(0, 0xB0, 0, 0, nil, 1))))
    assert.is_true(run(t, cmd(0, 0xB0, 0, 0, nil, 1)))
    local token = {}
    assert.equal(token, run(t, cmd(0, 0xB0, 0, 0, nil, 1), nil, token))
    local card = card_replying("9000")
    local c = cmd(0, 0xB0, 0, 0, nil, 1)
    assert.equal(1, select("#", Transaction(card, c)))
  end)

  it("stores the reply as returned, every time, and ISCard:Transaction returns the card", function()
    local card, sent = card_replying("0102 9000", "6A82", "03 9000")
    local c = cmd(0x00, 0xCA, 0x00, 0x6E, nil, 0)
    assert.equal(card, Transaction(card, c))
    assert.equal("01029000", c:reply_hex())
    assert.equal(card, Transaction(card, c))
    assert.equal(0x6A82, c.ReplyStatus)
    assert.equal("", c.ReplyData)
    assert.equal(card, Transaction(card, c))
    assert.equal(H "03", c.ReplyData)
    assert.same({ "00CA006E00", "00CA006E00", "00CA006E00" }, sent)
  end)

  it("takes a 32 KiB reply whole", function()
    local big = ("\90"):rep(32768) .. "\144\0"
    local c = cmd(0x00, 0xB0, 0, 0, nil, 32768)
    assert.is_true(run(function() return big end, c))
    assert.equal(big, c.ApduReply)
    assert.equal(32768, #c.ReplyData)
  end)

  it("hands a 61xx or 6Cxx after the first exchange to the follow-ups", function()
    local card, sent = card_replying("AA 6102", "BBCC 9000", "6C03", "010203 9000")
    local c = cmd(0x00, 0xB0, 0, 0, nil, 0)
    assert.equal(card, Transaction(card, c))
    assert.equal("AABBCC9000", c:reply_hex())
    assert.equal(card, Transaction(card, c))
    assert.equal("0102039000", c:reply_hex())
    assert.same({ "00B0000000", "00C0000002", "00B0000000", "00B0000003" }, sent)
  end)

  it("numbers a follow-up exchange 2 after a plain first one", function()
    local seen = {}
    local card = card_replying("6101", "77 9000")
    local c = cmd(0x00, 0xB0, 0, 0, nil, 0)
    -- a trace takes the general path from the start; the count must agree
    Transaction(card, c, { trace = function(dir, _, info) seen[#seen + 1] = dir .. info.exchange end })
    assert.same({ "send1", "recv1", "send2", "recv2" }, seen)
    assert.equal("779000", c:reply_hex())
  end)

  it("fails a malformed reply, a transmit failure and check = true as before", function()
    local c = cmd(0x00, 0xB0, 0, 0, nil, 1)
    c.ApduReply = H "AA 9000"
    local ok, msg, code = run(function() return "\144" end, c)
    assert.is_nil(ok)
    assert.equal(E.ISCARD_E_MALFORMED_RESPONSE, code)
    assert.equal("ISCARD_E_MALFORMED_RESPONSE: reply of 1 byte to INS B0 (a response APDU needs at least SW1 SW2)",
      msg)
    assert.equal("", c.ApduReply)
    ok, msg, code = run(function() return nil, "SCARD_E_TIMEOUT: x", 0x8010000A end, c)
    assert.same({ nil, "SCARD_E_TIMEOUT: x", 0x8010000A }, { ok, msg, code })
    ok, msg, code = run(function() return H "6A82" end, c, { check = true })
    assert.is_nil(ok)
    assert.equal("ISCARD_E_CARD_STATUS: 6A82: checking error: file or application not found", msg)
    assert.equal(E.ISCARD_E_CARD_STATUS, code)
    assert.equal("6A82", c:reply_hex())
    assert.is_true(run(function() return H "9000" end, c, { check = true }))
  end)

  it("raises on a transmit that returns nil alone or a non-string", function()
    local c = cmd(0x00, 0xB0, 0, 0, nil, 1)
    local ok, err = pcall(run, function() return nil end, c)
    assert.is_false(ok)
    assert.matches("Transaction: transmit returned nil without an error message", err)
    ok, err = pcall(run, function() return 42 end, c)
    assert.is_false(ok)
    assert.matches("Transaction: transmit must return a string or nil, got integer 42", err)
  end)
end)

describe("Transaction option caches", function()
  it("follow changes to transaction.defaults between calls", function()
    local c = cmd(0x00, 0xB0, 0, 0, nil, 0)
    local function t() return H "6A82" end
    assert.is_true(run(t, c)) -- caches the checked defaults
    with_defaults({ check = true }, function()
      local ok, _, code = run(t, c)
      assert.is_nil(ok)
      assert.equal(E.ISCARD_E_CARD_STATUS, code)
    end)
    assert.is_true(run(t, c))
    with_defaults({ get_response = false }, function()
      assert.is_true(run(function() return H "6110" end, c))
      assert.equal(0x6110, c.ReplyStatus)
    end)
    with_defaults({ max_exchanges = "many" }, function()
      raises_here("option max_exchanges: integer 0%.%.%d+ expected, got string",
        function() local r = run(t, c); return r end)
    end)
    assert.is_true(run(t, c))
  end)

  it("follow a replaced transaction.defaults table", function()
    local saved = transaction.defaults
    local mine = {}
    for k, v in pairs(saved) do mine[k] = v end
    mine.check = true
    transaction.defaults = mine
    local ok, err = pcall(function()
      local r, _, code = run(function() return H "6A82" end, cmd(0, 0xB0, 0, 0, nil, 0))
      assert.is_nil(r)
      assert.equal(E.ISCARD_E_CARD_STATUS, code)
    end)
    transaction.defaults = saved
    assert(ok, err)
    assert.is_true(run(function() return H "6A82" end, cmd(0, 0xB0, 0, 0, nil, 0)))
  end)

  it("follow a card's options changed after a Transaction", function()
    local card = card_replying("6A82", "6A82", "6A82", "6A82")
    local c = cmd(0x00, 0xB0, 0, 0, nil, 0)
    assert.equal(card, Transaction(card, c))
    options(card, { check = true })
    local ok, _, code = Transaction(card, c)
    assert.is_nil(ok)
    assert.equal(E.ISCARD_E_CARD_STATUS, code)
    assert.equal(card, Transaction(card, c, { check = false }))
    options(card, { check = false })
    assert.equal(card, Transaction(card, c))
  end)

  it("merge a card's trace with the call's, false switching it off", function()
    local seen = {}
    local card = card_replying("9000", "9000", "9000")
    local c = cmd(0x00, 0xB0, 0, 0, nil, 1)
    options(card, { trace = function(dir) seen[#seen + 1] = "card " .. dir end })
    Transaction(card, c)
    Transaction(card, c, { trace = false })
    Transaction(card, c, { trace = function(dir) seen[#seen + 1] = "call " .. dir end })
    assert.same({ "card send", "card recv", "call send", "call recv" }, seen)
  end)
end)

describe("Transaction misuse", function()
  it("blames the caller's line, with and without card defaults, cached or not", function()
    local card = card_replying("9000", "9000")
    local c = cmd(0x00, 0xB0, 0, 0, nil, 1)
    for round = 1, 2 do
      raises_here_T("Transaction: iscard%.ISCardCmd expected, got table",
        function() local r = Transaction(card, {}); return r end)
      raises_here_T("Transaction: the ISCardCmd holds no command",
        function() local r = Transaction(card, cmdm.new()); return r end)
      raises_here_T("Transaction: unknown option 'checks'",
        function() local r = Transaction(card, c, { checks = true }); return r end)
      raises_here_T("Transaction: option check: boolean expected, got integer 1",
        function() local r = Transaction(card, c, { check = 1 }); return r end)
      if round == 1 then
        raises_here_T("Transaction: options table or nil expected, got string",
          function() local r = Transaction(card, c, "x"); return r end)
        assert.equal(card, Transaction(card, c))
        options(card, { fix_le = true })
      else -- merged with the card's options first, as it always was
        assert.has_error(function() Transaction(card, c, "x") end)
      end
    end
    options(card, { fix_le = "yes" })
    raises_here_T("Transaction: option fix_le: boolean expected, got string",
      function() local r = Transaction(card, c); return r end)
    raises_here_T("Transaction: option fix_le: boolean expected, got string",
      function() local r = Transaction(card, c); return r end)
  end)

  it("checks the command before the options, and the options before sending", function()
    local sent = 0
    local function t() sent = sent + 1 return H "9000" end
    raises_here("Transaction: iscard%.ISCardCmd expected, got nil",
      function() local r = run(t, nil, { bogus = 1 }); return r end)
    raises_here("unknown option 'bogus'",
      function() local r = run(t, cmdm.new(), { bogus = 1 }); return r end)
    raises_here("holds no command", function() local r = run(t, cmdm.new()); return r end)
    assert.equal(0, sent)
  end)
end)
