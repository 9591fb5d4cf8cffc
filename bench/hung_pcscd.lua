-- How long iscard's waits take while pcscd is stopped (SIGSTOP, a hung
-- daemon) for STOP_S seconds (default 3), from 100 ms into each call: the
-- README's "A stopped pcscd" paragraph. Needs the private test bed, as root:
--   spec/support/testbed lua5.4 bench/hung_pcscd.lua
-- Ctrl-C in the same situation: bench/hung_pcscd_ctrlc.sh.
local iscard = require "iscard"
local core = require "iscard.core"
local STOP = tonumber(os.getenv("STOP_S") or "3")
local pid = io.open(os.getenv("ISCARD_PCSCD_PIDFILE")):read("*l")
local R1 = "Virtual PCD 00 00"
local function stop_soon()
  os.execute(("(sleep 0.1; kill -STOP %s; sleep %s; kill -CONT %s) &"):format(pid, STOP, pid))
end
local function settle() core.sleep(STOP * 1000 + 1500) end
local mon = iscard.monitor({ initial = false })
local cases = {
  { "mon:poll(200)", function() return mon:poll(200) end },
  { "mon:poll(1000)", function() return mon:poll(1000) end },
  { "iscard.wait(R1, false, 200)", function() return iscard.wait(R1, false, 200) end },
  { "iscard.wait(nil, false, 200)", function() return iscard.wait(nil, false, 200) end },
  { "ISCard()", function() core.sleep(300); local t0 = core.now(); local c = iscard.ISCard(); if c then c:close() end; return core.now() - t0 end },
}
for _, c in ipairs(cases) do
  assert(mon:poll(0))
  stop_soon()
  local t0 = core.now()
  local a, b = c[2]()
  local dt = core.now() - t0
  print(("%-30s %6.0f ms  (pcscd stopped %d ms from 100 ms on)  -> %s %s"):format(c[1], dt, STOP * 1000, tostring(type(a) == "table" and #a or a), tostring(b)))
  settle()
end
mon:close()
