/* SPDX-License-Identifier: Apache-2.0 */
/* Loki HTTP API: push (protobuf + snappy, JSON, gzip), query and
 * query_range with LogQL, labels, label values, series, index/stats and
 * format_query, under /loki/api/v1/. Kubernetes events and audit events
 * are received here too (their own log stores). Loki answers errors as
 * plain text with the status; successes in its JSON shapes. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/log.h"
#include "../core/time.h"
#include "../http/body.h"
#include "../ingest/log_ingest.h"
#include "loki.h"

/* ---- Answers ---- */

void sx_api_loki_error(sx_req_t *req, int status, const char *msg)
{
    sx_buf_clear(&req->out);
    sx_buf_puts(&req->out, msg && *msg ? msg : "error");
    sx_buf_putc(&req->out, '\n');
    sx_resp_set(req, status, "text/plain; charset=utf-8");
}

int sx_api_loki_status(int rc)
{
    switch (rc) {
    case SX_EPARSE:
    case SX_EINVAL:
    case SX_EBADLABEL:
        return 400;
    case SX_ETOOLARGE:
        return 413;
    case SX_ELIMIT:
    case SX_EEXEC:
        return 400;
    case SX_ETIMEOUT:
        return 504;
    case SX_ENOSPC:
    case SX_EUNAVAIL:
        return 503;
    default:
        return sx_err_http_status(rc);
    }
}

/* ---- Time parameters, as Loki reads them ---- */

/* Loki's timestamp forms: a number with a '.' is float seconds; an
 * integer of at most 10 digits is seconds, a longer one nanoseconds;
 * anything else RFC 3339 (with fractional seconds). */
int sx_api_loki_parse_time(const char *v, int64_t *ns, sx_err_t *err)
{
    sx_str_t s = sx_str(v);
    if (strchr(v, '.') && !strchr(v, 'T')) {
        char *end;
        double f = strtod(v, &end);
        if (*end == 0 && end != v) {
            double sec = f < 0 ? -(double)(int64_t)(-f) : (double)(int64_t)f;
            double frac = f - sec;
            frac = (double)(int64_t)(frac * 1000 + (frac >= 0 ? 0.5 : -0.5)) / 1000;
            *ns = (int64_t)sec * 1000000000LL + (int64_t)(frac * 1e9);
            return 0;
        }
    }
    const char *p = v;
    if (*p == '-' || *p == '+')
        p++;
    size_t digits = 0;
    while (p[digits] >= '0' && p[digits] <= '9')
        digits++;
    if (digits && p[digits] == 0 && digits <= 19) {
        long long x = strtoll(v, NULL, 10);
        *ns = s.len <= 10 ? (int64_t)x * 1000000000LL : (int64_t)x;
        return 0;
    }
    if (sx_timestamp_parse_ns(s, ns, err) == 0 && strchr(v, 'T'))
        return 0;
    return sx_err_set(err, SX_EPARSE, "cannot parse \"%s\" as a timestamp", v);
}

