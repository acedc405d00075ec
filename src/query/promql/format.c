/* SPDX-License-Identifier: Apache-2.0 */
/* Printing parsed PromQL: the canonical one-line form Prometheus' String()
 * methods produce (what /api/v1/format_query answers without indentation)
 * and the JSON tree of /api/v1/parse_query. Both walk a tree built by
 * parse.c; the Go formatting rules they need (strconv.Quote, %q of a rune,
 * model.Duration) live here too and are shared with the lexer and parser
 * for error messages. Nothing here allocates except in the output buffer. */
#include "syntax.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- Names ---- */

const char *sx_promql_type_name(int type)
{
    switch (type) {
    case SX_PROMQL_SCALAR: return "scalar";
    case SX_PROMQL_VECTOR: return "vector";
    case SX_PROMQL_MATRIX: return "matrix";
    case SX_PROMQL_STRING: return "string";
    default: return "none";
    }
}

const char *sx_pq__documented_type(int type)
{
    switch (type) {
    case SX_PROMQL_VECTOR: return "instant vector";
    case SX_PROMQL_MATRIX: return "range vector";
    default: return sx_promql_type_name(type);
    }
}

const char *sx_pq__op_name(int op)
{
    static const char *const names[] = {
        [PQ_OP_ADD] = "+",    [PQ_OP_SUB] = "-",   [PQ_OP_MUL] = "*",      [PQ_OP_DIV] = "/",
        [PQ_OP_MOD] = "%",    [PQ_OP_POW] = "^",   [PQ_OP_ATAN2] = "atan2", [PQ_OP_EQ] = "==",
        [PQ_OP_NE] = "!=",    [PQ_OP_GT] = ">",    [PQ_OP_LT] = "<",       [PQ_OP_GE] = ">=",
        [PQ_OP_LE] = "<=",    [PQ_OP_AND] = "and", [PQ_OP_OR] = "or",      [PQ_OP_UNLESS] = "unless",
    };
    if (op < 0 || op >= (int)(sizeof(names) / sizeof(names[0])))
        return "?";
    return names[op];
}

const char *sx_pq__agg_name(int agg)
{
    static const char *const names[] = {
        [PQ_AGG_SUM] = "sum",         [PQ_AGG_MIN] = "min",
        [PQ_AGG_MAX] = "max",         [PQ_AGG_AVG] = "avg",
        [PQ_AGG_GROUP] = "group",     [PQ_AGG_STDDEV] = "stddev",
        [PQ_AGG_STDVAR] = "stdvar",   [PQ_AGG_COUNT] = "count",
        [PQ_AGG_COUNT_VALUES] = "count_values", [PQ_AGG_BOTTOMK] = "bottomk",
        [PQ_AGG_TOPK] = "topk",       [PQ_AGG_QUANTILE] = "quantile",
        [PQ_AGG_LIMITK] = "limitk",   [PQ_AGG_LIMIT_RATIO] = "limit_ratio",
    };
    if (agg < 0 || agg >= (int)(sizeof(names) / sizeof(names[0])))
        return "?";
    return names[agg];
}

/* ---- Go formatting helpers ---- */

/* An approximation of Go's unicode.IsPrint: graphic characters and the
 * ASCII space, without the other spaces, format and private-use ranges. */
static bool is_print(int32_t r)
{
    if (r < 0x20)
        return false;
    if (r < 0x7F)
        return true;
    if (r < 0xA1 || r == 0xAD)
        return false;
    if ((r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F) ||
        (r >= 0x205F && r <= 0x206F) || r == 0x1680 || r == 0x180E || r == 0x3000 ||
        (r >= 0x0600 && r <= 0x0605) || r == 0x061C || r == 0x06DD || r == 0x070F ||
        (r >= 0xD800 && r <= 0xF8FF) || r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB) ||
        r == 0xFFFE || r == 0xFFFF || (r >= 0xE0000 && r <= 0xE007F) || r >= 0xF0000 ||
        r > 0x10FFFF)
        return false;
    return true;
}

