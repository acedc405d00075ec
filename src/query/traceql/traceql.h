/* SPDX-License-Identifier: Apache-2.0 */
/* TraceQL as trace search takes it (Tempo's /api/search q=), and the
 * simpler filters of Tempo's tags= and Jaeger's search, which become the
 * same tree. A query is parsed once into the request arena and then asked
 * two questions by the trace API, which owns the spans:
 *   - during the scan of stored spans, whether one span passes the query's
 *     prefilter: a condition that some span of every matching trace meets
 *     (exact for a lone spanset filter without trace-level fields);
 *   - for a candidate trace, which of its spans the whole query selects
 *     (spanset operators, structure, pipelines, trace-level intrinsics).
 * Spans are read through sx_tql_spans_t, so this module knows nothing of
 * storage or JSON. Everything lives in the arena except the compiled
 * regular expressions, which sx_tql_query_dispose releases. */
#ifndef SX_QUERY_TRACEQL_TRACEQL_H
#define SX_QUERY_TRACEQL_TRACEQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/error.h"
#include "../../core/str.h"

/* Longest query text and deepest nesting of parentheses and braces. */
#define SX_TQL_MAX_QUERY 65536
#define SX_TQL_MAX_DEPTH 64

typedef struct sx_tql_query sx_tql_query_t;

/* What a field reads from a span. */
typedef enum sx_tql_field_kind {
    SX_TQL_F_ATTR,           /* an attribute: scope and key */
    SX_TQL_F_NAME,           /* name, span:name */
    SX_TQL_F_STATUS,         /* status, span:status (OTLP code) */
    SX_TQL_F_STATUS_MESSAGE, /* statusMessage, span:statusMessage */
    SX_TQL_F_KIND,           /* kind, span:kind (OTLP code) */
    SX_TQL_F_DURATION,       /* duration, span:duration (ns) */
    SX_TQL_F_SPAN_ID,        /* span:id (hex) */
    SX_TQL_F_PARENT_ID,      /* span:parentID (hex; nil on a root) */
    /* Structure, answered by the trace evaluator, unknown while scanning: */
    SX_TQL_F_CHILD_COUNT,    /* span:childCount */
    SX_TQL_F_NESTED_LEFT,    /* nestedSetLeft: depth-first entry number, from 1 */
    SX_TQL_F_NESTED_RIGHT,   /* nestedSetRight: depth-first exit number */
    SX_TQL_F_NESTED_PARENT,  /* nestedSetParent: the parent's nestedSetLeft, -1 on a root */
    SX_TQL_F_TRACE_ID,       /* trace:id (hex) */
    /* Trace-level: unknown while scanning single spans. */
    SX_TQL_F_ROOT_NAME,      /* trace:rootName, rootName */
    SX_TQL_F_ROOT_SERVICE,   /* trace:rootService, rootServiceName */
    SX_TQL_F_TRACE_DURATION, /* trace:duration, traceDuration (ns) */
} sx_tql_field_kind_t;

enum { SX_TQL_SCOPE_ANY, SX_TQL_SCOPE_SPAN, SX_TQL_SCOPE_RESOURCE };

typedef struct sx_tql_field {
    int kind;     /* sx_tql_field_kind_t */
    int scope;    /* SX_TQL_F_ATTR: SX_TQL_SCOPE_* (ANY: span first, then resource) */
    sx_str_t key; /* SX_TQL_F_ATTR: the attribute key */
    bool text;    /* compare the attribute's text form (tags=, Jaeger tags) */
} sx_tql_field_t;

typedef enum sx_tql_type {
    SX_TQL_T_NIL,     /* absent */
    SX_TQL_T_UNKNOWN, /* not knowable here (trace-level fields during the scan) */
    SX_TQL_T_BOOL,
    SX_TQL_T_INT,
    SX_TQL_T_FLOAT,
    SX_TQL_T_DURATION, /* ns, in i */
    SX_TQL_T_STRING,
    SX_TQL_T_STATUS,   /* OTLP status code, in i: 0 unset, 1 ok, 2 error */
    SX_TQL_T_KIND,     /* OTLP span kind, in i */
    SX_TQL_T_ARRAY,    /* an attribute's array of scalars */
} sx_tql_type_t;

typedef struct sx_tql_value {
    int type; /* sx_tql_type_t */
    union {
        bool b;
        int64_t i;
        double f;
        sx_str_t s;
        struct {
            const struct sx_tql_value *v;
            size_t n;
        } arr;
    };
} sx_tql_value_t;

/* The caller's spans, by index. get fills *out with field f of span i:
 * SX_TQL_T_NIL when the span lacks it, SX_TQL_T_UNKNOWN when it cannot be
 * known yet (trace-level fields while scanning). Strings and arrays must
 * stay valid until get is next called for another span. get is never
 * asked for the structure fields (SX_TQL_F_CHILD_COUNT, SX_TQL_F_NESTED_*). */
