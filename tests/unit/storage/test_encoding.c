/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for src/storage/encoding/: varints, the sx_chunk block codec, the
 * sx_xchunk head chunk and the zstd wrappers. Every round trip compares
 * values bit for bit, so NaN payloads and -0.0 count. Decoders get exact-size
 * heap copies of corrupt input, so ASan catches any read past the end.
 * test_encoding_reports_bytes_per_sample prints (does not assert) the sizes
 * for a synthetic node_exporter-like workload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "storage/encoding/encoding.h"

#define STALE_NAN 0x7ff0000000000002ull
#define QUIET_NAN 0x7ff8000000000001ull

/* ---- Helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

static uint64_t bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return u;
}

static double from_bits(uint64_t u)
{
    double v;
    memcpy(&v, &u, 8);
    return v;
}

static void expect_same(const int64_t *ts, const double *v, const int64_t *ts2, const double *v2,
                        size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (ts[i] != ts2[i])
            fail_msg("%s: ts[%zu] = %lld, want %lld", what, i, (long long)ts2[i],
                     (long long)ts[i]);
        if (bits_of(v[i]) != bits_of(v2[i]))
            fail_msg("%s: v[%zu] bits %016llx, want %016llx (%.17g)", what, i,
                     (unsigned long long)bits_of(v2[i]), (unsigned long long)bits_of(v[i]), v[i]);
    }
}

/* Encode as a block and decode from an exact-size copy. Returns the block
 * size. */
static size_t roundtrip_chunk(const int64_t *ts, const double *v, size_t n)
{
    sx_buf_t b = SX_BUF_INIT;
    assert_int_equal(sx_chunk_encode(ts, v, n, &b), 0);
    char *copy = malloc(b.len ? b.len : 1);
    memcpy(copy, b.ptr, b.len);
    size_t cnt = 99;
    assert_int_equal(sx_chunk_count(copy, b.len, &cnt), 0);
    assert_int_equal(cnt, n);
    int64_t *ts2 = malloc((n ? n : 1) * sizeof(*ts2));
    double *v2 = malloc((n ? n : 1) * sizeof(*v2));
    size_t got = 99;
    sx_err_t err = {0};
    int rc = sx_chunk_decode(copy, b.len, ts2, v2, n, &got, &err);
    if (rc)
        fail_msg("decode: %s", err.msg);
    assert_int_equal(got, n);
    expect_same(ts, v, ts2, v2, n, "chunk");
    size_t len = b.len;
    free(copy);
    free(ts2);
    free(v2);
    sx_buf_dispose(&b);
    return len;
}

/* Append to a head chunk, read it back, and re-encode it as a block. */
static size_t roundtrip_xchunk(const int64_t *ts, const double *v, size_t n)
{
    sx_xchunk_t c;
    sx_xchunk_init(&c);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sx_xchunk_append(&c, ts[i], v[i]), 0);
    assert_int_equal(sx_xchunk_count(&c), n);
    if (n) {
        assert_int_equal(sx_xchunk_first_ts(&c), ts[0]);
        assert_int_equal(sx_xchunk_last_ts(&c), ts[n - 1]);
    }
    int64_t *ts2 = malloc((n ? n : 1) * sizeof(*ts2));
    double *v2 = malloc((n ? n : 1) * sizeof(*v2));
    sx_xchunk_iter_t it;
    sx_xchunk_iter_init(&it, &c);
    size_t got = 0;
    while (got < n && sx_xchunk_iter_next(&it, &ts2[got], &v2[got]))
        got++;
    assert_int_equal(got, n);
    int64_t t;
    double x;
    assert_false(sx_xchunk_iter_next(&it, &t, &x));
    expect_same(ts, v, ts2, v2, n, "xchunk");

    sx_buf_t b = SX_BUF_INIT;
    assert_int_equal(sx_xchunk_encode_chunk(&c, &b), 0);
    sx_err_t err = {0};
    assert_int_equal(sx_chunk_decode(b.ptr, b.len, ts2, v2, n, &got, &err), 0);
    assert_int_equal(got, n);
    expect_same(ts, v, ts2, v2, n, "xchunk->chunk");
    sx_buf_dispose(&b);

    size_t len = sx_xchunk_len(&c);
    free(ts2);
    free(v2);
    sx_xchunk_dispose(&c);
    return len;
}

static void roundtrip_both(const int64_t *ts, const double *v, size_t n)
{
    roundtrip_chunk(ts, v, n);
    roundtrip_xchunk(ts, v, n > SX_XCHUNK_MAX_SAMPLES ? SX_XCHUNK_MAX_SAMPLES : n);
}

static int64_t *regular_ts(size_t n, int64_t start, int64_t step)
{
    int64_t *ts = malloc((n ? n : 1) * sizeof(*ts));
    for (size_t i = 0; i < n; i++)
        ts[i] = start + (int64_t)i * step;
    return ts;
}

/* ---- Varints ---- */

static void test_uvarint_roundtrips_edge_values(void **state)
{
    const uint64_t cases[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, (1ull << 63) - 1,
                              1ull << 63, UINT64_MAX};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char p[SX_UVARINT_MAX];
        size_t n = sx_uvarint_put(p, cases[i]);
        assert_int_equal(n, sx_uvarint_len(cases[i]));
        uint64_t got = 0;
        assert_int_equal(sx_uvarint_get(p, n, &got), n);
        assert_true(got == cases[i]);
        /* Every shorter prefix is truncated. */
        for (size_t k = 0; k < n; k++)
            assert_int_equal(sx_uvarint_get(p, k, &got), 0);
    }
    const int64_t scases[] = {0, -1, 1, -64, 64, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof(scases) / sizeof(scases[0]); i++) {
        char p[SX_UVARINT_MAX];
        size_t n = sx_varint_put(p, scases[i]);
        int64_t got = 0;
        assert_int_equal(sx_varint_get(p, n, &got), n);
        assert_true(got == scases[i]);
    }
}

