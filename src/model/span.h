/* SPDX-License-Identifier: Apache-2.0 */
/* The internal model of trace data between the OTLP decoder (ingest/otlp)
 * and the trace store (storage/traces): a batch of spans, each pointing to
 * its instrumentation scope, which points to its resource, as OTLP groups
 * them. All of a batch lives in the request arena and points into the
 * request body where it can (strings without escapes, protobuf bytes); the
 * body must outlive the batch, and storage copies what it keeps (the
 * ownership boundary). Arrays are appended by index: hold indices, not
 * pointers, across add calls, which may move an array. */
#ifndef SX_MODEL_SPAN_H
#define SX_MODEL_SPAN_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/str.h"

/* The type of an attribute value: OTLP's AnyValue oneof. */
enum sx_anyval_type {
    SX_AV_EMPTY = 0,  /* no value set (an empty AnyValue) */
    SX_AV_STRING = 1, /* s: the text */
    SX_AV_BOOL = 2,   /* b */
    SX_AV_INT = 3,    /* i */
    SX_AV_DOUBLE = 4, /* d */
    SX_AV_BYTES = 5,  /* s: the raw bytes (base64-decoded when the body was JSON) */
    SX_AV_ARRAY = 6,  /* s: the ArrayValue as compact OTLP JSON, {"values":[{"stringValue":"x"}]} */
    SX_AV_KVLIST = 7, /* s: the KeyValueList as compact OTLP JSON, {"values":[{"key":"k","value":{...}}]} */
};

/* One attribute value. Arrays and key-value lists are kept as their OTLP
 * JSON text, written the same way whatever the request's format, so a
 * store can index them as strings and give them back losslessly. */
typedef struct sx_anyval {
    int type; /* enum sx_anyval_type */
    union {
        sx_str_t s; /* SX_AV_STRING, SX_AV_BYTES, SX_AV_ARRAY, SX_AV_KVLIST */
        bool b;     /* SX_AV_BOOL */
        int64_t i;  /* SX_AV_INT */
        double d;   /* SX_AV_DOUBLE */
    };
} sx_anyval_t;

/* A key and its value (OTLP KeyValue), in arrival order; keys are not
 * deduplicated (OTLP says they should be unique, receivers do not check). */
typedef struct sx_attr {
    sx_str_t key;      /* attribute name, e.g. "http.request.method" (valid UTF-8) */
    sx_anyval_t value; /* its value */
} sx_attr_t;

/* Span kinds, with OTLP's numbers (trace.proto Span.SpanKind). */
enum sx_span_kind {
    SX_SPAN_KIND_UNSPECIFIED = 0,
    SX_SPAN_KIND_INTERNAL = 1,
    SX_SPAN_KIND_SERVER = 2,
    SX_SPAN_KIND_CLIENT = 3,
    SX_SPAN_KIND_PRODUCER = 4,
    SX_SPAN_KIND_CONSUMER = 5,
};

/* Status codes, with OTLP's numbers (trace.proto Status.StatusCode). */
enum sx_span_status {
    SX_SPAN_STATUS_UNSET = 0,
    SX_SPAN_STATUS_OK = 1,
    SX_SPAN_STATUS_ERROR = 2,
};

/* An OTLP Resource: what produced the telemetry. */
typedef struct sx_span_resource {
    sx_attr_t *attrs;       /* resource attributes, e.g. service.name */
    uint32_t nattrs;        /* entries in attrs */
    uint32_t dropped_attrs; /* dropped_attributes_count as sent */
    sx_str_t service_name;  /* the string value of service.name, empty when absent or not a string */
    sx_str_t schema_url;    /* ResourceSpans.schema_url; empty when absent */
} sx_span_resource_t;

/* An OTLP InstrumentationScope: the library that made the spans. */
typedef struct sx_span_scope {
    uint32_t resource;      /* index into sx_span_batch_t.resources */
    sx_str_t name;          /* scope name, e.g. "io.opentelemetry.http"; may be empty */
    sx_str_t version;       /* scope version; may be empty */
    sx_attr_t *attrs;       /* scope attributes */
    uint32_t nattrs;        /* entries in attrs */
    uint32_t dropped_attrs; /* dropped_attributes_count as sent */
    sx_str_t schema_url;    /* ScopeSpans.schema_url; empty when absent */
} sx_span_scope_t;

/* A timed event inside a span (Span.Event). */
typedef struct sx_span_event {
    uint64_t time_ns;       /* ns since epoch (time_unix_nano); 0 when absent */
    sx_str_t name;          /* event name, e.g. "exception" */
    sx_attr_t *attrs;       /* event attributes */
    uint32_t nattrs;        /* entries in attrs */
    uint32_t dropped_attrs; /* dropped_attributes_count as sent */
} sx_span_event_t;

