--- The reader itself: the ISCard methods built on the core's `control` and
-- `attr_raw` (part 10 features and PIN pads, decoded attributes; documented
-- with the other members in `iscard.ISCard`) and `iscard.is_valid`.
-- `install` puts the methods in place; the byte work is in `iscard.part10`
-- and `iscard.attributes`.
-- @module iscard.reader

local core = require "iscard.core"
local util = require "iscard.util"
local part10 = require "iscard.part10"
local attributes = require "iscard.attributes"

local errors = require "iscard.errors"

local M = {}

-- Refusals that mean "this reader has no such attribute": pcscd's answer
-- for a tag the driver does not know, and for any other driver error.
local NOT_ANSWERED = {
  [errors.SCARD_E_UNSUPPORTED_FEATURE] = true,
  [errors.SCARD_E_NOT_TRANSACTED] = true,
  [errors.SCARD_E_INSUFFICIENT_BUFFER] = true,
}

-- A refusal of GET_FEATURE_REQUEST that will not change on this
-- connection, so its empty answer can be kept.
local FINAL_REFUSAL = {
  [errors.SCARD_E_UNSUPPORTED_FEATURE] = true,
  [errors.SCARD_E_INVALID_PARAMETER] = true,
  [errors.SCARD_E_NOT_TRANSACTED] = true,
}

--- Checks the object is an ISCard or has an integer `Context` (a monitor)
-- and asks PC/SC whether that context is still valid (SCardIsValidContext).
-- A closed ISCard has Context 0, which is never valid.
-- @param obj an ISCard, or any object with an integer `Context` field
-- @treturn[1] boolean true
-- @return[2] false, message, code
-- @raise when obj has no integer Context
function M.is_valid(obj)
  local ctx
  local t = type(obj)
  if t == "table" then
    ctx = obj.Context
  elseif t == "userdata" then
    local ok, v = pcall(function() return obj.Context end)
    if ok then ctx = v end
  end
  if type(ctx) ~= "number" or not util.tointeger(ctx) then
    util.misuse("is_valid: ISCard or object with an integer Context expected, got %s", util.describe(obj))
  end
  return core.valid_context(util.tointeger(ctx))
end

local ccall = util.ccall

-- The methods, installed into the ISCard method table by `install`.
local methods = {}

-- The C functions through util.ccall, so that their misuse errors (a
-- closed card...) blame the program's line and name the method it called.
local function control(self, name, code, bytes) return ccall(name, core.methods.control, self, code, bytes) end
local function card_handle(self) return self.CardHandle end -- raises when closed

function methods.attr_raw(self, id)
  return ccall("attr_raw", core.attr_raw, self, attributes.id_of(id, "attr_raw"))
end

function methods.set_attr(self, id, bytes)
  return ccall("set_attr", core.set_attr, self, attributes.id_of(id, "set_attr"), bytes)
end

-- The two reader-name attributes are answered by pcscd itself, from the
-- name it lists, when the driver does not know their tag; but a driver
-- that also zeroes the length on an unknown tag (vpcd, every version
-- read) makes that answer SCARD_E_INSUFFICIENT_BUFFER for any buffer. A
-- reader name fits our buffer (128 bytes), so that failure can only be
-- this, and the value pcscd meant is the name we attached to.
local NAME_IDS = {
  [attributes.map.DEVICE_FRIENDLY_NAME_A] = true,
  [attributes.map.DEVICE_SYSTEM_NAME_A] = true,
}
local function get(self, name, id)
  local bytes, msg, code = ccall(name, core.attr_raw, self, id)
  if not bytes and code == errors.SCARD_E_INSUFFICIENT_BUFFER and NAME_IDS[id] then
    return self.reader .. "\0"
  end
  return bytes, msg, code
end

function methods.attr(self, id)
  id = attributes.id_of(id, "attr")
  local bytes, msg, code = get(self, "attr", id)
  if not bytes then return nil, msg, code end
  return attributes.decode(id, bytes), bytes
end

function methods.attrs(self)
  local t = {}
  for _, id in ipairs(attributes.ids()) do
    local bytes, msg, code = get(self, "attrs", id)
    if bytes then
      t[attributes.map[id]] = attributes.decode(id, bytes)
    elseif not NOT_ANSWERED[code] then
      return nil, msg, code
    end
  end
  return t
end

-- Per connection: card -> {handle =, features =}. A reattached card has
-- another handle, and another reader perhaps, so it asks again.
local feature_cache = setmetatable({}, { __mode = "k" })

-- card:features() -> {name = control code}; {} when the reader has none
-- or refuses (probing must not be fatal). `name`: the method called.
local function features(self, name)
  local handle = ccall(name, card_handle, self)
  local cached = feature_cache[self]
  if cached and cached.handle == handle then return cached.features end
  local reply, _, code = control(self, name, core.ctl_code(part10.GET_FEATURE_REQUEST), "")
  local found = reply and part10.parse_features(reply) or {}
  if reply or FINAL_REFUSAL[code] then
    feature_cache[self] = { handle = handle, features = found }
  end
  return found
end

function methods.features(self) return features(self, "features") end

-- The control code of feature `name` for the method `method`, or nil,
-- SCARD_E_UNSUPPORTED_FEATURE.
local function feature(self, method, name)
  local code = features(self, method)[name]
  if code then return code end
  return nil, "SCARD_E_UNSUPPORTED_FEATURE: the reader does not offer FEATURE_" .. name:upper(),
    errors.SCARD_E_UNSUPPORTED_FEATURE
end

-- Runs a feature without input and parses its reply.
local function query(self, method, name, parser)
  local code, msg, ecode = feature(self, method, name)
  if not code then return nil, msg, ecode end
  local reply
  reply, msg, ecode = control(self, method, code, "")
  if not reply then return nil, msg, ecode end
  local t, perr = parser(reply)
  if not t then return util.failure("ISCARD_E_MALFORMED_RESPONSE", "%s", perr) end
  return t
end

function methods.properties(self)
  return query(self, "properties", "get_tlv_properties", part10.parse_properties)
end

function methods.pin_properties(self)
  return query(self, "pin_properties", "ifd_pin_properties", part10.parse_pin_properties)
end

-- Builds the structure (misuse raises here, before any PC/SC call),
-- sends it through the feature, returns reply and status word.
local function pin(self, method, name, structure)
  local code, msg, ecode = feature(self, method, name)
  if not code then return nil, msg, ecode end
  local reply
  reply, msg, ecode = control(self, method, code, structure)
  if not reply then return nil, msg, ecode end
  if #reply < 2 then
    return util.failure("ISCARD_E_MALFORMED_RESPONSE",
      "the PIN pad answered %d bytes, no status word", #reply)
  end
  return reply, reply:byte(-2) * 256 + reply:byte(-1)
end

function methods.verify_pin(self, t)
  return pin(self, "verify_pin", "verify_pin_direct", part10.verify_pin(t))
end

function methods.modify_pin(self, t)
  return pin(self, "modify_pin", "modify_pin_direct", part10.modify_pin(t))
end

--- Puts the reader methods into an ISCard method table (`iscard.card`
-- does, on first use of any of them).
-- @local
-- @tparam table target `iscard.core.methods`
function M.install(target)
  for name, f in pairs(methods) do target[name] = f end
end

return M
