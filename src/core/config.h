/* SPDX-License-Identifier: Apache-2.0 */
/* Server configuration. One option table drives command-line flags
 * (--name), environment variables (SEXTANT_NAME with '-' as '_') and the
 * YAML file (--config FILE, key "name" or the same with '_'), and --help and
 * the README's configuration section are generated from it. Precedence:
 * flag > environment > file > default. */
#ifndef SX_CORE_CONFIG_H
#define SX_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

typedef struct sx_token {
    char *token;
    char *tenant;
} sx_token_t;

typedef struct sx_config {
    char **listen;          /* HOST:PORT, repeatable; default 127.0.0.1:4318 */
    size_t nlisten;
    char *data_dir;         /* default ./sextant-data */
    int64_t retention_ms;   /* 0 keeps data forever; default 30d */
    int64_t retention_max_bytes; /* 0 = no size limit */
    int64_t min_free_bytes; /* writes get 507 below this much free disk; default 64MiB */
    int64_t ooo_window_ms;  /* out-of-order window; default 1h */
    int64_t head_flush_ms;  /* seal head into a part at this age; default 2h */
    int64_t max_body_bytes; /* request body limit (after decompression too); default 64MiB */
    int workers;            /* HTTP worker threads; 0 = number of cores */
    int64_t query_timeout_ms;     /* PromQL evaluation limit; default 2m */
    int query_max_samples;        /* samples one query may hold; default 50,000,000 */
    int query_max_concurrency;    /* queries evaluated at once; others wait; default 20 */
    int64_t query_lookback_ms;    /* lookback delta; default 5m */
    int query_parallelism;        /* threads per query for range functions; 0 = cores */
    int tail_max_connections;     /* Loki tails (WebSockets) open at once; default 100 */
    bool span_metrics;            /* derive span metrics and service graph series from spans */
    int64_t span_metrics_interval_ms; /* how often they are written to the metric store; 15s */
    int64_t span_metrics_slack_ms;    /* count only spans that ended this close to now; 0 = all */
    int64_t service_graph_wait_ms;    /* how long a client or server span waits for its pair */
    int span_metrics_max_series;      /* per tenant, span metrics and graph edges together */
    char *tls_cert;         /* PEM file; TLS on when cert and key are set */
    char *tls_key;
    char *tls_client_ca;    /* PEM file; when set, clients must present a cert signed by it */
    char *log_level;        /* debug|info|warn|error */
    bool access_log;        /* one logfmt line per request */
    sx_token_t *tokens;     /* X-Auth-Token to tenant; none = single tenant */
    size_t ntokens;
    char *config_file;      /* the --config file read, if any */
} sx_config_t;

/* Fill cfg with defaults, then the YAML file named by --config (or
 * SEXTANT_CONFIG), then the environment, then argv (argv[0] is the first
 * option, not the program name). Unknown options and bad values fail with
 * err naming them. cfg must be released with sx_config_dispose. */
int sx_config_load(sx_config_t *cfg, int argc, char **argv, sx_err_t *err);
void sx_config_dispose(sx_config_t *cfg);
/* Print the option table as --help text (flags, env names, defaults). */
void sx_config_print_help(FILE *out);
/* Print the option table as a Markdown table (for the README). */
void sx_config_print_markdown(FILE *out);
/* Parse a size with optional unit: 1024, 64KiB, 10MB, 1GiB, 5GB. */
int sx_size_parse(const char *s, int64_t *bytes, sx_err_t *err);

#endif
