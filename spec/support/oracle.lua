-- What the test card's data should look like, computed independently of
-- spec/cards/iso.lua (which has its own code for it): a test that used the
-- card's code to check the card would prove nothing.  And what a failure
-- returned as a value and a refused number look like.
local assert = require "luassert"

local oracle = {}

--- n bytes of the card's data pattern: byte i is (from + i) % 251, so a
-- lost or repeated 256-byte piece shows.
function oracle.pattern(n, from)
  local t = {}
  for i = 0, n - 1 do t[#t + 1] = string.char(((from or 0) + i) % 251) end
  return table.concat(t)
end

--- Adler-32 of s, as the card reports it for data it received.
function oracle.adler32(s)
  local a, b = 1, 0
  for i = 1, #s do
    a = (a + s:byte(i)) % 65521
    b = (b + a) % 65521
  end
  return b * 65536 + a
end

--- The check that a call failed as a value: nil, "NAME: ...", code, with
-- NAME and code from the error table `errors` (name -> code).
-- @return function(name, ok, msg, code)
function oracle.failure_check(errors)
  return function(name, ok, msg, code)
    assert.is_nil(ok, "expected " .. name .. ", got success")
    assert.are.equal(name, msg:match("^([%w_]+):"), msg)
    assert.are.equal(errors[name], code)
  end
end

-- Numbers that are no whole number, or out of every range iscard takes.
oracle.NOT_WHOLE = { 0 / 0, math.huge, -math.huge, 1.5, -0.5, 2 ^ 60 }

-- Asserts f raises an argument error about a whole number (the C check's
-- words; the Lua layer's own checks, such as attr_raw's, say "integer").
function oracle.refuses(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "accepted")
  err = tostring(err)
  assert.is_truthy(err:find("whole number", 1, true) or err:find("integer", 1, true), err)
end

return oracle
