/* SPDX-License-Identifier: Apache-2.0 */
/* The LogQL evaluator. Log queries read the selected streams in the asked
 * direction, run each entry through the pipeline and keep the first
 * `limit` entries overall. Metric queries become a PromQL tree whose
 * leaves are the range aggregations: each leaf reads its streams once,
 * turns kept entries into samples grouped by their final labels, and
 * reduces every step's window; PromQL's evaluator does the rest.
 *
 * Streams are read by several threads (sx_logql_opts_t.parallelism), each
 * with a pipeline, an arena and accumulation state of its own; the
 * answer is a merge of the workers' states that depends only on which
 * streams were read, never on which thread read them, so it is the same
 * as a single thread's. */
#include <math.h>
#include <pthread.h>
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
    /* In a worker's copy: the lowest index of a stream that failed, shared
     * by the workers (NULL outside them), and the stream being read. */
    atomic_size_t *failed;
    size_t cur;
} ctx_t;

/* Block callbacks' ways to end a stream's read early that are not errors. */
#define STOP_LIMIT 1 /* the stream gave all it may give */
#define STOP_ABORT 2 /* a stream before this one failed: its error is the answer */

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
    if (c->failed && atomic_load_explicit(c->failed, memory_order_relaxed) < c->cur)
        return STOP_ABORT;
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

/* Label sets gathered from several workers, each once: the merge of
 * per-worker output streams and series. The sets are not copied. */
typedef struct lset_tab {
    group_tab_t t;
    const sx_label_t **l;
    uint32_t *nl;
    size_t n, cap;
} lset_tab_t;

static uint64_t labels_hash(const sx_label_t *l, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (uint32_t i = 0; i < n; i++) {
        h = sx_hash64_seed(l[i].name.ptr, l[i].name.len, h);
        h = sx_hash64_seed(l[i].value.ptr, l[i].value.len, h ^ 0xff);
    }
    return h;
}

/* The index of the set l[0..n) in the table, added at the end (*added)
 * when it is new. */
static size_t lset_intern(lset_tab_t *lt, const sx_label_t *l, uint32_t n, bool *added)
{
    uint64_t h = labels_hash(l, n);
    group_tab_t *t = &lt->t;
    if ((t->n + 1) * 2 > t->cap)
        tab_grow(t);
    size_t j = h & (t->cap - 1);
    while (t->idx[j]) {
        size_t k = t->idx[j] - 1;
        if (t->hash[j] == h && cmp_labels(lt->l[k], lt->nl[k], l, n) == 0) {
            *added = false;
            return k;
        }
        j = (j + 1) & (t->cap - 1);
    }
    if (lt->n == lt->cap) {
        lt->cap = lt->cap ? lt->cap * 2 : 64;
        lt->l = sx_xrealloc(lt->l, lt->cap * sizeof(*lt->l));
        lt->nl = sx_xrealloc(lt->nl, lt->cap * sizeof(*lt->nl));
    }
    lt->l[lt->n] = l;
    lt->nl[lt->n] = n;
    t->hash[j] = h;
    t->idx[j] = (uint32_t)(lt->n + 1);
    t->n++;
    *added = true;
    return lt->n++;
}

static void lset_dispose(lset_tab_t *lt)
{
    tab_dispose(&lt->t);
    free(lt->l);
    free(lt->nl);
}

/* ---- Reading streams on several threads ---- */

/* Workers take stream indexes from a shared counter, in increasing order,
 * and read each stream into state of their own (read(run, i)). A failed
 * stream stops the reading of every later stream, but the streams before
 * it are read to the end, so the error returned is the one of the lowest
 * failing stream, as a single thread reading them in order would find. */
typedef struct pool {
    size_t nst;
    atomic_size_t next;   /* next stream index to hand out */
    atomic_size_t failed; /* lowest index of a failed stream; SIZE_MAX = none */
    int (*read)(void *run, size_t i); /* 0, STOP_ABORT or an error */
} pool_t;

