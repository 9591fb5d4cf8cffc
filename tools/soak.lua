-- The soak (make soak SOAK_MINUTES=N): several client processes on both
-- readers of the test bed send random commands of random sizes through
-- Transaction (tools/soak-worker.lua), one more process resets the cards
-- now and then, and this process pulls cards and restarts pcscd at random
-- moments.  Once a second it samples the resident memory (VmRSS) and the
-- open descriptors of every client.
--
-- It fails when a client raised an error, got a failure that was not a
-- typed PC/SC or iscard error, got a wrong reply, stopped making progress,
-- or when its memory or descriptors grew after the warm-up (the verdict at
-- the end says how that is judged).
--
--   spec/support/testbed lua5.4 tools/soak.lua MINUTES [CLIENTS] [SEED]
--
-- The samples go to build/soak/samples.csv (time, pid, rss_kb, fds).
local iscard = require "iscard"
local bed = require "support.bed"
local core = require "iscard.core"

local minutes = tonumber(arg[1]) or 10
local nclients = tonumber(arg[2]) or 4
local seed = tonumber(arg[3]) or os.time()
math.randomseed(seed)
local random = math.random
local lua = os.getenv("LUA") or "lua5.4"
local dir = "build/soak"
os.execute("mkdir -p " .. dir)
local seconds = math.floor(minutes * 60)

local function say(...) io.stdout:write(os.date("!%H:%M:%S "), string.format(...), "\n"); io.stdout:flush() end

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- Clients: nclients senders spread over both readers, and one resetter.
local clients = {}
local function start(i, reader, role)
  local stats = ("%s/client-%d.stats"):format(dir, i)
  local log = ("%s/client-%d.log"):format(dir, i)
  os.remove(stats)
  local pidfile = os.tmpname()
  os.execute(("%s tools/soak-worker.lua %q %d %d %s %s > %s 2>&1 & echo $! > %s")
    :format(lua, reader, seed + i, seconds, stats, role or "", log, pidfile))
  local pid = assert(tonumber(read_file(pidfile)), "could not start a client")
  os.remove(pidfile)
  clients[#clients + 1] = { pid = pid, stats = stats, log = log, reader = reader, role = role or "send",
                            rss = {}, fds = {}, heap = {}, t = {}, ht = {}, progress = -1, progress_at = core.now() }
