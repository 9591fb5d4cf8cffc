--- A virtual smart card for vpcd (vsmartcard's virtual reader driver for pcscd).
--
-- vpcd makes pcscd show readers `Virtual PCD 00 00`, `Virtual PCD 00 01`, ...
-- that listen on TCP 127.0.0.1:35963, 35964, ...  A card is a program that
-- connects there: connecting inserts the card, closing the connection
-- removes it.  This module turns a Lua table describing a card into such a
-- program.
--
-- A card script returns a table (all fields optional except `apdu`):
--
--    return {
--      atr   = "\59\138\128\1...",            -- binary ATR (default: vcard.DEFAULT_ATR)
--      init  = function(card) end,              -- called once, before connecting
--      power = function(card, event) end,       -- event: "on", "off" or "reset"
--      apdu  = function(card, capdu) return rapdu end,  -- binary strings;
--                                               -- rapdu = data .. SW1 SW2
--    }
--
-- A script may also return just the `apdu` function.
--
-- The `card` object handed to the handlers has the fields `resets`,
-- `powerons`, `poweroffs`, `apdus` (counters), `atr`, `state` (a free table
-- for the script) and the methods `remove`, `swap`, `delay`, `set_atr`,
-- `log`, `stop`, and the fault knobs `raw_reply` and `raw_atr` (a broken
-- card, for tests).
--
-- An error raised by `apdu` does not kill the card: it answers `6F00` and
-- prints the error to stderr.  So does a reply that is not a string of at
-- 1..65535 bytes (1 byte is allowed: a script may play a broken card; vpcd
-- cannot carry an empty reply).
--
-- @module iscard.vcard

local core = require "iscard.core" -- the clock and the sleep
local io_ = require "iscard.vcard_io"
local util = require "iscard.util"
local iscard_atr = require "iscard.atr"

local M = {}

local byte, char, format = string.byte, string.char, string.format
local stderr = io.stderr

--- First vpcd port; reader N listens on `BASE_PORT + N`.
M.BASE_PORT = 35963

--- Interval between connection attempts while vpcd is not listening (ms).
M.RETRY_MS = 100

--- Append the check byte TCK to an ATR given without it.
-- TCK is the XOR of all bytes from T0 to the last historical byte
-- (`iscard.atr.tck`).
-- @tparam string bytes ATR without TCK (binary)
-- @treturn string ATR with TCK appended
function M.with_tck(bytes)
  return bytes .. char(iscard_atr.tck(bytes))
end

--- Default ATR: T=0/T=1 indication as in the PC/SC contactless ATR,
-- TS=3B, T0=8A (TD1 follows, 10 historical bytes), TD1=80, TD2=01 (T=1),
-- historical bytes `80 58 "iscardvc"` (category 80, COMPACT-TLV tag 5 len 8),
-- then TCK.
M.DEFAULT_ATR = M.with_tck("\59\138\128\1\128\88iscardvc") -- 3B 8A 80 01 80 58 "iscardvc"

local hex = util.tohex

-- What is wrong with an ATR the card is to announce, or nil: it must be a
-- string of 1..33 bytes that iscard.atr decodes without a problem -- TS 3B
-- or 3F, the bytes T0 and the TDi announce all there, and TCK right where
-- one is due (a T other than 0 offered).  A card that would announce
-- anything else is a script's mistake (Lua 5.1 reads "\x3B" as the text
-- "x3B"), caught here rather than puzzled over in pcscd; `raw_atr` is for
-- cards broken on purpose.
local function atr_problem(bytes)
  if type(bytes) ~= "string" or #bytes < 1 or #bytes > iscard_atr.MAX_LENGTH then
    return "ATR must be a string of 1 to 33 bytes, got " .. util.describe(bytes)
  end
  local a, why = iscard_atr.parse(bytes)
  why = why or a.errors[1]
  if not why then return nil end
  if why:find("^TCK is missing") then
    why = format("%s: expected %02X at the end (vcard.with_tck adds it)", why, iscard_atr.tck(bytes))
  end
  return format("ATR %s: %s", util.tohex(bytes, " "), why)
end

-- The ATR, or a misuse error of `what`, the function the script called.
local function check_atr(bytes, what)
  local why = atr_problem(bytes)
  if why then util.misuse("%s: %s", what, why) end
  return bytes
end

local Card = {}
Card.__index = Card

