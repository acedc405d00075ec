/* SPDX-License-Identifier: Apache-2.0 */
/* Printing parsed LogQL: the canonical one-line form of a tree built by
 * parse.c. Its contract is the round trip: the text parses to a tree that
 * prints the same, which the fuzz target checks. Literals print as they
 * were written (the tree keeps their text), strings are re-quoted with
 * Go's escapes, label filters and binary operations get parentheses only
 * where precedence needs them, and the few spellings the lexer would read
 * differently are spaced apart ("- 0", "! ="). Nothing here allocates
 * except in the output buffer. */
#include "logql_parse_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Names ---- */

const char *sx_logql_range_op_name(int op)
{
    static const char *const names[] = {
        [SX_LQ_RANGE_COUNT_OVER_TIME] = "count_over_time",
        [SX_LQ_RANGE_RATE] = "rate",
        [SX_LQ_RANGE_RATE_COUNTER] = "rate_counter",
        [SX_LQ_RANGE_BYTES_OVER_TIME] = "bytes_over_time",
        [SX_LQ_RANGE_BYTES_RATE] = "bytes_rate",
        [SX_LQ_RANGE_AVG_OVER_TIME] = "avg_over_time",
        [SX_LQ_RANGE_SUM_OVER_TIME] = "sum_over_time",
        [SX_LQ_RANGE_MIN_OVER_TIME] = "min_over_time",
        [SX_LQ_RANGE_MAX_OVER_TIME] = "max_over_time",
        [SX_LQ_RANGE_STDVAR_OVER_TIME] = "stdvar_over_time",
        [SX_LQ_RANGE_STDDEV_OVER_TIME] = "stddev_over_time",
        [SX_LQ_RANGE_QUANTILE_OVER_TIME] = "quantile_over_time",
        [SX_LQ_RANGE_FIRST_OVER_TIME] = "first_over_time",
        [SX_LQ_RANGE_LAST_OVER_TIME] = "last_over_time",
        [SX_LQ_RANGE_ABSENT_OVER_TIME] = "absent_over_time",
    };
    if (op < 0 || op >= (int)(sizeof(names) / sizeof(names[0])))
        return "?";
    return names[op];
}

const char *sx_logql_vector_op_name(int op)
{
    static const char *const names[] = {
        [SX_LQ_VEC_SUM] = "sum",         [SX_LQ_VEC_AVG] = "avg",
        [SX_LQ_VEC_COUNT] = "count",     [SX_LQ_VEC_MAX] = "max",
        [SX_LQ_VEC_MIN] = "min",         [SX_LQ_VEC_STDDEV] = "stddev",
        [SX_LQ_VEC_STDVAR] = "stdvar",   [SX_LQ_VEC_BOTTOMK] = "bottomk",
        [SX_LQ_VEC_TOPK] = "topk",       [SX_LQ_VEC_SORT] = "sort",
        [SX_LQ_VEC_SORT_DESC] = "sort_desc", [SX_LQ_VEC_APPROX_TOPK] = "approx_topk",
    };
    if (op < 0 || op >= (int)(sizeof(names) / sizeof(names[0])))
        return "?";
    return names[op];
}

const char *sx_logql_bin_op_name(int op)
{
    static const char *const names[] = {
        [SX_LQ_BIN_OR] = "or",   [SX_LQ_BIN_AND] = "and", [SX_LQ_BIN_UNLESS] = "unless",
        [SX_LQ_BIN_ADD] = "+",   [SX_LQ_BIN_SUB] = "-",   [SX_LQ_BIN_MUL] = "*",
        [SX_LQ_BIN_DIV] = "/",   [SX_LQ_BIN_MOD] = "%",   [SX_LQ_BIN_POW] = "^",
        [SX_LQ_BIN_EQ] = "==",   [SX_LQ_BIN_NE] = "!=",   [SX_LQ_BIN_GT] = ">",
        [SX_LQ_BIN_GE] = ">=",   [SX_LQ_BIN_LT] = "<",    [SX_LQ_BIN_LE] = "<=",
    };
    if (op < 0 || op >= (int)(sizeof(names) / sizeof(names[0])))
        return "?";
    return names[op];
}

