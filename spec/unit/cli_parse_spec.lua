-- What the `iscard` command reads from the user: hex (each byte two
-- digits, columns as typed) and the lines of `iscard script` files.
local parse = require "iscard.cli.parse"
local fromhex = require("iscard.util").fromhex

describe("iscard command: hex as typed", function()
  it("reads bytes in groups of whole bytes, white space between", function()
    assert.are.equal(fromhex("00A40400"), parse.hex("00A40400"))
    assert.are.equal(fromhex("00A40400"), parse.hex(" 00 a4\t0400 "))
    assert.are.equal("", parse.hex(""))
    assert.are.equal("", parse.hex("   "))
  end)

  it("refuses a byte of one digit, as scriptor: '00 A4 0 4 00'", function()
    assert.are.same({ nil, 7, "'0': an odd number of hex digits (a byte is two: '0F', not 'F')" },
      { parse.hex("00 A4 0 4 00") })
    assert.are.same(6, select(2, parse.hex("00A4 040")))
  end)

  it("gives the column as typed, spaces counted", function()
    assert.are.same({ nil, 4, "'z' is not a hex digit" }, { parse.hex("00 z4") })
    assert.are.same({ nil, 9, "'g' is not a hex digit" }, { parse.hex("  00  A4g") })
    assert.are.same({ nil, 11, "'Z' is not a hex digit" }, { parse.hex("00 ZZ", 7) }) -- 7 columns before
  end)
end)

describe("iscard command: script lines", function()
  local line = parse.script_line

  it("reads APDUs, expected status words, reset, exit, comments and blanks", function()
    assert.are.same({ apdu = fromhex("80010000"), expect = "9000" }, line("80 01 00 00 = 9000"))
    assert.are.same({ apdu = fromhex("80010000"), expect = "61XX" }, line("80010000=61xx # any"))
    assert.are.same({ apdu = fromhex("80010000") }, line("  80 01 00 00   # counters"))
    assert.are.same({ reset = true }, line("Reset"))
    assert.are.same({ exit = true }, line(" exit # done"))
    assert.is_nil(line(""))
    assert.is_nil(line("   \t"))
    assert.is_nil(line("# = 9000"))
    assert.is_nil(line("\r"))
  end)

  it("refuses a bare '= 9000' line: no APDU", function()
    assert.are.same({ false, 1, "an APDU in hex expected before '='" }, { line("= 9000") })
    assert.are.same({ false, 3, "an APDU in hex expected before '='" }, { line("  = 9000") })
  end)

  it("refuses a bad status word, naming its column", function()
    assert.are.same({ false, 15, "status word '90': 4 hex digits expected, x for any" },
      { line("80 01 00 00 = 90") })
    assert.are.same({ false, 12, "a status word after '=' expected (\"= 9000\", \"= 61xx\")" },
      { line("80 01 00 00=") })
    assert.are.same({ false, 15, "one status word after '=' expected, found more" },
      { line("80010000 = 90 00") })
    assert.are.same(false, (line("80010000 = 9000 = 9000")))
    assert.are.same({ false, 15, "status word '9G00': 4 hex digits expected, x for any" },
      { line("80 01 00 00 = 9G00") })
  end)

  it("refuses bad hex at the column of the line", function()
    assert.are.same({ false, 4, "'0': an odd number of hex digits (a byte is two: '0F', not 'F')" },
      { line("80 0") })
    assert.are.same({ false, 5, "'r' is not a hex digit" }, { line("00 Ar 00 00") })
    assert.are.same({ false, 2, "'o' is not a hex digit" }, { line("foo") })
  end)

  it("matches status words against patterns with X", function()
    assert.is_true(parse.sw_matches(0x9000, "9000"))
    assert.is_true(parse.sw_matches(0x6103, "61XX"))
    assert.is_true(parse.sw_matches(0x63C2, "63CX"))
    assert.is_false(parse.sw_matches(0x6A82, "9000"))
    assert.is_false(parse.sw_matches(0x6283, "61XX"))
  end)
end)
