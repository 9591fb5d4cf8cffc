-- Calls a hostile or careless script makes, against the real stack
-- (pcscd + vpcd + spec/cards/testcard.lua): nothing may wait for ever,
-- and every Lua version refuses the same numbers.
local iscard = require "iscard"
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local E = iscard.errors
local R0, R1 = bed.readers[1], bed.readers[2]
local oracle = require "support.oracle"
local fails_with = oracle.failure_check(E)
local NOT_WHOLE, refuses = oracle.NOT_WHOLE, oracle.refuses

describe("ReAttach(EXCLUSIVE) while another ISCard of this Lua state is attached", function()
  -- pcscd answers SHARING_VIOLATION and pcsc-lite's SCardReconnect asks
  -- again every 100 ms until the other connection ends: never, here.
  it("fails at once with SCARD_E_SHARING_VIOLATION, and works once the other is gone", function()
    local a = bed.attach(R0)
    local b = bed.attach(R0)
    local other = bed.attach(R1)
    local ok, msg, code = b:ReAttach(iscard.EXCLUSIVE)
    fails_with("SCARD_E_SHARING_VIOLATION", ok, msg, code)
    assert.matches("another ISCard of this Lua state is attached", msg, 1, true)
    fails_with("SCARD_E_SHARING_VIOLATION", b:ReAttach("exclusive", iscard.RESET))
    -- SHARED and DIRECT do not conflict; b is still usable
    assert.are.equal(b, b:ReAttach(iscard.SHARED))
    assert.are.equal("b\144\0", bed.raw(b, bed.echo_apdu("b")))
    -- a borrower of b's own handle is no other connection
    local borrower = assert(iscard.ISCard())
    assert(borrower:AttachByHandle(b.CardHandle))
    a:Detach()
    assert.are.equal(b, b:ReAttach(iscard.EXCLUSIVE))
    assert.are.equal("x\144\0", bed.raw(b, bed.echo_apdu("x")))
    -- the other reader was never concerned
    assert.are.equal("o\144\0", bed.raw(other, bed.echo_apdu("o")))
    borrower:Detach(); b:Detach(); other:Detach()
  end)

  it("an object that detached or was collected no longer counts", function()
    local a = bed.attach(R0) -- luacheck: ignore (kept only until collected)
    local b = bed.attach(R0)
    a = nil -- luacheck: ignore
    collectgarbage(); collectgarbage()
    assert.are.equal(b, b:ReAttach(iscard.EXCLUSIVE))
    b:Detach()
  end)
end)

describe("ReAttach from EXCLUSIVE to SHARED", function()
  -- pcscd 1.9.9 kept the EXCLUSIVE connection's lock after the change and
  -- held back every other connection: in this Lua state for ever.
  it("lets other connections in, of this state and of other processes", function()
    local a = bed.attach(R0, iscard.EXCLUSIVE)
    fails_with("SCARD_E_SHARING_VIOLATION", assert(iscard.ISCard()):AttachByReader(R0))
    assert.are.equal(a, a:ReAttach(iscard.SHARED))
    local b = bed.attach(R0)
    assert.are.equal("b\144\0", bed.raw(b, bed.echo_apdu("b")))
    local child = bed.spawn(([[
      local iscard = require "iscard"
      local bed = require "support.bed"
      local card = assert(iscard.ISCard())
      assert(card:AttachByReader(%q))
      assert(card:transmit(bed.card.echo("c")))
      print("sent")
    ]]):format(R0))
    assert.are.equal("sent\n", child.wait())
    assert.are.equal("a\144\0", bed.raw(a, bed.echo_apdu("a")))
    -- a LockSCard of its own taken before the change stays in force
    b:Detach(); a:Detach()
    a = bed.attach(R0, iscard.EXCLUSIVE)
    assert(a:LockSCard())
    assert(a:ReAttach(iscard.SHARED))
    assert.is_true(a.locked)
    fails_with("SCARD_E_SHARING_VIOLATION", assert(iscard.ISCard()):AttachByReader(R0))
    assert(a:UnlockSCard())
    b = bed.attach(R0)
    b:Detach(); a:Detach()
  end)
end)

