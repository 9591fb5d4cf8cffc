-- Property tests: random and mutated inputs to atr.parse, tlv.decode (all
-- option combinations) and tlv.simple_decode never raise, stay within an
-- instruction budget per call (a VM instruction count, not a clock, so the
-- result does not depend on the machine's load), and leave no memory behind;
-- and whatever random node tree tlv.encode accepts, tlv.decode reads back.
--
-- ISCARD_FUZZ_COUNT inputs and trees (default 3000; CI runs 100000 on every Lua).
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

-- Random node trees for tlv.encode: tags of every shape (well-formed or not,
-- first byte FF included), values or children, constructed tags with raw
-- values that are TLV or not, nesting around MAX_DEPTH. The first tag
-- bytes: primitive and constructed, "more bytes follow" (1F, 3F, 5F, 7F, 9F,
-- BF, DF, FF), the padding bytes 00 and FF.
local FIRST = { 0x04, 0x50, 0x84, 0x87, 0x30, 0x6F, 0xA5, 0xE1, 0x1F, 0x3F, 0x5F, 0x7F, 0x9F, 0xBF, 0xDF, 0xFF, 0x00 }

local function random_tag()
  local t = FIRST[rand(#FIRST) + 1]
  if t % 32 == 31 or rand(8) == 0 then -- further bytes: bit 8 set but on the last (mostly)
    for _ = 1, rand(4) + 1 do t = t * 256 + (rand(4) == 0 and rand(256) or 0x80 + rand(128)) end
    t = t * 256 + (rand(4) == 0 and rand(256) or rand(128))
  end
  return t
end

local random_nodes
local function random_node(depth)
  local node = { tag = random_tag() }
  local k = rand(8)
  if k < 3 and depth < 70 then
    node.children = random_nodes(depth + 1)
  elseif k == 3 then -- a raw value that is TLV (or was meant to be)
    local ok, s = pcall(tlv.encode, random_nodes(depth + 1))
    node.value = ok and s or random_bytes(rand(4))
  elseif k < 7 then
    node.value = random_bytes(rand(6))
  end -- else no value: ""
  return node
end

function random_nodes(depth)
  local list = {}
  -- a long chain now and then: nesting around MAX_DEPTH
  local n = (depth > 1 and depth < 70 and rand(2) == 0) and 1 or rand(3)
  for i = 1, n do list[i] = random_node(depth) end
  return list
end

-- `back` (decode's) holds what `given` (encode's input) says, node for node.
local function same(given, back, path)
  assert(#given == #back, path .. ": " .. #given .. " nodes given, " .. #back .. " read back")
  for i, g in ipairs(given) do
    local b, at = back[i], path .. "/" .. i
    assert(g.tag == b.tag, at .. ": tag")
    if g.children then
      assert(b.children, at .. ": children lost")
      same(g.children, b.children, at)
    else
      assert((g.value or "") == b.value, at .. ": value")
    end
  end
end

describe("tlv.encode under random node trees (" .. COUNT .. " trees)", function()
  it("refuses what decode refuses: whatever it encodes, decode reads back node for node", function()
    local accepted, refused = 0, 0
    for k = 1, COUNT do
      local nodes = random_nodes(0)
      local ok, s = pcall(tlv.encode, nodes)
      if ok then
        accepted = accepted + 1
        local back, msg, at = tlv.decode(s)
        assert(back, ("tree %d: decode refused what encode gave (%s at %s): %s"):format(k, tostring(msg), tostring(at),
          util.tohex(s)))
        same(nodes, back, "tree " .. k)
        assert.are.equal(s, tlv.encode(back))
      else
        refused = refused + 1
        assert.matches("^tlv%.encode: ", s)
      end
    end
    -- both sides of the property are tried
    assert.is_true(accepted > COUNT / 10, accepted .. " accepted")
    assert.is_true(refused > COUNT / 10, refused .. " refused")
  end)
end)
