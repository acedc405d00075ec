/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the PromQL lexer, parser and printers (lex.c, parse.c,
 * format.c): canonical formatting, Prometheus' error messages and
 * positions, types, selectors, durations and duration expressions, the
 * parse_query JSON, nesting limits, and every query of the conformance
 * data parsing and round-tripping through the formatter. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "query/promql/promql_int.h"

/* ---- Helpers ---- */

typedef struct parsed {
    sx_arena_t a;
    sx_promql_expr_t *e;
    sx_err_t err;
    int rc;
} parsed_t;

static void parse(parsed_t *p, const char *q)
{
    sx_arena_init(&p->a);
    p->e = NULL;
    memset(&p->err, 0, sizeof(p->err));
    p->rc = sx_promql_parse(sx_str(q), &p->a, &p->e, &p->err);
}

static void done(parsed_t *p)
{
    if (p->e)
        sx_promql_expr_dispose(p->e);
    sx_arena_dispose(&p->a);
}

/* The canonical form of q, or "ERR: <message>" (caller frees). */
static char *format_of(const char *q)
{
    parsed_t p;
    parse(&p, q);
    sx_buf_t b = SX_BUF_INIT;
    if (p.rc == 0) {
        sx_promql_format(p.e, &b);
    } else {
        sx_buf_puts(&b, "ERR: ");
        sx_buf_puts(&b, p.err.msg);
    }
    sx_buf_putc(&b, '\0');
    done(&p);
    return b.ptr;
}

static void assert_format(const char *q, const char *want)
{
    char *got = format_of(q);
    if (strcmp(got, want) != 0)
        fail_msg("query %s\n  want %s\n  got  %s", q, want, got);
    free(got);
}

static void assert_error(const char *q, const char *want)
{
    parsed_t p;
    parse(&p, q);
    if (p.rc == 0) {
        sx_buf_t b = SX_BUF_INIT;
        sx_promql_format(p.e, &b);
        sx_buf_putc(&b, '\0');
        done(&p);
        fail_msg("query %s parsed as %s, want error %s", q, b.ptr, want);
    }
    assert_int_equal(p.rc, SX_EPARSE);
    if (strcmp(p.err.msg, want) != 0)
        fail_msg("query %s\n  want %s\n  got  %s", q, want, p.err.msg);
    done(&p);
}

/* ---- Formatting ---- */

