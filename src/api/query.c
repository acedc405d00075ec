/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus HTTP API, query side: query, query_range, format_query and
 * parse_query under /prometheus/api/v1/ and /api/v1/, GET and form POST.
 * Handlers parse parameters as Prometheus does, run the PromQL engine on
 * the tenant's metric store and write the answer in Prometheus' exact JSON
 * (values as strings, timestamps as seconds with millisecond fractions,
 * warnings and infos beside data). A gate bounds how many queries
 * evaluate at once; the others wait for a slot within their timeout. */
#include "api.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/time.h"
#include "../query/promql/hist_ops.h"
#include "../query/promql/promql.h"

/* ---- Concurrency gate ---- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

/* Take a slot, waiting until deadline_ns (CLOCK_MONOTONIC is what
 * sx_mono_ns reads; the condition variable waits on CLOCK_REALTIME, so the
 * wait is sliced). Returns 0 or SX_ETIMEOUT. */
static int gate_enter(int max, int64_t deadline_ns)
{
    pthread_mutex_lock(&gate.mu);
    while (max > 0 && gate.running >= max) {
        if (sx_mono_ns() >= deadline_ns) {
            pthread_mutex_unlock(&gate.mu);
            return SX_ETIMEOUT;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&gate.cv, &gate.mu, &ts);
    }
    gate.running++;
    pthread_mutex_unlock(&gate.mu);
    return 0;
}

