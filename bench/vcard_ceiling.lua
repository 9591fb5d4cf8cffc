#!/usr/bin/env lua5.4
--- vcard_ceiling.lua -- the virtual card's own throughput ceiling, no pcscd.
--
-- This process plays vpcd: it listens on a free port, starts
-- `bin/iscard vcard --port P CARD` as a child, and sends COUNT command APDUs,
-- waiting for each reply (one round trip at a time, as pcscd does).  Like
-- vpcd it writes the length and the payload in two separate writes, so a
-- card without TCP_NODELAY/TCP_QUICKACK shows the ~40 ms delayed-ACK stall.
--
-- usage (from the repository root, after building build/iscard/vcard_io.so):
--   lua5.4 bench/vcard_ceiling.lua [COUNT [APDU_HEX [CARD]]]
--   defaults: 20000 80EE000000 examples/cards/echo.lua
-- prints: "<count> APDUs in <s> s: <rate> APDU/s (<us> us/APDU)"
-- The figure includes this Lua "vpcd" side, so the card alone is faster.

local dir = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/.."
package.path = dir .. "/lua/?.lua;" .. dir .. "/lua/?/init.lua;" .. package.path
package.cpath = dir .. "/build/?.so;" .. package.cpath

local vio = require "iscard.vcard_io"
local core = require "iscard.core"

local count = math.tointeger(tonumber(arg[1] or "20000")) or error("bad COUNT")
local hex = (arg[2] or "80EE000000"):gsub("%s", "")
local card = arg[3] or (dir .. "/examples/cards/echo.lua")
local apdu = hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
assert(#apdu >= 4, "APDU must have at least 4 bytes")

local l = assert(vio.listen("127.0.0.1", 0))
local port = l:port()
local proc = assert(io.popen(string.format(
  "echo $$; exec lua5.4 %s/bin/iscard vcard --port %d '%s'", dir, port, card), "r"))
local pid = assert(tonumber(proc:read("l")))
local conn = assert(l:accept(5000), "card did not connect")

local hdr = string.char(#apdu >> 8, #apdu & 0xFF)
local function transmit()
  assert(conn:sendraw(hdr))        -- two writes, like vpcd
  assert(conn:sendraw(apdu))
  return assert(conn:recv(5000))
end

assert(conn:send("\4")); assert(conn:recv(5000)) -- ATR
assert(conn:send("\1"))                          -- power on
for _ = 1, 100 do transmit() end                 -- warm up

local t0 = core.now()
local r
for _ = 1, count do r = transmit() end
local dt = (core.now() - t0) / 1000

print(string.format("%d APDUs in %.3f s: %.0f APDU/s (%.1f us/APDU), last reply %s",
  count, dt, count / dt, dt * 1e6 / count,
  (r:gsub(".", function(c) return string.format("%02X", c:byte()) end))))

conn:close()
l:close()
os.execute("kill " .. pid)
proc:close()