static void test_uvarint_rejects_overlong_input(void **state)
{
    uint64_t v = 7;
    /* 11 continuation bytes: longer than any 64-bit value. */
    const char eleven[11] = {(char)0x80, (char)0x80, (char)0x80, (char)0x80, (char)0x80, (char)0x80,
                             (char)0x80, (char)0x80, (char)0x80, (char)0x80, 0};
    assert_int_equal(sx_uvarint_get(eleven, sizeof(eleven), &v), 0);
    /* Tenth byte above 1 overflows 64 bits. */
    const char big[10] = {(char)0xff, (char)0xff, (char)0xff, (char)0xff, (char)0xff,
                          (char)0xff, (char)0xff, (char)0xff, (char)0xff, 2};
    assert_int_equal(sx_uvarint_get(big, sizeof(big), &v), 0);
    assert_true(v == 7);
}

static void test_zigzag_maps_small_magnitudes_to_small_codes(void **state)
{
    assert_true(sx_zigzag_enc(0) == 0);
    assert_true(sx_zigzag_enc(-1) == 1);
    assert_true(sx_zigzag_enc(1) == 2);
    assert_true(sx_zigzag_enc(-2) == 3);
    assert_true(sx_zigzag_enc(INT64_MIN) == UINT64_MAX);
    assert_true(sx_zigzag_dec(UINT64_MAX) == INT64_MIN);
    assert_true(sx_zigzag_dec(sx_zigzag_enc(INT64_MAX)) == INT64_MAX);
}

/* ---- Blocks and head chunks: round trips ---- */

static void test_chunk_roundtrips_random_bit_patterns(void **state)
{
    size_t n = 2000;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    double *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = from_bits(rnd());
    roundtrip_both(ts, v, n);
    free(ts);
    free(v);
}

static void test_chunk_roundtrips_counters(void **state)
{
    size_t n = 1000;
    int64_t *ts = regular_ts(n, 1700000000000, 30000);
    double *v = malloc(n * sizeof(*v));
    double c = 123456789;
    for (size_t i = 0; i < n; i++) {
        c += (double)rnd_below(3) ? (double)rnd_below(100000) : 0;
        if (i == 500)
            c = 17; /* counter reset */
        v[i] = c;
    }
    roundtrip_both(ts, v, n);
    /* Counters of 4 KiB pages: the common divisor shrinks them. */
    for (size_t i = 0; i < n; i++)
        v[i] = (double)(4096 * (100000 + (int64_t)i * 3 + (int64_t)rnd_below(5)));
    roundtrip_both(ts, v, n);
    free(ts);
    free(v);
}

static void test_chunk_roundtrips_decimal_gauges(void **state)
{
    size_t n = 1000;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    double *v = malloc(n * sizeof(*v));
    for (unsigned digits = 1; digits <= 6; digits++) {
        double scale = pow(10, digits);
        int64_t x = 4567;
        for (size_t i = 0; i < n; i++) {
            x += (int64_t)rnd_below(201) - 100;
            v[i] = (double)x / scale;
        }
        roundtrip_both(ts, v, n);
    }
    /* Values like 0.1 + 0.2 that are not the short decimal they look like. */
    for (size_t i = 0; i < n; i++)
        v[i] = 0.1 * (double)(i % 7) + 0.2;
    roundtrip_both(ts, v, n);
    /* Mixed scales in one block, including scales above 15. */
    const double mix[] = {0.5, 1, 1.25, 3.14159, 1e-9, 123456.789, 0.1234567890123,
                          1e15, 9007199254740992.0, 1e300, 5e-324, 0.3333333333333333};
    for (size_t i = 0; i < n; i++)
        v[i] = mix[rnd_below(sizeof(mix) / sizeof(mix[0]))];
    roundtrip_both(ts, v, n);
    free(ts);
    free(v);
}

/* Decimal walks with integers across 2^50 and up to 2^53, at scales 0 to
 * 6, with counter-like runs, drops and XOR-coded values in between: the
 * head iterator carries a value's integer to the next decimal delta
 * instead of recomputing it from the value. */
static void test_chunk_roundtrips_large_decimal_walks(void **state)
{
    (void)state;
    size_t n = 2000;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    double *v = malloc(n * sizeof(*v));
    const int64_t starts[] = {(INT64_C(1) << 50) - 300, -(INT64_C(1) << 50) + 300,
                              (INT64_C(1) << 53) - 5000, (INT64_C(1) << 49)};
    for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++)
        for (unsigned k = 0; k <= 6; k++) {
            double scale = pow(10, k);
            int64_t x = starts[s];
            for (size_t i = 0; i < n; i++) {
                uint64_t r = rnd_below(100);
                if (r < 3)
                    v[i] = 1.0 / 3.0 + (double)i; /* not decimal: XOR */
                else {
                    x += r < 60 ? (int64_t)rnd_below(7) : (int64_t)rnd_below(201) - 100;
                    if (x >= (INT64_C(1) << 53) || x <= -(INT64_C(1) << 53))
                        x = starts[s];
                    v[i] = (double)x / scale;
                }
            }
            roundtrip_both(ts, v, n);
        }
    free(ts);
    free(v);
}

static void test_chunk_roundtrips_constant_blocks(void **state)
{
    size_t n = 500;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    double *v = malloc(n * sizeof(*v));
    const uint64_t consts[] = {bits_of(0.0), bits_of(-0.0), bits_of(1.0), bits_of(0.1),
                               bits_of(-1e300), STALE_NAN, QUIET_NAN, bits_of(INFINITY),
                               bits_of(-INFINITY), bits_of(DBL_MIN)};
    for (size_t c = 0; c < sizeof(consts) / sizeof(consts[0]); c++) {
        for (size_t i = 0; i < n; i++)
            v[i] = from_bits(consts[c]);
        size_t len = roundtrip_chunk(ts, v, n);
        assert_true(len < 32); /* header, regular timestamps, one value */
        roundtrip_xchunk(ts, v, n);
    }
    free(ts);
    free(v);
}

