-- iscard.util: the number checks every module of the Lua layer uses.
local util = require "iscard.util"

describe("util.ms, the check of durations and timeouts", function()
  it("gives the default for nil, and takes whole milliseconds in range", function()
    assert.are.equal(-1, util.ms(nil, "wait: timeout_ms", -2147483648, 4294967294, -1))
    assert.are.equal(4294967294, util.ms(4294967294, "t", -2147483648, 4294967294))
    assert.are.equal(5, util.ms(5.0, "t", 0, 10))
  end)

  it("raises, naming the argument, for fractions unless rounding, NaN, infinities, out of range", function()
    for _, v in ipairs({ 0.5, 0 / 0, math.huge, -math.huge, 11, -1, "5", true }) do
      local ok, err = pcall(util.ms, v, "poll: timeout_ms", 0, 10, 0)
      assert.is_false(ok)
      assert.matches("poll: timeout_ms: whole number of milliseconds 0..10 expected", err, 1, true)
    end
    assert.has_error(function() util.ms(nil, "t", 0, 10) end)
  end)

  it("rounds to the nearest millisecond when asked, and checks the result", function()
    assert.are.equal(1, util.ms(0.5, "t", 0, 10, nil, true))
    assert.are.equal(2, util.ms(2.4, "t", 0, 10, nil, true))
    assert.has_error(function() util.ms(10.6, "t", 0, 10, nil, true) end)
    assert.has_error(function() util.ms(0 / 0, "t", 0, 10, nil, true) end)
    assert.has_error(function() util.ms(math.huge, "t", 0, 10, nil, true) end)
  end)
end)
