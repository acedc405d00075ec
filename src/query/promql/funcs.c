/* SPDX-License-Identifier: Apache-2.0 */
/* PromQL's functions: the table the parser type-checks calls against and
 * the evaluator dispatches through, and every function's implementation
 * with Prometheus 3.5 semantics (promql/functions.go, quantile.go).
 * Range-vector functions implement a window callback that sees one series'
 * raw points and fills one value per step; the others take evaluated
 * arguments and build a whole value. Everything is allocated in the query
 * arena, and input label arrays are shared, never written through. */
#include "promql_int.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <float.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hist_ops.h"

static const sx_str_t name_label = {"__name__", 8};
static const sx_str_t le_label = {"le", 2};
/* Go's math.Pi rounded to a double (go_pi is not ISO C). */
static const double go_pi = 3.14159265358979323846264338327950288;

/* ---- Shared helpers ---- */

/* Go's math.Max / math.Min: an infinity of the right sign wins over NaN,
 * NaN wins over everything else, and +0 > -0. C's fmax/fmin ignore NaN. */
static double go_max(double x, double y)
{
    if ((isinf(x) && x > 0) || (isinf(y) && y > 0))
        return INFINITY;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0 && x == y)
        return signbit(x) ? y : x;
    return x > y ? x : y;
}

static double go_min(double x, double y)
{
    if ((isinf(x) && x < 0) || (isinf(y) && y < 0))
        return -INFINITY;
    if (isnan(x) || isnan(y))
        return NAN;
    if (x == 0 && x == y)
        return signbit(x) ? x : y;
    return x < y ? x : y;
}

static sx_str_t metric_name(const sx_label_t *l, uint32_t n)
{
    return sx_pq__label_get(l, n, name_label);
}

static inline bool slot_hist(const pq_series_t *s, size_t i)
{
    return s->h && s->h[i];
}

static inline bool slot_float(const pq_series_t *s, size_t i)
{
    return !slot_hist(s, i) && !pq_is_absent(s->v[i]);
}

static inline bool slot_any(const pq_series_t *s, size_t i)
{
    return slot_hist(s, i) || !pq_is_absent(s->v[i]);
}

static double arg_scalar(const pq_value_t *a, size_t i)
{
    return a->scalar ? a->scalar[i] : NAN;
}

static bool delayed_name_removal(const pq_ctx_t *c)
{
    return c->opts ? c->opts->delayed_name_removal : true;
}

/* Prometheus 3 label names: any non-empty valid UTF-8 string. */
static bool label_name_valid(sx_str_t s)
{
    if (s.len == 0)
        return false;
    const unsigned char *p = (const unsigned char *)s.ptr, *e = p + s.len;
    while (p < e) {
        unsigned ch = *p;
        size_t n;
        unsigned cp;
        if (ch < 0x80) {
            p++;
            continue;
        } else if ((ch & 0xe0) == 0xc0) {
            n = 1, cp = ch & 0x1f;
        } else if ((ch & 0xf0) == 0xe0) {
            n = 2, cp = ch & 0x0f;
        } else if ((ch & 0xf8) == 0xf0) {
            n = 3, cp = ch & 0x07;
        } else {
            return false;
        }
        if ((size_t)(e - p) <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[k] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

/* A vector value with room for n series. */
static void vector_init(pq_ctx_t *c, pq_value_t *out, size_t n)
{
    memset(out, 0, sizeof(*out));
    out->type = SX_PROMQL_VECTOR;
    out->s = sx_pq__series_new(c, n);
    out->n = 0;
}

/* Append a series with s's labels and the values v (when any step has
 * one). The evaluator marks the name for dropping. */
static void vector_push(pq_value_t *out, const pq_series_t *s, double *v)
{
    pq_series_t *o = &out->s[out->n++];
    o->labels = s->labels;
    o->nlabels = s->nlabels;
    o->v = v;
}

static void scalar_init(pq_ctx_t *c, pq_value_t *out)
{
    memset(out, 0, sizeof(*out));
    out->type = SX_PROMQL_SCALAR;
    out->scalar = sx_pq__steps_new(c);
}

/* The step's window: float points [a, b) and histogram points [ha, hb). */
typedef struct win {
    size_t a, b, ha, hb;
    int64_t lo, hi; /* (lo, hi] */
} win_t;

static void win_at(const pq_window_t *w, size_t i, win_t *o)
{
    o->hi = w->wend[i];
    o->lo = o->hi - w->range_ms;
    const int64_t *t = w->in->t;
    size_t n = w->in->n;
    if (i > 0 && w->wend[i - 1] <= o->hi && o->b <= n && o->a <= o->b) {
        /* The previous step's bounds (still in *o) only move forward. */
        size_t a = o->a, b = o->b;
        while (a < n && t[a] <= o->lo)
            a++;
        if (b < a)
            b = a;
        while (b < n && t[b] <= o->hi)
            b++;
        o->a = a;
        o->b = b;
    } else {
        pq_window_bounds(t, n, o->lo, o->hi, &o->a, &o->b);
    }
    if (w->in->nh)
        pq_window_bounds(w->in->ht, w->in->nh, o->lo, o->hi, &o->ha, &o->hb);
    else
        o->ha = o->hb = 0;
}

static sx_str_t win_name(const pq_window_t *w)
{
    return metric_name(w->in->labels, w->in->nlabels);
}

static void warn_mixed(const pq_window_t *w)
{
    sx_pq__warn(w->ctx, "encountered a mix of histograms and floats for metric name %s",
                sx_pq__go_quote(w->ctx, win_name(w)));
}

static void info_hist_ignored(const pq_window_t *w)
{
    sx_pq__info(w->ctx,
                "ignored histograms in a range containing both floats and histograms for "
                "metric name %s",
                sx_pq__go_quote(w->ctx, win_name(w)));
}

/* ---- Native histogram windows ---- */

/* A warning that names the series' metric the way Prometheus' annotation
 * constructors do ("<text> <%q of the name>"). */
static void warn_named(const pq_window_t *w, const char *text)
{
    sx_pq__warn(w->ctx, "%s %s", text, sx_pq__go_quote(w->ctx, win_name(w)));
}

static void warn_not_counter(const pq_window_t *w)
{
    warn_named(w, "this native histogram metric is not a counter:");
}

static void warn_not_gauge(const pq_window_t *w)
{
    warn_named(w, "this native histogram metric is not a gauge:");
}

/* Emits the SX_PROMQL_HIST_ANNOT_* bits sx_promql_hist_increase asks for. */
static void hist_annotate(const pq_window_t *w, int annot)
{
    if (annot & SX_PROMQL_HIST_ANNOT_MIXED_FLOATS)
        warn_mixed(w);
    if (annot & SX_PROMQL_HIST_ANNOT_MIXED_SCHEMAS)
        warn_named(w, "vector contains a mix of histograms with exponential and custom buckets "
                      "schemas for metric name");
    if (annot & SX_PROMQL_HIST_ANNOT_INCOMPAT_BOUNDS)
        warn_named(w, "vector contains histograms with incompatible custom buckets for metric name");
    if (annot & SX_PROMQL_HIST_ANNOT_NOT_COUNTER)
        warn_not_counter(w);
    if (annot & SX_PROMQL_HIST_ANNOT_NOT_GAUGE)
        warn_not_gauge(w);
}

/* Handles a failed histogram operation of a window function: the two
 * layout errors become Prometheus' warnings and drop the step's sample;
 * running out of memory fails the query (the evaluator checks ctx->err
 * after the callback, and the callbacks stop when it is set). Anything
 * else (an invalid schema, which decoding never produces) just drops the
 * sample. */
static void hist_failed(const pq_window_t *w, int rc)
{
    if (rc == SX_PROMQL_HIST_EMIXED)
        hist_annotate(w, SX_PROMQL_HIST_ANNOT_MIXED_SCHEMAS);
    else if (rc == SX_PROMQL_HIST_EBOUNDS)
        hist_annotate(w, SX_PROMQL_HIST_ANNOT_INCOMPAT_BOUNDS);
    else if (rc == SX_PROMQL_HIST_EFLOATS)
        hist_annotate(w, SX_PROMQL_HIST_ANNOT_MIXED_FLOATS);
    else if (rc == SX_ENOMEM)
        sx_pq__fail(w->ctx, SX_ENOMEM, "out of memory computing native histograms");
}

/* ---- rate, increase, delta, irate, idelta ---- */

/* Prometheus' extrapolation factor of extrapolatedRate: the raw increase
 * between the first point (first_t, value first_v) and the last (last_t)
 * of npts points is extrapolated towards both window boundaries (lo, hi],
 * but by no more than half an average sample interval where the series
 * seems to start or end inside the window, and, with zero_clamp (float
 * counters), not below the point where the counter would have been zero.
 * Prometheus 3.5 applies that zero point to float counters only; a
 * histogram counter is extrapolated as if it were a gauge. */
static inline double extrapolate(double start_ms, double end_ms, double sampled_ms,
                                 double intervals, double first_v, double result,
                                 bool zero_clamp, bool is_rate, double range_s)
{
    /* Selects rather than branches, so that the divisions of neighbouring
     * steps can overlap (float_rates). start_ms, end_ms: from the window's
     * edges to the first and last point. */
    double to_start = start_ms / 1000, to_end = end_ms / 1000;
    double sampled = sampled_ms / 1000;
    double avg = sampled / intervals;
    double threshold = avg * 1.1;
    to_start = to_start >= threshold ? avg / 2 : to_start;
    if (zero_clamp) {
        double to_zero = result > 0 && first_v >= 0 ? sampled * (first_v / result) : to_start;
        to_start = to_zero < to_start ? to_zero : to_start;
    }
    to_end = to_end >= threshold ? avg / 2 : to_end;
    double factor = (sampled + to_start + to_end) / sampled;
    return is_rate ? factor / range_s : factor;
}

static double extrapolation_factor(const pq_window_t *w, const win_t *x, int64_t first_t,
                                   int64_t last_t, size_t npts, double first_v, double result,
                                   bool zero_clamp, bool is_rate)
{
    return extrapolate((double)(first_t - x->lo), (double)(x->hi - last_t),
                       (double)(last_t - first_t), (double)(npts - 1), first_v, result,
                       zero_clamp, is_rate, (double)w->range_ms / 1000);
}

/* rate/increase/delta of a window of histograms only (histogramRate, then
 * the extrapolation). The result has the gauge hint. */
static void histogram_rate(pq_window_t *w, size_t i, const win_t *x, bool counter, bool is_rate)
{
    size_t n = x->hb - x->ha;
    sx_promql_hist_t *const *pts = w->in->h + x->ha;
    sx_promql_hist_t *inc, *r;
    int annot = 0;
    int rc = sx_promql_hist_increase(pts, n, counter, w->ctx->a, &inc, &annot);
    hist_annotate(w, annot); /* the annotations of a failure too, as Prometheus words them */
    if (rc) {
        if (rc == SX_ENOMEM)
            hist_failed(w, rc);
        return;
    }
    double factor = extrapolation_factor(w, x, w->in->ht[x->ha], w->in->ht[x->hb - 1], n, 0, 0,
                                         false, is_rate);
    rc = sx_promql_hist_mul(inc, factor, w->ctx->a, &r);
    if (rc) {
        hist_failed(w, rc);
        return;
    }
    if (w->hout)
        w->hout[i] = r;
}

/* The raw change over a window's floats: last minus first, plus, for a
 * counter, the value before each reset inside the window (from the
 * series' list rs of reset positions, or by a scan when it has many). */
static inline double window_increase(const double *v, const win_t *x, bool counter,
                                     const size_t *rs, size_t nrs, bool many)
{
    double r = v[x->b - 1] - v[x->a];
    if (counter && many) {
        double prev = v[x->a];
        for (size_t j = x->a + 1; j < x->b; j++) {
            if (v[j] < prev)
                r += prev;
            prev = v[j];
        }
    } else if (counter) {
        for (size_t k = 0; k < nrs; k++)
            if (rs[k] > x->a && rs[k] < x->b)
                r += v[rs[k] - 1];
    }
    return r;
}

/* extrapolated_rate of a series without histograms, in blocks of steps:
 * first each step's window and raw increase, then the extrapolation of
 * the whole block, whose divisions then overlap instead of each step's
 * waiting on the one before. */
static bool float_rates(pq_window_t *w, bool counter, bool is_rate, const size_t *rs, size_t nrs,
                        bool many)
{
    enum { BLOCK = 64 };
    const double *v = w->in->v;
    const int64_t *t = w->in->t;
    double range_s = (double)w->range_ms / 1000;
    double d_start[BLOCK], d_end[BLOCK], d_sampled[BLOCK], d_n1[BLOCK], first_v[BLOCK],
        result[BLOCK];
    size_t at[BLOCK];
    bool any = false;
    win_t x = {0};
    for (size_t i0 = 0; i0 < w->ctx->nsteps; i0 += BLOCK) {
        size_t n = 0, end = i0 + BLOCK < w->ctx->nsteps ? i0 + BLOCK : w->ctx->nsteps;
        for (size_t i = i0; i < end; i++) {
            win_at(w, i, &x);
            size_t nf = x.b - x.a;
            if (nf < 2)
                continue;
            double r = window_increase(v, &x, counter, rs, nrs, many);
            at[n] = i;
            d_start[n] = (double)(t[x.a] - x.lo);
            d_end[n] = (double)(x.hi - t[x.b - 1]);
            d_sampled[n] = (double)(t[x.b - 1] - t[x.a]);
            d_n1[n] = (double)(nf - 1);
            first_v[n] = v[x.a];
            result[n] = r;
            n++;
        }
        for (size_t j = 0; j < n; j++)
            w->out[at[j]] = result[j] * extrapolate(d_start[j], d_end[j], d_sampled[j], d_n1[j],
                                                    first_v[j], result[j], counter, is_rate,
                                                    range_s);
        any |= n > 0;
    }
    return any;
}

/* Prometheus' extrapolatedRate. A window needs two floats and no
 * histograms, or two histograms and no floats; a window with both kinds
 * is dropped with a warning. */
static void extrapolated_rate(pq_window_t *w, bool counter, bool is_rate)
{
    const double *v = w->in->v;
    const int64_t *t = w->in->t;
    bool any = false;
    /* Counters rarely reset: list the resets of the whole series once, so
     * that a window adds up only those inside it, in the same order as a
     * scan of the window would (the sum is bit for bit the same). Past 32
     * resets every window scans itself. */
    size_t rs[32], nrs = 0;
    bool many = false;
    for (size_t j = 1; counter && j < w->in->n && !many; j++) {
        if (v[j] < v[j - 1]) {
            if (nrs == 32)
                many = true;
            else
                rs[nrs++] = j;
        }
    }
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    if (!w->in->nh) {
        any = float_rates(w, counter, is_rate, rs, nrs, many);
        goto done;
    }
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        win_at(w, i, &x);
        size_t nf = x.b - x.a, nh = x.hb - x.ha;
        if (nf && nh) {
            warn_mixed(w);
            continue;
        }
        if (nh > 1) {
            histogram_rate(w, i, &x, counter, is_rate);
            if (w->ctx->err && w->ctx->err->code)
                return;
            continue;
        }
        if (nf < 2)
            continue;
        double result = window_increase(v, &x, counter, rs, nrs, many);
        w->out[i] = result * extrapolation_factor(w, &x, t[x.a], t[x.b - 1], nf, v[x.a], result,
                                                  counter, is_rate);
        any = true;
    }
done:
    /* Prometheus notes a possible non-counter only when the series gave
     * float results. */
    if (any && counter) {
        sx_str_t name = win_name(w);
        static const char *const suffixes[] = {"_total", "_sum", "_count", "_bucket"};
        bool ok = name.len == 0;
        for (size_t k = 0; k < 4 && !ok; k++) {
            size_t sl = strlen(suffixes[k]);
            ok = name.len >= sl && memcmp(name.ptr + name.len - sl, suffixes[k], sl) == 0;
        }
        if (!ok)
            sx_pq__info(w->ctx,
                        "metric might not be a counter, name does not end in "
                        "_total/_sum/_count/_bucket: %s",
                        sx_pq__go_quote(w->ctx, name));
    }
}

static void fn_rate(pq_window_t *w) { extrapolated_rate(w, true, true); }
static void fn_increase(pq_window_t *w) { extrapolated_rate(w, true, false); }
static void fn_delta(pq_window_t *w) { extrapolated_rate(w, false, false); }

/* One of the two points irate/idelta look at. */
typedef struct ipoint {
    int64_t t;
    double f;
    const sx_promql_hist_t *h; /* NULL for a float */
} ipoint_t;

/* irate/idelta of two histograms (instantValue): the difference, or for
 * irate across a counter reset the later histogram itself, with the gauge
 * hint and per second for irate. Returns NULL when the step has no
 * result. */
static sx_promql_hist_t *instant_hist(pq_window_t *w, const ipoint_t *p0, const ipoint_t *p1,
                                      bool is_rate)
{
    bool g0 = p0->h->counter_reset_hint == SX_PROMQL_HIST_HINT_GAUGE;
    bool g1 = p1->h->counter_reset_hint == SX_PROMQL_HIST_HINT_GAUGE;
    if (is_rate && (g0 || g1))
        warn_not_counter(w);
    if (!is_rate && (!g0 || !g1))
        warn_not_gauge(w);
    sx_promql_hist_t *r;
    int rc;
    if (!is_rate || !sx_promql_hist_detect_reset(p1->h, p0->h))
        rc = sx_promql_hist_sub(p1->h, p0->h, w->ctx->a, &r);
    else
        rc = sx_promql_hist_compact(p1->h, w->ctx->a, &r);
    if (rc) {
        hist_failed(w, rc);
        return NULL;
    }
    r->counter_reset_hint = SX_PROMQL_HIST_HINT_GAUGE;
    if (is_rate) {
        sx_promql_hist_t *d;
        if ((rc = sx_promql_hist_div(r, (double)(p1->t - p0->t) / 1000, w->ctx->a, &d))) {
            hist_failed(w, rc);
            return NULL;
        }
        r = d;
    }
    return r;
}

/* irate/idelta: the last two points of the window, whichever kind, picked
 * as Prometheus' instantValue does: the last two floats, then each of the
 * last two histograms put into place (on equal times a histogram ends up
 * first, which leaves a zero interval and no result). */
static void instant_value(pq_window_t *w, bool is_rate)
{
    const pq_rseries_t *in = w->in;
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        win_at(w, i, &x);
        size_t nf = x.b - x.a, nh = x.hb - x.ha;
        if (nf + nh < 2)
            continue;
        ipoint_t ss[2];
        size_t n = 0;
        for (size_t j = nf > 2 ? x.b - 2 : x.a; j < x.b; j++)
            ss[n++] = (ipoint_t){in->t[j], in->v[j], NULL};
        for (size_t j = nh > 2 ? x.hb - 2 : x.ha; j < x.hb; j++) {
            ipoint_t s = {in->ht[j], 0, in->h[j]};
            if (n == 0) {
                ss[n++] = s;
            } else if (n == 1) {
                if (s.t < ss[0].t) {
                    ss[1] = ss[0];
                    ss[0] = s;
                } else {
                    ss[1] = s;
                }
                n = 2;
            } else if (s.t < ss[0].t) {
                /* Older than both: ignored. */
            } else if (s.t > ss[1].t) {
                ss[0] = ss[1];
                ss[1] = s;
            } else {
                ss[0] = s;
            }
        }
        int64_t interval = ss[1].t - ss[0].t;
        if (interval == 0)
            continue;
        if (!ss[0].h && !ss[1].h) {
            double r = ss[1].f;
            if (!is_rate || !(ss[1].f < ss[0].f))
                r = ss[1].f - ss[0].f;
            if (is_rate)
                r /= (double)interval / 1000;
            w->out[i] = r;
        } else if (ss[0].h && ss[1].h) {
            sx_promql_hist_t *r = instant_hist(w, &ss[0], &ss[1], is_rate);
            if (w->ctx->err && w->ctx->err->code)
                return;
            if (r && w->hout)
                w->hout[i] = r;
        } else {
            warn_mixed(w);
        }
    }
}

static void fn_irate(pq_window_t *w) { instant_value(w, true); }
static void fn_idelta(pq_window_t *w) { instant_value(w, false); }

/* ---- *_over_time ---- */

static void fn_count_over_time(pq_window_t *w)
{
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        win_at(w, i, &x);
        size_t n = (x.b - x.a) + (x.hb - x.ha);
        if (n)
            w->out[i] = (double)n;
    }
}

