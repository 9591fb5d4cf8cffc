--- Logical channels (ISO/IEC 7816-4, 5.4.2 and MANAGE CHANNEL): a channel
-- is opened with `card:open_channel()` and sends commands with its own
-- `Transaction`, which puts the channel number into the CLA of every APDU it
-- sends -- parts of chained commands, Le resends and GET RESPONSEs included.
--
-- Commands are built as for the basic channel (CLA 00, 0C, 80, ...); the
-- channel carries them:
--
-- * channels 1-3 in the first inter-industry class: bits 2-1 of the CLA
--   (`0x0C` on channel 2 becomes `0x0E`);
-- * channels 4-19 in the further inter-industry class: bit 7 set, bits 4-1
--   the number minus 4, the chaining bit kept in bit 5, and secure messaging
--   "command header not processed" (bits 4-3 = 10 in the first class) moved
--   to bit 6. The other two secure-messaging codings (proprietary, header
--   authenticated) have no place in the further class: such a command raises.
-- * proprietary classes (bit 8 set, as GlobalPlatform's 80/84) get the same
--   coding in their low seven bits, as GlobalPlatform cards expect.
--
-- A CLA that already names a channel, a reserved class (20-3F) and FF raise.
-- @module iscard.channel

local util = require "iscard.util"
local cmdm = require "iscard.cmd"
local transaction = require "iscard.transaction"

local format, char, byte, floor = string.format, string.char, string.byte, math.floor
local channel_transaction, states = transaction.channel_transaction, cmdm.internal.states
local INVALID_HANDLE = require("iscard.core").errors.SCARD_E_INVALID_HANDLE

local M = {}

--- Lowest logical channel a Channel can have (0 is the basic channel).
M.MIN = 1
--- Highest logical channel ISO 7816-4 codes in a CLA.
M.MAX = 19

--- The CLA that carries `cla` (written for the basic channel) on channel
-- `number`.
-- @tparam integer cla class byte of a basic-channel command
-- @tparam integer number channel 0..19
-- @treturn[1] integer the class byte for that channel
-- @return[2] nil
-- @treturn[2] string why this CLA cannot go on that channel
function M.cla(cla, number)
  cla = util.byte(cla, "channel.cla: CLA")
  number = util.int(number, "channel.cla: channel", 0, M.MAX)
  if cla == 0xFF then return nil, "CLA FF is invalid" end
  local prop = cla >= 0x80 and 0x80 or 0
  local low = cla - prop
  if low >= 0x40 then
    return nil, format("CLA %02X already names logical channel %d (further class)", cla, 4 + low % 16)
  end
  if low >= 0x20 then return nil, format("CLA %02X is a reserved class", cla) end
  if low % 4 ~= 0 then
    return nil, format("CLA %02X already names logical channel %d", cla, low % 4)
  end
  if number <= 3 then return cla + number end
  local sm = floor(low / 4) % 4
  if sm == 1 or sm == 3 then
    return nil, format("CLA %02X: secure messaging coding %d%d has no place in the further class of channel %d",
      cla, floor(sm / 2), sm % 2, number)
  end
  local chaining = low >= 0x10 and 0x10 or 0
  return prop + 0x40 + (sm == 2 and 0x20 or 0) + chaining + (number - 4)
end

local Channel = {}
local meta = { __name = "iscard.Channel" }
local private = setmetatable({}, { __mode = "k" }) -- channel -> state

local function state_of(self, method)
  local st = util.state_of(private, self, "iscard.Channel", method)
  if st.closed then util.misuse("%s: the channel %d is closed", method, st.number) end
  return st
end

-- Raises when a CLA the command will send cannot go on this channel.
local function check_cla(cla, number, what)
  local ok, why = M.cla(cla, number)
  if not ok then
    util.misuse("Transaction on channel %d: %s%s", number, what == "CLA" and "" or what .. ": ", why)
  end
end

--- Sends `cmd` on this channel: `ISCard:Transaction` with the channel in
-- the CLA of every APDU. Same options and results; returns the channel.
-- @tparam iscard.ISCardCmd cmd built for the basic channel
-- @tparam[opt] table opts Transaction options
-- @return[1] the channel
-- @return[2] nil, message, code
function Channel:Transaction(cmd, opts)
  local st = state_of(self, "Transaction")
  local s = states[cmd]
  if s then
    check_cla(s.cla, st.number, "CLA")
    if s.alt_cla then check_cla(s.alt_cla, st.number, "AlternateClassId") end
  end
  -- (the card's transmit as it is now: iscard.set_waiter switches it)
  return channel_transaction(st.card.transmit, st.card, cmd, opts, self, st.wire)
end

-- Channels let go of by the collector or a `<close>` variable, by card
-- (weak keys): card -> list of { number =, wire_cla =, handle = }. Their
-- MANAGE CHANNEL close waits for the next one the program itself sends on
-- that card (open_channel or close): a finalizer runs inside whatever call
-- happened to allocate -- between a 61xx and its GET RESPONSE, inside a
-- command chain, inside the C core's push of a reply -- and a command sent
-- from there would change what that call gets.
local dropped = setmetatable({}, { __mode = "k" })

-- The card's handle, 0 when detached or closed (the members raise then).
local function handle_of(card)
  local ok, h = pcall(function() return card.attached and card.CardHandle or 0 end)
  return ok and h or 0
end

-- Marks the channel closed on our side, its close left for later. Sends
-- nothing, never raises: __gc and __close.
local function drop(self)
  local st = private[self]
  if not st or st.closed then return end
  st.closed = true
  local list = dropped[st.card]
  if not list then
    list = {}
    dropped[st.card] = list
  end
  list[#list + 1] = { number = st.number, wire_cla = st.wire_cla, handle = st.handle }
end

-- Sends the closes the channels dropped on card have waited for, on the
-- same connection they were opened on (a reset since has closed them, and
-- the card answers 6881: ignored, like any other outcome). The list is
-- taken first: a channel dropped meanwhile waits for the next time.
local function send_dropped(card)
  local list = dropped[card]
  if not list then return end
  dropped[card] = nil
  local h = handle_of(card)
  for _, d in ipairs(list) do
    if d.handle == h and h ~= 0 then
      pcall(card.transmit, card, char(d.wire_cla, 0x70, 0x80, d.number))
    end
  end
end

-- MANAGE CHANNEL close, sent on the channel itself. Never raises.
local function close(self)
  local st = private[self]
  if not st or st.closed then return true end
  st.closed = true
  local card = st.card
  if handle_of(card) ~= st.handle then
    return nil, format("SCARD_E_INVALID_HANDLE: MANAGE CHANNEL close of channel %d: the ISCard is no longer "
      .. "attached as at the open (detached, closed or attached again)", st.number), INVALID_HANDLE
  end
  send_dropped(card)
  local apdu = char(st.wire_cla, 0x70, 0x80, st.number)
  local ok, r, msg, code = pcall(card.transmit, card, apdu)
  if not ok then return nil, "SCARD_E_INVALID_HANDLE: MANAGE CHANNEL close: " .. tostring(r), INVALID_HANDLE end
  if not r then return nil, msg, code end
  if #r ~= 2 then
    return util.failure("ISCARD_E_MALFORMED_RESPONSE", "%d-byte reply to MANAGE CHANNEL close", #r)
  end
  local sw = byte(r, 1) * 256 + byte(r, 2)
  if sw ~= 0x9000 then
    return util.failure("ISCARD_E_CARD_STATUS", "MANAGE CHANNEL close of channel %d: %s",
      st.number, require("iscard.sw").text(sw))
  end
  return true
end

--- Closes the channel (MANAGE CHANNEL close, P2 = the number, sent on the
-- channel). The channel is closed on our side whatever the card answers;
-- closing again does nothing. A channel let go of by the garbage collector
-- or a `<close>` variable sends nothing then: it is closed on our side,
-- and its MANAGE CHANNEL close is sent before the next `open_channel` or
-- `close` on the same connection (a reset or a new connection forgets it).
-- @return[1] true
-- @return[2] nil, message, code (a PC/SC failure, the card's status word,
--   or `SCARD_E_INVALID_HANDLE` when the card is no longer attached as it
--   was at the open)
function Channel:close()
  util.state_of(private, self, "iscard.Channel", "close")
  return close(self)
end

meta.__close = drop
meta.__gc = drop
meta.__tostring = function(self)
  local st = private[self]
  if not st then return "iscard.Channel (not made by open_channel)" end
  return format("iscard.Channel %d (%s)", st.number, st.closed and "closed" or "open")
end

-- `number` as a field; everything else from the methods.
meta.__index = function(self, k)
  if k == "number" then
    local st = private[self]
    return st and st.number
  end
  return Channel[k]
end

-- Makes the channel object for channel `number` of `card`.
local function new(card, number)
  local self = {}
  local st = { card = card, number = number, handle = handle_of(card) }
  st.wire_cla = assert(M.cla(0, number))
  -- every APDU the engine sends: the channel into its CLA (checked before
  -- sending by Transaction; a follow-up's CLA derives from a checked one)
  st.wire = function(apdu)
    local cla = assert(M.cla(byte(apdu, 1), number))
    return char(cla) .. apdu:sub(2)
  end
  private[self] = st
  setmetatable(self, meta)
  -- Lua 5.1 and LuaJIT run __gc only for userdata: a proxy carries it.
  -- The channel holds the proxy (not `st`, which `private` holds strongly
  -- on 5.1, where weak keys are no ephemerons: that would keep it alive).
  if _VERSION == "Lua 5.1" and newproxy then -- luacheck: compat
    local proxy = newproxy(true) -- luacheck: compat
    getmetatable(proxy).__gc = function() drop(self) end
    rawset(self, private, proxy)
  end
  return self
end

--- Opens a logical channel with MANAGE CHANNEL open (sent on the basic
-- channel through `ISCard:Transaction`). `card:open_channel()` calls this.
-- @param card an attached ISCard
-- @int[opt] number the channel to open (1..19); by default the card chooses
-- @return[1] the channel
-- @return[2] nil, message, code
function M.open(card, number)
  if number ~= nil then number = util.int(number, "open_channel: channel", M.MIN, M.MAX) end
  local cmd = cmdm.new()
  cmd:BuildCmd(0x00, 0x70, 0x00, number or 0, nil, number == nil and 1 or nil)
  send_dropped(card)
  local ok, msg, code = card:Transaction(cmd)
  if not ok then return nil, msg, code end
  local sw = cmd.ReplyStatus
  if sw ~= 0x9000 then
    return util.failure("ISCARD_E_CARD_STATUS", "MANAGE CHANNEL open: %s", require("iscard.sw").text(sw))
  end
  local data = cmd.ReplyData
  if number == nil then
    number = #data == 1 and byte(data) or nil
    if number == nil or number < M.MIN or number > M.MAX then
      return util.failure("ISCARD_E_MALFORMED_RESPONSE", "MANAGE CHANNEL open answered %s, not a channel number 01..13",
        #data > 0 and util.tohex(data, " ") or "no data")
    end
  end
  return new(card, number)
end

return M
