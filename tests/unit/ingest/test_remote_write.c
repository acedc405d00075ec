/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the remote write 1.0 decoder and encoder
 * (src/ingest/remote_write.c): round trips through the encoder, hand-built
 * wire bytes for the cases an encoder never produces (unknown fields, bad
 * framing), and the label rules with their error messages. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/ingest.h"
#include "model/metric.h"

/* ---- Helpers ---- */

typedef struct fixture {
    sx_arena_t arena;
    sx_metric_batch_t batch;
    sx_buf_t buf;
    sx_err_t err;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = test_calloc(1, sizeof(*f));
    sx_arena_init(&f->arena);
    sx_metric_batch_init(&f->batch, &f->arena);
    f->buf = SX_BUF_INIT;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sx_buf_dispose(&f->buf);
    sx_arena_dispose(&f->arena);
    test_free(f);
    return 0;
}

/* Decode f->buf into a fresh batch. */
static int decode(fixture_t *f)
{
    sx_metric_batch_init(&f->batch, &f->arena);
    sx_err_clear(&f->err);
    return sx_remote_write_decode(f->buf.ptr, f->buf.len, &f->batch, &f->err);
}

static sx_label_t lbl(const char *name, const char *value)
{
    return (sx_label_t){sx_str(name), sx_str(value)};
}