static void fn_present_over_time(pq_window_t *w)
{
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        win_at(w, i, &x);
        if ((x.b - x.a) + (x.hb - x.ha))
            w->out[i] = 1;
    }
}

/* last_over_time keeps the newest point; a float wins a tie with a
 * histogram only when strictly newer, as Prometheus. */
static void fn_last_over_time(pq_window_t *w)
{
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        win_at(w, i, &x);
        bool hf = x.b > x.a, hh = x.hb > x.ha;
        if (!hf && !hh)
            continue;
        if (!hh || (hf && w->in->ht[x.hb - 1] < w->in->t[x.b - 1]))
            w->out[i] = w->in->v[x.b - 1];
        else if (w->hout)
            w->hout[i] = w->in->h[x.hb - 1];
    }
}

static void fn_first_over_time(pq_window_t *w)
{
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        win_at(w, i, &x);
        bool hf = x.b > x.a, hh = x.hb > x.ha;
        if (!hf && !hh)
            continue;
        if (!hh || (hf && w->in->t[x.a] < w->in->ht[x.ha]))
            w->out[i] = w->in->v[x.a];
        else if (w->hout)
            w->hout[i] = w->in->h[x.ha];
    }
}

static void fn_ts_of_last_over_time(pq_window_t *w)
{
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        win_at(w, i, &x);
        bool hf = x.b > x.a, hh = x.hb > x.ha;
        if (!hf && !hh)
            continue;
        int64_t tf = hf ? w->in->t[x.b - 1] : 0, th = hh ? w->in->ht[x.hb - 1] : 0;
        w->out[i] = (double)(tf > th ? tf : th) / 1000;
    }
}

/* Float-only aggregations ignore histograms, with an info when both kinds
 * are in the window; a window of histograms only yields nothing. Returns
 * false when the step has no result. */
static bool float_window(pq_window_t *w, size_t i, win_t *x)
{
    win_at(w, i, x);
    if (x->b == x->a)
        return false;
    if (x->hb > x->ha)
        info_hist_ignored(w);
    return true;
}

static void compare_over_time(pq_window_t *w, bool is_max, bool want_ts)
{
    const double *v = w->in->v;
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        if (!float_window(w, i, &x))
            continue;
        double best = v[x.a];
        int64_t best_t = w->in->t[x.a];
        for (size_t j = x.a; j < x.b; j++) {
            double cur = v[j];
            bool take;
            if (want_ts)
                take = (is_max ? cur >= best : cur <= best) || isnan(best);
            else
                take = (is_max ? cur > best : cur < best) || isnan(best);
            if (take) {
                best = cur;
                best_t = w->in->t[j];
            }
        }
        w->out[i] = want_ts ? (double)best_t / 1000 : best;
    }
}

static void fn_max_over_time(pq_window_t *w) { compare_over_time(w, true, false); }
static void fn_min_over_time(pq_window_t *w) { compare_over_time(w, false, false); }
static void fn_ts_of_max_over_time(pq_window_t *w) { compare_over_time(w, true, true); }
static void fn_ts_of_min_over_time(pq_window_t *w) { compare_over_time(w, false, true); }

/* The mean as Prometheus computes it: a Kahan-compensated direct sum while
 * it stays finite, switching to an incremental mean once it would
 * overflow. */
