/* SPDX-License-Identifier: Apache-2.0 */
/* Native histogram samples between storage and the PromQL engine. The
 * metric store keeps a histogram sample opaque, as the bytes of the
 * remote-write protobuf Histogram message (sx_hist_sample_t.blob); the
 * engine computes on sx_promql_hist_t, Prometheus' FloatHistogram with
 * absolute bucket counts. This pair converts between the two. */
#ifndef SX_QUERY_PROMQL_HIST_H
#define SX_QUERY_PROMQL_HIST_H

#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/buf.h"
#include "../../core/error.h"
#include "promql.h"

/* Decode a remote-write Histogram message in integer form (count_int,
 * delta-encoded *_deltas) or float form (count_float, absolute *_counts)
 * into a float histogram with absolute bucket counts. Arrays go in arena
 * a; out's pointers stay NULL where a part is empty. Unknown fields are
 * skipped, as protobuf requires. The timestamp field is ignored (the
 * sample's own timestamp rules).
 * Returns 0, or SX_EPARSE with err naming the problem for any input that
 * is not a well-formed, self-consistent histogram: truncated framing, a
 * wire type that does not fit the field, a schema outside -4..8 and not
 * -53 (custom buckets), span lengths that do not add up to the number of
 * bucket counts, bucket indices outside int32, and for custom buckets
 * negative indices, indices past the last bound (+Inf bucket) or bounds
 * that are not strictly increasing. Any byte string is safe to pass. */
int sx_promql_hist_decode(sx_str_t blob, sx_arena_t *a, sx_promql_hist_t *out, sx_err_t *err);

/* Append h in float form (count_float, zero_count_float, *_counts,
 * spans, custom_values for schema -53, reset_hint) with timestamp ts (ms)
 * to out, which may reallocate (the old out->ptr is invalid after the
 * call). The oneof members count_float and zero_count_float are always
 * written, so the decoder sees the float form even when they are 0;
 * other fields are left out when zero, as proto3 does. */
void sx_promql_hist_encode(const sx_promql_hist_t *h, int64_t ts, sx_buf_t *out);

#endif
