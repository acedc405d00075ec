/* SPDX-License-Identifier: Apache-2.0 */
/* The evaluator's own error paths that the conformance files do not
 * reach: a passed deadline (SX_ETIMEOUT), cancellation from another
 * thread (SX_ECANCELED), and string-typed or range-vector queries given to
 * a range evaluation (SX_EPARSE, Prometheus' bad_data). An empty store
 * (db NULL) answers a selector with an empty vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/buf.h"
#include "query/promql/promql.h"

/* "1 + 1 + ... + 1": enough nodes that the evaluator checks its deadline
 * and the cancel flag (it looks every 256 nodes). */
static char *long_sum(int terms)
{
    sx_buf_t b = {0};
    for (int i = 0; i < terms; i++)
        sx_buf_puts(&b, i ? " + 1" : "1");
    sx_buf_putc(&b, '\0');
    return b.ptr;
}

static int eval_at(const char *q, const sx_promql_opts_t *o, sx_promql_result_t *res,
                   sx_err_t *err)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_expr_t *e;
    int rc = sx_promql_parse(sx_str(q), &a, &e, err);
    assert_int_equal(rc, 0);
    rc = sx_promql_eval_instant(NULL, o, e, 1700000000000, &a, res, err);
    if (rc == 0 && res->type == SX_PROMQL_SCALAR)
        assert_true(res->scalar > 0);
    sx_promql_expr_dispose(e);
    sx_arena_dispose(&a);
    return rc;
}

static void test_deadline_in_the_past_times_out(void **state)
{
    char *q = long_sum(400);
    sx_promql_opts_t o;
    sx_promql_opts_default(&o);
    sx_promql_result_t res;
    sx_err_t err;
    assert_int_equal(eval_at(q, &o, &res, &err), 0); /* no deadline: answers 400 */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    o.deadline_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - 1;
    assert_int_equal(eval_at(q, &o, &res, &err), SX_ETIMEOUT);
    assert_non_null(strstr(err.msg, "timed out"));
    free(q);
}

static void test_cancel_flag_stops_the_query(void **state)
{
    char *q = long_sum(400);
    atomic_bool cancel = true;
    sx_promql_opts_t o;
    sx_promql_opts_default(&o);
    o.cancel = &cancel;
    sx_promql_result_t res;
    sx_err_t err;
    assert_int_equal(eval_at(q, &o, &res, &err), SX_ECANCELED);
    atomic_store(&cancel, false);
    assert_int_equal(eval_at(q, &o, &res, &err), 0);
    free(q);
}

static void test_range_evaluation_refuses_strings_and_range_vectors(void **state)
{
    const char *queries[] = {"\"text\"", "up[5m]"};
    for (size_t i = 0; i < 2; i++) {
        sx_arena_t a;
        sx_arena_init(&a);
        sx_promql_expr_t *e;
        sx_err_t err;
        assert_int_equal(sx_promql_parse(sx_str(queries[i]), &a, &e, &err), 0);
        sx_promql_opts_t o;
        sx_promql_opts_default(&o);
        sx_promql_result_t res;
        assert_int_equal(sx_promql_eval_range(NULL, &o, e, 0, 60000, 15000, &a, &res, &err),
                         SX_EPARSE);
        assert_non_null(strstr(err.msg, "for range query"));
        /* A zero step is refused too. */
        assert_int_equal(sx_promql_eval_range(NULL, &o, e, 0, 60000, 0, &a, &res, &err),
                         SX_EPARSE);
        sx_promql_expr_dispose(e);
        sx_arena_dispose(&a);
    }
}

static void test_empty_store_answers_empty_vector(void **state)
{
    sx_promql_opts_t o;
    sx_promql_opts_default(&o);
    sx_promql_result_t res;
    sx_err_t err;
    assert_int_equal(eval_at("sum(rate(up[5m]))", &o, &res, &err), 0);
    assert_int_equal(res.type, SX_PROMQL_VECTOR);
    assert_int_equal(res.nseries, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_in_the_past_times_out),
        cmocka_unit_test(test_cancel_flag_stops_the_query),
        cmocka_unit_test(test_range_evaluation_refuses_strings_and_range_vectors),
        cmocka_unit_test(test_empty_store_answers_empty_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
