-- Child program of spec/bed/faults_spec.lua: sends the card in reader
-- arg[1] a command it answers only after 30 s.
-- Prints "sending" before the transmit, then one line when it ends: "ok",
-- or the failure's word (children.prelude's name), a tab, and the seconds
-- the transmit took.
local child = require "children.prelude"

local c = assert(child.iscard.ISCard())
assert(c:AttachByReader(arg[1]))
local t0 = os.time()
child.say("sending")
local ok, msg, code = c:transmit(child.bed.card.answer_after(30000))
child.say(ok and "ok" or child.name(msg, code, c), os.time() - t0)
