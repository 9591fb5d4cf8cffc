-- The iscard module's tables, which need no pcscd (ISCard against the
-- real stack: spec/bed/iscard_spec.lua).
local iscard = require "iscard"

local E = iscard.errors

describe("module", function()
  it("has the constants of the COM interfaces with their COM values", function()
    assert.are.same({ 1, 2, 3 }, { iscard.EXCLUSIVE, iscard.SHARED, iscard.DIRECT })
    assert.are.same({ 0, 1, 2, 3 }, { iscard.LEAVE, iscard.RESET, iscard.UNPOWER, iscard.EJECT })
    assert.are.same({ 1, 2, 0xFF }, { iscard.T0, iscard.T1, iscard.RAW })
    assert.are.same({ 1, 2, 3, 4, 5, 6 }, { iscard.ABSENT, iscard.PRESENT, iscard.SWALLOWED,
      iscard.POWERED, iscard.NEGOTIABLEMODE, iscard.SPECIFICMODE })
    assert.are.same({ 1, 2, 3, 4 }, { iscard.ISO_CASE_1, iscard.ISO_CASE_2,
      iscard.ISO_CASE_3, iscard.ISO_CASE_4 })
  end)

  it("maps error names to unsigned 32-bit codes and back", function()
    assert.are.equal(0x8010000C, E.SCARD_E_NO_SMARTCARD)
    assert.are.equal("SCARD_E_NO_SMARTCARD", E[0x8010000C])
    assert.are.equal(0x8010001D, E.SCARD_E_NO_SERVICE)
    assert.are.equal("SCARD_W_REMOVED_CARD", E[0x80100069])
    for name, code in pairs(E) do
      if type(name) == "string" then
        assert.is_true(code >= 0 and code <= 0xFFFFFFFF, name)
        assert.are.equal(name, E[code])
      end
    end
  end)
end)
