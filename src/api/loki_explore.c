/* SPDX-License-Identifier: Apache-2.0 */
/* The Loki endpoints Grafana's Logs Drilldown and logs-volume panels call
 * besides the query API: /loki/api/v1/index/volume and volume_range (line
 * bytes per series or per label), /detected_labels (stream labels with
 * their cardinality), /detected_fields and /detected_field/<name>/values
 * (fields parsed out of recent lines) and /patterns (line patterns with
 * counts over time). They read the request's tenant's log store only and
 * answer in Loki's JSON shapes; errors are Loki's plain text 400s.
 *
 * Each endpoint bounds its work, because a wide time range must not run
 * away: volume reads at most VOLUME_MAX_LINES lines (then answers what it
 * has, with a warning), detected fields read the newest line_limit lines
 * (at most DF_MAX_LINE_LIMIT, Loki's max_entries_limit_per_query), patterns
 * cluster the newest PATTERN_MAX_LINES lines, and all stop at the query
 * timeout. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/hash.h"
#include "../core/time.h"
#include "../query/logql/convert.h"
#include "../query/logql/engine.h"
#include "../query/logql/jsonx.h"
#include "../query/logql/labels.h"
#include "../query/logql/logfmt.h"
#include "loki.h"

/* Lines volume reads before it stops and answers with what it counted. */
#define VOLUME_MAX_LINES 10000000ULL
/* Loki's volume_max_series default: more distinct series in one bucket is
 * an error. */
#define VOLUME_MAX_SERIES 1000
/* Loki's max_entries_limit_per_query default bounds line_limit. */
#define DF_MAX_LINE_LIMIT 5000
/* Patterns are mined from at most this many of the newest lines. */
#define PATTERN_MAX_LINES 50000
/* Lines longer than this, or with more tokens, are not clustered (Loki's
 * drain drops over-long lines too). */
#define PATTERN_MAX_LINE_LEN 3000
#define PATTERN_MAX_TOKENS 100
/* Clusters kept; a line that would start one more is not counted. */
#define PATTERN_MAX_CLUSTERS 1000

#define NS_PER_SEC 1000000000LL

/* ---- Small hash tables in the request arena ---- */

/* String keys to indexes, open addressing. Keys are not copied: the caller
 * passes strings that outlive the table. */
typedef struct strmap {
    sx_str_t *keys;
    uint32_t *vals;
    size_t cap, n;
    sx_arena_t *a;
} strmap_t;

static void strmap_init(strmap_t *m, sx_arena_t *a)
{
    m->a = a;
    m->cap = 64;
    m->n = 0;
    m->keys = sx_arena_calloc(a, m->cap, sizeof(*m->keys));
    m->vals = sx_arena_alloc(a, m->cap * sizeof(*m->vals));
}

static size_t strmap_slot(const strmap_t *m, sx_str_t key)
{
    size_t mask = m->cap - 1, i = (size_t)sx_hash64(key.ptr, key.len) & mask;
    while (m->keys[i].ptr && !sx_str_eq(m->keys[i], key))
        i = (i + 1) & mask;
    return i;
}

static bool strmap_find(const strmap_t *m, sx_str_t key, uint32_t *val)
{
    size_t i = strmap_slot(m, key);
    if (!m->keys[i].ptr)
        return false;
    *val = m->vals[i];
    return true;
}

/* Insert key -> val; key must not be there yet. */
static void strmap_put(strmap_t *m, sx_str_t key, uint32_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        strmap_t g = {0};
        g.a = m->a;
        g.cap = m->cap * 2;
        g.keys = sx_arena_calloc(m->a, g.cap, sizeof(*g.keys));
        g.vals = sx_arena_alloc(m->a, g.cap * sizeof(*g.vals));
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i].ptr) {
                size_t s = strmap_slot(&g, m->keys[i]);
                g.keys[s] = m->keys[i];
                g.vals[s] = m->vals[i];
            }
        g.n = m->n;
        *m = g;
    }
    size_t i = strmap_slot(m, key);
    /* An empty key needs a non-NULL pointer to mark the slot used. */
    m->keys[i] = key.ptr ? key : (sx_str_t){"", 0};
    m->vals[i] = val;
    m->n++;
}

/* A set of 64-bit hashes (0 stands for 1), for distinct-value counts. */
typedef struct u64set {
    uint64_t *v;
    size_t cap, n;
    sx_arena_t *a;
} u64set_t;

static void u64set_init(u64set_t *s, sx_arena_t *a)
{
    s->a = a;
    s->cap = 256;
    s->n = 0;
    s->v = sx_arena_calloc(a, s->cap, sizeof(*s->v));
}

/* Add h; returns whether it was new. */
static bool u64set_add(u64set_t *s, uint64_t h)
{
    if (!h)
        h = 1;
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap * 2;
        uint64_t *v = sx_arena_calloc(s->a, cap, sizeof(*v));
        for (size_t i = 0; i < s->cap; i++)
            if (s->v[i]) {
                size_t k = (size_t)s->v[i] & (cap - 1);
                while (v[k])
                    k = (k + 1) & (cap - 1);
                v[k] = s->v[i];
            }
        s->v = v;
        s->cap = cap;
    }
    size_t k = (size_t)h & (s->cap - 1);
    while (s->v[k]) {
        if (s->v[k] == h)
            return false;
        k = (k + 1) & (s->cap - 1);
    }
    s->v[k] = h;
    s->n++;
    return true;
}

