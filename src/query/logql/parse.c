/* SPDX-License-Identifier: Apache-2.0 */
/* LogQL parser: recursive descent over the tokens of lex.c, building the
 * sx_logql_expr_t tree of logql.h in the caller's arena. It accepts what
 * Loki's yacc grammar (pkg/logql/syntax/syntax.y) accepts, with the same
 * precedences, and reports errors the way Loki does and in the same order:
 * lexer and syntax errors, and the checks Loki makes while building nodes
 * (regexes of matchers, `| regexp`/`| pattern`), stop the parse at once
 * with a position; the checks Loki defers (unwrap rules, parameters,
 * operand types) are kept on the node and reported by a validation pass
 * over a complete tree, outer nodes first, followed by the stream selector
 * requirement; a line filter's bad regex is reported last, as Loki reports
 * it when it builds the pipeline. Errors unwind with longjmp; compiled
 * regexes are registered as they are made, so an error releases them and a
 * successful parse hands them to the root. Nesting is bounded
 * (SX_LOGQL_MAX_DEPTH), so neither the parser nor a walk of its tree can
 * overflow the stack. */
#include "logql_parse_int.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <inttypes.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_NEED_MATCHER                                                                      \
    "queries require at least one regexp or equality matcher that does not have an "          \
    "empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but "  \
    "app=~\".+\" will"

typedef struct parser {
    lq_lexer_t lx;
    lq_token_t tok; /* lookahead */
    const char *in;
    uint32_t n;
    sx_arena_t *a;
    sx_err_t *err;
    int rc;
    jmp_buf jb;
    unsigned rdepth;      /* recursion depth of the parse functions */
    void **codes;         /* pcre2 codes made so far */
    size_t ncodes, capcodes;
    void **mres;          /* regexes made by sx_matcher_compile */
    size_t nmres, capmres;
    const char *late_err; /* first bad line-filter regex (a pipeline error in Loki) */
    bool no_validate;     /* SX_LOGQL_PARSE_NO_VALIDATE */
    bool syntax_only;     /* SX_LOGQL_PARSE_SYNTAX_ONLY */
} parser_t;

/* ---- Errors ---- */

/* Loki's (line, column) of a byte offset: columns count characters. */
static void line_col(const parser_t *p, uint32_t pos, int *line, int *col)
{
    *line = 1;
    *col = 1;
    uint32_t i = 0;
    while (i < pos && i < p->n) {
        uint32_t w;
        int32_t r = sx_lqp__utf8(p->in + i, p->n - i, &w);
        if (w == 0)
            break;
        if (r == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
        i += w;
    }
}

static _Noreturn void __attribute__((format(printf, 3, 4)))
fail_tok(parser_t *p, const lq_token_t *t, const char *fmt, ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line, col;
    line_col(p, t->pos, &line, &col);
    if (t->line0)
        line = 0;
    if (p->n == 0)
        line = col = 0; /* the scanner read nothing: no position */
    if (line == 0 && col == 0)
        sx_err_set(p->err, SX_EPARSE, "parse error : %s", msg);
    else
        sx_err_set(p->err, SX_EPARSE, "parse error at line %d, col %d: %s", line, col, msg);
    p->rc = SX_EPARSE;
    longjmp(p->jb, 1);
}

/* An error without a position, as Loki's checks after parsing give. */
static _Noreturn void __attribute__((format(printf, 2, 3))) fail_plain(parser_t *p, const char *fmt,
                                                                       ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sx_err_set(p->err, SX_EPARSE, "parse error : %s", msg);
    p->rc = SX_EPARSE;
    longjmp(p->jb, 1);
}

static _Noreturn void fail_limit(parser_t *p)
{
    sx_err_set(p->err, SX_ELIMIT, "cannot parse query: out of query memory");
    p->rc = SX_ELIMIT;
    longjmp(p->jb, 1);
}

/* "syntax error: unexpected X[, expecting Y]" at the lookahead. */
static _Noreturn void unexpected(parser_t *p, const char *expecting)
{
    fail_tok(p, &p->tok, "syntax error: unexpected %s%s%s", sx_lqp__tok_name(p->tok.type),
             expecting ? ", expecting " : "", expecting ? expecting : "");
}

/* ---- Tokens and memory ---- */

static void advance(parser_t *p)
{
    sx_lqp__lex_next(&p->lx, &p->tok);
    if (p->tok.type == LT_ERROR)
        fail_tok(p, &p->tok, "%s", p->tok.msg);
}

/* The token after the lookahead, without consuming anything. */
static int peek_type(const parser_t *p)
{
    lq_lexer_t copy = p->lx;
    lq_token_t t;
    sx_lqp__lex_next(&copy, &t);
    return t.type;
}

static void expect(parser_t *p, int type, const char *expecting)
{
    if (p->tok.type != type)
        unexpected(p, expecting);
    advance(p);
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

static sx_str_t tok_text(parser_t *p, const lq_token_t *t)
{
    return dup(p, p->in + t->pos, t->len);
}

static const char *arena_printf(parser_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *arena_printf(parser_t *p, const char *fmt, ...)
{
    char buf[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return dup(p, buf, strlen(buf)).ptr;
}

/* Make room for one more element in an arena array. */
static void *grow(parser_t *p, void *arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t nc = *cap ? *cap * 2 : 4;
    void *g = sx_arena_realloc(p->a, arr, *cap * elem, nc * elem);
    if (!g)
        fail_limit(p);
    *cap = nc;
    return g;
}

#define PUSH(p, arr, n, cap, item)                                                            \
    do {                                                                                      \
        (arr) = grow((p), (arr), (n), &(cap), sizeof(*(arr)));                                \
        (arr)[(n)++] = (item);                                                                \
    } while (0)

static void enter(parser_t *p)
{
    if (++p->rdepth > SX_LOGQL_MAX_DEPTH)
        fail_tok(p, &p->tok, "expression is nested too deeply (more than %d levels)",
                 SX_LOGQL_MAX_DEPTH);
}

static void leave(parser_t *p)
{
    p->rdepth--;
}

static void check_depth(parser_t *p, uint32_t d, const lq_token_t *at)
{
    if (d > SX_LOGQL_MAX_DEPTH)
        fail_tok(p, at, "expression is nested too deeply (more than %d levels)",
                 SX_LOGQL_MAX_DEPTH);
}

static sx_logql_expr_t *new_expr(parser_t *p, int kind, uint32_t pos)
{
    sx_logql_expr_t *e = alloc(p, sizeof(*e));
    e->kind = kind;
    e->pos = pos;
    e->_depth = 1;
    return e;
}

/* ---- Regular expressions ---- */

static void dispose_matcher_re(void *re)
{
    sx_matcher_t m;
    memset(&m, 0, sizeof(m));
    m.op = SX_MATCH_RE;
    m._re = re;
    sx_matcher_dispose(&m);
}

/* Constructs PCRE2 accepts and Go's regexp (RE2) refuses: a query Loki
 * rejects must not run here with PCRE2's meaning of it. Returns false with
 * Go's message ("invalid escape sequence: `\\1`") for the first one. */
static bool re2_compatible(const char *s, size_t n, char *msg, size_t msgsz)
{
    bool cls = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\') {
            if (i + 1 >= n)
                return true; /* PCRE2 reports the trailing backslash */
            char e = s[i + 1];
            if ((e >= '1' && e <= '9') || (e && strchr("kgKRXNhHVZCeco", e))) {
                snprintf(msg, msgsz, "error parsing regexp: invalid escape sequence: `\\%c`", e);
                return false;
            }
            i++;
            continue;
        }
        if (cls) {
            if (c == ']')
                cls = false;
            continue;
        }
        if (c == '[') {
            cls = true;
            if (i + 1 < n && s[i + 1] == '^')
                i++;
            if (i + 1 < n && s[i + 1] == ']')
                i++; /* a leading ']' is literal */
            continue;
        }
        if (c == '(' && i + 2 < n && s[i + 1] == '?') {
            char d = s[i + 2];
            bool bad = (d && strchr("=!>|&R+#(0123456789", d)) ||
                       (d == '<' && i + 3 < n && (s[i + 3] == '=' || s[i + 3] == '!')) ||
                       (d == 'P' && i + 3 < n && (s[i + 3] == '>' || s[i + 3] == '='));
            if (bad) {
                snprintf(msg, msgsz,
                         "error parsing regexp: invalid or unsupported Perl syntax: `(?%c`", d);
                return false;
            }
        }
        if ((c == '*' || c == '+' || c == '?' || c == '}') && i + 1 < n && s[i + 1] == '+') {
            snprintf(msg, msgsz, "error parsing regexp: invalid nested repetition operator: `%c+`",
                     c);
            return false;
        }
    }
    return true;
}

/* Compile an RE2-style regex as Go's regexp runs it: '.' stops at a
 * newline, '$' only at the end. The code is owned by the parse from here
 * on. NULL with msg set ("error parsing regexp: ...") when it fails. */
static void *re_compile_opts(parser_t *p, const char *pat, size_t n, sx_str_t shown,
                             uint32_t extra, char *msg, size_t msgsz)
{
    if (!re2_compatible(shown.ptr ? shown.ptr : "", shown.len, msg, msgsz))
        return NULL;
    uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | extra;
#ifdef PCRE2_MATCH_INVALID_UTF
    opts |= PCRE2_MATCH_INVALID_UTF;
#endif
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)(n ? pat : ""), n, opts, &ec, &eo, NULL);
    if (!c) {
        PCRE2_UCHAR em[200];
        pcre2_get_error_message(ec, em, sizeof(em));
        snprintf(msg, msgsz, "error parsing regexp: %s: `%.*s`", (char *)em,
                 (int)(shown.len > 200 ? 200 : shown.len), shown.ptr ? shown.ptr : "");
        return NULL;
    }
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    /* Register before anything else can fail. */
    if (p->ncodes == p->capcodes) {
        size_t nc = p->capcodes ? p->capcodes * 2 : 8;
        void **g = sx_arena_realloc(p->a, p->codes, p->capcodes * sizeof(void *),
                                    nc * sizeof(void *));
        if (!g) {
            pcre2_code_free(c);
            fail_limit(p);
        }
        p->codes = g;
        p->capcodes = nc;
    }
    p->codes[p->ncodes++] = c;
    return c;
}

