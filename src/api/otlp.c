/* SPDX-License-Identifier: Apache-2.0 */
/* OTLP/HTTP receivers for metrics (into the metric store, with Prometheus
 * names) and logs (into the log store, service_name and Loki's index
 * attributes as stream labels), and the request/answer handling that the
 * traces receiver shares. Bodies are protobuf or JSON, optionally
 * compressed; answers are Export*ServiceResponse in the request's format,
 * with partial_success when some items were rejected. */
#include "otlp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/log.h"
#include "../core/time.h"
#include "../ingest/log_ingest.h"

/* gRPC status codes for google.rpc.Status. */
enum { GRPC_INVALID_ARGUMENT = 3, GRPC_RESOURCE_EXHAUSTED = 8, GRPC_INTERNAL = 13,
       GRPC_UNAVAILABLE = 14 };

static bool ct_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return ct && strncasecmp(ct, want, n) == 0 && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

const char *sx_api_otlp_body(sx_req_t *req, int *format, size_t *len)
{
    const char *ct = req->content_type;
    if (ct_is(ct, "application/x-protobuf") || ct_is(ct, "application/protobuf")) {
        *format = SX_OTLP_PROTOBUF;
    } else if (ct_is(ct, "application/json")) {
        *format = SX_OTLP_JSON;
    } else {
        *format = SX_OTLP_JSON;
        char *msg = sx_arena_sprintf(&req->arena,
                                     "unsupported content type \"%s\": use application/x-protobuf "
                                     "or application/json",
                                     ct ? ct : "");
        sx_api_otlp_error(req, SX_OTLP_JSON, 415, msg);
        return NULL;
    }
    /* The HTTP layer has already undone Content-Encoding (413 past the
     * body limit, 400 for a body that does not decompress). */
    *len = req->body.len;
    return req->body.ptr ? req->body.ptr : "";
}

static void put_varint(sx_buf_t *b, uint64_t v)
{
    sx_buf_put_uvarint(b, v);
}

void sx_api_otlp_error(sx_req_t *req, int format, int http_status, const char *msg)
{
    int code = http_status == 429   ? GRPC_RESOURCE_EXHAUSTED
               : http_status == 503 ? GRPC_UNAVAILABLE
               : http_status >= 500 ? GRPC_INTERNAL
                                    : GRPC_INVALID_ARGUMENT;
    sx_buf_clear(&req->out);
    if (format == SX_OTLP_PROTOBUF) {
        sx_buf_putc(&req->out, 0x08); /* code = 1 */
        put_varint(&req->out, (uint64_t)code);
        size_t n = strlen(msg);
        sx_buf_putc(&req->out, 0x12); /* message = 2 */
        put_varint(&req->out, n);
        sx_buf_append(&req->out, msg, n);
        sx_resp_set(req, http_status, "application/x-protobuf");
    } else {
        sx_buf_printf(&req->out, "{\"code\":%d,\"message\":", code);
        sx_buf_json_str(&req->out, msg, strlen(msg));
        sx_buf_putc(&req->out, '}');
        sx_resp_set(req, http_status, "application/json");
    }
    if (http_status == 429 || http_status == 503)
        sx_resp_header(req, "Retry-After", "5");
}

void sx_api_otlp_ok(sx_req_t *req, int signal, int format, const sx_otlp_result_t *res)
{
    sx_buf_clear(&req->out);
    sx_otlp_response_encode(signal, format, res, &req->out);
    sx_resp_set(req, 200, format == SX_OTLP_PROTOBUF ? "application/x-protobuf" : "application/json");
}

void sx_api_otlp_storage_failed(sx_api_ctx_t *ctx, sx_req_t *req, int format, int rc,
                                const char *msg)
{
    sx_http_count_rejected(ctx->http, rc == SX_ENOSPC ? "disk_full" : "storage_error", 1);
    sx_log_error("ingest", "tenant %s: OTLP append failed: %s", req->tenant, msg);
    sx_api_otlp_error(req, format, 503, msg);
}

