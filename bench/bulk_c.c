/*
 * bulk_c -- read and write the 64 KiB EF of bench/cards/bulk.lua in plain C
 * (SCardTransmit only), the reference for bench/clients/iscard_bulk.lua.
 *
 * usage: bulk_c READER REPS MODE...
 *   MODE  read-ext     2 READ BINARY, extended Le 32768
 *         read-short   256 READ BINARY, Le 00 (256 bytes)
 *         write-ext    2 UPDATE BINARY, extended Lc 32768
 *         write-short  259 UPDATE BINARY, Lc 254 (the last one 4 bytes:
 *                      the card's data units are 2 bytes, so 255 is not a
 *                      whole number of units)
 *         write-chain  2 chained UPDATE BINARY of 32768 bytes each, in parts
 *                      of 255 bytes (CLA 10, the last part CLA 00): 258 APDUs
 *
 * Selects the EF (00 A4 00 0C 02 E1 01), then per mode: one untimed warm-up
 * pass, REPS timed passes, and one line
 *   "mode=<m> reps=<r> apdus=<per pass> wall_s=<median> cpu_s=<median> ok=<0|1>"
 * ok: reads gave the same 65536 bytes as an extended read; writes read back
 * as written (checked outside the timed passes).
 * CPU is CLOCK_PROCESS_CPUTIME_ID (user+system of this process).
 * Exit status 0 on success, 1 on any failure, 2 on bad arguments.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <winscard.h>

#ifndef MAX_BUFFER_SIZE_EXTENDED
#define MAX_BUFFER_SIZE_EXTENDED (4 + 3 + (1 << 16) + 3 + 2)
#endif

#define FILE_SIZE 65536
#define UNIT 2
#define EXT_CHUNK 32768
#define SHORT_READ 256
#define SHORT_WRITE 254
#define CHAIN_PART 255

static SCARDHANDLE card;
static const SCARD_IO_REQUEST *pci;
static unsigned char resp[MAX_BUFFER_SIZE_EXTENDED];
static unsigned char cmdbuf[MAX_BUFFER_SIZE_EXTENDED];
static unsigned char file[FILE_SIZE], ref[FILE_SIZE];
static long apdus;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, LONG rv)
{
    fprintf(stderr, "bulk_c: %s: %s (0x%08lX)\n", what,
            pcsc_stringify_error(rv), (unsigned long)(DWORD)rv);
    exit(1);
}

/* One exchange; returns the reply length, dies unless SW = 9000. */
static DWORD xfer(const unsigned char *apdu, size_t len)
{
    DWORD rlen = sizeof resp;
    LONG rv = SCardTransmit(card, pci, apdu, (DWORD)len, NULL, resp, &rlen);
    apdus++;
    if (rv != SCARD_S_SUCCESS)
        die("SCardTransmit", rv);
    if (rlen < 2 || resp[rlen - 2] != 0x90 || resp[rlen - 1] != 0x00) {
        fprintf(stderr, "bulk_c: INS %02X got %02X%02X\n", apdu[1],
                rlen >= 2 ? resp[rlen - 2] : 0, rlen >= 2 ? resp[rlen - 1] : 0);
        exit(1);
    }
    return rlen;
}

static void header(unsigned char cla, unsigned char ins, long off)
{
    long unit = off / UNIT;
    cmdbuf[0] = cla;
    cmdbuf[1] = ins;
    cmdbuf[2] = (unsigned char)(unit >> 8);
    cmdbuf[3] = (unsigned char)(unit & 0xFF);
}

static void read_chunk(long off, long n, unsigned char *out)
{
    size_t len;
    DWORD rlen;
    header(0x00, 0xB0, off);
    if (n <= 256) {
        cmdbuf[4] = (unsigned char)(n & 0xFF);
        len = 5;
    } else {
        cmdbuf[4] = 0;
        cmdbuf[5] = (unsigned char)((n >> 8) & 0xFF);
        cmdbuf[6] = (unsigned char)(n & 0xFF);
        len = 7;
    }
    rlen = xfer(cmdbuf, len);
    if ((long)rlen - 2 != n) {
        fprintf(stderr, "bulk_c: READ BINARY at %ld: %lu bytes, wanted %ld\n", off,
                (unsigned long)rlen - 2, n);
        exit(1);
    }
    memcpy(out, resp, (size_t)n);
}

