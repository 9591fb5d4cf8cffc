-- iscard.monitor, iscard.wait and iscard.cancel on the real stack: pcscd,
-- vpcd and the test card (spec/cards/testcard.lua), which removes itself
-- (80 02) and swaps itself for a card with another ATR (80 09) on request.
-- Every wait is for a state, bounded; the only clock readings are loose
-- checks that a wait did wait, and did not wait for ever.
local iscard = require "iscard"
local core = require "iscard.core"
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local RS = iscard.reader_states
local R1, R2 = bed.readers[1], bed.readers[2]
local ATR = "\59\128\128\1\1" -- the test card's
local ATR2 = "\59\129\128\1\65\65" -- another card's: T=1, historical byte 41, TCK 41

local function has(bits, flag) return math.floor(bits / flag) % 2 == 1 end
local function counter(bits) return math.floor(bits / 65536) % 65536 end

local sh = bed.sh

local function read_file(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

-- What pcscd says of reader now: its event counter, presence, ATR.
local function look(reader)
  local st = { { reader = reader, current = RS.UNAWARE } }
  assert(iscard.status_change(nil, 0, st))
  return counter(st[1].event), has(st[1].event, RS.PRESENT), st[1].atr
end

-- Waits (bounded) until reader's counter is `target` and a card is in.
local function await_counter(reader, target)
  local ctx = assert(iscard.ISCard())
  local st = { reader = reader, current = RS.UNAWARE }
  local deadline = core.now() + 20000
  while true do
    local r, msg, code = iscard.status_change(ctx, 250, { st })
    if r then
      if counter(st.event) == target and has(st.event, RS.PRESENT) then break end
      st.current = st.event
      if has(st.current, RS.CHANGED) then st.current = st.current - RS.CHANGED end
    else
      assert(code == iscard.errors.SCARD_E_TIMEOUT, msg)
    end
    assert(core.now() < deadline, "counter of " .. reader .. " did not reach " .. target)
  end
  ctx:close()
end

-- Sends one APDU to the card in reader (the card may leave after it).
local function tell(reader, apdu)
  local card = bed.attach(reader)
  assert.are.equal("\144\0", bed.raw(card, apdu))
  card:close()
end

local function swap_apdu(atr, tens_of_ms)
  return bed.card.swap(atr, (tens_of_ms or 0) * 10)
end

-- Swaps the card in reader for one with atr, and waits until pcscd has
-- seen both the removal and the insertion.
local function swap(reader, atr)
  local c = look(reader)
  tell(reader, swap_apdu(atr))
  await_counter(reader, (c + 2) % 65536)
end

-- Polls until done(events) holds (bounded); returns all events seen.
local function collect(mon, done, what)
  local all = {}
  local deadline = core.now() + 30000
  while not done(all) do
    assert(core.now() < deadline, "monitor: no " .. what .. " within 30 s")
    for _, ev in ipairs(assert(mon:poll(500))) do all[#all + 1] = ev end
  end
  return all
end

-- The events as "type reader [ATR-hex]" strings, for exact comparisons.
local function show(events)
  local out = {}
  for i, ev in ipairs(events) do
    out[i] = ev.type .. (ev.reader and (" " .. ev.reader) or "") .. (ev.atr and (" " .. bed.hex(ev.atr)) or "")
  end
  return out
end

local function count(events, type_, reader)
  local n = 0
  for _, ev in ipairs(events) do
    if ev.type == type_ and (reader == nil or ev.reader == reader) then n = n + 1 end
  end
  return n
end

local function has_event(type_, reader, n)
  return function(all) return count(all, type_, reader) >= (n or 1) end
end

-- The bed as every spec file expects it (bed.restore: pcscd up, both
-- cards in), and the test card's own ATR back in both readers.
local function restore()
  bed.restore()
  for _, r in ipairs(bed.readers) do
    local _, _, atr = look(r)
    if atr ~= ATR then swap(r, ATR) end
  end
end

describe("iscard.monitor", function()
  after_each(restore)

  it("first reports what is there: each reader, then its card with the ATR", function()
    local mon = iscard.monitor()
    assert.are.same({
      "reader_added " .. R1, "card_inserted " .. R1 .. " " .. bed.hex(ATR),
      "reader_added " .. R2, "card_inserted " .. R2 .. " " .. bed.hex(ATR),
    }, show(mon:poll(0)))
    assert.are.same({}, mon:poll(0))
    for _, ev in ipairs(iscard.monitor():poll()) do
      assert.is_number(ev.time)
      assert.is_true(math.abs(ev.time - os.time()) <= 5)
    end
    assert.are.same({}, iscard.monitor({ initial = false }):poll(0))
    assert.are.same({ "reader_added " .. R2, "card_inserted " .. R2 .. " " .. bed.hex(ATR) },
      show(iscard.monitor({ readers = { R2, "No such reader" } }):poll(0)))
    mon:close()
  end)

  it("reports a removal and the insertion after it, on that reader only", function()
    local mon = iscard.monitor({ initial = false })
    local c = look(R1)
    tell(R1, bed.card.remove(500))
    local seen = collect(mon, has_event("card_inserted", R1), "insertion")
    assert.are.same({ "card_removed " .. R1, "card_inserted " .. R1 .. " " .. bed.hex(ATR) }, show(seen))
    assert.are.equal((c + 2) % 65536, (look(R1)))
    mon:close()
  end)

  it("gives as many events as pcscd counted over 50 insertions and removals", function()
    local mon = iscard.monitor({ initial = false })
    local c0 = look(R1)
    local all = {}
    for i = 1, 25 do
      tell(R1, bed.card.remove(0)) -- out and back at once
      await_counter(R1, (c0 + 2 * i) % 65536)
      -- poll now and then: some events come one by one, some in a heap
      if i % 3 == 0 then
        for _, ev in ipairs(assert(mon:poll(0))) do all[#all + 1] = ev end
      end
    end
    local delta = (look(R1) - c0) % 65536
    assert.are.equal(50, delta)
    for _, ev in ipairs(collect(mon, function(a) return #all + #a >= delta end, "events")) do
      all[#all + 1] = ev
    end
    assert.are.same({}, mon:poll(0)) -- and nothing more
    assert.are.equal(delta, #all)
    for i, ev in ipairs(all) do
      assert.are.equal(R1, ev.reader)
      assert.are.equal(i % 2 == 1 and "card_removed" or "card_inserted", ev.type)
    end
    assert.are.equal(ATR, all[#all].atr)
    mon:close()
  end)

  it("sees a card swapped between two polls: removal, then insertion with the new ATR", function()
    local mon = iscard.monitor({ initial = false })
    assert.are.same({}, mon:poll(0))
    swap(R1, ATR2)
    assert.are.same({ "card_removed " .. R1, "card_inserted " .. R1 .. " " .. bed.hex(ATR2) },
      show(mon:poll(0)))
    swap(R1, ATR)
    assert.are.same({ "card_removed " .. R1, "card_inserted " .. R1 .. " " .. bed.hex(ATR) },
      show(collect(mon, has_event("card_inserted", R1), "insertion")))
    mon:close()
  end)

  it("poll(0) returns at once, a timed poll on time with an empty list", function()
    local mon = iscard.monitor({ initial = false })
    local t0 = core.now()
    assert.are.same({}, mon:poll(0))
    local zero = core.now() - t0
    t0 = core.now()
    assert.are.same({}, mon:poll(600))
    local timed = core.now() - t0
    print(("\n  poll(0): %.1f ms; poll(600): %.1f ms"):format(zero, timed))
    assert.is_true(zero < 2000, "poll(0) took " .. zero .. " ms")
    assert.is_true(timed >= 599 and timed < 5000, "poll(600) took " .. timed .. " ms")
    mon:close()
  end)

  it("cancel before a wait makes it return at once; the next one waits again", function()
    local mon = iscard.monitor({ initial = false })
    assert.is_true(mon:cancel())
    local t0 = core.now()
    assert.are.same({}, mon:poll(20000))
    assert.is_true(core.now() - t0 < 15000, "the cancel was lost")
    t0 = core.now()
    assert.are.same({}, mon:poll(300))
    assert.is_true(core.now() - t0 >= 299, "a cancel was used twice")
    assert.is_true(iscard.cancel(mon))
    assert.are.same({}, mon:poll(-1))
    mon:close()
  end)

  it("cancel during a wait makes it return (from a hook, as a signal handler would)", function()
    local mon = iscard.monitor({ initial = false })
    local t0 = core.now()
    local fired = false
    -- The hook runs between two slices of the wait: the wait has begun.
    debug.sethook(function()
      if not fired and core.now() - t0 > 400 then fired = true; mon:cancel() end
    end, "", 50)
    local ok, list = pcall(mon.poll, mon, 20000)
    debug.sethook()
    assert.is_true(ok, list)
    assert.is_true(fired)
    assert.are.same({}, list)
    local took = core.now() - t0
    assert.is_true(took >= 400 and took < 15000, "took " .. took .. " ms")
    mon:close()
  end)

  it("cancel after a wait is kept for the next one", function()
    local mon = iscard.monitor({ initial = false })
    assert.are.same({}, mon:poll(100))
    mon:cancel()
    local t0 = core.now()
    for _ in mon:events(-1) do error("no event expected") end -- ends: cancelled
    assert.is_true(core.now() - t0 < 15000)
    mon:close()
  end)

  it("events() iterates and ends after the timeout with nothing new", function()
    local mon = iscard.monitor()
    local got = {}
    for ev in mon:events(300) do got[#got + 1] = ev.type end
    assert.are.same({ "reader_added", "card_inserted", "reader_added", "card_inserted" }, got)
    local it = mon:events(0)
    mon:close()
    assert.is_nil(it()) -- an iterator made before close ends
    assert.has_error(function() mon:events(0) end, "iscard.monitor: events on a closed monitor")
  end)

  it("close releases once, never raises; a closed monitor refuses poll", function()
    local mon = iscard.monitor()
    assert.is_true(mon.Context ~= 0)
    mon:close()
    mon:close()
    assert.are.equal(0, mon.Context)
    assert.matches("closed", tostring(mon))
    assert.has_error(function() mon:poll(0) end, "iscard.monitor: poll on a closed monitor")
    assert.has_error(function() return mon.Pol end, "iscard.monitor has no member 'Pol'")
    assert.has_error(function() iscard.monitor({ reader = {} }) end, "iscard.monitor: unknown option 'reader'")
    assert.has_error(function() iscard.monitor({ readers = { "" } }) end)
    assert.has_error(function() iscard.monitor():poll("x") end)
    -- GC of monitors that were never closed releases their contexts
    for _ = 1, 300 do iscard.monitor({ initial = false }) end
    collectgarbage(); collectgarbage()
    assert.is_truthy(iscard.ISCard())
  end)
end)

describe("iscard.wait and iscard.cancel", function()
  after_each(restore)

  it("wait times out on time through its slices, and sees a removal", function()
    local t0 = core.now()
    local ok, _, code = iscard.wait(R1, false, 700)
    local took = core.now() - t0
    assert.is_nil(ok)
    assert.are.equal(iscard.errors.SCARD_E_TIMEOUT, code)
    assert.is_true(took >= 699 and took < 5000, "took " .. took .. " ms")
    tell(R1, bed.card.remove(1000))
    assert.is_true(iscard.wait(R1, false, 10000))
    assert.is_true(iscard.wait(R1, true, 20000))
    local _, _, ucode = iscard.wait("No such reader", true, 0)
    assert.are.equal(iscard.errors.SCARD_E_UNKNOWN_READER, ucode)
  end)

  it("wait(nil) is any reader: the first with a card now, then every reader empty, then a card back", function()
    local ok, reader = iscard.wait(nil, true, 0)
    assert.is_true(ok)
    assert.are.equal(R1, reader) -- both have a card: the first in PC/SC's order
    local none, _, code = iscard.wait(nil, false, 0)
    assert.is_nil(none)
    assert.are.equal(iscard.errors.SCARD_E_TIMEOUT, code)
    tell(R1, "\128\2\2\0") -- out for 5.12 s
    assert.is_true(iscard.wait(R1, false, 10000))
    ok, reader = iscard.wait(nil, true, 0)
    assert.is_true(ok)
    assert.are.equal(R2, reader)
    tell(R2, "\128\2\2\0")
    ok, reader = iscard.wait(nil, false, 10000) -- both out: some 5 s overlap
    assert.is_true(ok)
    assert.is_nil(reader)
    ok, reader = iscard.wait(nil, true, 20000) -- the first back
    assert.is_true(ok)
    assert.is_true(reader == R1 or reader == R2, tostring(reader))
  end)

  it("cancel on an ISCard's context is SCardCancel (a no-op with no wait running)", function()
    local card = assert(iscard.ISCard())
    assert.is_true(iscard.cancel(card))
    card:close()
    assert.has_error(function() iscard.cancel(card) end)
    assert.has_error(function() iscard.cancel(nil) end)
  end)

  it("status_change has no reader limit of its own", function()
    local many = {}
    for i = 1, 40 do many[i] = { reader = bed.readers[i % 2 + 1], current = RS.UNAWARE } end
    local r, msg, code = iscard.status_change(nil, 0, many)
    -- pcsc-lite before 2.5 refuses more than 16 entries itself
    if r then
      assert.are.equal(40, #r)
      assert.is_true(has(r[40].event, RS.PRESENT))
    else
      assert.are.equal(iscard.errors.SCARD_E_INVALID_PARAMETER, code, msg)
    end
  end)
end)

describe("Ctrl-C", function()
  it("stops a script blocked in events() with 'interrupted!'", function()
    local p = bed.spawn([[
      local iscard = require "iscard"
      local f = io.open("/proc/self/stat"); local pid = f:read("*a"):match("^(%d+)"); f:close()
      local mon = iscard.monitor({ initial = false })
      io.stdout:write("pid=", pid, "\n"); io.stdout:flush()
      for _ in mon:events(-1) do end
      print("events ended")
    ]])
    p.await("pid=%d+")
    local pid = p.output():match("pid=(%d+)")
    bed.sleep(0.3) -- let it get into the wait (an earlier signal ends it the same way)
    local t0 = core.now()
    assert.is_true(sh("kill -INT " .. pid))
    local out = p.wait(20)
    local took = core.now() - t0
    print(("\n  SIGINT to exit: %.0f ms"):format(took))
    assert.matches("interrupted!", out, 1, true)
    assert.is_nil(out:find("events ended", 1, true))
    assert.is_true(took < 5000, "took " .. took .. " ms")
  end)
end)

local describe_private = bed.private and describe or pending

describe_private("iscard.monitor across pcscd outages", function()
  after_each(restore)

  -- pcscd's auto-exit: its alarm's SIGALRM sets a flag that pcscd 1.9.9's
  -- main loop reads only when its select() returns -- when the signal
  -- interrupts it, or at the next client's connection. So knock (connect)
  -- until it has gone, as the next client would.
  local function alarm()
    local pid = read_file(os.getenv("ISCARD_PCSCD_PIDFILE")):match("%d+")
    assert(sh("kill -ALRM " .. pid))
    local deadline = core.now() + 20000
    while read_file("/proc/" .. pid .. "/stat"):match("^%d+ %b() ([^Z])") do
      assert(core.now() < deadline, "pcscd did not exit on SIGALRM")
      local knock = iscard.ISCard()
      if knock then knock:close() end
      bed.sleep(0.1)
    end
  end

  -- pcscd gone, back, and the monitor's card events after it.
  local function outage(stop)
    local mon = iscard.monitor({ initial = false })
    assert.are.same({}, mon:poll(0))
    stop()
    local lost = collect(mon, has_event("service_lost"), "service_lost")
    assert.are.same({ "service_lost" }, show(lost))
    assert.are.same({}, mon:poll(300)) -- still away: nothing more
    assert.is_true(bed.restart("TERM"))
    local back = collect(mon, has_event("service_back"), "service_back")
    for _, r in ipairs(bed.readers) do bed.inserted(r) end
    -- what changed over the outage (vpcd's cards were dropped and come
    -- back), until the monitor sees both cards again
    local function cards(events, r)
      return count(events, "card_inserted", r) - count(events, "card_removed", r)
    end
    local function settled(all)
      return cards(back, R1) + cards(all, R1) >= 0 and cards(back, R2) + cards(all, R2) >= 0
    end
    for _, ev in ipairs(collect(mon, settled, "cards back")) do back[#back + 1] = ev end
    assert.are.equal("service_back", back[1].type)
    assert.are.equal(0, count(back, "service_lost"))
    -- card events keep coming
    tell(R1, bed.card.remove(500))
    assert.are.same({ "card_removed " .. R1, "card_inserted " .. R1 .. " " .. bed.hex(ATR) },
      show(collect(mon, has_event("card_inserted", R1), "insertion")))
    mon:close()
  end

  it("pcscd killed, then restarted: service_lost once, service_back, events again", function()
    -- (The bed's first pcscd is the bed script's child, whose death by
    -- KILL bash would report on the last line, where CI reads the summary.)
    assert.is_true(bed.restart("TERM"))
    outage(function() assert.is_true(bed.restart("KILL", true)) end)
  end)

  it("pcscd exiting on its own (--auto-exit): the same", function()
    -- A pcscd started with -x leaves by its alarm (SIGALRM) 60 s after its
    -- last client; an open context keeps it alive, so the spec sends the
    -- alarm's signal itself rather than waiting.
    assert.is_true(bed.restart("TERM", false, { ISCARD_PCSCD_FLAGS = "-x" }))
    outage(alarm)
  end)

  it("a monitor made while pcscd is away says so first, then what it finds", function()
    assert.is_true(bed.restart("TERM", true))
    local mon = iscard.monitor({ initial = false })
    assert.are.equal(0, mon.Context)
    assert.are.same({ "service_lost" }, show(mon:poll(0)))
    assert.is_true(bed.restart("TERM"))
    local seen = collect(mon, has_event("reader_added", nil, 2), "readers")
    local kinds = {}
    for _, s in ipairs(show(seen)) do
      if not s:find("^card_") then kinds[#kinds + 1] = s end
    end
    assert.are.same({ "service_back", "reader_added " .. R1, "reader_added " .. R2 }, kinds)
    mon:close()
  end)
end)

describe("iscard monitor and iscard wait", function()
  after_each(restore)
  local lua = os.getenv("LUA") or "lua5.4"

  local function run(args)
    local p = assert(io.popen(lua .. " bin/iscard " .. args .. " 2>&1; echo \"rc=$?\""))
    local out = p:read("*a")
    p:close()
    return out
  end

  local read = read_file

  it("monitor --json prints one object per event, as it happens, until Ctrl-C", function()
    local base = os.tmpname()
    assert.is_true(sh(("(%s bin/iscard monitor --json > %s.out 2> %s.err & echo $! > %s.pid; "
      .. "wait $!; echo $? > %s.rc) &"):format(lua, base, base, base, base)))
    local function lines()
      local t = {}
      for l in read(base .. ".out"):gmatch("[^\n]+") do t[#t + 1] = l end
      return t
    end
    local deadline = core.now() + 20000
    while #lines() < 4 do
      assert(core.now() < deadline, "no snapshot: " .. read(base .. ".err"))
      bed.sleep(0.05)
    end
    tell(R1, bed.card.remove(500))
    while #lines() < 6 do
      assert(core.now() < deadline, "no events: " .. read(base .. ".err"))
      bed.sleep(0.05)
    end
    assert.is_true(sh("kill -INT " .. read(base .. ".pid"):match("%d+")))
    while read(base .. ".rc") == "" do
      assert(core.now() < deadline + 10000, "monitor did not stop on SIGINT")
      bed.sleep(0.05)
    end
    local l = lines()
    local t = "^{\"time\":%d+,"
    local r1, r2 = '"reader":"' .. R1 .. '"', '"reader":"' .. R2 .. '"'
    assert.matches(t .. '"type":"reader_added",' .. r1 .. "}$", l[1])
    assert.matches(t .. '"type":"card_inserted",' .. r1 .. ',"atr":"3B80800101"}$', l[2])
    assert.matches(t .. '"type":"reader_added",' .. r2 .. "}$", l[3])
    assert.matches(t .. '"type":"card_inserted",' .. r2 .. ',"atr":"3B80800101"}$', l[4])
    assert.matches(t .. '"type":"card_removed",' .. r1 .. "}$", l[5])
    assert.matches(t .. '"type":"card_inserted",' .. r1 .. ',"atr":"3B80800101"}$', l[6])
    assert.are.equal(6, #l)
    assert.are.equal("130", read(base .. ".rc"):match("%d+"))
    for _, ext in ipairs { "", ".out", ".err", ".pid", ".rc" } do os.remove(base .. ext) end
  end)

  it("monitor -r prints time, event, reader and ATR for that reader only", function()
    local out = run("monitor --reader '" .. R2 .. "' & p=$!; sleep 1; kill -INT $p; wait $p")
    assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d  reader_added  " .. R2 .. "\n"
      .. "%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d  card_inserted  " .. R2 .. "  3B 80 80 01 01\n", out)
    assert.is_nil(out:find(R1, 1, true))
  end)

  it("wait exits 0 when it happened, 3 on timeout, 1 on a PC/SC error, 2 on a bad argument", function()
    assert.are.equal("rc=0\n", run("wait -t 0.2"))
    assert.are.equal("rc=3\n", run("wait --absent -t 0.2"))
    assert.are.equal("rc=3\n", run("wait -r '" .. R1 .. "' --absent -t 0.2"))
    assert.are.equal("rc=3\n", run("wait -r 1 --absent -t 0.2")) -- the reader by its number
    tell(R1, bed.card.remove(2000))
    assert.are.equal("rc=0\n", run("wait -r '" .. R1 .. "' --absent -t 20"))
    assert.are.equal("rc=0\n", run("wait -r1 -t 20"))
    assert.matches("SCARD_E_UNKNOWN_READER.*rc=1\n$", run("wait -r 'No such reader' -t 1"))
    assert.matches("^iscard wait: %-%-reader 3: no reader of that number.*rc=2\n$", run("wait -r 3 -t 1"))
    assert.matches("^iscard wait: %-%-timeout: seconds 0..4294967 expected[^\n]*\n.*rc=2\n$", run("wait -t soon"))
  end)
end)
