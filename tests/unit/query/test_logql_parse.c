/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the LogQL lexer, parser and printer (lex.c, parse.c,
 * format.c): canonical formatting and its round trip, Loki's error
 * messages and positions, the tree the evaluator reads (every parameter of
 * selectors, stages, label filters, unwrap, range and vector aggregations,
 * binary operations), Loki's lexer rules for durations, byte sizes,
 * keywords and function words, label filter precedence, the unwrap rules,
 * literal folding, compiled regexes, nesting and size limits. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "query/logql/logql_parse_int.h"

/* ---- Helpers ---- */

typedef struct parsed {
    sx_arena_t a;
    sx_logql_expr_t *e;
    sx_err_t err;
} parsed_t;

static sx_logql_expr_t *parse_flags(parsed_t *p, const char *q, unsigned flags)
{
    sx_arena_init(&p->a);
    memset(&p->err, 0, sizeof(p->err));
    p->e = sx_logql_parse_ex(q, strlen(q), flags, &p->a, &p->err);
    return p->e;
}

static sx_logql_expr_t *parse(parsed_t *p, const char *q)
{
    return parse_flags(p, q, 0);
}

static void done(parsed_t *p)
{
    sx_logql_expr_dispose(p->e);
    sx_arena_dispose(&p->a);
}

/* Parse q or fail the test with the error. */
static sx_logql_expr_t *must(parsed_t *p, const char *q)
{
    if (!parse(p, q))
        fail_msg("query %s\n  failed: %s", q, p->err.msg);
    return p->e;
}

/* The canonical form of q, or "ERR: <message>" (caller frees). Checks the
 * round trip on the way. */
static char *format_of(const char *q)
{
    parsed_t p;
    sx_buf_t b = SX_BUF_INIT;
    if (parse(&p, q)) {
        sx_logql_format(p.e, &b);
        parsed_t r;
        sx_buf_putc(&b, '\0');
        if (!parse_flags(&r, b.ptr, SX_LOGQL_PARSE_NO_VALIDATE))
            fail_msg("query %s\n  printed as %s, which fails: %s", q, b.ptr, r.err.msg);
        sx_buf_t b2 = SX_BUF_INIT;
        sx_logql_format(r.e, &b2);
        sx_buf_putc(&b2, '\0');
        if (strcmp(b.ptr, b2.ptr) != 0)
            fail_msg("query %s\n  printed as %s\n  then as   %s", q, b.ptr, b2.ptr);
        sx_buf_dispose(&b2);
        done(&r);
    } else {
        sx_buf_puts(&b, "ERR: ");
        sx_buf_puts(&b, p.err.msg);
        sx_buf_putc(&b, '\0');
    }
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
    if (parse(&p, q)) {
        sx_buf_t b = SX_BUF_INIT;
        sx_logql_format(p.e, &b);
        sx_buf_putc(&b, '\0');
        fail_msg("query %s parsed as %s, want error %s", q, b.ptr, want);
    }
    if (strcmp(p.err.msg, want) != 0)
        fail_msg("query %s\n  want error %s\n  got  error %s", q, want, p.err.msg);
    assert_int_equal(p.err.code, SX_EPARSE);
    done(&p);
}

static bool str_is(sx_str_t s, const char *want)
{
    return sx_str_eq_cstr(s, want);
}

/* ---- Formatting ---- */

static void test_logql_parse_formats_canonically(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"{job=\"loki\"}", "{job=\"loki\"}"},
        {"{ job = `loki` , name =~ \"mysql.+\" }", "{job=\"loki\", name=~\"mysql.+\"}"},
        {"{a=\"b\"} |= \"x\" != `y` |~ \"z\" !~ \"w\" |> \"<_> v\" !> \"u\"",
         "{a=\"b\"} |= \"x\" != \"y\" |~ \"z\" !~ \"w\" |> \"<_> v\" !> \"u\""},
        {"{a=\"b\"} |= \"x\" or \"y\" or ip(\"10.0.0.0/8\")",
         "{a=\"b\"} |= \"x\" or \"y\" or ip(\"10.0.0.0/8\")"},
        {"{a=\"b\"} | json | logfmt --keep-empty --strict a=\"b\", c | unpack",
         "{a=\"b\"} | json | logfmt --strict --keep-empty a=\"b\", c | unpack"},
        {"{a=\"b\"} | json a=\"x.y\", b=\"z[0]\"", "{a=\"b\"} | json a=\"x.y\", b=\"z[0]\""},
        {"{a=\"b\"} | regexp `(?P<m>\\w+)`", "{a=\"b\"} | regexp \"(?P<m>\\\\w+)\""},
        {"{a=\"b\"} | pattern \"<ip> - <_>\"", "{a=\"b\"} | pattern \"<ip> - <_>\""},
        {"{a=\"b\"} | line_format \"{{.a}}\\n\" | label_format a=\"{{.b}}\", c=d",
         "{a=\"b\"} | line_format \"{{.a}}\\n\" | label_format a=\"{{.b}}\", c=d"},
        {"{a=\"b\"} | decolorize | drop a, b=\"v\" | keep c, d!~\"e\"",
         "{a=\"b\"} | decolorize | drop a, b=\"v\" | keep c, d!~\"e\""},
        {"{a=\"b\"} | x > 5s, y < 1.5KiB z = 100 or w=\"x\"",
         "{a=\"b\"} | x>5s and y<1.5KiB and (z==100 or w=\"x\")"},
        {"{a=\"b\"} | x = ip(\"1.2.3.4\") | y != ip(\"::1\")",
         "{a=\"b\"} | x=ip(\"1.2.3.4\") | y!=ip(\"::1\")"},
        {"{a=\"b\"} | c > -1 | c >= - 0 | c == +2.5", "{a=\"b\"} | c>-1 | c>=- 0 | c==2.5"},
        {"count_over_time({a=\"b\"}[5m])", "count_over_time({a=\"b\"} [5m])"},
        {"count_over_time({a=\"b\"}[5m] |= \"x\")", "count_over_time({a=\"b\"} |= \"x\" [5m])"},
        {"rate(({a=\"b\"} |= \"x\")[5m] offset 1h)",
         "rate({a=\"b\"} |= \"x\" [5m] offset 1h)"},
        {"sum_over_time({a=\"b\"}[5m] offset -5m | json | unwrap bytes(x) | x > 1)",
         "sum_over_time({a=\"b\"} | json | unwrap bytes(x) | x>1 [5m] offset -5m)"},
        {"quantile_over_time(0.99, {a=\"b\"} | unwrap x [1m]) by (c, d)",
         "quantile_over_time(0.99, {a=\"b\"} | unwrap x [1m]) by (c, d)"},
        {"sum(rate({a=\"b\"}[1m])) by (c)", "sum by (c) (rate({a=\"b\"} [1m]))"},
        {"topk(10, sum without (c) (rate({a=\"b\"}[1m])))",
         "topk(10, sum without (c) (rate({a=\"b\"} [1m])))"},
        {"sum by () (rate({a=\"b\"}[1m]))", "sum by () (rate({a=\"b\"} [1m]))"},
        {"rate({a=\"b\"}[1m]) / on (c) group_left rate({a=\"c\"}[1m])",
         "rate({a=\"b\"} [1m]) / on (c) group_left () rate({a=\"c\"} [1m])"},
        {"rate({a=\"b\"}[1m]) > bool ignoring (c) group_right (d) rate({a=\"c\"}[1m])",
         "rate({a=\"b\"} [1m]) > bool ignoring (c) group_right (d) rate({a=\"c\"} [1m])"},
        {"(rate({a=\"b\"}[1m]) + 1) * 2", "(rate({a=\"b\"} [1m]) + 1) * 2"},
        {"rate({a=\"b\"}[1m]) - (1 - rate({a=\"b\"}[1m]))",
         "rate({a=\"b\"} [1m]) - (1 - rate({a=\"b\"} [1m]))"},
        {"(rate({a=\"b\"}[1m]) ^ 2) ^ 3", "(rate({a=\"b\"} [1m]) ^ 2) ^ 3"},
        {"rate({a=\"b\"}[1m]) ^ 2 ^ 3", "rate({a=\"b\"} [1m]) ^ 8"}, /* 2 ^ 3 folds */
        {"rate({a=\"b\"}[1m]) ^ vector(2) ^ 3", "rate({a=\"b\"} [1m]) ^ vector(2) ^ 3"},
        {"label_replace(rate({a=\"b\"}[1m]), \"d\", \"$1\", \"s\", \"(.*)\")",
         "label_replace(rate({a=\"b\"} [1m]), \"d\", \"$1\", \"s\", \"(.*)\")"},
        {"vector(1) or rate({a=\"b\"}[1m])", "vector(1) or rate({a=\"b\"} [1m])"},
        {"0.123e3", "0.123e3"},
        {"SUM(RATE({a=\"b\"}[1m])) BY (c)", "sum by (c) (rate({a=\"b\"} [1m]))"},
        {"{a=\"b\"} # comment\n|= \"x\" /* c */ // d", "{a=\"b\"} |= \"x\""},
        {"{a=\"b\"} |= \"\\x41\\u00e9\\101\\t\\\"\"", "{a=\"b\"} |= \"A\xC3\xA9" "A\\t\\\"\""},
        {"{a=\"b\"} |= \"\\xff\"", "{a=\"b\"} |= \"\\xff\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_format(cases[i][0], cases[i][1]);
}

