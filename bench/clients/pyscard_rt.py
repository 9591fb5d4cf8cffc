"""Round trips through pyscard (run with /usr/bin/python3, Debian's pyscard).

usage: /usr/bin/python3 bench/clients/pyscard_rt.py MODE READER N APDU_HEX
  MODE  scard:      smartcard.scard.SCardTransmit (the thin SWIG layer)
        connection: CardConnection.transmit (the object API, lists of ints)
Sends 100 untimed APDUs, then N timed ones; prints n= wall_s= cpu_s= sw=
(cpu_s: time.process_time over the timed loop, so start-up is not in it).
"""
import sys
import time

from smartcard import scard


def main():
    mode, reader, n, hexa = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    apdu = list(bytes.fromhex(hexa))
    if mode == "scard":
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        assert hr == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(hr)
        hr, card, proto = scard.SCardConnect(ctx, reader, scard.SCARD_SHARE_SHARED,
                                             scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        assert hr == scard.SCARD_S_SUCCESS, scard.SCardGetErrorMessage(hr)

        def run(k):
            r = None
            for _ in range(k):
                hr, r = scard.SCardTransmit(card, proto, apdu)
                if hr != scard.SCARD_S_SUCCESS or len(r) < 2:
                    raise SystemExit("SCardTransmit: " + scard.SCardGetErrorMessage(hr))
            return r[-2] << 8 | r[-1]
    elif mode == "connection":
        from smartcard.System import readers
        conn = [r for r in readers() if str(r) == reader][0].createConnection()
        conn.connect()

        def run(k):
            sw1 = sw2 = 0
            for _ in range(k):
                _data, sw1, sw2 = conn.transmit(apdu)
            return sw1 << 8 | sw2
    else:
        raise SystemExit("unknown mode " + mode)
    run(100)
    t0, c0 = time.monotonic(), time.process_time()
    sw = run(n)
    dc, dt = time.process_time() - c0, time.monotonic() - t0
    print("n=%d wall_s=%.9g cpu_s=%.9g sw=%04X" % (n, dt, dc, sw))


main()
