/* SPDX-License-Identifier: Apache-2.0 */
/* TraceQL evaluation. Field expressions are evaluated on one span at a
 * time with three-valued logic: while the store is scanned span by span,
 * trace-level fields are unknown, and a span passes the prefilter unless
 * its condition is certainly false. Spanset expressions are evaluated on a
 * whole trace as sets of span indexes (one byte per span), with Tempo's
 * semantics: a spanset with no spans is no match, `&&` needs both sides
 * and returns both sides' spans, structural operators return right-side
 * spans, pipeline stages work within the previous stage's spans.
 * Comparisons follow Tempo too: operands of different types (a string
 * attribute against a number) and absent attributes compare false, except
 * against the nil literal; an array attribute matches = when any element
 * does and != when none is equal. */
#include "traceql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../storage/tsdb/tsdb.h"

/* ---- Deriving the prefilter ---- */

static tql_expr_t *logic(sx_arena_t *a, int op, tql_expr_t *x, tql_expr_t *y)
{
    /* NULL stands for "true": it absorbs || and vanishes in &&. */
    if (!x || !y)
        return op == OP_OR ? NULL : x ? x : y;
    tql_expr_t *f = sx_arena_calloc(a, 1, sizeof(*f));
    if (!f)
        return NULL;
    f->kind = X_FOLD;
    f->type = SX_TQL_T_BOOL;
    sx_tql__fold_push(a, f, 0, x, NULL);
    sx_tql__fold_push(a, f, op, y, NULL);
    return f->fold.n == 2 ? f : NULL;
}

/* For a spanset node: *all holds on every span of its result, *exists on
 * some span of the trace whenever its result is not empty. */
static void derive(sx_arena_t *a, const tql_set_t *s, tql_expr_t **all, tql_expr_t **exists)
{
    if (s->kind == S_FILTER) {
        *all = *exists = s->cond;
        return;
    }
    if (s->kind == S_FOLD) {
        derive(a, s->fold.k[0], all, exists);
        for (size_t j = 1; j < s->fold.n; j++) {
            tql_expr_t *ra, *re;
            derive(a, s->fold.k[j], &ra, &re);
            int op = s->fold.op[j];
            if (op == OP_AND) {
                *all = logic(a, OP_OR, *all, ra);
                *exists = re ? re : *exists; /* both sides must be there */
            } else if (op == OP_OR) {
                *all = logic(a, OP_OR, *all, ra);
                *exists = logic(a, OP_OR, *exists, re);
            } else if (op >= OP_NOT_CHILD && op < OP_U_CHILD) {
                *all = ra; /* the right side's spans; the left may have none */
                *exists = re;
            } else if (op >= OP_U_CHILD) {
                *all = logic(a, OP_OR, *all, ra);
                *exists = re ? re : *exists; /* both sides must be there */
            } else {
                *all = ra; /* the right side's spans, related to left ones */
                *exists = re ? re : *exists;
            }
        }
        return;
    }
    /* A pipeline narrows its spans stage by stage. */
    tql_expr_t *conj = NULL, *first = NULL;
    size_t sets = 0;
    for (size_t j = 0; j < s->pipe.n; j++) {
        const tql_stage_t *st = &s->pipe.st[j];
        if (st->kind != ST_SET)
            continue;
        tql_expr_t *sa, *se;
        derive(a, st->set, &sa, &se);
        conj = logic(a, OP_AND, conj, sa);
        if (!sets++)
            first = se;
    }
    *all = conj;
    *exists = sets > 1 ? conj : first;
}

static bool trace_level(const tql_expr_t *x)
{
    switch (x->kind) {
    case X_FIELD:
        return (x->f.kind >= SX_TQL_F_CHILD_COUNT && x->f.kind <= SX_TQL_F_NESTED_PARENT) ||
               x->f.kind >= SX_TQL_F_ROOT_NAME;
    case X_FOLD:
        for (size_t j = 0; j < x->fold.n; j++)
            if (trace_level(x->fold.k[j]))
                return true;
        return false;
    case X_NOT:
    case X_NEG: return trace_level(x->x);
    default: return false;
    }
}

