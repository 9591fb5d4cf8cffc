#!/bin/sh
# The verdict of `make ifd-valgrind` on pcscd's memcheck logs (arguments).
# Fails on any memory error (an invalid read or write, a use of an
# uninitialised value, a mismatched free, a bad syscall parameter) and on
# any block definitely lost from a stack that passes through the driver
# (libifd-iscard.so or its sources). pcscd 1.9.9 itself loses a few bytes
# (a strdup of its own, no driver frame): counted and shown, not failed.
[ $# -gt 0 ] || { echo "ifd-valgrind: no pcscd log to check"; exit 1; }
status=0
for log in "$@"; do
  awk -v f="$log" '
    /(Invalid (read|write|free)|uninitialised|Mismatched free|Syscall param)/ { errs++; print f ": " $0 }
    /are definitely lost in loss record/ { inrec = 1; rec = $0; ours = 0; next }
    inrec && /^==[0-9]+== *$/ { inrec = 0; if (ours) { mine++; print rec } else theirs++; next }
    inrec { rec = rec "\n" $0; if ($0 ~ /libifd-iscard|src\/ifd\/|ifd_iscard\.c|pin\.c|ctl\.c/) ours = 1 }
    END {
      if (theirs) printf "%s: %d leak record(s) of pcscd itself (no driver frame)\n", f, theirs
      exit (errs + mine) ? 1 : 0
    }' "$log" || status=1
done
exit $status
