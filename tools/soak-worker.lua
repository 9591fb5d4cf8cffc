-- One client of the soak (tools/soak.lua): sends random commands of random
-- sizes through ISCard:Transaction to the test card on one reader until a
-- deadline, checks every reply byte, and recovers from every failure the
-- way a long-lived program would: a reset card is re-attached, a removed
-- card waited for, a lost pcscd answered with a new context.
--
--   lua tools/soak-worker.lua READER SEED SECONDS STATSFILE [reset]
--
-- With "reset" as the fifth argument it plays another process that resets
-- the card now and then (ReAttach with RESET) instead of sending commands.
-- Every 2 s, and at the end, it writes its counts to STATSFILE as Lua
-- assignments (ok, failed, raised, untyped, mismatch, heap_kb, by_name).  A failure
-- is "typed" when it comes as nil, "NAME: text", code with
-- iscard.errors[code] == NAME; anything else, or a raised error, is a bug.
local iscard = require "iscard"
local core = require "iscard.core"

local reader, seed, seconds, statsfile, role = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4], arg[5]
assert(reader and seed and seconds and statsfile, "usage: soak-worker.lua READER SEED SECONDS STATSFILE [reset]")
math.randomseed(seed)
local random, char = math.random, string.char
local E = iscard.errors

local st = { ok = 0, failed = 0, raised = 0, untyped = 0, mismatch = 0, by_name = {}, last = "" }

local function save()
  -- the Lua heap after a full collection: what the program really holds
  collectgarbage()
  st.heap_kb = math.floor(collectgarbage("count"))
  local f = io.open(statsfile .. ".tmp", "w")
  if not f then return end
  local names = {}
  for k, v in pairs(st.by_name) do names[#names + 1] = ("[%q] = %d"):format(k, v) end
  f:write(("ok = %d\nfailed = %d\nraised = %d\nuntyped = %d\nmismatch = %d\nheap_kb = %d\n"
            .. "by_name = { %s }\nlast = %q\n"):format(st.ok, st.failed, st.raised, st.untyped,
            st.mismatch, st.heap_kb, table.concat(names, ", "), st.last))
  f:close()
  os.rename(statsfile .. ".tmp", statsfile)
end

-- Counts a failure; returns its code.
local function failure(msg, code)
  st.failed = st.failed + 1
  local name = type(code) == "number" and E[code]
  if type(msg) == "string" and name and msg:sub(1, #name) == name then
    -- counted by name and by the call that failed: "NAME (where)"
    local key = name .. " (" .. (msg:match("%(([^()]*)%)$") or "?") .. ")"
    st.by_name[key] = (st.by_name[key] or 0) + 1
  else
    st.untyped = st.untyped + 1
    st.last = tostring(msg) .. " / " .. tostring(code)
  end
  return code
end

-- i % 251: the test card's pattern bytes (spec/cards/iso.lua)
local function pattern(n)
  local t = {}
  for i = 0, n - 1 do t[#t + 1] = char(i % 251) end
  return table.concat(t)
end

local function random_bytes(n)
  local t = {}
  for i = 1, n do t[i] = char(random(0, 255)) end
  return table.concat(t)
end

-- A random command and the reply data it must produce (spec/cards/iso.lua).
local function random_command()
  local cmd = iscard.ISCardCmd()
  local pick = random(1, 3)
  if pick == 1 then                       -- E7: echo, 1..255 bytes
    local data = random_bytes(random(1, 255))
    return cmd:BuildCmd(0x00, 0xE7, 0, 0, data, 256), data
  elseif pick == 2 then                   -- E1: N pattern bytes, short or extended
    local n = random(0, 4096)
    return cmd:BuildCmd(0x00, 0xE1, math.floor(n / 256), n % 256, nil, n > 0 and n or nil), pattern(n)
  else                                    -- E2: a 61xx chain of pieces
    local size, pieces = random(1, 255), random(1, 4)
    return cmd:BuildCmd(0x00, 0xE2, size, pieces, nil, 0), pattern(size * pieces)
  end
end

local card
local function drop()
  if card then card:close() end
  card = nil
end

local backoff = 50
local function attach()
  local c, msg, code = iscard.ISCard()
  if not c then failure(msg, code); return false end
  local ok
  ok, msg, code = c:AttachByReader(reader)
  if not ok then c:close(); failure(msg, code); return false end
  card = c
  return true
end

local deadline = core.now() + seconds * 1000
local saved = core.now()
while core.now() < deadline do
  if not card and not attach() then
    core.sleep(backoff)                    -- pcscd away or card out: back off
    backoff = math.min(backoff * 2, 1000)
  elseif role == "reset" then
    core.sleep(random(1000, 4000))
    local ok, msg, code = card:ReAttach(iscard.SHARED, iscard.RESET)
    if not ok then failure(msg, code); drop() else st.ok = st.ok + 1 end
  else
    -- The card's GET RESPONSE state is shared by every process that talks
    -- to it, so each exchange runs under LockSCard, as a real program's would.
    local cmd, want = random_command()
    local pok, ok, msg, code = pcall(function()
      local l, lmsg, lcode = card:LockSCard()
      if not l then return l, lmsg, lcode end
      local r, rmsg, rcode = card:Transaction(cmd)
      card:UnlockSCard()
      return r, rmsg, rcode
    end)
    if not pok then
      st.raised = st.raised + 1
      st.last = tostring(ok)
      drop()
    elseif not ok then
      code = failure(msg, code)
      if code == E.SCARD_W_RESET_CARD then
        -- the other process reset the card: attach again, nothing resent
        local rok, rmsg, rcode = card:ReAttach()
        if not rok then failure(rmsg, rcode); drop() end
      else
        drop()
      end
    elseif cmd.ReplyStatus ~= 0x9000 or cmd.ReplyData ~= want then
      st.mismatch = st.mismatch + 1
      st.last = ("%04X, %d bytes"):format(cmd.ReplyStatus or 0, #cmd.ReplyData)
    else
      st.ok = st.ok + 1
      backoff = 50
    end
    -- after a failure, back off before attaching again: pcscd may not have
    -- noticed a pulled card yet (it polls), and attaching would succeed
    if not card then core.sleep(backoff); backoff = math.min(backoff * 2, 1000) end
  end
  if core.now() - saved >= 2000 then save(); saved = core.now() end
end
drop()
save()
