/* SPDX-License-Identifier: Apache-2.0 */
/* Canonical Kubernetes labels for log streams (namespace, pod, container,
 * workload), from the label names agents use and from Fluent Bit records in
 * the lines. Runs on a decoded batch before it goes to the log store; the
 * mapping and the rules (label limit, splitting) are documented once, in
 * log_ingest.h above sx_log_k8s_normalize. Lines are read with the
 * zero-allocation JSON scanner of ingest_int.h, and only for streams whose
 * labels do not already say where they come from. */
#include "log_ingest.h"

#include <string.h>

#include "ingest_int.h"

enum { K_NS, K_POD, K_CONTAINER, K_WORKLOAD, K_N };

static const char *const canon[K_N] = {"namespace", "pod", "container", "workload"};

/* Stream label names for each canonical label, in order of preference. */
static const char *const aliases[K_N][7] = {
    {"namespace", "kubernetes_namespace_name", "k8s_namespace_name", "namespace_name", NULL},
    {"pod", "kubernetes_pod_name", "k8s_pod_name", "pod_name", NULL},
    {"container", "kubernetes_container_name", "k8s_container_name", "container_name", NULL},
    {"workload", "k8s_deployment_name", "k8s_statefulset_name", "k8s_daemonset_name",
     "k8s_cronjob_name", "k8s_job_name", NULL},
};

/* Where a canonical value came from. */
enum { SRC_NONE, SRC_CANON, SRC_ALIAS, SRC_LINE };

typedef struct tuple {
    sx_str_t v[K_N];
    uint8_t src[K_N];
    uint16_t alias[K_N]; /* SRC_ALIAS: the index of that label in the stream */
} tuple_t;

/* ---- Workload from a pod name ---- */

static bool rand_char(char c)
{
    /* k8s.io/apimachinery's rand alphabet: no vowels, no 0 1 3. */
    return (c >= 'b' && c <= 'z' && !strchr("aeiouy", c)) || strchr("2456789", c) != NULL;
}

static bool all_rand(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!rand_char(p[i]) || !p[i])
            return false;
    return true;
}

bool sx_k8s_workload_from_pod(sx_str_t pod, sx_str_t *out)
{
    const char *s = pod.ptr;
    size_t n = pod.len;
    /* Deployment: <name>-<hash 5..10>-<x 5>. */
    if (n > 12 && s[n - 6] == '-' && all_rand(s + n - 5, 5)) {
        size_t end = n - 6, i = end;
        while (i > 0 && s[i - 1] != '-')
            i--;
        size_t h = end - i;
        if (i > 1 && h >= 5 && h <= 10 && all_rand(s + i, h)) {
            *out = (sx_str_t){s, i - 1};
            return true;
        }
    }
    /* StatefulSet: <name>-<ordinal>. */
    size_t i = n;
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
        i--;
    if (i < n && i > 1 && s[i - 1] == '-' && (s[i] != '0' || i + 1 == n)) {
        *out = (sx_str_t){s, i - 1};
        return true;
    }
    /* DaemonSet, Job: <name>-<x 5>. */
    if (n > 6 && s[n - 6] == '-' && all_rand(s + n - 5, 5)) {
        *out = (sx_str_t){s, n - 6};
        return true;
    }
    return false;
}

/* A name Kubernetes could have given: [a-z0-9]([a-z0-9.-]*[a-z0-9])?,
 * at most 253 bytes. */
static bool k8s_name_ok(sx_str_t s)
{
    if (s.len == 0 || s.len > 253)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && ((c != '-' && c != '.') || i == 0 || i + 1 == s.len))
            return false;
    }
    return true;
}

/* ---- Reading a record line ---- */

typedef struct rec {
    sx_str_t k8s[3];  /* kubernetes.namespace_name, pod_name, container_name */
    sx_str_t hash;    /* kubernetes.labels.pod-template-hash */
    sx_str_t job;     /* kubernetes.labels.job-name */
} rec_t;

