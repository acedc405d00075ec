/* SPDX-License-Identifier: Apache-2.0 */
/* PromQL lexer: turns query text into tokens for parse.c. It is a copy in
 * spirit of Prometheus' state machine (statements, inside braces, inside a
 * duration expression after '['), because which characters are errors and
 * where an error is reported depend on that state: keywords are plain
 * identifiers inside braces, ':' is a subquery colon only inside brackets,
 * and an unclosed '(' is reported when the input ends. Tokens point into
 * the query; only error messages are allocated (in the arena). */
#include "syntax.h"

#include <stdarg.h>
#include <stdio.h>

#define EOF_RUNE (-1)

int32_t sx_pq__utf8_decode(const char *s, size_t n, uint32_t *width)
{
    if (n == 0) {
        *width = 0;
        return EOF_RUNE;
    }
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c = u[0];
    *width = 1;
    if (c < 0x80)
        return c;
    int need;
    int32_t r, min;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1, r = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2, r = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3, r = c & 0x07, min = 0x10000;
    } else {
        return 0xFFFD;
    }
    if (n < (size_t)need + 1)
        return 0xFFFD;
    for (int i = 1; i <= need; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return 0xFFFD;
        r = (r << 6) | (u[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        return 0xFFFD;
    *width = (uint32_t)need + 1;
    return r;
}

void sx_pq__lex_init(pq_lexer_t *l, const char *in, uint32_t n, sx_arena_t *a)
{
    memset(l, 0, sizeof(*l));
    l->in = in;
    l->n = n;
    l->a = a;
}

/* ---- Primitives (Go's next/peek/backup/accept) ---- */

static int32_t next(pq_lexer_t *l)
{
    int32_t r = sx_pq__utf8_decode(l->in + l->pos, l->n - l->pos, &l->width);
    l->pos += l->width;
    return r;
}

static void backup(pq_lexer_t *l)
{
    l->pos -= l->width;
}

static int32_t peek(pq_lexer_t *l)
{
    int32_t r = next(l);
    backup(l);
    return r;
}

static bool in_set(const char *set, int32_t r)
{
    return r > 0 && r < 0x80 && strchr(set, (int)r) != NULL;
}

static bool accept(pq_lexer_t *l, const char *set)
{
    if (in_set(set, next(l)))
        return true;
    backup(l);
    return false;
}

static bool is(pq_lexer_t *l, const char *set)
{
    return in_set(set, peek(l));
}

static void accept_run(pq_lexer_t *l, const char *set)
{
    while (in_set(set, next(l)))
        ;
    backup(l);
}

static bool is_space(int32_t r)
{
    return r == ' ' || r == '\t' || r == '\n' || r == '\r';
}

static bool is_digit(int32_t r)
{
    return r >= '0' && r <= '9';
}

static bool is_alpha(int32_t r)
{
    return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}

static bool is_alnum(int32_t r)
{
    return is_alpha(r) || is_digit(r);
}

static void emit(pq_lexer_t *l, pq_token_t *t, int type)
{
    t->type = type;
    t->pos = l->start;
    t->len = l->pos - l->start;
    t->msg = NULL;
    l->start = l->pos;
}

static void ignore(pq_lexer_t *l)
{
    l->start = l->pos;
}

/* An error token at the current item start; the scan stops here. */
static bool __attribute__((format(printf, 3, 4))) errorf(pq_lexer_t *l, pq_token_t *t,
                                                         const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    t->type = T_ERROR;
    t->pos = l->start;
    t->len = 0;
    t->msg = sx_arena_strndup(l->a, msg, strlen(msg));
    if (!t->msg)
        t->msg = "out of memory";
    l->done = true;
    return true;
}

/* fmt %q of a rune, into a small buffer, for error messages. */
static const char *qrune(char *buf, size_t sz, int32_t r)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_pq__quote_rune(&b, r);
    snprintf(buf, sz, "%.*s", (int)b.len, b.ptr);
    sx_buf_dispose(&b);
    return buf;
}

static const char *urune(char *buf, size_t sz, int32_t r)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_pq__rune_u(&b, r);
    snprintf(buf, sz, "%.*s", (int)b.len, b.ptr);
    sx_buf_dispose(&b);
    return buf;
}

