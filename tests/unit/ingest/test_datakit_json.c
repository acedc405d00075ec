/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for src/ingest/datakit_json.c: DataKit JSON write bodies map
 * to the same series as line protocol, numbers become floats, string
 * fields are skipped, time follows the precision, bad shapes and
 * non-basic field values are errors naming the point, and a bad point
 * fails the whole body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "ingest/ingest.h"
#include "ingest/line_protocol.h"

#define NOW_NS 1700000000123456789LL
#define NOW_MS 1700000000123LL

static sx_arena_t arena;
static sx_metric_batch_t batch;
static sx_err_t err;

static sx_lp_opts_t opts_plain(void)
{
    return (sx_lp_opts_t){.precision_ns = 1, .now_ns = NOW_NS};
}

static int decode_opts(const char *body, const sx_lp_opts_t *opts)
{
    sx_arena_reset(&arena);
    sx_metric_batch_init(&batch, &arena);
    sx_err_clear(&err);
    return sx_datakit_json_decode(body, strlen(body), opts, &batch, &err);
}

static int decode(const char *body)
{
    sx_lp_opts_t o = opts_plain();
    return decode_opts(body, &o);
}

static const char *series_str(size_t i)
{
    assert_true(i < batch.nseries);
    return sx_labels_format(&arena, batch.series[i].labels, batch.series[i].nlabels);
}

static void test_dk_json_maps_array_of_points_like_line_protocol(void **state)
{
    const char *json = "[{\"measurement\":\"abc\",\"tags\":{\"t1\":\"b\",\"t2\":\"d\"},"
                       "\"fields\":{\"f1\":123,\"f2\":3.4,\"f3\":\"strval\"},\"time\":1624550216},"
                       " {\"measurement\":\"def\",\"tags\":{\"t1\":\"b\"},"
                       "\"fields\":{\"f1\":-1},\"time\":1624550217}]";
    sx_lp_opts_t o = opts_plain();
    o.precision_ns = 1000000000;
    assert_int_equal(decode_opts(json, &o), 0);
    assert_int_equal(batch.nseries, 3);
    assert_int_equal(batch.nsamples, 3);
    assert_string_equal(series_str(0), "abc_f1{t1=\"b\", t2=\"d\"}");
    assert_string_equal(series_str(1), "abc_f2{t1=\"b\", t2=\"d\"}");
    assert_string_equal(series_str(2), "def_f1{t1=\"b\"}");
    assert_true(batch.series[0].samples[0].v == 123.0);
    assert_true(batch.series[1].samples[0].v == 3.4);
    assert_true(batch.series[2].samples[0].v == -1.0);
    assert_int_equal(batch.series[0].samples[0].ts, 1624550216000LL);
    assert_int_equal(batch.series[2].samples[0].ts, 1624550217000LL);

    /* The same data as line protocol gives the same series. */
    sx_metric_batch_t lp;
    sx_metric_batch_init(&lp, &arena);
    const char *body = "abc,t1=b,t2=d f1=123,f2=3.4,f3=\"strval\" 1624550216\n"
                       "def,t1=b f1=-1i 1624550217\n";
    assert_int_equal(sx_line_protocol_decode(body, strlen(body), &o, &lp, &err), 0);
    assert_int_equal(lp.nseries, batch.nseries);
    for (size_t i = 0; i < lp.nseries; i++) {
        assert_string_equal(sx_labels_format(&arena, lp.series[i].labels, lp.series[i].nlabels),
                            series_str(i));
        assert_true(lp.series[i].samples[0].v == batch.series[i].samples[0].v);
        assert_int_equal(lp.series[i].samples[0].ts, batch.series[i].samples[0].ts);
    }
}

static void test_dk_json_accepts_single_object(void **state)
{
    assert_int_equal(decode("{\"measurement\":\"cpu\",\"fields\":{\"usage\":0.5}}"), 0);
    assert_int_equal(batch.nseries, 1);
    assert_string_equal(series_str(0), "cpu_usage{}");
    assert_int_equal(batch.series[0].samples[0].ts, NOW_MS);
}