const char *sx_logql_line_op_name(int op)
{
    static const char *const names[] = {
        [SX_LQ_LINE_CONTAINS] = "|=", [SX_LQ_LINE_NOT_CONTAINS] = "!=",
        [SX_LQ_LINE_MATCH] = "|~",    [SX_LQ_LINE_NOT_MATCH] = "!~",
        [SX_LQ_LINE_PATTERN] = "|>",  [SX_LQ_LINE_NOT_PATTERN] = "!>",
    };
    if (op < 0 || op >= (int)(sizeof(names) / sizeof(names[0])))
        return "?";
    return names[op];
}

const char *sx_lqp__cmp_name(int cmp)
{
    switch (cmp) {
    case SX_LQ_CMP_EQ: return "==";
    case SX_LQ_CMP_NE: return "!=";
    case SX_LQ_CMP_GT: return ">";
    case SX_LQ_CMP_GE: return ">=";
    case SX_LQ_CMP_LT: return "<";
    case SX_LQ_CMP_LE: return "<=";
    default: return "?";
    }
}

/* ---- Strings ---- */

static void put_hex(sx_buf_t *b, const char *pre, uint32_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    sx_buf_puts(b, pre);
    for (int i = digits - 1; i >= 0; i--)
        sx_buf_putc(b, hex[(v >> (4 * i)) & 0xF]);
}

/* Go's strconv.Quote, with unicode.IsPrint approximated: controls, DEL,
 * C1 controls and the line/paragraph separators are escaped; other
 * valid runes are kept; invalid bytes become \x escapes. */
void sx_lqp__quote(sx_buf_t *b, const char *s, size_t n)
{
    sx_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        uint32_t w;
        int32_t r = sx_lqp__utf8(s + i, n - i, &w);
        if (r < 0) {
            put_hex(b, "\\x", (unsigned char)s[i], 2);
            i++;
            continue;
        }
        switch (r) {
        case '"': sx_buf_puts(b, "\\\""); break;
        case '\\': sx_buf_puts(b, "\\\\"); break;
        case '\a': sx_buf_puts(b, "\\a"); break;
        case '\b': sx_buf_puts(b, "\\b"); break;
        case '\f': sx_buf_puts(b, "\\f"); break;
        case '\n': sx_buf_puts(b, "\\n"); break;
        case '\r': sx_buf_puts(b, "\\r"); break;
        case '\t': sx_buf_puts(b, "\\t"); break;
        case '\v': sx_buf_puts(b, "\\v"); break;
        default:
            if (r < 0x20 || r == 0x7F)
                put_hex(b, "\\x", (uint32_t)r, 2);
            else if ((r >= 0x80 && r < 0xA0) || r == 0x2028 || r == 0x2029 || r == 0xFEFF)
                put_hex(b, "\\u", (uint32_t)r, 4);
            else
                sx_buf_append(b, s + i, w);
        }
        i += w;
    }
    sx_buf_putc(b, '"');
}

static void put_quoted(sx_buf_t *b, sx_str_t s)
{
    sx_lqp__quote(b, s.ptr, s.len);
}

/* A label name. A lone "!" is an identifier only when something other
 * than '=', '~' or '>' follows it. */
static void put_name(sx_buf_t *b, sx_str_t s)
{
    sx_buf_append_str(b, s);
    if (s.len == 1 && s.ptr[0] == '!')
        sx_buf_putc(b, ' ');
}

/* A literal as written; "-0..." is spaced, since '-' and a leading zero
 * can read as a duration. */
static void put_num(sx_buf_t *b, const sx_logql_num_t *n)
{
    if (n->raw.len == 0) {
        double v = n->value;
        if (isnan(v)) {
            sx_buf_puts(b, "(0 / 0)");
            return;
        }
        if (isinf(v)) {
            sx_buf_puts(b, v > 0 ? "(1e308 * 10)" : "(-1e308 * 10)");
            return;
        }
        char buf[40];
        double a = fabs(v);
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, a);
            if (strtod(buf, NULL) == a)
                break;
        }
        if (signbit(v))
            sx_buf_puts(b, buf[0] == '0' ? "- " : "-");
        sx_buf_puts(b, buf);
        return;
    }
    if (n->neg)
        sx_buf_puts(b, n->raw.ptr[0] == '0' ? "- " : "-");
    sx_buf_append_str(b, n->raw);
}

/* ---- Pipelines ---- */

