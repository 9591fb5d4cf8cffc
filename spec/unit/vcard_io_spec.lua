-- Specs of iscard.vcard_io (vpcd framing over TCP) and of iscard.vcard run
-- against a fake vpcd (a listening socket in this process), so no pcscd is
-- needed.  Run from the repository root:  busted --lua=lua5.4 spec/vcard_io_spec.lua
-- (build/iscard/vcard_io.so must be built first).

-- (package.searchpath is Lua 5.2+ and LuaJIT)
local function on_path(name, path)
  local file = name:gsub("%.", "/")
  for template in path:gmatch("[^;]+") do
    local f = io.open((template:gsub("%?", file)))
    if f then f:close(); return true end
  end
  return false
end
if not on_path("iscard.vcard", package.path) then
  package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
end
if not on_path("iscard.vcard_io", package.cpath) then
  package.cpath = "build/?.so;" .. package.cpath
end

local vio = require "iscard.vcard_io"
local core = require "iscard.core" -- the clock and the sleep of iscard

local function pair()
  local l = assert(vio.listen("127.0.0.1", 0))
  local port = l:port()
  local client = assert(vio.connect("127.0.0.1", port))
  local server = assert(l:accept(1000))
  l:close()
  return client, server, port
end

local function be16(n) return string.char(math.floor(n / 256), n % 256) end

