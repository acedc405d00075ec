/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/ingest/line_protocol.c: the low-level parser (escapes,
 * value types, comments, line endings, errors), the point -> series mapping
 * behind sx_line_protocol_decode (m_f names, labels, timestamps, extra
 * label), DataKit's data constraints, and sx_lp_precision_parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/ingest.h"
#include "ingest/line_protocol.h"

#define NOW_NS 1700000000123456789LL
#define NOW_MS 1700000000123LL

static sx_arena_t arena;
static sx_metric_batch_t batch;
static sx_err_t err;

/* ---- Helpers ---- */

static sx_lp_opts_t opts_plain(void)
{
    return (sx_lp_opts_t){.precision_ns = 1, .now_ns = NOW_NS};
}

static int decode_opts(const char *body, const sx_lp_opts_t *opts)
{
    sx_arena_reset(&arena);
    sx_metric_batch_init(&batch, &arena);
    sx_err_clear(&err);
    return sx_line_protocol_decode(body, strlen(body), opts, &batch, &err);
}

static int decode(const char *body)
{
    sx_lp_opts_t o = opts_plain();
    return decode_opts(body, &o);
}

/* The value of label name in s as a C string (arena), or NULL. */
static const char *label(const sx_series_in_t *s, const char *name)
{
    for (uint32_t i = 0; i < s->nlabels; i++)
        if (sx_str_eq_cstr(s->labels[i].name, name))
            return sx_arena_strndup(&arena, s->labels[i].value.ptr, s->labels[i].value.len);
    return NULL;
}

/* The series printed as Prometheus does: name{a="b", ...}. */
static const char *series_str(size_t i)
{
    assert_true(i < batch.nseries);
    return sx_labels_format(&arena, batch.series[i].labels, batch.series[i].nlabels);
}

static const sx_series_in_t *find_series(const char *name)
{
    for (size_t i = 0; i < batch.nseries; i++) {
        const char *n = label(&batch.series[i], "__name__");
        if (n && !strcmp(n, name))
            return &batch.series[i];
    }
    return NULL;
}

/* Parse exactly one point from body with the low-level parser. */
static void parse_one(const char *body, size_t len, sx_lp_point_t *pt)
{
    static sx_lp_parser_t p;
    sx_arena_reset(&arena);
    sx_lp_parser_init(&p, body, len, &arena, SX_LP_REJECT_DUP_TAGS);
    int rc = sx_lp_parser_next(&p, pt, &err);
    if (rc != 1)
        fail_msg("parse of \"%s\" failed: %s", body, err.msg);
}

static int parse_all(const char *body, size_t *npoints)
{
    sx_lp_parser_t p;
    sx_lp_point_t pt;
    int rc;
    sx_arena_reset(&arena);
    sx_err_clear(&err);
    sx_lp_parser_init(&p, body, strlen(body), &arena, SX_LP_REJECT_DUP_TAGS);
    *npoints = 0;
    while ((rc = sx_lp_parser_next(&p, &pt, &err)) == 1)
        (*npoints)++;
    return rc;
}

static void assert_str(sx_str_t s, const char *want)
{
    if (!sx_str_eq_cstr(s, want))
        fail_msg("got \"%.*s\", want \"%s\"", (int)s.len, s.ptr, want);
}

/* ---- Parser ---- */

static void test_lp_parses_measurement_tags_fields_and_time(void **state)
{
    sx_lp_point_t pt;
    const char *body = "cpu,host=a,region=eu usage=1.5,n=3i 1690000000000000000";
    parse_one(body, strlen(body), &pt);
    assert_str(pt.measurement, "cpu");
    assert_int_equal(pt.ntags, 2);
    assert_str(pt.tags[0].key, "host");
    assert_str(pt.tags[0].value, "a");
    assert_str(pt.tags[1].key, "region");
    assert_str(pt.tags[1].value, "eu");
    assert_int_equal(pt.nfields, 2);
    assert_str(pt.fields[0].key, "usage");
    assert_int_equal(pt.fields[0].kind, SX_LP_FLOAT);
    assert_true(pt.fields[0].v.f == 1.5);
    assert_int_equal(pt.fields[1].kind, SX_LP_INT);
    assert_int_equal(pt.fields[1].v.i, 3);
    assert_true(pt.has_ts);
    assert_int_equal(pt.ts, 1690000000000000000LL);
    assert_int_equal(pt.line, 1);
    /* Zero-copy: unescaped tokens point into the body. */
    assert_ptr_equal(pt.measurement.ptr, body);
}

