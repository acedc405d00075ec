/* SPDX-License-Identifier: Apache-2.0 */
/* Values during PromQL evaluation: step slots, series, label-set edits,
 * annotations, errors and the sample limit. Everything is allocated in the
 * query arena; label arrays are shared between series and never written
 * through, so an edit always makes a copy. */
#include "promql_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../core/hash.h"
#include "hist_ops.h"

double *sx_pq__steps_new(pq_ctx_t *c)
{
    double *v = sx_arena_alloc(c->a, (c->nsteps ? c->nsteps : 1) * sizeof(double));
    double absent = pq_absent();
    for (size_t i = 0; i < c->nsteps; i++)
        v[i] = absent;
    return v;
}

pq_series_t *sx_pq__series_new(pq_ctx_t *c, size_t n)
{
    return sx_arena_calloc(c->a, n ? n : 1, sizeof(pq_series_t));
}

sx_str_t sx_pq__label_get(const sx_label_t *l, uint32_t n, sx_str_t name)
{
    for (uint32_t i = 0; i < n; i++)
        if (sx_str_eq(l[i].name, name))
            return l[i].value;
    return SX_STR_NULL;
}

void sx_pq__labels_set(pq_ctx_t *c, const sx_label_t *l, uint32_t n, sx_str_t name,
                       sx_str_t value, sx_label_t **out, uint32_t *nout)
{
    sx_label_t *r = sx_arena_alloc(c->a, (n + 1) * sizeof(*r));
    uint32_t k = 0;
    bool placed = false;
    for (uint32_t i = 0; i < n; i++) {
        int cmp = sx_str_cmp(l[i].name, name);
        if (!placed && cmp >= 0) {
            placed = true;
            if (value.len)
                r[k++] = (sx_label_t){name, value};
            if (cmp == 0)
                continue;
        }
        r[k++] = l[i];
    }
    if (!placed && value.len)
        r[k++] = (sx_label_t){name, value};
    *out = r;
    *nout = k;
}

static const sx_str_t name_label = {"__name__", 8};

void sx_pq__labels_drop_name(pq_ctx_t *c, const sx_label_t *l, uint32_t n, sx_label_t **out,
                             uint32_t *nout)
{
    for (uint32_t i = 0; i < n; i++) {
        if (sx_str_eq(l[i].name, name_label)) {
            sx_label_t *r = sx_arena_alloc(c->a, (n ? n : 1) * sizeof(*r));
            memcpy(r, l, i * sizeof(*r));
            memcpy(r + i, l + i + 1, (n - i - 1) * sizeof(*r));
            *out = r;
            *nout = n - 1;
            return;
        }
    }
    *out = (sx_label_t *)l;
    *nout = n;
}

int sx_pq__labels_cmp(const sx_label_t *a, uint32_t na, const sx_label_t *b, uint32_t nb)
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

uint64_t sx_pq__labels_hash(const sx_label_t *l, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (uint32_t i = 0; i < n; i++) {
        h = sx_hash64_seed(l[i].name.ptr, l[i].name.len, h) * 31 + 0xff;
        h = sx_hash64_seed(l[i].value.ptr, l[i].value.len, h) * 31 + 0xfe;
    }
    return h;
}

sx_str_t sx_pq__float_str(pq_ctx_t *c, double v)
{
    char tmp[SX_FLOAT_BUF];
    int n = sx_format_float(tmp, v);
    return (sx_str_t){sx_arena_strndup(c->a, tmp, (size_t)n), (size_t)n};
}

/* Go's %g for the few annotations that print a float: the shortest
 * digits that round-trip, in exponent form below 1e-4 and from 1e6 on
 * (Go's eprec of 6 for the shortest format). */
const char *sx_pq__go_g(pq_ctx_t *c, double v)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    char e[40];
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    const char *x = strchr(e, 'e');
    int exp = x ? atoi(x + 1) : 0;
    if (exp < -4 || exp >= 6)
        return sx_arena_strndup(c->a, e, strlen(e));
    int frac = p - 1 - exp;
    return sx_arena_sprintf(c->a, "%.*f", frac > 0 ? frac : 0, v);
}

/* Go's %q of a string: quoted, with invalid UTF-8 bytes as \xNN and
 * control characters escaped. */