static void test_parse_formats_canonically(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"foo", "foo"},
        {"  foo  ", "foo"},
        {"foo{}", "foo"},
        {"foo{b=\"1\", a='2',}", "foo{a=\"2\",b=\"1\"}"},
        {"{__name__=\"foo\"}", "{__name__=\"foo\"}"},
        {"{\"my.metric\", a=\"b\"}", "{__name__=\"my.metric\",a=\"b\"}"},
        {"{\"a.b\"=\"x\", c!~`y.*`}", "{\"a.b\"=\"x\",c!~\"y.*\"}"},
        {"sum by (job) (rate(foo{a=\"b\"}[5m]))", "sum by (job) (rate(foo{a=\"b\"}[5m]))"},
        {"sum(rate(foo[5m])) by (job)", "sum by (job) (rate(foo[5m]))"},
        {"sum without (a, b) (x)", "sum without (a, b) (x)"},
        {"sum without () (x)", "sum without () (x)"},
        {"sum by () (x)", "sum(x)"},
        {"SUM BY (A) (x)", "sum by (A) (x)"},
        {"topk(5, foo)", "topk(5, foo)"},
        {"count_values(\"v\", foo)", "count_values(\"v\", foo)"},
        {"quantile by (a) (0.9, foo)", "quantile by (a) (0.9, foo)"},
        {"foo[90m]", "foo[1h30m]"},
        {"foo[1h30m]", "foo[1h30m]"},
        {"foo[300]", "foo[5m]"},
        {"foo[1.5]", "foo[1s500ms]"},
        {"foo[14d]", "foo[2w]"},
        {"foo[365d]", "foo[1y]"},
        {"foo[366d]", "foo[366d]"},
        {"foo offset 5m", "foo offset 5m"},
        {"foo offset -5m", "foo offset -5m"},
        {"foo[5m] offset 1w", "foo[5m] offset 1w"},
        {"foo offset 5m @ 100", "foo @ 100.000 offset 5m"},
        {"foo @ 1.5", "foo @ 1.500"},
        {"foo @ -1", "foo @ -1.000"},
        {"foo @ start()", "foo @ start()"},
        {"foo[5m] @ end()", "foo[5m] @ end()"},
        {"rate(foo[5m])[30m:1m]", "rate(foo[5m])[30m:1m]"},
        {"foo[5m:]", "foo[5m:]"},
        {"foo[5m:] offset 1m @ 10", "foo[5m:] @ 10.000 offset 1m"},
        {"1 + 2 * 3", "1 + 2 * 3"},
        {"(1 + 2) * 3", "(1 + 2) * 3"},
        {"-2 ^ 2", "-2 ^ 2"},
        {"- foo", "-foo"},
        {"+foo", "+foo"},
        {"-1", "-1"},
        {"--1", "1"},
        {"-(1)", "-(1)"},
        {"1e3", "1000"},
        {"0x1F", "31"},
        {"1_000", "1000"},
        {"010", "8"},
        {"09", "9"},
        {".5", "0.5"},
        {"5.", "5"},
        {"Inf", "+Inf"},
        {"-inf", "-Inf"},
        {"NaN", "NaN"},
        {"1e-7", "0.0000001"},
        {"5m", "5m"},
        {"-5m", "-5m"},
        {"1h30m + 1", "1h30m + 1"},
        {"\"a\\nb\"", "\"a\\nb\""},
        {"'it\\'s'", "\"it's\""},
        {"`raw\\n`", "\"raw\\\\n\""},
        {"\"\\x41\\u00e9\\U0001F600\\101\"", "\"A\xc3\xa9\xf0\x9f\x98\x80" "A\""},
        {"foo and bar", "foo and bar"},
        {"foo and on (a) bar", "foo and on (a) bar"},
        {"foo unless ignoring (a) bar", "foo unless ignoring (a) bar"},
        {"foo * on (a) group_left (b) bar", "foo * on (a) group_left (b) bar"},
        {"foo * ignoring (a) group_right bar", "foo * ignoring (a) group_right () bar"},
        {"foo * on () bar", "foo * on () bar"},
        {"foo > bool 1", "foo > bool 1"},
        {"1 == bool 1", "1 == bool 1"},
        {"foo == on (a) bar", "foo == on (a) bar"},
        {"1 + on () 2", "1 + 2"},
        {"foo atan2 bar", "foo atan2 bar"},
        {"a or b and c unless d", "a or b and c unless d"},
        {"sum(foo) by (\"a.b\", c)", "sum by (\"a.b\", c) (foo)"},
        {"label_join(foo, \"a\", \",\", \"b\", \"c\")", "label_join(foo, \"a\", \",\", \"b\", \"c\")"},
        {"time()", "time()"},
        {"sum", "sum"},
        {"sum{a=\"b\"}", "sum{a=\"b\"}"},
        {"by + without", "by + without"},
        {"foo and and", "foo and and"},
        {"offset", "offset"},
        {"start", "start"},
        {"rate", "rate"},
        {"foo:bar:baz", "foo:bar:baz"},
        {"foo # comment\n + 1", "foo + 1"},
        {"{a=\"b\"} # c", "{a=\"b\"}"},
        {"foo[5m] @ 1 offset 1m", "foo[5m] @ 1.000 offset 1m"},
        {"foo offset 0s", "foo"},
        {"foo[5m + 1m]", "foo[5m + 1m]"},
        {"foo[step() * 2]", "foo[step() * 2]"},
        {"foo[5m:step()]", "foo[5m:step()]"},
        {"foo offset (1h - 5m)", "foo offset (1h - 5m)"},
        {"foo offset (1h) + 5m", "foo offset (1h) + 5m"},
        {"foo offset -(1h)", "foo offset -1h"},
        {"foo offset -step()", "foo offset -step()"},
        {"foo[(5m)]", "foo[5m]"},
        {"foo[(5m + step())]", "foo[(5m + step())]"},
        {"foo[-(-5m)]", "foo[5m]"},
        {"foo offset 5m ^ 2", "foo offset 5m ^ 2"},
        {"quantile_over_time(0.5, foo[5m:1m])", "quantile_over_time(0.5, foo[5m:1m])"},
        {"limitk(2, foo)", "limitk(2, foo)"},
        {"limit_ratio(0.5, foo)", "limit_ratio(0.5, foo)"},
        {"info(foo, {a=\"b\"})", "info(foo, {a=\"b\"})"},
        {"info(foo, {a=~\".*\"})", "info(foo, {a=~\".*\"})"},
        {"info(foo, {})", "info(foo, {})"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_format(cases[i][0], cases[i][1]);
}

/* ---- Errors ---- */

