/* SPDX-License-Identifier: Apache-2.0 */
/* The head chunk: samples appended one at a time into a bit stream kept in
 * one growable array, read back by an iterator. The sealed form on disk is
 * the block codec (chunk.c); a head chunk is re-encoded into it when flushed.
 *
 * Stream (MSB first). Timestamp of sample 0: 7 bits width w, then w bits of
 * zz(ts). Later timestamps store dod = delta - prev, where delta is the gap
 * to the previous timestamp and prev is the previous gap clamped to int32
 * (the clamp keeps the state small; both sides apply it):
 *   '0' dod 0 | '10' 7 bits zz | '110' 14 bits | '1110' 24 bits | '1111' 64 bits.
 * Values, against the previous value (+0.0 before the first):
 *   '0'     same bits;
 *   '10'    decimal delta at the current scale k in the current field width
 *           and mode: the previous value is i/10^k and this one (i+d)/10^k;
 *   '110'   decimal delta with a new width w: 6 bits w-1, 1 bit mode change
 *           (if set: 1 bit unsigned, 4 bits shift), then the field without
 *           its top bit, which is 1. The field f gives d = f << shift when
 *           unsigned (counters) and d = unzigzag(f) << shift otherwise;
 *   '1110'  XOR in the previous window;
 *   '11110' XOR with a new window: 5 bits leading zeros, 6 bits width-1;
 *   '11111' absolute decimal: 5 bits new scale k, 6 bits width, zz(i).
 * The integer i of a previous value is recomputed as round(value * 10^k) by
 * both sides; the encoder uses '10' only when that reproduces the value. */
#include "encoding.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "encoding_int.h"

/* Largest scale a value may move the chunk to; longer decimals go XOR. */
#define XK_MAX 12
/* When the chunk's scale is more than this many digits above what a value
 * needs (one long decimal raised it), restart at the value's own scale. */
#define XK_SHRINK 4
/* Consecutive positive deltas before a chunk switches to unsigned fields:
 * long enough that random walks rarely do and switch straight back. */
#define NPOS_UNSIGNED 7
#define CAP_MAX (65535u * 16u)

typedef struct pieces {
    uint64_t v[10];
    uint8_t nb[10];
    unsigned n, bits;
} pieces_t;

static inline void add(pieces_t *p, uint64_t v, unsigned nb)
{
    p->v[p->n] = v;
    p->nb[p->n++] = (uint8_t)nb;
    p->bits += nb;
}

static inline int32_t clamp32(uint64_t d)
{
    int64_t s = (int64_t)d;
    return s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : (int32_t)s;
}

/* OR nb (<= 57) bits of x into d at bit position pos; the bytes from pos on
 * are zero, so whole bytes may be stored. */
static inline void put_bits(uint8_t *d, uint32_t pos, uint64_t x, unsigned nb)
{
    if (nb == 0)
        return;
    unsigned off = pos & 7, nbytes = (off + nb + 7) >> 3;
    uint64_t w = x << (64 - off - nb);
    uint8_t *q = d + (pos >> 3);
    q[0] |= (uint8_t)(w >> 56);
    for (unsigned j = 1; j < nbytes; j++)
        q[j] = (uint8_t)(w >> (56 - 8 * j));
}

void sx_xchunk_init(sx_xchunk_t *c)
{
    memset(c, 0, sizeof(*c));
    c->_pex = 1; /* +0.0 is decimal at scale 0 */
}

void sx_xchunk_dispose(sx_xchunk_t *c)
{
    free(c->_data);
    sx_xchunk_init(c);
}

size_t sx_xchunk_mem(const sx_xchunk_t *c)
{
    return (size_t)c->_cap16 * 16;
}

size_t sx_xchunk_len(const sx_xchunk_t *c)
{
    return (c->_nbits + 7) / 8;
}

void sx_xchunk_shrink(sx_xchunk_t *c)
{
    size_t used = (sx_xchunk_len(c) + 15) / 16;
    if (!c->_data || used == c->_cap16)
        return;
    if (used == 0)
        used = 1;
    c->_data = sx_xrealloc(c->_data, used * 16);
    c->_cap16 = (uint16_t)used;
}

/* Make room for the stream to reach nbits; new bytes are zeroed. */
static int grow(sx_xchunk_t *c, size_t nbits)
{
    size_t need = (nbits + 7) / 8, cap = (size_t)c->_cap16 * 16;
    if (need <= cap)
        return 0;
    if (need > CAP_MAX)
        return SX_ELIMIT;
    /* Small steps: with 100,000s of chunks, spare capacity is what costs;
     * a realloc every 32+ bytes (dozens of samples) is cheap. */
    size_t ncap = need + (cap / 8 > 32 ? cap / 8 : 32);
    ncap = (ncap + 15) & ~(size_t)15;
    if (ncap > CAP_MAX)
        ncap = CAP_MAX;
    c->_data = sx_xrealloc(c->_data, ncap);
    memset(c->_data + cap, 0, ncap - cap);
    c->_cap16 = (uint16_t)(ncap / 16);
    return 0;
}

