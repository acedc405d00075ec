/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes events (core/v1 and events.k8s.io/v1 Event) and audit events
 * (audit.k8s.io/v1 Event) into log batches. Both arrive as JSON in three
 * shapes (one object, an array, a list with "items") at low volume, so the
 * body is parsed with jansson. Each object becomes one entry: the line is
 * the object as compact JSON, the fields KubeSphere filters on become
 * stream labels and structured metadata (log_ingest.h lists them). Every
 * string is copied into the batch arena before the document is freed. */
#include "log_ingest.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/time.h"

/* Label values longer than Loki's default limit are left out. */
#define MAX_LABEL_VALUE 2048

typedef struct kdec {
    sx_log_batch_t *b;
    sx_err_t *err;
    int64_t now_ns;
    size_t first;      /* the first stream this call added */
    uint64_t *hashes;  /* label hash of each stream from first on (arena) */
    size_t hcap;
    sx_label_t meta[16]; /* one entry's metadata while it is built */
    uint32_t nmeta;
    sx_label_t labels[4];
    uint32_t nlabels;
} kdec_t;

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static int arena_full(kdec_t *d)
{
    return sx_err_set(d->err, SX_ETOOLARGE, "decoded request exceeds the per-request memory limit");
}

/* ---- Field access ---- */

/* o[key], else o[alt] (for Go field names), or NULL. */
static json_t *get(const json_t *o, const char *key, const char *alt)
{
    if (!json_is_object(o))
        return NULL;
    json_t *v = json_object_get(o, key);
    if (!v && alt)
        v = json_object_get(o, alt);
    return v;
}

/* A non-empty string at o[key] (or o[alt]), else an empty slice. */
static sx_str_t str(const json_t *o, const char *key, const char *alt)
{
    json_t *v = get(o, key, alt);
    if (json_is_string(v) && json_string_length(v))
        return (sx_str_t){json_string_value(v), json_string_length(v)};
    return SX_STR_NULL;
}

/* The first non-empty of two strings. */
static sx_str_t first_of(sx_str_t a, sx_str_t b)
{
    return a.len ? a : b;
}

/* A string or number at o[key] as text (numbers formatted into tmp). */
static sx_str_t scalar(const json_t *o, const char *key, const char *alt, char tmp[32])
{
    json_t *v = get(o, key, alt);
    if (json_is_integer(v)) {
        int n = snprintf(tmp, 32, "%lld", (long long)json_integer_value(v));
        return (sx_str_t){tmp, (size_t)n};
    }
    if (json_is_string(v) && json_string_length(v))
        return (sx_str_t){json_string_value(v), json_string_length(v)};
    return SX_STR_NULL;
}

/* An RFC 3339 timestamp at o[key]; false when absent or unparsable. */
static bool ts_of(const json_t *o, const char *key, const char *alt, int64_t *ns)
{
    sx_str_t s = str(o, key, alt);
    return s.len && sx_timestamp_parse_ns(s, ns, NULL) == 0;
}

/* labels[key] or annotations[key] of the metadata object m. */
static sx_str_t label_or_annotation(const json_t *m, const char *key)
{
    return first_of(str(get(m, "labels", "Labels"), key, NULL),
                    str(get(m, "annotations", "Annotations"), key, NULL));
}

/* ---- Building entries and streams ---- */

static void add_label(kdec_t *d, const char *name, sx_str_t v)
{
    if (v.len && v.len <= MAX_LABEL_VALUE)
        d->labels[d->nlabels++] = (sx_label_t){sx_str(name), v};
}

static void add_meta(kdec_t *d, const char *name, sx_str_t v)
{
    if (v.len && d->nmeta < sizeof(d->meta) / sizeof(d->meta[0]))
        d->meta[d->nmeta++] = (sx_label_t){sx_str(name), v};
}

static uint64_t labels_hash(const sx_label_t *ls, uint32_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t i = 0; i < n; i++) {
        for (size_t j = 0; j < ls[i].name.len; j++)
            h = (h ^ (unsigned char)ls[i].name.ptr[j]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
        for (size_t j = 0; j < ls[i].value.len; j++)
            h = (h ^ (unsigned char)ls[i].value.ptr[j]) * 1099511628211ULL;
        h = (h ^ 0xfe) * 1099511628211ULL;
    }
    return h;
}

static bool same_labels(const sx_label_t *a, uint32_t na, const sx_label_t *b, uint32_t nb)
{
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++)
        if (!sx_str_eq(a[i].name, b[i].name) || !sx_str_eq(a[i].value, b[i].value))
            return false;
    return true;
}

/* Copy s into the arena; false when the arena is full. */
static bool dup(sx_arena_t *a, sx_str_t *s)
{
    if (!s->len)
        return true;
    sx_str_t c = sx_arena_strdup_str(a, *s);
    if (!c.ptr)
        return false;
    *s = c;
    return true;
}

/* The stream (of this call) with d->labels, created when new. Returns its
 * index or -1 when the arena is full. */
