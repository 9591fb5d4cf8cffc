#!/bin/sh
# The Debian packages of the make targets (their lists: DEBS_* in the
# Makefile and its fragments).
#   tools/debs.sh install PKG...       as root: apt-get what is missing (make deps)
#   tools/debs.sh check SETS PKG...    say what is missing and fail (every other target)
# SETS names the lists for the message: `make deps DEPS="SETS"` installs them.
mode=$1; shift
sets=
if [ "$mode" = check ]; then sets=$1; shift; fi
missing=
for p in "$@"; do
  case " $missing " in *" $p "*) continue ;; esac
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
case $mode in
  check)
    echo "missing Debian packages:$missing"
    echo "(as root: make deps DEPS=\"$sets\")"
    exit 1 ;;
  install)
    if [ "$(id -u)" != 0 ]; then
      echo "missing Debian packages (run make deps as root to install):$missing"
      exit 1
    fi
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086 # one word per package
    { apt-get install -y -q $missing >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; }; } \
      || { echo "apt-get install failed for:$missing"; exit 1; } ;;
  *) echo "usage: tools/debs.sh install PKG... | check SETS PKG..."; exit 2 ;;
esac
