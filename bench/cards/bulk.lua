-- bench/cards/bulk.lua -- the benchmark card: one 64 KiB transparent EF, an
-- echo command and a "remove me" command.  Run by `make bench` on both vpcd
-- readers (ISCARD_TEST_CARD=bench/cards/bulk.lua spec/support/testbed ...).
--
-- Data units are 2 bytes.  READ/UPDATE BINARY with even INS carry a 15-bit
-- offset in P1-P2 (bit 8 of P1 set would mean a short EF identifier), so with
-- 1-byte units only the first 32 KiB of a 64 KiB file could be addressed.
-- ISO 7816-4 lets the card choose the data unit size (FCP tag 82, data coding
-- byte, bits 4-1 = log2 of the size in quartets: 2 -> 4 quartets = 2 bytes),
-- which keeps the whole file within B0/D6: offset in bytes = 2 * P1-P2.
-- Lengths (Lc, Le) are in bytes as always; an UPDATE must write whole units
-- (an even number of bytes) -- except the file's end is 65536 bytes, so all
-- writes the benchmarks make are even.
--
--   00 A4 00|02 0C|04|00 02 E1 01 [Le]
--                      SELECT the EF by file identifier E101 (P2 0C: no
--                      answer; 00/04: FCP).  Anything else: 6A82.
--   00 B0 P1 P2 Le     READ BINARY at unit offset P1-P2 (15 bits), Ne bytes
--                      (short 00 = 256, extended 0000 = 65536) -- at most
--                      65533 in one reply (vpcd messages are <= 65535 bytes).
--                      Fewer than Ne bytes left: what is left + 6282.
--   00 D6 P1 P2 Lc data
--                      UPDATE BINARY at unit offset P1-P2, short or extended.
--   10 D6 P1 P2 Lc data
--                      a part of a chained UPDATE BINARY: the data is kept
--                      (9000) and written with the last part (CLA 00), all at
--                      the offset of the first part.  A part with other
--                      P1-P2 than the first: 6A86.
--   80 EE 00 00 [Lc data] [Le]
--                      ECHO: the data back + 9000 (the round-trip APDU)
--   80 02 hi lo        answer 9000, then remove the card for (hi*256+lo)*10 ms
--                      (the idle benchmark needs an empty reader)
--   80 03 00 00        number of APDUs seen so far (4 bytes) + 9000
--
-- Errors: no EF selected 6986, offset beyond the end 6B00, odd offset/length
-- 6A87... see the code; the benchmarks only take the success paths, and
-- check the file's contents outside the timed loops.

local char, sub = string.char, string.sub

local SIZE = 65536
local UNIT = 2
local FID = "\xE1\x01"
local MAX_REPLY_DATA = 65533

local OK = "\x90\x00"
local function sw(n) return char(n >> 8, n & 0xFF) end

-- ISO 7816-3 body decoding: data, Ne (0 = no Le), extended; nil if malformed.
local function parse(c)
  local n = #c
  local body = n - 4
  if body == 0 then return "", 0, false end
  local b1 = c:byte(5)
  if body == 1 then return "", b1 == 0 and 256 or b1, false end
  if b1 ~= 0 then
    if body == 1 + b1 then return sub(c, 6), 0, false end
    if body == 2 + b1 then
      local le = c:byte(n)
      return sub(c, 6, n - 1), le == 0 and 256 or le, false
    end
    return nil
  end
  if body == 2 then return nil end
  local x = c:byte(6) << 8 | c:byte(7)
  if body == 3 then return "", x == 0 and 65536 or x, true end
  if x == 0 then return nil end
  if body == 3 + x then return sub(c, 8), 0, true end
  if body == 5 + x then
    local le = c:byte(n - 1) << 8 | c:byte(n)
    return sub(c, 8, 7 + x), le == 0 and 65536 or le, true
  end
  return nil
end

local FCP = "\x62\x0D" .. "\x80\x03\x01\x00\x00" .. "\x82\x02\x01\x22" .. "\x83\x02" .. FID

local function initial_contents()
  -- byte i = i % 251, so a misplaced piece shows
  local t = {}
  for i = 0, 250 do t[#t + 1] = char(i) end
  local period = table.concat(t)
  return (period:rep(SIZE // 251 + 1)):sub(1, SIZE)
end

local function write(st, off, data)
  if off + #data > SIZE then return sw(0x6A84) end -- not enough space
  if #data % UNIT ~= 0 and off + #data ~= SIZE then return sw(0x6A87) end
  st.file = sub(st.file, 1, off) .. data .. sub(st.file, off + #data + 1)
  return OK
end

local function iso(card, c, cla, ins, p1, p2)
  local st = card.state
  local data, ne = parse(c)
  if not data then return sw(0x6700) end
  if ins == 0xA4 then
    if cla ~= 0 then return sw(0x6884) end
    if (p1 == 0x00 or p1 == 0x02) and data == FID then
      st.selected = true
      if p2 == 0x0C then return OK end
      if p2 == 0x00 or p2 == 0x04 then return FCP .. OK end
      return sw(0x6A86)
    end
    st.selected = false
    return sw(0x6A82)
  end
  if ins ~= 0xB0 and ins ~= 0xD6 then return sw(0x6D00) end
  if not st.selected then return sw(0x6986) end
  if p1 & 0x80 ~= 0 then return sw(0x6A81) end -- no short EF identifiers here
  local off = (p1 << 8 | p2) * UNIT
  if ins == 0xB0 then
    if cla ~= 0 then return sw(0x6884) end
    if #data > 0 or ne == 0 then return sw(0x6700) end
    if off >= SIZE then return sw(0x6B00) end
    local n = ne
    if n > MAX_REPLY_DATA then n = MAX_REPLY_DATA end
    local out = sub(st.file, off + 1, off + n)
    if #out < ne and off + #out == SIZE then return out .. sw(0x6282) end
    return out .. OK
  end
  -- UPDATE BINARY
  if #data == 0 then return sw(0x6700) end
  if cla == 0x10 then
    local ch = st.chain
    if ch and ch.off ~= off then st.chain = nil; return sw(0x6A86) end
    if not ch then ch = { off = off, n = 0 }; st.chain = ch end
    ch.n = ch.n + 1
    ch[ch.n] = data
    return OK
  end
  local ch = st.chain
  if ch then
    st.chain = nil
    if ch.off ~= off then return sw(0x6A86) end
    ch.n = ch.n + 1
    ch[ch.n] = data
    data = table.concat(ch, "", 1, ch.n)
  end
  return write(st, off, data)
end

return {
  -- T=1 card, no historical bytes (as the test card)
  atr = "\x3B\x80\x80\x01\x01",
  init = function(card)
    card.state.file = initial_contents()
    card.state.selected = false
  end,
  power = function(card, event)
    if event ~= "off" then card.state.selected = false; card.state.chain = nil end
  end,
  apdu = function(card, c)
    local cla, ins, p1, p2 = c:byte(1, 4)
    if cla == 0x80 then
      if ins == 0xEE then
        local data = parse(c)
        if not data then return sw(0x6700) end
        return data .. OK
      elseif ins == 0x02 then
        card:remove((p1 * 256 + p2) * 10)
        return OK
      elseif ins == 0x03 then
        local n = card.apdus
        return char(n >> 24 & 0xFF, n >> 16 & 0xFF, n >> 8 & 0xFF, n & 0xFF) .. OK
      end
      return sw(0x6D00)
    end
    if cla ~= 0x00 and cla ~= 0x10 then return sw(0x6E00) end
    return iso(card, c, cla, ins, p1, p2)
  end,
}
