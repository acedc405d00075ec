/* SPDX-License-Identifier: Apache-2.0 */
/* Wire-format decoders for metrics. Each turns request bytes (already
 * decompressed by the HTTP layer) into an sx_metric_batch_t in the request
 * arena and nothing else, so each can be fuzzed alone. A decoder either
 * succeeds for the whole body or fails with err naming the problem and
 * leaves the batch to be discarded: requests are all or nothing. */
#ifndef SX_INGEST_INGEST_H
#define SX_INGEST_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../model/metric.h"

/* ---- Prometheus remote write 1.0 ---- */

/* Decode an uncompressed prompb.WriteRequest: timeseries (labels, samples,
 * native histograms kept as opaque blobs) and metric metadata. Validates
 * labels (sx_labels_validate) unless out->labels_unchecked is set. Values
 * may be any float and keep their bits (stale markers included). Errors
 * name the series index and labels. */
int sx_remote_write_decode(const char *buf, size_t len, sx_metric_batch_t *out, sx_err_t *err);

/* Encode a batch as an uncompressed prompb.WriteRequest (appends to out).
 * Used by the load generator, the CLI and tests. */
void sx_remote_write_encode(const sx_metric_batch_t *batch, sx_buf_t *out);

/* ---- InfluxDB line protocol and DataKit ---- */

typedef struct sx_lp_opts {
    int64_t precision_ns;  /* multiplier to nanoseconds: 1 (n), 1000 (u), 1e6 (ms), 1e9 (s), 60e9 (m), 3600e9 (h) */
    int64_t now_ns;        /* timestamp for points that carry none */
    sx_str_t extra_label;  /* e.g. "db"; empty for none */
    sx_str_t extra_value;  /* its value (the db/bucket parameter) */
    bool datakit;          /* apply DataKit's data constraints (seed 002) */
} sx_lp_opts_t;

/* Parse a line protocol body and map it to series: field f of measurement m
 * becomes series m_f with the tags as labels (names sanitized to valid
 * Prometheus names); integer, unsigned, float and boolean (1/0) fields are
 * samples, string fields are skipped. Timestamps are cut to milliseconds. */
int sx_line_protocol_decode(const char *buf, size_t len, const sx_lp_opts_t *opts,
                            sx_metric_batch_t *out, sx_err_t *err);

/* DataKit JSON body: an array (or single object) of {measurement, tags,
 * fields, time}; mapped exactly as line protocol. */
int sx_datakit_json_decode(const char *buf, size_t len, const sx_lp_opts_t *opts,
                           sx_metric_batch_t *out, sx_err_t *err);

/* Precision parameter ("n", "ns", "u", "us", "ms", "s", "m", "h"; empty means
 * nanoseconds) to the nanosecond multiplier. */
int sx_lp_precision_parse(sx_str_t s, int64_t *mult, sx_err_t *err);

#endif