/* qsort, but for arrays that may be empty (and NULL). */
static void sort_n(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

/* ---- Go's value syntaxes, for field types and ID detection ---- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* strconv.ParseInt(s, 10, 64) succeeds. */
static bool go_is_int(sx_str_t s)
{
    size_t i = 0;
    bool neg = false;
    if (s.len && (s.ptr[0] == '+' || s.ptr[0] == '-')) {
        neg = s.ptr[0] == '-';
        i = 1;
    }
    if (i == s.len)
        return false;
    uint64_t lim = neg ? 9223372036854775808ULL : 9223372036854775807ULL, v = 0;
    for (; i < s.len; i++) {
        if (!is_digit(s.ptr[i]))
            return false;
        uint64_t d = (uint64_t)(s.ptr[i] - '0');
        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    return true;
}

/* strconv.ParseFloat succeeds (range errors fail, as in Go). */
static bool go_is_float(sx_str_t s)
{
    double d;
    return sx_lq_parse_float(s, &d, NULL) == 0;
}

/* strconv.ParseBool succeeds. */
static bool go_is_bool(sx_str_t s)
{
    static const char *const words[] = {"1", "t", "T", "TRUE", "true", "True",
                                        "0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (sx_str_eq_cstr(s, words[i]))
            return true;
    return false;
}

/* time.ParseDuration succeeds. */
static bool go_is_duration(sx_str_t s)
{
    int64_t ns;
    return sx_lq_parse_duration(s, &ns, NULL) == 0;
}

/* humanize.ParseBytes succeeds; the size in *out. */
static bool go_parse_bytes(sx_str_t s, uint64_t *out)
{
    return sx_lq_parse_bytes(s, out, NULL) == 0;
}

/* Loki's determineType, in its order: int, float, boolean, duration,
 * bytes, string. */
static const char *field_type(sx_str_t v)
{
    uint64_t b;
    if (go_is_int(v))
        return "int";
    if (go_is_float(v))
        return "float";
    if (go_is_bool(v))
        return "boolean";
    if (go_is_duration(v))
        return "duration";
    if (go_parse_bytes(v, &b))
        return "bytes";
    return "string";
}

/* uuid.Parse succeeds: 8-4-4-4-12 hex digits, optionally in braces or
 * after "urn:uuid:", or 32 hex digits. */
static bool is_uuid(sx_str_t s)
{
    const char *p = s.ptr;
    size_t n = s.len;
    if (n == 45 && strncasecmp(p, "urn:uuid:", 9) == 0)
        p += 9, n -= 9;
    else if (n == 38 && p[0] == '{' && p[37] == '}')
        p += 1, n -= 2;
    if (n == 32) {
        for (size_t i = 0; i < 32; i++)
            if (!isxdigit((unsigned char)p[i]))
                return false;
        return true;
    }
    if (n != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? p[i] != '-' : !isxdigit((unsigned char)p[i]))
            return false;
    }
    return true;
}

/* ---- Parameters ---- */

static sx_logstore_t *tenant_logs(sx_api_ctx_t *ctx, sx_req_t *req)
{
    return sx_storage_logs_peek(ctx->storage, req->tenant, SX_LOGS);
}

static int64_t deadline_ns(const sx_api_ctx_t *ctx)
{
    int64_t ms = ctx->cfg->query_timeout_ms > 0 ? ctx->cfg->query_timeout_ms : 120000;
    return sx_mono_ns() + ms * 1000000LL;
}

/* A positive integer parameter with Loki's rules: absent = def, 0 = def
 * when zero_is_def, negative or not a number = 400 "limit must be a
 * positive value". Returns -1 after answering. */
static int uint_param(sx_req_t *req, const char *name, uint64_t def, bool zero_is_def,
                      uint64_t *out)
{
    const char *v = sx_req_param(req, name);
    *out = def;
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (*end || end == v || errno) {
        sx_api_loki_error(req, 400,
                          sx_arena_sprintf(&req->arena,
                                           "strconv.ParseInt: parsing \"%s\": invalid syntax", v));
        return -1;
    }
    if (x == 0 && zero_is_def)
        return 0;
    if (x <= 0) {
        sx_api_loki_error(req, 400, "limit must be a positive value");
        return -1;
    }
    *out = (uint64_t)x;
    return 0;
}

/* step as Loki's range parameters read it (default: the range / 250, at
 * least a second), with its checks. Returns -1 after answering. */
static int step_param(sx_req_t *req, int64_t start, int64_t end, int64_t *step)
{
    bool set;
    if (sx_api_loki_duration(req, "step", step, &set))
        return -1;
    if (!set) {
        int64_t secs = (end - start) / NS_PER_SEC / 250;
        *step = (secs > 1 ? secs : 1) * NS_PER_SEC;
    }
    if (*step <= 0) {
        sx_api_loki_error(req, 400,
                          "zero or negative query resolution step widths are not accepted. Try a "
                          "positive integer");
        return -1;
    }
    if ((end - start) / *step > 11000) {
        sx_api_loki_error(req, 400,
                          "exceeded maximum resolution of 11,000 points per time series. Try "
                          "increasing the value of the step parameter");
        return -1;
    }
    return 0;
}

/* The query parameter as a stream selector only (Loki's ParseMatchers):
 * an empty or absent query, or "{}", selects every stream (*any set).
 * On success the caller disposes *e (may be NULL). Returns -1 after
 * answering 400. */
static int selector_param(sx_req_t *req, bool required, sx_logql_expr_t **e, bool *any)
{
    *e = NULL;
    *any = false;
    const char *q = sx_req_param(req, "query");
    sx_str_t t = sx_lq_trim_space(sx_str(q ? q : ""));
    if (!t.len && required) {
        sx_api_loki_error(req, 400, "query parameter is required");
        return -1;
    }
    if (!t.len || sx_str_eq_cstr(t, "{}")) {
        *any = true;
        return 0;
    }
    sx_err_t err;
    sx_err_clear(&err);
    *e = sx_logql_parse(q, strlen(q), &req->arena, &err);
    if (!*e) {
        sx_api_loki_error(req, 400, err.msg);
        return -1;
    }
    if ((*e)->kind != SX_LQ_EXPR_LOG || (*e)->log.nstages) {
        sx_logql_expr_dispose(*e);
        *e = NULL;
        sx_api_loki_error(req, 400, "only label matchers are supported");
        return -1;
    }
    return 0;
}

/* Run a log query for its newest `limit` entries in [start, end), with
 * structured metadata and parsed labels kept apart (categorize-labels).
 * Disposes e. Returns 0, or -1 after answering. */
/* LogQL options from the configuration: deadline and threads. */
static void logql_opts(sx_api_ctx_t *ctx, sx_logql_opts_t *o)
{
    sx_logql_opts_default(o);
    o->deadline_ns = deadline_ns(ctx);
    if (ctx->cfg->query_parallelism > 0)
        o->parallelism = ctx->cfg->query_parallelism;
}

static int run_log_query(sx_api_ctx_t *ctx, sx_req_t *req, sx_logql_expr_t *e, int64_t start,
                         int64_t end, size_t limit, sx_logql_result_t *r)
{
    sx_logql_params_t p = {0};
    p.start_ns = start;
    p.end_ns = end;
    p.limit = limit;
    p.backward = true;
    p.categorize = true;
    sx_logql_opts_t o;
    logql_opts(ctx, &o);
    sx_err_t err;
    sx_err_clear(&err);
    int rc = sx_logql_eval(tenant_logs(ctx, req), e, &p, &o, &req->arena, r, &err);
    sx_logql_expr_dispose(e);
    if (rc) {
        sx_api_loki_error(req, sx_api_loki_status(rc), err.msg[0] ? err.msg : sx_strerror(rc));
        return -1;
    }
    return 0;
}

static void put_warnings(sx_buf_t *b, const char **w, size_t n)
{
    if (!n)
        return;
    sx_buf_puts(b, ",\"warnings\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sx_buf_putc(b, ',');
        sx_buf_json_str(b, w[i], strlen(w[i]));
    }
    sx_buf_putc(b, ']');
}

/* ---- index/volume, index/volume_range ---- */

/* Loki's Volume: the streams matching the selector (and having every
 * target label) are aggregated into series of the selector's label names,
 * or of targetLabels when given, or of all their labels for "{}"; with
 * aggregateBy=labels into one series per label name instead ({name=""}).
 * The volume is the bytes of the lines in range, counted exactly from the
 * lines (Loki sums whole chunks from its index). volume_range buckets the
 * range as Loki's ForInterval: buckets of step aligned to multiples of
 * step, the first from start, each stamped with its end (minus 1 ms, the
 * last with end). Each bucket keeps its `limit` biggest series. */

typedef struct vol_pt {
    uint32_t bucket;
    uint64_t bytes;
} vol_pt_t;

typedef struct vol_group {
    sx_str_t name;        /* Loki's series name: {a="b", c="d"}, or the label name */
    sx_label_t *labels;   /* the metric, sorted */
    uint32_t nlabels;
    vol_pt_t *pts;        /* per stream and bucket, unsorted until the end */
    size_t npts, cap;
} vol_group_t;

typedef struct vol {
    sx_req_t *req;
    bool by_series;
    bool include_all;     /* "{}": every label forms the series */
    sx_str_t *names;      /* the label names to aggregate into */
    size_t nnames;
    int64_t start, end, step, base; /* step 0: one bucket (instant) */
    size_t nbuckets;
    vol_group_t *groups;
    size_t ngroups, gcap;
    strmap_t gmap;
    /* The stream being read: bytes per bucket, the buckets touched (those
     * whose mark is the stream's generation). */
    uint64_t *acc;
    uint32_t *mark, gen;
    uint32_t *touched;
    size_t ntouched;
    uint64_t lines;
    bool truncated;
    int64_t deadline;
} vol_t;

enum { VOL_STOP = 1 };

static bool name_wanted(const vol_t *v, sx_str_t name)
{
    if (v->include_all)
        return true;
    for (size_t i = 0; i < v->nnames; i++)
        if (sx_str_eq(v->names[i], name))
            return true;
    return false;
}

/* Go's labels.String(): {a="b", c="d"}, values quoted. */
static sx_str_t series_name(sx_arena_t *a, const sx_label_t *l, uint32_t n)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_putc(&b, '{');
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            sx_buf_puts(&b, ", ");
        sx_buf_append_str(&b, l[i].name);
        sx_buf_puts(&b, "=");
        sx_buf_json_str(&b, l[i].value.ptr, l[i].value.len);
    }
    sx_buf_putc(&b, '}');
    sx_str_t s = sx_arena_strdup_str(a, (sx_str_t){b.ptr, b.len});
    sx_buf_dispose(&b);
    return s;
}

