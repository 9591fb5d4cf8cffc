--- The members of ISCard written in Lua, in one place: `Transaction` and
-- `options` (their engine is `iscard.transaction`), `open_channel`
-- (`iscard.channel`) and the reader methods (`iscard.reader`). Each is
-- documented here, on the same page as the members of the C core; the
-- module that implements it is loaded by its first use, so that
-- `require "iscard"` compiles none of them.
--
-- This file is also the seam between the Lua layer and the C core: it hands
-- the core `iscard.util.misuse`, through which the core's misuse errors
-- blame the program's line, and it is the only writer of the core's method
-- table.
-- @classmod iscard.ISCard

local core = require "iscard.core"
local util = require "iscard.util"

core.set_misuse(util.misuse)

local methods = core.methods

-- A loader of `util.lazy` for the members that module `name` puts into
-- the method table with its `install`: all of them at the first use of any.
local function installed_by(name)
  return function(member)
    require(name).install(methods)
    return rawget(methods, member)
  end
end
local by_transaction, by_reader = installed_by "iscard.transaction", installed_by "iscard.reader"

local LOADERS = {
  Transaction = by_transaction,
  options = by_transaction,
  open_channel = util.from("iscard.channel", "open"),
  attr_raw = by_reader,
  set_attr = by_reader,
  attr = by_reader,
  attrs = by_reader,
  features = by_reader,
  properties = by_reader,
  pin_properties = by_reader,
  verify_pin = by_reader,
  modify_pin = by_reader,
}
-- The method table outlives this module (it belongs to the metatable in
-- the registry): when iscard is loaded again in the same state (a program
-- or a test runner that clears package.loaded), the members installed from
-- the old modules go, so that the new ones are loaded with their module
-- state (the ISCardCmd objects of the new iscard.cmd, say).
for name in pairs(LOADERS) do methods[name] = nil end
util.lazy(methods, LOADERS)

--- Sends `cmd` to the attached card and stores the reply in it:
-- `iscard.transaction.run` on the card's `transmit`, with the card's
-- options (`options`) under `opts`. Returns the card on success, so calls
-- chain. The options, the T=0 follow-ups (GET RESPONSE after 61xx, the
-- resend after 6Cxx), extended length, command chaining and the trace are
-- described at `iscard.transaction.run`.
--
-- The plain case -- no options that need the general engine (a trace,
-- `extended` off, forced chaining), Nad 0, and a reply other than a
-- 61xx/6Cxx to follow up -- is one exchange of the command as built, its
-- reply stored as it came.
-- @function Transaction
-- @tparam iscard.ISCardCmd cmd the command; receives the reply
-- @tparam[opt] table opts options for this call, as listed at `iscard.transaction.run`
-- @return[1] the card
-- @return[2] nil, message, code
-- @raise when not attached, for an empty command, or bad options

--- Sets this card's default `Transaction` options. Later calls merge into
-- the earlier ones; `false` switches a feature off, and `trace = false` the
-- card's trace. Checked here, once: a bad option raises and leaves the
-- card's options as they were.
-- @function options
-- @tparam table opts options, as listed at `iscard.transaction.run` (e.g. `{check = true, trace = print}`)
-- @return the card
-- @raise for an unknown option or a bad value

--- Opens a logical channel: MANAGE CHANNEL open, sent on the basic channel
-- through `Transaction`. The channel's own `Transaction` puts its number into
-- the CLA of every APDU it sends (`iscard.channel`).
-- @function open_channel
-- @int[opt] number the channel to ask for (1..19); by default the card chooses
-- @return[1] an `iscard.channel` Channel with `.number`
-- @return[2] nil, message, code
-- @raise when not attached, or for a bad number

--- One reader attribute, as bytes (SCardGetAttrib). `attr` decodes it. Ours.
-- @function attr_raw
-- @param id attribute id (`iscard.attributes.VENDOR_NAME`...) or name (`"VENDOR_NAME"`)
-- @treturn[1] string the bytes the reader answered
-- @return[2] nil, message, code (`SCARD_E_UNSUPPORTED_FEATURE` when the reader has no such attribute)
-- @raise when not attached, or on a bad id

--- Sets a reader attribute (SCardSetAttrib). pcscd answers
-- `SCARD_E_UNSUPPORTED_FEATURE` for an attribute the driver does not know
-- and `SCARD_E_NOT_TRANSACTED` when the driver refuses. Ours.
-- @function set_attr
-- @param id attribute id or name (`"VENDOR_NAME"`...)
-- @string bytes the value, at most `iscard.MAX_APDU` bytes
-- @return the card, or nil, message, code
-- @raise when not attached, or on a bad argument

--- One reader attribute, decoded. Strings without the trailing NUL;
-- integers little-endian, sized by the length returned;
-- `VENDOR_IFD_VERSION` as `{major=, minor=, build=}`; `CHANNEL_ID` as
-- `{type=, code=, channel=}` (USB adds `bus`, `address`). The two
-- reader-name attributes fall back to the attached name when the driver
-- spoils pcscd's own answer (see README). Ours.
-- @function attr
-- @param id attribute name (`"VENDOR_NAME"`, see `iscard.attributes`) or id
-- @return[1] the value, and the bytes
-- @return[2] nil, message, code (`SCARD_E_UNSUPPORTED_FEATURE`...)
-- @raise when not attached, or for an unknown name

--- Every attribute of `iscard.attributes` the reader answers, decoded, by
-- name. Attributes the reader refuses are absent. Ours.
-- @function attrs
-- @treturn[1] table name -> value
-- @return[2] nil, message, code when the connection itself fails

--- The reader's PC/SC part 10 features (GET_FEATURE_REQUEST), kept for the
-- connection. Never fails: a reader that has none or refuses gives `{}`. Ours.
-- @function features
-- @treturn table snake_case name (or unknown tag) -> control code, e.g.
--   `{verify_pin_direct = 0x42330006}`
-- @raise when not attached

--- The reader's FEATURE_GET_TLV_PROPERTIES, decoded by
-- `iscard.part10.parse_properties`. Ours.
-- @function properties
-- @treturn[1] table `{max_apdu_data_size=, id_vendor=, ..., raw=}`
-- @return[2] nil, message, code (`SCARD_E_UNSUPPORTED_FEATURE` without the feature)

--- The reader's FEATURE_IFD_PIN_PROPERTIES, decoded. Ours.
-- @function pin_properties
-- @treturn[1] table `{lcd_layout=, entry_validation_condition=, timeout2=}`
-- @return[2] nil, message, code

--- Lets the user enter a PIN on the reader's PIN pad and sends it to the
-- card (FEATURE_VERIFY_PIN_DIRECT with `iscard.part10.verify_pin(t)`). The
-- PIN never reaches the host. Ours.
-- @function verify_pin
-- @tparam table t the fields of `iscard.part10.verify_pin`
-- @treturn[1] string the reply bytes (status word last)
-- @treturn[1] integer the status word (0x9000; 0x6400 timeout, 0x6401 cancelled...)
-- @return[2] nil, message, code (`SCARD_E_UNSUPPORTED_FEATURE` without a PIN pad)
-- @raise on bad fields, before any PC/SC call

--- Changes a PIN on the reader's PIN pad (FEATURE_MODIFY_PIN_DIRECT with
-- `iscard.part10.modify_pin(t)`). Ours.
-- @function modify_pin
-- @tparam table t the fields of `iscard.part10.modify_pin`
-- @treturn[1] string the reply bytes
-- @treturn[1] integer the status word
-- @return[2] nil, message, code
-- @raise on bad fields, before any PC/SC call

return methods
