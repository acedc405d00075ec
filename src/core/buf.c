/* SPDX-License-Identifier: Apache-2.0 */
/* Growing buffers, JSON string escaping and float formatting. */
#include "buf.h"

#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

void sx_buf_dispose(sx_buf_t *b)
{
    free(b->ptr);
    *b = SX_BUF_INIT;
}

char *sx_buf_reserve(sx_buf_t *b, size_t n)
{
    /* Allocate even for n == 0 so the result is never NULL + 0. */
    if (b->cap - b->len < n || !b->ptr) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap - b->len < n)
            cap *= 2;
        b->ptr = sx_xrealloc(b->ptr, cap);
        b->cap = cap;
    }
    return b->ptr + b->len;
}

void sx_buf_append(sx_buf_t *b, const void *p, size_t n)
{
    if (!n)
        return;
    memcpy(sx_buf_reserve(b, n), p, n);
    b->len += n;
}

void sx_buf_putc(sx_buf_t *b, char c)
{
    *sx_buf_reserve(b, 1) = c;
    b->len++;
}

void sx_buf_puts(sx_buf_t *b, const char *s)
{
    sx_buf_append(b, s, strlen(s));
}

void sx_buf_append_str(sx_buf_t *b, sx_str_t s)
{
    sx_buf_append(b, s.ptr, s.len);
}

void sx_buf_printf(sx_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    char *p = sx_buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is invalid. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
    unsigned c = p[0];
    size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || n > left)
        return 0;
    return sx_utf8_valid((const char *)p, n) ? n : 0;
}

void sx_buf_json_str(sx_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *p = sx_buf_reserve(b, n * 6 + 2);
    *p++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            /* Valid UTF-8 passes through; an invalid byte becomes U+FFFD so
             * the answer stays valid JSON. */
            size_t k = utf8_seq((const unsigned char *)s + i, n - i);
            if (k) {
                memcpy(p, s + i, k);
                p += k;
                i += k - 1;
            } else {
                memcpy(p, "\\ufffd", 6);
                p += 6;
            }
            continue;
        }
        switch (c) {
        case '"': *p++ = '\\'; *p++ = '"'; break;
        case '\\': *p++ = '\\'; *p++ = '\\'; break;
        case '\n': *p++ = '\\'; *p++ = 'n'; break;
        case '\r': *p++ = '\\'; *p++ = 'r'; break;
        case '\t': *p++ = '\\'; *p++ = 't'; break;
        default:
            if (c < 0x20) {
                *p++ = '\\'; *p++ = 'u'; *p++ = '0'; *p++ = '0';
                *p++ = hex[c >> 4]; *p++ = hex[c & 15];
            } else {
                *p++ = (char)c;
            }
        }
    }
    *p++ = '"';
    b->len = (size_t)(p - b->ptr);
}

/* Split a "%.*e" rendering "d[.ddd]e[+-]XX" into its digits and the decimal
 * exponent of the first digit. Returns the number of digits. */
static int split_e(const char *e, char *digits, int *exp10)
{
    int nd = 0;
    const char *p = e;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    *exp10 = atoi(p + 1);
    return nd;
}

const uint64_t sx_pow10_u64[20] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};

/* The last (at most) 2 * npairs digits of x, written backwards from *p
 * but not before start, two per division. */
static void put_pairs(char **p, const char *start, uint64_t x, int npairs)
{
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324252627282930"
                                   "31323334353637383940414243444546474849505152535455565758596061"
                                   "62636465666768697071727374757677787980818283848586878889909192"
                                   "93949596979899";
    for (int i = 0; i < npairs && *p > start; i++, x /= 100) {
        const char *d = pairs + 2 * (x % 100);
        if (*p - start >= 2) {
            *p -= 2;
            memcpy(*p, d, 2);
        } else {
            *--*p = d[1];
        }
    }
}

/* The n decimal digits of u into digits; returns n (0 for u = 0). The low
 * and high eight digits are two independent chains of divisions. */
static int put_digits(uint64_t u, char *digits)
{
    if (u == 0)
        return 0;
    int n = 1;
    while (n < 20 && u >= sx_pow10_u64[n])
        n++;
    char *p = digits + n;
    put_pairs(&p, digits, u % 100000000, 4);
    put_pairs(&p, digits, u / 100000000, 6);
    return n;
}

/* Fast path of shortest_digits for v > 0: the fewest fractional decimal
 * digits d (0..22) such that the integer r = round(v * 10^d) read back as
 * r / 10^d is v. Both that division and strtod round the same exact
 * rational correctly, so the test is exact. While r < 2^53 the rounding
 * interval of v is narrower than one unit of r, so r is the only (thus the
 * closest) candidate at that length. Returns the digit count, 0 when no d
 * qualifies; *covered is then the longest count of significant digits
 * ruled out (15 once r reached 2^53). */