static uint32_t vol_group(vol_t *v, sx_str_t name, const sx_label_t *l, uint32_t n)
{
    uint32_t g;
    if (strmap_find(&v->gmap, name, &g))
        return g;
    if (v->ngroups == v->gcap) {
        size_t cap = v->gcap ? v->gcap * 2 : 64;
        v->groups = sx_arena_realloc(&v->req->arena, v->groups, v->gcap * sizeof(*v->groups),
                                     cap * sizeof(*v->groups));
        v->gcap = cap;
    }
    g = (uint32_t)v->ngroups++;
    vol_group_t *gr = &v->groups[g];
    memset(gr, 0, sizeof(*gr));
    gr->name = name;
    gr->labels = sx_arena_alloc(&v->req->arena, (n ? n : 1) * sizeof(sx_label_t));
    memcpy(gr->labels, l, n * sizeof(sx_label_t));
    gr->nlabels = n;
    strmap_put(&v->gmap, name, g);
    return g;
}

static void vol_add(vol_t *v, uint32_t g, uint32_t bucket, uint64_t bytes)
{
    vol_group_t *gr = &v->groups[g];
    if (gr->npts == gr->cap) {
        size_t cap = gr->cap ? gr->cap * 2 : 8;
        gr->pts = sx_arena_realloc(&v->req->arena, gr->pts, gr->cap * sizeof(*gr->pts),
                                   cap * sizeof(*gr->pts));
        gr->cap = cap;
    }
    gr->pts[gr->npts++] = (vol_pt_t){bucket, bytes};
}

static uint32_t vol_bucket(const vol_t *v, int64_t ts)
{
    if (!v->step)
        return 0;
    int64_t k = (ts - v->base) / v->step;
    if (k < 0)
        k = 0;
    if ((size_t)k >= v->nbuckets)
        k = (int64_t)v->nbuckets - 1;
    return (uint32_t)k;
}

static int vol_block(void *arg, const sx_log_block_t *blk)
{
    vol_t *v = arg;
    if (sx_mono_ns() > v->deadline)
        return SX_ETIMEOUT;
    for (size_t i = 0; i < blk->n; i++) {
        uint32_t k = vol_bucket(v, blk->ts[i]);
        if (v->mark[k] != v->gen) {
            v->mark[k] = v->gen;
            v->touched[v->ntouched++] = k;
        }
        v->acc[k] += blk->lines[i].len;
    }
    v->lines += blk->n;
    if (v->lines >= VOLUME_MAX_LINES) {
        v->truncated = true;
        return VOL_STOP;
    }
    return 0;
}

/* Read one stream and credit its bytes per bucket to its groups: its
 * series, or each wanted label name it has. Returns 0, VOL_STOP (the line
 * budget is spent; what was read is credited) or SX_ETIMEOUT. */
static int vol_stream(vol_t *v, sx_logstore_t *ls, const sx_log_stream_t *st)
{
    sx_arena_t *a = &v->req->arena;
    uint32_t series = 0;
    if (v->by_series) {
        sx_label_t *sub = sx_arena_alloc(a, (st->nlabels ? st->nlabels : 1) * sizeof(*sub));
        uint32_t n = 0;
        for (uint32_t i = 0; i < st->nlabels; i++)
            if (name_wanted(v, st->labels[i].name))
                sub[n++] = st->labels[i];
        series = vol_group(v, series_name(a, sub, n), sub, n);
    }
    v->gen++;
    v->ntouched = 0;
    int rc = sx_logstore_read(ls, st->id, v->start, v->end, SX_LOGREAD_LINES, NULL, vol_block, v,
                              NULL);
    if (rc != 0 && rc != VOL_STOP)
        return rc;
    for (size_t t = 0; t < v->ntouched; t++) {
        uint32_t k = v->touched[t];
        uint64_t bytes = v->acc[k];
        v->acc[k] = 0;
        if (!bytes)
            continue;
        if (v->by_series) {
            vol_add(v, series, k, bytes);
            continue;
        }
        for (uint32_t i = 0; i < st->nlabels; i++) {
            sx_str_t name = st->labels[i].name;
            if (!name_wanted(v, name))
                continue;
            sx_label_t l = {name, SX_STR_LIT("")};
            vol_add(v, vol_group(v, name, &l, 1), k, bytes);
        }
    }
    return rc;
}

typedef struct vol_row {
    uint32_t bucket, group;
    uint64_t bytes;
} vol_row_t;

static int cmp_pt(const void *x, const void *y)
{
    const vol_pt_t *a = x, *b = y;
    return a->bucket < b->bucket ? -1 : a->bucket > b->bucket;
}

/* Rows of one bucket: biggest first, then by name (MapToVolumeResponse). */
static int cmp_row(const void *x, const void *y, void *arg)
{
    const vol_row_t *a = x, *b = y;
    const vol_group_t *g = arg;
    if (a->bucket != b->bucket)
        return a->bucket < b->bucket ? -1 : 1;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    return sx_str_cmp(g[a->group].name, g[b->group].name);
}

/* Series of the answer: by the value of their first sample, biggest first,
 * then by name (Loki's toPrometheusData). */
typedef struct vol_out {
    uint32_t group;
    sx_promql_series_t s;
} vol_out_t;

static int cmp_out(const void *x, const void *y, void *arg)
{
    const vol_out_t *a = x, *b = y;
    const vol_group_t *g = arg;
    if (a->s.v[0] != b->s.v[0])
        return a->s.v[0] > b->s.v[0] ? -1 : 1;
    return sx_str_cmp(g[a->group].name, g[b->group].name);
}

static int64_t vol_bucket_ms(const vol_t *v, uint32_t k)
{
    if (!v->step)
        return v->end / 1000000;
    int64_t bend = v->base + ((int64_t)k + 1) * v->step;
    int64_t t = bend >= v->end ? v->end : bend - 1000000;
    return t / 1000000;
}

