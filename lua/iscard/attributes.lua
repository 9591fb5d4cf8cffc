--- Reader attributes (SCardGetAttrib / SCardSetAttrib): the one table of
-- their names, ids and value kinds, and the decoders.
--
-- An id is `class * 65536 + tag` (reader.h's `SCARD_ATTR_VALUE`); names
-- drop the `SCARD_ATTR_` prefix. `map` (published as `iscard.attributes`)
-- goes both ways: `map.VENDOR_NAME == 0x10100`, `map[0x10100] == "VENDOR_NAME"`.
-- @module iscard.attributes

local util = require "iscard.util"

local floor = math.floor

-- Value kinds: "string" (text, trailing NUL dropped), "int" (little-endian,
-- as many bytes as the reader returned), "version" (0xMMmmbbbb), "channel"
-- (0xDDDDCCCC), "bytes" (as returned).
-- {name, class, tag, kind}, in reader.h's order.
local LIST = {
  { "VENDOR_NAME",               1, 0x0100, "string" },
  { "VENDOR_IFD_TYPE",           1, 0x0101, "string" },
  { "VENDOR_IFD_VERSION",        1, 0x0102, "version" },
  { "VENDOR_IFD_SERIAL_NO",      1, 0x0103, "string" },
  { "CHANNEL_ID",                2, 0x0110, "channel" },
  { "ASYNC_PROTOCOL_TYPES",      3, 0x0120, "int" },
  { "DEFAULT_CLK",               3, 0x0121, "int" },
  { "MAX_CLK",                   3, 0x0122, "int" },
  { "DEFAULT_DATA_RATE",         3, 0x0123, "int" },
  { "MAX_DATA_RATE",             3, 0x0124, "int" },
  { "MAX_IFSD",                  3, 0x0125, "int" },
  { "SYNC_PROTOCOL_TYPES",       3, 0x0126, "int" },
  { "POWER_MGMT_SUPPORT",        4, 0x0131, "int" },
  { "USER_TO_CARD_AUTH_DEVICE",  5, 0x0140, "int" },
  { "USER_AUTH_INPUT_DEVICE",    5, 0x0142, "int" },
  { "CHARACTERISTICS",           6, 0x0150, "int" },
  { "CURRENT_PROTOCOL_TYPE",     8, 0x0201, "int" },
  { "CURRENT_CLK",               8, 0x0202, "int" },
  { "CURRENT_F",                 8, 0x0203, "int" },
  { "CURRENT_D",                 8, 0x0204, "int" },
  { "CURRENT_N",                 8, 0x0205, "int" },
  { "CURRENT_W",                 8, 0x0206, "int" },
  { "CURRENT_IFSC",              8, 0x0207, "int" },
  { "CURRENT_IFSD",              8, 0x0208, "int" },
  { "CURRENT_BWT",               8, 0x0209, "int" },
  { "CURRENT_CWT",               8, 0x020A, "int" },
  { "CURRENT_EBC_ENCODING",      8, 0x020B, "int" },
  { "EXTENDED_BWT",              8, 0x020C, "int" },
  { "ICC_PRESENCE",              9, 0x0300, "int" },
  { "ICC_INTERFACE_STATUS",      9, 0x0301, "int" },
  { "CURRENT_IO_STATE",          9, 0x0302, "bytes" },
  { "ATR_STRING",                9, 0x0303, "bytes" },
  { "ICC_TYPE_PER_ATR",          9, 0x0304, "int" },
  { "ESC_RESET",                 7, 0xA000, "bytes" },
  { "ESC_CANCEL",                7, 0xA003, "bytes" },
  { "ESC_AUTHREQUEST",           7, 0xA005, "bytes" },
  { "MAXINPUT",                  7, 0xA007, "int" },
  { "DEVICE_UNIT",          0x7FFF, 0x0001, "int" },
  { "DEVICE_IN_USE",        0x7FFF, 0x0002, "int" },
  { "DEVICE_FRIENDLY_NAME_A", 0x7FFF, 0x0003, "string" },
  { "DEVICE_SYSTEM_NAME_A", 0x7FFF, 0x0004, "string" },
  -- UTF-16 names (WinSCard): left as bytes, the _A names are the text
  { "DEVICE_FRIENDLY_NAME_W", 0x7FFF, 0x0005, "bytes" },
  { "DEVICE_SYSTEM_NAME_W", 0x7FFF, 0x0006, "bytes" },
  { "SUPRESS_T1_IFS_REQUEST", 0x7FFF, 0x0007, "int" },
}

local M = {}
local map = {}       -- name -> id, id -> name
local kind_of = {}   -- id -> kind
local order = {}     -- ids in LIST order

--- Attribute names to ids and ids to names. The module reads through to
-- it: `iscard.attributes.VENDOR_NAME == 0x10100`,
-- `iscard.attributes[0x10100] == "VENDOR_NAME"`.
-- @table map
M.map = map
setmetatable(M, { __index = map })

for i, a in ipairs(LIST) do
  local id = a[2] * 65536 + a[3]
  map[a[1]] = id
  map[id] = a[1]
  kind_of[id] = a[4]
  order[i] = id
end

--- The attribute id of a name or id, raising for an unknown name or a bad
-- value.
-- @param v name (`"VENDOR_NAME"`) or integer id
-- @tparam string method the method the program called, for the message
-- @treturn integer
function M.id_of(v, method)
  if type(v) == "string" then
    local id = map[v]
    if not id then util.misuse("%s: unknown attribute name '%s' (see iscard.attributes)", method, v) end
    return id
  end
  return util.int(v, method .. ": attribute id", 0, 0xFFFFFFFF)
end

-- Little-endian unsigned integer of the whole string, or nil when it is
-- empty or too long to be exact in a double (5.1, LuaJIT).
local function le_int(s)
  if #s == 0 or #s > 8 then return nil end
  local v = 0
  for i = #s, 1, -1 do v = v * 256 + s:byte(i) end
  if v >= 2 ^ 53 then return nil end
  return v
end

-- CHANNEL_ID's data channel types (high 16 bits), PC/SC part 3.
local CHANNEL_TYPES = {
  [0x01] = "serial", [0x02] = "parallel", [0x04] = "ps2", [0x08] = "scsi",
  [0x10] = "ide", [0x20] = "usb",
}

local decoders = {
  string = function(s) return (s:gsub("%z+$", "")) end,
  int = function(s) return le_int(s) or s end,
  bytes = function(s) return s end,
  version = function(s)
    local v = le_int(s)
    if not v or #s ~= 4 then return s end
    return { major = floor(v / 0x1000000), minor = floor(v / 0x10000) % 256,
             build = v % 0x10000 }
  end,
  channel = function(s)
    local v = le_int(s)
    if not v or #s ~= 4 then return s end
    local dtype, channel = floor(v / 0x10000), v % 0x10000
    local t = { type = CHANNEL_TYPES[dtype] or dtype, code = dtype, channel = channel }
    if dtype == 0x20 then -- USB: bus and device address (CCID's layout)
      t.bus, t.address = floor(channel / 256), channel % 256
    end
    return t
  end,
}

--- Decodes an attribute's bytes by its kind: strings without the trailing
-- NUL; integers little-endian, sized by the length returned; the IFD version
-- as `{major=, minor=, build=}`; the channel id as `{type=, code=, channel=}`
-- (`type` "usb", "serial"... or the number; USB adds `bus`, `address`).
-- Bytes that do not fit the kind, and unknown ids, come back as given.
-- @int id attribute id
-- @string s the bytes
-- @return the value
function M.decode(id, s)
  return decoders[kind_of[id] or "bytes"](s)
end

--- The ids of every attribute in the table, in reader.h's order.
-- @treturn table array of ids
function M.ids()
  local t = {}
  for i, id in ipairs(order) do t[i] = id end
  return t
end

return M