static void gate_leave(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.running--;
    pthread_cond_signal(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

/* ---- JSON encoding ---- */

/* Prometheus writes a timestamp as whole seconds, then ".mmm" when the
 * milliseconds are not zero (three digits, zeros kept). */
static void put_ts(sx_buf_t *b, int64_t t)
{
    uint64_t u = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
    char tmp[32], *p = tmp + sizeof(tmp);
    unsigned ms = (unsigned)(u % 1000);
    if (ms) {
        *--p = (char)('0' + ms % 10);
        *--p = (char)('0' + ms / 10 % 10);
        *--p = (char)('0' + ms / 100);
        *--p = '.';
    }
    u /= 1000;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (t < 0)
        *--p = '-';
    sx_buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

static void put_value_str(sx_buf_t *b, double v)
{
    char *p = sx_buf_reserve(b, SX_FLOAT_BUF + 2);
    *p = '"';
    int n = sx_format_float(p + 1, v);
    p[n + 1] = '"';
    b->len += (size_t)n + 2;
}

/* The timestamps of a matrix repeat in every series (the steps of a range
 * query): each distinct one is rendered once, into a small open-addressed
 * table keyed by the time. */
typedef struct ts_cache {
    struct {
        int64_t t;
        uint8_t len; /* 0 = empty */
        char s[31];
    } e[512];
} ts_cache_t;

static void put_ts_cached(sx_buf_t *b, ts_cache_t *c, int64_t t)
{
    unsigned k = (unsigned)(((uint64_t)t * 0x9e3779b97f4a7c15ull) >> 55);
    for (int probe = 0; probe < 8; probe++, k = (k + 1) & 511) {
        if (c->e[k].len && c->e[k].t == t) {
            sx_buf_append(b, c->e[k].s, c->e[k].len);
            return;
        }
        if (!c->e[k].len) {
            sx_buf_t tmp = {c->e[k].s, 0, sizeof(c->e[k].s)};
            put_ts(&tmp, t);
            c->e[k].t = t;
            c->e[k].len = (uint8_t)tmp.len;
            sx_buf_append(b, c->e[k].s, c->e[k].len);
            return;
        }
    }
    put_ts(b, t); /* a full neighbourhood: more distinct times than steps */
}

/* [t, "v"], the time from the matrix's table when there is one. */
static void put_point(sx_buf_t *b, ts_cache_t *tc, int64_t t, double v)
{
    sx_buf_putc(b, '[');
    if (tc)
        put_ts_cached(b, tc, t);
    else
        put_ts(b, t);
    sx_buf_putc(b, ',');
    put_value_str(b, v);
    sx_buf_putc(b, ']');
}

/* A histogram as Prometheus' JSON: count, sum and the non-empty buckets
 * as [rule, "lower", "upper", "count"], rule 0 = (l,u] for positive
 * buckets, 1 = [l,u) for negative ones, 3 = [l,u] for the zero bucket. */
static void put_hist(sx_arena_t *a, sx_buf_t *b, const sx_promql_hist_t *h)
{
    sx_buf_puts(b, "{\"count\":");
    put_value_str(b, h->count);
    sx_buf_puts(b, ",\"sum\":");
    put_value_str(b, h->sum);
    sx_promql_bucket_t *bk;
    size_t n = sx_promql_hist_buckets(h, a, &bk);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (bk[i].count == 0)
            continue;
        sx_buf_puts(b, first ? ",\"buckets\":[" : ",");
        first = false;
        sx_buf_printf(b, "[%d,", bk[i].side > 0 ? 0 : bk[i].side < 0 ? 1 : 3);
        put_value_str(b, bk[i].lower);
        sx_buf_putc(b, ',');
        put_value_str(b, bk[i].upper);
        sx_buf_putc(b, ',');
        put_value_str(b, bk[i].count);
        sx_buf_putc(b, ']');
    }
    if (!first)
        sx_buf_putc(b, ']');
    sx_buf_putc(b, '}');
}


static void put_hpoint(sx_arena_t *a, sx_buf_t *b, int64_t t, const sx_promql_hist_t *h)
{
    sx_buf_putc(b, '[');
    put_ts(b, t);
    sx_buf_putc(b, ',');
    put_hist(a, b, h);
    sx_buf_putc(b, ']');
}

static void put_notes(sx_buf_t *b, const char *key, const char **list, size_t n)
{
    if (!n)
        return;
    sx_buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sx_buf_putc(b, ',');
        sx_buf_json_str(b, list[i], strlen(list[i]));
    }
    sx_buf_putc(b, ']');
}

/* Series [from, to) of a matrix, each after a comma but the first. */
static void put_matrix_part(sx_arena_t *a, sx_buf_t *b, ts_cache_t *tc,
                            const sx_promql_series_t *series, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        const sx_promql_series_t *s = &series[i];
        if (i)
            sx_buf_putc(b, ',');
        sx_buf_puts(b, "{\"metric\":");
        sx_api_put_labelset(b, s->labels, s->nlabels);
        size_t nh = 0;
        for (size_t j = 0; s->h && j < s->n; j++)
            nh += s->h[j] != NULL;
        if (nh < s->n) {
            sx_buf_puts(b, ",\"values\":[");
            bool first = true;
            for (size_t j = 0; j < s->n; j++) {
                if (s->h && s->h[j])
                    continue;
                if (!first)
                    sx_buf_putc(b, ',');
                first = false;
                put_point(b, tc, s->t[j], s->v[j]);
            }
            sx_buf_putc(b, ']');
        }
        if (nh) {
            sx_buf_puts(b, ",\"histograms\":[");
            bool first = true;
            for (size_t j = 0; j < s->n; j++) {
                if (!s->h[j])
                    continue;
                if (!first)
                    sx_buf_putc(b, ',');
                first = false;
                put_hpoint(a, b, s->t[j], s->h[j]);
            }
            sx_buf_putc(b, ']');
        }
        sx_buf_putc(b, '}');
    }
}

typedef struct matrix_job {
    const sx_promql_series_t *series;
    size_t from, to;
    sx_buf_t out;
    sx_arena_t arena;
    ts_cache_t tc;
} matrix_job_t;

static void *matrix_job_run(void *p)
{
    matrix_job_t *j = p;
    size_t points = 0;
    for (size_t i = j->from; i < j->to; i++)
        points += j->series[i].n;
    sx_buf_reserve(&j->out, points * 32 + (j->to - j->from) * 256);
    put_matrix_part(&j->arena, &j->out, &j->tc, j->series, j->from, j->to);
    return NULL;
}

/* A matrix; a big one (a range query over hundreds of series) is written
 * in two halves at once, the second on a thread of its own, since
 * rendering the values is then most of the answer's cost. */