typedef struct worker {
    pool_t *pool;
    void *run;      /* the worker's state: logrun_t or rangerun_t */
    int rc;         /* the worker's error, 0 if none */
    size_t failed;  /* the stream it came from */
    pthread_t th;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    pool_t *pl = w->pool;
    for (;;) {
        size_t i = atomic_fetch_add(&pl->next, 1);
        if (i >= pl->nst || i > atomic_load(&pl->failed))
            break;
        int rc = pl->read(w->run, i);
        if (rc == STOP_ABORT)
            break;
        if (rc) {
            w->rc = rc;
            w->failed = i;
            size_t f = atomic_load(&pl->failed);
            while (i < f && !atomic_compare_exchange_weak(&pl->failed, &f, i))
                ;
            break;
        }
    }
    return NULL;
}

/* Threads for reading nst streams: the query's parallelism, no more than
 * the streams, one when there is a single stream. */
static int pool_size(const ctx_t *c, size_t nst)
{
    long n = c->o->parallelism;
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n > 64)
        n = 64;
    if ((size_t)n > nst)
        n = (long)nst;
    return n < 1 ? 1 : (int)n;
}

/* Read streams [0, nst) with the n workers w (their pool and run set),
 * the calling thread being the first. Returns the index of the worker
 * whose error comes from the lowest stream, or -1 when none failed. */
static int pool_run(pool_t *pl, worker_t *w, int n)
{
    atomic_init(&pl->next, 0);
    atomic_init(&pl->failed, SIZE_MAX);
    int started = 1;
    for (int k = 1; k < n; k++, started++)
        if (pthread_create(&w[k].th, NULL, worker_main, &w[k]) != 0)
            break;
    worker_main(&w[0]);
    /* Workers whose thread did not start run here (and find the streams
     * all taken). */
    for (int k = started; k < n; k++)
        worker_main(&w[k]);
    for (int k = 1; k < started; k++)
        pthread_join(w[k].th, NULL);
    int first = -1;
    for (int k = 0; k < n; k++)
        if (w[k].rc && (first < 0 || w[k].failed < w[first].failed))
            first = k;
    return first;
}

/* A worker's copy of the query's context: its own arena, error and stats,
 * and the pool's failure index. */
static void ctx_worker(ctx_t *wc, const ctx_t *c, pool_t *pl, sx_arena_t *a, sx_err_t *err,
                       sx_logql_stats_t *stats)
{
    *wc = *c;
    wc->a = a;
    wc->err = err;
    wc->stats = stats;
    wc->failed = &pl->failed;
    wc->cur = 0;
    sx_err_clear(err);
    memset(stats, 0, sizeof(*stats));
}

static void stats_add(sx_logql_stats_t *to, const sx_logql_stats_t *s)
{
    to->bytes_processed += s->bytes_processed;
    to->lines_processed += s->lines_processed;
    to->post_filter_lines += s->post_filter_lines;
    to->chunks_ref += s->chunks_ref;
    to->chunks_read += s->chunks_read;
    to->chunks_skipped += s->chunks_skipped;
    to->bytes_decompressed += s->bytes_decompressed;
}

static void stats_add_read(sx_logql_stats_t *to, const sx_log_read_stats_t *rs)
{
    to->chunks_read += rs->chunks_read;
    to->chunks_skipped += rs->chunks_skipped;
    to->chunks_ref += rs->chunks_read + rs->chunks_skipped;
    to->bytes_decompressed += rs->bytes_decompressed;
}

/* ---- Log queries ---- */

typedef struct out_stream {
    sx_label_t *labels;
    uint32_t nlabels;
    sx_label_t *stream; /* stream labels only */
    uint32_t nstream;
    uint32_t first;     /* index of the stream whose entry made it */
} out_stream_t;

typedef struct kept {
    int64_t ts;
    uint32_t out;   /* output stream index */
    uint32_t sidx;  /* stream index and */
    uint64_t seq;   /* arrival order in the stream: ties keep the serial order */
    sx_str_t line;
    sx_label_t *meta, *parsed;
    uint32_t nmeta, nparsed;
} kept_t;

