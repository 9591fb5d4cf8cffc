--- A waiter for plain scripts: Ctrl-C stops a call in flight.
--
-- `iscard.set_waiter(require "iscard.loop.interruptible")`: every call that
-- can block runs on its ISCard's thread, also outside coroutines, while the
-- script waits in slices of `SLICE_MS` with Lua code in between, so the
-- interpreter's SIGINT hook raises "interrupted!" at once (a signal also
-- ends the slice early). The call in flight runs to its end on its thread
-- and its result is dropped: pcsc-lite cancels no transmit, no PIN entry.
-- @module iscard.loop.interruptible

local M = { anywhere = true, SLICE_MS = 100 }

local function wait(_, w)
  while not w:wait(M.SLICE_MS) do end
end
-- LuaJIT checks hooks only in interpreted code: keep the loop out of the JIT
local jit = rawget(_G, "jit")
if jit then jit.off(wait) end

return setmetatable(M, { __call = wait })
