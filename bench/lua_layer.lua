#!/usr/bin/env lua5.4
--- lua_layer.lua -- the pure-Lua APDU layer alone (no PC/SC, no card):
-- every ISCardISO7816 builder, encoding (reading Apdu), parsing (writing
-- Apdu), reply parsing (ApduReply, ReplyStatus, ReplyData), iscard.sw.text,
-- and a whole Transaction against an in-memory transmit.
--
-- usage: lua5.4 bench/lua_layer.lua [--quick] [--profile]
--   --quick    shorter runs (smoke test)
--   --profile  always print the profile (otherwise only when the 2 us
--              build+parse target is missed)
--
-- Timing is CPU time (os.clock), each operation run for >= 50 ms (10 ms with
-- --quick) per round; rounds go over all operations in turn (interleaved),
-- and each figure is the median over the rounds.  Garbage is what
-- collectgarbage("count") grows by per operation with the collector stopped.
-- The profile counts Lua VM instructions per source line with a count hook
-- (count = 1: exact, not sampled) and function calls with a call hook; time
-- spent inside C functions (string.format, table.concat...) is not VM
-- instructions, so the call counts are printed next to them.
-- The last line is machine-readable for bench/bench.lua.
local dir = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/.."
package.path = dir .. "/lua/?.lua;" .. dir .. "/lua/?/init.lua;" .. package.path
package.cpath = dir .. "/build/?.so;" .. package.cpath

local quick, force_profile = false, false
for _, a in ipairs(arg) do
  if a == "--quick" then quick = true elseif a == "--profile" then force_profile = true
  else error("unknown argument " .. a) end
end

local iscard = require "iscard"
local sw = iscard.sw

local format = string.format
local TARGET_US = 2.0
local MIN_RUN = quick and 0.01 or 0.05
local ROUNDS = quick and 3 or 7

local iso = iscard.ISCardISO7816()
local cmd, cmd2 = iscard.ISCardCmd(), iscard.ISCardCmd()
local d16 = ("\x5A"):rep(16)
local d8 = ("\x11"):rep(8)
local aid = "\xA0\x00\x00\x00\x03\x10\x10"
local reply = ("\x42"):rep(16) .. "\x90\x00"

-- The builders, with valid arguments, all into the reused `cmd`.
local builders = {
  { "AppendRecord", function(c) return iso:AppendRecord(0x00, d16, c) end },
  { "EraseBinary", function(c) return iso:EraseBinary(0x00, 0x10, nil, c) end },
  { "ExternalAuthenticate", function(c) return iso:ExternalAuthenticate(0x00, 0x00, d8, c) end },
  { "GetChallenge", function(c) return iso:GetChallenge(8, c) end },
  { "GetData", function(c) return iso:GetData(0x00, 0x6E, 0, c) end },
  { "GetResponse", function(c) return iso:GetResponse(0x00, 0x00, 0x20, c) end },
  { "InternalAuthenticate", function(c) return iso:InternalAuthenticate(0x00, 0x00, d8, 0, c) end },
  { "ManageChannel", function(c) return iso:ManageChannel(0x00, 0x00, c) end },
  { "PutData", function(c) return iso:PutData(0x01, 0x01, d16, c) end },
  { "ReadBinary", function(c) return iso:ReadBinary(0x00, 0x00, 256, c) end },
  { "ReadRecord", function(c) return iso:ReadRecord(0x01, 0x04, 0, c) end },
  { "SelectFile", function(c) return iso:SelectFile(0x04, 0x00, aid, 256, c) end },
  { "UpdateBinary", function(c) return iso:UpdateBinary(0x00, 0x00, d16, c) end },
  { "UpdateRecord", function(c) return iso:UpdateRecord(0x01, 0x04, d16, c) end },
  { "Verify", function(c) return iso:Verify(0x80, d8, c) end },
  { "WriteBinary", function(c) return iso:WriteBinary(0x00, 0x00, d16, c) end },
  { "WriteRecord", function(c) return iso:WriteRecord(0x01, 0x04, d16, c) end },
  { "envelope", function(c) return iso:envelope(d16, 0, c) end },
}

