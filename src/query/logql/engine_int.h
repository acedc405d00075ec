/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the LogQL engine shared by its files: the pipeline
 * (pipeline.c), range aggregation reducers (rangeagg.c) and the evaluator
 * (eval.c). */
#ifndef SX_QUERY_LOGQL_ENGINE_INT_H
#define SX_QUERY_LOGQL_ENGINE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/buf.h"
#include "../promql/promql_int.h"
#include "engine.h"
#include "labels.h"

static inline double sx_lq__absent(void)
{
    return pq_absent();
}

/* ---- Range aggregation reducers ---- */

enum sx_lq_rop {
    SX_LQ_R_COUNT, SX_LQ_R_RATE, SX_LQ_R_BYTES, SX_LQ_R_BYTES_RATE, SX_LQ_R_SUM,
    SX_LQ_R_RATE_SUM, SX_LQ_R_AVG, SX_LQ_R_MIN, SX_LQ_R_MAX, SX_LQ_R_STDVAR, SX_LQ_R_STDDEV,
    SX_LQ_R_QUANTILE, SX_LQ_R_FIRST, SX_LQ_R_LAST, SX_LQ_R_RATE_COUNTER, SX_LQ_R_ABSENT,
};

/* Reduce one series' sorted samples (ts ns, v) into out[nsteps]: the
 * window of step s is (step_end_ns[s] - range_ns, step_end_ns[s]];
 * empty windows get sx_lq__absent(). scratch holds n doubles. */
void sx_lq__range_reduce(int op, double param, const int64_t *ts, const double *v, size_t n,
                         const int64_t *step_end_ns, size_t nsteps, int64_t range_ns, double *out,
                         double *scratch);

/* ---- Pipeline ---- */

typedef struct sx_lq_pipe sx_lq_pipe_t;

/* Compile the stages of a log expression (and, for a range aggregation,
 * its unwrap and post-unwrap filters). Templates and parsers' parameters
 * are compiled here; errors are SX_EPARSE. The pipeline belongs to one
 * thread at a time. */
sx_lq_pipe_t *sx_lq__pipe_create(const sx_logql_expr_t *log, const sx_logql_unwrap_t *unwrap,
                                 sx_arena_t *a, sx_err_t *err);
void sx_lq__pipe_destroy(sx_lq_pipe_t *p);
/* A copy for another thread: it shares the compiled parts (read-only
 * while running) and has its own labels builder (growing in a, which must
 * be that thread's), line buffers and PCRE2 match data. Destroy clones
 * before p when p is the one sx_lq__pipe_create made: it owns the
 * compiled templates. */
sx_lq_pipe_t *sx_lq__pipe_clone(const sx_lq_pipe_t *p, sx_arena_t *a);

/* Run one entry through the pipeline. Returns false when a stage drops
 * it. On true, *line is the (possibly rewritten) line, valid until the
 * next run, and sx_lq__pipe_labels gives the labels. With an unwrap,
 * *value is the unwrapped sample (0 with __error__ set on failure) and
 * the unwrapped label is gone from the labels. */
bool sx_lq__pipe_run(sx_lq_pipe_t *p, const sx_label_t *stream, uint32_t nstream, int64_t ts,
                     sx_str_t *line, const sx_label_t *meta, uint32_t nmeta, double *value);
sx_lq_labels_t *sx_lq__pipe_labels(sx_lq_pipe_t *p);
/* Whether the pipeline only filters lines (no parser, formatter or label
 * stage), so output labels are the stream's plus metadata. */
bool sx_lq__pipe_lines_only(const sx_lq_pipe_t *p);
/* Mark in mask[0..n) the lines of a block that may pass the pipeline's
 * leading |= filter, searching the block's bytes at once instead of line
 * by line (lines must be adjacent in memory, as the store delivers them).
 * Returns false when there is no such filter (every line is a candidate;
 * mask untouched). */
bool sx_lq__pipe_prefilter(const sx_lq_pipe_t *p, const sx_str_t *lines, size_t n, uint8_t *mask);

/* Substrings every kept line must contain (the leading |= filters), for
 * the store's bloom filters. Arena memory. */
size_t sx_lq__pipe_needles(const sx_lq_pipe_t *p, sx_str_t **out, sx_arena_t *a);

#endif