static int time_param(sx_req_t *req, const char *name, int64_t def, int64_t *out)
{
    const char *v = sx_req_param(req, name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    sx_err_t err;
    if (sx_api_loki_parse_time(v, out, &err)) {
        char *msg = sx_arena_sprintf(&req->arena, "invalid %s: %s", name, err.msg);
        sx_api_loki_error(req, 400, msg);
        return -1;
    }
    return 0;
}

/* A duration as Loki reads step/since/interval: Prometheus duration or
 * float seconds. */
int sx_api_loki_duration(sx_req_t *req, const char *name, int64_t *ns, bool *set)
{
    const char *v = sx_req_param(req, name);
    *set = false;
    if (!v || !*v)
        return 0;
    char *end;
    double f = strtod(v, &end);
    if (*end == 0 && end != v) {
        *ns = (int64_t)(f * 1e9);
    } else {
        int64_t ms;
        sx_err_t err;
        if (sx_duration_parse(sx_str(v), &ms, &err)) {
            char *msg = sx_arena_sprintf(&req->arena, "invalid %s: %s", name, err.msg);
            sx_api_loki_error(req, 400, msg);
            return -1;
        }
        *ns = ms * 1000000LL;
    }
    *set = true;
    return 0;
}

/* start/end/since with Loki's defaults: end = now, start = end - def
 * (or end - since). */
int sx_api_loki_range(sx_req_t *req, int64_t def_ns, int64_t *start, int64_t *end)
{
    int64_t now = sx_now_ns();
    int64_t since;
    bool have_since;
    if (time_param(req, "end", now, end) || sx_api_loki_duration(req, "since", &since, &have_since))
        return -1;
    if (time_param(req, "start", *end - (have_since ? since : def_ns), start))
        return -1;
    if (*end < *start) {
        sx_api_loki_error(req, 400, "end timestamp must not be before or equal to start time");
        return -1;
    }
    return 0;
}

/* ---- Push ---- */

static bool is_json(const char *ct)
{
    return ct && strncasecmp(ct, "application/json", 16) == 0;
}

/* Decompress per Content-Encoding, then (protobuf) the snappy block Loki
 * clients always send. Returns the plain body or NULL after answering. */
static const char *push_body(sx_req_t *req, bool json, sx_buf_t *plain, sx_buf_t *plain2,
                             size_t *len)
{
    sx_err_t err;
    sx_err_clear(&err);
    const char *data = req->body.ptr ? req->body.ptr : "";
    *len = req->body.len;
    const char *ce = req->content_encoding;
    int rc = 0;
    if (ce && *ce && strcasecmp(ce, "identity") != 0) {
        rc = sx_body_decode(ce, data, *len, req->max_body, plain, &err);
        if (!rc) {
            data = plain->ptr ? plain->ptr : "";
            *len = plain->len;
        }
    }
    if (!rc && !json && !(ce && strcasecmp(ce, "snappy") == 0)) {
        rc = sx_snappy_block_decode(data, *len, req->max_body, plain2, &err);
        if (!rc) {
            data = plain2->ptr ? plain2->ptr : "";
            *len = plain2->len;
        }
    }
    if (rc) {
        sx_api_loki_error(req, rc == SX_ETOOLARGE ? 413 : 400, err.msg);
        return NULL;
    }
    return data;
}

/* Store a decoded batch in the tenant's log store of a kind and answer. */
static void store_logs(sx_api_ctx_t *ctx, sx_req_t *req, int kind, sx_log_batch_t *b, int ok_status)
{
    if (ctx->cfg->min_free_bytes > 0 &&
        sx_storage_free_bytes(ctx->storage) < ctx->cfg->min_free_bytes) {
        sx_http_count_rejected(ctx->http, "disk_full", 1);
        sx_api_loki_error(req, 503, "not enough free disk space in the data directory; nothing "
                                    "from this request was stored");
        return;
    }
    sx_err_t err;
    sx_err_clear(&err);
    sx_logstore_t *ls = sx_storage_logs(ctx->storage, req->tenant, kind, &err);
    if (!ls) {
        sx_api_loki_error(req, sx_api_loki_status(err.code ? err.code : SX_EIO), err.msg);
        return;
    }
    sx_log_append_result_t res;
    int rc = sx_logstore_append(ls, b, &res, &err);
    if (rc) {
        sx_http_count_rejected(ctx->http, rc == SX_ENOSPC ? "disk_full" : "storage_error", 1);
        sx_log_error("ingest", "tenant %s: log append failed: %s", req->tenant, err.msg);
        sx_api_loki_error(req, sx_api_loki_status(rc), err.msg);
        return;
    }
    sx_http_count_rejected(ctx->http, "out_of_retention_entry", res.dropped_retention);
    if (sx_logstore_head_full(ls))
        sx_storage_kick(ctx->storage);
    sx_buf_clear(&req->out);
    sx_resp_set(req, ok_status, NULL);
}

static void on_push(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    bool json = is_json(req->content_type);
    sx_buf_t plain = SX_BUF_INIT, plain2 = SX_BUF_INIT;
    size_t len;
    const char *data = push_body(req, json, &plain, &plain2, &len);
    if (data) {
        sx_log_batch_t b;
        sx_log_batch_init(&b, &req->arena);
        sx_err_t err;
        sx_err_clear(&err);
        sx_log_limits_t lim = SX_LOG_LIMITS_DEFAULT;
        int rc = json ? sx_loki_push_decode_json(data, len, &lim, &b, &err)
                      : sx_loki_push_decode_pb(data, len, &lim, &b, &err);
        if (!rc)
            rc = sx_log_k8s_normalize(&b, &err);
        if (rc) {
            sx_http_count_rejected(ctx->http, "bad_request", 1);
            int status = strcmp(err.msg, SX_LOKI_NO_STREAMS_MSG) == 0 ? 422 : sx_api_loki_status(rc);
            sx_api_loki_error(req, status, err.msg);
        } else {
            store_logs(ctx, req, SX_LOGS, &b, 204);
        }
    }
    sx_buf_dispose(&plain);
    sx_buf_dispose(&plain2);
}

static void on_k8s(sx_req_t *req, sx_api_ctx_t *ctx, int kind)
{
    sx_log_batch_t b;
    sx_log_batch_init(&b, &req->arena);
    sx_err_t err;
    sx_err_clear(&err);
    const char *data = req->body.ptr ? req->body.ptr : "";
    int rc = kind == SX_EVENTS ? sx_k8s_events_decode(data, req->body.len, sx_now_ns(), &b, &err)
                               : sx_k8s_audit_decode(data, req->body.len, sx_now_ns(), &b, &err);
    if (rc) {
        sx_http_count_rejected(ctx->http, "bad_request", 1);
        sx_api_loki_error(req, sx_api_loki_status(rc), err.msg);
        return;
    }
    store_logs(ctx, req, kind, &b, 200);
    if (req->status == 200) {
        sx_buf_printf(&req->out, "{\"accepted\":%zu}", b.nentries);
        sx_resp_set(req, 200, "application/json");
    }
}

static void on_events_push(sx_req_t *req, void *arg)
{
    on_k8s(req, arg, SX_EVENTS);
}

static void on_audit_push(sx_req_t *req, void *arg)
{
    on_k8s(req, arg, SX_AUDIT);
}

/* ---- Labels, series, index stats ---- */

/* Parse an optional stream selector parameter into matchers. Returns 0,
 * or -1 after answering 400. */
static int selector_param(sx_req_t *req, const char *name, sx_matcher_t **m, size_t *nm)
{
    *m = NULL;
    *nm = 0;
    const char *q = sx_req_param(req, name);
    if (!q || !*q)
        return 0;
    sx_err_t err;
    sx_err_clear(&err);
    if (sx_selector_parse(sx_str(q), &req->arena, m, nm, &err)) {
        sx_api_loki_error(req, 400, err.msg);
        return -1;
    }
    return 0;
}

static void put_str_array(sx_req_t *req, const sx_str_t *v, size_t n)
{
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sx_buf_putc(b, ',');
        sx_buf_json_str(b, v[i].ptr, v[i].len);
    }
    sx_buf_puts(b, "]}");
    sx_resp_set(req, 200, "application/json");
}

