/* SPDX-License-Identifier: Apache-2.0 */
/* Conformance runner for the PromQL engine: replays Prometheus 3.5's
 * promqltest files (../shared/conformance/promql, read in place) against
 * sx_promql_* the way Prometheus' runner (promql/promqltest/test.go) does.
 * `load` appends to a fresh store per file (`clear` starts another), every
 * `eval` is run and compared, and every instant eval is also re-run as a
 * range query from t-1m to t+1m step 1m and with `@ t` added to every
 * selector outside subqueries, evaluated at other times. Each eval and
 * each of those two variants is one case.
 *
 * Each file runs in a child process, so that an engine crash (or an eval
 * stuck for two minutes) costs the cases it was running and not the whole
 * run: the parent counts what the child reports and restarts it after the
 * eval that died. SX_CONF_NOFORK=1 runs in-process (for debuggers).
 *
 * Usage: conf_promql <conformance dir> [threshold file] [file.test ...] [-v]
 * Prints `promql <file>: <passed>/<total>` per file and a total line; -v
 * (or SX_CONF_VERBOSE=1) adds a line per failing case. Exits non-zero when
 * the total passed is below the threshold (the file's first number; the
 * path defaults to $SX_SOURCE_DIR/tests/conformance/promql_threshold.txt).
 * With test files named, only those run and the threshold is not checked. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"
#include "model/metric.h"
#include "query/promql/hist.h"
#include "query/promql/promql.h"
/* The @-variant rewrites the parsed syntax tree (as test.go does with
 * parser.Inspect); only the tree's shape is used from here. */
#include "query/promql/promql_int.h"
#include "storage/storage.h"

#define EPSILON 1e-6
#define MAX_SHOWN 400 /* characters of a result shown in a failure */
#define EVAL_ALARM_S 120

/* ---- Small helpers ---- */

static bool verbose;

static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    sx_buf_t b = SX_BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        sx_buf_append(&b, tmp, n);
    fclose(f);
    sx_buf_putc(&b, '\0');
    *len = b.len - 1;
    return b.ptr;
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static bool is_ident_start(int c)
{
    return isalpha(c) || c == '_' || c == ':';
}

static bool is_ident_char(int c)
{
    return isalnum(c) || c == '_' || c == ':';
}

/* Prometheus' model.ParseDuration: one or more <int><unit> with units
 * y w d h m s ms, in decreasing order, or "0". Returns false on error. */
static bool parse_duration(const char *s, size_t len, int64_t *out)
{
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"y", 365LL * 86400000},
                 {"w", 7LL * 86400000},
                 {"d", 86400000},
                 {"h", 3600000},
                 {"ms", 1},
                 {"m", 60000},
                 {"s", 1000}};
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    if (len == 0)
        return false;
    int64_t total = 0;
    size_t i = 0;
    while (i < len) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        int64_t n = 0;
        while (i < len && isdigit((unsigned char)s[i])) {
            if (n > INT64_MAX / 10 - 10)
                return false;
            n = n * 10 + (s[i++] - '0');
        }
        size_t k;
        for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
            size_t ul = strlen(units[k].u);
            if (i + ul <= len && !memcmp(s + i, units[k].u, ul) &&
                !(ul == 1 && units[k].u[0] == 'm' && i + 1 < len && s[i + 1] == 's'))
                break;
        }
        if (k == sizeof(units) / sizeof(units[0]))
            return false;
        i += strlen(units[k].u);
        total += n * units[k].ms;
    }
    *out = total;
    return true;
}

static bool parse_duration_z(const char *s, int64_t *out)
{
    return parse_duration(s, strlen(s), out);
}

/* Go's strconv.Unquote for "...", '...' and `...` into the arena (NUL
 * terminated; *len may be shorter than strlen when \x00 occurs). Returns
 * false on a malformed literal. */
static bool go_unquote(sx_arena_t *a, const char *s, size_t n, char **out, size_t *outlen)
{
    if (n < 2 || s[0] != s[n - 1] || (s[0] != '"' && s[0] != '\'' && s[0] != '`'))
        return false;
    char q = s[0];
    char *o = sx_arena_alloc(a, n + 1);
    size_t k = 0;
    if (q == '`') {
        for (size_t i = 1; i < n - 1; i++) {
            if (s[i] == '`')
                return false;
            if (s[i] != '\r')
                o[k++] = s[i];
        }
        o[k] = '\0';
        *out = o;
        *outlen = k;
        return true;
    }
    for (size_t i = 1; i < n - 1; i++) {
        char c = s[i];
        if (c == q || c == '\n')
            return false;
        if (c != '\\') {
            o[k++] = c;
            continue;
        }
        if (++i >= n - 1)
            return false;
        c = s[i];
        switch (c) {
        case 'a':
            o[k++] = '\a';
            break;
        case 'b':
            o[k++] = '\b';
            break;
        case 'f':
            o[k++] = '\f';
            break;
        case 'n':
            o[k++] = '\n';
            break;
        case 'r':
            o[k++] = '\r';
            break;
        case 't':
            o[k++] = '\t';
            break;
        case 'v':
            o[k++] = '\v';
            break;
        case '\\':
            o[k++] = '\\';
            break;
        case '\'':
        case '"':
            if (c != q)
                return false;
            o[k++] = c;
            break;
        case 'x':
        case 'u':
        case 'U': {
            int nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            if (i + nd > n - 2)
                return false;
            uint32_t v = 0;
            for (int d = 0; d < nd; d++) {
                char h = s[++i];
                if (!isxdigit((unsigned char)h))
                    return false;
                v = v * 16 +
                    (uint32_t)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
            }
            if (c == 'x') {
                o[k++] = (char)v;
                break;
            }
            if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000))
                return false;
            if (v < 0x80) {
                o[k++] = (char)v;
            } else if (v < 0x800) {
                o[k++] = (char)(0xc0 | v >> 6);
                o[k++] = (char)(0x80 | (v & 0x3f));
            } else if (v < 0x10000) {
                o[k++] = (char)(0xe0 | v >> 12);
                o[k++] = (char)(0x80 | ((v >> 6) & 0x3f));
                o[k++] = (char)(0x80 | (v & 0x3f));
            } else {
                o[k++] = (char)(0xf0 | v >> 18);
                o[k++] = (char)(0x80 | ((v >> 12) & 0x3f));
                o[k++] = (char)(0x80 | ((v >> 6) & 0x3f));
                o[k++] = (char)(0x80 | (v & 0x3f));
            }
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                if (i + 2 > n - 2)
                    return false;
                int v = 0;
                for (int d = 0; d < 3; d++, i++) {
                    if (s[i] < '0' || s[i] > '7')
                        return false;
                    v = v * 8 + (s[i] - '0');
                }
                i--;
                if (v > 255)
                    return false;
                o[k++] = (char)v;
                break;
            }
            return false;
        }
    }
    o[k] = '\0';
    *out = o;
    *outlen = k;
    return true;
}

/* util/almost.Equal with Prometheus' test epsilon. */
static bool almost_equal(double a, double b)
{
    if (isnan(a) && isnan(b))
        return true;
    if (a == b)
        return true;
    const double min_normal = 2.2250738585072014e-308;
    double abs_sum = fabs(a) + fabs(b);
    double diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal)
        return diff < EPSILON * min_normal;
    return diff / fmin(abs_sum, 1.7976931348623157e308) < EPSILON;
}

/* ---- Numbers and sequence values ---- */

typedef struct seqval {
    bool omitted;
    double v;
    sx_promql_hist_t *h; /* a histogram value, or NULL */
} seqval_t;

typedef struct seqlist {
    seqval_t *v;
    size_t n, cap;
} seqlist_t;

static void seq_push(sx_arena_t *a, seqlist_t *l, seqval_t v)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        l->v = sx_arena_realloc(a, l->v, l->cap * sizeof(seqval_t), nc * sizeof(seqval_t));
        l->cap = nc;
    }
    l->v[l->n++] = v;
}

/* Read a number of a series description at *p (optionally signed when
 * signed_ok): decimal with fraction and exponent, Inf or NaN in any case.
 * Hex is not allowed there (the lexer reads 0x10 as 0 times 10). Integer
 * literals convert as Go's strconv.ParseInt(s, 0, 64) would (so a leading
 * 0 means octal), the rest as ParseFloat. Advances *p. */
static bool scan_number(const char **p, bool signed_ok, double *out)
{
    const char *s = *p;
    bool neg = false;
    if (signed_ok && (*s == '+' || *s == '-')) {
        neg = *s == '-';
        s++;
    }
    const char *start = s;
    double v;
    if (!strncasecmp(s, "inf", 3) && !is_ident_char((unsigned char)s[3])) {
        v = INFINITY;
        s += 3;
    } else if (!strncasecmp(s, "nan", 3) && !is_ident_char((unsigned char)s[3])) {
        v = NAN;
        s += 3;
    } else {
        bool digits = false, integer = true;
        while (isdigit((unsigned char)*s)) {
            s++;
            digits = true;
        }
        if (*s == '.') {
            integer = false;
            s++;
            while (isdigit((unsigned char)*s)) {
                s++;
                digits = true;
            }
        }
        if (!digits)
            return false;
        if ((*s == 'e' || *s == 'E') &&
            (isdigit((unsigned char)s[1]) ||
             ((s[1] == '+' || s[1] == '-') && isdigit((unsigned char)s[2])))) {
            integer = false;
            s += 2;
            while (isdigit((unsigned char)*s))
                s++;
        }
        char tmp[400];
        size_t n = (size_t)(s - start);
        if (n >= sizeof(tmp))
            return false;
        memcpy(tmp, start, n);
        tmp[n] = '\0';
        v = 0;
        bool done = false;
        if (integer) {
            char *e;
            errno = 0;
            long long ll = strtoll(tmp, &e, 0);
            if (!errno && *e == '\0') {
                v = (double)ll;
                done = true;
            }
        }
        if (!done)
            v = strtod(tmp, NULL);
    }
    *out = neg ? -v : v;
    *p = s;
    return true;
}

/* parseNumber of test.go: the whole (trimmed) line is one number, as
 * strconv.ParseInt(s, 0, 64) or ParseFloat accept it. */
static bool parse_number_line(const char *s, double *out)
{
    size_t n = strlen(s);
    if (!n || n > 300)
        return false;
    char *e;
    errno = 0;
    long long ll = strtoll(s, &e, 0);
    if (!errno && *e == '\0' && !isspace((unsigned char)s[0])) {
        *out = (double)ll;
        return true;
    }
    /* ParseFloat: decimal, hex float, inf/infinity/nan with optional sign. */
    const char *t = s;
    if (*t == '+' || *t == '-')
        t++;
    if (!strcasecmp(t, "inf") || !strcasecmp(t, "infinity")) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (!strcasecmp(t, "nan")) {
        *out = NAN;
        return true;
    }
    if (!isdigit((unsigned char)*t) && *t != '.')
        return false;
    errno = 0;
    double d = strtod(s, &e);
    if (*e != '\0')
        return false;
    *out = d;
    return true;
}

static bool scan_uint(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return false;
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        if (v > UINT64_MAX / 10 - 10)
            return false;
        v = v * 10 + (uint64_t)(*s++ - '0');
    }
    *p = s;
    *out = v;
    return true;
}

/* ---- Native histogram literals ---- */

/* One bucket by absolute index, for building and comparing layouts. */
typedef struct bkt {
    int32_t idx;
    double c;
} bkt_t;

