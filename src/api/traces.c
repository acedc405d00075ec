/* SPDX-License-Identifier: Apache-2.0 */
/* Traces: the OTLP/HTTP receiver (/v1/traces) and trace lookup by id in
 * Tempo's (/api/traces/<id>, /api/v2/traces/<id>) and Jaeger's shapes,
 * plus Jaeger's service and operation lists, and search: Tempo's
 * /api/search (tags=, TraceQL q=), its tag name and value lists
 * (v1 and v2), and Jaeger's /jaeger/api/traces (also /api/traces without
 * an id: the Tempo by-id route only matches /api/traces/<id>). Spans are kept in the
 * tenant's SX_TRACES log store, one log entry per span.
 *
 * Storage mapping:
 *   stream labels  service_name (resource service.name, "unknown_service"
 *                  when absent) and service_namespace (only when the
 *                  resource has a string service.namespace): low
 *                  cardinality, one stream per service.
 *   timestamp      the span's start (ns).
 *   line           the span record (src/storage/traces/spanrec.h): the
 *                  span with its resource and scope, the trace id as hex
 *                  text so the 4-gram bloom filters find it.
 * Stores written before records hold, per span, a compact OTLP JSON line
 * with metadata instead; readers see every block in that older form (see
 * "Stored spans" below), so both read the same:
 *   line           compact OTLP JSON as sx_span_json writes it:
 *                    {<span members>,"resource":R,"scope":C
 *                     [,"resourceSchemaUrl":"..."][,"scopeSchemaUrl":"..."]}
 *                  where the first `,"resource":{` and the next `,"scope":{`
 *                  are always the structural ones: an answer is assembled
 *                  by cutting lines there and concatenating.
 *   metadata       trace_id, span_id (lower-case hex), name (when not
 *                  empty), kind and status_code (OTLP numbers), duration_ns.
 *
 * Lookup by id: select every stream of the store, read entries in the time
 * range with the hex id as the bloom needle (chunks without it are skipped
 * unread) and keep entries whose trace id equals it; duplicates
 * (the same line sent twice) are dropped. Spans are then grouped by
 * resource and scope text, as OTLP nests them.
 *
 * Tempo and Jaeger both serve GET /api/traces/<id>. The reference gives no
 * rule to tell the callers apart, so /api/traces/<id> answers Tempo's shape
 * ({"batches":[...]} or protobuf), and Jaeger's query API is served whole
 * under the /jaeger prefix (/jaeger/api/traces/<id>, /jaeger/api/services,
 * ...: set the Jaeger UI's base path or the Grafana Jaeger data source URL
 * to http://host/jaeger). The Jaeger paths that Tempo does not use
 * (/api/services, /api/services/<svc>/operations, /api/operations) are
 * served without the prefix too. */
#include "otlp.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/log.h"
#include "../core/time.h"
#include "../query/logql/convert.h"
#include "../query/traceql/traceql.h"
#include "../storage/traces/spanmetrics.h"
#include "../storage/traces/spanrec.h"

/* Upper bounds of one lookup, so that a pathological trace cannot take
 * the server's memory: spans of one trace, and entries scanned for the
 * operation list (Jaeger's operations: a scan of the service's recent
 * span metadata). */
#define MAX_TRACE_SPANS 200000
#define OPS_LOOKBACK_NS (7 * 24 * 3600 * 1000000000LL)
#define OPS_MAX_ENTRIES 1000000

/* ---- Ingest: POST /v1/traces ---- */

static sx_str_t arena_hex(sx_arena_t *a, const uint8_t *id, size_t n)
{
    char hex[33];
    sx_span_id_hex(id, n, hex);
    return sx_arena_strdup_str(a, (sx_str_t){hex, 2 * n});
}

static sx_str_t arena_num(sx_arena_t *a, long long v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", v);
    return sx_arena_strdup_str(a, (sx_str_t){tmp, (size_t)n});
}

/* The stream labels of a resource (sorted: service_name < service_namespace). */
static uint32_t resource_labels(const sx_span_resource_t *rs, sx_label_t *l)
{
    uint32_t n = 0;
    l[n++] = (sx_label_t){SX_STR_LIT("service_name"),
                          rs->service_name.len ? rs->service_name : SX_STR_LIT("unknown_service")};
    for (uint32_t i = 0; i < rs->nattrs; i++) {
        const sx_attr_t *a = &rs->attrs[i];
        if (a->value.type == SX_AV_STRING && a->value.s.len &&
            sx_str_eq_cstr(a->key, "service.namespace")) {
            l[n++] = (sx_label_t){SX_STR_LIT("service_namespace"), a->value.s};
            break;
        }
    }
    return n;
}

static bool labels_eq(const sx_label_t *a, uint32_t na, const sx_label_t *b, uint32_t nb)
{
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++)
        if (!sx_str_eq(a[i].name, b[i].name) || !sx_str_eq(a[i].value, b[i].value))
            return false;
    return true;
}

/* Map a decoded span batch to a log batch in the request arena (one stream
 * per distinct service label set). Returns 0 or SX_ETOOLARGE when the
 * arena's limit is hit. */
static int spans_to_logs(const sx_span_batch_t *sb, sx_log_batch_t *lb, sx_err_t *err)
{
    sx_arena_t *a = lb->arena;
    uint32_t *res_stream = sx_arena_calloc(a, sb->nresources + 1, sizeof(uint32_t));
    if (!res_stream)
        goto toolarge;
    for (uint32_t r = 0; r < sb->nresources; r++) {
        sx_label_t l[2];
        uint32_t nl = resource_labels(&sb->resources[r], l);
        size_t s;
        for (s = 0; s < lb->nstreams; s++)
            if (labels_eq(lb->streams[s].labels, lb->streams[s].nlabels, l, nl))
                break;
        if (s == lb->nstreams) {
            sx_log_stream_in_t *st = sx_log_batch_add(lb);
            sx_label_t *cp = st ? sx_arena_alloc(a, sizeof(l)) : NULL;
            if (!cp)
                goto toolarge;
            memcpy(cp, l, sizeof(l));
            st->labels = cp;
            st->nlabels = nl;
        }
        res_stream[r] = (uint32_t)s;
    }
    sx_buf_t rec = SX_BUF_INIT;
    for (uint32_t i = 0; i < sb->nspans; i++) {
        const sx_span_t *sp = &sb->spans[i];
        uint32_t r = sb->scopes[sp->scope].resource;
        sx_log_stream_in_t *st = &lb->streams[res_stream[r]];
        sx_buf_clear(&rec);
        sx_spanrec_encode(&rec, sb, sp);
        sx_log_entry_t *e = sx_log_stream_add(lb, st);
        char *bytes = e ? sx_arena_strndup(a, rec.ptr, rec.len) : NULL;
        if (!bytes) {
            sx_buf_dispose(&rec);
            goto toolarge;
        }
        e->ts = sx_spanrec_ts(sp);
        e->line = (sx_str_t){bytes, rec.len};
    }
    sx_buf_dispose(&rec);
    return 0;
toolarge:
    return sx_err_set(err, SX_ETOOLARGE, "request too large: the per-request memory limit was hit");
}

static void on_traces_push(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    int format;
    size_t len;
    const char *body = sx_api_otlp_body(req, &format, &len);
    if (!body)
        return;
    sx_span_batch_t sb;
    sx_span_batch_init(&sb, &req->arena);
    sx_otlp_result_t res;
    sx_otlp_result_init(&res);
    sx_err_t err;
    sx_err_clear(&err);
    sx_log_batch_t lb;
    sx_log_batch_init(&lb, &req->arena);
    if (sx_otlp_traces_decode(body, len, format, &sb, &res, &err) ||
        spans_to_logs(&sb, &lb, &err)) {
        sx_http_count_rejected(ctx->http, "bad_request", 1);
        sx_api_otlp_error(req, format, err.code == SX_ETOOLARGE ? 413 : 400, err.msg);
        return;
    }
    if (res.rejected)
        sx_http_count_rejected(ctx->http, "invalid_span", (uint64_t)res.rejected);
    if (lb.nentries == 0) {
        sx_api_otlp_ok(req, SX_OTLP_TRACES, format, &res);
        return;
    }
    if (!sx_api_otlp_disk_ok(ctx, req, format))
        return;
    sx_logstore_t *ls = sx_storage_logs(ctx->storage, req->tenant, SX_TRACES, &err);
    if (!ls) {
        sx_api_otlp_storage_failed(ctx, req, format, err.code, err.msg);
        return;
    }
    sx_log_append_result_t ar;
    int rc = sx_logstore_append(ls, &lb, &ar, &err);
    if (rc) {
        sx_api_otlp_storage_failed(ctx, req, format, rc, err.msg);
        return;
    }
    sx_http_count_rejected(ctx->http, "out_of_retention_span", ar.dropped_retention);
    sx_spanmetrics_observe(ctx->spanmetrics, req->tenant, &sb, sx_now_ns());
    if (sx_logstore_head_full(ls))
        sx_storage_kick(ctx->storage);
    sx_api_otlp_ok(req, SX_OTLP_TRACES, format, &res);
}

/* ---- Lookup by trace id ---- */

/* Parse a trace id as Tempo and Jaeger do: 1 to 32 hex digits (either
 * case), left-padded with zeros to 32; all zeros is not a trace id.
 * Writes 32 lower-case digits and a NUL to out. */
static int trace_id_parse(const char *s, char out[33])
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return -1;
    bool zero = true;
    memset(out, '0', 32 - n);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -1;
        zero = zero && c == '0';
        out[32 - n + i] = c;
    }
    out[32] = 0;
    return zero ? -1 : 0;
}

typedef struct found_span {
    sx_str_t line; /* the stored line (arena copy) */
    int64_t ts;    /* span start, ns */
    sx_str_t span_id;
} found_span_t;

typedef struct trace_scan {
    sx_arena_t *a;
    sx_str_t id; /* 32 lower-case hex digits */
    found_span_t *v;
    size_t n, cap;
    int rc; /* SX_ETOOLARGE when a limit was hit */
} trace_scan_t;

static sx_str_t meta_get(const sx_log_block_t *blk, size_t i, const char *name)
{
    if (!blk->meta_idx)
        return SX_STR_NULL;
    for (uint32_t k = blk->meta_idx[i]; k < blk->meta_idx[i + 1]; k++)
        if (sx_str_eq_cstr(blk->meta[k].name, name))
            return blk->meta[k].value;
    return SX_STR_NULL;
}

/* ---- Stored spans ----
 * Entries are span records (src/storage/traces/spanrec.h); stores written
 * before records hold the OTLP JSON line with metadata instead (the form
 * described at the top of this file). The readers below were written for
 * that form, so a block of records is shown to them as one: each record
 * decoded, rendered as its JSON line (when lines are asked for) and given
 * the metadata trace_id, span_id, name, kind, status_code, duration_ns. */

static bool is_rec(sx_str_t line)
{
    return line.len > 34 && (unsigned char)line.ptr[0] == SX_SPANREC_V1;
}

typedef struct legacy {
    sx_arena_t a;
    sx_log_block_fn fn;
    void *arg;
    bool lines;
} legacy_t;

/* The block in the JSON-line form, in L's arena (reset per block). A
 * record that does not decode is left out (and logged once a block). */
static const sx_log_block_t *as_legacy(legacy_t *L, const sx_log_block_t *in, sx_log_block_t *out)
{
    sx_arena_reset(&L->a);
    *out = *in;
    sx_str_t *lines = sx_arena_alloc(&L->a, (in->n + 1) * sizeof(*lines));
    int64_t *ts = sx_arena_alloc(&L->a, (in->n + 1) * sizeof(*ts));
    uint32_t *idx = sx_arena_alloc(&L->a, (in->n + 1) * sizeof(*idx));
    sx_label_t *meta = sx_arena_alloc(&L->a, (in->n * 6 + 1) * sizeof(*meta));
    if (!lines || !ts || !idx || !meta)
        return NULL;
    size_t n = 0, m = 0, bad = 0;
    sx_buf_t b = SX_BUF_INIT;
    for (size_t i = 0; i < in->n; i++) {
        if (!is_rec(in->lines[i])) {
            lines[n] = in->lines[i];
            ts[n] = in->ts[i];
            idx[n] = (uint32_t)m;
            for (uint32_t k = in->meta_idx ? in->meta_idx[i] : 0;
                 in->meta_idx && k < in->meta_idx[i + 1]; k++)
                meta[m++] = in->meta[k];
            n++;
            continue;
        }
        sx_span_batch_t sb;
        sx_span_batch_init(&sb, &L->a);
        if (sx_spanrec_decode(in->lines[i].ptr, in->lines[i].len, in->ts[i], &sb)) {
            bad++;
            continue;
        }
        const sx_span_t *sp = &sb.spans[0];
        lines[n] = SX_STR_NULL;
        if (L->lines) {
            sx_buf_clear(&b);
            sx_span_json(&b, &sb, sp);
            lines[n] = sx_arena_strdup_str(&L->a, (sx_str_t){b.ptr, b.len});
        }
        ts[n] = in->ts[i];
        idx[n] = (uint32_t)m;
        meta[m++] = (sx_label_t){SX_STR_LIT("trace_id"), {in->lines[i].ptr + 2, 32}};
        meta[m++] = (sx_label_t){SX_STR_LIT("span_id"), arena_hex(&L->a, sp->span_id, 8)};
        if (sp->name.len)
            meta[m++] = (sx_label_t){SX_STR_LIT("name"), sp->name};
        meta[m++] = (sx_label_t){SX_STR_LIT("kind"), arena_num(&L->a, sp->kind)};
        meta[m++] = (sx_label_t){SX_STR_LIT("status_code"), arena_num(&L->a, sp->status_code)};
        uint64_t dur = sp->end_ns > sp->start_ns ? sp->end_ns - sp->start_ns : 0;
        meta[m++] = (sx_label_t){SX_STR_LIT("duration_ns"), arena_num(&L->a, (long long)dur)};
        n++;
    }
    sx_buf_dispose(&b);
    if (bad)
        sx_log_warn("traces", "%zu stored span records do not decode; left out", bad);
    idx[n] = (uint32_t)m;
    out->n = n;
    out->ts = ts;
    out->lines = L->lines ? lines : NULL;
    out->meta_idx = idx;
    out->meta = meta;
    return out;
}