const char *sx_pq__go_quote(pq_ctx_t *c, sx_str_t s)
{
    sx_buf_t b = {0};
    sx_buf_putc(&b, '"');
    for (size_t i = 0; i < s.len;) {
        unsigned char ch = (unsigned char)s.ptr[i];
        size_t n = ch < 0x80 ? 1 : (ch >> 5) == 6 ? 2 : (ch >> 4) == 14 ? 3 : (ch >> 3) == 30 ? 4 : 0;
        if (n > 1 && i + n <= s.len && sx_utf8_valid(s.ptr + i, n)) {
            sx_buf_append(&b, s.ptr + i, n);
            i += n;
            continue;
        }
        static const char named[] = "\a\b\f\n\r\t\v", letters[] = "abfnrtv";
        const char *nm = ch ? strchr(named, ch) : NULL;
        if (ch == '"' || ch == '\\')
            sx_buf_printf(&b, "\\%c", ch);
        else if (nm)
            sx_buf_printf(&b, "\\%c", letters[nm - named]);
        else if (ch < 0x20 || ch >= 0x7f)
            sx_buf_printf(&b, "\\x%02x", ch);
        else
            sx_buf_putc(&b, (char)ch);
        i++;
    }
    sx_buf_putc(&b, '"');
    const char *r = sx_arena_strndup(c->a, b.ptr, b.len);
    sx_buf_dispose(&b);
    return r;
}

/* Prometheus' FloatHistogram.String(): count, sum, then the non-empty
 * buckets from the most negative up, each as an interval and its count. */
sx_str_t sx_pq__hist_string(pq_ctx_t *c, const sx_promql_hist_t *h)
{
    sx_buf_t b = {0};
    sx_buf_printf(&b, "{count:%s, sum:%s", sx_pq__go_g(c, h->count), sx_pq__go_g(c, h->sum));
    sx_promql_bucket_t *bk;
    size_t n = sx_promql_hist_buckets(h, c->a, &bk);
    for (size_t i = 0; i < n; i++) {
        if (bk[i].count == 0)
            continue;
        /* negative [l,u), zero [l,u], positive (l,u] */
        sx_buf_printf(&b, ", %c%s,%s%c:%s", bk[i].side > 0 ? '(' : '[',
                      sx_pq__go_g(c, bk[i].lower), sx_pq__go_g(c, bk[i].upper),
                      bk[i].side < 0 ? ')' : ']', sx_pq__go_g(c, bk[i].count));
    }
    sx_buf_putc(&b, '}');
    sx_str_t r = {sx_arena_strndup(c->a, b.ptr, b.len), b.len};
    sx_buf_dispose(&b);
    return r;
}

int sx_pq__fail(pq_ctx_t *c, int code, const char *fmt, ...)
{
    if (c->err) {
        va_list ap;
        va_start(ap, fmt);
        c->err->code = code;
        vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

static void note_append(pq_ctx_t *c, int which, const char *msg)
{
    const char ***list = which ? &c->notes.infos : &c->notes.warnings;
    size_t *n = which ? &c->notes.ninfos : &c->notes.nwarnings;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], msg) == 0)
            return;
    if (*n == c->_notes_cap[which]) {
        size_t cap = c->_notes_cap[which] ? 2 * c->_notes_cap[which] : 4;
        *list = sx_arena_realloc(c->a, (void *)*list, *n * sizeof(char *), cap * sizeof(char *));
        c->_notes_cap[which] = cap;
    }
    (*list)[(*n)++] = msg;
}

void sx_pq__note_add_raw(pq_ctx_t *c, bool info, const char *msg)
{
    note_append(c, info ? 1 : 0, sx_arena_strndup(c->a, msg, strlen(msg)));
}

static void note_add(pq_ctx_t *c, int which, const char *prefix, const char *fmt, va_list ap)
{
    char body[1024];
    vsnprintf(body, sizeof(body), fmt, ap);
    note_append(c, which, sx_arena_sprintf(c->a, "%s%s", prefix, body));
}

void sx_pq__warn(pq_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note_add(c, 0, "PromQL warning: ", fmt, ap);
    va_end(ap);
}

void sx_pq__info(pq_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    note_add(c, 1, "PromQL info: ", fmt, ap);
    va_end(ap);
}

int sx_pq__samples_add(pq_ctx_t *c, int64_t n)
{
    c->samples += n;
    if (n > 0)
        c->samples_total += n;
    if (c->samples > c->peak)
        c->peak = c->samples;
    if (c->opts->max_samples > 0 && c->samples > c->opts->max_samples)
        return sx_pq__fail(c, SX_ELIMIT,
                           "query processing would load too many samples into memory in query "
                           "execution");
    return 0;
}

int sx_pq__check(pq_ctx_t *c)
{
    if ((++c->_tick & 255) != 0)
        return 0;
    if (c->opts->cancel && atomic_load(c->opts->cancel))
        return sx_pq__fail(c, SX_ECANCELED, "query was canceled");
    if (c->opts->deadline_ns) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec > c->opts->deadline_ns)
            return sx_pq__fail(c, SX_ETIMEOUT, "query timed out in query execution");
    }
    return 0;
}