static uint64_t bits_of(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static double from_bits(uint64_t b)
{
    double v;
    memcpy(&v, &b, 8);
    return v;
}

static void assert_str_equal(sx_str_t s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

static void assert_err_contains(const fixture_t *f, const char *want)
{
    if (!strstr(f->err.msg, want))
        fail_msg("error \"%s\" does not contain \"%s\"", f->err.msg, want);
}

/* A tiny protobuf writer for hand-built messages. */
static void put_varint(sx_buf_t *b, uint64_t v)
{
    sx_buf_put_uvarint(b, v);
}

static void put_tag(sx_buf_t *b, unsigned num, unsigned wt)
{
    put_varint(b, ((uint64_t)num << 3) | wt);
}

static void put_bytes(sx_buf_t *b, unsigned num, const void *p, size_t n)
{
    put_tag(b, num, 2);
    put_varint(b, n);
    sx_buf_append(b, p, n);
}

static void put_sub(sx_buf_t *b, unsigned num, const sx_buf_t *sub)
{
    put_bytes(b, num, sub->ptr, sub->len);
}

static void put_string(sx_buf_t *b, unsigned num, const char *s)
{
    put_bytes(b, num, s, strlen(s));
}

static void put_double(sx_buf_t *b, unsigned num, double v)
{
    put_tag(b, num, 1);
    sx_buf_put_u64le(b, bits_of(v));
}

/* One unknown field of every wire type, numbered from base. */
static void put_unknown_fields(sx_buf_t *b, unsigned base)
{
    put_tag(b, base, 0);
    put_varint(b, UINT64_MAX);
    put_tag(b, base + 1, 1);
    sx_buf_put_u64le(b, 0x0123456789abcdefULL);
    put_string(b, base + 2, "ignored\x01\x02");
    put_tag(b, base + 3, 5);
    sx_buf_put_u32le(b, 0xdeadbeef);
    put_tag(b, 536870911, 0); /* the largest field number */
    put_varint(b, 1);
}

static void label_msg(sx_buf_t *b, const char *name, const char *value)
{
    sx_buf_t l = SX_BUF_INIT;
    put_string(&l, 1, name);
    put_string(&l, 2, value);
    put_sub(b, 1, &l);
    sx_buf_dispose(&l);
}

static void sample_msg(sx_buf_t *b, double v, int64_t ts)
{
    sx_buf_t s = SX_BUF_INIT;
    put_double(&s, 1, v);
    put_tag(&s, 2, 0);
    put_varint(&s, (uint64_t)ts);
    put_sub(b, 2, &s);
    sx_buf_dispose(&s);
}

/* A WriteRequest with one series {__name__="up", job="x"} and one sample. */
static void one_series(sx_buf_t *out)
{
    sx_buf_t ts = SX_BUF_INIT;
    label_msg(&ts, "__name__", "up");
    label_msg(&ts, "job", "x");
    sample_msg(&ts, 1.5, 1700000000000);
    put_sub(out, 1, &ts);
    sx_buf_dispose(&ts);
}

/* A histogram message with a few fields besides the timestamp. */
static void histogram_blob(sx_buf_t *h, int64_t ts)
{
    put_tag(h, 1, 0); /* count_int */
    put_varint(h, 42);
    put_double(h, 3, 12.5); /* sum */
    put_tag(h, 4, 0);       /* schema (sint32 zigzag) */
    put_varint(h, 6);
    sx_buf_t span = SX_BUF_INIT;
    put_tag(&span, 1, 0);
    put_varint(&span, 0);
    put_tag(&span, 2, 0);
    put_varint(&span, 2);
    put_sub(h, 11, &span); /* positive_spans */
    sx_buf_dispose(&span);
    const char deltas[] = {2, 4};
    put_bytes(h, 12, deltas, sizeof(deltas)); /* packed positive_deltas */
    put_tag(h, 15, 0);
    put_varint(h, (uint64_t)ts);
}

/* ---- Round trips ---- */

static void test_remote_write_round_trips_labels_and_samples(void **state)
{
    fixture_t *f = *state;
    sx_label_t l1[] = {lbl("__name__", "http_requests_total"), lbl("code", "200"),
                       lbl("job", "api"), lbl("path", "/v1/ünïcode")};
    sx_sample_t s1[] = {{1000, 1.0}, {2000, 2.5}, {3000, -7e300}, {INT64_MAX, 0.0}};
    sx_label_t l2[] = {lbl("__name__", "up")};
    sx_sample_t s2[] = {{0, 1.0}};
    sx_series_in_t *s = sx_metric_batch_add(&f->batch);
    *s = (sx_series_in_t){l1, 4, s1, 4, NULL, 0};
    s = sx_metric_batch_add(&f->batch);
    *s = (sx_series_in_t){l2, 1, s2, 1, NULL, 0};
    sx_remote_write_encode(&f->batch, &f->buf);

    assert_int_equal(decode(f), 0);
    assert_int_equal(f->batch.nseries, 2);
    assert_int_equal(f->batch.nsamples, 5);
    const sx_series_in_t *a = &f->batch.series[0];
    assert_int_equal(a->nlabels, 4);
    for (int i = 0; i < 4; i++) {
        assert_true(sx_str_eq(a->labels[i].name, l1[i].name));
        assert_true(sx_str_eq(a->labels[i].value, l1[i].value));
    }
    assert_int_equal(a->nsamples, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(a->samples[i].ts, s1[i].ts);
        assert_int_equal(bits_of(a->samples[i].v), bits_of(s1[i].v));
    }
    assert_int_equal(a->nhists, 0);
    const sx_series_in_t *b = &f->batch.series[1];
    assert_int_equal(b->nlabels, 1);
    assert_str_equal(b->labels[0].value, "up");
    assert_int_equal(b->nsamples, 1);
    assert_int_equal(b->samples[0].ts, 0);
    assert_true(b->samples[0].v == 1.0);
}

static void test_remote_write_encodes_published_field_numbers(void **state)
{
    fixture_t *f = *state;
    /* {__name__="up"} 1.0 @1000, worked out by hand from prompb/types.proto. */
    static const unsigned char want[] = {
        0x0a, 0x1e,                                                /* timeseries, 30 bytes */
        0x0a, 0x0e,                                                /* labels, 14 bytes */
        0x0a, 0x08, '_',  '_',  'n',  'a',  'm',  'e',  '_',  '_', /* name */
        0x12, 0x02, 'u',  'p',                                     /* value */
        0x12, 0x0c,                                                /* samples, 12 bytes */
        0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f,      /* value 1.0 */
        0x10, 0xe8, 0x07,                                          /* timestamp 1000 */
    };
    sx_label_t l[] = {lbl("__name__", "up")};
    sx_sample_t smp[] = {{1000, 1.0}};
    *sx_metric_batch_add(&f->batch) = (sx_series_in_t){l, 1, smp, 1, NULL, 0};
    sx_remote_write_encode(&f->batch, &f->buf);
    assert_int_equal(f->buf.len, sizeof(want));
    assert_memory_equal(f->buf.ptr, want, sizeof(want));
}

static void test_remote_write_round_trips_metadata(void **state)
{
    fixture_t *f = *state;
    sx_metric_meta_t *m = sx_metric_batch_add_meta(&f->batch);
    *m = (sx_metric_meta_t){sx_str("http_requests_total"), SX_MT_COUNTER,
                            sx_str("Requests served."), sx_str("requests")};
    m = sx_metric_batch_add_meta(&f->batch);
    *m = (sx_metric_meta_t){sx_str("temp"), SX_MT_GAUGE, SX_STR_LIT(""), sx_str("celsius")};
    m = sx_metric_batch_add_meta(&f->batch);
    *m = (sx_metric_meta_t){sx_str("x"), SX_MT_UNKNOWN, SX_STR_LIT(""), SX_STR_LIT("")};
    sx_remote_write_encode(&f->batch, &f->buf);

    assert_int_equal(decode(f), 0);
    assert_int_equal(f->batch.nseries, 0);
    assert_int_equal(f->batch.nmeta, 3);
    const sx_metric_meta_t *d = f->batch.meta;
    assert_str_equal(d[0].metric, "http_requests_total");
    assert_int_equal(d[0].type, SX_MT_COUNTER);
    assert_str_equal(d[0].help, "Requests served.");
    assert_str_equal(d[0].unit, "requests");
    assert_str_equal(d[1].metric, "temp");
    assert_int_equal(d[1].type, SX_MT_GAUGE);
    assert_int_equal(d[1].help.len, 0);
    assert_str_equal(d[1].unit, "celsius");
    assert_int_equal(d[2].type, SX_MT_UNKNOWN);
}

static void test_remote_write_round_trips_histograms(void **state)
{
    fixture_t *f = *state;
    sx_buf_t h1 = SX_BUF_INIT, h2 = SX_BUF_INIT;
    histogram_blob(&h1, 1700000000123);
    histogram_blob(&h2, -5);
    sx_label_t l[] = {lbl("__name__", "rpc_latency_seconds"), lbl("svc", "a")};
    sx_sample_t smp[] = {{10, 3.0}};
    sx_hist_sample_t hs[] = {{0, {h1.ptr, h1.len}}, {0, {h2.ptr, h2.len}}};
    *sx_metric_batch_add(&f->batch) = (sx_series_in_t){l, 2, smp, 1, hs, 2};
    sx_remote_write_encode(&f->batch, &f->buf);

    assert_int_equal(decode(f), 0);
    const sx_series_in_t *s = &f->batch.series[0];
    assert_int_equal(s->nhists, 2);
    assert_int_equal(s->nsamples, 1);
    assert_int_equal(f->batch.nsamples, 3);
    assert_int_equal(s->hists[0].ts, 1700000000123);
    assert_int_equal(s->hists[0].blob.len, h1.len);
    assert_memory_equal(s->hists[0].blob.ptr, h1.ptr, h1.len);
    assert_int_equal(s->hists[1].ts, -5);
    assert_memory_equal(s->hists[1].blob.ptr, h2.ptr, h2.len);
    /* Zero-copy: the blob is a slice of the body. */
    assert_true(s->hists[0].blob.ptr >= f->buf.ptr &&
                s->hists[0].blob.ptr + s->hists[0].blob.len <= f->buf.ptr + f->buf.len);
    sx_buf_dispose(&h1);
    sx_buf_dispose(&h2);
}

static void test_remote_write_histogram_without_timestamp_has_ts_zero(void **state)
{
    fixture_t *f = *state;
    sx_buf_t ts = SX_BUF_INIT, h = SX_BUF_INIT;
    label_msg(&ts, "__name__", "h");
    put_tag(&h, 1, 0);
    put_varint(&h, 1);
    put_sub(&ts, 4, &h);
    put_bytes(&ts, 4, "", 0); /* an empty Histogram is valid too */
    put_sub(&f->buf, 1, &ts);
    assert_int_equal(decode(f), 0);
    assert_int_equal(f->batch.series[0].nhists, 2);
    assert_int_equal(f->batch.series[0].hists[0].ts, 0);
    assert_int_equal(f->batch.series[0].hists[1].blob.len, 0);
    sx_buf_dispose(&ts);
    sx_buf_dispose(&h);
}

static void test_remote_write_preserves_stale_nan_bits(void **state)
{
    fixture_t *f = *state;
    const uint64_t patterns[] = {SX_STALE_NAN_BITS,    0x7ff8000000000001ULL, 0xfff8000000000000ULL,
                                 bits_of(INFINITY),    bits_of(-INFINITY),    bits_of(-0.0),
                                 0x0000000000000001ULL /* smallest subnormal */};
    enum { N = sizeof(patterns) / sizeof(patterns[0]) };
    sx_sample_t smp[N];
    for (size_t i = 0; i < N; i++)
        smp[i] = (sx_sample_t){(int64_t)i + 1, from_bits(patterns[i])};
    sx_label_t l[] = {lbl("__name__", "up")};
    *sx_metric_batch_add(&f->batch) = (sx_series_in_t){l, 1, smp, N, NULL, 0};
    sx_remote_write_encode(&f->batch, &f->buf);

    assert_int_equal(decode(f), 0);
    const sx_series_in_t *s = &f->batch.series[0];
    assert_int_equal(s->nsamples, N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(bits_of(s->samples[i].v), patterns[i]);
    assert_true(sx_is_stale_nan(s->samples[0].v));
}

static void test_remote_write_round_trips_negative_and_extreme_timestamps(void **state)
{
    fixture_t *f = *state;
    sx_sample_t smp[] = {{-1, 1}, {INT64_MIN, 2}, {INT64_MAX, 3}, {-1700000000000, 4}};
    sx_label_t l[] = {lbl("__name__", "t")};
    *sx_metric_batch_add(&f->batch) = (sx_series_in_t){l, 1, smp, 4, NULL, 0};
    sx_remote_write_encode(&f->batch, &f->buf);
    assert_int_equal(decode(f), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(f->batch.series[0].samples[i].ts, smp[i].ts);
}

static void test_remote_write_labels_point_into_the_body(void **state)
{
    fixture_t *f = *state;
    one_series(&f->buf);
    assert_int_equal(decode(f), 0);
    const sx_series_in_t *s = &f->batch.series[0];
    for (uint32_t i = 0; i < s->nlabels; i++) {
        assert_true(s->labels[i].name.ptr > f->buf.ptr);
        assert_true(s->labels[i].value.ptr + s->labels[i].value.len <= f->buf.ptr + f->buf.len);
    }
    assert_memory_equal(s->labels[1].name.ptr, "job\x12\x01x", 6); /* name, then the value field */
}

static void test_remote_write_encode_appends_to_output(void **state)
{
    fixture_t *f = *state;
    sx_buf_puts(&f->buf, "prefix");
    sx_label_t l[] = {lbl("__name__", "up")};
    sx_sample_t smp[] = {{5, 5}};
    *sx_metric_batch_add(&f->batch) = (sx_series_in_t){l, 1, smp, 1, NULL, 0};
    sx_remote_write_encode(&f->batch, &f->buf);
    assert_memory_equal(f->buf.ptr, "prefix", 6);
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &f->arena);
    assert_int_equal(sx_remote_write_decode(f->buf.ptr + 6, f->buf.len - 6, &b, &f->err), 0);
    assert_int_equal(b.nseries, 1);
}

static void test_remote_write_accepts_empty_body(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(sx_remote_write_decode(NULL, 0, &f->batch, &f->err), 0);
    assert_int_equal(sx_remote_write_decode("", 0, &f->batch, &f->err), 0);
    assert_int_equal(f->batch.nseries, 0);
    assert_int_equal(f->batch.nsamples, 0);
    /* An empty batch encodes to nothing. */
    sx_remote_write_encode(&f->batch, &f->buf);
    assert_int_equal(f->buf.len, 0);
}

static void test_remote_write_defaults_missing_sample_fields(void **state)
{
    fixture_t *f = *state;
    sx_buf_t ts = SX_BUF_INIT;
    label_msg(&ts, "__name__", "up");
    put_bytes(&ts, 2, "", 0); /* Sample{} */
    put_sub(&f->buf, 1, &ts);
    assert_int_equal(decode(f), 0);
    assert_int_equal(f->batch.series[0].nsamples, 1);
    assert_int_equal(f->batch.series[0].samples[0].ts, 0);
    assert_int_equal(bits_of(f->batch.series[0].samples[0].v), 0);
    sx_buf_dispose(&ts);
}

static void test_remote_write_keeps_series_without_samples(void **state)
{
    fixture_t *f = *state;
    sx_buf_t ts = SX_BUF_INIT;
    label_msg(&ts, "__name__", "up");
    put_sub(&f->buf, 1, &ts);
    assert_int_equal(decode(f), 0);
    assert_int_equal(f->batch.nseries, 1);
    assert_int_equal(f->batch.series[0].nsamples, 0);
    assert_int_equal(f->batch.nsamples, 0);
    sx_buf_dispose(&ts);
}

static void test_remote_write_last_duplicate_scalar_field_wins(void **state)
{
    fixture_t *f = *state;
    sx_buf_t ts = SX_BUF_INIT, l = SX_BUF_INIT, s = SX_BUF_INIT;
    put_string(&l, 1, "__name__");
    put_string(&l, 2, "first");
    put_string(&l, 2, "second");
    put_sub(&ts, 1, &l);
    put_double(&s, 1, 1.0);
    put_double(&s, 1, 2.0);
    put_sub(&ts, 2, &s);
    put_sub(&f->buf, 1, &ts);
    assert_int_equal(decode(f), 0);
    assert_str_equal(f->batch.series[0].labels[0].value, "second");
    assert_true(f->batch.series[0].samples[0].v == 2.0);
    sx_buf_dispose(&ts);
    sx_buf_dispose(&l);
    sx_buf_dispose(&s);
}

/* ---- Unknown fields ---- */

static void test_remote_write_skips_unknown_fields(void **state)
{
    fixture_t *f = *state;
    sx_buf_t ts = SX_BUF_INIT, l = SX_BUF_INIT, s = SX_BUF_INIT, h = SX_BUF_INIT, m = SX_BUF_INIT,
             ex = SX_BUF_INIT;

    put_unknown_fields(&l, 3);
    put_string(&l, 1, "__name__");
    put_unknown_fields(&l, 7);
    put_string(&l, 2, "up");
    put_unknown_fields(&ts, 5);
    put_sub(&ts, 1, &l);

    put_unknown_fields(&s, 3);
    put_double(&s, 1, 4.25);
    put_tag(&s, 2, 0);
    put_varint(&s, 77);
    put_unknown_fields(&s, 8);
    put_sub(&ts, 2, &s);

    /* An exemplar: labels, value, timestamp. Skipped as a whole. */
    label_msg(&ex, "trace_id", "abc");
    put_double(&ex, 2, 1.0);
    put_sub(&ts, 3, &ex);

    put_unknown_fields(&h, 20);
    put_tag(&h, 15, 0);
    put_varint(&h, 99);
    put_sub(&ts, 4, &h);
    put_unknown_fields(&ts, 10);

    put_unknown_fields(&m, 6);
    put_tag(&m, 1, 0);
    put_varint(&m, SX_MT_SUMMARY);
    put_string(&m, 2, "up");
    put_string(&m, 3, "field three is unused");

    put_unknown_fields(&f->buf, 4); /* WriteRequest field 2 (Cortex' source) included below */
    put_tag(&f->buf, 2, 0);
    put_varint(&f->buf, 1);
    put_sub(&f->buf, 1, &ts);
    put_sub(&f->buf, 3, &m);
    put_unknown_fields(&f->buf, 100);

    assert_int_equal(decode(f), 0);
    assert_int_equal(f->batch.nseries, 1);
    const sx_series_in_t *d = &f->batch.series[0];
    assert_int_equal(d->nlabels, 1);
    assert_str_equal(d->labels[0].name, "__name__");
    assert_str_equal(d->labels[0].value, "up");
    assert_int_equal(d->nsamples, 1);
    assert_true(d->samples[0].v == 4.25);
    assert_int_equal(d->samples[0].ts, 77);
    assert_int_equal(d->nhists, 1);
    assert_int_equal(d->hists[0].ts, 99);
    assert_int_equal(f->batch.nmeta, 1);
    assert_int_equal(f->batch.meta[0].type, SX_MT_SUMMARY);
    assert_str_equal(f->batch.meta[0].metric, "up");

    sx_buf_dispose(&ts);
    sx_buf_dispose(&l);
    sx_buf_dispose(&s);
    sx_buf_dispose(&h);
    sx_buf_dispose(&m);
    sx_buf_dispose(&ex);
}

static void test_remote_write_unknown_metadata_type_becomes_unknown(void **state)
{
    fixture_t *f = *state;
    const uint64_t types[] = {8, 1000, UINT64_MAX /* -1 as int32 */};
    for (size_t i = 0; i < 3; i++) {
        sx_buf_t m = SX_BUF_INIT;
        put_tag(&m, 1, 0);
        put_varint(&m, types[i]);
        put_string(&m, 2, "x");
        put_sub(&f->buf, 3, &m);
        sx_buf_dispose(&m);
    }
    assert_int_equal(decode(f), 0);
    assert_int_equal(f->batch.nmeta, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(f->batch.meta[i].type, SX_MT_UNKNOWN);
}

/* ---- Malformed framing ---- */

static void test_remote_write_rejects_truncated_input(void **state)
{
    fixture_t *f = *state;
    one_series(&f->buf);
    sx_buf_t h = SX_BUF_INIT;
    histogram_blob(&h, 1);
    /* Every cut inside the single top-level field must fail. */
    size_t full = f->buf.len;
    for (size_t n = 1; n < full; n++) {
        sx_metric_batch_init(&f->batch, &f->arena);
        int rc = sx_remote_write_decode(f->buf.ptr, n, &f->batch, &f->err);
        if (rc != SX_EPARSE)
            fail_msg("prefix of %zu bytes: rc %d", n, rc);
    }
    assert_int_equal(decode(f), 0);
    /* A truncated histogram inside an otherwise well-framed series. */
    sx_buf_clear(&f->buf);
    sx_buf_t ts = SX_BUF_INIT;
    label_msg(&ts, "__name__", "h");
    put_bytes(&ts, 4, h.ptr, h.len - 1);
    put_sub(&f->buf, 1, &ts);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "series 0: histogram 0: truncated varint");
    sx_buf_dispose(&h);
    sx_buf_dispose(&ts);
}

static void test_remote_write_rejects_truncated_fixed_fields(void **state)
{
    fixture_t *f = *state;
    sx_buf_t ts = SX_BUF_INIT, s = SX_BUF_INIT;
    label_msg(&ts, "__name__", "up");
    put_tag(&s, 1, 1);
    sx_buf_append(&s, "\0\0\0\0\0\0\xf0", 7); /* 7 of 8 bytes */
    put_sub(&ts, 2, &s);
    put_sub(&f->buf, 1, &ts);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "series 0: sample 0: truncated fixed64 field");

    sx_buf_clear(&f->buf);
    put_tag(&f->buf, 9, 5);
    sx_buf_append(&f->buf, "\1\2\3", 3);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "truncated fixed32 field at offset 0");
    sx_buf_dispose(&ts);
    sx_buf_dispose(&s);
}

static void test_remote_write_rejects_bad_varint(void **state)
{
    fixture_t *f = *state;
    /* Ten continuation bytes: no varint is that long. */
    put_tag(&f->buf, 9, 0);
    sx_buf_append(&f->buf, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "varint overflows 64 bits");

    /* A tenth byte carrying more than bit 63. */
    sx_buf_clear(&f->buf);
    put_tag(&f->buf, 9, 0);
    sx_buf_append(&f->buf, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "varint overflows 64 bits");

    /* The largest valid varint is fine. */
    sx_buf_clear(&f->buf);
    put_tag(&f->buf, 9, 0);
    sx_buf_append(&f->buf, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
    assert_int_equal(decode(f), 0);

    /* A varint cut off by the end of the body, and by the end of its message. */
    sx_buf_clear(&f->buf);
    sx_buf_append(&f->buf, "\x48\x80", 2);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "truncated varint at offset 0");

    sx_buf_t ts = SX_BUF_INIT, s = SX_BUF_INIT;
    label_msg(&ts, "__name__", "up");
    put_tag(&s, 2, 0);
    sx_buf_putc(&s, (char)0x80);
    put_sub(&ts, 2, &s);
    sx_buf_clear(&f->buf);
    put_sub(&f->buf, 1, &ts);
    put_tag(&f->buf, 9, 0);
    put_varint(&f->buf, 1);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "series 0: sample 0: truncated varint");

    /* A tag wider than 32 bits. */
    sx_buf_clear(&f->buf);
    put_varint(&f->buf, (uint64_t)1 << 35);
    put_varint(&f->buf, 0);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "field tag overflows 32 bits");
    sx_buf_dispose(&ts);
    sx_buf_dispose(&s);
}

