-- Child program of spec/bed/faults_spec.lua: a worker that runs locked
-- GET RESPONSE transactions of random lengths on the card in reader arg[2]
-- (random numbers seeded with arg[1]), reattaching after each failure,
-- until the file arg[3] exists (at most 50 s); then it tries up to 200
-- more times for one transaction that works.
-- Prints "warm" after 20 transactions that all worked, then
-- "end <fine> <fds before> <fds after> <counts>" (tab-separated): fine
-- "true" when a transaction worked at the end, the descriptors open after
-- the warm-up and at the end (no card held either time), and how often
-- each outcome came ("ok=N", and "NAME=N" for each failure's name as
-- children.prelude's name gives it, "WRONG_LENGTH" for a reply of another
-- length than asked), space-separated.  Its stderr gets the descriptors'
-- targets each time it counts them.
local child = require "children.prelude"
local iscard = child.iscard

local reader, stop = arg[2], arg[3]
math.randomseed(tonumber(arg[1]))
local st = assert(io.open("/proc/self/stat"))
local pid = st:read("*a"):match("^(%d+)")
st:close()
-- counted by another process into a file: no pipe of the count
-- open here (as bed.fds)
local function fds()
  local tmp = os.tmpname()
  os.execute("ls -l /proc/" .. pid .. "/fd > " .. tmp)
  local n, list = 0, {}
  local f = assert(io.open(tmp))
  for l in f:lines() do n = n + 1 list[#list + 1] = l:match("%d+ %-> .*") end
  f:close()
  os.remove(tmp)
  io.stderr:write(table.concat(list, "; "), "\n")
  return n - 1 -- the "total" line
end
local counts, card = { ok = 0 }, nil
local function one()
  if not card then
    local c, msg = iscard.ISCard()
    if not c then return nil, msg end
    local ok, amsg = c:AttachByReader(reader)
    if not ok then c:close() return nil, amsg end
    card = c
  end
  local n = math.random(1, 3000)
  local le = math.random(0, 1) == 1 and 256 or 65536
  local cmd = iscard.ISCardCmd():BuildCmd(0x00, 0xE1, math.floor(n / 256), n % 256, nil, le)
  -- GET RESPONSE sequences of two processes on one card must not
  -- interleave: the lock keeps them apart
  local ok, msg = card:LockSCard()
  if ok then ok, msg = card:Transaction(cmd) end
  if ok and #cmd.ReplyData ~= n then return nil, "WRONG_LENGTH: " .. #cmd.ReplyData end
  if ok then ok, msg = card:UnlockSCard() end
  if not ok then card:close() card = nil os.execute("sleep 0.02") end
  return ok, msg
end
for _ = 1, 20 do assert(one()) end -- warm-up
card:close() card = nil
collectgarbage() collectgarbage()
local fd0 = fds()
child.say("warm")
local deadline = os.time() + 50
while not io.open(stop) and os.time() < deadline do
  local ok, msg = one()
  if ok then counts.ok = counts.ok + 1 else local k = child.name(msg); counts[k] = (counts[k] or 0) + 1 end
end
local fine = false
for _ = 1, 200 do if one() then fine = true break end os.execute("sleep 0.1") end
if card then card:close() card = nil end
collectgarbage() collectgarbage()
local parts = {}
for k, v in pairs(counts) do parts[#parts + 1] = k .. "=" .. v end
child.say("end", tostring(fine), fd0, fds(), table.concat(parts, " "))