static void *re_compile(parser_t *p, const char *pat, size_t n, sx_str_t shown, char *msg,
                        size_t msgsz)
{
    return re_compile_opts(p, pat, n, shown, 0, msg, msgsz);
}

/* Compile a label matcher's regex (anchored, as Prometheus). A bad regex is
 * an immediate parse error, as labels.NewMatcher's panic is in Loki. */
static void matcher_compile(parser_t *p, sx_matcher_t *m)
{
    if (m->op != SX_MATCH_RE && m->op != SX_MATCH_NRE)
        return;
    if (p->nmres == p->capmres) {
        size_t nc = p->capmres ? p->capmres * 2 : 8;
        void **g = sx_arena_realloc(p->a, p->mres, p->capmres * sizeof(void *),
                                    nc * sizeof(void *));
        if (!g)
            fail_limit(p);
        p->mres = g;
        p->capmres = nc;
    }
    char rmsg[200];
    if (!re2_compatible(m->value.ptr ? m->value.ptr : "", m->value.len, rmsg, sizeof(rmsg))) {
        if (p->syntax_only)
            return;
        fail_plain(p, "%s", rmsg);
    }
    sx_err_t cerr;
    if (sx_matcher_compile(m, &cerr) != 0) {
        m->_re = NULL;
        if (p->syntax_only)
            return;
        /* The reason, in Go's words as far as PCRE2 allows. */
        char msg[320];
        size_t len = m->value.len + 16;
        char *pat = alloc(p, len);
        int pl = snprintf(pat, len, "^(?s:%.*s)$", (int)m->value.len, m->value.ptr);
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *c =
            pcre2_compile((PCRE2_SPTR)pat, (PCRE2_SIZE)pl, PCRE2_UTF, &ec, &eo, NULL);
        if (c) {
            pcre2_code_free(c);
            fail_plain(p, "%s", cerr.msg);
        }
        PCRE2_UCHAR em[200];
        pcre2_get_error_message(ec, em, sizeof(em));
        snprintf(msg, sizeof(msg), "error parsing regexp: %s: `%.*s`", (char *)em,
                 (int)(m->value.len > 200 ? 200 : m->value.len), m->value.ptr);
        fail_plain(p, "%s", msg);
    }
    if (m->_re)
        p->mres[p->nmres++] = m->_re;
}

/* ---- Literals ---- */

/* The value of a STRING token (the lexer has checked every escape). */
static sx_str_t unquote(parser_t *p, const lq_token_t *t)
{
    const char *s = p->in + t->pos + 1;
    size_t n = t->len - 2;
    if (p->in[t->pos] == '`')
        return dup(p, s, n);
    char *o = alloc(p, n + 1);
    size_t k = sx_go_unescape(s, n, o);
    return (sx_str_t){o, k};
}

static sx_str_t expect_string(parser_t *p, const char *expecting)
{
    if (p->tok.type != LT_STRING)
        unexpected(p, expecting);
    sx_str_t s = unquote(p, &p->tok);
    advance(p);
    return s;
}

static sx_str_t expect_ident(parser_t *p, const char *expecting)
{
    if (p->tok.type != LT_IDENT)
        unexpected(p, expecting);
    sx_str_t s = tok_text(p, &p->tok);
    advance(p);
    return s;
}

/* Go's %q of a string, for messages. */
static const char *goq(parser_t *p, sx_str_t s)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_lqp__quote(&b, s.ptr, s.len > 256 ? 256 : s.len);
    const char *r = dup(p, b.ptr ? b.ptr : "", b.len).ptr;
    sx_buf_dispose(&b);
    return r;
}

/* The message strconv.ParseFloat's error gives. */
static const char *float_err(parser_t *p, sx_str_t raw, int rc)
{
    return arena_printf(p, "strconv.ParseFloat: parsing %s: %s", goq(p, raw),
                        rc < 0 ? "value out of range" : "invalid syntax");
}

/* A NUMBER token as a literal; neg applies a '-' written before it. */
static sx_logql_num_t number_of(parser_t *p, const lq_token_t *t, bool neg, int *rc)
{
    sx_logql_num_t num;
    num.raw = tok_text(p, t);
    num.neg = neg;
    *rc = sx_lqp__parse_float(num.raw.ptr, num.raw.len, &num.value);
    if (neg)
        num.value = -num.value;
    return num;
}

