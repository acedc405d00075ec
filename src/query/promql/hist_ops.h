/* SPDX-License-Identifier: Apache-2.0 */
/* Arithmetic on native histograms (sx_promql_hist_t), as Prometheus 3.5's
 * FloatHistogram does it in model/histogram/float_histogram.go: copy,
 * schema reduction, + and - with zero-bucket reconciliation, scaling,
 * compaction, exact equality, counter-reset detection, and the increase of
 * a window of points that rate(), increase() and delta() extrapolate.
 * Inputs are never modified; every result is a new histogram whose arrays
 * all live in the caller's arena (custom_values included), so a result
 * never shares memory with its inputs. */
#ifndef SX_QUERY_PROMQL_HIST_OPS_H
#define SX_QUERY_PROMQL_HIST_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/error.h"
#include "promql.h"

/* Schema number of histograms with custom bucket bounds (NHCB). */
#define SX_PROMQL_HIST_CUSTOM_SCHEMA (-53)

/* counter_reset_hint values, as Prometheus' CounterResetHint. */
enum {
    SX_PROMQL_HIST_HINT_UNKNOWN = 0,
    SX_PROMQL_HIST_HINT_RESET = 1,
    SX_PROMQL_HIST_HINT_NOT_RESET = 2,
    SX_PROMQL_HIST_HINT_GAUGE = 3,
};

/* Result codes of add, sub and increase besides 0 and SX_E* codes. They
 * are Prometheus' two histogram errors, which PromQL never reports as
 * errors but turns into annotations and a dropped sample; they are not in
 * SX_ERRNO_MAP and must not reach sx_strerror or the API layer. */
enum {
    /* ErrHistogramsIncompatibleSchema: one operand has exponential
     * buckets, the other custom buckets. PromQL's annotation is "vector
     * contains a mix of histograms with exponential and custom buckets
     * schemas" (or, in binary operators, the incompatible-bucket-layout
     * warning). */
    SX_PROMQL_HIST_EMIXED = -1901,
    /* ErrHistogramsIncompatibleBounds: both have custom buckets but their
     * custom_values differ. Annotation: "vector contains histograms with
     * incompatible custom buckets". */
    SX_PROMQL_HIST_EBOUNDS = -1902,
    /* sx_promql_hist_increase only: the window mixes floats (NULL
     * entries) and histograms. */
    SX_PROMQL_HIST_EFLOATS = -1903,
};

/* Annotations sx_promql_hist_increase asks its caller to emit, as bits,
 * named after the Prometheus constructors that make them. */
enum {
    SX_PROMQL_HIST_ANNOT_MIXED_FLOATS = 1 << 0,    /* MixedFloatsHistogramsWarning */
    SX_PROMQL_HIST_ANNOT_MIXED_SCHEMAS = 1 << 1,   /* MixedExponentialCustomHistogramsWarning */
    SX_PROMQL_HIST_ANNOT_INCOMPAT_BOUNDS = 1 << 2, /* IncompatibleCustomBucketsHistogramsWarning */
    SX_PROMQL_HIST_ANNOT_NOT_COUNTER = 1 << 3,     /* NativeHistogramNotCounterWarning */
    SX_PROMQL_HIST_ANNOT_NOT_GAUGE = 1 << 4,       /* NativeHistogramNotGaugeWarning */
};

/* Upper bound of bucket idx in schema (Prometheus' getBound): for
 * exponential schemas -4..8 it comes from Prometheus' own table of
 * fractions, bit for bit, and is DBL_MAX for the last finite bucket; for
 * custom buckets it is custom[idx], +Inf at idx == ncustom and -Inf at
 * idx == -1 (NaN for any other index). The lower bound of bucket idx is
 * the upper bound of idx - 1. */
double sx_promql_hist_bound(int32_t idx, int32_t schema, const double *custom, uint32_t ncustom);

/* A deep copy of h in arena a (Prometheus' Copy): same spans, same
 * buckets, empty buckets kept. A custom-bucket histogram's copy has zero
 * threshold, zero count and negative side cleared, as Prometheus' Copy
 * does. Returns 0 and *out, or SX_ENOMEM when the arena's limit is
 * reached (*out is then NULL). */
/* One bucket of a histogram: its bounds, its count and its side (-1 a
 * negative bucket, 0 the zero bucket, 1 a positive or custom bucket). */
typedef struct sx_promql_bucket {
    double lower, upper, count;
    int side;
} sx_promql_bucket_t;

/* Every bucket of h from the lowest to the highest value, as Prometheus'
 * AllBucketIterator walks them (bounds next to the zero bucket clipped to
 * its threshold, empty buckets inside spans included). The array is in
 * arena a; returns the count. Shared by the histogram functions, the JSON
 * answer and the histogram's text form. */
size_t sx_promql_hist_buckets(const sx_promql_hist_t *h, sx_arena_t *a, sx_promql_bucket_t **out);

int sx_promql_hist_copy(const sx_promql_hist_t *h, sx_arena_t *a, sx_promql_hist_t **out);

/* A copy of h at the lower (or equal) resolution schema (Prometheus'
 * CopyToSchema): neighbouring buckets that fall into one bucket of the
 * target schema are summed, bucket idx of schema s going to
 * ((idx - 1) >> (s - schema)) + 1. The counter reset hint is not carried
 * over when the schema changes (it is unknown), as in Prometheus.
 * Returns 0, SX_EINVAL when schema is above h's, when either is custom
 * and they differ, or when h's schema is invalid, or SX_ENOMEM. */
