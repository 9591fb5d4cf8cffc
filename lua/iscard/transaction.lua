--- The Transaction engine: sends an ISCardCmd through a raw transmit function
-- and handles what T=0 cards and short-only readers need on top of it:
-- GET RESPONSE after `61xx`, a resend with the right Le after `6Cxx`, command
-- chaining for long data, and an APDU trace. Pure Lua; PC/SC is reached only
-- through the `transmit` function it is given.
--
-- Options are checked once, when they are set: the library's defaults by
-- `iscard.set_defaults`, a card's by `card:options`, a call's own by the
-- call. A Transaction without options of its own checks nothing again.
-- @module iscard.transaction

local util = require "iscard.util"
local cmdm = require "iscard.cmd"
local swm = require "iscard.sw"

local format, concat, sbyte = string.format, table.concat, string.byte
local internal = cmdm.internal
local states, apdu_of, encode, is_extended = internal.states, internal.apdu, internal.encode, internal.is_extended

local M = {}

-- ===========================================================================
-- Options

local misuse = util.misuse

local function boolean(default)
  return { default = default, check = function(v, what) return util.bool(v, what, default) end }
end

local function integer(default, lo, hi)
  return { default = default, check = function(v, what) return util.int(v, what, lo, hi) end }
end

-- Every option, once: its default and its check, which returns the value to
-- use or raises (`what` names the option for the message).
-- Adding an option is an entry here, a line in the documentation of `run`
-- and its use in the engine. `false` for `trace` means no trace, so that a
-- call or a card can switch off a trace set below it.
local OPTIONS = {
  get_response = boolean(true),
  fix_le = boolean(true),
  max_exchanges = integer(300, 0, util.MAX_INTEGER),
  extended = boolean(true),
  chaining = { default = "auto", check = function(v, what)
    if v == "auto" or v == true or v == false then return v end
    misuse('%s: "auto", true or false expected, got %s', what, util.describe(v))
  end },
  chain_size = integer(255, 1, 255),
  trace = { default = nil, check = function(v, what)
    if v == false then return nil end
    if type(v) ~= "function" then misuse("%s: function expected, got %s", what, util.describe(v)) end
    return v
  end },
  trace_pins = boolean(false),
  check = boolean(false),
}

-- Checks the options table `opts` (nil or a table) and returns the checked
-- options: `opts` over `base` (checked options) in a new table that is never
-- changed afterwards, or `base` itself when `opts` is nil. `who` is the
-- function the user called, for the messages.
-- `plain` says whether they let ISCard:Transaction take its plain path.
local function checked(base, opts, who)
  if opts == nil then return base end
  if type(opts) ~= "table" then
    misuse("%s: options table or nil expected, got %s", who, util.describe(opts))
  end
  for k in pairs(opts) do
    if OPTIONS[k] == nil then misuse("%s: unknown option '%s'", who, tostring(k)) end
  end
  local o = {}
  for k, option in pairs(OPTIONS) do
    local v = opts[k]
    if v == nil then o[k] = base[k] else o[k] = option.check(v, who .. ": option " .. k) end
  end
  o.plain = o.trace == nil and o.extended and o.chaining ~= true
  return o
end

-- The defaults in force (checked), and each card's: the options given to
-- `card:options` so far (`card_own`, as given) and those over the defaults,
-- checked (`card_checked`). Weak keys: they go with the card.
local defaults
do
  local shipped = {}
  for k, option in pairs(OPTIONS) do shipped[k] = option.default end
  defaults = checked(shipped, {}, "defaults")
end
local weak_keys = { __mode = "k" }
local card_own, card_checked = setmetatable({}, weak_keys), setmetatable({}, weak_keys)

-- The defaults while ISCard:Transaction may take them without looking
-- further: they allow the plain path and no card has options of its own;
-- false otherwise. Follows every change to either (settle; a card that set
-- options counts until it is collected and the next change comes).
local plain_defaults
local function settle()
  plain_defaults = defaults.plain and next(card_own) == nil and defaults or false
end
settle()

-- The options `o` as a plain table.
local function copy(o)
  local t = {}
  for k in pairs(OPTIONS) do t[k] = o[k] end
  return t
end

--- The defaults of the options of `run` and `ISCard:Transaction`, read-only:
-- `iscard.transaction.defaults.max_exchanges` is 300 until
-- `iscard.set_defaults` changes it, and assigning to a field raises.
-- (Lua 5.1 and LuaJIT cannot list it with `pairs`; `iscard.set_defaults{}`
-- returns a copy on every Lua.)
-- @table defaults
M.defaults = setmetatable({}, {
  __index = function(_, k) return OPTIONS[k] and defaults[k] end,
  __newindex = function(_, k)
    misuse("iscard.transaction.defaults is read-only: use iscard.set_defaults{%s = ...}", tostring(k))
  end,
  __pairs = function() return next, copy(defaults), nil end,
})

