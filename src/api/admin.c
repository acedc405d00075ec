/* SPDX-License-Identifier: Apache-2.0 */
/* Operational endpoints: health and readiness probes, the server's own
 * metrics in Prometheus text format, a flush trigger, and the
 * VictoriaMetrics-style JSON-lines export and import of metric data (the
 * format lives in ingest/vm_import.h, so export followed by import is
 * lossless). The probes and /metrics need no token; everything touching a
 * tenant's data does. */
#include "api.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../ingest/vm_import.h"

/* ---- Probes ---- */

/* GET /health: JSON for load balancers and the seed-003 connector. */
static void on_health(sx_req_t *req, void *ctx)
{
    static const char body[] = "{\"status\":\"ok\"}";
    sx_resp_json(req, 200, body, sizeof(body) - 1);
}

/* GET /-/healthy and /-/ready: plain text, as Prometheus answers them. */
static void on_healthy(sx_req_t *req, void *ctx)
{
    sx_resp_text(req, 200, "Sextant is Healthy.\n");
}

static void on_ready(sx_req_t *req, void *ctx)
{
    sx_resp_text(req, 200, "Sextant is Ready.\n");
}

/* ---- Self metrics ---- */

/* One storage figure: a field of sx_storage_stats_t. */
typedef struct stat_metric {
    const char *name;
    const char *type;
    const char *help;
    size_t offset;   /* of the int64_t field in sx_storage_stats_t */
} stat_metric_t;

#define STAT(name, type, help, field) {name, type, help, offsetof(sx_storage_stats_t, field)}

static const stat_metric_t stat_metrics[] = {
    STAT("sextant_active_series", "gauge", "Series in the registries of all tenants.", series),
    STAT("sextant_head_samples", "gauge", "Samples in memory, not yet in parts.", head_samples),
    STAT("sextant_storage_parts", "gauge", "Immutable on-disk parts.", parts),
    STAT("sextant_storage_bytes", "gauge", "Bytes of on-disk parts.", part_bytes),
    STAT("sextant_wal_bytes", "gauge", "Bytes of write-ahead log.", wal_bytes),
    STAT("sextant_wal_fsyncs_total", "counter", "Write-ahead log fsync calls.", wal_fsyncs),
    STAT("sextant_samples_ingested_total", "counter", "Samples stored.", samples_appended),
    STAT("sextant_compactions_total", "counter", "Part merges done.", compactions),
    STAT("sextant_tenants", "gauge", "Tenants with a metric store.", tenants),
    STAT("sextant_log_streams", "gauge", "Log streams (logs, events, audit) of all tenants.", log_streams),
    STAT("sextant_log_head_entries", "gauge", "Log entries in memory, not yet in parts.", log_head_entries),
    STAT("sextant_log_entries_ingested_total", "counter", "Log entries stored.", log_entries_appended),
    STAT("sextant_log_bytes_ingested_total", "counter", "Log line bytes stored.", log_bytes_appended),
    STAT("sextant_log_entries_dropped_retention_total", "counter", "Log entries older than the retention, dropped.", log_dropped_retention),
    STAT("sextant_log_parts", "gauge", "Immutable on-disk log parts.", log_parts),
    STAT("sextant_log_part_bytes", "gauge", "Bytes of on-disk log parts.", log_part_bytes),
    STAT("sextant_log_part_raw_bytes", "gauge", "Line bytes held in on-disk log parts (before compression).", log_part_raw_bytes),
    STAT("sextant_log_wal_bytes", "gauge", "Bytes of log write-ahead logs.", log_wal_bytes),
    STAT("sextant_log_compactions_total", "counter", "Log part merges done.", log_compactions),
};

static void put_family(sx_buf_t *b, const char *name, const char *type, const char *help)
{
    sx_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value in the text format: backslash, quote and newline escaped. */
static void put_label_value(sx_buf_t *b, const char *s)
{
    sx_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            sx_buf_putc(b, '\\');
        if (*s == '\n') {
            sx_buf_puts(b, "\\n");
            continue;
        }
        sx_buf_putc(b, *s);
    }
    sx_buf_putc(b, '"');
}

