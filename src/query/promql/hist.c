/* SPDX-License-Identifier: Apache-2.0 */
/* Native histogram blobs <-> the engine's float histograms. Storage hands
 * the engine the remote-write Histogram message bytes a client sent (or
 * that sx_promql_hist_encode wrote); decoding reads them in two passes, the
 * first to check the framing and count the repeated fields, the second to
 * fill arrays allocated once at their exact size. Everything decode
 * returns is checked for consistency, so the evaluator may index bucket
 * arrays and custom bounds by span position without further checks. */
#include "hist.h"

#include <math.h>
#include <string.h>

#include "../../storage/encoding/encoding.h"

/* Histogram message fields (prometheus prompb/types.proto). */
enum {
    H_COUNT_INT = 1,
    H_COUNT_FLOAT = 2,
    H_SUM = 3,
    H_SCHEMA = 4,
    H_ZERO_THRESHOLD = 5,
    H_ZERO_COUNT_INT = 6,
    H_ZERO_COUNT_FLOAT = 7,
    H_NEG_SPANS = 8,
    H_NEG_DELTAS = 9,
    H_NEG_COUNTS = 10,
    H_POS_SPANS = 11,
    H_POS_DELTAS = 12,
    H_POS_COUNTS = 13,
    H_RESET_HINT = 14,
    H_TIMESTAMP = 15,
    H_CUSTOM_VALUES = 16,
};
/* BucketSpan message fields. */
enum { SPAN_OFFSET = 1, SPAN_LENGTH = 2 };
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

#define CUSTOM_SCHEMA (-53)

/* ---- Wire format ---- */

typedef struct pb_field {
    uint32_t num;
    int wt;
    uint64_t u;             /* varint value or fixed64/fixed32 bits */
    const unsigned char *s; /* WT_LEN payload */
    size_t len;
} pb_field_t;

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static int32_t zigzag32(uint64_t u)
{
    uint32_t v = (uint32_t)u; /* protobuf truncates sint32 varints to 32 bits */
    return (int32_t)((v >> 1) ^ (0u - (v & 1)));
}

/* Read the next field at *p. Returns NULL, or why the framing is bad. */
static const char *pb_next(const unsigned char **p, const unsigned char *end, pb_field_t *f)
{
    uint64_t key;
    if (sx_uvarint_next(p, end, &key))
        return "truncated field key";
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
        return "invalid field number";
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    switch (f->wt) {
    case WT_VARINT:
        if (sx_uvarint_next(p, end, &f->u))
            return "truncated varint";
        return NULL;
    case WT_I64:
        if (end - *p < 8)
            return "truncated fixed64";
        f->u = le64(*p);
        *p += 8;
        return NULL;
    case WT_LEN:
        if (sx_uvarint_next(p, end, &f->u))
            return "truncated length";
        if (f->u > (uint64_t)(end - *p))
            return "length past the end of the message";
        f->s = *p;
        f->len = (size_t)f->u;
        *p += f->len;
        return NULL;
    case WT_I32:
        if (end - *p < 4)
            return "truncated fixed32";
        f->u = sx_le32(*p);
        *p += 4;
        return NULL;
    default:
        return "unsupported wire type";
    }
}

/* ---- Decoding ---- */

/* One side's (positive or negative) fields as the passes find them. */
typedef struct side {
    uint32_t nspans;
    size_t ndeltas, ncounts;
    sx_promql_span_t *spans;
    int64_t *deltas;
    double *counts;
} side_t;

typedef struct dec {
    side_t pos, neg;
    size_t ncustom;
    double *custom;
    bool fill; /* second pass: store into the arrays */
} dec_t;

static const char *read_span(const pb_field_t *f, sx_promql_span_t *out)
{
    const unsigned char *p = f->s, *end = f->s + f->len;
    pb_field_t g;
    const char *why;
    out->offset = 0;
    out->len = 0;
    while (p < end) {
        if ((why = pb_next(&p, end, &g)))
            return why;
        if (g.num == SPAN_OFFSET || g.num == SPAN_LENGTH) {
            if (g.wt != WT_VARINT)
                return "bucket span field has the wrong wire type";
            if (g.num == SPAN_OFFSET)
                out->offset = zigzag32(g.u);
            else
                out->len = (uint32_t)g.u;
        }
    }
    return NULL;
}

