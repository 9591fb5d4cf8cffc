-- Calls a hostile or careless script makes that need no card: numbers the
-- virtual card's sockets refuse, error classes (against the real stack:
-- spec/bed/hostile_calls_spec.lua).
local iscard = require "iscard"
local vio = require "iscard.vcard_io"
local oracle = require "support.oracle"

local E = iscard.errors
local NOT_WHOLE, refuses = oracle.NOT_WHOLE, oracle.refuses

describe("numbers from a script", function()
  it("vcard_io timeouts and ports", function()
    local l = assert(vio.listen("127.0.0.1", 0))
    local client = assert(vio.connect("127.0.0.1", l:port()))
    local server = assert(l:accept(1000))
    for _, v in ipairs(NOT_WHOLE) do
      refuses(function() client:recv(v) end)
      refuses(function() l:accept(v) end)
      refuses(function() vio.listen("127.0.0.1", v) end)
      refuses(function() vio.connect("127.0.0.1", v) end)
    end
    refuses(function() vio.listen("127.0.0.1", 65536) end)
    refuses(function() client:recv("5") end)
    local r, why = client:recv(0)
    assert.is_nil(r)
    assert.are.equal("timeout", why)
    client:close(); server:close(); l:close()
  end)
end)

describe("iscard.error_class", function()
  local expected = {
    SCARD_E_NO_SERVICE = "service_lost", SCARD_E_SERVICE_STOPPED = "service_lost",
    SCARD_F_COMM_ERROR = "service_lost", SCARD_W_SECURITY_VIOLATION = "service_lost",
    SCARD_E_UNKNOWN_READER = "reader_gone", SCARD_E_READER_UNAVAILABLE = "reader_gone",
    SCARD_W_REMOVED_CARD = "card_removed", SCARD_E_NO_SMARTCARD = "card_removed",
    SCARD_W_RESET_CARD = "card_reset", SCARD_E_SHARING_VIOLATION = "sharing",
    SCARD_E_TIMEOUT = "timeout", SCARD_E_CANCELLED = "cancelled",
    ISCARD_E_MALFORMED_RESPONSE = "malformed_response", SCARD_E_INVALID_VALUE = "invalid",
    SCARD_E_INVALID_HANDLE = "invalid", SCARD_W_WRONG_CHV = "other", ISCARD_E_CARD_STATUS = "other",
  }

  it("maps the codes a program meets to their class, by code or by name", function()
    for name, class in pairs(expected) do
      assert.are.equal(class, iscard.error_class(E[name]), name)
      assert.are.equal(class, iscard.error_class(name), name)
    end
    assert.are.equal("other", iscard.error_class(0x12345678))
  end)

  it("classes every code of iscard.errors on purpose", function()
    local ec = require "iscard.errclass"
    local classes = { service_lost = true, reader_gone = true, card_removed = true, card_reset = true,
      sharing = true, timeout = true, cancelled = true, malformed_response = true, invalid = true }
    for k in pairs(E) do
      if type(k) == "string" then
        assert.is_true(ec.other[k] or classes[ec.classes[k]] or false, k .. " has no class")
        assert.is_false(ec.other[k] ~= nil and ec.classes[k] ~= nil, k .. " is in both lists")
      end
    end
    for k in pairs(ec.classes) do assert.is_not_nil(E[k], k) end
    for k in pairs(ec.other) do assert.is_not_nil(E[k], k) end
  end)

  it("raises for something that is no code", function()
    assert.has_error(function() iscard.error_class(nil) end)
    assert.has_error(function() iscard.error_class({}) end)
  end)
end)