static void update(unsigned char cla, long off, const unsigned char *data, long n)
{
    size_t len;
    header(cla, 0xD6, off);
    if (n <= 255) {
        cmdbuf[4] = (unsigned char)n;
        len = 5;
    } else {
        cmdbuf[4] = 0;
        cmdbuf[5] = (unsigned char)(n >> 8);
        cmdbuf[6] = (unsigned char)(n & 0xFF);
        len = 7;
    }
    memcpy(cmdbuf + len, data, (size_t)n);
    xfer(cmdbuf, len + (size_t)n);
}

static void read_all(long chunk, unsigned char *out)
{
    long off;
    for (off = 0; off < FILE_SIZE; off += chunk)
        read_chunk(off, off + chunk > FILE_SIZE ? FILE_SIZE - off : chunk, out + off);
}

static void write_all(long chunk, const unsigned char *data)
{
    long off;
    for (off = 0; off < FILE_SIZE; off += chunk)
        update(0x00, off, data + off, off + chunk > FILE_SIZE ? FILE_SIZE - off : chunk);
}

/* Two chained commands of 32768 bytes, parts of 255, every part with the
 * P1-P2 of the command's offset. */
static void write_chained(const unsigned char *data)
{
    long off, p;
    for (off = 0; off < FILE_SIZE; off += EXT_CHUNK) {
        for (p = 0; p < EXT_CHUNK; p += CHAIN_PART) {
            long n = p + CHAIN_PART > EXT_CHUNK ? EXT_CHUNK - p : CHAIN_PART;
            update(p + n < EXT_CHUNK ? 0x10 : 0x00, off, data + off + p, n);
        }
    }
}

static void pattern(unsigned char *d, int seed)
{
    long i;
    for (i = 0; i < FILE_SIZE; i++)
        d[i] = (unsigned char)((i * 13 + seed) & 0xFF);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run_mode(const char *mode, int reps)
{
    double wall[1000], cpu[1000];
    int r, ok = 1, seed = 0;
    long per = 0;
    if (reps > 1000)
        reps = 1000;
    for (r = -1; r < reps; r++) { /* r = -1: warm-up */
        double t0, c0;
        int is_write = strncmp(mode, "write", 5) == 0;
        if (is_write)
            pattern(file, ++seed);
        apdus = 0;
        t0 = clock_s(CLOCK_MONOTONIC);
        c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (strcmp(mode, "read-ext") == 0)
            read_all(EXT_CHUNK, file);
        else if (strcmp(mode, "read-short") == 0)
            read_all(SHORT_READ, file);
        else if (strcmp(mode, "write-ext") == 0)
            write_all(EXT_CHUNK, file);
        else if (strcmp(mode, "write-short") == 0)
            write_all(SHORT_WRITE, file);
        else if (strcmp(mode, "write-chain") == 0)
            write_chained(file);
        else {
            fprintf(stderr, "bulk_c: unknown mode '%s'\n", mode);
            exit(2);
        }
        if (r >= 0) {
            cpu[r] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
            wall[r] = clock_s(CLOCK_MONOTONIC) - t0;
        }
        per = apdus;
        /* check, untimed: what was read is the file; what was written is there */
        read_all(EXT_CHUNK, ref);
        if (memcmp(ref, file, FILE_SIZE) != 0)
            ok = 0;
    }
    printf("mode=%s reps=%d apdus=%ld wall_s=%.9g cpu_s=%.9g ok=%d\n", mode, reps, per,
           median(wall, reps), median(cpu, reps), ok);
    fflush(stdout);
    return ok;
}

int main(int argc, char **argv)
{
    static const unsigned char select_ef[] = {0x00, 0xA4, 0x00, 0x0C, 0x02, 0xE1, 0x01};
    SCARDCONTEXT ctx;
    DWORD proto;
    LONG rv;
    int reps, i, ok = 1;
    if (argc < 4 || (reps = atoi(argv[2])) < 1) {
        fprintf(stderr, "usage: %s READER REPS MODE...\n", argv[0]);
        return 2;
    }
    rv = SCardEstablishContext(SCARD_SCOPE_USER, NULL, NULL, &ctx);
    if (rv != SCARD_S_SUCCESS)
        die("SCardEstablishContext", rv);
    rv = SCardConnect(ctx, argv[1], SCARD_SHARE_SHARED,
                      SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &proto);
    if (rv != SCARD_S_SUCCESS)
        die("SCardConnect", rv);
    pci = proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    xfer(select_ef, sizeof select_ef);
    for (i = 3; i < argc; i++)
        ok &= run_mode(argv[i], reps);
    SCardDisconnect(card, SCARD_LEAVE_CARD);
    SCardReleaseContext(ctx);
    return ok ? 0 : 1;
}
