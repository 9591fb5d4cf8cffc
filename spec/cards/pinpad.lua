-- The card in the virtual reader's slots (spec/support/testbed): the test
-- card (testcard.lua, its journal and steering commands), which also
-- keeps every VERIFY (INS 20) and CHANGE REFERENCE DATA (INS 24) of class
-- 00 in its journal, as the hex of the whole command, so that a spec sees
-- the exact bytes the reader built from the keypad (80 05 reads the
-- journal).  It answers them 9000, or 63C2 (wrong PIN, 2 tries left) when
-- P2 is 82: the PIN pad must pass the card's answer on.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local card = dofile(here .. "testcard.lua")
local inner = card.apdu

local function hex(s)
  return (s:gsub(".", function(c) return ("%02X"):format(c:byte()) end))
end

card.apdu = function(c, capdu)
  local ins = capdu:byte(2)
  if capdu:byte(1) == 0x00 and (ins == 0x20 or ins == 0x24) then
    local j = c.state.journal or {}
    c.state.journal = j
    j[#j + 1] = hex(capdu)
    if capdu:byte(4) == 0x82 then return "\99\194" end
    return "\144\0"
  end
  return inner(c, capdu)
end

return card