describe("numbers from a script", function()
  it("share modes, protocols, dispositions and handles: whole numbers on every Lua", function()
    local c = assert(iscard.ISCard())
    for _, v in ipairs(NOT_WHOLE) do
      refuses(function() c:AttachByReader(R0, v) end)
      refuses(function() c:AttachByReader(R0, iscard.SHARED, v) end)
      refuses(function() c:AttachByHandle(v) end)
    end
    refuses(function() c:AttachByReader(R0, "2" + 0.5) end)
    assert.is_false(c.attached)
    assert(c:AttachByReader(R0, 2.0, 3.0)) -- a float with a whole value is fine
    for _, v in ipairs(NOT_WHOLE) do
      refuses(function() c:ReAttach(v) end)
      refuses(function() c:ReAttach(nil, v) end)
      refuses(function() c:Detach(v) end)
      refuses(function() c:control(v) end)
      refuses(function() c:control(iscard.ctl_code(1), "", v) end)
      refuses(function() c:attr_raw(v) end)
      refuses(function() iscard.ctl_code(v) end)
      refuses(function() require("iscard.core").valid_context(v) end)
    end
    assert.is_true(c.attached)
    c:close()
  end)

  it("status_change timeouts and `current` state words", function()
    for _, v in ipairs(NOT_WHOLE) do
      refuses(function() iscard.status_change(nil, v, { { reader = R0 } }) end)
      refuses(function() iscard.status_change(nil, 0, { { reader = R0, current = v } }) end)
      refuses(function() iscard.wait(R0, true, v) end)
    end
    for _, v in ipairs({ -1, 2 ^ 32, 2 ^ 40 }) do
      refuses(function() iscard.status_change(nil, 0, { { reader = R0, current = v } }) end)
    end
    refuses(function() iscard.status_change(nil, "10", { { reader = R0 } }) end)
    refuses(function() iscard.status_change(nil, 0, { { reader = R0, current = "0" } }) end)
    assert(iscard.status_change(nil, 0, { { reader = R0, current = 0.0 } }))
    assert(iscard.status_change(nil, 0, { { reader = R0, current = 4294967295 } }))
  end)
end)

describe("iscard.error_class", function()
  it("asks the card's context whether SECURITY_VIOLATION and INVALID_HANDLE mean pcscd is gone", function()
    local card = bed.attach(R0)
    -- pcscd answers this context: a real refusal, a real bad handle
    assert.are.equal("other", iscard.error_class(E.SCARD_W_SECURITY_VIOLATION, card))
    assert.are.equal("invalid", iscard.error_class(E.SCARD_E_INVALID_HANDLE, card))
    assert.are.equal("card_reset", iscard.error_class(E.SCARD_W_RESET_CARD, card))
    card:close()
    -- a closed ISCard has no context to ask: the class without one
    assert.are.equal("service_lost", iscard.error_class(E.SCARD_W_SECURITY_VIOLATION, card))
  end)

  it("classes the failures the stack really returns", function()
    local c = assert(iscard.ISCard())
    local _, _, code = c:AttachByReader("No Such Reader")
    assert.are.equal("reader_gone", iscard.error_class(code, c))
    local a = bed.attach(R0, iscard.EXCLUSIVE)
    _, _, code = c:AttachByReader(R0)
    assert.are.equal("sharing", iscard.error_class(code))
    a:close()
    local e = { reader = R0 }
    assert(iscard.status_change(nil, 0, { e }))
    e.current = e.event
    _, _, code = iscard.status_change(nil, 0, { e })
    assert.are.equal("timeout", iscard.error_class(code))
    c:close()
  end)
end)
