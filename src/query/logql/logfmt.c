/* SPDX-License-Identifier: Apache-2.0 */
/* The logfmt decoder (the rules of Loki's go-logfmt fork, reimplemented)
 * and the `| logfmt` stage on top of it. The decoder never allocates: keys
 * and plain values are slices of the line, and only a quoted value with
 * escapes is unquoted into the label set's per-line arena. */
#include "logfmt.h"

#include <stdio.h>
#include <string.h>

/* ---- Decoder ---- */

typedef struct dec {
    const char *line;
    size_t len, pos;
    sx_str_t key, value; /* key.ptr == NULL: none; value.ptr == NULL: none */
    bool value_quoted_esc; /* value is the raw quoted text, still escaped */
    /* The last error: message and 1-based position, as Loki reports it. */
    const char *err_msg;
    char err_byte; /* for "unexpected 'c'" */
    size_t err_pos;
    bool has_err;
} dec_t;

static void syntax_error(dec_t *d, const char *msg)
{
    d->has_err = true;
    d->err_msg = msg;
    d->err_byte = 0;
    d->err_pos = d->pos + 1;
}

static void unexpected_byte(dec_t *d, char c)
{
    d->has_err = true;
    d->err_msg = NULL;
    d->err_byte = c;
    d->err_pos = d->pos + 1;
}

/* After a malformed pair: skip to the next blank and report no pair. */
static bool skip_value(dec_t *d)
{
    while (d->pos < d->len && (unsigned char)d->line[d->pos] > ' ')
        d->pos++;
    return false;
}

static bool bad_key(sx_str_t key, bool multibyte)
{
    return multibyte && sx_lq_has_rune_error(key);
}

/* Advance to the next pair. Returns true with key (and maybe value) set,
 * false at the end of the line or on a malformed pair (then has_err). */