/* Bits to XOR x against the window (plead, psig), and the window to keep. */
static unsigned xor_plan(uint64_t x, unsigned plead, unsigned psig, unsigned *lead, unsigned *sig,
                         bool *reuse)
{
    unsigned l = (unsigned)__builtin_clzll(x), t = (unsigned)__builtin_ctzll(x);
    if (l > 31)
        l = 31;
    unsigned s = 64 - l - t;
    if (psig && l >= plead && 64 - plead - psig <= t && psig <= s + 11) {
        *reuse = true;
        *lead = plead;
        *sig = psig;
        return 4 + psig;
    }
    *reuse = false;
    *lead = l;
    *sig = s;
    return 5 + 11 + s;
}

static void add_absolute(pieces_t *pc, unsigned k, int64_t i)
{
    uint64_t z = sx_zigzag_enc(i);
    unsigned b = sx_enc__bitlen(z);
    add(pc, 0x1f, 5);
    add(pc, k, 5);
    add(pc, b, 6);
    add(pc, z, b);
}

/* Shift worth adopting for delta d: sizes in KiB or 4 KiB pages. */
static unsigned shift_for(int64_t d)
{
    unsigned tz = (unsigned)__builtin_ctzll((uint64_t)d);
    return tz >= 12 ? 12 : tz >= 10 ? 10 : 0;
}

/* Emit a decimal delta d != 0 as '10' or '110', updating the field width
 * and mode. The mode changes when d does not fit it, or to adopt a shift
 * or unsigned fields once the data shows them. */
static void delta_code(pieces_t *pc, int64_t d, unsigned *dlen, unsigned *uns, unsigned *shift,
                       unsigned npos)
{
    uint64_t mask = (1ull << *shift) - 1;
    bool fits = ((uint64_t)d & mask) == 0 && (!*uns || d > 0);
    unsigned nshift = fits && *shift ? *shift : shift_for(d);
    unsigned nuns = fits && *uns ? 1 : d > 0 && npos >= NPOS_UNSIGNED;
    bool change = nshift != *shift || nuns != *uns;
    /* Arithmetic shift of a negative d is exact here: its low bits are 0. */
    uint64_t q = (uint64_t)d >> nshift | (d < 0 ? ~(~0ull >> nshift) : 0);
    uint64_t f = nuns ? q : sx_zigzag_enc((int64_t)q);
    unsigned b = sx_enc__bitlen(f);
    if (!change && *dlen >= b && *dlen <= b + 7) {
        add(pc, 2, 2);
        add(pc, f, *dlen);
        return;
    }
    add(pc, 6, 3);
    add(pc, b - 1, 6);
    if (change) {
        add(pc, 2 | nuns, 2);
        add(pc, nshift, 4);
    } else {
        add(pc, 0, 1);
    }
    add(pc, f & ~(1ull << (b - 1)), b - 1);
    *dlen = b;
    *uns = nuns;
    *shift = nshift;
}

