-- A virtual reader unplugged (`unplug SLOT` on its control socket): the
-- driver answers IFD_NO_SUCH_DEVICE from then on.  pcscd 1.9.9 (built with
-- libudev, as Debian's) keeps a reader.conf reader in its list after that,
-- marked unavailable, until it restarts: a monitor sees the card go, and
-- an attached ISCard gets SCARD_E_READER_UNAVAILABLE (class reader_gone).
-- Each test starts pcscd with the virtual reader and puts the test bed's
-- pcscd back afterwards.
local iscard = require "iscard"
local bed = require "support.bed"
local vr = require "support.vreader"
if not vr.up then return pending(vr.needed()) end

local vreader = require "iscard.vreader"

-- Polls mon until an event of type `want` for reader comes (bounded);
-- returns the events seen, in order.
local function until_event(mon, want, reader, ms)
  local seen, deadline = {}, os.time() + math.ceil(ms / 1000) + 1
  while os.time() <= deadline do
    for _, ev in ipairs(assert(mon:poll(300))) do
      seen[#seen + 1] = ev.type .. " " .. (ev.reader or "-")
      if ev.type == want and ev.reader == reader then return seen end
    end
  end
  error("no " .. want .. " for " .. reader .. " in time; seen: " .. table.concat(seen, ", "))
end

describe("a virtual reader unplugged", function()
  before_each(vr.start)
  after_each(vr.stop)

  it("gives card_removed to a monitor and a reader_gone error to an attached card", function()
    local reader = vr.readers[2]
    local card = vr.attach(1)
    local mon = iscard.monitor({ readers = { reader } })
    until_event(mon, "card_inserted", reader, 10000)
    vr.cmd("unplug 1")
    local seen = until_event(mon, "card_removed", reader, 10000)
    assert.are.same({ "card_removed " .. reader }, seen)
    local r, msg, code = card:transmit(bed.echo_apdu("x"))
    assert.is_nil(r)
    assert.are.equal(iscard.errors.SCARD_E_READER_UNAVAILABLE, code, msg)
    assert.are.equal("reader_gone", iscard.error_class(code))
    -- the other slot works on
    local c0 = vr.attach(0)
    assert.are.equal("ok\144\0", bed.raw(c0, bed.echo_apdu("ok")))
    c0:close()
    -- and the slot takes no more commands
    local ok, err = vreader.control(vr.control, "keypad 1 1234")
    assert.is_nil(ok)
    assert.matches("unplugged", err)
    card:close()
    mon:close()
  end)

  it("ends a PIN entry waiting for the keypad with a reader_gone error", function()
    local card = vr.attach(1)
    local child = bed.spawn("spec/children/pin_entry_until_unplug.lua", { vr.readers[2] })
    -- whether its verify waits for the keypad already or starts after the
    -- unplug, it ends with the same error
    child.await("attached")
    vr.cmd("unplug 1")
    local out = child.wait(40)
    assert.matches("result\tnil\treader_gone", out)
    card:close()
  end)
end)