static long stream_for(kdec_t *d)
{
    sx_log_batch_t *b = d->b;
    uint32_t n = sx_labels_sort(d->labels, d->nlabels);
    uint64_t h = labels_hash(d->labels, n);
    for (size_t i = b->nstreams; i-- > d->first;) {
        const sx_log_stream_in_t *s = &b->streams[i];
        if (d->hashes[i - d->first] == h && same_labels(s->labels, s->nlabels, d->labels, n))
            return (long)i;
    }
    size_t k = b->nstreams - d->first;
    if (k == d->hcap) {
        size_t cap = d->hcap ? d->hcap * 2 : 16;
        uint64_t *nh = sx_arena_realloc(b->arena, d->hashes, k * sizeof(*nh), cap * sizeof(*nh));
        if (!nh)
            return -1;
        d->hashes = nh;
        d->hcap = cap;
    }
    sx_label_t *ls = sx_arena_alloc(b->arena, n * sizeof(*ls));
    sx_log_stream_in_t *s = ls ? sx_log_batch_add(b) : NULL;
    if (!s)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        ls[i] = d->labels[i];
        if (!dup(b->arena, &ls[i].value))
            return -1;
    }
    s->labels = ls;
    s->nlabels = n;
    d->hashes[k] = h;
    return (long)(b->nstreams - 1);
}

/* Append the entry for obj (its labels and metadata are in d). */
static int emit(kdec_t *d, json_t *obj, int64_t ts)
{
    sx_log_batch_t *b = d->b;
    long si = stream_for(d);
    if (si < 0)
        return arena_full(d);
    char *js = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!js)
        return sx_err_set(d->err, SX_ENOMEM, "cannot serialize an event");
    sx_str_t line = sx_arena_strdup_str(b->arena, sx_str(js));
    free(js);
    sx_label_t *meta = d->nmeta ? sx_arena_alloc(b->arena, d->nmeta * sizeof(*meta)) : NULL;
    if (!line.ptr || (d->nmeta && !meta))
        return arena_full(d);
    for (uint32_t i = 0; i < d->nmeta; i++) {
        meta[i] = d->meta[i];
        if (!dup(b->arena, &meta[i].value))
            return arena_full(d);
    }
    sx_log_entry_t *e = sx_log_stream_add(b, &b->streams[si]);
    if (!e)
        return arena_full(d);
    e->ts = ts;
    e->line = line;
    e->meta = meta;
    e->nmeta = d->nmeta;
    b->nbytes += line.len;
    return 0;
}

/* ---- Events ---- */

static int one_event(kdec_t *d, json_t *ev)
{
    json_t *io = get(ev, "involvedObject", NULL), *rg = get(ev, "regarding", NULL);
    json_t *md = get(ev, "metadata", NULL), *series = get(ev, "series", NULL);
    json_t *src = get(ev, "source", NULL), *dsrc = get(ev, "deprecatedSource", NULL);
    char tmp[32];

    /* Precedence of timestamps: log_ingest.h. */
    int64_t ts;
    if (!ts_of(ev, "lastTimestamp", "deprecatedLastTimestamp", &ts) &&
        !ts_of(ev, "eventTime", NULL, &ts) && !ts_of(series, "lastObservedTime", NULL, &ts) &&
        !ts_of(md, "creationTimestamp", NULL, &ts) &&
        !ts_of(ev, "firstTimestamp", "deprecatedFirstTimestamp", &ts))
        ts = d->now_ns;

    d->nlabels = d->nmeta = 0;
    add_label(d, "namespace",
              first_of(first_of(str(io, "namespace", NULL), str(rg, "namespace", NULL)),
                       str(md, "namespace", NULL)));
    add_label(d, "kind", first_of(str(io, "kind", NULL), str(rg, "kind", NULL)));
    add_label(d, "type", str(ev, "type", NULL));
    add_label(d, "reason", str(ev, "reason", NULL));
    if (d->nlabels == 0)
        add_label(d, "kind", SX_STR_LIT("Event"));

    add_meta(d, "name", first_of(str(io, "name", NULL), str(rg, "name", NULL)));
    add_meta(d, "uid", first_of(str(io, "uid", NULL), str(rg, "uid", NULL)));
    add_meta(d, "api_version", first_of(str(io, "apiVersion", NULL), str(rg, "apiVersion", NULL)));
    add_meta(d, "event_name", str(md, "name", NULL));
    add_meta(d, "source_component",
             first_of(first_of(str(src, "component", NULL), str(ev, "reportingController", NULL)),
                      str(dsrc, "component", NULL)));
    add_meta(d, "source_host",
             first_of(first_of(str(src, "host", NULL), str(ev, "reportingInstance", NULL)),
                      str(dsrc, "host", NULL)));
    sx_str_t count = scalar(ev, "count", NULL, tmp);
    if (!count.len)
        count = scalar(series, "count", NULL, tmp);
    if (!count.len)
        count = scalar(ev, "deprecatedCount", NULL, tmp);
    add_meta(d, "count", count);
    add_meta(d, "first_timestamp", str(ev, "firstTimestamp", "deprecatedFirstTimestamp"));
    add_meta(d, "last_timestamp", str(ev, "lastTimestamp", "deprecatedLastTimestamp"));
    add_meta(d, "message", str(ev, "message", "note"));
    add_meta(d, "workspace", label_or_annotation(md, "kubesphere.io/workspace"));
    return emit(d, ev, ts);
}

