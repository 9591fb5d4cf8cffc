-- The cases of spec/unit/error_position_spec.lua and
-- spec/bed/error_position_spec.lua: each is a one-line function holding one
-- wrong call (not a tail call, which would leave the spec's frame); the
-- expected position is the spec file and the line that function is
-- defined on.
local assert = require "luassert"
local M = {}
local unpack = table.unpack or unpack -- luacheck: compat

-- Asserts f(...) raises at f's own line in its file, naming `name`.
function M.blames_caller(name, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, name .. ": no error")
  err = tostring(err)
  local info = debug.getinfo(f, "S")
  local where = info.short_src .. ":" .. info.linedefined .. ": "
  assert.are.equal(where, err:sub(1, #where), "position of: " .. err)
  assert.is_truthy(err:find(name, #where + 1, true), "does not name " .. name .. ": " .. err)
end

-- Plain Lua 5.1 (not LuaJIT) leaves a mark for each tail call on the stack.
local LUA51 = _VERSION == "Lua 5.1" and not rawget(_G, "jit")

-- Each case: {name the message must hold, the wrong call}. A case that
-- cannot hold on plain 5.1 says why in `lua51` and is reported as pending
-- there. `args`, when given, makes the arguments of each call (at the time
-- the test runs). busted's `it` and `pending` exist only in a spec file's
-- environment, so the spec hands them over: `cases_for(it, pending)`.
function M.cases_for(it, pending)
  return function(list, args)
    for _, c in ipairs(list) do
      local why = c.elsewhere or (LUA51 and c.lua51)
      if why then
        pending(c[1] .. ": " .. why)
      else
        it(c[1], function() M.blames_caller(c[1], c[2], unpack(args and args() or {})) end)
      end
    end
  end
end

return M
