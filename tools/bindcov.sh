#!/bin/sh
# Binding coverage: which PC/SC functions declared in winscard.h the C
# sources do not call yet, and those left out on purpose with the reason.
# Informational (`make lint` prints it); exits 0 unless the header is missing.
#
#   tools/bindcov.sh [HEADER [SOURCE...]]
#   default: /usr/include/PCSC/winscard.h and src/*.c
header=${1:-${PCSC_HEADER:-/usr/include/PCSC/winscard.h}}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- src/*.c
if [ ! -r "$header" ]; then
  echo "bindcov: $header not found (Debian: libpcsclite-dev)" >&2
  exit 2
fi
# Declarations: `[PCSC_API] LONG SCardName(` at the start of a line.
declared=$(sed -n -E 's/^[[:space:]]*(PCSC_API[[:space:]]+)?LONG[[:space:]]+(SCard[A-Za-z0-9_]+)[[:space:]]*\(.*/\2/p' "$header" | sort -u)
# Calls: any `SCardName(` in the sources outside /* */ and // comments.
called=$(sed -e 's://.*$::' "$@" | tr '\n' '\f' | sed -e 's:/\*[^*]*\*\+\([^/*][^*]*\*\+\)*/::g' | tr '\f' '\n' \
  | grep -o -E '\bSCard[A-Za-z0-9_]+[[:space:]]*\(' | tr -d ' (' | sort -u)
# Functions left out on purpose, with the reason (name|reason).
not_needed='SCardFreeMemory|iscard never has PC/SC allocate a buffer with SCARD_AUTOALLOCATE, so there is nothing to free'
missing=$(printf '%s\n' "$declared" | while read -r f; do
  printf '%s\n' "$called" | grep -qx "$f" && continue
  printf '%s\n' "$not_needed" | grep -q "^$f|" && continue
  echo "$f"
done)
skipped=$(printf '%s\n' "$declared" | while read -r f; do
  printf '%s\n' "$called" | grep -qx "$f" && continue
  printf '%s\n' "$not_needed" | grep "^$f|"
done)
total=$(printf '%s\n' "$declared" | grep -c .)
unbound=$(printf '%s' "$missing" | grep -c .)
nskipped=$(printf '%s' "$skipped" | grep -c .)
echo "bindcov: $((total - unbound - nskipped)) of $total PC/SC functions in $header are bound"
printf '%s\n' "$skipped" | while IFS='|' read -r f why; do
  [ -n "$f" ] && echo "bindcov: not needed: $f ($why)"
done
if [ "$unbound" -gt 0 ]; then
  echo "bindcov: not bound yet: $(echo $missing)"
fi
exit 0
