-- Waits until pcscd answers and a card is present in both vpcd readers.
-- Exits 0 when ready, 1 (with the reason) after about 20 s.
--
--   ready.lua           (spec/support/testbed, spec/support/pcscd-restart)
--   ready.lua restore   first restarts the test bed's private pcscd if a
--                       spec left it down (spec/support/hooks.lua)
--   ready.lua service   waits for pcscd only, not for cards (a pcscd
--                       started with a config without readers)
local iscard = require "iscard"
local bed = require "support.bed"

if arg[1] == "restore" then
  local ok, err = pcall(bed.restore)
  if not ok then
    io.stderr:write("ready: ", tostring(err), "\n")
    os.exit(1)
  end
  os.exit(0)
end

-- pcscd's socket appears a moment after the daemon starts; until then every
-- SCardEstablishContext fails at once with SCARD_E_NO_SERVICE.
local card, msg
for _ = 1, 200 do
  card, msg = iscard.ISCard()
  if card then break end
  bed.sleep(0.1)
end
if not card then
  io.stderr:write("ready: pcscd did not answer: ", tostring(msg), "\n")
  os.exit(1)
end
card:close()
if arg[1] == "service" then os.exit(0) end

for _, reader in ipairs(bed.readers) do
  local ok, err = iscard.wait(reader, true, 20000)
  if not ok then
    io.stderr:write("ready: no card in '", reader, "': ", tostring(err), "\n")
    os.exit(1)
  end
end
os.exit(0)
