-- `iscard vcard --control`: a card steered from stdin (insert, remove, swap,
-- stop), against a fake vpcd (a listening socket in this process), so no
-- pcscd is needed. Run from the repository root (.busted finds the build).

local vio = require "iscard.vcard_io"

describe("iscard vcard --control", function()
  local listener, stdin
  after_each(function()
    if stdin then stdin:close() end
    if listener then listener:close() end
    stdin, listener = nil, nil
  end)

  -- The card vpcd would see next: accepted, and its ATR asked for.
  local function insertion(timeout)
    local conn, err = listener:accept(timeout or 10000)
    assert(conn, "no card came: " .. tostring(err))
    assert.is_true(conn:send("\4"))
    return conn, conn:recv(10000)
  end

  local function removal(conn)
    assert.are.same({ nil, "closed" }, { conn:recv(10000) })
    conn:close()
  end

  local function say(line)
    stdin:write(line, "\n")
    stdin:flush()
  end

  it("inserts, removes until told, swaps the ATR, and stops at the end of stdin", function()
    listener = assert(vio.listen("127.0.0.1", 0))
    local lua = os.getenv("LUA") or "lua5.4"
    stdin = assert(io.popen(("%s bin/iscard vcard --control --port %d spec/cards/testcard.lua")
      :format(lua, listener:port()), "w"))
    local conn, atr = insertion()
    assert.are.equal("\59\128\128\1\1", atr)
    say("bogus") -- reported on stderr, ignored
    say("swap 3B8180014141")
    removal(conn)
    conn, atr = insertion()
    assert.are.equal("\59\129\128\1\65\65", atr)
    say("remove")
    removal(conn)
    assert.are.same({ nil, "timeout" }, { listener:accept(300) }) -- out until insert
    say("insert")
    conn, atr = insertion()
    assert.are.equal("\59\129\128\1\65\65", atr)
    say("remove 50")
    removal(conn)
    conn = insertion()
    stdin:close()
    stdin = nil
    removal(conn)
  end)

  it("reads control lines in linear time: a 50 kB line, then stop", function()
    listener = assert(vio.listen("127.0.0.1", 0))
    local lua = os.getenv("LUA") or "lua5.4"
    -- (the long line is reported on stderr as an unknown command: not here)
    stdin = assert(io.popen(("%s bin/iscard vcard --control --port %d spec/cards/testcard.lua 2>/dev/null")
      :format(lua, listener:port()), "w"))
    local conn = insertion()
    -- Read by a pattern run again on the whole unfinished line at every
    -- 4 KB read, this line kept the card from seeing "stop" for over a
    -- minute; read once, it takes milliseconds (removal waits 10 s at most).
    say(("x"):rep(50000))
    say("stop")
    removal(conn)
  end)
end)
