/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the VictoriaMetrics JSON-lines encoder and decoder
 * (src/ingest/vm_import.c): exact export lines, export -> import round
 * trips down to the bits of every value (stale markers included) and the
 * histogram blobs, VictoriaMetrics' own spellings, and errors that name
 * the line. */
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
#include "ingest/vm_import.h"
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

static int decode_str(fixture_t *f, const char *s)
{
    sx_metric_batch_init(&f->batch, &f->arena);
    sx_err_clear(&f->err);
    return sx_vm_import_decode(s, strlen(s), &f->batch, &f->err);
}

static int decode_buf(fixture_t *f)
{
    sx_metric_batch_init(&f->batch, &f->arena);
    sx_err_clear(&f->err);
    return sx_vm_import_decode(f->buf.ptr, f->buf.len, &f->batch, &f->err);
}

static sx_label_t lbl(const char *name, const char *value)
{
    return (sx_label_t){sx_str(name), sx_str(value)};
}

static uint64_t bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static void assert_line(fixture_t *f, const char *want)
{
    sx_buf_putc(&f->buf, '\0');
    assert_string_equal(f->buf.ptr, want);
    f->buf.len--;
}

/* A remote-write Histogram message: sum (field 3, double) and timestamp
 * (field 15, varint). */
static size_t hist_msg(unsigned char *p, double sum, uint64_t ts)
{
    size_t n = 0;
    p[n++] = 0x19;
    memcpy(p + n, &sum, 8);
    n += 8;
    p[n++] = 0x78;
    do {
        p[n++] = (unsigned char)((ts & 0x7f) | (ts >= 0x80 ? 0x80 : 0));
        ts >>= 7;
    } while (ts);
    return n;
}

/* ---- Encoder ---- */

static void test_export_line_matches_victoriametrics_shape(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "up"), lbl("job", "x")};
    int64_t ts[] = {1700000000000, 1700000015000};
    double v[] = {1, 2.5};
    sx_vm_export_line(&f->buf, l, 2, ts, v, 2, NULL, 0);
    assert_line(f, "{\"metric\":{\"__name__\":\"up\",\"job\":\"x\"},\"values\":[1,2.5],"
                   "\"timestamps\":[1700000000000,1700000015000]}\n");
}

static void test_export_writes_special_values_as_victoriametrics(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "m")};
    int64_t ts[] = {1, 2, 3, 4, 5};
    double v[] = {sx_stale_nan(), NAN, INFINITY, -INFINITY, -0.0};
    sx_vm_export_line(&f->buf, l, 1, ts, v, 5, NULL, 0);
    assert_line(f, "{\"metric\":{\"__name__\":\"m\"},"
                   "\"values\":[null,\"NaN\",\"Infinity\",\"-Infinity\",-0],"
                   "\"timestamps\":[1,2,3,4,5]}\n");
}

static void test_export_escapes_label_values(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "m"), lbl("path", "a\"b\\c\nd")};
    int64_t ts[] = {1};
    double v[] = {1};
    sx_vm_export_line(&f->buf, l, 2, ts, v, 1, NULL, 0);
    assert_line(f, "{\"metric\":{\"__name__\":\"m\",\"path\":\"a\\\"b\\\\c\\nd\"},\"values\":[1],"
                   "\"timestamps\":[1]}\n");
}

static void test_export_skips_series_without_samples(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "m")};
    sx_vm_export_line(&f->buf, l, 1, NULL, NULL, 0, NULL, 0);
    assert_int_equal(f->buf.len, 0);
}

static void test_export_writes_histograms_in_extra_keys(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "h")};
    sx_hist_sample_t h = {5, {"\x78\x05", 2}};
    sx_vm_export_line(&f->buf, l, 1, NULL, NULL, 0, &h, 1);
    assert_line(f, "{\"metric\":{\"__name__\":\"h\"},\"values\":[],\"timestamps\":[],"
                   "\"histograms\":[\"eAU=\"],\"histogram_timestamps\":[5]}\n");
}

/* ---- Round trips ---- */

