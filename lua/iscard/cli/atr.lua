--- `iscard atr`: what an ATR says, and which card it is.
-- @module iscard.cli.atr
-- @local

local common = require "iscard.cli.common"

local M = {}

M.summary = "Describe an ATR (hex) and identify the card."

function M.declare(cmd)
  cmd:description [[
Prints what each byte of the ATR means (iscard.atr.format) and the cards
whose entry in pcsc-tools' smartcard_list.txt matches it. Exit status 0,
or 2 when HEX is not an ATR (TS neither 3B nor 3F, or empty) or the list
cannot be read.]]
  cmd:option("--list", "The list to look in (default /usr/share/pcsc/smartcard_list.txt)."):argname("<file>")
  cmd:argument("hex", "The ATR in hex (several arguments are joined with spaces)."):args("+")
end

function M.run(args, env)
  local atr = require "iscard.atr"
  local text = table.concat(args.hex, " ")
  local bytes = common.hex(text, "ATR")
  local described, err = atr.format(bytes)
  if not described then common.usage("ATR '%s': %s", text, err) end
  env.out:write(described)
  local list = args.list or atr.LIST
  local found, lerr = common.checked("--list", atr.identify, bytes, args.list)
  if not found then common.usage("--list: %s", lerr) end
  if #found == 0 then
    common.say(env.out, "not in ", list)
  else
    common.say(env.out, "identified (", list, "):")
    for _, d in ipairs(found) do common.say(env.out, "  ", d) end
  end
  return common.EXIT.DONE
end

return M