static int cmp_bkt(const void *a, const void *b)
{
    const bkt_t *x = a, *y = b;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The buckets of one side by absolute index, reduced by shift schema
 * steps (Prometheus' targetIdx), in layout order. Returns the count. */
static size_t expand_side(const sx_promql_span_t *sp, uint32_t ns, const double *b, uint32_t nb,
                          int shift, bkt_t *out)
{
    int64_t idx = 0;
    size_t k = 0, bi = 0;
    for (uint32_t i = 0; i < ns; i++) {
        idx += sp[i].offset;
        for (uint32_t j = 0; j < sp[i].len && bi < nb; j++, idx++) {
            int32_t x = (int32_t)idx;
            if (shift > 0)
                x = ((x - 1) >> shift) + 1;
            out[k++] = (bkt_t){x, b[bi++]};
        }
    }
    return k;
}

/* Lay out sorted buckets (duplicates merged by the caller) as spans. */
static void layout_side(sx_arena_t *a, const bkt_t *bk, size_t n, sx_promql_span_t **spans,
                        uint32_t *nspans, double **vals, uint32_t *nvals)
{
    *spans = n ? sx_arena_alloc(a, n * sizeof(sx_promql_span_t)) : NULL;
    *vals = n ? sx_arena_alloc(a, n * sizeof(double)) : NULL;
    uint32_t ns = 0;
    int64_t next = 0; /* index after the previous span */
    for (size_t i = 0; i < n; i++) {
        if (ns == 0 || bk[i].idx != next) {
            (*spans)[ns++] = (sx_promql_span_t){(int32_t)(bk[i].idx - next), 0};
        }
        (*spans)[ns - 1].len++;
        (*vals)[i] = bk[i].c;
        next = (int64_t)bk[i].idx + 1;
    }
    *nspans = ns;
    *nvals = (uint32_t)n;
}

/* The non-empty buckets of one side (Compact(0)), by absolute index. */
static size_t compact_side(sx_arena_t *a, const sx_promql_span_t *sp, uint32_t ns, const double *b,
                           uint32_t nb, bkt_t **out)
{
    bkt_t *all = sx_arena_alloc(a, (nb ? nb : 1) * sizeof(bkt_t));
    size_t n = expand_side(sp, ns, b, nb, 0, all), k = 0;
    for (size_t i = 0; i < n; i++)
        if (all[i].c != 0)
            all[k++] = all[i];
    *out = all;
    return k;
}

/* a + sign*b as FloatHistogram.Add/Sub would give it for the loader's
 * `a+bxN` expansion: b is reduced to a's (lower or equal) schema. Returns
 * NULL with *why set when Prometheus would refuse. */
static sx_promql_hist_t *hist_combine(sx_arena_t *a, const sx_promql_hist_t *x,
                                      const sx_promql_hist_t *y, int sign, const char **why)
{
    bool cx = x->schema == -53, cy = y->schema == -53;
    if (cx != cy) {
        *why = "cannot combine exponential and custom bucket histograms";
        return NULL;
    }
    if (cx && (x->ncustom != y->ncustom || (x->ncustom && memcmp(x->custom_values, y->custom_values,
                                                                 x->ncustom * sizeof(double))))) {
        *why = "custom bucket bounds do not match";
        return NULL;
    }
    if (x->schema > y->schema) {
        *why = "cannot merge to a higher schema";
        return NULL;
    }
    int shift = cx ? 0 : y->schema - x->schema;
    sx_promql_hist_t *h = sx_arena_calloc(a, 1, sizeof(*h));
    *h = *x;
    h->count = x->count + sign * y->count;
    h->sum = x->sum + sign * y->sum;
    h->zero_count = x->zero_count + sign * y->zero_count;
    if (y->zero_threshold > h->zero_threshold)
        h->zero_threshold = y->zero_threshold;
    uint8_t hx = x->counter_reset_hint, hy = y->counter_reset_hint;
    if (hx == hy || hx == 3)
        h->counter_reset_hint = hx;
    else if (hy == 3)
        h->counter_reset_hint = 3;
    else
        h->counter_reset_hint = 0;
    for (int side = 0; side < 2; side++) {
        const sx_promql_span_t *xs = side ? x->neg_spans : x->pos_spans;
        const sx_promql_span_t *ys = side ? y->neg_spans : y->pos_spans;
        uint32_t xns = side ? x->nneg_spans : x->npos_spans;
        uint32_t yns = side ? y->nneg_spans : y->npos_spans;
        const double *xb = side ? x->neg : x->pos, *yb = side ? y->neg : y->pos;
        uint32_t xn = side ? x->nneg : x->npos, yn = side ? y->nneg : y->npos;
        bkt_t *bk = sx_arena_alloc(a, (xn + yn + 1) * sizeof(bkt_t));
        size_t n = expand_side(xs, xns, xb, xn, 0, bk);
        size_t m = expand_side(ys, yns, yb, yn, shift, bk + n);
        for (size_t i = n; i < n + m; i++)
            bk[i].c *= sign;
        qsort(bk, n + m, sizeof(bkt_t), cmp_bkt);
        size_t k = 0;
        for (size_t i = 0; i < n + m; i++) {
            if (k && bk[k - 1].idx == bk[i].idx)
                bk[k - 1].c += bk[i].c;
            else
                bk[k++] = bk[i];
        }
        if (side)
            layout_side(a, bk, k, &h->neg_spans, &h->nneg_spans, &h->neg, &h->nneg);
        else
            layout_side(a, bk, k, &h->pos_spans, &h->npos_spans, &h->pos, &h->npos);
    }
    return h;
}

static bool scan_bucket_list(sx_arena_t *a, const char **p, double **out, uint32_t *n)
{
    const char *s = skip_ws(*p);
    if (*s != '[')
        return false;
    s++;
    size_t cap = 8;
    double *v = sx_arena_alloc(a, cap * sizeof(double));
    uint32_t k = 0;
    for (;;) {
        s = skip_ws(s);
        if (*s == ']') {
            s++;
            break;
        }
        double d;
        if (!scan_number(&s, true, &d))
            return false;
        if (k == cap) {
            v = sx_arena_realloc(a, v, cap * sizeof(double), cap * 2 * sizeof(double));
            cap *= 2;
        }
        v[k++] = d;
    }
    *out = v;
    *n = k;
    *p = s;
    return true;
}

/* Parse a {{...}} literal at *p as the series description parser's
 * buildHistogramFromMap does: one span per side from buckets/offset. */
static const char *parse_hist(sx_arena_t *a, const char **p, sx_promql_hist_t **out)
{
    const char *s = *p + 2;
    sx_promql_hist_t *h = sx_arena_calloc(a, 1, sizeof(*h));
    double *b = NULL, *nb = NULL;
    uint32_t nbk = 0, nnbk = 0;
    double off = 0, noff = 0;
    for (;;) {
        s = skip_ws(s);
        if (s[0] == '}' && s[1] == '}') {
            s += 2;
            break;
        }
        const char *k = s;
        while (islower((unsigned char)*s) || *s == '_')
            s++;
        size_t kl = (size_t)(s - k);
        s = skip_ws(s);
        if (!kl || *s != ':')
            return "histogram literal: expected key:value";
        s = skip_ws(s + 1);
#define KEY(lit) (kl == sizeof(lit) - 1 && !memcmp(k, lit, kl))
        double d;
        if (KEY("buckets") || KEY("n_buckets") || KEY("custom_values")) {
            double *v;
            uint32_t n;
            if (!scan_bucket_list(a, &s, &v, &n))
                return "histogram literal: bad bucket list";
            if (KEY("buckets")) {
                b = v;
                nbk = n;
            } else if (KEY("n_buckets")) {
                nb = v;
                nnbk = n;
            } else {
                h->custom_values = v;
                h->ncustom = n;
            }
        } else if (KEY("counter_reset_hint")) {
            const char *w = s;
            while (islower((unsigned char)*s) || *s == '_')
                s++;
            size_t wl = (size_t)(s - w);
            if (wl == 7 && !memcmp(w, "unknown", 7))
                h->counter_reset_hint = 0;
            else if (wl == 5 && !memcmp(w, "reset", 5))
                h->counter_reset_hint = 1;
            else if (wl == 9 && !memcmp(w, "not_reset", 9))
                h->counter_reset_hint = 2;
            else if (wl == 5 && !memcmp(w, "gauge", 5))
                h->counter_reset_hint = 3;
            else
                return "histogram literal: bad counter_reset_hint";
        } else if (scan_number(&s, true, &d)) {
            if (KEY("schema"))
                h->schema = (int32_t)d;
            else if (KEY("sum"))
                h->sum = d;
            else if (KEY("count"))
                h->count = d;
            else if (KEY("z_bucket"))
                h->zero_count = d;
            else if (KEY("z_bucket_w"))
                h->zero_threshold = d;
            else if (KEY("offset"))
                off = d;
            else if (KEY("n_offset"))
                noff = d;
            else
                return "histogram literal: unknown key";
        } else {
            return "histogram literal: bad value";
        }
#undef KEY
    }
    if (nbk) {
        h->pos_spans = sx_arena_alloc(a, sizeof(sx_promql_span_t));
        h->pos_spans[0] = (sx_promql_span_t){(int32_t)off, nbk};
        h->npos_spans = 1;
        h->pos = b;
        h->npos = nbk;
    }
    if (nnbk) {
        h->neg_spans = sx_arena_alloc(a, sizeof(sx_promql_span_t));
        h->neg_spans[0] = (sx_promql_span_t){(int32_t)noff, nnbk};
        h->nneg_spans = 1;
        h->neg = nb;
        h->nneg = nnbk;
    }
    *out = h;
    *p = s;
    return NULL;
}

/* ---- Series descriptions: metric{labels} values... ---- */

typedef struct series_def {
    sx_label_t *labels; /* sorted by name, empty values dropped */
    uint32_t nlabels;
    seqlist_t vals;
} series_def_t;

/* The end of the quoted literal starting at s (past the closing quote). */
static const char *quoted_end(const char *s)
{
    char q = *s++;
    while (*s && *s != q) {
        if (q != '`' && *s == '\\' && s[1])
            s++;
        s++;
    }
    return *s == q ? s + 1 : NULL;
}

static bool read_quoted(sx_arena_t *a, const char **p, sx_str_t *out)
{
    const char *s = *p, *e = quoted_end(s);
    char *v;
    size_t n;
    if (!e || !go_unquote(a, s, (size_t)(e - s), &v, &n))
        return false;
    *out = (sx_str_t){v, n};
    *p = e;
    return true;
}

static int cmp_label(const void *a, const void *b)
{
    return sx_str_cmp(((const sx_label_t *)a)->name, ((const sx_label_t *)b)->name);
}

/* Labels at *p: `name`, `name{a="b",...}`, `{...}` with quoted names
 * allowed. Returns NULL or a reason. */
static const char *parse_labels(sx_arena_t *a, const char **p, sx_label_t **out, uint32_t *n)
{
    const char *s = *p;
    size_t cap = 8;
    sx_label_t *l = sx_arena_alloc(a, cap * sizeof(sx_label_t));
    uint32_t k = 0;
    if (is_ident_start((unsigned char)*s)) {
        const char *st = s;
        while (is_ident_char((unsigned char)*s))
            s++;
        l[k++] = (sx_label_t){SX_STR_LIT("__name__"),
                              sx_arena_strdup_str(a, (sx_str_t){st, (size_t)(s - st)})};
    }
    if (*s == '{') {
        s++;
        for (;;) {
            s = skip_ws(s);
            if (*s == '}') {
                s++;
                break;
            }
            sx_str_t name, value;
            bool quoted_name = false;
            if (*s == '"' || *s == '\'' || *s == '`') {
                if (!read_quoted(a, &s, &name))
                    return "bad quoted label name";
                quoted_name = true;
            } else if (is_ident_start((unsigned char)*s) && *s != ':') {
                const char *st = s;
                while (isalnum((unsigned char)*s) || *s == '_')
                    s++;
                name = sx_arena_strdup_str(a, (sx_str_t){st, (size_t)(s - st)});
            } else {
                return "expected a label name";
            }
            s = skip_ws(s);
            if (quoted_name && (*s == ',' || *s == '}')) {
                value = name; /* {"metric.name", ...} */
                name = SX_STR_LIT("__name__");
            } else {
                if (*s != '=')
                    return "expected '=' after a label name";
                s = skip_ws(s + 1);
                if (!read_quoted(a, &s, &value))
                    return "bad label value";
            }
            if (k == cap) {
                l = sx_arena_realloc(a, l, cap * sizeof(sx_label_t), cap * 2 * sizeof(sx_label_t));
                cap *= 2;
            }
            l[k++] = (sx_label_t){name, value};
            s = skip_ws(s);
            if (*s == ',')
                s++;
            else if (*s != '}')
                return "expected ',' or '}' in labels";
        }
    }
    if (s == *p)
        return "expected a metric name or labels";
    /* Sort by name, then drop empty values (absent in PromQL's model). */
    qsort(l, k, sizeof(sx_label_t), cmp_label);
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; i++)
        if (l[i].value.len)
            l[m++] = l[i];
    *out = l;
    *n = m;
    *p = s;
    return NULL;
}

static bool end_of_item(const char *s)
{
    return *s == '\0' || *s == ' ' || *s == '\t';
}

/* One item of a value sequence at *p, appended to l. */
static const char *parse_item(sx_arena_t *a, const char **p, seqlist_t *l)
{
    const char *s = *p;
    uint64_t n;
    if (*s == '_') {
        s++;
        if (*s == 'x') {
            s++;
            if (!scan_uint(&s, &n))
                return "bad _xN";
        } else {
            n = 1;
        }
        if (n > 1000000)
            return "too many values";
        for (uint64_t i = 0; i < n; i++)
            seq_push(a, l, (seqval_t){.omitted = true});
    } else if (s[0] == '{' && s[1] == '{') {
        sx_promql_hist_t *h, *inc;
        const char *why = parse_hist(a, &s, &h);
        if (why)
            return why;
        if (*s == 'x') {
            s++;
            if (!scan_uint(&s, &n) || n > 1000000)
                return "bad histogram xN";
            for (uint64_t i = 0; i <= n; i++)
                seq_push(a, l, (seqval_t){.h = h});
        } else if ((*s == '+' || *s == '-') && s[1] == '{' && s[2] == '{') {
            int sign = *s == '+' ? 1 : -1;
            s++;
            if ((why = parse_hist(a, &s, &inc)))
                return why;
            if (*s != 'x')
                return "expected xN after a histogram increment";
            s++;
            if (!scan_uint(&s, &n) || n > 1000000)
                return "bad histogram xN";
            seq_push(a, l, (seqval_t){.h = h});
            sx_promql_hist_t *cur = h;
            for (uint64_t i = 1; i <= n; i++) {
                if (!(cur = hist_combine(a, cur, inc, sign, &why)))
                    return why;
                seq_push(a, l, (seqval_t){.h = cur});
            }
        } else {
            seq_push(a, l, (seqval_t){.h = h});
        }
    } else if (!strncmp(s, "stale", 5) && end_of_item(s + 5)) {
        s += 5;
        seq_push(a, l, (seqval_t){.v = sx_stale_nan()});
    } else {
        double v, d;
        if (!scan_number(&s, true, &v))
            return "bad value";
        if (*s == 'x') {
            s++;
            if (!scan_uint(&s, &n) || n > 1000000)
                return "bad xN";
            for (uint64_t i = 0; i <= n; i++)
                seq_push(a, l, (seqval_t){.v = v});
        } else if (*s == '+' || *s == '-') {
            if (!scan_number(&s, true, &d))
                return "bad increment";
            if (*s != 'x')
                return "expected xN after an increment";
            s++;
            if (!scan_uint(&s, &n) || n > 1000000)
                return "bad xN";
            for (uint64_t i = 0; i <= n; i++) {
                seq_push(a, l, (seqval_t){.v = v});
                v += d;
            }
        } else {
            seq_push(a, l, (seqval_t){.v = v});
        }
    }
    if (!end_of_item(s))
        return "unexpected text after a value";
    *p = s;
    return NULL;
}

/* A series description line (parser.ParseSeriesDesc). */
static const char *parse_series(sx_arena_t *a, const char *line, series_def_t *out)
{
    memset(out, 0, sizeof(*out));
    const char *s = line, *why;
    if ((why = parse_labels(a, &s, &out->labels, &out->nlabels)))
        return why;
    for (;;) {
        s = skip_ws(s);
        if (!*s)
            break;
        if ((why = parse_item(a, &s, &out->vals)))
            return why;
    }
    return NULL;
}

static bool labels_equal(const sx_label_t *a, uint32_t na, const sx_label_t *b, uint32_t nb)
{
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++)
        if (!sx_str_eq(a[i].name, b[i].name) || !sx_str_eq(a[i].value, b[i].value))
            return false;
    return true;
}

