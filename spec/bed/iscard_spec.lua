-- ISCard against the real stack: pcscd + vpcd + spec/cards/testcard.lua.
-- Run through spec/support/testbed (make test does).
local iscard = require "iscard"
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local E = iscard.errors
local R0, R1 = bed.readers[1], bed.readers[2]
local ATR = "\59\128\128\1\1"
-- Another process takes the lock on reader 0: it would wait for ever if a
-- lock of ours had survived (bed.spawn's timeout ends it, and wait fails).
local LOCK_IN_CHILD = ([[
  local iscard = require "iscard"
  local card = assert(iscard.ISCard())
  assert(card:AttachByReader(%q))
  assert(card:LockSCard())
  print("locked")
  card:close()
]]):format(R0)

-- Asserts a PC/SC failure: nil, "NAME: ...", code.
local fails_with = require("support.oracle").failure_check(E)

describe("module", function()
  it("lists both vpcd readers", function()
    local list = assert(iscard.readers())
    assert.are.same({ R0, R1 }, list)
    local card = assert(iscard.ISCard())
    assert.are.same(list, assert(iscard.readers(card)))
  end)

  it("fails as a value without pcscd (SCARD_E_NO_SERVICE)", function()
    -- The client library reads PCSCLITE_CSOCK_NAME: point it at nothing.
    local p = bed.spawn([[
      local iscard = require "iscard"
      local ok, msg, code = iscard.ISCard()
      print(tostring(ok), msg, ("%X"):format(code))
      local r, m2, c2 = iscard.readers()
      print(tostring(r), m2, ("%X"):format(c2))
    ]], { PCSCLITE_CSOCK_NAME = "/nonexistent/pcscd.comm" })
    local out = p.wait()
    assert.matches("^nil\tSCARD_E_NO_SERVICE: [^\n]+\t8010001D\n", out)
    assert.matches("\nnil\tSCARD_E_NO_SERVICE: [^\n]+\t8010001D\n", out)
  end)
end)

describe("ISCard()", function()
  it("establishes a context and starts detached", function()
    local card = assert(iscard.ISCard())
    assert.is_true(card.Context ~= 0)
    assert.are.equal(0, card.CardHandle)
    assert.is_false(card.attached)
    assert.are.equal("iscard.ISCard (detached)", tostring(card))
    card:close()
    assert.are.equal("iscard.ISCard (closed)", tostring(card))
    assert.are.equal(0, card.Context)
  end)
end)

describe("AttachByReader", function()
  it("attaches to both readers, SHARED and T0|T1 by default", function()
    local a = bed.attach(R0)
    local b = bed.attach(R1)
    assert.are.equal(ATR, a.Atr)
    assert.are.equal(ATR, b.Atr)
    assert.is_true(a.Protocol == iscard.T1 or a.Protocol == iscard.T0)
    assert.are.equal(iscard.SPECIFICMODE, a.Status)
    assert.is_true(a.CardHandle ~= 0 and a.CardHandle ~= b.CardHandle)
    assert.are.equal(R0, a.reader)
    assert.are.equal("iscard.ISCard (attached: " .. R1 .. ")", tostring(b))
    -- SHARED: a second connection to the same card works.
    local c = bed.attach(R0)
    assert.are.equal("hello\144\0", bed.raw(c, bed.echo_apdu("hello")))
    assert.are.equal("x\144\0", bed.raw(b, bed.echo_apdu("x")))
    assert.are.equal(a, a:Detach())
    b:Detach(); c:Detach()
  end)

  it("returns the card itself on success, so calls chain", function()
    local card = assert(iscard.ISCard())
    assert.are.equal(card, card:AttachByReader(R0, iscard.SHARED, iscard.T0 + iscard.T1))
    assert.are.equal(card, card:Detach(iscard.LEAVE))
  end)

  it("accepts lower-case option names", function()
    local card = assert(iscard.ISCard())
    assert(card:AttachByReader(R0, "shared", "any"))
    assert(card:Detach("leave"))
  end)

  it("fails as a value for an unknown reader", function()
    local card = assert(iscard.ISCard())
    fails_with("SCARD_E_UNKNOWN_READER", card:AttachByReader("No Such Reader 99"))
    assert.is_false(card.attached)
  end)

  it("fails with SCARD_E_NO_SMARTCARD on an empty reader", function()
    local holder = bed.attach(R1)
    bed.remove(holder, 3000, R1)
    local card = assert(iscard.ISCard())
    local ok, msg, code = card:AttachByReader(R1)
    fails_with("SCARD_E_NO_SMARTCARD", ok, msg, code)
    assert.matches(R1, msg, 1, true)
    bed.inserted(R1)
    assert(card:AttachByReader(R1))
    card:Detach()
  end)

  it("EXCLUSIVE keeps others out, and SHARED keeps EXCLUSIVE out", function()
    local a = bed.attach(R0, iscard.EXCLUSIVE)
    local b = assert(iscard.ISCard())
    fails_with("SCARD_E_SHARING_VIOLATION", b:AttachByReader(R0, iscard.SHARED))
    fails_with("SCARD_E_SHARING_VIOLATION", b:AttachByReader(R0, iscard.EXCLUSIVE))
    a:Detach()
    assert(b:AttachByReader(R0, iscard.SHARED))
    fails_with("SCARD_E_SHARING_VIOLATION", a:AttachByReader(R0, iscard.EXCLUSIVE))
    b:Detach()
  end)

  it("raises on misuse before any PC/SC call", function()
    local card = assert(iscard.ISCard())
    assert.has_error(function() card:AttachByReader() end)
    assert.has_error(function() card:AttachByReader(42 .. "\0x") end)
    assert.has_error(function() card:AttachByReader(("r"):rep(129)) end)
    assert.has_error(function() card:AttachByReader("") end)
    assert.has_error(function() card:AttachByReader(R0, 7) end)
    assert.has_error(function() card:AttachByReader(R0, "sharde") end)
    assert.has_error(function() card:AttachByReader(R0, iscard.SHARED, 9) end)
    assert.has_error(function() card:AttachByReader(R0, {}) end)
    assert.has_error(function() iscard.ISCard().AttachByReader(nil, R0) end)
    assert(card:AttachByReader(R0))
    assert.has_error(function() card:AttachByReader(R0) end,
      "iscard.ISCard: AttachByReader on an attached card (Detach first)")
    card:Detach()
  end)
end)

describe("Detach", function()
  local function before_after(disposition)
    local card = bed.attach(R0)
    bed.raw(card, bed.card.reset_counters)
    assert.are.equal(card, card:Detach(disposition))
    local watcher = bed.attach(R0)
    local c = bed.counters(watcher)
    watcher:Detach()
    return c
  end

  it("LEAVE leaves the card alone", function()
    local c = before_after(iscard.LEAVE)
    assert.are.equal(0, c.resets)
    assert.are.equal(0, c.poweroffs)
  end)

  it("RESET resets the card", function()
    local c = before_after(iscard.RESET)
    assert.are.equal(1, c.resets)
  end)

  it("UNPOWER powers the card off", function()
    local c = before_after(iscard.UNPOWER)
    assert.is_true(c.poweroffs >= 1)
  end)

  it("EJECT either works or fails as a value, and ends the connection", function()
    local card = bed.attach(R0)
    local ok, msg, code = card:Detach(iscard.EJECT)
    if ok then
      assert.are.equal(card, ok)
      assert.is_false(card.attached)
    else
      assert.is_string(E[code], msg)
    end
    if card.attached then card:Detach() end
    bed.inserted(R0)
  end)

  it("raises on an unknown disposition and on a detached card", function()
    local card = bed.attach(R0)
    assert.has_error(function() card:Detach(4) end)
    assert.has_error(function() card:Detach("eject!") end)
    assert(card:Detach())
    assert.has_error(function() card:Detach() end,
      "iscard.ISCard: Detach needs an attached card (call AttachByReader or AttachByHandle first)")
  end)
end)

describe("ReAttach", function()
  it("with RESET resets the card, which the card sees", function()
    local card = bed.attach(R0)
    local before = bed.counters(card).resets
    assert.are.equal(card, card:ReAttach(iscard.SHARED, iscard.RESET))
    assert.are.equal(before + 1, bed.counters(card).resets)
    assert.are.equal(ATR, card.Atr)
    card:Detach()
  end)

  it("recovers a connection after another one reset the card", function()
    local a = bed.attach(R0)
    local b = bed.attach(R0)
    assert(b:ReAttach(nil, "reset"))
    fails_with("SCARD_W_RESET_CARD", a:transmit(bed.echo_apdu("a")))
    -- Sticky until ReAttach, as pcsc-lite documents.
    fails_with("SCARD_W_RESET_CARD", a:transmit(bed.echo_apdu("a")))
    assert(a:ReAttach())
    assert.are.equal("a\144\0", bed.raw(a, bed.echo_apdu("a")))
    a:Detach(); b:Detach()
  end)

  it("keeps the share mode of the attach unless given another", function()
    local a = bed.attach(R0, iscard.EXCLUSIVE)
    assert(a:ReAttach())
    local b = assert(iscard.ISCard())
    fails_with("SCARD_E_SHARING_VIOLATION", b:AttachByReader(R0))
    -- (Not tested: ReAttach(SHARED) on an EXCLUSIVE connection succeeds, but
    -- pcscd 1.9.9 then blocks the next SCardConnect of another client.)
    a:Detach()
    assert(b:AttachByReader(R0))
    b:Detach()
  end)

  it("raises on a detached card and on bad options", function()
    local card = assert(iscard.ISCard())
    assert.has_error(function() card:ReAttach() end)
    assert(card:AttachByReader(R0))
    assert.has_error(function() card:ReAttach(0) end)
    assert.has_error(function() card:ReAttach(iscard.SHARED, 9) end)
    card:Detach()
  end)
end)

describe("LockSCard / UnlockSCard", function()
  it("makes a second process wait until the first unlocks", function()
    -- pcscd also holds back SCardConnect while another client has the
    -- lock, so the child attaches first and locks when told to.
    local go = os.tmpname()
    os.remove(go)
    local child = bed.spawn(([[
      local iscard = require "iscard"
      local card = assert(iscard.ISCard())
      assert(card:AttachByReader(%q))
      print("attached"); io.stdout:flush()
      while not io.open(%q) do os.execute("sleep 0.02") end
      print("locking"); io.stdout:flush()
      assert(card:LockSCard())
      assert(card:transmit(require("support.bed").card.echo("B")))
      assert(card:UnlockSCard())
      print("done")
    ]]):format(R0, go))
    local a = bed.attach(R0)
    bed.raw(a, bed.card.journal) -- clears it
    child.await("attached")
    assert.are.equal(a, a:LockSCard())
    assert.is_true(a.locked)
    assert(io.open(go, "w")):close()
    child.await("locking")
    -- The child is now blocked in LockSCard; give it time to misbehave.
    bed.sleep(0.3)
    assert.are.equal("attached\nlocking\n", child.output())
    for _ = 1, 3 do bed.raw(a, bed.echo_apdu("A")) end
    assert.are.equal(a, a:UnlockSCard())
    assert.are.equal("attached\nlocking\ndone\n", child.wait())
    os.remove(go)
    assert.are.same({ "A", "A", "A", "B" }, bed.journal(a))
    a:Detach()
  end)

  it("refuses nested locks and unlocks without a lock", function()
    local a = bed.attach(R0)
    assert.has_error(function() a:UnlockSCard() end,
      "iscard.ISCard: UnlockSCard without LockSCard")
    assert(a:LockSCard())
    assert.has_error(function() a:LockSCard() end)
    assert.has_error(function() a:UnlockSCard(17) end)
    assert(a:UnlockSCard(iscard.LEAVE))
    a:Detach()
  end)

  it("ends the lock on Detach", function()
    local a = bed.attach(R0)
    assert(a:LockSCard())
    assert.are.equal("iscard.ISCard (attached: " .. R0 .. ", locked)", tostring(a))
    a:Detach()
    assert.is_false(a.locked)
    assert.are.equal("locked\n", bed.spawn(LOCK_IN_CHILD).wait())
  end)
end)

describe("AttachByHandle", function()
  it("borrows a handle and never disconnects it", function()
    local owner = bed.attach(R0)
    local b = assert(iscard.ISCard())
    assert.are.equal(b, b:AttachByHandle(owner.CardHandle))
    assert.is_true(b.borrowed)
    assert.are.equal(owner.CardHandle, b.CardHandle)
    assert.are.equal(ATR, b.Atr)
    assert.are.equal(owner.Protocol, b.Protocol)
    assert.are.equal(R0, b.reader)
    assert.are.equal("k\144\0", bed.raw(b, bed.echo_apdu("k")))
    assert.has_error(function() b:Detach(iscard.RESET) end)
    assert.has_error(function() b:ReAttach() end)
    assert(b:Detach())
    assert.are.equal("o\144\0", bed.raw(owner, bed.echo_apdu("o")))
    -- Neither GC nor close of a borrower touches the owner's handle.
    local c = assert(iscard.ISCard())
    assert(c:AttachByHandle(owner.CardHandle))
    c = nil -- luacheck: ignore
    collectgarbage(); collectgarbage()
    local d = assert(iscard.ISCard())
    assert(d:AttachByHandle(owner.CardHandle))
    d:close()
    assert.are.equal("p\144\0", bed.raw(owner, bed.echo_apdu("p")))
    -- Once the owner lets go, the borrower sees a dead handle.
    local e = assert(iscard.ISCard())
    assert(e:AttachByHandle(owner.CardHandle))
    owner:Detach()
    fails_with("SCARD_E_INVALID_HANDLE", e:transmit(bed.echo_apdu("q")))
    e:Detach()
  end)

  it("fails as a value for a handle that is not valid", function()
    local b = assert(iscard.ISCard())
    local ok, msg, code = b:AttachByHandle(0x7123456)
    assert.is_nil(ok)
    assert.is_string(E[code], msg)
    assert.is_false(b.attached)
    assert.has_error(function() b:AttachByHandle(0) end)
    assert.has_error(function() b:AttachByHandle({}) end)
  end)
end)

describe("a removed card", function()
  it("gives a value error, Status ABSENT, and works again after re-attach", function()
    local card = bed.attach(R1)
    local other = bed.attach(R0)
    bed.remove(card, 2000, R1)
    local ok, msg, code = card:transmit(bed.echo_apdu("z"))
    assert.is_nil(ok)
    assert.is_true(code == E.SCARD_W_REMOVED_CARD or code == E.SCARD_E_NO_SMARTCARD, msg)
    assert.are.equal(iscard.ABSENT, card.Status)
    assert.are.equal(iscard.ABSENT, card:get_Status())
    -- The other reader is not affected.
    assert.are.equal("y\144\0", bed.raw(other, bed.echo_apdu("y")))
    -- Atr has no value now; get_Atr says why.
    assert.is_nil(card.Atr)
    local a, amsg, acode = card:get_Atr()
    assert.is_nil(a)
    assert.is_string(E[acode], amsg)
    bed.inserted(R1)
    fails_with("SCARD_W_REMOVED_CARD", card:transmit(bed.echo_apdu("z")))
    card:Detach()
    assert(card:AttachByReader(R1))
    assert.are.equal("z\144\0", bed.raw(card, bed.echo_apdu("z")))
    card:Detach(); other:Detach()
  end)
end)

describe("properties", function()
  it("are read-only, and unknown members raise", function()
    local card = bed.attach(R0)
    for _, p in ipairs { "Atr", "CardHandle", "Context", "Protocol", "Status" } do
      assert.has_error(function() card[p] = 1 end, "iscard.ISCard: property '" .. p .. "' is read-only")
    end
    assert.has_error(function() return card.Stauts end, "iscard.ISCard has no member 'Stauts'")
    assert.has_error(function() card.foo = 1 end)
    card:Detach()
  end)

  it("raise on a detached card, except CardHandle and Context", function()
    local card = assert(iscard.ISCard())
    for _, p in ipairs { "Atr", "Protocol", "Status" } do
      assert.has_error(function() return card[p] end,
        "iscard.ISCard: " .. p .. " needs an attached card (call AttachByReader or AttachByHandle first)")
    end
    assert.are.equal(0, card.CardHandle)
    assert.is_true(card.Context ~= 0)
  end)
end)

describe("transmit", function()
  it("refuses command APDUs shorter than 4 or longer than the maximum", function()
    local card = bed.attach(R0)
    assert.has_error(function() card:transmit("\0") end)
    assert.has_error(function() card:transmit("\0\0\0") end)
    assert.has_error(function() card:transmit(("\0"):rep(iscard.MAX_APDU + 1)) end)
    assert.has_error(function() card:transmit() end)
    -- and the card is still fine
    assert.are.equal("\144\0", bed.raw(card, bed.card.echo()))
    card:Detach()
    assert.has_error(function() card:transmit(bed.card.echo()) end)
  end)
end)

describe("release", function()
  local function exclusive_possible()
    local probe = assert(iscard.ISCard())
    local ok = probe:AttachByReader(R0, iscard.EXCLUSIVE)
    probe:close()
    return ok ~= nil
  end

  -- `<close>` is Lua 5.4 syntax: a visible pending on older versions
  local it54 = _VERSION >= "Lua 5.4" and it or function(name) pending(name .. " (needs Lua 5.4)") end
  it54("happens on <close>", function()
    assert.is_true(exclusive_possible())
    local ok = load([[
      local bed = ...
      local card <close> = bed.attach(bed.reader)
      assert(not bed.exclusive_possible())
    ]])
    bed.exclusive_possible = exclusive_possible
    ok(bed)
    assert.is_true(exclusive_possible())
  end)

  it("happens on garbage collection", function()
    local card = bed.attach(R0) -- luacheck: ignore (only dropped below, for the collector)
    assert.is_false(exclusive_possible())
    card = nil -- luacheck: ignore
    collectgarbage(); collectgarbage()
    assert.is_true(exclusive_possible())
  end)

  it("is harmless twice, and use after close raises", function()
    local card = bed.attach(R0)
    card:close()
    card:close()
    assert.has_error(function() card:AttachByReader(R0) end,
      "iscard.ISCard: AttachByReader: the object is closed (released)")
    assert.has_error(function() card:transmit(bed.card.echo()) end)
    assert.is_true(exclusive_possible())
  end)

  it("gives back every context, handle and descriptor after 300 objects", function()
    collectgarbage(); collectgarbage()
    local before = bed.fds()
    -- in a function of its own, so no stack slot of this one still holds a
    -- card when the collector runs (Lua 5.3 marks a running frame whole)
    local function churn()
      for i = 1, 300 do
        local card = bed.attach(R0)
        if i % 3 == 0 then card:close() elseif i % 3 == 1 then card:Detach() end
      end
    end
    churn()
    collectgarbage(); collectgarbage()
    assert.are.equal(before, bed.fds())
    assert.is_true(exclusive_possible())
  end)

  it("of a locked card ends the lock", function()
    local card = bed.attach(R0)
    assert(card:LockSCard())
    card:close()
    assert.are.equal("locked\n", bed.spawn(LOCK_IN_CHILD).wait())
  end)
end)

describe("a lock held by another ISCard of the same Lua state", function()
  -- pcsc-lite makes the process's other handles wait for the lock; with one
  -- Lua state running one call at a time that wait would never end.
  it("makes the other objects' calls fail at once instead of waiting for ever", function()
    local a = bed.attach(R0)
    local b = bed.attach(R0)
    local other = bed.attach(R1)
    assert(a:LockSCard())
    fails_with("SCARD_E_SHARING_VIOLATION", b:transmit(bed.echo_apdu("b")))
    fails_with("SCARD_E_SHARING_VIOLATION", b:Transaction(iscard.ISCardCmd():BuildCmd(0x80, 0x01)))
    fails_with("SCARD_E_SHARING_VIOLATION", b:LockSCard())
    fails_with("SCARD_E_SHARING_VIOLATION", b:ReAttach())
    fails_with("SCARD_E_SHARING_VIOLATION", b:Detach(iscard.RESET))
    fails_with("SCARD_E_SHARING_VIOLATION", b:get_Status())
    fails_with("SCARD_E_SHARING_VIOLATION", b:get_Atr())
    assert.is_nil(b.Status)
    local c = assert(iscard.ISCard())
    local ok, msg, code = c:AttachByReader(R0)
    fails_with("SCARD_E_SHARING_VIOLATION", ok, msg, code)
    assert.matches("locked by another ISCard of this Lua state", msg, 1, true)
    -- the lock holder itself, a borrower of its handle and the other reader are fine
    assert.are.equal("a\144\0", bed.raw(a, bed.echo_apdu("a")))
    local borrower = assert(iscard.ISCard())
    assert(borrower:AttachByHandle(a.CardHandle))
    assert.are.equal("h\144\0", bed.raw(borrower, bed.echo_apdu("h")))
    assert.are.equal("o\144\0", bed.raw(other, bed.echo_apdu("o")))
    assert(a:UnlockSCard())
    assert.are.equal("b\144\0", bed.raw(b, bed.echo_apdu("b")))
    assert(c:AttachByReader(R0))
    -- a lock that ends with its object (GC) frees the others too
    assert(b:LockSCard())
    b = nil -- luacheck: ignore
    collectgarbage(); collectgarbage()
    assert.are.equal("c\144\0", bed.raw(c, bed.echo_apdu("c")))
    a:Detach(); c:Detach(); borrower:Detach(); other:Detach()
  end)

  it("Detach with LEAVE still works for the others", function()
    local a = bed.attach(R0)
    local b = bed.attach(R0)
    assert(a:LockSCard())
    assert.are.equal(b, b:Detach())
    assert(a:UnlockSCard())
    a:Detach()
  end)
end)

describe("status_change and wait", function()
  it("report the state of both readers", function()
    local st = assert(iscard.status_change(nil, 0, { { reader = R0 }, { reader = R1 } }))
    for i = 1, 2 do
      assert.are.equal(ATR, st[i].atr)
      assert.is_true(math.floor(st[i].event / iscard.reader_states.PRESENT) % 2 == 1)
    end
  end)

  it("time out with SCARD_E_TIMEOUT when nothing changes", function()
    local e = { reader = R0 }
    assert(iscard.status_change(nil, 0, { e }))
    e.current = e.event
    fails_with("SCARD_E_TIMEOUT", iscard.status_change(nil, 50, { e }))
    fails_with("SCARD_E_TIMEOUT", iscard.wait(R0, false, 50))
    assert.is_true(iscard.wait(R0, true, 50))
  end)

  it("flag an unknown reader", function()
    fails_with("SCARD_E_UNKNOWN_READER", iscard.status_change(nil, 0, { { reader = "No Such Reader" } }))
    fails_with("SCARD_E_UNKNOWN_READER", iscard.wait("No Such Reader", true, 50))
  end)

  it("raise on bad entries, and never use the script's strings behind its back", function()
    local seventeen = {}
    for i = 1, 17 do seventeen[i] = { reader = R0 } end
    -- no cap of iscard's own: pcsc-lite before 2.5 refuses more than 16
    local r, _, code = iscard.status_change(nil, 0, seventeen)
    assert.is_true(r ~= nil or code == iscard.errors.SCARD_E_INVALID_PARAMETER)
    assert.has_error(function() iscard.status_change(nil, 0, {}) end)
    assert.has_error(function() iscard.status_change(nil, 0, { { reader = ("r"):rep(129) } }) end)
    assert.has_error(function() iscard.status_change(nil, 0, { { reader = "a\0b" } }) end)
    assert.has_error(function() iscard.status_change(nil, 0, { "x" }) end)
    -- fields come by raw access: an __index that makes fresh strings and
    -- collects garbage has no say
    local tricky = setmetatable({}, { __index = function(_, k)
      collectgarbage()
      if k == "reader" then return R0 .. "" end
      return 0
    end })
    assert.has_error(function() iscard.status_change(nil, 0, { tricky }) end)
  end)
end)

describe("protocols", function()
  it("attach RAW when asked, and report it with the COM value", function()
    local card = assert(iscard.ISCard())
    local ok, msg, code = card:AttachByReader(R0, iscard.SHARED, iscard.RAW)
    if ok then
      assert.are.equal(iscard.RAW, card.Protocol)
      -- pcsc-lite keeps a card's protocol until it is reset: reset it, or
      -- every later T=1 attach fails with SCARD_E_PROTO_MISMATCH
      assert(card:Detach(iscard.RESET))
    else
      fails_with("SCARD_E_PROTO_MISMATCH", ok, msg, code)
    end
    assert(card:AttachByReader(R0, iscard.SHARED, iscard.T1))
    assert.are.equal(iscard.T1, card.Protocol)
    card:Detach()
  end)
end)
