/* SPDX-License-Identifier: Apache-2.0 */
/* Wire-format decoders for logs, Kubernetes events and Kubernetes audit
 * events. Each turns request bytes (already decompressed by the HTTP layer:
 * gzip, deflate and Loki's snappy are not seen here) into an
 * sx_log_batch_t in the batch arena and nothing else, so each can be
 * fuzzed alone. Strings point into the request body where they can (the
 * body must outlive the batch) and into the batch arena otherwise. A
 * decoder succeeds for the whole body or fails with err naming the
 * problem; on failure the batch is left partly filled and must be
 * discarded: requests are all or nothing. */
#ifndef SX_INGEST_LOG_INGEST_H
#define SX_INGEST_LOG_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../core/str.h"
#include "../model/log.h"
#include "../model/metric.h"

/* ---- Loki push (POST /loki/api/v1/push) ---- */

/* Loki's answer to a push that carries no stream at all. Loki sends it with
 * status 422; the decoders return it as SX_EINVAL, so a handler that wants
 * Loki's status compares the message with this string. */
#define SX_LOKI_NO_STREAMS_MSG "error at least one valid stream is required for ingestion"

/* Loki's default limits on structured metadata, which sx_log_limits_t does
 * not carry: at most 128 pairs and 64 KiB (names plus values) per entry. */
#define SX_LOKI_MAX_SM_ENTRIES 128
#define SX_LOKI_MAX_SM_BYTES (64 * 1024)

/* Decode a logproto.PushRequest (protobuf, snappy already removed):
 * streams{labels = "{a=\"b\"}" text, entries{timestamp{seconds, nanos},
 * line, structuredMetadata{name, value}}}. Unknown fields are skipped by
 * the wire rules; the stream hash and the entries' "parsed" pairs are
 * ignored. Lines and metadata are slices of buf (any bytes, as Loki); label
 * values are slices of buf unless they had escapes. lim may be NULL for
 * SX_LOG_LIMITS_DEFAULT.
 *
 * Every stream is validated as Loki's distributor does, with Loki's
 * messages (stream labels shown as sent): label string syntax, at least
 * one label, label count (service_name not counted, as Loki), name and
 * value length, duplicate names, line size (lim->max_line_size, 0 = no
 * limit), structured metadata count and size; label values must also be
 * valid UTF-8 (Loki does not check; we do). Labels are sorted by name and
 * empty values dropped. A stream without entries is validated and then
 * left out of the batch (Loki accepts it and stores nothing).
 *
 * Errors: SX_EPARSE for malformed protobuf (message names the stream and
 * entry index and the byte offset) or a label string that does not parse
 * ("Error parsing labels '{foo=bar}' with error: 1:6: parse error: ...");
 * SX_EINVAL for a failed validation or a request without streams
 * (SX_LOKI_NO_STREAMS_MSG); SX_ETOOLARGE when the arena limit is hit. */
int sx_loki_push_decode_pb(const char *buf, size_t len, const sx_log_limits_t *lim,
                           sx_log_batch_t *out, sx_err_t *err);

/* Decode Loki's JSON push body:
 *   {"streams":[{"stream":{"a":"b"},
 *                "values":[["<ns>","<line>"],["<ns>","<line>",{"trace_id":"x"}]]}]}
 * The timestamp must be a string holding integer nanoseconds (Loki rejects
 * JSON numbers there, and so do we). The third element is structured
 * metadata, string values only. Unknown keys are skipped; "values" may come
 * before "stream"; null stands for an absent "streams", "stream",
 * "values", line or metadata value. Duplicate keys in "stream" and in the
 * metadata object: the last one wins (Loki decodes both into Go maps).
 * Label names that are not [a-zA-Z_][a-zA-Z0-9_]* fail the way Loki fails
 * them: the label map is rendered as {k="v", ...} and that text does not
 * parse. Validation, limits and errors as sx_loki_push_decode_pb, with
 * SX_EPARSE for JSON syntax ("invalid JSON at offset N: ..."). Strings
 * without escapes are slices of buf; escaped strings are decoded into the
 * arena. A scanner written for this one shape, without allocation per
 * value: the decoding cost is a small part of the ingest budget. */
int sx_loki_push_decode_json(const char *buf, size_t len, const sx_log_limits_t *lim,
                             sx_log_batch_t *out, sx_err_t *err);

