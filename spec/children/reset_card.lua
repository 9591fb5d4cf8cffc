-- Child program of spec/bed/faults_spec.lua: resets the card in reader
-- arg[1] from another process (attach, then ReAttach with RESET).
-- Prints "reset" once it is done; fails (an assertion) otherwise.
local child = require "children.prelude"
local iscard = child.iscard

local c = assert(iscard.ISCard())
assert(c:AttachByReader(arg[1]))
assert(c:ReAttach(iscard.SHARED, iscard.RESET))
child.say("reset")
