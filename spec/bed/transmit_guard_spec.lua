-- ISCard:transmit's status word, and the guard against a lock held by
-- another ISCard of the same Lua state, which costs nothing while no lock
-- is held: it must still see every lock, however a lock ends (needs the
-- test bed: make test).

local iscard = require "iscard"
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end
local fails_with = require("support.oracle").failure_check(iscard.errors)

local R0 = bed.readers[1]

describe("ISCard:transmit", function()
  it("returns the reply and its status word, nil for a reply shorter than 2 bytes", function()
    local card = bed.attach(R0)
    local r, sw = card:transmit(bed.echo_apdu("ab"))
    assert.equal("ab\144\0", r)
    assert.equal(0x9000, sw)
    r, sw = card:transmit(bed.card.raw_reply("\106\130")) -- 6A82
    assert.equal("\106\130", r)
    assert.equal(0x6A82, sw)
    r, sw = card:transmit(bed.card.raw_reply("\144")) -- one byte
    assert.equal("\144", r)
    assert.is_nil(sw)
    card:Detach()
  end)
end)

describe("the same-state lock guard", function()
  it("still sees a lock after a refused Detach, and a new lock after it ended", function()
    local a = bed.attach(R0)
    local borrower = assert(iscard.ISCard())
    assert(borrower:AttachByHandle(a.CardHandle))
    local b = bed.attach(R0)
    assert(borrower:LockSCard())
    fails_with("SCARD_E_SHARING_VIOLATION", b:transmit(bed.echo_apdu("b")))
    -- a refused Detach keeps the borrower attached and its lock in force
    assert.has_error(function() borrower:Detach(iscard.RESET) end)
    assert.is_true(borrower.locked)
    fails_with("SCARD_E_SHARING_VIOLATION", b:transmit(bed.echo_apdu("b")))
    assert(borrower:UnlockSCard())
    assert.equal("b\144\0", bed.raw(b, bed.echo_apdu("b")))
    -- locks counted once each: one taken now is seen again
    assert(a:LockSCard())
    fails_with("SCARD_E_SHARING_VIOLATION", b:transmit(bed.echo_apdu("b")))
    fails_with("SCARD_E_SHARING_VIOLATION", b:Transaction(iscard.ISCardCmd():BuildCmd(0x80, 0x01)))
    assert(a:UnlockSCard())
    assert.equal("b\144\0", bed.raw(b, bed.echo_apdu("b")))
    borrower:Detach(); a:Detach(); b:Detach()
  end)

  it("sees the locks of two objects until both end, by unlock or by collection", function()
    local a, b = bed.attach(R0), bed.attach(bed.readers[2])
    local c, d = bed.attach(R0), bed.attach(bed.readers[2])
    assert(a:LockSCard())
    assert(b:LockSCard())
    assert(a:UnlockSCard())
    assert.equal("c\144\0", bed.raw(c, bed.echo_apdu("c")))
    fails_with("SCARD_E_SHARING_VIOLATION", d:transmit(bed.echo_apdu("d")))
    assert(a:LockSCard())
    fails_with("SCARD_E_SHARING_VIOLATION", c:transmit(bed.echo_apdu("c")))
    b = nil -- luacheck: ignore (its lock ends with it)
    collectgarbage(); collectgarbage()
    assert.equal("d\144\0", bed.raw(d, bed.echo_apdu("d")))
    fails_with("SCARD_E_SHARING_VIOLATION", c:transmit(bed.echo_apdu("c")))
    a:close()
    assert.equal("c\144\0", bed.raw(c, bed.echo_apdu("c")))
    c:Detach(); d:Detach()
  end)
end)
