-- Checks that the rockspec and config.ld list exactly the Lua modules of
-- the tree (lua/iscard/*.lua, lua/iscard/cli/*.lua, lua/iscard/loop/*.lua), each under its own
-- name: a module added, moved or removed without both lists fails `make lint`.
-- usage: lua tools/module-list-check.lua ROCKSPEC CONFIG_LD
local rockspec_path, config_path = arg[1], arg[2]

-- Runs a Lua-syntax configuration file in an empty environment and
-- returns the globals it set.
local function settings(path)
  local f = assert(io.open(path))
  local text = f:read("*a")
  f:close()
  local env = {}
  local chunk
  if setfenv then -- luacheck: compat (5.1, LuaJIT)
    chunk = assert(loadstring(text, "@" .. path)) -- luacheck: compat
    setfenv(chunk, env) -- luacheck: compat
  else
    chunk = assert(load(text, "@" .. path, "t", env))
  end
  chunk()
  return env
end

local files = {}
local p = assert(io.popen("ls lua/iscard/*.lua lua/iscard/cli/*.lua lua/iscard/loop/*.lua 2>/dev/null"))
for line in p:lines() do files[line] = true end
p:close()

local problems = {}
local function problem(...) problems[#problems + 1] = string.format(...) end

-- every listed path a module file, every module file listed once
local function compare(what, listed)
  for path in pairs(listed) do
    if not files[path] then problem("%s lists %s, which is not a module of the tree", what, path) end
  end
  for path in pairs(files) do
    if not listed[path] then problem("%s does not list %s", what, path) end
  end
end

local spec = settings(rockspec_path)
local listed = {}
for name, path in pairs(spec.build.install.lua) do
  local expected = "lua/" .. name:gsub("%.", "/") .. ".lua"
  if path ~= expected then problem("%s: module %s is %s, expected %s", rockspec_path, name, path, expected) end
  listed[path] = true
end
compare(rockspec_path, listed)

listed = {}
for _, path in ipairs(settings(config_path).file) do
  if path:match("^lua/") then
    if listed[path] then problem("%s lists %s twice", config_path, path) end
    listed[path] = true
  end
end
compare(config_path, listed)

table.sort(problems)
for _, line in ipairs(problems) do io.stderr:write("module list: ", line, "\n") end
if #problems > 0 then os.exit(1) end
local n = 0
for _ in pairs(files) do n = n + 1 end
print(("module list: the rockspec and %s list the %d modules of lua/iscard"):format(config_path, n))
