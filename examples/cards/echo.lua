-- echo.lua -- a tiny virtual smart card, and the how-to for writing your own.
--
-- Run it in the first vpcd reader ("Virtual PCD 00 00") with:
--
--     iscard vcard examples/cards/echo.lua            # add --verbose to see APDUs
--     iscard vcard --reader 1 examples/cards/echo.lua # "Virtual PCD 00 01"
--
-- pcscd must run with the vpcd driver (Debian package vsmartcard-vpcd). The
-- card connects to vpcd (TCP 127.0.0.1:35963 + reader number); connecting
-- is "insert", disconnecting is "remove". If pcscd is not running yet, the
-- card waits for it.
--
-- A card script is an ordinary Lua file that RETURNS A TABLE. All strings
-- exchanged with the card are binary strings (one char per byte), so use
-- string.byte, string.char and escapes: "\144\0" is 90 00 in decimal
-- escapes, which every Lua reads ("\x90\x00" needs Lua 5.2+ or LuaJIT).
--
-- What this card does:
--   SELECT by AID (00 A4 04 00 Lc AID): 9000 for the AID F0 69 73 63 61 72 64
--     ("\240iscard"), 6A82 (file not found) for any other AID.
--   ECHO (80 EE 00 00 Lc data): returns the data followed by 9000.
--   GET COUNTERS (80 CA 00 00): returns resets, apdus (2 bytes each) + 9000.
--   REMOVE (80 DE 00 00): answers 9000, then the card is pulled out for
--     500 ms and re-inserted (test your program's removal handling).
--   SLOW (80 5E 00 00): answers 9000 after 200 ms (a slow card).
--   FAIL (80 FA 00 00): raises a Lua error -> the card answers 6F00 and
--     keeps running; the error is printed on stderr.
--   anything else with CLA 80: 6D00 (INS not supported);
--   any other CLA: 6E00 (CLA not supported).

local MY_AID = "\240iscard"

-- Two bytes, big-endian, from a number 0..65535: sw(0x9000) == "\144\0".
-- (Arithmetic rather than n >> 8 and n & 0xFF, so the card runs on any Lua.)
local function sw(n)
  return string.char(math.floor(n / 256), n % 256)
end

return {
  -- The Answer-To-Reset the reader reports. Optional: leave it out to get
  -- the default (vcard.DEFAULT_ATR, a T=1 ATR). If you write your own, the
  -- last byte TCK must be right whenever a protocol other than T=0 is
  -- indicated: require("iscard.vcard").with_tck(atr_without_tck) adds it.
  -- atr = "\59\138\128\1\128\88iscardvc\200",  -- 3B 8A 80 01 80 58 ... C8

  -- Optional: called once, before the card is first inserted. card.state is
  -- a table of your own that survives resets and removals.
  init = function(card)
    card.state.selected = false
  end,

  -- Optional: called on power events from the reader: "on" (power up),
  -- "off" (power down) and "reset" (warm reset, e.g. a client calling
  -- SCardReconnect with SCARD_RESET_CARD). The counters card.powerons,
  -- card.poweroffs and card.resets are already updated when this runs.
  power = function(card, event)
    card.state.selected = false      -- a reset forgets the selected application
    card:log("power event", event)   -- card:log prints only with --verbose
  end,

  -- Required: called for every command APDU. capdu is the whole C-APDU as a
  -- binary string (CLA INS P1 P2 [Lc data] [Le]); return the R-APDU: the
  -- response data followed by the two status bytes SW1 SW2.
  apdu = function(card, capdu)
    local cla, ins, p1, _, lc = capdu:byte(1, 5)
    local data = lc and capdu:sub(6, 5 + lc) or ""

    if cla == 0x00 and ins == 0xA4 and p1 == 0x04 then      -- SELECT by AID
      card.state.selected = (data == MY_AID)
      return card.state.selected and sw(0x9000) or sw(0x6A82)
    end

    if cla ~= 0x80 then return sw(0x6E00) end

    if ins == 0xEE then                                      -- ECHO
      return data .. sw(0x9000)
    elseif ins == 0xCA then                                  -- GET COUNTERS
      return sw(card.resets) .. sw(card.apdus) .. sw(0x9000)
    elseif ins == 0xDE then                                  -- REMOVE
      card:remove(500)   -- the reply is sent first, then the card goes away
      return sw(0x9000)
    elseif ins == 0x5E then                                  -- SLOW
      card:delay(200)    -- wait 200 ms before sending this reply
      return sw(0x9000)
    elseif ins == 0xFA then                                  -- FAIL
      error("FAIL command: a deliberate error in the card script")
    end
    return sw(0x6D00)
  end,
}
