/* SPDX-License-Identifier: Apache-2.0 */
/* Span metrics and the service graph (see spanmetrics.h for the series).
 *
 * Per tenant there are two hash tables under one mutex: the series (a
 * family and its label values, with a counter or histogram) and the calls
 * waiting for their other half, keyed by trace id and the client span's
 * id. Spans are counted as their request is stored; the writer thread
 * turns the tables into one remote-write-shaped batch per tenant each
 * interval, so the metric store sees an ordinary scrape. */
#include "spanmetrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/buf.h"
#include "../../core/hash.h"
#include "../../core/log.h"
#include "../../core/time.h"

/* Tempo's default buckets, in seconds. */
static const double lat_buckets[] = {0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128,
                                     0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384};
static const double graph_buckets[] = {0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8};

#define NB(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MAXLAB 4
#define IDLE_MS (15 * 60 * 1000LL)

enum {
    F_CALLS, F_LATENCY, F_REQ, F_FAILED, F_SERVER_S, F_CLIENT_S,
    F_UNPAIRED_C, F_UNPAIRED_S, F_DROPPED_C, F_DROPPED_S, NFAM
};

typedef struct famdef {
    const char *name; /* the counter's name, or the histogram's base name */
    int nlab;
    const char *labels[MAXLAB];
    const double *buckets; /* NULL for a counter */
    int nb;
    const char *help;
} famdef_t;

#define SPAN_LABELS 4, {"service", "span_name", "span_kind", "status_code"}
#define EDGE_LABELS 3, {"client", "server", "connection_type"}

static const famdef_t fams[NFAM] = {
    [F_CALLS] = {"traces_spanmetrics_calls_total", SPAN_LABELS, NULL, 0, "Spans received."},
    [F_LATENCY] = {"traces_spanmetrics_latency", SPAN_LABELS, lat_buckets, NB(lat_buckets),
                   "Span durations in seconds."},
    [F_REQ] = {"traces_service_graph_request_total", EDGE_LABELS, NULL, 0,
               "Calls between two services."},
    [F_FAILED] = {"traces_service_graph_request_failed_total", EDGE_LABELS, NULL, 0,
                  "Calls between two services where either side's span has status error."},
    [F_SERVER_S] = {"traces_service_graph_request_server_seconds", EDGE_LABELS, graph_buckets,
                    NB(graph_buckets), "Server span durations of calls, in seconds."},
    [F_CLIENT_S] = {"traces_service_graph_request_client_seconds", EDGE_LABELS, graph_buckets,
                    NB(graph_buckets), "Client span durations of calls, in seconds."},
    [F_UNPAIRED_C] = {"traces_service_graph_unpaired_spans_total", 1, {"client"}, NULL, 0,
                      "Client or server spans whose other side never arrived."},
    [F_UNPAIRED_S] = {"traces_service_graph_unpaired_spans_total", 1, {"server"}, NULL, 0, NULL},
    [F_DROPPED_C] = {"traces_service_graph_dropped_spans_total", 1, {"client"}, NULL, 0,
                     "Client or server spans not paired because too many calls were waiting."},
    [F_DROPPED_S] = {"traces_service_graph_dropped_spans_total", 1, {"server"}, NULL, 0, NULL},
};

static const char *const kind_names[6] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                          "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                          "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
static const char *const status_names[3] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                            "STATUS_CODE_ERROR"};

/* One label set of one family. v holds a counter's value, or a
 * histogram's per-bucket counts (not cumulative), then sum, then count. */
typedef struct ser {
    uint64_t hash;
    int fam;
    sx_str_t vals[MAXLAB]; /* in one allocation with the struct */
    int64_t touched_ms;    /* last change */
    bool written;          /* written at least once (else a 0 goes first) */
    double v[];
} ser_t;

/* Half of a call, waiting for the other half. */
typedef struct call {
    uint8_t key[24]; /* trace id, client span id; all zero = free slot */
    int64_t born_ms;
    char *client, *server, *peer; /* services (peer: the client's peer.service) */
    double client_s, server_s;
    bool have_client, have_server, failed, messaging;
} call_t;

typedef struct tenant {
    char *name;
    pthread_mutex_t mu;
    ser_t **ser; /* open addressing, linear probing; NULL = free */
    size_t ser_cap, ser_n;
    call_t *calls; /* open addressing, linear probing, backward-shift deletes */
    size_t call_cap, call_n;
    uint64_t refused; /* spans not counted for want of series room */
    bool meta_written;
} tenant_t;

