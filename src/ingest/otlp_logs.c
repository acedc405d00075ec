/* SPDX-License-Identifier: Apache-2.0 */
/* OTLP logs: ExportLogsServiceRequest -> log streams, the way Loki 3's
 * OTLP endpoint maps them (pkg/loghttp/push/otlp.go): a few resource
 * attributes become stream labels, everything else structured metadata,
 * the body the line. One stream per ResourceLogs that has records; its
 * labels are computed once, before the records are read (the resource may
 * come after the records in JSON, so each ResourceLogs is walked twice). */
#include "otlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_int.h"

const char *const sx_otlp_loki_index_attrs[] = {
    "cloud.availability_zone", "cloud.region",       "container.name",
    "deployment.environment",  "k8s.cluster.name",   "k8s.container.name",
    "k8s.cronjob.name",        "k8s.daemonset.name", "k8s.deployment.name",
    "k8s.job.name",            "k8s.namespace.name", "k8s.pod.name",
    "k8s.replicaset.name",     "k8s.statefulset.name", "service.instance.id",
    "service.name",            "service.namespace",  NULL,
};

static const sx_otlp__enum_name_t severity_names[] = {
    {"SEVERITY_NUMBER_UNSPECIFIED", 0}, {"SEVERITY_NUMBER_TRACE", 1},  {"SEVERITY_NUMBER_TRACE2", 2},
    {"SEVERITY_NUMBER_TRACE3", 3},      {"SEVERITY_NUMBER_TRACE4", 4}, {"SEVERITY_NUMBER_DEBUG", 5},
    {"SEVERITY_NUMBER_DEBUG2", 6},      {"SEVERITY_NUMBER_DEBUG3", 7}, {"SEVERITY_NUMBER_DEBUG4", 8},
    {"SEVERITY_NUMBER_INFO", 9},        {"SEVERITY_NUMBER_INFO2", 10}, {"SEVERITY_NUMBER_INFO3", 11},
    {"SEVERITY_NUMBER_INFO4", 12},      {"SEVERITY_NUMBER_WARN", 13},  {"SEVERITY_NUMBER_WARN2", 14},
    {"SEVERITY_NUMBER_WARN3", 15},      {"SEVERITY_NUMBER_WARN4", 16}, {"SEVERITY_NUMBER_ERROR", 17},
    {"SEVERITY_NUMBER_ERROR2", 18},     {"SEVERITY_NUMBER_ERROR3", 19}, {"SEVERITY_NUMBER_ERROR4", 20},
    {"SEVERITY_NUMBER_FATAL", 21},      {"SEVERITY_NUMBER_FATAL2", 22}, {"SEVERITY_NUMBER_FATAL3", 23},
    {"SEVERITY_NUMBER_FATAL4", 24},     {NULL, 0},
};

enum {
    LR_TIME = 1, LR_SEVERITY_NUMBER = 2, LR_SEVERITY_TEXT = 3, LR_BODY = 5, LR_ATTRS = 6,
    LR_DROPPED = 7, LR_FLAGS = 8, LR_TRACE_ID = 9, LR_SPAN_ID = 10, LR_OBSERVED = 11,
    LR_EVENT_NAME = 12,
};

static const sx_otlp__field_def_t log_record_fields[] = {
    {LR_TIME, SX_OTLP__FIXED64, 0, "timeUnixNano", "time_unix_nano", NULL, NULL},
    {LR_OBSERVED, SX_OTLP__FIXED64, 0, "observedTimeUnixNano", "observed_time_unix_nano", NULL, NULL},
    {LR_SEVERITY_NUMBER, SX_OTLP__ENUM, 0, "severityNumber", "severity_number", NULL, severity_names},
    {LR_SEVERITY_TEXT, SX_OTLP__STR, 0, "severityText", "severity_text", NULL, NULL},
    {LR_BODY, SX_OTLP__MSG, 0, "body", "body", &sx_otlp__anyvalue_def, NULL},
    {LR_ATTRS, SX_OTLP__MSG, 0, "attributes", "attributes", &sx_otlp__keyvalue_def, NULL},
    {LR_DROPPED, SX_OTLP__VARINT, 0, "droppedAttributesCount", "dropped_attributes_count", NULL, NULL},
    {LR_FLAGS, SX_OTLP__FIXED32, 0, "flags", "flags", NULL, NULL},
    {LR_TRACE_ID, SX_OTLP__ID, 16, "traceId", "trace_id", NULL, NULL},
    {LR_SPAN_ID, SX_OTLP__ID, 8, "spanId", "span_id", NULL, NULL},
    {LR_EVENT_NAME, SX_OTLP__STR, 0, "eventName", "event_name", NULL, NULL},
};
static const sx_otlp__msg_def_t log_record_def = {"LogRecord", log_record_fields, 11};

