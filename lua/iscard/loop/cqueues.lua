--- A waiter for cqueues: `iscard.set_waiter(require "iscard.loop.cqueues")`.
--
-- A waitable follows cqueues' convention for pollable objects (`pollfd`,
-- `events`, `timeout`), so the coroutine that made the call waits in
-- `cqueues.poll` while its controller runs the others. Outside a cqueues
-- coroutine, `cqueues.poll` itself blocks until the call is done.
-- @module iscard.loop.cqueues

local cqueues = require "cqueues"

local poll = cqueues.poll

return function(w)
  while not w:ready() do poll(w) end
end