-- Milliseconds 0..86400000, rounded; anything else is the script's
-- mistake, reported at its line, not a crash of the card later.
local function check_ms(ms, what)
  return util.ms(ms, what, 0, 86400000, nil, true)
end

--- Remove the card: after the current reply is sent, close the connection
-- (pcscd sees the reader empty), wait `ms` milliseconds, then reconnect
-- (card inserted again).
-- @tparam[opt=1000] number ms how long the card stays out
function Card:remove(ms)
  self._remove = check_ms(ms or 1000, "card:remove")
end

--- Swap the card: after the current reply, pull it out, change the ATR,
-- and put it back after `ms` milliseconds. With the default 0 the swap is
-- faster than pcscd polls: pcscd still sees the reader empty once (vpcd
-- asks the ATR on every presence check and finds the old connection gone),
-- then the new card.
-- @tparam string atr the new card's binary ATR, 1..33 bytes
-- @tparam[opt=0] number ms how long the reader stays empty
function Card:swap(atr, ms)
  self.atr = check_atr(atr, "card:swap")
  self._remove = check_ms(ms or 0, "card:swap")
end

--- Sleep `ms` milliseconds before sending the current reply (a slow card).
-- Calls add up.  The sleep ends early when vpcd closes the connection
-- (pcscd stopped), so that even a card that takes a day comes back with
-- the next pcscd.
-- @tparam number ms
function Card:delay(ms)
  self._delay = math.min((self._delay or 0) + check_ms(ms, "card:delay"), 86400000)
end

-- Fault knobs: ways to misbehave that a real card may have, for tests of
-- what a client does with them.  Each is its own method; `serve` and `run`
-- only look at the fields they set.

--- Send `bytes` as they are, unframed, in place of the current reply; with
-- `out_ms`, then close the connection (the card is removed in the middle of
-- its answer) and come back after `out_ms` milliseconds.
-- `card:raw_reply("\0\0")` is an empty reply; `card:raw_reply("\1\2\144", 100)`
-- announces 258 bytes, sends one and leaves.
-- @tparam string bytes what goes on the wire (may be empty)
-- @tparam[opt] number out_ms close after sending, and stay out this long
function Card:raw_reply(bytes, out_ms)
  if type(bytes) ~= "string" then util.misuse("card:raw_reply: string expected, got %s", util.describe(bytes)) end
  self._raw = bytes
  if out_ms then self._cut = check_ms(out_ms, "card:raw_reply") end
end

--- Leave now (after the current reply), and come back after `ms`
-- milliseconds answering `atr` to every ATR request: any bytes, empty or
-- longer than 33, with no check at all (`set_atr` stays strict).  The card
-- goes back to its own ATR when that connection ends.  An empty ATR is
-- followed by closing the connection (vpcd would wait for ever otherwise):
-- pcscd sees a card that cannot be powered, then no card.
-- @tparam string atr raw bytes, at most 65535
-- @tparam[opt=100] number ms how long the card stays out first
function Card:raw_atr(atr, ms)
  if type(atr) ~= "string" or #atr > 65535 then
    util.misuse("card:raw_atr: string of at most 65535 bytes expected, got %s", util.describe(atr))
  end
  self._next_atr = atr
  self:remove(ms or 100)
end

--- Change the ATR; it is sent the next time the reader asks for it
-- (power on, reset, re-insertion).
-- Raises for an ATR with a problem `iscard.atr.parse` reports (TS not 3B or
-- 3F, a wrong or missing TCK, bytes missing or left over).
-- @tparam string atr binary ATR, 1..33 bytes
function Card:set_atr(atr)
  self.atr = check_atr(atr, "card:set_atr")
end

--- Print to stderr when running verbose (`opts.verbose`); arguments are
-- joined with tabs like `print`.
function Card:log(...)
  if self._verbose then
    local t = { n = select("#", ...), ... }
    for i = 1, t.n do t[i] = tostring(t[i]) end
    stderr:write("[vcard] ", table.concat(t, "\t", 1, t.n), "\n")
  end
end

--- Stop the card: after the current reply, close the connection and make
-- `vcard.run` return.
function Card:stop()
  self._stop = true
end

--- Load a card script file.
-- @tparam string path file that returns a spec table (or an apdu function)
-- @treturn table spec
function M.load(path)
  local chunk, err = loadfile(path)
  if not chunk then util.misuse("vcard.load: %s", err) end
  local spec = chunk(path)
  if type(spec) == "function" then spec = { apdu = spec } end
  if type(spec) ~= "table" then
    util.misuse("vcard.load: %s: a card script must return a table (or an apdu function)", path)
  end
  if spec.atr ~= nil then check_atr(spec.atr, "vcard.load: " .. path .. ": atr") end
  return spec
