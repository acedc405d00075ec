/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus HTTP API, metadata side: series, labels, label values,
 * metadata, build information and exemplars, under both /prometheus/api/v1/
 * and /api/v1/, GET and form POST. Handlers parse parameters, ask the
 * tenant's metric store and write the answer in Prometheus' exact JSON.
 * Readers never create a store: a tenant that has written nothing gets
 * empty answers. Everything a request builds lives in its arena, except
 * compiled matchers, which are released before the handler returns. */
#include "api.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/time.h"

static const char truncated_warning[] = "results truncated due to limit";

/* ---- Parameters ---- */

void sx_api_matches_dispose(sx_api_match_t *sets, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sx_selector_dispose(sets[i].m, sets[i].n);
}

int sx_api_matches_parse(sx_req_t *req, sx_api_match_t **out, size_t *nout)
{
    sx_str_t *vals;
    size_t n = sx_req_params(req, "match[]", &vals);
    sx_api_match_t *sets = sx_arena_calloc(&req->arena, n ? n : 1, sizeof(*sets));
    for (size_t i = 0; i < n; i++) {
        sx_err_t err;
        sx_err_clear(&err);
        int rc = sx_selector_parse(vals[i], &req->arena, &sets[i].m, &sets[i].n, &err);
        if (rc) {
            sx_api_matches_dispose(sets, i);
            char *msg = sx_arena_sprintf(&req->arena, "invalid parameter \"match[]\": %s",
                                         err.msg[0] ? err.msg : sx_strerror(rc));
            sx_api_prom_error(req, SX_EPARSE, msg);
            return -1;
        }
    }
    *out = sets;
    *nout = n;
    return 0;
}

/* Go's strconv.Atoi: optional sign, decimal digits, nothing else. Returns
 * NULL or the error text Go would give. */
static const char *parse_int(const char *s, long long *v)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (!*p)
        return "invalid syntax";
    unsigned long long x = 0;
    bool range = false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return "invalid syntax";
        if (x > (ULLONG_MAX - 9) / 10)
            range = true;
        else
            x = x * 10 + (unsigned)(*p - '0');
    }
    if (range || x > (unsigned long long)LLONG_MAX + neg)
        return "value out of range";
    *v = neg ? (long long)(0 - x) : (long long)x;
    return NULL;
}

/* Prometheus' limit parameter of series, labels and label values: absent
 * or 0 = no limit, negative is an error. Answers and returns -1 on error. */
static int parse_limit(sx_req_t *req, size_t *limit)
{
    const char *s = sx_req_param(req, "limit");
    long long v = 0;
    *limit = 0;
    if (!s || !*s)
        return 0;
    const char *why = parse_int(s, &v);
    if (why || v < 0) {
        const char *msg = "invalid parameter \"limit\": limit must be non-negative";
        if (why)
            msg = sx_arena_sprintf(&req->arena,
                                   "invalid parameter \"limit\": "
                                   "strconv.Atoi: parsing \"%.200s\": %s",
                                   s, why);
        sx_api_prom_error(req, SX_EPARSE, msg);
        return -1;
    }
    *limit = (size_t)v;
    return 0;
}

/* ---- Answers ---- */

static void put_string_array(sx_buf_t *b, const sx_str_t *v, size_t n)
{
    sx_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sx_buf_putc(b, ',');
        sx_buf_json_str(b, v[i].ptr, v[i].len);
    }
    sx_buf_putc(b, ']');
}

void sx_api_put_labelset(sx_buf_t *b, const sx_label_t *l, uint32_t n)
{
    sx_buf_putc(b, '{');
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            sx_buf_putc(b, ',');
        sx_buf_json_str(b, l[i].name.ptr, l[i].name.len);
        sx_buf_putc(b, ':');
        sx_buf_json_str(b, l[i].value.ptr, l[i].value.len);
    }
    sx_buf_putc(b, '}');
}

/* Close a success answer begun with sx_api_prom_success_begin, with the
 * warnings key Prometheus adds when a limit cut the result. */
