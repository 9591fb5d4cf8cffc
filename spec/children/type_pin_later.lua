-- Child program of spec/bed/vreader_spec.lua: after 300 ms, types the PIN
-- 4321 on slot 0 of the virtual reader whose control socket is arg[1]
-- (while the spec's verify_pin waits for the keypad). Prints "typed".
local vreader = require "iscard.vreader"
require("iscard.core").sleep(300)
assert(vreader.keypad(arg[1], 0, "4321"))
print("typed")