typedef struct sx_tql_spans {
    void (*get)(void *ctx, size_t i, const sx_tql_field_t *f, sx_tql_value_t *out);
    void *ctx;
} sx_tql_spans_t;

/* OTLP span kinds and status codes by number, for parsing and printing. */
extern const char *const sx_tql_kind_names[6];
extern const char *const sx_tql_status_names[3];
/* Index of s[0..n) in names (case-insensitive), or -1. */
int sx_tql_name_index(const char *s, size_t n, const char *const *names, int count);

/* Parse TraceQL text q (NUL-terminated) into *out, in the arena. Returns 0,
 * or SX_EPARSE with err saying where and what ("col 7: ..."); nothing needs
 * disposing after an error. */
int sx_tql_parse(sx_arena_t *a, const char *q, sx_tql_query_t **out, sx_err_t *err);

/* A query of one spanset filter with no conditions yet ({}), for the
 * sx_tql_add_* builders below, which AND conditions into it. NULL when the
 * arena is exhausted. */
sx_tql_query_t *sx_tql_query_new(sx_arena_t *a);
/* Add "attribute k's text equals val" (name, status, status.code, error=true
 * and kind, span.kind map to the span's own fields, as Jaeger means them).
 * k and val must live as long as the query. Returns 0, or SX_ELIMIT when
 * the arena is exhausted, leaving q unchanged. */
int sx_tql_add_text(sx_arena_t *a, sx_tql_query_t *q, const char *k, const char *val);
/* Add duration >= ns (ge) or duration <= ns (!ge); returns as above. */
int sx_tql_add_duration(sx_arena_t *a, sx_tql_query_t *q, bool ge, int64_t ns);
/* Parse Tempo's tags= (logfmt key=value pairs, values optionally
 * double-quoted) into text conditions added to q. Returns 0, SX_EPARSE, or
 * SX_ELIMIT when the arena is exhausted. */
int sx_tql_tags_parse(sx_arena_t *a, sx_tql_query_t *q, const char *s, sx_err_t *err);

/* Parse a tag name as the tag-value endpoints take it (".a", "span.a",
 * "resource.a", "name", "span:kind", ...). Returns 0 or -1. */
int sx_tql_field_parse(sx_arena_t *a, const char *name, sx_tql_field_t *f);

/* Release the compiled regular expressions. The query stays readable but
 * must not be evaluated again. NULL is a no-op. */
void sx_tql_query_dispose(sx_tql_query_t *q);

/* Whether the scan's prefilter is the exact answer (a lone spanset filter
 * without trace-level fields): then the spans that pass it are the matched
 * spans and no trace needs evaluating whole. */
bool sx_tql_query_exact(const sx_tql_query_t *q);

/* Whether span i may belong to a matching trace (true when unknown).
 * Thread-safe for concurrent calls on one query. */
bool sx_tql_span_prefilter(const sx_tql_query_t *q, const sx_tql_spans_t *s, size_t i);

/* The fields the prefilter reads, as a mask of 1u << sx_tql_field_kind_t,
 * so that a scan can leave out what no span test needs. */
unsigned sx_tql_prefilter_reads(const sx_tql_query_t *q);

/* Strings that every span passing the prefilter has as the exact value of
 * one of its string fields (span name, status message, a string
 * attribute), from `field = "string"` tests the prefilter ANDs; at most
 * max of them into out. A store that keeps string values verbatim can
 * skip, unread, a span whose stored bytes lack one. */
size_t sx_tql_prefilter_strings(const sx_tql_query_t *q, sx_str_t *out, size_t max);

/* The string that resource attribute key (such as "service.name") of
 * every span passing the prefilter equals, from an AND-ed
 * `resource.<key> = "string"` test; empty when there is none. */
sx_str_t sx_tql_prefilter_resource(const sx_tql_query_t *q, const char *key);

/* Evaluate the whole query on one trace of n spans, parent[i] being the
 * index of span i's parent or -1 (out of range or cyclic links are treated
 * as roots or left out of ancestry). Sets match[i] to 1 for every span the
 * query selects, 0 otherwise, and returns how many were selected; 0 means
 * the trace does not match. Work memory is the heap's, freed on return. */
size_t sx_tql_trace_eval(const sx_tql_query_t *q, const sx_tql_spans_t *s, size_t n,
                         const int32_t *parent, uint8_t *match);

/* The attribute fields worth showing with each matched span: those the
 * query reads and those it select()s, each (scope, key) once. */
size_t sx_tql_query_report(const sx_tql_query_t *q, const sx_tql_field_t *const **out);

#endif
