-- Child program of spec/bed/vreader_farm_spec.lua: on the card in reader
-- arg[1] (slot arg[2] of the virtual reader), empties the test card's
-- journal, then sends five slow commands, each followed by an echo tagged
-- with the slot, and prints the journal (what the card received).
local iscard = require "iscard"

local JOURNAL = "\128\5\0\0" -- test card: read and empty the journal
local SLOW_20MS = "\128\4\0\2" -- test card: answer 9000 after 20 ms
local ECHO = "\128\1\0\0" -- test card: echo the data

local card = assert(iscard.ISCard())
assert(card:AttachByReader(arg[1]))
assert(card:transmit(JOURNAL)) -- empties the journal of earlier specs
for n = 1, 5 do
  assert(assert(card:transmit(SLOW_20MS)) == "\144\0")
  local tag = ("slot %d #"):format(tonumber(arg[2])) .. n
  assert(card:transmit(ECHO .. string.char(#tag) .. tag))
end
local j = assert(card:transmit(JOURNAL))
print(j:sub(1, -3))
