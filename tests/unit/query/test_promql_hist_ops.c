/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of native histogram arithmetic (src/query/promql/hist_ops.c):
 * + and - at one schema and across schemas, zero-bucket reconciliation,
 * negative and custom buckets, scaling, compaction, equality, counter
 * reset detection and the increase of a window. Histograms are written as
 * "index:count" lists per side; every expectation is worked out by hand
 * from Prometheus' FloatHistogram rules, noted next to the case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "query/promql/hist_ops.h"

static sx_arena_t A;

static int setup(void **state)
{
    (void)state;
    sx_arena_init(&A);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sx_arena_dispose(&A);
    return 0;
}

/* ---- Builders and checks ---- */

/* One side from "idx:count idx:count ...", indices ascending; consecutive
 * indices share a span. Counts of 0 stay as explicit buckets. */
static void side(const char *desc, sx_promql_span_t **spans, uint32_t *nspans, double **b,
                 uint32_t *nb)
{
    *spans = NULL, *b = NULL, *nspans = 0, *nb = 0;
    if (!desc || !*desc)
        return;
    *spans = sx_arena_calloc(&A, 64, sizeof(**spans));
    *b = sx_arena_calloc(&A, 64, sizeof(**b));
    const char *p = desc;
    long last = 0;
    while (*p) {
        char *end;
        long idx = strtol(p, &end, 10);
        assert_true(*end == ':');
        double v = strtod(end + 1, &end);
        if (*nb == 0 || idx != last + 1) {
            (*spans)[(*nspans)++] =
                (sx_promql_span_t){(int32_t)(*nb == 0 ? idx : idx - last - 1), 0};
        }
        (*spans)[*nspans - 1].len++;
        (*b)[(*nb)++] = v;
        last = idx;
        while (*end == ' ')
            end++;
        p = end;
    }
}

static sx_promql_hist_t *H(int32_t schema, double zthr, double zc, double count, double sum,
                           const char *pos, const char *neg)
{
    sx_promql_hist_t *h = sx_arena_calloc(&A, 1, sizeof(*h));
    h->schema = schema;
    h->zero_threshold = zthr;
    h->zero_count = zc;
    h->count = count;
    h->sum = sum;
    side(pos, &h->pos_spans, &h->npos_spans, &h->pos, &h->npos);
    side(neg, &h->neg_spans, &h->nneg_spans, &h->neg, &h->nneg);
    return h;
}

static sx_promql_hist_t *NHCB(const double *bounds, uint32_t n, double count, double sum,
                              const char *pos)
{
    sx_promql_hist_t *h = H(SX_PROMQL_HIST_CUSTOM_SCHEMA, 0, 0, count, sum, pos, NULL);
    h->custom_values = sx_arena_alloc(&A, n * sizeof(double));
    memcpy(h->custom_values, bounds, n * sizeof(double));
    h->ncustom = n;
    return h;
}

/* A side written back as "idx:count ..." (%g), walking the spans. */
static const char *dump(const sx_promql_span_t *sp, uint32_t nsp, const double *b, uint32_t nb)
{
    static char buf[4][512];
    static int k;
    char *out = buf[k++ & 3];
    size_t len = 0;
    out[0] = '\0';
    long idx = 0;
    uint32_t j = 0;
    for (uint32_t s = 0; s < nsp; s++) {
        idx += sp[s].offset;
        for (uint32_t i = 0; i < sp[s].len && j < nb; i++, j++, idx++)
            len += (size_t)snprintf(out + len, 512 - len, "%s%ld:%g", len ? " " : "", idx, b[j]);
    }
    return out;
}

#define POS(h) dump((h)->pos_spans, (h)->npos_spans, (h)->pos, (h)->npos)
#define NEG(h) dump((h)->neg_spans, (h)->nneg_spans, (h)->neg, (h)->nneg)

/* Results of add and sub are compacted: every span is a maximal run of
 * nonzero buckets. */
static void assert_compact(const sx_promql_hist_t *h)
{
    const sx_promql_span_t *sp[2] = {h->pos_spans, h->neg_spans};
    uint32_t ns[2] = {h->npos_spans, h->nneg_spans};
    const double *b[2] = {h->pos, h->neg};
    uint32_t nb[2] = {h->npos, h->nneg};
    for (int s = 0; s < 2; s++) {
        uint32_t total = 0;
        for (uint32_t i = 0; i < ns[s]; i++) {
            assert_true(sp[s][i].len > 0);
            if (i > 0)
                assert_true(sp[s][i].offset > 0);
            total += sp[s][i].len;
        }
        assert_int_equal(total, nb[s]);
        for (uint32_t i = 0; i < nb[s]; i++)
            assert_true(b[s][i] != 0);
    }
}

static sx_promql_hist_t *add(const sx_promql_hist_t *x, const sx_promql_hist_t *y)
{
    sx_promql_hist_t *r;
    assert_int_equal(sx_promql_hist_add(x, y, &A, &r), 0);
    assert_compact(r);
    return r;
}

static sx_promql_hist_t *sub(const sx_promql_hist_t *x, const sx_promql_hist_t *y)
{
    sx_promql_hist_t *r;
    assert_int_equal(sx_promql_hist_sub(x, y, &A, &r), 0);
    assert_compact(r);
    return r;
}