/* A repeated sint64 field, packed or not. */
static const char *read_deltas(dec_t *d, side_t *s, const pb_field_t *f)
{
    if (f->wt == WT_VARINT) {
        if (d->fill)
            s->deltas[s->ndeltas] = sx_zigzag_dec(f->u);
        s->ndeltas++;
        return NULL;
    }
    if (f->wt != WT_LEN)
        return "bucket deltas have the wrong wire type";
    const unsigned char *p = f->s, *end = f->s + f->len;
    while (p < end) {
        int64_t v;
        if (sx_varint_next(&p, end, &v))
            return "truncated packed bucket deltas";
        if (d->fill)
            s->deltas[s->ndeltas] = v;
        s->ndeltas++;
    }
    return NULL;
}

/* A repeated double field, packed or not, into arr (counting only when
 * arr is NULL). */
static const char *read_doubles(const pb_field_t *f, double *arr, size_t *n)
{
    if (f->wt == WT_I64) {
        if (arr)
            arr[*n] = bits_double(f->u);
        (*n)++;
        return NULL;
    }
    if (f->wt != WT_LEN)
        return "repeated double has the wrong wire type";
    if (f->len % 8)
        return "packed doubles are not a multiple of 8 bytes";
    for (size_t i = 0; i < f->len; i += 8) {
        if (arr)
            arr[*n] = bits_double(le64(f->s + i));
        (*n)++;
    }
    return NULL;
}

static const char *need(const pb_field_t *f, int wt)
{
    return f->wt == wt ? NULL : "field has the wrong wire type";
}

/* One pass over the message. The first (d->fill false) checks framing and
 * counts; the second stores values into the arrays sized by the first. */
static const char *pass(dec_t *d, sx_str_t blob, sx_promql_hist_t *h, bool *is_float)
{
    const unsigned char *p = (const unsigned char *)blob.ptr, *end = p + blob.len;
    pb_field_t f;
    const char *why;
    d->pos.nspans = d->neg.nspans = 0;
    d->pos.ndeltas = d->neg.ndeltas = d->pos.ncounts = d->neg.ncounts = 0;
    d->ncustom = 0;
    while (p < end) {
        if ((why = pb_next(&p, end, &f)))
            return why;
        side_t *s = NULL;
        why = NULL;
        switch (f.num) {
        case H_COUNT_INT:
            if (!(why = need(&f, WT_VARINT))) {
                h->count = (double)f.u;
                *is_float = false;
            }
            break;
        case H_COUNT_FLOAT:
            if (!(why = need(&f, WT_I64))) {
                h->count = bits_double(f.u);
                *is_float = true;
            }
            break;
        case H_SUM:
            if (!(why = need(&f, WT_I64)))
                h->sum = bits_double(f.u);
            break;
        case H_SCHEMA:
            if (!(why = need(&f, WT_VARINT)))
                h->schema = zigzag32(f.u);
            break;
        case H_ZERO_THRESHOLD:
            if (!(why = need(&f, WT_I64)))
                h->zero_threshold = bits_double(f.u);
            break;
        case H_ZERO_COUNT_INT:
            if (!(why = need(&f, WT_VARINT)))
                h->zero_count = (double)f.u;
            break;
        case H_ZERO_COUNT_FLOAT:
            if (!(why = need(&f, WT_I64)))
                h->zero_count = bits_double(f.u);
            break;
        case H_NEG_SPANS:
        case H_POS_SPANS:
            s = f.num == H_NEG_SPANS ? &d->neg : &d->pos;
            if ((why = need(&f, WT_LEN)))
                break;
            sx_promql_span_t span;
            if ((why = read_span(&f, &span)))
                break;
            if (d->fill)
                s->spans[s->nspans] = span;
            s->nspans++;
            break;
        case H_NEG_DELTAS:
        case H_POS_DELTAS:
            why = read_deltas(d, f.num == H_NEG_DELTAS ? &d->neg : &d->pos, &f);
            break;
        case H_NEG_COUNTS:
        case H_POS_COUNTS:
            s = f.num == H_NEG_COUNTS ? &d->neg : &d->pos;
            why = read_doubles(&f, d->fill ? s->counts : NULL, &s->ncounts);
            break;
        case H_RESET_HINT:
            if (!(why = need(&f, WT_VARINT)))
                h->counter_reset_hint = f.u <= 3 ? (uint8_t)f.u : 0;
            break;
        case H_TIMESTAMP:
            why = need(&f, WT_VARINT);
            break;
        case H_CUSTOM_VALUES:
            why = read_doubles(&f, d->fill ? d->custom : NULL, &d->ncustom);
            break;
        default:
            break; /* unknown field: skipped */
        }
        if (why)
            return why;
    }
    return NULL;
}

/* Check one side's spans against its bucket count and the schema and
 * return NULL, or why they do not fit. */
