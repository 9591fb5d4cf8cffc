--- The `iscard` command: one argparse parser made of the commands'
-- declarations, and the dispatch to the command named.
--
-- Adding a command NAME is one new file and one line:
--   1. lua/iscard/cli/NAME.lua returns a table with
--        summary  one line for `iscard --help`
--        declare  function(cmd): declares its arguments and options on
--                 `cmd`, an argparse command (cmd:description, cmd:option,
--                 cmd:flag, cmd:argument; common.reader_option for -r)
--        run      function(args, env): does it, with `args` as argparse
--                 parsed them; writes on env.out / env.err, reads env.stdin;
--                 returns an exit status (common.EXIT) or fails through
--                 common.fail / common.must / common.usage
--   2. its name in COMMANDS below (the order of `iscard --help`).
-- The rockspec, config.ld and `make install` pick the file up by its
-- directory (the rockspec and config.ld list it: add it there too).
-- @module iscard.cli
-- @local

local argparse = require "argparse"
local common = require "iscard.cli.common"

local EXIT = common.EXIT

local M = {}

--- The commands, in the order of `iscard --help`.
M.COMMANDS = { "readers", "send", "info", "script", "atr", "monitor", "wait", "vcard", "help" }

M.PROG = "iscard"

-- argparse's own help flag prints and calls os.exit; ours raises this
-- (argparse passes it on), so that the dispatcher prints the help and
-- returns.
local HELP = "iscard.cli: help requested for: "

local function help_flag(cmd, name)
  cmd:add_help(false)
  cmd:flag("-h --help", "Show this help and exit."):action(function() error(HELP .. name, 0) end)
end

--- The parser of the whole command line, and a table command name -> the
-- command's module and its argparse command.
function M.parser()
  local p = argparse(M.PROG, "Smart cards from the command line: PC/SC readers, APDUs, a virtual card.")
  p:help_max_width(80)
  help_flag(p, "")
  p:flag("--version", "Print iscard's version and the Lua running it.")
  p:command_target("command")
  p:require_command(false)
  p:epilog(("Run '%s help <command>' (or '%s <command> --help') for a command's options;"
    .. " '%s --version' for the version.\n\n%s"):format(M.PROG, M.PROG, M.PROG, M.EXIT_HELP))
  local commands = {}
  for _, name in ipairs(M.COMMANDS) do
    local mod = require("iscard.cli." .. name)
    local cmd = p:command(name):summary(mod.summary)
    help_flag(cmd, name)
    mod.declare(cmd)
    commands[name] = { module = mod, parser = cmd }
  end
  return p, commands
end

M.EXIT_HELP = [[
Exit status, the same for every command:
  0    done
  1    a PC/SC or card failure (no reader, no card, pcscd not running...)
  2    a usage error: an unknown option, a bad argument, an input file
       that cannot be read or parsed
  3    not the expected outcome: a status word other than expected
       (send, script), the timeout passed first (wait)
  130  Ctrl-C]]

-- An error as text; when the C module was built for another Lua than the
-- one running (Debian's luarocks builds for 5.1 by default), what to do.
local function explain(e)
  local msg = common.clean(e)
  if not tostring(e):find("undefined symbol: lua", 1, true) then return msg end
  return msg .. " (the C module was built for another Lua than this " .. _VERSION
    .. ": build it with `luarocks --lua-version " .. _VERSION:match("%d+%.%d+")
    .. " make`, see the README, Install)"
end

-- The status of an error raised while a command ran, its message written.
local function failed(e, env, name)
  local where = M.PROG .. (name ~= "" and " " .. name or "")
  if common.is_failure(e) then
    env.err:write(where, ": ", e.message, "\n")
    return e.status
  end
  if tostring(e):find("interrupted!", 1, true) then return EXIT.INTERRUPTED end
  env.err:write(where, ": ", explain(e), "\n")
  return EXIT.FAILED
end

local function version(env)
  local iscard = require "iscard"
  -- the rockspec's version (less its revision) and the Lua running: the
  -- one `luarocks --lua-version` must build for
  common.say(env.out, ("%s %s (%s)"):format(M.PROG, iscard.VERSION, _VERSION))
  return EXIT.DONE
end

-- Parses argv; returns the parsed table, or nil and the exit status after
-- printing help or the usage error.
local function parse(p, commands, argv, env)
  local ok, good, res = pcall(p.pparse, p, argv)
  if not ok then
    local e = tostring(good)
    if e:sub(1, #HELP) ~= HELP then error(good, 0) end
    local name = e:sub(#HELP + 1):match("^%w*")
    env.out:write((name == "" and p or commands[name].parser):get_help(), "\n")
    return nil, EXIT.DONE
  end
  if good then return res end
  local name = argv[1] and commands[argv[1]] and argv[1]
  local usage = (name and commands[name].parser or p):get_usage()
  env.err:write(M.PROG, name and " " .. name or "", ": ", res, "\n", usage, "\n")
  return nil, EXIT.USAGE
end

--- Runs the command line `argv` (arg[1], arg[2]...: no program name).
-- @param argv list of strings
-- @tparam[opt] table env `out`, `err` (objects with :write), `stdin`;
--   default io.stdout, io.stderr, io.stdin
-- @treturn integer the exit status (common.EXIT)
function M.main(argv, env)
  env = env or {}
  env = { out = env.out or io.stdout, err = env.err or io.stderr, stdin = env.stdin or io.stdin }
  local p, commands = M.parser()
  env.parser, env.commands = p, commands
  local ok, status = xpcall(function()
    local args, status = parse(p, commands, argv, env)
    if not args then return status end
    if not args.command then
      if args.version then return version(env) end
      env.err:write(p:get_usage(), "\n")
      return EXIT.USAGE
    end
    return commands[args.command].module.run(args, env) or EXIT.DONE
  end, function(e) return e end)
  if env.out.flush then env.out:flush() end -- what was printed comes before the message
  if not ok then return failed(status, env, argv[1] and commands[argv[1]] and argv[1] or "") end
  return status
end

return M
