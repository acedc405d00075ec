/* SPDX-License-Identifier: Apache-2.0 */
/* TraceQL text to tree: the lexer (Tempo's tokens: scoped attributes read
 * up to a terminal character, numbers that turn into durations when a unit
 * follows, Go-quoted and backquoted strings), a recursive-descent parser
 * following Tempo's grammar and precedences (`|` lowest, then `&&` and `||`
 * on one level, left-associative, then comparisons and structural
 * operators), the checks Tempo makes on operand types, and the builders
 * for Tempo's tags= and Jaeger's search. Regular expressions are compiled
 * here, anchored at both ends as Tempo (since 2.7) and Prometheus do. */
#include "traceql.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../storage/tsdb/tsdb.h"
#include "../logql/convert.h"
#include "traceql_int.h"

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

/* ---- Lexer ---- */

typedef enum {
    T_EOF, T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN, T_COMMA, T_PIPE,
    T_OP,    /* tok.op: an operator of either level */
    T_NOT,   /* ! */
    T_VALUE, /* tok.v: a literal */
    T_FIELD, /* tok.f: an attribute or intrinsic */
    T_WORD,  /* any other word: count, select, with, ... */
    T_ERROR, /* the lexer set the error */
} tok_kind_t;

typedef struct tok {
    int kind;
    int op;
    sx_tql_value_t v;
    sx_tql_field_t f;
    const char *start; /* where the token starts in the text */
    size_t len;
} tok_t;

typedef struct parser {
    sx_arena_t *a;
    const char *src, *p;
    tok_t t; /* the current token */
    sx_err_t *err;
    bool failed;
    int depth;
    sx_tql_query_t *q;
} parser_t;

static int col(const parser_t *P, const char *at)
{
    return (int)(at - P->src) + 1;
}

/* Record the first error only: later ones are consequences. */
static void *fail(parser_t *P, const char *at, const char *fmt, const char *arg)
{
    if (!P->failed) {
        char msg[300];
        snprintf(msg, sizeof(msg), fmt, arg);
        sx_err_set(P->err, SX_EPARSE, "col %d: %s", col(P, at), msg);
        P->failed = true;
    }
    P->t.kind = T_ERROR;
    return NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_word(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && is_digit(c));
}

/* Tempo's isAttributeRune: an attribute name runs to a blank or one of
 * these terminals, so `.http.url`, `.a-b` and `.k8s/pod:name` are names. */
