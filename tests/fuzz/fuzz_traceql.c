/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the trace search parsers and the TraceQL evaluator. The
 * first byte picks TraceQL (q=) or Tempo's logfmt tags= (bit 0), a trace
 * shape (bit 1) and an arena that runs out (bit 7; bits 2-6 say when, so
 * that the out-of-memory paths run); the rest, NUL-terminated, is parsed.
 * A query that parses is evaluated on a small synthetic trace (parent and child
 * spans, an orphan, a parent cycle, array, bool and float attributes) and
 * must keep the promises the trace API relies on: the scan's prefilter
 * passes some span of every matching trace, for an exact query it
 * selects exactly the spans the whole-trace evaluation selects, and every
 * span it passes has each of sx_tql_prefilter_strings as the value of one
 * of its string fields and the service sx_tql_prefilter_resource names. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/traceql/traceql.h"

#define NSPANS 8

typedef struct fspan {
    const char *name, *svc, *msg, *id;
    int kind, status;
    int64_t dur;
    int32_t parent;
} fspan_t;

static const fspan_t spans[NSPANS] = {
    {"GET /", "web", "", "01", 2, 1, 100000000, -1},
    {"SELECT", "db", "", "02", 3, 0, 20000000, 0},
    {"charge", "pay", "declined", "03", 3, 2, 50000000, 0},
    {"retry", "pay", "", "04", 1, 2, 5000000, 2},
    {"leaf", "pay", "", "05", 1, 0, 1000, 3},
    {"orphan", "queue", "", "06", 5, 0, 7000, 99}, /* parent outside the trace */
    {"cycle-a", "web", "", "07", 4, 0, 10, 7},
    {"cycle-b", "web", "", "08", 4, 1, 10, 6},
};

static const sx_tql_value_t arr[] = {
    {.type = SX_TQL_T_INT, .i = 1},
    {.type = SX_TQL_T_INT, .i = 2},
    {.type = SX_TQL_T_STRING, .s = {"x", 1}},
};

typedef struct fctx {
    bool scanning; /* trace-level fields unknown */
} fctx_t;

static void attr(size_t i, const sx_tql_field_t *f, sx_tql_value_t *out)
{
    const char *k = f->key.ptr;
    if (f->scope != SX_TQL_SCOPE_SPAN && strcmp(k, "service.name") == 0) {
        *out = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = sx_str(spans[i].svc)};
        return;
    }
    if (f->scope == SX_TQL_SCOPE_RESOURCE)
        return;
    if (strcmp(k, "http.status_code") == 0 && (i == 0 || i == 3))
        *out = (sx_tql_value_t){.type = SX_TQL_T_INT, .i = i ? 500 : 200};
    else if (strcmp(k, "arr") == 0 && i == 1)
        *out = (sx_tql_value_t){.type = SX_TQL_T_ARRAY, .arr = {arr, 3}};
    else if (strcmp(k, "flag") == 0 && i == 2)
        *out = (sx_tql_value_t){.type = SX_TQL_T_BOOL, .b = true};
    else if (strcmp(k, "ratio") == 0 && i == 4)
        *out = (sx_tql_value_t){.type = SX_TQL_T_FLOAT, .f = 1.5};
}

