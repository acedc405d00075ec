/* SPDX-License-Identifier: Apache-2.0 */
/* The on-disk sample block: n (timestamp, value) pairs of one series,
 * encoded by trying several representations and keeping the smallest.
 * Blocks are byte-aligned so a part's column of blocks compresses further
 * with zstd. The decoder trusts nothing: every length and count is checked
 * against the input and the caller's capacity.
 *
 * Format (version 1), all varints LEB128, zz = zigzag:
 *
 *   block  := 0xc1 uvarint(n) [ints(timestamps) values]   (brackets: n > 0)
 *   ints   := byte(order | kind << 2) heads body
 *     order 0 raw:     no heads; residual i = x[i]
 *           1 delta:   zz x[0]; residual i = x[i] - x[i-1] for i >= 1
 *           2 dod:     zz x[0], zz (x[1]-x[0]) if n >= 2; residual i =
 *                      (x[i]-x[i-1]) - (x[i-1]-x[i-2]) for i >= 2
 *           3 linear:  zz x[0], zz slope D if n >= 2; residual i =
 *                      x[i] - x[0] - i*D for i >= 1
 *     kind  0 zero:    every residual is 0; no body
 *           1 varint:  uvarint g, then uvarint zz(r/g) per residual
 *           2 rle:     uvarint g, then tokens t: t odd is a run of
 *                      (t>>1)+1 zero residuals, t even is zz(r/g) = t>>1
 *           3 packed:  uvarint g, zz base, byte w (0..64), then r/g - base
 *                      per residual as w-bit fields packed LSB first,
 *                      padded to a byte (frame of reference)
 *           4 sparse:  uvarint g, zz base, byte w, a bitmap of the nonzero
 *                      residuals (LSB first, padded), then packed fields as
 *                      in kind 3 for the nonzero ones only
 *           5 patched: uvarint g, zz base, byte w, uvarint count, packed
 *                      fields as in kind 3 (0 for outliers), then per
 *                      outlier uvarint gap (first position, then distance
 *                      to the previous one) and uvarint zz(r/g)
 *     All arithmetic wraps modulo 2^64, so any int64 sequence round-trips.
 *   values := byte(mode | k << 2 | flag << 7) ...
 *     mode 0 const:    flag 0: k <= 22 and uvarint zz(i), every value is
 *                      (double)i / 10^k; flag 1 (k = 0): 8 raw bytes LE
 *          1 decimal:  ints(i), every value (double)i / 10^k; flag 1:
 *                      uvarint count, then per exception uvarint gap (first
 *                      position, then distance to the previous one) and the
 *                      value's 8 raw bytes LE, which replace the decoded one
 *          2 xor:      Gorilla XOR bit stream, MSB first, to the end of the
 *                      block: 64 raw bits, then per value '0' (repeat),
 *                      '10' + bits in the previous window, or '11' + 5 bits
 *                      leading zeros + 6 bits (width-1) + width bits.
 *          3 near:     as decimal, then ints(c) after the integers: each
 *                      value's bits are those of (double)i / 10^k plus c
 *                      (ulp corrections for float sums that drifted off
 *                      short decimals); exceptions as in mode 1.
 * The block's first byte is the format version; a new version gets a new
 * tag, and decoders refuse tags they do not know. */
#include "encoding.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "encoding_int.h"

#define CHUNK_TAG 0xc1

enum { ORD_RAW, ORD_DELTA, ORD_DOD, ORD_LINEAR };
enum { KIND_ZERO, KIND_VARINT, KIND_RLE, KIND_PACK, KIND_SPARSE, KIND_PATCHED };
enum { VM_CONST, VM_DEC, VM_XOR, VM_DECC };

/* ---- Small helpers ---- */

static inline void st64(void *base, size_t i, uint64_t x)
{
    memcpy((char *)base + i * 8, &x, 8);
}

static inline uint64_t ld64(const void *base, size_t i)
{
    uint64_t x;
    memcpy(&x, (const char *)base + i * 8, 8);
    return x;
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

static inline void put_le64(uint8_t *p, uint64_t w)
{
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    memcpy(p, &w, 8);
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    unsigned sh = (unsigned)__builtin_ctzll(a | b);
    a >>= __builtin_ctzll(a);
    do {
        b >>= __builtin_ctzll(b);
        if (a > b) {
            uint64_t t = a;
            a = b;
            b = t;
        }
        b -= a;
    } while (b);
    return a << sh;
}

static inline uint64_t mag64(uint64_t r)
{
    return (int64_t)r < 0 ? 0 - r : r;
}

static inline uint64_t unzz_mul(uint64_t q, uint64_t g)
{
    return (uint64_t)sx_zigzag_dec(q) * g;
}

static inline bool rd_uvarint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) {
        *v = *p;
        *pp = p + 1;
        return true;
    }
    size_t n = sx_uvarint_get((const char *)p, (size_t)(end - p), v);
    *pp = p + n;
    return n != 0;
}

static inline uint8_t *put_uvarint(uint8_t *p, uint64_t v)
{
    return p + sx_uvarint_put((char *)p, v);
}

/* ---- Bit writer: MSB first, counting only when p is NULL ---- */

typedef struct bitwriter {
    uint8_t *p;    /* next byte; NULL to count bits only */
    uint64_t acc;  /* pending bits, LSB-aligned */
    unsigned nacc; /* pending bit count, < 8 between calls */
    size_t bits;   /* bits written so far */
} bitwriter_t;

static inline void bw_put(bitwriter_t *w, uint64_t x, unsigned nb)
{
    w->bits += nb;
    if (!w->p)
        return;
    if (nb > 56) {
        w->bits -= nb;
        bw_put(w, x >> 32, nb - 32);
        bw_put(w, x & 0xffffffffu, 32);
        return;
    }
    w->acc = (w->acc << nb) | x;
    w->nacc += nb;
    while (w->nacc >= 8) {
        w->nacc -= 8;
        *w->p++ = (uint8_t)(w->acc >> w->nacc);
    }
}

static inline void bw_flush(bitwriter_t *w)
{
    if (w->p && w->nacc)
        *w->p++ = (uint8_t)(w->acc << (8 - w->nacc));
    w->nacc = 0;
}

