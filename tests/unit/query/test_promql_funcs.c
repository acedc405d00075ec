/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for PromQL's function implementations (src/query/promql/
 * funcs.c), driven through the function table the way the evaluator calls
 * them: values and windows are built by hand over a few steps and series,
 * and the results are compared with values worked out from Prometheus'
 * definitions (rate extrapolation, bucket quantiles, Go's regexp
 * expansion, sort orders). */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "query/promql/promql_int.h"

typedef struct fixture {
    sx_arena_t a;
    sx_err_t err;
    pq_ctx_t ctx;
    int64_t ts[8];
} fixture_t;

static fixture_t F;

static pq_ctx_t *ctx_new(size_t nsteps, int64_t t0, int64_t step)
{
    sx_arena_dispose(&F.a);
    sx_arena_init(&F.a);
    memset(&F.err, 0, sizeof(F.err));
    memset(&F.ctx, 0, sizeof(F.ctx));
    for (size_t i = 0; i < nsteps; i++)
        F.ts[i] = t0 + (int64_t)i * step;
    F.ctx.a = &F.a;
    F.ctx.err = &F.err;
    F.ctx.nsteps = nsteps;
    F.ctx.ts = F.ts;
    F.ctx.start = t0;
    F.ctx.end = F.ts[nsteps - 1];
    F.ctx.step = nsteps > 1 ? step : 0;
    return &F.ctx;
}

static int teardown(void **state)
{
    (void)state;
    sx_arena_dispose(&F.a);
    memset(&F.a, 0, sizeof(F.a));
    return 0;
}

static int setup(void **state)
{
    (void)state;
    sx_arena_init(&F.a);
    return 0;
}

static const pq_func_t *fn(const char *name)
{
    const pq_func_t *f = sx_pq__func_lookup(sx_str(name));
    assert_non_null(f);
    return f;
}

static sx_label_t L(const char *n, const char *v)
{
    return (sx_label_t){sx_str(n), sx_str(v)};
}

/* Runs a window function over one series for every step of ctx; the
 * window ends at the step times. args: the call's other arguments. */
static double *run_window(const char *name, const char *metric, const int64_t *t, const double *v,
                          size_t n, int64_t range_ms, pq_value_t *args, size_t nargs)
{
    pq_ctx_t *c = &F.ctx;
    static sx_label_t lbls[1];
    lbls[0] = L("__name__", metric);
    pq_rseries_t rs = {.labels = lbls, .nlabels = 1, .t = (int64_t *)t, .v = (double *)v, .n = n};
    pq_call_t call = {.ctx = c, .args = args, .nargs = nargs};
    double *out = sx_pq__steps_new(c);
    sx_promql_hist_t **hout = sx_arena_calloc(c->a, c->nsteps, sizeof(*hout));
    pq_window_t w = {.ctx = c, .call = &call, .in = &rs, .wend = c->ts, .range_ms = range_ms,
                     .out = out, .hout = hout};
    const pq_func_t *f = fn(name);
    assert_non_null(f->window);
    f->window(&w);
    return out;
}

static pq_value_t scalar_arg(double v)
{
    pq_value_t a = {.type = SX_PROMQL_SCALAR};
    a.scalar = sx_pq__steps_new(&F.ctx);
    for (size_t i = 0; i < F.ctx.nsteps; i++)
        a.scalar[i] = v;
    return a;
}

static pq_value_t string_arg(const char *s)
{
    pq_value_t a = {.type = SX_PROMQL_STRING};
    a.str = sx_str(s);
    return a;
}

/* A one-step vector: one series per label set, values v[]. */
static pq_value_t vector_arg(sx_label_t **labels, const uint32_t *nlabels, const double *v,
                             size_t n)
{
    pq_value_t a = {.type = SX_PROMQL_VECTOR};
    a.s = sx_pq__series_new(&F.ctx, n);
    a.n = n;
    for (size_t j = 0; j < n; j++) {
        a.s[j].labels = labels[j];
        a.s[j].nlabels = nlabels[j];
        a.s[j].v = sx_pq__steps_new(&F.ctx);
        a.s[j].v[0] = v[j];
    }
    return a;
}

static int call_eval(const char *name, pq_value_t *args, size_t nargs, pq_value_t *out)
{
    pq_call_t call = {.ctx = &F.ctx, .args = args, .nargs = nargs};
    const pq_func_t *f = fn(name);
    assert_non_null(f->eval);
    return f->eval(&call, out);
}

static bool has_note(const char **list, size_t n, const char *needle)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(list[i], needle))
            return true;
    return false;
}

static void assert_close_(double a, double b, const char *file, int line)
{
    if (!(fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b)) + 1e-12))
        _fail(file, line);
}
#define assert_close(a, b) assert_close_((double)(a), (double)(b), __FILE__, __LINE__)

/* ---- Table ---- */

static void test_table_is_sorted_and_complete(void **state)
{
    (void)state;
    static const char *names[] = {"abs", "absent_over_time", "rate", "year", "histogram_quantile",
                                  "label_replace", "sort_by_label_desc", "vector"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const pq_func_t *f = fn(names[i]);
        assert_true((f->eval != NULL) != (f->window != NULL));
    }
    assert_non_null(sx_pq__func_lookup(sx_str("holt_winters"))); /* pre-3.0 name, kept */
    assert_null(sx_pq__func_lookup(sx_str("nope")));
}

/* ---- rate, increase, delta ---- */

