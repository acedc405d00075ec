/* SPDX-License-Identifier: Apache-2.0 */
/* OTLP/HTTP request decoders: ExportTraceServiceRequest,
 * ExportMetricsServiceRequest and ExportLogsServiceRequest, as protobuf
 * (application/x-protobuf) or OTLP JSON (application/json), each turned
 * into the internal model of its signal by a pure function of the body
 * (already decompressed by the HTTP layer), plus the encoders of the three
 * Export*ServiceResponse messages.
 *
 * Wire rules. Protobuf: a hand-written decoder; unknown fields are skipped,
 * repeated scalars are accepted packed and unpacked, the last of repeated
 * singular fields wins, strings must be UTF-8. JSON (the OTLP/HTTP
 * specification): field names in lowerCamelCase, and the proto names
 * (snake_case) as well; trace and span ids as hex strings of exactly 32 and
 * 16 digits (either case; "" means absent); 64-bit integers as decimal
 * strings or numbers; enums as integers (their names are accepted too);
 * bytes as base64 (standard or URL alphabet, padding optional); doubles as
 * numbers or "NaN", "Infinity", "-Infinity"; null for any absent field;
 * unknown fields ignored.
 *
 * Errors and partial success. A body that does not decode fails as a
 * whole: SX_EPARSE, the message naming the path in OTLP JSON names
 * ("resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex
 * digits"), with the byte offset for syntax errors; SX_ETOOLARGE when the
 * arena's per-request limit is hit. Items that decode but cannot be
 * accepted (a span without ids, a delta-temporality sum) are left out and
 * counted in sx_otlp_result_t, which becomes the response's
 * partial_success; the rest of the request is accepted. Any byte string is
 * safe to pass (the fuzz targets check it). On failure the output batch is
 * partly filled and must be discarded. */
#ifndef SX_INGEST_OTLP_H
#define SX_INGEST_OTLP_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../core/str.h"
#include "../model/log.h"
#include "../model/metric.h"
#include "../model/span.h"

/* Body formats, chosen by the handler from Content-Type. */
enum { SX_OTLP_PROTOBUF = 0, SX_OTLP_JSON = 1 };

/* Signals, for the response encoder. */
enum { SX_OTLP_TRACES = 0, SX_OTLP_METRICS = 1, SX_OTLP_LOGS = 2 };

/* What was not accepted: OTLP's partial_success. */
typedef struct sx_otlp_result {
    int64_t rejected; /* rejected spans, data points or log records */
    int64_t accepted; /* accepted spans, data points or log records (for self-metrics) */
    char msg[512];    /* the reasons, "; "-separated, cut at the size; "" when none */
} sx_otlp_result_t;

void sx_otlp_result_init(sx_otlp_result_t *res);

/* ---- Traces ---- */

/* Decode an ExportTraceServiceRequest into out (see model/span.h): one
 * resource per ResourceSpans, one scope per ScopeSpans, one span per Span.
 * A span whose trace id or span id is absent or all zero is rejected
 * (counted in res, named in res->msg); the others are accepted. A hex id
 * of the wrong length, a malformed field or broken framing fails the whole
 * request. */
int sx_otlp_traces_decode(const char *buf, size_t len, int format, sx_span_batch_t *out,
                          sx_otlp_result_t *res, sx_err_t *err);

/* ---- Logs ---- */

typedef struct sx_otlp_log_opts {
    /* Resource attributes that become stream labels (dots and other
     * invalid characters to '_'). NULL: Loki 3's default list
     * (SX_OTLP_LOKI_INDEX_ATTRS). service.name is always one, as
     * service_name. */
    const char *const *index_attrs;
    size_t nindex_attrs;
    int64_t now_ns; /* timestamp of records without time_unix_nano and observed_time_unix_nano */
} sx_otlp_log_opts_t;

/* The resource attributes Loki 3 turns into index labels by default
 * (distributor default_resource_attributes_as_index_labels), NULL-ended. */
extern const char *const sx_otlp_loki_index_attrs[];

/* Decode an ExportLogsServiceRequest into log streams, as Loki 3's OTLP
 * endpoint does. Every ResourceLogs becomes one stream whose labels are
 * service_name (service.name, "unknown_service" when absent) and the
 * opts->index_attrs that the resource has, names sanitized as Prometheus
 * label names (otlptranslator NormalizeLabel), values as strings (arrays
 * and maps as JSON). Each LogRecord becomes one entry:
 *   line      the body: a string body as is, any other value as its JSON
 *             text (an absent body gives an empty line);
 *   ts        time_unix_nano, else observed_time_unix_nano, else now_ns;
 *   metadata  in this order: the other resource attributes, scope_name,
 *             scope_version, the scope attributes, the record attributes
 *             (map values flattened into name_key pairs as Loki does), then
 *             trace_id and span_id (lower-case hex), severity_text,
 *             severity_number, flags, event_name and observed_timestamp, each
 *             only when present and not zero.
 * Nothing is rejected at this level: Loki's limits (line size, label count)
 * are the handler's, applied to the batch afterwards. */
