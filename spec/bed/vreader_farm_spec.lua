-- Sixteen slots of the virtual reader in one pcscd (its limit), each with
-- its own card, used by sixteen processes at once.  One test: it restarts
-- pcscd with a config of the virtual reader alone and puts the test bed
-- back at its end (spec/support/vreader.lua, farm_start/farm_stop).  The
-- speed of the farm is bench/vreader_farm.lua's (make bench-vreader).
local iscard = require "iscard"
local bed = require "support.bed"
local vr = require "support.vreader"
if not vr.up or not bed.private then return pending(vr.needed()) end

describe("a farm of 16 virtual reader slots", function()
  it("gives each of 16 processes at once the answers of its own slot's card", function()
    local farm = vr.farm_start(16)
    local ok, err = pcall(function()
      local names = assert(iscard.readers())
      assert.are.equal(16, #names)
      local children = {}
      for i = 0, 15 do
        children[i] = bed.spawn("spec/children/farm_slot.lua", { vr.reader(i), i })
      end
      for i = 0, 15 do
        assert.are.equal(("slot %d #1,slot %d #2,slot %d #3,slot %d #4,slot %d #5\n")
          :format(i, i, i, i, i), children[i].wait(60))
      end
    end)
    vr.farm_stop(farm)
    assert(ok, err)
  end)
end)
