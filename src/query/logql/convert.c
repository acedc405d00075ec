/* SPDX-License-Identifier: Apache-2.0 */
/* Go's number, duration and byte-size parsers as LogQL's unwrap and label
 * filters use them (see convert.h), and `| decolorize`. The float parser
 * validates Go's literal syntax itself and lets strtod do the (correctly
 * rounded) conversion of the validated text. */
#include "convert.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Go-style quoting for error messages ---- */

/* Write "s" (Go %q-like: printable ASCII as is, the rest escaped) into
 * out (cap bytes, NUL-terminated, truncated). */
static void quote(char *out, size_t cap, sx_str_t s)
{
    size_t w = 0;
    if (cap < 3) {
        if (cap)
            out[0] = '\0';
        return;
    }
    out[w++] = '"';
    for (size_t i = 0; i < s.len && w + 6 < cap; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\') {
            out[w++] = '\\';
            out[w++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[w++] = (char)c;
        } else if (c >= 0x80) {
            out[w++] = (char)c; /* UTF-8 passes through */
        } else {
            w += (size_t)snprintf(out + w, cap - w, "\\x%02x", c);
        }
    }
    out[w++] = '"';
    out[w] = '\0';
}

/* ---- strconv.ParseFloat ---- */

static bool ieq_prefix(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    if (n < l)
        return false;
    for (size_t i = 0; i < l; i++)
        if (tolower((unsigned char)s[i]) != lit[i])
            return false;
    return true;
}

/* Go's underscoreOK: underscores only between digits (a base prefix counts
 * as a digit). */
static bool underscore_ok(const char *s, size_t n)
{
    char saw = '^';
    size_t i = 0;
    if (n >= 1 && (s[0] == '-' || s[0] == '+'))
        s++, n--;
    bool hex = false;
    if (n >= 2 && s[0] == '0') {
        char c = (char)tolower((unsigned char)s[1]);
        if (c == 'b' || c == 'o' || c == 'x') {
            i = 2;
            saw = '0';
            hex = c == 'x';
        }
    }
    for (; i < n; i++) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (hex && tolower((unsigned char)c) >= 'a' && tolower((unsigned char)c) <= 'f')) {
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

/* Validate Go float syntax; *special: 0 none, 1 inf, 2 nan (with *neg). */
static bool float_syntax(const char *s, size_t n, int *special, bool *neg)
{
    size_t i = 0;
    *special = 0;
    *neg = false;
    if (n == 0)
        return false;
    /* Specials: [+-]inf, [+-]infinity, nan. */
    {
        size_t j = 0;
        bool sgn = false;
        if (s[0] == '+' || s[0] == '-') {
            sgn = true;
            *neg = s[0] == '-';
            j = 1;
        }
        if (ieq_prefix(s + j, n - j, "infinity") && n - j == 8) {
            *special = 1;
            return true;
        }
        if (ieq_prefix(s + j, n - j, "inf") && n - j == 3) {
            *special = 1;
            return true;
        }
        if (!sgn && n == 3 && ieq_prefix(s, n, "nan")) {
            *special = 2;
            return true;
        }
    }
    if (s[i] == '+' || s[i] == '-')
        i++;
    bool hex = false;
    if (i + 2 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        hex = true;
        i += 2;
    }
    bool digits = false, dot = false, underscores = false;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '_') {
            underscores = true;
            continue;
        }
        if (c == '.') {
            if (dot)
                return false;
            dot = true;
            continue;
        }
        if ((c >= '0' && c <= '9') || (hex && isxdigit((unsigned char)c))) {
            digits = true;
            continue;
        }
        break;
    }
    if (!digits)
        return false;
    if (i < n && (hex ? (s[i] == 'p' || s[i] == 'P') : (s[i] == 'e' || s[i] == 'E'))) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        bool ed = false;
        for (; i < n; i++) {
            if (s[i] >= '0' && s[i] <= '9')
                ed = true;
            else if (s[i] == '_')
                underscores = true;
            else
                break;
        }
        if (!ed)
            return false;
    } else if (hex) {
        return false; /* hex mantissa needs a 'p' exponent */
    }
    if (i != n)
        return false;
    if (underscores && !underscore_ok(s, n))
        return false;
    return true;
}

