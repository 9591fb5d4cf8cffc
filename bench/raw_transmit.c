/*
 * raw_transmit -- PC/SC round-trip throughput, without any Lua in the client.
 *
 * usage: raw_transmit [-k] [READER [COUNT [APDU_HEX]]]
 *   -k        machine-readable output for bench/bench.lua (key=value words)
 *   READER    reader name (default "Virtual PCD 00 00")
 *   COUNT     number of SCardTransmit calls (default 20000)
 *   APDU_HEX  command APDU in hex, spaces allowed (default "80EE000000")
 *
 * Waits up to 10 s for a card, connects SHARED T0|T1, sends 100 APDUs to
 * warm up, then COUNT timed ones, checks every reply ends in a status word,
 * and prints one line:
 *   "<count> APDUs in <s> s: <rate> APDU/s (<us> us/APDU), CPU <us> us/APDU,
 *    last reply <hex>"
 * or with -k: "n=<count> wall_s=<s> cpu_s=<s> sw=<hex>".  CPU is this
 * process's user+system time over the timed loop only
 * (CLOCK_PROCESS_CPUTIME_ID), so start-up is not in it.
 * Exit status 0 on success, 1 on any PC/SC failure, 2 on bad arguments.
 *
 * build: make -f Makefile -f bench/bench.mk bench-build, or
 *        cc -O2 -o build/bench/raw_transmit bench/raw_transmit.c \
 *            $(pkg-config --cflags --libs libpcsclite)
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winscard.h>

#ifndef MAX_BUFFER_SIZE_EXTENDED
#define MAX_BUFFER_SIZE_EXTENDED (4 + 3 + (1 << 16) + 3 + 2)
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_hex(const char *s, unsigned char *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *s; s++) {
        int v;
        if (isspace((unsigned char)*s) || *s == ':')
            continue;
        if (!isxdigit((unsigned char)*s))
            return -1;
        v = isdigit((unsigned char)*s) ? *s - '0'
                                       : tolower((unsigned char)*s) - 'a' + 10;
        if (hi < 0) {
            hi = v;
        } else {
            if (n >= cap)
                return -1;
            out[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    return hi < 0 ? (int)n : -1;
}

static int fail(const char *what, LONG rv)
{
    fprintf(stderr, "raw_transmit: %s: %s (0x%08lX)\n", what,
            pcsc_stringify_error(rv), (unsigned long)(DWORD)rv);
    return 1;
}

int main(int argc, char **argv)
{
    int keys = argc > 1 && strcmp(argv[1], "-k") == 0;
    const char *reader, *hex;
    long count;
    static unsigned char apdu[MAX_BUFFER_SIZE_EXTENDED];
    static unsigned char resp[MAX_BUFFER_SIZE_EXTENDED];
    int alen;
    SCARDCONTEXT ctx;
    SCARDHANDLE card;
    SCARD_READERSTATE rs;
    DWORD proto, rlen = 0;
    LONG rv;
    long i;
    double t0 = 0, dt, c0 = 0, dc;
    const SCARD_IO_REQUEST *pci;

    if (keys) {
        argc--;
        argv++;
    }
    reader = argc > 1 ? argv[1] : "Virtual PCD 00 00";
    count = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
    hex = argc > 3 ? argv[3] : "80EE000000";
    alen = parse_hex(hex, apdu, sizeof apdu);
    if (argc > 4 || count <= 0 || alen < 4) {
        fprintf(stderr, "usage: %s [-k] [READER [COUNT [APDU_HEX]]]  (APDU >= 4 bytes)\n",
                argv[0]);
        return 2;
    }
    rv = SCardEstablishContext(SCARD_SCOPE_USER, NULL, NULL, &ctx);
    if (rv != SCARD_S_SUCCESS)
        return fail("SCardEstablishContext", rv);

    memset(&rs, 0, sizeof rs);
    rs.szReader = reader;
    rs.dwCurrentState = SCARD_STATE_UNAWARE;
    t0 = now_s();
    for (;;) {
        rv = SCardGetStatusChange(ctx, 500, &rs, 1);
        if (rv != SCARD_S_SUCCESS && rv != (LONG)SCARD_E_TIMEOUT)
            return fail("SCardGetStatusChange", rv);
        if (rs.dwEventState & SCARD_STATE_PRESENT)
            break;
        if (now_s() - t0 > 10.0) {
            fprintf(stderr, "raw_transmit: no card in '%s' after 10 s\n", reader);
            return 1;
        }
        rs.dwCurrentState = rs.dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
    }

    rv = SCardConnect(ctx, reader, SCARD_SHARE_SHARED,
                      SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &proto);
    if (rv != SCARD_S_SUCCESS)
        return fail("SCardConnect", rv);

    pci = proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    for (i = -100; i < count; i++) { /* i < 0: warm-up, not timed */
        if (i == 0) {
            t0 = now_s();
            c0 = cpu_s();
        }
        rlen = sizeof resp;
        rv = SCardTransmit(card, pci, apdu, (DWORD)alen, NULL, resp, &rlen);
        if (rv != SCARD_S_SUCCESS)
            return fail("SCardTransmit", rv);
        if (rlen < 2) {
            fprintf(stderr, "raw_transmit: reply of %lu bytes at #%ld\n",
                    (unsigned long)rlen, i);
            return 1;
        }
    }
    dc = cpu_s() - c0;
    dt = now_s() - t0;

    if (keys)
        printf("n=%ld wall_s=%.6f cpu_s=%.6f sw=%02X%02X\n", count, dt, dc,
               resp[rlen - 2], resp[rlen - 1]);
    else {
        printf("%ld APDUs in %.3f s: %.0f APDU/s (%.1f us/APDU), "
               "CPU %.1f us/APDU, last reply ",
               count, dt, (double)count / dt, dt * 1e6 / (double)count,
               dc * 1e6 / (double)count);
        for (i = 0; i < (long)rlen && i < 32; i++)
            printf("%02X", resp[i]);
        printf("%s\n", rlen > 32 ? "..." : "");
    }

    SCardDisconnect(card, SCARD_LEAVE_CARD);
    SCardReleaseContext(ctx);
    return 0;
}
