-- Fuzz harness: the status-word text (iscard.sw).  The input gives status
-- words as two bytes each, and now and then a value of another kind
-- (negative, fractional, NaN, huge, a string, a table, an ISCardCmd with a
-- reply of any length).  The contract: text/meaning/kind return a string
-- for 0..FFFF, with text starting with the word in hex; anything else
-- raises an argument error naming the function; check returns the value or
-- nil, message, code -- never anything else.
local sw = require "iscard.sw"
local cmdm = require "iscard.cmd"
local input = require "input"

local check = require("input").check

local ODD = { -1, 0x10000, 1.5, 0 / 0, math.huge, -math.huge, 2 ^ 53, "9000", {}, true }

function fuzz(bytes) -- luacheck: ignore (a global: the C driver calls it)
  local inp = input.new(bytes)
  while inp:left() > 0 do
    local kind = inp:byte()
    if kind < 200 then
      local v = inp:u16()
      local t = sw.text(v)
      check(type(t) == "string" and t:sub(1, 4) == string.format("%04X", v), "text(%d) = %s", v, tostring(t))
      check(type(sw.meaning(v)) == "string", "meaning(%d)", v)
      local k = sw.kind(v)
      check(k == "success" or k == "warning" or k == "error" or k == "other", "kind(%d)", v)
      local r, msg, code = sw.check(v)
      check((v == 0x9000 and r == v) or (r == nil and type(msg) == "string" and type(code) == "number"),
        "check(%d)", v)
    elseif kind < 240 then
      local c = cmdm.new()
      local reply = inp:bytes(inp:byte() % 4)
      local ok = pcall(function() c.ApduReply = reply end)
      check(ok == (#reply ~= 1), "ApduReply of %d bytes", #reply)
      local t = sw.text(c)
      check(type(t) == "string", "text(cmd)")
      if #reply < 2 then check(t == "no reply", "text of no reply: %s", t) end
    else
      local v = ODD[kind % #ODD + 1]
      for _, f in ipairs({ "text", "meaning", "kind", "check" }) do
        local ok, err = pcall(sw[f], v)
        check(not ok, "sw.%s accepted %s", f, tostring(v))
        check(tostring(err):find("sw%." .. f), "sw.%s: error does not name it: %s", f, tostring(err))
      end
    end
  end
end