static void test_remote_write_rejects_lengths_past_the_end(void **state)
{
    fixture_t *f = *state;
    const uint64_t lengths[] = {3, 1000, (uint64_t)INT64_MAX, UINT64_MAX, UINT64_MAX - 1};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        sx_buf_clear(&f->buf);
        put_tag(&f->buf, 1, 2);
        put_varint(&f->buf, lengths[i]);
        sx_buf_append(&f->buf, "\x0a\x00", 2);
        assert_int_equal(decode(f), SX_EPARSE);
        assert_err_contains(f, "runs past the end of its message");
    }
    /* A label whose length runs past its series (but not past the body). */
    sx_buf_clear(&f->buf);
    sx_buf_t ts = SX_BUF_INIT;
    put_tag(&ts, 1, 2);
    put_varint(&ts, 5);
    sx_buf_append(&ts, "\x0a\x08__", 4);
    put_sub(&f->buf, 1, &ts);
    put_string(&f->buf, 9, "padding padding padding");
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "series 0: length-delimited field runs past the end of its message");
    sx_buf_dispose(&ts);
}

static void test_remote_write_rejects_groups_and_invalid_wire_types(void **state)
{
    fixture_t *f = *state;
    for (unsigned wt = 3; wt <= 7; wt++) {
        if (wt == 5)
            continue;
        sx_buf_clear(&f->buf);
        put_tag(&f->buf, 7, wt);
        put_varint(&f->buf, 0);
        assert_int_equal(decode(f), SX_EPARSE);
        assert_err_contains(f, wt <= 4 ? "groups" : "invalid wire type");
    }
    /* Inside a nested message too. */
    sx_buf_clear(&f->buf);
    sx_buf_t ts = SX_BUF_INIT, l = SX_BUF_INIT;
    put_string(&l, 1, "__name__");
    put_tag(&l, 3, 3);
    put_sub(&ts, 1, &l);
    put_sub(&f->buf, 1, &ts);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "series 0: label 0: groups");
    /* Field number 0 is reserved by protobuf. */
    sx_buf_clear(&f->buf);
    sx_buf_append(&f->buf, "\x00\x00", 2);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "invalid field number 0");
    sx_buf_dispose(&ts);
    sx_buf_dispose(&l);
}