/* ---- Errors ---- */

static void test_logql_parse_errors_match_loki(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"", "parse error : syntax error: unexpected $end"},
        {"unk({ foo = \"bar\" }[5m])",
         "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"},
        {"rate({ foo = \"bar\" }[5minutes])",
         "parse error at line 0, col 21: not a valid duration string: \"5minutes\""},
        {"rate({ foo = \"bar\" }[5)", "parse error at line 0, col 21: missing closing ']' in duration"},
        {"min({ foo = \"bar\" }[5m])", "parse error at line 0, col 20: syntax error: unexpected RANGE"},
        {"stddev({ foo = \"bar\" })", "parse error at line 1, col 23: syntax error: unexpected )"},
        {"label_replace(rate({ foo = \"bar\" }[5m]),\"\")",
         "parse error at line 1, col 43: syntax error: unexpected ), expecting ,"},
        {"{foo=\"bar}", "parse error at line 1, col 6: literal not terminated"},
        {"{foo=\"bar\"", "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"},
        {"{foo=\"bar\"} |~", "parse error at line 1, col 15: syntax error: unexpected $end, "
                             "expecting STRING or ip"},
        {"{job=\"loki\",}", "parse error at line 1, col 13: syntax error: unexpected }, expecting "
                            "IDENTIFIER"},
        {"bottomk(he,count_over_time({ foo = \"bar\" }[5h]))",
         "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER"},
        {"{a=\"b\"}\n  | unwrap x", "parse error at line 2, col 5: syntax error: unexpected unwrap"},
        {"{a=\"b\"} | json | pattern=\"x\"",
         "parse error at line 1, col 25: syntax error: unexpected =, expecting STRING"},
        {"sum(3 ,count_over_time({ foo = \"bar\" }[5h]))",
         "parse error : unsupported parameter for operation sum(3,"},
        {"topk(count_over_time({ foo = \"bar\" }[5h]))",
         "parse error : parameter required for operation topk"},
        {"bottomk(1.2,count_over_time({ foo = \"bar\" }[5h]))",
         "parse error : invalid parameter bottomk(1.2,"},
        {"topk(0, count_over_time({ foo = \"bar\" }[5h]))",
         "parse error : invalid parameter (must be greater than 0) topk(0"},
        {"absent_over_time({ foo = \"bar\" }[5h]) by (foo)",
         "parse error : grouping not allowed for absent_over_time aggregation"},
        {"approx_topk by (a) (5, rate({a=\"b\"}[1m]))",
         "parse error : grouping not allowed for approx_topk aggregation"},
        {"sum_over_time({a=\"b\"} | json [5m])",
         "parse error : invalid aggregation sum_over_time without unwrap"},
        {"count_over_time({a=\"b\"} | json | unwrap x [5m])",
         "parse error : invalid aggregation count_over_time with unwrap"},
        {"rate(0.5, {a=\"b\"}[1m])", "parse error : parameter 0.5 not supported for operation rate"},
        {"quantile_over_time({a=\"b\"} | unwrap x [1m])",
         "parse error : parameter required for operation quantile_over_time"},
        {"{a=~\".*\"}",
         "parse error : queries require at least one regexp or equality matcher that does not "
         "have an empty-compatible value. For instance, app=~\".*\" does not meet this "
         "requirement, but app=~\".+\" will"},
        {"sort(rate({a=\"b\"}[1m])) by (c)", "parse error : sort and sort_desc doesn't allow grouping by "},
        {"{a=\"b\"} + 1",
         "parse error : unexpected type for left leg of binary operation (+): *syntax.MatchersExpr"},
        {"rate({a=\"b\"}[1m]) > {a=\"b\"} |= \"x\"",
         "parse error : unexpected type for right leg of binary operation (>): *syntax.PipelineExpr"},
        {"1 and rate({a=\"b\"}[1m])",
         "parse error : unexpected literal for left leg of logical/set binary operation (and): "
         "1.000000"},
        {"1e400", "parse error : unable to parse literal as a float: strconv.ParseFloat: parsing "
                  "\"1e400\": value out of range"},
        {"label_replace(vector(1), \"d\", \"\", \"s\", \"\")",
         "parse error : queries require at least one regexp or equality matcher that does not "
         "have an empty-compatible value. For instance, app=~\".*\" does not meet this "
         "requirement, but app=~\".+\" will"},
        {"{a=\"b\"} | regexp \"(a)\"",
         "parse error : invalid regexp parser: at least one named capture must be supplied"},
        {"{a=\"b\"} | regexp \"(?P<x>.)(?P<y>.)(?P<x>.)\"",
         "parse error : invalid regexp parser: duplicate extracted label name 'x'"},
        {"{a=\"b\"} | pattern \"<_> <_>\"",
         "parse error : invalid pattern parser: at least one capture is required"},
        {"{a=\"b\"} | pattern \"<a><b>\"",
         "parse error : invalid pattern parser: found consecutive capture '<a><b>': invalid "
         "expression"},
        {"{a=\"b\"} | pattern \"<a> <a>\"",
         "parse error : invalid pattern parser: duplicate capture name (a): invalid expression"},
        {"rate({a=\"b\"}[1m]) > 1x", "parse error at line 1, col 22: syntax error: unexpected IDENTIFIER"},
        {"{a=\"b\"} | x > 0x", "parse error at line 1, col 15: hexadecimal literal has no digits"},
        {"{a=\"b\"} | x > 1e", "parse error at line 1, col 15: exponent has no digits"},
        {"{a=\"b\"} |= \"\\q\"", "parse error at line 1, col 12: invalid char escape"},
        {"{a=\"b\"} |= \"\\400\"", "parse error at line 1, col 12: invalid syntax"},
        {"{a='bc'}", "parse error at line 1, col 4: invalid char literal"},
        {"{a='b'}", "parse error at line 1, col 4: syntax error: unexpected IDENTIFIER, expecting STRING"},
        {"{a=\"b\"} /* x", "parse error at line 1, col 9: comment not terminated"},
        {"{a=\"b\xff\"}", "parse error at line 1, col 4: invalid UTF-8 encoding"},
        {"2w3y", "parse error at line 1, col 2: syntax error: unexpected IDENTIFIER"},
        {"5y2w3d4h5m6s", "parse error at line 0, col 1: syntax error: unexpected DURATION"},
        {"-20.5MB", "parse error at line 0, col 2: syntax error: unexpected BYTES, expecting NUMBER"},
        {"{a=\"b\"} | json on=\"x\"", "parse error at line 1, col 16: syntax error: unexpected on"},
        {"variants(count_over_time({a=\"b\"}[1m])) of ({a=\"b\"}[1m])",
         "parse error : multi variant queries are disabled for this instance"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_error(cases[i][0], cases[i][1]);
}