static int on_legacy_block(void *arg, const sx_log_block_t *blk)
{
    legacy_t *L = arg;
    sx_log_block_t b;
    const sx_log_block_t *lb = as_legacy(L, blk, &b);
    return lb ? L->fn(L->arg, lb) : 1;
}

/* sx_logstore_read for the readers below: blocks arrive in the JSON-line
 * form, with lines when flags ask for SX_LOGREAD_LINES, always with
 * metadata. */
static int spans_read(sx_logstore_t *ls, uint32_t id, int64_t mint, int64_t maxt, int flags,
                      const sx_log_hint_t *hint, sx_log_block_fn fn, void *arg)
{
    legacy_t L = {.fn = fn, .arg = arg, .lines = (flags & SX_LOGREAD_LINES) != 0};
    sx_arena_init(&L.a);
    int rc = sx_logstore_read(ls, id, mint, maxt, flags | SX_LOGREAD_LINES | SX_LOGREAD_META, hint,
                              on_legacy_block, &L, NULL);
    sx_arena_dispose(&L.a);
    return rc;
}

/* Lookup by id reads records directly: the id is at a fixed place in a
 * record, so only the trace's own spans are decoded and rendered. */
static int on_trace_block(void *arg, const sx_log_block_t *blk)
{
    trace_scan_t *t = arg;
    sx_buf_t rec_json = SX_BUF_INIT;
    /* A record is decoded in scratch memory, reset span by span; only its
     * JSON line is kept (a big trace must not exhaust the request arena
     * with decoded structures). */
    sx_arena_t scratch;
    sx_arena_init(&scratch);
    for (size_t i = 0; i < blk->n; i++) {
        sx_str_t line = blk->lines[i], span_id;
        if (is_rec(line)) {
            if (memcmp(line.ptr + 2, t->id.ptr, 32) != 0)
                continue;
            sx_arena_reset(&scratch);
            sx_span_batch_t sb;
            sx_span_batch_init(&sb, &scratch);
            if (sx_spanrec_decode(line.ptr, line.len, blk->ts[i], &sb)) {
                sx_log_warn("traces", "a stored span record of trace %.32s does not decode; "
                            "left out", t->id.ptr);
                continue;
            }
            sx_buf_clear(&rec_json);
            sx_span_json(&rec_json, &sb, &sb.spans[0]);
            line = (sx_str_t){rec_json.ptr, rec_json.len};
            span_id = arena_hex(t->a, sb.spans[0].span_id, 8);
        } else {
            if (!sx_str_eq(meta_get(blk, i, "trace_id"), t->id))
                continue;
            span_id = meta_get(blk, i, "span_id");
        }
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 64;
            if (cap > MAX_TRACE_SPANS) {
                t->rc = SX_ETOOLARGE;
                break;
            }
            found_span_t *v = sx_arena_realloc(t->a, t->v, t->cap * sizeof(*v), cap * sizeof(*v));
            if (!v) {
                t->rc = SX_ETOOLARGE;
                break;
            }
            t->v = v;
            t->cap = cap;
        }
        found_span_t *f = &t->v[t->n];
        f->line = sx_arena_strdup_str(t->a, line);
        f->span_id = sx_arena_strdup_str(t->a, span_id);
        if ((line.len && !f->line.ptr)) {
            t->rc = SX_ETOOLARGE;
            break;
        }
        f->ts = blk->ts[i];
        t->n++;
    }
    sx_arena_dispose(&scratch);
    sx_buf_dispose(&rec_json);
    return t->rc;
}

static int cmp_found_dedup(const void *x, const void *y)
{
    const found_span_t *a = x, *b = y;
    int c = sx_str_cmp(a->span_id, b->span_id);
    if (!c)
        c = sx_str_cmp(a->line, b->line);
    return c;
}

static int cmp_found_ts(const void *x, const void *y)
{
    const found_span_t *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return sx_str_cmp(a->span_id, b->span_id);
}

/* The spans of trace id in [mint, maxt] (span starts, ns), sorted by start,
 * duplicates removed, in the request arena. Returns 0 (n == 0: not found)
 * or SX_ETOOLARGE. */
static int trace_find(sx_api_ctx_t *ctx, sx_req_t *req, const char *id, int64_t mint,
                      int64_t maxt, found_span_t **out, size_t *n)
{
    trace_scan_t t = {&req->arena, {id, 32}, NULL, 0, 0, 0};
    *out = NULL;
    *n = 0;
    sx_logstore_t *ls = sx_storage_logs_peek(ctx->storage, req->tenant, SX_TRACES);
    if (!ls)
        return 0;
    sx_log_stream_t *st = NULL;
    size_t nst = 0;
    sx_logstore_select(ls, NULL, 0, mint, maxt, &req->arena, &st, &nst);
    sx_log_hint_t hint = {&t.id, 1, t.id};
    for (size_t s = 0; s < nst && !t.rc; s++)
        sx_logstore_read(ls, st[s].id, mint, maxt, SX_LOGREAD_LINES | SX_LOGREAD_META, &hint,
                         on_trace_block, &t, NULL);
    if (t.rc)
        return t.rc;
    if (t.n > 1) {
        qsort(t.v, t.n, sizeof(*t.v), cmp_found_dedup);
        size_t k = 1;
        for (size_t i = 1; i < t.n; i++)
            if (cmp_found_dedup(&t.v[i], &t.v[k - 1]))
                t.v[k++] = t.v[i];
        t.n = k;
        qsort(t.v, t.n, sizeof(*t.v), cmp_found_ts);
    }
    *out = t.v;
    *n = t.n;
    return 0;
}

/* A stored line cut at its structural markers (see the file comment). */
typedef struct span_parts {
    sx_str_t span;     /* "{...members" without the closing brace */
    sx_str_t resource; /* the Resource object */
    sx_str_t scope;    /* the InstrumentationScope object */
    sx_str_t rschema;  /* the resource schema URL as a JSON string token, or empty */
    sx_str_t sschema;  /* the scope schema URL token, or empty */
} span_parts_t;

static const char *find(const char *p, const char *end, const char *needle)
{
    return sx_memmem(p, (size_t)(end - p), needle, strlen(needle));
}

static int span_split(sx_str_t line, span_parts_t *o)
{
    static const char RES[] = ",\"resource\":{", SCO[] = ",\"scope\":{",
                      RSU[] = ",\"resourceSchemaUrl\":", SSU[] = ",\"scopeSchemaUrl\":";
    const char *p = line.ptr, *end = line.ptr + line.len;
    if (line.len < 2 || end[-1] != '}')
        return -1;
    end--;
    const char *r = find(p, end, RES);
    const char *c = r ? find(r, end, SCO) : NULL;
    if (!c)
        return -1;
    o->span = (sx_str_t){p, (size_t)(r - p)};
    o->resource = (sx_str_t){r + sizeof(RES) - 2, (size_t)(c - (r + sizeof(RES) - 2))};
    const char *cs = c + sizeof(SCO) - 2;
    const char *ru = find(cs, end, RSU);
    const char *su = find(cs, end, SSU);
    const char *ce = ru ? ru : su ? su : end;
    o->scope = (sx_str_t){cs, (size_t)(ce - cs)};
    o->rschema = ru ? (sx_str_t){ru + sizeof(RSU) - 1, (size_t)((su ? su : end) - (ru + sizeof(RSU) - 1))}
                    : SX_STR_NULL;
    o->sschema = su ? (sx_str_t){su + sizeof(SSU) - 1, (size_t)(end - (su + sizeof(SSU) - 1))}
                    : SX_STR_NULL;
    return 0;
}

/* ---- Tempo answers ---- */

typedef struct scope_group {
    sx_str_t scope, schema;
    uint32_t *spans;
    size_t n, cap;
} scope_group_t;

typedef struct res_group {
    sx_str_t resource, schema;
    scope_group_t *scopes;
    size_t n, cap;
} res_group_t;

static void *grow(sx_arena_t *a, void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 4;
    void *q = sx_arena_realloc(a, p, *cap * size, c * size);
    *cap = c;
    return q;
}

/* Append the ResourceSpans array of the found spans (OTLP JSON, grouped by
 * resource then scope, groups in order of first appearance) to b. */
static int put_resource_spans(sx_arena_t *a, sx_buf_t *b, const found_span_t *v, size_t n)
{
    span_parts_t *parts = sx_arena_alloc(a, (n + 1) * sizeof(*parts));
    res_group_t *rg = NULL;
    size_t nrg = 0, rcap = 0;
    if (!parts)
        return SX_ETOOLARGE;
    for (size_t i = 0; i < n; i++) {
        span_parts_t *sp = &parts[i];
        if (span_split(v[i].line, sp)) {
            sx_log_warn("traces", "skipping a stored span line without its resource and scope");
            continue;
        }
        size_t r;
        for (r = 0; r < nrg; r++)
            if (sx_str_eq(rg[r].resource, sp->resource) && sx_str_eq(rg[r].schema, sp->rschema))
                break;
        if (r == nrg) {
            if (!(rg = grow(a, rg, &rcap, nrg, sizeof(*rg))))
                return SX_ETOOLARGE;
            rg[nrg++] = (res_group_t){sp->resource, sp->rschema, NULL, 0, 0};
        }
        res_group_t *R = &rg[r];
        size_t c;
        for (c = 0; c < R->n; c++)
            if (sx_str_eq(R->scopes[c].scope, sp->scope) && sx_str_eq(R->scopes[c].schema, sp->sschema))
                break;
        if (c == R->n) {
            if (!(R->scopes = grow(a, R->scopes, &R->cap, R->n, sizeof(*R->scopes))))
                return SX_ETOOLARGE;
            R->scopes[R->n++] = (scope_group_t){sp->scope, sp->sschema, NULL, 0, 0};
        }
        scope_group_t *C = &R->scopes[c];
        if (!(C->spans = grow(a, C->spans, &C->cap, C->n, sizeof(*C->spans))))
            return SX_ETOOLARGE;
        C->spans[C->n++] = (uint32_t)i;
    }
    sx_buf_putc(b, '[');
    for (size_t r = 0; r < nrg; r++) {
        sx_buf_puts(b, r ? ",{\"resource\":" : "{\"resource\":");
        sx_buf_append_str(b, rg[r].resource);
        sx_buf_puts(b, ",\"scopeSpans\":[");
        for (size_t c = 0; c < rg[r].n; c++) {
            const scope_group_t *C = &rg[r].scopes[c];
            sx_buf_puts(b, c ? ",{\"scope\":" : "{\"scope\":");
            sx_buf_append_str(b, C->scope);
            sx_buf_puts(b, ",\"spans\":[");
            for (size_t k = 0; k < C->n; k++) {
                if (k)
                    sx_buf_putc(b, ',');
                sx_buf_append_str(b, parts[C->spans[k]].span);
                sx_buf_putc(b, '}');
            }
            sx_buf_putc(b, ']');
            if (C->schema.len) {
                sx_buf_puts(b, ",\"schemaUrl\":");
                sx_buf_append_str(b, C->schema);
            }
            sx_buf_putc(b, '}');
        }
        sx_buf_putc(b, ']');
        if (rg[r].schema.len) {
            sx_buf_puts(b, ",\"schemaUrl\":");
            sx_buf_append_str(b, rg[r].schema);
        }
        sx_buf_putc(b, '}');
    }
    sx_buf_putc(b, ']');
    return 0;
}

static bool wants_protobuf(sx_req_t *req)
{
    const char *acc = sx_req_header(req, "Accept");
    return acc && (strstr(acc, "application/protobuf") || strstr(acc, "application/x-protobuf"));
}

/* Tempo's start/end (Unix seconds, optional) as an inclusive ns range. */
static int tempo_range(sx_req_t *req, int64_t *mint, int64_t *maxt)
{
    const char *s = sx_req_param(req, "start"), *e = sx_req_param(req, "end");
    *mint = INT64_MIN;
    *maxt = INT64_MAX;
    char *endp;
    if (s && *s) {
        long long v = strtoll(s, &endp, 10);
        if (*endp || v < 0 || v > INT64_MAX / 1000000000LL)
            return -1;
        *mint = v * 1000000000LL;
    }
    if (e && *e) {
        long long v = strtoll(e, &endp, 10);
        if (*endp || v < 0 || v >= INT64_MAX / 1000000000LL)
            return -1;
        if (v > 0)
            *maxt = v * 1000000000LL + 999999999LL;
    }
    return *mint > *maxt ? -1 : 0;
}

/* GET /api/traces/<id> (v2 = false) and /api/v2/traces/<id> (v2 = true). */
static void tempo_trace(sx_req_t *req, sx_api_ctx_t *ctx, bool v2)
{
    char id[33];
    int64_t mint, maxt;
    if (trace_id_parse(req->path_rest ? req->path_rest : "", id)) {
        sx_resp_text(req, 400, "invalid trace id: expected 1 to 32 hex digits, not all zero");
        return;
    }
    if (tempo_range(req, &mint, &maxt)) {
        sx_resp_text(req, 400, "invalid start or end: expected Unix seconds, start <= end");
        return;
    }
    found_span_t *v;
    size_t n;
    int rc = trace_find(ctx, req, id, mint, maxt, &v, &n);
    if (rc) {
        sx_resp_text(req, 413, "trace too large");
        return;
    }
    if (n == 0) {
        sx_resp_text(req, 404, "trace not found");
        return;
    }
    bool pb = wants_protobuf(req);
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, pb ? "{\"resourceSpans\":" : v2 ? "{\"trace\":{\"resourceSpans\":" : "{\"batches\":");
    if ((rc = put_resource_spans(&req->arena, b, v, n))) {
        sx_resp_text(req, 413, "trace too large");
        return;
    }
    if (!pb) {
        sx_buf_puts(b, v2 ? "},\"status\":\"COMPLETE\"}" : "}");
        sx_resp_set(req, 200, "application/json");
        return;
    }
    sx_buf_putc(b, '}');
    /* tempopb.Trace is wire-identical to OTLP TracesData, and both to an
     * ExportTraceServiceRequest (field 1: repeated ResourceSpans), so the
     * decoders' transcoder writes it. */
    sx_buf_t pbuf = SX_BUF_INIT;
    sx_err_t err;
    sx_err_clear(&err);
    if (sx_otlp_json_to_protobuf(SX_OTLP_TRACES, b->ptr, b->len, &req->arena, &pbuf, &err)) {
        sx_buf_dispose(&pbuf);
        sx_log_error("traces", "cannot transcode a stored trace to protobuf: %s", err.msg);
        sx_resp_text(req, 500, "cannot encode the trace as protobuf");
        return;
    }
    sx_buf_clear(b);
    if (v2) {
        /* TraceByIDResponse{trace = 1}; status COMPLETE is 0, left out. */
        sx_buf_putc(b, 0x0a);
        sx_buf_put_uvarint(b, pbuf.len);
    }
    sx_buf_append(b, pbuf.ptr, pbuf.len);
    sx_buf_dispose(&pbuf);
    sx_resp_set(req, 200, "application/protobuf");
}

