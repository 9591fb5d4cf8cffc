-- `iscard monitor --json`: every line is JSON a strict reader accepts,
-- whatever bytes a reader name holds (spec/support/json.lua: RFC 8259,
-- strings valid UTF-8). Bytes that are not UTF-8 come out as \u00XX.
local json = require "support.json"
local monitor = require "iscard.cli.monitor"
local tohex = require("iscard.util").tohex

-- What a strict reader must read back: the UTF-8 characters of s as they
-- are, every other byte as the character of its code (\u00XX).
local function expected(s)
  local out, i = {}, 1
  while i <= #s do
    local len = json.utf8_len(s, i)
    if len then
      out[#out + 1] = s:sub(i, i + len - 1)
      i = i + len
    else
      out[#out + 1] = json.utf8_char(s:byte(i))
      i = i + 1
    end
  end
  return table.concat(out)
end

local function roundtrip(s)
  local text = monitor.json_string(s)
  local v, at, why = json.decode(text)
  assert(v ~= nil, ("not JSON at %s (%s): %s"):format(tostring(at), tostring(why), tohex(text, " ")))
  assert.are.equal(expected(s), v)
  return text
end

describe("iscard monitor --json", function()
  it("writes UTF-8 names as they are, escapes quotes, backslashes and control bytes", function()
    assert.are.equal('"Virtual PCD 00 00"', roundtrip("Virtual PCD 00 00"))
    local name = "Leser \195\164 \226\130\172 \240\159\146\179" -- a-umlaut, euro, card emoji
    assert.are.equal('"' .. name .. '"', roundtrip(name))
    assert.are.equal('"a\\"b\\\\c\\n\\t\\u0000\\u001f\\u007f"', roundtrip('a"b\\c\n\t\0\31\127'))
  end)

  it("writes each byte that is not part of UTF-8 as \\u00XX", function()
    assert.are.equal('"caf\\u00e9"', roundtrip("caf\233"))          -- Latin-1
    assert.are.equal('"\\u00c0\\u0080"', roundtrip("\192\128"))     -- overlong NUL
    assert.are.equal('"\\u00ed\\u00a0\\u0080"', roundtrip("\237\160\128")) -- a surrogate
    assert.are.equal('"\\u00f4\\u0090\\u0080\\u0080"', roundtrip("\244\144\128\128")) -- over U+10FFFF
    assert.are.equal('"\\u00e2\\u0082"', roundtrip("\226\130"))     -- cut short
    assert.are.equal('"\\u00ff\\u00fe"', roundtrip("\255\254"))
  end)

  it("every byte alone, every pair of bytes, and random names read back", function()
    for b = 0, 255 do roundtrip(string.char(b)) end
    for a = 0xC0, 0xF5 do
      for b = 0, 255, 3 do roundtrip(string.char(a, b)) ; roundtrip(string.char(a, b, 0x80, 0xBF)) end
    end
    math.randomseed(1234)
    for _ = 1, 3000 do
      local t = {}
      for i = 1, math.random(0, 24) do t[i] = string.char(math.random(0, 255)) end
      roundtrip(table.concat(t))
    end
  end)

  it("writes each event as one JSON object", function()
    local ev = { time = 1700000000, type = "card_inserted", reader = "R\255\"", atr = "\59\128" }
    local line = monitor.event_json(ev, tohex)
    local v = assert(json.decode(line))
    assert.are.same({ time = 1700000000, type = "card_inserted", reader = "R\195\191\"", atr = "3B80" }, v)
    line = monitor.event_json({ time = 5, type = "service_lost" }, tohex)
    assert.are.same({ time = 5, type = "service_lost" }, assert(json.decode(line)))
  end)
end)
