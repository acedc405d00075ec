/* SPDX-License-Identifier: Apache-2.0 */
/* InfluxDB line protocol decoder. A table-driven scanner walks the body
 * once, returning slices into it; only tokens that contain escapes are
 * copied (unescaped) into the request arena. Points then map to series
 * (field f of measurement m -> m_f) through sx_lp_mapper_add, which the
 * DataKit JSON decoder shares. A body is decoded completely or not at all:
 * the first bad line fails the request, and the error names that line. */
#include "line_protocol.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Character classes ---- */

/* Which token each byte may appear in (unescaped), and which escapes it
 * ends. Backslash belongs to no token class: the scanner handles it. The
 * sets follow the reference decoder the conformance corpus was generated
 * with: measurement, tag keys and field keys exclude non-printable bytes;
 * tag values exclude only ',', '=', and white space; numeric and boolean
 * field values run to ',' or white space and are checked afterwards. */
enum {
    C_MEAS = 1 << 0,    /* measurement */
    C_KEY = 1 << 1,     /* tag key, field key */
    C_TVAL = 1 << 2,    /* tag value */
    C_FVAL = 1 << 3,    /* unquoted field value */
    C_COMMENT = 1 << 4, /* comment text */
    E_MEAS = 1 << 5,    /* "\c" is an escape in a measurement */
    E_KEY = 1 << 6,     /* "\c" is an escape in keys and tag values */
    E_STR = 1 << 7,     /* "\c" is an escape in a string field value */
};

#define C_TEXT (C_MEAS | C_KEY | C_TVAL | C_FVAL | C_COMMENT)
#define C_CTRL (C_TVAL | C_FVAL)

/* clang-format off */
static const uint8_t cls[256] = {
    [0x00 ... 0x09] = C_CTRL,
    [0x0a] = 0, /* \n */
    [0x0b ... 0x0c] = C_CTRL,
    [0x0d] = 0, /* \r */
    [0x0e ... 0x1f] = C_CTRL,
    [' '] = C_COMMENT | E_MEAS | E_KEY,
    ['!'] = C_TEXT,
    ['"'] = C_TEXT | E_STR,
    ['#' ... '+'] = C_TEXT,
    [','] = C_COMMENT | E_MEAS | E_KEY,
    ['-' ... '<'] = C_TEXT,
    ['='] = C_MEAS | C_FVAL | C_COMMENT | E_KEY,
    ['>' ... '['] = C_TEXT,
    ['\\'] = C_FVAL | C_COMMENT | E_STR,
    [']' ... 0x7e] = C_TEXT,
    [0x7f] = C_CTRL,
    [0x80 ... 0xff] = C_TEXT,
};
/* clang-format on */

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\r' || c == '\n';
}

/* Scan a token of class `bit` starting at s, where a backslash followed by
 * a byte with `escbit` is an escape pair and any other backslash is an
 * ordinary byte. Sets *esc if an escape pair was seen and ORs every byte
 * into *hi (so hi & 0x80 tells whether UTF-8 must be checked). */
static inline const char *scan(const char *s, const char *end, uint8_t bit, uint8_t escbit,
                               bool *esc, unsigned *hi)
{
    unsigned h = 0;
    for (;;) {
        while (s < end && (cls[(uint8_t)*s] & bit)) {
            h |= (uint8_t)*s;
            s++;
        }
        if (s < end && *s == '\\') {
            if (s + 1 < end && (cls[(uint8_t)s[1]] & escbit)) {
                *esc = true;
                s += 2;
            } else {
                s++;
            }
            continue;
        }
        break;
    }
    *hi |= h;
    return s;
}

/* Copy s[0..n) into the arena without the backslash of each escape pair.
 * Returns a slice with ptr NULL when the arena's limit is reached. */
static sx_str_t unescape(sx_arena_t *a, const char *s, size_t n, uint8_t escbit)
{
    char *o = sx_arena_alloc(a, n ? n : 1);
    if (!o)
        return SX_STR_NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (cls[(uint8_t)s[i + 1]] & escbit))
            i++;
        o[k++] = s[i];
    }
    return (sx_str_t){o, k};
}

/* ---- Error messages ---- */

/* Render up to 48 bytes of s for an error message, with non-printable
 * bytes as \xNN. buf must hold QBUF bytes. */