static void test_round_trip_keeps_every_value_bit_exact(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "rt"), lbl("instance", "h:9100"), lbl("z", "\xc3\xa9t\xc3\xa9")};
    int64_t ts[] = {-1000, 0, 1, 1700000000123, 4102444800000, 9007199254740992, 7, 8, 9, 10, 11, 12};
    double v[] = {0.1, -0.0, 1e300, 5e-324, 2.2250738585072014e-308, 123456789.123456789,
                  sx_stale_nan(), INFINITY, -INFINITY, 1.7976931348623157e308, -42, 1e21};
    size_t n = sizeof(v) / sizeof(v[0]);
    sx_vm_export_line(&f->buf, l, 3, ts, v, n, NULL, 0);
    assert_int_equal(decode_buf(f), 0);
    assert_int_equal(f->batch.nseries, 1);
    assert_int_equal(f->batch.nsamples, n);
    sx_series_in_t *s = &f->batch.series[0];
    assert_int_equal(s->nlabels, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_true(sx_str_eq(s->labels[i].name, l[i].name));
        assert_true(sx_str_eq(s->labels[i].value, l[i].value));
    }
    assert_int_equal(s->nsamples, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s->samples[i].ts, ts[i]);
        assert_int_equal(bits(s->samples[i].v), bits(v[i]));
    }
}

static void test_round_trip_plain_nan_stays_nan_not_stale(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "n")};
    int64_t ts[] = {1, 2};
    double v[] = {NAN, sx_stale_nan()};
    sx_vm_export_line(&f->buf, l, 1, ts, v, 2, NULL, 0);
    assert_int_equal(decode_buf(f), 0);
    sx_series_in_t *s = &f->batch.series[0];
    assert_true(isnan(s->samples[0].v));
    assert_false(sx_is_stale_nan(s->samples[0].v));
    assert_true(sx_is_stale_nan(s->samples[1].v));
}

static void test_round_trip_histograms(void **state)
{
    fixture_t *f = *state;
    sx_label_t l[] = {lbl("__name__", "hist"), lbl("le", "x")};
    unsigned char m[3][32];
    sx_hist_sample_t h[3];
    /* Blob sizes 11, 12 and 13 cover every base64 padding. */
    int64_t stamps[3] = {1, 1700000000000, 300};
    for (int i = 0; i < 3; i++) {
        size_t n = hist_msg(m[i], 1.5 * i, (uint64_t)stamps[i]);
        h[i] = (sx_hist_sample_t){stamps[i], {(const char *)m[i], n}};
    }
    int64_t ts[] = {10};
    double v[] = {3};
    sx_vm_export_line(&f->buf, l, 2, ts, v, 1, h, 3);
    assert_int_equal(decode_buf(f), 0);
    sx_series_in_t *s = &f->batch.series[0];
    assert_int_equal(s->nsamples, 1);
    assert_int_equal(s->nhists, 3);
    assert_int_equal(f->batch.nsamples, 4);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s->hists[i].ts, h[i].ts);
        assert_int_equal(s->hists[i].blob.len, h[i].blob.len);
        assert_memory_equal(s->hists[i].blob.ptr, h[i].blob.ptr, h[i].blob.len);
    }
}

static void test_round_trip_many_lines(void **state)
{
    fixture_t *f = *state;
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        sx_label_t l[] = {lbl("__name__", name)};
        int64_t ts[] = {i};
        double v[] = {i * 0.5};
        sx_vm_export_line(&f->buf, l, 1, ts, v, 1, NULL, 0);
    }
    assert_int_equal(decode_buf(f), 0);
    assert_int_equal(f->batch.nseries, 100);
    assert_true(sx_str_eq_cstr(f->batch.series[99].labels[0].value, "m99"));
    assert_true(f->batch.series[99].samples[0].v == 49.5);
}

/* ---- Decoder ---- */

static void test_import_sorts_labels_and_drops_empty_values(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(decode_str(f, "{\"metric\":{\"job\":\"x\",\"empty\":\"\",\"__name__\":\"up\","
                                   "\"a\":\"1\"},\"values\":[1],\"timestamps\":[5]}"),
                     0);
    sx_series_in_t *s = &f->batch.series[0];
    assert_int_equal(s->nlabels, 3);
    assert_true(sx_str_eq_cstr(s->labels[0].name, "__name__"));
    assert_true(sx_str_eq_cstr(s->labels[1].name, "a"));
    assert_true(sx_str_eq_cstr(s->labels[2].name, "job"));
}