static void put_matrix(sx_req_t *req, sx_buf_t *b, const sx_promql_series_t *series, size_t n,
                       int threads)
{
    size_t points = 0;
    for (size_t i = 0; i < n; i++)
        points += series[i].n;
    ts_cache_t *tc = sx_arena_calloc(&req->arena, 1, sizeof(*tc));
    /* Room for the usual ~30 bytes a point up front, not a dozen regrowths
     * copying what was written. */
    sx_buf_reserve(b, points * 32 + n * 256);
    sx_buf_putc(b, '[');
    matrix_job_t *job = NULL;
    pthread_t th;
    size_t half = n;
    if (threads >= 2 && points >= 20000 && n >= 2) {
        job = sx_xcalloc(1, sizeof(*job));
        half = n / 2;
        *job = (matrix_job_t){.series = series, .from = half, .to = n, .out = SX_BUF_INIT};
        sx_arena_init(&job->arena);
        if (pthread_create(&th, NULL, matrix_job_run, job) != 0) {
            sx_arena_dispose(&job->arena);
            free(job);
            job = NULL;
            half = n;
        }
    }
    put_matrix_part(&req->arena, b, tc, series, 0, half);
    if (job) {
        pthread_join(th, NULL);
        sx_buf_append(b, job->out.ptr, job->out.len);
        sx_buf_dispose(&job->out);
        sx_arena_dispose(&job->arena);
        free(job);
    }
    sx_buf_putc(b, ']');
}

void sx_api_promql_data(sx_req_t *req, const sx_promql_result_t *r, size_t nseries,
                        int threads)
{
    sx_buf_t *b = &req->out;
    sx_buf_printf(b, "\"resultType\":\"%s\",\"result\":", sx_promql_type_name(r->type));
    switch (r->type) {
    case SX_PROMQL_SCALAR:
        put_point(b, NULL, r->t, r->scalar);
        break;
    case SX_PROMQL_STRING:
        sx_buf_putc(b, '[');
        put_ts(b, r->t);
        sx_buf_putc(b, ',');
        sx_buf_json_str(b, r->str.ptr, r->str.len);
        sx_buf_putc(b, ']');
        break;
    case SX_PROMQL_VECTOR:
        sx_buf_putc(b, '[');
        for (size_t i = 0; i < nseries; i++) {
            const sx_promql_series_t *s = &r->series[i];
            if (i)
                sx_buf_putc(b, ',');
            sx_buf_puts(b, "{\"metric\":");
            sx_api_put_labelset(b, s->labels, s->nlabels);
            if (s->h && s->h[0]) {
                sx_buf_puts(b, ",\"histogram\":");
                put_hpoint(&req->arena, b, s->t[0], s->h[0]);
            } else {
                sx_buf_puts(b, ",\"value\":");
                put_point(b, NULL, s->t[0], s->v[0]);
            }
            sx_buf_putc(b, '}');
        }
        sx_buf_putc(b, ']');
        break;
    case SX_PROMQL_MATRIX:
        put_matrix(req, b, r->series, nseries, threads);
        break;
    default:
        sx_buf_puts(b, "null");
        break;
    }
}

static void write_result(sx_req_t *req, const sx_promql_result_t *r, size_t limit, int threads)
{
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"status\":\"success\",\"data\":{");
    size_t nseries = r->nseries;
    bool truncated = false;
    if (limit && nseries > limit) {
        nseries = limit;
        truncated = true;
    }
    sx_api_promql_data(req, r, nseries, threads);
    sx_buf_putc(b, '}');
    const char **warnings = r->notes.warnings;
    size_t nwarnings = r->notes.nwarnings;
    if (truncated) {
        const char **w = sx_arena_alloc(&req->arena, (nwarnings + 1) * sizeof(char *));
        if (nwarnings)
            memcpy(w, warnings, nwarnings * sizeof(char *));
        w[nwarnings++] = "results truncated due to limit";
        warnings = w;
    }
    put_notes(b, "warnings", warnings, nwarnings);
    put_notes(b, "infos", r->notes.infos, r->notes.ninfos);
    sx_buf_putc(b, '}');
    sx_resp_set(req, 200, "application/json");
}

/* ---- Parameters ---- */

