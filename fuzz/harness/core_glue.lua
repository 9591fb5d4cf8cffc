-- Fuzz harness for fuzz/core_glue.c: calls of the ISCard API with
-- arguments from the input (through the C global take()), against a PC/SC
-- layer that answers from the same input.  Misuse may raise (that is the
-- contract); a call that returns must give a value, or nil, "NAME: ...",
-- code -- and nothing may crash.
local iscard

local check = require("input").check

local READERS = { "Virtual PCD 00 00", "Virtual PCD 00 01", "", ("r"):rep(129), "a\0b" }
local NUMBERS = { 0, 1, 2, 3, 255, -1, 1.5, 0 / 0, math.huge, 2 ^ 40, 2 ^ 53, 0xFFFFFFFF }
local NAMES = { "shared", "exclusive", "direct", "t0", "t1", "raw", "any", "leave", "reset", "bogus" }

local cards = {}

local function value()
  local k = take() % 10 -- luacheck: ignore (C globals)
  if k == 0 then return nil end
  if k == 1 then return NUMBERS[take() % #NUMBERS + 1] end -- luacheck: ignore
  if k == 2 then return NAMES[take() % #NAMES + 1] end -- luacheck: ignore
  if k == 3 then return READERS[take() % #READERS + 1] end -- luacheck: ignore
  if k == 4 then return cards[take() % (#cards + 1) + 1] end -- luacheck: ignore
  if k == 5 then return take() end -- luacheck: ignore
  if k == 6 then return { { reader = READERS[1], current = NUMBERS[take() % #NUMBERS + 1] } } end -- luacheck: ignore
  if k == 7 then return ("\0\164\4\0"):rep(take() % 3) .. string.char(take(), take()) end -- luacheck: ignore
  if k == 8 then return {} end
  return true
end

-- the error convention of every call that returns
local function returned(ok, r, msg, code)
  if not ok then return end -- raised: misuse
  if r == nil then
    check(type(msg) == "string" and msg:find("^[%w_]+: ") and type(code) == "number",
      "bad failure: %s %s", tostring(msg), tostring(code))
  end
end

-- the operations that need no ISCard
local function new_card() local c = iscard.ISCard(); if c then cards[#cards + 1] = c end end
local function valid_context() pcall(iscard.valid_context, value()) end
local function ctl_code() pcall(iscard.ctl_code, value(), value()) end
local function collect() collectgarbage() end
local function drop() table.remove(cards, 1) end
local NO_CARD = { [new_card] = true, [valid_context] = true, [ctl_code] = true, [collect] = true,
                  [drop] = true }

local ops = {
  new_card,
  function(c) returned(pcall(c.AttachByReader, c, value(), value(), value())) end,
  function(c) returned(pcall(c.AttachByHandle, c, value())) end,
  function(c) returned(pcall(c.ReAttach, c, value(), value())) end,
  function(c) returned(pcall(c.Detach, c, value())) end,
  function(c) returned(pcall(c.LockSCard, c)) end,
  function(c) returned(pcall(c.UnlockSCard, c, value())) end,
  function(c) returned(pcall(c.transmit, c, value())) end,
  function(c) returned(pcall(c.get_Atr, c)) end,
  function(c) returned(pcall(c.get_Status, c)) end,
  function(c) pcall(function() return c.Protocol, c.CardHandle, c.Context, c.reader, tostring(c) end) end,
  function(c) returned(pcall(iscard.readers, value() and c or nil)) end,
  function(c) returned(pcall(iscard.status_change, value() and c or nil, value(), value())) end,
  function(c)
    local cmd = iscard.ISCardCmd()
    pcall(cmd.BuildCmd, cmd, take(), take(), take(), take(), ("x"):rep(take()), value()) -- luacheck: ignore
    returned(pcall(c.Transaction, c, cmd, { get_response = take() % 2 == 0 })) -- luacheck: ignore
  end,
  function(c) returned(pcall(c.control, c, value(), value(), value())) end,
  function(c) returned(pcall(c.attr_raw, c, value())) end,
  function(c) returned(pcall(c.set_attr, c, value(), value())) end,
  function(c) returned(pcall(iscard.reader_groups, value() and c or nil)) end,
  function(c) returned(pcall(iscard.readers, c, value())) end,
  valid_context,
  ctl_code,
  function(c) c:close() end,
  function(c) pcall(iscard.error_class, value(), c) end,
  collect,
  drop,
}

function fuzz() -- luacheck: ignore (a global: the C driver calls it)
  iscard = iscard or require "iscard"
  cards = {}
  while left() > 0 do -- luacheck: ignore
    local op = ops[take() % #ops + 1] -- luacheck: ignore
    local c = cards[take() % (#cards + 1) + 1] or cards[1] -- luacheck: ignore
    if c or NO_CARD[op] then op(c) end
  end
  for _, c in ipairs(cards) do c:close() end
  cards = {}
end
