--- Resident memory over many Transactions: VmRSS (and the Lua heap) every
-- EVERY Transactions of the same prebuilt ISCardCmd.
--
-- usage: lua5.4 bench/clients/iscard_rss.lua READER TOTAL EVERY APDU_HEX
-- prints one line per sample: i= rss_kib= lua_kib= wall_s=
-- (i=0 is after 1000 untimed warm-up Transactions)
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local iscard = require "iscard"

local reader, total, every, hex = arg[1], math.tointeger(tonumber(arg[2])), math.tointeger(tonumber(arg[3])), arg[4]
assert(reader and total and every and hex, "usage: iscard_rss.lua READER TOTAL EVERY APDU_HEX")
local card = C.attach(reader)
local cmd = iscard.ISCardCmd()
cmd.Apdu = C.fromhex(hex)

local function run(k)
  for _ = 1, k do
    local ok, msg = card:Transaction(cmd)
    if not ok then error(msg) end
  end
end

local order = { "i", "rss_kib", "lua_kib", "wall_s" }
run(1000)
local t0 = C.now()
C.emit({ i = 0, rss_kib = C.rss_kib(), lua_kib = collectgarbage("count"), wall_s = 0.0 }, order)
local done = 0
while done < total do
  local k = math.min(every, total - done)
  run(k)
  done = done + k
  C.emit({ i = done, rss_kib = C.rss_kib(), lua_kib = collectgarbage("count"), wall_s = C.now() - t0 }, order)
end
card:close()