static void test_logql_parse_bad_regexes_are_errors(void **state)
{
    (void)state;
    parsed_t p;
    static const char *const qs[] = {
        "{a=~\"(bad\"}",
        "{a=\"b\"} | x!~\"(bad\"",
        "{a=\"b\"} | drop x=~\"[\"",
        "{a=\"b\"} |~ \"(bad\"",
        "{a=\"b\"} | regexp \"(?P<x>\"",
        "label_replace(rate({a=\"b\"}[1m]), \"d\", \"\", \"s\", \"(\")",
    };
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        if (parse(&p, qs[i]))
            fail_msg("query %s parsed", qs[i]);
        assert_non_null(strstr(p.err.msg, "error parsing regexp"));
        assert_int_equal(p.err.code, SX_EPARSE);
        done(&p);
    }
    /* What RE2 refuses is refused, with Go's words. */
    assert_error("{a=~\"(a)\\\\1\"}",
                 "parse error : error parsing regexp: invalid escape sequence: `\\1`");
    assert_error("{a=\"b\"} | regexp \"(?P<x>a(?=b))\"",
                 "parse error : invalid regexp parser: error parsing regexp: invalid or "
                 "unsupported Perl syntax: `(?=`");
    assert_error("{a=\"b\"} | x=~\"a++\"",
                 "parse error : error parsing regexp: invalid nested repetition operator: `++`");
    assert_format("{a=\"b\"} |~ \"[(?=]\\\\(?=x+?\"", "{a=\"b\"} |~ \"[(?=]\\\\(?=x+?\"");
    /* A line filter's regex fails as Loki's pipeline does: after the rest. */
    assert_error("{a=\"b\"} |~ \"(\"", "parse error : stage '|~ \"(\"' : error parsing regexp: "
                                       "missing closing parenthesis: `(`");
    if (parse(&p, "{a=\"b\"} |~ \"(\" | json | x=~\"y\" |~ \")\"")) /* one error, the first */
        fail_msg("parsed");
    assert_non_null(strstr(p.err.msg, "stage '|~ \"(\"'"));
    done(&p);
}

/* ---- The tree ---- */

static void test_logql_parse_records_selector_and_stages(void **state)
{
    (void)state;
    parsed_t p;
    sx_logql_expr_t *e = must(&p, "{job=\"loki\", app!=\"x\", ns=~\"a|b\", pod!~`p.*`} "
                                  "|= \"err\" or ip(\"10.0.0.1\") !~ \"time(out)?\" "
                                  "| logfmt --strict a=\"b\", c | json x=\"y[0]\" "
                                  "| regexp \"(?P<one>\\\\d+)-(?P<two>\\\\w+)\" "
                                  "| pattern \"<ip> <_>\" | unpack | line_format \"{{.a}}\" "
                                  "| label_format d=\"{{.e}}\", f=g | decolorize "
                                  "| drop h, i=\"j\" | keep k");
    assert_int_equal(e->kind, SX_LQ_EXPR_LOG);
    assert_false(sx_logql_is_metric(e));
    assert_int_equal(e->log.nmatchers, 4);
    assert_true(str_is(e->log.matchers[0].name, "job"));
    assert_true(str_is(e->log.matchers[0].value, "loki"));
    assert_int_equal(e->log.matchers[1].op, SX_MATCH_NEQ);
    assert_int_equal(e->log.matchers[2].op, SX_MATCH_RE);
    assert_true(sx_matcher_matches(&e->log.matchers[2], SX_STR_LIT("a")));
    assert_false(sx_matcher_matches(&e->log.matchers[2], SX_STR_LIT("ab"))); /* anchored */
    assert_int_equal(e->log.matchers[3].op, SX_MATCH_NRE);
    assert_true(str_is(e->log.matchers[3].value, "p.*"));
    assert_int_equal(e->log.nstages, 12);
    const sx_logql_stage_t *s = e->log.stages;
    assert_int_equal(s[0].kind, SX_LQ_STAGE_LINE_FILTER);
    assert_int_equal(s[0].line.op, SX_LQ_LINE_CONTAINS);
    assert_int_equal(s[0].line.nalts, 2);
    assert_true(str_is(s[0].line.alts[0].value, "err"));
    assert_false(s[0].line.alts[0].ip);
    assert_null(s[0].line.alts[0].re);
    assert_true(s[0].line.alts[1].ip);
    assert_true(str_is(s[0].line.alts[1].value, "10.0.0.1"));
    assert_int_equal(s[1].line.op, SX_LQ_LINE_NOT_MATCH);
    assert_non_null(s[1].line.alts[0].re);
    assert_true(sx_logql_re_search(s[1].line.alts[0].re, "a timeout b", 11)); /* unanchored */
    assert_false(sx_logql_re_search(s[1].line.alts[0].re, "tim", 3));
    assert_int_equal(s[2].kind, SX_LQ_STAGE_LOGFMT);
    assert_true(s[2].parser.strict);
    assert_false(s[2].parser.keep_empty);
    assert_int_equal(s[2].parser.nparams, 2);
    assert_true(str_is(s[2].parser.params[0].label, "a"));
    assert_true(str_is(s[2].parser.params[0].expr, "b"));
    assert_false(s[2].parser.params[0].bare);
    assert_true(str_is(s[2].parser.params[1].expr, "c"));
    assert_true(s[2].parser.params[1].bare);
    assert_int_equal(s[3].kind, SX_LQ_STAGE_JSON);
    assert_true(str_is(s[3].parser.params[0].expr, "y[0]"));
    assert_int_equal(s[4].kind, SX_LQ_STAGE_REGEXP);
    assert_int_equal(s[4].regexp.nnames, 2);
    assert_true(str_is(s[4].regexp.names[0], "one"));
    assert_int_equal(s[4].regexp.groups[0], 1);
    assert_true(str_is(s[4].regexp.names[1], "two"));
    assert_int_equal(s[4].regexp.groups[1], 2);
    assert_int_equal(s[5].kind, SX_LQ_STAGE_PATTERN);
    assert_true(str_is(s[5].pattern, "<ip> <_>"));
    assert_int_equal(s[6].kind, SX_LQ_STAGE_UNPACK);
    assert_int_equal(s[7].kind, SX_LQ_STAGE_LINE_FORMAT);
    assert_true(str_is(s[7].tmpl, "{{.a}}"));
    assert_int_equal(s[8].kind, SX_LQ_STAGE_LABEL_FORMAT);
    assert_int_equal(s[8].label_fmt.n, 2);
    assert_false(s[8].label_fmt.f[0].rename);
    assert_true(str_is(s[8].label_fmt.f[0].value, "{{.e}}"));
    assert_true(s[8].label_fmt.f[1].rename);
    assert_true(str_is(s[8].label_fmt.f[1].dst, "f"));
    assert_true(str_is(s[8].label_fmt.f[1].value, "g"));
    assert_int_equal(s[9].kind, SX_LQ_STAGE_DECOLORIZE);
    assert_int_equal(s[10].kind, SX_LQ_STAGE_DROP);
    assert_int_equal(s[10].names.n, 2);
    assert_false(s[10].names.labels[0].has_matcher);
    assert_true(s[10].names.labels[1].has_matcher);
    assert_true(str_is(s[10].names.labels[1].m.value, "j"));
    assert_int_equal(s[11].kind, SX_LQ_STAGE_KEEP);
    assert_true(str_is(s[11].names.labels[0].name, "k"));
    done(&p);
}

