-- Helpers the specs share: the test bed's readers, steering the test card
-- (spec/cards/testcard.lua), and running Lua in another process.
local iscard = require "iscard"

local bed = {}

bed.readers = { "Virtual PCD 00 00", "Virtual PCD 00 01" }
bed.reader = bed.readers[1]

--- Sleeps s seconds (not to wait for events -- SCardGetStatusChange does
-- that -- but to give another process a chance to do something wrong).
function bed.sleep(s)
  require("iscard.core").sleep(s * 1000)
end

--- Whether a failure says that pcscd went away: `iscard.error_class` (asked
-- with the ISCard the call failed on, when there is one) answers
-- `service_lost` -- or the code is SCARD_E_READER_UNAVAILABLE, which a
-- call gets when pcscd answers it while taking its readers down.
function bed.service_lost(code, card)
  return iscard.error_class(code, card) == "service_lost" or code == iscard.errors.SCARD_E_READER_UNAVAILABLE
end

local hex = iscard.tohex -- the library's one hex encoder
bed.hex = hex

--- This process's id (for /proc), read once from /proc/self/stat.
function bed.pid()
  if not bed._pid then
    local f = assert(io.open("/proc/self/stat"))
    bed._pid = f:read("*a"):match("^(%d+)")
    f:close()
  end
  return bed._pid
end

--- How many file descriptors this process has open.  Another process
-- (`ls`, started by os.execute) counts them into a file: unlike io.popen,
-- this leaves no pipe of the count open in the process being counted.
function bed.fds()
  local tmp = os.tmpname()
  os.execute(("ls /proc/%s/fd > %s"):format(bed.pid(), tmp))
  local f = assert(io.open(tmp))
  local n = 0
  for _ in f:lines() do n = n + 1 end
  f:close()
  os.remove(tmp)
  return n
end

