-- The fuzz targets' starting inputs and kept findings (fuzz/<target>/start/ and
-- fuzz/<target>/regress/), replayed through the same code the fuzzer ran:
-- the Lua harnesses (fuzz/harness/<name>.lua) here, on every Lua version;
-- the C targets through their replay builds (build/fuzz-replay/<name>,
-- `make fuzz-replay`, which `make test` runs first).
local LUA_TARGETS = { "apdu", "transaction", "swtext", "decoders" }
local C_TARGETS = { "vcard_frames", "core_glue" }

local function inputs(target)
  local p = assert(io.popen("ls -d fuzz/" .. target .. "/start/* fuzz/" .. target .. "/regress/* 2>/dev/null"))
  local list = {}
  for line in p:lines() do list[#list + 1] = line end
  p:close()
  return list
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

describe("fuzz regression inputs", function()
  local saved_path = package.path
  setup(function() package.path = "fuzz/harness/?.lua;" .. package.path end)
  teardown(function() package.path = saved_path end)

  for _, t in ipairs(LUA_TARGETS) do
    it("the " .. t .. " harness accepts every starting input and kept finding", function()
      dofile("fuzz/harness/" .. t .. ".lua")
      local fuzz = _G.fuzz -- luacheck: ignore
      _G.fuzz = nil
      local list = inputs(t)
      assert.is_true(#list > 0, "no inputs for " .. t)
      for _, path in ipairs(list) do
        local ok, err = pcall(fuzz, read(path))
        assert(ok, path .. ": " .. tostring(err))
      end
    end)
  end

  for _, t in ipairs(C_TARGETS) do
    it("the " .. t .. " target runs every starting input and kept finding without a crash", function()
      local bin = "build/fuzz-replay/" .. t
      assert(io.open(bin), bin .. " is missing: make fuzz-replay")
      local list = inputs(t)
      assert.is_true(#list > 0, "no inputs for " .. t)
      local p = assert(io.popen(bin .. " " .. table.concat(list, " ") .. " 2>&1; echo \"rc=$?\""))
      local out = p:read("*a")
      p:close()
      assert.are.equal(#list .. " input(s) replayed\nrc=0\n", out)
    end)
  end
end)
