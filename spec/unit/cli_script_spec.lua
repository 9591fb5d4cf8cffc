-- `iscard script` reads its file line by line, twice (check, then send):
-- memory is bounded by the longest line, not by the file. Run in this
-- process on input that needs no reader: a script whose last line is bad
-- is read to its end and refused before anything is attached.
local main = require("iscard.cli").main

local function sink()
  local parts = {}
  return { write = function(self, ...)
    for i = 1, select("#", ...) do parts[#parts + 1] = (select(i, ...)) end
    return self
  end, text = function() return table.concat(parts) end }
end

-- Standard input of `lines` good lines then one bad one, made as it is
-- read (a pipe: it cannot seek), noting the Lua heap every 10,000 lines.
local function generated(lines, heap)
  local n = 0
  return {
    seek = function() return nil, "Illegal seek" end,
    read = function()
      n = n + 1
      if n % 10000 == 0 then heap[#heap + 1] = collectgarbage("count") end
      if n <= lines then return "00 A4 04 00 07 A0 00 00 00 03 10 10 = 9000  # select" end
      if n == lines + 1 then return "= 9000" end
      return nil
    end,
  }
end

describe("iscard script", function()
  it("checks 100,000 lines from a pipe in bounded memory, then refuses the last one", function()
    collectgarbage()
    local before = collectgarbage("count")
    local heap = {}
    local out, err = sink(), sink()
    local status = main({ "script", "-" }, { out = out, err = err, stdin = generated(100000, heap) })
    assert.are.equal(2, status)
    assert.are.equal("", out.text()) -- nothing sent
    assert.are.equal("iscard script: stdin:100001:1: an APDU in hex expected before '='\n", err.text())
    assert.are.equal(10, #heap)
    local peak = 0
    for _, kb in ipairs(heap) do peak = math.max(peak, kb) end
    -- Holding every parsed line (as the command once did: 763 bytes a
    -- line) would take some 76 MB here; reading line by line keeps the
    -- heap within a few MB of where it started (the garbage of the lines
    -- read since the last collection cycle).
    assert.is_true(peak - before < 16 * 1024, ("heap grew by %.0f KB"):format(peak - before))
  end)

  it("sends nothing when a line is bad, even one after exit", function()
    local status, out, err, name = require("support.cli").call_script("reset\n80 01 00 00 = 9000\nexit\n80 0\n")
    assert.are.equal(2, status)
    assert.are.equal("", out)
    assert.are.equal("iscard script: " .. name .. ":4:4: '0': an odd number of hex digits"
      .. " (a byte is two: '0F', not 'F')\n", err)
  end)
end)