static void bad_param(sx_req_t *req, const char *name, const char *msg)
{
    sx_api_prom_error(req, SX_EPARSE,
                      sx_arena_sprintf(&req->arena, "invalid parameter \"%s\": %s", name, msg));
}

static int time_param(sx_req_t *req, const char *name, bool required, int64_t def, int64_t *out)
{
    const char *v = sx_req_param(req, name);
    if (!v || !*v) {
        if (required) {
            bad_param(req, name, sx_arena_sprintf(&req->arena,
                                                  "cannot parse \"\" to a valid timestamp"));
            return -1;
        }
        *out = def;
        return 0;
    }
    sx_err_t err;
    if (sx_timestamp_parse(sx_str(v), out, &err)) {
        bad_param(req, name,
                  sx_arena_sprintf(&req->arena, "cannot parse \"%s\" to a valid timestamp", v));
        return -1;
    }
    return 0;
}

static int duration_param(sx_req_t *req, const char *name, int64_t *out)
{
    const char *v = sx_req_param(req, name);
    if (!v || !*v)
        return 0;
    sx_err_t err;
    if (sx_duration_or_seconds_parse(sx_str(v), out, &err)) {
        bad_param(req, name,
                  sx_arena_sprintf(&req->arena, "cannot parse \"%s\" to a valid duration", v));
        return -1;
    }
    return 0;
}

static int limit_param(sx_req_t *req, size_t *limit)
{
    const char *v = sx_req_param(req, "limit");
    *limit = 0;
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (*end || errno || n < 0) {
        bad_param(req, "limit", sx_arena_sprintf(&req->arena, "cannot parse \"%s\" to a non-negative integer", v));
        return -1;
    }
    *limit = (size_t)n;
    return 0;
}

/* Parse the query parameter; answers bad_data and returns NULL on error. */
static sx_promql_expr_t *query_param(sx_req_t *req)
{
    const char *q = sx_req_param(req, "query");
    sx_promql_expr_t *e = NULL;
    sx_err_t err;
    sx_err_clear(&err);
    if (sx_promql_parse(sx_str(q ? q : ""), &req->arena, &e, &err) != 0) {
        bad_param(req, "query", err.msg[0] ? err.msg : "cannot parse query");
        return NULL;
    }
    return e;
}

typedef struct qrun {
    sx_promql_opts_t opts;
    sx_tsdb_t *db;
    int64_t started_ns;
} qrun_t;

/* Engine options from the configuration and the timeout and
 * lookback_delta parameters. */
static int qrun_init(sx_api_ctx_t *ctx, sx_req_t *req, qrun_t *r)
{
    sx_promql_opts_default(&r->opts);
    const sx_config_t *cfg = ctx->cfg;
    int64_t timeout = cfg && cfg->query_timeout_ms > 0 ? cfg->query_timeout_ms : 120000;
    if (cfg && cfg->query_lookback_ms > 0)
        r->opts.lookback_ms = cfg->query_lookback_ms;
    if (cfg && cfg->query_max_samples > 0)
        r->opts.max_samples = cfg->query_max_samples;
    if (cfg && cfg->query_parallelism > 0)
        r->opts.parallelism = cfg->query_parallelism;
    int64_t t = 0;
    if (duration_param(req, "timeout", &t))
        return -1;
    if (t > 0 && t < timeout)
        timeout = t;
    int64_t lb = 0;
    if (duration_param(req, "lookback_delta", &lb))
        return -1;
    if (lb > 0)
        r->opts.lookback_ms = lb;
    r->started_ns = sx_mono_ns();
    r->opts.deadline_ns = r->started_ns + timeout * 1000000;
    r->db = sx_storage_tsdb_peek(ctx->storage, req->tenant);
    return 0;
}

static void answer_error(sx_req_t *req, int rc, const sx_err_t *err)
{
    const char *msg = err->msg[0] ? err->msg : sx_strerror(rc);
    if (rc == SX_ETIMEOUT)
        msg = "query timed out in query execution";
    sx_api_prom_error(req, rc, msg);
}

/* ---- Handlers ---- */

/* Parse the query and the engine options, wait for a slot, evaluate at t
 * = start (step 0) or over start..end, and answer. */