static int short_decimal(double v, char *digits, int *exp10, int *covered)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    *covered = 0;
    if (v >= 9007199254740992.0)
        return 0;
    for (int d = 0; d <= 22; d++) {
        double x = v * pow10[d];
        if (x >= 9007199254740992.0) {
            *covered = 15;
            return 0;
        }
        double r = nearbyint(x);
        /* r's digit count: the significant digits tried at this d. Up to
         * 15 of them, x (rounded in double) is within 0.11 of v * 10^d, so
         * r is the nearest integer to the exact product whenever one lies
         * in v's rounding interval: a failed test rules the length out. */
        int len = *covered;
        while (len < 15 && r >= pow10[len])
            len++;
        *covered = len;
        if (r == 0 || r / pow10[d] != v)
            continue;
        int n = put_digits((uint64_t)r, digits);
        *exp10 = n - 1 - d;
        return n;
    }
    return 0;
}

/* Write the n decimal digits of r and check that d.ddd...e<exp> reads
 * back as v. */
static bool try_digits(double v, uint64_t r, int exp10, char *digits, int *nd)
{
    char d[24], e[48];
    int n = put_digits(r, d);
    if (n == 0)
        return false;
    snprintf(e, sizeof(e), "%c.%.*se%d", d[0], n - 1, d + 1, exp10);
    if (strtod(e, NULL) != v)
        return false;
    memcpy(digits, d, (size_t)n);
    *nd = n;
    return true;
}

/* Whether the integer r, read at the scale of x = v * 10^k, lies inside
 * v's rounding interval, whose half width at that scale is h: both x and h
 * are long double products of exact factors, within 0.006 of exact for
 * the x < 10^17 of long_digits, so a margin of 0.01 decides: 1 inside,
 * 0 outside, -1 too close to tell (strtod decides). */
static int judge(long double x, long double r, long double h)
{
    long double d = fabsl(r - x);
    if (d < h - 0.01L)
        return 1;
    if (d > h + 0.01L)
        return 0;
    return -1;
}

/* nmin to 17 significant digits (every shorter length having failed)
 * without printf: v * 10^k in long double (64-bit mantissa; powers of ten
 * up to 10^27 are exact) rounds to the nearest n-digit integer, which
 * judge or else strtod accepts or rejects. Returns the digit count or 0
 * to let the exact search decide. */