static void test_dk_json_uses_now_without_time_and_precision_with_it(void **state)
{
    sx_lp_opts_t o = opts_plain();
    o.precision_ns = 1000000;
    assert_int_equal(decode_opts("[{\"measurement\":\"m\",\"fields\":{\"v\":1}},"
                                 "{\"measurement\":\"m\",\"fields\":{\"v\":2},\"time\":null},"
                                 "{\"measurement\":\"m\",\"fields\":{\"v\":3},\"time\":-1500}]",
                                 &o),
                     0);
    assert_int_equal(batch.series[0].samples[0].ts, NOW_MS);
    assert_int_equal(batch.series[1].samples[0].ts, NOW_MS);
    assert_int_equal(batch.series[2].samples[0].ts, -1500);
    o.precision_ns = 1;
    assert_int_equal(decode_opts("{\"measurement\":\"m\",\"fields\":{\"v\":1},\"time\":-1}", &o),
                     0);
    assert_int_equal(batch.series[0].samples[0].ts, -1);
}

static void test_dk_json_maps_booleans_and_skips_strings(void **state)
{
    assert_int_equal(decode("{\"measurement\":\"m\",\"fields\":{\"up\":true,\"down\":false,"
                            "\"msg\":\"text\"}}"),
                     0);
    assert_int_equal(batch.nseries, 2);
    assert_string_equal(series_str(0), "m_up{}");
    assert_true(batch.series[0].samples[0].v == 1.0);
    assert_string_equal(series_str(1), "m_down{}");
    assert_true(batch.series[1].samples[0].v == 0.0);
    assert_int_equal(decode("{\"measurement\":\"m\",\"fields\":{\"msg\":\"only a string\"}}"), 0);
    assert_int_equal(batch.nseries, 0);
}

static void test_dk_json_sanitizes_names(void **state)
{
    assert_int_equal(
        decode("{\"measurement\":\"disk.io\",\"tags\":{\"dev-name\":\"sda 1\",\"\\u00e9t\":\"x\"},"
               "\"fields\":{\"read/s\":1}}"),
        0);
    assert_string_equal(series_str(0), "disk_io_read_s{__t=\"x\", dev_name=\"sda 1\"}");
}

static void test_dk_json_rejects_non_basic_field_values(void **state)
{
    static const char *const bad[] = {"[1,2]", "{\"a\":1}", "null"};
    for (size_t i = 0; i < 3; i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "[{\"measurement\":\"ok\",\"fields\":{\"v\":1}},"
                 "{\"measurement\":\"cpu\",\"fields\":{\"good\":1,\"bad\":%s}}]",
                 bad[i]);
        assert_int_equal(decode(json), SX_EPARSE);
        assert_non_null(strstr(err.msg, "point 1"));
        assert_non_null(strstr(err.msg, "\"cpu\""));
        assert_non_null(strstr(err.msg, "field \"bad\""));
        /* All or nothing: the good first point is not kept. */
        assert_int_equal(batch.nseries, 0);
        assert_int_equal(batch.nsamples, 0);
    }
}

