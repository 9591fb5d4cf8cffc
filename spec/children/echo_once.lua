-- Child program of spec/bed/hostile_calls_spec.lua: attaches to the card
-- in reader arg[1] (SHARED) and sends an echo of "c".
-- Prints "sent" once the card has answered.
local child = require "children.prelude"

local card = assert(child.iscard.ISCard())
assert(card:AttachByReader(arg[1]))
assert(card:transmit(child.bed.card.echo("c")))
print("sent")