static void test_parse_errors_match_prometheus(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"", "unknown position: parse error: no expression found in input"},
        {"  ", "1:1: parse error: no expression found in input"},
        {"# only a comment", "1:1: parse error: no expression found in input"},
        {"foo +", "1:6: parse error: unexpected end of input"},
        {"1 +\n  ", "2:3: parse error: unexpected end of input"},
        {"foo ~ bar", "1:5: parse error: unexpected character: '~'"},
        {"foo bar", "1:5: parse error: unexpected identifier \"bar\""},
        {"foo 1", "1:5: parse error: unexpected number \"1\""},
        {"sum(foo", "1:8: parse error: unclosed left parenthesis"},
        {"foo)", "1:5: parse error: unexpected right parenthesis ')'"},
        {"foo]", "1:4: parse error: unexpected right bracket ']'"},
        {"foo }", "1:5: parse error: unexpected character: '}'"},
        {"foo{a=\"b\"", "1:10: parse error: unexpected end of input inside braces"},
        {"{a}", "1:3: parse error: unexpected \"}\" in label matching, expected label matching operator"},
        {"{a=}", "1:4: parse error: unexpected \"}\" in label matching, expected string"},
        {"{a=\"b\" c=\"d\"}", "1:8: parse error: unexpected identifier \"c\" in label matching, expected \",\" or \"}\""},
        {"{,}", "1:2: parse error: unexpected \",\" in label matching, expected identifier or \"}\""},
        {"{a=~\"b\",,}", "1:9: parse error: unexpected \",\" in label matching, expected identifier or \"}\""},
        {"foo{a:b=\"c\"}", "1:6: parse error: unexpected character inside braces: ':'"},
        {"foo{a!b=\"c\"}", "1:6: parse error: unexpected character after '!' inside braces: 'b'"},
        {"foo = bar", "1:5: parse error: unexpected \"=\""},
        {"foo =~ bar", "1:5: parse error: unexpected character after '=': '~'"},
        {"foo ! bar", "1:5: parse error: unexpected character after '!': ' '"},
        {"{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        {"{a=\"\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        {"{a=~\".*\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
        {"foo{__name__=\"bar\"}", "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\""},
        {"foo{a=~\"(\"}", NULL},
        {"\"unterminated", "1:1: parse error: unterminated quoted string"},
        {"'a\nb'", "1:1: parse error: unterminated quoted string"},
        {"`raw", "1:1: parse error: unterminated raw string"},
        {"\"\\q\"", "1:1: parse error: unknown escape sequence U+0071 'q'"},
        {"\"\\xZZ\"", "1:1: parse error: illegal character U+005A 'Z' in escape sequence"},
        {"\"\\uD800\"", "1:1: parse error: escape sequence is an invalid Unicode code point"},
        {"\"\\", "1:1: parse error: escape sequence not terminated"},
        {"\"a\xff\"", "1:1: parse error: invalid UTF-8 rune"},
        {"5mm", "1:1: parse error: bad number or duration syntax: \"5mm\""},
        {"1.2.3", "1:1: parse error: bad number or duration syntax: \"1.2.\""},
        {"5m5m", "1:1: parse error: not a valid duration string: \"5m5m\""},
        {"30m1h", "1:1: parse error: not a valid duration string: \"30m1h\""},
        {"1e999", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e999\": value out of range"},
        {"foo[5m", "1:7: parse error: unclosed left bracket"},
        {"foo[", "1:5: parse error: unexpected end of input in duration expression"},
        {"foo[]", "1:5: parse error: unexpected \"]\" in subquery or range selector, expected number, duration, or step()"},
        {"foo[5m 1m]", "1:8: parse error: unexpected duration \"1m\" in subquery or range, expected \":\" or \"]\""},
        {"foo[5m + ]", "1:10: parse error: unexpected \"]\" in subquery or range selector, expected number, duration, or step()"},
        {"foo[x]", "1:5: parse error: unexpected character in duration expression: 'x'"},
        {"foo[5m:1m:]", "1:10: parse error: unexpected colon ':'"},
        {"foo[0s]", "1:5: parse error: duration must be greater than 0"},
        {"foo[-5m]", "1:5: parse error: duration must be greater than 0"},
        {"foo[5m / 0]", "1:8: parse error: division by zero"},
        {"foo[5m % 0]", "1:8: parse error: modulo by zero"},
        {"foo[5m / (0)]", "1:8: parse error: division by zero"},
        {"foo[5m][5m]", "1:8: parse error: ranges only allowed for vector selectors"},
        {"(foo)[5m]", "1:6: parse error: ranges only allowed for vector selectors"},
        {"foo offset 5m[5m]", "1:14: parse error: no offset modifiers allowed before range"},
        {"foo @ 1 [5m]", "1:9: parse error: no @ modifiers allowed before range"},
        {"foo offset", "1:11: parse error: unexpected end of input in offset, expected number, duration, or step()"},
        {"foo offset bar", "1:12: parse error: unexpected identifier \"bar\" in offset, expected number, duration, or step()"},
        {"foo offset 5m offset 1m", "1:1: parse error: offset may not be set multiple times"},
        {"sum(foo) offset 5m", "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"},
        {"foo @", "1:6: parse error: unexpected end of input in @, expected timestamp"},
        {"foo @ bar", "1:7: parse error: unexpected identifier \"bar\" in @, expected timestamp"},
        {"foo @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"},
        {"foo @ Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"},
        {"(foo) @ 1", "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery"},
        {"rate(foo)", "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"},
        {"rate(foo[5m], 1)", "1:1: parse error: expected 1 argument(s) in call to \"rate\", got 2"},
        {"round()", "1:1: parse error: expected at least 1 argument(s) in call to \"round\", got 0"},
        {"round(foo, 1, 2)", "1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3"},
        {"label_join(foo)", "1:1: parse error: expected at least 3 argument(s) in call to \"label_join\", got 1"},
        {"label_join(foo, \"a\", \",\", 1)", "1:27: parse error: expected type string in call to function \"label_join\", got scalar"},
        {"nosuch(foo)", "1:1: parse error: unknown function with name \"nosuch\""},
        {"rate(foo[5m],)", "1:13: parse error: trailing commas not allowed in function call args"},
        {"sum foo", "1:5: parse error: unexpected identifier \"foo\" in aggregation"},
        {"sum(foo bar)", "1:9: parse error: unexpected identifier \"bar\" in aggregation"},
        {"sum by (a) foo", "1:12: parse error: unexpected identifier \"foo\" in aggregation"},
        {"sum()", "1:1: parse error: no arguments for aggregate expression provided"},
        {"sum(a, b)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 1, got 2"},
        {"topk(foo)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1"},
        {"topk(foo, bar)", "1:6: parse error: expected type scalar in aggregation parameter, got instant vector"},
        {"count_values(1, foo)", "1:14: parse error: expected type string in aggregation parameter, got scalar"},
        {"sum(foo[5m])", "1:5: parse error: expected type instant vector in aggregation expression, got range vector"},
        {"sum by foo (x)", "1:8: parse error: unexpected identifier \"foo\" in grouping opts, expected \"(\""},
        {"sum by (a b) (x)", "1:11: parse error: unexpected identifier \"b\" in grouping opts, expected \",\" or \")\""},
        {"sum by (1) (x)", "1:9: parse error: unexpected number \"1\" in grouping opts, expected label"},
        {"sum by (\"\") (x)", "1:9: parse error: invalid label name for grouping: \"\""},
        {"foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators"},
        {"1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"},
        {"foo and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
        {"foo and on (a) group_left bar", "1:1: parse error: no grouping allowed for \"and\" operation"},
        {"foo * on (a) group_left (a) bar", "1:5: parse error: label \"a\" must not occur in ON and GROUP clause at once"},
        {"foo + on (a) 1", "1:1: parse error: vector matching only allowed between instant vectors"},
        {"foo[5m] + 1", "1:1: parse error: binary expression must contain only scalar and instant vector types"},
        {"1 + \"a\"", "1:5: parse error: binary expression must contain only scalar and instant vector types"},
        {"-foo[5m]", "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\""},
        {"foo[5m][5m:]", "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"},
        {"foo + on bar", "1:10: parse error: unexpected identifier \"bar\" in grouping opts, expected \"(\""},
        {"foo + group_left bar", "1:7: parse error: unexpected <group_left>"},
        {"on", "1:1: parse error: unexpected <on>"},
        {"bool", "1:1: parse error: unexpected <bool>"},
        {"foo + on(a) bool bar", "1:13: parse error: unexpected <bool>"},
        {"rate(foo[5m]) +", "1:16: parse error: unexpected end of input"},
        {"foo{a=\"b\"} +\nbar{", "2:5: parse error: unexpected end of input inside braces"},
        {"info(foo, bar)", "1:11: parse error: expected label selectors only, got vector selector instead"},
        {"foo[1h:step( ]", "1:14: parse error: unexpected \"]\" in subquery selector, expected number, duration, step(), or \"]\""},
        {"0b101", "1:1: parse error: bad number or duration syntax: \"0\""},
        {"sum(foo,)", "1:8: parse error: trailing commas not allowed in function call args"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i][1]) {
            assert_error(cases[i][0], cases[i][1]);
        } else {
            parsed_t p;
            parse(&p, cases[i][0]);
            assert_int_equal(p.rc, SX_EPARSE);
            done(&p);
        }
    }
}

/* ---- Tree shape ---- */

static void test_parse_types_of_expressions(void **state)
{
    (void)state;
    static const struct {
        const char *q;
        int type;
    } cases[] = {
        {"1", SX_PROMQL_SCALAR},
        {"\"s\"", SX_PROMQL_STRING},
        {"foo", SX_PROMQL_VECTOR},
        {"foo[5m]", SX_PROMQL_MATRIX},
        {"foo[5m:]", SX_PROMQL_MATRIX},
        {"1 + 1", SX_PROMQL_SCALAR},
        {"1 + foo", SX_PROMQL_VECTOR},
        {"(foo[5m])", SX_PROMQL_MATRIX},
        {"-time()", SX_PROMQL_SCALAR},
        {"scalar(foo)", SX_PROMQL_SCALAR},
        {"sum(foo)", SX_PROMQL_VECTOR},
        {"5m", SX_PROMQL_SCALAR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        parsed_t p;
        parse(&p, cases[i].q);
        assert_int_equal(p.rc, 0);
        assert_int_equal(sx_promql_expr_type(p.e), cases[i].type);
        done(&p);
    }
    assert_string_equal(sx_promql_type_name(SX_PROMQL_MATRIX), "matrix");
    assert_string_equal(sx_pq__op_name(PQ_OP_ATAN2), "atan2");
    assert_string_equal(sx_pq__agg_name(PQ_AGG_COUNT_VALUES), "count_values");
}

static void test_parse_selector_puts_name_matcher_first(void **state)
{
    (void)state;
    parsed_t p;
    parse(&p, "foo{b=~\"x|y\", c!=\"z\"}");
    assert_int_equal(p.rc, 0);
    pq_node_t *e = p.e;
    assert_int_equal(e->kind, PQ_VSEL);
    assert_int_equal(e->sel.nm, 3);
    assert_true(sx_str_eq_cstr(e->sel.name, "foo"));
    assert_true(sx_str_eq_cstr(e->sel.m[0].name, "__name__"));
    assert_true(sx_str_eq_cstr(e->sel.m[0].value, "foo"));
    assert_int_equal(e->sel.m[1].op, SX_MATCH_RE);
    assert_non_null(e->sel.m[1]._re);
    assert_true(sx_matcher_matches(&e->sel.m[1], SX_STR_LIT("y")));
    assert_false(sx_matcher_matches(&e->sel.m[1], SX_STR_LIT("xy")));
    assert_int_equal(e->sel.m[2].op, SX_MATCH_NEQ);
    assert_int_equal(e->pos, 0);
    assert_int_equal(e->end, 21);
    done(&p);

    parse(&p, "{\"my.metric\", 'la.bel'=\"v\"}");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->sel.nm, 2);
    assert_int_equal(p.e->sel.name.len, 0);
    assert_true(sx_str_eq_cstr(p.e->sel.m[0].name, "__name__"));
    assert_true(sx_str_eq_cstr(p.e->sel.m[0].value, "my.metric"));
    assert_true(sx_str_eq_cstr(p.e->sel.m[1].name, "la.bel"));
    done(&p);
}

static void test_parse_durations_and_modifiers(void **state)
{
    (void)state;
    parsed_t p;
    parse(&p, "rate(foo[1h30m] offset -5m @ 1700000000.5)");
    assert_int_equal(p.rc, 0);
    pq_node_t *m = p.e->call.args[0];
    assert_int_equal(m->kind, PQ_MSEL);
    assert_int_equal(m->sel.range_ms, 5400000);
    assert_null(m->sel.range_expr);
    assert_int_equal(m->sel.mod.offset_ms, -300000);
    assert_int_equal(m->sel.mod.at, PQ_AT_TIME);
    assert_int_equal(m->sel.mod.at_ms, 1700000000500LL);
    done(&p);

    parse(&p, "max_over_time(foo[10m:30s] @ end())");
    assert_int_equal(p.rc, 0);
    pq_node_t *s = p.e->call.args[0];
    assert_int_equal(s->kind, PQ_SUBQUERY);
    assert_int_equal(s->sub.range_ms, 600000);
    assert_int_equal(s->sub.step_ms, 30000);
    assert_int_equal(s->sub.mod.at, PQ_AT_END);
    assert_int_equal(s->sub.expr->kind, PQ_VSEL);
    done(&p);

    parse(&p, "foo[5m:]");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->sub.step_ms, 0);
    assert_null(p.e->sub.step_expr);
    done(&p);

    parse(&p, "foo offset 1.5");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->sel.mod.offset_ms, 1500);
    done(&p);

    parse(&p, "5m + 1");
    assert_int_equal(p.rc, 0);
    assert_true(p.e->binary.lhs->number == 300.0);
    done(&p);
}

