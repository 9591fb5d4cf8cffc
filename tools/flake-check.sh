#!/bin/sh
# Runs `make test-all` (the specs on every Lua) RUNS times in a row and
# counts the runs that failed; with STRESS=1 the same while
# `stress-ng --cpu 2` keeps both cores busy.  A failed run's output is
# kept in build/flake/.  Usage (from the top of the tree):
#
#   tools/flake-check.sh [RUNS]          (make flake-check FLAKE_RUNS=20)
#   STRESS=1 tools/flake-check.sh [RUNS] (make flake-check FLAKE_STRESS=1)
#
# Ends with "flake-check: N runs, N passed, N failed[ (stress-ng --cpu 2)]"
# and exits 1 if any run failed.
runs=${1:-20}
: "${MAKE:=make}"
mkdir -p build/flake
stress_pid=
label=
if [ "${STRESS:-0}" = 1 ]; then
  command -v stress-ng >/dev/null || { echo "flake-check: stress-ng is missing (apt-get install stress-ng)"; exit 2; }
  stress-ng --cpu 2 --quiet &
  stress_pid=$!
  label=" (stress-ng --cpu 2)"
  trap 'kill $stress_pid 2>/dev/null' EXIT INT TERM
fi
passed=0 failed=0 i=1
while [ "$i" -le "$runs" ]; do
  log=build/flake/run-$i.log
  start=$(date +%s)
  if $MAKE --no-print-directory test-all > "$log" 2>&1; then
    passed=$((passed + 1)); verdict=passed; rm -f "$log"
  else
    failed=$((failed + 1)); verdict="FAILED (log: $log)"
  fi
  echo "run $i/$runs: $verdict, $(( $(date +%s) - start )) s, $(tail -n 1 "$log" 2>/dev/null || echo ok)"
  i=$((i + 1))
done
echo "flake-check: $runs runs, $passed passed, $failed failed$label"
[ "$failed" -eq 0 ]
