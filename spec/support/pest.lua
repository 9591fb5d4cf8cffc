-- A finalizer that keeps coming back: the collector runs it, it does what
-- it was given (use a card, close a monitor...), then makes a new one, so
-- that with the collector set to never rest (`pest.aggressive`) a finalizer
-- runs at nearly every allocation of the code under test -- inside C
-- functions between their PC/SC call and their return, and inside the Lua
-- layer between two exchanges of one Transaction.
local pest = {}

local jit = rawget(_G, "jit")
local v = jit and "luajit" or _VERSION:match("%d+%.%d+")

-- How each Lua is made eager, with legal settings: a new cycle as soon as
-- one ends (pause 100) and a step multiplier that makes a step do a whole
-- cycle's work -- on 5.3 and 5.4 a step's work is its debt times the
-- multiplier, so the finalizer leaves garbage of some weight (`weight`
-- bytes) as debt; 5.4 keeps the multiplier in a byte (/4), at most 1023,
-- and steps every 2^stepsize bytes.  `step`: collectgarbage("step") in the
-- finalizer (a no-op from 5.4.4 on). On 5.1 neither a step nor weight
-- inside a finalizer: either lets the next finalizer run inside this one,
-- and so on until the C stack overflows (the interpreter crashes, with
-- plain Lua code).
-- `scale`: a whole cycle at every step costs 5.1, 5.3 and LuaJIT more
-- time per call than the others' debt-driven steps: specs make that many
-- times fewer calls there (`pest.rounds`).
local settings = {
  ["5.1"] = { stepmul = 1000000, weight = 0, step = false, scale = 0.1 },
  luajit = { stepmul = 1000000, weight = 0, step = true, scale = 0.1 },
  ["5.2"] = { stepmul = 1000000, weight = 16384, step = true, scale = 1 },
  ["5.3"] = { stepmul = 1000000, weight = 0, step = true, scale = 0.2 },
  ["5.4"] = { stepmul = 1000, weight = 16384, step = true, scale = 1 },
}
local eager = settings[v] or settings["5.4"]

--- How many rounds to make of a loop written for n on 5.4 (at least 2).
function pest.rounds(n) return math.max(2, math.floor(n * eager.scale)) end

-- A garbage object whose finalizer calls fin. Lua 5.1 and LuaJIT run __gc
-- only for userdata: a proxy there.
local function garbage(fin)
  if newproxy then -- luacheck: compat
    local p = newproxy(true) -- luacheck: compat
    getmetatable(p).__gc = fin
  else
    setmetatable({}, { __gc = fin })
  end
end
pest.garbage = garbage

--- Starts a pest: `action()` runs in each finalizer (errors are caught and
-- kept in `p.errors`: an error in __gc would reach the allocation that ran
-- it on 5.1-5.3). Returns p with `p.runs` (how many times it ran) and
-- `p.stop()`.
function pest.start(action)
  local p = { runs = 0, errors = {}, on = true }
  local function fin()
    if not p.on then return end
    p.runs = p.runs + 1
    local ok, err = pcall(action)
    if not ok and #p.errors < 5 then p.errors[#p.errors + 1] = tostring(err) end
    -- once: the step can finalize the next pest, whose step would...
    if eager.step and not p.stepping then
      p.stepping = true
      collectgarbage("step")
      p.stepping = false
    end
    -- the debt the next allocation of the code under test pays with a
    -- whole cycle, so that this finalizer runs again there, and so on
    if eager.weight > 0 then p.junk = string.rep("\0", eager.weight) end
    garbage(fin)
  end
  -- The first one is made on a stack of its own: left in a dead slot of
  -- the caller's stack, which the collector marks up to its top, it could
  -- stay reachable for as long as that slot is not overwritten. (Those the
  -- finalizer makes are made above the top of the call it interrupts.)
  coroutine.wrap(function() garbage(fin) end)()
  function p.stop() p.on = false end
  return p
end

local saved

--- The collector at its most eager (see `settings`).
function pest.aggressive()
  saved = { collectgarbage("setpause", 100), collectgarbage("setstepmul", eager.stepmul) }
  if v == "5.4" then collectgarbage("incremental", 100, eager.stepmul, 1) end
  -- The pause applies from the end of a cycle on: end one now (until then
  -- the debt the last cycle left under the old pause holds).
  collectgarbage()
end

--- The collector's settings back as they were (5.4's stepsize: its default).
function pest.relax()
  if not saved then return end
  collectgarbage("setpause", saved[1])
  collectgarbage("setstepmul", saved[2])
  if v == "5.4" then collectgarbage("incremental", saved[1], saved[2], 13) end
  saved = nil
  collectgarbage()
end

return pest
