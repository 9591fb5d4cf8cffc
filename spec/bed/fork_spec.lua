-- An ISCard or monitor used in a process other than the one that made it
-- (after fork) fails at once with ISCARD_E_FORKED instead of talking on
-- the parent's pcsc-lite socket; the parent's objects keep working.
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local ok_posix, unistd = pcall(require, "posix.unistd")
if not ok_posix then return pending("fork: needs lua-posix (posix.unistd), not there for " .. _VERSION) end
local wait = require("posix.sys.wait").wait

local iscard = require "iscard"
-- replies go through a text file line by line (Lua 5.1 stops a line at a
-- zero byte): as hex
local function hex(s) return type(s) == "string" and iscard.tohex(s) or tostring(s) end

-- Runs child() in a forked process; returns what it wrote (its results,
-- one per line).
local function in_child(child)
  local out = os.tmpname()
  local pid = assert(unistd.fork())
  if pid == 0 then
    local ok, lines = pcall(child)
    local f = io.open(out, "w")
    if f then
      if ok then for _, l in ipairs(lines) do f:write(tostring(l), "\n") end
      else f:write("error: ", tostring(lines), "\n") end
      f:close()
    end
    unistd._exit(0)
  end
  assert(wait(pid))
  local f = assert(io.open(out))
  local got = {}
  for l in f:lines() do got[#got + 1] = l end
  f:close()
  os.remove(out)
  return got
end

describe("after fork", function()
  it("an ISCard of the parent fails with ISCARD_E_FORKED in the child, and works on in the parent", function()
    local card = bed.attach(bed.reader)
    local got = in_child(function()
      local r, msg, code = card:transmit("\128\1\0\0")
      local cmd = iscard.ISCardCmd():BuildCmd(0x80, 0x01, 0, 0)
      local _, _, tcode = card:Transaction(cmd)
      local fresh = assert(iscard.ISCard())
      local ok = fresh:AttachByReader(bed.reader) and fresh:transmit("\128\1\0\0")
      fresh:close()
      card:close() -- lets go, sends nothing
      return { tostring(r), msg, code, tcode, iscard.error_class(code), hex(ok) }
    end)
    assert.are.equal("nil", got[1])
    assert.matches("^ISCARD_E_FORKED: this ISCard was made in another process", got[2])
    assert.are.equal(tostring(iscard.errors.ISCARD_E_FORKED), got[3])
    assert.are.equal(got[3], got[4])
    assert.are.equal("invalid", got[5])
    assert.are.equal("9000", got[6])
    -- the parent's connection was not disturbed
    for _ = 1, 3 do assert.are.equal("\144\0", (card:transmit("\128\1\0\0"))) end
    card:close()
  end)

  it("a monitor of the parent fails in the child, and after a call in flight on a thread", function()
    local mon = iscard.monitor { initial = false }
    local card = bed.attach(bed.reader)
    -- a thread of the parent's (the call runs on it during the fork)
    local core = require "iscard.core"
    local w = assert(core.async.transmit(card, "\128\4\0\20"))
    local got = in_child(function()
      local r, msg, code = mon:poll(0)
      mon:close()
      -- a new ISCard's calls on a thread in the child
      local fresh = assert(iscard.ISCard())
      assert(fresh:AttachByReader(bed.reader))
      local fw = assert(core.async.transmit(fresh, "\128\1\0\0"))
      while not fw:ready() do end
      local reply = core.collect(fresh, fw)
      fresh:close()
      return { tostring(r), msg, code, hex(reply) }
    end)
    assert.are.equal("nil", got[1])
    assert.matches("ISCARD_E_FORKED", got[2])
    assert.are.equal(tostring(iscard.errors.ISCARD_E_FORKED), got[3])
    assert.are.equal("9000", got[4])
    assert.are.same({ "\144\0", 0x9000 }, { core.collect(card, w) })
    assert.are.same({}, mon:poll(0))
    mon:close()
    card:close()
  end)
end)