static void on_tempo_v1(sx_req_t *req, void *arg)
{
    tempo_trace(req, arg, false);
}

static void on_tempo_v2(sx_req_t *req, void *arg)
{
    tempo_trace(req, arg, true);
}

static void on_echo(sx_req_t *req, void *arg)
{
    (void)arg;
    sx_resp_text(req, 200, "echo");
}

/* ---- Jaeger answers ---- */

/* Jaeger's envelope around data (a JSON text), with errors when code != 0. */
static void jaeger_reply(sx_req_t *req, int status, const char *msg)
{
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_printf(b, "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":%d,"
                     "\"msg\":",
                  status);
    sx_buf_json_str(b, msg, strlen(msg));
    sx_buf_puts(b, "}]}");
    sx_resp_set(req, status, "application/json");
}

/* Jaeger prints a 128-bit trace id as 16 hex digits when its high half is
 * zero (model.TraceID.String), else 32. */
static void put_jaeger_trace_id(sx_buf_t *b, const char *hex32)
{
    bool high_zero = strspn(hex32, "0") >= 16;
    sx_buf_putc(b, '"');
    sx_buf_append(b, high_zero ? hex32 + 16 : hex32, high_zero ? 16 : 32);
    sx_buf_putc(b, '"');
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static long long jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static unsigned long long jns(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (json_is_string(v))
        return strtoull(json_string_value(v), NULL, 10);
    return json_is_integer(v) ? (unsigned long long)json_integer_value(v) : 0;
}

/* An OTLP JSON AnyValue as a plain JSON value (pdata's AsRaw): arrays as
 * arrays, key-value lists as objects. New reference. */
static json_t *plain_value(json_t *av)
{
    json_t *x;
    if ((x = json_object_get(av, "stringValue")))
        return json_incref(x);
    if ((x = json_object_get(av, "boolValue")))
        return json_incref(x);
    if ((x = json_object_get(av, "intValue")))
        return json_integer(jint(av, "intValue"));
    if ((x = json_object_get(av, "doubleValue")))
        return json_incref(x);
    if ((x = json_object_get(av, "bytesValue")))
        return json_incref(x);
    if ((x = json_object_get(av, "arrayValue"))) {
        json_t *arr = json_array(), *vals = json_object_get(x, "values"), *e;
        size_t i;
        json_array_foreach(vals, i, e) json_array_append_new(arr, plain_value(e));
        return arr;
    }
    if ((x = json_object_get(av, "kvlistValue"))) {
        json_t *obj = json_object(), *vals = json_object_get(x, "values"), *e;
        size_t i;
        json_array_foreach(vals, i, e)
            json_object_set_new(obj, jstr(e, "key"), plain_value(json_object_get(e, "value")));
        return obj;
    }
    return json_null();
}

static void put_tag_str(sx_buf_t *b, bool *first, const char *k, const char *v)
{
    sx_buf_puts(b, *first ? "{\"key\":" : ",{\"key\":");
    *first = false;
    sx_buf_json_str(b, k, strlen(k));
    sx_buf_puts(b, ",\"type\":\"string\",\"value\":");
    sx_buf_json_str(b, v, strlen(v));
    sx_buf_putc(b, '}');
}

/* One OTLP JSON KeyValue as a Jaeger tag {"key","type","value"}, as the
 * Collector's Jaeger translator maps them: arrays and maps become strings
 * of their plain JSON, bytes become "binary" (base64). */
static void put_tag(sx_buf_t *b, bool *first, json_t *kv, const char *skip)
{
    const char *k = jstr(kv, "key");
    if (skip && strcmp(k, skip) == 0)
        return;
    json_t *av = json_object_get(kv, "value"), *x;
    sx_buf_puts(b, *first ? "{\"key\":" : ",{\"key\":");
    *first = false;
    sx_buf_json_str(b, k, strlen(k));
    if ((x = json_object_get(av, "stringValue"))) {
        sx_buf_puts(b, ",\"type\":\"string\",\"value\":");
        sx_buf_json_str(b, json_string_value(x), json_string_length(x));
    } else if ((x = json_object_get(av, "boolValue"))) {
        sx_buf_puts(b, json_is_true(x) ? ",\"type\":\"bool\",\"value\":true"
                                       : ",\"type\":\"bool\",\"value\":false");
    } else if ((x = json_object_get(av, "intValue"))) {
        sx_buf_printf(b, ",\"type\":\"int64\",\"value\":%lld", jint(av, "intValue"));
    } else if ((x = json_object_get(av, "doubleValue"))) {
        sx_buf_puts(b, ",\"type\":\"float64\",\"value\":");
        if (json_is_number(x))
            sx_span_json_double(b, json_number_value(x));
        else
            sx_buf_json_str(b, json_string_value(x), json_string_length(x));
    } else if ((x = json_object_get(av, "bytesValue"))) {
        sx_buf_puts(b, ",\"type\":\"binary\",\"value\":");
        sx_buf_json_str(b, json_string_value(x), json_string_length(x));
    } else {
        json_t *p = plain_value(av);
        char *s = json_dumps(p, JSON_COMPACT | JSON_ENCODE_ANY);
        sx_buf_puts(b, ",\"type\":\"string\",\"value\":");
        sx_buf_json_str(b, s ? s : "", s ? strlen(s) : 0);
        free(s);
        json_decref(p);
    }
    sx_buf_putc(b, '}');
}

static void put_tags(sx_buf_t *b, bool *first, json_t *attrs, const char *skip)
{
    json_t *kv;
    size_t i;
    json_array_foreach(attrs, i, kv) put_tag(b, first, kv, skip);
}

static const char *const jaeger_kinds[] = {"", "internal", "server", "client", "producer",
                                           "consumer"};

/* One span in Jaeger's JSON model (model/json), from its OTLP JSON. */
static void put_jaeger_span(sx_buf_t *b, json_t *s, const char *pid)
{
    const char *tid = jstr(s, "traceId");
    unsigned long long start = jns(s, "startTimeUnixNano"), end = jns(s, "endTimeUnixNano");
    sx_buf_puts(b, "{\"traceID\":");
    put_jaeger_trace_id(b, strlen(tid) == 32 ? tid : "00000000000000000000000000000000");
    sx_buf_puts(b, ",\"spanID\":");
    const char *sid = jstr(s, "spanId");
    sx_buf_json_str(b, sid, strlen(sid));
    sx_buf_puts(b, ",\"operationName\":");
    const char *name = jstr(s, "name");
    sx_buf_json_str(b, name, strlen(name));
    sx_buf_puts(b, ",\"references\":[");
    bool first = true;
    const char *parent = jstr(s, "parentSpanId");
    if (*parent) {
        sx_buf_puts(b, "{\"refType\":\"CHILD_OF\",\"traceID\":");
        put_jaeger_trace_id(b, tid);
        sx_buf_puts(b, ",\"spanID\":");
        sx_buf_json_str(b, parent, strlen(parent));
        sx_buf_putc(b, '}');
        first = false;
    }
    json_t *l;
    size_t i;
    json_array_foreach(json_object_get(s, "links"), i, l)
    {
        const char *lt = jstr(l, "traceId"), *ls = jstr(l, "spanId");
        if (strlen(lt) != 32)
            continue;
        sx_buf_puts(b, first ? "{\"refType\":\"FOLLOWS_FROM\",\"traceID\":"
                             : ",{\"refType\":\"FOLLOWS_FROM\",\"traceID\":");
        first = false;
        put_jaeger_trace_id(b, lt);
        sx_buf_puts(b, ",\"spanID\":");
        sx_buf_json_str(b, ls, strlen(ls));
        sx_buf_putc(b, '}');
    }
    sx_buf_printf(b, "],\"startTime\":%llu,\"duration\":%llu,\"tags\":[", start / 1000,
                  end > start ? (end - start) / 1000 : 0);
    first = true;
    put_tags(b, &first, json_object_get(s, "attributes"), NULL);
    json_t *scope = json_object_get(s, "scope");
    if (*jstr(scope, "name"))
        put_tag_str(b, &first, "otel.scope.name", jstr(scope, "name"));
    if (*jstr(scope, "version"))
        put_tag_str(b, &first, "otel.scope.version", jstr(scope, "version"));
    long long kind = jint(s, "kind");
    if (kind > 0 && kind <= 5)
        put_tag_str(b, &first, "span.kind", jaeger_kinds[kind]);
    json_t *status = json_object_get(s, "status");
    long long code = jint(status, "code");
    if (code == 1)
        put_tag_str(b, &first, "otel.status_code", "OK");
    if (code == 2) {
        put_tag_str(b, &first, "otel.status_code", "ERROR");
        sx_buf_puts(b, first ? "" : ",");
        sx_buf_puts(b, "{\"key\":\"error\",\"type\":\"bool\",\"value\":true}");
        first = false;
    }
    if (*jstr(status, "message"))
        put_tag_str(b, &first, "otel.status_description", jstr(status, "message"));
    if (*jstr(s, "traceState"))
        put_tag_str(b, &first, "w3c.tracestate", jstr(s, "traceState"));
    sx_buf_puts(b, "],\"logs\":[");
    json_t *ev;
    json_array_foreach(json_object_get(s, "events"), i, ev)
    {
        sx_buf_printf(b, "%s{\"timestamp\":%llu,\"fields\":[", i ? "," : "",
                      jns(ev, "timeUnixNano") / 1000);
        bool f = true;
        if (*jstr(ev, "name"))
            put_tag_str(b, &f, "event", jstr(ev, "name"));
        put_tags(b, &f, json_object_get(ev, "attributes"), NULL);
        sx_buf_puts(b, "]}");
    }
    sx_buf_puts(b, "],\"processID\":");
    sx_buf_json_str(b, pid, strlen(pid));
    sx_buf_printf(b, ",\"warnings\":null,\"flags\":%lld}", jint(s, "flags") & 0xff);
}

static const char *resource_service(json_t *res)
{
    json_t *kv;
    size_t i;
    json_array_foreach(json_object_get(res, "attributes"), i, kv)
    {
        if (strcmp(jstr(kv, "key"), "service.name") == 0) {
            const char *s = json_string_value(json_object_get(json_object_get(kv, "value"),
                                                              "stringValue"));
            if (s)
                return s;
        }
    }
    return "unknown_service";
}

/* One trace in Jaeger's model ({"traceID","spans","processes","warnings"})
 * from its found spans. */
static void put_jaeger_trace(sx_arena_t *a, sx_buf_t *b, const char *id, const found_span_t *v,
                             size_t n)
{
    /* Processes: one per distinct resource text, "p1", "p2", ... in order
     * of first appearance. */
    sx_str_t *procs = sx_arena_alloc(a, (n + 1) * sizeof(sx_str_t));
    uint32_t *pidx = sx_arena_alloc(a, (n + 1) * sizeof(uint32_t));
    json_t **docs = sx_arena_calloc(a, n + 1, sizeof(json_t *));
    size_t nprocs = 0;
    sx_buf_puts(b, "{\"traceID\":");
    put_jaeger_trace_id(b, id);
    sx_buf_puts(b, ",\"spans\":[");
    bool first = true;
    for (size_t i = 0; i < n && procs && pidx && docs; i++) {
        span_parts_t sp;
        json_error_t jerr;
        if (span_split(v[i].line, &sp))
            continue;
        if (!(docs[i] = json_loadb(v[i].line.ptr, v[i].line.len, 0, &jerr))) {
            sx_log_warn("traces", "skipping a stored span line that does not parse: %s",
                        jerr.text);
            continue;
        }
        size_t p;
        for (p = 0; p < nprocs; p++)
            if (sx_str_eq(procs[p], sp.resource))
                break;
        if (p == nprocs)
            procs[nprocs++] = sp.resource;
        pidx[p] = (uint32_t)i; /* a span of each process, for its resource */
        char pid[16];
        snprintf(pid, sizeof(pid), "p%zu", p + 1);
        if (!first)
            sx_buf_putc(b, ',');
        first = false;
        put_jaeger_span(b, docs[i], pid);
    }
    sx_buf_puts(b, "],\"processes\":{");
    for (size_t p = 0; p < nprocs; p++) {
        json_t *res = json_object_get(docs[pidx[p]], "resource");
        const char *svc = resource_service(res);
        sx_buf_printf(b, "%s\"p%zu\":{\"serviceName\":", p ? "," : "", p + 1);
        sx_buf_json_str(b, svc, strlen(svc));
        sx_buf_puts(b, ",\"tags\":[");
        bool f = true;
        put_tags(b, &f, json_object_get(res, "attributes"), "service.name");
        sx_buf_puts(b, "]}");
    }
    sx_buf_puts(b, "},\"warnings\":null}");
    for (size_t i = 0; docs && i < n; i++)
        json_decref(docs[i]);
}

static void on_jaeger_trace(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    char id[33];
    if (trace_id_parse(req->path_rest ? req->path_rest : "", id)) {
        jaeger_reply(req, 400, "cannot parse traceID param: expected 1 to 32 hex digits");
        return;
    }
    found_span_t *v;
    size_t n;
    if (trace_find(ctx, req, id, INT64_MIN, INT64_MAX, &v, &n)) {
        jaeger_reply(req, 500, "trace too large");
        return;
    }
    if (n == 0) {
        jaeger_reply(req, 404, "trace not found");
        return;
    }
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"data\":[");
    put_jaeger_trace(&req->arena, b, id, v, n);
    sx_buf_puts(b, "],\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}");
    sx_resp_set(req, 200, "application/json");
}