static int long_digits(double v, int nmin, char *digits, int *exp10)
{
    static const long double p10[] = {
        1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
        1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
        1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
    int e = (int)floor(log10(v));
    if (e < -20 || e > 20)
        return 0;
    long double lv = v;
    /* Half the gap between the doubles around v; at a power of two the gap
     * below is half the gap above, so strtod decides there. */
    int e2;
    double m = frexp(v, &e2);
    long double half = m == 0.5 ? 0 : ldexpl(1.0L, e2 - 54);
    if (e >= 0 ? lv < p10[e] : lv * p10[-e] < 1)
        e--;
    else if (e + 1 >= 0 ? lv >= p10[e + 1] : lv * p10[-(e + 1)] >= 1)
        e++;
    for (int n = nmin; n <= 17; n++) {
        int k = n - 1 - e;
        if (k > 27 || k < -27)
            return 0;
        long double x = k >= 0 ? lv * p10[k] : lv / p10[-k];
        /* x is within about 1e-3 of v * 10^k: too close to a tie to
         * know which neighbour is nearer, so leave it to the exact search. */
        long double frac = x - floorl(x);
        if (fabsl(frac - 0.5L) < 1e-3L)
            return 0;
        long double r = nearbyintl(x);
        if (r < 1 || r >= 1e18L)
            return 0;
        uint64_t u = (uint64_t)r;
        int ex = e;
        if (u >= (uint64_t)p10[n]) /* rounded up to 10^n */
            ex++;
        /* Mostly decided without strtod: r is the nearest n-digit
         * candidate, and when it falls outside the (symmetric) interval
         * so do its neighbours. */
        int j = half > 0 && x < 1e17L ? judge(x, r, k >= 0 ? half * p10[k] : half / p10[-k]) : -1;
        if (j == 1) {
            *exp10 = ex;
            return put_digits(u, digits);
        }
        if (j == 0)
            continue;
        int nd;
        if (try_digits(v, u, ex, digits, &nd) || try_digits(v, u + 1, ex, digits, &nd) ||
            (u > 1 && try_digits(v, u - 1, ex, digits, &nd))) {
            *exp10 = ex;
            return nd;
        }
    }
    return 0;
}

/* ---- Exact shortest digits in 128-bit integers ----
 *
 * For v = m * 2^e2 with a 53-bit m, not a power of two, and e2 in
 * [-73, 0] (about 5e-7 <= v < 2^53, which holds most sample values):
 * v's rounding interval is [(2m-1) * 2^(e2-1), (2m+1) * 2^(e2-1)], closed
 * when m is even (a decimal exactly on its edge reads back as the even
 * mantissa). At n significant digits, with e = floor(log10 v) and
 * t = n - 1 - e, a candidate D stands for D / 10^t; it reads back as v
 * iff D * 2^sh lies in [(2m-1) * 10^t, (2m+1) * 10^t], sh = 1 - e2. With
 * t <= 22 every product fits in 128 bits, so the test is exact. The
 * interval is symmetric about v, so the candidate nearest v (ties to the
 * even one, as a correctly rounded %e prints) is inside whenever any is.
 * At 15 digits the interval holds at most one candidate, so passing there
 * also gives every shorter length's answer with trailing zeros. */

typedef unsigned __int128 u128;


/* m * 2^-s >= 10^k, for 0 <= s <= 73 and -7 <= k <= 16. */
static bool ge_pow10(uint64_t m, int s, int k)
{
    if (k >= 0)
        return (u128)m >= ((u128)sx_pow10_u64[k] << s);
    return (u128)m * sx_pow10_u64[-k] >= ((u128)1 << s);
}

/* The nearest n-digit candidate if it reads back as v: 1 with it in *q,
 * 0 if none of n digits does, -1 if t is out of this method's range. */
static int exact_candidate(uint64_t m, int sh, int e, int n, bool closed, uint64_t *q)
{
    int t = n - 1 - e;
    if (t < 0 || t > 22)
        return -1;
    u128 p = t <= 19 ? (u128)sx_pow10_u64[t] : (u128)sx_pow10_u64[19] * sx_pow10_u64[t - 19];
    u128 mid = (u128)(2 * m) * p, lo = mid - p, hi = mid + p;
    u128 mask = ((u128)1 << sh) - 1, half = (u128)1 << (sh - 1);
    u128 d = mid >> sh, r = mid & mask;
    if (r > half || (r == half && (d & 1)))
        d++;
    u128 lo_f = lo >> sh, hi_f = hi >> sh;
    bool lo_exact = (lo & mask) == 0, hi_exact = (hi & mask) == 0;
    bool above = d > lo_f || (closed && d == lo_f && lo_exact);
    bool below = d < hi_f || (d == hi_f && (!hi_exact || closed));
    if (!above || !below)
        return 0;
    *q = (uint64_t)d;
    return 1;
}

/* shortest_digits for the v the method covers; 0 for the others. */
static int exact_digits(double v, char *digits, int *exp10)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    int be = (int)(bits >> 52 & 0x7ff);
    uint64_t frac = bits & ((UINT64_C(1) << 52) - 1);
    int e2 = be - 1075;
    if (be == 0 || frac == 0 || e2 > 0 || e2 < -73)
        return 0;
    uint64_t m = frac | UINT64_C(1) << 52;
    /* log10(v) lies in [(e2 + 52) log10(2), (e2 + 53) log10(2)). */
    int e = (int)floor((double)(e2 + 52) * 0.30102999566398120);
    if (e + 1 <= 16 && e + 1 >= -7 && ge_pow10(m, -e2, e + 1))
        e++;
    int sh = 1 - e2;
    for (int n = 15; n <= 17; n++) {
        uint64_t q;
        int rc = exact_candidate(m, sh, e, n, !(m & 1), &q);
        if (rc < 0)
            return 0;
        if (rc == 1) {
            /* The first digit's exponent, then q without its trailing
             * zeros (values like 0.25 come out of the 15-digit test as
             * 250000000000000), fewest divisions first. */
            *exp10 = (q >= sx_pow10_u64[n] ? n : n - 1) - (n - 1 - e);
            if (q % 100000000 == 0)
                q /= 100000000;
            if (q % 10000 == 0)
                q /= 10000;
            if (q % 100 == 0)
                q /= 100;
            if (q % 10 == 0)
                q /= 10;
            return put_digits(q, digits);
        }
    }
    return 0; /* 17 digits always read back; leave any surprise to the slow path */
}

/* The shortest digits that read back as v (v > 0, finite), the nearest such
 * when several of that length do, as Go's strconv picks them. Fills digits
 * (at most 17) and the exponent of the first digit; returns the count. */
