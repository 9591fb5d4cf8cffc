-- Waits that yield: with a waiter set, calls made in a coroutine run on the
-- ISCard's thread while the event loop (luv, cqueues) goes on; results are
-- the blocking call's. The card answers after 2 s (test card 80 04 00 C8).
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local iscard = require "iscard"
local loops = require "support.loops"

local R0, R1 = bed.readers[1], bed.readers[2]
local SLOW = "\128\4\0\200" -- 9000 after 2 s
local E = iscard.errors

-- On Lua 5.1 a coroutine cannot yield across pcall, which the Lua layer
-- puts around these calls: there they block, as the README says (and a
-- wait for another coroutine's doing would never end).
local v51 = _VERSION == "Lua 5.1" and not rawget(_G, "jit")
local function it_yields(name, fn)
  if v51 then
    pending(name .. ": Lua 5.1 blocks here (no yield across pcall)")
  else
    it(name, fn)
  end
end

-- Another process holds the lock on reader 0 for 2 s once it prints
-- "locked".
local function hold_lock()
  local p = bed.spawn("spec/children/lock_for_a_while.lua", { R0, "2000" })
  p.await("locked")
  return p
end

for _, kind in ipairs({ "luv", "cqueues" }) do
  describe("under " .. kind, function()
    if not loops.available[kind] then
      return pending(kind .. " is not installed")
    end
    local card

    before_each(function() card = bed.attach(R0) end)
    after_each(function()
      iscard.set_waiter(nil)
      if card then card:close() end
      card = nil
    end)

    it("transmit keeps the loop ticking and gives the blocking call's reply", function()
      local want = { card:transmit(SLOW) }
      local res, t = loops.run(kind, { function() return card:transmit(SLOW) end })
      loops.kept_ticking(t)
      assert.are.same(want, res[1])
      assert.are.same({ "\144\0", 0x9000 }, res[1])
    end)

    it_yields("Transaction keeps the loop ticking", function()
      local cmd = iscard.ISCardCmd():BuildCmd(0x80, 0x04, 0x00, 0xC8)
      local res, t = loops.run(kind, { function() return card:Transaction(cmd) end })
      loops.kept_ticking(t)
      assert.are.equal(card, res[1][1])
      assert.are.equal(0x9000, cmd.ReplyStatus)
      assert.are.equal("", cmd.ReplyData)
    end)

    it_yields("iscard.wait keeps the loop ticking and times out as the blocking call does", function()
      local _, _, want = iscard.wait(R0, false, 0)
      local res, t = loops.run(kind, { function() return iscard.wait(R0, false, 2000) end })
      loops.kept_ticking(t)
      assert.is_true(t.elapsed >= 1900)
      assert.is_nil(res[1][1])
      assert.are.equal(E.SCARD_E_TIMEOUT, res[1][3])
      assert.are.equal(want, res[1][3])
    end)

    it_yields("mon:poll(-1) keeps the loop ticking until the card goes", function()
      local mon = iscard.monitor { readers = { R1 }, initial = false }
      local other = bed.attach(R1)
      local res, t = loops.run(kind, {
        function() return mon:poll(-1) end,
        function()
          assert(other:transmit(SLOW))
          return other:transmit("\128\2\0\10") -- gone for 100 ms
        end,
      })
      loops.kept_ticking(t)
      assert.is_true(t.elapsed >= 1900)
      local evs = res[1][1]
      assert.are.equal("card_removed", evs[1].type)
      assert.are.equal(R1, evs[1].reader)
      mon:close()
      other:close()
      bed.inserted(R1)
    end)

    it("LockSCard held back by another process keeps the loop ticking", function()
      local p = hold_lock()
      local res, t = loops.run(kind, { function()
        local ok, msg, code = card:LockSCard()
        local locked = card.locked
        if ok then card:UnlockSCard() end
        return ok, msg, code, locked
      end })
      assert.matches("done", p.wait())
      loops.kept_ticking(t)
      assert.is_true(t.elapsed >= 1000)
      assert.are.equal(card, res[1][1])
      assert.is_true(res[1][4])
    end)

    it("AttachByReader held back by a lock keeps the loop ticking", function()
      card:close()
      card = assert(iscard.ISCard())
      local p = hold_lock()
      local res, t = loops.run(kind, { function()
        return card:AttachByReader(R0)
      end })
      assert.matches("done", p.wait())
      loops.kept_ticking(t)
      assert.is_true(t.elapsed >= 1000)
      assert.are.equal(card, res[1][1])
      assert.are.equal(R0, card.reader)
      assert(card:transmit("\128\1\0\0"))
    end)

    it_yields("two coroutines on two channels of one card each get their own replies", function()
      assert(card:ReAttach(nil, iscard.RESET))
      local chans = { assert(card:open_channel()), assert(card:open_channel()) }
      local function worker(i)
        return function()
          local got = {}
          for k = 1, 3 do
            local data = ("ch%d-%d"):format(i, k)
            -- E7 echo with Le 1: the reply comes by GET RESPONSE
            local cmd = iscard.ISCardCmd():BuildCmd(0x00, 0xE7, 0, 0, data, 1)
            local ok, msg = chans[i]:Transaction(cmd)
            if not ok then return nil, msg end
            got[k] = cmd.ReplyData
            assert(chans[i]:Transaction(iscard.ISCardCmd():BuildCmd(0x80, 0x04, 0, 20)))
          end
          return got
        end
      end
      local res, t = loops.run(kind, { worker(1), worker(2) })
      loops.kept_ticking(t)
      assert.are.same({ "ch1-1", "ch1-2", "ch1-3" }, res[1][1])
      assert.are.same({ "ch2-1", "ch2-2", "ch2-3" }, res[2][1])
      for _, ch in ipairs(chans) do assert(ch:close()) end
    end)

    it("drives two readers at once", function()
      local other = bed.attach(R1)
      local res, t = loops.run(kind, {
        function() return card:transmit(SLOW) end,
        function() return other:transmit(SLOW) end,
      })
      other:close()
      loops.kept_ticking(t)
      assert.are.same({ "\144\0", 0x9000 }, res[1])
      assert.are.same({ "\144\0", 0x9000 }, res[2])
      -- one after the other would take 4 s
      assert.is_true(t.elapsed < 3900, ("%.0f ms"):format(t.elapsed))
    end)
  end)
end

describe("with a waiter set", function()
  local card
  before_each(function() card = bed.attach(R0) end)
  after_each(function()
    iscard.set_waiter(nil)
    card:close()
  end)

  it("blocks outside a coroutine and where a coroutine cannot yield", function()
    local called = 0
    iscard.set_waiter(function(w) called = called + 1; while not w:ready() do end end)
    assert.are.same({ "\144\0", 0x9000 }, { card:transmit("\128\4\0\1") })
    local t = { 2, 1 }
    coroutine.wrap(function()
      table.sort(t, function(a, b)
        assert(card:transmit("\128\1\0\0"))
        return a < b
      end)
    end)()
    assert.are.equal(0, called)
    coroutine.wrap(function() assert(card:transmit("\128\1\0\0")) end)()
    assert.are.equal(1, called)
  end)

  it("misuse raises as without a waiter, and nothing is left in flight", function()
    iscard.set_waiter(function(w) while not w:ready() do end end)
    coroutine.wrap(function()
      assert.has_error(function() card:transmit("\0") end)
      assert.has_error(function() card:transmit(7) end)
      card:Detach()
      assert.has_error(function() card:transmit("\128\1\0\0") end)
    end)()
  end)

  it("closing or collecting ISCards with a call in flight, 1000 times", function()
    local core = require "iscard.core"
    local before = bed.fds()
    for i = 1, 1000 do
      local c = assert(iscard.ISCard())
      assert(c:AttachByReader(R0))
      -- the call in flight, its waitable dropped at once
      assert(core.async.transmit(c, "\128\1\0\0"))
      if i % 2 == 0 then c:close() end
      if i % 50 == 0 then collectgarbage() end
    end
    collectgarbage(); collectgarbage()
    -- every context was given back: pcscd still gives new ones
    local c = bed.attach(R0)
    assert(c:transmit("\128\1\0\0"))
    c:close()
    assert.is_true(bed.fds() <= before + 2)
  end)
end)
