#!/bin/sh
# Ctrl-C (SIGINT) to a lua blocked in mon:poll(-1) while pcscd is stopped:
# the signal 0.5 s into a 3 s stop; prints when the lua ended. The README's
# "A stopped pcscd" paragraph. In the private test bed, as root:
#   spec/support/testbed bench/hung_pcscd_ctrlc.sh
pid=$(cat "$ISCARD_PCSCD_PIDFILE")
out=$(mktemp)
${LUA:-lua5.4} -e 'local iscard = require "iscard"; local core = require "iscard.core"
local mon = iscard.monitor({initial=false}); io.stdout:write("ready\n"); io.stdout:flush()
local t0 = core.now(); local ok, err = pcall(mon.poll, mon, -1)
print(("poll ended after %.0f ms: %s"):format(core.now() - t0, tostring(err)))' > "$out" 2>&1 &
lp=$!
while ! grep -q ready "$out" 2>/dev/null; do sleep 0.05; done
sleep 0.2; kill -STOP "$pid"; t0=$(date +%s%N)
sleep 0.5; kill -INT "$lp"
sleep 2.5; kill -CONT "$pid"
wait "$lp"; t1=$(date +%s%N)
cat "$out"; rm -f "$out"
echo "SIGINT 0.5 s into the stop; pcscd continued at 3.0 s; lua ended $(( (t1 - t0) / 1000000 )) ms after the stop"
