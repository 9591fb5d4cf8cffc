--- PC/SC v2 part 10: reader features, their properties, and the PIN
-- verify/modify structures of PIN-pad readers. Pure byte work: the reader
-- calls are the card methods `features`, `properties`, `pin_properties`,
-- `verify_pin` and `modify_pin` (lua/iscard/reader.lua).
--
-- Byte order, as part 10 has it: the control code inside a feature TLV is
-- big-endian; property values and the multi-byte fields of the PIN
-- structures are little-endian.
-- @module iscard.part10

local util = require "iscard.util"

local misuse = util.misuse

local char, byte, format = string.char, string.byte, string.format
local floor = math.floor

local M = {}

--- Feature tags to snake_case names and back (`features.verify_pin_direct
-- == 0x06`, `features[0x06] == "verify_pin_direct"`).
-- @table features
M.features = {
  verify_pin_start = 0x01, verify_pin_finish = 0x02,
  modify_pin_start = 0x03, modify_pin_finish = 0x04,
  get_key_pressed = 0x05, verify_pin_direct = 0x06, modify_pin_direct = 0x07,
  mct_reader_direct = 0x08, mct_universal = 0x09, ifd_pin_properties = 0x0A,
  abort = 0x0B, set_spe_message = 0x0C, verify_pin_direct_app_id = 0x0D,
  modify_pin_direct_app_id = 0x0E, write_display = 0x0F, get_key = 0x10,
  ifd_display_properties = 0x11, get_tlv_properties = 0x12,
  ccid_esc_command = 0x13, execute_pace = 0x20,
}

--- Property tags of FEATURE_GET_TLV_PROPERTIES to names and back
-- (`properties.max_apdu_data_size == 10`).
-- @table properties
M.properties = {
  lcd_layout = 1, entry_validation_condition = 2, timeout2 = 3,
  lcd_max_characters = 4, lcd_max_lines = 5, min_pin_size = 6,
  max_pin_size = 7, firmware_id = 8, ppdu_support = 9,
  max_apdu_data_size = 10, id_vendor = 11, id_product = 12,
}
-- the one property that is text, not a number
local TEXT_PROPERTY = { firmware_id = true }