static void test_rate_extrapolates_to_window_start(void **state)
{
    (void)state;
    ctx_new(1, 60000, 0);
    int64_t t[] = {10000, 20000, 30000, 40000, 50000, 60000};
    double v[] = {1, 2, 3, 4, 5, 6};
    /* Sampled 50s with 5 intervals of 10s; 10s to the start (under the
     * 11s threshold), zero point 10s before the first sample: factor
     * 60/50, increase 6, rate 6/60. */
    assert_close(run_window("increase", "x_total", t, v, 6, 60000, NULL, 0)[0], 6);
    assert_close(run_window("rate", "x_total", t, v, 6, 60000, NULL, 0)[0], 0.1);
    assert_close(run_window("delta", "x", t, v, 6, 60000, NULL, 0)[0], 6);
    assert_int_equal(F.ctx.notes.ninfos, 0);
}

static void test_rate_handles_counter_resets(void **state)
{
    (void)state;
    ctx_new(1, 60000, 0);
    int64_t t[] = {10000, 20000, 30000, 40000, 50000, 60000};
    double v[] = {1, 2, 3, 1, 2, 3};
    /* 3-1 plus the 3 lost at the reset = 5, extrapolated by 60/50. */
    assert_close(run_window("increase", "x_total", t, v, 6, 60000, NULL, 0)[0], 6);
    assert_close(run_window("resets", "x_total", t, v, 6, 60000, NULL, 0)[0], 1);
    assert_close(run_window("changes", "x_total", t, v, 6, 60000, NULL, 0)[0], 5);
}

static void test_rate_stops_extrapolation_at_zero(void **state)
{
    (void)state;
    ctx_new(1, 60000, 0);
    int64_t t[] = {10000, 20000, 30000, 40000, 50000, 60000};
    double v[] = {1, 3, 5, 7, 9, 11};
    /* The counter would be zero 5s before the first sample: factor 55/50. */
    assert_close(run_window("increase", "x_total", t, v, 6, 60000, NULL, 0)[0], 11);
    /* A gauge extrapolates the full 10s: factor 60/50. */
    assert_close(run_window("delta", "x", t, v, 6, 60000, NULL, 0)[0], 12);
}

static void test_rate_limits_extrapolation_to_half_interval(void **state)
{
    (void)state;
    ctx_new(1, 100000, 0);
    int64_t t[] = {40000, 50000, 60000};
    double v[] = {3, 2, 1};
    /* 40s gaps on both sides exceed 1.1 * 10s: extend 5s each way. */
    assert_close(run_window("delta", "x", t, v, 3, 100000, NULL, 0)[0], -3);
    double w[] = {10, 11, 12};
    assert_close(run_window("increase", "x_total", t, w, 3, 100000, NULL, 0)[0], 3);
}

static void test_rate_needs_two_points_and_notes_non_counters(void **state)
{
    (void)state;
    ctx_new(3, 60000, 60000);
    int64_t t[] = {30000, 90000, 100000};
    double v[] = {1, 2, 3};
    double *out = run_window("rate", "requests", t, v, 3, 60000, NULL, 0);
    assert_true(pq_is_absent(out[0]));                     /* one point */
    assert_true(pq_is_absent(out[2]));                     /* none */
    assert_false(pq_is_absent(out[1]));
    assert_true(has_note(F.ctx.notes.infos, F.ctx.notes.ninfos,
                         "PromQL info: metric might not be a counter, name does not end in "
                         "_total/_sum/_count/_bucket: \"requests\""));
}

static void test_irate_and_idelta_use_last_two_points(void **state)
{
    (void)state;
    ctx_new(1, 60000, 0);
    int64_t t[] = {30000, 50000, 60000};
    double v[] = {1, 5, 2};
    assert_close(run_window("irate", "x_total", t, v, 3, 60000, NULL, 0)[0], 0.2);
    assert_close(run_window("idelta", "x", t, v, 3, 60000, NULL, 0)[0], -3);
    double u[] = {1, 2, 6};
    assert_close(run_window("irate", "x_total", t, u, 3, 60000, NULL, 0)[0], 0.4);
}

/* ---- *_over_time ---- */

static void test_over_time_aggregations(void **state)
{
    (void)state;
    ctx_new(2, 40000, 20000);
    int64_t t[] = {10000, 20000, 30000, 40000, 50000, 60000};
    double v[] = {1, 2, 3, 4, NAN, 10};
    double *o;
    o = run_window("sum_over_time", "x", t, v, 6, 40000, NULL, 0);
    assert_close(o[0], 10);
    assert_true(isnan(o[1]));
    o = run_window("avg_over_time", "x", t, v, 6, 40000, NULL, 0);
    assert_close(o[0], 2.5);
    o = run_window("count_over_time", "x", t, v, 6, 40000, NULL, 0);
    assert_close(o[0], 4);
    assert_close(o[1], 4);
    o = run_window("max_over_time", "x", t, v, 6, 40000, NULL, 0);
    assert_close(o[0], 4);
    assert_close(o[1], 10); /* NaN is replaced by any later value */
    o = run_window("min_over_time", "x", t, v, 6, 40000, NULL, 0);
    assert_close(o[1], 3);
    o = run_window("last_over_time", "x", t, v, 6, 40000, NULL, 0);
    assert_close(o[0], 4);
    assert_close(o[1], 10);
    o = run_window("present_over_time", "x", t, v, 6, 40000, NULL, 0);
    assert_close(o[1], 1);
    o = run_window("stdvar_over_time", "x", t, v, 6, 40000, NULL, 0);
    assert_close(o[0], 1.25);
    o = run_window("stddev_over_time", "x", t, v, 6, 40000, NULL, 0);
    assert_close(o[0], sqrt(1.25));
    o = run_window("ts_of_max_over_time", "x", t, v, 6, 40000, NULL, 0);
    assert_close(o[0], 40);
    o = run_window("ts_of_last_over_time", "x", t, v, 6, 40000, NULL, 0);
    assert_close(o[1], 60);
}