struct sx_spanmetrics {
    sx_storage_t *st;
    sx_spanmetrics_opts_t o;
    pthread_mutex_t mu;  /* the tenant list and the stop flag */
    pthread_mutex_t wmu; /* one write at a time: last_ts, meta_written */
    pthread_cond_t cv;
    tenant_t **t;
    size_t nt;
    bool stop;
    pthread_t thread;
    int64_t last_ts;
};

/* ---- Series ---- */

static uint64_t ser_hash(int fam, const sx_str_t *vals, int n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL * (uint64_t)(fam + 1);
    for (int i = 0; i < n; i++)
        h = sx_hash64_seed(vals[i].ptr ? vals[i].ptr : "", vals[i].len, h ^ (uint64_t)i);
    return h;
}

static int ser_nv(int fam)
{
    return fams[fam].buckets ? fams[fam].nb + 2 : 1;
}

static void ser_grow(tenant_t *t)
{
    size_t cap = t->ser_cap ? t->ser_cap * 2 : 256;
    ser_t **v = sx_xcalloc(cap, sizeof(*v));
    for (size_t i = 0; i < t->ser_cap; i++) {
        ser_t *s = t->ser[i];
        if (!s)
            continue;
        size_t j = s->hash & (cap - 1);
        while (v[j])
            j = (j + 1) & (cap - 1);
        v[j] = s;
    }
    free(t->ser);
    t->ser = v;
    t->ser_cap = cap;
}

/* The series of fam with these label values, created when missing; NULL
 * when the tenant has no room for another. */
static ser_t *ser_get(sx_spanmetrics_t *m, tenant_t *t, int fam, const sx_str_t *vals,
                      int64_t now_ms)
{
    int n = fams[fam].nlab;
    uint64_t h = ser_hash(fam, vals, n);
    if (t->ser_cap) {
        for (size_t j = h & (t->ser_cap - 1); t->ser[j]; j = (j + 1) & (t->ser_cap - 1)) {
            ser_t *s = t->ser[j];
            if (s->hash != h || s->fam != fam)
                continue;
            int k = 0;
            while (k < n && sx_str_eq(s->vals[k], vals[k]))
                k++;
            if (k == n) {
                s->touched_ms = now_ms;
                return s;
            }
        }
    }
    if (t->ser_n >= m->o.max_series) {
        if (t->refused++ == 0)
            sx_log_warn("spanmetrics", "tenant %s: more than %u span metric label sets; "
                        "further ones are not counted (--span-metrics-max-series)",
                        t->name, m->o.max_series);
        return NULL;
    }
    if ((t->ser_n + 1) * 2 > t->ser_cap)
        ser_grow(t);
    size_t text = 0;
    for (int k = 0; k < n; k++)
        text += vals[k].len;
    size_t nv = (size_t)ser_nv(fam);
    ser_t *s = sx_xcalloc(1, sizeof(*s) + nv * sizeof(double) + text + 1);
    char *p = (char *)(s->v + nv);
    for (int k = 0; k < n; k++) {
        memcpy(p, vals[k].ptr ? vals[k].ptr : "", vals[k].len);
        s->vals[k] = (sx_str_t){p, vals[k].len};
        p += vals[k].len;
    }
    s->hash = h;
    s->fam = fam;
    s->touched_ms = now_ms;
    size_t j = h & (t->ser_cap - 1);
    while (t->ser[j])
        j = (j + 1) & (t->ser_cap - 1);
    t->ser[j] = s;
    t->ser_n++;
    return s;
}

static void count(sx_spanmetrics_t *m, tenant_t *t, int fam, const sx_str_t *vals, double by,
                  int64_t now_ms)
{
    ser_t *s = ser_get(m, t, fam, vals, now_ms);
    if (s)
        s->v[0] += by;
}

static void observe(sx_spanmetrics_t *m, tenant_t *t, int fam, const sx_str_t *vals, double x,
                    int64_t now_ms)
{
    ser_t *s = ser_get(m, t, fam, vals, now_ms);
    if (!s)
        return;
    const famdef_t *f = &fams[fam];
    int b = 0;
    while (b < f->nb && x > f->buckets[b])
        b++;
    if (b < f->nb)
        s->v[b] += 1;
    s->v[f->nb] += x;
    s->v[f->nb + 1] += 1;
}

/* ---- Calls (the service graph) ---- */

static const char *connection_type(const call_t *c)
{
    return c->messaging ? "messaging_system" : "";
}

