-- What the harnesses share: a reader of fuzz input: bytes, numbers and choices
-- taken from the front of the input, zeros once it is used up (so every
-- input, even an empty one, is a complete test).
local M = {}
M.__index = M

function M.new(s) return setmetatable({ s = s, i = 1 }, M) end

function M:left() return #self.s - self.i + 1 end

function M:byte()
  local b = self.s:byte(self.i) or 0
  self.i = self.i + 1
  return b
end

function M:u16() return self:byte() * 256 + self:byte() end

function M:bytes(n)
  local b = self.s:sub(self.i, self.i + n - 1)
  self.i = self.i + n
  return b
end

function M:bool() return self:byte() % 2 == 1 end

-- Raises the formatted message when cond is false: a broken contract,
-- which the target reports as a crash.
function M.check(cond, fmt, ...)
  if not cond then error(string.format(fmt, ...), 2) end
end

-- one of the values of list
function M:pick(list) return list[self:byte() % #list + 1] end

return M