#define QBUF 200
static const char *quote(char *buf, const char *s, size_t n)
{
    size_t o = 0, lim = n > 48 ? 48 : n;
    for (size_t i = 0; i < lim; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, 8, c == '"' || c == '\\' ? "\\%c" : "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (lim < n) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* Describe the byte at s for "found X" messages. buf holds 16 bytes. */
static const char *describe(char *buf, const char *s, const char *end)
{
    if (s >= end)
        return "end of input";
    unsigned char c = (unsigned char)*s;
    if (c == '\n')
        return "end of line";
    if (c == '\r')
        return "carriage return";
    if (c == ' ')
        return "white space";
    if (c < 0x20 || c >= 0x7f)
        snprintf(buf, 16, "byte 0x%02x", c);
    else
        snprintf(buf, 16, "'%c'", c);
    return buf;
}

/* Fill err with "line L col C: <message>" for position s and return
 * SX_EPARSE. */
static int perr(const sx_lp_parser_t *p, const char *s, sx_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int perr(const sx_lp_parser_t *p, const char *s, sx_err_t *err, const char *fmt, ...)
{
    if (!err)
        return SX_EPARSE;
    char msg[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sx_err_set(err, SX_EPARSE, "line %u col %zu: %s", p->_line, (size_t)(s - p->_bol) + 1,
                      msg);
}

/* ---- Numbers ---- */

enum { NUM_OK = 0, NUM_SYNTAX = -1, NUM_RANGE = -2 };

/* Decimal digits with an optional leading '-' as an int64. */
static int parse_int(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = n > 0 && s[0] == '-';
    i += neg;
    if (i == n)
        return NUM_SYNTAX;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool over = false;
    if (n - i <= 18) {
        /* Up to 18 digits cannot overflow: the common case, unchecked. */
        for (; i < n; i++) {
            if (!is_digit(s[i]))
                return NUM_SYNTAX;
            v = v * 10 + (unsigned)(s[i] - '0');
        }
        *out = neg ? -(int64_t)v : (int64_t)v;
        return NUM_OK;
    }
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return NUM_SYNTAX;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10)
            over = true;
        else
            v = v * 10 + d;
    }
    if (over)
        return NUM_RANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return NUM_OK;
}

static int parse_uint(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return NUM_SYNTAX;
    uint64_t v = 0;
    bool over = false;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return NUM_SYNTAX;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            over = true;
        else
            v = v * 10 + d;
    }
    if (over)
        return NUM_RANGE;
    *out = v;
    return NUM_OK;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A float as the grammar allows: [-] digits [. [digits]] [exp] | [-] . digits
 * [exp], exp = (e|E) [+|-] digits. No inf, nan, hex or underscores. Values
 * that overflow are out of range; values that underflow become 0 or a
 * subnormal. Short decimals are converted exactly without strtod (a
 * mantissa below 2^53 times or divided by an exact power of ten rounds
 * correctly); the rest go through strtod on a NUL-terminated copy. */
static int parse_float(sx_arena_t *a, const char *s, size_t n, double *out)
{
    size_t i = 0;
    bool neg = n > 0 && s[0] == '-';
    i += neg;
    uint64_t mant = 0;
    int nd = 0, exp10 = 0;
    bool digits = false, inexact = false;
    for (; i < n && is_digit(s[i]); i++) {
        digits = true;
        unsigned d = (unsigned)(s[i] - '0');
        if (nd < 19) {
            if (mant || d) {
                mant = mant * 10 + d;
                nd++;
            }
        } else {
            exp10++;
            inexact |= d != 0;
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && is_digit(s[i]); i++) {
            digits = true;
            unsigned d = (unsigned)(s[i] - '0');
            if (nd < 19) {
                if (mant || d) {
                    mant = mant * 10 + d;
                    nd++;
                }
                exp10--;
            } else {
                inexact |= d != 0;
            }
        }
    }
    if (!digits)
        return NUM_SYNTAX;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i == n || !is_digit(s[i]))
            return NUM_SYNTAX;
        int e = 0;
        for (; i < n && is_digit(s[i]); i++)
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
        exp10 += eneg ? -e : e;
    }
    if (i != n)
        return NUM_SYNTAX;
    if (mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return NUM_OK;
    }
    if (!inexact && mant <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
        *out = neg ? -v : v;
        return NUM_OK;
    }
    char stackbuf[128], *buf = stackbuf;
    if (n >= sizeof(stackbuf)) {
        buf = sx_arena_alloc(a, n + 1);
        if (!buf)
            return NUM_RANGE;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    double v = strtod(buf, NULL);
    if (isinf(v))
        return NUM_RANGE;
    *out = v;
    return NUM_OK;
}

static bool parse_bool(const char *s, size_t n, bool *out)
{
    switch (n) {
    case 1:
        if (*s == 't' || *s == 'T' || *s == 'f' || *s == 'F') {
            *out = *s == 't' || *s == 'T';
            return true;
        }
        return false;
    case 4:
        if (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4)) {
            *out = true;
            return true;
        }
        return false;
    case 5:
        if (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5)) {
            *out = false;
            return true;
        }
        return false;
    default:
        return false;
    }
}

