/* SPDX-License-Identifier: Apache-2.0 */
/* Loki's query endpoints: /loki/api/v1/query (metric queries at one
 * instant), /loki/api/v1/query_range (log and metric queries) and
 * /loki/api/v1/format_query, GET and form POST. Answers are Loki's JSON
 * with a "stats" object; with X-Loki-Response-Encoding-Flags:
 * categorize-labels, stream values carry their structured metadata and
 * parsed labels apart from the stream labels, as Loki 3 does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/time.h"
#include "../query/logql/engine.h"
#include "loki.h"

void sx_api_loki_put_stream(sx_buf_t *b, const sx_logql_stream_t *s, const sx_logql_entry_t *e,
                            size_t n, bool categorize)
{
    sx_buf_puts(b, "{\"stream\":");
    if (categorize)
        sx_api_put_labelset(b, s->stream, s->nstream);
    else
        sx_api_put_labelset(b, s->labels, s->nlabels);
    sx_buf_puts(b, ",\"values\":[");
    for (size_t k = 0; k < n; k++) {
        if (k)
            sx_buf_putc(b, ',');
        sx_buf_printf(b, "[\"%lld\",", (long long)e[k].ts);
        sx_buf_json_str(b, e[k].line.ptr, e[k].line.len);
        if (categorize) {
            sx_buf_puts(b, ",{");
            if (e[k].nmeta) {
                sx_buf_puts(b, "\"structuredMetadata\":");
                sx_api_put_labelset(b, e[k].meta, e[k].nmeta);
            }
            if (e[k].nparsed) {
                if (e[k].nmeta)
                    sx_buf_putc(b, ',');
                sx_buf_puts(b, "\"parsed\":");
                sx_api_put_labelset(b, e[k].parsed, e[k].nparsed);
            }
            sx_buf_putc(b, '}');
        }
        sx_buf_putc(b, ']');
    }
    sx_buf_puts(b, "]}");
}

static void put_stats(sx_buf_t *b, const sx_logql_stats_t *s)
{
    double secs = (double)s->exec_ns / 1e9;
    double bps = secs > 0 ? (double)s->bytes_processed / secs : 0;
    double lps = secs > 0 ? (double)s->lines_processed / secs : 0;
    sx_buf_printf(b,
                  "{\"summary\":{\"bytesProcessedPerSecond\":%.0f,\"linesProcessedPerSecond\":%.0f,"
                  "\"totalBytesProcessed\":%llu,\"totalLinesProcessed\":%llu,\"execTime\":%.9f,"
                  "\"queueTime\":0,\"subqueries\":0,\"totalEntriesReturned\":%llu,\"splits\":0,"
                  "\"shards\":0,\"totalPostFilterLines\":%llu,"
                  "\"totalStructuredMetadataBytesProcessed\":0},",
                  bps, lps, (unsigned long long)s->bytes_processed,
                  (unsigned long long)s->lines_processed, secs,
                  (unsigned long long)s->entries_returned,
                  (unsigned long long)s->post_filter_lines);
    sx_buf_printf(b,
                  "\"querier\":{\"store\":{\"totalChunksRef\":%llu,\"totalChunksDownloaded\":%llu,"
                  "\"chunksDownloadTime\":0,\"queryReferencedStructuredMetadata\":false,"
                  "\"chunk\":{\"headChunkBytes\":0,\"headChunkLines\":0,"
                  "\"decompressedBytes\":%llu,\"decompressedLines\":%llu,\"compressedBytes\":0,"
                  "\"totalDuplicates\":0,\"postFilterLines\":%llu,"
                  "\"headChunkStructuredMetadataBytes\":0,"
                  "\"decompressedStructuredMetadataBytes\":0},"
                  "\"chunkRefsFetchTime\":0,\"congestionControlLatency\":0,"
                  "\"pipelineWrapperFilteredLines\":0}},",
                  (unsigned long long)s->chunks_ref, (unsigned long long)s->chunks_read,
                  (unsigned long long)s->bytes_decompressed,
                  (unsigned long long)s->lines_processed,
                  (unsigned long long)s->post_filter_lines);
    sx_buf_puts(b, "\"ingester\":{\"totalReached\":0,\"totalChunksMatched\":0,\"totalBatches\":0,"
                   "\"totalLinesSent\":0,\"store\":{\"totalChunksRef\":0,"
                   "\"totalChunksDownloaded\":0,\"chunksDownloadTime\":0,"
                   "\"queryReferencedStructuredMetadata\":false,\"chunk\":{\"headChunkBytes\":0,"
                   "\"headChunkLines\":0,\"decompressedBytes\":0,\"decompressedLines\":0,"
                   "\"compressedBytes\":0,\"totalDuplicates\":0,\"postFilterLines\":0,"
                   "\"headChunkStructuredMetadataBytes\":0,"
                   "\"decompressedStructuredMetadataBytes\":0},\"chunkRefsFetchTime\":0,"
                   "\"congestionControlLatency\":0,\"pipelineWrapperFilteredLines\":0}},"
                   "\"cache\":{}}");
}

static void write_answer(sx_req_t *req, const sx_logql_result_t *r, bool categorize, int threads)
{
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"status\":\"success\",\"data\":{");
    if (r->is_streams) {
        sx_buf_puts(b, "\"resultType\":\"streams\",\"result\":[");
        for (size_t i = 0; i < r->nstreams; i++) {
            const sx_logql_stream_t *s = &r->streams[i];
            if (i)
                sx_buf_putc(b, ',');
            sx_api_loki_put_stream(b, s, s->e, s->n, categorize);
        }
        sx_buf_putc(b, ']');
    } else {
        sx_api_promql_data(req, &r->metric, r->metric.nseries, threads);
    }
    sx_buf_puts(b, ",\"stats\":");
    put_stats(b, &r->stats);
    if (categorize)
        sx_buf_puts(b, ",\"encodingFlags\":[\"categorize-labels\"]");
    sx_buf_puts(b, "}}");
    sx_resp_set(req, 200, "application/json");
}

sx_logql_expr_t *sx_api_loki_query_param(sx_req_t *req, bool log_only)
{
    const char *q = sx_req_param(req, "query");
    if (!q || !*q) {
        sx_api_loki_error(req, 400, "query parameter is required");
        return NULL;
    }
    sx_err_t err;
    sx_err_clear(&err);
    sx_logql_expr_t *e = sx_logql_parse(q, strlen(q), &req->arena, &err);
    if (!e) {
        sx_api_loki_error(req, 400, err.msg);
        return NULL;
    }
    if (log_only && sx_logql_is_metric(e)) {
        sx_logql_expr_dispose(e);
        sx_api_loki_error(req, 400, "only log selector is supported");
        return NULL;
    }
    return e;
}

static int limit_param(sx_req_t *req, size_t *limit)
{
    const char *v = sx_req_param(req, "limit");
    *limit = 100;
    if (!v || !*v)
        return 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end || end == v || x < 0) {
        sx_api_loki_error(req, 400, "limit must be a positive value");
        return -1;
    }
    if (x == 0)
        x = 100;
    *limit = (size_t)x;
    return 0;
}

static int direction_param(sx_req_t *req, bool *backward)
{
    const char *v = sx_req_param(req, "direction");
    *backward = true;
    if (!v || !*v || strcasecmp(v, "backward") == 0)
        return 0;
    if (strcasecmp(v, "forward") == 0) {
        *backward = false;
        return 0;
    }
    sx_api_loki_error(req, 400, "invalid direction");
    return -1;
}

static bool categorize_asked(sx_req_t *req)
{
    const char *flags = sx_req_header(req, "X-Loki-Response-Encoding-Flags");
    return flags && strstr(flags, "categorize-labels");
}

static void run(sx_api_ctx_t *ctx, sx_req_t *req, sx_logql_expr_t *e, sx_logql_params_t *p)
{
    p->categorize = categorize_asked(req);
    sx_logql_opts_t o;
    sx_logql_opts_default(&o);
    int64_t timeout_ms = ctx->cfg->query_timeout_ms > 0 ? ctx->cfg->query_timeout_ms : 120000;
    o.deadline_ns = sx_mono_ns() + timeout_ms * 1000000LL;
    if (ctx->cfg->query_max_samples > 0)
        o.max_samples = ctx->cfg->query_max_samples;
    if (ctx->cfg->query_parallelism > 0)
        o.parallelism = ctx->cfg->query_parallelism;
    sx_logstore_t *ls = sx_storage_logs_peek(ctx->storage, req->tenant, SX_LOGS);
    sx_logql_result_t r;
    sx_err_t err;
    sx_err_clear(&err);
    int rc = sx_logql_eval(ls, e, p, &o, &req->arena, &r, &err);
    sx_logql_expr_dispose(e);
    if (rc) {
        sx_api_loki_error(req, sx_api_loki_status(rc), err.msg[0] ? err.msg : sx_strerror(rc));
        return;
    }
    write_answer(req, &r, p->categorize, o.parallelism);
}

static void on_query_range(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    sx_logql_params_t p = {0};
    int64_t step = 0, interval = 0;
    bool have_step, have_interval;
    if (sx_api_loki_range(req, 3600 * 1000000000LL, &p.start_ns, &p.end_ns) ||
        limit_param(req, &p.limit) || direction_param(req, &p.backward) ||
        sx_api_loki_duration(req, "step", &step, &have_step) ||
        sx_api_loki_duration(req, "interval", &interval, &have_interval))
        return;
    if (!have_step) {
        /* Loki's default: about 250 points, at least one second. */
        int64_t secs = (p.end_ns - p.start_ns) / 1000000000LL / 250;
        step = (secs > 1 ? secs : 1) * 1000000000LL;
    }
    if (step <= 0) {
        sx_api_loki_error(req, 400,
                          "zero or negative query resolution step widths are not accepted. Try a "
                          "positive integer");
        return;
    }
    if ((p.end_ns - p.start_ns) / step > 11000) {
        sx_api_loki_error(req, 400,
                          "exceeded maximum resolution of 11,000 points per timeseries. Try "
                          "decreasing the query resolution (?step=XX)");
        return;
    }
    p.step_ns = step;
    p.interval_ns = have_interval ? interval : 0;
    sx_logql_expr_t *e = sx_api_loki_query_param(req, false);
    if (e)
        run(ctx, req, e, &p);
}

