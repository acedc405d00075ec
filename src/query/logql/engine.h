/* SPDX-License-Identifier: Apache-2.0 */
/* The LogQL engine: evaluates a parsed query (logql.h) against a log
 * store. Log queries return streams of entries (newest or oldest first,
 * up to a limit); metric queries return a PromQL result, because after
 * the range aggregations (computed here from the log lines) everything -
 * vector aggregations, binary operators, label_replace, sort - is PromQL's
 * own evaluator working on those series. */
#ifndef SX_QUERY_LOGQL_ENGINE_H
#define SX_QUERY_LOGQL_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/error.h"
#include "../../storage/logs/logstore.h"
#include "../promql/promql.h"
#include "logql.h"

typedef struct sx_logql_params {
    int64_t start_ns, end_ns; /* log queries: [start, end); metric: steps start..end */
    int64_t step_ns;          /* metric range queries; 0 = instant at end_ns */
    int64_t interval_ns;      /* log queries: at most one entry per interval; 0 = all */
    size_t limit;             /* log queries: entries in the answer */
    bool backward;            /* log queries: newest first */
    bool categorize;          /* log queries: group entries by their stream labels only
                               * (structured metadata and parsed labels ride with each
                               * entry), as Loki does for categorize-labels */
} sx_logql_params_t;

typedef struct sx_logql_opts {
    int64_t deadline_ns;      /* CLOCK_MONOTONIC; 0 = none */
    atomic_bool *cancel;
    int64_t max_series;       /* metric series per range aggregation; 0 = 500,000 */
    int64_t max_samples;      /* samples held by the PromQL stage */
    int parallelism;          /* threads reading streams; 0 = online CPUs */
} sx_logql_opts_t;

void sx_logql_opts_default(sx_logql_opts_t *o);

/* Figures for Loki's "stats" object. */
typedef struct sx_logql_stats {
    int64_t exec_ns;
    uint64_t bytes_processed;     /* line bytes read */
    uint64_t lines_processed;     /* lines read */
    uint64_t post_filter_lines;   /* lines that passed the pipeline */
    uint64_t chunks_ref, chunks_read, chunks_skipped;
    uint64_t bytes_decompressed;
    uint64_t entries_returned;
    uint64_t streams;
} sx_logql_stats_t;

typedef struct sx_logql_entry {
    int64_t ts;
    sx_str_t line;
    const sx_label_t *meta;   /* structured metadata of the entry */
    uint32_t nmeta;
    const sx_label_t *parsed; /* labels the pipeline extracted */
    uint32_t nparsed;
} sx_logql_entry_t;

typedef struct sx_logql_stream {
    sx_label_t *labels;       /* all labels: stream, metadata and parsed, sorted */
    uint32_t nlabels;
    sx_label_t *stream;       /* the stream labels alone (categorize-labels) */
    uint32_t nstream;
    sx_logql_entry_t *e;      /* in answer order (direction) */
    size_t n;
} sx_logql_stream_t;

typedef struct sx_logql_result {
    bool is_streams;
    sx_logql_stream_t *streams; /* sorted by labels */
    size_t nstreams;
    sx_promql_result_t metric;  /* metric queries */
    sx_logql_stats_t stats;
} sx_logql_result_t;

/* Evaluate e. ls may be NULL (a tenant without logs: empty answers).
 * Everything in the result lives in a. Errors: SX_EEXEC (pipeline error,
 * too many series), SX_ETIMEOUT, SX_ECANCELED, SX_EPARSE (a template or
 * regex that fails at run time). */
int sx_logql_eval(sx_logstore_t *ls, const sx_logql_expr_t *e, const sx_logql_params_t *p,
                  const sx_logql_opts_t *o, sx_arena_t *a, sx_logql_result_t *out, sx_err_t *err);

#endif