bool sx_lp_ts_to_ns(int64_t ts, int64_t precision_ns, int64_t *ns)
{
    return !__builtin_mul_overflow(ts, precision_ns, ns);
}

/* ---- Parser ---- */

void sx_lp_parser_init(sx_lp_parser_t *p, const char *buf, size_t len, sx_arena_t *arena,
                       unsigned flags)
{
    memset(p, 0, sizeof(*p));
    p->_p = buf;
    p->_end = buf + len;
    p->_bol = buf;
    p->_line = 1;
    p->_flags = flags;
    p->_arena = arena;
}

/* Grow a scratch array to hold at least need elements (arena memory; old
 * contents copied). Returns false when the arena's limit is reached. */
static bool grow(sx_arena_t *a, void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    if (need > UINT32_MAX / 2)
        return false;
    uint32_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    void *n = sx_arena_realloc(a, *arr, (size_t)*cap * elem, (size_t)ncap * elem);
    if (!n)
        return false;
    *arr = n;
    *cap = ncap;
    return true;
}

static int oom(sx_err_t *err)
{
    return sx_err_set(err, SX_ENOMEM, "request needs more memory than allowed");
}

/* Turn the scanned bytes [tok, s) into a slice: the body itself when no
 * escape was seen, else an unescaped arena copy. Fails on invalid UTF-8. */
static inline int token(sx_lp_parser_t *p, const char *tok, const char *s, bool esc, unsigned hi,
                        uint8_t escbit, const char *what, sx_str_t *out, sx_err_t *err)
{
    size_t n = (size_t)(s - tok);
    if ((hi & 0x80) && !sx_utf8_valid(tok, n)) {
        char q[QBUF];
        return perr(p, tok, err, "%s \"%s\" is not valid UTF-8", what, quote(q, tok, n));
    }
    if (!esc) {
        *out = (sx_str_t){tok, n};
        return 0;
    }
    *out = unescape(p->_arena, tok, n, escbit);
    return out->ptr ? 0 : oom(err);
}

static int cmp_str(const void *a, const void *b)
{
    return sx_str_cmp(*(const sx_str_t *)a, *(const sx_str_t *)b);
}

/* Report the first tag key given twice, if any. */
static int check_dup_tags(sx_lp_parser_t *p, const sx_lp_tag_t *tags, uint32_t n, sx_err_t *err)
{
    char q[QBUF];
    if (n <= 16) {
        for (uint32_t i = 1; i < n; i++)
            for (uint32_t j = 0; j < i; j++)
                if (sx_str_eq(tags[i].key, tags[j].key))
                    return sx_err_set(err, SX_EPARSE, "line %u: duplicate tag key \"%s\"", p->_line,
                                      quote(q, tags[i].key.ptr, tags[i].key.len));
        return 0;
    }
    if (!grow(p->_arena, (void **)&p->_keys, &p->_keycap, n, sizeof(sx_str_t)))
        return oom(err);
    for (uint32_t i = 0; i < n; i++)
        p->_keys[i] = tags[i].key;
    qsort(p->_keys, n, sizeof(sx_str_t), cmp_str);
    for (uint32_t i = 1; i < n; i++)
        if (sx_str_eq(p->_keys[i], p->_keys[i - 1]))
            return sx_err_set(err, SX_EPARSE, "line %u: duplicate tag key \"%s\"", p->_line,
                              quote(q, p->_keys[i].ptr, p->_keys[i].len));
    return 0;
}

/* True at the end of a line: end of input, "\n", "\r\n", or a "\r" that
 * ends the input. */
static inline bool at_eol(const char *s, const char *end)
{
    return s == end || *s == '\n' || (*s == '\r' && (s + 1 == end || s[1] == '\n'));
}

/* Consume the line ending at s (at_eol must hold). */
static inline const char *take_eol(sx_lp_parser_t *p, const char *s, const char *end)
{
    if (s == end)
        return s;
    if (*s == '\r')
        s++;
    if (s < end) {
        s++;
        p->_line++;
        p->_bol = s;
    }
    return s;
}