/* ---- Integer sequences ---- */

typedef struct plan {
    unsigned order, kind, width;
    uint64_t g;    /* common divisor of the residuals; 0 when all are 0 */
    uint64_t base; /* smallest packed quotient (pack, sparse) */
    size_t size;   /* encoded bytes */
    bool outliers; /* a few residuals are much wider than the rest */
} plan_t;

static unsigned nheads(unsigned order, size_t n)
{
    unsigned h = order == ORD_RAW ? 0 : order == ORD_DELTA ? 1 : 2;
    return n < h ? (unsigned)n : h;
}

static size_t nresiduals(unsigned order, size_t n)
{
    if (order == ORD_RAW)
        return n;
    if (order == ORD_LINEAR)
        return n ? n - 1 : 0;
    return n - nheads(order, n);
}

/* Slope for the linear order: the mean step, rounded, so that residuals of
 * a regular series with jitter stay as small as the jitter. */
static uint64_t linear_slope(const uint64_t *x, size_t n)
{
    if (n < 2)
        return 0;
    uint64_t span = x[n - 1] - x[0], steps = n - 1;
    if ((int64_t)x[n - 1] >= (int64_t)x[0])
        return (span + steps / 2) / steps;
    return 0 - ((0 - span + steps / 2) / steps);
}

/* Fill heads and r with the order's residuals; returns their count. */
static size_t residuals(const uint64_t *x, size_t n, unsigned order, uint64_t *heads, uint64_t *r)
{
    size_t m = 0;
    switch (order) {
    case ORD_RAW:
        memcpy(r, x, n * 8);
        return n;
    case ORD_DELTA:
        heads[0] = x[0];
        for (size_t i = 1; i < n; i++)
            r[m++] = x[i] - x[i - 1];
        return m;
    case ORD_DOD:
        heads[0] = x[0];
        if (n >= 2)
            heads[1] = x[1] - x[0];
        for (size_t i = 2; i < n; i++)
            r[m++] = (x[i] - x[i - 1]) - (x[i - 1] - x[i - 2]);
        return m;
    default: {
        uint64_t d = linear_slope(x, n);
        heads[0] = x[0];
        heads[1] = d;
        for (size_t i = 1; i < n; i++)
            r[m++] = x[i] - x[0] - (uint64_t)i * d;
        return m;
    }
    }
}

/* Residuals divided by g, in place, as int64 in uint64 (wrapping). */
static void divide(uint64_t *r, size_t m, uint64_t g)
{
    if (g == 1)
        return;
    for (size_t i = 0; i < m; i++) {
        uint64_t q = mag64(r[i]) / g;
        r[i] = (int64_t)r[i] < 0 ? 0 - q : q;
    }
}

static inline uint64_t zz64(uint64_t q)
{
    return (q << 1) ^ (0 - (q >> 63));
}

/* Size of the sequence in each kind for one order, keeping the smallest.
 * r is overwritten with the quotients r/g. */
static void plan_order(const uint64_t *x, size_t n, unsigned order, uint64_t *r, plan_t *pl)
{
    uint64_t heads[2] = {0, 0};
    size_t m = residuals(x, n, order, heads, r);
    unsigned nh = nheads(order, n);
    size_t head = 1;
    for (unsigned j = 0; j < nh; j++)
        head += sx_enc__uvarint_len(sx_zigzag_enc((int64_t)heads[j]));

    uint64_t g = 0;
    for (size_t i = 0; i < m && g != 1; i++)
        g = gcd64(g, mag64(r[i]));
    pl->order = order;
    pl->g = g;
    pl->width = 0;
    pl->base = 0;
    pl->outliers = false;
    if (g == 0) {
        pl->kind = KIND_ZERO;
        pl->size = head;
        return;
    }
    divide(r, m, g);
    size_t sz_var = 0, sz_rle = 0, run = 0, nz = 0;
    uint64_t zor = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN, nzlo = INT64_MAX, nzhi = INT64_MIN;
    bool rle_ok = true;
    for (size_t i = 0; i < m; i++) {
        int64_t q = (int64_t)r[i];
        uint64_t z = zz64(r[i]);
        zor |= z;
        lo = q < lo ? q : lo;
        hi = q > hi ? q : hi;
        sz_var += sx_enc__uvarint_len(z);
        if (z == 0) {
            run++;
            continue;
        }
        nz++;
        nzlo = q < nzlo ? q : nzlo;
        nzhi = q > nzhi ? q : nzhi;
        if (run) {
            sz_rle += sx_enc__uvarint_len(((run - 1) << 1) | 1);
            run = 0;
        }
        rle_ok &= z < (1ull << 63);
        sz_rle += sx_enc__uvarint_len(z << 1);
    }
    if (run)
        sz_rle += sx_enc__uvarint_len(((run - 1) << 1) | 1);
    /* Outliers: at most 1/16 of the residuals use the top two bits of the
     * widest one. */
    unsigned top = sx_enc__bitlen(zor);
    if (top >= 3 && m >= 16) {
        uint64_t lim = 1ull << (top - 2);
        size_t wide = 0;
        for (size_t i = 0; i < m; i++)
            wide += zz64(r[i]) >= lim;
        pl->outliers = wide <= m / 16;
    }
    unsigned w = sx_enc__bitlen((uint64_t)hi - (uint64_t)lo);
    size_t sz_pack = 1 + sx_enc__uvarint_len(zz64((uint64_t)lo)) + (m * w + 7) / 8;
    unsigned nzw = sx_enc__bitlen((uint64_t)nzhi - (uint64_t)nzlo);
    size_t sz_sparse =
        1 + sx_enc__uvarint_len(zz64((uint64_t)nzlo)) + (m + 7) / 8 + (nz * nzw + 7) / 8;

    pl->kind = KIND_VARINT;
    pl->size = sz_var;
    if (rle_ok && sz_rle < pl->size) {
        pl->kind = KIND_RLE;
        pl->size = sz_rle;
    }
    if (sz_pack < pl->size) {
        pl->kind = KIND_PACK;
        pl->size = sz_pack;
        pl->width = w;
        pl->base = (uint64_t)lo;
    }
    if (sz_sparse < pl->size) {
        pl->kind = KIND_SPARSE;
        pl->size = sz_sparse;
        pl->width = nzw;
        pl->base = (uint64_t)nzlo;
    }
    pl->size += head + sx_enc__uvarint_len(g);
}

