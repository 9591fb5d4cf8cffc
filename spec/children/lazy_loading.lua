-- Child program of spec/unit/card_spec.lua: which of iscard's Lua modules
-- a fresh process has loaded after `require "iscard"`, and after reading
-- the member named by arg[1] (an ISCard method: "card.Transaction"; or a
-- name of the iscard table: "iscard.atr"). Prints the loaded modules, one
-- line, sorted. Run from the top of the tree with ISCARD_BUILD (default
-- build) holding the C modules.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("ISCARD_BUILD") or "build") .. "/?.so;" .. package.cpath

local iscard = require "iscard"
local member = arg[1]
if member then
  local where, name = member:match("^(%w+)%.([%w_]+)$")
  if where == "card" then
    -- through an ISCard's __index when pcscd gives a context (the test
    -- bed), else through the method table that __index reads last
    local card = iscard.ISCard() or require("iscard.core").methods
    assert(type(card[name]) == "function", member)
  else
    assert(iscard[name] ~= nil, member)
  end
end
local loaded = {}
for name in pairs(package.loaded) do
  if name:match("^iscard%.") then loaded[#loaded + 1] = name end
end
table.sort(loaded)
print(table.concat(loaded, " "))