/* Skip blank lines, comment lines and leading spaces. Returns the start of
 * the next point, end, or NULL after filling err for a bad comment. */
static const char *skip_empty(sx_lp_parser_t *p, const char *s, const char *end, sx_err_t *err)
{
    for (;;) {
        while (s < end && *s == ' ')
            s++;
        if (s == end)
            return s;
        if (*s == '#') {
            for (s++; s < end && (cls[(uint8_t)*s] & C_COMMENT); s++)
                ;
            if (!at_eol(s, end)) {
                char d[16];
                perr(p, s, err, "comment contains %s", describe(d, s, end));
                return NULL;
            }
            s = take_eol(p, s, end);
            continue;
        }
        if (*s == '\n' || *s == '\r') {
            if (!at_eol(s, end))
                return s; /* a lone \r: the measurement scan reports it */
            s = take_eol(p, s, end);
            continue;
        }
        return s;
    }
}

int sx_lp_parser_next(sx_lp_parser_t *p, sx_lp_point_t *pt, sx_err_t *err)
{
    const char *end = p->_end;
    const char *s = skip_empty(p, p->_p, end, err);
    char q[QBUF], q2[QBUF], d[16];
    int rc;
    if (!s)
        return SX_EPARSE;
    if (s == end) {
        p->_p = s;
        return 0;
    }
    memset(pt, 0, sizeof(*pt));
    pt->line = p->_line;

    /* Measurement. */
    const char *tok = s;
    bool esc = false;
    unsigned hi = 0;
    s = scan(s, end, C_MEAS, E_MEAS, &esc, &hi);
    if (s == tok)
        return perr(p, s, err, "expected measurement name, found %s", describe(d, s, end));
    if ((rc = token(p, tok, s, esc, hi, E_MEAS, "measurement", &pt->measurement, err)) < 0)
        return rc;

    /* Tags. */
    uint32_t ntags = 0;
    while (s < end && *s == ',') {
        s++;
        if (s == end || is_ws(*s))
            return perr(p, s, err, "expected tag key after ',', found %s", describe(d, s, end));
        sx_lp_tag_t tag;
        tok = s;
        esc = false;
        hi = 0;
        s = scan(s, end, C_KEY, E_KEY, &esc, &hi);
        if (s == tok)
            return perr(p, s, err, "expected tag key, found %s", describe(d, s, end));
        if (s == end || *s != '=')
            return perr(p, s, err, "expected '=' after tag key \"%s\", found %s",
                        quote(q, tok, (size_t)(s - tok)), describe(d, s, end));
        if ((rc = token(p, tok, s, esc, hi, E_KEY, "tag key", &tag.key, err)) < 0)
            return rc;
        s++;
        tok = s;
        esc = false;
        hi = 0;
        s = scan(s, end, C_TVAL, E_KEY, &esc, &hi);
        if (s == tok)
            return perr(p, s, err, "expected value for tag key \"%s\", found %s",
                        quote(q, tag.key.ptr, tag.key.len), describe(d, s, end));
        if ((rc = token(p, tok, s, esc, hi, E_KEY, "tag value", &tag.value, err)) < 0)
            return rc;
        if (ntags == p->_tagcap &&
            !grow(p->_arena, (void **)&p->_tags, &p->_tagcap, ntags + 1, sizeof(sx_lp_tag_t)))
            return oom(err);
        p->_tags[ntags++] = tag;
    }
    if (s == end || *s != ' ') {
        if (at_eol(s, end))
            return perr(p, s, err, "point has no fields");
        return perr(p, s, err, "unexpected %s after %s", describe(d, s, end),
                    ntags ? "tag value" : "measurement");
    }
    while (s < end && *s == ' ')
        s++;
    if ((p->_flags & SX_LP_REJECT_DUP_TAGS) && ntags > 1 &&
        (rc = check_dup_tags(p, p->_tags, ntags, err)) < 0)
        return rc;

    /* Fields. */
    uint32_t nfields = 0;
    for (;;) {
        sx_lp_field_t f;
        tok = s;
        esc = false;
        hi = 0;
        s = scan(s, end, C_KEY, E_KEY, &esc, &hi);
        if (s == tok)
            return perr(p, s, err, "expected field key, found %s", describe(d, s, end));
        if (s == end || *s != '=')
            return perr(p, s, err, "expected '=' after field key \"%s\", found %s",
                        quote(q, tok, (size_t)(s - tok)), describe(d, s, end));
        if ((rc = token(p, tok, s, esc, hi, E_KEY, "field key", &f.key, err)) < 0)
            return rc;
        s++;
        if (s == end)
            return perr(p, s, err, "expected value for field key \"%s\", found end of input",
                        quote(q, f.key.ptr, f.key.len));
        char c = *s;
        if (c == '"') {
            const char *open = s++;
            tok = s;
            esc = false;
            hi = 0;
            while (s < end && *s != '"') {
                if (*s == '\\' && s + 1 < end && (s[1] == '\\' || s[1] == '"')) {
                    esc = true;
                    s += 2;
                    continue;
                }
                if (*s == '\n') {
                    p->_line++;
                    p->_bol = s + 1;
                }
                hi |= (uint8_t)*s++;
            }
            if (s == end)
                return perr(p, open, err, "string value for field key \"%s\" has no closing quote",
                            quote(q, f.key.ptr, f.key.len));
            f.kind = SX_LP_STRING;
            if ((rc = token(p, tok, s, esc, hi, E_STR, "string value", &f.v.s, err)) < 0)
                return rc;
            s++;
        } else if (c == 't' || c == 'T' || c == 'f' || c == 'F') {
            tok = s;
            while (s < end && (cls[(uint8_t)*s] & C_FVAL))
                s++;
            f.kind = SX_LP_BOOL;
            if (!parse_bool(tok, (size_t)(s - tok), &f.v.b))
                return perr(p, tok, err, "invalid boolean value \"%s\" for field key \"%s\"",
                            quote(q, tok, (size_t)(s - tok)), quote(q2, f.key.ptr, f.key.len));
        } else if (c == '-' || c == '.' || is_digit(c)) {
            tok = s;
            while (s < end && (cls[(uint8_t)*s] & C_FVAL))
                s++;
            size_t n = (size_t)(s - tok);
            const char *what;
            if (s[-1] == 'i') {
                f.kind = SX_LP_INT;
                rc = parse_int(tok, n - 1, &f.v.i);
                what = "integer";
            } else if (s[-1] == 'u') {
                f.kind = SX_LP_UINT;
                rc = parse_uint(tok, n - 1, &f.v.u);
                what = "unsigned integer";
            } else {
                f.kind = SX_LP_FLOAT;
                rc = parse_float(p->_arena, tok, n, &f.v.f);
                what = "float";
            }
            if (rc == NUM_SYNTAX)
                return perr(p, tok, err, "invalid %s value \"%s\" for field key \"%s\"", what,
                            quote(q, tok, n), quote(q2, f.key.ptr, f.key.len));
            if (rc == NUM_RANGE)
                return perr(p, tok, err, "%s value \"%s\" for field key \"%s\" is out of range",
                            what, quote(q, tok, n), quote(q2, f.key.ptr, f.key.len));
        } else {
            return perr(p, s, err, "invalid value for field key \"%s\": unexpected %s",
                        quote(q, f.key.ptr, f.key.len), describe(d, s, end));
        }
        if (nfields == p->_fieldcap && !grow(p->_arena, (void **)&p->_fields, &p->_fieldcap,
                                             nfields + 1, sizeof(sx_lp_field_t)))
            return oom(err);
        p->_fields[nfields++] = f;
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && !is_ws(*s))
            return perr(p, s, err, "unexpected %s after value of field key \"%s\"",
                        describe(d, s, end), quote(q, f.key.ptr, f.key.len));
        break;
    }

    /* Timestamp. */
    while (s < end && *s == ' ')
        s++;
    if (!at_eol(s, end)) {
        tok = s;
        while (s < end && (*s == '-' || is_digit(*s)))
            s++;
        const char *tsend = s;
        if (s < end && !is_ws(*s)) {
            while (s < end && !is_ws(*s))
                s++;
            return perr(p, tok, err, "invalid timestamp \"%s\"", quote(q, tok, (size_t)(s - tok)));
        }
        while (s < end && *s == ' ')
            s++;
        if (!at_eol(s, end))
            return perr(p, s, err, "unexpected %s after timestamp", describe(d, s, end));
        if (tsend > tok) {
            rc = parse_int(tok, (size_t)(tsend - tok), &pt->ts);
            if (rc == NUM_SYNTAX)
                return perr(p, tok, err, "invalid timestamp \"%s\"",
                            quote(q, tok, (size_t)(tsend - tok)));
            if (rc == NUM_RANGE)
                return perr(p, tok, err, "timestamp \"%s\" is out of range",
                            quote(q, tok, (size_t)(tsend - tok)));
            pt->has_ts = true;
        }
    }
    p->_p = take_eol(p, s, end);
    pt->tags = p->_tags;
    pt->ntags = ntags;
    pt->fields = p->_fields;
    pt->nfields = nfields;
    return 1;
}