static void test_lp_parses_every_field_type(void **state)
{
    sx_lp_point_t pt;
    const char *body = "m f=-1.25e2,i=-9223372036854775808i,u=18446744073709551615u,"
                       "t=t,T=TRUE,tr=True,f0=f,F=False,s=\"hi\",d=.5,e=1.,z=0";
    parse_one(body, strlen(body), &pt);
    assert_int_equal(pt.nfields, 12);
    assert_int_equal(pt.fields[0].kind, SX_LP_FLOAT);
    assert_true(pt.fields[0].v.f == -125.0);
    assert_int_equal(pt.fields[1].kind, SX_LP_INT);
    assert_true(pt.fields[1].v.i == INT64_MIN);
    assert_int_equal(pt.fields[2].kind, SX_LP_UINT);
    assert_true(pt.fields[2].v.u == UINT64_MAX);
    for (int i = 3; i <= 7; i++) {
        assert_int_equal(pt.fields[i].kind, SX_LP_BOOL);
        assert_int_equal(pt.fields[i].v.b, i <= 5);
    }
    assert_int_equal(pt.fields[8].kind, SX_LP_STRING);
    assert_str(pt.fields[8].v.s, "hi");
    assert_true(pt.fields[9].v.f == 0.5);
    assert_true(pt.fields[10].v.f == 1.0);
    assert_true(pt.fields[11].v.f == 0.0);
    assert_false(pt.has_ts);
}

static void test_lp_parses_floats_exactly(void **state)
{
    static const char *const vals[] = {
        "0.1",
        "12.123",
        "-0.64",
        "1e-4",
        "6.632243e+06",
        "1.7976931348623157e308",
        "123456789012345678901234567890",
        "0.000000000000000000000000001",
        "3.14159265358979323846",
        "4.9e-324",
        "1E4",
        "9007199254740993",
    };
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char body[128];
        snprintf(body, sizeof(body), "m v=%s", vals[i]);
        sx_lp_point_t pt;
        parse_one(body, strlen(body), &pt);
        assert_int_equal(pt.fields[0].kind, SX_LP_FLOAT);
        if (pt.fields[0].v.f != strtod(vals[i], NULL))
            fail_msg("%s parsed as %.17g", vals[i], pt.fields[0].v.f);
    }
    /* Underflow is zero, not an error. */
    sx_lp_point_t pt;
    parse_one("m v=1e-400", 10, &pt);
    assert_true(pt.fields[0].v.f == 0.0);
}

static void test_lp_unescapes_measurement_tags_and_field_keys(void **state)
{
    sx_lp_point_t pt;
    const char *body = "c\\,p\\ u\\=x,t\\ k\\,\\==v\\ 1\\,\\=2 f\\ k\\=\\,=1i";
    parse_one(body, strlen(body), &pt);
    assert_str(pt.measurement, "c,p u\\=x"); /* '=' is not escaped in a measurement */
    assert_str(pt.tags[0].key, "t k,=");
    assert_str(pt.tags[0].value, "v 1,=2");
    assert_str(pt.fields[0].key, "f k=,");
}

static void test_lp_keeps_backslashes_that_escape_nothing(void **state)
{
    sx_lp_point_t pt;
    const char *body = "m\\a,k\\t=v\\n,two=a\\\\ b f=1";
    parse_one(body, strlen(body), &pt);
    assert_str(pt.measurement, "m\\a");
    assert_str(pt.tags[0].key, "k\\t");
    assert_str(pt.tags[0].value, "v\\n");
    /* "\\ " is a kept backslash then an escaped space. */
    assert_str(pt.tags[1].value, "a\\ b");
}

static void test_lp_string_fields_unescape_quote_and_backslash_only(void **state)
{
    sx_lp_point_t pt;
    const char *body = "m s=\"a \\\"q\\\" b\\\\c \\n, x=1 \\\\\",n=1";
    parse_one(body, strlen(body), &pt);
    assert_int_equal(pt.nfields, 2);
    assert_str(pt.fields[0].v.s, "a \"q\" b\\c \\n, x=1 \\");
    assert_int_equal(pt.fields[1].kind, SX_LP_FLOAT);
}

