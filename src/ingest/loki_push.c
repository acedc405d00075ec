/* SPDX-License-Identifier: Apache-2.0 */
/* Loki push: decoders for logproto.PushRequest (protobuf) and Loki's JSON
 * push body, the parser for the "{a=\"b\"}" label text of protobuf
 * streams, the validation Loki's distributor applies (with its messages),
 * and an encoder for tests and load generation. The decoders sit between
 * the HTTP layer (which has decompressed the body) and the log store; they
 * copy only what has escapes, so the body must outlive the batch. The JSON
 * scanner shared with the Kubernetes normalizer (ingest_int.h) is defined
 * here too. */
#include "log_ingest.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"
#include "protobuf.h"

/* Field numbers from grafana/loki pkg/push/push.proto (package logproto)
 * and google/protobuf/timestamp.proto. */
enum {
    PUSH_REQUEST_STREAMS = 1,
    STREAM_LABELS = 1,
    STREAM_ENTRIES = 2,
    STREAM_HASH = 3, /* ignored */
    ENTRY_TIMESTAMP = 1,
    ENTRY_LINE = 2,
    ENTRY_STRUCTURED_METADATA = 3,
    ENTRY_PARSED = 4, /* response only; ignored */
    PAIR_NAME = 1,
    PAIR_VALUE = 2,
    TIMESTAMP_SECONDS = 1,
    TIMESTAMP_NANOS = 2,
};

/* Protobuf wire types. */

#define TAG(num, wt) ((char)(((num) << 3) | (wt)))

/* Bytes of a stream's labels shown in error messages before "...". */
#define SHOWN_MAX 256

static const sx_log_limits_t default_limits = SX_LOG_LIMITS_DEFAULT;

/* ---- UTF-8 and Go quoting (for Loki's messages and label text) ---- */

/* Decode one UTF-8 sequence at p (n > 0 bytes available). Returns its
 * width; invalid sequences (overlong, surrogates, past U+10FFFF, truncated)
 * give U+FFFD with width 1, as Go's utf8.DecodeRune does. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *r)
{
    unsigned c = p[0];
    if (c < 0x80) {
        *r = c;
        return 1;
    }
    uint32_t v;
    size_t w;
    if (c >= 0xc2 && c <= 0xdf) {
        v = c & 0x1f;
        w = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        v = c & 0x0f;
        w = 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
        v = c & 0x07;
        w = 4;
    } else {
        *r = 0xfffd;
        return 1;
    }
    if (n < w)
        goto bad;
    for (size_t i = 1; i < w; i++) {
        if ((p[i] & 0xc0) != 0x80)
            goto bad;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if ((w == 3 && (v < 0x800 || (v >= 0xd800 && v < 0xe000))) || (w == 4 && (v < 0x10000 || v > 0x10ffff)))
        goto bad;
    *r = v;
    return w;
bad:
    *r = 0xfffd;
    return 1;
}

static char *put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* Go's unicode.IsPrint, closely enough for messages: no C0/C1 controls,
 * no DEL, no U+FFFD from bad input. */
static bool rune_printable(uint32_t r)
{
    return r >= 0x20 && r != 0x7f && !(r >= 0x80 && r < 0xa0) && r <= 0x10ffff;
}

/* Append one rune escaped for a Go quoted literal whose quote is q. */
static void go_escape_rune(sx_buf_t *b, uint32_t r, char q)
{
    static const char named[] = "\a\b\f\n\r\t\v";
    static const char letters[] = "abfnrtv";
    if (r == (uint32_t)q || r == '\\') {
        sx_buf_putc(b, '\\');
        sx_buf_putc(b, (char)r);
        return;
    }
    if (r < 0x80 && rune_printable(r)) {
        sx_buf_putc(b, (char)r);
        return;
    }
    const char *nm = r && r < 0x20 ? strchr(named, (int)r) : NULL;
    if (nm) {
        sx_buf_putc(b, '\\');
        sx_buf_putc(b, letters[nm - named]);
    } else if (r < 0x20 || r == 0x7f) {
        sx_buf_printf(b, "\\x%02x", r);
    } else if (!rune_printable(r)) {
        sx_buf_printf(b, r < 0x10000 ? "\\u%04x" : "\\U%08x", r);
    } else {
        char tmp[4];
        sx_buf_append(b, tmp, (size_t)(put_utf8(tmp, r) - tmp));
    }
}

/* Append s as Go's strconv.Quote writes it: escapes for quotes, backslash
 * and controls, \xHH for bytes that are not UTF-8, printable text kept. */
static void go_quote(sx_buf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    sx_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        uint32_t r;
        size_t w = utf8_decode(p + i, n - i, &r);
        if (r == 0xfffd && w == 1 && p[i] >= 0x80)
            sx_buf_printf(b, "\\x%02x", p[i]);
        else
            go_escape_rune(b, r, '"');
        i += w;
    }
    sx_buf_putc(b, '"');
}

/* Go's %q of a rune: 'x', '\n', '\'', '\x00'. */
static void go_quote_rune(sx_buf_t *b, uint32_t r)
{
    sx_buf_putc(b, '\'');
    go_escape_rune(b, r, '\'');
    sx_buf_putc(b, '\'');
}

/* Go's %#U: U+0071 'q', or U+0007 for what does not print. */
static void go_rune_U(sx_buf_t *b, uint32_t r)
{
    sx_buf_printf(b, "U+%04X", r);
    if (rune_printable(r) && r != 0xfffd) {
        char tmp[4];
        sx_buf_puts(b, " '");
        sx_buf_append(b, tmp, (size_t)(put_utf8(tmp, r) - tmp));
        sx_buf_putc(b, '\'');
    }
}

void sx_loki_labels_format(sx_buf_t *out, const sx_label_t *labels, uint32_t n)
{
    sx_buf_putc(out, '{');
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            sx_buf_puts(out, ", ");
        sx_buf_append_str(out, labels[i].name);
        sx_buf_putc(out, '=');
        go_quote(out, labels[i].value.ptr, labels[i].value.len);
    }
    sx_buf_putc(out, '}');
}

/* s cut to max bytes with "..." (at a byte boundary: messages only). */
static void append_cut(sx_buf_t *b, const char *s, size_t n, size_t max)
{
    sx_buf_append(b, s, n > max ? max : n);
    if (n > max)
        sx_buf_puts(b, "...");
}

/* ---- Label sorting ---- */

typedef struct ilabel {
    sx_label_t l;
    uint32_t idx;
} ilabel_t;

static int cmp_ilabel(const void *a, const void *b)
{
    const ilabel_t *x = a, *y = b;
    int c = sx_str_cmp(x->l.name, y->l.name);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sort labels by name, keeping the arrival order of equal names. Small
 * sets (every real one) use sx_labels_sort's insertion sort; large ones
 * (hostile input) qsort with the index as tie-break, so the cost stays
 * n log n. Empty values are kept. Returns false when the arena is full. */
static bool sort_labels_stable(sx_arena_t *a, sx_label_t *ls, uint32_t n)
{
    if (n <= 32) {
        for (uint32_t i = 1; i < n; i++) {
            sx_label_t t = ls[i];
            uint32_t j = i;
            while (j > 0 && sx_str_cmp(ls[j - 1].name, t.name) > 0) {
                ls[j] = ls[j - 1];
                j--;
            }
            ls[j] = t;
        }
        return true;
    }
    ilabel_t *tmp = sx_arena_alloc(a, (size_t)n * sizeof(*tmp));
    if (!tmp)
        return false;
    for (uint32_t i = 0; i < n; i++)
        tmp[i] = (ilabel_t){ls[i], i};
    qsort(tmp, n, sizeof(*tmp), cmp_ilabel);
    for (uint32_t i = 0; i < n; i++)
        ls[i] = tmp[i].l;
    return true;
}

/* ---- The label text parser (Prometheus ParseMetric, as Loki uses it) ---- */

enum {
    TK_EOF,
    TK_ERROR,
    TK_IDENT,
    TK_METRIC_IDENT,
    TK_STRING,
    TK_NUMBER,
    TK_LBRACE,
    TK_RBRACE,
    TK_COMMA,
    TK_EQL,
    TK_OP,
};

typedef struct tok {
    int typ;
    size_t pos;   /* byte offset of the token, or of the error */
    size_t len;   /* bytes of token text */
    bool escaped; /* TK_STRING: has a backslash escape */
    char msg[160]; /* TK_ERROR: the lexer's message */
} tok_t;

typedef struct lex {
    const char *s;
    size_t len, pos;
    bool in_braces;
} lex_t;

static inline bool is_alpha(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static uint32_t rune_at(const lex_t *l, size_t pos, size_t *w)
{
    if (pos >= l->len) {
        *w = 0;
        return 0xfffd; /* Go's %q of EOF (-1) prints the replacement character */
    }
    uint32_t r;
    *w = utf8_decode((const unsigned char *)l->s + pos, l->len - pos, &r);
    return r;
}

static int lex_error(tok_t *t, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int lex_error(tok_t *t, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof(t->msg), fmt, ap);
    va_end(ap);
    t->typ = TK_ERROR;
    t->pos = pos;
    return TK_ERROR;
}

/* Same, with one rune formatted by f (Go's %q or %#U) after prefix. */
static int lex_error_rune(tok_t *t, size_t pos, const char *prefix, uint32_t r, bool U,
                          const char *suffix)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, prefix);
    if (U)
        go_rune_U(&b, r);
    else
        go_quote_rune(&b, r);
    sx_buf_puts(&b, suffix);
    lex_error(t, pos, "%.*s", (int)b.len, b.ptr);
    sx_buf_dispose(&b);
    return TK_ERROR;
}

