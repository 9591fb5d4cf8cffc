-- A strict JSON reader (RFC 8259) for the specs: the whole text must be
-- one value; strings must be valid UTF-8 (no overlong forms, surrogates or
-- code points over U+10FFFF), with no raw control character, and only the
-- escapes JSON has; a \u escape of a surrogate must be half of a pair.
-- json.decode(text) returns the value (strings as UTF-8), or nil and where
-- and why it is not JSON.
local json = {}

local byte, char, floor = string.byte, string.char, math.floor

-- UTF-8 of a code point.
local function utf8_char(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64, 0x80 + floor(cp / 64) % 64,
    0x80 + cp % 64)
end

-- Length of the valid UTF-8 character at s[i] (1..4), or nil.
local function utf8_len(s, i)
  local c = byte(s, i)
  if c < 0x80 then return 1 end
  local n, lo, hi
  if c >= 0xC2 and c <= 0xDF then n, lo, hi = 1, 0x80, 0xBF
  elseif c == 0xE0 then n, lo, hi = 2, 0xA0, 0xBF
  elseif c == 0xED then n, lo, hi = 2, 0x80, 0x9F
  elseif c >= 0xE1 and c <= 0xEF then n, lo, hi = 2, 0x80, 0xBF
  elseif c == 0xF0 then n, lo, hi = 3, 0x90, 0xBF
  elseif c >= 0xF1 and c <= 0xF3 then n, lo, hi = 3, 0x80, 0xBF
  elseif c == 0xF4 then n, lo, hi = 3, 0x80, 0x8F
  else return nil end
  for k = 1, n do
    local b = byte(s, i + k)
    if not b or b < (k == 1 and lo or 0x80) or b > (k == 1 and hi or 0xBF) then return nil end
  end
  return n + 1
end

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\8", f = "\12", n = "\n", r = "\r", t = "\t" }

local decode_value

local function fail(i, why) error({ at = i, why = why }, 0) end

local function skip(s, i) return s:find("[^ \t\n\r]", i) or #s + 1 end

local function hex4(s, i)
  local h = s:match("^%x%x%x%x", i)
  if not h then fail(i, "\\u needs 4 hex digits") end
  return tonumber(h, 16)
end

local function decode_escape(s, i)
  local e = s:sub(i + 1, i + 1)
  if ESCAPES[e] then return ESCAPES[e], i + 2 end
  if e ~= "u" then fail(i, "unknown escape") end
  local cp = hex4(s, i + 2)
  if cp >= 0xDC00 and cp <= 0xDFFF then fail(i, "lone low surrogate") end
  if cp >= 0xD800 and cp <= 0xDBFF then
    if s:sub(i + 6, i + 7) ~= "\\u" then fail(i, "lone high surrogate") end
    local low = hex4(s, i + 8)
    if low < 0xDC00 or low > 0xDFFF then fail(i, "lone high surrogate") end
    return utf8_char(0x10000 + (cp - 0xD800) * 1024 + (low - 0xDC00)), i + 12
  end
  return utf8_char(cp), i + 6
end

local function decode_string(s, i)
  local out = {}
  i = i + 1
  while true do
    local c = byte(s, i)
    if not c then fail(i, "unterminated string") end
    if c == 34 then return table.concat(out), i + 1 end
    if c < 32 then fail(i, "raw control character in a string") end
    if c == 92 then
      local piece
      piece, i = decode_escape(s, i)
      out[#out + 1] = piece
    else
      local len = utf8_len(s, i)
      if not len then fail(i, "not UTF-8") end
      out[#out + 1] = s:sub(i, i + len - 1)
      i = i + len
    end
  end
end

local function decode_list(s, i, close, item)
  i = skip(s, i + 1)
  if s:sub(i, i) == close then return i + 1 end
  while true do
    i = skip(s, item(s, i))
    local c = s:sub(i, i)
    if c == close then return i + 1 end
    if c ~= "," then fail(i, "',' or '" .. close .. "' expected") end
    i = skip(s, i + 1)
  end
end

local function decode_object(s, i)
  local obj = {}
  local after = decode_list(s, i, "}", function(_, j)
    if s:sub(j, j) ~= '"' then fail(j, "a string key expected") end
    local key
    key, j = decode_string(s, j)
    j = skip(s, j)
    if s:sub(j, j) ~= ":" then fail(j, "':' expected") end
    obj[key], j = decode_value(s, skip(s, j + 1))
    return j
  end)
  return obj, after
end

local function decode_array(s, i)
  local arr = {}
  local after = decode_list(s, i, "]", function(_, j)
    arr[#arr + 1], j = decode_value(s, j)
    return j
  end)
  return arr, after
end

local LITERALS = { ["true"] = true, ["false"] = false, null = json }

-- -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][-+]?[0-9]+)?
local function decode_number(s, i)
  local j = s:sub(i, i) == "-" and i + 1 or i
  local int = s:match("^0", j) or s:match("^[1-9]%d*", j)
  if not int then fail(i, "a value expected") end
  j = j + #int
  local frac = s:match("^%.%d+", j)
  if not frac and s:sub(j, j) == "." then fail(j, "a digit after '.' expected") end
  j = j + #(frac or "")
  local exp = s:match("^[eE][-+]?%d+", j)
  if not exp and s:find("^[eE]", j) then fail(j, "an exponent expected") end
  j = j + #(exp or "")
  return tonumber(s:sub(i, j - 1)), j
end

function decode_value(s, i)
  local c = s:sub(i, i)
  if c == "{" then return decode_object(s, i) end
  if c == "[" then return decode_array(s, i) end
  if c == '"' then return decode_string(s, i) end
  if c:find("[-%d]") then return decode_number(s, i) end
  for word, v in pairs(LITERALS) do
    if s:sub(i, i + #word - 1) == word then return v, i + #word end
  end
  fail(i, "a value expected")
end

--- The value of `text` (null as json itself), or nil, position, why.
function json.decode(text)
  local ok, v, after = pcall(function()
    local v, j = decode_value(text, skip(text, 1))
    j = skip(text, j)
    if j <= #text then fail(j, "text after the value") end
    return v, j
  end)
  if ok then return v, after end
  if type(v) ~= "table" then error(v, 0) end
  return nil, v.at, v.why
end

json.null = json
json.utf8_len, json.utf8_char = utf8_len, utf8_char

return json