static void put_jaeger_strs(sx_req_t *req, const sx_str_t *v, size_t n)
{
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sx_buf_putc(b, ',');
        sx_buf_json_str(b, v[i].ptr, v[i].len);
    }
    sx_buf_printf(b, "],\"total\":%zu,\"limit\":0,\"offset\":0,\"errors\":null}", n);
    sx_resp_set(req, 200, "application/json");
}

static void on_jaeger_services(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    sx_logstore_t *ls = sx_storage_logs_peek(ctx->storage, req->tenant, SX_TRACES);
    sx_str_t *v = NULL;
    size_t n = 0;
    if (ls)
        sx_logstore_label_values(ls, SX_STR_LIT("service_name"), NULL, 0, INT64_MIN, INT64_MAX,
                                 &req->arena, &v, &n);
    put_jaeger_strs(req, v, n);
}

/* Operations: the distinct (name, kind) pairs in the span metadata of a
 * service's streams over the last OPS_LOOKBACK_NS, at most OPS_MAX_ENTRIES
 * entries scanned (newest first). No name index yet: this is a scan. */
typedef struct op {
    sx_str_t name;
    int kind;
} op_t;

typedef struct ops_scan {
    sx_arena_t *a;
    op_t *v;
    size_t n, cap;
    size_t scanned;
    int want_kind; /* -1 = any */
} ops_scan_t;

static int on_ops_block(void *arg, const sx_log_block_t *blk)
{
    ops_scan_t *o = arg;
    for (size_t i = 0; i < blk->n; i++) {
        if (++o->scanned > OPS_MAX_ENTRIES)
            return 1;
        sx_str_t name = meta_get(blk, i, "name");
        sx_str_t ks = meta_get(blk, i, "kind");
        int kind = ks.len == 1 ? ks.ptr[0] - '0' : 0;
        if (o->want_kind >= 0 && kind != o->want_kind)
            continue;
        size_t k;
        for (k = 0; k < o->n; k++)
            if (o->v[k].kind == kind && sx_str_eq(o->v[k].name, name))
                break;
        if (k < o->n)
            continue;
        if (!(o->v = grow(o->a, o->v, &o->cap, o->n, sizeof(*o->v))))
            return 1;
        o->v[o->n++] = (op_t){sx_arena_strdup_str(o->a, name), kind};
    }
    return 0;
}

static int cmp_op(const void *x, const void *y)
{
    const op_t *a = x, *b = y;
    int c = sx_str_cmp(a->name, b->name);
    return c ? c : a->kind - b->kind;
}

static int kind_from_name(const char *s)
{
    if (!s || !*s)
        return -1;
    for (int k = 1; k <= 5; k++)
        if (strcasecmp(s, jaeger_kinds[k]) == 0)
            return k;
    return -2;
}

static void ops_collect(sx_api_ctx_t *ctx, sx_req_t *req, const char *service, int want_kind,
                        ops_scan_t *o)
{
    *o = (ops_scan_t){&req->arena, NULL, 0, 0, 0, want_kind};
    sx_logstore_t *ls = sx_storage_logs_peek(ctx->storage, req->tenant, SX_TRACES);
    if (!ls)
        return;
    sx_matcher_t m = {SX_STR_LIT("service_name"), sx_str(service), SX_MATCH_EQ, NULL};
    int64_t maxt = INT64_MAX, mint = sx_now_ns() - OPS_LOOKBACK_NS;
    sx_log_stream_t *st = NULL;
    size_t nst = 0;
    sx_logstore_select(ls, &m, 1, mint, maxt, &req->arena, &st, &nst);
    for (size_t s = 0; s < nst; s++)
        if (spans_read(ls, st[s].id, mint, maxt, SX_LOGREAD_META | SX_LOGREAD_BACKWARD, NULL,
                       on_ops_block, o))
            break;
    qsort(o->v, o->n, sizeof(*o->v), cmp_op);
}

/* GET /api/services/<service>/operations: {"data":["op",...]} (names,
 * unique, sorted). */
static void on_jaeger_service_ops(sx_req_t *req, void *arg)
{
    const char *rest = req->path_rest ? req->path_rest : "";
    const char *slash = strrchr(rest, '/');
    if (!slash || slash == rest || strcmp(slash, "/operations") != 0) {
        jaeger_reply(req, 404, "404 page not found");
        return;
    }
    char *svc = sx_arena_strndup(&req->arena, rest, (size_t)(slash - rest));
    ops_scan_t o;
    ops_collect(arg, req, svc, -1, &o);
    sx_str_t *names = sx_arena_alloc(&req->arena, (o.n + 1) * sizeof(sx_str_t));
    size_t n = 0;
    for (size_t i = 0; i < o.n; i++)
        if (n == 0 || !sx_str_eq(names[n - 1], o.v[i].name))
            names[n++] = o.v[i].name;
    put_jaeger_strs(req, names, n);
}

/* GET /api/operations?service=&spanKind=: {"data":[{"name","spanKind"}]}. */
static void on_jaeger_operations(sx_req_t *req, void *arg)
{
    const char *svc = sx_req_param(req, "service");
    if (!svc || !*svc) {
        jaeger_reply(req, 400, "parameter 'service' is required");
        return;
    }
    int want = kind_from_name(sx_req_param(req, "spanKind"));
    if (want == -2) {
        jaeger_reply(req, 400, "unsupported spanKind");
        return;
    }
    ops_scan_t o;
    ops_collect(arg, req, svc, want, &o);
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"data\":[");
    for (size_t i = 0; i < o.n; i++) {
        sx_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        sx_buf_json_str(b, o.v[i].name.ptr, o.v[i].name.len);
        int k = o.v[i].kind;
        sx_buf_printf(b, ",\"spanKind\":\"%s\"}", k > 0 && k <= 5 ? jaeger_kinds[k] : "");
    }
    sx_buf_printf(b, "],\"total\":%zu,\"limit\":0,\"offset\":0,\"errors\":null}", o.n);
    sx_resp_set(req, 200, "application/json");
}

/* ---- Search (Tempo /api/search, tag lists, Jaeger /api/traces) ----
 *
 * A search is a TraceQL query (src/query/traceql): Tempo's q=, or the
 * lone spanset filter that Tempo's tags= and Jaeger's parameters build.
 * Each stream is read newest first and every span is tested against the
 * query's prefilter: intrinsics come from the entry metadata, an attribute
 * is absent unless `"key":<k>` occurs in the line (so most lines are never
 * parsed), and trace-level fields are unknown; stored records are rendered
 * as lines (spans_read) only when some test needs more than the metadata.
 * A stream stops once it has given `per_stream` distinct traces (older
 * matches cannot rank among the newest ones), or, when the scan's
 * candidates are the answer, once it reaches times older than the
 * `want`-th newest candidate so far (a stream with few or no matches is
 * not read to its start). The candidates are then looked up whole for their root
 * span and extent; trace-level filters (minDuration/maxDuration) apply to
 * those, and unless the prefilter is the exact answer (a lone filter on
 * span fields) the whole query is evaluated on the trace's spans, linked by
 * parentSpanId, its selected spans becoming the spanset. Candidates may
 * then fail, so no stream stops early in that case. */

#define SEARCH_MAX_CANDS 2000
#define SEARCH_MAX_ENTRIES 5000000
#define SEARCH_SPSS 3
/* Traces up to this many spans keep every parsed line while evaluated;
 * larger ones parse a line again when another span was read meanwhile. */
#define EVAL_KEEP_DOCS 4096
#define TAGS_LOOKBACK_NS (3600 * 1000000000LL)
#define TAGS_MAX_ENTRIES 20000
#define TAGS_MAX 1000

typedef struct hit {
    sx_str_t span_id, attrs, name;
    int64_t ts, dur;
} hit_t;

typedef struct cand {
    char tid[33];
    int64_t newest;
    uint32_t matched, last_stream;
    hit_t hits[SEARCH_SPSS];
    /* Filled by the lookup. */
    int64_t start, end;
    const char *root_service, *root_name;
} cand_t;

/* One span as the TraceQL evaluator reads it (see view_get). */
typedef struct span_view {
    const sx_span_batch_t *rec; /* a decoded span record (then line and blk are unused) */
    sx_str_t line;             /* OTLP JSON; empty when the scan reads metadata only */
    const sx_log_block_t *blk; /* while scanning: the entry's block, for its metadata */
    size_t i;                  /* the entry in blk */
    json_t *doc;               /* the line, parsed on first need (NULL if unparsable) */
    bool parsed;
} span_view_t;

/* An attribute field and the text `"key":<k>` that a line holding it has. */
typedef struct key_needle {
    const sx_tql_field_t *f;
    sx_str_t needle;
} key_needle_t;

typedef struct view_set {
    sx_arena_t *a;      /* the request's: needles */
    span_view_t *v;
    size_t n;
    const cand_t *trace; /* whole-trace facts; NULL while scanning */
    bool keep_docs;      /* keep every parsed line, or only the last one */
    size_t held;         /* without keep_docs: the span whose line is parsed */
    size_t last;         /* the span get last read */
    sx_arena_t scratch;  /* array values of the last span read */
    key_needle_t *needles;
    size_t nneedles, capneedles;
} view_set_t;

typedef struct search {
    sx_arena_t *a;
    const sx_tql_query_t *q; /* NULL matches every span */
    bool whole;              /* the query is evaluated on whole traces */
    span_view_t cur;         /* the entry being scanned */
    sx_arena_t rec_arena;    /* cur's decoded record (reset per entry) */
    sx_span_batch_t rec;
    view_set_t vs;           /* over cur */
    sx_tql_spans_t spans;    /* vs as the evaluator reads it */
    cand_t *v;
    size_t n, cap;
    size_t per_stream, stream_n;
    size_t want;             /* the answer's size when candidates are final; 0: unknown */
    uint32_t stream;
    uint64_t entries, bytes;
    bool full;
    /* Strings a stored record must hold to pass the prefilter: records
     * keep string values verbatim, so one without them is not decoded. */
    sx_str_t needles[8];
    size_t nneedles;
} search_t;

/* The text of a scalar AnyValue (int as sent, bool true/false), or NULL. */
static const char *av_text(json_t *av, char *buf, size_t n)
{
    json_t *x;
    if ((x = json_object_get(av, "stringValue")))
        return json_string_value(x);
    if ((x = json_object_get(av, "intValue"))) {
        snprintf(buf, n, "%lld", jint(av, "intValue"));
        return buf;
    }
    if ((x = json_object_get(av, "boolValue")))
        return json_is_true(x) ? "true" : "false";
    if ((x = json_object_get(av, "doubleValue"))) {
        if (json_is_string(x))
            return json_string_value(x);
        snprintf(buf, n, "%.17g", json_number_value(x));
        return buf;
    }
    return NULL;
}

static json_t *attr_find(json_t *attrs, const char *k)
{
    json_t *kv;
    size_t i;
    json_array_foreach(attrs, i, kv) if (strcmp(jstr(kv, "key"), k) == 0) return kv;
    return NULL;
}

/* The KeyValue of attribute field f in a parsed line: the span's own
 * attributes first, then the resource's, as the field's scope allows. */
static json_t *field_kv(json_t *doc, const sx_tql_field_t *f)
{
    json_t *kv = NULL;
    if (f->scope != SX_TQL_SCOPE_RESOURCE)
        kv = attr_find(json_object_get(doc, "attributes"), f->key.ptr);
    if (!kv && f->scope != SX_TQL_SCOPE_SPAN)
        kv = attr_find(json_object_get(json_object_get(doc, "resource"), "attributes"), f->key.ptr);
    return kv;
}

static long long meta_int(const sx_log_block_t *blk, size_t i, const char *name)
{
    sx_str_t v = meta_get(blk, i, name);
    long long r = 0;
    for (size_t k = 0; k < v.len && v.ptr[k] >= '0' && v.ptr[k] <= '9'; k++)
        r = r * 10 + (v.ptr[k] - '0');
    return r;
}

/* ---- Spans as the TraceQL evaluator reads them ----
 *
 * A view set is either the one entry being scanned (metadata at hand,
 * trace unknown) or every span of a candidate trace found whole (lines
 * only, trace facts known). Lines are parsed only when a field needs it. */

static void views_init(view_set_t *vs, sx_arena_t *a, span_view_t *v, size_t n, const cand_t *trace)
{
    *vs = (view_set_t){.a = a, .v = v, .n = n, .trace = trace, .keep_docs = n <= EVAL_KEEP_DOCS,
                       .held = SIZE_MAX, .last = SIZE_MAX};
    sx_arena_init(&vs->scratch);
}

/* Drop every parsed line; the views can be reused for other lines. */
static void views_release(view_set_t *vs)
{
    for (size_t i = 0; i < vs->n; i++) {
        json_decref(vs->v[i].doc);
        vs->v[i].doc = NULL;
        vs->v[i].parsed = false;
    }
    vs->held = vs->last = SIZE_MAX;
}

static void views_dispose(view_set_t *vs)
{
    views_release(vs);
    sx_arena_dispose(&vs->scratch);
}

static json_t *view_doc(view_set_t *vs, size_t i)
{
    span_view_t *v = &vs->v[i];
    if (v->parsed)
        return v->doc;
    if (!vs->keep_docs && vs->held != SIZE_MAX) {
        span_view_t *h = &vs->v[vs->held];
        json_decref(h->doc);
        h->doc = NULL;
        h->parsed = false;
    }
    v->doc = json_loadb(v->line.ptr, v->line.len, 0, NULL);
    v->parsed = true;
    vs->held = i;
    return v->doc;
}