static void test_parse_duration_expressions(void **state)
{
    (void)state;
    parsed_t p;
    int64_t ms;
    sx_err_t err;

    /* Constant expressions are folded. */
    parse(&p, "foo[5m + 1m] offset (1h - 5m)");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->kind, PQ_MSEL);
    assert_int_equal(p.e->sel.range_ms, 360000);
    assert_null(p.e->sel.range_expr);
    assert_int_equal(p.e->sel.mod.offset_ms, 3300000);
    assert_null(p.e->sel.mod.offset_expr);
    done(&p);

    parse(&p, "foo[2 ^ 3 * 10]");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->sel.range_ms, 80000);
    done(&p);

    /* step() stays an expression, resolved at evaluation. */
    parse(&p, "foo[step() * 2 + 1m]");
    assert_int_equal(p.rc, 0);
    assert_non_null(p.e->sel.range_expr);
    assert_int_equal(sx_pq__duration_eval(p.e->sel.range_expr, 15000, &ms, &err), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(sx_pq__duration_eval(p.e->sel.range_expr, 0, &ms, &err), 0);
    assert_int_equal(ms, 60000);
    done(&p);

    parse(&p, "foo[1m - step()]");
    assert_int_equal(p.rc, 0);
    assert_int_equal(sx_pq__duration_eval(p.e->sel.range_expr, 60000, &ms, &err), SX_EEXEC);
    assert_string_equal(err.msg, "duration must be greater than 0");
    done(&p);

    parse(&p, "foo[5m:step()] offset -step()");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->kind, PQ_SUBQUERY);
    assert_non_null(p.e->sub.step_expr);
    assert_int_equal(p.e->sub.step_expr->kind, PQ_DUR_STEP);
    assert_int_equal(sx_pq__offset_eval(&p.e->sub.mod, 30000, &ms, &err), 0);
    assert_int_equal(ms, -30000);
    done(&p);

    /* A constant that is invalid stays an expression: evaluation fails. */
    parse(&p, "foo[5m - 10m]");
    assert_int_equal(p.rc, 0);
    assert_non_null(p.e->sel.range_expr);
    assert_int_equal(sx_pq__duration_eval(p.e->sel.range_expr, 0, &ms, &err), SX_EEXEC);
    done(&p);

    parse(&p, "foo[1m / (step() - step())]");
    assert_int_equal(p.rc, 0);
    assert_int_equal(sx_pq__duration_eval(p.e->sel.range_expr, 0, &ms, &err), SX_EEXEC);
    assert_string_equal(err.msg, "division by zero");
    done(&p);

    /* offset (1h) + 5m continues the duration; offset 5m + 1 does not. */
    parse(&p, "foo offset (1h) + 5m");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->kind, PQ_VSEL);
    assert_int_equal(p.e->sel.mod.offset_ms, 3900000);
    done(&p);
    parse(&p, "foo offset 5m + 1");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->kind, PQ_BINARY);
    done(&p);
}

