-- Fuzz harness: the Transaction engine (iscard.transaction.run) fed
-- scripted replies through the transmit function it takes.  The input
-- gives the options, the command (secret INS and ENVELOPE included, data
-- long enough to chain or need extended length) and then one reply per
-- exchange: 61xx, 6Cxx, 9000 with data, garbage of any length (0, 1, 2,
-- up to 65538 bytes) or a transmit failure.  The contract checked:
-- * the engine returns success, or nil, "NAME: ...", code; or raises a
--   "Transaction: ..." misuse error -- nothing else escapes;
-- * every APDU it sends is a well-formed command of 4..65548 bytes;
-- * the trace sees every APDU sent, in order, byte for byte -- except the
--   data field of a PIN-carrying command, which is all '*' and of the same
--   length, in every part, resend and ENVELOPE, unless trace_pins is set;
-- * on success the reply ends with the status word of the last exchange.
local transaction = require "iscard.transaction"
local cmdm = require "iscard.cmd"
local input = require "input"

local check = require("input").check

-- INS whose data is a PIN; kept apart from the engine's own list on purpose
local SECRET = { [0x20] = true, [0x21] = true, [0x24] = true, [0x25] = true,
                 [0x2C] = true, [0x26] = true, [0x28] = true }
local INS = { 0x20, 0x21, 0x24, 0x2C, 0xC2, 0xC3, 0xB0, 0xCA, 0xA4, 0xC0, 0x00 }
local CLA = { 0x00, 0x00, 0x80, 0x84, 0x0C, 0x10, 0x01, 0xA0 }
local LE = { false, 0, 1, 255, 256, 257, 65535, 65536 }
local CHAINING = { "auto", true, false }
local CHAIN_SIZE = { 255, 1, 2, 16, 100 }

local function reply(inp)
  local k = inp:byte()
  if inp:left() <= 0 then return "\144\0" end
  if k < 60 then return string.char(0x61, inp:byte()) end
  if k < 100 then return string.char(0x6C, inp:byte()) end
  if k < 150 then return inp:bytes(inp:byte()) .. "\144\0" end
  if k < 200 then return inp:bytes(inp:byte() % 8) end -- 0..7 bytes: often malformed
  if k < 215 then return ("\85"):rep(inp:u16()) .. string.char(inp:byte(), inp:byte()) end
  if k < 230 then return nil, "SCARD_W_REMOVED_CARD: the card was removed (fuzz)", 0x80100069 end
  if k < 240 then return inp:bytes(2) end
  return ("\0"):rep(inp:u16() % 300) .. "\99" .. string.char(inp:byte())
end

function fuzz(bytes) -- luacheck: ignore (a global: the C driver calls it)
  local inp = input.new(bytes)
  local flags = inp:byte()
  local opts = {
    get_response = flags % 2 == 0, fix_le = flags % 4 < 2, extended = flags % 8 < 4,
    trace_pins = flags % 16 >= 8, check = flags % 32 >= 16,
    chaining = inp:pick(CHAINING), chain_size = inp:pick(CHAIN_SIZE),
    max_exchanges = inp:byte() % 12,
  }
  local cla, ins, p1, p2 = inp:pick(CLA), inp:pick(INS), inp:byte(), inp:byte()
  local nsel = inp:byte()
  local nc = nsel < 200 and nsel % 40 or (nsel < 250 and 250 + inp:byte() or inp:u16())
  local data = inp:bytes(nc)
  if #data < nc then data = data .. ("\36"):rep(nc - #data) end
  if ins == 0xC2 or ins == 0xC3 then -- an ENVELOPE around a command
    data = (string.char(0, inp:pick(INS), 0, 0, math.min(#data, 255)) .. data):sub(1, 65535)
  end
  -- long data in few parts: 65535 one-byte parts would test nothing more
  if #data > 600 then opts.chain_size = 255 end
  local le = inp:pick(LE)
  if le == false then le = nil end
  local c = cmdm.new()
  c:BuildCmd(cla, ins, p1, p2, data, le)
  local secret = not opts.trace_pins and (SECRET[ins] or
    ((ins == 0xC2 or ins == 0xC3) and SECRET[data:byte(2)] == true))

  local traced, sent, last = {}, 0, nil
  opts.trace = function(dir, b, info)
    check(type(info) == "table" and type(info.hex) == "string", "trace info")
    if dir == "send" then traced[#traced + 1] = { b = b, info = info } end
  end
  local function transmit(apdu)
    sent = sent + 1
    -- chained parts are bounded by the data length, follow-ups by max_exchanges
    check(sent <= #data + opts.max_exchanges + 2, "runaway: %d exchanges", sent)
    check(type(apdu) == "string" and #apdu >= 4 and #apdu <= 65548, "APDU of bad length")
    local d = cmdm.decode(apdu)
    check(d ~= nil, "the engine sent a malformed APDU")
    local t = traced[sent]
    check(t ~= nil, "APDU %d sent without a trace", sent)
    if t.info.masked then
      check(#t.b == #apdu, "masked trace of another length")
      local td = cmdm.decode(t.b)
      check(td and td.data == ("*"):rep(#d.data), "masked trace shows data")
    else
      check(t.b == apdu, "trace differs from the APDU sent")
      check(not (secret and d.ins ~= 0xC0 and #d.data > 0), "PIN data traced in clear (INS %02X, %s)",
        d.ins, tostring(t.info.reason))
    end
    local r, msg, code = reply(inp)
    last = r
    return r, msg, code
  end

  local ok, r, msg, code = pcall(transaction.run, transmit, c, opts)
  if not ok then
    check(tostring(r):find("Transaction: ", 1, true), "raised: %s", tostring(r))
    return
  end
  if r == true then
    local rep = c.ApduReply
    check(#rep >= 2 and last and rep:sub(-2) == last:sub(-2), "reply does not end with the last SW")
  else
    check(r == nil and type(msg) == "string" and msg:find("^[%w_]+: ") and type(code) == "number",
      "bad failure: %s %s %s", tostring(r), tostring(msg), tostring(code))
  end
end
