--- Waits that yield to the program's event loop: `iscard.set_waiter`.
--
-- With a waiter set, every call of iscard that can block (attach, reattach,
-- detach, the lock, each exchange of `Transaction` and `transmit`,
-- `control` and the PIN-pad methods, attributes, `iscard.wait`, a monitor's
-- `poll` and `events`) runs its PC/SC call on a thread of its ISCard when it
-- is made from a coroutine that can yield, and calls `waiter(w)` meanwhile:
-- `w` is a *waitable* with `w:pollfd()` (a descriptor that becomes readable
-- when the call is done), `w:events()` ("r"), `w:timeout()` (nil) and
-- `w:ready()`. The waiter returns once `w:ready()` is true (a waiter that
-- returns earlier makes the call block for the rest). The thread never
-- touches the Lua state; the results are read in the coroutine, and are the
-- ones the blocking call gives.
--
-- Outside a coroutine, where a yield is impossible (inside a C function
-- such as `table.sort`'s comparator; on Lua 5.1 also inside `pcall`, a
-- metamethod or a `for` iterator), or with no waiter, calls block as they
-- always did and cost what they always did: without a waiter the methods
-- are the C functions themselves.
-- @module iscard.loop

local core = require "iscard.core"
local util = require "iscard.util"

local M = {}

local methods = core.methods
local async, blocking, collect = core.async, core.blocking, core.collect
local ccall = util.ccall

-- The calls that can block: methods of ISCard, and functions of the core
-- (status_change, called by iscard.wait and the monitors; the raw
-- attribute calls under the reader methods).
local METHODS = { "AttachByReader", "ReAttach", "Detach", "LockSCard", "UnlockSCard", "transmit", "control" }
local FUNCTIONS = { "status_change", "attr_raw", "set_attr" }

local waiter -- the program's waiter, or nil
-- whether it waits outside coroutines too (iscard.loop.interruptible)
local anywhere = false

-- Whether the running code may yield: coroutine.isyieldable on 5.3, 5.4 and
-- LuaJIT; on 5.1 and 5.2, a coroutine whose stack holds no C function but
-- pcall and xpcall (5.2 yields across those), and on 5.1 no frame the VM
-- entered on its own (a metamethod or a for iterator, which have no name
-- there, or the iterator's).
local can_yield = coroutine.isyieldable -- luacheck: ignore 143 (5.3+, LuaJIT)
if not can_yield then
  local running, getinfo = coroutine.running, debug.getinfo
  local v51 = _VERSION == "Lua 5.1"
  local pcall_, xpcall_ = pcall, xpcall
  local function entered_by_vm(info)
    return v51 and (info.namewhat == "" or info.name == "(for generator)")
  end
  can_yield = function()
    local co, main = running()
    if co == nil or main then return false end
    local level = 3 -- above can_yield and the wrapper
    while true do
      local info = getinfo(level, "Snf")
      if not info then return true end
      local below = getinfo(level + 1, "S")
      if info.what == "C" then
        if v51 or (info.func ~= pcall_ and info.func ~= xpcall_) then return false end
      elseif below and info.what == "Lua" and entered_by_vm(info) then
        return false
      end
      level = level + 1
    end
  end
end
M.can_yield = can_yield

-- The method `name` while a waiter is set: the yielding call when the
-- coroutine can yield, else the blocking one (both through util.ccall, so
-- that a misuse blames the program's line and names `name`).
local function yielding(name)
  local start, sync = async[name], blocking[name]
  return function(self, ...)
    if not anywhere and not can_yield() then return ccall(name, sync, self, ...) end
    local w, msg, code = ccall(name, start, self, ...)
    if w == nil then return nil, msg, code end
    waiter(w)
    return collect(self, w, ...)
  end
end

local wrapped = {}
for _, name in ipairs(METHODS) do wrapped[name] = yielding(name) end
for _, name in ipairs(FUNCTIONS) do wrapped[name] = yielding(name) end

-- Puts the yielding or the blocking functions where the Lua layer finds
-- them at each call (the method table, the core's table), and lets
-- Transaction, which keeps the transmit it was installed with, take
-- transmit again.
local function switch(on)
  local set = on and wrapped or blocking
  for _, name in ipairs(METHODS) do methods[name] = set[name] end
  for _, name in ipairs(FUNCTIONS) do core[name] = set[name] end
  local iscard = package.loaded.iscard
  if type(iscard) == "table" then rawset(iscard, "status_change", set.status_change) end
  if package.loaded["iscard.transaction"] and rawget(methods, "Transaction") then
    require("iscard.transaction").install(methods)
  end
end

--- Sets the function iscard calls to wait for a call in flight, or nil
-- for blocking calls (the default).
-- `iscard.set_waiter(require "iscard.loop.cqueues")`,
-- `iscard.set_waiter(require "iscard.loop.luv")`, or a function of your
-- own: `function(w) while not w:ready() do ngx.sleep(0.001) end end`.
-- @tparam ?function fn `fn(w)`, called in the coroutine that made the call
-- @treturn ?function the previous waiter
function M.set_waiter(fn)
  if fn ~= nil and type(fn) ~= "function" then
    local mt = getmetatable(fn)
    if type(mt) ~= "table" or mt.__call == nil then
      util.misuse("iscard.set_waiter: function or nil expected, got %s", util.describe(fn))
    end
  end
  local was = waiter
  waiter = fn
  anywhere = type(fn) == "table" and rawget(fn, "anywhere") == true
  if (was == nil) ~= (fn == nil) then switch(fn ~= nil) end
  return was
end

--- The waiter set now, or nil.
-- @treturn ?function
function M.get_waiter() return waiter end

return M
