/* SPDX-License-Identifier: Apache-2.0 */
/* The PromQL evaluator. It walks the syntax tree once per query and
 * evaluates every node at all steps together: a selector reads each
 * series' raw points once and fills one slot per step, aggregations and
 * binary operators work slot by slot, range-vector functions stream one
 * series at a time through their window callback so that raw points are
 * never all in memory. Semantics follow Prometheus 3: left-open ranges
 * (t - range, t], a lookback of opts->lookback_ms, stale markers ending a
 * series, delayed __name__ removal when enabled. */
#include "promql_int.h"

#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>

#include "hist.h"
#include "hist_ops.h"

static const sx_str_t name_label = {"__name__", 8};

static int eval(pq_ctx_t *c, const pq_node_t *n, pq_value_t *out);
static void merge_notes(pq_ctx_t *c, const sx_promql_notes_t *n);

/* ---- Label-set map: (labels) -> index, open addressing ---- */

typedef struct lmap_slot {
    uint64_t h;
    const sx_label_t *l;
    uint32_t nl;
    uint32_t idx; /* UINT32_MAX = empty */
} lmap_slot_t;

typedef struct lmap {
    lmap_slot_t *slots;
    size_t cap, n;
} lmap_t;

static void lmap_init(pq_ctx_t *c, lmap_t *m, size_t hint)
{
    size_t cap = 16;
    while (cap < hint * 2)
        cap *= 2;
    m->slots = sx_arena_alloc(c->a, cap * sizeof(*m->slots));
    for (size_t i = 0; i < cap; i++)
        m->slots[i].idx = UINT32_MAX;
    m->cap = cap;
    m->n = 0;
}

/* The index stored for l, or UINT32_MAX; with add, store idx when absent
 * and return it. */
static uint32_t lmap_find(pq_ctx_t *c, lmap_t *m, const sx_label_t *l, uint32_t nl, bool add,
                          uint32_t idx)
{
    if (add && (m->n + 1) * 2 > m->cap) {
        lmap_t bigger;
        lmap_init(c, &bigger, m->cap);
        for (size_t i = 0; i < m->cap; i++) {
            lmap_slot_t *s = &m->slots[i];
            if (s->idx == UINT32_MAX)
                continue;
            size_t j = s->h & (bigger.cap - 1);
            while (bigger.slots[j].idx != UINT32_MAX)
                j = (j + 1) & (bigger.cap - 1);
            bigger.slots[j] = *s;
        }
        bigger.n = m->n;
        *m = bigger;
    }
    uint64_t h = sx_pq__labels_hash(l, nl);
    size_t j = h & (m->cap - 1);
    for (;;) {
        lmap_slot_t *s = &m->slots[j];
        if (s->idx == UINT32_MAX) {
            if (!add)
                return UINT32_MAX;
            *s = (lmap_slot_t){h, l, nl, idx};
            m->n++;
            return idx;
        }
        if (s->h == h && sx_pq__labels_cmp(s->l, s->nl, l, nl) == 0)
            return s->idx;
        j = (j + 1) & (m->cap - 1);
    }
}

/* ---- Small helpers ---- */

static double *scalar_fill(pq_ctx_t *c, double v)
{
    double *r = sx_arena_alloc(c->a, (c->nsteps ? c->nsteps : 1) * sizeof(double));
    for (size_t i = 0; i < c->nsteps; i++)
        r[i] = v;
    return r;
}

static const pq_node_t *unparen(const pq_node_t *n)
{
    while (n && n->kind == PQ_PAREN)
        n = n->paren.expr;
    return n;
}

/* Labels with only the listed names (keep) or without them and without
 * __name__ (drop), for grouping and vector matching. */
static void labels_subset(pq_ctx_t *c, const sx_label_t *l, uint32_t n, const sx_str_t *names,
                          size_t nnames, bool keep, sx_label_t **out, uint32_t *nout)
{
    sx_label_t *r = sx_arena_alloc(c->a, (n ? n : 1) * sizeof(*r));
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool listed = false;
        for (size_t j = 0; j < nnames && !listed; j++)
            listed = sx_str_eq(l[i].name, names[j]);
        if (keep ? listed : (!listed && !sx_str_eq(l[i].name, name_label)))
            r[k++] = l[i];
    }
    *out = r;
    *nout = k;
}

/* Reference time of step i for a selector or subquery modifier. */
static int64_t mod_ref(const pq_ctx_t *c, const pq_mod_t *m, size_t i, int64_t offset)
{
    int64_t t;
    switch (m->at) {
    case PQ_AT_TIME: t = m->at_ms; break;
    case PQ_AT_START: t = c->qstart; break;
    case PQ_AT_END: t = c->qend; break;
    default: t = c->ts[i]; break;
    }
    return t - offset;
}

static void ref_bounds(const pq_ctx_t *c, const pq_mod_t *m, int64_t offset, int64_t *lo,
                       int64_t *hi)
{
    if (m->at != PQ_AT_NONE || c->nsteps == 0) {
        *lo = *hi = mod_ref(c, m, 0, offset);
        return;
    }
    *lo = c->ts[0] - offset;
    *hi = c->ts[c->nsteps - 1] - offset;
}

/* ---- Reading series ---- */

typedef struct sel_iter {
    uint32_t *ids;
    size_t n;
} sel_iter_t;

static int sel_select(pq_ctx_t *c, const pq_node_t *s, int64_t mint, int64_t maxt, sel_iter_t *it)
{
    it->ids = NULL;
    it->n = 0;
    if (!c->db || mint > maxt)
        return 0;
    sx_series_set_t set;
    int rc = sx_tsdb_select(c->db, s->sel.m, s->sel.nm, mint, maxt, c->a, &set);
    if (rc)
        return sx_pq__fail(c, rc, "cannot select series: %s", sx_strerror(rc));
    it->ids = set.ids;
    it->n = set.n;
    return 0;
}

/* Read one series' raw points in [mint, maxt] into scratch arena tmp:
 * floats without stale markers, decoded histograms, and (for the lookback
 * rule) the stale markers' times merged in as PQ_ABSENT floats when
 * keep_stale is set. */
typedef struct raw {
    int64_t *t;
    double *v;
    size_t n;
    int64_t *ht;
    sx_promql_hist_t **h;
    size_t nh;
} raw_t;

static int read_raw(pq_ctx_t *c, uint32_t id, int64_t mint, int64_t maxt, sx_arena_t *tmp,
                    bool keep_stale, raw_t *r)
{
    sx_series_data_t d;
    memset(r, 0, sizeof(*r));
    int rc = sx_tsdb_series_read(c->db, id, mint, maxt, tmp, &d);
    if (rc)
        return sx_pq__fail(c, rc, "cannot read series: %s", sx_strerror(rc));
    r->t = d.ts;
    r->v = d.v;
    size_t k = 0;
    for (size_t i = 0; i < d.n; i++) {
        double v = d.v[i];
        if (sx_is_stale_nan(v)) {
            if (!keep_stale)
                continue;
            v = pq_absent();
        } else if (isnan(v)) {
            v = NAN; /* canonical: never the absent payload */
        }
        r->t[k] = d.ts[i];
        r->v[k++] = v;
    }
    r->n = k;
    if (d.nhists) {
        r->ht = sx_arena_alloc(tmp, d.nhists * sizeof(int64_t));
        r->h = sx_arena_alloc(tmp, d.nhists * sizeof(*r->h));
        for (size_t i = 0; i < d.nhists; i++) {
            sx_promql_hist_t *h = sx_arena_alloc(c->a, sizeof(*h));
            sx_err_t e;
            if (sx_promql_hist_decode(d.hists[i].blob, c->a, h, &e) != 0)
                continue;
            r->ht[r->nh] = d.hists[i].ts;
            r->h[r->nh++] = h;
        }
    }
    return 0;
}

static int series_labels(pq_ctx_t *c, uint32_t id, sx_label_t **l, uint32_t *n)
{
    int rc = sx_tsdb_series_labels(c->db, id, c->a, l, n);
    if (rc)
        return sx_pq__fail(c, rc, "cannot read series labels: %s", sx_strerror(rc));
    return 0;
}

/* ---- Splitting an evaluation over threads ---- */

/* Threads to split nseries series over (1: none): enough series, or fewer
 * with many steps each (a range query over a few hundred series). */
static int split_threads(const pq_ctx_t *c, size_t nseries)
{
    int nthreads = c->opts->parallelism > 8 ? 8 : c->opts->parallelism;
    size_t min_series = c->opts->parallel_min_series ? c->opts->parallel_min_series : 512;
    bool big = nseries >= min_series || (nseries >= min_series / 8 && nseries * c->nsteps >= 32768);
    return nthreads >= 2 && big && nseries >= (size_t)nthreads ? nthreads : 1;
}

/* A worker's context: c's, with its own arena, error and annotations. */
static void worker_ctx(pq_ctx_t *w, const pq_ctx_t *c, sx_arena_t *a, sx_err_t *err)
{
    sx_arena_init(a);
    sx_err_clear(err);
    *w = *c;
    w->a = a;
    w->err = err;
    memset(&w->notes, 0, sizeof(w->notes));
    w->_notes_cap[0] = w->_notes_cap[1] = 0;
}

/* After a worker ended: its error (the first one wins) and annotations
 * become c's. */
static int worker_joined(pq_ctx_t *c, int rc, int wrc, const pq_ctx_t *w)
{
    if (wrc && !rc) {
        rc = wrc;
        sx_pq__fail(c, rc, "%s", w->err->msg[0] ? w->err->msg : sx_strerror(rc));
    }
    merge_notes(c, &w->notes);
    return rc;
}

/* ---- Instant vector selector ---- */

/* Series ids[from, to) of an instant vector selector into out->s (room
 * for to - from series), in order, skipping those with no point. */