static void put_matcher(sx_buf_t *b, const sx_matcher_t *m)
{
    static const char *const ops[] = {
        [SX_MATCH_EQ] = "=", [SX_MATCH_NEQ] = "!=", [SX_MATCH_RE] = "=~", [SX_MATCH_NRE] = "!~",
    };
    put_name(b, m->name);
    sx_buf_puts(b, m->op >= 0 && m->op <= SX_MATCH_NRE ? ops[m->op] : "?");
    put_quoted(b, m->value);
}

static void put_lfilter(sx_buf_t *b, const sx_logql_lfilter_t *f)
{
    switch (f->kind) {
    case SX_LQ_LF_AND:
    case SX_LQ_LF_OR:
        for (size_t i = 0; i < f->group.nkids; i++) {
            const sx_logql_lfilter_t *k = f->group.kids[i];
            bool paren = k->kind == SX_LQ_LF_AND || k->kind == SX_LQ_LF_OR;
            if (i)
                sx_buf_puts(b, f->kind == SX_LQ_LF_AND ? " and " : " or ");
            if (paren)
                sx_buf_putc(b, '(');
            put_lfilter(b, k);
            if (paren)
                sx_buf_putc(b, ')');
        }
        return;
    case SX_LQ_LF_STRING:
        put_matcher(b, &f->leaf.m);
        return;
    case SX_LQ_LF_NUMBER:
        put_name(b, f->leaf.name);
        sx_buf_puts(b, sx_lqp__cmp_name(f->leaf.cmp));
        put_num(b, &f->leaf.num);
        return;
    case SX_LQ_LF_DURATION:
    case SX_LQ_LF_BYTES:
        put_name(b, f->leaf.name);
        sx_buf_puts(b, sx_lqp__cmp_name(f->leaf.cmp));
        sx_buf_append_str(b, f->leaf.raw);
        return;
    case SX_LQ_LF_IP:
        put_name(b, f->leaf.name);
        sx_buf_puts(b, f->leaf.cmp == SX_LQ_CMP_NE ? "!=ip(" : "=ip(");
        put_quoted(b, f->leaf.raw);
        sx_buf_putc(b, ')');
        return;
    default:
        sx_buf_puts(b, "?");
    }
}

static void put_extracts(sx_buf_t *b, const sx_logql_stage_t *st)
{
    for (size_t i = 0; i < st->parser.nparams; i++) {
        const sx_logql_extract_t *x = &st->parser.params[i];
        sx_buf_puts(b, i ? ", " : " ");
        put_name(b, x->label);
        if (!x->bare) {
            sx_buf_putc(b, '=');
            put_quoted(b, x->expr);
        }
    }
}

static void put_stage(sx_buf_t *b, const sx_logql_stage_t *st)
{
    switch (st->kind) {
    case SX_LQ_STAGE_LINE_FILTER:
        sx_buf_puts(b, sx_logql_line_op_name(st->line.op));
        for (size_t i = 0; i < st->line.nalts; i++) {
            const sx_logql_line_alt_t *a = &st->line.alts[i];
            sx_buf_puts(b, i ? " or " : " ");
            if (a->ip)
                sx_buf_puts(b, "ip(");
            put_quoted(b, a->value);
            if (a->ip)
                sx_buf_putc(b, ')');
        }
        return;
    case SX_LQ_STAGE_JSON:
        sx_buf_puts(b, "| json");
        put_extracts(b, st);
        return;
    case SX_LQ_STAGE_LOGFMT:
        sx_buf_puts(b, "| logfmt");
        if (st->parser.strict)
            sx_buf_puts(b, " --strict");
        if (st->parser.keep_empty)
            sx_buf_puts(b, " --keep-empty");
        put_extracts(b, st);
        return;
    case SX_LQ_STAGE_REGEXP:
        sx_buf_puts(b, "| regexp ");
        put_quoted(b, st->regexp.expr);
        return;
    case SX_LQ_STAGE_PATTERN:
        sx_buf_puts(b, "| pattern ");
        put_quoted(b, st->pattern);
        return;
    case SX_LQ_STAGE_UNPACK:
        sx_buf_puts(b, "| unpack");
        return;
    case SX_LQ_STAGE_LABEL_FILTER:
        sx_buf_puts(b, "| ");
        put_lfilter(b, st->filter);
        return;
    case SX_LQ_STAGE_LINE_FORMAT:
        sx_buf_puts(b, "| line_format ");
        put_quoted(b, st->tmpl);
        return;
    case SX_LQ_STAGE_LABEL_FORMAT:
        sx_buf_puts(b, "| label_format");
        for (size_t i = 0; i < st->label_fmt.n; i++) {
            const sx_logql_label_fmt_t *f = &st->label_fmt.f[i];
            sx_buf_puts(b, i ? ", " : " ");
            put_name(b, f->dst);
            sx_buf_putc(b, '=');
            if (f->rename) {
                if (f->value.len && f->value.ptr[0] == '~')
                    sx_buf_putc(b, ' '); /* not "=~" */
                put_name(b, f->value);
            } else {
                put_quoted(b, f->value);
            }
        }
        return;
    case SX_LQ_STAGE_DECOLORIZE:
        sx_buf_puts(b, "| decolorize");
        return;
    case SX_LQ_STAGE_DROP:
    case SX_LQ_STAGE_KEEP:
        sx_buf_puts(b, st->kind == SX_LQ_STAGE_DROP ? "| drop" : "| keep");
        for (size_t i = 0; i < st->names.n; i++) {
            const sx_logql_named_t *x = &st->names.labels[i];
            sx_buf_puts(b, i ? ", " : " ");
            if (x->has_matcher)
                put_matcher(b, &x->m);
            else
                put_name(b, x->name);
        }
        return;
    default:
        sx_buf_puts(b, "?");
    }
}

