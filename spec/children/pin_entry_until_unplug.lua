-- Child program of spec/bed/vreader_unplug_spec.lua: attaches to the
-- PIN-pad reader arg[1], prints "attached", then runs a verify_pin that
-- waits for the keypad (30 s) and prints "result", the reply, the error
-- class and the message: the spec unplugs the reader meanwhile.
local iscard = require "iscard"
local card = assert(iscard.ISCard())
assert(card:AttachByReader(arg[1]))
print("attached")
io.stdout:flush()
local r, msg, code = card:verify_pin({ timeout = 30, format_string = 0x82,
  pin_block_string = 0x04, min_digits = 4, max_digits = 4,
  apdu = "\0\32\0\129\4\255\255\255\255" })
print("result", tostring(r), iscard.error_class(code), msg)