/* ---- Audit events ---- */

static int one_audit(kdec_t *d, json_t *ev)
{
    json_t *ref = get(ev, "objectRef", "ObjectRef"), *user = get(ev, "user", "User");
    json_t *status = get(ev, "responseStatus", "ResponseStatus");
    json_t *ips = get(ev, "sourceIPs", "SourceIPs");
    char tmp[32];

    int64_t ts;
    if (!ts_of(ev, "stageTimestamp", "StageTimestamp", &ts) &&
        !ts_of(ev, "requestReceivedTimestamp", "RequestReceivedTimestamp", &ts))
        ts = d->now_ns;

    d->nlabels = d->nmeta = 0;
    add_label(d, "namespace", str(ref, "namespace", "Namespace"));
    add_label(d, "verb", str(ev, "verb", "Verb"));
    add_label(d, "resource", str(ref, "resource", "Resource"));
    add_label(d, "level", str(ev, "level", "Level"));
    if (d->nlabels == 0)
        add_label(d, "verb", SX_STR_LIT("unknown"));

    add_meta(d, "audit_id", str(ev, "auditID", "AuditID"));
    add_meta(d, "stage", str(ev, "stage", "Stage"));
    add_meta(d, "user", str(user, "username", "Username"));
    add_meta(d, "name", str(ref, "name", "Name"));
    add_meta(d, "api_group", str(ref, "apiGroup", "APIGroup"));
    add_meta(d, "subresource", str(ref, "subresource", "Subresource"));
    add_meta(d, "code", scalar(status, "code", "Code", tmp));
    json_t *ip0 = json_is_array(ips) ? json_array_get(ips, 0) : NULL;
    if (json_is_string(ip0))
        add_meta(d, "source_ip", (sx_str_t){json_string_value(ip0), json_string_length(ip0)});
    add_meta(d, "request_uri", str(ev, "requestURI", "RequestURI"));
    add_meta(d, "user_agent", str(ev, "userAgent", "UserAgent"));
    sx_str_t ws = str(ev, "workspace", "Workspace");
    if (!ws.len)
        ws = str(get(ev, "annotations", "Annotations"), "kubesphere.io/workspace", NULL);
    if (!ws.len)
        ws = label_or_annotation(get(get(ev, "requestObject", "RequestObject"), "metadata", NULL),
                                 "kubesphere.io/workspace");
    add_meta(d, "workspace", ws);
    return emit(d, ev, ts);
}

/* ---- The three shapes ---- */

static int decode(const char *buf, size_t len, int64_t now_ns, sx_log_batch_t *out, sx_err_t *err,
                  int (*one)(kdec_t *, json_t *), const char *what)
{
    if (len == 0)
        return sx_err_set(err, SX_EPARSE, "empty body, want %s object, an array or a list", what);
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, 0, &jerr);
    if (!root)
        return sx_err_set(err, SX_EPARSE, "invalid JSON at line %d col %d: %s", jerr.line,
                          jerr.column, jerr.text);
    json_t *items = root;
    if (json_is_object(root)) {
        json_t *it = json_object_get(root, "items");
        if (it && (json_is_array(it) || json_is_null(it)))
            items = it;
    }
    kdec_t d = {.b = out, .err = err, .now_ns = now_ns, .first = out->nstreams};
    int rc = 0;
    if (json_is_array(items)) {
        size_t n = json_array_size(items);
        for (size_t i = 0; i < n && rc == 0; i++) {
            json_t *ev = json_array_get(items, i);
            if (!json_is_object(ev))
                rc = sx_err_set(err, SX_EPARSE, "item %zu is %s, want %s object", i,
                                json_kind(ev), what);
            else if ((rc = one(&d, ev)) != 0)
                sx_err_wrap(err, "item %zu: ", i);
        }
    } else if (json_is_object(items)) {
        rc = one(&d, items);
    } else if (!json_is_null(items)) {
        rc = sx_err_set(err, SX_EPARSE, "body is %s, want %s object, an array or a list",
                        json_kind(items), what);
    }
    json_decref(root);
    return rc;
}

int sx_k8s_events_decode(const char *buf, size_t len, int64_t now_ns, sx_log_batch_t *out,
                         sx_err_t *err)
{
    return decode(buf, len, now_ns, out, err, one_event, "an Event");
}

int sx_k8s_audit_decode(const char *buf, size_t len, int64_t now_ns, sx_log_batch_t *out,
                        sx_err_t *err)
{
    return decode(buf, len, now_ns, out, err, one_audit, "an audit Event");
}
