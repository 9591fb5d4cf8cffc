--- BER-TLV (ISO/IEC 7816-4 and 8825-1, as cards use it) and ISO 7816
-- SIMPLE-TLV: decoding, encoding, lookup by path.
--
-- Decoding trusts nothing: every length is checked against the bytes
-- actually there and against the object that contains it before anything is
-- read, tags and lengths have a bounded size and nesting a bounded depth, so
-- any string decodes in time and memory proportional to its length or fails
-- with `nil, message, offset`. Offsets are 1-based positions in the input.
-- @module iscard.tlv

local util = require "iscard.util"

local misuse = util.misuse

local byte, char, format, concat = string.byte, string.char, string.format, table.concat
local floor = math.floor

local M = {}

--- Longest tag, in bytes.
M.MAX_TAG_BYTES = 4
--- Most bytes after a long-form length's first byte (81..84).
M.MAX_LENGTH_BYTES = 4
--- Deepest nesting of constructed objects `decode` follows (the outermost
-- object is depth 1); deeper input is an error, never a stack overflow.
M.MAX_DEPTH = 64

-- The tag that starts at s[i] (its first byte `b`, not 00 or FF), read
-- no further than `to`: the tag and the position after it, or nil, message.
-- Low five bits of the first byte all set: more bytes follow, each with bit
-- 8 set except the last.
local function read_tag(s, i, to, b)
  local start, tag = i, b
  if b % 32 == 31 then
    repeat
      i = i + 1
      if i > to then return nil, "tag truncated" end
      if i - start + 1 > M.MAX_TAG_BYTES then
        return nil, format("tag longer than %d bytes", M.MAX_TAG_BYTES)
      end
      b = byte(s, i)
      tag = tag * 256 + b
    until b < 0x80
  end
  return tag, i + 1
end

-- The length of tag `tag` at s[i], read no further than `to`: the length
-- and the position of the value, or nil, message.
local function read_length(s, i, to, tag)
  if i > to then return nil, format("length of tag %X missing", tag) end
  local len = byte(s, i)
  i = i + 1
  if len == 0x80 then
    return nil, format("tag %X: indefinite length (80) not allowed", tag)
  elseif len > 0x80 then
    local k = len - 0x80
    if k > M.MAX_LENGTH_BYTES then
      return nil, format("tag %X: length byte %02X (more than %d length bytes)", tag, len, M.MAX_LENGTH_BYTES)
    end
    if i + k - 1 > to then return nil, format("tag %X: length truncated", tag) end
    len = 0
    for j = i, i + k - 1 do len = len * 256 + byte(s, j) end
    i = i + k
  end
  -- the value must lie within what is there and within the parent
  if len > to - i + 1 then
    return nil, format("tag %X: length %d, only %d byte%s left", tag, len, to - i + 1, to - i + 1 == 1 and "" or "s")
  end
  return len, i
end

local decode

-- The object whose tag starts at s[start] (first byte `b`), within s[..to]:
-- its node and the position after it, or nil, message, offset.
local function decode_one(s, start, to, b, opts, depth)
  local tag, i = read_tag(s, start, to, b)
  if not tag then return nil, i, start end
  local len
  len, i = read_length(s, i, to, tag)
  if not len then return nil, i, start end
  -- bit 6 of the first tag byte: constructed
  local node = { tag = tag, constructed = floor(b / 32) % 2 == 1, value = s:sub(i, i + len - 1), offset = start }
  if node.constructed then
    if depth >= M.MAX_DEPTH then
      return nil, format("tag %X: nested deeper than %d", tag, M.MAX_DEPTH), start
    end
    local children, msg, at = decode(s, i, i + len - 1, opts, depth + 1)
    if children then
      node.children = children
    elseif opts.lenient then
      node.constructed, node.err = false, format("%s (at %d)", msg, at)
    else
      return nil, msg, at
    end
  end
  return node, i + len
end