/* labels.Compare. */
static int labels_cmp(const sx_label_t *a, uint32_t na, const sx_label_t *b, uint32_t nb)
{
    uint32_t n = na < nb ? na : nb;
    for (uint32_t i = 0; i < n; i++) {
        int c = sx_str_cmp(a[i].name, b[i].name);
        if (c)
            return c;
        c = sx_str_cmp(a[i].value, b[i].value);
        if (c)
            return c;
    }
    return na < nb ? -1 : na > nb;
}

/* ---- Test files ---- */

enum { X_ORDERED, X_FAIL, X_WARN, X_NO_WARN, X_INFO, X_NO_INFO, X_NTYPES };
static const char *const expect_names[X_NTYPES] = {"ordered", "fail", "warn",
                                                   "no_warn", "info", "no_info"};

typedef struct matcher {
    char *msg; /* exact message, or NULL when re is set */
    pcre2_code *re;
} matcher_t;

typedef struct exp_series {
    sx_label_t *labels;
    uint32_t nlabels;
    seqlist_t vals;
    int pos; /* position for ordered results, from 1 */
} exp_series_t;

enum { CMD_CLEAR, CMD_LOAD, CMD_EVAL };

typedef struct cmd {
    int kind;
    int line; /* 1-based line in the file */
    /* CMD_LOAD */
    int64_t gap;
    bool nhcb;
    series_def_t *defs;
    size_t ndefs;
    /* CMD_EVAL */
    char *expr;
    bool is_range;
    int64_t start, end, step, eval; /* ms; end INT64_MIN for instant evals */
    bool fail, warn, info, ordered;
    char *fail_msg;
    pcre2_code *fail_re;
    matcher_t *expect[X_NTYPES];
    size_t nexpect[X_NTYPES];
    bool expect_scalar;
    exp_series_t *es;
    size_t nes;
    char *exp_string;
    size_t exp_string_len;
    bool exclude_from_range;
    const char *error; /* the command could not be parsed */
} cmd_t;

typedef struct test_file {
    sx_arena_t a;
    cmd_t *cmds;
    size_t n, cap;
    size_t nevals;
} test_file_t;

static cmd_t *add_cmd(test_file_t *f, int kind, int line)
{
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 64;
        f->cmds = sx_arena_realloc(&f->a, f->cmds, f->cap * sizeof(cmd_t), nc * sizeof(cmd_t));
        f->cap = nc;
    }
    cmd_t *c = &f->cmds[f->n++];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->line = line;
    if (kind == CMD_EVAL)
        f->nevals++;
    return c;
}

static pcre2_code *compile_re(const char *pat)
{
    int ec;
    PCRE2_SIZE off;
    return pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
}

static bool re_match(pcre2_code *re, const char *s)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

static bool matcher_ok(const matcher_t *m, const char *s)
{
    return m->re ? re_match(m->re, s) : !strcmp(m->msg, s);
}

static const char *matcher_str(const matcher_t *m)
{
    return m->msg ? m->msg : "(pattern)";
}

/* Split the text into trimmed lines with comments blanked (getLines). */
static char **split_lines(sx_arena_t *a, char *text, size_t *n)
{
    size_t cap = 1024, k = 0;
    char **lines = sx_arena_alloc(a, cap * sizeof(char *));
    char *s = text;
    for (;;) {
        char *nl = strchr(s, '\n');
        if (nl)
            *nl = '\0';
        char *b = s;
        while (isspace((unsigned char)*b))
            b++;
        char *e = b + strlen(b);
        while (e > b && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*b == '#')
            b = e;
        if (k == cap) {
            lines = sx_arena_realloc(a, lines, cap * sizeof(char *), cap * 2 * sizeof(char *));
            cap *= 2;
        }
        lines[k++] = b;
        if (!nl)
            break;
        s = nl + 1;
    }
    *n = k;
    return lines;
}

/* The next whitespace-separated word of *p (NUL-terminated copy). */
static char *next_word(sx_arena_t *a, const char **p)
{
    const char *s = skip_ws(*p), *st = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    *p = s;
    return sx_arena_strndup(a, st, (size_t)(s - st));
}

