/* SPDX-License-Identifier: Apache-2.0 */
/* The TraceQL that trace search takes (one spanset filter of && joined
 * comparisons) and Tempo's logfmt tags= parameter, parsed into
 * conditions. Typed values: strings, numbers, booleans, durations, status
 * and kind names. */
#include "traceql.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../core/buf.h"
#include "../logql/convert.h"

const char *const sx_tql_kind_names[6] = {"unspecified", "internal", "server", "client",
                                          "producer", "consumer"};
const char *const sx_tql_status_names[3] = {"unset", "ok", "error"};

int sx_tql_name_index(const char *s, size_t n, const char *const *names, int count)
{
    for (int k = 0; k < count; k++)
        if (strlen(names[k]) == n && strncasecmp(s, names[k], n) == 0)
            return k;
    return -1;
}

static sx_tql_cond_t *grow_conds(sx_arena_t *a, sx_tql_cond_t *p, size_t *cap, size_t n,
                                 size_t size)
{
    if (n < *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 4;
    sx_tql_cond_t *q = sx_arena_realloc(a, p, *cap * size, c * size);
    *cap = c;
    return q;
}


static void skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
        (*p)++;
}

/* A double-quoted string at *p (\" \\ \n \t escapes), arena copy. */
static char *parse_quoted(sx_arena_t *a, const char **p)
{
    const char *s = *p + 1;
    sx_buf_t b = SX_BUF_INIT;
    for (; *s && *s != '"'; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            sx_buf_putc(&b, *s == 'n' ? '\n' : *s == 't' ? '\t' : *s);
        } else {
            sx_buf_putc(&b, *s);
        }
    }
    char *r = NULL;
    if (*s == '"') {
        r = sx_arena_strndup(a, b.len ? b.ptr : "", b.len);
        *p = s + 1;
    }
    sx_buf_dispose(&b);
    return r;
}

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-' || c == '/' || c == ':';
}

/* The simplest TraceQL: one spanset filter `{ c && c ... }` (or `{}`),
 * each c `field op value`. Returns NULL or an error message. */
const char *sx_tql_parse(sx_arena_t *a, const char *q, sx_tql_cond_t **out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    const char *p = q;
    skip_ws(&p);
    if (*p != '{')
        return "only a single spanset filter { ... } is supported";
    p++;
    skip_ws(&p);
    if (*p == '}') {
        p++;
        goto end;
    }
    for (;;) {
        sx_tql_cond_t c = {0};
        skip_ws(&p);
        const char *f = p;
        while (ident_char(*p))
            p++;
        size_t fl = (size_t)(p - f);
        if (!fl)
            return "expected an attribute or intrinsic";
#define IS(lit) (fl == sizeof(lit) - 1 && memcmp(f, lit, fl) == 0)
        if (IS("name") || IS("span:name"))
            c.field = SX_TQL_F_NAME;
        else if (IS("status") || IS("span:status"))
            c.field = SX_TQL_F_STATUS;
        else if (IS("kind") || IS("span:kind"))
            c.field = SX_TQL_F_KIND;
        else if (IS("duration") || IS("span:duration"))
            c.field = SX_TQL_F_DURATION;
        else if (fl > 1 && f[0] == '.')
            c.field = SX_TQL_F_ATTR_ANY, c.key = sx_arena_strndup(a, f + 1, fl - 1);
        else if (fl > 5 && memcmp(f, "span.", 5) == 0)
            c.field = SX_TQL_F_ATTR_SPAN, c.key = sx_arena_strndup(a, f + 5, fl - 5);
        else if (fl > 9 && memcmp(f, "resource.", 9) == 0)
            c.field = SX_TQL_F_ATTR_RES, c.key = sx_arena_strndup(a, f + 9, fl - 9);
        else
            return "unsupported attribute or intrinsic (use .attr, span.attr, resource.attr, name, "
                   "status, kind or duration)";
#undef IS
        skip_ws(&p);
        if (p[0] == '!' && p[1] == '=')
            c.op = SX_TQL_OP_NE, p += 2;
        else if (p[0] == '>' && p[1] == '=')
            c.op = SX_TQL_OP_GE, p += 2;
        else if (p[0] == '<' && p[1] == '=')
            c.op = SX_TQL_OP_LE, p += 2;
        else if (p[0] == '=' && p[1] != '~')
            c.op = SX_TQL_OP_EQ, p += 1;
        else if (p[0] == '>')
            c.op = SX_TQL_OP_GT, p += 1;
        else if (p[0] == '<')
            c.op = SX_TQL_OP_LT, p += 1;
        else
            return "unsupported operator (use =, !=, >, <, >= or <=)";
        skip_ws(&p);
        if (*p == '"') {
            if (!(c.s = parse_quoted(a, &p)))
                return "unterminated string";
            c.vt = SX_TQL_V_STR;
        } else {
            const char *v = p;
            while (ident_char(*p) || *p == '+')
                p++;
            size_t vl = (size_t)(p - v);
            if (!vl)
                return "expected a value";
            int k;
            char *end;
            if (vl == 4 && memcmp(v, "true", 4) == 0)
                c.vt = SX_TQL_V_BOOL, c.b = true;
            else if (vl == 5 && memcmp(v, "false", 5) == 0)
                c.vt = SX_TQL_V_BOOL, c.b = false;
            else if (c.field == SX_TQL_F_STATUS && (k = sx_tql_name_index(v, vl, sx_tql_status_names, 3)) >= 0)
                c.vt = SX_TQL_V_INT, c.i = k;
            else if (c.field == SX_TQL_F_KIND && (k = sx_tql_name_index(v, vl, sx_tql_kind_names, 6)) >= 0)
                c.vt = SX_TQL_V_INT, c.i = k;
            else if (c.field == SX_TQL_F_DURATION) {
                int64_t ns;
                sx_err_t err;
                sx_err_clear(&err);
                if (sx_lq_parse_duration((sx_str_t){v, vl}, &ns, &err))
                    return "invalid duration";
                c.vt = SX_TQL_V_INT, c.i = ns;
            } else {
                char *tmp = sx_arena_strndup(a, v, vl);
                c.num = strtod(tmp, &end);
                if (*end || (v[0] != '-' && v[0] != '+' && v[0] != '.' && (v[0] < '0' || v[0] > '9')))
                    return "unsupported value (use a string, number, boolean, duration, status or kind)";
                c.vt = SX_TQL_V_NUM;
            }
        }
        if ((c.field == SX_TQL_F_STATUS || c.field == SX_TQL_F_KIND || c.field == SX_TQL_F_DURATION) && c.vt != SX_TQL_V_INT)
            return "status, kind and duration take status names, kind names and durations";
        if ((c.field == SX_TQL_F_STATUS || c.field == SX_TQL_F_KIND) && c.op != SX_TQL_OP_EQ && c.op != SX_TQL_OP_NE)
            return "status and kind only take = and !=";
        if (c.field == SX_TQL_F_NAME && c.vt != SX_TQL_V_STR)
            return "name takes a string";
        if (c.vt == SX_TQL_V_BOOL && c.op != SX_TQL_OP_EQ && c.op != SX_TQL_OP_NE)
            return "booleans only take = and !=";
        if (!(*out = grow_conds(a, *out, &cap, *n, sizeof(sx_tql_cond_t))))
            return "query too large";
        (*out)[(*n)++] = c;
        skip_ws(&p);
        if (p[0] == '&' && p[1] == '&') {
            p += 2;
            continue;
        }
        if (*p == '}') {
            p++;
            break;
        }
        return "only conditions joined by && inside one pair of braces are supported";
    }
end:
    skip_ws(&p);
    return *p ? "only a single spanset filter { ... } is supported" : NULL;
}

