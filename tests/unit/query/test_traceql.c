/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for TraceQL (src/query/traceql): what the parser accepts and
 * the errors it gives, Tempo's comparison rules (types, absent attributes,
 * nil, arrays, anchored regexes, text form for tags=), spanset operators
 * on a small trace (&&, ||, structural, negated and union forms),
 * pipelines with aggregates and select(), trace-level intrinsics, the
 * scan's prefilter and exactness, and the tags=/Jaeger builders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "query/traceql/traceql.h"

/* ---- A small trace ----
 *
 *   0 GET /   web   server ok     100ms   http.status_code=200
 *   +- 1 SELECT db  client unset   20ms   db.system=postgresql arr=[1,2,"x"]
 *   +- 2 charge pay client error   50ms   flag=true, message "declined"
 *      +- 3 retry pay internal error 5ms  http.status_code=500
 *         +- 4 leaf pay internal unset 1us ratio=1.5
 *   5 orphan queue consumer unset 7us (its parent is not in the trace)
 */

#define NS 6

typedef struct tspan {
    const char *name, *svc, *msg, *id, *parent_id;
    int kind, status;
    int64_t dur;
    int32_t parent;
} tspan_t;

static const tspan_t spans[NS] = {
    {"GET /", "web", "", "s0", NULL, 2, 1, 100000000, -1},
    {"SELECT", "db", "", "s1", "s0", 3, 0, 20000000, 0},
    {"charge", "pay", "declined", "s2", "s0", 3, 2, 50000000, 0},
    {"retry", "pay", "", "s3", "s2", 1, 2, 5000000, 2},
    {"leaf", "pay", "", "s4", "s3", 1, 0, 1000, 3},
    {"orphan", "queue", "", "s5", "gone", 5, 0, 7000, 99},
};

static const sx_tql_value_t arr[] = {
    {.type = SX_TQL_T_INT, .i = 1},
    {.type = SX_TQL_T_INT, .i = 2},
    {.type = SX_TQL_T_STRING, .s = {"x", 1}},
};

static sx_tql_value_t S(const char *s)
{
    return (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = sx_str(s)};
}

static sx_tql_value_t I(int type, int64_t i)
{
    return (sx_tql_value_t){.type = type, .i = i};
}

static void attr(size_t i, const sx_tql_field_t *f, sx_tql_value_t *out)
{
    const char *k = f->key.ptr;
    if (f->scope != SX_TQL_SCOPE_SPAN && !strcmp(k, "service.name"))
        *out = S(spans[i].svc);
    if (f->scope == SX_TQL_SCOPE_RESOURCE)
        return;
    if (!strcmp(k, "http.status_code") && (i == 0 || i == 3))
        *out = I(SX_TQL_T_INT, i ? 500 : 200);
    else if (!strcmp(k, "db.system") && i == 1)
        *out = S("postgresql");
    else if (!strcmp(k, "arr") && i == 1)
        *out = (sx_tql_value_t){.type = SX_TQL_T_ARRAY, .arr = {arr, 3}};
    else if (!strcmp(k, "flag") && i == 2)
        *out = (sx_tql_value_t){.type = SX_TQL_T_BOOL, .b = true};
    else if (!strcmp(k, "ratio") && i == 4)
        *out = (sx_tql_value_t){.type = SX_TQL_T_FLOAT, .f = 1.5};
}