/* `"key":<k>` as span_line writes it (put_attrs), once per field. */
static sx_str_t key_needle(view_set_t *vs, const sx_tql_field_t *f)
{
    for (size_t k = 0; k < vs->nneedles; k++)
        if (vs->needles[k].f == f)
            return vs->needles[k].needle;
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_puts(&b, "\"key\":");
    sx_buf_json_str(&b, f->key.ptr, f->key.len);
    sx_str_t s = sx_arena_strdup_str(vs->a, (sx_str_t){b.ptr, b.len});
    sx_buf_dispose(&b);
    if (s.ptr && (vs->needles = grow(vs->a, vs->needles, &vs->capneedles, vs->nneedles,
                                     sizeof(*vs->needles))))
        vs->needles[vs->nneedles++] = (key_needle_t){f, s};
    return s;
}

/* An OTLP JSON AnyValue as a TraceQL value; arrays of scalars become
 * arrays (in the scratch arena), key-value lists and bytes are nil. */
static void any_value(sx_arena_t *scratch, json_t *av, sx_tql_value_t *out, bool element)
{
    json_t *x;
    *out = (sx_tql_value_t){.type = SX_TQL_T_NIL};
    if ((x = json_object_get(av, "stringValue")) && json_is_string(x)) {
        *out = (sx_tql_value_t){.type = SX_TQL_T_STRING,
                                .s = {json_string_value(x), json_string_length(x)}};
    } else if (json_object_get(av, "intValue")) {
        *out = (sx_tql_value_t){.type = SX_TQL_T_INT, .i = jint(av, "intValue")};
    } else if ((x = json_object_get(av, "doubleValue"))) {
        double d = json_is_string(x) ? strtod(json_string_value(x), NULL) : json_number_value(x);
        *out = (sx_tql_value_t){.type = SX_TQL_T_FLOAT, .f = d};
    } else if ((x = json_object_get(av, "boolValue"))) {
        *out = (sx_tql_value_t){.type = SX_TQL_T_BOOL, .b = json_is_true(x)};
    } else if (!element && (x = json_object_get(json_object_get(av, "arrayValue"), "values"))) {
        size_t n = json_array_size(x), k = 0, i;
        sx_tql_value_t *v = sx_arena_alloc(scratch, (n + 1) * sizeof(*v));
        json_t *e;
        if (!v)
            return;
        json_array_foreach(x, i, e)
        {
            any_value(scratch, e, &v[k], true);
            k += v[k].type != SX_TQL_T_NIL;
        }
        *out = (sx_tql_value_t){.type = SX_TQL_T_ARRAY, .arr = {v, k}};
    }
}

static sx_tql_value_t str_value(const char *s)
{
    return (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = sx_str(s)};
}

/* A span field from the entry metadata while scanning; false when the
 * metadata does not carry it. */
static bool meta_field(const sx_log_block_t *blk, size_t i, int kind, sx_tql_value_t *out)
{
    sx_str_t s;
    switch (kind) {
    case SX_TQL_F_NAME:
        s = meta_get(blk, i, "name"); /* left out when empty */
        *out = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = s.ptr ? s : sx_str("")};
        return true;
    case SX_TQL_F_STATUS:
        *out = (sx_tql_value_t){.type = SX_TQL_T_STATUS, .i = meta_int(blk, i, "status_code")};
        return true;
    case SX_TQL_F_KIND:
        *out = (sx_tql_value_t){.type = SX_TQL_T_KIND, .i = meta_int(blk, i, "kind")};
        return true;
    case SX_TQL_F_DURATION:
        *out = (sx_tql_value_t){.type = SX_TQL_T_DURATION, .i = meta_int(blk, i, "duration_ns")};
        return true;
    case SX_TQL_F_SPAN_ID:
    case SX_TQL_F_TRACE_ID:
        s = meta_get(blk, i, kind == SX_TQL_F_SPAN_ID ? "span_id" : "trace_id");
        *out = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = s.ptr ? s : sx_str("")};
        return true;
    default: return false;
    }
}

/* A span field from the parsed line. */
static void doc_field(json_t *d, int kind, sx_tql_value_t *out)
{
    json_t *st = json_object_get(d, "status");
    const char *p;
    if (!d)
        return;
    switch (kind) {
    case SX_TQL_F_NAME: *out = str_value(jstr(d, "name")); break;
    case SX_TQL_F_STATUS:
        *out = (sx_tql_value_t){.type = SX_TQL_T_STATUS, .i = jint(st, "code")};
        break;
    case SX_TQL_F_STATUS_MESSAGE: *out = str_value(jstr(st, "message")); break;
    case SX_TQL_F_KIND: *out = (sx_tql_value_t){.type = SX_TQL_T_KIND, .i = jint(d, "kind")}; break;
    case SX_TQL_F_DURATION: {
        unsigned long long s = jns(d, "startTimeUnixNano"), e = jns(d, "endTimeUnixNano");
        *out = (sx_tql_value_t){.type = SX_TQL_T_DURATION, .i = e > s ? (int64_t)(e - s) : 0};
        break;
    }
    case SX_TQL_F_SPAN_ID: *out = str_value(jstr(d, "spanId")); break;
    case SX_TQL_F_TRACE_ID: *out = str_value(jstr(d, "traceId")); break;
    case SX_TQL_F_PARENT_ID:
        if (*(p = jstr(d, "parentSpanId")))
            *out = str_value(p);
        break;
    }
}

/* trace:rootName, trace:rootService, trace:duration of a candidate. */
static void trace_field(const cand_t *c, int kind, sx_tql_value_t *out)
{
    if (!c)
        *out = (sx_tql_value_t){.type = SX_TQL_T_UNKNOWN};
    else if (kind == SX_TQL_F_TRACE_DURATION)
        *out = (sx_tql_value_t){.type = SX_TQL_T_DURATION, .i = c->end - c->start};
    else if ((kind == SX_TQL_F_ROOT_NAME ? c->root_name : c->root_service))
        *out = str_value(kind == SX_TQL_F_ROOT_NAME ? c->root_name : c->root_service);
}

/* ---- Fields of a span record ---- */

/* Attribute field f of a decoded record: the span's own attributes first,
 * then the resource's, as the field's scope allows. */
static const sx_attr_t *rec_attr(const sx_span_batch_t *b, const sx_tql_field_t *f)
{
    const sx_span_t *sp = &b->spans[0];
    const sx_span_resource_t *rs = &b->resources[0];
    if (f->scope != SX_TQL_SCOPE_RESOURCE)
        for (uint32_t i = 0; i < sp->nattrs; i++)
            if (sx_str_eq(sp->attrs[i].key, f->key))
                return &sp->attrs[i];
    if (f->scope != SX_TQL_SCOPE_SPAN)
        for (uint32_t i = 0; i < rs->nattrs; i++)
            if (sx_str_eq(rs->attrs[i].key, f->key))
                return &rs->attrs[i];
    return NULL;
}

/* A record's attribute value as the evaluator reads it (as any_value reads
 * the same value in JSON). An array is kept as its OTLP JSON text, which
 * is parsed here and held by the view until it is released. */
static void rec_value(view_set_t *vs, span_view_t *v, const sx_anyval_t *av, sx_tql_value_t *out)
{
    switch (av->type) {
    case SX_AV_STRING: *out = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = av->s}; break;
    case SX_AV_INT: *out = (sx_tql_value_t){.type = SX_TQL_T_INT, .i = av->i}; break;
    case SX_AV_DOUBLE: *out = (sx_tql_value_t){.type = SX_TQL_T_FLOAT, .f = av->d}; break;
    case SX_AV_BOOL: *out = (sx_tql_value_t){.type = SX_TQL_T_BOOL, .b = av->b}; break;
    case SX_AV_ARRAY: {
        json_t *arr = json_loadb(av->s.ptr, av->s.len, 0, NULL), *w = json_object();
        json_object_set_new(w, "arrayValue", arr ? arr : json_object());
        json_decref(v->doc);
        v->doc = w;
        v->parsed = true;
        any_value(&vs->scratch, w, out, false);
        break;
    }
    default: break;
    }
}

static sx_tql_value_t hex_value(sx_arena_t *a, const uint8_t *id, size_t n)
{
    char hex[33];
    sx_span_id_hex(id, n, hex);
    char *s = sx_arena_strndup(a, hex, 2 * n);
    return (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = {s ? s : "", s ? 2 * n : 0}};
}

/* Field f (not trace-level) of the record behind view v. */
static void rec_field(view_set_t *vs, span_view_t *v, const sx_tql_field_t *f, sx_tql_value_t *out)
{
    const sx_span_t *sp = &v->rec->spans[0];
    const sx_attr_t *a;
    switch (f->kind) {
    case SX_TQL_F_ATTR:
        if ((a = rec_attr(v->rec, f)))
            rec_value(vs, v, &a->value, out);
        break;
    case SX_TQL_F_NAME: *out = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = sp->name}; break;
    case SX_TQL_F_STATUS: *out = (sx_tql_value_t){.type = SX_TQL_T_STATUS, .i = sp->status_code}; break;
    case SX_TQL_F_STATUS_MESSAGE:
        *out = (sx_tql_value_t){.type = SX_TQL_T_STRING, .s = sp->status_message};
        break;
    case SX_TQL_F_KIND: *out = (sx_tql_value_t){.type = SX_TQL_T_KIND, .i = sp->kind}; break;
    case SX_TQL_F_DURATION:
        *out = (sx_tql_value_t){.type = SX_TQL_T_DURATION,
                                .i = sp->end_ns > sp->start_ns ? (int64_t)(sp->end_ns - sp->start_ns)
                                                               : 0};
        break;
    case SX_TQL_F_SPAN_ID: *out = hex_value(&vs->scratch, sp->span_id, 8); break;
    case SX_TQL_F_TRACE_ID: *out = hex_value(&vs->scratch, sp->trace_id, 16); break;
    case SX_TQL_F_PARENT_ID:
        if (sp->has_parent)
            *out = hex_value(&vs->scratch, sp->parent_span_id, 8);
        break;
    default: break;
    }
}

/* sx_tql_spans_t.get over a view set. An attribute is absent without
 * parsing when its key text is not in the line. */
static void view_get(void *ctx, size_t i, const sx_tql_field_t *f, sx_tql_value_t *out)
{
    view_set_t *vs = ctx;
    span_view_t *v = &vs->v[i];
    if (vs->last != i) {
        sx_arena_reset(&vs->scratch);
        vs->last = i;
    }
    *out = (sx_tql_value_t){.type = SX_TQL_T_NIL};
    if (f->kind >= SX_TQL_F_ROOT_NAME) {
        trace_field(vs->trace, f->kind, out);
    } else if (v->rec) {
        rec_field(vs, v, f, out);
    } else if (f->kind == SX_TQL_F_ATTR) {
        sx_str_t nd = key_needle(vs, f);
        json_t *kv;
        if (nd.ptr && !sx_memmem(v->line.ptr, v->line.len, nd.ptr, nd.len))
            return;
        if ((kv = field_kv(view_doc(vs, i), f)))
            any_value(&vs->scratch, json_object_get(kv, "value"), out, false);
    } else if (!v->blk || !meta_field(v->blk, v->i, f->kind, out)) {
        doc_field(view_doc(vs, i), f->kind, out);
    }
}

/* view_report for a record. */
static sx_str_t rec_report(view_set_t *vs, const sx_span_batch_t *rec,
                           const sx_tql_field_t *const *f, size_t nf)
{
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_putc(&b, '[');
    for (size_t k = 0; k < nf; k++) {
        const sx_attr_t *a = rec_attr(rec, f[k]);
        if (!a)
            continue;
        if (b.len > 1)
            sx_buf_putc(&b, ',');
        sx_span_json_kv(&b, a);
    }
    sx_buf_putc(&b, ']');
    sx_str_t r = sx_arena_strdup_str(vs->a, (sx_str_t){b.ptr, b.len});
    sx_buf_dispose(&b);
    return r;
}

/* The attributes worth showing with span i (those the query reads or
 * selects) as a JSON array text in the arena; empty when there are none. */
static sx_str_t view_report(view_set_t *vs, size_t i, const sx_tql_query_t *q)
{
    const sx_tql_field_t *const *f;
    size_t nf = q ? sx_tql_query_report(q, &f) : 0;
    if (nf && vs->v[i].rec)
        return rec_report(vs, vs->v[i].rec, f, nf);
    json_t *d = nf ? view_doc(vs, i) : NULL, *kv;
    if (!d)
        return SX_STR_NULL;
    sx_buf_t b = SX_BUF_INIT;
    sx_buf_putc(&b, '[');
    for (size_t k = 0; k < nf; k++) {
        char *s = (kv = field_kv(d, f[k])) ? json_dumps(kv, JSON_COMPACT) : NULL;
        if (s) {
            if (b.len > 1)
                sx_buf_putc(&b, ',');
            sx_buf_puts(&b, s);
            free(s);
        }
    }
    sx_buf_putc(&b, ']');
    sx_str_t r = sx_arena_strdup_str(vs->a, (sx_str_t){b.ptr, b.len});
    sx_buf_dispose(&b);
    return r;
}

/* ---- Scanning ---- */

static void search_init(search_t *S, sx_arena_t *a, const sx_tql_query_t *q, size_t per_stream)
{
    *S = (search_t){.a = a, .q = q, .whole = q && !sx_tql_query_exact(q), .per_stream = per_stream};
    views_init(&S->vs, a, &S->cur, 1, NULL);
    S->spans = (sx_tql_spans_t){view_get, &S->vs};
    sx_arena_init(&S->rec_arena);
    S->nneedles = sx_tql_prefilter_strings(q, S->needles, 8);
}

static bool rec_has_needles(const search_t *S, sx_str_t line)
{
    for (size_t k = 0; k < S->nneedles; k++)
        if (!sx_memmem(line.ptr, line.len, S->needles[k].ptr, S->needles[k].len))
            return false;
    return true;
}

static void search_dispose(search_t *S)
{
    views_dispose(&S->vs);
    sx_arena_dispose(&S->rec_arena);
}

/* Record span j of blk (trace tid) as a hit of its candidate trace.
 * Returns 1 when the scan of this stream (or of all) should stop. */
