--- Small helpers shared by the pure-Lua layer: hex conversion, argument
-- checks that blame the caller, loading on first use, and the table of the
-- library's own error codes. Public: `tohex`, `fromhex` (also
-- `iscard.tohex`, `iscard.fromhex`) and `errors`; the rest is the layer's
-- own (marked local in the reference).
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
-- @local
M.tointeger = math.tointeger or function(v) -- luacheck: compat
  if type(v) == "number" and v % 1 == 0 then return v end -- inf % 1 and NaN % 1 are NaN
  return nil
end

--- `math.type` where it exists; before 5.3, "integer" for a number with an
-- integral value and "float" for any other number (nil for non-numbers).
-- @function mtype
-- @param v any value
-- @treturn string|nil
-- @local
M.mtype = math.type or function(v) -- luacheck: compat
  if type(v) ~= "number" then return nil end
  return v % 1 == 0 and "integer" or "float"
end

--- Largest integer: `math.maxinteger` on 5.3+, 2^53 before (the last one a
-- double counts to without gaps).
-- @local
M.MAX_INTEGER = math.maxinteger or 2 ^ 53 -- luacheck: compat

--- `table.unpack` (5.2+) or `unpack` (5.1).
-- @function unpack
-- @local
M.unpack = table.unpack or unpack -- luacheck: compat

--- `a ~ b` (exclusive or) of two bytes, by arithmetic: the TCK of an ATR is
-- the one place that mixes bits, and 5.1 and LuaJIT cannot parse `~`.
-- @int a 0..255
-- @int b 0..255
-- @treturn integer
-- @local
function M.xor_byte(a, b)
  local r, bit = 0, 1
  for _ = 1, 8 do
    local x, y = a % 2, b % 2
    if x ~= y then r = r + bit end
    a, b, bit = (a - x) / 2, (b - y) / 2, bit * 2
  end
  return r
end

local tointeger, mtype = M.tointeger, M.mtype

-- ===========================================================================
-- Misuse raises at the line of the program that called into iscard, however
-- many of our functions lie between: `misuse` finds that line itself, so no
-- function of the library counts error levels.

-- Every module of the Lua layer sits in this file's directory: a function
-- whose source starts with this prefix is ours.
local getinfo = debug.getinfo
local OURS = getinfo(1, "S").source:match("^(@.*[/\\])") or "@iscard/"

local pcall, xpcall = pcall, xpcall