static void test_remote_write_rejects_wrong_wire_type_for_known_field(void **state)
{
    fixture_t *f = *state;
    /* Sample value sent as a varint. */
    sx_buf_t ts = SX_BUF_INIT, s = SX_BUF_INIT;
    label_msg(&ts, "__name__", "up");
    put_tag(&s, 1, 0);
    put_varint(&s, 1);
    put_sub(&ts, 2, &s);
    put_sub(&f->buf, 1, &ts);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "series 0: sample 0: field 1 has the wrong wire type 0");

    /* Timeseries sent as a varint. */
    sx_buf_clear(&f->buf);
    put_tag(&f->buf, 1, 0);
    put_varint(&f->buf, 1);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "field 1 has the wrong wire type 0 at offset 0");

    /* Histogram timestamp sent as fixed64. */
    sx_buf_clear(&f->buf);
    sx_buf_clear(&ts);
    sx_buf_t h = SX_BUF_INIT;
    label_msg(&ts, "__name__", "up");
    put_double(&h, 15, 1.0);
    put_sub(&ts, 4, &h);
    put_sub(&f->buf, 1, &ts);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "series 0: histogram 0: field 15 has the wrong wire type 1");
    sx_buf_dispose(&ts);
    sx_buf_dispose(&s);
    sx_buf_dispose(&h);
}