static int shortest_digits(double v, char *digits, int *exp10)
{
    int covered;
    int exact = exact_digits(v, digits, exp10);
    if (exact)
        return exact;
    int fast = short_decimal(v, digits, exp10, &covered);
    if (fast)
        return fast;
    /* Every length up to covered failed: the next ones, from the nearest
     * candidates. */
    if (covered && (fast = long_digits(v, covered + 1, digits, exp10)))
        return fast;
    char e[40];
    for (int prec = covered; prec < 17; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, v);
        double r = strtod(e, NULL);
        int nd = split_e(e, digits, exp10);
        if (r == v)
            return nd;
        if (r > v)
            continue;
        /* At a power of two the gap to the next double below is half the gap
         * above, so the nearest candidate may fall outside v's rounding
         * interval while the one a last-digit step above still falls inside
         * (e.g. 2^-1017 = 7.120236347223045e-307). */
        int i = nd - 1;
        while (i >= 0 && digits[i] == '9')
            digits[i--] = '0';
        if (i >= 0) {
            digits[i]++;
        } else {
            digits[0] = '1';
            ++*exp10;
        }
        snprintf(e, sizeof(e), "%c.%.*se%d", digits[0], nd - 1, digits + 1, *exp10);
        if (strtod(e, NULL) == v)
            return nd;
    }
    /* 17 significant digits always read back. */
    snprintf(e, sizeof(e), "%.16e", v);
    return split_e(e, digits, exp10);
}

int sx_format_float(char *buf, double v)
{
    /* Go's strconv.FormatFloat(v, 'f', -1, 64), which Prometheus uses for
     * sample values: the shortest digits that round-trip, never an
     * exponent. buf must hold SX_FLOAT_BUF bytes. */
    if (isnan(v))
        return (int)(strcpy(buf, "NaN"), 3);
    if (isinf(v))
        return v > 0 ? (int)(strcpy(buf, "+Inf"), 4) : (int)(strcpy(buf, "-Inf"), 4);
    char digits[24];
    int exp10 = 0, nd;
    bool neg = signbit(v);
    if (fabs(v) < 9007199254740992.0 && v != 0) {
        /* A whole number below 2^53 (most gauges and counters) prints as
         * its integer: its shortest digits, then zeros up to the point. */
        int64_t i = (int64_t)v;
        if ((double)i == v) {
            char *o = buf;
            if (neg)
                *o++ = '-';
            o += put_digits(neg ? (uint64_t)-i : (uint64_t)i, o);
            *o = '\0';
            return (int)(o - buf);
        }
    }
    if (v == 0) {
        digits[0] = '0';
        nd = 1;
    } else {
        nd = shortest_digits(fabs(v), digits, &exp10);
    }
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char *o = buf;
    if (neg)
        *o++ = '-';
    int point = exp10 + 1; /* digits before the decimal point */
    if (point <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -point; i++)
            *o++ = '0';
        for (int i = 0; i < nd; i++)
            *o++ = digits[i];
    } else {
        for (int i = 0; i < point; i++)
            *o++ = i < nd ? digits[i] : '0';
        if (nd > point) {
            *o++ = '.';
            for (int i = point; i < nd; i++)
                *o++ = digits[i];
        }
    }
    *o = '\0';
    return (int)(o - buf);
}

void sx_buf_prom_float(sx_buf_t *b, double v)
{
    int n = sx_format_float(sx_buf_reserve(b, SX_FLOAT_BUF), v);
    b->len += (size_t)n;
}

size_t sx_base64_encode(const void *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = in;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[k++] = tab[(v >> 18) & 63];
        out[k++] = tab[(v >> 12) & 63];
        out[k++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[k++] = i + 2 < n ? tab[v & 63] : '=';
    }
    return k;
}

void sx_buf_put_base64(sx_buf_t *b, const void *p, size_t n)
{
    char *o = sx_buf_reserve(b, SX_BASE64_LEN(n));
    b->len += sx_base64_encode(p, n, o);
}

void sx_buf_put_uvarint(sx_buf_t *b, uint64_t v)
{
    char *p = sx_buf_reserve(b, 10), *s = p;
    while (v >= 0x80) {
        *p++ = (char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (char)v;
    b->len += (size_t)(p - s);
}

void sx_buf_put_u32le(sx_buf_t *b, uint32_t v)
{
    unsigned char t[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    sx_buf_append(b, t, 4);
}

void sx_buf_put_u64le(sx_buf_t *b, uint64_t v)
{
    sx_buf_put_u32le(b, (uint32_t)v);
    sx_buf_put_u32le(b, (uint32_t)(v >> 32));
}