static void edge(sx_spanmetrics_t *m, tenant_t *t, sx_str_t client, sx_str_t server,
                 sx_str_t type, double client_s, double server_s, bool failed, int64_t now_ms)
{
    sx_str_t v[3] = {client, server, type};
    count(m, t, F_REQ, v, 1, now_ms);
    if (failed)
        count(m, t, F_FAILED, v, 1, now_ms);
    observe(m, t, F_SERVER_S, v, server_s, now_ms);
    observe(m, t, F_CLIENT_S, v, client_s, now_ms);
}

static bool key_zero(const uint8_t *k)
{
    for (int i = 0; i < 24; i++)
        if (k[i])
            return false;
    return true;
}

static size_t call_slot(const tenant_t *t, const uint8_t *key)
{
    return sx_hash64(key, 24) & (t->call_cap - 1);
}

static void call_free(call_t *c)
{
    free(c->client);
    free(c->server);
    free(c->peer);
    memset(c, 0, sizeof(*c));
}

/* Remove slot i, shifting later entries of the same probe run back so
 * that lookups never meet a hole before their entry. */
static void call_del(tenant_t *t, size_t i)
{
    call_free(&t->calls[i]);
    t->call_n--;
    size_t mask = t->call_cap - 1;
    for (size_t j = (i + 1) & mask; !key_zero(t->calls[j].key); j = (j + 1) & mask) {
        size_t home = call_slot(t, t->calls[j].key);
        /* j may move to i when home is not in (i, j] cyclically. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        t->calls[i] = t->calls[j];
        memset(&t->calls[j], 0, sizeof(t->calls[j]));
        i = j;
    }
}

static void call_grow(tenant_t *t)
{
    size_t old = t->call_cap;
    call_t *ov = t->calls;
    t->call_cap = old ? old * 2 : 256;
    t->calls = sx_xcalloc(t->call_cap, sizeof(call_t));
    for (size_t i = 0; i < old; i++) {
        if (key_zero(ov[i].key))
            continue;
        size_t j = call_slot(t, ov[i].key);
        while (!key_zero(t->calls[j].key))
            j = (j + 1) & (t->call_cap - 1);
        t->calls[j] = ov[i];
    }
    free(ov);
}

/* The waiting call with key, or a fresh slot for it (born now); NULL when
 * too many calls wait. *found says which. */
static call_t *call_get(sx_spanmetrics_t *m, tenant_t *t, const uint8_t *key, int64_t now_ms,
                        bool *found, size_t *slot)
{
    if (t->call_cap) {
        size_t j = call_slot(t, key);
        for (; !key_zero(t->calls[j].key); j = (j + 1) & (t->call_cap - 1))
            if (memcmp(t->calls[j].key, key, 24) == 0) {
                *found = true;
                *slot = j;
                return &t->calls[j];
            }
    }
    *found = false;
    if (t->call_n >= m->o.max_series)
        return NULL;
    if ((t->call_n + 1) * 2 > t->call_cap)
        call_grow(t);
    size_t j = call_slot(t, key);
    while (!key_zero(t->calls[j].key))
        j = (j + 1) & (t->call_cap - 1);
    call_t *c = &t->calls[j];
    memcpy(c->key, key, 24);
    c->born_ms = now_ms;
    t->call_n++;
    *slot = j;
    return c;
}

static sx_str_t attr_str(const sx_attr_t *a, uint32_t n, const char *key)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i].value.type == SX_AV_STRING && sx_str_eq_cstr(a[i].key, key))
            return a[i].value.s;
    return SX_STR_NULL;
}

static char *dup_str(sx_str_t s)
{
    return sx_xstrndup(s.ptr ? s.ptr : "", s.len);
}

/* The database a client span calls, from the semantic conventions' old
 * and new attribute names; empty when it is not a database call. */
static sx_str_t db_node(const sx_span_t *sp)
{
    static const char *const keys[] = {"db.name", "db.namespace", "db.system", "db.system.name"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        sx_str_t v = attr_str(sp->attrs, sp->nattrs, keys[i]);
        if (v.len)
            return v;
    }
    return SX_STR_NULL;
}