static void test_parse_operator_precedence(void **state)
{
    (void)state;
    parsed_t p;
    /* -2 ^ 2 is -(2 ^ 2). */
    parse(&p, "-2 ^ 2");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->kind, PQ_UNARY);
    assert_int_equal(p.e->unary.expr->kind, PQ_BINARY);
    done(&p);
    /* ^ is right-associative. */
    parse(&p, "2 ^ 3 ^ 2");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->binary.rhs->kind, PQ_BINARY);
    done(&p);
    /* - is left-associative. */
    parse(&p, "1 - 2 - 3");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->binary.lhs->kind, PQ_BINARY);
    done(&p);
    /* -a * b is (-a) * b. */
    parse(&p, "-foo * bar");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->kind, PQ_BINARY);
    assert_int_equal(p.e->binary.lhs->kind, PQ_UNARY);
    done(&p);
    /* or < and < comparison < + < * */
    parse(&p, "a or b and c == d + e * f");
    assert_int_equal(p.rc, 0);
    assert_int_equal(p.e->binary.op, PQ_OP_OR);
    pq_node_t *r = p.e->binary.rhs;
    assert_int_equal(r->binary.op, PQ_OP_AND);
    r = r->binary.rhs;
    assert_int_equal(r->binary.op, PQ_OP_EQ);
    r = r->binary.rhs;
    assert_int_equal(r->binary.op, PQ_OP_ADD);
    assert_int_equal(r->binary.rhs->binary.op, PQ_OP_MUL);
    /* Set operators are many-to-many; vector matching is kept. */
    assert_int_equal(p.e->binary.match->card, PQ_CARD_MANY_TO_MANY);
    done(&p);
    /* Scalar operands drop the matching. */
    parse(&p, "foo * 2");
    assert_int_equal(p.rc, 0);
    assert_null(p.e->binary.match);
    done(&p);
    parse(&p, "foo / on (a, b) group_left (c) bar");
    assert_int_equal(p.rc, 0);
    pq_match_t *vm = p.e->binary.match;
    assert_non_null(vm);
    assert_true(vm->on);
    assert_int_equal(vm->card, PQ_CARD_MANY_TO_ONE);
    assert_int_equal(vm->nlabels, 2);
    assert_int_equal(vm->ninclude, 1);
    assert_true(sx_str_eq_cstr(vm->include[0], "c"));
    done(&p);
}