static inline int digit_val(uint32_t c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return 16;
}

/* An escape inside a quoted string; l->pos is just past the backslash.
 * Errors are reported at start (the opening quote), as Prometheus does. */
static int lex_escape(lex_t *l, tok_t *t, size_t start, char quote)
{
    size_t w;
    if (l->pos >= l->len)
        return lex_error(t, start, "escape sequence not terminated");
    uint32_t ch = rune_at(l, l->pos, &w);
    l->pos += w;
    int n, base;
    uint32_t max;
    switch (ch) {
    case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\':
        return TK_STRING;
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
        n = 3, base = 8, max = 255;
        break;
    case 'x':
        ch = rune_at(l, l->pos, &w), l->pos += w;
        n = 2, base = 16, max = 255;
        break;
    case 'u':
        ch = rune_at(l, l->pos, &w), l->pos += w;
        n = 4, base = 16, max = 0x10ffff;
        break;
    case 'U':
        ch = rune_at(l, l->pos, &w), l->pos += w;
        n = 8, base = 16, max = 0x10ffff;
        break;
    default:
        if (ch == (uint32_t)quote)
            return TK_STRING;
        return lex_error_rune(t, start, "unknown escape sequence ", ch, true, "");
    }
    uint32_t x = 0;
    for (;;) {
        int d = digit_val(ch);
        if (d >= base) {
            if (w == 0)
                return lex_error(t, start, "escape sequence not terminated");
            return lex_error_rune(t, start, "illegal character ", ch, true, " in escape sequence");
        }
        x = x * (uint32_t)base + (uint32_t)d;
        if (--n == 0)
            break;
        ch = rune_at(l, l->pos, &w), l->pos += w;
    }
    if (x > max || (x >= 0xd800 && x < 0xe000))
        return lex_error(t, start, "escape sequence is an invalid Unicode code point");
    return TK_STRING;
}

static int lex_string(lex_t *l, tok_t *t)
{
    size_t start = l->pos;
    char quote = l->s[l->pos++];
    t->escaped = false;
    for (;;) {
        if (l->pos >= l->len)
            return lex_error(t, start, quote == '`' ? "unterminated raw string" : "unterminated quoted string");
        unsigned char c = (unsigned char)l->s[l->pos];
        if (c == (unsigned char)quote) {
            l->pos++;
            break;
        }
        if (quote != '`' && c == '\n')
            return lex_error(t, start, "unterminated quoted string");
        if (quote != '`' && c == '\\') {
            l->pos++;
            t->escaped = true;
            if (lex_escape(l, t, start, quote) == TK_ERROR)
                return TK_ERROR;
            continue;
        }
        if (c >= 0x80) {
            uint32_t r;
            size_t w = utf8_decode((const unsigned char *)l->s + l->pos, l->len - l->pos, &r);
            if (r == 0xfffd && w == 1)
                return lex_error(t, start, "invalid UTF-8 rune");
            l->pos += w;
            continue;
        }
        l->pos++;
    }
    t->typ = TK_STRING;
    t->pos = start;
    t->len = l->pos - start;
    return TK_STRING;
}

/* The next token of a label text: Prometheus' lexInsideBraces between the
 * braces and a reduced lexStatements outside them (identifiers, strings,
 * numbers, '{', ',', '='; anything else is "unexpected character"). */
static int lex_next(lex_t *l, tok_t *t)
{
    const char *s = l->s;
    for (;;) {
        while (l->pos < l->len && (s[l->pos] == ' ' || s[l->pos] == '\t' || s[l->pos] == '\n' ||
                                   s[l->pos] == '\r'))
            l->pos++;
        if (l->pos < l->len && s[l->pos] == '#') {
            while (l->pos < l->len && s[l->pos] != '\n' && s[l->pos] != '\r')
                l->pos++;
            continue;
        }
        break;
    }
    size_t start = l->pos, w;
    t->pos = start;
    t->len = 1;
    if (start >= l->len) {
        t->len = 0;
        if (l->in_braces)
            return lex_error(t, start, "unexpected end of input inside braces");
        return t->typ = TK_EOF;
    }
    char c = s[start];
    if (c == '"' || c == '\'' || c == '`')
        return lex_string(l, t);
    if (l->in_braces) {
        if (is_alpha(c)) {
            while (l->pos < l->len && (is_alpha(s[l->pos]) || is_digit(s[l->pos])))
                l->pos++;
            t->len = l->pos - start;
            return t->typ = TK_IDENT;
        }
        l->pos++;
        switch (c) {
        case ',':
            return t->typ = TK_COMMA;
        case '=':
            if (l->pos < l->len && s[l->pos] == '~') {
                l->pos++;
                t->len = 2;
                return t->typ = TK_OP;
            }
            return t->typ = TK_EQL;
        case '!':
            if (l->pos < l->len && (s[l->pos] == '~' || s[l->pos] == '=')) {
                l->pos++;
                t->len = 2;
                return t->typ = TK_OP;
            }
            return lex_error_rune(t, start, "unexpected character after '!' inside braces: ",
                                  rune_at(l, l->pos, &w), false, "");
        case '{':
            return lex_error(t, start, "unexpected left brace '{'");
        case '}':
            l->in_braces = false;
            return t->typ = TK_RBRACE;
        default:
            return lex_error_rune(t, start, "unexpected character inside braces: ",
                                  rune_at(l, start, &w), false, "");
        }
    }
    if (is_alpha(c) || c == ':') {
        bool colon = false;
        while (l->pos < l->len && (is_alpha(s[l->pos]) || is_digit(s[l->pos]) || s[l->pos] == ':'))
            colon |= s[l->pos++] == ':';
        t->len = l->pos - start;
        return t->typ = colon ? TK_METRIC_IDENT : TK_IDENT;
    }
    if (is_digit(c)) {
        while (l->pos < l->len && (is_alpha(s[l->pos]) || is_digit(s[l->pos]) || s[l->pos] == '.'))
            l->pos++;
        t->len = l->pos - start;
        return t->typ = TK_NUMBER;
    }
    l->pos++;
    switch (c) {
    case '{':
        l->in_braces = true;
        return t->typ = TK_LBRACE;
    case ',':
        return t->typ = TK_COMMA;
    case '=':
        if (l->pos < l->len && s[l->pos] == '~')
            return lex_error(t, start, "unexpected character after '=': '~'");
        if (l->pos < l->len && s[l->pos] == '=') {
            l->pos++;
            t->len = 2;
            return t->typ = TK_OP;
        }
        return t->typ = TK_EQL;
    default:
        return lex_error_rune(t, start, "unexpected character: ", rune_at(l, start, &w), false, "");
    }
}

