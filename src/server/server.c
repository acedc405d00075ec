/* SPDX-License-Identifier: Apache-2.0 */
/* The serve loop: open storage (replaying logs), register every API
 * family, listen, then wait for a signal and shut down in order: stop
 * accepting and finish requests, then flush and close storage. */
#include "server.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "../api/api.h"
#include "../core/log.h"
#include "../core/time.h"
#include "../http/server.h"
#include "../storage/storage.h"
#include "../storage/traces/spanmetrics.h"

int sx_server_run(const sx_config_t *cfg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Block before any thread starts, so only sigwait sees them. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Query and request arenas come and go in 64 KiB chunks. Keep freed
     * heap for the next request instead of returning it to the kernel at
     * once and faulting it back in (a fifth of a large query's time). */
    mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 16 * 1024 * 1024);
    /* Each malloc arena keeps up to the trim threshold: bound how many. */
    mallopt(M_ARENA_MAX, 4);

    sx_err_t err;
    sx_err_clear(&err);
    sx_log_info("server", "sextant %s (revision %s) starting, data in %s, retention %s", SX_VERSION,
                SX_REVISION, cfg->data_dir, cfg->retention_ms ? "on" : "off (keep forever)");
    if (cfg->ntokens == 0)
        sx_log_warn("server", "no auth tokens configured: running single-tenant without "
                              "authentication (every request is tenant \"default\")");
    sx_storage_opts_t so = {
        .data_dir = cfg->data_dir,
        .retention_ms = cfg->retention_ms,
        .retention_max_bytes = cfg->retention_max_bytes,
        .min_free_bytes = cfg->min_free_bytes,
        .ooo_window_ms = cfg->ooo_window_ms,
        .head_flush_ms = cfg->head_flush_ms,
    };
    sx_storage_t *storage = sx_storage_open(&so, &err);
    if (!storage) {
        sx_log_error("server", "cannot open storage: %s", err.msg);
        return 1;
    }
    sx_http_t *http = sx_http_create(cfg, &err);
    if (!http) {
        sx_log_error("server", "%s", err.msg);
        sx_storage_close(storage);
        return 1;
    }
    sx_api_ctx_t ctx = {.storage = storage, .http = http, .cfg = cfg, .start_ms = sx_now_ms()};
    if (cfg->span_metrics) {
        sx_spanmetrics_opts_t mo = {
            .interval_ms = cfg->span_metrics_interval_ms,
            .slack_ms = cfg->span_metrics_slack_ms,
            .wait_ms = cfg->service_graph_wait_ms,
            .max_series = (uint32_t)cfg->span_metrics_max_series,
        };
        ctx.spanmetrics = sx_spanmetrics_open(storage, &mo, &err);
        if (!ctx.spanmetrics)
            sx_log_warn("server", "span metrics are off: %s", err.msg);
    }
    sx_api_register_all(http, &ctx);
    if (sx_http_start(http, &err)) {
        sx_log_error("server", "%s", err.msg);
        sx_http_destroy(http);
        sx_spanmetrics_close(ctx.spanmetrics);
        sx_storage_close(storage);
        return 1;
    }
    sx_log_info("server", "ready");
    int sig = 0;
    sigwait(&set, &sig);
    sx_log_info("server", "received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    sx_http_destroy(http);
    sx_spanmetrics_close(ctx.spanmetrics); /* a last write before storage closes */
    sx_storage_close(storage);
    sx_log_info("server", "stopped");
    return 0;
}