static void put_utf8(sx_buf_t *b, int32_t r)
{
    char o[4];
    int n;
    uint32_t c = (uint32_t)r;
    if (c < 0x80) {
        o[0] = (char)c, n = 1;
    } else if (c < 0x800) {
        o[0] = (char)(0xC0 | c >> 6), o[1] = (char)(0x80 | (c & 0x3F)), n = 2;
    } else if (c < 0x10000) {
        o[0] = (char)(0xE0 | c >> 12), o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F)), n = 3;
    } else {
        o[0] = (char)(0xF0 | c >> 18), o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((c >> 6) & 0x3F)), o[3] = (char)(0x80 | (c & 0x3F)), n = 4;
    }
    sx_buf_append(b, o, (size_t)n);
}

static void escaped_rune(sx_buf_t *b, int32_t r, char quote)
{
    if (r == quote || r == '\\') {
        sx_buf_putc(b, '\\');
        sx_buf_putc(b, (char)r);
        return;
    }
    if (is_print(r)) {
        put_utf8(b, r);
        return;
    }
    switch (r) {
    case '\a': sx_buf_puts(b, "\\a"); return;
    case '\b': sx_buf_puts(b, "\\b"); return;
    case '\f': sx_buf_puts(b, "\\f"); return;
    case '\n': sx_buf_puts(b, "\\n"); return;
    case '\r': sx_buf_puts(b, "\\r"); return;
    case '\t': sx_buf_puts(b, "\\t"); return;
    case '\v': sx_buf_puts(b, "\\v"); return;
    }
    if (r < ' ' || r == 0x7F)
        sx_buf_printf(b, "\\x%02x", (unsigned)r);
    else if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        sx_buf_puts(b, "\\ufffd");
    else if (r < 0x10000)
        sx_buf_printf(b, "\\u%04x", (unsigned)r);
    else
        sx_buf_printf(b, "\\U%08x", (unsigned)r);
}

void sx_pq__quote(sx_buf_t *b, const char *s, size_t n)
{
    sx_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        uint32_t w;
        int32_t r = sx_pq__utf8_decode(s + i, n - i, &w);
        if (r == 0xFFFD && w == 1) {
            sx_buf_printf(b, "\\x%02x", (unsigned char)s[i]);
            i++;
            continue;
        }
        if (r == 0xFFFD) {
            /* Go prints U+FFFD as is, but the lexer rejects it in a
             * string: escape it so the output parses back. */
            sx_buf_puts(b, "\\ufffd");
            i += w;
            continue;
        }
        escaped_rune(b, r, '"');
        i += w;
    }
    sx_buf_putc(b, '"');
}

void sx_pq__quote_rune(sx_buf_t *b, int32_t r)
{
    if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        r = 0xFFFD;
    sx_buf_putc(b, '\'');
    escaped_rune(b, r, '\'');
    sx_buf_putc(b, '\'');
}

void sx_pq__rune_u(sx_buf_t *b, int32_t r)
{
    sx_buf_printf(b, "U+%04X", (unsigned)r);
    if (is_print(r)) {
        sx_buf_puts(b, " '");
        put_utf8(b, r);
        sx_buf_putc(b, '\'');
    }
}

