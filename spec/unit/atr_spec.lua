-- iscard.atr: decoding, description, identification (pure Lua, no card).
local atr = require "iscard.atr"
local util = require "iscard.util"

local H = util.fromhex
-- with its TCK: the XOR of T0 .. the last historical byte
local function T(h)
  local s, x = H(h), 0
  for i = 2, #s do x = util.xor_byte(x, s:byte(i)) end
  return s .. string.char(x)
end

-- YubiKey 5 NFC, as listed in pcsc-tools' smartcard_list.txt.
local YUBIKEY5 = H "3B FD 13 00 00 81 31 FE 15 80 73 C0 21 C0 57 59 75 62 69 4B 65 79 40"

-- Every interface byte of groups 1-3 and TA4: TA1 96, TB1 00, TC1 05,
-- TD1 F0 (T=0); TA2 11 (specific mode), TB2 00, TC2 0A (WI), TD2 F1 (T=1);
-- TA3 FE (IFSC), TB3 45, TC3 01 (CRC), TD3 1F (T=15); TA4 C3; historical
-- bytes of category 00 with status indicator; TCK.
local FULL = T "3B F6 96 00 05 F0 11 00 0A F1 FE 45 01 1F C3 00 31 C0 01 90 00"

describe("atr.parse", function()
  it("decodes a real ATR: T=1 parameters, compact-TLV historical bytes, TCK", function()
    local a = assert(atr.parse(YUBIKEY5))
    assert.are.same({}, a.errors)
    assert.are.equal(0x3B, a.ts)
    assert.are.equal("direct", a.convention)
    assert.are.equal(0xFD, a.t0)
    assert.are.same({ 1 }, a.protocols)
    assert.are.same({ ta = 0x13, tb = 0x00, tc = 0x00, td = 0x81 }, a.interface[1])
    assert.are.same({ td = 0x31 }, a.interface[2])
    assert.are.same({ ta = 0xFE, tb = 0x15 }, a.interface[3])
    assert.are.equal(1, a.fi); assert.are.equal(3, a.di)
    assert.are.equal(372, a.f); assert.are.equal(4, a.d); assert.are.equal(5, a.fmax)
    assert.are.same({ ifsc = 254, bwi = 1, cwi = 5, edc = "lrc" }, a.t1)
    assert.are.equal(H "80 73 C0 21 C0 57 59 75 62 69 4B 65 79", a.historical)
    assert.are.equal(0x80, a.hb.category)
    assert.are.same({ { tag = 7, value = H "C0 21 C0" }, { tag = 5, value = "YubiKey" } }, a.hb.objects)
    assert.are.equal(0x40, a.tck)
    assert.is_true(a.tck_ok)
  end)

  it("decodes every interface byte, TA2 specific mode, T=0/T=1/T=15", function()
    local a = assert(atr.parse(FULL))
    assert.are.same({}, a.errors)
    assert.are.same({
      { ta = 0x96, tb = 0x00, tc = 0x05, td = 0xF0 },
      { ta = 0x11, tb = 0x00, tc = 0x0A, td = 0xF1 },
      { ta = 0xFE, tb = 0x45, tc = 0x01, td = 0x1F },
      { ta = 0xC3 },
    }, a.interface)
    assert.are.same({ 0, 1 }, a.protocols) -- 15 is not a protocol
    assert.are.equal(9, a.fi); assert.are.equal(6, a.di)
    assert.are.equal(512, a.f); assert.are.equal(32, a.d); assert.are.equal(5, a.fmax)
    assert.are.equal(5, a.n)
    assert.are.equal(10, a.wi)
    assert.are.same({ protocol = 1, changeable = true, implicit = true }, a.specific)
    assert.are.same({ ifsc = 254, bwi = 4, cwi = 5, edc = "crc" }, a.t1)
    assert.are.equal("AB", a.class)
    assert.are.equal("no preference", a.clock_stop)
    assert.are.equal(0x00, a.hb.category)
    assert.are.same({ { tag = 3, value = H "C0" } }, a.hb.objects)
    assert.are.equal(0x01, a.hb.lcs)
    assert.are.equal(0x9000, a.hb.sw)
    assert.is_true(a.tck_ok)
  end)

  it("applies the defaults: T=0 without TD1, no TCK, Fi 372, Di 1, 5 MHz", function()
    local a = assert(atr.parse(H "3B 02 14 50"))
    assert.are.same({}, a.errors)
    assert.are.same({ 0 }, a.protocols)
    assert.are.same({ {} }, a.interface)
    assert.are.equal(372, a.f); assert.are.equal(1, a.d); assert.are.equal(5, a.fmax)
    assert.are.equal(0, a.n)
    assert.is_nil(a.t1); assert.is_nil(a.tck); assert.is_nil(a.tck_ok); assert.is_nil(a.specific)
    assert.are.equal(0x14, a.hb.category) -- proprietary
  end)

  it("defaults T=1 parameters, reads TA2 without the change bit, reserved indices", function()
    local a = assert(atr.parse(T "3F 90 71 91 81 01"))
    assert.are.same({}, a.errors)
    assert.are.equal("inverse", a.convention)
    assert.are.same({ 1 }, a.protocols)
    assert.are.same({ ifsc = 32, bwi = 4, cwi = 13, edc = "lrc" }, a.t1)
    assert.are.same({ protocol = 1, changeable = false, implicit = false }, a.specific)
    assert.are.equal(7, a.fi)
    assert.is_nil(a.f); assert.is_nil(a.fmax) -- Fi index 7 is reserved
    assert.are.equal(1, a.d)
  end)

  it("needs TCK for T=15 alone, and reads the T=15 class byte", function()
    local a = assert(atr.parse(T "3B 80 80 1F 03"))
    assert.are.same({}, a.errors)
    assert.are.same({ 0 }, a.protocols)
    assert.are.equal("AB", a.class)
    assert.are.equal("not supported", a.clock_stop)
    assert.is_true(a.tck_ok)
    local b = assert(atr.parse(H "3B 80 80 1F 03"))
    assert.matches("TCK is missing", b.errors[1])
  end)

  it("reports a wrong TCK with the expected one", function()
    local bad = YUBIKEY5:sub(1, -2) .. "\65"
    local a = assert(atr.parse(bad))
    assert.is_false(a.tck_ok)
    assert.are.same({ "wrong TCK 41 (expected 40)" }, a.errors)
    assert.are.same({ 1 }, a.protocols) -- still decoded
  end)

  it("decodes every truncation as far as it goes, saying what is missing", function()
    for n = 2, #FULL - 1 do
      local a = assert(atr.parse(FULL:sub(1, n)))
      local said = table.concat(a.errors, "; ")
      -- only the TCK is missing from the longest prefix
      assert.matches(n == #FULL - 1 and "^TCK is missing" or "^truncated: ", said)
      assert.are.equal(0xF6, a.t0)
    end
    local a = assert(atr.parse("\59"))
    assert.are.same({ "truncated: T0 is missing" }, a.errors)
    local short = assert(atr.parse(H "3B 05 01 02"))
    assert.are.same({ "truncated: T0 announces 5 historical bytes, 2 present" }, short.errors)
    assert.are.equal(H "01 02", short.historical)
    local td = assert(atr.parse(H "3B 80"))
    assert.are.same({ "truncated: TD1 is missing" }, td.errors)
  end)

  it("reports extra bytes and ATRs longer than 33 bytes", function()
    local a = assert(atr.parse(YUBIKEY5 .. "\0\0"))
    assert.is_true(a.tck_ok)
    assert.are.same({ "2 extra bytes after the ATR" }, a.errors)
    local long = assert(atr.parse(H "3B 0F" .. ("\1"):rep(15) .. ("\0"):rep(17)))
    assert.are.same({ "17 extra bytes after the ATR", "34 bytes: longer than 33" }, long.errors)
  end)

  it("decodes nothing past the longest ATR (33 bytes) and says so", function()
    -- TD after TD: without the bound every further 4 bytes would be a group
    local endless = H "3B FF" .. ("\255"):rep(100000)
    local a = assert(atr.parse(endless))
    assert.are.equal(8, #a.interface) -- bytes 3..33: groups 1..7 and TA8 TB8 TC8
    assert.are.same({ ta = 0xFF, tb = 0xFF, tc = 0xFF }, a.interface[8])
    assert.are.same({ "TD8 would be byte 34, past the longest ATR (33 bytes): not decoded",
                      "100002 bytes: longer than 33" }, a.errors)
    assert.are.equal("", a.historical)
    -- historical bytes that would run past byte 33
    local hist = assert(atr.parse(H "3B 8F" .. ("\128"):rep(20) .. "\0" .. ("\65"):rep(17)))
    assert.are.equal(("\65"):rep(10), hist.historical)
    assert.are.same({ "T0 announces 15 historical bytes, 10 within the longest ATR (33 bytes)",
                      "40 bytes: longer than 33" }, hist.errors)
    -- a TCK that would be byte 34
    local tck = assert(atr.parse(H "3B 80" .. ("\129"):rep(30) .. "\1" .. "\0"))
    assert.are.same({ 1 }, tck.protocols)
    assert.is_nil(tck.tck)
    assert.are.same({ "TCK would be byte 34, past the longest ATR (33 bytes): not decoded",
                      "34 bytes: longer than 33" }, tck.errors)
    -- and up to 33 bytes the same ATR decodes whole
    local full = assert(atr.parse(H "3B 80" .. ("\129"):rep(29) .. "\1"))
    assert.are.same({ "TCK is missing (required: a protocol other than T=0 is indicated)" }, full.errors)
  end)

  it("checks the compact-TLV objects against the historical bytes", function()
    local a = assert(atr.parse(H "3B 03 80 45 01"))
    assert.matches("announces 5 bytes, 1 left", a.hb.error)
    local dir = assert(atr.parse(H "3B 02 10 07"))
    assert.are.equal(0x07, dir.hb.dir_ref)
    local st = assert(atr.parse(H "3B 04 80 82 90 00"))
    assert.are.equal(0x9000, st.hb.sw)
    assert.is_nil(st.hb.lcs)
  end)

  it("returns nil and a message for what is not an ATR, raises for a non-string", function()
    assert.are.same({ nil, "empty ATR" }, { atr.parse("") })
    local a, msg = atr.parse("\0\0")
    assert.is_nil(a)
    assert.matches("TS 00", msg)
    assert.has_error(function() atr.parse(nil) end, "atr.parse: string expected, got nil")
  end)
end)

describe("atr.format", function()
  it("describes every byte and the problems", function()
    local text = assert(atr.format(FULL))
    for _, want in ipairs {
      "TS = 3B: direct convention", "TA1 = 96: Fi = 512, Di = 32, fmax = 5 MHz",
      "TC1 = 05: extra guard time N = 5", "TA2 = 11: specific mode: T=1, changeable, parameters implicit",
      "TC2 = 0A: T=0 waiting time integer WI = 10", "TA3 = FE: IFSC = 254", "TB3 = 45: BWI = 4, CWI = 5",
      "TC3 = 01: error detection: CRC", "TD3 = 1F: Y4 = 1, T = 15", "TA4 = C3: clock stop: no preference, class: AB",
      "protocols: T=0, T=1", "life cycle status 01", "status word 9000", "TCK = ", ": correct",
    } do
      assert.is_truthy(text:find(want, 1, true), want)
    end
    local bad = assert(atr.format(assert(atr.parse(YUBIKEY5:sub(1, -2) .. "\0"))))
    assert.is_truthy(bad:find("problem: wrong TCK 00 (expected 40)", 1, true))
    assert.are.same({ nil, "empty ATR" }, { atr.format("") })
    assert.has_error(function() atr.format(42) end)
  end)
end)

describe("atr.identify", function()
  local LIST = "spec/data/smartcard_list.txt"

  it("matches exact entries, '.' wildcards and [..] classes, every description line", function()
    assert.are.same({ "YubiKey 5 (exact)", "second line of the same entry", "YubiKey 5 family (wildcards)" },
      atr.identify(YUBIKEY5, LIST))
    assert.are.same({ "class with a range", "class with a list and a wildcard digit", "lower case" },
      atr.identify(H "3B 02 14 51", LIST))
    assert.are.same({ "class with a range", "class with a list and a wildcard digit" },
      atr.identify(H "3B 02 14 53", LIST))
    assert.are.same({ "class with a list and a wildcard digit" }, atr.identify(H "3B 02 16 5F", LIST))
    assert.are.same({}, atr.identify(H "3B 02 15 50", LIST))
    assert.are.same({ "shorter pattern: never matches a longer ATR" }, atr.identify(H "3B 02 14", LIST))
    assert.are.same({}, atr.identify("", LIST))
  end)

  it("fails on a list it cannot read, and gives {} when the default list is absent", function()
    local r, msg = atr.identify(YUBIKEY5, "/nonexistent/list.txt")
    assert.is_nil(r)
    assert.matches("nonexistent", msg)
    local saved = atr.LIST
    atr.LIST = "/nonexistent/smartcard_list.txt"
    local ok, got = pcall(atr.identify, YUBIKEY5)
    atr.LIST = saved
    assert.is_true(ok)
    assert.are.same({}, got)
  end)

  it("reads the list a piece at a time: a line longer than MAX_LINE ends it with an error", function()
    assert.are.equal(4096, atr.MAX_LINE)
    local path = os.tmpname()
    local function list(text)
      local f = assert(io.open(path, "wb"))
      f:write(text)
      f:close()
      return path
    end
    -- a description line of exactly MAX_LINE bytes is read
    local long = ("d"):rep(atr.MAX_LINE - 1)
    assert.are.same({ long }, atr.identify(H "3B 00", list("3B 00\n\t" .. long .. "\n")))
    -- one byte more, on line 3
    local r, msg = atr.identify(H "3B 00", list("3B 00\n\tfirst\n\t" .. long .. "d\n"))
    assert.is_nil(r)
    assert.are.equal(path .. ": line 3 is longer than 4096 bytes: not a list of ATRs", msg)
    -- a megabyte without a newline (as /dev/zero gives for ever)
    r, msg = atr.identify(H "3B 00", list(("\0"):rep(1048576)))
    assert.is_nil(r)
    assert.are.equal(path .. ": line 1 is longer than 4096 bytes: not a list of ATRs", msg)
    -- the last line may lack its newline
    assert.are.same({ "no newline" }, atr.identify(H "3B 00", list("3B 00\n\tno newline")))
    os.remove(path)
    -- a list that cannot be read as a file: nil and why, no error
    r, msg = atr.identify(H "3B 00", "/")
    assert.is_nil(r)
    assert.are.equal("string", type(msg))
  end)

  local f = io.open(atr.LIST)
  if f then f:close() end;
  (f and it or pending)("identifies a YubiKey 5 NFC in the system's smartcard_list.txt", function()
    local found = atr.identify(YUBIKEY5)
    assert.is_truthy(found[1])
    local joined = table.concat(found, "\n")
    assert.is_truthy(joined:find("YubiKey 5 NFC", 1, true), joined)
  end)
end)