static void get(void *ctx, size_t i, const sx_tql_field_t *f, sx_tql_value_t *out)
{
    bool scanning = *(bool *)ctx;
    const tspan_t *s = &spans[i];
    *out = (sx_tql_value_t){.type = SX_TQL_T_NIL};
    /* Structure fields are the evaluator's. */
    assert_false(f->kind >= SX_TQL_F_CHILD_COUNT && f->kind <= SX_TQL_F_NESTED_PARENT);
    if (f->kind >= SX_TQL_F_ROOT_NAME && scanning) {
        out->type = SX_TQL_T_UNKNOWN;
        return;
    }
    switch (f->kind) {
    case SX_TQL_F_ATTR: attr(i, f, out); break;
    case SX_TQL_F_NAME: *out = S(s->name); break;
    case SX_TQL_F_STATUS: *out = I(SX_TQL_T_STATUS, s->status); break;
    case SX_TQL_F_STATUS_MESSAGE: *out = S(s->msg); break;
    case SX_TQL_F_KIND: *out = I(SX_TQL_T_KIND, s->kind); break;
    case SX_TQL_F_DURATION: *out = I(SX_TQL_T_DURATION, s->dur); break;
    case SX_TQL_F_SPAN_ID: *out = S(s->id); break;
    case SX_TQL_F_PARENT_ID:
        if (s->parent_id)
            *out = S(s->parent_id);
        break;
    case SX_TQL_F_TRACE_ID: *out = S("t1"); break;
    case SX_TQL_F_ROOT_NAME: *out = S("GET /"); break;
    case SX_TQL_F_ROOT_SERVICE: *out = S("web"); break;
    case SX_TQL_F_TRACE_DURATION: *out = I(SX_TQL_T_DURATION, 100000000); break;
    }
}

/* ---- Helpers ---- */

static sx_tql_query_t *parse(sx_arena_t *a, const char *text, sx_err_t *err)
{
    sx_tql_query_t *q = NULL;
    sx_err_clear(err);
    if (sx_tql_parse(a, text, &q, err))
        return NULL;
    return q;
}

/* The spans q selects as a bit mask; fails the test if it does not parse. */
static unsigned eval_mask(const sx_tql_query_t *q)
{
    int32_t parent[NS];
    uint8_t match[NS];
    bool scanning = false;
    for (int i = 0; i < NS; i++)
        parent[i] = spans[i].parent;
    sx_tql_spans_t s = {get, &scanning};
    size_t n = sx_tql_trace_eval(q, &s, NS, parent, match);
    unsigned m = 0;
    for (int i = 0; i < NS; i++)
        m |= (unsigned)match[i] << i;
    assert_int_equal(n, (size_t)__builtin_popcount(m));
    return m;
}

static unsigned scan_mask(const sx_tql_query_t *q)
{
    bool scanning = true;
    sx_tql_spans_t s = {get, &scanning};
    unsigned m = 0;
    for (int i = 0; i < NS; i++)
        m |= (unsigned)sx_tql_span_prefilter(q, &s, (size_t)i) << i;
    return m;
}

typedef struct sel_case {
    const char *q;
    unsigned want;
} sel_case_t;

static void check_cases(const sel_case_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sx_arena_t a;
        sx_err_t err;
        sx_arena_init(&a);
        sx_tql_query_t *q = parse(&a, c[i].q, &err);
        if (!q)
            fail_msg("%s: %s", c[i].q, err.msg);
        unsigned got = eval_mask(q), scan = scan_mask(q);
        if (got != c[i].want)
            fail_msg("%s: selected 0x%x, want 0x%x", c[i].q, got, c[i].want);
        /* The prefilter passes a span of every match, and is the answer
         * when exact. */
        if (got && !scan)
            fail_msg("%s: no span passes the prefilter", c[i].q);
        if (sx_tql_query_exact(q) && scan != got)
            fail_msg("%s: exact prefilter passes 0x%x", c[i].q, scan);
        sx_tql_query_dispose(q);
        sx_arena_dispose(&a);
    }
}

static void check_error(const char *text, const char *want)
{
    sx_arena_t a;
    sx_err_t err;
    sx_arena_init(&a);
    if (parse(&a, text, &err))
        fail_msg("%s: parsed, want error %s", text, want);
    if (!strstr(err.msg, want))
        fail_msg("%s: error \"%s\", want \"%s\"", text, err.msg, want);
    assert_int_equal(err.code, SX_EPARSE);
    sx_arena_dispose(&a);
}

/* ---- Tests ---- */

