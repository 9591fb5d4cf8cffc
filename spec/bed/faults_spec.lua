-- Faults staged on the real stack (pcscd + vpcd + spec/cards/testcard.lua):
-- the scenarios of the README's reliability table that no other spec file
-- covers, each asserting a typed error, recovery where there is one, and
-- that nothing was lost or replayed.  Tests named "#slow" restart pcscd or
-- wait for several card removals: `make test` leaves them out,
-- `make test-faults` runs them all.  Every test that stops pcscd or pulls a
-- card puts the bed back in after_each (spec/support/hooks.lua does it
-- again before the next test).
local iscard = require "iscard"
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end
local oracle = require "support.oracle"

local E = iscard.errors
local RS = iscard.reader_states
local R0, R1 = bed.readers[1], bed.readers[2]
local fails_with = oracle.failure_check(E)

-- A failure as a value with a name iscard knows: nil, "NAME: ...", code.
local function typed(ok, msg, code)
  assert.is_nil(ok, "expected a failure")
  assert.is_string(msg)
  local name = msg:match("^([%w_]+):")
  assert.is_truthy(name, msg)
  assert.are.equal(code, E[name], msg)
  return name
end

-- The child's Lua prelude: iscard, a line printer that flushes, and the
-- word a child prints for a failure: "service_lost" when bed.service_lost
-- says so (asked in the child, with its card), else the error's name.
local PRELUDE = [[
local iscard = require "iscard"
local bed = require "support.bed"
local function say(...) print(...) io.stdout:flush() end
local function name(msg, code, card)
  if code and bed.service_lost(code, card) then return "service_lost" end
  return tostring(msg):match("^([%w_]+):") or "UNTYPED"
end
]]

local function has(bits, flag) return math.floor(bits / flag) % 2 == 1 end

-- Waits (bounded) until the reader's state differs from `current`.
-- Waits (bounded) until pcscd reports a card in reader, usable or mute;
-- returns the state bits and the ATR it reports.
local function card_seen(reader)
  local e = { reader = reader, current = RS.UNAWARE }
  for _ = 1, 50 do
    assert(iscard.status_change(nil, 10000, { e }))
    if has(e.event, RS.PRESENT) or has(e.event, RS.MUTE) then return e.event, e.atr end
    e.current = e.event
    if has(e.current, RS.CHANGED) then e.current = e.current - RS.CHANGED end
  end
  error("no card seen in " .. reader)
end

-- Waits (bounded) until the card in reader answers a new connection: a
-- card back in vpcd before pcscd's next presence poll is "present" for
-- pcscd some time before vpcd can reach it.
local function answering(reader)
  local msg
  for _ = 1, 400 do
    local c = assert(iscard.ISCard())
    local ok, amsg = c:AttachByReader(reader)
    if ok then ok, amsg = c:transmit(bed.card.counters) end -- journal untouched
    c:close()
    if ok then return end
    msg = amsg
    bed.sleep(0.05)
  end
  error("the card in " .. reader .. " does not answer: " .. tostring(msg))
end

-- bed.restore, and both cards answer.
local function restore()
  bed.restore()
  answering(R0)
  answering(R1)
end

-- A new pcscd with the test bed's config and flags, both cards answering.
local function restart()
  assert.is_true(bed.restart("TERM"))
  restore()
end

-- Every call on card fails with error `name`, again and again (transmit,
-- and Transaction, whose command then holds no reply), until ReAttach;
-- after it an echo goes through, and it is all the card's journal holds
-- since the test cleared it: nothing refused reached the card, nothing
-- was replayed.
local function sticky_until_reattach(card, name)
  for _ = 1, 3 do fails_with(name, card:transmit(bed.echo_apdu("x"))) end
  local c = iscard.ISCardCmd():BuildCmd(0x80, 1, 0, 0, "x")
  fails_with(name, card:Transaction(c))
  assert.are.equal("", c.ApduReply)
  assert(card:ReAttach())
  assert.are.equal("y\144\0", bed.raw(card, bed.echo_apdu("y")))
  assert.are.same({ "y" }, bed.journal(card))
