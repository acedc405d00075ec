/* SPDX-License-Identifier: Apache-2.0 */
/* Span records by column: cutting a chunk's records into field columns and
 * joining them back (layout in spancol.h). */
#include "spancol.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/hash.h"
#include "../encoding/encoding.h"
#include "spanrec.h"

#define SPANCOL_VERSION 1

enum {
    C_BITS,
    C_TID,
    C_TIDTAB,
    C_SPAN,
    C_PARENT,
    C_PRAW,
    C_TIME,
    C_NAME,
    C_NAMETAB,
    C_MISC,
    C_ATTRS,
    C_EVL,
    C_RES,
    C_RESTAB,
    C_GROUPS,
    NCOLS
};

/* The columns read with a cursor, row after row, and the rows of a group:
 * where each group starts in them is kept, so that one trace's rows are
 * reached without walking the whole chunk. */
static const int walked[] = {C_TID,  C_PARENT, C_PRAW, C_TIME, C_NAME,
                             C_MISC, C_ATTRS,  C_EVL,  C_RES};
#define NWALKED (sizeof(walked) / sizeof(walked[0]))
#define GROUP 32

/* ---- Walking a record's fields ---- */

typedef struct cur {
    const unsigned char *p, *end;
    bool bad;
} cur_t;

static const unsigned char *take(cur_t *c, uint64_t n)
{
    if (c->bad || n > (uint64_t)(c->end - c->p)) {
        c->bad = true;
        return NULL;
    }
    const unsigned char *q = c->p;
    c->p += n;
    return q;
}

static uint64_t uv(cur_t *c)
{
    uint64_t v = 0;
    if (!c->bad && sx_uvarint_next(&c->p, c->end, &v))
        c->bad = true;
    return c->bad ? 0 : v;
}

static void skip_str(cur_t *c)
{
    take(c, uv(c));
}

/* A count of items of at least min bytes each; more than the bytes left
 * could hold is malformed (and would loop long on garbage). */
static uint64_t count(cur_t *c, size_t min)
{
    uint64_t k = uv(c);
    if (k > (uint64_t)(c->end - c->p) / min)
        c->bad = true;
    return c->bad ? 0 : k;
}

static void skip_attrs(cur_t *c)
{
    uint64_t k = count(c, 2);
    for (uint64_t i = 0; i < k && !c->bad; i++) {
        skip_str(c);
        const unsigned char *t = take(c, 1);
        switch (t ? *t : 0xff) {
        case 0: break;
        case 1:
        case 5:
        case 6:
        case 7: skip_str(c); break;
        case 2: take(c, 1); break;
        case 3: uv(c); break;
        case 4: take(c, 8); break;
        default: c->bad = true;
        }
    }
    uv(c);
}

static void skip_time(cur_t *c, int bits)
{
    if (bits & SX_SPANREC_START)
        uv(c);
    uv(c);
}

static void skip_time_start(cur_t *c)
{
    skip_time(c, SX_SPANREC_START);
}

static void skip_time_dur(cur_t *c)
{
    skip_time(c, 0);
}

static void skip_misc(cur_t *c)
{
    uv(c);
    uv(c);
    skip_str(c);
    skip_str(c);
    uv(c);
}

static void skip_evl(cur_t *c)
{
    uint64_t k = count(c, 4); /* time, name, attribute count, dropped */
    for (uint64_t i = 0; i < k && !c->bad; i++) {
        uv(c);
        skip_str(c);
        skip_attrs(c);
    }
    uv(c);
    k = count(c, 28); /* ids, state, attribute count, dropped, flags */
    for (uint64_t i = 0; i < k && !c->bad; i++) {
        take(c, 24);
        skip_str(c);
        skip_attrs(c);
        uv(c);
    }
    uv(c);
}

static void skip_res(cur_t *c)
{
    skip_attrs(c);
    skip_str(c);
    skip_str(c);
    skip_str(c);
    skip_attrs(c);
    skip_str(c);
}

/* ---- Interning ---- */

typedef struct dict_ent {
    const unsigned char *p;
    size_t n;
    uint32_t val;
} dict_ent_t;

