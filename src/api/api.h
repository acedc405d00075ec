/* SPDX-License-Identifier: Apache-2.0 */
/* API families. Each file registers a const route table with the HTTP
 * layer; handlers parse parameters, call a decoder, the storage or an
 * engine, and encode the answer in the imitated API's exact shape. Only
 * this layer turns SX_E... codes into HTTP statuses and error bodies. */
#ifndef SX_API_API_H
#define SX_API_API_H

#include <stdint.h>

#include "../core/config.h"
#include "../http/server.h"
#include "../storage/storage.h"

typedef struct sx_api_ctx {
    sx_storage_t *storage;
    sx_http_t *http;
    const sx_config_t *cfg;
    int64_t start_ms; /* server start, for uptime */
    struct sx_spanmetrics *spanmetrics; /* NULL when span metrics are off */
} sx_api_ctx_t;

/* Register every family's routes. ctx must outlive the server. */
void sx_api_register_all(sx_http_t *h, sx_api_ctx_t *ctx);

void sx_api_write_register(sx_http_t *h, sx_api_ctx_t *ctx);      /* write.c: remote write, influx, datakit metric */
void sx_api_prometheus_register(sx_http_t *h, sx_api_ctx_t *ctx); /* prometheus.c: metadata APIs */
void sx_api_query_register(sx_http_t *h, sx_api_ctx_t *ctx);      /* query.c: PromQL query APIs */
void sx_api_admin_register(sx_http_t *h, sx_api_ctx_t *ctx);      /* admin.c: health, /metrics, flush, export, import */
void sx_api_loki_register(sx_http_t *h, sx_api_ctx_t *ctx);       /* loki.c, loki_query.c: Loki push and query APIs */
void sx_api_loki_explore_register(sx_http_t *h, sx_api_ctx_t *ctx); /* loki_explore.c: volume, detected labels/fields, patterns */
void sx_api_kubesphere_register(sx_http_t *h, sx_api_ctx_t *ctx); /* kubesphere.c: logging, events, auditing queries */
void sx_api_otlp_register(sx_http_t *h, sx_api_ctx_t *ctx);       /* otlp.c: OTLP/HTTP metrics and logs */
void sx_api_traces_register(sx_http_t *h, sx_api_ctx_t *ctx);     /* traces.c: OTLP traces, Tempo and Jaeger queries */

/* ---- Prometheus-style answers ---- */

/* {"status":"error","errorType":type,"error":msg} with the status for the
 * code: bad_data 400, execution 422, timeout 503, canceled 499,
 * unavailable 503, internal 500, not_found 404. */
void sx_api_prom_error(sx_req_t *req, int rc, const char *msg);
/* Start {"status":"success","data": in req->out; the caller appends the
 * data and calls sx_api_prom_success_end. */
void sx_api_prom_success_begin(sx_req_t *req);
void sx_api_prom_success_end(sx_req_t *req);

/* A label set as Prometheus marshals labels.Labels: an object with the
 * labels in their (sorted) order. */
void sx_api_put_labelset(sx_buf_t *b, const sx_label_t *l, uint32_t n);

/* Parse Prometheus' start/end parameters (RFC 3339 or Unix seconds);
 * missing start = minimum time, missing end = maximum time. Fills an error
 * answer and returns non-zero on bad input. */
int sx_api_time_range(sx_req_t *req, int64_t *mint, int64_t *maxt);

/* The tenant's metric store for writing (created on first use), or NULL
 * after answering with an error. */
sx_tsdb_t *sx_api_tsdb_for_write(sx_api_ctx_t *ctx, sx_req_t *req);

/* The "resultType" and "result" members of a PromQL answer (the first
 * nseries series), appended to req->out; also Loki's metric answers. */
struct sx_promql_result;
/* threads: how many may write the answer (a big matrix is written in two
 * halves at once from 2). */
void sx_api_promql_data(sx_req_t *req, const struct sx_promql_result *r, size_t nseries,
                        int threads);

/* ---- Series selection by match[] (prometheus.c; also used by export) ---- */

/* The matchers of one match[] selector. */
typedef struct sx_api_match {
    sx_matcher_t *m;
    size_t n;
} sx_api_match_t;

/* Parse every match[] parameter into the request arena. Returns 0 (the
 * sets must be released with sx_api_matches_dispose), or non-zero after
 * answering bad_data, with nothing left to release. */
int sx_api_matches_parse(sx_req_t *req, sx_api_match_t **out, size_t *n);
void sx_api_matches_dispose(sx_api_match_t *sets, size_t n);

/* A selected series and its labels (sorted by name, in the arena). */
typedef struct sx_api_series {
    uint32_t id;
    uint32_t nlabels;
    sx_label_t *labels;
} sx_api_series_t;

/* The union of the series matching any of the sets with samples in
 * [mint, maxt] (ms), sorted by label set as Prometheus sorts them, with
 * their labels, in the arena. With max != 0, at most max series are
 * returned and *more says whether further ones matched. Returns 0 or the
 * store's error code. */
int sx_api_series_select(sx_tsdb_t *db, const sx_api_match_t *sets, size_t nsets, int64_t mint,
                         int64_t maxt, size_t max, sx_arena_t *a, sx_api_series_t **out,
                         size_t *n, bool *more);

#endif