static void test_avg_over_time_survives_overflow(void **state)
{
    (void)state;
    ctx_new(1, 30000, 0);
    int64_t t[] = {10000, 20000, 30000};
    double v[] = {DBL_MAX, DBL_MAX, DBL_MAX};
    double *o = run_window("avg_over_time", "x", t, v, 3, 30000, NULL, 0);
    assert_close(o[0], DBL_MAX);
}

static void test_quantile_and_mad_over_time(void **state)
{
    (void)state;
    ctx_new(1, 40000, 0);
    int64_t t[] = {10000, 20000, 30000, 40000};
    double v[] = {4, 1, 3, 2};
    pq_value_t q = scalar_arg(0.5);
    assert_close(run_window("quantile_over_time", "x", t, v, 4, 40000, &q, 1)[0], 2.5);
    q = scalar_arg(0.75);
    assert_close(run_window("quantile_over_time", "x", t, v, 4, 40000, &q, 1)[0], 3.25);
    q = scalar_arg(2);
    assert_true(isinf(run_window("quantile_over_time", "x", t, v, 4, 40000, &q, 1)[0]));
    assert_true(has_note(F.ctx.notes.warnings, F.ctx.notes.nwarnings,
                         "PromQL warning: quantile value should be between 0 and 1, got 2"));
    /* Go's %g: shortest digits, exponent only below 1e-4 or from 1e6. */
    static const struct {
        double q;
        const char *text;
    } gs[] = {{100000, "got 100000"}, {-0.5, "got -0.5"}, {-1e-5, "got -1e-05"},
              {1e6, "got 1e+06"}, {NAN, "got NaN"}};
    for (size_t i = 0; i < sizeof(gs) / sizeof(gs[0]); i++) {
        q = scalar_arg(gs[i].q);
        run_window("quantile_over_time", "x", t, v, 4, 40000, &q, 1);
        assert_true(has_note(F.ctx.notes.warnings, F.ctx.notes.nwarnings, gs[i].text));
    }
    /* Median 2.5; deviations 1.5 1.5 0.5 0.5; their median 1. */
    assert_close(run_window("mad_over_time", "x", t, v, 4, 40000, NULL, 0)[0], 1);
}

static void test_changes_treats_nan_as_equal(void **state)
{
    (void)state;
    ctx_new(1, 50000, 0);
    int64_t t[] = {10000, 20000, 30000, 40000, 50000};
    double v[] = {1, NAN, NAN, 1, 1};
    assert_close(run_window("changes", "x", t, v, 5, 50000, NULL, 0)[0], 2);
}

/* ---- deriv, predict_linear, smoothing ---- */

static void test_deriv_and_predict_linear(void **state)
{
    (void)state;
    ctx_new(1, 40000, 0);
    int64_t t[] = {10000, 20000, 30000, 40000};
    double v[] = {1, 3, 5, 7};
    assert_close(run_window("deriv", "x", t, v, 4, 40000, NULL, 0)[0], 0.2);
    pq_value_t args[2] = {{0}, scalar_arg(100)};
    /* Regression relative to the evaluation time 40s: 7 + 0.2 * 100. */
    assert_close(run_window("predict_linear", "x", t, v, 4, 40000, args, 2)[0], 27);
    double k[] = {5, 5, 5, 5};
    assert_close(run_window("deriv", "x", t, k, 4, 40000, NULL, 0)[0], 0);
}

static void test_double_exponential_smoothing(void **state)
{
    (void)state;
    ctx_new(1, 40000, 0);
    int64_t t[] = {10000, 20000, 30000, 40000};
    double v[] = {1, 2, 3, 4};
    pq_value_t args[3] = {{0}, scalar_arg(0.5), scalar_arg(0.5)};
    /* A straight line is reproduced exactly. */
    assert_close(run_window("double_exponential_smoothing", "x", t, v, 4, 40000, args, 3)[0], 4);
    args[1] = scalar_arg(1);
    run_window("double_exponential_smoothing", "x", t, v, 4, 40000, args, 3);
    assert_int_equal(F.err.code, SX_EEXEC);
    assert_string_equal(F.err.msg, "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000");
}

/* ---- Instant-vector functions ---- */

static void test_math_round_clamp(void **state)
{
    (void)state;
    ctx_new(1, 0, 0);
    sx_label_t l1[] = {L("__name__", "a")}, l2[] = {L("__name__", "b")};
    sx_label_t *ls[] = {l1, l2};
    uint32_t ns[] = {1, 1};
    double v[] = {-2.5, 2.5};
    pq_value_t args[3], out;
    args[0] = vector_arg(ls, ns, v, 2);
    assert_int_equal(call_eval("abs", args, 1, &out), 0);
    assert_int_equal(out.n, 2);
    assert_close(out.s[0].v[0], 2.5);
    assert_ptr_equal(out.s[0].labels, l1);
    assert_int_equal(call_eval("round", args, 1, &out), 0);
    assert_close(out.s[0].v[0], -2); /* ties round up */
    assert_close(out.s[1].v[0], 3);
    args[1] = scalar_arg(2);
    assert_int_equal(call_eval("round", args, 2, &out), 0);
    assert_close(out.s[0].v[0], -2);
    args[1] = scalar_arg(-1);
    args[2] = scalar_arg(1);
    assert_int_equal(call_eval("clamp", args, 3, &out), 0);
    assert_close(out.s[0].v[0], -1);
    assert_close(out.s[1].v[0], 1);
    args[1] = scalar_arg(1);
    args[2] = scalar_arg(-1);
    assert_int_equal(call_eval("clamp", args, 3, &out), 0);
    assert_int_equal(out.n, 0);
    assert_int_equal(call_eval("sgn", args, 1, &out), 0);
    assert_close(out.s[0].v[0], -1);
}

