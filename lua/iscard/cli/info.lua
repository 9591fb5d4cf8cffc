--- `iscard info`: what a reader tells about itself, no card needed.
-- @module iscard.cli.info
-- @local

local common = require "iscard.cli.common"

local M = {}

M.summary = "Show what a reader tells about itself: attributes, part 10 features."

function M.declare(cmd)
  cmd:description [[
Attaches to each reader (or the one given) in DIRECT mode, which needs no
card, and prints the attributes it answers, its PC/SC part 10 features
(control codes in hex) and, when offered, its TLV and PIN properties.]]
  common.reader_option(cmd)
end

-- One attribute value as text: strings as they are, numbers in decimal and
-- hex, the IFD version and channel id by their fields, bytes in hex.
local function show_value(iscard, v)
  if type(v) == "number" then return ("%d (0x%X)"):format(v, v) end
  if type(v) == "table" and v.major then
    return ("%d.%d build %d"):format(v.major, v.minor, v.build)
  end
  if type(v) == "table" then
    local s = ("%s channel %d"):format(tostring(v.type), v.channel)
    if v.bus then s = s .. (" (bus %d, address %d)"):format(v.bus, v.address) end
    return s
  end
  if v:find("^[%w%p ]*$") then return v end
  return iscard.tohex(v, " ")
end

-- Prints name/value pairs of t sorted by name, indented.
local function show_table(iscard, out, t, skip)
  local names = {}
  for k in pairs(t) do if k ~= skip then names[#names + 1] = k end end
  table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
  if #names == 0 then common.say(out, "    (none)") end
  for _, k in ipairs(names) do
    common.say(out, ("    %-26s %s"):format(tostring(k), show_value(iscard, t[k])))
  end
end

-- The part 10 sections of one reader attached DIRECT.
local function part10(iscard, out, card)
  local features = card:features()
  local codes = {}
  for k, v in pairs(features) do codes[k] = ("0x%08X"):format(v) end
  common.say(out, "  part 10 features:")
  show_table(iscard, out, codes)
  if features.get_tlv_properties then
    common.say(out, "  properties:")
    local p, perr, pcode = card:properties()
    if p then
      show_table(iscard, out, p, "raw")
      for tag, bytes in pairs(p.raw) do
        common.say(out, ("    tag 0x%02X %s"):format(tag, iscard.tohex(bytes, " ")))
      end
    else common.say(out, "    ", common.pcsc_text(perr, pcode)) end
  end
  if features.ifd_pin_properties then
    common.say(out, "  PIN properties:")
    local p, perr, pcode = card:pin_properties()
    if p then show_table(iscard, out, p) else common.say(out, "    ", common.pcsc_text(perr, pcode)) end
  end
end

function M.run(args, env)
  local iscard = require "iscard"
  local chosen = args.reader and { common.reader_name(iscard, args.reader) } or common.must(iscard.readers())
  if #chosen == 0 then common.say(env.out, "no readers"); return common.EXIT.DONE end
  for i, r in ipairs(chosen) do
    if i > 1 then common.say(env.out) end
    common.say(env.out, r)
    local card = common.must(iscard.ISCard())
    common.must(common.checked("--reader", card.AttachByReader, card, r, iscard.DIRECT, 0))
    common.say(env.out, "  attributes:")
    show_table(iscard, env.out, common.must(card:attrs()))
    part10(iscard, env.out, card)
    card:close()
  end
  return common.EXIT.DONE
end

return M