static void volume(sx_req_t *req, sx_api_ctx_t *ctx, bool range)
{
    vol_t v;
    memset(&v, 0, sizeof(v));
    v.req = req;
    uint64_t limit;
    if (sx_api_loki_range(req, 3600 * NS_PER_SEC, &v.start, &v.end) ||
        uint_param(req, "limit", 100, true, &limit))
        return;
    if (range && step_param(req, v.start, v.end, &v.step))
        return;
    const char *agg = sx_req_param(req, "aggregateBy");
    if (agg && *agg && strcmp(agg, "series") != 0 && strcmp(agg, "labels") != 0) {
        sx_api_loki_error(req, 400, "invalid aggregation option");
        return;
    }
    v.by_series = !agg || !*agg || strcmp(agg, "series") == 0;
    sx_logql_expr_t *e;
    bool any;
    if (selector_param(req, true, &e, &any))
        return;
    const sx_matcher_t *m = e ? e->log.matchers : NULL;
    size_t nm = e ? e->log.nmatchers : 0;

    /* The names to aggregate into: targetLabels, else the selector's. */
    const char *tl = sx_req_param(req, "targetLabels");
    size_t cap = nm + 1;
    if (tl && *tl)
        for (const char *p = tl; *p; p++)
            cap += *p == ',';
    v.names = sx_arena_alloc(&req->arena, cap * sizeof(sx_str_t));
    if (tl && *tl) {
        const char *p = tl;
        for (;;) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            v.names[v.nnames++] = (sx_str_t){p, len};
            if (!c)
                break;
            p = c + 1;
        }
    } else {
        v.include_all = any;
        for (size_t i = 0; i < nm; i++)
            v.names[v.nnames++] = m[i].name;
    }
    bool targets = tl && *tl;

    if (v.step) {
        v.base = v.start - v.start % v.step;
        int64_t span = v.end - v.base;
        v.nbuckets = (size_t)((span + v.step - 1) / v.step);
    } else {
        v.nbuckets = 1;
    }
    strmap_init(&v.gmap, &req->arena);
    v.deadline = deadline_ns(ctx);
    int rc = 0;
    sx_logstore_t *ls = tenant_logs(ctx, req);
    if (ls && v.nbuckets) {
        v.acc = sx_arena_calloc(&req->arena, v.nbuckets, sizeof(*v.acc));
        v.mark = sx_arena_calloc(&req->arena, v.nbuckets, sizeof(*v.mark));
        v.touched = sx_arena_alloc(&req->arena, v.nbuckets * sizeof(*v.touched));
        sx_log_stream_t *st;
        size_t ns;
        sx_logstore_select(ls, m, nm, v.start, v.end, &req->arena, &st, &ns);
        for (size_t i = 0; i < ns && !v.truncated; i++) {
            /* A target label must be present (Loki adds `name=~".+"`). */
            bool ok = true;
            for (size_t t = 0; targets && t < v.nnames && ok; t++) {
                bool has = false;
                for (uint32_t j = 0; j < st[i].nlabels && !has; j++)
                    has = sx_str_eq(st[i].labels[j].name, v.names[t]) && st[i].labels[j].value.len;
                ok = has;
            }
            if (!ok)
                continue;
            rc = vol_stream(&v, ls, &st[i]);
            if (rc == VOL_STOP)
                rc = 0;
            if (rc)
                break;
        }
    }
    if (e)
        sx_logql_expr_dispose(e);
    if (rc) {
        sx_api_loki_error(req, sx_api_loki_status(rc),
                          rc == SX_ETIMEOUT ? "query timed out" : sx_strerror(rc));
        return;
    }

    /* Fold each group's points per bucket, then keep each bucket's top
     * `limit` groups. */
    size_t nrows = 0;
    for (size_t g = 0; g < v.ngroups; g++)
        nrows += v.groups[g].npts;
    vol_row_t *rows = sx_arena_alloc(&req->arena, (nrows ? nrows : 1) * sizeof(*rows));
    size_t k = 0;
    for (size_t g = 0; g < v.ngroups; g++) {
        vol_group_t *gr = &v.groups[g];
        sort_n(gr->pts, gr->npts, sizeof(*gr->pts), cmp_pt);
        for (size_t i = 0; i < gr->npts; i++) {
            if (k && rows[k - 1].group == g && rows[k - 1].bucket == gr->pts[i].bucket)
                rows[k - 1].bytes += gr->pts[i].bytes;
            else
                rows[k++] = (vol_row_t){gr->pts[i].bucket, (uint32_t)g, gr->pts[i].bytes};
        }
    }
    nrows = k;
    qsort_r(rows, nrows, sizeof(*rows), cmp_row, v.groups);
    size_t *nkept = sx_arena_calloc(&req->arena, v.ngroups ? v.ngroups : 1, sizeof(size_t));
    for (size_t i = 0, run = 0; i < nrows; i++) {
        run = i && rows[i].bucket == rows[i - 1].bucket ? run + 1 : 0;
        if (run >= VOLUME_MAX_SERIES) {
            char *msg = sx_arena_sprintf(&req->arena,
                                         "the query hit the max number of series limit (limit: "
                                         "%d series)",
                                         VOLUME_MAX_SERIES);
            sx_api_loki_error(req, 400, msg);
            return;
        }
        if (run < limit)
            nkept[rows[i].group]++;
        else
            rows[i].bytes = UINT64_MAX; /* dropped */
    }
    vol_out_t *out = sx_arena_alloc(&req->arena, (v.ngroups ? v.ngroups : 1) * sizeof(*out));
    size_t nout = 0;
    uint32_t *slot = sx_arena_alloc(&req->arena, (v.ngroups ? v.ngroups : 1) * sizeof(*slot));
    bool matrix = false;
    for (size_t g = 0; g < v.ngroups; g++) {
        if (!nkept[g])
            continue;
        slot[g] = (uint32_t)nout;
        vol_out_t *o = &out[nout++];
        o->group = (uint32_t)g;
        o->s = (sx_promql_series_t){v.groups[g].labels, v.groups[g].nlabels, 0, NULL, NULL, NULL};
        o->s.t = sx_arena_alloc(&req->arena, nkept[g] * sizeof(int64_t));
        o->s.v = sx_arena_alloc(&req->arena, nkept[g] * sizeof(double));
        matrix |= nkept[g] > 1;
    }
    /* Rows are in bucket order, so each series' samples come in time order. */
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].bytes == UINT64_MAX)
            continue;
        sx_promql_series_t *s = &out[slot[rows[i].group]].s;
        s->t[s->n] = vol_bucket_ms(&v, rows[i].bucket);
        s->v[s->n++] = (double)rows[i].bytes;
    }
    qsort_r(out, nout, sizeof(*out), cmp_out, v.groups);
    sx_promql_result_t r = {0};
    r.type = matrix ? SX_PROMQL_MATRIX : SX_PROMQL_VECTOR;
    r.series = sx_arena_alloc(&req->arena, (nout ? nout : 1) * sizeof(*r.series));
    for (size_t i = 0; i < nout; i++)
        r.series[i] = out[i].s;
    r.nseries = nout;

    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"status\":\"success\",\"data\":{");
    sx_logql_opts_t o;
    logql_opts(ctx, &o);
    sx_api_promql_data(req, &r, r.nseries, o.parallelism);
    sx_buf_putc(b, '}');
    const char *warn = sx_arena_sprintf(&req->arena,
                                        "volume counted only the first %llu lines of the range; "
                                        "narrow the time range or the selector",
                                        (unsigned long long)VOLUME_MAX_LINES);
    put_warnings(b, &warn, v.truncated ? 1 : 0);
    sx_buf_putc(b, '}');
    sx_resp_set(req, 200, "application/json");
}