static void finish(sx_req_t *req, bool truncated)
{
    if (truncated) {
        sx_buf_puts(&req->out, ",\"warnings\":[");
        sx_buf_json_str(&req->out, truncated_warning, sizeof(truncated_warning) - 1);
        sx_buf_putc(&req->out, ']');
    }
    sx_api_prom_success_end(req);
}

static void answer_strings(sx_req_t *req, const sx_str_t *v, size_t n, size_t limit)
{
    bool truncated = limit && n > limit;
    sx_api_prom_success_begin(req);
    put_string_array(&req->out, v, truncated ? limit : n);
    finish(req, truncated);
}

static void answer_storage_error(sx_req_t *req, int rc)
{
    sx_api_prom_error(req, rc, NULL);
}

/* ---- Sorted sets ---- */

/* Union of two sorted, duplicate-free string arrays, sorted and
 * duplicate-free, in the arena (the inputs are not modified). */
static sx_str_t *merge_sorted(sx_arena_t *a, const sx_str_t *x, size_t nx, const sx_str_t *y,
                              size_t ny, size_t *nout)
{
    sx_str_t *o = sx_arena_alloc(a, (nx + ny ? nx + ny : 1) * sizeof(*o));
    size_t i = 0, j = 0, k = 0;
    while (i < nx || j < ny) {
        int c = i == nx ? 1 : j == ny ? -1 : sx_str_cmp(x[i], y[j]);
        if (c <= 0)
            o[k++] = x[i++];
        else
            o[k++] = y[j++];
        if (c == 0)
            j++;
    }
    *nout = k;
    return o;
}

/* Prometheus' labels.Compare: label by label, name then value, and a
 * shorter set first on a common prefix. */
static int labels_cmp(const sx_label_t *a, uint32_t na, const sx_label_t *b, uint32_t nb)
{
    uint32_t n = na < nb ? na : nb;
    for (uint32_t i = 0; i < n; i++) {
        int c = sx_str_cmp(a[i].name, b[i].name);
        if (c)
            return c;
        if ((c = sx_str_cmp(a[i].value, b[i].value)))
            return c;
    }
    return na < nb ? -1 : na > nb;
}

static int cmp_ref_id(const void *a, const void *b)
{
    uint32_t x = ((const sx_api_series_t *)a)->id, y = ((const sx_api_series_t *)b)->id;
    return x < y ? -1 : x > y;
}

static int cmp_ref_labels(const void *a, const void *b)
{
    const sx_api_series_t *x = a, *y = b;
    return labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
}

/* With several selectors the ids are deduplicated first, so that each
 * series' labels are read once, and then sorted by label set. */
int sx_api_series_select(sx_tsdb_t *db, const sx_api_match_t *sets, size_t nsets, int64_t mint,
                         int64_t maxt, size_t max, sx_arena_t *a, sx_api_series_t **out,
                         size_t *nout, bool *more)
{
    sx_series_set_t *ss = sx_arena_calloc(a, nsets ? nsets : 1, sizeof(*ss));
    size_t total = 0;
    for (size_t i = 0; i < nsets; i++) {
        int rc = sx_tsdb_select(db, sets[i].m, sets[i].n, mint, maxt, a, &ss[i]);
        if (rc)
            return rc;
        total += ss[i].n;
    }
    sx_api_series_t *refs = sx_arena_calloc(a, total ? total : 1, sizeof(*refs));
    size_t n = 0;
    for (size_t i = 0; i < nsets; i++)
        for (size_t j = 0; j < ss[i].n; j++)
            refs[n++].id = ss[i].ids[j];
    /* One selector: the store's order is already the label order, so only
     * the series that will be shown need their labels read. */
    size_t want = n;
    if (nsets > 1) {
        qsort(refs, n, sizeof(*refs), cmp_ref_id);
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
            if (u == 0 || refs[u - 1].id != refs[i].id)
                refs[u++] = refs[i];
        n = want = u;
    } else if (max && n > max) {
        want = max;
    }
    for (size_t i = 0; i < want; i++) {
        int rc = sx_tsdb_series_labels(db, refs[i].id, a, &refs[i].labels, &refs[i].nlabels);
        if (rc)
            return rc;
    }
    if (nsets > 1)
        qsort(refs, n, sizeof(*refs), cmp_ref_labels);
    *more = max && n > max;
    *out = refs;
    *nout = *more ? max : n;
    return 0;
}

