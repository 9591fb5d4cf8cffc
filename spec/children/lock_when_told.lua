-- Child program of spec/bed/iscard_spec.lua: attaches to the card in
-- reader arg[1], waits until the file arg[2] exists, then locks the card,
-- sends an echo of "B" and unlocks.
-- Prints "attached", then "locking" (before LockSCard), then "done".
local child = require "children.prelude"

local card = assert(child.iscard.ISCard())
assert(card:AttachByReader(arg[1]))
child.say("attached")
while not io.open(arg[2]) do os.execute("sleep 0.02") end
child.say("locking")
assert(card:LockSCard())
assert(card:transmit(child.bed.card.echo("B")))
assert(card:UnlockSCard())
print("done")
