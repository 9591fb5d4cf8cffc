--- `iscard vcard`: a virtual smart card scripted in Lua, in a vpcd reader.
-- @module iscard.cli.vcard
-- @local

local common = require "iscard.cli.common"

local M = {}

M.summary = "Run a virtual smart card in a vpcd reader."

function M.declare(cmd)
  cmd:description [[
Runs the card described by SCRIPT.lua in vpcd reader N (TCP port 35963+N,
default reader 0, i.e. "Virtual PCD 00 00") until killed. The card waits for
the reader driver (vpcd, in pcscd) if it is not listening yet, and says so,
and reconnects when vpcd goes away.

SCRIPT.lua returns a table: `apdu(card, capdu)` (required) gets each
command APDU as a binary string and returns the reply, data then SW1 SW2;
`atr` (a binary ATR; TS and TCK are checked), `init(card)` and
`power(card, event)` are optional. A card that answers 9000 to everything:

    return { apdu = function(card, capdu) return "\144\0" end }

The module iscard.vcard documents the card object (remove, swap, delay).
With --control, commands come on stdin, one a line: "remove [MS]" (out;
back after MS, or at "insert"), "insert", "swap HEXATR [MS]" (out, new ATR,
back after MS, default 0), "stop"; the end of stdin stops the card too.]]
  cmd:option("-r --reader", "vpcd reader number N (port 35963+N), not a PC/SC reader.")
    :argname("<n>"):convert(function(v)
      return common.integer("--reader", 0, 65535 - require("iscard.vcard").BASE_PORT)(v)
    end)
  cmd:option("-p --port", "TCP port (overrides --reader)."):argname("<port>")
    :convert(common.integer("--port", 1, 65535))
  cmd:option("--host", "vpcd host (default 127.0.0.1)."):argname("<host>")
  cmd:flag("-v --verbose", "Log control codes and APDUs to stderr.")
  cmd:flag("-c --control", "Take commands on stdin (above).")
  cmd:argument("script", "The card script (SCRIPT.lua).")
end

function M.run(args, env)
  local vcard = require "iscard.vcard"
  local ok, spec = pcall(vcard.load, args.script)
  -- (the message names the user's file and line: no path of ours)
  if not ok then common.usage("%s", (tostring(spec):match("^[^\n]*"):gsub("^vcard%.load: ", ""))) end
  if type(spec.apdu) ~= "function" then
    common.usage("%s: the card script returns no apdu function (see iscard help vcard)", args.script)
  end
  local opts = { host = args.host, verbose = args.verbose, control = args.control, port = args.port,
    reader = args.reader, waiting_notice_ms = 0 }
  if env.out.setvbuf then env.out:setvbuf("line") end
  vcard.run(spec, opts)
  return common.EXIT.DONE
end

return M
