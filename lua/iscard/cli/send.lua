--- `iscard send`: APDUs from the command line to a card, replies printed.
-- @module iscard.cli.send
-- @local

local common = require "iscard.cli.common"

local M = {}

M.summary = "Send APDUs (hex) to the card in a reader, print the replies."

function M.declare(cmd)
  cmd:description [[
Attaches to the card (default: the first reader with a card), sends each
APDU given in hex ("00A4040007A0000000031010", or "00 A4 04 00 ..." as one
argument; each byte two digits) with Transaction -- so 61xx and 6Cxx are
handled -- and prints "> " and the command, then the reply data in hex and
the status word with its meaning. The data of VERIFY and other PIN
commands shows as "**" unless --show-pins.
Exit status 0 when every status word is 9000, 3 otherwise, 1 on a PC/SC
error, 2 on a bad argument (nothing is sent then).]]
  common.reader_option(cmd)
  cmd:flag("--raw", "No automatic GET RESPONSE / Le correction.")
  cmd:flag("-t --trace", "Show every APDU exchanged, automatic ones included, and each reply.")
  cmd:flag("--exclusive", "Attach EXCLUSIVE (default SHARED).")
  cmd:flag("--show-pins", "Show PIN data in the echoed commands and the trace.")
  cmd:argument("apdu", "Command APDUs in hex."):args("+")
end

-- The Transaction options: the echo of each command (masked as the trace
-- masks it) and, with --trace, every exchange, each once.
local function options(args, out)
  local opts = { trace_pins = args.show_pins or false }
  if args.raw then opts.get_response, opts.fix_le = false, false end
  opts.trace = function(dir, _, info)
    if args.trace then
      common.say(out, dir == "send" and "> " or "< ", info.hex)
    elseif dir == "send" and info.exchange == 1 then
      common.say(out, "> ", info.hex)
    end
  end
  return opts
end

function M.run(args, env)
  local iscard = require "iscard"
  local cmds = {}
  for i, h in ipairs(args.apdu) do cmds[i] = common.apdu(iscard, h, "APDU") end
  local card = common.attach(iscard, args)
  local opts = options(args, env.out)
  local status = common.EXIT.DONE
  for _, cmd in ipairs(cmds) do
    common.must(card:Transaction(cmd, opts))
    if #cmd.ReplyData > 0 then common.say(env.out, iscard.tohex(cmd.ReplyData, " ")) end
    common.say(env.out, iscard.sw.text(cmd.ReplyStatus))
    if cmd.ReplyStatus ~= 0x9000 then status = common.EXIT.UNEXPECTED end
  end
  card:Detach()
  return status
end

return M
