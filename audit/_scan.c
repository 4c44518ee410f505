/* The audit verifier's compiled line checker (built and loaded by audit/native.py; design in
 * docs/audit-log.md, "How an outsider verifies").
 *
 * dn_scan walks complete lines of the log and proves each one exactly as the reference check
 * (audit/checks.py: LINE_RE, json.loads, then canonical re-serialisation) would accept it:
 *   {"actor":A,"data":D,"hash":"H","prev":"P","seq":N,"subject":S,"time":"T","type":"X"}
 * A and S null or {"name":str,"regn_num":non-empty str}; D a JSON object; every value canonical as
 * Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) writes it (keys
 * sorted by code point and unique, no whitespace, minimal escapes, strict UTF-8, integers only);
 * T and X by LINE_RE's patterns; N the line's number; P the previous line's H; H the lowercase hex
 * SHA-256 of the line without `"hash":"H",`. It also writes each line's RFC 9162 leaf hash and gives
 * every distinct type, party and data value an id (what the replay reads). It is conservative: it
 * stops at the first line it cannot prove, and the Python code decides about that line and names
 * the error. Nothing here allocates per line; the id tables grow by doubling.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL libcrypto's SHA-256 (SHA-NI where the CPU has it): the stable low-level ABI, declared
 * here so that building needs only the runtime library that Python's hashlib already loads. */
typedef struct {
    unsigned int h[8];
    unsigned int Nl, Nh;
    unsigned int data[16];
    unsigned int num, md_len;
} dn_sha256_ctx;
int SHA256_Init(dn_sha256_ctx *c);
int SHA256_Update(dn_sha256_ctx *c, const void *data, size_t len);
int SHA256_Final(unsigned char *md, dn_sha256_ctx *c);

#define MAX_DEPTH 64 /* deeper nesting: left to Python (its recursion limit decides) */

/* An id table: open addressing over small slots (a tag of the hash and the id), the values' bytes
 * copied into an arena so that a lookup compares with compact, mostly cached memory, not with a line
 * read long ago somewhere in the log. */
typedef struct {
    uint32_t tag, id; /* tag 0: empty */
} slot;

typedef struct {
    slot *s;
    uint64_t mask;
    uint32_t n, cap; /* ids given, room in off/len/hash */
    uint64_t *off, *hash; /* per id: where its bytes start in the arena, its full hash */
    uint32_t *len;
    uint8_t *arena;
    size_t used, size;
} table;

typedef struct {
    table t[3]; /* 0: types, 1: parties, 2: data values */
    long max_digits; /* Python's int digit limit (sys.get_int_max_str_digits); 0: none */
    uint64_t seed; /* random per run: a crafted log cannot aim its values at one chain of a table */
} state;

enum { T_TYPE, T_PARTY, T_DATA };

static void table_free(table *t) {
    free(t->s);
    free(t->off);
    free(t->hash);
    free(t->len);
    free(t->arena);
}

void dn_free(void *p) {
    state *st = p;
    if (!st) return;
    for (int i = 0; i < 3; i++) table_free(&st->t[i]);
    free(st);
}

void *dn_new(long max_digits, uint64_t seed) {
    state *st = calloc(1, sizeof(state));
    if (!st) return NULL;
    st->max_digits = max_digits;
    st->seed = seed;
    for (int i = 0; i < 3; i++) {
        table *t = &st->t[i];
        t->mask = 1023;
        t->cap = 512;
        t->size = 1 << 16;
        t->s = calloc(t->mask + 1, sizeof(slot));
        t->off = malloc(t->cap * sizeof(uint64_t));
        t->hash = malloc(t->cap * sizeof(uint64_t));
        t->len = malloc(t->cap * sizeof(uint32_t));
        t->arena = malloc(t->size);
        if (!t->s || !t->off || !t->hash || !t->len || !t->arena) {
            dn_free(st);
            return NULL;
        }
    }
    st->t[T_PARTY].n = 1; /* id 0 is null, never looked up */
    st->t[T_PARTY].off[0] = st->t[T_PARTY].hash[0] = st->t[T_PARTY].len[0] = 0;
    return st;
}

