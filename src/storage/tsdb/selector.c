/* SPDX-License-Identifier: Apache-2.0 */
/* Label matchers and the series selector syntax of match[] parameters.
 * Regular expressions are PCRE2 with JIT, anchored at both ends as
 * Prometheus anchors its RE2 patterns. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb.h"

typedef struct re {
    pcre2_code *code;
    pcre2_match_data *md; /* unused across threads: one per match call */
} re_t;

int sx_matcher_compile(sx_matcher_t *m, sx_err_t *err)
{
    m->_re = NULL;
    if (m->op != SX_MATCH_RE && m->op != SX_MATCH_NRE)
        return 0;
    size_t n = m->value.len + 16;
    char *pat = malloc(n);
    if (!pat)
        return sx_err_set(err, SX_ENOMEM, "out of memory");
    int len = snprintf(pat, n, "^(?:%.*s)$", (int)m->value.len, m->value.ptr);
    int ec;
    PCRE2_SIZE eo;
    /* DOTALL: RE2 in Prometheus matches '.' against newlines too. */
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, (PCRE2_SIZE)len,
                                     PCRE2_UTF | PCRE2_DOTALL, &ec, &eo, NULL);
    free(pat);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        return sx_err_set(err, SX_EPARSE, "invalid regular expression \"%.*s\": %s",
                          (int)m->value.len, m->value.ptr, (char *)msg);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    m->_re = code;
    return 0;
}

void sx_matcher_dispose(sx_matcher_t *m)
{
    if (m->_re)
        pcre2_code_free(m->_re);
    m->_re = NULL;
}

static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_free(void *p)
{
    pcre2_match_data_free(p);
}

static void md_init(void)
{
    pthread_key_create(&md_key, md_free);
}

/* Match data for the calling thread, freed when the thread exits. */
static pcre2_match_data *thread_match_data(void)
{
    pthread_once(&md_once, md_init);
    pcre2_match_data *md = pthread_getspecific(md_key);
    if (!md) {
        md = pcre2_match_data_create(4, NULL);
        pthread_setspecific(md_key, md);
    }
    return md;
}

bool sx_matcher_matches(const sx_matcher_t *m, sx_str_t value)
{
    switch (m->op) {
    case SX_MATCH_EQ:
        return sx_str_eq(m->value, value);
    case SX_MATCH_NEQ:
        return !sx_str_eq(m->value, value);
    default: {
        pcre2_match_data *md = thread_match_data();
        int rc = pcre2_match(m->_re, (PCRE2_SPTR)(value.ptr ? value.ptr : ""), value.len, 0, 0, md, NULL);
        bool hit = rc >= 0;
        return m->op == SX_MATCH_RE ? hit : !hit;
    }
    }
}

/* ---- Selector parser ---- */

typedef struct lex {
    const char *p, *end;
    sx_arena_t *a;
    sx_err_t *err;
} lex_t;

static void skip_ws(lex_t *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
        l->p++;
}

static bool ident_char(char c, bool first, bool metric)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':'))
        return true;
    return !first && c >= '0' && c <= '9';
}

static sx_str_t ident(lex_t *l, bool metric)
{
    const char *s = l->p;
    while (l->p < l->end && ident_char(*l->p, l->p == s, metric))
        l->p++;
    return (sx_str_t){s, (size_t)(l->p - s)};
}