static void test_parse_ast_json_shape(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"1", "{\"type\":\"numberLiteral\",\"val\":\"1\"}"},
        {"\"a<b\"", "{\"type\":\"stringLiteral\",\"val\":\"a\\u003cb\"}"},
        {"foo{a=\"b\"} offset 1m",
         "{\"matchers\":[{\"name\":\"a\",\"type\":\"=\",\"value\":\"b\"},{\"name\":\"__name__\","
         "\"type\":\"=\",\"value\":\"foo\"}],\"name\":\"foo\",\"offset\":60000,\"startOrEnd\":null,"
         "\"timestamp\":null,\"type\":\"vectorSelector\"}"},
        {"foo[5m] @ start()",
         "{\"matchers\":[{\"name\":\"__name__\",\"type\":\"=\",\"value\":\"foo\"}],\"name\":\"foo\","
         "\"offset\":0,\"range\":300000,\"startOrEnd\":\"start\",\"timestamp\":null,"
         "\"type\":\"matrixSelector\"}"},
        {"sum by (a) (-x > bool 1)",
         "{\"expr\":{\"bool\":true,\"lhs\":{\"expr\":{\"matchers\":[{\"name\":\"__name__\",\"type\":"
         "\"=\",\"value\":\"x\"}],\"name\":\"x\",\"offset\":0,\"startOrEnd\":null,\"timestamp\":null,"
         "\"type\":\"vectorSelector\"},\"op\":\"-\",\"type\":\"unaryExpr\"},\"matching\":null,\"op\":"
         "\"\\u003e\",\"rhs\":{\"type\":\"numberLiteral\",\"val\":\"1\"},\"type\":\"binaryExpr\"},"
         "\"grouping\":[\"a\"],\"op\":\"sum\",\"param\":null,\"type\":\"aggregation\",\"without\":false}"},
        {"round(x)[5m:1m] @ 10",
         "{\"expr\":{\"args\":[{\"matchers\":[{\"name\":\"__name__\",\"type\":\"=\",\"value\":\"x\"}],"
         "\"name\":\"x\",\"offset\":0,\"startOrEnd\":null,\"timestamp\":null,\"type\":"
         "\"vectorSelector\"}],\"func\":{\"argTypes\":[\"vector\",\"scalar\"],\"name\":\"round\","
         "\"returnType\":\"vector\",\"variadic\":1},\"type\":\"call\"},\"offset\":0,\"range\":300000,"
         "\"startOrEnd\":null,\"step\":60000,\"timestamp\":10000,\"type\":\"subquery\"}"},
        {"(a and on (b) c)",
         "{\"expr\":{\"bool\":false,\"lhs\":{\"matchers\":[{\"name\":\"__name__\",\"type\":\"=\","
         "\"value\":\"a\"}],\"name\":\"a\",\"offset\":0,\"startOrEnd\":null,\"timestamp\":null,"
         "\"type\":\"vectorSelector\"},\"matching\":{\"card\":\"many-to-many\",\"include\":[],"
         "\"labels\":[\"b\"],\"on\":true},\"op\":\"and\",\"rhs\":{\"matchers\":[{\"name\":"
         "\"__name__\",\"type\":\"=\",\"value\":\"c\"}],\"name\":\"c\",\"offset\":0,\"startOrEnd\":"
         "null,\"timestamp\":null,\"type\":\"vectorSelector\"},\"type\":\"binaryExpr\"},\"type\":"
         "\"parenExpr\"}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        parsed_t p;
        parse(&p, cases[i][0]);
        assert_int_equal(p.rc, 0);
        sx_buf_t b = SX_BUF_INIT;
        sx_promql_ast_json(p.e, &b);
        sx_buf_putc(&b, '\0');
        if (strcmp(b.ptr, cases[i][1]) != 0)
            fail_msg("query %s\n  want %s\n  got  %s", cases[i][0], cases[i][1], b.ptr);
        sx_buf_dispose(&b);
        done(&p);
    }
}