static sx_promql_hist_t *copy(const sx_promql_hist_t *h)
{
    sx_promql_hist_t *r;
    assert_int_equal(sx_promql_hist_copy(h, &A, &r), 0);
    return r;
}

/* ---- Bounds ---- */

static void test_hist_ops_bounds_follow_prometheus_table(void **state)
{
    (void)state;
    assert_true(sx_promql_hist_bound(1, 0, NULL, 0) == 2);
    assert_true(sx_promql_hist_bound(0, 0, NULL, 0) == 1);
    assert_true(sx_promql_hist_bound(-1, 0, NULL, 0) == 0.5);
    assert_true(sx_promql_hist_bound(1, -1, NULL, 0) == 4);
    /* Prometheus' table, not the correctly rounded 2^(1/2)/2. */
    assert_true(sx_promql_hist_bound(0, 1, NULL, 0) == 1);
    assert_true(sx_promql_hist_bound(-1, 1, NULL, 0) == 0.7071067811865475);
    assert_true(sx_promql_hist_bound(1, 3, NULL, 0) == 2 * 0.5452538663326288);
    assert_true(sx_promql_hist_bound(-3, 8, NULL, 0) == 0.9919100824251095);
    /* The last finite bucket tops out at DBL_MAX. */
    assert_true(sx_promql_hist_bound(1024, 0, NULL, 0) == DBL_MAX);
    assert_true(sx_promql_hist_bound(256, -2, NULL, 0) == DBL_MAX);
    assert_true(sx_promql_hist_bound(1025, 0, NULL, 0) == INFINITY);
    double cv[] = {1, 2.5};
    assert_true(sx_promql_hist_bound(1, SX_PROMQL_HIST_CUSTOM_SCHEMA, cv, 2) == 2.5);
    assert_true(sx_promql_hist_bound(2, SX_PROMQL_HIST_CUSTOM_SCHEMA, cv, 2) == INFINITY);
    assert_true(sx_promql_hist_bound(-1, SX_PROMQL_HIST_CUSTOM_SCHEMA, cv, 2) == -INFINITY);
    assert_true(isnan(sx_promql_hist_bound(3, SX_PROMQL_HIST_CUSTOM_SCHEMA, cv, 2)));
    assert_true(isnan(sx_promql_hist_bound(0, 9, NULL, 0)));
}

/* ---- Add and sub ---- */

static void test_hist_ops_add_same_schema(void **state)
{
    (void)state;
    sx_promql_hist_t *x = H(0, 0.001, 1, 10, 20, "0:1 1:2 3:1", "1:2");
    sx_promql_hist_t *y = H(0, 0.001, 2, 5, 7, "1:1 2:3", "0:1");
    sx_promql_hist_t *xs = copy(x);
    sx_promql_hist_t *r = add(x, y);
    assert_true(r->schema == 0 && r->zero_threshold == 0.001);
    assert_true(r->zero_count == 3 && r->count == 15 && r->sum == 27);
    assert_string_equal(POS(r), "0:1 1:3 2:3 3:1");
    assert_int_equal(r->npos_spans, 1);
    assert_string_equal(NEG(r), "0:1 1:2");
    /* Inputs untouched. */
    assert_true(sx_promql_hist_equal(x, xs));
    assert_string_equal(POS(y), "1:1 2:3");
}

static void test_hist_ops_sub_same_schema_and_to_empty(void **state)
{
    (void)state;
    sx_promql_hist_t *x = H(0, 0.001, 1, 10, 20, "0:1 1:2 3:1", "1:2");
    sx_promql_hist_t *y = H(0, 0.001, 2, 5, 7, "1:1 2:3", "0:1");
    sx_promql_hist_t *r = sub(x, y);
    assert_true(r->zero_count == -1 && r->count == 5 && r->sum == 13);
    assert_string_equal(POS(r), "0:1 1:1 2:-3 3:1");
    assert_string_equal(NEG(r), "0:-1 1:2");
    /* x - x: every bucket cancels and compaction removes them all. */
    r = sub(x, x);
    assert_true(r->count == 0 && r->sum == 0 && r->zero_count == 0);
    assert_true(r->npos == 0 && r->npos_spans == 0 && r->nneg == 0 && r->pos == NULL);
}

static void test_hist_ops_add_reduces_to_lower_schema(void **state)
{
    (void)state;
    /* Schema 1 -> 0: idx i goes to ((i-1) >> 1) + 1, so 1,2 -> 1; 3,4 -> 2;
     * 5 -> 3; and on the negative side -2 -> -1, -1,0 -> 0. */
    sx_promql_hist_t *x = H(1, 0, 0, 20, 1, "1:1 2:2 3:4 5:8", "-2:5 -1:2 0:1");
    sx_promql_hist_t *y = H(0, 0, 0, 30, 2, "1:10 2:20", NULL);
    sx_promql_hist_t *r = add(x, y);
    assert_int_equal(r->schema, 0);
    assert_string_equal(POS(r), "1:13 2:24 3:8");
    assert_string_equal(NEG(r), "-1:5 0:3");
    assert_true(r->count == 50 && r->sum == 3);
    /* The coarser histogram as receiver gives the same. */
    r = add(y, x);
    assert_int_equal(r->schema, 0);
    assert_string_equal(POS(r), "1:13 2:24 3:8");
    assert_string_equal(NEG(r), "-1:5 0:3");
    /* y - x reduces x the same way. */
    r = sub(y, x);
    assert_string_equal(POS(r), "1:7 2:16 3:-8");
    assert_string_equal(NEG(r), "-1:-5 0:-3");
}