static void test_remote_write_error_names_series_index_and_offset(void **state)
{
    fixture_t *f = *state;
    one_series(&f->buf);
    one_series(&f->buf);
    size_t off = f->buf.len;
    put_tag(&f->buf, 1, 2);
    put_varint(&f->buf, 2);
    sx_buf_append(&f->buf, "\x12\x05", 2); /* a sample whose length runs past the series */
    assert_int_equal(decode(f), SX_EPARSE);
    char want[160];
    snprintf(want, sizeof(want),
             "series 2: length-delimited field runs past the end of its message at offset %zu",
             off + 2);
    assert_string_equal(f->err.msg, want);
}

/* ---- Labels ---- */

static int decode_labels(fixture_t *f, const sx_label_t *labels, size_t n)
{
    sx_buf_clear(&f->buf);
    one_series(&f->buf);
    sx_buf_t ts = SX_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        label_msg(&ts, labels[i].name.ptr, labels[i].value.ptr);
    sample_msg(&ts, 1, 1);
    put_sub(&f->buf, 1, &ts); /* this is series 1 */
    sx_buf_dispose(&ts);
    return decode(f);
}

static void test_remote_write_rejects_invalid_label_name(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "up"), lbl("bad-name", "x")};
    assert_int_equal(decode_labels(f, l, 2), SX_EBADLABEL);
    assert_string_equal(f->err.msg,
                        "series 1 (up{bad-name=\"x\"}): invalid label name \"bad-name\"");
    sx_label_t l2[] = {lbl("0abc", "x"), lbl("__name__", "up")};
    assert_int_equal(decode_labels(f, l2, 2), SX_EBADLABEL);
    assert_err_contains(f, "invalid label name \"0abc\"");
    sx_label_t l3[] = {lbl("__name__", "not a metric")};
    assert_int_equal(decode_labels(f, l3, 1), SX_EBADLABEL);
    assert_err_contains(f, "invalid metric name");
}

