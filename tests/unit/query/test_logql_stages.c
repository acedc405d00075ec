/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the LogQL pipeline building blocks in src/query/logql:
 * the per-line label set (labels.c), the logfmt, JSON, unpack and pattern
 * stages, the line_format / label_format template engine and the unwrap
 * conversions. Cases come from Loki's documentation examples and from the
 * behaviour of Loki 3's stages (expected values written from that
 * behaviour): error messages, the _extracted suffix, Go's typing and
 * formatting rules in templates. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "query/logql/convert.h"
#include "query/logql/engine_int.h"
#include "query/logql/logql.h"
#include "query/logql/jsonx.h"
#include "query/logql/labels.h"
#include "query/logql/logfmt.h"
#include "query/logql/pattern.h"
#include "query/logql/template.h"

/* ---- Harness ---- */

typedef struct fixture {
    sx_arena_t a;       /* query arena */
    sx_lq_labels_t lb;  /* the line's labels */
    sx_label_t base[16];
    char base_text[512];
    char dump[8192];
} fixture_t;

static fixture_t F;

static int setup(void **state)
{
    (void)state;
    sx_arena_init(&F.a);
    sx_lq_labels_init(&F.lb, &F.a);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sx_lq_labels_dispose(&F.lb);
    sx_arena_dispose(&F.a);
    return 0;
}

static int cmp_label(const void *x, const void *y)
{
    return sx_str_cmp(((const sx_label_t *)x)->name, ((const sx_label_t *)y)->name);
}

/* Reset the labels to the stream labels "a=1,b=2" (any order). */
static void reset(const char *spec)
{
    size_t n = 0;
    snprintf(F.base_text, sizeof(F.base_text), "%s", spec ? spec : "");
    char *s = F.base_text;
    while (s && *s) {
        char *comma = strchr(s, ',');
        if (comma)
            *comma = '\0';
        char *eq = strchr(s, '=');
        assert_non_null(eq);
        *eq = '\0';
        F.base[n].name = sx_str(s);
        F.base[n].value = sx_str(eq + 1);
        n++;
        s = comma ? comma + 1 : NULL;
    }
    qsort(F.base, n, sizeof(F.base[0]), cmp_label);
    sx_lq_labels_reset(&F.lb, F.base, n);
}

/* The label set as {a="1", b="2"} (values raw, no escaping). */
static const char *dump(void)
{
    size_t w = 0;
    w += (size_t)snprintf(F.dump + w, sizeof(F.dump) - w, "{");
    for (uint32_t i = 0; i < F.lb.n; i++)
        w += (size_t)snprintf(F.dump + w, sizeof(F.dump) - w, "%s%.*s=\"%.*s\"", i ? ", " : "",
                              (int)F.lb.v[i].name.len, F.lb.v[i].name.ptr, (int)F.lb.v[i].value.len,
                              F.lb.v[i].value.ptr);
    snprintf(F.dump + w, sizeof(F.dump) - w, "}");
    return F.dump;
}

#define assert_labels(expect) assert_string_equal(dump(), expect)

static sx_str_t S(const char *s)
{
    return sx_str(s);
}

/* ---- labels ---- */

static void test_labels_set_get_del_keep_order(void **state)
{
    (void)state;
    reset("job=api,app=web");
    assert_labels("{app=\"web\", job=\"api\"}");
    sx_lq_labels_set(&F.lb, SX_LQ_PARSED, S("level"), S("info"));
    sx_lq_labels_set(&F.lb, SX_LQ_PARSED, S("a"), S("1"));
    assert_labels("{a=\"1\", app=\"web\", job=\"api\", level=\"info\"}");
    sx_str_t v;
    assert_true(sx_lq_labels_get(&F.lb, S("level"), &v));
    assert_true(sx_str_eq_cstr(v, "info"));
    assert_false(sx_lq_labels_get(&F.lb, S("nope"), &v));
    assert_true(sx_lq_labels_del(&F.lb, S("app")));
    assert_false(sx_lq_labels_del(&F.lb, S("app")));
    assert_labels("{a=\"1\", job=\"api\", level=\"info\"}");
    /* The base is still the stream labels, whatever the set holds now. */
    assert_true(sx_lq_labels_base_has(&F.lb, S("app")));
    assert_false(sx_lq_labels_base_has(&F.lb, S("level")));
    reset("x=1");
    assert_labels("{x=\"1\"}");
}

static void test_labels_category_precedence(void **state)
{
    (void)state;
    reset("app=web");
    /* Structured metadata replaces a stream value; parsed replaces both;
     * a stream value never replaces metadata or parsed ones. */
    sx_lq_labels_set(&F.lb, SX_LQ_META, S("app"), S("meta"));
    assert_int_equal(sx_lq_labels_find(&F.lb, S("app"))->cat, SX_LQ_META);
    sx_lq_labels_set(&F.lb, SX_LQ_STREAM, S("app"), S("stream"));
    assert_labels("{app=\"meta\"}");
    sx_lq_labels_set(&F.lb, SX_LQ_PARSED, S("app"), S("parsed"));
    sx_lq_labels_set(&F.lb, SX_LQ_META, S("app"), S("meta2"));
    assert_labels("{app=\"parsed\"}");
    assert_int_equal(sx_lq_labels_find(&F.lb, S("app"))->cat, SX_LQ_PARSED);
}

static void test_labels_add_suffixes_and_errors(void **state)
{
    (void)state;
    reset("app=web");
    sx_lq_labels_add(&F.lb, SX_LQ_META, S("app"), S("x"));
    sx_lq_labels_add(&F.lb, SX_LQ_META, S("trace_id"), S("abc"));
    sx_lq_labels_add(&F.lb, SX_LQ_META, S("__error__"), S("boom"));
    assert_labels("{__error__=\"boom\", app=\"web\", app_extracted=\"x\", trace_id=\"abc\"}");
    assert_true(sx_lq_labels_has_error(&F.lb));
    /* Empty details keep the previous ones; a new error replaces. */
    sx_lq_labels_set_error(&F.lb, S(SX_LQ_ERR_JSON), S("details"));
    sx_lq_labels_set_error(&F.lb, S(SX_LQ_ERR_LOGFMT), SX_STR_NULL);
    assert_true(sx_str_eq_cstr(sx_lq_labels_error(&F.lb), "LogfmtParserErr"));
    assert_true(sx_lq_labels_get(&F.lb, S("__error_details__"), NULL));
    /* drop __error__ */
    sx_lq_labels_del(&F.lb, S("__error__"));
    assert_false(sx_lq_labels_has_error(&F.lb));
}

static void test_labels_hash_ignores_insertion_order(void **state)
{
    (void)state;
    reset("job=a");
    sx_lq_labels_set(&F.lb, SX_LQ_PARSED, S("x"), S("1"));
    sx_lq_labels_set(&F.lb, SX_LQ_PARSED, S("y"), S("2"));
    uint64_t h1 = sx_lq_labels_hash(&F.lb);
    sx_str_t by[] = {S("x")};
    uint64_t hx = sx_lq_labels_hash_subset(&F.lb, by, 1, false);
    uint64_t hwo = sx_lq_labels_hash_subset(&F.lb, by, 1, true);
    reset("job=a");
    sx_lq_labels_set(&F.lb, SX_LQ_PARSED, S("y"), S("2"));
    sx_lq_labels_set(&F.lb, SX_LQ_PARSED, S("x"), S("1"));
    assert_true(h1 == sx_lq_labels_hash(&F.lb));
    assert_true(hx == sx_lq_labels_hash_subset(&F.lb, by, 1, false));
    assert_true(hwo == sx_lq_labels_hash_subset(&F.lb, by, 1, true));
    sx_lq_labels_set(&F.lb, SX_LQ_PARSED, S("x"), S("3"));
    assert_true(h1 != sx_lq_labels_hash(&F.lb));
    assert_true(hwo == sx_lq_labels_hash_subset(&F.lb, by, 1, true));
    /* ("ab","c") and ("a","bc") differ. */
    reset("ab=c");
    uint64_t h2 = sx_lq_labels_hash(&F.lb);
    reset("a=bc");
    assert_true(h2 != sx_lq_labels_hash(&F.lb));
}

static void test_labels_copies_live_in_the_line_arena(void **state)
{
    (void)state;
    reset("job=a");
    char name[8] = "tmp", value[8] = "v1";
    sx_lq_labels_set_copy(&F.lb, SX_LQ_PARSED, S(name), S(value));
    strcpy(name, "xxx");
    strcpy(value, "zz");
    assert_labels("{job=\"a\", tmp=\"v1\"}");
    sx_str_t d = sx_lq_labels_strdup(&F.lb, "abc", 3);
    assert_int_equal(d.len, 3);
    assert_int_equal(d.ptr[3], '\0');
    /* Many lines through one set: no growth once warm. */
    size_t before = sx_arena_total(&F.a);
    for (int i = 0; i < 10000; i++) {
        reset("job=a");
        sx_lq_labels_set_copy(&F.lb, SX_LQ_PARSED, S("k"), S("some value"));
    }
    assert_int_equal(sx_arena_total(&F.a), before);
}

static void test_sanitize_key_as_loki(void **state)
{
    (void)state;
    char out[64];
    size_t n = sx_lq_sanitize_key(S("cou-nter"), true, out);
    assert_int_equal(n, 8);
    assert_memory_equal(out, "cou_nter", 8);
    n = sx_lq_sanitize_key(S("1abc"), true, out);
    assert_memory_equal(out, "_1abc", 5);
    n = sx_lq_sanitize_key(S("1abc"), false, out);
    assert_int_equal(n, 4);
    n = sx_lq_sanitize_key(S("  "), true, out);
    assert_int_equal(n, 0);
    /* One underscore per rune, not per byte; U+00A0 is trimmed. */
    n = sx_lq_sanitize_key(S("\xc2\xa0" "f\xc3\xbc" "r\xc2\xa0"), true, out);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "f_r", 3);
    assert_true(sx_lq_label_name_valid(S("_a1")));
    assert_false(sx_lq_label_name_valid(S("1a")));
    assert_false(sx_lq_label_name_valid(S("a-b")));
}