static void labels_common(sx_req_t *req, sx_api_ctx_t *ctx, sx_str_t name)
{
    int64_t start, end;
    sx_matcher_t *m;
    size_t nm;
    if (sx_api_loki_range(req, 6 * 3600 * 1000000000LL, &start, &end) ||
        selector_param(req, "query", &m, &nm))
        return;
    sx_logstore_t *ls = sx_storage_logs_peek(ctx->storage, req->tenant, SX_LOGS);
    sx_str_t *v = NULL;
    size_t n = 0;
    if (ls) {
        if (name.len)
            sx_logstore_label_values(ls, name, m, nm, start, end, &req->arena, &v, &n);
        else
            sx_logstore_label_names(ls, m, nm, start, end, &req->arena, &v, &n);
    }
    sx_selector_dispose(m, nm);
    put_str_array(req, v, n);
}

static void on_labels(sx_req_t *req, void *arg)
{
    labels_common(req, arg, SX_STR_NULL);
}

static void on_label_values(sx_req_t *req, void *arg)
{
    /* path_rest is "<name>/values" */
    const char *rest = req->path_rest ? req->path_rest : "";
    const char *slash = strchr(rest, '/');
    if (!slash || strcmp(slash, "/values") != 0 || slash == rest) {
        sx_api_loki_error(req, 404, "404 page not found");
        return;
    }
    labels_common(req, arg, (sx_str_t){rest, (size_t)(slash - rest)});
}