/* strconv.Atoi: true when s is a decimal integer within int64. */
static bool go_atoi(sx_str_t s, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (s.len > 0 && (s.ptr[0] == '+' || s.ptr[0] == '-'))
        neg = s.ptr[i++] == '-';
    if (i == s.len)
        return false;
    uint64_t v = 0;
    for (; i < s.len; i++) {
        char c = s.ptr[i];
        if (c < '0' || c > '9')
            return false;
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(c - '0');
        if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
            return false;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* ---- Label filters ---- */

enum { LF_SEQ = 0, LF_OR = 1, LF_AND = 2 }; /* the value is the precedence */

typedef struct lf_operand {
    sx_logql_lfilter_t *f;
    uint32_t depth;
} lf_operand_t;

static sx_logql_lfilter_t *parse_lfilter(parser_t *p, uint32_t *depth);

/* Combine two filters with and/or, flattening same-kind operands. */
static lf_operand_t lf_combine(parser_t *p, int op, lf_operand_t l, lf_operand_t r,
                               const lq_token_t *at)
{
    int kind = op == LF_OR ? SX_LQ_LF_OR : SX_LQ_LF_AND;
    bool lm = l.f->kind == kind, rm = r.f->kind == kind;
    size_t nl = lm ? l.f->group.nkids : 1, nr = rm ? r.f->group.nkids : 1;
    sx_logql_lfilter_t *g = alloc(p, sizeof(*g));
    g->kind = kind;
    g->pos = l.f->pos;
    g->group.nkids = nl + nr;
    g->group.kids = alloc(p, (nl + nr) * sizeof(*g->group.kids));
    if (lm)
        memcpy(g->group.kids, l.f->group.kids, nl * sizeof(*g->group.kids));
    else
        g->group.kids[0] = l.f;
    if (rm)
        memcpy(g->group.kids + nl, r.f->group.kids, nr * sizeof(*g->group.kids));
    else
        g->group.kids[nl] = r.f;
    uint32_t ld = lm ? l.depth - 1 : l.depth, rd = rm ? r.depth - 1 : r.depth;
    lf_operand_t o = {g, 1 + (ld > rd ? ld : rd)};
    check_depth(p, o.depth, at);
    return o;
}

/* The value of a numeric comparison: DURATION, BYTES or a literal. */
static void lf_number_value(parser_t *p, sx_logql_lfilter_t *f)
{
    switch (p->tok.type) {
    case LT_DURATION:
        f->kind = SX_LQ_LF_DURATION;
        f->leaf.raw = tok_text(p, &p->tok);
        f->leaf.ns = p->tok.ns;
        advance(p);
        return;
    case LT_BYTES:
        f->kind = SX_LQ_LF_BYTES;
        f->leaf.raw = tok_text(p, &p->tok);
        f->leaf.bytes = p->tok.bytes;
        advance(p);
        return;
    case LT_NUMBER:
    case LT_ADD:
    case LT_SUB: {
        bool neg = p->tok.type == LT_SUB;
        if (p->tok.type != LT_NUMBER) {
            advance(p);
            if (p->tok.type != LT_NUMBER)
                unexpected(p, "NUMBER");
        }
        int rc;
        f->kind = SX_LQ_LF_NUMBER;
        /* Loki takes the literal's value even when ParseFloat failed. */
        f->leaf.num = number_of(p, &p->tok, neg, &rc);
        advance(p);
        return;
    }
    default:
        unexpected(p, NULL);
    }
}

static int cmp_of(int type)
{
    switch (type) {
    case LT_EQ: case LT_CMP_EQ: return SX_LQ_CMP_EQ;
    case LT_NEQ: return SX_LQ_CMP_NE;
    case LT_GT: return SX_LQ_CMP_GT;
    case LT_GTE: return SX_LQ_CMP_GE;
    case LT_LT: return SX_LQ_CMP_LT;
    case LT_LTE: return SX_LQ_CMP_LE;
    default: return -1;
    }
}

static lf_operand_t lf_primary(parser_t *p)
{
    lf_operand_t o = {NULL, 1};
    if (p->tok.type == LT_LPAREN) {
        enter(p);
        advance(p);
        o.f = parse_lfilter(p, &o.depth);
        expect(p, LT_RPAREN, NULL);
        leave(p);
        return o;
    }
    if (p->tok.type != LT_IDENT)
        unexpected(p, NULL);
    sx_logql_lfilter_t *f = alloc(p, sizeof(*f));
    o.f = f;
    f->pos = p->tok.pos;
    f->leaf.name = tok_text(p, &p->tok);
    advance(p);
    int op = p->tok.type;
    switch (op) {
    case LT_EQ:
    case LT_NEQ:
        f->leaf.cmp = cmp_of(op);
        advance(p);
        if (p->tok.type == LT_STRING) {
            f->kind = SX_LQ_LF_STRING;
            f->leaf.m.name = f->leaf.name;
            f->leaf.m.op = op == LT_EQ ? SX_MATCH_EQ : SX_MATCH_NEQ;
            f->leaf.m.value = unquote(p, &p->tok);
            advance(p);
        } else if (p->tok.type == LT_IP) {
            advance(p);
            expect(p, LT_LPAREN, "(");
            f->kind = SX_LQ_LF_IP;
            f->leaf.raw = expect_string(p, "STRING");
            expect(p, LT_RPAREN, ")");
        } else {
            lf_number_value(p, f);
        }
        return o;
    case LT_RE:
    case LT_NRE:
        advance(p);
        f->kind = SX_LQ_LF_STRING;
        f->leaf.cmp = op == LT_RE ? SX_LQ_CMP_EQ : SX_LQ_CMP_NE;
        f->leaf.m.name = f->leaf.name;
        f->leaf.m.op = op == LT_RE ? SX_MATCH_RE : SX_MATCH_NRE;
        f->leaf.m.value = expect_string(p, "STRING");
        matcher_compile(p, &f->leaf.m);
        return o;
    case LT_GT:
    case LT_GTE:
    case LT_LT:
    case LT_LTE:
    case LT_CMP_EQ:
        f->leaf.cmp = cmp_of(op);
        advance(p);
        lf_number_value(p, f);
        return o;
    default:
        unexpected(p, NULL);
    }
}

/* A label filter: operands joined by and, or, ',' and juxtaposition,
 * resolved as Loki's grammar resolves them (see logql.h). */
static sx_logql_lfilter_t *parse_lfilter(parser_t *p, uint32_t *depth)
{
    lf_operand_t *vals = NULL;
    int *ops = NULL;
    size_t nv = 0, capv = 0, no = 0, capo = 0;
    PUSH(p, vals, nv, capv, lf_primary(p));
    for (;;) {
        int op;
        lq_token_t at = p->tok;
        switch (p->tok.type) {
        case LT_AND: op = LF_AND; advance(p); break;
        case LT_OR: op = LF_OR; advance(p); break;
        case LT_COMMA: op = LF_SEQ; advance(p); break;
        case LT_IDENT:
        case LT_LPAREN: op = LF_SEQ; break;
        default: op = -1; break;
        }
        if (op < 0)
            break;
        /* Reduce only between and/or of higher or equal precedence: the
         * grammar shifts whenever ',' or juxtaposition is involved. */
        while (no > 0 && ops[no - 1] > 0 && op > 0 && op <= ops[no - 1]) {
            lf_operand_t r = vals[--nv], l = vals[--nv];
            vals[nv++] = lf_combine(p, ops[--no], l, r, &at);
        }
        PUSH(p, ops, no, capo, op);
        PUSH(p, vals, nv, capv, lf_primary(p));
    }
    while (no > 0) {
        lf_operand_t r = vals[--nv], l = vals[--nv];
        vals[nv++] = lf_combine(p, ops[--no], l, r, &p->tok);
    }
    *depth = vals[0].depth;
    return vals[0].f;
}

/* ---- Pipelines ---- */

typedef struct pipe {
    sx_logql_stage_t *stages;
    size_t n, cap;
    bool has_unwrap;
    sx_logql_unwrap_t unwrap;
} pipe_t;

static bool is_line_filter(int type)
{
    switch (type) {
    case LT_PIPE_EXACT: case LT_NEQ: case LT_PIPE_MATCH: case LT_NRE:
    case LT_PIPE_PATTERN: case LT_NPA:
        return true;
    default:
        return false;
    }
}

static bool is_stage_start(int type)
{
    return type == LT_PIPE || is_line_filter(type);
}

static void parse_line_filter(parser_t *p, sx_logql_stage_t *st)
{
    int op;
    switch (p->tok.type) {
    case LT_PIPE_EXACT: op = SX_LQ_LINE_CONTAINS; break;
    case LT_NEQ: op = SX_LQ_LINE_NOT_CONTAINS; break;
    case LT_PIPE_MATCH: op = SX_LQ_LINE_MATCH; break;
    case LT_NRE: op = SX_LQ_LINE_NOT_MATCH; break;
    case LT_PIPE_PATTERN: op = SX_LQ_LINE_PATTERN; break;
    default: op = SX_LQ_LINE_NOT_PATTERN; break;
    }
    st->kind = SX_LQ_STAGE_LINE_FILTER;
    st->line.op = op;
    advance(p);
    size_t cap = 0;
    for (;;) {
        sx_logql_line_alt_t alt;
        memset(&alt, 0, sizeof(alt));
        if (p->tok.type == LT_STRING) {
            alt.value = unquote(p, &p->tok);
            advance(p);
        } else if (p->tok.type == LT_IP) {
            advance(p);
            expect(p, LT_LPAREN, "(");
            alt.value = expect_string(p, "STRING");
            alt.ip = true;
            expect(p, LT_RPAREN, ")");
        } else {
            unexpected(p, "STRING or ip");
        }
        if (!alt.ip && (op == SX_LQ_LINE_MATCH || op == SX_LQ_LINE_NOT_MATCH)) {
            char msg[320];
            alt.re = re_compile(p, alt.value.ptr, alt.value.len, alt.value, msg, sizeof(msg));
            if (!alt.re && !p->late_err) {
                /* Loki fails when it builds the pipeline: a stage error. */
                sx_buf_t b = SX_BUF_INIT;
                sx_lqp__quote(&b, alt.value.ptr, alt.value.len > 200 ? 200 : alt.value.len);
                p->late_err = arena_printf(p, "stage '%s %.*s' : %s", sx_logql_line_op_name(op),
                                           (int)b.len, b.ptr ? b.ptr : "", msg);
                sx_buf_dispose(&b);
            }
        }
        PUSH(p, st->line.alts, st->line.nalts, cap, alt);
        if (p->tok.type != LT_OR)
            break;
        advance(p);
    }
}

/* label="expr" or a bare label, comma separated. */
static void parse_extract_list(parser_t *p, sx_logql_stage_t *st)
{
    size_t cap = 0;
    for (;;) {
        sx_logql_extract_t x;
        memset(&x, 0, sizeof(x));
        x.label = expect_ident(p, "IDENTIFIER");
        if (p->tok.type == LT_EQ) {
            advance(p);
            x.expr = expect_string(p, "STRING");
        } else {
            x.expr = x.label;
            x.bare = true;
        }
        PUSH(p, st->parser.params, st->parser.nparams, cap, x);
        if (p->tok.type != LT_COMMA)
            return;
        advance(p);
    }
}

/* drop/keep: names or matchers, comma separated. */
static void parse_named_list(parser_t *p, sx_logql_stage_t *st)
{
    size_t cap = 0;
    for (;;) {
        sx_logql_named_t x;
        memset(&x, 0, sizeof(x));
        x.name = expect_ident(p, "IDENTIFIER");
        int op = p->tok.type;
        if (op == LT_EQ || op == LT_NEQ || op == LT_RE || op == LT_NRE) {
            advance(p);
            x.has_matcher = true;
            x.m.name = x.name;
            x.m.op = op == LT_EQ ? SX_MATCH_EQ : op == LT_NEQ ? SX_MATCH_NEQ
                     : op == LT_RE ? SX_MATCH_RE : SX_MATCH_NRE;
            x.m.value = expect_string(p, "STRING");
            matcher_compile(p, &x.m);
        }
        PUSH(p, st->names.labels, st->names.n, cap, x);
        if (p->tok.type != LT_COMMA)
            return;
        advance(p);
    }
}

static void parse_label_format(parser_t *p, sx_logql_stage_t *st)
{
    size_t cap = 0;
    for (;;) {
        sx_logql_label_fmt_t f;
        memset(&f, 0, sizeof(f));
        f.dst = expect_ident(p, "IDENTIFIER");
        expect(p, LT_EQ, "=");
        if (p->tok.type == LT_IDENT) {
            f.value = tok_text(p, &p->tok);
            f.rename = true;
            advance(p);
        } else {
            f.value = expect_string(p, "IDENTIFIER or STRING");
        }
        PUSH(p, st->label_fmt.f, st->label_fmt.n, cap, f);
        if (p->tok.type != LT_COMMA)
            return;
        advance(p);
    }
}

static bool label_name_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!(alpha || (i > 0 && c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

typedef struct group_name {
    uint32_t group;
    sx_str_t name;
} group_name_t;

static int cmp_group(const void *a, const void *b)
{
    uint32_t x = ((const group_name_t *)a)->group, y = ((const group_name_t *)b)->group;
    return (x > y) - (x < y);
}

/* `| regexp "re"`: Loki's NewRegexpParser checks, as parse errors. */
static void parse_regexp_stage(parser_t *p, sx_logql_stage_t *st)
{
    st->kind = SX_LQ_STAGE_REGEXP;
    st->regexp.expr = expect_string(p, "STRING");
    char msg[320];
    /* Go's regexp accepts a name twice; Loki then refuses it itself. */
    pcre2_code *re = re_compile_opts(p, st->regexp.expr.ptr, st->regexp.expr.len,
                                     st->regexp.expr, PCRE2_DUPNAMES, msg, sizeof(msg));
    st->regexp.re = re;
    if (p->syntax_only)
        return;
    if (!re)
        fail_plain(p, "invalid regexp parser: %s", msg);
    uint32_t ncap = 0, nnames = 0, esz = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ncap);
    pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &nnames);
    pcre2_pattern_info(re, PCRE2_INFO_NAMEENTRYSIZE, &esz);
    pcre2_pattern_info(re, PCRE2_INFO_NAMETABLE, &table);
    if (ncap == 0 || nnames == 0)
        fail_plain(p, "invalid regexp parser: at least one named capture must be supplied");
    group_name_t *g = alloc(p, nnames * sizeof(*g));
    for (uint32_t i = 0; i < nnames; i++) {
        PCRE2_SPTR e = table + (size_t)i * esz;
        const char *name = (const char *)e + 2;
        g[i].group = ((uint32_t)e[0] << 8) | e[1];
        g[i].name = dup(p, name, strlen(name));
    }
    /* Loki's checks, in group order. */
    qsort(g, nnames, sizeof(*g), cmp_group);
    for (uint32_t i = 0; i < nnames; i++) {
        if (!label_name_ok(g[i].name.ptr, g[i].name.len))
            fail_plain(p, "invalid regexp parser: invalid extracted label name '%s'",
                       g[i].name.ptr);
        for (uint32_t j = 0; j < i; j++)
            if (sx_str_eq(g[i].name, g[j].name))
                fail_plain(p, "invalid regexp parser: duplicate extracted label name '%s'",
                           g[i].name.ptr);
    }
    st->regexp.names = alloc(p, nnames * sizeof(sx_str_t));
    st->regexp.groups = alloc(p, nnames * sizeof(uint32_t));
    for (uint32_t i = 0; i < nnames; i++) {
        st->regexp.names[i] = g[i].name;
        st->regexp.groups[i] = g[i].group;
    }
    st->regexp.nnames = nnames;
}

/* `| pattern "..."`: Loki's pattern syntax and checks. A capture is
 * <name> with name [A-Za-z_][A-Za-z0-9_]*; anything else is literal. */
static void check_pattern(parser_t *p, sx_str_t s)
{
    if (p->syntax_only)
        return;
    if (s.len == 0)
        fail_plain(p, "invalid pattern parser: syntax error: unexpected $end, "
                      "expecting IDENTIFIER or LITERAL");
    typedef struct node {
        size_t off, len; /* the name, for captures */
        bool capture;
    } node_t;
    node_t *nodes = alloc(p, (s.len + 1) * sizeof(*nodes));
    size_t nn = 0;
    for (size_t i = 0; i < s.len;) {
        if (s.ptr[i] == '<' && i + 2 < s.len) {
            size_t j = i + 1;
            char c = s.ptr[j];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
                j++;
                while (j < s.len && ((s.ptr[j] >= 'a' && s.ptr[j] <= 'z') ||
                                     (s.ptr[j] >= 'A' && s.ptr[j] <= 'Z') ||
                                     (s.ptr[j] >= '0' && s.ptr[j] <= '9') || s.ptr[j] == '_'))
                    j++;
                if (j < s.len && s.ptr[j] == '>') {
                    nodes[nn++] = (node_t){i + 1, j - i - 1, true};
                    i = j + 1;
                    continue;
                }
            }
        }
        if (nn == 0 || nodes[nn - 1].capture)
            nodes[nn++] = (node_t){i, 0, false};
        i++;
    }
    bool named = false;
    for (size_t i = 0; i < nn; i++)
        if (nodes[i].capture && !(nodes[i].len == 1 && s.ptr[nodes[i].off] == '_'))
            named = true;
    if (!named)
        fail_plain(p, "invalid pattern parser: at least one capture is required");
    for (size_t i = 0; i + 1 < nn; i++) {
        if (nodes[i].capture && nodes[i + 1].capture)
            fail_plain(p, "invalid pattern parser: found consecutive capture '<%.*s><%.*s>': "
                          "invalid expression",
                       (int)nodes[i].len, s.ptr + nodes[i].off, (int)nodes[i + 1].len,
                       s.ptr + nodes[i + 1].off);
    }
    for (size_t i = 0; i < nn; i++) {
        if (!nodes[i].capture || (nodes[i].len == 1 && s.ptr[nodes[i].off] == '_'))
            continue;
        for (size_t j = 0; j < i; j++)
            if (nodes[j].capture && nodes[j].len == nodes[i].len &&
                memcmp(s.ptr + nodes[j].off, s.ptr + nodes[i].off, nodes[i].len) == 0)
                fail_plain(p, "invalid pattern parser: duplicate capture name (%.*s): invalid "
                              "expression",
                           (int)nodes[i].len, s.ptr + nodes[i].off);
    }
}

/* `| unwrap [conv(]label[)]` and the label filters after it. */
static void parse_unwrap(parser_t *p, pipe_t *pp)
{
    advance(p); /* unwrap */
    sx_logql_unwrap_t *u = &pp->unwrap;
    pp->has_unwrap = true;
    switch (p->tok.type) {
    case LT_IDENT:
        u->conv = SX_LQ_UNWRAP_FLOAT;
        u->label = tok_text(p, &p->tok);
        advance(p);
        break;
    case LT_BYTES_CONV:
    case LT_DURATION_CONV:
    case LT_DURATION_SECONDS_CONV:
        u->conv = p->tok.type == LT_BYTES_CONV      ? SX_LQ_UNWRAP_BYTES
                  : p->tok.type == LT_DURATION_CONV ? SX_LQ_UNWRAP_DURATION
                                                    : SX_LQ_UNWRAP_DURATION_SECONDS;
        advance(p);
        expect(p, LT_LPAREN, "(");
        u->label = expect_ident(p, "IDENTIFIER");
        expect(p, LT_RPAREN, ")");
        break;
    default:
        unexpected(p, "IDENTIFIER or BYTES_CONV or DURATION_CONV or DURATION_SECONDS_CONV");
    }
    size_t cap = 0;
    while (p->tok.type == LT_PIPE) {
        advance(p);
        if (p->tok.type != LT_IDENT && p->tok.type != LT_LPAREN)
            unexpected(p, NULL);
        uint32_t d;
        sx_logql_lfilter_t *f = parse_lfilter(p, &d);
        PUSH(p, u->post, u->npost, cap, f);
    }
}

/* Stages while they come; an unwrap (allowed only for range
 * aggregations) ends the pipeline. */
static void parse_pipeline(parser_t *p, pipe_t *pp, bool allow_unwrap)
{
    while (is_stage_start(p->tok.type)) {
        sx_logql_stage_t st;
        memset(&st, 0, sizeof(st));
        st.pos = p->tok.pos;
        if (is_line_filter(p->tok.type)) {
            parse_line_filter(p, &st);
            PUSH(p, pp->stages, pp->n, pp->cap, st);
            continue;
        }
        advance(p); /* | */
        switch (p->tok.type) {
        case LT_JSON:
            st.kind = SX_LQ_STAGE_JSON;
            advance(p);
            if (p->tok.type == LT_IDENT)
                parse_extract_list(p, &st);
            break;
        case LT_LOGFMT:
            st.kind = SX_LQ_STAGE_LOGFMT;
            advance(p);
            while (p->tok.type == LT_FLAG) {
                if (p->tok.len == 8)
                    st.parser.strict = true;
                else
                    st.parser.keep_empty = true;
                advance(p);
            }
            if (p->tok.type == LT_IDENT)
                parse_extract_list(p, &st);
            break;
        case LT_REGEXP:
            advance(p);
            parse_regexp_stage(p, &st);
            break;
        case LT_PATTERN:
            advance(p);
            st.kind = SX_LQ_STAGE_PATTERN;
            st.pattern = expect_string(p, "STRING");
            check_pattern(p, st.pattern);
            break;
        case LT_UNPACK:
            st.kind = SX_LQ_STAGE_UNPACK;
            advance(p);
            break;
        case LT_LINE_FMT:
            advance(p);
            st.kind = SX_LQ_STAGE_LINE_FORMAT;
            st.tmpl = expect_string(p, "STRING");
            break;
        case LT_LABEL_FMT:
            advance(p);
            st.kind = SX_LQ_STAGE_LABEL_FORMAT;
            parse_label_format(p, &st);
            break;
        case LT_DECOLORIZE:
            st.kind = SX_LQ_STAGE_DECOLORIZE;
            advance(p);
            break;
        case LT_DROP:
        case LT_KEEP:
            st.kind = p->tok.type == LT_DROP ? SX_LQ_STAGE_DROP : SX_LQ_STAGE_KEEP;
            advance(p);
            parse_named_list(p, &st);
            break;
        case LT_UNWRAP:
            if (!allow_unwrap)
                unexpected(p, NULL);
            parse_unwrap(p, pp);
            return;
        case LT_IDENT:
        case LT_LPAREN: {
            uint32_t d;
            st.kind = SX_LQ_STAGE_LABEL_FILTER;
            st.filter = parse_lfilter(p, &d);
            break;
        }
        default:
            unexpected(p, NULL);
        }
        PUSH(p, pp->stages, pp->n, pp->cap, st);
    }
}

/* {name op "value", ...}; an empty selector passes the grammar (the
 * validation pass rejects it). */
static void parse_selector(parser_t *p, sx_logql_expr_t *e)
{
    advance(p); /* { */
    if (p->tok.type == LT_RBRACE) {
        advance(p);
        return;
    }
    size_t cap = 0;
    bool first = true;
    for (;;) {
        if (p->tok.type != LT_IDENT)
            unexpected(p, first ? "IDENTIFIER or }" : "IDENTIFIER");
        first = false;
        sx_matcher_t m;
        memset(&m, 0, sizeof(m));
        m.name = tok_text(p, &p->tok);
        advance(p);
        switch (p->tok.type) {
        case LT_EQ: m.op = SX_MATCH_EQ; break;
        case LT_NEQ: m.op = SX_MATCH_NEQ; break;
        case LT_RE: m.op = SX_MATCH_RE; break;
        case LT_NRE: m.op = SX_MATCH_NRE; break;
        default: unexpected(p, "= or =~ or !~ or !=");
        }
        advance(p);
        m.value = expect_string(p, "STRING");
        matcher_compile(p, &m);
        PUSH(p, e->log.matchers, e->log.nmatchers, cap, m);
        if (p->tok.type == LT_COMMA) {
            advance(p);
            continue;
        }
        if (p->tok.type == LT_RBRACE) {
            advance(p);
            return;
        }
        unexpected(p, "} or ,");
    }
}

/* A selector and the pipeline after it. */
static sx_logql_expr_t *parse_log(parser_t *p, pipe_t *pp, bool allow_unwrap)
{
    sx_logql_expr_t *e = new_expr(p, SX_LQ_EXPR_LOG, p->tok.pos);
    parse_selector(p, e);
    parse_pipeline(p, pp, allow_unwrap);
    e->log.stages = pp->stages;
    e->log.nstages = pp->n;
    return e;
}

/* ---- Metric expressions ---- */

static sx_logql_expr_t *parse_expr(parser_t *p, int minprec);

static void parse_label_list(parser_t *p, sx_str_t **out, size_t *n)
{
    expect(p, LT_LPAREN, "(");
    size_t cap = 0;
    if (p->tok.type == LT_RPAREN) {
        advance(p);
        return;
    }
    bool first = true;
    for (;;) {
        sx_str_t l = expect_ident(p, first ? "IDENTIFIER or )" : "IDENTIFIER");
        first = false;
        PUSH(p, *out, *n, cap, l);
        if (p->tok.type == LT_COMMA) {
            advance(p);
            continue;
        }
        expect(p, LT_RPAREN, ", or )");
        return;
    }
}

static sx_logql_grouping_t *parse_grouping(parser_t *p)
{
    sx_logql_grouping_t *g = alloc(p, sizeof(*g));
    g->without = p->tok.type == LT_WITHOUT;
    advance(p);
    parse_label_list(p, &g->labels, &g->nlabels);
    return g;
}

typedef struct lrange {
    sx_logql_expr_t *sel;
    pipe_t pipe;
    int64_t range_ns;
    sx_str_t range_raw;
    int64_t offset_ns;
    sx_str_t offset_raw;
} lrange_t;

static void take_range(parser_t *p, lrange_t *lr)
{
    if (p->tok.type != LT_RANGE)
        unexpected(p, NULL);
    lr->range_ns = p->tok.ns;
    lr->range_raw = dup(p, p->in + p->tok.pos + 1, p->tok.len - 2);
    advance(p);
    if (p->tok.type == LT_OFFSET) {
        advance(p);
        if (p->tok.type != LT_DURATION)
            unexpected(p, "DURATION");
        lr->offset_ns = p->tok.ns;
        lr->offset_raw = tok_text(p, &p->tok);
        advance(p);
    }
}

/* The forms of Loki's logRangeExpr: a selector with its pipeline and
 * unwrap before or after [range] (a pipeline after the range only when
 * none came before, and only without parentheses), optionally wrapped
 * in parentheses around the part before the range or around it all. */
static void parse_log_range(parser_t *p, lrange_t *lr)
{
    enter(p);
    if (p->tok.type == LT_LPAREN) {
        advance(p);
        if (p->tok.type == LT_LPAREN) {
            parse_log_range(p, lr);
            expect(p, LT_RPAREN, NULL);
        } else if (p->tok.type == LT_LBRACE) {
            lr->sel = parse_log(p, &lr->pipe, true);
            if (p->tok.type == LT_RANGE) {
                /* The whole log range inside the parentheses. */
                bool before = lr->pipe.n > 0 || lr->pipe.has_unwrap;
                take_range(p, lr);
                if (!before)
                    parse_pipeline(p, &lr->pipe, true);
                expect(p, LT_RPAREN, NULL);
            } else {
                expect(p, LT_RPAREN, NULL);
                take_range(p, lr);
                if (lr->pipe.n == 0 && !lr->pipe.has_unwrap && p->tok.type == LT_PIPE) {
                    advance(p);
                    if (p->tok.type != LT_UNWRAP)
                        unexpected(p, "unwrap");
                    parse_unwrap(p, &lr->pipe);
                }
            }
        } else {
            unexpected(p, NULL);
        }
    } else if (p->tok.type == LT_LBRACE) {
        lr->sel = parse_log(p, &lr->pipe, true);
        bool before = lr->pipe.n > 0 || lr->pipe.has_unwrap;
        take_range(p, lr);
        if (!before)
            parse_pipeline(p, &lr->pipe, true);
    } else {
        unexpected(p, NULL);
    }
    lr->sel->log.stages = lr->pipe.stages;
    lr->sel->log.nstages = lr->pipe.n;
    leave(p);
}

static const char *range_name(int op)
{
    return sx_logql_range_op_name(op);
}

/* Loki's RangeAggregationExpr checks, in its order. */
static const char *range_check(parser_t *p, const sx_logql_expr_t *e)
{
    int op = e->range.op;
    const char *name = range_name(op);
    if (e->range.param) {
        if (op != SX_LQ_RANGE_QUANTILE_OVER_TIME)
            return arena_printf(p, "parameter %.*s not supported for operation %s",
                                (int)e->range.param->raw.len, e->range.param->raw.ptr, name);
        double v;
        int rc = sx_lqp__parse_float(e->range.param->raw.ptr, e->range.param->raw.len, &v);
        if (rc != 1)
            return arena_printf(p, "invalid parameter for operation %s: %s", name,
                                float_err(p, e->range.param->raw, rc));
    } else if (op == SX_LQ_RANGE_QUANTILE_OVER_TIME) {
        return arena_printf(p, "parameter required for operation %s", name);
    }
    if (e->range.grouping) {
        switch (op) {
        case SX_LQ_RANGE_AVG_OVER_TIME: case SX_LQ_RANGE_STDDEV_OVER_TIME:
        case SX_LQ_RANGE_STDVAR_OVER_TIME: case SX_LQ_RANGE_QUANTILE_OVER_TIME:
        case SX_LQ_RANGE_MAX_OVER_TIME: case SX_LQ_RANGE_MIN_OVER_TIME:
        case SX_LQ_RANGE_FIRST_OVER_TIME: case SX_LQ_RANGE_LAST_OVER_TIME:
            break;
        default:
            return arena_printf(p, "grouping not allowed for %s aggregation", name);
        }
    }
    if (e->range.has_unwrap) {
        switch (op) {
        case SX_LQ_RANGE_AVG_OVER_TIME: case SX_LQ_RANGE_SUM_OVER_TIME:
        case SX_LQ_RANGE_MAX_OVER_TIME: case SX_LQ_RANGE_MIN_OVER_TIME:
        case SX_LQ_RANGE_STDDEV_OVER_TIME: case SX_LQ_RANGE_STDVAR_OVER_TIME:
        case SX_LQ_RANGE_QUANTILE_OVER_TIME: case SX_LQ_RANGE_RATE:
        case SX_LQ_RANGE_RATE_COUNTER: case SX_LQ_RANGE_ABSENT_OVER_TIME:
        case SX_LQ_RANGE_FIRST_OVER_TIME: case SX_LQ_RANGE_LAST_OVER_TIME:
            return NULL;
        default:
            return arena_printf(p, "invalid aggregation %s with unwrap", name);
        }
    }
    switch (op) {
    case SX_LQ_RANGE_BYTES_OVER_TIME: case SX_LQ_RANGE_BYTES_RATE:
    case SX_LQ_RANGE_COUNT_OVER_TIME: case SX_LQ_RANGE_RATE:
    case SX_LQ_RANGE_ABSENT_OVER_TIME:
        return NULL;
    default:
        return arena_printf(p, "invalid aggregation %s without unwrap", name);
    }
}

static sx_logql_expr_t *parse_range_agg(parser_t *p)
{
    sx_logql_expr_t *e = new_expr(p, SX_LQ_EXPR_RANGE_AGG, p->tok.pos);
    e->range.op = p->tok.type - LT_RANGE_FIRST;
    advance(p);
    expect(p, LT_LPAREN, "(");
    if (p->tok.type == LT_NUMBER) {
        int rc;
        e->range.param = alloc(p, sizeof(*e->range.param));
        *e->range.param = number_of(p, &p->tok, false, &rc);
        advance(p);
        expect(p, LT_COMMA, ",");
    }
    lrange_t lr;
    memset(&lr, 0, sizeof(lr));
    parse_log_range(p, &lr);
    expect(p, LT_RPAREN, NULL);
    if (p->tok.type == LT_BY || p->tok.type == LT_WITHOUT)
        e->range.grouping = parse_grouping(p);
    e->range.sel = lr.sel;
    e->range.range_ns = lr.range_ns;
    e->range.range_raw = lr.range_raw;
    e->range.offset_ns = lr.offset_ns;
    e->range.offset_raw = lr.offset_raw;
    e->range.has_unwrap = lr.pipe.has_unwrap;
    e->range.unwrap = lr.pipe.unwrap;
    e->_err = range_check(p, e);
    return e;
}

static bool vec_takes_k(int op)
{
    return op == SX_LQ_VEC_TOPK || op == SX_LQ_VEC_BOTTOMK || op == SX_LQ_VEC_APPROX_TOPK;
}

static sx_logql_expr_t *parse_vector_agg(parser_t *p)
{
    sx_logql_expr_t *e = new_expr(p, SX_LQ_EXPR_VECTOR_AGG, p->tok.pos);
    int op = e->vec.op = p->tok.type - LT_VEC_FIRST;
    const char *name = sx_logql_vector_op_name(op);
    advance(p);
    bool before = false;
    if (p->tok.type == LT_BY || p->tok.type == LT_WITHOUT) {
        e->vec.grouping = parse_grouping(p);
        before = true;
    }
    expect(p, LT_LPAREN, "(");
    if (p->tok.type == LT_NUMBER && peek_type(p) == LT_COMMA) {
        int rc;
        e->vec.param = alloc(p, sizeof(*e->vec.param));
        *e->vec.param = number_of(p, &p->tok, false, &rc);
        advance(p);
        advance(p);
    }
    sx_logql_expr_t *x = parse_expr(p, 0);
    if (x->kind == SX_LQ_EXPR_LOG)
        unexpected(p, NULL);
    e->vec.expr = x;
    expect(p, LT_RPAREN, NULL);
    if (!before && (p->tok.type == LT_BY || p->tok.type == LT_WITHOUT))
        e->vec.grouping = parse_grouping(p);
    e->_depth = x->_depth + 1;
    check_depth(p, e->_depth, &p->tok);
    /* Loki's mustNewVectorAggregationExpr checks. */
    if (vec_takes_k(op)) {
        if (!e->vec.param) {
            e->_err = arena_printf(p, "parameter required for operation %s", name);
        } else {
            sx_str_t raw = e->vec.param->raw;
            if (!go_atoi(raw, &e->vec.k))
                e->_err = arena_printf(p, "invalid parameter %s(%.*s,", name, (int)raw.len,
                                       raw.ptr);
            else if (e->vec.k <= 0)
                e->_err = arena_printf(p, "invalid parameter (must be greater than 0) %s(%.*s",
                                       name, (int)raw.len, raw.ptr);
            else if (op == SX_LQ_VEC_APPROX_TOPK && e->vec.grouping)
                e->_err = arena_printf(p, "grouping not allowed for %s aggregation", name);
        }
    } else if (e->vec.param) {
        e->_err = arena_printf(p, "unsupported parameter for operation %s(%.*s,", name,
                               (int)e->vec.param->raw.len, e->vec.param->raw.ptr);
    }
    return e;
}

static sx_logql_expr_t *parse_label_replace(parser_t *p)
{
    sx_logql_expr_t *e = new_expr(p, SX_LQ_EXPR_LABEL_REPLACE, p->tok.pos);
    advance(p);
    expect(p, LT_LPAREN, "(");
    sx_logql_expr_t *x = parse_expr(p, 0);
    if (x->kind == SX_LQ_EXPR_LOG)
        unexpected(p, NULL);
    e->lrep.expr = x;
    expect(p, LT_COMMA, ",");
    e->lrep.dst = expect_string(p, "STRING");
    expect(p, LT_COMMA, ",");
    e->lrep.replacement = expect_string(p, "STRING");
    expect(p, LT_COMMA, ",");
    e->lrep.src = expect_string(p, "STRING");
    expect(p, LT_COMMA, ",");
    e->lrep.regex = expect_string(p, "STRING");
    expect(p, LT_RPAREN, ")");
    e->_depth = x->_depth + 1;
    check_depth(p, e->_depth, &p->tok);
    size_t n = e->lrep.regex.len + 8;
    char *pat = alloc(p, n);
    memcpy(pat, "^(?:", 4);
    memcpy(pat + 4, e->lrep.regex.ptr, e->lrep.regex.len);
    memcpy(pat + 4 + e->lrep.regex.len, ")$", 2);
    char msg[320];
    e->lrep.re = re_compile(p, pat, e->lrep.regex.len + 6, e->lrep.regex, msg, sizeof(msg));
    if (!e->lrep.re)
        e->_err = arena_printf(p, "invalid regex in label_replace: %s", msg);
    return e;
}

static sx_logql_expr_t *number_literal(parser_t *p, bool neg, uint32_t pos)
{
    sx_logql_expr_t *e = new_expr(p, SX_LQ_EXPR_NUMBER, pos);
    int rc;
    e->num = number_of(p, &p->tok, neg, &rc);
    if (rc != 1)
        e->_err = arena_printf(p, "unable to parse literal as a float: %s",
                               float_err(p, e->num.raw, rc));
    advance(p);
    return e;
}

static sx_logql_expr_t *parse_primary(parser_t *p)
{
    switch (p->tok.type) {
    case LT_NUMBER:
        return number_literal(p, false, p->tok.pos);
    case LT_ADD:
    case LT_SUB: {
        uint32_t pos = p->tok.pos;
        bool neg = p->tok.type == LT_SUB;
        advance(p);
        if (p->tok.type != LT_NUMBER)
            unexpected(p, "NUMBER");
        return number_literal(p, neg, pos);
    }
    case LT_LPAREN: {
        enter(p);
        advance(p);
        sx_logql_expr_t *e = parse_expr(p, 0);
        expect(p, LT_RPAREN, NULL);
        leave(p);
        return e;
    }
    case LT_LBRACE: {
        pipe_t pp;
        memset(&pp, 0, sizeof(pp));
        return parse_log(p, &pp, false);
    }
    case LT_VECTOR: {
        sx_logql_expr_t *e = new_expr(p, SX_LQ_EXPR_VECTOR, p->tok.pos);
        advance(p);
        expect(p, LT_LPAREN, "(");
        if (p->tok.type != LT_NUMBER)
            unexpected(p, "NUMBER");
        int rc;
        e->num = number_of(p, &p->tok, false, &rc);
        if (rc != 1)
            e->_err = arena_printf(p, "unable to parse vectorExpr as a float: %s",
                                   float_err(p, e->num.raw, rc));
        advance(p);
        expect(p, LT_RPAREN, ")");
        return e;
    }
    case LT_LABEL_REPLACE:
        return parse_label_replace(p);
    case LT_VARIANTS:
        fail_plain(p, "multi variant queries are disabled for this instance");
    default:
        if (p->tok.type >= LT_RANGE_FIRST && p->tok.type <= LT_RANGE_LAST)
            return parse_range_agg(p);
        if (p->tok.type >= LT_VEC_FIRST && p->tok.type <= LT_VEC_LAST)
            return parse_vector_agg(p);
        unexpected(p, NULL);
    }
}

static bool binop_of(int type, int *op, int *prec)
{
    switch (type) {
    case LT_OR: *op = SX_LQ_BIN_OR, *prec = 1; return true;
    case LT_AND: *op = SX_LQ_BIN_AND, *prec = 2; return true;
    case LT_UNLESS: *op = SX_LQ_BIN_UNLESS, *prec = 2; return true;
    case LT_CMP_EQ: *op = SX_LQ_BIN_EQ, *prec = 3; return true;
    case LT_NEQ: *op = SX_LQ_BIN_NE, *prec = 3; return true;
    case LT_GT: *op = SX_LQ_BIN_GT, *prec = 3; return true;
    case LT_GTE: *op = SX_LQ_BIN_GE, *prec = 3; return true;
    case LT_LT: *op = SX_LQ_BIN_LT, *prec = 3; return true;
    case LT_LTE: *op = SX_LQ_BIN_LE, *prec = 3; return true;
    case LT_ADD: *op = SX_LQ_BIN_ADD, *prec = 4; return true;
    case LT_SUB: *op = SX_LQ_BIN_SUB, *prec = 4; return true;
    case LT_MUL: *op = SX_LQ_BIN_MUL, *prec = 5; return true;
    case LT_DIV: *op = SX_LQ_BIN_DIV, *prec = 5; return true;
    case LT_MOD: *op = SX_LQ_BIN_MOD, *prec = 5; return true;
    case LT_POW: *op = SX_LQ_BIN_POW, *prec = 6; return true;
    default: return false;
    }
}

static bool is_set_op(int op)
{
    return op == SX_LQ_BIN_OR || op == SX_LQ_BIN_AND || op == SX_LQ_BIN_UNLESS;
}

/* Loki's MergeBinOp on two literals (no filtering, not vector-wise). */
static double fold(int op, double l, double r)
{
    switch (op) {
    case SX_LQ_BIN_ADD: return l + r;
    case SX_LQ_BIN_SUB: return l - r;
    case SX_LQ_BIN_MUL: return l * r;
    case SX_LQ_BIN_DIV: return r == 0 ? NAN : l / r;
    case SX_LQ_BIN_MOD: return r == 0 ? NAN : fmod(l, r);
    case SX_LQ_BIN_POW: return pow(l, r);
    case SX_LQ_BIN_EQ: return l == r;
    case SX_LQ_BIN_NE: return l != r;
    case SX_LQ_BIN_GT: return l > r;
    case SX_LQ_BIN_GE: return l >= r;
    case SX_LQ_BIN_LT: return l < r;
    case SX_LQ_BIN_LE: return l <= r;
    default: return NAN;
    }
}

/* Go's %f: +Inf, -Inf and NaN spelled out. */
static const char *go_f(parser_t *p, double v)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    return arena_printf(p, "%f", v);
}

