-- Child program of spec/bed/faults_spec.lua: waits up to 60 s for the card
-- in reader arg[1] to be removed (iscard.wait).
-- Prints "waiting" as it starts, then one line when the wait ends: "ok",
-- or the failure's word (children.prelude's name), a tab, and the seconds
-- the wait took.
local child = require "children.prelude"

local t0 = os.time()
child.say("waiting")
local ok, msg, code = child.iscard.wait(arg[1], false, 60000)
child.say(ok and "ok" or child.name(msg, code), os.time() - t0)
