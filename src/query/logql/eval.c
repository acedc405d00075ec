/* SPDX-License-Identifier: Apache-2.0 */
/* The LogQL evaluator. Log queries read the selected streams in the asked
 * direction, run each entry through the pipeline and keep the first
 * `limit` entries overall. Metric queries become a PromQL tree whose
 * leaves are the range aggregations: each leaf reads its streams once,
 * turns kept entries into samples grouped by their final labels, and
 * reduces every step's window; PromQL's evaluator does the rest. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/hash.h"
#include "../../core/time.h"
#include "engine_int.h"

typedef struct ctx {
    sx_logstore_t *ls;
    const sx_logql_params_t *p;
    const sx_logql_opts_t *o;
    sx_arena_t *a;
    sx_err_t *err;
    sx_logql_stats_t *stats;
} ctx_t;

#define STOP_LIMIT 1

void sx_logql_opts_default(sx_logql_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->max_series = 500000;
    o->max_samples = 50000000;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o->parallelism = cpus > 1 ? (int)(cpus > 8 ? 8 : cpus) : 1;
}

static int check(ctx_t *c)
{
    if (c->o->cancel && atomic_load(c->o->cancel))
        return sx_err_set(c->err, SX_ECANCELED, "query canceled");
    if (c->o->deadline_ns && sx_mono_ns() > c->o->deadline_ns)
        return sx_err_set(c->err, SX_ETIMEOUT, "query timed out");
    return 0;
}

static sx_label_t *labels_copy(sx_arena_t *a, const sx_lq_labels_t *lb, uint32_t *n, int only_cat)
{
    sx_label_t *l = sx_arena_alloc(a, (lb->n + 1) * sizeof(sx_label_t));
    uint32_t k = 0;
    for (uint32_t i = 0; i < lb->n; i++) {
        if (only_cat >= 0 && lb->v[i].cat != only_cat)
            continue;
        l[k].name = sx_arena_strdup_str(a, lb->v[i].name);
        l[k].value = sx_arena_strdup_str(a, lb->v[i].value);
        k++;
    }
    *n = k;
    return l;
}

static bool labels_eq_lb(const sx_label_t *l, uint32_t n, const sx_lq_labels_t *lb)
{
    if (n != lb->n)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!sx_str_eq(l[i].name, lb->v[i].name) || !sx_str_eq(l[i].value, lb->v[i].value))
            return false;
    return true;
}

static int cmp_labels(const sx_label_t *a, uint32_t na, const sx_label_t *b, uint32_t nb)
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
    return (na > nb) - (na < nb);
}

/* ---- Grouping of outputs by label set (open addressing on the hash) ---- */

typedef struct group_tab {
    uint64_t *hash;
    uint32_t *idx; /* index + 1, 0 = empty */
    size_t cap, n;
} group_tab_t;

static void tab_grow(group_tab_t *t)
{
    size_t nc = t->cap ? t->cap * 2 : 64;
    uint64_t *h = sx_xcalloc(nc, sizeof(uint64_t));
    uint32_t *ix = sx_xcalloc(nc, sizeof(uint32_t));
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->idx[i])
            continue;
        size_t j = t->hash[i] & (nc - 1);
        while (ix[j])
            j = (j + 1) & (nc - 1);
        h[j] = t->hash[i];
        ix[j] = t->idx[i];
    }
    free(t->hash);
    free(t->idx);
    t->hash = h;
    t->idx = ix;
    t->cap = nc;
}

static void tab_dispose(group_tab_t *t)
{
    free(t->hash);
    free(t->idx);
}

/* ---- Log queries ---- */

typedef struct out_stream {
    sx_label_t *labels;
    uint32_t nlabels;
    sx_label_t *stream; /* stream labels only */
    uint32_t nstream;
} out_stream_t;

typedef struct kept {
    int64_t ts;
    uint32_t out;   /* output stream index */
    uint32_t seq;   /* arrival order, for stable ties */
    sx_str_t line;
    sx_label_t *meta, *parsed;
    uint32_t nmeta, nparsed;
} kept_t;

typedef struct logrun {
    ctx_t *c;
    sx_lq_pipe_t *pipe;
    const sx_log_stream_t *st;
    out_stream_t *outs;
    size_t nouts, outcap;
    group_tab_t tab;
    kept_t *kept;
    size_t nkept, keptcap;
    size_t stream_kept;     /* entries kept from the current stream */
    int64_t last_ts;        /* interval sampling, per stream */
    bool have_last;
    uint8_t *mask;          /* prefilter candidates of the current block */
    size_t maskcap;
    /* Kept entries live in their own arena: when more than twice the
     * limit are kept, the best `limit` are copied to a fresh one, and
     * their worst time becomes a bound that ends the next streams early. */
    sx_arena_t karena;
    uint32_t seq;
    bool have_bound;
    int64_t bound;
    int rc;
} logrun_t;

/* Hash and equality of the labels that make an output stream: all of
 * them, or with categorize only the stream labels. */
static uint64_t key_hash(const sx_lq_labels_t *lb, bool stream_only)
{
    if (!stream_only)
        return sx_lq_labels_hash(lb);
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (uint32_t i = 0; i < lb->n; i++) {
        if (lb->v[i].cat != SX_LQ_STREAM)
            continue;
        h = sx_hash64_seed(lb->v[i].name.ptr, lb->v[i].name.len, h);
        h = sx_hash64_seed(lb->v[i].value.ptr, lb->v[i].value.len, h ^ 0xff);
    }
    return h;
}

static bool key_eq(const out_stream_t *o, const sx_lq_labels_t *lb, bool stream_only)
{
    if (!stream_only)
        return labels_eq_lb(o->labels, o->nlabels, lb);
    uint32_t k = 0;
    for (uint32_t i = 0; i < lb->n; i++) {
        if (lb->v[i].cat != SX_LQ_STREAM)
            continue;
        if (k >= o->nstream || !sx_str_eq(o->stream[k].name, lb->v[i].name) ||
            !sx_str_eq(o->stream[k].value, lb->v[i].value))
            return false;
        k++;
    }
    return k == o->nstream;
}

