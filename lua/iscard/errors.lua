--- Every error code of iscard and its name, both ways:
-- `iscard.errors.SCARD_E_NO_SMARTCARD == 0x8010000C`,
-- `iscard.errors[0x8010000C] == "SCARD_E_NO_SMARTCARD"`. PC/SC's codes come
-- from the C core (0x8010xxxx), the Lua layer's `ISCARD_E_*` from
-- `iscard.util` (0xA010xxxx: the same facility with the HRESULT "customer"
-- bit, so the two never collide). Codes are unsigned 32-bit numbers on every
-- platform. The one table of all of them: the C core's and the Lua layer's
-- own lists are where the codes are defined, this is where they are read.
-- @module iscard.errors

local core = require "iscard.core"
local util = require "iscard.util"

local M = {}
for _, list in ipairs({ core.errors, util.errors }) do
  for k, v in pairs(list) do M[k] = v end
end

return M