static bool str_value(const char **pp, const char *end, sx_arena_t *a, sx_str_t *out)
{
    if (*pp >= end || **pp != '"')
        return sx_ingest__json_skip(pp, end, SX_INGEST_JSON_MAX_DEPTH) == NULL;
    return sx_ingest__json_string(pp, end, a, out) == NULL;
}

/* Walk the members of the object at *pp, calling on() for each key with
 * *pp at its value; on() must consume the value. False on bad JSON. */
static bool walk_object(const char **pp, const char *end, sx_arena_t *a, void *ctx,
                        bool (*on)(const char **pp, const char *end, sx_arena_t *a, void *ctx,
                                   sx_str_t key))
{
    const char *p = sx_ingest__json_ws(*pp, end);
    if (p >= end || *p != '{')
        return false;
    p = sx_ingest__json_ws(p + 1, end);
    if (p < end && *p == '}') {
        *pp = p + 1;
        return true;
    }
    for (;;) {
        sx_str_t key;
        if (p >= end || *p != '"' || sx_ingest__json_string(&p, end, a, &key))
            return false;
        p = sx_ingest__json_ws(p, end);
        if (p >= end || *p != ':')
            return false;
        p = sx_ingest__json_ws(p + 1, end);
        if (!on(&p, end, a, ctx, key))
            return false;
        p = sx_ingest__json_ws(p, end);
        if (p < end && *p == ',') {
            p = sx_ingest__json_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') {
            *pp = p + 1;
            return true;
        }
        return false;
    }
}

static bool on_skip(const char **pp, const char *end)
{
    return sx_ingest__json_skip(pp, end, SX_INGEST_JSON_MAX_DEPTH) == NULL;
}

static bool on_pod_label(const char **pp, const char *end, sx_arena_t *a, void *ctx, sx_str_t key)
{
    rec_t *r = ctx;
    if (sx_str_eq_cstr(key, "pod-template-hash"))
        return str_value(pp, end, a, &r->hash);
    if (sx_str_eq_cstr(key, "job-name"))
        return str_value(pp, end, a, &r->job);
    return on_skip(pp, end);
}

static bool on_kubernetes(const char **pp, const char *end, sx_arena_t *a, void *ctx, sx_str_t key)
{
    rec_t *r = ctx;
    static const char *const names[3] = {"namespace_name", "pod_name", "container_name"};
    for (int k = 0; k < 3; k++)
        if (sx_str_eq_cstr(key, names[k]))
            return str_value(pp, end, a, &r->k8s[k]);
    if (sx_str_eq_cstr(key, "labels") && *pp < end && **pp == '{')
        return walk_object(pp, end, a, r, on_pod_label);
    return on_skip(pp, end);
}

static bool on_record(const char **pp, const char *end, sx_arena_t *a, void *ctx, sx_str_t key)
{
    rec_t *r = ctx;
    if (sx_str_eq_cstr(key, "kubernetes") && *pp < end && **pp == '{')
        return walk_object(pp, end, a, r, on_kubernetes);
    return on_skip(pp, end);
}

/* Fill the missing values of t from the line, when it is a record. */
static void from_line(sx_arena_t *a, sx_str_t line, tuple_t *t)
{
    if (line.len < 2)
        return;
    const char *p = line.ptr, *end = line.ptr + line.len;
    p = sx_ingest__json_ws(p, end);
    if (p >= end || *p != '{')
        return;
    /* Most JSON lines are application logs: look for the record's key
     * before walking the object. */
    if (!memmem(p, (size_t)(end - p), "\"kubernetes\"", 12))
        return;
    rec_t r;
    memset(&r, 0, sizeof(r));
    if (!walk_object(&p, end, a, &r, on_record) || sx_ingest__json_ws(p, end) != end)
        return;
    for (int k = 0; k < 3; k++) {
        if (t->src[k] != SRC_NONE)
            continue;
        sx_str_t v = r.k8s[k];
        if (k8s_name_ok(v)) {
            t->v[k] = v;
            t->src[k] = SRC_LINE;
        }
    }
    if (t->src[K_WORKLOAD] != SRC_NONE)
        return;
    sx_str_t pod = t->v[K_POD];
    if (r.hash.len && pod.len > r.hash.len + 2) {
        /* <name>-<hash>-<x>: find "-<hash>-" and cut there. */
        for (size_t i = pod.len - r.hash.len - 1; i-- > 0;) {
            if (pod.ptr[i] == '-' && pod.ptr[i + 1 + r.hash.len] == '-' &&
                memcmp(pod.ptr + i + 1, r.hash.ptr, r.hash.len) == 0) {
                if (i > 0) {
                    t->v[K_WORKLOAD] = (sx_str_t){pod.ptr, i};
                    t->src[K_WORKLOAD] = SRC_LINE;
                }
                return;
            }
        }
    }
    if (k8s_name_ok(r.job)) {
        t->v[K_WORKLOAD] = r.job;
        t->src[K_WORKLOAD] = SRC_LINE;
    }
}