static uint8_t *block_mask(uint8_t **mask, size_t *cap, size_t n)
{
    if (n > *cap) {
        *cap = n;
        *mask = sx_xrealloc(*mask, n);
    }
    return *mask;
}

static uint32_t out_for(logrun_t *r, sx_lq_labels_t *lb)
{
    bool so = r->c->p->categorize;
    uint64_t h = key_hash(lb, so);
    group_tab_t *t = &r->tab;
    if ((t->n + 1) * 2 > t->cap)
        tab_grow(t);
    size_t j = h & (t->cap - 1);
    while (t->idx[j]) {
        out_stream_t *o = &r->outs[t->idx[j] - 1];
        if (t->hash[j] == h && key_eq(o, lb, so))
            return t->idx[j] - 1;
        j = (j + 1) & (t->cap - 1);
    }
    if (r->nouts == r->outcap) {
        r->outcap = r->outcap ? r->outcap * 2 : 16;
        r->outs = sx_xrealloc(r->outs, r->outcap * sizeof(out_stream_t));
    }
    out_stream_t *o = &r->outs[r->nouts];
    o->stream = labels_copy(r->c->a, lb, &o->nstream, SX_LQ_STREAM);
    if (so) {
        o->labels = o->stream;
        o->nlabels = o->nstream;
    } else {
        o->labels = labels_copy(r->c->a, lb, &o->nlabels, -1);
    }
    t->hash[j] = h;
    t->idx[j] = (uint32_t)(r->nouts + 1);
    t->n++;
    return (uint32_t)r->nouts++;
}

static int log_block(void *arg, const sx_log_block_t *b)
{
    logrun_t *r = arg;
    ctx_t *c = r->c;
    const sx_logql_params_t *p = c->p;
    if ((r->rc = check(c)))
        return r->rc;
    c->stats->lines_processed += b->n;
    uint8_t *mask = block_mask(&r->mask, &r->maskcap, b->n);
    bool pre = sx_lq__pipe_prefilter(r->pipe, b->lines, b->n, mask);
    for (size_t k = 0; k < b->n; k++) {
        size_t i = p->backward ? b->n - 1 - k : k;
        int64_t ts = b->ts[i];
        sx_str_t line = b->lines[i];
        c->stats->bytes_processed += line.len;
        if (pre && !mask[i])
            continue;
        const sx_label_t *meta = NULL;
        uint32_t nmeta = 0;
        if (b->meta_idx) {
            meta = &b->meta[b->meta_idx[i]];
            nmeta = b->meta_idx[i + 1] - b->meta_idx[i];
        }
        if (r->have_bound && (p->backward ? ts < r->bound : ts > r->bound))
            return STOP_LIMIT;
        if (!sx_lq__pipe_run(r->pipe, r->st->labels, r->st->nlabels, ts, &line, meta, nmeta, NULL))
            continue;
        c->stats->post_filter_lines++;
        if (p->interval_ns > 0 && r->have_last) {
            int64_t d = p->backward ? r->last_ts - ts : ts - r->last_ts;
            if (d < p->interval_ns)
                continue;
        }
        r->last_ts = ts;
        r->have_last = true;
        sx_lq_labels_t *lb = sx_lq__pipe_labels(r->pipe);
        if (r->nkept == r->keptcap) {
            r->keptcap = r->keptcap ? r->keptcap * 2 : 256;
            r->kept = sx_xrealloc(r->kept, r->keptcap * sizeof(kept_t));
        }
        kept_t *e = &r->kept[r->nkept];
        e->ts = ts;
        e->out = out_for(r, lb);
        e->seq = r->seq++;
        e->line = sx_arena_strdup_str(&r->karena, line);
        e->meta = labels_copy(&r->karena, lb, &e->nmeta, SX_LQ_META);
        e->parsed = labels_copy(&r->karena, lb, &e->nparsed, SX_LQ_PARSED);
        r->nkept++;
        if (++r->stream_kept >= p->limit)
            return STOP_LIMIT;
    }
    return 0;
}