describe("iscard.vcard_io", function()
  local client, server
  before_each(function() client, server = pair() end)
  after_each(function() client:close(); server:close() end)

  it("frames a message with a 2-byte big-endian length", function()
    assert.is_true(server:send("\1\2\3"))
    assert.are.equal("\1\2\3", client:recv(1000))
    assert.is_true(client:send("abc"))
    -- raw view of the same bytes on the other side
    assert.is_true(client:send("\0\164\4\0"))
    assert.are.equal("abc", server:recv(1000))
    assert.are.equal("\0\164\4\0", server:recv(1000))
  end)

  it("puts the length prefix on the wire as 2 big-endian bytes", function()
    local payload = string.rep("x", 300)
    server:sendraw(be16(#payload) .. payload)
    assert.are.equal(payload, client:recv(1000))
  end)

  it("splits several messages that arrive in one segment", function()
    server:sendraw("\0\1\4" .. "\0\2\144\0" .. "\0\0" .. "\0\1\1")
    assert.are.equal("\4", client:recv(1000))
    assert.are.equal("\144\0", client:recv(1000))
    assert.are.equal("", client:recv(1000))
    assert.are.equal("\1", client:recv(1000))
    assert.are.same({ nil, "timeout" }, { client:recv(20) })
  end)

  it("reassembles a message from short reads and keeps it across timeouts", function()
    local msg = "\128\238\0\0\3abc"
    local wire = be16(#msg) .. msg
    for i = 1, #wire do
      if i < #wire then
        server:sendraw(wire:sub(i, i))
        assert.are.same({ nil, "timeout" }, { client:recv(5) })
      else
        server:sendraw(wire:sub(i))
      end
    end
    assert.are.equal(msg, client:recv(1000))
  end)

  it("carries the largest payload (65535 bytes) and refuses a larger one", function()
    local big = string.rep("\165", 65535)
    assert.is_true(server:send(big))
    assert.are.equal(big, client:recv(2000))
    assert.has_error(function() server:send(big .. "x") end)
  end)

  it("reports EOF as nil, 'closed'", function()
    server:close()
    local r, why = client:recv(1000)
    assert.is_nil(r)
    assert.are.equal("closed", why)
  end)

  it("reports EOF in the middle of a message as 'closed'", function()
    server:sendraw("\0\5ab")
    server:close()
    assert.are.same({ nil, "closed" }, { client:recv(1000) })
  end)

  it("times out about when asked", function()
    local t0 = core.now()
    local r, why = client:recv(50)
    local dt = core.now() - t0
    assert.is_nil(r)
    assert.are.equal("timeout", why)
    -- at least the timeout; the upper bound only catches a timeout ignored
    -- (a loaded machine may add seconds, so it is generous)
    assert.is_true(dt >= 45 and dt < 10000, "waited " .. dt .. " ms")
    assert.are.same({ nil, "timeout" }, { client:recv(0) })
  end)

  it("closes idempotently; a closed connection raises on use", function()
    assert.is_true(client:fileno() >= 0)
    client:close()
    client:close()
    assert.are.equal(-1, client:fileno())
    assert.has_error(function() client:recv(10) end)
    assert.has_error(function() client:send("x") end)
    assert.matches("closed", tostring(client))
  end)

  -- `<close>` is Lua 5.4 syntax: compiled by load, a visible pending before 5.4
  local it54 = _VERSION >= "Lua 5.4" and it or function(name) pending(name .. " (needs Lua 5.4)") end
  it54("supports to-be-closed variables", function()
    local l = assert(vio.listen("127.0.0.1", 0))
    local keep = assert(load([[
      local vio, port = ...
      local keep
      do
        local c <close> = assert(vio.connect("127.0.0.1", port))
        keep = c
      end
      return keep
    ]]))(vio, l:port())
    assert.are.equal(-1, keep:fileno())
    l:close()
  end)

  it("sending to a peer that went away returns nil, 'closed' (no SIGPIPE)", function()
    server:close()
    local ok, why
    for _ = 1, 50 do            -- the first write may still succeed (RST pending)
      ok, why = client:send("\0\0\0\0")
      if not ok then break end
      core.sleep(2)
    end
    assert.is_nil(ok)
    assert.are.equal("closed", why)
  end)
end)

describe("iscard.vcard_io module functions", function()
  it("connect to a closed port returns nil, message, errno", function()
    local l = assert(vio.listen("127.0.0.1", 0))
    local port = l:port()
    l:close()
    local c, msg, err = vio.connect("127.0.0.1", port)
    assert.is_nil(c)
    assert.is_string(msg)
    assert.is_number(err)
  end)

  it("now() is monotonic milliseconds and sleep() sleeps", function()
    local t0 = core.now()
    assert.is_true(core.sleep(30))
    local dt = core.now() - t0
    assert.is_true(dt >= 29 and dt < 500, "slept " .. dt .. " ms")
    local mtype = math.type -- luacheck: compat
    if mtype then assert.equal("float", mtype(t0)) else assert.is_number(t0) end
  end)

  it("accept times out", function()
    local l = assert(vio.listen("127.0.0.1", 0))
    assert.are.same({ nil, "timeout" }, { l:accept(10) })
    l:close()
    l:close()
  end)
end)

---------------------------------------------------------------------------
-- iscard.vcard against a fake vpcd: the card runs in a child process and
-- connects to a listener of ours, exactly as it would connect to vpcd.

local LUA = os.getenv("LUA") or "lua5.4"

local function shq(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local CARD = [[
local vcard = require "iscard.vcard"
local port = tonumber(arg[1])
vcard.run({
  atr = vcard.with_tck("\59\129\128\1\66"),
  init = function(card) card.state.log = {} end,
  power = function(card, ev)
    if ev == "reset" then error("power handler errors are survived too") end
  end,
  apdu = function(card, c)
    local ins = c:byte(2)
    if ins == 0x01 then
      local function be16(n) return string.char(math.floor(n / 256), n % 256) end
      return be16(card.powerons) .. be16(card.poweroffs) .. be16(card.resets)
        .. be16(card.apdus) .. "\144\0"
    elseif ins == 0x02 then error("boom")
    elseif ins == 0x03 then card:remove(150); return "\144\0"
    elseif ins == 0x04 then card:delay(100); return "\144\1"
    elseif ins == 0x05 then card:set_atr("\59\0"); return "\144\0"
    elseif ins == 0x06 then return 42
    elseif ins == 0x07 then card:stop(); return "\144\0"
    elseif ins == 0x08 then card:raw_reply("\0\3abc"); return "\144\0"
    elseif ins == 0x09 then card:raw_reply("\1\2U", 150); return "\144\0"
    elseif ins == 0x0A then card:delay(86400000); return "\144\0"
    elseif ins == 0x0B then card:raw_atr(c:sub(5), 100); return "\144\0"
    end
    return c:sub(5) .. "\144\0"
  end,
}, { port = port })
os.exit(0)
]]

describe("iscard.vcard with a fake vpcd", function()
  local l, proc, pid, conn, script

  local function start_card()
    l = assert(vio.listen("127.0.0.1", 0))
    script = os.tmpname()
    local f = assert(io.open(script, "w")); f:write(CARD); f:close()
    local cmd = string.format("echo $$; exec %s -e %s %s %d 2>&1", LUA,
      shq("package.path=" .. string.format("%q", package.path) ..
          " package.cpath=" .. string.format("%q", package.cpath)),
      shq(script), l:port())
    proc = assert(io.popen(cmd, "r"))
    pid = assert(tonumber(proc:read("*l")))
    conn = assert(l:accept(5000), "card did not connect")
  end

  local function x(payload)
    assert(conn:send(payload))
    return conn:recv(2000)
  end

  before_each(start_card)
  after_each(function()
    if conn then conn:close() end
    l:close()
    if proc then               -- a failed test left the card running
      os.execute("kill " .. pid .. " 2>/dev/null")
      proc:close()
    end
    os.remove(script)
  end)

  it("answers ATR requests, counts power events, echoes APDUs, survives errors, stops", function()
    assert.are.equal("\59\129\128\1\66\66", x("\4"))   -- TCK = 81^80^01^42
    conn:send("\1"); conn:send("\0"); conn:send("\1"); conn:send("\2")
    assert.are.same({ nil, "timeout" }, { conn:recv(50) })  -- no answer to 00/01/02
    assert.are.equal("hello\144\0", x("\0\0\0\0hello"))
    assert.are.equal("\111\0", x("\0\2\0\0"))             -- handler error
    assert.are.equal("\111\0", x("\0\6\0\0"))             -- bad reply type
    -- powerons 2, poweroffs 1, resets 1, apdus 4 (this one included)
    assert.are.equal("\0\2\0\1\0\1\0\4\144\0", x("\0\1\0\0"))
    local t0 = core.now()
    assert.are.equal("\144\1", x("\0\4\0\0"))             -- delay(100)
    assert.is_true(core.now() - t0 >= 95)
    assert.are.equal("\144\0", x("\0\5\0\0"))             -- set_atr
    assert.are.equal("\59\0", x("\4"))
    assert.are.equal("\144\0", x("\0\7\0\0"))             -- stop
    assert.are.same({ nil, "closed" }, { conn:recv(2000) })
    local out = proc:read("*a")
    local ok = proc:close(); proc = nil
    assert.is_true(ok)
    assert.matches("boom", out)
    assert.matches("power handler errors are survived too", out)
  end)

  it("remove(ms) closes after the reply and reconnects after ms", function()
    assert.are.equal("\144\0", x("\0\3\0\0"))
    assert.are.same({ nil, "closed" }, { conn:recv(2000) })
    local t0 = core.now()
    conn:close()
    conn = assert(l:accept(3000), "card did not come back")
    local dt = core.now() - t0
    assert.is_true(dt >= 140 and dt < 1500, "came back after " .. dt .. " ms")
    assert.are.equal("x\144\0", x("\0\0\0\0x"))
    x("\0\7\0\0")
  end)

  -- The fault knobs (spec/faults_spec.lua uses them through pcscd).
  local function back(ms)
    local t0 = core.now()
    conn:close()
    conn = assert(l:accept(3000), "card did not come back")
    local dt = core.now() - t0
    assert.is_true(dt < (ms or 0) + 1500, "came back after " .. dt .. " ms")
  end

  it("raw_reply puts its bytes on the wire as they are, and with out_ms leaves in the middle", function()
    assert.are.equal("abc", x("\0\8\0\0"))            -- "\0\3abc" read as a frame
    assert.are.equal("y\144\0", x("\0\0\0\0y"))         -- then back to normal replies
    assert.are.same({ nil, "closed" }, { x("\0\9\0\0") }) -- 258 announced, 1 sent
    back(150)
    assert.are.equal("z\144\0", x("\0\0\0\0z"))
    x("\0\7\0\0")
  end)

  it("raw_atr comes back with any ATR for one connection; an empty one is sent, then the card leaves", function()
    local long = ("\1"):rep(40)
    assert.are.equal("\144\0", x("\0\11\0\0" .. long))
    assert.are.same({ nil, "closed" }, { conn:recv(2000) })
    back(100)
    assert.are.equal(long, x("\4"))
    assert.are.equal(long, x("\4"))
    back()                                              -- vpcd dropped it: its own ATR again
    assert.are.equal("\59\129\128\1\66\66", x("\4"))
    assert.are.equal("\144\0", x("\0\11\0\0"))
    assert.are.same({ nil, "closed" }, { conn:recv(2000) })
    back(100)
    assert.are.equal("", x("\4"))
    assert.are.same({ nil, "closed" }, { conn:recv(2000) })
    back()
    assert.are.equal("\59\129\128\1\66\66", x("\4"))
    x("\0\7\0\0")
  end)

  it("a delay of a day ends when vpcd closes the connection", function()
    assert(conn:send("\0\10\0\0"))
    assert.are.same({ nil, "timeout" }, { conn:recv(100) })
    back()
    assert.are.equal("w\144\0", x("\0\0\0\0w"))
    x("\0\7\0\0")
  end)

  it("reconnects when vpcd drops the connection", function()
    conn:close()
    conn = assert(l:accept(3000), "card did not reconnect")
    assert.are.equal("\0\0\0\0\0\0\0\1\144\0", x("\0\1\0\0"))
    x("\0\7\0\0")
  end)
end)

describe("bad durations", function()
  local vcard = require "iscard.vcard"
  it("sleep refuses NaN, infinities, negatives and more than a day", function()
    for _, v in ipairs { 0 / 0, math.huge, -math.huge, -1, 86400001 } do
      assert.has_error(function() core.sleep(v) end)
    end
    assert.is_true(core.sleep(0))
    assert.is_true(core.sleep(0.5))
  end)

  it("card:remove and card:delay raise at the script's line, and round", function()
    local card = vcard.new_card({ apdu = function() return "\144\0" end })
    assert.has_error(function() card:remove(-5) end)
    assert.has_error(function() card:delay(0 / 0) end)
    assert.has_error(function() card:delay("10") end)
    card:remove(0.5)
    assert.are.equal(1, card._remove)
    card:delay(2.4)
    assert.are.equal(2, card._delay)
  end)
end)
