-- The commands of `iscard`, run in this process (iscard.cli.main and the
-- command modules), on input that needs no reader: the parser declared
-- once, the exit statuses, and bad arguments refused with one line that
-- names the argument, never a traceback or a path of ours.
local cli = require "support.cli"
local call = cli.call

-- A message of ours: one line, "iscard CMD: ...", no traceback, no path.
local function one_line(err, cmd)
  local first = err:match("^[^\n]*")
  assert.matches("^iscard" .. (cmd and " " .. cmd or "") .. ": ", first)
  assert.is_nil(err:find("traceback", 1, true))
  assert.is_nil(err:find("%.lua:%d"))
  assert.is_nil(err:find("iscard/cli", 1, true))
  return first
end

-- A usage error: status 2, the message, then the command's usage.
local function refused(argv, pattern, stdin)
  local status, out, err = call(argv, stdin)
  assert.are.equal(2, status, err)
  assert.are.equal("", out)
  local known = {}
  for _, name in ipairs(require("iscard.cli").COMMANDS) do known[name] = true end
  local first = one_line(err, known[argv[1]] and argv[1] or nil)
  assert.matches(pattern, first)
  return err
end

local function temp(text)
  local name = os.tmpname()
  local f = assert(io.open(name, "w"))
  f:write(text)
  f:close()
  return name
end

