/* SPDX-License-Identifier: Apache-2.0 */
/* The storage layer's front door: the data directory, one store per tenant
 * and data kind, and the background work (flush, compaction, retention).
 * It is the only code that touches the data directory. Layout:
 *   <data>/tenants/<tenant>/tsdb/      metric store of that tenant
 *   <data>/tenants/<tenant>/logs/      log store (Loki push, OTLP logs)
 *   <data>/tenants/<tenant>/events/    Kubernetes events (a log store)
 *   <data>/tenants/<tenant>/auditing/  Kubernetes audit events (a log store)
 *   <data>/tenants/<tenant>/traces/    spans (a log store)
 * Tenants never share a store, so they never see each other's data. */
#ifndef SX_STORAGE_STORAGE_H
#define SX_STORAGE_STORAGE_H

#include <stdint.h>

#include "../core/error.h"
#include "logs/logstore.h"
#include "tsdb/tsdb.h"

typedef struct sx_storage sx_storage_t;

typedef struct sx_storage_opts {
    const char *data_dir;
    int64_t retention_ms;        /* 0 = keep forever */
    int64_t retention_max_bytes; /* 0 = no size limit */
    int64_t min_free_bytes;      /* writes fail with SX_ENOSPC below this */
    int64_t ooo_window_ms;
    int64_t head_flush_ms;
} sx_storage_opts_t;

/* Open (creating if needed) the data directory and every tenant store in
 * it, replaying write-ahead logs; starts the background thread. Returns
 * NULL and fills err on failure (unwritable dir, corrupt store). */
sx_storage_t *sx_storage_open(const sx_storage_opts_t *opts, sx_err_t *err);
/* Stop background work, flush write-ahead logs and close every store. */
void sx_storage_close(sx_storage_t *s);

/* The metric store of a tenant, opened on first use. Returns NULL only on
 * an I/O error (err filled). The store lives until sx_storage_close. */
sx_tsdb_t *sx_storage_tsdb(sx_storage_t *s, const char *tenant, sx_err_t *err);
/* The metric store of a tenant if it exists already, else NULL (readers
 * use this so that queries never create directories). */
sx_tsdb_t *sx_storage_tsdb_peek(sx_storage_t *s, const char *tenant);

/* The log stores of a tenant, by kind. */
enum sx_log_kind {
    SX_LOGS = 0,
    SX_EVENTS = 1,
    SX_AUDIT = 2,
    SX_TRACES = 3, /* spans, one entry each (see src/api/traces.c) */
    SX_LOG_KINDS = 4
};
/* The log store of a kind for a tenant, opened on first use (NULL + err
 * on an I/O error or an invalid tenant name). */
sx_logstore_t *sx_storage_logs(sx_storage_t *s, const char *tenant, int kind, sx_err_t *err);
/* The log store if it exists already, else NULL (for readers). */
sx_logstore_t *sx_storage_logs_peek(sx_storage_t *s, const char *tenant, int kind);

/* Wake the log flusher now (a log head is over its size limit). */
void sx_storage_kick(sx_storage_t *s);

/* Seal every tenant's head into on-disk parts; returns when durable. */
int sx_storage_flush(sx_storage_t *s);

/* Free bytes on the data directory's file system (statvfs). */
int64_t sx_storage_free_bytes(sx_storage_t *s);

/* Aggregated figures for /metrics over all tenants. */
typedef struct sx_storage_stats {
    int64_t series;          /* active series (in the registry) */
    int64_t head_samples;    /* samples in memory */
    int64_t parts;
    int64_t part_bytes;
    int64_t wal_bytes;
    int64_t wal_fsyncs;
    int64_t wal_fsync_ns_total;
    int64_t samples_appended;
    int64_t samples_dropped_ooo;       /* older than the out-of-order window */
    int64_t samples_dropped_retention; /* older than the retention */
    int64_t samples_dropped_dup;       /* exact duplicates */
    int64_t compactions;
    int64_t tenants;
    /* log stores (all kinds) */
    int64_t log_streams;
    int64_t log_head_entries;
    int64_t log_entries_appended;
    int64_t log_bytes_appended;
    int64_t log_dropped_retention;
    int64_t log_parts;
    int64_t log_part_bytes;
    int64_t log_part_raw_bytes;
    int64_t log_wal_bytes;
    int64_t log_compactions;
} sx_storage_stats_t;
void sx_storage_stats(sx_storage_t *s, sx_storage_stats_t *out);

#endif