static void on_volume(sx_req_t *req, void *arg)
{
    volume(req, arg, false);
}

static void on_volume_range(sx_req_t *req, void *arg)
{
    volume(req, arg, true);
}

/* ---- detected_labels ---- */

/* Loki's DetectedLabels: every stream label of the selected streams with
 * the number of its distinct values, leaving out labels whose values all
 * look like IDs (numbers or UUIDs; one or two values of 0 and 1 count as a
 * boolean, not IDs), except cluster, namespace, instance and pod, which
 * are always kept. Loki estimates the cardinality with HyperLogLog; here
 * it is exact. */

typedef struct dl_label {
    sx_str_t name;
    uint64_t n;
    bool all_id, all_01;
} dl_label_t;

static int cmp_dl(const void *x, const void *y)
{
    return sx_str_cmp(((const dl_label_t *)x)->name, ((const dl_label_t *)y)->name);
}

static void on_detected_labels(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    int64_t start, end;
    sx_logql_expr_t *e;
    bool any;
    if (sx_api_loki_range(req, 3600 * NS_PER_SEC, &start, &end) ||
        selector_param(req, false, &e, &any))
        return;
    sx_logstore_t *ls = tenant_logs(ctx, req);
    strmap_t names;
    strmap_init(&names, &req->arena);
    u64set_t seen;
    u64set_init(&seen, &req->arena);
    dl_label_t *lab = NULL;
    size_t nlab = 0, cap = 0;
    if (ls) {
        sx_log_stream_t *st;
        size_t ns;
        sx_logstore_select(ls, e ? e->log.matchers : NULL, e ? e->log.nmatchers : 0, start, end,
                           &req->arena, &st, &ns);
        for (size_t i = 0; i < ns; i++)
            for (uint32_t j = 0; j < st[i].nlabels; j++) {
                const sx_label_t *l = &st[i].labels[j];
                uint32_t k;
                if (!strmap_find(&names, l->name, &k)) {
                    if (nlab == cap) {
                        size_t c = cap ? cap * 2 : 32;
                        lab = sx_arena_realloc(&req->arena, lab, cap * sizeof(*lab),
                                               c * sizeof(*lab));
                        cap = c;
                    }
                    k = (uint32_t)nlab++;
                    lab[k] = (dl_label_t){l->name, 0, true, true};
                    strmap_put(&names, l->name, k);
                }
                if (!u64set_add(&seen, sx_hash64_seed(l->value.ptr, l->value.len, k + 1)))
                    continue;
                lab[k].n++;
                lab[k].all_id &= go_is_float(l->value) || is_uuid(l->value);
                lab[k].all_01 &= sx_str_eq_cstr(l->value, "0") || sx_str_eq_cstr(l->value, "1");
            }
    }
    if (e)
        sx_logql_expr_dispose(e);
    sort_n(lab, nlab, sizeof(*lab), cmp_dl);
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"detectedLabels\":[");
    bool first = true;
    for (size_t i = 0; i < nlab; i++) {
        const dl_label_t *d = &lab[i];
        bool fixed = sx_str_eq_cstr(d->name, "cluster") || sx_str_eq_cstr(d->name, "namespace") ||
                     sx_str_eq_cstr(d->name, "instance") || sx_str_eq_cstr(d->name, "pod");
        bool reject = d->n == 0 || (d->n > 2 ? d->all_id : !d->all_01 && d->all_id);
        if (!fixed && reject)
            continue;
        if (!first)
            sx_buf_putc(b, ',');
        first = false;
        sx_buf_puts(b, "{\"label\":");
        sx_buf_json_str(b, d->name.ptr, d->name.len);
        sx_buf_printf(b, ",\"cardinality\":%llu}", (unsigned long long)d->n);
    }
    sx_buf_puts(b, "]}");
    sx_resp_set(req, 200, "application/json");
}

/* ---- detected_fields, detected_field/<name>/values ---- */

/* Loki's detected fields: the newest line_limit lines of the log query
 * (backward), and for each entry its structured metadata (no parser), the
 * labels the query's own parsers extracted, and what `| json` extracts
 * from the line or, when the line is not JSON, what `| logfmt` extracts
 * (that parser's name in "parsers"). A field's type is Loki's
 * determineType of its latest value; its cardinality is the number of
 * distinct values (exact here; Loki's is a HyperLogLog estimate). At most
 * `limit` fields are tracked, the first ones met. Fields are answered
 * sorted by name. Loki 3.5's jsonPath member is not produced. */

enum { P_JSON = 1, P_LOGFMT = 2 };

typedef struct df_field {
    sx_str_t name;
    const char *type;
    uint8_t parsers[2]; /* P_JSON / P_LOGFMT in the order first met */
    uint8_t nparsers;
    uint64_t card;
} df_field_t;

typedef struct df {
    sx_req_t *req;
    size_t limit;         /* fields tracked (or values kept) */
    sx_str_t only;        /* values mode: the field whose values are wanted */
    bool values_mode;
    df_field_t *f;
    size_t nf, cap;
    strmap_t fmap;
    u64set_t seen;        /* (field, value) pairs */
    sx_str_t *vals;       /* values mode */
    size_t nvals, vcap;
    strmap_t vmap;
    sx_lq_labels_t lb;
    sx_lq_logfmt_t logfmt;
    sx_label_t *base;     /* an entry's stream labels less the parsed ones */
    size_t base_cap;
} df_t;

static bool error_label(sx_str_t name)
{
    return sx_str_eq_cstr(name, SX_LQ_ERROR_LABEL) ||
           sx_str_eq_cstr(name, SX_LQ_ERROR_DETAILS_LABEL) ||
           sx_str_eq_cstr(name, "__preserve_error__");
}

/* The humanize.Bytes form Loki answers a bytes value in ("12kB"), when the
 * value is of type bytes and ends in one of Loki's byte unit suffixes;
 * otherwise the value itself. Loki also rewrites values that parse as bytes
 * but are of another type ("5m", a duration, becomes "5.0MB"); that is not
 * imitated. */