static void put_sample(sx_buf_t *b, const char *name, const char *labels, double v)
{
    sx_buf_puts(b, name);
    if (labels)
        sx_buf_puts(b, labels);
    sx_buf_putc(b, ' ');
    sx_buf_prom_float(b, v);
    sx_buf_putc(b, '\n');
}

/* A family with one unlabelled sample. */
static void put_metric(sx_buf_t *b, const char *name, const char *type, const char *help, double v)
{
    put_family(b, name, type, help);
    put_sample(b, name, NULL, v);
}

/* Resident set size from /proc/self/statm, or -1 where it is unavailable. */
static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    unsigned long size, rss;
    int n = fscanf(f, "%lu %lu", &size, &rss);
    fclose(f);
    return n == 2 ? (double)rss * (double)sysconf(_SC_PAGESIZE) : -1;
}

static void write_metrics(sx_api_ctx_t *ctx, sx_buf_t *b)
{
    put_family(b, "sextant_build_info", "gauge",
               "A metric with a constant '1' value labeled by version and revision of Sextant.");
    sx_buf_puts(b, "sextant_build_info{version=");
    put_label_value(b, SX_VERSION);
    sx_buf_puts(b, ",revision=");
    put_label_value(b, SX_REVISION);
    sx_buf_puts(b, "} 1\n");

    put_metric(b, "sextant_start_time_seconds", "gauge",
               "Start time of the server since the Unix epoch in seconds.",
               (double)ctx->start_ms / 1e3);

    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        put_metric(b, "process_cpu_seconds_total", "counter",
                   "Total user and system CPU time spent in seconds.", cpu);
    }
    double rss = resident_bytes();
    if (rss >= 0) {
        put_metric(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                   rss);
    }

    sx_storage_stats_t st;
    memset(&st, 0, sizeof(st));
    sx_storage_stats(ctx->storage, &st);
    for (size_t i = 0; i < sizeof(stat_metrics) / sizeof(stat_metrics[0]); i++) {
        const stat_metric_t *m = &stat_metrics[i];
        int64_t v;
        memcpy(&v, (const char *)&st + m->offset, sizeof(v));
        put_metric(b, m->name, m->type, m->help, (double)v);
    }
    put_metric(b, "sextant_wal_fsync_seconds_total", "counter",
               "Time spent in write-ahead log fsync calls.", (double)st.wal_fsync_ns_total / 1e9);

    put_family(b, "sextant_samples_dropped_total", "counter", "Samples not stored, by reason.");
    static const char dropped[] = "sextant_samples_dropped_total";
    put_sample(b, dropped, "{reason=\"out_of_order\"}", (double)st.samples_dropped_ooo);
    put_sample(b, dropped, "{reason=\"retention\"}", (double)st.samples_dropped_retention);
    put_sample(b, dropped, "{reason=\"duplicate\"}", (double)st.samples_dropped_dup);

    put_metric(b, "sextant_disk_free_bytes", "gauge",
               "Free bytes on the data directory's file system.",
               (double)sx_storage_free_bytes(ctx->storage));
}

