/* SPDX-License-Identifier: Apache-2.0 */
/* The metric store of one tenant: a series registry with an inverted index,
 * a write-ahead log, an in-memory head and immutable compressed parts in
 * day partitions. Appending a batch is the only write path; readers select
 * series with label matchers and read their samples in a time range. */
#ifndef SX_STORAGE_TSDB_TSDB_H
#define SX_STORAGE_TSDB_TSDB_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/error.h"
#include "../../model/metric.h"

typedef struct sx_tsdb sx_tsdb_t;

typedef struct sx_tsdb_opts {
    int64_t retention_ms;   /* 0 = keep forever */
    int64_t ooo_window_ms;
    int64_t min_free_bytes;
} sx_tsdb_opts_t;

/* ---- Writing ---- */

typedef struct sx_append_result {
    uint64_t appended;          /* samples stored */
    uint64_t dropped_ooo;       /* older than the out-of-order window */
    uint64_t dropped_retention; /* older than the retention */
    uint64_t dropped_dup;       /* exact duplicates of stored samples */
    uint64_t new_series;
} sx_append_result_t;

/* Append a validated batch. The batch stays the caller's: labels are copied
 * into the registry, so the caller may reset its arena as soon as this
 * returns (the ingest -> storage ownership boundary). The batch is in the
 * write-ahead log and fsynced before this returns 0; on any error
 * (SX_ENOSPC when the disk is full, SX_EIO) nothing from it is applied.
 * Samples outside the out-of-order window or the retention are dropped and
 * counted in res, as are exact duplicates. Metadata entries are stored
 * (latest wins per metric family). */
int sx_tsdb_append(sx_tsdb_t *db, const sx_metric_batch_t *batch, sx_append_result_t *res,
                   sx_err_t *err);

/* Seal the head into parts; returns when the parts are durable. */
int sx_tsdb_flush(sx_tsdb_t *db);

/* ---- Reading ---- */

enum sx_match_op { SX_MATCH_EQ, SX_MATCH_NEQ, SX_MATCH_RE, SX_MATCH_NRE };

typedef struct sx_matcher {
    sx_str_t name;
    sx_str_t value;
    int op;               /* enum sx_match_op */
    void *_re;            /* compiled pattern, set by sx_matcher_compile */
} sx_matcher_t;

/* Compile a matcher's regular expression, anchored at both ends as
 * Prometheus does (^(?:value)$). No-op for = and !=. The compiled pattern
 * is released by sx_matcher_dispose. */
int sx_matcher_compile(sx_matcher_t *m, sx_err_t *err);
void sx_matcher_dispose(sx_matcher_t *m);
bool sx_matcher_matches(const sx_matcher_t *m, sx_str_t value);

/* Parse a series selector as used in match[]: `metric`, `{a="b"}`,
 * `metric{a=~"x.*",b!="c"}`. Matchers (and their strings) go in the arena;
 * regexes are compiled. At least one matcher must not match the empty
 * string, as Prometheus requires. */
int sx_selector_parse(sx_str_t s, sx_arena_t *a, sx_matcher_t **out, size_t *n, sx_err_t *err);
void sx_selector_dispose(sx_matcher_t *m, size_t n);

/* A selection of series: ids in the registry, sorted by label set. */
typedef struct sx_series_set {
    uint32_t *ids;
    size_t n;
} sx_series_set_t;

/* Select the series matching all matchers that have samples in [mint, maxt]
 * (ms, inclusive). ids are allocated in the arena. */
int sx_tsdb_select(sx_tsdb_t *db, const sx_matcher_t *m, size_t n, int64_t mint, int64_t maxt,
                   sx_arena_t *a, sx_series_set_t *out);

/* Labels of a series, sorted by name, copied into the arena. */
int sx_tsdb_series_labels(sx_tsdb_t *db, uint32_t id, sx_arena_t *a, sx_label_t **labels,
                          uint32_t *n);

/* Samples of a series in [mint, maxt], merged across head and parts,
 * sorted by time, duplicates removed (the newest write wins). Arrays in the
 * arena. Histogram samples are returned through hists (may be NULL). */
typedef struct sx_series_data {
    int64_t *ts;
    double *v;
    size_t n;
    sx_hist_sample_t *hists;
    size_t nhists;
} sx_series_data_t;
int sx_tsdb_series_read(sx_tsdb_t *db, uint32_t id, int64_t mint, int64_t maxt, sx_arena_t *a,
                        sx_series_data_t *out);

/* Label names (sorted, unique) of the series matching the matchers (all
 * series when n == 0) with samples in [mint, maxt]. */
int sx_tsdb_label_names(sx_tsdb_t *db, const sx_matcher_t *m, size_t n, int64_t mint, int64_t maxt,
                        sx_arena_t *a, sx_str_t **out, size_t *nout);
/* Values (sorted, unique) of one label over the matching series. */
int sx_tsdb_label_values(sx_tsdb_t *db, sx_str_t name, const sx_matcher_t *m, size_t n,
                         int64_t mint, int64_t maxt, sx_arena_t *a, sx_str_t **out, size_t *nout);

/* Metric metadata: every family (or just `metric` when not empty), at most
 * limit entries (0 = all). */
int sx_tsdb_metadata(sx_tsdb_t *db, sx_str_t metric, size_t limit, sx_arena_t *a,
                     sx_metric_meta_t **out, size_t *nout);

#endif