static void test_import_reads_victoriametrics_spellings(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(decode_str(f, "{\"metric\":{\"__name__\":\"m\"},"
                                   "\"values\":[\"Inf\",\"-inf\",\"+Infinity\",\"nan\",1.5e3,7],"
                                   "\"timestamps\":[1,2,3,4,5,6e0]}\r\n"),
                     0);
    sx_series_in_t *s = &f->batch.series[0];
    assert_int_equal(s->nsamples, 6);
    assert_true(isinf(s->samples[0].v) && s->samples[0].v > 0);
    assert_true(isinf(s->samples[1].v) && s->samples[1].v < 0);
    assert_true(isinf(s->samples[2].v) && s->samples[2].v > 0);
    assert_true(isnan(s->samples[3].v) && !sx_is_stale_nan(s->samples[3].v));
    assert_true(s->samples[4].v == 1500);
    assert_true(s->samples[5].v == 7);
    assert_int_equal(s->samples[5].ts, 6);
}

static void test_import_skips_blank_lines_and_ignores_unknown_keys(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(decode_str(f, "\n  \r\n{\"metric\":{\"__name__\":\"a\"},\"values\":[1],"
                                   "\"timestamps\":[1],\"extra\":{\"x\":[1,2]}}\n\n"),
                     0);
    assert_int_equal(f->batch.nseries, 1);
    assert_int_equal(decode_str(f, ""), 0);
    assert_int_equal(f->batch.nseries, 0);
}

static void test_import_error_names_the_line(void **state)
{
    fixture_t *f = *state;
    const char *body = "{\"metric\":{\"__name__\":\"a\"},\"values\":[1],\"timestamps\":[1]}\n"
                       "\n"
                       "{\"metric\":{\"__name__\":\"a\"},\"values\":[1,2],\"timestamps\":[1]}\n";
    assert_int_equal(decode_str(f, body), SX_EPARSE);
    assert_non_null(strstr(f->err.msg, "line 3: "));
    assert_non_null(strstr(f->err.msg, "array size must match"));
}

static void test_import_rejects_broken_json(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(decode_str(f, "{\"metric\":{\"__name__\":\"a\"},\"values\":[1]"), SX_EPARSE);
    assert_non_null(strstr(f->err.msg, "line 1: cannot parse JSON"));
    assert_int_equal(decode_str(f, "[1,2]"), SX_EPARSE);
    assert_string_equal(f->err.msg, "line 1: not a JSON object");
    assert_int_equal(decode_str(f, "{\"values\":[1],\"timestamps\":[1]}"), SX_EPARSE);
    assert_string_equal(f->err.msg, "line 1: missing \"metric\" object");
    assert_int_equal(decode_str(f, "{\"metric\":{\"__name__\":\"a\",\"__name__\":\"b\"},"
                                   "\"values\":[1],\"timestamps\":[1]}"),
                     SX_EPARSE);
}

static void test_import_rejects_bad_labels(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(decode_str(f, "{\"metric\":{\"__name__\":\"a\",\"bad-name\":\"x\"},"
                                   "\"values\":[1],\"timestamps\":[1]}"),
                     SX_EBADLABEL);
    assert_string_equal(f->err.msg, "line 1: invalid label name \"bad-name\"");
    assert_int_equal(decode_str(f, "{\"metric\":{\"job\":\"a\"},\"values\":[1],\"timestamps\":[1]}"),
                     SX_EBADLABEL);
    assert_string_equal(f->err.msg, "line 1: series has no __name__ label");
    assert_int_equal(decode_str(f, "{\"metric\":{},\"values\":[1],\"timestamps\":[1]}"),
                     SX_EBADLABEL);
    assert_int_equal(decode_str(f, "{\"metric\":{\"__name__\":1},\"values\":[1],\"timestamps\":[1]}"),
                     SX_EPARSE);
    assert_string_equal(f->err.msg, "line 1: label \"__name__\": value is not a string");
}