/* ---- logfmt ---- */

static sx_lq_logfmt_t logfmt_stage(bool strict, bool keep_empty)
{
    sx_lq_logfmt_t p;
    assert_int_equal(sx_lq_logfmt_init(&p, strict, keep_empty, NULL, NULL, 0, &F.a, NULL), 0);
    return p;
}

static void logfmt_case(const char *base, const char *line, bool strict, bool keep, const char *expect)
{
    sx_lq_logfmt_t p = logfmt_stage(strict, keep);
    reset(base);
    sx_lq_logfmt_process(&p, S(line), &F.lb);
    if (strcmp(dump(), expect) != 0)
        fail_msg("logfmt %s%s\n  line:   %s\n  got:    %s\n  expect: %s", strict ? "--strict " : "",
                 keep ? "--keep-empty" : "", line, dump(), expect);
}

static void test_logfmt_docs_example(void **state)
{
    (void)state;
    logfmt_case("", "at=info method=GET path=/ host=grafana.net fwd=\"124.133.124.161\" service=8ms status=200",
                false, false,
                "{at=\"info\", fwd=\"124.133.124.161\", host=\"grafana.net\", method=\"GET\", path=\"/\", "
                "service=\"8ms\", status=\"200\"}");
}

static void test_logfmt_values_keys_and_duplicates(void **state)
{
    (void)state;
    logfmt_case("foo=bar", "foobar=\"foo bar\"", false, false, "{foo=\"bar\", foobar=\"foo bar\"}");
    logfmt_case("a=b", "foobar=\"foo\\nbar\\tbaz\"", false, false, "{a=\"b\", foobar=\"foo\nbar\tbaz\"}");
    logfmt_case("a=b", "foobar=\"foo\nbar\tbaz\"", false, false, "{a=\"b\", foobar=\"foo\nbar\tbaz\"}");
    logfmt_case("a=b", "foobar=\"foo ba\\\\r baz\"", false, false, "{a=\"b\", foobar=\"foo ba\\r baz\"}");
    logfmt_case("a=b", "foobar=\"foo bar\nb\\\\az\"", false, false, "{a=\"b\", foobar=\"foo bar\nb\\az\"}");
    logfmt_case("foo=bar", "foobar=\"foo bar\" latency=10ms", false, false,
                "{foo=\"bar\", foobar=\"foo bar\", latency=\"10ms\"}");
    /* The last duplicate wins; a stream label gets _extracted. */
    logfmt_case("foo=bar", "foobar=\"foo bar\" foobar=10ms", false, false, "{foo=\"bar\", foobar=\"10ms\"}");
    logfmt_case("foo=bar", "foo=\"foo bar\" foobar=10ms", false, false,
                "{foo=\"bar\", foo_extracted=\"foo bar\", foobar=\"10ms\"}");
    logfmt_case("foo=bar", "foo=\"foo bar\" foo.bar=10ms test-dash=foo", false, false,
                "{foo=\"bar\", foo_bar=\"10ms\", foo_extracted=\"foo bar\", test_dash=\"foo\"}");
    logfmt_case("", "1a=x", false, false, "{_1a=\"x\"}");
    logfmt_case("foo=bar", "", false, false, "{foo=\"bar\"}");
    /* Invalid UTF-8 and U+FFFD in values become spaces. */
    logfmt_case("", "buzz=foo bar=\xef\xbf\xbd" "f", false, false, "{bar=\" f\", buzz=\"foo\"}");
    logfmt_case("", "a=\"x\\u00e9\\ud83d\\ude00\"", false, false, "{a=\"x\xc3\xa9\xf0\x9f\x98\x80\"}");
}

static void test_logfmt_malformed_pairs_lenient_and_strict(void **state)
{
    (void)state;
    /* Non-strict: malformed pairs are skipped, never an error. */
    logfmt_case("foo=bar", "foobar====wqe=sdad1r", false, false, "{foo=\"bar\"}");
    logfmt_case("foo=bar", "foobar====wqe=sdad1r", true, false,
                "{__error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error at pos 8 : "
                "unexpected '='\", foo=\"bar\"}");
    logfmt_case("foo=bar", "foo=\"foo bar\" =notkey bar=10ms", false, false,
                "{bar=\"10ms\", foo=\"bar\", foo_extracted=\"foo bar\"}");
    logfmt_case("foo=bar", "foo=\"foo bar\" =notkey bar=10ms", true, false,
                "{__error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error at pos 15 : "
                "unexpected '='\", foo=\"bar\", foo_extracted=\"foo bar\"}");
    logfmt_case("foo=bar", "foo=\"foo bar\" b\xef\xbf\xbdr=10ms", false, false,
                "{foo=\"bar\", foo_extracted=\"foo bar\"}");
    logfmt_case("foo=bar", "foo=\"foo bar\" b\xef\xbf\xbdr=10ms", true, false,
                "{__error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error at pos 20 : "
                "invalid key\", foo=\"bar\", foo_extracted=\"foo bar\"}");
    logfmt_case("foo=bar", "foo=\"foo bar\" bu\"zz=10ms", true, false,
                "{__error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error at pos 17 : "
                "unexpected '\"'\", foo=\"bar\", foo_extracted=\"foo bar\"}");
    logfmt_case("foo=bar", "bar=bu=zz foo=\"foo bar\"", false, false,
                "{foo=\"bar\", foo_extracted=\"foo bar\"}");
    logfmt_case("foo=bar", "bar=bu=zz foo=\"foo bar\"", true, false,
                "{__error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error at pos 7 : "
                "unexpected '='\", foo=\"bar\"}");
    logfmt_case("", "a=\"unterminated", true, false,
                "{__error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error at pos 16 : "
                "unterminated quoted value\"}");
    logfmt_case("", "a=\"bad \\q escape\" b=1", true, false,
                "{__error__=\"LogfmtParserErr\", __error_details__=\"logfmt syntax error at pos 18 : "
                "invalid quoted value\"}");
    logfmt_case("", "a=\"bad \\q escape\" b=1", false, false, "{b=\"1\"}");
}

static void test_logfmt_keep_empty(void **state)
{
    (void)state;
    logfmt_case("foo=bar", "foo bar=buzz", false, false, "{bar=\"buzz\", foo=\"bar\"}");
    logfmt_case("foo=bar", "foo bar=buzz", false, true, "{bar=\"buzz\", foo=\"bar\", foo_extracted=\"\"}");
    logfmt_case("foo=bar", "foo bar=buzz", true, true, "{bar=\"buzz\", foo=\"bar\", foo_extracted=\"\"}");
    logfmt_case("", "empty= quoted=\"\" x=1", false, true, "{empty=\"\", quoted=\"\", x=\"1\"}");
    logfmt_case("foo=bar", "foo=b\xef\xbf\xbdr bar=buzz", false, false,
                "{bar=\"buzz\", foo=\"bar\", foo_extracted=\"b r\"}");
}

static void logfmt_params_case(const char *base, const char *line, const char *const *ids,
                               const char *const *exprs, size_t n, const char *expect)
{
    sx_str_t i[8], e[8];
    for (size_t k = 0; k < n; k++)
        i[k] = S(ids[k]), e[k] = S(exprs[k]);
    sx_lq_logfmt_t p;
    sx_err_t err;
    assert_int_equal(sx_lq_logfmt_init(&p, false, false, i, e, n, &F.a, &err), 0);
    reset(base);
    sx_lq_logfmt_process(&p, S(line), &F.lb);
    assert_labels(expect);
}

static void test_logfmt_extraction_parameters(void **state)
{
    (void)state;
    const char *line = "at=info method=GET path=/ host=grafana.net fwd=\"124.133.124.161\" service=8ms status=200";
    logfmt_params_case("", line, (const char *[]){"host", "fwd_ip"}, (const char *[]){"host", "fwd"}, 2,
                       "{fwd_ip=\"124.133.124.161\", host=\"grafana.net\"}");
    const char *t = "app=foo level=error spaces=\"value with \xc3\x9c" "FT8\xf0\x9f\x91\x8c\" "
                    "ts=2021-02-12T19:18:10.037940878Z";
    logfmt_params_case("", t, (const char *[]){"test"}, (const char *[]){"level"}, 1, "{test=\"error\"}");
    logfmt_params_case("", t, (const char *[]){"spaces"}, (const char *[]){"spaces"}, 1,
                       "{spaces=\"value with \xc3\x9c" "FT8\xf0\x9f\x91\x8c\"}");
    logfmt_params_case("", t, (const char *[]){"nope"}, (const char *[]){"nope"}, 1, "{nope=\"\"}");
    logfmt_params_case("ap=bar", t, (const char *[]){"app"}, (const char *[]){"app"}, 1,
                       "{ap=\"bar\", app=\"foo\"}");
    logfmt_params_case("app=bar", t, (const char *[]){"app"}, (const char *[]){"app"}, 1,
                       "{app=\"bar\", app_extracted=\"foo\"}");
    logfmt_params_case("level=debug", t, (const char *[]){"lvl"}, (const char *[]){"level"}, 1,
                       "{level=\"debug\", lvl=\"error\"}");
    logfmt_params_case("", "a.b=1 c=2", (const char *[]){"x"}, (const char *[]){"\"a_b\""}, 1, "{x=\"1\"}");

    sx_lq_logfmt_t p;
    sx_err_t err;
    sx_str_t id = S("app"), bad = S("field with space");
    assert_int_equal(sx_lq_logfmt_init(&p, false, false, &id, &bad, 1, &F.a, &err), SX_EPARSE);
    assert_string_equal(err.msg, "cannot parse expression [field with space]: syntax error: unexpected KEY");
    sx_str_t badid = S("1x"), ok = S("x");
    assert_int_equal(sx_lq_logfmt_init(&p, false, false, &badid, &ok, 1, &F.a, &err), SX_EPARSE);
    assert_string_equal(err.msg, "invalid extracted label name '1x'");
}

