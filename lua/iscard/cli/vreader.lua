--- `iscard vreader`: script the virtual reader (the pcscd driver
-- libifd-iscard.so) through its control socket: type on its keypad, set
-- its attributes, unplug it.  A command module: `summary`, `declare(cmd)`
-- for an argparse command, `run(args, env)` -> exit status; `main(argv)`
-- parses the arguments itself (for a dispatcher without argparse).
-- @module iscard.cli.vreader
-- @local

local M = {}

M.summary = "Type on the virtual reader's keypad, set its attributes, unplug it."

M.DESCRIPTION = [[
Sends one command to the virtual reader's control socket (the control=PATH
of its reader.conf DEVICENAME) and prints nothing when it answers ok.
Commands (SLOT: 0, 1, ... as the last number of the reader's name):
  keypad SLOT DIGITS             what the next PIN entry on SLOT types
  keypad SLOT OLD NEW [CONFIRM]  ... for a PIN change
  keypad SLOT timeout | cancel   the user lets it time out / cancels
  attr SLOT NAME [VALUE]         an attribute's value (text, or a number);
                                 no VALUE: the reader stops answering it
  unplug SLOT                    the reader goes away
Exit status 0 when the driver answered ok, 1 when it answered an error or
could not be reached, 2 on a usage error.]]

M.USAGE = "usage: iscard vreader --control PATH COMMAND...\n"

function M.declare(cmd)
  cmd:description(M.DESCRIPTION)
  cmd:option("-c --control", "The reader's control socket."):argname("<path>"):count(1)
  cmd:argument("command", "The command and its words."):args("+")
end

function M.run(args, env)
  local err = env and env.err or io.stderr
  local ok, msg = require("iscard.vreader").control(args.control, table.concat(args.command, " "))
  if ok then return 0 end
  err:write("iscard: vreader: ", tostring(msg), "\n")
  return 1
end

-- The arguments without argparse: --control PATH (or -c PATH,
-- --control=PATH) and the command's words; nil, message when wrong.
local function parse(argv)
  local args, i = { command = {} }, 1
  while i <= #argv do
    local a = argv[i]
    local v = a:match("^%-%-control=(.*)$")
    if v then
      args.control = v
    elseif a == "-c" or a == "--control" then
      i = i + 1
      args.control = argv[i]
    elseif a == "-h" or a == "--help" then
      args.help = true
    else
      args.command[#args.command + 1] = a
    end
    i = i + 1
  end
  if args.help then return args end
  if not args.control then return nil, "--control PATH is missing" end
  if #args.command == 0 then return nil, "a command is missing" end
  return args
end

function M.main(argv, env)
  local out, err = env and env.out or io.stdout, env and env.err or io.stderr
  local args, why = parse(argv)
  if args and args.help then
    out:write(M.USAGE, "\n", M.DESCRIPTION, "\n")
    return 0
  end
  if not args then
    err:write("iscard: vreader: ", why, "\n", M.USAGE)
    return 2
  end
  return M.run(args, env)
end

return M
