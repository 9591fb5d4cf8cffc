-- Fuzz harness: the decoders of what a card or a reader sends -- iscard.atr
-- (parse, format), iscard.tlv (decode strict, with padding, lenient;
-- simple_decode) and iscard.part10's parsers (features, properties, PIN
-- properties, PIN verify/modify structures).  The whole input is handed to
-- each.  The contract: never raise on a string; return a value or nil and
-- a message; a strict BER-TLV decode re-encodes to the same bytes.
local atr = require "iscard.atr"
local tlv = require "iscard.tlv"
local part10 = require "iscard.part10"
local check = require("input").check

-- Calls f(...) and checks it neither raised nor returned nil without a message.
local function total(name, f, ...)
  local ok, r, msg = pcall(f, ...)
  check(ok, "%s raised: %s", name, tostring(r))
  check(r ~= nil or type(msg) == "string", "%s: nil without a message", name)
  return r
end

function fuzz(bytes) -- luacheck: ignore (a global: the C driver calls it)
  local p = total("atr.parse", atr.parse, bytes)
  if p then total("atr.format", atr.format, p) end
  local nodes = total("tlv.decode", tlv.decode, bytes)
  if nodes then
    local ok, again = pcall(tlv.encode, nodes)
    check(ok, "tlv.encode raised: %s", tostring(again))
    local twice = tlv.decode(again)
    check(twice and tlv.encode(twice) == again, "tlv: encode(decode(x)) not stable")
  end
  total("tlv.decode padding", tlv.decode, bytes, { padding = true })
  total("tlv.decode lenient", tlv.decode, bytes, { lenient = true })
  total("tlv.simple_decode", tlv.simple_decode, bytes)
  for _, f in ipairs { "parse_features", "parse_properties", "parse_pin_properties",
                       "parse_verify_pin", "parse_modify_pin" } do
    if part10[f] then total("part10." .. f, part10[f], bytes) end
  end
end