/* One worker of a log query. */
typedef struct logrun {
    ctx_t *c;               /* &cx */
    ctx_t cx;
    sx_arena_t arena;       /* output stream labels */
    sx_err_t err;
    sx_logql_stats_t stats;
    /* The same for every worker. */
    const sx_log_stream_t *streams;
    const sx_log_hint_t *hint;
    int flags;
    int64_t maxt;
    sx_lq_pipe_t *pipe;
    const sx_log_stream_t *st;
    uint32_t sidx;          /* index of st */
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
    uint64_t seq;           /* entries kept from the current stream */
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
    o->first = r->sidx;
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
        e->sidx = r->sidx;
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
    if (a->sidx != b->sidx)
        return a->sidx < b->sidx ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

static int cmp_out_idx(const void *x, const void *y, void *arg)
{
    const lset_tab_t *o = arg;
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return cmp_labels(o->l[a], o->nl[a], o->l[b], o->nl[b]);
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
/* Drop entries that repeat an earlier one of the same output stream with
 * the same time and line (a push retried after a lost answer), as Loki's
 * iterators do. Entries are sorted by time, so repeats are within a run
 * of equal times. Returns the new count. */
static size_t dedup_kept(kept_t *v, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].ts == v[i].ts)
            j++;
        size_t run = w;
        for (size_t k = i; k < j; k++) {
            bool dup = false;
            for (size_t m = run; m < w && !dup; m++)
                dup = v[m].out == v[k].out && sx_str_eq(v[m].line, v[k].line);
            if (!dup)
                v[w++] = v[k];
        }
        i = j;
    }
    return w;
}

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

