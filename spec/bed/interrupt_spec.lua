-- Ctrl-C in a plain script: with iscard.loop.interruptible as the waiter, a
-- script blocked in a Transaction on a card that answers after 5 s stops
-- with the interpreter's "interrupted!" as soon as SIGINT comes.
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local core = require "iscard.core"

-- Starts the script, interrupts it once its Transaction is under way and
-- returns its output and how long it took to end after the signal (ms).
local function interrupt(waiter)
  local p = bed.spawn("spec/children/slow_transaction.lua", { bed.reader, waiter })
  p.await("pid %d+")
  local pid = p.output():match("pid (%d+)")
  bed.sleep(0.3) -- (the Transaction is sent after the print)
  local t0 = core.now()
  bed.sh("kill -INT " .. pid)
  while not p.done() do bed.sleep(0.01) end
  return p.wait(), core.now() - t0
end

describe("Ctrl-C", function()
  it("stops a script blocked in Transaction with iscard.loop.interruptible", function()
    local out, ms = interrupt("iscard.loop.interruptible")
    assert.matches("interrupted!", out)
    assert.is_nil(out:find("after", 1, true))
    -- well before the card answers (5 s); the README gives the measured time
    assert.is_true(ms < 2500, ("%.0f ms"):format(ms))
    bed.restore()
  end)
end)