/* ---- Handlers ---- */

/* GET|POST series: match[] (at least one), start, end, limit. */
static void on_series(sx_req_t *req, void *ctx_)
{
    sx_api_ctx_t *ctx = ctx_;
    sx_str_t *vals;
    if (sx_req_params(req, "match[]", &vals) == 0) {
        sx_api_prom_error(req, SX_EPARSE, "no match[] parameter provided");
        return;
    }
    int64_t mint, maxt;
    size_t limit, nsets;
    sx_api_match_t *sets;
    if (sx_api_time_range(req, &mint, &maxt) || parse_limit(req, &limit) ||
        sx_api_matches_parse(req, &sets, &nsets))
        return;
    sx_api_series_t *refs = NULL;
    size_t n = 0;
    bool more = false;
    sx_tsdb_t *db = sx_storage_tsdb_peek(ctx->storage, req->tenant);
    int rc = db ? sx_api_series_select(db, sets, nsets, mint, maxt, limit, &req->arena, &refs, &n,
                                       &more)
                 : 0;
    sx_api_matches_dispose(sets, nsets);
    if (rc) {
        answer_storage_error(req, rc);
        return;
    }
    sx_api_prom_success_begin(req);
    sx_buf_putc(&req->out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sx_buf_putc(&req->out, ',');
        sx_api_put_labelset(&req->out, refs[i].labels, refs[i].nlabels);
    }
    sx_buf_putc(&req->out, ']');
    finish(req, more);
}

/* Label names (name.len == 0) or the values of one label over the series
 * matching any of the sets (all series when there is none): the union of
 * the store's answer for each set. Returns 0 or a storage error code. */
static int label_union(sx_tsdb_t *db, sx_str_t name, const sx_api_match_t *sets, size_t nsets,
                       int64_t mint, int64_t maxt, sx_arena_t *a, sx_str_t **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    size_t rounds = nsets ? nsets : 1;
    for (size_t i = 0; i < rounds; i++) {
        const sx_matcher_t *m = nsets ? sets[i].m : NULL;
        size_t nm = nsets ? sets[i].n : 0;
        sx_str_t *v;
        size_t nv;
        int rc = name.len ? sx_tsdb_label_values(db, name, m, nm, mint, maxt, a, &v, &nv)
                          : sx_tsdb_label_names(db, m, nm, mint, maxt, a, &v, &nv);
        if (rc)
            return rc;
        if (i == 0) {
            *out = v;
            *nout = nv;
        } else {
            *out = merge_sorted(a, *out, *nout, v, nv, nout);
        }
    }
    return 0;
}

/* Shared body of labels and label values. */
static void answer_labels(sx_req_t *req, sx_api_ctx_t *ctx, sx_str_t name)
{
    int64_t mint, maxt;
    size_t limit, nsets;
    sx_api_match_t *sets;
    if (sx_api_time_range(req, &mint, &maxt) || parse_limit(req, &limit) ||
        sx_api_matches_parse(req, &sets, &nsets))
        return;
    sx_str_t *v = NULL;
    size_t n = 0;
    sx_tsdb_t *db = sx_storage_tsdb_peek(ctx->storage, req->tenant);
    int rc = db ? label_union(db, name, sets, nsets, mint, maxt, &req->arena, &v, &n) : 0;
    sx_api_matches_dispose(sets, nsets);
    if (rc) {
        answer_storage_error(req, rc);
        return;
    }
    answer_strings(req, v, n, limit);
}

/* GET|POST labels: optional match[], start, end, limit. */
static void on_labels(sx_req_t *req, void *ctx)
{
    answer_labels(req, ctx, SX_STR_NULL);
}

/* Split "<name>/values" (the rest of a .../label/ path). Returns false for
 * any other shape. */
