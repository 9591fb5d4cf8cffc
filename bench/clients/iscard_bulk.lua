--- The 64 KiB EF of bench/cards/bulk.lua through iscard: ISCardISO7816
-- builders (one reused ISCardCmd) and card:Transaction -- the same APDUs as
-- bench/bulk_c.c sends, see there for the modes.
--
-- usage: lua5.4 bench/clients/iscard_bulk.lua READER REPS MODE...
-- prints per mode: mode= reps= apdus= wall_s= cpu_s= ok=  (medians)
local C = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/common.lua")
local iscard = require "iscard"

local reader, reps = arg[1], math.tointeger(tonumber(arg[2]))
assert(reader and reps and arg[3], "usage: iscard_bulk.lua READER REPS MODE...")

local SIZE, UNIT, EXT, SHORT_READ, SHORT_WRITE = 65536, 2, 32768, 256, 254
local card = C.attach(reader)
local iso, cmd = iscard.ISCardISO7816(), iscard.ISCardCmd()
local apdus = 0
local CHAIN = { chaining = true }

local function send(opts)
  local ok, msg = card:Transaction(cmd, opts)
  if not ok then error(msg) end
  if cmd.ReplyStatus ~= 0x9000 then error(iscard.sw.text(cmd)) end
end

local function read_all(chunk)
  local parts = {}
  for off = 0, SIZE - 1, chunk do
    local u = off // UNIT
    iso:ReadBinary(u >> 8, u & 0xFF, math.min(chunk, SIZE - off), cmd)
    send()
    apdus = apdus + 1
    parts[#parts + 1] = cmd.ReplyData
  end
  return table.concat(parts)
end

local function write_all(chunk, data, opts)
  for off = 0, SIZE - 1, chunk do
    local u = off // UNIT
    iso:UpdateBinary(u >> 8, u & 0xFF, data:sub(off + 1, off + chunk), cmd)
    send(opts)
    apdus = apdus + (opts and (math.min(chunk, SIZE - off) + 254) // 255 or 1)
  end
end

local modes = {
  ["read-ext"] = function() return read_all(EXT) end,
  ["read-short"] = function() return read_all(SHORT_READ) end,
  ["write-ext"] = function(data) write_all(EXT, data) return data end,
  ["write-short"] = function(data) write_all(SHORT_WRITE, data) return data end,
  ["write-chain"] = function(data) write_all(EXT, data, CHAIN) return data end,
}

local function pattern(seed)
  local t = {}
  for i = 0, 255 do t[i + 1] = string.char((i * 13 + seed) & 0xFF) end
  return (table.concat(t):rep(SIZE // 256))
end

local function median(v)
  table.sort(v)
  local n = #v
  return n % 2 == 1 and v[(n + 1) // 2] or (v[n // 2] + v[n // 2 + 1]) / 2
end

iso:SelectFile(0x00, 0x0C, "\xE1\x01", nil, cmd)
send()

local all_ok = true
for i = 3, #arg do
  local name = arg[i]
  local f = assert(modes[name], "unknown mode " .. name)
  local wall, cpu, ok, per, seed = {}, {}, true, 0, 0
  for r = 0, reps do -- r = 0: warm-up
    local data
    if name:sub(1, 5) == "write" then seed = seed + 1; data = pattern(seed) end
    apdus = 0
    local t0, c0 = C.now(), C.cpu()
    local got = f(data)
    local dc, dt = C.cpu() - c0, C.now() - t0
    if r > 0 then wall[r], cpu[r] = dt, dc end
    per = apdus
    if read_all(EXT) ~= got then ok = false end -- untimed check
  end
  all_ok = all_ok and ok
  C.emit({ mode = name, reps = reps, apdus = per, wall_s = median(wall), cpu_s = median(cpu), ok = ok and 1 or 0 },
    { "mode", "reps", "apdus", "wall_s", "cpu_s", "ok" })
end
card:close()
os.exit(all_ok and 0 or 1)
