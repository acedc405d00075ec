/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target for the sample codecs in src/storage/encoding/. The input is
 * first decoded as an sx_chunk block (and as a zstd frame), which must fail
 * cleanly or yield ascending timestamps. Then, if long enough, it is read
 * as samples: a style byte, a first timestamp and per-sample gaps and
 * values; these go through sx_chunk and sx_xchunk, and must come back bit
 * for bit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/encoding/encoding.h"

#define MAX_SAMPLES 4096

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

typedef struct reader {
    const uint8_t *p;
    size_t left;
} reader_t;

static uint64_t take(reader_t *r, size_t nbytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < nbytes && r->left; i++, r->left--)
        v |= (uint64_t)*r->p++ << (8 * i);
    return v;
}

static void decode_block(const uint8_t *data, size_t size)
{
    size_t n = 0, got = 0;
    sx_err_t err;
    if (sx_chunk_count((const char *)data, size, &n) != 0 || n > MAX_SAMPLES)
        n = 16; /* still run the decoder into a small buffer */
    /* Exact-size arrays so that ASan sees any write past cap. */
    int64_t *ts = malloc((n ? n : 1) * sizeof(*ts));
    double *v = malloc((n ? n : 1) * sizeof(*v));
    int rc = sx_chunk_decode((const char *)data, size, ts, v, n, &got, &err);
    CHECK(rc == 0 || rc == SX_ECORRUPT || rc == SX_EINVAL);
    if (rc == 0) {
        CHECK(got <= n);
        for (size_t i = 1; i < got; i++)
            CHECK(ts[i] > ts[i - 1]);
    }
    free(ts);
    free(v);

    sx_buf_t out = SX_BUF_INIT;
    rc = sx_zstd_decompress(data, size, 1 << 16, &out, &err);
    CHECK(rc == 0 || out.len == 0);
    CHECK(out.len <= 1 << 16);
    sx_buf_dispose(&out);
}

/* Next value in the given style. */
static double next_value(reader_t *r, unsigned style, double prev, uint64_t *acc)
{
    switch (style % 6) {
    case 0: { /* arbitrary bits: NaN payloads, -0.0, infinities */
        uint64_t b = take(r, 8);
        double v;
        memcpy(&v, &b, 8);
        return v;
    }
    case 1: /* integer counter */
        *acc += take(r, 2);
        return (double)*acc;
    case 2: { /* short decimal gauge */
        static const double scale[8] = {1, 10, 100, 1000, 1e4, 1e6, 1e9, 1e15};
        int64_t x = (int16_t)take(r, 2);
        return (double)x / scale[take(r, 1) & 7];
    }
    case 3: /* float sum drifting off decimals */
        return prev + (double)take(r, 3) / 1e6;
    case 4: { /* mostly repeats, sometimes a special value */
        uint64_t c = take(r, 1);
        if (c < 200)
            return prev;
        static const uint64_t special[4] = {0x7ff0000000000002ull, 0x7ff8000000000000ull,
                                            0x8000000000000000ull, 0x7ff0000000000000ull};
        double v;
        memcpy(&v, &special[c & 3], 8);
        return v;
    }
    default: /* pages */
        *acc += (take(r, 1) & 7) * 4096;
        return (double)*acc;
    }
}

static void roundtrip(const uint8_t *data, size_t size)
{
    reader_t r = {data, size};
    unsigned style = (unsigned)take(&r, 1);
    int64_t t = (int64_t)take(&r, 8);
    int64_t *ts = calloc(MAX_SAMPLES, sizeof(*ts));
    double *v = calloc(MAX_SAMPLES, sizeof(*v));
    size_t n = 0;
    uint64_t acc = 0;
    double prev = 0;
    while (r.left && n < MAX_SAMPLES) {
        if (n > 0) {
            uint64_t g = take(&r, 1);
            uint64_t gap = g < 128 ? 15000 : g < 192 ? 15000 + (g & 31) - 16
                                    : g < 250 ? take(&r, 2) + 1 : take(&r, 8) | 1;
            if (gap == 0 || (uint64_t)INT64_MAX - (uint64_t)t < gap)
                break;
            t = (int64_t)((uint64_t)t + gap);
        }
        ts[n] = t;
        v[n] = prev = next_value(&r, style >> 3 ? (unsigned)take(&r, 1) : style, prev, &acc);
        n++;
    }

    sx_buf_t b = SX_BUF_INIT;
    CHECK(sx_chunk_encode(ts, v, n, &b) == 0);
    int64_t *ts2 = malloc((n ? n : 1) * sizeof(*ts2));
    double *v2 = malloc((n ? n : 1) * sizeof(*v2));
    size_t got = 0;
    sx_err_t err;
    CHECK(sx_chunk_decode(b.ptr, b.len, ts2, v2, n, &got, &err) == 0);
    CHECK(got == n);
    CHECK(memcmp(ts, ts2, n * sizeof(*ts)) == 0);
    CHECK(memcmp(v, v2, n * sizeof(*v)) == 0);

    sx_xchunk_t c;
    sx_xchunk_init(&c);
    for (size_t i = 0; i < n; i++)
        CHECK(sx_xchunk_append(&c, ts[i], v[i]) == 0);
    sx_xchunk_iter_t it;
    sx_xchunk_iter_init(&it, &c);
    for (size_t i = 0; i < n; i++) {
        int64_t tt;
        double vv;
        CHECK(sx_xchunk_iter_next(&it, &tt, &vv));
        CHECK(tt == ts[i] && memcmp(&vv, &v[i], 8) == 0);
    }
    int64_t tt;
    double vv;
    CHECK(!sx_xchunk_iter_next(&it, &tt, &vv));
    sx_xchunk_dispose(&c);

    sx_buf_dispose(&b);
    free(ts);
    free(v);
    free(ts2);
    free(v2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_block(data, size);
    if (size >= 16)
        roundtrip(data, size);
    return 0;
}