/* ---- DataKit constraints ---- */

/* Cut s to at most max bytes without splitting a UTF-8 sequence. */
static sx_str_t truncate_utf8(sx_str_t s, size_t max)
{
    if (s.len <= max)
        return s;
    size_t n = max;
    while (n > 0 && ((uint8_t)s.ptr[n] & 0xC0) == 0x80)
        n--;
    return (sx_str_t){s.ptr, n};
}

typedef struct key_ref {
    sx_str_t key;
    uint32_t idx;
} key_ref_t;

static int cmp_key_ref(const void *a, const void *b)
{
    const key_ref_t *x = a, *y = b;
    int c = sx_str_cmp(x->key, y->key);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Remove elements whose key (an sx_str_t at offset 0) repeats an earlier
 * one, keeping input order. Returns the new count. */
static uint32_t dedupe_keys(void *arr, uint32_t n, size_t elem, sx_arena_t *a)
{
    char *base = arr;
#define KEY_AT(i) (*(const sx_str_t *)(base + (size_t)(i)*elem))
    if (n < 2)
        return n;
    uint32_t out = 0;
    if (n <= 16) {
        for (uint32_t i = 0; i < n; i++) {
            bool dup = false;
            for (uint32_t j = 0; j < out && !dup; j++)
                dup = sx_str_eq(KEY_AT(i), KEY_AT(j));
            if (!dup) {
                if (out != i)
                    memcpy(base + (size_t)out * elem, base + (size_t)i * elem, elem);
                out++;
            }
        }
        return out;
    }
    key_ref_t *refs = sx_arena_alloc(a, (size_t)n * sizeof(*refs));
    uint8_t *drop = sx_arena_calloc(a, n, 1);
    if (!refs || !drop)
        return n; /* no memory for the check: leave the point as it is */
    for (uint32_t i = 0; i < n; i++)
        refs[i] = (key_ref_t){KEY_AT(i), i};
    qsort(refs, n, sizeof(*refs), cmp_key_ref);
    for (uint32_t i = 1; i < n; i++)
        if (sx_str_eq(refs[i].key, refs[i - 1].key))
            drop[refs[i].idx] = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (drop[i])
            continue;
        if (out != i)
            memcpy(base + (size_t)out * elem, base + (size_t)i * elem, elem);
        out++;
    }
    return out;
#undef KEY_AT
}