typedef struct dict {
    dict_ent_t *e;
    uint32_t ne;
    uint32_t *slot; /* entry index + 1, 0 = empty */
    size_t mask;
} dict_t;

static void dict_init(dict_t *d, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    d->slot = sx_xcalloc(cap, sizeof(uint32_t));
    d->mask = cap - 1;
    d->e = sx_xmalloc((n ? n : 1) * sizeof(dict_ent_t));
    d->ne = 0;
}

static void dict_free(dict_t *d)
{
    free(d->slot);
    free(d->e);
}

/* The value of key p[0..n), or UINT32_MAX when absent and add is false;
 * when add is true, an absent key is added with value val (and val is
 * returned). At most n keys of dict_init are ever added. */
static uint32_t dict_put(dict_t *d, const unsigned char *p, size_t n, bool add, uint32_t val)
{
    size_t i = (size_t)sx_hash64(p, n) & d->mask;
    for (;; i = (i + 1) & d->mask) {
        uint32_t s = d->slot[i];
        if (!s)
            break;
        const dict_ent_t *e = &d->e[s - 1];
        if (e->n == n && memcmp(e->p, p, n) == 0)
            return e->val;
    }
    if (!add)
        return UINT32_MAX;
    d->e[d->ne] = (dict_ent_t){p, n, val};
    d->slot[i] = ++d->ne;
    return val;
}

/* ---- Encoding ---- */

typedef struct slice {
    const unsigned char *p;
    size_t n;
} slice_t;

typedef struct rec {
    const unsigned char *hex, *span, *parent;
    slice_t time, name, misc, attrs, evl, res;
    unsigned char bits;
} rec_t;