static void test_remote_write_rejects_unsorted_labels(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "up"), lbl("job", "x"), lbl("instance", "h:1")};
    assert_int_equal(decode_labels(f, l, 3), SX_EBADLABEL);
    assert_err_contains(f, "series 1 (up{job=\"x\", instance=\"h:1\"}): labels are not sorted");
}

static void test_remote_write_rejects_duplicate_labels(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "up"), lbl("job", "x"), lbl("job", "y")};
    assert_int_equal(decode_labels(f, l, 3), SX_EBADLABEL);
    assert_string_equal(f->err.msg,
                        "series 1 (up{job=\"x\", job=\"y\"}): duplicate label name \"job\"");
}

static void test_remote_write_rejects_missing_metric_name(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("job", "x")};
    assert_int_equal(decode_labels(f, l, 1), SX_EBADLABEL);
    assert_err_contains(f, "series 1 ({job=\"x\"}): series has no __name__ label");
    /* No labels at all. */
    sx_buf_clear(&f->buf);
    sx_buf_t ts = SX_BUF_INIT;
    sample_msg(&ts, 1, 1);
    put_sub(&f->buf, 1, &ts);
    assert_int_equal(decode(f), SX_EBADLABEL);
    assert_err_contains(f, "series 0 ({}): series has no labels");
    sx_buf_dispose(&ts);
}

