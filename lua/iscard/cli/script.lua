--- `iscard script`: a file of APDUs in pcsc-tools' scriptor format.
--
-- Two passes over the file, line by line: the first checks every line
-- (nothing is sent when one is bad), the second sends. Only one line is
-- held at a time, so memory is bounded by the longest line, not by the
-- file; a pipe (standard input, often), which reads once, is copied to a
-- temporary file during the check and the second pass reads the copy.
-- @module iscard.cli.script
-- @local

local common = require "iscard.cli.common"
local parse = require "iscard.cli.parse"

local M = {}

M.summary = "Run a file of APDUs (scriptor format) against a card."

function M.declare(cmd)
  cmd:description [[
Runs a script in the format of pcsc-tools' scriptor: one command APDU per
line in hex (spaces between bytes allowed, each byte two digits), "reset"
to reset the card, "exit" to stop, "#" to the end of a line is a comment.
A line may end with "= SW", the status word it must get ("= 9000"; x for
any digit, "= 61xx"). FILE "-" reads standard input.

Every line is checked before anything is sent. Then prints "> " and each
command, "< " and each reply (data and status word) with the status
word's meaning. The data of VERIFY and other PIN commands shows as "**"
unless --show-pins. Like scriptor, APDUs go as written: no automatic GET
RESPONSE or Le correction unless --auto.
Exit status: 0 when the script ran to its end, 2 on a bad line or a file
that cannot be read (FILE:LINE:COLUMN and what is wrong; nothing is sent
then), 3 on a status word other than expected (the script stops there),
1 on a PC/SC error.]]
  common.reader_option(cmd)
  cmd:flag("--exclusive", "Attach EXCLUSIVE (default SHARED).")
  cmd:flag("--auto", "Answer 61xx with GET RESPONSE and 6Cxx with a resend.")
  cmd:flag("--show-pins", "Show PIN data.")
  cmd:argument("file", "The script, or - for standard input.")
end

-- Calls each(n, step) for every line of f that has something to do;
-- stops at the first bad line (a usage failure) or when each returns
-- "stop". `copy`: a file that gets every line too.
local function each_line(f, name, copy, each)
  local n = 0
  while true do
    local line, err = f:read("*l")
    if not line then
      if err then common.usage("%s: %s", name, err) end
      return
    end
    n = n + 1
    if copy then copy:write(line, "\n") end
    local step, col, why = parse.script_line(line)
    if step == false then common.usage("%s:%d:%d: %s", name, n, col, why) end
    if step and each(n, step) == "stop" then return end
  end
end

-- The first pass: every APDU must be one ISCardCmd takes.
local function check(iscard, f, name, copy)
  local cmd = iscard.ISCardCmd()
  each_line(f, name, copy, function(n, step)
    if step.apdu then common.apdu_of(iscard, step.apdu, ("%s:%d"):format(name, n), cmd) end
  end)
end

-- The script's file; where it starts, or (a pipe) the copy the second
-- pass reads.
local function open(path, stdin)
  local f, err = stdin, nil
  if path ~= "-" then f, err = io.open(path, "r") end
  if not f then common.usage("%s", err) end
  local start = f:seek("cur")
  if start then return f, start end
  return f, nil, common.must(io.tmpfile())
end

local function options(iscard, args, out)
  local opts = { trace_pins = args.show_pins or false }
  if not args.auto then opts.get_response, opts.fix_le = false, false end
  opts.trace = function(dir, bytes, info)
    if dir == "send" then
      common.say(out, "> ", info.hex)
    elseif dir == "recv" then
      local meaning = #bytes >= 2 and iscard.sw.meaning(info.sw) or "malformed reply"
      common.say(out, "< ", info.hex, " : ", meaning)
    end
  end
  return opts
end

-- The second pass: send.
local function play(iscard, card, f, name, opts, out)
  local cmd = iscard.ISCardCmd()
  each_line(f, name, nil, function(n, step)
    if step.exit then return "stop" end
    if step.reset then
      common.say(out, "> reset")
      common.must(card:ReAttach(nil, iscard.RESET))
      common.say(out, "< ", iscard.tohex(card.Atr, " "))
      return
    end
    common.apdu_of(iscard, step.apdu, ("%s:%d"):format(name, n), cmd)
    common.must(card:Transaction(cmd, opts))
    local sw = cmd.ReplyStatus
    if step.expect and not parse.sw_matches(sw, step.expect) then
      common.fail(common.EXIT.UNEXPECTED, "%s:%d: expected status word %s, got %s", name, n, step.expect,
        iscard.sw.text(sw))
    end
  end)
end

function M.run(args, env)
  local iscard = require "iscard"
  local name = args.file == "-" and "stdin" or args.file
  local f, start, copy = open(args.file, env.stdin)
  check(iscard, f, name, copy)
  if copy then
    f = copy
    start = 0
  end
  common.must(f:seek("set", start))
  local card = common.attach(iscard, args)
  play(iscard, card, f, name, options(iscard, args, env.out), env.out)
  if f ~= env.stdin then f:close() end
  card:Detach()
  return common.EXIT.DONE
end

return M