static double window_mean(const double *v, size_t a, size_t b)
{
    double sum = v[a], c = 0, mean = 0, count = 1;
    bool incremental = false;
    for (size_t j = a + 1; j < b; j++) {
        count = (double)(j - a + 1);
        if (!incremental) {
            double ns = sum, nc = c;
            pq_kahan_inc(v[j], &ns, &nc);
            if (!isinf(ns)) {
                sum = ns, c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1);
            c /= count - 1;
        }
        double q = (count - 1) / count;
        double m = q * mean, mc = q * c;
        pq_kahan_inc(v[j] / count, &m, &mc);
        mean = m, c = mc;
    }
    if (incremental)
        return mean + c;
    return sum / count + c / count;
}

/* sum_over_time of a window of histograms only: the first copied, the
 * others added to it in time order (Add merges the counter reset hints).
 * Returns NULL, after the warning, when the layouts are incompatible. */
static sx_promql_hist_t *hist_sum_window(pq_window_t *w, const win_t *x)
{
    sx_promql_hist_t *sum, *r;
    int rc = sx_promql_hist_copy(w->in->h[x->ha], w->ctx->a, &sum);
    for (size_t j = x->ha + 1; rc == 0 && j < x->hb; j++) {
        rc = sx_promql_hist_add(sum, w->in->h[j], w->ctx->a, &r);
        sum = r;
    }
    if (rc) {
        hist_failed(w, rc);
        return NULL;
    }
    return sum;
}

/* avg_over_time of a window of histograms only. Prometheus 3.5 computes
 * the incremental mean, mean += h/n - mean/n, without Kahan compensation
 * (unlike its float path). */
static sx_promql_hist_t *hist_avg_window(pq_window_t *w, const win_t *x)
{
    sx_arena_t *a = w->ctx->a;
    sx_promql_hist_t *mean, *left, *right, *delta;
    int rc = sx_promql_hist_copy(w->in->h[x->ha], a, &mean);
    for (size_t j = x->ha + 1; rc == 0 && j < x->hb; j++) {
        double count = (double)(j - x->ha + 1);
        if ((rc = sx_promql_hist_div(w->in->h[j], count, a, &left)) ||
            (rc = sx_promql_hist_div(mean, count, a, &right)) ||
            (rc = sx_promql_hist_sub(left, right, a, &delta)))
            break;
        rc = sx_promql_hist_add(mean, delta, a, &mean);
    }
    if (rc) {
        hist_failed(w, rc);
        return NULL;
    }
    return mean;
}

/* sum_over_time/avg_over_time: floats or histograms, not both. */
static void sum_avg_over_time(pq_window_t *w, bool avg)
{
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        win_at(w, i, &x);
        if (x.b > x.a && x.hb > x.ha) {
            warn_mixed(w);
            continue;
        }
        if (x.hb > x.ha) {
            sx_promql_hist_t *h = avg ? hist_avg_window(w, &x) : hist_sum_window(w, &x);
            if (w->ctx->err && w->ctx->err->code)
                return;
            if (h && w->hout)
                w->hout[i] = h;
            continue;
        }
        if (x.b == x.a)
            continue;
        if (avg) {
            w->out[i] = window_mean(w->in->v, x.a, x.b);
            continue;
        }
        double sum = 0, c = 0;
        for (size_t j = x.a; j < x.b; j++)
            pq_kahan_inc(w->in->v[j], &sum, &c);
        w->out[i] = isinf(sum) ? sum : sum + c;
    }
}

static void fn_sum_over_time(pq_window_t *w) { sum_avg_over_time(w, false); }
static void fn_avg_over_time(pq_window_t *w) { sum_avg_over_time(w, true); }

static void variance_over_time(pq_window_t *w, bool stddev)
{
    const double *v = w->in->v;
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        if (!float_window(w, i, &x))
            continue;
        double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
        for (size_t j = x.a; j < x.b; j++) {
            count++;
            double delta = v[j] - (mean + cmean);
            pq_kahan_inc(delta / count, &mean, &cmean);
            pq_kahan_inc(delta * (v[j] - (mean + cmean)), &aux, &caux);
        }
        double var = (aux + caux) / count;
        w->out[i] = stddev ? sqrt(var) : var;
    }
}

static void fn_stddev_over_time(pq_window_t *w) { variance_over_time(w, true); }
static void fn_stdvar_over_time(pq_window_t *w) { variance_over_time(w, false); }

/* Ascending with NaNs first, as Prometheus' vectorByValueHeap sorts. */
static int cmp_nan_first(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    if (isnan(a))
        return isnan(b) ? 0 : -1;
    if (isnan(b))
        return 1;
    return a < b ? -1 : a > b ? 1 : 0;
}

/* Prometheus' quantile(): sorts vals in place. */
double sx_pq__quantile(double q, double *vals, size_t n)
{
    if (n == 0 || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(vals, n, sizeof(double), cmp_nan_first);
    double nn = (double)n;
    double rank = q * (nn - 1);
    double lower = go_max(0, floor(rank));
    double upper = go_min(nn - 1, lower + 1);
    double weight = rank - floor(rank);
    return vals[(size_t)lower] * (1 - weight) + vals[(size_t)upper] * weight;
}

void sx_pq__warn_quantile(pq_ctx_t *c, double q)
{
    if (isnan(q) || q < 0 || q > 1)
        sx_pq__warn(c, "quantile value should be between 0 and 1, got %s", sx_pq__go_g(c, q));
}

static void fn_quantile_over_time(pq_window_t *w)
{
    double *buf = NULL;
    size_t cap = 0;
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        win_at(w, i, &x);
        if (x.b == x.a)
            continue;
        double q = arg_scalar(&w->call->args[0], i);
        sx_pq__warn_quantile(w->ctx, q);
        if (x.hb > x.ha)
            info_hist_ignored(w);
        size_t n = x.b - x.a;
        if (n > cap) {
            cap = n;
            buf = sx_arena_alloc(w->ctx->a, cap * sizeof(double));
        }
        memcpy(buf, w->in->v + x.a, n * sizeof(double));
        w->out[i] = sx_pq__quantile(q, buf, n);
    }
}

static void fn_mad_over_time(pq_window_t *w)
{
    double *buf = NULL;
    size_t cap = 0;
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        if (!float_window(w, i, &x))
            continue;
        size_t n = x.b - x.a;
        if (n > cap) {
            cap = n;
            buf = sx_arena_alloc(w->ctx->a, cap * sizeof(double));
        }
        memcpy(buf, w->in->v + x.a, n * sizeof(double));
        double median = sx_pq__quantile(0.5, buf, n);
        for (size_t j = 0; j < n; j++)
            buf[j] = fabs(w->in->v[x.a + j] - median);
        w->out[i] = sx_pq__quantile(0.5, buf, n);
    }
}

/* ---- changes, resets ---- */

/* Walks the window's floats and histograms merged in time order. */
static void changes_resets(pq_window_t *w, bool resets)
{
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        win_at(w, i, &x);
        if (x.b == x.a && x.hb == x.ha)
            continue;
        size_t fi = x.a, hi = x.ha, n = 0;
        double pf = 0;
        const sx_promql_hist_t *ph = NULL;
        bool first = true;
        while (fi < x.b || hi < x.hb) {
            double cf = 0;
            const sx_promql_hist_t *ch = NULL;
            if (hi >= x.hb || (fi < x.b && w->in->t[fi] < w->in->ht[hi])) {
                cf = w->in->v[fi++];
            } else if (fi >= x.b || w->in->t[fi] > w->in->ht[hi]) {
                ch = w->in->h[hi++];
            } else {
                /* Same timestamp for a float and a histogram: Prometheus'
                 * loop takes neither branch and repeats the previous
                 * sample; the storage never yields this. Take the float. */
                cf = w->in->v[fi++];
            }
            if (!first) {
                if (!ph && !ch) {
                    if (resets ? cf < pf : (cf != pf && !(isnan(cf) && isnan(pf))))
                        n++;
                } else if (!ph || !ch) {
                    n++;
                } else if (resets ? sx_promql_hist_detect_reset(ch, ph)
                                  : !sx_promql_hist_equal(ch, ph)) {
                    n++;
                }
            }
            first = false;
            pf = cf, ph = ch;
        }
        w->out[i] = (double)n;
    }
}

static void fn_changes(pq_window_t *w) { changes_resets(w, false); }
static void fn_resets(pq_window_t *w) { changes_resets(w, true); }

/* ---- deriv, predict_linear ---- */

/* Least-squares regression of the window's floats with x relative to
 * intercept_t (seconds); Kahan-summed as Prometheus does. */
static void linear_regression(const int64_t *t, const double *v, size_t a, size_t b,
                              int64_t intercept_t, double *slope, double *intercept)
{
    double n = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init = v[a];
    bool const_y = true;
    for (size_t j = a; j < b; j++) {
        if (const_y && j > a && v[j] != init)
            const_y = false;
        n += 1;
        double x = (double)(t[j] - intercept_t) / 1e3;
        pq_kahan_inc(x, &sx, &cx);
        pq_kahan_inc(v[j], &sy, &cy);
        pq_kahan_inc(x * v[j], &sxy, &cxy);
        pq_kahan_inc(x * x, &sx2, &cx2);
    }
    if (const_y) {
        if (isinf(init)) {
            *slope = NAN, *intercept = NAN;
        } else {
            *slope = 0, *intercept = init;
        }
        return;
    }
    sx += cx, sy += cy, sxy += cxy, sx2 += cx2;
    double cov = sxy - sx * sy / n;
    double var = sx2 - sx * sx / n;
    *slope = cov / var;
    *intercept = sy / n - *slope * sx / n;
}

/* Two floats at least; a lone float beside histograms gets the info. */
static bool regression_window(pq_window_t *w, size_t i, win_t *x)
{
    win_at(w, i, x);
    size_t nf = x->b - x->a;
    if (nf < 2) {
        if (nf == 1 && x->hb > x->ha)
            info_hist_ignored(w);
        return false;
    }
    if (x->hb > x->ha)
        info_hist_ignored(w);
    return true;
}

static void fn_deriv(pq_window_t *w)
{
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        if (!regression_window(w, i, &x))
            continue;
        double slope, icpt;
        linear_regression(w->in->t, w->in->v, x.a, x.b, w->in->t[x.a], &slope, &icpt);
        w->out[i] = slope;
    }
}

/* Prometheus regresses relative to the evaluation timestamp (enh.Ts), not
 * the window end, so an offset shifts the data but not the intercept. */
static void fn_predict_linear(pq_window_t *w)
{
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        if (!regression_window(w, i, &x))
            continue;
        double dur = arg_scalar(&w->call->args[1], i);
        double slope, icpt;
        linear_regression(w->in->t, w->in->v, x.a, x.b, w->ctx->ts[i], &slope, &icpt);
        w->out[i] = slope * dur + icpt;
    }
}

/* ---- double_exponential_smoothing ---- */

static const char *go_f(pq_ctx_t *c, double v)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    return sx_arena_sprintf(c->a, "%f", v);
}

/* The factors are checked only at steps whose window has points, as
 * Prometheus only calls the function there. A bad factor fails the query
 * through sx_pq__fail (the evaluator checks ctx->err after the callback). */