static void report_expr(sx_arena_t *a, sx_tql_query_t *q, const tql_expr_t *x)
{
    if (!x)
        return;
    switch (x->kind) {
    case X_FIELD:
        if (x->f.kind == SX_TQL_F_ATTR)
            sx_tql__report_add(a, q, &x->f);
        break;
    case X_FOLD:
        for (size_t j = 0; j < x->fold.n; j++)
            report_expr(a, q, x->fold.k[j]);
        break;
    case X_NOT:
    case X_NEG: report_expr(a, q, x->x); break;
    }
}

static void report_set(sx_arena_t *a, sx_tql_query_t *q, const tql_set_t *s)
{
    if (s->kind == S_FILTER) {
        report_expr(a, q, s->cond);
    } else if (s->kind == S_FOLD) {
        for (size_t j = 0; j < s->fold.n; j++)
            report_set(a, q, s->fold.k[j]);
    } else {
        for (size_t j = 0; j < s->pipe.n; j++)
            if (s->pipe.st[j].kind == ST_SET)
                report_set(a, q, s->pipe.st[j].set);
    }
}

void sx_tql__finish(sx_arena_t *a, sx_tql_query_t *q)
{
    tql_expr_t *all;
    derive(a, q->root, &all, &q->pre);
    q->exact = q->root->kind == S_FILTER && !(q->root->cond && trace_level(q->root->cond));
    report_set(a, q, q->root);
}

static unsigned reads(const tql_expr_t *x)
{
    unsigned m = 0;
    if (!x)
        return 0;
    switch (x->kind) {
    case X_FIELD: return 1u << x->f.kind;
    case X_FOLD:
        for (size_t j = 0; j < x->fold.n; j++)
            m |= reads(x->fold.k[j]);
        return m;
    case X_NOT:
    case X_NEG: return reads(x->x);
    default: return 0;
    }
}

unsigned sx_tql_prefilter_reads(const sx_tql_query_t *q)
{
    return reads(q->pre);
}

/* Whether text could be the text form of a number or a bool (to_text):
 * then an attribute of that type may match it, whose value is not the
 * text's bytes. */
static bool maybe_scalar_text(sx_str_t t)
{
    char buf[64];
    if (t.len == 0 || t.len >= sizeof(buf))
        return t.len == 0;
    memcpy(buf, t.ptr, t.len);
    buf[t.len] = 0;
    char *end;
    (void)strtod(buf, &end);
    return *end == 0 || strcmp(buf, "true") == 0 || strcmp(buf, "false") == 0;
}

/* x as a `field = "string"` test (either side): the field and the string. */
static bool field_eq_string(const tql_expr_t *x, const sx_tql_field_t **f, sx_str_t *s)
{
    if (x->kind != X_FOLD || x->fold.n != 2 || x->fold.op[1] != OP_EQ)
        return false;
    const tql_expr_t *l = x->fold.k[0], *r = x->fold.k[1];
    if (l->kind == X_STATIC) {
        const tql_expr_t *t = l;
        l = r;
        r = t;
    }
    if (l->kind != X_FIELD || r->kind != X_STATIC || r->v.type != SX_TQL_T_STRING)
        return false;
    *f = &l->f;
    *s = r->v.s;
    return true;
}

/* Whether x is a chain of &&, each part of which must hold. */
static bool is_and(const tql_expr_t *x)
{
    if (x->kind != X_FOLD)
        return false;
    for (size_t j = 1; j < x->fold.n; j++)
        if (x->fold.op[j] != OP_AND)
            return false;
    return true;
}

/* A field = "string" test that only a span holding the string as a value
 * of its own can pass: the string, else an empty one. */