static const sx_otlp__field_def_t scope_logs_fields[] = {
    {1, SX_OTLP__MSG, 0, "scope", "scope", &sx_otlp__scope_def, NULL},
    {2, SX_OTLP__MSG, 0, "logRecords", "log_records", &log_record_def, NULL},
    {3, SX_OTLP__STR, 0, "schemaUrl", "schema_url", NULL, NULL},
};
static const sx_otlp__msg_def_t scope_logs_def = {"ScopeLogs", scope_logs_fields, 3};

static const sx_otlp__field_def_t resource_logs_fields[] = {
    {1, SX_OTLP__MSG, 0, "resource", "resource", &sx_otlp__resource_def, NULL},
    {2, SX_OTLP__MSG, 0, "scopeLogs", "scope_logs", &scope_logs_def, NULL},
    {3, SX_OTLP__STR, 0, "schemaUrl", "schema_url", NULL, NULL},
};
static const sx_otlp__msg_def_t resource_logs_def = {"ResourceLogs", resource_logs_fields, 3};

static const sx_otlp__field_def_t logs_request_fields[] = {
    {1, SX_OTLP__MSG, 0, "resourceLogs", "resource_logs", &resource_logs_def, NULL},
};
const sx_otlp__msg_def_t sx_otlp__logs_request_def = {"ExportLogsServiceRequest", logs_request_fields, 1};

/* State for one ResourceLogs. */
typedef struct rstate {
    sx_label_t *labels; /* stream labels, sorted */
    uint32_t nlabels;
    sx_label_t *meta;   /* resource attributes that are not labels */
    uint32_t nmeta;
    size_t stream;      /* index of its stream in the batch, or SIZE_MAX before the first record */
} rstate_t;

static sx_str_t u64_str(sx_otlp__dec_t *d, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    char *p = sx_arena_alloc(d->arena, (size_t)n);
    if (!p)
        return (sx_str_t){NULL, 0};
    memcpy(p, tmp, (size_t)n);
    return (sx_str_t){p, (size_t)n};
}

static bool is_index_attr(const sx_otlp_log_opts_t *o, sx_str_t key)
{
    if (sx_str_eq_cstr(key, "service.name"))
        return true;
    if (!o->index_attrs) {
        for (const char *const *a = sx_otlp_loki_index_attrs; *a; a++)
            if (sx_str_eq_cstr(key, *a))
                return true;
        return false;
    }
    for (size_t i = 0; i < o->nindex_attrs; i++)
        if (o->index_attrs[i] && sx_str_eq_cstr(key, o->index_attrs[i]))
            return true;
    return false;
}

static int cmp_label(const void *a, const void *b)
{
    return sx_str_cmp(((const sx_label_t *)a)->name, ((const sx_label_t *)b)->name);
}