static void test_chunk_keeps_nan_payloads_infinities_and_negative_zero(void **state)
{
    size_t n = 400;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    double *v = malloc(n * sizeof(*v));
    const uint64_t specials[] = {STALE_NAN, QUIET_NAN, 0xfff8000000000000ull,
                                 0x7ff0000000000001ull, bits_of(-0.0), bits_of(INFINITY),
                                 bits_of(-INFINITY), 1 /* denormal */};
    /* Mostly decimals with a few specials: the exception list path. */
    for (size_t i = 0; i < n; i++)
        v[i] = (double)(int64_t)(i * 7 % 1000) / 100;
    for (size_t j = 0; j < sizeof(specials) / sizeof(specials[0]); j++)
        v[rnd_below(n)] = from_bits(specials[j]);
    v[0] = from_bits(STALE_NAN);
    v[n - 1] = from_bits(STALE_NAN);
    roundtrip_both(ts, v, n);
    /* Mostly specials: the XOR path. */
    for (size_t i = 0; i < n; i++)
        v[i] = from_bits(specials[rnd_below(sizeof(specials) / sizeof(specials[0]))]);
    roundtrip_both(ts, v, n);
    /* The stale marker and an ordinary NaN alternate and stay distinct. */
    for (size_t i = 0; i < n; i++)
        v[i] = from_bits(i % 2 ? STALE_NAN : 0x7ff8000000000000ull);
    roundtrip_both(ts, v, n);
    free(ts);
    free(v);
}

static void test_chunk_roundtrips_empty_and_single_sample(void **state)
{
    int64_t t = 1700000000123;
    double v = 42.5;
    roundtrip_both(&t, &v, 1);
    roundtrip_chunk(NULL, NULL, 0);
    t = INT64_MIN;
    v = from_bits(STALE_NAN);
    roundtrip_both(&t, &v, 1);
    int64_t ts2[2] = {5, 6};
    double v2[2] = {-0.0, 0.0};
    roundtrip_both(ts2, v2, 2);
}

static void test_chunk_roundtrips_large_blocks(void **state)
{
    size_t n = 300000;
    int64_t *ts = regular_ts(n, 1600000000000, 10000);
    double *v = malloc(n * sizeof(*v));
    double c = 0;
    for (size_t i = 0; i < n; i++) {
        ts[i] += (int64_t)rnd_below(7);
        c += (double)rnd_below(1000) / 100;
        v[i] = i % 1000 == 999 ? from_bits(STALE_NAN) : c;
    }
    roundtrip_both(ts, v, n);
    /* The largest block allowed, and one more is refused. */
    size_t max = SX_CHUNK_MAX_SAMPLES;
    int64_t *big = regular_ts(max + 1, 0, 1);
    double *bv = calloc(max + 1, sizeof(*bv));
    roundtrip_chunk(big, bv, max);
    sx_buf_t b = SX_BUF_INIT;
    assert_int_equal(sx_chunk_encode(big, bv, max + 1, &b), SX_EINVAL);
    assert_int_equal(b.len, 0);
    sx_buf_dispose(&b);
    free(big);
    free(bv);
    free(ts);
    free(v);
}

static void test_chunk_roundtrips_irregular_timestamps(void **state)
{
    size_t n = 3000;
    int64_t *ts = malloc(n * sizeof(*ts));
    double *v = malloc(n * sizeof(*v));
    int64_t t = 1700000000000;
    for (size_t i = 0; i < n; i++) {
        switch (rnd_below(4)) {
        case 0: t += 1; break;
        case 1: t += 15000 + (int64_t)rnd_below(50); break;
        case 2: t += (int64_t)rnd_below(1000000) + 1; break;
        default: t += 15000; break;
        }
        ts[i] = t;
        v[i] = (double)(i % 50);
    }
    roundtrip_both(ts, v, n);
    /* Second-precision timestamps: deltas share the factor 1000. */
    for (size_t i = 0; i < n; i++)
        ts[i] = (1700000000 + (int64_t)i * 10 + (int64_t)rnd_below(3)) * 1000;
    roundtrip_both(ts, v, n);
    free(ts);
    free(v);
}

static void test_chunk_roundtrips_negative_timestamps(void **state)
{
    size_t n = 1000;
    int64_t *ts = regular_ts(n, -7500000, 15000); /* crosses 1970 */
    double *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = (double)i * 0.5;
    roundtrip_both(ts, v, n);
    for (size_t i = 0; i < n; i++)
        ts[i] = -62135596800000 + (int64_t)i * 60000 + (int64_t)rnd_below(1000); /* year 1 */
    roundtrip_both(ts, v, n);
    free(ts);
    free(v);
}

static void test_chunk_roundtrips_huge_timestamp_gaps(void **state)
{
    int64_t ts[] = {INT64_MIN, INT64_MIN + 1, -1, 0, 1, 1000, INT64_MAX / 2, INT64_MAX - 1,
                    INT64_MAX};
    size_t n = sizeof(ts) / sizeof(ts[0]);
    double v[sizeof(ts) / sizeof(ts[0])];
    for (size_t i = 0; i < n; i++)
        v[i] = (double)i;
    roundtrip_both(ts, v, n);
    int64_t two[] = {INT64_MIN, INT64_MAX};
    roundtrip_both(two, v, 2);
    /* Gaps around the int32 clamp of the head chunk's delta state. */
    int64_t gaps[] = {0, (int64_t)INT32_MAX, (int64_t)INT32_MAX * 2 + 5,
                      (int64_t)INT32_MAX * 3 + 5, (int64_t)INT32_MAX * 3 + 6,
                      (int64_t)INT32_MAX * 5, INT64_MAX / 3};
    roundtrip_both(gaps, v, sizeof(gaps) / sizeof(gaps[0]));
}