static int vsel_series(pq_ctx_t *c, const pq_node_t *n, bool want_ts, int64_t off, int64_t lo,
                       int64_t hi, const uint32_t *ids, size_t from, size_t to, pq_value_t *out)
{
    int rc = 0;
    int64_t lb = c->opts->lookback_ms;
    sx_arena_t tmp;
    sx_arena_init(&tmp);
    for (size_t k = from; k < to && rc == 0; k++) {
        sx_arena_reset(&tmp);
        raw_t r;
        if ((rc = read_raw(c, ids[k], lo - lb + 1, hi, &tmp, true, &r)))
            break;
        double *v = NULL;
        sx_promql_hist_t **hv = NULL;
        int64_t *tsv = NULL;
        size_t present = 0, fi = 0, hj = 0;
        for (size_t i = 0; i < c->nsteps; i++) {
            int64_t ref = mod_ref(c, &n->sel.mod, i, off);
            /* Points are in time order and refs ascend (or repeat). */
            if (n->sel.mod.at != PQ_AT_NONE) {
                fi = 0;
                hj = 0;
            }
            while (fi < r.n && r.t[fi] <= ref)
                fi++;
            while (hj < r.nh && r.ht[hj] <= ref)
                hj++;
            /* Latest point at or before ref among floats and histograms. */
            bool have_f = fi > 0 && r.t[fi - 1] > ref - lb;
            bool have_h = hj > 0 && r.ht[hj - 1] > ref - lb;
            if (have_f && have_h) {
                if (r.ht[hj - 1] > r.t[fi - 1])
                    have_f = false;
                else
                    have_h = false;
            }
            if (have_f && pq_is_absent(r.v[fi - 1]))
                have_f = false; /* stale marker */
            if (!have_f && !have_h)
                continue;
            if (!v)
                v = sx_pq__steps_new(c);
            if (have_h) {
                if (!hv)
                    hv = sx_arena_calloc(c->a, c->nsteps, sizeof(*hv));
                hv[i] = r.h[hj - 1];
                v[i] = 0;
            } else {
                v[i] = r.v[fi - 1];
            }
            if (want_ts) {
                if (!tsv)
                    tsv = sx_arena_calloc(c->a, c->nsteps, sizeof(*tsv));
                tsv[i] = have_h ? r.ht[hj - 1] : r.t[fi - 1];
            }
            present++;
        }
        if (!present)
            continue;
        if ((rc = sx_pq__samples_add(c, (int64_t)present)))
            break;
        pq_series_t *s = &out->s[out->n++];
        if ((rc = series_labels(c, ids[k], &s->labels, &s->nlabels)))
            break;
        s->v = v;
        s->h = hv;
        s->ts = tsv;
        if ((rc = sx_pq__check(c)))
            break;
    }
    sx_arena_dispose(&tmp);
    return rc;
}

/* Half of a selector's series, read on a thread of its own. */
typedef struct vjob {
    pq_ctx_t ctx;
    sx_arena_t arena;
    sx_err_t err;
    const pq_node_t *n;
    bool want_ts;
    int64_t off, lo, hi;
    const uint32_t *ids;
    size_t from, to;
    pq_value_t out;
    int rc;
} vjob_t;

static void *vjob_run(void *p)
{
    vjob_t *j = p;
    j->rc = vsel_series(&j->ctx, j->n, j->want_ts, j->off, j->lo, j->hi, j->ids, j->from, j->to,
                        &j->out);
    return NULL;
}

static int eval_vsel(pq_ctx_t *c, const pq_node_t *n, bool want_ts, pq_value_t *out)
{
    int64_t off;
    int rc = sx_pq__offset_eval(&n->sel.mod, c->qstep, &off, c->err);
    if (rc)
        return rc;
    int64_t lo, hi;
    ref_bounds(c, &n->sel.mod, off, &lo, &hi);
    int64_t lb = c->opts->lookback_ms;
    sel_iter_t it;
    if ((rc = sel_select(c, n, lo - lb + 1, hi, &it)))
        return rc;
    out->type = SX_PROMQL_VECTOR;
    out->s = sx_pq__series_new(c, it.n);
    out->n = 0;
    if (c->nsteps < 2 || split_threads(c, it.n) < 2)
        return vsel_series(c, n, want_ts, off, lo, hi, it.ids, 0, it.n, out);
    /* A range query over many series: the second half on another thread,
     * its series, values and notes adopted afterwards, in order. */
    size_t half = it.n / 2;
    vjob_t *j = sx_xcalloc(1, sizeof(*j));
    worker_ctx(&j->ctx, c, &j->arena, &j->err); /* its sample count starts from c's */
    j->n = n;
    j->want_ts = want_ts;
    j->off = off;
    j->lo = lo;
    j->hi = hi;
    j->ids = it.ids;
    j->from = half;
    j->to = it.n;
    j->out.s = sx_pq__series_new(c, it.n - half);
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, vjob_run, j) == 0;
    int64_t base = c->samples;
    rc = vsel_series(c, n, want_ts, off, lo, hi, it.ids, 0, half, out);
    if (threaded)
        pthread_join(th, NULL);
    else
        vjob_run(j);
    rc = worker_joined(c, rc, j->rc, &j->ctx);
    if (!rc) {
        for (size_t i = 0; i < j->out.n; i++)
            out->s[out->n++] = j->out.s[i];
        /* The other half's samples on top of this one's, against the limit. */
        rc = sx_pq__samples_add(c, j->ctx.samples - base);
        sx_arena_adopt(c->a, &j->arena);
    }
    sx_arena_dispose(&j->arena);
    free(j);
    return rc;
}

/* ---- Range vectors: selectors and subqueries ---- */

/* A range-vector argument being walked one series at a time. */
typedef struct rsrc {
    const pq_node_t *node; /* PQ_MSEL or PQ_SUBQUERY */
    int64_t range;
    int64_t *wend;
    /* selector */
    sel_iter_t it;
    int64_t mint, maxt;
    sx_arena_t tmp;
    /* subquery */
    pq_value_t inner;
    int64_t *its; /* inner step times */
    size_t nits;
    size_t next;
    size_t end;   /* series index to stop at (SIZE_MAX = all) */
} rsrc_t;

static int rsrc_open(pq_ctx_t *c, const pq_node_t *n, rsrc_t *r)
{
    memset(r, 0, sizeof(*r));
    r->node = n;
    r->end = SIZE_MAX;
    sx_arena_init(&r->tmp);
    const pq_mod_t *mod = n->kind == PQ_MSEL ? &n->sel.mod : &n->sub.mod;
    const pq_node_t *rexpr = n->kind == PQ_MSEL ? n->sel.range_expr : n->sub.range_expr;
    r->range = n->kind == PQ_MSEL ? n->sel.range_ms : n->sub.range_ms;
    int rc;
    if (rexpr && (rc = sx_pq__duration_eval(rexpr, c->qstep, &r->range, c->err)))
        return rc;
    int64_t off;
    if ((rc = sx_pq__offset_eval(mod, c->qstep, &off, c->err)))
        return rc;
    r->wend = sx_arena_alloc(c->a, (c->nsteps ? c->nsteps : 1) * sizeof(int64_t));
    for (size_t i = 0; i < c->nsteps; i++)
        r->wend[i] = mod_ref(c, mod, i, off);
    int64_t lo, hi;
    ref_bounds(c, mod, off, &lo, &hi);
    if (n->kind == PQ_MSEL) {
        r->mint = lo - r->range + 1;
        r->maxt = hi;
        return sel_select(c, n, r->mint, r->maxt, &r->it);
    }
    /* Subquery: evaluate the inner expression at steps aligned to the
     * subquery step, from the first one after lo - range up to hi. */
    int64_t step = n->sub.step_ms;
    if (n->sub.step_expr && (rc = sx_pq__duration_eval(n->sub.step_expr, c->qstep, &step, c->err)))
        return rc;
    if (step <= 0)
        step = c->opts->subquery_step_ms > 0 ? c->opts->subquery_step_ms : 60000;
    int64_t first = lo - r->range;
    int64_t s0 = step * (first / step);
    if (s0 <= first)
        s0 += step;
    pq_ctx_t sub = *c;
    sub.start = s0;
    sub.end = hi;
    sub.step = step;
    sub.nsteps = s0 > hi ? 0 : (size_t)((hi - s0) / step) + 1;
    if (sub.nsteps > 0) {
        sub.ts = sx_arena_alloc(c->a, sub.nsteps * sizeof(int64_t));
        for (size_t i = 0; i < sub.nsteps; i++)
            sub.ts[i] = s0 + (int64_t)i * step;
    }
    r->its = sub.ts;
    r->nits = sub.nsteps;
    if (sub.nsteps == 0) {
        r->inner.type = SX_PROMQL_VECTOR;
        return 0;
    }
    rc = eval(&sub, n->sub.expr, &r->inner);
    c->samples = sub.samples;
    c->samples_total = sub.samples_total;
    c->peak = sub.peak;
    c->notes = sub.notes;
    c->_notes_cap[0] = sub._notes_cap[0];
    c->_notes_cap[1] = sub._notes_cap[1];
    c->_tick = sub._tick;
    if (rc)
        return rc;
    if (r->inner.type == SX_PROMQL_SCALAR) {
        /* A scalar subquery is not allowed by the parser; be safe. */
        return sx_pq__fail(c, SX_EEXEC, "subquery of a scalar is not supported");
    }
    return 0;
}

/* The next series of the source (raw points in arena memory that is
 * valid until the next call), or 0 with *done set at the end. */
static int rsrc_next(pq_ctx_t *c, rsrc_t *r, pq_rseries_t *out, bool *done)
{
    memset(out, 0, sizeof(*out));
    *done = false;
    if (r->node->kind == PQ_MSEL) {
        if (r->next >= r->it.n || r->next >= r->end) {
            *done = true;
            return 0;
        }
        uint32_t id = r->it.ids[r->next++];
        sx_arena_reset(&r->tmp);
        raw_t raw;
        int rc = read_raw(c, id, r->mint, r->maxt, &r->tmp, false, &raw);
        if (rc)
            return rc;
        if ((rc = series_labels(c, id, &out->labels, &out->nlabels)))
            return rc;
        out->t = raw.t;
        out->v = raw.v;
        out->n = raw.n;
        out->ht = raw.ht;
        out->h = raw.h;
        out->nh = raw.nh;
        return 0;
    }
    if (r->next >= r->inner.n || r->next >= r->end) {
        *done = true;
        return 0;
    }
    const pq_series_t *s = &r->inner.s[r->next++];
    sx_arena_reset(&r->tmp);
    out->labels = s->labels;
    out->nlabels = s->nlabels;
    out->drop_name = s->drop_name;
    out->t = sx_arena_alloc(&r->tmp, r->nits * sizeof(int64_t));
    out->v = sx_arena_alloc(&r->tmp, r->nits * sizeof(double));
    for (size_t i = 0; i < r->nits; i++) {
        if (s->h && s->h[i]) {
            if (!out->h) {
                out->ht = sx_arena_alloc(&r->tmp, r->nits * sizeof(int64_t));
                out->h = sx_arena_alloc(&r->tmp, r->nits * sizeof(*out->h));
            }
            out->ht[out->nh] = r->its[i];
            out->h[out->nh++] = s->h[i];
        } else if (!pq_is_absent(s->v[i])) {
            out->t[out->n] = r->its[i];
            out->v[out->n++] = s->v[i];
        }
    }
    return 0;
}