static void put_log(sx_buf_t *b, const sx_logql_expr_t *e)
{
    sx_buf_putc(b, '{');
    for (size_t i = 0; i < e->log.nmatchers; i++) {
        if (i)
            sx_buf_puts(b, ", ");
        put_matcher(b, &e->log.matchers[i]);
    }
    sx_buf_putc(b, '}');
    for (size_t i = 0; i < e->log.nstages; i++) {
        sx_buf_putc(b, ' ');
        put_stage(b, &e->log.stages[i]);
    }
}

/* ---- Metric expressions ---- */

static void put_labels(sx_buf_t *b, const sx_str_t *l, size_t n)
{
    sx_buf_putc(b, '(');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sx_buf_puts(b, ", ");
        put_name(b, l[i]);
    }
    sx_buf_putc(b, ')');
}

static void put_grouping(sx_buf_t *b, const sx_logql_grouping_t *g)
{
    sx_buf_puts(b, g->without ? "without " : "by ");
    put_labels(b, g->labels, g->nlabels);
}

static int bin_prec(int op)
{
    switch (op) {
    case SX_LQ_BIN_OR: return 1;
    case SX_LQ_BIN_AND: case SX_LQ_BIN_UNLESS: return 2;
    case SX_LQ_BIN_EQ: case SX_LQ_BIN_NE: case SX_LQ_BIN_GT: case SX_LQ_BIN_GE:
    case SX_LQ_BIN_LT: case SX_LQ_BIN_LE: return 3;
    case SX_LQ_BIN_ADD: case SX_LQ_BIN_SUB: return 4;
    case SX_LQ_BIN_MUL: case SX_LQ_BIN_DIV: case SX_LQ_BIN_MOD: return 5;
    default: return 6;
    }
}

static void put_expr(sx_buf_t *b, const sx_logql_expr_t *e);

static void put_operand(sx_buf_t *b, const sx_logql_expr_t *x, bool paren)
{
    if (paren)
        sx_buf_putc(b, '(');
    put_expr(b, x);
    if (paren)
        sx_buf_putc(b, ')');
}

static void put_binary(sx_buf_t *b, const sx_logql_expr_t *e)
{
    int op = e->bin.op, prec = bin_prec(op);
    const sx_logql_expr_t *l = e->bin.lhs, *r = e->bin.rhs;
    bool lp = l->kind == SX_LQ_EXPR_BINARY &&
              (bin_prec(l->bin.op) < prec || (bin_prec(l->bin.op) == prec && op == SX_LQ_BIN_POW));
    bool rp = r->kind == SX_LQ_EXPR_BINARY &&
              (bin_prec(r->bin.op) < prec || (bin_prec(r->bin.op) == prec && op != SX_LQ_BIN_POW));
    put_operand(b, l, lp);
    sx_buf_putc(b, ' ');
    sx_buf_puts(b, sx_logql_bin_op_name(op));
    if (e->bin.return_bool)
        sx_buf_puts(b, " bool");
    const sx_logql_matching_t *m = e->bin.match;
    if (m) {
        sx_buf_puts(b, m->on ? " on " : " ignoring ");
        put_labels(b, m->labels, m->nlabels);
        if (m->card != SX_LQ_CARD_ONE_TO_ONE) {
            /* Always with the list: a '(' after group_left starts one. */
            sx_buf_puts(b, m->card == SX_LQ_CARD_MANY_TO_ONE ? " group_left " : " group_right ");
            put_labels(b, m->include, m->ninclude);
        }
    }
    sx_buf_putc(b, ' ');
    put_operand(b, r, rp);
}

