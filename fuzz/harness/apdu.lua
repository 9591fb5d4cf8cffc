-- Fuzz harness: the APDU parser and encoder (iscard.cmd).  The input is a
-- command APDU written to ISCardCmd.Apdu, then the same bytes through
-- cmd.decode.  The contract checked: a write either raises the documented
-- "malformed APDU" error or is taken, and then reading Apdu gives the same
-- bytes back, decode agrees with the object's fields, every case (1, 2, 3,
-- 4; short and extended) re-encodes to those bytes, and BuildCmd from the
-- decoded fields plus encode's extended flag gives them too.
local cmdm = require "iscard.cmd"

local check = require("input").check

function fuzz(bytes) -- luacheck: ignore (a global: the C driver calls it)
  local c = cmdm.new()
  local ok, err = pcall(function() c.Apdu = bytes end)
  local d, why = cmdm.decode(bytes)
  if not ok then
    check(d == nil, "Apdu refused what decode took: %s", tostring(err))
    check(tostring(err):find("malformed APDU", 1, true) or bytes == "",
      "unexpected error: %s", tostring(err))
    check(type(why) == "string" and why:find("^malformed APDU"), "decode: bad reason %s", tostring(why))
    return
  end
  if bytes == "" then return end
  check(d ~= nil, "decode refused what Apdu took: %s", tostring(why))
  check(c.Apdu == bytes, "Apdu read back differs")
  check(c.ApduLength == #bytes, "ApduLength")
  check(c.Data == d.data, "Data differs from decode")
  check(c.LeField == d.le, "LeField differs from decode")
  check(c:is_extended() == d.extended or (#d.data > 255 or (d.le or 0) > 256), "extended flag")
  check(d.case >= 1 and d.case <= 4, "case %s", tostring(d.case))
  check(cmdm.encode(d.cla, d.ins, d.p1, d.p2, d.data, d.le, d.extended) == bytes,
    "encode(decode(x)) ~= x")
  -- the object built from the fields instead of the bytes
  local b = cmdm.new()
  b:BuildCmd(d.cla, d.ins, d.p1, d.p2, d.data, d.le)
  if not d.extended or #d.data > 255 or (d.le or 0) > 256 then
    check(b.Apdu == bytes, "BuildCmd gives other bytes")
  end
end