static void test_traceql_filters_compare_like_tempo(void **state)
{
    (void)state;
    static const sel_case_t cases[] = {
        {"{}", 0x3f},
        {"{ }", 0x3f},
        {"{ span.http.status_code = 200 }", 0x01},
        {"{ .http.status_code >= 200 && .http.status_code < 300 }", 0x01},
        {"{ resource.service.name = \"pay\" }", 0x1c},
        {"{ span.service.name = \"pay\" }", 0},
        {"{ .service.name = \"pay\" }", 0x1c},
        {"{ status = error }", 0x0c},
        {"{ status != ok }", 0x3e},
        {"{ kind = client }", 0x06},
        {"{ duration > 10ms }", 0x07},
        {"{ duration > 5 }", 0x3f}, /* numbers compare with durations as ns */
        {"{ statusMessage = \"declined\" }", 0x04},
        /* An absent attribute compares false, whatever the operator... */
        {"{ .http.status_code != 200 }", 0x08},
        {"{ .http.status_code = \"200\" }", 0}, /* ...and so do other types */
        /* ...but ! negates the comparison's result. */
        {"{ !(.http.status_code = 200) }", 0x3e},
        {"{ .missing = nil }", 0x3f},
        {"{ .http.status_code != nil }", 0x09},
        {"{ nil != .http.status_code }", 0x09},
        /* Arrays: = when any element is equal, != when none is. */
        {"{ .arr = 2 }", 0x02},
        {"{ .arr = \"x\" }", 0x02},
        {"{ .arr != 3 }", 0x02},
        {"{ .arr != 2 }", 0},
        {"{ .arr > 1 }", 0x02},
        {"{ 2 = .arr }", 0x02},
        /* A boolean attribute alone is a condition. */
        {"{ .flag }", 0x04},
        {"{ .flag = true }", 0x04},
        {"{ .flag || .ratio > 1 }", 0x14},
        /* && and || share a level, left to right, as in Tempo. */
        {"{ .flag || .ratio > 1 && kind = internal }", 0x10},
        {"{ .flag || (.ratio > 1 && kind = internal) }", 0x14},
        {"{ .ratio = 1.5 }", 0x10},
        {"{ .http.status_code > 100 * 2 }", 0x08},
        {"{ .http.status_code - 300 > 0 }", 0x08},
        {"{ -.http.status_code < -300 }", 0x08},
        {"{ .http.status_code / 0 > 1 }", 0x09},
        {"{ span:name = \"leaf\" }", 0x10},
        {"{ span:kind = internal }", 0x18},
        {"{ span:status = error && span:duration < 10ms }", 0x08},
        {"{ span:statusMessage != \"\" }", 0x04},
        {"{ span:id = \"s3\" }", 0x08},
        {"{ span:parentID = \"s0\" }", 0x06},
        {"{ span:parentID = nil }", 0x01},
        {"{ span:childCount = 2 }", 0x01},
        {"{ span:childCount = 0 }", 0x32},
        /* Nested-set numbers, depth first: 0 [1,10] > 2 [2,7] > 3 [3,6] > 4 [4,5];
         * 0 > 1 [8,9]; 5 [11,12]. */
        {"{ nestedSetParent < 0 }", 0x21},
        {"{ nestedSetParent<0 && true }", 0x21},
        {"{ nestedSetParent = 2 }", 0x08},
        {"{ span:nestedSetLeft = 8 && span:nestedSetRight = 9 }", 0x02},
        {"{ nestedSetRight - nestedSetLeft = 1 }", 0x32},
        {"{ trace:id = \"t1\" }", 0x3f},
        /* Regexes are anchored at both ends. */
        {"{ name =~ \"GET.*\" }", 0x01},
        {"{ name =~ \"GET\" }", 0},
        {"{ name !~ \"GET\" }", 0x3f},
        {"{ name =~ \"SELECT|leaf\" }", 0x12},
        {"{ resource.service.name !~ \"p.*\" }", 0x23},
        {"{ .http.status_code =~ \"2.*\" }", 0}, /* not a string */
        {"{ name =~ `G.*` }", 0x01},
        /* Literals. */
        {"{ name = \"GET \\x2f\" }", 0x01},
        {"{ name = \"GET \\u002f\" }", 0x01},
        {"{ span.\"http.status_code\" = 200 }", 0x01},
        {"{ duration > 1.5s }", 0},
        {"{ duration < 1h30m }", 0x3f},
        {"{ duration >= 2d }", 0},
        {"{ duration > 100us }", 0x0f},
        {"{ duration < 2\xc2\xb5s }", 0x10},
        {"{ duration <= 1e3 }", 0x10},
        {"{ .http.status_code > minInt && .http.status_code < maxInt }", 0x09},
        {"{ true }", 0x3f},
        {"{ 1 = 1 && false }", 0},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_traceql_trace_level_intrinsics(void **state)
{
    (void)state;
    static const sel_case_t cases[] = {
        {"{ trace:rootName = \"GET /\" }", 0x3f},
        {"{ rootName = \"GET /\" && status = error }", 0x0c},
        {"{ rootServiceName = \"nope\" }", 0},
        {"{ trace:rootService = \"web\" && kind = client }", 0x06},
        {"{ trace:duration > 50ms }", 0x3f},
        {"{ traceDuration < 50ms }", 0},
        {"{ trace:duration = 100ms && name = \"leaf\" }", 0x10},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_traceql_spanset_operators(void **state)
{
    (void)state;
    static const sel_case_t cases[] = {
        {"{ kind = server } && { status = error }", 0x0d},
        {"{ kind = server } && { .missing = 1 }", 0},
        {"{ kind = producer } || { status = error }", 0x0c},
        {"{ resource.service.name = \"web\" } >> { status = error }", 0x0c},
        {"{ name = \"charge\" } >> { }", 0x18},
        {"{ name = \"charge\" } > { }", 0x08},
        {"{ name = \"leaf\" } << { }", 0x0d},
        {"{ name = \"leaf\" } < { }", 0x08},
        {"{ name = \"SELECT\" } ~ { }", 0x04},
        {"{ name = \"orphan\" } ~ { }", 0}, /* no parent, no siblings */
        {"{ } !< { }", 0x32},               /* leaves */
        {"{ status = error } !< { status = error }", 0x08},
        {"{ name = \"charge\" } !>> { }", 0x27},
        {"{ name = \"charge\" } !> { }", 0x37},
        {"{ name = \"retry\" } !<< { }", 0x3a},
        {"{ name = \"charge\" } !~ { kind = client }", 0x04},
        {"{ .missing = 1 } !>> { kind = server }", 0x01},
        {"{ name = \"charge\" } &>> { status = error }", 0x0c},
        {"{ name = \"leaf\" } &< { }", 0x18},
        {"{ name = \"charge\" } &> { }", 0x0c},
        {"{ name = \"retry\" } &<< { kind = server }", 0x09},
        {"{ name = \"SELECT\" } &~ { }", 0x06},
        {"{ name = \"nope\" } &>> { }", 0},
        {"({ name = \"charge\" } >> { }) && { kind = server }", 0x19},
        {"{ kind = server } >> { kind = client } >> { kind = internal }", 0x18},
        {"{ kind = server } >> ({ kind = client } >> { kind = internal })", 0x18},
        {"{ name = \"leaf\" } && { name = \"SELECT\" } || { name = \"nope\" }", 0x12},
        {"{ .flag } > { } > { }", 0x10},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_traceql_pipelines(void **state)
{
    (void)state;
    static const sel_case_t cases[] = {
        {"{ status = error } | count() > 1", 0x0c},
        {"{ status = error } | count() > 2", 0},
        {"{ status = error } | count() = 2", 0x0c},
        {"{ status = error } | 1 < count()", 0x0c},
        {"{ } | avg(duration) > 20ms", 0x3f},
        {"{ } | max(duration) > 100ms", 0},
        {"{ } | max(duration) >= 100ms", 0x3f},
        {"{ } | min(duration) < 2us", 0x3f},
        {"{ } | sum(.http.status_code) = 700", 0x3f},
        {"{ } | avg(.missing) > 0", 0},
        {"{ kind = client } | { status = error }", 0x04},
        {"{ kind = client } | { } > { }", 0}, /* children within the client spans only */
        {"{ } | { name = \"charge\" } > { }", 0x08},
        {"{ } | select(.db.system, span.flag, name)", 0x3f},
        {"{ } | coalesce()", 0x3f},
        {"count() > 5", 0x3f},
        {"count() > 6", 0},
        {"({ status = error } | count() = 2) && { kind = server }", 0x0d},
        {"({ status = error } | count() = 3) || { kind = server }", 0x01},
        {"{ status = error } | count() > 1 | { kind = internal }", 0x08},
        {"{ } with (most_recent=true)", 0x3f},
        {"{ status = error } | count() > 1 with (most_recent = true, x = 2)", 0x0c},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_traceql_parse_errors_name_the_problem(void **state)
{
    (void)state;
    check_error("", "empty query");
    check_error("foo", "col 1: unexpected 'foo'");
    check_error("{ status = 5 }", "col 10: cannot compare status with int");
    check_error("{ kind = error }", "cannot compare kind with status");
    check_error("{ name = 1 }", "cannot compare string with int");
    check_error("{ status > ok }", "status only takes = and !=");
    check_error("{ .a = \"x }", "col 8: unterminated string");
    check_error("{ .a = \"\\q\" }", "invalid escape sequence");
    check_error("{ .a = \"x\\", "invalid escape sequence"); /* a backslash ends the text */
    check_error("{ name =~ \"(\" }", "invalid regular expression");
    check_error("{ .a =~ 1 }", "=~ and !~ take strings");
    check_error("{ name =~ 1 }", "cannot compare string with int");
    check_error("{ .a =~ .b }", "right side of =~ and !~ must be a string");
    check_error("{ .a = 1 } | by(.b)", "by() is not supported");
    check_error("{ parent.a = 1 }", "the parent scope is not supported");
    check_error("{ event:name = \"x\" }", "the event scope is not supported");
    check_error("{ span:foo = 1 }", "unknown intrinsic span:foo");
    check_error("{ .a = 1 } >>", "unexpected end of query");
    check_error("{ .a = 1 } {", "col 12: unexpected '{'");
    check_error("{ 1 }", "a spanset filter must be a boolean expression, not int");
    check_error("{ .a = 1 && 5 }", "&& takes boolean operands");
    check_error("{ \"a\" + 1 > 2 }", "+ takes numbers");
    check_error("{ name = 99999999999999999999 }", "integer out of range");
    check_error("{ . = 1 }", "expected an attribute name");
    check_error("{ .a = 1 } | count() > \"x\"", "expected a number or duration");
    check_error("{ } | avg(name) > 1", "aggregates take numbers, not string");
    check_error("{ .a = 1 } # x", "unexpected character '#'");
    check_error("{ .a = 1 ", "expected '}'");
    char deep[300];
    memset(deep, '(', 200);
    strcpy(deep + 200, "{}");
    check_error(deep, "nested too deeply");
}

static void test_traceql_exact_and_prefilter(void **state)
{
    (void)state;
    static const struct {
        const char *q;
        bool exact;
        unsigned scan; /* spans passing the prefilter while scanning */
    } cases[] = {
        {"{ .http.status_code = 200 }", true, 0x01},
        {"{}", true, 0x3f},
        {"{ trace:duration > 1s && name = \"leaf\" }", false, 0x10},
        {"{ trace:duration > 1s || name = \"leaf\" }", false, 0x3f},
        {"{ span:childCount = 0 }", false, 0x3f},
        {"{ nestedSetParent < 0 && kind = server }", false, 0x01},
        {"{ name = \"leaf\" } >> { status = error }", false, 0x0c},
        {"{ name = \"leaf\" } && { status = error }", false, 0x0c},
        {"{ name = \"leaf\" } || { status = error }", false, 0x1c},
        {"{ name = \"leaf\" } !>> { status = error }", false, 0x0c},
        {"{ name = \"leaf\" } >> { }", false, 0x10},
        {"{ name = \"leaf\" } &< { }", false, 0x10},
        {"{ name = \"leaf\" } !< { }", false, 0x3f},
        {"{ kind = client } | { status = error }", false, 0x04},
        {"{ status = error } | count() > 1", false, 0x0c},
        {"count() > 1", false, 0x3f},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sx_arena_t a;
        sx_err_t err;
        sx_arena_init(&a);
        sx_tql_query_t *q = parse(&a, cases[i].q, &err);
        assert_non_null(q);
        if (sx_tql_query_exact(q) != cases[i].exact || scan_mask(q) != cases[i].scan)
            fail_msg("%s: exact %d scan 0x%x", cases[i].q, sx_tql_query_exact(q), scan_mask(q));
        sx_arena_dispose(&a);
    }
}

static void test_traceql_reports_read_and_selected_attributes(void **state)
{
    (void)state;
    sx_arena_t a;
    sx_err_t err;
    sx_arena_init(&a);
    sx_tql_query_t *q = parse(
        &a, "{ resource.service.name = \"pay\" && .x = 1 && name = \"a\" } | select(span.y, .x)",
        &err);
    assert_non_null(q);
    const sx_tql_field_t *const *f;
    size_t n = sx_tql_query_report(q, &f);
    assert_int_equal(n, 3);
    assert_string_equal(f[0]->key.ptr, "y");
    assert_int_equal(f[0]->scope, SX_TQL_SCOPE_SPAN);
    assert_string_equal(f[1]->key.ptr, "x");
    assert_string_equal(f[2]->key.ptr, "service.name");
    assert_int_equal(f[2]->scope, SX_TQL_SCOPE_RESOURCE);
    unsigned r = sx_tql_prefilter_reads(q);
    assert_true(r & (1u << SX_TQL_F_ATTR));
    assert_true(r & (1u << SX_TQL_F_NAME));
    assert_false(r & (1u << SX_TQL_F_KIND));
    sx_arena_dispose(&a);
}

static void check_built(sx_tql_query_t *q, unsigned want)
{
    assert_true(sx_tql_query_exact(q));
    assert_int_equal(eval_mask(q), want);
    assert_int_equal(scan_mask(q), want);
}

static void test_traceql_tags_and_jaeger_builders(void **state)
{
    (void)state;
    static const struct {
        const char *tags;
        unsigned want;
    } cases[] = {
        {"service.name=pay http.status_code=500", 0x08},
        {"http.status_code=200", 0x01}, /* an int attribute compares as text */
        {"name=\"GET /\"", 0x01},
        {"status=error", 0x0c},
        {"error=true", 0x0c},
        {"kind=server", 0x01},
        {"span.kind=internal", 0x18},
        {"ratio=1.5", 0x10},
        {"flag=true", 0x04},
        {"", 0x3f},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sx_arena_t a;
        sx_err_t err;
        sx_arena_init(&a);
        sx_err_clear(&err);
        sx_tql_query_t *q = sx_tql_query_new(&a);
        assert_int_equal(sx_tql_tags_parse(&a, q, cases[i].tags, &err), 0);
        check_built(q, cases[i].want);
        sx_arena_dispose(&a);
    }
    sx_arena_t a;
    sx_err_t err;
    sx_arena_init(&a);
    sx_tql_query_t *q = sx_tql_query_new(&a);
    assert_int_equal(sx_tql_tags_parse(&a, q, "novalue", &err), SX_EPARSE);
    assert_non_null(strstr(err.msg, "expected key=value"));
    assert_int_equal(sx_tql_tags_parse(&a, q, "a=\"x", &err), SX_EPARSE);
    assert_non_null(strstr(err.msg, "unterminated"));
    q = sx_tql_query_new(&a);
    sx_tql_add_duration(&a, q, true, 10000000);
    check_built(q, 0x07);
    sx_tql_add_duration(&a, q, false, 50000000);
    check_built(q, 0x06);
    sx_tql_add_text(&a, q, "name", "charge");
    check_built(q, 0x04);
    sx_arena_dispose(&a);
}

/* The strings a passing span must hold: AND-ed `field = "string"` tests
 * only, and none that a number, bool or escaped array element could
 * match without the same bytes. */
static void test_traceql_prefilter_strings(void **state)
{
    (void)state;
    static const struct {
        const char *q;    /* TraceQL, or tags= when tags */
        int tags;
        const char *want; /* the strings joined by '|' */
    } cases[] = {
        {"{ span.http.route = \"/api/cart\" }", 0, "/api/cart"},
        {"{ .a = \"x\" && name = \"GET /\" && duration > 1s }", 0, "x|GET /"},
        {"{ resource.service.name = \"pay\" && (statusMessage = \"m\" && .b != \"y\") }", 0,
         "pay|m"},
        {"{ .a = \"x\" || .b = \"y\" }", 0, ""},
        {"{ .a =~ \"x\" }", 0, ""},
        {"{ .a = \"say \\\"hi\\\"\" }", 0, ""},
        {"{ .a = \"caf\xc3\xa9\" }", 0, ""},
        {"{ .a = 5 }", 0, ""},
        {"{ }", 0, ""},
        {"service.name=checkout", 1, "checkout"},
        {"http.status_code=500", 1, ""},
        {"ratio=1.5", 1, ""},
        {"ok=true", 1, ""},
        {"status=error", 1, ""},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        sx_arena_t a;
        sx_arena_init(&a);
        sx_err_t err;
        sx_tql_query_t *q = NULL;
        if (cases[c].tags) {
            q = sx_tql_query_new(&a);
            assert_int_equal(sx_tql_tags_parse(&a, q, cases[c].q, &err), 0);
        } else {
            q = parse(&a, cases[c].q, &err);
        }
        assert_non_null(q);
        sx_str_t svc = sx_tql_prefilter_resource(q, "service.name");
        if (strstr(cases[c].q, "resource.service.name = \"pay\""))
            assert_true(sx_str_eq_cstr(svc, "pay"));
        else
            assert_int_equal(svc.len, 0);
        sx_str_t out[8];
        size_t n = sx_tql_prefilter_strings(q, out, 8);
        char got[256] = "";
        for (size_t k = 0; k < n; k++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%.*s", k ? "|" : "",
                     (int)out[k].len, out[k].ptr);
        if (strcmp(got, cases[c].want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[c].q, got, cases[c].want);
        sx_tql_query_dispose(q);
        sx_arena_dispose(&a);
    }
}

static void test_traceql_field_names(void **state)
{
    (void)state;
    sx_arena_t a;
    sx_arena_init(&a);
    sx_tql_field_t f;
    assert_int_equal(sx_tql_field_parse(&a, ".a.b", &f), 0);
    assert_int_equal(f.kind, SX_TQL_F_ATTR);
    assert_int_equal(f.scope, SX_TQL_SCOPE_ANY);
    assert_string_equal(f.key.ptr, "a.b");
    assert_int_equal(sx_tql_field_parse(&a, "span.http.url", &f), 0);
    assert_int_equal(f.scope, SX_TQL_SCOPE_SPAN);
    assert_string_equal(f.key.ptr, "http.url");
    assert_int_equal(sx_tql_field_parse(&a, "resource.service.name", &f), 0);
    assert_int_equal(f.scope, SX_TQL_SCOPE_RESOURCE);
    assert_int_equal(sx_tql_field_parse(&a, "name", &f), 0);
    assert_int_equal(f.kind, SX_TQL_F_NAME);
    assert_int_equal(sx_tql_field_parse(&a, "span:kind", &f), 0);
    assert_int_equal(f.kind, SX_TQL_F_KIND);
    assert_int_equal(sx_tql_field_parse(&a, "trace:rootService", &f), 0);
    assert_int_equal(f.kind, SX_TQL_F_ROOT_SERVICE);
    assert_int_equal(sx_tql_field_parse(&a, "service.name", &f), -1);
    assert_int_equal(sx_tql_field_parse(&a, "bogus", &f), -1);
    assert_int_equal(sx_tql_field_parse(&a, "", &f), -1);
    assert_int_equal(sx_tql_field_parse(&a, ".a = 1", &f), -1);
    sx_arena_dispose(&a);
}

/* Parent links that point outside the trace, at the span itself, or
 * round in a cycle leave those spans without ancestors. */
static void test_traceql_structure_tolerates_bad_links(void **state)
{
    (void)state;
    sx_arena_t a;
    sx_err_t err;
    sx_arena_init(&a);
    sx_tql_query_t *q = parse(&a, "{ } >> { }", &err);
    assert_non_null(q);
    int32_t parent[NS] = {-1, 0, 3, 2, 4, 4}; /* 2 -> 3 -> 2 is a cycle; 4 is its own parent */
    uint8_t match[NS];
    bool scanning = false;
    sx_tql_spans_t s = {get, &scanning};
    assert_int_equal(sx_tql_trace_eval(q, &s, NS, parent, match), 2);
    assert_memory_equal(match, ((uint8_t[]){0, 1, 0, 0, 0, 1}), NS);
    /* Spans on the cycle have no nested-set numbers. */
    sx_tql_query_t *ns = parse(&a, "{ nestedSetLeft > 0 }", &err);
    assert_non_null(ns);
    assert_int_equal(sx_tql_trace_eval(ns, &s, NS, parent, match), 4);
    assert_memory_equal(match, ((uint8_t[]){1, 1, 0, 0, 1, 1}), NS);
    assert_int_equal(sx_tql_trace_eval(q, &s, 0, parent, match), 0);
    sx_arena_dispose(&a);
}

static void test_traceql_arena_limit_is_an_error(void **state)
{
    (void)state;
    /* One chunk, almost full, and no room for another: allocations fail
     * after `room` more bytes, at every point of the parse in turn. */
    size_t parsed = 0, chunk = 64 * 1024 - 64;
    for (size_t room = 0; room < 8192; room += 16) {
        sx_arena_t a;
        sx_err_t err;
        sx_arena_init(&a);
        assert_non_null(sx_arena_alloc(&a, chunk - room));
        a._limit = sx_arena_total(&a);
        sx_err_clear(&err);
        sx_tql_query_t *q = NULL;
        int rc = sx_tql_parse(
            &a, "{ .arr =~ \"x.*\" && name = \"SELECT\" } || { .flag } | count() > 1", &q, &err);
        if (rc == 0) {
            assert_int_equal(eval_mask(q), 0x06);
            parsed++;
        } else {
            assert_int_equal(rc, SX_EPARSE);
            assert_non_null(strstr(err.msg, "too large"));
        }
        sx_tql_query_dispose(q);
        sx_arena_dispose(&a);
    }
    assert_true(parsed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceql_filters_compare_like_tempo),
        cmocka_unit_test(test_traceql_trace_level_intrinsics),
        cmocka_unit_test(test_traceql_spanset_operators),
        cmocka_unit_test(test_traceql_pipelines),
        cmocka_unit_test(test_traceql_parse_errors_name_the_problem),
        cmocka_unit_test(test_traceql_exact_and_prefilter),
        cmocka_unit_test(test_traceql_reports_read_and_selected_attributes),
        cmocka_unit_test(test_traceql_tags_and_jaeger_builders),
        cmocka_unit_test(test_traceql_prefilter_strings),
        cmocka_unit_test(test_traceql_field_names),
        cmocka_unit_test(test_traceql_structure_tolerates_bad_links),
        cmocka_unit_test(test_traceql_arena_limit_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