static void test_logql_parse_records_label_filters(void **state)
{
    (void)state;
    parsed_t p;
    sx_logql_expr_t *e = must(&p, "{a=\"b\"} | d >= 1h30m and s < 1.5KiB or n != -2.5 | "
                 "x = ip(\"10.0.0.0/8\") | __error__=\"\", m=~\"v.+\" | "
                 "t == 250ms | u > 20MB | w <= 1e3 | y > 100B | z = -5m");
    const sx_logql_stage_t *s = e->log.stages;
    assert_int_equal(e->log.nstages, 8);
    const sx_logql_lfilter_t *f = s[0].filter;
    assert_int_equal(f->kind, SX_LQ_LF_OR);
    assert_int_equal(f->group.nkids, 2);
    const sx_logql_lfilter_t *and = f->group.kids[0];
    assert_int_equal(and->kind, SX_LQ_LF_AND);
    assert_int_equal(and->group.kids[0]->kind, SX_LQ_LF_DURATION);
    assert_true(str_is(and->group.kids[0]->leaf.name, "d"));
    assert_int_equal(and->group.kids[0]->leaf.cmp, SX_LQ_CMP_GE);
    assert_int_equal(and->group.kids[0]->leaf.ns, 5400000000000LL);
    assert_true(str_is(and->group.kids[0]->leaf.raw, "1h30m"));
    assert_int_equal(and->group.kids[1]->kind, SX_LQ_LF_BYTES);
    assert_true(and->group.kids[1]->leaf.bytes == 1536.0);
    assert_int_equal(and->group.kids[1]->leaf.cmp, SX_LQ_CMP_LT);
    const sx_logql_lfilter_t *n = f->group.kids[1];
    assert_int_equal(n->kind, SX_LQ_LF_NUMBER);
    assert_int_equal(n->leaf.cmp, SX_LQ_CMP_NE);
    assert_true(n->leaf.num.value == -2.5);
    assert_true(n->leaf.num.neg);
    assert_true(str_is(n->leaf.num.raw, "2.5"));
    assert_int_equal(s[1].filter->kind, SX_LQ_LF_IP);
    assert_true(str_is(s[1].filter->leaf.raw, "10.0.0.0/8"));
    assert_int_equal(s[1].filter->leaf.cmp, SX_LQ_CMP_EQ);
    f = s[2].filter;
    assert_int_equal(f->kind, SX_LQ_LF_AND);
    assert_int_equal(f->group.kids[0]->kind, SX_LQ_LF_STRING);
    assert_true(str_is(f->group.kids[0]->leaf.m.name, "__error__"));
    assert_true(sx_matcher_matches(&f->group.kids[0]->leaf.m, SX_STR_LIT("")));
    assert_int_equal(f->group.kids[1]->leaf.m.op, SX_MATCH_RE);
    assert_true(sx_matcher_matches(&f->group.kids[1]->leaf.m, SX_STR_LIT("vv")));
    assert_false(sx_matcher_matches(&f->group.kids[1]->leaf.m, SX_STR_LIT("v")));
    assert_int_equal(s[3].filter->kind, SX_LQ_LF_DURATION);
    assert_int_equal(s[3].filter->leaf.ns, 250000000LL);
    assert_int_equal(s[3].filter->leaf.cmp, SX_LQ_CMP_EQ);
    assert_int_equal(s[4].filter->kind, SX_LQ_LF_BYTES);
    assert_true(s[4].filter->leaf.bytes == 20e6);
    assert_int_equal(s[5].filter->kind, SX_LQ_LF_NUMBER);
    assert_true(s[5].filter->leaf.num.value == 1000);
    assert_int_equal(s[6].filter->kind, SX_LQ_LF_BYTES);
    assert_true(s[6].filter->leaf.bytes == 100);
    assert_int_equal(s[7].filter->kind, SX_LQ_LF_DURATION);
    assert_int_equal(s[7].filter->leaf.ns, -300000000000LL);
    done(&p);
    /* A lower-case b is not a byte unit for Loki's lexer: 100 and a
     * juxtaposed filter named b. */
    assert_error("{a=\"b\"} | y > 100b",
                 "parse error at line 1, col 19: syntax error: unexpected $end");
}

