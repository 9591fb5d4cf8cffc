-- A finalizer that keeps coming back: the collector runs it, it does what
-- it was given (use a card, close a monitor...), then makes a new one, so
-- that with the collector set to never rest (`pest.aggressive`) a finalizer
-- runs at nearly every allocation of the code under test -- inside C
-- functions between their PC/SC call and their return, and inside the Lua
-- layer between two exchanges of one Transaction.
local pest = {}

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
-- `p:stop()`.
function pest.start(action)
  local p = { runs = 0, errors = {}, on = true, weight = 16384 }
  local function fin()
    if not p.on then return end
    p.runs = p.runs + 1
    p.depth = (p.depth or 0) + 1
    if p.depth > 30 then io.stderr:write(debug.traceback("DEEP"), "\n"); os.exit(3) end
    local ok, err = pcall(action)
    if not ok and #p.errors < 5 then p.errors[#p.errors + 1] = tostring(err) end
    -- (a no-op inside a finalizer from Lua 5.4.4 on; elsewhere it drives
    -- the next cycle on from here -- once: on 5.1 the step can finalize
    -- the next pest, whose step would finalize the next...)
    if not p.stepping then
      p.stepping = true
      collectgarbage("step")
      p.stepping = false
    end
    -- Garbage of some weight: the collector's debt, which the next
    -- allocation of the code under test pays with a whole cycle's work, so
    -- that this finalizer runs again there, and so on.
    p.junk = string.rep("\0", p.weight)
    garbage(fin)
    p.depth = p.depth - 1
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

--- The collector at its most eager, legal settings: a new cycle as soon as
-- one ends, each step doing a whole cycle's work (with the finalizer's
-- garbage as debt), a step after every 2 bytes allocated on 5.4 (its
-- stepsize; 5.1-5.3 and LuaJIT step every KB or so).
function pest.aggressive()
  -- (5.4 keeps the multiplier in a byte, /4: at most 1023 there; 5.1-5.3
  -- and LuaJIT bound a step's work by it, and so end a whole cycle in one)
  saved = { collectgarbage("setpause", 100), collectgarbage("setstepmul", _VERSION == "Lua 5.4" and 1000 or 1000000) }
  if _VERSION == "Lua 5.4" then collectgarbage("incremental", 100, 1000, 1) end
  -- The pause applies from the end of a cycle on: end one now (until then
  -- the debt the last cycle left under the old pause holds).
  collectgarbage()
end

--- The collector's settings back as they were (5.4's stepsize: its default).
function pest.relax()
  if not saved then return end
  collectgarbage("setpause", saved[1])
  collectgarbage("setstepmul", saved[2])
  if _VERSION == "Lua 5.4" then collectgarbage("incremental", saved[1], saved[2], 13) end
  saved = nil
  collectgarbage()
end

return pest
