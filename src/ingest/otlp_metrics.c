/* SPDX-License-Identifier: Apache-2.0 */
/* OTLP metrics: ExportMetricsServiceRequest -> Prometheus series, by the
 * OpenTelemetry specification's "Prometheus and OpenMetrics Compatibility"
 * rules as Prometheus' OTLP receiver implements them (its otlptranslator
 * package): name normalization with unit and type suffixes, label
 * sanitizing, job/instance/target_info from the resource, histograms as
 * bucket series, exponential histograms as native histogram blobs that the
 * PromQL engine decodes (src/query/promql/hist.c). Every data point gives
 * its own series entries with one sample each; storage merges equal label
 * sets. Each ResourceMetrics and Metric is walked twice: once for what the
 * rest depends on (resource, name, unit, temporality), then for the data. */
#include "otlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/hash.h"
#include "otlp_int.h"

/* ---- Schema (metrics.proto, metrics_service.proto) ---- */

#define F(num, kind, json, proto) {num, kind, 0, json, proto, NULL, NULL}
#define FM(num, json, proto, sub) {num, SX_OTLP__MSG, 0, json, proto, sub, NULL}
#define FE(num, json, proto, names) {num, SX_OTLP__ENUM, 0, json, proto, NULL, names}
#define MSG(var, label, arr) static const sx_otlp__msg_def_t var = {label, arr, sizeof(arr) / sizeof(arr[0])}
#define ATTRS(num) FM(num, "attributes", "attributes", &sx_otlp__keyvalue_def)

static const sx_otlp__enum_name_t temporality_names[] = {
    {"AGGREGATION_TEMPORALITY_UNSPECIFIED", 0},
    {"AGGREGATION_TEMPORALITY_DELTA", 1},
    {"AGGREGATION_TEMPORALITY_CUMULATIVE", 2},
    {NULL, 0},
};

/* Field numbers common to the data point messages. */
enum { DP_START = 2, DP_TIME = 3, DP_COUNT = 4, DP_SUM = 5 };

static const sx_otlp__field_def_t number_dp_fields[] = {
    ATTRS(7),
    F(DP_START, SX_OTLP__FIXED64, "startTimeUnixNano", "start_time_unix_nano"),
    F(DP_TIME, SX_OTLP__FIXED64, "timeUnixNano", "time_unix_nano"),
    F(4, SX_OTLP__DOUBLE, "asDouble", "as_double"),
    F(6, SX_OTLP__SFIXED64, "asInt", "as_int"),
    F(8, SX_OTLP__VARINT, "flags", "flags"),
};
MSG(number_dp_def, "NumberDataPoint", number_dp_fields);

static const sx_otlp__field_def_t hist_dp_fields[] = {
    ATTRS(9),
    F(DP_START, SX_OTLP__FIXED64, "startTimeUnixNano", "start_time_unix_nano"),
    F(DP_TIME, SX_OTLP__FIXED64, "timeUnixNano", "time_unix_nano"),
    F(DP_COUNT, SX_OTLP__FIXED64, "count", "count"),
    F(DP_SUM, SX_OTLP__DOUBLE, "sum", "sum"),
    F(6, SX_OTLP__FIXED64, "bucketCounts", "bucket_counts"),
    F(7, SX_OTLP__DOUBLE, "explicitBounds", "explicit_bounds"),
    F(10, SX_OTLP__VARINT, "flags", "flags"),
};
MSG(hist_dp_def, "HistogramDataPoint", hist_dp_fields);

static const sx_otlp__field_def_t buckets_fields[] = {
    F(1, SX_OTLP__SINT32, "offset", "offset"),
    F(2, SX_OTLP__VARINT, "bucketCounts", "bucket_counts"),
};
MSG(buckets_def, "Buckets", buckets_fields);

static const sx_otlp__field_def_t exp_dp_fields[] = {
    ATTRS(1),
    F(DP_START, SX_OTLP__FIXED64, "startTimeUnixNano", "start_time_unix_nano"),
    F(DP_TIME, SX_OTLP__FIXED64, "timeUnixNano", "time_unix_nano"),
    F(DP_COUNT, SX_OTLP__FIXED64, "count", "count"),
    F(DP_SUM, SX_OTLP__DOUBLE, "sum", "sum"),
    F(6, SX_OTLP__SINT32, "scale", "scale"),
    F(7, SX_OTLP__FIXED64, "zeroCount", "zero_count"),
    FM(8, "positive", "positive", &buckets_def),
    FM(9, "negative", "negative", &buckets_def),
    F(10, SX_OTLP__VARINT, "flags", "flags"),
    F(14, SX_OTLP__DOUBLE, "zeroThreshold", "zero_threshold"),
};
MSG(exp_dp_def, "ExponentialHistogramDataPoint", exp_dp_fields);

static const sx_otlp__field_def_t quantile_fields[] = {
    F(1, SX_OTLP__DOUBLE, "quantile", "quantile"),
    F(2, SX_OTLP__DOUBLE, "value", "value"),
};
MSG(quantile_def, "ValueAtQuantile", quantile_fields);

static const sx_otlp__field_def_t summary_dp_fields[] = {
    ATTRS(7),
    F(DP_START, SX_OTLP__FIXED64, "startTimeUnixNano", "start_time_unix_nano"),
    F(DP_TIME, SX_OTLP__FIXED64, "timeUnixNano", "time_unix_nano"),
    F(DP_COUNT, SX_OTLP__FIXED64, "count", "count"),
    F(DP_SUM, SX_OTLP__DOUBLE, "sum", "sum"),
    FM(6, "quantileValues", "quantile_values", &quantile_def),
    F(8, SX_OTLP__VARINT, "flags", "flags"),
};
MSG(summary_dp_def, "SummaryDataPoint", summary_dp_fields);

/* The five data kinds: data_points = 1, aggregation_temporality = 2,
 * is_monotonic = 3 (sums only). */
static const sx_otlp__field_def_t gauge_fields[] = {
    FM(1, "dataPoints", "data_points", &number_dp_def),
};
MSG(gauge_def, "Gauge", gauge_fields);
static const sx_otlp__field_def_t sum_fields[] = {
    FM(1, "dataPoints", "data_points", &number_dp_def),
    FE(2, "aggregationTemporality", "aggregation_temporality", temporality_names),
    F(3, SX_OTLP__BOOL, "isMonotonic", "is_monotonic"),
};
MSG(sum_def, "Sum", sum_fields);
static const sx_otlp__field_def_t histogram_fields[] = {
    FM(1, "dataPoints", "data_points", &hist_dp_def),
    FE(2, "aggregationTemporality", "aggregation_temporality", temporality_names),
};
MSG(histogram_def, "Histogram", histogram_fields);
static const sx_otlp__field_def_t exp_histogram_fields[] = {
    FM(1, "dataPoints", "data_points", &exp_dp_def),
    FE(2, "aggregationTemporality", "aggregation_temporality", temporality_names),
};
MSG(exp_histogram_def, "ExponentialHistogram", exp_histogram_fields);
static const sx_otlp__field_def_t summary_fields[] = {
    FM(1, "dataPoints", "data_points", &summary_dp_def),
};
MSG(summary_def, "Summary", summary_fields);

