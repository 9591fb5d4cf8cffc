-- Misuse raises at the caller's line: for every public entry point, a wrong
-- call made here raises an error that names the function called and whose
-- position is this file and the line of the call, however many functions of
-- iscard (Lua and C) lie between.
--
-- Each case is a one-line function holding one wrong call (not a tail
-- call, which would leave this file's frame); the expected position is the
-- line that function is defined on. This part needs an ISCard, so pcscd
-- and the test bed's card; the rest is in spec/unit/error_position_spec.lua.
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end
local iscard = require "iscard"
local blame = require "support.blame"
local cases_of, blames_caller = blame.cases_for(it, pending), blame.blames_caller

local iso = iscard.ISCardISO7816()
local cmd = iscard.ISCardCmd()
local VERIFY = { apdu = "\0\32\0\0" }

describe("misuse of an ISCard raises at the caller's line, naming the method:", function()
  local card, detached, closed

  before_each(function()
    card = bed.attach(bed.reader)
    detached = assert(iscard.ISCard())
    closed = assert(iscard.ISCard())
    closed:close()
  end)

  after_each(function()
    card:close()
    detached:close()
  end)

  cases_of({
    { "AttachByReader", function(_, d) d:AttachByReader({}) end },
    { "AttachByHandle", function(_, d) d:AttachByHandle(0) end },
    { "Detach", function(c) c:Detach("nowhere") end },
    { "Detach", function(_, _, x) x:Detach() end },
    { "ReAttach", function(c) c:ReAttach("alone") end },
    { "ReAttach", function(_, d) d:ReAttach() end },
    { "LockSCard", function(_, d) d:LockSCard() end },
    { "UnlockSCard", function(c) c:UnlockSCard() end },
    { "transmit", function(c) c:transmit(5) end },
    { "transmit", function(_, _, x) x:transmit("\0\164\0\0") end },
    { "control", function(c) c:control(-1) end },
    { "attr_raw", function(c) c:attr_raw("NO_SUCH_ATTRIBUTE") end },
    { "attr_raw", function(_, _, x) x:attr_raw("VENDOR_NAME") end },
    { "set_attr", function(c) c:set_attr(1.5, "") end },
    { "set_attr", function(c) c:set_attr("VENDOR_NAME", {}) end },
    { "attr", function(c) c:attr({}) end },
    { "attr", function(_, d) d:attr("VENDOR_NAME") end },
    { "attrs", function(_, d) d:attrs() end },
    { "features", function(_, _, x) x:features() end },
    { "properties", function(_, _, x) x:properties() end },
    { "pin_properties", function(_, _, x) x:pin_properties() end },
    { "verify_pin", function(c) c:verify_pin({ colour = 1 }) end },
    { "verify_pin", function(_, _, x) x:verify_pin(VERIFY) end },
    { "modify_pin", function(c) c:modify_pin(5) end },
    { "Transaction", function(c) c:Transaction(5) end },
    { "Transaction", function(c) c:Transaction(iscard.ISCardCmd()) end },
    { "Transaction", function(c) c:Transaction(iso:ReadBinary(0, 0), { colour = 1 }) end },
    { "Transaction", function(_, d) d:Transaction(iso:ReadBinary(0, 0)) end },
    { "Transaction", function(c) assert(c:open_channel()):Transaction(5) end },
    { "options", function(c) c:options(5) end },
    { "options", function(c) c:options({ colour = 1 }) end },
    { "open_channel", function(c) c:open_channel(20) end },
    { "Atr", function(_, d) local _ = d.Atr end },
    { "Status", function(_, d) local _ = d.Status end },
    { "get_Atr", function(_, d) d:get_Atr() end },
    { "get_Status", function(_, d) d:get_Status() end },
    { "colour", function(c) local _ = c.colour end },
    { "Protocol", function(c) c.Protocol = 1 end },
    { "status_change", function(_, _, x) iscard.status_change(x, 0, { { reader = bed.reader } }) end },
    { "cancel", function(_, _, x) iscard.cancel(x) end },
    { "readers", function(_, _, x) iscard.readers(x) end },
    { "Transaction on channel", function(c) assert(c:open_channel()):Transaction(cmd:BuildCmd(0x40, 0xB0)) end },
    { "close", function(c) assert(c:open_channel()).close(5) end },
    { "Transaction", function(c) local ch = assert(c:open_channel()); ch:close(); ch:Transaction(cmd) end },
  }, function() return { card, detached, closed } end)

  it("monitor: poll, events and cancel", function()
    local mon = iscard.monitor({ initial = false })
    blames_caller("poll", function(m) m:poll(0.5) end, mon)
    blames_caller("events", function(m) m:events("x") end, mon)
    blames_caller("colour", function(m) local _ = m.colour end, mon)
    mon:close()
    blames_caller("poll", function(m) m:poll() end, mon)
    blames_caller("cancel", function(m) m:cancel() end, mon)
    blames_caller("cancel", function(m) iscard.cancel(m) end, mon)
  end)
end)
