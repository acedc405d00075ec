/* SPDX-License-Identifier: Apache-2.0 */
/* Metric ingestion endpoints: Prometheus remote write (/api/v1/push and
 * /api/v1/write), InfluxDB line protocol v1 (/write) and v2
 * (/api/v2/write), DataKit (/v1/write/metric) and the ping endpoints their
 * clients probe. Each handler decodes the whole body first and appends it
 * in one call, so a request is stored completely or not at all. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../core/log.h"
#include "../core/time.h"
#include "../http/body.h"
#include "../ingest/ingest.h"
#include "api.h"

#define DATAKIT_VERSION "1.4.11-sextant-" SX_VERSION

/* Error answers in the shape each imitated API uses. */
enum shape { SHAPE_PROM, SHAPE_INFLUX1, SHAPE_INFLUX2, SHAPE_DATAKIT };

static void write_error(sx_req_t *req, enum shape shape, int rc, const char *msg)
{
    int status = sx_err_http_status(rc);
    if (shape == SHAPE_PROM) {
        /* Remote write clients read a plain message; keep Prometheus' JSON
         * error shape, which they log verbatim. */
        sx_api_prom_error(req, rc, msg);
        req->status = status;
        return;
    }
    sx_buf_clear(&req->out);
    if (shape == SHAPE_INFLUX1) {
        sx_buf_puts(&req->out, "{\"error\":");
        sx_buf_json_str(&req->out, msg, strlen(msg));
        sx_buf_putc(&req->out, '}');
    } else if (shape == SHAPE_INFLUX2) {
        const char *code = status == 413 ? "request too large"
                         : status == 401 ? "unauthorized"
                         : status >= 500 ? "internal error" : "invalid";
        sx_buf_puts(&req->out, "{\"code\":\"");
        sx_buf_puts(&req->out, code);
        sx_buf_puts(&req->out, "\",\"message\":");
        sx_buf_json_str(&req->out, msg, strlen(msg));
        sx_buf_putc(&req->out, '}');
    } else {
        const char *code = status >= 500 ? "datakit.internalError" : "datakit.badRequest";
        sx_buf_puts(&req->out, "{\"error_code\":\"");
        sx_buf_puts(&req->out, code);
        sx_buf_puts(&req->out, "\",\"message\":");
        sx_buf_json_str(&req->out, msg, strlen(msg));
        sx_buf_putc(&req->out, '}');
    }
    sx_resp_set(req, status, "application/json");
}

/* Append a decoded batch to the tenant's store and answer 204, or answer
 * the error. Returns 0 on success. */
static int store(sx_api_ctx_t *ctx, sx_req_t *req, const sx_metric_batch_t *b, enum shape shape)
{
    if (ctx->cfg->min_free_bytes > 0 &&
        sx_storage_free_bytes(ctx->storage) < ctx->cfg->min_free_bytes) {
        sx_http_count_rejected(ctx->http, "disk_full", 1);
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "not enough free disk space in the data directory (below --min-free-disk of %lld bytes); "
                 "nothing from this request was stored",
                 (long long)ctx->cfg->min_free_bytes);
        write_error(req, shape, SX_ENOSPC, msg);
        return -1;
    }
    sx_err_t err;
    sx_err_clear(&err);
    sx_tsdb_t *db = sx_storage_tsdb(ctx->storage, req->tenant, &err);
    if (!db) {
        write_error(req, shape, err.code ? err.code : SX_EIO, err.msg);
        return -1;
    }
    sx_append_result_t res;
    int rc = sx_tsdb_append(db, b, &res, &err);
    if (rc) {
        sx_http_count_rejected(ctx->http, rc == SX_ENOSPC ? "disk_full" : "storage_error", 1);
        sx_log_error("ingest", "tenant %s: append failed: %s", req->tenant, err.msg);
        write_error(req, shape, rc, err.msg);
        return -1;
    }
    sx_http_count_rejected(ctx->http, "out_of_order_sample", res.dropped_ooo);
    sx_http_count_rejected(ctx->http, "out_of_retention_sample", res.dropped_retention);
    sx_http_count_rejected(ctx->http, "duplicate_sample", res.dropped_dup);
    sx_resp_set(req, 204, NULL);
    return 0;
}

static void decode_failed(sx_api_ctx_t *ctx, sx_req_t *req, enum shape shape, sx_err_t *err)
{
    sx_http_count_rejected(ctx->http, "bad_request", 1);
    write_error(req, shape, err->code ? err->code : SX_EPARSE, err->msg);
}

/* ---- Prometheus remote write ---- */

static void on_remote_write(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    sx_err_t err;
    sx_err_clear(&err);
    sx_buf_t plain = SX_BUF_INIT;
    const char *ce = req->content_encoding;
    const char *data = req->body.ptr;
    size_t len = req->body.len;
    int rc = 0;
    bool compressed = true;
    if (ce && strcasecmp(ce, "identity") != 0) {
        /* Any declared encoding, snappy included (block or framed). */
        rc = sx_body_decode(ce, data, len, req->max_body, &plain, &err);
    } else if (len && sx_snappy_block_looks_valid(data, len)) {
        /* Remote write bodies are snappy blocks even when no header says
         * so. */
        rc = sx_snappy_block_decode(data, len, req->max_body, &plain, &err);
    } else {
        compressed = false;
    }
    if (rc) {
        if (rc == SX_ETOOLARGE)
            sx_http_count_rejected(ctx->http, "too_large", 1);
        write_error(req, SHAPE_PROM, rc, err.msg);
        sx_buf_dispose(&plain);
        return;
    }
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &req->arena);
    b.labels_unchecked = true; /* storage validates the series it does not know */
    if (compressed) {
        data = plain.len ? plain.ptr : "";
        len = plain.len;
    }
    rc = sx_remote_write_decode(data, len, &b, &err);
    if (rc == 0)
        store(ctx, req, &b, SHAPE_PROM);
    else
        decode_failed(ctx, req, SHAPE_PROM, &err);
    sx_buf_dispose(&plain);
}