static sx_str_t df_value_form(sx_arena_t *a, sx_str_t v)
{
    uint64_t bytes;
    if (strcmp(field_type(v), "bytes") != 0 || !go_parse_bytes(v, &bytes))
        return v;
    size_t b = v.len;
    while (b && isspace((unsigned char)v.ptr[b - 1]))
        b--;
    if (!b || !isalpha((unsigned char)v.ptr[b - 1]))
        return v; /* no unit suffix: the allowed units all end in a letter */
    static const char *const sizes[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    uint64_t s = (uint64_t)bytes;
    if (s < 10)
        return sx_str(sx_arena_sprintf(a, "%lluB", (unsigned long long)s));
    int e = (int)floor(log((double)s) / log(1000.0));
    if (e > 6)
        e = 6;
    double val = floor((double)s / pow(1000.0, e) * 10 + 0.5) / 10;
    return sx_str(sx_arena_sprintf(a, val < 10 ? "%.1f%s" : "%.0f%s", val, sizes[e]));
}

static void df_value(df_t *d, sx_str_t name, sx_str_t value)
{
    if (!sx_str_eq(name, d->only) || d->nvals >= d->limit)
        return;
    sx_str_t v = df_value_form(&d->req->arena, value);
    uint32_t k;
    if (strmap_find(&d->vmap, v, &k))
        return;
    v = sx_arena_strdup_str(&d->req->arena, v);
    if (d->nvals == d->vcap) {
        size_t c = d->vcap ? d->vcap * 2 : 32;
        d->vals = sx_arena_realloc(&d->req->arena, d->vals, d->vcap * sizeof(*d->vals),
                                   c * sizeof(*d->vals));
        d->vcap = c;
    }
    d->vals[d->nvals] = v;
    strmap_put(&d->vmap, v, (uint32_t)d->nvals++);
}

/* Count one value of a field (parser 0: structured metadata or a field
 * the query parsed when the line parses as neither JSON nor logfmt). */
static void df_add(df_t *d, sx_str_t name, sx_str_t value, int parser)
{
    if (d->values_mode) {
        df_value(d, name, value);
        return;
    }
    uint32_t k;
    if (!strmap_find(&d->fmap, name, &k)) {
        if (d->nf >= d->limit)
            return;
        if (d->nf == d->cap) {
            size_t c = d->cap ? d->cap * 2 : 32;
            d->f = sx_arena_realloc(&d->req->arena, d->f, d->cap * sizeof(*d->f),
                                    c * sizeof(*d->f));
            d->cap = c;
        }
        k = (uint32_t)d->nf++;
        memset(&d->f[k], 0, sizeof(d->f[k]));
        d->f[k].name = sx_arena_strdup_str(&d->req->arena, name);
        strmap_put(&d->fmap, d->f[k].name, k);
    }
    df_field_t *f = &d->f[k];
    if (parser && !memchr(f->parsers, parser, f->nparsers))
        f->parsers[f->nparsers++] = (uint8_t)parser;
    f->type = field_type(value);
    if (u64set_add(&d->seen, sx_hash64_seed(value.ptr, value.len, (uint64_t)k + 1)))
        f->card++;
}

static void df_entry(df_t *d, const sx_logql_stream_t *s, const sx_logql_entry_t *e)
{
    for (uint32_t i = 0; i < e->nmeta; i++)
        df_add(d, e->meta[i].name, e->meta[i].value, 0);
    /* The stream labels without those the query's parsers set, so a key
     * the line repeats gets no _extracted suffix (Loki deletes them). */
    if (s->nstream > d->base_cap) {
        d->base_cap = s->nstream;
        d->base = sx_arena_alloc(&d->req->arena, d->base_cap * sizeof(*d->base));
    }
    sx_label_t *base = d->base;
    size_t nbase = 0;
    for (uint32_t i = 0; i < s->nstream; i++) {
        bool parsed = false;
        for (uint32_t j = 0; j < e->nparsed && !parsed; j++)
            parsed = sx_str_eq(e->parsed[j].name, s->stream[i].name);
        if (!parsed)
            base[nbase++] = s->stream[i];
    }
    sx_lq_labels_reset(&d->lb, base, nbase);
    int parser = P_JSON;
    sx_lq_json_flatten(e->line, &d->lb);
    if (sx_lq_labels_has_error(&d->lb)) {
        sx_lq_labels_reset(&d->lb, base, nbase);
        parser = P_LOGFMT;
        sx_lq_logfmt_process(&d->logfmt, e->line, &d->lb);
        if (sx_lq_labels_has_error(&d->lb))
            parser = 0;
    }
    for (uint32_t j = 0; j < e->nparsed; j++)
        if (!error_label(e->parsed[j].name))
            df_add(d, e->parsed[j].name, e->parsed[j].value, parser);
    if (!parser)
        return;
    for (uint32_t i = 0; i < d->lb.n; i++) {
        const sx_lq_label_t *l = &d->lb.v[i];
        if (l->cat == SX_LQ_PARSED && !error_label(l->name))
            df_add(d, l->name, l->value, parser);
    }
}

static int cmp_df(const void *x, const void *y)
{
    return sx_str_cmp(((const df_field_t *)x)->name, ((const df_field_t *)y)->name);
}

static int cmp_str(const void *x, const void *y)
{
    return sx_str_cmp(*(const sx_str_t *)x, *(const sx_str_t *)y);
}

static void detected_fields(sx_req_t *req, sx_api_ctx_t *ctx, sx_str_t only, bool values_mode)
{
    df_t d;
    memset(&d, 0, sizeof(d));
    d.req = req;
    d.only = only;
    d.values_mode = values_mode;
    int64_t start, end, step;
    uint64_t line_limit, limit;
    if (sx_api_loki_range(req, 3600 * NS_PER_SEC, &start, &end) ||
        uint_param(req, "line_limit", 100, false, &line_limit))
        return;
    const char *lim = sx_req_param(req, "limit");
    if (uint_param(req, lim && *lim ? "limit" : "field_limit", 1000, false, &limit) ||
        step_param(req, start, end, &step))
        return;
    if (line_limit > DF_MAX_LINE_LIMIT) {
        char *msg = sx_arena_sprintf(&req->arena,
                                     "max entries limit per query exceeded, limit > "
                                     "max_entries_limit (%llu > %d)",
                                     (unsigned long long)line_limit, DF_MAX_LINE_LIMIT);
        sx_api_loki_error(req, 400, msg);
        return;
    }
    d.limit = limit;
    sx_logql_expr_t *e = sx_api_loki_query_param(req, true);
    if (!e)
        return;
    sx_logql_result_t r;
    if (run_log_query(ctx, req, e, start, end, line_limit, &r))
        return;
    strmap_init(&d.fmap, &req->arena);
    strmap_init(&d.vmap, &req->arena);
    u64set_init(&d.seen, &req->arena);
    sx_lq_labels_init(&d.lb, &req->arena);
    sx_err_t err;
    sx_lq_logfmt_init(&d.logfmt, false, false, NULL, NULL, 0, &req->arena, &err);
    for (size_t i = 0; i < r.nstreams; i++)
        for (size_t k = 0; k < r.streams[i].n; k++)
            df_entry(&d, &r.streams[i], &r.streams[i].e[k]);
    sx_lq_labels_dispose(&d.lb);

    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    if (values_mode) {
        sort_n(d.vals, d.nvals, sizeof(*d.vals), cmp_str);
        sx_buf_puts(b, "{\"values\":[");
        for (size_t i = 0; i < d.nvals; i++) {
            if (i)
                sx_buf_putc(b, ',');
            sx_buf_json_str(b, d.vals[i].ptr, d.vals[i].len);
        }
        sx_buf_putc(b, ']');
        if (d.nvals)
            sx_buf_printf(b, ",\"limit\":%llu", (unsigned long long)limit);
        sx_buf_putc(b, '}');
    } else {
        sort_n(d.f, d.nf, sizeof(*d.f), cmp_df);
        sx_buf_puts(b, "{\"fields\":[");
        for (size_t i = 0; i < d.nf; i++) {
            const df_field_t *f = &d.f[i];
            if (i)
                sx_buf_putc(b, ',');
            sx_buf_puts(b, "{\"label\":");
            sx_buf_json_str(b, f->name.ptr, f->name.len);
            sx_buf_printf(b, ",\"type\":\"%s\",\"cardinality\":%llu,\"parsers\":", f->type,
                          (unsigned long long)f->card);
            if (!f->nparsers) {
                sx_buf_puts(b, "null");
            } else {
                sx_buf_putc(b, '[');
                for (uint8_t p = 0; p < f->nparsers; p++)
                    sx_buf_printf(b, "%s\"%s\"", p ? "," : "",
                                  f->parsers[p] == P_JSON ? "json" : "logfmt");
                sx_buf_putc(b, ']');
            }
            sx_buf_putc(b, '}');
        }
        sx_buf_putc(b, ']');
        if (d.nf)
            sx_buf_printf(b, ",\"limit\":%llu", (unsigned long long)limit);
        sx_buf_putc(b, '}');
    }
    sx_resp_set(req, 200, "application/json");
}

static void on_detected_fields(sx_req_t *req, void *arg)
{
    detected_fields(req, arg, SX_STR_NULL, false);
}

/* /loki/api/v1/detected_field/<name>/values (also under detected_fields/,
 * as Loki routes both). */
static void on_detected_field_values(sx_req_t *req, void *arg)
{
    const char *rest = req->path_rest ? req->path_rest : "";
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest || strcmp(slash, "/values") != 0) {
        sx_api_loki_error(req, 404, "404 page not found");
        return;
    }
    detected_fields(req, arg, (sx_str_t){rest, (size_t)(slash - rest)}, true);
}