/* Read stream i (a pool's read function). */
static int log_stream(void *run, size_t i)
{
    logrun_t *r = run;
    ctx_t *c = r->c;
    c->cur = i;
    r->st = &r->streams[i];
    r->sidx = (uint32_t)i;
    r->seq = 0;
    r->stream_kept = 0;
    r->have_last = false;
    sx_log_read_stats_t rs = {0};
    int x = sx_logstore_read(c->ls, r->st->id, c->p->start_ns, r->maxt, r->flags, r->hint,
                             log_block, r, &rs);
    stats_add_read(c->stats, &rs);
    kept_trim(r);
    return x == STOP_LIMIT ? 0 : x;
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
    pool_t pl = {.nst = nst, .read = log_stream};
    int nw = pool_size(c, nst);
    worker_t *w = sx_xcalloc((size_t)nw, sizeof(*w));
    logrun_t *runs = sx_xcalloc((size_t)nw, sizeof(*runs));
    for (int k = 0; k < nw; k++) {
        logrun_t *r = &runs[k];
        sx_arena_init(&r->arena);
        sx_arena_init(&r->karena);
        ctx_worker(&r->cx, c, &pl, &r->arena, &r->err, &r->stats);
        r->c = &r->cx;
        r->streams = st;
        r->hint = nn ? &hint : NULL;
        r->flags = SX_LOGREAD_LINES | SX_LOGREAD_META | (p->backward ? SX_LOGREAD_BACKWARD : 0);
        r->maxt = maxt;
        r->pipe = k == 0 ? pipe : sx_lq__pipe_clone(pipe, &r->arena);
        w[k].pool = &pl;
        w[k].run = r;
    }
    int first = pool_run(&pl, w, nw);
    int rc = 0;
    if (first >= 0) {
        rc = w[first].rc;
        if (runs[first].err.code)
            *c->err = runs[first].err;
    }
    for (int k = 0; k < nw; k++)
        stats_add(c->stats, &runs[k].stats);
    if (!rc) {
        /* Output streams by label set over the workers, and every kept
         * entry pointing at them. */
        lset_tab_t outs = {0};
        /* Per merged output, the worker's output made first in the serial
         * order: its stream labels are the answer's, as a single thread
         * would have kept them. */
        const out_stream_t **src = NULL;
        size_t total = 0;
        for (int k = 0; k < nw; k++)
            total += runs[k].nkept;
        kept_t *all = sx_xmalloc((total + 1) * sizeof(kept_t));
        size_t nall = 0;
        for (int k = 0; k < nw; k++) {
            logrun_t *r = &runs[k];
            uint32_t *map = sx_xmalloc((r->nouts + 1) * sizeof(uint32_t));
            for (size_t i = 0; i < r->nouts; i++) {
                const out_stream_t *o = &r->outs[i];
                bool added;
                size_t g = lset_intern(&outs, o->labels, o->nlabels, &added);
                map[i] = (uint32_t)g;
                if (added) {
                    src = sx_xrealloc(src, outs.cap * sizeof(*src));
                    src[g] = o;
                } else if (o->first < src[g]->first) {
                    src[g] = o;
                }
            }
            for (size_t i = 0; i < r->nkept; i++) {
                all[nall] = r->kept[i];
                all[nall++].out = map[r->kept[i].out];
            }
            free(map);
        }
        /* The first `limit` entries overall in the asked direction, into
         * the answer's arena. */
        bool backward = p->backward;
        if (nall > 1)
            qsort_r(all, nall, sizeof(kept_t), cmp_kept, &backward);
        nall = dedup_kept(all, nall);
        size_t n = nall < p->limit ? nall : p->limit;
        size_t *count = sx_xcalloc(outs.n + 1, sizeof(size_t));
        for (size_t i = 0; i < n; i++)
            count[all[i].out]++;
        uint32_t *order = sx_xmalloc((outs.n + 1) * sizeof(uint32_t));
        size_t no = 0;
        for (uint32_t i = 0; i < outs.n; i++)
            if (count[i])
                order[no++] = i;
        qsort_r(order, no, sizeof(uint32_t), cmp_out_idx, &outs);
        uint32_t *slot = sx_xcalloc(outs.n + 1, sizeof(uint32_t));
        out->streams = sx_arena_calloc(c->a, no + 1, sizeof(sx_logql_stream_t));
        out->nstreams = no;
        for (size_t k = 0; k < no; k++) {
            uint32_t o = order[k];
            slot[o] = (uint32_t)k;
            sx_logql_stream_t *s = &out->streams[k];
            s->nlabels = outs.nl[o];
            s->labels = copy_pairs(c->a, outs.l[o], outs.nl[o]);
            s->nstream = src[o]->nstream;
            s->stream = p->categorize ? s->labels : copy_pairs(c->a, src[o]->stream, s->nstream);
            s->e = sx_arena_alloc(c->a, count[o] * sizeof(sx_logql_entry_t));
        }
        for (size_t i = 0; i < n; i++) {
            const kept_t *k = &all[i];
            sx_logql_stream_t *s = &out->streams[slot[k->out]];
            s->e[s->n++] = (sx_logql_entry_t){k->ts, sx_arena_strdup_str(c->a, k->line),
                                              copy_pairs(c->a, k->meta, k->nmeta), k->nmeta,
                                              copy_pairs(c->a, k->parsed, k->nparsed), k->nparsed};
        }
        c->stats->entries_returned = n;
        free(all);
        free(src);
        free(count);
        free(order);
        free(slot);
        lset_dispose(&outs);
    }
    /* Clones first: the first pipeline owns the compiled parts. */
    for (int k = nw - 1; k >= 0; k--) {
        logrun_t *r = &runs[k];
        sx_lq__pipe_destroy(r->pipe);
        free(r->kept);
        free(r->outs);
        free(r->mask);
        sx_arena_dispose(&r->karena);
        sx_arena_dispose(&r->arena);
        tab_dispose(&r->tab);
    }
    free(runs);
    free(w);
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
    /* Where it comes first in the serial order: the index of the stream
     * and the series made before it by the worker that read that stream. */
    uint32_t first_sidx;
    size_t first_n;
    /* Other ops: runs of samples from one stream each (start in ts/v), so
     * that merged samples keep the serial (stream index) order. */
    struct srun {
        uint32_t sidx;
        size_t start;
    } *runs;
    size_t nruns, runcap;
} rseries_t;

