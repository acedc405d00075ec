/* SPDX-License-Identifier: Apache-2.0 */
/* PromQL parser: recursive descent with precedence climbing over the
 * tokens of lex.c, building the pq_node_t tree of promql_int.h in the
 * caller's arena. It follows Prometheus' grammar (generated_parser.y) and
 * its semantic checks (parse.go's checkAST) closely enough that the first
 * error is the one Prometheus reports, worded the same way: syntax errors
 * come from the parse itself, type errors from a check pass that runs only
 * on a complete tree. Errors unwind with longjmp; the only resources that
 * need releasing are compiled regular expressions, which the parser tracks
 * until the tree owns them. Nesting is bounded (PQ_MAX_DEPTH), so neither
 * the parser nor any later tree walk can overflow the stack. */
#include "syntax.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define PQ_MAX_DEPTH 1000

enum { PREC_OR = 1, PREC_AND, PREC_CMP, PREC_ADD, PREC_MUL, PREC_POW };

typedef struct parser {
    pq_lexer_t lx;
    pq_token_t tok;    /* lookahead */
    uint32_t prev_end; /* end of the last consumed token (Prometheus' lastClosing) */
    const char *in;
    uint32_t n;
    sx_arena_t *a;
    sx_err_t *err;
    int rc;
    jmp_buf jb;
    unsigned rdepth;           /* recursion depth of the parse functions */
    unsigned agg_depth;        /* inside an aggregation: errors say "in aggregation" */
    const char *dur_ctx;       /* context and expectation of errors inside a duration */
    const char *dur_expected;
    void **res;                /* compiled regexes not yet owned by a returned tree */
    size_t nres, capres;
} parser_t;

/* ---- Errors ---- */

static void position(const parser_t *p, uint32_t pos, char *buf, size_t sz)
{
    if (p->n == 0) {
        snprintf(buf, sz, "unknown position");
        return;
    }
    if (pos > p->n) {
        snprintf(buf, sz, "invalid position");
        return;
    }
    int line = 1;
    int64_t last = -1;
    for (uint32_t i = 0; i < pos; i++) {
        if (p->in[i] == '\n') {
            last = i;
            line++;
        }
    }
    snprintf(buf, sz, "%d:%" PRId64, line, (int64_t)pos - last);
}

static _Noreturn void __attribute__((format(printf, 3, 4)))
fail_at(parser_t *p, uint32_t pos, const char *fmt, ...)
{
    char msg[448], where[48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    position(p, pos, where, sizeof(where));
    sx_err_set(p->err, SX_EPARSE, "%s: parse error: %s", where, msg);
    p->rc = SX_EPARSE;
    longjmp(p->jb, 1);
}

static _Noreturn void fail_limit(parser_t *p)
{
    sx_err_set(p->err, SX_ELIMIT, "cannot parse query: out of query memory");
    p->rc = SX_ELIMIT;
    longjmp(p->jb, 1);
}

/* A Go %q of s in a small buffer (truncated for error messages). */
static const char *q(char *buf, size_t sz, const char *s, size_t n)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_pq__quote(&b, s, n);
    snprintf(buf, sz, "%.*s", (int)b.len, b.ptr);
    sx_buf_dispose(&b);
    return buf;
}

/* Prometheus' Item.desc(): how an error message names a token. */
static void tok_desc(const parser_t *p, const pq_token_t *t, sx_buf_t *b)
{
    const char *s = p->in + t->pos;
    int ty = t->type;
    if (ty == T_EOF) {
        sx_buf_puts(b, "end of input");
    } else if (ty == T_IDENT || ty == T_METRIC_IDENT) {
        sx_buf_puts(b, ty == T_IDENT ? "identifier " : "metric identifier ");
        sx_pq__quote(b, s, t->len);
    } else if (ty == T_NUMBER || ty == T_STRING || ty == T_DURATION) {
        sx_buf_puts(b, ty == T_NUMBER ? "number " : ty == T_STRING ? "string " : "duration ");
        /* %.10q...: the first ten runes, quoted. */
        size_t n = 0, runes = 0;
        while (n < t->len && runes < 10) {
            uint32_t w;
            sx_pq__utf8_decode(s + n, t->len - n, &w);
            n += w;
            runes++;
        }
        sx_pq__quote(b, s, n);
        if (n < t->len)
            sx_buf_puts(b, "...");
    } else if (ty >= T_OPS_FIRST && ty <= T_OPS_LAST) {
        sx_buf_printf(b, "<op:%.*s>", (int)t->len, s);
    } else if (ty >= T_AGG_FIRST && ty <= T_AGG_LAST) {
        sx_buf_printf(b, "<aggr:%.*s>", (int)t->len, s);
    } else if (ty >= T_KW_FIRST && ty <= T_KW_LAST) {
        sx_buf_printf(b, "<%.*s>", (int)t->len, s);
    } else {
        sx_pq__quote(b, s, t->len);
    }
}

/* "unexpected <token>[ in <context>][, expected <what>]" at the lookahead. */
static _Noreturn void unexpected(parser_t *p, const char *ctx, const char *expected)
{
    sx_buf_t b = SX_BUF_INIT;
    char msg[400];
    if (!ctx && p->agg_depth > 0)
        ctx = "aggregation", expected = NULL;
    tok_desc(p, &p->tok, &b);
    snprintf(msg, sizeof(msg), "unexpected %.*s%s%s%s%s", (int)b.len, b.ptr, ctx ? " in " : "",
             ctx ? ctx : "", expected ? ", expected " : "", expected ? expected : "");
    sx_buf_dispose(&b);
    fail_at(p, p->tok.pos, "%s", msg);
}

/* ---- Tokens and memory ---- */

static void advance(parser_t *p)
{
    p->prev_end = p->tok.pos + p->tok.len;
    sx_pq__lex_next(&p->lx, &p->tok);
    if (p->tok.type == T_ERROR)
        fail_at(p, p->tok.pos, "%s", p->tok.msg);
}

static void *alloc(parser_t *p, size_t n)
{
    void *m = sx_arena_calloc(p->a, 1, n ? n : 1);
    if (!m)
        fail_limit(p);
    return m;
}

static sx_str_t dup(parser_t *p, const char *s, size_t n)
{
    char *c = alloc(p, n + 1);
    if (n)
        memcpy(c, s, n);
    return (sx_str_t){c, n};
}

static sx_str_t tok_text(parser_t *p, const pq_token_t *t)
{
    return dup(p, p->in + t->pos, t->len);
}

static void enter(parser_t *p)
{
    if (++p->rdepth > PQ_MAX_DEPTH)
        fail_at(p, p->tok.pos, "expression is nested too deeply (more than %d levels)",
                PQ_MAX_DEPTH);
}

static void leave(parser_t *p)
{
    p->rdepth--;
}

static uint32_t depth(const pq_node_t *n)
{
    return n ? pq_pn(n)->depth : 0;
}

/* A node whose subtree is `sub` levels deep below it. */
static pq_node_t *node(parser_t *p, int kind, int type, uint32_t pos, uint32_t end, uint32_t sub)
{
    if (sub + 1 > PQ_MAX_DEPTH)
        fail_at(p, pos, "expression is nested too deeply (more than %d levels)", PQ_MAX_DEPTH);
    pq_pnode_t *pn = alloc(p, sizeof(*pn));
    pn->depth = sub + 1;
    pn->n.kind = kind;
    pn->n.type = type;
    pn->n.pos = pos;
    pn->n.end = end;
    return &pn->n;
}

