--- Scripting the virtual reader (the pcscd driver libifd-iscard.so, for
-- tests) through its control socket, the `control=PATH` of its reader.conf
-- DEVICENAME.  One command a line, answered `ok` or `error: why`:
--
--    keypad SLOT DIGITS             what the next PIN entry on SLOT types
--    keypad SLOT OLD NEW [CONFIRM]  ... for a PIN change (the entries in
--                                   the order the reader asks for them)
--    keypad SLOT timeout | cancel   the user lets it time out / cancels
--    attr SLOT NAME [VALUE]         an attribute's value (no VALUE: the
--                                   reader stops answering it)
--    unplug SLOT                    the reader goes away
--
-- A PIN entry takes the keypad entries given before it or while it waits;
-- with none it waits the structure's timeout and answers 6400.
-- @module iscard.vreader

local core = require "iscard.core" -- the clock
local io_ = require "iscard.vcard_io"
local util = require "iscard.util"

local M = {}

--- How long `control` waits for the driver's answer (ms).
M.TIMEOUT_MS = 5000

-- The driver's answer line, or nil, why.
local function answer_line(conn, timeout_ms)
  local fd, got = conn:fileno(), ""
  local deadline = core.now() + timeout_ms
  while not got:find("\n", 1, true) do
    local left = deadline - core.now()
    if left <= 0 then return nil, "no answer within " .. timeout_ms .. " ms" end
    local ok, err = io_.readable(fd, nil, math.ceil(left))
    if not ok and err ~= "interrupted" then return nil, err end
    if ok then
      local s, rerr = io_.read(fd, 4096)
      if not s then return nil, rerr end
      if s == "" then return nil, "the driver closed the connection" end
      got = got .. s
    end
  end
  return got:match("^([^\n]*)")
end

--- Sends one command to the control socket at `path` and reads the answer.
-- @string path the control socket
-- @string line the command, without newline
-- @int[opt=M.TIMEOUT_MS] timeout_ms how long to wait for the answer
-- @treturn[1] boolean true: the driver answered `ok`
-- @return[2] nil, message (the driver's `error: ...` without its prefix,
--   or why the socket could not be used)
-- @raise when path or line is not a string, or line holds a newline
function M.control(path, line, timeout_ms)
  if type(path) ~= "string" then util.misuse("vreader.control: path: string expected, got %s", util.describe(path)) end
  if type(line) ~= "string" or line:find("[\r\n]") then
    util.misuse("vreader.control: line: one line of text expected, got %s", util.describe(line))
  end
  timeout_ms = util.int(timeout_ms or M.TIMEOUT_MS, "vreader.control: timeout_ms", 1, 86400000)
  local conn, err = io_.connect_unix(path)
  if not conn then return nil, path .. ": " .. tostring(err) end
  local ok, serr = conn:sendraw(line .. "\n")
  local reply, rerr
  if ok then reply, rerr = answer_line(conn, timeout_ms) end
  conn:close()
  if not ok then return nil, path .. ": " .. tostring(serr) end
  if not reply then return nil, path .. ": " .. tostring(rerr) end
  if reply == "ok" then return true end
  return nil, reply:match("^error: (.*)$") or ("unexpected answer '" .. reply .. "'")
end

--- `keypad SLOT ...`: what the next PIN entry on slot types.
-- @string path the control socket
-- @int slot the slot (0-based, as in the reader's name)
-- @param ... the entries (digit strings), or "timeout" or "cancel"
-- @return as `control`
function M.keypad(path, slot, ...)
  local words = { "keypad", tostring(slot) }
  for i = 1, select("#", ...) do words[#words + 1] = tostring((select(i, ...))) end
  return M.control(path, table.concat(words, " "))
end

--- `attr SLOT NAME [VALUE]`: an attribute's value, text or number; nil
-- makes the reader stop answering it.
-- @string path the control socket
-- @int slot the slot
-- @string name the attribute's name (`iscard.attributes`, e.g. "VENDOR_NAME")
-- @param[opt] value text or number
-- @return as `control`
function M.attr(path, slot, name, value)
  local line = ("attr %s %s"):format(tostring(slot), tostring(name))
  if value ~= nil then line = line .. " " .. tostring(value) end
  return M.control(path, line)
end

--- `unplug SLOT`: the reader goes away (pcscd shows it unavailable).
-- @string path the control socket
-- @int slot the slot
-- @return as `control`
function M.unplug(path, slot)
  return M.control(path, "unplug " .. tostring(slot))
end

return M