end
for i = 1, nclients do start(i, bed.readers[(i - 1) % #bed.readers + 1]) end
start(nclients + 1, bed.readers[1], "reset")

local function rss_kb(pid)
  local s = read_file("/proc/" .. pid .. "/status")
  return s and tonumber(s:match("VmRSS:%s*(%d+)"))
end

-- Counted by ls in another process: the count is of the client's table.
local function fds(pid)
  local p = io.popen("ls /proc/" .. pid .. "/fd 2>/dev/null | wc -l")
  local n = tonumber(p:read("*a"))
  p:close()
  return n
end

local function alive(pid)
  local s = read_file("/proc/" .. pid .. "/stat")
  return s ~= nil and s:match("^%d+ %b() (%a)") ~= "Z"
end

-- The client's counts (tools/soak-worker.lua writes them every 2 s).
local function stats_of(c)
  local s = read_file(c.stats)
  if not s then return nil end
  local r = { by_name = {}, last = s:match('\nlast = "(.-)"\n') or "" }
  for k, v in s:gmatch("([%w_]+) = (%d+)\n") do r[k] = tonumber(v) end
  for k, v in s:gmatch('%["([^"]+)"%] = (%d+)') do r.by_name[k] = tonumber(v) end
  for _, k in ipairs { "ok", "failed", "raised", "untyped", "mismatch", "heap_kb" } do
    if not r[k] then return nil end
  end
  return r
end

local samples = assert(io.open(dir .. "/samples.csv", "w"))
samples:write("t,pid,role,rss_kb,fds\n")

local faults = { removals = 0, restarts = 0, failed_restarts = 0 }
local steer -- an ISCard of ours, to pull cards
local function pull_a_card()
  if not steer then
    local c = iscard.ISCard()
    if not c then return end
    steer = c
  end
  local reader = bed.readers[random(1, #bed.readers)]
  if not steer:AttachByReader(reader) then steer:close(); steer = nil; return end
  local n = random(10, 150) -- tens of ms out
  if steer:transmit("\128\2" .. string.char(math.floor(n / 256), n % 256)) then
    faults.removals = faults.removals + 1
  end
  steer:Detach()
end

local t0 = core.now()
local next_pull = t0 + random(3000, 15000)
local next_restart = bed.private and t0 + random(45000, 120000) or math.huge
local stuck = {}
local next_minute = 1
say("soak: %s min, %d clients + 1 resetter, seed %d, %s", minutes, nclients, seed,
    bed.private and "pcscd restarts on" or "no pcscd restarts (not the private bed)")
while true do
  local now = core.now()
  local t = math.floor((now - t0) / 1000)
  local running = 0
  for _, c in ipairs(clients) do
    if alive(c.pid) then
      running = running + 1
      local r, f = rss_kb(c.pid), fds(c.pid)
      if r and f then
        c.rss[#c.rss + 1], c.fds[#c.fds + 1], c.t[#c.t + 1] = r, f, t
        samples:write(("%d,%d,%s,%d,%d\n"):format(t, c.pid, c.role, r, f))
      end
      local s = stats_of(c)
      if s and s.heap_kb then c.heap[#c.heap + 1], c.ht[#c.ht + 1] = s.heap_kb, t end
      local p = s and (s.ok + s.failed) or -1
      if p ~= c.progress then c.progress, c.progress_at = p, now
      elseif now - c.progress_at > 90000 and not stuck[c] then
        stuck[c] = true
        say("client %d (%s) made no progress for 90 s", c.pid, c.reader)
      end
    end
  end
  samples:flush()
  if running == 0 then break end
  if now - t0 > (seconds + 120) * 1000 then
    say("clients still running 120 s after the end: killing them")
    for _, c in ipairs(clients) do os.execute("kill -9 " .. c.pid .. " 2>/dev/null"); stuck[c] = true end
    break
  end
  if now < t0 + seconds * 1000 then
    if now >= next_pull then pull_a_card(); next_pull = now + random(3000, 15000) end
    if now >= next_restart then
      if steer then steer:close(); steer = nil end
      local sig = random(1, 3) == 1 and "KILL" or "TERM"
      if bed.restart(sig) then faults.restarts = faults.restarts + 1
      else faults.failed_restarts = faults.failed_restarts + 1 end
      say("pcscd restarted (%s)", sig)
      next_restart = core.now() + random(45000, 120000)
    end
    if t >= next_minute * 60 then say("minute %d", next_minute); next_minute = next_minute + 1 end
  end
  core.sleep(1000)
end
samples:close()
if steer then steer:close() end

-- Verdict.  Per client and per minute of samples: the lowest RSS (the level
-- it falls back to after each garbage collection), the highest number of
-- descriptors (a client holds one ISCard at most, so a leaked socket shows
-- as a new maximum) and the highest Lua heap after a full collection (what
-- the client really holds, reported by itself).  The first 30% of the
-- minutes are the warm-up: the heap and the allocator's arenas grow to
-- their working size, the slower the larger and rarer the random replies.
-- After it no minute may rise above the first minute after the warm-up:
-- RSS by more than 10% or 512 KB (whichever is more; a leak of 4 bytes per
-- call is 1 MB over a 10-minute soak), the Lua heap by more than 10% or
-- 64 KB, the descriptors not at all.
-- Samples by the minute they were taken in (a loaded machine may take
-- more than a second per round of samples).
local function per_minute(list, times, pick)
  local out = {}
  for i = 1, #list do
    local m = math.floor(times[i] / 60) + 1
    for k = #out + 1, m - 1 do out[k] = out[k - 1] or list[i] end -- a minute without samples
    out[m] = out[m] and pick(out[m], list[i]) or list[i]
  end
  return out
end

-- The first minute after the warm-up and the first later one that rose
-- above it by more than the slack, or nil.
local function grew(minutes_list, slack_abs, slack_rel)
  local base = math.max(2, math.floor(#minutes_list * 0.3) + 1)
  local b = minutes_list[base]
  for i = base + 1, #minutes_list do
    if minutes_list[i] > b + math.max(slack_abs, b * slack_rel) then return b, minutes_list[i] end
  end
end

local bad = 0
local total = { ok = 0, failed = 0 }
local names = {}
for _, c in ipairs(clients) do
  local s = stats_of(c)
    or { ok = 0, failed = 0, raised = 1, untyped = 0, mismatch = 0, by_name = {}, last = "no stats" }
  total.ok, total.failed = total.ok + s.ok, total.failed + s.failed
  for k, v in pairs(s.by_name) do names[k] = (names[k] or 0) + v end
  local rm, fm = per_minute(c.rss, c.t, math.min), per_minute(c.fds, c.t, math.max)
  local hm = per_minute(c.heap, c.ht, math.max)
  local problems = {}
  if s.raised > 0 then problems[#problems + 1] = s.raised .. " raised" end
  if s.untyped > 0 then problems[#problems + 1] = s.untyped .. " untyped" end
  if s.mismatch > 0 then problems[#problems + 1] = s.mismatch .. " wrong replies" end
  if stuck[c] then problems[#problems + 1] = "stuck" end
  if s.ok == 0 then problems[#problems + 1] = "no successful call" end
  local b, later = grew(rm, 512, 0.1)
  if b then problems[#problems + 1] = ("RSS grew: %d -> %d KB"):format(b, later) end
  b, later = grew(hm, 64, 0.1)
  if b then problems[#problems + 1] = ("Lua heap grew: %d -> %d KB"):format(b, later) end
  b, later = grew(fm, 0, 0)
  if b then problems[#problems + 1] = ("descriptors grew: %d -> %d"):format(b, later) end
  say("client %d %-9s %-18s ok %7d, failed %5d; per minute: RSS min %s KB; Lua heap max %s KB; fds max %s%s",
      c.pid, c.role, c.reader, s.ok, s.failed, table.concat(rm, " "), table.concat(hm, " "), table.concat(fm, " "),
      #problems > 0 and ("  FAIL: " .. table.concat(problems, ", ") .. " (" .. s.last .. ")") or "")
  if #problems > 0 then bad = bad + 1 end
end
local list = {}
for k, v in pairs(names) do list[#list + 1] = k .. " " .. v end
table.sort(list)
say("failures by name: %s", #list > 0 and table.concat(list, ", ") or "none")
say("faults staged: %d card removals, %d pcscd restarts (%d failed)",
    faults.removals, faults.restarts, faults.failed_restarts)
say("soak: %s min, %d calls ok, %d failed (all typed: %s), %d of %d clients with problems",
    minutes, total.ok, total.failed, bad == 0 and "yes" or "see above", bad, #clients)
os.exit(bad == 0 and faults.failed_restarts == 0 and 0 or 1)