/* ---- json ---- */

static void json_case(const char *base, const char *line, const char *expect)
{
    reset(base);
    sx_lq_json_flatten(S(line), &F.lb);
    if (strcmp(dump(), expect) != 0)
        fail_msg("json\n  line:   %s\n  got:    %s\n  expect: %s", line, dump(), expect);
}

static void test_json_flatten_docs_example(void **state)
{
    (void)state;
    json_case("",
              "{\"protocol\": \"HTTP/2.0\", \"servers\": [\"129.0.1.1\",\"10.2.1.3\"], \"request\": {"
              "\"time\": \"6.032\", \"method\": \"GET\", \"host\": \"foo.grafana.net\", \"size\": \"55\","
              "\"headers\": {\"Accept\": \"*/*\", \"User-Agent\": \"curl/7.68.0\"}}, \"response\": {"
              "\"status\": 401, \"size\": \"228\", \"latency_seconds\": \"6.031\"}}",
              "{protocol=\"HTTP/2.0\", request_headers_Accept=\"*/*\", request_headers_User_Agent=\"curl/7.68.0\", "
              "request_host=\"foo.grafana.net\", request_method=\"GET\", request_size=\"55\", request_time=\"6.032\", "
              "response_latency_seconds=\"6.031\", response_size=\"228\", response_status=\"401\"}");
}

static void test_json_flatten_loki_cases(void **state)
{
    (void)state;
    json_case("", "{\"app\":\"foo\",\"namespace\":\"prod\",\"pod\":{\"uuid\":\"foo\",\"deployment\":{\"ref\":\"foobar\"}}}",
              "{app=\"foo\", namespace=\"prod\", pod_deployment_ref=\"foobar\", pod_uuid=\"foo\"}");
    json_case("", "{\"counter\":1, \"price\": {\"_net_\":5.56909}}", "{counter=\"1\", price__net_=\"5.56909\"}");
    json_case("", "{\" \": {\"foo\":\"bar\"}}", "{foo=\"bar\"}");
    json_case("", "{\" \": {\" \":\"bar\"}}", "{=\"bar\"}");
    json_case("", "{\"counter\":1,\"foo\":\"foo\\\\\\\"bar\", \"price\": {\"_net_\":5.56909}}",
              "{counter=\"1\", foo=\"foo\\\"bar\", price__net_=\"5.56909\"}");
    json_case("", "{\"counter\":1,\"foo\":\"\xef\xbf\xbd\", \"price\": {\"_net_\":5.56909}}",
              "{counter=\"1\", foo=\" \", price__net_=\"5.56909\"}");
    json_case("", "{\"counter\":1, \"price\": {\"net_\":[\"10\",\"20\"]}}", "{counter=\"1\"}");
    json_case("", "{\"cou-nter\":1}", "{cou_nter=\"1\"}");
    json_case("app=bar",
              "{\"app\":\"foo\",\"namespace\":\"prod\",\"pod\":{\"uuid\":\"foo\",\"deployment\":{\"ref\":\"foobar\"}},"
              "\"next\":{\"err\":false}}",
              "{app=\"bar\", app_extracted=\"foo\", namespace=\"prod\", next_err=\"false\", "
              "pod_deployment_ref=\"foobar\", pod_uuid=\"foo\"}");
    /* nulls are skipped, booleans and numbers kept as written, digits
     * prefixed only at the start of a name. */
    json_case("", "{\"a\":null,\"b\":true,\"c\":-1.5e3,\"1x\":{\"2y\":\"z\"},\"k\\u0065y\":\"v\"}",
              "{_1x_2y=\"z\", b=\"true\", c=\"-1.5e3\", key=\"v\"}");
    /* The last duplicate wins; text after the object is ignored. */
    json_case("", "{\"a\":\"1\",\"a\":\"2\"} trailing", "{a=\"2\"}");
    json_case("", "{}", "{}");
}

static void test_json_flatten_errors_like_jsonparser(void **state)
{
    (void)state;
    json_case("", "{n}",
              "{__error__=\"JSONParserErr\", __error_details__=\"Value looks like object, but can't find "
              "closing '}' symbol\"}");
    json_case("", "",
              "{__error__=\"JSONParserErr\", __error_details__=\"Value looks like object, but can't find "
              "closing '}' symbol\"}");
    json_case("", "not json at all",
              "{__error__=\"JSONParserErr\", __error_details__=\"Value looks like object, but can't find "
              "closing '}' symbol\"}");
    json_case("", "{\"a\":1,}",
              "{__error__=\"JSONParserErr\", __error_details__=\"Value looks like object, but can't find "
              "closing '}' symbol\", a=\"1\"}");
    /* jsonparser quirk: a blank between the comma and the brace passes. */
    json_case("", "{\"a\":1, }", "{a=\"1\"}");
    json_case("", "{\"a\":\"x\", \"b\":tru}",
              "{__error__=\"JSONParserErr\", __error_details__=\"Unknown value type\", a=\"x\"}");
    json_case("", "{\"a\":\"x",
              "{__error__=\"JSONParserErr\", __error_details__=\"Value is string, but can't find closing "
              "'\"' symbol\"}");
    json_case("", "{\"a\":[1,2}",
              "{__error__=\"JSONParserErr\", __error_details__=\"Value is array, but can't find closing "
              "']' symbol\"}");
    json_case("", "{\"a\" 1}", "{__error__=\"JSONParserErr\", __error_details__=\"Malformed JSON error\"}");
    json_case("", "{\"a\\x\":1}",
              "{__error__=\"JSONParserErr\", __error_details__=\"Encountered an invalid escape sequence in a "
              "string\"}");
    json_case("", "{\"a\":{\"b\":1 \"c\":2}}",
              "{__error__=\"JSONParserErr\", __error_details__=\"Value looks like object, but can't find "
              "closing '}' symbol\", a_b=\"1\"}");
    /* A bad escape inside a value only empties that value. */
    json_case("", "{\"a\":\"x\\qy\"}", "{a=\"\"}");
    /* Deep nesting needs no C stack. */
    char deep[40000];
    size_t w = 0;
    for (int i = 0; i < 6000; i++)
        w += (size_t)snprintf(deep + w, sizeof(deep) - w, "{\"a\":");
    w += (size_t)snprintf(deep + w, sizeof(deep) - w, "1");
    for (int i = 0; i < 6000; i++)
        deep[w++] = '}';
    deep[w] = '\0';
    reset("");
    sx_lq_json_flatten(S(deep), &F.lb);
    assert_int_equal(F.lb.n, 1);
    assert_int_equal(F.lb.v[0].name.len, 6000 * 2 - 1);
}

static void json_params_case(const char *base, const char *line, const char *id, const char *expr,
                             const char *expect)
{
    sx_lq_json_t j;
    sx_err_t err;
    sx_str_t i = S(id), e = S(expr);
    assert_int_equal(sx_lq_json_compile(&j, &i, &e, 1, &F.a, &err), 0);
    reset(base);
    sx_lq_json_extract(&j, S(line), &F.lb);
    if (strcmp(dump(), expect) != 0)
        fail_msg("json %s=%s\n  line:   %s\n  got:    %s\n  expect: %s", id, expr, line, dump(), expect);
}