static void on_query(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    sx_logql_params_t p = {0};
    const char *tv = sx_req_param(req, "time");
    int64_t t = sx_now_ns();
    if (tv && *tv) {
        sx_err_t err;
        if (sx_api_loki_parse_time(tv, &t, &err)) {
            sx_api_loki_error(req, 400, sx_arena_sprintf(&req->arena, "invalid time: %s", err.msg));
            return;
        }
    }
    if (limit_param(req, &p.limit) || direction_param(req, &p.backward))
        return;
    sx_logql_expr_t *e = sx_api_loki_query_param(req, false);
    if (!e)
        return;
    if (!sx_logql_is_metric(e)) {
        sx_logql_expr_dispose(e);
        sx_api_loki_error(req, 400,
                          "log queries are not supported as an instant query type, please change "
                          "your query to a range query type");
        return;
    }
    p.start_ns = p.end_ns = t;
    p.step_ns = 0;
    run(ctx, req, e, &p);
}

static void on_format_query(sx_req_t *req, void *arg)
{
    (void)arg;
    sx_logql_expr_t *e = sx_api_loki_query_param(req, false);
    if (!e)
        return;
    sx_buf_t txt = SX_BUF_INIT;
    sx_logql_format(e, &txt);
    sx_logql_expr_dispose(e);
    sx_buf_clear(&req->out);
    sx_buf_puts(&req->out, "{\"status\":\"success\",\"data\":");
    sx_buf_json_str(&req->out, txt.ptr ? txt.ptr : "", txt.len);
    sx_buf_putc(&req->out, '}');
    sx_buf_dispose(&txt);
    sx_resp_set(req, 200, "application/json");
}

static const sx_route_t routes[] = {
    {NULL, "/loki/api/v1/query", on_query, 0, 0},
    {NULL, "/loki/api/v1/query_range", on_query_range, 0, 0},
    {NULL, "/loki/api/v1/format_query", on_format_query, 0, 0},
    {NULL, "/api/prom/query", on_query_range, 0, 0},
};

void sx_api_loki_query_register(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_http_add_routes(h, routes, sizeof(routes) / sizeof(routes[0]), ctx);
}