/* k-th smallest of q[0..m) as int64, reordering q; expected O(m). */
static int64_t select_kth(uint64_t *q, size_t m, size_t k)
{
    size_t lo = 0, hi = m - 1;
    uint64_t seed = m * 0x9e3779b97f4a7c15ull + k;
    while (lo < hi) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        int64_t pivot = (int64_t)q[lo + seed % (hi - lo + 1)];
        size_t i = lo, j = hi;
        while (i <= j) {
            while ((int64_t)q[i] < pivot)
                i++;
            while ((int64_t)q[j] > pivot)
                j--;
            if (i <= j) {
                uint64_t t = q[i];
                q[i] = q[j];
                q[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return (int64_t)q[k];
}

/* Cost of the patched kind for quotients q with fields of w bits above
 * base: values outside [base, base + 2^w) become exceptions. */
static size_t patched_size(const uint64_t *q, size_t m, uint64_t base, unsigned w)
{
    size_t sz = 1 + sx_enc__uvarint_len(zz64(base)) + (m * w + 7) / 8, ne = 0, last = 0;
    for (size_t i = 0; i < m; i++) {
        uint64_t f = q[i] - base;
        if (w < 64 && f >> w) {
            sz += sx_enc__uvarint_len(ne ? i - last : i) + sx_enc__uvarint_len(zz64(q[i]));
            last = i;
            ne++;
        }
    }
    return sz + sx_enc__uvarint_len(ne);
}

/* Patched frame of reference: packing as in kind 3 with a window that
 * leaves out a few outliers (jumps, resets, missed scrapes), which are
 * listed apart instead of widening every field. Tried on the best order
 * only; q holds that order's quotients and tmp is scratch. */
static void plan_patched(const uint64_t *q, size_t m, uint64_t *tmp, plan_t *pl)
{
    if (m < 16)
        return;
    size_t outliers[2] = {m / 128 ? m / 128 : 1, m / 16};
    for (unsigned c = 0; c < 2; c++) {
        size_t e = outliers[c];
        memcpy(tmp, q, m * 8);
        int64_t lo = select_kth(tmp, m, e);
        int64_t hi = select_kth(tmp, m, m - 1 - e);
        unsigned w = sx_enc__bitlen((uint64_t)hi - (uint64_t)lo);
        size_t sz = patched_size(q, m, (uint64_t)lo, w);
        if (sz < pl->size) {
            pl->kind = KIND_PATCHED;
            pl->size = sz;
            pl->width = w;
            pl->base = (uint64_t)lo;
        }
    }
}

/* Estimate each order's residual bits in one pass and keep the orders
 * within 1/8 of the best, so that only those are planned in full. */
static unsigned pick_orders(const uint64_t *x, size_t n, unsigned orders)
{
    if (n < 3)
        return orders;
    uint64_t d = linear_slope(x, n), lin = x[0];
    size_t bits[4] = {0, 0, 0, 0};
    for (size_t i = 2; i < n; i++) {
        uint64_t d1 = x[i] - x[i - 1], d0 = x[i - 1] - x[i - 2];
        lin += d;
        bits[ORD_RAW] += sx_enc__bitlen(zz64(x[i]));
        bits[ORD_DELTA] += sx_enc__bitlen(zz64(d1));
        bits[ORD_DOD] += sx_enc__bitlen(zz64(d1 - d0));
        bits[ORD_LINEAR] += sx_enc__bitlen(zz64(x[i] - lin - d));
    }
    size_t best = SIZE_MAX;
    for (unsigned o = 0; o < 4; o++)
        if (orders & (1u << o) && bits[o] < best)
            best = bits[o];
    unsigned keep = 0;
    for (unsigned o = 0; o < 4; o++)
        if (orders & (1u << o) && bits[o] <= best + best / 8 + 64)
            keep |= 1u << o;
    return keep;
}

/* Pick the smallest encoding of x over the orders in the bit mask. r and
 * tmp are scratch of n values. */
static void iseq_plan(const uint64_t *x, size_t n, unsigned orders, uint64_t *r, uint64_t *tmp,
                      plan_t *best)
{
    best->size = SIZE_MAX;
    orders = pick_orders(x, n, orders);
    for (unsigned o = 0; o < 4; o++) {
        if (!(orders & (1u << o)))
            continue;
        plan_t pl;
        plan_order(x, n, o, r, &pl);
        if (pl.size < best->size)
            *best = pl;
    }
    if (best->kind == KIND_ZERO)
        return;
    uint64_t heads[2];
    size_t m = residuals(x, n, best->order, heads, r);
    divide(r, m, best->g);
    /* Compare body sizes: the heads and divisor are common to all kinds. */
    size_t common = 1 + sx_enc__uvarint_len(best->g);
    for (unsigned j = 0; j < nheads(best->order, n); j++)
        common += sx_enc__uvarint_len(sx_zigzag_enc((int64_t)heads[j]));
    best->size -= common;
    if (best->outliers)
        plan_patched(r, m, tmp, best);
    best->size += common;
}

/* LSB-first bit packing of w-bit fields. */
typedef struct packer {
    uint8_t *p;
    unsigned __int128 acc;
    unsigned nacc;
} packer_t;

static inline void pk_put(packer_t *k, uint64_t x, unsigned w)
{
    k->acc |= (unsigned __int128)x << k->nacc;
    k->nacc += w;
    if (k->nacc >= 64) {
        put_le64(k->p, (uint64_t)k->acc);
        k->p += 8;
        k->acc >>= 64;
        k->nacc -= 64;
    }
}

static inline uint8_t *pk_end(packer_t *k)
{
    while (k->nacc > 0) {
        *k->p++ = (uint8_t)k->acc;
        k->acc >>= 8;
        k->nacc = k->nacc > 8 ? k->nacc - 8 : 0;
    }
    return k->p;
}

/* Write x as planned; the destination must have pl->size bytes. Returns
 * the end of what was written. */
static uint8_t *iseq_write(const uint64_t *x, size_t n, const plan_t *pl, uint64_t *r, uint8_t *p)
{
    uint64_t heads[2] = {0, 0};
    size_t m = residuals(x, n, pl->order, heads, r);
    unsigned nh = nheads(pl->order, n);
    *p++ = (uint8_t)(pl->order | pl->kind << 2);
    for (unsigned j = 0; j < nh; j++)
        p = put_uvarint(p, sx_zigzag_enc((int64_t)heads[j]));
    if (pl->kind == KIND_ZERO)
        return p;
    p = put_uvarint(p, pl->g);
    divide(r, m, pl->g);
    switch (pl->kind) {
    case KIND_VARINT:
        for (size_t i = 0; i < m; i++)
            p = put_uvarint(p, zz64(r[i]));
        return p;
    case KIND_RLE: {
        size_t run = 0;
        for (size_t i = 0; i < m; i++) {
            if (r[i] == 0) {
                run++;
                continue;
            }
            if (run)
                p = put_uvarint(p, ((run - 1) << 1) | 1);
            run = 0;
            p = put_uvarint(p, zz64(r[i]) << 1);
        }
        if (run)
            p = put_uvarint(p, ((run - 1) << 1) | 1);
        return p;
    }
    case KIND_PACK: {
        p = put_uvarint(p, zz64(pl->base));
        *p++ = (uint8_t)pl->width;
        packer_t k = {p, 0, 0};
        if (pl->width)
            for (size_t i = 0; i < m; i++)
                pk_put(&k, r[i] - pl->base, pl->width);
        return pk_end(&k);
    }
    case KIND_PATCHED: {
        uint64_t base = pl->base;
        unsigned w = pl->width;
        size_t ne = 0;
        for (size_t i = 0; i < m; i++)
            ne += w < 64 && (r[i] - base) >> w;
        p = put_uvarint(p, zz64(base));
        *p++ = (uint8_t)w;
        p = put_uvarint(p, ne);
        packer_t k = {p, 0, 0};
        if (w)
            for (size_t i = 0; i < m; i++) {
                uint64_t f = r[i] - base;
                pk_put(&k, w < 64 && f >> w ? 0 : f, w);
            }
        p = pk_end(&k);
        size_t last = 0, seen = 0;
        for (size_t i = 0; i < m; i++) {
            if (!(w < 64 && (r[i] - base) >> w))
                continue;
            p = put_uvarint(p, seen++ ? i - last : i);
            p = put_uvarint(p, zz64(r[i]));
            last = i;
        }
        return p;
    }
    default: {
        p = put_uvarint(p, zz64(pl->base));
        *p++ = (uint8_t)pl->width;
        memset(p, 0, (m + 7) / 8);
        for (size_t i = 0; i < m; i++)
            if (r[i])
                p[i >> 3] |= (uint8_t)(1u << (i & 7));
        packer_t k = {p + (m + 7) / 8, 0, 0};
        if (pl->width)
            for (size_t i = 0; i < m; i++)
                if (r[i])
                    pk_put(&k, r[i] - pl->base, pl->width);
        return pk_end(&k);
    }
    }
}

static inline uint64_t pack_get(const uint8_t *b, size_t nbytes, size_t pos, unsigned w)
{
    size_t byte = pos >> 3;
    unsigned sh = (unsigned)(pos & 7);
    uint64_t lo = 0;
    if (byte + 8 <= nbytes) {
        lo = load_le64(b + byte);
    } else {
        for (size_t j = 0; byte + j < nbytes; j++)
            lo |= (uint64_t)b[byte + j] << (8 * j);
    }
    uint64_t r = lo >> sh;
    if (sh + w > 64)
        r |= (uint64_t)b[byte + 8] << (64 - sh); /* in bounds: the field ends in it */
    return w == 64 ? r : r & ((1ull << w) - 1);
}

/* Unpack m fields of width w (0..64) from b[0..nbytes) and store
 * (base + field) * g in the slots first, first + 1, ... of out. */
static void unpack(const uint8_t *b, size_t nbytes, unsigned w, uint64_t base, uint64_t g,
                   void *out, size_t first, size_t m)
{
    if (w == 0) {
        for (size_t i = 0; i < m; i++)
            st64(out, first + i, base * g);
        return;
    }
    for (size_t i = 0; i < m; i++)
        st64(out, first + i, (base + pack_get(b, nbytes, i * w, w)) * g);
}

/* Decode an integer sequence of n values into the 8-byte slots of out.
 * Advances *pp. Returns 0 or SX_ECORRUPT. */
static int iseq_read(const uint8_t **pp, const uint8_t *end, size_t n, void *out, const char *what,
                     sx_err_t *err)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return sx_err_set(err, SX_ECORRUPT, "%s: truncated", what);
    unsigned tag = *p++;
    unsigned order = tag & 3, kind = tag >> 2;
    if (kind > KIND_PATCHED)
        return sx_err_set(err, SX_ECORRUPT, "%s: bad sequence tag 0x%02x", what, tag);
    uint64_t heads[2] = {0, 0};
    unsigned nh = nheads(order, n);
    for (unsigned j = 0; j < nh; j++) {
        uint64_t u;
        if (!rd_uvarint(&p, end, &u))
            return sx_err_set(err, SX_ECORRUPT, "%s: truncated header", what);
        heads[j] = (uint64_t)sx_zigzag_dec(u);
    }
    size_t m = nresiduals(order, n), base = n - m;
    /* Residuals go to out[base..n), then are integrated in place. */
    if (kind == KIND_ZERO) {
        for (size_t i = base; i < n; i++)
            st64(out, i, 0);
    } else {
        uint64_t g;
        if (!rd_uvarint(&p, end, &g) || g == 0)
            return sx_err_set(err, SX_ECORRUPT, "%s: bad divisor", what);
        if (kind == KIND_VARINT) {
            for (size_t i = base; i < n; i++) {
                uint64_t q;
                if (!rd_uvarint(&p, end, &q))
                    return sx_err_set(err, SX_ECORRUPT, "%s: truncated at residual %zu", what, i);
                st64(out, i, unzz_mul(q, g));
            }
        } else if (kind == KIND_RLE) {
            size_t i = base;
            while (i < n) {
                uint64_t t;
                if (!rd_uvarint(&p, end, &t))
                    return sx_err_set(err, SX_ECORRUPT, "%s: truncated at residual %zu", what, i);
                if (t & 1) {
                    uint64_t run = (t >> 1) + 1;
                    if (run > n - i)
                        return sx_err_set(err, SX_ECORRUPT, "%s: run past the end", what);
                    for (uint64_t j = 0; j < run; j++)
                        st64(out, i++, 0);
                } else {
                    st64(out, i++, unzz_mul(t >> 1, g));
                }
            }
        } else {
            uint64_t zb;
            if (!rd_uvarint(&p, end, &zb) || p >= end)
                return sx_err_set(err, SX_ECORRUPT, "%s: truncated packing header", what);
            uint64_t fb = (uint64_t)sx_zigzag_dec(zb);
            unsigned w = *p++;
            if (w > 64)
                return sx_err_set(err, SX_ECORRUPT, "%s: bad width %u", what, w);
            uint64_t ne = 0;
            if (kind == KIND_PATCHED && (!rd_uvarint(&p, end, &ne) || ne > m))
                return sx_err_set(err, SX_ECORRUPT, "%s: bad outlier count", what);
            size_t nf = m;
            const uint8_t *bitmap = NULL;
            if (kind == KIND_SPARSE) {
                size_t nb = (m + 7) / 8;
                if ((size_t)(end - p) < nb)
                    return sx_err_set(err, SX_ECORRUPT, "%s: truncated bitmap", what);
                bitmap = p;
                p += nb;
                nf = 0;
                for (size_t j = 0; j < nb; j++)
                    nf += (size_t)__builtin_popcount(bitmap[j]);
                if (m % 8 && bitmap[nb - 1] >> (m % 8))
                    return sx_err_set(err, SX_ECORRUPT, "%s: bitmap padding set", what);
            }
            size_t nbytes = (nf * w + 7) / 8;
            if ((size_t)(end - p) < nbytes)
                return sx_err_set(err, SX_ECORRUPT, "%s: truncated packed body", what);
            if (!bitmap) {
                unpack(p, nbytes, w, fb, g, out, base, m);
            } else {
                size_t f = 0;
                for (size_t i = 0; i < m; i++) {
                    if (bitmap[i >> 3] >> (i & 7) & 1) {
                        uint64_t x = w ? pack_get(p, nbytes, f * w, w) : 0;
                        st64(out, base + i, (fb + x) * g);
                        f++;
                    } else {
                        st64(out, base + i, 0);
                    }
                }
            }
            p += nbytes;
            size_t pos = 0;
            for (uint64_t j = 0; j < ne; j++) {
                uint64_t gap, zq;
                if (!rd_uvarint(&p, end, &gap) || !rd_uvarint(&p, end, &zq))
                    return sx_err_set(err, SX_ECORRUPT, "%s: truncated outlier", what);
                if ((j > 0 && gap == 0) || gap >= m - pos)
                    return sx_err_set(err, SX_ECORRUPT, "%s: bad outlier position", what);
                pos += (size_t)gap;
                st64(out, base + pos, unzz_mul(zq, g));
            }
        }
    }
    switch (order) {
    case ORD_RAW:
        break;
    case ORD_DELTA: {
        uint64_t x = heads[0];
        st64(out, 0, x);
        for (size_t i = 1; i < n; i++) {
            x += ld64(out, i);
            st64(out, i, x);
        }
        break;
    }
    case ORD_DOD: {
        uint64_t x = heads[0], d = heads[1];
        st64(out, 0, x);
        if (n >= 2) {
            x += d;
            st64(out, 1, x);
        }
        for (size_t i = 2; i < n; i++) {
            d += ld64(out, i);
            x += d;
            st64(out, i, x);
        }
        break;
    }
    default: {
        uint64_t x0 = heads[0], d = heads[1], lin = x0;
        st64(out, 0, x0);
        for (size_t i = 1; i < n; i++) {
            lin += d;
            st64(out, i, lin + ld64(out, i));
        }
        break;
    }
    }
    *pp = p;
    return 0;
}

/* ---- Values: XOR ---- */

static void xor_encode(const double *v, size_t n, bitwriter_t *w)
{
    uint64_t prev = sx_enc__bits(v[0]);
    unsigned plead = 0, psig = 0; /* psig 0: no window yet */
    bw_put(w, prev, 64);
    for (size_t i = 1; i < n; i++) {
        uint64_t cur = sx_enc__bits(v[i]), x = cur ^ prev;
        prev = cur;
        if (x == 0) {
            bw_put(w, 0, 1);
            continue;
        }
        unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
        if (lead > 31)
            lead = 31;
        unsigned sig = 64 - lead - trail;
        /* Reuse the previous window when it holds x and costs no more than
         * describing a new one (11 header bits). */
        if (psig && lead >= plead && 64 - plead - psig <= trail && psig <= sig + 11) {
            bw_put(w, 2, 2);
            bw_put(w, x >> (64 - plead - psig), psig);
            continue;
        }
        bw_put(w, 3, 2);
        bw_put(w, lead, 5);
        bw_put(w, sig - 1, 6);
        bw_put(w, x >> trail, sig);
        plead = lead;
        psig = sig;
    }
}

static int xor_decode(const uint8_t *p, const uint8_t *end, size_t n, double *v, sx_err_t *err)
{
    sx_enc__bitreader_t b;
    sx_enc__br_init(&b, p, end);
    uint64_t cur = sx_enc__br_read_wide(&b, 64);
    unsigned lead = 0, sig = 0;
    v[0] = sx_enc__double(cur);
    for (size_t i = 1; i < n && !b.bad; i++) {
        if (sx_enc__br_bit(&b)) {
            if (sx_enc__br_bit(&b)) {
                lead = (unsigned)sx_enc__br_read(&b, 5);
                sig = (unsigned)sx_enc__br_read(&b, 6) + 1;
                if (lead + sig > 64)
                    return sx_err_set(err, SX_ECORRUPT, "values: bad xor window at %zu", i);
            } else if (sig == 0) {
                return sx_err_set(err, SX_ECORRUPT, "values: xor window reused before set");
            }
            cur ^= sx_enc__br_read_wide(&b, sig) << (64 - lead - sig);
        }
        v[i] = sx_enc__double(cur);
    }
    if (b.bad)
        return sx_err_set(err, SX_ECORRUPT, "values: truncated xor stream");
    if (b.nacc + 8 * (size_t)(b.end - b.p) >= 8)
        return sx_err_set(err, SX_ECORRUPT, "values: trailing bytes after xor stream");
    return 0;
}

/* ---- Values: decimal ---- */

/* Values within this many ulps of a short decimal are "near decimals":
 * sums of decimal increments in floating point (a histogram's _sum, a
 * counter fed fractional amounts) drift a few ulps from the decimal. */
#define NEAR_ULPS 4096
/* Corrections beyond this make a value an exception instead. */
#define CORR_MAX 65536

typedef struct scratch {
    uint64_t *ints; /* value as integer at its own scale */
    int8_t *ks;     /* its scale, -1 if neither decimal nor near one */
    uint8_t *exact; /* 1 if the value is decimal at its scale */
    uint64_t *xs;   /* integers at the block scale, exceptions filled in */
    uint64_t *cs;   /* ulp corrections at the block scale */
    uint64_t *r;    /* residuals */
    uint64_t *tmp;  /* more scratch for planning */
    uint8_t *exc;   /* 1 where the value is an exception at the block scale */
} scratch_t;

/* Smallest scale k at which v is decimal, or failing that within NEAR_ULPS
 * ulps of one (a few more scales are tried for an exact one). Returns k
 * with the integer in *i, or -1. */
static int classify(double v, int64_t *i, uint8_t *exact)
{
    int near = -1;
    int64_t ni = 0;
    for (unsigned k = 0; k <= SX_ENC__KMAX; k++) {
        if (near >= 0 && k > (unsigned)near + 3)
            break;
        double s = v * sx_enc__p10[k];
        if (!(s >= -SX_ENC__IMAX && s <= SX_ENC__IMAX))
            break;
        int64_t r = sx_enc__round(s);
        double d = s - (double)r, a = s < 0 ? -s : s;
        if (d < 0)
            d = -d;
        if (d > a * 0x1p-40)
            continue;
        uint64_t back = sx_enc__bits((double)r / sx_enc__p10[k]);
        if (back == sx_enc__bits(v)) {
            *i = r;
            *exact = 1;
            return (int)k;
        }
        int64_t c = (int64_t)(sx_enc__bits(v) - back);
        if (near < 0 && c >= -NEAR_ULPS && c <= NEAR_ULPS) {
            near = (int)k;
            ni = r;
        }
    }
    *i = ni;
    *exact = 0;
    return near;
}

static inline void add_exception(const scratch_t *s, size_t i, size_t *ne, size_t *last,
                                  size_t *cost)
{
    s->exc[i] = 1;
    *cost += sx_enc__uvarint_len(*ne ? i - *last : i) + 8;
    *last = i;
    (*ne)++;
}

/* Store integer x for value i. The first real value also back-fills the
 * slots of leading exceptions, so residuals stay small. */
static inline void take_value(const scratch_t *s, size_t i, int64_t x, bool *have, uint64_t *prev)
{
    if (!*have) {
        for (size_t j = 0; j < i; j++)
            s->xs[j] = (uint64_t)x;
        *have = true;
    }
    *prev = (uint64_t)x;
    s->xs[i] = *prev;
    s->exc[i] = 0;
}

/* Fill s->xs with every value scaled to k. Values that are not decimal at
 * k become exceptions: their slot repeats the neighbouring integer so the
 * residuals stay small. Returns the bytes the exception list costs, with
 * the count in *nexc. */
static size_t build_dec(const scratch_t *s, size_t n, unsigned k, size_t *nexc)
{
    size_t ne = 0, cost = 0, last = 0;
    bool have = false;
    uint64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        int kk = s->ks[i];
        bool ok = s->exact[i] && (unsigned)kk <= k;
        int64_t x = 0;
        if (ok) {
            unsigned up = k - (unsigned)kk;
            int64_t a = (int64_t)s->ints[i];
            if (a != 0) {
                ok = up <= 18 && !__builtin_mul_overflow(a, (int64_t)sx_pow10_u64[up], &x) &&
                     x >= -(int64_t)(1ll << 53) && x <= (int64_t)(1ll << 53);
            }
        }
        if (ok) {
            take_value(s, i, x, &have, &prev);
            continue;
        }
        s->xs[i] = prev;
        add_exception(s, i, &ne, &last, &cost);
    }
    *nexc = ne;
    return ne ? cost + sx_enc__uvarint_len(ne) : 0;
}

/* Like build_dec for near decimals: every value becomes the integer
 * nearest to v * 10^k plus a correction in ulps (s->cs); values with no
 * such form (NaN, infinities, -0.0, too large) become exceptions. */
static size_t build_decc(const double *v, const scratch_t *s, size_t n, unsigned k, size_t *nexc)
{
    size_t ne = 0, cost = 0, last = 0;
    bool have = false;
    uint64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        double sc = v[i] * sx_enc__p10[k];
        if (sc >= -SX_ENC__IMAX && sc <= SX_ENC__IMAX) {
            int64_t x = sx_enc__round(sc);
            int64_t c =
                (int64_t)(sx_enc__bits(v[i]) - sx_enc__bits((double)x / sx_enc__p10[k]));
            if (c >= -CORR_MAX && c <= CORR_MAX) {
                take_value(s, i, x, &have, &prev);
                s->cs[i] = (uint64_t)c;
                continue;
            }
        }
        s->xs[i] = prev;
        s->cs[i] = 0;
        add_exception(s, i, &ne, &last, &cost);
    }
    *nexc = ne;
    return ne ? cost + sx_enc__uvarint_len(ne) : 0;
}