enum { M_NAME = 1, M_DESC = 2, M_UNIT = 3, M_GAUGE = 5, M_SUM = 7, M_HIST = 9, M_EXP = 10, M_SUMMARY = 11 };

static const sx_otlp__field_def_t metric_fields[] = {
    F(M_NAME, SX_OTLP__STR, "name", "name"),
    F(M_DESC, SX_OTLP__STR, "description", "description"),
    F(M_UNIT, SX_OTLP__STR, "unit", "unit"),
    FM(M_GAUGE, "gauge", "gauge", &gauge_def),
    FM(M_SUM, "sum", "sum", &sum_def),
    FM(M_HIST, "histogram", "histogram", &histogram_def),
    FM(M_EXP, "exponentialHistogram", "exponential_histogram", &exp_histogram_def),
    FM(M_SUMMARY, "summary", "summary", &summary_def),
};
MSG(metric_def, "Metric", metric_fields);

static const sx_otlp__field_def_t scope_metrics_fields[] = {
    FM(1, "scope", "scope", &sx_otlp__scope_def),
    FM(2, "metrics", "metrics", &metric_def),
    F(3, SX_OTLP__STR, "schemaUrl", "schema_url"),
};
MSG(scope_metrics_def, "ScopeMetrics", scope_metrics_fields);

static const sx_otlp__field_def_t resource_metrics_fields[] = {
    FM(1, "resource", "resource", &sx_otlp__resource_def),
    FM(2, "scopeMetrics", "scope_metrics", &scope_metrics_def),
    F(3, SX_OTLP__STR, "schemaUrl", "schema_url"),
};
MSG(resource_metrics_def, "ResourceMetrics", resource_metrics_fields);

static const sx_otlp__field_def_t metrics_request_fields[] = {
    FM(1, "resourceMetrics", "resource_metrics", &resource_metrics_def),
};
const sx_otlp__msg_def_t sx_otlp__metrics_request_def = {"ExportMetricsServiceRequest", metrics_request_fields, 1};

/* ---- Names ---- */

/* otlptranslator's unitMap and perUnitMap. */
static const char *const unit_map[][2] = {
    {"d", "days"},         {"h", "hours"},        {"min", "minutes"},    {"s", "seconds"},
    {"ms", "milliseconds"}, {"us", "microseconds"}, {"ns", "nanoseconds"}, {"By", "bytes"},
    {"KiBy", "kibibytes"}, {"MiBy", "mebibytes"}, {"GiBy", "gibibytes"}, {"TiBy", "tibibytes"},
    {"KBy", "kilobytes"},  {"MBy", "megabytes"},  {"GBy", "gigabytes"},  {"TBy", "terabytes"},
    {"m", "meters"},       {"V", "volts"},        {"A", "amperes"},      {"J", "joules"},
    {"W", "watts"},        {"g", "grams"},        {"Cel", "celsius"},    {"Hz", "hertz"},
    {"1", ""},             {"%", "percent"},
};
static const char *const per_unit_map[][2] = {
    {"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
    {"w", "week"},   {"mo", "month"}, {"y", "year"},
};

static sx_str_t trim_space(sx_str_t s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t' || s.ptr[0] == '\n' || s.ptr[0] == '\r'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t' ||
                     s.ptr[s.len - 1] == '\n' || s.ptr[s.len - 1] == '\r'))
        s.len--;
    return s;
}

static bool has_brace(sx_str_t s)
{
    return memchr(s.ptr ? s.ptr : "", '{', s.len) || memchr(s.ptr ? s.ptr : "", '}', s.len);
}

static sx_str_t map_unit(sx_str_t u, const char *const (*map)[2], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sx_str_eq_cstr(u, map[i][0]))
            return sx_str(map[i][1]);
    return u;
}

static bool metric_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':';
}

/* cleanUpUnit: characters outside [a-zA-Z0-9:] to '_', runs of '_' to one,
 * no leading '_'. Writes into o (at least s.len bytes); returns the length. */
static size_t clean_unit(sx_str_t s, char *o)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = metric_char(s.ptr[i]) ? s.ptr[i] : '_';
        if (c == '_' && (n == 0 || o[n - 1] == '_'))
            continue;
        o[n++] = c;
    }
    return n;
}

/* The main and per-unit suffixes of unit (buildUnitSuffixes, then
 * cleanUpUnit), written into the caller's buffers of unit.len + 8 bytes. */
static void unit_suffixes(sx_str_t unit, char *mbuf, size_t *mlen, char *pbuf, size_t *plen)
{
    *mlen = *plen = 0;
    const char *slash = unit.len ? memchr(unit.ptr, '/', unit.len) : NULL;
    sx_str_t main = {unit.ptr, slash ? (size_t)(slash - unit.ptr) : unit.len};
    main = trim_space(main);
    if (main.len && !has_brace(main))
        *mlen = clean_unit(map_unit(main, unit_map, sizeof(unit_map) / sizeof(unit_map[0])), mbuf);
    if (slash) {
        sx_str_t per = {slash + 1, unit.len - (size_t)(slash + 1 - unit.ptr)};
        per = trim_space(per);
        if (per.len && !has_brace(per)) {
            sx_str_t p = map_unit(per, per_unit_map, sizeof(per_unit_map) / sizeof(per_unit_map[0]));
            if (p.len) {
                char tmp[8 + 64];
                char *t = p.len + 4 <= 64 ? tmp : NULL;
                /* "per_" + p, cleaned; long units are cleaned in place of tmp. */
                if (t) {
                    memcpy(t, "per_", 4);
                    memcpy(t + 4, p.ptr, p.len);
                    *plen = clean_unit((sx_str_t){t, p.len + 4}, pbuf);
                } else {
                    memcpy(pbuf, "per_", 4);
                    size_t k = clean_unit(p, pbuf + 4);
                    *plen = 4 + k;
                }
            }
        }
    }
}

