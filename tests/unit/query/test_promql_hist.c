/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the native histogram blob codec (src/query/promql/hist.c):
 * float-form round trips, integer-form (delta) decoding, custom buckets,
 * protobuf leniency (unknown fields, packed and unpacked repeated fields)
 * and rejection of inconsistent or truncated messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "query/promql/hist.h"

/* ---- Message builders ---- */

static void tag(sx_buf_t *b, unsigned num, unsigned wt)
{
    sx_buf_put_uvarint(b, (uint64_t)num << 3 | wt);
}

static void f64(sx_buf_t *b, unsigned num, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    tag(b, num, 1);
    sx_buf_put_u64le(b, u);
}

static uint64_t zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static void span(sx_buf_t *b, unsigned num, int32_t off, uint32_t len)
{
    sx_buf_t s = SX_BUF_INIT;
    tag(&s, 1, 0);
    sx_buf_put_uvarint(&s, zz(off));
    tag(&s, 2, 0);
    sx_buf_put_uvarint(&s, len);
    tag(b, num, 2);
    sx_buf_put_uvarint(b, s.len);
    sx_buf_append(b, s.ptr, s.len);
    sx_buf_dispose(&s);
}

static void packed_deltas(sx_buf_t *b, unsigned num, const int64_t *v, size_t n)
{
    sx_buf_t s = SX_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        sx_buf_put_uvarint(&s, zz(v[i]));
    tag(b, num, 2);
    sx_buf_put_uvarint(b, s.len);
    sx_buf_append(b, s.ptr, s.len);
    sx_buf_dispose(&s);
}

static sx_str_t str(const sx_buf_t *b)
{
    return (sx_str_t){b->ptr, b->len};
}

static int decode(const sx_buf_t *b, sx_arena_t *a, sx_promql_hist_t *h, sx_err_t *err)
{
    return sx_promql_hist_decode(str(b), a, h, err);
}

/* ---- Tests ---- */

static void test_hist_float_form_round_trips(void **state)
{
    (void)state;
    sx_promql_span_t ps[] = {{-2, 2}, {3, 1}}, ns[] = {{0, 1}};
    double pos[] = {1.5, 0, 4}, neg[] = {2.25};
    sx_promql_hist_t h = {
        .schema = 3,
        .counter_reset_hint = 3,
        .zero_threshold = 0.001,
        .zero_count = 0.5,
        .count = 8.25,
        .sum = -17.125,
        .pos_spans = ps,
        .npos_spans = 2,
        .neg_spans = ns,
        .nneg_spans = 1,
        .pos = pos,
        .npos = 3,
        .neg = neg,
        .nneg = 1,
    };
    sx_buf_t b = SX_BUF_INIT;
    sx_promql_hist_encode(&h, 123456, &b);
    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_hist_t got;
    sx_err_t err;
    assert_int_equal(decode(&b, &a, &got, &err), 0);
    assert_int_equal(got.schema, 3);
    assert_int_equal(got.counter_reset_hint, 3);
    assert_true(got.zero_threshold == 0.001 && got.zero_count == 0.5);
    assert_true(got.count == 8.25 && got.sum == -17.125);
    assert_int_equal(got.npos_spans, 2);
    assert_int_equal(got.pos_spans[0].offset, -2);
    assert_int_equal(got.pos_spans[0].len, 2);
    assert_int_equal(got.pos_spans[1].offset, 3);
    assert_int_equal(got.npos, 3);
    assert_true(got.pos[0] == 1.5 && got.pos[1] == 0 && got.pos[2] == 4);
    assert_int_equal(got.nneg_spans, 1);
    assert_int_equal(got.nneg, 1);
    assert_true(got.neg[0] == 2.25);
    assert_null(got.custom_values);
    sx_buf_dispose(&b);
    sx_arena_dispose(&a);
}

static void test_hist_encode_marks_float_form_even_when_zero(void **state)
{
    (void)state;
    sx_promql_hist_t h = {0};
    sx_buf_t b = SX_BUF_INIT;
    sx_promql_hist_encode(&h, 0, &b);
    /* count_float (field 2, fixed64) comes first, then zero_count_float. */
    assert_int_equal(b.len, 18);
    assert_int_equal((unsigned char)b.ptr[0], 2 << 3 | 1);
    assert_int_equal((unsigned char)b.ptr[9], 7 << 3 | 1);
    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_hist_t got;
    sx_err_t err;
    assert_int_equal(decode(&b, &a, &got, &err), 0);
    assert_true(got.count == 0 && got.npos == 0 && got.pos == NULL && got.pos_spans == NULL);
    sx_buf_dispose(&b);
    sx_arena_dispose(&a);
}

static void test_hist_keeps_nan_and_negative_zero(void **state)
{
    (void)state;
    sx_promql_span_t ps[] = {{0, 1}};
    double pos[] = {NAN};
    sx_promql_hist_t h = {
        .sum = -0.0, .count = NAN, .pos_spans = ps, .npos_spans = 1, .pos = pos, .npos = 1};
    sx_buf_t b = SX_BUF_INIT;
    sx_promql_hist_encode(&h, 0, &b);
    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_hist_t got;
    sx_err_t err;
    assert_int_equal(decode(&b, &a, &got, &err), 0);
    assert_true(isnan(got.count) && isnan(got.pos[0]));
    assert_true(got.sum == 0 && signbit(got.sum));
    sx_buf_dispose(&b);
    sx_arena_dispose(&a);
}