void sx_pq__duration_str(sx_buf_t *b, int64_t ms)
{
    static const struct {
        const char *unit;
        int64_t mult;
        bool exact;
    } units[] = {
        {"y", 1000LL * 60 * 60 * 24 * 365, true}, {"w", 1000LL * 60 * 60 * 24 * 7, true},
        {"d", 1000LL * 60 * 60 * 24, false},      {"h", 1000LL * 60 * 60, false},
        {"m", 1000LL * 60, false},                {"s", 1000, false},
        {"ms", 1, false},
    };
    if (ms == 0) {
        sx_buf_puts(b, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (units[i].exact && ms % units[i].mult != 0)
            continue;
        int64_t v = ms / units[i].mult;
        if (v > 0) {
            sx_buf_printf(b, "%" PRId64 "%s", v, units[i].unit);
            ms -= v * units[i].mult;
        }
    }
}

int sx_pq__parse_duration(const char *s, size_t n, double *seconds, char *msg, size_t msgsz)
{
    static const struct {
        const char *unit;
        uint64_t mult; /* ns */
    } units[] = {
        {"y", 365ULL * 24 * 3600 * 1000000000ULL}, {"w", 7ULL * 24 * 3600 * 1000000000ULL},
        {"d", 24ULL * 3600 * 1000000000ULL},       {"h", 3600ULL * 1000000000ULL},
        {"m", 60ULL * 1000000000ULL},              {"s", 1000000000ULL},
        {"ms", 1000000ULL},
    };
    sx_buf_t q = SX_BUF_INIT;
    if (n == 1 && s[0] == '0') {
        *seconds = 0;
        return 0;
    }
    if (n == 0) {
        snprintf(msg, msgsz, "empty duration string");
        return -1;
    }
    uint64_t dur = 0;
    size_t last = 0, i = 0;
    while (i < n) {
        if (s[i] < '0' || s[i] > '9')
            goto invalid;
        uint64_t v = 0;
        bool overflow = false;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (v > (UINT64_MAX - 9) / 10)
                overflow = true;
            else
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (overflow)
            goto invalid;
        size_t u0 = i;
        while (i < n && (s[i] < '0' || s[i] > '9'))
            i++;
        if (i == u0)
            goto invalid;
        size_t k = 0, ulen = i - u0;
        for (; k < sizeof(units) / sizeof(units[0]); k++)
            if (strlen(units[k].unit) == ulen && memcmp(units[k].unit, s + u0, ulen) == 0)
                break;
        if (k == sizeof(units) / sizeof(units[0])) {
            sx_buf_t u = SX_BUF_INIT;
            sx_pq__quote(&u, s + u0, ulen);
            sx_pq__quote(&q, s, n);
            snprintf(msg, msgsz, "unknown unit %.*s in duration %.*s", (int)u.len, u.ptr,
                     (int)q.len, q.ptr);
            sx_buf_dispose(&u);
            sx_buf_dispose(&q);
            return -1;
        }
        if (k + 1 <= last)
            goto invalid;
        last = k + 1;
        if (v > (1ULL << 63) / units[k].mult) {
            snprintf(msg, msgsz, "duration out of range");
            return -1;
        }
        dur += v * units[k].mult;
        if (dur > (uint64_t)INT64_MAX) {
            snprintf(msg, msgsz, "duration out of range");
            return -1;
        }
    }
    *seconds = (double)(dur / 1000000000ULL) + (double)(dur % 1000000000ULL) / 1e9;
    return 0;
invalid:
    sx_pq__quote(&q, s, n);
    snprintf(msg, msgsz, "not a valid duration string: %.*s", (int)q.len, q.ptr);
    sx_buf_dispose(&q);
    return -1;
}

bool sx_pq__legacy_label(sx_str_t s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* ---- Canonical text ---- */

static void fmt_node(const pq_node_t *e, sx_buf_t *b);

static const char *match_op_str(int op)
{
    switch (op) {
    case SX_MATCH_EQ: return "=";
    case SX_MATCH_NEQ: return "!=";
    case SX_MATCH_RE: return "=~";
    default: return "!~";
    }
}

static void fmt_number(const pq_node_t *e, sx_buf_t *b)
{
    double v = e->number;
    if (pq_pn(e)->duration && isfinite(v)) {
        /* model.Duration(v * 1e9), but rounded to whole milliseconds as
         * written: Go's float nanoseconds can lose one for long ones. */
        double a = round(fabs(v) * 1000);
        int64_t ms = a >= 9.2e18 ? INT64_MAX : (int64_t)a;
        if (v < 0)
            sx_buf_putc(b, '-');
        sx_pq__duration_str(b, ms);
        return;
    }
    sx_buf_prom_float(b, v);
}

static void fmt_label_list(sx_buf_t *b, const sx_str_t *l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            sx_buf_puts(b, ", ");
        if (sx_pq__legacy_label(l[i]))
            sx_buf_append_str(b, l[i]);
        else
            sx_pq__quote(b, l[i].ptr, l[i].len);
    }
}

static int cmp_str(const void *a, const void *b)
{
    const sx_buf_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* name{matchers}, the matchers sorted as strings as Prometheus does, the
 * one for the name written outside the braces left out. */
static void fmt_selector(const pq_node_t *e, sx_buf_t *b)
{
    sx_buf_append_str(b, e->sel.name);
    size_t n = 0;
    sx_buf_t *ms = calloc(e->sel.nm ? e->sel.nm : 1, sizeof(*ms));
    if (!ms)
        return;
    for (size_t i = 0; i < e->sel.nm; i++) {
        const sx_matcher_t *m = &e->sel.m[i];
        if (sx_str_eq_cstr(m->name, "__name__") && m->op == SX_MATCH_EQ &&
            sx_str_eq(m->value, e->sel.name) && m->value.len > 0)
            continue;
        sx_buf_t *o = &ms[n++];
        *o = SX_BUF_INIT;
        if (sx_pq__legacy_label(m->name))
            sx_buf_append_str(o, m->name);
        else
            sx_pq__quote(o, m->name.ptr, m->name.len);
        sx_buf_puts(o, match_op_str(m->op));
        sx_pq__quote(o, m->value.ptr, m->value.len);
    }
    if (n) {
        qsort(ms, n, sizeof(*ms), cmp_str);
        sx_buf_putc(b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                sx_buf_putc(b, ',');
            sx_buf_append(b, ms[i].ptr, ms[i].len);
            sx_buf_dispose(&ms[i]);
        }
        sx_buf_putc(b, '}');
    } else if (e->sel.name.len == 0) {
        sx_buf_puts(b, "{}"); /* info(x, {}); Prometheus prints nothing */
    }
    free(ms);
}

static void fmt_at(const pq_mod_t *m, sx_buf_t *b)
{
    switch (m->at) {
    case PQ_AT_TIME:
        sx_buf_printf(b, " @ %.3f", (double)m->at_ms / 1000.0);
        break;
    case PQ_AT_START:
        sx_buf_puts(b, " @ start()");
        break;
    case PQ_AT_END:
        sx_buf_puts(b, " @ end()");
        break;
    }
}

/* Whether the text of e ends with an offset duration expression, which a
 * following binary operator would extend. */
static bool ends_in_offset_expr(const pq_node_t *e)
{
    for (;;) {
        switch (e->kind) {
        case PQ_BINARY:
            e = e->binary.rhs;
            continue;
        case PQ_UNARY:
            e = e->unary.expr;
            continue;
        case PQ_VSEL:
        case PQ_MSEL:
            return pq_pn(e)->offset_src || e->sel.mod.offset_expr;
        case PQ_SUBQUERY:
            return pq_pn(e)->offset_src || e->sub.mod.offset_expr;
        default:
            return false;
        }
    }
}

static void fmt_offset(const pq_node_t *e, const pq_mod_t *m, sx_buf_t *b)
{
    const pq_node_t *src = pq_pn(e)->offset_src ? pq_pn(e)->offset_src : m->offset_expr;
    if (src) {
        /* After offset only a parenthesised start lets a duration
         * expression go on ("(1h) + 5m"); anything else is wrapped so it
         * parses back the same (Prometheus prints such offsets bare). */
        const pq_node_t *l = src;
        while (l->kind == PQ_BINARY)
            l = l->binary.lhs;
        bool wrap = (src->kind == PQ_BINARY && l->kind != PQ_PAREN) ||
                    (src->kind == PQ_UNARY && src->unary.expr->kind == PQ_BINARY);
        sx_buf_puts(b, wrap ? " offset (" : " offset ");
        fmt_node(src, b);
        if (wrap)
            sx_buf_putc(b, ')');
    } else if (m->offset_ms > 0) {
        sx_buf_puts(b, " offset ");
        sx_pq__duration_str(b, m->offset_ms);
    } else if (m->offset_ms < 0) {
        sx_buf_puts(b, " offset -");
        sx_pq__duration_str(b, m->offset_ms == INT64_MIN ? INT64_MAX : -m->offset_ms);
    }
}

static void fmt_dur(const pq_node_t *src, const pq_node_t *expr, int64_t ms, sx_buf_t *b)
{
    if (src)
        fmt_node(src, b);
    else if (expr)
        fmt_node(expr, b);
    else
        sx_pq__duration_str(b, ms);
}

static void fmt_matching(const pq_match_t *vm, sx_buf_t *b)
{
    if (!vm)
        return;
    bool grouped = vm->card == PQ_CARD_MANY_TO_ONE || vm->card == PQ_CARD_ONE_TO_MANY;
    if (vm->nlabels > 0 || vm->on || grouped) {
        sx_buf_puts(b, vm->on ? " on (" : " ignoring (");
        fmt_label_list(b, vm->labels, vm->nlabels);
        sx_buf_putc(b, ')');
    }
    if (grouped) {
        sx_buf_puts(b, vm->card == PQ_CARD_MANY_TO_ONE ? " group_left (" : " group_right (");
        fmt_label_list(b, vm->include, vm->ninclude);
        sx_buf_putc(b, ')');
    }
}

static void fmt_node(const pq_node_t *e, sx_buf_t *b)
{
    switch (e->kind) {
    case PQ_NUMBER:
        fmt_number(e, b);
        break;
    case PQ_STRING:
        sx_pq__quote(b, e->string.ptr, e->string.len);
        break;
    case PQ_VSEL:
        fmt_selector(e, b);
        fmt_at(&e->sel.mod, b);
        fmt_offset(e, &e->sel.mod, b);
        break;
    case PQ_MSEL:
        fmt_selector(e, b);
        sx_buf_putc(b, '[');
        fmt_dur(pq_pn(e)->range_src, e->sel.range_expr, e->sel.range_ms, b);
        sx_buf_putc(b, ']');
        fmt_at(&e->sel.mod, b);
        fmt_offset(e, &e->sel.mod, b);
        break;
    case PQ_SUBQUERY:
        fmt_node(e->sub.expr, b);
        sx_buf_putc(b, '[');
        fmt_dur(pq_pn(e)->range_src, e->sub.range_expr, e->sub.range_ms, b);
        sx_buf_putc(b, ':');
        if (pq_pn(e)->step_src || e->sub.step_expr || e->sub.step_ms != 0)
            fmt_dur(pq_pn(e)->step_src, e->sub.step_expr, e->sub.step_ms, b);
        sx_buf_putc(b, ']');
        fmt_at(&e->sub.mod, b);
        fmt_offset(e, &e->sub.mod, b);
        break;
    case PQ_PAREN:
        sx_buf_putc(b, '(');
        fmt_node(e->paren.expr, b);
        sx_buf_putc(b, ')');
        break;
    case PQ_UNARY:
        sx_buf_puts(b, sx_pq__op_name(e->unary.op));
        fmt_node(e->unary.expr, b);
        break;
    case PQ_BINARY:
        if (ends_in_offset_expr(e->binary.lhs)) {
            /* "foo offset (1h) ^ 2" would read the operator into the
             * offset's duration expression. */
            sx_buf_putc(b, '(');
            fmt_node(e->binary.lhs, b);
            sx_buf_putc(b, ')');
        } else if (e->binary.op == PQ_OP_POW && e->binary.lhs->kind == PQ_NUMBER &&
            !pq_pn(e->binary.lhs)->duration && isinf(e->binary.lhs->number) &&
            e->binary.lhs->number > 0)
            sx_buf_puts(b, "Inf"); /* "+Inf ^ 2" would parse as +(Inf ^ 2) */
        else
            fmt_node(e->binary.lhs, b);
        sx_buf_putc(b, ' ');
        sx_buf_puts(b, sx_pq__op_name(e->binary.op));
        if (e->binary.return_bool)
            sx_buf_puts(b, " bool");
        fmt_matching(e->binary.match, b);
        sx_buf_putc(b, ' ');
        fmt_node(e->binary.rhs, b);
        break;
    case PQ_AGG:
        sx_buf_puts(b, sx_pq__agg_name(e->agg.op));
        if (e->agg.without) {
            sx_buf_puts(b, " without (");
            fmt_label_list(b, e->agg.labels, e->agg.nlabels);
            sx_buf_puts(b, ") ");
        } else if (e->agg.nlabels > 0) {
            sx_buf_puts(b, " by (");
            fmt_label_list(b, e->agg.labels, e->agg.nlabels);
            sx_buf_puts(b, ") ");
        }
        sx_buf_putc(b, '(');
        if (e->agg.param) {
            fmt_node(e->agg.param, b);
            sx_buf_puts(b, ", ");
        }
        if (e->agg.expr)
            fmt_node(e->agg.expr, b);
        sx_buf_putc(b, ')');
        break;
    case PQ_CALL:
        sx_buf_puts(b, e->call.fn ? e->call.fn->name : "?");
        sx_buf_putc(b, '(');
        for (size_t i = 0; i < e->call.nargs; i++) {
            if (i)
                sx_buf_puts(b, ", ");
            fmt_node(e->call.args[i], b);
        }
        sx_buf_putc(b, ')');
        break;
    case PQ_DUR_STEP:
        sx_buf_puts(b, "step()");
        break;
    }
}

void sx_promql_format(const sx_promql_expr_t *e, sx_buf_t *out)
{
    if (e)
        fmt_node(e, out);
}

/* ---- JSON tree (/api/v1/parse_query) ---- */

/* A JSON string as Go's encoder writes it: <, >, & and U+2028/2029
 * escaped, invalid UTF-8 replaced by U+FFFD. */
static void json_str(sx_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sx_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c == '"' || c == '\\') {
                sx_buf_putc(b, '\\');
                sx_buf_putc(b, (char)c);
            } else if (c == '\n') {
                sx_buf_puts(b, "\\n");
            } else if (c == '\r') {
                sx_buf_puts(b, "\\r");
            } else if (c == '\t') {
                sx_buf_puts(b, "\\t");
            } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                sx_buf_puts(b, "\\u00");
                sx_buf_putc(b, hex[c >> 4]);
                sx_buf_putc(b, hex[c & 0xF]);
            } else {
                sx_buf_putc(b, (char)c);
            }
            i++;
            continue;
        }
        uint32_t w;
        int32_t r = sx_pq__utf8_decode(s + i, n - i, &w);
        if (r == 0xFFFD && w == 1)
            sx_buf_puts(b, "\\ufffd");
        else if (r == 0x2028 || r == 0x2029)
            sx_buf_printf(b, "\\u%04x", (unsigned)r);
        else
            sx_buf_append(b, s + i, w);
        i += w;
    }
    sx_buf_putc(b, '"');
}