static const char *go_type(const sx_logql_expr_t *e)
{
    return e->log.nstages ? "*syntax.PipelineExpr" : "*syntax.MatchersExpr";
}

/* Loki's mustNewBinOpExpr: type checks are deferred, literals fold. */
static sx_logql_expr_t *make_binary(parser_t *p, int op, bool rb, sx_logql_matching_t *match,
                                    sx_logql_expr_t *l, sx_logql_expr_t *r, const lq_token_t *at)
{
    const char *name = sx_logql_bin_op_name(op);
    sx_logql_expr_t *e = new_expr(p, SX_LQ_EXPR_BINARY, l->pos);
    e->bin.op = op;
    e->bin.return_bool = rb;
    e->bin.match = match;
    e->bin.lhs = l;
    e->bin.rhs = r;
    e->_depth = 1 + (l->_depth > r->_depth ? l->_depth : r->_depth);
    check_depth(p, e->_depth, at);
    if (l->kind == SX_LQ_EXPR_LOG) {
        e->_err = arena_printf(p, "unexpected type for left leg of binary operation (%s): %s",
                               name, go_type(l));
        return e;
    }
    if (r->kind == SX_LQ_EXPR_LOG) {
        e->_err = arena_printf(p, "unexpected type for right leg of binary operation (%s): %s",
                               name, go_type(r));
        return e;
    }
    bool ll = l->kind == SX_LQ_EXPR_NUMBER, rl = r->kind == SX_LQ_EXPR_NUMBER;
    if (ll && l->_err) {
        e->_err = l->_err;
        return e;
    }
    if (rl && r->_err) {
        e->_err = r->_err;
        return e;
    }
    if (is_set_op(op)) {
        if (ll) {
            e->_err = arena_printf(p, "unexpected literal for left leg of logical/set binary "
                                      "operation (%s): %s", name, go_f(p, l->num.value));
            return e;
        }
        if (rl) {
            e->_err = arena_printf(p, "unexpected literal for right leg of logical/set binary "
                                      "operation (%s): %s", name, go_f(p, r->num.value));
            return e;
        }
    }
    if (ll && rl) {
        sx_logql_expr_t *f = new_expr(p, SX_LQ_EXPR_NUMBER, l->pos);
        f->num.value = fold(op, l->num.value, r->num.value);
        f->num.raw = dup(p, "", 0);
        return f;
    }
    return e;
}

