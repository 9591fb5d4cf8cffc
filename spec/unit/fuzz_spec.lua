-- Property test: random and mutated inputs to atr.parse, tlv.decode (all
-- option combinations) and tlv.simple_decode never raise, stay within an
-- instruction budget per call (a VM instruction count, not a clock, so the
-- result does not depend on the machine's load), and leave no memory behind.
--
-- ISCARD_FUZZ_COUNT inputs (default 3000; CI runs 100000 on every Lua).
-- ISCARD_FUZZ_SEED picks another deterministic sequence.
local atr = require "iscard.atr"
local tlv = require "iscard.tlv"
local util = require "iscard.util"

local COUNT = tonumber(os.getenv("ISCARD_FUZZ_COUNT")) or 3000
local SEED = tonumber(os.getenv("ISCARD_FUZZ_SEED")) or 20261130
-- VM instructions one call may take; an input is at most 600 bytes, and
-- every decoder is linear in its input.
local BUDGET = 2000000

local char, floor = string.char, math.floor

-- Park-Miller minimal standard generator: exact in double arithmetic, so
-- every Lua draws the same sequence.
local state = SEED % 2147483646 + 1
local function rand(n) -- 0 .. n-1
  state = state * 16807 % 2147483647
  return state % n
end

local function random_bytes(n)
  local t = {}
  for i = 1, n do t[i] = char(rand(256)) end
  return table.concat(t)
end

local H = util.fromhex
local SEEDS = {
  H "3B FD 13 00 00 81 31 FE 15 80 73 C0 21 C0 57 59 75 62 69 4B 65 79 40",
  H "3B F6 96 00 05 F0 11 00 0A F1 FE 45 01 1F C3 00 31 C0 01 90 00 20",
  H "3B 80 80 01 01", H "3F 05 00 31 C0 01 90",
  H "6F 22 84 07 A0000000031010 A5 17 50 04 56495341 9F38 03 9F1A02 BF0C 00 5F2D 02 656E 87 01 01",
  H "70 81 83 5A 08 1234567890123456 5F24 03 251231 9F 1F 02 0102 " .. ("57 02 AABB "):rep(20),
  H "01 02 AABB 02 FF 0003 CCDDEE 03 00",
  H "7F21 82 0010 7F4E 0C 5F29 01 00 42 02 4445 5F20 01 41",
}
-- bytes that mean something to the decoders
local SPECIAL = { 0x00, 0xFF, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x1F, 0x3F, 0x3B, 0x7F, 0xBF, 0x9F, 0xF0, 0x0F }

local function mutate(s)
  local kind = rand(7)
  local n = #s
  local i = rand(n + 1) + 1
  if kind == 0 and n > 0 then -- flip a byte
    return s:sub(1, i - 1) .. char(rand(256)) .. s:sub(i + 1)
  elseif kind == 1 then -- insert a special byte
    return s:sub(1, i - 1) .. char(SPECIAL[rand(#SPECIAL) + 1]) .. s:sub(i)
  elseif kind == 2 then -- delete a run
    return s:sub(1, i - 1) .. s:sub(i + rand(4) + 1)
  elseif kind == 3 then -- truncate
    return s:sub(1, rand(n + 1))
  elseif kind == 4 then -- duplicate a slice (nesting, repeats)
    local j = i + rand(16)
    return s:sub(1, j) .. s:sub(i, j) .. s:sub(j + 1)
  elseif kind == 5 then -- overwrite with a special byte
    return s:sub(1, i - 1) .. char(SPECIAL[rand(#SPECIAL) + 1]) .. s:sub(i + 1)
  end
  return s .. random_bytes(rand(8)) -- append
end

local function input(k)
  if k % 4 == 0 then return random_bytes(rand(64)) end
  local s = SEEDS[rand(#SEEDS) + 1]
  for _ = 0, rand(4) do s = mutate(s) end
  if #s > 600 then s = s:sub(1, 600) end
  return s
end

-- Runs f(...) under the budget: returns pcall's results.
local function bounded(f, ...)
  debug.sethook(function() error("instruction budget exceeded", 2) end, "", BUDGET)
  local r = { pcall(f, ...) }
  debug.sethook()
  return r
end

local function count_nodes(nodes)
  local n = #nodes
  for _, node in ipairs(nodes) do
    if node.children then n = n + count_nodes(node.children) end
  end
  return n
end

local OPTS = { false, { padding = true }, { lenient = true }, { padding = true, lenient = true } }

describe("decoders under random and mutated input (" .. COUNT .. " inputs)", function()
  local jit_was_on
  setup(function()
    -- LuaJIT checks count hooks only in the interpreter
    if jit then jit_was_on = jit.status(); jit.off(); jit.flush() end -- luacheck: ignore 113
  end)
  teardown(function()
    if jit and jit_was_on then jit.on() end -- luacheck: ignore 113
  end)

  it("never raise, stay bounded, round-trip what they accept", function()
    collectgarbage(); collectgarbage()
    local before = collectgarbage("count")
    local accepted = 0
    for k = 1, COUNT do
      local s = input(k)
      local hex = util.tohex(s)
      local r = bounded(atr.parse, s)
      assert(r[1], "atr.parse raised on " .. hex .. ": " .. tostring(r[2]))
      assert(type(r[2]) == "table" or (r[2] == nil and type(r[3]) == "string"), "atr.parse result on " .. hex)
      if r[2] then
        assert(type(r[2].errors) == "table")
        r = bounded(atr.format, r[2])
        assert(r[1] and type(r[2]) == "string", "atr.format on " .. hex .. ": " .. tostring(r[2]))
      end

      local opts = OPTS[k % 4 + 1] or nil
      r = bounded(tlv.decode, s, opts or nil)
      assert(r[1], "tlv.decode raised on " .. hex .. ": " .. tostring(r[2]))
      local nodes = r[2]
      if nodes then
        accepted = accepted + 1
        -- every object takes two bytes at least
        assert(count_nodes(nodes) * 2 <= #s, "too many nodes from " .. hex)
        if not opts then
          local again = bounded(tlv.encode, nodes)
          assert(again[1], "tlv.encode raised on what decode gave for " .. hex .. ": " .. tostring(again[2]))
          local back = assert(tlv.decode(again[2]))
          assert(tlv.encode(back) == again[2], "not stable: " .. hex)
        end
      else
        assert(type(r[3]) == "string" and type(r[4]) == "number" and r[4] >= 1 and r[4] <= #s,
          "tlv.decode failure shape on " .. hex)
      end

      r = bounded(tlv.simple_decode, s)
      assert(r[1], "tlv.simple_decode raised on " .. hex .. ": " .. tostring(r[2]))
      assert(type(r[2]) == "table" or (type(r[3]) == "string" and r[4] >= 1 and r[4] <= #s),
        "tlv.simple_decode result on " .. hex)
    end
    collectgarbage(); collectgarbage()
    local grown = collectgarbage("count") - before
    -- the decoders keep nothing between calls
    assert.is_true(grown < 256, ("memory grew by %.0f KiB"):format(grown))
    assert.is_true(accepted > 0)
    assert.are.equal(floor(COUNT), COUNT)
  end)

  it("has a budget that catches a runaway loop", function()
    local r = bounded(function() while true do end end)
    assert.is_false(r[1])
    assert.matches("instruction budget exceeded", r[2])
  end)
end)
