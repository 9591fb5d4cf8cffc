-- Runs the `iscard` command for the cli specs: as a child process
-- (bin/iscard, under $LUA) with cli.run and cli.script, or in this process
-- with cli.call (the dispatcher, iscard.cli, with its output captured).
local cli = {}

-- An output that keeps what is written.
local function capture()
  local parts = {}
  return {
    write = function(self, ...)
      for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
      return self
    end,
    text = function() return table.concat(parts) end,
  }
end

--- `iscard argv...` in this process: its exit status, standard output and
-- standard error; `stdin` (optional) is the text standard input reads.
function cli.call(argv, stdin)
  local input
  if stdin then
    input = assert(io.tmpfile())
    input:write(stdin)
    input:seek("set")
  end
  local out, err = capture(), capture()
  local status = require("iscard.cli").main(argv, { out = out, err = err, stdin = input })
  if input then input:close() end
  return status, out.text(), err.text()
end

--- `iscard script [args...] FILE` in this process, with text as FILE:
-- what cli.call returns, then the file's name (removed already).
function cli.call_script(text, ...)
  local name = os.tmpname()
  local f = assert(io.open(name, "w"))
  f:write(text)
  f:close()
  local argv = { "script", ... }
  argv[#argv + 1] = name
  local status, out, err = cli.call(argv)
  os.remove(name)
  return status, out, err, name
end

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