static void put_range(sx_buf_t *b, const sx_logql_expr_t *e)
{
    sx_buf_puts(b, sx_logql_range_op_name(e->range.op));
    sx_buf_putc(b, '(');
    if (e->range.param) {
        put_num(b, e->range.param);
        sx_buf_puts(b, ", ");
    }
    put_log(b, e->range.sel);
    if (e->range.has_unwrap) {
        const sx_logql_unwrap_t *u = &e->range.unwrap;
        static const char *const conv[] = {
            [SX_LQ_UNWRAP_FLOAT] = "",
            [SX_LQ_UNWRAP_BYTES] = "bytes",
            [SX_LQ_UNWRAP_DURATION] = "duration",
            [SX_LQ_UNWRAP_DURATION_SECONDS] = "duration_seconds",
        };
        sx_buf_puts(b, " | unwrap ");
        if (u->conv != SX_LQ_UNWRAP_FLOAT) {
            sx_buf_puts(b, u->conv >= 0 && u->conv <= SX_LQ_UNWRAP_DURATION_SECONDS
                               ? conv[u->conv] : "?");
            sx_buf_putc(b, '(');
            put_name(b, u->label);
            sx_buf_putc(b, ')');
        } else {
            put_name(b, u->label);
        }
        for (size_t i = 0; i < u->npost; i++) {
            sx_buf_puts(b, " | ");
            put_lfilter(b, u->post[i]);
        }
    }
    sx_buf_puts(b, " [");
    sx_buf_append_str(b, e->range.range_raw);
    sx_buf_putc(b, ']');
    if (e->range.offset_raw.len) {
        sx_buf_puts(b, " offset ");
        sx_buf_append_str(b, e->range.offset_raw);
    }
    sx_buf_putc(b, ')');
    if (e->range.grouping) {
        sx_buf_putc(b, ' ');
        put_grouping(b, e->range.grouping);
    }
}

static void put_expr(sx_buf_t *b, const sx_logql_expr_t *e)
{
    switch (e->kind) {
    case SX_LQ_EXPR_LOG:
        put_log(b, e);
        return;
    case SX_LQ_EXPR_RANGE_AGG:
        put_range(b, e);
        return;
    case SX_LQ_EXPR_VECTOR_AGG:
        sx_buf_puts(b, sx_logql_vector_op_name(e->vec.op));
        if (e->vec.grouping) {
            sx_buf_putc(b, ' ');
            put_grouping(b, e->vec.grouping);
            sx_buf_putc(b, ' ');
        }
        sx_buf_putc(b, '(');
        if (e->vec.param) {
            put_num(b, e->vec.param);
            sx_buf_puts(b, ", ");
        }
        put_expr(b, e->vec.expr);
        sx_buf_putc(b, ')');
        return;
    case SX_LQ_EXPR_BINARY:
        put_binary(b, e);
        return;
    case SX_LQ_EXPR_NUMBER:
        put_num(b, &e->num);
        return;
    case SX_LQ_EXPR_VECTOR:
        sx_buf_puts(b, "vector(");
        put_num(b, &e->num);
        sx_buf_putc(b, ')');
        return;
    case SX_LQ_EXPR_LABEL_REPLACE:
        sx_buf_puts(b, "label_replace(");
        put_expr(b, e->lrep.expr);
        sx_buf_puts(b, ", ");
        put_quoted(b, e->lrep.dst);
        sx_buf_puts(b, ", ");
        put_quoted(b, e->lrep.replacement);
        sx_buf_puts(b, ", ");
        put_quoted(b, e->lrep.src);
        sx_buf_puts(b, ", ");
        put_quoted(b, e->lrep.regex);
        sx_buf_putc(b, ')');
        return;
    default:
        sx_buf_puts(b, "?");
    }
}

void sx_logql_format(const sx_logql_expr_t *e, sx_buf_t *out)
{
    if (e)
        put_expr(out, e);
}