int sx_xchunk_append(sx_xchunk_t *c, int64_t ts, double v)
{
    if (c->_n && ts <= c->_t)
        return SX_EINVAL;
    if (c->_n >= SX_XCHUNK_MAX_SAMPLES)
        return SX_ELIMIT;
    pieces_t pc = {.n = 0, .bits = 0};

    /* Timestamp. */
    int32_t ndt = 0;
    if (c->_n == 0) {
        uint64_t z = sx_zigzag_enc(ts);
        unsigned b = sx_enc__bitlen(z);
        add(&pc, b, 7);
        add(&pc, z, b);
    } else {
        uint64_t delta = (uint64_t)ts - (uint64_t)c->_t;
        uint64_t z = sx_zigzag_enc((int64_t)(delta - (uint64_t)(int64_t)c->_dt));
        if (z == 0) {
            add(&pc, 0, 1);
        } else if (z < (1u << 7)) {
            add(&pc, 2, 2);
            add(&pc, z, 7);
        } else if (z < (1u << 14)) {
            add(&pc, 6, 3);
            add(&pc, z, 14);
        } else if (z < (1u << 24)) {
            add(&pc, 14, 4);
            add(&pc, z, 24);
        } else {
            add(&pc, 15, 4);
            add(&pc, z, 64);
        }
        ndt = clamp32(delta);
    }

    /* Value. */
    uint64_t bits = sx_enc__bits(v);
    unsigned k = c->_k, lead = c->_lead, sig = c->_sig, dlen = c->_dlen;
    unsigned uns = c->_uns, shift = c->_shift, npos = c->_npos;
    bool pex = c->_pex;
    if (bits == c->_v) {
        add(&pc, 0, 1);
    } else {
        int64_t i = 0, i2;
        bool ex = sx_enc__dec_at(v, k, &i);
        int kd;
        if (ex && pex && k > XK_SHRINK &&
            (kd = sx_enc__dec_scale(v, k - XK_SHRINK, &i2)) >= 0) {
            /* The scale has outgrown the data: restart at the value's own. */
            add_absolute(&pc, (unsigned)kd, i2);
            k = (unsigned)kd;
        } else if (ex && pex) {
            int64_t pi = sx_enc__round(sx_enc__double(c->_v) * sx_enc__p10[k]);
            delta_code(&pc, i - pi, &dlen, &uns, &shift, npos);
            npos = i > pi ? (npos < 7 ? npos + 1 : 7) : 0;
        } else {
            /* After a non-decimal value, search the scales only every 8th
             * sample: float sums and the like stay non-decimal, and the
             * search is most of an append's cost. */
            int ka = ex ? (int)k : pex || !(c->_n & 7) ? sx_enc__dec_scale(v, XK_MAX, &i) : -1;
            unsigned xl, xs;
            bool reuse;
            uint64_t x = bits ^ c->_v;
            unsigned xcost = xor_plan(x, lead, sig, &xl, &xs, &reuse);
            unsigned acost = ka >= 0 ? 16 + sx_enc__bitlen(sx_zigzag_enc(i)) : ~0u;
            if (acost <= xcost) {
                add_absolute(&pc, (unsigned)ka, i);
                k = (unsigned)ka;
                pex = true;
            } else {
                if (reuse) {
                    add(&pc, 0xe, 4);
                } else {
                    add(&pc, 0x1e, 5);
                    add(&pc, xl, 5);
                    add(&pc, xs - 1, 6);
                }
                add(&pc, x >> (64 - xl - xs), xs);
                lead = xl;
                sig = xs;
                pex = ex;
            }
        }
    }

    int rc = grow(c, (size_t)c->_nbits + pc.bits);
    if (rc)
        return rc;
    uint32_t pos = c->_nbits;
    for (unsigned j = 0; j < pc.n; j++) {
        unsigned nb = pc.nb[j];
        if (nb > 57) {
            put_bits(c->_data, pos, pc.v[j] >> 32, nb - 32);
            put_bits(c->_data, pos + nb - 32, pc.v[j] & 0xffffffffu, 32);
        } else {
            put_bits(c->_data, pos, pc.v[j], nb);
        }
        pos += nb;
    }
    c->_nbits = pos;
    c->_n++;
    c->_t = ts;
    c->_dt = ndt;
    c->_v = bits;
    c->_k = k;
    c->_lead = lead;
    c->_sig = sig;
    c->_pex = pex;
    c->_dlen = dlen;
    c->_uns = uns;
    c->_shift = shift;
    c->_npos = npos;
    return 0;
}

/* ---- Reading ---- */

void sx_xchunk_iter_init(sx_xchunk_iter_t *it, const sx_xchunk_t *c)
{
    memset(it, 0, sizeof(*it));
    it->_p = c->_data;
    it->_end = c->_data ? c->_data + sx_xchunk_len(c) : NULL;
    it->_left = c->_n;
}

/* Remember the integer of a value just decoded as i / 10^k, so that the
 * next decimal delta need not recompute it as round(value * 10^k): the
 * multiplication, rounding and division would otherwise chain every
 * sample to the one before. The encoder only writes integers that are
 * that rounding; below 2^50 the two agree for any i anyway (value * 10^k
 * is within |i| * 2^-52 of i, under 1/4), which keeps the iterator exact
 * without relying on it. */
static inline void keep_int(sx_xchunk_iter_t *it, int64_t i)
{
    it->_iv = i;
    it->_ivok = i > -(INT64_C(1) << 50) && i < (INT64_C(1) << 50);
}

/* The value i / 10^k as the iterator's bits, its integer kept. At scale 0
 * the division by 1 is exact: its latency is skipped. */
static inline void set_decimal(sx_xchunk_iter_t *it, int64_t i, unsigned k)
{
    it->_v = sx_enc__bits(k ? (double)i / sx_enc__p10[k] : (double)i);
    keep_int(it, i);
}

