-- The `iscard` command against the test bed (spec/cards/testcard.lua);
-- what it does without a card: spec/unit/cli_spec.lua.
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end
local cli = require "support.cli"
local run, script = cli.run, cli.script

describe("iscard command", function()
  it("readers numbers both readers and shows the card's ATR", function()
    assert.are.equal("1: " .. bed.readers[1] .. ": card 3B 80 80 01 01\n"
      .. "2: " .. bed.readers[2] .. ": card 3B 80 80 01 01\nrc=0\n", run("readers"))
  end)

  it("send echoes each command, prints reply data and status words, exit 0 on 9000", function()
    assert.are.equal("> 80 01 00 00 02 61 62\n61 62\n9000: success\n> 80 01 00 00\n9000: success\nrc=0\n",
      run("send '80 01 00 00 02 61 62' 80010000"))
  end)

  it("send -r N picks the reader numbered N by readers; PINs masked unless --show-pins", function()
    assert.are.equal("> 00 20 00 01 04 ** ** ** **\n"
      .. "6D00: checking error: instruction code not supported or invalid\nrc=3\n",
      run("send -r 2 '0020000104 31323334'"))
    assert.matches("^> 00 20 00 01 04 31 32 33 34\n", run("send -r 2 --show-pins 002000010431323334"))
  end)

  it("send exits 3 on another status word and 1 on a PC/SC error", function()
    assert.matches("^> 80 FF 00 00\n6D00: [^\n]+\nrc=3\n$", run("send --reader 2 80FF0000"))
    assert.matches("SCARD_E_UNKNOWN_READER: .*rc=1\n$", run("send --reader nope 80010000"))
  end)

  it("send --trace shows the automatic GET RESPONSE", function()
    -- spec/cards/iso.lua: E2 cc nn answers a 61xx chain of nn pieces of cc bytes
    local out = run("send --trace 00E2030200")
    assert.matches("> 00 E2 03 02 00\n", out, 1, true)
    assert.matches("> 00 C0 00 00 03\n", out, 1, true)
    assert.matches("9000: success\nrc=0\n$", out)
  end)

  it("info shows a reader's attributes and part 10 features, with DIRECT", function()
    local r = bed.readers[2]
    assert.are.equal(r .. "\n  attributes:\n"
      .. "    DEVICE_FRIENDLY_NAME_A     " .. r .. "\n"
      .. "    DEVICE_SYSTEM_NAME_A       " .. r .. "\n"
      .. "  part 10 features:\n    (none)\nrc=0\n", run("info -r 2"))
    assert.matches("SCARD_E_UNKNOWN_READER: .*rc=1\n$", run("info --reader nope"))
  end)

  it("shows the code of a PC/SC failure in hex after its message", function()
    assert.matches("SCARD_E_UNKNOWN_READER: [^\n]* %[0x80100009%]\nrc=1\n$", run("send -r nope 80010000"))
    assert.matches("SCARD_E_UNKNOWN_READER: [^\n]* %[0x80100009%]\nrc=1\n$", run("info -r nope"))
    assert.matches("SCARD_E_UNKNOWN_READER: [^\n]* %[0x80100009%]\nrc=2\n$", run("wait -r nope -t 0"))
  end)

  it("script runs APDUs with a reset and expected status words, exit 0", function()
    local out = script([[
# the scriptor format, plus expected status words
reset
80 01 00 00 02 61 62 = 9000
80 03 00 00          # counters
00 20 00 01 04 31 32 33 34 = 6D00
00 E2 03 01 00 = 61XX
00 C0 00 00 03 = 9000
exit
80 01 00 00 = 6A82
]])
    assert.matches("^> reset\n< 3B 80 80 01 01\n> 80 01 00 00 02 61 62\n< 61 62 90 00 : success\n"
      .. "> 80 03 00 00\n< ", out)
    -- PINs masked; no automatic GET RESPONSE: the script sends its own
    assert.matches("\n> 00 20 00 01 04 %*%* %*%* %*%* %*%*\n< 6D 00 : [^\n]+\n", out)
    assert.matches("\n> 00 E2 03 01 00\n< 61 03 : [^\n]+\n> 00 C0 00 00 03\n< 00 01 02 90 00 : success\nrc=0\n$", out)
  end)

  it("script stops with exit 1 at a status word other than expected", function()
    local out = script("80 01 00 00 = 9000\n80 FF 00 00 = 9000\n80 01 00 00\n")
    assert.matches("< 90 00 : success\n> 80 FF 00 00\n< 6D 00 : [^\n]+\n", out)
    assert.matches("expected status word 9000, got 6D00: [^\n]+\nrc=1\n$", out)
    assert.is_nil(out:find("> 80 01 00 00\n", 30, true)) -- the third line was not sent
  end)

  it("script reads standard input, --show-pins and --auto", function()
    local out = run("script --show-pins --auto - <<'EOF'\n0020000104 31323334 = 6d00\n00E2030200 = 9000\nEOF\n")
    assert.matches("^> 00 20 00 01 04 31 32 33 34\n", out)
    assert.matches("> 00 C0 00 00 03\n< 03 04 05 90 00 : success\nrc=0\n$", out)
  end)
end)
