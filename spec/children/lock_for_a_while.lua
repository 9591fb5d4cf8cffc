-- Child program of spec/bed/event_loop_spec.lua: takes the lock on the card
-- in reader arg[1], prints "locked", holds the lock for arg[2] ms, lets it
-- go and prints "done".
local child = require "children.prelude"

local c = assert(child.iscard.ISCard())
assert(c:AttachByReader(arg[1]))
assert(c:LockSCard())
child.say("locked")
require("iscard.core").sleep(tonumber(arg[2]))
assert(c:UnlockSCard())
c:close()
child.say("done")