/* Prometheus' description of a token in "unexpected X" messages. */
static void tok_desc(const lex_t *l, const tok_t *t, sx_buf_t *b)
{
    const char *text = l->s + t->pos;
    switch (t->typ) {
    case TK_EOF:
        sx_buf_puts(b, "end of input");
        return;
    case TK_IDENT:
    case TK_METRIC_IDENT:
        sx_buf_puts(b, t->typ == TK_IDENT ? "identifier " : "metric identifier ");
        go_quote(b, text, t->len);
        return;
    case TK_OP:
        sx_buf_printf(b, "<op:%.*s>", (int)t->len, text);
        return;
    case TK_STRING:
    case TK_NUMBER:
        sx_buf_puts(b, t->typ == TK_STRING ? "string " : "number ");
        if (t->len > 10) {
            /* Go's %.10q: the first ten runes, quoted, then "...". */
            size_t n = 0;
            for (int runes = 0; runes < 10 && n < t->len; runes++) {
                uint32_t r;
                n += utf8_decode((const unsigned char *)text + n, t->len - n, &r);
            }
            go_quote(b, text, n);
            sx_buf_puts(b, "...");
        } else {
            go_quote(b, text, t->len);
        }
        return;
    default:
        go_quote(b, text, t->len);
        return;
    }
}

/* Unquote the value of a TK_STRING token (the lexer has checked it). */
static bool unquote(sx_arena_t *a, const char *text, size_t len, bool escaped, sx_str_t *out)
{
    const char *p = text + 1, *end = text + len - 1;
    if (!escaped) {
        *out = (sx_str_t){p, (size_t)(end - p)};
        return true;
    }
    char *o0 = sx_arena_alloc(a, (size_t)(end - p) + 1), *o = o0;
    if (!o0)
        return false;
    while (p < end) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        char c = p[1];
        p += 2;
        switch (c) {
        case 'a': *o++ = '\a'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'v': *o++ = '\v'; break;
        case '\\': *o++ = '\\'; break;
        case 'x': case 'u': case 'U': {
            int n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            uint32_t x = 0;
            for (int i = 0; i < n; i++)
                x = x * 16 + (uint32_t)digit_val((unsigned char)*p++);
            if (c == 'x')
                *o++ = (char)x; /* a byte, as Go: may leave invalid UTF-8 */
            else
                o = put_utf8(o, x);
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                uint32_t x = (uint32_t)(c - '0');
                for (int i = 0; i < 2; i++)
                    x = x * 8 + (uint32_t)(*p++ - '0');
                *o++ = (char)x;
            } else {
                *o++ = c; /* the quote character itself */
            }
        }
    }
    *out = (sx_str_t){o0, (size_t)(o - o0)};
    return true;
}

/* Fill err with Loki's message for a label text that does not parse. */
static int labels_parse_fail(sx_err_t *err, sx_str_t s, size_t pos, const char *why)
{
    size_t line = 1, col;
    const char *nl = NULL;
    for (size_t i = 0; i < pos && i < s.len; i++)
        if (s.ptr[i] == '\n') {
            line++;
            nl = s.ptr + i;
        }
    col = nl ? (size_t)(s.ptr + pos - nl) : pos + 1;
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, "Error parsing labels '");
    append_cut(&b, s.ptr, s.len, SHOWN_MAX);
    sx_buf_printf(&b, "' with error: %zu:%zu: parse error: %s", line, col, why);
    sx_err_set(err, SX_EPARSE, "%.*s", (int)b.len, b.ptr);
    sx_buf_dispose(&b);
    return SX_EPARSE;
}

static int parse_unexpected(sx_err_t *err, sx_str_t s, const lex_t *l, const tok_t *t,
                            const char *context, const char *expected)
{
    if (t->typ == TK_ERROR)
        return labels_parse_fail(err, s, t->pos, t->msg);
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, "unexpected ");
    tok_desc(l, t, &b);
    if (context) {
        sx_buf_puts(&b, " in ");
        sx_buf_puts(&b, context);
    }
    if (expected) {
        sx_buf_puts(&b, ", expected ");
        sx_buf_puts(&b, expected);
    }
    sx_buf_putc(&b, '\0');
    labels_parse_fail(err, s, t->pos, b.ptr);
    sx_buf_dispose(&b);
    return SX_EPARSE;
}

int sx_loki_labels_parse(sx_str_t s, sx_arena_t *a, sx_label_t **out, uint32_t *n,
                         sx_err_t *err)
{
    lex_t l = {s.ptr ? s.ptr : "", s.len, 0, false};
    tok_t t;
    sx_label_t *ls = NULL;
    uint32_t nl = 0, cap = 0;
    sx_str_t metric = SX_STR_NULL;
    const char *set = "label set";

    *out = NULL;
    *n = 0;
    lex_next(&l, &t);
    if (t.typ == TK_IDENT || t.typ == TK_METRIC_IDENT) {
        metric = (sx_str_t){l.s + t.pos, t.len};
        lex_next(&l, &t);
    }
    if (t.typ == TK_LBRACE) {
        lex_next(&l, &t);
        if (t.typ != TK_RBRACE) {
            for (;;) {
                if (t.typ != TK_IDENT)
                    return parse_unexpected(err, s, &l, &t, set, "identifier or \"}\"");
                sx_str_t name = {l.s + t.pos, t.len};
                lex_next(&l, &t);
                if (t.typ != TK_EQL)
                    return parse_unexpected(err, s, &l, &t, set, "identifier or \"}\"");
                lex_next(&l, &t);
                if (t.typ != TK_STRING)
                    return parse_unexpected(err, s, &l, &t, set, "string");
                if (nl == cap) {
                    uint32_t ncap = cap ? cap * 2 : 16;
                    sx_label_t *g = sx_arena_realloc(a, ls, nl * sizeof(*ls), ncap * sizeof(*ls));
                    if (!g)
                        return sx_err_set(err, SX_ETOOLARGE, "labels exceed the request memory limit");
                    ls = g;
                    cap = ncap;
                }
                ls[nl].name = name;
                if (!unquote(a, l.s + t.pos, t.len, t.escaped, &ls[nl].value))
                    return sx_err_set(err, SX_ETOOLARGE, "labels exceed the request memory limit");
                nl++;
                lex_next(&l, &t);
                if (t.typ == TK_COMMA) {
                    lex_next(&l, &t);
                    if (t.typ == TK_RBRACE)
                        break;
                    continue;
                }
                if (t.typ == TK_RBRACE)
                    break;
                return parse_unexpected(err, s, &l, &t, set, "\",\" or \"}\"");
            }
        }
        lex_next(&l, &t);
    }
    if (t.typ != TK_EOF)
        return parse_unexpected(err, s, &l, &t, NULL, NULL);

    if (metric.len) {
        /* Prometheus sets __name__ from the name in front, replacing one
         * given in the braces. */
        uint32_t k = 0;
        for (uint32_t i = 0; i < nl; i++)
            if (!sx_str_eq_cstr(ls[i].name, "__name__"))
                ls[k++] = ls[i];
        nl = k;
        if (nl == cap) {
            sx_label_t *g = sx_arena_realloc(a, ls, nl * sizeof(*ls), (nl + 1) * sizeof(*ls));
            if (!g)
                return sx_err_set(err, SX_ETOOLARGE, "labels exceed the request memory limit");
            ls = g;
        }
        ls[nl++] = (sx_label_t){SX_STR_LIT("__name__"), metric};
    }
    /* Empty values are absent labels (Loki's ParseLabels drops them). */
    uint32_t k = 0;
    for (uint32_t i = 0; i < nl; i++)
        if (ls[i].value.len)
            ls[k++] = ls[i];
    nl = k;
    if (nl <= 32)
        nl = sx_labels_sort(ls, nl);
    else if (!sort_labels_stable(a, ls, nl))
        return sx_err_set(err, SX_ETOOLARGE, "labels exceed the request memory limit");
    *out = ls;
    *n = nl;
    return 0;
}

/* ---- Validation (Loki's distributor, with its messages) ---- */

/* How a stream is shown in label errors: Loki prints stream.Labels, which
 * is the text as sent for protobuf and the rendered map for JSON. */
typedef struct stream_ref {
    sx_str_t raw;             /* protobuf: the label text */
    const sx_label_t *map;    /* JSON: the label map, sorted, empty values kept */
    uint32_t nmap;
} stream_ref_t;