/* Stream labels and resource metadata from a Resource message. */
static int decode_resource(sx_otlp__dec_t *d, int fmt, const sx_otlp_log_opts_t *o, sx_str_t msg,
                           rstate_t *rs)
{
    sx_attr_t *attrs = NULL;
    uint32_t nattrs = 0, dropped = 0, lcap = 0, mcap = 0;
    int rc;
    if (msg.ptr && (rc = sx_otlp__resource(d, fmt, msg, &attrs, &nattrs, &dropped)))
        return rc;
    bool have_service = false;
    for (uint32_t i = 0; i < nattrs; i++) {
        const sx_attr_t *a = &attrs[i];
        if (is_index_attr(o, a->key)) {
            /* Last of duplicate keys wins: drop an earlier label of the same attribute. */
            sx_str_t name = sx_str_eq_cstr(a->key, "service.name")
                                ? SX_STR_LIT("service_name")
                                : sx_otlp__label_name(d->arena, a->key);
            if (!name.ptr)
                return sx_otlp__oom(d);
            sx_str_t val;
            if ((rc = sx_otlp__anyval_string(d, &a->value, &val)))
                return rc;
            uint32_t j;
            for (j = 0; j < rs->nlabels && !sx_str_eq(rs->labels[j].name, name); j++)
                ;
            if (j < rs->nlabels) {
                rs->labels[j].value = val;
            } else if ((rc = sx_otlp__label_push(d, &rs->labels, &rs->nlabels, &lcap, name, val))) {
                return rc;
            }
            if (sx_str_eq_cstr(name, "service_name") && val.len)
                have_service = true;
            continue;
        }
        if ((rc = sx_otlp__attr_labels(d, (sx_str_t){NULL, 0}, a->key, &a->value, true, &rs->meta,
                                       &rs->nmeta, &mcap)))
            return rc;
    }
    if (!have_service) {
        uint32_t j;
        for (j = 0; j < rs->nlabels && !sx_str_eq_cstr(rs->labels[j].name, "service_name"); j++)
            ;
        if (j < rs->nlabels)
            rs->labels[j].value = SX_STR_LIT("unknown_service");
        else if ((rc = sx_otlp__label_push(d, &rs->labels, &rs->nlabels, &lcap,
                                           SX_STR_LIT("service_name"), SX_STR_LIT("unknown_service"))))
            return rc;
    }
    /* Drop empty values (Loki cannot store them), then sort by name. */
    uint32_t k = 0;
    for (uint32_t i = 0; i < rs->nlabels; i++)
        if (rs->labels[i].value.len)
            rs->labels[k++] = rs->labels[i];
    rs->nlabels = k;
    qsort(rs->labels, rs->nlabels, sizeof(*rs->labels), cmp_label);
    return 0;
}

/* Scope metadata: scope_name, scope_version, scope_dropped_attributes_count
 * and the scope attributes, as Loki adds them. */
static int decode_scope(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_label_t **meta, uint32_t *n)
{
    sx_attr_t *attrs = NULL;
    uint32_t nattrs = 0, dropped = 0, cap = 0;
    sx_str_t name = {NULL, 0}, version = {NULL, 0};
    int rc;
    if ((rc = sx_otlp__scope(d, fmt, msg, &name, &version, &attrs, &nattrs, &dropped)))
        return rc;
    if (name.len && (rc = sx_otlp__label_push(d, meta, n, &cap, SX_STR_LIT("scope_name"), name)))
        return rc;
    if (version.len &&
        (rc = sx_otlp__label_push(d, meta, n, &cap, SX_STR_LIT("scope_version"), version)))
        return rc;
    if (dropped) {
        sx_str_t v = u64_str(d, dropped);
        if (!v.ptr)
            return sx_otlp__oom(d);
        if ((rc = sx_otlp__label_push(d, meta, n, &cap, SX_STR_LIT("scope_dropped_attributes_count"), v)))
            return rc;
    }
    for (uint32_t i = 0; i < nattrs; i++)
        if ((rc = sx_otlp__attr_labels(d, (sx_str_t){NULL, 0}, attrs[i].key, &attrs[i].value, true,
                                       meta, n, &cap)))
            return rc;
    return 0;
}

static int push_u64(sx_otlp__dec_t *d, sx_label_t **m, uint32_t *n, uint32_t *cap, const char *name,
                    uint64_t v)
{
    sx_str_t s = u64_str(d, v);
    if (!s.ptr)
        return sx_otlp__oom(d);
    return sx_otlp__label_push(d, m, n, cap, sx_str(name), s);
}

