/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus remote write 1.0: a hand-written decoder and encoder for
 * prompb.WriteRequest. The decoder sits between the HTTP layer (which has
 * already decompressed the body) and the metric store; it copies nothing:
 * label names and values and histogram blobs are slices of the body, and
 * only the per-series arrays are allocated, once each, in the batch arena.
 * The body must therefore outlive the batch. */
#include "ingest.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../core/arena.h"
#include "protobuf.h"

/* Field numbers from prometheus/prompb (remote.proto, types.proto). */
enum {
    WRITE_REQUEST_TIMESERIES = 1,
    WRITE_REQUEST_METADATA = 3,
    TIMESERIES_LABELS = 1,
    TIMESERIES_SAMPLES = 2,
    TIMESERIES_EXEMPLARS = 3, /* skipped */
    TIMESERIES_HISTOGRAMS = 4,
    LABEL_NAME = 1,
    LABEL_VALUE = 2,
    SAMPLE_VALUE = 1,
    SAMPLE_TIMESTAMP = 2,
    HISTOGRAM_TIMESTAMP = 15,
    METADATA_TYPE = 1,
    METADATA_FAMILY_NAME = 2,
    METADATA_HELP = 4,
    METADATA_UNIT = 5,
};

/* A tag byte for the field numbers below 16 that this file writes. */
#define TAG(num, wt) ((char)(((num) << 3) | (wt)))

/* ---- Decoding ---- */

typedef struct dec {
    const char *base; /* start of the body: error offsets are relative to it */
    sx_metric_batch_t *batch;
    sx_err_t *err;
} dec_t;

/* Where an inner message went wrong: a static reason and the offending
 * field's first byte. */
typedef struct fail {
    const char *why;
    const char *at;
    uint32_t field; /* for wire-type mismatches: the field number, else 0 */
    uint32_t wt;
} fail_t;

static const char *wrong_type = "unexpected wire type";

static inline bool fail_at(fail_t *fl, const char *why, const char *at)
{
    fl->why = why;
    fl->at = at;
    fl->field = 0;
    return false;
}

static inline bool fail_type(fail_t *fl, const char *at, const pb_field_t *f)
{
    fl->why = wrong_type;
    fl->at = at;
    fl->field = f->num;
    fl->wt = f->wt;
    return false;
}