static void fn_double_exponential_smoothing(pq_window_t *w)
{
    const double *v = w->in->v;
    win_t x = {0}; /* win_at continues from the previous step's bounds */
    for (size_t i = 0; i < w->ctx->nsteps; i++) {
        win_at(w, i, &x);
        if (x.b == x.a && x.hb == x.ha)
            continue;
        double sf = arg_scalar(&w->call->args[1], i);
        double tf = arg_scalar(&w->call->args[2], i);
        if (sf <= 0 || sf >= 1) { /* NaN passes, as in Prometheus */
            sx_pq__fail(w->ctx, SX_EEXEC, "invalid smoothing factor. Expected: 0 < sf < 1, got: %s",
                        go_f(w->ctx, sf));
            return;
        }
        if (tf <= 0 || tf >= 1) {
            sx_pq__fail(w->ctx, SX_EEXEC, "invalid trend factor. Expected: 0 < tf < 1, got: %s",
                        go_f(w->ctx, tf));
            return;
        }
        size_t l = x.b - x.a;
        if (l < 2) {
            if (l == 1 && x.hb > x.ha)
                info_hist_ignored(w);
            continue;
        }
        double s0 = 0, s1 = v[x.a], b = v[x.a + 1] - v[x.a];
        for (size_t k = 1; k < l; k++) {
            double xx = sf * v[x.a + k];
            if (k - 1 != 0)
                b = tf * (s1 - s0) + (1 - tf) * b;
            double y = (1 - sf) * (s1 + b);
            s0 = s1;
            s1 = xx + y;
        }
        if (x.hb > x.ha)
            info_hist_ignored(w);
        w->out[i] = s1;
    }
}

/* ---- absent, absent_over_time ---- */

/* The labels absent() reports: those fixed by equality matchers of a
 * selector argument (not inside parentheses, as Prometheus), where a label
 * matched more than once, or also by another matcher, is left out. */
static void absent_labels(pq_ctx_t *c, const pq_node_t *arg, sx_label_t **out, uint32_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!arg || (arg->kind != PQ_VSEL && arg->kind != PQ_MSEL))
        return;
    size_t nm = arg->sel.nm;
    sx_label_t *l = sx_arena_alloc(c->a, (nm ? nm : 1) * sizeof(*l));
    sx_str_t *seen = sx_arena_alloc(c->a, (nm ? nm : 1) * sizeof(*seen));
    uint32_t n = 0, nseen = 0;
    for (size_t i = 0; i < nm; i++) {
        const sx_matcher_t *m = &arg->sel.m[i];
        if (sx_str_eq(m->name, name_label))
            continue;
        bool has = false;
        for (uint32_t k = 0; k < nseen; k++)
            has = has || sx_str_eq(seen[k], m->name);
        /* Remove any current value (labels.Builder Set replaces, Del drops). */
        for (uint32_t k = 0; k < n; k++) {
            if (sx_str_eq(l[k].name, m->name)) {
                l[k] = l[--n];
                break;
            }
        }
        if (m->op == SX_MATCH_EQ && !has) {
            if (m->value.len)
                l[n++] = (sx_label_t){m->name, m->value};
            seen[nseen++] = m->name;
        }
    }
    /* Sort by name (few labels: insertion sort). */
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i; j > 0 && sx_str_cmp(l[j - 1].name, l[j].name) > 0; j--) {
            sx_label_t tmp = l[j];
            l[j] = l[j - 1];
            l[j - 1] = tmp;
        }
    *out = l;
    *nout = n;
}

/* One series valued 1 at the steps flagged in missing[], or nothing. */
static void absent_result(pq_call_t *c, const bool *missing, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    vector_init(ctx, out, 1);
    bool any = false;
    for (size_t i = 0; i < ctx->nsteps; i++)
        any = any || missing[i];
    if (!any)
        return;
    pq_series_t *s = &out->s[0];
    absent_labels(ctx, c->node->call.nargs ? c->node->call.args[0] : NULL, &s->labels,
                  &s->nlabels);
    s->v = sx_pq__steps_new(ctx);
    for (size_t i = 0; i < ctx->nsteps; i++)
        if (missing[i])
            s->v[i] = 1;
    out->n = 1;
}

static int fn_absent(pq_call_t *c, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    const pq_value_t *in = &c->args[0];
    bool *missing = sx_arena_alloc(ctx->a, ctx->nsteps + 1);
    for (size_t i = 0; i < ctx->nsteps; i++) {
        missing[i] = true;
        for (size_t j = 0; j < in->n && missing[i]; j++)
            if (slot_any(&in->s[j], i))
                missing[i] = false;
    }
    absent_result(c, missing, out);
    return 0;
}

/* absent_over_time has an eval callback rather than a window one: it
 * needs to know whether any series at all has a point in a step's window,
 * which a per-series window callback cannot tell. The evaluator hands it
 * the materialised matrix (rs, range_ms, wend). */
static int fn_absent_over_time(pq_call_t *c, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    const pq_value_t *in = &c->args[0];
    bool *missing = sx_arena_alloc(ctx->a, ctx->nsteps + 1);
    for (size_t i = 0; i < ctx->nsteps; i++)
        missing[i] = true;
    for (size_t j = 0; j < in->nrs; j++) {
        const pq_rseries_t *r = &in->rs[j];
        for (size_t i = 0; i < ctx->nsteps; i++) {
            if (!missing[i])
                continue;
            int64_t hi = in->wend ? in->wend[i] : ctx->ts[i], lo = hi - in->range_ms;
            size_t a, b;
            pq_window_bounds(r->t, r->n, lo, hi, &a, &b);
            if (b > a) {
                missing[i] = false;
                continue;
            }
            if (r->nh) {
                pq_window_bounds(r->ht, r->nh, lo, hi, &a, &b);
                if (b > a)
                    missing[i] = false;
            }
        }
    }
    absent_result(c, missing, out);
    return 0;
}

/* ---- Element-wise float functions ---- */

typedef double (*float_fn)(double);

/* Applies f to every float slot (histograms are dropped). Series without
 * any output value are left out. */
static void map_floats(pq_call_t *c, const pq_value_t *in, float_fn f, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    vector_init(ctx, out, in->n);
    for (size_t j = 0; j < in->n; j++) {
        const pq_series_t *s = &in->s[j];
        pq_series_t *o = &out->s[out->n];
        double *v = NULL;
        for (size_t i = 0; i < ctx->nsteps; i++) {
            if (!slot_float(s, i))
                continue;
            if (!v)
                v = sx_pq__steps_new(ctx);
            v[i] = f(s->v[i]);
        }
        if (!v)
            continue;
        o->labels = s->labels;
        o->nlabels = s->nlabels;
        o->drop_name = true;
        o->v = v;
        out->n++;
    }
}

static double f_sgn(double v) { return v < 0 ? -1 : v > 0 ? 1 : v; }
static double f_deg(double v) { return v * 180 / go_pi; }
static double f_rad(double v) { return v * go_pi / 180; }

#define MATH_FN(name, expr)                                                                        \
    static int fn_##name(pq_call_t *c, pq_value_t *out)                                            \
    {                                                                                              \
        map_floats(c, &c->args[0], expr, out);                                                     \
        return 0;                                                                                  \
    }

MATH_FN(abs, fabs)
MATH_FN(ceil, ceil)
MATH_FN(floor, floor)
MATH_FN(exp, exp)
MATH_FN(sqrt, sqrt)
MATH_FN(ln, log)
MATH_FN(log2, log2)
MATH_FN(log10, log10)
MATH_FN(sin, sin)
MATH_FN(cos, cos)
MATH_FN(tan, tan)
MATH_FN(asin, asin)
MATH_FN(acos, acos)
MATH_FN(atan, atan)
MATH_FN(sinh, sinh)
MATH_FN(cosh, cosh)
MATH_FN(tanh, tanh)
MATH_FN(asinh, asinh)
MATH_FN(acosh, acosh)
MATH_FN(atanh, atanh)
MATH_FN(sgn, f_sgn)
MATH_FN(deg, f_deg)
MATH_FN(rad, f_rad)

/* Per-step variants: the function's parameters are scalars that may
 * differ between steps. kind: 0 clamp, 1 clamp_min, 2 clamp_max, 3 round. */
static int map_steps(pq_call_t *c, int kind, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    const pq_value_t *in = &c->args[0];
    vector_init(ctx, out, in->n);
    for (size_t j = 0; j < in->n; j++) {
        const pq_series_t *s = &in->s[j];
        double *v = NULL;
        for (size_t i = 0; i < ctx->nsteps; i++) {
            if (!slot_float(s, i))
                continue;
            double x = s->v[i], r;
            if (kind == 3) {
                double to = c->nargs >= 2 ? arg_scalar(&c->args[1], i) : 1;
                double inv = 1.0 / to;
                r = floor(x * inv + 0.5) / inv;
            } else {
                double lo = -INFINITY, hi = INFINITY;
                if (kind == 0)
                    lo = arg_scalar(&c->args[1], i), hi = arg_scalar(&c->args[2], i);
                else if (kind == 1)
                    lo = arg_scalar(&c->args[1], i);
                else
                    hi = arg_scalar(&c->args[1], i);
                if (hi < lo)
                    continue;
                r = go_max(lo, go_min(hi, x));
            }
            if (!v)
                v = sx_pq__steps_new(ctx);
            v[i] = r;
        }
        if (v)
            vector_push(out, s, v);
    }
    return 0;
}

static int fn_clamp(pq_call_t *c, pq_value_t *out) { return map_steps(c, 0, out); }
static int fn_clamp_min(pq_call_t *c, pq_value_t *out) { return map_steps(c, 1, out); }
static int fn_clamp_max(pq_call_t *c, pq_value_t *out) { return map_steps(c, 2, out); }
static int fn_round(pq_call_t *c, pq_value_t *out) { return map_steps(c, 3, out); }

/* timestamp() reports the sample's own time where the evaluator recorded
 * it (a plain selector), else the step time; histograms count too. */
static int fn_timestamp(pq_call_t *c, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    const pq_value_t *in = &c->args[0];
    vector_init(ctx, out, in->n);
    for (size_t j = 0; j < in->n; j++) {
        const pq_series_t *s = &in->s[j];
        double *v = NULL;
        for (size_t i = 0; i < ctx->nsteps; i++) {
            if (!slot_any(s, i))
                continue;
            if (!v)
                v = sx_pq__steps_new(ctx);
            v[i] = (double)(s->ts ? s->ts[i] : ctx->ts[i]) / 1000;
        }
        if (v)
            vector_push(out, s, v);
    }
    return 0;
}

static int fn_time(pq_call_t *c, pq_value_t *out)
{
    scalar_init(c->ctx, out);
    for (size_t i = 0; i < c->ctx->nsteps; i++)
        out->scalar[i] = (double)c->ctx->ts[i] / 1000;
    return 0;
}

static int fn_pi(pq_call_t *c, pq_value_t *out)
{
    scalar_init(c->ctx, out);
    for (size_t i = 0; i < c->ctx->nsteps; i++)
        out->scalar[i] = go_pi;
    return 0;
}

static int fn_vector(pq_call_t *c, pq_value_t *out)
{
    vector_init(c->ctx, out, 1);
    pq_series_t *o = &out->s[0];
    o->v = sx_pq__steps_new(c->ctx);
    for (size_t i = 0; i < c->ctx->nsteps; i++)
        o->v[i] = arg_scalar(&c->args[0], i);
    out->n = 1;
    return 0;
}

/* The only float of the step, or NaN when there are none or several. */
static int fn_scalar(pq_call_t *c, pq_value_t *out)
{
    const pq_value_t *in = &c->args[0];
    scalar_init(c->ctx, out);
    for (size_t i = 0; i < c->ctx->nsteps; i++) {
        double v = NAN;
        size_t found = 0;
        for (size_t j = 0; j < in->n && found < 2; j++)
            if (slot_float(&in->s[j], i)) {
                v = in->s[j].v[i];
                found++;
            }
        out->scalar[i] = found == 1 ? v : NAN;
    }
    return 0;
}

/* ---- Date functions ---- */

/* Civil date of a day count since 1970-01-01 (proleptic Gregorian). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

enum { D_DAY_OF_MONTH, D_DAY_OF_WEEK, D_DAY_OF_YEAR, D_DAYS_IN_MONTH, D_HOUR, D_MINUTE,
       D_MONTH, D_YEAR };

static double date_part(int64_t secs, int what)
{
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0)
        rem += 86400, days--;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    static const int cum[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    switch (what) {
    case D_DAY_OF_MONTH: return d;
    case D_DAY_OF_WEEK: {
        int64_t w = (days + 4) % 7;
        return (double)(w < 0 ? w + 7 : w);
    }
    case D_DAY_OF_YEAR: return cum[m - 1] + d + (m > 2 && leap_year(y));
    case D_DAYS_IN_MONTH: return mdays[m - 1] + (m == 2 && leap_year(y));
    case D_HOUR: return (double)(rem / 3600);
    case D_MINUTE: return (double)(rem % 3600 / 60);
    case D_MONTH: return m;
    default: return (double)y;
    }
}

/* Go's int64(f): truncation; out-of-range values (and NaN) become
 * math.MinInt64 on amd64. */