static int decode_record(sx_otlp__dec_t *d, int fmt, const sx_otlp_log_opts_t *o, sx_str_t msg,
                         sx_log_batch_t *b, rstate_t *rs, const sx_label_t *smeta, uint32_t nsmeta)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v;
    uint64_t time = 0, observed = 0, sevnum = 0, dropped = 0, flags = 0;
    sx_str_t sevtext = {NULL, 0}, trace = {NULL, 0}, span = {NULL, 0}, event = {NULL, 0};
    sx_str_t body = {NULL, 0};
    sx_attr_t *attrs = NULL;
    uint32_t nattrs = 0, acap = 0;
    int rc;
    if ((rc = sx_otlp__it_init(&it, d, &log_record_def, fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        switch (v.num) {
        case LR_TIME: time = v.u; break;
        case LR_OBSERVED: observed = v.u; break;
        case LR_SEVERITY_NUMBER: sevnum = v.u; break;
        case LR_SEVERITY_TEXT: sevtext = v.s; break;
        case LR_BODY: body = v.s; break;
        case LR_DROPPED: dropped = v.u; break;
        case LR_FLAGS: flags = v.u; break;
        case LR_TRACE_ID: trace = v.s; break;
        case LR_SPAN_ID: span = v.s; break;
        case LR_EVENT_NAME: event = v.s; break;
        case LR_ATTRS:
            if ((rc = sx_otlp__attr_add(d, fmt, "attributes", v.s, &attrs, &nattrs, &acap)))
                return rc;
            break;
        }
    }
    if (rc < 0)
        return rc;

    /* The line. */
    sx_str_t line = {"", 0};
    if (body.ptr) {
        sx_anyval_t bv;
        sx_otlp__push(d, "body", -1);
        rc = sx_otlp__anyval(d, fmt, body, &bv);
        if (rc == 0 && bv.type == SX_AV_STRING) {
            line = bv.s;
        } else if (rc == 0 && bv.type != SX_AV_EMPTY) {
            sx_buf_t buf = SX_BUF_INIT;
            rc = sx_otlp__anyval_plain(d, fmt, body, &buf);
            if (rc == 0) {
                char *p = buf.len ? sx_arena_alloc(d->arena, buf.len) : (char *)"";
                if (!p)
                    rc = sx_otlp__oom(d);
                else if (buf.len)
                    memcpy(p, buf.ptr, buf.len);
                line = (sx_str_t){p, buf.len};
            }
            sx_buf_dispose(&buf);
        }
        sx_otlp__pop(d);
        if (rc)
            return rc;
    }

    /* Structured metadata, in Loki's order. */
    sx_label_t *meta = NULL;
    uint32_t n = 0, cap = 0;
    for (uint32_t i = 0; i < nattrs; i++)
        if ((rc = sx_otlp__attr_labels(d, (sx_str_t){NULL, 0}, attrs[i].key, &attrs[i].value, true,
                                       &meta, &n, &cap)))
            return rc;
    if (sevnum && (rc = push_u64(d, &meta, &n, &cap, "severity_number", (uint64_t)(int64_t)(int32_t)sevnum)))
        return rc;
    if (sevtext.len &&
        (rc = sx_otlp__label_push(d, &meta, &n, &cap, SX_STR_LIT("severity_text"), sevtext)))
        return rc;
    if (dropped && (rc = push_u64(d, &meta, &n, &cap, "dropped_attributes_count", dropped)))
        return rc;
    if (observed && (rc = push_u64(d, &meta, &n, &cap, "observed_timestamp", observed)))
        return rc;
    if (flags && (rc = push_u64(d, &meta, &n, &cap, "flags", flags)))
        return rc;
    if (trace.len && !sx_span_id_is_zero((const uint8_t *)trace.ptr, trace.len)) {
        sx_str_t h = sx_otlp__hex(d->arena, trace);
        if (!h.ptr || (rc = sx_otlp__label_push(d, &meta, &n, &cap, SX_STR_LIT("trace_id"), h)))
            return h.ptr ? rc : sx_otlp__oom(d);
    }
    if (span.len && !sx_span_id_is_zero((const uint8_t *)span.ptr, span.len)) {
        sx_str_t h = sx_otlp__hex(d->arena, span);
        if (!h.ptr || (rc = sx_otlp__label_push(d, &meta, &n, &cap, SX_STR_LIT("span_id"), h)))
            return h.ptr ? rc : sx_otlp__oom(d);
    }
    if (event.len && (rc = sx_otlp__label_push(d, &meta, &n, &cap, SX_STR_LIT("event_name"), event)))
        return rc;
    for (uint32_t i = 0; i < nsmeta; i++)
        if ((rc = sx_otlp__label_push(d, &meta, &n, &cap, smeta[i].name, smeta[i].value)))
            return rc;
    for (uint32_t i = 0; i < rs->nmeta; i++)
        if ((rc = sx_otlp__label_push(d, &meta, &n, &cap, rs->meta[i].name, rs->meta[i].value)))
            return rc;
    /* Empty values carry nothing (Loki drops them too). */
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (meta[i].value.len && meta[i].name.len)
            meta[k++] = meta[i];
    n = k;

    if (rs->stream == SIZE_MAX) {
        sx_log_stream_in_t *s = sx_log_batch_add(b);
        if (!s)
            return sx_otlp__oom(d);
        s->labels = rs->labels;
        s->nlabels = rs->nlabels;
        rs->stream = b->nstreams - 1;
    }
    sx_log_entry_t *e = sx_log_stream_add(b, &b->streams[rs->stream]);
    if (!e)
        return sx_otlp__oom(d);
    int64_t ts = o->now_ns;
    if (time)
        ts = time > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)time;
    else if (observed)
        ts = observed > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)observed;
    e->ts = ts;
    e->line = line;
    e->meta = meta;
    e->nmeta = n;
    b->nbytes += line.len;
    d->res->accepted++;
    return 0;
}

