-- Child program of spec/bed/faults_spec.lua: takes the lock on the card in
-- reader arg[1] and holds it until the process is killed.
-- Prints "locked <pid>" (this process's id, for the kill) once it has the
-- lock, then nothing.
local child = require "children.prelude"

local f = assert(io.open("/proc/self/stat"))
local pid = f:read("*a"):match("^(%d+)")
f:close()
local c = assert(child.iscard.ISCard())
assert(c:AttachByReader(arg[1]))
assert(c:LockSCard())
child.say("locked " .. pid)
while true do os.execute("sleep 1") end
