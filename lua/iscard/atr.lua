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

local function nibbles(b) return floor(b / 16), b % 16 end

-- The XOR of the bytes from T0 (the second) to `last`.
local function xor_t0_to(s, last)
  local x = 0
  for i = 2, last do x = util.xor_byte(x, byte(s, i)) end
  return x
end

--- The check byte TCK that completes `bytes`: the XOR of every byte from T0
-- (the second) to the last (ISO 7816-3 8.2.5). Appended to an ATR without
-- TCK it makes the XOR of T0 .. TCK zero.
-- @tparam string bytes an ATR without its TCK (binary)
-- @treturn integer 0..255
function M.tck(bytes)
  if type(bytes) ~= "string" then
    util.misuse("atr.tck: string expected, got %s", util.describe(bytes))
  end
  return xor_t0_to(bytes, #bytes)
end

-- What each interface byte means, by the group it is in: `global1` (group
-- 1), `global2` (group 2, whatever TD1 says: ISO 7816-3 8.2.3) or `t<T>` for
-- a group i >= 3, where T is what TD(i-1) names. `set(a, b)` writes what the
-- byte says into the parsed ATR `a` (from the first group of its kind only),
-- `say(a, b)` describes it for `format`; a byte with neither is described by
-- its protocol ("T=4").
local function vpp() return "programming voltage (deprecated)" end
local MEANING = {
  ta = {
    global1 = {
      set = function(a, b) a.fi, a.di = nibbles(b) end,
      say = function(a)
        return format("Fi = %s, Di = %s, fmax = %s MHz", tostring(a.f or "reserved"),
          tostring(a.d or "reserved"), tostring(a.fmax or "?"))
      end,
    },
    global2 = {
      set = function(a, b)
        a.specific = { protocol = b % 16, changeable = not bit(b, 0x80), implicit = bit(b, 0x10) }
      end,
      say = function(a)
        local s = a.specific
        return format("specific mode: T=%d, %s, parameters %s", s.protocol,
          s.changeable and "changeable" or "not changeable", s.implicit and "implicit" or "from TA1")
      end,
    },
    t1 = {
      set = function(a, b) a.t1.ifsc = b end,
      say = function(_, b) return format("IFSC = %d", b) end,
    },
    t15 = {
      set = function(a, b)
        local classes = {}
        for _, c in ipairs(CLASSES) do
          if bit(b, c[1]) then classes[#classes + 1] = c[2] end
        end
        a.class = concat(classes)
        a.clock_stop = M.CLOCK_STOP[floor(b / 64)]
      end,
      say = function(a, b)
        return format("clock stop: %s, class: %s", M.CLOCK_STOP[floor(b / 64)], a.class ~= "" and a.class or "none")
      end,
    },
  },
  tb = {
    global1 = { say = vpp },
    global2 = { say = vpp },
    t1 = {
      set = function(a, b) a.t1.bwi, a.t1.cwi = nibbles(b) end,
      say = function(_, b) return format("BWI = %d, CWI = %d", nibbles(b)) end,
    },
  },
  tc = {
    global1 = {
      set = function(a, b) a.n = b end,
      say = function(_, b) return format("extra guard time N = %d", b) end,
    },
    global2 = {
      set = function(a, b) a.wi = b end,
      say = function(_, b) return format("T=0 waiting time integer WI = %d", b) end,
    },
    t1 = {
      set = function(a, b) a.t1.edc = b % 2 == 1 and "crc" or "lrc" end,
      say = function(_, b) return b % 2 == 1 and "error detection: CRC" or "error detection: LRC" end,
    },
  },
  td = {},
}

-- The interface bytes of a group, in the order they come.
local NAMES = { "ta", "tb", "tc", "td" }

-- The kind of group i (a key of MEANING's tables) when the TD before it
-- named protocol t.
local function kind(i, t)
  if i == 1 then return "global1" elseif i == 2 then return "global2" end
  return "t" .. t
end

-- Why X, due at byte `pos`, is not read: "truncated: X is missing" when
-- the string, `n` bytes, is not longer than an ATR; else that X would lie
-- beyond the longest ATR.
local function missing(what, pos, n)
  if n <= M.MAX_LENGTH then return format("truncated: %s is missing", what) end
  return format("%s would be byte %d, past the longest ATR (%d bytes): not decoded", what, pos, M.MAX_LENGTH)
end

-- Reads the groups of interface bytes into `a.interface`, never past byte
-- `limit`. Returns the position after them, or nil when they are cut short
-- (said in `a.errors`).
local function read_interface(a, bytes, limit)
  local y = floor(a.t0 / 16)
  local pos, group = 3, 0
  repeat
    group = group + 1
    local g = {}
    a.interface[group] = g
    for _, name in ipairs(NAMES) do
      if y % 2 == 1 then
        if pos > limit then
          a.errors[#a.errors + 1] = missing(format("T%s%d", name:sub(2):upper(), group), pos, #bytes)
          return nil
        end
        g[name] = byte(bytes, pos)
        pos = pos + 1
      end
      y = floor(y / 2)
    end
    y = g.td and floor(g.td / 16) or 0
  until y == 0
  return pos
end

-- From the interface bytes: the protocols, whether TCK is due, and every
-- value the bytes give (MEANING's `set`, from the first group of each kind).
local function interpret(a)
  local offered, tck_needed, seen = {}, false, {}
  local t = 0
  for i, g in ipairs(a.interface) do
    local k = kind(i, t)
    if g.td then
      t = g.td % 16
      if t ~= 0 then tck_needed = true end
      if t ~= 15 then offered[t] = true end
    end
    if not seen[k] then seen[k] = g end
  end
  if a.interface[1] and a.interface[1].td == nil then offered[0] = true end
  for p in pairs(offered) do a.protocols[#a.protocols + 1] = p end
  table.sort(a.protocols)
  if offered[1] then a.t1 = { ifsc = 32, bwi = 4, cwi = 13, edc = "lrc" } end
  for k, g in pairs(seen) do
    for _, name in ipairs(NAMES) do
      local m = MEANING[name][k]
      if g[name] and m and m.set then m.set(a, g[name]) end
    end
  end
  local fi = M.FI[a.fi]
  if fi then a.f, a.fmax = fi.f, fi.fmax end
  a.d = M.DI[a.di]
  return tck_needed
end

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

-- After the interface bytes, from `pos`: the historical bytes, TCK when it
-- is due, and what is left over; nothing past byte `limit` is read.
local function read_rest(a, bytes, pos, limit, tck_needed)
  local n, k = #bytes, a.t0 % 16
  local problems = a.errors
  local stop = pos + k - 1 -- the last historical byte
  a.historical = bytes:sub(pos, stop < limit and stop or limit)
  local cut = stop > limit
  if cut and n <= M.MAX_LENGTH then
    problems[#problems + 1] = format("truncated: T0 announces %d historical bytes, %d present", k, #a.historical)
  elseif cut then
    problems[#problems + 1] = format("T0 announces %d historical bytes, %d within the longest ATR (%d bytes)",
      k, #a.historical, M.MAX_LENGTH)
  end
  pos = stop + 1
  if tck_needed then
    if pos > limit then
      problems[#problems + 1] = n <= M.MAX_LENGTH
        and "TCK is missing (required: a protocol other than T=0 is indicated)" or missing("TCK", pos, n)
      return
    end
    a.tck = byte(bytes, pos)
    local want = xor_t0_to(bytes, pos - 1)
    a.tck_ok = a.tck == want
    if not a.tck_ok then problems[#problems + 1] = format("wrong TCK %02X (expected %02X)", a.tck, want) end
    pos = pos + 1
  end
  if not cut and pos <= n then
    problems[#problems + 1] = format("%d extra byte%s after the ATR", n - pos + 1, n - pos + 1 == 1 and "" or "s")
  end
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
-- Nothing past `MAX_LENGTH` bytes is decoded: an ATR whose bytes would go
-- on beyond it is decoded up to there, with an error saying so, and a longer
-- string gets the error "N bytes: longer than 33" whatever it holds, so any
-- string is decoded in bounded time.
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
  if n < 2 then
    a.errors[1] = "truncated: T0 is missing"
    return a
  end
  a.t0 = byte(bytes, 2)
  local limit = math.min(n, M.MAX_LENGTH)
  local pos = read_interface(a, bytes, limit)
  local tck_needed = interpret(a)
  if pos then read_rest(a, bytes, pos, limit, tck_needed) end
  a.hb = historical(a.historical)
  if n > M.MAX_LENGTH then a.errors[#a.errors + 1] = format("%d bytes: longer than %d", n, M.MAX_LENGTH) end
  return a
end

-- The lines of `format` for the interface bytes: MEANING's `say` for TA,
-- TB and TC, and TD's Y and T.
local function interface_lines(a, line)
  local t = 0
  for i, g in ipairs(a.interface) do
    local k = kind(i, t)
    for _, name in ipairs(NAMES) do
      local b = g[name]
      if b and name == "td" then
        t = b % 16
        line("TD%d = %02X: Y%d = %X, T = %d%s", i, b, i + 1, floor(b / 16), t,
          t == 15 and " (global interface bytes)" or "")
      elseif b then
        local m = MEANING[name][k]
        line("%s%d = %02X: %s", name:upper(), i, b, m and m.say and m.say(a, b) or format("T=%d", t))
      end
    end
  end
end

local CATEGORIES = { [0x00] = "compact-TLV, status indicator at the end", [0x10] = "DIR data reference",
                     [0x80] = "compact-TLV" }

-- The lines of `format` for the historical bytes.
local function historical_lines(a, line)
  if #a.historical == 0 then return end
  line("historical bytes: %s", util.tohex(a.historical, " "))
  local hb = a.hb
  local c = hb.category
  line("  category %02X: %s", c, CATEGORIES[c] or (c >= 0x81 and c <= 0x8F and "reserved" or "proprietary"))
  for _, o in ipairs(hb.objects) do
    line("  tag %X (%s): %s", o.tag, M.COMPACT_TAGS[o.tag] or "unknown", util.tohex(o.value, " "))
  end
  if hb.dir_ref then line("  DIR data reference %02X", hb.dir_ref) end
  if hb.lcs then line("  life cycle status %02X", hb.lcs) end
  if hb.sw then line("  status word %04X", hb.sw) end
  if hb.error then line("  problem: %s", hb.error) end
end

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
  interface_lines(a, line)
  local ps = {}
  for _, p in ipairs(a.protocols) do ps[#ps + 1] = "T=" .. p end
  line("protocols: %s", #ps > 0 and concat(ps, ", ") or "none")
  historical_lines(a, line)
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

--- Longest line `identify` reads from a list (bytes, without the newline);
-- pcsc-tools' list has none over 300.
M.MAX_LINE = 4096

-- The lines of file `f`, read in pieces so that no line longer than
-- MAX_LINE is ever held: an iterator giving each line (without "\n"), then
-- nil at the end; raises { line = number } for a line that is too long,
-- { read = message } when reading fails.
local function bounded_lines(f)
  local buf, pos, number = "", 1, 0
  return function()
    while true do
      local nl = buf:find("\n", pos, true)
      local stop = nl and nl - 1 or #buf
      if stop - pos + 1 > M.MAX_LINE then error({ line = number + 1 }) end
      if nl then
        local l = buf:sub(pos, stop)
        pos, number = nl + 1, number + 1
        return l
      end
      local piece, err = f:read(65536)
      if err then error({ read = err }) end
      if not piece then
        if pos > #buf then return nil end
        local l = buf:sub(pos)
        buf, pos, number = "", 1, number + 1
        return l
      end
      buf, pos = buf:sub(pos) .. piece, 1
    end
  end
end

-- The descriptions in the list `f` whose pattern matches the hex `h` (nil:
-- none can).
local function search(f, h)
  local found, matching = {}, false
  for l in bounded_lines(f) do
    local first = l:sub(1, 1)
    if first == "\t" then
      if matching then found[#found + 1] = (l:gsub("^\t+", ""):gsub("%s+$", "")) end
    elseif first == "#" then -- luacheck: ignore 542
      -- a comment: neither ends nor starts an entry
    elseif l:match("^%s*$") then
      matching = false
    else
      local digits = compile(l:upper())
      matching = digits ~= nil and h ~= nil and matches(digits, h)
    end
  end
  return found
end

--- The descriptions of the cards whose pattern in pcsc-tools'
-- `smartcard_list.txt` matches `bytes`: a pattern line is the ATR in hex,
-- where a digit may be `.` (any) or a class `[...]`, followed by lines
-- starting with a tab, one description each. Case is ignored in the hex.
-- The list is read a piece at a time; a line longer than `MAX_LINE` bytes
-- ends the search with an error (it is not such a list).
-- @tparam string bytes the ATR (binary)
-- @tparam[opt] string path the list (default `LIST`)
-- @treturn[1] table the descriptions, in file order; empty when nothing
--   matches or the default list is not installed
-- @return[2] nil
-- @treturn[2] string why a list given by `path` could not be read, or why a
--   list is not one (a line too long)
function M.identify(bytes, path)
  if type(bytes) ~= "string" then
    util.misuse("atr.identify: string expected, got %s", util.describe(bytes))
  end
  if path ~= nil and type(path) ~= "string" then
    util.misuse("atr.identify: path string or nil expected, got %s", util.describe(path))
  end
  local f, err = io.open(path or M.LIST, "r")
  if not f then
    if path == nil then return {} end
    return nil, err
  end
  -- a pattern as long as a longer ATR's hex would be a line too long
  local h = #bytes * 2 <= M.MAX_LINE and util.tohex(bytes) or nil
  local ok, found = pcall(search, f, h)
  f:close()
  if ok then return found end
  if type(found) ~= "table" then error(found, 0) end -- not ours
  if found.read then return nil, format("%s: %s", path or M.LIST, found.read) end
  return nil, format("%s: line %d is longer than %d bytes: not a list of ATRs", path or M.LIST, found.line, M.MAX_LINE)
end

return M