static sx_str_t eq_string(const tql_expr_t *x)
{
    const sx_tql_field_t *f;
    sx_str_t v;
    if (!field_eq_string(x, &f, &v))
        return (sx_str_t){NULL, 0};
    switch (f->kind) {
    case SX_TQL_F_ATTR:
        if (f->text && maybe_scalar_text(v))
            return (sx_str_t){NULL, 0};
        /* An array attribute matches by element, and a store may keep an
         * array as JSON text: only strings JSON writes as they are. */
        for (size_t k = 0; k < v.len; k++) {
            unsigned char c = (unsigned char)v.ptr[k];
            if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' ||
                c == '&')
                return (sx_str_t){NULL, 0};
        }
        return v;
    case SX_TQL_F_NAME:
    case SX_TQL_F_STATUS_MESSAGE: return v;
    default: return (sx_str_t){NULL, 0};
    }
}

static void collect_strings(const tql_expr_t *x, sx_str_t *out, size_t max, size_t *n)
{
    sx_str_t s = eq_string(x);
    if (s.len) {
        if (*n < max)
            out[(*n)++] = s;
    } else if (is_and(x)) {
        for (size_t j = 0; j < x->fold.n; j++)
            collect_strings(x->fold.k[j], out, max, n);
    }
}

/* The value of an AND-ed `resource.<key> = "string"` test in x, or empty. */
static sx_str_t resource_eq(const tql_expr_t *x, const char *key)
{
    const sx_tql_field_t *f;
    sx_str_t v;
    if (field_eq_string(x, &f, &v))
        return f->kind == SX_TQL_F_ATTR && !f->text && f->scope == SX_TQL_SCOPE_RESOURCE &&
                       sx_str_eq_cstr(f->key, key)
                   ? v
                   : (sx_str_t){NULL, 0};
    if (is_and(x))
        for (size_t j = 0; j < x->fold.n; j++) {
            sx_str_t r = resource_eq(x->fold.k[j], key);
            if (r.len)
                return r;
        }
    return (sx_str_t){NULL, 0};
}

sx_str_t sx_tql_prefilter_resource(const sx_tql_query_t *q, const char *key)
{
    return q && q->pre ? resource_eq(q->pre, key) : (sx_str_t){NULL, 0};
}

size_t sx_tql_prefilter_strings(const sx_tql_query_t *q, sx_str_t *out, size_t max)
{
    size_t n = 0;
    if (q && q->pre)
        collect_strings(q->pre, out, max, &n);
    return n;
}

bool sx_tql_query_exact(const sx_tql_query_t *q)
{
    return q->exact;
}

size_t sx_tql_query_report(const sx_tql_query_t *q, const sx_tql_field_t *const **out)
{
    *out = q->report;
    return q->nreport;
}

/* ---- Values ---- */

typedef enum { F = 0, T = 1, U = 2 } tri_t;

typedef struct trace trace_t;

typedef struct env {
    const sx_tql_spans_t *s;
    const trace_t *tr; /* the trace's structure; NULL while scanning single spans */
} env_t;

static tri_t truth(const sx_tql_value_t *v)
{
    return v->type == SX_TQL_T_BOOL ? (v->b ? T : F) : v->type == SX_TQL_T_UNKNOWN ? U : F;
}

static sx_tql_value_t boolean(tri_t t)
{
    return t == U ? (sx_tql_value_t){.type = SX_TQL_T_UNKNOWN}
                  : (sx_tql_value_t){.type = SX_TQL_T_BOOL, .b = t == T};
}

static bool is_num(int t)
{
    return t == SX_TQL_T_INT || t == SX_TQL_T_FLOAT || t == SX_TQL_T_DURATION;
}

static double num(const sx_tql_value_t *v)
{
    return v->type == SX_TQL_T_FLOAT ? v->f : (double)v->i;
}

static bool op_ok(int c, int op)
{
    switch (op) {
    case OP_EQ: return c == 0;
    case OP_NE: return c != 0;
    case OP_LT: return c < 0;
    case OP_LE: return c <= 0;
    case OP_GT: return c > 0;
    case OP_GE: return c >= 0;
    default: return false;
    }
}

