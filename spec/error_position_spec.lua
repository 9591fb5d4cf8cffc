-- Misuse raises at the caller's line: for every public entry point, a wrong
-- call made here raises an error that names the function called and whose
-- position is this file and the line of the call, however many functions of
-- iscard (Lua and C) lie between.
--
-- Each case is a one-line function holding one wrong call (not a tail
-- call, which would leave this file's frame); the expected position is the
-- line that function is defined on. The first part needs no PC/SC; the
-- second needs an ISCard, so pcscd and the test bed's card.
local iscard = require "iscard"

local HERE = debug.getinfo(1, "S").short_src
local unpack = table.unpack or unpack -- luacheck: compat

-- Asserts f(...) raises at f's own line in this file, naming `name`.
local function blames_caller(name, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, name .. ": no error")
  err = tostring(err)
  local where = HERE .. ":" .. debug.getinfo(f, "S").linedefined .. ": "
  assert.are.equal(where, err:sub(1, #where), "position of: " .. err)
  assert.is_truthy(err:find(name, #where + 1, true), "does not name " .. name .. ": " .. err)
end

-- Plain Lua 5.1 (not LuaJIT) leaves a mark for each tail call on the stack.
local LUA51 = _VERSION == "Lua 5.1" and not rawget(_G, "jit")

-- Each case: {name the message must hold, the wrong call}. A case whose
-- error still comes from a part of iscard that another change is rewriting
-- says which in `elsewhere` (or `lua51`, on plain 5.1 only) and is reported
-- as pending with that reason. `args`, when given, makes the arguments of
-- each call (at the time the test runs).
local function cases_of(list, args)
  for _, c in ipairs(list) do
    local why = c.elsewhere or (LUA51 and c.lua51)
    if why then
      pending(c[1] .. ": " .. why)
    else
      it(c[1], function() blames_caller(c[1], c[2], unpack(args and args() or {})) end)
    end
  end
end

local iso = iscard.ISCardISO7816()
local cmd = iscard.ISCardCmd()
local VERIFY = { apdu = "\0\32\0\0" }

describe("misuse without PC/SC raises at the caller's line, naming the function:", function()
  describe("iscard", function()
    cases_of {
      { "fromhex", function() iscard.fromhex("0G") end },
      { "tohex", function() iscard.tohex(1) end },
      { "error_class", function() iscard.error_class({}) end },
      { "ctl_code", function() iscard.ctl_code(4096) end },
      { "iscard.wait", function() iscard.wait(1) end },
      { "iscard.wait", function() iscard.wait("r", true, 0.5) end },
      { "monitor", function() iscard.monitor(5) end },
      { "monitor", function() iscard.monitor({ colour = 1 }) end },
      { "is_valid", function() iscard.is_valid(5) end },
      { "cancel", function() iscard.cancel(5) end },
      { "status_change", function() iscard.status_change(nil, 0, 5) end },
      { "readers", function() iscard.readers(nil, {}) end },
      { "reader_groups", function() iscard.reader_groups(5) end },
    }
  end)

  describe("ISCardCmd", function()
    cases_of {
      { "BuildCmd", function() cmd:BuildCmd(256, 0) end },
      { "BuildCmd", function() cmd.BuildCmd(nil, 0, 0) end },
      { "Clear", function() cmd.Clear(5) end },
      { "Encapsulate", function() cmd:Encapsulate(5) end },
      { "hex", function() cmd.hex(5) end },
      { "reply_hex", function() cmd.reply_hex(5) end },
      { "is_extended", function() cmd.is_extended(5) end },
      { "ne", function() cmd.ne(5) end },
      { "Apdu", function() cmd.Apdu = 5 end },
      { "ApduReply", function() cmd.ApduReply = 5 end },
      { "ApduReplyLength", function() cmd.ApduReplyLength = -1 end },
      { "Data", function() cmd.Data = 5 end },
      { "ReplyStatus", function() cmd.ReplyStatus = "x" end },
      { "Nad", function() cmd.Nad = 256 end },
      { "ReplyNad", function() cmd.ReplyNad = 256 end },
      { "AlternateClassId", function() cmd.AlternateClassId = 256 end },
      { "ApduLength", function() cmd.ApduLength = 1 end },
      { "colour", function() local _ = cmd.colour end },
    }
  end)

  describe("ISCardISO7816", function()
    cases_of {
      { "SetDefaultClassId", function() iso:SetDefaultClassId(256) end },
      { "AppendRecord", function() iso:AppendRecord(1, "r") end },
      { "EraseBinary", function() iso:EraseBinary(0xFF, 0) end },
      { "ExternalAuthenticate", function() iso:ExternalAuthenticate(0, 0, 5) end },
      { "GetChallenge", function() iso:GetChallenge(-1) end },
      { "GetData", function() iso:GetData(0, 256) end },
      { "GetResponse", function() iso:GetResponse(0, 0, 1.5) end },
      { "InternalAuthenticate", function() iso:InternalAuthenticate(0, 0, "") end },
      { "ManageChannel", function() iso:ManageChannel(1, 0) end },
      { "PutData", function() iso:PutData(0, 0) end },
      { "ReadBinary", function() iso:ReadBinary(0, 0, 65537) end },
      { "ReadRecord", function() iso:ReadRecord(0xFF, 4) end },
      { "SelectFile", function() iso:SelectFile(0, 0, 5) end },
      { "UpdateBinary", function() iso:UpdateBinary(0, 0, "") end },
      { "WriteBinary", function() iso:WriteBinary(0, 0, nil) end },
      { "UpdateRecord", function() iso:UpdateRecord(0, 7, "r") end },
      { "WriteRecord", function() iso:WriteRecord(0, 0xF8, "r") end },
      { "Verify", function() iso:Verify(0, 0, 5) end },
      { "envelope", function() iso:envelope("") end },
      { "ReadBinary", function() iso.ReadBinary(0, 0, 0) end },
      { "ReadBinary", function() iso:ReadBinary(0, 0, 0, {}) end },
      { "colour", function() local _ = iso.colour end },
      { "ReadBinary", function() iso.ReadBinary = 1 end },
    }
  end)

  describe("iscard.sw", function()
    cases_of {
      { "text", function() iscard.sw.text({}) end },
      { "meaning", function() iscard.sw.meaning("x") end },
      { "kind", function() iscard.sw.kind("x") end },
      { "check", function() iscard.sw.check({}) end },
    }
  end)

  describe("iscard.atr, iscard.tlv, iscard.channel", function()
    cases_of {
      { "atr.parse", function() iscard.atr.parse(5) end },
      { "atr.format", function() iscard.atr.format(5) end },
      { "atr.identify", function() iscard.atr.identify(5) end },
      { "atr.identify", function() iscard.atr.identify("\59\0", 5) end },
      { "tlv.decode", function() iscard.tlv.decode(5) end },
      { "tlv.decode", function() iscard.tlv.decode("", { colour = 1 }) end },
      { "tlv.encode", function() iscard.tlv.encode({ { tag = 0x1F } }) end },
      { "tlv.encode", function() iscard.tlv.encode({ { tag = 0x6F, children = { 5 } } }) end },
      { "tlv.find", function() iscard.tlv.find({}, "6F/ZZ") end },
      { "tlv.simple_decode", function() iscard.tlv.simple_decode(5) end },
      { "channel.cla", function() iscard.channel.cla(0, 20) end },
    }
  end)

  describe("iscard.part10", function()
    local p10 = iscard.part10
    cases_of {
      { "parse_features", function() p10.parse_features(5) end },
      { "parse_properties", function() p10.parse_properties(5) end },
      { "parse_pin_properties", function() p10.parse_pin_properties(5) end },
      { "verify_pin", function() p10.verify_pin({ apdu = "\0\32\0\0", timeout = 256 }) end },
      { "modify_pin", function() p10.modify_pin({ colour = 1 }) end },
      { "parse_verify_pin", function() p10.parse_verify_pin(5) end },
      { "parse_modify_pin", function() p10.parse_modify_pin(5) end },
    }
  end)

  describe("iscard.vcard (the virtual card's scripting API)", function()
    local vcard = require "iscard.vcard"
    local card = vcard.new_card({ apdu = function() return "\144\0" end })
    cases_of {
      { "card:remove", function() card:remove(-1) end },
      { "card:swap", function() card:swap("\59\0", -1) end },
      { "card:delay", function() card:delay("x") end },
      { "card:raw_reply", function() card:raw_reply(5) end },
      { "card:raw_atr", function() card:raw_atr(5) end },
      { "card:set_atr", function() card:set_atr("") end },
      { "card:set_atr", function() card:set_atr("\59\128\128\1\2") end }, -- wrong TCK
      { "card:swap", function() card:swap("x3B") end },                       -- TS 78
      { "vcard.new_card", function() vcard.new_card({ atr = "\59\128" }) end }, -- TD1 missing
      { "vcard.load", function() vcard.load("/nonexistent/card.lua") end },
      { "vcard.new_card", function() vcard.new_card(5) end },
      { "vcard.run", function() vcard.run({}) end },
    }
  end)
end)

describe("misuse of an ISCard raises at the caller's line, naming the method:", function()
  local bed = require "support.bed"
  local card, detached, closed

  before_each(function()
    card = bed.attach(bed.reader)
    detached = assert(iscard.ISCard())
    closed = assert(iscard.ISCard())
    closed:close()
  end)

  after_each(function()
    card:close()
    detached:close()
  end)

  cases_of({
    { "AttachByReader", function(_, d) d:AttachByReader({}) end },
    { "AttachByHandle", function(_, d) d:AttachByHandle(0) end },
    { "Detach", function(c) c:Detach("nowhere") end },
    { "Detach", function(_, _, x) x:Detach() end },
    { "ReAttach", function(c) c:ReAttach("alone") end },
    { "ReAttach", function(_, d) d:ReAttach() end },
    { "LockSCard", function(_, d) d:LockSCard() end },
    { "UnlockSCard", function(c) c:UnlockSCard() end },
    { "transmit", function(c) c:transmit(5) end },
    { "transmit", function(_, _, x) x:transmit("\0\164\0\0") end },
    { "control", function(c) c:control(-1) end },
    { "attr_raw", function(c) c:attr_raw("NO_SUCH_ATTRIBUTE") end },
    { "attr_raw", function(_, _, x) x:attr_raw("VENDOR_NAME") end },
    { "set_attr", function(c) c:set_attr(1.5, "") end },
    { "set_attr", function(c) c:set_attr("VENDOR_NAME", {}) end },
    { "attr", function(c) c:attr({}) end },
    { "attr", function(_, d) d:attr("VENDOR_NAME") end },
    { "attrs", function(_, d) d:attrs() end },
    { "features", function(_, _, x) x:features() end },
    { "properties", function(_, _, x) x:properties() end },
    { "pin_properties", function(_, _, x) x:pin_properties() end },
    { "verify_pin", function(c) c:verify_pin({ colour = 1 }) end },
    { "verify_pin", function(_, _, x) x:verify_pin(VERIFY) end },
    { "modify_pin", function(c) c:modify_pin(5) end },
    { "Transaction", function(c) c:Transaction(5) end },
    { "Transaction", function(c) c:Transaction(iscard.ISCardCmd()) end },
    { "Transaction", function(c) c:Transaction(iso:ReadBinary(0, 0), { colour = 1 }) end },
    { "Transaction", function(_, d) d:Transaction(iso:ReadBinary(0, 0)) end },
    { "Transaction", function(c) assert(c:open_channel()):Transaction(5) end },
    { "options", function(c) c:options(5) end },
    { "options", function(c) c:options({ colour = 1 }) end },
    { "open_channel", function(c) c:open_channel(20) end },
    { "Atr", function(_, d) local _ = d.Atr end },
    { "Status", function(_, d) local _ = d.Status end },
    { "get_Atr", function(_, d) d:get_Atr() end },
    { "get_Status", function(_, d) d:get_Status() end },
    { "colour", function(c) local _ = c.colour end },
    { "Protocol", function(c) c.Protocol = 1 end },
    { "status_change", function(_, _, x) iscard.status_change(x, 0, { { reader = bed.reader } }) end },
    { "cancel", function(_, _, x) iscard.cancel(x) end },
    { "readers", function(_, _, x) iscard.readers(x) end },
    { "Transaction on channel", function(c) assert(c:open_channel()):Transaction(cmd:BuildCmd(0x40, 0xB0)) end },
    { "close", function(c) assert(c:open_channel()).close(5) end },
    { "Transaction", function(c) local ch = assert(c:open_channel()); ch:close(); ch:Transaction(cmd) end },
  }, function() return { card, detached, closed } end)

  it("monitor: poll, events and cancel", function()
    local mon = iscard.monitor({ initial = false })
    blames_caller("poll", function(m) m:poll(0.5) end, mon)
    blames_caller("events", function(m) m:events("x") end, mon)
    blames_caller("colour", function(m) local _ = m.colour end, mon)
    mon:close()
    blames_caller("poll", function(m) m:poll() end, mon)
    blames_caller("cancel", function(m) m:cancel() end, mon)
    blames_caller("cancel", function(m) iscard.cancel(m) end, mon)
  end)
end)