/* ---- patterns ---- */

/* A simplified drain: each line is cut into tokens at blanks, and a token
 * `key=value` (key of letters, digits, '_', '.', '-') into `key=` and
 * `value`, glued. Lines with the same number of tokens, the same gluing
 * and the same first token (or both with a digit in it) form a group; a
 * line joins the cluster of its group that shares the most tokens with it
 * when at least half its tokens equal the cluster's (a cluster's `<_>`
 * counts as equal), and the positions that differ become `<_>`; otherwise
 * it starts a new cluster. Lines are taken stream by stream, oldest first,
 * so the answer depends only on the data. Counts are per step, stamped
 * with the step's start in seconds. Loki clusters per stream with its
 * drain and merges equal patterns; here all the selected streams are
 * clustered together. */

typedef struct ptok {
    sx_str_t s; /* s.ptr NULL in a template: <_> */
    bool glued; /* no blank before it */
} ptok_t;

typedef struct pat_pt {
    int64_t t; /* step start, s */
    uint64_t n;
} pat_pt_t;

typedef struct cluster {
    ptok_t *tok;
    uint32_t ntok;
    int32_t next;  /* next cluster of the same group, -1 */
    uint64_t total;
    pat_pt_t *pts;
    size_t npts, cap;
    sx_str_t text;
} cluster_t;

typedef struct pat {
    sx_arena_t *a;
    cluster_t *c;
    size_t nc, cap;
    uint64_t *gkey; /* group table: key -> first cluster */
    int32_t *ghead;
    size_t gcap, ng;
    int64_t step;
    uint64_t dropped;
} pat_t;

static bool has_digit(sx_str_t s)
{
    for (size_t i = 0; i < s.len; i++)
        if (is_digit(s.ptr[i]))
            return true;
    return false;
}

static bool key_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* Tokens of line into tok (at most max); returns their number, or max + 1
 * when there are more. */
static size_t tokenize(sx_str_t line, ptok_t *tok, size_t max)
{
    size_t n = 0, i = 0;
    while (i < line.len) {
        while (i < line.len && isspace((unsigned char)line.ptr[i]))
            i++;
        if (i == line.len)
            break;
        size_t w = i;
        while (i < line.len && !isspace((unsigned char)line.ptr[i]))
            i++;
        size_t eq = w;
        while (eq < i && key_char(line.ptr[eq]))
            eq++;
        if (eq > w && eq < i - 1 && line.ptr[eq] == '=') {
            if (n + 2 > max)
                return max + 1;
            tok[n++] = (ptok_t){{line.ptr + w, eq + 1 - w}, false};
            tok[n++] = (ptok_t){{line.ptr + eq + 1, i - eq - 1}, true};
        } else {
            if (n + 1 > max)
                return max + 1;
            tok[n++] = (ptok_t){{line.ptr + w, i - w}, false};
        }
    }
    return n;
}

static uint64_t group_key(const ptok_t *tok, size_t n)
{
    uint64_t h = sx_hash64(&n, sizeof(n));
    for (size_t i = 0; i < n; i++)
        if (tok[i].glued)
            h = sx_hash64_seed(&i, sizeof(i), h);
    if (n) {
        sx_str_t first = has_digit(tok[0].s) ? SX_STR_LIT("<*>") : tok[0].s;
        h = sx_hash64_seed(first.ptr, first.len, h);
    }
    return h ? h : 1;
}