/* Two scalars of comparable types; anything else is false. */
static bool cmp_scalar(int op, const sx_matcher_t *re, const sx_tql_value_t *a,
                       const sx_tql_value_t *b)
{
    if (is_num(a->type) && is_num(b->type)) {
        if (op == OP_RE || op == OP_NRE)
            return false;
        if (a->type != SX_TQL_T_FLOAT && b->type != SX_TQL_T_FLOAT)
            return op_ok((a->i > b->i) - (a->i < b->i), op);
        double x = num(a), y = num(b);
        if (isnan(x) || isnan(y))
            return op == OP_NE;
        return op_ok((x > y) - (x < y), op);
    }
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case SX_TQL_T_STRING:
        if (op == OP_RE || op == OP_NRE)
            return re && sx_matcher_matches(re, a->s) == (op == OP_RE);
        return op_ok(sx_str_cmp(a->s, b->s), op);
    case SX_TQL_T_BOOL: return (op == OP_EQ || op == OP_NE) && op_ok(a->b != b->b, op);
    case SX_TQL_T_STATUS:
    case SX_TQL_T_KIND: return (op == OP_EQ || op == OP_NE) && op_ok(a->i != b->i, op);
    default: return false;
    }
}

static int mirror(int op)
{
    return op == OP_LT   ? OP_GT
           : op == OP_GT ? OP_LT
           : op == OP_LE ? OP_GE
           : op == OP_GE ? OP_LE
                         : op;
}

/* a op b. lnil/rnil: that operand is the nil literal, so = and != test
 * presence; an absent attribute compares false with anything else. */
static sx_tql_value_t compare(int op, const sx_matcher_t *re, sx_tql_value_t a, sx_tql_value_t b,
                              bool lnil, bool rnil)
{
    if (a.type == SX_TQL_T_UNKNOWN || b.type == SX_TQL_T_UNKNOWN)
        return boolean(U);
    if (lnil || rnil) {
        bool absent = (lnil ? b : a).type == SX_TQL_T_NIL;
        return boolean(op == OP_EQ ? (absent ? T : F) : op == OP_NE ? (absent ? F : T) : F);
    }
    if (a.type == SX_TQL_T_NIL || b.type == SX_TQL_T_NIL)
        return boolean(F);
    if (b.type == SX_TQL_T_ARRAY && a.type != SX_TQL_T_ARRAY) {
        sx_tql_value_t t = a;
        a = b, b = t, op = mirror(op);
    }
    if (a.type != SX_TQL_T_ARRAY)
        return boolean(cmp_scalar(op, re, &a, &b) ? T : F);
    if (b.type == SX_TQL_T_ARRAY)
        return boolean(F);
    /* = and =~ (and orderings) hold when any element does; != and !~ when
     * no element is equal or matches. */
    bool neg = op == OP_NE || op == OP_NRE;
    int pos = op == OP_NE ? OP_EQ : op == OP_NRE ? OP_RE : op;
    bool any = false;
    for (size_t k = 0; k < a.arr.n && !any; k++)
        any = cmp_scalar(pos, re, &a.arr.v[k], &b);
    return boolean(any != neg ? T : F);
}

static sx_tql_value_t arith(int op, const sx_tql_value_t *a, const sx_tql_value_t *b)
{
    if (a->type == SX_TQL_T_UNKNOWN || b->type == SX_TQL_T_UNKNOWN)
        return (sx_tql_value_t){.type = SX_TQL_T_UNKNOWN};
    if (!is_num(a->type) || !is_num(b->type))
        return (sx_tql_value_t){.type = SX_TQL_T_NIL};
    double x = num(a), y = num(b), r;
    switch (op) {
    case OP_ADD: r = x + y; break;
    case OP_SUB: r = x - y; break;
    case OP_MUL: r = x * y; break;
    case OP_DIV:
        /* As Go's float division, without dividing by zero in C. */
        r = y != 0                   ? x / y
            : (x == 0 || isnan(x))   ? NAN
            : (x > 0) == !signbit(y) ? INFINITY
                                     : -INFINITY;
        break;
    case OP_MOD: r = fmod(x, y); break;
    default: r = pow(x, y); break;
    }
    return (sx_tql_value_t){.type = SX_TQL_T_FLOAT, .f = r};
}