int sx_promql_hist_copy_to_schema(const sx_promql_hist_t *h, int32_t schema, sx_arena_t *a,
                                  sx_promql_hist_t **out);

/* x + y, computed as Prometheus' x.Copy().Add(y); x is the receiver,
 * which matters only in corner cases of zero-bucket reconciliation. The
 * result has the lower of the two schemas, the wider zero bucket (widened
 * further where the threshold would cut through a populated bucket; the
 * buckets it swallows go into the zero count), count, sum and zero count
 * added, and the counter reset hint merged as Add does (equal stays; a
 * gauge operand makes a gauge; otherwise unknown). The result is
 * compacted (Compact(0): no empty buckets, no empty or adjacent spans).
 * Returns 0 and *out, SX_PROMQL_HIST_EMIXED (exponential with custom
 * buckets), SX_PROMQL_HIST_EBOUNDS (custom buckets with different bounds),
 * SX_EINVAL for an invalid schema, or SX_ENOMEM; *out is NULL on error. */
int sx_promql_hist_add(const sx_promql_hist_t *x, const sx_promql_hist_t *y, sx_arena_t *a,
                       sx_promql_hist_t **out);

/* x - y, as Prometheus' x.Copy().Sub(y): like sx_promql_hist_add with y's
 * counts negated. The hint is x's (Sub leaves it alone; PromQL's binary
 * "-" sets the result to a gauge itself). Same return codes as add. */
int sx_promql_hist_sub(const sx_promql_hist_t *x, const sx_promql_hist_t *y, sx_arena_t *a,
                       sx_promql_hist_t **out);

/* h * f and h / f (Prometheus' Mul and Div): count, sum, zero count and
 * every bucket scaled, bucket layout unchanged. Division by 0 follows Go's
 * float arithmetic for count, sum and zero count (±Inf, or NaN for 0/0)
 * and, as Prometheus 3.5, drops every bucket. The hint is kept. Returns 0
 * and *out, or SX_ENOMEM. */
int sx_promql_hist_mul(const sx_promql_hist_t *h, double f, sx_arena_t *a, sx_promql_hist_t **out);
int sx_promql_hist_div(const sx_promql_hist_t *h, double f, sx_arena_t *a, sx_promql_hist_t **out);

/* A copy of h compacted as Prometheus' Compact(0): buckets with a count
 * of 0 (either sign) are dropped and the spans rebuilt so that each span
 * is a maximal run of consecutive populated buckets (no zero-length
 * spans, no zero offsets after the first). NaN buckets are kept. Returns
 * 0 and *out, or SX_ENOMEM. */
int sx_promql_hist_compact(const sx_promql_hist_t *h, sx_arena_t *a, sx_promql_hist_t **out);

/* Prometheus' FloatHistogram.Equals: same schema, same count, sum, zero
 * count and bucket counts bit for bit (so NaN sums are equal when their
 * bits are, and 0 differs from -0), the same zero threshold by value, the
 * same custom bounds for custom buckets, and the same bucket layout,
 * where zero-length spans are folded into the next span. Empty buckets
 * count: no compaction happens here, as in Prometheus, so compact first
 * where layout should not matter. False when either is NULL. */
bool sx_promql_hist_equal(const sx_promql_hist_t *x, const sx_promql_hist_t *y);

/* Prometheus' DetectReset: whether cur, the sample after prev, starts a
 * new counter. A hint of reset or not-reset on cur decides at once;
 * otherwise it is a reset when the count went down, when exponential and
 * custom buckets meet or custom bounds differ, when the schema went up or
 * the zero threshold went down, when the zero threshold grew into a
 * populated bucket of prev or the zero count (with prev's buckets inside
 * the new zero bucket added) went down, or when any bucket of prev
 * (merged to cur's schema) is populated and missing or smaller in cur.
 * Prometheus' scan stops checking a trailing run of prev buckets once it
 * meets an empty one where cur has no bucket left; that is kept. */
bool sx_promql_hist_detect_reset(const sx_promql_hist_t *cur, const sx_promql_hist_t *prev);

/* The raw increase of a window of histogram points in time order, as
 * Prometheus 3.5's histogramRate before extrapolation: last - first
 * computed at the lowest schema in the window, plus, when is_counter,
 * every point that precedes a counter reset (sx_promql_hist_detect_reset)
 * added back. A reset between the first and second point makes the first
 * point count as empty, so its bucket layout is ignored. The result is
 * compacted, has the gauge hint, and lives in arena a; the caller scales
 * it (sx_promql_hist_mul) for rate()/increase()/delta(). pts[i] == NULL
 * marks a float point. annot (may be NULL) receives the
 * SX_PROMQL_HIST_ANNOT_* bits to emit for this series; like Prometheus,
 * some error paths replace the annotations gathered so far rather than
 * add to them, and *annot mirrors that.
 * Returns 0 and *out, or, with *out NULL (the series is dropped):
 * SX_PROMQL_HIST_EFLOATS (MIXED_FLOATS), SX_PROMQL_HIST_EMIXED
 * (MIXED_SCHEMAS), SX_PROMQL_HIST_EBOUNDS (INCOMPAT_BOUNDS), SX_EINVAL for
 * n == 0 or an invalid schema, SX_ENOMEM. */
int sx_promql_hist_increase(sx_promql_hist_t *const *pts, size_t n, bool is_counter, sx_arena_t *a,
                            sx_promql_hist_t **out, int *annot);

#endif
