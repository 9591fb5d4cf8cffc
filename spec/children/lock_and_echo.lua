-- Child program of spec/bed/faults_spec.lua: up to 5 tries to attach to
-- the card in reader arg[1], lock it and send an echo of "w".
-- Prints "attaching" first (pcscd holds SCardConnect back while another
-- process has the lock), then "error <name>" for each try that failed
-- (the name as children.prelude's name gives it), and "got <first byte of
-- the reply>" for the try that worked, which is the last.
local child = require "children.prelude"
local say = child.say

say("attaching")
for _ = 1, 5 do
  local c = assert(child.iscard.ISCard())
  local ok, msg = c:AttachByReader(arg[1])
  if ok then ok, msg = c:LockSCard() end
  local r
  if ok then r, msg = c:transmit(child.bed.card.echo("w")) end
  c:close()
  if r then say("got " .. r:byte(1)) break end
  say("error " .. child.name(msg))
end