static sx_logql_matching_t *parse_matching(parser_t *p)
{
    sx_logql_matching_t *m = alloc(p, sizeof(*m));
    m->on = p->tok.type == LT_ON;
    advance(p);
    parse_label_list(p, &m->labels, &m->nlabels);
    if (p->tok.type == LT_GROUP_LEFT || p->tok.type == LT_GROUP_RIGHT) {
        m->card = p->tok.type == LT_GROUP_LEFT ? SX_LQ_CARD_MANY_TO_ONE : SX_LQ_CARD_ONE_TO_MANY;
        advance(p);
        if (p->tok.type == LT_LPAREN)
            parse_label_list(p, &m->include, &m->ninclude);
    }
    return m;
}

/* Precedence climbing over Loki's operator table (or < and/unless <
 * comparisons < + - < * / % < ^, ^ right-associative). */
static sx_logql_expr_t *parse_expr(parser_t *p, int minprec)
{
    enter(p);
    sx_logql_expr_t *lhs = parse_primary(p);
    int op, prec;
    while (binop_of(p->tok.type, &op, &prec) && prec >= minprec) {
        lq_token_t at = p->tok;
        advance(p);
        bool rb = false;
        sx_logql_matching_t *m = NULL;
        if (p->tok.type == LT_BOOL) {
            rb = true;
            advance(p);
        }
        if (p->tok.type == LT_ON || p->tok.type == LT_IGNORING)
            m = parse_matching(p);
        sx_logql_expr_t *rhs = parse_expr(p, op == SX_LQ_BIN_POW ? prec : prec + 1);
        lhs = make_binary(p, op, rb, m, lhs, rhs, &at);
    }
    leave(p);
    return lhs;
}

