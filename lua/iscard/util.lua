--- Small helpers shared by the pure-Lua layer: hex conversion, argument
-- checks that blame the caller, and the table of the library's own error codes.
-- @module iscard.util

local M = {}

local format, byte, char = string.format, string.byte, string.char

-- ===========================================================================
-- Lua 5.1 .. 5.4 and LuaJIT. Before 5.3 every number is a double (exact up
-- to 2^53, which covers the bytes, lengths, 32-bit codes and PC/SC handles
-- we deal in) and there are no bitwise operators; these few helpers give the
-- whole layer one behaviour on all of them.

--- `math.tointeger` where it exists (5.3+); before, the number itself when
-- its value is integral, else nil (also for NaN and the infinities).
-- @function tointeger
-- @param v any value
-- @treturn integer|nil
M.tointeger = math.tointeger or function(v) -- luacheck: compat
  if type(v) == "number" and v % 1 == 0 then return v end -- inf % 1 and NaN % 1 are NaN
  return nil
end

--- `math.type` where it exists; before 5.3, "integer" for a number with an
-- integral value and "float" for any other number (nil for non-numbers).
-- @function mtype
-- @param v any value
-- @treturn string|nil
M.mtype = math.type or function(v) -- luacheck: compat
  if type(v) ~= "number" then return nil end
  return v % 1 == 0 and "integer" or "float"
end

--- Largest integer: `math.maxinteger` on 5.3+, 2^53 before (the last one a
-- double counts to without gaps).
M.MAX_INTEGER = math.maxinteger or 2 ^ 53 -- luacheck: compat

--- `table.unpack` (5.2+) or `unpack` (5.1).
-- @function unpack
M.unpack = table.unpack or unpack -- luacheck: compat

-- Bitwise operations on integers 0 .. 2^53-1 by arithmetic, a nibble at a
-- time through 16x16 tables. For the few places off the hot paths that
-- really mix bits; hot paths use `%` and `*` on bytes directly.
local function nibble_table(op)
  local t = {}
  for a = 0, 15 do
    for b = 0, 15 do
      local r, bit, x, y = 0, 1, a, b
      for _ = 1, 4 do
        if op(x % 2, y % 2) then r = r + bit end
        x, y, bit = (x - x % 2) / 2, (y - y % 2) / 2, bit * 2
      end
      t[a * 16 + b] = r
    end
  end
  return t
end

local AND = nibble_table(function(x, y) return x == 1 and y == 1 end)
local OR = nibble_table(function(x, y) return x == 1 or y == 1 end)
local XOR = nibble_table(function(x, y) return x ~= y end)

local function bitop(t, a, b)
  local r, scale = 0, 1
  while a > 0 or b > 0 do
    local x, y = a % 16, b % 16
    r = r + t[x * 16 + y] * scale
    a, b, scale = (a - x) / 16, (b - y) / 16, scale * 16
  end
  return r
end

--- `a & b` for non-negative integers.
-- @int a
-- @int b
-- @treturn integer
function M.band(a, b) return bitop(AND, a, b) end

--- `a | b` for non-negative integers.
-- @int a
-- @int b
-- @treturn integer
function M.bor(a, b) return bitop(OR, a, b) end

--- `a ~ b` (exclusive or) for non-negative integers.
-- @int a
-- @int b
-- @treturn integer
function M.bxor(a, b) return bitop(XOR, a, b) end

local floor = math.floor

--- `a >> n` for a non-negative integer `a` and 0 <= n < 53.
-- @int a
-- @int n
-- @treturn integer
function M.rshift(a, n) return floor(a / 2 ^ n) end

--- `a << n` for a non-negative integer `a`, as long as the result stays below 2^53.
-- @int a
-- @int n
-- @treturn integer
function M.lshift(a, n) return a * floor(2 ^ n) end

local tointeger, mtype = M.tointeger, M.mtype

--- Binary string -> upper-case hex.
-- @tparam string s binary bytes
-- @tparam[opt=""] string sep put between two bytes (e.g. `" "`)
-- @treturn string
function M.tohex(s, sep)
  if type(s) ~= "string" then
    error(format("tohex: string expected, got %s", type(s)), 2)
  end
  sep = sep or ""
  -- a per-byte gsub keeps this linear even for 64 KiB APDUs
  local h = s:gsub(".", function(c) return format("%02X", byte(c)) .. sep end)
  if sep ~= "" and #h > 0 then h = h:sub(1, -1 - #sep) end
  return h
end

