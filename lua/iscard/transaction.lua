--- The Transaction engine: sends an ISCardCmd through a raw transmit function
-- and handles what T=0 cards and short-only readers need on top of it:
-- GET RESPONSE after `61xx`, a resend with the right Le after `6Cxx`, command
-- chaining for long data, and an APDU trace. Pure Lua; PC/SC is reached only
-- through the `transmit` function it is given.
-- @module iscard.transaction

local util = require "iscard.util"
local cmdm = require "iscard.cmd"
local swm = require "iscard.sw"

local format, concat, sbyte = string.format, table.concat, string.byte
local states, apdu_of, encode, is_extended = cmdm._states, cmdm._apdu_of, cmdm._encode, cmdm._is_extended

local M = {}

--- Shortest command APDU handed to transmit: CLA INS P1 P2.
M.MIN_CAPDU = 4
--- Longest command APDU handed to transmit: pcsc-lite's extended buffer
-- (the longest ISO APDU is 65544 bytes).
M.MAX_CAPDU = 65548

--- Default options of `run` (see there). Callers merging their own defaults
-- may copy this table; `run` never modifies it.
-- @table defaults
M.defaults = {
  get_response = true,
  fix_le = true,
  max_exchanges = 300,
  chaining = "auto",
  chain_size = 255,
  extended = true,
  trace = nil,
  trace_pins = false,
  check = false,
}

-- INS bytes whose data field carries a PIN or other reference data.
-- VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER are the obvious ones;
-- their odd-INS forms and ENABLE/DISABLE VERIFICATION REQUIREMENT carry
-- verification data as well.
local SECRET_INS = {
  [0x20] = true, [0x21] = true, -- VERIFY
  [0x24] = true, [0x25] = true, -- CHANGE REFERENCE DATA
  [0x2C] = true,                -- RESET RETRY COUNTER
  [0x26] = true, [0x28] = true, -- DISABLE / ENABLE VERIFICATION REQUIREMENT
}

local function is_secret(ins, data)
  if SECRET_INS[ins] then return true end
  -- an ENVELOPE carrying such a command hides the PIN one level down
  return (ins == 0xC2 or ins == 0xC3) and #data >= 2 and SECRET_INS[data:byte(2)] == true
end

local option_checks = {
  get_response = "boolean", fix_le = "boolean", extended = "boolean",
  trace_pins = "boolean", check = "boolean",
}

-- Checks `opts` and returns the complete options: a new table, never
-- modified afterwards (it may be cached). `lvl` is the level its errors
-- blame, as given to error() here: options <- engine <- the caller of
-- run or of ISCard:Transaction. Messages are built only on failure.
local function options(opts, lvl)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error("Transaction: options table or nil expected, got " .. util.describe(opts), lvl)
  end
  local defaults = M.defaults
  for k in pairs(opts) do
    if defaults[k] == nil and k ~= "trace" then
      error(format("Transaction: unknown option '%s'", tostring(k)), lvl)
    end
  end
  local o = {}
  for k, default in pairs(defaults) do
    local v = opts[k]
    if v == nil then v = default end
    o[k] = v
    if option_checks[k] and v ~= nil and type(v) ~= "boolean" then
      util.bool(v, "Transaction: option " .. k, default, lvl) -- raises
    end
  end
  o.max_exchanges = util.int(o.max_exchanges, "Transaction: option max_exchanges", 0, util.MAX_INTEGER, lvl)
  o.chain_size = util.int(o.chain_size, "Transaction: option chain_size", 1, 255, lvl)
  if o.chaining ~= "auto" and o.chaining ~= true and o.chaining ~= false then
    error("Transaction: option chaining: \"auto\", true or false expected, got " .. util.describe(o.chaining), lvl)
  end
  o.trace = opts.trace
  if o.trace ~= nil and type(o.trace) ~= "function" then
    error("Transaction: option trace: function expected, got " .. util.describe(o.trace), lvl)
  end
  return o
end

-- A card's default options (ISCard:options) with a call's options over
-- them; `trace = false` in either switches the card's trace off.
local function merge(card_opts, opts)
  local merged = {}
  for k, v in pairs(card_opts) do merged[k] = v end
  for k, v in pairs(opts or {}) do merged[k] = v end
  if merged.trace == false then merged.trace = nil end
  return merged
