-- Child program of spec/bed/monitor_spec.lua: an iscard.monitor loop
-- that waits for ever (events(-1)), for the spec to stop with SIGINT.
-- Prints "pid=<this process's id>" before the loop, and "events ended"
-- if the loop ever ends (it must not: Ctrl-C ends the script with
-- "interrupted!" on stderr).
local iscard = require "iscard"

local f = assert(io.open("/proc/self/stat"))
local pid = f:read("*a"):match("^(%d+)")
f:close()
local mon = iscard.monitor({ initial = false })
io.stdout:write("pid=", pid, "\n"); io.stdout:flush()
for _ in mon:events(-1) do end
print("events ended")
