/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the LogQL lexer, parser and printer. A query that parses
 * must print in a canonical form that parses again (validation and size
 * limit aside, as the printed form may be longer than the input) to the
 * same form. The tree is walked for the evaluator's view of it, every
 * compiled regex is run once, and the tree is disposed; an input starting
 * with byte 0x01 is parsed with a small arena limit, so the out-of-memory
 * unwinding gets exercised too. Each log pipeline is then compiled as the
 * engine compiles it and run over a few lines. Any sanitizer report, leak or failed round
 * trip is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "query/logql/engine_int.h"
#include "query/logql/logql.h"

static void walk_lfilter(const sx_logql_lfilter_t *f)
{
    if (f->kind == SX_LQ_LF_AND || f->kind == SX_LQ_LF_OR) {
        if (f->group.nkids < 2)
            abort();
        for (size_t i = 0; i < f->group.nkids; i++)
            walk_lfilter(f->group.kids[i]);
    } else if (f->kind == SX_LQ_LF_STRING) {
        (void)sx_matcher_matches(&f->leaf.m, SX_STR_LIT("abc"));
    }
}

static void walk(const sx_logql_expr_t *e)
{
    switch (e->kind) {
    case SX_LQ_EXPR_LOG:
        for (size_t i = 0; i < e->log.nmatchers; i++)
            (void)sx_matcher_matches(&e->log.matchers[i], SX_STR_LIT("x"));
        for (size_t i = 0; i < e->log.nstages; i++) {
            const sx_logql_stage_t *st = &e->log.stages[i];
            if (st->kind == SX_LQ_STAGE_LABEL_FILTER)
                walk_lfilter(st->filter);
            else if (st->kind == SX_LQ_STAGE_LINE_FILTER)
                for (size_t j = 0; j < st->line.nalts; j++) {
                    if (st->line.alts[j].re)
                        (void)sx_logql_re_search(st->line.alts[j].re, "a line\n", 7);
                }
            else if (st->kind == SX_LQ_STAGE_REGEXP)
                (void)sx_logql_re_search(st->regexp.re, "x", 1);
        }
        break;
    case SX_LQ_EXPR_RANGE_AGG:
        walk(e->range.sel);
        for (size_t i = 0; i < e->range.unwrap.npost; i++)
            walk_lfilter(e->range.unwrap.post[i]);
        break;
    case SX_LQ_EXPR_VECTOR_AGG:
        walk(e->vec.expr);
        break;
    case SX_LQ_EXPR_BINARY:
        if (e->bin.lhs->kind == SX_LQ_EXPR_NUMBER && e->bin.rhs->kind == SX_LQ_EXPR_NUMBER)
            abort(); /* literals fold */
        walk(e->bin.lhs);
        walk(e->bin.rhs);
        break;
    case SX_LQ_EXPR_LABEL_REPLACE:
        (void)sx_logql_re_search(e->lrep.re, "", 0);
        walk(e->lrep.expr);
        break;
    default:
        break;
    }
}

/* Print e, parse the text with flags, print again: both must agree. */
static void round_trip(const sx_logql_expr_t *e, unsigned flags)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_err_t err;
    sx_buf_t f1 = SX_BUF_INIT, f2 = SX_BUF_INIT;
    sx_logql_format(e, &f1);
    sx_logql_expr_t *e2 = sx_logql_parse_ex(f1.ptr ? f1.ptr : "", f1.len,
                                            flags | SX_LOGQL_PARSE_NO_SIZE_LIMIT, &a, &err);
    if (!e2)
        abort(); /* the canonical form must parse */
    sx_logql_format(e2, &f2);
    if (f1.len != f2.len || (f1.len && memcmp(f1.ptr, f2.ptr, f1.len) != 0))
        abort(); /* and print the same again */
    if (sx_logql_is_metric(e) != sx_logql_is_metric(e2))
        abort();
    sx_logql_expr_dispose(e2);
    sx_buf_dispose(&f1);
    sx_buf_dispose(&f2);
    sx_arena_dispose(&a);
}

/* Compile each log pipeline of the tree as the engine does (parser
 * parameters, pattern, ip() and template compilation: the parsers that run
 * after the LogQL parser) and run it over a few lines. */
static void pipelines(const sx_logql_expr_t *e)
{
    static const char *const lines[] = {
        "level=info msg=\"GET /cart\" ip=10.1.2.3 duration=12ms size=1.5KB",
        "{\"level\":\"error\",\"user\":{\"id\":7},\"latency\":\"250ms\",\"_entry\":\"x\"}",
        "10.0.0.1 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 512",
    };
    const sx_logql_expr_t *log = NULL;
    const sx_logql_unwrap_t *uw = NULL;
    switch (e->kind) {
    case SX_LQ_EXPR_LOG:
        log = e;
        break;
    case SX_LQ_EXPR_RANGE_AGG:
        log = e->range.sel;
        uw = e->range.has_unwrap ? &e->range.unwrap : NULL;
        break;
    case SX_LQ_EXPR_VECTOR_AGG:
        pipelines(e->vec.expr);
        return;
    case SX_LQ_EXPR_BINARY:
        pipelines(e->bin.lhs);
        pipelines(e->bin.rhs);
        return;
    case SX_LQ_EXPR_LABEL_REPLACE:
        pipelines(e->lrep.expr);
        return;
    default:
        return;
    }
    sx_arena_t a;
    sx_arena_init(&a);
    sx_err_t err;
    sx_lq_pipe_t *p = sx_lq__pipe_create(log, uw, &a, &err);
    if (p) {
        sx_label_t stream[1] = {{SX_STR_LIT("app"), SX_STR_LIT("api")}};
        sx_label_t meta[1] = {{SX_STR_LIT("trace_id"), SX_STR_LIT("abc")}};
        for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
            sx_str_t line = sx_str(lines[i]);
            double v = 0;
            sx_lq__pipe_run(p, stream, 1, 1700000000000000000LL + (int64_t)i, &line, meta,
                            (uint32_t)i % 2, &v);
        }
        sx_lq__pipe_destroy(p);
    }
    sx_arena_dispose(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sx_arena_t a, b;
    sx_arena_init(&a);
    sx_arena_init(&b);
    if (size > 0 && data[0] == 0x01) {
        a._limit = 16 * 1024;
        data++, size--;
    }
    sx_err_t err;
    sx_logql_expr_t *e = sx_logql_parse((const char *)data, size, &a, &err);
    if (e) {
        walk(e);
        round_trip(e, SX_LOGQL_PARSE_NO_VALIDATE);
        pipelines(e);
        sx_logql_expr_dispose(e);
    }
    /* The grammar alone accepts more (no semantic checks): print those too. */
    sx_logql_expr_t *s = sx_logql_parse_ex((const char *)data, size, SX_LOGQL_PARSE_SYNTAX_ONLY,
                                           &b, &err);
    if (e && !s)
        abort(); /* whatever parses fully parses syntactically */
    if (s) {
        round_trip(s, SX_LOGQL_PARSE_SYNTAX_ONLY);
        sx_logql_expr_dispose(s);
    }
    sx_arena_dispose(&a);
    sx_arena_dispose(&b);
    return 0;
}