static void test_hist_decodes_integer_form_deltas(void **state)
{
    (void)state;
    sx_buf_t b = SX_BUF_INIT;
    tag(&b, 1, 0);
    sx_buf_put_uvarint(&b, 12); /* count_int */
    f64(&b, 3, 10.5);           /* sum */
    tag(&b, 4, 0);
    sx_buf_put_uvarint(&b, zz(-2)); /* schema */
    f64(&b, 5, 0.25);               /* zero_threshold */
    tag(&b, 6, 0);
    sx_buf_put_uvarint(&b, 3); /* zero_count_int */
    span(&b, 8, 1, 1);
    int64_t nd[] = {2};
    packed_deltas(&b, 9, nd, 1);
    span(&b, 11, 0, 2);
    span(&b, 11, 2, 1);
    int64_t pd[] = {1, 2, -2}; /* absolute 1, 3, 1 */
    packed_deltas(&b, 12, pd, 3);
    tag(&b, 14, 0);
    sx_buf_put_uvarint(&b, 2);
    tag(&b, 15, 0);
    sx_buf_put_uvarint(&b, 99);

    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_hist_t h;
    sx_err_t err;
    assert_int_equal(decode(&b, &a, &h, &err), 0);
    assert_true(h.count == 12 && h.sum == 10.5 && h.zero_count == 3);
    assert_int_equal(h.schema, -2);
    assert_true(h.zero_threshold == 0.25);
    assert_int_equal(h.counter_reset_hint, 2);
    assert_int_equal(h.npos, 3);
    assert_true(h.pos[0] == 1 && h.pos[1] == 3 && h.pos[2] == 1);
    assert_int_equal(h.npos_spans, 2);
    assert_int_equal(h.pos_spans[1].offset, 2);
    assert_int_equal(h.nneg, 1);
    assert_true(h.neg[0] == 2);
    assert_int_equal(h.neg_spans[0].offset, 1);
    sx_buf_dispose(&b);
    sx_arena_dispose(&a);
}

static void test_hist_accepts_unpacked_repeated_fields_and_unknown_fields(void **state)
{
    (void)state;
    sx_buf_t b = SX_BUF_INIT;
    f64(&b, 2, 3); /* count_float */
    tag(&b, 40, 0);
    sx_buf_put_uvarint(&b, 7); /* unknown varint */
    tag(&b, 41, 2);
    sx_buf_put_uvarint(&b, 3);
    sx_buf_append(&b, "abc", 3); /* unknown bytes */
    tag(&b, 42, 5);
    sx_buf_append(&b, "wxyz", 4); /* unknown fixed32 */
    span(&b, 11, 0, 2);
    f64(&b, 13, 1); /* unpacked positive_counts */
    f64(&b, 13, 2);
    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_hist_t h;
    sx_err_t err;
    assert_int_equal(decode(&b, &a, &h, &err), 0);
    assert_int_equal(h.npos, 2);
    assert_true(h.pos[0] == 1 && h.pos[1] == 2 && h.count == 3);

    /* Unpacked deltas in integer form. */
    sx_buf_clear(&b);
    span(&b, 11, 5, 2);
    tag(&b, 12, 0);
    sx_buf_put_uvarint(&b, zz(4));
    tag(&b, 12, 0);
    sx_buf_put_uvarint(&b, zz(-1));
    assert_int_equal(decode(&b, &a, &h, &err), 0);
    assert_int_equal(h.npos, 2);
    assert_true(h.pos[0] == 4 && h.pos[1] == 3);
    sx_buf_dispose(&b);
    sx_arena_dispose(&a);
}

static void test_hist_custom_buckets_round_trip(void **state)
{
    (void)state;
    sx_promql_span_t ps[] = {{0, 2}, {1, 1}};
    double pos[] = {1, 2, 3}, cv[] = {0.1, 0.5, 1};
    sx_promql_hist_t h = {.schema = -53,
                          .count = 6,
                          .sum = 4,
                          .pos_spans = ps,
                          .npos_spans = 2,
                          .pos = pos,
                          .npos = 3,
                          .custom_values = cv,
                          .ncustom = 3};
    sx_buf_t b = SX_BUF_INIT;
    sx_promql_hist_encode(&h, 0, &b);
    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_hist_t got;
    sx_err_t err;
    assert_int_equal(decode(&b, &a, &got, &err), 0);
    assert_int_equal(got.schema, -53);
    assert_int_equal(got.ncustom, 3);
    assert_true(got.custom_values[0] == 0.1 && got.custom_values[2] == 1);
    assert_int_equal(got.npos, 3);

    /* Bucket index 3 is the +Inf bucket (one past the last bound); 4 is
     * out of range. */
    ps[1].offset = 2;
    sx_buf_clear(&b);
    sx_promql_hist_encode(&h, 0, &b);
    assert_int_equal(decode(&b, &a, &got, &err), SX_EPARSE);
    assert_non_null(strstr(err.msg, "more buckets than bounds"));

    /* Bounds must increase. */
    ps[1].offset = 1;
    cv[1] = 0.1;
    sx_buf_clear(&b);
    sx_promql_hist_encode(&h, 0, &b);
    assert_int_equal(decode(&b, &a, &got, &err), SX_EPARSE);
    sx_buf_dispose(&b);
    sx_arena_dispose(&a);
}

