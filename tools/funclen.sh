#!/bin/sh
# tools/funclen.sh MAX FILE... -- fails when a Lua function in FILE is
# longer than MAX lines (from its `function` line to its `end`, both
# counted), naming each such function as file:line.  The spans come from
# the Lua compiler itself (`luac -p -l` lists every function's first and
# last line), so nothing here parses Lua.  `make lint` runs it on lua/ and
# bin/iscard with MAX 60.
max=$1
shift
luac=${LUAC:-luac5.4}
command -v "$luac" >/dev/null 2>&1 || { echo "funclen: $luac not found (Debian package lua5.4)"; exit 1; }
status=0
for f in "$@"; do
  listing=$("$luac" -p -l "$f") || { status=1; continue; }
  long=$(printf '%s\n' "$listing" |
    sed -n 's/^function <.*:\([0-9][0-9]*\),\([0-9][0-9]*\)>.*/\1 \2/p' |
    awk -v max="$max" -v f="$f" '$2 - $1 + 1 > max { printf "%s:%d: function of %d lines (at most %d)\n", f, $1, $2 - $1 + 1, max }')
  if [ -n "$long" ]; then printf '%s\n' "$long"; status=1; fi
done
exit $status