static void graph_span(sx_spanmetrics_t *m, tenant_t *t, const sx_span_t *sp, sx_str_t svc,
                       double dur_s, int64_t now_ms)
{
    bool client = sp->kind == SX_SPAN_KIND_CLIENT || sp->kind == SX_SPAN_KIND_PRODUCER;
    bool server = sp->kind == SX_SPAN_KIND_SERVER || sp->kind == SX_SPAN_KIND_CONSUMER;
    bool failed = sp->status_code == SX_SPAN_STATUS_ERROR;
    if (!client && !server)
        return;
    if (sp->kind == SX_SPAN_KIND_CLIENT) {
        sx_str_t db = db_node(sp);
        if (db.len) {
            edge(m, t, svc, db, SX_STR_LIT("database"), dur_s, dur_s, failed, now_ms);
            return;
        }
    }
    if (server && !sp->has_parent) {
        edge(m, t, SX_STR_LIT("user"), svc, SX_STR_LIT("virtual_node"), dur_s, dur_s, failed,
             now_ms);
        return;
    }
    uint8_t key[24];
    memcpy(key, sp->trace_id, 16);
    memcpy(key + 16, client ? sp->span_id : sp->parent_span_id, 8);
    bool found;
    size_t slot;
    call_t *c = call_get(m, t, key, now_ms, &found, &slot);
    if (!c) {
        sx_str_t v[1] = {svc};
        count(m, t, client ? F_DROPPED_C : F_DROPPED_S, v, 1, now_ms);
        return;
    }
    if ((client && c->have_client) || (server && c->have_server))
        return; /* the same half again (a retried push): counted once */
    if (client) {
        c->have_client = true;
        c->client = dup_str(svc);
        c->client_s = dur_s;
        sx_str_t peer = attr_str(sp->attrs, sp->nattrs, "peer.service");
        if (peer.len)
            c->peer = dup_str(peer);
    } else {
        c->have_server = true;
        c->server = dup_str(svc);
        c->server_s = dur_s;
    }
    c->failed |= failed;
    c->messaging |= sp->kind == SX_SPAN_KIND_PRODUCER || sp->kind == SX_SPAN_KIND_CONSUMER;
    if (c->have_client && c->have_server) {
        edge(m, t, sx_str(c->client), sx_str(c->server), sx_str(connection_type(c)), c->client_s,
             c->server_s, c->failed, now_ms);
        call_del(t, slot);
    }
}

/* Calls that waited too long: a client with a peer.service is a call to
 * that (uninstrumented) peer; any other half is unpaired. */
static void calls_expire(sx_spanmetrics_t *m, tenant_t *t, int64_t now_ms)
{
    for (size_t i = 0; i < t->call_cap;) {
        call_t *c = &t->calls[i];
        if (key_zero(c->key) || now_ms - c->born_ms < m->o.wait_ms) {
            i++;
            continue;
        }
        if (c->have_client && c->peer) {
            edge(m, t, sx_str(c->client), sx_str(c->peer), SX_STR_LIT("virtual_node"), c->client_s,
                 c->client_s, c->failed, now_ms);
        } else {
            sx_str_t v[1] = {sx_str(c->have_client ? c->client : c->server)};
            count(m, t, c->have_client ? F_UNPAIRED_C : F_UNPAIRED_S, v, 1, now_ms);
        }
        call_del(t, i); /* a later entry may shift into i: look at i again */
    }
}

/* ---- Tenants ---- */

static tenant_t *tenant_get(sx_spanmetrics_t *m, const char *name)
{
    pthread_mutex_lock(&m->mu);
    tenant_t *t = NULL;
    for (size_t i = 0; i < m->nt && !t; i++)
        if (strcmp(m->t[i]->name, name) == 0)
            t = m->t[i];
    if (!t) {
        t = sx_xcalloc(1, sizeof(*t));
        t->name = sx_xstrdup(name);
        pthread_mutex_init(&t->mu, NULL);
        m->t = sx_xrealloc(m->t, (m->nt + 1) * sizeof(*m->t));
        m->t[m->nt++] = t;
    }
    pthread_mutex_unlock(&m->mu);
    return t;
}

static void tenant_free(tenant_t *t)
{
    for (size_t i = 0; i < t->ser_cap; i++)
        free(t->ser[i]);
    free(t->ser);
    for (size_t i = 0; i < t->call_cap; i++)
        call_free(&t->calls[i]);
    free(t->calls);
    pthread_mutex_destroy(&t->mu);
    free(t->name);
    free(t);
}