static int cmp_kept(const void *x, const void *y, void *arg)
{
    const kept_t *a = x, *b = y;
    bool backward = *(const bool *)arg;
    if (a->ts != b->ts)
        return backward ? (a->ts < b->ts ? 1 : -1) : (a->ts < b->ts ? -1 : 1);
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static int cmp_out_idx(const void *x, const void *y, void *arg)
{
    const out_stream_t *o = arg;
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return cmp_labels(o[a].labels, o[a].nlabels, o[b].labels, o[b].nlabels);
}

static sx_label_t *copy_pairs(sx_arena_t *a, const sx_label_t *l, uint32_t n)
{
    sx_label_t *o = sx_arena_alloc(a, (n + 1) * sizeof(sx_label_t));
    for (uint32_t i = 0; i < n; i++) {
        o[i].name = sx_arena_strdup_str(a, l[i].name);
        o[i].value = sx_arena_strdup_str(a, l[i].value);
    }
    return o;
}

/* Sort the kept entries best first and keep the first n, their strings
 * copied into a (whose old contents the caller may then drop). */
static void kept_keep(logrun_t *r, size_t n, sx_arena_t *a)
{
    bool backward = r->c->p->backward;
    if (r->nkept > 1)
        qsort_r(r->kept, r->nkept, sizeof(kept_t), cmp_kept, &backward);
    if (n > r->nkept)
        n = r->nkept;
    for (size_t i = 0; i < n; i++) {
        kept_t *k = &r->kept[i];
        k->line = sx_arena_strdup_str(a, k->line);
        k->meta = copy_pairs(a, k->meta, k->nmeta);
        k->parsed = copy_pairs(a, k->parsed, k->nparsed);
    }
    r->nkept = n;
}

static void kept_trim(logrun_t *r)
{
    size_t limit = r->c->p->limit;
    if (r->nkept <= 2 * limit)
        return;
    sx_arena_t fresh;
    sx_arena_init(&fresh);
    kept_keep(r, limit, &fresh);
    sx_arena_dispose(&r->karena);
    r->karena = fresh;
    r->have_bound = true;
    r->bound = r->kept[limit - 1].ts;
}

static int eval_log(ctx_t *c, const sx_logql_expr_t *e, sx_logql_result_t *out)
{
    out->is_streams = true;
    const sx_logql_params_t *p = c->p;
    if (!c->ls || p->limit == 0)
        return 0;
    sx_lq_pipe_t *pipe = sx_lq__pipe_create(e, NULL, c->a, c->err);
    if (!pipe)
        return c->err->code ? c->err->code : SX_EPARSE;
    sx_log_stream_t *st;
    size_t nst;
    int64_t maxt = p->end_ns - 1;
    sx_logstore_select(c->ls, e->log.matchers, e->log.nmatchers, p->start_ns, maxt, c->a, &st, &nst);
    c->stats->streams = nst;
    sx_str_t *needles;
    size_t nn = sx_lq__pipe_needles(pipe, &needles, c->a);
    sx_log_hint_t hint = {needles, nn};
    logrun_t r = {0};
    r.c = c;
    r.pipe = pipe;
    sx_arena_init(&r.karena);
    int flags = SX_LOGREAD_LINES | SX_LOGREAD_META | (p->backward ? SX_LOGREAD_BACKWARD : 0);
    int rc = 0;
    for (size_t i = 0; i < nst && !rc; i++) {
        r.st = &st[i];
        r.stream_kept = 0;
        r.have_last = false;
        sx_log_read_stats_t rs = {0};
        int x = sx_logstore_read(c->ls, st[i].id, p->start_ns, maxt, flags, nn ? &hint : NULL,
                                 log_block, &r, &rs);
        c->stats->chunks_read += rs.chunks_read;
        c->stats->chunks_skipped += rs.chunks_skipped;
        c->stats->chunks_ref += rs.chunks_read + rs.chunks_skipped;
        c->stats->bytes_decompressed += rs.bytes_decompressed;
        if (x && x != STOP_LIMIT)
            rc = r.rc ? r.rc : x;
        kept_trim(&r);
    }
    sx_lq__pipe_destroy(pipe);
    if (!rc) {
        /* The first `limit` entries overall in the asked direction, into
         * the answer's arena. */
        kept_keep(&r, p->limit, c->a);
        size_t n = r.nkept;
        size_t *count = sx_xcalloc(r.nouts + 1, sizeof(size_t));
        for (size_t i = 0; i < n; i++)
            count[r.kept[i].out]++;
        uint32_t *order = sx_xmalloc((r.nouts + 1) * sizeof(uint32_t));
        size_t no = 0;
        for (uint32_t i = 0; i < r.nouts; i++)
            if (count[i])
                order[no++] = i;
        qsort_r(order, no, sizeof(uint32_t), cmp_out_idx, r.outs);
        uint32_t *slot = sx_xcalloc(r.nouts + 1, sizeof(uint32_t));
        out->streams = sx_arena_calloc(c->a, no + 1, sizeof(sx_logql_stream_t));
        out->nstreams = no;
        for (size_t k = 0; k < no; k++) {
            uint32_t o = order[k];
            slot[o] = (uint32_t)k;
            sx_logql_stream_t *s = &out->streams[k];
            s->labels = r.outs[o].labels;
            s->nlabels = r.outs[o].nlabels;
            s->stream = r.outs[o].stream;
            s->nstream = r.outs[o].nstream;
            s->e = sx_arena_alloc(c->a, count[o] * sizeof(sx_logql_entry_t));
        }
        for (size_t i = 0; i < n; i++) {
            const kept_t *k = &r.kept[i];
            sx_logql_stream_t *s = &out->streams[slot[k->out]];
            s->e[s->n++] = (sx_logql_entry_t){k->ts, k->line, k->meta, k->nmeta, k->parsed, k->nparsed};
        }
        c->stats->entries_returned = n;
        free(count);
        free(order);
        free(slot);
    }
    free(r.kept);
    free(r.outs);
    free(r.mask);
    sx_arena_dispose(&r.karena);
    tab_dispose(&r.tab);
    return rc;
}

/* ---- Range aggregations (PromQL leaves) ---- */

typedef struct rseries {
    sx_label_t *labels;
    uint32_t nlabels;
    int64_t *ts;
    double *v;
    size_t n, cap;
    double *diff, *cdiff; /* count-like ops: per-step difference arrays */
} rseries_t;

typedef struct rangerun {
    ctx_t *c;
    const sx_logql_expr_t *agg;
    sx_lq_pipe_t *pipe;
    const sx_log_stream_t *st;
    int rop;
    bool counting;          /* count/bytes ops use difference arrays */
    const int64_t *ends;    /* step window ends (ns) */
    size_t nsteps;
    int64_t first_end, step;
    rseries_t *s;
    size_t ns, scap;
    group_tab_t tab;
    const sx_str_t *by;
    size_t nby;
    bool without, grouped;
    bool keep_error;        /* pushed-down grouping keeps __error__ (it must still fail) */
    bool lines_only;        /* the pipeline only filters lines */
    ptrdiff_t stream_series; /* lines_only: the current stream's series, or -1 */
    uint8_t *mask;          /* prefilter candidates of the current block */
    size_t maskcap;
    int rc;
} rangerun_t;

static int rop_of(const sx_logql_expr_t *agg)
{
    bool uw = agg->range.has_unwrap;
    switch (agg->range.op) {
    case SX_LQ_RANGE_COUNT_OVER_TIME: return SX_LQ_R_COUNT;
    case SX_LQ_RANGE_RATE: return uw ? SX_LQ_R_RATE_SUM : SX_LQ_R_RATE;
    case SX_LQ_RANGE_RATE_COUNTER: return SX_LQ_R_RATE_COUNTER;
    case SX_LQ_RANGE_BYTES_OVER_TIME: return SX_LQ_R_BYTES;
    case SX_LQ_RANGE_BYTES_RATE: return SX_LQ_R_BYTES_RATE;
    case SX_LQ_RANGE_AVG_OVER_TIME: return SX_LQ_R_AVG;
    case SX_LQ_RANGE_SUM_OVER_TIME: return SX_LQ_R_SUM;
    case SX_LQ_RANGE_MIN_OVER_TIME: return SX_LQ_R_MIN;
    case SX_LQ_RANGE_MAX_OVER_TIME: return SX_LQ_R_MAX;
    case SX_LQ_RANGE_STDVAR_OVER_TIME: return SX_LQ_R_STDVAR;
    case SX_LQ_RANGE_STDDEV_OVER_TIME: return SX_LQ_R_STDDEV;
    case SX_LQ_RANGE_QUANTILE_OVER_TIME: return SX_LQ_R_QUANTILE;
    case SX_LQ_RANGE_FIRST_OVER_TIME: return SX_LQ_R_FIRST;
    case SX_LQ_RANGE_LAST_OVER_TIME: return SX_LQ_R_LAST;
    default: return SX_LQ_R_ABSENT;
    }
}

/* Keep only the grouping labels of the builder (by) or drop them
 * (without). */
static void apply_grouping(rangerun_t *r, sx_lq_labels_t *lb)
{
    if (!r->grouped)
        return;
    uint32_t n = lb->n;
    sx_str_t *gone = (sx_str_t *)sx_lq_labels_alloc(lb, (n + 1) * sizeof(sx_str_t));
    size_t ng = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool listed = false;
        for (size_t k = 0; k < r->nby && !listed; k++)
            listed = sx_str_eq(r->by[k], lb->v[i].name);
        if (r->keep_error && sx_str_eq_cstr(lb->v[i].name, SX_LQ_ERROR_LABEL))
            continue;
        if (listed == r->without)
            gone[ng++] = lb->v[i].name;
    }
    for (size_t i = 0; i < ng; i++)
        sx_lq_labels_del(lb, gone[i]);
}