--- Hex -> binary string. White space anywhere is ignored so that
-- `"00 A4 04 00"` and multi-line vectors read naturally.
-- Raises on an odd number of digits or a character that is not a hex digit.
-- @tparam string h hex digits
-- @treturn string binary bytes
function M.fromhex(h)
  if type(h) ~= "string" then
    error(format("fromhex: string expected, got %s", type(h)), 2)
  end
  local s = h:gsub("%s+", "")
  local bad = s:find("[^%x]")
  if bad then
    error(format("fromhex: invalid hex character %q at position %d", s:sub(bad, bad), bad), 2)
  end
  if #s % 2 ~= 0 then
    error(format("fromhex: odd number of hex digits (%d)", #s), 2)
  end
  return (s:gsub("%x%x", function(d) return char(tonumber(d, 16)) end))
end

-- ===========================================================================
-- Argument checks. `level` is what the *public* function would pass to
-- error() to blame its caller (normally 2); the helpers add their own frames.

--- Short description of a bad value for error messages.
-- @param v any value
-- @treturn string
function M.describe(v)
  local t = type(v)
  if t == "number" then return format("%s %s", mtype(v), tostring(v)) end
  if t == "string" then return format("string of %d bytes", #v) end
  local mt = getmetatable(v)
  if type(mt) == "table" and type(mt.__name) == "string" then return mt.__name end
  return t
end

--- Integer in lo..hi (a float with an integral value is accepted).
-- @param v value to check
-- @tparam string what name used in the message
-- @tparam integer lo
-- @tparam integer hi
-- @tparam[opt=2] integer level error level seen from the public function
-- @treturn integer
function M.int(v, what, lo, hi, level)
  local i = type(v) == "number" and tointeger(v) or nil
  if not i or i < lo or i > hi then
    error(format("%s: integer %d..%d expected, got %s", what, lo, hi, M.describe(v)),
      (level or 2) + 1)
  end
  return i
end

--- Byte 0..255.
-- @param v value to check
-- @tparam string what name used in the message
-- @tparam[opt=2] integer level
-- @treturn integer
function M.byte(v, what, level)
  -- not a tail call: the level arithmetic counts this frame
  local b = M.int(v, what, 0, 255, (level or 2) + 1)
  return b
end

--- `v` as an integer when it is a number with an integral value in lo..hi,
-- else nil: what `int` accepts and returns, for a check that builds its
-- error message only when it fails.
-- @param v value to check
-- @tparam integer lo
-- @tparam integer hi
-- @treturn integer|nil
function M.int_in(v, lo, hi)
  local i = type(v) == "number" and tointeger(v) or nil
  if not i or i < lo or i > hi then return nil end
  return i
end

--- A table mapping every integer lo..hi to itself. Indexing it with a value
-- gives what `int(v, what, lo, hi)` would return, or nil where `int` would
-- raise, with no function call: a float key with an integral value finds
-- the integer's entry (so `t[5.0]` is the integer 5), and every other value
-- misses. For small ranges (one array slot per value).
-- @tparam integer lo
-- @tparam integer hi
-- @treturn table
function M.int_table(lo, hi)
  local t = {}
  for i = lo, hi do t[i] = i end
  return t
end

--- `int_table(0, 255)`: `byte_of[v]` is `byte(v)`'s result, or nil where
-- `byte` would raise.
-- @table byte_of
M.byte_of = M.int_table(0, 255)

--- Optional byte string of at most `max` bytes; nil and "" both mean "none" and
-- come back as "".
-- @param v value to check
-- @tparam string what
-- @tparam integer max
-- @tparam[opt=2] integer level
-- @treturn string
function M.bytes(v, what, max, level)
  if v == nil then return "" end
  if type(v) ~= "string" then
    error(format("%s: binary string or nil expected, got %s", what, M.describe(v)), (level or 2) + 1)
  end
  if #v > max then
    error(format("%s: at most %d bytes allowed, got %d", what, max, #v), (level or 2) + 1)
  end
  return v
end

--- The private state of `obj` in `states`, for a method called on it;
-- raises when the method was called with `.` instead of `:` or on something else.
-- @tparam table states object -> state (weak keys)
-- @param obj the would-be self
-- @tparam string class class name for the message
-- @tparam string method method name for the message
-- @tparam[opt=2] integer level
-- @treturn table the state
function M.state_of(states, obj, class, method, level)
  local s = states[obj]
  if not s then
    error(format("%s: %s expected as self, got %s (call it with ':')", method, class, M.describe(obj)),
      (level or 2) + 1)
  end
  return s
end

--- Optional boolean.
-- @param v
-- @tparam string what
-- @tparam boolean default
-- @tparam[opt=2] integer level
-- @treturn boolean
function M.bool(v, what, default, level)
  if v == nil then return default end
  if type(v) ~= "boolean" then
    error(format("%s: boolean expected, got %s", what, M.describe(v)), (level or 2) + 1)
  end
  return v
end

-- ===========================================================================
-- Errors of the Lua layer. PC/SC's own codes are 0x8010xxxx; ours use the same
-- facility with the HRESULT "customer" bit (0xA010xxxx), so they can live in
-- the same name<->code table without ever colliding.

--- Our error names and codes, both ways (`errors.ISCARD_E_CHAIN_TOO_LONG` ->
-- code, `errors[code]` -> name). Merge into `iscard.errors`.
-- @table errors
M.errors = {
  ISCARD_E_MALFORMED_RESPONSE = 0xA0100001, -- reply of fewer than 2 bytes
  ISCARD_E_CHAIN_TOO_LONG     = 0xA0100002, -- automatic GET RESPONSE / Le resends exceeded max_exchanges
  ISCARD_E_CHAINING_ABORTED   = 0xA0100003, -- card refused a part of a chained command
  ISCARD_E_NAD_UNSUPPORTED    = 0xA0100004, -- Nad ~= 0 cannot be carried by PC/SC
  ISCARD_E_CARD_STATUS        = 0xA0100005, -- opt-in: final status word was not 9000
}
do
  local names = {}
  for name in pairs(M.errors) do names[#names + 1] = name end
  for _, name in ipairs(names) do M.errors[M.errors[name]] = name end
end

--- Build the `nil, message, code` triple of a runtime failure.
-- @tparam string name one of the keys of `errors`
-- @tparam string fmt format string for the explanation
-- @param ... format arguments
-- @return nil
-- @treturn string `"NAME: explanation"`
-- @treturn integer the code
function M.failure(name, fmt, ...)
  local code = assert(M.errors[name], name)
  return nil, name .. ": " .. format(fmt, ...), code
end

return M