-- Operations to time: name -> function doing one operation.
local ops, order = {}, {}
local function op(name, f) ops[name] = f; order[#order + 1] = name end

for _, b in ipairs(builders) do
  local name, build = b[1], b[2]
  local bytes = build(cmd).Apdu
  op(name .. " build+encode", function() build(cmd); return cmd.Apdu end)
  op(name .. " parse", function() cmd2.Apdu = bytes end)
end
op("SetDefaultClassId", function() iso:SetDefaultClassId(0x00) end)
op("ReadBinary build, new ISCardCmd", function() return iso:ReadBinary(0, 0, 256).Apdu end)
op("ISCardCmd:BuildCmd + encode", function() cmd:BuildCmd(0x00, 0xB0, 0, 0, nil, 256); return cmd.Apdu end)
op("reply: ApduReply= ReplyStatus ReplyData", function()
  cmd.ApduReply = reply
  return cmd.ReplyStatus, cmd.ReplyData
end)
op("sw.text(0x9000)", function() return sw.text(0x9000) end)
op("sw.text(0x6A82)", function() return sw.text(0x6A82) end)
op("sw.text(0x63C2)", function() return sw.text(0x63C2) end)
op("sw.text(cmd)", function() return sw.text(cmd) end)

-- ISCard's Transaction (transaction.lua), installed on an in-memory card
-- whose transmit answers as ISCard's does (the reply and its status word):
-- everything Transaction does in Lua, nothing of PC/SC.
local fake_card = {}
local fake_methods = { transmit = function(_, _) return reply, 0x9000 end }
require("iscard.transaction").install(fake_methods)
local Transaction = fake_methods.Transaction
local tcmd = iscard.ISCardCmd()
tcmd.Apdu = "\x80\xEE\x00\x00\x10" .. d16 .. "\x00"
op("Transaction, in-memory transmit", function() return Transaction(fake_card, tcmd) end)
op("  for scale: 2 table allocs + closure", function()
  local t = { a = 1 }; local u = {}; return function() return t, u end
end)

-- Calibrate: iterations for >= MIN_RUN seconds.
local iters = {}
for _, name in ipairs(order) do
  local f, k = ops[name], 100
  while true do
    local c0 = os.clock()
    for _ = 1, k do f() end
    if os.clock() - c0 >= MIN_RUN / 4 then break end
    k = k * 2
  end
  iters[name] = k * 4
end

local samples = {}
for _, name in ipairs(order) do samples[name] = {} end
for _ = 1, ROUNDS do
  for _, name in ipairs(order) do
    local f, k = ops[name], iters[name]
    local c0 = os.clock()
    for _ = 1, k do f() end
    local s = samples[name]
    s[#s + 1] = (os.clock() - c0) / k * 1e9
  end
end

local function median(v)
  local t = table.move(v, 1, #v, 1, {})
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

-- Bytes allocated per operation, collector stopped.
local function garbage(f)
  local n = 2000
  f()
  collectgarbage("collect")
  collectgarbage("stop")
  local k0 = collectgarbage("count")
  for _ = 1, n do f() end
  local k1 = collectgarbage("count")
  collectgarbage("restart")
  collectgarbage("collect")
  return (k1 - k0) * 1024 / n
end

local ns, bytes = {}, {}
for _, name in ipairs(order) do
  ns[name] = median(samples[name])
  bytes[name] = garbage(ops[name])
end

print(format("Lua %s, %d rounds; ns/op = median CPU time; B/op = bytes allocated",
  _VERSION, ROUNDS))
print("")
print(format("  %-24s %10s %10s %10s %12s %8s", "builder", "build+enc", "parse", "sum ns", "ops/s(sum)",
  "B/op"))
local sums = {}
for _, b in ipairs(builders) do
  local n1, n2 = ns[b[1] .. " build+encode"], ns[b[1] .. " parse"]
  local g = bytes[b[1] .. " build+encode"] + bytes[b[1] .. " parse"]
  sums[#sums + 1] = n1 + n2
  print(format("  %-24s %10.0f %10.0f %10.0f %12.0f %8.0f", b[1], n1, n2, n1 + n2, 1e9 / (n1 + n2), g))
end
local med, worst, best = median(sums), math.max(table.unpack(sums)), math.min(table.unpack(sums))
print("")
print(format("  %-42s %10s %12s %8s", "other operations", "ns/op", "ops/s", "B/op"))
for _, name in ipairs(order) do
  if not name:find(" build%+encode$") and not name:find(" parse$") then
    print(format("  %-42s %10.0f %12.0f %8.0f", name, ns[name], 1e9 / ns[name], bytes[name]))
  end
end
print("")
local verdict = worst / 1000 < TARGET_US and "met" or "MISSED"
print(format("  build+parse (builder + read Apdu + write Apdu): median %.2f us, best %.2f, worst %.2f"
  .. " -> target < %.1f us %s (worst %.2fx the target)", med / 1000, best / 1000, worst / 1000,
  TARGET_US, verdict, worst / 1000 / TARGET_US))
local full = ns["ReadBinary build+encode"] + ns["ReadBinary parse"]
  + ns["reply: ApduReply= ReplyStatus ReplyData"] + ns["sw.text(0x9000)"]
print(format("  ReadBinary build + encode + parse + reply + ReplyStatus + sw.text: %.2f us", full / 1000))
print(format("  Transaction Lua layer alone (in-memory transmit): %.2f us",
  ns["Transaction, in-memory transmit"] / 1000))

-- ---------------------------------------------------------------------------
-- Profile: exact VM instruction counts per line and call counts.

local function profile(label, f, n)
  f()
  local lines, calls, total = {}, {}, 0
  local getinfo = debug.getinfo
  local function hook(ev)
    if ev == "count" then
      local i = getinfo(2, "Sl")
      if i and i.currentline and i.currentline > 0 then
        local k = i.short_src .. ":" .. i.currentline
        lines[k] = (lines[k] or 0) + 1
        total = total + 1
      end
    else -- call / tail call
      local i = getinfo(2, "nS")
      local k
      if i.what == "C" then k = "[C] " .. (i.name or "?")
      else k = (i.name or "?") .. " " .. i.short_src:match("[^/]*$") .. ":" .. i.linedefined end
      calls[k] = (calls[k] or 0) + 1
    end
  end
  debug.sethook(hook, "c", 1)
  for _ = 1, n do f() end
  debug.sethook()
  -- the hook counts instructions of `profile`'s loop too; keep lua/iscard only
  local rows = {}
  local mine = 0
  for k, v in pairs(lines) do
    if k:find("iscard/", 1, true) then rows[#rows + 1] = { k, v / n }; mine = mine + v end
  end
  table.sort(rows, function(a, b) return a[2] > b[2] end)
  print("")
  print(format("  profile of %s: %.0f VM instructions per op in lua/iscard/*.lua", label, mine / n))
  print(format("  %8s  %s", "instr/op", "line"))
  local src_cache = {}
  local function source_line(k)
    local file, ln = k:match("^(.*):(%d+)$")
    local path = file:gsub("^%.%.%.", "")
    if not src_cache[file] then
      local t = {}
      local fh = io.open(dir .. "/lua/iscard/" .. path:match("([^/]+)$"))
      if fh then for l in fh:lines() do t[#t + 1] = l end fh:close() end
      src_cache[file] = t
    end
    return (src_cache[file][tonumber(ln)] or ""):gsub("^%s+", ""):sub(1, 70)
  end
  for i = 1, math.min(12, #rows) do
    local k = rows[i][1]
    print(format("  %8.1f  %-22s %s", rows[i][2], k:match("([^/]+:%d+)$"), source_line(k)))
  end
  local crow = {}
  local ncalls = 0
  for k, v in pairs(calls) do
    if not k:find("lua_layer.lua", 1, true) and k ~= "[C] sethook" then
      crow[#crow + 1] = { k, v / n }
      ncalls = ncalls + v
    end
  end
  table.sort(crow, function(a, b) return a[2] > b[2] end)
  print(format("  %.1f function calls per op; the most frequent:", ncalls / n))
  for i = 1, math.min(12, #crow) do
    print(format("  %8.1f  %s", crow[i][2], crow[i][1]))
  end
end

if force_profile or verdict ~= "met" or ns["Transaction, in-memory transmit"] / 1000 > 1 then
  local b = builders[10][2] -- ReadBinary
  local bytes10 = b(cmd).Apdu
  profile("ReadBinary build + encode + parse", function() b(cmd); local _ = cmd.Apdu; cmd2.Apdu = bytes10 end, 2000)
  profile("Transaction (in-memory transmit)", function() return Transaction(fake_card, tcmd) end, 2000)
end

print("")
print(format("RESULT buildparse_median_us=%.4f buildparse_worst_us=%.4f buildparse_best_us=%.4f"
  .. " transaction_lua_us=%.4f reply_us=%.4f swtext_us=%.4f full_us=%.4f",
  med / 1000, worst / 1000, best / 1000, ns["Transaction, in-memory transmit"] / 1000,
  ns["reply: ApduReply= ReplyStatus ReplyData"] / 1000, ns["sw.text(0x6A82)"] / 1000, full / 1000))