static rseries_t *series_for(rangerun_t *r, sx_lq_labels_t *lb)
{
    uint64_t h = sx_lq_labels_hash(lb);
    group_tab_t *t = &r->tab;
    if ((t->n + 1) * 2 > t->cap)
        tab_grow(t);
    size_t j = h & (t->cap - 1);
    while (t->idx[j]) {
        rseries_t *s = &r->s[t->idx[j] - 1];
        if (t->hash[j] == h && labels_eq_lb(s->labels, s->nlabels, lb))
            return s;
        j = (j + 1) & (t->cap - 1);
    }
    if ((int64_t)r->ns >= r->c->o->max_series) {
        r->rc = sx_err_set(r->c->err, SX_EEXEC,
                           "maximum number of series (%lld) reached for a single query; consider "
                           "reducing query cardinality by adding more specific stream selectors, "
                           "reducing the time range, or aggregating results with a 'sum by' clause",
                           (long long)r->c->o->max_series);
        return NULL;
    }
    if (r->ns == r->scap) {
        r->scap = r->scap ? r->scap * 2 : 16;
        r->s = sx_xrealloc(r->s, r->scap * sizeof(rseries_t));
    }
    rseries_t *s = &r->s[r->ns];
    memset(s, 0, sizeof(*s));
    s->labels = labels_copy(r->c->a, lb, &s->nlabels, -1);
    if (r->counting) {
        s->diff = sx_xcalloc(r->nsteps + 1, sizeof(double));
        s->cdiff = sx_xcalloc(r->nsteps + 1, sizeof(double));
    }
    t->hash[j] = h;
    t->idx[j] = (uint32_t)(r->ns + 1);
    t->n++;
    r->ns++;
    return s;
}

static void add_sample(rangerun_t *r, rseries_t *s, int64_t ts, double v)
{
    if (r->counting) {
        /* Steps j whose window (end_j - range, end_j] holds ts. */
        int64_t range = r->agg->range.range_ns;
        int64_t jlo, jhi;
        if (r->step == 0) {
            if (!(ts <= r->first_end && ts > r->first_end - range))
                return;
            jlo = jhi = 0;
        } else {
            int64_t lo_num = ts - r->first_end, hi_num = ts + range - r->first_end;
            if (hi_num <= 0)
                return;
            jlo = lo_num <= 0 ? 0 : (lo_num + r->step - 1) / r->step;
            jhi = (hi_num + r->step - 1) / r->step - 1;
            if (jhi >= (int64_t)r->nsteps)
                jhi = (int64_t)r->nsteps - 1;
        }
        if (jlo > jhi)
            return;
        s->diff[jlo] += v;
        s->diff[jhi + 1] -= v;
        s->cdiff[jlo] += 1;
        s->cdiff[jhi + 1] -= 1;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->ts = sx_xrealloc(s->ts, s->cap * sizeof(int64_t));
        s->v = sx_xrealloc(s->v, s->cap * sizeof(double));
    }
    s->ts[s->n] = ts;
    s->v[s->n] = v;
    s->n++;
}