static const char *check_spans(const sx_promql_span_t *spans, uint32_t nspans, size_t nbuckets,
                               bool custom, size_t ncustom)
{
    uint64_t total = 0;
    int64_t idx = 0; /* index of the next bucket */
    for (uint32_t i = 0; i < nspans; i++) {
        idx += spans[i].offset;
        if (idx < INT32_MIN || idx > INT32_MAX)
            return "bucket index out of range";
        if (spans[i].len == 0)
            continue;
        if (custom && idx < 0)
            return "custom buckets: negative bucket index";
        idx += spans[i].len;
        if (idx - 1 > INT32_MAX)
            return "bucket index out of range";
        if (custom && (uint64_t)(idx - 1) > ncustom)
            return "custom buckets: more buckets than bounds";
        total += spans[i].len;
    }
    if (total != nbuckets)
        return "span lengths do not match the number of buckets";
    return NULL;
}

/* Fill out's bucket array for one side from counts (float form) or from
 * running sums of deltas (integer form, into a new array in a). */
static int fill_buckets(const side_t *s, bool is_float, sx_arena_t *a, double **out, uint32_t *n)
{
    size_t nb = is_float ? s->ncounts : s->ndeltas;
    *n = (uint32_t)nb;
    *out = NULL;
    if (!nb)
        return 0;
    if (is_float) {
        *out = s->counts;
        return 0;
    }
    double *b = sx_arena_alloc(a, nb * sizeof(double));
    if (!b)
        return -1;
    uint64_t acc = 0; /* wraps like Go's int64 on absurd input */
    for (size_t i = 0; i < nb; i++) {
        acc += (uint64_t)s->deltas[i];
        b[i] = (double)(int64_t)acc;
    }
    *out = b;
    return 0;
}

int sx_promql_hist_decode(sx_str_t blob, sx_arena_t *a, sx_promql_hist_t *out, sx_err_t *err)
{
    memset(out, 0, sizeof(*out));
    dec_t d;
    memset(&d, 0, sizeof(d));
    bool is_float = false;
    const char *why = pass(&d, blob, out, &is_float);
    if (why)
        return sx_err_set(err, SX_EPARSE, "invalid native histogram: %s", why);

    bool custom = out->schema == CUSTOM_SCHEMA;
    if (!custom && (out->schema < -4 || out->schema > 8))
        return sx_err_set(err, SX_EPARSE, "invalid native histogram: schema %d out of range",
                          (int)out->schema);
    if (d.pos.nspans > UINT32_MAX / 2 || d.neg.nspans > UINT32_MAX / 2 ||
        d.pos.ndeltas + d.pos.ncounts > UINT32_MAX || d.neg.ndeltas + d.neg.ncounts > UINT32_MAX ||
        d.ncustom > UINT32_MAX)
        return sx_err_set(err, SX_EPARSE, "invalid native histogram: too many buckets");

    /* Allocate at the sizes the first pass found, then fill. */
    side_t *sides[2] = {&d.pos, &d.neg};
    for (int i = 0; i < 2; i++) {
        side_t *s = sides[i];
        s->spans = s->nspans ? sx_arena_alloc(a, s->nspans * sizeof(*s->spans)) : NULL;
        s->deltas = s->ndeltas ? sx_arena_alloc(a, s->ndeltas * sizeof(*s->deltas)) : NULL;
        s->counts = s->ncounts ? sx_arena_alloc(a, s->ncounts * sizeof(*s->counts)) : NULL;
        if ((s->nspans && !s->spans) || (s->ndeltas && !s->deltas) || (s->ncounts && !s->counts))
            return sx_err_set(err, SX_ELIMIT, "native histogram exceeds the memory limit");
    }
    d.custom = d.ncustom ? sx_arena_alloc(a, d.ncustom * sizeof(double)) : NULL;
    if (d.ncustom && !d.custom)
        return sx_err_set(err, SX_ELIMIT, "native histogram exceeds the memory limit");
    d.fill = true;
    why = pass(&d, blob, out, &is_float);
    SX_ASSERT(why == NULL); /* the first pass read the same bytes */

    size_t npos = is_float ? d.pos.ncounts : d.pos.ndeltas;
    size_t nneg = is_float ? d.neg.ncounts : d.neg.ndeltas;
    if (custom) {
        if (d.neg.nspans || nneg)
            return sx_err_set(err, SX_EPARSE,
                              "invalid native histogram: custom buckets with negative buckets");
        for (size_t i = 0; i < d.ncustom; i++) {
            if (isnan(d.custom[i]) || (i > 0 && !(d.custom[i] > d.custom[i - 1])))
                return sx_err_set(err, SX_EPARSE,
                                  "invalid native histogram: custom bounds not increasing");
        }
        if (d.ncustom && isinf(d.custom[d.ncustom - 1]) && d.custom[d.ncustom - 1] > 0)
            return sx_err_set(err, SX_EPARSE,
                              "invalid native histogram: explicit +Inf custom bound");
    }
    if ((why = check_spans(d.pos.spans, d.pos.nspans, npos, custom, d.ncustom)) ||
        (why = check_spans(d.neg.spans, d.neg.nspans, nneg, custom, d.ncustom)))
        return sx_err_set(err, SX_EPARSE, "invalid native histogram: %s", why);

    out->pos_spans = d.pos.spans;
    out->npos_spans = d.pos.nspans;
    out->neg_spans = d.neg.spans;
    out->nneg_spans = d.neg.nspans;
    if (fill_buckets(&d.pos, is_float, a, &out->pos, &out->npos) ||
        fill_buckets(&d.neg, is_float, a, &out->neg, &out->nneg))
        return sx_err_set(err, SX_ELIMIT, "native histogram exceeds the memory limit");
    if (custom) {
        out->custom_values = d.custom;
        out->ncustom = (uint32_t)d.ncustom;
    }
    return 0;
}

