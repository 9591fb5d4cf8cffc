--- `iscard monitor`: readers and cards as they come and go.
-- @module iscard.cli.monitor
-- @local

local common = require "iscard.cli.common"

local M = {}

M.summary = "Print readers and cards as they come and go, until Ctrl-C."

function M.declare(cmd)
  cmd:description [[
Prints what is there, then one line per event as it happens: the local
time, the event (reader_added, reader_removed, card_inserted, card_removed,
service_lost, service_back), the reader and, for an insertion, the ATR in
hex. Runs until Ctrl-C (exit status 130); survives pcscd restarts.
Default: every reader, also readers that appear later.

With --json, one JSON object per line: {"time":EPOCH,"type":...,
"reader":...,"atr":"HEX"}. A reader name that is not UTF-8 stays valid
JSON: each byte that is not part of a UTF-8 character is written \u00XX,
the code of that byte (as if it were Latin-1).]]
  common.reader_option(cmd, true)
  cmd:flag("--json", "One JSON object per line.")
end

local byte, format = string.byte, string.format

-- The valid UTF-8 sequences by their first byte: how many bytes follow,
-- and the range of the first of them (which rules out overlong forms,
-- surrogates and code points over U+10FFFF); the others are 80..BF.
local LEAD = {}
for c = 0xC2, 0xDF do LEAD[c] = { 1, 0x80, 0xBF } end
for c = 0xE1, 0xEF do LEAD[c] = { 2, 0x80, 0xBF } end
for c = 0xF1, 0xF3 do LEAD[c] = { 3, 0x80, 0xBF } end
LEAD[0xE0], LEAD[0xED] = { 2, 0xA0, 0xBF }, { 2, 0x80, 0x9F }
LEAD[0xF0], LEAD[0xF4] = { 3, 0x90, 0xBF }, { 3, 0x80, 0x8F }

-- The length of the UTF-8 character at s[i] (2..4), or nil if there is
-- none there.
local function utf8_at(s, i)
  local lead = LEAD[byte(s, i)]
  if not lead then return nil end
  local b = byte(s, i + 1)
  if not b or b < lead[2] or b > lead[3] then return nil end
  for k = 2, lead[1] do
    b = byte(s, i + k)
    if not b or b < 0x80 or b > 0xBF then return nil end
  end
  return lead[1] + 1
end

local NAMED = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

--- A JSON string holding any bytes: UTF-8 characters as they are, `"`,
-- `\` and control characters escaped, and each other byte as \u00XX.
function M.json_string(s)
  local out, i, n = { '"' }, 1, #s
  while i <= n do
    local j = s:find('[%c"\\\128-\255]', i) or n + 1
    out[#out + 1] = s:sub(i, j - 1)
    if j > n then break end
    local len = utf8_at(s, j)
    if len then
      out[#out + 1] = s:sub(j, j + len - 1)
    else
      local c = s:sub(j, j)
      out[#out + 1] = NAMED[c] or format("\\u%04x", byte(c))
      len = 1
    end
    i = j + len
  end
  out[#out + 1] = '"'
  return table.concat(out)
end

--- One event as a line of JSON.
function M.event_json(ev, tohex)
  local parts = { '"time":' .. format("%d", ev.time), '"type":' .. M.json_string(ev.type) }
  if ev.reader then parts[#parts + 1] = '"reader":' .. M.json_string(ev.reader) end
  if ev.atr then parts[#parts + 1] = '"atr":' .. M.json_string(tohex(ev.atr)) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function M.run(args, env)
  local iscard = require "iscard"
  local names
  if #args.reader > 0 then
    names = {}
    for i, r in ipairs(args.reader) do names[i] = common.reader_name(iscard, r) end
  end
  if env.out.setvbuf then env.out:setvbuf("line") end
  local mon = common.checked("--reader", iscard.monitor, { readers = names })
  for ev in mon:events(-1) do
    if args.json then
      common.say(env.out, M.event_json(ev, iscard.tohex))
    else
      common.say(env.out, table.concat({ os.date("%Y-%m-%d %H:%M:%S", ev.time), ev.type, ev.reader or "-",
        ev.atr and iscard.tohex(ev.atr, " ") or nil }, "  "))
    end
  end
  return common.EXIT.DONE
end

return M
