/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for src/core/time.c: Prometheus durations, durations-or-seconds,
 * timestamps in RFC 3339 and Unix seconds (milliseconds and nanoseconds),
 * and RFC 3339 formatting. Expected values follow Prometheus and Loki. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/time.h"

typedef struct {
    const char *in;
    int64_t want;
} case_t;

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

typedef int (*parse_fn)(sx_str_t, int64_t *, sx_err_t *);

static void expect_ok(parse_fn fn, const case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t got = 0;
        sx_err_t err = {0};
        if (fn(sx_str(cases[i].in), &got, &err) != 0)
            fail_msg("\"%s\": %s", cases[i].in, err.msg);
        if (got != cases[i].want)
            fail_msg("\"%s\": got %lld, want %lld", cases[i].in, (long long)got,
                     (long long)cases[i].want);
    }
}

/* Each input must fail with SX_EPARSE, leave the output alone and quote
 * itself in the message. */
static void expect_bad(parse_fn fn, const char *const *bad, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t got = 42;
        sx_err_t err = {0};
        if (fn(sx_str(bad[i]), &got, &err) != SX_EPARSE)
            fail_msg("accepted \"%s\" as %lld", bad[i], (long long)got);
        assert_int_equal(got, 42);
        if (bad[i][0] && !strstr(err.msg, bad[i]))
            fail_msg("error for \"%s\" does not name it: %s", bad[i], err.msg);
    }
}

/* ---- Durations ---- */

static void test_duration_parse_accepts_prometheus_units(void **state)
{
    static const case_t cases[] = {
        {"0", 0},
        {"0s", 0},
        {"1ms", 1},
        {"15s", 15000},
        {"5m", 300000},
        {"1h30m", 5400000},
        {"2h", 7200000},
        {"30d", 30LL * 86400000},
        {"1w2d", 9LL * 86400000},
        {"1y", 365LL * 86400000},
        {"1h0m5s10ms", 3605010},
        {"100000h", 360000000000},
    };
    expect_ok(sx_duration_parse, cases, NCASES(cases));
}

static void test_duration_parse_rejects_bad_syntax_and_overflow(void **state)
{
    static const char *const bad[] = {
        "", "1", "h", "1x", "1.5h", "-1h", "1m1h", "1h1h", "1msm", "1hh", " 1h", "1h ",
        "1d-1h", "99999999999999999999s", "300000000y",
    };
    expect_bad(sx_duration_parse, bad, NCASES(bad));
}

static void test_duration_or_seconds_parse_accepts_both_forms(void **state)
{
    static const case_t cases[] = {
        {"15", 15000}, {"0.5", 500},     {"0", 0},      {"1.5e3", 1500000},
        {"15s", 15000}, {"1h", 3600000}, {"-5", -5000}, {"0.001", 1},
    };
    expect_ok(sx_duration_or_seconds_parse, cases, NCASES(cases));
}

static void test_duration_or_seconds_parse_rejects_garbage_and_overflow(void **state)
{
    static const char *const bad[] = {"", "abc", "1e30", "NaN", "Inf", " 5", "5 ", "5x"};
    expect_bad(sx_duration_or_seconds_parse, bad, NCASES(bad));
}

/* ---- Timestamps ---- */

static void test_timestamp_parse_accepts_rfc3339_and_unix_seconds(void **state)
{
    static const case_t cases[] = {
        {"2015-07-01T20:10:51.781Z", 1435781451781},
        {"2015-07-01T20:10:51Z", 1435781451000},
        {"2015-07-01t20:10:51z", 1435781451000},
        {"2015-07-01T22:10:51.781+02:00", 1435781451781},
        {"2015-07-01T19:40:51.781-00:30", 1435781451781},
        {"2015-07-01T20:10:51.781999999Z", 1435781451781}, /* truncated to ms */
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59.9995Z", -1}, /* floors, as Prometheus */
        {"1900-01-01T00:00:00Z", -2208988800000},
        {"2000-02-29T12:00:00Z", 951825600000},
        {"9999-12-31T23:59:59Z", 253402300799000},
        {"1435781451.781", 1435781451781},
        {"1435781451", 1435781451000},
        {"0", 0},
        {"-1.5", -1500},
    };
    expect_ok(sx_timestamp_parse, cases, NCASES(cases));
}

static void test_timestamp_parse_rejects_malformed(void **state)
{
    static const char *const bad[] = {
        "", "abc", "2015-07-01", "2015-07-01T20:10Z", "2015-13-01T00:00:00Z",
        "2015-07-01T24:00:00Z", "2015-07-01T20:10:51", "2015-07-01T20:10:51.Z",
        "2015-07-01T20:10:51Z ", " 1435781451", "1e300", "Inf", "NaN",
        "2015-07-01T20:10:51+0200",
    };
    expect_bad(sx_timestamp_parse, bad, NCASES(bad));
}

static void test_timestamp_parse_ns_reads_seconds_nanoseconds_and_rfc3339(void **state)
{
    static const case_t cases[] = {
        {"1435781451781000000", 1435781451781000000}, /* > 10 digits: nanoseconds */
        {"1435781451", 1435781451000000000},          /* <= 10 digits: seconds */
        {"1435781451.5", 1435781451500000000},
        {"2015-07-01T20:10:51.123456789Z", 1435781451123456789},
        {"2015-07-01T20:10:51.1Z", 1435781451100000000},
        {"1969-12-31T23:59:59.999999999Z", -1},
        {"2262-01-01T00:00:00Z", 9214646400000000000},
        {"0", 0},
    };
    expect_ok(sx_timestamp_parse_ns, cases, NCASES(cases));
}

static void test_timestamp_parse_ns_rejects_out_of_range(void **state)
{
    static const char *const bad[] = {
        "", "abc", "99999999999999999999", "2300-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
        "1e10",
    };
    expect_bad(sx_timestamp_parse_ns, bad, NCASES(bad));
}

/* ---- Formatting ---- */

static void test_format_rfc3339_ms_prints_utc_with_milliseconds(void **state)
{
    static const case_t cases[] = {
        {"1970-01-01T00:00:00.000Z", 0},
        {"1969-12-31T23:59:59.999Z", -1},
        {"2015-07-01T20:10:51.781Z", 1435781451781},
        {"2000-02-29T12:00:00.000Z", 951825600000},
        {"9999-12-31T23:59:59.000Z", 253402300799000},
    };
    for (size_t i = 0; i < NCASES(cases); i++) {
        char buf[32];
        sx_format_rfc3339_ms(buf, cases[i].want);
        assert_string_equal(buf, cases[i].in);
        int64_t back = 0;
        assert_int_equal(sx_timestamp_parse(sx_str(buf), &back, NULL), 0);
        assert_int_equal(back, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parse_accepts_prometheus_units),
        cmocka_unit_test(test_duration_parse_rejects_bad_syntax_and_overflow),
        cmocka_unit_test(test_duration_or_seconds_parse_accepts_both_forms),
        cmocka_unit_test(test_duration_or_seconds_parse_rejects_garbage_and_overflow),
        cmocka_unit_test(test_timestamp_parse_accepts_rfc3339_and_unix_seconds),
        cmocka_unit_test(test_timestamp_parse_rejects_malformed),
        cmocka_unit_test(test_timestamp_parse_ns_reads_seconds_nanoseconds_and_rfc3339),
        cmocka_unit_test(test_timestamp_parse_ns_rejects_out_of_range),
        cmocka_unit_test(test_format_rfc3339_ms_prints_utc_with_milliseconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