/* ---- InfluxDB line protocol ---- */

static int lp_opts(sx_req_t *req, sx_lp_opts_t *o, const char *label, const char *value,
                   enum shape shape)
{
    sx_err_t err;
    memset(o, 0, sizeof(*o));
    o->precision_ns = 1;
    o->now_ns = sx_now_ns();
    const char *prec = sx_req_param(req, "precision");
    if (prec && *prec && sx_lp_precision_parse(sx_str(prec), &o->precision_ns, &err)) {
        write_error(req, shape, SX_EINVAL, err.msg);
        return -1;
    }
    if (value && *value) {
        o->extra_label = sx_str(label);
        o->extra_value = sx_str(value);
    }
    return 0;
}

static void influx_write(sx_api_ctx_t *ctx, sx_req_t *req, const sx_lp_opts_t *o, enum shape shape)
{
    sx_err_t err;
    sx_err_clear(&err);
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &req->arena);
    if (sx_line_protocol_decode(req->body.ptr, req->body.len, o, &b, &err))
        decode_failed(ctx, req, shape, &err);
    else
        store(ctx, req, &b, shape);
}

static void on_influx_v1(sx_req_t *req, void *arg)
{
    sx_lp_opts_t o;
    if (lp_opts(req, &o, "db", sx_req_param(req, "db"), SHAPE_INFLUX1) == 0)
        influx_write(arg, req, &o, SHAPE_INFLUX1);
}

static void on_influx_v2(sx_req_t *req, void *arg)
{
    sx_lp_opts_t o;
    const char *bucket = sx_req_param(req, "bucket");
    if (!bucket || !*bucket) {
        write_error(req, SHAPE_INFLUX2, SX_EINVAL, "bucket parameter is required");
        return;
    }
    if (lp_opts(req, &o, "bucket", bucket, SHAPE_INFLUX2) == 0)
        influx_write(arg, req, &o, SHAPE_INFLUX2);
}

static void on_ping(sx_req_t *req, void *arg)
{
    sx_resp_header(req, "X-Influxdb-Version", "1.8.10");
    sx_resp_header(req, "X-Influxdb-Build", "Sextant");
    sx_resp_set(req, 204, NULL);
}

/* ---- DataKit ---- */

static void on_datakit_write(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    sx_resp_header(req, "X-DataKit", DATAKIT_VERSION);
    const char *category = req->path_rest;
    if (strcmp(category, "metric") != 0 && strcmp(category, "metrics") != 0) {
        static const char *known[] = {"logging", "object", "custom_object", "rum", "network",
                                      "keyevent", "tracing", "security", "profiling"};
        bool is_known = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            is_known = is_known || strcmp(category, known[i]) == 0;
        sx_buf_clear(&req->out);
        if (is_known)
            sx_buf_printf(&req->out,
                          "{\"error_code\":\"datakit.categoryNotSupported\",\"message\":\"category %s is not stored by this Sextant yet\"}",
                          category);
        else
            sx_buf_puts(&req->out,
                        "{\"error_code\":\"datakit.invalidCategory\",\"message\":\"invalid category\"}");
        sx_resp_set(req, is_known ? 501 : 400, "application/json");
        return;
    }
    sx_lp_opts_t o;
    if (lp_opts(req, &o, "", NULL, SHAPE_DATAKIT))
        return;
    o.datakit = true;
    sx_err_t err;
    sx_err_clear(&err);
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &req->arena);
    bool json = req->content_type && strncasecmp(req->content_type, "application/json", 16) == 0;
    int rc = json ? sx_datakit_json_decode(req->body.ptr, req->body.len, &o, &b, &err)
                  : sx_line_protocol_decode(req->body.ptr, req->body.len, &o, &b, &err);
    if (rc) {
        decode_failed(ctx, req, SHAPE_DATAKIT, &err);
        return;
    }
    if (store(ctx, req, &b, SHAPE_DATAKIT) == 0)
        sx_resp_set(req, 200, "application/json"), sx_buf_puts(&req->out, "{}");
}

static void on_datakit_ping(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    sx_resp_header(req, "X-DataKit", DATAKIT_VERSION);
    double up = (double)(sx_now_ms() - ctx->start_ms) / 1000.0;
    sx_buf_clear(&req->out);
    sx_buf_printf(&req->out, "{\"content\":{\"version\":\"%s\",\"uptime\":\"%.3fs\"}}",
                  DATAKIT_VERSION, up);
    sx_resp_set(req, 200, "application/json");
}

static const sx_route_t routes[] = {
    {"POST", "/api/v1/push", on_remote_write, SX_ROUTE_RAWBODY, 0},
    {"POST", "/api/v1/write", on_remote_write, SX_ROUTE_RAWBODY, 0},
    {"POST", "/prometheus/api/v1/write", on_remote_write, SX_ROUTE_RAWBODY, 0},
    {"POST", "/write", on_influx_v1, 0, 0},
    {"POST", "/api/v2/write", on_influx_v2, 0, 0},
    {"GET", "/ping", on_ping, SX_ROUTE_NOAUTH, 0},
    {"POST", "/v1/write/", on_datakit_write, SX_ROUTE_PREFIX, 0},
    {"GET", "/v1/ping", on_datakit_ping, SX_ROUTE_NOAUTH, 0},
};

void sx_api_write_register(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_http_add_routes(h, routes, sizeof(routes) / sizeof(routes[0]), ctx);
}
