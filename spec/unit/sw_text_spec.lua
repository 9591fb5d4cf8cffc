-- sw.text keeps the keys and the last text per status word: a change to
-- sw.meanings (or sw.meaning) between calls must show at once, and every
-- kind of argument must give what it gave before.

local sw = require "iscard.sw"
local cmdm = require "iscard.cmd"

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