static int range_block(void *arg, const sx_log_block_t *b)
{
    rangerun_t *r = arg;
    ctx_t *c = r->c;
    if ((r->rc = check(c)))
        return r->rc;
    c->stats->lines_processed += b->n;
    bool bytes = r->rop == SX_LQ_R_BYTES || r->rop == SX_LQ_R_BYTES_RATE;
    uint8_t *mask = block_mask(&r->mask, &r->maskcap, b->n);
    bool pre = b->lines && sx_lq__pipe_prefilter(r->pipe, b->lines, b->n, mask);
    for (size_t i = 0; i < b->n; i++) {
        sx_str_t line = b->lines ? b->lines[i] : SX_STR_NULL;
        c->stats->bytes_processed += line.len;
        if (pre && !mask[i])
            continue;
        const sx_label_t *meta = NULL;
        uint32_t nmeta = 0;
        if (b->meta_idx) {
            meta = &b->meta[b->meta_idx[i]];
            nmeta = b->meta_idx[i + 1] - b->meta_idx[i];
        }
        double v = 1;
        if (!sx_lq__pipe_run(r->pipe, r->st->labels, r->st->nlabels, b->ts[i], &line, meta, nmeta,
                             &v))
            continue;
        c->stats->post_filter_lines++;
        if (bytes)
            v = (double)line.len;
        rseries_t *s;
        if (r->lines_only && nmeta == 0 && r->stream_series >= 0) {
            /* Only line filters and no metadata: the series is the
             * stream's own, found once. */
            s = &r->s[r->stream_series];
        } else {
            sx_lq_labels_t *lb = sx_lq__pipe_labels(r->pipe);
            apply_grouping(r, lb);
            s = series_for(r, lb);
            if (!s)
                return r->rc;
            if (r->lines_only && nmeta == 0)
                r->stream_series = s - r->s;
        }
        add_sample(r, s, b->ts[i], v);
    }
    return 0;
}

typedef struct int64_double {
    int64_t t;
    double v;
} tv_t;

static int cmp_tv(const void *x, const void *y)
{
    const tv_t *a = x, *b = y;
    return (a->t > b->t) - (a->t < b->t);
}

static void sort_samples(rseries_t *s)
{
    bool sorted = true;
    for (size_t i = 1; i < s->n && sorted; i++)
        sorted = s->ts[i] >= s->ts[i - 1];
    if (sorted)
        return;
    tv_t *tmp = sx_xmalloc(s->n * sizeof(tv_t));
    for (size_t i = 0; i < s->n; i++)
        tmp[i] = (tv_t){s->ts[i], s->v[i]};
    /* qsort is not stable; entries of equal time keep no particular order
     * in Loki either. */
    qsort(tmp, s->n, sizeof(tv_t), cmp_tv);
    for (size_t i = 0; i < s->n; i++) {
        s->ts[i] = tmp[i].t;
        s->v[i] = tmp[i].v;
    }
    free(tmp);
}

typedef struct ext_arg {
    ctx_t *c;
    const sx_logql_expr_t *agg;
    /* Grouping of an enclosing sum/min/max pushed down (NULL = none):
     * summing per-stream counts and then grouping is the same as counting
     * per group, and keeps extracted labels from making a series each. */
    const sx_logql_grouping_t *push;
    bool push_all;          /* the enclosing aggregation has no grouping */
} ext_arg_t;

static const char *error_label(const sx_label_t *l, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (sx_str_eq_cstr(l[i].name, SX_LQ_ERROR_LABEL))
            return "";
    return NULL;
}

static int pipeline_error(ctx_t *c, const rseries_t *s)
{
    sx_str_t errv = SX_STR_NULL;
    for (uint32_t i = 0; i < s->nlabels; i++)
        if (sx_str_eq_cstr(s->labels[i].name, SX_LQ_ERROR_LABEL))
            errv = s->labels[i].value;
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_putc(&b, '{');
    for (uint32_t i = 0; i < s->nlabels; i++) {
        if (i)
            sx_buf_puts(&b, ", ");
        sx_buf_append_str(&b, s->labels[i].name);
        sx_buf_putc(&b, '=');
        sx_buf_json_str(&b, s->labels[i].value.ptr, s->labels[i].value.len);
    }
    sx_buf_putc(&b, '}');
    int rc = sx_err_set(c->err, SX_EEXEC,
                        "pipeline error: '%.*s' for series: '%.*s'.\nUse a label filter to "
                        "intentionally skip this error. (e.g | __error__!=\"%.*s\").\nTo skip all "
                        "potential errors you can match empty errors.(e.g __error__=\"\")\nThe "
                        "label filter can also be specified after unwrap. (e.g | unwrap latency | "
                        "__error__=\"\" )\n",
                        (int)errv.len, errv.ptr, (int)b.len, b.ptr, (int)errv.len, errv.ptr);
    sx_buf_dispose(&b);
    return rc;
}

