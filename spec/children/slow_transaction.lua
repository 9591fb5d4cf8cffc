-- Child program of spec/bed/interrupt_spec.lua: with arg[2] the name of a
-- waiter module (or "none"), attaches to reader arg[1], prints "pid <pid>"
-- and makes a Transaction the test card answers after 5 s, then prints
-- its result and "after".
local child = require "children.prelude"
local iscard = child.iscard

if arg[2] ~= "none" then iscard.set_waiter(require(arg[2])) end
local c = assert(iscard.ISCard())
assert(c:AttachByReader(arg[1]))
local f = assert(io.open("/proc/self/stat"))
local pid = f:read("*a"):match("^(%d+)")
f:close()
child.say("pid " .. pid)
local cmd = iscard.ISCardCmd():BuildCmd(0x80, 0x04, 0x01, 0xF4) -- 5 s
print(c:Transaction(cmd))
print("after")