static void parse_load(test_file_t *f, char **lines, size_t nlines, size_t *i)
{
    sx_arena_t *a = &f->a;
    const char *s = lines[*i];
    cmd_t *c = add_cmd(f, CMD_LOAD, (int)*i + 1);
    char *w = next_word(a, &s);
    for (char *q = w; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    c->nhcb = !strcmp(w, "load_with_nhcb");
    char *step = next_word(a, &s);
    if ((strcmp(w, "load") && !c->nhcb) || !parse_duration_z(step, &c->gap) || *skip_ws(s))
        c->error = "invalid load command";
    size_t cap = 16;
    c->defs = sx_arena_alloc(a, cap * sizeof(series_def_t));
    while (*i + 1 < nlines && lines[*i + 1][0]) {
        (*i)++;
        series_def_t d;
        const char *why = parse_series(a, lines[*i], &d);
        if (why) {
            c->error = sx_arena_sprintf(a, "line %zu: %s", *i + 1, why);
            continue;
        }
        size_t k;
        for (k = 0; k < c->ndefs; k++)
            if (labels_equal(c->defs[k].labels, c->defs[k].nlabels, d.labels, d.nlabels))
                break;
        if (k == c->ndefs) {
            if (c->ndefs == cap) {
                c->defs = sx_arena_realloc(a, c->defs, cap * sizeof(series_def_t),
                                           cap * 2 * sizeof(series_def_t));
                cap *= 2;
            }
            c->ndefs++;
        }
        c->defs[k] = d; /* a repeated series replaces the earlier line */
    }
}

static void add_expected(sx_arena_t *a, cmd_t *c, const series_def_t *d, int pos, size_t *cap)
{
    for (size_t k = 0; k < c->nes; k++) {
        if (labels_equal(c->es[k].labels, c->es[k].nlabels, d->labels, d->nlabels)) {
            c->es[k] = (exp_series_t){d->labels, d->nlabels, d->vals, pos};
            return;
        }
    }
    if (c->nes == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        c->es = sx_arena_realloc(a, c->es, *cap * sizeof(exp_series_t), nc * sizeof(exp_series_t));
        *cap = nc;
    }
    c->es[c->nes++] = (exp_series_t){d->labels, d->nlabels, d->vals, pos};
}

static void add_matcher(sx_arena_t *a, cmd_t *c, int type, matcher_t m)
{
    size_t n = c->nexpect[type];
    c->expect[type] =
        sx_arena_realloc(a, c->expect[type], n * sizeof(matcher_t), (n + 1) * sizeof(matcher_t));
    c->expect[type][n] = m;
    c->nexpect[type] = n + 1;
}

/* `expect <type> [msg:|regex: ...]`; returns NULL or why it is invalid. */
static const char *parse_expect(sx_arena_t *a, cmd_t *c, const char *line)
{
    const char *s = line + 6;
    char *type = next_word(a, &s);
    int t;
    for (t = 0; t < X_NTYPES; t++)
        if (!strcmp(type, expect_names[t]))
            break;
    if (t == X_NTYPES)
        return "invalid expect statement";
    s = skip_ws(s);
    matcher_t m = {0};
    if (!*s) {
        m.re = compile_re("^.*$");
    } else if (has_prefix(s, "msg:")) {
        s = skip_ws(s + 4);
        m.msg = sx_arena_strndup(a, s, strlen(s));
    } else if (has_prefix(s, "regex:")) {
        s = skip_ws(s + 6);
        if (!(m.re = compile_re(s)))
            return "invalid regex in expect";
    } else {
        return "invalid expect statement";
    }
    add_matcher(a, c, t, m);
    if ((c->nexpect[X_INFO] && c->nexpect[X_NO_INFO]) ||
        (c->nexpect[X_WARN] && c->nexpect[X_NO_WARN]) || c->nexpect[X_FAIL] > 1)
        return "conflicting expect lines";
    return NULL;
}

static void parse_eval(test_file_t *f, char **lines, size_t nlines, size_t *i)
{
    sx_arena_t *a = &f->a;
    const char *s = lines[*i];
    cmd_t *c = add_cmd(f, CMD_EVAL, (int)*i + 1);
    c->end = INT64_MIN;
    char *w = next_word(a, &s);
    for (char *q = w; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    char *kind = next_word(a, &s);
    const char *mod = w + 4;
    if (*mod == '_')
        mod++;
    else if (*mod)
        c->error = "invalid eval command";
    if (!strcmp(mod, "fail"))
        c->fail = true;
    else if (!strcmp(mod, "warn"))
        c->warn = true;
    else if (!strcmp(mod, "info"))
        c->info = true;
    else if (!strcmp(mod, "ordered") && !strcmp(kind, "instant"))
        c->ordered = true;
    else if (*mod)
        c->error = "invalid eval command";

    if (!strcmp(kind, "instant")) {
        char *at = next_word(a, &s);
        char *t = next_word(a, &s);
        if (strcmp(at, "at") || !parse_duration_z(t, &c->eval))
            c->error = "invalid instant eval (eval instant at <time> <expr>)";
        c->start = c->eval;
    } else if (!strcmp(kind, "range")) {
        char *from = next_word(a, &s), *t0 = next_word(a, &s), *to = next_word(a, &s);
        char *t1 = next_word(a, &s), *st = next_word(a, &s), *step = next_word(a, &s);
        c->is_range = true;
        if (strcmp(from, "from") || strcmp(to, "to") || strcmp(st, "step") ||
            !parse_duration_z(t0, &c->start) || !parse_duration_z(t1, &c->end) ||
            !parse_duration_z(step, &c->step) || c->end < c->start)
            c->error = "invalid range eval";
    } else {
        c->error = "invalid eval command";
    }
    s = skip_ws(s);
    c->expr = sx_arena_strndup(a, s, strlen(s));
    if (!*s)
        c->error = "eval without an expression";

    size_t cap = 0;
    for (int j = 1; *i + 1 < nlines && lines[*i + 1][0]; j++) {
        (*i)++;
        const char *l = lines[*i];
        if (c->fail && has_prefix(l, "expected_fail_message")) {
            c->fail_msg = sx_arena_strndup(a, skip_ws(l + 21), strlen(skip_ws(l + 21)));
            break;
        }
        if (c->fail && has_prefix(l, "expected_fail_regexp")) {
            if (!(c->fail_re = compile_re(skip_ws(l + 20))))
                c->error = "invalid expected_fail_regexp";
            break;
        }
        if (has_prefix(l, "expect range vector")) {
            const char *p = l + 19;
            char *from = next_word(a, &p), *t0 = next_word(a, &p), *to = next_word(a, &p);
            char *t1 = next_word(a, &p), *st = next_word(a, &p), *step = next_word(a, &p);
            if (strcmp(from, "from") || strcmp(to, "to") || strcmp(st, "step") ||
                !parse_duration_z(t0, &c->start) || !parse_duration_z(t1, &c->end) ||
                !parse_duration_z(step, &c->step) || c->end < c->start)
                c->error = "invalid expect range vector";
            c->eval = c->end;
            c->exclude_from_range = true;
            continue;
        }
        if (has_prefix(l, "expect string")) {
            char *v;
            size_t n;
            const char *p = skip_ws(l + 13);
            if (!go_unquote(a, p, strlen(p), &v, &n))
                c->error = "invalid expect string";
            else {
                c->exp_string = v;
                c->exp_string_len = n;
            }
            c->exclude_from_range = true;
            continue;
        }
        if (has_prefix(l, "expect") && (l[6] == ' ' || l[6] == '\t' || !l[6])) {
            const char *why = parse_expect(a, c, l);
            if (why)
                c->error = why;
            j--;
            continue;
        }
        double v;
        if (parse_number_line(l, &v)) {
            c->expect_scalar = true;
            c->nes = 0;
            seqlist_t sl = {0};
            seq_push(a, &sl, (seqval_t){.v = v});
            add_expected(a, c, &(series_def_t){NULL, 0, sl}, 0, &cap);
            break;
        }
        series_def_t d;
        const char *why = parse_series(a, l, &d);
        if (why) {
            c->error = sx_arena_sprintf(a, "line %zu: %s", *i + 1, why);
            continue;
        }
        if (d.vals.n > 1 && !c->is_range && c->end == INT64_MIN)
            c->error = "multiple values in an instant eval without expect range vector";
        if (c->expect_scalar) {
            c->expect_scalar = false;
            c->nes = 0;
        }
        add_expected(a, c, &d, j, &cap);
    }
}

static void parse_file(test_file_t *f, char *text)
{
    size_t n;
    char **lines = split_lines(&f->a, text, &n);
    for (size_t i = 0; i < n; i++) {
        const char *l = lines[i];
        if (!*l)
            continue;
        char w[32];
        size_t k = 0;
        while (l[k] && l[k] != ' ' && l[k] != '\t' && k < sizeof(w) - 1) {
            w[k] = (char)tolower((unsigned char)l[k]);
            k++;
        }
        w[k] = '\0';
        if (!strcmp(w, "clear"))
            add_cmd(f, CMD_CLEAR, (int)i + 1);
        else if (has_prefix(w, "load"))
            parse_load(f, lines, n, &i);
        else if (has_prefix(w, "eval"))
            parse_eval(f, lines, n, &i);
        else
            add_cmd(f, CMD_CLEAR, (int)i + 1)->error = "invalid command";
    }
}

/* ---- Reporting (child -> parent) ---- */

/* What the child tells the parent, one line each:
 *   B <eval#> <line>     an eval starts
 *   N <n>                it has n cases
 *   C <0|1> <text>       a case passed or failed (text says why)
 *   E                    the eval is over
 *   L <text>             a load or parse problem (shown with -v)
 *   S                    this eval's @-variant is skipped
 *   D                    the file is done */
typedef struct sink {
    int fd;                    /* pipe to the parent, or -1 */
    struct file_stats *direct; /* SX_CONF_NOFORK: count in-process */
} sink_t;

typedef struct file_stats {
    const char *name;
    int passed, total, skipped_at, crashes;
    int cur_eval, cur_line, cur_n, cur_done; /* the eval last started */
    bool in_eval, done;
} file_stats_t;

static void consume(file_stats_t *st, char *line);

static void emit(sink_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(sink_t *k, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(buf) - 3)
        n = (int)sizeof(buf) - 3;
    for (int i = 0; i < n; i++)
        if (buf[i] == '\n' || buf[i] == '\r')
            buf[i] = ' ';
    if (k->direct) {
        buf[n] = '\0';
        consume(k->direct, buf);
        return;
    }
    buf[n++] = '\n';
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = write(k->fd, buf + off, (size_t)n - off);
        if (w <= 0) {
            if (errno == EINTR)
                continue;
            _exit(3);
        }
        off += (size_t)w;
    }
}

/* ---- Formatting results for failure messages ---- */

static void put_labels(sx_buf_t *b, const sx_label_t *l, uint32_t n)
{
    sx_str_t name = SX_STR_NULL;
    for (uint32_t i = 0; i < n; i++)
        if (sx_str_eq_cstr(l[i].name, "__name__"))
            name = l[i].value;
    sx_buf_append_str(b, name);
    sx_buf_putc(b, '{');
    bool first = true;
    for (uint32_t i = 0; i < n; i++) {
        if (sx_str_eq_cstr(l[i].name, "__name__"))
            continue;
        if (!first)
            sx_buf_puts(b, ", ");
        first = false;
        sx_buf_append_str(b, l[i].name);
        sx_buf_putc(b, '=');
        sx_buf_json_str(b, l[i].value.ptr, l[i].value.len);
    }
    sx_buf_putc(b, '}');
}

static void put_hist(sx_buf_t *b, const sx_promql_hist_t *h)
{
    sx_buf_printf(b, "{{schema:%d count:", (int)h->schema);
    sx_buf_prom_float(b, h->count);
    sx_buf_puts(b, " sum:");
    sx_buf_prom_float(b, h->sum);
    if (h->zero_count != 0 || h->zero_threshold != 0) {
        sx_buf_puts(b, " z_bucket:");
        sx_buf_prom_float(b, h->zero_count);
        sx_buf_puts(b, " z_bucket_w:");
        sx_buf_prom_float(b, h->zero_threshold);
    }
    for (int side = 0; side < 2; side++) {
        const sx_promql_span_t *sp = side ? h->neg_spans : h->pos_spans;
        uint32_t ns = side ? h->nneg_spans : h->npos_spans;
        const double *v = side ? h->neg : h->pos;
        uint32_t nv = side ? h->nneg : h->npos;
        if (!nv)
            continue;
        sx_buf_puts(b, side ? " n_buckets:[" : " buckets:[");
        int64_t idx = 0;
        uint32_t bi = 0;
        for (uint32_t i = 0; i < ns; i++) {
            idx += sp[i].offset;
            for (uint32_t j = 0; j < sp[i].len && bi < nv; j++, idx++) {
                sx_buf_printf(b, "%s%lld:", bi ? " " : "", (long long)idx);
                sx_buf_prom_float(b, v[bi++]);
            }
        }
        sx_buf_putc(b, ']');
    }
    if (h->ncustom) {
        sx_buf_puts(b, " custom_values:[");
        for (uint32_t i = 0; i < h->ncustom; i++) {
            if (i)
                sx_buf_putc(b, ' ');
            sx_buf_prom_float(b, h->custom_values[i]);
        }
        sx_buf_putc(b, ']');
    }
    if (h->counter_reset_hint)
        sx_buf_printf(b, " counter_reset_hint:%d", h->counter_reset_hint);
    sx_buf_puts(b, "}}");
}

static void put_point(sx_buf_t *b, double v, const sx_promql_hist_t *h)
{
    if (h)
        put_hist(b, h);
    else
        sx_buf_prom_float(b, v);
}

/* The whole result, cut to MAX_SHOWN characters. */
static const char *show_result(sx_arena_t *a, const sx_promql_result_t *r)
{
    sx_buf_t b = SX_BUF_INIT;
    switch (r->type) {
    case SX_PROMQL_SCALAR:
        sx_buf_puts(&b, "scalar ");
        sx_buf_prom_float(&b, r->scalar);
        break;
    case SX_PROMQL_STRING:
        sx_buf_puts(&b, "string ");
        sx_buf_json_str(&b, r->str.ptr, r->str.len);
        break;
    case SX_PROMQL_VECTOR:
    case SX_PROMQL_MATRIX:
        sx_buf_printf(&b, "%s(%zu) [", r->type == SX_PROMQL_VECTOR ? "vector" : "matrix",
                      r->nseries);
        for (size_t i = 0; i < r->nseries && b.len < MAX_SHOWN; i++) {
            const sx_promql_series_t *s = &r->series[i];
            if (i)
                sx_buf_puts(&b, ", ");
            put_labels(&b, s->labels, s->nlabels);
            sx_buf_puts(&b, " =>");
            for (size_t j = 0; j < s->n && b.len < MAX_SHOWN; j++) {
                sx_buf_putc(&b, ' ');
                put_point(&b, s->v[j], s->h ? s->h[j] : NULL);
                if (r->type == SX_PROMQL_MATRIX)
                    sx_buf_printf(&b, "@%lld", (long long)s->t[j]);
            }
        }
        sx_buf_putc(&b, ']');
        break;
    default:
        sx_buf_printf(&b, "result of type %d", r->type);
    }
    const char *out;
    if (b.len > MAX_SHOWN)
        out = sx_arena_sprintf(a, "%.*s...", MAX_SHOWN, b.ptr);
    else
        out = sx_arena_sprintf(a, "%.*s", (int)b.len, b.ptr ? b.ptr : "");
    sx_buf_dispose(&b);
    return out;
}

static const char *show_labels(sx_arena_t *a, const sx_label_t *l, uint32_t n)
{
    sx_buf_t b = SX_BUF_INIT;
    put_labels(&b, l, n);
    const char *s = sx_arena_sprintf(a, "%.*s", (int)b.len, b.ptr);
    sx_buf_dispose(&b);
    return s;
}

static const char *show_value(sx_arena_t *a, double v, const sx_promql_hist_t *h)
{
    sx_buf_t b = SX_BUF_INIT;
    put_point(&b, v, h);
    const char *s = sx_arena_sprintf(a, "%.*s", (int)b.len, b.ptr);
    sx_buf_dispose(&b);
    return s;
}

static const char *show_seqvals(sx_arena_t *a, const seqlist_t *l)
{
    sx_buf_t b = SX_BUF_INIT;
    for (size_t i = 0; i < l->n && b.len < 200; i++) {
        if (i)
            sx_buf_putc(&b, ' ');
        if (l->v[i].omitted)
            sx_buf_putc(&b, '_');
        else
            put_point(&b, l->v[i].v, l->v[i].h);
    }
    const char *s = sx_arena_sprintf(a, "%.*s", (int)b.len, b.ptr ? b.ptr : "");
    sx_buf_dispose(&b);
    return s;
}

/* ---- Comparing ---- */

/* compareNativeHistogram(exp.Compact(0), got.Compact(0)). */
static bool hist_equal(sx_arena_t *a, const sx_promql_hist_t *e, const sx_promql_hist_t *g)
{
    if (!e || !g)
        return false;
    if (e->schema != g->schema || !almost_equal(e->count, g->count) ||
        !almost_equal(e->sum, g->sum))
        return false;
    if (e->schema == -53) {
        if (e->ncustom != g->ncustom)
            return false;
        for (uint32_t i = 0; i < e->ncustom; i++)
            if (e->custom_values[i] != g->custom_values[i])
                return false;
    }
    if (e->zero_threshold != g->zero_threshold || !almost_equal(e->zero_count, g->zero_count))
        return false;
    for (int side = 0; side < 2; side++) {
        bkt_t *x, *y;
        size_t nx = side ? compact_side(a, e->neg_spans, e->nneg_spans, e->neg, e->nneg, &x)
                         : compact_side(a, e->pos_spans, e->npos_spans, e->pos, e->npos, &x);
        size_t ny = side ? compact_side(a, g->neg_spans, g->nneg_spans, g->neg, g->nneg, &y)
                         : compact_side(a, g->pos_spans, g->npos_spans, g->pos, g->npos, &y);
        if (nx != ny)
            return false;
        for (size_t i = 0; i < nx; i++)
            if (x[i].idx != y[i].idx || !almost_equal(x[i].c, y[i].c))
                return false;
    }
    return true;
}

/* An instant-vector sample to compare (from a vector, or a range-mode
 * matrix at one step). */
typedef struct sample {
    const sx_label_t *labels;
    uint32_t nlabels;
    double v;
    const sx_promql_hist_t *h;
} sample_t;

static exp_series_t *find_expected(const cmd_t *c, const sx_label_t *l, uint32_t n)
{
    for (size_t i = 0; i < c->nes; i++)
        if (labels_equal(c->es[i].labels, c->es[i].nlabels, l, n))
            return &c->es[i];
    return NULL;
}

static bool is_ordered(const cmd_t *c)
{
    return c->ordered || c->nexpect[X_ORDERED];
}

static bool is_fail(const cmd_t *c)
{
    return c->fail || c->nexpect[X_FAIL];
}

static bool compare_vector(sx_arena_t *a, const cmd_t *c, const sample_t *vec, size_t n,
                           const char **why)
{
    if (c->expect_scalar) {
        *why = sx_arena_sprintf(a, "expected scalar result, but got a vector of %zu", n);
        return false;
    }
    bool *seen = sx_arena_calloc(a, c->nes + 1, 1);
    for (size_t pos = 0; pos < n; pos++) {
        const sample_t *s = &vec[pos];
        exp_series_t *e = find_expected(c, s->labels, s->nlabels);
        if (!e) {
            *why =
                sx_arena_sprintf(a, "unexpected metric %s in result, has value %s",
                                 show_labels(a, s->labels, s->nlabels), show_value(a, s->v, s->h));
            return false;
        }
        if (is_ordered(c) && e->pos != (int)pos + 1) {
            *why = sx_arena_sprintf(a, "expected metric %s at position %d but was at %zu",
                                    show_labels(a, s->labels, s->nlabels), e->pos, pos + 1);
            return false;
        }
        seqval_t e0 = e->vals.n ? e->vals.v[0] : (seqval_t){.omitted = true};
        double ev = e0.omitted ? 0 : e0.v;
        if (!e0.h && s->h) {
            *why = sx_arena_sprintf(a, "expected float value %s for %s but got histogram %s",
                                    show_value(a, ev, NULL), show_labels(a, s->labels, s->nlabels),
                                    show_value(a, 0, s->h));
            return false;
        }
        if (e0.h && !s->h) {
            *why = sx_arena_sprintf(a, "expected histogram %s for %s but got float value %s",
                                    show_value(a, 0, e0.h), show_labels(a, s->labels, s->nlabels),
                                    show_value(a, s->v, NULL));
            return false;
        }
        if (e0.h && !hist_equal(a, e0.h, s->h)) {
            *why = sx_arena_sprintf(a, "expected %s for %s but got %s", show_value(a, 0, e0.h),
                                    show_labels(a, s->labels, s->nlabels), show_value(a, 0, s->h));
            return false;
        }
        if (!e0.h && !almost_equal(ev, s->v)) {
            *why =
                sx_arena_sprintf(a, "expected %s for %s but got %s", show_value(a, ev, NULL),
                                 show_labels(a, s->labels, s->nlabels), show_value(a, s->v, NULL));
            return false;
        }
        seen[e - c->es] = true;
    }
    for (size_t i = 0; i < c->nes; i++) {
        if (!seen[i]) {
            *why = sx_arena_sprintf(a, "expected metric %s with %s not found",
                                    show_labels(a, c->es[i].labels, c->es[i].nlabels),
                                    show_seqvals(a, &c->es[i].vals));
            return false;
        }
    }
    return true;
}

static bool matrix_sorted(sx_arena_t *a, const sx_promql_result_t *r, const char **why)
{
    for (size_t i = 0; i + 1 < r->nseries; i++) {
        const sx_promql_series_t *x = &r->series[i], *y = &r->series[i + 1];
        if (labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels) > 0) {
            *why = sx_arena_sprintf(a, "matrix is not sorted by labels: %s before %s",
                                    show_labels(a, x->labels, x->nlabels),
                                    show_labels(a, y->labels, y->nlabels));
            return false;
        }
    }
    return true;
}

