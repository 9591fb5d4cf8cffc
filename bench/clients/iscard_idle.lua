--- CPU used while waiting for a card: iscard.wait(reader, true, ms) on an
-- empty reader.  The bulk card in READER is asked to leave first (80 02:
-- removed for SECONDS + 20 s), so the reader stays empty for the whole wait.
--
-- usage: lua5.4 bench/clients/iscard_idle.lua READER SECONDS
-- prints: wait_s= wall_s= cpu_s= setup_cpu_s= vcsw= ivcsw= result=
--   cpu_s       this process's CPU time (user+system) over the whole wait
--   setup_cpu_s the same for a wait with a 0 ms timeout (context set-up and
--               one SCardGetStatusChange): the fixed cost inside cpu_s
--   vcsw/ivcsw  voluntary / involuntary context switches during the wait
--               (each wake-up is one)
--   result      what wait returned: "timeout" is the expected outcome
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local iscard = require "iscard"

local reader, seconds = arg[1], tonumber(arg[2])
assert(reader and seconds, "usage: iscard_idle.lua READER SECONDS")

local card = C.attach(reader)
local units = math.min(65535, math.ceil((seconds + 20) * 100))
local r = assert(card:transmit(string.char(0x80, 0x02, units >> 8, units & 0xFF)))
assert(r:sub(-2) == "\x90\x00", "the card did not accept 80 02")
card:close()
assert(iscard.wait(reader, false, 10000), "the card did not leave")

-- the fixed cost: a wait that times out at once (the second one: the first
-- also pays for first-use page faults)
iscard.wait(reader, true, 0)
local c0 = C.cpu()
local ok0, _, code0 = iscard.wait(reader, true, 0)
local setup = C.cpu() - c0
assert(not ok0 and code0 == iscard.errors.SCARD_E_TIMEOUT, "reader not empty")

local v0, i0 = C.ctxsw()
local t0 = C.now()
c0 = C.cpu()
local ok, msg, code = iscard.wait(reader, true, math.floor(seconds * 1000))
local dc, dt = C.cpu() - c0, C.now() - t0
local v1, i1 = C.ctxsw()
local result = ok and "card" or (code == iscard.errors.SCARD_E_TIMEOUT and "timeout" or tostring(msg))
C.emit({ wait_s = seconds, wall_s = dt, cpu_s = dc, setup_cpu_s = setup, vcsw = v1 - v0, ivcsw = i1 - i0,
  result = result:gsub("%s", "_") }, { "wait_s", "wall_s", "cpu_s", "setup_cpu_s", "vcsw", "ivcsw", "result" })