/* The bytes one field of c takes, walked by skip. */
static slice_t walk(cur_t *c, void (*skip)(cur_t *))
{
    const unsigned char *f = c->p;
    skip(c);
    return (slice_t){f, (size_t)(c->p - f)};
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Cut line l into r's fields; false when it is not a whole record. */
static bool cut(sx_str_t l, rec_t *r)
{
    cur_t c = {(const unsigned char *)l.ptr, (const unsigned char *)l.ptr + l.len, false};
    const unsigned char *h = take(&c, 2);
    if (!h || h[0] != SX_SPANREC_V1 ||
        (h[1] & ~(SX_SPANREC_PARENT | SX_SPANREC_START | SX_SPANREC_END)))
        return false;
    r->bits = h[1];
    if (!(r->hex = take(&c, 32)))
        return false;
    for (int i = 0; i < 32; i++)
        if (hexval(r->hex[i]) < 0)
            return false;
    r->span = take(&c, 8);
    r->parent = r->bits & SX_SPANREC_PARENT ? take(&c, 8) : NULL;
    r->time = walk(&c, r->bits & SX_SPANREC_START ? skip_time_start : skip_time_dur);
    r->name = walk(&c, skip_str);
    r->misc = walk(&c, skip_misc);
    r->attrs = walk(&c, skip_attrs);
    r->evl = walk(&c, skip_evl);
    r->res = walk(&c, skip_res);
    return !c.bad && c.p == c.end;
}

/* Write the index of key p[0..n) in d to idx; a key first seen gets the
 * next index and is appended to tab. */
static void put_interned(dict_t *d, sx_buf_t *idx, sx_buf_t *tab, const unsigned char *p,
                         size_t n)
{
    uint32_t before = d->ne;
    uint32_t v = dict_put(d, p, n, true, d->ne);
    if (d->ne != before)
        sx_buf_append(tab, p, n);
    sx_buf_put_uvarint(idx, v);
}

bool sx_spancol_encode(const sx_str_t *lines, size_t n, sx_buf_t *out)
{
    rec_t *r = sx_xmalloc((n ? n : 1) * sizeof(rec_t));
    for (size_t i = 0; i < n; i++)
        if (!cut(lines[i], &r[i])) {
            free(r);
            return false;
        }
    dict_t spans, tids, names, res;
    dict_init(&spans, n);
    dict_init(&tids, n);
    dict_init(&names, n);
    dict_init(&res, n);
    for (size_t i = 0; i < n; i++)
        dict_put(&spans, r[i].span, 8, true, (uint32_t)i);
    sx_buf_t col[NCOLS];
    memset(col, 0, sizeof(col));
    size_t at_group[NWALKED] = {0};
    for (size_t i = 0; i < n; i++) {
        const rec_t *x = &r[i];
        if (i && i % GROUP == 0)
            for (size_t k = 0; k < NWALKED; k++) {
                sx_buf_put_uvarint(&col[C_GROUPS], col[walked[k]].len - at_group[k]);
                at_group[k] = col[walked[k]].len;
            }
        sx_buf_putc(&col[C_BITS], (char)x->bits);
        unsigned char tid[16];
        for (int k = 0; k < 16; k++)
            tid[k] = (unsigned char)(hexval(x->hex[2 * k]) << 4 | hexval(x->hex[2 * k + 1]));
        /* The dictionary keeps pointers: key the trace id by its hex text
         * (in the line) and write the binary form to the table. */
        uint32_t before = tids.ne;
        uint32_t v = dict_put(&tids, x->hex, 32, true, tids.ne);
        if (tids.ne != before)
            sx_buf_append(&col[C_TIDTAB], tid, 16);
        sx_buf_put_uvarint(&col[C_TID], v);
        sx_buf_append(&col[C_SPAN], x->span, 8);
        if (x->parent) {
            uint32_t at = dict_put(&spans, x->parent, 8, false, 0);
            if (at == UINT32_MAX) {
                sx_buf_put_uvarint(&col[C_PARENT], 0);
                sx_buf_append(&col[C_PRAW], x->parent, 8);
            } else {
                sx_buf_put_uvarint(&col[C_PARENT], (uint64_t)at + 1);
            }
        }
        sx_buf_append(&col[C_TIME], x->time.p, x->time.n);
        put_interned(&names, &col[C_NAME], &col[C_NAMETAB], x->name.p, x->name.n);
        sx_buf_append(&col[C_MISC], x->misc.p, x->misc.n);
        sx_buf_append(&col[C_ATTRS], x->attrs.p, x->attrs.n);
        sx_buf_append(&col[C_EVL], x->evl.p, x->evl.n);
        put_interned(&res, &col[C_RES], &col[C_RESTAB], x->res.p, x->res.n);
    }
    sx_buf_putc(out, SPANCOL_VERSION);
    sx_buf_put_uvarint(out, NCOLS);
    for (int k = 0; k < NCOLS; k++)
        sx_buf_put_uvarint(out, col[k].len);
    for (int k = 0; k < NCOLS; k++) {
        sx_buf_append(out, col[k].ptr, col[k].len);
        sx_buf_dispose(&col[k]);
    }
    dict_free(&spans);
    dict_free(&tids);
    dict_free(&names);
    dict_free(&res);
    free(r);
    return true;
}

/* ---- Decoding ---- */

typedef struct cols {
    cur_t c[NCOLS];
    const unsigned char *bits, *spans, *tidtab;
    size_t n, ntids;
    slice_t *names, *res; /* the tables' entries, walked first */
    size_t nnames, nres;
} cols_t;

/* Walk table column c (entries walked by skip) into ents (room for max). */
static bool walk_table(cur_t *c, void (*skip)(cur_t *), slice_t *ents, size_t max, size_t *ne)
{
    *ne = 0;
    while (c->p < c->end && !c->bad) {
        if (*ne == max)
            return false;
        ents[(*ne)++] = walk(c, skip);
    }
    return !c->bad;
}

/* Parse the header and tables of column form in[0..len) of n rows. */
static bool open_cols(const char *in, size_t len, size_t n, cols_t *k)
{
    memset(k, 0, sizeof(*k));
    cur_t h = {(const unsigned char *)in, (const unsigned char *)in + len, false};
    const unsigned char *v = take(&h, 1);
    if (!v || *v != SPANCOL_VERSION || uv(&h) != NCOLS)
        return false;
    uint64_t lens[NCOLS];
    for (int i = 0; i < NCOLS; i++)
        lens[i] = uv(&h);
    for (int i = 0; i < NCOLS; i++) {
        const unsigned char *p = take(&h, lens[i]);
        k->c[i] = (cur_t){p, p ? p + lens[i] : NULL, h.bad};
    }
    if (h.bad || h.p != h.end || lens[C_BITS] != n || lens[C_SPAN] != 8 * (uint64_t)n ||
        lens[C_TIDTAB] % 16 || lens[C_TIDTAB] / 16 > n)
        return false;
    k->n = n;
    k->bits = k->c[C_BITS].p;
    k->spans = k->c[C_SPAN].p;
    k->tidtab = k->c[C_TIDTAB].p;
    k->ntids = lens[C_TIDTAB] / 16;
    k->names = sx_xmalloc(2 * (n ? n : 1) * sizeof(slice_t));
    k->res = k->names + n;
    return walk_table(&k->c[C_NAMETAB], skip_str, k->names, n, &k->nnames) &&
           walk_table(&k->c[C_RESTAB], skip_res, k->res, n, &k->nres);
}

/* Walk one field of column c with skip, appending its bytes to out when
 * keep. */
static void field(cur_t *c, void (*skip)(cur_t *), bool keep, sx_buf_t *out)
{
    slice_t f = walk(c, skip);
    if (keep && !c->bad)
        sx_buf_append(out, f.p, f.n);
}

/* An index into a table of ne entries, read from c. */
static size_t table_index(cur_t *c, size_t ne)
{
    uint64_t v = uv(c);
    if (v >= ne)
        c->bad = true;
    return c->bad ? 0 : (size_t)v;
}

/* Read row i from the cursors, appending its record to out when keep.
 * False when the columns are malformed. */
static bool row(cols_t *k, size_t i, bool keep, sx_buf_t *out)
{
    cur_t *c = k->c;
    int bits = k->bits[i];
    if (bits & ~(SX_SPANREC_PARENT | SX_SPANREC_START | SX_SPANREC_END))
        return false;
    size_t t = table_index(&c[C_TID], k->ntids);
    const unsigned char *pid = NULL;
    if (bits & SX_SPANREC_PARENT) {
        uint64_t at = uv(&c[C_PARENT]);
        pid = at == 0 ? take(&c[C_PRAW], 8) : at <= k->n ? k->spans + 8 * (at - 1) : NULL;
        if (!pid)
            return false;
    }
    if (keep && !c[C_TID].bad && !c[C_PARENT].bad) {
        char head[2 + 32 + 16];
        head[0] = SX_SPANREC_V1;
        head[1] = (char)bits;
        sx_span_id_hex(k->tidtab + 16 * t, 16, head + 2); /* a NUL at head[34] */
        memcpy(head + 34, k->spans + 8 * i, 8);
        if (pid)
            memcpy(head + 42, pid, 8);
        sx_buf_append(out, head, pid ? 50 : 42);
    }
    field(&c[C_TIME], bits & SX_SPANREC_START ? skip_time_start : skip_time_dur, keep, out);
    size_t nm = table_index(&c[C_NAME], k->nnames);
    if (keep && !c[C_NAME].bad)
        sx_buf_append(out, k->names[nm].p, k->names[nm].n);
    field(&c[C_MISC], skip_misc, keep, out);
    field(&c[C_ATTRS], skip_attrs, keep, out);
    field(&c[C_EVL], skip_evl, keep, out);
    size_t rs = table_index(&c[C_RES], k->nres);
    if (keep && !c[C_RES].bad)
        sx_buf_append(out, k->res[rs].p, k->res[rs].n);
    for (size_t w = 0; w < NWALKED; w++)
        if (c[walked[w]].bad)
            return false;
    return true;
}

/* Point lines at their bytes in out, rows one after the other. */
static void set_lines(const sx_buf_t *out, size_t n, sx_str_t *lines)
{
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        lines[i].ptr = out->ptr ? out->ptr + off : "";
        off += lines[i].len;
    }
}

