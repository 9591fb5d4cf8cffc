-- pcscd going away under live objects (guides/reliability.md, rows 1-2):
-- the next call fails as a value, the objects stay closable and GC-safe,
-- and a new ISCard works once pcscd is back.  Needs the private test bed
-- (root): it kills and restarts that pcscd.
local iscard = require "iscard"
local bed = require "support.bed"

local E = iscard.errors
-- What pcsc-lite reports on a context whose daemon has gone.
local SERVICE_LOST = {
  [E.SCARD_E_NO_SERVICE] = true, [E.SCARD_F_COMM_ERROR] = true,
  [E.SCARD_E_INVALID_HANDLE] = true, [E.SCARD_E_SERVICE_STOPPED] = true,
  [E.SCARD_E_READER_UNAVAILABLE] = true,
}

-- os.execute's success is true on 5.2+, 0 on 5.1 and LuaJIT without 5.2 compat.
local function sh(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

local function restart(...)
  assert.is_true(sh("spec/support/pcscd-restart " .. table.concat({ ... }, " ")))
end

-- Waits (bounded) until the new pcscd answers and both cards are back.
local function back()
  local card
  for _ = 1, 200 do
    card = iscard.ISCard()
    if card then break end
    bed.sleep(0.05)
  end
  assert(card, "pcscd did not come back")
  card:close()
  for _, r in ipairs(bed.readers) do bed.inserted(r) end
end

local private = os.getenv("ISCARD_TESTBED_PRIVATE")
local describe_private = private and describe or pending

describe_private("pcscd restarted under live objects", function()
  it("fails as a value, stays closable, and a new ISCard works", function()
    local card = bed.attach(bed.reader)
    local idle = assert(iscard.ISCard())
    local gc_me = bed.attach(bed.readers[2]) -- luacheck: ignore
    restart()
    local ok, msg, code = card:transmit(bed.echo_apdu("r"))
    assert.is_nil(ok)
    assert.is_true(SERVICE_LOST[code] or false, msg)
    local st, smsg, scode = card:get_Status()
    assert.is_nil(st)
    assert.is_true(SERVICE_LOST[scode] or false, smsg)
    -- No crash, no raise: release what is left, through every path.
    card:close()
    idle:close()
    gc_me = nil -- luacheck: ignore
    collectgarbage(); collectgarbage()
    back()
    local fresh = bed.attach(bed.reader)
    assert.are.equal("r\144\0", bed.raw(fresh, bed.echo_apdu("r")))
    fresh:Detach()
  end)

  it("fails with SCARD_E_NO_SERVICE, leaking nothing, when pcscd was killed and left its socket", function()
    local card = bed.attach(bed.reader)
    restart("KILL", "stay-down")
    assert.is_true(sh("test -S /run/pcscd/pcscd.comm"), "the killed pcscd should leave its socket behind")
    collectgarbage(); collectgarbage()
    local fds = bed.fds()
    for _ = 1, 200 do
      local ok, msg, code = iscard.ISCard()
      assert.is_nil(ok)
      assert.are.equal(E.SCARD_E_NO_SERVICE, code, msg)
    end
    collectgarbage(); collectgarbage()
    assert.are.equal(fds, bed.fds())
    local ok, _, code = card:transmit(bed.echo_apdu("r"))
    assert.is_nil(ok)
    assert.is_true(SERVICE_LOST[code] or false)
    card:Detach() -- a dead handle: Detach reports or succeeds, never raises
    restart("TERM")
    back()
    local fresh = bed.attach(bed.reader)
    assert.are.equal("s\144\0", bed.raw(fresh, bed.echo_apdu("s")))
    fresh:Detach()
  end)
end)