int sx_lq_parse_float(sx_str_t s, double *out, sx_err_t *err)
{
    int special;
    bool neg;
    char q[96];
    if (!float_syntax(s.ptr, s.len, &special, &neg)) {
        quote(q, sizeof(q), s);
        return sx_err_set(err, SX_EPARSE, "strconv.ParseFloat: parsing %s: invalid syntax", q);
    }
    if (special == 1) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (special == 2) {
        *out = NAN;
        return 0;
    }
    char small[128];
    char *buf = s.len < sizeof(small) ? small : malloc(s.len + 1);
    if (!buf)
        return sx_err_set(err, SX_ENOMEM, "out of memory");
    size_t w = 0;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != '_')
            buf[w++] = s.ptr[i];
    buf[w] = '\0';
    double v = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    if (isinf(v)) {
        quote(q, sizeof(q), s);
        return sx_err_set(err, SX_EPARSE, "strconv.ParseFloat: parsing %s: value out of range", q);
    }
    *out = v;
    return 0;
}

/* ---- time.ParseDuration ---- */

#define DUR_MAX ((uint64_t)1 << 63)

static int dur_err(sx_err_t *err, sx_str_t orig)
{
    char q[96];
    quote(q, sizeof(q), orig);
    return sx_err_set(err, SX_EPARSE, "time: invalid duration %s", q);
}

static uint64_t unit_ns(const char *u, size_t n)
{
    if (n == 2 && !memcmp(u, "ns", 2))
        return 1;
    if (n == 2 && !memcmp(u, "us", 2))
        return 1000;
    if (n == 3 && !memcmp(u, "\xc2\xb5s", 3)) /* U+00B5 micro sign */
        return 1000;
    if (n == 3 && !memcmp(u, "\xce\xbcs", 3)) /* U+03BC Greek mu */
        return 1000;
    if (n == 2 && !memcmp(u, "ms", 2))
        return 1000000;
    if (n == 1 && u[0] == 's')
        return 1000000000ULL;
    if (n == 1 && u[0] == 'm')
        return 60000000000ULL;
    if (n == 1 && u[0] == 'h')
        return 3600000000000ULL;
    return 0;
}

