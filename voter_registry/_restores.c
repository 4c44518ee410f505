/* The bulk writes of new voters, packed in C: for each row, `SADD vr:phone:{phone} {regn}` (when it has a
 * phone) then `RESTORE vr:v:{regn} 0 {payload} REPLACE`, as RESP, where the payload is the DUMP format of
 * the voter's hash as a listpack. Byte for byte what voter_registry/hashdump.py (`HashDumper.row_encoder`)
 * and hiredis.pack_command build; loaded by voter_registry/native.py with ctypes. The Python code stays
 * the reference and the fallback.
 *
 * Input: the rows of a batch, UTF-8, rows separated by 0x1E, their `nf` values (hash fields in order, ""
 * = field left out) by 0x1F. A row with a value of 64 bytes or more is not written: its index goes to
 * `skipped` (the caller writes it in Python). Listpack and RDB formats: see hashdump.py.
 */
#include <stdint.h>
#include <string.h>

static uint64_t crc_table[256];

static void crc_init(void) {
    /* CRC-64/Jones as in Redis crc64.c: polynomial 0xad93d23594c935a9, reflected, init 0, no final xor. */
    const uint64_t poly = 0x95AC9329AC4BC9B5ULL; /* the polynomial bit-reversed */
    for (int i = 0; i < 256; i++) {
        uint64_t c = (uint64_t)i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        crc_table[i] = c;
    }
}