static void test_scalar_vector_time(void **state)
{
    (void)state;
    ctx_new(2, 5000, 1000);
    pq_value_t args[1], out;
    args[0] = scalar_arg(3);
    assert_int_equal(call_eval("vector", args, 1, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.s[0].nlabels, 0);
    assert_close(out.s[0].v[1], 3);
    assert_int_equal(call_eval("time", NULL, 0, &out), 0);
    assert_int_equal(out.type, SX_PROMQL_SCALAR);
    assert_close(out.scalar[1], 6);
    sx_label_t l1[] = {L("a", "1")}, l2[] = {L("a", "2")};
    sx_label_t *ls[] = {l1, l2};
    uint32_t ns[] = {1, 1};
    double v[] = {7, 8};
    args[0] = vector_arg(ls, ns, v, 2);
    assert_int_equal(call_eval("scalar", args, 1, &out), 0);
    assert_true(isnan(out.scalar[0])); /* two values */
    args[0].n = 1;
    assert_int_equal(call_eval("scalar", args, 1, &out), 0);
    assert_close(out.scalar[0], 7);
    assert_true(isnan(out.scalar[1])); /* none at step 1 */
}

static void test_date_functions(void **state)
{
    (void)state;
    ctx_new(1, 0, 0);
    sx_label_t l1[] = {L("a", "1")};
    sx_label_t *ls[] = {l1};
    uint32_t ns[] = {1};
    double v[] = {1136239445}; /* 2006-01-02T22:04:05Z, a Monday */
    pq_value_t args[1], out;
    args[0] = vector_arg(ls, ns, v, 1);
    static const struct {
        const char *fn;
        double want;
    } cases[] = {{"year", 2006}, {"month", 1}, {"day_of_month", 2}, {"day_of_week", 1},
                 {"day_of_year", 2}, {"hour", 22}, {"minute", 4}, {"days_in_month", 31}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(call_eval(cases[i].fn, args, 1, &out), 0);
        assert_close(out.s[0].v[0], cases[i].want);
    }
    v[0] = 1456790399; /* 2016-02-29T23:59:59Z */
    args[0] = vector_arg(ls, ns, v, 1);
    assert_int_equal(call_eval("days_in_month", args, 1, &out), 0);
    assert_close(out.s[0].v[0], 29);
    assert_int_equal(call_eval("day_of_year", args, 1, &out), 0);
    assert_close(out.s[0].v[0], 60);
    assert_int_equal(call_eval("year", NULL, 0, &out), 0);
    assert_close(out.s[0].v[0], 1970);
}

static void test_absent_reports_equality_matchers(void **state)
{
    (void)state;
    ctx_new(2, 0, 1000);
    sx_matcher_t m[] = {{SX_STR_LIT("__name__"), SX_STR_LIT("nope"), SX_MATCH_EQ, NULL},
                        {SX_STR_LIT("job"), SX_STR_LIT("a"), SX_MATCH_EQ, NULL},
                        {SX_STR_LIT("env"), SX_STR_LIT("x.*"), SX_MATCH_RE, NULL},
                        {SX_STR_LIT("dup"), SX_STR_LIT("1"), SX_MATCH_EQ, NULL},
                        {SX_STR_LIT("dup"), SX_STR_LIT("2"), SX_MATCH_EQ, NULL}};
    pq_node_t sel = {.kind = PQ_VSEL, .type = SX_PROMQL_VECTOR};
    sel.sel.m = m;
    sel.sel.nm = 5;
    pq_node_t *argp = &sel;
    pq_node_t call_node = {.kind = PQ_CALL};
    call_node.call.args = &argp;
    call_node.call.nargs = 1;
    sx_label_t l1[] = {L("a", "1")};
    sx_label_t *ls[] = {l1};
    uint32_t ns[] = {1};
    double v[] = {1};
    pq_value_t args[1] = {vector_arg(ls, ns, v, 1)}, out;
    pq_call_t call = {.ctx = &F.ctx, .node = &call_node, .args = args, .nargs = 1};
    assert_int_equal(fn("absent")->eval(&call, &out), 0);
    assert_int_equal(out.n, 1);
    assert_int_equal(out.s[0].nlabels, 1);
    assert_string_equal(out.s[0].labels[0].name.ptr, "job");
    assert_true(pq_is_absent(out.s[0].v[0])); /* present at step 0 */
    assert_close(out.s[0].v[1], 1);
}

static void test_absent_over_time_uses_windows(void **state)
{
    (void)state;
    ctx_new(3, 10000, 10000);
    int64_t t[] = {5000};
    double v[] = {1};
    pq_rseries_t rs = {.t = t, .v = v, .n = 1};
    int64_t wend[] = {10000, 20000, 30000};
    pq_value_t args[1] = {{.type = SX_PROMQL_MATRIX, .rs = &rs, .nrs = 1, .range_ms = 10000,
                           .wend = wend}};
    pq_node_t call_node = {.kind = PQ_CALL};
    pq_call_t call = {.ctx = &F.ctx, .node = &call_node, .args = args, .nargs = 1};
    pq_value_t out;
    assert_int_equal(fn("absent_over_time")->eval(&call, &out), 0);
    assert_int_equal(out.n, 1);
    assert_true(pq_is_absent(out.s[0].v[0]));
    assert_close(out.s[0].v[1], 1);
    assert_close(out.s[0].v[2], 1);
}

/* ---- Sorting ---- */

static void test_sort_orders_nan_last(void **state)
{
    (void)state;
    ctx_new(1, 0, 0);
    sx_label_t l[4][1] = {{L("i", "0")}, {L("i", "1")}, {L("i", "2")}, {L("i", "3")}};
    sx_label_t *ls[] = {l[0], l[1], l[2], l[3]};
    uint32_t ns[] = {1, 1, 1, 1};
    double v[] = {3, NAN, 1, 3};
    pq_value_t args[1] = {vector_arg(ls, ns, v, 4)}, out;
    assert_int_equal(call_eval("sort", args, 1, &out), 0);
    assert_true(F.ctx.ordered);
    assert_int_equal(out.n, 4);
    assert_ptr_equal(out.s[0].labels, l[2]);
    assert_ptr_equal(out.s[1].labels, l[0]); /* stable among equal values */
    assert_ptr_equal(out.s[2].labels, l[3]);
    assert_ptr_equal(out.s[3].labels, l[1]);
    assert_int_equal(call_eval("sort_desc", args, 1, &out), 0);
    assert_ptr_equal(out.s[0].labels, l[0]);
    assert_ptr_equal(out.s[1].labels, l[3]);
    assert_ptr_equal(out.s[2].labels, l[2]);
    assert_ptr_equal(out.s[3].labels, l[1]);
}

static void test_sort_by_label_is_natural(void **state)
{
    (void)state;
    ctx_new(1, 0, 0);
    sx_label_t l[3][1] = {{L("inst", "a10")}, {L("inst", "a2")}, {L("inst", "a1")}};
    sx_label_t *ls[] = {l[0], l[1], l[2]};
    uint32_t ns[] = {1, 1, 1};
    double v[] = {1, 2, 3};
    pq_value_t args[2] = {vector_arg(ls, ns, v, 3), string_arg("inst")}, out;
    assert_int_equal(call_eval("sort_by_label", args, 2, &out), 0);
    assert_ptr_equal(out.s[0].labels, l[2]);
    assert_ptr_equal(out.s[1].labels, l[1]);
    assert_ptr_equal(out.s[2].labels, l[0]);
    assert_int_equal(call_eval("sort_by_label_desc", args, 2, &out), 0);
    assert_ptr_equal(out.s[0].labels, l[0]);
    assert_ptr_equal(out.s[2].labels, l[2]);
}

/* ---- Labels ---- */

static sx_str_t label_of(const pq_series_t *s, const char *name)
{
    return sx_pq__label_get(s->labels, s->nlabels, sx_str(name));
}

static void test_label_replace_expands_like_go(void **state)
{
    (void)state;
    ctx_new(1, 0, 0);
    sx_label_t l1[] = {L("__name__", "m"), L("src", "source-value-10")};
    sx_label_t l2[] = {L("__name__", "m"), L("src", "other")};
    sx_label_t *ls[] = {l1, l2};
    uint32_t ns[] = {2, 2};
    double v[] = {1, 2};
    pq_value_t args[5], out;
    args[0] = vector_arg(ls, ns, v, 2);
    args[1] = string_arg("dst");
    args[2] = string_arg("$1-${2}x-$2x-$$-$name");
    args[3] = string_arg("src");
    args[4] = string_arg("source-(?P<name>value)-(.*)");
    assert_int_equal(call_eval("label_replace", args, 5, &out), 0);
    assert_int_equal(out.n, 2);
    const pq_series_t *a = out.s[0].v[0] == 1 ? &out.s[0] : &out.s[1];
    const pq_series_t *b = a == &out.s[0] ? &out.s[1] : &out.s[0];
    assert_true(sx_str_eq_cstr(label_of(a, "dst"), "value-10x--$-value"));
    assert_int_equal(b->nlabels, 2); /* no match: unchanged */
    assert_ptr_equal(b->labels, l2);
    assert_ptr_not_equal(a->labels, l1); /* a copy; the input is untouched */
    assert_true(sx_str_eq_cstr(l1[1].value, "source-value-10"));

    /* Anchored: a partial match does not replace. */
    args[4] = string_arg("value");
    assert_int_equal(call_eval("label_replace", args, 5, &out), 0);
    assert_int_equal(out.s[0].nlabels, 2);

    args[4] = string_arg("(.*");
    assert_int_equal(call_eval("label_replace", args, 5, &out), SX_EEXEC);
    assert_string_equal(F.err.msg, "invalid regular expression in label_replace(): (.*");
    args[4] = string_arg("(.*)");
    args[1] = string_arg("\xff");
    assert_int_equal(call_eval("label_replace", args, 5, &out), SX_EEXEC);
    assert_string_equal(F.err.msg, "invalid destination label name in label_replace(): \xff");
}

static void test_label_replace_rejects_duplicate_labelsets(void **state)
{
    (void)state;
    ctx_new(1, 0, 0);
    sx_label_t l1[] = {L("__name__", "m"), L("src", "a")};
    sx_label_t l2[] = {L("__name__", "m"), L("src", "b")};
    sx_label_t *ls[] = {l1, l2};
    uint32_t ns[] = {2, 2};
    double v[] = {1, 2};
    pq_value_t args[5], out;
    args[0] = vector_arg(ls, ns, v, 2);
    args[1] = string_arg("src");
    args[2] = string_arg("");
    args[3] = string_arg("");
    args[4] = string_arg("");
    assert_int_equal(call_eval("label_replace", args, 5, &out), SX_EEXEC);
    assert_string_equal(F.err.msg, "vector cannot contain metrics with the same labelset");
}

static void test_label_join(void **state)
{
    (void)state;
    ctx_new(1, 0, 0);
    sx_label_t l1[] = {L("__name__", "m"), L("a", "x"), L("b", "y")};
    sx_label_t *ls[] = {l1};
    uint32_t ns[] = {3};
    double v[] = {1};
    pq_value_t args[6], out;
    args[0] = vector_arg(ls, ns, v, 1);
    args[1] = string_arg("__name__");
    args[2] = string_arg("-");
    args[3] = string_arg("a");
    args[4] = string_arg("missing");
    args[5] = string_arg("b");
    args[0].s[0].drop_name = true;
    assert_int_equal(call_eval("label_join", args, 6, &out), 0);
    assert_true(sx_str_eq_cstr(label_of(&out.s[0], "__name__"), "x--y"));
    assert_false(out.s[0].drop_name);
}

/* ---- Histograms ---- */

static void test_histogram_quantile_classic(void **state)
{
    (void)state;
    ctx_new(1, 0, 0);
    sx_label_t b1[] = {L("__name__", "h_bucket"), L("job", "a"), L("le", "0.1")};
    sx_label_t b2[] = {L("__name__", "h_bucket"), L("job", "a"), L("le", "1")};
    sx_label_t b3[] = {L("__name__", "h_bucket"), L("job", "a"), L("le", "+Inf")};
    sx_label_t b4[] = {L("__name__", "h_bucket"), L("job", "b")};
    sx_label_t *ls[] = {b1, b2, b3, b4};
    uint32_t ns[] = {3, 3, 3, 2};
    double v[] = {1, 3, 4, 5};
    pq_value_t args[2] = {scalar_arg(0.5), vector_arg(ls, ns, v, 4)}, out;
    assert_int_equal(call_eval("histogram_quantile", args, 2, &out), 0);
    assert_int_equal(out.n, 1);
    assert_close(out.s[0].v[0], 0.55);
    assert_null(sx_pq__label_get(out.s[0].labels, out.s[0].nlabels, sx_str("le")).ptr);
    assert_true(has_note(F.ctx.notes.warnings, F.ctx.notes.nwarnings,
                         "PromQL warning: bucket label \"le\" is missing or has a malformed value "
                         "of \"\" for metric name \"h_bucket\""));
    /* In the +Inf bucket: the highest finite bound. */
    args[0] = scalar_arg(0.9);
    assert_int_equal(call_eval("histogram_quantile", args, 2, &out), 0);
    assert_close(out.s[0].v[0], 1);
    args[0] = scalar_arg(-1);
    assert_int_equal(call_eval("histogram_quantile", args, 2, &out), 0);
    assert_true(isinf(out.s[0].v[0]) && out.s[0].v[0] < 0);
    /* Non-monotonic buckets are fixed, with an info. */
    double w[] = {3, 1, 4, 5};
    args[0] = scalar_arg(0.5);
    args[1] = vector_arg(ls, ns, w, 4);
    assert_int_equal(call_eval("histogram_quantile", args, 2, &out), 0);
    assert_close(out.s[0].v[0], 0.1 * 2 / 3);
    assert_true(has_note(F.ctx.notes.infos, F.ctx.notes.ninfos,
                         "input to histogram_quantile needed to be fixed for monotonicity"));
    /* histogram_fraction over the same buckets (3,3,4 after the fix
     * is not applied by BucketFraction: 1 at 0.1, 3 at 1). */
    args[0] = scalar_arg(0);
    pq_value_t fargs[3] = {scalar_arg(0), scalar_arg(1), vector_arg(ls, ns, v, 4)};
    assert_int_equal(call_eval("histogram_fraction", fargs, 3, &out), 0);
    assert_close(out.s[0].v[0], 0.75);
}

static void test_native_histogram_functions(void **state)
{
    (void)state;
    ctx_new(1, 0, 0);
    /* schema 0: buckets (0.5,1] (1,2] (2,4] with 1, 2, 1; zero bucket 0. */
    sx_promql_span_t span = {0, 3};
    double pos[] = {1, 2, 1};
    sx_promql_hist_t h = {.schema = 0, .zero_threshold = 0.001, .count = 4, .sum = 7,
                          .pos_spans = &span, .npos_spans = 1, .pos = pos, .npos = 3};
    sx_label_t l1[] = {L("__name__", "h")};
    sx_label_t *ls[] = {l1};
    uint32_t ns[] = {1};
    double v[] = {0};
    pq_value_t args[3], out;
    args[0] = vector_arg(ls, ns, v, 1);
    sx_promql_hist_t *hp = &h;
    args[0].s[0].h = &hp;
    assert_int_equal(call_eval("histogram_count", args, 1, &out), 0);
    assert_close(out.s[0].v[0], 4);
    assert_int_equal(call_eval("histogram_sum", args, 1, &out), 0);
    assert_close(out.s[0].v[0], 7);
    assert_int_equal(call_eval("histogram_avg", args, 1, &out), 0);
    assert_close(out.s[0].v[0], 1.75);
    /* Median: rank 2 ends half way into (1,2]: exponential interpolation
     * gives sqrt(2). */
    pq_value_t q[2] = {scalar_arg(0.5), args[0]};
    assert_int_equal(call_eval("histogram_quantile", q, 2, &out), 0);
    assert_close(out.s[0].v[0], sqrt(2));
    pq_value_t fr[3] = {scalar_arg(0), scalar_arg(2), args[0]};
    assert_int_equal(call_eval("histogram_fraction", fr, 3, &out), 0);
    assert_close(out.s[0].v[0], 0.75);
    /* Float samples are ignored by histogram_count. */
    args[0].s[0].h = NULL;
    assert_int_equal(call_eval("histogram_count", args, 1, &out), 0);
    assert_int_equal(out.n, 0);
}

/* ---- Native histograms in range functions ---- */

/* Runs a window function over one series of histogram points (and
 * optionally float points) for every step of ctx; returns the histogram
 * outputs, the float ones in *fout (may be NULL). */
static sx_promql_hist_t **run_hwindow(const char *name, const int64_t *ht,
                                      sx_promql_hist_t **h, size_t nh, const int64_t *t,
                                      const double *v, size_t n, int64_t range_ms, double **fout)
{
    pq_ctx_t *c = &F.ctx;
    static sx_label_t lbls[1];
    lbls[0] = L("__name__", "m");
    pq_rseries_t rs = {.labels = lbls, .nlabels = 1, .t = (int64_t *)t, .v = (double *)v, .n = n,
                       .ht = (int64_t *)ht, .h = h, .nh = nh};
    pq_call_t call = {.ctx = c};
    double *out = sx_pq__steps_new(c);
    sx_promql_hist_t **hout = sx_arena_calloc(c->a, c->nsteps, sizeof(*hout));
    pq_window_t w = {.ctx = c, .call = &call, .in = &rs, .wend = c->ts, .range_ms = range_ms,
                     .out = out, .hout = hout};
    fn(name)->window(&w);
    if (fout)
        *fout = out;
    return hout;
}

/* A schema-0 histogram with buckets 0..n-1 (or custom bounds when ncustom
 * is set), in the test arena. */
static sx_promql_hist_t *mkhist(const double *b, uint32_t n, double sum, uint8_t hint,
                                const double *custom, uint32_t ncustom)
{
    sx_promql_hist_t *h = sx_arena_calloc(&F.a, 1, sizeof(*h));
    sx_promql_span_t *sp = sx_arena_calloc(&F.a, 1, sizeof(*sp));
    double *pos = sx_arena_alloc(&F.a, n * sizeof(double));
    *sp = (sx_promql_span_t){0, n};
    memcpy(pos, b, n * sizeof(double));
    h->schema = ncustom ? -53 : 0;
    h->counter_reset_hint = hint;
    h->zero_threshold = ncustom ? 0 : 0.001;
    for (uint32_t i = 0; i < n; i++)
        h->count += b[i];
    h->sum = sum;
    h->pos_spans = sp;
    h->npos_spans = 1;
    h->pos = pos;
    h->npos = n;
    h->custom_values = (double *)custom;
    h->ncustom = ncustom;
    return h;
}

/* Forgets the annotations so far, keeping the arena (and the histograms
 * built in it), unlike ctx_new. */
static void notes_reset(void)
{
    memset(&F.ctx.notes, 0, sizeof(F.ctx.notes));
    memset(F.ctx._notes_cap, 0, sizeof(F.ctx._notes_cap));
}

static bool warned(const char *needle)
{
    return has_note(F.ctx.notes.warnings, F.ctx.notes.nwarnings, needle);
}

static void test_rate_over_histograms_is_a_gauge_without_zero_point(void **state)
{
    (void)state;
    ctx_new(1, 60000, 0);
    int64_t ht[] = {30000, 60000};
    sx_promql_hist_t *h[] = {mkhist((double[]){1, 0, 0}, 3, 1, 0, NULL, 0),
                             mkhist((double[]){1, 2, 1}, 3, 5, 0, NULL, 0)};
    /* 30s sampled, 30s to the window start (under the 33s threshold).
     * Prometheus 3.5 does not stop histograms at the zero point (which a
     * float counter would reach 10s before the first point), so the
     * factor is 60/30. */
    sx_promql_hist_t *r = run_hwindow("increase", ht, h, 2, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_close(r->count, 6);
    assert_close(r->sum, 8);
    assert_int_equal(r->counter_reset_hint, 3);
    r = run_hwindow("rate", ht, h, 2, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_close(r->count, 0.1);
    assert_int_equal(r->counter_reset_hint, 3);
    assert_int_equal(F.ctx.notes.nwarnings, 0);
    assert_int_equal(F.ctx.notes.ninfos, 0); /* no "might not be a counter" for histograms */
    /* delta() over counter histograms computes, but warns. */
    r = run_hwindow("delta", ht, h, 2, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_close(r->count, 6);
    assert_true(warned("PromQL warning: this native histogram metric is not a gauge: \"m\""));
}

static void test_rate_over_gauge_histograms_warns(void **state)
{
    (void)state;
    ctx_new(1, 60000, 0);
    int64_t ht[] = {30000, 60000};
    sx_promql_hist_t *h[] = {mkhist((double[]){1}, 1, 1, 3, NULL, 0),
                             mkhist((double[]){2}, 1, 2, 3, NULL, 0)};
    sx_promql_hist_t *r = run_hwindow("rate", ht, h, 2, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_true(warned("PromQL warning: this native histogram metric is not a counter: \"m\""));
    notes_reset();
    r = run_hwindow("delta", ht, h, 2, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_close(r->count, 2);
    assert_int_equal(F.ctx.notes.nwarnings, 0);
    r = run_hwindow("irate", ht, h, 2, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_true(warned("this native histogram metric is not a counter"));
}

static void test_irate_and_idelta_over_histograms(void **state)
{
    (void)state;
    ctx_new(1, 60000, 0);
    int64_t ht[] = {20000, 40000, 50000};
    sx_promql_hist_t *h[] = {mkhist((double[]){5}, 1, 5, 0, NULL, 0),
                             mkhist((double[]){1, 1}, 2, 3, 0, NULL, 0),
                             mkhist((double[]){2, 4}, 2, 8, 0, NULL, 0)};
    /* The last two: (2,4) - (1,1) over 10s. */
    sx_promql_hist_t *r = run_hwindow("irate", ht, h, 3, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_close(r->count, 0.4);
    assert_close(r->sum, 0.5);
    assert_int_equal(r->counter_reset_hint, 3);
    r = run_hwindow("idelta", ht, h, 3, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_close(r->count, 4);
    assert_true(warned("this native histogram metric is not a gauge"));
    /* Across a reset irate takes the later histogram itself. */
    F.ts[0] = 45000;
    notes_reset();
    r = run_hwindow("irate", ht, h, 2, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_close(r->count, 0.1);
    assert_int_equal(F.ctx.notes.nwarnings, 0);
    /* A float and a histogram as the last two points: no result. */
    F.ts[0] = 60000;
    int64_t t[] = {45000};
    double v[] = {1};
    double *fo;
    r = run_hwindow("irate", ht + 2, h + 2, 1, t, v, 1, 60000, &fo)[0];
    assert_null(r);
    assert_true(pq_is_absent(fo[0]));
    assert_true(warned("PromQL warning: encountered a mix of histograms and floats for metric "
                       "name \"m\""));
}

static void test_sum_and_avg_over_time_of_histograms(void **state)
{
    (void)state;
    ctx_new(1, 60000, 0);
    int64_t ht[] = {20000, 40000, 60000};
    sx_promql_hist_t *h[] = {mkhist((double[]){1, 2}, 2, 3, 0, NULL, 0),
                             mkhist((double[]){3}, 1, 4, 0, NULL, 0),
                             mkhist((double[]){2, 4}, 2, 8, 0, NULL, 0)};
    sx_promql_hist_t *r = run_hwindow("sum_over_time", ht, h, 3, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_close(r->count, 12);
    assert_close(r->sum, 15);
    assert_close(r->pos[0], 6);
    assert_close(r->pos[1], 6);
    r = run_hwindow("avg_over_time", ht, h, 3, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_close(r->count, 4);
    assert_close(r->sum, 5);
    assert_close(r->pos[0], 2);
    assert_int_equal(F.ctx.notes.nwarnings, 0);
    /* Floats and histograms in one window: no result. */
    int64_t t[] = {30000};
    double v[] = {1};
    double *fo;
    r = run_hwindow("sum_over_time", ht, h, 3, t, v, 1, 60000, &fo)[0];
    assert_null(r);
    assert_true(pq_is_absent(fo[0]));
    assert_true(warned("encountered a mix of histograms and floats"));
    /* Custom buckets with different bounds cannot be added. */
    notes_reset();
    static const double b1[] = {2}, b2[] = {5, 10};
    sx_promql_hist_t *c[] = {mkhist((double[]){1}, 1, 1, 0, b1, 1),
                             mkhist((double[]){1}, 1, 1, 0, b2, 2)};
    assert_null(run_hwindow("avg_over_time", ht, c, 2, NULL, NULL, 0, 60000, NULL)[0]);
    assert_true(warned("PromQL warning: vector contains histograms with incompatible custom "
                       "buckets for metric name \"m\""));
    /* The same change of bounds is a counter reset for resets() and a
     * change for changes(), and rate() starts over from the second. */
    double *n;
    run_hwindow("resets", ht, c, 2, NULL, NULL, 0, 60000, &n);
    assert_close(n[0], 1);
    run_hwindow("changes", ht, c, 2, NULL, NULL, 0, 60000, &n);
    assert_close(n[0], 1);
    r = run_hwindow("increase", ht, c, 2, NULL, NULL, 0, 60000, NULL)[0];
    assert_non_null(r);
    assert_int_equal(r->schema, -53);
    assert_int_equal(r->ncustom, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_sorted_and_complete),
        cmocka_unit_test(test_rate_extrapolates_to_window_start),
        cmocka_unit_test(test_rate_handles_counter_resets),
        cmocka_unit_test(test_rate_stops_extrapolation_at_zero),
        cmocka_unit_test(test_rate_limits_extrapolation_to_half_interval),
        cmocka_unit_test(test_rate_needs_two_points_and_notes_non_counters),
        cmocka_unit_test(test_irate_and_idelta_use_last_two_points),
        cmocka_unit_test(test_over_time_aggregations),
        cmocka_unit_test(test_avg_over_time_survives_overflow),
        cmocka_unit_test(test_quantile_and_mad_over_time),
        cmocka_unit_test(test_changes_treats_nan_as_equal),
        cmocka_unit_test(test_deriv_and_predict_linear),
        cmocka_unit_test(test_double_exponential_smoothing),
        cmocka_unit_test(test_math_round_clamp),
        cmocka_unit_test(test_scalar_vector_time),
        cmocka_unit_test(test_date_functions),
        cmocka_unit_test(test_absent_reports_equality_matchers),
        cmocka_unit_test(test_absent_over_time_uses_windows),
        cmocka_unit_test(test_sort_orders_nan_last),
        cmocka_unit_test(test_sort_by_label_is_natural),
        cmocka_unit_test(test_label_replace_expands_like_go),
        cmocka_unit_test(test_label_replace_rejects_duplicate_labelsets),
        cmocka_unit_test(test_label_join),
        cmocka_unit_test(test_histogram_quantile_classic),
        cmocka_unit_test(test_native_histogram_functions),
        cmocka_unit_test(test_rate_over_histograms_is_a_gauge_without_zero_point),
        cmocka_unit_test(test_rate_over_gauge_histograms_warns),
        cmocka_unit_test(test_irate_and_idelta_over_histograms),
        cmocka_unit_test(test_sum_and_avg_over_time_of_histograms),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