sx_str_t sx_otlp_metric_name(sx_arena_t *a, sx_str_t name, sx_str_t unit, int type)
{
    /* Tokens of the name: runs of [a-zA-Z0-9:]. */
    size_t maxtok = name.len / 2 + 4;
    sx_str_t *tok = sx_arena_alloc(a, maxtok * sizeof(*tok));
    char *mbuf = sx_arena_alloc(a, unit.len + 8), *pbuf = sx_arena_alloc(a, unit.len + 8);
    char *out = sx_arena_alloc(a, name.len + 2 * unit.len + 32);
    if (!tok || !mbuf || !pbuf || !out)
        return (sx_str_t){NULL, 0};
    size_t nt = 0;
    for (size_t i = 0; i < name.len;) {
        if (!metric_char(name.ptr[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < name.len && metric_char(name.ptr[j]))
            j++;
        tok[nt++] = (sx_str_t){name.ptr + i, j - i};
        i = j;
    }
    size_t ml, pl;
    unit_suffixes(unit, mbuf, &ml, pbuf, &pl);
    sx_str_t main = {mbuf, ml}, per = {pbuf, pl};
    for (size_t i = 0; i < nt; i++)
        if (main.len && sx_str_eq(tok[i], main))
            main.len = 0;
    if (sx_str_eq_cstr(per, "per_")) {
        per.len = 0;
    } else {
        while (per.len && per.ptr[per.len - 1] == '_')
            per.len--;
        for (size_t i = 0; i < nt; i++)
            if (per.len && sx_str_eq(tok[i], per))
                per.len = 0;
    }
    if (per.len)
        while (main.len && main.ptr[main.len - 1] == '_')
            main.len--;
    if (main.len)
        tok[nt++] = main;
    if (per.len)
        tok[nt++] = per;
    const char *suffix = NULL;
    if (type == SX_MT_COUNTER)
        suffix = "total";
    else if (type == SX_MT_GAUGE && sx_str_eq_cstr(unit, "1"))
        suffix = "ratio";
    if (suffix) {
        size_t k = 0;
        for (size_t i = 0; i < nt; i++)
            if (!sx_str_eq_cstr(tok[i], suffix))
                tok[k++] = tok[i];
        nt = k;
        tok[nt++] = sx_str(suffix);
    }
    size_t n = 0;
    for (size_t i = 0; i < nt; i++) {
        if (i)
            out[n++] = '_';
        memcpy(out + n, tok[i].ptr, tok[i].len);
        n += tok[i].len;
    }
    if (n && out[0] >= '0' && out[0] <= '9') {
        memmove(out + 1, out, n);
        out[0] = '_';
        n++;
    }
    return (sx_str_t){out, n};
}

/* The unit as Prometheus metadata carries it: "milliseconds",
 * "bytes_per_second", "" for "1". */
static sx_str_t prom_unit(sx_arena_t *a, sx_str_t unit)
{
    char *m = sx_arena_alloc(a, unit.len + 8), *p = sx_arena_alloc(a, unit.len + 8);
    char *o = sx_arena_alloc(a, 2 * unit.len + 17);
    if (!m || !p || !o)
        return (sx_str_t){"", 0};
    size_t ml, pl, n = 0;
    unit_suffixes(unit, m, &ml, p, &pl);
    while (pl && p[pl - 1] == '_')
        pl--;
    if (pl && sx_str_eq_cstr((sx_str_t){p, pl}, "per"))
        pl = 0;
    memcpy(o, m, ml);
    n = ml;
    if (pl) {
        while (n && o[n - 1] == '_')
            n--;
        if (n)
            o[n++] = '_';
        memcpy(o + n, p, pl);
        n += pl;
    }
    return (sx_str_t){o, n};
}

/* ---- Decoding state ---- */

typedef struct mdec {
    sx_otlp__dec_t d;
    int fmt;
    const sx_otlp_metric_opts_t *o;
    sx_metric_batch_t *b;
    /* metadata already added, by family name: open addressing over indices + 1 */
    uint32_t *mset;
    size_t mcap;
    /* the current resource */
    sx_label_t *rlabels; /* job, instance, promoted attributes (sorted later) */
    uint32_t nrlabels, rlcap;
    sx_label_t *info;    /* target_info labels (non-identifying attributes) */
    uint32_t ninfo, icap;
    int64_t max_ts;      /* latest data point timestamp of the resource, ms */
    bool emitted;        /* the resource gave a sample */
    /* the current scope */
    sx_str_t scope_name, scope_version;
    /* the current metric */
    sx_str_t name;       /* normalized */
    sx_str_t otel_name;  /* as sent */
} mdec_t;

static int oom(mdec_t *m)
{
    return sx_otlp__oom(&m->d);
}

/* Add metadata for a family once per request. */
static int add_meta(mdec_t *m, sx_str_t name, int type, sx_str_t help, sx_str_t unit)
{
    sx_metric_batch_t *b = m->b;
    if (m->mcap == 0 || (b->nmeta + 1) * 2 > m->mcap) {
        size_t ncap = m->mcap ? m->mcap * 2 : 64;
        uint32_t *ns = sx_arena_calloc(m->d.arena, ncap, sizeof(*ns));
        if (!ns)
            return oom(m);
        for (size_t i = 0; i < b->nmeta; i++) {
            size_t h = (size_t)sx_hash64(b->meta[i].metric.ptr, b->meta[i].metric.len) & (ncap - 1);
            while (ns[h])
                h = (h + 1) & (ncap - 1);
            ns[h] = (uint32_t)i + 1;
        }
        m->mset = ns;
        m->mcap = ncap;
    }
    size_t h = (size_t)sx_hash64(name.ptr, name.len) & (m->mcap - 1);
    while (m->mset[h]) {
        if (sx_str_eq(b->meta[m->mset[h] - 1].metric, name))
            return 0;
        h = (h + 1) & (m->mcap - 1);
    }
    if (b->nmeta >= UINT32_MAX - 1)
        return oom(m);
    sx_metric_meta_t *mm = sx_metric_batch_add_meta(b);
    if (!mm)
        return oom(m);
    mm->metric = name;
    mm->type = type;
    mm->help = help;
    mm->unit = unit;
    m->mset[h] = (uint32_t)b->nmeta;
    return 0;
}

/* ---- Labels ---- */

typedef struct plabel {
    sx_str_t name, value, key; /* sanitized name, value, original key */
    uint32_t idx;
} plabel_t;

static int cmp_plabel(const void *x, const void *y)
{
    const plabel_t *a = x, *b = y;
    int c = sx_str_cmp(a->name, b->name);
    if (!c)
        c = sx_str_cmp(a->key, b->key);
    if (!c)
        c = a->idx < b->idx ? -1 : a->idx > b->idx;
    return c;
}

static int cmp_label(const void *x, const void *y)
{
    return sx_str_cmp(((const sx_label_t *)x)->name, ((const sx_label_t *)y)->name);
}

/* Attributes to labels as Prometheus' createAttributes: names sanitized,
 * sorted by name then original key, values of equal names joined with ';'.
 * Empty names and values are left out. Result sorted by name, unique. */
static int attrs_to_labels(mdec_t *m, const sx_attr_t *attrs, uint32_t n, sx_label_t **out,
                           uint32_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (!n)
        return 0;
    plabel_t *pl = sx_arena_alloc(m->d.arena, (size_t)n * sizeof(*pl));
    if (!pl)
        return oom(m);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        sx_str_t name = sx_otlp__label_name(m->d.arena, attrs[i].key), val;
        if (attrs[i].key.len && !name.ptr)
            return oom(m);
        int rc = sx_otlp__anyval_string(&m->d, &attrs[i].value, &val);
        if (rc)
            return rc;
        if (!name.len || !val.len)
            continue;
        pl[k] = (plabel_t){name, val, attrs[i].key, i};
        k++;
    }
    qsort(pl, k, sizeof(*pl), cmp_plabel);
    sx_label_t *ls = sx_arena_alloc(m->d.arena, (size_t)(k ? k : 1) * sizeof(*ls));
    if (!ls)
        return oom(m);
    uint32_t o = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (o && sx_str_eq(ls[o - 1].name, pl[i].name)) {
            sx_str_t a = ls[o - 1].value, b = pl[i].value;
            char *p = sx_arena_alloc(m->d.arena, a.len + 1 + b.len);
            if (!p)
                return oom(m);
            memcpy(p, a.ptr, a.len);
            p[a.len] = ';';
            memcpy(p + a.len + 1, b.ptr, b.len);
            ls[o - 1].value = (sx_str_t){p, a.len + 1 + b.len};
            continue;
        }
        ls[o].name = pl[i].name;
        ls[o].value = pl[i].value;
        o++;
    }
    *out = ls;
    *nout = o;
    return 0;
}