int sx_lq_parse_duration(sx_str_t orig, int64_t *ns, sx_err_t *err)
{
    const char *s = orig.ptr;
    size_t n = orig.len, i = 0;
    uint64_t d = 0;
    bool neg = false;
    if (n && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (n - i == 1 && s[i] == '0') {
        *ns = 0;
        return 0;
    }
    if (i == n)
        return dur_err(err, orig);
    while (i < n) {
        uint64_t v = 0, f = 0;
        double scale = 1;
        if (!(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
            return dur_err(err, orig);
        size_t st = i;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (v > DUR_MAX / 10)
                return dur_err(err, orig);
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > DUR_MAX)
                return dur_err(err, orig);
        }
        bool pre = i != st, post = false;
        if (i < n && s[i] == '.') {
            i++;
            size_t fs = i;
            bool ovf = false;
            for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
                if (ovf)
                    continue;
                if (f > (DUR_MAX - 1) / 10) {
                    ovf = true;
                    continue;
                }
                uint64_t y = f * 10 + (uint64_t)(s[i] - '0');
                if (y > DUR_MAX) {
                    ovf = true;
                    continue;
                }
                f = y;
                scale *= 10;
            }
            post = i != fs;
        }
        if (!pre && !post)
            return dur_err(err, orig);
        size_t us = i;
        while (i < n && !(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
            i++;
        char q[96], qu[64];
        if (i == us) {
            quote(q, sizeof(q), orig);
            return sx_err_set(err, SX_EPARSE, "time: missing unit in duration %s", q);
        }
        uint64_t unit = unit_ns(s + us, i - us);
        if (!unit) {
            quote(q, sizeof(q), orig);
            quote(qu, sizeof(qu), (sx_str_t){s + us, i - us});
            return sx_err_set(err, SX_EPARSE, "time: unknown unit %s in duration %s", qu, q);
        }
        if (v > DUR_MAX / unit)
            return dur_err(err, orig);
        v *= unit;
        if (f > 0) {
            v += (uint64_t)((double)f * ((double)unit / scale));
            if (v > DUR_MAX)
                return dur_err(err, orig);
        }
        d += v;
        if (d > DUR_MAX)
            return dur_err(err, orig);
    }
    if (neg) {
        *ns = d == DUR_MAX ? INT64_MIN : -(int64_t)d;
        return 0;
    }
    if (d > DUR_MAX - 1)
        return dur_err(err, orig);
    *ns = (int64_t)d;
    return 0;
}

int sx_lq_parse_duration_seconds(sx_str_t s, double *secs, sx_err_t *err)
{
    int64_t d;
    int rc = sx_lq_parse_duration(s, &d, err);
    if (rc)
        return rc;
    int64_t sec = d / 1000000000, nsec = d % 1000000000;
    *secs = (double)sec + (double)nsec / 1e9;
    return 0;
}

/* ---- humanize.ParseBytes ---- */

static const struct {
    const char *name;
    uint64_t mult;
} byte_units[] = {
    {"b", 1},
    {"kib", 1ULL << 10}, {"kb", 1000ULL}, {"mib", 1ULL << 20}, {"mb", 1000000ULL},
    {"gib", 1ULL << 30}, {"gb", 1000000000ULL}, {"tib", 1ULL << 40}, {"tb", 1000000000000ULL},
    {"pib", 1ULL << 50}, {"pb", 1000000000000000ULL}, {"eib", 1ULL << 60},
    {"eb", 1000000000000000000ULL},
    {"", 1},
    {"ki", 1ULL << 10}, {"k", 1000ULL}, {"mi", 1ULL << 20}, {"m", 1000000ULL},
    {"gi", 1ULL << 30}, {"g", 1000000000ULL}, {"ti", 1ULL << 40}, {"t", 1000000000000ULL},
    {"pi", 1ULL << 50}, {"p", 1000000000000000ULL}, {"ei", 1ULL << 60},
    {"e", 1000000000000000000ULL},
};

int sx_lq_parse_bytes(sx_str_t s, uint64_t *out, sx_err_t *err)
{
    size_t last = 0;
    bool comma = false;
    while (last < s.len && ((s.ptr[last] >= '0' && s.ptr[last] <= '9') || s.ptr[last] == '.' ||
                            s.ptr[last] == ',')) {
        if (s.ptr[last] == ',')
            comma = true;
        last++;
    }
    char num[64];
    sx_str_t ns = {s.ptr, last};
    char *big = NULL;
    if (comma) {
        char *o = last < sizeof(num) ? num : (big = malloc(last + 1));
        if (!o)
            return sx_err_set(err, SX_ENOMEM, "out of memory");
        size_t w = 0;
        for (size_t i = 0; i < last; i++)
            if (s.ptr[i] != ',')
                o[w++] = s.ptr[i];
        ns = (sx_str_t){o, w};
    }
    double f;
    int rc = sx_lq_parse_float(ns, &f, err);
    free(big);
    if (rc)
        return rc;
    /* The unit: blank-trimmed, lower-cased. */
    size_t b = last, e = s.len;
    while (b < e && isspace((unsigned char)s.ptr[b]))
        b++;
    while (e > b && isspace((unsigned char)s.ptr[e - 1]))
        e--;
    char unit[80];
    size_t ul = e - b < sizeof(unit) - 1 ? e - b : sizeof(unit) - 1;
    for (size_t i = 0; i < ul; i++)
        unit[i] = (char)tolower((unsigned char)s.ptr[b + i]);
    unit[ul] = '\0';
    if (e - b < 8) {
        for (size_t i = 0; i < sizeof(byte_units) / sizeof(byte_units[0]); i++) {
            if (strcmp(unit, byte_units[i].name) == 0) {
                f *= (double)byte_units[i].mult;
                if (f >= 18446744073709551615.0) {
                    char q[96];
                    snprintf(q, sizeof(q), "%.*s", (int)(s.len < 80 ? s.len : 80), s.ptr);
                    return sx_err_set(err, SX_EPARSE, "too large: %s", q);
                }
                *out = (uint64_t)f;
                return 0;
            }
        }
    }
    return sx_err_set(err, SX_EPARSE, "unhandled size name: %s", unit);
}

int sx_lq_convert(sx_lq_conv_t conv, sx_str_t s, double *out, sx_err_t *err)
{
    if (s.len == 0)
        return sx_err_set(err, SX_EPARSE, "empty value");
    switch (conv) {
    case SX_LQ_CONV_DURATION:
        return sx_lq_parse_duration_seconds(s, out, err);
    case SX_LQ_CONV_BYTES: {
        uint64_t b;
        int rc = sx_lq_parse_bytes(s, &b, err);
        if (!rc)
            *out = (double)b;
        return rc;
    }
    default:
        return sx_lq_parse_float(s, out, err);
    }
}

/* ---- decolorize ---- */

/* The stripansi expression Loki uses, for bytes: Go matches the rune
 * U+009B, which is the pair C2 9B in UTF-8. */
static const char ansi_pattern[] =
    "(?:\\x1b|\\xc2\\x9b)[[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[a-zA-Z\\d]*)*)?\\x07)|"
    "(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PRZcf-ntqry=><~]))";

static pcre2_code *ansi_re;
static pthread_once_t ansi_once = PTHREAD_ONCE_INIT;
static pthread_key_t ansi_md_key;

static void ansi_md_free(void *p)
{
    pcre2_match_data_free(p);
}

static void ansi_init(void)
{
    int ec;
    PCRE2_SIZE eo;
    ansi_re = pcre2_compile((PCRE2_SPTR)ansi_pattern, PCRE2_ZERO_TERMINATED, 0, &ec, &eo, NULL);
    SX_ASSERT(ansi_re != NULL);
    pcre2_jit_compile(ansi_re, PCRE2_JIT_COMPLETE);
    pthread_key_create(&ansi_md_key, ansi_md_free);
}

static pcre2_match_data *ansi_md(void)
{
    pcre2_match_data *md = pthread_getspecific(ansi_md_key);
    if (!md) {
        md = pcre2_match_data_create_from_pattern(ansi_re, NULL);
        SX_ASSERT(md != NULL);
        pthread_setspecific(ansi_md_key, md);
    }
    return md;
}

sx_str_t sx_lq_decolorize(sx_str_t line, sx_buf_t *scratch)
{
    if (line.len == 0)
        return line;
    if (!memchr(line.ptr, 0x1b, line.len) && !memmem(line.ptr, line.len, "\xc2\x9b", 2))
        return line;
    pthread_once(&ansi_once, ansi_init);
    pcre2_match_data *md = ansi_md();
    sx_buf_clear(scratch);
    size_t off = 0, copied = 0;
    bool any = false;
    while (off < line.len) {
        int rc = pcre2_match(ansi_re, (PCRE2_SPTR)line.ptr, line.len, off, 0, md, NULL);
        if (rc < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        sx_buf_append(scratch, line.ptr + copied, s - copied);
        copied = e;
        any = true;
        off = e > s ? e : s + 1;
    }
    if (!any)
        return line;
    sx_buf_append(scratch, line.ptr + copied, line.len - copied);
    sx_buf_reserve(scratch, 0);
    return (sx_str_t){scratch->ptr, scratch->len};
}