/* ---- Streams ---- */

/* The values the stream's own labels give. */
static void from_labels(const sx_log_stream_in_t *s, tuple_t *t)
{
    memset(t, 0, sizeof(*t));
    for (int k = 0; k < K_N; k++)
        for (int a = 0; aliases[k][a] && t->src[k] == SRC_NONE; a++)
            for (uint32_t i = 0; i < s->nlabels && i < UINT16_MAX; i++)
                if (s->labels[i].value.len && sx_str_eq_cstr(s->labels[i].name, aliases[k][a])) {
                    t->v[k] = s->labels[i].value;
                    t->src[k] = a == 0 ? SRC_CANON : SRC_ALIAS;
                    t->alias[k] = (uint16_t)i;
                    break;
                }
}

static void derive_workload(tuple_t *t)
{
    if (t->src[K_WORKLOAD] == SRC_NONE && t->v[K_POD].len &&
        sx_k8s_workload_from_pod(t->v[K_POD], &t->v[K_WORKLOAD]))
        t->src[K_WORKLOAD] = SRC_LINE;
}

static bool adds_something(const tuple_t *t)
{
    for (int k = 0; k < K_N; k++)
        if (t->src[k] != SRC_NONE && t->src[k] != SRC_CANON)
            return true;
    return false;
}

static uint64_t tuple_hash(const tuple_t *t)
{
    uint64_t h = 1469598103934665603ULL;
    for (int k = 0; k < K_N; k++) {
        for (size_t j = 0; j < t->v[k].len; j++)
            h = (h ^ (unsigned char)t->v[k].ptr[j]) * 1099511628211ULL;
        h = (h ^ (uint64_t)(0x100 + k)) * 1099511628211ULL;
    }
    return h;
}

static bool tuple_eq(const tuple_t *a, const tuple_t *b)
{
    for (int k = 0; k < K_N; k++)
        if (!sx_str_eq(a->v[k], b->v[k]))
            return false;
    return true;
}

/* The label set of a stream with t applied (arena). See the limit rules
 * in log_ingest.h. NULL when the arena is full. */
static sx_label_t *apply(sx_arena_t *a, const sx_log_stream_in_t *s, const tuple_t *t, uint32_t *n)
{
    uint32_t nl = s->nlabels;
    sx_label_t *ls = sx_arena_alloc(a, (nl + K_N) * sizeof(*ls));
    if (!ls)
        return NULL;
    memcpy(ls, s->labels, nl * sizeof(*ls));
    for (int k = 0; k < K_N; k++) {
        if (t->src[k] == SRC_NONE || t->src[k] == SRC_CANON)
            continue;
        if (nl < SX_LOG_K8S_MAX_LABELS)
            ls[nl++] = (sx_label_t){sx_str(canon[k]), t->v[k]};
        else if (t->src[k] == SRC_ALIAS)
            ls[t->alias[k]].name = sx_str(canon[k]);
    }
    *n = sx_labels_sort(ls, nl);
    return ls;
}

typedef struct group {
    tuple_t t;
    uint64_t h;
    uint32_t count;
    size_t slot; /* batch index of its stream */
} group_t;

static int arena_full(sx_err_t *err)
{
    return sx_err_set(err, SX_ETOOLARGE, "decoded request exceeds the per-request memory limit");
}