static void test_import_rejects_bad_values_and_timestamps(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(decode_str(f, "{\"metric\":{\"__name__\":\"a\"},\"values\":[true],"
                                   "\"timestamps\":[1]}"),
                     SX_EPARSE);
    assert_string_equal(f->err.msg,
                        "line 1: value 0: not a number, null, \"NaN\" or \"Infinity\"");
    assert_int_equal(decode_str(f, "{\"metric\":{\"__name__\":\"a\"},\"values\":[\"12\"],"
                                   "\"timestamps\":[1]}"),
                     SX_EPARSE);
    assert_int_equal(decode_str(f, "{\"metric\":{\"__name__\":\"a\"},\"values\":[1,2],"
                                   "\"timestamps\":[1,1.5]}"),
                     SX_EPARSE);
    assert_string_equal(f->err.msg,
                        "line 1: timestamp 1: not an integer number of milliseconds");
    assert_int_equal(decode_str(f, "{\"metric\":{\"__name__\":\"a\"},\"values\":[1],"
                                   "\"timestamps\":[1e19]}"),
                     SX_EPARSE);
    assert_int_equal(decode_str(f, "{\"metric\":{\"__name__\":\"a\"},\"values\":[1]}"), SX_EPARSE);
    assert_string_equal(f->err.msg, "line 1: \"timestamps\" is missing or not an array");
    assert_int_equal(decode_str(f, "{\"metric\":{\"__name__\":\"a\"},\"values\":[],"
                                   "\"timestamps\":[]}"),
                     SX_EPARSE);
    assert_non_null(strstr(f->err.msg, "line 1: no samples"));
}

static void test_import_rejects_bad_histograms(void **state)
{
    fixture_t *f = *state;
    const char *pre = "{\"metric\":{\"__name__\":\"h\"},";
    char line[256];
    snprintf(line, sizeof(line), "%s\"histograms\":[\"eAU\"],\"histogram_timestamps\":[5]}", pre);
    assert_int_equal(decode_str(f, line), SX_EPARSE);
    assert_string_equal(f->err.msg, "line 1: histogram 0: not a base64 string");
    /* "eAV=" has non-zero padding bits: a second spelling of "eAU=". */
    snprintf(line, sizeof(line), "%s\"histograms\":[\"eAV=\"],\"histogram_timestamps\":[5]}", pre);
    assert_int_equal(decode_str(f, line), SX_EPARSE);
    /* 0x78 0x85: a varint cut short. */
    snprintf(line, sizeof(line), "%s\"histograms\":[\"eIU=\"],\"histogram_timestamps\":[5]}", pre);
    assert_int_equal(decode_str(f, line), SX_EPARSE);
    assert_string_equal(f->err.msg, "line 1: histogram 0: not a protobuf Histogram message");
    snprintf(line, sizeof(line), "%s\"histograms\":[\"eAU=\"],\"histogram_timestamps\":[6]}", pre);
    assert_int_equal(decode_str(f, line), SX_EPARSE);
    assert_non_null(strstr(f->err.msg, "differs from the message's own timestamp 5"));
    snprintf(line, sizeof(line), "%s\"histograms\":[\"eAU=\"]}", pre);
    assert_int_equal(decode_str(f, line), SX_EPARSE);
    snprintf(line, sizeof(line), "%s\"histograms\":[\"eAU=\"],\"histogram_timestamps\":[5]}", pre);
    assert_int_equal(decode_str(f, line), 0);
    assert_int_equal(f->batch.series[0].nhists, 1);
    assert_int_equal(f->batch.series[0].nsamples, 0);
}

static void test_import_accepts_null_err(void **state)
{
    fixture_t *f = *state;
    sx_metric_batch_init(&f->batch, &f->arena);
    const char *bad = "{";
    assert_int_not_equal(sx_vm_import_decode(bad, 1, &f->batch, NULL), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_export_line_matches_victoriametrics_shape),
        T(test_export_writes_special_values_as_victoriametrics),
        T(test_export_escapes_label_values),
        T(test_export_skips_series_without_samples),
        T(test_export_writes_histograms_in_extra_keys),
        T(test_round_trip_keeps_every_value_bit_exact),
        T(test_round_trip_plain_nan_stays_nan_not_stale),
        T(test_round_trip_histograms),
        T(test_round_trip_many_lines),
        T(test_import_sorts_labels_and_drops_empty_values),
        T(test_import_reads_victoriametrics_spellings),
        T(test_import_skips_blank_lines_and_ignores_unknown_keys),
        T(test_import_error_names_the_line),
        T(test_import_rejects_broken_json),
        T(test_import_rejects_bad_labels),
        T(test_import_rejects_bad_values_and_timestamps),
        T(test_import_rejects_bad_histograms),
        T(test_import_accepts_null_err),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