static void test_chunk_encode_rejects_unsorted_timestamps(void **state)
{
    int64_t dup[] = {1, 2, 2};
    int64_t back[] = {1, 3, 2};
    double v[] = {1, 2, 3};
    sx_buf_t b = SX_BUF_INIT;
    assert_int_equal(sx_chunk_encode(dup, v, 3, &b), SX_EINVAL);
    assert_int_equal(sx_chunk_encode(back, v, 3, &b), SX_EINVAL);
    assert_int_equal(b.len, 0);
    sx_buf_dispose(&b);
}

static void test_chunk_encode_appends_after_existing_bytes(void **state)
{
    int64_t ts[] = {10, 20, 30};
    double v[] = {1.5, 2.5, 3.5};
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_append(&b, "xyz", 3);
    assert_int_equal(sx_chunk_encode(ts, v, 3, &b), 0);
    size_t first = b.len;
    assert_int_equal(sx_chunk_encode(ts, v, 3, &b), 0);
    assert_memory_equal(b.ptr, "xyz", 3);
    int64_t ts2[3];
    double v2[3];
    size_t n;
    sx_err_t err;
    assert_int_equal(sx_chunk_decode(b.ptr + 3, first - 3, ts2, v2, 3, &n, &err), 0);
    expect_same(ts, v, ts2, v2, 3, "first");
    assert_int_equal(sx_chunk_decode(b.ptr + first, b.len - first, ts2, v2, 3, &n, &err), 0);
    expect_same(ts, v, ts2, v2, 3, "second");
    sx_buf_dispose(&b);
}

static void test_chunk_regular_counter_costs_under_two_bytes_per_sample(void **state)
{
    size_t n = 480;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    double *v = malloc(n * sizeof(*v));
    double c = 1e9;
    for (size_t i = 0; i < n; i++) {
        c += (double)(1000 + rnd_below(100));
        v[i] = c;
    }
    size_t len = roundtrip_chunk(ts, v, n);
    assert_true(len < 2 * n);
    free(ts);
    free(v);
}

/* ---- Blocks: corrupt input ---- */

static void make_blocks(sx_buf_t *blocks, size_t *ends, size_t nb)
{
    size_t n = 300;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    double *v = malloc(n * sizeof(*v));
    for (size_t b = 0; b < nb; b++) {
        for (size_t i = 0; i < n; i++) {
            ts[i] += b % 2 ? (int64_t)rnd_below(3) : 0;
            switch (b % 4) {
            case 0: v[i] = (double)(i * 3); break;
            case 1: v[i] = from_bits(rnd()); break;
            case 2: v[i] = (double)(int64_t)rnd_below(10000) / 100; break;
            default: v[i] = i % 10 ? 1.0 : from_bits(STALE_NAN); break;
            }
            if (i)
                ts[i] = ts[i] > ts[i - 1] ? ts[i] : ts[i - 1] + 1;
        }
        assert_int_equal(sx_chunk_encode(ts, v, n, blocks), 0);
        ends[b] = blocks->len;
    }
    free(ts);
    free(v);
}

static void test_chunk_decode_rejects_every_truncation(void **state)
{
    sx_buf_t blocks = SX_BUF_INIT;
    size_t ends[4];
    make_blocks(&blocks, ends, 4);
    int64_t ts[300];
    double v[300];
    size_t start = 0;
    for (size_t b = 0; b < 4; b++) {
        size_t len = ends[b] - start;
        for (size_t cut = 0; cut < len; cut++) {
            char *copy = malloc(cut ? cut : 1);
            memcpy(copy, blocks.ptr + start, cut);
            size_t n;
            sx_err_t err = {0};
            int rc = sx_chunk_decode(copy, cut, ts, v, 300, &n, &err);
            if (rc == 0)
                fail_msg("block %zu cut at %zu of %zu decoded", b, cut, len);
            assert_int_equal(rc, SX_ECORRUPT);
            assert_true(err.msg[0] != 0);
            free(copy);
        }
        start = ends[b];
    }
    sx_buf_dispose(&blocks);
}

static void test_chunk_decode_survives_corrupted_bytes(void **state)
{
    sx_buf_t blocks = SX_BUF_INIT;
    size_t ends[4];
    make_blocks(&blocks, ends, 4);
    size_t cap = 400;
    int64_t *ts = malloc(cap * sizeof(*ts));
    double *v = malloc(cap * sizeof(*v));
    size_t start = 0;
    for (size_t b = 0; b < 4; b++) {
        size_t len = ends[b] - start;
        for (int iter = 0; iter < 3000; iter++) {
            char *copy = malloc(len);
            memcpy(copy, blocks.ptr + start, len);
            int flips = 1 + (int)rnd_below(4);
            for (int f = 0; f < flips; f++)
                copy[rnd_below(len)] ^= (char)(1u << rnd_below(8));
            size_t n = 0;
            sx_err_t err = {0};
            int rc = sx_chunk_decode(copy, len, ts, v, cap, &n, &err);
            assert_true(rc == 0 || rc == SX_ECORRUPT || rc == SX_EINVAL);
            if (rc == 0) {
                assert_true(n <= cap);
                for (size_t i = 1; i < n; i++)
                    assert_true(ts[i] > ts[i - 1]);
            }
            free(copy);
        }
        start = ends[b];
    }
    /* Arbitrary bytes after a valid tag. */
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 1 + rnd_below(40);
        char *copy = malloc(len);
        for (size_t i = 0; i < len; i++)
            copy[i] = (char)rnd();
        copy[0] = (char)0xc1;
        size_t n;
        sx_err_t err = {0};
        (void)sx_chunk_decode(copy, len, ts, v, cap, &n, &err);
        free(copy);
    }
    free(ts);
    free(v);
    sx_buf_dispose(&blocks);
}

