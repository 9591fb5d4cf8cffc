-- Fuzz harness: what a user types into the iscard command (iscard.cli.parse):
-- hex as `send` takes it and the lines of `iscard script` files. The input
-- is a series of pieces, each a kind byte, a length byte and that many bytes
-- of text. The contract: neither parser ever raises; hex gives the bytes or
-- nil, a column within the text (offset included) and a reason; the bytes
-- it returns are half as many as the digits typed and, written back as hex
-- (with or without spaces), read back equal; a script line gives nil, a
-- table with a non-empty `apdu`, `reset` or `exit`, or false, a column and
-- a reason.
local parse = require "iscard.cli.parse"
local util = require "iscard.util"
local input = require "input"

local check = input.check

local function check_hex(text, offset)
  local ok, bytes, col, why = pcall(parse.hex, text, offset)
  check(ok, "hex raised: %s", tostring(bytes))
  if bytes then
    check(type(bytes) == "string", "hex gave %s", type(bytes))
    local digits = select(2, text:gsub("%x", ""))
    check(digits == 2 * #bytes, "%d hex digits gave %d bytes", digits, #bytes)
    check(parse.hex(util.tohex(bytes)) == bytes, "hex round trip without spaces")
    check(parse.hex(util.tohex(bytes, " ")) == bytes, "hex round trip with spaces")
  else
    check(type(col) == "number" and col == math.floor(col), "column %s", tostring(col))
    check(col >= 1 + offset and col <= #text + offset + 1, "column %s outside 1..%d", tostring(col), #text + 1)
    check(type(why) == "string" and #why > 0, "no reason")
  end
end

local function check_line(line)
  local ok, r, col, why = pcall(parse.script_line, line)
  check(ok, "script_line raised: %s", tostring(r))
  if r == nil then return end
  if r == false then
    check(type(col) == "number" and col >= 1 and col <= #line + 1, "column %s of %d", tostring(col), #line)
    check(type(why) == "string" and #why > 0, "no reason")
    return
  end
  check(type(r) == "table", "script_line gave %s", type(r))
  if r.apdu then
    check(#r.apdu >= 1, "an empty APDU accepted")
    check(r.expect == nil or r.expect:find("^[%xX][%xX][%xX][%xX]$"), "expect %s", tostring(r.expect))
    if r.expect then
      check(type(parse.sw_matches(0x9000, r.expect)) == "boolean", "sw_matches")
    end
  else
    check(r.reset or r.exit, "a table with neither apdu, reset nor exit")
  end
end

function fuzz(bytes) -- luacheck: ignore (a global: the C driver calls it)
  local inp = input.new(bytes)
  while inp:left() > 0 do
    local kind = inp:byte()
    local text = inp:bytes(inp:byte())
    if kind % 2 == 0 then
      check_hex(text, kind % 7)
    else
      check_line(text)
    end
  end
end