void sx_spanmetrics_observe(sx_spanmetrics_t *m, const char *tenant, const sx_span_batch_t *b,
                            int64_t now_ns)
{
    if (!m || b->nspans == 0)
        return;
    tenant_t *t = tenant_get(m, tenant);
    int64_t now_ms = now_ns / 1000000;
    int64_t slack_ns = m->o.slack_ms * 1000000;
    pthread_mutex_lock(&t->mu);
    for (uint32_t i = 0; i < b->nspans; i++) {
        const sx_span_t *sp = &b->spans[i];
        /* Tempo's ingestion slack: a span from long ago (a backfill, a
         * clock off by hours) would add to the present's rate. */
        if (slack_ns && ((int64_t)sp->end_ns < now_ns - slack_ns ||
                         (int64_t)sp->end_ns > now_ns + slack_ns))
            continue;
        sx_str_t svc = b->resources[b->scopes[sp->scope].resource].service_name;
        double dur_s = sp->end_ns > sp->start_ns ? (double)(sp->end_ns - sp->start_ns) / 1e9 : 0;
        int k = sp->kind >= 0 && sp->kind <= 5 ? sp->kind : 0;
        int st = sp->status_code >= 0 && sp->status_code <= 2 ? sp->status_code : 0;
        sx_str_t v[4] = {svc, sp->name, sx_str(kind_names[k]), sx_str(status_names[st])};
        count(m, t, F_CALLS, v, 1, now_ms);
        observe(m, t, F_LATENCY, v, dur_s, now_ms);
        graph_span(m, t, sp, svc, dur_s, now_ms);
    }
    pthread_mutex_unlock(&t->mu);
}

/* ---- Writing ---- */

static int cmp_label(const void *x, const void *y)
{
    const sx_label_t *a = x, *b = y;
    return sx_str_cmp(a->name, b->name);
}

/* Append one series of s to the batch: name suffix, optional le, value. */
static void put_series(sx_metric_batch_t *bt, const ser_t *s, const char *suffix, const char *le,
                       double v, int64_t ts, bool zero_first, bool stale)
{
    const famdef_t *f = &fams[s->fam];
    sx_series_in_t *si = sx_metric_batch_add(bt);
    sx_label_t *l = sx_arena_alloc(bt->arena, (MAXLAB + 2) * sizeof(*l));
    uint32_t n = 0;
    l[n++] = (sx_label_t){SX_STR_LIT("__name__"),
                          sx_str(sx_arena_sprintf(bt->arena, "%s%s", f->name, suffix))};
    for (int k = 0; k < f->nlab; k++)
        if (s->vals[k].len)
            l[n++] = (sx_label_t){sx_str(f->labels[k]), s->vals[k]};
    if (le)
        l[n++] = (sx_label_t){SX_STR_LIT("le"), sx_str(sx_arena_strndup(bt->arena, le, strlen(le)))};
    qsort(l, n, sizeof(*l), cmp_label);
    si->labels = l;
    si->nlabels = n;
    si->samples = sx_arena_alloc(bt->arena, 2 * sizeof(sx_sample_t));
    uint32_t k = 0;
    if (zero_first)
        si->samples[k++] = (sx_sample_t){ts - 1, 0};
    si->samples[k++] = (sx_sample_t){ts, stale ? sx_stale_nan() : v};
    si->nsamples = k;
    bt->nsamples += k;
}

static void put_ser(sx_metric_batch_t *bt, ser_t *s, int64_t ts, bool stale)
{
    const famdef_t *f = &fams[s->fam];
    bool z = !s->written && !stale;
    s->written = true;
    if (!f->buckets) {
        put_series(bt, s, "", NULL, s->v[0], ts, z, stale);
        return;
    }
    double cum = 0;
    char le[32];
    for (int b = 0; b < f->nb; b++) {
        cum += s->v[b];
        sx_format_float(le, f->buckets[b]);
        put_series(bt, s, "_bucket", le, cum, ts, z, stale);
    }
    put_series(bt, s, "_bucket", "+Inf", s->v[f->nb + 1], ts, z, stale);
    put_series(bt, s, "_sum", NULL, s->v[f->nb], ts, z, stale);
    put_series(bt, s, "_count", NULL, s->v[f->nb + 1], ts, z, stale);
}

static void put_meta(sx_metric_batch_t *bt)
{
    for (int i = 0; i < NFAM; i++) {
        if (!fams[i].help)
            continue; /* the second label form of a name described already */
        sx_metric_meta_t *mm = sx_metric_batch_add_meta(bt);
        mm->metric = sx_str(fams[i].name);
        mm->type = fams[i].buckets ? SX_MT_HISTOGRAM : SX_MT_COUNTER;
        mm->help = sx_str(fams[i].help);
        mm->unit = fams[i].buckets ? SX_STR_LIT("seconds") : SX_STR_LIT("");
    }
}

