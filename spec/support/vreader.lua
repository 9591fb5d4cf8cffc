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

--- True when the bed has the virtual reader (built by `make ifd`).
vr.up = bed.up and vr.control ~= nil

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

return vr