static void test_hist_ops_copy_to_schema_merges_buckets(void **state)
{
    (void)state;
    /* Schema 3 -> 0 (shift 3): 1..8 -> 1, 9 -> 2, 0 -> 0. */
    sx_promql_hist_t *x = H(3, 0, 0, 8, 1, "0:1 1:1 2:0 8:2 9:4", NULL);
    x->counter_reset_hint = SX_PROMQL_HIST_HINT_RESET;
    sx_promql_hist_t *r;
    assert_int_equal(sx_promql_hist_copy_to_schema(x, 0, &A, &r), 0);
    assert_int_equal(r->schema, 0);
    assert_string_equal(POS(r), "0:1 1:3 2:4");
    assert_int_equal(r->counter_reset_hint, SX_PROMQL_HIST_HINT_UNKNOWN);
    assert_int_equal(sx_promql_hist_copy_to_schema(x, 4, &A, &r), SX_EINVAL);
    assert_null(r);
    assert_int_equal(sx_promql_hist_copy_to_schema(x, 3, &A, &r), 0);
    assert_int_equal(r->counter_reset_hint, SX_PROMQL_HIST_HINT_RESET);
    assert_string_equal(POS(r), "0:1 1:1 2:0 8:2 9:4");
}

static void test_hist_ops_add_reconciles_zero_thresholds(void **state)
{
    (void)state;
    /* Schema 0 bucket i is (2^(i-1), 2^i]. x's bucket 0 (0.5,1] lies in y's
     * zero bucket [-1,1]: it moves into x's zero count (1+1), then y's
     * zero count 4 is added. */
    sx_promql_hist_t *x = H(0, 0.5, 1, 10, 0, "0:1 1:2 2:3", NULL);
    sx_promql_hist_t *y = H(0, 1, 4, 15, 0, "1:5 2:6", NULL);
    sx_promql_hist_t *r = add(x, y);
    assert_true(r->zero_threshold == 1 && r->zero_count == 6);
    assert_string_equal(POS(r), "1:7 2:9");
    /* Receiver with the wider zero bucket: x's bucket 0 is folded into
     * x's zero count and skipped when buckets are added. */
    r = add(y, x);
    assert_true(r->zero_threshold == 1 && r->zero_count == 6);
    assert_string_equal(POS(r), "1:7 2:9");
    /* y - x the same way: 4 - (1+1). */
    r = sub(y, x);
    assert_true(r->zero_threshold == 1 && r->zero_count == 2);
    assert_string_equal(POS(r), "1:3 2:3");
}

static void test_hist_ops_zero_threshold_widens_past_populated_bucket(void **state)
{
    (void)state;
    /* y's threshold 1.5 cuts x's populated bucket 1 (1,2]: the threshold
     * moves up to 2, and x's buckets 0 and 1 (1 + 2) join the zero count. */
    sx_promql_hist_t *x = H(0, 0.5, 0, 4, 0, "0:1 1:2", NULL);
    sx_promql_hist_t *y = H(0, 1.5, 0, 1, 0, "2:1", NULL);
    sx_promql_hist_t *r = add(x, y);
    assert_true(r->zero_threshold == 2 && r->zero_count == 3);
    assert_string_equal(POS(r), "2:1");
    /* An empty bucket in the way does not move the threshold. */
    x = H(0, 0.5, 0, 1, 0, "0:1 1:0", NULL);
    r = add(x, y);
    assert_true(r->zero_threshold == 1.5 && r->zero_count == 1);
    assert_string_equal(POS(r), "2:1");
}

static void test_hist_ops_zero_threshold_swallows_negative_buckets(void **state)
{
    (void)state;
    /* Negative bucket i is [-2^i, -2^(i-1)): bucket 0 [-1,-0.5) joins the
     * zero bucket [-1,1]; bucket 1 stays. */
    sx_promql_hist_t *x = H(0, 0.5, 0, 3, -3, NULL, "0:1 1:2");
    sx_promql_hist_t *y = H(0, 1, 0, 0, 0, NULL, NULL);
    sx_promql_hist_t *r = add(x, y);
    assert_true(r->zero_threshold == 1 && r->zero_count == 1);
    assert_string_equal(NEG(r), "1:2");
    assert_int_equal(r->npos, 0);
    /* A populated negative bucket [-2,-1) cut by the threshold 1.5 pushes
     * it out to 2; x's positive bucket 0 and that bucket (1 + 3) join the
     * zero count, x's positive bucket 2 (2,4] stays. */
    x = H(0, 0.5, 0, 5, 0, "0:1 2:1", "1:3");
    y = H(0, 1.5, 0, 0, 0, NULL, NULL);
    r = add(x, y);
    assert_true(r->zero_threshold == 2 && r->zero_count == 4);
    assert_string_equal(POS(r), "2:1");
    assert_int_equal(r->nneg, 0);
}