/* ---- Keywords ---- */

static const struct {
    const char *word;
    int type;
} keywords[] = {
    {"and", T_LAND},
    {"or", T_LOR},
    {"unless", T_LUNLESS},
    {"atan2", T_ATAN2},
    {"sum", T_SUM},
    {"avg", T_AVG},
    {"count", T_COUNT},
    {"min", T_MIN},
    {"max", T_MAX},
    {"group", T_GROUP},
    {"stddev", T_STDDEV},
    {"stdvar", T_STDVAR},
    {"topk", T_TOPK},
    {"bottomk", T_BOTTOMK},
    {"count_values", T_COUNT_VALUES},
    {"quantile", T_QUANTILE},
    {"limitk", T_LIMITK},
    {"limit_ratio", T_LIMIT_RATIO},
    {"offset", T_OFFSET},
    {"by", T_BY},
    {"without", T_WITHOUT},
    {"on", T_ON},
    {"ignoring", T_IGNORING},
    {"group_left", T_GROUP_LEFT},
    {"group_right", T_GROUP_RIGHT},
    {"bool", T_BOOL},
    {"start", T_START},
    {"end", T_END},
    {"step", T_STEP},
    {"inf", T_NUMBER},
    {"nan", T_NUMBER},
};

static bool word_eq_ci(const char *w, size_t n, const char *kw)
{
    size_t i = 0;
    for (; i < n && kw[i]; i++) {
        char c = w[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != kw[i])
            return false;
    }
    return i == n && kw[i] == '\0';
}

static int keyword(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (word_eq_ci(w, n, keywords[i].word))
            return keywords[i].type;
    return -1;
}

/* ---- Numbers and durations ---- */

/* Prometheus' scanNumber: the token is not necessarily a valid number;
 * the parser finds out. */
static bool scan_number(pq_lexer_t *l)
{
    uint32_t initial = l->pos;
    const char *digits = "0123456789";
    const char *all = "0123456789._eE";
    bool hex = false;
    if (accept(l, "0") && accept(l, "xX")) {
        accept(l, "_");
        digits = "0123456789abcdefABCDEF";
        all = "0123456789abcdefABCDEF._eE";
        hex = true;
    }
    accept(l, ".");
    accept(l, digits);
    bool dot = false, exp = false;
    while (is(l, all)) {
        if (is(l, ".") && dot) {
            accept(l, ".");
            return false;
        }
        if (is(l, "eE") && exp) {
            accept(l, "eE");
            return false;
        }
        if (accept(l, ".")) {
            dot = true;
            if (accept(l, "_."))
                return false;
            if (hex)
                return false;
            continue;
        }
        if (accept(l, "eE")) {
            exp = true;
            accept(l, "+-");
            if (accept(l, "._eE") || peek(l) == EOF_RUNE)
                return false;
            continue;
        }
        if (accept(l, "_")) {
            if (accept(l, "._eE") || peek(l) == EOF_RUNE)
                return false;
            continue;
        }
        accept_run(l, digits);
    }
    if (l->pos == initial)
        return false;
    return !is_alnum(peek(l));
}

static bool accept_remaining_duration(pq_lexer_t *l)
{
    if (!accept(l, "smhdwy"))
        return false;
    accept(l, "s"); /* ms; bad units like hs are caught when parsing */
    while (accept(l, "0123456789")) {
        while (accept(l, "0123456789"))
            ;
        if (!accept(l, "smhdw"))
            return false;
        accept(l, "s");
    }
    return !is_alnum(next(l));
}

static bool lex_number_or_duration(pq_lexer_t *l, pq_token_t *t)
{
    if (scan_number(l)) {
        emit(l, t, T_NUMBER);
        return true;
    }
    if (accept_remaining_duration(l)) {
        backup(l);
        emit(l, t, T_DURATION);
        return true;
    }
    sx_buf_t b = SX_BUF_INIT;
    sx_pq__quote(&b, l->in + l->start, l->pos - l->start);
    errorf(l, t, "bad number or duration syntax: %.*s", (int)b.len, b.ptr);
    sx_buf_dispose(&b);
    return true;
}

