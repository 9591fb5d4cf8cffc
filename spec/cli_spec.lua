-- The `iscard` command against the test bed (spec/cards/testcard.lua).
local bed = require "support.bed"

local function run(args)
  local lua = os.getenv("LUA") or "lua5.4"
  local p = assert(io.popen(lua .. " bin/iscard " .. args .. " 2>&1; echo \"rc=$?\""))
  local out = p:read("*a")
  p:close()
  return out
end

describe("iscard command", function()
  it("readers lists both readers with the card's ATR", function()
    assert.are.equal(bed.readers[1] .. ": card 3B 80 80 01 01\n"
      .. bed.readers[2] .. ": card 3B 80 80 01 01\nrc=0\n", run("readers"))
  end)

  it("send prints reply data and status words, exit 0 on 9000", function()
    assert.are.equal("61 62\n9000: success\nrc=0\n", run("send '80 01 00 00 02 61 62'"))
  end)

  it("send exits 3 on another status word and 1 on a PC/SC error", function()
    assert.matches("^6D00: [^\n]+\nrc=3\n$", run("send --reader 2 80FF0000"))
    assert.matches("SCARD_E_UNKNOWN_READER: .*rc=1\n$", run("send --reader nope 80010000"))
  end)

  it("send --trace shows the automatic GET RESPONSE", function()
    -- spec/cards/iso.lua: E2 cc nn answers a 61xx chain of nn pieces of cc bytes
    local out = run("send --trace 00E2030200")
    assert.matches("> 00 E2 03 02 00\n", out, 1, true)
    assert.matches("> 00 C0 00 00 03\n", out, 1, true)
    assert.matches("9000: success\nrc=0\n$", out)
  end)

  it("info shows a reader's attributes and part 10 features, with DIRECT", function()
    local r = bed.readers[2]
    assert.are.equal(r .. "\n  attributes:\n"
      .. "    DEVICE_FRIENDLY_NAME_A     " .. r .. "\n"
      .. "    DEVICE_SYSTEM_NAME_A       " .. r .. "\n"
      .. "  part 10 features:\n    (none)\nrc=0\n", run("info -r 2"))
    assert.matches("SCARD_E_UNKNOWN_READER: .*rc=1\n$", run("info --reader nope"))
  end)

  it("refuses bad hex and unknown options with status 2", function()
    assert.matches("bad APDU 'zz'.*rc=2\n$", run("send zz"))
    assert.matches("unknown option.*rc=2\n$", run("send --bogus 00A40400"))
    assert.matches("rc=2\n$", run("nosuchcommand"))
  end)
end)