for _, t in ipairs({ M.features, M.properties }) do
  local names = {}
  for name in pairs(t) do names[#names + 1] = name end
  for _, name in ipairs(names) do t[t[name]] = name end
end

--- GET_FEATURE_REQUEST's function number (`iscard.ctl_code(3400)`).
M.GET_FEATURE_REQUEST = 3400

-- Unsigned integer from bytes i..j of s; big-endian when be.
local function uint(s, i, j, be)
  local v = 0
  if be then
    for k = i, j do v = v * 256 + byte(s, k) end
  else
    for k = j, i, -1 do v = v * 256 + byte(s, k) end
  end
  return v
end

-- Raises unless s is a string.
local function check_bytes(s, what)
  if type(s) ~= "string" then util.misuse("%s: binary string expected, got %s", what, util.describe(s)) end
end

--- Parses the reply of GET_FEATURE_REQUEST: 6-byte TLVs (tag, length 4,
-- big-endian control code). Known tags come under their names, unknown ones
-- under their number; of a tag given twice, the first counts.
-- @string s the reply bytes
-- @treturn[1] table name (or tag) -> control code; `{}` for an empty reply
-- @return[2] nil, message for a length that is not a multiple of 6 or a
--   TLV whose length is not 4
function M.parse_features(s)
  check_bytes(s, "parse_features")
  if #s % 6 ~= 0 then
    return nil, format("features: %d bytes is not a whole number of 6-byte TLVs", #s)
  end
  local t = {}
  for i = 1, #s, 6 do
    local tag, len = byte(s, i, i + 1)
    if len ~= 4 then
      return nil, format("features: TLV %d (tag 0x%02X) has length %d, not 4", (i + 5) / 6, tag, len)
    end
    local key = M.features[tag] or tag
    if t[key] == nil then t[key] = uint(s, i + 2, i + 5, true) end
  end
  return t
end

--- Parses the reply of FEATURE_GET_TLV_PROPERTIES: TLVs of a tag, a length
-- and a little-endian value of that length (`firmware_id` is text).
-- Unknown tags are kept as bytes in `raw[tag]`; of a tag given twice, the
-- first counts.
-- @string s the reply bytes
-- @treturn[1] table `{lcd_layout=, ..., max_apdu_data_size=, id_vendor=,
--   id_product=, raw = {[tag] = bytes}}`, with the properties present
-- @return[2] nil, message for a truncated TLV or a number of 0 or more
--   than 6 bytes
function M.parse_properties(s)
  check_bytes(s, "parse_properties")
  local t, raw = {}, {}
  local i = 1
  while i <= #s do
    if i + 1 > #s then
      return nil, format("properties: TLV at byte %d is cut after its tag", i)
    end
    local tag, len = byte(s, i, i + 1)
    local last = i + 1 + len
    if last > #s then
      return nil, format("properties: TLV at byte %d (tag 0x%02X) needs %d bytes, %d left",
        i, tag, len, #s - i - 1)
    end
    local name = M.properties[tag]
    if not name then
      if raw[tag] == nil then raw[tag] = s:sub(i + 2, last) end
    elseif t[name] == nil then
      if TEXT_PROPERTY[name] then
        t[name] = s:sub(i + 2, last)
      elseif len < 1 or len > 6 then
        return nil, format("properties: %s (tag 0x%02X) has %d bytes, expected 1..6", name, tag, len)
      else
        t[name] = uint(s, i + 2, last)
      end
    end
    i = last + 1
  end
  t.raw = raw
  return t
end

--- Parses the reply of FEATURE_IFD_PIN_PROPERTIES (PIN_PROPERTIES_STRUCTURE:
-- wLcdLayout, bEntryValidationCondition, bTimeOut2).
-- @string s the reply bytes
-- @treturn[1] table `{lcd_layout=, entry_validation_condition=, timeout2=}`
-- @return[2] nil, message when it is not 4 bytes
function M.parse_pin_properties(s)
  check_bytes(s, "parse_pin_properties")
  if #s ~= 4 then
    return nil, format("pin properties: %d bytes, expected 4", #s)
  end
  return { lcd_layout = uint(s, 1, 2), entry_validation_condition = byte(s, 3),
           timeout2 = byte(s, 4) }
end

-- ===========================================================================
-- PIN_VERIFY_STRUCTURE and PIN_MODIFY_STRUCTURE: a header of named fields
-- (each {name, bytes}), then ulDataLength (4 bytes) and the APDU.
-- wPINMaxExtraDigit is min << 8 | max, little-endian: max_digits comes first.

local VERIFY = {
  { "timeout", 1 }, { "timeout2", 1 }, { "format_string", 1 },
  { "pin_block_string", 1 }, { "pin_length_format", 1 },
  { "max_digits", 1 }, { "min_digits", 1 },
  { "entry_validation", 1 }, { "number_message", 1 }, { "lang_id", 2 },
  { "msg_index", 1 }, { "teo_prologue", 3 },
}
local MODIFY = {
  { "timeout", 1 }, { "timeout2", 1 }, { "format_string", 1 },
  { "pin_block_string", 1 }, { "pin_length_format", 1 },
  { "insertion_offset_old", 1 }, { "insertion_offset_new", 1 },
  { "max_digits", 1 }, { "min_digits", 1 }, { "confirm_pin", 1 },
  { "entry_validation", 1 }, { "number_message", 1 }, { "lang_id", 2 },
  { "msg_index1", 1 }, { "msg_index2", 1 }, { "msg_index3", 1 },
  { "teo_prologue", 3 },
}

-- Little-endian bytes of v in n bytes.
local function le(v, n)
  local b = {}
  for k = 1, n do
    b[k] = v % 256
    v = floor(v / 256)
  end
  return char(util.unpack(b))
end

local function build(what, layout, known, t)
  if type(t) ~= "table" then misuse("%s: table of fields expected, got %s", what, util.describe(t)) end
  for k in pairs(t) do
    if not known[k] then misuse("%s: unknown field '%s'", what, tostring(k)) end
  end
  local apdu = t.apdu
  if type(apdu) ~= "string" or #apdu < 4 then
    misuse("%s: apdu: command APDU of at least 4 bytes expected, got %s", what, util.describe(apdu))
  end
  local parts = {}
  for i, f in ipairs(layout) do
    local name, n = f[1], f[2]
    local v = t[name]
    if name == "teo_prologue" then
      if v == nil then v = "\0\0\0" end
      if type(v) ~= "string" or #v ~= 3 then
        misuse("%s: teo_prologue: 3 bytes expected, got %s", what, util.describe(v))
      end
      parts[i] = v
    else
      parts[i] = le(util.int(v or 0, what .. ": " .. name, 0, n == 1 and 255 or 65535), n)
    end
  end
  parts[#parts + 1] = le(#apdu, 4)
  parts[#parts + 1] = apdu
  return table.concat(parts)
end

local function parse(what, layout, size, s)
  check_bytes(s, what)
  if #s < size then
    return nil, format("%s: %d bytes, shorter than the %d-byte header", what, #s, size)
  end
  local n = uint(s, size - 3, size)
  if n ~= #s - size then
    return nil, format("%s: ulDataLength says %d bytes of APDU, %d follow", what, n, #s - size)
  end
  local t, i = {}, 1
  for _, f in ipairs(layout) do
    local name, len = f[1], f[2]
    if name == "teo_prologue" then
      t[name] = s:sub(i, i + len - 1)
    else
      t[name] = uint(s, i, i + len - 1)
    end
    i = i + len
  end
  t.apdu = s:sub(size + 1)
  return t
end

-- The builder and the parser of the structure of `layout`, for the
-- methods `name` and `parse_name`.
local function structure(name, layout)
  local size, known = 4, { apdu = true } -- header size through ulDataLength
  for _, f in ipairs(layout) do
    size = size + f[2]
    known[f[1]] = true
  end
  local parse_name = "parse_" .. name
  return function(t) return build(name, layout, known, t) end,
         function(s) return parse(parse_name, layout, size, s) end
end

--- Builds PIN_VERIFY_STRUCTURE bytes (FEATURE_VERIFY_PIN_DIRECT): a 19-byte
-- header, then the APDU. Fields (numbers, absent ones 0): `timeout`,
-- `timeout2`, `format_string`, `pin_block_string`, `pin_length_format`,
-- `min_digits`, `max_digits`, `entry_validation`, `number_message`,
-- `lang_id` (2 bytes), `msg_index`; `teo_prologue` (3 bytes, default
-- zeros); `apdu` (the command the reader completes with the PIN).
-- ulDataLength is computed.
-- @function verify_pin
-- @tparam table t the fields
-- @treturn string the structure
-- @raise on an unknown field, a number out of its range, a bad apdu

--- Reads PIN_VERIFY_STRUCTURE bytes back into the fields of `verify_pin`
-- (every number present).
-- @function parse_verify_pin
-- @string s the structure
-- @treturn[1] table the fields
-- @return[2] nil, message when shorter than the header or when ulDataLength
--   does not match
M.verify_pin, M.parse_verify_pin = structure("verify_pin", VERIFY) -- a 19-byte header

--- Builds PIN_MODIFY_STRUCTURE bytes (FEATURE_MODIFY_PIN_DIRECT): a 24-byte
-- header, then the APDU. Fields as `verify_pin`, with `msg_index1`..`msg_index3`
-- instead of `msg_index`, and `insertion_offset_old`, `insertion_offset_new`,
-- `confirm_pin`.
-- @function modify_pin
-- @tparam table t the fields
-- @treturn string the structure
-- @raise on an unknown field, a number out of its range, a bad apdu

--- Reads PIN_MODIFY_STRUCTURE bytes back into the fields of `modify_pin`.
-- @function parse_modify_pin
-- @string s the structure
-- @treturn[1] table the fields
-- @return[2] nil, message
M.modify_pin, M.parse_modify_pin = structure("modify_pin", MODIFY) -- a 24-byte header

return M