static void test_logql_parse_label_filter_precedence(void **state)
{
    (void)state;
    /* and over or; ',' and juxtaposition take what follows. */
    assert_format("{a=\"b\"} | a=\"1\" or b=\"2\" and c=\"3\"",
                  "{a=\"b\"} | a=\"1\" or (b=\"2\" and c=\"3\")");
    assert_format("{a=\"b\"} | a=\"1\" and b=\"2\" or c=\"3\"",
                  "{a=\"b\"} | (a=\"1\" and b=\"2\") or c=\"3\"");
    assert_format("{a=\"b\"} | a=\"1\", b=\"2\" or c=\"3\"",
                  "{a=\"b\"} | a=\"1\" and (b=\"2\" or c=\"3\")");
    assert_format("{a=\"b\"} | a=\"1\" or b=\"2\", c=\"3\"",
                  "{a=\"b\"} | a=\"1\" or (b=\"2\" and c=\"3\")");
    assert_format("{a=\"b\"} | a=\"1\" b=\"2\" or c=\"3\"",
                  "{a=\"b\"} | a=\"1\" and (b=\"2\" or c=\"3\")");
    assert_format("{a=\"b\"} | (a=\"1\" or b=\"2\") and c=\"3\"",
                  "{a=\"b\"} | (a=\"1\" or b=\"2\") and c=\"3\"");
    assert_format("{a=\"b\"} | a=\"1\" or b=\"2\" or c=\"3\" and d=\"4\" and e=\"5\"",
                  "{a=\"b\"} | a=\"1\" or b=\"2\" or (c=\"3\" and d=\"4\" and e=\"5\")");
    /* Flattened: a and (b and c) has three kids. */
    parsed_t p;
    sx_logql_expr_t *e = must(&p, "{a=\"b\"} | a=\"1\" and (b=\"2\" and c=\"3\")");
    assert_int_equal(e->log.stages[0].filter->kind, SX_LQ_LF_AND);
    assert_int_equal(e->log.stages[0].filter->group.nkids, 3);
    done(&p);
    /* The or after a line filter belongs to it; after a label filter too. */
    assert_format("{a=\"b\"} |= \"x\" or \"y\" | c=\"d\" or e=\"f\"",
                  "{a=\"b\"} |= \"x\" or \"y\" | c=\"d\" or e=\"f\"");
}

static void test_logql_parse_records_range_aggregations(void **state)
{
    (void)state;
    parsed_t p;
    sx_logql_expr_t *e =
        must(&p, "quantile_over_time(0.99, {a=\"b\"} | json | unwrap duration(latency) "
                 "| __error__=\"\" | latency > 1s [5m] offset 1h) by (c, d)");
    assert_int_equal(e->kind, SX_LQ_EXPR_RANGE_AGG);
    assert_true(sx_logql_is_metric(e));
    assert_int_equal(e->range.op, SX_LQ_RANGE_QUANTILE_OVER_TIME);
    assert_non_null(e->range.param);
    assert_true(e->range.param->value == 0.99);
    assert_int_equal(e->range.range_ns, 300000000000LL);
    assert_true(str_is(e->range.range_raw, "5m"));
    assert_int_equal(e->range.offset_ns, 3600000000000LL);
    assert_true(str_is(e->range.offset_raw, "1h"));
    assert_true(e->range.has_unwrap);
    assert_int_equal(e->range.unwrap.conv, SX_LQ_UNWRAP_DURATION);
    assert_true(str_is(e->range.unwrap.label, "latency"));
    assert_int_equal(e->range.unwrap.npost, 2);
    assert_int_equal(e->range.unwrap.post[1]->kind, SX_LQ_LF_DURATION);
    assert_int_equal(e->range.sel->kind, SX_LQ_EXPR_LOG);
    assert_int_equal(e->range.sel->log.nstages, 1);
    assert_int_equal(e->range.sel->log.stages[0].kind, SX_LQ_STAGE_JSON);
    assert_non_null(e->range.grouping);
    assert_false(e->range.grouping->without);
    assert_int_equal(e->range.grouping->nlabels, 2);
    assert_true(str_is(e->range.grouping->labels[1], "d"));
    done(&p);

    /* Every written form of a log range gives the same tree. */
    static const char *const forms[] = {
        "rate({a=\"b\"} |= \"x\" | unwrap y [1m] offset 2m)",
        "rate(({a=\"b\"} |= \"x\" | unwrap y)[1m] offset 2m)",
        "rate({a=\"b\"}[1m] offset 2m |= \"x\" | unwrap y)",
        "rate(({a=\"b\"}[1m] offset 2m |= \"x\" | unwrap y))",
        "rate((({a=\"b\"} |= \"x\" | unwrap y [1m] offset 2m)))",
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        assert_format(forms[i], "rate({a=\"b\"} |= \"x\" | unwrap y [1m] offset 2m)");
    assert_format("rate(({a=\"b\"})[1m] offset 2m | unwrap y)",
                  "rate({a=\"b\"} | unwrap y [1m] offset 2m)");
    /* A pipeline after the range needs an unparenthesised selector. */
    assert_error("rate(({a=\"b\"})[1m] |= \"x\")",
                 "parse error at line 0, col 20: syntax error: unexpected |=");
    assert_error("rate(({a=\"b\"})[1m] | json)",
                 "parse error at line 1, col 22: syntax error: unexpected json, expecting unwrap");
    assert_error("rate({a=\"b\"} |= \"x\" [1m] | json)",
                 "parse error at line 1, col 26: syntax error: unexpected |");
    assert_error("rate((({a=\"b\"}))[1m])", "parse error at line 1, col 16: syntax error: unexpected )");
    /* The ops and their unwrap rules. */
    static const char *const ok[] = {
        "count_over_time({a=\"b\"}[1m])", "rate({a=\"b\"}[1m])", "rate({a=\"b\"} | unwrap x [1m])",
        "rate_counter({a=\"b\"} | unwrap x [1m])", "bytes_over_time({a=\"b\"}[1m])",
        "bytes_rate({a=\"b\"}[1m])", "absent_over_time({a=\"b\"}[1m])",
        "absent_over_time({a=\"b\"} | unwrap x [1m])", "avg_over_time({a=\"b\"} | unwrap x [1m])",
        "sum_over_time({a=\"b\"} | unwrap x [1m])", "min_over_time({a=\"b\"} | unwrap x [1m]) by (c)",
        "max_over_time({a=\"b\"} | unwrap x [1m]) without (c)",
        "stdvar_over_time({a=\"b\"} | unwrap x [1m])", "stddev_over_time({a=\"b\"} | unwrap x [1m])",
        "first_over_time({a=\"b\"} | unwrap x [1m])", "last_over_time({a=\"b\"} | unwrap x [1m])",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!parse(&p, ok[i]))
            fail_msg("%s: %s", ok[i], p.err.msg);
        done(&p);
    }
    assert_error("rate_counter({a=\"b\"}[1m])",
                 "parse error : invalid aggregation rate_counter without unwrap");
    assert_error("bytes_rate({a=\"b\"} | unwrap x [1m])",
                 "parse error : invalid aggregation bytes_rate with unwrap");
    assert_error("rate({a=\"b\"}[1m]) by (c)",
                 "parse error : grouping not allowed for rate aggregation");
    assert_error("sum_over_time({a=\"b\"} | unwrap x [1m]) by ()",
                 "parse error : grouping not allowed for sum_over_time aggregation");
}