static uint32_t max2(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

static void dispose_regex(void *re)
{
    sx_matcher_t m;
    memset(&m, 0, sizeof(m));
    m.op = SX_MATCH_RE;
    m._re = re;
    sx_matcher_dispose(&m);
}

/* ---- Literals ---- */

/* The value of a string token. The lexer has validated every escape, so
 * this cannot fail; \x and octal escapes give raw bytes, as Go's. */
static sx_str_t unquote(parser_t *p, const pq_token_t *t)
{
    const char *s = p->in + t->pos + 1;
    size_t n = t->len - 2;
    if (p->in[t->pos] == '`')
        return dup(p, s, n);
    char *o = alloc(p, n + 1);
    size_t k = sx_go_unescape(s, n, o);
    return (sx_str_t){o, k};
}

/* Go's underscoreOK: '_' only between digits or after a base prefix. */
static bool underscore_ok(const char *s, size_t n)
{
    char saw = '^';
    size_t i = 0;
    bool hex = false;
    if (n >= 2 && s[0] == '0' &&
        (s[1] == 'b' || s[1] == 'B' || s[1] == 'o' || s[1] == 'O' || s[1] == 'x' || s[1] == 'X')) {
        i = 2;
        saw = '0';
        hex = s[1] == 'x' || s[1] == 'X';
    }
    for (; i < n; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))) {
            saw = '0';
            continue;
        }
        if (c == '_') {
            if (saw != '0')
                return false;
            saw = '_';
            continue;
        }
        if (saw == '_')
            return false;
        saw = '!';
    }
    return saw != '_';
}

/* strconv.ParseInt(s, 0, 64): 1 = ok, 0 = syntax error, -1 = out of range. */
static int go_parse_int(const char *s, size_t n, double *out)
{
    if (n == 0)
        return 0;
    unsigned base = 10;
    size_t i = 0;
    if (s[0] == '0') {
        char c = n >= 3 ? (char)(s[1] | 0x20) : 0;
        if (c == 'b')
            base = 2, i = 2;
        else if (c == 'o')
            base = 8, i = 2;
        else if (c == 'x')
            base = 16, i = 2;
        else
            base = 8, i = 1;
    }
    bool under = false, range = false;
    uint64_t v = 0;
    for (; i < n; i++) {
        char c = s[i];
        unsigned d;
        if (c == '_') {
            under = true;
            continue;
        }
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            d = (unsigned)((c | 0x20) - 'a' + 10);
        else
            return 0;
        if (d >= base)
            return 0;
        if (v > (UINT64_MAX - d) / base)
            range = true;
        else
            v = v * base + d;
    }
    if (under && !underscore_ok(s, n))
        return 0;
    if (range || v > (uint64_t)INT64_MAX)
        return -1;
    *out = (double)(int64_t)v;
    return 1;
}

static bool word_ci(const char *s, size_t n, const char *w)
{
    if (strlen(w) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != w[i])
            return false;
    return true;
}

