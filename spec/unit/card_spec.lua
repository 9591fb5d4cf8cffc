-- The members of ISCard written in Lua (lua/iscard/card.lua): where they
-- come from, what loading them costs, and the seams to the C core.
local iscard = require "iscard"
local core = require "iscard.core"

local LUA = os.getenv("LUA") or "lua5.4"

-- The iscard modules a fresh process holds after `require "iscard"` and
-- reading `member` (spec/children/lazy_loading.lua), as a set.
local function loaded_after(member)
  local p = assert(io.popen(("%s spec/children/lazy_loading.lua %s 2>&1"):format(LUA, member or "")))
  local out = p:read("*a")
  p:close()
  local set = {}
  for name in out:gmatch("%S+") do set[name] = true end
  assert(set["iscard.core"], "child failed: " .. out)
  return set, out
end

-- Every ISCard member written in Lua, with the module that implements it.
local LUA_MEMBERS = {
  Transaction = "iscard.transaction", options = "iscard.transaction",
  open_channel = "iscard.channel",
  attr_raw = "iscard.reader", set_attr = "iscard.reader", attr = "iscard.reader",
  attrs = "iscard.reader", features = "iscard.reader", properties = "iscard.reader",
  pin_properties = "iscard.reader", verify_pin = "iscard.reader", modify_pin = "iscard.reader",
}

describe("ISCard's members written in Lua", function()
  it("are not loaded by require 'iscard'", function()
    local set, out = loaded_after(nil)
    for _, module in pairs(LUA_MEMBERS) do assert.is_nil(set[module], out) end
    assert.are.same({ ["iscard.core"] = true, ["iscard.util"] = true, ["iscard.errors"] = true,
                      ["iscard.card"] = true }, set)
  end)

  it("each loads its module on first use, and only what that module needs", function()
    for member, module in pairs(LUA_MEMBERS) do
      local set, out = loaded_after("card." .. member)
      assert.is_true(set[module] or false, member .. ": " .. out)
      if module ~= "iscard.channel" then assert.is_nil(set["iscard.monitor"], out) end
    end
  end)

  it("are the functions of the modules that implement them", function()
    local methods = core.methods
    for member in pairs(LUA_MEMBERS) do assert.is_function(methods[member], member) end
    assert.are.equal(require("iscard.channel").open, methods.open_channel)
    local fake = {}
    require("iscard.reader").install(fake)
    for name in pairs(fake) do assert.are.equal(fake[name], methods[name], name) end
  end)

  it("leave the C halves of attr_raw and set_attr under their own names in the core", function()
    assert.is_function(core.attr_raw)
    assert.is_function(core.set_attr)
    assert.are_not.equal(core.attr_raw, core.methods.attr_raw)
    assert.are_not.equal(core.set_attr, core.methods.set_attr)
  end)
end)

describe("the seams between the Lua layer and the C core", function()
  it("one table holds every error code, and the core's own list is left as it is", function()
    assert.are.equal(require("iscard.errors"), iscard.errors)
    for k, v in pairs(core.errors) do assert.are.equal(v, iscard.errors[k]) end
    for k, v in pairs(require("iscard.util").errors) do assert.are.equal(v, iscard.errors[k]) end
    assert.is_nil(core.errors.ISCARD_E_MALFORMED_RESPONSE)
  end)

  it("the longest command the ISO layer encodes fits the core's limit", function()
    local cmd = require "iscard.cmd"
    -- CLA INS P1 P2, extended Lc (3), the data, extended Le (2)
    assert.is_true(4 + 3 + cmd.MAX_NC + 2 <= iscard.MAX_APDU)
    assert.are.equal(4, iscard.MIN_APDU)
  end)
end)

describe("iscard.X", function()
  it("is the module iscard.X where there is one", function()
    for _, name in ipairs({ "atr", "sw", "tlv", "channel", "part10", "attributes", "monitor",
                            "transaction", "util", "errclass", "errors" }) do
      assert.are.equal(require("iscard." .. name), iscard[name], name)
    end
  end)

  it("reaches what the README writes: transaction.defaults, attributes by name", function()
    assert.are.equal(300, iscard.transaction.defaults.max_exchanges)
    assert.are.equal(0x10100, iscard.attributes.VENDOR_NAME)
    assert.are.equal("VENDOR_NAME", iscard.attributes[0x10100])
    assert.are.equal(300, iscard.monitor.SLICE_MS)
    assert.is_function(iscard.attributes.decode)
  end)
end)
