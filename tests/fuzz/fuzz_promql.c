/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the PromQL lexer, parser and printers. A query that parses
 * must print in a canonical form that parses again to the same form, and
 * its JSON tree and duration expressions must be computable. An input
 * starting with byte 0x01 is parsed with a one-chunk arena limit, so the
 * out-of-memory unwinding gets exercised too. Any sanitizer report or a
 * failed round trip is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "query/promql/promql_int.h"

/* Evaluate every duration expression of the tree at two steps. */
static void walk(const pq_node_t *e)
{
    int64_t ms;
    sx_err_t err;
    if (!e)
        return;
    switch (e->kind) {
    case PQ_VSEL:
    case PQ_MSEL:
        if (e->kind == PQ_MSEL && e->sel.range_expr) {
            (void)sx_pq__duration_eval(e->sel.range_expr, 0, &ms, &err);
            (void)sx_pq__duration_eval(e->sel.range_expr, 15000, &ms, &err);
        }
        (void)sx_pq__offset_eval(&e->sel.mod, 60000, &ms, &err);
        break;
    case PQ_SUBQUERY:
        if (e->sub.range_expr)
            (void)sx_pq__duration_eval(e->sub.range_expr, 1000, &ms, &err);
        if (e->sub.step_expr)
            (void)sx_pq__duration_eval(e->sub.step_expr, 1000, &ms, &err);
        (void)sx_pq__offset_eval(&e->sub.mod, 1000, &ms, &err);
        walk(e->sub.expr);
        break;
    case PQ_PAREN:
        walk(e->paren.expr);
        break;
    case PQ_UNARY:
        walk(e->unary.expr);
        break;
    case PQ_BINARY:
        walk(e->binary.lhs);
        walk(e->binary.rhs);
        break;
    case PQ_AGG:
        walk(e->agg.param);
        walk(e->agg.expr);
        break;
    case PQ_CALL:
        for (size_t i = 0; i < e->call.nargs; i++)
            walk(e->call.args[i]);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sx_arena_t a, b;
    sx_arena_init(&a);
    sx_arena_init(&b);
    if (size > 0 && data[0] == 0x01) {
        a._limit = 64 * 1024;
        data++, size--;
    }
    sx_promql_expr_t *e = NULL, *e2 = NULL;
    sx_err_t err;
    if (sx_promql_parse((sx_str_t){(const char *)data, size}, &a, &e, &err) == 0) {
        sx_buf_t f1 = SX_BUF_INIT, f2 = SX_BUF_INIT, j = SX_BUF_INIT;
        sx_promql_format(e, &f1);
        sx_promql_ast_json(e, &j);
        (void)sx_promql_expr_type(e);
        walk(e);
        if (sx_promql_parse((sx_str_t){f1.ptr, f1.len}, &b, &e2, &err) != 0)
            abort(); /* the canonical form must parse */
        sx_promql_format(e2, &f2);
        if (f1.len != f2.len || (f1.len && memcmp(f1.ptr, f2.ptr, f1.len) != 0))
            abort(); /* and print the same again */
        sx_promql_expr_dispose(e2);
        sx_promql_expr_dispose(e);
        sx_buf_dispose(&f1);
        sx_buf_dispose(&f2);
        sx_buf_dispose(&j);
    }
    sx_arena_dispose(&a);
    sx_arena_dispose(&b);
    return 0;
}
