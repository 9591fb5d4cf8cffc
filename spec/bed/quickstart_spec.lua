-- A first program's six steps (create, attach by reader, build a command,
-- Transaction, detach, release), written the way a Windows user of the COM
-- ISCard would, and each step's error paths: PC/SC failures as values,
-- misuse raised.
local iscard = require "iscard"
local bed = require "support.bed"
if not bed.up then return pending(bed.needed()) end

local E = iscard.errors
local READER = bed.reader

describe("the six steps of a first program", function()
  it("create, attach by reader, build, Transaction, detach, release", function()
    -- 1. Create an ISCard interface.
    local card = assert(iscard.ISCard())
    -- 2. Attach to a smart card by specifying a reader.
    assert.are.equal(card, card:AttachByReader(READER))
    -- 3. Create transaction commands with ISCardCmd and ISCardISO7816.
    local iso = iscard.ISCardISO7816()
    local cmd = iscard.ISCardCmd()
    assert.are.equal(cmd, iso:GetChallenge(8, cmd))
    assert.are.equal("\0\132\0\0\8", cmd.Apdu)
    -- 4. Submit the command: the test card does not know GET CHALLENGE,
    --    which is a status word, not a failure.
    assert.are.equal(card, card:Transaction(cmd))
    assert.are.equal(0x6D00, cmd.ReplyStatus)
    assert.are.equal(0x6D, cmd.ReplyStatusSW1)
    assert.are.equal(0x00, cmd.ReplyStatusSW2)
    assert.are.equal(2, cmd.ApduReplyLength)
    assert.matches("^6D00: ", iscard.sw.text(cmd.ReplyStatus))
    -- ...and a command it knows, built with BuildCmd (the test card's echo).
    cmd:BuildCmd(0x80, 0x01, 0x00, 0x00, "echo", 4)
    assert(card:Transaction(cmd))
    assert.are.equal(0x9000, cmd.ReplyStatus)
    assert.are.equal("echo", cmd.ReplyData)
    assert.are.equal("echo\144\0", cmd.ApduReply)
    -- 5. Release the smart card.
    assert.are.equal(card, card:Detach())
    -- 6. Release the ISCard interface.
    card:close()
    assert.are.equal("iscard.ISCard (closed)", tostring(card))
  end)

  it("step 2 fails as a value for an unknown reader", function()
    local card = assert(iscard.ISCard())
    local ok, msg, code = card:AttachByReader("Nobody's Reader")
    assert.is_nil(ok)
    assert.matches("^SCARD_E_UNKNOWN_READER: ", msg)
    assert.are.equal(E.SCARD_E_UNKNOWN_READER, code)
  end)

  it("step 4 raises without an attached card or with a bad command", function()
    local card = assert(iscard.ISCard())
    local cmd = iscard.ISCardCmd():BuildCmd(0x80, 0x01)
    assert.has_error(function() card:Transaction(cmd) end,
      "iscard.ISCard: Transaction needs an attached card (call AttachByReader or AttachByHandle first)")
    assert(card:AttachByReader(READER))
    assert.has_error(function() card:Transaction(bed.card.echo()) end)
    assert.has_error(function() card:Transaction(iscard.ISCardCmd()) end)
    assert.has_error(function() card:Transaction(cmd, { no_such_option = true }) end)
    card:Detach()
  end)

  it("step 4 fails as a value when the card was removed, and the command holds no stale reply", function()
    local card = assert(iscard.ISCard())
    assert(card:AttachByReader(bed.readers[2]))
    local cmd = iscard.ISCardCmd():BuildCmd(0x80, 0x01, 0, 0, "x")
    assert(card:Transaction(cmd))
    assert.are.equal("x\144\0", cmd.ApduReply)
    bed.remove(card, 2000, bed.readers[2])
    local ok, msg, code = card:Transaction(cmd)
    assert.is_nil(ok)
    assert.is_true(code == E.SCARD_W_REMOVED_CARD or code == E.SCARD_E_NO_SMARTCARD, msg)
    assert.are.equal("", cmd.ApduReply)
    assert.is_nil(cmd.ReplyStatus)
    assert.are.equal(iscard.ABSENT, card.Status)
    bed.inserted(bed.readers[2])
    card:Detach()
  end)

  it("the per-card options apply to every Transaction, per call options win", function()
    local card = bed.attach(READER)
    local seen = {}
    card:options { trace = function(dir, _, info) seen[#seen + 1] = dir .. " " .. info.hex end }
    local cmd = iscard.ISCardCmd():BuildCmd(0x80, 0x01, 0, 0, "t")
    assert(card:Transaction(cmd))
    assert.are.same({ "send 80 01 00 00 01 74", "recv 74 90 00" }, seen)
    assert(card:Transaction(cmd, { trace = false }))
    assert.are.equal(2, #seen)
    assert.has_error(function() card:options(1) end)
    card:Detach()
  end)
end)