static void json_cstr(sx_buf_t *b, const char *s)
{
    json_str(b, s, strlen(s));
}

static void json_node(const pq_node_t *e, sx_buf_t *b);

static void json_labels(sx_buf_t *b, const sx_str_t *l, size_t n)
{
    sx_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sx_buf_putc(b, ',');
        json_str(b, l[i].ptr, l[i].len);
    }
    sx_buf_putc(b, ']');
}

/* Prometheus lists the name written outside the braces last. */
static void json_matchers(const pq_node_t *e, sx_buf_t *b)
{
    size_t first = e->sel.name.len ? 1 : 0, k = 0;
    sx_buf_putc(b, '[');
    for (size_t j = 0; j < e->sel.nm; j++) {
        size_t i = j + first < e->sel.nm ? j + first : 0;
        const sx_matcher_t *m = &e->sel.m[i];
        if (k++)
            sx_buf_putc(b, ',');
        sx_buf_puts(b, "{\"name\":");
        json_str(b, m->name.ptr, m->name.len);
        sx_buf_puts(b, ",\"type\":");
        json_cstr(b, match_op_str(m->op));
        sx_buf_puts(b, ",\"value\":");
        json_str(b, m->value.ptr, m->value.len);
        sx_buf_putc(b, '}');
    }
    sx_buf_putc(b, ']');
}

