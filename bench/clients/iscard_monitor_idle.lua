--- CPU used by a monitor waiting on idle readers: iscard.monitor() over
-- every reader (cards in, nothing happening), one poll(SECONDS * 1000).
-- The wait is cut in slices of iscard.monitor.SLICE_MS (so Ctrl-C works);
-- each slice end reads the reader list and waits again: those are the only
-- wake-ups.
--
-- usage: lua5.4 bench/clients/iscard_monitor_idle.lua SECONDS
-- prints: wait_s= wall_s= cpu_s= per_slice_us= slices= events= vcsw= ivcsw=
--   cpu_s         this process's CPU time (user+system) over the poll
--   per_slice_us  cpu_s divided by the number of slices
--   events        what the poll returned (0 expected: the bed is idle)
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local iscard = require "iscard"
local monitor = require "iscard.monitor"

local seconds = tonumber(arg[1])
assert(seconds, "usage: iscard_monitor_idle.lua SECONDS")

local mon = iscard.monitor()
mon:poll(0) -- the snapshot: what is there is not news
local v0, i0 = C.ctxsw()
local t0 = C.now()
local c0 = C.cpu()
local events = #assert(mon:poll(math.floor(seconds * 1000)))
local dc, dt = C.cpu() - c0, C.now() - t0
local v1, i1 = C.ctxsw()
mon:close()
local slices = math.ceil(seconds * 1000 / monitor.SLICE_MS)
C.emit({ wait_s = seconds, wall_s = dt, cpu_s = dc, per_slice_us = dc / slices * 1e6, slices = slices,
  slice_ms = monitor.SLICE_MS,
  events = events, vcsw = v1 - v0, ivcsw = i1 - i0 },
  { "wait_s", "wall_s", "cpu_s", "per_slice_us", "slice_ms", "slices", "events", "vcsw", "ivcsw" })
