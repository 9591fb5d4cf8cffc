-- luacheck (`make lint`): lua/, spec/, examples/, bench/, bin/iscard.
--
-- The library, its command, examples and specs run on Lua 5.1, 5.2, 5.3,
-- 5.4 and LuaJIT, so they are checked against "min", the globals all of
-- those have: a 5.2+ name (table.unpack, math.tointeger, package.searchpath)
-- is an error unless the line guards it and says so with
-- `-- luacheck: compat`. The benchmarks are Lua 5.4 tools.
std = "min"
files["spec"] = { std = "min+busted" }
-- bench/bench.lua keeps its report formats and command lines on one line
-- each, so the line length is not checked there.
files["bench"] = { std = "lua54", max_line_length = false }
exclude_files = { "build/", "iscard/" }
-- The library and the command keep each function simple enough to read: at
-- most 20 paths through it (and at most 60 lines, which luacheck cannot
-- check: tools/funclen.sh does, from `make lint`).
files["lua"] = { max_cyclomatic_complexity = 20 }
-- Not yet: monitor.lua's `look` (23) and bin/iscard's command dispatcher
-- (23) are still to be split; then bin/iscard gets the limit as well.
files["lua/iscard/monitor.lua"] = { max_cyclomatic_complexity = false }