/* Parse a Prometheus-style label set as Loki reads a stream's labels
 * (Prometheus' ParseMetric): `{foo="bar", baz='qux', q=`raw`}`, Go string
 * escapes, optional trailing comma, optional metric name in front (it
 * becomes __name__), "" and "{}" for no labels. On success *out (arena)
 * holds *n labels sorted by name, empty values dropped, duplicates kept
 * for the caller to report. Names are slices of s; values are slices of s
 * unless they had escapes (then arena copies), so s must outlive them.
 * Errors: SX_EPARSE with Loki's wording, e.g. "Error parsing labels
 * '{foo=bar}' with error: 1:6: parse error: unexpected identifier \"bar\"
 * in label set, expected string"; SX_ETOOLARGE when the arena is full. */
int sx_loki_labels_parse(sx_str_t s, sx_arena_t *a, sx_label_t **out, uint32_t *n,
                         sx_err_t *err);

/* Render labels as Loki and Prometheus print a label set:
 * {a="b", c="d"}, values quoted as Go's strconv.Quote (so the text parses
 * back with sx_loki_labels_parse). Appends to out (may reallocate). */
void sx_loki_labels_format(sx_buf_t *out, const sx_label_t *labels, uint32_t n);

/* Encode a batch as an uncompressed logproto.PushRequest and append it to
 * out (which may be reallocated; the old pointer is invalid after the
 * call). Labels are written with sx_loki_labels_format, timestamps as
 * {seconds, nanos} with nanos in [0, 1e9). Used by tests, the load
 * generator and the CLI; the caller snappy-compresses for the wire. */
void sx_loki_push_encode_pb(const sx_log_batch_t *b, sx_buf_t *out);

/* ---- Kubernetes events ---- */

/* Decode Kubernetes Event objects (core/v1 or events.k8s.io/v1) as JSON: a
 * single object, a JSON array of them, or any object with an "items" array
 * (an EventList). Events are low volume, so this uses jansson.
 *
 * Each event becomes one entry whose line is the event object as compact
 * JSON (keys in the order received). Its timestamp is the first of these
 * that is present and parses as RFC 3339: lastTimestamp (or
 * deprecatedLastTimestamp), eventTime, series.lastObservedTime,
 * metadata.creationTimestamp, firstTimestamp (or deprecatedFirstTimestamp);
 * else now_ns. A timestamp that does not parse counts as absent.
 *
 * Stream labels (events with equal labels share a stream):
 *   namespace  involvedObject.namespace, else regarding.namespace, else
 *              metadata.namespace
 *   kind       involvedObject.kind, else regarding.kind
 *   type       type (Normal, Warning)
 *   reason     reason
 * Empty or absent ones (and values over 2048 bytes) are left out; an event
 * with none of the four gets the single label kind="Event", so every
 * stream has at least one label.
 *
 * Structured metadata, each only when present and not empty:
 *   name              involvedObject.name / regarding.name
 *   uid               involvedObject.uid / regarding.uid
 *   api_version       involvedObject.apiVersion / regarding.apiVersion
 *   event_name        metadata.name
 *   source_component  source.component, else reportingController, else
 *                     deprecatedSource.component
 *   source_host       source.host, else reportingInstance, else
 *                     deprecatedSource.host
 *   count             count, else series.count, else deprecatedCount
 *   first_timestamp   firstTimestamp / deprecatedFirstTimestamp, as sent
 *   last_timestamp    lastTimestamp / deprecatedLastTimestamp, as sent
 *   message           message, else note
 *   workspace         label, else annotation, kubesphere.io/workspace of
 *                     the event's metadata
 *
 * All strings are copied into the batch arena (buf need not outlive the
 * batch). Errors: SX_EPARSE when the body is not JSON, is not an object or
 * array, or an item is not an object ("item 3 is a string, want an
 * object"). An empty array or list decodes to an empty batch. */
int sx_k8s_events_decode(const char *buf, size_t len, int64_t now_ns, sx_log_batch_t *out,
                         sx_err_t *err);