/* GET /metrics: text exposition format 0.0.4. */
static void on_metrics(sx_req_t *req, void *ctx)
{
    sx_api_ctx_t *c = ctx;
    sx_buf_clear(&req->out);
    write_metrics(c, &req->out);
    sx_http_metrics_write(c->http, &req->out);
    sx_resp_set(req, 200, "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- Data administration ---- */

/* POST /api/v1/admin/flush: seal every tenant's head into parts. */
static void on_flush(sx_req_t *req, void *ctx)
{
    sx_api_ctx_t *c = ctx;
    int rc = sx_storage_flush(c->storage);
    if (rc) {
        sx_api_prom_error(req, rc, NULL);
        return;
    }
    static const char body[] = "{\"status\":\"success\"}";
    sx_resp_json(req, 200, body, sizeof(body) - 1);
}

/* GET|POST /api/v1/export: match[] (at least one), start, end. One JSON
 * line per series with samples in the range, in label order. Each series'
 * samples are read into a scratch arena that is reset after its line is
 * written, so memory grows with the answer, not twice over. */
static void on_export(sx_req_t *req, void *ctx)
{
    sx_api_ctx_t *c = ctx;
    sx_str_t *vals;
    if (sx_req_params(req, "match[]", &vals) == 0) {
        sx_api_prom_error(req, SX_EPARSE, "no match[] parameter provided");
        return;
    }
    int64_t mint, maxt;
    sx_api_match_t *sets;
    size_t nsets;
    if (sx_api_time_range(req, &mint, &maxt) || sx_api_matches_parse(req, &sets, &nsets))
        return;
    sx_tsdb_t *db = sx_storage_tsdb_peek(c->storage, req->tenant);
    sx_api_series_t *series = NULL;
    size_t n = 0;
    bool more;
    int rc = 0;
    if (db)
        rc = sx_api_series_select(db, sets, nsets, mint, maxt, 0, &req->arena, &series, &n, &more);
    sx_api_matches_dispose(sets, nsets);
    if (rc) {
        sx_api_prom_error(req, rc, NULL);
        return;
    }
    sx_buf_clear(&req->out);
    sx_arena_t scratch;
    sx_arena_init(&scratch);
    for (size_t i = 0; i < n; i++) {
        sx_series_data_t d;
        memset(&d, 0, sizeof(d));
        if ((rc = sx_tsdb_series_read(db, series[i].id, mint, maxt, &scratch, &d)))
            break;
        sx_vm_export_line(&req->out, series[i].labels, series[i].nlabels, d.ts, d.v, d.n, d.hists,
                          d.nhists);
        sx_arena_reset(&scratch);
    }
    sx_arena_dispose(&scratch);
    if (rc) {
        sx_api_prom_error(req, rc, NULL);
        return;
    }
    sx_resp_set(req, 200, "application/stream+json");
}

/* POST /api/v1/import: the export format back in. The whole body is decoded
 * before anything is appended, and the store applies the batch completely
 * or not at all, so a bad line anywhere leaves no trace. 204 on success. */
static void on_import(sx_req_t *req, void *ctx)
{
    sx_api_ctx_t *c = ctx;
    sx_metric_batch_t batch;
    sx_metric_batch_init(&batch, &req->arena);
    sx_err_t err;
    sx_err_clear(&err);
    int rc = sx_vm_import_decode(req->body.ptr, req->body.len, &batch, &err);
    if (rc) {
        sx_api_prom_error(req, rc, err.msg);
        return;
    }
    if (batch.nseries > 0) {
        sx_tsdb_t *db = sx_api_tsdb_for_write(c, req);
        if (!db)
            return;
        sx_append_result_t res;
        memset(&res, 0, sizeof(res));
        sx_err_clear(&err);
        if ((rc = sx_tsdb_append(db, &batch, &res, &err))) {
            sx_api_prom_error(req, rc, err.msg);
            return;
        }
    }
    sx_buf_clear(&req->out);
    sx_resp_set(req, 204, NULL);
}

/* ---- Routes ---- */

static const sx_route_t routes[] = {
    {"GET", "/health", on_health, SX_ROUTE_NOAUTH, 0},
    {"GET", "/-/healthy", on_healthy, SX_ROUTE_NOAUTH, 0},
    {"GET", "/-/ready", on_ready, SX_ROUTE_NOAUTH, 0},
    {"GET", "/metrics", on_metrics, SX_ROUTE_NOAUTH, 0},
    {"POST", "/api/v1/admin/flush", on_flush, 0, 0},
    {"GET", "/api/v1/export", on_export, 0, 0},
    {"POST", "/api/v1/export", on_export, 0, 0},
    {"POST", "/api/v1/import", on_import, 0, 0},
};

void sx_api_admin_register(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_http_add_routes(h, routes, sizeof(routes) / sizeof(routes[0]), ctx);
}