/* One worker of a range aggregation. */
typedef struct rangerun {
    ctx_t *c;               /* &cx */
    ctx_t cx;
    sx_arena_t arena;       /* series labels */
    sx_err_t err;
    sx_logql_stats_t stats;
    /* The same for every worker. */
    const sx_log_stream_t *streams;
    const sx_log_hint_t *hint;
    int flags;
    int64_t mint, maxt;
    const sx_logql_expr_t *agg;
    sx_lq_pipe_t *pipe;
    const sx_log_stream_t *st;
    uint32_t sidx;          /* index of st */
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

static int too_many_series(ctx_t *c)
{
    return sx_err_set(c->err, SX_EEXEC,
                      "maximum number of series (%lld) reached for a single query; consider "
                      "reducing query cardinality by adding more specific stream selectors, "
                      "reducing the time range, or aggregating results with a 'sum by' clause",
                      (long long)c->o->max_series);
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
        r->rc = too_many_series(r->c);
        return NULL;
    }
    if (r->ns == r->scap) {
        r->scap = r->scap ? r->scap * 2 : 16;
        r->s = sx_xrealloc(r->s, r->scap * sizeof(rseries_t));
    }
    rseries_t *s = &r->s[r->ns];
    memset(s, 0, sizeof(*s));
    s->labels = labels_copy(r->c->a, lb, &s->nlabels, -1);
    s->first_sidx = r->sidx;
    s->first_n = r->ns;
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
    if (s->nruns == 0 || s->runs[s->nruns - 1].sidx != r->sidx) {
        if (s->nruns == s->runcap) {
            s->runcap = s->runcap ? s->runcap * 2 : 4;
            s->runs = sx_xrealloc(s->runs, s->runcap * sizeof(*s->runs));
        }
        s->runs[s->nruns++] = (struct srun){r->sidx, s->n};
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

/* Read stream i (a pool's read function). */
static int range_stream(void *run, size_t i)
{
    rangerun_t *r = run;
    ctx_t *c = r->c;
    c->cur = i;
    r->st = &r->streams[i];
    r->sidx = (uint32_t)i;
    r->stream_series = -1;
    sx_log_read_stats_t rs = {0};
    int x = sx_logstore_read(c->ls, r->st->id, r->mint, r->maxt, r->flags, r->hint, range_block, r,
                             &rs);
    stats_add_read(c->stats, &rs);
    return x;
}

static void series_free(rseries_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].ts);
        free(s[i].v);
        free(s[i].diff);
        free(s[i].cdiff);
        free(s[i].runs);
    }
    free(s);
}

static int cmp_first(const void *x, const void *y)
{
    const rseries_t *a = x, *b = y;
    if (a->first_sidx != b->first_sidx)
        return a->first_sidx < b->first_sidx ? -1 : 1;
    return (a->first_n > b->first_n) - (a->first_n < b->first_n);
}

typedef struct run_pos {
    uint32_t sidx;
    size_t start, len;
} run_pos_t;

static int cmp_run_pos(const void *x, const void *y)
{
    const run_pos_t *a = x, *b = y;
    return (a->sidx > b->sidx) - (a->sidx < b->sidx);
}

/* Put the samples of s, appended worker after worker, back in the serial
 * order: by stream index (each stream's samples are one run, read by one
 * worker, so the indexes are unique). */
static void series_reorder(rseries_t *s)
{
    bool sorted = true;
    for (size_t i = 1; i < s->nruns && sorted; i++)
        sorted = s->runs[i - 1].sidx < s->runs[i].sidx;
    if (sorted)
        return;
    run_pos_t *rp = sx_xmalloc(s->nruns * sizeof(run_pos_t));
    for (size_t i = 0; i < s->nruns; i++) {
        size_t end = i + 1 < s->nruns ? s->runs[i + 1].start : s->n;
        rp[i] = (run_pos_t){s->runs[i].sidx, s->runs[i].start, end - s->runs[i].start};
    }
    qsort(rp, s->nruns, sizeof(run_pos_t), cmp_run_pos);
    int64_t *ts = sx_xmalloc((s->n + 1) * sizeof(int64_t));
    double *v = sx_xmalloc((s->n + 1) * sizeof(double));
    size_t at = 0;
    for (size_t i = 0; i < s->nruns; i++) {
        memcpy(ts + at, s->ts + rp[i].start, rp[i].len * sizeof(int64_t));
        memcpy(v + at, s->v + rp[i].start, rp[i].len * sizeof(double));
        s->runs[i] = (struct srun){rp[i].sidx, at};
        at += rp[i].len;
    }
    free(rp);
    free(s->ts);
    free(s->v);
    s->ts = ts;
    s->v = v;
    s->cap = s->n + 1;
}

/* Merge the workers' series into r->s by label set, in the serial order
 * of their creation, labels copied into the query arena; the workers'
 * series lose what moved. Errors: too many series (SX_EEXEC). */
