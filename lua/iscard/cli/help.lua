--- `iscard help [COMMAND]`: the help of the command, or of iscard.
-- @module iscard.cli.help
-- @local

local common = require "iscard.cli.common"

local M = {}

M.summary = "Show the help of a command, or this list."

function M.declare(cmd)
  cmd:argument("name", "The command."):args("?")
end

function M.run(args, env)
  if not args.name then
    common.say(env.out, env.parser:get_help())
    return common.EXIT.DONE
  end
  local c = env.commands[args.name]
  if not c then common.usage("unknown command '%s' (see iscard --help)", args.name) end
  common.say(env.out, c.parser:get_help())
  return common.EXIT.DONE
end

return M
