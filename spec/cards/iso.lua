-- ISO behaviours of the test card: what a T=0 card (or a picky T=1 one)
-- does with lengths, so that Transaction's 61xx / 6Cxx handling, chaining and
-- extended APDUs can be tested on the real pcscd + vpcd stack. The unit specs
-- drive the same function directly as a fake card.
--
-- Used as `iso(card, capdu) -> rapdu` (binary strings); returns nil for a
-- command that is not one of these, so other behaviours can answer it.
-- State lives in card.state.iso. Commands use CLA 00, or CLA 10 for a part
-- of a chained command. "Ne" is the number the Le field stands for (short
-- 00 = 256, extended 0000 = 65536); without Le, Ne is 0.
--
--   E0 hi lo         raw reply of exactly N = hi*256+lo bytes, Le ignored:
--                    N-2 pattern bytes + 9000; N = 0 gives an empty reply and
--                    N = 1 the single byte 90 (both malformed on purpose)
--   E1 hi lo         N = hi*256+lo pattern bytes of data: answered directly
--                    when Ne >= N (and the reply fits a vpcd message of 65535
--                    bytes), otherwise announced by 61xx and served by GET
--                    RESPONSE in pieces of at most 256
--   E2 cc nn         a 61xx chain: nn pieces of cc bytes (cc = 00: 256);
--                    answers 61cc, then each GET RESPONSE gives one piece and
--                    61cc, the last one 9000
--   E3 00 ll         wants Ne = L exactly (ll = 00: 256): any other Le (or
--                    none) gets 6Cll; the right one gets L pattern bytes + 9000
--   E4 00 ll         as E3, but the right Le gets 61ll (T=0 case 4 style)
--                    and the bytes come by GET RESPONSE
--   E5 00 cc         endless: always 61cc; every GET RESPONSE gives
--                    min(Ne, cc or 256) bytes and 61cc again
--   E7 00 00         echo: the command data back, directly when Ne >= Nc,
--                    otherwise through 61xx
--   E8 00 00         data sink: accepts chained parts (CLA 10, each answered
--                    9000) and short or extended data; the last part (CLA 00)
--                    answers 10 bytes: total length (4 bytes, big-endian),
--                    Adler-32 of all data (4), number of parts (2), directly
--                    when Ne >= 10, otherwise through 610A
--   E9 00 00         refuses chaining: a part with CLA 10 gets 6884, CLA 00
--                    gets 9000
--   C0 00 00         GET RESPONSE: serves what E1/E2/E4/E5/E7/E8 left
--                    pending (6700 without Le); with nothing pending it is
--                    not ours and falls through to other behaviours
--
-- Pattern byte i (counting from 0) is i % 251: a period that is not a power
-- of two shows a lost or repeated 256-byte piece.
-- Any other E0..EF command with CLA 10 gets 6884; a malformed APDU 6700.

local char, concat = string.char, table.concat
local unpack = table.unpack or unpack -- luacheck: compat

local OK = "\144\0"

local function sw(sw1, sw2) return char(sw1, sw2) end