static int utf8_put(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A quoted string: "..." or '...' with Go escapes, or `raw`. */
static int string_lit(lex_t *l, sx_str_t *out)
{
    if (l->p >= l->end || (*l->p != '"' && *l->p != '\'' && *l->p != '`'))
        return sx_err_set(l->err, SX_EPARSE, "expected a quoted string at position %zu",
                          (size_t)(l->p - (l->end - 0)) + 0);
    char q = *l->p++;
    char *o = sx_arena_alloc(l->a, (size_t)(l->end - l->p) + 1);
    size_t k = 0;
    while (l->p < l->end && *l->p != q) {
        char c = *l->p++;
        if (c == '\\' && q != '`') {
            if (l->p >= l->end)
                break;
            char e = *l->p++;
            switch (e) {
            case 'n': o[k++] = '\n'; break;
            case 't': o[k++] = '\t'; break;
            case 'r': o[k++] = '\r'; break;
            case 'a': o[k++] = '\a'; break;
            case 'b': o[k++] = '\b'; break;
            case 'f': o[k++] = '\f'; break;
            case 'v': o[k++] = '\v'; break;
            case '\\': o[k++] = '\\'; break;
            case '"': o[k++] = '"'; break;
            case '\'': o[k++] = '\''; break;
            case 'x': case 'u': case 'U': {
                int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                unsigned cp = 0;
                for (int i = 0; i < nd; i++) {
                    if (l->p >= l->end)
                        return sx_err_set(l->err, SX_EPARSE, "unterminated escape sequence");
                    char h = *l->p++;
                    int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                          : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if (v < 0)
                        return sx_err_set(l->err, SX_EPARSE, "invalid escape sequence");
                    cp = cp * 16 + (unsigned)v;
                }
                if (e == 'x')
                    o[k++] = (char)cp;
                else if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                    return sx_err_set(l->err, SX_EPARSE, "invalid unicode code point in escape");
                else
                    k += (size_t)utf8_put(o + k, cp);
                break;
            }
            default:
                if (e >= '0' && e <= '7') {
                    unsigned v = (unsigned)(e - '0');
                    for (int i = 0; i < 2; i++) {
                        if (l->p >= l->end || *l->p < '0' || *l->p > '7')
                            return sx_err_set(l->err, SX_EPARSE, "invalid octal escape");
                        v = v * 8 + (unsigned)(*l->p++ - '0');
                    }
                    if (v > 255)
                        return sx_err_set(l->err, SX_EPARSE, "invalid octal escape");
                    o[k++] = (char)v;
                } else {
                    return sx_err_set(l->err, SX_EPARSE, "unknown escape sequence '\\%c'", e);
                }
            }
        } else {
            o[k++] = c;
        }
    }
    if (l->p >= l->end)
        return sx_err_set(l->err, SX_EPARSE, "unterminated quoted string");
    l->p++;
    o[k] = '\0';
    *out = (sx_str_t){o, k};
    return 0;
}

int sx_selector_parse(sx_str_t s, sx_arena_t *a, sx_matcher_t **out, size_t *n, sx_err_t *err)
{
    lex_t l = {s.ptr, s.ptr + s.len, a, err};
    size_t cap = 8, cnt = 0;
    sx_matcher_t *m = sx_arena_calloc(a, cap, sizeof(*m));
    *out = NULL;
    *n = 0;
    skip_ws(&l);
    if (l.p < l.end && ident_char(*l.p, true, true)) {
        sx_str_t name = ident(&l, true);
        m[cnt++] = (sx_matcher_t){SX_STR_LIT("__name__"), sx_arena_strdup_str(a, name), SX_MATCH_EQ, NULL};
        skip_ws(&l);
    }
    if (l.p < l.end && *l.p == '{') {
        l.p++;
        for (;;) {
            skip_ws(&l);
            if (l.p < l.end && *l.p == '}') {
                l.p++;
                break;
            }
            sx_str_t name;
            if (l.p < l.end && (*l.p == '"' || *l.p == '\'')) {
                if (string_lit(&l, &name))
                    goto fail;
            } else {
                name = ident(&l, false);
                if (!name.len) {
                    sx_err_set(err, SX_EPARSE, "1:%zu: parse error: unexpected character inside braces",
                               (size_t)(l.p - s.ptr) + 1);
                    goto fail;
                }
            }
            skip_ws(&l);
            int op;
            if (l.end - l.p >= 2 && l.p[0] == '=' && l.p[1] == '~') {
                op = SX_MATCH_RE;
                l.p += 2;
            } else if (l.end - l.p >= 2 && l.p[0] == '!' && l.p[1] == '=') {
                op = SX_MATCH_NEQ;
                l.p += 2;
            } else if (l.end - l.p >= 2 && l.p[0] == '!' && l.p[1] == '~') {
                op = SX_MATCH_NRE;
                l.p += 2;
            } else if (l.p < l.end && l.p[0] == '=') {
                op = SX_MATCH_EQ;
                l.p++;
            } else {
                sx_err_set(err, SX_EPARSE, "1:%zu: parse error: unexpected character in label matcher, expected one of =, !=, =~, !~",
                           (size_t)(l.p - s.ptr) + 1);
                goto fail;
            }
            skip_ws(&l);
            sx_str_t value;
            if (string_lit(&l, &value)) {
                sx_err_wrap(err, "1:%zu: parse error: ", (size_t)(l.p - s.ptr) + 1);
                goto fail;
            }
            if (cnt == cap) {
                m = sx_arena_realloc(a, m, cap * sizeof(*m), cap * 2 * sizeof(*m));
                cap *= 2;
            }
            m[cnt] = (sx_matcher_t){sx_arena_strdup_str(a, name), value, op, NULL};
            if (sx_matcher_compile(&m[cnt], err))
                goto fail;
            cnt++;
            skip_ws(&l);
            if (l.p < l.end && *l.p == ',') {
                l.p++;
                continue;
            }
            if (l.p < l.end && *l.p == '}') {
                l.p++;
                break;
            }
            sx_err_set(err, SX_EPARSE, "1:%zu: parse error: unexpected end of input inside braces",
                       (size_t)(l.p - s.ptr) + 1);
            goto fail;
        }
    }
    skip_ws(&l);
    if (l.p != l.end || cnt == 0) {
        sx_err_set(err, SX_EPARSE, "1:%zu: parse error: unexpected character in selector \"%.*s\"",
                   (size_t)(l.p - s.ptr) + 1, (int)s.len, s.ptr);
        goto fail;
    }
    bool nonempty = false;
    for (size_t i = 0; i < cnt; i++)
        nonempty = nonempty || !sx_matcher_matches(&m[i], (sx_str_t){"", 0});
    if (!nonempty) {
        sx_err_set(err, SX_EPARSE, "vector selector must contain at least one non-empty matcher");
        goto fail;
    }
    *out = m;
    *n = cnt;
    return 0;
fail:
    sx_selector_dispose(m, cnt);
    return err ? err->code : SX_EPARSE;
}

void sx_selector_dispose(sx_matcher_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sx_matcher_dispose(&m[i]);
}