static bool compare_matrix(sx_arena_t *a, const cmd_t *c, const sx_promql_result_t *r,
                           const char **why)
{
    if (is_ordered(c)) {
        *why = "expected ordered result, but query returned a matrix";
        return false;
    }
    if (c->expect_scalar) {
        *why = "expected scalar result, but got a matrix";
        return false;
    }
    if (!matrix_sorted(a, r, why))
        return false;
    bool *seen = sx_arena_calloc(a, c->nes + 1, 1);
    for (size_t i = 0; i < r->nseries; i++) {
        const sx_promql_series_t *s = &r->series[i];
        exp_series_t *e = find_expected(c, s->labels, s->nlabels);
        if (!e) {
            *why = sx_arena_sprintf(a, "unexpected metric %s in result",
                                    show_labels(a, s->labels, s->nlabels));
            return false;
        }
        seen[e - c->es] = true;
        size_t nf = 0, nh = 0, gf = 0, gh = 0;
        for (size_t k = 0; k < e->vals.n; k++) {
            int64_t t = c->start + (int64_t)k * c->step;
            if (t > c->end) {
                *why = sx_arena_sprintf(a,
                                        "expected %zu points for %s, but query time range "
                                        "cannot return this many points",
                                        e->vals.n, show_labels(a, e->labels, e->nlabels));
                return false;
            }
            if (e->vals.v[k].h)
                nh++;
            else if (!e->vals.v[k].omitted)
                nf++;
        }
        for (size_t k = 0; k < s->n; k++) {
            if (s->h && s->h[k])
                gh++;
            else
                gf++;
        }
        if (nf != gf || nh != gh) {
            *why = sx_arena_sprintf(a,
                                    "expected %zu float points and %zu histogram points for "
                                    "%s, but got %zu and %zu",
                                    nf, nh, show_labels(a, e->labels, e->nlabels), gf, gh);
            return false;
        }
        /* Walk expected floats against got floats, histograms likewise. */
        for (int hist = 0; hist < 2; hist++) {
            size_t gi = 0;
            for (size_t k = 0; k < e->vals.n; k++) {
                const seqval_t *ev = &e->vals.v[k];
                if (hist ? !ev->h : (ev->h || ev->omitted))
                    continue;
                while (gi < s->n && (hist ? !(s->h && s->h[gi]) : (s->h && s->h[gi])))
                    gi++;
                SX_ASSERT(gi < s->n);
                int64_t t = c->start + (int64_t)k * c->step;
                if (s->t[gi] != t) {
                    *why = sx_arena_sprintf(a, "expected %s point of %s at t=%lld, got t=%lld",
                                            hist ? "histogram" : "float",
                                            show_labels(a, e->labels, e->nlabels), (long long)t,
                                            (long long)s->t[gi]);
                    return false;
                }
                bool ok = hist ? hist_equal(a, ev->h, s->h[gi]) : almost_equal(ev->v, s->v[gi]);
                if (!ok) {
                    *why = sx_arena_sprintf(a, "expected %s at t=%lld for %s, got %s",
                                            show_value(a, ev->v, ev->h), (long long)t,
                                            show_labels(a, e->labels, e->nlabels),
                                            show_value(a, s->v[gi], hist ? s->h[gi] : NULL));
                    return false;
                }
                gi++;
            }
        }
    }
    for (size_t i = 0; i < c->nes; i++) {
        if (!seen[i]) {
            *why = sx_arena_sprintf(a, "expected metric %s not found",
                                    show_labels(a, c->es[i].labels, c->es[i].nlabels));
            return false;
        }
    }
    return true;
}

static bool compare_scalar(sx_arena_t *a, const cmd_t *c, double v, const char **why)
{
    if (!c->expect_scalar) {
        *why = sx_arena_sprintf(a, "expected vector or matrix result, but got scalar %s",
                                show_value(a, v, NULL));
        return false;
    }
    seqval_t e0 = c->es[0].vals.v[0];
    if (e0.h) {
        *why = "expected histogram but got a scalar";
        return false;
    }
    if (!almost_equal(e0.v, v)) {
        *why = sx_arena_sprintf(a, "expected scalar %s but got %s", show_value(a, e0.v, NULL),
                                show_value(a, v, NULL));
        return false;
    }
    return true;
}

static bool compare_result(sx_arena_t *a, const cmd_t *c, const sx_promql_result_t *r,
                           const char **why)
{
    switch (r->type) {
    case SX_PROMQL_MATRIX:
        return compare_matrix(a, c, r, why);
    case SX_PROMQL_VECTOR: {
        sample_t *vec = sx_arena_calloc(a, r->nseries + 1, sizeof(sample_t));
        for (size_t i = 0; i < r->nseries; i++) {
            const sx_promql_series_t *s = &r->series[i];
            if (s->n != 1) {
                *why = sx_arena_sprintf(a, "vector series %s has %zu points",
                                        show_labels(a, s->labels, s->nlabels), s->n);
                return false;
            }
            const sx_promql_hist_t *h = s->h ? s->h[0] : NULL;
            vec[i] = (sample_t){s->labels, s->nlabels, h ? 0 : s->v[0], h};
        }
        return compare_vector(a, c, vec, r->nseries, why);
    }
    case SX_PROMQL_SCALAR:
        return compare_scalar(a, c, r->scalar, why);
    case SX_PROMQL_STRING: {
        sx_str_t want = {c->exp_string ? c->exp_string : "", c->exp_string_len};
        if (!sx_str_eq(want, r->str)) {
            *why = sx_arena_sprintf(a, "expected string \"%.*s\" but got \"%.*s\"", (int)want.len,
                                    want.ptr, (int)r->str.len, r->str.ptr);
            return false;
        }
        return true;
    }
    default:
        *why = sx_arena_sprintf(a, "result of unknown type %d", r->type);
        return false;
    }
}

