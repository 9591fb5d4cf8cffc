#!/usr/bin/env lua5.4
--- bench.lua -- the whole benchmark, run by `make bench` inside the test bed:
--
--   ISCARD_TEST_CARD=bench/cards/bulk.lua spec/support/testbed lua5.4 bench/bench.lua
--
-- (a private pcscd + vpcd, the bulk card in both readers).  Prints the report
-- to stdout and, when BENCH_OUT is set, to that file as well.
--
-- Environment: BENCH_QUICK=1 (everything shorter: a smoke run),
-- BENCH_IDLE_S (default 60), BENCH_RSS_N (default 1000000), BENCH_ROUNDS
-- (default 7), BENCH_N (round trips per client run, default 20000),
-- BENCH_CG_N (Transactions under callgrind, default 2000), BENCH_CG_REPS
-- (pairs of callgrind runs per client, default 3: the median is shown),
-- BENCH_SKIP="callgrind idle ..." (leave sections out), BENCH_ONLY="bulk ..."
-- (run only these; sections: roundtrips unpinned callgrind lualayer bulk vcard
-- memory monitor idle), BENCH_CPUS (the CPU
-- list bench.mk pinned everything to, for the report; section 1b undoes the
-- pinning for a while).
--
-- Every comparison is measured side by side in one run: the clients take
-- turns (the order rotates from round to round), each ratio is computed
-- within a round, and the report gives medians over the rounds.  Absolute
-- times are printed for scale only.
local dir = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")
local root = dir .. "/.."
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/build/?.so;" .. package.cpath

local core = require "iscard.core"
local cg = dofile(dir .. "/callgrind.lua")

local format = string.format
local env = os.getenv
local QUICK = env("BENCH_QUICK") == "1"
local function num(name, full, quick)
  local v = tonumber(env(name) or "")
  if v then return v end
  return QUICK and quick or full
end
local IDLE_S = num("BENCH_IDLE_S", 60, 5)
local RSS_N = math.tointeger(num("BENCH_RSS_N", 1000000, 100000))
local ROUNDS = math.tointeger(num("BENCH_ROUNDS", 7, 3))
local RT_N = math.tointeger(num("BENCH_N", 20000, 3000))
local CG_N = math.tointeger(num("BENCH_CG_N", 2000, 300))
local CG_REPS = math.tointeger(num("BENCH_CG_REPS", 3, 1))
local BULK_ROUNDS = math.tointeger(num("BENCH_BULK_ROUNDS", 5, 2))
local BULK_REPS = math.tointeger(num("BENCH_BULK_REPS", 10, 3))
local SKIP, ONLY = env("BENCH_SKIP") or "", env("BENCH_ONLY") or ""
local function skipped(s)
  if ONLY ~= "" and not (" " .. ONLY .. " "):find(" " .. s .. " ", 1, true) then return true end
  return (" " .. SKIP .. " "):find(" " .. s .. " ", 1, true) ~= nil
end

local READER0, READER1 = "Virtual PCD 00 00", "Virtual PCD 00 01"
-- the round-trip APDU: ECHO of 16 bytes, case 4 (16 bytes each way)
local APDU = "80EE000010000102030405060708090A0B0C0D0E0F00"
local LUA = env("LUA") or "lua5.4"
local PY = "/usr/bin/python3"
local BUILD = root .. "/build/bench"

-- ---------------------------------------------------------------------------
-- output

local out_file = env("BENCH_OUT") and assert(io.open(env("BENCH_OUT"), "w"))
local function say(fmt, ...)
  local s = select("#", ...) > 0 and format(fmt, ...) or fmt
  io.stdout:write(s, "\n")
  io.stdout:flush()
  if out_file then out_file:write(s, "\n"); out_file:flush() end
