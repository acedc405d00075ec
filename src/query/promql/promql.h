/* SPDX-License-Identifier: Apache-2.0 */
/* The PromQL engine's interface: parse a query, evaluate it against one
 * tenant's metric store at an instant or over a range of steps, and hand
 * back the answer in Prometheus' value model (scalar, string, vector,
 * matrix). The API layer encodes the answer as JSON; the conformance
 * runner compares it with expected values. Everything an evaluation builds
 * lives in the caller's arena; the engine keeps no state between queries. */
#ifndef SX_QUERY_PROMQL_PROMQL_H
#define SX_QUERY_PROMQL_PROMQL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/buf.h"
#include "../../core/error.h"
#include "../../model/metric.h"
#include "../../storage/tsdb/tsdb.h"

/* Result value types, named as in Prometheus' JSON resultType. */
enum sx_promql_type {
    SX_PROMQL_NONE = 0,
    SX_PROMQL_SCALAR,
    SX_PROMQL_VECTOR, /* instant vector */
    SX_PROMQL_MATRIX, /* range vector */
    SX_PROMQL_STRING,
};
const char *sx_promql_type_name(int type); /* "scalar", "vector", "matrix", "string" */

/* A native histogram value in float form (Prometheus' FloatHistogram).
 * Buckets are absolute counts, laid out by spans as in the exposition
 * format: span i covers len[i] buckets starting offset[i] after the end
 * of the previous span (the first relative to index 0). schema -53 means
 * custom bucket bounds (custom_values). */
typedef struct sx_promql_span {
    int32_t offset;
    uint32_t len;
} sx_promql_span_t;

typedef struct sx_promql_hist {
    int32_t schema;
    uint8_t counter_reset_hint; /* 0 unknown, 1 reset, 2 not reset, 3 gauge */
    double zero_threshold;
    double zero_count;
    double count;
    double sum;
    sx_promql_span_t *pos_spans, *neg_spans;
    uint32_t npos_spans, nneg_spans;
    double *pos, *neg; /* bucket counts, one per bucket the spans cover */
    uint32_t npos, nneg;
    double *custom_values; /* upper bounds, schema -53 only */
    uint32_t ncustom;
} sx_promql_hist_t;

/* One series of an answer. A vector has one point per series; a matrix
 * has the points of each series in time order. h is NULL when the series
 * has only float points; otherwise h[i] is non-NULL where point i is a
 * histogram (and v[i] is then meaningless). */
typedef struct sx_promql_series {
    sx_label_t *labels; /* sorted by name */
    uint32_t nlabels;
    size_t n;
    int64_t *t; /* ms */
    double *v;
    sx_promql_hist_t **h;
} sx_promql_series_t;

/* Annotations as Prometheus returns them in "warnings" and "infos". */
typedef struct sx_promql_notes {
    const char **warnings;
    size_t nwarnings;
    const char **infos;
    size_t ninfos;
} sx_promql_notes_t;

typedef struct sx_promql_result {
    int type;           /* enum sx_promql_type */
    double scalar;      /* SX_PROMQL_SCALAR */
    int64_t t;          /* scalar/string time (ms) of an instant query */
    sx_str_t str;       /* SX_PROMQL_STRING */
    sx_promql_series_t *series; /* SX_PROMQL_VECTOR / SX_PROMQL_MATRIX */
    size_t nseries;
    /* Matrix results of range queries are sorted by labels; vector results
     * are in evaluation order, which matters after sort() and topk(). */
    bool ordered;
    sx_promql_notes_t notes;
    /* Figures for stats and the benchmark. */
    int64_t samples_loaded;
    int64_t peak_samples;
} sx_promql_result_t;

/* Engine settings; sx_promql_opts_default fills Prometheus' defaults. */
typedef struct sx_promql_opts {
    int64_t lookback_ms;      /* 5m */
    int64_t max_samples;      /* samples in memory at once; 50,000,000 */
    int64_t subquery_step_ms; /* step of [range:] subqueries; 1m */
    int64_t deadline_ns;      /* CLOCK_MONOTONIC; 0 = none */
    atomic_bool *cancel;      /* set by another thread to abandon the query; may be NULL */
    bool delayed_name_removal; /* Prometheus 3 feature flag; on in conformance */
    int parallelism;           /* threads for range-function windows; online CPUs, at most 8 */
    size_t parallel_min_series; /* fewer series than this run on one thread (512), unless
                                 * there are an eighth of them and 32,768 series-steps */
    bool div_by_zero_nan;      /* x / 0 and x % 0 give NaN (LogQL's rule), not +-Inf */
} sx_promql_opts_t;
void sx_promql_opts_default(sx_promql_opts_t *o);

/* A parsed query. Opaque; lives in the arena it was parsed into. */
typedef struct pq_node sx_promql_expr_t;

/* Parse a query. Returns 0 and the expression (in arena a), or SX_EPARSE
 * with err naming the position and the problem the way Prometheus words
 * it ("1:7: parse error: unexpected end of input"). Regular expressions are
 * compiled: release them with sx_promql_expr_dispose. */
int sx_promql_parse(sx_str_t query, sx_arena_t *a, sx_promql_expr_t **out, sx_err_t *err);
void sx_promql_expr_dispose(sx_promql_expr_t *e);
int sx_promql_expr_type(const sx_promql_expr_t *e); /* enum sx_promql_type */

/* Print an expression in Prometheus' canonical single-line form (what
 * /api/v1/format_query answers, without the pretty indentation). */
void sx_promql_format(const sx_promql_expr_t *e, sx_buf_t *out);
/* Append the AST as JSON in the shape of Prometheus' /api/v1/parse_query. */
void sx_promql_ast_json(const sx_promql_expr_t *e, sx_buf_t *out);

/* Evaluate at one instant (t in ms). db may be NULL (an empty store).
 * Returns 0 and the result in arena a, or an error code: SX_EEXEC for
 * execution errors (with err's message as Prometheus words it), SX_ELIMIT
 * when the query would load more than opts->max_samples samples,
 * SX_ETIMEOUT past the deadline, SX_ECANCELED when canceled. */
int sx_promql_eval_instant(sx_tsdb_t *db, const sx_promql_opts_t *opts, sx_promql_expr_t *e,
                           int64_t t, sx_arena_t *a, sx_promql_result_t *out, sx_err_t *err);
/* Evaluate at every step from start to end (inclusive, ms). The answer is
 * a matrix (or an error for string-typed queries, as Prometheus). */
int sx_promql_eval_range(sx_tsdb_t *db, const sx_promql_opts_t *opts, sx_promql_expr_t *e,
                         int64_t start, int64_t end, int64_t step, sx_arena_t *a,
                         sx_promql_result_t *out, sx_err_t *err);

#endif