--- Change the default options of every Transaction (`iscard.set_defaults`).
-- The options in `t` replace the current defaults, the others stay; `trace
-- = false` removes a default trace. `t` is checked as a whole before
-- anything changes, and the options of every card are merged over the new
-- defaults at once.
-- @tparam table t options, as listed at `run`
-- @treturn table the previous defaults: `set_defaults(previous)` restores them
-- @raise for an unknown option or a bad value
function M.set_defaults(t)
  if type(t) ~= "table" then misuse("set_defaults: table expected, got %s", util.describe(t)) end
  local previous = copy(defaults)
  if previous.trace == nil then previous.trace = false end -- so that it restores "no trace"
  defaults = checked(defaults, t, "set_defaults")
  for card, own in pairs(card_own) do card_checked[card] = checked(defaults, own, "options") end
  settle()
  return previous
end

-- ISCard:options (documented in iscard.card): this card's default options.
local function options(self, opts)
  if type(opts) ~= "table" then misuse("options: table expected, got %s", type(opts)) end
  local own = {}
  for k, v in pairs(card_own[self] or own) do own[k] = v end
  for k, v in pairs(opts) do own[k] = v end
  card_checked[self] = checked(defaults, own, "options")
  card_own[self] = own
  settle()
  return self
end

-- ===========================================================================
-- The engine

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

