-- The virtual reader in the test bed (spec/support/testbed): its readers,
-- its control socket, the values its reader.conf entry gave it, and PIN
-- structures for the specs.
local iscard = require "iscard"
local bed = require "support.bed"
local vreader = require "iscard.vreader"

local vr = {}

vr.NAME = "iscard Virtual Reader"
vr.readers = { vr.NAME .. " 00 00", vr.NAME .. " 00 01" }
vr.control = os.getenv("ISCARD_VREADER_CONTROL")
vr.device = os.getenv("ISCARD_VREADER_DEVICE") or ""
vr.PORT = 36000

-- The test bed's config with the virtual reader next to vpcd; its pcscd
-- starts without it (spec/support/testbed).
vr.conf = os.getenv("ISCARD_VREADER_CONF")

--- True when the bed has the virtual reader (built by `make ifd`).
vr.up = bed.up and bed.private and vr.control ~= nil and vr.conf ~= nil

--- Why a spec file of the virtual reader is pending.
function vr.needed()
  if not bed.up then return bed.needed() end
  return "the test bed has no virtual reader: `make ifd`, then `make test`"
end

--- A number of the reader.conf entry's options ("id_vendor" -> 0x1209).
function vr.option(name)
  local v = vr.device:match(";" .. name .. "=([^;]*)")
  return tonumber(v) or v
end

--- Sends a control line, asserting the driver answered ok.
function vr.cmd(line)
  local ok, err = vreader.control(vr.control, line)
  assert(ok, line .. ": " .. tostring(err))
end

--- Restarts pcscd with vpcd and the virtual reader (its two slots), and
-- waits for the cards in both slots; for a spec file's setup, and after
-- a test that unplugged a slot.
function vr.start()
  assert(bed.restart("TERM", false, { ISCARD_PCSCD_CONF = vr.conf }),
         "pcscd did not come up with the virtual reader")
  vr.inserted(0)
  vr.inserted(1)
end

--- Puts the test bed's pcscd (vpcd alone) back; for a spec file's teardown.
function vr.stop()
  assert(bed.restart("TERM"), "the test bed's pcscd could not be restarted")
end

--- Waits until the card is in slot i (0-based) of the virtual reader.
function vr.inserted(i)
  assert(iscard.wait(vr.readers[(i or 0) + 1], true, 20000))
end

--- A card attached in slot i, its journal emptied.
function vr.attach(i)
  vr.inserted(i)
  local card = bed.attach(vr.readers[(i or 0) + 1])
  bed.journal(card)
  return card
end

local function fromhex(h)
  return (h:gsub("%s", ""):gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end
vr.fromhex = fromhex

-- ------------------------------------------------------------- the farm
-- pcscd serves at most 16 readers, and vpcd's two leave 14: a farm of 16
-- slots runs in a pcscd restarted with a config of the virtual reader
-- alone.  The bed's two cards (ports 36000, 36001) reconnect to it; the
-- other slots get cards of their own.

--- The name of slot i (0-based) of the virtual reader.
function vr.reader(i) return ("%s 00 %02X"):format(vr.NAME, i) end

--- Restarts pcscd with the virtual reader alone, `slots` slots, a card in
-- each (waited for, bounded).  Returns the farm for `farm_stop`.
function vr.farm_start(slots)
  local lib = assert(os.getenv("ISCARD_VREADER_LIB"), "no ISCARD_VREADER_LIB")
  local dir = os.tmpname()
  os.remove(dir)
  assert(bed.sh("mkdir " .. dir))
  local f = assert(io.open(dir .. "/vreader", "w"))
  f:write(('FRIENDLYNAME "%s"\nDEVICENAME   "127.0.0.1:%d;slots=%d"\nLIBPATH      %s\n')
    :format(vr.NAME, vr.PORT, slots, lib))
  f:close()
  local farm = { dir = dir, pids = dir .. "/cards.pid", slots = slots }
  assert(bed.restart("TERM", false, { ISCARD_PCSCD_CONF = dir, ISCARD_READY = "service" }),
         "pcscd did not come up with the farm's config")
  local lua = os.getenv("LUA") or "lua5.4"
  for i = 2, slots - 1 do
    assert(bed.sh(("%s bin/iscard vcard --port %d spec/cards/pinpad.lua >/dev/null 2>&1 & echo $! >> %s")
      :format(lua, vr.PORT + i, farm.pids)))
  end
  for i = 0, slots - 1 do assert(iscard.wait(vr.reader(i), true, 20000)) end
  return farm
end

--- Stops the farm's cards and restarts pcscd with the test bed's config.
function vr.farm_stop(farm)
  local f = io.open(farm.pids)
  if f then
    for pid in f:lines() do os.execute("kill " .. pid .. " 2>/dev/null") end
    f:close()
  end
  os.execute("rm -rf " .. farm.dir)
  vr.stop()
end

return vr