static void ref_append(sx_buf_t *b, const stream_ref_t *ref)
{
    if (ref->map) {
        sx_buf_t r = SX_BUF_INIT;
        sx_loki_labels_format(&r, ref->map, ref->nmap);
        append_cut(b, r.ptr, r.len, SHOWN_MAX);
        sx_buf_dispose(&r);
    } else {
        append_cut(b, ref->raw.ptr ? ref->raw.ptr : "", ref->raw.len, SHOWN_MAX);
    }
}

static void labels_append(sx_buf_t *b, const sx_label_t *ls, uint32_t n)
{
    sx_buf_t r = SX_BUF_INIT;
    sx_loki_labels_format(&r, ls, n);
    append_cut(b, r.ptr, r.len, SHOWN_MAX);
    sx_buf_dispose(&r);
}

static int buf_err(sx_err_t *err, int code, sx_buf_t *b)
{
    sx_err_set(err, code, "%.*s", (int)b->len, b->ptr ? b->ptr : "");
    sx_buf_dispose(b);
    return code;
}

/* ValidateLabels: labels (sorted, empty values dropped) against lim. */
static int validate_labels(const sx_log_limits_t *lim, const stream_ref_t *ref,
                           const sx_label_t *ls, uint32_t n, sx_err_t *err)
{
    sx_buf_t b = SX_BUF_INIT;
    if (n == 0)
        return sx_err_set(err, SX_EINVAL, "error at least one label pair is required per stream");
    uint32_t count = n;
    for (uint32_t i = 0; i < n; i++)
        if (sx_str_eq_cstr(ls[i].name, "service_name")) {
            count--; /* Loki allows one more label when service_name is there */
            break;
        }
    if (count > lim->max_label_names) {
        sx_buf_puts(&b, "entry for stream '");
        ref_append(&b, ref);
        sx_buf_printf(&b, "' has %u label names; limit %u", count, lim->max_label_names);
        return buf_err(err, SX_EINVAL, &b);
    }
    for (uint32_t i = 0; i < n; i++) {
        const sx_label_t *l = &ls[i];
        const char *what = NULL;
        sx_str_t shown = l->name;
        if (l->name.len > lim->max_label_name_len) {
            what = "' has label name too long: '";
        } else if (l->value.len > lim->max_label_value_len) {
            what = "' has label value too long: '";
            shown = l->value;
        } else if (i > 0 && sx_str_eq(ls[i - 1].name, l->name)) {
            what = "' has duplicate label name: '";
        } else if (!sx_utf8_valid(l->value.ptr, l->value.len)) {
            what = "' has a label value that is not valid UTF-8: '";
        }
        if (what) {
            sx_buf_puts(&b, "stream '");
            ref_append(&b, ref);
            sx_buf_puts(&b, what);
            append_cut(&b, shown.ptr, shown.len, 128);
            sx_buf_putc(&b, '\'');
            return buf_err(err, SX_EINVAL, &b);
        }
    }
    return 0;
}

/* ValidateEntry, the parts that depend on the entry alone: first the line
 * size, then (check_meta) structured metadata size and count. Loki shows
 * the stream as its parsed labels here, not as sent. */
static int check_line(const sx_log_limits_t *lim, const sx_label_t *ls, uint32_t n, size_t len,
                      sx_err_t *err)
{
    if (!lim->max_line_size || len <= lim->max_line_size)
        return 0;
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_printf(&b, "Max entry size '%u' bytes exceeded for stream '", lim->max_line_size);
    labels_append(&b, ls, n);
    sx_buf_printf(&b, "' while adding an entry with length '%zu' bytes", len);
    return buf_err(err, SX_EINVAL, &b);
}

/* count may exceed nmeta when not every pair was kept (a hostile entry). */
static int check_meta(const sx_label_t *ls, uint32_t n, const sx_label_t *meta, uint32_t nmeta,
                      size_t count, sx_err_t *err)
{
    sx_buf_t b = SX_BUF_INIT;
    size_t size = 0;
    for (uint32_t i = 0; i < nmeta; i++)
        size += meta[i].name.len + meta[i].value.len;
    if (size > SX_LOKI_MAX_SM_BYTES) {
        sx_buf_puts(&b, "stream '");
        labels_append(&b, ls, n);
        sx_buf_printf(&b,
                      "' has structured metadata too large: '%zu' bytes, limit: '%d' bytes. "
                      "Please see `limits_config.max_structured_metadata_size` or contact your "
                      "Loki administrator to increase it.",
                      size, SX_LOKI_MAX_SM_BYTES);
        return buf_err(err, SX_EINVAL, &b);
    }
    if (count > SX_LOKI_MAX_SM_ENTRIES) {
        sx_buf_puts(&b, "stream '");
        labels_append(&b, ls, n);
        sx_buf_printf(&b,
                      "' has too many structured metadata labels: '%zu', limit: '%d'. Please see "
                      "`limits_config.max_structured_metadata_entries_count` or contact your "
                      "Loki administrator to increase it.",
                      count, SX_LOKI_MAX_SM_ENTRIES);
        return buf_err(err, SX_EINVAL, &b);
    }
    return 0;
}

static int no_streams(sx_err_t *err)
{
    return sx_err_set(err, SX_EINVAL, SX_LOKI_NO_STREAMS_MSG);
}

static int arena_full(sx_err_t *err)
{
    return sx_err_set(err, SX_ETOOLARGE, "decoded request exceeds the per-request memory limit");
}

/* ---- Protobuf decoding ---- */

typedef struct pdec {
    const char *base;
    const sx_log_limits_t *lim;
    sx_log_batch_t *b;
    sx_err_t *err;
} pdec_t;