/* The text form of a scalar attribute (tags= and Jaeger compare text). */
static void to_text(sx_tql_value_t *v, char *buf, size_t n)
{
    switch (v->type) {
    case SX_TQL_T_STRING: return;
    case SX_TQL_T_INT: snprintf(buf, n, "%lld", (long long)v->i); break;
    case SX_TQL_T_FLOAT: snprintf(buf, n, "%.17g", v->f); break;
    case SX_TQL_T_BOOL: snprintf(buf, n, "%s", v->b ? "true" : "false"); break;
    default: v->type = SX_TQL_T_NIL; return;
    }
    *v = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = {buf, strlen(buf)}};
}

static bool is_nil_literal(const tql_expr_t *x)
{
    return x->kind == X_STATIC && x->v.type == SX_TQL_T_NIL;
}

static sx_tql_value_t eval(const env_t *E, const tql_expr_t *x, size_t i, char *tbuf);
static sx_tql_value_t structure_field(const trace_t *tr, int kind, size_t i);

static sx_tql_value_t eval_fold(const env_t *E, const tql_expr_t *x, size_t i)
{
    char tb[2][48];
    sx_tql_value_t acc = eval(E, x->fold.k[0], i, tb[0]);
    for (size_t j = 1; j < x->fold.n; j++) {
        int op = x->fold.op[j];
        const tql_expr_t *k = x->fold.k[j];
        if (op == OP_AND || op == OP_OR) {
            tri_t l = truth(&acc);
            if (l == (op == OP_AND ? F : T))
                continue; /* decided, whatever k says */
            sx_tql_value_t r = eval(E, k, i, tb[1]);
            tri_t rt = truth(&r);
            acc = boolean(op == OP_AND ? (rt == F ? F : l == T && rt == T ? T : U)
                                       : (rt == T ? T : l == F && rt == F ? F : U));
        } else if (op >= OP_EQ && op <= OP_NRE) {
            sx_tql_value_t r = eval(E, k, i, tb[1]);
            acc = compare(op, x->fold.re[j], acc, r, j == 1 && is_nil_literal(x->fold.k[0]),
                          is_nil_literal(k));
        } else {
            sx_tql_value_t r = eval(E, k, i, tb[1]);
            acc = arith(op, &acc, &r);
        }
    }
    return acc;
}

/* x on span i. tbuf (48 bytes) holds a text-form attribute's digits. */
static sx_tql_value_t eval(const env_t *E, const tql_expr_t *x, size_t i, char *tbuf)
{
    sx_tql_value_t v = {.type = SX_TQL_T_NIL};
    switch (x->kind) {
    case X_STATIC: return x->v;
    case X_FIELD:
        if (x->f.kind >= SX_TQL_F_CHILD_COUNT && x->f.kind <= SX_TQL_F_NESTED_PARENT)
            return structure_field(E->tr, x->f.kind, i);
        E->s->get(E->s->ctx, i, &x->f, &v);
        if (x->f.text)
            to_text(&v, tbuf, 48);
        return v;
    case X_NOT:
        v = eval(E, x->x, i, tbuf);
        if (v.type != SX_TQL_T_BOOL && v.type != SX_TQL_T_UNKNOWN)
            return (sx_tql_value_t){.type = SX_TQL_T_NIL};
        return boolean(truth(&v) == U ? U : truth(&v) == T ? F : T);
    case X_NEG:
        v = eval(E, x->x, i, tbuf);
        if (v.type == SX_TQL_T_FLOAT)
            v.f = -v.f;
        else if ((v.type == SX_TQL_T_INT || v.type == SX_TQL_T_DURATION) && v.i != INT64_MIN)
            v.i = -v.i;
        else if (v.type == SX_TQL_T_INT || v.type == SX_TQL_T_DURATION)
            v = (sx_tql_value_t){.type = SX_TQL_T_FLOAT, .f = -(double)v.i};
        else if (v.type != SX_TQL_T_UNKNOWN)
            v.type = SX_TQL_T_NIL;
        return v;
    default: return eval_fold(E, x, i);
    }
}