end
local summary = {}
local function headline(s) summary[#summary + 1] = s end

-- ---------------------------------------------------------------------------
-- helpers

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local s = p:read("a")
  local ok, how, code = p:close()
  return s, ok, how, code
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs a client; returns its key=value lines as tables (dies on failure).
local function run(cmd)
  local s, ok, _, code = sh(cmd .. " 2>&1")
  if not ok then error(format("benchmark client failed (%s):\n%s\n%s", tostring(code), cmd, s)) end
  local rows = {}
  for line in s:gmatch("[^\n]+") do
    local t = {}
    for k, v in line:gmatch("([%w_]+)=(%S+)") do t[k] = tonumber(v) or v end
    if next(t) then rows[#rows + 1] = t end
  end
  return rows, s
end

local function median(v)
  local t = table.move(v, 1, #v, 1, {})
  table.sort(t)
  local n = #t
  if n == 0 then return 0 / 0 end
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

local function now() return core.now() / 1000 end

-- Processes of this test bed (same network namespace), by command line.
local bed_pids = {}
do
  local s = sh([[me=$(readlink /proc/self/ns/net); for d in /proc/[0-9]*; do
    [ "$(readlink $d/ns/net 2>/dev/null)" = "$me" ] || continue
    printf '%s ' "${d#/proc/}"; tr '\0' ' ' < $d/cmdline 2>/dev/null; echo; done]])
  for line in s:gmatch("[^\n]+") do
    local pid, cmdline = line:match("^(%d+) (.*)$")
    if pid then
      if cmdline:find("vcard %-%-reader 0") then bed_pids.card0 = pid
      elseif cmdline:find("vcard %-%-reader 1") then bed_pids.card1 = pid
      elseif cmdline:find("^pcscd ") or cmdline:find("/pcscd ") then bed_pids.pcscd = pid end
    end
  end
end

local CLK_TCK = tonumber((sh("getconf CLK_TCK"))) or 100
-- CPU seconds (user + system) a process has used so far.
local function proc_cpu(pid)
  if not pid then return nil end
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  local rest = s:match("%) (.*)$")
  local fields = {}
  for w in rest:gmatch("%S+") do fields[#fields + 1] = w end
  -- fields[1] is field 3 (state); utime, stime are fields 14, 15
  return (tonumber(fields[12]) + tonumber(fields[13])) / CLK_TCK
end

local function us(x) return x * 1e6 end

local function verdict(ok) return ok and "met" or "MISSED" end

-- ---------------------------------------------------------------------------
-- 0. the machine

local function first_line(cmd) return ((sh(cmd .. " 2>/dev/null")):match("[^\n]*")) end

local function machine()
  local cpu = first_line("grep -m1 'model name' /proc/cpuinfo"):gsub("^model name%s*:%s*", "")
  say("iscard benchmarks -- %s%s", os.date("!%Y-%m-%d %H:%M UTC"), QUICK and "  (BENCH_QUICK=1: smoke run, short)" or "")
  say("")
  say("machine: %s CPUs, %s, kernel %s", first_line("nproc --all"), cpu, first_line("uname -r"))
  say("pcsc-lite %s (pcscd %s), %s, pyscard %s, valgrind %s",
    first_line("dpkg-query -W -f='${Version}' libpcsclite1"), first_line("dpkg-query -W -f='${Version}' pcscd"),
    first_line(LUA .. " -v"), first_line("dpkg-query -W -f='${Version}' python3-pyscard"),
    first_line("valgrind --version"))
  say("tree: %s", first_line("cd " .. q(root) .. " && git describe --always --dirty"))
  say("test bed: private pcscd + vpcd; card = bench/cards/bulk.lua (Lua, bin/iscard vcard) in both readers")
  say("pids: pcscd %s, card0 %s, card1 %s", tostring(bed_pids.pcscd), tostring(bed_pids.card0),
    tostring(bed_pids.card1))
  local cpus = env("BENCH_CPUS") or ""
  if cpus ~= "" then
    say("pinned: client, pcscd and cards all on CPU %s (taskset; BENCH_CPUS= to switch off) -- see bench/README.md", cpus)
  else
    say("not pinned (BENCH_CPUS empty)")
  end
  say("")
end

-- ---------------------------------------------------------------------------
-- 1. round trips

local RT_CLIENTS = {
  { key = "c", label = "raw C (SCardTransmit)",
    cmd = function(n) return format("%s/raw_transmit -k %s %d %s", BUILD, q(READER0), n, APDU) end },
  { key = "tx", label = "iscard card:Transaction(cmd)",
    cmd = function(n) return format("%s %s/clients/iscard_rt.lua transaction %s %d %s", LUA, dir, q(READER0), n, APDU) end },
  { key = "raw", label = "iscard card:transmit(apdu)",
    cmd = function(n) return format("%s %s/clients/iscard_rt.lua transmit %s %d %s", LUA, dir, q(READER0), n, APDU) end },
  { key = "build", label = "iscard GetData build + Transaction",
    cmd = function(n) return format("%s %s/clients/iscard_rt.lua build %s %d %s", LUA, dir, q(READER0), n, APDU) end },
  { key = "pys", label = "pyscard scard.SCardTransmit",
    cmd = function(n) return format("%s %s/clients/pyscard_rt.py scard %s %d %s", PY, dir, q(READER0), n, APDU) end },
  { key = "pyc", label = "pyscard CardConnection.transmit",
    cmd = function(n) return format("%s %s/clients/pyscard_rt.py connection %s %d %s", PY, dir, q(READER0), n, APDU) end },
}

local rt -- results, for the vcard section
local function round_trips(clients, rounds, title)
  clients = clients or RT_CLIENTS
  rounds = rounds or ROUNDS
  say("== %s: %d rounds x %d APDUs per client, ECHO 16 bytes each way (%s)", title or "1. Round trips", rounds,
    RT_N, APDU)
  say("   one process per client run; wall time and CPU (user+system, CLOCK_PROCESS_CPUTIME_ID)")
  say("   measured inside the client around the timed loop (start-up and 100 warm-up APDUs excluded);")
  say("   clients take turns, the order rotating each round; ratios are per round, then the median.")
  local res = {}
  for _, c in ipairs(clients) do res[c.key] = { rate = {}, cpu = {}, rate_ratio = {}, cpu_ratio = {} } end
  local card_cpu, pcscd_cpu, walls = {}, {}, {}
  -- one untimed run of each client: caches, page cache, pcscd warm
  for _, c in ipairs(clients) do run(c.cmd(1000)) end
  for r = 1, rounds do
    local this = {}
    for i = 0, #clients - 1 do
      local c = clients[(r - 1 + i) % #clients + 1]
      local k0, p0 = proc_cpu(bed_pids.card0), proc_cpu(bed_pids.pcscd)
      local row = run(c.cmd(RT_N))[1]
      local k1, p1 = proc_cpu(bed_pids.card0), proc_cpu(bed_pids.pcscd)
      assert(row and (row.sw == 9000 or (c.key == "build" and row.sw == "6D00")),
        c.label .. ": unexpected status " .. tostring(row and row.sw))
      this[c.key] = row
      if k0 and k1 then card_cpu[#card_cpu + 1] = (k1 - k0) / row.n; walls[#walls + 1] = row.wall_s / row.n end
      if p0 and p1 then pcscd_cpu[#pcscd_cpu + 1] = (p1 - p0) / row.n end
    end
    for key, row in pairs(this) do
      local t = res[key]
      t.rate[#t.rate + 1] = row.n / row.wall_s
      t.cpu[#t.cpu + 1] = row.cpu_s / row.n
      t.rate_ratio[#t.rate_ratio + 1] = (row.n / row.wall_s) / (this.c.n / this.c.wall_s)
      t.cpu_ratio[#t.cpu_ratio + 1] = (row.cpu_s / row.n) / (this.c.cpu_s / this.c.n)
    end
  end
  say("")
  say("   %-36s %10s %9s %10s %9s %9s", "client", "APDU/s", "vs C", "CPU us/op", "CPU vs C", "range")
  for _, c in ipairs(clients) do
    local t = res[c.key]
    local rr = t.rate_ratio
    say("   %-36s %10.0f %9.3f %10.2f %9.2f %4.2f-%4.2f", c.label, median(t.rate), median(rr), us(median(t.cpu)),
      median(t.cpu_ratio), math.min(table.unpack(rr)), math.max(table.unpack(rr)))
  end
  local m = function(k, f) return median(res[k][f]) end
  local thr, cpur = m("tx", "rate_ratio"), m("tx", "cpu_ratio")
  if clients ~= RT_CLIENTS then
    say("   split of client CPU per APDU (medians): raw C %.2f us, card:transmit %.2f us, Transaction %.2f us",
      us(m("c", "cpu")), us(m("raw", "cpu")), us(m("tx", "cpu")))
    say("")
    headline(format("round trips, unpinned: Transaction throughput %.3f x raw C, CPU %.2f x (for reference)", thr, cpur))
    return
  end
  local tx_cpu, c_cpu, raw_cpu = m("tx", "cpu"), m("c", "cpu"), m("raw", "cpu")
  local py_low, py_obj = m("pys", "cpu"), m("pyc", "cpu")
  say("   ('range' = lowest-highest per-round throughput ratio vs C)")
  say("")
  say("   split of iscard's client CPU per APDU (medians): raw C %.2f us; + binding (transmit - C) %.2f us;"
    .. " + Lua layer (Transaction - transmit) %.2f us", us(c_cpu), us(raw_cpu - c_cpu), us(tx_cpu - raw_cpu))
  say("   pcscd CPU per APDU %.2f us, card process CPU per APDU %.2f us (median over all runs; /proc/PID/stat)",
    us(median(pcscd_cpu)), us(median(card_cpu)))
  say("")
  headline(format("round trips: iscard Transaction throughput = %.3f x raw C (target >= 0.97: %s)", thr, verdict(thr >= 0.97)))
  headline(format("round trips: iscard Transaction client CPU = %.2f x raw C (target <= 1.25: %s); %.2f vs %.2f us/APDU",
    cpur, verdict(cpur <= 1.25), us(tx_cpu), us(c_cpu)))
  headline(format("round trips: iscard Transaction CPU %.2f us vs pyscard %.2f (SCardTransmit) / %.2f (CardConnection) us"
    .. " (target below pyscard's: %s)", us(tx_cpu), us(py_low), us(py_obj), verdict(tx_cpu < py_low and tx_cpu < py_obj)))
  headline(format("round trips: card:transmit throughput = %.3f x raw C, CPU %.2f x; Lua layer adds %.2f us/APDU",
    m("raw", "rate_ratio"), m("raw", "cpu_ratio"), us(tx_cpu - raw_cpu)))
  rt = { card_cpu = median(card_cpu), pcscd_cpu = median(pcscd_cpu), wall = median(walls),
         c_rate = m("c", "rate") }
end

-- 1b. the same without pinning: pcscd and the cards are let loose on all
-- CPUs for a while, then pinned back.
local function unpinned()
  local cpus = env("BENCH_CPUS") or ""
  if cpus == "" then return end
  local all = first_line("nproc --all")
  local pids = {}
  for _, k in ipairs({ "pcscd", "card0", "card1" }) do
    if bed_pids[k] then pids[#pids + 1] = bed_pids[k] end
  end
  local function pin(list)
    for _, pid in ipairs(pids) do sh(format("taskset -a -p -c %s %s >/dev/null 2>&1", list, pid)) end
  end
  local loose = format("0-%d", tonumber(all) - 1)
  pin(loose)
  local clients = {}
  for _, c in ipairs(RT_CLIENTS) do
    if c.key == "c" or c.key == "tx" or c.key == "raw" then
      clients[#clients + 1] = { key = c.key, label = c.label,
        cmd = function(n) return "taskset -c " .. loose .. " " .. c.cmd(n) end }
    end
  end
  say("   (everything on CPUs %s, the scheduler's choice: wake-ups cross vCPUs, which on this VM is slow and noisy)", loose)
  local ok, err = pcall(round_trips, clients, ROUNDS, "1b. Round trips, not pinned")
  pin(cpus)
  if not ok then error(err, 0) end
end

-- ---------------------------------------------------------------------------
-- 2. callgrind

local function callgrind()
  local n = CG_N
  say("== 2. Client instructions per APDU (valgrind --tool=callgrind, Ir; runs of %d and %d, (2N - N) / N;"
    .. " the median of %d such pairs)", n, 2 * n, CG_REPS)
  say("   user-space instructions of the client process only (the kernel's share of a round trip is not counted);")
  say("   parts by ELF object, libc/ld.so charged to their caller (see bench/callgrind.lua).")
  local tmp = os.tmpname()
  os.remove(tmp)
  assert(os.execute("mkdir -p " .. q(tmp)))
  -- One pair of runs (N, 2N) gives one figure; Lua 5.4 seeds its string
  -- hashes afresh in every process, which moves a Lua client's figure by
  -- some 50 Ir from pair to pair, so each row is the pair with the median
  -- total of CG_REPS pairs.
  local function cg_run(name, cmd)
    local pers = {}
    for rep = 1, CG_REPS do
      local files = {}
      for i, k in ipairs({ n, 2 * n }) do
        local f = format("%s/%s.%d.%d.out", tmp, name, rep, k)
        run(format("valgrind -q --tool=callgrind --callgrind-out-file=%s %s", q(f), cmd(k)))
        files[i] = f
      end
      local r1, r2 = cg.parse(files[1]), cg.parse(files[2])
      local per = cg.per_op(r1, r2, n)
      per.alloc = cg.alloc(r1.edges, r2.edges, "Lua", n)
      pers[rep] = per
    end
    table.sort(pers, function(a, b) return a.total < b.total end)
    local per = pers[(#pers + 1) // 2]
    per.low, per.high = pers[1].total, pers[#pers].total
    return per
  end
  local runs = {
    { "raw C (SCardTransmit)", cg_run("c", function(k) return format("%s/raw_transmit -k %s %d %s", BUILD, q(READER0), k, APDU) end) },
    { "iscard card:transmit", cg_run("raw", function(k) return format("%s %s/clients/iscard_rt.lua transmit %s %d %s", LUA, dir, q(READER0), k, APDU) end) },
    { "iscard card:Transaction", cg_run("tx", function(k) return format("%s %s/clients/iscard_rt.lua transaction %s %d %s", LUA, dir, q(READER0), k, APDU) end) },
    { "pyscard scard.SCardTransmit", cg_run("pys", function(k) return format("%s %s/clients/pyscard_rt.py scard %s %d %s", PY, dir, q(READER0), k, APDU) end) },
    { "pyscard CardConnection", cg_run("pyc", function(k) return format("%s %s/clients/pyscard_rt.py connection %s %d %s", PY, dir, q(READER0), k, APDU) end) },
  }
  -- `require "iscard"` once: a process that requires it against one that does not
  local load = {}
  for i, mode in ipairs({ "none", "require" }) do
    local f = format("%s/load-%s.out", tmp, mode)
    run(format("valgrind -q --tool=callgrind --callgrind-out-file=%s %s %s/clients/iscard_require.lua %s", q(f), LUA, dir,
      mode))
    load[i] = cg.parse(f).total
  end
  os.execute("rm -rf " .. q(tmp))
  say("")
  say("   %-28s %9s %9s %9s %9s %9s %9s %9s %8s %13s", "Ir per APDU", "total", "iscard C", "Lua", "(malloc)", "pcsc-lite",
    "C client", "Python", "vs raw C", "pairs' range")
  local base = runs[1][2].total
  for _, row in ipairs(runs) do
    local p = row[2]
    say("   %-28s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %8.1f %6.0f-%-6.0f", row[1], p.total, p.parts["iscard C"], p.parts.Lua,
      p.alloc, p.parts["pcsc-lite"], p.parts.client, p.parts.Python, p.total / base, p.low, p.high)
  end
  local tx, raw = runs[3][2], runs[2][2]
  local pys, pyc = runs[4][2], runs[5][2]
  say("   ((malloc) = the part of Lua spent in malloc/free/realloc; 'other'/'libc' left-overs: %.0f / %.0f)",
    tx.parts.other, tx.parts.libc)
  say("   Lua API calls made by core.so (inside 'Lua' above): %.0f Ir per transmit",
    raw.edges["iscard C>Lua"] or 0)
  say("   (lua5.4 is stripped, so 'Lua' cannot be split by interpreter function here: section 3 profiles our")
  say("    Lua source lines instead)")
  local req = load[2] - load[1]
  say("")
  say("   require \"iscard\" (lua5.4, bench/clients/iscard_require.lua): %.0f Ir (%.2fM), the whole process %.2fM",
    req, req / 1e6, load[2] / 1e6)
  say("")
  headline(format("instructions: Transaction %.0f Ir/APDU (target <= 3000: %s) = %.1f x raw C's %.0f (iscard C %.0f,"
    .. " Lua %.0f of which malloc/free %.0f, pcsc-lite %.0f); card:transmit %.0f; pyscard %.0f (scard.SCardTransmit)"
    .. " / %.0f (CardConnection)", tx.total, verdict(tx.total <= 3000), tx.total / base, base, tx.parts["iscard C"],
    tx.parts.Lua, tx.alloc, tx.parts["pcsc-lite"], raw.total, pys.total, pyc.total))
  headline(format("instructions: require \"iscard\" %.2fM Ir (target <= 6M: %s)", req / 1e6, verdict(req <= 6e6)))
end

-- ---------------------------------------------------------------------------
-- 3. the Lua layer

local function lua_layer()
  say("== 3. The Lua layer alone (bench/lua_layer.lua: no PC/SC, no card)")
  local rows, text = run(format("%s %s/lua_layer.lua%s", LUA, dir, QUICK and " --quick" or ""))
  for line in text:gmatch("[^\n]*") do
    if not line:find("^RESULT") then say("   %s", line) end
  end
  local r = rows[#rows]
  headline(format("Lua layer: build+parse median %.2f us, worst %.2f us (target < 2 us: %s); a Transaction's"
    .. " Lua work %.2f us", r.buildparse_median_us, r.buildparse_worst_us,
    verdict(r.buildparse_worst_us < 2), r.transaction_lua_us))
end

-- ---------------------------------------------------------------------------
-- 4. bulk

local BULK_MODES = { "read-ext", "read-short", "write-ext", "write-short", "write-chain" }
local BULK_LABEL = {
  ["read-ext"] = "read, extended (2 x 32 KiB)",
  ["read-short"] = "read, short (256 x 256 B)",
  ["write-ext"] = "write, extended (2 x 32 KiB)",
  ["write-short"] = "write, short (259 x <=254 B)",
  ["write-chain"] = "write, chained (2 x 129 parts)",
}

local function bulk()
  say("== 4. Bulk: the 64 KiB EF of bench/cards/bulk.lua, %d rounds; per round one C and one iscard process"
    .. " (order alternating), each the median of %d passes per mode", BULK_ROUNDS, BULK_REPS)
  local modes = table.concat(BULK_MODES, " ")
  local clients = {
    c = format("%s/bulk_c %s %d %s", BUILD, q(READER0), BULK_REPS, modes),
    lua = format("%s %s/clients/iscard_bulk.lua %s %d %s", LUA, dir, q(READER0), BULK_REPS, modes),
  }
  local res = {}
  for _, m in ipairs(BULK_MODES) do res[m] = { c = {}, lua = {}, ratio = {}, cpu_c = {}, cpu_lua = {}, cpu_ratio = {}, apdus = {} } end
  local all_ok = true
  for r = 1, BULK_ROUNDS do
    local order = r % 2 == 1 and { "c", "lua" } or { "lua", "c" }
    local got = {}
    for _, who in ipairs(order) do
      got[who] = {}
      for _, row in ipairs((run(clients[who]))) do
        got[who][row.mode] = row
        if row.ok ~= 1 then all_ok = false end
      end
    end
    for _, m in ipairs(BULK_MODES) do
      local c, l, t = got.c[m], got.lua[m], res[m]
      t.c[#t.c + 1], t.lua[#t.lua + 1] = c.wall_s, l.wall_s
      t.ratio[#t.ratio + 1] = l.wall_s / c.wall_s
      t.cpu_c[#t.cpu_c + 1], t.cpu_lua[#t.cpu_lua + 1] = c.cpu_s, l.cpu_s
      t.cpu_ratio[#t.cpu_ratio + 1] = l.cpu_s / c.cpu_s
      t.apdus = { c.apdus, l.apdus }
    end
  end
  say("")
  say("   %-32s %6s %9s %9s %7s %8s %9s %9s %7s", "64 KiB", "APDUs", "C ms", "iscard ms", "time x", "iscard",
    "C cpu ms", "isc cpu", "cpu x")
  say("   %-32s %6s %9s %9s %7s %8s %9s %9s %7s", "", "", "(wall)", "(wall)", "vs C", "MB/s", "", "ms", "vs C")
  local worst = 0
  for _, m in ipairs(BULK_MODES) do
    local t = res[m]
    local ratio = median(t.ratio)
    if ratio > worst then worst = ratio end
    say("   %-32s %6s %9.2f %9.2f %7.2f %8.1f %9.2f %9.2f %7.2f", BULK_LABEL[m],
      t.apdus[1] == t.apdus[2] and tostring(t.apdus[1]) or (t.apdus[1] .. "/" .. t.apdus[2]),
      median(t.c) * 1e3, median(t.lua) * 1e3, ratio, 65536 / median(t.lua) / 1e6,
      median(t.cpu_c) * 1e3, median(t.cpu_lua) * 1e3, median(t.cpu_ratio))
  end
  say("   contents checked after every pass (untimed): %s", all_ok and "all correct" or "MISMATCH")
  say("   (extended replies are at most 65533 data bytes: vpcd frames are <= 65535 bytes; B0/D6 offsets are")
  say("    15 bits, so the card uses 2-byte data units -- see bench/cards/bulk.lua)")
  say("")
  local function mr(m) return median(res[m].ratio) end
  headline(format("bulk 64 KiB, iscard time / C time: read ext %.2f, short %.2f; write ext %.2f, short %.2f,"
    .. " chained %.2f%s", mr("read-ext"), mr("read-short"), mr("write-ext"), mr("write-short"), mr("write-chain"),
    all_ok and "" or " (DATA MISMATCH)"))
end

-- ---------------------------------------------------------------------------
-- 5. memory and idle

local function memory()
  local every = RSS_N // 10
  say("== 5a. Resident memory over %d Transactions (sampled every %d)", RSS_N, every)
  local rows = run(format("%s %s/clients/iscard_rss.lua %s %d %d %s", LUA, dir, q(READER0), RSS_N, every, APDU))
  local line = {}
  for _, r in ipairs(rows) do line[#line + 1] = format("%d", r.rss_kib) end
  say("   VmRSS KiB at 0, %d, ..., %d: %s", every, RSS_N, table.concat(line, " "))
  local lh = {}
  for _, r in ipairs(rows) do lh[#lh + 1] = format("%.0f", r.lua_kib) end
  say("   Lua heap KiB (collectgarbage 'count'):  %s", table.concat(lh, " "))
  local first, second, last = rows[1], rows[2], rows[#rows]
  local growth = last.rss_kib - first.rss_kib
  local after = last.rss_kib - second.rss_kib
  say("   growth: %d KiB from the start, %d KiB after the first sample; %.0f Transactions/s", growth, after,
    last.i / last.wall_s)
  say("")
  headline(format("memory: VmRSS %d -> %d KiB over %d Transactions (+%d KiB; target flat, < 1024 KiB: %s)",
    first.rss_kib, last.rss_kib, RSS_N, growth, verdict(growth < 1024)))
end

local function idle()
  say("== 5b. Idle: iscard.wait('%s', true, %d) on an empty reader (the card was asked to leave)", READER1,
    math.floor(IDLE_S * 1000))
  local r = run(format("%s %s/clients/iscard_idle.lua %s %s", LUA, dir, q(READER1), tostring(IDLE_S)))[1]
  say("   waited %.2f s (%s): CPU %.3f ms in all (set-up, the wait, the clean-up) = %.5f %% of one CPU;"
    .. " %d voluntary, %d involuntary context switches", r.wall_s, r.result, r.cpu_s * 1e3,
    r.cpu_s / r.wall_s * 100, r.vcsw, r.ivcsw)
  say("   (for scale: a wait with a 0 ms timeout alone costs %.3f ms; clock resolution 1 us)", r.setup_cpu_s * 1e3)
  say("   (runs last: while vpcd's second reader is empty, pcscd's presence polling slows the other reader)")
  say("")
  -- iscard.wait waits in 300 ms slices (so Ctrl-C stops it), and each
  -- slice is one SCardGetStatusChange that times out, some 0.4 ms of
  -- pcsc-lite's CPU: the target is the monitor's, < 20 ms per 10 s.
  headline(format("idle: %.3f ms CPU over a %.0f s wait (%.5f %% of a CPU), %d wake-ups (target: < 2 ms per"
    .. " second of waiting, set-up included: %s)", r.cpu_s * 1e3, r.wall_s,
    r.cpu_s / r.wall_s * 100, r.vcsw, verdict(r.result == "timeout" and r.cpu_s / r.wall_s < 0.002)))
end

local function monitor_idle()
  local secs = QUICK and 2 or 10
  say("== 5c. Idle monitor: iscard.monitor() on both readers (cards in, nothing happening), poll(%d)", secs * 1000)
  local r = run(format("%s %s/clients/iscard_monitor_idle.lua %d", LUA, dir, secs))[1]
  say("   waited %.2f s, %d events: CPU %.3f ms = %.1f us per %d ms slice (%d slices); %d voluntary,"
    .. " %d involuntary context switches", r.wall_s, r.events, r.cpu_s * 1e3, r.per_slice_us,
    r.slice_ms, r.slices, r.vcsw, r.ivcsw)
  say("")
  headline(format("monitor idle: %.3f ms CPU over %.0f s (target < 20 ms over 10 s: %s)", r.cpu_s * 1e3,
    r.wall_s, verdict(r.events == 0 and r.cpu_s / r.wall_s * 10 < 0.020)))
end

-- ---------------------------------------------------------------------------
-- 6. the virtual card

local function vcard()
  local n = QUICK and 5000 or 20000
  say("== 6. The virtual card's own ceiling (bench/vcard_ceiling.lua: no pcscd, a Lua fake vpcd, same APDU)")
  local rates = {}
  local text
  for _ = 1, 3 do
    local s = sh(format("%s %s/vcard_ceiling.lua %d %s %s 2>&1", LUA, dir, n, APDU, q(dir .. "/cards/bulk.lua")))
    text = s
    rates[#rates + 1] = tonumber(s:match("APDUs in [%d.]+ s: (%d+) APDU/s"))
  end
  if not rates[1] then say("   failed: %s", text) return end
  local ceiling = median(rates)
  say("   card + fake vpcd: %.0f APDU/s (median of 3 runs of %d; the fake vpcd side is Lua too)", ceiling, n)
  if rt then
    say("   during the round trips: card process CPU %.2f us/APDU, pcscd %.2f us/APDU, wall %.2f us/APDU",
      us(rt.card_cpu), us(rt.pcscd_cpu), us(rt.wall))
    say("   -> the card is busy %.0f %% of a round trip; pcscd %.0f %%; raw C reached %.0f APDU/s = %.2f x the ceiling",
      rt.card_cpu / rt.wall * 100, rt.pcscd_cpu / rt.wall * 100, rt.c_rate, rt.c_rate / ceiling)
    headline(format("virtual card: ceiling %.0f APDU/s without pcscd; busy %.0f %% of a round trip (%.1f of %.1f us):"
      .. " not the bottleneck: %s", ceiling, rt.card_cpu / rt.wall * 100, us(rt.card_cpu), us(rt.wall),
      (rt.card_cpu / rt.wall < 0.9 and ceiling > rt.c_rate) and "yes" or "NO"))
  end
  say("")
end

-- ---------------------------------------------------------------------------

local t_start = now()
machine()
local sections = {
  { "roundtrips", round_trips }, { "unpinned", unpinned }, { "callgrind", callgrind }, { "lualayer", lua_layer }, { "bulk", bulk },
  { "vcard", vcard }, { "memory", memory }, { "monitor", monitor_idle }, { "idle", idle },
}
for _, s in ipairs(sections) do
  if not skipped(s[1]) then
    local ok, err = pcall(s[2])
    if not ok then
      say("   SECTION %s FAILED: %s", s[1], tostring(err))
      headline(format("%s: FAILED (%s)", s[1], tostring(err):match("[^\n]*")))
      say("")
    end
  end
end

say("== Summary (ratios measured side by side in this run; targets from issue 5)")
for _, h in ipairs(summary) do say(" - %s", h) end
say("")
say("(%.0f s in all)", now() - t_start)
if out_file then out_file:close() end