end

-- Checked options are cached for the calls that give none: `default_o` for
-- run(..., nil) and ISCard:Transaction(cmd) on a card without defaults,
-- `card_o[t]` for a card whose defaults table is t (ISCard:options calls
-- `forget(t)` when it changes t). Both hold only while M.defaults is the
-- table, with the values, they were checked against: `snap_*` (its `trace`
-- is never used, and keys other than the known ones only make options
-- known, which is looked up afresh whenever a call gives options).
local weak_keys = { __mode = "k" }
local default_o, card_o = nil, setmetatable({}, weak_keys)
local snap_d, snap_gr, snap_fl, snap_me, snap_ch, snap_cs, snap_ex, snap_tp, snap_ck

local function snapshot(d)
  snap_d, snap_gr, snap_fl, snap_me, snap_ch = d, d.get_response, d.fix_le, d.max_exchanges, d.chaining
  snap_cs, snap_ex, snap_tp, snap_ck = d.chain_size, d.extended, d.trace_pins, d.check
end

-- Hex for the trace, with the data field shown as "**" per byte when masked.
-- Returns the bytes to hand to the trace function and their hex.
local function shown(apdu, masked)
  if masked then
    local d = cmdm.decode(apdu)
    if d and #d.data > 0 then
      local start = d.extended and 8 or 6
      local stop = start + #d.data
      local stars = ("*"):rep(#d.data)
      local hex = util.tohex(apdu:sub(1, start - 1), " ") .. " " .. ("** "):rep(#d.data - 1) .. "**"
      if stop <= #apdu then hex = hex .. " " .. util.tohex(apdu:sub(stop), " ") end
      return apdu:sub(1, start - 1) .. stars .. apdu:sub(stop), hex
    end
  end
  return apdu, util.tohex(apdu, " ")
end

local function describe_ins(apdu)
  local ins = apdu:byte(2)
  if ins == 0xC0 then return "C0 (GET RESPONSE)" end
  return format("%02X", ins)
end

-- Ne that a short APDU can ask for: more than 256 becomes Le=00 (256, the
-- rest arriving through 61xx); nil and 0 stay.
local function short_le(le)
  if le and le > 256 then return 0 end
  return le
end

-- Everything after the first exchange when it is not the plain case:
-- chaining, a trace, a command to re-encode, 61xx/6Cxx follow-ups. Raises
-- only errors that do not depend on the caller's level (the misuse checks
-- are done by `engine`). `first_reply`: the reply engine already got for
-- the command as built (exchange 1), or nil.
local function general(transmit, card, cmd, s, o, apdu, chain, success, first_reply, wire)
  local cla, ins, p1, p2, data, le = s.cla, s.ins, s.p1, s.p2, s.data, s.le
  local nc = #data
  local trace, secret = o.trace, not o.trace_pins and is_secret(ins, data)
  if first_reply == nil then
    s.reply = "" -- a failure below must not leave the previous reply behind
  end

  local exchanges = first_reply and 1 or 0
  local function exchange(bytes, reason, masked, part, parts)
    if wire then bytes = wire(bytes) end
    if #bytes < M.MIN_CAPDU or #bytes > M.MAX_CAPDU then
      error(format("Transaction: refusing a command APDU of %d bytes", #bytes))
    end
    exchanges = exchanges + 1
    if trace then
      local b, hex = shown(bytes, masked)
      trace("send", b, { reason = reason, exchange = exchanges, part = part, parts = parts,
        masked = masked or false, hex = hex })
    end
    local r, msg, code
    if transmit == nil then r, msg, code = card:transmit(bytes) else r, msg, code = transmit(bytes) end
    if r == nil then
      if msg == nil then error("Transaction: transmit returned nil without an error message") end
      if trace then
        trace("error", "", { reason = reason, exchange = exchanges, error = msg, code = code, hex = "" })
      end
      return nil, msg, code
    end
    if type(r) ~= "string" then
      error("Transaction: transmit must return a string or nil, got " .. util.describe(r))
    end
    if trace then
      trace("recv", r, { reason = reason, exchange = exchanges, part = part, parts = parts, masked = false,
        hex = util.tohex(r, " "), sw = #r >= 2 and r:byte(-2) * 256 + r:byte(-1) or nil })
    end
    if #r < 2 then
      return util.failure("ISCARD_E_MALFORMED_RESPONSE",
        "reply of %d byte%s to INS %s (a response APDU needs at least SW1 SW2)",
        #r, #r == 1 and "" or "s", describe_ins(bytes))
    end
    return r
  end

  local collected = {} -- response data, in arrival order
  local last          -- fields of the APDU sent last, for a 6Cxx resend
  local reply, msg, code
  if chain then
    local size = o.chain_size
    local parts = math.ceil(nc / size)
    for i = 1, parts - 1 do
      -- cla | 0x10: the chaining bit, known to be clear (checked by engine)
      local piece = encode(cla + 0x10, ins, p1, p2, data:sub((i - 1) * size + 1, i * size))
      reply, msg, code = exchange(piece, "chain", secret, i, parts)
      if not reply then return nil, msg, code end
      local sw = reply:byte(-2) * 256 + reply:byte(-1)
      if sw ~= 0x9000 then
        s.reply = concat(collected) .. reply
        return util.failure("ISCARD_E_CHAINING_ABORTED", "part %d of %d of a chained command got %s",
          i, parts, swm.text(sw))
      end
      collected[#collected + 1] = reply:sub(1, -3) -- none expected; kept rather than lost
    end
    last = { cla = cla, data = data:sub((parts - 1) * size + 1),
             masked = secret, reason = "chain", part = parts, parts = parts }
  else
    last = { cla = cla, data = data, le = le, masked = secret, reason = "command" }
  end
  last.ins, last.p1, last.p2 = ins, p1, p2
  if first_reply then
    reply = first_reply
  else
    -- the command as the caller built it goes out byte for byte when it can
    local first = apdu
    if chain or (not o.extended and is_extended(s)) then
      last.le = short_le(le)
      first = encode(last.cla, ins, p1, p2, last.data, last.le)
    end
    reply, msg, code = exchange(first, last.reason, last.masked, last.part, last.parts)
    if not reply then return nil, msg, code end
  end

  local gr_cla = s.alt_cla or cmdm.transport_cla(cla)
  local followups = 0
  while true do
    local sw1, sw2 = reply:byte(-2, -1)
    local n = sw2 == 0 and 256 or sw2
    local nxt
    if sw1 == 0x6C and o.fix_le then
      -- the card did not run the command; a 6Cxx carries no data to keep
      nxt = { cla = last.cla, ins = last.ins, p1 = last.p1, p2 = last.p2, data = last.data, le = n,
              masked = last.masked, reason = "le-retry" }
    elseif sw1 == 0x61 and o.get_response then
      collected[#collected + 1] = reply:sub(1, -3)
      nxt = { cla = gr_cla, ins = 0xC0, p1 = 0, p2 = 0, data = "", le = n, masked = false,
              reason = "get-response" }
    else
      break
    end
    if followups >= o.max_exchanges then
      s.reply = concat(collected) .. reply:sub(-2)
      return util.failure("ISCARD_E_CHAIN_TOO_LONG",
        "gave up after %d automatic GET RESPONSE/Le exchanges (max_exchanges), last status %02X%02X",
        followups, sw1, sw2)
    end
    followups = followups + 1
    last = nxt
    reply, msg, code = exchange(encode(nxt.cla, nxt.ins, nxt.p1, nxt.p2, nxt.data, nxt.le),
      nxt.reason, nxt.masked)
    if not reply then return nil, msg, code end
  end
  collected[#collected + 1] = reply:sub(1, -3)
  s.reply = concat(collected) .. reply:sub(-2)
  if o.check then
    local ok, m, c = swm.check(cmd)
    if not ok then return nil, m, c end
  end
  if success == nil then return true end
  return success
end

-- run and ISCard:Transaction. `transmit(apdu)` is the raw exchange, or nil
-- to call `card:transmit(apdu)`; `card_opts` the card's defaults or nil.
-- `lvl` is the level misuse errors blame, as given to error() here: 2 when
-- tail-called by ISCard:Transaction, 3 when called by run. The common case
-- -- no options given (or cached ones), no trace, no chaining, the command
-- sent as built, a reply other than 61xx/6Cxx -- reads the command's state
-- directly, makes no table and no closure, and stores the reply as returned.
-- `wire(apdu) -> apdu`, when given, rewrites every APDU just before it is
-- traced and sent, follow-ups included: a logical channel puts its number
-- into the CLA there (iscard.channel), on the one code path.
local function engine(transmit, card, cmd, opts, card_opts, success, lvl, wire)
  local merged
  if card_opts ~= nil and opts ~= nil then merged = merge(card_opts, opts) end
  local s = states[cmd]
  if not s then
    error("Transaction: iscard.ISCardCmd expected, got " .. util.describe(cmd), lvl)
  end
  local d = M.defaults
  -- (snap_d is nil exactly when both caches are empty)
  if snap_d ~= nil and (d ~= snap_d or d.get_response ~= snap_gr or d.fix_le ~= snap_fl or d.max_exchanges ~= snap_me
      or d.chaining ~= snap_ch or d.chain_size ~= snap_cs or d.extended ~= snap_ex
      or d.trace_pins ~= snap_tp or d.check ~= snap_ck) then
    default_o, card_o, snap_d = nil, setmetatable({}, weak_keys), nil -- M.defaults changed
  end
  local o
  if merged then
    o = options(merged, lvl + 1)
  elseif opts ~= nil then
    o = options(opts, lvl + 1)
  elseif card_opts == nil then
    o = default_o
    if o == nil then
      o = options(nil, lvl + 1)
      default_o = o
      snapshot(d)
    end
  else
    o = card_o[card_opts]
    if o == nil then
      o = options(merge(card_opts, nil), lvl + 1)
      card_o[card_opts] = o
      snapshot(d)
    end
  end
  if not s.built then
    error("Transaction: the ISCardCmd holds no command (build one with BuildCmd first)", lvl)
  end
  local apdu = s.apdu or apdu_of(s)
  if s.nad ~= 0 then
    return util.failure("ISCARD_E_NAD_UNSUPPORTED",
      "Nad=%02X cannot be sent: PC/SC carries no T=1 node address (set Nad to 0)", s.nad)
  end

  local nc, chaining = #s.data, o.chaining
  local chain = (chaining == true and nc > o.chain_size)
    or (chaining == "auto" and nc > 255 and not o.extended)
  if chain then
    -- cla & 0x80 (proprietary) or cla & 0x10 (chaining bit)
    local cla = s.cla
    if cla >= 0x80 or cla % 0x20 >= 0x10 then
      error(format("Transaction: cannot chain CLA %02X: the chaining bit 10 belongs to inter-industry classes"
        .. " and must not be set already", cla), lvl)
    end
  elseif nc > 255 and not o.extended then
    error(format("Transaction: %d bytes of command data need extended length or command chaining,"
      .. " and both are switched off", nc), lvl)
  elseif o.trace == nil and (o.extended or not is_extended(s)) then
    -- The plain case: one exchange of the APDU as built (4..65544 bytes,
    -- within MIN_CAPDU..MAX_CAPDU by construction).
    s.reply = "" -- a failure below must not leave the previous reply behind
    if wire then apdu = wire(apdu) end
    local r, msg, code
    if transmit == nil then r, msg, code = card:transmit(apdu) else r, msg, code = transmit(apdu) end
    if r == nil then
      if msg == nil then error("Transaction: transmit returned nil without an error message") end
      return nil, msg, code
    end
    if type(r) ~= "string" then
      error("Transaction: transmit must return a string or nil, got " .. util.describe(r))
    end
    local n = #r
    if n < 2 then
      return util.failure("ISCARD_E_MALFORMED_RESPONSE",
        "reply of %d byte%s to INS %s (a response APDU needs at least SW1 SW2)",
        n, n == 1 and "" or "s", describe_ins(apdu))
    end
    local sw1 = sbyte(r, -2)
    if (sw1 == 0x61 and o.get_response) or (sw1 == 0x6C and o.fix_le) then
      return general(transmit, card, cmd, s, o, apdu, false, success, r, wire)
    end
    s.reply = r -- all the data and the status word: the reply as it came
    if o.check then
      local sw = sw1 * 256 + sbyte(r, -1)
      if sw ~= 0x9000 then return swm.check(sw) end
    end
    if success == nil then return true end
    return success
  end
  return general(transmit, card, cmd, s, o, apdu, chain, success, nil, wire)
end

--- Send `cmd` and store the reply in it.
--
-- `transmit(apdu)` must return the raw reply (a binary string) or
-- `nil, message, code`; a failure is returned unchanged. Every APDU that goes
-- to the card passes through it, and through `opts.trace` first.
--
-- On success `cmd.ApduReply` holds all response data of the exchange
-- (assembled over GET RESPONSEs) followed by the final SW1 SW2. A status word
-- other than 9000 is still success unless `opts.check` is true.
--
-- Options (`defaults` lists the default values):
--
-- * `get_response` (true): on `61xx` send GET RESPONSE (INS C0, P1 P2 00 00,
--   Le = xx, 00 for 256) and keep the data. CLA: the command's
--   AlternateClassId when set, else `cmd.transport_cla(command CLA)`.
-- * `fix_le` (true): on `6Cxx` resend the last APDU with Le = xx (00 = 256).
-- * `max_exchanges` (300): most automatic follow-up exchanges (GET RESPONSE
--   and Le resends) in one call; one more fails with ISCARD_E_CHAIN_TOO_LONG.
--   300 fits the largest ISO response (65536 bytes in 256-byte pieces) with
--   margin. Parts of a chained command are not counted: their number follows
--   from the data length.
-- * `extended` (true): send extended APDUs when the command needs them; when
--   false, Ne > 256 is sent as Le=00 and long data goes through chaining.
-- * `chaining` ("auto"): "auto" chains when Nc > 255 and `extended` is false;
--   true chains whenever Nc > `chain_size`; false never chains.
-- * `chain_size` (255): data bytes per chained part.
-- * `trace` (nil): `function(direction, bytes, info)` called for every APDU
--   exchanged: direction "send", "recv" or "error" (a transmit failure: bytes
--   ""); info = `{reason=, exchange=, part=, parts=, hex=, masked=, sw=, error=, code=}`.
-- * `trace_pins` (false): show PIN data in the trace; otherwise the data field
--   of VERIFY, CHANGE/RESET REFERENCE DATA and similar commands is replaced by
--   `*` bytes (`**` in info.hex).
-- * `check` (false): fail with ISCARD_E_CARD_STATUS when the final status word
--   is not 9000 (the reply is stored all the same).
--
-- Misuse raises: not an ISCardCmd, an empty command, a bad option, long data
-- with both `extended` and `chaining` off, chaining a proprietary class.
-- @tparam function transmit raw exchange: `transmit(apdu) -> reply | nil, msg, code`
-- @tparam iscard.ISCardCmd cmd the command; receives the reply
-- @tparam[opt] table opts options as above
-- @param[opt=true] success what to return on success (`ISCard:Transaction`
--   returns the card: it runs the same engine, calling `card:transmit`)
-- @return[1] `success`
-- @return[2] nil
-- @treturn[2] string `"NAME: explanation"` (PC/SC's or ours)
-- @treturn[2] integer the error code
local function pass(...) return ... end

function M.run(transmit, cmd, opts, success)
  if type(transmit) ~= "function" then
    error("Transaction: transmit function expected, got " .. util.describe(transmit), 2)
  end
  -- not a tail call into engine: its errors blame level 3, our caller, on
  -- every Lua (5.1 keeps no position for a frame a tail call replaced)
  return pass(engine(transmit, nil, cmd, opts, nil, success, 3))
end

-- For iscard (init.lua) only, not part of the API. ISCard:Transaction is
-- `return _engine(nil, self, cmd, opts, card_defaults, self, 2)`, a tail
-- call, so that misuse errors blame its caller.
M._engine = engine

-- ISCard:options changed the defaults table `t` of a card in place.
function M._forget(t)
  card_o[t] = nil
end

return M
