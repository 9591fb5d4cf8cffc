-- Child program of spec/bed/faults_spec.lua: sends the card in reader
-- arg[1] an echo of "p".
-- Prints the length of the reply (3: "p" and 90 00).
local child = require "children.prelude"

local c = assert(child.iscard.ISCard())
assert(c:AttachByReader(arg[1]))
child.say(#assert(c:transmit(child.bed.card.echo("p"))))