/* Set name=value in the sorted-later array (replace or append). */
static int set_label(mdec_t *m, sx_label_t **ls, uint32_t *n, uint32_t *cap, sx_str_t name,
                     sx_str_t value)
{
    for (uint32_t i = 0; i < *n; i++)
        if (sx_str_eq((*ls)[i].name, name)) {
            (*ls)[i].value = value;
            return 0;
        }
    return sx_otlp__label_push(&m->d, ls, n, cap, name, value);
}

/* The labels of a data point: attributes, then promoted resource
 * attributes where the point has none of that name, then job, instance and
 * scope labels, which win. Not yet sorted. */
static int point_labels(mdec_t *m, const sx_attr_t *attrs, uint32_t nattrs, sx_label_t **out,
                        uint32_t *nout, uint32_t *cap)
{
    sx_label_t *al;
    uint32_t na;
    int rc;
    if ((rc = attrs_to_labels(m, attrs, nattrs, &al, &na)))
        return rc;
    *out = NULL;
    *nout = 0;
    *cap = 0;
    for (uint32_t i = 0; i < na; i++)
        if ((rc = sx_otlp__label_push(&m->d, out, nout, cap, al[i].name, al[i].value)))
            return rc;
    for (uint32_t i = 0; i < m->nrlabels; i++) {
        const sx_label_t *r = &m->rlabels[i];
        bool ident = sx_str_eq_cstr(r->name, "job") || sx_str_eq_cstr(r->name, "instance");
        uint32_t j;
        for (j = 0; j < na && !sx_str_eq(al[j].name, r->name); j++)
            ;
        if (j < na && !ident)
            continue; /* the point's own attribute wins over a promoted one */
        if ((rc = set_label(m, out, nout, cap, r->name, r->value)))
            return rc;
    }
    if (m->o->scope_labels) {
        if (m->scope_name.len &&
            (rc = set_label(m, out, nout, cap, SX_STR_LIT("otel_scope_name"), m->scope_name)))
            return rc;
        if (m->scope_version.len &&
            (rc = set_label(m, out, nout, cap, SX_STR_LIT("otel_scope_version"), m->scope_version)))
            return rc;
    }
    return 0;
}

/* A new series: base labels (minus any __name__ and extra name) plus
 * __name__ = name + suffix and the extra label, sorted. */
static sx_series_in_t *new_series(mdec_t *m, const sx_label_t *base, uint32_t nbase,
                                  const char *suffix, const char *xname, sx_str_t xval)
{
    size_t sl = suffix ? strlen(suffix) : 0;
    sx_label_t *ls = sx_arena_alloc(m->d.arena, ((size_t)nbase + 2) * sizeof(*ls));
    char *nm = sx_arena_alloc(m->d.arena, m->name.len + sl + 1);
    if (!ls || !nm)
        return NULL;
    memcpy(nm, m->name.ptr, m->name.len);
    if (sl)
        memcpy(nm + m->name.len, suffix, sl);
    uint32_t n = 0;
    for (uint32_t i = 0; i < nbase; i++) {
        if (sx_str_eq_cstr(base[i].name, "__name__") ||
            (xname && sx_str_eq_cstr(base[i].name, xname)) || !base[i].value.len)
            continue;
        ls[n++] = base[i];
    }
    ls[n++] = (sx_label_t){SX_STR_LIT("__name__"), {nm, m->name.len + sl}};
    if (xname)
        ls[n++] = (sx_label_t){sx_str(xname), xval};
    qsort(ls, n, sizeof(*ls), cmp_label);
    sx_series_in_t *s = sx_metric_batch_add(m->b);
    if (!s)
        return NULL;
    s->labels = ls;
    s->nlabels = n;
    return s;
}

static int emit_float(mdec_t *m, const sx_label_t *base, uint32_t nbase, const char *suffix,
                      const char *xname, sx_str_t xval, int64_t ts, double v)
{
    sx_sample_t *smp = sx_arena_alloc(m->d.arena, sizeof(*smp));
    sx_series_in_t *s = smp ? new_series(m, base, nbase, suffix, xname, xval) : NULL;
    if (!s)
        return oom(m);
    smp->ts = ts;
    smp->v = v;
    s->samples = smp;
    s->nsamples = 1;
    m->b->nsamples++;
    m->emitted = true;
    if (ts > m->max_ts)
        m->max_ts = ts;
    return 0;
}