--- Raises `format(fmt, ...)` as an error of the caller's program: at the
-- first stack frame that is a Lua function outside the iscard modules.
-- Frames of other C functions (gsub, the C core's metamethods...) and 5.1's
-- tail-call marks in between are skipped; a pcall or xpcall ends the search,
-- as it catches the error there: `pcall(iscard.fromhex, 1)` gives a message
-- without a position, as `pcall(string.rep)` does, and so does a pcall of
-- iscard's own.
-- @tparam string fmt format string naming the function the user called
-- @param ... format arguments
-- @raise always
-- @local
function M.misuse(fmt, ...)
  local msg = format(fmt, ...)
  local level = 2
  while true do
    local info = getinfo(level, "Sf")
    if not info or info.func == pcall or info.func == xpcall then level = 0; break end
    local what = info.what
    if what ~= "C" and what ~= "tail" and info.source:sub(1, #OURS) ~= OURS then break end
    level = level + 1
  end
  error(msg, level)
end
local misuse = M.misuse

-- Raises again the error `err` of a C function of the core that a Lua
-- function called through pcall: at the user's line, with the name the
-- user called it by instead of the one the C function sees (none, under
-- pcall), and without the position of our line that called it, if any
-- (a metamethod of the core, such as `card.CardHandle`, blames that line).
local function raise_core_misuse(name, err)
  err = tostring(err):gsub("^[^\n]-iscard[/\\][%w_]+%.lua:%d+: ", "", 1)
  local msg, n = err:gsub("^bad argument #(%d+) to '[^']*'", "bad argument #%1 to '" .. name .. "'")
  if n == 0 then msg = name .. ": " .. err end
  misuse("%s", msg)
end

local function relay(name, ok, ...)
  if not ok then raise_core_misuse(name, ...) end
  return ...
end

--- Calls `f(...)`, a C function of the core, for the Lua function the user
-- called as `name`, and returns its results; a misuse the C function raises
-- is raised at the user's line (see `misuse`), naming `name`. For wrappers
-- off the hot paths: it costs a pcall.
-- @tparam string name the function as the user knows it
-- @tparam function f
-- @param ... its arguments
-- @return what `f` returns
-- @local
function M.ccall(name, f, ...)
  return relay(name, pcall(f, ...))
end

local hex_tables = {} -- for gsub: each byte's hex, then "" or " "; made on first use

--- Binary string -> upper-case hex.
-- @tparam string s binary bytes
-- @tparam[opt=""] string sep put between two bytes (e.g. `" "`)
-- @treturn string
function M.tohex(s, sep)
  if type(s) ~= "string" then misuse("tohex: string expected, got %s", type(s)) end
  sep = sep or ""
  local t = hex_tables[sep]
  if not t and (sep == "" or sep == " ") then
    t = {}
    for i = 0, 255 do t[char(i)] = format("%02X", i) .. sep end
    hex_tables[sep] = t
  end
  -- one gsub: linear even for 64 KiB APDUs; through a table, no Lua call per byte
  local h = s:gsub(".", t or function(c) return format("%02X", byte(c)) .. sep end)
  if sep ~= "" and #h > 0 then h = h:sub(1, -1 - #sep) end
  return h
end

--- Hex -> binary string. White space anywhere is ignored so that
-- `"00 A4 04 00"` and multi-line vectors read naturally.
-- Raises on an odd number of digits or a character that is not a hex digit.
-- @tparam string h hex digits
-- @treturn string binary bytes
function M.fromhex(h)
  if type(h) ~= "string" then misuse("fromhex: string expected, got %s", type(h)) end
  local s = h:gsub("%s+", "")
  local bad = s:find("[^%x]")
  if bad then misuse("fromhex: invalid hex character %q at position %d", s:sub(bad, bad), bad) end
  if #s % 2 ~= 0 then misuse("fromhex: odd number of hex digits (%d)", #s) end
  return (s:gsub("%x%x", function(d) return char(tonumber(d, 16)) end))
end

-- ===========================================================================
-- Argument checks. `what` starts with the name of the function the user
-- called ("BuildCmd: CLA"); a failed check raises through `misuse`.

--- Short description of a bad value for error messages.
-- @param v any value
-- @treturn string
-- @local
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
-- @treturn integer
-- @local
function M.int(v, what, lo, hi)
  local i = type(v) == "number" and tointeger(v) or nil
  if not i or i < lo or i > hi then
    misuse("%s: integer %d..%d expected, got %s", what, lo, hi, M.describe(v))
  end
  return i
end

--- A duration or timeout in milliseconds: `int`'s check for them. nil
-- gives `default` (when there is one); a number is rounded to the nearest
-- whole millisecond when `round` is true and must be whole otherwise; the
-- result lies in lo..hi. NaN and the infinities raise on every Lua.
-- @local
-- @param v value to check
-- @tparam string what name used in the message
-- @tparam integer lo
-- @tparam integer hi
-- @param[opt] default what nil gives
-- @tparam[opt] boolean round
-- @treturn integer
function M.ms(v, what, lo, hi, default, round)
  if v == nil and default ~= nil then return default end
  if round and type(v) == "number" and v == v then v = math.floor(v + 0.5) end
  local i = M.int_in(v, lo, hi)
  if not i then
    misuse("%s: whole number of milliseconds %d..%d expected, got %s", what, lo, hi, M.describe(v))
  end
  return i
end

--- Byte 0..255.
-- @param v value to check
-- @tparam string what name used in the message
-- @treturn integer
-- @local
function M.byte(v, what)
  return M.int(v, what, 0, 255)
end

--- `v` as an integer when it is a number with an integral value in lo..hi,
-- else nil: what `int` accepts and returns, for a check that builds its
-- error message only when it fails.
-- @param v value to check
-- @tparam integer lo
-- @tparam integer hi
-- @treturn integer|nil
-- @local
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
-- @local
function M.int_table(lo, hi)
  local t = {}
  for i = lo, hi do t[i] = i end
  return t
end

--- `int_table(0, 255)`: `byte_of[v]` is `byte(v)`'s result, or nil where
-- `byte` would raise.
-- @table byte_of
-- @local
M.byte_of = M.int_table(0, 255)

--- Optional byte string of at most `max` bytes; nil and "" both mean "none" and
-- come back as "".
-- @param v value to check
-- @tparam string what
-- @tparam integer max
-- @treturn string
-- @local
function M.bytes(v, what, max)
  if v == nil then return "" end
  if type(v) ~= "string" then
    misuse("%s: binary string or nil expected, got %s", what, M.describe(v))
  end
  if #v > max then misuse("%s: at most %d bytes allowed, got %d", what, max, #v) end
  return v
end

--- The private state of `obj` in `states`, for a method called on it;
-- raises when the method was called with `.` instead of `:` or on something else.
-- @tparam table states object -> state (weak keys)
-- @param obj the would-be self
-- @tparam string class class name for the message
-- @tparam string method method name for the message
-- @treturn table the state
-- @local
function M.state_of(states, obj, class, method)
  local s = states[obj]
  if not s then
    misuse("%s: %s expected as self, got %s (call it with ':')", method, class, M.describe(obj))
  end
  return s
end

--- Optional boolean.
-- @param v
-- @tparam string what
-- @tparam boolean default
-- @treturn boolean
-- @local
function M.bool(v, what, default)
  if v == nil then return default end
  if type(v) ~= "boolean" then misuse("%s: boolean expected, got %s", what, M.describe(v)) end
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
  ISCARD_E_FORKED             = 0xA0100006, -- an ISCard or monitor used in a child process (after fork)
}
do
  local names = {}
  for name in pairs(M.errors) do names[#names + 1] = name end
  for _, name in ipairs(names) do M.errors[M.errors[name]] = name end
end

-- ===========================================================================
-- Loading on first use: what a program may not need is not compiled by
-- `require "iscard"` (the Lua layer in full would multiply its cost).

--- Members of `t` loaded on first use. Reading a key `k` that `t` lacks
-- and `loaders` has calls `loaders[k](k)` and keeps its result in `t`
-- (rawset), so that later reads find it there without a call. The one
-- mechanism of the layer for laziness: the `iscard` table's modules and
-- functions, and the ISCard methods written in Lua (`iscard.card`).
-- @local
-- @tparam table t
-- @tparam table loaders key -> function(key) returning the value
-- @treturn table t
function M.lazy(t, loaders)
  return setmetatable(t, {
    __index = function(_, k)
      local load = loaders[k]
      if load == nil then return nil end
      local v = load(k)
      rawset(t, k, v)
      return v
    end,
  })
end

--- A loader for `lazy`: module `name` itself, or its field `field`.
-- @local
-- @tparam string name
-- @tparam[opt] string field
-- @treturn function
function M.from(name, field)
  return function()
    local v = require(name)
    if field ~= nil then v = v[field] end
    return v
  end
end

--- Build the `nil, message, code` triple of a runtime failure.
-- @tparam string name one of the keys of `errors`
-- @tparam string fmt format string for the explanation
-- @param ... format arguments
-- @return nil
-- @treturn string `"NAME: explanation"`
-- @treturn integer the code
-- @local
function M.failure(name, fmt, ...)
  local code = assert(M.errors[name], name)
  return nil, name .. ": " .. format(fmt, ...), code
end

return M
