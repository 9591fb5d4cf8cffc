-- demo.lua -- the six steps of a smart-card session, in Lua:
--   1. create an ISCard            4. submit it with Transaction
--   2. attach by reader            5. release the card (Detach)
--   3. build a command             6. release the ISCard
--
-- Run with `make demo` (starts pcscd and the echo card of
-- examples/cards/echo.lua), or against any reader:
--   lua5.4 examples/demo.lua ["Reader Name"]
local iscard = require "iscard"

local readers = assert(iscard.readers())
print("readers:")
for i, name in ipairs(readers) do print(("  %d. %s"):format(i, name)) end
local reader = arg[1] or readers[1]
if not reader then
  print("no reader")
  os.exit(1)
end

-- 1. Create an ISCard (establishes a PC/SC context).
local card = assert(iscard.ISCard())

-- 2. Attach to the card in the reader (SHARED, T=0 or T=1).
assert(card:AttachByReader(reader))
print("attached to " .. reader)
print("ATR:      " .. iscard.tohex(card.Atr, " "))
print("protocol: " .. (card.Protocol == iscard.T1 and "T=1" or "T=0"))

-- 3. Build a command: SELECT by name (AID F0 69 73 63 61 72 64) with the
--    ISO 7816-4 builders, Windows style: the builder fills an ISCardCmd.
local iso = iscard.ISCardISO7816()
local cmd = iscard.ISCardCmd()
iso:SelectFile(0x04, 0x00, "\240iscard", 0, cmd)

-- 4. Submit it.
assert(card:Transaction(cmd))
print(("SELECT:   %s -> %04X (%s)"):format(iscard.tohex(cmd.Apdu, " "),
  cmd.ReplyStatus, iscard.sw.text(cmd.ReplyStatus)))

-- ...and a command of our own, built with BuildCmd.
cmd:BuildCmd(0x80, 0xEE, 0x00, 0x00, "hello, card")
assert(card:Transaction(cmd))
print(("ECHO:     %q -> %04X"):format(cmd.ReplyData, cmd.ReplyStatus))

-- 5. Release the card.
assert(card:Detach(iscard.LEAVE))
print("detached")

-- 6. Release the ISCard (garbage collection or a <close> variable would
--    do this too).
card:close()
