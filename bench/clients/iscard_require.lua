--- What `require "iscard"` costs, for callgrind: run once with MODE
-- "require" and once with "none"; the difference is the module's loading
-- (bench/bench.lua, section 2).
--
-- usage: lua5.4 bench/clients/iscard_require.lua MODE
local dir = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/../.."
package.path = dir .. "/lua/?.lua;" .. dir .. "/lua/?/init.lua;" .. package.path
package.cpath = dir .. "/build/?.so;" .. package.cpath

local mode = arg[1]
if mode == "require" then
  require "iscard"
elseif mode ~= "none" then
  error("usage: iscard_require.lua require|none")
end
