/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the pure helpers of the Prometheus metadata API
 * (src/api/prometheus.c, included to reach its statics): Go-style integer
 * parsing, the union of sorted name lists, Prometheus' label-set order,
 * the label values path and the JSON of a label set. The handlers
 * themselves are exercised end to end against a running server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/prometheus.c"

static sx_label_t lbl(const char *name, const char *value)
{
    return (sx_label_t){sx_str(name), sx_str(value)};
}

static void test_parse_int_follows_go_atoi(void **state)
{
    long long v = 0;
    assert_null(parse_int("42", &v));
    assert_int_equal(v, 42);
    assert_null(parse_int("+7", &v));
    assert_int_equal(v, 7);
    assert_null(parse_int("-3", &v));
    assert_int_equal(v, -3);
    assert_null(parse_int("007", &v));
    assert_int_equal(v, 7);
    assert_null(parse_int("9223372036854775807", &v));
    assert_true(v == INT64_MAX);
    assert_null(parse_int("-9223372036854775808", &v));
    assert_true(v == INT64_MIN);
    assert_string_equal(parse_int("9223372036854775808", &v), "value out of range");
    assert_string_equal(parse_int("99999999999999999999999", &v), "value out of range");
    assert_string_equal(parse_int("", &v), "invalid syntax");
    assert_string_equal(parse_int("-", &v), "invalid syntax");
    assert_string_equal(parse_int("1.5", &v), "invalid syntax");
    assert_string_equal(parse_int(" 1", &v), "invalid syntax");
    assert_string_equal(parse_int("abc", &v), "invalid syntax");
}

static void test_merge_sorted_is_a_sorted_union(void **state)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_str_t x[] = {SX_STR_LIT("__name__"), SX_STR_LIT("b"), SX_STR_LIT("job")};
    sx_str_t y[] = {SX_STR_LIT("a"), SX_STR_LIT("b"), SX_STR_LIT("zone")};
    size_t n;
    sx_str_t *o = merge_sorted(&a, x, 3, y, 3, &n);
    const char *want[] = {"__name__", "a", "b", "job", "zone"};
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_true(sx_str_eq_cstr(o[i], want[i]));
    o = merge_sorted(&a, x, 3, NULL, 0, &n);
    assert_int_equal(n, 3);
    o = merge_sorted(&a, NULL, 0, NULL, 0, &n);
    assert_int_equal(n, 0);
    sx_arena_dispose(&a);
}

static void test_labels_cmp_orders_like_prometheus(void **state)
{
    sx_label_t a[] = {lbl("__name__", "up"), lbl("job", "a")};
    sx_label_t b[] = {lbl("__name__", "up"), lbl("job", "b")};
    sx_label_t c[] = {lbl("__name__", "up")};
    sx_label_t d[] = {lbl("__name__", "up"), lbl("instance", "z")};
    assert_true(labels_cmp(a, 2, b, 2) < 0);
    assert_true(labels_cmp(b, 2, a, 2) > 0);
    assert_int_equal(labels_cmp(a, 2, a, 2), 0);
    assert_true(labels_cmp(c, 1, a, 2) < 0);
    /* The name decides before the value: instance < job. */
    assert_true(labels_cmp(d, 2, a, 2) < 0);
}

static void test_label_values_path(void **state)
{
    sx_str_t name;
    assert_true(label_values_path("job/values", &name));
    assert_true(sx_str_eq_cstr(name, "job"));
    assert_true(label_values_path("__name__/values", &name));
    assert_true(sx_str_eq_cstr(name, "__name__"));
    assert_false(label_values_path("/values", &name));
    assert_false(label_values_path("job", &name));
    assert_false(label_values_path("job/values/", &name));
    assert_false(label_values_path("a/b/values", &name));
    assert_false(label_values_path("job/value", &name));
    assert_false(label_values_path("", &name));
}

static void test_put_labelset_writes_prometheus_json(void **state)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_label_t l[] = {lbl("__name__", "up"), lbl("job", "a\"b")};
    sx_api_put_labelset(&b, l, 2);
    sx_buf_putc(&b, '\0');
    assert_string_equal(b.ptr, "{\"__name__\":\"up\",\"job\":\"a\\\"b\"}");
    sx_buf_clear(&b);
    put_string_array(&b, NULL, 0);
    sx_buf_putc(&b, '\0');
    assert_string_equal(b.ptr, "[]");
    sx_buf_dispose(&b);
}

static void test_metric_type_names(void **state)
{
    assert_string_equal(metric_type_name(SX_MT_COUNTER), "counter");
    assert_string_equal(metric_type_name(SX_MT_GAUGEHISTOGRAM), "gaugehistogram");
    assert_string_equal(metric_type_name(SX_MT_STATESET), "stateset");
    assert_string_equal(metric_type_name(SX_MT_UNKNOWN), "unknown");
    assert_string_equal(metric_type_name(99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int_follows_go_atoi),
        cmocka_unit_test(test_merge_sorted_is_a_sorted_union),
        cmocka_unit_test(test_labels_cmp_orders_like_prometheus),
        cmocka_unit_test(test_label_values_path),
        cmocka_unit_test(test_put_labelset_writes_prometheus_json),
        cmocka_unit_test(test_metric_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
