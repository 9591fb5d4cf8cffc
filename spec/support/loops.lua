-- Runs functions as coroutines of an event loop (luv or cqueues) with
-- iscard's waiter for that loop set, while a 50 ms timer ticks in the same
-- loop; says how the timer fared. For the specs of waits that yield.
local iscard = require "iscard"
local core = require "iscard.core"

local M = {}

local now = core.now
local unpack = table.unpack or unpack -- luacheck: compat

M.available = {}
for _, name in ipairs({ "luv", "cqueues" }) do
  M.available[name] = pcall(require, name)
end

-- The ticker's record: ticks, longest gap between two ticks (or since the
-- start), and the elapsed time, in ms.
local function ticker()
  local t = { ticks = 0, maxgap = 0, start = now() }
  t.last = t.start
  function t.tick()
    local n = now()
    t.ticks = t.ticks + 1
    if n - t.last > t.maxgap then t.maxgap = n - t.last end
    t.last = n
  end
  function t.finish()
    local n = now()
    if n - t.last > t.maxgap then t.maxgap = n - t.last end
    t.elapsed = n - t.start
  end
  return t
end

local runners = {}

function runners.luv(fns, results, t)
  local uv = require "luv"
  local left = #fns
  local timer, guard = uv.new_timer(), uv.new_timer()
  local function finish()
    timer:stop(); timer:close(); guard:stop(); guard:close()
  end
  timer:start(50, 50, t.tick)
  -- a regression that hangs must not hang the suite
  guard:start(30000, 0, function() results.timed_out = true; finish() end)
  for i, fn in ipairs(fns) do
    coroutine.wrap(function()
      local r = { fn() }
      results[i] = r
      left = left - 1
      if left == 0 and not results.timed_out then finish() end
    end)()
  end
  uv.run()
end

function runners.cqueues(fns, results, t)
  local cqueues = require "cqueues"
  local cq = cqueues.new()
  local left = #fns
  cq:wrap(function()
    local deadline = now() + 30000
    while left > 0 and now() < deadline do
      cqueues.sleep(0.05)
      t.tick()
    end
    if left > 0 then results.timed_out = true end
  end)
  for i, fn in ipairs(fns) do
    cq:wrap(function()
      results[i] = { fn() }
      left = left - 1
    end)
  end
  while not cq:empty() and not results.timed_out do
    local ok, err = cq:step()
    if not ok then error(err, 0) end
  end
end

--- Runs each function of fns as a coroutine of loop `kind`; returns the
-- array of their results (packed tables) and the ticker's record
-- {ticks=, maxgap=, elapsed=} (ms).
function M.run(kind, fns)
  local results = {}
  local t = ticker()
  iscard.set_waiter(require("iscard.loop." .. kind))
  local ok, err = pcall(runners[kind], fns, results, t)
  iscard.set_waiter(nil)
  t.finish()
  assert(ok, err)
  assert(not results.timed_out, "the loop did not finish in 30 s")
  for i = 1, #fns do assert(results[i], "coroutine " .. i .. " did not finish") end
  return results, t
end

--- Asserts that the timer kept ticking: no gap of a second (a blocked loop
-- shows the whole 2 s wait), and at least half the ticks the elapsed time
-- allows (generous: a loaded machine delays timers, not by half).
function M.kept_ticking(t)
  assert(t.maxgap < 1000, ("the loop stopped for %.0f ms"):format(t.maxgap))
  local expected = math.floor(t.elapsed / 50)
  assert(t.ticks >= expected / 2 - 2,
    ("%d ticks in %.0f ms (expected about %d)"):format(t.ticks, t.elapsed, expected))
end

M.unpack = unpack

return M