static void test_json_parameters_docs_and_loki_cases(void **state)
{
    (void)state;
    const char *doc = "{\"protocol\": \"HTTP/2.0\", \"servers\": [\"129.0.1.1\",\"10.2.1.3\"], \"request\": {"
                      "\"time\": \"6.032\", \"method\": \"GET\", \"host\": \"foo.grafana.net\", \"size\": \"55\","
                      "\"headers\": {\"Accept\": \"*/*\", \"User-Agent\": \"curl/7.68.0\"}}}";
    json_params_case("", doc, "first_server", "servers[0]", "{first_server=\"129.0.1.1\"}");
    json_params_case("", doc, "ua", "request.headers[\"User-Agent\"]", "{ua=\"curl/7.68.0\"}");
    json_params_case("", doc, "server_list", "servers", "{server_list=\"[\"129.0.1.1\",\"10.2.1.3\"]\"}");
    json_params_case("", doc, "headers", "request.headers",
                     "{headers=\"{\"Accept\": \"*/*\", \"User-Agent\": \"curl/7.68.0\"}\"}");

    const char *t = "{\"app\":\"foo\",\"field with space\":\"value\",\"null_field\":null,\"bool_field\":false,"
                    "\"namespace\":\"prod\",\"pod\":{\"uuid\":\"foo\",\"deployment\":{\"ref\":\"foobar\", "
                    "\"params\": [1,2,3,\"string_value\"]}}}";
    json_params_case("", t, "test", "[\"field with space\"]", "{test=\"value\"}");
    json_params_case("", t, "uuid", "pod.uuid", "{uuid=\"foo\"}");
    json_params_case("", t, "uuid", "pod[\"uuid\"]", "{uuid=\"foo\"}");
    json_params_case("", t, "uuid", "[\"pod\"][\"uuid\"]", "{uuid=\"foo\"}");
    json_params_case("", t, "uuid", "[\"pod\"].uuid", "{uuid=\"foo\"}");
    json_params_case("", t, "param", "pod.deployment.params[0]", "{param=\"1\"}");
    json_params_case("", t, "param", "pod.deployment.params[3]", "{param=\"string_value\"}");
    json_params_case("", t, "undefined", "pod[\"\"]", "{undefined=\"\"}");
    json_params_case("", t, "param", "pod.deployment.params[\"\"]", "{param=\"\"}");
    json_params_case("", t, "params", "pod.deployment.params", "{params=\"[1,2,3,\"string_value\"]\"}");
    json_params_case("", t, "deployment", "pod.deployment",
                     "{deployment=\"{\"ref\":\"foobar\", \"params\": [1,2,3,\"string_value\"]}\"}");
    json_params_case("", t, "nope", "pod.nope", "{nope=\"\"}");
    json_params_case("", t, "nf", "null_field", "{nf=\"\"}");
    json_params_case("", t, "bool", "bool_field", "{bool=\"false\"}");
    json_params_case("uuid=bar", t, "uuid", "pod.uuid", "{uuid=\"bar\", uuid_extracted=\"foo\"}");
    json_params_case("uuid=bar", t, "request_size", "request.size.invalid", "{request_size=\"\", uuid=\"bar\"}");
    json_params_case("", "{}", "uuid", "pod.uuid", "{uuid=\"\"}");
    json_params_case("foo=bar", "invalid json", "uuid", "will.not.work", "{__error__=\"JSONParserErr\", foo=\"bar\"}");
    json_params_case("foo=bar", "", "uuid", "will.not.work", "{foo=\"bar\"}");
    json_params_case("foo=bar", "{\"app\":\"{ \\\"key\\\": \\\"value\\\", \\\"key2\\\":\\\"value2\\\"}\"}", "app", "app",
                     "{app=\"{ \"key\": \"value\", \"key2\":\"value2\"}\", foo=\"bar\"}");
    json_params_case("foo=bar", "{\"app\":{\"name\":\"great \\\"loki\\\"\"}", "app", "app",
                     "{app=\"{\"name\":\"great \\\"loki\\\"\"}\", foo=\"bar\"}");
    json_params_case("", "[{\"a\":1},{\"a\":2}]", "x", "[1].a", "{x=\"2\"}");
    /* The first of duplicate keys is the one addressed, unless only a
     * later one has the rest of the path. */
    json_params_case("", "{\"a\":1,\"a\":2}", "x", "a", "{x=\"1\"}");
    json_params_case("", "{\"a\":{\"x\":1},\"a\":{\"b\":2}}", "x", "a.b", "{x=\"2\"}");
    json_params_case("", "{\"a\":1,\"b\":\"unterminated", "x", "b", "{__error__=\"JSONParserErr\", "
                     "__error_details__=\"Value is string, but can't find closing '\"' symbol\", x=\"\"}");
}

