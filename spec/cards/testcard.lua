-- The card the test suite talks to, run by `iscard vcard` on both vpcd
-- readers (see spec/support/testbed).  Besides behaving like a card, it
-- lets a test steer it and ask what it saw, through proprietary commands
-- of class 0x80:
--
--   80 01 00 00 [Lc data]     echo: answers data .. 9000, and records data
--                             in the journal (to see the order of APDUs)
--   80 02 hi lo               remove the card after answering 9000, for
--                             (hi*256+lo)*10 ms, then insert it again
--   80 03 00 00               counters: resets, power-ons, power-offs, APDUs,
--                             two bytes each, big-endian, then 9000
--   80 04 hi lo               answer 9000 after (hi*256+lo)*10 ms
--   80 05 00 00               the journal (entries joined by ","), then
--                             clears it
--   80 06 00 00               answers 9000 and resets all counters
--
-- Faults (a broken card, for spec/faults_spec.lua):
--
--   80 10 00 00               never answers (a delay of a day, which ends
--                             when vpcd closes the connection: pcscd stopped)
--   80 11 00 00 [Lc data]     answers exactly data, no status word added;
--                             no data: an empty reply (a frame of length 0)
--   80 12 nn mm               announces a reply of 258 bytes, sends its
--                             first nn, then leaves (closes the connection)
--                             and comes back after mm*10 ms
--   80 13 hi lo [Lc data]     leaves, and comes back after (hi*256+lo)*10 ms
--                             answering data (raw, unchecked; none: empty)
--                             as its ATR, until that connection ends
--
-- Any other command goes to the ISO behaviours of spec/cards/iso.lua, if
-- that file exists, and otherwise gets 6D00 (INS not supported).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local iso
do
  local chunk = loadfile(here .. "iso.lua")
  if chunk then iso = chunk() end
end

local function u16(n) return string.char(math.floor(n / 256) % 256, n % 256) end

local function body(capdu)
  -- Short case 3/4: Lc at byte 5.  The echo needs nothing longer.
  if #capdu <= 5 then return "" end
  local lc = capdu:byte(5)
  return capdu:sub(6, 5 + lc)
end

local function count(card, name)
  card.state[name] = (card.state[name] or 0) + 1
end

local control = {
  [0x01] = function(card, capdu)
    local data = body(capdu)
    local j = card.state.journal or {}
    card.state.journal = j
    j[#j + 1] = data
    return data .. "\144\0"
  end,
  [0x02] = function(card, capdu)
    card:remove((capdu:byte(3) * 256 + capdu:byte(4)) * 10)
    return "\144\0"
  end,
  [0x03] = function(card)
    local s = card.state
    return u16(s.resets or 0) .. u16(s.powerons or 0) .. u16(s.poweroffs or 0)
      .. u16(s.apdus or 0) .. "\144\0"
  end,
  [0x04] = function(card, capdu)
    card:delay((capdu:byte(3) * 256 + capdu:byte(4)) * 10)
    return "\144\0"
  end,
  [0x05] = function(card)
    local j = table.concat(card.state.journal or {}, ",")
    card.state.journal = {}
    return j .. "\144\0"
  end,
  [0x10] = function(card)
    card:delay(86400000)
    return "\144\0"
  end,
  [0x11] = function(card, capdu)
    local data = body(capdu)
    if data == "" then card:raw_reply("\0\0") end
    return data ~= "" and data or "\144\0"
  end,
  [0x12] = function(card, capdu)
    local reply = string.rep("\85", 256) .. "\144\0"
    card:raw_reply("\1\2" .. reply:sub(1, capdu:byte(3)), capdu:byte(4) * 10)
    return reply
  end,
  [0x13] = function(card, capdu)
    card:raw_atr(body(capdu), (capdu:byte(3) * 256 + capdu:byte(4)) * 10)
    return "\144\0"
  end,
  [0x06] = function(card)
    for _, k in ipairs { "resets", "powerons", "poweroffs", "apdus" } do card.state[k] = 0 end
    card.state.journal = {}
    return "\144\0"
  end,
}

return {
  -- A T=1 card: 3B 80 80 01 01 (TD1 says T=1 follows, no historical bytes).
  atr = "\59\128\128\1\1",
  power = function(card, event)
    if event == "reset" then count(card, "resets")
    elseif event == "on" then count(card, "powerons")
    elseif event == "off" then count(card, "poweroffs") end
  end,
  apdu = function(card, capdu)
    count(card, "apdus")
    if capdu:byte(1) == 0x80 and control[capdu:byte(2)] then
      return control[capdu:byte(2)](card, capdu)
    end
    if iso then
      local r = iso(card, capdu)
      if r then return r end
    end
    return "\109\0"
  end,
}
