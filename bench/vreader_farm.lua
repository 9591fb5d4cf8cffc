-- The virtual reader's slots in parallel: 16 processes on 16 slots with
-- 20 ms cards against one process on one slot, in the same run.  Prints
-- both rates and their ratio (the goal: at least 12).  Run by
-- `make bench-vreader` inside the test bed (spec/support/testbed), which it
-- leaves as it found it.
--   VREADER_BENCH_S: seconds each measurement lasts (default 5)
local vr = require "support.vreader"
local io_ = require "iscard.core" -- the clock and the sleep
assert(vr.up, "bench/vreader_farm.lua runs in the test bed (make bench-vreader)")

local lua = os.getenv("LUA") or "lua5.4"
local dur = (tonumber(os.getenv("VREADER_BENCH_S")) or 5) * 1000

-- Runs one client per reader at once; returns their rates.
local function run(readers)
  local start = io_.now() + 1500 -- every client attached by then
  local outs = {}
  for i, r in ipairs(readers) do
    outs[i] = os.tmpname()
    os.execute(("%s bench/clients/vreader_rate.lua '%s' %.0f %d > %s 2>&1 &"):format(lua, r, start, dur, outs[i]))
  end
  local rates = {}
  for i, out in ipairs(outs) do
    local deadline = io_.now() + dur + 30000
    while not rates[i] do
      local f = io.open(out)
      local s = f and f:read("*a") or ""
      if f then f:close() end
      rates[i] = tonumber(s:match("rate (%S+)"))
      assert(rates[i] or io_.now() < deadline, "client " .. i .. ": " .. s)
      if not rates[i] then io_.sleep(100) end
    end
    os.remove(out)
  end
  return rates
end

local farm = vr.farm_start(16)
local ok, err = pcall(function()
  local one = run({ vr.reader(0) })[1]
  local all, sum = {}, 0
  for i = 0, 15 do all[#all + 1] = vr.reader(i) end
  local min = math.huge
  for _, r in ipairs(run(all)) do sum = sum + r; min = math.min(min, r) end
  print(("virtual reader, 20 ms card, %d s each: 1 slot %.1f APDU/s; 16 slots %.1f APDU/s"
    .. " (slowest slot %.1f): %.2fx"):format(dur / 1000, one, sum, min, sum / one))
end)
vr.farm_stop(farm)
assert(ok, err)
