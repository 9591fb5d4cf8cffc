-- Child program of spec/bed/faults_spec.lua: sends the card in reader
-- arg[1] the command it never answers.
-- Prints "sending" before the transmit, then, if it ever ends, "answered"
-- or the failure's word (children.prelude's name).
local child = require "children.prelude"

local c = assert(child.iscard.ISCard())
assert(c:AttachByReader(arg[1]))
child.say("sending")
local ok, msg, code = c:transmit(child.bed.card.never_answer)
child.say(ok and "answered" or child.name(msg, code, c))