static int add_hit(search_t *S, const sx_log_block_t *blk, size_t j, sx_str_t tid)
{
    size_t k;
    for (k = 0; k < S->n; k++)
        if (memcmp(S->v[k].tid, tid.ptr, 32) == 0)
            break;
    if (k == S->n || S->v[k].last_stream != S->stream) {
        if (S->stream_n >= S->per_stream)
            return 1;
        S->stream_n++;
    }
    if (k == S->n) {
        if (S->n >= SEARCH_MAX_CANDS) {
            S->full = true;
            return 1;
        }
        if (!(S->v = grow(S->a, S->v, &S->cap, S->n, sizeof(*S->v))))
            return 1;
        cand_t *c = &S->v[S->n++];
        memset(c, 0, sizeof(*c));
        memcpy(c->tid, tid.ptr, 32);
        c->newest = blk->ts[j];
    }
    cand_t *c = &S->v[k];
    c->last_stream = S->stream;
    if (blk->ts[j] > c->newest)
        c->newest = blk->ts[j];
    /* Whole-trace evaluation replaces the hits, so only exact ones are kept. */
    if (c->matched < SEARCH_SPSS && !S->whole) {
        const sx_span_t *sp = S->cur.rec ? &S->cur.rec->spans[0] : NULL;
        c->hits[c->matched] = sp ? (hit_t){arena_hex(S->a, sp->span_id, 8),
                                           view_report(&S->vs, 0, S->q),
                                           sx_arena_strdup_str(S->a, sp->name), blk->ts[j],
                                           sp->end_ns > sp->start_ns
                                               ? (int64_t)(sp->end_ns - sp->start_ns) : 0}
                                 : (hit_t){sx_arena_strdup_str(S->a, meta_get(blk, j, "span_id")),
                                           view_report(&S->vs, 0, S->q),
                                           sx_arena_strdup_str(S->a, meta_get(blk, j, "name")),
                                           blk->ts[j], (int64_t)meta_int(blk, j, "duration_ns")};
    }
    c->matched++;
    return 0;
}

static int cmp_i64_desc(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a < b) - (a > b);
}

/* The newest time of the want-th newest candidate, or INT64_MIN while
 * there are fewer: entries older than it cannot change the answer. */
static int64_t search_cutoff(const search_t *S)
{
    if (!S->want || S->n < S->want)
        return INT64_MIN;
    int64_t *t = sx_xmalloc(S->n * sizeof(*t));
    for (size_t i = 0; i < S->n; i++)
        t[i] = S->v[i].newest;
    qsort(t, S->n, sizeof(*t), cmp_i64_desc);
    int64_t c = t[S->want - 1];
    free(t);
    return c;
}

static int on_search_block(void *arg, const sx_log_block_t *blk)
{
    search_t *S = arg;
    int64_t cutoff = search_cutoff(S);
    for (size_t j = blk->n; j-- > 0;) {
        if (blk->ts[j] < cutoff)
            return 1;
        if (++S->entries > SEARCH_MAX_ENTRIES) {
            S->full = true;
            return 1;
        }
        sx_str_t line = blk->lines ? blk->lines[j] : SX_STR_NULL, tid;
        S->bytes += line.len;
        if (is_rec(line)) {
            if (!rec_has_needles(S, line))
                continue;
            /* Records are read in place: decoded, never rendered. */
            sx_arena_reset(&S->rec_arena);
            sx_span_batch_init(&S->rec, &S->rec_arena);
            if (sx_spanrec_decode(line.ptr, line.len, blk->ts[j], &S->rec))
                continue;
            tid = (sx_str_t){line.ptr + 2, 32};
            S->cur = (span_view_t){.rec = &S->rec};
        } else {
            if ((tid = meta_get(blk, j, "trace_id")).len != 32)
                continue;
            S->cur = (span_view_t){.line = line, .blk = blk, .i = j};
        }
        bool hit = !S->q || sx_tql_span_prefilter(S->q, &S->spans, 0);
        int stop = hit ? add_hit(S, blk, j, tid) : 0;
        views_release(&S->vs);
        if (stop)
            return 1;
    }
    return 0;
}

static int cmp_cand_newest(const void *x, const void *y)
{
    const cand_t *a = x, *b = y;
    return a->newest != b->newest ? (a->newest < b->newest ? 1 : -1) : strcmp(a->tid, b->tid);
}

static int cmp_cand_start(const void *x, const void *y)
{
    const cand_t *a = x, *b = y;
    return a->start != b->start ? (a->start < b->start ? 1 : -1) : strcmp(a->tid, b->tid);
}

static void search_window(sx_logstore_t *ls, sx_req_t *req, search_t *S, const char *svc,
                          int64_t lo, int64_t hi)
{
    sx_matcher_t m = {SX_STR_LIT("service_name"), sx_str(svc ? svc : ""), SX_MATCH_EQ, NULL};
    sx_log_stream_t *st = NULL;
    size_t nst = 0;
    sx_logstore_select(ls, svc ? &m : NULL, svc ? 1 : 0, lo, hi, &req->arena, &st, &nst);
    for (size_t s = 0; s < nst && !S->full; s++) {
        S->stream = (uint32_t)s + 1;
        S->stream_n = 0;
        sx_log_hint_t hint = {.values = S->needles, .nvalues = S->nneedles};
        sx_logstore_read(ls, st[s].id, lo, hi, SX_LOGREAD_LINES | SX_LOGREAD_META | SX_LOGREAD_BACKWARD,
                         S->nneedles ? &hint : NULL, on_search_block, S, NULL);
    }
}

/* Scan the store for spans matching the conditions in [mint, maxt];
 * streams restricted to service_name = svc when svc is not NULL.
 * Candidates are sorted newest first. When the candidates are the answer
 * (S->want), the range is scanned in windows going back from its end,
 * each twice as long as the one before, until the answer is complete:
 * the newest matches are found without reading every stream to the start
 * of the range. */
static void search_run(sx_api_ctx_t *ctx, sx_req_t *req, search_t *S, const char *svc,
                       int64_t mint, int64_t maxt)
{
    sx_logstore_t *ls = sx_storage_logs_peek(ctx->storage, req->tenant, SX_TRACES);
    if (!ls)
        return;
    if (!S->want) {
        search_window(ls, req, S, svc, mint, maxt);
    } else {
        /* The first window ends at the newest span in range. */
        int64_t hi = INT64_MIN, width = 1000000000LL; /* 1 s, doubling: 12 windows an hour */
        sx_matcher_t m = {SX_STR_LIT("service_name"), sx_str(svc ? svc : ""), SX_MATCH_EQ, NULL};
        sx_log_stream_t *st = NULL;
        size_t nst = 0;
        sx_logstore_select(ls, svc ? &m : NULL, svc ? 1 : 0, mint, maxt, &req->arena, &st, &nst);
        for (size_t s = 0; s < nst; s++)
            if (st[s].maxt > hi)
                hi = st[s].maxt;
        if (hi > maxt)
            hi = maxt;
        while (!S->full && hi >= mint) {
            int64_t lo;
            if (__builtin_sub_overflow(hi, width - 1, &lo) || lo < mint)
                lo = mint;
            search_window(ls, req, S, svc, lo, hi);
            if (lo == mint || search_cutoff(S) >= lo)
                break;
            hi = lo - 1;
            width = width < INT64_MAX / 4 ? width * 2 : width;
        }
    }
    if (S->n > 1)
        qsort(S->v, S->n, sizeof(*S->v), cmp_cand_newest);
}

/* The start, end and root span of a trace, read from its stored records
 * without rendering them: what a search needs of a candidate when only
 * trace-level facts (minDuration, maxDuration, the root) decide. */
typedef struct extent_scan {
    sx_str_t id;            /* 32 lower-case hex digits */
    sx_arena_t scratch;     /* the record being read, reset span by span */
    int64_t start, end;
    int64_t root_ts;        /* the earliest span without a parent so far */
    char root_span[17];
    sx_arena_t *a;          /* the request's: the root's names */
    const char *root_service, *root_name;
    size_t n;
    bool legacy;            /* a line in the older JSON form: not handled here */
} extent_scan_t;

static int on_extent_block(void *arg, const sx_log_block_t *blk)
{
    extent_scan_t *x = arg;
    for (size_t i = 0; i < blk->n; i++) {
        sx_str_t line = blk->lines[i];
        if (!is_rec(line)) {
            if (line.len && sx_str_eq(meta_get(blk, i, "trace_id"), x->id))
                x->legacy = true;
            continue;
        }
        if (memcmp(line.ptr + 2, x->id.ptr, 32) != 0)
            continue;
        if (++x->n > MAX_TRACE_SPANS)
            return SX_ETOOLARGE;
        sx_arena_reset(&x->scratch);
        sx_span_batch_t sb;
        sx_span_batch_init(&sb, &x->scratch);
        if (sx_spanrec_decode(line.ptr, line.len, blk->ts[i], &sb))
            continue;
        const sx_span_t *sp = &sb.spans[0];
        int64_t end = sp->end_ns > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)sp->end_ns;
        if (blk->ts[i] < x->start)
            x->start = blk->ts[i];
        if (end > x->end)
            x->end = end;
        if (sp->has_parent)
            continue;
        /* The root is the first parentless span by (start, span id), as
         * trace_find sorts a trace. */
        char sid[17];
        sx_span_id_hex(sp->span_id, 8, sid);
        if (x->root_name && (blk->ts[i] > x->root_ts ||
                             (blk->ts[i] == x->root_ts && strcmp(sid, x->root_span) >= 0)))
            continue;
        x->root_ts = blk->ts[i];
        memcpy(x->root_span, sid, sizeof(sid));
        sx_str_t svc = sb.resources[0].service_name;
        if (!svc.len)
            svc = (sx_str_t)SX_STR_LIT("unknown_service"); /* as resource_service says */
        x->root_name = sx_arena_strndup(x->a, sp->name.ptr, sp->name.len);
        x->root_service = sx_arena_strndup(x->a, svc.ptr, svc.len);
    }
    return 0;
}

/* cand_summary for candidate c straight from its records. Returns 0,
 * SX_ETOOLARGE, or 1 when the trace has lines in the older form (the
 * caller then looks it up whole). */
static int cand_extent(sx_api_ctx_t *ctx, sx_req_t *req, cand_t *c)
{
    extent_scan_t x = {.id = {c->tid, 32}, .start = INT64_MAX, .end = INT64_MIN, .a = &req->arena};
    sx_logstore_t *ls = sx_storage_logs_peek(ctx->storage, req->tenant, SX_TRACES);
    c->root_service = c->root_name = NULL;
    if (ls) {
        sx_arena_init(&x.scratch);
        sx_log_stream_t *st = NULL;
        size_t nst = 0;
        sx_logstore_select(ls, NULL, 0, INT64_MIN, INT64_MAX, &req->arena, &st, &nst);
        sx_log_hint_t hint = {&x.id, 1, x.id};
        int rc = 0;
        for (size_t s = 0; s < nst && !rc && !x.legacy; s++)
            rc = sx_logstore_read(ls, st[s].id, INT64_MIN, INT64_MAX,
                                  SX_LOGREAD_LINES | SX_LOGREAD_META, &hint, on_extent_block, &x,
                                  NULL);
        sx_arena_dispose(&x.scratch);
        if (rc == SX_ETOOLARGE)
            return rc;
        if (x.legacy)
            return 1;
    }
    c->start = x.start == INT64_MAX ? c->newest : x.start;
    c->end = x.end < c->start ? c->start : x.end;
    c->root_service = x.root_service;
    c->root_name = x.root_name;
    return 0;
}

/* Root span, start and end of a candidate from its spans (found whole). */
static void cand_summary(sx_arena_t *a, cand_t *c, const found_span_t *v, size_t n)
{
    static const char END[] = "\"endTimeUnixNano\":\"", PAR[] = ",\"parentSpanId\":\"";
    c->start = INT64_MAX;
    c->end = INT64_MIN;
    c->root_service = c->root_name = NULL;
    for (size_t i = 0; i < n; i++) {
        span_parts_t sp;
        if (span_split(v[i].line, &sp))
            continue;
        const char *se = sp.span.ptr + sp.span.len;
        const char *e = find(sp.span.ptr, se, END);
        int64_t end = e ? strtoll(e + sizeof(END) - 1, NULL, 10) : v[i].ts;
        if (v[i].ts < c->start)
            c->start = v[i].ts;
        if (end > c->end)
            c->end = end;
        if (!c->root_name && !find(sp.span.ptr, se, PAR)) {
            json_t *d = json_loadb(v[i].line.ptr, v[i].line.len, 0, NULL);
            if (d) {
                const char *name = jstr(d, "name");
                const char *rs = resource_service(json_object_get(d, "resource"));
                c->root_name = sx_arena_strndup(a, name, strlen(name));
                c->root_service = sx_arena_strndup(a, rs, strlen(rs));
                json_decref(d);
            }
        }
    }
    if (c->start == INT64_MAX)
        c->start = c->newest;
    if (c->end < c->start)
        c->end = c->start;
}

typedef struct id_index {
    sx_str_t id;
    int32_t i;
} id_index_t;

static int cmp_id_index(const void *x, const void *y)
{
    return sx_str_cmp(((const id_index_t *)x)->id, ((const id_index_t *)y)->id);
}

/* parent[i]: the index of span i's parent among v[0..n), or -1 when it has
 * none or the parent is not in the trace. */
static void trace_parents(const found_span_t *v, size_t n, int32_t *parent)
{
    static const char PAR[] = ",\"parentSpanId\":\"";
    id_index_t *ix = sx_xmalloc((n + 1) * sizeof(*ix));
    for (size_t i = 0; i < n; i++)
        ix[i] = (id_index_t){v[i].span_id, (int32_t)i};
    qsort(ix, n, sizeof(*ix), cmp_id_index);
    for (size_t i = 0; i < n; i++) {
        span_parts_t sp;
        const char *p, *e;
        parent[i] = -1;
        if (span_split(v[i].line, &sp) || !(p = find(sp.span.ptr, sp.span.ptr + sp.span.len, PAR)))
            continue;
        p += sizeof(PAR) - 1;
        if (!(e = memchr(p, '"', (size_t)(sp.span.ptr + sp.span.len - p))))
            continue;
        id_index_t key = {{p, (size_t)(e - p)}, 0}, *hit;
        if (key.id.len && (hit = bsearch(&key, ix, n, sizeof(*ix), cmp_id_index)) &&
            (size_t)hit->i != i)
            parent[i] = hit->i;
    }
    free(ix);
}