-- Decodes the objects in s[from..to]. Returns the list, or nil, message,
-- offset. `depth` counts the enclosing constructed objects.
function decode(s, from, to, opts, depth)
  local nodes = {}
  local i = from
  while i <= to do
    local b = byte(s, i)
    if b == 0x00 or b == 0xFF then
      if not opts.padding then
        return nil, format("byte %02X where a tag is expected (padding is allowed only with opts.padding)", b), i
      end
      i = i + 1
    else
      local node, after, at = decode_one(s, i, to, b, opts, depth)
      if not node then return nil, after, at end
      nodes[#nodes + 1] = node
      i = after
    end
  end
  return nodes
end

-- Raises "<what> expected, got ..." at the user's line unless `v` is of Lua
-- type `kind`: the argument checks of the functions below.
local function expect(v, kind, what)
  if type(v) ~= kind then misuse("%s expected, got %s", what, util.describe(v)) end
end

local function check_opts(opts, name)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    misuse("%s: options table or nil expected, got %s", name, util.describe(opts))
  end
  for k in pairs(opts) do
    if k ~= "padding" and k ~= "lenient" then
      misuse("%s: unknown option '%s'", name, tostring(k))
    end
  end
  return opts
end

--- Decodes BER-TLV objects.
--
-- A node is `{tag = integer (0x6F, 0x9F38), constructed = boolean,
-- value = bytes, children = list (constructed only), offset = position of
-- its first tag byte}`.
--
-- Strict by default: definite lengths only (short form or 81..84), tags of at
-- most `MAX_TAG_BYTES`, every object within the bytes there and within its
-- parent, no 00/FF between objects. Long-form lengths that are longer than
-- needed are accepted (some cards write them).
--
-- Options: `padding` (skip 00 and FF bytes between objects, as ISO 7816-4
-- allows before, between and after objects), `lenient` (a constructed object
-- whose value is not valid TLV is kept with `constructed = false`, no
-- children, and `err` set to why).
--
-- Raises only when `bytes` is not a string or `opts` is not a table of those
-- options.
-- @tparam string bytes
-- @tparam[opt] table opts `{padding = bool, lenient = bool}`
-- @treturn[1] table list of nodes
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @treturn[2] integer the 1-based offset of the tag of the object that cannot be decoded
function M.decode(bytes, opts)
  expect(bytes, "string", "tlv.decode: string")
  opts = check_opts(opts, "tlv.decode")
  return decode(bytes, 1, #bytes, opts, 0)
end

-- Tag bytes of an integer tag; raises when they are not a tag `decode`
-- reads: 1..4 bytes, the first not FF (nor 00: an integer has no leading
-- zero byte), more bytes exactly when the first one's low five bits are
-- all set, bit 8 set on every further byte but the last.
local function tag_bytes(tag)
  local t = util.int_in(tag, 1, 0xFFFFFFFF)
  local out = {}
  if t then
    while t > 0 do
      table.insert(out, 1, t % 256)
      t = floor(t / 256)
    end
    local ok = (#out == 1) == (out[1] % 32 ~= 31) and (#out == 1 or out[#out] < 0x80) and out[1] ~= 0xFF
    for j = 2, #out - 1 do ok = ok and out[j] >= 0x80 end
    if ok then return char(util.unpack(out)) end
  end
  misuse("tlv.encode: bad tag %s", type(tag) == "number" and format("%X", tag) or util.describe(tag))
end

local function length_bytes(n)
  if n < 0x80 then return char(n) end
  local out = {}
  while n > 0 do
    table.insert(out, 1, n % 256)
    n = floor(n / 256)
  end
  return char(0x80 + #out, util.unpack(out))
end

local STRICT = {}

-- The value of `node`, whose tag bytes are `tb`, at nesting depth `depth`
-- (0: the top): its children's encoding or its `value`, refused where
-- `decode` would refuse it.
local encode
local function value_of(node, tb, depth)
  local constructed = floor(byte(tb) / 32) % 2 == 1
  if constructed and depth >= M.MAX_DEPTH then
    misuse("tlv.encode: tag %X: nested deeper than %d", node.tag, M.MAX_DEPTH)
  end
  if node.children ~= nil then
    if not constructed then
      misuse("tlv.encode: tag %X is primitive (bit 6 of its first byte clear): it cannot have children", node.tag)
    end
    return encode(node.children, depth + 1)
  end
  local value = node.value or ""
  expect(value, "string", "tlv.encode: value string")
  if constructed then -- decode reads it as objects: they must be there
    local ok, msg, at = decode(value, 1, #value, STRICT, depth + 1)
    if not ok then
      misuse("tlv.encode: tag %X is constructed and its value is not BER-TLV: %s (at %d)", node.tag, msg, at)
    end
  end
  return value
end

function encode(nodes, depth)
  expect(nodes, "table", "tlv.encode: list of nodes")
  local out = {}
  for _, node in ipairs(nodes) do
    expect(node, "table", "tlv.encode: node table")
    local tb = tag_bytes(node.tag)
    local value = value_of(node, tb, depth)
    out[#out + 1] = tb
    out[#out + 1] = length_bytes(#value)
    out[#out + 1] = value
  end
  return concat(out)
end

--- Encodes nodes as BER-TLV with minimal lengths: the value of a node with
-- `children` is their encoding, otherwise its `value` (default "").
-- `encode(decode(x)) == x` for every `x` that `decode` accepts without
-- padding and whose lengths are minimal; and whatever `encode` returns,
-- `decode` reads back: the same tags, values and children.
-- Raises on a bad tag (not 1..4 bytes of a well-formed tag, or a first byte
-- FF), `children` under a primitive tag, a constructed tag whose `value` is
-- not BER-TLV, nesting deeper than `MAX_DEPTH`, or a node that is not a table.
-- @tparam table nodes list of nodes (as `decode` returns)
-- @treturn string
function M.encode(nodes)
  return encode(nodes, 0)
end

local function find(nodes, tags, k)
  for _, node in ipairs(nodes) do
    if node.tag == tags[k] then
      if k == #tags then return node end
      if node.children then
        local found = find(node.children, tags, k + 1)
        if found then return found end
      end
    end
  end
  return nil
end

--- The first node on a path of tags: `find(nodes, "6F/A5/50")` looks for a
-- 6F at the top, an A5 inside it, a 50 inside that (the first match in
-- document order, trying every 6F and A5 that lies on the way).
-- @tparam table nodes as `decode` returns
-- @tparam string path hex tags separated by "/"
-- @treturn table|nil the node
function M.find(nodes, path)
  expect(nodes, "table", "tlv.find: list of nodes")
  expect(path, "string", "tlv.find: path string")
  local tags = {}
  for part in (path .. "/"):gmatch("([^/]*)/") do
    local t = part:match("^%s*(%x+)%s*$")
    if not t or #t > 8 then misuse("tlv.find: bad tag '%s' in path '%s'", part, path) end
    tags[#tags + 1] = tonumber(t, 16)
  end
  return find(nodes, tags, 1)
end

--- Decodes ISO 7816 SIMPLE-TLV objects: a one-byte tag (01..FE) and a length
-- of one byte (00..FE) or FF followed by two bytes (0..65535).
-- Nodes are `{tag=, value=, offset=}`. Raises only when `bytes` is not a string.
-- @tparam string bytes
-- @treturn[1] table list of nodes
-- @return[2] nil
-- @treturn[2] string what is wrong
-- @treturn[2] integer the offset of the tag of the object that cannot be decoded
function M.simple_decode(bytes)
  expect(bytes, "string", "tlv.simple_decode: string")
  local nodes, i, n = {}, 1, #bytes
  while i <= n do
    local start, tag = i, byte(bytes, i)
    if tag == 0x00 or tag == 0xFF then
      return nil, format("invalid SIMPLE-TLV tag %02X", tag), start
    end
    if i + 1 > n then return nil, format("tag %02X: length missing", tag), start end
    local len = byte(bytes, i + 1)
    i = i + 2
    if len == 0xFF then
      if i + 1 > n then return nil, format("tag %02X: length truncated", tag), start end
      len = byte(bytes, i) * 256 + byte(bytes, i + 1)
      i = i + 2
    end
    if len > n - i + 1 then
      return nil, format("tag %02X: length %d, only %d byte%s left", tag, len, n - i + 1,
        n - i + 1 == 1 and "" or "s"), start
    end
    nodes[#nodes + 1] = { tag = tag, value = bytes:sub(i, i + len - 1), offset = start }
    i = i + len
  end
  return nodes
end

return M