/* "step" inside a duration expression (the first letter is consumed). */
static bool scan_duration_keyword(pq_lexer_t *l, pq_token_t *t)
{
    while (is_alpha(next(l)))
        ;
    backup(l);
    if (word_eq_ci(l->in + l->start, l->pos - l->start, "step")) {
        emit(l, t, T_STEP);
        return true;
    }
    return false;
}

/* ---- Strings ---- */

static int digit_val(int32_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 16;
}

/* After a backslash; returns true when it produced an error token. */
static bool lex_escape(pq_lexer_t *l, pq_token_t *t)
{
    char rb[32];
    int n;
    uint32_t base, max;
    int32_t ch = next(l);
    switch (ch) {
    case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\':
        return false;
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
        n = 3, base = 8, max = 255;
        break;
    case 'x':
        ch = next(l);
        n = 2, base = 16, max = 255;
        break;
    case 'u':
        ch = next(l);
        n = 4, base = 16, max = 0x10FFFF;
        break;
    case 'U':
        ch = next(l);
        n = 8, base = 16, max = 0x10FFFF;
        break;
    case EOF_RUNE:
        return errorf(l, t, "escape sequence not terminated");
    default:
        if (ch == l->string_open)
            return false;
        return errorf(l, t, "unknown escape sequence %s", urune(rb, sizeof(rb), ch));
    }
    uint32_t x = 0;
    while (n > 0) {
        uint32_t d = (uint32_t)digit_val(ch);
        if (d >= base) {
            if (ch == EOF_RUNE)
                return errorf(l, t, "escape sequence not terminated");
            return errorf(l, t, "illegal character %s in escape sequence",
                          urune(rb, sizeof(rb), ch));
        }
        x = x * base + d;
        n--;
        if (n > 0)
            ch = next(l);
    }
    if (x > max || (x >= 0xD800 && x < 0xE000))
        return errorf(l, t, "escape sequence is an invalid Unicode code point");
    return false;
}

static bool lex_string(pq_lexer_t *l, pq_token_t *t)
{
    for (;;) {
        int32_t r = next(l);
        if (r == '\\') {
            if (lex_escape(l, t))
                return true;
            continue;
        }
        if (r == 0xFFFD)
            return errorf(l, t, "invalid UTF-8 rune");
        if (r == EOF_RUNE || r == '\n')
            return errorf(l, t, "unterminated quoted string");
        if (r == l->string_open)
            break;
    }
    emit(l, t, T_STRING);
    return true;
}

static bool lex_raw_string(pq_lexer_t *l, pq_token_t *t)
{
    for (;;) {
        int32_t r = next(l);
        if (r == 0xFFFD)
            return errorf(l, t, "invalid UTF-8 rune");
        if (r == EOF_RUNE)
            return errorf(l, t, "unterminated raw string");
        if (r == l->string_open)
            break;
    }
    emit(l, t, T_STRING);
    return true;
}

/* ---- States ---- */

static void skip_spaces(pq_lexer_t *l)
{
    while (is_space(peek(l)))
        next(l);
    ignore(l);
}

static bool lex_comment(pq_lexer_t *l)
{
    l->pos++;
    for (int32_t r = next(l); r != '\r' && r != '\n' && r != EOF_RUNE;)
        r = next(l);
    backup(l);
    ignore(l); /* comments are skipped, as the parser does */
    return false;
}

static bool lex_keyword_or_identifier(pq_lexer_t *l, pq_token_t *t)
{
    bool colon = false;
    for (;;) {
        int32_t r = next(l);
        if (is_alnum(r) || r == ':') {
            colon = colon || r == ':';
            continue;
        }
        backup(l);
        break;
    }
    int kw = keyword(l->in + l->start, l->pos - l->start);
    emit(l, t, kw >= 0 ? kw : colon ? T_METRIC_IDENT : T_IDENT);
    return true;
}