static void test_parse_deep_nesting_is_an_error(void **state)
{
    (void)state;
    static const char *const shapes[][3] = {
        {"(", "1", ")"}, {"-", "1", ""}, {"sum(", "x", ")"}, {"abs(", "x", ")"}, {"-(", "x", ")"},
    };
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        for (int levels = 100; levels <= 100000; levels *= 10) {
            sx_buf_t b = SX_BUF_INIT;
            for (int i = 0; i < levels; i++)
                sx_buf_puts(&b, shapes[s][0]);
            sx_buf_puts(&b, shapes[s][1]);
            for (int i = 0; i < levels; i++)
                sx_buf_puts(&b, shapes[s][2]);
            sx_buf_putc(&b, '\0');
            parsed_t p;
            parse(&p, b.ptr);
            if (levels == 100) {
                assert_int_equal(p.rc, 0);
            } else {
                assert_int_equal(p.rc, SX_EPARSE);
                assert_non_null(strstr(p.err.msg, "nested too deeply"));
            }
            done(&p);
            sx_buf_dispose(&b);
        }
    }
    /* A long left-associative chain builds a deep tree without recursion. */
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, "x");
    for (int i = 0; i < 5000; i++)
        sx_buf_puts(&b, " + x");
    sx_buf_putc(&b, '\0');
    parsed_t p;
    parse(&p, b.ptr);
    assert_int_equal(p.rc, SX_EPARSE);
    done(&p);
    sx_buf_dispose(&b);
}

static void test_parse_uses_only_the_arena_on_error(void **state)
{
    (void)state;
    /* Regexes compiled before a later error are released (ASan checks). */
    static const char *const cases[] = {
        "foo{a=~\"x.*\"} + {b=~\"y\"} +",
        "sum(foo{a=~\"x\"}) by (",
        "foo{a=~\"x\", b=~\"(\"}",
        "rate(foo{a=~\"x\"}[5m]) == 1 == 1 +",
        "{a=~\".*\"}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        parsed_t p;
        parse(&p, cases[i]);
        assert_int_not_equal(p.rc, 0);
        done(&p);
    }

    /* Running out of arena mid-parse is SX_ELIMIT, regexes released. */
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, "x{a=~\"y.*\"}");
    for (int i = 0; i < 3000; i++)
        sx_buf_puts(&b, " or x{a=~\"y.*\"}");
    sx_buf_putc(&b, '\0');
    sx_arena_t a;
    sx_arena_init(&a);
    a._limit = 64 * 1024;
    sx_promql_expr_t *e = NULL;
    sx_err_t err;
    assert_int_equal(sx_promql_parse(sx_str(b.ptr), &a, &e, &err), SX_ELIMIT);
    assert_null(e);
    sx_arena_dispose(&a);
    sx_buf_dispose(&b);
}

/* Inputs the fuzzer found whose canonical form did not parse back to the
 * same form (tests/fuzz/corpus/promql/regress-*). */
static void test_parse_round_trip_regressions(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "5 % + 1h30m - 44424d444ms", /* float seconds lost a millisecond */
        "1 + Inf ^ 7",               /* "+Inf ^ 7" parses as +(Inf ^ 7) */
        "info(fOo, {})",             /* an empty selector printed as nothing */
        "foo offset (1h) + 5m",      /* parentheses after offset are kept */
        "foo @ 1700000000.123",
        "bottomk offset + +4 -----20", /* an offset expression printed bare */
        "'\\ufffd'",                     /* U+FFFD printed raw, which the lexer rejects */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *f1 = format_of(cases[i]);
        assert_true(strncmp(f1, "ERR", 3) != 0);
        char *f2 = format_of(f1);
        if (strcmp(f1, f2) != 0)
            fail_msg("query %s\n  formats as %s\n  then as    %s", cases[i], f1, f2);
        free(f1);
        free(f2);
    }
}

/* ---- Conformance queries ---- */

