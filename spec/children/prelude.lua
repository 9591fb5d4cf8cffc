-- What the child programs of spec/children/ share (spec/support/bed.lua's
-- bed.spawn starts them with the test bed's paths): iscard and the bed's
-- helpers, a line printer that flushes (the spec reads the output while
-- the child runs), and the word a child prints for a failure.
local child = {
  iscard = require "iscard",
  bed = require "support.bed",
}

--- Prints its arguments as print does, and flushes at once.
function child.say(...)
  print(...)
  io.stdout:flush()
end

--- The word for a failure: "service_lost" when bed.service_lost says so
-- (asked in the child, with its card), else the error's name (the part of
-- msg before the colon), or "UNTYPED" when msg has none.
function child.name(msg, code, card)
  if code and child.bed.service_lost(code, card) then return "service_lost" end
  return tostring(msg):match("^([%w_]+):") or "UNTYPED"
end

return child