-- What a transmit function returned, checked: the one place for it, used
-- by every exchange of the engine and by the plain path of
-- ISCard:Transaction alike. `transmit(target, apdu)` returns the reply and,
-- when it knows it, the status word (ISCard's transmit does), or nil,
-- message, code; `r, sw, code` are those values, `apdu` what was sent.
-- Returns the reply and its status word, or nil, message, code. `trace`,
-- when given, sees the reply (or the failure) first, as exchange `n` (the
-- other arguments go into its info).
local function reply(r, sw, code, apdu, trace, reason, n, part, parts)
  if r == nil then
    if sw == nil then error("Transaction: transmit returned nil without an error message") end
    if trace then trace("error", "", { reason = reason, exchange = n, error = sw, code = code, hex = "" }) end
    return nil, sw, code
  end
  if type(r) ~= "string" then
    error("Transaction: transmit must return a string or nil, got " .. util.describe(r))
  end
  local len = #r
  if sw == nil and len >= 2 then sw = sbyte(r, -2) * 256 + sbyte(r, -1) end
  if trace then
    trace("recv", r, { reason = reason, exchange = n, part = part, parts = parts, masked = false,
      hex = util.tohex(r, " "), sw = sw })
  end
  if len < 2 then
    return util.failure("ISCARD_E_MALFORMED_RESPONSE",
      "reply of %d byte%s to INS %s (a response APDU needs at least SW1 SW2)",
      len, len == 1 and "" or "s", describe_ins(apdu))
  end
  return r, sw
end

-- Raises for `cmd`, which is not an ISCardCmd.
local function not_a_cmd(cmd)
  misuse("Transaction: iscard.ISCardCmd expected, got %s", util.describe(cmd))
end

-- The bytes of the command in state `s`, encoded now if they were not yet;
-- raises when no command is built.
local function built(s)
  local apdu = apdu_of(s)
  if not apdu then misuse("Transaction: the ISCardCmd holds no command (build one with BuildCmd first)") end
  return apdu
end

-- A user's transmit(apdu) as the engine calls it: its reply alone, so that
-- the status word is always read from the reply by `reply`.
local function call(f, apdu)
  local r, msg, code = f(apdu)
  if r ~= nil then return r end
  return nil, msg, code
end

-- One exchange of the engine: `bytes` passed through `x.wire` (when set),
-- traced and sent with `x.transmit(x.target, bytes)` (the core refuses a
-- length outside its APDU limits); what came back checked by `reply`. `x`
-- is the engine's context for one call: transmit, target, wire, trace, and
-- `n`, the exchanges so far.
local function exchange(x, bytes, reason, masked, part, parts)
  if x.wire then bytes = x.wire(bytes) end
  local n = x.n + 1
  x.n = n
  local trace = x.trace
  if trace then
    local b, hex = shown(bytes, masked)
    trace("send", b, { reason = reason, exchange = n, part = part, parts = parts, masked = masked or false, hex = hex })
  end
  local r, sw, code = x.transmit(x.target, bytes)
  return reply(r, sw, code, bytes, trace, reason, n, part, parts)
end

-- Planning: whether the command in state `s` goes in chained parts under
-- the options `o`. Raises, before anything is sent, for what they cannot
-- carry: chaining a class that has no chaining bit to set, long data with
-- both extended length and chaining off.
local function plan(s, o)
  local cla, nc, chaining = s.cla, #s.data, o.chaining
  local chain = (chaining == true and nc > o.chain_size) or (chaining == "auto" and nc > 255 and not o.extended)
  if chain then
    -- cla & 0x80 (proprietary) or cla & 0x10 (chaining bit)
    if cla >= 0x80 or cla % 0x20 >= 0x10 then
      misuse("Transaction: cannot chain CLA %02X: the chaining bit 10 belongs to inter-industry classes"
        .. " and must not be set already", cla)
    end
  elseif nc > 255 and not o.extended then
    misuse("Transaction: %d bytes of command data need extended length or command chaining,"
      .. " and both are switched off", nc)
  end
  return chain
end

-- Parts 1 .. n-1 of a chained command, each to be answered 9000 (what data
-- they bring is kept in `collected`). Returns the fields of the last part,
-- which the first exchange sends, or nil, message, code.
local function chain_parts(x, s, o, secret, collected)
  local cla, ins, p1, p2, data = s.cla, s.ins, s.p1, s.p2, s.data
  local size = o.chain_size
  local parts = math.ceil(#data / size)
  for i = 1, parts - 1 do
    -- cla | 0x10: the chaining bit, known to be clear (checked by plan)
    local piece = encode(cla + 0x10, ins, p1, p2, data:sub((i - 1) * size + 1, i * size))
    local r, sw, code = exchange(x, piece, "chain", secret, i, parts)
    if not r then return nil, sw, code end
    if sw ~= 0x9000 then
      s.reply = concat(collected) .. r
      return util.failure("ISCARD_E_CHAINING_ABORTED", "part %d of %d of a chained command got %s",
        i, parts, swm.text(sw))
    end
    collected[#collected + 1] = r:sub(1, -3) -- none expected; kept rather than lost
  end
  return { cla = cla, data = data:sub((parts - 1) * size + 1), masked = secret, reason = "chain", part = parts,
           parts = parts }
end

-- The first exchange: the command as planned (`last`: the whole command, or
-- the last part of a chain). The command as the caller built it (`apdu`)
-- goes out byte for byte when it can; `first`, `first_sw`: the reply the
-- plain path already got for it. Returns the reply and its status word, or
-- nil, message, code.
local function first_exchange(x, s, o, last, chain, apdu, first, first_sw)
  if first then return first, first_sw end
  if chain or (not o.extended and is_extended(s)) then
    last.le = short_le(s.le)
    apdu = encode(last.cla, last.ins, last.p1, last.p2, last.data, last.le)
  end
  return exchange(x, apdu, last.reason, last.masked, last.part, last.parts)
end

-- The follow-ups of reply `r` with status `sw` to the APDU `last`: GET
-- RESPONSE after 61xx (its data kept in `collected`), the resend with the
-- right Le after 6Cxx, until another status word or `max_exchanges`.
-- Returns the last reply and its status word, or nil, message, code.
local function follow_ups(x, s, o, last, r, sw, collected)
  local gr_cla = s.alt_cla or cmdm.transport_cla(s.cla)
  local followups = 0
  while true do
    local sw2 = sw % 256
    local sw1 = (sw - sw2) / 256
    local n = sw2 == 0 and 256 or sw2
    local nxt
    if sw1 == 0x6C and o.fix_le then
      -- the card did not run the command; a 6Cxx carries no data to keep
      nxt = { cla = last.cla, ins = last.ins, p1 = last.p1, p2 = last.p2, data = last.data, le = n,
              masked = last.masked, reason = "le-retry" }
    elseif sw1 == 0x61 and o.get_response then
      collected[#collected + 1] = r:sub(1, -3)
      nxt = { cla = gr_cla, ins = 0xC0, p1 = 0, p2 = 0, data = "", le = n, masked = false,
              reason = "get-response" }
    else
      return r, sw
    end
    if followups >= o.max_exchanges then
      s.reply = concat(collected) .. r:sub(-2)
      return util.failure("ISCARD_E_CHAIN_TOO_LONG",
        "gave up after %d automatic GET RESPONSE/Le exchanges (max_exchanges), last status %04X",
        followups, sw)
    end
    followups = followups + 1
    last = nxt
    local code
    r, sw, code = exchange(x, encode(nxt.cla, nxt.ins, nxt.p1, nxt.p2, nxt.data, nxt.le), nxt.reason, nxt.masked)
    if not r then return nil, sw, code end
  end
end

-- The engine: run, a channel's Transaction and every ISCard:Transaction
-- that is not the plain case. `s` and `o` are the command's state and the
-- checked options; `transmit(target, apdu)` the raw exchange (see `reply`);
-- `success` what to return on success. Misuse is found, and raised,
-- before anything is sent. `wire(apdu) -> apdu`,
-- when given, rewrites every APDU just before it is traced and sent (a
-- logical channel puts its number into the CLA, iscard.channel). `first`,
-- `first_sw`: the reply the plain path already got for the command as built
-- (exchange 1), when it hands over a 61xx or 6Cxx to follow up.
-- Planning, the chained parts, the first exchange and the follow-ups are
-- the functions above.
local function engine(transmit, target, s, o, success, wire, first, first_sw)
  local apdu = s.apdu or built(s)
  if s.nad ~= 0 then
    return util.failure("ISCARD_E_NAD_UNSUPPORTED",
      "Nad=%02X cannot be sent: PC/SC carries no T=1 node address (set Nad to 0)", s.nad)
  end
  local chain = plan(s, o)
  local secret = not o.trace_pins and is_secret(s.ins, s.data)
  s.reply = "" -- a failure below must not leave the previous reply behind
  local x = { transmit = transmit, target = target, wire = wire, trace = o.trace, n = first and 1 or 0 }
  local collected = {} -- response data, in arrival order
  local last, r, sw, code -- last: fields of the APDU sent last, for a 6Cxx resend
  if chain then
    last, sw, code = chain_parts(x, s, o, secret, collected)
    if not last then return nil, sw, code end
  else
    last = { cla = s.cla, data = s.data, le = s.le, masked = secret, reason = "command" }
  end
  last.ins, last.p1, last.p2 = s.ins, s.p1, s.p2
  r, sw, code = first_exchange(x, s, o, last, chain, apdu, first, first_sw)
  if not r then return nil, sw, code end
  r, sw, code = follow_ups(x, s, o, last, r, sw, collected)
  if not r then return nil, sw, code end
  collected[#collected + 1] = r:sub(1, -3)
  s.reply = concat(collected) .. r:sub(-2)
  if o.check and sw ~= 0x9000 then return swm.check(sw) end
  return success
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
function M.run(transmit, cmd, opts, success)
  if type(transmit) ~= "function" then
    misuse("Transaction: transmit function expected, got %s", util.describe(transmit))
  end
  local s = states[cmd]
  if not s then not_a_cmd(cmd) end
  local o = checked(defaults, opts, "Transaction")
  if success == nil then success = true end
  return engine(call, transmit, s, o, success)
end

-- ===========================================================================
-- For the modules of iscard (not part of the API)

--- Adds `Transaction` and `options` to the ISCard methods table `methods`
-- (`iscard.card` does, on first use of either), on `methods.transmit` as it is now. Another
-- table of methods, for objects whose `transmit` keeps the same contract
-- (the reply and its status word, or nil, message, code), can be given
-- them as well.
-- @tparam table methods
-- @local
function M.install(methods)
  local transmit = methods.transmit

  -- ISCard:Transaction (documented in iscard.card): `run` on the card's
  -- transmit with the card's options. The plain case is one exchange of
  -- the command as built, its reply stored as it came: no table, no
  -- closure, no copy, and what came back checked by the same function as
  -- every exchange of the engine.
  function methods.Transaction(self, cmd, opts)
    local s = states[cmd]
    if not s then not_a_cmd(cmd) end
    local o = plain_defaults
    if not o or opts ~= nil then
      o = card_checked[self] or defaults
      if opts ~= nil then o = checked(o, opts, "Transaction") end
      if not o.plain then return engine(transmit, self, s, o, self) end
    end
    local apdu = s.apdu or built(s)
    if s.nad ~= 0 then return engine(transmit, self, s, o, self) end
    local r, sw, code = transmit(self, apdu)
    if sw == 0x9000 then
      s.reply = r -- all the data and the status word: the reply as it came
      return self
    end
    if sw == nil or r == nil then
      s.reply = "" -- a failure must not leave the previous reply behind
      r, sw, code = reply(r, sw, code, apdu)
      if r == nil then return nil, sw, code end
    end
    -- 61xx with get_response, 6Cxx with fix_le: for the engine to follow up
    if sw < 0x6D00 and sw >= 0x6100 and (sw < 0x6200 and o.get_response or sw >= 0x6C00 and o.fix_le) then
      return engine(transmit, self, s, o, self, nil, r, sw)
    end
    s.reply = r
    if o.check then return swm.check(sw) end -- (not 9000, which returned above)
    return self
  end

  methods.options = options
end

--- A channel's Transaction (iscard.channel): `ISCard:Transaction` on `card`
-- through `transmit(card, apdu)`, every APDU passed through `wire` just
-- before it is traced and sent; returns `success`.
-- @local
function M.channel_transaction(transmit, card, cmd, opts, success, wire)
  local s = states[cmd]
  if not s then not_a_cmd(cmd) end
  local o = checked(card_checked[card] or defaults, opts, "Transaction")
  return engine(transmit, card, s, o, success, wire)
end

return M