static bool label_values_path(const char *rest, sx_str_t *name)
{
    static const char suffix[] = "/values";
    size_t n = strlen(rest), sl = sizeof(suffix) - 1;
    if (n <= sl || strcmp(rest + n - sl, suffix) != 0)
        return false;
    if (memchr(rest, '/', n - sl))
        return false;
    *name = (sx_str_t){rest, n - sl};
    return true;
}

/* GET|POST label/<name>/values: optional match[], start, end, limit. */
static void on_label_values(sx_req_t *req, void *ctx)
{
    sx_str_t name;
    if (!label_values_path(req->path_rest ? req->path_rest : "", &name)) {
        sx_api_prom_error(req, SX_ENOTFOUND, "page not found");
        return;
    }
    if (!sx_label_name_valid(name)) {
        sx_buf_t q = SX_BUF_INIT;
        sx_buf_json_str(&q, name.ptr, name.len);
        char *msg = sx_arena_sprintf(&req->arena, "invalid label name: %.*s", (int)q.len, q.ptr);
        sx_buf_dispose(&q);
        sx_api_prom_error(req, SX_EPARSE, msg);
        return;
    }
    answer_labels(req, ctx, name);
}

static const char *metric_type_name(int t)
{
    switch (t) {
    case SX_MT_COUNTER: return "counter";
    case SX_MT_GAUGE: return "gauge";
    case SX_MT_HISTOGRAM: return "histogram";
    case SX_MT_GAUGEHISTOGRAM: return "gaugehistogram";
    case SX_MT_SUMMARY: return "summary";
    case SX_MT_INFO: return "info";
    case SX_MT_STATESET: return "stateset";
    default: return "unknown";
    }
}

static int cmp_meta(const void *a, const void *b)
{
    const sx_metric_meta_t *x = a, *y = b;
    int c = sx_str_cmp(x->metric, y->metric);
    if (!c)
        c = x->type - y->type;
    if (!c)
        c = sx_str_cmp(x->help, y->help);
    if (!c)
        c = sx_str_cmp(x->unit, y->unit);
    return c;
}

/* limit and limit_per_metric of metadata: absent = -1 (no limit), as in
 * Prometheus, where limit=0 answers an empty object. */
static int parse_meta_limit(sx_req_t *req, const char *param, long long *v)
{
    const char *s = sx_req_param(req, param);
    *v = -1;
    if (!s || !*s)
        return 0;
    if (parse_int(s, v)) {
        char *msg = sx_arena_sprintf(&req->arena, "%s must be a number", param);
        sx_api_prom_error(req, SX_EPARSE, msg);
        return -1;
    }
    return 0;
}

/* GET|POST metadata: limit, limit_per_metric, metric. The answer is an
 * object from family name to its distinct metadata entries, keys sorted
 * (Go marshals maps that way). */
static void on_metadata(sx_req_t *req, void *ctx_)
{
    sx_api_ctx_t *ctx = ctx_;
    long long limit, per_metric;
    if (parse_meta_limit(req, "limit", &limit) ||
        parse_meta_limit(req, "limit_per_metric", &per_metric))
        return;
    const char *metric = sx_req_param(req, "metric");
    sx_metric_meta_t *meta = NULL;
    size_t n = 0;
    sx_tsdb_t *db = sx_storage_tsdb_peek(ctx->storage, req->tenant);
    if (db && limit != 0) {
        int rc = sx_tsdb_metadata(db, sx_str(metric ? metric : ""), 0, &req->arena, &meta, &n);
        if (rc) {
            answer_storage_error(req, rc);
            return;
        }
    }
    if (n)
        qsort(meta, n, sizeof(*meta), cmp_meta);
    sx_api_prom_success_begin(req);
    sx_buf_putc(&req->out, '{');
    long long families = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && sx_str_eq(meta[j].metric, meta[i].metric))
            j++;
        if (limit >= 0 && families >= limit)
            break;
        if (families++)
            sx_buf_putc(&req->out, ',');
        sx_buf_json_str(&req->out, meta[i].metric.ptr, meta[i].metric.len);
        sx_buf_puts(&req->out, ":[");
        long long shown = 0;
        for (size_t k = i; k < j; k++) {
            if (k > i && cmp_meta(&meta[k - 1], &meta[k]) == 0)
                continue;
            if (per_metric > 0 && shown >= per_metric)
                break;
            if (shown++)
                sx_buf_putc(&req->out, ',');
            sx_buf_puts(&req->out, "{\"type\":\"");
            sx_buf_puts(&req->out, metric_type_name(meta[k].type));
            sx_buf_puts(&req->out, "\",\"help\":");
            sx_buf_json_str(&req->out, meta[k].help.ptr, meta[k].help.len);
            sx_buf_puts(&req->out, ",\"unit\":");
            sx_buf_json_str(&req->out, meta[k].unit.ptr, meta[k].unit.len);
            sx_buf_putc(&req->out, '}');
        }
        sx_buf_putc(&req->out, ']');
        i = j;
    }
    sx_buf_putc(&req->out, '}');
    sx_api_prom_success_end(req);
}

