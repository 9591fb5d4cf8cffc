--- `iscard readers`: the readers pcscd knows, numbered, with their cards.
-- @module iscard.cli.readers
-- @local

local common = require "iscard.cli.common"

local M = {}

M.summary = "List readers, whether a card is in each, and its ATR."

function M.declare(cmd)
  cmd:description [[
Lists the readers pcscd knows, one a line: its number (what the other
commands take for --reader), the name, then "card" with the card's ATR in
hex, or "empty".]]
end

function M.run(_, env)
  local iscard = require "iscard"
  local list = common.must(iscard.readers())
  if #list == 0 then common.say(env.out, "no readers"); return common.EXIT.DONE end
  local states = {}
  for i, r in ipairs(list) do states[i] = { reader = r } end
  local got, err, ecode = iscard.status_change(nil, 0, states)
  for i, r in ipairs(list) do
    local ev = got and states[i].event or 0
    if math.floor(ev / iscard.reader_states.PRESENT) % 2 == 1 then
      common.say(env.out, ("%d: %s: card %s"):format(i, r, iscard.tohex(states[i].atr, " ")))
    else
      common.say(env.out, ("%d: %s: %s"):format(i, r, got and "empty" or common.pcsc_text(err, ecode)))
    end
  end
  return common.EXIT.DONE
end

return M
