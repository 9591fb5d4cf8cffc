-- PIN data never shows in a trace: every INS that carries reference data,
-- in every form the engine sends it (short, extended, chained parts, Le
-- resends after 6Cxx, inside an ENVELOPE, ENVELOPE parts), through
-- transaction.run with a scripted transmit.  Through ISCard:Transaction on
-- the test bed and through `iscard send --trace`: spec/bed/masking_spec.lua.
local util = require "iscard.util"
local cmdm = require "iscard.cmd"
local transaction = require "iscard.transaction"

local H = util.fromhex
-- INS 20/21 VERIFY, 24/25 CHANGE REFERENCE DATA, 2C RESET RETRY COUNTER,
-- 26/28 DISABLE/ENABLE VERIFICATION REQUIREMENT
local SECRET_INS = { 0x20, 0x21, 0x24, 0x25, 0x2C, 0x26, 0x28 }
local PIN = "31415926"

-- Runs cmd with a transmit that answers each APDU from `answers` (hex,
-- then 9000) and a trace; returns the "send" trace entries and the APDUs
-- really sent.
local function traced(cmd, opts, answers)
  local sends, sent, i = {}, {}, 0
  opts.trace = function(dir, bytes, info)
    if dir == "send" then sends[#sends + 1] = { bytes = bytes, info = info } end
  end
  local ok, msg = transaction.run(function(apdu)
    i = i + 1
    sent[#sent + 1] = apdu
    return H((answers or {})[i] or "9000")
  end, cmd, opts)
  assert(ok, msg)
  return sends, sent
end

-- Every traced send of a secret command: masked, data all '*', the same
-- length as what went out, and no PIN byte run anywhere in bytes or hex.
local function assert_masked(sends, sent, pin)
  pin = pin or PIN
  assert.is_true(#sends > 0)
  assert.are.equal(#sent, #sends)
  local hexpin = util.tohex(pin:sub(1, 4), " ")
  for k, s in ipairs(sends) do
    assert.is_nil(s.bytes:find(pin:sub(1, 4), 1, true), "PIN in trace bytes of send " .. k)
    assert.is_nil(s.info.hex:find(hexpin, 1, true), "PIN in trace hex of send " .. k)
    assert.are.equal(#sent[k], #s.bytes)
    local d = cmdm.decode(sent[k])
    if s.info.reason == "get-response" then
      assert.is_false(s.info.masked) -- carries no data
      assert.are.equal(sent[k], s.bytes)
    else
      assert.is_true(s.info.masked, "send " .. k .. " (" .. s.info.reason .. ") not masked")
      assert.are.equal(("*"):rep(#d.data), cmdm.decode(s.bytes).data)
      assert.matches("%*%*", s.info.hex)
    end
  end
end

local function cmd(ins, data, le) return cmdm.new():BuildCmd(0x00, ins, 0x00, 0x81, data, le) end

describe("PIN masking in traces", function()
  for _, ins in ipairs(SECRET_INS) do
    local name = ("INS %02X"):format(ins)

    it(name .. ": short and extended forms", function()
      assert_masked(traced(cmd(ins, PIN), {}))
      assert_masked(traced(cmd(ins, PIN, 0), {}))
      local long = PIN:rep(40) -- 320 bytes: extended
      local sends, sent = traced(cmd(ins, long), {})
      assert.are.equal(1, #sent)
      assert.are.equal(0, sent[1]:byte(5)) -- the extended marker
      assert_masked(sends, sent, long)
    end)

    it(name .. ": every chained part", function()
      local long = PIN:rep(40)
      local sends, sent = traced(cmd(ins, long), { extended = false })
      assert.are.equal(2, #sent)
      assert_masked(sends, sent, long)
      sends, sent = traced(cmd(ins, PIN), { chaining = true, chain_size = 3 })
      assert.are.equal(3, #sent)
      assert_masked(sends, sent, PIN)
    end)

    it(name .. ": the automatic exchanges (Le resend after 6Cxx, GET RESPONSE)", function()
      local sends, sent = traced(cmd(ins, PIN, 1), {}, { "6C04", "6102", "0102 9000" })
      assert.are.equal(3, #sent)
      assert.are.equal("le-retry", sends[2].info.reason)
      assert.are.equal("get-response", sends[3].info.reason)
      assert_masked(sends, sent, PIN)
    end)

    it(name .. ": inside an ENVELOPE (C2 and C3), whole and in parts", function()
      local inner = cmdm.encode(0x00, ins, 0x00, 0x81, PIN)
      assert_masked(traced(cmdm.new():Encapsulate(inner), {}))
      assert_masked(traced(cmdm.new():BuildCmd(0x00, 0xC3, 0, 0, inner), {}))
      local sends, sent = traced(cmdm.new():Encapsulate(inner), { chaining = true, chain_size = 4 })
      assert.are.equal(4, #sent) -- 13 bytes in parts of 4
      assert_masked(sends, sent, PIN)
    end)
  end

  it("shows the data when trace_pins is set, and masks no other INS", function()
    local sends = traced(cmd(0x20, PIN), { trace_pins = true })
    assert.are.equal("00 20 00 81 08 33 31 34 31 35 39 32 36", sends[1].info.hex)
    sends = traced(cmdm.new():BuildCmd(0x00, 0xD6, 0, 0, PIN), {})
    assert.is_false(sends[1].info.masked)
    assert.are.equal("00 D6 00 00 08 33 31 34 31 35 39 32 36", sends[1].info.hex)
  end)
end)
