/* SPDX-License-Identifier: Apache-2.0 */
/* LogQL lexer: turns query text into the tokens parse.c reads. It follows
 * Loki's lexer, which is Go's text/scanner plus lookahead: a number that
 * continues with duration units is a DURATION ("5m", "1.5h", and with a
 * leading '-' too), one that continues with byte units is BYTES ("20MB");
 * `[...]` is one RANGE token whose text must be a Prometheus duration;
 * function words are keywords only before '(' (or `by (`/`without (`);
 * other reserved words are keywords everywhere, case-insensitively; and a
 * character without a token of its own is an IDENTIFIER. Comments (#, //
 * and block comments) are skipped. Tokens point into the query; only
 * error messages are allocated (in the arena). */
#include "logql_parse_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define END_RUNE (-1)
#define BAD_RUNE (-2)

int32_t sx_lqp__utf8(const char *s, size_t n, uint32_t *width)
{
    if (n == 0) {
        *width = 0;
        return END_RUNE;
    }
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c = u[0];
    *width = 1;
    if (c < 0x80)
        return c;
    int need;
    int32_t r, min;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1, r = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 2, r = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 3, r = c & 0x07, min = 0x10000;
    else
        return BAD_RUNE;
    if (n < (size_t)need + 1)
        return BAD_RUNE;
    for (int i = 1; i <= need; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return BAD_RUNE;
        r = (r << 6) | (u[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        return BAD_RUNE;
    *width = (uint32_t)need + 1;
    return r;
}

void sx_lqp__lex_init(lq_lexer_t *l, const char *in, uint32_t n, sx_arena_t *a)
{
    memset(l, 0, sizeof(*l));
    l->in = in;
    l->n = n;
    l->a = a;
    /* text/scanner ignores a byte order mark at the very start. */
    if (n >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0)
        l->pos = 3;
}

/* ---- Token names ---- */

static const char *const tok_names[LT_COUNT_] = {
    [LT_EOF] = "$end",
    [LT_ERROR] = "error",
    [LT_IDENT] = "IDENTIFIER",
    [LT_STRING] = "STRING",
    [LT_NUMBER] = "NUMBER",
    [LT_DURATION] = "DURATION",
    [LT_BYTES] = "BYTES",
    [LT_RANGE] = "RANGE",
    [LT_FLAG] = "PARSER_FLAG",
    [LT_COMMA] = ",",
    [LT_DOT] = ".",
    [LT_LBRACE] = "{",
    [LT_RBRACE] = "}",
    [LT_LPAREN] = "(",
    [LT_RPAREN] = ")",
    [LT_RBRACKET] = "]",
    [LT_EQ] = "=",
    [LT_RE] = "=~",
    [LT_NRE] = "!~",
    [LT_NPA] = "!>",
    [LT_PIPE_EXACT] = "|=",
    [LT_PIPE_MATCH] = "|~",
    [LT_PIPE_PATTERN] = "|>",
    [LT_PIPE] = "|",
    [LT_OR] = "or",
    [LT_AND] = "and",
    [LT_UNLESS] = "unless",
    [LT_ADD] = "+",
    [LT_SUB] = "-",
    [LT_MUL] = "*",
    [LT_DIV] = "/",
    [LT_MOD] = "%",
    [LT_POW] = "^",
    [LT_CMP_EQ] = "==",
    [LT_NEQ] = "!=",
    [LT_GT] = ">",
    [LT_GTE] = ">=",
    [LT_LT] = "<",
    [LT_LTE] = "<=",
    [LT_BY] = "by",
    [LT_WITHOUT] = "without",
    [LT_BOOL] = "bool",
    [LT_OFFSET] = "offset",
    [LT_ON] = "on",
    [LT_IGNORING] = "ignoring",
    [LT_GROUP_LEFT] = "group_left",
    [LT_GROUP_RIGHT] = "group_right",
    [LT_JSON] = "json",
    [LT_REGEXP] = "regexp",
    [LT_LOGFMT] = "logfmt",
    [LT_UNPACK] = "unpack",
    [LT_PATTERN] = "pattern",
    [LT_LABEL_FMT] = "label_format",
    [LT_LINE_FMT] = "line_format",
    [LT_DECOLORIZE] = "decolorize",
    [LT_DROP] = "drop",
    [LT_KEEP] = "keep",
    [LT_UNWRAP] = "unwrap",
    [LT_VARIANTS] = "variants",
    [LT_OF] = "of",
    [LT_RANGE_FIRST + SX_LQ_RANGE_COUNT_OVER_TIME] = "COUNT_OVER_TIME",
    [LT_RANGE_FIRST + SX_LQ_RANGE_RATE] = "RATE",
    [LT_RANGE_FIRST + SX_LQ_RANGE_RATE_COUNTER] = "RATE_COUNTER",
    [LT_RANGE_FIRST + SX_LQ_RANGE_BYTES_OVER_TIME] = "BYTES_OVER_TIME",
    [LT_RANGE_FIRST + SX_LQ_RANGE_BYTES_RATE] = "BYTES_RATE",
    [LT_RANGE_FIRST + SX_LQ_RANGE_AVG_OVER_TIME] = "AVG_OVER_TIME",
    [LT_RANGE_FIRST + SX_LQ_RANGE_SUM_OVER_TIME] = "SUM_OVER_TIME",
    [LT_RANGE_FIRST + SX_LQ_RANGE_MIN_OVER_TIME] = "MIN_OVER_TIME",
    [LT_RANGE_FIRST + SX_LQ_RANGE_MAX_OVER_TIME] = "MAX_OVER_TIME",
    [LT_RANGE_FIRST + SX_LQ_RANGE_STDVAR_OVER_TIME] = "STDVAR_OVER_TIME",
    [LT_RANGE_FIRST + SX_LQ_RANGE_STDDEV_OVER_TIME] = "STDDEV_OVER_TIME",
    [LT_RANGE_FIRST + SX_LQ_RANGE_QUANTILE_OVER_TIME] = "QUANTILE_OVER_TIME",
    [LT_RANGE_FIRST + SX_LQ_RANGE_FIRST_OVER_TIME] = "FIRST_OVER_TIME",
    [LT_RANGE_FIRST + SX_LQ_RANGE_LAST_OVER_TIME] = "LAST_OVER_TIME",
    [LT_RANGE_FIRST + SX_LQ_RANGE_ABSENT_OVER_TIME] = "ABSENT_OVER_TIME",
    [LT_VEC_FIRST + SX_LQ_VEC_SUM] = "SUM",
    [LT_VEC_FIRST + SX_LQ_VEC_AVG] = "AVG",
    [LT_VEC_FIRST + SX_LQ_VEC_COUNT] = "COUNT",
    [LT_VEC_FIRST + SX_LQ_VEC_MAX] = "MAX",
    [LT_VEC_FIRST + SX_LQ_VEC_MIN] = "MIN",
    [LT_VEC_FIRST + SX_LQ_VEC_STDDEV] = "STDDEV",
    [LT_VEC_FIRST + SX_LQ_VEC_STDVAR] = "STDVAR",
    [LT_VEC_FIRST + SX_LQ_VEC_BOTTOMK] = "BOTTOMK",
    [LT_VEC_FIRST + SX_LQ_VEC_TOPK] = "TOPK",
    [LT_VEC_FIRST + SX_LQ_VEC_SORT] = "SORT",
    [LT_VEC_FIRST + SX_LQ_VEC_SORT_DESC] = "SORT_DESC",
    [LT_VEC_FIRST + SX_LQ_VEC_APPROX_TOPK] = "APPROX_TOPK",
    [LT_VECTOR] = "VECTOR",
    [LT_LABEL_REPLACE] = "label_replace",
    [LT_BYTES_CONV] = "BYTES_CONV",
    [LT_DURATION_CONV] = "DURATION_CONV",
    [LT_DURATION_SECONDS_CONV] = "DURATION_SECONDS_CONV",
    [LT_IP] = "ip",
};

const char *sx_lqp__tok_name(int type)
{
    if (type < 0 || type >= LT_COUNT_ || !tok_names[type])
        return "$unk";
    return tok_names[type];
}

/* ---- Words ---- */

typedef struct word {
    const char *w;
    int type;
} word_t;

/* Reserved everywhere (Loki's `tokens` table). */
static const word_t keywords[] = {
    {"by", LT_BY},
    {"without", LT_WITHOUT},
    {"bool", LT_BOOL},
    {"offset", LT_OFFSET},
    {"on", LT_ON},
    {"ignoring", LT_IGNORING},
    {"group_left", LT_GROUP_LEFT},
    {"group_right", LT_GROUP_RIGHT},
    {"or", LT_OR},
    {"and", LT_AND},
    {"unless", LT_UNLESS},
    {"json", LT_JSON},
    {"regexp", LT_REGEXP},
    {"logfmt", LT_LOGFMT},
    {"unpack", LT_UNPACK},
    {"pattern", LT_PATTERN},
    {"label_format", LT_LABEL_FMT},
    {"line_format", LT_LINE_FMT},
    {"decolorize", LT_DECOLORIZE},
    {"drop", LT_DROP},
    {"keep", LT_KEEP},
    {"unwrap", LT_UNWRAP},
    {"variants", LT_VARIANTS},
    {"of", LT_OF},
};

/* Keywords only when a call follows (Loki's `functionTokens`). */
static const word_t functions[] = {
    {"count_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_COUNT_OVER_TIME},
    {"rate", LT_RANGE_FIRST + SX_LQ_RANGE_RATE},
    {"rate_counter", LT_RANGE_FIRST + SX_LQ_RANGE_RATE_COUNTER},
    {"bytes_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_BYTES_OVER_TIME},
    {"bytes_rate", LT_RANGE_FIRST + SX_LQ_RANGE_BYTES_RATE},
    {"avg_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_AVG_OVER_TIME},
    {"sum_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_SUM_OVER_TIME},
    {"min_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_MIN_OVER_TIME},
    {"max_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_MAX_OVER_TIME},
    {"stdvar_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_STDVAR_OVER_TIME},
    {"stddev_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_STDDEV_OVER_TIME},
    {"quantile_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_QUANTILE_OVER_TIME},
    {"first_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_FIRST_OVER_TIME},
    {"last_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_LAST_OVER_TIME},
    {"absent_over_time", LT_RANGE_FIRST + SX_LQ_RANGE_ABSENT_OVER_TIME},
    {"vector", LT_VECTOR},
    {"sum", LT_VEC_FIRST + SX_LQ_VEC_SUM},
    {"avg", LT_VEC_FIRST + SX_LQ_VEC_AVG},
    {"count", LT_VEC_FIRST + SX_LQ_VEC_COUNT},
    {"max", LT_VEC_FIRST + SX_LQ_VEC_MAX},
    {"min", LT_VEC_FIRST + SX_LQ_VEC_MIN},
    {"stddev", LT_VEC_FIRST + SX_LQ_VEC_STDDEV},
    {"stdvar", LT_VEC_FIRST + SX_LQ_VEC_STDVAR},
    {"bottomk", LT_VEC_FIRST + SX_LQ_VEC_BOTTOMK},
    {"topk", LT_VEC_FIRST + SX_LQ_VEC_TOPK},
    {"sort", LT_VEC_FIRST + SX_LQ_VEC_SORT},
    {"sort_desc", LT_VEC_FIRST + SX_LQ_VEC_SORT_DESC},
    {"approx_topk", LT_VEC_FIRST + SX_LQ_VEC_APPROX_TOPK},
    {"label_replace", LT_LABEL_REPLACE},
    {"bytes", LT_BYTES_CONV},
    {"duration", LT_DURATION_CONV},
    {"duration_seconds", LT_DURATION_SECONDS_CONV},
    {"ip", LT_IP},
};

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool word_eq_ci(const char *s, size_t n, const char *w)
{
    size_t i = 0;
    for (; i < n && w[i]; i++)
        if (lower(s[i]) != w[i])
            return false;
    return i == n && w[i] == '\0';
}

static int word_lookup(const word_t *tab, size_t ntab, const char *s, size_t n)
{
    for (size_t i = 0; i < ntab; i++)
        if (word_eq_ci(s, n, tab[i].w))
            return tab[i].type;
    return -1;
}

/* ---- Characters ---- */

static int32_t rune_at(const lq_lexer_t *l, uint32_t pos, uint32_t *w)
{
    if (pos >= l->n) {
        *w = 0;
        return END_RUNE;
    }
    return sx_lqp__utf8(l->in + pos, l->n - pos, w);
}

static bool is_digit(int32_t r)
{
    return r >= '0' && r <= '9';
}

static bool is_ascii_letter(int32_t r)
{
    return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}

/* text/scanner's identifier runes: letters, digits and '_'. Letters
 * beyond ASCII are taken as every valid non-ASCII rune that is not a
 * space (Go's unicode.IsLetter is not reproduced). */
static bool is_ident_rune(int32_t r, bool first)
{
    if (r == '_' || is_ascii_letter(r))
        return true;
    if (is_digit(r))
        return !first;
    return r >= 0x80 && r != 0x85 && r != 0xA0;
}

static bool is_scan_space(int32_t r)
{
    return r == ' ' || r == '\t' || r == '\n' || r == '\r';
}

/* unicode.IsSpace for the runes that matter here. */
static bool is_uspace(int32_t r)
{
    return is_scan_space(r) || r == '\v' || r == '\f' || r == 0x85 || r == 0xA0;
}

/* ---- Errors ---- */

static void __attribute__((format(printf, 5, 6)))
lex_error(lq_lexer_t *l, lq_token_t *t, uint32_t pos, bool line0, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    t->type = LT_ERROR;
    t->pos = pos;
    t->len = 0;
    t->line0 = line0;
    t->msg = sx_arena_strndup(l->a, msg, strlen(msg));
    if (!t->msg)
        t->msg = "out of memory";
    l->done = true;
}

/* Report a rune the scanner refuses anywhere (invalid UTF-8, NUL). */
static bool bad_rune(lq_lexer_t *l, lq_token_t *t, uint32_t tokpos, int32_t r)
{
    if (r == BAD_RUNE) {
        lex_error(l, t, tokpos, false, "invalid UTF-8 encoding");
        return true;
    }
    if (r == 0) {
        lex_error(l, t, tokpos, false, "invalid character NUL");
        return true;
    }
    return false;
}

static void emit(lq_lexer_t *l, lq_token_t *t, int type, uint32_t start, bool line0)
{
    t->type = type;
    t->pos = start;
    t->len = l->pos - start;
    t->line0 = line0;
    t->msg = NULL;
}

/* %q of a rune for scanner messages: 'x'. */
static void qrune(char *buf, size_t sz, int32_t r)
{
    if (r >= 0x20 && r < 0x7F && r != '\'' && r != '\\')
        snprintf(buf, sz, "'%c'", (char)r);
    else if (r == '\'' || r == '\\')
        snprintf(buf, sz, "'\\%c'", (char)r);
    else if (r < 0x80)
        snprintf(buf, sz, "'\\x%02x'", (unsigned)r);
    else
        snprintf(buf, sz, "'\\u%04x'", (unsigned)r);
}

/* ---- Durations, byte sizes, floats ---- */

static void go_quote_str(char *buf, size_t sz, const char *s, size_t n)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_lqp__quote(&b, s, n);
    snprintf(buf, sz, "%.*s", (int)b.len, b.ptr ? b.ptr : "");
    sx_buf_dispose(&b);
}

int sx_lqp__prom_duration(const char *s, size_t n, int64_t *ns, char *msg, size_t msgsz)
{
    static const struct {
        const char *u;
        uint64_t mult; /* ns */
    } units[] = {
        {"y", 365ULL * 24 * 3600 * 1000000000ULL}, {"w", 7ULL * 24 * 3600 * 1000000000ULL},
        {"d", 24ULL * 3600 * 1000000000ULL},       {"h", 3600ULL * 1000000000ULL},
        {"m", 60ULL * 1000000000ULL},              {"s", 1000000000ULL},
        {"ms", 1000000ULL},
    };
    char q[160];
    if (n == 0) {
        snprintf(msg, msgsz, "empty duration string");
        return -1;
    }
    if (n == 1 && s[0] == '0') {
        *ns = 0;
        return 0;
    }
    size_t i = 0;
    int last = -1;
    unsigned __int128 total = 0;
    bool overflow = false;
    while (i < n) {
        size_t d0 = i;
        unsigned __int128 v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (v <= ((unsigned __int128)1 << 80))
                v = v * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        if (i == d0)
            goto bad;
        int u = -1;
        if (i + 1 < n && s[i] == 'm' && s[i + 1] == 's' && !(i + 2 < n && !is_digit(s[i + 2])))
            u = 6, i += 2;
        else if (i < n) {
            for (int k = 0; k < 6; k++)
                if (s[i] == units[k].u[0]) {
                    u = k;
                    break;
                }
            if (u >= 0)
                i++;
        }
        if (u < 0 || u <= last)
            goto bad;
        if (i < n && !is_digit(s[i]))
            goto bad;
        last = u;
        /* The regex version of ParseDuration counts in ms: a component
         * past int64 ms of its unit is out of range. */
        if (v > (unsigned __int128)INT64_MAX / (units[u].mult / 1000000))
            overflow = true;
        else
            total += v * units[u].mult;
    }
    if (overflow || total > (unsigned __int128)INT64_MAX) {
        snprintf(msg, msgsz, "duration out of range");
        return -1;
    }
    *ns = (int64_t)total;
    return 0;
bad:
    go_quote_str(q, sizeof(q), s, n);
    snprintf(msg, msgsz, "not a valid duration string: %s", q);
    return -1;
}

int sx_lqp__go_duration(const char *s, size_t n, int64_t *ns)
{
    static const struct {
        const char *u;
        uint64_t mult;
    } units[] = {
        {"ns", 1ULL},           {"us", 1000ULL},          {"\xC2\xB5s", 1000ULL},
        {"\xCE\xBCs", 1000ULL}, {"ms", 1000000ULL},       {"s", 1000000000ULL},
        {"m", 60000000000ULL},  {"h", 3600000000000ULL},
    };
    const uint64_t lim = 1ULL << 63;
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (n - i == 1 && s[i] == '0') {
        *ns = 0;
        return 0;
    }
    if (i == n)
        return -1;
    uint64_t d = 0;
    while (i < n) {
        uint64_t v = 0, f = 0;
        double scale = 1;
        if (!(s[i] == '.' || is_digit(s[i])))
            return -1;
        size_t p0 = i;
        while (i < n && is_digit(s[i])) {
            if (v > lim / 10)
                return -1;
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > lim)
                return -1;
            i++;
        }
        bool pre = i != p0, post = false;
        if (i < n && s[i] == '.') {
            i++;
            size_t f0 = i;
            bool of = false;
            while (i < n && is_digit(s[i])) {
                if (!of) {
                    if (f > (lim - 1) / 10) {
                        of = true;
                    } else {
                        uint64_t y = f * 10 + (uint64_t)(s[i] - '0');
                        if (y > lim)
                            of = true;
                        else
                            f = y, scale *= 10;
                    }
                }
                i++;
            }
            post = i != f0;
        }
        if (!pre && !post)
            return -1;
        size_t u0 = i;
        while (i < n && s[i] != '.' && !is_digit(s[i]))
            i++;
        if (i == u0)
            return -1;
        uint64_t unit = 0;
        for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
            if (strlen(units[k].u) == i - u0 && memcmp(units[k].u, s + u0, i - u0) == 0)
                unit = units[k].mult;
        if (!unit)
            return -1;
        if (v > lim / unit)
            return -1;
        v *= unit;
        if (f > 0) {
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > lim)
                return -1;
        }
        d += v;
        if (d > lim)
            return -1;
    }
    if (neg) {
        *ns = d == lim ? INT64_MIN : -(int64_t)d;
        return 0;
    }
    if (d > lim - 1)
        return -1;
    *ns = (int64_t)d;
    return 0;
}

/* Go's strconv underscoreOK. */
static bool underscore_ok(const char *s, size_t n)
{
    char saw = '^';
    size_t i = 0;
    if (n >= 1 && (s[0] == '-' || s[0] == '+'))
        s++, n--;
    bool hex = false;
    if (n >= 2 && s[0] == '0' &&
        (lower(s[1]) == 'b' || lower(s[1]) == 'o' || lower(s[1]) == 'x')) {
        i = 2;
        saw = '0';
        hex = lower(s[1]) == 'x';
    }
    for (; i < n; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (hex && lower(c) >= 'a' && lower(c) <= 'f')) {
            saw = '0';
            continue;
        }
        if (c == '_') {
            if (saw != '0')
                return false;
            saw = '_';
            continue;
        }
        if (saw == '_')
            return false;
        saw = '!';
    }
    return saw != '_';
}

int sx_lqp__parse_float(const char *s, size_t n, double *out)
{
    *out = 0;
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    size_t m = n - i;
    const char *b = s + i;
    if (word_eq_ci(b, m, "inf") || word_eq_ci(b, m, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return 1;
    }
    if (word_eq_ci(b, m, "nan") && i == 0) {
        *out = NAN;
        return 1;
    }
    bool hex = m >= 2 && b[0] == '0' && lower(b[1]) == 'x';
    size_t j = hex ? 2 : 0, digits = 0;
    bool under = false;
    for (; j < m; j++) {
        char c = b[j];
        if (c == '_')
            under = true;
        else if (is_digit((unsigned char)c) || (hex && lower(c) >= 'a' && lower(c) <= 'f'))
            digits++;
        else
            break;
    }
    if (j < m && b[j] == '.') {
        for (j++; j < m; j++) {
            char c = b[j];
            if (c == '_')
                under = true;
            else if (is_digit((unsigned char)c) || (hex && lower(c) >= 'a' && lower(c) <= 'f'))
                digits++;
            else
                break;
        }
    }
    if (!digits)
        return 0;
    char ec = hex ? 'p' : 'e';
    if (j < m && lower(b[j]) == ec) {
        j++;
        if (j < m && (b[j] == '+' || b[j] == '-'))
            j++;
        size_t ed = 0;
        for (; j < m; j++) {
            if (b[j] == '_')
                under = true;
            else if (is_digit((unsigned char)b[j]))
                ed++;
            else
                break;
        }
        if (!ed)
            return 0;
    } else if (hex) {
        return 0; /* a hexadecimal mantissa needs a 'p' exponent */
    }
    if (j != m || (under && !underscore_ok(b, m)))
        return 0;
    char tmp[128];
    char *buf = m < sizeof(tmp) ? tmp : malloc(m + 1);
    if (!buf)
        return 0;
    size_t k = 0;
    for (size_t x = 0; x < m; x++)
        if (b[x] != '_')
            buf[k++] = b[x];
    buf[k] = '\0';
    double v = strtod(buf, NULL);
    if (buf != tmp)
        free(buf);
    if (isinf(v)) {
        *out = neg ? -INFINITY : INFINITY;
        return -1;
    }
    *out = neg ? -v : v;
    return 1;
}

int sx_lqp__humanize_bytes(const char *s, size_t n, double *bytes)
{
    static const struct {
        const char *u;
        double mult;
    } table[] = {
        {"b", 1},
        {"kib", 1024.0},
        {"kb", 1e3},
        {"mib", 1048576.0},
        {"mb", 1e6},
        {"gib", 1073741824.0},
        {"gb", 1e9},
        {"tib", 1099511627776.0},
        {"tb", 1e12},
        {"pib", 1125899906842624.0},
        {"pb", 1e15},
        {"eib", 1152921504606846976.0},
        {"eb", 1e18},
        {"", 1},
        {"ki", 1024.0},
        {"k", 1e3},
        {"mi", 1048576.0},
        {"m", 1e6},
        {"gi", 1073741824.0},
        {"g", 1e9},
        {"ti", 1099511627776.0},
        {"t", 1e12},
        {"pi", 1125899906842624.0},
        {"p", 1e15},
        {"ei", 1152921504606846976.0},
        {"e", 1e18},
    };
    size_t d = 0;
    bool comma = false;
    while (d < n && (is_digit((unsigned char)s[d]) || s[d] == '.' || s[d] == ',')) {
        comma = comma || s[d] == ',';
        d++;
    }
    char num[128];
    size_t k = 0;
    if (d >= sizeof(num))
        return -1;
    for (size_t i = 0; i < d; i++)
        if (s[i] != ',')
            num[k++] = s[i];
    double f;
    if (sx_lqp__parse_float(num, k, &f) != 1)
        return -1;
    (void)comma;
    /* The unit: trimmed, lower-cased. */
    size_t a = d, b = n;
    while (a < b && is_uspace((unsigned char)s[a]))
        a++;
    while (b > a && is_uspace((unsigned char)s[b - 1]))
        b--;
    if (b - a > 8)
        return -1;
    char unit[9];
    for (size_t i = a; i < b; i++)
        unit[i - a] = lower(s[i]);
    unit[b - a] = '\0';
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(unit, table[i].u) == 0) {
            f *= table[i].mult;
            if (!(f < 18446744073709551616.0))
                return -1; /* "too large" */
            *bytes = (double)(uint64_t)f;
            return 0;
        }
    }
    return -1;
}

/* Loki's parseDuration: Prometheus' syntax first, Go's otherwise. */
static bool any_duration(const char *s, size_t n, int64_t *ns)
{
    char msg[200];
    if (sx_lqp__prom_duration(s, n, ns, msg, sizeof(msg)) == 0)
        return true;
    return sx_lqp__go_duration(s, n, ns) == 0;
}

static bool is_duration_rune(int32_t r)
{
    switch (r) {
    case 'n': case 'u': case 0xB5: case 'm': case 's': case 'h': case 'd': case 'w': case 'y':
        return true;
    default:
        return false;
    }
}

static bool is_bytes_rune(int32_t r)
{
    switch (r) {
    case 'B': case 'i': case 'k': case 'K': case 'M': case 'G': case 'T': case 'P':
        return true;
    default:
        return false;
    }
}

/* tryScanDuration / tryScanBytes: the runes after l->pos that could
 * continue the number at [start, l->pos); end of that run in *end. */
static uint32_t unit_run(const lq_lexer_t *l, bool (*ok)(int32_t))
{
    uint32_t p = l->pos, w;
    for (;;) {
        int32_t r = rune_at(l, p, &w);
        if (r < 0 || is_uspace(r))
            break;
        if (!(is_digit(r) || r == '.' || ok(r)))
            break;
        p += w;
    }
    return p;
}

/* The number (or '-') at [start, l->pos) followed by unit runes: a
 * DURATION or BYTES token when the whole run parses. */
static bool try_units(lq_lexer_t *l, lq_token_t *t, uint32_t start, bool bytes_too)
{
    uint32_t end = unit_run(l, is_duration_rune);
    if (end > l->pos) {
        int64_t ns;
        if (any_duration(l->in + start, end - start, &ns)) {
            l->pos = end;
            emit(l, t, LT_DURATION, start, true);
            t->ns = ns;
            return true;
        }
    }
    if (!bytes_too)
        return false;
    end = unit_run(l, is_bytes_rune);
    if (end > l->pos) {
        double b;
        if (sx_lqp__humanize_bytes(l->in + start, end - start, &b) == 0) {
            l->pos = end;
            emit(l, t, LT_BYTES, start, true);
            t->bytes = b;
            return true;
        }
    }
    return false;
}

/* ---- Numbers (Go's text/scanner) ---- */

static const char *litname(char prefix)
{
    switch (prefix) {
    case 'x': return "hexadecimal literal";
    case 'o': case '0': return "octal literal";
    case 'b': return "binary literal";
    default: return "decimal literal";
    }
}

static bool is_hex(int32_t r)
{
    return is_digit(r) || (lower((char)r) >= 'a' && lower((char)r) <= 'f' && r < 0x80);
}

/* digits: { digit | '_' }; returns bit 0 for digits, bit 1 for '_'. */
static int scan_digits(lq_lexer_t *l, int base, int32_t *invalid)
{
    int ds = 0;
    for (;;) {
        uint32_t w;
        int32_t r = rune_at(l, l->pos, &w);
        if (base <= 10) {
            if (!(is_digit(r) || r == '_'))
                break;
            if (r == '_')
                ds |= 2;
            else {
                ds |= 1;
                if (r >= '0' + base && invalid && *invalid == 0)
                    *invalid = r;
            }
        } else {
            if (!(is_hex(r) || r == '_'))
                break;
            ds |= r == '_' ? 2 : 1;
        }
        l->pos += w;
    }
    return ds;
}

/* Go's invalidSep: index of the first misplaced '_', or -1. */
static long invalid_sep(const char *x, size_t n)
{
    char x1 = ' ', d = '.';
    size_t i = 0;
    if (n >= 2 && x[0] == '0') {
        x1 = lower(x[1]);
        if (x1 == 'x' || x1 == 'o' || x1 == 'b') {
            d = '0';
            i = 2;
        }
    }
    for (; i < n; i++) {
        char p = d;
        d = x[i];
        if (d == '_') {
            if (p != '0')
                return (long)i;
        } else if (is_digit((unsigned char)d) || (x1 == 'x' && is_hex((unsigned char)d))) {
            d = '0';
        } else {
            if (p == '_')
                return (long)i - 1;
            d = '.';
        }
    }
    if (d == '_')
        return (long)n - 1;
    return -1;
}

/* A number at l->pos (a digit, or '.' and a digit). Returns false after
 * producing an error token. */
static bool scan_number(lq_lexer_t *l, lq_token_t *t, uint32_t start)
{
    int base = 10, digsep = 0;
    char prefix = 0;
    int32_t invalid = 0;
    bool is_float = false;
    char rb[32];
    if (l->in[l->pos] != '.') {
        if (l->in[l->pos] == '0') {
            l->pos++;
            char c = l->pos < l->n ? lower(l->in[l->pos]) : 0;
            if (c == 'x') {
                l->pos++;
                base = 16, prefix = 'x';
            } else if (c == 'o') {
                l->pos++;
                base = 8, prefix = 'o';
            } else if (c == 'b') {
                /* Loki's scanner copy means to keep "0b" before a space a
                 * decimal zero, but its check never sees that space. */
                l->pos++;
                base = 2, prefix = 'b';
            } else {
                base = 8, prefix = '0';
                digsep = 1;
            }
        }
        digsep |= scan_digits(l, base, &invalid);
        if (l->pos < l->n && l->in[l->pos] == '.') {
            l->pos++;
            is_float = true;
        }
    } else {
        l->pos++;
        is_float = true;
    }
    if (is_float) {
        if (prefix == 'o' || prefix == 'b') {
            lex_error(l, t, start, false, "invalid radix point in %s", litname(prefix));
            return false;
        }
        digsep |= scan_digits(l, base, &invalid);
    }
    if (!(digsep & 1)) {
        lex_error(l, t, start, false, "%s has no digits", litname(prefix));
        return false;
    }
    char e = l->pos < l->n ? lower(l->in[l->pos]) : 0;
    if (e == 'e' || e == 'p') {
        if (e == 'e' && prefix != 0 && prefix != '0') {
            qrune(rb, sizeof(rb), (unsigned char)l->in[l->pos]);
            lex_error(l, t, start, false, "%s exponent requires decimal mantissa", rb);
            return false;
        }
        if (e == 'p' && prefix != 'x') {
            qrune(rb, sizeof(rb), (unsigned char)l->in[l->pos]);
            lex_error(l, t, start, false, "%s exponent requires hexadecimal mantissa", rb);
            return false;
        }
        l->pos++;
        is_float = true;
        if (l->pos < l->n && (l->in[l->pos] == '+' || l->in[l->pos] == '-'))
            l->pos++;
        int ds = scan_digits(l, 10, NULL);
        digsep |= ds;
        if (!(ds & 1)) {
            lex_error(l, t, start, false, "exponent has no digits");
            return false;
        }
    } else if (prefix == 'x' && is_float) {
        lex_error(l, t, start, false, "hexadecimal mantissa requires a 'p' exponent");
        return false;
    }
    if (!is_float && invalid != 0) {
        qrune(rb, sizeof(rb), invalid);
        lex_error(l, t, start, false, "invalid digit %s in %s", rb, litname(prefix));
        return false;
    }
    if ((digsep & 2) && invalid_sep(l->in + start, l->pos - start) >= 0) {
        lex_error(l, t, start, false, "'_' must separate successive digits");
        return false;
    }
    return true;
}

/* ---- Strings ---- */

static int hexval(int32_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower((char)c);
    if (c >= 'a' && c <= 'f' && c < 0x80)
        return c - 'a' + 10;
    return 16;
}

/* A quoted literal starting at start (l->pos is past the quote). quote is
 * '"' or '\''. Checks the escapes as text/scanner does, then what
 * Prometheus' Unquote refuses (octal above 255, surrogates). Returns the
 * number of characters, or -1 after an error token. */
static long scan_quoted(lq_lexer_t *l, lq_token_t *t, uint32_t start, char quote)
{
    long count = 0;
    for (;;) {
        uint32_t w;
        int32_t r = rune_at(l, l->pos, &w);
        if (r == END_RUNE || r == '\n') {
            lex_error(l, t, start, false, "literal not terminated");
            return -1;
        }
        if (bad_rune(l, t, start, r))
            return -1;
        l->pos += w;
        if (r == quote)
            return count;
        count++;
        if (r != '\\')
            continue;
        r = rune_at(l, l->pos, &w);
        if (bad_rune(l, t, start, r))
            return -1;
        int n = 0, base = 0;
        uint32_t max = 0;
        switch (r) {
        case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\':
            l->pos += w;
            continue;
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
            n = 3, base = 8, max = 255;
            break;
        case 'x':
            l->pos += w;
            n = 2, base = 16, max = 255;
            break;
        case 'u':
            l->pos += w;
            n = 4, base = 16, max = 0x10FFFF;
            break;
        case 'U':
            l->pos += w;
            n = 8, base = 16, max = 0x10FFFF;
            break;
        default:
            if (r == quote) {
                l->pos += w;
                continue;
            }
            lex_error(l, t, start, false, "invalid char escape");
            return -1;
        }
        uint32_t v = 0;
        for (int i = 0; i < n; i++) {
            r = rune_at(l, l->pos, &w);
            int d = r >= 0 ? hexval(r) : 16;
            if (d >= base) {
                lex_error(l, t, start, false, "invalid char escape");
                return -1;
            }
            v = v * (uint32_t)base + (uint32_t)d;
            l->pos += w;
        }
        if (v > max || (n >= 4 && v >= 0xD800 && v < 0xE000))
            t->msg = "invalid syntax"; /* Unquote's complaint, reported after the scan */
    }
}

static bool scan_string(lq_lexer_t *l, lq_token_t *t, uint32_t start)
{
    t->msg = NULL;
    if (scan_quoted(l, t, start, '"') < 0)
        return false;
    if (t->msg) {
        lex_error(l, t, start, false, "invalid syntax");
        return false;
    }
    emit(l, t, LT_STRING, start, false);
    return true;
}

static bool scan_raw_string(lq_lexer_t *l, lq_token_t *t, uint32_t start)
{
    for (;;) {
        uint32_t w;
        int32_t r = rune_at(l, l->pos, &w);
        if (r == END_RUNE) {
            lex_error(l, t, start, false, "literal not terminated");
            return false;
        }
        if (bad_rune(l, t, start, r))
            return false;
        l->pos += w;
        if (r == '`')
            break;
    }
    emit(l, t, LT_STRING, start, false);
    return true;
}

/* A Go character literal ('x'): Loki has no token for it, so it is an
 * IDENTIFIER whose text keeps the quotes. */
static bool scan_char(lq_lexer_t *l, lq_token_t *t, uint32_t start)
{
    t->msg = NULL;
    long n = scan_quoted(l, t, start, '\'');
    if (n < 0)
        return false;
    if (n != 1) {
        lex_error(l, t, start, false, "invalid char literal");
        return false;
    }
    emit(l, t, LT_IDENT, start, false);
    return true;
}

/* ---- Comments and words ---- */

/* Skip a comment starting at l->pos; false after an error token. */
static bool skip_comment(lq_lexer_t *l, lq_token_t *t)
{
    uint32_t start = l->pos, w;
    if (l->in[l->pos] == '#' || l->in[l->pos + 1] == '/') {
        l->pos += l->in[l->pos] == '#' ? 1 : 2;
        for (;;) {
            int32_t r = rune_at(l, l->pos, &w);
            if (r == END_RUNE || r == '\n')
                return true;
            if (bad_rune(l, t, start, r))
                return false;
            l->pos += w;
        }
    }
    l->pos += 2; /* block comment */
    for (;;) {
        int32_t r = rune_at(l, l->pos, &w);
        if (r == END_RUNE) {
            lex_error(l, t, start, false, "comment not terminated");
            return false;
        }
        if (bad_rune(l, t, start, r))
            return false;
        l->pos += w;
        if (r == '*' && l->pos < l->n && l->in[l->pos] == '/') {
            l->pos++;
            return true;
        }
    }
}

static uint32_t skip_uspace(const lq_lexer_t *l, uint32_t p)
{
    uint32_t w;
    for (;;) {
        int32_t r = rune_at(l, p, &w);
        if (r < 0 || !is_uspace(r))
            return p;
        p += w;
    }
}

/* Loki's isFunction: after blanks, '(' - or `by`/`without`, blanks, '('. */
static bool is_function(const lq_lexer_t *l, uint32_t p)
{
    p = skip_uspace(l, p);
    if (p >= l->n)
        return false;
    if (l->in[p] == '(')
        return true;
    size_t left = l->n - p;
    size_t wl = 0;
    if (left >= 2 && word_eq_ci(l->in + p, 2, "by"))
        wl = 2;
    else if (left >= 7 && word_eq_ci(l->in + p, 7, "without"))
        wl = 7;
    if (!wl)
        return false;
    p = skip_uspace(l, p + (uint32_t)wl);
    return p < l->n && l->in[p] == '(';
}

static bool scan_word(lq_lexer_t *l, lq_token_t *t, uint32_t start)
{
    uint32_t w;
    bool first = true;
    for (;;) {
        int32_t r = rune_at(l, l->pos, &w);
        if (r == BAD_RUNE) {
            lex_error(l, t, start, false, "invalid UTF-8 encoding");
            return false;
        }
        if (r < 0 || !is_ident_rune(r, first))
            break;
        first = false;
        l->pos += w;
    }
    const char *s = l->in + start;
    size_t n = l->pos - start;
    int type = word_lookup(functions, sizeof(functions) / sizeof(functions[0]), s, n);
    if (type >= 0) {
        emit(l, t, is_function(l, l->pos) ? type : LT_IDENT, start, false);
        return true;
    }
    type = word_lookup(keywords, sizeof(keywords) / sizeof(keywords[0]), s, n);
    emit(l, t, type >= 0 ? type : LT_IDENT, start, false);
    return true;
}

/* `[...]`: everything up to ']' is a Prometheus duration. */
static void scan_range(lq_lexer_t *l, lq_token_t *t, uint32_t start)
{
    uint32_t w;
    l->pos++;
    for (;;) {
        int32_t r = rune_at(l, l->pos, &w);
        if (r == END_RUNE) {
            lex_error(l, t, start, true, "missing closing ']' in duration");
            return;
        }
        if (bad_rune(l, t, start, r))
            return;
        l->pos += w;
        if (r == ']')
            break;
    }
    char msg[200];
    int64_t ns;
    if (sx_lqp__prom_duration(l->in + start + 1, l->pos - start - 2, &ns, msg, sizeof(msg)) != 0) {
        lex_error(l, t, start, true, "%s", msg);
        return;
    }
    emit(l, t, LT_RANGE, start, true);
    t->ns = ns;
}

/* '-': a parser flag, a negative duration or a minus. */
static void scan_minus(lq_lexer_t *l, lq_token_t *t, uint32_t start)
{
    l->pos++;
    if (l->pos < l->n && l->in[l->pos] == '-') {
        uint32_t p = l->pos, w;
        for (;;) {
            int32_t r = rune_at(l, p, &w);
            if (!(r == '-' || is_ascii_letter(r) || (r >= 0x80 && is_ident_rune(r, true))))
                break;
            p += w;
        }
        size_t n = p - start;
        if ((n == 8 && memcmp(l->in + start, "--strict", 8) == 0) ||
            (n == 12 && memcmp(l->in + start, "--keep-empty", 12) == 0)) {
            l->pos = p;
            emit(l, t, LT_FLAG, start, true);
            return;
        }
    }
    if (try_units(l, t, start, false))
        return;
    emit(l, t, LT_SUB, start, false);
}

static const struct {
    char a, b;
    int type;
} pairs[] = {
    {'|', '=', LT_PIPE_EXACT}, {'|', '~', LT_PIPE_MATCH}, {'|', '>', LT_PIPE_PATTERN},
    {'!', '=', LT_NEQ},        {'!', '~', LT_NRE},        {'!', '>', LT_NPA},
    {'=', '~', LT_RE},         {'=', '=', LT_CMP_EQ},     {'>', '=', LT_GTE},
    {'<', '=', LT_LTE},
};

static int single(char c)
{
    switch (c) {
    case ',': return LT_COMMA;
    case '.': return LT_DOT;
    case '{': return LT_LBRACE;
    case '}': return LT_RBRACE;
    case '(': return LT_LPAREN;
    case ')': return LT_RPAREN;
    case ']': return LT_RBRACKET;
    case '=': return LT_EQ;
    case '|': return LT_PIPE;
    case '+': return LT_ADD;
    case '*': return LT_MUL;
    case '/': return LT_DIV;
    case '%': return LT_MOD;
    case '^': return LT_POW;
    case '>': return LT_GT;
    case '<': return LT_LT;
    default: return -1;
    }
}

void sx_lqp__lex_next(lq_lexer_t *l, lq_token_t *t)
{
    memset(t, 0, sizeof(*t));
    if (l->done) {
        t->type = LT_EOF;
        t->pos = l->n;
        return;
    }
    for (;;) {
        uint32_t w;
        int32_t r = rune_at(l, l->pos, &w);
        while (r >= 0 && is_scan_space(r)) {
            l->pos += w;
            r = rune_at(l, l->pos, &w);
        }
        uint32_t start = l->pos;
        if (r == END_RUNE) {
            emit(l, t, LT_EOF, start, false);
            l->done = true;
            return;
        }
        if (bad_rune(l, t, start, r))
            return;
        char c = l->in[start];
        char c1 = start + 1 < l->n ? l->in[start + 1] : 0;
        if (c == '#' || (c == '/' && (c1 == '/' || c1 == '*'))) {
            if (!skip_comment(l, t))
                return;
            continue;
        }
        if (is_digit(r) || (c == '.' && is_digit((unsigned char)c1))) {
            if (!scan_number(l, t, start))
                return;
            if (try_units(l, t, start, true))
                return;
            emit(l, t, LT_NUMBER, start, false);
            return;
        }
        if (is_ident_rune(r, true)) {
            scan_word(l, t, start);
            return;
        }
        switch (c) {
        case '"':
            l->pos++;
            scan_string(l, t, start);
            return;
        case '`':
            l->pos++;
            scan_raw_string(l, t, start);
            return;
        case '\'':
            l->pos++;
            scan_char(l, t, start);
            return;
        case '[':
            scan_range(l, t, start);
            return;
        case '-':
            scan_minus(l, t, start);
            return;
        default:
            break;
        }
        for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
            if (c == pairs[i].a && c1 == pairs[i].b) {
                l->pos += 2;
                emit(l, t, pairs[i].type, start, true);
                return;
            }
        }
        int type = single(c);
        l->pos += w;
        emit(l, t, type >= 0 ? type : LT_IDENT, start, false);
        return;
    }
}