/* Evaluate the whole query on candidate c, whose spans v[0..n) were found
 * whole (sorted by start): c's hits become the first selected spans and
 * matched their count. Returns whether the trace matches. */
static bool cand_eval(search_t *S, cand_t *c, const found_span_t *v, size_t n)
{
    span_view_t *sv = sx_xcalloc(n + 1, sizeof(*sv));
    int32_t *parent = sx_xmalloc((n + 1) * sizeof(*parent));
    uint8_t *match = sx_xmalloc(n + 1);
    view_set_t vs;
    views_init(&vs, S->a, sv, n, c);
    for (size_t i = 0; i < n; i++)
        sv[i] = (span_view_t){.line = v[i].line};
    trace_parents(v, n, parent);
    sx_tql_spans_t spans = {view_get, &vs};
    c->matched = (uint32_t)sx_tql_trace_eval(S->q, &spans, n, parent, match);
    for (size_t i = 0, k = 0; i < n && k < SEARCH_SPSS; i++) {
        if (!match[i])
            continue;
        sx_tql_value_t name = {0}, dur = {0};
        doc_field(view_doc(&vs, i), SX_TQL_F_NAME, &name);
        doc_field(view_doc(&vs, i), SX_TQL_F_DURATION, &dur);
        c->hits[k++] = (hit_t){v[i].span_id, view_report(&vs, i, S->q),
                               name.type == SX_TQL_T_STRING ? sx_arena_strdup_str(S->a, name.s)
                                                            : SX_STR_NULL,
                               v[i].ts, dur.type == SX_TQL_T_DURATION ? dur.i : 0};
    }
    views_dispose(&vs);
    free(sv);
    free(parent);
    free(match);
    return c->matched > 0;
}

static int parse_limit(const char *s, long dflt, long *out)
{
    *out = dflt;
    if (!s || !*s)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v <= 0)
        return -1;
    *out = v > 100000 ? 100000 : v;
    return 0;
}

static int parse_godur(const char *s, int64_t *ns)
{
    sx_err_t err;
    sx_err_clear(&err);
    return sx_lq_parse_duration(sx_str(s), ns, &err) || *ns < 0 ? -1 : 0;
}

static void put_trace_hex(sx_buf_t *b, const char *tid)
{
    size_t z = strspn(tid, "0");
    if (z >= 32)
        z = 31;
    sx_buf_putc(b, '"');
    sx_buf_append(b, tid + z, 32 - z);
    sx_buf_putc(b, '"');
}

/* GET /api/search */
static void on_tempo_search(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    int64_t mint, maxt, mind = -1, maxd = -1;
    long limit;
    const char *q = sx_req_param(req, "q"), *tags = sx_req_param(req, "tags");
    const char *smin = sx_req_param(req, "minDuration"), *smax = sx_req_param(req, "maxDuration");
    if (tempo_range(req, &mint, &maxt)) {
        sx_resp_text(req, 400, "invalid start or end: expected Unix seconds, start <= end");
        return;
    }
    if (parse_limit(sx_req_param(req, "limit"), 20, &limit)) {
        sx_resp_text(req, 400, "invalid limit: expected a positive integer");
        return;
    }
    if ((smin && *smin && parse_godur(smin, &mind)) || (smax && *smax && parse_godur(smax, &maxd))) {
        sx_resp_text(req, 400, "invalid minDuration or maxDuration: expected a duration like 100ms");
        return;
    }
    if (mind >= 0 && maxd >= 0 && maxd < mind) {
        sx_resp_text(req, 400, "invalid maxDuration: less than minDuration");
        return;
    }
    sx_tql_query_t *tq = NULL;
    sx_err_t err;
    sx_err_clear(&err);
    if (q && *q) {
        if (sx_tql_parse(&req->arena, q, &tq, &err)) {
            char *m = sx_arena_sprintf(&req->arena, "invalid TraceQL query: %s", err.msg);
            sx_resp_text(req, 400, m ? m : "invalid TraceQL query");
            return;
        }
    } else if (tags && *tags) {
        tq = sx_tql_query_new(&req->arena);
        if (sx_tql_tags_parse(&req->arena, tq, tags, &err)) {
            sx_resp_text(req, err.code == SX_ELIMIT ? 413 : 400, err.msg);
            return;
        }
    }
    bool trace_filter = mind >= 0 || maxd >= 0;
    search_t S;
    search_init(&S, &req->arena, tq, 0);
    S.per_stream = trace_filter || S.whole ? SEARCH_MAX_CANDS : (size_t)limit;
    S.want = trace_filter || S.whole ? 0 : (size_t)limit;
    /* Spans whose resource must name one service are all in its stream. */
    sx_str_t rsvc = sx_tql_prefilter_resource(tq, "service.name");
    const char *svc = rsvc.len && !memchr(rsvc.ptr, 0, rsvc.len)
                          ? sx_arena_strndup(&req->arena, rsvc.ptr, rsvc.len)
                          : NULL;
    search_run(ctx, req, &S, svc, mint, maxt);
    cand_t *keep = sx_arena_alloc(&req->arena, (S.n + 1) * sizeof(cand_t));
    size_t nk = 0;
    for (size_t i = 0; i < S.n && nk < (size_t)limit && keep; i++) {
        found_span_t *v = NULL;
        size_t n = 0;
        /* Trace-level facts come from the records alone unless the whole
         * query is evaluated on the trace's spans. */
        int rc = S.whole ? 1 : cand_extent(ctx, req, &S.v[i]);
        if (rc == SX_ETOOLARGE)
            continue;
        if (rc) {
            if (trace_find(ctx, req, S.v[i].tid, INT64_MIN, INT64_MAX, &v, &n))
                continue;
            cand_summary(&req->arena, &S.v[i], v, n);
        }
        int64_t d = S.v[i].end - S.v[i].start;
        if ((mind >= 0 && d < mind) || (maxd >= 0 && d > maxd))
            continue;
        if (S.whole && !cand_eval(&S, &S.v[i], v, n))
            continue;
        keep[nk++] = S.v[i];
    }
    search_dispose(&S);
    sx_tql_query_dispose(tq);
    if (nk > 1)
        qsort(keep, nk, sizeof(*keep), cmp_cand_start);
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"traces\":[");
    for (size_t i = 0; i < nk; i++) {
        cand_t *t = &keep[i];
        sx_buf_puts(b, i ? ",{\"traceID\":" : "{\"traceID\":");
        put_trace_hex(b, t->tid);
        sx_buf_puts(b, ",\"rootServiceName\":");
        const char *rs = t->root_service ? t->root_service : "<root span not yet received>";
        sx_buf_json_str(b, rs, strlen(rs));
        if (t->root_name) {
            sx_buf_puts(b, ",\"rootTraceName\":");
            sx_buf_json_str(b, t->root_name, strlen(t->root_name));
        }
        sx_buf_printf(b, ",\"startTimeUnixNano\":\"%lld\",\"durationMs\":%lld",
                      (long long)t->start, (long long)((t->end - t->start) / 1000000));
        sx_buf_t ss = SX_BUF_INIT;
        sx_buf_puts(&ss, "{\"spans\":[");
        for (uint32_t k = 0; k < t->matched && k < SEARCH_SPSS; k++) {
            const hit_t *h = &t->hits[k];
            sx_buf_puts(&ss, k ? ",{\"spanID\":" : "{\"spanID\":");
            sx_buf_json_str(&ss, h->span_id.ptr, h->span_id.len);
            if (h->name.len) {
                sx_buf_puts(&ss, ",\"name\":");
                sx_buf_json_str(&ss, h->name.ptr, h->name.len);
            }
            sx_buf_printf(&ss, ",\"startTimeUnixNano\":\"%lld\",\"durationNanos\":\"%lld\"",
                          (long long)h->ts, (long long)h->dur);
            if (h->attrs.len > 2) {
                sx_buf_puts(&ss, ",\"attributes\":");
                sx_buf_append_str(&ss, h->attrs);
            }
            sx_buf_putc(&ss, '}');
        }
        sx_buf_printf(&ss, "],\"matched\":%u}", t->matched);
        sx_buf_puts(b, ",\"spanSet\":");
        sx_buf_append(b, ss.ptr, ss.len);
        sx_buf_puts(b, ",\"spanSets\":[");
        sx_buf_append(b, ss.ptr, ss.len);
        sx_buf_puts(b, "]}");
        sx_buf_dispose(&ss);
    }
    sx_buf_printf(b, "],\"metrics\":{\"inspectedTraces\":%zu,\"inspectedBytes\":\"%llu\","
                     "\"totalBlocks\":0,\"completedJobs\":1,\"totalJobs\":1}}",
                  S.n, (unsigned long long)S.bytes);
    sx_resp_set(req, 200, "application/json");
}

/* ---- Tag names and values ---- */

typedef struct tagval {
    sx_str_t v;
    const char *type;
} tagval_t;

typedef struct tag_scan {
    sx_arena_t *a;
    bool values;        /* collect values of f rather than names */
    sx_tql_field_t f;
    tagval_t *set[2];   /* names: [0] span, [1] resource; values: [0] */
    size_t n[2], cap[2];
    size_t entries;
} tag_scan_t;

static void tag_add(tag_scan_t *T, int w, const char *s, size_t len, const char *type)
{
    if (T->n[w] >= TAGS_MAX)
        return;
    for (size_t i = 0; i < T->n[w]; i++)
        if (T->set[w][i].v.len == len && memcmp(T->set[w][i].v.ptr, s, len) == 0 &&
            strcmp(T->set[w][i].type, type) == 0)
            return;
    if (!(T->set[w] = grow(T->a, T->set[w], &T->cap[w], T->n[w], sizeof(tagval_t))))
        return;
    T->set[w][T->n[w]++] = (tagval_t){sx_arena_strdup_str(T->a, (sx_str_t){s, len}), type};
}

static const char *av_type(json_t *av)
{
    return json_object_get(av, "stringValue") ? "string"
           : json_object_get(av, "intValue")  ? "int"
           : json_object_get(av, "doubleValue") ? "float"
           : json_object_get(av, "boolValue") ? "bool"
                                              : NULL;
}

static void tag_attrs(tag_scan_t *T, json_t *attrs, int w)
{
    json_t *kv;
    size_t i;
    json_array_foreach(attrs, i, kv)
    {
        const char *k = jstr(kv, "key");
        if (!T->values) {
            tag_add(T, w, k, strlen(k), "string");
        } else if (strcmp(k, T->f.key.ptr) == 0) {
            char buf[64];
            json_t *av = json_object_get(kv, "value");
            const char *t = av_text(av, buf, sizeof(buf)), *ty = av_type(av);
            if (t && ty)
                tag_add(T, 0, t, strlen(t), ty);
        }
    }
}

static int on_tag_block(void *arg, const sx_log_block_t *blk)
{
    tag_scan_t *T = arg;
    for (size_t j = blk->n; j-- > 0;) {
        if (++T->entries > TAGS_MAX_ENTRIES)
            return 1;
        int kind = T->f.kind;
        if (T->values && kind == SX_TQL_F_NAME) {
            sx_str_t nm = meta_get(blk, j, "name");
            tag_add(T, 0, nm.ptr ? nm.ptr : "", nm.len, "string");
            continue;
        }
        if (T->values && (kind == SX_TQL_F_STATUS || kind == SX_TQL_F_KIND)) {
            long long v = meta_int(blk, j, kind == SX_TQL_F_STATUS ? "status_code" : "kind");
            const char *s = kind == SX_TQL_F_STATUS
                                ? (v <= 2 ? sx_tql_status_names[v] : "unset")
                                : (v <= 5 ? sx_tql_kind_names[v] : "unspecified");
            tag_add(T, 0, s, strlen(s), "keyword");
            continue;
        }
        if (T->values && kind != SX_TQL_F_ATTR)
            return 1; /* other intrinsics (durations, ids) have no value list */
        if (T->values) {
            char pat[300];
            int n = snprintf(pat, sizeof(pat), "\"key\":\"%s\"", T->f.key.ptr);
            if (n > 0 && (size_t)n < sizeof(pat) && !strpbrk(T->f.key.ptr, "\"\\") &&
                !sx_memmem(blk->lines[j].ptr, blk->lines[j].len, pat, (size_t)n))
                continue;
        }
        json_t *d = json_loadb(blk->lines[j].ptr, blk->lines[j].len, 0, NULL);
        if (!d)
            continue;
        if (!T->values || T->f.scope != SX_TQL_SCOPE_RESOURCE)
            tag_attrs(T, json_object_get(d, "attributes"), 0);
        if (!T->values || T->f.scope != SX_TQL_SCOPE_SPAN)
            tag_attrs(T, json_object_get(json_object_get(d, "resource"), "attributes"),
                      T->values ? 0 : 1);
        json_decref(d);
    }
    return 0;
}

static int cmp_tagval(const void *x, const void *y)
{
    const tagval_t *a = x, *b = y;
    int c = sx_str_cmp(a->v, b->v);
    return c ? c : strcmp(a->type, b->type);
}

static int tag_scan_run(sx_api_ctx_t *ctx, sx_req_t *req, tag_scan_t *T)
{
    int64_t mint, maxt;
    if (tempo_range(req, &mint, &maxt))
        return -1;
    if (mint == INT64_MIN && maxt == INT64_MAX)
        mint = sx_now_ns() - TAGS_LOOKBACK_NS;
    sx_logstore_t *ls = sx_storage_logs_peek(ctx->storage, req->tenant, SX_TRACES);
    if (ls) {
        sx_log_stream_t *st = NULL;
        size_t nst = 0;
        sx_logstore_select(ls, NULL, 0, mint, maxt, &req->arena, &st, &nst);
        /* Attribute names and values need the lines; intrinsics do not. */
        int lines = !T->values || T->f.kind == SX_TQL_F_ATTR ? SX_LOGREAD_LINES : 0;
        for (size_t s = 0; s < nst; s++)
            if (spans_read(ls, st[s].id, mint, maxt, lines | SX_LOGREAD_META | SX_LOGREAD_BACKWARD,
                           NULL, on_tag_block, T))
                break;
    }
    for (int w = 0; w < 2; w++)
        if (T->n[w] > 1)
            qsort(T->set[w], T->n[w], sizeof(tagval_t), cmp_tagval);
    return 0;
}