typedef struct vplan {
    unsigned mode, k;
    size_t size;
    plan_t ip;  /* integers */
    plan_t ipc; /* corrections (VM_DECC) */
} vplan_t;

/* The two scales worth trying given a histogram of per-value scales: the
 * smallest that leaves at most maxexc values above it (or unclassified),
 * and the largest seen. Returns how many (0..2). */
static unsigned scale_candidates(const size_t *hist, size_t n, size_t nnone, size_t maxexc,
                                 unsigned cand[2])
{
    unsigned nc = 0, kmax = 0;
    size_t above = n - nnone;
    if (nnone > maxexc)
        return 0;
    for (unsigned k = 0; k <= SX_ENC__KMAX; k++) {
        above -= hist[k];
        if (hist[k])
            kmax = k;
        if (nc == 0 && nnone + above <= maxexc)
            cand[nc++] = k;
    }
    if (nc && kmax != cand[0])
        cand[nc++] = kmax;
    return nc;
}

/* Plan the decimal representations (exact, or near with corrections),
 * leaving vp->size at SIZE_MAX if neither applies. */
static void plan_dec(const double *v, size_t n, const scratch_t *s, vplan_t *vp)
{
    size_t maxexc = n / 4, nnot_exact = 0, nnone = 0;
    size_t hist_exact[SX_ENC__KMAX + 1] = {0}, hist_any[SX_ENC__KMAX + 1] = {0};
    vp->size = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && sx_enc__bits(v[i]) == sx_enc__bits(v[i - 1])) {
            s->ks[i] = s->ks[i - 1];
            s->ints[i] = s->ints[i - 1];
            s->exact[i] = s->exact[i - 1];
        } else {
            int64_t x = 0;
            s->ks[i] = (int8_t)classify(v[i], &x, &s->exact[i]);
            s->ints[i] = (uint64_t)x;
        }
        int k = s->ks[i];
        if (k < 0) {
            nnone++;
            nnot_exact++;
            continue;
        }
        hist_any[k]++;
        if (s->exact[i])
            hist_exact[k]++;
        else
            nnot_exact++;
    }
    unsigned cand[2], nc = scale_candidates(hist_exact, n, nnot_exact, maxexc, cand);
    for (unsigned c = 0; c < nc; c++) {
        size_t ne;
        size_t ecost = build_dec(s, n, cand[c], &ne);
        plan_t ip;
        iseq_plan(s->xs, n, 0xf, s->r, s->tmp, &ip);
        size_t size = 1 + ip.size + ecost;
        if (size < vp->size) {
            vp->mode = VM_DEC;
            vp->k = cand[c];
            vp->size = size;
            vp->ip = ip;
        }
    }
    if (nnot_exact == nnone)
        return; /* no near decimals: corrections would all be 0 */
    nc = scale_candidates(hist_any, n, nnone, maxexc, cand);
    for (unsigned c = 0; c < nc; c++) {
        size_t ne;
        size_t ecost = build_decc(v, s, n, cand[c], &ne);
        plan_t ip, ipc;
        iseq_plan(s->xs, n, 0xf, s->r, s->tmp, &ip);
        iseq_plan(s->cs, n, 0xf, s->r, s->tmp, &ipc);
        size_t size = 1 + ip.size + ipc.size + ecost;
        if (size < vp->size) {
            vp->mode = VM_DECC;
            vp->k = cand[c];
            vp->size = size;
            vp->ip = ip;
            vp->ipc = ipc;
        }
    }
}

