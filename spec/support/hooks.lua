-- busted helper (.busted: helper): keeps one spec's failure from becoming
-- the next ones'.  In the test bed, before every spec file and every test,
-- the bed is put back as the specs expect it: pcscd running (restarted if
-- a spec left it down) and a card in each reader, waited for by
-- SCardGetStatusChange, bounded (spec/support/ready.lua restore).
--
-- That runs in another process, so the process under test gains no
-- context, descriptor or loaded module from it.  Outside the test bed
-- (ISCARD_TESTBED not set) nothing is done: spec/unit still runs on a
-- machine without pcscd (make check), and each spec/bed file reports itself
-- pending (support.bed: bed.up).
if not os.getenv("ISCARD_TESTBED") then return end

local busted = require "busted"

local cmd = (os.getenv("LUA") or "lua5.4") .. " spec/support/ready.lua restore"

local function restore()
  local r = os.execute(cmd)
  if not (r == true or r == 0) then
    io.stderr:write("hooks: the test bed could not be restored\n")
  end
  -- busted's handler protocol: no result, and let the other handlers run
  return nil, true
end

busted.subscribe({ "file", "start" }, restore)
busted.subscribe({ "test", "start" }, restore)