static sx_str_t fmt_float(mdec_t *m, double v)
{
    char tmp[SX_FLOAT_BUF];
    int n;
    if (isinf(v))
        n = snprintf(tmp, sizeof(tmp), "%s", v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        n = snprintf(tmp, sizeof(tmp), "NaN");
    else
        n = sx_format_float(tmp, v);
    char *p = sx_arena_alloc(m->d.arena, (size_t)n);
    if (!p)
        return (sx_str_t){NULL, 0};
    memcpy(p, tmp, (size_t)n);
    return (sx_str_t){p, (size_t)n};
}

static int64_t ts_ms(mdec_t *m, uint64_t ns)
{
    if (!ns)
        return m->o->now_ns / 1000000;
    return (int64_t)(ns / 1000000);
}

/* ---- Data points ---- */

typedef struct u64vec {
    uint64_t *v;
    uint32_t n, cap;
} u64vec_t;

typedef struct f64vec {
    double *v;
    uint32_t n, cap;
} f64vec_t;

static bool vec_push(sx_arena_t *a, void **arr, uint32_t *n, uint32_t *cap, const void *val, size_t sz)
{
    if (*n == *cap) {
        if (*cap >= UINT32_MAX / 4)
            return false;
        uint32_t ncap = *cap ? *cap * 2 : 16;
        void *p = sx_arena_realloc(a, *arr, (size_t)*cap * sz, (size_t)ncap * sz);
        if (!p)
            return false;
        *arr = p;
        *cap = ncap;
    }
    memcpy((char *)*arr + (size_t)*n * sz, val, sz);
    (*n)++;
    return true;
}

/* Fields every data point has, collected while walking it. */
typedef struct point {
    sx_attr_t *attrs;
    uint32_t nattrs, acap;
    uint64_t time, flags, count, zero_count;
    double sum, zero_threshold;
    bool has_sum, is_int;
    uint64_t ival;
    double dval;
    int32_t scale;
    u64vec_t buckets;
    f64vec_t bounds, quantiles, qvalues;
    int32_t pos_off, neg_off;
    u64vec_t pos, neg;
} point_t;

static int read_buckets(mdec_t *m, sx_str_t msg, int32_t *off, u64vec_t *counts)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v;
    int rc;
    if ((rc = sx_otlp__it_init(&it, &m->d, &buckets_def, m->fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        if (v.num == 1)
            *off = (int32_t)(int64_t)v.u;
        else if (!vec_push(m->d.arena, (void **)&counts->v, &counts->n, &counts->cap, &v.u, sizeof(v.u)))
            return oom(m);
    }
    return rc;
}

static int read_point(mdec_t *m, const sx_otlp__msg_def_t *md, sx_str_t msg, point_t *p)
{
    sx_otlp__it_t it, qit;
    sx_otlp__val_t v, qv;
    int rc;
    memset(p, 0, sizeof(*p));
    if ((rc = sx_otlp__it_init(&it, &m->d, md, m->fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        if (v.def->sub == &sx_otlp__keyvalue_def) {
            if ((rc = sx_otlp__attr_add(&m->d, m->fmt, "attributes", v.s, &p->attrs, &p->nattrs, &p->acap)))
                return rc;
            continue;
        }
        if (v.num == DP_TIME) {
            p->time = v.u;
            continue;
        }
        if (v.num == DP_START)
            continue;
        if (md == &number_dp_def) {
            if (v.num == 4) {
                p->dval = v.d;
                p->is_int = false;
            } else if (v.num == 6) {
                p->ival = v.u;
                p->is_int = true;
            } else if (v.num == 8) {
                p->flags = v.u;
            }
            continue;
        }
        if (v.num == DP_COUNT) {
            p->count = v.u;
            continue;
        }
        if (v.num == DP_SUM) {
            p->sum = v.d;
            p->has_sum = true;
            continue;
        }
        if (md == &hist_dp_def) {
            if (v.num == 6) {
                if (!vec_push(m->d.arena, (void **)&p->buckets.v, &p->buckets.n, &p->buckets.cap, &v.u, 8))
                    return oom(m);
            } else if (v.num == 7) {
                if (!vec_push(m->d.arena, (void **)&p->bounds.v, &p->bounds.n, &p->bounds.cap, &v.d, 8))
                    return oom(m);
            } else if (v.num == 10) {
                p->flags = v.u;
            }
        } else if (md == &exp_dp_def) {
            switch (v.num) {
            case 6: p->scale = (int32_t)(int64_t)v.u; break;
            case 7: p->zero_count = v.u; break;
            case 10: p->flags = v.u; break;
            case 14: p->zero_threshold = v.d; break;
            case 8:
            case 9:
                sx_otlp__push(&m->d, v.num == 8 ? "positive" : "negative", -1);
                if (v.num == 8)
                    p->pos.n = 0;
                else
                    p->neg.n = 0;
                rc = read_buckets(m, v.s, v.num == 8 ? &p->pos_off : &p->neg_off,
                                  v.num == 8 ? &p->pos : &p->neg);
                sx_otlp__pop(&m->d);
                if (rc)
                    return rc;
                break;
            }
        } else { /* summary */
            if (v.num == 8) {
                p->flags = v.u;
            } else if (v.num == 6) {
                double q = 0, qval = 0;
                if ((rc = sx_otlp__it_init(&qit, &m->d, &quantile_def, m->fmt, v.s)))
                    return rc;
                while ((rc = sx_otlp__it_next(&qit, &qv)) > 0) {
                    if (qv.num == 1)
                        q = qv.d;
                    else
                        qval = qv.d;
                }
                if (rc < 0)
                    return rc;
                if (!vec_push(m->d.arena, (void **)&p->quantiles.v, &p->quantiles.n, &p->quantiles.cap, &q, 8) ||
                    !vec_push(m->d.arena, (void **)&p->qvalues.v, &p->qvalues.n, &p->qvalues.cap, &qval, 8))
                    return oom(m);
            }
        }
    }
    return rc < 0 ? rc : 0;
}

#define NO_RECORDED_VALUE 1u

static int do_number(mdec_t *m, const point_t *p, const sx_label_t *base, uint32_t n)
{
    double v = p->is_int ? (double)(int64_t)p->ival : p->dval;
    if (p->flags & NO_RECORDED_VALUE)
        v = sx_stale_nan();
    return emit_float(m, base, n, NULL, NULL, (sx_str_t){NULL, 0}, ts_ms(m, p->time), v);
}

static int do_histogram(mdec_t *m, const point_t *p, const sx_label_t *base, uint32_t n)
{
    int64_t ts = ts_ms(m, p->time);
    bool stale = p->flags & NO_RECORDED_VALUE;
    double sn = sx_stale_nan();
    int rc;
    if (p->buckets.n && p->buckets.n != p->bounds.n + 1) {
        sx_otlp__reject(&m->d, 1, "metric \"%.*s\": histogram data point has %u bucket counts for %u bounds",
                        (int)(m->otel_name.len > 100 ? 100 : m->otel_name.len), m->otel_name.ptr,
                        p->buckets.n, p->bounds.n);
        return 1; /* rejected */
    }
    if (p->buckets.n) {
        uint64_t cum = 0;
        for (uint32_t i = 0; i < p->bounds.n; i++) {
            cum += p->buckets.v[i];
            sx_str_t le = fmt_float(m, p->bounds.v[i]);
            if (!le.ptr)
                return oom(m);
            if ((rc = emit_float(m, base, n, "_bucket", "le", le, ts, stale ? sn : (double)cum)))
                return rc;
        }
    }
    if ((rc = emit_float(m, base, n, "_bucket", "le", SX_STR_LIT("+Inf"), ts,
                         stale ? sn : (double)p->count)))
        return rc;
    if (p->has_sum &&
        (rc = emit_float(m, base, n, "_sum", NULL, (sx_str_t){NULL, 0}, ts, stale ? sn : p->sum)))
        return rc;
    return emit_float(m, base, n, "_count", NULL, (sx_str_t){NULL, 0}, ts,
                      stale ? sn : (double)p->count);
}

static int do_summary(mdec_t *m, const point_t *p, const sx_label_t *base, uint32_t n)
{
    int64_t ts = ts_ms(m, p->time);
    bool stale = p->flags & NO_RECORDED_VALUE;
    double sn = sx_stale_nan();
    int rc;
    for (uint32_t i = 0; i < p->quantiles.n; i++) {
        sx_str_t q = fmt_float(m, p->quantiles.v[i]);
        if (!q.ptr)
            return oom(m);
        if ((rc = emit_float(m, base, n, NULL, "quantile", q, ts, stale ? sn : p->qvalues.v[i])))
            return rc;
    }
    if ((rc = emit_float(m, base, n, "_sum", NULL, (sx_str_t){NULL, 0}, ts, stale ? sn : p->sum)))
        return rc;
    return emit_float(m, base, n, "_count", NULL, (sx_str_t){NULL, 0}, ts,
                      stale ? sn : (double)p->count);
}

/* ---- Native histograms ---- */

/* Prometheus' Histogram message fields (prompb/types.proto). */
enum {
    H_COUNT_INT = 1, H_SUM = 3, H_SCHEMA = 4, H_ZERO_THRESHOLD = 5, H_ZERO_COUNT_INT = 6,
    H_NEG_SPANS = 8, H_NEG_DELTAS = 9, H_POS_SPANS = 11, H_POS_DELTAS = 12, H_TIMESTAMP = 15,
};

static void put_tag(sx_buf_t *b, uint32_t num, int wt)
{
    sx_buf_put_uvarint(b, (uint64_t)num << 3 | (uint64_t)wt);
}

static void put_f64(sx_buf_t *b, uint32_t num, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_tag(b, num, 1);
    sx_buf_put_u64le(b, u);
}

static uint64_t zigzag64(int64_t x)
{
    return ((uint64_t)x << 1) ^ (uint64_t)(x >> 63);
}

/* One side's buckets in Prometheus' layout: OTLP bucket i (offset + i)
 * covers (base^k, base^(k+1)], Prometheus bucket k+1 the same range, so
 * indices shift by one; scale_down merges 2^scale_down buckets into one.
 * Spans are split where more than two empty buckets would sit between
 * filled ones (as client_golang and Prometheus' translator do). Returns
 * false when an index leaves int32. */
static bool put_side(sx_buf_t *b, uint32_t spans_field, uint32_t deltas_field, int32_t offset,
                     const u64vec_t *counts, int scale_down)
{
    sx_buf_t deltas = SX_BUF_INIT;
    int64_t cur_idx = 0, last_idx = 0;
    uint64_t cur = 0;
    bool have_cur = false, any = false;
    int64_t prev = 0;
    /* Open span state. */
    int64_t span_off = 0;
    uint32_t span_len = 0;
    bool ok = true;

#define FLUSH_SPAN()                                                                        \
    do {                                                                                    \
        if (span_len) {                                                                     \
            char tmp[24];                                                                   \
            size_t k = 0;                                                                   \
            uint32_t z = ((uint32_t)(int32_t)span_off << 1) ^ (uint32_t)((int32_t)span_off >> 31); \
            tmp[k++] = 1 << 3;                                                              \
            for (uint64_t x = z; ; x >>= 7) {                                               \
                tmp[k++] = (char)(x >= 0x80 ? (x & 0x7f) | 0x80 : x);                      \
                if (x < 0x80) break;                                                        \
            }                                                                               \
            tmp[k++] = 2 << 3;                                                              \
            for (uint64_t x = span_len; ; x >>= 7) {                                        \
                tmp[k++] = (char)(x >= 0x80 ? (x & 0x7f) | 0x80 : x);                      \
                if (x < 0x80) break;                                                        \
            }                                                                               \
            put_tag(b, spans_field, 2);                                                     \
            sx_buf_put_uvarint(b, k);                                                       \
            sx_buf_append(b, tmp, k);                                                       \
        }                                                                                   \
    } while (0)

    /* Emit one merged bucket (idx, count) with count > 0. */
#define EMIT(idx, cnt)                                                                      \
    do {                                                                                    \
        if ((idx) < INT32_MIN || (idx) > INT32_MAX) {                                       \
            ok = false;                                                                     \
            break;                                                                          \
        }                                                                                   \
        if (!any) {                                                                         \
            span_off = (idx);                                                               \
            span_len = 0;                                                                   \
        } else {                                                                            \
            int64_t gap = (idx) - last_idx - 1;                                             \
            if (gap > 2) {                                                                  \
                FLUSH_SPAN();                                                               \
                span_off = gap;                                                             \
                span_len = 0;                                                               \
            } else {                                                                        \
                for (int64_t g = 0; g < gap; g++) {                                         \
                    sx_buf_put_uvarint(&deltas, zigzag64((int64_t)(0 - (uint64_t)prev))); \
                    prev = 0;                                                               \
                    span_len++;                                                             \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
        int64_t c = (int64_t)(cnt), dl = (int64_t)((uint64_t)c - (uint64_t)prev);           \
        sx_buf_put_uvarint(&deltas, zigzag64(dl));                                          \
        prev = c;                                                                           \
        span_len++;                                                                         \
        last_idx = (idx);                                                                   \
        any = true;                                                                         \
    } while (0)

    for (uint32_t i = 0; i < counts->n && ok; i++) {
        int64_t idx = (((int64_t)offset + i) >> scale_down) + 1;
        if (have_cur && idx == cur_idx) {
            cur += counts->v[i];
            continue;
        }
        if (have_cur && cur)
            EMIT(cur_idx, cur);
        cur_idx = idx;
        cur = counts->v[i];
        have_cur = true;
    }
    if (ok && have_cur && cur)
        EMIT(cur_idx, cur);
    if (ok) {
        FLUSH_SPAN();
        if (deltas.len) {
            put_tag(b, deltas_field, 2);
            sx_buf_put_uvarint(b, deltas.len);
            sx_buf_append(b, deltas.ptr, deltas.len);
        }
    }
#undef EMIT
#undef FLUSH_SPAN
    sx_buf_dispose(&deltas);
    return ok;
}

static int do_exp(mdec_t *m, const point_t *p, const sx_label_t *base, uint32_t n)
{
    if (p->scale < -4) {
        sx_otlp__reject(&m->d, 1, "metric \"%.*s\": exponential histogram scale %d is below -4",
                        (int)(m->otel_name.len > 100 ? 100 : m->otel_name.len), m->otel_name.ptr,
                        (int)p->scale);
        return 1;
    }
    /* Scales above 20 are outside the specification; merging by more than
     * 63 bits puts everything in one bucket anyway. */
    int scale_down = p->scale > 8 ? (p->scale - 8 > 63 ? 63 : p->scale - 8) : 0;
    int32_t schema = p->scale > 8 ? 8 : p->scale;
    int64_t ts = ts_ms(m, p->time);
    sx_buf_t b = SX_BUF_INIT;
    bool stale = p->flags & NO_RECORDED_VALUE;
    if (!stale && p->count) {
        put_tag(&b, H_COUNT_INT, 0);
        sx_buf_put_uvarint(&b, p->count);
    }
    if (stale)
        put_f64(&b, H_SUM, sx_stale_nan());
    else if (p->has_sum)
        put_f64(&b, H_SUM, p->sum);
    if (schema) {
        put_tag(&b, H_SCHEMA, 0);
        sx_buf_put_uvarint(&b, ((uint32_t)schema << 1) ^ (uint32_t)(schema >> 31));
    }
    if (!stale) {
        uint64_t zt;
        memcpy(&zt, &p->zero_threshold, 8);
        if (zt)
            put_f64(&b, H_ZERO_THRESHOLD, p->zero_threshold);
        if (p->zero_count) {
            put_tag(&b, H_ZERO_COUNT_INT, 0);
            sx_buf_put_uvarint(&b, p->zero_count);
        }
        if (!put_side(&b, H_NEG_SPANS, H_NEG_DELTAS, p->neg_off, &p->neg, scale_down) ||
            !put_side(&b, H_POS_SPANS, H_POS_DELTAS, p->pos_off, &p->pos, scale_down)) {
            sx_buf_dispose(&b);
            sx_otlp__reject(&m->d, 1, "metric \"%.*s\": exponential histogram bucket index out of range",
                            (int)(m->otel_name.len > 100 ? 100 : m->otel_name.len), m->otel_name.ptr);
            return 1;
        }
    }
    if (ts) {
        put_tag(&b, H_TIMESTAMP, 0);
        sx_buf_put_uvarint(&b, (uint64_t)ts);
    }
    char *blob = b.len ? sx_arena_alloc(m->d.arena, b.len) : (char *)"";
    sx_hist_sample_t *h = sx_arena_alloc(m->d.arena, sizeof(*h));
    sx_series_in_t *s = blob && h ? new_series(m, base, n, NULL, NULL, (sx_str_t){NULL, 0}) : NULL;
    if (!s) {
        sx_buf_dispose(&b);
        return oom(m);
    }
    if (b.len)
        memcpy(blob, b.ptr, b.len);
    h->ts = ts;
    h->blob = (sx_str_t){blob, b.len};
    sx_buf_dispose(&b);
    s->hists = h;
    s->nhists = 1;
    m->b->nsamples++;
    m->emitted = true;
    if (ts > m->max_ts)
        m->max_ts = ts;
    return 0;
}

/* ---- Metrics ---- */

static int decode_metric(mdec_t *m, sx_str_t msg)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v;
    sx_str_t name = {"", 0}, desc = {"", 0}, unit = {"", 0}, data = {NULL, 0};
    uint32_t kind = 0;
    int rc;
    if ((rc = sx_otlp__it_init(&it, &m->d, &metric_def, m->fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        switch (v.num) {
        case M_NAME: name = v.s; break;
        case M_DESC: desc = v.s; break;
        case M_UNIT: unit = v.s; break;
        default:
            kind = v.num;
            data = v.s;
            break;
        }
    }
    if (rc < 0)
        return rc;
    if (!kind)
        return 0; /* no data: nothing to store (as Prometheus) */
    const sx_otlp__msg_def_t *dd = kind == M_GAUGE ? &gauge_def
                                   : kind == M_SUM ? &sum_def
                                   : kind == M_HIST ? &histogram_def
                                   : kind == M_EXP ? &exp_histogram_def
                                                   : &summary_def;
    const sx_otlp__msg_def_t *pd = kind == M_GAUGE || kind == M_SUM ? &number_dp_def
                                   : kind == M_HIST                  ? &hist_dp_def
                                   : kind == M_EXP                   ? &exp_dp_def
                                                                     : &summary_dp_def;
    const char *dname = kind == M_GAUGE  ? "gauge"
                        : kind == M_SUM  ? "sum"
                        : kind == M_HIST ? "histogram"
                        : kind == M_EXP  ? "exponentialHistogram"
                                         : "summary";
    sx_otlp__push(&m->d, dname, -1);

    /* First pass over the data message: temporality, monotonicity. */
    int64_t temporality = 2;
    bool monotonic = false;
    int64_t npoints = 0;
    if ((rc = sx_otlp__it_init(&it, &m->d, dd, m->fmt, data)))
        return rc;
    if (kind == M_SUM || kind == M_HIST || kind == M_EXP)
        temporality = 0;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        if (v.num == 1)
            npoints++;
        else if (v.num == 2)
            temporality = (int64_t)v.u;
        else if (v.num == 3)
            monotonic = v.u != 0;
    }
    if (rc < 0)
        return rc;
    int ptype = kind == M_GAUGE ? SX_MT_GAUGE : kind == M_SUM && monotonic ? SX_MT_COUNTER : SX_MT_UNKNOWN;
    int mtype = kind == M_GAUGE || kind == M_SUM ? (monotonic ? SX_MT_COUNTER : SX_MT_GAUGE)
                : kind == M_SUMMARY ? SX_MT_SUMMARY : SX_MT_HISTOGRAM;
    int nl = (int)(name.len > 100 ? 100 : name.len);
    if (temporality != 2) {
        if (npoints)
            sx_otlp__reject(&m->d, npoints,
                            temporality == 1
                                ? "metric \"%.*s\": delta temporality is not supported, send cumulative "
                                  "(e.g. with the Collector's deltatocumulative processor)"
                                : "metric \"%.*s\": aggregation temporality is unspecified",
                            nl, name.ptr);
        sx_otlp__pop(&m->d);
        return 0;
    }
    m->otel_name = name;
    m->name = sx_otlp_metric_name(m->d.arena, name, unit, ptype);
    if (!m->name.ptr)
        return oom(m);
    if (!m->name.len) {
        if (npoints)
            sx_otlp__reject(&m->d, npoints, "metric \"%.*s\": name is empty after normalization", nl,
                            name.ptr);
        sx_otlp__pop(&m->d);
        return 0;
    }
    if (npoints && (rc = add_meta(m, m->name, mtype, desc, prom_unit(m->d.arena, unit))))
        return rc;

    /* Second pass: the data points. */
    if ((rc = sx_otlp__it_init(&it, &m->d, dd, m->fmt, data)))
        return rc;
    int64_t pi = 0;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        if (v.num != 1)
            continue;
        point_t p;
        sx_label_t *ls;
        uint32_t nls, cap;
        sx_otlp__push(&m->d, "dataPoints", pi++);
        rc = read_point(m, pd, v.s, &p);
        if (!rc)
            rc = point_labels(m, p.attrs, p.nattrs, &ls, &nls, &cap);
        sx_otlp__pop(&m->d);
        if (rc)
            return rc;
        switch (kind) {
        case M_GAUGE:
        case M_SUM: rc = do_number(m, &p, ls, nls); break;
        case M_HIST: rc = do_histogram(m, &p, ls, nls); break;
        case M_EXP: rc = do_exp(m, &p, ls, nls); break;
        default: rc = do_summary(m, &p, ls, nls); break;
        }
        if (rc < 0)
            return rc;
        if (rc == 0)
            m->d.res->accepted++;
    }
    if (rc < 0)
        return rc;
    sx_otlp__pop(&m->d);
    return 0;
}

static bool is_promoted(const sx_otlp_metric_opts_t *o, sx_str_t key)
{
    for (size_t i = 0; i < o->npromote_attrs; i++)
        if (o->promote_attrs[i] && sx_str_eq_cstr(key, o->promote_attrs[i]))
            return true;
    return false;
}

/* Resource attributes -> job, instance, promoted labels, target_info labels. */
static int decode_resource(mdec_t *m, sx_str_t msg)
{
    sx_attr_t *attrs = NULL;
    uint32_t nattrs = 0, dropped = 0;
    int rc;
    m->rlabels = m->info = NULL;
    m->nrlabels = m->rlcap = m->ninfo = m->icap = 0;
    if (msg.ptr && (rc = sx_otlp__resource(&m->d, m->fmt, msg, &attrs, &nattrs, &dropped)))
        return rc;
    sx_str_t svc = {NULL, 0}, ns = {NULL, 0}, inst = {NULL, 0};
    sx_attr_t *others = NULL, *promoted = NULL;
    uint32_t nothers = 0, npromoted = 0;
    if (nattrs) {
        others = sx_arena_alloc(m->d.arena, nattrs * sizeof(*others));
        promoted = sx_arena_alloc(m->d.arena, nattrs * sizeof(*promoted));
        if (!others || !promoted)
            return oom(m);
    }
    for (uint32_t i = 0; i < nattrs; i++) {
        const sx_attr_t *a = &attrs[i];
        sx_str_t *dst = sx_str_eq_cstr(a->key, "service.name")          ? &svc
                        : sx_str_eq_cstr(a->key, "service.namespace")   ? &ns
                        : sx_str_eq_cstr(a->key, "service.instance.id") ? &inst
                                                                        : NULL;
        if (dst) {
            if ((rc = sx_otlp__anyval_string(&m->d, &a->value, dst)))
                return rc;
        } else {
            others[nothers++] = *a;
        }
        if (is_promoted(m->o, a->key))
            promoted[npromoted++] = *a;
    }
    sx_label_t *pl;
    uint32_t npl;
    if ((rc = attrs_to_labels(m, promoted, npromoted, &pl, &npl)))
        return rc;
    for (uint32_t i = 0; i < npl; i++)
        if ((rc = sx_otlp__label_push(&m->d, &m->rlabels, &m->nrlabels, &m->rlcap, pl[i].name, pl[i].value)))
            return rc;
    sx_str_t job = {NULL, 0};
    if (svc.len) {
        job = svc;
        if (ns.len) {
            char *p = sx_arena_alloc(m->d.arena, ns.len + 1 + svc.len);
            if (!p)
                return oom(m);
            memcpy(p, ns.ptr, ns.len);
            p[ns.len] = '/';
            memcpy(p + ns.len + 1, svc.ptr, svc.len);
            job = (sx_str_t){p, ns.len + 1 + svc.len};
        }
    }
    if (job.len && (rc = set_label(m, &m->rlabels, &m->nrlabels, &m->rlcap, SX_STR_LIT("job"), job)))
        return rc;
    if (inst.len &&
        (rc = set_label(m, &m->rlabels, &m->nrlabels, &m->rlcap, SX_STR_LIT("instance"), inst)))
        return rc;
    /* target_info: the non-identifying attributes, plus job and instance. */
    if (nothers) {
        sx_label_t *il;
        uint32_t nil;
        if ((rc = attrs_to_labels(m, others, nothers, &il, &nil)))
            return rc;
        for (uint32_t i = 0; i < nil; i++)
            if ((rc = sx_otlp__label_push(&m->d, &m->info, &m->ninfo, &m->icap, il[i].name, il[i].value)))
                return rc;
        if (m->ninfo) {
            if (job.len && (rc = set_label(m, &m->info, &m->ninfo, &m->icap, SX_STR_LIT("job"), job)))
                return rc;
            if (inst.len &&
                (rc = set_label(m, &m->info, &m->ninfo, &m->icap, SX_STR_LIT("instance"), inst)))
                return rc;
        }
    }
    return 0;
}

static int find_last(mdec_t *m, const sx_otlp__msg_def_t *md, sx_str_t msg, uint32_t num, sx_str_t *out)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v;
    int rc;
    *out = (sx_str_t){NULL, 0};
    if ((rc = sx_otlp__it_init(&it, &m->d, md, m->fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0)
        if (v.num == num)
            *out = v.s;
    return rc;
}

int sx_otlp_metrics_decode(const char *buf, size_t len, int format,
                           const sx_otlp_metric_opts_t *opts, sx_metric_batch_t *out,
                           sx_otlp_result_t *res, sx_err_t *err)
{
    static const sx_otlp_metric_opts_t defaults = {NULL, 0, false, 0};
    mdec_t m;
    memset(&m, 0, sizeof(m));
    m.o = opts ? opts : &defaults;
    m.b = out;
    m.fmt = format;
    sx_otlp__it_t it, rit, sit;
    sx_otlp__val_t v, rv, sv;
    sx_str_t root;
    int rc;
    if ((rc = sx_otlp__begin(&m.d, buf, len, format, out->arena, res, err, &root)))
        return rc;
    if ((rc = sx_otlp__it_init(&it, &m.d, &sx_otlp__metrics_request_def, format, root)))
        return rc;
    int64_t ri = 0;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        sx_otlp__push(&m.d, "resourceMetrics", ri++);
        sx_str_t rmsg;
        if ((rc = find_last(&m, &resource_metrics_def, v.s, 1, &rmsg)) ||
            (rc = decode_resource(&m, rmsg)))
            return rc;
        m.max_ts = INT64_MIN;
        m.emitted = false;
        if ((rc = sx_otlp__it_init(&rit, &m.d, &resource_metrics_def, format, v.s)))
            return rc;
        int64_t si = 0;
        while ((rc = sx_otlp__it_next(&rit, &rv)) > 0) {
            if (rv.num != 2)
                continue;
            sx_otlp__push(&m.d, "scopeMetrics", si++);
            sx_str_t smsg;
            m.scope_name = m.scope_version = (sx_str_t){NULL, 0};
            if ((rc = find_last(&m, &scope_metrics_def, rv.s, 1, &smsg)))
                return rc;
            if (smsg.ptr) {
                sx_attr_t *sa = NULL;
                uint32_t nsa = 0, sdrop = 0;
                if ((rc = sx_otlp__scope(&m.d, format, smsg, &m.scope_name, &m.scope_version, &sa,
                                         &nsa, &sdrop)))
                    return rc;
            }
            if ((rc = sx_otlp__it_init(&sit, &m.d, &scope_metrics_def, format, rv.s)))
                return rc;
            int64_t mi = 0;
            while ((rc = sx_otlp__it_next(&sit, &sv)) > 0) {
                if (sv.num != 2)
                    continue;
                sx_otlp__push(&m.d, "metrics", mi++);
                rc = decode_metric(&m, sv.s);
                sx_otlp__pop(&m.d);
                if (rc)
                    return rc;
            }
            if (rc < 0)
                return rc;
            sx_otlp__pop(&m.d);
        }
        if (rc < 0)
            return rc;
        if (m.emitted && m.ninfo) {
            m.name = SX_STR_LIT("target_info");
            if ((rc = add_meta(&m, m.name, SX_MT_GAUGE, SX_STR_LIT("Target metadata"), SX_STR_LIT(""))) ||
                (rc = emit_float(&m, m.info, m.ninfo, NULL, NULL, (sx_str_t){NULL, 0}, m.max_ts, 1)))
                return rc;
        }
        sx_otlp__pop(&m.d);
    }
    return rc < 0 ? rc : 0;
}