static int64_t go_int64(double f)
{
    if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0))
        return INT64_MIN;
    return (int64_t)f;
}

static int date_fn(pq_call_t *c, int what, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    if (c->nargs == 0) {
        vector_init(ctx, out, 1);
        pq_series_t *o = &out->s[0];
        o->v = sx_pq__steps_new(ctx);
        for (size_t i = 0; i < ctx->nsteps; i++)
            o->v[i] = date_part(ctx->ts[i] / 1000, what);
        out->n = 1;
        return 0;
    }
    const pq_value_t *in = &c->args[0];
    vector_init(ctx, out, in->n);
    for (size_t j = 0; j < in->n; j++) {
        const pq_series_t *s = &in->s[j];
        double *v = NULL;
        for (size_t i = 0; i < ctx->nsteps; i++) {
            if (!slot_float(s, i))
                continue;
            if (!v)
                v = sx_pq__steps_new(ctx);
            int64_t secs = go_int64(s->v[i]);
            /* Clamp to a range the civil computation handles. */
            if (secs < -(INT64_C(1) << 55))
                secs = -(INT64_C(1) << 55);
            v[i] = date_part(secs, what);
        }
        if (v)
            vector_push(out, s, v);
    }
    return 0;
}

static int fn_day_of_month(pq_call_t *c, pq_value_t *o) { return date_fn(c, D_DAY_OF_MONTH, o); }
static int fn_day_of_week(pq_call_t *c, pq_value_t *o) { return date_fn(c, D_DAY_OF_WEEK, o); }
static int fn_day_of_year(pq_call_t *c, pq_value_t *o) { return date_fn(c, D_DAY_OF_YEAR, o); }
static int fn_days_in_month(pq_call_t *c, pq_value_t *o) { return date_fn(c, D_DAYS_IN_MONTH, o); }
static int fn_hour(pq_call_t *c, pq_value_t *o) { return date_fn(c, D_HOUR, o); }
static int fn_minute(pq_call_t *c, pq_value_t *o) { return date_fn(c, D_MINUTE, o); }
static int fn_month(pq_call_t *c, pq_value_t *o) { return date_fn(c, D_MONTH, o); }
static int fn_year(pq_call_t *c, pq_value_t *o) { return date_fn(c, D_YEAR, o); }

/* ---- sort, sort_desc, sort_by_label ---- */

typedef struct sort_item {
    const pq_series_t *s;
    double v;
    size_t idx;
} sort_item_t;