static void test_hist_rejects_span_bucket_mismatch(void **state)
{
    (void)state;
    sx_promql_span_t ps[] = {{0, 3}};
    double pos[] = {1, 2};
    sx_promql_hist_t h = {.pos_spans = ps, .npos_spans = 1, .pos = pos, .npos = 2};
    sx_buf_t b = SX_BUF_INIT;
    sx_promql_hist_encode(&h, 0, &b);
    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_hist_t got;
    sx_err_t err;
    assert_int_equal(decode(&b, &a, &got, &err), SX_EPARSE);
    assert_non_null(strstr(err.msg, "span lengths"));
    sx_buf_dispose(&b);
    sx_arena_dispose(&a);
}

static void test_hist_rejects_bad_schema_and_index_overflow(void **state)
{
    (void)state;
    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_hist_t h = {.schema = 9}, got;
    sx_err_t err;
    sx_buf_t b = SX_BUF_INIT;
    sx_promql_hist_encode(&h, 0, &b);
    assert_int_equal(decode(&b, &a, &got, &err), SX_EPARSE);
    assert_non_null(strstr(err.msg, "schema"));

    sx_promql_span_t ps[] = {{INT32_MAX, 1}, {INT32_MAX, 1}};
    double pos[] = {1, 1};
    h = (sx_promql_hist_t){.pos_spans = ps, .npos_spans = 2, .pos = pos, .npos = 2};
    sx_buf_clear(&b);
    sx_promql_hist_encode(&h, 0, &b);
    assert_int_equal(decode(&b, &a, &got, &err), SX_EPARSE);
    sx_buf_dispose(&b);
    sx_arena_dispose(&a);
}

static void test_hist_rejects_wrong_wire_types_and_truncation(void **state)
{
    (void)state;
    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_hist_t got;
    sx_err_t err;
    sx_buf_t b = SX_BUF_INIT;
    tag(&b, 3, 0); /* sum as a varint */
    sx_buf_put_uvarint(&b, 1);
    assert_int_equal(decode(&b, &a, &got, &err), SX_EPARSE);

    sx_buf_clear(&b);
    tag(&b, 13, 2); /* packed doubles of 7 bytes */
    sx_buf_put_uvarint(&b, 7);
    sx_buf_append(&b, "1234567", 7);
    assert_int_equal(decode(&b, &a, &got, &err), SX_EPARSE);

    sx_buf_clear(&b);
    tag(&b, 3, 3); /* group start */
    assert_int_equal(decode(&b, &a, &got, &err), SX_EPARSE);

    /* Every strict prefix of a message whose last field is long either
     * fails cleanly or decodes; the cut inside the last field fails. */
    sx_promql_span_t ps[] = {{1, 3}};
    double pos[] = {1, 2, 3};
    sx_promql_hist_t h = {
        .schema = 2, .count = 6, .sum = 1, .pos_spans = ps, .npos_spans = 1, .pos = pos, .npos = 3};
    sx_buf_clear(&b);
    sx_promql_hist_encode(&h, 77, &b);
    for (size_t n = 0; n < b.len; n++)
        (void)sx_promql_hist_decode((sx_str_t){b.ptr, n}, &a, &got, &err);
    assert_int_equal(sx_promql_hist_decode((sx_str_t){b.ptr, b.len - 1}, &a, &got, &err),
                     SX_EPARSE);
    sx_buf_dispose(&b);
    sx_arena_dispose(&a);
}

static void test_hist_empty_blob_is_an_empty_integer_histogram(void **state)
{
    (void)state;
    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_hist_t got;
    sx_err_t err;
    assert_int_equal(sx_promql_hist_decode((sx_str_t){"", 0}, &a, &got, &err), 0);
    assert_true(got.count == 0 && got.schema == 0 && got.npos == 0 && got.nneg == 0);
    sx_arena_dispose(&a);
}

#define T(f) cmocka_unit_test(f)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_hist_float_form_round_trips),
        T(test_hist_encode_marks_float_form_even_when_zero),
        T(test_hist_keeps_nan_and_negative_zero),
        T(test_hist_decodes_integer_form_deltas),
        T(test_hist_accepts_unpacked_repeated_fields_and_unknown_fields),
        T(test_hist_custom_buckets_round_trip),
        T(test_hist_rejects_span_bucket_mismatch),
        T(test_hist_rejects_bad_schema_and_index_overflow),
        T(test_hist_rejects_wrong_wire_types_and_truncation),
        T(test_hist_empty_blob_is_an_empty_integer_histogram),
    };
    return cmocka_run_group_tests_name("promql_hist", tests, NULL, NULL);
}
