--- callgrind.lua -- reads callgrind output files and splits the instruction
-- counts (Ir) by ELF object into the parts the benchmark reports:
--
--   "iscard C"   build/iscard/core.so
--   "Lua"        liblua5.4 and the lua5.4 executable: the interpreter running
--                our modules (and the Lua API calls core.so makes)
--   "pcsc-lite"  libpcsclite.so
--   "client"     a C client's own code (bench/raw_transmit)
--   "Python"     the python3 interpreter and pyscard's SWIG module
--   "other"      everything else (vcard_io.so, libm, libreadline...)
--
-- libc, the dynamic loader and the vdso are not a part of their own: the
-- inclusive cost of each call into them is charged to the caller's part
-- (memcpy for pcsc-lite, malloc for Lua...).  What they spend on their own
-- (start-up, calls from libc into libc) stays under "libc".
--
-- Format notes (valgrind's callgrind format, version 1): names are
-- compressed as "(id) name" on first use and "(id)" afterwards; `cob=` is
-- written only when the callee's object differs from the caller's; the cost
-- line after `calls=` is the call's inclusive cost, not the caller's own.
local M = {}

local function part_of(obj)
  if obj:find("iscard/core%.so$") then return "iscard C" end
  if obj:find("liblua5%.4") or obj:find("/lua5%.4$") then return "Lua" end
  if obj:find("libpcsclite") then return "pcsc-lite" end
  if obj:find("raw_transmit$") or obj:find("bulk_c$") then return "client" end
  if obj:find("/python3[%.%d]*$") or obj:find("libpython") or obj:find("_scard") then return "Python" end
  if obj:find("/libc%.so") or obj:find("/ld%-linux") or obj == "???" or obj:find("vdso")
    or obj:find("libpthread") then
    return "libc"
  end
  return "other"
end
M.part_of = part_of

--- Parses one callgrind output file.
-- @return { total = Ir, parts = {part -> Ir}, fns = {"part|fn" -> self Ir},
--   edges = {"callerpart>calleepart" -> inclusive Ir} }
function M.parse(path)
  local f = assert(io.open(path))
  local names = { ob = {}, fl = {}, fn = {} }
  local kind_of = { ob = "ob", cob = "ob", fl = "fl", fi = "fl", fe = "fl", cfi = "fl", cfl = "fl",
                    fn = "fn", cfn = "fn" }
  local function resolve(kind, v)
    local id, name = v:match("^%((%d+)%)%s*(.*)$")
    if not id then return v end
    local t = names[kind]
    if name ~= "" then t[id] = name; return name end
    return t[id] or ("(" .. id .. ")")
  end
  local ob, fn, cob, cfn = "???", "???", nil, nil
  local in_call = false
  -- edges: "callerpart>calleepart>calleefn" -> inclusive Ir (between parts);
  -- libc_calls: libc fn -> set of libc fns it calls (to find re-entry)
  local r = { total = 0, parts = {}, fns = {}, edges = {}, libc_calls = {}, reenters = {} }
  local parts, fns, edges = r.parts, r.fns, r.edges
  local npos = 1 -- "positions: line" (the default); "instr line" with --dump-instr
  for line in f:lines() do
    local c = line:byte(1)
    if c and (c >= 48 and c <= 57 or c == 43 or c == 45 or c == 42) then -- digit + - *
      local i, cost = 0, nil
      for w in line:gmatch("%S+") do
        i = i + 1
        if i == npos + 1 then cost = w; break end
      end
      cost = tonumber(cost) or 0
      if in_call then
        in_call = false
        local from, to = part_of(ob), part_of(cob or ob)
        if from ~= to then
          local k = from .. ">" .. to .. ">" .. (cfn or "?")
          edges[k] = (edges[k] or 0) + cost
          if from == "libc" then r.reenters[fn] = true end
        elseif from == "libc" and cfn then
          local t = r.libc_calls[fn] or {}
          r.libc_calls[fn] = t
          t[cfn] = true
        end
        cob, cfn = nil, nil
      else
        local p = part_of(ob)
        parts[p] = (parts[p] or 0) + cost
        local k = p .. "|" .. fn
        fns[k] = (fns[k] or 0) + cost
        r.total = r.total + cost
      end
    else
      local key, val = line:match("^(%a+)=(.*)$")
      if not key and line:find("^positions:") then
        npos = 0
        for _ in line:sub(11):gmatch("%S+") do npos = npos + 1 end
      end
      if key then
        if key == "calls" then in_call = true
        elseif key == "ob" then ob = resolve("ob", val)
        elseif key == "fn" then fn = resolve("fn", val)
        elseif key == "cob" then cob = resolve("ob", val)
        elseif key == "cfn" then cfn = resolve("fn", val)
        elseif kind_of[key] then resolve(kind_of[key], val) -- keep the name table complete
        end
      end
    end
  end
  f:close()
  return r
end

local ORDER = { "iscard C", "Lua", "pcsc-lite", "client", "Python", "other", "libc" }
M.ORDER = ORDER

-- libc functions that (directly or through other libc functions) call back
-- into another part: __libc_start_main calling main, above all.  A call into
-- one of them is not charged to the caller, or the whole program would be.
local function reentrant(r)
  local set = {}
  for f in pairs(r.reenters) do set[f] = true end
  local changed = true
  while changed do
    changed = false
    for f, callees in pairs(r.libc_calls) do
      if not set[f] then
        for g in pairs(callees) do
          if set[g] then set[f] = true; changed = true; break end
        end
      end
    end
  end
  return set
end

--- Parts with libc's cost charged to its callers.
function M.attributed(r)
  local a = {}
  for p, v in pairs(r.parts) do a[p] = v end
  local re = reentrant(r)
  for k, v in pairs(r.edges) do
    local from, to, callee = k:match("^(.-)>(.-)>(.*)$")
    if to == "libc" and from ~= "libc" and not re[callee] then
      a[from] = (a[from] or 0) + v
      a.libc = (a.libc or 0) - v
    end
  end
  return a
end

--- Per-operation costs from a run of n and one of 2n operations:
-- (cost(2n) - cost(n)) / n for the total, each part, and each function.
function M.per_op(r1, r2, n)
  local a1, a2 = M.attributed(r1), M.attributed(r2)
  local out = { total = (r2.total - r1.total) / n, parts = {}, fns = {}, edges = {} }
  for _, p in ipairs(ORDER) do out.parts[p] = ((a2[p] or 0) - (a1[p] or 0)) / n end
  for k, v in pairs(r2.fns) do out.fns[k] = (v - (r1.fns[k] or 0)) / n end
  for k, v in pairs(r2.edges) do
    local from, to = k:match("^(.-)>(.-)>")
    local e = from .. ">" .. to
    out.edges[e] = (out.edges[e] or 0) + (v - (r1.edges[k] or 0)) / n
  end
  return out
end

--- Instructions per op of calls from `part` into the allocator (malloc,
-- free, realloc, calloc, inclusive).
function M.alloc(per_edges_raw1, per_edges_raw2, part, n)
  local function sum(edges)
    local t = 0
    for k, v in pairs(edges) do
      local from, to, callee = k:match("^(.-)>(.-)>(.*)$")
      if from == part and to == "libc" and (callee == "malloc" or callee == "free"
          or callee == "realloc" or callee == "calloc") then
        t = t + v
      end
    end
    return t
  end
  return (sum(per_edges_raw2) - sum(per_edges_raw1)) / n
end

--- The `k` functions of `part` with the most own instructions per op.
function M.top(per, part, k)
  local rows = {}
  for key, v in pairs(per.fns) do
    local p, fn = key:match("^(.-)|(.*)$")
    if p == part and v >= 0.5 then rows[#rows + 1] = { fn, v } end
  end
  table.sort(rows, function(a, b) return a[2] > b[2] end)
  local out = {}
  for i = 1, math.min(k, #rows) do out[i] = rows[i] end
  return out
end

return M