/* Every row, checking that groups start where the groups column says. */
static bool decode_all(cols_t *k, sx_buf_t *out, sx_str_t *lines)
{
    const unsigned char *start[NWALKED];
    for (size_t w = 0; w < NWALKED; w++)
        start[w] = k->c[walked[w]].p;
    for (size_t i = 0; i < k->n; i++) {
        if (i && i % GROUP == 0)
            for (size_t w = 0; w < NWALKED; w++) {
                uint64_t d = uv(&k->c[C_GROUPS]);
                if (k->c[C_GROUPS].bad || d != (uint64_t)(k->c[walked[w]].p - start[w]))
                    return false;
                start[w] = k->c[walked[w]].p;
            }
        size_t at = out->len;
        if (!row(k, i, true, out))
            return false;
        lines[i].len = out->len - at;
    }
    for (int c = 0; c < NCOLS; c++)
        if (c != C_BITS && c != C_SPAN && c != C_TIDTAB && k->c[c].p != k->c[c].end)
            return false;
    return true;
}

/* The rows of trace table entry want: each reached from the start of its
 * group, the rows before it in the group walked without copying. */
static bool decode_trace(cols_t *k, size_t want, sx_buf_t *out, sx_str_t *lines)
{
    size_t ngroups = k->n ? (k->n - 1) / GROUP + 1 : 0;
    size_t *offs = sx_xcalloc(ngroups ? ngroups * NWALKED : 1, sizeof(size_t));
    bool ok = true;
    for (size_t g = 1; g < ngroups && ok; g++)
        for (size_t w = 0; w < NWALKED; w++) {
            uint64_t d = uv(&k->c[C_GROUPS]);
            size_t prev = offs[(g - 1) * NWALKED + w];
            cur_t *c = &k->c[walked[w]];
            if (k->c[C_GROUPS].bad || d > (uint64_t)(c->end - c->p) - prev) {
                ok = false;
                break;
            }
            offs[g * NWALKED + w] = prev + (size_t)d;
        }
    const unsigned char *base[NWALKED];
    for (size_t w = 0; w < NWALKED; w++)
        base[w] = k->c[walked[w]].p;
    cur_t tid = k->c[C_TID];
    size_t next = 0; /* the row the cursors are at */
    for (size_t i = 0; i < k->n && ok; i++) {
        lines[i].len = 0;
        if (table_index(&tid, k->ntids) != want) {
            ok = !tid.bad;
            continue;
        }
        size_t g = i / GROUP;
        if (next > i || next / GROUP < g) {
            for (size_t w = 0; w < NWALKED; w++)
                k->c[walked[w]].p = base[w] + offs[g * NWALKED + w];
            next = g * GROUP;
        }
        for (; next < i && ok; next++)
            ok = row(k, next, false, out);
        size_t at = out->len;
        ok = ok && row(k, i, true, out);
        lines[i].len = out->len - at;
        next = i + 1;
    }
    free(offs);
    return ok;
}

