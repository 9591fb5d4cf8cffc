--- What the user types, read: hex as the `iscard` command takes it, and the
-- lines of `iscard script` files. Pure Lua (no PC/SC), so that the fuzz
-- harness and the specs load it alone.
--
-- A failure is `nil, column, why`: the column counts every character of
-- what the user typed, spaces and tabs included, from 1.
-- @module iscard.cli.parse
-- @local

local M = {}

local char, tonumber = string.char, tonumber

local function byte_of(digits) return char(tonumber(digits, 16)) end

--- Hex to bytes. Groups of digits are separated by white space; each
-- group holds whole bytes, two digits each ("00A40400", "00 A4 04 00"),
-- so "00 A4 0 4 00" is refused, as pcsc-tools' scriptor refuses it.
-- @tparam string text what the user typed
-- @int[opt=0] offset columns before `text` on the user's line
-- @return the bytes (possibly empty), or nil, column, why
function M.hex(text, offset)
  offset = offset or 0
  local out = {}
  for at, group in text:gmatch("()(%S+)") do
    local bad = group:find("[^%x]")
    if bad then
      return nil, offset + at + bad - 1, ("'%s' is not a hex digit"):format(group:sub(bad, bad))
    end
    if #group % 2 == 1 then
      return nil, offset + at, ("'%s': an odd number of hex digits (a byte is two: '0F', not 'F')")
        :format(group)
    end
    out[#out + 1] = group:gsub("%x%x", byte_of)
  end
  return table.concat(out)
end

-- The status word after "=": four hex digits or x (any digit).
local function expected_sw(rest, offset)
  local at, word, after = rest:match("^%s*()(%S*)%s*()")
  if word == "" then return nil, offset, "a status word after '=' expected (\"= 9000\", \"= 61xx\")" end
  if after <= #rest then
    return nil, offset + after, "one status word after '=' expected, found more"
  end
  if not word:find("^[%xXx][%xXx][%xXx][%xXx]$") then
    return nil, offset + at, ("status word '%s': 4 hex digits expected, x for any"):format(word)
  end
  return word:upper()
end

--- One line of a script in pcsc-tools' scriptor format, plus an expected
-- status word: `APDU [= SW]`, `reset`, `exit`, blank; "#" starts a comment.
-- @tparam string line the line as in the file, without its newline
-- @return nil for a line with nothing to do; `{reset = true}`;
--   `{exit = true}`; `{apdu = bytes, expect = "90XX" or nil}`; or
--   false, column, why
function M.script_line(line)
  local body = line:match("^[^#]*")
  if not body:find("%S") then return nil end
  local word = body:match("^%s*(%a+)%s*$")
  word = word and word:lower()
  if word == "reset" or word == "exit" then return { [word] = true } end
  local eq = body:find("=", 1, true)
  local expect, col, why
  if eq then
    expect, col, why = expected_sw(body:sub(eq + 1), eq)
    if not expect then return false, col, why end
  end
  local hex_part = eq and body:sub(1, eq - 1) or body
  local bytes
  bytes, col, why = M.hex(hex_part)
  if not bytes then return false, col, why end
  if bytes == "" then return false, body:find("%S"), "an APDU in hex expected before '='" end
  return { apdu = bytes, expect = expect }
end

--- Whether a status word matches a pattern of 4 upper-case hex digits or
-- X (any digit).
-- @int sw the status word
-- @string pattern as `script_line` returns it
-- @treturn boolean
function M.sw_matches(sw, pattern)
  local h = ("%04X"):format(sw)
  for i = 1, 4 do
    local p = pattern:sub(i, i)
    if p ~= "X" and p ~= h:sub(i, i) then return false end
  end
  return true
end

return M
