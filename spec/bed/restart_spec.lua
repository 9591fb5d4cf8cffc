-- pcscd going away under live objects (guides/reliability.md, rows 1-2):
-- the next call fails as a value, the objects stay closable and GC-safe,
-- and a new ISCard works once pcscd is back.  Needs the private test bed
-- (root): it kills and restarts that pcscd.
local iscard = require "iscard"
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local E = iscard.errors

-- Stops pcscd and, unless stay_down, starts a new one and waits until it
-- has both cards (spec/support/pcscd-restart).
local function restart(sig, stay_down)
  assert.is_true(bed.restart(sig, stay_down))
end

local describe_private = bed.private and describe or pending

describe_private("pcscd restarted under live objects", function()
  -- Whatever happened in the test, the next one (and the next spec file)
  -- finds pcscd running with both cards.
  after_each(bed.restore)

  it("fails as a value, stays closable, and a new ISCard works", function()
    local card = bed.attach(bed.reader)
    local idle = assert(iscard.ISCard())
    local gc_me = bed.attach(bed.readers[2]) -- luacheck: ignore
    restart()
    local ok, msg, code = card:transmit(bed.echo_apdu("r"))
    assert.is_nil(ok)
    assert.is_true(bed.service_lost(code, card), msg)
    local st, smsg, scode = card:get_Status()
    assert.is_nil(st)
    assert.is_true(bed.service_lost(scode, card), smsg)
    -- No crash, no raise: release what is left, through every path.
    card:close()
    idle:close()
    gc_me = nil -- luacheck: ignore
    collectgarbage(); collectgarbage()
    local fresh = bed.attach(bed.reader)
    assert.are.equal("r\144\0", bed.raw(fresh, bed.echo_apdu("r")))
    fresh:Detach()
  end)

  it("fails with SCARD_E_NO_SERVICE 1000 times, leaking nothing, when pcscd was killed and left its socket", function()
    local card = bed.attach(bed.reader)
    restart("KILL", "stay-down")
    assert.is_true(bed.sh("test -S /run/pcscd/pcscd.comm"), "the killed pcscd should leave its socket behind")
    collectgarbage(); collectgarbage()
    local fds = bed.fds()
    for _ = 1, 1000 do
      local ok, msg, code = iscard.ISCard()
      assert.is_nil(ok)
      assert.are.equal(E.SCARD_E_NO_SERVICE, code, msg)
    end
    collectgarbage(); collectgarbage()
    assert.are.equal(fds, bed.fds())
    local ok, _, code = card:transmit(bed.echo_apdu("r"))
    assert.is_nil(ok)
    assert.is_true(bed.service_lost(code, card))
    card:Detach() -- a dead handle: Detach reports or succeeds, never raises
    restart("TERM")
    local fresh = bed.attach(bed.reader)
    assert.are.equal("s\144\0", bed.raw(fresh, bed.echo_apdu("s")))
    fresh:Detach()
  end)
end)
