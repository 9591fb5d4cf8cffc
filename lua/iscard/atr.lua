--- The answer-to-reset (ISO/IEC 7816-3): decoding, a readable description
-- and identification against pcsc-tools' list of known cards.
--
-- `parse` never raises on a string: a damaged ATR decodes as far as it goes
-- and says what is wrong in `errors`. Every byte it reads is first checked to
-- be there; nothing in the ATR (T0's count, the TDi chain) is trusted to
-- match the length.
-- @module iscard.atr

local util = require "iscard.util"

local byte, format, concat = string.byte, string.format, table.concat
local floor = math.floor

local M = {}

--- Longest ATR ISO 7816-3 allows: TS and at most 32 further bytes.
M.MAX_LENGTH = 33

--- Clock rate conversion integer Fi and the largest clock frequency (MHz),
-- by TA1's high nibble (ISO 7816-3 table 7); reserved indices are absent.
-- @table FI
M.FI = {
  [0] = { f = 372, fmax = 4 }, [1] = { f = 372, fmax = 5 }, [2] = { f = 558, fmax = 6 },
  [3] = { f = 744, fmax = 8 }, [4] = { f = 1116, fmax = 12 }, [5] = { f = 1488, fmax = 16 },
  [6] = { f = 1860, fmax = 20 }, [9] = { f = 512, fmax = 5 }, [10] = { f = 768, fmax = 7.5 },
  [11] = { f = 1024, fmax = 10 }, [12] = { f = 1536, fmax = 15 }, [13] = { f = 2048, fmax = 20 },
}

--- Baud rate adjustment integer Di by TA1's low nibble (ISO 7816-3 table 8);
-- reserved indices are absent.
-- @table DI
M.DI = { [1] = 1, [2] = 2, [3] = 4, [4] = 8, [5] = 16, [6] = 32, [7] = 64, [8] = 12, [9] = 20 }

--- Compact-TLV tags of the historical bytes (ISO 7816-4, 8.1.1).
-- @table COMPACT_TAGS
M.COMPACT_TAGS = {
  [0x1] = "country code and national date",
  [0x2] = "issuer identification number",
  [0x3] = "card service data",
  [0x4] = "initial access data",
  [0x5] = "card issuer's data",
  [0x6] = "pre-issuing data",
  [0x7] = "card capabilities",
  [0x8] = "status indicator",
  [0xF] = "application identifier",
}

--- Clock stop indicator of the first T=15 TA (bits 8-7).
-- @table CLOCK_STOP
M.CLOCK_STOP = { [0] = "not supported", [1] = "state L", [2] = "state H", [3] = "no preference" }

-- Class indicator bits 1..3 of the first T=15 TA: classes A (5 V), B (3 V), C (1.8 V).
local CLASSES = { { 1, "A" }, { 2, "B" }, { 4, "C" } }

local function bit(b, value) return floor(b / value) % 2 == 1 end

-- Historical bytes: the category indicator and what follows it.
local function historical(h)
  local hb = { category = byte(h, 1), objects = {} }
  local n = #h
  if n == 0 then hb.category = nil; return hb end
  local cat = hb.category
  local stop = n -- last byte of the compact-TLV objects
  if cat == 0x00 then
    -- the status indicator is mandatory and the last three bytes
    if n < 4 then
      hb.error = "category 00 needs a 3-byte status indicator at the end"
      stop = n
    else
      stop = n - 3
      hb.lcs = byte(h, n - 2)
      hb.sw = byte(h, n - 1) * 256 + byte(h, n)
    end
  elseif cat == 0x10 then
    if n >= 2 then hb.dir_ref = byte(h, 2) end
    if n ~= 2 then hb.error = "category 10 is followed by exactly one DIR data reference byte" end
    return hb
  elseif cat ~= 0x80 then
    return hb -- proprietary (or reserved 81..8F): nothing more we can say
  end
  local i = 2
  while i <= stop do
    local tl = byte(h, i)
    local tag, len = floor(tl / 16), tl % 16
    if i + len > stop then
      hb.error = format("compact-TLV object %X at byte %d announces %d bytes, %d left", tag, i, len, stop - i)
      break
    end
    local value = h:sub(i + 1, i + len)
    hb.objects[#hb.objects + 1] = { tag = tag, value = value }
    if tag == 0x8 and cat == 0x80 then
      if len == 1 then hb.lcs = byte(value, 1)
      elseif len == 2 then hb.sw = byte(value, 1) * 256 + byte(value, 2)
      elseif len == 3 then hb.lcs, hb.sw = byte(value, 1), byte(value, 2) * 256 + byte(value, 3) end
    end
    i = i + 1 + len
  end
  return hb
end

--- Decodes an ATR.
--
-- Returns a table (see the README for an example):
--
-- * `ts`, `t0`: the first two bytes; `convention` "direct" (3B) or "inverse" (3F)
-- * `interface`: one entry per group i, `{ta=, tb=, tc=, td=}`, absent bytes nil
-- * `protocols`: the protocols offered, sorted (`{0, 1}`); T=0 when TD1 is
--   absent; 15 (global bytes) is not a protocol
-- * `fi`, `di` (TA1's indices, 1 and 1 without TA1), `f`, `d`, `fmax` (MHz)
--   their values, nil for a reserved index
-- * `n`: extra guard time (TC1, default 0); `wi`: T=0 waiting time integer
--   (TC2, default 10)
-- * `specific`: TA2 (specific mode) as `{protocol=, changeable=, implicit=}`, or nil
-- * `t1 = {ifsc=, bwi=, cwi=, edc=}` when T=1 is offered (from the first T=1
--   group; defaults 32, 4, 13, "lrc"; edc "crc" when TC's bit 1 is set)
-- * `class` (the letters of the classes, "AB") and `clock_stop` (a
--   `CLOCK_STOP` text), from TA of the first T=15 group, else nil
-- * `historical`: the historical bytes; `hb`: them decoded, `{category=,
--   objects = {{tag=, value=}...}, lcs=, sw=, dir_ref=, error=}`
-- * `tck`, `tck_ok`: TCK is expected exactly when some TDi names a T other
--   than 0 (T=15 included); `tck_ok` nil when no TCK is expected
-- * `errors`: readable problems (never nil; empty for a good ATR)
--
-- Raises only when `bytes` is not a string.
-- @tparam string bytes the ATR (binary)
-- @treturn[1] table the decoded ATR
-- @return[2] nil
-- @treturn[2] string why it is not an ATR at all (empty, TS not 3B/3F)
function M.parse(bytes)
  if type(bytes) ~= "string" then
    util.misuse("atr.parse: string expected, got %s", util.describe(bytes))
  end
  local n = #bytes
  if n == 0 then return nil, "empty ATR" end
  local ts = byte(bytes, 1)
  if ts ~= 0x3B and ts ~= 0x3F then
    return nil, format("TS %02X is neither 3B (direct) nor 3F (inverse convention)", ts)
  end
  local a = {
    ts = ts, convention = ts == 0x3B and "direct" or "inverse",
    interface = {}, protocols = {}, historical = "", errors = {},
    fi = 1, di = 1, n = 0, wi = 10,
  }
  local errors = a.errors
  local function problem(fmt, ...) errors[#errors + 1] = format(fmt, ...) end
  if n < 2 then
    problem("truncated: T0 is missing")
    return a
  end
  local t0 = byte(bytes, 2)
  a.t0 = t0
  local k = t0 % 16
  local y = floor(t0 / 16)
  local pos = 3 -- next byte to read
  local offered, tck_needed = {}, false
  -- first[T]: the first group whose bytes belong to T, i.e. the group after
  -- the first TDi (i >= 2) naming T (group 2 is global, ISO 7816-3 8.2.3)
  local first = {}
  local truncated = false
  local group = 0
  repeat
    group = group + 1
    local g = {}
    a.interface[group] = g
    for _, name in ipairs { "ta", "tb", "tc", "td" } do
      if y % 2 == 1 then
        if pos > n then
          truncated = true
          problem("truncated: T%s%d is missing", name:sub(2):upper(), group)
          break
        end
        g[name] = byte(bytes, pos)
        pos = pos + 1
      end
      y = floor(y / 2)
    end
    y = 0
    if g.td then
      y = floor(g.td / 16)
      local nt = g.td % 16
      if nt ~= 0 then tck_needed = true end
      if nt ~= 15 then offered[nt] = true end
      if group >= 2 and not first[nt] then first[nt] = group + 1 end
    end
  until y == 0 or truncated
  for tt, i in pairs(first) do first[tt] = a.interface[i] end
  if a.interface[1] and a.interface[1].td == nil then offered[0] = true end
  for p in pairs(offered) do a.protocols[#a.protocols + 1] = p end
  table.sort(a.protocols)

  local g1, g2 = a.interface[1] or {}, a.interface[2] or {}
  if g1.ta then a.fi, a.di = floor(g1.ta / 16), g1.ta % 16 end
  local fi = M.FI[a.fi]
  if fi then a.f, a.fmax = fi.f, fi.fmax end
  a.d = M.DI[a.di]
  if g1.tc then a.n = g1.tc end
  if g2.tc then a.wi = g2.tc end
  if g2.ta then
    a.specific = { protocol = g2.ta % 16, changeable = not bit(g2.ta, 0x80), implicit = bit(g2.ta, 0x10) }
  end
  if offered[1] then
    local g = first[1] or {}
    a.t1 = { ifsc = g.ta or 32, bwi = g.tb and floor(g.tb / 16) or 4, cwi = g.tb and g.tb % 16 or 13,
             edc = (g.tc and g.tc % 2 == 1) and "crc" or "lrc" }
  end
  local g15 = first[15]
  if g15 and g15.ta then
    local classes = {}
    for _, c in ipairs(CLASSES) do
      if bit(g15.ta, c[1]) then classes[#classes + 1] = c[2] end
    end
    a.class = concat(classes)
    a.clock_stop = M.CLOCK_STOP[floor(g15.ta / 64)]
  end

  if not truncated then
    local avail = n - pos + 1
    if avail < k then
      problem("truncated: T0 announces %d historical bytes, %d present", k, avail)
      a.historical = bytes:sub(pos)
      pos = n + 1
    else
      a.historical = bytes:sub(pos, pos + k - 1)
      pos = pos + k
    end
    if tck_needed then
      if pos > n then
        problem("TCK is missing (required: a protocol other than T=0 is indicated)")
      else
        a.tck = byte(bytes, pos)
        local x = 0
        for i = 2, pos do x = util.xor_byte(x, byte(bytes, i)) end
        a.tck_ok = x == 0
        if not a.tck_ok then
          local want = util.xor_byte(x, a.tck)
          problem("wrong TCK %02X (expected %02X)", a.tck, want)
        end
        pos = pos + 1
      end
    end
    if pos <= n then
      problem("%d extra byte%s after the ATR", n - pos + 1, n - pos + 1 == 1 and "" or "s")
    end
  end
  a.hb = historical(a.historical)
  if n > M.MAX_LENGTH then problem("%d bytes: longer than %d", n, M.MAX_LENGTH) end
  return a
end

local function hex(s) return util.tohex(s, " ") end

local function nibbles(b) return floor(b / 16), b % 16 end

--- A readable multi-line description of an ATR, in the manner of pcsc-tools'
-- ATR_analysis: TS, T0, every interface byte with its meaning, the
-- historical bytes, TCK and the problems found.
-- @tparam string|table atr the ATR bytes, or what `parse` returned
-- @treturn[1] string the description (lines end with "\n")
-- @return[2] nil
-- @treturn[2] string why `bytes` is not an ATR
function M.format(atr)
  local a = atr
  if type(atr) == "string" then
    local msg
    a, msg = M.parse(atr)
    if not a then return nil, msg end
  elseif type(atr) ~= "table" or type(atr.interface) ~= "table" then
    util.misuse("atr.format: ATR string or parsed ATR expected, got %s", util.describe(atr))
  end
  local out = {}
  local function line(fmt, ...) out[#out + 1] = format(fmt, ...) end
  line("TS = %02X: %s convention", a.ts, a.convention)
  if a.t0 then
    local y, k = nibbles(a.t0)
    line("T0 = %02X: Y1 = %X, K = %d historical byte%s", a.t0, y, k, k == 1 and "" or "s")
  end
  local t = 0
  for i, g in ipairs(a.interface) do
    local what = i == 1 and "global" or (i == 2 and "global, T=0 group" or format("T=%d", t))
    if i == 2 then what = format("after TD1 (T=%d)", t) end
    if g.ta then
      local d
      if i == 1 then
        d = format("Fi = %s, Di = %s, fmax = %s MHz", tostring(a.f or "reserved"),
          tostring(a.d or "reserved"), tostring(a.fmax or "?"))
      elseif i == 2 then
        local s = a.specific
        d = format("specific mode: T=%d, %s, parameters %s", s.protocol,
          s.changeable and "changeable" or "not changeable", s.implicit and "implicit" or "from TA1")
      elseif t == 15 then
        d = format("clock stop: %s, class: %s", M.CLOCK_STOP[floor(g.ta / 64)],
          a.class ~= "" and a.class or "none")
      elseif t == 1 then
        d = format("IFSC = %d", g.ta)
      else
        d = what
      end
      line("TA%d = %02X: %s", i, g.ta, d)
    end
    if g.tb then
      local d = what
      if i == 1 or i == 2 then d = "programming voltage (deprecated)"
      elseif t == 1 then d = format("BWI = %d, CWI = %d", nibbles(g.tb)) end
      line("TB%d = %02X: %s", i, g.tb, d)
    end
    if g.tc then
      local d = what
      if i == 1 then d = format("extra guard time N = %d", g.tc)
      elseif i == 2 then d = format("T=0 waiting time integer WI = %d", g.tc)
      elseif t == 1 then d = g.tc % 2 == 1 and "error detection: CRC" or "error detection: LRC" end
      line("TC%d = %02X: %s", i, g.tc, d)
    end
    if g.td then
      t = g.td % 16
      line("TD%d = %02X: Y%d = %X, T = %d%s", i, g.td, i + 1, floor(g.td / 16), t,
        t == 15 and " (global interface bytes)" or "")
    end
  end
  local ps = {}
  for _, p in ipairs(a.protocols) do ps[#ps + 1] = "T=" .. p end
  line("protocols: %s", #ps > 0 and concat(ps, ", ") or "none")
  if #a.historical > 0 then
    line("historical bytes: %s", hex(a.historical))
    local hb = a.hb
    local cats = { [0x00] = "compact-TLV, status indicator at the end", [0x10] = "DIR data reference",
                   [0x80] = "compact-TLV" }
    local c = hb.category
    line("  category %02X: %s", c, cats[c] or (c >= 0x81 and c <= 0x8F and "reserved" or "proprietary"))
    for _, o in ipairs(hb.objects) do
      line("  tag %X (%s): %s", o.tag, M.COMPACT_TAGS[o.tag] or "unknown", hex(o.value))
    end
    if hb.dir_ref then line("  DIR data reference %02X", hb.dir_ref) end
    if hb.lcs then line("  life cycle status %02X", hb.lcs) end
    if hb.sw then line("  status word %04X", hb.sw) end
    if hb.error then line("  problem: %s", hb.error) end
  end
  if a.tck then line("TCK = %02X: %s", a.tck, a.tck_ok and "correct" or "wrong") end
  for _, e in ipairs(a.errors) do line("problem: %s", e) end
  return concat(out, "\n") .. "\n"
end

--- pcsc-tools' list of known ATRs, where Debian's pcsc-tools installs it.
M.LIST = "/usr/share/pcsc/smartcard_list.txt"

-- A pattern line of smartcard_list.txt as a list of byte matchers: hex
-- pairs whose digits are a hex digit, `.` (any) or `[...]` (a class of
-- digits, with ranges `a-b`; a `,` between members is ignored). Returns
-- nil for a line that is not such a pattern.
local function compile(line)
  local digits = {}
  local i, n = 1, #line
  while i <= n do
    local c = line:sub(i, i)
    if c:match("%x") then
      digits[#digits + 1] = { [tonumber(c, 16)] = true }
      i = i + 1
    elseif c == "." then
      digits[#digits + 1] = true
      i = i + 1
    elseif c == "[" then
      local close = line:find("]", i + 1, true)
      if not close then return nil end
      local set = {}
      local body = line:sub(i + 1, close - 1)
      local j = 1
      while j <= #body do
        local a, b = body:match("^(%x)%-(%x)", j)
        if a then
          for v = tonumber(a, 16), tonumber(b, 16) do set[v] = true end
          j = j + 3
        else
          local d = body:sub(j, j)
          if d:match("%x") then set[tonumber(d, 16)] = true
          elseif d ~= "," and d ~= " " then return nil end
          j = j + 1
        end
      end
      digits[#digits + 1] = set
      i = close + 1
    elseif c == " " or c == "\t" or c == "\r" then
      i = i + 1
    else
      return nil
    end
  end
  if #digits == 0 or #digits % 2 ~= 0 then return nil end
  return digits
end

local function matches(digits, h)
  if #digits ~= #h then return false end
  for i = 1, #digits do
    local d = digits[i]
    if d ~= true and not d[tonumber(h:sub(i, i), 16)] then return false end
  end
  return true
end

--- The descriptions of the cards whose pattern in pcsc-tools'
-- `smartcard_list.txt` matches `bytes`: a pattern line is the ATR in hex,
-- where a digit may be `.` (any) or a class `[...]`, followed by lines
-- starting with a tab, one description each. Case is ignored in the hex.
-- @tparam string bytes the ATR (binary)
-- @tparam[opt] string path the list (default `LIST`)
-- @treturn[1] table the descriptions, in file order; empty when nothing
--   matches or the default list is not installed
-- @return[2] nil
-- @treturn[2] string why a list given by `path` could not be read
function M.identify(bytes, path)
  if type(bytes) ~= "string" then
    util.misuse("atr.identify: string expected, got %s", util.describe(bytes))
  end
  if path ~= nil and type(path) ~= "string" then
    util.misuse("atr.identify: path string or nil expected, got %s", util.describe(path))
  end
  local found = {}
  local f, err = io.open(path or M.LIST, "r")
  if not f then
    if path == nil then return found end
    return nil, err
  end
  local h = util.tohex(bytes)
  local matching = false
  for l in f:lines() do
    local first = l:sub(1, 1)
    if first == "\t" then
      if matching then found[#found + 1] = (l:gsub("^\t+", ""):gsub("%s+$", "")) end
    elseif first == "#" then -- luacheck: ignore 542
      -- a comment: neither ends nor starts an entry
    elseif l:match("^%s*$") then
      matching = false
    else
      local digits = compile(l:upper())
      matching = digits ~= nil and matches(digits, h)
    end
  end
  f:close()
  return found
end

return M