static void test_logql_parse_records_vector_and_binary(void **state)
{
    (void)state;
    parsed_t p;
    sx_logql_expr_t *e = must(&p, "topk by (c) (5, sum(rate({a=\"b\"}[1m])) without (d)) "
                                  "/ on (e, f) group_left (g) bottomk(2, rate({a=\"b\"}[1m]))");
    assert_int_equal(e->kind, SX_LQ_EXPR_BINARY);
    assert_int_equal(e->bin.op, SX_LQ_BIN_DIV);
    assert_false(e->bin.return_bool);
    assert_non_null(e->bin.match);
    assert_true(e->bin.match->on);
    assert_int_equal(e->bin.match->nlabels, 2);
    assert_int_equal(e->bin.match->card, SX_LQ_CARD_MANY_TO_ONE);
    assert_int_equal(e->bin.match->ninclude, 1);
    assert_true(str_is(e->bin.match->include[0], "g"));
    const sx_logql_expr_t *l = e->bin.lhs;
    assert_int_equal(l->kind, SX_LQ_EXPR_VECTOR_AGG);
    assert_int_equal(l->vec.op, SX_LQ_VEC_TOPK);
    assert_int_equal(l->vec.k, 5);
    assert_true(str_is(l->vec.param->raw, "5"));
    assert_false(l->vec.grouping->without);
    assert_int_equal(l->vec.expr->vec.op, SX_LQ_VEC_SUM);
    assert_true(l->vec.expr->vec.grouping->without);
    assert_null(l->vec.expr->vec.param);
    assert_int_equal(e->bin.rhs->vec.op, SX_LQ_VEC_BOTTOMK);
    assert_null(e->bin.rhs->vec.grouping);
    done(&p);

    e = must(&p, "rate({a=\"b\"}[1m]) > bool 2 or label_replace(rate({a=\"c\"}[1m]) * vector(3), "
                 "\"d\", \"$1\", \"s\", \"(.*)\")");
    assert_int_equal(e->bin.op, SX_LQ_BIN_OR);
    assert_null(e->bin.match);
    assert_int_equal(e->bin.lhs->bin.op, SX_LQ_BIN_GT);
    assert_true(e->bin.lhs->bin.return_bool);
    assert_int_equal(e->bin.lhs->bin.rhs->kind, SX_LQ_EXPR_NUMBER);
    const sx_logql_expr_t *r = e->bin.rhs;
    assert_int_equal(r->kind, SX_LQ_EXPR_LABEL_REPLACE);
    assert_true(str_is(r->lrep.dst, "d"));
    assert_true(str_is(r->lrep.replacement, "$1"));
    assert_true(str_is(r->lrep.src, "s"));
    assert_true(str_is(r->lrep.regex, "(.*)"));
    assert_true(sx_logql_re_search(r->lrep.re, "anything", 8));
    assert_int_equal(r->lrep.expr->bin.rhs->kind, SX_LQ_EXPR_VECTOR);
    assert_true(r->lrep.expr->bin.rhs->num.value == 3);
    done(&p);

    /* Precedence: or < and/unless < comparisons < + - < * / % < ^. */
    e = must(&p, "vector(1) or vector(2) and vector(3) > vector(4) + vector(5) * vector(6) ^ "
                 "vector(7) ^ vector(8)");
    assert_int_equal(e->bin.op, SX_LQ_BIN_OR);
    const sx_logql_expr_t *x = e->bin.rhs;
    assert_int_equal(x->bin.op, SX_LQ_BIN_AND);
    x = x->bin.rhs;
    assert_int_equal(x->bin.op, SX_LQ_BIN_GT);
    x = x->bin.rhs;
    assert_int_equal(x->bin.op, SX_LQ_BIN_ADD);
    x = x->bin.rhs;
    assert_int_equal(x->bin.op, SX_LQ_BIN_MUL);
    x = x->bin.rhs;
    assert_int_equal(x->bin.op, SX_LQ_BIN_POW);
    assert_int_equal(x->bin.rhs->bin.op, SX_LQ_BIN_POW); /* right-associative */
    done(&p);
    e = must(&p, "vector(1) - vector(2) - vector(3)");
    assert_int_equal(e->bin.lhs->kind, SX_LQ_EXPR_BINARY); /* left-associative */
    done(&p);
    assert_error("rate({a=\"b\"}[1m]) / group_left rate({a=\"b\"}[1m])",
                 "parse error at line 1, col 21: syntax error: unexpected group_left");
}

static void test_logql_parse_folds_literals(void **state)
{
    (void)state;
    assert_format("1 + 2 * 3", "7");
    assert_format("(1 + 2) * 3", "9");
    assert_format("-1 ^ 2", "1"); /* Loki's literal is -1 */
    assert_format("2 ^ 3 ^ 2", "512");
    assert_format("1 > 2", "0");
    assert_format("1 / 0", "(0 / 0)"); /* Loki divides by zero to NaN */
    assert_format("5 % 0", "(0 / 0)");
    assert_format("1e308 * 10", "(1e308 * 10)");
    assert_format("0.1 + 0.2", "0.30000000000000004");
    assert_format("- 0 * 1", "- 0");
    assert_format("rate({a=\"b\"}[1m]) * (2 + 3)", "rate({a=\"b\"} [1m]) * 5");
    parsed_t p;
    sx_logql_expr_t *e = must(&p, "2 - 3");
    assert_int_equal(e->kind, SX_LQ_EXPR_NUMBER);
    assert_true(e->num.value == -1);
    assert_int_equal(e->num.raw.len, 0);
    done(&p);
}

/* ---- Lexer rules ---- */