static void test_chunk_decode_refuses_too_small_capacity(void **state)
{
    int64_t ts[] = {1, 2, 3, 4};
    double v[] = {1, 2, 3, 4};
    sx_buf_t b = SX_BUF_INIT;
    assert_int_equal(sx_chunk_encode(ts, v, 4, &b), 0);
    int64_t ts2[3];
    double v2[3];
    size_t n;
    sx_err_t err = {0};
    assert_int_equal(sx_chunk_decode(b.ptr, b.len, ts2, v2, 3, &n, &err), SX_EINVAL);
    sx_buf_dispose(&b);
}

static void test_chunk_decode_rejects_trailing_bytes_and_bad_tags(void **state)
{
    int64_t ts[] = {1, 2, 3, 4};
    double v[] = {1, 2.5, 3, 4};
    sx_buf_t b = SX_BUF_INIT;
    assert_int_equal(sx_chunk_encode(ts, v, 4, &b), 0);
    sx_buf_putc(&b, 0);
    int64_t ts2[4];
    double v2[4];
    size_t n;
    sx_err_t err = {0};
    assert_int_equal(sx_chunk_decode(b.ptr, b.len, ts2, v2, 4, &n, &err), SX_ECORRUPT);
    b.ptr[0] = 0x00;
    assert_int_equal(sx_chunk_decode(b.ptr, b.len - 1, ts2, v2, 4, &n, &err), SX_ECORRUPT);
    assert_int_equal(sx_chunk_count(b.ptr, b.len - 1, &n), SX_ECORRUPT);
    /* A header claiming more samples than any block may hold. */
    char huge[] = {(char)0xc1, (char)0xff, (char)0xff, (char)0xff, 0x7f};
    assert_int_equal(sx_chunk_count(huge, sizeof(huge), &n), SX_ECORRUPT);
    assert_int_equal(sx_chunk_count(huge, 0, &n), SX_ECORRUPT);
    assert_int_equal(sx_chunk_count(NULL, 0, &n), SX_ECORRUPT);
    assert_int_equal(sx_chunk_decode(NULL, 0, ts2, v2, 4, &n, &err), SX_ECORRUPT);
    sx_buf_dispose(&b);
}

/* ---- Head chunks ---- */

static void test_xchunk_rejects_timestamps_not_after_the_last(void **state)
{
    sx_xchunk_t c;
    sx_xchunk_init(&c);
    assert_int_equal(sx_xchunk_append(&c, 100, 1), 0);
    assert_int_equal(sx_xchunk_append(&c, 100, 2), SX_EINVAL);
    assert_int_equal(sx_xchunk_append(&c, 99, 2), SX_EINVAL);
    assert_int_equal(sx_xchunk_append(&c, 101, 2), 0);
    assert_int_equal(sx_xchunk_count(&c), 2);
    sx_xchunk_dispose(&c);
}

static void test_xchunk_fills_up_at_max_samples(void **state)
{
    sx_xchunk_t c;
    sx_xchunk_init(&c);
    for (uint32_t i = 0; i < SX_XCHUNK_MAX_SAMPLES; i++)
        assert_int_equal(sx_xchunk_append(&c, (int64_t)i * 1000, (double)(i % 3)), 0);
    assert_int_equal(sx_xchunk_append(&c, INT64_MAX, 1), SX_ELIMIT);
    assert_int_equal(sx_xchunk_count(&c), SX_XCHUNK_MAX_SAMPLES);
    sx_xchunk_dispose(&c);
    /* Worst-case values fill the byte budget first, and fail cleanly. */
    sx_xchunk_init(&c);
    int rc = 0;
    uint32_t n = 0;
    while ((rc = sx_xchunk_append(&c, (int64_t)n * 7919 * 7919 * 7919 + (int64_t)rnd_below(99999),
                                  from_bits(rnd()))) == 0)
        n++;
    assert_int_equal(rc, SX_ELIMIT);
    size_t len = sx_xchunk_len(&c);
    assert_true(len <= 65535u * 16u);
    assert_int_equal(sx_xchunk_count(&c), n);
    sx_xchunk_dispose(&c);
}

static void test_xchunk_shrink_keeps_data_and_allows_appends(void **state)
{
    size_t n = 300;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    double *v = malloc(n * sizeof(*v));
    sx_xchunk_t c;
    sx_xchunk_init(&c);
    assert_int_equal(sx_xchunk_mem(&c), 0);
    for (size_t i = 0; i < n; i++) {
        v[i] = (double)(int64_t)rnd_below(100000) / 1000;
        assert_int_equal(sx_xchunk_append(&c, ts[i], v[i]), 0);
        if (i % 50 == 0)
            sx_xchunk_shrink(&c);
        assert_true(sx_xchunk_mem(&c) >= sx_xchunk_len(&c));
    }
    sx_xchunk_shrink(&c);
    assert_true(sx_xchunk_mem(&c) < sx_xchunk_len(&c) + 16);
    sx_xchunk_iter_t it;
    sx_xchunk_iter_init(&it, &c);
    for (size_t i = 0; i < n; i++) {
        int64_t t;
        double x;
        assert_true(sx_xchunk_iter_next(&it, &t, &x));
        assert_true(t == ts[i] && bits_of(x) == bits_of(v[i]));
    }
    sx_xchunk_dispose(&c);
    free(ts);
    free(v);
}

