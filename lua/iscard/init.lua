--- iscard: smart cards from Lua, with the interface of Windows' ISCard,
-- ISCardCmd and ISCardISO7816, on PC/SC.
--
-- The ISCard object itself is a userdata of the C core (`iscard.core`); this
-- module adds the members that are logic rather than byte moving
-- (`Transaction` with its T=0 handling, options, tracing) to the core's
-- method table, and gathers the public names in one table.
-- @module iscard

local core = require "iscard.core"
local util = require "iscard.util"

local M = {}

--- The COM interfaces' constants, with their COM values: `EXCLUSIVE`, `SHARED`,
-- `DIRECT`; `LEAVE`, `RESET`, `UNPOWER`, `EJECT`; `T0`, `T1`, `RAW`;
-- `ABSENT` .. `SPECIFICMODE`; `ISO_CASE_1` .. `ISO_CASE_4`.
-- @table constants
for name, value in pairs(core.constants) do M[name] = value end

--- Error names to codes and codes to names (`iscard.errors.SCARD_E_NO_SMARTCARD
-- == 0x8010000C`, `iscard.errors[0x8010000C] == "SCARD_E_NO_SMARTCARD"`).
-- Codes are unsigned 32-bit numbers on every platform.
M.errors = core.errors
for k, v in pairs(util.errors) do M.errors[k] = v end

--- PC/SC reader-state bits, as used by `iscard.status_change`.
M.reader_states = core.reader_states

--- iscard's version: the rockspec's version without its revision (the rock
-- `iscard-scm-1` is VERSION "scm"); `tools/rock-check.sh` checks they agree.
M.VERSION = "scm"

--- Largest command or reply APDU PC/SC carries (pcsc-lite's
-- `MAX_BUFFER_SIZE_EXTENDED`).
M.MAX_APDU = core.MAX_APDU

--- Creates an ISCard: one PC/SC context, ready to attach to one card.
-- @function ISCard
-- @return the ISCard, or nil, message, code (`SCARD_E_NO_SERVICE` without pcscd)
M.ISCard = core.ISCard

--- Lists the reader names the resource manager knows, of one group if
-- given (`readers(group)` or `readers(card, group)`; pcsc-lite ignores
-- groups and lists all).
-- @function readers
-- @param[opt] card an ISCard whose context to use (else a temporary one)
-- @string[opt] group a reader group name
-- @return array of names (empty when there is no reader), or nil, message, code
M.readers = core.readers

--- Waits for reader state changes (SCardGetStatusChange).
-- @function status_change
-- @param card an ISCard whose context to use, or nil for a temporary one
-- @int timeout_ms milliseconds; negative waits forever
-- @tparam table states array of `{reader = name, current = bits}`
-- @return the same array with `event` (state bits) and `atr` filled in, or
--   nil, message, code (`SCARD_E_TIMEOUT` when nothing changed in time)
M.status_change = core.status_change

-- ---------------------------------------------------------------------------
-- What a program may not need is loaded on first access: `iscard.atr`
-- requires iscard.atr then (and keeps it in this table), so that
-- `require "iscard"` compiles only the core and util. name -> {module,
-- field of it (nil: the module itself)}.
local LAZY = {}