describe("iscard command line", function()
  local parser = require("iscard.cli").parser()
  local function parsed(argv)
    local ok, args = parser:pparse(argv)
    assert(ok, args)
    return args
  end

  it("takes -r2, --reader=x, bundled flags and -- as argparse does", function()
    local a = parsed { "send", "-r2", "00A40400" }
    assert.are.equal("2", a.reader)
    assert.are.same({ "00A40400" }, a.apdu)
    a = parsed { "send", "-tr2", "00A40400" }
    assert.is_true(a.trace)
    assert.are.equal("2", a.reader)
    a = parsed { "send", "--reader=Virtual PCD 00 01", "--show-pins", "--", "-00" }
    assert.are.equal("Virtual PCD 00 01", a.reader)
    assert.is_true(a.show_pins)
    assert.are.same({ "-00" }, a.apdu)
    a = parsed { "monitor", "-r", "1", "--reader=B", "-rC", "--json" }
    assert.are.same({ "1", "B", "C" }, a.reader)
    a = parsed { "wait", "-t0.25", "--absent" }
    assert.are.equal(250, a.timeout)
    assert.is_true(a.absent)
    assert.are.equal(4294967000, parsed({ "wait", "--timeout=4294967" }).timeout)
  end)

  it("prints help from the declarations: iscard --help, help CMD, CMD --help", function()
    local status, out = call { "--help" }
    assert.are.equal(0, status)
    for _, name in ipairs(require("iscard.cli").COMMANDS) do
      assert.matches("\n   " .. name .. " +%u", out)
    end
    assert.matches("Exit status, the same for every command", out)
    local s2, help = call { "help", "send" }
    assert.are.equal(0, s2)
    assert.matches("^Usage: iscard send %[%-h%] %[%-r <r>%]", help)
    assert.matches("%-t, %-%-trace +Show every APDU", help)
    local s3, same = call { "send", "--help" }
    assert.are.equal(0, s3)
    assert.are.equal(help, same)
    local s4, again = call { "send", "-h", "--bogus" } -- help first: nothing else read
    assert.are.equal(0, s4)
    assert.are.equal(help, again)
  end)

  it("exits 2 with the usage on no command, an unknown command or option", function()
    local status, _, err = call {}
    assert.are.equal(2, status)
    assert.matches("^Usage: iscard ", err)
    assert.matches("^iscard: unknown command 'nosuch'\nUsage: iscard ", refused({ "nosuch" }, "unknown command"))
    refused({ "--bogus" }, "unknown option '%-%-bogus'")
    assert.matches("\nUsage: iscard readers %[%-h%]\n$",
      refused({ "readers", "--bogus" }, "unknown option '%-%-bogus'"))
    refused({ "readers", "extra" }, "too many arguments")
    refused({ "help", "nope" }, "^iscard help: unknown command 'nope'")
  end)

  it("send refuses bad APDUs before anything is attached, naming the APDU and column", function()
    refused({ "send" }, "missing argument 'apdu'")
    refused({ "send", "-r" }, "option '%-r' requires an argument")
    refused({ "send", "--bogus", "00A40400" }, "unknown option '%-%-bogus'")
    refused({ "send", "zz" }, "^iscard send: APDU 'zz': column 1: 'z' is not a hex digit$")
    refused({ "send", "00 A4 0 4 00" }, "^iscard send: APDU '00 A4 0 4 00': column 7: '0': an odd number")
    refused({ "send", "80010000", "" }, "^iscard send: APDU '': empty")
    refused({ "send", "80010000", "   " }, "^iscard send: APDU '   ': empty")
    refused({ "send", "00A404" }, "^iscard send: APDU '00A404': [^\n]*malformed APDU")
    refused({ "send", "00A4040005AABB" }, "^iscard send: APDU '00A4040005AABB': [^\n]*Lc")
    refused({ "send", ("00"):rep(70000) }, "^iscard send: APDU '0000[^\n]*malformed APDU")
  end)

  it("script refuses a file it cannot read, and every malformed line, before sending", function()
    refused({ "script" }, "missing argument 'file'")
    refused({ "script", "/nonexistent/x.apdu" }, "^iscard script: /nonexistent/x.apdu: No such file")
    refused({ "script", "/" }, "^iscard script: /: ")
    local cases = {
      { "80 01 00 00 = 9000\n= 9000\n", ":2:1: an APDU in hex expected before '='$" },
      { "80 01 00 00\n80 0\n", ":2:4: '0': an odd number" },
      { "80010000 = 90\n", ":1:12: status word '90': 4 hex digits expected" },
      { "80010000 =\n", ":1:10: a status word after '='" },
      { "reset\n00 A4\n", ":2: [^\n]*malformed APDU" },
      { "exit\nzz\n", ":2:1: 'z' is not a hex digit" }, -- every line checked, also after exit
      { "80010000\n\n# fine\n00 A4 0 4 00 = 9000\n", ":4:7: '0'" },
    }
    for _, c in ipairs(cases) do
      local status, out, err, name = cli.call_script(c[1])
      assert.are.equal(2, status, err)
      assert.are.equal("", out) -- nothing sent
      assert.matches("^iscard script: " .. name:gsub("%p", "%%%0") .. c[2], one_line(err, "script"))
    end
    -- standard input too
    local status, out, err = call({ "script", "-" }, "80010000\n= 9000\n")
    assert.are.equal(2, status)
    assert.are.equal("", out)
    assert.matches("^iscard script: stdin:2:1: an APDU", err)
  end)

  it("atr refuses what is not an ATR and a list it cannot read, with status 2", function()
    refused({ "atr" }, "missing argument 'hex'")
    refused({ "atr", "zz" }, "^iscard atr: ATR 'zz': column 1: 'z' is not a hex digit$")
    refused({ "atr", "3B", "0" }, "^iscard atr: ATR '3B 0': column 4: '0'")
    local status, _, err = call { "atr", "00" }
    assert.are.equal(2, status)
    assert.matches("^iscard atr: ATR '00': TS 00 ", one_line(err, "atr"))
    status, _, err = call { "atr", "--list", "/nonexistent/list.txt", "3B00" }
    assert.are.equal(2, status)
    assert.matches("^iscard atr: %-%-list: /nonexistent/list.txt: No such file", one_line(err, "atr"))
  end)

  it("wait bounds its timeout: seconds 0..4294967", function()
    for _, t in ipairs { "5000000", "4294967.5", "soon", "nan", "inf", "-inf", "1e400", "0x" } do
      refused({ "wait", "--timeout=" .. t }, "^iscard wait: %-%-timeout: seconds 0..4294967 expected")
    end
    refused({ "wait", "--timeout=-1" }, "^iscard wait: %-%-timeout: seconds 0..4294967 expected")
    refused({ "wait", "extra" }, "too many arguments")
    local _, help = call { "help", "wait" }
    assert.matches("at most 4294967", help)
  end)

  it("monitor and info refuse what they do not take", function()
    refused({ "monitor", "--bogus" }, "unknown option")
    refused({ "monitor", "-r" }, "option '%-r' requires an argument")
    refused({ "monitor", "extra" }, "too many arguments")
    refused({ "info", "--bogus" }, "unknown option")
    refused({ "info", "a", "b" }, "too many arguments")
  end)

  it("vcard refuses bad numbers and card scripts it cannot run, naming the file", function()
    refused({ "vcard" }, "missing argument 'script'")
    refused({ "vcard", "--port", "0", "x.lua" }, "^iscard vcard: %-%-port: a whole number 1..65535 expected, got '0'$")
    refused({ "vcard", "-p", "65536", "x.lua" }, "%-%-port: a whole number 1..65535")
    refused({ "vcard", "-r", "99999", "x.lua" }, "^iscard vcard: %-%-reader: a whole number 0..29572 expected")
    refused({ "vcard", "/nonexistent/card.lua" }, "^iscard vcard: cannot open /nonexistent/card.lua")
    local cases = {
      { "return {}", "the card script returns no apdu function" },
      { "return 42", "must return a table" },
      { "return {", ":1: " }, -- the file's line
      { "error('boom')", "boom" },
      { "return { apdu = function() end, atr = '\\0' }", "atr" },
    }
    for _, c in ipairs(cases) do
      local name = temp(c[1])
      local first = refused({ "vcard", name }, c[2])
      assert.matches(name:gsub("%p", "%%%0"), first)
      os.remove(name)
    end
  end)

  it("runs a command module directly: atr with its list", function()
    local out = {}
    local env = { out = { write = function(self, ...)
      for _, s in ipairs { ... } do out[#out + 1] = s end
      return self
    end } }
    local atr = require "iscard.cli.atr"
    assert.are.equal(0, atr.run({ hex = { "3B021451" }, list = "spec/data/smartcard_list.txt" }, env))
    local text = table.concat(out)
    assert.matches("^TS = 3B: direct convention\n", text)
    assert.matches("identified %(spec/data/smartcard_list.txt%):\n  class with a range\n", text)
  end)

  it("one exit-status table for every command", function()
    local EXIT = require("iscard.cli.common").EXIT
    assert.are.same({ DONE = 0, FAILED = 1, USAGE = 2, UNEXPECTED = 3, INTERRUPTED = 130 }, EXIT)
    local _, help = call { "--help" }
    assert.matches("\n  0 +done\n  1 +a PC/SC or card failure", help)
    assert.matches("\n  2 +a usage error", help)
    assert.matches("\n  3 +not the expected outcome", help)
  end)
end)
