--- Shared by the benchmark clients: module paths from the source tree,
-- clocks, hex, and key=value output for bench/bench.lua.
local dir = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/../.."
package.path = dir .. "/lua/?.lua;" .. dir .. "/lua/?/init.lua;" .. package.path
package.cpath = dir .. "/build/?.so;" .. package.cpath

local core = require "iscard.core"

local M = { root = dir }

--- Monotonic wall clock in seconds.
function M.now() return core.now() / 1000 end

--- This process's CPU time (user + system) in seconds: glibc's clock() is
-- CLOCK_PROCESS_CPUTIME_ID, nanosecond-based.
M.cpu = os.clock

function M.fromhex(h)
  return (h:gsub("%s", ""):gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

function M.tohex(s)
  return (s:gsub(".", function(c) return string.format("%02X", c:byte()) end))
end

--- Prints one line of key=value words (floats with 9 significant digits).
function M.emit(t, order)
  local out = {}
  for _, k in ipairs(order) do
    local v = t[k]
    if math.type(v) == "float" then v = string.format("%.9g", v) end
    out[#out + 1] = k .. "=" .. tostring(v)
  end
  io.write(table.concat(out, " "), "\n")
  io.flush()
end

--- Resident set size of this process in KiB (VmRSS).
function M.rss_kib()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

--- Voluntary + involuntary context switches of this process so far.
function M.ctxsw()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("\nvoluntary_ctxt_switches:%s*(%d+)")),
         tonumber(s:match("nonvoluntary_ctxt_switches:%s*(%d+)"))
end

--- An attached ISCard on reader, or dies.
function M.attach(reader)
  local iscard = require "iscard"
  local card = assert(iscard.ISCard())
  assert(card:AttachByReader(reader))
  return card
end

return M
