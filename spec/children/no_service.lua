-- Child program of spec/bed/iscard_spec.lua, started with
-- PCSCLITE_CSOCK_NAME pointing at no pcscd: what iscard.ISCard() and
-- iscard.readers() return then.
-- Prints two lines, one for each: the first result, the message and the
-- code in hex, tab-separated.
local iscard = require "iscard"

local ok, msg, code = iscard.ISCard()
print(tostring(ok), msg, ("%X"):format(code))
local r, m2, c2 = iscard.readers()
print(tostring(r), m2, ("%X"):format(c2))