static int range_merge(rangerun_t *r, rangerun_t *runs, int nw)
{
    ctx_t *c = r->c;
    lset_tab_t lt = {0};
    int rc = 0;
    for (int k = 0; k < nw && !rc; k++) {
        rangerun_t *wr = &runs[k];
        for (size_t i = 0; i < wr->ns; i++) {
            rseries_t *ws = &wr->s[i];
            bool added;
            size_t g = lset_intern(&lt, ws->labels, ws->nlabels, &added);
            if (added) {
                if ((int64_t)lt.n > c->o->max_series) {
                    rc = too_many_series(c);
                    break;
                }
                if (r->ns == r->scap) {
                    r->scap = r->scap ? r->scap * 2 : 16;
                    r->s = sx_xrealloc(r->s, r->scap * sizeof(rseries_t));
                }
                r->s[r->ns++] = *ws;
                memset(ws, 0, sizeof(*ws)); /* moved */
                continue;
            }
            rseries_t *s = &r->s[g];
            if (ws->first_sidx < s->first_sidx ||
                (ws->first_sidx == s->first_sidx && ws->first_n < s->first_n)) {
                s->first_sidx = ws->first_sidx;
                s->first_n = ws->first_n;
            }
            if (r->counting) {
                for (size_t j = 0; j <= r->nsteps; j++) {
                    s->diff[j] += ws->diff[j];
                    s->cdiff[j] += ws->cdiff[j];
                }
                continue;
            }
            if (ws->n == 0)
                continue;
            if (s->n + ws->n > s->cap) {
                s->cap = s->n + ws->n;
                s->ts = sx_xrealloc(s->ts, s->cap * sizeof(int64_t));
                s->v = sx_xrealloc(s->v, s->cap * sizeof(double));
            }
            memcpy(s->ts + s->n, ws->ts, ws->n * sizeof(int64_t));
            memcpy(s->v + s->n, ws->v, ws->n * sizeof(double));
            if (s->nruns + ws->nruns > s->runcap) {
                s->runcap = s->nruns + ws->nruns;
                s->runs = sx_xrealloc(s->runs, s->runcap * sizeof(*s->runs));
            }
            for (size_t j = 0; j < ws->nruns; j++)
                s->runs[s->nruns++] = (struct srun){ws->runs[j].sidx, s->n + ws->runs[j].start};
            s->n += ws->n;
        }
    }
    lset_dispose(&lt);
    if (rc)
        return rc;
    if (r->ns > 1)
        qsort(r->s, r->ns, sizeof(rseries_t), cmp_first);
    for (size_t i = 0; i < r->ns; i++) {
        rseries_t *s = &r->s[i];
        s->labels = copy_pairs(c->a, s->labels, s->nlabels);
        if (!r->counting)
            series_reorder(s);
    }
    return 0;
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
    r.streams = st;
    r.hint = nn ? &hint : NULL;
    r.flags = flags;
    r.mint = mint;
    r.maxt = maxt;
    pool_t pl = {.nst = nst, .read = range_stream};
    int nw = pool_size(c, nst);
    worker_t *w = sx_xcalloc((size_t)nw, sizeof(*w));
    rangerun_t *runs = sx_xcalloc((size_t)nw, sizeof(*runs));
    for (int k = 0; k < nw; k++) {
        rangerun_t *wr = &runs[k];
        *wr = r;
        sx_arena_init(&wr->arena);
        ctx_worker(&wr->cx, c, &pl, &wr->arena, &wr->err, &wr->stats);
        wr->c = &wr->cx;
        wr->pipe = k == 0 ? r.pipe : sx_lq__pipe_clone(r.pipe, &wr->arena);
        w[k].pool = &pl;
        w[k].run = wr;
    }
    int first = pool_run(&pl, w, nw);
    if (first >= 0) {
        rc = w[first].rc;
        if (runs[first].err.code)
            *c->err = runs[first].err;
    }
    for (int k = 0; k < nw; k++)
        stats_add(c->stats, &runs[k].stats);
    if (!rc)
        rc = range_merge(&r, runs, nw);
    /* Clones first: the first pipeline owns the compiled parts. */
    for (int k = nw - 1; k >= 0; k--) {
        rangerun_t *wr = &runs[k];
        sx_lq__pipe_destroy(wr->pipe);
        series_free(wr->s, wr->ns);
        free(wr->mask);
        tab_dispose(&wr->tab);
        sx_arena_dispose(&wr->arena);
    }
    free(runs);
    free(w);
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
    series_free(r.s, r.ns);
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