static void test_remote_write_rejects_empty_label_value_and_bad_utf8(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "up"), lbl("job", "")};
    assert_int_equal(decode_labels(f, l, 2), SX_EBADLABEL);
    assert_err_contains(f, "label job has an empty value");
    sx_label_t l2[] = {lbl("__name__", "up"), lbl("job", "\xc3\x28")};
    assert_int_equal(decode_labels(f, l2, 2), SX_EBADLABEL);
    assert_err_contains(f, "not valid UTF-8");
}

static void test_remote_write_skips_label_checks_when_asked(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "up"), lbl("job", "x"), lbl("job", "y")};
    assert_int_equal(decode_labels(f, l, 3), SX_EBADLABEL);
    sx_metric_batch_init(&f->batch, &f->arena);
    f->batch.labels_unchecked = true;
    assert_int_equal(sx_remote_write_decode(f->buf.ptr, f->buf.len, &f->batch, &f->err), 0);
    assert_int_equal(f->batch.nseries, 2);
    assert_int_equal(f->batch.series[1].nlabels, 3);
    assert_int_equal(f->batch.nsamples, 2);
    /* Framing errors are still errors. */
    sx_buf_append(&f->buf, "\x0a\x05", 2);
    sx_metric_batch_init(&f->batch, &f->arena);
    f->batch.labels_unchecked = true;
    assert_int_equal(sx_remote_write_decode(f->buf.ptr, f->buf.len, &f->batch, &f->err), SX_EPARSE);
}