static bool scan(dec_t *d)
{
    const unsigned char *l = (const unsigned char *)d->line;
    d->key = SX_STR_NULL;
    d->value = SX_STR_NULL;
    d->value_quoted_esc = false;

    while (d->pos < d->len && l[d->pos] <= ' ')
        d->pos++;
    if (d->pos >= d->len)
        return false;

    size_t start = d->pos;
    bool multibyte = false;
    for (; d->pos < d->len; d->pos++) {
        unsigned char c = l[d->pos];
        if (c == '=') {
            if (d->pos > start) {
                d->key = (sx_str_t){d->line + start, d->pos - start};
                if (bad_key(d->key, multibyte)) {
                    syntax_error(d, "invalid key");
                    return skip_value(d);
                }
            }
            if (!d->key.ptr) {
                unexpected_byte(d, '=');
                return skip_value(d);
            }
            goto equal;
        }
        if (c == '"') {
            unexpected_byte(d, '"');
            return skip_value(d);
        }
        if (c <= ' ') {
            d->key = (sx_str_t){d->line + start, d->pos - start};
            if (bad_key(d->key, multibyte)) {
                syntax_error(d, "invalid key");
                return false;
            }
            return true;
        }
        if (c >= 0x80)
            multibyte = true;
    }
    d->key = (sx_str_t){d->line + start, d->pos - start};
    if (bad_key(d->key, multibyte)) {
        syntax_error(d, "invalid key");
        return false;
    }
    return true;

equal:
    d->pos++;
    if (d->pos >= d->len || l[d->pos] <= ' ')
        return true;
    if (l[d->pos] == '"')
        goto qvalue;
    start = d->pos;
    for (; d->pos < d->len; d->pos++) {
        unsigned char c = l[d->pos];
        if (c == '=' || c == '"') {
            unexpected_byte(d, (char)c);
            return skip_value(d);
        }
        if (c <= ' ')
            break;
    }
    d->value = (sx_str_t){d->line + start, d->pos - start};
    return true;

qvalue:
    start = d->pos;
    {
        bool has_esc = false, esc = false;
        for (size_t i = d->pos + 1; i < d->len; i++) {
            unsigned char c = l[i];
            if (esc) {
                esc = false;
            } else if (c == '\\') {
                has_esc = esc = true;
            } else if (c == '"') {
                d->pos = i + 1;
                if (has_esc) {
                    /* Unquoted later, into the caller's arena. */
                    d->value = (sx_str_t){d->line + start, d->pos - start};
                    d->value_quoted_esc = true;
                } else if (d->pos - 1 > start + 1) {
                    d->value = (sx_str_t){d->line + start + 1, d->pos - 1 - start - 1};
                }
                return true;
            }
        }
    }
    d->pos = d->len;
    syntax_error(d, "unterminated quoted value");
    return false;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* \uXXXX at s[0..n), or -1. */
static long getu4(const unsigned char *s, size_t n)
{
    if (n < 6 || s[0] != '\\' || s[1] != 'u')
        return -1;
    long r = 0;
    for (int i = 2; i < 6; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return -1;
        r = r * 16 + h;
    }
    return r;
}

/* Unquote the quoted value q (with its quotes) as Go's encoding/json rules
 * adapted by go-logfmt: escapes \" \\ \/ \' \b \f \n \r \t \uXXXX
 * (surrogate pairs joined, lone surrogates U+FFFD), invalid UTF-8 coerced
 * to U+FFFD. Writes into out (3 * q.len bytes); returns the length or -1
 * when the value is invalid. */
static long unquote(sx_str_t q, char *out)
{
    const unsigned char *s = (const unsigned char *)q.ptr + 1;
    size_t n = q.len - 2, r = 0, w = 0;
    while (r < n) {
        unsigned char c = s[r];
        if (c == '\\') {
            r++;
            if (r >= n)
                return -1;
            switch (s[r]) {
            case '"': case '\\': case '/': case '\'':
                out[w++] = (char)s[r++];
                break;
            case 'b': out[w++] = '\b'; r++; break;
            case 'f': out[w++] = '\f'; r++; break;
            case 'n': out[w++] = '\n'; r++; break;
            case 'r': out[w++] = '\r'; r++; break;
            case 't': out[w++] = '\t'; r++; break;
            case 'u': {
                r--;
                long rr = getu4(s + r, n - r);
                if (rr < 0)
                    return -1;
                r += 6;
                if (rr >= 0xD800 && rr <= 0xDFFF) {
                    long rr1 = getu4(s + r, n - r);
                    if (rr < 0xDC00 && rr1 >= 0xDC00 && rr1 <= 0xDFFF) {
                        r += 6;
                        w += sx_utf8_encode(out + w,
                                               (uint32_t)(((rr - 0xD800) << 10) | (rr1 - 0xDC00)) + 0x10000);
                        break;
                    }
                    rr = 0xFFFD;
                }
                w += sx_utf8_encode(out + w, (uint32_t)rr);
                break;
            }
            default:
                return -1;
            }
        } else if (c == '"') {
            return -1;
        } else if (c < 0x80) {
            out[w++] = (char)c;
            r++;
        } else {
            uint32_t rr;
            size_t k = sx_lq_utf8_decode((const char *)s + r, n - r, &rr);
            if (rr == 0xFFFD && k == 1) {
                w += sx_utf8_encode(out + w, 0xFFFD);
            } else {
                memcpy(out + w, s + r, k);
                w += k;
            }
            r += k;
        }
    }
    return (long)w;
}

/* ---- Stage ---- */

int sx_lq_logfmt_init(sx_lq_logfmt_t *p, bool strict, bool keep_empty, const sx_str_t *ids,
                      const sx_str_t *exprs, size_t n, sx_arena_t *a, sx_err_t *err)
{
    memset(p, 0, sizeof(*p));
    p->strict = strict;
    p->keep_empty = keep_empty;
    if (n == 0)
        return 0;
    p->params = sx_arena_calloc(a, n, sizeof(*p->params));
    if (!p->params)
        return sx_err_set(err, SX_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        sx_str_t e = exprs[i];
        const char *s = e.ptr, *end = e.ptr + e.len;
        sx_str_t key = SX_STR_NULL;
        int ntok = 0;
        const char *msg = NULL;
        while (s < end) {
            char c = *s;
            if (c == ' ' || c == '\t' || c == '\n') {
                s++;
                continue;
            }
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
                const char *b = s;
                while (s < end && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                                   (*s >= '0' && *s <= '9') || *s == '_'))
                    s++;
                if (ntok++) {
                    msg = "unexpected KEY";
                    break;
                }
                key = (sx_str_t){b, (size_t)(s - b)};
            } else if (c == '"') {
                const char *b = ++s;
                while (s < end && *s != '"' && *s != ']')
                    s++;
                sx_str_t str = {b, (size_t)(s - b)};
                if (s < end)
                    s++;
                if (ntok++) {
                    msg = "unexpected STRING";
                    break;
                }
                key = str;
            } else {
                return sx_err_set(err, SX_EPARSE, "cannot parse expression [%.*s]: unexpected char %c",
                                  (int)e.len, e.ptr, c);
            }
        }
        if (!msg && ntok == 0)
            msg = "unexpected $end, expecting STRING or KEY";
        if (msg)
            return sx_err_set(err, SX_EPARSE, "cannot parse expression [%.*s]: syntax error: %s",
                              (int)e.len, e.ptr, msg);
        if (!sx_lq_label_name_valid(ids[i]))
            return sx_err_set(err, SX_EPARSE, "invalid extracted label name '%.*s'",
                              (int)ids[i].len, ids[i].ptr);
        /* Later parameters with the same id replace earlier ones (Loki
         * keeps them in a map). */
        size_t k = 0;
        while (k < p->n_params && !sx_str_eq(p->params[k].id, ids[i]))
            k++;
        p->params[k].id = sx_arena_strdup_str(a, ids[i]);
        p->params[k].key = sx_arena_strdup_str(a, key);
        if (k == p->n_params)
            p->n_params++;
    }
    return 0;
}