/* ---- Validation (Loki's validateExpr, outer nodes first) ---- */

static void check_matchers(parser_t *p, const sx_logql_expr_t *sel)
{
    for (size_t i = 0; i < sel->log.nmatchers; i++)
        if (!sx_matcher_matches(&sel->log.matchers[i], SX_STR_LIT("")))
            return;
    fail_plain(p, "%s", ERR_NEED_MATCHER);
}

static void validate(parser_t *p, const sx_logql_expr_t *e)
{
    if (e->_err)
        fail_plain(p, "%s", e->_err);
    switch (e->kind) {
    case SX_LQ_EXPR_LOG:
        if (!p->no_validate)
            check_matchers(p, e);
        break;
    case SX_LQ_EXPR_RANGE_AGG:
        if (!p->no_validate)
            check_matchers(p, e->range.sel);
        break;
    case SX_LQ_EXPR_VECTOR_AGG:
        if (!p->no_validate && (e->vec.op == SX_LQ_VEC_SORT || e->vec.op == SX_LQ_VEC_SORT_DESC) &&
            e->vec.grouping && e->vec.grouping->nlabels > 0)
            fail_plain(p, "sort and sort_desc doesn't allow grouping by ");
        validate(p, e->vec.expr);
        break;
    case SX_LQ_EXPR_BINARY:
        validate(p, e->bin.lhs);
        validate(p, e->bin.rhs);
        break;
    case SX_LQ_EXPR_LABEL_REPLACE: {
        /* Loki checks the selector at the left end of the operand: one of
         * literals alone has none. */
        const sx_logql_expr_t *x = e->lrep.expr;
        for (;;) {
            if (x->kind == SX_LQ_EXPR_VECTOR_AGG)
                x = x->vec.expr;
            else if (x->kind == SX_LQ_EXPR_BINARY)
                x = x->bin.lhs;
            else if (x->kind == SX_LQ_EXPR_LABEL_REPLACE)
                x = x->lrep.expr;
            else
                break;
        }
        if (x->kind == SX_LQ_EXPR_NUMBER || x->kind == SX_LQ_EXPR_VECTOR) {
            if (x->_err)
                fail_plain(p, "%s", x->_err);
            if (!p->no_validate)
                fail_plain(p, "%s", ERR_NEED_MATCHER);
        }
        validate(p, e->lrep.expr);
        break;
    }
    default:
        break;
    }
}