static void get(void *ctx, size_t i, const sx_tql_field_t *f, sx_tql_value_t *out)
{
    const fctx_t *c = ctx;
    const fspan_t *s = &spans[i];
    *out = (sx_tql_value_t){.type = SX_TQL_T_NIL};
    if (f->kind >= SX_TQL_F_CHILD_COUNT && f->kind <= SX_TQL_F_NESTED_PARENT)
        abort(); /* structure fields are the evaluator's */
    if (f->kind >= SX_TQL_F_ROOT_NAME && c->scanning) {
        *out = (sx_tql_value_t){.type = SX_TQL_T_UNKNOWN};
        return;
    }
    switch (f->kind) {
    case SX_TQL_F_ATTR: attr(i, f, out); break;
    case SX_TQL_F_NAME:
        *out = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = sx_str(s->name)};
        break;
    case SX_TQL_F_STATUS: *out = (sx_tql_value_t){.type = SX_TQL_T_STATUS, .i = s->status}; break;
    case SX_TQL_F_STATUS_MESSAGE:
        *out = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = sx_str(s->msg)};
        break;
    case SX_TQL_F_KIND: *out = (sx_tql_value_t){.type = SX_TQL_T_KIND, .i = s->kind}; break;
    case SX_TQL_F_DURATION: *out = (sx_tql_value_t){.type = SX_TQL_T_DURATION, .i = s->dur}; break;
    case SX_TQL_F_SPAN_ID:
    case SX_TQL_F_TRACE_ID:
        *out = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = sx_str(s->id)};
        break;
    case SX_TQL_F_ROOT_NAME:
        *out = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = sx_str("GET /")};
        break;
    case SX_TQL_F_ROOT_SERVICE:
        *out = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = sx_str("web")};
        break;
    case SX_TQL_F_TRACE_DURATION:
        *out = (sx_tql_value_t){.type = SX_TQL_T_DURATION, .i = 100000000};
        break;
    default: break;
    }
}

/* Whether s is the value of one of span i's string fields. */
static bool has_string(size_t i, sx_str_t s)
{
    const char *v[] = {spans[i].name, spans[i].msg, spans[i].svc, i == 1 ? "x" : NULL};
    for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
        if (v[k] && strlen(v[k]) == s.len && memcmp(v[k], s.ptr, s.len) == 0)
            return true;
    return false;
}

static void check(const sx_tql_query_t *q, bool chain)
{
    sx_str_t strs[8];
    size_t nstrs = sx_tql_prefilter_strings(q, strs, 8);
    sx_str_t rsvc = sx_tql_prefilter_resource(q, "service.name");
    int32_t parent[NSPANS];
    uint8_t match[NSPANS];
    for (int i = 0; i < NSPANS; i++)
        parent[i] = chain ? i - 1 : spans[i].parent;
    fctx_t trace = {false}, scan = {true};
    sx_tql_spans_t ts = {get, &trace}, ss = {get, &scan};
    size_t n = sx_tql_trace_eval(q, &ts, NSPANS, parent, match), cnt = 0, pass = 0;
    for (int i = 0; i < NSPANS; i++) {
        cnt += match[i];
        bool p = sx_tql_span_prefilter(q, &ss, (size_t)i);
        pass += p;
        if (sx_tql_query_exact(q) && p != (match[i] == 1))
            abort(); /* an exact prefilter is the answer */
        for (size_t k = 0; k < nstrs && p; k++)
            if (!has_string((size_t)i, strs[k]))
                abort(); /* a passing span has the prefilter's strings */
        if (p && rsvc.len && !sx_str_eq_cstr(rsvc, spans[i].svc))
            abort(); /* and the resource service it names */
    }
    if (cnt != n || (n && !pass))
        abort(); /* a matching trace has a span that passes the prefilter */
    const sx_tql_field_t *const *f;
    size_t nf = sx_tql_query_report(q, &f);
    for (size_t i = 0; i < nf; i++)
        if (f[i]->kind != SX_TQL_F_ATTR || !f[i]->key.ptr)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    sx_arena_t a;
    sx_arena_init(&a);
    if (data[0] & 0x80) {
        /* One almost full chunk and no room for another: allocations start
         * failing after `room` bytes, somewhere in the parse. */
        size_t room = (size_t)(data[0] & 0x7c) * 64;
        sx_arena_alloc(&a, 64 * 1024 - 64 - room);
        a._limit = sx_arena_total(&a);
    }
    sx_err_t err;
    sx_err_clear(&err);
    sx_tql_query_t *q = NULL;
    int rc;
    if (data[0] & 1) {
        q = sx_tql_query_new(&a);
        rc = q ? sx_tql_tags_parse(&a, q, text, &err) : -1;
    } else {
        rc = sx_tql_parse(&a, text, &q, &err);
    }
    if (rc == 0 && q)
        check(q, data[0] & 2);
    if (rc && rc != -1 && ((rc != SX_EPARSE && rc != SX_ELIMIT) || !err.msg[0]))
        abort(); /* a parse error says what is wrong */
    sx_tql_query_dispose(q);
    sx_arena_dispose(&a);
    free(text);
    return 0;
}