static int pb_fail(const pdec_t *d, const char *at, const char *why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int pb_fail(const pdec_t *d, const char *at, const char *why, const char *fmt, ...)
{
    if (!d->err)
        return SX_EPARSE;
    char ctx[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    return sx_err_set(d->err, SX_EPARSE, "%s%s at offset %zu", ctx, why, (size_t)(at - d->base));
}

static const char wrong_type[] = "unexpected wire type";

/* Timestamp{1 seconds, 2 nanos}, merged into *secs and *nanos (a repeated
 * embedded message merges, by protobuf rules). */
static const char *decode_ts(sx_str_t msg, int64_t *secs, int32_t *nanos, const char **at)
{
    const char *p = msg.ptr, *end = p + msg.len, *why;
    pb_field_t f;
    while (p < end) {
        *at = p;
        if ((why = pb_next(&p, end, &f)))
            return why;
        if (f.num == TIMESTAMP_SECONDS || f.num == TIMESTAMP_NANOS) {
            if (f.wt != WT_VARINT)
                return wrong_type;
            if (f.num == TIMESTAMP_SECONDS)
                *secs = (int64_t)f.u;
            else
                *nanos = (int32_t)(uint32_t)f.u;
        }
    }
    return NULL;
}

/* LabelPairAdapter{1 name, 2 value}. */
static const char *decode_pair(sx_str_t msg, sx_label_t *l, const char **at)
{
    const char *p = msg.ptr, *end = p + msg.len, *why;
    pb_field_t f;
    l->name = l->value = (sx_str_t){msg.ptr, 0};
    while (p < end) {
        *at = p;
        if ((why = pb_next(&p, end, &f)))
            return why;
        if (f.num == PAIR_NAME || f.num == PAIR_VALUE) {
            if (f.wt != WT_LEN)
                return wrong_type;
            if (f.num == PAIR_NAME)
                l->name = f.s;
            else
                l->value = f.s;
        }
    }
    return NULL;
}

/* EntryAdapter into e: one pass for the timestamp, the line and the count
 * of metadata pairs, a second one only when there are pairs. */
static int decode_entry(pdec_t *d, size_t is, size_t ie, sx_str_t msg, sx_log_entry_t *e)
{
    const char *p = msg.ptr, *end = p + msg.len, *at, *why;
    pb_field_t f;
    int64_t secs = 0;
    int32_t nanos = 0;
    size_t nmeta = 0;
    e->line = (sx_str_t){msg.ptr, 0};
    while (p < end) {
        at = p;
        if ((why = pb_next(&p, end, &f)))
            return pb_fail(d, at, why, "stream %zu: entry %zu: ", is, ie);
        switch (f.num) {
        case ENTRY_TIMESTAMP:
        case ENTRY_LINE:
        case ENTRY_STRUCTURED_METADATA:
        case ENTRY_PARSED:
            if (f.wt != WT_LEN)
                return pb_fail(d, at, wrong_type, "stream %zu: entry %zu: field %u: ", is, ie, f.num);
            break;
        default:
            continue;
        }
        if (f.num == ENTRY_TIMESTAMP) {
            if ((why = decode_ts(f.s, &secs, &nanos, &at)))
                return pb_fail(d, at, why, "stream %zu: entry %zu: timestamp: ", is, ie);
        } else if (f.num == ENTRY_LINE) {
            e->line = f.s;
        } else if (f.num == ENTRY_STRUCTURED_METADATA) {
            nmeta++;
        }
    }
    /* 128 bits: the encoder writes INT64_MIN-ish times as a second before
     * the limit plus positive nanos, which overflows on the way. */
    __int128 wide = (__int128)secs * 1000000000 + nanos;
    if (wide < INT64_MIN || wide > INT64_MAX)
        return sx_err_set(d->err, SX_EPARSE,
                          "stream %zu: entry %zu: timestamp %lld s %d ns is out of range", is, ie,
                          (long long)secs, (int)nanos);
    e->ts = (int64_t)wide;
    if (!nmeta)
        return 0;
    if (nmeta > UINT32_MAX)
        return arena_full(d->err);
    e->meta = sx_arena_alloc(d->b->arena, nmeta * sizeof(*e->meta));
    if (!e->meta)
        return arena_full(d->err);
    for (p = msg.ptr; p < end;) {
        why = pb_next(&p, end, &f);
        SX_ASSERT(why == NULL); /* the first pass read the same bytes */
        if (f.num != ENTRY_STRUCTURED_METADATA)
            continue;
        if ((why = decode_pair(f.s, &e->meta[e->nmeta], &at)))
            return pb_fail(d, at, why, "stream %zu: entry %zu: structured metadata %u: ", is, ie,
                           e->nmeta);
        e->nmeta++;
    }
    return 0;
}

/* StreamAdapter: framing and the entry count first, then the labels
 * (parsed and validated before any entry, as Loki does), then the entries
 * into an array of the exact size. */
static int decode_stream(pdec_t *d, size_t is, sx_str_t msg)
{
    const char *p = msg.ptr, *end = p + msg.len, *at, *why;
    pb_field_t f;
    sx_str_t text = {msg.ptr, 0};
    size_t nent = 0;
    int rc;
    while (p < end) {
        at = p;
        if ((why = pb_next(&p, end, &f)))
            return pb_fail(d, at, why, "stream %zu: ", is);
        if (f.num == STREAM_LABELS || f.num == STREAM_ENTRIES) {
            if (f.wt != WT_LEN)
                return pb_fail(d, at, wrong_type, "stream %zu: field %u: ", is, f.num);
            if (f.num == STREAM_LABELS)
                text = f.s;
            else
                nent++;
        } else if (f.num == STREAM_HASH && f.wt != WT_VARINT) {
            return pb_fail(d, at, wrong_type, "stream %zu: field %u: ", is, f.num);
        }
    }

    sx_label_t *ls;
    uint32_t nl;
    if ((rc = sx_loki_labels_parse(text, d->b->arena, &ls, &nl, d->err)))
        return rc;
    stream_ref_t ref = {text, NULL, 0};
    if ((rc = validate_labels(d->lim, &ref, ls, nl, d->err)))
        return rc;
    if (nent == 0)
        return 0;
    if (nent > UINT32_MAX / 2)
        return arena_full(d->err);

    sx_log_entry_t *ents = sx_arena_alloc(d->b->arena, nent * sizeof(*ents));
    sx_log_stream_in_t *s = ents ? sx_log_batch_add(d->b) : NULL;
    if (!s)
        return arena_full(d->err);
    s->labels = ls;
    s->nlabels = nl;
    s->entries = ents;
    s->_cap = (uint32_t)nent;
    size_t ie = 0;
    for (p = msg.ptr; p < end;) {
        why = pb_next(&p, end, &f);
        SX_ASSERT(why == NULL);
        if (f.num != STREAM_ENTRIES)
            continue;
        sx_log_entry_t *e = sx_log_stream_add(d->b, s);
        SX_ASSERT(e != NULL); /* the array has room for every entry */
        if ((rc = decode_entry(d, is, ie++, f.s, e)))
            return rc;
        if ((rc = check_line(d->lim, ls, nl, e->line.len, d->err)) ||
            (e->nmeta && (rc = check_meta(ls, nl, e->meta, e->nmeta, e->nmeta, d->err))))
            return rc;
        d->b->nbytes += e->line.len;
    }
    return 0;
}

int sx_loki_push_decode_pb(const char *buf, size_t len, const sx_log_limits_t *lim,
                           sx_log_batch_t *out, sx_err_t *err)
{
    if (len == 0)
        return no_streams(err); /* an empty PushRequest (buf may be NULL) */
    pdec_t d = {buf, lim ? lim : &default_limits, out, err};
    const char *p = buf, *end = buf + len, *at, *why;
    pb_field_t f;
    size_t ns = 0;
    int rc;
    while (p < end) {
        at = p;
        if ((why = pb_next(&p, end, &f)))
            return pb_fail(&d, at, why, "push request: ");
        if (f.num != PUSH_REQUEST_STREAMS)
            continue;
        if (f.wt != WT_LEN)
            return pb_fail(&d, at, wrong_type, "push request: field %u: ", f.num);
        if ((rc = decode_stream(&d, ns++, f.s)))
            return rc;
    }
    return ns ? 0 : no_streams(err);
}

/* ---- The JSON scanner (shared through ingest_int.h) ---- */

const char sx_ingest__json_oom[] = "decoded request exceeds the per-request memory limit";

static inline int hexval(int c)
{
    return digit_val((uint32_t)(unsigned char)c);
}

static bool hex4(const char *p, const char *end, uint32_t *out)
{
    if (end - p < 4)
        return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hexval(p[i]);
        if (d > 15)
            return false;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return true;
}

const char *sx_ingest__json_string_slow(const char **pp, const char *end, const char *esc,
                                        sx_arena_t *a, sx_str_t *out)
{
    const char *start = *pp + 1, *t = esc;
    /* Find the closing quote: every quote before it is escaped. */
    for (;;) {
        if (t >= end)
            return "unterminated string";
        if (*t == '"')
            break;
        if (end - t < 2)
            return "unterminated string";
        t = sx_ingest__json_find_qb(t + 2, end);
    }
    /* Decoded text is never longer than the escaped text. */
    char *o0 = sx_arena_alloc(a, (size_t)(t - start) + 1), *o = o0;
    if (!o0)
        return sx_ingest__json_oom;
    const char *p = start;
    for (;;) {
        const char *bk = sx_ingest__json_find_qb(p, t);
        memcpy(o, p, (size_t)(bk - p));
        o += bk - p;
        p = bk;
        if (p >= t)
            break;
        char c = p[1];
        switch (c) {
        case '"': case '\\': case '/': *o++ = c; p += 2; break;
        case 'b': *o++ = '\b'; p += 2; break;
        case 'f': *o++ = '\f'; p += 2; break;
        case 'n': *o++ = '\n'; p += 2; break;
        case 'r': *o++ = '\r'; p += 2; break;
        case 't': *o++ = '\t'; p += 2; break;
        case 'u': {
            uint32_t cp, lo;
            if (!hex4(p + 2, t, &cp)) {
                *pp = p;
                return "invalid \\u escape";
            }
            p += 6;
            if (cp >= 0xd800 && cp < 0xdc00) {
                if (t - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, t, &lo) &&
                    lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                } else {
                    cp = 0xfffd;
                }
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                cp = 0xfffd;
            }
            o = put_utf8(o, cp);
            break;
        }
        default:
            *pp = p;
            return "invalid escape sequence";
        }
    }
    *out = (sx_str_t){o0, (size_t)(o - o0)};
    *pp = t + 1;
    return NULL;
}

/* Skip a string at *pp (its opening quote), checking its escapes. */
static const char *skip_string(const char **pp, const char *end)
{
    const char *p = *pp + 1;
    for (;;) {
        p = sx_ingest__json_find_qb(p, end);
        if (p >= end)
            return "unterminated string";
        if (*p == '"')
            break;
        if (end - p < 2)
            return "unterminated string";
        char c = p[1];
        if (c == 'u') {
            uint32_t cp;
            if (!hex4(p + 2, end, &cp)) {
                *pp = p;
                return "invalid \\u escape";
            }
            p += 6;
        } else if (strchr("\"\\/bfnrt", c) && c) {
            p += 2;
        } else {
            *pp = p;
            return "invalid escape sequence";
        }
    }
    *pp = p + 1;
    return NULL;
}

static const char *skip_number(const char **pp, const char *end)
{
    const char *p = *pp;
    if (p < end && *p == '-')
        p++;
    if (p >= end || !is_digit(*p))
        return "unexpected character";
    if (*p == '0')
        p++;
    else
        while (p < end && is_digit(*p))
            p++;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p))
            return "invalid number";
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return "invalid number";
        while (p < end && is_digit(*p))
            p++;
    }
    *pp = p;
    return NULL;
}