static int normalize_stream(sx_log_batch_t *b, size_t si, sx_err_t *err)
{
    sx_arena_t *a = b->arena;
    sx_log_stream_in_t *s = &b->streams[si];
    tuple_t base;
    from_labels(s, &base);
    bool need_lines = base.src[K_NS] == SRC_NONE || base.src[K_POD] == SRC_NONE ||
                      base.src[K_CONTAINER] == SRC_NONE;
    if (!need_lines || s->nentries == 0) {
        derive_workload(&base);
        if (!adds_something(&base))
            return 0;
        uint32_t n;
        sx_label_t *ls = apply(a, s, &base, &n);
        if (!ls)
            return arena_full(err);
        s->labels = ls;
        s->nlabels = n;
        return 0;
    }

    /* Group the entries by the values their lines add. */
    uint32_t nent = s->nentries, ng = 0, gcap = 4, last = 0;
    uint32_t *gi = sx_arena_alloc(a, (size_t)nent * sizeof(*gi));
    group_t *gs = sx_arena_alloc(a, gcap * sizeof(*gs));
    if (!gi || !gs)
        return arena_full(err);
    for (uint32_t i = 0; i < nent; i++) {
        tuple_t t = base;
        from_line(a, s->entries[i].line, &t);
        derive_workload(&t);
        uint64_t h = tuple_hash(&t);
        uint32_t g = last;
        if (!(g < ng && gs[g].h == h && tuple_eq(&gs[g].t, &t))) {
            for (g = 0; g < ng; g++)
                if (gs[g].h == h && tuple_eq(&gs[g].t, &t))
                    break;
        }
        if (g == ng) {
            if (ng == gcap) {
                group_t *n = sx_arena_realloc(a, gs, gcap * sizeof(*gs), 2 * gcap * sizeof(*gs));
                if (!n)
                    return arena_full(err);
                gs = n;
                gcap *= 2;
            }
            gs[ng++] = (group_t){t, h, 0, 0};
        }
        gs[g].count++;
        gi[i] = last = g;
    }
    if (ng == 1 && !adds_something(&gs[0].t))
        return 0;

    /* Group 0 keeps the slot (its entries compacted in place, after the
     * others have been copied out); the others get new streams. */
    sx_log_entry_t **arr = sx_arena_alloc(a, ng * sizeof(*arr));
    uint32_t *fill = sx_arena_calloc(a, ng, sizeof(*fill));
    if (!arr || !fill)
        return arena_full(err);
    arr[0] = s->entries;
    for (uint32_t g = 1; g < ng; g++)
        if (!(arr[g] = sx_arena_alloc(a, gs[g].count * sizeof(**arr))))
            return arena_full(err);
    for (uint32_t i = 0; i < nent; i++)
        if (gi[i])
            arr[gi[i]][fill[gi[i]]++] = s->entries[i];
    for (uint32_t i = 0; i < nent; i++)
        if (!gi[i])
            arr[0][fill[0]++] = s->entries[i];

    sx_log_stream_in_t orig = *s;
    for (uint32_t g = 0; g < ng; g++) {
        uint32_t n = orig.nlabels;
        sx_label_t *ls = adds_something(&gs[g].t) ? apply(a, &orig, &gs[g].t, &n) : orig.labels;
        if (!ls)
            return arena_full(err);
        sx_log_stream_in_t *t = g == 0 ? &b->streams[si] : sx_log_batch_add(b);
        if (!t)
            return arena_full(err);
        t->labels = ls;
        t->nlabels = n;
        t->entries = arr[g];
        t->nentries = gs[g].count;
        t->_cap = g == 0 ? orig._cap : gs[g].count;
    }
    return 0;
}

int sx_log_k8s_normalize(sx_log_batch_t *b, sx_err_t *err)
{
    size_t n = b->nstreams; /* streams appended by splits are done already */
    for (size_t i = 0; i < n; i++) {
        int rc = normalize_stream(b, i, err);
        if (rc)
            return rc;
    }
    return 0;
}
