-- Transaction options, checked once when they are set: the library's
-- defaults (read-only, changed by iscard.set_defaults), a card's
-- (card:options) and a call's. A unit spec: fake cards, no PC/SC.

local util = require "iscard.util"
local cmdm = require "iscard.cmd"
local transaction = require "iscard.transaction"

local H = util.fromhex
local E = util.errors

-- ISCard's Transaction and options, installed on the methods of fake cards
-- whose transmit answers from a list of hex replies and records what it got
local methods = { transmit = function(card, apdu) return card:transmit(apdu) end }
transaction.install(methods)
local Transaction, options = methods.Transaction, methods.options

local function fake_card(...)
  local replies, sent = { ... }, {}
  local card = {}
  function card.transmit(_, apdu)
    sent[#sent + 1] = util.tohex(apdu)
    return H(assert(replies[#sent], "unexpected APDU " .. util.tohex(apdu)))
  end
  return card, sent
end

local function cmd() return cmdm.new():BuildCmd(0x00, 0xB0, 0, 0, nil, 0) end

-- Changes the defaults for the rest of the test that calls it.
local function with_defaults(t)
  local saved = transaction.set_defaults(t)
  finally(function() transaction.set_defaults(saved) end)
end

-- f, written on one line, must raise an error matching `pattern` that
-- blames that line.
local function raises(pattern, f)
  local ok, err = pcall(f)
  assert.is_false(ok, "no error raised")
  assert.matches("options_spec%.lua:" .. debug.getinfo(f, "S").linedefined .. ": " .. pattern, err)
end

describe("iscard.transaction.defaults", function()
  it("shows the defaults in force", function()
    local d = transaction.defaults
    assert.equal(300, d.max_exchanges)
    assert.equal("auto", d.chaining)
    assert.is_true(d.get_response)
    assert.is_nil(d.trace)
    assert.is_nil(d.plain) -- only the options are shown
    with_defaults { max_exchanges = 5 }
    assert.equal(5, d.max_exchanges)
  end)

  it("is read-only: an assignment raises, pointing to set_defaults", function()
    raises("iscard%.transaction%.defaults is read%-only: use iscard%.set_defaults{check = %.%.%.}",
      function() transaction.defaults.check = true end)
    assert.is_false(transaction.defaults.check)
  end)

  it("lists its fields with pairs where Lua honours __pairs", function()
    if _VERSION == "Lua 5.1" then return end -- 5.1 and LuaJIT do not
    local seen = {}
    for k, v in pairs(transaction.defaults) do seen[k] = v end
    assert.same(transaction.set_defaults {}, (function() seen.trace = false return seen end)())
  end)
end)

describe("set_defaults", function()
  it("is iscard.set_defaults", function()
    assert.equal(transaction.set_defaults, require("iscard").set_defaults)
  end)

  it("changes what every later Transaction does, and returns what restores the old defaults", function()
    local card = fake_card("6A82", "6A82", "6A82")
    local c = cmd()
    assert.equal(card, Transaction(card, c))
    local saved = transaction.set_defaults { check = true }
    assert.is_false(saved.check)
    assert.equal(300, saved.max_exchanges)
    local ok, _, code = Transaction(card, c)
    assert.is_nil(ok)
    assert.equal(E.ISCARD_E_CARD_STATUS, code)
    assert.is_true(transaction.set_defaults(saved).check)
    assert.equal(card, Transaction(card, c))
  end)

  it("switches a default trace off with trace = false", function()
    local seen = {}
    local card = fake_card("9000", "9000")
    local saved = transaction.set_defaults { trace = function(dir) seen[#seen + 1] = dir end }
    Transaction(card, cmd())
    assert.is_false(saved.trace) -- there was none: restoring removes it
    transaction.set_defaults(saved)
    assert.is_nil(transaction.defaults.trace)
    Transaction(card, cmd())
    assert.same({ "send", "recv" }, seen)
  end)

  it("checks the whole table first: a bad one raises at the caller's line and changes nothing", function()
    raises("set_defaults: option chain_size: integer 1%.%.255 expected, got integer 0",
      function() transaction.set_defaults { check = true, chain_size = 0 } end)
    assert.is_false(transaction.defaults.check)
    raises("set_defaults: unknown option 'checks'", function() transaction.set_defaults { checks = true } end)
    raises("set_defaults: table expected, got boolean", function() transaction.set_defaults(true) end)
  end)

  it("merges every card's options over the new defaults", function()
    local card = fake_card("6110", "6110", "6110")
    local c = cmd()
    options(card, { check = true })
    with_defaults { get_response = false, check = false }
    -- the defaults' get_response, the card's own check
    local ok, _, code = Transaction(card, c)
    assert.is_nil(ok)
    assert.equal(E.ISCARD_E_CARD_STATUS, code)
    assert.equal(0x6110, c.ReplyStatus)
  end)
end)

describe("card:options", function()
  it("are checked when set: a bad option raises at the caller's line and leaves them as they were", function()
    local card = fake_card("6A82", "6A82")
    options(card, { check = true })
    raises("options: option fix_le: boolean expected, got string",
      function() options(card, { fix_le = "yes", check = false }) end)
    local ok, _, code = Transaction(card, cmd()) -- still check = true
    assert.is_nil(ok)
    assert.equal(E.ISCARD_E_CARD_STATUS, code)
    raises("options: table expected, got string", function() options(card, "check") end)
  end)

  it("merge into the earlier ones, under a call's own", function()
    local card, sent = fake_card("6C05", "0102030405 9000", "6C05", "6C05")
    local c = cmd()
    options(card, { fix_le = false })
    options(card, { check = false })
    assert.equal(card, Transaction(card, c, { fix_le = true }))
    assert.equal("01020304059000", c:reply_hex())
    assert.equal(card, Transaction(card, c))
    assert.equal(0x6C05, c.ReplyStatus)
    local ok = Transaction(card, c, { check = true })
    assert.is_nil(ok)
    assert.same({ "00B0000000", "00B0000005", "00B0000000", "00B0000000" }, sent)
  end)
end)

describe("a call's options", function()
  it("are checked on every call that gives them, at the caller's line", function()
    local card = fake_card()
    raises("Transaction: option check: boolean expected, got integer 1",
      function() Transaction(card, cmd(), { check = 1 }) end)
    raises("Transaction: option trace: function expected, got integer 1",
      function() transaction.run(function() end, cmd(), { trace = 1 }) end)
    raises("Transaction: options table or nil expected, got string", function() Transaction(card, cmd(), "x") end)
  end)

  it("take trace = false as no trace", function()
    local card = fake_card("9000")
    assert.equal(card, Transaction(card, cmd(), { trace = false }))
    assert.is_true(transaction.run(function() return H "9000" end, cmd(), { trace = false }))
  end)
end)

describe("misuse of ISCard:Transaction", function()
  it("is blamed on the caller's line", function()
    local card = fake_card()
    raises("Transaction: iscard%.ISCardCmd expected, got table", function() Transaction(card, {}) end)
    raises("Transaction: the ISCardCmd holds no command", function() Transaction(card, cmdm.new()) end)
    local long = cmdm.new():BuildCmd(0x80, 0x01, 0, 0, ("x"):rep(300))
    raises("Transaction: cannot chain CLA 80", function() Transaction(card, long, { chaining = true }) end)
    raises("Transaction: 300 bytes of command data need extended length or command chaining",
      function() Transaction(card, long, { chaining = false, extended = false }) end)
  end)
end)