static int const_scale(double v, int64_t *i)
{
    return sx_enc__dec_scale(v, SX_ENC__KMAX, i);
}

/* ---- Blocks ---- */

int sx_chunk_encode(const int64_t *ts, const double *v, size_t n, sx_buf_t *out)
{
    if (n > SX_CHUNK_MAX_SAMPLES || (n && (!ts || !v)))
        return SX_EINVAL;
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1])
            return SX_EINVAL;
    char *hp = sx_buf_reserve(out, 1 + SX_UVARINT_MAX);
    hp[0] = (char)CHUNK_TAG;
    out->len += 1 + sx_uvarint_put(hp + 1, n);
    if (n == 0)
        return 0;

    scratch_t s;
    char *mem = sx_xmalloc(n * 43);
    s.ints = (uint64_t *)mem;
    s.xs = (uint64_t *)(mem + n * 8);
    s.cs = (uint64_t *)(mem + n * 16);
    s.r = (uint64_t *)(mem + n * 24);
    s.tmp = (uint64_t *)(mem + n * 32);
    s.ks = (int8_t *)(mem + n * 40);
    s.exact = (uint8_t *)(mem + n * 41);
    s.exc = (uint8_t *)(mem + n * 42);

    /* Timestamps: the int64s reinterpreted as uint64 (same object
     * representation, so the aliasing is allowed). */
    plan_t tp;
    const uint64_t *tsu = (const uint64_t *)ts;
    iseq_plan(tsu, n, 1u << ORD_DELTA | 1u << ORD_DOD | 1u << ORD_LINEAR, s.r, s.tmp, &tp);
    uint8_t *p = (uint8_t *)sx_buf_reserve(out, tp.size), *start = p;
    p = iseq_write(tsu, n, &tp, s.r, p);
    SX_ASSERT((size_t)(p - start) == tp.size);
    out->len = (size_t)((char *)p - out->ptr);

    /* Values: constant, else the smaller of decimal and XOR. */
    uint64_t b0 = sx_enc__bits(v[0]);
    size_t i = 1;
    while (i < n && sx_enc__bits(v[i]) == b0)
        i++;
    if (i == n) {
        int64_t x;
        int k = const_scale(v[0], &x);
        p = (uint8_t *)sx_buf_reserve(out, 1 + 8 + SX_UVARINT_MAX);
        if (k >= 0) {
            *p++ = (uint8_t)(VM_CONST | (unsigned)k << 2);
            p = put_uvarint(p, sx_zigzag_enc(x));
        } else {
            *p++ = (uint8_t)(VM_CONST | 0x80);
            put_le64(p, b0);
            p += 8;
        }
        out->len = (size_t)((char *)p - out->ptr);
        free(mem);
        return 0;
    }

    vplan_t vp;
    plan_dec(v, n, &s, &vp);
    bitwriter_t bw = {0};
    xor_encode(v, n, &bw);
    size_t xor_size = 1 + (bw.bits + 7) / 8;
    if (xor_size < vp.size) {
        p = (uint8_t *)sx_buf_reserve(out, xor_size);
        *p++ = VM_XOR;
        bw = (bitwriter_t){.p = p};
        xor_encode(v, n, &bw);
        bw_flush(&bw);
        SX_ASSERT((size_t)(bw.p - p) == xor_size - 1);
        out->len = (size_t)((char *)bw.p - out->ptr);
        free(mem);
        return 0;
    }
    /* Rebuild the chosen candidate: the last one built may differ. */
    size_t ne;
    if (vp.mode == VM_DEC)
        build_dec(&s, n, vp.k, &ne);
    else
        build_decc(v, &s, n, vp.k, &ne);
    p = (uint8_t *)sx_buf_reserve(out, vp.size);
    start = p;
    *p++ = (uint8_t)(vp.mode | vp.k << 2 | (ne ? 0x80 : 0));
    p = iseq_write(s.xs, n, &vp.ip, s.r, p);
    if (vp.mode == VM_DECC)
        p = iseq_write(s.cs, n, &vp.ipc, s.r, p);
    if (ne) {
        p = put_uvarint(p, ne);
        size_t last = 0, seen = 0;
        for (size_t j = 0; j < n; j++) {
            if (!s.exc[j])
                continue;
            p = put_uvarint(p, seen ? j - last : j);
            put_le64(p, sx_enc__bits(v[j]));
            p += 8;
            last = j;
            seen++;
        }
        SX_ASSERT(seen == ne);
    }
    SX_ASSERT((size_t)(p - start) == vp.size);
    out->len = (size_t)((char *)p - out->ptr);
    free(mem);
    return 0;
}

