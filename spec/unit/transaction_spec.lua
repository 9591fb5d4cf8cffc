-- The Transaction engine against fake cards: scripted exchanges (exact bytes
-- both ways) and spec/cards/iso.lua driven directly, without PC/SC.

local oracle = require "support.oracle"
local pattern, adler32 = oracle.pattern, oracle.adler32
local util = require "iscard.util"
local cmdm = require "iscard.cmd"
local transaction = require "iscard.transaction"

local H, X = util.fromhex, util.tohex
local run = transaction.run
local E = util.errors

-- A T=0 card that plays a fixed script: each step is { expected C-APDU hex,
-- R-APDU hex } or { expected hex, fail = message, code = n }.
local function script(steps)
  local n = 0
  local function transmit(apdu)
    n = n + 1
    local step = steps[n]
    assert(step, "unexpected extra APDU " .. X(apdu))
    assert.equal(X(H(step[1])), X(apdu), "APDU number " .. n)
    if step.fail then return nil, step.fail, step.code end
    return H(step[2])
  end
  local function done() assert.equal(#steps, n, "scripted exchanges sent") end
  return transmit, done
end

local iso_behaviour = dofile("spec/cards/iso.lua")
-- spec/cards/iso.lua as a card in memory; counts the APDUs it is sent.
local function iso_card()
  local card, count = { state = {} }, 0
  return function(apdu)
    count = count + 1
    return iso_behaviour(card, apdu) or H "6D00"
  end, function() return count end
end

local function cmd(...) return cmdm.new():BuildCmd(...) end

local fails_with = require("support.oracle").failure_check(E)

describe("Transaction basics", function()
  it("sends the command byte for byte and stores the reply", function()
    local t, done = script { { "00A4040007A0000000031010 00", "6F10 8407A0000000031010 9000" } }
    local c = cmd(0x00, 0xA4, 0x04, 0x00, H "A0000000031010", 0)
    assert.is_true(run(t, c))
    done()
    assert.equal("6F108407A00000000310109000", c:reply_hex())
    assert.equal(0x9000, c.ReplyStatus)
    assert.equal(H "6F108407A0000000031010", c.ReplyData)
  end)

  it("returns the given success value, so a caller can hand back its object", function()
    local card = {}
    assert.equal(card, run(script { { "00B0000001", "01 9000" } }, cmd(0x00, 0xB0, 0, 0, nil, 1), nil, card))
    local ok, msg = run(script { { "00B0000001", "90" } }, cmd(0x00, 0xB0, 0, 0, nil, 1), nil, card)
    assert.is_nil(ok)
    assert.matches("^ISCARD_E_MALFORMED_RESPONSE", msg)
  end)

  it("treats a status word other than 9000 as success", function()
    local t = script { { "00A4000002 3F01", "6A82" } }
    local c = cmd(0x00, 0xA4, 0x00, 0x00, H "3F01")
    assert.is_true(run(t, c))
    assert.equal(0x6A82, c.ReplyStatus)
    assert.equal("", c.ReplyData)
  end)

  it("sends a needlessly extended APDU unchanged", function()
    local c = cmdm.new()
    c.Apdu = H "00B00000000005"
    local t, done = script { { "00B00000000005", "0102030405 9000" } }
    assert.is_true(run(t, c))
    done()
  end)

  it("replaces the previous reply", function()
    local c = cmd(0x00, 0xB0, 0, 0, nil, 1)
    c.ApduReply = H "AA 9000"
    assert.is_true(run(script { { "00B0000001", "6282" } }, c))
    assert.equal("6282", c:reply_hex())
  end)

  it("returns PC/SC failures unchanged and leaves no reply behind", function()
    local c = cmd(0x00, 0xB0, 0, 0, nil, 1)
    c.ApduReply = H "AA 9000"
    local t = script { { "00B0000001", fail = "SCARD_W_REMOVED_CARD: card removed", code = 0x80100069 } }
    local ok, msg, code = run(t, c)
    assert.is_nil(ok)
    assert.equal("SCARD_W_REMOVED_CARD: card removed", msg)
    assert.equal(0x80100069, code)
    assert.equal("", c.ApduReply)
    assert.is_nil(c.ReplyStatus)
  end)

  it("refuses a non-zero Nad before sending anything", function()
    local c = cmd(0x00, 0xB0, 0, 0, nil, 1)
    c.Nad = 0x12
    local sent = 0
    local ok, msg, code = run(function() sent = sent + 1 return H "9000" end, c)
    fails_with("ISCARD_E_NAD_UNSUPPORTED", ok, msg, code)
    assert.matches("Nad=12", msg)
    assert.equal(0, sent)
  end)

  it("raises on misuse, blaming the caller", function()
    local t = script {}
    local function raises(expected, f)
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.matches(expected, err)
      assert.matches("transaction_spec%.lua:%d+:", err)
    end
    raises("transmit function expected, got nil", function() local r = run(nil, cmd(0, 0)); return r end)
    raises("iscard%.ISCardCmd expected, got table", function() local r = run(t, {}); return r end)
    raises("holds no command", function() local r = run(t, cmdm.new()); return r end)
    raises("options table or nil expected, got string", function() local r = run(t, cmd(0, 0), "x"); return r end)
    raises("unknown option 'getresponse'",
      function() local r = run(t, cmd(0, 0), { getresponse = false }); return r end)
    raises("option get_response: boolean expected, got string",
      function() local r = run(t, cmd(0, 0), { get_response = "no" }); return r end)
    raises("option chain_size: integer 1..255 expected, got integer 256",
      function() local r = run(t, cmd(0, 0), { chain_size = 256 }); return r end)
    raises("option chain_size: integer 1..255 expected, got integer 0",
      function() local r = run(t, cmd(0, 0), { chain_size = 0 }); return r end)
    raises("option max_exchanges: integer 0%.%.%d+ expected, got integer %-1",
      function() local r = run(t, cmd(0, 0), { max_exchanges = -1 }); return r end)
    raises("option chaining: \"auto\", true or false expected, got string",
      function() local r = run(t, cmd(0, 0), { chaining = "yes" }); return r end)
    raises("option trace: function expected, got boolean",
      function() local r = run(t, cmd(0, 0), { trace = true }); return r end)
  end)

  it("does not change its defaults", function()
    local before = transaction.set_defaults {} -- a copy of them
    run(script { { "00B0000001", "6C05" }, { "00B0000005", "0102030405 9000" } }, cmd(0, 0xB0, 0, 0, nil, 1),
      { fix_le = true, max_exchanges = 3 })
    assert.same(before, transaction.set_defaults {})
    assert.equal(300, transaction.defaults.max_exchanges)
  end)
end)

describe("Transaction reply lengths", function()
  it("calls a reply of 0 bytes malformed", function()
    local c = cmd(0x00, 0xE0, 0x00, 0x00)
    local ok, msg, code = run(iso_card(), c)
    fails_with("ISCARD_E_MALFORMED_RESPONSE", ok, msg, code)
    assert.matches("reply of 0 bytes to INS E0", msg)
    assert.equal("", c.ApduReply)
  end)

  it("calls a reply of 1 byte malformed", function()
    local ok, msg, code = run(iso_card(), cmd(0x00, 0xE0, 0x00, 0x01))
    fails_with("ISCARD_E_MALFORMED_RESPONSE", ok, msg, code)
    assert.matches("reply of 1 byte to INS E0 %(a response APDU needs at least SW1 SW2%)", msg)
  end)

  it("calls a 1-byte answer to GET RESPONSE malformed", function()
    local t = script { { "00B0000000", "6100" }, { "00C0000000", "90" } }
    local ok, msg, code = run(t, cmd(0x00, 0xB0, 0, 0, nil, 0))
    fails_with("ISCARD_E_MALFORMED_RESPONSE", ok, msg, code)
    assert.matches("to INS C0 %(GET RESPONSE%)", msg)
  end)

  for _, n in ipairs { 2, 3, 256, 257, 258, 65535 } do
    it("takes a reply of " .. n .. " bytes", function()
      local c = cmd(0x00, 0xE0, math.floor(n / 256), n % 256)
      assert.is_true(run(iso_card(), c))
      assert.equal(n, c.ApduReplyLength)
      assert.equal(pattern(n - 2), c.ReplyData)
      assert.equal(0x9000, c.ReplyStatus)
    end)
  end
end)

describe("Transaction 61xx (GET RESPONSE)", function()
  it("fetches the announced bytes", function()
    local t, done = script {
      { "00A4040007A0000000031010", "611C" },
      { "00C000001C", ("AB"):rep(28) .. "9000" },
    }
    local c = cmd(0x00, 0xA4, 0x04, 0x00, H "A0000000031010")
    assert.is_true(run(t, c))
    done()
    assert.equal(("AB"):rep(28) .. "9000", c:reply_hex())
    assert.equal(0x9000, c.ReplyStatus)
  end)

  it("reads 6100 as 256 and asks with Le 00", function()
    local t, done = script {
      { "00B0000000", "6100" },
      { "00C0000000", ("01"):rep(256) .. "6100" },
      { "00C0000000", ("02"):rep(256) .. "6105" },
      { "00C0000005", "0303030303 9000" },
    }
    local c = cmd(0x00, 0xB0, 0, 0, nil, 0)
    assert.is_true(run(t, c))
    done()
    assert.equal(("\1"):rep(256) .. ("\2"):rep(256) .. ("\3"):rep(5), c.ReplyData)
  end)

  it("keeps data that arrives together with 61xx", function()
    local t, done = script {
      { "00CA9F7F00", "0102 6102" },
      { "00C0000002", "0304 6283" },
    }
    local c = cmd(0x00, 0xCA, 0x9F, 0x7F, nil, 0)
    assert.is_true(run(t, c))
    done()
    assert.equal("010203046283", c:reply_hex())
    assert.equal(0x6283, c.ReplyStatus)
  end)

  it("collects chains of every piece size from the test card", function()
    for _, v in ipairs { { 0x01, 3 }, { 0x10, 4 }, { 0xFF, 2 }, { 0x00, 3 } } do
      local piece = v[1] == 0 and 256 or v[1]
      local t, count = iso_card()
      local c = cmd(0x00, 0xE2, v[1], v[2], nil, 0)
      assert.is_true(run(t, c))
      assert.equal(pattern(piece * v[2]), c.ReplyData)
      assert.equal(0x9000, c.ReplyStatus)
      assert.equal(1 + v[2], count())
    end
  end)

  it("uses AlternateClassId for GET RESPONSE when set", function()
    local t, done = script { { "80CA9F7F00", "6102" }, { "00C0000002", "0102 9000" } }
    local c = cmd(0x80, 0xCA, 0x9F, 0x7F, nil, 0)
    c.AlternateClassId = 0x00
    assert.is_true(run(t, c))
    done()
  end)

  it("derives the GET RESPONSE class from the command's", function()
    for _, v in ipairs { { "0C", "00" }, { "1D", "01" }, { "81", "81" }, { "A0", "A0" }, { "6D", "4D" } } do
      local t, done = script { { v[1] .. "B0000000", "6101" }, { v[2] .. "C0000001", "01 9000" } }
      assert.is_true(run(t, cmd(tonumber(v[1], 16), 0xB0, 0, 0, nil, 0)))
      done()
    end
  end)

  it("leaves 61xx alone when get_response is off", function()
    local t, done = script { { "00B0000000", "AA 6110" } }
    local c = cmd(0x00, 0xB0, 0, 0, nil, 0)
    assert.is_true(run(t, c, { get_response = false }))
    done()
    assert.equal("AA6110", c:reply_hex())
  end)

  it("ends an endless chain after max_exchanges with a clear error", function()
    local t, count = iso_card()
    local c = cmd(0x00, 0xE5, 0x00, 0x04, nil, 0)
    local ok, msg, code = run(t, c, { max_exchanges = 5 })
    fails_with("ISCARD_E_CHAIN_TOO_LONG", ok, msg, code)
    assert.matches("after 5 automatic", msg)
    assert.matches("last status 6104", msg)
    assert.equal(6, count())
    -- what arrived is kept, with the last status
    assert.equal(pattern(20), c.ReplyData)
    assert.equal(0x6104, c.ReplyStatus)
  end)

  it("bounds an endless 6100 chain by default", function()
    local t, count = iso_card()
    local ok, msg, code = run(t, cmd(0x00, 0xE5, 0x00, 0x00, nil, 0))
    fails_with("ISCARD_E_CHAIN_TOO_LONG", ok, msg, code)
    assert.equal(1 + transaction.defaults.max_exchanges, count())
  end)

  it("allows no follow-up at all with max_exchanges = 0", function()
    local ok, msg, code = run(script { { "00B0000000", "6110" } }, cmd(0x00, 0xB0, 0, 0, nil, 0), { max_exchanges = 0 })
    fails_with("ISCARD_E_CHAIN_TOO_LONG", ok, msg, code)
  end)

  it("passes a PC/SC failure in the middle of a chain through", function()
    local t = script {
      { "00B0000000", "6110" },
      { "00C0000010", fail = "SCARD_E_NO_SMARTCARD: gone", code = 0x8010000C },
    }
    local c = cmd(0x00, 0xB0, 0, 0, nil, 0)
    local ok, msg, code = run(t, c)
    assert.is_nil(ok)
    assert.equal("SCARD_E_NO_SMARTCARD: gone", msg)
    assert.equal(0x8010000C, code)
    assert.equal("", c.ApduReply)
  end)
end)

describe("Transaction 6Cxx (wrong Le)", function()
  it("resends the command with the Le the card asked for", function()
    local t, done = script { { "00B0000010", "6C08" }, { "00B0000008", ("77"):rep(8) .. "9000" } }
    local c = cmd(0x00, 0xB0, 0, 0, nil, 0x10)
    assert.is_true(run(t, c))
    done()
    assert.equal(("\119"):rep(8), c.ReplyData)
    -- the command object keeps what the caller built
    assert.equal("00B0000010", c:hex())
  end)

  it("reads 6C00 as 256", function()
    local t, count = iso_card()
    local c = cmd(0x00, 0xE3, 0x00, 0x00, nil, 1)
    assert.is_true(run(t, c))
    assert.equal(pattern(256), c.ReplyData)
    assert.equal(2, count())
  end)

  it("resends an extended command after 6C00 asking for exactly 256", function()
    local d = ("\66"):rep(300)
    local t, done = script {
      { "0088000000012C" .. X(d) .. "0001", "6C00" },
      { "0088000000012C" .. X(d) .. "0100", X(pattern(256)) .. "9000" },
    }
    local c = cmd(0x00, 0x88, 0, 0, d, 1)
    assert.is_true(run(t, c))
    done()
    assert.equal(pattern(256), c.ReplyData)
  end)

  it("handles 6Cxx followed by 61xx", function()
    local t, done = script {
      { "00E4002001", "6C20" },
      { "00E4002020", "6120" },
      { "00C0000020", X(pattern(32)) .. "9000" },
    }
    local c = cmd(0x00, 0xE4, 0x00, 0x20, nil, 1)
    assert.is_true(run(t, c))
    done()
    assert.equal(pattern(32), c.ReplyData)
    -- and the same with the test card
    local t2, count = iso_card()
    local c2 = cmd(0x00, 0xE4, 0x00, 0x20, nil, 1)
    assert.is_true(run(t2, c2))
    assert.equal(pattern(32), c2.ReplyData)
    assert.equal(3, count())
  end)

  it("corrects the Le of a GET RESPONSE too", function()
    local t, done = script {
      { "00B0000000", "6110" },
      { "00C0000010", "6C08" },
      { "00C0000008", "0102030405060708 9000" },
    }
    local c = cmd(0x00, 0xB0, 0, 0, nil, 0)
    assert.is_true(run(t, c))
    done()
    assert.equal("01020304050607089000", c:reply_hex())
  end)

  it("corrects a command without Le, adding one", function()
    local t, done = script { { "00E3000A", "6C0A" }, { "00E3000A0A", X(pattern(10)) .. "9000" } }
    assert.is_true(run(t, cmd(0x00, 0xE3, 0x00, 0x0A)))
    done()
  end)

  it("keeps data and Lc in the resend of a case 4 command", function()
    local t, done = script { { "0088000002 AABB 00", "6C04" }, { "0088000002 AABB 04", "01020304 9000" } }
    assert.is_true(run(t, cmd(0x00, 0x88, 0, 0, H "AABB", 0)))
    done()
  end)

  it("leaves 6Cxx alone when fix_le is off", function()
    local t, done = script { { "00B0000010", "6C08" } }
    local c = cmd(0x00, 0xB0, 0, 0, nil, 0x10)
    assert.is_true(run(t, c, { fix_le = false }))
    done()
    assert.equal(0x6C08, c.ReplyStatus)
  end)

  it("bounds a card that answers 6Cxx forever", function()
    local n = 0
    local ok, msg, code = run(function() n = n + 1 return H "6C05" end, cmd(0, 0xB0, 0, 0, nil, 1),
      { max_exchanges = 7 })
    fails_with("ISCARD_E_CHAIN_TOO_LONG", ok, msg, code)
    assert.equal(8, n)
  end)
end)

describe("Transaction extended length and chaining", function()
  local d300 = pattern(300)
  local d4000 = pattern(4000, 7)

  it("sends long data as one extended APDU by default", function()
    local t, done = script { { "00E8000000012C" .. X(d300) .. "000A", "0102030405060708090A 9000" } }
    assert.is_true(run(t, cmd(0x00, 0xE8, 0, 0, d300, 10)))
    done()
  end)

  it("chains a 300-byte command when extended length is off", function()
    local t, done = script {
      { "10D60000FF" .. X(d300:sub(1, 255)), "9000" },
      { "00D600002D" .. X(d300:sub(256)), "9000" },
    }
    local c = cmd(0x00, 0xD6, 0, 0, d300)
    assert.is_true(run(t, c, { extended = false }))
    done()
    assert.equal(0x9000, c.ReplyStatus)
    -- the object still holds the command as built
    assert.is_true(c:is_extended())
  end)

  it("puts Le only on the last part, short", function()
    local t, done = script {
      { "10880000FF" .. X(d300:sub(1, 255)), "9000" },
      { "008800002D" .. X(d300:sub(256)) .. "00", "0102 9000" },
    }
    assert.is_true(run(t, cmd(0x00, 0x88, 0, 0, d300, 1000), { extended = false }))
    done()
  end)

  it("delivers 300 and 4000 bytes intact to the test card, chained and extended", function()
    for _, data in ipairs { d300, d4000 } do
      for _, opts in ipairs { { extended = false }, { extended = true }, { chaining = true, chain_size = 100 } } do
        local t, count = iso_card()
        local c = cmd(0x00, 0xE8, 0, 0, data, 0)
        assert.is_true(run(t, c, opts))
        local r = c.ReplyData
        assert.equal(10, #r)
        local function be(i, j) -- big-endian number in bytes i..j
          local v = 0
          for k = i, j do v = v * 256 + r:byte(k) end
          return v
        end
        local n, a, parts = be(1, 4), be(5, 8), be(9, 10)
        assert.equal(#data, n)
        assert.equal(adler32(data), a)
        local expected_parts = opts.extended and 1 or math.ceil(#data / (opts.chain_size or 255))
        assert.equal(expected_parts, parts)
        assert.equal(expected_parts, count())
      end
    end
  end)

  it("cuts 4000 bytes into 15 parts of 255 and one of 175", function()
    local sizes = {}
    local function t(apdu)
      sizes[#sizes + 1] = { apdu:byte(1), apdu:byte(5), #apdu }
      return H "9000"
    end
    assert.is_true(run(t, cmd(0x00, 0xD6, 0, 0, d4000), { extended = false }))
    assert.equal(16, #sizes)
    for i = 1, 15 do assert.same({ 0x10, 255, 260 }, sizes[i]) end
    assert.same({ 0x00, 175, 180 }, sizes[16])
  end)

  it("stops when the card refuses a part, and says which", function()
    local t, count = iso_card()
    local c = cmd(0x00, 0xE9, 0, 0, d4000)
    local ok, msg, code = run(t, c, { extended = false })
    fails_with("ISCARD_E_CHAINING_ABORTED", ok, msg, code)
    assert.matches("part 1 of 16 of a chained command got 6884: checking error: command chaining not supported", msg)
    assert.equal(1, count())
    assert.equal(0x6884, c.ReplyStatus)
  end)

  it("keeps the chaining CLA's channel bits", function()
    local t, done = script {
      { "13D60000FF" .. X(d300:sub(1, 255)), "9000" },
      { "03D600002D" .. X(d300:sub(256)), "9000" },
    }
    assert.is_true(run(t, cmd(0x03, 0xD6, 0, 0, d300), { extended = false }))
    done()
  end)

  it("chains on request even when extended length is allowed", function()
    local n = 0
    assert.is_true(run(function() n = n + 1 return H "9000" end, cmd(0x00, 0xD6, 0, 0, d300), { chaining = true }))
    assert.equal(2, n)
    n = 0
    -- short data needs no chaining
    assert.is_true(run(function() n = n + 1 return H "9000" end, cmd(0x00, 0xD6, 0, 0, "abc"), { chaining = true }))
    assert.equal(1, n)
  end)

  it("raises when long data can go neither way", function()
    local ok, err = pcall(function()
      local r = run(script {}, cmd(0x00, 0xD6, 0, 0, d300), { extended = false, chaining = false })
      return r
    end)
    assert.is_false(ok)
    assert.matches("transaction_spec%.lua:%d+: Transaction: 300 bytes of command data need extended length", err)
    ok, err = pcall(function()
      local r = run(script {}, cmd(0x80, 0xD6, 0, 0, d300), { extended = false })
      return r
    end)
    assert.is_false(ok)
    assert.matches("cannot chain CLA 80", err)
    ok, err = pcall(function()
      local r = run(script {}, cmd(0x10, 0xD6, 0, 0, d300), { extended = false })
      return r
    end)
    assert.is_false(ok)
    assert.matches("cannot chain CLA 10", err)
  end)

  it("asks for more than 256 bytes with Le 00 when extended length is off", function()
    local t, done = script {
      { "00B0000000", X(pattern(256)) .. "6164" },
      { "00C0000064", X(pattern(100, 256)) .. "9000" },
    }
    local c = cmd(0x00, 0xB0, 0, 0, nil, 356)
    assert.is_true(run(t, c, { extended = false }))
    done()
    assert.equal(pattern(356), c.ReplyData)
  end)

  it("sends a parsed extended APDU short when extended length is off", function()
    local c = cmdm.new()
    c.Apdu = H "00B00000000005"
    local t, done = script { { "00B0000005", "0102030405 9000" } }
    assert.is_true(run(t, c, { extended = false }))
    done()
  end)

  it("collects 65535 bytes through 61xx, with and without extended length", function()
    for _, ext in ipairs { true, false } do
      local t, count = iso_card()
      local c = cmd(0x00, 0xE1, 0xFF, 0xFF, nil, 65536)
      assert.is_true(run(t, c, { extended = ext }))
      assert.equal(65535, #c.ReplyData)
      assert.equal(pattern(65535), c.ReplyData)
      assert.equal(0x9000, c.ReplyStatus)
      assert.equal(257, count())
    end
  end)

  it("gets 257 and 65533 bytes directly with an extended Le", function()
    for _, n in ipairs { 257, 65533 } do
      local t, count = iso_card()
      local c = cmd(0x00, 0xE1, math.floor(n / 256), n % 256, nil, n)
      assert.is_true(run(t, c))
      assert.equal(pattern(n), c.ReplyData)
      assert.equal(1, count())
    end
  end)

  it("echoes extended data through the test card", function()
    local t = iso_card()
    local c = cmd(0x00, 0xE7, 0, 0, d4000, 4000)
    assert.is_true(run(t, c))
    assert.equal(d4000, c.ReplyData)
  end)
end)

describe("Transaction trace", function()
  local function recorder()
    local log = {}
    return log, function(dir, bytes, info) log[#log + 1] = { dir = dir, bytes = bytes, info = info } end
  end

  it("shows every APDU, automatic ones included, in order", function()
    local log, trace = recorder()
    local t = script {
      { "00E4002001", "6C20" },
      { "00E4002020", "6120" },
      { "00C0000020", X(pattern(32)) .. "9000" },
    }
    assert.is_true(run(t, cmd(0x00, 0xE4, 0x00, 0x20, nil, 1), { trace = trace }))
    local seen = {}
    for _, e in ipairs(log) do seen[#seen + 1] = e.dir .. " " .. e.info.reason .. " " .. e.info.exchange end
    assert.same({
      "send command 1", "recv command 1", "send le-retry 2", "recv le-retry 2",
      "send get-response 3", "recv get-response 3",
    }, seen)
    assert.equal(H "00E4002001", log[1].bytes)
    assert.equal("00 E4 00 20 01", log[1].info.hex)
    assert.equal(0x6C20, log[2].info.sw)
    assert.equal(H "00C0000020", log[5].bytes)
    assert.equal(0x9000, log[6].info.sw)
    assert.is_false(log[1].info.masked)
  end)

  it("numbers chained parts", function()
    local log, trace = recorder()
    local n = 0
    run(function() n = n + 1 return H "9000" end, cmd(0x00, 0xD6, 0, 0, pattern(600)),
      { extended = false, trace = trace })
    assert.equal(3, n)
    assert.equal(6, #log)
    assert.equal(1, log[1].info.part)
    assert.equal(3, log[1].info.parts)
    assert.equal(3, log[5].info.part)
    assert.equal("chain", log[5].info.reason)
  end)

  it("masks PIN data of VERIFY unless asked not to", function()
    local log, trace = recorder()
    local t = script { { "0020008106 313233343536", "63C2" } }
    assert.is_true(run(t, cmd(0x00, 0x20, 0x00, 0x81, "123456"), { trace = trace }))
    assert.equal("\0\32\0\129\6******", log[1].bytes)
    assert.equal("00 20 00 81 06 ** ** ** ** ** **", log[1].info.hex)
    assert.is_true(log[1].info.masked)
    assert.is_nil(log[1].bytes:find("123456", 1, true))
    assert.equal(H "63C2", log[2].bytes)

    log, trace = recorder()
    t = script { { "0020008106 313233343536", "9000" } }
    run(t, cmd(0x00, 0x20, 0x00, 0x81, "123456"), { trace = trace, trace_pins = true })
    assert.equal("00 20 00 81 06 31 32 33 34 35 36", log[1].info.hex)
    assert.is_false(log[1].info.masked)
  end)

  it("masks CHANGE REFERENCE DATA and RESET RETRY COUNTER, keeping Le visible", function()
    for _, ins in ipairs { 0x24, 0x2C, 0x21, 0x25 } do
      local log, trace = recorder()
      run(function() return H "9000" end, cmd(0x00, ins, 0x00, 0x81, "12345678", 0), { trace = trace })
      assert.equal(string.format("00 %02X 00 81 08 ** ** ** ** ** ** ** ** 00", ins), log[1].info.hex)
      assert.equal(string.char(0, ins, 0, 0x81, 8) .. "********\0", log[1].bytes)
    end
  end)

  it("masks every part and every resend of a PIN command, but not GET RESPONSE", function()
    local log, trace = recorder()
    local pin = ("9"):rep(300)
    local answers = { "9000", "6C02", "6102", "0102 9000" }
    local i = 0
    run(function() i = i + 1 return H(answers[i]) end, cmd(0x00, 0x24, 0x00, 0x81, pin, 1),
      { extended = false, trace = trace })
    local sends = {}
    for _, e in ipairs(log) do
      if e.dir == "send" then sends[#sends + 1] = e end
      assert.is_nil(e.bytes:find("999", 1, true))
    end
    assert.equal(4, #sends)
    assert.is_true(sends[1].info.masked)
    assert.is_true(sends[2].info.masked)
    assert.equal("le-retry", sends[3].info.reason)
    assert.is_true(sends[3].info.masked)
    assert.equal("get-response", sends[4].info.reason)
    assert.is_false(sends[4].info.masked)
    assert.equal("00 C0 00 00 02", sends[4].info.hex)
  end)

  it("masks a VERIFY carried in an ENVELOPE", function()
    local log, trace = recorder()
    local inner = cmdm.encode(0x00, 0x20, 0x00, 0x81, "1234")
    local c = cmdm.new():Encapsulate(inner)
    run(function() return H "9000" end, c, { trace = trace })
    assert.is_nil(log[1].bytes:find("1234", 1, true))
    assert.is_true(log[1].info.masked)
  end)

  it("does not mask other commands", function()
    local log, trace = recorder()
    run(function() return H "9000" end, cmd(0x00, 0xD6, 0, 0, "1234"), { trace = trace })
    assert.equal("00 D6 00 00 04 31 32 33 34", log[1].info.hex)
  end)

  it("reports transmit failures", function()
    local log, trace = recorder()
    local t = script { { "00B0000001", fail = "SCARD_E_TIMEOUT: slow", code = 0x8010000A } }
    run(t, cmd(0x00, 0xB0, 0, 0, nil, 1), { trace = trace })
    assert.equal(2, #log)
    assert.equal("error", log[2].dir)
    assert.equal("", log[2].bytes)
    assert.equal("SCARD_E_TIMEOUT: slow", log[2].info.error)
    assert.equal(0x8010000A, log[2].info.code)
  end)

  it("traces the malformed reply before failing", function()
    local log, trace = recorder()
    local ok = run(function() return "\144" end, cmd(0x00, 0xB0, 0, 0, nil, 1), { trace = trace })
    assert.is_nil(ok)
    assert.equal("recv", log[2].dir)
    assert.equal("\144", log[2].bytes)
    assert.is_nil(log[2].info.sw)
  end)
end)

describe("Transaction check option", function()
  it("fails on a final status other than 9000, keeping the reply", function()
    local c = cmd(0x00, 0xA4, 0, 0, H "3F01")
    local ok, msg, code = run(script { { "00A4000002 3F01", "6A82" } }, c, { check = true })
    fails_with("ISCARD_E_CARD_STATUS", ok, msg, code)
    assert.equal("ISCARD_E_CARD_STATUS: 6A82: checking error: file or application not found", msg)
    assert.equal(0x6A82, c.ReplyStatus)
  end)

  it("passes 9000, also after GET RESPONSE", function()
    local t = script { { "00B0000000", "6102" }, { "00C0000002", "0102 9000" } }
    assert.is_true(run(t, cmd(0x00, 0xB0, 0, 0, nil, 0), { check = true }))
  end)

  it("judges the final status, not the 61xx on the way", function()
    local t = script { { "00B0000000", "6102" }, { "00C0000002", "0102 6282" } }
    local ok, msg = run(t, cmd(0x00, 0xB0, 0, 0, nil, 0), { check = true })
    assert.is_nil(ok)
    assert.matches("6282", msg)
  end)
end)

-- The plain case of Transaction (one exchange, no trace, no chaining) has
-- a path of its own and must behave like the general engine: return
-- values, stored replies, changes to transaction.defaults and to a card's
-- options between calls, and misuse errors that point at the caller's line.
-- ISCard's Transaction and options, installed on fake cards' methods
local methods = { transmit = function(card, apdu) return card:transmit(apdu) end }
transaction.install(methods)
local Transaction, options = methods.Transaction, methods.options

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

local function raises_here(expected, f, tail_called)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error matching " .. expected)
  assert.matches(expected, err)
  if positions or not tail_called then assert.matches("transaction_spec%.lua:%d+:", err) end
end

-- the same for ISCard:Transaction
local function raises_here_T(expected, f) return raises_here(expected, f, true) end

local function with_defaults(changes, f)
  local saved = transaction.set_defaults(changes)
  local ok, err = pcall(f)
  transaction.set_defaults(saved)
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

describe("Transaction options changed between calls", function()
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
    raises_here("set_defaults: option max_exchanges: integer 0%.%.%d+ expected, got string",
      function() transaction.set_defaults { max_exchanges = "many" } end)
    assert.is_true(run(t, c))
  end)

  it("follow defaults set as a whole and restored", function()
    local mine = transaction.set_defaults {} -- a copy of the defaults
    mine.check = true
    local saved = transaction.set_defaults(mine)
    local ok, err = pcall(function()
      local r, _, code = run(function() return H "6A82" end, cmd(0, 0xB0, 0, 0, nil, 0))
      assert.is_nil(r)
      assert.equal(E.ISCARD_E_CARD_STATUS, code)
    end)
    transaction.set_defaults(saved)
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
    raises_here("options: option fix_le: boolean expected, got string",
      function() options(card, { fix_le = "yes" }) end)
    assert.equal(card, Transaction(card, c)) -- the card's options as they were
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