/* Decode Kubernetes audit events (audit.k8s.io/v1 Event) as JSON, in the
 * same three shapes; the API server's audit webhook posts an EventList.
 * KubeSphere's re-emitted audit events, whose keys are Go field names
 * ("AuditID", "ObjectRef", "Workspace"), are read too: every key is looked
 * up as written and then with its first letter upper-cased.
 *
 * Line: the object as compact JSON. Timestamp: stageTimestamp, else
 * requestReceivedTimestamp, else now_ns.
 * Stream labels: namespace (objectRef.namespace), verb, resource
 * (objectRef.resource), level; absent ones are left out, and an object with
 * none of them (never a real audit event) gets verb="unknown".
 * Structured metadata: audit_id (auditID), stage, user (user.username),
 * name (objectRef.name), api_group (objectRef.apiGroup), subresource
 * (objectRef.subresource), code (responseStatus.code), source_ip
 * (sourceIPs[0]), request_uri (requestURI), user_agent (userAgent),
 * workspace (top-level workspace/Workspace, else the annotation
 * "kubesphere.io/workspace", else that label or annotation on
 * requestObject.metadata). Ownership and errors as sx_k8s_events_decode. */
int sx_k8s_audit_decode(const char *buf, size_t len, int64_t now_ns, sx_log_batch_t *out,
                        sx_err_t *err);

/* ---- Kubernetes labels for log streams ---- */

/* The label count normalization will not go beyond (Loki's default
 * max_label_names_per_series). */
#define SX_LOG_K8S_MAX_LABELS 15

/* Give log streams the canonical Kubernetes labels that KubeSphere's log
 * filters use: namespace, pod, container, workload.
 *
 * Sources, first found wins, for each canonical label:
 *
 *   label      stream labels, in order                   record in the line
 *   ---------  ----------------------------------------  -------------------------------
 *   namespace  namespace, kubernetes_namespace_name,      kubernetes.namespace_name
 *              k8s_namespace_name, namespace_name
 *   pod        pod, kubernetes_pod_name, k8s_pod_name,    kubernetes.pod_name
 *              pod_name
 *   container  container, kubernetes_container_name,      kubernetes.container_name
 *              k8s_container_name, container_name
 *   workload   workload, k8s_deployment_name,             kubernetes.labels (below)
 *              k8s_statefulset_name, k8s_daemonset_name,
 *              k8s_cronjob_name, k8s_job_name
 *
 * (kubernetes_* is Fluent Bit's kubernetes filter flattened by its Loki
 * output; k8s_* is the OpenTelemetry k8s.* resource attributes as Loki's
 * OTLP endpoint names them.) Stream labels win over the line. The line is
 * read only when a stream lacks namespace, pod or container, and only when
 * it is a JSON object: the Fluent Bit record shape
 * {"log":..., "kubernetes":{"namespace_name":..., "pod_name":...,
 * "container_name":..., "labels":{...}}}. Top-level "namespace", "pod" or
 * "container" keys of application logs are not trusted: an application
 * could place its lines in another namespace's view. Values taken from
 * lines must look like Kubernetes names (lower-case alphanumerics, '-' and
 * '.', at most 253 bytes); others are ignored.
 *
 * When the entries of one stream carry different values, the stream is
 * split: one stream per distinct set of values, entries keeping their
 * order; entries without Kubernetes fields stay under the original labels.
 * The first group keeps the stream's slot, the others are appended to the
 * batch.
 *
 * Workload, when no source gives it, comes from the pod: the line's
 * kubernetes.labels "pod-template-hash" (the pod name minus
 * "-<hash>-<suffix>"), else "job-name", else the pod name with the suffix a
 * controller adds stripped: Deployment "<name>-<hash>-<x>" (hash 5 to 10
 * and x 5 characters of bcdfghjklmnpqrstvwxz2456789), StatefulSet
 * "<name>-<ordinal>", DaemonSet and Job "<name>-<x>". A pod name with none
 * of these suffixes gives no workload.
 *
 * Label limit: a stream never ends up with more than SX_LOG_K8S_MAX_LABELS
 * labels because of this function. Canonical labels are added in the
 * order namespace, pod, container, workload while there is room. When there
 * is none and the value came from an alias label (kubernetes_pod_name, ...),
 * the alias is renamed to the canonical name instead (the count does not
 * change; queries on the alias name no longer match that stream). Values
 * from lines that do not fit are dropped, workload first.
 *
 * Streams without any Kubernetes information are left as they are. New
 * label arrays and strings live in the batch arena. Errors: SX_ETOOLARGE
 * when the arena is full (the batch is then unusable); content never
 * fails. */
int sx_log_k8s_normalize(sx_log_batch_t *b, sx_err_t *err);

/* Workload name from a pod name as above ("web-7d9c5b8f4-x2x7q" -> "web",
 * "db-0" -> "db"); returns false (and leaves *out alone) when the name has
 * no controller suffix. *out is a prefix of pod. */
bool sx_k8s_workload_from_pod(sx_str_t pod, sx_str_t *out);

#endif
