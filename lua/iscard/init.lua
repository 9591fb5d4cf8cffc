--- iscard: smart cards from Lua, with the interface of Windows' ISCard,
-- ISCardCmd and ISCardISO7816, on PC/SC.
--
-- The ISCard object itself is a userdata of the C core (`iscard.core`);
-- `iscard.card` adds the members that are logic rather than byte moving
-- (`Transaction` with its T=0 handling, options, channels, the reader
-- methods). This module gathers the public names in one table.
--
-- Names: `iscard.X` is the module `iscard.X` when there is one
-- (`iscard.atr == require "iscard.atr"`), else a function, a constructor or
-- a constant of this table; never a module's field under the module's
-- name. What a program may not need is loaded on first access
-- (`util.lazy`), so that `require "iscard"` compiles only the core, util,
-- errors and card.
-- @module iscard

local core = require "iscard.core"
local util = require "iscard.util"
require "iscard.card"

local from = util.from
local M = {}

--- The COM interfaces' constants, with their COM values: `EXCLUSIVE`, `SHARED`,
-- `DIRECT`; `LEAVE`, `RESET`, `UNPOWER`, `EJECT`; `T0`, `T1`, `RAW`;
-- `ABSENT` .. `SPECIFICMODE`; `ISO_CASE_1` .. `ISO_CASE_4`.
-- @table constants
for name, value in pairs(core.constants) do M[name] = value end

--- Error names to codes and codes to names, PC/SC's and iscard's own: the
-- module `iscard.errors` (`iscard.errors.SCARD_E_NO_SMARTCARD == 0x8010000C`).
-- @table errors
M.errors = require "iscard.errors"

--- PC/SC reader-state bits, as used by `iscard.status_change`.
M.reader_states = core.reader_states

--- iscard's version: the rockspec's version without its revision (the rock
-- `iscard-scm-1` is VERSION "scm"); `tools/rock-check.sh` checks they agree.
M.VERSION = "scm"

--- Largest command or reply APDU PC/SC carries (pcsc-lite's
-- `MAX_BUFFER_SIZE_EXTENDED`).
M.MAX_APDU = core.MAX_APDU

--- Shortest command APDU `transmit` sends: CLA INS P1 P2 (a shorter one
-- would reach vpcd as a control code).
M.MIN_APDU = core.MIN_APDU

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

-- The names loaded on first access, documented as if they were plain fields.
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
LAZY.wait = from("iscard.monitor", "wait")

--- Monitors of readers and cards: the module `iscard.monitor`, which is
-- also its constructor (`iscard.monitor(opts)`, see the README, "Waiting
-- and monitoring").
-- @table monitor
LAZY.monitor = from "iscard.monitor"

--- Cancels a wait on an object's context: a monitor's `poll`/`events`
-- (as `mon:cancel()`), or an `iscard.status_change` on an ISCard's context
-- (SCardCancel; pcsc-lite ignores it when no wait runs on that context).
-- @param obj a monitor or an ISCard
-- @return true, or nil, message, code
-- @raise when obj is neither, or is closed
function M.cancel(obj)
  if M.monitor.is_monitor(obj) then return obj:cancel() end
  return util.ccall("cancel", core.cancel, obj)
end

--- Sets the function that waits while a call runs on its ISCard's thread,
-- so that a coroutine yields to the program's event loop instead of
-- blocking it (`iscard.loop`, which documents the waitable; the README,
-- "Event loops and many readers"); nil: calls block (the default).
-- @function set_waiter
-- @tparam ?function fn `fn(w)`: returns once `w:ready()`
-- @treturn ?function the previous waiter
LAZY.set_waiter = from("iscard.loop", "set_waiter")

--- Creates an ISCardCmd: one command APDU and its reply.
-- @function ISCardCmd
LAZY.ISCardCmd = from("iscard.cmd", "new")

--- Creates an ISCardISO7816: builders of ISO 7816-4 commands.
-- @function ISCardISO7816
LAZY.ISCardISO7816 = from("iscard.iso7816", "new")

--- The class of an error code a program branches on: `service_lost`,
-- `reader_gone`, `card_removed`, `card_reset`, `sharing`, `timeout`,
-- `cancelled`, `malformed_response`, `exchange_failed`, `invalid` or `other`
-- (`iscard.errclass.classify`, which says how SECURITY_VIOLATION is told).
-- @function error_class
-- @param code the code of a failure
-- @param[opt] card the ISCard the call failed on
-- @treturn string
LAZY.error_class = from("iscard.errclass", "classify")

--- The error classes (`iscard.errclass`).
-- @table errclass
LAZY.errclass = from "iscard.errclass"

--- Status words as text, and the opt-in check (`iscard.sw.text(0x6A82)`).
-- @table sw
LAZY.sw = from "iscard.sw"

--- ATR decoding, description and identification (`iscard.atr.parse(card.Atr)`).
-- @table atr
LAZY.atr = from "iscard.atr"

--- BER-TLV and SIMPLE-TLV decoding and encoding (`iscard.tlv.decode(reply)`).
-- @table tlv
LAZY.tlv = from "iscard.tlv"

--- Logical channels (`card:open_channel()` returns an `iscard.channel` Channel).
-- @table channel
LAZY.channel = from "iscard.channel"

--- PC/SC v2 part 10 parsers and PIN structure builders (`iscard.part10`).
-- @table part10
LAZY.part10 = from "iscard.part10"

--- Reader attribute names to ids and back, and their decoders: the module
-- `iscard.attributes` (`iscard.attributes.VENDOR_NAME == 0x10100`,
-- `iscard.attributes[0x10100] == "VENDOR_NAME"`).
-- @table attributes
LAZY.attributes = from "iscard.attributes"

--- The Transaction engine and its options (`iscard.transaction.defaults`,
-- `iscard.transaction.run`).
-- @table transaction
LAZY.transaction = from "iscard.transaction"

--- Change the default options of every Transaction: `iscard.set_defaults{check
-- = true}` (`iscard.transaction.set_defaults`, which documents it).
-- @function set_defaults
-- @tparam table t options
-- @treturn table the previous defaults
LAZY.set_defaults = from("iscard.transaction", "set_defaults")

--- Checks the object is an ISCard or has an integer `Context` (a monitor)
-- and asks PC/SC whether that context is still valid (`iscard.reader.is_valid`).
-- @function is_valid
-- @param obj an ISCard, or any object with an integer `Context` field
-- @return true, or false, message, code
LAZY.is_valid = from("iscard.reader", "is_valid")

util.lazy(M, LAZY)

--- Hex conversion and the argument checks of the Lua layer (`iscard.util`).
-- @table util
M.util = util

--- Hex to bytes, white space ignored: `iscard.fromhex("00 A4 04 00")`.
-- @function fromhex
-- @string h hex digits
-- @treturn string binary bytes
M.fromhex = util.fromhex

--- Bytes to upper-case hex: `iscard.tohex(bytes [, sep])`.
-- @function tohex
-- @string s binary bytes
-- @string[opt=""] sep put between two bytes
-- @treturn string
M.tohex = util.tohex

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

return M
