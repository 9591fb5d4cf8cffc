--- `iscard wait`: until a card is there (or gone).
-- @module iscard.cli.wait
-- @local

local common = require "iscard.cli.common"

local M = {}

-- The longest timeout: PC/SC's timeouts are 32-bit milliseconds.
M.MAX_SECONDS = 4294967

M.summary = "Wait for a card (or for no card); exit 0 done, 3 timeout, 1 error."

function M.declare(cmd)
  cmd:description(([[
Waits until a card is in the reader (default: in any reader), or with
--absent until the reader (default: every reader) is empty. Exit status 0
when that happened, 3 when the timeout passed first, 1 on a PC/SC error
(unknown reader, pcscd not running or gone), 130 on Ctrl-C.
The timeout is in seconds, decimals allowed, at most %d (49 days: PC/SC
counts milliseconds in 32 bits); without it, wait for ever.]]):format(M.MAX_SECONDS))
  common.reader_option(cmd)
  cmd:flag("--absent", "Wait for no card.")
  cmd:option("-t --timeout", ("Give up after this many seconds (0..%d)."):format(M.MAX_SECONDS))
    :argname("<seconds>"):convert(common.seconds("--timeout", M.MAX_SECONDS))
end

function M.run(args)
  local iscard = require "iscard"
  local reader = args.reader and common.reader_name(iscard, args.reader)
  local ok, msg, code = common.checked("--reader", iscard.wait, reader, not args.absent, args.timeout or -1)
  if ok then return common.EXIT.DONE end
  if code == iscard.errors.SCARD_E_TIMEOUT then return common.EXIT.UNEXPECTED end
  return common.must(nil, msg, code)
end

return M
