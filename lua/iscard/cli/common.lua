--- What the commands of `iscard` share: the exit statuses, failures,
-- the reader option and its meaning, number options, APDUs from hex.
--
-- A command fails by raising a failure made by `fail` (or `must`); the
-- dispatcher (iscard.cli) prints its message and exits with its status, so
-- that nothing between the command and the user calls os.exit and specs
-- can run commands in their own process.
-- @module iscard.cli.common
-- @local

local parse = require "iscard.cli.parse"

local M = {}

--- The exit statuses, the same for every command.
M.EXIT = {
  DONE = 0,        -- what was asked was done
  FAILED = 1,      -- a PC/SC or card failure (no reader, pcscd away, card pulled...)
  USAGE = 2,       -- an unknown option, a bad argument, an input file that cannot be read or parsed
  UNEXPECTED = 3,  -- a status word other than expected; `wait`: the timeout passed first
  INTERRUPTED = 130, -- Ctrl-C, as a shell reports SIGINT
}

local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(self) return self.message end

--- Raises a failure that ends the command: `status` (one of EXIT) and a
-- one-line message.
function M.fail(status, fmt, ...)
  error(setmetatable({ status = status, message = fmt:format(...) }, Failure), 0)
end

--- Whether an error value is a failure raised by `fail`.
function M.is_failure(e) return getmetatable(e) == Failure end

--- A usage error (status 2).
function M.usage(fmt, ...) M.fail(M.EXIT.USAGE, fmt, ...) end

--- A PC/SC failure (nil, message, code) as text: the message, then the code
-- in hex as PC/SC's documentation writes it (0x8010000C).
function M.pcsc_text(msg, code)
  if type(code) ~= "number" then return tostring(msg) end
  return ("%s [0x%08X]"):format(tostring(msg), code)
end

--- The value of a call that returns it or nil, message, code; on failure
-- fails with status 1 and the message.
function M.must(v, msg, code)
  if v == nil then M.fail(M.EXIT.FAILED, "%s", M.pcsc_text(msg, code)) end
  return v
end

--- An error message without where in our code it was raised: no
-- "file.lua:12: " prefixes, no traceback, one line.
function M.clean(e)
  local s = tostring(e):match("^[^\n]*")
  local prev
  repeat
    prev = s
    s = s:gsub("^[^%s:][^:]*:%d+: ", "", 1):gsub("^%[string \"[^\"]*\"%]:%d+: ", "", 1)
  until s == prev
  return s
end

local function relay(what, ok, ...)
  if not ok then M.usage("%s: %s", what, M.clean((...))) end
  return ...
end

--- Calls f(...) for an argument the user gave (`what` names it) and
-- returns what f returns; an error raised by the library (a value it
-- refuses) fails as a usage error.
function M.checked(what, f, ...)
  return relay(what, pcall(f, ...))
end

--- Writes the arguments then a newline on `out`.
function M.say(out, ...)
  out:write(...)
  out:write("\n")
end

-- ---------------------------------------------------------------- options
-- Converters for argparse's `:convert`: the value, or nil and a message
-- that names the option.

--- A whole number in lo..hi.
function M.integer(option, lo, hi)
  return function(v)
    local n = tonumber(v)
    if n and n == math.floor(n) and n >= lo and n <= hi then return math.floor(n) end
    return nil, ("%s: a whole number %d..%d expected, got '%s'"):format(option, lo, hi, v)
  end
end

--- Seconds (decimals allowed) 0..max, as whole milliseconds.
function M.seconds(option, max)
  return function(v)
    local t = tonumber(v)
    if t and t >= 0 and t <= max then return math.floor(t * 1000 + 0.5) end
    return nil, ("%s: seconds 0..%d expected (decimals allowed), got '%s'"):format(option, max, v)
  end
end

local READER_HELP = "The reader R: its name, or its number as `iscard readers` shows it."

--- Declares `-r/--reader` on an argparse command, the same for every
-- command: a name or a number. `many`: repeatable.
function M.reader_option(cmd, many)
  local o = cmd:option("-r --reader", READER_HELP .. (many and " Repeatable." or "")):argname("<r>")
  if many then o:count("*") end
  return o
end

--- The reader name meant by a `--reader` value: a number picks from the
-- list `iscard readers` prints, anything else is a name.
function M.reader_name(iscard, value)
  if not tostring(value):find("^%d+$") then return value end
  local list = M.must(iscard.readers())
  local n = tonumber(value)
  if n < 1 or n > #list then
    M.usage("--reader %s: no reader of that number (%d reader%s: see `iscard readers`)", value, #list,
      #list == 1 and "" or "s")
  end
  return list[n]
end

--- Attaches to the card in the reader of `args.reader`, or in the first
-- reader with a card; SHARED, or EXCLUSIVE with `args.exclusive`.
function M.attach(iscard, args)
  local reader = args.reader and M.reader_name(iscard, args.reader)
  if not reader then
    local ok, found, code = iscard.wait(nil, true, 0)
    if not ok and code ~= iscard.errors.SCARD_E_TIMEOUT then M.must(nil, found, code) end
    if not ok then M.fail(M.EXIT.FAILED, "no card in any reader") end
    reader = found
  end
  local card = M.must(iscard.ISCard())
  local mode = args.exclusive and iscard.EXCLUSIVE or iscard.SHARED
  return M.must(M.checked("--reader", card.AttachByReader, card, reader, mode))
end

-- ---------------------------------------------------------------- APDUs

--- The bytes of hex the user typed (each byte two digits); a usage
-- failure naming `what`, the text and the column when it is not hex.
function M.hex(text, what)
  local bytes, col, why = parse.hex(text)
  if not bytes then M.usage("%s '%s': column %d: %s", what, text, col, why) end
  return bytes
end

--- An ISCardCmd holding the APDU written in hex by the user; a usage
-- failure naming `what` when it is not one.
function M.apdu(iscard, text, what)
  return M.apdu_of(iscard, M.hex(text, what), ("%s '%s'"):format(what, text))
end

--- An ISCardCmd holding `bytes`, or a usage failure naming `what`.
-- `cmd` (optional) is reused.
function M.apdu_of(iscard, bytes, what, cmd)
  if bytes == "" then M.usage("%s: empty (an APDU is CLA INS P1 P2 at least)", what) end
  cmd = cmd or iscard.ISCardCmd()
  M.checked(what, function() cmd.Apdu = bytes end)
  return cmd
end

return M