static int ext_range(void *varg, pq_ctx_t *pc, pq_value_t *out)
{
    ext_arg_t *ea = varg;
    ctx_t *c = ea->c;
    const sx_logql_expr_t *agg = ea->agg;
    const sx_logql_expr_t *sel = agg->range.sel;
    int64_t range = agg->range.range_ns, off = agg->range.offset_ns;
    out->type = SX_PROMQL_VECTOR;
    rangerun_t r = {0};
    r.c = c;
    r.agg = agg;
    r.rop = rop_of(agg);
    r.counting = r.rop == SX_LQ_R_COUNT || r.rop == SX_LQ_R_RATE || r.rop == SX_LQ_R_BYTES ||
                 r.rop == SX_LQ_R_BYTES_RATE || r.rop == SX_LQ_R_ABSENT;
    r.nsteps = pc->nsteps;
    int64_t *ends = sx_arena_alloc(c->a, (pc->nsteps + 1) * sizeof(int64_t));
    for (size_t i = 0; i < pc->nsteps; i++)
        ends[i] = pc->ts[i] * 1000000LL - off;
    /* Instant queries and range queries keep Loki's nanosecond ends when
     * the query's own times are not whole milliseconds. */
    if (pc->nsteps == 1)
        ends[0] = (c->p->step_ns ? c->p->start_ns : c->p->end_ns) - off;
    else if (c->p->step_ns)
        for (size_t i = 0; i < pc->nsteps; i++)
            ends[i] = c->p->start_ns + (int64_t)i * c->p->step_ns - off;
    r.ends = ends;
    r.first_end = ends[0];
    r.step = pc->nsteps > 1 ? ends[1] - ends[0] : 0;
    if (agg->range.grouping) {
        r.grouped = true;
        r.without = agg->range.grouping->without;
        r.by = agg->range.grouping->labels;
        r.nby = agg->range.grouping->nlabels;
    } else if (ea->push || ea->push_all) {
        r.grouped = true;
        r.keep_error = true;
        r.without = ea->push ? ea->push->without : false;
        r.by = ea->push ? ea->push->labels : NULL;
        r.nby = ea->push ? ea->push->nlabels : 0;
    }
    int rc = 0;
    r.pipe = sx_lq__pipe_create(sel, agg->range.has_unwrap ? &agg->range.unwrap : NULL, c->a, c->err);
    if (!r.pipe)
        return c->err->code ? c->err->code : SX_EPARSE;
    int64_t mint = ends[0] - range + 1, maxt = ends[pc->nsteps - 1];
    sx_log_stream_t *st = NULL;
    size_t nst = 0;
    if (c->ls)
        sx_logstore_select(c->ls, sel->log.matchers, sel->log.nmatchers, mint, maxt, c->a, &st, &nst);
    c->stats->streams += nst;
    sx_str_t *needles;
    size_t nn = sx_lq__pipe_needles(r.pipe, &needles, c->a);
    sx_log_hint_t hint = {needles, nn};
    /* Lines are needed unless the pipeline only filters nothing and the
     * value does not depend on them. */
    bool need_lines = !(sx_lq__pipe_lines_only(r.pipe) && sel->log.nstages == 0 &&
                        (r.rop == SX_LQ_R_COUNT || r.rop == SX_LQ_R_RATE || r.rop == SX_LQ_R_ABSENT));
    int flags = (need_lines ? SX_LOGREAD_LINES : 0) | SX_LOGREAD_META;
    r.lines_only = sx_lq__pipe_lines_only(r.pipe) && !r.grouped;
    for (size_t i = 0; i < nst && !rc; i++) {
        r.st = &st[i];
        r.stream_series = -1;
        sx_log_read_stats_t rs = {0};
        rc = sx_logstore_read(c->ls, st[i].id, mint, maxt, flags, nn ? &hint : NULL, range_block, &r,
                              &rs);
        if (rc && r.rc)
            rc = r.rc;
        c->stats->chunks_read += rs.chunks_read;
        c->stats->chunks_skipped += rs.chunks_skipped;
        c->stats->chunks_ref += rs.chunks_read + rs.chunks_skipped;
        c->stats->bytes_decompressed += rs.bytes_decompressed;
    }
    sx_lq__pipe_destroy(r.pipe);
    for (size_t i = 0; i < r.ns && !rc; i++)
        if (error_label(r.s[i].labels, r.s[i].nlabels))
            rc = pipeline_error(c, &r.s[i]);
    double secs = (double)range / 1e9;
    if (!rc && r.rop == SX_LQ_R_ABSENT) {
        /* One series with the selector's equality labels, 1 where no
         * series had a sample. */
        double *present = sx_xcalloc(pc->nsteps + 1, sizeof(double));
        for (size_t i = 0; i < r.ns; i++) {
            double acc = 0;
            for (size_t j = 0; j < pc->nsteps; j++) {
                acc += r.s[i].cdiff[j];
                present[j] += acc;
            }
        }
        double *v = sx_pq__steps_new(pc);
        bool any = false;
        for (size_t j = 0; j < pc->nsteps; j++)
            if (present[j] < 0.5) {
                v[j] = 1;
                any = true;
            }
        free(present);
        if (any) {
            size_t nm = sel->log.nmatchers;
            sx_label_t *l = sx_arena_alloc(c->a, (nm + 1) * sizeof(sx_label_t));
            uint32_t k = 0;
            for (size_t i = 0; i < nm; i++) {
                const sx_matcher_t *m = &sel->log.matchers[i];
                if (m->op != SX_MATCH_EQ)
                    continue;
                bool dup = false;
                for (size_t j = 0; j < nm; j++)
                    if (j != i && sx_str_eq(sel->log.matchers[j].name, m->name))
                        dup = true;
                if (!dup)
                    l[k++] = (sx_label_t){m->name, m->value};
            }
            for (uint32_t i = 1; i < k; i++)
                for (uint32_t j = i; j > 0 && sx_str_cmp(l[j].name, l[j - 1].name) < 0; j--) {
                    sx_label_t t = l[j];
                    l[j] = l[j - 1];
                    l[j - 1] = t;
                }
            out->s = sx_pq__series_new(pc, 1);
            out->n = 1;
            out->s[0].labels = l;
            out->s[0].nlabels = k;
            out->s[0].v = v;
        }
    } else if (!rc) {
        out->s = sx_pq__series_new(pc, r.ns);
        out->n = 0;
        double *scratch = NULL;
        for (size_t i = 0; i < r.ns; i++) {
            rseries_t *s = &r.s[i];
            double *v = sx_pq__steps_new(pc);
            bool any = false;
            if (r.counting) {
                double acc = 0, cacc = 0;
                for (size_t j = 0; j < pc->nsteps; j++) {
                    acc += s->diff[j];
                    cacc += s->cdiff[j];
                    if (cacc < 0.5)
                        continue;
                    double x = acc;
                    if (r.rop == SX_LQ_R_RATE || r.rop == SX_LQ_R_BYTES_RATE)
                        x /= secs;
                    v[j] = x;
                    any = true;
                }
            } else {
                sort_samples(s);
                scratch = sx_xrealloc(scratch, (s->n + 1) * sizeof(double));
                double param = agg->range.param ? agg->range.param->value : 0;
                sx_lq__range_reduce(r.rop, param, s->ts, s->v, s->n, ends, pc->nsteps, range, v,
                                    scratch);
                for (size_t j = 0; j < pc->nsteps && !any; j++)
                    any = !pq_is_absent(v[j]);
            }
            if (!any)
                continue;
            pq_series_t *ps = &out->s[out->n++];
            ps->labels = s->labels;
            ps->nlabels = s->nlabels;
            ps->v = v;
        }
        free(scratch);
    }
    for (size_t i = 0; i < r.ns; i++) {
        free(r.s[i].ts);
        free(r.s[i].v);
        free(r.s[i].diff);
        free(r.s[i].cdiff);
    }
    free(r.s);
    free(r.mask);
    tab_dispose(&r.tab);
    return rc;
}