const char *sx_ingest__json_skip(const char **pp, const char *end, unsigned depth)
{
    const char *p = sx_ingest__json_ws(*pp, end), *why;
    *pp = p;
    if (p >= end)
        return "unexpected end of input";
    switch (*p) {
    case '"':
        return skip_string(pp, end);
    case 't':
        return sx_ingest__json_literal(pp, end, "true", 4) ? NULL : "invalid literal";
    case 'f':
        return sx_ingest__json_literal(pp, end, "false", 5) ? NULL : "invalid literal";
    case 'n':
        return sx_ingest__json_literal(pp, end, "null", 4) ? NULL : "invalid literal";
    case '{':
    case '[': {
        char close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        if (depth == 0)
            return "nesting too deep";
        p = sx_ingest__json_ws(p + 1, end);
        if (p < end && *p == close) {
            *pp = p + 1;
            return NULL;
        }
        for (;;) {
            if (obj) {
                p = sx_ingest__json_ws(p, end);
                *pp = p;
                if (p >= end || *p != '"')
                    return "expected a string key";
                if ((why = skip_string(pp, end)))
                    return why;
                p = sx_ingest__json_ws(*pp, end);
                if (p >= end || *p != ':') {
                    *pp = p;
                    return "expected ':'";
                }
                p++;
            }
            *pp = p;
            if ((why = sx_ingest__json_skip(pp, end, depth - 1)))
                return why;
            p = sx_ingest__json_ws(*pp, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == close) {
                *pp = p + 1;
                return NULL;
            }
            *pp = p;
            return obj ? "expected ',' or '}'" : "expected ',' or ']'";
        }
    }
    default:
        return skip_number(pp, end);
    }
}

/* ---- JSON push decoding ---- */

typedef struct jdec {
    const char *base, *end;
    const sx_log_limits_t *lim;
    sx_log_batch_t *b;
    sx_err_t *err;
    sx_label_t *ls; /* scratch: one stream's labels as read */
    uint32_t lcap;
    sx_label_t *ms; /* scratch: one entry's metadata */
    uint32_t mcap;
} jdec_t;

/* The state of one stream object while its members are read. */
typedef struct jstream {
    size_t idx;
    bool have_labels, seen_stream, seen_values;
    const char *values_at; /* "values" seen before "stream": where it starts */
    sx_label_t *labels;
    uint32_t nlabels;
} jstream_t;

static int jfail(const jdec_t *d, const char *at, const char *why)
{
    if (why == sx_ingest__json_oom)
        return arena_full(d->err);
    return sx_err_set(d->err, SX_EPARSE, "invalid JSON at offset %zu: %s", (size_t)(at - d->base),
                      why);
}