static bool annotations_of_type(sx_arena_t *a, const cmd_t *c, int type, const char **got, size_t n,
                                const char *what, const char **why)
{
    const matcher_t *m = c->expect[type];
    size_t nm = c->nexpect[type];
    if (!nm)
        return true;
    if (!n) {
        *why = sx_arena_sprintf(a, "expected %s annotations but none were found", what);
        return false;
    }
    for (size_t i = 0; i < nm; i++) {
        size_t j;
        for (j = 0; j < n && !matcher_ok(&m[i], got[j]); j++)
            ;
        if (j == n) {
            *why = sx_arena_sprintf(a, "expected %s annotation %s but got: %s", what,
                                    matcher_str(&m[i]), got[0]);
            return false;
        }
    }
    for (size_t j = 0; j < n; j++) {
        size_t i;
        for (i = 0; i < nm && !matcher_ok(&m[i], got[j]); i++)
            ;
        if (i == nm) {
            *why = sx_arena_sprintf(a, "unexpected %s annotation: %s", what, got[j]);
            return false;
        }
    }
    return true;
}

static bool check_annotations(sx_arena_t *a, const cmd_t *c, const sx_promql_notes_t *nt,
                              const char **why)
{
    if (c->warn && !nt->nwarnings) {
        *why = "expected warnings but got none";
        return false;
    }
    if (c->info && !nt->ninfos) {
        *why = "expected info annotations but got none";
        return false;
    }
    if (!annotations_of_type(a, c, X_WARN, nt->warnings, nt->nwarnings, "warn", why) ||
        !annotations_of_type(a, c, X_INFO, nt->infos, nt->ninfos, "info", why))
        return false;
    if (c->nexpect[X_NO_WARN] && nt->nwarnings) {
        *why = sx_arena_sprintf(a, "unexpected warning: %s", nt->warnings[0]);
        return false;
    }
    if (c->nexpect[X_NO_INFO] && nt->ninfos) {
        *why = sx_arena_sprintf(a, "unexpected info: %s", nt->infos[0]);
        return false;
    }
    return true;
}

static bool check_failure(sx_arena_t *a, const cmd_t *c, const char *msg, const char **why)
{
    if (c->fail_msg && strcmp(c->fail_msg, msg)) {
        *why = sx_arena_sprintf(a, "expected error \"%s\", got \"%s\"", c->fail_msg, msg);
        return false;
    }
    if (c->fail_re && !re_match(c->fail_re, msg)) {
        *why = sx_arena_sprintf(a, "expected error matching a pattern, got \"%s\"", msg);
        return false;
    }
    if (c->nexpect[X_FAIL] && !matcher_ok(&c->expect[X_FAIL][0], msg)) {
        *why = sx_arena_sprintf(a, "expected error %s, got \"%s\"",
                                matcher_str(&c->expect[X_FAIL][0]), msg);
        return false;
    }
    return true;
}

/* Check an evaluation's outcome as runInstantQuery/execRangeEval do. */
static bool check_outcome(sx_arena_t *a, const cmd_t *c, int rc, const sx_err_t *err,
                          const sx_promql_result_t *r, const char **why)
{
    if (rc) {
        if (is_fail(c))
            return check_failure(a, c, err->msg, why);
        *why = sx_arena_sprintf(a, "error %s: %s", sx_errname(rc), err->msg);
        return false;
    }
    if (is_fail(c)) {
        *why = sx_arena_sprintf(a, "expected an error but got %s", show_result(a, r));
        return false;
    }
    if (!check_annotations(a, c, &r->notes, why))
        return false;
    if (!compare_result(a, c, r, why)) {
        *why = sx_arena_sprintf(a, "%s; got %s", *why, show_result(a, r));
        return false;
    }
    return true;
}

/* ---- Loading ---- */

/* convertnhcb.TempHistogram: one classic histogram at one timestamp. */
typedef struct temp_hist {
    int64_t t;
    double *le, *cnt;
    size_t n, cap;
    double count, sum;
    bool has_count;
    const char *err;
} temp_hist_t;

typedef struct nhcb_group {
    sx_label_t *labels;
    uint32_t nlabels;
    temp_hist_t *th;
    size_t n, cap;
} nhcb_group_t;

static void th_set_bucket(sx_arena_t *a, temp_hist_t *h, double le, double c)
{
    if (h->err)
        return;
    if (c < 0) {
        h->err = "bucket count must be non-negative";
        return;
    }
    size_t i = 0;
    while (i < h->n && h->le[i] < le)
        i++;
    if (i < h->n && h->le[i] == le)
        return; /* a duplicate boundary is ignored */
    if (i > 0 && c < h->cnt[i - 1]) {
        h->err = "count is not cumulative";
        return;
    }
    if (i < h->n && c > h->cnt[i]) {
        h->err = "count is not cumulative";
        return;
    }
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 8;
        h->le = sx_arena_realloc(a, h->le, h->cap * sizeof(double), nc * sizeof(double));
        h->cnt = sx_arena_realloc(a, h->cnt, h->cap * sizeof(double), nc * sizeof(double));
        h->cap = nc;
    }
    memmove(h->le + i + 1, h->le + i, (h->n - i) * sizeof(double));
    memmove(h->cnt + i + 1, h->cnt + i, (h->n - i) * sizeof(double));
    h->le[i] = le;
    h->cnt[i] = c;
    h->n++;
}

/* TempHistogram.Convert, then Compact(0): a custom-bucket histogram. */
static sx_promql_hist_t *th_convert(sx_arena_t *a, temp_hist_t *t, const char **why)
{
    if (t->err) {
        *why = t->err;
        return NULL;
    }
    if (!t->has_count) {
        if (!t->n) {
            *why = "count must be provided when no buckets are present";
            return NULL;
        }
        t->count = t->cnt[t->n - 1];
    }
    if (!t->n || !(isinf(t->le[t->n - 1]) && t->le[t->n - 1] > 0)) {
        /* Appended as is, without the cumulative check. */
        double *le = sx_arena_alloc(a, (t->n + 1) * sizeof(double));
        double *cnt = sx_arena_alloc(a, (t->n + 1) * sizeof(double));
        if (t->n) {
            memcpy(le, t->le, t->n * sizeof(double));
            memcpy(cnt, t->cnt, t->n * sizeof(double));
        }
        le[t->n] = INFINITY;
        cnt[t->n] = t->count;
        t->le = le;
        t->cnt = cnt;
        t->n++;
        t->cap = t->n;
    }
    if (t->count != t->cnt[t->n - 1]) {
        *why = "count mismatch";
        return NULL;
    }
    sx_promql_hist_t *h = sx_arena_calloc(a, 1, sizeof(*h));
    h->schema = -53;
    h->count = t->count;
    h->sum = t->sum;
    h->ncustom = (uint32_t)(t->n - 1);
    h->custom_values = sx_arena_alloc(a, (h->ncustom + 1) * sizeof(double));
    memcpy(h->custom_values, t->le, h->ncustom * sizeof(double));
    bkt_t *bk = sx_arena_alloc(a, t->n * sizeof(bkt_t));
    size_t k = 0;
    double prev = 0;
    for (size_t i = 0; i < t->n; i++) {
        double c = t->cnt[i] - prev;
        prev = t->cnt[i];
        if (c != 0)
            bk[k++] = (bkt_t){(int32_t)i, c};
    }
    layout_side(a, bk, k, &h->pos_spans, &h->npos_spans, &h->pos, &h->npos);
    return h;
}

static bool str_suffix(sx_str_t s, const char *suf, sx_str_t *base)
{
    size_t n = strlen(suf);
    if (s.len < n || memcmp(s.ptr + s.len - n, suf, n))
        return false;
    *base = (sx_str_t){s.ptr, s.len - n};
    return true;
}

/* strconv.ParseFloat of an le label value. */
static bool parse_le(sx_str_t v, double *out)
{
    char tmp[128];
    if (!v.len || v.len >= sizeof(tmp))
        return false;
    memcpy(tmp, v.ptr, v.len);
    tmp[v.len] = '\0';
    return parse_number_line(tmp, out);
}

static int cmp_hist_ts(const void *x, const void *y)
{
    int64_t a = ((const sx_hist_sample_t *)x)->ts, b = ((const sx_hist_sample_t *)y)->ts;
    return a < b ? -1 : a > b;
}

typedef struct nhcb_series {
    sx_label_t *labels;
    uint32_t nlabels;
    sx_hist_sample_t *hs;
    size_t n;
} nhcb_series_t;

/* appendCustomHistogram of test.go: classic _bucket/_count/_sum series of
 * the load become custom-bucket histograms named after the base name. */
static size_t convert_nhcb(sx_arena_t *a, const cmd_t *c, sink_t *k, nhcb_series_t **out)
{
    nhcb_group_t *g = NULL;
    size_t ng = 0, gcap = 0;
    for (size_t i = 0; i < c->ndefs; i++) {
        const series_def_t *d = &c->defs[i];
        sx_str_t name = SX_STR_NULL, base, le = SX_STR_NULL;
        for (uint32_t j = 0; j < d->nlabels; j++) {
            if (sx_str_eq_cstr(d->labels[j].name, "__name__"))
                name = d->labels[j].value;
            else if (sx_str_eq_cstr(d->labels[j].name, "le"))
                le = d->labels[j].value;
        }
        int kind;
        double lev = 0;
        if (str_suffix(name, "_bucket", &base)) {
            if (!le.ptr || !parse_le(le, &lev) || isnan(lev))
                continue;
            kind = 0;
        } else if (str_suffix(name, "_sum", &base)) {
            kind = 1;
        } else if (str_suffix(name, "_count", &base)) {
            kind = 2;
        } else {
            continue;
        }
        sx_label_t *bl = sx_arena_alloc(a, (d->nlabels + 1) * sizeof(sx_label_t));
        uint32_t nb = 0;
        for (uint32_t j = 0; j < d->nlabels; j++) {
            if (sx_str_eq_cstr(d->labels[j].name, "le"))
                continue;
            bl[nb] = d->labels[j];
            if (sx_str_eq_cstr(bl[nb].name, "__name__"))
                bl[nb].value = base;
            nb++;
        }
        size_t gi;
        for (gi = 0; gi < ng; gi++)
            if (labels_equal(g[gi].labels, g[gi].nlabels, bl, nb))
                break;
        if (gi == ng) {
            if (ng == gcap) {
                size_t nc = gcap ? gcap * 2 : 8;
                g = sx_arena_realloc(a, g, gcap * sizeof(*g), nc * sizeof(*g));
                gcap = nc;
            }
            g[ng++] = (nhcb_group_t){bl, nb, NULL, 0, 0};
        }
        nhcb_group_t *grp = &g[gi];
        for (size_t v = 0; v < d->vals.n; v++) {
            const seqval_t *sv = &d->vals.v[v];
            if (sv->omitted || sv->h)
                continue;
            int64_t t = (int64_t)v * c->gap;
            size_t ti;
            for (ti = 0; ti < grp->n && grp->th[ti].t != t; ti++)
                ;
            if (ti == grp->n) {
                if (grp->n == grp->cap) {
                    size_t nc = grp->cap ? grp->cap * 2 : 16;
                    grp->th = sx_arena_realloc(a, grp->th, grp->cap * sizeof(temp_hist_t),
                                               nc * sizeof(temp_hist_t));
                    grp->cap = nc;
                }
                grp->th[grp->n++] = (temp_hist_t){.t = t};
            }
            temp_hist_t *th = &grp->th[ti];
            if (kind == 0) {
                th_set_bucket(a, th, lev, sv->v);
            } else if (kind == 1) {
                th->sum = sv->v;
            } else if (!th->err) {
                if (sv->v < 0)
                    th->err = "count must be non-negative";
                th->count = sv->v;
                th->has_count = true;
            }
        }
    }
    nhcb_series_t *res = sx_arena_calloc(a, ng + 1, sizeof(*res));
    for (size_t gi = 0; gi < ng; gi++) {
        nhcb_group_t *grp = &g[gi];
        res[gi] = (nhcb_series_t){grp->labels, grp->nlabels,
                                  sx_arena_alloc(a, (grp->n + 1) * sizeof(sx_hist_sample_t)), 0};
        for (size_t x = 0; x < grp->n; x++) {
            temp_hist_t *th = &grp->th[x];
            const char *why = NULL;
            sx_promql_hist_t *h = th_convert(a, th, &why);
            if (!h) {
                emit(k, "L line %d: load_with_nhcb %s at t=%lld: %s", c->line,
                     show_labels(a, grp->labels, grp->nlabels), (long long)th->t, why);
                continue;
            }
            sx_buf_t b = SX_BUF_INIT;
            sx_promql_hist_encode(h, th->t, &b);
            sx_str_t blob = sx_arena_strdup_str(a, (sx_str_t){b.ptr, b.len});
            sx_buf_dispose(&b);
            res[gi].hs[res[gi].n++] = (sx_hist_sample_t){th->t, blob};
        }
        qsort(res[gi].hs, res[gi].n, sizeof(sx_hist_sample_t), cmp_hist_ts);
    }
    *out = res;
    return ng;
}