/* A link to another span, possibly in another trace (Span.Link). */
typedef struct sx_span_link {
    uint8_t trace_id[16];   /* linked trace id; all zero when absent */
    uint8_t span_id[8];     /* linked span id; all zero when absent */
    sx_str_t trace_state;   /* W3C tracestate of the linked span context; may be empty */
    sx_attr_t *attrs;       /* link attributes */
    uint32_t nattrs;        /* entries in attrs */
    uint32_t dropped_attrs; /* dropped_attributes_count as sent */
    uint32_t flags;         /* W3C trace flags (low 8 bits) and OTLP's context flags (bits 8, 9) */
} sx_span_link_t;

/* One span. The decoder guarantees trace_id and span_id are not all zero
 * (spans that break this are rejected, counted as a partial success). */
typedef struct sx_span {
    uint32_t scope;           /* index into sx_span_batch_t.scopes (which names the resource) */
    uint8_t trace_id[16];     /* trace id, never all zero */
    uint8_t span_id[8];       /* span id, never all zero */
    uint8_t parent_span_id[8];/* parent's span id; all zero for a root span */
    bool has_parent;          /* parent_span_id was sent and is not all zero */
    sx_str_t trace_state;     /* W3C tracestate header value; may be empty */
    sx_str_t name;            /* operation name; may be empty */
    int32_t kind;             /* enum sx_span_kind; other values are kept as sent */
    uint64_t start_ns;        /* start, ns since epoch (start_time_unix_nano) */
    uint64_t end_ns;          /* end, ns since epoch (end_time_unix_nano) */
    int32_t status_code;      /* enum sx_span_status; other values are kept as sent */
    sx_str_t status_message;  /* status description (meant for ERROR); may be empty */
    sx_attr_t *attrs;         /* span attributes */
    uint32_t nattrs;          /* entries in attrs */
    uint32_t dropped_attrs;   /* dropped_attributes_count as sent */
    sx_span_event_t *events;  /* events in arrival order */
    uint32_t nevents;         /* entries in events */
    uint32_t dropped_events;  /* dropped_events_count as sent */
    sx_span_link_t *links;    /* links in arrival order */
    uint32_t nlinks;          /* entries in links */
    uint32_t dropped_links;   /* dropped_links_count as sent */
    uint32_t flags;           /* W3C trace flags (low 8 bits) and OTLP's context flags (bits 8, 9) */
} sx_span_t;

/* What one request carries: flat arrays linked by index (span -> scope ->
 * resource), so a store can walk spans alone and look the rest up. */
typedef struct sx_span_batch {
    sx_arena_t *arena;              /* where every array and decoded string lives */
    sx_span_resource_t *resources;  /* one per ResourceSpans */
    uint32_t nresources, _rcap;
    sx_span_scope_t *scopes;        /* one per ScopeSpans */
    uint32_t nscopes, _scap;
    sx_span_t *spans;               /* accepted spans, in arrival order */
    uint32_t nspans, _cap;
} sx_span_batch_t;

void sx_span_batch_init(sx_span_batch_t *b, sx_arena_t *arena);

/* Append a zeroed resource, scope or span and return it (arena memory;
 * valid until the next add of the same kind, which may move the array).
 * Return NULL when the arena refuses to grow (its per-request limit) or the
 * array holds UINT32_MAX / 2 entries; callers report SX_ETOOLARGE. */
sx_span_resource_t *sx_span_batch_add_resource(sx_span_batch_t *b);
sx_span_scope_t *sx_span_batch_add_scope(sx_span_batch_t *b);
sx_span_t *sx_span_batch_add(sx_span_batch_t *b);

/* Write id (n bytes) as 2n lower-case hex digits plus a NUL into out,
 * which must hold 2n + 1 bytes: the form OTLP JSON, Jaeger and Tempo use. */
void sx_span_id_hex(const uint8_t *id, size_t n, char *out);

/* True when all n bytes of id are zero (an invalid or absent id). */
bool sx_span_id_is_zero(const uint8_t *id, size_t n);

/* Append span sp of batch as one compact OTLP JSON object: the members of
 * an OTLP JSON Span (hex ids, integer enums, 64-bit integers as strings,
 * defaults left out) starting with "traceId", then "resource" (the OTLP
 * JSON Resource), "scope" (the InstrumentationScope) and, when set,
 * "resourceSchemaUrl" and "scopeSchemaUrl". Quotes inside strings are
 * always escaped, so the first `,"resource":{` and the next `,"scope":{`
 * are the structural ones and a reader may cut the object there. */
void sx_span_json(sx_buf_t *b, const sx_span_batch_t *batch, const sx_span_t *sp);
/* One attribute as an OTLP JSON KeyValue, {"key":...,"value":{...}}. */
void sx_span_json_kv(sx_buf_t *b, const sx_attr_t *a);
/* A double as proto3 JSON writes it: the shortest form that reads back the
 * same, or "NaN", "Infinity", "-Infinity" as strings. */
void sx_span_json_double(sx_buf_t *b, double d);

#endif