/* ---- Interface ---- */

static void release(void **codes, size_t ncodes, void **mres, size_t nmres)
{
    for (size_t i = 0; i < ncodes; i++)
        pcre2_code_free(codes[i]);
    for (size_t i = 0; i < nmres; i++)
        dispose_matcher_re(mres[i]);
}

sx_logql_expr_t *sx_logql_parse(const char *q, size_t len, sx_arena_t *a, sx_err_t *err)
{
    return sx_logql_parse_ex(q, len, 0, a, err);
}

sx_logql_expr_t *sx_logql_parse_ex(const char *q, size_t len, unsigned flags, sx_arena_t *a,
                                   sx_err_t *err)
{
    if (len >= SX_LOGQL_MAX_QUERY && !(flags & SX_LOGQL_PARSE_NO_SIZE_LIMIT)) {
        sx_err_set(err, SX_EPARSE, "parse error : input size too long (%zu > %d)", len,
                   SX_LOGQL_MAX_QUERY);
        return NULL;
    }
    if (len >= UINT32_MAX / 2) {
        sx_err_set(err, SX_ETOOLARGE, "query is too long");
        return NULL;
    }
    parser_t *p = sx_arena_calloc(a, 1, sizeof(*p));
    if (!p) {
        sx_err_set(err, SX_ELIMIT, "cannot parse query: out of query memory");
        return NULL;
    }
    p->in = len ? q : "";
    p->n = (uint32_t)len;
    p->a = a;
    p->err = err;
    p->syntax_only = flags & SX_LOGQL_PARSE_SYNTAX_ONLY;
    p->no_validate = p->syntax_only || (flags & SX_LOGQL_PARSE_NO_VALIDATE);
    sx_lqp__lex_init(&p->lx, p->in, p->n, a);
    if (setjmp(p->jb)) {
        release(p->codes, p->ncodes, p->mres, p->nmres);
        return NULL;
    }
    advance(p);
    sx_logql_expr_t *e = parse_expr(p, 0);
    if (p->tok.type != LT_EOF)
        unexpected(p, NULL);
    if (!p->syntax_only) {
        validate(p, e);
        if (p->late_err)
            fail_plain(p, "%s", p->late_err);
    }
    e->_codes = p->codes;
    e->_ncodes = p->ncodes;
    e->_mres = p->mres;
    e->_nmres = p->nmres;
    return e;
}

void sx_logql_expr_dispose(sx_logql_expr_t *e)
{
    if (!e)
        return;
    release(e->_codes, e->_ncodes, e->_mres, e->_nmres);
    e->_codes = e->_mres = NULL;
    e->_ncodes = e->_nmres = 0;
}

bool sx_logql_is_metric(const sx_logql_expr_t *e)
{
    return e && e->kind != SX_LQ_EXPR_LOG;
}

static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_free(void *m)
{
    pcre2_match_data_free(m);
}

static void md_init(void)
{
    pthread_key_create(&md_key, md_free);
}

bool sx_logql_re_search(const void *re, const char *s, size_t n)
{
    pthread_once(&md_once, md_init);
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (!md) {
        md = pcre2_match_data_create(16, NULL);
        if (!md)
            return false;
        pthread_setspecific(md_key, md);
    }
    int rc = pcre2_match((const pcre2_code *)re, (PCRE2_SPTR)(n ? s : ""), n, 0, 0, md, NULL);
    return rc >= 0;
}
