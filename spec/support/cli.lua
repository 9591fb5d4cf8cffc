-- Runs the `iscard` command (bin/iscard, under $LUA) for the cli specs.
local cli = {}

--- The command's output (stderr included), then "rc=N" with its exit status.
function cli.run(args)
  local lua = os.getenv("LUA") or "lua5.4"
  local p = assert(io.popen(lua .. " bin/iscard " .. args .. " 2>&1; echo \"rc=$?\""))
  local out = p:read("*a")
  p:close()
  return out
end

--- `iscard script [args] FILE` with text as FILE; cli.run's result.
function cli.script(text, args)
  local name = os.tmpname()
  local f = assert(io.open(name, "w"))
  f:write(text)
  f:close()
  local out = cli.run("script " .. (args or "") .. " " .. name)
  os.remove(name)
  return out
end

return cli