-- os.execute's success is true on 5.2+, 0 on 5.1 and LuaJIT without 5.2 compat.
local function sh(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end
bed.sh = sh

--- True when the specs run in spec/support/testbed: pcscd answers and
-- both readers have a virtual card.  A spec of spec/bed/ starts with
--   if not bed.up then return pending(bed.needed()) end
-- so that elsewhere (`busted spec/bed`, `make check`'s machine) it shows as
-- one pending item that says why, not as failures.
bed.up = os.getenv("ISCARD_TESTBED") ~= nil

--- The reason a spec file of spec/bed/ is skipped outside the test bed,
-- naming the file (the caller's).
function bed.needed()
  return debug.getinfo(2, "S").short_src .. ": needs the test bed: run `make test` as root"
end

--- True when the specs run in spec/support/testbed's private namespace,
-- with a pcscd of their own that they may stop and restart.
bed.private = os.getenv("ISCARD_TESTBED_PRIVATE") ~= nil

--- Stops the private pcscd (with signal sig, default TERM) and, unless
-- stay_down, starts a new one; returns once the old one is entirely gone
-- and, when restarted, the new one has both cards (spec/support/pcscd-restart).
-- env: a table of environment variables for the script (ISCARD_PCSCD_FLAGS,
-- ISCARD_PCSCD_CONF, ISCARD_READY: see the script).
-- Returns true, or false if the script failed.
function bed.restart(sig, stay_down, env)
  local vars = ""
  for k, v in pairs(env or {}) do vars = vars .. ("%s='%s' "):format(k, v) end
  return sh(vars .. "spec/support/pcscd-restart " .. (sig or "TERM") .. (stay_down and " stay-down" or ""))
end

-- Is the private pcscd running (its process there, and not a zombie)?
local function pcscd_running()
  local f = io.open(os.getenv("ISCARD_PCSCD_PIDFILE") or "")
  local pid = f and f:read("*l")
  if f then f:close() end
  local st = pid and io.open("/proc/" .. pid .. "/stat")
  if not st then return false end
  local state = st:read("*l"):match("^%d+ %b() (%a)")
  st:close()
  return state ~= nil and state ~= "Z"
end

--- Puts the bed back the way every spec expects to find it: pcscd running
-- (restarted if a spec left it down) and a card in each reader, waited
-- for by SCardGetStatusChange (bounded).  Raises if that cannot be had.
-- Spec files that stop pcscd or remove cards call it in after_each, and
-- spec/support/hooks.lua before every test.
function bed.restore()
  if bed.private and not pcscd_running() then
    assert(bed.restart("TERM"), "the test bed's pcscd could not be restarted")
  end
  for _, r in ipairs(bed.readers) do bed.inserted(r) end
end

-- Two bytes, big-endian: the hi lo of the test card's durations.
local function two_bytes(n) return string.char(math.floor(n / 256) % 256, n % 256) end
-- A command's header with Lc and data, or the header alone for nil.
local function with_data(header, data)
  if data == nil then return header end
  return header .. string.char(#data) .. data
end

--- The test card's own commands (spec/cards/testcard.lua has their
-- list), by what they make it do; durations in milliseconds, sent in steps
-- of 10 ms.
bed.card = {
  -- 80 01 00 00 [Lc data]: answers data .. 9000 and journals data
  echo = function(data) return with_data("\128\1\0\0", data) end,
  -- 80 02 hi lo: after 9000 the card is out for ms, then back
  remove = function(ms) return "\128\2" .. two_bytes(math.floor(ms / 10)) end,
  -- 80 03 00 00: resets, power-ons, power-offs, APDUs (bed.counters)
  counters = "\128\3\0\0",
  -- 80 04 hi lo: answers 9000 after ms
  answer_after = function(ms) return "\128\4" .. two_bytes(math.floor(ms / 10)) end,
  -- 80 05 00 00: the journal, then cleared (bed.journal)
  journal = "\128\5\0\0",
  -- 80 06 00 00: 9000, and every counter back to 0
  reset_counters = "\128\6\0\0",
  -- 80 09 hi lo Lc ATR: after 9000 the card leaves, and one with this ATR
  -- comes back after ms
  swap = function(atr, ms) return "\128\9" .. two_bytes(math.floor((ms or 0) / 10)) .. string.char(#atr) .. atr end,
  -- 80 10 00 00: never answers (until vpcd closes the connection)
  never_answer = "\128\16\0\0",
  -- 80 11 00 00 [Lc data]: answers exactly data, no status word added
  raw_reply = function(data) return with_data("\128\17\0\0", data) end,
  -- 80 12 nn mm: announces 258 bytes, sends the first `sent`, leaves, and
  -- is back after ms
  cut_reply = function(sent, ms) return "\128\18" .. string.char(sent, math.floor(ms / 10)) end,
  -- 80 13 hi lo [Lc data]: leaves, and comes back after ms answering `atr`
  -- (raw, unchecked; nil: an empty ATR) as its ATR
  back_with_atr = function(ms, atr) return with_data("\128\19" .. two_bytes(math.floor(ms / 10)), atr) end,
}

--- Sends raw bytes and returns the reply (asserting the exchange worked).
function bed.raw(card, apdu)
  return assert(card:transmit(apdu))
end

--- Attaches a new ISCard to reader (default: reader 0), asserting success.
function bed.attach(reader, share, proto)
  local card = assert(iscard.ISCard())
  assert(card:AttachByReader(reader or bed.reader, share, proto))
  return card
end

--- The test card's counters {resets, powerons, poweroffs, apdus}.
function bed.counters(card)
  local r = bed.raw(card, bed.card.counters)
  assert(#r == 10 and r:sub(-2) == "\144\0", "bad counters reply " .. hex(r))
  local function u16(i) return r:byte(i) * 256 + r:byte(i + 1) end
  return { resets = u16(1), powerons = u16(3), poweroffs = u16(5), apdus = u16(7) }
end

--- An echo command recorded in the card's journal.
function bed.echo_apdu(data)
  return bed.card.echo(data)
end

--- The card's journal since the last call, as an array.
function bed.journal(card)
  local r = bed.raw(card, bed.card.journal)
  local list = {}
  local s = r:sub(1, -3)
  if s ~= "" then for item in (s .. ","):gmatch("([^,]*),") do list[#list + 1] = item end end
  return list
end

--- Removes the card in the reader card is attached to for ms milliseconds
-- and waits until pcscd has noticed.
function bed.remove(card, ms, reader)
  bed.raw(card, bed.card.remove(ms))
  assert(iscard.wait(reader or bed.reader, false, 10000))
end

--- Waits until a card is back in reader.
function bed.inserted(reader)
  assert(iscard.wait(reader or bed.reader, true, 20000))
end

--- Starts Lua code in the background with the test bed's paths; its
-- output goes to a temporary file; env adds environment variables.  Returns an object with :output() and
-- :wait() (which returns the full output once the process has ended).
function bed.spawn(code, env)
  local out = os.tmpname()
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(code)
  f:close()
  local lua = os.getenv("LUA") or "lua5.4"
  local done = out .. ".done"
  local vars = ""
  for k, v in pairs(env or {}) do vars = vars .. ("%s='%s' "):format(k, v) end
  -- timeout: a child that hangs (a regression) must not outlive the run
  os.execute(("(%stimeout 60 %s %s > %s 2>&1; echo $? > %s) &"):format(vars, lua, script, out, done))
  local p = {}
  function p.output()
    local h = io.open(out)
    if not h then return "" end
    local s = h:read("*a") or ""
    h:close()
    return s
  end
  function p.done()
    local h = io.open(done)
    if not h then return false end
    h:close()
    return true
  end
  --- Waits until the child has ended (at most timeout_s, default 30) and
  -- returns its whole output.
  function p.wait(timeout_s)
    local deadline = os.time() + (timeout_s or 30)
    while not p.done() do
      assert(os.time() <= deadline, "child process did not finish: " .. p.output())
      bed.sleep(0.02)
    end
    local s = p.output()
    os.remove(out); os.remove(script); os.remove(done)
    return s
  end
  --- Waits until the child has printed pattern (or ended).
  function p.await(pattern, timeout_s)
    local deadline = os.time() + (timeout_s or 30)
    while not p.output():find(pattern) do
      assert(not p.done(), "child ended without printing " .. pattern .. ": " .. p.output())
      assert(os.time() <= deadline, "child did not print " .. pattern)
      bed.sleep(0.02)
    end
  end
  return p
end

return bed