end

--- Make a card object from a spec without running it (for tests: call
-- `spec.apdu(card, capdu)` directly).
-- @tparam table spec
-- @tparam[opt] table opts `verbose`
-- @treturn table card
function M.new_card(spec, opts)
  if type(spec) ~= "table" then util.misuse("vcard.new_card: spec table expected, got %s", util.describe(spec)) end
  opts = opts or {}
  if spec.atr ~= nil then check_atr(spec.atr, "vcard.new_card: atr") end
  local card = setmetatable({
    resets = 0, powerons = 0, poweroffs = 0, apdus = 0,
    state = {}, atr = spec.atr or M.DEFAULT_ATR, spec = spec,
    _verbose = opts.verbose and true or false,
  }, Card)
  return card
end

local function report(card, what, err)
  stderr:write(format("vcard: %s: %s\n", what, tostring(err)))
  card:log("answering 6F00")
end

local traceback = debug.traceback

-- Call a handler, never letting its error escape.
local function call(card, what, f, ...)
  -- (Lua 5.1's xpcall passes no arguments to f)
  local args = { n = select("#", ...), ... }
  local ok, r = xpcall(function() return f(card, util.unpack(args, 1, args.n)) end, traceback)
  if not ok then report(card, what .. " handler failed", r); return nil, true end
  return r
end

local SW_6F00 = "\111\0" -- 6F 00

-- Commands on stdin (`opts.control`), one a line:
--   remove [MS]      pull the card out; back after MS, or at "insert"
--   insert           put it back
--   swap HEX [MS]    pull it out, change the ATR, back after MS (default 0)
--   stop             leave for good (so does the end of stdin)
-- Lines are taken one action at a time: what follows a remove waits until
-- the card is back in.
local function control_line(card, line)
  local words = {}
  for w in line:gmatch("%S+") do words[#words + 1] = w end
  local cmd = words[1]
  if cmd == nil then return end
  local function number(w)
    local n = tonumber(w)
    if n == nil or n ~= n or n < 0 or n > 86400000 then return nil end
    return math.floor(n + 0.5)
  end
  if cmd == "remove" then
    local ms = words[2] and number(words[2])
    if words[2] and not ms then stderr:write("vcard: remove: bad milliseconds '", words[2], "'\n"); return end
    card._remove = ms or -1
  elseif cmd == "swap" and words[2] then
    local ok, atr = pcall(util.fromhex, words[2])
    local ms = number(words[3] or "0")
    if not ok or not ms then
      stderr:write("vcard: swap: an ATR in hex and milliseconds expected\n")
      return
    end
    local why = atr_problem(atr)
    if why then stderr:write("vcard: swap: ", why, "\n"); return end
    card.atr = atr
    card._remove = ms
  elseif cmd == "stop" then
    card._stop = true
  elseif cmd == "insert" then
    card._insert = true
  else
    stderr:write("vcard: unknown control command '", line, "'\n")
    return
  end
  card:log("control:", line)
end

-- Reads what stdin has now into whole lines; the end of stdin stops.
-- Linear in what is read: each byte is looked at once (a plain find of
-- the next newline), and the pieces of an unfinished line are kept in a
-- list until its newline comes, not joined at every read.
local function control_read(card)
  local data, err = io_.read(0, 4096)
  if data == nil then
    if err ~= "interrupted" then card._stop = true end
    return
  end
  if data == "" then card._stop = true; return end
  local part = card._ctl_part or {}
  local from = 1
  while true do
    local nl = data:find("\n", from, true)
    if not nl then break end
    part[#part + 1] = data:sub(from, nl - 1)
    card._ctl_lines[#card._ctl_lines + 1] = table.concat(part)
    part, from = {}, nl + 1
  end
  if from <= #data then part[#part + 1] = data:sub(from) end
  card._ctl_part = part
end

-- Runs queued control lines until one acts on the card. True if one did.
local function control_run(card)
  local lines = card._ctl_lines
  while #lines > 0 and not (card._remove or card._stop or card._insert) do
    control_line(card, table.remove(lines, 1))
  end
  return card._remove ~= nil or card._stop == true
end

-- The next message from vpcd (one that came during a delay first), or
-- nil, "control" when a control command wants the card out.
local function next_message(card, conn)
  if card._early[1] then return table.remove(card._early, 1) end
  if not card._control then return conn:recv() end
  while true do
    card._insert = nil -- the card is in already
    if control_run(card) then return nil, "control" end
    local msg, err, code = conn:recv(0)
    if msg or err ~= "timeout" then return msg, err, code end
    local which = io_.readable(conn:fileno(), 0)
    if which == 2 then control_read(card) end
  end
end

-- While the card is out for good (remove without milliseconds): wait for
-- "insert" or "stop" on stdin.
local function out_until_insert(card)
  card._remove = nil
  while true do
    card._insert = nil
    control_run(card)
    if card._stop or card._insert then return end
    if card._remove then
      if card._remove >= 0 then return end -- a swap (or remove MS): back after it
      card._remove = nil -- another remove: still out
    end
    if io_.readable(0) == 1 then control_read(card) end
  end
end

-- The card's delay: waits `ms` on the connection rather than in a plain
-- sleep, so that it ends as soon as vpcd closes it (returns false then).
-- vpcd sends nothing while it waits for a reply, but whatever arrives is
-- kept in card._early for `serve`, never lost.
local function pause(card, conn, ms)
  local deadline = core.now() + ms
  while true do
    -- recv takes whole milliseconds; now() has a fraction
    local left = math.ceil(deadline - core.now())
    if left <= 0 then return true end
    local msg, err = conn:recv(left)
    if msg then
      card._early[#card._early + 1] = msg
    elseif err == "timeout" then
      return true
    elseif err ~= "interrupted" then
      card:log("connection ended during a delay:", err)
      return false
    end
  end
end

-- Sends the reply, or the raw bytes of `raw_reply` instead.  Returns true,
-- or nil, why when the connection is gone.
local function answer(card, conn, reply)
  local raw = card._raw
  if raw then
    card._raw = nil
    if card._verbose then card:log("raw reply", hex(raw)) end
    return conn:sendraw(raw)
  end
  return conn:send(reply)
end

-- What vpcd's one-byte messages count and tell the `power` handler.
local POWER = { [0] = { "poweroffs", "off" }, [1] = { "powerons", "on" }, [2] = { "resets", "reset" } }

-- The reply to vpcd's one-byte message `c`: the ATR for 4; nothing for
-- power off (0), on (1) and reset (2), which go to the `power` handler, or
-- an unknown code.
local function control_reply(card, c, power)
  if c == 4 then
    local reply = card._atr_raw or card.atr
    card:log("ATR requested:", hex(reply))
    return reply
  end
  local p = POWER[c]
  if not p then
    card:log(format("unknown control code %02X ignored", c))
    return nil
  end
  card[p[1]] = card[p[1]] + 1
  card:log("power " .. p[2])
  if power then call(card, "power", power, p[2]) end
end

-- The `apdu` handler's reply to the command `msg`, or 6F00 when it failed
-- or gave what vpcd cannot carry.
local function apdu_reply(card, apdu, msg)
  card.apdus = card.apdus + 1
  if card._verbose then card:log("C-APDU", hex(msg)) end
  local ok, r = xpcall(function() return apdu(card, msg) end, traceback)
  if not ok then
    report(card, "apdu handler failed", r)
    r = SW_6F00
  elseif type(r) ~= "string" or #r < 1 or #r > 65535 then
    -- A 1-byte reply goes out as it is: a script may play a broken
    -- card on purpose.  An empty one cannot: vpcd reads a frame of
    -- length 0 by waiting for one more byte (recv with MSG_WAITALL),
    -- and the client's SCardTransmit never returns.
    report(card, "apdu handler", "reply must be a string of 1..65535 bytes, got "
           .. (type(r) == "string" and (#r .. " bytes") or type(r)))
    r = SW_6F00
  end
  if card._verbose then card:log("R-APDU", hex(r)) end
  return r
end

-- After a message: the card's delay, the reply (if any), then what the
-- handlers asked for. Returns nil to serve on, or "closed", "remove" or
-- "stop".
local function respond(card, conn, reply)
  if card._delay then
    local ms = card._delay
    card._delay = nil
    if not pause(card, conn, ms) then return "closed" end
  end
  if reply then
    local ok, e = answer(card, conn, reply)
    if not ok then
      card:log("send failed:", e)
      return "closed"
    end
  end
  if reply == "" then
    -- only a raw ATR can be empty: vpcd reads an empty frame by waiting
    -- for a byte that never comes, unless the connection ends
    card:log("empty ATR sent: leaving")
    return "closed"
  end
  if card._cut then
    card._remove, card._cut = card._cut, nil
    return "remove"
  end
  if card._stop then return "stop" end
  if card._remove then return "remove" end
end

-- Serve one connection. Returns "closed", "remove" or "stop".
local function serve(card, conn)
  local spec = card.spec
  local apdu, power = spec.apdu, spec.power
  while true do
    local msg, err, code = next_message(card, conn)
    if not msg and err == "control" then
      return card._stop and "stop" or "remove"
    elseif not msg and err ~= "interrupted" then
      card:log("connection ended:", err, code)
      return "closed"
    elseif msg then
      local reply
      if #msg == 1 then
        reply = control_reply(card, byte(msg), power)
      else
        reply = apdu_reply(card, apdu, msg)
      end
      local why = respond(card, conn, reply)
      if why then return why end
    end
  end
end

-- Connect, retrying every RETRY_MS. Returns conn, or nil if stopped.
local function connect(card, host, port, quiet_after)
  -- quiet_after: ms before telling stderr that vpcd is not listening
  local t0 = core.now()
  local warned = false
  while true do
    local conn, err = io_.connect(host, port)
    if conn then return conn end
    if not warned and core.now() - t0 > quiet_after then
      stderr:write(format("vcard: waiting for the reader driver (vpcd) on %s:%d (%s)\n", host, port, err))
      warned = true
    end
    if core.now() - t0 < M.RETRY_MS then card:log("connect failed:", err) end
    core.sleep(M.RETRY_MS)
  end
end

-- While out after a connection that ended for `why` ("stop", "remove",
-- "closed"): as long as the card is to stay out. True when it stops.
local function out(card, why)
  if why == "stop" then
    card:log("stopped")
    card._stop = nil
    return true
  elseif why == "remove" and card._remove < 0 then
    card:log("removed until the control command insert")
    out_until_insert(card)
    if card._stop then card._stop = nil; return true end
    if card._remove then core.sleep(card._remove) end
  elseif why == "remove" then
    card:log(format("removed for %d ms", card._remove))
    core.sleep(card._remove)
  else
    core.sleep(M.RETRY_MS) -- vpcd went away; don't spin while it restarts
  end
  return false
end

--- Run a card (does not return unless the card calls `card:stop()`).
-- @tparam table|string spec card spec table, or the path of a card script
-- @tparam[opt] table opts `host` (default "127.0.0.1"), `port` (default
--   35963) or `reader` (N: port 35963+N), `verbose` (log to stderr),
--   `card` (use this card object, e.g. from `vcard.new_card`), `control`
--   (take the commands `remove [MS]`, `insert`, `swap HEX [MS]`, `stop`
--   from stdin, one a line; the end of stdin stops the card),
--   `waiting_notice_ms` (default 3000: how long vpcd may not listen, at
--   the first connection, before stderr says the card waits for it; 3000
--   when it reconnects)
-- @treturn table the card object (after `card:stop()`)
function M.run(spec, opts)
  opts = opts or {}
  if type(spec) == "string" then spec = M.load(spec) end
  if type(spec) == "function" then spec = { apdu = spec } end
  if type(spec) ~= "table" or type(spec.apdu) ~= "function" then
    util.misuse("vcard.run: spec.apdu must be a function")
  end
  local host = opts.host or "127.0.0.1"
  local port = opts.port or (M.BASE_PORT + (opts.reader or 0))
  local card = opts.card or M.new_card(spec, opts)
  card._control = opts.control and true or false
  card._ctl_lines = {}
  local notice_ms = opts.waiting_notice_ms or 3000
  if spec.init then
    local _, failed = call(card, "init", spec.init)
    if failed then error("vcard.run: init handler failed", 2) end
  end
  while true do
    card._remove, card._delay, card._raw, card._cut, card._early = nil, nil, nil, nil, {}
    -- a raw ATR (raw_atr) lasts for the one connection that follows it
    card._atr_raw, card._next_atr = card._next_atr, nil
    local conn = connect(card, host, port, notice_ms)
    notice_ms = 3000 -- (a reconnection: pcscd restarting takes a moment)
    card:log(format("inserted (connected to %s:%d)", host, port))
    local why = serve(card, conn)
    conn:close()
    if out(card, why) then return card end
  end
end

return M