static sx_str_t with_suffix(sx_lq_labels_t *lb, sx_str_t name)
{
    size_t sl = sizeof(SX_LQ_DUPLICATE_SUFFIX) - 1;
    char *o = sx_lq_labels_alloc(lb, name.len + sl);
    if (name.len)
        memcpy(o, name.ptr, name.len);
    memcpy(o + name.len, SX_LQ_DUPLICATE_SUFFIX, sl);
    return (sx_str_t){o, name.len + sl};
}

/* The sanitized form of key: key itself when it is already a valid label
 * name, else a copy in the per-line arena (possibly empty). */
static sx_str_t sanitize(sx_lq_labels_t *lb, sx_str_t key)
{
    if (sx_lq_label_name_valid(key))
        return key;
    char *o = sx_lq_labels_alloc(lb, key.len + 1);
    size_t n = sx_lq_sanitize_key(key, true, o);
    return (sx_str_t){o, n};
}

static sx_str_t decode_value(dec_t *d, sx_lq_labels_t *lb, bool *ok)
{
    *ok = true;
    if (!d->value.ptr)
        return SX_STR_LIT("");
    if (!d->value_quoted_esc)
        return d->value;
    char *o = sx_lq_labels_alloc(lb, 3 * d->value.len + 1);
    long n = unquote(d->value, o);
    if (n < 0) {
        *ok = false;
        return SX_STR_LIT("");
    }
    return (sx_str_t){o, (size_t)n};
}

static void set_error(dec_t *d, sx_lq_labels_t *lb)
{
    char buf[128];
    int n;
    if (d->err_msg)
        n = snprintf(buf, sizeof(buf), "logfmt syntax error at pos %zu : %s", d->err_pos, d->err_msg);
    else
        n = snprintf(buf, sizeof(buf), "logfmt syntax error at pos %zu : unexpected '%c'",
                     d->err_pos, d->err_byte);
    sx_lq_labels_set_error(lb, SX_STR_LIT(SX_LQ_ERR_LOGFMT),
                           sx_lq_labels_strdup(lb, buf, n > 0 ? (size_t)n : 0));
}

/* The decoder reports an invalid quoted value only after it has consumed
 * the pair; scan_pair folds that into the same error path. */
static bool scan_pair(dec_t *d, sx_lq_labels_t *lb, sx_str_t *value)
{
    if (!scan(d))
        return false;
    bool ok;
    *value = decode_value(d, lb, &ok);
    if (!ok) {
        /* Position: just after the closing quote, as Loki. */
        syntax_error(d, "invalid quoted value");
        return false;
    }
    return true;
}

void sx_lq_logfmt_process(const sx_lq_logfmt_t *p, sx_str_t line, sx_lq_labels_t *lb)
{
    dec_t d = {.line = line.ptr, .len = line.len};

    if (p->n_params) {
        for (size_t i = 0; i < p->n_params; i++)
            if (!sx_lq_labels_base_has(lb, p->params[i].id))
                sx_lq_labels_set(lb, SX_LQ_PARSED, p->params[i].id, SX_STR_LIT(""));
    }

    while (d.pos < d.len) {
        sx_str_t value;
        if (!scan_pair(&d, lb, &value)) {
            if (p->strict)
                break;
            continue;
        }
        sx_str_t key = sanitize(lb, d.key);
        if (key.len == 0)
            continue;

        if (p->n_params) {
            if (sx_lq_has_rune_error(value))
                value = SX_STR_LIT("");
            for (size_t i = 0; i < p->n_params; i++) {
                if (sx_str_eq(key, p->params[i].key)) {
                    key = p->params[i].id;
                    break;
                }
            }
            size_t i = 0;
            while (i < p->n_params && !sx_str_eq(key, p->params[i].id))
                i++;
            if (i == p->n_params)
                continue;
            if (sx_lq_labels_base_has(lb, key))
                key = with_suffix(lb, key);
            sx_lq_labels_set(lb, SX_LQ_PARSED, key, value);
            continue;
        }

        if (sx_lq_labels_base_has(lb, key))
            key = with_suffix(lb, key);
        value = sx_lq_fix_rune_error(lb, value);
        if (!p->keep_empty && value.len == 0)
            continue;
        sx_lq_labels_set(lb, SX_LQ_PARSED, key, value);
    }
    if (p->strict && d.has_err)
        set_error(&d, lb);
}