static void test_xchunk_roundtrips_scale_changes(void **state)
{
    /* Integers, then decimals that raise the scale, then a long decimal
     * that pushes it high, then short decimals that bring it back down. */
    size_t n = 400;
    int64_t *ts = regular_ts(n, 1700000000000, 15000);
    double *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        if (i < 100)
            v[i] = (double)(i * 10);
        else if (i < 200)
            v[i] = (double)(int64_t)(i * 37) / 100;
        else if (i == 200)
            v[i] = 0.123456789012;
        else if (i < 300)
            v[i] = (double)(int64_t)(i * 37) / 10;
        else
            v[i] = i % 3 ? from_bits(rnd()) : (double)(int64_t)i / 8;
    }
    roundtrip_both(ts, v, n);
    free(ts);
    free(v);
}

static void test_xchunk_regular_scrapes_cost_under_two_bytes_per_sample(void **state)
{
    size_t n = 240;
    int64_t *ts = regular_ts(n, 1700000000000, 30000);
    double *v = malloc(n * sizeof(*v));
    int64_t ticks = 100000;
    for (size_t i = 0; i < n; i++) {
        ticks += (int64_t)rnd_below(1500); /* cpu seconds in 1/100 s */
        v[i] = (double)ticks / 100;
    }
    size_t len = roundtrip_xchunk(ts, v, n);
    free(ts);
    free(v);
    if (len >= 2 * n)
        fail_msg("%zu bytes for %zu samples", len, n);
}

/* ---- zstd ---- */

static void test_zstd_roundtrips_and_appends(void **state)
{
    sx_buf_t in = SX_BUF_INIT, z = SX_BUF_INIT, out = SX_BUF_INIT;
    for (int i = 0; i < 100000; i++)
        sx_buf_putc(&in, (char)("abcab"[i % 5] + (i % 1000 == 0)));
    assert_int_equal(sx_zstd_compress(in.ptr, in.len, 3, &z), 0);
    assert_true(z.len < in.len / 10);
    sx_buf_puts(&out, "pre");
    sx_err_t err = {0};
    assert_int_equal(sx_zstd_decompress(z.ptr, z.len, in.len, &out, &err), 0);
    assert_int_equal(out.len, in.len + 3);
    assert_memory_equal(out.ptr + 3, in.ptr, in.len);
    /* An empty input compresses to a frame that decompresses to nothing,
     * also into a buffer that has never been allocated (fuzzer finding). */
    sx_buf_clear(&z);
    sx_buf_dispose(&out);
    assert_int_equal(sx_zstd_compress("", 0, 1, &z), 0);
    assert_int_equal(sx_zstd_decompress(z.ptr, z.len, 0, &out, &err), 0);
    assert_int_equal(out.len, 0);
    sx_buf_dispose(&in);
    sx_buf_dispose(&z);
    sx_buf_dispose(&out);
}

static void test_zstd_decompress_enforces_the_limit(void **state)
{
    sx_buf_t in = SX_BUF_INIT, z = SX_BUF_INIT, out = SX_BUF_INIT;
    for (int i = 0; i < 50000; i++)
        sx_buf_putc(&in, 'a');
    assert_int_equal(sx_zstd_compress(in.ptr, in.len, 1, &z), 0);
    sx_err_t err = {0};
    sx_buf_puts(&out, "keep");
    assert_int_equal(sx_zstd_decompress(z.ptr, z.len, in.len - 1, &out, &err), SX_ETOOLARGE);
    assert_int_equal(out.len, 4);
    assert_int_equal(sx_zstd_decompress(z.ptr, z.len, in.len, &out, &err), 0);
    assert_int_equal(out.len, 4 + in.len);

    /* A streamed frame without a declared size is limited while decoding. */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    sx_buf_clear(&z);
    sx_buf_reserve(&z, ZSTD_compressBound(in.len) + 64);
    ZSTD_outBuffer ob = {z.ptr, z.cap, 0};
    ZSTD_inBuffer ib = {in.ptr, in.len, 0};
    size_t r = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end);
    assert_int_equal(r, 0);
    z.len = ob.pos;
    ZSTD_freeCCtx(cc);
    assert_true(ZSTD_getFrameContentSize(z.ptr, z.len) == ZSTD_CONTENTSIZE_UNKNOWN ||
                ZSTD_getFrameContentSize(z.ptr, z.len) == in.len);
    sx_buf_clear(&out);
    assert_int_equal(sx_zstd_decompress(z.ptr, z.len, in.len - 1, &out, &err), SX_ETOOLARGE);
    assert_int_equal(out.len, 0);
    assert_int_equal(sx_zstd_decompress(z.ptr, z.len, in.len, &out, &err), 0);
    assert_memory_equal(out.ptr, in.ptr, in.len);

    /* Two concatenated frames decode as one stream. */
    sx_buf_clear(&z);
    sx_buf_clear(&out);
    assert_int_equal(sx_zstd_compress("hello ", 6, 1, &z), 0);
    assert_int_equal(sx_zstd_compress("world", 5, 1, &z), 0);
    assert_int_equal(sx_zstd_decompress(z.ptr, z.len, 100, &out, &err), 0);
    assert_int_equal(out.len, 11);
    assert_memory_equal(out.ptr, "hello world", 11);
    sx_buf_dispose(&in);
    sx_buf_dispose(&z);
    sx_buf_dispose(&out);
}