static bool same_shape(const cluster_t *c, const ptok_t *tok, size_t n)
{
    if (c->ntok != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (c->tok[i].glued != tok[i].glued)
            return false;
    return true;
}

static size_t group_slot(const pat_t *p, uint64_t key)
{
    size_t i = (size_t)key & (p->gcap - 1);
    while (p->gkey[i] && p->gkey[i] != key)
        i = (i + 1) & (p->gcap - 1);
    return i;
}

static void pat_count(pat_t *p, cluster_t *c, int64_t ts)
{
    int64_t t = ts - ts % p->step;
    if (ts < 0 && ts % p->step)
        t -= p->step;
    t /= NS_PER_SEC;
    c->total++;
    if (c->npts && c->pts[c->npts - 1].t == t) {
        c->pts[c->npts - 1].n++;
        return;
    }
    if (c->npts == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        c->pts = sx_arena_realloc(p->a, c->pts, c->cap * sizeof(*c->pts), cap * sizeof(*c->pts));
        c->cap = cap;
    }
    c->pts[c->npts++] = (pat_pt_t){t, 1};
}

static void pat_line(pat_t *p, sx_str_t line, int64_t ts)
{
    ptok_t tok[PATTERN_MAX_TOKENS];
    if (line.len > PATTERN_MAX_LINE_LEN)
        return;
    size_t n = tokenize(line, tok, PATTERN_MAX_TOKENS);
    if (n > PATTERN_MAX_TOKENS)
        return;
    uint64_t key = group_key(tok, n);
    if ((p->ng + 1) * 2 > p->gcap) {
        size_t cap = p->gcap * 2;
        uint64_t *gk = sx_arena_calloc(p->a, cap, sizeof(*gk));
        int32_t *gh = sx_arena_alloc(p->a, cap * sizeof(*gh));
        for (size_t i = 0; i < p->gcap; i++)
            if (p->gkey[i]) {
                size_t s = (size_t)p->gkey[i] & (cap - 1);
                while (gk[s])
                    s = (s + 1) & (cap - 1);
                gk[s] = p->gkey[i];
                gh[s] = p->ghead[i];
            }
        p->gkey = gk;
        p->ghead = gh;
        p->gcap = cap;
    }
    size_t g = group_slot(p, key);
    int32_t best = -1;
    size_t best_sim = 0, best_eq = 0;
    if (p->gkey[g]) {
        for (int32_t ci = p->ghead[g]; ci >= 0; ci = p->c[ci].next) {
            const cluster_t *c = &p->c[ci];
            if (!same_shape(c, tok, n))
                continue;
            size_t eq = 0, wild = 0;
            for (size_t i = 0; i < n; i++) {
                if (!c->tok[i].s.ptr)
                    wild++;
                else if (sx_str_eq(c->tok[i].s, tok[i].s))
                    eq++;
            }
            size_t sim = eq + wild;
            if (sim * 2 >= n && (best < 0 || sim > best_sim || (sim == best_sim && eq > best_eq))) {
                best = ci;
                best_sim = sim;
                best_eq = eq;
            }
        }
    }
    if (best >= 0) {
        cluster_t *c = &p->c[best];
        for (size_t i = 0; i < n; i++)
            if (c->tok[i].s.ptr && !sx_str_eq(c->tok[i].s, tok[i].s))
                c->tok[i].s = SX_STR_NULL;
        pat_count(p, c, ts);
        return;
    }
    if (p->nc >= PATTERN_MAX_CLUSTERS) {
        p->dropped++;
        return;
    }
    if (p->nc == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        p->c = sx_arena_realloc(p->a, p->c, p->cap * sizeof(*p->c), cap * sizeof(*p->c));
        p->cap = cap;
    }
    cluster_t *c = &p->c[p->nc];
    memset(c, 0, sizeof(*c));
    c->ntok = (uint32_t)n;
    c->tok = sx_arena_alloc(p->a, (n ? n : 1) * sizeof(*c->tok));
    memcpy(c->tok, tok, n * sizeof(*tok));
    if (p->gkey[g]) {
        c->next = p->ghead[g];
    } else {
        c->next = -1;
        p->gkey[g] = key;
        p->ng++;
    }
    p->ghead[g] = (int32_t)p->nc++;
    pat_count(p, c, ts);
}

/* The cluster's pattern: tokens with their blanks, `<_>` for the varying
 * ones, glued wildcards folded into one (a valid `|>` pattern). */
static sx_str_t pattern_text(sx_arena_t *a, const cluster_t *c)
{
    sx_buf_t b = SX_BUF_INIT;
    bool prev_wild = false;
    for (uint32_t i = 0; i < c->ntok; i++) {
        bool wild = !c->tok[i].s.ptr;
        if (wild && prev_wild && c->tok[i].glued)
            continue;
        if (i && !c->tok[i].glued)
            sx_buf_putc(&b, ' ');
        if (wild)
            sx_buf_puts(&b, "<_>");
        else
            sx_buf_append_str(&b, c->tok[i].s);
        prev_wild = wild;
    }
    sx_str_t s = sx_arena_strdup_str(a, (sx_str_t){b.ptr ? b.ptr : "", b.len});
    sx_buf_dispose(&b);
    return s;
}

static int cmp_pat_pt(const void *x, const void *y)
{
    const pat_pt_t *a = x, *b = y;
    return a->t < b->t ? -1 : a->t > b->t;
}

static int cmp_cluster(const void *x, const void *y)
{
    const cluster_t *a = x, *b = y;
    if (a->total != b->total)
        return a->total > b->total ? -1 : 1;
    return sx_str_cmp(a->text, b->text);
}

/* Render each cluster's pattern, fold its samples into one per step in
 * time order, and order the clusters: most lines first, then by pattern. */
static void pat_finish(pat_t *p)
{
    for (size_t i = 0; i < p->nc; i++) {
        cluster_t *c = &p->c[i];
        c->text = pattern_text(p->a, c);
        sort_n(c->pts, c->npts, sizeof(*c->pts), cmp_pat_pt);
        size_t k = 0;
        for (size_t j = 0; j < c->npts; j++) {
            if (k && c->pts[k - 1].t == c->pts[j].t)
                c->pts[k - 1].n += c->pts[j].n;
            else
                c->pts[k++] = c->pts[j];
        }
        c->npts = k;
    }
    sort_n(p->c, p->nc, sizeof(*p->c), cmp_cluster);
}

static void on_patterns(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    int64_t start, end, step;
    if (sx_api_loki_range(req, 3600 * NS_PER_SEC, &start, &end) ||
        step_param(req, start, end, &step))
        return;
    sx_logql_expr_t *e = sx_api_loki_query_param(req, true);
    if (!e)
        return;
    sx_logql_result_t r;
    if (run_log_query(ctx, req, e, start, end, PATTERN_MAX_LINES, &r))
        return;
    pat_t p;
    memset(&p, 0, sizeof(p));
    p.a = &req->arena;
    p.step = step;
    p.gcap = 64;
    p.gkey = sx_arena_calloc(p.a, p.gcap, sizeof(*p.gkey));
    p.ghead = sx_arena_alloc(p.a, p.gcap * sizeof(*p.ghead));
    size_t lines = 0;
    for (size_t i = 0; i < r.nstreams; i++) {
        const sx_logql_stream_t *s = &r.streams[i];
        lines += s->n;
        for (size_t k = s->n; k-- > 0;) /* entries are newest first */
            pat_line(&p, s->e[k].line, s->e[k].ts);
    }
    pat_finish(&p);
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < p.nc; i++) {
        const cluster_t *c = &p.c[i];
        if (i)
            sx_buf_putc(b, ',');
        sx_buf_puts(b, "{\"pattern\":");
        sx_buf_json_str(b, c->text.ptr, c->text.len);
        sx_buf_puts(b, ",\"samples\":[");
        for (size_t j = 0; j < c->npts; j++)
            sx_buf_printf(b, "%s[%lld,%llu]", j ? "," : "", (long long)c->pts[j].t,
                          (unsigned long long)c->pts[j].n);
        sx_buf_puts(b, "]}");
    }
    sx_buf_putc(b, ']');
    const char *warn[2];
    size_t nw = 0;
    if (lines >= PATTERN_MAX_LINES)
        warn[nw++] = sx_arena_sprintf(&req->arena,
                                      "patterns were mined from the newest %d lines of the range "
                                      "only",
                                      PATTERN_MAX_LINES);
    if (p.dropped)
        warn[nw++] = sx_arena_sprintf(&req->arena,
                                      "%llu lines fit none of the first %d patterns and were not "
                                      "counted",
                                      (unsigned long long)p.dropped, PATTERN_MAX_CLUSTERS);
    put_warnings(b, warn, nw);
    sx_buf_putc(b, '}');
    sx_resp_set(req, 200, "application/json");
}

/* ---- Routes ---- */

static const sx_route_t routes[] = {
    {NULL, "/loki/api/v1/index/volume", on_volume, 0, 0},
    {NULL, "/loki/api/v1/index/volume_range", on_volume_range, 0, 0},
    {NULL, "/loki/api/v1/detected_labels", on_detected_labels, 0, 0},
    {NULL, "/loki/api/v1/detected_fields", on_detected_fields, 0, 0},
    {NULL, "/loki/api/v1/detected_field/", on_detected_field_values, SX_ROUTE_PREFIX, 0},
    {NULL, "/loki/api/v1/detected_fields/", on_detected_field_values, SX_ROUTE_PREFIX, 0},
    {NULL, "/loki/api/v1/patterns", on_patterns, 0, 0},
};

void sx_api_loki_explore_register(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_http_add_routes(h, routes, sizeof(routes) / sizeof(routes[0]), ctx);
}