bool sx_tql_span_prefilter(const sx_tql_query_t *q, const sx_tql_spans_t *s, size_t i)
{
    if (!q->pre)
        return true;
    env_t E = {s, NULL};
    char tb[48];
    sx_tql_value_t v = eval(&E, q->pre, i, tb);
    return truth(&v) != F;
}

/* ---- Trace structure ---- */

struct trace {
    env_t env;
    size_t n;
    int32_t *parent; /* sanitized: -1 or a valid index other than i */
    uint32_t *nchild;
    uint32_t *order; /* spans reachable from a root, parents before children */
    size_t norder;
    uint32_t *left, *right; /* nested-set numbers; 0 for unreachable spans */
};

/* Depth-first entry and exit numbers, counted from 1 over all roots in
 * turn, from the order: entry = 2 * position - depth + 1 and
 * exit = entry + 2 * subtree size - 1. */
static void trace_nested_set(trace_t *tr)
{
    uint32_t *depth = sx_xcalloc(tr->n + 1, sizeof(uint32_t));
    uint32_t *size = sx_xcalloc(tr->n + 1, sizeof(uint32_t));
    for (size_t k = 0; k < tr->norder; k++) {
        uint32_t i = tr->order[k];
        depth[i] = tr->parent[i] >= 0 ? depth[tr->parent[i]] + 1 : 0;
    }
    for (size_t k = tr->norder; k-- > 0;) {
        uint32_t i = tr->order[k];
        size[i]++;
        if (tr->parent[i] >= 0)
            size[tr->parent[i]] += size[i];
    }
    for (size_t k = 0; k < tr->norder; k++) {
        uint32_t i = tr->order[k];
        tr->left[i] = (uint32_t)(2 * k - depth[i] + 1);
        tr->right[i] = tr->left[i] + 2 * size[i] - 1;
    }
    free(depth);
    free(size);
}

static sx_tql_value_t structure_field(const trace_t *tr, int kind, size_t i)
{
    sx_tql_value_t v = {.type = SX_TQL_T_INT};
    if (!tr)
        return (sx_tql_value_t){.type = SX_TQL_T_UNKNOWN};
    if (kind == SX_TQL_F_CHILD_COUNT) {
        v.i = tr->nchild[i];
    } else if (!tr->left[i]) {
        v.type = SX_TQL_T_NIL; /* on a parent cycle: not numbered */
    } else if (kind == SX_TQL_F_NESTED_PARENT) {
        v.i = tr->parent[i] >= 0 ? (int64_t)tr->left[tr->parent[i]] : -1;
    } else {
        v.i = kind == SX_TQL_F_NESTED_LEFT ? tr->left[i] : tr->right[i];
    }
    return v;
}

/* Parents before children, from every root; spans on a parent cycle are
 * unreachable and so have no ancestors or descendants. */
