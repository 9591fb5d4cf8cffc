-- Status words: texts, kinds and the opt-in check.

local sw = require "iscard.sw"
local cmdm = require "iscard.cmd"
local util = require "iscard.util"

describe("iscard.sw", function()
  it("names exact status words", function()
    assert.equal("9000: success", sw.text(0x9000))
    assert.equal("6A82: checking error: file or application not found", sw.text(0x6A82))
    assert.equal("6982: checking error: security status not satisfied", sw.text(0x6982))
    assert.equal("6983: checking error: authentication method blocked", sw.text(0x6983))
    assert.equal("6884: checking error: command chaining not supported", sw.text(0x6884))
    assert.equal("6282: warning: end of file or record reached before reading Ne bytes", sw.text(0x6282))
    assert.equal("6D00: checking error: instruction code not supported or invalid", sw.text(0x6D00))
    assert.equal("6E00: checking error: class not supported", sw.text(0x6E00))
    assert.equal("6700: checking error: wrong length (Lc or Le)", sw.text(0x6700))
  end)

  it("fills in the parameter of 61xx, 6Cxx and 63Cx", function()
    assert.equal("6110: 16 response bytes still available (GET RESPONSE)", sw.text(0x6110))
    assert.equal("6100: 256 or more response bytes still available (GET RESPONSE)", sw.text(0x6100))
    assert.equal("6C20: checking error: wrong Le field, 32 bytes available", sw.text(0x6C20))
    assert.equal("6C00: checking error: wrong Le field, 256 bytes available", sw.text(0x6C00))
    assert.equal("63C2: warning: counter is 2 (verification failed, 2 tries left)", sw.text(0x63C2))
    assert.equal("63C0: warning: counter is 0 (verification failed, 0 tries left)", sw.text(0x63C0))
  end)

  it("falls back to the SW1 group, then to unknown", function()
    assert.equal("6A99: checking error: wrong parameters P1-P2", sw.text(0x6A99))
    assert.equal("6999: checking error: command not allowed", sw.text(0x6999))
    assert.equal("6412: execution error: state of non-volatile memory unchanged", sw.text(0x6412))
    assert.equal("6F12: checking error: no precise diagnosis", sw.text(0x6F12))
    assert.equal("6D12: checking error: instruction code not supported or invalid", sw.text(0x6D12))
    assert.equal("9123: application-specific status", sw.text(0x9123))
    assert.equal("1234: unknown status word", sw.text(0x1234))
    assert.equal("0000: unknown status word", sw.text(0))
  end)

  it("gives the meaning without the prefix", function()
    assert.equal("success", sw.meaning(0x9000))
    assert.equal("checking error: record not found", sw.meaning(0x6A83))
  end)

  it("describes every status word without raising", function()
    for v = 0, 0xFFFF do
      local t = sw.text(v)
      assert(t:sub(1, 6) == string.format("%04X: ", v) and #t > 7, t)
    end
  end)

  it("classifies status words", function()
    assert.equal("success", sw.kind(0x9000))
    assert.equal("success", sw.kind(0x6105))
    assert.equal("warning", sw.kind(0x6283))
    assert.equal("warning", sw.kind(0x63C1))
    assert.equal("error", sw.kind(0x6400))
    assert.equal("error", sw.kind(0x6A82))
    assert.equal("error", sw.kind(0x6FFF))
    assert.equal("other", sw.kind(0x9001))
    assert.equal("other", sw.kind(0x7000))
  end)

  it("reads the status of an ISCardCmd", function()
    local c = cmdm.new():BuildCmd(0, 0xA4)
    assert.equal("no reply", sw.text(c))
    c.ApduReply = util.fromhex("6A82")
    assert.equal("6A82: checking error: file or application not found", sw.text(c))
  end)

  it("checks opt-in: 9000 passes the value through, anything else fails", function()
    assert.equal(0x9000, sw.check(0x9000))
    local c = cmdm.new():BuildCmd(0, 0xA4)
    c.ApduReply = util.fromhex("01 9000")
    assert.equal(c, sw.check(c))
    local r, msg, code = sw.check(0x6A82)
    assert.is_nil(r)
    assert.equal("ISCARD_E_CARD_STATUS: 6A82: checking error: file or application not found", msg)
    assert.equal(0xA0100005, code)
    assert.equal("ISCARD_E_CARD_STATUS", util.errors[code])
    c.ReplyStatus = 0x6283
    r, msg = sw.check(c)
    assert.is_nil(r)
    assert.matches("^ISCARD_E_CARD_STATUS: 6283: warning", msg)
    r, msg = sw.check(cmdm.new())
    assert.is_nil(r)
    assert.equal("ISCARD_E_CARD_STATUS: no reply", msg)
  end)

  it("refuses what is not a status word", function()
    for _, bad in ipairs { -1, 0x10000, "9000", 1.5, {} } do
      local ok, err = pcall(function() local t = sw.text(bad); return t end)
      assert.is_false(ok)
      assert.matches("sw_spec%.lua:%d+: sw%.text: ", err)
    end
    local ok, err = pcall(function() local t = sw.check(nil); return t end)
    assert.is_false(ok)
    assert.matches("sw_spec%.lua:%d+: sw%.check: status word %(integer%) or iscard%.ISCardCmd expected, got nil", err)
  end)

  it("keeps its facts in one table with well-formed keys", function()
    for k, v in pairs(sw.meanings) do
      assert(k:match("^%x%x%x%x$") or k:match("^%x%x%xx$") or k:match("^%x%xxx$") or k:match("^%xxxx$"), k)
      assert(k == k:upper():gsub("X", "x"), "upper-case hex keys: " .. k)
      assert(type(v) == "string" or type(v) == "function", k)
    end
  end)
end)

describe("iscard.util.errors", function()
  it("maps names and codes both ways, outside PC/SC's range", function()
    local n = 0
    for k, v in pairs(util.errors) do
      if type(k) == "string" then
        n = n + 1
        assert.equal(k, util.errors[v])
        assert.equal(0xA0100000, v - v % 0x10000) -- v & 0xFFFF0000
        assert.matches("^ISCARD_E_", k)
      end
    end
    assert.equal(6, n)
  end)

  it("builds failure triples", function()
    local r, msg, code = util.failure("ISCARD_E_CHAIN_TOO_LONG", "after %d", 3)
    assert.is_nil(r)
    assert.equal("ISCARD_E_CHAIN_TOO_LONG: after 3", msg)
    assert.equal(0xA0100002, code)
  end)
end)

-- sw.text called again: a change to sw.meanings (or sw.meaning) between
-- calls shows at once, and every kind of argument gives what it gave before.
local function with_meaning(key, value, f)
  local saved = sw.meanings[key]
  sw.meanings[key] = value
  local ok, err = pcall(f)
  sw.meanings[key] = saved
  assert(ok, err)
end

describe("sw.text, called again", function()
  it("gives the same text for an integer, a float and a command", function()
    local c = cmdm.new()
    c.ApduReply = "\106\130"
    for _ = 1, 3 do
      assert.equal("6A82: checking error: file or application not found", sw.text(0x6A82))
      assert.equal("6A82: checking error: file or application not found", sw.text(27266.0))
      assert.equal("6A82: checking error: file or application not found", sw.text(c))
      assert.equal("63C2: warning: counter is 2 (verification failed, 2 tries left)", sw.text(0x63C2))
      assert.equal("6100: 256 or more response bytes still available (GET RESPONSE)", sw.text(0x6100))
      assert.equal("6D00: checking error: instruction code not supported or invalid",
        sw.text(0x6D00))
      assert.equal("0000: unknown status word", sw.text(0))
      assert.equal("no reply", sw.text(cmdm.new()))
    end
  end)

  it("follows sw.meanings changed between calls", function()
    assert.equal("6A82: checking error: file or application not found", sw.text(0x6A82))
    with_meaning("6A82", "mine", function()
      assert.equal("6A82: mine", sw.text(0x6A82))
      assert.equal("mine", sw.meaning(0x6A82))
    end)
    assert.equal("6A82: checking error: file or application not found", sw.text(0x6A82))
    with_meaning("6A82", function(x) return "called with " .. tostring(x) end, function()
      assert.equal("6A82: called with nil", sw.text(0x6A82))
    end)
    local n = 0
    with_meaning("6A8x", function(x) n = n + 1 return "n" .. n .. " x" .. x end, function()
      assert.equal("6A8F: n1 x15", sw.text(0x6A8F))
      assert.equal("6A8F: n2 x15", sw.text(0x6A8F)) -- a function of yours is called every time
    end)
    -- one of the shipped functions under another key gets that key's parameter
    local f = sw.meanings["63Cx"]
    assert.equal("63C2: warning: counter is 2 (verification failed, 2 tries left)", sw.text(0x63C2))
    with_meaning("63Cx", nil, function()
      with_meaning("63xx", f, function()
        assert.equal("63C2: warning: counter is 194 (verification failed, 194 tries left)", sw.text(0x63C2))
      end)
    end)
    assert.equal("63C2: warning: counter is 2 (verification failed, 2 tries left)", sw.text(0x63C2))
    with_meaning("9000", nil, function()
      assert.equal("9000: application-specific status", sw.text(0x9000))
    end)
    assert.equal("9000: success", sw.text(0x9000))
  end)

  it("uses a replaced sw.meaning", function()
    local saved = sw.meaning
    sw.meaning = function(x) return "replaced " .. x end
    local ok, err = pcall(function() assert.equal("9000: replaced 36864", sw.text(0x9000)) end)
    sw.meaning = saved
    assert(ok, err)
    assert.equal("9000: success", sw.text(0x9000))
  end)

  it("copes with more status words than it keeps", function()
    for v = 0, 0xFFFF, 7 do
      local want = ("%04X: %s"):format(v, sw.meaning(v))
      assert.equal(want, sw.text(v))
    end
    assert.equal("9000: success", sw.text(0x9000))
  end)
end)