static int read_header(const uint8_t **pp, const uint8_t *end, size_t *n, sx_err_t *err)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return sx_err_set(err, SX_ECORRUPT, "empty block");
    if (*p != CHUNK_TAG)
        return sx_err_set(err, SX_ECORRUPT, "bad block tag 0x%02x", *p);
    p++;
    uint64_t u;
    if (!rd_uvarint(&p, end, &u))
        return sx_err_set(err, SX_ECORRUPT, "truncated block header");
    if (u > SX_CHUNK_MAX_SAMPLES)
        return sx_err_set(err, SX_ECORRUPT, "block claims %llu samples", (unsigned long long)u);
    *n = (size_t)u;
    *pp = p;
    return 0;
}

int sx_chunk_count(const char *p, size_t len, size_t *n)
{
    if (len == 0)
        return SX_ECORRUPT; /* and p may be NULL */
    const uint8_t *s = (const uint8_t *)p;
    return read_header(&s, s + len, n, NULL);
}

int sx_chunk_decode(const char *src, size_t len, int64_t *ts, double *v, size_t cap, size_t *n_out,
                    sx_err_t *err)
{
    if (len == 0)
        return sx_err_set(err, SX_ECORRUPT, "empty block"); /* and src may be NULL */
    const uint8_t *p = (const uint8_t *)src, *end = p + len;
    size_t n;
    int rc = read_header(&p, end, &n, err);
    if (rc)
        return rc;
    if (n > cap)
        return sx_err_set(err, SX_EINVAL, "block holds %zu samples, room for %zu", n, cap);
    *n_out = n;
    if (n == 0)
        return p == end ? 0 : sx_err_set(err, SX_ECORRUPT, "trailing bytes after empty block");

    if ((rc = iseq_read(&p, end, n, ts, "timestamps", err)))
        return rc;
    for (size_t i = 1; i < n; i++)
        if (ts[i] <= ts[i - 1])
            return sx_err_set(err, SX_ECORRUPT, "timestamps: not ascending at %zu", i);

    if (p >= end)
        return sx_err_set(err, SX_ECORRUPT, "values: truncated");
    unsigned mb = *p++, mode = mb & 3, k = (mb >> 2) & 31, flag = mb >> 7;
    if (k > SX_ENC__KMAX)
        return sx_err_set(err, SX_ECORRUPT, "values: bad scale %u", k);
    switch (mode) {
    case VM_CONST: {
        double c;
        if (flag) {
            if (k || end - p < 8)
                return sx_err_set(err, SX_ECORRUPT, "values: bad constant");
            c = sx_enc__double(load_le64(p));
            p += 8;
        } else {
            uint64_t u;
            if (!rd_uvarint(&p, end, &u))
                return sx_err_set(err, SX_ECORRUPT, "values: truncated constant");
            c = (double)sx_zigzag_dec(u) / sx_enc__p10[k];
        }
        for (size_t i = 0; i < n; i++)
            v[i] = c;
        break;
    }
    case VM_DEC:
    case VM_DECC: {
        if ((rc = iseq_read(&p, end, n, v, "values", err)))
            return rc;
        if (k == 0) {
            for (size_t i = 0; i < n; i++)
                v[i] = (double)(int64_t)ld64(v, i);
        } else {
            double d = sx_enc__p10[k];
            for (size_t i = 0; i < n; i++)
                v[i] = (double)(int64_t)ld64(v, i) / d;
        }
        if (mode == VM_DECC) {
            uint64_t *c = sx_xmalloc(n * 8);
            rc = iseq_read(&p, end, n, c, "corrections", err);
            for (size_t i = 0; i < n && !rc; i++)
                v[i] = sx_enc__double(sx_enc__bits(v[i]) + c[i]);
            free(c);
            if (rc)
                return rc;
        }
        if (!flag)
            break;
        uint64_t ne;
        if (!rd_uvarint(&p, end, &ne) || ne == 0 || ne > n)
            return sx_err_set(err, SX_ECORRUPT, "values: bad exception count");
        size_t pos = 0;
        for (uint64_t j = 0; j < ne; j++) {
            uint64_t gap;
            if (!rd_uvarint(&p, end, &gap) || end - p < 8)
                return sx_err_set(err, SX_ECORRUPT, "values: truncated exception %llu",
                                  (unsigned long long)j);
            if ((j > 0 && gap == 0) || gap >= n - pos)
                return sx_err_set(err, SX_ECORRUPT, "values: bad exception position");
            pos += (size_t)gap;
            v[pos] = sx_enc__double(load_le64(p));
            p += 8;
        }
        break;
    }
    case VM_XOR:
        if (mb != VM_XOR)
            return sx_err_set(err, SX_ECORRUPT, "values: bad mode byte 0x%02x", mb);
        return xor_decode(p, end, n, v, err);
    }
    if (p != end)
        return sx_err_set(err, SX_ECORRUPT, "trailing bytes after block");
    return 0;
}