static void test_json_path_syntax_errors(void **state)
{
    (void)state;
    static const struct {
        const char *expr, *msg;
    } cases[] = {
        {"field with space", "cannot parse expression [field with space]: syntax error: unexpected FIELD"},
        {"\"pod\"]", "cannot parse expression [\"pod\"]]: syntax error: unexpected STRING, expecting LSB or FIELD"},
        {"[\"pod\"", "cannot parse expression [[\"pod\"]: syntax error: unexpected $end, expecting RSB"},
        {"[\"pod\"\"uuid\"]", "cannot parse expression [[\"pod\"\"uuid\"]]: syntax error: unexpected STRING, expecting RSB"},
        {"pod..uuid", "cannot parse expression [pod..uuid]: syntax error: unexpected DOT, expecting FIELD"},
        {"a[1.5]", "cannot parse expression [a[1.5]]: cannot use float as array index"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sx_lq_json_t j;
        sx_err_t err;
        sx_str_t id = S("app"), e = S(cases[i].expr);
        assert_int_equal(sx_lq_json_compile(&j, &id, &e, 1, &F.a, &err), SX_EPARSE);
        assert_string_equal(err.msg, cases[i].msg);
    }
    sx_lq_jsonpath_t p;
    sx_err_t err;
    assert_int_equal(sx_lq_jsonpath_parse(S("a.b[12][\"c d\"].e"), &p, &F.a, &err), 0);
    assert_int_equal(p.n, 5);
    assert_int_equal(p.steps[2].index, 12);
    assert_true(sx_str_eq_cstr(p.steps[3].key, "c d"));
}

static void unpack_case(const char *base, const char *line, const char *expect_labels, const char *expect_line)
{
    reset(base);
    sx_str_t out = sx_lq_unpack(S(line), &F.lb);
    assert_labels(expect_labels);
    assert_int_equal(out.len, strlen(expect_line));
    assert_memory_equal(out.ptr, expect_line, out.len);
}

static void test_unpack_as_loki(void **state)
{
    (void)state;
    unpack_case("cluster=us-central1",
                "{\"bar\":1,\"app\":\"foo\",\"namespace\":\"prod\",\"_entry\":\"some message\",\"pod\":{\"uid\":\"1\"}}",
                "{app=\"foo\", cluster=\"us-central1\", namespace=\"prod\"}", "some message");
    unpack_case("", "\"app\":\"foo\",\"namespace\":\"prod\"",
                "{__error__=\"JSONParserErr\", __error_details__=\"expecting json object(6), but it is not\"}",
                "\"app\":\"foo\",\"namespace\":\"prod\"");
    unpack_case("cluster=us-central1", "", "{cluster=\"us-central1\"}", "");
    unpack_case("cluster=us-central1", "[\"foo\",\"bar\"]",
                "{__error__=\"JSONParserErr\", __error_details__=\"expecting json object(6), but it is not\", "
                "cluster=\"us-central1\"}",
                "[\"foo\",\"bar\"]");
    unpack_case("cluster=us-central1,app=bar",
                "{\"bar\":1,\"app\":\"foo\",\"namespace\":\"prod\",\"_entry\":\"some message\",\"pod\":{\"uid\":\"1\"}}",
                "{app=\"bar\", app_extracted=\"foo\", cluster=\"us-central1\", namespace=\"prod\"}", "some message");
    unpack_case("app=bar,cluster=us-central1", "{\"bar\":1,\"app\":\"foo\",\"namespace\":\"prod\",\"pod\":{\"uid\":\"1\"}}",
                "{app=\"bar\", cluster=\"us-central1\"}",
                "{\"bar\":1,\"app\":\"foo\",\"namespace\":\"prod\",\"pod\":{\"uid\":\"1\"}}");
    unpack_case("app=bar",
                "{\"_entry\":\"I0303 17:49:45.976518    1526 kubelet_getters.go:178] \\\"Pod status updated\\\" "
                "status=Running\"}",
                "{app=\"bar\"}", "I0303 17:49:45.976518    1526 kubelet_getters.go:178] \"Pod status updated\" status=Running");
    unpack_case("foo=bar", "{\"foo.bar\":\"10ms\",\"test-dash\":\"foo\",\"_entry\":\"some message\"}",
                "{foo=\"bar\", foo_bar=\"10ms\", test_dash=\"foo\"}", "some message");
    unpack_case("", "{\"a\":\"1\",\"_entry\":\"x\", bad}",
                "{__error__=\"JSONParserErr\", __error_details__=\"Value looks like object, but can't find "
                "closing '}' symbol\"}",
                "{\"a\":\"1\",\"_entry\":\"x\", bad}");
}

/* ---- pattern ---- */

static void pattern_match_case(const char *expr, const char *line, const char *const *expect, size_t n)
{
    sx_lq_pattern_t p;
    sx_err_t err;
    assert_int_equal(sx_lq_pattern_compile(S(expr), &p, &F.a, &err), 0);
    sx_str_t caps[16];
    size_t got = sx_lq_pattern_match(&p, S(line), caps);
    if (got != n)
        fail_msg("pattern %s: %zu captures, expected %zu", expr, got, n);
    for (size_t i = 0; i < n; i++)
        if (!sx_str_eq_cstr(caps[i], expect[i]))
            fail_msg("pattern %s capture %zu: \"%.*s\", expected \"%s\"", expr, i, (int)caps[i].len,
                     caps[i].ptr, expect[i]);
}

static void test_pattern_matches_loki_fixtures(void **state)
{
    (void)state;
    pattern_match_case("foo <foo> bar", "foo buzz bar", (const char *[]){"buzz"}, 1);
    pattern_match_case("foo <foo> bar<fuzz>", "foo buzz bar", (const char *[]){"buzz", ""}, 2);
    pattern_match_case("<foo> bar<fuzz>", " bar", (const char *[]){"", ""}, 2);
    pattern_match_case("<path>?<_>",
                       "/api/plugins/versioncheck?slugIn=snuids-trafficlights-panel,input,gel&grafanaVersion=7.0.0-beta1",
                       (const char *[]){"/api/plugins/versioncheck"}, 1);
    pattern_match_case("<path>?<_>", "/api/plugins/status", (const char *[]){"/api/plugins/status"}, 1);
    pattern_match_case("<ip> <userid> <user> [<_>] \"<method> <path> <_>\" <status> <size>",
                       "127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326",
                       (const char *[]){"127.0.0.1", "user-identifier", "frank", "GET", "/apache_pb.gif", "200", "2326"}, 7);
    pattern_match_case("<ip> - - [<_>] \"<method> <path> <_>\" <status> <size> ",
                       "35.191.8.106 - - [19/May/2021:07:21:49 +0000] \"GET /api/plugins/versioncheck?slugIn=snuids HTTP/1.1\" "
                       "200 107 \"-\" \"Go-http-client/2.0\"",
                       (const char *[]){"35.191.8.106", "GET", "/api/plugins/versioncheck?slugIn=snuids", "200", "107"}, 5);
    pattern_match_case("<_> <id> [<level>] [<no>] [<component>] ",
                       "2020-08-06T14:25:02.835618Z 0 [Note] [MY-012487] [InnoDB] DDL log recovery : begin",
                       (const char *[]){"0", "Note", "MY-012487", "InnoDB"}, 4);
    pattern_match_case("<id> <_>       <_> <line>] ",
                       "W0519 07:46:47.647050       1 clientconn.go:1223] grpc: addrConn.createTransport failed",
                       (const char *[]){"W0519", "clientconn.go:1223"}, 2);
    pattern_match_case("<level>  [<component>]<_> in <duration>.<_>",
                       "INFO  [Service Thread] 2021-05-19 07:40:12,130 GCInspector.java:284 - ParNew GC in 248ms.  CMS Old Gen",
                       (const char *[]){"INFO", "Service Thread", "248ms"}, 3);
    pattern_match_case("<_> msg=\"<method> <path> (<status>) <duration>\"",
                       "level=debug ts=2021-05-19T07:54:26.864644382Z caller=logging.go:66 traceID=7fbb92fd0eb9c65d "
                       "msg=\"POST /loki/api/v1/push (204) 1.238734ms\"",
                       (const char *[]){"POST", "/loki/api/v1/push", "204", "1.238734ms"}, 4);
    pattern_match_case("<_> <_> <level> | <component>: <_> peer <peer_id> <_> tcp <ip>:<_>",
                       "2021-05-19 08:16:50.181436 W | rafthttp: health check for peer fd8275e521cfb532 could not "
                       "connect: dial tcp 10.32.85.85:2380: connect: connection refused",
                       (const char *[]){"W", "rafthttp", "fd8275e521cfb532", "10.32.85.85"}, 4);
    pattern_match_case("<_>] <level> [Log partition=<part>, dir=<dir>] ",
                       "[2021-05-19 08:35:28,681] INFO [Log partition=p-636-L-fs-117, dir=/data/kafka-logs] Deleting",
                       (const char *[]){"INFO", "p-636-L-fs-117", "/data/kafka-logs"}, 3);
    pattern_match_case("<_>][<level>][<component>] [<id>] [<index>]",
                       "[2021-05-19T06:54:06,994][INFO ][o.e.c.m.MetaDataMappingService] [1f605d47] [usage-stats] update",
                       (const char *[]){"INFO ", "o.e.c.m.MetaDataMappingService", "1f605d47", "usage-stats"}, 4);
    /* A leading literal anchors the match; "<1a>" and "<a" are literals. */
    pattern_match_case("GET <path>", "POST /x", NULL, 0);
    pattern_match_case("<a> <1a> <b>", "x <1a> y", (const char *[]){"x", "y"}, 2);
}

static void test_pattern_compile_errors(void **state)
{
    (void)state;
    static const struct {
        const char *expr, *msg;
    } cases[] = {
        {"", "syntax error: unexpected $end, expecting IDENTIFIER or LITERAL"},
        {"<_>", "at least one capture is required"},
        {"foo <_> bar <_>", "at least one capture is required"},
        {"foo bar buzz", "at least one capture is required"},
        {"<f><f>", "found consecutive capture: invalid expression"},
        {"<f> f<d><b>", "found consecutive capture: invalid expression"},
        {"x<a><b>", "found consecutive capture: invalid expression"},
        {"<f> f<f>", "duplicate capture name (f): invalid expression"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sx_lq_pattern_t p;
        sx_err_t err;
        assert_int_equal(sx_lq_pattern_compile(S(cases[i].expr), &p, &F.a, &err), SX_EPARSE);
        assert_string_equal(err.msg, cases[i].msg);
    }
    sx_lq_pattern_t p;
    sx_err_t err;
    assert_int_equal(sx_lq_pattern_compile(S("<f> <a>"), &p, &F.a, &err), 0);
    assert_int_equal(p.n_names, 2);
    assert_true(sx_str_eq_cstr(sx_lq_pattern_name(&p, 1), "a"));
}

static void test_pattern_stage_sets_labels(void **state)
{
    (void)state;
    sx_lq_pattern_t p;
    sx_err_t err;
    assert_int_equal(sx_lq_pattern_compile(S("<_> msg=\"<method> <path> (<status>) <duration>\""), &p, &F.a, &err), 0);
    reset("method=bar");
    sx_lq_pattern_process(&p, S("level=debug ts=2021-05-19T07:54:26.864644382Z caller=logging.go:66 "
                                "msg=\"POST /loki/api/v1/push (204) 1.238734ms\""),
                          &F.lb);
    assert_labels("{duration=\"1.238734ms\", method=\"bar\", method_extracted=\"POST\", path=\"/loki/api/v1/push\", "
                  "status=\"204\"}");
    assert_int_equal(sx_lq_pattern_compile(S("foo <f>\""), &p, &F.a, &err), 0);
    reset("method=bar");
    sx_lq_pattern_process(&p, S("bar"), &F.lb);
    assert_labels("{method=\"bar\"}");
    /* Docs: the NGINX example. */
    assert_int_equal(sx_lq_pattern_compile(S("<ip> - - <_> \"<method> <uri> <_>\" <status> <size> <_> \"<agent>\" <_>"),
                                           &p, &F.a, &err),
                     0);
    reset("");
    sx_lq_pattern_process(&p, S("0.191.12.2 - - [10/Jun/2021:09:14:29 +0000] \"GET /api/plugins/versioncheck HTTP/1.1\" "
                                "200 2 \"-\" \"Go-http-client/2.0\" \"13.76.247.102, 34.120.177.193\" \"TLSv1.2\" \"US\" \"\""),
                          &F.lb);
    assert_labels("{agent=\"Go-http-client/2.0\", ip=\"0.191.12.2\", method=\"GET\", size=\"2\", status=\"200\", "
                  "uri=\"/api/plugins/versioncheck\"}");
}

static bool ptest(const char *expr, const char *line)
{
    sx_lq_pattern_t p;
    sx_err_t err;
    assert_int_equal(sx_lq_pattern_compile_filter(S(expr), &p, &F.a, &err), 0);
    return sx_lq_pattern_test(&p, S(line));
}

static void test_pattern_line_filter(void **state)
{
    (void)state;
    assert_false(ptest("<_> bar", "foo bar baz"));
    assert_true(ptest("<_> baz", "foo bar baz"));
    assert_true(ptest("foo <_>", "foo bar baz"));
    assert_false(ptest("<_> bar <_>", " bar "));
    assert_true(ptest("<_>bar<_>", " bar "));
    assert_true(ptest("", ""));
    assert_false(ptest("", "x"));
    assert_false(ptest("<_> x", ""));
    assert_true(ptest("<_> \"GET <_> HTTP/1.1\" 200 <_>", "1.2.3.4 \"GET /x HTTP/1.1\" 200 12"));
    assert_false(ptest("<_> \"GET <_> HTTP/1.1\" 200 <_>", "1.2.3.4 \"GET /x HTTP/1.1\" 500 12"));
    sx_lq_pattern_t p;
    sx_err_t err;
    assert_int_equal(sx_lq_pattern_compile_filter(S("<a> x"), &p, &F.a, &err), SX_EPARSE);
    assert_string_equal(err.msg, "named captures are not allowed");
    assert_int_equal(sx_lq_pattern_compile_filter(S("<_><_>"), &p, &F.a, &err), SX_EPARSE);
}

/* ---- template ---- */

static char tmpl_out[4096];

/* Render src against the current labels; returns the output or, on an
 * execution error, "ERR: " and the message. */
static const char *render_ts(const char *src, const char *line, int64_t ts)
{
    sx_err_t err;
    sx_lq_tmpl_t *t = sx_lq_tmpl_compile(S(src), "line", &F.a, &err);
    if (!t) {
        snprintf(tmpl_out, sizeof(tmpl_out), "COMPILE: %s", err.msg);
        return tmpl_out;
    }
    sx_buf_t out = SX_BUF_INIT, emsg = SX_BUF_INIT;
    int rc = sx_lq_tmpl_exec(t, &F.lb, S(line ? line : ""), ts, &out, &emsg);
    if (rc)
        snprintf(tmpl_out, sizeof(tmpl_out), "ERR: %.*s", (int)emsg.len, emsg.ptr);
    else
        snprintf(tmpl_out, sizeof(tmpl_out), "%.*s", (int)out.len, out.ptr ? out.ptr : "");
    sx_buf_dispose(&out);
    sx_buf_dispose(&emsg);
    sx_lq_tmpl_dispose(t);
    return tmpl_out;
}

static const char *render(const char *src)
{
    return render_ts(src, "the line", 0);
}

#define assert_render(src, expect)                                                                 \
    do {                                                                                           \
        const char *got_ = render(src);                                                            \
        if (strcmp(got_, expect) != 0)                                                             \
            fail_msg("template %s\n  got:    %s\n  expect: %s", src, got_, expect);                \
    } while (0)

static void test_template_docs_examples(void **state)
{
    (void)state;
    reset("ip=1.1.1.1,status=200,duration=3000,path=/a b/cdef,request_method=GET,cluster=prod-cluster,remote_addr=129.168.1.1");
    assert_render("{{.ip}} {{.status}} {{div .duration 1000}}", "1.1.1.1 200 3");
    assert_render("{{ .path | replace \" \" \"_\" | trunc 5 | upper }}", "/A_B/");
    assert_render("{{ if and (contains \"he\" \"hello\") (contains \"llo\" \"hello\") }} yes {{end}}", " yes ");
    assert_render("{{ if or (contains \"he\" \"hello\") (contains \"llo\" \"hello\") }} yes {{end}}", " yes ");
    assert_render("{{ if contains \"ErrTimeout\" .err }} timeout {{else if contains \"he\" \"hello\"}} yes {{else}} no {{end}}",
                  " yes ");
    assert_render("{{ .request_method | lower }} {{ lower \"HELLO\"}} {{ upper \"hello\" }}", "get hello HELLO");
    assert_render("{{ ToLower \"This is a STRING\" }} {{ToUpper \"This is a string\" | ToLower}}",
                  "this is a string this is a string");
    assert_render("{{ Replace \"This is a string\" \" \" \"-\" -1 }}", "This-is-a-string");
    assert_render("{{ .cluster | replace \"-cluster\" \"\" }} {{ replace \"hello\" \"world\" \"hello world\" }}",
                  "prod world world");
    assert_render("{{ alignLeft 5 \"hello world\"}}|{{ alignLeft 5 \"hi\"}}|", "hello|hi   |");
    assert_render("{{ alignRight 5 \"hello world\"}}|{{ alignRight 5 \"hi\"}}|", "world|   hi|");
    assert_render("{{ default \"-\" \"\" }} {{ default \"-\" \"foo\" }} {{ .missing | default \"-\" }}", "- foo -");
    assert_render("{{ repeat 3 \"hello\" }}", "hellohellohello");
    assert_render("{{ substr 0 5 \"hello world\"}} {{ substr 6 11 \"hello world\"}}", "hello world");
    assert_render("{{ trunc 5 \"hello world\"}} {{ trunc -5 \"hello world\"}}", "hello world");
    assert_render("{{ trim \"   hello    \" }}|{{ trimAll \"$\" \"$5.00\" }}|{{ trimPrefix \"-\" \"-hello\" }}|"
                  "{{ trimSuffix \"-\" \"hello-\" }}",
                  "hello|5.00|hello|hello");
    assert_render("{{ title \"hello world\"}}", "Hello World");
    assert_render("{{ printf \"The IP address was %s\" .remote_addr }}", "The IP address was 129.168.1.1");
    assert_render("{{ printf \"%-10.10s|\" \"/a/509965767/alt\" }}{{printf \"%-5.5s|\" .request_method}}",
                  "/a/5099657|GET  |");
    assert_render("{{ indent 4 \"a\\nb\" }}|{{ nindent 2 \"x\" }}", "    a\n    b|\n  x");
}

static void test_template_math_functions(void **state)
{
    (void)state;
    reset("n=7,s=3.0");
    assert_render("{{ add 3 2 5 }} {{ addf 3.5 2 5 }} {{ ceil 123.001 }} {{ div 10 2}} {{ divf 10 2 4}}",
                  "10 10.5 124 5 1.25");
    assert_render("{{ \"3.5\" | float64 }} {{ floor 123.9999 }} {{ \"3\" | int }} {{ max 1 2 3 }} {{ maxf 1 2.5 3 }}",
                  "3.5 123 3 3 3");
    assert_render("{{ min 1 2 3 }} {{ minf 1 2.5 3 }} {{ mul 5 2 3}} {{ mulf 5.5 2 2.5 }} {{ mod 10 3}}",
                  "1 1 30 27.5 1");
    assert_render("{{ round 123.555555 3 }} {{ round 123.88571428571 5 .2 }} {{ sub 5 2 }} {{ subf  5.5 2 1.5 }}",
                  "123.556 123.88572 3 2");
    /* Decimal arithmetic like shopspring/decimal, labels as numbers. */
    assert_render("{{ addf 0.1 0.2 }} {{ mulf 1.1 1.1 }} {{ add .n .s }} {{ divf 10 3 }} {{ subf 1 0.9 }}",
                  "0.3 1.21 10 3.3333333333333335 0.1");
    assert_render("{{ 1e6 }} {{ 123456.0 }} {{ 1234567.0 }} {{ 0.0001 }} {{ 0.00001 }} {{ 3 }} {{ 2.0 }}",
                  "1e+06 123456 1.234567e+06 0.0001 1e-05 3 2");
    assert_render("{{ div 1 0 }}",
                  "ERR: template: line:1:3: executing \"line\" at <div 1 0>: error calling div: runtime error: "
                  "integer divide by zero");
    assert_render("{{ divf 1 0 }}",
                  "ERR: template: line:1:3: executing \"line\" at <divf 1 0>: error calling divf: decimal division by 0");
    assert_render("{{ add \"x\" 1 }} {{ \"0x10\" | int }} {{ \"010\" | int }} {{ \"1_000\" | int }}", "1 16 8 1000");
}

static void test_template_go_semantics(void **state)
{
    (void)state;
    reset("a=1,b=hello,__error__=SomeErr,empty=");
    assert_render("[{{ .missing }}]", "[]");
    assert_render("{{ .a }}{{/* a comment */}}-{{ .b }}", "1-hello");
    assert_render("x  {{- .a -}}  y", "x1y");
    assert_render("{{ $x := .b }}{{ $x }} {{ $x = \"bye\" }}{{ $x }} {{ $ }}", "hello bye map[__error__:SomeErr a:1 b:hello empty:]");
    assert_render("{{ $.a }} {{ with .b }}[{{ . }}]{{ end }}{{ with .empty }}x{{ else }}none{{ end }}", "1 [hello]none");
    assert_render("{{ with .empty }}x{{ else with .b }}<{{ . }}>{{ end }} {{ if $v := .a }}{{ $v }}{{ end }}", "<hello> 1");
    assert_render("{{ .__error__ }}", "SomeErr");
    assert_render("{{ `raw \\n` }} {{ \"esc\\t\" }} {{ 'a' }} {{ true }} {{ print nil }}", "raw \\n esc\t 97 true <nil>");
    assert_render("{{ len .b }} {{ index .b 1 }} {{ slice .b 1 3 }} {{ index . \"a\" }}", "5 101 el 1");
    assert_render("{{ eq .a \"1\" }} {{ ne .a \"2\" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}",
                  "true true true true true false");
    assert_render("{{ eq .a \"x\" \"1\" }} {{ not .empty }} {{ and 1 0 2 }} {{ or 0 \"\" \"z\" }}", "true true 0 z");
    assert_render("{{ print 1 2 \"a\" \"b\" 3 }}|{{ println 1 \"a\" }}", "1 2ab3|1 a\n");
    assert_render("{{ html \"<a href='x'>&\" }} {{ urlquery \"a b&c\" }} {{ js \"it's <b>\" }}",
                  "&lt;a href=&#39;x&#39;&gt;&amp; a+b%26c it\\'s \\u003Cb\\u003E");
    /* Go's typing rules are errors at execution. */
    assert_render("{{ eq .a 1 }}",
                  "ERR: template: line:1:3: executing \"line\" at <eq .a 1>: error calling eq: incompatible types for comparison");
    assert_render("{{ .a.b }}", "ERR: template: line:1:5: executing \"line\" at <.a.b>: can't evaluate field b in type string");
    assert_render("{{ repeat .a \"x\" }}",
                  "ERR: template: line:1:10: executing \"line\" at <.a>: wrong type for value; expected int; got string");
    assert_render("{{ trunc 1.5 \"x\" }}", "ERR: template: line:1:9: executing \"line\" at <1.5>: expected integer; found 1.5");
    assert_render("{{ upper }}", "ERR: template: line:1:3: executing \"line\" at <upper>: wrong number of args for upper: want 1 got 0");
    assert_render("{{ .a 1 }}", "ERR: template: line:1:3: executing \"line\" at <.a>: a is not a method but has arguments");
    assert_render("{{ \"x\" 1 }}", "ERR: template: line:1:3: executing \"line\" at <\"x\">: can't give argument to non-function \"x\"");
    assert_render("{{ substr 2 1 \"abc\" }}",
                  "ERR: template: line:1:3: executing \"line\" at <substr 2 1 \"abc\">: error calling substr: runtime error: "
                  "slice bounds out of range [2:1]");
}

static void test_template_printf_verbs(void **state)
{
    (void)state;
    reset("s=abc,n=42");
    assert_render("{{ printf \"%d|%5d|%-5d|%05d|%x|%X|%o|%b|%+d\" 42 42 42 42 255 255 8 5 3 }}",
                  "42|   42|42   |00042|ff|FF|10|101|+3");
    assert_render("{{ printf \"%.2f|%8.3f|%e|%g|%v|%G\" 3.14159 2.5 1234.5678 0.000012 1.5 1e21 }}",
                  "3.14|   2.500|1.234568e+03|1.2e-05|1.5|1E+21");
    assert_render("{{ printf \"%s|%q|%v|%10s|%-4s|%.1s|%x\" .s .s .s .s .s .s .s }}",
                  "abc|\"abc\"|abc|       abc|abc |a|616263");
    assert_render("{{ printf \"%d %s\" .n }}", "%!d(string=42) %!s(MISSING)");
    assert_render("{{ printf \"%s\" 1 2 }}", "%!s(int=1)%!(EXTRA int=2)");
    assert_render("{{ printf \"%t %v %c %q %%\" true nil 65 66 }}", "true <nil> A 'B' %");
    assert_render("{{ printf \"%T %T %T\" 1 \"a\" 1.5 }}", "int string float64");
}

static void test_template_time_functions(void **state)
{
    (void)state;
    reset("createDate=2021-11-02,from=1679577215,ms=1679577215123");
    /* 2023-03-23 13:13:35.5 UTC */
    int64_t ts = 1679577215500000000LL;
    const char *got = render_ts("{{ __timestamp__ }}|{{ __timestamp__ | date \"2006-01-02T15:04:05.00Z07:00\" }}|"
                                "{{ __timestamp__ | unixEpoch }}|{{ __line__ | upper }}",
                                "the line", ts);
    assert_string_equal(got, "2023-03-23 13:13:35.5 +0000 UTC|2023-03-23T13:13:35.50Z|1679577215|THE LINE");
    assert_render("{{ toDate \"2006-01-02\" \"2021-11-02\" }}", "2021-11-02 00:00:00 +0000 UTC");
    assert_render("{{ unixEpoch (toDate \"2006-01-02\" .createDate) }}", "1635811200");
    assert_render("{{ toDateInZone \"2006-01-02T15:04:05.999999999Z\" \"UTC\" \"2021-02-12T19:18:10.037940878Z\" | unixEpochNanos }}",
                  "1613157490037940878");
    assert_render("{{ toDateInZone \"2006-01-02T15:04:05.999999999Z\" \"UTC\" \"2021-02-12T19:18:10.037940878Z\" | unixEpochMillis }}",
                  "1613157490037");
    assert_render("{{date \"2006-01-02\" (unixToTime .from)}} {{ unixToTime .ms }} {{ unixToTime \"19373\" | unixEpoch }}",
                  "2023-03-23 2023-03-23 13:13:35.123 +0000 UTC 1673827200");
    assert_render("{{ toDate \"2006-01-02\" \"not a date\" }}", "0001-01-01 00:00:00 +0000 UTC");
    assert_render("{{ toDate \"02 Jan 06 15:04 -0700\" \"23 Mar 23 10:30 +0530\" }}", "2023-03-23 10:30:00 +0530 +0530");
    assert_render("{{ toDate \"Mon, 02 Jan 2006 3:04:05 PM MST\" \"Thu, 23 Mar 2023 1:13:35 PM UTC\" | date \"January 2, 2006 15h\" }}",
                  "March 23, 2023 13h");
    assert_render("{{ date \"2006\" 0 }}", "1970");
    assert_render("{{ unixToTime \"123\" }}",
                  "ERR: template: line:1:3: executing \"line\" at <unixToTime \"123\">: error calling unixToTime: unable to "
                  "parse time '123': %!w(<nil>)");
}

static void test_template_string_conversions(void **state)
{
    (void)state;
    reset("foo=aGVsbG8=,u=a%20b+c,sz=1.5KB,d=1h2m,q=x");
    assert_render("{{ .foo | b64dec }} {{ \"hello\" | b64enc }} {{ b64dec \"!!\" }}",
                  "hello aGVsbG8= illegal base64 data at input byte 0");
    assert_render("{{ .u | urldecode }} {{ \"a b/c?\" | urlencode }}", "a b c a+b%2Fc%3F");
    assert_render("{{ urldecode \"%zz\" }}",
                  "ERR: template: line:1:3: executing \"line\" at <urldecode \"%zz\">: error calling urldecode: invalid "
                  "URL escape \"%zz\"");
    assert_render("{{ .sz | bytes }} {{ .d | duration }} {{ duration_seconds \"250ms\" }}", "1500 3720 0.25");
    assert_render("{{ count \"a|b\" \"abab\" }} {{ count \"o\" \"foo\" }} {{ count \"\" \"abc\" }} {{ __line__ | count \"e\" }}",
                  "4 2 4 2");
    assert_render("{{ regexReplaceAll \"(a*)bc\" \"aabcxbc\" \"${1}a\" }} {{ regexReplaceAllLiteral \"(ts=)\" \"ts=1\" \"timestamp=\" }}",
                  "aaaxa timestamp=1");
    assert_render("{{ regexReplaceAll \"a(x*)b\" \"-ab-axxb-\" \"$1W\" }}|{{ regexReplaceAll \"a*\" \"baaac\" \"-\" }}",
                  "---|-b-c-");
    assert_render("{{ regexReplaceAll \"(?P<k>\\\\w+)=\" \"a=1 b=2\" \"${k}:\" }}", "a:1 b:2");
    assert_render("{{ regexReplaceAll \"(\" \"x\" \"y\" }}",
                  "ERR: template: line:1:3: executing \"line\" at <regexReplaceAll \"(\" ...>: error calling regexReplaceAll: "
                  "error parsing regexp: missing closing parenthesis: `(`");
    assert_render("{{ TrimSpace \"  x \" }}|{{ Trim \"xxhixx\" \"x\" }}|{{ TrimLeft \"xxhi\" \"x\" }}|{{ TrimPrefix \"abc\" \"a\" }}",
                  "x|hi|hi|bc");
    assert_render("{{ hasPrefix \"he\" \"hello\" }} {{ hasSuffix \"lo\" \"hello\" }} {{ contains \"z\" \"hello\" }}",
                  "true true false");
    assert_render("{{ upper \"stra\xc3\x9f" "e \xc3\xa9t\xc3\xa9\" }} {{ lower \"\xc3\x89T\xc3\x89 \xd0\x9f\xd0\xa0\xd0\x98\" }}",
                  "STRA\xc3\x9f" "E \xc3\x89T\xc3\x89 \xc3\xa9t\xc3\xa9 \xd0\xbf\xd1\x80\xd0\xb8");
}

static void test_template_compile_errors(void **state)
{
    (void)state;
    static const struct {
        const char *src, *msg;
    } cases[] = {
        {"{{ foo }}", "template: line:1: function \"foo\" not defined"},
        {"{{ .a ", "template: line:1: unclosed action"},
        {"{{ if .a }}x", "template: line:1: unexpected EOF"},
        {"{{ end }}", "template: line:1: unexpected {{end}}"},
        {"{{ range .a }}{{ end }}", "template: line:1: {{range}} is not supported in LogQL templates"},
        {"{{ $x }}", "template: line:1: undefined variable \"$x\""},
        {"{{ fromJson \"{}\" }}", "template: line:1: function \"fromJson\" not defined"},
        {"{{ \"x\" | 3 }}", "template: line:1: non executable command in pipeline stage 2"},
        {"{{ }}", "template: line:1: missing value for command"},
        {"a\n{{ }}", "template: line:2: missing value for command"},
        {"{{ 3x }}", "template: line:1: bad number syntax: \"3x\""},
        {"{{ \"abc }}", "template: line:1: unterminated quoted string"},
        {"{{/* x */ }}", "template: line:1: comment ends before closing delimiter"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sx_err_t err;
        sx_lq_tmpl_t *t = sx_lq_tmpl_compile(S(cases[i].src), "line", &F.a, &err);
        if (t)
            fail_msg("template %s compiled", cases[i].src);
        assert_int_equal(err.code, SX_EPARSE);
        if (strcmp(err.msg, cases[i].msg) != 0)
            fail_msg("template %s\n  got:    %s\n  expect: %s", cases[i].src, err.msg, cases[i].msg);
    }
}

static void test_template_simple_field_and_required_labels(void **state)
{
    (void)state;
    sx_err_t err;
    sx_str_t name;
    sx_lq_tmpl_t *t = sx_lq_tmpl_compile(S("{{.message}}"), "line", &F.a, &err);
    assert_non_null(t);
    assert_true(sx_lq_tmpl_simple_field(t, &name));
    assert_true(sx_str_eq_cstr(name, "message"));
    sx_lq_tmpl_dispose(t);
    t = sx_lq_tmpl_compile(S("{{ .a }} {{ if .b }}{{ .c | upper }}{{ end }}{{ .a }}"), "label", &F.a, &err);
    assert_non_null(t);
    assert_false(sx_lq_tmpl_simple_field(t, NULL));
    sx_str_t names[8];
    assert_int_equal(sx_lq_tmpl_fields(t, names, 8), 3);
    assert_true(sx_str_eq_cstr(names[0], "a") && sx_str_eq_cstr(names[1], "b") && sx_str_eq_cstr(names[2], "c"));
    sx_lq_tmpl_dispose(t);
    sx_lq_tmpl_dispose(NULL);
}

/* ---- conversions ---- */

static void test_convert_parse_float_go_rules(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        double v;
    } ok[] = {
        {"1.5", 1.5}, {"-2", -2}, {"1e3", 1000}, {".5", .5}, {"5.", 5}, {"0x1p-2", .25}, {"0X1.8P1", 3},
        {"1_000", 1000}, {"+7", 7}, {"1e-400", 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        double v;
        if (sx_lq_parse_float(S(ok[i].s), &v, NULL) != 0)
            fail_msg("ParseFloat(%s) failed", ok[i].s);
        assert_true(v == ok[i].v);
    }
    double v;
    assert_int_equal(sx_lq_parse_float(S("inf"), &v, NULL), 0);
    assert_true(isinf(v) && v > 0);
    assert_int_equal(sx_lq_parse_float(S("-Infinity"), &v, NULL), 0);
    assert_true(isinf(v) && v < 0);
    assert_int_equal(sx_lq_parse_float(S("NaN"), &v, NULL), 0);
    assert_true(isnan(v));
    static const char *bad[] = {"", " 1", "1 ", "abc", "0x1F", "1e", "_1", "1__0", "+nan", "1.2.3", "--1", "0x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sx_lq_parse_float(S(bad[i]), &v, NULL) == 0)
            fail_msg("ParseFloat(%s) accepted", bad[i]);
    sx_err_t err;
    assert_int_equal(sx_lq_parse_float(S("abc"), &v, &err), SX_EPARSE);
    assert_string_equal(err.msg, "strconv.ParseFloat: parsing \"abc\": invalid syntax");
    assert_int_equal(sx_lq_parse_float(S("1e400"), &v, &err), SX_EPARSE);
    assert_string_equal(err.msg, "strconv.ParseFloat: parsing \"1e400\": value out of range");
}

static void test_convert_durations_go_rules(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ns;
    } ok[] = {
        {"1.5s", 1500000000LL}, {"250ms", 250000000LL}, {"1h2m", 3720000000000LL}, {"-1m", -60000000000LL},
        {"0", 0}, {"+5us", 5000}, {"3\xc2\xb5s", 3000}, {"3\xce\xbcs", 3000}, {"1.5h", 5400000000000LL},
        {".5s", 500000000}, {"1h1m1s1ms1us1ns", 3661001001001LL}, {"2562047h47m16.854775807s", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ns;
        if (sx_lq_parse_duration(S(ok[i].s), &ns, NULL) != 0)
            fail_msg("ParseDuration(%s) failed", ok[i].s);
        if (ns != ok[i].ns)
            fail_msg("ParseDuration(%s) = %lld", ok[i].s, (long long)ns);
    }
    sx_err_t err;
    int64_t ns;
    assert_int_equal(sx_lq_parse_duration(S("1"), &ns, &err), SX_EPARSE);
    assert_string_equal(err.msg, "time: missing unit in duration \"1\"");
    assert_int_equal(sx_lq_parse_duration(S("1x"), &ns, &err), SX_EPARSE);
    assert_string_equal(err.msg, "time: unknown unit \"x\" in duration \"1x\"");
    assert_int_equal(sx_lq_parse_duration(S(""), &ns, &err), SX_EPARSE);
    assert_string_equal(err.msg, "time: invalid duration \"\"");
    assert_int_equal(sx_lq_parse_duration(S("1 s"), &ns, &err), SX_EPARSE);
    assert_int_equal(sx_lq_parse_duration(S(".s"), &ns, &err), SX_EPARSE);
    assert_int_equal(sx_lq_parse_duration(S("9999999999h"), &ns, &err), SX_EPARSE);
    double s;
    assert_int_equal(sx_lq_parse_duration_seconds(S("1m30.5s"), &s, NULL), 0);
    assert_true(s == 90.5);
}

static void test_convert_bytes_humanize(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        {"1.5KB", 1500}, {"2 MiB", 2097152}, {"100b", 100}, {"10", 10}, {"1,000 kb", 1000000}, {"1.5k", 1500},
        {"1GiB", 1073741824ULL}, {"3 tb", 3000000000000ULL}, {"0.5B", 0}, {"42 ", 42},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v;
        if (sx_lq_parse_bytes(S(ok[i].s), &v, NULL) != 0)
            fail_msg("ParseBytes(%s) failed", ok[i].s);
        if (v != ok[i].v)
            fail_msg("ParseBytes(%s) = %llu", ok[i].s, (unsigned long long)v);
    }
    sx_err_t err;
    uint64_t v;
    assert_int_equal(sx_lq_parse_bytes(S("5 XB"), &v, &err), SX_EPARSE);
    assert_string_equal(err.msg, "unhandled size name: xb");
    assert_int_equal(sx_lq_parse_bytes(S("KB"), &v, &err), SX_EPARSE);
    assert_int_equal(sx_lq_parse_bytes(S("-5"), &v, &err), SX_EPARSE);
    double d;
    assert_int_equal(sx_lq_convert(SX_LQ_CONV_BYTES, S("2KiB"), &d, NULL), 0);
    assert_true(d == 2048);
    assert_int_equal(sx_lq_convert(SX_LQ_CONV_DURATION, S("2m"), &d, NULL), 0);
    assert_true(d == 120);
    assert_int_equal(sx_lq_convert(SX_LQ_CONV_FLOAT, S("2.5"), &d, NULL), 0);
    assert_true(d == 2.5);
    assert_int_equal(sx_lq_convert(SX_LQ_CONV_FLOAT, S(""), &d, NULL), SX_EPARSE);
}

/* Write over a large stretch of the stack that the pipeline's frames
 * used, as the next calls of a query do. */
static __attribute__((noinline)) void clobber_stack(void)
{
    volatile char junk[16384];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (char)0xa5;
    (void)junk[sizeof(junk) - 1];
}

/* The __error_details__ an unwrap conversion or a duration/bytes label
 * filter sets outlive the call that made them (they once pointed at that
 * call's stack and read back as garbage). */
static void test_error_details_outlive_the_stage(void **state)
{
    (void)state;
    static const struct {
        const char *q, *line, *want;
    } cases[] = {
        {"sum_over_time({app=\"a\"} | logfmt | unwrap latency [1m])", "latency=fast",
         "strconv.ParseFloat: parsing \"fast\": invalid syntax"},
        {"{app=\"a\"} | logfmt | took > 1s", "took=slowly", NULL},
        {"{app=\"a\"} | logfmt | size > 1KB", "size=huge", NULL},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        sx_arena_t a;
        sx_arena_init(&a);
        sx_err_t err;
        sx_logql_expr_t *e = sx_logql_parse(cases[c].q, strlen(cases[c].q), &a, &err);
        if (!e)
            fail_msg("%s: %s", cases[c].q, err.msg);
        const sx_logql_expr_t *log = e->kind == SX_LQ_EXPR_RANGE_AGG ? e->range.sel : e;
        const sx_logql_unwrap_t *uw =
            e->kind == SX_LQ_EXPR_RANGE_AGG && e->range.has_unwrap ? &e->range.unwrap : NULL;
        sx_lq_pipe_t *p = sx_lq__pipe_create(log, uw, &a, &err);
        assert_non_null(p);
        sx_label_t stream[1] = {{SX_STR_LIT("app"), SX_STR_LIT("a")}};
        sx_str_t line = sx_str(cases[c].line);
        double v = -1;
        assert_true(sx_lq__pipe_run(p, stream, 1, 1700000000000000000LL, &line, NULL, 0, &v));
        /* What the details say now, then again after the stack is reused. */
        sx_str_t d;
        assert_true(sx_lq_labels_get(sx_lq__pipe_labels(p), SX_STR_LIT("__error_details__"), &d));
        char before[256];
        snprintf(before, sizeof(before), "%.*s", (int)d.len, d.ptr);
        assert_true(strlen(before) > 0);
        if (cases[c].want)
            assert_string_equal(before, cases[c].want);
        clobber_stack();
        assert_true(sx_lq_labels_get(sx_lq__pipe_labels(p), SX_STR_LIT("__error_details__"), &d));
        char after[256];
        snprintf(after, sizeof(after), "%.*s", (int)d.len, d.ptr);
        assert_string_equal(after, before);
        sx_lq__pipe_destroy(p);
        sx_logql_expr_dispose(e);
        sx_arena_dispose(&a);
    }
}

static void test_decolorize_strips_ansi(void **state)
{
    (void)state;
    sx_buf_t scratch = SX_BUF_INIT;
    sx_str_t in = S("plain line");
    sx_str_t out = sx_lq_decolorize(in, &scratch);
    assert_ptr_equal(out.ptr, in.ptr);
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"\x1b[31mred\x1b[0m text", "red text"},
        {"\x1b[1;32;40mbold\x1b[m", "bold"},
        {"\x1b]0;title\x07" "after", "after"},
        {"a\xc2\x9b" "31mb", "ab"},
        {"\x1b[?25lhidden", "hidden"},
        {"esc alone \x1b end", "esc alone \x1b end"},
        {"\x1b[12345m", "m"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        out = sx_lq_decolorize(S(cases[i].in), &scratch);
        if (out.len != strlen(cases[i].out) || memcmp(out.ptr, cases[i].out, out.len) != 0)
            fail_msg("decolorize case %zu: got \"%.*s\"", i, (int)out.len, out.ptr);
    }
    sx_buf_dispose(&scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_set_get_del_keep_order),
        cmocka_unit_test(test_labels_category_precedence),
        cmocka_unit_test(test_labels_add_suffixes_and_errors),
        cmocka_unit_test(test_labels_hash_ignores_insertion_order),
        cmocka_unit_test(test_labels_copies_live_in_the_line_arena),
        cmocka_unit_test(test_sanitize_key_as_loki),
        cmocka_unit_test(test_logfmt_docs_example),
        cmocka_unit_test(test_logfmt_values_keys_and_duplicates),
        cmocka_unit_test(test_logfmt_malformed_pairs_lenient_and_strict),
        cmocka_unit_test(test_logfmt_keep_empty),
        cmocka_unit_test(test_logfmt_extraction_parameters),
        cmocka_unit_test(test_json_flatten_docs_example),
        cmocka_unit_test(test_json_flatten_loki_cases),
        cmocka_unit_test(test_json_flatten_errors_like_jsonparser),
        cmocka_unit_test(test_json_parameters_docs_and_loki_cases),
        cmocka_unit_test(test_json_path_syntax_errors),
        cmocka_unit_test(test_unpack_as_loki),
        cmocka_unit_test(test_pattern_matches_loki_fixtures),
        cmocka_unit_test(test_pattern_compile_errors),
        cmocka_unit_test(test_pattern_stage_sets_labels),
        cmocka_unit_test(test_pattern_line_filter),
        cmocka_unit_test(test_template_docs_examples),
        cmocka_unit_test(test_template_math_functions),
        cmocka_unit_test(test_template_go_semantics),
        cmocka_unit_test(test_template_printf_verbs),
        cmocka_unit_test(test_template_time_functions),
        cmocka_unit_test(test_template_string_conversions),
        cmocka_unit_test(test_template_compile_errors),
        cmocka_unit_test(test_template_simple_field_and_required_labels),
        cmocka_unit_test(test_convert_parse_float_go_rules),
        cmocka_unit_test(test_convert_durations_go_rules),
        cmocka_unit_test(test_convert_bytes_humanize),
        cmocka_unit_test(test_decolorize_strips_ansi),
        cmocka_unit_test(test_error_details_outlive_the_stage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