static void on_series(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    int64_t start, end;
    if (sx_api_loki_range(req, 3600 * 1000000000LL, &start, &end))
        return;
    sx_str_t *sels;
    size_t nsel = sx_req_params(req, "match[]", &sels);
    if (nsel == 0)
        nsel = sx_req_params(req, "match", &sels);
    if (nsel == 0) {
        sx_api_loki_error(req, 400, "0 matcher groups supplied");
        return;
    }
    sx_logstore_t *ls = sx_storage_logs_peek(ctx->storage, req->tenant, SX_LOGS);
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"status\":\"success\",\"data\":[");
    /* The union of the selections, each stream once, in label order. */
    uint32_t *seen = NULL;
    size_t nseen = 0, cap = 0;
    sx_log_stream_t *all = NULL;
    size_t nall = 0, allcap = 0;
    for (size_t i = 0; i < nsel; i++) {
        sx_matcher_t *m;
        size_t nm;
        sx_err_t err;
        sx_err_clear(&err);
        if (sx_selector_parse(sels[i], &req->arena, &m, &nm, &err)) {
            free(seen);
            free(all);
            sx_api_loki_error(req, 400, err.msg);
            return;
        }
        sx_log_stream_t *st = NULL;
        size_t n = 0;
        if (ls)
            sx_logstore_select(ls, m, nm, start, end, &req->arena, &st, &n);
        sx_selector_dispose(m, nm);
        for (size_t k = 0; k < n; k++) {
            bool dup = false;
            for (size_t j = 0; j < nseen && !dup; j++)
                dup = seen[j] == st[k].id;
            if (dup)
                continue;
            if (nseen == cap) {
                cap = cap ? cap * 2 : 64;
                seen = sx_xrealloc(seen, cap * sizeof(*seen));
            }
            seen[nseen++] = st[k].id;
            if (nall == allcap) {
                allcap = allcap ? allcap * 2 : 64;
                all = sx_xrealloc(all, allcap * sizeof(*all));
            }
            all[nall++] = st[k];
        }
    }
    for (size_t i = 0; i < nall; i++) {
        if (i)
            sx_buf_putc(b, ',');
        sx_api_put_labelset(b, all[i].labels, all[i].nlabels);
    }
    free(seen);
    free(all);
    sx_buf_puts(b, "]}");
    sx_resp_set(req, 200, "application/json");
}

static void on_index_stats(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    int64_t start, end;
    sx_matcher_t *m;
    size_t nm;
    if (sx_api_loki_range(req, 3600 * 1000000000LL, &start, &end) ||
        selector_param(req, "query", &m, &nm))
        return;
    sx_log_index_stats_t st = {0};
    sx_logstore_t *ls = sx_storage_logs_peek(ctx->storage, req->tenant, SX_LOGS);
    if (ls)
        sx_logstore_index_stats(ls, m, nm, start, end, &st);
    sx_selector_dispose(m, nm);
    sx_buf_clear(&req->out);
    sx_buf_printf(&req->out, "{\"streams\":%llu,\"chunks\":%llu,\"entries\":%llu,\"bytes\":%llu}",
                  (unsigned long long)st.streams, (unsigned long long)st.chunks,
                  (unsigned long long)st.entries, (unsigned long long)st.bytes);
    sx_resp_set(req, 200, "application/json");
}

static void on_buildinfo(sx_req_t *req, void *arg)
{
    (void)arg;
    sx_buf_clear(&req->out);
    sx_buf_puts(&req->out, "{\"version\":\"3.4.0\",\"revision\":\"" SX_REVISION
                           "\",\"branch\":\"main\",\"buildUser\":\"sextant\",\"buildDate\":\"\","
                           "\"goVersion\":\"\"}");
    sx_resp_set(req, 200, "application/json");
}

static const sx_route_t routes[] = {
    {"POST", "/loki/api/v1/push", on_push, SX_ROUTE_RAWBODY, 0},
    {"POST", "/api/prom/push", on_push, SX_ROUTE_RAWBODY, 0},
    {NULL, "/loki/api/v1/labels", on_labels, 0, 0},
    {NULL, "/loki/api/v1/label", on_labels, 0, 0},
    {NULL, "/loki/api/v1/label/", on_label_values, SX_ROUTE_PREFIX, 0},
    {NULL, "/loki/api/v1/series", on_series, 0, 0},
    {NULL, "/loki/api/v1/index/stats", on_index_stats, 0, 0},
    {"GET", "/loki/api/v1/status/buildinfo", on_buildinfo, 0, 0},
    {"POST", "/api/v1/k8s/events", on_events_push, 0, 0},
    {"POST", "/api/v1/k8s/audit", on_audit_push, 0, 0},
    {"POST", "/kapis/logging.kubesphere.io/v1alpha2/events", on_events_push, 0, 0},
    {"POST", "/kapis/logging.kubesphere.io/v1alpha2/auditing", on_audit_push, 0, 0},
};

void sx_api_loki_register(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_http_add_routes(h, routes, sizeof(routes) / sizeof(routes[0]), ctx);
    sx_api_loki_query_register(h, ctx);
    sx_api_loki_explore_register(h, ctx);
    sx_api_loki_tail_register(h, ctx);
}