/* Fill err from fl, prefixed by the printf-style context. Returns SX_EPARSE. */
static int parse_error(const dec_t *d, const fail_t *fl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int parse_error(const dec_t *d, const fail_t *fl, const char *fmt, ...)
{
    if (!d->err)
        return SX_EPARSE;
    char ctx[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof(ctx), fmt, ap);
    va_end(ap);
    size_t off = (size_t)(fl->at - d->base);
    if (fl->why == wrong_type)
        return sx_err_set(d->err, SX_EPARSE, "%sfield %u has the wrong wire type %u at offset %zu",
                          ctx, fl->field, fl->wt, off);
    return sx_err_set(d->err, SX_EPARSE, "%s%s at offset %zu", ctx, fl->why, off);
}

/* Label{1 name, 2 value}. Missing strings are empty slices (never NULL). */
static bool decode_label_slow(sx_str_t msg, sx_label_t *l, fail_t *fl);

static inline bool decode_label(sx_str_t msg, sx_label_t *l, fail_t *fl)
{
    /* What every client sends for strings under 128 bytes:
     * 0x0a <n> name 0x12 <m> value, and nothing else. */
    const unsigned char *u = (const unsigned char *)msg.ptr;
    size_t len = msg.len;
    if (len >= 4 && u[0] == TAG(LABEL_NAME, WT_LEN) && u[1] < 0x80) {
        size_t n = u[1];
        if (n + 4 <= len && u[n + 2] == TAG(LABEL_VALUE, WT_LEN) && n + 4 + u[n + 3] == len) {
            l->name = (sx_str_t){msg.ptr + 2, n};
            l->value = (sx_str_t){msg.ptr + n + 4, u[n + 3]};
            return true;
        }
    }
    return decode_label_slow(msg, l, fl);
}

static bool decode_label_slow(sx_str_t msg, sx_label_t *l, fail_t *fl)
{
    const char *p = msg.ptr, *end = p + msg.len, *at, *why;
    pb_field_t f;
    l->name = l->value = (sx_str_t){msg.ptr, 0};
    while (p < end) {
        at = p;
        if ((why = pb_next(&p, end, &f)))
            return fail_at(fl, why, at);
        if (f.num == LABEL_NAME || f.num == LABEL_VALUE) {
            if (f.wt != WT_LEN)
                return fail_type(fl, at, &f);
            if (f.num == LABEL_NAME)
                l->name = f.s;
            else
                l->value = f.s;
        }
    }
    return true;
}

/* Sample{1 value double, 2 timestamp int64}. The value's bits are copied
 * untouched, so NaN payloads (the stale marker) survive. */
static bool decode_sample_slow(sx_str_t msg, sx_sample_t *s, fail_t *fl);

static inline bool decode_sample(sx_str_t msg, sx_sample_t *s, fail_t *fl)
{
    /* Both fields, in order: 0x09 <8 bytes> 0x10 <varint>. */
    const unsigned char *u = (const unsigned char *)msg.ptr;
    if (msg.len >= 11 && u[0] == TAG(SAMPLE_VALUE, WT_I64) &&
        u[9] == TAG(SAMPLE_TIMESTAMP, WT_VARINT)) {
        const char *p = msg.ptr + 10, *end = msg.ptr + msg.len;
        uint64_t ts;
        if (!read_uvarint(&p, end, &ts) && p == end) {
            uint64_t bits = load_le64(msg.ptr + 1);
            memcpy(&s->v, &bits, sizeof(bits));
            s->ts = (int64_t)ts;
            return true;
        }
    }
    return decode_sample_slow(msg, s, fl);
}

static bool decode_sample_slow(sx_str_t msg, sx_sample_t *s, fail_t *fl)
{
    const char *p = msg.ptr, *end = p + msg.len, *at, *why;
    pb_field_t f;
    uint64_t bits = 0;
    s->ts = 0;
    while (p < end) {
        at = p;
        if ((why = pb_next(&p, end, &f)))
            return fail_at(fl, why, at);
        if (f.num == SAMPLE_VALUE) {
            if (f.wt != WT_I64)
                return fail_type(fl, at, &f);
            bits = f.u;
        } else if (f.num == SAMPLE_TIMESTAMP) {
            if (f.wt != WT_VARINT)
                return fail_type(fl, at, &f);
            s->ts = (int64_t)f.u;
        }
    }
    memcpy(&s->v, &bits, sizeof(bits));
    return true;
}

/* Histogram: kept whole as the blob; only its timestamp (field 15) is read.
 * The other fields are checked for well-formed framing, not for meaning. */
static bool decode_histogram(sx_str_t msg, sx_hist_sample_t *h, fail_t *fl)
{
    const char *p = msg.ptr, *end = p + msg.len, *at, *why;
    pb_field_t f;
    h->blob = msg;
    h->ts = 0;
    while (p < end) {
        at = p;
        if ((why = pb_next(&p, end, &f)))
            return fail_at(fl, why, at);
        if (f.num == HISTOGRAM_TIMESTAMP) {
            if (f.wt != WT_VARINT)
                return fail_type(fl, at, &f);
            h->ts = (int64_t)f.u;
        }
    }
    return true;
}

static int arena_full(const dec_t *d)
{
    return sx_err_set(d->err, SX_ETOOLARGE, "decoded request exceeds the per-request memory limit");
}

/* Decode one TimeSeries message (msg, a slice of the body) into a new
 * series of the batch. Two passes: the first checks the framing and counts
 * labels, samples and histograms so that their arrays are allocated once,
 * at their exact size; the second fills them. */
static int decode_series(dec_t *d, size_t idx, sx_str_t msg)
{
    const char *p = msg.ptr, *end = p + msg.len, *at, *why;
    pb_field_t f;
    fail_t fl;
    size_t nl = 0, ns = 0, nh = 0;

    while (p < end) {
        if (next_len_fast(&p, end, &f.num, &f.s)) {
            nl += f.num == TIMESERIES_LABELS;
            ns += f.num == TIMESERIES_SAMPLES;
            nh += f.num == TIMESERIES_HISTOGRAMS;
            continue;
        }
        at = p;
        if ((why = pb_next(&p, end, &f))) {
            fail_at(&fl, why, at);
            return parse_error(d, &fl, "series %zu: ", idx);
        }
        switch (f.num) {
        case TIMESERIES_LABELS:
            nl++;
            break;
        case TIMESERIES_SAMPLES:
            ns++;
            break;
        case TIMESERIES_HISTOGRAMS:
            nh++;
            break;
        default:
            continue;
        }
        if (f.wt != WT_LEN) {
            fail_type(&fl, at, &f);
            return parse_error(d, &fl, "series %zu: ", idx);
        }
    }
    /* Every field takes at least two bytes, so the counts are below
     * msg.len / 2; the uint32 counts of sx_series_in_t must hold them. */
    if (nl > UINT32_MAX || ns > UINT32_MAX || nh > UINT32_MAX)
        return sx_err_set(d->err, SX_ETOOLARGE, "series %zu: more than %u labels or samples", idx,
                          UINT32_MAX);

    char *mem = NULL;
    size_t size =
        nl * sizeof(sx_label_t) + ns * sizeof(sx_sample_t) + nh * sizeof(sx_hist_sample_t);
    if (size && !(mem = sx_arena_alloc(d->batch->arena, size)))
        return arena_full(d);
    sx_series_in_t *s = sx_metric_batch_add(d->batch);
    if (!s)
        return arena_full(d);
    /* Labels first: they are 32 bytes and the other two arrays need only
     * 8-byte alignment. */
    s->labels = nl ? (sx_label_t *)mem : NULL;
    s->samples = ns ? (sx_sample_t *)(mem + nl * sizeof(sx_label_t)) : NULL;
    s->hists =
        nh ? (sx_hist_sample_t *)(mem + nl * sizeof(sx_label_t) + ns * sizeof(sx_sample_t)) : NULL;

    uint32_t il = 0, is = 0, ih = 0;
    p = msg.ptr;
    while (p < end) {
        if (!next_len_fast(&p, end, &f.num, &f.s)) {
            why = pb_next(&p, end, &f);
            SX_ASSERT(why == NULL); /* the first pass read the same bytes */
        }
        switch (f.num) {
        case TIMESERIES_LABELS:
            if (!decode_label(f.s, &s->labels[il], &fl))
                return parse_error(d, &fl, "series %zu: label %u: ", idx, il);
            il++;
            break;
        case TIMESERIES_SAMPLES:
            if (!decode_sample(f.s, &s->samples[is], &fl))
                return parse_error(d, &fl, "series %zu: sample %u: ", idx, is);
            is++;
            break;
        case TIMESERIES_HISTOGRAMS:
            if (!decode_histogram(f.s, &s->hists[ih], &fl))
                return parse_error(d, &fl, "series %zu: histogram %u: ", idx, ih);
            ih++;
            break;
        default:
            break; /* exemplars and unknown fields */
        }
    }
    s->nlabels = il;
    s->nsamples = is;
    s->nhists = ih;

    if (!d->batch->labels_unchecked) {
        int rc = sx_labels_validate(s->labels, s->nlabels, d->err);
        if (rc)
            return sx_labels_err_wrap(d->err, idx, s->labels, s->nlabels);
    }
    d->batch->nsamples += (size_t)is + ih;
    return 0;
}

/* MetricMetadata{1 type, 2 metric_family_name, 4 help, 5 unit}. Types this
 * file does not know (newer Prometheus or garbage) become SX_MT_UNKNOWN so
 * that later code may index tables by type. Strings must be UTF-8. */
static int decode_meta(dec_t *d, size_t idx, sx_str_t msg)
{
    const char *p = msg.ptr, *end = p + msg.len, *at, *why;
    pb_field_t f;
    fail_t fl;
    sx_metric_meta_t *m = sx_metric_batch_add_meta(d->batch);
    if (!m)
        return arena_full(d);
    m->metric = m->help = m->unit = (sx_str_t){msg.ptr, 0};
    while (p < end) {
        at = p;
        if ((why = pb_next(&p, end, &f))) {
            fail_at(&fl, why, at);
            return parse_error(d, &fl, "metadata %zu: ", idx);
        }
        sx_str_t *dst = NULL;
        switch (f.num) {
        case METADATA_TYPE:
            if (f.wt != WT_VARINT) {
                fail_type(&fl, at, &f);
                return parse_error(d, &fl, "metadata %zu: ", idx);
            }
            m->type = f.u <= SX_MT_STATESET ? (int)f.u : SX_MT_UNKNOWN;
            continue;
        case METADATA_FAMILY_NAME:
            dst = &m->metric;
            break;
        case METADATA_HELP:
            dst = &m->help;
            break;
        case METADATA_UNIT:
            dst = &m->unit;
            break;
        default:
            continue;
        }
        if (f.wt != WT_LEN) {
            fail_type(&fl, at, &f);
            return parse_error(d, &fl, "metadata %zu: ", idx);
        }
        if (!sx_utf8_valid(f.s.ptr, f.s.len))
            return sx_err_set(d->err, SX_EPARSE,
                              "metadata %zu: field %u is not valid UTF-8 at offset %zu", idx, f.num,
                              (size_t)(at - d->base));
        *dst = f.s;
    }
    return 0;
}

/* Decode a whole WriteRequest. Series and metadata are appended to out and
 * out->nsamples grows by the float and histogram samples decoded. Labels
 * are validated unless out->labels_unchecked is set (storage then checks
 * the series it does not know). Errors leave out partly filled; the caller
 * discards it (all or nothing). */
int sx_remote_write_decode(const char *buf, size_t len, sx_metric_batch_t *out, sx_err_t *err)
{
    if (len == 0)
        return 0; /* an empty message is a valid WriteRequest with nothing in it */
    dec_t d = {buf, out, err};
    const char *p = buf, *end = buf + len, *at, *why;
    pb_field_t f;
    fail_t fl;
    size_t nts = 0, nmeta = 0;
    int rc;

    while (p < end) {
        at = p;
        if (next_len_fast(&p, end, &f.num, &f.s)) {
            f.wt = WT_LEN;
        } else if ((why = pb_next(&p, end, &f))) {
            fail_at(&fl, why, at);
            return parse_error(&d, &fl, "write request: ");
        }
        if (f.num != WRITE_REQUEST_TIMESERIES && f.num != WRITE_REQUEST_METADATA)
            continue;
        if (f.wt != WT_LEN) {
            fail_type(&fl, at, &f);
            return parse_error(&d, &fl, "write request: ");
        }
        if (f.num == WRITE_REQUEST_TIMESERIES)
            rc = decode_series(&d, nts++, f.s);
        else
            rc = decode_meta(&d, nmeta++, f.s);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- Encoding ---- */

static inline size_t uvarint_len(uint64_t v)
{
    /* bits * 9 / 64 rounded up is bits / 7 rounded up for 1..64 bits. */
    return (size_t)(((64 - __builtin_clzll(v | 1)) * 9 + 64) / 64);
}

static inline char *put_uvarint(char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (char)v;
    return p;
}

static inline char *put_le64(char *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, 8);
#else
    for (int i = 0; i < 8; i++)
        p[i] = (char)(v >> (8 * i));
#endif
    return p + 8;
}

/* Bytes taken by a length-delimited field with a one-byte tag. */
static inline size_t len_field_size(size_t n)
{
    return 1 + uvarint_len(n) + n;
}

static inline char *put_len_field(char *p, char tag, sx_str_t s)
{
    *p++ = tag;
    p = put_uvarint(p, s.len);
    if (s.len)
        memcpy(p, s.ptr, s.len);
    return p + s.len;
}

/* Proto3 leaves out fields that hold their default value; so does this
 * encoder (a value is default only when all its bits are zero, so -0.0 is
 * kept). */
static inline size_t label_size(const sx_label_t *l)
{
    return (l->name.len ? len_field_size(l->name.len) : 0) +
           (l->value.len ? len_field_size(l->value.len) : 0);
}

static inline uint64_t double_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits;
}

static inline size_t sample_size(const sx_sample_t *s)
{
    return (double_bits(s->v) ? 9 : 0) + (s->ts ? 1 + uvarint_len((uint64_t)s->ts) : 0);
}

static size_t series_size(const sx_series_in_t *s)
{
    size_t n = 0;
    for (uint32_t i = 0; i < s->nlabels; i++)
        n += len_field_size(label_size(&s->labels[i]));
    for (uint32_t i = 0; i < s->nsamples; i++)
        n += len_field_size(sample_size(&s->samples[i]));
    for (uint32_t i = 0; i < s->nhists; i++)
        n += len_field_size(s->hists[i].blob.len);
    return n;
}

static size_t meta_size(const sx_metric_meta_t *m)
{
    return (m->type ? 1 + uvarint_len((uint64_t)(int64_t)m->type) : 0) +
           (m->metric.len ? len_field_size(m->metric.len) : 0) +
           (m->help.len ? len_field_size(m->help.len) : 0) +
           (m->unit.len ? len_field_size(m->unit.len) : 0);
}

static char *put_series(char *p, const sx_series_in_t *s, size_t size)
{
    *p++ = TAG(WRITE_REQUEST_TIMESERIES, WT_LEN);
    p = put_uvarint(p, size);
    for (uint32_t i = 0; i < s->nlabels; i++) {
        const sx_label_t *l = &s->labels[i];
        *p++ = TAG(TIMESERIES_LABELS, WT_LEN);
        p = put_uvarint(p, label_size(l));
        if (l->name.len)
            p = put_len_field(p, TAG(LABEL_NAME, WT_LEN), l->name);
        if (l->value.len)
            p = put_len_field(p, TAG(LABEL_VALUE, WT_LEN), l->value);
    }
    for (uint32_t i = 0; i < s->nsamples; i++) {
        const sx_sample_t *sm = &s->samples[i];
        uint64_t bits = double_bits(sm->v);
        *p++ = TAG(TIMESERIES_SAMPLES, WT_LEN);
        p = put_uvarint(p, sample_size(sm));
        if (bits) {
            *p++ = TAG(SAMPLE_VALUE, WT_I64);
            p = put_le64(p, bits);
        }
        if (sm->ts) {
            *p++ = TAG(SAMPLE_TIMESTAMP, WT_VARINT);
            p = put_uvarint(p, (uint64_t)sm->ts);
        }
    }
    for (uint32_t i = 0; i < s->nhists; i++)
        p = put_len_field(p, TAG(TIMESERIES_HISTOGRAMS, WT_LEN), s->hists[i].blob);
    return p;
}

static char *put_meta(char *p, const sx_metric_meta_t *m)
{
    *p++ = TAG(WRITE_REQUEST_METADATA, WT_LEN);
    p = put_uvarint(p, meta_size(m));
    if (m->type) {
        *p++ = TAG(METADATA_TYPE, WT_VARINT);
        p = put_uvarint(p, (uint64_t)(int64_t)m->type);
    }
    if (m->metric.len)
        p = put_len_field(p, TAG(METADATA_FAMILY_NAME, WT_LEN), m->metric);
    if (m->help.len)
        p = put_len_field(p, TAG(METADATA_HELP, WT_LEN), m->help);
    if (m->unit.len)
        p = put_len_field(p, TAG(METADATA_UNIT, WT_LEN), m->unit);
    return p;
}

/* Append the batch to out as a WriteRequest: all series, then all metadata.
 * Histogram blobs are written verbatim; their own timestamp field is the
 * one that counts (sx_hist_sample_t.ts is not written). The size of the
 * whole message is computed first and reserved at once, so out may be
 * reallocated once (the old pointer is invalid after the call). */
void sx_remote_write_encode(const sx_metric_batch_t *batch, sx_buf_t *out)
{
    size_t total = 0;
    for (size_t i = 0; i < batch->nseries; i++)
        total += len_field_size(series_size(&batch->series[i]));
    for (size_t i = 0; i < batch->nmeta; i++)
        total += len_field_size(meta_size(&batch->meta[i]));
    if (!total)
        return;

    char *start = sx_buf_reserve(out, total), *p = start;
    for (size_t i = 0; i < batch->nseries; i++) {
        const sx_series_in_t *s = &batch->series[i];
        p = put_series(p, s, series_size(s));
    }
    for (size_t i = 0; i < batch->nmeta; i++)
        p = put_meta(p, &batch->meta[i]);
    SX_ASSERT((size_t)(p - start) == total);
    out->len += total;
}