bool sx_api_otlp_disk_ok(sx_api_ctx_t *ctx, sx_req_t *req, int format)
{
    if (ctx->cfg->min_free_bytes > 0 &&
        sx_storage_free_bytes(ctx->storage) < ctx->cfg->min_free_bytes) {
        sx_http_count_rejected(ctx->http, "disk_full", 1);
        sx_api_otlp_error(req, format, 503,
                          "not enough free disk space in the data directory; nothing from this "
                          "request was stored");
        return false;
    }
    return true;
}

static void on_metrics(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    int format;
    size_t len;
    const char *body = sx_api_otlp_body(req, &format, &len);
    if (!body)
        return;
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &req->arena);
    sx_otlp_result_t res;
    sx_otlp_result_init(&res);
    sx_otlp_metric_opts_t o = {0};
    o.now_ns = sx_now_ns();
    sx_err_t err;
    sx_err_clear(&err);
    if (sx_otlp_metrics_decode(body, len, format, &o, &b, &res, &err)) {
        sx_http_count_rejected(ctx->http, "bad_request", 1);
        sx_api_otlp_error(req, format, 400, err.msg);
        return;
    }
    if (!sx_api_otlp_disk_ok(ctx, req, format))
        return;
    sx_tsdb_t *db = sx_storage_tsdb(ctx->storage, req->tenant, &err);
    if (!db) {
        sx_api_otlp_storage_failed(ctx, req, format, err.code, err.msg);
        return;
    }
    sx_append_result_t ar;
    int rc = sx_tsdb_append(db, &b, &ar, &err);
    if (rc) {
        if (rc == SX_EPARSE || rc == SX_EINVAL || rc == SX_EBADLABEL) {
            sx_http_count_rejected(ctx->http, "bad_request", 1);
            sx_api_otlp_error(req, format, 400, err.msg);
        } else {
            sx_api_otlp_storage_failed(ctx, req, format, rc, err.msg);
        }
        return;
    }
    sx_http_count_rejected(ctx->http, "out_of_order_sample", ar.dropped_ooo);
    sx_http_count_rejected(ctx->http, "out_of_retention_sample", ar.dropped_retention);
    sx_api_otlp_ok(req, SX_OTLP_METRICS, format, &res);
}

static void on_logs(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    int format;
    size_t len;
    const char *body = sx_api_otlp_body(req, &format, &len);
    if (!body)
        return;
    sx_log_batch_t b;
    sx_log_batch_init(&b, &req->arena);
    sx_otlp_result_t res;
    sx_otlp_result_init(&res);
    sx_otlp_log_opts_t o = {0};
    o.now_ns = sx_now_ns();
    sx_err_t err;
    sx_err_clear(&err);
    int rc = sx_otlp_logs_decode(body, len, format, &o, &b, &res, &err);
    if (!rc)
        rc = sx_log_k8s_normalize(&b, &err);
    if (rc) {
        sx_http_count_rejected(ctx->http, "bad_request", 1);
        sx_api_otlp_error(req, format, 400, err.msg);
        return;
    }
    if (!sx_api_otlp_disk_ok(ctx, req, format))
        return;
    sx_logstore_t *ls = sx_storage_logs(ctx->storage, req->tenant, SX_LOGS, &err);
    if (!ls) {
        sx_api_otlp_storage_failed(ctx, req, format, err.code, err.msg);
        return;
    }
    sx_log_append_result_t ar;
    if ((rc = sx_logstore_append(ls, &b, &ar, &err))) {
        sx_api_otlp_storage_failed(ctx, req, format, rc, err.msg);
        return;
    }
    sx_http_count_rejected(ctx->http, "out_of_retention_entry", ar.dropped_retention);
    if (sx_logstore_head_full(ls))
        sx_storage_kick(ctx->storage);
    sx_api_otlp_ok(req, SX_OTLP_LOGS, format, &res);
}

static const sx_route_t routes[] = {
    {"POST", "/v1/metrics", on_metrics, 0, 0},
    {"POST", "/v1/logs", on_logs, 0, 0},
    {"POST", "/otlp/v1/metrics", on_metrics, 0, 0},
    {"POST", "/otlp/v1/logs", on_logs, 0, 0},
};

void sx_api_otlp_register(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_http_add_routes(h, routes, sizeof(routes) / sizeof(routes[0]), ctx);
}