--- Waits until a card is present in (or absent from) a reader, or with
-- `reader` nil, in any reader (absent: from every reader), also readers
-- that appear meanwhile. `iscard.wait(nil, true, 0)` is the first reader
-- with a card now. Waits in slices of `iscard.monitor.SLICE_MS`, so Ctrl-C
-- stops it; the time left comes from a monotonic clock.
-- @function wait
-- @tparam string|nil reader reader name, or nil for any reader
-- @tparam[opt=true] boolean present wait for presence (true) or absence (false)
-- @int[opt=-1] timeout_ms milliseconds; negative waits forever; 0 looks once
-- @return true and, waiting for presence, the reader with the card (with
--   `reader` nil: the first in PC/SC's order that has one); or nil,
--   message, code (`SCARD_E_TIMEOUT`, `SCARD_E_UNKNOWN_READER`...)
LAZY.wait = { "iscard.monitor", "wait" }

--- Creates a monitor of readers and cards (`iscard.monitor`): see the
-- README, "Waiting and monitoring".
-- @function monitor
-- @tparam[opt] table opts `readers` (names; nil: all, also later ones),
--   `initial` (default true)
-- @return the monitor
LAZY.monitor = { "iscard.monitor", "new" }

--- Cancels a wait on an object's context: a monitor's `poll`/`events`
-- (as `mon:cancel()`), or an `iscard.status_change` on an ISCard's context
-- (SCardCancel; pcsc-lite ignores it when no wait runs on that context).
-- @param obj a monitor or an ISCard
-- @return true, or nil, message, code
-- @raise when obj is neither, or is closed
function M.cancel(obj)
  if require("iscard.monitor").is_monitor(obj) then return obj:cancel() end
  return util.ccall("cancel", core.cancel, obj)
end

--- Creates an ISCardCmd: one command APDU and its reply.
-- @function ISCardCmd
LAZY.ISCardCmd = { "iscard.cmd", "new" }

--- Creates an ISCardISO7816: builders of ISO 7816-4 commands.
-- @function ISCardISO7816
LAZY.ISCardISO7816 = { "iscard.iso7816", "new" }

--- The class of an error code a program branches on: `service_lost`,
-- `reader_gone`, `card_removed`, `card_reset`, `sharing`, `timeout`,
-- `cancelled`, `malformed_response`, `invalid` or `other`
-- (`iscard.errclass.classify`, which says how SECURITY_VIOLATION is told).
-- @function error_class
-- @param code the code of a failure
-- @param[opt] card the ISCard the call failed on
-- @treturn string
LAZY.error_class = { "iscard.errclass", "classify" }

--- Status words as text, and the opt-in check (`iscard.sw.text(0x6A82)`).
-- @table sw
LAZY.sw = { "iscard.sw" }

--- ATR decoding, description and identification (`iscard.atr.parse(card.Atr)`).
-- @table atr
LAZY.atr = { "iscard.atr" }

--- BER-TLV and SIMPLE-TLV decoding and encoding (`iscard.tlv.decode(reply)`).
-- @table tlv
LAZY.tlv = { "iscard.tlv" }

--- Logical channels (`card:open_channel()` returns an `iscard.channel` Channel).
-- @table channel
LAZY.channel = { "iscard.channel" }

--- PC/SC v2 part 10 parsers and PIN structure builders (`iscard.part10`).
-- @table part10
LAZY.part10 = { "iscard.part10" }

--- Reader attribute names to ids and back (`iscard.attributes.VENDOR_NAME
-- == 0x10100`, `iscard.attributes[0x10100] == "VENDOR_NAME"`).
-- @table attributes
LAZY.attributes = { "iscard.attributes", "map" }

--- Change the default options of every Transaction: `iscard.set_defaults{check
-- = true}` (`iscard.transaction.set_defaults`, which documents it).
-- @function set_defaults
-- @tparam table t options
-- @treturn table the previous defaults
LAZY.set_defaults = { "iscard.transaction", "set_defaults" }

--- Checks the object is an ISCard or has an integer `Context` (a monitor)
-- and asks PC/SC whether that context is still valid (`iscard.reader.is_valid`).
-- @function is_valid
-- @param obj an ISCard, or any object with an integer `Context` field
-- @return true, or false, message, code
LAZY.is_valid = { "iscard.reader", "is_valid" }

setmetatable(M, {
  __index = function(t, k)
    local where = LAZY[k]
    if not where then return nil end
    local v = require(where[1])
    if where[2] then v = v[where[2]] end
    rawset(t, k, v)
    return v
  end,
})

--- Hex to bytes, white space ignored: `iscard.fromhex("00 A4 04 00")`
-- (`iscard.util.fromhex`).
-- @function fromhex
-- @string h hex digits
-- @treturn string binary bytes
M.fromhex = util.fromhex

--- Bytes to upper-case hex: `iscard.tohex(bytes [, sep])` (`iscard.util.tohex`).
-- @function tohex
-- @string s binary bytes
-- @string[opt=""] sep put between two bytes
-- @treturn string
M.tohex = util.tohex

local methods = core.methods

-- ISCard:Transaction and ISCard:options (lua/iscard/transaction.lua, which
-- documents them): until the first call of either, each name holds a stub
-- that lets iscard.transaction install both and calls the real one.
for _, name in ipairs({ "Transaction", "options" }) do
  methods[name] = function(...)
    require("iscard.transaction").install(methods)
    return methods[name](...)
  end
end

-- ---------------------------------------------------------------------------
-- The reader itself: control codes, part 10, attributes, groups
-- (lua/iscard/reader.lua; the methods are documented in src/iscard_core.c).

-- Loaded by the first call of any of them: until then each name holds a
-- stub that puts the C functions back, lets iscard.reader install its
-- methods over them and calls the method the program asked for.
local READER_METHODS = { "attr_raw", "set_attr", "attr", "attrs", "features", "properties",
                         "pin_properties", "verify_pin", "modify_pin" }
do
  local c_functions, installed = {}, false
  for _, name in ipairs(READER_METHODS) do c_functions[name] = methods[name] end
  for _, name in ipairs(READER_METHODS) do
    methods[name] = function(...)
      if not installed then
        installed = true
        for n, f in pairs(c_functions) do methods[n] = f end
        require("iscard.reader").install(methods)
      end
      return methods[name](...)
    end
  end
end

--- The control code of a reader function number (0..4095), by the formula
-- of the platform iscard was built for: pcsc-lite `0x42000000 + n`,
-- Windows `0x310000 | n << 2`. `formula` ("pcsc-lite" or "windows") picks
-- the other one.
-- @function ctl_code
-- @int n function number (3400 is GET_FEATURE_REQUEST)
-- @string[opt] formula
-- @treturn integer
M.ctl_code = core.ctl_code

--- Lists the reader groups (SCardListReaderGroups; pcsc-lite knows only
-- `SCard$DefaultReaders`).
-- @function reader_groups
-- @param[opt] card an ISCard whose context to use (else a temporary one)
-- @return array of names, or nil, message, code
M.reader_groups = core.reader_groups

-- Opens a logical channel: MANAGE CHANNEL open on the basic channel; the
-- channel's Transaction puts its number in every CLA (iscard.channel).
-- Documented with the other members of ISCard in src/iscard_core.c.
function methods.open_channel(self, number)
  return M.channel.open(self, number)
end

return M