/* Fill one batch series from labels and values at i*gap. */
static void fill_series(sx_arena_t *a, sx_metric_batch_t *b, const sx_label_t *labels,
                        uint32_t nlabels, const seqlist_t *vals, int64_t gap)
{
    sx_series_in_t *s = sx_metric_batch_add(b);
    s->labels = (sx_label_t *)labels;
    s->nlabels = nlabels;
    size_t nf = 0, nh = 0;
    for (size_t i = 0; i < vals->n; i++) {
        if (vals->v[i].omitted)
            continue;
        if (vals->v[i].h)
            nh++;
        else
            nf++;
    }
    s->samples = nf ? sx_arena_alloc(a, nf * sizeof(sx_sample_t)) : NULL;
    s->hists = nh ? sx_arena_alloc(a, nh * sizeof(sx_hist_sample_t)) : NULL;
    for (size_t i = 0; i < vals->n; i++) {
        const seqval_t *v = &vals->v[i];
        int64_t t = (int64_t)i * gap;
        if (v->omitted)
            continue;
        if (v->h) {
            sx_buf_t buf = SX_BUF_INIT;
            sx_promql_hist_encode(v->h, t, &buf);
            s->hists[s->nhists++] =
                (sx_hist_sample_t){t, sx_arena_strdup_str(a, (sx_str_t){buf.ptr, buf.len})};
            sx_buf_dispose(&buf);
        } else {
            s->samples[s->nsamples++] = (sx_sample_t){t, v->v};
        }
    }
    b->nsamples += nf + nh;
}

static void do_load(sx_tsdb_t *db, const cmd_t *c, sink_t *k)
{
    sx_arena_t a;
    sx_arena_init(&a);
    if (c->error)
        emit(k, "L line %d: %s", c->line, c->error);
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &a);
    for (size_t i = 0; i < c->ndefs; i++)
        fill_series(&a, &b, c->defs[i].labels, c->defs[i].nlabels, &c->defs[i].vals, c->gap);
    if (c->nhcb) {
        nhcb_series_t *ns;
        size_t n = convert_nhcb(&a, c, k, &ns);
        for (size_t i = 0; i < n; i++) {
            sx_series_in_t *s = sx_metric_batch_add(&b);
            s->labels = ns[i].labels;
            s->nlabels = ns[i].nlabels;
            s->hists = ns[i].hs;
            s->nhists = (uint32_t)ns[i].n;
            b.nsamples += ns[i].n;
        }
    }
    sx_append_result_t res;
    sx_err_t err;
    if (sx_tsdb_append(db, &b, &res, &err) != 0) {
        /* All or nothing: retry series by series to keep the good ones. */
        emit(k, "L line %d: load failed as a whole (%s); appending series one by one", c->line,
             err.msg);
        for (size_t i = 0; i < b.nseries; i++) {
            sx_metric_batch_t one;
            sx_metric_batch_init(&one, &a);
            sx_series_in_t *s = sx_metric_batch_add(&one);
            *s = b.series[i];
            one.nsamples = s->nsamples + s->nhists;
            if (sx_tsdb_append(db, &one, &res, &err) != 0)
                emit(k, "L line %d: cannot load %s: %s", c->line,
                     show_labels(&a, s->labels, s->nlabels), err.msg);
        }
    } else if (res.dropped_ooo || res.dropped_retention) {
        emit(k, "L line %d: storage dropped %llu out-of-order and %llu retention samples", c->line,
             (unsigned long long)res.dropped_ooo, (unsigned long long)res.dropped_retention);
    }
    sx_arena_dispose(&a);
}

/* ---- Evaluating ---- */

typedef struct runner {
    sx_storage_t *storage;
    sx_tsdb_t *db;
    char base[256]; /* per-file temporary directory */
    int gen;        /* stores opened so far (each in its own subdirectory) */
    sx_promql_opts_t opts;
    sx_arena_t a; /* per case */
    sink_t *sink;
} runner_t;

static bool open_store(runner_t *r, sx_err_t *err)
{
    char dir[320];
    snprintf(dir, sizeof(dir), "%s/s%d", r->base, r->gen++);
    sx_storage_opts_t o = {
        .data_dir = dir,
        .retention_ms = 0, /* keep 1970 */
        .retention_max_bytes = 0,
        .min_free_bytes = 0,
        .ooo_window_ms = 100LL * 365 * 86400000, /* accept any order */
        .head_flush_ms = 0,
    };
    r->storage = sx_storage_open(&o, err);
    if (!r->storage)
        return false;
    r->db = sx_storage_tsdb(r->storage, "default", err);
    return r->db != NULL;
}

static void close_store(runner_t *r)
{
    sx_storage_close(r->storage);
    r->storage = NULL;
    r->db = NULL;
}

/* Functions whose result depends on the evaluation time even when their
 * arguments do not (promql.AtModifierUnsafeFunctions). */
static bool at_unsafe(const char *name)
{
    static const char *const names[] = {
        "days_in_month", "day_of_month", "day_of_week",    "day_of_year", "hour",     "minute",
        "month",         "year",         "predict_linear", "time",        "timestamp"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(name, names[i]))
            return true;
    return false;
}

/* atModifierTestCases' rewrite: `@ ts` on every selector and subquery
 * that has no `@ <time>` yet, not descending into subqueries (their inner
 * selectors stay relative to the subquery's own steps). Sets *unsafe when
 * a call outside subqueries is to an @-unsafe function. */
static void at_rewrite(pq_node_t *n, int64_t ts, bool *unsafe)
{
    if (!n)
        return;
    switch (n->kind) {
    case PQ_VSEL:
    case PQ_MSEL:
        if (n->sel.mod.at != PQ_AT_TIME) {
            n->sel.mod.at = PQ_AT_TIME;
            n->sel.mod.at_ms = ts;
        }
        break;
    case PQ_SUBQUERY:
        if (n->sub.mod.at != PQ_AT_TIME) {
            n->sub.mod.at = PQ_AT_TIME;
            n->sub.mod.at_ms = ts;
        }
        break;
    case PQ_PAREN:
        at_rewrite(n->paren.expr, ts, unsafe);
        break;
    case PQ_UNARY:
        at_rewrite(n->unary.expr, ts, unsafe);
        break;
    case PQ_BINARY:
        at_rewrite(n->binary.lhs, ts, unsafe);
        at_rewrite(n->binary.rhs, ts, unsafe);
        break;
    case PQ_AGG:
        at_rewrite(n->agg.param, ts, unsafe);
        at_rewrite(n->agg.expr, ts, unsafe);
        break;
    case PQ_CALL:
        if (n->call.fn && n->call.fn->name && at_unsafe(n->call.fn->name))
            *unsafe = true;
        for (size_t i = 0; i < n->call.nargs; i++)
            at_rewrite(n->call.args[i], ts, unsafe);
        break;
    default:
        break;
    }
}

static int parse_expr(runner_t *r, const char *q, sx_promql_expr_t **e, sx_err_t *err)
{
    sx_err_clear(err);
    return sx_promql_parse(sx_str(q), &r->a, e, err);
}

/* Range mode of an instant query: from t-1m to t+1m step 1m, the points at
 * t must equal the instant answer. */
static bool range_mode(runner_t *r, const cmd_t *c, sx_promql_expr_t *e, int64_t t,
                       const char **why)
{
    sx_arena_t *a = &r->a;
    sx_promql_result_t res;
    memset(&res, 0, sizeof(res));
    sx_err_t err;
    sx_err_clear(&err);
    int rc = sx_promql_eval_range(r->db, &r->opts, e, t - 60000, t + 60000, 60000, a, &res, &err);
    if (rc) {
        *why = sx_arena_sprintf(a, "range mode: error %s: %s", sx_errname(rc), err.msg);
        return false;
    }
    if (is_ordered(c))
        return true; /* range results are sorted by labels */
    if (res.type != SX_PROMQL_MATRIX) {
        *why = sx_arena_sprintf(a, "range mode: got %s, want a matrix", show_result(a, &res));
        return false;
    }
    if (!matrix_sorted(a, &res, why))
        return false;
    sample_t *vec = sx_arena_calloc(a, res.nseries + 1, sizeof(sample_t));
    size_t n = 0;
    for (size_t i = 0; i < res.nseries; i++) {
        const sx_promql_series_t *s = &res.series[i];
        for (size_t j = 0; j < s->n; j++) {
            if (s->t[j] == t) {
                const sx_promql_hist_t *h = s->h ? s->h[j] : NULL;
                vec[n++] = (sample_t){s->labels, s->nlabels, h ? 0 : s->v[j], h};
                break;
            }
        }
    }
    bool ok;
    if (sx_promql_expr_type(e) == SX_PROMQL_SCALAR) {
        if (!n) {
            *why = sx_arena_sprintf(a, "range mode: no point at t; got %s", show_result(a, &res));
            return false;
        }
        ok = compare_scalar(a, c, vec[0].v, why);
    } else {
        ok = compare_vector(a, c, vec, n, why);
    }
    if (!ok)
        *why = sx_arena_sprintf(a, "range mode: %s; got %s", *why, show_result(a, &res));
    return ok;
}

static bool instant_case(runner_t *r, const cmd_t *c, sx_promql_expr_t *e, int64_t t,
                         const char **why)
{
    sx_promql_result_t res;
    memset(&res, 0, sizeof(res));
    sx_err_t err;
    sx_err_clear(&err);
    int rc = sx_promql_eval_instant(r->db, &r->opts, e, t, &r->a, &res, &err);
    return check_outcome(&r->a, c, rc, &err, &res, why);
}

static void report_case(runner_t *r, const cmd_t *c, const char *kind, bool ok, const char *why)
{
    if (ok)
        emit(r->sink, "C 1 %s", kind);
    else
        emit(r->sink, "C 0 line %d [%s] %s :: %s", c->line, kind, c->expr, why ? why : "?");
}

