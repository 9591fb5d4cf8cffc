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
--   80 07 00 00 Lc data       keeps data for the logical channel it came on
--   80 08 00 00               answers what 80 07 kept on this channel, 9000
--
-- Logical channels (ISO 7816-4): MANAGE CHANNEL (INS 70) opens (P1 00; P2 00:
-- the lowest free channel, answered in one byte; P2 1..19: that one) and
-- closes (P1 80; P2 the channel, 00 = the one in CLA) channels 1..19, which a
-- reset closes. A command names its channel in the CLA (first inter-industry
-- class: bits 2-1; further class 4x/6x/Cx/Ex: 4 + bits 4-1); on a channel that
-- is not open it gets 6881. Every behaviour below then sees the command with
-- the channel-0 CLA, and the ISO behaviours keep their state per channel.
--   80 09 hi lo Lc ATR        swap: after answering 9000, the card leaves and
--                             a card with this ATR comes back after
--                             (hi*256+lo)*10 ms (0: at once, faster than
--                             pcscd polls)
--
-- Faults (a broken card, for spec/bed/faults_spec.lua):
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

-- The channel a CLA names and the CLA of the same command on channel 0.
local function demux(cla)
  local prop = cla >= 0x80 and 0x80 or 0
  local low = cla - prop
  if low >= 0x40 then
    -- further class: SM bit 6 -> first-class SM 10, chaining bit 5 kept
    local sm = math.floor(low / 0x20) % 2 == 1 and 0x08 or 0
    local chaining = math.floor(low / 0x10) % 2 == 1 and 0x10 or 0
    return 4 + low % 16, prop + sm + chaining
  end
  return low % 4, cla - low % 4
end

local function manage_channel(card, capdu, ch)
  local open = card.state.channels
  local p1, p2 = capdu:byte(3), capdu:byte(4)
  if p1 == 0x00 then
    if p2 == 0 then
      for n = 1, 19 do
        if not open[n] then
          open[n] = true
          return string.char(n) .. "\144\0"
        end
      end
      return "\106\129" -- 6A81: no channel left
    end
    if p2 > 19 or open[p2] then return "\106\134" end -- 6A86
    open[p2] = true
    return "\144\0"
  elseif p1 == 0x80 then
    local n = p2 == 0 and ch or p2
    if n == 0 or n > 19 then return "\106\134" end
    if not open[n] then return "\104\129" end -- 6881
    open[n] = nil
    return "\144\0"
  end
  return "\106\134"
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
  [0x07] = function(card, capdu)
    card.state.kept = card.state.kept or {}
    card.state.kept[card.state.channel] = body(capdu)
    return "\144\0"
  end,
  [0x08] = function(card)
    return ((card.state.kept or {})[card.state.channel] or "") .. "\144\0"
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
  [0x09] = function(card, capdu)
    card:swap(body(capdu), (capdu:byte(3) * 256 + capdu:byte(4)) * 10)
    return "\144\0"
  end,
}

return {
  -- A T=1 card: 3B 80 80 01 01 (TD1 says T=1 follows, no historical bytes).
  atr = "\59\128\128\1\1",
  power = function(card, event)
    card.state.channels = {} -- a reset closes every logical channel
    if event == "reset" then count(card, "resets")
    elseif event == "on" then count(card, "powerons")
    elseif event == "off" then count(card, "poweroffs") end
  end,
  apdu = function(card, capdu)
    count(card, "apdus")
    local st = card.state
    st.channels = st.channels or {}
    local ch, cla = 0, capdu:byte(1)
    if cla ~= 0xFF then ch, cla = demux(cla) end
    if capdu:byte(2) == 0x70 and (cla == 0x00 or cla == 0x80) then return manage_channel(card, capdu, ch) end
    if ch ~= 0 and not st.channels[ch] then return "\104\129" end -- 6881
    capdu = string.char(cla) .. capdu:sub(2)
    st.channel = ch
    if cla == 0x80 and control[capdu:byte(2)] then
      return control[capdu:byte(2)](card, capdu)
    end
    if iso then
      -- the ISO behaviours' state, per channel
      st.iso_by_channel = st.iso_by_channel or {}
      st.iso = st.iso_by_channel[ch]
      local r = iso(card, capdu)
      st.iso_by_channel[ch] = st.iso
      if r then return r end
    end
    return "\109\0"
  end,
}
