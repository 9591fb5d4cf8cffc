-- The `iscard` command where it needs no card: refusing bad input, and
-- decoding an ATR (against the test bed: spec/bed/cli_spec.lua).
local cli = require "support.cli"
local run, script = cli.run, cli.script

describe("iscard command", function()
  it("--version prints the module's version and the Lua running it", function()
    local version = require("iscard").VERSION
    assert.matches("^iscard " .. version:gsub("%p", "%%%0") .. " %(Lua 5%.%d%)\nrc=0\n$", run("--version"))
    assert.matches("'iscard %-%-version'", run("help"))
  end)

  it("help vcard shows a whole card script, which runs, and no file outside the rock", function()
    local help = run("help vcard")
    assert.is_nil(help:find("examples/", 1, true))
    local card_script = assert(help:match("\n%s+(return {[^\n]+})\n"))
    local card = assert((loadstring or load)(card_script))() -- luacheck: compat
    assert.are.equal("\144\0", card.apdu({}, "\0\164\4\0"))
  end)

  it("refuses bad hex and unknown options with status 2", function()
    assert.matches("^iscard send: APDU 'zz': column 1: 'z' is not a hex digit\nrc=2\n$", run("send zz"))
    assert.matches("unknown option.*rc=2\n$", run("send --bogus 00A40400"))
    assert.matches("rc=2\n$", run("nosuchcommand"))
  end)

  it("script refuses a bad line before sending anything, exit 2", function()
    local out = script("80 01 00 00 = 9000\n80 0\n")
    assert.matches(":2:4: [^\n]+\nrc=2\n$", out)
    assert.is_nil(out:find("> ", 1, true))
    assert.matches("4 hex digits", script("80010000 = 90\n"))
  end)

  it("atr describes and identifies an ATR", function()
    local out = run("atr --list spec/data/smartcard_list.txt 3B021451")
    assert.matches("^TS = 3B: direct convention\n", out)
    assert.matches("identified %(spec/data/smartcard_list.txt%):\n  class with a range\n", out)
    assert.matches("rc=0\n$", out)
    assert.matches("TS 00 .*rc=2\n$", run("atr 00")) -- not an ATR: a bad argument
    assert.matches("rc=2\n$", run("atr zz"))
  end)
end)