end

local describe_private = bed.private and describe or pending

describe("a card removed in the middle of its answer", function()
  after_each(restore)

  it("gives the bytes that arrived or a typed error, then a sticky removed-card error until ReAttach; "
    .. "the other reader works", function()
    local card = bed.attach(R0)
    local other = bed.attach(R1)
    bed.journal(card)
    -- 258 bytes announced, 100 sent, then the card is out for 1 s: vpcd
    -- hands pcscd what it got, so the caller gets those bytes or an error,
    -- never bytes the card did not send.
    local r, msg, code = card:transmit(bed.card.cut_reply(100, 1000))
    if r then assert.are.equal(("\85"):rep(100), r) else typed(r, msg, code) end
    assert(iscard.wait(R0, false, 10000))
    -- the other reader is not disturbed while this one is empty
    assert.are.equal("o\144\0", bed.raw(other, bed.echo_apdu("o")))
    fails_with("SCARD_W_REMOVED_CARD", card:transmit(bed.echo_apdu("x")))
    bed.inserted(R0)
    -- sticky: back in the reader, the old connection still refuses
    sticky_until_reattach(card, "SCARD_W_REMOVED_CARD")
    card:Detach(); other:Detach()
  end)
end)

describe("a card swapped while attached", function()
  after_each(restore)

  it("a swap pcscd sees ends the old connection for good; the new card is reached only after ReAttach #slow", function()
    local card = bed.attach(R0)
    bed.journal(card)
    bed.remove(card, 1000) -- waits until pcscd saw the reader empty
    bed.inserted(R0)
    sticky_until_reattach(card, "SCARD_W_REMOVED_CARD")
    card:Detach()
  end)

  it("a swap faster than pcscd's presence poll can be invisible to pcscd (documented): "
    .. "the old handle then reaches the new card", function()
    -- The card is out for 10 ms.  vpcd notices only at its next I/O: when
    -- pcscd's presence poll (~400 ms) comes first, pcscd reports a removal;
    -- when our transmit comes first, it meets the dead connection (0 bytes
    -- or SCARD_E_NOT_TRANSACTED), vpcd drops it, and its next poll takes
    -- the new card in silently: the old handle then works with it.
    local card = bed.attach(R0)
    bed.journal(card)
    bed.raw(card, bed.card.remove(10))
    local r, msg, code = card:transmit(bed.echo_apdu("s"))
    if r then
      assert.is_true(r == "" or r == "s\144\0", bed.hex(r))
    else
      local name = typed(r, msg, code)
      assert.is_true(name == "SCARD_E_NOT_TRANSACTED" or name == "SCARD_W_REMOVED_CARD", msg)
    end
    -- until the old handle reaches a card again or pcscd says removed
    local t
    for _ = 1, 400 do
      t, msg, code = card:transmit(bed.echo_apdu("t"))
      if t or code == E.SCARD_W_REMOVED_CARD then break end
      fails_with("SCARD_E_NOT_TRANSACTED", t, msg, code)
      bed.sleep(0.05)
    end
    local expected = r == "s\144\0" and { "s" } or {}
    if t then
      assert.are.equal("t\144\0", t)
      expected[#expected + 1] = "t"
    else
      fails_with("SCARD_W_REMOVED_CARD", t, msg, code)
      fails_with("SCARD_W_REMOVED_CARD", card:transmit(bed.echo_apdu("t")))
      bed.inserted(R0)
      assert(card:ReAttach())
    end
    -- what reached the card is exactly what succeeded
    assert.are.same(expected, bed.journal(card))
    card:Detach()
  end)
end)

describe("a card reset by another process", function()
  it("makes every call fail with SCARD_W_RESET_CARD until ReAttach, which replays nothing", function()
    local card = bed.attach(R0)
    bed.journal(card)
    local child = bed.spawn(PRELUDE .. ([[
      local c = assert(iscard.ISCard())
      assert(c:AttachByReader(%q))
      assert(c:ReAttach(iscard.SHARED, iscard.RESET))
      say("reset")
    ]]):format(R0))
    assert.are.equal("reset\n", child.wait())
    sticky_until_reattach(card, "SCARD_W_RESET_CARD")
    card:Detach()
  end)
end)

describe("the holder of a lock is killed", function()
  it("lets the process waiting for the lock go on, after the reset pcscd gives the card", function()
    -- pcscd resets a card whose lock holder died (its state is unknown):
    -- the waiter may see that reset as a typed error once, then goes on.
    local function resets()
      local card = bed.attach(R0)
      local n = bed.counters(card).resets
      card:close()
      return n
    end
    local resets0 = resets()
    local holder = bed.spawn(PRELUDE .. ([[
      local f = assert(io.open("/proc/self/stat")); local pid = f:read("*a"):match("^(%%d+)"); f:close()
      local c = assert(iscard.ISCard())
      assert(c:AttachByReader(%q))
      assert(c:LockSCard())
      say("locked " .. pid)
      while true do os.execute("sleep 1") end
    ]]):format(R0))
    holder.await("locked %d+")
    local pid = holder.output():match("locked (%d+)")
    local waiter = bed.spawn(PRELUDE .. ([[
      say("attaching") -- pcscd holds SCardConnect back during the lock
      for _ = 1, 5 do
        local c = assert(iscard.ISCard())
        local ok, msg = c:AttachByReader(%q)
        if ok then ok, msg = c:LockSCard() end
        local r
        if ok then r, msg = c:transmit(bed.card.echo("w")) end
        c:close()
        if r then say("got " .. r:byte(1)) break end
        say("error " .. name(msg))
      end
    ]]):format(R0))
    waiter.await("attaching")
    assert.is_true(bed.sh("kill -KILL " .. pid))
    local out = waiter.wait(30)
    assert.matches("got 119\n$", out) -- "w"
    for err in out:gmatch("error ([%w_]+)") do
      assert.is_true(err == "SCARD_W_RESET_CARD" or err == "SCARD_E_PROTO_MISMATCH", out)
    end
    holder.wait(30)
    assert.are.equal(resets0 + 1, resets())
  end)
end)

describe("EXCLUSIVE against SHARED", function()
  it("is refused at once both ways, and the card is not touched (no reset, no power cycle, no APDU)", function()
    local other = assert(iscard.ISCard())
    for _, modes in ipairs { { iscard.SHARED, iscard.EXCLUSIVE }, { iscard.EXCLUSIVE, iscard.SHARED } } do
      local first = bed.attach(R0, modes[1])
      local before = bed.counters(first)
      fails_with("SCARD_E_SHARING_VIOLATION", other:AttachByReader(R0, modes[2]))
      local after = bed.counters(first)
      -- only the counters command itself was added
      assert.are.same({ before.resets, before.powerons, before.poweroffs, before.apdus + 1 },
        { after.resets, after.powerons, after.poweroffs, after.apdus })
      first:Detach()
    end
    other:close()
  end)
end)

describe("waits that time out, hundreds of times", function()
  after_each(restore)

  it("end with SCARD_E_TIMEOUT or a state, never a crash or a hang, while the card comes and goes", function()
    local card = bed.attach(R0)
    local seen = {}
    bed.raw(card, bed.card.remove(600)) -- during the loop
    card:close()
    local ctx = assert(iscard.ISCard())
    for i = 1, 600 do
      local st, msg, code = iscard.status_change(ctx, i % 2, {
        { reader = R0, current = i % 2 == 0 and RS.PRESENT or RS.EMPTY }, { reader = R1, current = RS.PRESENT } })
      if st then
        assert.is_number(st[1].event)
        seen.state = true
      else
        fails_with("SCARD_E_TIMEOUT", st, msg, code)
        seen.timeout = true
      end
    end
    ctx:close()
    assert.is_true(seen.state and seen.timeout)
  end)
end)

describe("replies of every size, on the real stack", function()
  after_each(restore)

  it("come back exact: 2, 3, 256, 257, 258, 65535 bytes", function()
    local card = bed.attach(R0)
    for _, n in ipairs { 2, 3, 256, 257, 258, 65535 } do
      local c = iscard.ISCardCmd():BuildCmd(0x00, 0xE0, math.floor(n / 256), n % 256)
      assert(card:Transaction(c))
      assert.are.equal(n, c.ApduReplyLength)
      assert.are.equal(oracle.pattern(n - 2), c.ReplyData)
      assert.are.equal(0x9000, c.ReplyStatus)
    end
    card:Detach()
  end)

  it("a reply of 1 byte is ISCARD_E_MALFORMED_RESPONSE for Transaction, the byte itself for transmit", function()
    local card = bed.attach(R0)
    assert.are.equal("\144", bed.raw(card, "\0\224\0\1"))
    local c = iscard.ISCardCmd():BuildCmd(0x00, 0xE0, 0, 1)
    fails_with("ISCARD_E_MALFORMED_RESPONSE", card:Transaction(c))
    assert.are.equal("", c.ApduReply)
    assert.are.equal("z\144\0", bed.raw(card, bed.echo_apdu("z")))
    card:Detach()
  end)

  it("a reply of 0 bytes (announced, then the card leaves) is malformed, and the card comes back", function()
    -- vpcd cannot carry an empty reply while the card stays: it reads a
    -- frame of length 0 by waiting for a byte (the client would wait for
    -- ever, spec/cards/testcard.lua 80 11).  It delivers 0 bytes when the
    -- card leaves before sending any of the announced ones.
    local card = bed.attach(R0)
    local c = iscard.ISCardCmd():BuildCmd(0x80, 0x12, 0, 100)
    local ok, msg, code = card:Transaction(c)
    fails_with("ISCARD_E_MALFORMED_RESPONSE", ok, msg, code)
    assert.matches("reply of 0 bytes", msg)
    assert(iscard.wait(R0, false, 10000))
    bed.inserted(R0)
    card:Detach()
  end)

  it("refuses a command under 4 or over MAX_APDU bytes before PC/SC: the card sees nothing", function()
    local card = bed.attach(R0)
    local before = bed.counters(card).apdus
    for _, apdu in ipairs { "", "\0", "\0\0\0", ("\0"):rep(iscard.MAX_APDU + 1) } do
      assert.has_error(function() card:transmit(apdu) end)
    end
    assert.has_error(function() iscard.ISCardCmd():put_Apdu("\0\0\0") end)
    assert.are.equal(before + 1, bed.counters(card).apdus) -- the counters command itself
    card:Detach()
  end)
end)

describe("T=0 status words from the real card", function()
  local card
  before_each(function() card = bed.attach(R0) end)
  after_each(function() card:Detach() end)

  local function tx(ins, p1, p2, le, opts)
    local c = iscard.ISCardCmd():BuildCmd(0x00, ins, p1, p2, nil, le)
    return c, card:Transaction(c, opts)
  end

  it("assembles 61xx chains, 6100 included", function()
    for _, v in ipairs { { 0x01, 3 }, { 0x10, 4 }, { 0x00, 3 } } do
      local piece = v[1] == 0 and 256 or v[1]
      local c, ok = tx(0xE2, v[1], v[2], 0)
      assert.are.equal(card, ok)
      assert.are.equal(oracle.pattern(piece * v[2]), c.ReplyData)
      assert.are.equal(0x9000, c.ReplyStatus)
    end
  end)

  it("corrects Le after 6Cxx and 6C00, and follows 6Cxx then 61xx", function()
    for _, l in ipairs { 0x10, 0 } do
      local c, ok = tx(0xE3, 0, l, 5)
      assert.are.equal(card, ok)
      assert.are.equal(oracle.pattern(l == 0 and 256 or l), c.ReplyData)
    end
    local c, ok = tx(0xE4, 0, 0x20, 5)
    assert.are.equal(card, ok)
    assert.are.equal(oracle.pattern(0x20), c.ReplyData)
    assert.are.equal(0x9000, c.ReplyStatus)
  end)

  it("ends an endless 61xx chain after max_exchanges with ISCARD_E_CHAIN_TOO_LONG", function()
    local before = bed.counters(card).apdus
    local c, ok, msg, code = tx(0xE5, 0, 4, 0, { max_exchanges = 7 })
    fails_with("ISCARD_E_CHAIN_TOO_LONG", ok, msg, code)
    assert.are.equal(oracle.pattern(28), c.ReplyData)
    assert.are.equal(0x6104, c.ReplyStatus)
    -- 1 command + 7 GET RESPONSE, + the counters command
    assert.are.equal(before + 9, bed.counters(card).apdus)
  end)
end)

describe("garbage replies", function()
  it("give only results or typed errors through Transaction and the status word texts", function()
    local seed = os.time()
    math.randomseed(seed)
    local card = bed.attach(R0)
    local names = {}
    for _ = 1, 150 do
      local n = math.random(1, 255)
      local t = {}
      for i = 1, n do t[i] = string.char(math.random(0, 255)) end
      local garbage = table.concat(t)
      local c = iscard.ISCardCmd():BuildCmd(0x80, 0x11, 0, 0, garbage, math.random(0, 256))
      local ok, msg, code = card:Transaction(c, { max_exchanges = 3 })
      if ok then
        assert.is_true(c.ApduReplyLength >= 2, "seed " .. seed)
        assert.is_string(iscard.sw.text(c.ReplyStatus))
        names.ok = true
      else
        names[typed(ok, msg, code)] = true
      end
    end
    -- a SW1 of 61/6C sends the card into GET RESPONSE / resends, bounded
    assert.is_true(names.ok, "seed " .. seed)
    for name in pairs(names) do
      assert.is_true(name == "ok" or name == "ISCARD_E_MALFORMED_RESPONSE" or name == "ISCARD_E_CHAIN_TOO_LONG",
        name .. ", seed " .. seed)
    end
    assert.are.equal("e\144\0", bed.raw(card, bed.echo_apdu("e")))
    card:Detach()
  end)
end)

describe("random command bytes through the real stack", function()
  after_each(restore)

  it("come back as a reply or a typed error, and the card still answers", function()
    local seed = os.time()
    math.randomseed(seed)
    local card = bed.attach(R0)
    for _ = 1, 300 do
      local n = math.random(4, 300)
      local t = { string.char(math.random(0, 0x7F)) } -- not class 80: no fault knobs
      for i = 2, n do t[i] = string.char(math.random(0, 255)) end
      local r, msg, code = card:transmit(table.concat(t))
      if r then assert.is_true(#r >= 1, "seed " .. seed) else typed(r, msg, code) end
    end
    assert.are.equal("f\144\0", bed.raw(card, bed.echo_apdu("f")))
    card:Detach()
  end)
end)

describe_private("pcscd killed during a blocking call #slow", function()
  after_each(restore)

  it("ends a wait and a slow transmit with a service-lost error, long before the card would answer", function()
    -- the card answers the transmit after 30 s; the wait would last 60 s
    local waiter = bed.spawn(PRELUDE .. ([[
      local t0 = os.time()
      say("waiting")
      local ok, msg, code = iscard.wait(%q, false, 60000)
      say(ok and "ok" or name(msg, code), os.time() - t0)
    ]]):format(R1))
    local sender = bed.spawn(PRELUDE .. ([[
      local c = assert(iscard.ISCard())
      assert(c:AttachByReader(%q))
      local t0 = os.time()
      say("sending")
      local ok, msg, code = c:transmit(bed.card.answer_after(30000))
      say(ok and "ok" or name(msg, code, c), os.time() - t0)
    ]]):format(R0))
    waiter.await("waiting")
    sender.await("sending")
    assert.is_true(bed.restart("KILL"))
    for _, p in ipairs { waiter, sender } do
      local what, secs = p.wait(60):match("\n([%w_]+)\t(%d+)\n$")
      assert.are.equal("service_lost", what)
      assert.is_true(tonumber(secs) < 25, secs)
    end
    -- the card's 30 s delay ended when vpcd went away: both cards are back
    local card = bed.attach(R0)
    assert.are.equal("k\144\0", bed.raw(card, bed.echo_apdu("k")))
    card:Detach()
  end)
end)

describe("insert/remove churn under a monitor loop #slow", function()
  after_each(restore)

  it("reports every removal and insertion once, ends in the right state, and idles", function()
    local N = 4
    local monitor = bed.spawn(PRELUDE .. ([[
      local RS = iscard.reader_states
      local function has(b, f) return math.floor(b / f) %% 2 == 1 end
      local e = { reader = %q, current = RS.UNAWARE }
      local present, removals, insertions = nil, 0, 0
      local c0 = os.clock()
      say("watching")
      while removals < %d or not present do
        local st, msg = iscard.status_change(nil, 20000, { e })
        if not st then say(name(msg)) break end
        local now = has(e.event, RS.PRESENT)
        if present ~= nil and now ~= present then
          if now then insertions = insertions + 1 else removals = removals + 1 end
        end
        present = now
        e.current = e.event
        if has(e.current, RS.CHANGED) then e.current = e.current - RS.CHANGED end
      end
      say("removals", removals, "insertions", insertions, "present", tostring(present), "cpu", os.clock() - c0)
    ]]):format(R0, N))
    monitor.await("watching")
    local card = bed.attach(R0)
    for _ = 1, N do
      bed.remove(card, 1000)
      bed.inserted(R0)
      assert(card:ReAttach())
    end
    card:Detach()
    local out = monitor.wait(60)
    local rem, ins, pres, cpu = out:match("removals\t(%d+)\tinsertions\t(%d+)\tpresent\t(%a+)\tcpu\t([%d.e-]+)")
    assert.are.equal(tostring(N), rem, out)
    assert.are.equal(tostring(N), ins, out)
    assert.are.equal("true", pres)
    -- blocked in SCardGetStatusChange, not polling: a few seconds of
    -- churn cost well under a second of CPU
    assert.is_true(tonumber(cpu) < 0.5, cpu)
  end)
end)

describe_private("the reader goes away and comes back #slow", function()
  local empty
  after_each(function()
    if empty then bed.sh("rmdir " .. empty) end
    restart()
  end)

  it("is reported as an unknown reader, then seen again", function()
    -- vpcd's readers are fixed while pcscd runs: pcscd started with a
    -- config that has none is the way to make them go.
    empty = os.tmpname()
    os.remove(empty)
    assert.is_true(bed.sh("mkdir " .. empty))
    local card = bed.attach(R0)
    assert.is_true(bed.restart("TERM", false, { ISCARD_PCSCD_CONF = empty, ISCARD_READY = "service" }))
    local ok, msg, code = card:transmit(bed.echo_apdu("g"))
    typed(ok, msg, code)
    assert.is_true(bed.service_lost(code, card), msg)
    card:close()
    assert.are.same({}, assert(iscard.readers()))
    local fresh = assert(iscard.ISCard())
    fails_with("SCARD_E_UNKNOWN_READER", fresh:AttachByReader(R0))
    fails_with("SCARD_E_UNKNOWN_READER", iscard.wait(R0, true, 1000))
    fresh:close()
    assert.is_true(bed.restart("TERM"))
    assert.are.same(bed.readers, assert(iscard.readers()))
    local back = bed.attach(R0)
    assert.are.equal("h\144\0", bed.raw(back, bed.echo_apdu("h")))
    back:Detach()
  end)
end)

describe_private("a card that never answers #slow", function()
  after_each(restart)

  it("blocks its transmit only: the other reader and other processes keep working", function()
    local stuck = bed.spawn(PRELUDE .. ([[
      local c = assert(iscard.ISCard())
      assert(c:AttachByReader(%q))
      say("sending")
      local ok, msg, code = c:transmit(bed.card.never_answer)
      say(ok and "answered" or name(msg, code, c))
    ]]):format(R0))
    stuck.await("sending")
    local other = bed.attach(R1)
    for i = 1, 20 do
      assert.are.equal(string.char(64 + i) .. "\144\0", bed.raw(other, bed.echo_apdu(string.char(64 + i))))
    end
    local helper = bed.spawn(PRELUDE .. ([[
      local c = assert(iscard.ISCard())
      assert(c:AttachByReader(%q))
      say(#assert(c:transmit(bed.card.echo("p"))))
    ]]):format(R1))
    assert.are.equal("3\n", helper.wait(30))
    assert.are.same(bed.readers, assert(iscard.readers()))
    -- still blocked: the card has not answered (it never will)
    assert.are.equal("sending\n", stuck.output())
    other:Detach()
    -- pcscd stopped: the transmit ends with a service-lost error, and the
    -- card's endless delay ends with vpcd's connection (restart waits for it)
    assert.is_true(bed.restart("TERM"))
    local what = stuck.wait(30):match("\n([%w_]+)\n$")
    assert.are.equal("service_lost", what)
  end)
end)

describe_private("several processes on both readers, with a removal and a pcscd restart #slow", function()
  after_each(restore)

  it("recover, report only typed errors, and end with the descriptors they started with", function()
    local stop = os.tmpname()
    os.remove(stop)
    local function worker(reader, seed)
      return bed.spawn(PRELUDE .. ([[
        math.randomseed(%d)
        local st = assert(io.open("/proc/self/stat"))
        local pid = st:read("*a"):match("^(%%d+)")
        st:close()
        -- counted by another process into a file: no pipe of the count
        -- open here (as bed.fds)
        local function fds()
          local tmp = os.tmpname()
          os.execute("ls -l /proc/" .. pid .. "/fd > " .. tmp)
          local n, list = 0, {}
          local f = assert(io.open(tmp))
          for l in f:lines() do n = n + 1 list[#list + 1] = l:match("%%d+ %%-> .*") end
          f:close()
          os.remove(tmp)
          io.stderr:write(table.concat(list, "; "), "\n")
          return n - 1 -- the "total" line
        end
        local counts, card = { ok = 0 }, nil
        local function one()
          if not card then
            local c, msg = iscard.ISCard()
            if not c then return nil, msg end
            local ok, amsg = c:AttachByReader(%q)
            if not ok then c:close() return nil, amsg end
            card = c
          end
          local n = math.random(1, 3000)
          local le = math.random(0, 1) == 1 and 256 or 65536
          local cmd = iscard.ISCardCmd():BuildCmd(0x00, 0xE1, math.floor(n / 256), n %% 256, nil, le)
          -- GET RESPONSE sequences of two processes on one card must not
          -- interleave: the lock keeps them apart
          local ok, msg = card:LockSCard()
          if ok then ok, msg = card:Transaction(cmd) end
          if ok and #cmd.ReplyData ~= n then return nil, "WRONG_LENGTH: " .. #cmd.ReplyData end
          if ok then ok, msg = card:UnlockSCard() end
          if not ok then card:close() card = nil os.execute("sleep 0.02") end
          return ok, msg
        end
        for _ = 1, 20 do assert(one()) end -- warm-up
        card:close() card = nil
        collectgarbage() collectgarbage()
        local fd0 = fds()
        say("warm")
        local deadline = os.time() + 50
        while not io.open(%q) and os.time() < deadline do
          local ok, msg = one()
          if ok then counts.ok = counts.ok + 1 else local k = name(msg); counts[k] = (counts[k] or 0) + 1 end
        end
        local fine = false
        for _ = 1, 200 do if one() then fine = true break end os.execute("sleep 0.1") end
        if card then card:close() card = nil end
        collectgarbage() collectgarbage()
        local parts = {}
        for k, v in pairs(counts) do parts[#parts + 1] = k .. "=" .. v end
        say("end", tostring(fine), fd0, fds(), table.concat(parts, " "))
      ]]):format(seed, reader, stop))
    end
    local seed = os.time()
    local workers = { worker(R0, seed), worker(R1, seed + 1), worker(R0, seed + 2) }
    for _, w in ipairs(workers) do w.await("warm") end
    local card = bed.attach(R1)
    bed.remove(card, 1000, R1)
    bed.inserted(R1)
    card:close()
    assert.is_true(bed.restart("TERM"))
    assert(io.open(stop, "w")):close()
    for _, w in ipairs(workers) do
      local out = w.wait(90)
      local fine, fd0, fd1, counts = out:match("end\t(%a+)\t(%d+)\t(%d+)\t([^\n]*)")
      assert.are.equal("true", fine, out)
      assert.are.equal(fd0, fd1, out)
      for k in counts:gmatch("([%w_]+)=") do
        -- PC/SC's names, or ours (a transmit that meets a card just pulled
        -- can get 0 bytes from vpcd: ISCARD_E_MALFORMED_RESPONSE)
        assert.is_true(k == "ok" or k:match("^I?SCARD_[EWF]_") ~= nil, out)
        assert.is_nil(k:match("UNTYPED"), out)
        assert.is_nil(k:match("WRONG_LENGTH"), out)
      end
      assert.matches("ok=%d", counts)
    end
    os.remove(stop)
  end)
end)

describe_private("tiny pcscd limits (-t -s -r) #slow", function()
  after_each(restart)

  it("are reached only by live objects: dropped ones are given back by GC", function()
    assert.is_true(bed.restart("TERM", false, { ISCARD_PCSCD_FLAGS = "-t 4 -s 2 -r 2" }))
    local held = { bed.attach(R0), bed.attach(R0) }
    local c = assert(iscard.ISCard())
    typed(c:AttachByReader(R0)) -- a third handle on the reader: over -r 2
    assert.are.equal(2, #held)
    held[1], held[2] = nil, nil
    collectgarbage(); collectgarbage()
    assert(c:AttachByReader(R0))
    assert.are.equal("l\144\0", bed.raw(c, bed.echo_apdu("l")))
    c:close()
    -- contexts: -t 4 clients at most
    local live, failed = {}, nil
    for _ = 1, 8 do
      local ctx, msg, code = iscard.ISCard()
      if not ctx then failed = typed(ctx, msg, code) break end
      live[#live + 1] = ctx
    end
    assert.is_string(failed)
    assert.is_true(#live < 8)
    for i = #live, 1, -1 do live[i] = nil end
    collectgarbage(); collectgarbage()
    local again = bed.attach(R1)
    assert.are.equal("m\144\0", bed.raw(again, bed.echo_apdu("m")))
    again:close()
  end)
end)

describe_private("bad ATRs #slow", function()
  after_each(restart)

  local cases = {
    { "empty", "" },
    { "over 33 bytes", "\59\15" .. ("\1"):rep(40) },
    { "TD1 announcing a TD2 that is missing", "\59\128\128\129\1" },
    { "10 historical bytes announced, 2 there", "\59\138\1\2" },
    { "a wrong TCK", "\59\128\128\1\1\1" },
    { "only TS", "\59" },
  }
  for _, case in ipairs(cases) do
    it(case[1] .. ": a typed connect error, or the card with exactly that ATR", function()
      local atr = case[2]
      local card = bed.attach(R0)
      bed.raw(card, bed.card.back_with_atr(100, #atr > 0 and atr or nil))
      assert(iscard.wait(R0, false, 10000))
      card:close()
      -- back in the reader: present, or mute
      local _, seen = card_seen(R0)
      local c = assert(iscard.ISCard())
      local ok, msg, code = c:AttachByReader(R0)
      if ok then
        -- pcscd took it: the ATR is passed on byte for byte (the empty
        -- one never: vpcd drops that card, which comes back as itself)
        local got = c.Atr
        assert.is_true(got == atr or (atr == "" and got == "\59\128\128\1\1"), bed.hex(got))
        assert.is_true(seen == atr or seen == "" or atr == "")
      else
        typed(ok, msg, code)
      end
      c:close()
    end)
  end
end)