static void rsrc_close(rsrc_t *r)
{
    sx_arena_dispose(&r->tmp);
}

static int rseries_copy(pq_ctx_t *c, const pq_rseries_t *in, pq_rseries_t *out)
{
    *out = *in;
    out->t = sx_arena_alloc(c->a, (in->n ? in->n : 1) * sizeof(int64_t));
    out->v = sx_arena_alloc(c->a, (in->n ? in->n : 1) * sizeof(double));
    memcpy(out->t, in->t, in->n * sizeof(int64_t));
    memcpy(out->v, in->v, in->n * sizeof(double));
    if (in->nh) {
        out->ht = sx_arena_alloc(c->a, in->nh * sizeof(int64_t));
        out->h = sx_arena_alloc(c->a, in->nh * sizeof(*out->h));
        memcpy(out->ht, in->ht, in->nh * sizeof(int64_t));
        memcpy(out->h, in->h, in->nh * sizeof(*out->h));
    }
    return 0;
}

/* Whether t falls in a window (wend[j] - range, wend[j]]. The window ends
 * ascend (or are all equal), so the first end at or after t decides. */
static bool in_some_window(const int64_t *wend, size_t n, int64_t range, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (wend[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && t > wend[lo] - range;
}

/* Materialise a range vector: every series' points that fall in any
 * step's window. */
static int eval_matrix(pq_ctx_t *c, const pq_node_t *n, pq_value_t *out)
{
    rsrc_t r;
    int rc = rsrc_open(c, n, &r);
    out->type = SX_PROMQL_MATRIX;
    out->range_ms = r.range;
    out->wend = r.wend;
    size_t cap = 0;
    while (rc == 0) {
        pq_rseries_t s;
        bool done;
        if ((rc = rsrc_next(c, &r, &s, &done)) || done)
            break;
        /* Keep only points inside some window. */
        size_t k = 0, kh = 0;
        for (size_t i = 0; i < s.n; i++) {
            if (in_some_window(r.wend, c->nsteps, r.range, s.t[i])) {
                s.t[k] = s.t[i];
                s.v[k++] = s.v[i];
            }
        }
        s.n = k;
        for (size_t i = 0; i < s.nh; i++) {
            if (in_some_window(r.wend, c->nsteps, r.range, s.ht[i])) {
                s.ht[kh] = s.ht[i];
                s.h[kh++] = s.h[i];
            }
        }
        s.nh = kh;
        if (!s.n && !s.nh)
            continue;
        if ((rc = sx_pq__samples_add(c, (int64_t)(s.n + s.nh))))
            break;
        if (out->nrs == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            out->rs = sx_arena_realloc(c->a, out->rs, cap * sizeof(*out->rs), ncap * sizeof(*out->rs));
            cap = ncap;
        }
        rseries_copy(c, &s, &out->rs[out->nrs++]);
    }
    rsrc_close(&r);
    return rc;
}

/* ---- Function calls ---- */

static void finish_func_output(pq_ctx_t *c, const pq_func_t *fn, pq_value_t *out)
{
    if (out->type != SX_PROMQL_VECTOR || (fn->flags & PQ_F_KEEP_NAME))
        return;
    for (size_t i = 0; i < out->n; i++) {
        pq_series_t *s = &out->s[i];
        if (c->opts->delayed_name_removal)
            s->drop_name = true;
        else
            sx_pq__labels_drop_name(c, s->labels, s->nlabels, &s->labels, &s->nlabels);
    }
}

/* The window loop over the series r yields: one output series per input
 * series that has a value at some step. */
static int window_loop(pq_ctx_t *c, rsrc_t *r, const pq_func_t *fn, const pq_call_t *call,
                       pq_value_t *out)
{
    int rc = 0;
    out->type = SX_PROMQL_VECTOR;
    size_t cap = 0;
    pq_window_t w = {.ctx = c, .call = call, .wend = r->wend, .range_ms = r->range};
    while (rc == 0) {
        pq_rseries_t s;
        bool done;
        if ((rc = rsrc_next(c, r, &s, &done)) || done)
            break;
        if ((rc = sx_pq__samples_add(c, (int64_t)(s.n + s.nh))))
            break;
        w.in = &s;
        w.out = sx_pq__steps_new(c);
        w.hout = NULL;
        if (s.nh)
            w.hout = sx_arena_calloc(c->a, c->nsteps, sizeof(*w.hout));
        fn->window(&w);
        sx_pq__samples_add(c, -(int64_t)(s.n + s.nh));
        if (c->err && c->err->code)
            return c->err->code;
        bool any = false;
        for (size_t i = 0; i < c->nsteps && !any; i++)
            any = !pq_is_absent(w.out[i]) || (w.hout && w.hout[i]);
        if (!any)
            continue;
        if (out->n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            out->s = sx_arena_realloc(c->a, out->s, cap * sizeof(*out->s), ncap * sizeof(*out->s));
            cap = ncap;
        }
        pq_series_t *o = &out->s[out->n++];
        memset(o, 0, sizeof(*o));
        o->labels = s.labels;
        o->nlabels = s.nlabels;
        o->drop_name = s.drop_name;
        o->v = w.out;
        if (w.hout) {
            bool anyh = false;
            for (size_t i = 0; i < c->nsteps && !anyh; i++)
                anyh = w.hout[i] != NULL;
            if (anyh)
                o->h = w.hout;
        }
        if ((rc = sx_pq__check(c)))
            break;
    }
    return rc;
}

/* One worker of a parallel window loop: its own context, arena, error
 * and annotations; it reads a contiguous slice of the series. */
typedef struct wjob {
    pq_ctx_t ctx;
    sx_arena_t arena;
    sx_err_t err;
    rsrc_t r;
    pq_call_t call;
    const pq_func_t *fn;
    pq_value_t out;
    int rc;
    pthread_t th;
} wjob_t;

static void *wjob_run(void *p)
{
    wjob_t *j = p;
    j->rc = window_loop(&j->ctx, &j->r, j->fn, &j->call, &j->out);
    return NULL;
}

static void merge_notes(pq_ctx_t *c, const sx_promql_notes_t *n)
{
    for (size_t i = 0; i < n->nwarnings; i++)
        sx_pq__note_add_raw(c, false, n->warnings[i]);
    for (size_t i = 0; i < n->ninfos; i++)
        sx_pq__note_add_raw(c, true, n->infos[i]);
}

static int eval_window_call(pq_ctx_t *c, const pq_node_t *n, pq_call_t *call, size_t midx,
                            pq_value_t *out)
{
    const pq_func_t *fn = n->call.fn;
    rsrc_t r;
    int rc = rsrc_open(c, unparen(n->call.args[midx]), &r);
    if (rc) {
        rsrc_close(&r);
        return rc;
    }
    size_t nseries = r.node->kind == PQ_MSEL ? r.it.n : r.inner.n;
    int nthreads = split_threads(c, nseries);
    if (nthreads < 2) {
        rc = window_loop(c, &r, fn, call, out);
        rsrc_close(&r);
        return rc;
    }
    /* Parallel: contiguous slices keep the serial output order. */
    wjob_t *jobs = sx_xcalloc((size_t)nthreads, sizeof(*jobs));
    for (int k = 0; k < nthreads; k++) {
        wjob_t *j = &jobs[k];
        worker_ctx(&j->ctx, c, &j->arena, &j->err);
        j->ctx.samples = j->ctx.samples_total = j->ctx.peak = 0;
        j->r = r;
        sx_arena_init(&j->r.tmp);
        j->r.next = nseries * (size_t)k / (size_t)nthreads;
        j->r.end = nseries * (size_t)(k + 1) / (size_t)nthreads;
        j->call = *call;
        j->call.ctx = &j->ctx;
        j->fn = fn;
    }
    int started = 1;
    for (int k = 1; k < nthreads; k++, started++)
        if (pthread_create(&jobs[k].th, NULL, wjob_run, &jobs[k]) != 0)
            break;
    /* Slices whose thread did not start run here, after slice 0. */
    wjob_run(&jobs[0]);
    for (int k = started; k < nthreads; k++)
        wjob_run(&jobs[k]);
    for (int k = 1; k < started; k++)
        pthread_join(jobs[k].th, NULL);
    out->type = SX_PROMQL_VECTOR;
    out->n = 0;
    size_t total = 0;
    for (int k = 0; k < nthreads; k++) {
        wjob_t *j = &jobs[k];
        rc = worker_joined(c, rc, j->rc, &j->ctx);
        total += j->out.n;
        c->samples_total += j->ctx.samples_total;
        if (j->ctx.peak > c->peak)
            c->peak = j->ctx.peak;
    }
    if (!rc) {
        /* The workers' series (labels, values, histograms) stay where they
         * are: their arenas become the query's. */
        out->s = sx_pq__series_new(c, total);
        for (int k = 0; k < nthreads; k++)
            for (size_t i = 0; i < jobs[k].out.n; i++)
                out->s[out->n++] = jobs[k].out.s[i];
    }
    for (int k = 0; k < nthreads; k++) {
        sx_arena_dispose(&jobs[k].r.tmp);
        if (!rc)
            sx_arena_adopt(c->a, &jobs[k].arena);
        sx_arena_dispose(&jobs[k].arena);
    }
    free(jobs);
    rsrc_close(&r);
    return rc;
}

static int eval_call(pq_ctx_t *c, const pq_node_t *n, pq_value_t *out)
{
    const pq_func_t *fn = n->call.fn;
    if (!fn || (!fn->eval && !fn->window))
        return sx_pq__fail(c, SX_EEXEC, "function \"%s\" is not implemented",
                           fn ? fn->name : "?");
    pq_call_t call = {.ctx = c, .node = n, .nargs = n->call.nargs};
    call.args = sx_arena_calloc(c->a, n->call.nargs ? n->call.nargs : 1, sizeof(pq_value_t));
    size_t midx = SIZE_MAX;
    bool want_ts = fn->flags & PQ_F_SAMPLE_TS;
    int rc;
    for (size_t i = 0; i < n->call.nargs; i++) {
        const pq_node_t *a = unparen(n->call.args[i]);
        if (a->type == SX_PROMQL_MATRIX && fn->window) {
            midx = i;
            call.args[i].type = SX_PROMQL_MATRIX;
            continue;
        }
        if (want_ts && a->kind == PQ_VSEL)
            rc = eval_vsel(c, a, true, &call.args[i]);
        else if (a->type == SX_PROMQL_MATRIX)
            rc = eval_matrix(c, a, &call.args[i]);
        else
            rc = eval(c, a, &call.args[i]);
        if (rc)
            return rc;
    }
    memset(out, 0, sizeof(*out));
    if (fn->window && midx != SIZE_MAX)
        rc = eval_window_call(c, n, &call, midx, out);
    else if (fn->eval)
        rc = fn->eval(&call, out);
    else
        rc = sx_pq__fail(c, SX_EEXEC, "function \"%s\" needs a range vector", fn->name);
    if (rc)
        return rc;
    if (c->err && c->err->code)
        return c->err->code;
    finish_func_output(c, fn, out);
    return 0;
}

/* ---- Aggregations ---- */

typedef struct agg_group {
    sx_label_t *labels;
    uint32_t nlabels;
    bool drop_name;
    double *v;      /* result / running value per step */
    double *comp;   /* Kahan compensation or running mean */
    double *cnt;    /* values seen per step */
    uint32_t *members; /* input series indices (topk, quantile, limitk) */
    size_t nmembers, _cap;
} agg_group_t;

typedef struct kv {
    double v;
    uint32_t idx;
} kv_t;

static int kv_cmp_desc(const void *a, const void *b)
{
    const kv_t *x = a, *y = b;
    /* NaN sorts last; stable by index */
    bool xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int kv_cmp_asc(const void *a, const void *b)
{
    const kv_t *x = a, *y = b;
    bool xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool k_param(pq_ctx_t *c, double f, int64_t *k, int *rc)
{
    if (isnan(f)) {
        *rc = sx_pq__fail(c, SX_EEXEC, "Parameter value is NaN");
        return false;
    }
    if (f >= 9.223372036854775807e18 || f <= -9.223372036854775808e18) {
        *rc = sx_pq__fail(c, SX_EEXEC, "Scalar value %g overflows int64", f);
        return false;
    }
    *k = (int64_t)f;
    return true;
}

static int eval_agg(pq_ctx_t *c, const pq_node_t *n, pq_value_t *out)
{
    int op = n->agg.op;
    pq_value_t param = {0}, in = {0};
    int rc;
    if (n->agg.param && (rc = eval(c, n->agg.param, &param)))
        return rc;
    if ((rc = eval(c, n->agg.expr, &in)))
        return rc;
    out->type = SX_PROMQL_VECTOR;
    out->s = NULL;
    out->n = 0;
    size_t ns = c->nsteps;
    if (in.n == 0)
        return 0;

    /* Group the input series. */
    lmap_t groups;
    lmap_init(c, &groups, in.n);
    agg_group_t *g = sx_arena_calloc(c->a, in.n, sizeof(*g));
    uint32_t *gid = sx_arena_alloc(c->a, in.n * sizeof(uint32_t));
    size_t ng = 0;
    bool keep_members = op == PQ_AGG_TOPK || op == PQ_AGG_BOTTOMK || op == PQ_AGG_QUANTILE ||
                        op == PQ_AGG_LIMITK || op == PQ_AGG_LIMIT_RATIO ||
                        op == PQ_AGG_COUNT_VALUES;
    for (size_t i = 0; i < in.n; i++) {
        sx_label_t *gl;
        uint32_t ngl;
        if (n->agg.without)
            labels_subset(c, in.s[i].labels, in.s[i].nlabels, n->agg.labels, n->agg.nlabels,
                          false, &gl, &ngl);
        else
            labels_subset(c, in.s[i].labels, in.s[i].nlabels, n->agg.labels, n->agg.nlabels,
                          true, &gl, &ngl);
        uint32_t k = lmap_find(c, &groups, gl, ngl, true, (uint32_t)ng);
        if (k == ng) {
            g[ng].labels = gl;
            g[ng].nlabels = ngl;
            ng++;
        }
        if (in.s[i].drop_name)
            g[k].drop_name = true;
        gid[i] = k;
        if (keep_members) {
            agg_group_t *gg = &g[k];
            if (gg->nmembers == gg->_cap) {
                size_t cap = gg->_cap ? gg->_cap * 2 : 4;
                gg->members = sx_arena_realloc(c->a, gg->members, gg->_cap * sizeof(uint32_t),
                                               cap * sizeof(uint32_t));
                gg->_cap = cap;
            }
            gg->members[gg->nmembers++] = (uint32_t)i;
        }
    }
    /* Without __name__ in the grouping the result has no name to drop. */
    for (size_t k = 0; k < ng; k++)
        if (!sx_pq__label_get(g[k].labels, g[k].nlabels, name_label).len)
            g[k].drop_name = false;

    if (op == PQ_AGG_TOPK || op == PQ_AGG_BOTTOMK || op == PQ_AGG_LIMITK ||
        op == PQ_AGG_LIMIT_RATIO) {
        /* Output the selected input series, each with the steps it was selected at. */
        double **sel = sx_arena_calloc(c->a, in.n, sizeof(double *));
        kv_t *kv = sx_arena_alloc(c->a, in.n * sizeof(kv_t));
        for (size_t i = 0; i < ns; i++) {
            double p = param.scalar ? param.scalar[i] : 0;
            int64_t k = 0;
            if (op != PQ_AGG_LIMIT_RATIO && !k_param(c, p, &k, &rc))
                return rc;
            if (op == PQ_AGG_LIMIT_RATIO) {
                if (isnan(p))
                    return sx_pq__fail(c, SX_EEXEC, "Ratio value is NaN");
                if (p < -1 || p > 1) {
                    sx_pq__warn(c, "ratio value should be between -1 and 1, got %g, capping to %g",
                                p, p < -1 ? -1.0 : 1.0);
                    p = p < -1 ? -1 : 1;
                }
            }
            for (size_t gi = 0; gi < ng; gi++) {
                agg_group_t *gg = &g[gi];
                size_t m = 0;
                for (size_t j = 0; j < gg->nmembers; j++) {
                    uint32_t si = gg->members[j];
                    bool is_h = in.s[si].h && in.s[si].h[i];
                    if (is_h && (op == PQ_AGG_TOPK || op == PQ_AGG_BOTTOMK)) {
                        sx_pq__info(c, "ignored histogram in %s aggregation", sx_pq__agg_name(op));
                        continue;
                    }
                    if (pq_is_absent(in.s[si].v[i]) && !is_h)
                        continue;
                    kv[m++] = (kv_t){in.s[si].v[i], si};
                }
                if (op == PQ_AGG_TOPK)
                    qsort(kv, m, sizeof(kv_t), kv_cmp_desc);
                else if (op == PQ_AGG_BOTTOMK)
                    qsort(kv, m, sizeof(kv_t), kv_cmp_asc);
                size_t take = 0;
                if (op == PQ_AGG_LIMIT_RATIO) {
                    for (size_t j = 0; j < m; j++) {
                        const pq_series_t *s = &in.s[kv[j].idx];
                        double r = (double)sx_pq__labels_hash(s->labels, s->nlabels) /
                                   18446744073709551616.0;
                        bool pick = p >= 0 ? r < p : r >= 1 + p;
                        if (pick) {
                            if (!sel[kv[j].idx])
                                sel[kv[j].idx] = sx_pq__steps_new(c);
                            sel[kv[j].idx][i] = kv[j].v;
                        }
                    }
                    continue;
                }
                take = k <= 0 ? 0 : (size_t)((uint64_t)k < m ? (uint64_t)k : m);
                for (size_t j = 0; j < take; j++) {
                    if (!sel[kv[j].idx])
                        sel[kv[j].idx] = sx_pq__steps_new(c);
                    sel[kv[j].idx][i] = kv[j].v;
                }
            }
        }
        out->s = sx_pq__series_new(c, in.n);
        /* Instant queries list the picks group by group in rank order. */
        if (ns == 1 && (op == PQ_AGG_TOPK || op == PQ_AGG_BOTTOMK)) {
            for (size_t gi = 0; gi < ng; gi++) {
                size_t m = 0;
                for (size_t j = 0; j < g[gi].nmembers; j++) {
                    uint32_t si = g[gi].members[j];
                    if (sel[si])
                        kv[m++] = (kv_t){sel[si][0], si};
                }
                qsort(kv, m, sizeof(kv_t), op == PQ_AGG_TOPK ? kv_cmp_desc : kv_cmp_asc);
                for (size_t j = 0; j < m; j++) {
                    pq_series_t *o = &out->s[out->n++];
                    *o = in.s[kv[j].idx];
                    o->v = sel[kv[j].idx];
                    o->ts = NULL;
                }
            }
            c->ordered = true;
            return 0;
        }
        for (size_t i = 0; i < in.n; i++) {
            if (!sel[i])
                continue;
            pq_series_t *o = &out->s[out->n++];
            *o = in.s[i];
            o->v = sel[i];
            o->ts = NULL;
            if (o->h) {
                sx_promql_hist_t **h = sx_arena_calloc(c->a, ns, sizeof(*h));
                for (size_t j = 0; j < ns; j++)
                    if (!pq_is_absent(o->v[j]))
                        h[j] = in.s[i].h[j];
                o->h = h;
            }
        }
        return 0;
    }

    if (op == PQ_AGG_COUNT_VALUES) {
        sx_str_t lname = param.str;
        if (!sx_label_name_valid(lname))
            return sx_pq__fail(c, SX_EEXEC, "invalid label name %s", sx_pq__go_quote(c, lname));
        lmap_t outmap;
        lmap_init(c, &outmap, in.n);
        size_t cap = 0;
        for (size_t gi = 0; gi < ng; gi++) {
            for (size_t j = 0; j < g[gi].nmembers; j++) {
                const pq_series_t *s = &in.s[g[gi].members[j]];
                for (size_t i = 0; i < ns; i++) {
                    bool is_h = s->h && s->h[i];
                    if (pq_is_absent(s->v[i]) && !is_h)
                        continue;
                    sx_str_t val = is_h ? sx_pq__hist_string(c, s->h[i])
                                        : sx_pq__float_str(c, s->v[i]);
                    sx_label_t *ol;
                    uint32_t nol;
                    sx_pq__labels_set(c, g[gi].labels, g[gi].nlabels, lname, val, &ol, &nol);
                    uint32_t k = lmap_find(c, &outmap, ol, nol, true, (uint32_t)out->n);
                    if (k == out->n) {
                        if (out->n == cap) {
                            size_t ncap = cap ? cap * 2 : 16;
                            out->s = sx_arena_realloc(c->a, out->s, cap * sizeof(*out->s),
                                                      ncap * sizeof(*out->s));
                            cap = ncap;
                        }
                        pq_series_t *o = &out->s[out->n++];
                        memset(o, 0, sizeof(*o));
                        o->labels = ol;
                        o->nlabels = nol;
                        o->v = sx_pq__steps_new(c);
                    }
                    double *ov = &out->s[k].v[i];
                    *ov = pq_is_absent(*ov) ? 1 : *ov + 1;
                }
            }
        }
        return 0;
    }

    /* Per-step folds. */
    for (size_t k = 0; k < ng; k++) {
        g[k].v = sx_pq__steps_new(c);
        g[k].comp = sx_arena_calloc(c->a, ns, sizeof(double));
        g[k].cnt = sx_arena_calloc(c->a, ns, sizeof(double));
    }
    uint8_t *hist_in_group = NULL; /* sum/avg: a histogram in the group at the step */
    if (op == PQ_AGG_QUANTILE) {
        double *buf = sx_arena_alloc(c->a, in.n * sizeof(double));
        for (size_t i = 0; i < ns; i++) {
            double q = param.scalar ? param.scalar[i] : NAN;
            for (size_t gi = 0; gi < ng; gi++) {
                size_t m = 0;
                for (size_t j = 0; j < g[gi].nmembers; j++) {
                    const pq_series_t *s = &in.s[g[gi].members[j]];
                    if (s->h && s->h[i])
                        sx_pq__info(c, "ignored histogram in quantile aggregation");
                    else if (!pq_is_absent(s->v[i]))
                        buf[m++] = s->v[i];
                }
                if (!m)
                    continue;
                sx_pq__warn_quantile(c, q); /* notes drop repeats */
                g[gi].v[i] = sx_pq__quantile(q, buf, m);
            }
        }
    } else {
        hist_in_group = sx_arena_calloc(c->a, ng * ns + 1, 1);
        for (size_t si = 0; si < in.n; si++) {
            const pq_series_t *s = &in.s[si];
            agg_group_t *gg = &g[gid[si]];
            for (size_t i = 0; i < ns; i++) {
                double x = s->v[i];
                if (s->h && s->h[i]) {
                    if (op == PQ_AGG_COUNT || op == PQ_AGG_GROUP) {
                        x = 0;
                    } else if (op == PQ_AGG_SUM || op == PQ_AGG_AVG) {
                        hist_in_group[gid[si] * ns + i] = 1;
                        continue;
                    } else {
                        sx_pq__info(c, "ignored histogram in %s aggregation", sx_pq__agg_name(op));
                        continue;
                    }
                } else if (pq_is_absent(x)) {
                    continue;
                }
                double *v = &gg->v[i], *cmp = &gg->comp[i], *cnt = &gg->cnt[i];
                bool first = *cnt == 0;
                *cnt += 1;
                switch (op) {
                case PQ_AGG_SUM:
                    if (first) {
                        *v = x;
                        *cmp = 0;
                    } else {
                        pq_kahan_inc(x, v, cmp);
                    }
                    break;
                case PQ_AGG_AVG:
                    /* Kahan sum kept in v/comp; divided at the end. Falls
                     * back to an incremental mean when the sum overflows. */
                    if (first) {
                        *v = x;
                        *cmp = 0;
                    } else {
                        pq_kahan_inc(x, v, cmp);
                    }
                    break;
                case PQ_AGG_MIN:
                    if (first || *v > x || isnan(*v))
                        *v = x;
                    break;
                case PQ_AGG_MAX:
                    if (first || *v < x || isnan(*v))
                        *v = x;
                    break;
                case PQ_AGG_GROUP:
                    *v = 1;
                    break;
                case PQ_AGG_COUNT:
                    *v = *cnt;
                    break;
                case PQ_AGG_STDDEV:
                case PQ_AGG_STDVAR: {
                    /* Welford from mean 0: comp holds the mean, v the
                     * sum of squares (a NaN input makes both NaN). */
                    if (first) {
                        *v = 0;
                        *cmp = 0;
                    }
                    double delta = x - *cmp;
                    *cmp += delta / *cnt;
                    *v += delta * (x - *cmp);
                    break;
                }
                }
            }
        }
        for (size_t gi = 0; gi < ng; gi++) {
            agg_group_t *gg = &g[gi];
            for (size_t i = 0; i < ns; i++) {
                if (gg->cnt[i] == 0)
                    continue;
                switch (op) {
                case PQ_AGG_SUM:
                    gg->v[i] += gg->comp[i];
                    break;
                case PQ_AGG_AVG:
                    if (isinf(gg->v[i]) || isinf(gg->comp[i])) {
                        /* Recompute as an incremental mean. */
                        double mean = 0, cnt = 0;
                        for (size_t si = 0; si < in.n; si++) {
                            if (gid[si] != gi || pq_is_absent(in.s[si].v[i]) ||
                                (in.s[si].h && in.s[si].h[i]))
                                continue;
                            double x = in.s[si].v[i];
                            cnt++;
                            if (isinf(mean)) {
                                if (isinf(x) && (mean > 0) == (x > 0))
                                    continue;
                                if (!isinf(x) && !isnan(x))
                                    continue;
                            }
                            mean += x / cnt - mean / cnt;
                        }
                        gg->v[i] = mean;
                    } else {
                        gg->v[i] = (gg->v[i] + gg->comp[i]) / gg->cnt[i];
                    }
                    break;
                case PQ_AGG_STDDEV:
                    gg->v[i] = sqrt(gg->v[i] / gg->cnt[i]);
                    break;
                case PQ_AGG_STDVAR:
                    gg->v[i] = gg->v[i] / gg->cnt[i];
                    break;
                default:
                    break;
                }
            }
        }
    }
    /* sum and avg of native histograms, per group and step. */
    sx_promql_hist_t **hsum = NULL;
    if (hist_in_group) {
        bool anyh = false;
        for (size_t q = 0; q < ng * ns && !anyh; q++)
            anyh = hist_in_group[q];
        if (anyh) {
            hsum = sx_arena_calloc(c->a, ng * ns, sizeof(*hsum));
            double *hcnt = sx_arena_calloc(c->a, ng * ns, sizeof(double));
            uint8_t *bad = sx_arena_calloc(c->a, ng * ns, 1);
            for (size_t si = 0; si < in.n; si++) {
                const pq_series_t *s = &in.s[si];
                if (!s->h)
                    continue;
                for (size_t i = 0; i < ns; i++) {
                    size_t q = (size_t)gid[si] * ns + i;
                    if (!s->h[i] || bad[q])
                        continue;
                    if (g[gid[si]].cnt[i] > 0) {
                        sx_pq__warn(c, "encountered a mix of histograms and floats for "
                                       "aggregation");
                        bad[q] = 1;
                        continue;
                    }
                    hcnt[q] += 1;
                    if (!hsum[q]) {
                        hsum[q] = s->h[i];
                        continue;
                    }
                    sx_promql_hist_t *r;
                    int hrc = sx_promql_hist_add(hsum[q], s->h[i], c->a, &r);
                    if (hrc) {
                        sx_pq__warn(c, "%s", hrc == SX_PROMQL_HIST_EBOUNDS
                                                 ? "vector contains histograms with "
                                                   "incompatible custom buckets"
                                                 : "vector contains a mix of histograms with "
                                                   "exponential and custom buckets schemas");
                        bad[q] = 1;
                        continue;
                    }
                    hsum[q] = r;
                }
            }
            for (size_t q = 0; q < ng * ns; q++) {
                if (bad[q]) {
                    hsum[q] = NULL;
                    g[q / ns].v[q % ns] = pq_absent();
                } else if (hsum[q] && op == PQ_AGG_AVG && hcnt[q] > 1) {
                    sx_promql_hist_t *r;
                    if (sx_promql_hist_div(hsum[q], hcnt[q], c->a, &r) == 0)
                        hsum[q] = r;
                }
                if (hsum[q]) {
                    sx_promql_hist_t *r;
                    if (sx_promql_hist_compact(hsum[q], c->a, &r) == 0)
                        hsum[q] = r;
                    g[q / ns].v[q % ns] = 0;
                }
            }
        }
    }
    out->s = sx_pq__series_new(c, ng);
    for (size_t gi = 0; gi < ng; gi++) {
        bool any = false;
        for (size_t i = 0; i < ns && !any; i++)
            any = !pq_is_absent(g[gi].v[i]);
        if (!any)
            continue;
        pq_series_t *o = &out->s[out->n++];
        o->labels = g[gi].labels;
        o->nlabels = g[gi].nlabels;
        o->drop_name = g[gi].drop_name;
        o->v = g[gi].v;
        if (hsum) {
            for (size_t i = 0; i < ns; i++) {
                if (hsum[gi * ns + i]) {
                    if (!o->h)
                        o->h = sx_arena_calloc(c->a, ns, sizeof(*o->h));
                    o->h[i] = hsum[gi * ns + i];
                }
            }
        }
    }
    return 0;
}

/* ---- Binary operators ---- */

/* Apply op to two floats; *keep says whether a comparison holds. */
static double binop(const pq_ctx_t *c, int op, double l, double r, bool *keep)
{
    *keep = true;
    if (r == 0 && c->opts->div_by_zero_nan && (op == PQ_OP_DIV || op == PQ_OP_MOD))
        return NAN;
    switch (op) {
    case PQ_OP_ADD: return l + r;
    case PQ_OP_SUB: return l - r;
    case PQ_OP_MUL: return l * r;
    case PQ_OP_DIV: return l / r;
    case PQ_OP_POW: return pow(l, r);
    case PQ_OP_MOD: return fmod(l, r);
    case PQ_OP_ATAN2: return atan2(l, r);
    case PQ_OP_EQ: *keep = l == r; return l;
    case PQ_OP_NE: *keep = l != r; return l;
    case PQ_OP_GT: *keep = l > r; return l;
    case PQ_OP_LT: *keep = l < r; return l;
    case PQ_OP_GE: *keep = l >= r; return l;
    case PQ_OP_LE: *keep = l <= r; return l;
    }
    return NAN;
}

static bool op_drops_name(int op, bool return_bool)
{
    return !pq_op_is_comparison(op) || return_bool;
}

/* One element of a binary operation where a side may be a histogram (lh
 * or rh non-NULL). Returns false when the pair yields nothing (a failed
 * comparison or an incompatible pair, which gets Prometheus' info). On
 * true, *v or *h (non-NULL) is the result. */
static bool elem_op(pq_ctx_t *c, int op, bool rb, double lv, sx_promql_hist_t *lh, double rv,
                    sx_promql_hist_t *rh, double *v, sx_promql_hist_t **h)
{
    *h = NULL;
    if (!lh && !rh) {
        bool keep;
        double x = binop(c, op, lv, rv, &keep);
        if (pq_op_is_comparison(op)) {
            if (rb)
                x = keep ? 1 : 0;
            else if (!keep)
                return false;
        }
        *v = x;
        return true;
    }
    int rc = -1;
    sx_promql_hist_t *r = NULL;
    bool cmp_eq = op == PQ_OP_EQ || op == PQ_OP_NE;
    if (lh && rh) {
        if (op == PQ_OP_ADD)
            rc = sx_promql_hist_add(lh, rh, c->a, &r);
        else if (op == PQ_OP_SUB)
            rc = sx_promql_hist_sub(lh, rh, c->a, &r);
        else if (cmp_eq) {
            bool eq = sx_promql_hist_equal(lh, rh);
            bool keep = op == PQ_OP_EQ ? eq : !eq;
            if (rb) {
                *v = keep ? 1 : 0;
                return true;
            }
            if (!keep)
                return false;
            *h = lh;
            *v = 0;
            return true;
        }
    } else if (lh && (op == PQ_OP_MUL || op == PQ_OP_DIV)) {
        rc = op == PQ_OP_MUL ? sx_promql_hist_mul(lh, rv, c->a, &r)
                             : sx_promql_hist_div(lh, rv, c->a, &r);
    } else if (rh && op == PQ_OP_MUL) {
        rc = sx_promql_hist_mul(rh, lv, c->a, &r);
    }
    if (rc == 0 && r) {
        *h = r;
        *v = 0;
        return true;
    }
    if (rc == SX_PROMQL_HIST_EMIXED || rc == SX_PROMQL_HIST_EBOUNDS) {
        sx_pq__warn(c, "%s", rc == SX_PROMQL_HIST_EMIXED
                                 ? "vector contains a mix of histograms with exponential and "
                                   "custom buckets schemas"
                                 : "vector contains histograms with incompatible custom buckets");
        return false;
    }
    sx_pq__info(c, "incompatible sample types encountered for binary operator \"%s\": %s %s %s",
                sx_pq__op_name(op), lh ? "histogram" : "float", sx_pq__op_name(op),
                rh ? "histogram" : "float");
    return false;
}

static int eval_scalar_scalar(pq_ctx_t *c, const pq_node_t *n, const pq_value_t *l,
                              const pq_value_t *r, pq_value_t *out)
{
    out->type = SX_PROMQL_SCALAR;
    out->scalar = sx_arena_alloc(c->a, (c->nsteps ? c->nsteps : 1) * sizeof(double));
    for (size_t i = 0; i < c->nsteps; i++) {
        bool keep;
        double v = binop(c, n->binary.op, l->scalar[i], r->scalar[i], &keep);
        if (pq_op_is_comparison(n->binary.op))
            v = keep ? 1 : 0;
        out->scalar[i] = v;
    }
    return 0;
}

static int eval_vector_scalar(pq_ctx_t *c, const pq_node_t *n, const pq_value_t *vec,
                              const double *sc, bool scalar_left, pq_value_t *out)
{
    int op = n->binary.op;
    bool rb = n->binary.return_bool;
    bool drop = op_drops_name(op, rb);
    out->type = SX_PROMQL_VECTOR;
    out->s = sx_pq__series_new(c, vec->n);
    out->n = 0;
    for (size_t si = 0; si < vec->n; si++) {
        const pq_series_t *s = &vec->s[si];
        double *v = sx_pq__steps_new(c);
        sx_promql_hist_t **hv = NULL;
        bool any = false;
        for (size_t i = 0; i < c->nsteps; i++) {
            sx_promql_hist_t *sh = s->h ? s->h[i] : NULL;
            if (pq_is_absent(s->v[i]) && !sh)
                continue;
            double x;
            sx_promql_hist_t *xh;
            bool ok = scalar_left ? elem_op(c, op, rb, sc[i], NULL, s->v[i], sh, &x, &xh)
                                  : elem_op(c, op, rb, s->v[i], sh, sc[i], NULL, &x, &xh);
            if (!ok)
                continue;
            /* A comparison keeps the vector's own value, whichever side. */
            if (pq_op_is_comparison(op) && !rb && !sh)
                x = s->v[i];
            if (xh) {
                if (!hv)
                    hv = sx_arena_calloc(c->a, c->nsteps, sizeof(*hv));
                hv[i] = xh;
                x = 0;
            }
            v[i] = x;
            any = true;
        }
        if (!any)
            continue;
        pq_series_t *o = &out->s[out->n++];
        memset(o, 0, sizeof(*o));
        o->labels = s->labels;
        o->nlabels = s->nlabels;
        o->drop_name = s->drop_name;
        o->v = v;
        o->h = hv;
        if (drop) {
            if (c->opts->delayed_name_removal)
                o->drop_name = true;
            else
                sx_pq__labels_drop_name(c, s->labels, s->nlabels, &o->labels, &o->nlabels);
        }
    }
    return 0;
}

/* Matching signature of a series for on/ignoring. */
static void match_sig(pq_ctx_t *c, const pq_match_t *m, const pq_series_t *s, sx_label_t **l,
                      uint32_t *n)
{
    if (m && m->on)
        labels_subset(c, s->labels, s->nlabels, m->labels, m->nlabels, true, l, n);
    else
        labels_subset(c, s->labels, s->nlabels, m ? m->labels : NULL, m ? m->nlabels : 0,
                      false, l, n);
}

typedef struct sig_group {
    uint32_t *members;
    size_t n, cap;
} sig_group_t;

static void group_add(pq_ctx_t *c, sig_group_t *g, uint32_t idx)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 2;
        g->members = sx_arena_realloc(c->a, g->members, g->cap * sizeof(uint32_t),
                                      cap * sizeof(uint32_t));
        g->cap = cap;
    }
    g->members[g->n++] = idx;
}

static bool present(const pq_series_t *s, size_t i)
{
    return !pq_is_absent(s->v[i]) || (s->h && s->h[i]);
}

/* Append s restricted to the steps where other[step] == want (every step
 * with a value when other is NULL), unless that leaves nothing. */
static void keep_steps(pq_ctx_t *c, const pq_series_t *s, const uint8_t *other, bool want,
                       pq_value_t *out)
{
    size_t ns = c->nsteps;
    double *v = sx_pq__steps_new(c);
    sx_promql_hist_t **h = s->h ? sx_arena_calloc(c->a, ns, sizeof(*h)) : NULL;
    bool any = false;
    for (size_t j = 0; j < ns; j++) {
        if (!present(s, j) || (other && (other[j] != 0) != want))
            continue;
        v[j] = s->v[j];
        if (h)
            h[j] = s->h[j];
        any = true;
    }
    if (!any)
        return;
    pq_series_t *o = &out->s[out->n++];
    *o = *s;
    o->v = v;
    o->h = h;
    o->ts = NULL;
}

static int eval_set_op(pq_ctx_t *c, const pq_node_t *n, const pq_value_t *l, const pq_value_t *r,
                       pq_value_t *out)
{
    const pq_match_t *m = n->binary.match;
    int op = n->binary.op;
    size_t ns = c->nsteps;
    lmap_t sigs;
    lmap_init(c, &sigs, l->n + r->n);
    /* Signature index per series; per signature and step, whether the
     * left / right side has a value. */
    uint32_t *lsig = sx_arena_alloc(c->a, (l->n ? l->n : 1) * sizeof(uint32_t));
    uint32_t *rsig = sx_arena_alloc(c->a, (r->n ? r->n : 1) * sizeof(uint32_t));
    uint32_t nsig = 0;
    for (size_t i = 0; i < l->n; i++) {
        sx_label_t *sl;
        uint32_t nsl;
        match_sig(c, m, &l->s[i], &sl, &nsl);
        lsig[i] = lmap_find(c, &sigs, sl, nsl, true, nsig);
        if (lsig[i] == nsig)
            nsig++;
    }
    for (size_t i = 0; i < r->n; i++) {
        sx_label_t *sl;
        uint32_t nsl;
        match_sig(c, m, &r->s[i], &sl, &nsl);
        rsig[i] = lmap_find(c, &sigs, sl, nsl, true, nsig);
        if (rsig[i] == nsig)
            nsig++;
    }
    uint8_t *lhas = sx_arena_calloc(c->a, (size_t)nsig * ns + 1, 1);
    uint8_t *rhas = sx_arena_calloc(c->a, (size_t)nsig * ns + 1, 1);
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = 0; j < ns; j++)
            if (present(&l->s[i], j))
                lhas[(size_t)lsig[i] * ns + j] = 1;
    for (size_t i = 0; i < r->n; i++)
        for (size_t j = 0; j < ns; j++)
            if (present(&r->s[i], j))
                rhas[(size_t)rsig[i] * ns + j] = 1;
    out->type = SX_PROMQL_VECTOR;
    out->s = sx_pq__series_new(c, l->n + r->n);
    out->n = 0;
    /* and: left where the right matches; unless: left where it does not;
     * or: all of the left, then the right where the left does not match. */
    for (size_t i = 0; i < l->n; i++)
        keep_steps(c, &l->s[i], op == PQ_OP_OR ? NULL : rhas + (size_t)lsig[i] * ns,
                   op == PQ_OP_AND, out);
    if (op == PQ_OP_OR)
        for (size_t i = 0; i < r->n; i++)
            keep_steps(c, &r->s[i], lhas + (size_t)rsig[i] * ns, false, out);
    return 0;
}

static int eval_vector_vector(pq_ctx_t *c, const pq_node_t *n, const pq_value_t *l,
                              const pq_value_t *r, pq_value_t *out)
{
    if (pq_op_is_set(n->binary.op))
        return eval_set_op(c, n, l, r, out);
    const pq_match_t *m = n->binary.match;
    int op = n->binary.op;
    int card = m ? m->card : PQ_CARD_ONE_TO_ONE;
    bool rb = n->binary.return_bool;
    bool drop = op_drops_name(op, rb);
    size_t ns = c->nsteps;
    out->type = SX_PROMQL_VECTOR;
    out->s = NULL;
    out->n = 0;
    /* For one-to-many, the "many" side is the right one: swap. */
    bool swap = card == PQ_CARD_ONE_TO_MANY;
    const pq_value_t *many = swap ? r : l, *one = swap ? l : r;

    lmap_t sigs;
    lmap_init(c, &sigs, one->n);
    sig_group_t *groups = sx_arena_calloc(c->a, one->n + 1, sizeof(*groups));
    uint32_t ngroups = 0;
    sx_label_t **one_sig = sx_arena_alloc(c->a, (one->n + 1) * sizeof(*one_sig));
    uint32_t *one_nsig = sx_arena_alloc(c->a, (one->n + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < one->n; i++) {
        match_sig(c, m, &one->s[i], &one_sig[i], &one_nsig[i]);
        uint32_t k = lmap_find(c, &sigs, one_sig[i], one_nsig[i], true, ngroups);
        if (k == ngroups)
            ngroups++;
        group_add(c, &groups[k], (uint32_t)i);
    }
    /* Steps where the many side has any value (Prometheus skips matching
     * entirely when a side is empty). */
    uint8_t *many_any = sx_arena_calloc(c->a, ns + 1, 1);
    for (size_t i = 0; i < many->n; i++)
        for (size_t j = 0; j < ns; j++)
            if (present(&many->s[i], j))
                many_any[j] = 1;
    /* Duplicates on the "one" side at a step are an error. */
    for (uint32_t gk = 0; gk < ngroups; gk++) {
        sig_group_t *g = &groups[gk];
        if (g->n < 2)
            continue;
        for (size_t j = 0; j < ns; j++) {
            if (!many_any[j])
                continue;
            int cnt = 0;
            uint32_t a = 0, b = 0;
            for (size_t k = 0; k < g->n; k++) {
                if (present(&one->s[g->members[k]], j)) {
                    if (cnt == 0)
                        a = g->members[k];
                    else
                        b = g->members[k];
                    cnt++;
                }
            }
            if (cnt > 1) {
                const pq_series_t *sa = &one->s[a], *sb = &one->s[b];
                return sx_pq__fail(
                    c, SX_EEXEC,
                    "found duplicate series for the match group %s on the %s hand-side of the "
                    "operation: [%s, %s];many-to-many matching not allowed: matching labels must "
                    "be unique on one side",
                    sx_labels_format(c->a, one_sig[a], one_nsig[a]), swap ? "left" : "right",
                    sx_labels_format(c->a, sb->labels, sb->nlabels), sx_labels_format(c->a, sa->labels, sa->nlabels));
            }
        }
    }
    /* For one-to-one, at most one "many" series per signature may match at
     * a step. */
    lmap_t outmap;
    lmap_init(c, &outmap, many->n);
    size_t cap = 0;
    uint32_t *matched_by = NULL; /* per group and step: 1 + the many-side index that matched */
    if (card == PQ_CARD_ONE_TO_ONE)
        matched_by = sx_arena_calloc(c->a, (size_t)ngroups * ns + 1, sizeof(uint32_t));
    for (size_t mi = 0; mi < many->n; mi++) {
        const pq_series_t *ms = &many->s[mi];
        sx_label_t *sl;
        uint32_t nsl;
        match_sig(c, m, ms, &sl, &nsl);
        uint32_t gk = lmap_find(c, &sigs, sl, nsl, false, 0);
        if (gk == UINT32_MAX)
            continue;
        sig_group_t *g = &groups[gk];
        /* Result labels per matching "one" series (usually one). */
        for (size_t k = 0; k < g->n; k++) {
            const pq_series_t *os = &one->s[g->members[k]];
            bool any = false;
            for (size_t j = 0; j < ns && !any; j++)
                any = present(ms, j) && present(os, j);
            if (!any)
                continue;
            /* Labels of the result. */
            sx_label_t *rl = ms->labels;
            uint32_t nrl = ms->nlabels;
            bool rdrop = ms->drop_name;
            if (drop) {
                if (c->opts->delayed_name_removal)
                    rdrop = true;
                else
                    sx_pq__labels_drop_name(c, rl, nrl, &rl, &nrl);
            }
            if (card == PQ_CARD_ONE_TO_ONE) {
                if (m && m->on)
                    labels_subset(c, rl, nrl, m->labels, m->nlabels, true, &rl, &nrl);
                else if (m && m->nlabels) {
                    /* delete the ignored labels but keep __name__ */
                    sx_label_t *x = sx_arena_alloc(c->a, (nrl ? nrl : 1) * sizeof(*x));
                    uint32_t kk = 0;
                    for (uint32_t q = 0; q < nrl; q++) {
                        bool listed = false;
                        for (size_t z = 0; z < m->nlabels && !listed; z++)
                            listed = sx_str_eq(rl[q].name, m->labels[z]);
                        if (!listed)
                            x[kk++] = rl[q];
                    }
                    rl = x;
                    nrl = kk;
                }
            }
            if (m) {
                for (size_t z = 0; z < m->ninclude; z++) {
                    sx_str_t v = sx_pq__label_get(os->labels, os->nlabels, m->include[z]);
                    sx_pq__labels_set(c, rl, nrl, m->include[z], v, &rl, &nrl);
                }
            }
            uint32_t oi = lmap_find(c, &outmap, rl, nrl, true, (uint32_t)out->n);
            if (oi == out->n) {
                if (out->n == cap) {
                    size_t ncap = cap ? cap * 2 : 16;
                    out->s = sx_arena_realloc(c->a, out->s, cap * sizeof(*out->s),
                                              ncap * sizeof(*out->s));
                    cap = ncap;
                }
                pq_series_t *o = &out->s[out->n++];
                memset(o, 0, sizeof(*o));
                o->labels = rl;
                o->nlabels = nrl;
                o->drop_name = rdrop;
                o->v = sx_pq__steps_new(c);
            }
            pq_series_t *o = &out->s[oi];
            for (size_t j = 0; j < ns; j++) {
                if (!present(ms, j) || !present(os, j))
                    continue;
                if (matched_by) {
                    uint32_t *mb = &matched_by[(size_t)gk * ns + j];
                    if (*mb && *mb != mi + 1)
                        return sx_pq__fail(c, SX_EEXEC,
                                           "multiple matches for labels: many-to-one matching "
                                           "must be explicit (group_left/group_right)");
                    *mb = (uint32_t)mi + 1;
                }
                sx_promql_hist_t *mh = ms->h ? ms->h[j] : NULL, *oh = os->h ? os->h[j] : NULL;
                double lv = swap ? os->v[j] : ms->v[j];
                double rv = swap ? ms->v[j] : os->v[j];
                double x;
                sx_promql_hist_t *xh;
                if (!elem_op(c, op, rb, lv, swap ? oh : mh, rv, swap ? mh : oh, &x, &xh))
                    continue;
                if (!pq_is_absent(o->v[j]) || (o->h && o->h[j]))
                    return sx_pq__fail(c, SX_EEXEC,
                                       card == PQ_CARD_ONE_TO_ONE
                                           ? "multiple matches for labels: many-to-one matching "
                                             "must be explicit (group_left/group_right)"
                                           : "multiple matches for labels: grouping labels must "
                                             "ensure unique matches");
                o->v[j] = x;
                if (xh) {
                    if (!o->h)
                        o->h = sx_arena_calloc(c->a, ns, sizeof(*o->h));
                    o->h[j] = xh;
                    o->v[j] = 0;
                }
            }
        }
        if (sx_pq__check(c))
            return c->err->code;
    }
    /* Drop outputs that ended up empty (all comparisons false). */
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) {
        bool any = false;
        for (size_t j = 0; j < ns && !any; j++)
            any = present(&out->s[i], j);
        if (any)
            out->s[k++] = out->s[i];
    }
    out->n = k;
    return 0;
}

static int eval_binary(pq_ctx_t *c, const pq_node_t *n, pq_value_t *out)
{
    pq_value_t l = {0}, r = {0};
    int rc;
    if ((rc = eval(c, n->binary.lhs, &l)) || (rc = eval(c, n->binary.rhs, &r)))
        return rc;
    if (l.type == SX_PROMQL_SCALAR && r.type == SX_PROMQL_SCALAR)
        return eval_scalar_scalar(c, n, &l, &r, out);
    if (l.type == SX_PROMQL_VECTOR && r.type == SX_PROMQL_SCALAR)
        return eval_vector_scalar(c, n, &l, r.scalar, false, out);
    if (l.type == SX_PROMQL_SCALAR && r.type == SX_PROMQL_VECTOR)
        return eval_vector_scalar(c, n, &r, l.scalar, true, out);
    if (l.type == SX_PROMQL_VECTOR && r.type == SX_PROMQL_VECTOR)
        return eval_vector_vector(c, n, &l, &r, out);
    return sx_pq__fail(c, SX_EEXEC, "binary expression must contain only scalar and instant vector types");
}

/* ---- Dispatch ---- */

static int eval(pq_ctx_t *c, const pq_node_t *n, pq_value_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc = sx_pq__check(c);
    if (rc)
        return rc;
    switch (n->kind) {
    case PQ_NUMBER:
        out->type = SX_PROMQL_SCALAR;
        out->scalar = scalar_fill(c, n->number);
        return 0;
    case PQ_STRING:
        out->type = SX_PROMQL_STRING;
        out->str = n->string;
        return 0;
    case PQ_PAREN:
        return eval(c, n->paren.expr, out);
    case PQ_UNARY:
        if ((rc = eval(c, n->unary.expr, out)))
            return rc;
        if (n->unary.op != PQ_OP_SUB)
            return 0;
        if (out->type == SX_PROMQL_SCALAR) {
            for (size_t i = 0; i < c->nsteps; i++)
                out->scalar[i] = -out->scalar[i];
            return 0;
        }
        for (size_t k = 0; k < out->n; k++) {
            pq_series_t *s = &out->s[k];
            double *v = sx_pq__steps_new(c);
            sx_promql_hist_t **h = NULL;
            for (size_t i = 0; i < c->nsteps; i++) {
                if (s->h && s->h[i]) {
                    if (!h)
                        h = sx_arena_calloc(c->a, c->nsteps, sizeof(*h));
                    if (sx_promql_hist_mul(s->h[i], -1, c->a, &h[i]) == 0)
                        v[i] = 0;
                } else if (!pq_is_absent(s->v[i])) {
                    v[i] = -s->v[i];
                }
            }
            s->v = v;
            s->h = h;
            if (c->opts->delayed_name_removal)
                s->drop_name = true;
            else
                sx_pq__labels_drop_name(c, s->labels, s->nlabels, &s->labels, &s->nlabels);
        }
        return 0;
    case PQ_VSEL:
        return eval_vsel(c, n, false, out);
    case PQ_MSEL:
    case PQ_SUBQUERY:
        return eval_matrix(c, n, out);
    case PQ_AGG:
        return eval_agg(c, n, out);
    case PQ_BINARY:
        return eval_binary(c, n, out);
    case PQ_CALL:
        return eval_call(c, n, out);
    case PQ_EXTERN:
        return n->ext.fn(n->ext.ctx, c, out);
    default:
        return sx_pq__fail(c, SX_EEXEC, "unexpected expression node %d", n->kind);
    }
}

/* ---- Results ---- */

void sx_promql_opts_default(sx_promql_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->lookback_ms = 5 * 60 * 1000;
    o->max_samples = 50000000;
    o->subquery_step_ms = 60 * 1000;
    o->delayed_name_removal = true;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o->parallelism = cpus > 1 ? (int)(cpus > 8 ? 8 : cpus) : 1;
    o->parallel_min_series = 512;
}

static int series_cmp(const void *a, const void *b)
{
    const sx_promql_series_t *x = a, *y = b;
    return sx_pq__labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
}

static int check_dups(pq_ctx_t *c, sx_promql_series_t *s, size_t n)
{
    lmap_t m;
    lmap_init(c, &m, n);
    for (size_t i = 0; i < n; i++)
        if (lmap_find(c, &m, s[i].labels, s[i].nlabels, true, (uint32_t)i) != i)
            return sx_pq__fail(c, SX_EEXEC, "vector cannot contain metrics with the same labelset");
    return 0;
}

static void final_labels(pq_ctx_t *c, const pq_series_t *s, sx_label_t **l, uint32_t *n)
{
    if (s->drop_name)
        sx_pq__labels_drop_name(c, s->labels, s->nlabels, l, n);
    else {
        *l = s->labels;
        *n = s->nlabels;
    }
}

static int run(pq_ctx_t *c, sx_promql_expr_t *e, bool instant, sx_promql_result_t *out)
{
    memset(out, 0, sizeof(*out));
    pq_value_t v;
    int rc = eval(c, e, &v);
    if (rc)
        return rc;
    out->notes = c->notes;
    size_t ns = c->nsteps;
    switch (v.type) {
    case SX_PROMQL_SCALAR:
        if (instant) {
            out->type = SX_PROMQL_SCALAR;
            out->scalar = v.scalar[0];
            out->t = c->ts[0];
        } else {
            out->type = SX_PROMQL_MATRIX;
            out->nseries = 1;
            out->series = sx_arena_calloc(c->a, 1, sizeof(*out->series));
            out->series[0].n = ns;
            out->series[0].t = c->ts;
            out->series[0].v = v.scalar;
        }
        break;
    case SX_PROMQL_STRING:
        out->type = SX_PROMQL_STRING;
        out->str = v.str;
        out->t = c->ts[0];
        break;
    case SX_PROMQL_VECTOR: {
        /* Series with the same labels at different steps are one series
         * (`a > 1 or a < 0`); at the same step they are an error. */
        if (v.n > 1) {
            lmap_t m;
            lmap_init(c, &m, v.n);
            size_t k = 0;
            for (size_t i = 0; i < v.n; i++) {
                pq_series_t *s = &v.s[i];
                uint32_t j = lmap_find(c, &m, s->labels, s->nlabels, true, (uint32_t)k);
                if (j == k) {
                    v.s[k++] = *s;
                    continue;
                }
                pq_series_t *d = &v.s[j];
                for (size_t q = 0; q < ns; q++) {
                    bool sh = s->h && s->h[q];
                    if (pq_is_absent(s->v[q]) && !sh)
                        continue;
                    if (!pq_is_absent(d->v[q]) || (d->h && d->h[q]))
                        return sx_pq__fail(c, SX_EEXEC,
                                           "vector cannot contain metrics with the same labelset");
                    d->v[q] = s->v[q];
                    if (sh) {
                        if (!d->h)
                            d->h = sx_arena_calloc(c->a, ns, sizeof(*d->h));
                        d->h[q] = s->h[q];
                    }
                }
                d->drop_name = d->drop_name || s->drop_name;
            }
            v.n = k;
        }
        out->type = instant ? SX_PROMQL_VECTOR : SX_PROMQL_MATRIX;
        out->series = sx_arena_calloc(c->a, v.n ? v.n : 1, sizeof(*out->series));
        size_t k = 0;
        bool dropped = false;
        for (size_t i = 0; i < v.n; i++) {
            const pq_series_t *s = &v.s[i];
            sx_promql_series_t *o = &out->series[k];
            size_t np = 0;
            for (size_t j = 0; j < ns; j++)
                np += !pq_is_absent(s->v[j]) || (s->h && s->h[j]);
            if (!np)
                continue;
            final_labels(c, s, &o->labels, &o->nlabels);
            dropped = dropped || s->drop_name;
            o->t = sx_arena_alloc(c->a, np * sizeof(int64_t));
            o->v = sx_arena_alloc(c->a, np * sizeof(double));
            if (s->h)
                o->h = sx_arena_calloc(c->a, np, sizeof(*o->h));
            for (size_t j = 0; j < ns; j++) {
                bool hv = s->h && s->h[j];
                if (pq_is_absent(s->v[j]) && !hv)
                    continue;
                o->t[o->n] = c->ts[j];
                o->v[o->n] = s->v[j];
                if (hv)
                    o->h[o->n] = s->h[j];
                o->n++;
            }
            k++;
        }
        out->nseries = k;
        /* Label sets are unique after the merge above; only dropping
         * names can make two equal. */
        if (dropped && (rc = check_dups(c, out->series, k)))
            return rc;
        if (!instant)
            qsort(out->series, k, sizeof(*out->series), series_cmp);
        out->ordered = instant && c->ordered;
        break;
    }
    case SX_PROMQL_MATRIX: {
        if (!instant)
            return sx_pq__fail(c, SX_EPARSE,
                               "invalid expression type \"range vector\" for range query, must be "
                               "Scalar or instant Vector");
        out->type = SX_PROMQL_MATRIX;
        out->series = sx_arena_calloc(c->a, v.nrs ? v.nrs : 1, sizeof(*out->series));
        for (size_t i = 0; i < v.nrs; i++) {
            const pq_rseries_t *s = &v.rs[i];
            sx_promql_series_t *o = &out->series[i];
            if (s->drop_name)
                sx_pq__labels_drop_name(c, s->labels, s->nlabels, &o->labels, &o->nlabels);
            else {
                o->labels = s->labels;
                o->nlabels = s->nlabels;
            }
            /* Merge float and histogram points by time. */
            size_t np = s->n + s->nh, a = 0, b = 0;
            o->t = sx_arena_alloc(c->a, (np ? np : 1) * sizeof(int64_t));
            o->v = sx_arena_alloc(c->a, (np ? np : 1) * sizeof(double));
            if (s->nh)
                o->h = sx_arena_calloc(c->a, np, sizeof(*o->h));
            while (a < s->n || b < s->nh) {
                if (b >= s->nh || (a < s->n && s->t[a] < s->ht[b])) {
                    o->t[o->n] = s->t[a];
                    o->v[o->n++] = s->v[a++];
                } else {
                    o->t[o->n] = s->ht[b];
                    o->v[o->n] = 0;
                    o->h[o->n++] = s->h[b++];
                }
            }
        }
        out->nseries = v.nrs;
        if ((rc = check_dups(c, out->series, out->nseries)))
            return rc;
        qsort(out->series, out->nseries, sizeof(*out->series), series_cmp);
        break;
    }
    default:
        return sx_pq__fail(c, SX_EEXEC, "unexpected result type");
    }
    out->notes = c->notes;
    out->samples_loaded = c->samples_total;
    out->peak_samples = c->peak;
    return 0;
}

static void ctx_init(pq_ctx_t *c, sx_tsdb_t *db, const sx_promql_opts_t *opts, sx_arena_t *a,
                     sx_err_t *err, int64_t start, int64_t end, int64_t step)
{
    memset(c, 0, sizeof(*c));
    c->db = db;
    c->a = a;
    c->opts = opts;
    c->err = err;
    c->start = c->qstart = start;
    c->end = c->qend = end;
    c->step = c->qstep = step;
    c->nsteps = step > 0 ? (size_t)((end - start) / step) + 1 : 1;
    c->ts = sx_arena_alloc(a, c->nsteps * sizeof(int64_t));
    for (size_t i = 0; i < c->nsteps; i++)
        c->ts[i] = start + (int64_t)i * step;
}

int sx_promql_eval_instant(sx_tsdb_t *db, const sx_promql_opts_t *opts, sx_promql_expr_t *e,
                           int64_t t, sx_arena_t *a, sx_promql_result_t *out, sx_err_t *err)
{
    pq_ctx_t c;
    sx_err_clear(err);
    ctx_init(&c, db, opts, a, err, t, t, 0);
    return run(&c, e, true, out);
}

int sx_promql_eval_range(sx_tsdb_t *db, const sx_promql_opts_t *opts, sx_promql_expr_t *e,
                         int64_t start, int64_t end, int64_t step, sx_arena_t *a,
                         sx_promql_result_t *out, sx_err_t *err)
{
    pq_ctx_t c;
    sx_err_clear(err);
    if (step <= 0 || end < start)
        return sx_err_set(err, SX_EPARSE, "invalid range: start %lld, end %lld, step %lld",
                          (long long)start, (long long)end, (long long)step);
    if (sx_promql_expr_type(e) == SX_PROMQL_STRING || sx_promql_expr_type(e) == SX_PROMQL_MATRIX)
        return sx_err_set(err, SX_EPARSE,
                          "invalid expression type \"%s\" for range query, must be Scalar or "
                          "instant Vector",
                          sx_promql_expr_type(e) == SX_PROMQL_STRING ? "string" : "range vector");
    ctx_init(&c, db, opts, a, err, start, end, step);
    return run(&c, e, false, out);
}