int sx_otlp_logs_decode(const char *buf, size_t len, int format, const sx_otlp_log_opts_t *opts,
                        sx_log_batch_t *out, sx_otlp_result_t *res, sx_err_t *err);

/* ---- Metrics ---- */

typedef struct sx_otlp_metric_opts {
    /* Resource attributes copied onto every series of the resource
     * (Prometheus' otlp.promote_resource_attributes); none by default. */
    const char *const *promote_attrs;
    size_t npromote_attrs;
    bool scope_labels; /* add otel_scope_name and otel_scope_version labels */
    int64_t now_ns;    /* timestamp of data points without time_unix_nano */
} sx_otlp_metric_opts_t;

/* Decode an ExportMetricsServiceRequest into Prometheus series, following
 * the OpenTelemetry specification's "Prometheus and OpenMetrics
 * Compatibility" and Prometheus' own OTLP receiver (otlptranslator):
 *
 * - Names: the metric name split at every character outside [a-zA-Z0-9:]
 *   and joined with '_'; the unit's suffix appended unless already a word
 *   of the name (units in {braces} dropped, "ms" -> "milliseconds",
 *   "By" -> "bytes", "1" -> nothing, "foo/s" -> "foo_per_second", ...);
 *   "_total" for monotonic sums; "_ratio" for gauges with unit "1"; a
 *   leading digit gets '_'.
 * - Types: gauges and non-monotonic sums -> gauges; monotonic sums ->
 *   counters; histograms -> name_bucket{le=...} (cumulative counts, with
 *   le="+Inf" = count), name_sum (when sent), name_count; summaries ->
 *   name{quantile=...}, name_sum, name_count; exponential histograms ->
 *   native histograms (remote-write Histogram blobs, integer form, scale
 *   above 8 merged down to 8).
 * - Labels: data point attributes, names sanitized (invalid characters to
 *   '_', "key_" before a leading digit or a single leading '_'), values
 *   of names that collide joined with ';'; job = service.namespace "/"
 *   service.name (or service.name), instance = service.instance.id; one
 *   target_info gauge (value 1, at the resource's latest data point
 *   timestamp) per resource that has other attributes, carrying them as
 *   labels.
 * - Timestamps to ms; a data point flagged NO_RECORDED_VALUE becomes a
 *   stale marker (every series it gives).
 * - Metadata (type, help = description, unit = the Prometheus unit words)
 *   once per metric family per request.
 *
 * Delta temporality: a delta sum is a rate over its own interval, and
 * turning it into a Prometheus counter needs the running total from
 * earlier requests, which a stateless decoder does not have (Prometheus
 * needs its experimental delta conversion for the same reason). Sums,
 * histograms and exponential histograms whose temporality is not
 * CUMULATIVE are therefore rejected, every data point counted in res with
 * a message naming the metric; convert them to cumulative upstream (the
 * Collector's deltatocumulative processor). Data points that cannot be
 * translated (bucket counts that do not match the bounds, an exponential
 * scale below -4, a metric name empty after normalization) are rejected
 * the same way. */
int sx_otlp_metrics_decode(const char *buf, size_t len, int format,
                           const sx_otlp_metric_opts_t *opts, sx_metric_batch_t *out,
                           sx_otlp_result_t *res, sx_err_t *err);

/* The Prometheus metric name for an OTLP metric name and unit, by the rules
 * above; type is enum sx_metric_type (SX_MT_COUNTER for monotonic sums,
 * SX_MT_GAUGE for gauges, anything else for no type suffix). The result is
 * in arena a (or a slice of name). */
sx_str_t sx_otlp_metric_name(sx_arena_t *a, sx_str_t name, sx_str_t unit, int type);

/* ---- Transcoding ---- */

/* Re-encode an OTLP JSON request of signal (SX_OTLP_TRACES, ...) as the
 * equivalent protobuf request, appended to out (which may be
 * reallocated): field by field through the decoders' own schema, unknown
 * fields dropped, repeated scalars unpacked. For tests, fuzz oracles and
 * tools that must hand protobuf to a client that wants it. Scratch strings
 * go in arena a. Errors as the decoders' (SX_EPARSE with a path). */
int sx_otlp_json_to_protobuf(int signal, const char *buf, size_t len, sx_arena_t *a, sx_buf_t *out,
                             sx_err_t *err);

/* ---- Responses ---- */

/* Append the Export{Trace,Metrics,Logs}ServiceResponse for signal
 * (SX_OTLP_TRACES, ...) in format to out (which may be reallocated). The
 * partial_success field is set only when something was rejected or a
 * message is present: protobuf {1: {1: rejected, 2: message}}, JSON
 * {"partialSuccess":{"rejectedSpans":"N","errorMessage":"..."}} (the count
 * named rejectedDataPoints or rejectedLogRecords for the other signals), and
 * "{}" (JSON) or nothing (protobuf) otherwise. */
void sx_otlp_response_encode(int signal, int format, const sx_otlp_result_t *res, sx_buf_t *out);

#endif