bool sx_xchunk_iter_next(sx_xchunk_iter_t *it, int64_t *ts, double *v)
{
    if (it->_left == 0)
        return false;
    sx_enc__bitreader_t b = {it->_p, it->_end, it->_acc, it->_nacc, false};

    if (it->_i == 0) {
        unsigned w = (unsigned)sx_enc__br_read(&b, 7);
        it->_t = sx_zigzag_dec(sx_enc__br_read_wide(&b, w > 64 ? 64 : w));
    } else {
        uint64_t z = 0;
        if (sx_enc__br_bit(&b)) {
            if (!sx_enc__br_bit(&b))
                z = sx_enc__br_read(&b, 7);
            else if (!sx_enc__br_bit(&b))
                z = sx_enc__br_read(&b, 14);
            else if (!sx_enc__br_bit(&b))
                z = sx_enc__br_read(&b, 24);
            else
                z = sx_enc__br_read_wide(&b, 64);
        }
        uint64_t delta = (uint64_t)(int64_t)it->_dt + (uint64_t)sx_zigzag_dec(z);
        it->_t = (int64_t)((uint64_t)it->_t + delta);
        it->_dt = clamp32(delta);
    }

    if (sx_enc__br_bit(&b)) {
        unsigned code = 1;
        while (code < 5 && sx_enc__br_bit(&b))
            code++;
        /* code: 1 '10', 2 '110', 3 '1110', 4 '11110', 5 '11111'. */
        if (code <= 2) {
            uint64_t f;
            if (code == 1) {
                f = sx_enc__br_read_wide(&b, it->_dlen);
            } else {
                unsigned w = (unsigned)sx_enc__br_read(&b, 6) + 1;
                if (sx_enc__br_bit(&b)) {
                    it->_uns = (uint8_t)sx_enc__br_bit(&b);
                    it->_shift = (uint8_t)sx_enc__br_read(&b, 4);
                }
                f = (1ull << (w - 1)) | sx_enc__br_read_wide(&b, w - 1);
                it->_dlen = (uint8_t)w;
            }
            uint64_t d = (it->_uns ? f : (uint64_t)sx_zigzag_dec(f)) << it->_shift;
            unsigned k = it->_k;
            int64_t pi;
            if (it->_ivok) {
                pi = it->_iv;
            } else {
                double s = sx_enc__double(it->_v) * sx_enc__p10[k];
                pi = s >= -SX_ENC__IMAX && s <= SX_ENC__IMAX ? sx_enc__round(s) : 0;
            }
            set_decimal(it, (int64_t)((uint64_t)pi + d), k);
        } else if (code == 3) {
            unsigned sig = it->_sig, lead = it->_lead;
            it->_v ^= sx_enc__br_read_wide(&b, sig) << (64 - lead - sig);
            it->_ivok = 0;
        } else if (code == 4) {
            unsigned lead = (unsigned)sx_enc__br_read(&b, 5);
            unsigned sig = (unsigned)sx_enc__br_read(&b, 6) + 1;
            if (lead + sig > 64) /* cannot happen for a stream we wrote */
                sig = 64 - lead;
            it->_lead = (uint8_t)lead;
            it->_sig = (uint8_t)sig;
            it->_v ^= sx_enc__br_read_wide(&b, sig) << (64 - lead - sig);
            it->_ivok = 0;
        } else {
            unsigned k = (unsigned)sx_enc__br_read(&b, 5);
            unsigned w = (unsigned)sx_enc__br_read(&b, 6);
            if (k > SX_ENC__KMAX)
                k = SX_ENC__KMAX;
            it->_k = (uint8_t)k;
            set_decimal(it, sx_zigzag_dec(sx_enc__br_read_wide(&b, w)), k);
        }
    }

    it->_p = b.p;
    it->_acc = b.acc;
    it->_nacc = b.nacc;
    it->_i++;
    it->_left--;
    *ts = it->_t;
    *v = sx_enc__double(it->_v);
    return true;
}

int64_t sx_xchunk_first_ts(const sx_xchunk_t *c)
{
    sx_xchunk_iter_t it;
    int64_t ts = 0;
    double v;
    sx_xchunk_iter_init(&it, c);
    sx_xchunk_iter_next(&it, &ts, &v);
    return ts;
}

int sx_xchunk_encode_chunk(const sx_xchunk_t *c, sx_buf_t *out)
{
    size_t n = c->_n;
    int64_t *ts = sx_xmalloc((n ? n : 1) * sizeof(*ts));
    double *v = sx_xmalloc((n ? n : 1) * sizeof(*v));
    sx_xchunk_iter_t it;
    sx_xchunk_iter_init(&it, c);
    for (size_t i = 0; i < n; i++)
        sx_xchunk_iter_next(&it, &ts[i], &v[i]);
    int rc = sx_chunk_encode(ts, v, n, out);
    free(ts);
    free(v);
    return rc;
}