static const char *shared_dir(char *buf, size_t sz)
{
    const char *s = getenv("SX_SHARED");
    if (s && *s)
        return s;
    const char *src = getenv("SX_SOURCE_DIR");
    snprintf(buf, sz, "%s/../shared", src && *src ? src : ".");
    return buf;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* The expression of an eval line, or NULL. */
static const char *eval_expr(char *line)
{
    char *w[8];
    char *p = line;
    int skip;
    if (strncmp(line, "eval", 4) != 0)
        return NULL;
    char *sp = strchr(line, ' ');
    if (!sp)
        return NULL;
    if (strncmp(sp + 1, "instant ", 8) == 0)
        skip = 4; /* eval instant at T */
    else if (strncmp(sp + 1, "range ", 6) == 0)
        skip = 8; /* eval range from T to T step S */
    else
        return NULL;
    for (int i = 0; i < skip; i++) {
        while (*p == ' ')
            p++;
        w[i] = p;
        while (*p && *p != ' ')
            p++;
        if (!*p)
            return NULL;
    }
    (void)w;
    while (*p == ' ')
        p++;
    return p;
}

typedef struct conf_stats {
    int ok, ok_fail_expected, failed_fail_expected;
    int bad; /* expected to parse but did not, or did not round-trip */
} conf_stats_t;

static void check_query(const char *file, int lineno, const char *q, bool expect_fail,
                        conf_stats_t *st)
{
    parsed_t p;
    parse(&p, q);
    if (p.rc != 0) {
        if (expect_fail) {
            st->failed_fail_expected++;
        } else {
            print_error("%s:%d: %s\n  %s\n", file, lineno, q, p.err.msg);
            st->bad++;
        }
        done(&p);
        return;
    }
    sx_buf_t f1 = SX_BUF_INIT, f2 = SX_BUF_INIT, j = SX_BUF_INIT;
    sx_promql_format(p.e, &f1);
    sx_buf_putc(&f1, '\0');
    sx_promql_ast_json(p.e, &j);
    parsed_t p2;
    parse(&p2, f1.ptr);
    if (p2.rc != 0) {
        print_error("%s:%d: %s\n  formatted %s does not parse: %s\n", file, lineno, q, f1.ptr,
                    p2.err.msg);
        st->bad++;
    } else {
        sx_promql_format(p2.e, &f2);
        sx_buf_putc(&f2, '\0');
        if (strcmp(f1.ptr, f2.ptr) != 0) {
            print_error("%s:%d: %s\n  formats as %s\n  then as    %s\n", file, lineno, q, f1.ptr,
                        f2.ptr);
            st->bad++;
        } else if (expect_fail) {
            st->ok_fail_expected++;
        } else {
            st->ok++;
        }
    }
    done(&p2);
    done(&p);
    sx_buf_dispose(&f1);
    sx_buf_dispose(&f2);
    sx_buf_dispose(&j);
}

static void test_parse_conformance_queries_parse_and_round_trip(void **state)
{
    (void)state;
    char buf[4096], dir[4096];
    snprintf(dir, sizeof(dir), "%s/conformance/promql", shared_dir(buf, sizeof(buf)));
    DIR *d = opendir(dir);
    if (!d) {
        print_message("no conformance data in %s; skipped\n", dir);
        skip();
    }
    conf_stats_t st = {0};
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".test") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        files++;
        /* Read all lines so an eval can look at the expect lines after it. */
        char **lines = NULL;
        size_t nl = 0, cap = 0;
        char line[65536];
        while (fgets(line, sizeof(line), f)) {
            if (nl == cap) {
                cap = cap ? cap * 2 : 256;
                lines = realloc(lines, cap * sizeof(*lines));
                assert_non_null(lines);
            }
            lines[nl++] = strdup(trim(line));
        }
        fclose(f);
        for (size_t i = 0; i < nl; i++) {
            const char *q = eval_expr(lines[i]);
            if (!q)
                continue;
            bool fail = strncmp(lines[i], "eval_fail", 9) == 0;
            for (size_t k = i + 1; k < nl && lines[k][0] != '\0' && !eval_expr(lines[k]); k++)
                if (strncmp(lines[k], "expect fail", 11) == 0 ||
                    strncmp(lines[k], "expected_fail", 13) == 0)
                    fail = true;
            check_query(de->d_name, (int)i + 1, q, fail, &st);
        }
        for (size_t i = 0; i < nl; i++)
            free(lines[i]);
        free(lines);
    }
    closedir(d);
    print_message("conformance: %d files, %d queries parse and round-trip, expected failures: "
                  "%d parse, %d fail to parse; %d bad\n",
                  files, st.ok, st.ok_fail_expected, st.failed_fail_expected, st.bad);
    assert_true(files > 0);
    assert_int_equal(st.bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_formats_canonically),
        cmocka_unit_test(test_parse_errors_match_prometheus),
        cmocka_unit_test(test_parse_types_of_expressions),
        cmocka_unit_test(test_parse_selector_puts_name_matcher_first),
        cmocka_unit_test(test_parse_durations_and_modifiers),
        cmocka_unit_test(test_parse_duration_expressions),
        cmocka_unit_test(test_parse_operator_precedence),
        cmocka_unit_test(test_parse_ast_json_shape),
        cmocka_unit_test(test_parse_deep_nesting_is_an_error),
        cmocka_unit_test(test_parse_uses_only_the_arena_on_error),
        cmocka_unit_test(test_parse_round_trip_regressions),
        cmocka_unit_test(test_parse_conformance_queries_parse_and_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
