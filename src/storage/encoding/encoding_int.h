/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the files of the encoding module only: decimal
 * detection of doubles, bit counting and a bounds-checked MSB-first bit
 * reader. The decimal helpers define part of the on-disk format: a value is
 * stored as integer i and scale k only when (double)i / 10^k reproduces its
 * bits exactly, so decoding is one IEEE division and needs no tolerance. */
#ifndef SX_STORAGE_ENCODING_ENCODING_INT_H
#define SX_STORAGE_ENCODING_ENCODING_INT_H

#include <float.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Exactness of decimal values relies on every double operation rounding
 * once to double precision, which x87 extended precision would break. */
#if !defined(FLT_EVAL_METHOD) || (FLT_EVAL_METHOD != 0 && FLT_EVAL_METHOD != 1)
#error "the encoding module needs FLT_EVAL_METHOD 0 or 1 (no x87 excess precision)"
#endif

/* Largest decimal scale; 10^22 is the largest power of ten a double holds
 * exactly. */
#define SX_ENC__KMAX 22
/* Largest integer magnitude for decimals: every int64 up to it converts
 * to double exactly. */
#define SX_ENC__IMAX 9007199254740992.0 /* 2^53 */

extern const double sx_enc__p10[SX_ENC__KMAX + 1];

static inline uint64_t sx_enc__bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return u;
}

static inline double sx_enc__double(uint64_t u)
{
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* Bits needed to hold x (0 for 0). */
static inline unsigned sx_enc__bitlen(uint64_t x)
{
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0;
}

/* Bytes of v as a uvarint; the same as sx_uvarint_len, inlined. */
static inline unsigned sx_enc__uvarint_len(uint64_t v)
{
    return (sx_enc__bitlen(v | 1) + 6) / 7;
}

/* Round s (|s| <= 2^53, not NaN) to the nearest integer. Deterministic and
 * independent of the rounding mode; decoders that recompute an integer from
 * a stored double call exactly this. */
static inline int64_t sx_enc__round(double s)
{
    int64_t i = (int64_t)s;
    double f = s - (double)i; /* exact: s and i share their integer part */
    if (f >= 0.5)
        i++;
    else if (f <= -0.5)
        i--;
    return i;
}

/* If v == (double)i / 10^k bit for bit with |i| <= 2^53, store i and return
 * true. -0.0, NaN and infinities are never decimal. */
static inline bool sx_enc__dec_at(double v, unsigned k, int64_t *i)
{
    double s = v * sx_enc__p10[k];
    if (!(s >= -SX_ENC__IMAX && s <= SX_ENC__IMAX))
        return false;
    int64_t r = sx_enc__round(s);
    if (sx_enc__bits((double)r / sx_enc__p10[k]) != sx_enc__bits(v))
        return false;
    *i = r;
    return true;
}

/* Smallest k <= kmax at which v is decimal (see sx_enc__dec_at), with its
 * integer in *i; -1 if there is none. A cheap closeness test skips the
 * division for scales that cannot work: if v is the rounding of i/10^k then
 * v*10^k lies within 2^-51 relative of i. */
static inline int sx_enc__dec_scale(double v, unsigned kmax, int64_t *i)
{
    for (unsigned k = 0; k <= kmax; k++) {
        double s = v * sx_enc__p10[k];
        if (!(s >= -SX_ENC__IMAX && s <= SX_ENC__IMAX))
            return -1;
        int64_t r = sx_enc__round(s);
        double d = s - (double)r, a = s < 0 ? -s : s;
        if (d < 0)
            d = -d;
        if (d > a * 0x1p-50)
            continue;
        if (sx_enc__bits((double)r / sx_enc__p10[k]) == sx_enc__bits(v)) {
            *i = r;
            return (int)k;
        }
    }
    return -1;
}

/* ---- Bit reader: MSB first, bounds-checked ---- */

typedef struct sx_enc__bitreader {
    const uint8_t *p, *end;
    uint64_t acc;  /* pending bits, MSB-aligned */
    unsigned nacc; /* pending bit count */
    bool bad;      /* a read went past end */
} sx_enc__bitreader_t;

static inline void sx_enc__br_init(sx_enc__bitreader_t *b, const uint8_t *p, const uint8_t *end)
{
    b->p = p;
    b->end = end;
    b->acc = 0;
    b->nacc = 0;
    b->bad = false;
}

static inline uint64_t sx_enc__load_be64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* Top up the pending bits to at least 57 when input allows. Invariant: the
 * bits of acc below the top nacc are zero. Called with nacc <= 56. */
static inline void sx_enc__br_refill(sx_enc__bitreader_t *b)
{
    if (b->end - b->p >= 8) {
        unsigned take = (64 - b->nacc) >> 3;
        unsigned n2 = b->nacc + take * 8;
        uint64_t add = sx_enc__load_be64(b->p) >> b->nacc;
        if (n2 < 64)
            add &= ~0ull << (64 - n2);
        b->acc |= add;
        b->nacc = n2;
        b->p += take;
        return;
    }
    while (b->nacc <= 56 && b->p < b->end) {
        b->acc |= (uint64_t)*b->p++ << (56 - b->nacc);
        b->nacc += 8;
    }
}

/* Read nb bits (1..56). On running out of input sets bad and returns 0. */
static inline uint64_t sx_enc__br_read(sx_enc__bitreader_t *b, unsigned nb)
{
    if (b->nacc < nb) {
        sx_enc__br_refill(b);
        if (b->nacc < nb) {
            b->bad = true;
            b->nacc = 0;
            b->acc = 0;
            return 0;
        }
    }
    uint64_t r = b->acc >> (64 - nb);
    b->acc <<= nb;
    b->nacc -= nb;
    return r;
}

/* Read nb bits (0..64). */
static inline uint64_t sx_enc__br_read_wide(sx_enc__bitreader_t *b, unsigned nb)
{
    if (nb == 0)
        return 0;
    if (nb <= 56)
        return sx_enc__br_read(b, nb);
    uint64_t hi = sx_enc__br_read(b, nb - 32);
    return (hi << 32) | sx_enc__br_read(b, 32);
}

static inline unsigned sx_enc__br_bit(sx_enc__bitreader_t *b)
{
    return (unsigned)sx_enc__br_read(b, 1);
}

#endif