static uint64_t hbytes(uint64_t seed, const uint8_t *p, size_t n) {
    uint64_t h = (seed ^ n) * 0x9E3779B97F4A7C15ull, v;
    while (n >= 8) {
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    v = 0;
    memcpy(&v, p, n);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

static uint32_t tag_of(uint64_t h) { return (uint32_t)(h >> 32) | 1; }

/* Room for one more id: slots kept at most half full, per-id arrays and arena grown by doubling. */
static int room(table *t, size_t bytes) {
    if ((uint64_t)(t->n + 1) * 2 > t->mask + 1) {
        uint64_t cap = (t->mask + 1) * 2;
        slot *s = calloc(cap, sizeof(slot));
        if (!s) return 0;
        for (uint64_t i = 0; i <= t->mask; i++) {
            if (!t->s[i].tag) continue;
            uint64_t j = t->hash[t->s[i].id] & (cap - 1);
            while (s[j].tag) j = (j + 1) & (cap - 1);
            s[j] = t->s[i];
        }
        free(t->s);
        t->s = s;
        t->mask = cap - 1;
    }
    if (t->n + 1 > t->cap) {
        uint32_t cap = t->cap * 2;
        uint64_t *off = realloc(t->off, cap * sizeof(uint64_t));
        if (off) t->off = off;
        uint64_t *hash = realloc(t->hash, cap * sizeof(uint64_t));
        if (hash) t->hash = hash;
        uint32_t *len = realloc(t->len, cap * sizeof(uint32_t));
        if (len) t->len = len;
        if (!off || !hash || !len) return 0;
        t->cap = cap;
    }
    while (t->used + bytes > t->size) {
        uint8_t *a = realloc(t->arena, t->size * 2);
        if (!a) return 0;
        t->arena = a;
        t->size *= 2;
    }
    return 1;
}

/* The id of bytes [p, e) in table t; a new id is reported in news as (table, start, end) of [rs, re)
 * (the value itself, or for a party its regn_num's body). -1: no memory. */
static int64_t intern(table *t, uint64_t seed, int which, const uint8_t *buf, const uint8_t *p,
                      const uint8_t *e, const uint8_t *rs, const uint8_t *re, int64_t *news, long *nnew) {
    uint32_t len = (uint32_t)(e - p);
    uint64_t h = hbytes(seed, p, len), j = h & t->mask;
    uint32_t tag = tag_of(h);
    for (; t->s[j].tag; j = (j + 1) & t->mask) {
        uint32_t id = t->s[j].id;
        if (t->s[j].tag == tag && t->len[id] == len && memcmp(t->arena + t->off[id], p, len) == 0) return id;
    }
    if (!room(t, len)) return -1;
    j = h & t->mask;
    while (t->s[j].tag) j = (j + 1) & t->mask;
    uint32_t id = t->n++;
    t->s[j] = (slot){tag, id};
    t->off[id] = t->used;
    t->hash[id] = h;
    t->len[id] = len;
    memcpy(t->arena + t->used, p, len);
    t->used += len;
    news[3 * *nnew] = which;
    news[3 * *nnew + 1] = rs - buf;
    news[3 * *nnew + 2] = re - buf;
    (*nnew)++;
    return id;
}

/* ---- canonical JSON values; each returns the end of the value or NULL ---- */

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1; /* upper case is not how json.dumps writes it */
}

/* After the opening quote: the end of a canonical string (after its closing quote). */
static const uint8_t *string(const uint8_t *p, const uint8_t *e) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (p < e) {
        /* 8 plain bytes at a time: none < 0x20, '"', '\\' or >= 0x80 */
        while (e - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
            if (((x - ones * 0x20) | (q - ones) | (b - ones) | x) & highs) break;
            p += 8;
        }
        if (p >= e) break;
        uint8_t c = *p;
        if (c == '"') return p + 1;
        if (c == '\\') {
            if (e - p < 2) return NULL;
            uint8_t d = p[1];
            if (d == '"' || d == '\\' || d == 'n' || d == 'r' || d == 't' || d == 'b' || d == 'f') {
                p += 2;
                continue;
            }
            /* \u00XX only for the other control characters; everything else is written as itself */
            if (d != 'u' || e - p < 6 || p[2] != '0' || p[3] != '0') return NULL;
            int hi = hexval(p[4]), lo = hexval(p[5]);
            if (hi < 0 || hi > 1 || lo < 0) return NULL;
            int v = hi * 16 + lo;
            if (v == 8 || v == 9 || v == 10 || v == 12 || v == 13) return NULL;
            p += 6;
            continue;
        }
        if (c < 0x20) return NULL;
        if (c < 0x80) {
            p++;
            continue;
        }
        /* strict UTF-8 (what bytes.decode accepts): no overlong forms, surrogates or > U+10FFFF */
        if (c >= 0xC2 && c <= 0xDF) {
            if (e - p < 2 || (p[1] & 0xC0) != 0x80) return NULL;
            p += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (e - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return NULL;
            if (c == 0xE0 && p[1] < 0xA0) return NULL;
            if (c == 0xED && p[1] > 0x9F) return NULL;
            p += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (e - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return NULL;
            if (c == 0xF0 && p[1] < 0x90) return NULL;
            if (c == 0xF4 && p[1] > 0x8F) return NULL;
            p += 4;
        } else {
            return NULL;
        }
    }
    return NULL;
}

/* The next decoded byte of a canonical string body [*pp, e) (escapes decode to single bytes < 0x80,
 * so comparing decoded UTF-8 bytes compares code points, as Python's sort of str keys does); -1 at the end. */
static int next_byte(const uint8_t **pp, const uint8_t *e) {
    const uint8_t *p = *pp;
    if (p >= e) return -1;
    if (*p != '\\') {
        *pp = p + 1;
        return *p;
    }
    *pp = p + 2;
    switch (p[1]) {
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'u': *pp = p + 6; return hexval(p[4]) * 16 + hexval(p[5]);
    default: return p[1]; /* '"' or '\\' */
    }
}

/* Keys [a, ae) and [b, be) (bodies without quotes): <0, 0, >0. */
static int key_cmp(const uint8_t *a, const uint8_t *ae, const uint8_t *b, const uint8_t *be) {
    for (;;) {
        int x = next_byte(&a, ae), y = next_byte(&b, be);
        if (x != y) return x < y ? -1 : 1;
        if (x < 0) return 0;
    }
}

static const uint8_t *value(const state *st, const uint8_t *p, const uint8_t *e, int depth);

static const uint8_t *object(const state *st, const uint8_t *p, const uint8_t *e, int depth) {
    if (depth > MAX_DEPTH) return NULL;
    p++; /* '{' */
    if (p < e && *p == '}') return p + 1;
    const uint8_t *pk = NULL, *pke = NULL;
    for (;;) {
        if (p >= e || *p != '"') return NULL;
        const uint8_t *k = p + 1, *ke;
        p = string(k, e);
        if (!p) return NULL;
        ke = p - 1;
        if (pk && key_cmp(pk, pke, k, ke) >= 0) return NULL; /* sorted and unique */
        pk = k;
        pke = ke;
        if (p >= e || *p != ':') return NULL;
        p = value(st, p + 1, e, depth + 1);
        if (!p || p >= e) return NULL;
        if (*p == '}') return p + 1;
        if (*p != ',') return NULL;
        p++;
    }
}

static const uint8_t *array(const state *st, const uint8_t *p, const uint8_t *e, int depth) {
    if (depth > MAX_DEPTH) return NULL;
    p++; /* '[' */
    if (p < e && *p == ']') return p + 1;
    for (;;) {
        p = value(st, p, e, depth + 1);
        if (!p || p >= e) return NULL;
        if (*p == ']') return p + 1;
        if (*p != ',') return NULL;
        p++;
    }
}

static inline __attribute__((always_inline)) const uint8_t *literal(const uint8_t *p, const uint8_t *e,
                                                                    const char *lit, size_t n) {
    return (size_t)(e - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

/* An integer as Python writes it: -?(0|[1-9][0-9]*), within Python's digit limit; a fraction or
 * exponent (a float) is not canonical audit JSON. */
static const uint8_t *number(const state *st, const uint8_t *p, const uint8_t *e) {
    if (p < e && *p == '-') {
        p++;
        if (p >= e || *p == '0') return NULL; /* -0 is written 0 */
    }
    if (p >= e || *p < '0' || *p > '9') return NULL;
    const uint8_t *d = p;
    if (*p == '0') {
        p++;
    } else {
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (st->max_digits > 0 && p - d > st->max_digits) return NULL;
    if (p < e && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9'))) return NULL;
    return p;
}

static const uint8_t *value(const state *st, const uint8_t *p, const uint8_t *e, int depth) {
    if (p >= e) return NULL;
    switch (*p) {
    case '"': return string(p + 1, e);
    case '{': return object(st, p, e, depth);
    case '[': return array(st, p, e, depth);
    case 't': return literal(p, e, "true", 4);
    case 'f': return literal(p, e, "false", 5);
    case 'n': return literal(p, e, "null", 4);
    default: return number(st, p, e);
    }
}

/* null, or {"name":str,"regn_num":non-empty str} (*rs: the start of regn_num's body). */
static const uint8_t *party(const uint8_t *p, const uint8_t *e, const uint8_t **rs) {
    const uint8_t *q = literal(p, e, "null", 4);
    if (q) return q;
    if (!(p = literal(p, e, "{\"name\":\"", 9))) return NULL;
    if (!(p = string(p, e))) return NULL;
    if (!(p = literal(p, e, ",\"regn_num\":\"", 13))) return NULL;
    if (p < e && *p == '"') return NULL; /* empty */
    *rs = p;
    if (!(p = string(p, e))) return NULL;
    return literal(p, e, "}", 1);
}

static const uint8_t *digits(const uint8_t *p, const uint8_t *e, int n) {
    for (int i = 0; i < n; i++, p++)
        if (p >= e || *p < '0' || *p > '9') return NULL;
    return p;
}

/* \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z */
static const uint8_t *utc_time(const uint8_t *p, const uint8_t *e) {
    static const char sep[] = "--T::";
    static const int width[] = {4, 2, 2, 2, 2, 2};
    for (int i = 0; i < 6; i++) {
        if (i && (p >= e || *p++ != (uint8_t)sep[i - 1])) return NULL;
        if (!(p = digits(p, e, width[i]))) return NULL;
    }
    if (p < e && *p == '.') {
        if (!(p = digits(p + 1, e, 1))) return NULL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    return p < e && *p == 'Z' ? p + 1 : NULL;
}

static const char HEX[] = "0123456789abcdef";

/* SHA-256 of line [ls, le) without its hash member, whose ',' before "hash" is at cut: the bytes up to
 * and with that ',', then from "prev" on (74 bytes later: `"hash":"` + 64 hex + `",`). */
static void line_hash(const uint8_t *ls, const uint8_t *le, const uint8_t *cut, unsigned char *md) {
    dn_sha256_ctx c;
    SHA256_Init(&c);
    SHA256_Update(&c, ls, (size_t)(cut + 1 - ls));
    SHA256_Update(&c, cut + 75, (size_t)(le - (cut + 75)));
    SHA256_Final(md, &c);
}

/* RFC 9162 leaf hash: SHA-256(0x00 || line). */
static void leaf_hash(const uint8_t *ls, const uint8_t *le, uint8_t *leaf) {
    dn_sha256_ctx c;
    SHA256_Init(&c);
    SHA256_Update(&c, "", 1);
    SHA256_Update(&c, ls, (size_t)(le - ls));
    SHA256_Final(leaf, &c);
}

/* A line hashed ahead by dn_hash: its byte offset in the buffer plus one (0: not hashed yet; stored
 * last, with release order, so that a reader who sees it sees the rest), where it cut the hash member
 * (offset in the line of the ',' before "hash"; -1: no cut), that digest. */
typedef struct {
    int64_t ready, cut;
    uint8_t md[32];
} prehash;

/* Prove one line [ls, le) (without "\n") numbered seq whose prev must be prev[64]. 1: proven (the
 * ids in ids[0..3], the leaf hash in leaf, prev updated); 0: not proven; -1: out of memory. */
static int line(state *st, const uint8_t *buf, const uint8_t *ls, const uint8_t *le, long seq, uint8_t *prev,
                uint32_t *ids, uint8_t *leaf, const prehash *pre, int64_t *news, long *nnew) {
    const uint8_t *p = ls, *e = le, *a0, *a1, *d0, *d1, *h, *s0, *s1, *t0, *t1, *ar = NULL, *sr = NULL;
    if (!(p = literal(p, e, "{\"actor\":", 9))) return 0;
    a0 = p;
    if (!(p = party(p, e, &ar))) return 0;
    a1 = p;
    if (!(p = literal(p, e, ",\"data\":", 8)) || p >= e || *p != '{') return 0;
    d0 = p;
    if (!(p = object(st, p, e, 2))) return 0;
    d1 = p;
    /* H's 64 characters are compared with the hex of the digest below: no other check needed */
    if (!(p = literal(p, e, ",\"hash\":\"", 9)) || e - p < 64) return 0;
    h = p;
    if (!(p = literal(p + 64, e, "\",\"prev\":\"", 10)) || e - p < 64 || memcmp(p, prev, 64) != 0) return 0;
    if (!(p = literal(p + 64, e, "\",\"seq\":", 8))) return 0;
    char num[24];
    int n = 0;
    for (long v = seq; v; v /= 10) num[n++] = (char)('0' + v % 10);
    if (e - p < n) return 0;
    for (int i = 0; i < n; i++)
        if (p[i] != num[n - 1 - i]) return 0;
    p += n;
    if (!(p = literal(p, e, ",\"subject\":", 11))) return 0;
    s0 = p;
    if (!(p = party(p, e, &sr))) return 0;
    s1 = p;
    if (!(p = literal(p, e, ",\"time\":\"", 9)) || !(p = utc_time(p, e))) return 0;
    if (!(p = literal(p, e, "\",\"type\":\"", 10)) || p >= e || *p < 'a' || *p > 'z') return 0;
    t0 = p;
    while (p < e && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) p++;
    t1 = p;
    if (!(p = literal(p, e, "\"}", 2)) || p != e) return 0;

    unsigned char own[32];
    const unsigned char *md = own;
    /* not hashed yet (the hashing thread is behind) or not this line: hash it here */
    if (pre && __atomic_load_n(&pre->ready, __ATOMIC_ACQUIRE) != ls - buf + 1) pre = NULL;
    if (pre && pre->cut == d1 - ls) /* hashed ahead with the member cut where this parse found it */
        md = pre->md;
    else
        line_hash(ls, le, d1, own);
    if (!pre) leaf_hash(ls, le, leaf);
    for (int i = 0; i < 32; i++)
        if (h[2 * i] != (uint8_t)HEX[md[i] >> 4] || h[2 * i + 1] != (uint8_t)HEX[md[i] & 15]) return 0;

    int64_t id;
    if ((id = intern(&st->t[T_TYPE], st->seed, T_TYPE, buf, t0, t1, t0, t1, news, nnew)) < 0) return -1;
    ids[0] = (uint32_t)id;
    for (int k = 0; k < 2; k++) {
        const uint8_t *q0 = k ? s0 : a0, *q1 = k ? s1 : a1, *r = k ? sr : ar;
        /* the regn_num body ends 3 bytes before the party: `"}` */
        id = *q0 == 'n' ? 0 : intern(&st->t[T_PARTY], st->seed, T_PARTY, buf, q0, q1, r, q1 - 2, news, nnew);
        if (id < 0) return -1;
        ids[1 + k] = (uint32_t)id;
    }
    if ((id = intern(&st->t[T_DATA], st->seed, T_DATA, buf, d0, d1, d0, d1, news, nnew)) < 0) return -1;
    ids[3] = (uint32_t)id;
    memcpy(prev, h, 64);
    return 1;
}

/* Check up to max_lines complete lines of buf starting at byte pos (the start of line number seq);
 * a line ends at "\n" before byte `end`. prev[64]: the hash the first line must link to, updated.
 * Per proven line: ids[4*i..4*i+3] = (type, actor, subject, data) ids (party 0 = null), leaves[32*i..]
 * its leaf hash. pre (NULL: none): the first npre lines' slots of dn_hash, perhaps running meanwhile
 * in another thread: a line it has hashed (its leaf hash already in leaves) leaves only the sequential
 * checks here; a line it has not reached yet is hashed here. news (3 int64 per new id, at most 4 a line): (table 0 type / 1 party / 2 data, start,
 * end) of each value met for the first time (of a party: its regn_num's body, still escaped), in id
 * order per table; *nnew their number. *stop: the
 * byte offset after the last proven line. Returns the number of lines proven (fewer than max_lines
 * and *stop < end: the next line is not proven, or there is no memory left). */
long dn_scan(void *stp, const uint8_t *buf, long pos, long end, long max_lines, long seq, uint8_t *prev,
             uint32_t *ids, uint8_t *leaves, const prehash *pre, long npre, int64_t *news, long *nnew,
             long *stop) {
    state *st = stp;
    long n = 0;
    *nnew = 0;
    while (n < max_lines && pos < end) {
        const uint8_t *ls = buf + pos, *le = memchr(ls, '\n', (size_t)(end - pos));
        if (!le) break;
        const prehash *p = pre && n < npre ? pre + n : NULL;
        if (line(st, buf, ls, le, seq + n, prev, ids + 4 * n, leaves + 32 * n, p, news, nnew) != 1) break;
        pos = le + 1 - buf;
        n++;
    }
    *stop = pos;
    return n;
}

/* The hashing of dn_scan, ahead of it and on another core: for up to max_lines complete lines of buf
 * from byte pos (ending at "\n" before `end`), line i's leaf hash into leaves[32*i..] and into pre[i]
 * the SHA-256 of the line without its hash member, cut at the last `,"hash":"` that leaves room for
 * the 64 hex digits and `","prev":"` (in a canonical line everything after the member is a number,
 * hex or a party's strings, where `"` is escaped, so the last is the member; dn_scan uses the digest
 * only where its own parse puts the cut). *stop: the byte offset after the last line. Returns the
 * number of lines. Hashing every line, proven or not, is safe: the leaves of lines dn_scan does not
 * prove are never read. */
long dn_hash(const uint8_t *buf, long pos, long end, long max_lines, prehash *pre, uint8_t *leaves,
             long *stop) {
    static const char member[] = ",\"hash\":\"", after[] = "\",\"prev\":\"";
    long n = 0;
    while (n < max_lines && pos < end) {
        const uint8_t *ls = buf + pos, *le = memchr(ls, '\n', (size_t)(end - pos)), *q;
        if (!le) break;
        pre[n].cut = -1;
        for (q = le - 9 - 64 - 10; q >= ls; q--) {
            if (*q == ',' && q[1] == '"' && q[2] == 'h' && memcmp(q, member, 9) == 0 &&
                memcmp(q + 9 + 64, after, 10) == 0) {
                pre[n].cut = q - ls;
                line_hash(ls, le, q, pre[n].md);
                break;
            }
        }
        leaf_hash(ls, le, leaves + 32 * n);
        __atomic_store_n(&pre[n].ready, pos + 1, __ATOMIC_RELEASE);
        pos = le + 1 - buf;
        n++;
    }
    *stop = pos;
    return n;
}

/* One Merkle level up: out[32*i..] = SHA-256(0x01 || in[64*i .. 64*i+64]) for i < pairs. */
void dn_nodes(const uint8_t *in, long pairs, uint8_t *out) {
    dn_sha256_ctx c;
    for (long i = 0; i < pairs; i++) {
        SHA256_Init(&c);
        SHA256_Update(&c, "\x01", 1);
        SHA256_Update(&c, in + 64 * i, 64);
        SHA256_Final(out + 32 * i, &c);
    }
}