/* Build the tenant's batch (under its lock), dropping idle series after a
 * last stale marker, then append it (outside the lock). */
static int tenant_write(sx_spanmetrics_t *m, tenant_t *t, int64_t ts)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_metric_batch_t bt;
    sx_metric_batch_init(&bt, &a);
    pthread_mutex_lock(&t->mu);
    calls_expire(m, t, ts);
    if (!t->meta_written && t->ser_n)
        put_meta(&bt);
    bool removed = false;
    for (size_t i = 0; i < t->ser_cap; i++) {
        ser_t *s = t->ser[i];
        if (!s)
            continue;
        bool idle = ts - s->touched_ms > IDLE_MS;
        put_ser(&bt, s, ts, idle);
        if (idle) {
            free(s);
            t->ser[i] = NULL;
            t->ser_n--;
            removed = true;
        }
    }
    if (removed) { /* rehash: linear probing cannot have holes */
        size_t cap = t->ser_cap;
        ser_t **old = t->ser;
        t->ser = sx_xcalloc(cap, sizeof(*t->ser));
        for (size_t i = 0; i < cap; i++) {
            if (!old[i])
                continue;
            size_t j = old[i]->hash & (cap - 1);
            while (t->ser[j])
                j = (j + 1) & (cap - 1);
            t->ser[j] = old[i];
        }
        free(old);
    }
    pthread_mutex_unlock(&t->mu);
    int rc = 0;
    if (bt.nseries || bt.nmeta) {
        sx_err_t err;
        sx_err_clear(&err);
        sx_tsdb_t *db = sx_storage_tsdb(m->st, t->name, &err);
        sx_append_result_t ar;
        rc = db ? sx_tsdb_append(db, &bt, &ar, &err) : err.code ? err.code : -1;
        if (rc)
            sx_log_error("spanmetrics", "tenant %s: writing span metrics failed: %s", t->name,
                         err.msg);
        else if (bt.nmeta)
            t->meta_written = true; /* under m->wmu */
    }
    sx_arena_dispose(&a);
    return rc;
}

int sx_spanmetrics_flush(sx_spanmetrics_t *m, int64_t now_ms)
{
    pthread_mutex_lock(&m->wmu);
    /* Strictly increasing, so two writes never share a timestamp. */
    int64_t ts = now_ms > m->last_ts ? now_ms : m->last_ts + 1;
    m->last_ts = ts;
    /* Tenants are never removed: a copy of the list stays valid, and
     * observers are not held up while the writes wait for the disk. */
    pthread_mutex_lock(&m->mu);
    size_t nt = m->nt;
    tenant_t **tv = sx_xmalloc((nt ? nt : 1) * sizeof(*tv));
    if (nt)
        memcpy(tv, m->t, nt * sizeof(*tv));
    pthread_mutex_unlock(&m->mu);
    int rc = 0;
    for (size_t i = 0; i < nt; i++) {
        int r = tenant_write(m, tv[i], ts);
        if (r && !rc)
            rc = r;
    }
    free(tv);
    pthread_mutex_unlock(&m->wmu);
    return rc;
}

static void *writer(void *arg)
{
    sx_spanmetrics_t *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (m->o.interval_ms % 1000) * 1000000;
        ts.tv_sec += m->o.interval_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &ts) == 0) {
        }
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->mu);
        sx_spanmetrics_flush(m, sx_now_ms());
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

sx_spanmetrics_t *sx_spanmetrics_open(sx_storage_t *st, const sx_spanmetrics_opts_t *o,
                                      sx_err_t *err)
{
    sx_spanmetrics_t *m = sx_xcalloc(1, sizeof(*m));
    m->st = st;
    m->o = *o;
    if (m->o.interval_ms <= 0)
        m->o.interval_ms = 15000;
    if (m->o.max_series == 0)
        m->o.max_series = 1;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->wmu, NULL);
    pthread_cond_init(&m->cv, NULL);
    if (pthread_create(&m->thread, NULL, writer, m)) {
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->wmu);
        pthread_mutex_destroy(&m->mu);
        free(m);
        sx_err_set(err, SX_EIO, "cannot start the span metrics writer thread");
        return NULL;
    }
    return m;
}

void sx_spanmetrics_close(sx_spanmetrics_t *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    sx_spanmetrics_flush(m, sx_now_ms());
    for (size_t i = 0; i < m->nt; i++)
        tenant_free(m->t[i]);
    free(m->t);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->wmu);
    pthread_mutex_destroy(&m->mu);
    free(m);
}
