-- Misuse raises at the caller's line: for every public entry point, a wrong
-- call made here raises an error that names the function called and whose
-- position is this file and the line of the call, however many functions of
-- iscard (Lua and C) lie between.
--
-- Each case is a one-line function holding one wrong call (not a tail
-- call, which would leave this file's frame); the expected position is the
-- line that function is defined on. This part needs no PC/SC; the calls
-- on an ISCard are in spec/bed/error_position_spec.lua.
local iscard = require "iscard"
local cases_of = require("support.blame").cases_for(it, pending)

local iso = iscard.ISCardISO7816()
local cmd = iscard.ISCardCmd()

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