static void run_eval(runner_t *r, const cmd_t *c)
{
    sx_arena_t *a = &r->a;
    sx_arena_reset(a);
    const char *why = NULL;
    sx_err_t err;
    sx_promql_expr_t *e = NULL;
    if (c->error) {
        emit(r->sink, "N 1");
        report_case(r, c, "parse", false, sx_arena_sprintf(a, "bad test command: %s", c->error));
        return;
    }
    if (parse_expr(r, c->expr, &e, &err)) {
        emit(r->sink, "N 1");
        report_case(r, c, c->is_range ? "range" : "instant", false,
                    sx_arena_sprintf(a, "parse error: %s", err.msg));
        return;
    }
    if (c->is_range) {
        emit(r->sink, "N 1");
        sx_promql_result_t res;
        memset(&res, 0, sizeof(res));
        sx_err_clear(&err);
        int rc = sx_promql_eval_range(r->db, &r->opts, e, c->start, c->end, c->step, a, &res, &err);
        bool ok = check_outcome(a, c, rc, &err, &res, &why);
        report_case(r, c, "range", ok, why);
        sx_promql_expr_dispose(e);
        return;
    }

    bool do_range = !is_fail(c) && !c->exclude_from_range && !strstr(c->expr, "range()");
    /* Find out whether the @ variant applies on a throw-away copy. */
    bool unsafe = false;
    sx_promql_expr_t *probe = NULL;
    bool at_ok = false;
    if (!parse_expr(r, c->expr, &probe, &err)) {
        at_rewrite(probe, c->eval, &unsafe);
        sx_promql_expr_dispose(probe);
        at_ok = !unsafe;
    }
    emit(r->sink, "N %d", 1 + do_range + at_ok);
    if (!at_ok)
        emit(r->sink, "S");

    bool ok = instant_case(r, c, e, c->eval, &why);
    report_case(r, c, "instant", ok, why);
    if (do_range) {
        why = NULL;
        ok = range_mode(r, c, e, c->eval, &why);
        report_case(r, c, "range-mode", ok, why);
    }
    sx_promql_expr_dispose(e);
    if (!at_ok)
        return;

    int64_t ts = c->eval;
    int64_t times[5];
    size_t nt;
    if (ts == 0) {
        times[0] = -1000, times[1] = 0, times[2] = 1000;
        nt = 3;
    } else {
        times[0] = -10 * ts, times[1] = 0, times[2] = ts / 5, times[3] = ts, times[4] = 10 * ts;
        nt = 5;
    }
    ok = true;
    why = NULL;
    for (size_t i = 0; i < nt && ok; i++) {
        sx_promql_expr_t *x;
        if (parse_expr(r, c->expr, &x, &err)) {
            ok = false;
            why = sx_arena_sprintf(a, "parse error: %s", err.msg);
            break;
        }
        at_rewrite(x, ts, &unsafe);
        ok = instant_case(r, c, x, times[i], &why);
        if (ok && do_range)
            ok = range_mode(r, c, x, times[i], &why);
        if (!ok)
            why = sx_arena_sprintf(a, "with @ %lld evaluated at %lld: %s", (long long)ts,
                                   (long long)times[i], why);
        sx_promql_expr_dispose(x);
    }
    report_case(r, c, "@", ok, why);
}

static void rm_tree(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

/* Run a parsed file, skipping the evals before `skip` (their loads and
 * clears still run). Reports through r->sink. */
static void run_file(runner_t *r, const test_file_t *f, int skip)
{
    sx_err_t err;
    if (!open_store(r, &err)) {
        emit(r->sink, "L cannot open storage: %s", err.msg);
        return;
    }
    int evalno = 0;
    for (size_t i = 0; i < f->n; i++) {
        const cmd_t *c = &f->cmds[i];
        switch (c->kind) {
        case CMD_CLEAR:
            if (c->error) {
                emit(r->sink, "L line %d: %s", c->line, c->error);
                break;
            }
            close_store(r);
            if (!open_store(r, &err)) {
                emit(r->sink, "L cannot open storage: %s", err.msg);
                return;
            }
            break;
        case CMD_LOAD:
            do_load(r->db, c, r->sink);
            break;
        case CMD_EVAL:
            if (evalno >= skip) {
                emit(r->sink, "B %d %d", evalno, c->line);
                if (r->sink->fd >= 0)
                    alarm(EVAL_ALARM_S);
                run_eval(r, c);
                alarm(0);
                emit(r->sink, "E");
            }
            evalno++;
            break;
        }
    }
    close_store(r);
    emit(r->sink, "D");
}

/* ---- Running files in child processes ---- */

/* Account one line the child reported. */
static void consume(file_stats_t *st, char *line)
{
    switch (line[0]) {
    case 'B':
        st->in_eval = true;
        st->cur_n = 1;
        st->cur_done = 0;
        sscanf(line + 1, "%d %d", &st->cur_eval, &st->cur_line);
        break;
    case 'N':
        st->cur_n = atoi(line + 2);
        break;
    case 'E':
        st->in_eval = false;
        break;
    case 'C':
        st->total++;
        st->cur_done++;
        if (line[2] == '1')
            st->passed++;
        else if (verbose)
            printf("  FAIL %s:%s\n", st->name, line + 4 + (line[4] == 'l' ? 5 : 0));
        break;
    case 'S':
        st->skipped_at++;
        break;
    case 'L':
        if (verbose)
            printf("  NOTE %s: %s\n", st->name, line + 2);
        break;
    case 'D':
        st->in_eval = false;
        st->done = true;
        break;
    }
}

static void run_file_forked(runner_t *r, const test_file_t *f, file_stats_t *st)
{
    int skip = 0;
    for (;;) {
        int fds[2];
        if (pipe(fds)) {
            perror("pipe");
            exit(2);
        }
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            exit(2);
        }
        if (pid == 0) {
            close(fds[0]);
            sink_t k = {fds[1], NULL};
            r->sink = &k;
            run_file(r, f, skip);
            fflush(stdout);
            _exit(0);
        }
        close(fds[1]);
        FILE *in = fdopen(fds[0], "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, in)) > 0) {
            if (line[n - 1] == '\n')
                line[n - 1] = '\0';
            consume(st, line);
        }
        free(line);
        fclose(in);
        int status;
        waitpid(pid, &status, 0);
        if (st->done)
            return;
        st->crashes++;
        const char *how = WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exit";
        if (st->in_eval) {
            /* Died in an eval: its unreported cases fail (at least one),
             * and a new child carries on after it. */
            int missing = st->cur_n - st->cur_done;
            if (missing < 1 && st->cur_done == 0)
                missing = 1;
            if (missing < 0)
                missing = 0;
            st->total += missing;
            printf("  CRASH %s: line %d (%s, status %d); %d case(s) failed\n", st->name,
                   st->cur_line, how, status, missing);
            st->in_eval = false;
            skip = st->cur_eval + 1;
            continue;
        }
        /* Died in a load or clear, which a new child would replay: give up
         * on the rest of the file, one failed case per eval not run. */
        int left = (int)f->nevals - (st->cur_eval + 1);
        if (skip > st->cur_eval + 1)
            left = (int)f->nevals - skip;
        if (left < 0)
            left = 0;
        st->total += left;
        printf("  CRASH %s: outside an eval (%s, status %d); %d eval(s) not run\n", st->name, how,
               status, left);
        return;
    }
}

static void run_one(const char *path, const char *name, file_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->name = name;
    st->cur_eval = -1;
    size_t len;
    char *text = read_whole(path, &len);
    if (!text) {
        printf("  cannot read %s\n", path);
        return;
    }
    test_file_t f;
    memset(&f, 0, sizeof(f));
    sx_arena_init(&f.a);
    parse_file(&f, text);

    runner_t r;
    memset(&r, 0, sizeof(r));
    snprintf(r.base, sizeof(r.base), "/tmp/sx-conf-promql-XXXXXX");
    if (!mkdtemp(r.base)) {
        perror("mkdtemp");
        exit(2);
    }
    sx_promql_opts_default(&r.opts);
    r.opts.lookback_ms = 5 * 60000;
    r.opts.max_samples = 10000;
    r.opts.subquery_step_ms = 60000;
    r.opts.delayed_name_removal = true;
    /* Range-function windows over two or more series run on two threads,
     * so the parallel path (slicing, merging outputs and annotations) is
     * held to every case; SX_CONF_SERIAL=1 checks the serial path. */
    r.opts.parallelism = getenv("SX_CONF_SERIAL") ? 1 : 2;
    r.opts.parallel_min_series = 2;
    sx_arena_init(&r.a);

    const char *nofork = getenv("SX_CONF_NOFORK");
    if (nofork && *nofork && strcmp(nofork, "0")) {
        sink_t k = {-1, st};
        r.sink = &k;
        run_file(&r, &f, 0);
    } else {
        run_file_forked(&r, &f, st);
    }
    rm_tree(r.base);
    sx_arena_dispose(&r.a);
    for (size_t i = 0; i < f.n; i++) {
        cmd_t *c = &f.cmds[i];
        if (c->fail_re)
            pcre2_code_free(c->fail_re);
        for (int t = 0; t < X_NTYPES; t++)
            for (size_t j = 0; j < c->nexpect[t]; j++)
                if (c->expect[t][j].re)
                    pcre2_code_free(c->expect[t][j].re);
    }
    sx_arena_dispose(&f.a);
    free(text);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* The first number in the threshold file (lines starting with # are
 * comments). Returns -1 when there is none. */
static long read_threshold(const char *path)
{
    size_t len;
    char *t = read_whole(path, &len);
    if (!t)
        return -1;
    long v = -1;
    for (char *l = strtok(t, "\n"); l; l = strtok(NULL, "\n")) {
        l += strspn(l, " \t");
        if (*l == '#' || !*l)
            continue;
        v = strtol(l, NULL, 10);
        break;
    }
    free(t);
    return v;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *threshold_path = NULL;
    char **only = calloc((size_t)argc + 1, sizeof(char *));
    int nonly = 0;
    const char *env = getenv("SX_CONF_VERBOSE");
    verbose = env && *env && strcmp(env, "0");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v"))
            verbose = true;
        else if (!dir)
            dir = argv[i];
        else if (ends_with(argv[i], ".test"))
            only[nonly++] = argv[i];
        else
            threshold_path = argv[i];
    }
    if (!dir) {
        fprintf(stderr, "usage: %s <conformance dir> [threshold file] [file.test ...] [-v]\n",
                argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    sx_log_set_level(SX_LOG_WARN); /* no line per store opened */
    char tpath[4096];
    if (!threshold_path && getenv("SX_SOURCE_DIR")) {
        snprintf(tpath, sizeof(tpath), "%s/tests/conformance/promql_threshold.txt",
                 getenv("SX_SOURCE_DIR"));
        threshold_path = tpath;
    }

    char pdir[4096];
    snprintf(pdir, sizeof(pdir), "%s/promql", dir);
    char **files = NULL;
    size_t nfiles = 0;
    if (nonly) {
        files = only;
        nfiles = (size_t)nonly;
    } else {
        DIR *d = opendir(pdir);
        if (!d) {
            fprintf(stderr, "cannot open %s: %s\n", pdir, strerror(errno));
            return 2;
        }
        struct dirent *de;
        size_t cap = 0;
        while ((de = readdir(d))) {
            if (!ends_with(de->d_name, ".test"))
                continue;
            if (nfiles == cap) {
                cap = cap ? cap * 2 : 16;
                files = realloc(files, cap * sizeof(char *));
            }
            files[nfiles++] = strdup(de->d_name);
        }
        closedir(d);
        qsort(files, nfiles, sizeof(char *), cmp_strp);
    }

    int passed = 0, total = 0, skipped_at = 0, crashes = 0;
    for (size_t i = 0; i < nfiles; i++) {
        char path[8192];
        const char *name = files[i];
        if (strchr(name, '/') && access(name, R_OK) == 0) {
            snprintf(path, sizeof(path), "%s", name);
            name = strrchr(name, '/') + 1;
        } else {
            snprintf(path, sizeof(path), "%s/%s", pdir, name);
        }
        file_stats_t st;
        run_one(path, name, &st);
        printf("promql %s: %d/%d\n", name, st.passed, st.total);
        passed += st.passed;
        total += st.total;
        skipped_at += st.skipped_at;
        crashes += st.crashes;
    }
    long threshold = threshold_path ? read_threshold(threshold_path) : -1;
    printf("promql total: %d/%d passed (@-variant skipped for %d instant evals with "
           "step-variant functions, as Prometheus does; %d child crash(es))",
           passed, total, skipped_at, crashes);
    if (!nonly && threshold >= 0)
        printf("; threshold %ld", threshold);
    printf("\n");
    int rc = 0;
    if (!nonly) {
        if (threshold < 0 && threshold_path) {
            fprintf(stderr, "cannot read a threshold from %s\n", threshold_path);
            rc = 2;
        } else if (threshold >= 0 && passed < threshold) {
            printf("promql: %d passed is below the threshold %ld\n", passed, threshold);
            rc = 1;
        }
        for (size_t i = 0; i < nfiles; i++)
            free(files[i]);
        free(files);
    }
    free(only);
    return rc;
}