/* Walk a message of md and return the last value of field num (its MSG
 * text), or {NULL, 0}. */
static int find_last(sx_otlp__dec_t *d, int fmt, const sx_otlp__msg_def_t *md, sx_str_t msg,
                     uint32_t num, sx_str_t *out)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v;
    int rc;
    *out = (sx_str_t){NULL, 0};
    if ((rc = sx_otlp__it_init(&it, d, md, fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0)
        if (v.num == num)
            *out = v.s;
    return rc;
}

int sx_otlp_logs_decode(const char *buf, size_t len, int format, const sx_otlp_log_opts_t *opts,
                        sx_log_batch_t *out, sx_otlp_result_t *res, sx_err_t *err)
{
    static const sx_otlp_log_opts_t defaults = {NULL, 0, 0};
    const sx_otlp_log_opts_t *o = opts ? opts : &defaults;
    sx_otlp__dec_t d;
    sx_otlp__it_t it, rit, sit;
    sx_otlp__val_t v, rv, sv;
    sx_str_t root;
    int rc;
    if ((rc = sx_otlp__begin(&d, buf, len, format, out->arena, res, err, &root)))
        return rc;
    if ((rc = sx_otlp__it_init(&it, &d, &sx_otlp__logs_request_def, format, root)))
        return rc;
    int64_t ri = 0;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        sx_otlp__push(&d, "resourceLogs", ri++);
        rstate_t rs;
        memset(&rs, 0, sizeof(rs));
        rs.stream = SIZE_MAX;
        sx_str_t rmsg;
        if ((rc = find_last(&d, format, &resource_logs_def, v.s, 1, &rmsg)) ||
            (rc = decode_resource(&d, format, o, rmsg, &rs)))
            return rc;
        if ((rc = sx_otlp__it_init(&rit, &d, &resource_logs_def, format, v.s)))
            return rc;
        int64_t si = 0;
        while ((rc = sx_otlp__it_next(&rit, &rv)) > 0) {
            if (rv.num != 2)
                continue;
            sx_otlp__push(&d, "scopeLogs", si++);
            sx_str_t smsg;
            sx_label_t *smeta = NULL;
            uint32_t nsmeta = 0;
            if ((rc = find_last(&d, format, &scope_logs_def, rv.s, 1, &smsg)))
                return rc;
            if (smsg.ptr && (rc = decode_scope(&d, format, smsg, &smeta, &nsmeta)))
                return rc;
            if ((rc = sx_otlp__it_init(&sit, &d, &scope_logs_def, format, rv.s)))
                return rc;
            int64_t li = 0;
            while ((rc = sx_otlp__it_next(&sit, &sv)) > 0) {
                if (sv.num != 2)
                    continue;
                sx_otlp__push(&d, "logRecords", li++);
                rc = decode_record(&d, format, o, sv.s, out, &rs, smeta, nsmeta);
                sx_otlp__pop(&d);
                if (rc)
                    return rc;
            }
            if (rc < 0)
                return rc;
            sx_otlp__pop(&d);
        }
        if (rc < 0)
            return rc;
        sx_otlp__pop(&d);
    }
    return rc < 0 ? rc : 0;
}