static bool lex_inside_braces(pq_lexer_t *l, pq_token_t *t)
{
    char rb[32];
    if (l->pos < l->n && l->in[l->pos] == '#')
        return lex_comment(l);
    int32_t r = next(l);
    if (r == EOF_RUNE)
        return errorf(l, t, "unexpected end of input inside braces");
    if (is_space(r)) {
        skip_spaces(l);
        return false;
    }
    if (is_alpha(r)) {
        while (is_alnum(next(l)))
            ;
        backup(l);
        emit(l, t, T_IDENT);
        return true;
    }
    switch (r) {
    case ',':
        emit(l, t, T_COMMA);
        return true;
    case '"':
    case '\'':
        l->string_open = r;
        return lex_string(l, t);
    case '`':
        l->string_open = r;
        return lex_raw_string(l, t);
    case '=':
        if (next(l) == '~') {
            emit(l, t, T_EQL_REGEX);
            return true;
        }
        backup(l);
        emit(l, t, T_EQL);
        return true;
    case '!': {
        int32_t nr = next(l);
        if (nr == '~') {
            emit(l, t, T_NEQ_REGEX);
            return true;
        }
        if (nr == '=') {
            emit(l, t, T_NEQ);
            return true;
        }
        return errorf(l, t, "unexpected character after '!' inside braces: %s",
                      qrune(rb, sizeof(rb), nr));
    }
    case '{':
        return errorf(l, t, "unexpected left brace %s", qrune(rb, sizeof(rb), r));
    case '}':
        emit(l, t, T_RBRACE);
        l->brace_open = false;
        return true;
    default:
        return errorf(l, t, "unexpected character inside braces: %s", qrune(rb, sizeof(rb), r));
    }
}

static bool lex_duration_expr(pq_lexer_t *l, pq_token_t *t)
{
    char rb[32];
    int32_t r = next(l);
    if (r == EOF_RUNE)
        return errorf(l, t, "unexpected end of input in duration expression");
    if (is_space(r)) {
        skip_spaces(l);
        return false;
    }
    if (is_digit(r) || (r == '.' && is_digit(peek(l)))) {
        backup(l);
        l->got_duration = true;
        l->in_dur = false;
        return lex_number_or_duration(l, t);
    }
    switch (r) {
    case ']':
        emit(l, t, T_RBRACKET);
        l->bracket_open = false;
        l->got_colon = false;
        l->in_dur = false;
        return true;
    case ':':
        emit(l, t, T_COLON);
        if (!l->got_duration)
            return errorf(l, t, "unexpected colon before duration in duration expression");
        if (l->got_colon)
            return errorf(l, t, "unexpected repeated colon in duration expression");
        l->got_colon = true;
        return true;
    case '(':
        emit(l, t, T_LPAREN);
        l->paren_depth++;
        return true;
    case ')':
        emit(l, t, T_RPAREN);
        if (--l->paren_depth < 0)
            return errorf(l, t, "unexpected right parenthesis %s", qrune(rb, sizeof(rb), r));
        return true;
    case '+': emit(l, t, T_ADD); return true;
    case '-': emit(l, t, T_SUB); return true;
    case '*': emit(l, t, T_MUL); return true;
    case '/': emit(l, t, T_DIV); return true;
    case '%': emit(l, t, T_MOD); return true;
    case '^': emit(l, t, T_POW); return true;
    case ',': emit(l, t, T_COMMA); return true;
    case 's':
    case 'S':
        if (scan_duration_keyword(l, t))
            return true;
        /* fallthrough */
    default:
        return errorf(l, t, "unexpected character in duration expression: %s",
                      qrune(rb, sizeof(rb), r));
    }
}