/* ---- Encoding ---- */

static void put_tag(sx_buf_t *b, uint32_t num, int wt)
{
    sx_buf_put_uvarint(b, (uint64_t)num << 3 | (uint64_t)wt);
}

static void put_double(sx_buf_t *b, uint32_t num, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    put_tag(b, num, WT_I64);
    sx_buf_put_u64le(b, u);
}

/* A double that proto3 would leave out: +0 only (-0 has other bits). */
static bool is_pos_zero(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    return u == 0;
}

static void put_spans(sx_buf_t *b, uint32_t num, const sx_promql_span_t *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        char tmp[2 * (1 + SX_UVARINT_MAX)];
        size_t len = 0;
        if (s[i].offset) {
            tmp[len++] = SPAN_OFFSET << 3 | WT_VARINT;
            uint32_t z = ((uint32_t)s[i].offset << 1) ^ (uint32_t)(s[i].offset >> 31);
            len += sx_uvarint_put(tmp + len, z);
        }
        if (s[i].len) {
            tmp[len++] = SPAN_LENGTH << 3 | WT_VARINT;
            len += sx_uvarint_put(tmp + len, s[i].len);
        }
        put_tag(b, num, WT_LEN);
        sx_buf_put_uvarint(b, len);
        sx_buf_append(b, tmp, len);
    }
}

static void put_packed_doubles(sx_buf_t *b, uint32_t num, const double *v, uint32_t n)
{
    if (!n)
        return;
    put_tag(b, num, WT_LEN);
    sx_buf_put_uvarint(b, (uint64_t)n * 8);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], sizeof(u));
        sx_buf_put_u64le(b, u);
    }
}

void sx_promql_hist_encode(const sx_promql_hist_t *h, int64_t ts, sx_buf_t *out)
{
    put_double(out, H_COUNT_FLOAT, h->count);
    if (!is_pos_zero(h->sum))
        put_double(out, H_SUM, h->sum);
    if (h->schema) {
        put_tag(out, H_SCHEMA, WT_VARINT);
        sx_buf_put_uvarint(out, ((uint32_t)h->schema << 1) ^ (uint32_t)(h->schema >> 31));
    }
    if (!is_pos_zero(h->zero_threshold))
        put_double(out, H_ZERO_THRESHOLD, h->zero_threshold);
    put_double(out, H_ZERO_COUNT_FLOAT, h->zero_count);
    put_spans(out, H_NEG_SPANS, h->neg_spans, h->nneg_spans);
    put_packed_doubles(out, H_NEG_COUNTS, h->neg, h->nneg);
    put_spans(out, H_POS_SPANS, h->pos_spans, h->npos_spans);
    put_packed_doubles(out, H_POS_COUNTS, h->pos, h->npos);
    if (h->counter_reset_hint) {
        put_tag(out, H_RESET_HINT, WT_VARINT);
        sx_buf_put_uvarint(out, h->counter_reset_hint);
    }
    if (ts) {
        put_tag(out, H_TIMESTAMP, WT_VARINT);
        sx_buf_put_uvarint(out, (uint64_t)ts);
    }
    if (h->schema == CUSTOM_SCHEMA)
        put_packed_doubles(out, H_CUSTOM_VALUES, h->custom_values, h->ncustom);
}