void sx_tql_cond_add_text(sx_arena_t *a, sx_tql_cond_t **v, size_t *n, size_t *cap, const char *k,
                          const char *val)
{
    sx_tql_cond_t c = {0};
    int code;
    c.op = SX_TQL_OP_EQ;
    if (strcmp(k, "name") == 0) {
        c.field = SX_TQL_F_NAME, c.vt = SX_TQL_V_STR, c.s = val;
    } else if ((strcmp(k, "status") == 0 || strcmp(k, "status.code") == 0 ||
                strcmp(k, "error") == 0) &&
               ((code = sx_tql_name_index(val, strlen(val), sx_tql_status_names, 3)) >= 0 ||
                (k[0] == 'e' && strcmp(val, "true") == 0 && (code = 2)))) {
        c.field = SX_TQL_F_STATUS, c.vt = SX_TQL_V_INT, c.i = code;
    } else if ((strcmp(k, "kind") == 0 || strcmp(k, "span.kind") == 0) &&
               (code = sx_tql_name_index(val, strlen(val), sx_tql_kind_names, 6)) >= 0) {
        c.field = SX_TQL_F_KIND, c.vt = SX_TQL_V_INT, c.i = code;
    } else {
        c.field = SX_TQL_F_ATTR_ANY, c.text = true, c.key = k, c.s = val;
    }
    if ((*v = grow_conds(a, *v, cap, *n, sizeof(sx_tql_cond_t))))
        (*v)[(*n)++] = c;
}

/* Tempo's tags=: logfmt key=value pairs, values optionally quoted. */
const char *sx_tql_tags_parse(sx_arena_t *a, const char *s, sx_tql_cond_t **out, size_t *n, size_t *cap)
{
    const char *p = s;
    for (;;) {
        skip_ws(&p);
        if (!*p)
            return NULL;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ')
            p++;
        if (*p != '=' || p == k)
            return "invalid tags: expected key=value pairs (logfmt)";
        char *key = sx_arena_strndup(a, k, (size_t)(p - k));
        p++;
        char *val;
        if (*p == '"') {
            if (!(val = parse_quoted(a, &p)))
                return "invalid tags: unterminated quoted value";
        } else {
            const char *v = p;
            while (*p && *p != ' ')
                p++;
            val = sx_arena_strndup(a, v, (size_t)(p - v));
        }
        sx_tql_cond_add_text(a, out, n, cap, key, val);
    }
}