static void put_names(sx_buf_t *b, const tagval_t *v, size_t n, bool *first)
{
    for (size_t i = 0; i < n; i++) {
        if (!*first)
            sx_buf_putc(b, ',');
        *first = false;
        sx_buf_json_str(b, v[i].v.ptr, v[i].v.len);
    }
}

/* The intrinsics TraceQL takes here (src/query/traceql), sorted. */
static const char *const intrinsics[] = {
    "duration",        "kind",          "name",           "rootName",
    "rootServiceName", "span:childCount", "span:duration", "span:id",
    "span:kind",       "span:name",     "span:parentID",  "span:status",
    "span:statusMessage", "status",     "statusMessage",  "trace:duration",
    "trace:id",        "trace:rootName", "trace:rootService", "traceDuration"};
#define NINTRINSICS (sizeof(intrinsics) / sizeof(intrinsics[0]))

/* GET /api/search/tags (v2 = false) and /api/v2/search/tags. */
static void tempo_tags(sx_req_t *req, sx_api_ctx_t *ctx, bool v2)
{
    const char *scope = sx_req_param(req, "scope");
    if (scope && *scope && strcmp(scope, "span") && strcmp(scope, "resource") &&
        strcmp(scope, "intrinsic") && strcmp(scope, "all") && strcmp(scope, "none")) {
        sx_resp_text(req, 400, "invalid scope: expected resource, span, intrinsic or all");
        return;
    }
    tag_scan_t T = {.a = &req->arena};
    if (tag_scan_run(ctx, req, &T)) {
        sx_resp_text(req, 400, "invalid start or end: expected Unix seconds, start <= end");
        return;
    }
    bool all = !scope || !*scope || !strcmp(scope, "all") || !strcmp(scope, "none");
    bool sp = all || !strcmp(scope, "span"), rs = all || !strcmp(scope, "resource"),
         in = (v2 && all) || (scope && !strcmp(scope, "intrinsic"));
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    bool first = true;
    if (!v2) {
        /* One sorted, unique list of span and resource attribute names. */
        tagval_t *u =
            sx_arena_alloc(&req->arena, (T.n[0] + T.n[1] + NINTRINSICS) * sizeof(tagval_t));
        size_t nu = 0;
        for (size_t i = 0; sp && i < T.n[0]; i++)
            u[nu++] = T.set[0][i];
        for (size_t i = 0; rs && i < T.n[1]; i++)
            u[nu++] = T.set[1][i];
        for (size_t i = 0; in && i < NINTRINSICS; i++)
            u[nu++] = (tagval_t){sx_str(intrinsics[i]), "string"};
        qsort(u, nu, sizeof(*u), cmp_tagval);
        size_t k = 0;
        for (size_t i = 0; i < nu; i++)
            if (!k || !sx_str_eq(u[k - 1].v, u[i].v))
                u[k++] = u[i];
        sx_buf_puts(b, "{\"tagNames\":[");
        put_names(b, u, k, &first);
        sx_buf_puts(b, "],\"metrics\":{}}");
    } else {
        sx_buf_puts(b, "{\"scopes\":[");
        bool fs = true;
        if (sp) {
            sx_buf_puts(b, "{\"name\":\"span\",\"tags\":[");
            put_names(b, T.set[0], T.n[0], &first);
            sx_buf_puts(b, "]}");
            fs = false;
        }
        if (rs) {
            first = true;
            sx_buf_puts(b, fs ? "{\"name\":\"resource\",\"tags\":[" : ",{\"name\":\"resource\",\"tags\":[");
            put_names(b, T.set[1], T.n[1], &first);
            sx_buf_puts(b, "]}");
            fs = false;
        }
        if (in) {
            sx_buf_puts(b, fs ? "{\"name\":\"intrinsic\",\"tags\":[" : ",{\"name\":\"intrinsic\",\"tags\":[");
            for (size_t i = 0; i < NINTRINSICS; i++)
                sx_buf_printf(b, "%s\"%s\"", i ? "," : "", intrinsics[i]);
            sx_buf_puts(b, "]}");
        }
        sx_buf_puts(b, "],\"metrics\":{}}");
    }
    sx_resp_set(req, 200, "application/json");
}

static void on_tempo_tags(sx_req_t *req, void *arg)
{
    tempo_tags(req, arg, false);
}

static void on_tempo_tags_v2(sx_req_t *req, void *arg)
{
    tempo_tags(req, arg, true);
}

/* GET /api/search/tag/<name>/values and /api/v2/search/tag/<name>/values. */
static void tempo_tag_values(sx_req_t *req, sx_api_ctx_t *ctx, bool v2)
{
    const char *rest = req->path_rest ? req->path_rest : "";
    size_t rl = strlen(rest);
    if (rl <= 7 || strcmp(rest + rl - 7, "/values") != 0) {
        sx_resp_text(req, 404, "404 page not found");
        return;
    }
    char *name = sx_arena_strndup(&req->arena, rest, rl - 7);
    tag_scan_t T = {.a = &req->arena, .values = true};
    /* v2 names are TraceQL fields; v1 names may also be bare attribute keys. */
    if (sx_tql_field_parse(&req->arena, name, &T.f)) {
        if (v2) {
            sx_resp_text(req, 400, "invalid tag name: expected .attr, span.attr, resource.attr or "
                                   "an intrinsic such as name, status, kind");
            return;
        }
        T.f = (sx_tql_field_t){.kind = SX_TQL_F_ATTR, .key = sx_str(name)}; /* any scope */
    }
    if (tag_scan_run(ctx, req, &T)) {
        sx_resp_text(req, 400, "invalid start or end: expected Unix seconds, start <= end");
        return;
    }
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"tagValues\":[");
    size_t k = 0;
    for (size_t i = 0; i < T.n[0]; i++) {
        const tagval_t *t = &T.set[0][i];
        if (!v2) {
            if (i && sx_str_eq(T.set[0][i - 1].v, t->v))
                continue;
            sx_buf_puts(b, k++ ? "," : "");
            sx_buf_json_str(b, t->v.ptr, t->v.len);
        } else {
            sx_buf_printf(b, "%s{\"type\":\"%s\",\"value\":", k++ ? "," : "", t->type);
            sx_buf_json_str(b, t->v.ptr, t->v.len);
            sx_buf_putc(b, '}');
        }
    }
    sx_buf_puts(b, "],\"metrics\":{}}");
    sx_resp_set(req, 200, "application/json");
}

static void on_tempo_tag_values(sx_req_t *req, void *arg)
{
    tempo_tag_values(req, arg, false);
}

static void on_tempo_tag_values_v2(sx_req_t *req, void *arg)
{
    tempo_tag_values(req, arg, true);
}

/* ---- Jaeger search ---- */

static int parse_us(const char *s, int64_t *ns)
{
    if (!s || !*s)
        return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0 || v > INT64_MAX / 1000)
        return -1;
    *ns = v * 1000;
    return 0;
}

/* GET /jaeger/api/traces and /api/traces: search by service, operation,
 * tags (JSON map or repeated tag=k:v), span min/maxDuration, start/end
 * (µs), limit; or traceID=... (repeatable) for a list of traces. */
static void on_jaeger_search(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    sx_str_t *ids = NULL;
    size_t nids = sx_req_params(req, "traceID", &ids);
    const char *svc = sx_req_param(req, "service");
    int64_t mint = INT64_MIN, maxt = INT64_MAX, d;
    long limit;
    sx_tql_query_t *c = NULL; /* built after the traceID= case */
    char (*tids)[33] = NULL;
    size_t ntids = 0;
    if (nids) {
        tids = sx_arena_alloc(&req->arena, nids * 33);
        for (size_t i = 0; i < nids && tids; i++) {
            char *s = sx_arena_strndup(&req->arena, ids[i].ptr, ids[i].len);
            if (trace_id_parse(s, tids[ntids])) {
                jaeger_reply(req, 400, "cannot parse traceID param");
                return;
            }
            ntids++;
        }
        goto answer;
    }
    if (!svc || !*svc) {
        jaeger_reply(req, 400, "parameter 'service' is required");
        return;
    }
    if (parse_us(sx_req_param(req, "start"), &mint) || parse_us(sx_req_param(req, "end"), &maxt) ||
        mint > maxt) {
        jaeger_reply(req, 400, "unable to parse param 'start' or 'end': expected microseconds");
        return;
    }
    if (parse_limit(sx_req_param(req, "limit"), 100, &limit)) {
        jaeger_reply(req, 400, "unable to parse param 'limit'");
        return;
    }
    c = sx_tql_query_new(&req->arena);
    int brc = c ? 0 : SX_ELIMIT; /* building the conditions ran out of memory */
    const char *op = sx_req_param(req, "operation");
    if (op && *op)
        brc |= sx_tql_add_text(&req->arena, c, "name", op);
    const char *names[2] = {"minDuration", "maxDuration"};
    for (int k = 0; k < 2; k++) {
        const char *s = sx_req_param(req, names[k]);
        if (!s || !*s)
            continue;
        if (parse_godur(s, &d)) {
            jaeger_reply(req, 400, k ? "unable to parse param 'maxDuration'"
                                     : "unable to parse param 'minDuration'");
            return;
        }
        brc |= sx_tql_add_duration(&req->arena, c, k == 0, d);
    }
    const char *tj = sx_req_param(req, "tags");
    if (tj && *tj) {
        json_t *o = json_loads(tj, 0, NULL), *v;
        const char *k;
        if (!json_is_object(o)) {
            json_decref(o);
            jaeger_reply(req, 400, "malformed 'tags' parameter: expected a JSON object");
            return;
        }
        json_object_foreach(o, k, v)
        {
            if (!json_is_string(v)) {
                json_decref(o);
                jaeger_reply(req, 400, "malformed 'tags' parameter: values must be strings");
                return;
            }
            const char *vs = json_string_value(v);
            brc |= sx_tql_add_text(&req->arena, c, sx_arena_strndup(&req->arena, k, strlen(k)),
                                   sx_arena_strndup(&req->arena, vs, strlen(vs)));
        }
        json_decref(o);
    }
    sx_str_t *tv = NULL;
    size_t ntv = sx_req_params(req, "tag", &tv);
    for (size_t i = 0; i < ntv; i++) {
        const char *colon = memchr(tv[i].ptr, ':', tv[i].len);
        if (!colon) {
            jaeger_reply(req, 400, "malformed 'tag' parameter, expecting key:value");
            return;
        }
        size_t kl = (size_t)(colon - tv[i].ptr);
        brc |= sx_tql_add_text(&req->arena, c, sx_arena_strndup(&req->arena, tv[i].ptr, kl),
                               sx_arena_strndup(&req->arena, colon + 1, tv[i].len - kl - 1));
    }
    if (brc) {
        jaeger_reply(req, 413, "search parameters too large");
        return;
    }
    {
        /* Jaeger's conditions are all on span fields: the scan is exact. */
        search_t S;
        search_init(&S, &req->arena, c, (size_t)limit);
        S.want = (size_t)limit;
        search_run(ctx, req, &S, svc, mint, maxt);
        search_dispose(&S);
        tids = sx_arena_alloc(&req->arena, (S.n + 1) * 33);
        for (size_t i = 0; i < S.n && i < (size_t)limit && tids; i++)
            memcpy(tids[ntids++], S.v[i].tid, 33);
    }
answer:;
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"data\":[");
    size_t nout = 0;
    for (size_t i = 0; i < ntids; i++) {
        found_span_t *v;
        size_t n;
        if (trace_find(ctx, req, tids[i], INT64_MIN, INT64_MAX, &v, &n) || !n)
            continue;
        if (nout++)
            sx_buf_putc(b, ',');
        put_jaeger_trace(&req->arena, b, tids[i], v, n);
    }
    sx_buf_printf(b, "],\"total\":%zu,\"limit\":0,\"offset\":0,\"errors\":null}", nout);
    sx_resp_set(req, 200, "application/json");
}

/* ---- Routes ---- */

static const sx_route_t routes[] = {
    {"POST", "/v1/traces", on_traces_push, 0, 0},
    {"POST", "/otlp/v1/traces", on_traces_push, 0, 0},
    {"GET", "/api/echo", on_echo, 0, 0},
    {"GET", "/api/search", on_tempo_search, 0, 0},
    {"GET", "/api/search/tags", on_tempo_tags, 0, 0},
    {"GET", "/api/search/tag/", on_tempo_tag_values, SX_ROUTE_PREFIX, 0},
    {"GET", "/api/v2/search/tags", on_tempo_tags_v2, 0, 0},
    {"GET", "/api/v2/search/tag/", on_tempo_tag_values_v2, SX_ROUTE_PREFIX, 0},
    {"GET", "/api/traces", on_jaeger_search, 0, 0},
    {"GET", "/jaeger/api/traces", on_jaeger_search, 0, 0},
    {"GET", "/api/traces/", on_tempo_v1, SX_ROUTE_PREFIX, 0},
    {"GET", "/api/v2/traces/", on_tempo_v2, SX_ROUTE_PREFIX, 0},
    {"GET", "/api/services", on_jaeger_services, 0, 0},
    {"GET", "/api/services/", on_jaeger_service_ops, SX_ROUTE_PREFIX, 0},
    {"GET", "/api/operations", on_jaeger_operations, 0, 0},
    {"GET", "/jaeger/api/traces/", on_jaeger_trace, SX_ROUTE_PREFIX, 0},
    {"GET", "/jaeger/api/services", on_jaeger_services, 0, 0},
    {"GET", "/jaeger/api/services/", on_jaeger_service_ops, SX_ROUTE_PREFIX, 0},
    {"GET", "/jaeger/api/operations", on_jaeger_operations, 0, 0},
};

void sx_api_traces_register(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_http_add_routes(h, routes, sizeof(routes) / sizeof(routes[0]), ctx);
}