/* The index in tidtab of the trace id whose hex text is key, or -1. */
static long key_index(sx_str_t key, const cols_t *k)
{
    unsigned char id[16];
    if (key.len != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        int hi = hexval(key.ptr[2 * i]), lo = hexval(key.ptr[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        id[i] = (unsigned char)(hi << 4 | lo);
    }
    for (size_t e = 0; e < k->ntids; e++)
        if (memcmp(k->tidtab + 16 * e, id, 16) == 0)
            return (long)e;
    return -1;
}

int sx_spancol_decode(const char *in, size_t len, size_t n, sx_str_t key, sx_buf_t *out,
                      sx_str_t *lines)
{
    cols_t k;
    sx_buf_clear(out);
    bool ok = open_cols(in, len, n, &k);
    if (ok && key.len) {
        /* Looking for one trace: only its rows are rebuilt, and none when
         * the chunk does not hold it (a bloom filter's false positive). */
        long want = key_index(key, &k);
        if (want < 0)
            for (size_t i = 0; i < n; i++)
                lines[i].len = 0;
        else
            ok = decode_trace(&k, (size_t)want, out, lines);
    } else if (ok) {
        ok = decode_all(&k, out, lines);
    }
    free(k.names);
    if (!ok)
        return -1;
    set_lines(out, n, lines);
    return 0;
}
