-- One client of bench/vreader_farm.lua: attaches to READER, waits until
-- the monotonic clock reaches START_MS, then sends APDUs to its 20 ms card
-- (80 04 00 02, spec/cards/testcard.lua) until START_MS + DUR_MS, and prints
-- "rate N" (APDUs a second over its own timed loop).
--   lua vreader_rate.lua READER START_MS DUR_MS
local iscard = require "iscard"
local io_ = require "iscard.core" -- the clock and the sleep
local reader, start, dur = arg[1], tonumber(arg[2]), tonumber(arg[3])
local card = assert(iscard.ISCard())
assert(card:AttachByReader(reader))
assert(card:transmit("\128\6\0\0")) -- warm: the card answers
local wait = start - io_.now()
if wait > 0 then io_.sleep(wait) end
local n, t0 = 0, io_.now()
while io_.now() < start + dur do
  assert(assert(card:transmit("\128\4\0\2")) == "\144\0")
  n = n + 1
end
print(("rate %.3f"):format(n * 1000 / (io_.now() - t0)))