static bool lex_statements(pq_lexer_t *l, pq_token_t *t)
{
    char rb[32], rb2[32];
    if (l->brace_open)
        return lex_inside_braces(l, t);
    if (l->in_dur)
        return lex_duration_expr(l, t);
    if (l->pos < l->n && l->in[l->pos] == '#')
        return lex_comment(l);
    int32_t r = next(l);
    if (r == EOF_RUNE) {
        if (l->paren_depth != 0)
            return errorf(l, t, "unclosed left parenthesis");
        if (l->bracket_open)
            return errorf(l, t, "unclosed left bracket");
        emit(l, t, T_EOF);
        l->done = true;
        return true;
    }
    if (is_space(r)) {
        skip_spaces(l);
        return false;
    }
    if (is_digit(r) || (r == '.' && is_digit(peek(l)))) {
        backup(l);
        return lex_number_or_duration(l, t);
    }
    if (is_alpha(r) || r == ':') {
        if (!l->bracket_open) {
            backup(l);
            return lex_keyword_or_identifier(l, t);
        }
        if (r == ':') {
            if (l->got_colon)
                return errorf(l, t, "unexpected colon %s", qrune(rb, sizeof(rb), r));
            emit(l, t, T_COLON);
            l->got_colon = true;
            return true;
        }
        if ((r == 's' || r == 'S') && scan_duration_keyword(l, t))
            return true;
        return errorf(l, t, "unexpected character: %s, expected %s", qrune(rb, sizeof(rb), r),
                      qrune(rb2, sizeof(rb2), ':'));
    }
    switch (r) {
    case ',': emit(l, t, T_COMMA); return true;
    case '*': emit(l, t, T_MUL); return true;
    case '/': emit(l, t, T_DIV); return true;
    case '%': emit(l, t, T_MOD); return true;
    case '+': emit(l, t, T_ADD); return true;
    case '-': emit(l, t, T_SUB); return true;
    case '^': emit(l, t, T_POW); return true;
    case '@': emit(l, t, T_AT); return true;
    case '=': {
        int32_t n = peek(l);
        if (n == '=') {
            next(l);
            emit(l, t, T_EQLC);
            return true;
        }
        if (n == '~')
            return errorf(l, t, "unexpected character after '=': %s", qrune(rb, sizeof(rb), n));
        emit(l, t, T_EQL);
        return true;
    }
    case '!': {
        int32_t n = next(l);
        if (n != '=')
            return errorf(l, t, "unexpected character after '!': %s", qrune(rb, sizeof(rb), n));
        emit(l, t, T_NEQ);
        return true;
    }
    case '<':
        if (peek(l) == '=') {
            next(l);
            emit(l, t, T_LTE);
        } else {
            emit(l, t, T_LSS);
        }
        return true;
    case '>':
        if (peek(l) == '=') {
            next(l);
            emit(l, t, T_GTE);
        } else {
            emit(l, t, T_GTR);
        }
        return true;
    case '"':
    case '\'':
        l->string_open = r;
        return lex_string(l, t);
    case '`':
        l->string_open = r;
        return lex_raw_string(l, t);
    case '(':
        emit(l, t, T_LPAREN);
        l->paren_depth++;
        return true;
    case ')':
        emit(l, t, T_RPAREN);
        if (--l->paren_depth < 0)
            return errorf(l, t, "unexpected right parenthesis %s", qrune(rb, sizeof(rb), r));
        return true;
    case '{':
        emit(l, t, T_LBRACE);
        l->brace_open = true;
        return true;
    case '[':
        if (l->bracket_open)
            return errorf(l, t, "unexpected left bracket %s", qrune(rb, sizeof(rb), r));
        l->got_colon = false;
        emit(l, t, T_LBRACKET);
        skip_spaces(l);
        l->bracket_open = true;
        l->in_dur = true;
        return true;
    case ']':
        if (!l->bracket_open)
            return errorf(l, t, "unexpected right bracket %s", qrune(rb, sizeof(rb), r));
        emit(l, t, T_RBRACKET);
        l->bracket_open = false;
        return true;
    default:
        return errorf(l, t, "unexpected character: %s", qrune(rb, sizeof(rb), r));
    }
}

void sx_pq__lex_next(pq_lexer_t *l, pq_token_t *t)
{
    if (l->done) {
        t->type = T_EOF;
        t->pos = l->n;
        t->len = 0;
        t->msg = NULL;
        return;
    }
    while (!lex_statements(l, t))
        ;
}