static void test_hist_ops_custom_buckets(void **state)
{
    (void)state;
    const double b1[] = {1, 2, 5}, b2[] = {1, 2, 6};
    sx_promql_hist_t *x = NHCB(b1, 3, 7, 10, "0:1 1:2 3:4");
    sx_promql_hist_t *y = NHCB(b1, 3, 4, 5, "1:1 2:3");
    sx_promql_hist_t *r = add(x, y);
    assert_int_equal(r->schema, SX_PROMQL_HIST_CUSTOM_SCHEMA);
    assert_string_equal(POS(r), "0:1 1:3 2:3 3:4");
    assert_true(r->count == 11 && r->sum == 15);
    assert_int_equal(r->ncustom, 3);
    assert_true(r->custom_values != x->custom_values && r->custom_values[2] == 5);
    r = sub(x, y);
    assert_string_equal(POS(r), "0:1 1:1 2:-3 3:4");

    sx_promql_hist_t *z = NHCB(b2, 3, 4, 5, "1:1");
    assert_int_equal(sx_promql_hist_add(x, z, &A, &r), SX_PROMQL_HIST_EBOUNDS);
    assert_null(r);
    assert_int_equal(sx_promql_hist_sub(x, z, &A, &r), SX_PROMQL_HIST_EBOUNDS);
    z = NHCB(b1, 2, 4, 5, "1:1"); /* fewer bounds */
    assert_int_equal(sx_promql_hist_add(x, z, &A, &r), SX_PROMQL_HIST_EBOUNDS);

    sx_promql_hist_t *e = H(0, 0, 0, 1, 1, "0:1", NULL);
    assert_int_equal(sx_promql_hist_add(x, e, &A, &r), SX_PROMQL_HIST_EMIXED);
    assert_int_equal(sx_promql_hist_sub(e, x, &A, &r), SX_PROMQL_HIST_EMIXED);
    assert_null(r);
}