/* ---- Translation to a PromQL tree ---- */

static pq_node_t *pnode(ctx_t *c, int kind, int type)
{
    pq_node_t *n = sx_arena_calloc(c->a, 1, sizeof(*n));
    n->kind = kind;
    n->type = type;
    return n;
}

static pq_node_t *pnumber(ctx_t *c, double v)
{
    pq_node_t *n = pnode(c, PQ_NUMBER, SX_PROMQL_SCALAR);
    n->number = v;
    return n;
}

static pq_node_t *pstring(ctx_t *c, sx_str_t s)
{
    pq_node_t *n = pnode(c, PQ_STRING, SX_PROMQL_STRING);
    n->string = s;
    return n;
}

static pq_node_t *pcall(ctx_t *c, const char *name, pq_node_t **args, size_t nargs)
{
    pq_node_t *n = pnode(c, PQ_CALL, SX_PROMQL_VECTOR);
    n->call.fn = sx_pq__func_lookup(sx_str(name));
    n->call.args = sx_arena_alloc(c->a, (nargs + 1) * sizeof(pq_node_t *));
    memcpy(n->call.args, args, nargs * sizeof(pq_node_t *));
    n->call.nargs = nargs;
    return n;
}

/* Whether the grouping of vector aggregation e may be applied inside its
 * range aggregation already: sum of additive functions, min of min and max
 * of max give the same answer over the merged samples of a group. */
static bool pushable(const sx_logql_expr_t *e)
{
    const sx_logql_expr_t *in = e->vec.expr;
    if (in->kind != SX_LQ_EXPR_RANGE_AGG || in->range.grouping)
        return false;
    int r = in->range.op;
    switch (e->vec.op) {
    case SX_LQ_VEC_SUM:
        return r == SX_LQ_RANGE_COUNT_OVER_TIME || r == SX_LQ_RANGE_BYTES_OVER_TIME ||
               r == SX_LQ_RANGE_BYTES_RATE || r == SX_LQ_RANGE_SUM_OVER_TIME ||
               (r == SX_LQ_RANGE_RATE);
    case SX_LQ_VEC_MAX:
        return r == SX_LQ_RANGE_MAX_OVER_TIME;
    case SX_LQ_VEC_MIN:
        return r == SX_LQ_RANGE_MIN_OVER_TIME;
    default:
        return false;
    }
}

static void push_grouping(void *arg, const sx_logql_grouping_t *g)
{
    ext_arg_t *ea = arg;
    ea->push = g;
    ea->push_all = g == NULL;
}

static pq_node_t *translate(ctx_t *c, const sx_logql_expr_t *e)
{
    switch (e->kind) {
    case SX_LQ_EXPR_NUMBER:
        return pnumber(c, e->num.value);
    case SX_LQ_EXPR_VECTOR: {
        pq_node_t *arg = pnumber(c, e->num.value);
        return pcall(c, "vector", &arg, 1);
    }
    case SX_LQ_EXPR_RANGE_AGG: {
        pq_node_t *n = pnode(c, PQ_EXTERN, SX_PROMQL_VECTOR);
        ext_arg_t *ea = sx_arena_calloc(c->a, 1, sizeof(*ea));
        ea->c = c;
        ea->agg = e;
        n->ext.fn = ext_range;
        n->ext.ctx = ea;
        return n;
    }
    case SX_LQ_EXPR_LABEL_REPLACE: {
        pq_node_t *args[5] = {translate(c, e->lrep.expr), pstring(c, e->lrep.dst),
                              pstring(c, e->lrep.replacement), pstring(c, e->lrep.src),
                              pstring(c, e->lrep.regex)};
        return pcall(c, "label_replace", args, 5);
    }
    case SX_LQ_EXPR_VECTOR_AGG: {
        pq_node_t *inner = translate(c, e->vec.expr);
        if (inner && inner->kind == PQ_EXTERN && pushable(e))
            push_grouping(inner->ext.ctx, e->vec.grouping);
        if (e->vec.op == SX_LQ_VEC_SORT || e->vec.op == SX_LQ_VEC_SORT_DESC) {
            pq_node_t *n = pcall(c, e->vec.op == SX_LQ_VEC_SORT ? "sort" : "sort_desc", &inner, 1);
            return n;
        }
        pq_node_t *n = pnode(c, PQ_AGG, SX_PROMQL_VECTOR);
        static const int map[] = {
            [SX_LQ_VEC_SUM] = PQ_AGG_SUM,       [SX_LQ_VEC_AVG] = PQ_AGG_AVG,
            [SX_LQ_VEC_COUNT] = PQ_AGG_COUNT,   [SX_LQ_VEC_MAX] = PQ_AGG_MAX,
            [SX_LQ_VEC_MIN] = PQ_AGG_MIN,       [SX_LQ_VEC_STDDEV] = PQ_AGG_STDDEV,
            [SX_LQ_VEC_STDVAR] = PQ_AGG_STDVAR, [SX_LQ_VEC_BOTTOMK] = PQ_AGG_BOTTOMK,
            [SX_LQ_VEC_TOPK] = PQ_AGG_TOPK,     [SX_LQ_VEC_APPROX_TOPK] = PQ_AGG_TOPK,
        };
        n->agg.op = map[e->vec.op];
        n->agg.expr = inner;
        if (e->vec.op == SX_LQ_VEC_TOPK || e->vec.op == SX_LQ_VEC_BOTTOMK ||
            e->vec.op == SX_LQ_VEC_APPROX_TOPK)
            n->agg.param = pnumber(c, (double)e->vec.k);
        if (e->vec.grouping) {
            n->agg.grouping = true;
            n->agg.without = e->vec.grouping->without;
            n->agg.labels = e->vec.grouping->labels;
            n->agg.nlabels = e->vec.grouping->nlabels;
        }
        return n;
    }
    case SX_LQ_EXPR_BINARY: {
        static const int map[] = {
            [SX_LQ_BIN_OR] = PQ_OP_OR,   [SX_LQ_BIN_AND] = PQ_OP_AND, [SX_LQ_BIN_UNLESS] = PQ_OP_UNLESS,
            [SX_LQ_BIN_ADD] = PQ_OP_ADD, [SX_LQ_BIN_SUB] = PQ_OP_SUB, [SX_LQ_BIN_MUL] = PQ_OP_MUL,
            [SX_LQ_BIN_DIV] = PQ_OP_DIV, [SX_LQ_BIN_MOD] = PQ_OP_MOD, [SX_LQ_BIN_POW] = PQ_OP_POW,
            [SX_LQ_BIN_EQ] = PQ_OP_EQ,   [SX_LQ_BIN_NE] = PQ_OP_NE,   [SX_LQ_BIN_GT] = PQ_OP_GT,
            [SX_LQ_BIN_GE] = PQ_OP_GE,   [SX_LQ_BIN_LT] = PQ_OP_LT,   [SX_LQ_BIN_LE] = PQ_OP_LE,
        };
        pq_node_t *l = translate(c, e->bin.lhs), *r = translate(c, e->bin.rhs);
        if (!l || !r)
            return NULL;
        int type = l->type == SX_PROMQL_SCALAR && r->type == SX_PROMQL_SCALAR ? SX_PROMQL_SCALAR
                                                                                : SX_PROMQL_VECTOR;
        pq_node_t *n = pnode(c, PQ_BINARY, type);
        n->binary.op = map[e->bin.op];
        n->binary.lhs = l;
        n->binary.rhs = r;
        n->binary.return_bool = e->bin.return_bool;
        if (l->type == SX_PROMQL_VECTOR && r->type == SX_PROMQL_VECTOR) {
            pq_match_t *vm = sx_arena_calloc(c->a, 1, sizeof(*vm));
            vm->card = pq_op_is_set(n->binary.op) ? PQ_CARD_MANY_TO_MANY : PQ_CARD_ONE_TO_ONE;
            const sx_logql_matching_t *m = e->bin.match;
            if (m) {
                vm->on = m->on;
                vm->labels = m->labels;
                vm->nlabels = m->nlabels;
                if (m->card == SX_LQ_CARD_MANY_TO_ONE)
                    vm->card = PQ_CARD_MANY_TO_ONE;
                else if (m->card == SX_LQ_CARD_ONE_TO_MANY)
                    vm->card = PQ_CARD_ONE_TO_MANY;
                vm->include = m->include;
                vm->ninclude = m->ninclude;
            }
            n->binary.match = vm;
        }
        return n;
    }
    default:
        return NULL;
    }
}