void sx_lp_point_datakit_fix(sx_lp_point_t *pt, sx_arena_t *arena)
{
    for (uint32_t i = 0; i < pt->ntags; i++) {
        pt->tags[i].key = truncate_utf8(pt->tags[i].key, SX_DK_MAX_KEY_LEN);
        pt->tags[i].value = truncate_utf8(pt->tags[i].value, SX_DK_MAX_TAG_VALUE_LEN);
    }
    for (uint32_t i = 0; i < pt->nfields; i++) {
        sx_lp_field_t *f = &pt->fields[i];
        f->key = truncate_utf8(f->key, SX_DK_MAX_KEY_LEN);
        if (f->kind == SX_LP_STRING)
            f->v.s = truncate_utf8(f->v.s, SX_DK_MAX_FIELD_VALUE_LEN);
    }
    pt->ntags = dedupe_keys(pt->tags, pt->ntags, sizeof(sx_lp_tag_t), arena);
    pt->nfields = dedupe_keys(pt->fields, pt->nfields, sizeof(sx_lp_field_t), arena);

    /* A field named like a tag is dropped. */
    if (pt->ntags && pt->nfields) {
        sx_str_t *keys = NULL;
        if (pt->ntags > 8 && (keys = sx_arena_alloc(arena, pt->ntags * sizeof(sx_str_t)))) {
            for (uint32_t i = 0; i < pt->ntags; i++)
                keys[i] = pt->tags[i].key;
            qsort(keys, pt->ntags, sizeof(sx_str_t), cmp_str);
        }
        uint32_t out = 0;
        for (uint32_t i = 0; i < pt->nfields; i++) {
            bool clash = false;
            if (keys)
                clash =
                    bsearch(&pt->fields[i].key, keys, pt->ntags, sizeof(sx_str_t), cmp_str) != NULL;
            else
                for (uint32_t j = 0; j < pt->ntags && !clash; j++)
                    clash = sx_str_eq(pt->fields[i].key, pt->tags[j].key);
            if (!clash)
                pt->fields[out++] = pt->fields[i];
        }
        pt->nfields = out;
    }

    /* Too many: keep the first ones in key order. */
    if (pt->ntags > SX_DK_MAX_TAGS) {
        qsort(pt->tags, pt->ntags, sizeof(sx_lp_tag_t), cmp_str);
        pt->ntags = SX_DK_MAX_TAGS;
    }
    if (pt->nfields > SX_DK_MAX_FIELDS) {
        qsort(pt->fields, pt->nfields, sizeof(sx_lp_field_t), cmp_str);
        pt->nfields = SX_DK_MAX_FIELDS;
    }
}

