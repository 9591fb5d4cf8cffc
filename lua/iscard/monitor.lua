--- Readers and cards coming and going: `iscard.monitor`.
--
-- A monitor owns one PC/SC context and reports what changes as event tables
-- `{type = ..., reader = ..., atr = ..., time = ...}`, `type` one of
-- `reader_added`, `reader_removed`, `card_inserted`, `card_removed`,
-- `service_lost`, `service_back`. `time` is `os.time()` when the monitor
-- saw the change; `atr` (binary) is set on `card_inserted`.
--
-- How nothing is missed: pcsc-lite counts insertions and removals per reader
-- in the high 16 bits of the event state. The monitor keeps the count it
-- last saw and turns the difference into that many alternating removals and
-- insertions, so a card pulled and put back (or swapped) between two polls
-- gives `card_removed` then `card_inserted`, with the new ATR. The reader
-- list is read again on every wake-up, because pcsc-lite 1.9.9's
-- `\\?PnP?\Notification` only notices a change of the reader count within
-- one call; from 2.3 on its own reader-event counter is echoed too.
--
-- Waits are cut in slices of `SLICE_MS`, so that a standalone `lua` sees
-- Ctrl-C (pcsc-lite retries its wait on EINTR; the interpreter's SIGINT hook
-- only runs when Lua code does), and what is left of a timeout comes from a
-- monotonic clock.
-- @module iscard.monitor

local core = require "iscard.core"
local util = require "iscard.util"
local classify = require("iscard.errclass").classify

local misuse = util.misuse

local M = {}

--- Longest single SCardGetStatusChange (ms): how long Ctrl-C may wait.
-- Each slice that ends with nothing new costs pcsc-lite 1.9.9 some
-- 0.3-0.5 ms of CPU (four round trips to pcscd and a dozen stat() of its
-- socket): 300 ms keeps an idle monitor near 1 ms of CPU per second and
-- Ctrl-C well under half a second.
M.SLICE_MS = 300
--- Back-off while pcscd is away: first retry after `BACKOFF_MIN_MS`,
-- doubling up to `BACKOFF_MAX_MS`.
M.BACKOFF_MIN_MS = 50
M.BACKOFF_MAX_MS = 2000

local RS = core.reader_states
local E = core.errors
local now, sleep = core.now, core.sleep
local floor, min, max = math.floor, math.min, math.max

local PNP = "\\\\?PnP?\\Notification"


-- Bit tests by arithmetic (no & operator: Lua 5.1 and LuaJIT). Flags are
-- single bits below 2^16.
local function has(bits, flag) return floor(bits / flag) % 2 == 1 end
local function counter(bits) return floor(bits / 65536) % 65536 end

-- The state to echo in the next wait: the whole event state, counter bits
-- included, minus CHANGED. Then pcsc-lite wakes the wait for any insertion
-- or removal since, even one already undone, and does not report the same
-- change again at once.
local function echo(ev)
  if has(ev, RS.CHANGED) then return ev - RS.CHANGED end
  return ev
end

-- SCardGetStatusChange on entries whose last (n + 1-th) is the PnP entry.
-- pcsc-lite before 2.5 takes at most 16 entries; with 16 readers (its
-- limit then) the PnP entry has no room, and no reader can come: wait
-- without it.
local function status_change_pnp(ctx, ms, entries, n)
  local r, msg, code = core.status_change(ctx, ms, entries)
  if not r and code == E.SCARD_E_INVALID_PARAMETER and #entries > n and n > 0 then
    entries[n + 1] = nil
    r, msg, code = core.status_change(ctx, ms, entries)
  end
  return r, msg, code
end

--- Milliseconds to wait in the next slice, given a deadline (nil: none).
-- @local
function M.slice(deadline)
  if not deadline then return M.SLICE_MS end
  return max(0, min(M.SLICE_MS, floor(deadline - now() + 0.5)))
end

--- The deadline of a wait of `timeout_ms` from now, nil for negative.
-- @local
function M.deadline(timeout_ms)
  if timeout_ms < 0 then return nil end
  return now() + timeout_ms
end

local Monitor = {}
local methods = {}