static void test_zstd_decompress_rejects_garbage_and_truncation(void **state)
{
    sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_err_t err = {0};
    assert_int_equal(sx_zstd_decompress("", 0, 100, &out, &err), SX_ECORRUPT);
    assert_int_equal(sx_zstd_decompress("not zstd at all", 15, 100, &out, &err), SX_ECORRUPT);
    char text[2000];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (char)('a' + rnd_below(26));
    assert_int_equal(sx_zstd_compress(text, sizeof(text), 3, &z), 0);
    for (size_t cut = 0; cut < z.len; cut++) {
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, z.ptr, cut);
        sx_buf_clear(&out);
        assert_int_not_equal(sx_zstd_decompress(copy, cut, sizeof(text), &out, &err), 0);
        assert_int_equal(out.len, 0);
        free(copy);
    }
    sx_buf_dispose(&z);
    sx_buf_dispose(&out);
}

/* ---- Bytes per sample (printed) ---- */

enum {
    W_COUNTER,
    W_BURSTY,
    W_PAGES,
    W_CPU,
    W_LOAD,
    W_TEMP,
    W_MEMFREE,
    W_FSUM,
    W_CONST,
    W_NKINDS
};

static const char *const kind_names[W_NKINDS] = {"counter", "bursty",  "pages", "cpu",  "load",
                                                 "temp",    "memfree", "fsum",  "const"};
/* Percent of series of each kind. */
static const int kind_mix[W_NKINDS] = {20, 10, 10, 15, 10, 5, 10, 5, 15};

/* One synthetic node_exporter-like series of the given kind. */
static void gen_series(int kind, size_t n, int64_t t0, int64_t step, int jitter, int64_t *ts,
                       double *v)
{
    int64_t x = (int64_t)rnd_below(1000000000);
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        ts[i] = t0 + (int64_t)i * step + (jitter ? (int64_t)rnd_below((uint64_t)jitter) : 0);
        switch (kind) {
        case W_COUNTER: /* bytes or packets, idle half the time */
            if (rnd_below(2))
                x += (int64_t)rnd_below(20000);
            v[i] = (double)x;
            break;
        case W_BURSTY: /* log-uniform increments from 1 to 10^6 */
            x += (int64_t)exp((double)rnd_below(1000000) / 1000000 * log(1e6));
            v[i] = (double)x;
            break;
        case W_PAGES: /* memory in pages of 4 KiB */
            x += (int64_t)rnd_below(5) - 2;
            v[i] = (double)(x * 4096);
            break;
        case W_CPU: /* cpu seconds, USER_HZ 100 */
            x += (int64_t)rnd_below(1500);
            v[i] = (double)x / 100;
            break;
        case W_LOAD: /* load average: 2 decimals, a random walk in [0, 8] */
            x = i ? x + (int64_t)rnd_below(21) - 10 : 100;
            x = x < 0 ? -x : x > 800 ? 1600 - x : x;
            v[i] = (double)x / 100;
            break;
        case W_TEMP: /* temperatures: 3 decimals, occasional jumps */
            x = i ? x + (int64_t)rnd_below(501) - 250 : 45000;
            if (rnd_below(200) == 0)
                x += 20000 - (int64_t)rnd_below(40000);
            v[i] = (double)x / 1000;
            break;
        case W_MEMFREE: /* free bytes: large integers moving a lot */
            x += (int64_t)rnd_below(2000001) - 1000000;
            v[i] = (double)(x < 0 ? -x : x);
            break;
        case W_FSUM: /* a histogram's _sum: float additions, not short decimals */
            f = i ? f + (double)rnd_below(1000000) / 1e6 : 1234.5;
            v[i] = f;
            break;
        default: /* info metrics, up, flags */
            v[i] = (double)(t0 % 3);
            break;
        }
    }
}

/* A rough VictoriaMetrics-like baseline for comparison: values as decimal
 * integers with one exponent per block (at most 15 digits, which VM also
 * keeps; longer values lose precision there and here), delta or
 * delta-of-delta (whichever is smaller) as zigzag varints, timestamps as
 * delta-of-delta varints; the caller compresses the column with zstd. */