/* ---- Point to series ---- */

void sx_lp_mapper_init(sx_lp_mapper_t *m, const sx_lp_opts_t *opts, sx_metric_batch_t *out)
{
    memset(m, 0, sizeof(*m));
    m->opts = opts;
    m->out = out;
}

/* The series name for field idx of pt: "<measurement>_<key>" made a valid
 * metric name, reused from the previous point when it had the same
 * measurement (sx_lp_mapper_add resets the cache when it changes) and the
 * same key at the same index. NULL ptr on OOM. */
static sx_str_t series_name(sx_lp_mapper_t *m, const sx_lp_point_t *pt, uint32_t idx)
{
    sx_arena_t *a = m->out->arena;
    sx_str_t key = pt->fields[idx].key;
    if (idx < m->_nnames && m->_fkeys[idx].len && sx_str_eq(m->_fkeys[idx], key))
        return m->_names[idx];
    size_t n = pt->measurement.len + 1 + key.len;
    char *buf = sx_arena_alloc(a, n);
    if (!buf)
        return SX_STR_NULL;
    memcpy(buf, pt->measurement.ptr, pt->measurement.len);
    buf[pt->measurement.len] = '_';
    memcpy(buf + pt->measurement.len + 1, key.ptr, key.len);
    sx_str_t name = sx_label_name_sanitize(a, (sx_str_t){buf, n}, true);
    uint32_t cap = m->_namecap;
    if (idx >= cap) {
        uint32_t ncap = cap;
        if (!grow(a, (void **)&m->_fkeys, &ncap, idx + 1, sizeof(sx_str_t)) ||
            !grow(a, (void **)&m->_names, &cap, idx + 1, sizeof(sx_str_t)))
            return name;
        m->_namecap = cap;
    }
    for (uint32_t i = m->_nnames; i < idx; i++)
        m->_fkeys[i] = SX_STR_NULL;
    m->_fkeys[idx] = key;
    m->_names[idx] = name;
    if (idx >= m->_nnames)
        m->_nnames = idx + 1;
    return name;
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int sx_lp_mapper_add(sx_lp_mapper_t *m, sx_lp_point_t *pt, sx_err_t *err)
{
    const sx_lp_opts_t *opts = m->opts;
    sx_metric_batch_t *out = m->out;
    sx_arena_t *a = out->arena;
    char q[QBUF];

    if (opts->datakit)
        sx_lp_point_datakit_fix(pt, a);
    uint32_t nnum = 0;
    for (uint32_t i = 0; i < pt->nfields; i++)
        nnum += pt->fields[i].kind != SX_LP_STRING;
    if (nnum == 0)
        return 0;

    int64_t ns = opts->now_ns;
    if (pt->has_ts && !sx_lp_ts_to_ns(pt->ts, opts->precision_ns ? opts->precision_ns : 1, &ns))
        return sx_err_set(err, SX_EPARSE, "timestamp %lld is out of range", (long long)pt->ts);
    int64_t ms = floor_div(ns, 1000000);

    /* The label template: tags, the extra label, and __name__ whose value
     * is filled per field. The placeholder must be non-empty to survive
     * sx_labels_sort. */
    uint32_t n = 0;
    if (!grow(a, (void **)&m->_labels, &m->_labelcap, pt->ntags + 2, sizeof(sx_label_t)))
        return oom(err);
    sx_label_t *L = m->_labels;
    L[n++] = (sx_label_t){SX_STR_LIT("__name__"), SX_STR_LIT("x")};
    bool have_extra = false;
    for (uint32_t i = 0; i < pt->ntags; i++) {
        sx_str_t name = sx_label_name_sanitize(a, pt->tags[i].key, false);
        if (!name.ptr)
            return oom(err);
        if (opts->extra_label.len && sx_str_eq(name, opts->extra_label))
            have_extra = true;
        L[n++] = (sx_label_t){name, pt->tags[i].value};
    }
    if (opts->extra_label.len && opts->extra_value.len && !have_extra)
        L[n++] = (sx_label_t){opts->extra_label, opts->extra_value};
    n = sx_labels_sort(L, n);

    /* Names that collide once sanitized (or a tag called __name__). */
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (k > 0 && sx_str_eq(L[k - 1].name, L[i].name)) {
            if (sx_str_eq_cstr(L[i].name, "__name__"))
                return sx_err_set(err, SX_EBADLABEL, "tag key \"__name__\" is reserved");
            if (!opts->datakit)
                return sx_err_set(err, SX_EBADLABEL, "duplicate tag key \"%s\" (after sanitizing)",
                                  quote(q, L[i].name.ptr, L[i].name.len));
            continue; /* DataKit keeps one: the first, as the sort is stable */
        }
        L[k++] = L[i];
    }
    n = k;
    uint32_t ni = 0;
    while (!sx_str_eq_cstr(L[ni].name, "__name__"))
        ni++;

    /* Every series of the point shares the labels but __name__, and every
     * name is a sanitized metric name, so one validation covers them all. */
    sx_label_t *block = sx_arena_alloc(a, (size_t)nnum * n * sizeof(sx_label_t));
    sx_sample_t *samples = sx_arena_alloc(a, (size_t)nnum * sizeof(sx_sample_t));
    if (!block || !samples)
        return oom(err);
    if (!sx_str_eq(m->_meas, pt->measurement)) {
        m->_meas = pt->measurement;
        m->_nnames = 0;
    }
    uint32_t j = 0;
    for (uint32_t i = 0; i < pt->nfields; i++) {
        const sx_lp_field_t *f = &pt->fields[i];
        double v;
        switch (f->kind) {
        case SX_LP_FLOAT:
            v = f->v.f;
            break;
        case SX_LP_INT:
            v = (double)f->v.i;
            break;
        case SX_LP_UINT:
            v = (double)f->v.u;
            break;
        case SX_LP_BOOL:
            v = f->v.b ? 1.0 : 0.0;
            break;
        default:
            continue;
        }
        sx_str_t name = series_name(m, pt, i);
        if (!name.ptr)
            return oom(err);
        sx_label_t *labels = block + (size_t)j * n;
        memcpy(labels, L, n * sizeof(sx_label_t));
        labels[ni].value = name;
        if (j == 0) {
            int rc = sx_labels_validate(labels, n, err);
            if (rc < 0)
                return rc;
        }
        samples[j] = (sx_sample_t){ms, v};
        j++;
    }
    for (uint32_t i = 0; i < nnum; i++) {
        sx_series_in_t *se = sx_metric_batch_add(out);
        se->labels = block + (size_t)i * n;
        se->nlabels = n;
        se->samples = &samples[i];
        se->nsamples = 1;
    }
    out->nsamples += nnum;
    return 0;
}

