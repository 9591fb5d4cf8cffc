-- PIN data never shows in a trace of a real exchange: ISCard:Transaction
-- on the test bed and `iscard send --trace` (every form the engine sends:
-- spec/unit/masking_spec.lua).
local iscard = require "iscard"
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end
local util = require "iscard.util"

local PIN = "31415926"

describe("PIN masking on the test bed", function()
  it("ISCard:Transaction traces the real exchange masked", function()
    local card = bed.attach()
    local seen = {}
    local c = iscard.ISCardCmd():BuildCmd(0x00, 0x20, 0x00, 0x81, PIN)
    assert(card:Transaction(c, { trace = function(dir, bytes, info)
      seen[#seen + 1] = dir .. " " .. info.hex .. (bytes:find(PIN, 1, true) and " CLEAR" or "")
    end }))
    assert.are.equal("send 00 20 00 81 08 ** ** ** ** ** ** ** **", seen[1])
    assert.are.equal(2, #seen)
    card:close()
  end)

  it("iscard send --trace masks too", function()
    local lua = os.getenv("LUA") or "lua5.4"
    local p = assert(io.popen(lua .. " bin/iscard send --trace 0020008108" .. util.tohex(PIN) .. " 2>&1"))
    local out = p:read("*a")
    p:close()
    assert.matches("> 00 20 00 81 08 ** ** ** ** ** ** ** **\n", out, 1, true)
    assert.is_nil(out:find("33 31 34 31", 1, true))
    assert.is_nil(out:find(PIN, 1, true))
  end)
end)
