/* SPDX-License-Identifier: Apache-2.0 */
/* VictoriaMetrics JSON lines: the decoder behind /api/v1/import and the
 * line encoder behind /api/v1/export (the format is described in
 * vm_import.h). Lines are parsed one at a time with jansson; every string
 * kept is copied into the batch's arena, so nothing points into jansson's
 * heap or the request body once a call returns. The encoder and the decoder
 * agree on every value, so export followed by import is lossless. */
#include "vm_import.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <strings.h>

/* ---- Special values ---- */

/* Parse the string spellings of special floats: "NaN", "Infinity", "Inf"
 * with an optional sign, in any case. Returns false for anything else. */
static bool special_float(const char *s, size_t n, double *v)
{
    bool neg = false;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s++;
        n--;
    }
    if ((n == 3 && strncasecmp(s, "inf", 3) == 0) ||
        (n == 8 && strncasecmp(s, "infinity", 8) == 0)) {
        *v = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (n == 3 && strncasecmp(s, "nan", 3) == 0) {
        *v = NAN;
        return true;
    }
    return false;
}

static void put_value(sx_buf_t *b, double v)
{
    if (isnan(v)) {
        sx_buf_puts(b, sx_is_stale_nan(v) ? "null" : "\"NaN\"");
    } else if (isinf(v)) {
        sx_buf_puts(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    } else {
        char tmp[SX_FLOAT_BUF];
        int n = sx_format_float(tmp, v);
        sx_buf_append(b, tmp, (size_t)n);
    }
}

/* ---- Base64 (RFC 4648, standard alphabet, padded) ---- */

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode padded base64 into the arena. Rejects bad characters, bad padding
 * and non-zero trailing bits, so that every blob has one spelling. */
static bool decode_base64(sx_arena_t *a, const char *s, size_t n, sx_str_t *out)
{
    if (n % 4)
        return false;
    size_t pad = 0;
    if (n && s[n - 1] == '=')
        pad = n >= 2 && s[n - 2] == '=' ? 2 : 1;
    char *o = sx_arena_alloc(a, n / 4 * 3 + 1);
    size_t len = 0;
    for (size_t i = 0; i < n; i += 4) {
        bool last = i + 4 == n;
        int v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = last && k >= 4 - (int)pad ? 0 : b64_val(s[i + k]);
            if (v[k] < 0)
                return false;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        o[len++] = (char)(w >> 16);
        if (last && pad == 2) {
            if (w & 0xffff)
                return false;
            break;
        }
        o[len++] = (char)(w >> 8);
        if (last && pad == 1) {
            if (w & 0xff)
                return false;
            break;
        }
        o[len++] = (char)w;
    }
    *out = (sx_str_t){o, len};
    return true;
}

/* ---- Histogram blobs ---- */

static bool read_uvarint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return false;
        unsigned char c = *(*p)++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Walk a remote-write Histogram message for well-formed protobuf framing
 * and read its own timestamp (field 15, 0 when absent), the one remote
 * write uses. The fields' meaning is not checked, as remote write does not
 * check it either. */
static bool hist_blob_ts(sx_str_t blob, int64_t *ts)
{
    const unsigned char *p = (const unsigned char *)blob.ptr, *end = p + blob.len;
    *ts = 0;
    while (p < end) {
        uint64_t tag, v;
        if (!read_uvarint(&p, end, &tag) || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX >> 3)
            return false;
        switch (tag & 7) {
        case 0:
            if (!read_uvarint(&p, end, &v))
                return false;
            if ((tag >> 3) == 15)
                *ts = (int64_t)v;
            break;
        case 1:
            if (end - p < 8)
                return false;
            p += 8;
            break;
        case 2:
            if (!read_uvarint(&p, end, &v) || v > (uint64_t)(end - p))
                return false;
            p += v;
            break;
        case 5:
            if (end - p < 4)
                return false;
            p += 4;
            break;
        default:
            return false;
        }
        if ((tag >> 3) == 15 && (tag & 7) != 0)
            return false;
    }
    return true;
}

/* ---- Encoder ---- */

void sx_vm_export_line(sx_buf_t *out, const sx_label_t *labels, uint32_t nlabels,
                       const int64_t *ts, const double *v, size_t n,
                       const sx_hist_sample_t *hists, size_t nhists)
{
    if (n == 0 && nhists == 0)
        return;
    sx_buf_puts(out, "{\"metric\":{");
    for (uint32_t i = 0; i < nlabels; i++) {
        if (i)
            sx_buf_putc(out, ',');
        sx_buf_json_str(out, labels[i].name.ptr, labels[i].name.len);
        sx_buf_putc(out, ':');
        sx_buf_json_str(out, labels[i].value.ptr, labels[i].value.len);
    }
    sx_buf_puts(out, "},\"values\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sx_buf_putc(out, ',');
        put_value(out, v[i]);
    }
    sx_buf_puts(out, "],\"timestamps\":[");
    for (size_t i = 0; i < n; i++)
        sx_buf_printf(out, i ? ",%" PRId64 : "%" PRId64, ts[i]);
    sx_buf_putc(out, ']');
    if (nhists) {
        sx_buf_puts(out, ",\"histograms\":[");
        for (size_t i = 0; i < nhists; i++) {
            if (i)
                sx_buf_putc(out, ',');
            sx_buf_putc(out, '"');
            sx_buf_put_base64(out, (const unsigned char *)hists[i].blob.ptr, hists[i].blob.len);
            sx_buf_putc(out, '"');
        }
        sx_buf_puts(out, "],\"histogram_timestamps\":[");
        for (size_t i = 0; i < nhists; i++)
            sx_buf_printf(out, i ? ",%" PRId64 : "%" PRId64, hists[i].ts);
        sx_buf_putc(out, ']');
    }
    sx_buf_puts(out, "}\n");
}

/* ---- Decoder ---- */

/* A JSON number (always a real: lines are parsed with
 * JSON_DECODE_INT_AS_REAL) that is a whole number of milliseconds. */
static bool json_timestamp(const json_t *j, int64_t *ts)
{
    if (!json_is_real(j))
        return false;
    double d = json_real_value(j);
    if (d != trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return false;
    *ts = (int64_t)d;
    return true;
}

static int decode_labels(json_t *metric, sx_series_in_t *s, sx_arena_t *a, sx_err_t *err)
{
    size_t n = json_object_size(metric);
    s->labels = sx_arena_alloc(a, (n ? n : 1) * sizeof(sx_label_t));
    uint32_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach(metric, key, val) {
        if (!json_is_string(val))
            return sx_err_set(err, SX_EPARSE, "label \"%.100s\": value is not a string", key);
        s->labels[i].name = sx_arena_strdup_str(a, sx_str(key));
        s->labels[i].value = sx_arena_strdup_str(
            a, (sx_str_t){json_string_value(val), json_string_length(val)});
        i++;
    }
    s->nlabels = sx_labels_sort(s->labels, i);
    return sx_labels_validate(s->labels, s->nlabels, err);
}

static int decode_samples(json_t *values, json_t *stamps, sx_series_in_t *s, sx_arena_t *a,
                          sx_err_t *err)
{
    if (!values && !stamps)
        return 0;
    if (!json_is_array(values))
        return sx_err_set(err, SX_EPARSE, "\"values\" is missing or not an array");
    if (!json_is_array(stamps))
        return sx_err_set(err, SX_EPARSE, "\"timestamps\" is missing or not an array");
    size_t n = json_array_size(values);
    if (n != json_array_size(stamps))
        return sx_err_set(err, SX_EPARSE,
                          "\"timestamps\" array size must match \"values\" array size; "
                          "got %zu; want %zu",
                          json_array_size(stamps), n);
    if (n > UINT32_MAX)
        return sx_err_set(err, SX_EPARSE, "too many samples");
    s->samples = sx_arena_alloc(a, (n ? n : 1) * sizeof(sx_sample_t));
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(values, i), *t = json_array_get(stamps, i);
        sx_sample_t *smp = &s->samples[i];
        if (json_is_real(v))
            smp->v = json_real_value(v);
        else if (json_is_null(v))
            smp->v = sx_stale_nan();
        else if (!json_is_string(v) ||
                 !special_float(json_string_value(v), json_string_length(v), &smp->v))
            return sx_err_set(err, SX_EPARSE,
                              "value %zu: not a number, null, \"NaN\" or \"Infinity\"", i);
        if (!json_timestamp(t, &smp->ts))
            return sx_err_set(err, SX_EPARSE,
                              "timestamp %zu: not an integer number of milliseconds", i);
    }
    s->nsamples = (uint32_t)n;
    return 0;
}

static int decode_hists(json_t *blobs, json_t *stamps, sx_series_in_t *s, sx_arena_t *a,
                        sx_err_t *err)
{
    if (!blobs && !stamps)
        return 0;
    if (!json_is_array(blobs))
        return sx_err_set(err, SX_EPARSE, "\"histograms\" is missing or not an array");
    if (!json_is_array(stamps))
        return sx_err_set(err, SX_EPARSE, "\"histogram_timestamps\" is missing or not an array");
    size_t n = json_array_size(blobs);
    if (n != json_array_size(stamps))
        return sx_err_set(err, SX_EPARSE,
                          "\"histogram_timestamps\" array size must match \"histograms\" "
                          "array size; got %zu; want %zu",
                          json_array_size(stamps), n);
    if (n > UINT32_MAX)
        return sx_err_set(err, SX_EPARSE, "too many histograms");
    s->hists = sx_arena_alloc(a, (n ? n : 1) * sizeof(sx_hist_sample_t));
    for (size_t i = 0; i < n; i++) {
        json_t *b = json_array_get(blobs, i), *t = json_array_get(stamps, i);
        sx_hist_sample_t *h = &s->hists[i];
        int64_t own;
        if (!json_is_string(b) ||
            !decode_base64(a, json_string_value(b), json_string_length(b), &h->blob))
            return sx_err_set(err, SX_EPARSE, "histogram %zu: not a base64 string", i);
        if (!hist_blob_ts(h->blob, &own))
            return sx_err_set(err, SX_EPARSE, "histogram %zu: not a protobuf Histogram message", i);
        if (!json_timestamp(t, &h->ts))
            return sx_err_set(err, SX_EPARSE,
                              "histogram timestamp %zu: not an integer number of milliseconds", i);
        if (h->ts != own)
            return sx_err_set(err, SX_EPARSE,
                              "histogram %zu: timestamp %" PRId64
                              " differs from the message's own timestamp %" PRId64,
                              i, h->ts, own);
    }
    s->nhists = (uint32_t)n;
    return 0;
}

/* Decode one non-blank line into a new series of out. */
static int decode_line(const char *p, size_t n, sx_metric_batch_t *out, sx_err_t *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(p, n, JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return sx_err_set(err, SX_EPARSE, "cannot parse JSON: %s at column %d", jerr.text,
                          jerr.column);
    int rc;
    json_t *metric = json_object_get(root, "metric");
    if (!json_is_object(root)) {
        rc = sx_err_set(err, SX_EPARSE, "not a JSON object");
        goto done;
    }
    if (!json_is_object(metric)) {
        rc = sx_err_set(err, SX_EPARSE, "missing \"metric\" object");
        goto done;
    }
    sx_series_in_t *s = sx_metric_batch_add(out);
    json_t *values = json_object_get(root, "values"), *stamps = json_object_get(root, "timestamps");
    if ((rc = decode_labels(metric, s, out->arena, err)) ||
        (rc = decode_samples(values, stamps, s, out->arena, err)) ||
        (rc = decode_hists(json_object_get(root, "histograms"),
                           json_object_get(root, "histogram_timestamps"), s, out->arena, err)))
        goto done;
    if (s->nsamples == 0 && s->nhists == 0) {
        rc = sx_err_set(err, SX_EPARSE, "no samples: \"values\" and \"histograms\" are empty");
        goto done;
    }
    out->nsamples += s->nsamples + s->nhists;
done:
    json_decref(root);
    return rc;
}

int sx_vm_import_decode(const char *buf, size_t len, sx_metric_batch_t *out, sx_err_t *err)
{
    sx_err_t local;
    if (!err)
        err = &local;
    size_t lineno = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        lineno++;
        size_t n = (size_t)(e - p);
        if (n && p[n - 1] == '\r')
            n--;
        size_t i = 0;
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
            i++;
        if (i < n) {
            int rc = decode_line(p, n, out, err);
            if (rc)
                return sx_err_wrap(err, "line %zu: ", lineno);
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}