/* ---- Decoder ---- */

int sx_line_protocol_decode(const char *buf, size_t len, const sx_lp_opts_t *opts,
                            sx_metric_batch_t *out, sx_err_t *err)
{
    size_t nseries0 = out->nseries, nsamples0 = out->nsamples;
    sx_lp_parser_t p;
    sx_lp_mapper_t m;
    sx_lp_point_t pt;
    int rc;
    sx_lp_parser_init(&p, buf, len, out->arena, opts->datakit ? 0 : SX_LP_REJECT_DUP_TAGS);
    sx_lp_mapper_init(&m, opts, out);
    while ((rc = sx_lp_parser_next(&p, &pt, err)) == 1) {
        rc = sx_lp_mapper_add(&m, &pt, err);
        if (rc < 0) {
            sx_err_wrap(err, "line %u: ", pt.line);
            break;
        }
    }
    if (rc < 0) {
        out->nseries = nseries0;
        out->nsamples = nsamples0;
        return rc;
    }
    return 0;
}

int sx_lp_precision_parse(sx_str_t s, int64_t *mult, sx_err_t *err)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {
        {"", 1},
        {"n", 1},
        {"ns", 1},
        {"u", 1000},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* µs */
        {"ms", 1000000},
        {"s", 1000000000},
        {"m", 60000000000LL},
        {"h", 3600000000000LL},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (sx_str_eq_cstr(s, units[i].name)) {
            *mult = units[i].ns;
            return 0;
        }
    }
    char q[QBUF];
    return sx_err_set(err, SX_EINVAL,
                      "invalid precision \"%s\": want one of n, ns, u, us, ms, s, m, h",
                      quote(q, s.ptr ? s.ptr : "", s.len));
}