static void json_mod(const pq_mod_t *m, sx_buf_t *b)
{
    sx_buf_printf(b, ",\"offset\":%" PRId64, m->offset_expr ? (int64_t)0 : m->offset_ms);
}

static void json_start_or_end(const pq_mod_t *m, sx_buf_t *b)
{
    sx_buf_puts(b, ",\"startOrEnd\":");
    sx_buf_puts(b, m->at == PQ_AT_START ? "\"start\"" : m->at == PQ_AT_END ? "\"end\"" : "null");
}

static void json_timestamp(const pq_mod_t *m, sx_buf_t *b)
{
    sx_buf_puts(b, ",\"timestamp\":");
    if (m->at == PQ_AT_TIME)
        sx_buf_printf(b, "%" PRId64, m->at_ms);
    else
        sx_buf_puts(b, "null");
}

static const char *card_name(int card)
{
    switch (card) {
    case PQ_CARD_MANY_TO_ONE: return "many-to-one";
    case PQ_CARD_ONE_TO_MANY: return "one-to-many";
    case PQ_CARD_MANY_TO_MANY: return "many-to-many";
    default: return "one-to-one";
    }
}

/* Object keys in sorted order, as Go's encoder writes a map. */
static void json_node(const pq_node_t *e, sx_buf_t *b)
{
    if (!e) {
        sx_buf_puts(b, "null");
        return;
    }
    char num[SX_FLOAT_BUF];
    switch (e->kind) {
    case PQ_NUMBER:
    case PQ_DUR_STEP:
        sx_format_float(num, e->kind == PQ_NUMBER ? e->number : 0);
        sx_buf_puts(b, "{\"type\":\"numberLiteral\",\"val\":");
        json_cstr(b, num);
        sx_buf_putc(b, '}');
        break;
    case PQ_STRING:
        sx_buf_puts(b, "{\"type\":\"stringLiteral\",\"val\":");
        json_str(b, e->string.ptr, e->string.len);
        sx_buf_putc(b, '}');
        break;
    case PQ_VSEL:
    case PQ_MSEL:
        sx_buf_puts(b, "{\"matchers\":");
        json_matchers(e, b);
        sx_buf_puts(b, ",\"name\":");
        json_str(b, e->sel.name.ptr, e->sel.name.len);
        json_mod(&e->sel.mod, b);
        if (e->kind == PQ_MSEL)
            sx_buf_printf(b, ",\"range\":%" PRId64, e->sel.range_expr ? (int64_t)0 : e->sel.range_ms);
        json_start_or_end(&e->sel.mod, b);
        json_timestamp(&e->sel.mod, b);
        sx_buf_puts(b, e->kind == PQ_MSEL ? ",\"type\":\"matrixSelector\"}"
                                          : ",\"type\":\"vectorSelector\"}");
        break;
    case PQ_SUBQUERY:
        sx_buf_puts(b, "{\"expr\":");
        json_node(e->sub.expr, b);
        json_mod(&e->sub.mod, b);
        sx_buf_printf(b, ",\"range\":%" PRId64, e->sub.range_expr ? (int64_t)0 : e->sub.range_ms);
        json_start_or_end(&e->sub.mod, b);
        sx_buf_printf(b, ",\"step\":%" PRId64, e->sub.step_expr ? (int64_t)0 : e->sub.step_ms);
        json_timestamp(&e->sub.mod, b);
        sx_buf_puts(b, ",\"type\":\"subquery\"}");
        break;
    case PQ_PAREN:
        sx_buf_puts(b, "{\"expr\":");
        json_node(e->paren.expr, b);
        sx_buf_puts(b, ",\"type\":\"parenExpr\"}");
        break;
    case PQ_UNARY:
        sx_buf_puts(b, "{\"expr\":");
        json_node(e->unary.expr, b);
        sx_buf_puts(b, ",\"op\":");
        json_cstr(b, sx_pq__op_name(e->unary.op));
        sx_buf_puts(b, ",\"type\":\"unaryExpr\"}");
        break;
    case PQ_BINARY: {
        const pq_match_t *vm = e->binary.match;
        sx_buf_printf(b, "{\"bool\":%s,\"lhs\":", e->binary.return_bool ? "true" : "false");
        json_node(e->binary.lhs, b);
        sx_buf_puts(b, ",\"matching\":");
        if (vm) {
            sx_buf_puts(b, "{\"card\":");
            json_cstr(b, card_name(vm->card));
            sx_buf_puts(b, ",\"include\":");
            json_labels(b, vm->include, vm->ninclude);
            sx_buf_puts(b, ",\"labels\":");
            json_labels(b, vm->labels, vm->nlabels);
            sx_buf_printf(b, ",\"on\":%s}", vm->on ? "true" : "false");
        } else {
            sx_buf_puts(b, "null");
        }
        sx_buf_puts(b, ",\"op\":");
        json_cstr(b, sx_pq__op_name(e->binary.op));
        sx_buf_puts(b, ",\"rhs\":");
        json_node(e->binary.rhs, b);
        sx_buf_puts(b, ",\"type\":\"binaryExpr\"}");
        break;
    }
    case PQ_AGG:
        sx_buf_puts(b, "{\"expr\":");
        json_node(e->agg.expr, b);
        sx_buf_puts(b, ",\"grouping\":");
        json_labels(b, e->agg.labels, e->agg.nlabels);
        sx_buf_puts(b, ",\"op\":");
        json_cstr(b, sx_pq__agg_name(e->agg.op));
        sx_buf_puts(b, ",\"param\":");
        json_node(e->agg.param, b);
        sx_buf_printf(b, ",\"type\":\"aggregation\",\"without\":%s}",
                      e->agg.without ? "true" : "false");
        break;
    case PQ_CALL: {
        const pq_func_t *fn = e->call.fn;
        sx_buf_puts(b, "{\"args\":[");
        for (size_t i = 0; i < e->call.nargs; i++) {
            if (i)
                sx_buf_putc(b, ',');
            json_node(e->call.args[i], b);
        }
        sx_buf_puts(b, "],\"func\":{\"argTypes\":[");
        int variadic = 0;
        if (fn) {
            for (int i = 0; i < fn->ntypes; i++) {
                if (i)
                    sx_buf_putc(b, ',');
                json_cstr(b, sx_promql_type_name(fn->argtypes[i]));
            }
            if (fn->max_args < 0)
                variadic = -1;
            else if (fn->max_args != fn->min_args)
                variadic = fn->max_args - fn->min_args;
        }
        sx_buf_puts(b, "],\"name\":");
        json_cstr(b, fn ? fn->name : "");
        sx_buf_puts(b, ",\"returnType\":");
        json_cstr(b, sx_promql_type_name(fn ? fn->ret : SX_PROMQL_NONE));
        sx_buf_printf(b, ",\"variadic\":%d},\"type\":\"call\"}", variadic);
        break;
    }
    }
}

void sx_promql_ast_json(const sx_promql_expr_t *e, sx_buf_t *out)
{
    json_node(e, out);
}