static bool attr_char(char c)
{
    return c && !is_space(c) && !strchr("{}()=~!<>&|^,", c);
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Length of a valid Go escape at s ('\\' first), or 0. */
static size_t escape_len(const char *s)
{
    char e = s[1];
    if (e && strchr("abfnrtv\\\"", e)) /* strchr finds the terminator too */
        return 2;
    int nd = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (nd) {
        for (int k = 0; k < nd; k++)
            if (!is_hex(s[2 + k]))
                return 0;
        return (size_t)nd + 2;
    }
    if (e >= '0' && e <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7')
        return 4;
    return 0;
}

/* A Go double-quoted string at P->p into *out (arena copy). */
static bool lex_string(parser_t *P, sx_str_t *out)
{
    const char *s = P->p + 1, *e = s;
    while (*e && *e != '"') {
        if (*e == '\\') {
            size_t n = escape_len(e);
            if (!n) {
                fail(P, e, "invalid escape sequence in string", NULL);
                return false;
            }
            e += n;
        } else {
            e++;
        }
    }
    if (!*e) {
        fail(P, P->p, "unterminated string", NULL);
        return false;
    }
    char *buf = sx_arena_alloc(P->a, (size_t)(e - s) + 1);
    if (!buf) {
        fail(P, P->p, "query too large", NULL);
        return false;
    }
    *out = (sx_str_t){buf, sx_go_unescape(s, (size_t)(e - s), buf)};
    P->p = e + 1;
    return true;
}

/* A backquoted string: no escapes. */
static bool lex_raw_string(parser_t *P, sx_str_t *out)
{
    const char *s = P->p + 1, *e = strchr(s, '`');
    if (!e) {
        fail(P, P->p, "unterminated string", NULL);
        return false;
    }
    char *buf = sx_arena_strndup(P->a, s, (size_t)(e - s));
    if (!buf) {
        fail(P, P->p, "query too large", NULL);
        return false;
    }
    *out = (sx_str_t){buf, (size_t)(e - s)};
    P->p = e + 1;
    return true;
}

/* Prometheus durations, which Tempo tries first: integers with units y w d
 * h m s ms (1d, 2w, 1h30m). */
static int prom_duration(const char *s, size_t n, int64_t *ns)
{
    static const struct {
        const char *u;
        int64_t ns;
    } units[] = {{"ms", 1000000LL}, {"y", 365 * 86400 * 1000000000LL},
                 {"w", 7 * 86400 * 1000000000LL}, {"d", 86400 * 1000000000LL},
                 {"h", 3600 * 1000000000LL}, {"m", 60 * 1000000000LL}, {"s", 1000000000LL}};
    int64_t total = 0;
    size_t i = 0;
    if (!n)
        return -1;
    while (i < n) {
        int64_t v = 0;
        size_t st = i;
        for (; i < n && is_digit(s[i]); i++) {
            if (v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (s[i] - '0');
        }
        if (i == st)
            return -1;
        size_t k;
        for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
            size_t ul = strlen(units[k].u);
            if (i + ul <= n && memcmp(s + i, units[k].u, ul) == 0)
                break;
        }
        if (k == sizeof(units) / sizeof(units[0]))
            return -1;
        i += strlen(units[k].u);
        if (v > (INT64_MAX - total) / units[k].ns)
            return -1;
        total += v * units[k].ns;
    }
    *ns = total;
    return 0;
}

static bool duration_char(const char *s)
{
    return is_digit(*s) || *s == '.' || (*s && strchr("nsumhdwy", *s)) ||
           ((unsigned char)s[0] == 0xc2 && (unsigned char)s[1] == 0xb5) ||
           ((unsigned char)s[0] == 0xce && (unsigned char)s[1] == 0xbc);
}

/* A number, or a duration when unit characters follow it directly
 * (Tempo's tryScanDuration): 100ms, 1.5s, 2d, 1h30m. */
static bool lex_number(parser_t *P)
{
    const char *s = P->p, *e = s;
    bool flt = false;
    while (is_digit(*e))
        e++;
    if (*e == '.' && is_digit(e[1])) {
        flt = true;
        for (e++; is_digit(*e);)
            e++;
    }
    if ((*e == 'e' || *e == 'E') &&
        (is_digit(e[1]) || ((e[1] == '+' || e[1] == '-') && is_digit(e[2])))) {
        flt = true;
        for (e += 2; is_digit(*e);)
            e++;
    }
    const char *d = e;
    while (*d && duration_char(d))
        d += ((unsigned char)*d >= 0x80) ? 2 : 1;
    if (d > e) {
        int64_t ns;
        sx_err_t derr;
        sx_err_clear(&derr);
        if (sx_lq_parse_duration((sx_str_t){s, (size_t)(d - s)}, &ns, &derr) == 0 ||
            prom_duration(s, (size_t)(d - s), &ns) == 0) {
            P->t.kind = T_VALUE;
            P->t.v = (sx_tql_value_t){.type = SX_TQL_T_DURATION, .i = ns};
            P->p = d;
            return true;
        }
    }
    char tmp[128];
    size_t n = (size_t)(e - s);
    if (n >= sizeof(tmp))
        return fail(P, s, "number too long", NULL), false;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    errno = 0;
    P->t.kind = T_VALUE;
    if (flt) {
        P->t.v = (sx_tql_value_t){.type = SX_TQL_T_FLOAT, .f = strtod(tmp, NULL)};
    } else {
        long long v = strtoll(tmp, NULL, 10);
        if (errno == ERANGE)
            return fail(P, s, "integer out of range", NULL), false;
        P->t.v = (sx_tql_value_t){.type = SX_TQL_T_INT, .i = v};
    }
    P->p = e;
    return true;
}

/* An attribute name after its scope's dot: attribute characters and
 * double-quoted segments (`span."a b".c`; only \" and \\ escaped). */
static bool lex_attr_name(parser_t *P, int scope)
{
    const char *s = P->p;
    char *buf = sx_arena_alloc(P->a, strlen(s) + 1);
    size_t n = 0;
    if (!buf)
        return fail(P, s, "query too large", NULL), false;
    for (;;) {
        if (*P->p == '"') {
            const char *q = P->p + 1;
            for (; *q && *q != '"'; q++) {
                if (*q == '\\' && (q[1] == '"' || q[1] == '\\'))
                    q++;
                else if (*q == '\\')
                    return fail(P, q,
                                "only \\\" and \\\\ may be escaped in a quoted attribute name",
                                NULL),
                           false;
                buf[n++] = *q;
            }
            if (!*q)
                return fail(P, P->p, "unterminated quoted attribute name", NULL), false;
            P->p = q + 1;
        } else if (attr_char(*P->p)) {
            buf[n++] = *P->p++;
        } else {
            break;
        }
    }
    if (!n)
        return fail(P, s, "expected an attribute name after '.'", NULL), false;
    buf[n] = 0;
    P->t.kind = T_FIELD;
    P->t.f = (sx_tql_field_t){.kind = SX_TQL_F_ATTR, .scope = scope, .key = {buf, n}};
    return true;
}

static const struct {
    const char *name;
    int kind;
} intrinsics[] = {
    {"name", SX_TQL_F_NAME},
    {"status", SX_TQL_F_STATUS},
    {"statusMessage", SX_TQL_F_STATUS_MESSAGE},
    {"kind", SX_TQL_F_KIND},
    {"duration", SX_TQL_F_DURATION},
    {"childCount", SX_TQL_F_CHILD_COUNT},
    {"nestedSetLeft", SX_TQL_F_NESTED_LEFT},
    {"nestedSetRight", SX_TQL_F_NESTED_RIGHT},
    {"nestedSetParent", SX_TQL_F_NESTED_PARENT},
    {"rootName", SX_TQL_F_ROOT_NAME},
    {"rootServiceName", SX_TQL_F_ROOT_SERVICE},
    {"traceDuration", SX_TQL_F_TRACE_DURATION},
    {"span:name", SX_TQL_F_NAME},
    {"span:status", SX_TQL_F_STATUS},
    {"span:statusMessage", SX_TQL_F_STATUS_MESSAGE},
    {"span:kind", SX_TQL_F_KIND},
    {"span:duration", SX_TQL_F_DURATION},
    {"span:id", SX_TQL_F_SPAN_ID},
    {"span:parentID", SX_TQL_F_PARENT_ID},
    {"span:childCount", SX_TQL_F_CHILD_COUNT},
    {"span:nestedSetLeft", SX_TQL_F_NESTED_LEFT},
    {"span:nestedSetRight", SX_TQL_F_NESTED_RIGHT},
    {"span:nestedSetParent", SX_TQL_F_NESTED_PARENT},
    {"trace:id", SX_TQL_F_TRACE_ID},
    {"trace:rootName", SX_TQL_F_ROOT_NAME},
    {"trace:rootService", SX_TQL_F_ROOT_SERVICE},
    {"trace:duration", SX_TQL_F_TRACE_DURATION},
};

static int intrinsic_kind(const char *s, size_t n)
{
    for (size_t k = 0; k < sizeof(intrinsics) / sizeof(intrinsics[0]); k++)
        if (strlen(intrinsics[k].name) == n && memcmp(intrinsics[k].name, s, n) == 0)
            return intrinsics[k].kind;
    return -1;
}

/* Index of s[0..n) in names, case-sensitive as Tempo's keywords, or -1. */
static int exact_index(const char *s, size_t n, const char *const *names, int count)
{
    for (int k = 0; k < count; k++)
        if (strlen(names[k]) == n && memcmp(s, names[k], n) == 0)
            return k;
    return -1;
}

/* Words that are literals. */
static bool word_value(const char *s, size_t n, sx_tql_value_t *v)
{
    int k;
#define W(lit) (n == sizeof(lit) - 1 && memcmp(s, lit, n) == 0)
    if (W("true") || W("false"))
        *v = (sx_tql_value_t){.type = SX_TQL_T_BOOL, .b = s[0] == 't'};
    else if (W("nil"))
        *v = (sx_tql_value_t){.type = SX_TQL_T_NIL};
    else if (W("minInt") || W("maxInt"))
        *v = (sx_tql_value_t){.type = SX_TQL_T_INT, .i = s[1] == 'i' ? INT64_MIN : INT64_MAX};
    else if ((k = exact_index(s, n, sx_tql_status_names, 3)) >= 0)
        *v = (sx_tql_value_t){.type = SX_TQL_T_STATUS, .i = k};
    else if ((k = exact_index(s, n, sx_tql_kind_names, 6)) >= 0)
        *v = (sx_tql_value_t){.type = SX_TQL_T_KIND, .i = k};
    else
        return false;
#undef W
    return true;
}

/* A word: an intrinsic, a scoped attribute (span.x, resource.x), a
 * literal, or a plain word for the parser. */
static bool lex_word(parser_t *P)
{
    const char *s = P->p, *e = s;
    while (is_word(*e, e == s))
        e++;
    size_t n = (size_t)(e - s);
#define W(lit) (n == sizeof(lit) - 1 && memcmp(s, lit, n) == 0)
    if (*e == '.' && (W("span") || W("resource"))) {
        P->p = e + 1;
        return lex_attr_name(P, W("span") ? SX_TQL_SCOPE_SPAN : SX_TQL_SCOPE_RESOURCE);
    }
    if ((*e == '.' || *e == ':') &&
        (W("parent") || W("event") || W("link") || W("instrumentation")))
        return fail(P, s, "the %s scope is not supported", sx_arena_strndup(P->a, s, n)), false;
    if (*e == ':' && (W("span") || W("trace")))
        for (e++; is_word(*e, false);)
            e++;
#undef W
    n = (size_t)(e - s);
    P->p = e;
    int k = intrinsic_kind(s, n);
    if (k >= 0) {
        P->t.kind = T_FIELD;
        P->t.f = (sx_tql_field_t){.kind = k};
        return true;
    }
    if (memchr(s, ':', n))
        return fail(P, s, "unknown intrinsic %s", sx_arena_strndup(P->a, s, n)), false;
    if (word_value(s, n, &P->t.v)) {
        P->t.kind = T_VALUE;
        return true;
    }
    P->t.kind = T_WORD;
    return true;
}

static const struct {
    const char *text;
    int kind, op;
} punct[] = {
    /* Longest first. */
    {"&>>", T_OP, OP_U_DESC}, {"&<<", T_OP, OP_U_ANCE}, {"!>>", T_OP, OP_NOT_DESC},
    {"!<<", T_OP, OP_NOT_ANCE}, {"&&", T_OP, OP_AND}, {"||", T_OP, OP_OR},
    {"!=", T_OP, OP_NE}, {"=~", T_OP, OP_RE}, {"!~", T_OP, OP_NRE}, {">=", T_OP, OP_GE},
    {"<=", T_OP, OP_LE}, {">>", T_OP, OP_DESC}, {"<<", T_OP, OP_ANCE}, {"&>", T_OP, OP_U_CHILD},
    {"&<", T_OP, OP_U_PARENT}, {"&~", T_OP, OP_U_SIBL}, {"!>", T_OP, OP_NOT_CHILD},
    {"!<", T_OP, OP_NOT_PARENT}, {"=", T_OP, OP_EQ}, {"<", T_OP, OP_LT}, {">", T_OP, OP_GT},
    {"~", T_OP, OP_SIBL}, {"+", T_OP, OP_ADD}, {"-", T_OP, OP_SUB}, {"*", T_OP, OP_MUL},
    {"/", T_OP, OP_DIV}, {"%", T_OP, OP_MOD}, {"^", T_OP, OP_POW}, {"!", T_NOT, 0},
    {"{", T_LBRACE, 0}, {"}", T_RBRACE, 0}, {"(", T_LPAREN, 0}, {")", T_RPAREN, 0},
    {",", T_COMMA, 0}, {"|", T_PIPE, 0},
};

/* Read the next token into P->t. */
static void next(parser_t *P)
{
    if (P->failed)
        return;
    while (is_space(*P->p))
        P->p++;
    const char *s = P->p;
    P->t = (tok_t){.start = s};
    bool ok = true;
    if (!*s) {
        P->t.kind = T_EOF;
    } else if (*s == '"' || *s == '`') {
        P->t.kind = T_VALUE;
        P->t.v.type = SX_TQL_T_STRING;
        ok = *s == '"' ? lex_string(P, &P->t.v.s) : lex_raw_string(P, &P->t.v.s);
    } else if (is_digit(*s) || (*s == '.' && is_digit(s[1]))) {
        ok = lex_number(P);
    } else if (*s == '.') {
        P->p++;
        ok = lex_attr_name(P, SX_TQL_SCOPE_ANY);
    } else if (is_word(*s, true)) {
        ok = lex_word(P);
    } else {
        size_t k;
        for (k = 0; k < sizeof(punct) / sizeof(punct[0]); k++) {
            size_t n = strlen(punct[k].text);
            if (strncmp(s, punct[k].text, n) == 0) {
                P->t.kind = punct[k].kind;
                P->t.op = punct[k].op;
                P->p += n;
                break;
            }
        }
        if (k == sizeof(punct) / sizeof(punct[0])) {
            char c[8];
            snprintf(c, sizeof(c),
                     (unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f ? "%c" : "\\x%02x",
                     (unsigned char)*s);
            fail(P, s, "unexpected character '%s'", c);
            return;
        }
    }
    if (!ok)
        return;
    P->t.len = (size_t)(P->p - s);
}

/* ---- Parser helpers ---- */

static const char *tok_text(parser_t *P)
{
    if (P->t.kind == T_EOF)
        return "end of query";
    size_t n = P->t.len > 40 ? 40 : P->t.len;
    char *s = sx_arena_sprintf(P->a, "'%.*s'", (int)n, P->t.start);
    return s ? s : "token";
}

static void *unexpected(parser_t *P, const char *expected)
{
    if (P->failed)
        return NULL;
    char msg[200];
    snprintf(msg, sizeof(msg), "unexpected %s, expected %s", tok_text(P), expected);
    return fail(P, P->t.start, "%s", msg);
}

static bool accept(parser_t *P, int kind)
{
    if (P->t.kind != kind)
        return false;
    next(P);
    return true;
}

static bool expect(parser_t *P, int kind, const char *what)
{
    if (accept(P, kind))
        return true;
    unexpected(P, what);
    return false;
}

static bool is_word_tok(const parser_t *P, const char *w)
{
    return P->t.kind == T_WORD && P->t.len == strlen(w) && memcmp(P->t.start, w, P->t.len) == 0;
}

static bool enter(parser_t *P)
{
    if (++P->depth > SX_TQL_MAX_DEPTH) {
        fail(P, P->t.start, "query nested too deeply", NULL);
        return false;
    }
    return true;
}

static void *new_node(parser_t *P, size_t size)
{
    void *n = sx_arena_calloc(P->a, 1, size);
    if (!n)
        fail(P, P->t.start, "query too large", NULL);
    return n;
}

static const char *type_name(int t)
{
    static const char *const names[] = {"nil",    "unknown", "boolean", "int",  "float",
                                        "duration", "string", "status",  "kind", "array"};
    return t == TQL_T_DYN ? "attribute" : t >= 0 && t <= SX_TQL_T_ARRAY ? names[t] : "?";
}

static bool numeric(int t)
{
    return t == SX_TQL_T_INT || t == SX_TQL_T_FLOAT || t == SX_TQL_T_DURATION;
}

static int field_type(int kind)
{
    switch (kind) {
    case SX_TQL_F_ATTR: return TQL_T_DYN;
    case SX_TQL_F_STATUS: return SX_TQL_T_STATUS;
    case SX_TQL_F_KIND: return SX_TQL_T_KIND;
    case SX_TQL_F_DURATION:
    case SX_TQL_F_TRACE_DURATION: return SX_TQL_T_DURATION;
    case SX_TQL_F_CHILD_COUNT:
    case SX_TQL_F_NESTED_LEFT:
    case SX_TQL_F_NESTED_RIGHT:
    case SX_TQL_F_NESTED_PARENT: return SX_TQL_T_INT;
    default: return SX_TQL_T_STRING;
    }
}

static const char *op_name(int op)
{
    static const char *const names[] = {"&&", "||", "=", "!=", "<", "<=", ">", ">=",
                                        "=~", "!~", "+", "-", "*", "/", "%", "^"};
    return op >= 0 && op <= OP_POW ? names[op] : "?";
}

/* Tempo's type checks on a comparison whose operand types are known
 * (attributes are checked per span). Returns an error message or NULL. */
static const char *check_compare(parser_t *P, int op, int lt, int rt)
{
    if (lt == TQL_T_DYN || rt == TQL_T_DYN) {
        int t = lt == TQL_T_DYN ? rt : lt;
        if ((op == OP_RE || op == OP_NRE) && t != TQL_T_DYN && t != SX_TQL_T_STRING)
            return "=~ and !~ take strings";
        return NULL;
    }
    if (lt == SX_TQL_T_NIL || rt == SX_TQL_T_NIL)
        return op == OP_EQ || op == OP_NE ? NULL : "nil only takes = and !=";
    bool same = lt == rt || (numeric(lt) && numeric(rt));
    if (!same)
        return sx_arena_sprintf(P->a, "cannot compare %s with %s", type_name(lt), type_name(rt));
    if ((op == OP_RE || op == OP_NRE) && lt != SX_TQL_T_STRING)
        return "=~ and !~ take strings";
    if ((lt == SX_TQL_T_BOOL || lt == SX_TQL_T_STATUS || lt == SX_TQL_T_KIND) && op != OP_EQ &&
        op != OP_NE)
        return sx_arena_sprintf(P->a, "%s only takes = and !=", type_name(lt));
    return NULL;
}

void sx_tql__fold_push(sx_arena_t *a, tql_expr_t *x, int op, tql_expr_t *kid, void *re)
{
    if (x->fold.n == x->fold.cap) {
        size_t c = x->fold.cap ? x->fold.cap * 2 : 4;
        tql_expr_t **k = sx_arena_realloc(a, x->fold.k, x->fold.cap * sizeof(*k), c * sizeof(*k));
        uint8_t *o = sx_arena_realloc(a, x->fold.op, x->fold.cap, c);
        void **r = sx_arena_realloc(a, x->fold.re, x->fold.cap * sizeof(*r), c * sizeof(*r));
        if (!k || !o || !r)
            return;
        x->fold.k = k, x->fold.op = o, x->fold.re = r, x->fold.cap = c;
    }
    x->fold.k[x->fold.n] = kid;
    x->fold.op[x->fold.n] = (uint8_t)op;
    x->fold.re[x->fold.n] = re;
    x->fold.n++;
}

static tql_expr_t *new_fold(parser_t *P, tql_expr_t *first, int type)
{
    tql_expr_t *x = new_node(P, sizeof(*x));
    if (!x)
        return NULL;
    x->kind = X_FOLD;
    x->type = type;
    sx_tql__fold_push(P->a, x, 0, first, NULL);
    return x->fold.n == 1 ? x : fail(P, P->t.start, "query too large", NULL);
}

static bool push(parser_t *P, tql_expr_t *x, int op, tql_expr_t *kid, void *re)
{
    size_t n = x->fold.n;
    sx_tql__fold_push(P->a, x, op, kid, re);
    if (x->fold.n == n)
        fail(P, P->t.start, "query too large", NULL);
    return x->fold.n > n;
}

/* Compile the right side of =~ or !~, anchored; the query owns it. */
static void *compile_regex(parser_t *P, const tql_expr_t *rhs, const char *at)
{
    if (rhs->kind != X_STATIC || rhs->v.type != SX_TQL_T_STRING)
        return fail(P, at, "the right side of =~ and !~ must be a string", NULL);
    sx_tql_query_t *q = P->q;
    if (q->nre == q->capre) {
        size_t c = q->capre ? q->capre * 2 : 4;
        void **v = sx_arena_realloc(P->a, q->re, q->capre * sizeof(*v), c * sizeof(*v));
        if (!v)
            return fail(P, at, "query too large", NULL);
        q->re = v, q->capre = c;
    }
    sx_matcher_t *m = sx_arena_calloc(P->a, 1, sizeof(*m));
    if (!m)
        return fail(P, at, "query too large", NULL);
    m->value = rhs->v.s;
    m->op = SX_MATCH_RE;
    sx_err_t e;
    sx_err_clear(&e);
    if (sx_matcher_compile(m, &e))
        return fail(P, at, "%s", e.msg);
    q->re[q->nre++] = m;
    return m;
}

/* ---- Field expressions ---- */

static tql_expr_t *field_expr(parser_t *P);

static tql_expr_t *primary(parser_t *P)
{
    tql_expr_t *x;
    switch (P->t.kind) {
    case T_LPAREN:
        if (!enter(P))
            return NULL;
        next(P);
        x = field_expr(P);
        P->depth--;
        return x && expect(P, T_RPAREN, "')'") ? x : NULL;
    case T_VALUE:
        if (!(x = new_node(P, sizeof(*x))))
            return NULL;
        x->kind = X_STATIC;
        x->v = P->t.v;
        x->type = x->v.type;
        next(P);
        return x;
    case T_FIELD:
        if (!(x = new_node(P, sizeof(*x))))
            return NULL;
        x->kind = X_FIELD;
        x->f = P->t.f;
        x->type = field_type(x->f.kind);
        next(P);
        return x;
    default:
        return unexpected(P, "an attribute, intrinsic or value");
    }
}

static tql_expr_t *unary(parser_t *P);

/* x ^ y, right-associative. */
static tql_expr_t *power(parser_t *P)
{
    tql_expr_t *x = primary(P);
    if (!x || P->t.kind != T_OP || P->t.op != OP_POW)
        return x;
    const char *at = P->t.start;
    next(P);
    tql_expr_t *y = unary(P), *f;
    if (!y)
        return NULL;
    if ((x->type != TQL_T_DYN && !numeric(x->type)) || (y->type != TQL_T_DYN && !numeric(y->type)))
        return fail(P, at, "^ takes numbers", NULL);
    if (!(f = new_fold(P, x, SX_TQL_T_FLOAT)) || !push(P, f, OP_POW, y, NULL))
        return NULL;
    return f;
}

static tql_expr_t *unary(parser_t *P)
{
    const char *at = P->t.start;
    bool neg = P->t.kind == T_OP && P->t.op == OP_SUB;
    if (P->t.kind != T_NOT && !neg)
        return power(P);
    if (!enter(P))
        return NULL;
    next(P);
    tql_expr_t *x = unary(P), *u;
    P->depth--;
    if (!x)
        return NULL;
    if (neg && x->kind == X_STATIC && x->type == SX_TQL_T_FLOAT) {
        x->v.f = -x->v.f;
        return x;
    }
    if (neg && x->kind == X_STATIC && (x->type == SX_TQL_T_INT || x->type == SX_TQL_T_DURATION) &&
        x->v.i != INT64_MIN) {
        x->v.i = -x->v.i;
        return x;
    }
    if (neg ? x->type != TQL_T_DYN && !numeric(x->type)
            : x->type != TQL_T_DYN && x->type != SX_TQL_T_BOOL)
        return fail(P, at, neg ? "unary - takes a number" : "! takes a boolean", NULL);
    if (!(u = new_node(P, sizeof(*u))))
        return NULL;
    u->kind = neg ? X_NEG : X_NOT;
    u->type = neg ? (x->type == TQL_T_DYN ? SX_TQL_T_FLOAT : x->type) : SX_TQL_T_BOOL;
    u->x = x;
    return u;
}

static bool at_level(const parser_t *P, int lo, int hi)
{
    return P->t.kind == T_OP && P->t.op >= lo && P->t.op <= hi;
}

/* Arithmetic: operands are numbers (or attributes), the result a float. */
static tql_expr_t *arith(parser_t *P, int lo, int hi, tql_expr_t *(*operand)(parser_t *))
{
    tql_expr_t *x = operand(P), *f = NULL;
    while (x && at_level(P, lo, hi)) {
        int op = P->t.op;
        const char *at = P->t.start;
        next(P);
        tql_expr_t *y = operand(P);
        if (!y)
            return NULL;
        tql_expr_t *l = f ? f : x;
        if ((l->type != TQL_T_DYN && !numeric(l->type)) ||
            (y->type != TQL_T_DYN && !numeric(y->type)))
            return fail(P, at, "%s takes numbers", op_name(op));
        if (!f && !(f = new_fold(P, x, SX_TQL_T_FLOAT)))
            return NULL;
        if (!push(P, f, op, y, NULL))
            return NULL;
    }
    return f ? f : x;
}

static tql_expr_t *mul_expr(parser_t *P)
{
    return arith(P, OP_MUL, OP_MOD, unary);
}

static tql_expr_t *add_expr(parser_t *P)
{
    return arith(P, OP_ADD, OP_SUB, mul_expr);
}

/* Comparisons, left-associative as in Tempo's grammar. */
static tql_expr_t *cmp_expr(parser_t *P)
{
    tql_expr_t *x = add_expr(P), *f = NULL;
    while (x && at_level(P, OP_EQ, OP_NRE)) {
        int op = P->t.op;
        const char *at = P->t.start;
        next(P);
        tql_expr_t *y = add_expr(P);
        if (!y)
            return NULL;
        int lt = f ? SX_TQL_T_BOOL : x->type;
        const char *why = check_compare(P, op, lt, y->type);
        if (why)
            return fail(P, at, "%s", why);
        void *re = NULL;
        if ((op == OP_RE || op == OP_NRE) && !(re = compile_regex(P, y, at)))
            return NULL;
        if (!f && !(f = new_fold(P, x, SX_TQL_T_BOOL)))
            return NULL;
        if (!push(P, f, op, y, re))
            return NULL;
    }
    return f ? f : x;
}

/* && and || share one level in Tempo's grammar: a || b && c is
 * (a || b) && c. Attributes standing alone compare to true. */
static tql_expr_t *field_expr(parser_t *P)
{
    tql_expr_t *x = cmp_expr(P), *f = NULL;
    while (x && at_level(P, OP_AND, OP_OR)) {
        int op = P->t.op;
        const char *at = P->t.start;
        next(P);
        tql_expr_t *y = cmp_expr(P);
        if (!y)
            return NULL;
        tql_expr_t *l = f ? f : x;
        if ((l->type != TQL_T_DYN && l->type != SX_TQL_T_BOOL) ||
            (y->type != TQL_T_DYN && y->type != SX_TQL_T_BOOL))
            return fail(P, at, "%s takes boolean operands", op_name(op));
        if (!f && !(f = new_fold(P, x, SX_TQL_T_BOOL)))
            return NULL;
        if (!push(P, f, op, y, NULL))
            return NULL;
    }
    return f ? f : x;
}

/* ---- Spanset expressions and pipelines ---- */

static tql_set_t *pipeline(parser_t *P);

static tql_set_t *filter(parser_t *P)
{
    const char *at = P->t.start;
    if (!enter(P))
        return NULL;
    next(P);
    tql_set_t *s = new_node(P, sizeof(*s));
    if (!s)
        return NULL;
    s->kind = S_FILTER;
    if (P->t.kind != T_RBRACE) {
        if (!(s->cond = field_expr(P)))
            return NULL;
        if (s->cond->type != SX_TQL_T_BOOL && s->cond->type != TQL_T_DYN)
            return fail(P, at, "a spanset filter must be a boolean expression, not %s",
                        type_name(s->cond->type));
    }
    P->depth--;
    return expect(P, T_RBRACE, "'}' or an operator") ? s : NULL;
}

static tql_set_t *set_primary(parser_t *P)
{
    if (P->t.kind == T_LBRACE)
        return filter(P);
    if (P->t.kind != T_LPAREN)
        return unexpected(P, "'{' or '('");
    if (!enter(P))
        return NULL;
    next(P);
    tql_set_t *s = pipeline(P);
    P->depth--;
    return s && expect(P, T_RPAREN, "')'") ? s : NULL;
}

/* The spanset meaning of an operator token, or -1. */
static int set_op(const parser_t *P, bool logical)
{
    if (P->t.kind != T_OP)
        return -1;
    int op = P->t.op;
    if (logical)
        return op == OP_AND || op == OP_OR ? op : -1;
    switch (op) {
    case OP_GT: return OP_CHILD;
    case OP_LT: return OP_PARENT;
    case OP_NRE: return OP_NOT_SIBL;
    default: return op >= OP_CHILD ? op : -1;
    }
}

static tql_set_t *set_level(parser_t *P, bool logical)
{
    tql_set_t *x = logical ? set_level(P, false) : set_primary(P), *f = NULL;
    int op;
    while (x && (op = set_op(P, logical)) >= 0) {
        next(P);
        tql_set_t *y = logical ? set_level(P, false) : set_primary(P);
        if (!y)
            return NULL;
        if (!f) {
            if (!(f = new_node(P, sizeof(*f))))
                return NULL;
            f->kind = S_FOLD;
            /* Chains are short; a doubling array keeps them linear anyway. */
            f->fold.k = sx_arena_alloc(P->a, 4 * sizeof(*f->fold.k));
            f->fold.op = sx_arena_alloc(P->a, 4);
            if (!f->fold.k || !f->fold.op)
                return fail(P, P->t.start, "query too large", NULL);
            f->fold.k[f->fold.n++] = x;
        }
        size_t n = f->fold.n;
        if ((n & (n - 1)) == 0 && n >= 4) {
            tql_set_t **k = sx_arena_realloc(P->a, f->fold.k, n * sizeof(*k), 2 * n * sizeof(*k));
            uint8_t *o = sx_arena_realloc(P->a, f->fold.op, n, 2 * n);
            if (!k || !o)
                return fail(P, P->t.start, "query too large", NULL);
            f->fold.k = k, f->fold.op = o;
        }
        f->fold.op[n] = (uint8_t)op;
        f->fold.k[f->fold.n++] = y;
    }
    return f ? f : x;
}

/* A numeric literal, with an optional minus. */
static bool number(parser_t *P, sx_tql_value_t *v)
{
    bool neg = P->t.kind == T_OP && P->t.op == OP_SUB;
    if (neg)
        next(P);
    if (P->t.kind != T_VALUE || !numeric(P->t.v.type))
        return unexpected(P, "a number or duration"), false;
    *v = P->t.v;
    if (neg && v->type == SX_TQL_T_FLOAT)
        v->f = -v->f;
    else if (neg && v->i != INT64_MIN)
        v->i = -v->i;
    next(P);
    return true;
}

static int agg_word(const parser_t *P)
{
    static const char *const words[] = {"count", "sum", "avg", "min", "max"};
    for (int k = 0; k < 5; k++)
        if (is_word_tok(P, words[k]))
            return k;
    return -1;
}

/* count() | sum(x) | avg(x) | min(x) | max(x) */
static bool aggregate(parser_t *P, tql_stage_t *st)
{
    if ((st->agg = agg_word(P)) < 0)
        return unexpected(P, "count(), sum(), avg(), min() or max()"), false;
    const char *at = P->t.start;
    next(P);
    if (!expect(P, T_LPAREN, "'('"))
        return false;
    if (st->agg != AGG_COUNT) {
        if (!(st->arg = field_expr(P)))
            return false;
        if (st->arg->type != TQL_T_DYN && !numeric(st->arg->type))
            return fail(P, at, "aggregates take numbers, not %s", type_name(st->arg->type)), false;
    }
    return expect(P, T_RPAREN, "')'");
}

/* agg op number, or number op agg (flipped). */
static bool scalar_filter(parser_t *P, tql_stage_t *st)
{
    static const uint8_t flip[] = {[OP_EQ] = OP_EQ, [OP_NE] = OP_NE, [OP_LT] = OP_GT,
                                   [OP_LE] = OP_GE, [OP_GT] = OP_LT, [OP_GE] = OP_LE};
    st->kind = ST_SCALAR;
    bool lit_first = agg_word(P) < 0;
    if (lit_first && !number(P, &st->v))
        return false;
    if (!lit_first && !aggregate(P, st))
        return false;
    if (!at_level(P, OP_EQ, OP_GE))
        return unexpected(P, "=, !=, <, <=, > or >="), false;
    st->op = P->t.op;
    next(P);
    if (lit_first) {
        st->op = flip[st->op];
        return aggregate(P, st);
    }
    return number(P, &st->v);
}

static bool report_add(sx_arena_t *a, sx_tql_query_t *q, const sx_tql_field_t *f);

/* select(field, ...): the attributes are reported with each span. */
static bool select_stage(parser_t *P)
{
    next(P);
    if (!expect(P, T_LPAREN, "'('"))
        return false;
    do {
        if (P->t.kind != T_FIELD)
            return unexpected(P, "an attribute or intrinsic"), false;
        if (P->t.f.kind == SX_TQL_F_ATTR && !report_add(P->a, P->q, &P->t.f))
            return fail(P, P->t.start, "query too large", NULL), false;
        next(P);
    } while (accept(P, T_COMMA));
    return expect(P, T_RPAREN, "',' or ')'");
}

static bool stage(parser_t *P, tql_stage_t *st)
{
    if (P->t.kind == T_LBRACE || P->t.kind == T_LPAREN) {
        st->kind = ST_SET;
        return (st->set = set_level(P, true)) != NULL;
    }
    if (is_word_tok(P, "select")) {
        st->kind = ST_NOOP;
        return select_stage(P);
    }
    if (is_word_tok(P, "coalesce")) {
        /* One spanset per trace here, so there is nothing to coalesce. */
        st->kind = ST_NOOP;
        next(P);
        return expect(P, T_LPAREN, "'('") && expect(P, T_RPAREN, "')'");
    }
    if (is_word_tok(P, "by"))
        return fail(P, P->t.start, "by() is not supported", NULL), false;
    if (agg_word(P) >= 0 || P->t.kind == T_VALUE || (P->t.kind == T_OP && P->t.op == OP_SUB))
        return scalar_filter(P, st);
    return unexpected(P, "a spanset, an aggregate filter such as count() > 1, or select()"), false;
}

/* stage ( | stage )*; a lone spanset expression is returned as it is. */
static tql_set_t *pipeline(parser_t *P)
{
    tql_stage_t *st = NULL;
    size_t n = 0, cap = 0;
    do {
        if (n == cap) {
            size_t c = cap ? cap * 2 : 4;
            tql_stage_t *v = sx_arena_realloc(P->a, st, cap * sizeof(*v), c * sizeof(*v));
            if (!v)
                return fail(P, P->t.start, "query too large", NULL);
            st = v, cap = c;
        }
        memset(&st[n], 0, sizeof(st[n]));
        if (!stage(P, &st[n]))
            return NULL;
        n++;
    } while (accept(P, T_PIPE));
    if (n == 1 && st[0].kind == ST_SET)
        return st[0].set;
    tql_set_t *s = new_node(P, sizeof(*s));
    if (!s)
        return NULL;
    s->kind = S_PIPELINE;
    s->pipe.st = st;
    s->pipe.n = n;
    return s;
}

/* with (name = value, ...): Tempo's query hints; none changes an answer here. */
static bool hints(parser_t *P)
{
    next(P);
    if (!expect(P, T_LPAREN, "'('"))
        return false;
    do {
        if (P->t.kind != T_WORD)
            return unexpected(P, "a hint name"), false;
        next(P);
        if (!(P->t.kind == T_OP && P->t.op == OP_EQ))
            return unexpected(P, "'='"), false;
        next(P);
        if (P->t.kind != T_VALUE)
            return unexpected(P, "a value"), false;
        next(P);
    } while (accept(P, T_COMMA));
    return expect(P, T_RPAREN, "',' or ')'");
}

static sx_tql_query_t *query_alloc(sx_arena_t *a)
{
    return sx_arena_calloc(a, 1, sizeof(sx_tql_query_t));
}

int sx_tql_parse(sx_arena_t *a, const char *text, sx_tql_query_t **out, sx_err_t *err)
{
    *out = NULL;
    if (strlen(text) > SX_TQL_MAX_QUERY)
        return sx_err_set(err, SX_EPARSE, "query longer than %d bytes", SX_TQL_MAX_QUERY);
    parser_t P = {.a = a, .src = text, .p = text, .err = err};
    if (!(P.q = query_alloc(a)))
        return sx_err_set(err, SX_EPARSE, "query too large");
    next(&P);
    if (P.t.kind == T_EOF) {
        fail(&P, P.t.start, "empty query", NULL);
    } else if ((P.q->root = pipeline(&P))) {
        if (is_word_tok(&P, "with"))
            hints(&P);
        if (!P.failed && P.t.kind != T_EOF)
            unexpected(&P, "'|', '&&', '||', a structural operator or end of query");
    }
    if (P.failed) {
        sx_tql_query_dispose(P.q);
        return SX_EPARSE;
    }
    sx_tql__finish(a, P.q);
    *out = P.q;
    return 0;
}

/* ---- Builders: Tempo tags= and Jaeger search ---- */

static bool report_add(sx_arena_t *a, sx_tql_query_t *q, const sx_tql_field_t *f)
{
    for (size_t i = 0; i < q->nreport; i++)
        if (q->report[i]->scope == f->scope && sx_str_eq(q->report[i]->key, f->key))
            return true;
    if (q->nreport == q->capreport) {
        size_t c = q->capreport ? q->capreport * 2 : 4;
        const sx_tql_field_t **v =
            sx_arena_realloc(a, q->report, q->capreport * sizeof(*v), c * sizeof(*v));
        if (!v)
            return false;
        q->report = v, q->capreport = c;
    }
    sx_tql_field_t *copy = sx_arena_alloc(a, sizeof(*copy));
    if (!copy)
        return false;
    *copy = *f;
    copy->text = false;
    q->report[q->nreport++] = copy;
    return true;
}

bool sx_tql__report_add(sx_arena_t *a, sx_tql_query_t *q, const sx_tql_field_t *f)
{
    return report_add(a, q, f);
}

sx_tql_query_t *sx_tql_query_new(sx_arena_t *a)
{
    sx_tql_query_t *q = query_alloc(a);
    tql_set_t *s = sx_arena_calloc(a, 1, sizeof(*s));
    if (!q || !s)
        return NULL;
    s->kind = S_FILTER;
    q->root = s;
    q->exact = true;
    return q;
}

/* AND "field op value" into the query's only filter. Returns 0, or
 * SX_ELIMIT with the query unchanged when the arena is exhausted. */
static int add_cond(sx_arena_t *a, sx_tql_query_t *q, sx_tql_field_t f, int op, sx_tql_value_t v)
{
    tql_expr_t *fx = sx_arena_calloc(a, 1, sizeof(*fx)), *vx = sx_arena_calloc(a, 1, sizeof(*vx));
    tql_expr_t *cmp = sx_arena_calloc(a, 1, sizeof(*cmp)), *c = q ? q->root->cond : NULL;
    if (!q || !fx || !vx || !cmp || q->root->kind != S_FILTER)
        return SX_ELIMIT;
    *fx = (tql_expr_t){.kind = X_FIELD, .type = field_type(f.kind), .f = f};
    *vx = (tql_expr_t){.kind = X_STATIC, .type = v.type, .v = v};
    *cmp = (tql_expr_t){.kind = X_FOLD, .type = SX_TQL_T_BOOL};
    sx_tql__fold_push(a, cmp, 0, fx, NULL);
    sx_tql__fold_push(a, cmp, op, vx, NULL);
    if (cmp->fold.n != 2)
        return SX_ELIMIT;
    if (!c) {
        if (!(c = sx_arena_calloc(a, 1, sizeof(*c))))
            return SX_ELIMIT;
        *c = (tql_expr_t){.kind = X_FOLD, .type = SX_TQL_T_BOOL};
    }
    size_t n = c->fold.n;
    sx_tql__fold_push(a, c, OP_AND, cmp, NULL);
    if (c->fold.n == n)
        return SX_ELIMIT;
    q->root->cond = c;
    sx_tql__finish(a, q);
    return 0;
}

int sx_tql_add_text(sx_arena_t *a, sx_tql_query_t *q, const char *k, const char *val)
{
    int code;
    size_t vl = strlen(val);
    sx_tql_field_t f = {.kind = SX_TQL_F_ATTR, .scope = SX_TQL_SCOPE_ANY, .key = sx_str(k)};
    sx_tql_value_t v = {.type = SX_TQL_T_STRING, .s = {val, vl}};
    if (strcmp(k, "name") == 0) {
        f = (sx_tql_field_t){.kind = SX_TQL_F_NAME};
    } else if ((strcmp(k, "status") == 0 || strcmp(k, "status.code") == 0 ||
                strcmp(k, "error") == 0) &&
               ((code = sx_tql_name_index(val, vl, sx_tql_status_names, 3)) >= 0 ||
                (k[0] == 'e' && strcmp(val, "true") == 0 && (code = 2)))) {
        f = (sx_tql_field_t){.kind = SX_TQL_F_STATUS};
        v = (sx_tql_value_t){.type = SX_TQL_T_STATUS, .i = code};
    } else if ((strcmp(k, "kind") == 0 || strcmp(k, "span.kind") == 0) &&
               (code = sx_tql_name_index(val, vl, sx_tql_kind_names, 6)) >= 0) {
        f = (sx_tql_field_t){.kind = SX_TQL_F_KIND};
        v = (sx_tql_value_t){.type = SX_TQL_T_KIND, .i = code};
    } else {
        f.text = true;
    }
    return add_cond(a, q, f, OP_EQ, v);
}

int sx_tql_add_duration(sx_arena_t *a, sx_tql_query_t *q, bool ge, int64_t ns)
{
    return add_cond(a, q, (sx_tql_field_t){.kind = SX_TQL_F_DURATION}, ge ? OP_GE : OP_LE,
                    (sx_tql_value_t){.type = SX_TQL_T_DURATION, .i = ns});
}

/* A double-quoted logfmt value (\" \\ \n \t escapes), arena copy. */
static char *tags_quoted(sx_arena_t *a, const char **p)
{
    const char *s = *p + 1, *e = s;
    while (*e && *e != '"')
        e += *e == '\\' && e[1] ? 2 : 1;
    if (!*e)
        return NULL;
    char *r = sx_arena_alloc(a, (size_t)(e - s) + 1);
    if (!r)
        return NULL;
    size_t n = 0;
    for (; s < e; s++) {
        if (*s == '\\' && s + 1 < e)
            s++, r[n++] = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
        else
            r[n++] = *s;
    }
    r[n] = 0;
    *p = e + 1;
    return r;
}

int sx_tql_tags_parse(sx_arena_t *a, sx_tql_query_t *q, const char *s, sx_err_t *err)
{
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return 0;
        const char *k = p;
        while (*p && *p != '=' && *p != ' ' && *p != '\t')
            p++;
        if (*p != '=' || p == k)
            return sx_err_set(err, SX_EPARSE,
                              "invalid tags: expected key=value pairs (logfmt) at col %d",
                              (int)(k - s) + 1);
        char *key = sx_arena_strndup(a, k, (size_t)(p - k)), *val;
        p++;
        if (*p == '"') {
            const char *at = p;
            if (!(val = tags_quoted(a, &p)))
                return sx_err_set(err, SX_EPARSE,
                                  "invalid tags: unterminated quoted value at col %d",
                                  (int)(at - s) + 1);
        } else {
            const char *v = p;
            while (*p && *p != ' ' && *p != '\t')
                p++;
            val = sx_arena_strndup(a, v, (size_t)(p - v));
        }
        if (!key || !val || sx_tql_add_text(a, q, key, val))
            return sx_err_set(err, SX_ELIMIT, "invalid tags: too large");
    }
}

int sx_tql_field_parse(sx_arena_t *a, const char *name, sx_tql_field_t *f)
{
    sx_err_t err;
    sx_err_clear(&err);
    parser_t P = {.a = a, .src = name, .p = name, .err = &err};
    next(&P);
    if (P.failed || P.t.kind != T_FIELD)
        return -1;
    *f = P.t.f;
    next(&P);
    return P.failed || P.t.kind != T_EOF ? -1 : 0;
}

void sx_tql_query_dispose(sx_tql_query_t *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nre; i++)
        sx_matcher_dispose(q->re[i]);
    q->nre = 0;
}