static void run_query(sx_api_ctx_t *ctx, sx_req_t *req, int64_t start, int64_t end, int64_t step,
                      size_t limit)
{
    qrun_t r;
    if (qrun_init(ctx, req, &r))
        return;
    sx_promql_expr_t *e = query_param(req);
    if (!e)
        return;
    int max = ctx->cfg ? ctx->cfg->query_max_concurrency : 20;
    sx_err_t err;
    sx_err_clear(&err);
    int rc = gate_enter(max, r.opts.deadline_ns);
    if (rc == 0) {
        sx_promql_result_t res;
        rc = step ? sx_promql_eval_range(r.db, &r.opts, e, start, end, step, &req->arena, &res,
                                         &err)
                  : sx_promql_eval_instant(r.db, &r.opts, e, start, &req->arena, &res, &err);
        gate_leave();
        if (rc == 0)
            write_result(req, &res, limit, r.opts.parallelism);
    }
    if (rc)
        answer_error(req, rc, &err);
    sx_promql_expr_dispose(e);
}

static void on_query(sx_req_t *req, void *vctx)
{
    sx_api_ctx_t *ctx = vctx;
    int64_t t;
    size_t limit;
    if (time_param(req, "time", false, sx_now_ms(), &t) || limit_param(req, &limit))
        return;
    run_query(ctx, req, t, t, 0, limit);
}

static void on_query_range(sx_req_t *req, void *vctx)
{
    sx_api_ctx_t *ctx = vctx;
    int64_t start, end, step = 0;
    size_t limit;
    if (time_param(req, "start", true, 0, &start) || time_param(req, "end", true, 0, &end))
        return;
    if (end < start) {
        bad_param(req, "end", "end timestamp must not be before start time");
        return;
    }
    const char *sp = sx_req_param(req, "step");
    sx_err_t err;
    if (!sp || !*sp || sx_duration_or_seconds_parse(sx_str(sp), &step, &err)) {
        bad_param(req, "step", sx_arena_sprintf(&req->arena,
                                                "cannot parse \"%s\" to a valid duration",
                                                sp ? sp : ""));
        return;
    }
    if (step <= 0) {
        bad_param(req, "step",
                  "zero or negative query resolution step widths are not accepted. Try a "
                  "positive integer");
        return;
    }
    if ((end - start) / step > 11000) {
        sx_api_prom_error(req, SX_EPARSE,
                          "exceeded maximum resolution of 11,000 points per timeseries. Try "
                          "decreasing the query resolution (?step=XX)");
        return;
    }
    if (limit_param(req, &limit))
        return;
    run_query(ctx, req, start, end, step, limit);
}

static void on_format_query(sx_req_t *req, void *vctx)
{
    sx_promql_expr_t *e = query_param(req);
    if (!e)
        return;
    sx_buf_t f = {0};
    sx_promql_format(e, &f);
    sx_api_prom_success_begin(req);
    sx_buf_json_str(&req->out, f.ptr ? f.ptr : "", f.len);
    sx_api_prom_success_end(req);
    sx_buf_dispose(&f);
    sx_promql_expr_dispose(e);
}

static void on_parse_query(sx_req_t *req, void *vctx)
{
    sx_promql_expr_t *e = query_param(req);
    if (!e)
        return;
    sx_api_prom_success_begin(req);
    sx_promql_ast_json(e, &req->out);
    sx_api_prom_success_end(req);
    sx_promql_expr_dispose(e);
}

/* ---- Routes ---- */

#define Q_ROUTE(prefix, path, fn)                                                                  \
    {"GET", prefix path, fn, 0, 0}, {"POST", prefix path, fn, 0, 0}

#define Q_ROUTES(prefix)                                                                           \
    Q_ROUTE(prefix, "query", on_query), Q_ROUTE(prefix, "query_range", on_query_range),            \
        Q_ROUTE(prefix, "format_query", on_format_query),                                          \
        Q_ROUTE(prefix, "parse_query", on_parse_query)

static const sx_route_t routes[] = {
    Q_ROUTES("/prometheus/api/v1/"),
    Q_ROUTES("/api/v1/"),
};

void sx_api_query_register(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_http_add_routes(h, routes, sizeof(routes) / sizeof(routes[0]), ctx);
}
