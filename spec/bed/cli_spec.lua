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

  it("send --trace shows the automatic GET RESPONSE, each APDU and reply once", function()
    -- spec/cards/iso.lua: E2 cc nn answers a 61xx chain of nn pieces of cc bytes
    local out = run("send --trace 00E2030200")
    assert.matches("> 00 E2 03 02 00\n", out, 1, true)
    assert.matches("> 00 C0 00 00 03\n", out, 1, true)
    assert.matches("9000: success\nrc=0\n$", out)
    -- each exchange once, in order, then the data and status word
    assert.are.equal("> 00 E2 03 02 00\n< 61 03\n> 00 C0 00 00 03\n< 00 01 02 61 03\n"
      .. "> 00 C0 00 00 03\n< 03 04 05 90 00\n00 01 02 03 04 05\n9000: success\nrc=0\n", out)
  end)

  it("send -r2 (no space), --reader=N and -- take the reader and APDUs as argparse reads them", function()
    assert.are.equal("> 80 01 00 00\n9000: success\nrc=0\n", run("send -r2 80010000"))
    assert.are.equal("> 80 01 00 00\n9000: success\nrc=0\n", run("send --reader=1 -- 80010000"))
    assert.matches("^> 00 A4 04 00\n[^\n]+\nrc=%d\n$", run("send -r2 00A40400"))
  end)

  it("refuses a reader number or name it cannot take with status 2 and one line", function()
    assert.are.equal("iscard send: --reader 3: no reader of that number (2 readers: see `iscard readers`)\nrc=2\n",
      run("send -r 3 80010000"))
    local out = run("send -r " .. ("x"):rep(200) .. " 80010000")
    assert.matches("^iscard send: %-%-reader: [^\n]*\nrc=2\n$", out)
    assert.is_nil(out:find("traceback", 1, true))
    assert.matches("^iscard info: %-%-reader 0: no reader of that number", run("info -r 0"))
    assert.matches("^iscard monitor: %-%-reader 9: no reader of that number[^\n]*\nrc=2\n$", run("monitor -r 9"))
  end)

  it("runs in this process too (iscard.cli.main): readers, send, script", function()
    local status, out, err = cli.call { "readers" }
    assert.are.equal(0, status, err)
    assert.are.equal("1: " .. bed.readers[1] .. ": card 3B 80 80 01 01\n"
      .. "2: " .. bed.readers[2] .. ": card 3B 80 80 01 01\n", out)
    status, out = cli.call { "send", "-r2", "80FF0000" }
    assert.are.equal(3, status)
    assert.matches("^> 80 FF 00 00\n6D00: ", out)
    status, out = cli.call_script("80 01 00 00 = 9000\n")
    assert.are.equal(0, status)
    assert.are.equal("> 80 01 00 00\n< 90 00 : success\n", out)
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
    assert.matches("SCARD_E_UNKNOWN_READER: [^\n]* %[0x80100009%]\nrc=1\n$", run("wait -r nope -t 0"))
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

  it("script stops with exit 3 at a status word other than expected, naming the line", function()
    local out = script("80 01 00 00 = 9000\n80 FF 00 00 = 9000\n80 01 00 00\n")
    assert.matches("< 90 00 : success\n> 80 FF 00 00\n< 6D 00 : [^\n]+\n", out)
    assert.matches(":2: expected status word 9000, got 6D00: [^\n]+\nrc=3\n$", out)
    assert.is_nil(out:find("> 80 01 00 00\n", 30, true)) -- the third line was not sent
  end)

  it("script reads a pipe twice over its copy: checks, then sends", function()
    local lua = os.getenv("LUA") or "lua5.4"
    local p = assert(io.popen("printf '80 01 00 00 = 9000\\nreset\\n80 01 00 00 02 61 62\\n' | "
      .. lua .. " bin/iscard script - 2>&1; echo \"rc=$?\""))
    local out = p:read("*a")
    p:close()
    assert.are.equal("> 80 01 00 00\n< 90 00 : success\n> reset\n< 3B 80 80 01 01\n"
      .. "> 80 01 00 00 02 61 62\n< 61 62 90 00 : success\nrc=0\n", out)
  end)

  it("script reads standard input, --show-pins and --auto", function()
    local out = run("script --show-pins --auto - <<'EOF'\n0020000104 31323334 = 6d00\n00E2030200 = 9000\nEOF\n")
    assert.matches("^> 00 20 00 01 04 31 32 33 34\n", out)
    assert.matches("> 00 C0 00 00 03\n< 03 04 05 90 00 : success\nrc=0\n$", out)
  end)
end)
