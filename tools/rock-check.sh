#!/bin/sh
# The LuaRocks check: `luarocks lint`, then `luarocks make` of the rockspec
# into an empty tree (offline: in a namespace without network when run as
# root), then `require "iscard"` from that tree and `iscard help` from its
# bin/. Removes the tree and the build droppings luarocks leaves in the
# source tree (src/*.o, iscard/*.so).
#
#   tools/rock-check.sh [ROCKSPEC [LUA_VERSION]]     (from the top of the tree)
rockspec=${1:-rockspec/iscard-scm-1.rockspec}
ver=${2:-5.4}
lua=${LUA:-lua$ver}
tree=$(mktemp -d)
log=$(mktemp)
offline=""
if [ "$(id -u)" = 0 ] && unshare --net true 2>/dev/null; then offline="unshare --net"; fi

cleanup() {
  rm -rf "$tree" "$log"
  rm -f src/iscard_core.o src/vcard_io.o iscard/core.so iscard/vcard_io.so
  rmdir iscard 2>/dev/null
  return 0
}
trap cleanup EXIT

# --deps-mode=none: offline, the dependencies (argparse) come from the
# system (Debian: lua-argparse), not from the LuaRocks server.
luarocks lint "$rockspec" || { echo "rock-check: luarocks lint failed"; exit 1; }
if ! $offline luarocks --lua-version="$ver" make --deps-mode=none --tree "$tree" "$rockspec" >"$log" 2>&1; then
  cat "$log"
  echo "rock-check: luarocks make failed"
  exit 1
fi
eval "$(luarocks --lua-version="$ver" --tree "$tree" path)"
# the rockspec's version less its revision is the module's VERSION
rockver=$(sed -n 's/^version *= *"\(.*\)-[0-9]*"$/\1/p' "$rockspec")
# From / so that nothing of the source tree can be found by accident.
(cd / && TREE="$tree" ROCKVER="$rockver" "$lua" -e '
  local tree = os.getenv("TREE")
  local iscard = require "iscard"
  local function from_tree(name, path)
    local file = name:gsub("%.", "/")
    for template in path:gmatch("[^;]+") do
      local f = template:gsub("%?", file)
      local h = io.open(f)
      if h then h:close(); return f:sub(1, #tree) == tree, f end
    end
    return false, "(not found)"
  end
  for _, m in ipairs { { "iscard", package.path }, { "iscard.cmd", package.path },
                       { "iscard.core", package.cpath }, { "iscard.vcard_io", package.cpath } } do
    local ok, f = from_tree(m[1], m[2])
    assert(ok, m[1] .. " is not loaded from the tree but from " .. f)
  end
  assert(iscard.ISCardCmd():BuildCmd(0, 0xA4, 4, 0, "\240", 0):hex() == "00A4040001F000")
  assert(type(iscard.MAX_APDU) == "number" and require("iscard.vcard").with_tck)
  assert(iscard.VERSION == os.getenv("ROCKVER"),
    "iscard.VERSION " .. tostring(iscard.VERSION) .. " is not the rockspec version " .. os.getenv("ROCKVER"))
') || { echo "rock-check: require \"iscard\" from the tree failed"; exit 1; }
"$tree/bin/iscard" help >/dev/null || { echo "rock-check: $tree/bin/iscard does not run"; exit 1; }
v=$("$tree/bin/iscard" --version) && [ "$v" = "iscard $rockver (Lua $ver)" ] \
  || { echo "rock-check: $tree/bin/iscard --version says '$v', not 'iscard $rockver (Lua $ver)'"; exit 1; }
echo "rock-check: luarocks make ${offline:+(offline) }into an empty tree: require \"iscard\" (Lua $ver) and bin/iscard work"