static void test_remote_write_error_cuts_long_label_sets(void **state)
{
    fixture_t *f = *state;
    char big[600];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sx_label_t l[] = {lbl("__name__", "up"), lbl("a", big), lbl("a", "x")};
    assert_int_equal(decode_labels(f, l, 3), SX_EBADLABEL);
    assert_err_contains(f, "...): duplicate label name \"a\"");
}

static void test_remote_write_rejects_invalid_utf8_in_metadata(void **state)
{
    fixture_t *f = *state;
    sx_buf_t m = SX_BUF_INIT;
    put_string(&m, 2, "up");
    put_string(&m, 4, "bad \xff help");
    put_sub(&f->buf, 3, &m);
    assert_int_equal(decode(f), SX_EPARSE);
    assert_err_contains(f, "metadata 0: field 4 is not valid UTF-8");
    sx_buf_dispose(&m);
}

/* ---- Scale ---- */

static void test_remote_write_round_trips_many_series(void **state)
{
    fixture_t *f = *state;
    enum { N = 3000 };
    char names[N][16];
    sx_label_t *labels = sx_arena_alloc(&f->arena, N * 2 * sizeof(sx_label_t));
    sx_sample_t *smp = sx_arena_alloc(&f->arena, N * 3 * sizeof(sx_sample_t));
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "%d", i);
        labels[2 * i] = lbl("__name__", "m");
        labels[2 * i + 1] = lbl("i", names[i]);
        for (int j = 0; j < 3; j++)
            smp[3 * i + j] = (sx_sample_t){(int64_t)i * 1000 + j, i * 0.5 + j};
        *sx_metric_batch_add(&f->batch) =
            (sx_series_in_t){&labels[2 * i], 2, &smp[3 * i], 3, NULL, 0};
    }
    sx_remote_write_encode(&f->batch, &f->buf);
    assert_int_equal(decode(f), 0);
    assert_int_equal(f->batch.nseries, N);
    assert_int_equal(f->batch.nsamples, 3 * N);
    for (int i = 0; i < N; i++) {
        const sx_series_in_t *s = &f->batch.series[i];
        assert_str_equal(s->labels[1].value, names[i]);
        assert_int_equal(s->samples[2].ts, (int64_t)i * 1000 + 2);
        assert_true(s->samples[2].v == i * 0.5 + 2);
    }
    /* Re-encoding the decoded batch gives the same bytes. */
    sx_buf_t again = SX_BUF_INIT;
    sx_remote_write_encode(&f->batch, &again);
    assert_int_equal(again.len, f->buf.len);
    assert_memory_equal(again.ptr, f->buf.ptr, again.len);
    sx_buf_dispose(&again);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_remote_write_round_trips_labels_and_samples),
        T(test_remote_write_encodes_published_field_numbers),
        T(test_remote_write_round_trips_metadata),
        T(test_remote_write_round_trips_histograms),
        T(test_remote_write_histogram_without_timestamp_has_ts_zero),
        T(test_remote_write_preserves_stale_nan_bits),
        T(test_remote_write_round_trips_negative_and_extreme_timestamps),
        T(test_remote_write_labels_point_into_the_body),
        T(test_remote_write_encode_appends_to_output),
        T(test_remote_write_accepts_empty_body),
        T(test_remote_write_defaults_missing_sample_fields),
        T(test_remote_write_keeps_series_without_samples),
        T(test_remote_write_last_duplicate_scalar_field_wins),
        T(test_remote_write_skips_unknown_fields),
        T(test_remote_write_unknown_metadata_type_becomes_unknown),
        T(test_remote_write_rejects_truncated_input),
        T(test_remote_write_rejects_truncated_fixed_fields),
        T(test_remote_write_rejects_bad_varint),
        T(test_remote_write_rejects_lengths_past_the_end),
        T(test_remote_write_rejects_groups_and_invalid_wire_types),
        T(test_remote_write_rejects_wrong_wire_type_for_known_field),
        T(test_remote_write_error_names_series_index_and_offset),
        T(test_remote_write_rejects_invalid_label_name),
        T(test_remote_write_rejects_unsorted_labels),
        T(test_remote_write_rejects_duplicate_labels),
        T(test_remote_write_rejects_missing_metric_name),
        T(test_remote_write_rejects_empty_label_value_and_bad_utf8),
        T(test_remote_write_skips_label_checks_when_asked),
        T(test_remote_write_error_cuts_long_label_sets),
        T(test_remote_write_rejects_invalid_utf8_in_metadata),
        T(test_remote_write_round_trips_many_series),
    };
    return cmocka_run_group_tests_name("remote_write", tests, NULL, NULL);
}