static int jfail_at(const jdec_t *d, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int jfail_at(const jdec_t *d, const char *at, const char *fmt, ...)
{
    if (!d->err)
        return SX_EPARSE;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sx_err_set(d->err, SX_EPARSE, "%s at offset %zu", msg, (size_t)(at - d->base));
}

static inline const char *jws(const jdec_t *d, const char *p)
{
    return sx_ingest__json_ws(p, d->end);
}

static inline bool at_char(const jdec_t *d, const char *p, char c)
{
    return p < d->end && *p == c;
}

static inline int jstring(jdec_t *d, const char **pp, sx_str_t *out)
{
    const char *at = *pp, *why = sx_ingest__json_string(pp, d->end, d->b->arena, out);
    if (why)
        return jfail(d, *pp == at ? at : *pp, why);
    return 0;
}

static inline int jskip(jdec_t *d, const char **pp)
{
    const char *why = sx_ingest__json_skip(pp, d->end, SX_INGEST_JSON_MAX_DEPTH);
    return why ? jfail(d, *pp, why) : 0;
}

static bool jnull(jdec_t *d, const char **pp)
{
    return sx_ingest__json_literal(pp, d->end, "null", 4);
}

/* After a member or element: ',' (returns 1) or the closing character
 * (returns 0, consumed); anything else fails. */
static int jnext(jdec_t *d, const char **pp, char close, int *more)
{
    const char *p = jws(d, *pp);
    if (at_char(d, p, ',')) {
        *pp = jws(d, p + 1);
        *more = 1;
        return 0;
    }
    if (at_char(d, p, close)) {
        *pp = p + 1;
        *more = 0;
        return 0;
    }
    return jfail(d, p, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* Read `"key":` at *pp (after whitespace); leaves *pp at the value. */
static int jkey(jdec_t *d, const char **pp, sx_str_t *key)
{
    const char *p = jws(d, *pp);
    int rc;
    if (!at_char(d, p, '"'))
        return jfail(d, p, "expected a string key");
    if ((rc = jstring(d, &p, key)))
        return rc;
    p = jws(d, p);
    if (!at_char(d, p, ':'))
        return jfail(d, p, "expected ':'");
    *pp = jws(d, p + 1);
    return 0;
}

static bool grow(sx_arena_t *a, sx_label_t **arr, uint32_t *cap, uint32_t need)
{
    if (need <= *cap)
        return true;
    if (*cap >= UINT32_MAX / 4)
        return false;
    uint32_t ncap = *cap ? *cap * 2 : 16;
    sx_label_t *n = sx_arena_realloc(a, *arr, (size_t)*cap * sizeof(**arr), (size_t)ncap * sizeof(**arr));
    if (!n)
        return false;
    *arr = n;
    *cap = ncap;
    return true;
}

/* Go's strconv.ParseInt(s, 10, 64) into *out; NULL or Go's reason. */
static const char *parse_int64(sx_str_t s, int64_t *out)
{
    const char *p = s.ptr, *end = s.ptr + s.len;
    bool neg = false;
    if (p < end && (*p == '+' || *p == '-'))
        neg = *p++ == '-';
    if (p == end)
        return "invalid syntax";
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool range = false;
    for (; p < end; p++) {
        if (!is_digit(*p))
            return "invalid syntax";
        if (!range) {
            uint64_t d = (uint64_t)(*p - '0');
            if (v > (lim - d) / 10)
                range = true;
            else
                v = v * 10 + d;
        }
    }
    if (range)
        return "value out of range";
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return NULL;
}

/* "stream": {"name": "value", ...} or null. Labels are kept as Go's map
 * would (the last of equal names wins), then rendered-and-parsed when a
 * name is invalid (Loki's own path), then validated. */
static int parse_stream_labels(jdec_t *d, const char **pp, jstream_t *st)
{
    const char *p = *pp;
    uint32_t n = 0;
    int rc, more;
    if (!jnull(d, &p)) {
        if (!at_char(d, p, '{'))
            return jfail_at(d, p, "stream %zu: \"stream\" must be an object", st->idx);
        p = jws(d, p + 1);
        if (at_char(d, p, '}')) {
            p++;
        } else {
            do {
                sx_str_t k, v;
                if ((rc = jkey(d, &p, &k)))
                    return rc;
                if (!at_char(d, p, '"'))
                    return jfail_at(d, p, "stream %zu: label \"%.*s\" must have a string value",
                                    st->idx, (int)(k.len > 64 ? 64 : k.len), k.ptr);
                if ((rc = jstring(d, &p, &v)))
                    return rc;
                if (!grow(d->b->arena, &d->ls, &d->lcap, n + 1))
                    return arena_full(d->err);
                d->ls[n++] = (sx_label_t){k, v};
                if ((rc = jnext(d, &p, '}', &more)))
                    return rc;
            } while (more);
        }
    }
    *pp = p;

    /* Sort stably and keep the last of each run of equal names. */
    sx_label_t *ls = d->ls;
    if (!sort_labels_stable(d->b->arena, ls, n))
        return arena_full(d->err);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (k && sx_str_eq(ls[k - 1].name, ls[i].name))
            ls[k - 1] = ls[i];
        else
            ls[k++] = ls[i];
    }
    n = k;
    for (uint32_t i = 0; i < n; i++) {
        if (sx_label_name_valid(ls[i].name))
            continue;
        /* Loki renders the map as {k="v"} and parses that text. */
        sx_buf_t r = SX_BUF_INIT;
        sx_loki_labels_format(&r, ls, n);
        sx_label_t *tmp;
        uint32_t ntmp;
        sx_str_t text = sx_arena_strdup_str(d->b->arena, (sx_str_t){r.ptr, r.len});
        sx_buf_dispose(&r);
        if (!text.ptr)
            return arena_full(d->err);
        if ((rc = sx_loki_labels_parse(text, d->b->arena, &tmp, &ntmp, d->err)))
            return rc;
        return sx_err_set(d->err, SX_EINVAL, "stream %zu: invalid label name \"%.*s\"", st->idx,
                          (int)(ls[i].name.len > 64 ? 64 : ls[i].name.len), ls[i].name.ptr);
    }
    stream_ref_t ref = {SX_STR_NULL, ls, n};
    uint32_t nl = 0;
    for (uint32_t i = 0; i < n; i++)
        nl += ls[i].value.len != 0;
    sx_label_t *out = nl ? sx_arena_alloc(d->b->arena, nl * sizeof(*out)) : NULL;
    if (nl && !out)
        return arena_full(d->err);
    nl = 0;
    for (uint32_t i = 0; i < n; i++)
        if (ls[i].value.len)
            out[nl++] = ls[i];
    if ((rc = validate_labels(d->lim, &ref, out, nl, d->err)))
        return rc;
    st->labels = out;
    st->nlabels = nl;
    st->have_labels = true;
    return 0;
}

/* The third element of an entry: {"name": "value", ...}; null is none.
 * Kept as a Go map would (the last of equal names wins, in the place of
 * the first); past SX_LOKI_MAX_SM_ENTRIES distinct names further names are
 * only counted, for the message. */
static int parse_meta(jdec_t *d, const char **pp, jstream_t *st, size_t ie, sx_log_entry_t *e)
{
    const char *p = *pp;
    uint32_t n = 0;
    size_t extra = 0;
    int rc, more;
    if (jnull(d, &p)) {
        *pp = p;
        return 0;
    }
    if (!at_char(d, p, '{'))
        return jfail_at(d, p, "stream %zu: entry %zu: structured metadata must be an object",
                        st->idx, ie);
    p = jws(d, p + 1);
    if (at_char(d, p, '}')) {
        *pp = p + 1;
        return 0;
    }
    do {
        sx_str_t k, v;
        if ((rc = jkey(d, &p, &k)))
            return rc;
        v = (sx_str_t){p, 0};
        if (!jnull(d, &p)) {
            if (!at_char(d, p, '"'))
                return jfail_at(d, p,
                                "stream %zu: entry %zu: structured metadata \"%.*s\" must have a "
                                "string value",
                                st->idx, ie, (int)(k.len > 64 ? 64 : k.len), k.ptr);
            if ((rc = jstring(d, &p, &v)))
                return rc;
        }
        uint32_t i = 0;
        while (i < n && !sx_str_eq(d->ms[i].name, k))
            i++;
        if (i < n) {
            d->ms[i].value = v;
        } else if (n < SX_LOKI_MAX_SM_ENTRIES) {
            if (!grow(d->b->arena, &d->ms, &d->mcap, n + 1))
                return arena_full(d->err);
            d->ms[n++] = (sx_label_t){k, v};
        } else {
            extra++;
        }
        if ((rc = jnext(d, &p, '}', &more)))
            return rc;
    } while (more);
    if ((rc = check_meta(st->labels, st->nlabels, d->ms, n, n + extra, d->err)))
        return rc;
    e->meta = sx_arena_alloc(d->b->arena, (size_t)n * sizeof(*e->meta));
    if (!e->meta)
        return arena_full(d->err);
    memcpy(e->meta, d->ms, (size_t)n * sizeof(*e->meta));
    e->nmeta = n;
    *pp = p;
    return 0;
}

/* "values": [[ts, line], [ts, line, {metadata}], ...] or null, into a new
 * stream of the batch (none when the array is empty). */
static int parse_values(jdec_t *d, const char **pp, jstream_t *st)
{
    const char *p = *pp;
    int rc, more;
    if (jnull(d, &p)) {
        *pp = p;
        return 0;
    }
    if (!at_char(d, p, '['))
        return jfail_at(d, p, "stream %zu: \"values\" must be an array", st->idx);
    p = jws(d, p + 1);
    if (at_char(d, p, ']')) {
        *pp = p + 1;
        return 0;
    }
    sx_log_stream_in_t *s = sx_log_batch_add(d->b);
    if (!s)
        return arena_full(d->err);
    s->labels = st->labels;
    s->nlabels = st->nlabels;
    size_t ie = 0;
    do {
        sx_str_t ts, line;
        if (!at_char(d, p, '['))
            return jfail_at(d, p, "stream %zu: entry %zu: want an array [\"<ns>\", \"<line>\"]",
                            st->idx, ie);
        p = jws(d, p + 1);
        if (!at_char(d, p, '"')) {
            if (p < d->end && (is_digit(*p) || *p == '-'))
                return jfail_at(d, p,
                                "stream %zu: entry %zu: the timestamp must be a string of "
                                "nanoseconds, not a number",
                                st->idx, ie);
            return jfail_at(d, p, "stream %zu: entry %zu: the timestamp must be a string",
                            st->idx, ie);
        }
        const char *ts_at = p;
        if ((rc = jstring(d, &p, &ts)))
            return rc;
        int64_t ns;
        const char *why = parse_int64(ts, &ns);
        if (why)
            return jfail_at(d, ts_at,
                            "stream %zu: entry %zu: error reading entry timestamp: "
                            "strconv.ParseInt: parsing \"%.*s\": %s",
                            st->idx, ie, (int)(ts.len > 40 ? 40 : ts.len), ts.ptr, why);
        p = jws(d, p);
        if (!at_char(d, p, ','))
            return jfail_at(d, p, "stream %zu: entry %zu: want 2 or 3 values", st->idx, ie);
        p = jws(d, p + 1);
        line = (sx_str_t){p, 0}; /* null: empty, but never a NULL pointer */
        if (!jnull(d, &p)) {
            if (!at_char(d, p, '"'))
                return jfail_at(d, p, "stream %zu: entry %zu: the line must be a string",
                                st->idx, ie);
            if ((rc = jstring(d, &p, &line)))
                return rc;
        }
        sx_log_entry_t *e = sx_log_stream_add(d->b, s);
        if (!e)
            return arena_full(d->err);
        e->ts = ns;
        e->line = line;
        if ((rc = check_line(d->lim, st->labels, st->nlabels, line.len, d->err)))
            return rc;
        p = jws(d, p);
        if (at_char(d, p, ',')) {
            p = jws(d, p + 1);
            if ((rc = parse_meta(d, &p, st, ie, e)))
                return rc;
            p = jws(d, p);
        }
        if (!at_char(d, p, ']'))
            return jfail_at(d, p, "stream %zu: entry %zu: want 2 or 3 values", st->idx, ie);
        p++;
        d->b->nbytes += line.len;
        ie++;
        if ((rc = jnext(d, &p, ']', &more)))
            return rc;
    } while (more);
    *pp = p;
    return 0;
}

static int parse_stream(jdec_t *d, size_t idx, const char **pp)
{
    const char *p = *pp;
    jstream_t st = {.idx = idx};
    int rc, more = 0;
    if (!at_char(d, p, '{'))
        return jfail_at(d, p, "stream %zu: want an object", idx);
    p = jws(d, p + 1);
    if (at_char(d, p, '}'))
        p++;
    else
        more = 1;
    while (more) {
        sx_str_t k;
        if ((rc = jkey(d, &p, &k)))
            return rc;
        if (sx_str_eq_cstr(k, "stream")) {
            if (st.seen_stream)
                return jfail_at(d, p, "stream %zu: duplicate key \"stream\"", idx);
            st.seen_stream = true;
            rc = parse_stream_labels(d, &p, &st);
        } else if (sx_str_eq_cstr(k, "values")) {
            if (st.seen_values)
                return jfail_at(d, p, "stream %zu: duplicate key \"values\"", idx);
            st.seen_values = true;
            if (st.have_labels) {
                rc = parse_values(d, &p, &st);
            } else {
                st.values_at = p;
                rc = jskip(d, &p);
            }
        } else {
            rc = jskip(d, &p);
        }
        if (rc || (rc = jnext(d, &p, '}', &more)))
            return rc;
    }
    *pp = p;
    if (!st.have_labels) {
        stream_ref_t ref = {SX_STR_LIT("{}"), NULL, 0};
        return validate_labels(d->lim, &ref, NULL, 0, d->err);
    }
    if (st.values_at) {
        const char *q = st.values_at;
        return parse_values(d, &q, &st);
    }
    return 0;
}

int sx_loki_push_decode_json(const char *buf, size_t len, const sx_log_limits_t *lim,
                             sx_log_batch_t *out, sx_err_t *err)
{
    if (len == 0)
        return sx_err_set(err, SX_EPARSE, "invalid JSON at offset 0: empty body");
    jdec_t d = {buf, buf + len, lim ? lim : &default_limits, out, err, NULL, 0, NULL, 0};
    const char *p = jws(&d, buf);
    size_t ns = 0;
    bool seen = false;
    int rc, more = 0;
    if (!at_char(&d, p, '{'))
        return jfail(&d, p, p < d.end ? "the body must be an object" : "empty body");
    p = jws(&d, p + 1);
    if (at_char(&d, p, '}'))
        p++;
    else
        more = 1;
    while (more) {
        sx_str_t k;
        if ((rc = jkey(&d, &p, &k)))
            return rc;
        if (sx_str_eq_cstr(k, "streams")) {
            if (seen)
                return jfail(&d, p, "duplicate key \"streams\"");
            seen = true;
            if (!jnull(&d, &p)) {
                if (!at_char(&d, p, '['))
                    return jfail(&d, p, "\"streams\" must be an array");
                p = jws(&d, p + 1);
                if (at_char(&d, p, ']')) {
                    p++;
                } else {
                    int smore;
                    do {
                        if ((rc = parse_stream(&d, ns++, &p)) || (rc = jnext(&d, &p, ']', &smore)))
                            return rc;
                    } while (smore);
                }
            }
        } else if ((rc = jskip(&d, &p))) {
            return rc;
        }
        if ((rc = jnext(&d, &p, '}', &more)))
            return rc;
    }
    p = jws(&d, p);
    if (p != d.end)
        return jfail(&d, p, "unexpected data after the top-level object");
    return ns ? 0 : no_streams(err);
}

/* ---- Encoding ---- */

static inline size_t uvarint_len(uint64_t v)
{
    return (size_t)(((64 - __builtin_clzll(v | 1)) * 9 + 64) / 64);
}

static inline char *put_uvarint(char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (char)v;
    return p;
}

static inline size_t len_field_size(size_t n)
{
    return 1 + uvarint_len(n) + n;
}

static inline char *put_len_field(char *p, char tag, const char *s, size_t n)
{
    *p++ = tag;
    p = put_uvarint(p, n);
    if (n)
        memcpy(p, s, n);
    return p + n;
}

static inline void split_ts(int64_t ts, int64_t *secs, int32_t *nanos)
{
    int64_t s = ts / 1000000000, r = ts % 1000000000;
    if (r < 0) {
        r += 1000000000;
        s--;
    }
    *secs = s;
    *nanos = (int32_t)r;
}

static size_t ts_size(int64_t ts)
{
    int64_t secs;
    int32_t nanos;
    split_ts(ts, &secs, &nanos);
    return (secs ? 1 + uvarint_len((uint64_t)secs) : 0) + (nanos ? 1 + uvarint_len((uint64_t)nanos) : 0);
}

static size_t pair_size(const sx_label_t *l)
{
    return (l->name.len ? len_field_size(l->name.len) : 0) +
           (l->value.len ? len_field_size(l->value.len) : 0);
}

static size_t entry_size(const sx_log_entry_t *e)
{
    size_t n = len_field_size(ts_size(e->ts)) + (e->line.len ? len_field_size(e->line.len) : 0);
    for (uint32_t i = 0; i < e->nmeta; i++)
        n += len_field_size(pair_size(&e->meta[i]));
    return n;
}

static char *put_entry(char *p, const sx_log_entry_t *e)
{
    int64_t secs;
    int32_t nanos;
    split_ts(e->ts, &secs, &nanos);
    *p++ = TAG(STREAM_ENTRIES, WT_LEN);
    p = put_uvarint(p, entry_size(e));
    *p++ = TAG(ENTRY_TIMESTAMP, WT_LEN);
    p = put_uvarint(p, ts_size(e->ts));
    if (secs) {
        *p++ = TAG(TIMESTAMP_SECONDS, WT_VARINT);
        p = put_uvarint(p, (uint64_t)secs);
    }
    if (nanos) {
        *p++ = TAG(TIMESTAMP_NANOS, WT_VARINT);
        p = put_uvarint(p, (uint64_t)nanos);
    }
    if (e->line.len)
        p = put_len_field(p, TAG(ENTRY_LINE, WT_LEN), e->line.ptr, e->line.len);
    for (uint32_t i = 0; i < e->nmeta; i++) {
        const sx_label_t *l = &e->meta[i];
        *p++ = TAG(ENTRY_STRUCTURED_METADATA, WT_LEN);
        p = put_uvarint(p, pair_size(l));
        if (l->name.len)
            p = put_len_field(p, TAG(PAIR_NAME, WT_LEN), l->name.ptr, l->name.len);
        if (l->value.len)
            p = put_len_field(p, TAG(PAIR_VALUE, WT_LEN), l->value.ptr, l->value.len);
    }
    return p;
}

void sx_loki_push_encode_pb(const sx_log_batch_t *b, sx_buf_t *out)
{
    /* Label texts first (they decide the stream sizes), then one exact
     * reservation for the whole message. */
    sx_buf_t texts = SX_BUF_INIT;
    size_t *ends = sx_xmalloc((b->nstreams + 1) * sizeof(*ends));
    size_t total = 0;
    for (size_t i = 0; i < b->nstreams; i++) {
        const sx_log_stream_in_t *s = &b->streams[i];
        size_t start = texts.len;
        sx_loki_labels_format(&texts, s->labels, s->nlabels);
        ends[i] = texts.len;
        size_t n = len_field_size(texts.len - start);
        for (uint32_t j = 0; j < s->nentries; j++)
            n += len_field_size(entry_size(&s->entries[j]));
        total += len_field_size(n);
    }
    if (total) {
        char *start = sx_buf_reserve(out, total), *p = start;
        size_t tstart = 0;
        for (size_t i = 0; i < b->nstreams; i++) {
            const sx_log_stream_in_t *s = &b->streams[i];
            size_t tlen = ends[i] - tstart;
            size_t n = len_field_size(tlen);
            for (uint32_t j = 0; j < s->nentries; j++)
                n += len_field_size(entry_size(&s->entries[j]));
            *p++ = TAG(PUSH_REQUEST_STREAMS, WT_LEN);
            p = put_uvarint(p, n);
            p = put_len_field(p, TAG(STREAM_LABELS, WT_LEN), texts.ptr + tstart, tlen);
            for (uint32_t j = 0; j < s->nentries; j++)
                p = put_entry(p, &s->entries[j]);
            tstart = ends[i];
        }
        SX_ASSERT((size_t)(p - start) == total);
        out->len += total;
    }
    free(ends);
    sx_buf_dispose(&texts);
}
