-- The CLA coding of logical channels (iscard.channel), on its own; the
-- channels end to end on the test bed: spec/bed/channel_spec.lua.
local channel = require "iscard.channel"

describe("channel.cla", function()
  it("puts channels 1-3 in bits 2-1 of the first inter-industry class", function()
    assert.are.equal(0x01, channel.cla(0x00, 1))
    assert.are.equal(0x0E, channel.cla(0x0C, 2)) -- secure messaging kept
    assert.are.equal(0x13, channel.cla(0x10, 3)) -- chaining kept
    assert.are.equal(0x83, channel.cla(0x80, 3)) -- proprietary: the same bits
    assert.are.equal(0x00, channel.cla(0x00, 0))
  end)

  it("puts channels 4-19 in the further class, SM 10 moved to bit 6", function()
    assert.are.equal(0x40, channel.cla(0x00, 4))
    assert.are.equal(0x4F, channel.cla(0x00, 19))
    assert.are.equal(0x61, channel.cla(0x08, 5)) -- SM, header not processed
    assert.are.equal(0x52, channel.cla(0x10, 6)) -- chaining
    assert.are.equal(0xC3, channel.cla(0x80, 7))
  end)

  it("refuses what cannot be carried", function()
    assert.is_nil((channel.cla(0x04, 4))) -- proprietary SM
    assert.is_nil((channel.cla(0x0C, 4))) -- header authenticated
    assert.is_nil((channel.cla(0x01, 2))) -- names a channel already
    assert.is_nil((channel.cla(0x40, 1)))
    assert.is_nil((channel.cla(0x20, 1))) -- reserved
    assert.is_nil((channel.cla(0xFF, 1)))
    assert.has_error(function() channel.cla(0, 20) end)
    assert.has_error(function() channel.cla(256, 1) end)
  end)
end)
