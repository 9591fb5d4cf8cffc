--- A waiter for luv (libuv): `iscard.set_waiter(require "iscard.loop.luv")`.
--
-- The coroutine that made the call yields; a poll handle on the waitable's
-- descriptor resumes it when the call is done, from the loop (`uv.run`).
-- The coroutine must have been started by the program (`coroutine.wrap`
-- in a callback or before `uv.run`): iscard resumes it, nothing else.
-- Neovim's `vim.uv` (`vim.loop`) is luv and is used when there.
-- Where descriptors cannot be polled (Windows), a 1 ms timer looks at
-- `w:ready()` instead.
-- @module iscard.loop.luv

local vim = rawget(_G, "vim")
local uv = vim and (vim.uv or vim.loop) or require "luv"

local running, resume, yield = coroutine.running, coroutine.resume, coroutine.yield
local traceback = debug.traceback

-- Resumes co from a callback of the loop; an error in it is raised there,
-- with the coroutine's traceback.
local function wake(co)
  local ok, err = resume(co)
  if not ok then error(traceback(co, err), 0) end
end

return function(w)
  if w:ready() then return end
  local co = running()
  local fd = w:pollfd()
  local h
  if fd then
    h = uv.new_poll(fd)
    h:start("r", function()
      h:stop()
      h:close()
      wake(co)
    end)
  else
    h = uv.new_timer()
    h:start(1, 1, function()
      if w:ready() then
        h:stop()
        h:close()
        wake(co)
      end
    end)
  end
  repeat yield() until w:ready()
end