static void test_logql_lexer_durations_bytes_and_numbers(void **state)
{
    (void)state;
    int64_t ns;
    char msg[200];
    assert_int_equal(sx_lqp__prom_duration("1h30m", 5, &ns, msg, sizeof(msg)), 0);
    assert_int_equal(ns, 5400000000000LL);
    assert_int_equal(sx_lqp__prom_duration("5y2w3d4h5m6s7ms", 15, &ns, msg, sizeof(msg)), 0);
    assert_int_equal(sx_lqp__prom_duration("0", 1, &ns, msg, sizeof(msg)), 0);
    assert_int_equal(ns, 0);
    assert_int_equal(sx_lqp__prom_duration("2w3y", 4, &ns, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "not a valid duration string: \"2w3y\"");
    assert_int_equal(sx_lqp__prom_duration("1.5m", 4, &ns, msg, sizeof(msg)), -1);
    assert_int_equal(sx_lqp__prom_duration("", 0, &ns, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "empty duration string");
    assert_int_equal(sx_lqp__prom_duration("300y", 4, &ns, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "duration out of range");
    assert_int_equal(sx_lqp__go_duration("1.5h", 4, &ns), 0);
    assert_int_equal(ns, 5400000000000LL);
    assert_int_equal(sx_lqp__go_duration("-250us", 6, &ns), 0);
    assert_int_equal(ns, -250000);
    assert_int_equal(sx_lqp__go_duration("2\xC2\xB5s", 4, &ns), 0);
    assert_int_equal(ns, 2000);
    assert_int_equal(sx_lqp__go_duration("30m1h", 5, &ns), 0);
    assert_int_equal(sx_lqp__go_duration("-0", 2, &ns), 0);
    assert_int_equal(sx_lqp__go_duration("1d", 2, &ns), -1);
    assert_int_equal(sx_lqp__go_duration("5", 1, &ns), -1);
    assert_int_equal(sx_lqp__go_duration(".s", 2, &ns), -1);
    double b;
    assert_int_equal(sx_lqp__humanize_bytes("1.5KiB", 6, &b), 0);
    assert_true(b == 1536);
    assert_int_equal(sx_lqp__humanize_bytes("20MB", 4, &b), 0);
    assert_true(b == 20e6);
    assert_int_equal(sx_lqp__humanize_bytes("20k", 3, &b), 0);
    assert_true(b == 20000);
    assert_int_equal(sx_lqp__humanize_bytes("0.5B", 4, &b), 0);
    assert_true(b == 0);
    assert_int_equal(sx_lqp__humanize_bytes("1KX", 3, &b), -1);
    double v;
    assert_int_equal(sx_lqp__parse_float("1_000.5", 7, &v), 1);
    assert_true(v == 1000.5);
    assert_int_equal(sx_lqp__parse_float("0x1p-2", 6, &v), 1);
    assert_true(v == 0.25);
    assert_int_equal(sx_lqp__parse_float("0x1F", 4, &v), 0);
    assert_int_equal(sx_lqp__parse_float("017", 3, &v), 1);
    assert_true(v == 17);
    assert_int_equal(sx_lqp__parse_float("1e400", 5, &v), -1);
    assert_true(isinf(v));
    assert_int_equal(sx_lqp__parse_float("1__0", 4, &v), 0);

    /* In queries: the token kinds Loki's lexer makes. */
    assert_format("{a=\"b\"} | x > 1.5h | y > 5us | z < -1m30s",
                  "{a=\"b\"} | x>1.5h | y>5us | z<-1m30s");
    assert_format("{a=\"b\"} | x > 0x1p-2 | y < 1_000 | z >= .5e3 | w > 017",
                  "{a=\"b\"} | x>0x1p-2 | y<1_000 | z>=.5e3 | w>017");
    assert_format("rate({a=\"b\"}[1h30m]) offset", "ERR: parse error at line 1, col 22: "
                                                     "syntax error: unexpected offset");
    assert_format("rate({a=\"b\"}[1m] offset 1.5h)", "rate({a=\"b\"} [1m] offset 1.5h)");
    assert_format("rate({a=\"b\"}[1.5m])",
                  "ERR: parse error at line 0, col 13: not a valid duration string: \"1.5m\"");
    assert_format("rate({a=\"b\"}[ 1m ])",
                  "ERR: parse error at line 0, col 13: not a valid duration string: \" 1m \"");
    assert_format("rate({a=\"b\"}[0])", "rate({a=\"b\"} [0])");
    /* -0 is a duration (Go's "-0"), so 1 -0 is not a subtraction. */
    assert_format("1 -0", "ERR: parse error at line 0, col 3: syntax error: unexpected DURATION");
    assert_format("1 - 0", "1");
    assert_format("{a=\"b\"} | x > -0", "{a=\"b\"} | x>-0");
    /* Byte order mark. */
    assert_format("\xEF\xBB\xBF{a=\"b\"}", "{a=\"b\"}");
}

static void test_logql_lexer_keywords_and_function_words(void **state)
{
    (void)state;
    /* Function words are identifiers unless a call follows. */
    assert_format("{a=\"b\"} | logfmt | rate=\"a\", sum > 1, bytes < 2, duration > 1s, ip=\"x\"",
                  "{a=\"b\"} | logfmt | rate=\"a\" and sum>1 and bytes<2 and duration>1s and "
                  "ip=\"x\"");
    assert_format("sum by (rate, count) (count_over_time({vector=\"b\"}[1m]))",
                  "sum by (rate, count) (count_over_time({vector=\"b\"} [1m]))");
    assert_format("sum_over_time({a=\"b\"} | unwrap bytes [1m])",
                  "sum_over_time({a=\"b\"} | unwrap bytes [1m])");
    assert_format("sum_over_time({a=\"b\"} | unwrap bytes (x) [1m])",
                  "sum_over_time({a=\"b\"} | unwrap bytes(x) [1m])");
    assert_format("count without (a) (rate({a=\"b\"}[1m]))", "count without (a) (rate({a=\"b\"} [1m]))");
    /* Reserved words are keywords everywhere, in any case. */
    assert_format("{a=\"b\"} | JSON | Logfmt | UNPACK", "{a=\"b\"} | json | logfmt | unpack");
    assert_format("{json=\"x\"}",
                  "ERR: parse error at line 1, col 2: syntax error: unexpected json, expecting "
                  "IDENTIFIER or }");
    assert_format("sum(rate({a=\"b\"}[1m])) by (offset)",
                  "ERR: parse error at line 1, col 28: syntax error: unexpected offset, expecting "
                  "IDENTIFIER or )");
    /* A character Loki has no token for is an identifier. */
    assert_format("{a=\"b\"} | $=\"x\" | ~ = \"y\" | ! = \"z\"",
                  "{a=\"b\"} | $=\"x\" | ~=\"y\" | ! =\"z\"");
    assert_format("{a=\"b\"} | label_format x= ~", "{a=\"b\"} | label_format x= ~");
    /* Non-ASCII letters in names. */
    assert_format("{\xC3\xA9t\xC3\xA9=\"b\"}", "{\xC3\xA9t\xC3\xA9=\"b\"}");
}

static void test_logql_parse_is_metric(void **state)
{
    (void)state;
    static const struct {
        const char *q;
        bool metric;
    } cases[] = {
        {"{a=\"b\"}", false},
        {"({a=\"b\"} |= \"x\")", false},
        {"rate({a=\"b\"}[1m])", true},
        {"sum(rate({a=\"b\"}[1m]))", true},
        {"1", true},
        {"vector(0)", true},
        {"rate({a=\"b\"}[1m]) + 1", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        parsed_t p;
        must(&p, cases[i].q);
        assert_int_equal(sx_logql_is_metric(p.e), cases[i].metric);
        done(&p);
    }
    assert_false(sx_logql_is_metric(NULL));
}

/* ---- Limits and memory ---- */

static void test_logql_parse_deep_nesting_is_an_error(void **state)
{
    (void)state;
    sx_buf_t b = SX_BUF_INIT;
    for (int i = 0; i < 2000; i++)
        sx_buf_putc(&b, '(');
    sx_buf_puts(&b, "1");
    for (int i = 0; i < 2000; i++)
        sx_buf_putc(&b, ')');
    parsed_t p;
    sx_buf_putc(&b, '\0');
    assert_null(parse(&p, b.ptr));
    assert_non_null(strstr(p.err.msg, "nested too deeply"));
    done(&p);
    /* A long left-associative chain builds depth without recursion. */
    b.len = 0;
    sx_buf_puts(&b, "vector(1)");
    for (int i = 0; i < 1100; i++)
        sx_buf_puts(&b, "+vector(1)");
    sx_buf_putc(&b, '\0');
    assert_null(parse_flags(&p, b.ptr, SX_LOGQL_PARSE_NO_SIZE_LIMIT));
    assert_non_null(strstr(p.err.msg, "nested too deeply"));
    done(&p);
    /* And a long label filter list flattens instead. */
    b.len = 0;
    sx_buf_puts(&b, "{a=\"b\"} | x=1");
    for (int i = 0; i < 1100; i++)
        sx_buf_puts(&b, ",x=1");
    sx_buf_putc(&b, '\0');
    assert_non_null(parse(&p, b.ptr));
    assert_int_equal(p.e->log.stages[0].filter->group.nkids, 1101);
    done(&p);
    /* Alternating and/or with commas nests: bounded too. */
    b.len = 0;
    sx_buf_puts(&b, "{a=\"b\"} | x=1");
    for (int i = 0; i < 1100; i++)
        sx_buf_puts(&b, i % 2 ? ",x=1" : " or x=1");
    sx_buf_putc(&b, '\0');
    assert_null(parse_flags(&p, b.ptr, SX_LOGQL_PARSE_NO_SIZE_LIMIT));
    assert_non_null(strstr(p.err.msg, "nested too deeply"));
    done(&p);
    sx_buf_dispose(&b);
}

static void test_logql_parse_input_size_limit(void **state)
{
    (void)state;
    char *q = malloc(SX_LOGQL_MAX_QUERY + 1);
    memset(q, ' ', SX_LOGQL_MAX_QUERY);
    memcpy(q, "{a=\"b\"}", 7);
    q[SX_LOGQL_MAX_QUERY] = '\0';
    parsed_t p;
    assert_null(parse(&p, q));
    assert_string_equal(p.err.msg, "parse error : input size too long (5120 > 5120)");
    done(&p);
    assert_non_null(parse_flags(&p, q, SX_LOGQL_PARSE_NO_SIZE_LIMIT));
    done(&p);
    q[SX_LOGQL_MAX_QUERY - 1] = '\0';
    assert_non_null(parse(&p, q));
    done(&p);
    free(q);
}

static void test_logql_parse_without_validation(void **state)
{
    (void)state;
    parsed_t p;
    static const char *const qs[] = {
        "{a=~\".*\"}",
        "{}",
        "sort(rate({a=\"\"}[1m])) without (b)",
        "label_replace(vector(1), \"d\", \"\", \"s\", \"\")",
    };
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        assert_null(parse(&p, qs[i]));
        done(&p);
        if (!parse_flags(&p, qs[i], SX_LOGQL_PARSE_NO_VALIDATE))
            fail_msg("%s: %s", qs[i], p.err.msg);
        done(&p);
    }
    /* The checks made while building nodes still apply. */
    assert_null(parse_flags(&p, "sum_over_time({a=\"\"}[1m])", SX_LOGQL_PARSE_NO_VALIDATE));
    assert_string_equal(p.err.msg, "parse error : invalid aggregation sum_over_time without unwrap");
    done(&p);
    /* The grammar alone: no semantic check at all. */
    static const char *const syn[] = {
        "sum_over_time({a=\"\"}[1m])",
        "{a=\"b\"} | regexp \"regexp\"",
        "{a=\"b\"} | pattern \"<_>\"",
        "{a=~\"(\"} |~ \")\"",
        "topk(0, {a=\"b\"} + 1)",
    };
    for (size_t i = 0; i < sizeof(syn) / sizeof(syn[0]); i++) {
        assert_null(parse_flags(&p, syn[i], SX_LOGQL_PARSE_NO_VALIDATE));
        done(&p);
        if (!parse_flags(&p, syn[i], SX_LOGQL_PARSE_SYNTAX_ONLY))
            fail_msg("%s: %s", syn[i], p.err.msg);
        done(&p);
    }
    assert_null(parse_flags(&p, "{a=\"b\"} |", SX_LOGQL_PARSE_SYNTAX_ONLY));
    done(&p);
}

static void test_logql_parse_arena_limit_is_elimit(void **state)
{
    (void)state;
    const char *q = "sum by (a) (rate({a=\"b\", c=~\"d.*\"} |~ \"x(y)?\" | json | e > 5 [1m]))";
    int limited = 0;
    for (size_t lim = 64; lim < 64 * 1024; lim *= 2) {
        sx_arena_t a;
        sx_arena_init(&a);
        a._limit = lim;
        sx_err_t err;
        sx_logql_expr_t *e = sx_logql_parse(q, strlen(q), &a, &err);
        if (!e) {
            assert_int_equal(err.code, SX_ELIMIT);
            limited++;
        }
        sx_logql_expr_dispose(e);
        sx_arena_dispose(&a);
    }
    assert_true(limited > 0);
}

static void test_logql_parse_dispose_is_safe(void **state)
{
    (void)state;
    sx_logql_expr_dispose(NULL);
    parsed_t p;
    must(&p, "{a=~\"x.*\"} |~ \"y\" | regexp \"(?P<z>.)\"");
    sx_logql_expr_dispose(p.e); /* twice: the second is a no-op */
    done(&p);
}

static void test_logql_parse_round_trip_corpus(void **state)
{
    (void)state;
    /* The canonical form of every seed of the fuzz corpus is stable. */
    const char *src = getenv("SX_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/logql", src ? src : ".");
    for (int i = 0; i < 100; i++) {
        char fp[4200];
        snprintf(fp, sizeof(fp), "%s/seed%02d", path, i);
        FILE *f = fopen(fp, "rb");
        if (!f)
            continue;
        char buf[8192];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        if (n && buf[0] == 0x01)
            continue;
        char *got = format_of(buf);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logql_parse_formats_canonically),
        cmocka_unit_test(test_logql_parse_errors_match_loki),
        cmocka_unit_test(test_logql_parse_bad_regexes_are_errors),
        cmocka_unit_test(test_logql_parse_records_selector_and_stages),
        cmocka_unit_test(test_logql_parse_records_label_filters),
        cmocka_unit_test(test_logql_parse_label_filter_precedence),
        cmocka_unit_test(test_logql_parse_records_range_aggregations),
        cmocka_unit_test(test_logql_parse_records_vector_and_binary),
        cmocka_unit_test(test_logql_parse_folds_literals),
        cmocka_unit_test(test_logql_lexer_durations_bytes_and_numbers),
        cmocka_unit_test(test_logql_lexer_keywords_and_function_words),
        cmocka_unit_test(test_logql_parse_is_metric),
        cmocka_unit_test(test_logql_parse_deep_nesting_is_an_error),
        cmocka_unit_test(test_logql_parse_input_size_limit),
        cmocka_unit_test(test_logql_parse_without_validation),
        cmocka_unit_test(test_logql_parse_arena_limit_is_elimit),
        cmocka_unit_test(test_logql_parse_dispose_is_safe),
        cmocka_unit_test(test_logql_parse_round_trip_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
