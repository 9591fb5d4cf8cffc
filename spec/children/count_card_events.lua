-- Child program of spec/bed/faults_spec.lua: a monitor loop on reader
-- arg[1] (blocked in SCardGetStatusChange, 20 s at a time) counting the
-- card's removals and insertions until it has seen arg[2] removals and
-- the card is back.
-- Prints "watching" as it starts, then either the failure's name (a wait
-- that failed) or "removals N insertions N present true|false cpu S"
-- (tab-separated; S the CPU seconds the loop used).
local child = require "children.prelude"
local iscard = child.iscard

local RS = iscard.reader_states
local function has(b, f) return math.floor(b / f) % 2 == 1 end
local e = { reader = arg[1], current = RS.UNAWARE }
local wanted = tonumber(arg[2])
local present, removals, insertions = nil, 0, 0
local c0 = os.clock()
child.say("watching")
while removals < wanted or not present do
  local st, msg = iscard.status_change(nil, 20000, { e })
  if not st then child.say(child.name(msg)) break end
  local now = has(e.event, RS.PRESENT)
  if present ~= nil and now ~= present then
    if now then insertions = insertions + 1 else removals = removals + 1 end
  end
  present = now
  e.current = e.event
  if has(e.current, RS.CHANGED) then e.current = e.current - RS.CHANGED end
end
child.say("removals", removals, "insertions", insertions, "present", tostring(present), "cpu", os.clock() - c0)