static uint64_t crc64(const unsigned char *p, long n) {
    uint64_t c = 0;
    while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

/* Redis string2ll as hashdump._int_value: canonical decimal (no "+", no leading zero, not "-0"), int64. */
static int as_int(const unsigned char *s, long n, int64_t *out) {
    if (n == 0 || n > 20) return 0;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    int neg = s[0] == '-';
    const unsigned char *d = s + neg;
    long m = n - neg;
    if (m == 0 || m > 19 || d[0] < '1' || d[0] > '9') return 0;
    uint64_t v = 0;
    for (long i = 0; i < m; i++) {
        if (d[i] < '0' || d[i] > '9') return 0;
        v = v * 10 + (uint64_t)(d[i] - '0');
    }
    if (!neg && v > (uint64_t)INT64_MAX) return 0;
    if (neg && v > (uint64_t)INT64_MAX + 1) return 0;
    *out = neg ? (int64_t)(~v + 1) : (int64_t)v;
    return 1;
}

/* hashdump.entry() of an integer: the listpack integer encodings, then the backlen (one byte). */
static long int_entry(unsigned char *o, int64_t v) {
    long n;
    if (v >= 0 && v <= 127) {
        o[0] = (unsigned char)v;
        n = 1;
    } else if (v >= -4096 && v <= 4095) {
        uint64_t u = (uint64_t)v & 0x1FFF;
        o[0] = (unsigned char)(0xC0 | (u >> 8));
        o[1] = (unsigned char)(u & 0xFF);
        n = 2;
    } else {
        int bytes;
        if (v >= -32768 && v <= 32767) {
            o[0] = 0xF1;
            bytes = 2;
        } else if (v >= -(1LL << 23) && v < (1LL << 23)) {
            o[0] = 0xF2;
            bytes = 3;
        } else if (v >= INT32_MIN && v <= INT32_MAX) {
            o[0] = 0xF3;
            bytes = 4;
        } else {
            o[0] = 0xF4;
            bytes = 8;
        }
        uint64_t u = (uint64_t)v;
        for (int i = 0; i < bytes; i++) o[1 + i] = (unsigned char)(u >> (8 * i));
        n = 1 + bytes;
    }
    o[n] = (unsigned char)n;
    return n + 1;
}

static long put_count(unsigned char *o, unsigned char mark, long n) {
    /* mark, n in decimal, "\r\n": a RESP array or bulk string header */
    long k = 0;
    char num[24];
    int len = 0;
    do {
        num[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    o[k++] = mark;
    while (len) o[k++] = (unsigned char)num[--len];
    o[k++] = '\r';
    o[k++] = '\n';
    return k;
}

static long put_bulk(unsigned char *o, const unsigned char *a, long an, const unsigned char *b, long bn) {
    /* "$<an+bn>\r\n" a b "\r\n" */
    long k = put_count(o, '$', an + bn);
    memcpy(o + k, a, (size_t)an);
    k += an;
    memcpy(o + k, b, (size_t)bn);
    k += bn;
    o[k++] = '\r';
    o[k++] = '\n';
    return k;
}

#define MAX_FIELDS 64

/* Returns the bytes written to `out`, or -1 when `outcap` is too small or the input is malformed.
 * *ncmds: commands written; skipped[0..*nskipped): indexes of the rows left to the caller. */
long dn_restores(const unsigned char *in, long inlen, long nrows, int nf, const unsigned char *heads,
                 const long *headlen, const unsigned char *numeric, const unsigned char *footer,
                 const unsigned char *vkey, long vkeylen, const unsigned char *pkey, long pkeylen, int phone_i,
                 unsigned char *out, long outcap, long *skipped, long *nskipped, long *ncmds) {
    static int ready = 0;
    if (!ready) {
        crc_init();
        ready = 1;
    }
    if (nf <= 0 || nf > MAX_FIELDS || phone_i >= nf) return -1;
    long headoff[MAX_FIELDS], heads_total = 0;
    for (int f = 0; f < nf; f++) {
        headoff[f] = heads_total;
        heads_total += headlen[f];
    }
    unsigned char lp[16384]; /* a listpack (nf fields of < 64 bytes and their heads), then its payload */
    if (2 * (heads_total + nf * 80 + 64) > (long)sizeof(lp)) return -1;
    const unsigned char *val[MAX_FIELDS];
    long vlen[MAX_FIELDS];
    long pos = 0, k = 0, row = 0;
    *nskipped = 0;
    *ncmds = 0;
    while (row < nrows) {
        /* split the row */
        long start = pos;
        int f = 0;
        for (;;) {
            if (pos > inlen) return -1;
            if (pos == inlen || in[pos] == 0x1E || in[pos] == 0x1F) {
                if (f >= nf) return -1;
                val[f] = in + start;
                vlen[f] = pos - start;
                f++;
                if (pos == inlen || in[pos] == 0x1E) break;
                start = pos + 1;
            }
            pos++;
        }
        pos++; /* past the row separator */
        if (f != nf) return -1;
        int ok = 1;
        for (f = 0; f < nf; f++)
            if (vlen[f] >= 64) ok = 0;
        if (!ok) {
            skipped[(*nskipped)++] = row++;
            continue;
        }
        /* the listpack body, after 6 bytes of header */
        long b = 6, count = 0;
        for (f = 0; f < nf; f++) {
            long n = vlen[f];
            if (n == 0) continue;
            memcpy(lp + b, heads + headoff[f], (size_t)headlen[f]);
            b += headlen[f];
            int64_t iv;
            if (numeric[f] && as_int(val[f], n, &iv)) {
                b += int_entry(lp + b, iv);
            } else {
                lp[b++] = (unsigned char)(0x80 | n);
                memcpy(lp + b, val[f], (size_t)n);
                b += n;
                lp[b++] = (unsigned char)(n + 1);
            }
            count += 2;
        }
        lp[b++] = 0xFF;
        long size = b; /* listpack total bytes: header 6 + entries + end byte */
        uint32_t s32 = (uint32_t)size;
        unsigned c16 = count > 65535 ? 65535 : (unsigned)count;
        lp[0] = (unsigned char)s32;
        lp[1] = (unsigned char)(s32 >> 8);
        lp[2] = (unsigned char)(s32 >> 16);
        lp[3] = (unsigned char)(s32 >> 24);
        lp[4] = (unsigned char)c16;
        lp[5] = (unsigned char)(c16 >> 8);
        /* the payload: RDB type, RDB length, listpack, RDB version, CRC-64 of all that */
        unsigned char *pl = lp + size; /* built after the listpack, then the listpack copied in */
        long pn = 0;
        pl[pn++] = 0x10; /* RDB_TYPE_HASH_LISTPACK */
        if (size < 64) {
            pl[pn++] = (unsigned char)size;
        } else if (size < 16384) {
            pl[pn++] = (unsigned char)(0x40 | (size >> 8));
            pl[pn++] = (unsigned char)(size & 0xFF);
        } else {
            pl[pn++] = 0x80;
            pl[pn++] = (unsigned char)(size >> 24);
            pl[pn++] = (unsigned char)(size >> 16);
            pl[pn++] = (unsigned char)(size >> 8);
            pl[pn++] = (unsigned char)size;
        }
        memcpy(pl + pn, lp, (size_t)size);
        pn += size;
        memcpy(pl + pn, footer, 2);
        pn += 2;
        uint64_t crc = crc64(pl, pn);
        for (int i = 0; i < 8; i++) pl[pn++] = (unsigned char)(crc >> (8 * i));
        long need = 2 * (vkeylen + pkeylen + vlen[0] + vlen[phone_i]) + pn + 160;
        if (k + need > outcap) return -1;
        if (vlen[phone_i]) {
            memcpy(out + k, "*3\r\n$4\r\nSADD\r\n", 14);
            k += 14;
            k += put_bulk(out + k, pkey, pkeylen, val[phone_i], vlen[phone_i]);
            k += put_bulk(out + k, val[0], vlen[0], (const unsigned char *)"", 0);
            (*ncmds)++;
        }
        memcpy(out + k, "*5\r\n$7\r\nRESTORE\r\n", 17);
        k += 17;
        k += put_bulk(out + k, vkey, vkeylen, val[0], vlen[0]);
        memcpy(out + k, "$1\r\n0\r\n", 7);
        k += 7;
        k += put_bulk(out + k, pl, pn, (const unsigned char *)"", 0);
        memcpy(out + k, "$7\r\nREPLACE\r\n", 13);
        k += 13;
        (*ncmds)++;
        row++;
    }
    return k;
}

/* Any commands as RESP arrays: commands separated by 0x1E, their arguments by 0x1F (UTF-8 text).
 * Returns the bytes written to `out`, or -1 when `outcap` is too small; *ncmds: commands written. */
long dn_pack(const unsigned char *in, long inlen, unsigned char *out, long outcap, long *ncmds) {
    long pos = 0, k = 0;
    *ncmds = 0;
    while (pos <= inlen) { /* (an empty input is one command of one empty argument) */
        long args = 1, end = pos;
        while (end < inlen && in[end] != 0x1E) {
            if (in[end] == 0x1F) args++;
            end++;
        }
        if (k + 24 + (end - pos) + 16 * args > outcap) return -1;
        k += put_count(out + k, '*', args);
        long start = pos;
        for (long i = pos; i <= end; i++) {
            if (i == end || in[i] == 0x1F) {
                k += put_bulk(out + k, in + start, i - start, (const unsigned char *)"", 0);
                start = i + 1;
            }
        }
        (*ncmds)++;
        pos = end + 1;
    }
    return k;
}