static void trace_order(trace_t *tr)
{
    size_t n = tr->n;
    uint32_t *start = sx_xcalloc(n + 1, sizeof(uint32_t)),
             *kids = sx_xmalloc((n + 1) * sizeof(uint32_t));
    uint32_t *fill = sx_xmalloc((n + 1) * sizeof(uint32_t)),
             *stack = sx_xmalloc((n + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++)
        if (tr->parent[i] >= 0)
            start[tr->parent[i] + 1]++;
    for (size_t i = 0; i < n; i++)
        start[i + 1] += start[i];
    memcpy(fill, start, n * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++)
        if (tr->parent[i] >= 0)
            kids[fill[tr->parent[i]]++] = (uint32_t)i;
    tr->norder = 0;
    for (size_t r = 0; r < n; r++) {
        if (tr->parent[r] >= 0)
            continue;
        size_t sp = 0;
        stack[sp++] = (uint32_t)r;
        while (sp) {
            uint32_t i = stack[--sp];
            tr->order[tr->norder++] = i;
            for (uint32_t k = start[i]; k < start[i + 1]; k++)
                stack[sp++] = kids[k];
        }
    }
    free(start);
    free(kids);
    free(fill);
    free(stack);
}

static void trace_init(trace_t *tr, const sx_tql_spans_t *s, size_t n, const int32_t *parent)
{
    tr->env.s = s;
    tr->n = n;
    tr->parent = sx_xmalloc((n + 1) * sizeof(int32_t));
    tr->nchild = sx_xcalloc(n + 1, sizeof(uint32_t));
    tr->order = sx_xmalloc((n + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        int32_t p = parent ? parent[i] : -1;
        tr->parent[i] = p >= 0 && (size_t)p < n && (size_t)p != i ? p : -1;
        if (tr->parent[i] >= 0)
            tr->nchild[tr->parent[i]]++;
    }
    tr->env.tr = tr;
    trace_order(tr);
    tr->left = sx_xcalloc(n + 1, sizeof(uint32_t));
    tr->right = sx_xcalloc(n + 1, sizeof(uint32_t));
    trace_nested_set(tr);
}

static void trace_dispose(trace_t *tr)
{
    free(tr->parent);
    free(tr->nchild);
    free(tr->order);
    free(tr->left);
    free(tr->right);
}

enum { REL_PARENT_IN, REL_CHILD_IN, REL_ANCESTOR_IN, REL_DESCENDANT_IN, REL_SIBLING_IN };

/* out[i] = 1 when span i has a parent, child, ancestor, descendant or
 * sibling (per rel) in S. */
static void relate(const trace_t *tr, int rel, const uint8_t *S, uint8_t *out)
{
    size_t n = tr->n;
    const int32_t *par = tr->parent;
    memset(out, 0, n);
    switch (rel) {
    case REL_PARENT_IN:
        for (size_t i = 0; i < n; i++)
            out[i] = par[i] >= 0 && S[par[i]];
        break;
    case REL_CHILD_IN:
        for (size_t i = 0; i < n; i++)
            if (S[i] && par[i] >= 0)
                out[par[i]] = 1;
        break;
    case REL_ANCESTOR_IN:
        for (size_t k = 0; k < tr->norder; k++) {
            uint32_t i = tr->order[k];
            out[i] = par[i] >= 0 && (S[par[i]] || out[par[i]]);
        }
        break;
    case REL_DESCENDANT_IN:
        for (size_t k = tr->norder; k-- > 0;) {
            uint32_t i = tr->order[k];
            if (par[i] >= 0 && (S[i] || out[i]))
                out[par[i]] = 1;
        }
        break;
    default: {
        uint32_t *cnt = sx_xcalloc(n + 1, sizeof(uint32_t));
        for (size_t i = 0; i < n; i++)
            if (S[i] && par[i] >= 0)
                cnt[par[i]]++;
        for (size_t i = 0; i < n; i++)
            out[i] = par[i] >= 0 && cnt[par[i]] > (uint32_t)S[i];
        free(cnt);
    }
    }
}

static bool any(const uint8_t *S, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (S[i])
            return true;
    return false;
}

/* L = L op R, for a spanset operator. */
static void combine(const trace_t *tr, int op, uint8_t *L, const uint8_t *R)
{
    static const int rel_of[] = {REL_PARENT_IN, REL_CHILD_IN, REL_ANCESTOR_IN, REL_DESCENDANT_IN,
                                 REL_SIBLING_IN};
    static const int inverse[] = {REL_CHILD_IN, REL_PARENT_IN, REL_DESCENDANT_IN, REL_ANCESTOR_IN,
                                  REL_SIBLING_IN};
    size_t n = tr->n;
    if (op == OP_AND || op == OP_OR) {
        bool keep = op == OP_OR || (any(L, n) && any(R, n));
        for (size_t i = 0; i < n; i++)
            L[i] = keep && (L[i] | R[i]);
        return;
    }
    int base = op >= OP_U_CHILD     ? op - OP_U_CHILD
               : op >= OP_NOT_CHILD ? op - OP_NOT_CHILD
                                    : op - OP_CHILD;
    uint8_t *rel = sx_xmalloc(n + 1), *back = NULL;
    relate(tr, rel_of[base], L, rel);
    if (op >= OP_U_CHILD) {
        back = sx_xmalloc(n + 1);
        relate(tr, inverse[base], R, back);
    }
    for (size_t i = 0; i < n; i++) {
        bool r = R[i] && (op >= OP_NOT_CHILD && op < OP_U_CHILD ? !rel[i] : rel[i]);
        L[i] = r || (back && L[i] && back[i]);
    }
    free(rel);
    free(back);
}

static uint8_t *eval_set(const trace_t *tr, const tql_set_t *s, const uint8_t *U);

/* agg(arg) over the spans in S, compared with the stage's value. */
static bool scalar_ok(const trace_t *tr, const tql_stage_t *st, const uint8_t *S)
{
    double acc = st->agg == AGG_MIN ? INFINITY : st->agg == AGG_MAX ? -INFINITY : 0;
    size_t cnt = 0;
    for (size_t i = 0; i < tr->n; i++) {
        if (!S[i])
            continue;
        if (st->agg == AGG_COUNT) {
            cnt++;
            continue;
        }
        char tb[48];
        sx_tql_value_t v = eval(&tr->env, st->arg, i, tb);
        if (!is_num(v.type))
            continue;
        double x = num(&v);
        cnt++;
        acc = st->agg == AGG_MIN ? fmin(acc, x) : st->agg == AGG_MAX ? fmax(acc, x) : acc + x;
    }
    sx_tql_value_t v = {.type = SX_TQL_T_INT, .i = (int64_t)cnt};
    if (st->agg != AGG_COUNT) {
        if (!cnt)
            return false;
        v = (sx_tql_value_t){.type = SX_TQL_T_FLOAT,
                             .f = st->agg == AGG_AVG ? acc / (double)cnt : acc};
    }
    sx_tql_value_t r = compare(st->op, NULL, v, st->v, false, false);
    return truth(&r) == T;
}

static uint8_t *eval_pipeline(const trace_t *tr, const tql_set_t *s, const uint8_t *U)
{
    uint8_t *cur = sx_xmalloc(tr->n + 1);
    memcpy(cur, U, tr->n);
    for (size_t j = 0; j < s->pipe.n && any(cur, tr->n); j++) {
        const tql_stage_t *st = &s->pipe.st[j];
        if (st->kind == ST_SET) {
            uint8_t *next = eval_set(tr, st->set, cur);
            free(cur);
            cur = next;
        } else if (st->kind == ST_SCALAR && !scalar_ok(tr, st, cur)) {
            memset(cur, 0, tr->n);
        }
    }
    return cur;
}

/* The spans of U that s selects, as a heap array of tr->n bytes. */
static uint8_t *eval_set(const trace_t *tr, const tql_set_t *s, const uint8_t *U)
{
    if (s->kind == S_PIPELINE)
        return eval_pipeline(tr, s, U);
    if (s->kind == S_FOLD) {
        uint8_t *acc = eval_set(tr, s->fold.k[0], U);
        for (size_t j = 1; j < s->fold.n; j++) {
            uint8_t *r = eval_set(tr, s->fold.k[j], U);
            combine(tr, s->fold.op[j], acc, r);
            free(r);
        }
        return acc;
    }
    uint8_t *out = sx_xmalloc(tr->n + 1);
    for (size_t i = 0; i < tr->n; i++) {
        out[i] = 0;
        if (!U[i])
            continue;
        if (!s->cond) {
            out[i] = 1;
            continue;
        }
        char tb[48];
        sx_tql_value_t v = eval(&tr->env, s->cond, i, tb);
        out[i] = truth(&v) == T;
    }
    return out;
}

size_t sx_tql_trace_eval(const sx_tql_query_t *q, const sx_tql_spans_t *s, size_t n,
                         const int32_t *parent, uint8_t *match)
{
    if (!n)
        return 0;
    trace_t tr;
    trace_init(&tr, s, n, parent);
    uint8_t *all = sx_xmalloc(n);
    memset(all, 1, n);
    uint8_t *r = eval_set(&tr, q->root, all);
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++)
        cnt += (match[i] = r[i] ? 1 : 0);
    free(r);
    free(all);
    trace_dispose(&tr);
    return cnt;
}
