/* SPDX-License-Identifier: Apache-2.0 */
/* Pattern expressions (see pattern.h): a tokenizer that splits the
 * expression into literal runs and <captures>, Loki's validation, and the
 * two matchers (extraction and line-filter test), both built on memmem. */
#include "pattern.h"

#include <string.h>

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

/* Length of a capture token "<name>" at s[0..n), or 0. */
static size_t capture_len(const char *s, size_t n)
{
    if (n < 3 || s[0] != '<' || !ident_start(s[1]))
        return 0;
    size_t i = 2;
    while (i < n && ident_char(s[i]))
        i++;
    return i < n && s[i] == '>' ? i + 1 : 0;
}

static int parse(sx_str_t expr, sx_lq_pattern_t *p, sx_arena_t *a, sx_err_t *err)
{
    memset(p, 0, sizeof(*p));
    char *copy = sx_arena_strndup(a, expr.ptr ? expr.ptr : "", expr.len);
    /* At most one node per byte, plus one. */
    p->nodes = sx_arena_alloc(a, (expr.len + 1) * sizeof(*p->nodes));
    if (!copy || !p->nodes)
        return sx_err_set(err, SX_ENOMEM, "out of memory");
    size_t i = 0;
    while (i < expr.len) {
        size_t cl = capture_len(copy + i, expr.len - i);
        if (cl) {
            p->nodes[p->n++] = (sx_lq_pattern_node_t){{copy + i + 1, cl - 2}, true};
            i += cl;
            continue;
        }
        if (p->n && !p->nodes[p->n - 1].capture)
            p->nodes[p->n - 1].text.len++;
        else
            p->nodes[p->n++] = (sx_lq_pattern_node_t){{copy + i, 1}, false};
        i++;
    }
    for (size_t k = 0; k < p->n; k++)
        if (p->nodes[k].capture && !sx_str_eq(p->nodes[k].text, SX_STR_LIT("_")))
            p->n_names++;
    for (size_t k = 0; k + 1 < p->n; k++)
        if (p->nodes[k].capture && p->nodes[k + 1].capture)
            return sx_err_set(err, SX_EPARSE, "found consecutive capture: invalid expression");
    return 0;
}

static bool unnamed(const sx_lq_pattern_node_t *n)
{
    return n->text.len == 1 && n->text.ptr[0] == '_';
}

int sx_lq_pattern_compile(sx_str_t expr, sx_lq_pattern_t *p, sx_arena_t *a, sx_err_t *err)
{
    if (expr.len == 0)
        return sx_err_set(err, SX_EPARSE,
                          "syntax error: unexpected $end, expecting IDENTIFIER or LITERAL");
    int rc = parse(expr, p, a, err);
    if (rc)
        return rc;
    if (p->n_names == 0)
        return sx_err_set(err, SX_EPARSE, "at least one capture is required");
    for (size_t i = 0; i < p->n; i++) {
        if (!p->nodes[i].capture || unnamed(&p->nodes[i]))
            continue;
        for (size_t k = i + 1; k < p->n; k++)
            if (p->nodes[k].capture && sx_str_eq(p->nodes[i].text, p->nodes[k].text))
                return sx_err_set(err, SX_EPARSE, "duplicate capture name (%.*s): invalid expression",
                                  (int)p->nodes[i].text.len, p->nodes[i].text.ptr);
    }
    return 0;
}

int sx_lq_pattern_compile_filter(sx_str_t expr, sx_lq_pattern_t *p, sx_arena_t *a, sx_err_t *err)
{
    int rc = parse(expr, p, a, err);
    if (rc)
        return rc;
    if (p->n_names)
        return sx_err_set(err, SX_EPARSE, "named captures are not allowed");
    return 0;
}

sx_str_t sx_lq_pattern_name(const sx_lq_pattern_t *p, size_t i)
{
    for (size_t k = 0; k < p->n; k++) {
        if (!p->nodes[k].capture || unnamed(&p->nodes[k]))
            continue;
        if (i-- == 0)
            return p->nodes[k].text;
    }
    return SX_STR_NULL;
}

static const char *find(const char *h, size_t hn, sx_str_t lit)
{
    return memmem(h, hn, lit.ptr, lit.len);
}

size_t sx_lq_pattern_match(const sx_lq_pattern_t *p, sx_str_t line, sx_str_t *caps)
{
    size_t nc = 0;
    if (line.len == 0 || p->n == 0)
        return 0;
    const char *in = line.ptr;
    size_t left = line.len;
    size_t k = 0;
    if (!p->nodes[0].capture) {
        sx_str_t lit = p->nodes[0].text;
        if (left < lit.len || memcmp(in, lit.ptr, lit.len) != 0)
            return 0;
        in += lit.len;
        left -= lit.len;
        k = 1;
    }
    if (k == p->n)
        return 0;
    /* From here nodes go capture, literal, capture, ... */
    while (k < p->n) {
        const sx_lq_pattern_node_t *cap = &p->nodes[k];
        if (k + 1 == p->n) { /* ends on a capture */
            if (!unnamed(cap))
                caps[nc++] = (sx_str_t){in, left};
            return nc;
        }
        sx_str_t lit = p->nodes[k + 1].text;
        k += 2;
        const char *at = find(in, left, lit);
        if (!at) {
            if (!unnamed(cap))
                caps[nc++] = (sx_str_t){in, left};
            return nc;
        }
        size_t i = (size_t)(at - in);
        if (!unnamed(cap))
            caps[nc++] = (sx_str_t){in, i};
        in += i + lit.len;
        left -= i + lit.len;
    }
    return nc;
}

void sx_lq_pattern_process(const sx_lq_pattern_t *p, sx_str_t line, sx_lq_labels_t *lb)
{
    sx_str_t small[16];
    sx_str_t *caps = p->n_names <= 16 ? small
                                      : (sx_str_t *)sx_lq_labels_alloc(lb, p->n_names * sizeof(sx_str_t));
    size_t n = sx_lq_pattern_match(p, line, caps);
    for (size_t i = 0; i < n; i++) {
        sx_str_t name = sx_lq_pattern_name(p, i);
        if (sx_lq_labels_base_has(lb, name)) {
            size_t sl = sizeof(SX_LQ_DUPLICATE_SUFFIX) - 1;
            char *o = sx_lq_labels_alloc(lb, name.len + sl);
            memcpy(o, name.ptr, name.len);
            memcpy(o + name.len, SX_LQ_DUPLICATE_SUFFIX, sl);
            name = (sx_str_t){o, name.len + sl};
        }
        sx_lq_labels_set(lb, SX_LQ_PARSED, name, caps[i]);
    }
}

bool sx_lq_pattern_test(const sx_lq_pattern_t *p, sx_str_t line)
{
    if (line.len == 0 || p->n == 0)
        return line.len == 0 && p->n == 0;
    size_t off = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->nodes[i].capture)
            continue;
        sx_str_t lit = p->nodes[i].text;
        const char *at = find(line.ptr + off, line.len - off, lit);
        if (!at)
            return false;
        size_t j = (size_t)(at - (line.ptr + off));
        /* A literal found right where the previous one ended means an
         * empty capture (or a repeated literal): no match. */
        if (i != 0 && j == 0)
            return false;
        off += j + lit.len;
    }
    bool req_rem = p->nodes[p->n - 1].capture;
    bool has_rem = off != line.len;
    return req_rem == has_rem;
}
