-- Child program of spec/bed/iscard_spec.lua: takes the lock on the card in
-- reader arg[1] and closes its ISCard.  It would wait for ever if another
-- process's lock had survived (bed.spawn's timeout then ends it).
-- Prints "locked" once it has the lock.
local iscard = require "iscard"

local card = assert(iscard.ISCard())
assert(card:AttachByReader(arg[1]))
assert(card:LockSCard())
print("locked")
card:close()