static void test_dk_json_rejects_bad_shapes(void **state)
{
    static const struct {
        const char *json;
        const char *want;
    } cases[] = {
        {"", "invalid JSON"},
        {"[{\"measurement\":\"m\",\"fields\":{\"v\":1}}", "invalid JSON"},
        {"[1]", "want an object"},
        {"[{\"fields\":{\"v\":1}}]", "measurement"},
        {"[{\"measurement\":\"\",\"fields\":{\"v\":1}}]", "measurement"},
        {"[{\"measurement\":5,\"fields\":{\"v\":1}}]", "measurement"},
        {"[{\"measurement\":\"m\"}]", "fields"},
        {"[{\"measurement\":\"m\",\"fields\":{}}]", "fields"},
        {"[{\"measurement\":\"m\",\"fields\":[1]}]", "fields"},
        {"[{\"measurement\":\"m\",\"tags\":[\"a\"],\"fields\":{\"v\":1}}]", "tags"},
        {"[{\"measurement\":\"m\",\"tags\":{\"a\":1},\"fields\":{\"v\":1}}]", "tag \"a\""},
        {"[{\"measurement\":\"m\",\"fields\":{\"v\":1},\"time\":\"now\"}]", "time"},
        {"[{\"measurement\":\"m\",\"fields\":{\"v\":1},\"time\":1.5}]", "time"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = decode(cases[i].json);
        if (rc >= 0)
            fail_msg("accepted %s", cases[i].json);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("error for %s is \"%s\", want it to mention %s", cases[i].json, err.msg,
                     cases[i].want);
    }
}

static void test_dk_json_rejects_time_overflow(void **state)
{
    sx_lp_opts_t o = opts_plain();
    o.precision_ns = 1000000000;
    assert_int_equal(decode_opts("{\"measurement\":\"m\",\"fields\":{\"v\":1},"
                                 "\"time\":9223372036854775807}",
                                 &o),
                     SX_EPARSE);
    assert_non_null(strstr(err.msg, "out of range"));
}

static void test_dk_json_accepts_empty_array(void **state)
{
    assert_int_equal(decode("[]"), 0);
    assert_int_equal(batch.nseries, 0);
}

static void test_dk_json_applies_datakit_constraints(void **state)
{
    sx_lp_opts_t o = opts_plain();
    o.datakit = true;
    assert_int_equal(decode_opts("{\"measurement\":\"m\",\"tags\":{\"host\":\"a\"},"
                                 "\"fields\":{\"host\":1,\"v\":2}}",
                                 &o),
                     0);
    assert_int_equal(batch.nseries, 1);
    assert_string_equal(series_str(0), "m_v{host=\"a\"}");
}

static void test_dk_json_adds_extra_label(void **state)
{
    sx_lp_opts_t o = opts_plain();
    o.extra_label = SX_STR_LIT("db");
    o.extra_value = SX_STR_LIT("dk");
    assert_int_equal(decode_opts("{\"measurement\":\"m\",\"fields\":{\"v\":1}}", &o), 0);
    assert_string_equal(series_str(0), "m_v{db=\"dk\"}");
}

static void test_dk_json_labels_outlive_the_document(void **state)
{
    /* Tag strings are copied out of the JSON document, which is freed
     * before decode returns; ASan catches any dangling label. */
    assert_int_equal(decode("[{\"measurement\":\"m\",\"tags\":{\"k\":\"value\"},"
                            "\"fields\":{\"a\":1,\"b\":2}},"
                            "{\"measurement\":\"m\",\"tags\":{\"k\":\"other\"},"
                            "\"fields\":{\"a\":3,\"b\":4}}]"),
                     0);
    assert_int_equal(batch.nseries, 4);
    assert_string_equal(series_str(0), "m_a{k=\"value\"}");
    assert_string_equal(series_str(3), "m_b{k=\"other\"}");
    for (size_t i = 0; i < batch.nseries; i++)
        assert_int_equal(sx_labels_validate(batch.series[i].labels, batch.series[i].nlabels, &err),
                         0);
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
        cmocka_unit_test(test_dk_json_maps_array_of_points_like_line_protocol),
        cmocka_unit_test(test_dk_json_accepts_single_object),
        cmocka_unit_test(test_dk_json_uses_now_without_time_and_precision_with_it),
        cmocka_unit_test(test_dk_json_maps_booleans_and_skips_strings),
        cmocka_unit_test(test_dk_json_sanitizes_names),
        cmocka_unit_test(test_dk_json_rejects_non_basic_field_values),
        cmocka_unit_test(test_dk_json_rejects_bad_shapes),
        cmocka_unit_test(test_dk_json_rejects_time_overflow),
        cmocka_unit_test(test_dk_json_accepts_empty_array),
        cmocka_unit_test(test_dk_json_applies_datakit_constraints),
        cmocka_unit_test(test_dk_json_adds_extra_label),
        cmocka_unit_test(test_dk_json_labels_outlive_the_document),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