local function emit(self, type_, reader, atr)
  local q = self._queue
  q[#q + 1] = { type = type_, reader = reader, atr = atr, time = os.time() }
end

-- A reader's state as the monitor keeps it.
local function reader_state(ev, atr)
  local present = has(ev, RS.PRESENT) and not has(ev, RS.UNAVAILABLE)
  return { event = ev, present = present, atr = present and atr or nil, counter = counter(ev) }
end

-- The events between two known states of one reader. d: how many
-- insertions and removals pcsc-lite counted; each one toggles presence.
local function card_events(self, name, old, new)
  local d = (new.counter - old.counter) % 65536
  if d > 32768 then
    -- The count went back: another reader of the same name came (its count
    -- starts at 0). Report the old one gone and the new one there.
    if old.present then emit(self, "card_removed", name) end
    emit(self, "reader_removed", name)
    emit(self, "reader_added", name)
    if new.present then emit(self, "card_inserted", name, new.atr) end
    return
  end
  if d == 0 and old.present ~= new.present then d = 1 end
  if (d % 2 == 1) ~= (old.present ~= new.present) then d = d + 1 end
  local present = old.present
  for i = 1, d do
    present = not present
    if present then
      -- Only the last insertion's ATR is known: a card that came and went
      -- between two looks has atr = nil.
      emit(self, "card_inserted", name, i == d and new.atr or nil)
    else
      emit(self, "card_removed", name)
    end
  end
end

local function added(self, name, st)
  emit(self, "reader_added", name)
  if st.present then emit(self, "card_inserted", name, st.atr) end
end

local function removed(self, name, st)
  if st.present then emit(self, "card_removed", name) end
  emit(self, "reader_removed", name)
end

local function watched(self, name)
  return self._only == nil or self._only[name] ~= nil
end

-- pcsc-lite's answer for one reader.
local function update(self, name, ev, atr)
  local old = self._known[name]
  if has(ev, RS.UNKNOWN) then -- gone since the list was read
    if old then
      self._known[name] = nil
      removed(self, name, old)
    end
    return
  end
  local new = reader_state(ev, atr)
  self._known[name] = new
  if not old then added(self, name, new)
  else card_events(self, name, old, new) end
end

local function lose(self)
  if self._ctx then self._ctx:close() end
  self._ctx = nil
  self._lost = true
  self._backoff = M.BACKOFF_MIN_MS
  self._next_try = now() + self._backoff
  emit(self, "service_lost")
end

-- Fails as status_change does; on a lost service (the context never
-- recovers, only a new one works: `iscard.error_class` asks the context
-- when the code alone does not tell), switches to back-off.
local function failed(self, msg, code)
  if classify(code, self._ctx) == "service_lost" then lose(self); return true end
  return nil, msg, code
end

-- The watched readers that exist, in pcsc-lite's order.
local function list(self)
  local names, msg, code = core.readers(self._ctx)
  if not names then return nil, msg, code end
  local out = {}
  for _, name in ipairs(names) do
    if watched(self, name) then out[#out + 1] = name end
  end
  return out
end

-- pcsc-lite compares counts only when the one we echo is not 0: a reader
-- whose count is still 0 (its card was there when the reader appeared)
-- does not wake the wait for a card swapped since. After a wait that timed
-- out, read such readers' counts at once.
local function recount(self, entries, n)
  local zero = {}
  for i = 1, n do
    local st = self._known[entries[i].reader]
    if st and st.counter == 0 then zero[#zero + 1] = { reader = entries[i].reader, current = RS.UNAWARE } end
  end
  if #zero == 0 then return true end
  local r, msg, code = core.status_change(self._ctx, 0, zero)
  if not r then
    if code == E.SCARD_E_TIMEOUT or code == E.SCARD_E_UNKNOWN_READER then return true end
    return failed(self, msg, code)
  end
  for _, e in ipairs(zero) do update(self, e.reader, e.event, e.atr) end
  return true
end

-- One look at the readers, waiting up to ms for a change. Returns true, or
-- nil, msg, code on a PC/SC failure other than a lost service.
local function look(self, ms)
  local names, msg, code = list(self)
  if not names then return failed(self, msg, code) end
  local present = {}
  for _, name in ipairs(names) do present[name] = true end
  for name, st in pairs(self._known) do
    if not present[name] then
      self._known[name] = nil
      removed(self, name, st)
    end
  end
  local entries = {}
  for i, name in ipairs(names) do
    local st = self._known[name]
    -- (a new reader is UNAWARE: answered at once)
    entries[i] = { reader = name, current = st and echo(st.event) or RS.UNAWARE }
  end
  local n = #entries
  -- A reader appearing wakes the wait through PnP (only when every reader
  -- is watched).
  if self._only == nil then
    entries[n + 1] = { reader = PNP, current = self._pnp_event }
  end
  if #entries == 0 then
    -- Nothing to wait on: pcsc-lite would return at once. Sleep the slice;
    -- the list is read again after it.
    if ms > 0 then sleep(ms) end
    return true
  end
  local r
  r, msg, code = status_change_pnp(self._ctx, ms, entries, n)
  if not r then
    if code == E.SCARD_E_TIMEOUT then return recount(self, entries, n) end
    if code == E.SCARD_E_CANCELLED then self._cancelled = true; return true end
    -- A reader went between the list and the wait: look again.
    if code == E.SCARD_E_UNKNOWN_READER then return true end
    return failed(self, msg, code)
  end
  for _, e in ipairs(entries) do
    if e.reader == PNP then
      self._pnp_event = echo(e.event)
    else
      update(self, e.reader, e.event, e.atr)
    end
  end
  return true
end

-- While pcscd is away: try a new context when the back-off says so,
-- sleeping at most ms until then.
local function reconnect(self, ms)
  local wait = self._next_try - now()
  if wait > 0 then
    if ms <= 0 then return true end
    sleep(min(ms, wait))
    if now() < self._next_try then return true end
  end
  local ctx = core.ISCard()
  local names
  if ctx then
    self._ctx = ctx
    names = list(self)
  end
  if not names then
    if ctx then ctx:close() end
    self._ctx = nil
    self._backoff = min(self._backoff * 2, M.BACKOFF_MAX_MS)
    self._next_try = now() + self._backoff
    return true
  end
  self._lost = false
  self._pnp_event = RS.UNAWARE
  emit(self, "service_back")
  -- The difference between before and after the outage: by presence and
  -- ATR (a new pcscd counts from 0 again, so counts do not compare).
  local before = self._known
  self._known = {}
  local entries = {}
  for i, name in ipairs(names) do entries[i] = { reader = name, current = RS.UNAWARE } end
  local seen = {}
  if #entries > 0 then
    local r, msg, code = core.status_change(self._ctx, 0, entries)
    if not r then
      self._known = before
      return failed(self, msg, code)
    end
    for _, e in ipairs(entries) do
      local new = reader_state(e.event, e.atr)
      local old = before[e.reader]
      seen[e.reader] = true
      self._known[e.reader] = new
      if not old then added(self, e.reader, new)
      elseif old.present ~= new.present or old.atr ~= new.atr then
        if old.present then emit(self, "card_removed", e.reader) end
        if new.present then emit(self, "card_inserted", e.reader, new.atr) end
      end
    end
  end
  for name, old in pairs(before) do
    if not seen[name] then removed(self, name, old) end
  end
  return true
end

local function step(self, ms)
  if self._lost then return reconnect(self, ms) end
  return look(self, ms)
end

local function check(self, what)
  if getmetatable(self) ~= Monitor then
    misuse("iscard.monitor: %s: monitor expected, got %s", what, type(self))
  end
  if self._closed then
    misuse("iscard.monitor: %s on a closed monitor", what)
  end
end

-- A timeout argument: nil gives `def`; otherwise a whole number of
-- milliseconds (the range of a DWORD timeout, negative for none).
local function check_timeout(t, def, what)
  return util.ms(t, what .. ": timeout_ms", -2147483648, 4294967294, def)
end

local function take(self)
  local q = self._queue
  self._queue = {}
  return q
end

-- The one wait behind poll and events.
local function wait(self, timeout_ms)
  if #self._queue > 0 then timeout_ms = 0 end
  local deadline = M.deadline(timeout_ms)
  while true do
    if self._cancelled then
      self._cancelled = false
      return take(self)
    end
    local ok, msg, code = step(self, M.slice(deadline))
    if not ok then return nil, msg, code end
    if #self._queue > 0 or (deadline and now() >= deadline) then
      return take(self)
    end
  end
end

-- LuaJIT checks hooks only in interpreted code, and the interpreter's
-- Ctrl-C is a hook (so is any host's way to run Lua code in a wait): keep
-- the waiting loop out of the JIT.
local nojit = rawget(_G, "jit") and rawget(_G, "jit").off or function() end
nojit(wait)

-- The readers `wait_any` waits on: every reader, with the state seen
-- last (UNAWARE for a new one: answered at once), and the PnP entry.
local function any_entries(ctx, seen)
  local names, msg, code = core.readers(ctx)
  if not names then return nil, msg, code end
  local entries = {}
  for i, name in ipairs(names) do entries[i] = { reader = name, current = seen[name] or RS.UNAWARE } end
  entries[#names + 1] = { reader = PNP, current = seen[PNP] or RS.UNAWARE }
  return entries, #names
end

-- What the answered entries say: the first reader (in pcsc-lite's order)
-- with a card when waiting for one; true when waiting for no card and no
-- reader has one; else nil.
local function any_done(entries, n, present)
  for i = 1, n do
    local e = entries[i]
    if e.event and reader_state(e.event).present and not has(e.event, RS.UNKNOWN) then
      return present and e.reader or nil
    end
  end
  return not present or nil
end

-- iscard.wait(nil, ...): any reader, also one that appears while waiting.
local function wait_any(ctx, present, deadline)
  local seen = {}
  while true do
    local entries, n, code = any_entries(ctx, seen)
    if not entries then return nil, n, code end
    local r, msg
    r, msg, code = status_change_pnp(ctx, M.slice(deadline), entries, n)
    if r then
      local done = any_done(entries, n, present)
      if done then return true, present and done or nil end
      for _, e in ipairs(entries) do seen[e.reader] = echo(e.event) end
    elseif code ~= E.SCARD_E_TIMEOUT and code ~= E.SCARD_E_UNKNOWN_READER then
      -- (a reader that went between the list and the wait: look again)
      return nil, msg, code
    elseif code == E.SCARD_E_TIMEOUT and deadline and now() >= deadline then
      return nil, msg, code
    end
  end
end
nojit(wait_any)

--- `iscard.wait(reader [, present [, timeout_ms]])`, documented in
-- iscard: one reader (nil: any), one context of its own, the same slices.
-- @local
function M.wait(reader, present, timeout_ms)
  if reader ~= nil and type(reader) ~= "string" then
    misuse("iscard.wait: reader name or nil expected, got %s", util.describe(reader))
  end
  present = util.bool(present, "iscard.wait: present", true)
  timeout_ms = check_timeout(timeout_ms, -1, "iscard.wait")
  local deadline = M.deadline(timeout_ms)
  local ctx, msg, code = core.ISCard()
  if not ctx then return nil, msg, code end
  if reader == nil then
    local ok, found, ecode = wait_any(ctx, present, deadline)
    ctx:close()
    return ok, found, ecode
  end
  local want = present and RS.PRESENT or RS.EMPTY
  local entry = { reader = reader, current = RS.UNAWARE }
  local ok, emsg, ecode
  while true do
    local r
    -- (through ccall: the C function checks the name's length)
    r, emsg, ecode = util.ccall("iscard.wait", core.status_change, ctx, M.slice(deadline), { entry })
    if r then
      if has(entry.event, RS.UNKNOWN) then
        emsg, ecode = "SCARD_E_UNKNOWN_READER: no reader of that name is known ('"
          .. reader .. "')", E.SCARD_E_UNKNOWN_READER
        break
      end
      if has(entry.event, want) then ok = true; break end
      entry.current = echo(entry.event)
    elseif ecode ~= E.SCARD_E_TIMEOUT or (deadline and now() >= deadline) then
      break
    end
  end
  ctx:close()
  if ok then return true, present and reader or nil end
  return nil, emsg, ecode
end
nojit(M.wait)

--- The events that happened since the last call, oldest first.
-- @function poll
-- @int[opt=0] timeout_ms 0 returns at once; positive waits at most that
--   long for something to happen; negative waits until it does
-- @treturn[1] table a list of events, empty when nothing happened in time
--   or the wait was cancelled
-- @return[2] nil, message, code on an unexpected PC/SC failure (a lost
--   pcscd is an event, not a failure)
function methods.poll(self, timeout_ms)
  check(self, "poll")
  return wait(self, check_timeout(timeout_ms, 0, "iscard.monitor: poll"))
end

--- Iterator over the events: `for ev in mon:events() do ... end`.
-- It ends when `timeout_ms` passes with nothing new, or on `cancel`.
-- @function events
-- @int[opt=-1] timeout_ms as for `poll`; negative (the default) never ends
--   on its own
-- @raise on an unexpected PC/SC failure (an iterator has no error value)
function methods.events(self, timeout_ms)
  check(self, "events")
  timeout_ms = check_timeout(timeout_ms, -1, "iscard.monitor: events")
  local got, i = {}, 0
  return function()
    i = i + 1
    if got[i] == nil then
      if self._closed then return nil end
      local msg
      got, msg = wait(self, timeout_ms)
      if not got then error(msg, 2) end
      i = 1
    end
    return got[i]
  end
end

--- Makes a blocked `poll`/`events` return (SCardCancel on the monitor's
-- context). A cancel made while no wait runs is kept: the next wait returns
-- at once.
-- @function cancel
-- @return true
function methods.cancel(self)
  check(self, "cancel")
  self._cancelled = true
  if self._ctx then core.cancel(self._ctx) end
  return true
end

--- Releases the monitor's context, once; never raises. `__gc` and `__close`
-- do the same.
-- @function close
function methods.close(self)
  if getmetatable(self) ~= Monitor or self._closed then return end
  self._closed = true
  local ctx = self._ctx
  self._ctx = nil
  -- (from __gc, the ISCard may have been finalized first: still harmless)
  if ctx then pcall(ctx.close, ctx) end
end

-- Members: the methods and `Context`; the fields of the object's own
-- state start with "_" and read as nil when unset. Anything else is a
-- mistyped name and raises, as on ISCard.
Monitor.__index = function(self, k)
  if k == "Context" then
    local ctx = rawget(self, "_ctx")
    return ctx and ctx.Context or 0
  end
  local m = methods[k]
  if m ~= nil then return m end
  if type(k) == "string" and k:sub(1, 1) == "_" then return nil end
  misuse("iscard.monitor has no member '%s'", tostring(k))
end
Monitor.__newindex = function(self, k, v)
  if type(k) == "string" and k:sub(1, 1) == "_" then rawset(self, k, v); return end
  misuse("iscard.monitor: cannot set member '%s'", tostring(k))
end
Monitor.__gc = methods.close
Monitor.__close = methods.close
Monitor.__tostring = function(self)
  if self._closed then return "iscard.monitor (closed)" end
  if self._lost then return "iscard.monitor (pcscd away)" end
  return "iscard.monitor"
end

--- Whether v is a monitor.
-- @local
function M.is_monitor(v) return getmetatable(v) == Monitor end

--- Creates a monitor; calling the module does the same (`iscard.monitor(opts)`).
-- @tparam[opt] table opts `readers`: a list of reader names to watch, or
--   nil for every reader, also those that appear later; `initial` (default
--   true): first report what is already there as `reader_added` and
--   `card_inserted`.
-- @return the monitor. Without pcscd it is created all the same and its
--   first event is `service_lost`; it keeps trying.
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then
    misuse("iscard.monitor: options table expected, got %s", type(opts))
  end
  opts = opts or {}
  local only
  if opts.readers ~= nil then
    if type(opts.readers) ~= "table" then
      misuse("iscard.monitor: readers must be a list of names")
    end
    only = {}
    for i, name in ipairs(opts.readers) do
      if type(name) ~= "string" or #name == 0 or #name > 128 or name:find("\0", 1, true) then
        misuse("iscard.monitor: readers[%d] must be a reader name of 1..128 bytes without NUL", i)
      end
      only[name] = true
    end
  end
  local initial = opts.initial
  if initial == nil then initial = true end
  for k in pairs(opts) do
    if k ~= "readers" and k ~= "initial" then
      misuse("iscard.monitor: unknown option '%s'", tostring(k))
    end
  end
  -- (The context is an ISCard: its own __gc releases it on every Lua,
  -- also on 5.1 and LuaJIT, where a table's __gc never runs.)
  local self = setmetatable({
    _known = {}, _queue = {}, _only = only, _pnp = true, _pnp_event = RS.UNAWARE,
    _lost = false, _cancelled = false, _closed = false,
  }, Monitor)
  local ctx = core.ISCard()
  if not ctx then
    -- No pcscd yet: the first event says so, and the back-off starts.
    lose(self)
    return self
  end
  self._ctx = ctx
  local ok = look(self, 0)
  -- The PnP entry (UNAWARE on the first call) made that look return at
  -- once; without initial, what it found is the baseline, not news.
  if ok and not initial and not self._lost then
    self._queue = {}
  end
  return self
end

-- The module is the constructor too: `iscard.monitor(opts)`, the same as
-- `require("iscard.monitor")(opts)` and `iscard.monitor.new(opts)`.
setmetatable(M, { __call = function(_, opts) return M.new(opts) end })

return M