static void test_hist_ops_add_merges_counter_reset_hints(void **state)
{
    (void)state;
    sx_promql_hist_t *x = H(0, 0, 0, 1, 1, "0:1", NULL), *y = H(0, 0, 0, 1, 1, "0:1", NULL);
    struct {
        uint8_t x, y, want;
    } cases[] = {
        {2, 2, 2}, {3, 1, 3}, {1, 3, 3}, {0, 2, 0}, {2, 0, 0}, {1, 2, 0}, {2, 1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        x->counter_reset_hint = cases[i].x;
        y->counter_reset_hint = cases[i].y;
        assert_int_equal(add(x, y)->counter_reset_hint, cases[i].want);
        /* Sub keeps the receiver's hint. */
        assert_int_equal(sub(x, y)->counter_reset_hint, cases[i].x);
    }
}

/* ---- Scaling ---- */

static void test_hist_ops_mul_and_div(void **state)
{
    (void)state;
    sx_promql_hist_t *x = H(0, 0.001, 1, 10, 20, "0:1 1:2", "0:4");
    sx_promql_hist_t *r;
    assert_int_equal(sx_promql_hist_mul(x, 2, &A, &r), 0);
    assert_true(r->zero_count == 2 && r->count == 20 && r->sum == 40);
    assert_string_equal(POS(r), "0:2 1:4");
    assert_string_equal(NEG(r), "0:8");
    assert_true(r->pos != x->pos && x->pos[1] == 2);

    assert_int_equal(sx_promql_hist_div(x, 4, &A, &r), 0);
    assert_true(r->zero_count == 0.25 && r->count == 2.5 && r->sum == 5);
    assert_string_equal(POS(r), "0:0.25 1:0.5");
    assert_string_equal(NEG(r), "0:1");

    /* Multiplying by 0 keeps the layout with empty buckets. */
    assert_int_equal(sx_promql_hist_mul(x, 0, &A, &r), 0);
    assert_string_equal(POS(r), "0:0 1:0");

    /* Dividing by 0: Go's float division for the scalars, no buckets. */
    assert_int_equal(sx_promql_hist_div(x, 0, &A, &r), 0);
    assert_true(isinf(r->count) && r->count > 0 && isinf(r->sum) && isinf(r->zero_count));
    assert_true(r->npos == 0 && r->nneg == 0 && r->npos_spans == 0 && r->pos_spans == NULL);
    sx_promql_hist_t *z = H(0, 0, 0, 0, -3, NULL, NULL);
    assert_int_equal(sx_promql_hist_div(z, 0, &A, &r), 0);
    assert_true(isnan(r->count) && isnan(r->zero_count) && isinf(r->sum) && r->sum < 0);
}

/* ---- Compaction and equality ---- */

static sx_promql_hist_t *messy(void)
{
    /* Spans {0,3} {0,2} {2,0} {1,2} over buckets 0 1 0 2 0 3 0: indices
     * 0..2, 3..4, then (a zero-length span moving the index to 7) 8..9. */
    static sx_promql_span_t sp[] = {{0, 3}, {0, 2}, {2, 0}, {1, 2}};
    static double b[] = {0, 1, 0, 2, 0, 3, 0};
    sx_promql_hist_t *h = H(0, 0, 0, 6, 1, NULL, NULL);
    h->pos_spans = sp, h->npos_spans = 4, h->pos = b, h->npos = 7;
    return h;
}

static void test_hist_ops_compact_drops_empty_buckets_and_merges_spans(void **state)
{
    (void)state;
    sx_promql_hist_t *h = messy();
    assert_string_equal(POS(h), "0:0 1:1 2:0 3:2 4:0 8:3 9:0");
    sx_promql_hist_t *r;
    assert_int_equal(sx_promql_hist_compact(h, &A, &r), 0);
    assert_string_equal(POS(r), "1:1 3:2 8:3");
    assert_int_equal(r->npos_spans, 3);
    assert_true(r->pos_spans[0].offset == 1 && r->pos_spans[1].offset == 1 &&
                r->pos_spans[2].offset == 4);
    assert_compact(r);
    assert_true(r->count == 6 && r->sum == 1);
    /* Adjacent spans become one. */
    static sx_promql_span_t sp[] = {{2, 1}, {0, 1}};
    static double b[] = {5, 6};
    h = H(0, 0, 0, 11, 1, NULL, NULL);
    h->pos_spans = sp, h->npos_spans = 2, h->pos = b, h->npos = 2;
    assert_int_equal(sx_promql_hist_compact(h, &A, &r), 0);
    assert_int_equal(r->npos_spans, 1);
    assert_true(r->pos_spans[0].offset == 2 && r->pos_spans[0].len == 2);
}

static void test_hist_ops_equal_follows_prometheus_equals(void **state)
{
    (void)state;
    sx_promql_hist_t *x = H(0, 0.001, 1, 10, 20, "0:1 1:2", "0:4");
    assert_true(sx_promql_hist_equal(x, copy(x)));
    assert_false(sx_promql_hist_equal(x, NULL));
    assert_false(sx_promql_hist_equal(x, H(0, 0.001, 1, 10, 20, "0:1 1:3", "0:4")));
    assert_false(sx_promql_hist_equal(x, H(1, 0.001, 1, 10, 20, "0:1 1:2", "0:4")));
    assert_false(sx_promql_hist_equal(x, H(0, 0.002, 1, 10, 20, "0:1 1:2", "0:4")));
    /* Empty buckets count: no implicit compaction. */
    sx_promql_hist_t *h = messy(), *c;
    assert_int_equal(sx_promql_hist_compact(h, &A, &c), 0);
    assert_false(sx_promql_hist_equal(h, c));
    /* A zero-length span is folded into the next one... */
    static sx_promql_span_t sp1[] = {{1, 0}, {2, 2}};
    static double b[] = {1, 2};
    sx_promql_hist_t *y = H(0, 0, 0, 3, 0, "3:1 4:2", NULL);
    sx_promql_hist_t *z = H(0, 0, 0, 3, 0, NULL, NULL);
    z->pos_spans = sp1, z->npos_spans = 2, z->pos = b, z->npos = 2;
    assert_true(sx_promql_hist_equal(y, z));
    /* ...but adjacent spans are not merged, as in Prometheus. */
    static sx_promql_span_t sp2[] = {{3, 1}, {0, 1}};
    z->pos_spans = sp2;
    assert_false(sx_promql_hist_equal(y, z));
    /* Bit patterns: NaN sums with the same bits are equal; 0 and -0 not. */
    sx_promql_hist_t *n1 = H(0, 0, 0, 1, NAN, NULL, NULL), *n2 = H(0, 0, 0, 1, NAN, NULL, NULL);
    assert_true(sx_promql_hist_equal(n1, n2));
    n2->count = 1;
    n1->zero_count = -0.0;
    assert_false(sx_promql_hist_equal(n1, n2));
    /* Custom bounds must match. */
    const double b1[] = {1, 2}, b2[] = {1, 3};
    assert_true(sx_promql_hist_equal(NHCB(b1, 2, 1, 1, "0:1"), NHCB(b1, 2, 1, 1, "0:1")));
    assert_false(sx_promql_hist_equal(NHCB(b1, 2, 1, 1, "0:1"), NHCB(b2, 2, 1, 1, "0:1")));
}

/* ---- Counter resets ---- */

static void test_hist_ops_detect_reset_hints_and_counts(void **state)
{
    (void)state;
    sx_promql_hist_t *prev = H(0, 0, 1, 10, 5, "0:2 1:3", NULL);
    sx_promql_hist_t *cur = H(0, 0, 2, 20, 6, "0:5 1:9", NULL);
    assert_false(sx_promql_hist_detect_reset(cur, prev));
    cur->counter_reset_hint = SX_PROMQL_HIST_HINT_RESET;
    assert_true(sx_promql_hist_detect_reset(cur, prev));
    cur->counter_reset_hint = SX_PROMQL_HIST_HINT_GAUGE; /* checked like unknown */
    assert_false(sx_promql_hist_detect_reset(cur, prev));
    /* not-reset wins over a falling count. */
    sx_promql_hist_t *low = H(0, 0, 0, 1, 0, NULL, NULL);
    low->counter_reset_hint = SX_PROMQL_HIST_HINT_NOT_RESET;
    assert_false(sx_promql_hist_detect_reset(low, prev));
    low->counter_reset_hint = SX_PROMQL_HIST_HINT_UNKNOWN;
    assert_true(sx_promql_hist_detect_reset(low, prev));
    /* Zero count falls. */
    assert_true(sx_promql_hist_detect_reset(H(0, 0, 0, 20, 6, "0:5 1:9", NULL), prev));
    /* A bucket falls; the sum falling does not matter. */
    assert_true(sx_promql_hist_detect_reset(H(0, 0, 1, 20, 0, "0:5 1:2", NULL), prev));
    assert_false(sx_promql_hist_detect_reset(H(0, 0, 1, 20, 0, "0:5 1:3", NULL), prev));
    /* A new bucket is fine; a populated bucket gone is a reset. */
    assert_false(sx_promql_hist_detect_reset(H(0, 0, 1, 20, 0, "0:2 1:3 4:1", NULL), prev));
    assert_true(sx_promql_hist_detect_reset(H(0, 0, 1, 20, 0, "0:5", NULL), prev));
    assert_true(sx_promql_hist_detect_reset(H(0, 0, 1, 20, 0, "1:5", NULL), prev));
    /* Negative side too. */
    sx_promql_hist_t *np = H(0, 0, 0, 5, 0, NULL, "2:5");
    assert_true(sx_promql_hist_detect_reset(H(0, 0, 0, 9, 0, "0:5", "2:4"), np));
    assert_false(sx_promql_hist_detect_reset(H(0, 0, 0, 9, 0, "0:5", "2:5"), np));
}

static void test_hist_ops_detect_reset_scan_stops_like_prometheus(void **state)
{
    (void)state;
    /* cur has no positive bucket left: Prometheus looks only at the prev
     * bucket it stopped at. Here that one is empty, so the populated
     * bucket 1 behind it is never checked: no reset. */
    sx_promql_hist_t *prev = H(0, 0, 0, 5, 0, "0:0 1:5", NULL);
    assert_false(sx_promql_hist_detect_reset(H(0, 0, 9, 9, 0, NULL, NULL), prev));
    prev = H(0, 0, 0, 5, 0, "0:5 1:0", NULL);
    assert_true(sx_promql_hist_detect_reset(H(0, 0, 9, 9, 0, NULL, NULL), prev));
    /* Same when cur runs out midway. */
    prev = H(0, 0, 0, 5, 0, "0:1 3:0 4:5", NULL);
    assert_false(sx_promql_hist_detect_reset(H(0, 0, 0, 9, 0, "0:1 1:1", NULL), prev));
}

static void test_hist_ops_detect_reset_schema_and_zero_threshold(void **state)
{
    (void)state;
    sx_promql_hist_t *prev = H(1, 0, 0, 3, 0, "1:1 2:2", NULL);
    /* Resolution up: reset. Down: prev merged to (schema 0) bucket 1 = 3. */
    assert_true(sx_promql_hist_detect_reset(H(2, 0, 0, 9, 0, "1:9", NULL), prev));
    assert_false(sx_promql_hist_detect_reset(H(0, 0, 0, 3, 0, "1:3", NULL), prev));
    assert_true(sx_promql_hist_detect_reset(H(0, 0, 0, 3, 0, "1:2", NULL), prev));

    /* Zero threshold down: reset. Up to 1: prev's bucket 0 (0.5,1] joins
     * its zero count (0 + 1) and is skipped when buckets are compared. */
    prev = H(0, 0.5, 0, 3, 0, "0:1 1:2", NULL);
    assert_true(sx_promql_hist_detect_reset(H(0, 0.25, 0, 9, 0, "0:1 1:2", NULL), prev));
    assert_false(sx_promql_hist_detect_reset(H(0, 1, 1, 3, 0, "1:2", NULL), prev));
    assert_true(sx_promql_hist_detect_reset(H(0, 1, 0.5, 3, 0, "1:2", NULL), prev));
    /* Up to 1.5 cuts prev's populated bucket (1,2]: reset. */
    assert_true(sx_promql_hist_detect_reset(H(0, 1.5, 9, 9, 0, NULL, NULL), prev));

    /* Exponential against custom buckets, or other custom bounds: reset. */
    const double b1[] = {1, 2}, b2[] = {1, 3};
    sx_promql_hist_t *c1 = NHCB(b1, 2, 1, 0, "0:1");
    assert_true(sx_promql_hist_detect_reset(NHCB(b2, 2, 5, 0, "0:5"), c1));
    assert_true(sx_promql_hist_detect_reset(H(0, 0, 0, 5, 0, "0:5", NULL), c1));
    assert_false(sx_promql_hist_detect_reset(NHCB(b1, 2, 5, 0, "0:5"), c1));
    assert_true(sx_promql_hist_detect_reset(NHCB(b1, 2, 5, 0, "1:5"), c1));
}

/* ---- Increase ---- */

static void test_hist_ops_increase_adds_back_before_reset(void **state)
{
    (void)state;
    sx_promql_hist_t *pts[] = {
        H(0, 0, 0, 10, 20, "0:4 1:6", NULL),
        H(0, 0, 0, 15, 30, "0:6 1:9", NULL),
        H(0, 0, 0, 3, 5, "0:1 1:2", NULL), /* reset */
        H(0, 0, 0, 8, 12, "0:3 1:5", NULL),
    };
    sx_promql_hist_t *r;
    int annot = -1;
    /* (p3 - p0) + p1 = count 8-10+15, buckets 3-4+6, 5-6+9. */
    assert_int_equal(sx_promql_hist_increase(pts, 4, true, &A, &r, &annot), 0);
    assert_int_equal(annot, 0);
    assert_true(r->count == 13 && r->sum == 22 && r->zero_count == 0);
    assert_string_equal(POS(r), "0:5 1:8");
    assert_int_equal(r->counter_reset_hint, SX_PROMQL_HIST_HINT_GAUGE);
    assert_compact(r);
    /* Inputs untouched. */
    assert_string_equal(POS(pts[3]), "0:3 1:5");
    assert_true(pts[3]->counter_reset_hint == 0);

    /* delta(): no reset handling, and a warning that these are no gauges. */
    assert_int_equal(sx_promql_hist_increase(pts, 4, false, &A, &r, &annot), 0);
    assert_int_equal(annot, SX_PROMQL_HIST_ANNOT_NOT_GAUGE);
    assert_true(r->count == -2 && r->sum == -8);
    assert_string_equal(POS(r), "0:-1 1:-1");
    for (int i = 0; i < 4; i++)
        pts[i]->counter_reset_hint = SX_PROMQL_HIST_HINT_GAUGE;
    assert_int_equal(sx_promql_hist_increase(pts, 4, false, &A, &r, &annot), 0);
    assert_int_equal(annot, 0);
    /* rate() over gauges warns. */
    assert_int_equal(sx_promql_hist_increase(pts, 4, true, &A, &r, NULL), 0);
    assert_int_equal(sx_promql_hist_increase(pts, 4, true, &A, &r, &annot), 0);
    assert_int_equal(annot, SX_PROMQL_HIST_ANNOT_NOT_COUNTER);
}

static void test_hist_ops_increase_uses_lowest_schema(void **state)
{
    (void)state;
    /* min schema 0: p2 -> "1:4", p0 -> "1:2", so 1:2 count 2. p1 (schema 0)
     * after p0 (schema 1): merged prev 1:2 <= 1:3, no reset. p2 (schema 1)
     * after p1 (schema 0): resolution up, a reset: p1 is added back. */
    sx_promql_hist_t *pts[] = {
        H(1, 0, 0, 2, 0, "1:1 2:1", NULL),
        H(0, 0, 0, 3, 0, "1:3", NULL),
        H(1, 0, 0, 4, 0, "1:2 2:2", NULL),
    };
    sx_promql_hist_t *r;
    assert_int_equal(sx_promql_hist_increase(pts, 3, true, &A, &r, NULL), 0);
    assert_int_equal(r->schema, 0);
    assert_true(r->count == 5);
    assert_string_equal(POS(r), "1:5");
    /* delta() ignores inner points for the schema: both ends at 1. */
    assert_int_equal(sx_promql_hist_increase(pts, 3, false, &A, &r, NULL), 0);
    assert_int_equal(r->schema, 1);
    assert_string_equal(POS(r), "1:1 2:1");
}

static void test_hist_ops_increase_ignores_first_point_before_reset(void **state)
{
    (void)state;
    /* Custom bounds change between the first two points, which is a reset:
     * the first point counts as empty, so its bounds do not clash. */
    const double b1[] = {1, 2}, b2[] = {1, 5};
    sx_promql_hist_t *pts[] = {
        NHCB(b1, 2, 10, 10, "0:10"),
        NHCB(b2, 2, 2, 2, "0:1 2:1"),
        NHCB(b2, 2, 4, 4, "0:2 2:2"),
    };
    sx_promql_hist_t *r;
    int annot;
    assert_int_equal(sx_promql_hist_increase(pts, 3, true, &A, &r, &annot), 0);
    assert_int_equal(annot, 0);
    assert_true(r->count == 4 && r->ncustom == 2 && r->custom_values[1] == 5);
    assert_string_equal(POS(r), "0:2 2:2");
    /* Without the reset handling (delta) the bounds clash. */
    assert_int_equal(sx_promql_hist_increase(pts, 3, false, &A, &r, &annot),
                     SX_PROMQL_HIST_EBOUNDS);
    assert_int_equal(annot, SX_PROMQL_HIST_ANNOT_INCOMPAT_BOUNDS);
    assert_null(r);
    /* Exponential first point, then custom buckets: same rescue. */
    pts[0] = H(0, 0, 0, 10, 10, "0:10", NULL);
    assert_int_equal(sx_promql_hist_increase(pts, 3, true, &A, &r, &annot), 0);
    assert_string_equal(POS(r), "0:2 2:2");
}

static void test_hist_ops_increase_reports_mixes(void **state)
{
    (void)state;
    const double b1[] = {1, 2};
    sx_promql_hist_t *pts[] = {
        H(0, 0, 0, 1, 0, "0:1", NULL),
        H(0, 0, 0, 2, 0, "0:2", NULL),
        NHCB(b1, 2, 3, 0, "0:3"),
    };
    sx_promql_hist_t *r;
    int annot;
    /* Exponential then custom at the end. */
    assert_int_equal(sx_promql_hist_increase(pts, 3, true, &A, &r, &annot),
                     SX_PROMQL_HIST_EMIXED);
    assert_int_equal(annot, SX_PROMQL_HIST_ANNOT_MIXED_SCHEMAS);
    assert_null(r);
    /* Custom in the middle of a counter window; the gauge warning
     * gathered before is replaced, as Prometheus does. */
    sx_promql_hist_t *mid[] = {pts[0], pts[2], pts[1], pts[1]};
    mid[0] = H(0, 0, 0, 1, 0, "0:1", NULL);
    mid[0]->counter_reset_hint = SX_PROMQL_HIST_HINT_GAUGE;
    sx_promql_hist_t *last = H(0, 0, 0, 9, 0, "0:9", NULL);
    mid[3] = last;
    /* The first-point check sees no reset between mid[0] and mid[1]
     * (custom after exponential is one), so mid[0] is nulled out and the
     * window is "custom": the last point then clashes. */
    assert_int_equal(sx_promql_hist_increase(mid, 4, true, &A, &r, &annot),
                     SX_PROMQL_HIST_EMIXED);
    assert_int_equal(annot,
                     SX_PROMQL_HIST_ANNOT_NOT_COUNTER | SX_PROMQL_HIST_ANNOT_MIXED_SCHEMAS);
    sx_promql_hist_t *mid2[] = {pts[0], pts[1], pts[2], pts[1], last};
    mid2[0] = mid[0];
    assert_int_equal(sx_promql_hist_increase(mid2, 5, true, &A, &r, &annot),
                     SX_PROMQL_HIST_EMIXED);
    assert_int_equal(annot, SX_PROMQL_HIST_ANNOT_MIXED_SCHEMAS);
    /* A float point inside the window. */
    sx_promql_hist_t *fl[] = {pts[0], NULL, pts[1]};
    assert_int_equal(sx_promql_hist_increase(fl, 3, true, &A, &r, &annot),
                     SX_PROMQL_HIST_EFLOATS);
    assert_int_equal(annot, SX_PROMQL_HIST_ANNOT_MIXED_FLOATS);
    fl[2] = NULL;
    assert_int_equal(sx_promql_hist_increase(fl, 3, false, &A, &r, &annot),
                     SX_PROMQL_HIST_EFLOATS);
    assert_int_equal(sx_promql_hist_increase(pts, 0, true, &A, &r, &annot), SX_EINVAL);
    /* One point: an empty increase. */
    assert_int_equal(sx_promql_hist_increase(pts, 1, true, &A, &r, &annot), 0);
    assert_true(r->count == 0 && r->npos == 0);
}

static void test_hist_ops_rejects_invalid_schema(void **state)
{
    (void)state;
    sx_promql_hist_t *x = H(9, 0, 0, 1, 0, "0:1", NULL), *y = H(0, 0, 0, 1, 0, "0:1", NULL);
    sx_promql_hist_t *r;
    assert_int_equal(sx_promql_hist_add(x, y, &A, &r), SX_EINVAL);
    assert_int_equal(sx_promql_hist_copy_to_schema(x, 0, &A, &r), SX_EINVAL);
    sx_promql_hist_t *pts[] = {y, x};
    assert_int_equal(sx_promql_hist_increase(pts, 2, true, &A, &r, NULL), SX_EINVAL);
}

static void test_hist_ops_arena_limit_gives_enomem(void **state)
{
    (void)state;
    sx_promql_hist_t *x = H(0, 0, 0, 1, 0, "0:1 1:2", NULL);
    sx_arena_t small;
    sx_arena_init(&small);
    small._limit = 1; /* every chunk is over the limit */
    sx_promql_hist_t *r = (sx_promql_hist_t *)1;
    assert_int_equal(sx_promql_hist_add(x, x, &small, &r), SX_ENOMEM);
    assert_null(r);
    assert_int_equal(sx_promql_hist_copy(x, &small, &r), SX_ENOMEM);
    assert_int_equal(sx_promql_hist_mul(x, 2, &small, &r), SX_ENOMEM);
    sx_arena_dispose(&small);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_hist_ops_bounds_follow_prometheus_table),
        T(test_hist_ops_add_same_schema),
        T(test_hist_ops_sub_same_schema_and_to_empty),
        T(test_hist_ops_add_reduces_to_lower_schema),
        T(test_hist_ops_copy_to_schema_merges_buckets),
        T(test_hist_ops_add_reconciles_zero_thresholds),
        T(test_hist_ops_zero_threshold_widens_past_populated_bucket),
        T(test_hist_ops_zero_threshold_swallows_negative_buckets),
        T(test_hist_ops_custom_buckets),
        T(test_hist_ops_add_merges_counter_reset_hints),
        T(test_hist_ops_mul_and_div),
        T(test_hist_ops_compact_drops_empty_buckets_and_merges_spans),
        T(test_hist_ops_equal_follows_prometheus_equals),
        T(test_hist_ops_detect_reset_hints_and_counts),
        T(test_hist_ops_detect_reset_scan_stops_like_prometheus),
        T(test_hist_ops_detect_reset_schema_and_zero_threshold),
        T(test_hist_ops_increase_adds_back_before_reset),
        T(test_hist_ops_increase_uses_lowest_schema),
        T(test_hist_ops_increase_ignores_first_point_before_reset),
        T(test_hist_ops_increase_reports_mixes),
        T(test_hist_ops_rejects_invalid_schema),
        T(test_hist_ops_arena_limit_gives_enomem),
    };
    return cmocka_run_group_tests_name("promql_hist_ops", tests, NULL, NULL);
}