static bool has_sort(const sx_logql_expr_t *e)
{
    switch (e->kind) {
    case SX_LQ_EXPR_VECTOR_AGG:
        return e->vec.op == SX_LQ_VEC_SORT || e->vec.op == SX_LQ_VEC_SORT_DESC || has_sort(e->vec.expr);
    case SX_LQ_EXPR_BINARY:
        return has_sort(e->bin.lhs) || has_sort(e->bin.rhs);
    case SX_LQ_EXPR_LABEL_REPLACE:
        return has_sort(e->lrep.expr);
    default:
        return false;
    }
}

static int cmp_pseries(const void *x, const void *y)
{
    const sx_promql_series_t *a = x, *b = y;
    return cmp_labels(a->labels, a->nlabels, b->labels, b->nlabels);
}

static int eval_metric(ctx_t *c, const sx_logql_expr_t *e, sx_logql_result_t *out)
{
    out->is_streams = false;
    pq_node_t *root = translate(c, e);
    if (!root)
        return sx_err_set(c->err, SX_EEXEC, "unsupported LogQL expression");
    sx_promql_opts_t po;
    sx_promql_opts_default(&po);
    po.deadline_ns = c->o->deadline_ns;
    po.cancel = c->o->cancel;
    po.delayed_name_removal = false;
    po.div_by_zero_nan = true;
    if (c->o->max_samples > 0)
        po.max_samples = c->o->max_samples;
    const sx_logql_params_t *p = c->p;
    int rc;
    if (p->step_ns > 0) {
        int64_t start = p->start_ns / 1000000, end = p->end_ns / 1000000;
        int64_t step = p->step_ns / 1000000;
        if (step <= 0)
            step = 1;
        rc = sx_promql_eval_range(NULL, &po, root, start, end, step, c->a, &out->metric, c->err);
    } else {
        rc = sx_promql_eval_instant(NULL, &po, root, p->end_ns / 1000000, c->a, &out->metric, c->err);
    }
    /* Loki's engine returns instant vectors sorted by labels, unless the
     * query asks for an order with sort() or sort_desc(). */
    if (!rc && out->metric.type == SX_PROMQL_VECTOR && !has_sort(e) && out->metric.nseries > 1)
        qsort(out->metric.series, out->metric.nseries, sizeof(sx_promql_series_t), cmp_pseries);
    return rc;
}

int sx_logql_eval(sx_logstore_t *ls, const sx_logql_expr_t *e, const sx_logql_params_t *p,
                  const sx_logql_opts_t *o, sx_arena_t *a, sx_logql_result_t *out, sx_err_t *err)
{
    memset(out, 0, sizeof(*out));
    int64_t t0 = sx_mono_ns();
    ctx_t c = {ls, p, o, a, err, &out->stats};
    int rc = e->kind == SX_LQ_EXPR_LOG ? eval_log(&c, e, out) : eval_metric(&c, e, out);
    out->stats.exec_ns = sx_mono_ns() - t0;
    return rc;
}