static int cmp_value_asc(const void *pa, const void *pb)
{
    const sort_item_t *a = pa, *b = pb;
    if (a->v < b->v)
        return -1;
    if (a->v > b->v)
        return 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int cmp_value_desc(const void *pa, const void *pb)
{
    const sort_item_t *a = pa, *b = pb;
    if (a->v > b->v)
        return -1;
    if (a->v < b->v)
        return 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* sort()/sort_desc() drop histogram samples at every step; only an
 * instant query's order is meaningful. The order reproduces Go's
 * insertion sort (what sort.Sort runs for short vectors) under
 * Prometheus' comparator: stable by value, NaNs last in reverse input
 * order. */
static int sort_by_value(pq_call_t *c, bool desc, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    const pq_value_t *in = &c->args[0];
    vector_init(ctx, out, in->n);
    for (size_t j = 0; j < in->n; j++) {
        const pq_series_t *s = &in->s[j];
        pq_series_t o = *s;
        o.h = NULL;
        o.ts = NULL;
        if (s->h) {
            o.v = sx_pq__steps_new(ctx);
            bool any = false;
            for (size_t i = 0; i < ctx->nsteps; i++)
                if (slot_float(s, i))
                    o.v[i] = s->v[i], any = true;
            if (!any)
                continue;
        } else {
            bool any = false;
            for (size_t i = 0; i < ctx->nsteps && !any; i++)
                any = !pq_is_absent(s->v[i]);
            if (!any)
                continue;
        }
        out->s[out->n++] = o;
    }
    if (ctx->nsteps != 1)
        return 0;
    size_t n = out->n, nn = 0, nnan = 0;
    sort_item_t *items = sx_arena_alloc(ctx->a, (n ? n : 1) * sizeof(*items));
    sort_item_t *nans = sx_arena_alloc(ctx->a, (n ? n : 1) * sizeof(*nans));
    for (size_t j = 0; j < n; j++) {
        sort_item_t it = {&out->s[j], out->s[j].v[0], j};
        if (isnan(it.v))
            nans[nnan++] = it;
        else
            items[nn++] = it;
    }
    qsort(items, nn, sizeof(*items), desc ? cmp_value_desc : cmp_value_asc);
    pq_series_t *sorted = sx_pq__series_new(ctx, n);
    for (size_t j = 0; j < nn; j++)
        sorted[j] = *items[j].s;
    for (size_t j = 0; j < nnan; j++)
        sorted[nn + j] = *nans[nnan - 1 - j].s;
    out->s = sorted;
    ctx->ordered = true;
    return 0;
}

static int fn_sort(pq_call_t *c, pq_value_t *out) { return sort_by_value(c, false, out); }
static int fn_sort_desc(pq_call_t *c, pq_value_t *out) { return sort_by_value(c, true, out); }

/* Natural order as github.com/facette/natsort's Compare (which Prometheus
 * uses): strings split into runs of digits and non-digits; runs that both
 * parse as integers compare numerically, others bytewise. Returns true
 * when a sorts before b. */
static size_t nat_chunk(sx_str_t s, size_t i)
{
    bool dig = s.ptr[i] >= '0' && s.ptr[i] <= '9';
    size_t j = i + 1;
    while (j < s.len && ((s.ptr[j] >= '0' && s.ptr[j] <= '9') == dig))
        j++;
    return j;
}

static bool nat_atoi(const char *p, size_t n, int64_t *out)
{
    /* strconv.Atoi: optional sign, decimal digits, no overflow. */
    size_t i = 0;
    bool neg = false;
    if (n && (p[0] == '+' || p[0] == '-'))
        neg = p[0] == '-', i = 1;
    if (i >= n)
        return false;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + neg)
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static size_t nat_count(sx_str_t s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i = nat_chunk(s, i))
        n++;
    return n;
}

static bool natsort_less(sx_str_t a, sx_str_t b)
{
    size_t na = nat_count(a), nb = nat_count(b);
    size_t ia = 0, ib = 0;
    for (size_t k = 0; k < na; k++) {
        if (k >= nb)
            return false;
        size_t ea = nat_chunk(a, ia), eb = nat_chunk(b, ib);
        sx_str_t ca = {a.ptr + ia, ea - ia}, cb = {b.ptr + ib, eb - ib};
        int64_t x = 0, y = 0;
        bool xi = nat_atoi(ca.ptr, ca.len, &x), yi = nat_atoi(cb.ptr, cb.len, &y);
        if (xi && yi) {
            if (x != y)
                return x < y;
        } else if (!sx_str_eq(ca, cb)) {
            return sx_str_cmp(ca, cb) < 0;
        }
        if (k == na - 1)
            return true;
        if (k == nb - 1)
            return false;
        ia = ea, ib = eb;
    }
    return false;
}

typedef struct label_sort {
    sx_str_t *names;
    size_t n;
    bool desc;
} label_sort_t;

static int cmp_by_labels(const label_sort_t *ls, const pq_series_t *a, const pq_series_t *b)
{
    for (size_t k = 0; k < ls->n; k++) {
        sx_str_t x = sx_pq__label_get(a->labels, a->nlabels, ls->names[k]);
        sx_str_t y = sx_pq__label_get(b->labels, b->nlabels, ls->names[k]);
        if (sx_str_eq(x, y))
            continue;
        bool less = natsort_less(x, y);
        return ls->desc ? (less ? 1 : -1) : (less ? -1 : 1);
    }
    int r = sx_pq__labels_cmp(a->labels, a->nlabels, b->labels, b->nlabels);
    return ls->desc ? -r : r;
}

/* Merge sort (stable and deterministic even if the comparator is not a
 * strict order, as natsort's is not for "01" vs "1"). */
static void merge_sort(const label_sort_t *ls, pq_series_t *s, pq_series_t *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(ls, s, tmp, h);
    merge_sort(ls, s + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = cmp_by_labels(ls, &s[j], &s[i]) < 0 ? s[j++] : s[i++];
    while (i < h)
        tmp[k++] = s[i++];
    while (j < n)
        tmp[k++] = s[j++];
    memcpy(s, tmp, n * sizeof(*s));
}

static int sort_by_label(pq_call_t *c, bool desc, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    const pq_value_t *in = &c->args[0];
    label_sort_t ls = {sx_arena_alloc(ctx->a, c->nargs * sizeof(sx_str_t)), 0, desc};
    for (size_t k = 1; k < c->nargs; k++)
        ls.names[ls.n++] = c->args[k].str;
    vector_init(ctx, out, in->n);
    memcpy(out->s, in->s, in->n * sizeof(*in->s));
    out->n = in->n;
    if (ctx->nsteps == 1) {
        pq_series_t *tmp = sx_pq__series_new(ctx, in->n);
        merge_sort(&ls, out->s, tmp, out->n);
        ctx->ordered = true;
    }
    return 0;
}

static int fn_sort_by_label(pq_call_t *c, pq_value_t *out) { return sort_by_label(c, false, out); }
static int fn_sort_by_label_desc(pq_call_t *c, pq_value_t *out)
{
    return sort_by_label(c, true, out);
}

/* ---- label_replace, label_join ---- */

typedef struct lbl_sort_item {
    pq_series_t *s;
    size_t idx;
} lbl_sort_item_t;

static int cmp_series_labels(const void *pa, const void *pb)
{
    const lbl_sort_item_t *a = pa, *b = pb;
    int r = sx_pq__labels_cmp(a->s->labels, a->s->nlabels, b->s->labels, b->s->nlabels);
    if (r)
        return r;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Prometheus' mergeSeriesWithSameLabelset: series that ended up with the
 * same labels are merged into one when they never have a value at the
 * same step; otherwise the query fails. */
static int merge_same_labels(pq_ctx_t *ctx, pq_value_t *out)
{
    size_t n = out->n;
    if (n < 2)
        return 0;
    lbl_sort_item_t *it = sx_arena_alloc(ctx->a, n * sizeof(*it));
    for (size_t j = 0; j < n; j++)
        it[j] = (lbl_sort_item_t){&out->s[j], j};
    qsort(it, n, sizeof(*it), cmp_series_labels);
    bool *gone = sx_arena_calloc(ctx->a, n, 1);
    bool merged = false;
    for (size_t j = 1; j < n; j++) {
        size_t g = j - 1;
        while (gone[it[g].idx])
            g--;
        pq_series_t *a = it[g].s, *b = it[j].s;
        if (sx_pq__labels_cmp(a->labels, a->nlabels, b->labels, b->nlabels) != 0)
            continue;
        /* Same labels: merge b into a (copies, never through inputs). */
        double *v = sx_pq__steps_new(ctx);
        sx_promql_hist_t **h = NULL;
        if (a->h || b->h)
            h = sx_arena_calloc(ctx->a, ctx->nsteps, sizeof(*h));
        for (size_t i = 0; i < ctx->nsteps; i++) {
            bool ha = slot_any(a, i), hb = slot_any(b, i);
            if (ha && hb)
                return sx_pq__fail(ctx, SX_EEXEC,
                                   "vector cannot contain metrics with the same labelset");
            const pq_series_t *src = ha ? a : hb ? b : NULL;
            if (!src)
                continue;
            v[i] = src->v[i];
            if (h && src->h)
                h[i] = src->h[i];
        }
        a->v = v;
        a->h = h;
        a->ts = NULL;
        a->drop_name = a->drop_name && b->drop_name;
        gone[it[j].idx] = true;
        merged = true;
    }
    if (!merged)
        return 0;
    size_t k = 0;
    for (size_t j = 0; j < n; j++)
        if (!gone[j])
            out->s[k++] = out->s[j];
    out->n = k;
    return 0;
}

/* Go's Regexp.Expand for a replacement template: $$ is a dollar, $name
 * and ${name} a group by number or name (the longest run of letters,
 * digits and underscores, so "$1x" names group "1x"), and a malformed
 * reference is kept as text. */
static void expand_template(pcre2_code *re, sx_str_t tpl, sx_str_t src, const PCRE2_SIZE *ov,
                            uint32_t ngroups, sx_buf_t *out)
{
    size_t i = 0;
    while (i < tpl.len) {
        const char *d = memchr(tpl.ptr + i, '$', tpl.len - i);
        if (!d) {
            sx_buf_append(out, tpl.ptr + i, tpl.len - i);
            return;
        }
        size_t pos = (size_t)(d - tpl.ptr);
        sx_buf_append(out, tpl.ptr + i, pos - i);
        i = pos + 1;
        if (i < tpl.len && tpl.ptr[i] == '$') {
            sx_buf_append(out, "$", 1);
            i++;
            continue;
        }
        size_t p = i;
        bool brace = p < tpl.len && tpl.ptr[p] == '{';
        if (brace)
            p++;
        size_t ns = p;
        while (p < tpl.len) {
            unsigned char ch = (unsigned char)tpl.ptr[p];
            if (!(ch == '_' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= 'A' && ch <= 'Z') || ch >= 0x80))
                break;
            p++;
        }
        size_t nlen = p - ns;
        bool ok = nlen > 0;
        if (ok && brace) {
            if (p >= tpl.len || tpl.ptr[p] != '}')
                ok = false;
            else
                p++;
        }
        if (!ok) {
            sx_buf_append(out, "$", 1);
            continue;
        }
        const char *name = tpl.ptr + ns;
        long num = 0;
        for (size_t k = 0; k < nlen; k++) {
            if (name[k] < '0' || name[k] > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (name[k] - '0');
        }
        if (name[0] == '0' && nlen > 1)
            num = -1;
        i = p;
        if (num < 0) {
            char buf[256];
            if (nlen >= sizeof(buf))
                continue;
            memcpy(buf, name, nlen);
            buf[nlen] = 0;
            int g = pcre2_substring_number_from_name(re, (PCRE2_SPTR)buf);
            if (g <= 0)
                continue;
            num = g;
        }
        if ((uint32_t)num <= ngroups && ov[2 * num] != PCRE2_UNSET)
            sx_buf_append(out, src.ptr + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
    }
}

static int fn_label_replace(pq_call_t *c, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    sx_str_t dst = c->args[1].str, repl = c->args[2].str, srcl = c->args[3].str,
             rx = c->args[4].str;
    char *pat = sx_arena_sprintf(ctx->a, "^(?s:%.*s)$", (int)rx.len, rx.ptr ? rx.ptr : "");
    int ec;
    PCRE2_SIZE eo;
    uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY;
#ifdef PCRE2_MATCH_INVALID_UTF
    opts |= PCRE2_MATCH_INVALID_UTF;
#endif
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opts, &ec, &eo, NULL);
    if (!re)
        return sx_pq__fail(ctx, SX_EEXEC, "invalid regular expression in label_replace(): %.*s",
                           (int)rx.len, rx.ptr ? rx.ptr : "");
    if (!label_name_valid(dst)) {
        pcre2_code_free(re);
        return sx_pq__fail(ctx, SX_EEXEC, "invalid destination label name in label_replace(): %.*s",
                           (int)dst.len, dst.ptr ? dst.ptr : "");
    }
    uint32_t ngroups = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ngroups);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    const pq_value_t *in = &c->args[0];
    vector_init(ctx, out, in->n);
    bool is_name = sx_str_eq(dst, name_label);
    sx_buf_t buf = {0};
    for (size_t j = 0; j < in->n; j++) {
        pq_series_t o = in->s[j];
        sx_str_t sv = sx_pq__label_get(o.labels, o.nlabels, srcl);
        int rc = pcre2_match(re, (PCRE2_SPTR)(sv.ptr ? sv.ptr : ""), sv.len, 0, 0, md, NULL);
        if (rc >= 0) {
            buf.len = 0;
            expand_template(re, repl, sv, pcre2_get_ovector_pointer(md), ngroups, &buf);
            sx_str_t val = sx_arena_strdup_str(ctx->a, (sx_str_t){buf.ptr ? buf.ptr : "", buf.len});
            sx_pq__labels_set(ctx, o.labels, o.nlabels, dst, val, &o.labels, &o.nlabels);
            if (is_name)
                o.drop_name = false;
        }
        out->s[out->n++] = o;
    }
    sx_buf_dispose(&buf);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return merge_same_labels(ctx, out);
}

static int fn_label_join(pq_call_t *c, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    sx_str_t dst = c->args[1].str, sep = c->args[2].str;
    for (size_t k = 3; k < c->nargs; k++)
        if (!label_name_valid(c->args[k].str))
            return sx_pq__fail(ctx, SX_EEXEC, "invalid source label name in label_join(): %.*s",
                               (int)c->args[k].str.len,
                               c->args[k].str.ptr ? c->args[k].str.ptr : "");
    if (!label_name_valid(dst))
        return sx_pq__fail(ctx, SX_EEXEC, "invalid destination label name in label_join(): %.*s",
                           (int)dst.len, dst.ptr ? dst.ptr : "");
    const pq_value_t *in = &c->args[0];
    vector_init(ctx, out, in->n);
    bool is_name = sx_str_eq(dst, name_label);
    sx_buf_t buf = {0};
    for (size_t j = 0; j < in->n; j++) {
        pq_series_t o = in->s[j];
        buf.len = 0;
        for (size_t k = 3; k < c->nargs; k++) {
            if (k > 3)
                sx_buf_append(&buf, sep.ptr, sep.len);
            sx_str_t v = sx_pq__label_get(o.labels, o.nlabels, c->args[k].str);
            sx_buf_append(&buf, v.ptr, v.len);
        }
        sx_str_t val = sx_arena_strdup_str(ctx->a, (sx_str_t){buf.ptr ? buf.ptr : "", buf.len});
        sx_pq__labels_set(ctx, o.labels, o.nlabels, dst, val, &o.labels, &o.nlabels);
        if (is_name)
            o.drop_name = false;
        out->s[out->n++] = o;
    }
    sx_buf_dispose(&buf);
    return merge_same_labels(ctx, out);
}

/* info() returns its first argument unchanged for now: enriching series
 * with the labels of info metrics (target_info) is not implemented. */
static int fn_info(pq_call_t *c, pq_value_t *out)
{
    *out = c->args[0];
    return 0;
}

/* ---- Native histogram buckets ---- */

typedef sx_promql_bucket_t hbucket_t;

static bool hist_custom(const sx_promql_hist_t *h)
{
    return h->schema == SX_PROMQL_HIST_CUSTOM_SCHEMA;
}

static size_t hist_buckets(pq_ctx_t *c, const sx_promql_hist_t *h, hbucket_t **out)
{
    return sx_promql_hist_buckets(h, c->a, out);
}

/* Prometheus' HistogramQuantile for native histograms: exponential
 * interpolation within exponential buckets, linear in the zero bucket and
 * for custom buckets. */
static double hist_quantile(pq_ctx_t *c, double q, const sx_promql_hist_t *h, sx_str_t name)
{
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (h->count == 0 || isnan(q))
        return NAN;
    hbucket_t *b;
    size_t nb = hist_buckets(c, h, &b);
    bool forward = isnan(h->sum) || q < 0.5;
    double rank = forward ? q * h->count : (1 - q) * h->count;
    double count = 0;
    hbucket_t bk = {0, 0, 0};
    size_t k = 0, stop = nb;
    for (; k < nb; k++) {
        size_t j = forward ? k : nb - 1 - k;
        bk = b[j];
        if (bk.count == 0)
            continue;
        count += bk.count;
        if (count >= rank) {
            stop = k + 1;
            break;
        }
    }
    if (!hist_custom(h) && bk.lower < 0 && bk.upper > 0) {
        if (h->nneg == 0 && h->npos > 0)
            bk.lower = 0;
        else if (h->npos == 0 && h->nneg > 0)
            bk.upper = 0;
    } else if (hist_custom(h)) {
        if (bk.lower == -INFINITY) {
            if (bk.upper <= 0)
                return bk.upper;
            bk.lower = 0;
        } else if (bk.upper == INFINITY) {
            return bk.lower;
        }
    }
    if (count > h->count)
        count = h->count;
    if (count < rank) {
        if (isnan(h->sum)) {
            sx_pq__info(c, "input to histogram_quantile has NaN observations, result is NaN%s%s",
                        name.len ? " for metric name " : "", name.len ? sx_pq__go_quote(c, name) : "");
            return NAN;
        }
        return bk.upper;
    }
    if (forward)
        rank -= count - bk.count;
    else
        rank = count - rank;
    if (isnan(h->sum)) {
        double total = count;
        for (size_t j = stop; j < nb; j++)
            total += b[forward ? j : nb - 1 - j].count;
        if (total < h->count)
            sx_pq__info(c,
                        "input to histogram_quantile has NaN observations, result is skewed "
                        "higher%s%s",
                        name.len ? " for metric name " : "", name.len ? sx_pq__go_quote(c, name) : "");
    }
    double frac = rank / bk.count;
    if (hist_custom(h) || (bk.lower <= 0 && bk.upper >= 0))
        return bk.lower + (bk.upper - bk.lower) * frac;
    double ll = log2(fabs(bk.lower)), lu = log2(fabs(bk.upper));
    if (bk.lower > 0)
        return exp2(ll + (lu - ll) * frac);
    return -exp2(lu + (ll - lu) * (1 - frac));
}

/* Prometheus' HistogramFraction for native histograms. */
static double hist_fraction(pq_ctx_t *c, double lower, double upper, const sx_promql_hist_t *h,
                            sx_str_t name)
{
    if (h->count == 0 || isnan(lower) || isnan(upper))
        return NAN;
    if (lower >= upper)
        return 0;
    hbucket_t *bs;
    size_t nb = hist_buckets(c, h, &bs);
    double rank = 0, lr = 0, ur = 0, count = 0;
    bool ls = false, us = false;
    size_t k = 0;
    for (; k < nb; k++) {
        hbucket_t b = bs[k];
        count += b.count;
        bool zero = false;
        if (b.lower <= 0 && b.upper >= 0) {
            zero = true;
            if (h->nneg == 0 && h->npos > 0)
                b.lower = 0;
            else if (h->npos == 0 && h->nneg > 0)
                b.upper = 0;
        }
        if (!ls && b.lower >= lower)
            lr = rank, ls = true;
        if (!us && b.lower >= upper)
            ur = rank, us = true;
        if (ls && us) {
            k++;
            break;
        }
        bool linear = hist_custom(h) || zero;
        for (int which = 0; which < 2; which++) {
            double v = which ? upper : lower;
            bool *set = which ? &us : &ls;
            double *r = which ? &ur : &lr;
            if (*set || !(b.lower < v && b.upper > v))
                continue;
            if (linear) {
                *r = b.lower == -INFINITY ? b.count
                                          : rank + b.count * (v - b.lower) / (b.upper - b.lower);
            } else {
                double lo = log2(fabs(b.lower)), up = log2(fabs(b.upper)), lv = log2(fabs(v));
                double f = v > 0 ? (lv - lo) / (up - lo) : 1 - ((lv - up) / (lo - up));
                *r = rank + b.count * f;
            }
            *set = true;
        }
        if (ls && us) {
            k++;
            break;
        }
        rank += b.count;
    }
    if (isnan(h->sum)) {
        for (; k < nb; k++)
            count += bs[k].count;
        if (count < h->count)
            sx_pq__info(c,
                        "input to histogram_fraction has NaN observations, which are excluded "
                        "from all fractions%s%s",
                        name.len ? " for metric name " : "", name.len ? sx_pq__go_quote(c, name) : "");
    } else {
        count = h->count;
    }
    if (!ls || lr > count)
        lr = count;
    if (!us || ur > count)
        ur = count;
    return (ur - lr) / h->count;
}

/* histogram_count/sum/avg/stddev/stdvar: one float per native histogram
 * sample; float samples are dropped. */
enum { H_COUNT, H_SUM, H_AVG, H_STDDEV, H_STDVAR };

static double hist_variance(pq_ctx_t *c, const sx_promql_hist_t *h)
{
    double mean = h->sum / h->count, var = 0, cv = 0;
    hbucket_t *b;
    size_t nb = hist_buckets(c, h, &b);
    for (size_t k = 0; k < nb; k++) {
        if (b[k].count == 0)
            continue;
        double val;
        if (hist_custom(h)) {
            val = (b[k].upper + b[k].lower) / 2.0;
        } else if (b[k].lower <= 0 && b[k].upper >= 0) {
            val = 0;
        } else {
            val = sqrt(b[k].upper * b[k].lower);
            if (b[k].upper < 0)
                val = -val;
        }
        double d = val - mean;
        pq_kahan_inc(b[k].count * d * d, &var, &cv);
    }
    var += cv;
    return var / h->count;
}

static int hist_simple(pq_call_t *c, int what, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    const pq_value_t *in = &c->args[0];
    vector_init(ctx, out, in->n);
    for (size_t j = 0; j < in->n; j++) {
        const pq_series_t *s = &in->s[j];
        if (!s->h)
            continue;
        double *v = NULL;
        for (size_t i = 0; i < ctx->nsteps; i++) {
            const sx_promql_hist_t *h = s->h[i];
            if (!h)
                continue;
            if (!v)
                v = sx_pq__steps_new(ctx);
            switch (what) {
            case H_COUNT: v[i] = h->count; break;
            case H_SUM: v[i] = h->sum; break;
            case H_AVG: v[i] = h->sum / h->count; break;
            case H_STDDEV: v[i] = sqrt(hist_variance(ctx, h)); break;
            default: v[i] = hist_variance(ctx, h); break;
            }
        }
        if (v)
            vector_push(out, s, v);
    }
    return 0;
}

static int fn_histogram_count(pq_call_t *c, pq_value_t *o) { return hist_simple(c, H_COUNT, o); }
static int fn_histogram_sum(pq_call_t *c, pq_value_t *o) { return hist_simple(c, H_SUM, o); }
static int fn_histogram_avg(pq_call_t *c, pq_value_t *o) { return hist_simple(c, H_AVG, o); }
static int fn_histogram_stddev(pq_call_t *c, pq_value_t *o) { return hist_simple(c, H_STDDEV, o); }
static int fn_histogram_stdvar(pq_call_t *c, pq_value_t *o) { return hist_simple(c, H_STDVAR, o); }

/* ---- Classic histogram buckets ---- */

typedef struct cbucket {
    double upper, count;
} cbucket_t;

static int cmp_cbucket(const void *pa, const void *pb)
{
    const cbucket_t *a = pa, *b = pb;
    return a->upper < b->upper ? -1 : a->upper > b->upper;
}

/* Sorts by upper bound and merges equal bounds; returns the new count. */
static size_t coalesce_buckets(cbucket_t *b, size_t n)
{
    qsort(b, n, sizeof(*b), cmp_cbucket);
    size_t i = 0;
    cbucket_t last = b[0];
    for (size_t k = 1; k < n; k++) {
        if (b[k].upper == last.upper) {
            last.count += b[k].count;
        } else {
            b[i++] = last;
            last = b[k];
        }
    }
    b[i++] = last;
    return i;
}

/* Go's almost.Equal. */
static bool almost_equal(double a, double b, double eps)
{
    const double min_normal = 2.2250738585072014e-308;
    if (isnan(a) && isnan(b))
        return true;
    if (a == b)
        return true;
    double abs_sum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal)
        return diff < eps * min_normal;
    return diff / (abs_sum < DBL_MAX ? abs_sum : DBL_MAX) < eps;
}

/* Prometheus' BucketQuantile: sets *forced when bucket counts had to be
 * made monotonic. */
static double bucket_quantile(double q, cbucket_t *b, size_t n, bool *forced)
{
    *forced = false;
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(b, n, sizeof(*b), cmp_cbucket);
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
        return NAN;
    n = coalesce_buckets(b, n);
    double prev = b[0].count;
    for (size_t i = 1; i < n; i++) {
        double cur = b[i].count;
        if (cur == prev)
            continue;
        if (almost_equal(prev, cur, 1e-12)) {
            b[i].count = prev;
            continue;
        }
        if (cur < prev) {
            b[i].count = prev;
            *forced = true;
            continue;
        }
        prev = cur;
    }
    if (n < 2)
        return NAN;
    double obs = b[n - 1].count;
    if (obs == 0)
        return NAN;
    double rank = q * obs;
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t m = (lo + hi) / 2;
        if (b[m].count >= rank)
            hi = m;
        else
            lo = m + 1;
    }
    size_t k = lo;
    if (k == n - 1)
        return b[n - 2].upper;
    if (k == 0 && b[0].upper <= 0)
        return b[0].upper;
    double start = 0, end = b[k].upper, count = b[k].count;
    if (k > 0) {
        start = b[k - 1].upper;
        count -= b[k - 1].count;
        rank -= b[k - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* Prometheus' BucketFraction for classic buckets. */
static double bucket_fraction(double lower, double upper, cbucket_t *b, size_t n)
{
    qsort(b, n, sizeof(*b), cmp_cbucket);
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
        return NAN;
    n = coalesce_buckets(b, n);
    double count = b[n - 1].count;
    if (count == 0 || isnan(lower) || isnan(upper))
        return NAN;
    if (lower >= upper)
        return 0;
    double rank = 0, lr = 0, ur = 0;
    bool ls = false, us = false;
    double lb = b[0].upper <= 0 ? -INFINITY : 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            lb = b[i - 1].upper;
        double ub = b[i].upper;
        if (!ls && lb >= lower)
            lr = rank, ls = true;
        if (!us && lb >= upper)
            ur = rank, us = true;
        if (ls && us)
            break;
        if (!ls && lb < lower && ub > lower) {
            lr = lb == -INFINITY ? b[i].count
                                 : rank + (b[i].count - rank) * (lower - lb) / (ub - lb);
            ls = true;
        }
        if (!us && lb < upper && ub > upper) {
            ur = lb == -INFINITY ? b[i].count
                                 : rank + (b[i].count - rank) * (upper - lb) / (ub - lb);
            us = true;
        }
        if (ls && us)
            break;
        rank = b[i].count;
    }
    if (!ls || lr > count)
        lr = count;
    if (!us || ur > count)
        ur = count;
    return (ur - lr) / count;
}

/* Go's strconv.ParseFloat acceptance for an le label value. */
static bool parse_le(sx_str_t s, double *out)
{
    if (s.len == 0 || s.len > 64)
        return false;
    char buf[72];
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = 0;
    if (buf[0] == ' ' || buf[0] == '\t' || buf[0] == '\n' || buf[0] == '\r' || buf[0] == '\f' ||
        buf[0] == '\v')
        return false;
    /* Reject C-only forms such as "nan(123)". */
    if (strchr(buf, '('))
        return false;
    char *end;
    double v = strtod(buf, &end);
    if (*end != 0)
        return false;
    *out = v;
    return true;
}

/* Grouping for histogram_quantile/histogram_fraction. Every series is
 * tried as a classic bucket (its labels without le form the group key)
 * and, where it holds native histograms, as a native histogram (its full
 * labels are the key). Groups with the same key share one output series;
 * a step where both kinds meet is skipped with a warning, as Prometheus. */
typedef struct hgroup_item {
    const pq_series_t *s;
    sx_label_t *key;
    uint32_t nkey;
    bool native;
    double le;
} hgroup_item_t;

static int cmp_hgroup(const void *pa, const void *pb)
{
    const hgroup_item_t *a = pa, *b = pb;
    int r = sx_pq__labels_cmp(a->key, a->nkey, b->key, b->nkey);
    if (r)
        return r;
    return (int)a->native - (int)b->native;
}

static void labels_without(pq_ctx_t *c, const sx_label_t *l, uint32_t n, sx_str_t name,
                           sx_label_t **out, uint32_t *nout)
{
    sx_pq__labels_set(c, l, n, name, SX_STR_NULL, out, nout);
}

static int hist_grouped(pq_call_t *c, bool fraction, pq_value_t *out)
{
    pq_ctx_t *ctx = c->ctx;
    size_t vi = fraction ? 2 : 1;
    const pq_value_t *in = &c->args[vi];
    bool keep_name = delayed_name_removal(ctx);
    vector_init(ctx, out, in->n * 2);
    if (!fraction)
        for (size_t i = 0; i < ctx->nsteps; i++)
            sx_pq__warn_quantile(ctx, arg_scalar(&c->args[0], i));
    if (in->n == 0)
        return 0;

    hgroup_item_t *it = sx_arena_alloc(ctx->a, in->n * 2 * sizeof(*it));
    size_t n = 0;
    for (size_t j = 0; j < in->n; j++) {
        const pq_series_t *s = &in->s[j];
        sx_label_t *l = s->labels;
        uint32_t nl = s->nlabels;
        if (!keep_name)
            sx_pq__labels_drop_name(ctx, l, nl, &l, &nl);
        bool has_float = false, has_hist = false;
        for (size_t i = 0; i < ctx->nsteps; i++) {
            has_float = has_float || slot_float(s, i);
            has_hist = has_hist || slot_hist(s, i);
        }
        if (has_float) {
            sx_str_t lv = sx_pq__label_get(s->labels, s->nlabels, le_label);
            double le;
            if (!parse_le(lv, &le)) {
                sx_str_t name = metric_name(s->labels, s->nlabels);
                sx_pq__warn(ctx,
                            "bucket label \"le\" is missing or has a malformed value of %s%s%s",
                            sx_pq__go_quote(ctx, lv), name.len ? " for metric name " : "",
                            name.len ? sx_pq__go_quote(ctx, name) : "");
            } else {
                hgroup_item_t *x = &it[n++];
                x->s = s, x->native = false, x->le = le;
                labels_without(ctx, l, nl, le_label, &x->key, &x->nkey);
            }
        }
        if (has_hist) {
            hgroup_item_t *x = &it[n++];
            x->s = s, x->native = true, x->le = 0;
            x->key = l, x->nkey = nl;
        }
    }
    qsort(it, n, sizeof(*it), cmp_hgroup);
    cbucket_t *bk = sx_arena_alloc(ctx->a, (n ? n : 1) * sizeof(*bk));
    for (size_t g = 0; g < n;) {
        size_t e = g + 1;
        while (e < n && sx_pq__labels_cmp(it[g].key, it[g].nkey, it[e].key, it[e].nkey) == 0)
            e++;
        pq_series_t *o = &out->s[out->n];
        double *v = NULL;
        bool all_native = true;
        for (size_t i = 0; i < ctx->nsteps; i++) {
            size_t nb = 0;
            const pq_series_t *nat = NULL;
            for (size_t k = g; k < e; k++) {
                if (it[k].native) {
                    if (slot_hist(it[k].s, i))
                        nat = it[k].s;
                } else if (slot_float(it[k].s, i)) {
                    bk[nb++] = (cbucket_t){it[k].le, it[k].s->v[i]};
                }
            }
            if (nb && nat) {
                sx_str_t name = metric_name(nat->labels, nat->nlabels);
                sx_pq__warn(ctx, "vector contains a mix of classic and native histograms%s%s",
                            name.len ? " for metric name " : "",
                            name.len ? sx_pq__go_quote(ctx, name) : "");
                continue;
            }
            if (!nb && !nat)
                continue;
            if (!v)
                v = sx_pq__steps_new(ctx);
            sx_str_t name = metric_name(it[g].key, it[g].nkey);
            if (nat) {
                const sx_promql_hist_t *h = nat->h[i];
                sx_str_t nn = metric_name(nat->labels, nat->nlabels);
                v[i] = fraction ? hist_fraction(ctx, arg_scalar(&c->args[0], i),
                                                arg_scalar(&c->args[1], i), h, nn)
                                : hist_quantile(ctx, arg_scalar(&c->args[0], i), h, nn);
            } else {
                all_native = false;
                if (fraction) {
                    v[i] = bucket_fraction(arg_scalar(&c->args[0], i),
                                           arg_scalar(&c->args[1], i), bk, nb);
                } else {
                    bool forced;
                    v[i] = bucket_quantile(arg_scalar(&c->args[0], i), bk, nb, &forced);
                    if (forced)
                        sx_pq__info(ctx,
                                    "input to histogram_quantile needed to be fixed for "
                                    "monotonicity (see https://prometheus.io/docs/prometheus/"
                                    "latest/querying/functions/#histogram_quantile)%s%s",
                                    keep_name && name.len ? " for metric name " : "",
                                    keep_name && name.len ? sx_pq__go_quote(ctx, name) : "");
                }
            }
        }
        (void)all_native;
        if (v) {
            o->labels = it[g].key;
            o->nlabels = it[g].nkey;
            o->drop_name = true;
            o->v = v;
            out->n++;
        }
        g = e;
    }
    return 0;
}

static int fn_histogram_quantile(pq_call_t *c, pq_value_t *out)
{
    return hist_grouped(c, false, out);
}

static int fn_histogram_fraction(pq_call_t *c, pq_value_t *out)
{
    return hist_grouped(c, true, out);
}

/* ---- The table ---- */

#define S SX_PROMQL_SCALAR
#define V SX_PROMQL_VECTOR
#define M SX_PROMQL_MATRIX
#define STR SX_PROMQL_STRING

/* name, return type, {argument types}, ntypes, min, max, flags, and the
 * implementation: E(fn) for an eval callback, W(fn) for a window one.
 * Sorted by name: sx_pq__func_lookup is a binary search. */
#define E(fn) fn, NULL
#define W(fn) NULL, fn

static const pq_func_t funcs[] = {
    {"abs", V, {V}, 1, 1, 1, 0, E(fn_abs)},
    {"absent", V, {V}, 1, 1, 1, 0, E(fn_absent)},
    {"absent_over_time", V, {M}, 1, 1, 1, 0, E(fn_absent_over_time)},
    {"acos", V, {V}, 1, 1, 1, 0, E(fn_acos)},
    {"acosh", V, {V}, 1, 1, 1, 0, E(fn_acosh)},
    {"asin", V, {V}, 1, 1, 1, 0, E(fn_asin)},
    {"asinh", V, {V}, 1, 1, 1, 0, E(fn_asinh)},
    {"atan", V, {V}, 1, 1, 1, 0, E(fn_atan)},
    {"atanh", V, {V}, 1, 1, 1, 0, E(fn_atanh)},
    {"avg_over_time", V, {M}, 1, 1, 1, 0, W(fn_avg_over_time)},
    {"ceil", V, {V}, 1, 1, 1, 0, E(fn_ceil)},
    {"changes", V, {M}, 1, 1, 1, 0, W(fn_changes)},
    {"clamp", V, {V, S, S}, 3, 3, 3, 0, E(fn_clamp)},
    {"clamp_max", V, {V, S}, 2, 2, 2, 0, E(fn_clamp_max)},
    {"clamp_min", V, {V, S}, 2, 2, 2, 0, E(fn_clamp_min)},
    {"cos", V, {V}, 1, 1, 1, 0, E(fn_cos)},
    {"cosh", V, {V}, 1, 1, 1, 0, E(fn_cosh)},
    {"count_over_time", V, {M}, 1, 1, 1, 0, W(fn_count_over_time)},
    {"day_of_month", V, {V}, 1, 0, 1, PQ_F_STEP_VARIANT, E(fn_day_of_month)},
    {"day_of_week", V, {V}, 1, 0, 1, PQ_F_STEP_VARIANT, E(fn_day_of_week)},
    {"day_of_year", V, {V}, 1, 0, 1, PQ_F_STEP_VARIANT, E(fn_day_of_year)},
    {"days_in_month", V, {V}, 1, 0, 1, PQ_F_STEP_VARIANT, E(fn_days_in_month)},
    {"deg", V, {V}, 1, 1, 1, 0, E(fn_deg)},
    {"delta", V, {M}, 1, 1, 1, 0, W(fn_delta)},
    {"deriv", V, {M}, 1, 1, 1, 0, W(fn_deriv)},
    {"double_exponential_smoothing", V, {M, S, S}, 3, 3, 3, PQ_F_EXPERIMENTAL,
      W(fn_double_exponential_smoothing)},
    {"exp", V, {V}, 1, 1, 1, 0, E(fn_exp)},
    {"first_over_time", V, {M}, 1, 1, 1, PQ_F_KEEP_NAME | PQ_F_EXPERIMENTAL,
      W(fn_first_over_time)},
    {"floor", V, {V}, 1, 1, 1, 0, E(fn_floor)},
    {"histogram_avg", V, {V}, 1, 1, 1, 0, E(fn_histogram_avg)},
    {"histogram_count", V, {V}, 1, 1, 1, 0, E(fn_histogram_count)},
    {"histogram_fraction", V, {S, S, V}, 3, 3, 3, 0, E(fn_histogram_fraction)},
    {"histogram_quantile", V, {S, V}, 2, 2, 2, 0, E(fn_histogram_quantile)},
    {"histogram_stddev", V, {V}, 1, 1, 1, 0, E(fn_histogram_stddev)},
    {"histogram_stdvar", V, {V}, 1, 1, 1, 0, E(fn_histogram_stdvar)},
    {"histogram_sum", V, {V}, 1, 1, 1, 0, E(fn_histogram_sum)},
    /* The name before Prometheus 3.0; kept so that older dashboards keep working. */
    {"holt_winters", V, {M, S, S}, 3, 3, 3, 0, W(fn_double_exponential_smoothing)},
    {"hour", V, {V}, 1, 0, 1, PQ_F_STEP_VARIANT, E(fn_hour)},
    {"idelta", V, {M}, 1, 1, 1, 0, W(fn_idelta)},
    {"increase", V, {M}, 1, 1, 1, 0, W(fn_increase)},
    {"info", V, {V, V}, 2, 1, 2, PQ_F_KEEP_NAME | PQ_F_EXPERIMENTAL, E(fn_info)},
    {"irate", V, {M}, 1, 1, 1, 0, W(fn_irate)},
    {"label_join", V, {V, STR, STR, STR}, 4, 3, -1, PQ_F_KEEP_NAME, E(fn_label_join)},
    {"label_replace", V, {V, STR, STR, STR, STR}, 5, 5, 5, PQ_F_KEEP_NAME, E(fn_label_replace)},
    {"last_over_time", V, {M}, 1, 1, 1, PQ_F_KEEP_NAME, W(fn_last_over_time)},
    {"ln", V, {V}, 1, 1, 1, 0, E(fn_ln)},
    {"log10", V, {V}, 1, 1, 1, 0, E(fn_log10)},
    {"log2", V, {V}, 1, 1, 1, 0, E(fn_log2)},
    {"mad_over_time", V, {M}, 1, 1, 1, PQ_F_EXPERIMENTAL, W(fn_mad_over_time)},
    {"max_over_time", V, {M}, 1, 1, 1, 0, W(fn_max_over_time)},
    {"min_over_time", V, {M}, 1, 1, 1, 0, W(fn_min_over_time)},
    {"minute", V, {V}, 1, 0, 1, PQ_F_STEP_VARIANT, E(fn_minute)},
    {"month", V, {V}, 1, 0, 1, PQ_F_STEP_VARIANT, E(fn_month)},
    {"pi", S, {0}, 0, 0, 0, 0, E(fn_pi)},
    {"predict_linear", V, {M, S}, 2, 2, 2, PQ_F_STEP_VARIANT, W(fn_predict_linear)},
    {"present_over_time", V, {M}, 1, 1, 1, 0, W(fn_present_over_time)},
    {"quantile_over_time", V, {S, M}, 2, 2, 2, 0, W(fn_quantile_over_time)},
    {"rad", V, {V}, 1, 1, 1, 0, E(fn_rad)},
    {"rate", V, {M}, 1, 1, 1, 0, W(fn_rate)},
    {"resets", V, {M}, 1, 1, 1, 0, W(fn_resets)},
    {"round", V, {V, S}, 2, 1, 2, 0, E(fn_round)},
    {"scalar", S, {V}, 1, 1, 1, 0, E(fn_scalar)},
    {"sgn", V, {V}, 1, 1, 1, 0, E(fn_sgn)},
    {"sin", V, {V}, 1, 1, 1, 0, E(fn_sin)},
    {"sinh", V, {V}, 1, 1, 1, 0, E(fn_sinh)},
    {"sort", V, {V}, 1, 1, 1, PQ_F_KEEP_NAME | PQ_F_SORTS, E(fn_sort)},
    {"sort_by_label", V, {V, STR}, 2, 1, -1, PQ_F_KEEP_NAME | PQ_F_SORTS | PQ_F_EXPERIMENTAL,
      E(fn_sort_by_label)},
    {"sort_by_label_desc", V, {V, STR}, 2, 1, -1,
      PQ_F_KEEP_NAME | PQ_F_SORTS | PQ_F_EXPERIMENTAL, E(fn_sort_by_label_desc)},
    {"sort_desc", V, {V}, 1, 1, 1, PQ_F_KEEP_NAME | PQ_F_SORTS, E(fn_sort_desc)},
    {"sqrt", V, {V}, 1, 1, 1, 0, E(fn_sqrt)},
    {"stddev_over_time", V, {M}, 1, 1, 1, 0, W(fn_stddev_over_time)},
    {"stdvar_over_time", V, {M}, 1, 1, 1, 0, W(fn_stdvar_over_time)},
    {"sum_over_time", V, {M}, 1, 1, 1, 0, W(fn_sum_over_time)},
    {"tan", V, {V}, 1, 1, 1, 0, E(fn_tan)},
    {"tanh", V, {V}, 1, 1, 1, 0, E(fn_tanh)},
    {"time", S, {0}, 0, 0, 0, PQ_F_STEP_VARIANT, E(fn_time)},
    {"timestamp", V, {V}, 1, 1, 1, PQ_F_STEP_VARIANT | PQ_F_SAMPLE_TS, E(fn_timestamp)},
    {"ts_of_last_over_time", V, {M}, 1, 1, 1, PQ_F_EXPERIMENTAL, W(fn_ts_of_last_over_time)},
    {"ts_of_max_over_time", V, {M}, 1, 1, 1, PQ_F_EXPERIMENTAL, W(fn_ts_of_max_over_time)},
    {"ts_of_min_over_time", V, {M}, 1, 1, 1, PQ_F_EXPERIMENTAL, W(fn_ts_of_min_over_time)},
    {"vector", V, {S}, 1, 1, 1, 0, E(fn_vector)},
    {"year", V, {V}, 1, 0, 1, PQ_F_STEP_VARIANT, E(fn_year)},
};

const pq_func_t *sx_pq__func_lookup(sx_str_t name)
{
    size_t lo = 0, hi = sizeof(funcs) / sizeof(funcs[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = sx_str_cmp(sx_str(funcs[mid].name), name);
        if (c == 0)
            return &funcs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