static void vm_like_block(const int64_t *ts, const double *v, size_t n, sx_buf_t *out)
{
    int k = 0;
    int64_t *x = malloc(n * sizeof(*x));
    for (size_t i = 0; i < n; i++) {
        double s = v[i];
        int kk = 0;
        while (kk < 15 && s != floor(s) && fabs(v[i]) * pow(10, kk + 1) < 1e15)
            s = v[i] * pow(10, ++kk);
        k = kk > k ? kk : k;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = (int64_t)llround(v[i] * pow(10, k));
    sx_buf_putc(out, (char)k);
    sx_varint_append(out, ts[0]);
    sx_varint_append(out, n > 1 ? ts[1] - ts[0] : 0);
    for (size_t i = 2; i < n; i++)
        sx_varint_append(out, (ts[i] - ts[i - 1]) - (ts[i - 1] - ts[i - 2]));
    size_t d1 = 0, d2 = 0;
    for (size_t i = 1; i < n; i++) {
        char tmp[SX_UVARINT_MAX];
        d1 += sx_varint_put(tmp, x[i] - x[i - 1]);
        if (i > 1)
            d2 += sx_varint_put(tmp, (x[i] - x[i - 1]) - (x[i - 1] - x[i - 2]));
    }
    sx_varint_append(out, x[0]);
    if (n > 1 && d2 < d1) {
        sx_varint_append(out, x[1] - x[0]);
        for (size_t i = 2; i < n; i++)
            sx_varint_append(out, (x[i] - x[i - 1]) - (x[i - 1] - x[i - 2]));
    } else {
        for (size_t i = 1; i < n; i++)
            sx_varint_append(out, x[i] - x[i - 1]);
    }
    free(x);
}

static size_t zstd_len(const sx_buf_t *b)
{
    sx_buf_t z = SX_BUF_INIT;
    assert_int_equal(sx_zstd_compress(b->ptr, b->len, 3, &z), 0);
    size_t len = z.len;
    sx_buf_dispose(&z);
    return len;
}

static void report(const char *name, int jitter, size_t per_block)
{
    size_t series = 400, n = 960; /* 4 hours at 15 s */
    int64_t *ts = malloc(n * sizeof(*ts));
    double *v = malloc(n * sizeof(*v));
    sx_buf_t col[W_NKINDS], vm[W_NKINDS];
    size_t samples[W_NKINDS] = {0}, xlen[W_NKINDS] = {0}, xmem = 0, total = 0;
    for (int k = 0; k < W_NKINDS; k++)
        col[k] = vm[k] = SX_BUF_INIT;
    for (size_t s = 0; s < series; s++) {
        int kind = 0, pick = (int)(s * 100 / series);
        for (int acc = kind_mix[0]; pick >= acc && kind < W_NKINDS - 1; acc += kind_mix[++kind])
            ;
        gen_series(kind, n, 1700000000000, 15000, jitter, ts, v);
        for (size_t i = 0; i < n; i += per_block) {
            size_t m = n - i < per_block ? n - i : per_block;
            assert_int_equal(sx_chunk_encode(ts + i, v + i, m, &col[kind]), 0);
            vm_like_block(ts + i, v + i, m, &vm[kind]);
        }
        samples[kind] += n;
        total += n;
        /* Head chunks hold 2 hours (480 samples). */
        for (size_t i = 0; i < n; i += 480) {
            sx_xchunk_t c;
            sx_xchunk_init(&c);
            for (size_t j = i; j < i + 480 && j < n; j++)
                assert_int_equal(sx_xchunk_append(&c, ts[j], v[j]), 0);
            xlen[kind] += sx_xchunk_len(&c);
            xmem += sx_xchunk_mem(&c) + sizeof(c);
            sx_xchunk_dispose(&c);
        }
    }
    size_t raw = 0, z = 0, vmz = 0, xl = 0;
    printf("[bytes/sample] %s, %zu samples/block, xchunk 480 samples\n", name, per_block);
    printf("[bytes/sample]   %-8s %8s %8s %8s %8s\n", "kind", "chunk", "+zstd", "vm-like",
           "xchunk");
    for (int k = 0; k < W_NKINDS; k++) {
        size_t zl = zstd_len(&col[k]), vl = zstd_len(&vm[k]);
        printf("[bytes/sample]   %-8s %8.3f %8.3f %8.3f %8.3f\n", kind_names[k],
               (double)col[k].len / (double)samples[k], (double)zl / (double)samples[k],
               (double)vl / (double)samples[k], (double)xlen[k] / (double)samples[k]);
        xl += xlen[k];
        raw += col[k].len;
        z += zl;
        vmz += vl;
        sx_buf_dispose(&col[k]);
        sx_buf_dispose(&vm[k]);
    }
    printf("[bytes/sample]   %-8s %8.3f %8.3f %8.3f %8.3f\n", "all", (double)raw / (double)total,
           (double)z / (double)total, (double)vmz / (double)total, (double)xl / (double)total);
    printf("[bytes/sample]   xchunk memory with spare capacity and the struct: %.3f\n",
           (double)xmem / (double)total);
    free(ts);
    free(v);
}

static void test_encoding_reports_bytes_per_sample(void **state)
{
    report("regular 15s scrapes", 0, 120);
    report("regular 15s scrapes", 0, 960);
    report("15s scrapes with 0-20 ms jitter", 20, 960);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uvarint_roundtrips_edge_values),
        cmocka_unit_test(test_uvarint_rejects_overlong_input),
        cmocka_unit_test(test_zigzag_maps_small_magnitudes_to_small_codes),
        cmocka_unit_test(test_chunk_roundtrips_random_bit_patterns),
        cmocka_unit_test(test_chunk_roundtrips_counters),
        cmocka_unit_test(test_chunk_roundtrips_large_decimal_walks),
        cmocka_unit_test(test_chunk_roundtrips_decimal_gauges),
        cmocka_unit_test(test_chunk_roundtrips_constant_blocks),
        cmocka_unit_test(test_chunk_keeps_nan_payloads_infinities_and_negative_zero),
        cmocka_unit_test(test_chunk_roundtrips_empty_and_single_sample),
        cmocka_unit_test(test_chunk_roundtrips_large_blocks),
        cmocka_unit_test(test_chunk_roundtrips_irregular_timestamps),
        cmocka_unit_test(test_chunk_roundtrips_negative_timestamps),
        cmocka_unit_test(test_chunk_roundtrips_huge_timestamp_gaps),
        cmocka_unit_test(test_chunk_encode_rejects_unsorted_timestamps),
        cmocka_unit_test(test_chunk_encode_appends_after_existing_bytes),
        cmocka_unit_test(test_chunk_regular_counter_costs_under_two_bytes_per_sample),
        cmocka_unit_test(test_chunk_decode_rejects_every_truncation),
        cmocka_unit_test(test_chunk_decode_survives_corrupted_bytes),
        cmocka_unit_test(test_chunk_decode_refuses_too_small_capacity),
        cmocka_unit_test(test_chunk_decode_rejects_trailing_bytes_and_bad_tags),
        cmocka_unit_test(test_xchunk_rejects_timestamps_not_after_the_last),
        cmocka_unit_test(test_xchunk_fills_up_at_max_samples),
        cmocka_unit_test(test_xchunk_shrink_keeps_data_and_allows_appends),
        cmocka_unit_test(test_xchunk_roundtrips_scale_changes),
        cmocka_unit_test(test_xchunk_regular_scrapes_cost_under_two_bytes_per_sample),
        cmocka_unit_test(test_zstd_roundtrips_and_appends),
        cmocka_unit_test(test_zstd_decompress_enforces_the_limit),
        cmocka_unit_test(test_zstd_decompress_rejects_garbage_and_truncation),
        cmocka_unit_test(test_encoding_reports_bytes_per_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
