/* SPDX-License-Identifier: Apache-2.0 */
/* Registration of every API family and the Prometheus answer helpers. */
#include "api.h"

#include <stdio.h>
#include <string.h>

#include "../core/time.h"

void sx_api_register_all(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_api_admin_register(h, ctx);
    sx_api_write_register(h, ctx);
    sx_api_prometheus_register(h, ctx);
    sx_api_query_register(h, ctx);
    sx_api_loki_register(h, ctx);
    sx_api_kubesphere_register(h, ctx);
    sx_api_otlp_register(h, ctx);
    sx_api_traces_register(h, ctx);
}

static const char *error_type(int rc)
{
    switch (rc) {
    case SX_EINVAL:
    case SX_EPARSE:
    case SX_EBADLABEL:
        return "bad_data";
    case SX_EEXEC:
    case SX_ELIMIT:
        return "execution";
    case SX_ETIMEOUT:
        return "timeout";
    case SX_ECANCELED:
        return "canceled";
    case SX_EUNAVAIL:
    case SX_ENOSPC:
        return "unavailable";
    case SX_ENOTFOUND:
        return "not_found";
    case SX_EAUTH:
        return "unauthorized";
    case SX_ETOOLARGE:
        return "bad_data";
    default:
        return "internal";
    }
}

void sx_api_prom_error(sx_req_t *req, int rc, const char *msg)
{
    sx_buf_clear(&req->out);
    sx_buf_puts(&req->out, "{\"status\":\"error\",\"errorType\":\"");
    sx_buf_puts(&req->out, error_type(rc));
    sx_buf_puts(&req->out, "\",\"error\":");
    if (!msg || !*msg)
        msg = sx_strerror(rc);
    sx_buf_json_str(&req->out, msg, strlen(msg));
    sx_buf_putc(&req->out, '}');
    int status = sx_err_http_status(rc);
    if (rc == SX_EEXEC || rc == SX_ELIMIT)
        status = 422;
    sx_resp_set(req, status, "application/json");
}

void sx_api_prom_success_begin(sx_req_t *req)
{
    sx_buf_clear(&req->out);
    sx_buf_puts(&req->out, "{\"status\":\"success\",\"data\":");
}

void sx_api_prom_success_end(sx_req_t *req)
{
    sx_buf_putc(&req->out, '}');
    sx_resp_set(req, 200, "application/json");
}

int sx_api_time_range(sx_req_t *req, int64_t *mint, int64_t *maxt)
{
    sx_err_t err;
    const char *s = sx_req_param(req, "start"), *e = sx_req_param(req, "end");
    *mint = INT64_MIN;
    *maxt = INT64_MAX;
    if (s && *s && sx_timestamp_parse(sx_str(s), mint, &err)) {
        char msg[600];
        snprintf(msg, sizeof(msg), "invalid parameter \"start\": %s", err.msg);
        sx_api_prom_error(req, SX_EPARSE, msg);
        return -1;
    }
    if (e && *e && sx_timestamp_parse(sx_str(e), maxt, &err)) {
        char msg[600];
        snprintf(msg, sizeof(msg), "invalid parameter \"end\": %s", err.msg);
        sx_api_prom_error(req, SX_EPARSE, msg);
        return -1;
    }
    if (*mint > *maxt) {
        sx_api_prom_error(req, SX_EPARSE, "end timestamp must not be before start time");
        return -1;
    }
    return 0;
}

sx_tsdb_t *sx_api_tsdb_for_write(sx_api_ctx_t *ctx, sx_req_t *req)
{
    sx_err_t err;
    sx_err_clear(&err);
    sx_tsdb_t *db = sx_storage_tsdb(ctx->storage, req->tenant, &err);
    if (!db)
        sx_api_prom_error(req, err.code ? err.code : SX_EIO, err.msg);
    return db;
}