#ifndef SX_BUILD_DATE
#define SX_BUILD_DATE "unknown"
#endif
#ifndef SX_BRANCH
#define SX_BRANCH "unknown"
#endif

/* GET status/buildinfo: the fields Prometheus lists, with Sextant's own
 * values; goVersion names the C compiler instead. */
static void on_buildinfo(sx_req_t *req, void *ctx)
{
    static const struct {
        const char *key, *value;
    } fields[] = {
        {"version", SX_VERSION},     {"revision", SX_REVISION}, {"branch", SX_BRANCH},
        {"buildUser", "sextant"},    {"buildDate", SX_BUILD_DATE},
        {"goVersion", "none (C17, " __VERSION__ ")"},
    };
    sx_api_prom_success_begin(req);
    sx_buf_putc(&req->out, '{');
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (i)
            sx_buf_putc(&req->out, ',');
        sx_buf_json_str(&req->out, fields[i].key, strlen(fields[i].key));
        sx_buf_putc(&req->out, ':');
        sx_buf_json_str(&req->out, fields[i].value, strlen(fields[i].value));
    }
    sx_buf_putc(&req->out, '}');
    sx_api_prom_success_end(req);
}

/* GET|POST query_exemplars: Sextant keeps no exemplars, so after the
 * parameters are checked the answer is always an empty list. */
static void on_query_exemplars(sx_req_t *req, void *ctx)
{
    int64_t mint, maxt;
    if (sx_api_time_range(req, &mint, &maxt))
        return;
    const char *q = sx_req_param(req, "query");
    if (!q || !*q) {
        sx_api_prom_error(req, SX_EPARSE,
                          "invalid parameter \"query\": no expression found in input");
        return;
    }
    sx_api_prom_success_begin(req);
    sx_buf_puts(&req->out, "[]");
    sx_api_prom_success_end(req);
}

/* ---- Routes ---- */

#define PROM_ROUTE(prefix, path, fn, flags)                                                        \
    {"GET", prefix path, fn, flags, 0}, {"POST", prefix path, fn, flags, 0}

#define PROM_ROUTES(prefix)                                                                        \
    PROM_ROUTE(prefix, "series", on_series, 0),                                                    \
    PROM_ROUTE(prefix, "labels", on_labels, 0),                                                    \
    PROM_ROUTE(prefix, "label/", on_label_values, SX_ROUTE_PREFIX),                                \
    PROM_ROUTE(prefix, "metadata", on_metadata, 0),                                                \
    PROM_ROUTE(prefix, "status/buildinfo", on_buildinfo, 0),                                       \
    PROM_ROUTE(prefix, "query_exemplars", on_query_exemplars, 0)

static const sx_route_t routes[] = {
    PROM_ROUTES("/prometheus/api/v1/"),
    PROM_ROUTES("/api/v1/"),
};

void sx_api_prometheus_register(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_http_add_routes(h, routes, sizeof(routes) / sizeof(routes[0]), ctx);
}