static void test_lp_string_field_may_span_lines(void **state)
{
    sx_lp_parser_t p;
    sx_lp_point_t pt;
    const char *body = "m s=\"one\ntwo\" 5\nm v=1\nm v=";
    sx_arena_reset(&arena);
    sx_lp_parser_init(&p, body, strlen(body), &arena, 0);
    assert_int_equal(sx_lp_parser_next(&p, &pt, &err), 1);
    assert_str(pt.fields[0].v.s, "one\ntwo");
    assert_int_equal(pt.ts, 5);
    assert_int_equal(sx_lp_parser_next(&p, &pt, &err), 1);
    assert_int_equal(pt.line, 3);
    assert_true(sx_lp_parser_next(&p, &pt, &err) < 0);
    assert_non_null(strstr(err.msg, "line 4"));
}

static void test_lp_skips_comments_blank_lines_and_leading_spaces(void **state)
{
    size_t n;
    const char *body = "# a comment, with spaces = and \"quotes\"\n"
                       "\n"
                       "   \r\n"
                       "   m v=1 1\r\n"
                       "#another\r\n"
                       "m v=2   \n"
                       "  # indented comment\n"
                       "m v=3\r";
    assert_int_equal(parse_all(body, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(parse_all("", &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(parse_all("\n\n# only comments\n", &n), 0);
    assert_int_equal(n, 0);
}

static void test_lp_accepts_spaces_around_timestamp(void **state)
{
    size_t n;
    assert_int_equal(parse_all("m v=1     123   \nm  v=2  -5", &n), 0);
    assert_int_equal(n, 2);
    sx_lp_point_t pt;
    parse_one("m v=1 -5", 8, &pt);
    assert_true(pt.has_ts);
    assert_int_equal(pt.ts, -5);
}

static void test_lp_rejects_invalid_lines(void **state)
{
    static const char *const bad[] = {
        "cpu",                         /* no fields */
        "cpu,",                        /* comma then nothing */
        "cpu, v=1",                    /* comma then space */
        "cpu,host v=1",                /* tag without '=' */
        "cpu,host= v=1",               /* empty tag value */
        "cpu,=x v=1",                  /* empty tag key */
        "cpu,a=1,,b=2 v=1",            /* empty tag */
        "cpu,host=a",                  /* tags but no fields */
        "cpu v",                       /* field without '=' */
        "cpu v=",                      /* field without value */
        "cpu =1",                      /* empty field key */
        "cpu v=1,",                    /* trailing comma */
        "cpu v=abc",                   /* unknown value type */
        "cpu v=1.2.3",                 /* bad float */
        "cpu v=1e",                    /* exponent without digits */
        "cpu v=.",                     /* a dot alone */
        "cpu v=-",                     /* a sign alone */
        "cpu v=NaN",                   /* no NaN */
        "cpu v=-Inf",                  /* no infinities */
        "cpu v=0x10",                  /* no hex */
        "cpu v=1_000",                 /* no separators */
        "cpu v=1e400",                 /* float overflow */
        "cpu v=9223372036854775808i",  /* int overflow */
        "cpu v=-9223372036854775809i", /* int underflow */
        "cpu v=18446744073709551616u", /* uint overflow */
        "cpu v=-1u",                   /* negative uint */
        "cpu v=1.5i",                  /* float with int suffix */
        "cpu v=tru",                   /* bad bool */
        "cpu v=\"open",                /* unterminated string */
        "cpu v=\"a\"b",                /* text after string */
        "cpu v=1 12a",                 /* bad timestamp */
        "cpu v=1 1-2",                 /* bad timestamp */
        "cpu v=1 -",                   /* sign-only timestamp */
        "cpu v=1 9223372036854775808", /* timestamp overflow */
        "cpu v=1 1 2",                 /* text after timestamp */
        "cpu v=1\rcpu v=2",            /* lone carriage return */
        "\tcpu v=1",                   /* tab is not leading white space */
        "cpu\tv=1",                    /* tab is not a separator */
        "cpu,k=a\xff v=1",             /* invalid UTF-8 */
        "cpu s=\"\xc3\x28\"",          /* invalid UTF-8 in a string */
        "# comment with a tab\t\ncpu v=1",
        "cpu,a=1,a=2 v=1", /* duplicate tag key */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n;
        int rc = parse_all(bad[i], &n);
        if (rc >= 0)
            fail_msg("accepted invalid input \"%s\"", bad[i]);
        assert_int_equal(rc, SX_EPARSE);
        if (!strstr(err.msg, "line 1") && !strstr(err.msg, "line 2"))
            fail_msg("error for \"%s\" names no line: %s", bad[i], err.msg);
    }
}

static void test_lp_error_names_line_column_and_problem(void **state)
{
    size_t n;
    assert_int_equal(parse_all("m v=1\nm v=2\n\nm,host=a v=oops\n", &n), SX_EPARSE);
    assert_non_null(strstr(err.msg, "line 4 col 12"));
    assert_non_null(strstr(err.msg, "field key \"v\""));
    assert_int_equal(parse_all("m v=1\nm,t=1,t=2 v=1", &n), SX_EPARSE);
    assert_non_null(strstr(err.msg, "line 2"));
    assert_non_null(strstr(err.msg, "duplicate tag key \"t\""));
}

static void test_lp_parser_accepts_duplicate_tags_without_flag(void **state)
{
    sx_lp_parser_t p;
    sx_lp_point_t pt;
    const char *body = "m,a=1,a=2 v=1";
    sx_arena_reset(&arena);
    sx_lp_parser_init(&p, body, strlen(body), &arena, 0);
    assert_int_equal(sx_lp_parser_next(&p, &pt, &err), 1);
    assert_int_equal(pt.ntags, 2);
}

static void test_lp_parser_handles_many_tags_and_fields(void **state)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, "m");
    for (int i = 0; i < 300; i++)
        sx_buf_printf(&b, ",t%03d=v%d", i, i);
    sx_buf_putc(&b, ' ');
    for (int i = 0; i < 500; i++)
        sx_buf_printf(&b, "%sf%d=%di", i ? "," : "", i, i);
    sx_lp_point_t pt;
    parse_one(b.ptr, b.len, &pt);
    assert_int_equal(pt.ntags, 300);
    assert_int_equal(pt.nfields, 500);
    assert_int_equal(pt.fields[499].v.i, 499);
    /* The sorted duplicate check (more than 16 tags) finds a repeat too. */
    sx_buf_puts(&b, " 1\nm");
    for (int i = 0; i < 40; i++)
        sx_buf_printf(&b, ",t%d=v", i % 39);
    sx_buf_puts(&b, " f=1");
    sx_lp_parser_t p;
    sx_arena_reset(&arena);
    sx_lp_parser_init(&p, b.ptr, b.len, &arena, SX_LP_REJECT_DUP_TAGS);
    assert_int_equal(sx_lp_parser_next(&p, &pt, &err), 1);
    assert_int_equal(sx_lp_parser_next(&p, &pt, &err), SX_EPARSE);
    assert_non_null(strstr(err.msg, "duplicate tag key \"t0\""));
    sx_buf_dispose(&b);
}

static void test_lp_ts_to_ns_detects_overflow(void **state)
{
    int64_t ns;
    assert_true(sx_lp_ts_to_ns(1700000000, 1000000000, &ns));
    assert_int_equal(ns, 1700000000000000000LL);
    assert_false(sx_lp_ts_to_ns(9300000000LL, 1000000000, &ns));
    assert_false(sx_lp_ts_to_ns(-9300000000LL, 1000000000, &ns));
}

/* ---- Precision ---- */

static void test_lp_precision_parse_accepts_known_units(void **state)
{
    static const struct {
        const char *s;
        int64_t ns;
    } cases[] = {{"", 1},           {"n", 1},           {"ns", 1},
                 {"u", 1000},       {"us", 1000},       {"ms", 1000000},
                 {"s", 1000000000}, {"m", 60000000000}, {"h", 3600000000000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t mult = 0;
        assert_int_equal(sx_lp_precision_parse(sx_str(cases[i].s), &mult, &err), 0);
        assert_int_equal(mult, cases[i].ns);
    }
    int64_t mult = 0;
    assert_int_equal(sx_lp_precision_parse(sx_str("sec"), &mult, &err), SX_EINVAL);
    assert_non_null(strstr(err.msg, "sec"));
    assert_int_equal(sx_lp_precision_parse(sx_str("d"), &mult, &err), SX_EINVAL);
}

/* ---- Mapping to series ---- */

static void test_lp_decode_maps_each_field_to_measurement_underscore_field(void **state)
{
    assert_int_equal(decode("cpu,host=a,dc=x user=1.5,sys=2i,up=true,ok=F 1700000000000000000"), 0);
    assert_int_equal(batch.nseries, 4);
    assert_int_equal(batch.nsamples, 4);
    assert_string_equal(series_str(0), "cpu_user{dc=\"x\", host=\"a\"}");
    assert_string_equal(series_str(1), "cpu_sys{dc=\"x\", host=\"a\"}");
    const sx_series_in_t *s = find_series("cpu_up");
    assert_non_null(s);
    assert_true(s->samples[0].v == 1.0);
    s = find_series("cpu_ok");
    assert_true(s->samples[0].v == 0.0);
    s = find_series("cpu_sys");
    assert_int_equal(s->nsamples, 1);
    assert_true(s->samples[0].v == 2.0);
    assert_int_equal(s->samples[0].ts, 1700000000000LL);
    /* Labels are sorted by name and pass validation. */
    for (size_t i = 0; i < batch.nseries; i++)
        assert_int_equal(sx_labels_validate(batch.series[i].labels, batch.series[i].nlabels, &err),
                         0);
}

static void test_lp_decode_maps_uint_and_large_values(void **state)
{
    assert_int_equal(decode("m u=18446744073709551615u,i=-5i,f=-0.25"), 0);
    assert_true(find_series("m_u")->samples[0].v == 18446744073709551615.0);
    assert_true(find_series("m_i")->samples[0].v == -5.0);
    assert_true(find_series("m_f")->samples[0].v == -0.25);
}

static void test_lp_decode_skips_string_fields(void **state)
{
    assert_int_equal(decode("log msg=\"hello\",level=\"info\",n=1\nlog msg=\"only strings\""), 0);
    assert_int_equal(batch.nseries, 1);
    assert_string_equal(series_str(0), "log_n{}");
}

static void test_lp_decode_sanitizes_metric_and_label_names(void **state)
{
    assert_int_equal(decode("cpu.load-avg,host-name=a,1zone=b,ok_1=c used%=1,rate:x=2"), 0);
    assert_int_equal(batch.nseries, 2);
    assert_string_equal(series_str(0),
                        "cpu_load_avg_used_{_1zone=\"b\", host_name=\"a\", ok_1=\"c\"}");
    /* ':' is valid in metric names. */
    assert_non_null(find_series("cpu_load_avg_rate:x"));
    assert_int_equal(decode("9lives v=1"), 0);
    assert_string_equal(series_str(0), "_9lives_v{}");
    assert_int_equal(decode("m,k\\ ey=v\\ al f=1"), 0);
    assert_string_equal(series_str(0), "m_f{k_ey=\"v al\"}");
}

static void test_lp_decode_adds_extra_label_unless_a_tag_has_it(void **state)
{
    sx_lp_opts_t o = opts_plain();
    o.extra_label = SX_STR_LIT("db");
    o.extra_value = SX_STR_LIT("telegraf");
    assert_int_equal(decode_opts("cpu,host=a v=1\ncpu,db=mine,host=a v=1", &o), 0);
    assert_int_equal(batch.nseries, 2);
    assert_string_equal(series_str(0), "cpu_v{db=\"telegraf\", host=\"a\"}");
    assert_string_equal(series_str(1), "cpu_v{db=\"mine\", host=\"a\"}");
    o.extra_value = SX_STR_NULL;
    assert_int_equal(decode_opts("cpu v=1", &o), 0);
    assert_string_equal(series_str(0), "cpu_v{}");
}

static void test_lp_decode_applies_precision_and_floors_to_ms(void **state)
{
    static const struct {
        int64_t prec;
        const char *ts;
        int64_t ms;
    } cases[] = {
        {1, "1700000000123999999", 1700000000123LL},
        {1, "-1", -1},
        {1, "-1000000", -1},
        {1, "-1000001", -2},
        {1000, "1700000000123999", 1700000000123LL},
        {1000000, "1700000000123", 1700000000123LL},
        {1000000000, "1700000000", 1700000000000LL},
        {60000000000LL, "2", 120000},
        {3600000000000LL, "1", 3600000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sx_lp_opts_t o = opts_plain();
        o.precision_ns = cases[i].prec;
        char body[64];
        snprintf(body, sizeof(body), "m v=1 %s", cases[i].ts);
        assert_int_equal(decode_opts(body, &o), 0);
        assert_int_equal(batch.series[0].samples[0].ts, cases[i].ms);
    }
}

static void test_lp_decode_uses_now_without_timestamp(void **state)
{
    sx_lp_opts_t o = opts_plain();
    o.precision_ns = 1000000000;
    assert_int_equal(decode_opts("m v=1\nm w=2 10", &o), 0);
    assert_int_equal(batch.series[0].samples[0].ts, NOW_MS);
    assert_int_equal(batch.series[1].samples[0].ts, 10000);
}

static void test_lp_decode_rejects_timestamp_overflow_after_precision(void **state)
{
    sx_lp_opts_t o = opts_plain();
    o.precision_ns = 3600000000000LL;
    assert_int_equal(decode_opts("m v=1 1\nm v=1 9000000000", &o), SX_EPARSE);
    assert_non_null(strstr(err.msg, "line 2"));
    assert_non_null(strstr(err.msg, "out of range"));
}

static void test_lp_decode_rejects_duplicate_tags(void **state)
{
    assert_int_equal(decode("m v=1\nm,host=a,host=b v=1"), SX_EPARSE);
    assert_non_null(strstr(err.msg, "line 2"));
    assert_non_null(strstr(err.msg, "duplicate tag key \"host\""));
    /* Keys that become equal once sanitized are duplicates as well. */
    assert_int_equal(decode("m,a.b=1,a_b=2 v=1"), SX_EBADLABEL);
    assert_non_null(strstr(err.msg, "line 1"));
    assert_non_null(strstr(err.msg, "a_b"));
    assert_int_equal(decode("m,__name__=x v=1"), SX_EBADLABEL);
    assert_non_null(strstr(err.msg, "reserved"));
}

static void test_lp_decode_is_all_or_nothing(void **state)
{
    assert_int_equal(decode("m v=1\nm v=2\nm v=3\nm v=bad\nm v=5"), SX_EPARSE);
    assert_non_null(strstr(err.msg, "line 4"));
    assert_int_equal(batch.nseries, 0);
    assert_int_equal(batch.nsamples, 0);
}

static void test_lp_decode_accepts_empty_body(void **state)
{
    assert_int_equal(decode(""), 0);
    assert_int_equal(batch.nseries, 0);
    assert_int_equal(decode("# nothing but a comment\n\n"), 0);
    assert_int_equal(batch.nseries, 0);
}

static void test_lp_decode_reuses_names_across_lines(void **state)
{
    /* The name cache must not confuse different fields or measurements. */
    assert_int_equal(decode("a x=1,y=2\na x=3,y=4\na y=5,x=6\nb x=7\na z=8,x=9"), 0);
    assert_int_equal(batch.nseries, 9);
    static const char *const want[] = {"a_x", "a_y", "a_x", "a_y", "a_y",
                                       "a_x", "b_x", "a_z", "a_x"};
    static const double vals[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    for (size_t i = 0; i < 9; i++) {
        assert_string_equal(label(&batch.series[i], "__name__"), want[i]);
        assert_true(batch.series[i].samples[0].v == vals[i]);
    }
}

/* ---- DataKit constraints ---- */

static sx_lp_opts_t opts_datakit(void)
{
    sx_lp_opts_t o = opts_plain();
    o.datakit = true;
    return o;
}

static void test_datakit_drops_field_named_like_a_tag(void **state)
{
    sx_lp_opts_t o = opts_datakit();
    assert_int_equal(decode_opts("m,host=a host=1,v=2", &o), 0);
    assert_int_equal(batch.nseries, 1);
    assert_string_equal(series_str(0), "m_v{host=\"a\"}");
}

static void test_datakit_keeps_one_of_duplicate_keys(void **state)
{
    sx_lp_opts_t o = opts_datakit();
    assert_int_equal(decode_opts("m,host=a,host=b v=1,v=2", &o), 0);
    assert_int_equal(batch.nseries, 1);
    assert_string_equal(series_str(0), "m_v{host=\"a\"}");
    assert_true(batch.series[0].samples[0].v == 1.0);
    /* Sanitizing collisions keep the first too. */
    assert_int_equal(decode_opts("m,a.b=1,a_b=2 v=1", &o), 0);
    assert_string_equal(series_str(0), "m_v{a_b=\"1\"}");
}

static void test_datakit_truncates_long_keys_and_tag_values(void **state)
{
    sx_lp_opts_t o = opts_datakit();
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, "m,");
    for (int i = 0; i < 300; i++)
        sx_buf_putc(&b, 'k');
    sx_buf_putc(&b, '=');
    for (int i = 0; i < 1100; i++)
        sx_buf_putc(&b, 'v');
    sx_buf_puts(&b, ",u=");
    /* A two-byte character straddles byte 1024: cut before it. */
    for (int i = 0; i < 1023; i++)
        sx_buf_putc(&b, 'x');
    sx_buf_puts(&b, "\xc3\xa9 f=1");
    sx_buf_putc(&b, '\0');
    assert_int_equal(decode_opts(b.ptr, &o), 0);
    const sx_series_in_t *s = &batch.series[0];
    for (uint32_t i = 0; i < s->nlabels; i++) {
        if (s->labels[i].name.ptr[0] == 'k') {
            assert_int_equal(s->labels[i].name.len, SX_DK_MAX_KEY_LEN);
            assert_int_equal(s->labels[i].value.len, SX_DK_MAX_TAG_VALUE_LEN);
        }
    }
    assert_int_equal(strlen(label(s, "u")), 1023);
    /* Without DataKit rules nothing is cut. */
    sx_lp_opts_t p = opts_plain();
    assert_int_equal(decode_opts(b.ptr, &p), 0);
    assert_int_equal(strlen(label(&batch.series[0], "u")), 1025);
    sx_buf_dispose(&b);
}

static void test_datakit_limits_tags_and_fields_in_key_order(void **state)
{
    sx_lp_opts_t o = opts_datakit();
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, "m");
    for (int i = 299; i >= 0; i--)
        sx_buf_printf(&b, ",t%03d=v", i);
    sx_buf_putc(&b, ' ');
    for (int i = 1099; i >= 0; i--)
        sx_buf_printf(&b, "f%04d=%d%s", i, i, i ? "," : "");
    sx_buf_putc(&b, '\0');
    assert_int_equal(decode_opts(b.ptr, &o), 0);
    assert_int_equal(batch.nseries, SX_DK_MAX_FIELDS);
    assert_int_equal(batch.series[0].nlabels, SX_DK_MAX_TAGS + 1);
    assert_non_null(label(&batch.series[0], "t000"));
    assert_non_null(label(&batch.series[0], "t255"));
    assert_null(label(&batch.series[0], "t256"));
    assert_non_null(find_series("m_f1023"));
    assert_null(find_series("m_f1024"));
    sx_buf_dispose(&b);
}

static void test_datakit_point_fix_dedupes_large_sets_keeping_first(void **state)
{
    sx_lp_tag_t tags[40];
    for (int i = 0; i < 40; i++) {
        char *k = sx_arena_sprintf(&arena, "k%d", i % 20);
        char *v = sx_arena_sprintf(&arena, "v%d", i);
        tags[i] = (sx_lp_tag_t){sx_str(k), sx_str(v)};
    }
    sx_lp_field_t fields[2] = {{.key = SX_STR_LIT("k3"), .kind = SX_LP_FLOAT},
                               {.key = SX_STR_LIT("x"), .kind = SX_LP_FLOAT}};
    sx_lp_point_t pt = {
        .measurement = SX_STR_LIT("m"), .tags = tags, .ntags = 40, .fields = fields, .nfields = 2};
    sx_lp_point_datakit_fix(&pt, &arena);
    assert_int_equal(pt.ntags, 20);
    for (int i = 0; i < 20; i++)
        assert_str(pt.tags[i].value, sx_arena_sprintf(&arena, "v%d", i));
    assert_int_equal(pt.nfields, 1);
    assert_str(pt.fields[0].key, "x");
}

/* ---- Reuse by other categories ---- */

static void test_lp_parser_serves_logging_points_with_strings(void **state)
{
    const char *body = "nginx,filename=a.log f1=1i,message=\"real-log-data\",status=\"debug\" "
                       "1620723870000000000\n"
                       "redis,filename=c.log message=\"more\" 1620723870000000000\n";
    sx_lp_parser_t p;
    sx_lp_point_t pt;
    sx_arena_reset(&arena);
    sx_lp_parser_init(&p, body, strlen(body), &arena, 0);
    assert_int_equal(sx_lp_parser_next(&p, &pt, &err), 1);
    assert_str(pt.measurement, "nginx");
    assert_str(pt.fields[1].key, "message");
    assert_str(pt.fields[1].v.s, "real-log-data");
    assert_int_equal(sx_lp_parser_next(&p, &pt, &err), 1);
    assert_str(pt.measurement, "redis");
    assert_int_equal(pt.line, 2);
    assert_int_equal(sx_lp_parser_next(&p, &pt, &err), 0);
    assert_int_equal(sx_lp_parser_next(&p, &pt, &err), 0);
}

static int setup(void **state)
{
    sx_arena_init(&arena);
    return 0;
}

static int teardown(void **state)
{
    sx_arena_dispose(&arena);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lp_parses_measurement_tags_fields_and_time),
        cmocka_unit_test(test_lp_parses_every_field_type),
        cmocka_unit_test(test_lp_parses_floats_exactly),
        cmocka_unit_test(test_lp_unescapes_measurement_tags_and_field_keys),
        cmocka_unit_test(test_lp_keeps_backslashes_that_escape_nothing),
        cmocka_unit_test(test_lp_string_fields_unescape_quote_and_backslash_only),
        cmocka_unit_test(test_lp_string_field_may_span_lines),
        cmocka_unit_test(test_lp_skips_comments_blank_lines_and_leading_spaces),
        cmocka_unit_test(test_lp_accepts_spaces_around_timestamp),
        cmocka_unit_test(test_lp_rejects_invalid_lines),
        cmocka_unit_test(test_lp_error_names_line_column_and_problem),
        cmocka_unit_test(test_lp_parser_accepts_duplicate_tags_without_flag),
        cmocka_unit_test(test_lp_parser_handles_many_tags_and_fields),
        cmocka_unit_test(test_lp_ts_to_ns_detects_overflow),
        cmocka_unit_test(test_lp_precision_parse_accepts_known_units),
        cmocka_unit_test(test_lp_decode_maps_each_field_to_measurement_underscore_field),
        cmocka_unit_test(test_lp_decode_maps_uint_and_large_values),
        cmocka_unit_test(test_lp_decode_skips_string_fields),
        cmocka_unit_test(test_lp_decode_sanitizes_metric_and_label_names),
        cmocka_unit_test(test_lp_decode_adds_extra_label_unless_a_tag_has_it),
        cmocka_unit_test(test_lp_decode_applies_precision_and_floors_to_ms),
        cmocka_unit_test(test_lp_decode_uses_now_without_timestamp),
        cmocka_unit_test(test_lp_decode_rejects_timestamp_overflow_after_precision),
        cmocka_unit_test(test_lp_decode_rejects_duplicate_tags),
        cmocka_unit_test(test_lp_decode_is_all_or_nothing),
        cmocka_unit_test(test_lp_decode_accepts_empty_body),
        cmocka_unit_test(test_lp_decode_reuses_names_across_lines),
        cmocka_unit_test(test_datakit_drops_field_named_like_a_tag),
        cmocka_unit_test(test_datakit_keeps_one_of_duplicate_keys),
        cmocka_unit_test(test_datakit_truncates_long_keys_and_tag_values),
        cmocka_unit_test(test_datakit_limits_tags_and_fields_in_key_order),
        cmocka_unit_test(test_datakit_point_fix_dedupes_large_sets_keeping_first),
        cmocka_unit_test(test_lp_parser_serves_logging_points_with_strings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
