--- Round trips through iscard: N card:Transaction(cmd) (or N card:transmit)
-- calls with the same prebuilt command, after 100 untimed ones.
--
-- usage: lua5.4 bench/clients/iscard_rt.lua MODE READER N APDU_HEX
--   MODE  transaction: card:Transaction(cmd), cmd = ISCardCmd with Apdu set once
--         transmit:    card:transmit(apdu), the C core alone
--         build:       iso:GetData(...) rebuild + Transaction each time (the
--                      whole Lua layer per APDU; APDU_HEX is ignored)
-- prints: n= wall_s= cpu_s= sw=   (cpu_s: this process, timed loop only)
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local iscard = require "iscard"

local mode, reader, n, hex = arg[1], arg[2], math.tointeger(tonumber(arg[3])), arg[4]
assert(mode and reader and n and hex, "usage: iscard_rt.lua MODE READER N APDU_HEX")
local apdu = C.fromhex(hex)
local card = C.attach(reader)

local run
if mode == "transaction" then
  local cmd = iscard.ISCardCmd()
  cmd.Apdu = apdu
  run = function(k)
    for _ = 1, k do
      local ok, msg = card:Transaction(cmd)
      if not ok then error(msg) end
    end
    return cmd.ReplyStatus
  end
elseif mode == "transmit" then
  run = function(k)
    local r
    for _ = 1, k do
      local msg
      r, msg = card:transmit(apdu)
      if not r then error(msg) end
    end
    return (r:byte(-2) << 8) | r:byte(-1)
  end
elseif mode == "build" then
  local iso, cmd = iscard.ISCardISO7816(), iscard.ISCardCmd()
  iso:SetDefaultClassId(0x80)
  run = function(k)
    for _ = 1, k do
      iso:GetData(0x00, 0x00, 16, cmd) -- 80 CA 00 00 10 on the bulk card: 6D00
      local ok, msg = card:Transaction(cmd)
      if not ok then error(msg) end
    end
    return cmd.ReplyStatus
  end
else
  error("unknown mode " .. tostring(mode))
end

run(100)
local t0, c0 = C.now(), C.cpu()
local sw = run(n)
local dc, dt = C.cpu() - c0, C.now() - t0
C.emit({ n = n, wall_s = dt, cpu_s = dc, sw = string.format("%04X", sw) }, { "n", "wall_s", "cpu_s", "sw" })
card:close()
