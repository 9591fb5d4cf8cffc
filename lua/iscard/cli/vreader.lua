--- `iscard vreader`: script the virtual reader (the pcscd driver
-- libifd-iscard.so, for tests) through its control socket: type on its
-- keypad, set its attributes, unplug it.
-- @module iscard.cli.vreader
-- @local

local common = require "iscard.cli.common"

local M = {}

M.summary = "Type on the virtual reader's keypad, set its attributes, unplug it."

function M.declare(cmd)
  cmd:description([[
Sends one command to the virtual reader's control socket (the control=PATH
of its reader.conf DEVICENAME); prints nothing when the driver answers ok.
Commands (SLOT: 0, 1, ... as the last number of the reader's name):
  keypad SLOT DIGITS             what the next PIN entry on SLOT types
  keypad SLOT OLD NEW [CONFIRM]  ... for a PIN change
  keypad SLOT timeout | cancel   the user lets it time out / cancels
  attr SLOT NAME [VALUE]         an attribute's value (text, or a number);
                                 no VALUE: the reader stops answering it
  unplug SLOT                    the reader goes away
Exit status 0 when the driver answered ok, 1 when it answered an error or
could not be reached.]])
  cmd:option("-c --control", "The reader's control socket."):argname("<path>"):count(1)
  cmd:argument("words", "The command and its words (one line)."):args("+")
end

function M.run(args)
  local ok, msg = require("iscard.vreader").control(args.control, table.concat(args.words, " "))
  if not ok then common.fail(common.EXIT.FAILED, "%s", tostring(msg)) end
  return common.EXIT.DONE
end

return M