local function pattern(n, from)
  from = from or 0
  local t = {}
  for i = 1, n do t[i] = (from + i - 1) % 251 end
  local out = {}
  for i = 1, n, 4096 do out[#out + 1] = char(unpack(t, i, math.min(n, i + 4095))) end
  return concat(out)
end

-- n as `len` bytes, big-endian.
local function be(n, len)
  local out = {}
  for i = len, 1, -1 do
    out[i] = char(n % 256)
    n = math.floor(n / 256)
  end
  return concat(out)
end

local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s do
    a = (a + s:byte(i)) % 65521
    b = (b + a) % 65521
  end
  return b * 65536 + a
end

-- ISO 7816-3 body decoding, written independently of iscard.cmd so that a
-- bug there cannot hide behind the same bug here. Returns data, Ne or nil.
local function parse(c)
  local body = #c - 4
  if body < 0 then return nil end
  if body == 0 then return "", 0 end
  local b1 = c:byte(5)
  if body == 1 then return "", b1 == 0 and 256 or b1 end
  if b1 ~= 0 then
    if body == 1 + b1 then return c:sub(6), 0 end
    if body == 2 + b1 then
      local le = c:byte(#c)
      return c:sub(6, 5 + b1), le == 0 and 256 or le
    end
    return nil
  end
  if body == 2 then return nil end
  local x = c:byte(6) * 256 + c:byte(7)
  if body == 3 then return "", x == 0 and 65536 or x end
  if x == 0 then return nil end
  if body == 3 + x then return c:sub(8), 0 end
  if body == 5 + x then
    local le = c:byte(#c - 1) * 256 + c:byte(#c)
    return c:sub(8, 7 + x), le == 0 and 65536 or le
  end
  return nil
end

-- 61xx announcing what the next GET RESPONSE can fetch (00 = 256).
local function more(n, piece)
  return sw(0x61, math.min(n, piece or 256) % 256)
end

-- Keep `data` for GET RESPONSE and announce it.
local function defer(st, data, piece)
  st.pending = { data = data, piece = piece or 256 }
  return more(#data, piece)
end

-- Answer `data` directly when Ne allows it and it fits one vpcd message.
local function answer(st, data, ne)
  if #data == 0 then return OK end
  if ne >= #data and #data + 2 <= 65535 then return data .. OK end
  return defer(st, data)
end

local function get_response(st, ne)
  local p = st.pending
  if ne == 0 then return sw(0x67, 0x00) end
  if p.endless then
    local give = math.min(ne, p.piece)
    p.served = p.served + give
    return pattern(give, p.served - give) .. sw(0x61, p.piece % 256)
  end
  local give = math.min(ne, p.piece, #p.data)
  local out, rest = p.data:sub(1, give), p.data:sub(give + 1)
  if #rest == 0 then
    st.pending = nil
    return out .. OK
  end
  p.data = rest
  return out .. more(#rest, p.piece)
end

local handlers = {}

handlers[0xE0] = function(_, c)
  local n = c:byte(3) * 256 + c:byte(4)
  if n == 0 then return "" end
  if n == 1 then return "\144" end
  return pattern(n - 2) .. OK
end

handlers[0xE1] = function(st, c, _, ne)
  return answer(st, pattern(c:byte(3) * 256 + c:byte(4)), ne)
end

handlers[0xE2] = function(st, c)
  local piece = c:byte(3) == 0 and 256 or c:byte(3)
  local data = pattern(piece * c:byte(4))
  if #data == 0 then return OK end
  return defer(st, data, piece)
end

local function wants_exact(st, c, ne, deferred)
  local l = c:byte(4) == 0 and 256 or c:byte(4)
  if ne ~= l then return sw(0x6C, c:byte(4)) end
  if deferred then return defer(st, pattern(l)) end
  return pattern(l) .. OK
end

handlers[0xE3] = function(st, c, _, ne) return wants_exact(st, c, ne, false) end
handlers[0xE4] = function(st, c, _, ne) return wants_exact(st, c, ne, true) end

handlers[0xE5] = function(st, c)
  local piece = c:byte(4) == 0 and 256 or c:byte(4)
  st.pending = { endless = true, piece = piece, served = 0 }
  return sw(0x61, c:byte(4))
end

handlers[0xE7] = function(st, _, data, ne) return answer(st, data, ne) end

handlers[0xE8] = function(st, c, data, ne)
  local sink = st.sink or { parts = {} }
  st.sink = sink
  sink.parts[#sink.parts + 1] = data
  if c:byte(1) == 0x10 then return OK end
  st.sink = nil
  local all = concat(sink.parts)
  local a = adler32(all)
  local n = #all
  local result = be(n, 4) .. be(a, 4) .. be(#sink.parts, 2)
  if ne >= #result then return result .. OK end
  return defer(st, result)
end

handlers[0xE9] = function(_, c)
  if c:byte(1) == 0x10 then return sw(0x68, 0x84) end
  return OK
end

return function(card, capdu)
  if #capdu < 4 then return nil end
  local cla, ins = capdu:byte(1, 2)
  if cla ~= 0x00 and cla ~= 0x10 then return nil end
  local h = handlers[ins]
  if not h and ins ~= 0xC0 then return nil end
  card.state.iso = card.state.iso or {}
  local st = card.state.iso
  if ins == 0xC0 and cla == 0x00 then
    if not st.pending then
      return nil -- not ours: another behaviour may have something pending
    end
    local data, ne = parse(capdu)
    if not data then return sw(0x67, 0x00) end
    return get_response(st, ne)
  end
  if not h then return nil end
  -- any of our commands ends what an earlier one left pending
  st.pending = nil
  if ins ~= 0xE8 then st.sink = nil end
  local data, ne = parse(capdu)
  if not data then return sw(0x67, 0x00) end
  if cla == 0x10 and ins ~= 0xE8 and ins ~= 0xE9 then return sw(0x68, 0x84) end
  return h(st, capdu, data, ne)
end