/* strconv.ParseFloat(s, 64): 1 = ok, 0 = syntax error, -1 = out of range. */
static int go_parse_float(const char *s, size_t n, double *out)
{
    const char *b = s;
    size_t m = n;
    bool neg = false;
    if (m && (b[0] == '+' || b[0] == '-')) {
        neg = b[0] == '-';
        b++, m--;
    }
    if (word_ci(b, m, "inf") || word_ci(b, m, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return 1;
    }
    if (word_ci(b, m, "nan") && b == s) {
        *out = NAN;
        return 1;
    }
    /* Decimal only: hexadecimal floats need a 'p' exponent, which the
     * lexer never lets into a number token. */
    size_t i = 0, digits = 0;
    while (i < m && ((b[i] >= '0' && b[i] <= '9') || b[i] == '_'))
        digits += b[i++] != '_';
    if (i < m && b[i] == '.') {
        i++;
        while (i < m && ((b[i] >= '0' && b[i] <= '9') || b[i] == '_'))
            digits += b[i++] != '_';
    }
    if (!digits)
        return 0;
    if (i < m && (b[i] == 'e' || b[i] == 'E')) {
        i++;
        if (i < m && (b[i] == '+' || b[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < m && ((b[i] >= '0' && b[i] <= '9') || b[i] == '_'))
            ed += b[i++] != '_';
        if (!ed)
            return 0;
    }
    if (i != m || !underscore_ok(b, m))
        return 0;
    char tmp[128];
    char *buf = m < sizeof(tmp) ? tmp : malloc(m + 1);
    if (!buf)
        return 0;
    size_t k = 0;
    for (size_t j = 0; j < m; j++)
        if (b[j] != '_')
            buf[k++] = b[j];
    buf[k] = '\0';
    double v = strtod(buf, NULL);
    if (buf != tmp)
        free(buf);
    if (isinf(v))
        return -1;
    *out = neg ? -v : v;
    return 1;
}

/* A NUMBER or DURATION token's value in seconds for durations. */
static double literal_value(parser_t *p, const pq_token_t *t, bool *is_duration)
{
    const char *s = p->in + t->pos;
    double v = 0;
    *is_duration = t->type == T_DURATION;
    if (t->type == T_DURATION) {
        char msg[256];
        if (sx_pq__parse_duration(s, t->len, &v, msg, sizeof(msg)) != 0)
            fail_at(p, t->pos, "%s", msg);
        return v;
    }
    if (go_parse_int(s, t->len, &v) == 1)
        return v;
    int rc = go_parse_float(s, t->len, &v);
    if (rc != 1) {
        char qb[128];
        fail_at(p, t->pos, "error parsing number: strconv.ParseFloat: parsing %s: %s",
                q(qb, sizeof(qb), s, t->len), rc < 0 ? "value out of range" : "invalid syntax");
    }
    return v;
}

static pq_node_t *number_node(parser_t *p)
{
    bool dur;
    double v = literal_value(p, &p->tok, &dur);
    pq_node_t *e = node(p, PQ_NUMBER, SX_PROMQL_SCALAR, p->tok.pos, p->tok.pos + p->tok.len, 0);
    e->number = v;
    pq_pn(e)->duration = dur;
    advance(p);
    return e;
}

/* ---- Durations (range, subquery step, offset) ---- */

#define DUR_LIMIT 9223372036.854775808 /* seconds in a time.Duration */

static bool dur_out_of_range(double v)
{
    return !(v <= DUR_LIMIT && v >= -DUR_LIMIT);
}

/* time.Duration(math.Round(v * 1e9)).Milliseconds(). */
static int64_t seconds_to_ms(const pq_node_t *x)
{
    double v = x->number;
    /* Duration tokens are whole milliseconds: take them exactly, where
     * Go's float nanoseconds can be off by one for long durations. */
    if (pq_pn(x)->duration)
        return (int64_t)round(v * 1000);
    double ns = round(v * 1e9);
    if (ns >= 9223372036854775807.0)
        return INT64_MAX / 1000000;
    if (ns <= -9223372036854775807.0)
        return INT64_MIN / 1000000;
    return (int64_t)ns / 1000000;
}

static bool dur_start(int t)
{
    return t == T_NUMBER || t == T_DURATION || t == T_ADD || t == T_SUB || t == T_STEP ||
           t == T_LPAREN;
}

static pq_node_t *parse_dur(parser_t *p, int minprec);

static pq_node_t *dur_literal(parser_t *p)
{
    uint32_t pos = p->tok.pos;
    pq_node_t *e = number_node(p);
    if (dur_out_of_range(e->number))
        fail_at(p, pos, "duration out of range");
    return e;
}

static void expect_dur(parser_t *p, int type)
{
    if (p->tok.type != type)
        unexpected(p, p->dur_ctx, p->dur_expected);
}

/* Unary minus of a duration operand: literals fold, as in Prometheus. */
static pq_node_t *dur_negate(parser_t *p, uint32_t pos, int op, pq_node_t *x)
{
    if (x->kind == PQ_NUMBER) {
        if (op == T_SUB)
            x->number = -x->number;
        if (dur_out_of_range(x->number))
            fail_at(p, pos, "duration out of range");
        x->pos = pos;
        return x;
    }
    if (op == T_ADD)
        return x;
    pq_node_t *u = node(p, PQ_UNARY, SX_PROMQL_SCALAR, pos, x->end, depth(x));
    u->unary.op = PQ_OP_SUB;
    u->unary.expr = x;
    return u;
}

static pq_node_t *dur_step(parser_t *p)
{
    uint32_t pos = p->tok.pos;
    advance(p);
    expect_dur(p, T_LPAREN);
    advance(p);
    expect_dur(p, T_RPAREN);
    pq_node_t *e = node(p, PQ_DUR_STEP, SX_PROMQL_SCALAR, pos, p->tok.pos + 1, 0);
    advance(p);
    return e;
}

/* ( duration ): a literal inside loses its parentheses, as in Prometheus,
 * unless keep (after offset, where "(1h) + 5m" must print as written). */
static pq_node_t *dur_paren(parser_t *p, bool keep)
{
    uint32_t pos = p->tok.pos;
    advance(p);
    pq_node_t *x = parse_dur(p, 0);
    expect_dur(p, T_RPAREN);
    if (x->kind == PQ_NUMBER && !keep) {
        /* Prometheus keeps no parentheses around a duration literal. */
        advance(p);
        return x;
    }
    pq_node_t *e = node(p, PQ_PAREN, SX_PROMQL_SCALAR, pos, p->tok.pos + 1, depth(x));
    e->paren.expr = x;
    advance(p);
    return e;
}

static pq_node_t *dur_unary(parser_t *p)
{
    switch (p->tok.type) {
    case T_ADD:
    case T_SUB: {
        uint32_t pos = p->tok.pos;
        int op = p->tok.type;
        advance(p);
        return dur_negate(p, pos, op, parse_dur(p, PREC_POW));
    }
    case T_NUMBER:
    case T_DURATION:
        return dur_literal(p);
    case T_STEP:
        return dur_step(p);
    case T_LPAREN:
        return dur_paren(p, false);
    default:
        unexpected(p, p->dur_ctx, p->dur_expected);
    }
}

static bool dur_binop(int t, int *op, int *prec)
{
    switch (t) {
    case T_ADD: *op = PQ_OP_ADD, *prec = PREC_ADD; return true;
    case T_SUB: *op = PQ_OP_SUB, *prec = PREC_ADD; return true;
    case T_MUL: *op = PQ_OP_MUL, *prec = PREC_MUL; return true;
    case T_DIV: *op = PQ_OP_DIV, *prec = PREC_MUL; return true;
    case T_MOD: *op = PQ_OP_MOD, *prec = PREC_MUL; return true;
    case T_POW: *op = PQ_OP_POW, *prec = PREC_POW; return true;
    default: return false;
    }
}

static pq_node_t *dur_rest(parser_t *p, pq_node_t *lhs, int minprec)
{
    int op, prec;
    while (dur_binop(p->tok.type, &op, &prec) && prec >= minprec) {
        uint32_t op_pos = p->tok.pos;
        advance(p);
        pq_node_t *rhs = parse_dur(p, op == PQ_OP_POW ? prec : prec + 1);
        if (op == PQ_OP_DIV && rhs->kind == PQ_NUMBER && rhs->number == 0)
            fail_at(p, op_pos, "division by zero");
        if (op == PQ_OP_MOD && rhs->kind == PQ_NUMBER && rhs->number == 0)
            fail_at(p, op_pos, "modulo by zero");
        pq_node_t *b = node(p, PQ_BINARY, SX_PROMQL_SCALAR, lhs->pos, rhs->end,
                            max2(depth(lhs), depth(rhs)));
        b->binary.op = op;
        b->binary.lhs = lhs;
        b->binary.rhs = rhs;
        lhs = b;
    }
    return lhs;
}

static pq_node_t *parse_dur(parser_t *p, int minprec)
{
    enter(p);
    pq_node_t *e = dur_rest(p, dur_unary(p), minprec);
    leave(p);
    return e;
}

/* Seconds of a duration expression; step_ms < 0 means "unknown" (fails). */
static int dur_seconds(const pq_node_t *e, int64_t step_ms, double *out, sx_err_t *err)
{
    double l, r;
    int rc;
    switch (e->kind) {
    case PQ_NUMBER:
        *out = e->number;
        return 0;
    case PQ_DUR_STEP:
        if (step_ms < 0)
            return sx_err_set(err, SX_EEXEC, "step() is not known at parse time");
        *out = (double)step_ms / 1000.0;
        return 0;
    case PQ_PAREN:
        return dur_seconds(e->paren.expr, step_ms, out, err);
    case PQ_UNARY:
        if ((rc = dur_seconds(e->unary.expr, step_ms, &r, err)) != 0)
            return rc;
        *out = e->unary.op == PQ_OP_SUB ? -r : r;
        return 0;
    case PQ_BINARY:
        if ((rc = dur_seconds(e->binary.lhs, step_ms, &l, err)) != 0 ||
            (rc = dur_seconds(e->binary.rhs, step_ms, &r, err)) != 0)
            return rc;
        switch (e->binary.op) {
        case PQ_OP_ADD: *out = l + r; return 0;
        case PQ_OP_SUB: *out = l - r; return 0;
        case PQ_OP_MUL: *out = l * r; return 0;
        case PQ_OP_DIV:
            if (r == 0)
                return sx_err_set(err, SX_EEXEC, "division by zero");
            *out = l / r;
            return 0;
        case PQ_OP_MOD:
            if (r == 0)
                return sx_err_set(err, SX_EEXEC, "modulo by zero");
            *out = fmod(l, r);
            return 0;
        case PQ_OP_POW: *out = pow(l, r); return 0;
        }
        break;
    }
    return sx_err_set(err, SX_EEXEC, "unexpected duration expression");
}

/* Seconds to ms as Prometheus' calculateDuration does. */
static int dur_to_ms(double v, bool allow_negative, int64_t *out, sx_err_t *err)
{
    if (v <= 0 && !allow_negative)
        return sx_err_set(err, SX_EEXEC, "duration must be greater than 0");
    if (dur_out_of_range(v))
        return sx_err_set(err, SX_EEXEC, "duration is out of range");
    *out = (int64_t)(v * 1000);
    return 0;
}

int sx_pq__duration_eval(const pq_node_t *e, int64_t step_ms, int64_t *out, sx_err_t *err)
{
    double v;
    int rc = dur_seconds(e, step_ms < 0 ? 0 : step_ms, &v, err);
    if (rc)
        return rc;
    return dur_to_ms(v, false, out, err);
}

int sx_pq__offset_eval(const pq_mod_t *m, int64_t step_ms, int64_t *out, sx_err_t *err)
{
    if (!m->offset_expr) {
        *out = m->offset_ms;
        return 0;
    }
    double v;
    int rc = dur_seconds(m->offset_expr, step_ms < 0 ? 0 : step_ms, &v, err);
    if (rc)
        return rc;
    return dur_to_ms(v, true, out, err);
}

/* A parsed duration: a literal gives ms; a constant expression is folded
 * into ms (src keeps it for printing) unless it is invalid, in which case
 * it stays an expression so that evaluation reports the error as
 * Prometheus does; an expression using step() stays an expression. */
static void dur_resolve(pq_node_t *x, bool allow_negative, int64_t *ms, pq_node_t **expr,
                        pq_node_t **src)
{
    *expr = *src = NULL;
    *ms = 0;
    if (x->kind == PQ_NUMBER) {
        *ms = seconds_to_ms(x);
        return;
    }
    double v;
    if (dur_seconds(x, -1, &v, NULL) == 0 && dur_to_ms(v, allow_negative, ms, NULL) == 0) {
        *src = x;
        return;
    }
    *ms = 0;
    *expr = x;
}

static pq_node_t *positive_dur(parser_t *p, const char *ctx, const char *expected)
{
    if (!dur_start(p->tok.type))
        unexpected(p, ctx, expected);
    p->dur_ctx = ctx;
    p->dur_expected = expected;
    pq_node_t *x = parse_dur(p, 0);
    /* Durations are kept in milliseconds: one that rounds down to 0 ms
     * (x[0.0005]) is refused like 0, or it would print as "0s". */
    if (x->kind == PQ_NUMBER && !(x->number > 0 && seconds_to_ms(x) > 0))
        fail_at(p, x->pos, "duration must be greater than 0");
    return x;
}

/* ---- Modifiers ---- */

static pq_mod_t *mod_of(pq_node_t *e)
{
    switch (e->kind) {
    case PQ_VSEL:
    case PQ_MSEL:
        return &e->sel.mod;
    case PQ_SUBQUERY:
        return &e->sub.mod;
    default:
        return NULL;
    }
}

static pq_node_t *offset_operand(parser_t *p)
{
    switch (p->tok.type) {
    case T_NUMBER:
    case T_DURATION:
        return dur_literal(p);
    case T_STEP:
        return dur_step(p);
    case T_LPAREN:
        /* A parenthesised expression may go on: offset (1h) + 5m. */
        return dur_rest(p, dur_paren(p, true), 0);
    case T_ADD:
    case T_SUB: {
        uint32_t pos = p->tok.pos;
        int op = p->tok.type;
        advance(p);
        switch (p->tok.type) {
        case T_NUMBER:
        case T_DURATION:
            return dur_negate(p, pos, op, dur_literal(p));
        case T_STEP:
            return dur_negate(p, pos, op, dur_step(p));
        case T_LPAREN:
            return dur_negate(p, pos, op, dur_paren(p, false));
        default:
            return dur_rest(p, dur_negate(p, pos, op, parse_dur(p, PREC_POW)), 0);
        }
    }
    default:
        unexpected(p, "offset", "number, duration, or step()");
    }
}

static void parse_offset(parser_t *p, pq_node_t *e)
{
    advance(p);
    p->dur_ctx = "offset";
    p->dur_expected = "number, duration, or step()";
    pq_node_t *x = offset_operand(p);
    pq_mod_t *m = mod_of(e);
    if (!m)
        fail_at(p, e->pos, "offset modifier must be preceded by an instant vector selector or "
                           "range vector selector or a subquery");
    if (m->offset_ms != 0 || m->offset_expr || pq_pn(e)->offset_src)
        fail_at(p, e->pos, "offset may not be set multiple times");
    dur_resolve(x, true, &m->offset_ms, &m->offset_expr, &pq_pn(e)->offset_src);
    e->end = p->prev_end;
    pq_pn(e)->depth = max2(pq_pn(e)->depth, depth(x) + 1);
}

static void fmt_f(char *buf, size_t sz, double v)
{
    if (isnan(v))
        snprintf(buf, sz, "NaN");
    else if (isinf(v))
        snprintf(buf, sz, v > 0 ? "+Inf" : "-Inf");
    else
        snprintf(buf, sz, "%f", v);
}

static void parse_at(parser_t *p, pq_node_t *e)
{
    advance(p);
    int at = PQ_AT_TIME;
    double v = 0;
    bool dur;
    switch (p->tok.type) {
    case T_NUMBER:
    case T_DURATION:
        v = literal_value(p, &p->tok, &dur);
        advance(p);
        break;
    case T_ADD:
    case T_SUB: {
        bool neg = p->tok.type == T_SUB;
        advance(p);
        if (p->tok.type != T_NUMBER && p->tok.type != T_DURATION)
            unexpected(p, "@", "timestamp");
        v = literal_value(p, &p->tok, &dur);
        if (neg)
            v = -v;
        advance(p);
        break;
    }
    case T_START:
    case T_END:
        at = p->tok.type == T_START ? PQ_AT_START : PQ_AT_END;
        advance(p);
        if (p->tok.type != T_LPAREN)
            unexpected(p, "@", "timestamp");
        advance(p);
        if (p->tok.type != T_RPAREN)
            unexpected(p, "@", "timestamp");
        advance(p);
        break;
    default:
        unexpected(p, "@", "timestamp");
    }
    if (at == PQ_AT_TIME && (!isfinite(v) || v >= 9223372036854775807.0 ||
                             v <= -9223372036854775808.0)) {
        char buf[400];
        fmt_f(buf, sizeof(buf), v);
        fail_at(p, e->pos, "timestamp out of bounds for @ modifier: %s", buf);
    }
    pq_mod_t *m = mod_of(e);
    if (!m)
        fail_at(p, e->pos, "@ modifier must be preceded by an instant vector selector or range "
                           "vector selector or a subquery");
    if (m->at != PQ_AT_NONE)
        fail_at(p, e->pos, "@ <timestamp> may not be set multiple times");
    m->at = at;
    if (at == PQ_AT_TIME) {
        double ms = round(v * 1000);
        m->at_ms = ms >= 9223372036854775807.0    ? INT64_MAX
                   : ms <= -9223372036854775808.0 ? INT64_MIN
                                                  : (int64_t)ms;
    }
    e->end = p->prev_end;
}

/* expr[range] or expr[range:step]. */
static pq_node_t *parse_range(parser_t *p, pq_node_t *e)
{
    uint32_t lbr = p->tok.pos;
    advance(p);
    pq_node_t *rng = positive_dur(p, "subquery or range selector", "number, duration, or step()");
    if (p->tok.type == T_RBRACKET) {
        const char *msg = NULL;
        if (e->kind != PQ_VSEL)
            msg = "ranges only allowed for vector selectors";
        else if (e->sel.mod.offset_ms != 0 || e->sel.mod.offset_expr || pq_pn(e)->offset_src)
            msg = "no offset modifiers allowed before range";
        else if (e->sel.mod.at != PQ_AT_NONE)
            msg = "no @ modifiers allowed before range";
        if (msg)
            fail_at(p, lbr, "%s", msg);
        pq_node_t *ms = node(p, PQ_MSEL, SX_PROMQL_MATRIX, e->pos, p->tok.pos + 1, depth(rng));
        ms->sel = e->sel;
        dur_resolve(rng, false, &ms->sel.range_ms, &ms->sel.range_expr, &pq_pn(ms)->range_src);
        advance(p);
        return ms;
    }
    if (p->tok.type != T_COLON)
        unexpected(p, "subquery or range", "\":\" or \"]\"");
    advance(p);
    pq_node_t *step = NULL;
    if (p->tok.type != T_RBRACKET) {
        step = positive_dur(p, "subquery selector", "number, duration, step(), or \"]\"");
        if (p->tok.type != T_RBRACKET)
            unexpected(p, "subquery selector", "\"]\"");
    }
    pq_node_t *sq = node(p, PQ_SUBQUERY, SX_PROMQL_MATRIX, e->pos, p->tok.pos + 1,
                         max2(depth(e), max2(depth(rng), depth(step))));
    sq->sub.expr = e;
    dur_resolve(rng, false, &sq->sub.range_ms, &sq->sub.range_expr, &pq_pn(sq)->range_src);
    if (step)
        dur_resolve(step, false, &sq->sub.step_ms, &sq->sub.step_expr, &pq_pn(sq)->step_src);
    advance(p);
    return sq;
}

/* ---- Selectors ---- */

static void track_regex(parser_t *p, sx_matcher_t *m, uint32_t pos)
{
    if (m->op != SX_MATCH_RE && m->op != SX_MATCH_NRE)
        return;
    if (p->nres == p->capres) {
        size_t cap = p->capres ? p->capres * 2 : 8;
        void **r = sx_arena_realloc(p->a, p->res, p->capres * sizeof(void *), cap * sizeof(void *));
        if (!r)
            fail_limit(p);
        p->res = r;
        p->capres = cap;
    }
    sx_err_t cerr;
    if (sx_matcher_compile(m, &cerr) != 0) {
        m->_re = NULL;
        fail_at(p, pos, "%s", cerr.msg);
    }
    p->res[p->nres++] = m->_re;
}

/* {matchers}: appended to *m (growing in the arena). */
static void parse_matchers(parser_t *p, sx_matcher_t **m, size_t *nm, size_t *cap)
{
    advance(p); /* { */
    while (p->tok.type != T_RBRACE) {
        sx_matcher_t x;
        memset(&x, 0, sizeof(x));
        uint32_t pos = p->tok.pos;
        bool full = false;
        if (p->tok.type == T_IDENT || p->tok.type == T_STRING) {
            bool quoted = p->tok.type == T_STRING;
            x.name = quoted ? unquote(p, &p->tok) : tok_text(p, &p->tok);
            advance(p);
            int op = p->tok.type;
            if (op == T_EQL || op == T_NEQ || op == T_EQL_REGEX || op == T_NEQ_REGEX) {
                x.op = op == T_EQL ? SX_MATCH_EQ : op == T_NEQ ? SX_MATCH_NEQ
                       : op == T_EQL_REGEX ? SX_MATCH_RE : SX_MATCH_NRE;
                advance(p);
                if (p->tok.type != T_STRING)
                    unexpected(p, "label matching", "string");
                x.value = unquote(p, &p->tok);
                full = true;
            } else if (quoted) {
                /* {"metric.name"}: a metric name inside the braces. */
                x.value = x.name;
                x.name = SX_STR_LIT("__name__");
                x.op = SX_MATCH_EQ;
            } else {
                unexpected(p, "label matching", "label matching operator");
            }
        } else {
            unexpected(p, "label matching", "identifier or \"}\"");
        }
        if (*nm == *cap) {
            size_t nc = *cap * 2;
            sx_matcher_t *g = sx_arena_realloc(p->a, *m, *cap * sizeof(**m), nc * sizeof(**m));
            if (!g)
                fail_limit(p);
            *m = g;
            *cap = nc;
        }
        (*m)[*nm] = x;
        track_regex(p, &(*m)[*nm], pos);
        (*nm)++;
        /* A full matcher's value token is still the lookahead. */
        if (full)
            advance(p);
        if (p->tok.type == T_COMMA) {
            advance(p);
            continue;
        }
        if (p->tok.type != T_RBRACE)
            unexpected(p, "label matching", "\",\" or \"}\"");
    }
}

static pq_node_t *parse_selector(parser_t *p, bool named)
{
    uint32_t pos = p->tok.pos;
    size_t cap = 4, nm = 0;
    sx_matcher_t *m = alloc(p, cap * sizeof(*m));
    sx_str_t name = SX_STR_NULL;
    if (named) {
        name = tok_text(p, &p->tok);
        m[nm].name = SX_STR_LIT("__name__");
        m[nm].value = name;
        m[nm].op = SX_MATCH_EQ;
        nm++;
        advance(p);
    }
    if (p->tok.type == T_LBRACE) {
        parse_matchers(p, &m, &nm, &cap);
        advance(p); /* } */
    }
    pq_node_t *e = node(p, PQ_VSEL, SX_PROMQL_VECTOR, pos, p->prev_end, 0);
    e->sel.name = name;
    e->sel.m = m;
    e->sel.nm = nm;
    return e;
}

/* ---- Expressions ---- */

static pq_node_t *parse_expr(parser_t *p, int minprec);

static bool binop(int t, int *op, int *prec)
{
    switch (t) {
    case T_LOR: *op = PQ_OP_OR, *prec = PREC_OR; return true;
    case T_LAND: *op = PQ_OP_AND, *prec = PREC_AND; return true;
    case T_LUNLESS: *op = PQ_OP_UNLESS, *prec = PREC_AND; return true;
    case T_EQLC: *op = PQ_OP_EQ, *prec = PREC_CMP; return true;
    case T_NEQ: *op = PQ_OP_NE, *prec = PREC_CMP; return true;
    case T_GTR: *op = PQ_OP_GT, *prec = PREC_CMP; return true;
    case T_LSS: *op = PQ_OP_LT, *prec = PREC_CMP; return true;
    case T_GTE: *op = PQ_OP_GE, *prec = PREC_CMP; return true;
    case T_LTE: *op = PQ_OP_LE, *prec = PREC_CMP; return true;
    case T_ADD: *op = PQ_OP_ADD, *prec = PREC_ADD; return true;
    case T_SUB: *op = PQ_OP_SUB, *prec = PREC_ADD; return true;
    case T_MUL: *op = PQ_OP_MUL, *prec = PREC_MUL; return true;
    case T_DIV: *op = PQ_OP_DIV, *prec = PREC_MUL; return true;
    case T_MOD: *op = PQ_OP_MOD, *prec = PREC_MUL; return true;
    case T_ATAN2: *op = PQ_OP_ATAN2, *prec = PREC_MUL; return true;
    case T_POW: *op = PQ_OP_POW, *prec = PREC_POW; return true;
    default: return false;
    }
}

/* Keywords that Prometheus' grammar also accepts as a label name. */
static bool maybe_label(int t)
{
    return t == T_IDENT || t == T_METRIC_IDENT || (t >= T_AGG_FIRST && t <= T_AGG_LAST) ||
           (t >= T_KW_FIRST && t <= T_KW_LAST) || t == T_LAND || t == T_LOR || t == T_LUNLESS ||
           t == T_ATAN2 || t == T_START || t == T_END || t == T_STEP;
}

/* Keywords that Prometheus' grammar also accepts as a metric name. */
static bool metric_keyword(int t)
{
    return (t >= T_AGG_FIRST && t <= T_AGG_LAST) || t == T_BY || t == T_WITHOUT || t == T_LAND ||
           t == T_LOR || t == T_LUNLESS || t == T_OFFSET || t == T_START || t == T_END ||
           t == T_STEP;
}

/* Tokens after which a bare aggregation keyword is a metric name. */
static bool follows_expr(int t)
{
    int op, prec;
    return t == T_EOF || t == T_RPAREN || t == T_COMMA || t == T_LBRACE || t == T_LBRACKET ||
           t == T_RBRACKET || t == T_OFFSET || t == T_AT || binop(t, &op, &prec);
}

/* ( label, ... ) of by/without/on/ignoring/group_x. */
static void grouping_labels(parser_t *p, sx_str_t **out, size_t *nout)
{
    if (p->tok.type != T_LPAREN)
        unexpected(p, "grouping opts", "\"(\"");
    advance(p);
    size_t n = 0, cap = 4;
    sx_str_t *l = alloc(p, cap * sizeof(*l));
    while (p->tok.type != T_RPAREN) {
        sx_str_t name;
        if (maybe_label(p->tok.type)) {
            name = tok_text(p, &p->tok);
        } else if (p->tok.type == T_STRING) {
            name = unquote(p, &p->tok);
            if (name.len == 0 || !sx_utf8_valid(name.ptr, name.len)) {
                char qb[400];
                fail_at(p, p->tok.pos, "invalid label name for grouping: %s",
                        q(qb, sizeof(qb), name.ptr, name.len));
            }
        } else {
            unexpected(p, "grouping opts", "label");
        }
        if (n == cap) {
            sx_str_t *g = sx_arena_realloc(p->a, l, cap * sizeof(*l), 2 * cap * sizeof(*l));
            if (!g)
                fail_limit(p);
            l = g;
            cap *= 2;
        }
        l[n++] = name;
        advance(p);
        if (p->tok.type == T_COMMA) {
            advance(p);
            continue;
        }
        if (p->tok.type != T_RPAREN)
            unexpected(p, "grouping opts", "\",\" or \")\"");
    }
    advance(p);
    *out = l;
    *nout = n;
}

/* ( args ): leaves the closing parenthesis as the lookahead. */
static void call_body(parser_t *p, pq_node_t ***out, size_t *nout, uint32_t *sub)
{
    advance(p); /* ( */
    size_t n = 0, cap = 4;
    pq_node_t **args = alloc(p, cap * sizeof(*args));
    *sub = 0;
    while (p->tok.type != T_RPAREN) {
        pq_node_t *a = parse_expr(p, 0);
        if (n == cap) {
            pq_node_t **g = sx_arena_realloc(p->a, args, cap * sizeof(*args),
                                             2 * cap * sizeof(*args));
            if (!g)
                fail_limit(p);
            args = g;
            cap *= 2;
        }
        args[n++] = a;
        *sub = max2(*sub, depth(a));
        if (p->tok.type == T_COMMA) {
            uint32_t comma = p->tok.pos;
            advance(p);
            if (p->tok.type == T_RPAREN)
                fail_at(p, comma, "trailing commas not allowed in function call args");
            continue;
        }
        if (p->tok.type != T_RPAREN)
            unexpected(p, NULL, NULL);
    }
    *out = args;
    *nout = n;
}

static pq_node_t *parse_call(parser_t *p)
{
    pq_token_t name = p->tok;
    advance(p);
    pq_node_t **args;
    size_t nargs;
    uint32_t sub;
    call_body(p, &args, &nargs, &sub);
    const pq_func_t *fn = sx_pq__func_lookup((sx_str_t){p->in + name.pos, name.len});
    if (!fn) {
        char qb[400];
        fail_at(p, name.pos, "unknown function with name %s",
                q(qb, sizeof(qb), p->in + name.pos, name.len));
    }
    pq_node_t *e = node(p, PQ_CALL, fn->ret, name.pos, p->tok.pos + 1, sub);
    e->call.fn = fn;
    e->call.args = args;
    e->call.nargs = nargs;
    advance(p);
    return e;
}

static bool agg_has_param(int op)
{
    return op == PQ_AGG_TOPK || op == PQ_AGG_BOTTOMK || op == PQ_AGG_COUNT_VALUES ||
           op == PQ_AGG_QUANTILE || op == PQ_AGG_LIMITK || op == PQ_AGG_LIMIT_RATIO;
}

static pq_node_t *parse_aggregation(parser_t *p, uint32_t pos, int op)
{
    bool grouping = false, without = false;
    sx_str_t *labels = NULL;
    size_t nlabels = 0;
    p->agg_depth++;
    if (p->tok.type == T_BY || p->tok.type == T_WITHOUT) {
        without = p->tok.type == T_WITHOUT;
        grouping = true;
        advance(p);
        grouping_labels(p, &labels, &nlabels);
        if (p->tok.type != T_LPAREN)
            unexpected(p, NULL, NULL);
    }
    pq_node_t **args;
    size_t nargs;
    uint32_t sub;
    call_body(p, &args, &nargs, &sub);
    p->agg_depth--;
    advance(p); /* ) */
    if (!grouping && (p->tok.type == T_BY || p->tok.type == T_WITHOUT)) {
        without = p->tok.type == T_WITHOUT;
        grouping = true;
        advance(p);
        grouping_labels(p, &labels, &nlabels);
    }
    if (nargs == 0)
        fail_at(p, pos, "no arguments for aggregate expression provided");
    size_t want = agg_has_param(op) ? 2 : 1;
    if (nargs != want)
        fail_at(p, pos, "wrong number of arguments for aggregate expression provided, expected %zu, "
                        "got %zu", want, nargs);
    pq_node_t *e = node(p, PQ_AGG, SX_PROMQL_VECTOR, pos, p->prev_end, sub);
    e->agg.op = op;
    e->agg.param = want == 2 ? args[0] : NULL;
    e->agg.expr = args[want - 1];
    e->agg.without = without;
    e->agg.grouping = grouping;
    e->agg.labels = labels;
    e->agg.nlabels = nlabels;
    return e;
}

static pq_node_t *parse_atom(parser_t *p)
{
    int t = p->tok.type;
    switch (t) {
    case T_NUMBER:
    case T_DURATION:
        return number_node(p);
    case T_STRING: {
        pq_node_t *e = node(p, PQ_STRING, SX_PROMQL_STRING, p->tok.pos, p->tok.pos + p->tok.len, 0);
        e->string = unquote(p, &p->tok);
        advance(p);
        return e;
    }
    case T_LPAREN: {
        uint32_t pos = p->tok.pos;
        advance(p);
        pq_node_t *x = parse_expr(p, 0);
        if (p->tok.type != T_RPAREN)
            unexpected(p, NULL, NULL);
        pq_node_t *e = node(p, PQ_PAREN, x->type, pos, p->tok.pos + 1, depth(x));
        e->paren.expr = x;
        advance(p);
        return e;
    }
    case T_LBRACE:
        return parse_selector(p, false);
    case T_IDENT: {
        /* A function call when '(' follows, else a metric name. */
        pq_lexer_t save = p->lx;
        pq_token_t next;
        sx_pq__lex_next(&p->lx, &next);
        p->lx = save;
        if (next.type == T_LPAREN)
            return parse_call(p);
        return parse_selector(p, true);
    }
    case T_METRIC_IDENT:
        return parse_selector(p, true);
    default:
        break;
    }
    if (t >= T_AGG_FIRST && t <= T_AGG_LAST) {
        pq_token_t kw = p->tok;
        pq_lexer_t save = p->lx;
        pq_token_t next;
        sx_pq__lex_next(&p->lx, &next);
        p->lx = save;
        if (next.type == T_LPAREN || next.type == T_BY || next.type == T_WITHOUT) {
            advance(p);
            return parse_aggregation(p, kw.pos, t - T_AGG_FIRST);
        }
        if (next.type == T_ERROR || follows_expr(next.type))
            return parse_selector(p, true);
        advance(p);
        unexpected(p, "aggregation", NULL);
    }
    if (metric_keyword(t))
        return parse_selector(p, true);
    unexpected(p, NULL, NULL);
}

/* An atom with its [range], offset and @ suffixes, which bind tighter
 * than any operator. */
static pq_node_t *parse_postfix(parser_t *p)
{
    pq_node_t *e = parse_atom(p);
    for (;;) {
        switch (p->tok.type) {
        case T_LBRACKET:
            e = parse_range(p, e);
            break;
        case T_OFFSET:
            parse_offset(p, e);
            break;
        case T_AT:
            parse_at(p, e);
            break;
        default:
            return e;
        }
    }
}

/* Unary minus binds looser than ^ and as tight as *: -2^2 is -(2^2). */
static pq_node_t *parse_unary(parser_t *p)
{
    if (p->tok.type != T_ADD && p->tok.type != T_SUB)
        return parse_postfix(p);
    uint32_t pos = p->tok.pos;
    int op = p->tok.type;
    advance(p);
    pq_node_t *x = parse_expr(p, PREC_POW);
    if (x->kind == PQ_NUMBER) {
        if (op == T_SUB)
            x->number = -x->number;
        x->pos = pos;
        return x;
    }
    pq_node_t *u = node(p, PQ_UNARY, x->type, pos, x->end, depth(x));
    u->unary.op = op == T_SUB ? PQ_OP_SUB : PQ_OP_ADD;
    u->unary.expr = x;
    return u;
}

static pq_node_t *parse_expr(parser_t *p, int minprec)
{
    enter(p);
    pq_node_t *lhs = parse_unary(p);
    int op, prec;
    while (binop(p->tok.type, &op, &prec) && prec >= minprec) {
        advance(p);
        pq_match_t *vm = alloc(p, sizeof(*vm));
        vm->card = PQ_CARD_ONE_TO_ONE;
        bool rb = false;
        if (p->tok.type == T_BOOL) {
            rb = true;
            advance(p);
        }
        if (p->tok.type == T_ON || p->tok.type == T_IGNORING) {
            vm->on = p->tok.type == T_ON;
            advance(p);
            grouping_labels(p, &vm->labels, &vm->nlabels);
            if (p->tok.type == T_GROUP_LEFT || p->tok.type == T_GROUP_RIGHT) {
                vm->card = p->tok.type == T_GROUP_LEFT ? PQ_CARD_MANY_TO_ONE : PQ_CARD_ONE_TO_MANY;
                advance(p);
                if (p->tok.type == T_LPAREN)
                    grouping_labels(p, &vm->include, &vm->ninclude);
            }
        }
        pq_node_t *rhs = parse_expr(p, op == PQ_OP_POW ? prec : prec + 1);
        int type = lhs->type == SX_PROMQL_SCALAR && rhs->type == SX_PROMQL_SCALAR
                       ? SX_PROMQL_SCALAR
                       : SX_PROMQL_VECTOR;
        pq_node_t *b = node(p, PQ_BINARY, type, lhs->pos, rhs->end, max2(depth(lhs), depth(rhs)));
        b->binary.op = op;
        b->binary.lhs = lhs;
        b->binary.rhs = rhs;
        b->binary.return_bool = rb;
        b->binary.match = vm;
        lhs = b;
    }
    leave(p);
    return lhs;
}

/* ---- Type checks (Prometheus' checkAST), on a complete tree ---- */

static void check(parser_t *p, pq_node_t *n, bool bypass_empty);

static void expect_type(parser_t *p, pq_node_t *n, int want, const char *ctx)
{
    check(p, n, false);
    if (n->type != want)
        fail_at(p, n->pos, "expected type %s in %s, got %s", sx_pq__documented_type(want), ctx,
                sx_pq__documented_type(n->type));
}

static void check_selector(parser_t *p, pq_node_t *n, bool bypass_empty)
{
    if (n->sel.name.len) {
        for (size_t i = 1; i < n->sel.nm; i++) {
            const sx_matcher_t *m = &n->sel.m[i];
            if (sx_str_eq_cstr(m->name, "__name__")) {
                char a[200], b[200];
                fail_at(p, n->pos, "metric name must not be set twice: %s or %s",
                        q(a, sizeof(a), n->sel.name.ptr, n->sel.name.len),
                        q(b, sizeof(b), m->value.ptr, m->value.len));
            }
        }
        return;
    }
    if (bypass_empty)
        return;
    for (size_t i = 0; i < n->sel.nm; i++)
        if (!sx_matcher_matches(&n->sel.m[i], SX_STR_LIT("")))
            return;
    fail_at(p, n->pos, "vector selector must contain at least one non-empty matcher");
}

static void check_binary(parser_t *p, pq_node_t *n)
{
    pq_node_t *l = n->binary.lhs, *r = n->binary.rhs;
    check(p, l, false);
    check(p, r, false);
    int lt = l->type, rt = r->type, op = n->binary.op;
    pq_match_t *vm = n->binary.match;
    uint32_t op_pos = l->end;
    while (op_pos < p->n && (p->in[op_pos] == ' ' || p->in[op_pos] == '\t' ||
                             p->in[op_pos] == '\n' || p->in[op_pos] == '\r'))
        op_pos++;
    if (n->binary.return_bool && !pq_op_is_comparison(op))
        fail_at(p, op_pos, "bool modifier can only be used on comparison operators");
    if (pq_op_is_comparison(op) && !n->binary.return_bool && lt == SX_PROMQL_SCALAR &&
        rt == SX_PROMQL_SCALAR)
        fail_at(p, op_pos, "comparisons between scalars must use BOOL modifier");
    if (pq_op_is_set(op) && vm->card == PQ_CARD_ONE_TO_ONE)
        vm->card = PQ_CARD_MANY_TO_MANY;
    if (vm->on)
        for (size_t i = 0; i < vm->nlabels; i++)
            for (size_t j = 0; j < vm->ninclude; j++)
                if (sx_str_eq(vm->labels[i], vm->include[j])) {
                    char qb[400];
                    fail_at(p, op_pos, "label %s must not occur in ON and GROUP clause at once",
                            q(qb, sizeof(qb), vm->labels[i].ptr, vm->labels[i].len));
                }
    if (lt != SX_PROMQL_SCALAR && lt != SX_PROMQL_VECTOR)
        fail_at(p, l->pos, "binary expression must contain only scalar and instant vector types");
    if (rt != SX_PROMQL_SCALAR && rt != SX_PROMQL_VECTOR)
        fail_at(p, r->pos, "binary expression must contain only scalar and instant vector types");
    if (lt != SX_PROMQL_VECTOR || rt != SX_PROMQL_VECTOR) {
        if (vm->nlabels > 0)
            fail_at(p, n->pos, "vector matching only allowed between instant vectors");
        n->binary.match = NULL;
    } else if (pq_op_is_set(op)) {
        if (vm->card == PQ_CARD_ONE_TO_MANY || vm->card == PQ_CARD_MANY_TO_ONE)
            fail_at(p, n->pos, "no grouping allowed for \"%s\" operation", sx_pq__op_name(op));
        if (vm->card != PQ_CARD_MANY_TO_MANY)
            fail_at(p, n->pos, "set operations must always be many-to-many");
    }
    if ((lt == SX_PROMQL_SCALAR || rt == SX_PROMQL_SCALAR) && pq_op_is_set(op))
        fail_at(p, n->pos, "set operator \"%s\" not allowed in binary scalar expression",
                sx_pq__op_name(op));
}

static void check_call(parser_t *p, pq_node_t *n)
{
    const pq_func_t *fn = n->call.fn;
    size_t nargs = n->call.nargs;
    bool variadic = fn->min_args != fn->max_args;
    if (!variadic) {
        if (nargs != (size_t)fn->max_args)
            fail_at(p, n->pos, "expected %d argument(s) in call to \"%s\", got %zu", fn->max_args,
                    fn->name, nargs);
    } else if (nargs < (size_t)fn->min_args) {
        fail_at(p, n->pos, "expected at least %d argument(s) in call to \"%s\", got %zu",
                fn->min_args, fn->name, nargs);
    } else if (fn->max_args >= 0 && nargs > (size_t)fn->max_args) {
        fail_at(p, n->pos, "expected at most %d argument(s) in call to \"%s\", got %zu",
                fn->max_args, fn->name, nargs);
    }
    bool bypass = false;
    if (strcmp(fn->name, "info") == 0 && nargs > 1) {
        pq_node_t *a = n->call.args[1];
        if (a->type != SX_PROMQL_VECTOR)
            fail_at(p, n->pos, "expected type instant vector in call to function \"info\", got %s",
                    sx_pq__documented_type(a->type));
        if (a->kind == PQ_VSEL && a->sel.name.len)
            fail_at(p, a->pos, "expected label selectors only, got vector selector instead");
        if (a->kind != PQ_VSEL)
            fail_at(p, a->pos, "expected label selectors only");
        bypass = true;
    }
    for (size_t i = 0; i < nargs; i++) {
        size_t ti = i;
        if (ti >= (size_t)fn->ntypes) {
            if (!variadic || fn->ntypes == 0)
                break;
            ti = (size_t)fn->ntypes - 1;
        }
        pq_node_t *a = n->call.args[i];
        check(p, a, bypass && i == 1);
        if (a->type != fn->argtypes[ti])
            fail_at(p, a->pos, "expected type %s in call to function \"%s\", got %s",
                    sx_pq__documented_type(fn->argtypes[ti]), fn->name,
                    sx_pq__documented_type(a->type));
    }
}

static void check(parser_t *p, pq_node_t *n, bool bypass_empty)
{
    switch (n->kind) {
    case PQ_AGG:
        expect_type(p, n->agg.expr, SX_PROMQL_VECTOR, "aggregation expression");
        if (n->agg.param)
            expect_type(p, n->agg.param,
                        n->agg.op == PQ_AGG_COUNT_VALUES ? SX_PROMQL_STRING : SX_PROMQL_SCALAR,
                        "aggregation parameter");
        break;
    case PQ_BINARY:
        check_binary(p, n);
        break;
    case PQ_CALL:
        check_call(p, n);
        break;
    case PQ_PAREN:
        check(p, n->paren.expr, false);
        break;
    case PQ_UNARY:
        check(p, n->unary.expr, false);
        if (n->unary.expr->type != SX_PROMQL_SCALAR && n->unary.expr->type != SX_PROMQL_VECTOR)
            fail_at(p, n->pos,
                    "unary expression only allowed on expressions of type scalar or instant "
                    "vector, got \"%s\"",
                    sx_pq__documented_type(n->unary.expr->type));
        break;
    case PQ_SUBQUERY:
        check(p, n->sub.expr, false);
        if (n->sub.expr->type != SX_PROMQL_VECTOR)
            fail_at(p, n->pos, "subquery is only allowed on instant vector, got %s instead",
                    sx_promql_type_name(n->sub.expr->type));
        break;
    case PQ_VSEL:
    case PQ_MSEL:
        check_selector(p, n, bypass_empty);
        break;
    default:
        break;
    }
}

/* ---- Interface ---- */

int sx_promql_parse(sx_str_t query, sx_arena_t *a, sx_promql_expr_t **out, sx_err_t *err)
{
    *out = NULL;
    if (query.len >= UINT32_MAX / 2)
        return sx_err_set(err, SX_ETOOLARGE, "query is too long");
    parser_t *p = sx_arena_calloc(a, 1, sizeof(*p));
    if (!p)
        return sx_err_set(err, SX_ELIMIT, "cannot parse query: out of query memory");
    p->in = query.len ? query.ptr : "";
    p->n = (uint32_t)query.len;
    p->a = a;
    p->err = err;
    sx_pq__lex_init(&p->lx, p->in, p->n, a);
    if (setjmp(p->jb)) {
        for (size_t i = 0; i < p->nres; i++)
            dispose_regex(p->res[i]);
        return p->rc;
    }
    advance(p);
    if (p->tok.type == T_EOF)
        fail_at(p, 0, "no expression found in input");
    pq_node_t *e = parse_expr(p, 0);
    if (p->tok.type != T_EOF)
        unexpected(p, NULL, NULL);
    check(p, e, false);
    *out = e;
    return 0;
}

static void dispose_node(pq_node_t *e)
{
    if (!e)
        return;
    switch (e->kind) {
    case PQ_VSEL:
    case PQ_MSEL:
        for (size_t i = 0; i < e->sel.nm; i++)
            sx_matcher_dispose(&e->sel.m[i]);
        break;
    case PQ_SUBQUERY:
        dispose_node(e->sub.expr);
        break;
    case PQ_PAREN:
        dispose_node(e->paren.expr);
        break;
    case PQ_UNARY:
        dispose_node(e->unary.expr);
        break;
    case PQ_BINARY:
        dispose_node(e->binary.lhs);
        dispose_node(e->binary.rhs);
        break;
    case PQ_AGG:
        dispose_node(e->agg.param);
        dispose_node(e->agg.expr);
        break;
    case PQ_CALL:
        for (size_t i = 0; i < e->call.nargs; i++)
            dispose_node(e->call.args[i]);
        break;
    default:
        break;
    }
}

void sx_promql_expr_dispose(sx_promql_expr_t *e)
{
    dispose_node(e);
}

int sx_promql_expr_type(const sx_promql_expr_t *e)
{
    return e ? e->type : SX_PROMQL_NONE;
}
