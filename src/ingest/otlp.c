/* SPDX-License-Identifier: Apache-2.0 */
/* OTLP decoding, shared part and traces: the field walker that reads
 * protobuf and OTLP JSON against one set of schema tables (otlp_int.h),
 * attribute values (AnyValue) and their JSON renderings, error paths,
 * partial-success bookkeeping, the response encoders and the
 * ExportTraceServiceRequest decoder. Logs and metrics are in otlp_logs.c
 * and otlp_metrics.c. Nothing here allocates outside the batch arena
 * except short-lived sx_buf_t scratch for rendered JSON. */
#include "otlp.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"
#include "otlp_int.h"
#include "protobuf.h"

/* ---- Schema: common.proto and resource.proto ---- */

#define F(num, kind, json, proto) {num, kind, 0, json, proto, NULL, NULL}
#define FM(num, json, proto, sub) {num, SX_OTLP__MSG, 0, json, proto, sub, NULL}
#define FID(num, n, json, proto) {num, SX_OTLP__ID, n, json, proto, NULL, NULL}
#define FE(num, json, proto, names) {num, SX_OTLP__ENUM, 0, json, proto, NULL, names}
#define MSG(var, label, arr) const sx_otlp__msg_def_t var = {label, arr, sizeof(arr) / sizeof(arr[0])}

static const sx_otlp__msg_def_t arrayvalue_def, kvlist_def;

static const sx_otlp__field_def_t anyvalue_fields[] = {
    F(1, SX_OTLP__STR, "stringValue", "string_value"),
    F(2, SX_OTLP__BOOL, "boolValue", "bool_value"),
    F(3, SX_OTLP__VARINT, "intValue", "int_value"),
    F(4, SX_OTLP__DOUBLE, "doubleValue", "double_value"),
    FM(5, "arrayValue", "array_value", &arrayvalue_def),
    FM(6, "kvlistValue", "kvlist_value", &kvlist_def),
    F(7, SX_OTLP__BYTES, "bytesValue", "bytes_value"),
};
MSG(sx_otlp__anyvalue_def, "AnyValue", anyvalue_fields);

static const sx_otlp__field_def_t arrayvalue_fields[] = {
    FM(1, "values", "values", &sx_otlp__anyvalue_def),
};
static MSG(arrayvalue_def, "ArrayValue", arrayvalue_fields);

static const sx_otlp__field_def_t keyvalue_fields[] = {
    F(1, SX_OTLP__STR, "key", "key"),
    FM(2, "value", "value", &sx_otlp__anyvalue_def),
};
MSG(sx_otlp__keyvalue_def, "KeyValue", keyvalue_fields);

static const sx_otlp__field_def_t kvlist_fields[] = {
    FM(1, "values", "values", &sx_otlp__keyvalue_def),
};
static MSG(kvlist_def, "KeyValueList", kvlist_fields);

static const sx_otlp__field_def_t resource_fields[] = {
    FM(1, "attributes", "attributes", &sx_otlp__keyvalue_def),
    F(2, SX_OTLP__VARINT, "droppedAttributesCount", "dropped_attributes_count"),
};
MSG(sx_otlp__resource_def, "Resource", resource_fields);

static const sx_otlp__field_def_t scope_fields[] = {
    F(1, SX_OTLP__STR, "name", "name"),
    F(2, SX_OTLP__STR, "version", "version"),
    FM(3, "attributes", "attributes", &sx_otlp__keyvalue_def),
    F(4, SX_OTLP__VARINT, "droppedAttributesCount", "dropped_attributes_count"),
};
MSG(sx_otlp__scope_def, "InstrumentationScope", scope_fields);

/* ---- Errors, paths and partial success ---- */

void sx_otlp_result_init(sx_otlp_result_t *res)
{
    memset(res, 0, sizeof(*res));
}

void sx_otlp__push(sx_otlp__dec_t *d, const char *name, int64_t idx)
{
    if (d->depth < SX_OTLP__MAX_PATH) {
        d->path[d->depth].name = name;
        d->path[d->depth].idx = idx;
    }
    d->depth++;
}

void sx_otlp__pop(sx_otlp__dec_t *d)
{
    SX_ASSERT(d->depth > 0);
    d->depth--;
}

/* Render the current path (plus field) into out (size n). */
static void path_format(const sx_otlp__dec_t *d, const char *field, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    unsigned depth = d->depth < SX_OTLP__MAX_PATH ? d->depth : SX_OTLP__MAX_PATH;
    for (unsigned i = 0; i < depth && len < n; i++) {
        int w;
        if (d->path[i].idx >= 0)
            w = snprintf(out + len, n - len, "%s%s[%lld]", i ? "." : "", d->path[i].name,
                         (long long)d->path[i].idx);
        else
            w = snprintf(out + len, n - len, "%s%s", i ? "." : "", d->path[i].name);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (field && len < n)
        snprintf(out + len, n - len, "%s%s", len ? "." : "", field);
    if (!out[0] && n > 8)
        snprintf(out, n, "request");
}

int sx_otlp__fail(sx_otlp__dec_t *d, const char *field, const char *fmt, ...)
{
    if (!d->err)
        return SX_EPARSE;
    char path[256], msg[256];
    path_format(d, field, path, sizeof(path));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sx_err_set(d->err, SX_EPARSE, "%s: %s", path, msg);
}

int sx_otlp__oom(sx_otlp__dec_t *d)
{
    return sx_err_set(d->err, SX_ETOOLARGE, "decoded request exceeds the per-request memory limit");
}

void sx_otlp__reject(sx_otlp__dec_t *d, int64_t n, const char *fmt, ...)
{
    sx_otlp_result_t *r = d->res;
    r->rejected += n;
    size_t len = strlen(r->msg);
    if (len + 3 >= sizeof(r->msg))
        return;
    if (len) {
        memcpy(r->msg + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg + len, sizeof(r->msg) - len, fmt, ap);
    va_end(ap);
}

static int jfail(sx_otlp__dec_t *d, const char *at, const char *why)
{
    if (why == sx_ingest__json_oom)
        return sx_otlp__oom(d);
    if (at >= d->base && at <= d->end)
        return sx_otlp__fail(d, NULL, "invalid JSON: %s at offset %zu", why, (size_t)(at - d->base));
    return sx_otlp__fail(d, NULL, "invalid JSON: %s", why);
}

static int pbfail(sx_otlp__dec_t *d, const char *at, const char *why)
{
    if (at >= d->base && at <= d->end)
        return sx_otlp__fail(d, NULL, "invalid protobuf: %s at offset %zu", why,
                             (size_t)(at - d->base));
    return sx_otlp__fail(d, NULL, "invalid protobuf: %s", why);
}

int sx_otlp__begin(sx_otlp__dec_t *d, const char *buf, size_t len, int fmt, sx_arena_t *a,
                   sx_otlp_result_t *res, sx_err_t *err, sx_str_t *root)
{
    memset(d, 0, sizeof(*d));
    d->base = buf;
    d->end = buf + len;
    d->fmt = fmt;
    d->arena = a;
    d->err = err;
    d->res = res;
    sx_otlp_result_init(res);
    if (fmt != SX_OTLP_PROTOBUF && fmt != SX_OTLP_JSON)
        return sx_err_set(err, SX_EINVAL, "unknown OTLP body format %d", fmt);
    *root = (sx_str_t){buf, len};
    if (fmt == SX_OTLP_PROTOBUF)
        return 0;
    /* JSON: exactly one object, whitespace around it. */
    const char *p = sx_ingest__json_ws(buf, d->end), *start = p, *why;
    if (p >= d->end || *p != '{')
        return jfail(d, p, "expected an object");
    if ((why = sx_ingest__json_skip(&p, d->end, SX_INGEST_JSON_MAX_DEPTH)))
        return jfail(d, p, why);
    const char *q = sx_ingest__json_ws(p, d->end);
    if (q != d->end)
        return jfail(d, q, "unexpected data after the object");
    *root = (sx_str_t){start, (size_t)(p - start)};
    return 0;
}

/* ---- Protobuf wire reading ---- */

static bool kind_is_scalar(int kind)
{
    return kind != SX_OTLP__STR && kind != SX_OTLP__BYTES && kind != SX_OTLP__ID &&
           kind != SX_OTLP__MSG;
}

static int expected_wt(int kind)
{
    switch (kind) {
    case SX_OTLP__FIXED64:
    case SX_OTLP__SFIXED64:
    case SX_OTLP__DOUBLE:
        return WT_I64;
    case SX_OTLP__FIXED32:
        return WT_I32;
    case SX_OTLP__VARINT:
    case SX_OTLP__SINT32:
    case SX_OTLP__BOOL:
    case SX_OTLP__ENUM:
        return WT_VARINT;
    default:
        return WT_LEN;
    }
}

static const sx_otlp__field_def_t *find_num(const sx_otlp__msg_def_t *md, uint32_t num)
{
    for (size_t i = 0; i < md->nfields; i++)
        if (md->fields[i].num == num)
            return &md->fields[i];
    return NULL;
}

/* Fill v from a scalar's raw bits u as wire type wt delivered them. */
static void scalar_from_bits(sx_otlp__val_t *v, const sx_otlp__field_def_t *def, uint64_t u)
{
    v->def = def;
    v->num = def->num;
    v->u = u;
    v->d = 0;
    switch (def->kind) {
    case SX_OTLP__DOUBLE:
        memcpy(&v->d, &u, sizeof(v->d));
        break;
    case SX_OTLP__SINT32: {
        uint32_t z = (uint32_t)u;
        v->u = (uint64_t)(int64_t)(int32_t)((z >> 1) ^ (0u - (z & 1)));
        break;
    }
    case SX_OTLP__BOOL:
        v->u = u != 0;
        break;
    default:
        break;
    }
}

/* The next element of a packed repeated scalar. */
static int pb_packed_next(sx_otlp__it_t *it, sx_otlp__val_t *v)
{
    const sx_otlp__field_def_t *def = it->pkdef;
    const char *at = it->pk, *why;
    uint64_t u;
    switch (expected_wt(def->kind)) {
    case WT_I64:
        if (it->pkend - it->pk < 8)
            return pbfail(it->d, at, "packed fixed64 values are not a multiple of 8 bytes");
        u = load_le64(it->pk);
        it->pk += 8;
        break;
    case WT_I32:
        if (it->pkend - it->pk < 4)
            return pbfail(it->d, at, "packed fixed32 values are not a multiple of 4 bytes");
        u = load_le32(it->pk);
        it->pk += 4;
        break;
    default:
        if ((why = read_uvarint(&it->pk, it->pkend, &u)))
            return pbfail(it->d, at, why);
        break;
    }
    scalar_from_bits(v, def, u);
    v->at = at;
    return 1;
}

static int walk_pb_next(sx_otlp__it_t *it, sx_otlp__val_t *v)
{
    sx_otlp__dec_t *d = it->d;
    for (;;) {
        if (it->pk && it->pk < it->pkend)
            return pb_packed_next(it, v);
        it->pk = NULL;
        if (it->p >= it->end)
            return 0;
        const char *at = it->p, *why;
        pb_field_t f = {0, 0, 0, {NULL, 0}};
        if ((why = pb_next(&it->p, it->end, &f)))
            return pbfail(d, at, why);
        uint32_t num = f.num;
        int wt = (int)f.wt;
        uint64_t u = f.u;
        sx_str_t s = f.s;
        const sx_otlp__field_def_t *def = find_num(it->md, num);
        if (!def)
            continue; /* unknown field: skipped */
        int want = expected_wt(def->kind);
        if (wt == WT_LEN && kind_is_scalar(def->kind)) {
            it->pk = s.ptr;
            it->pkend = s.ptr + s.len;
            it->pkdef = def;
            continue;
        }
        if (wt != want)
            return sx_otlp__fail(d, def->json, "wrong wire type %d (want %d) at offset %zu", wt,
                                 want, (size_t)(at - d->base));
        v->def = def;
        v->num = num;
        v->at = at;
        if (want != WT_LEN) {
            scalar_from_bits(v, def, u);
            v->at = at;
            return 1;
        }
        v->s = s;
        v->u = 0;
        v->d = 0;
        if (def->kind == SX_OTLP__STR && !sx_utf8_valid(s.ptr, s.len))
            return sx_otlp__fail(d, def->json, "string is not valid UTF-8");
        if (def->kind == SX_OTLP__ID && s.len != 0 && s.len != def->idlen)
            return sx_otlp__fail(d, def->json, "expected %u bytes, got %zu", def->idlen, s.len);
        return 1;
    }
}

/* ---- JSON value reading ---- */

static const char *jws(const sx_otlp__it_t *it, const char *p)
{
    return sx_ingest__json_ws(p, it->end);
}

static const sx_otlp__field_def_t *find_key(const sx_otlp__msg_def_t *md, sx_str_t key)
{
    for (size_t i = 0; i < md->nfields; i++) {
        const sx_otlp__field_def_t *f = &md->fields[i];
        if (sx_str_eq_cstr(key, f->json) || sx_str_eq_cstr(key, f->proto))
            return f;
    }
    return NULL;
}

static int hexdigit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decode base64 (standard or URL alphabet, padding optional) into the
 * arena. Returns NULL or why it failed. */
static const char *b64_decode(sx_arena_t *a, sx_str_t in, sx_str_t *out)
{
    size_t n = in.len;
    while (n && in.ptr[n - 1] == '=')
        n--;
    if (in.len - n > 2 || n % 4 == 1)
        return "invalid base64";
    char *o = sx_arena_alloc(a, n / 4 * 3 + 3), *q = o;
    if (!o)
        return sx_ingest__json_oom;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)in.ptr[i]);
        if (v < 0)
            return "invalid base64";
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *q++ = (char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out = (sx_str_t){o, (size_t)(q - o)};
    return NULL;
}

/* Parse an integer held in s (the text of a JSON number or string):
 * optional '-', digits, and an integral fraction or exponent as protojson
 * allows ("1e3", "5.0"). */
static const char *parse_int(sx_str_t s, bool sign, uint64_t *out)
{
    const char *p = s.ptr, *end = s.ptr + s.len;
    bool neg = false;
    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    if (p == end)
        return "expected an integer";
    uint64_t v = 0;
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9') {
        uint64_t dg = (uint64_t)(*q - '0');
        if (v > (UINT64_MAX - dg) / 10)
            return "integer out of range";
        v = v * 10 + dg;
        q++;
    }
    if (q == p)
        return "expected an integer";
    if (q != end) {
        /* Fraction or exponent: go through a double, which must be integral. */
        char tmp[64];
        if (s.len >= sizeof(tmp))
            return "expected an integer";
        memcpy(tmp, s.ptr, s.len);
        tmp[s.len] = '\0';
        char *e;
        double dv = strtod(tmp, &e);
        if (*e || dv != floor(dv) || fabs(dv) >= 18446744073709551616.0)
            return "expected an integer";
        v = (uint64_t)fabs(dv);
    }
    if (neg) {
        if (!sign)
            return "expected a non-negative integer";
        if (v > (uint64_t)INT64_MAX + 1)
            return "integer out of range";
        *out = 0 - v;
    } else {
        if (sign && v > (uint64_t)INT64_MAX)
            return "integer out of range";
        *out = v;
    }
    return NULL;
}

static const char *parse_double(sx_str_t s, double *out)
{
    if (sx_str_eq_cstr(s, "NaN")) {
        *out = NAN;
        return NULL;
    }
    if (sx_str_eq_cstr(s, "Infinity")) {
        *out = INFINITY;
        return NULL;
    }
    if (sx_str_eq_cstr(s, "-Infinity")) {
        *out = -INFINITY;
        return NULL;
    }
    char tmp[128];
    if (s.len == 0 || s.len >= sizeof(tmp))
        return "expected a number";
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = '\0';
    /* JSON number syntax only: strtod would also take "inf" and hex. */
    for (size_t i = 0; i < s.len; i++)
        if (!strchr("0123456789+-.eE", tmp[i]))
            return "expected a number";
    char *e;
    *out = strtod(tmp, &e);
    if (*e)
        return "expected a number";
    return NULL;
}

/* Read a JSON number token at *pp into s (its text). */
static const char *number_token(const char **pp, const char *end, sx_str_t *s)
{
    const char *p = *pp, *why;
    if ((why = sx_ingest__json_skip(pp, end, 1)))
        return why;
    *s = (sx_str_t){p, (size_t)(*pp - p)};
    return NULL;
}

static bool kind_signed(int kind)
{
    return kind == SX_OTLP__SFIXED64 || kind == SX_OTLP__VARINT || kind == SX_OTLP__SINT32 ||
           kind == SX_OTLP__ENUM;
}

/* Read the value at it->p (not null, not an array) as def's kind. */
static int json_value(sx_otlp__it_t *it, const sx_otlp__field_def_t *def, sx_otlp__val_t *v)
{
    sx_otlp__dec_t *d = it->d;
    const char *p = it->p, *why;
    sx_str_t s;
    bool is_str = p < it->end && *p == '"';
    v->def = def;
    v->num = def->num;
    v->at = p;
    v->u = 0;
    v->d = 0;
    v->s = (sx_str_t){NULL, 0};

    if (def->kind == SX_OTLP__MSG) {
        if (p >= it->end || *p != '{')
            return sx_otlp__fail(d, def->json, "expected an object at offset %zu",
                                 (size_t)(p - d->base));
        if ((why = sx_ingest__json_skip(&it->p, it->end, SX_INGEST_JSON_MAX_DEPTH)))
            return jfail(d, it->p, why);
        v->s = (sx_str_t){p, (size_t)(it->p - p)};
        return 0;
    }
    if (def->kind == SX_OTLP__BOOL) {
        if (sx_ingest__json_literal(&it->p, it->end, "true", 4))
            v->u = 1;
        else if (!sx_ingest__json_literal(&it->p, it->end, "false", 5))
            return sx_otlp__fail(d, def->json, "expected true or false at offset %zu",
                                 (size_t)(p - d->base));
        return 0;
    }
    if (is_str) {
        if ((why = sx_ingest__json_string(&it->p, it->end, d->arena, &s)))
            return jfail(d, it->p, why);
    } else {
        if (def->kind == SX_OTLP__STR || def->kind == SX_OTLP__BYTES || def->kind == SX_OTLP__ID)
            return sx_otlp__fail(d, def->json, "expected a string at offset %zu",
                                 (size_t)(p - d->base));
        if (p >= it->end || !(*p == '-' || (*p >= '0' && *p <= '9')))
            return sx_otlp__fail(d, def->json, "expected a number at offset %zu",
                                 (size_t)(p - d->base));
        if ((why = number_token(&it->p, it->end, &s)))
            return jfail(d, it->p, why);
    }

    switch (def->kind) {
    case SX_OTLP__STR:
        if (!sx_utf8_valid(s.ptr, s.len))
            return sx_otlp__fail(d, def->json, "string is not valid UTF-8");
        v->s = s;
        return 0;
    case SX_OTLP__BYTES:
        if ((why = b64_decode(d->arena, s, &v->s)))
            return why == sx_ingest__json_oom ? sx_otlp__oom(d) : sx_otlp__fail(d, def->json, "%s", why);
        return 0;
    case SX_OTLP__ID: {
        if (s.len == 0)
            return 0;
        if (s.len != (size_t)def->idlen * 2)
            return sx_otlp__fail(d, def->json, "expected %u hex digits", def->idlen * 2u);
        char *o = sx_arena_alloc(d->arena, def->idlen);
        if (!o)
            return sx_otlp__oom(d);
        for (size_t i = 0; i < def->idlen; i++) {
            int hi = hexdigit((unsigned char)s.ptr[2 * i]), lo = hexdigit((unsigned char)s.ptr[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return sx_otlp__fail(d, def->json, "expected %u hex digits", def->idlen * 2u);
            o[i] = (char)(hi << 4 | lo);
        }
        v->s = (sx_str_t){o, def->idlen};
        return 0;
    }
    case SX_OTLP__DOUBLE:
        if ((why = parse_double(s, &v->d)))
            return sx_otlp__fail(d, def->json, "%s", why);
        return 0;
    case SX_OTLP__ENUM:
        if (is_str && def->enums && s.len && !(s.ptr[0] == '-' || (s.ptr[0] >= '0' && s.ptr[0] <= '9'))) {
            for (const sx_otlp__enum_name_t *e = def->enums; e->name; e++)
                if (sx_str_eq_cstr(s, e->name)) {
                    v->u = (uint64_t)(int64_t)e->value;
                    return 0;
                }
            return sx_otlp__fail(d, def->json, "unknown enum value \"%.*s\"",
                                 (int)(s.len > 64 ? 64 : s.len), s.ptr);
        }
        /* fall through */
    default: {
        uint64_t u;
        if ((why = parse_int(s, kind_signed(def->kind), &u)))
            return sx_otlp__fail(d, def->json, "%s", why);
        if (def->kind == SX_OTLP__FIXED32 && u > UINT32_MAX)
            return sx_otlp__fail(d, def->json, "integer out of range");
        if ((def->kind == SX_OTLP__SINT32 || def->kind == SX_OTLP__ENUM) &&
            ((int64_t)u < INT32_MIN || (int64_t)u > INT32_MAX))
            return sx_otlp__fail(d, def->json, "integer out of range");
        v->u = u;
        return 0;
    }
    }
}

static int json_next(sx_otlp__it_t *it, sx_otlp__val_t *v)
{
    sx_otlp__dec_t *d = it->d;
    const char *p, *why;
    int rc;
    for (;;) {
        if (it->p == NULL)
            return 0; /* finished */
        if (it->adef) {
            p = jws(it, it->p);
            if (p < it->end && *p == ']') {
                it->p = p + 1;
                it->adef = NULL;
                continue;
            }
            if (it->pk) { /* not the first element: pk marks "seen one" */
                if (p >= it->end || *p != ',')
                    return jfail(d, p, "expected ',' or ']'");
                p = jws(it, p + 1);
            }
            it->pk = p;
            it->p = p;
            if (sx_ingest__json_literal(&it->p, it->end, "null", 4))
                continue;
            if ((rc = json_value(it, it->adef, v)))
                return rc;
            return 1;
        }
        p = jws(it, it->p);
        if (p < it->end && *p == '}') {
            it->p = NULL;
            return 0;
        }
        if (!it->json_first) {
            if (p >= it->end || *p != ',')
                return jfail(d, p, "expected ',' or '}'");
            p = jws(it, p + 1);
        }
        it->json_first = false;
        if (p >= it->end || *p != '"')
            return jfail(d, p, "expected a string key");
        sx_str_t key;
        if ((why = sx_ingest__json_string(&p, it->end, d->arena, &key)))
            return jfail(d, p, why);
        p = jws(it, p);
        if (p >= it->end || *p != ':')
            return jfail(d, p, "expected ':'");
        p = jws(it, p + 1);
        it->p = p;
        const sx_otlp__field_def_t *def = find_key(it->md, key);
        if (!def) {
            if ((why = sx_ingest__json_skip(&it->p, it->end, SX_INGEST_JSON_MAX_DEPTH)))
                return jfail(d, it->p, why);
            continue;
        }
        if (sx_ingest__json_literal(&it->p, it->end, "null", 4))
            continue;
        if (p < it->end && *p == '[') {
            it->adef = def;
            it->pk = NULL;
            it->p = p + 1;
            continue;
        }
        if ((rc = json_value(it, def, v)))
            return rc;
        return 1;
    }
}

int sx_otlp__it_init(sx_otlp__it_t *it, sx_otlp__dec_t *d, const sx_otlp__msg_def_t *md, int fmt,
                     sx_str_t msg)
{
    memset(it, 0, sizeof(*it));
    it->d = d;
    it->md = md;
    it->fmt = fmt;
    it->p = msg.ptr;
    it->end = msg.ptr + msg.len;
    if (fmt == SX_OTLP_JSON) {
        const char *p = sx_ingest__json_ws(msg.ptr, it->end);
        if (p >= it->end || *p != '{')
            return jfail(d, p, "expected an object");
        it->p = p + 1;
        it->json_first = true;
    }
    return 0;
}

int sx_otlp__it_next(sx_otlp__it_t *it, sx_otlp__val_t *v)
{
    return it->fmt == SX_OTLP_JSON ? json_next(it, v) : walk_pb_next(it, v);
}

/* ---- Attribute values ---- */

enum { STYLE_OTLP, STYLE_PLAIN };

/* Shortest "%.*g" form that reads back as v. */
static int render_any(sx_otlp__dec_t *d, int fmt, sx_str_t msg, int style, sx_buf_t *b,
                      unsigned depth);

/* A JSON string as Go's encoding/json writes it (what Loki's OTLP
 * ingestion puts in a line for a map or array body): also escaping <, >,
 * &, U+2028 and U+2029, with \b and \f short; invalid UTF-8 as U+FFFD. */
static void put_go_str(sx_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sx_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
            if (!k || k > n - i || !sx_utf8_valid(s + i, k)) {
                sx_buf_puts(b, "\\ufffd");
                continue;
            }
            const unsigned char *u = (const unsigned char *)s + i;
            if (k == 3 && u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9))
                sx_buf_puts(b, u[2] == 0xa8 ? "\\u2028" : "\\u2029");
            else
                sx_buf_append(b, s + i, k);
            i += k - 1;
            continue;
        }
        switch (c) {
        case '"': sx_buf_puts(b, "\\\""); break;
        case '\\': sx_buf_puts(b, "\\\\"); break;
        case '\n': sx_buf_puts(b, "\\n"); break;
        case '\r': sx_buf_puts(b, "\\r"); break;
        case '\t': sx_buf_puts(b, "\\t"); break;
        case '\b': sx_buf_puts(b, "\\b"); break;
        case '\f': sx_buf_puts(b, "\\f"); break;
        default:
            if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                sx_buf_append(b, e, 6);
            } else {
                sx_buf_putc(b, (char)c);
            }
        }
    }
    sx_buf_putc(b, '"');
}

static void put_str_styled(sx_buf_t *b, sx_str_t s, int style)
{
    if (style == STYLE_OTLP)
        sx_buf_json_str(b, s.ptr, s.len);
    else
        put_go_str(b, s.ptr, s.len);
}

/* A plain map member rendered apart, to be written in key order. */
typedef struct member {
    sx_str_t key;
    size_t off, len; /* the value's text in the members buffer */
    size_t seq;      /* arrival, so that a repeated key keeps its last value */
} member_t;

static int cmp_member(const void *x, const void *y)
{
    const member_t *a = x, *b = y;
    int c = sx_str_cmp(a->key, b->key);
    return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

/* ArrayValue: OTLP {"values":[...]} or plain [...]. */
static int render_array(sx_otlp__dec_t *d, int fmt, sx_str_t msg, int style, sx_buf_t *b,
                        unsigned depth)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v;
    int rc;
    if (depth >= SX_OTLP__MAX_DEPTH)
        return sx_otlp__fail(d, NULL, "attribute values nested more than %d deep", SX_OTLP__MAX_DEPTH);
    if ((rc = sx_otlp__it_init(&it, d, &arrayvalue_def, fmt, msg)))
        return rc;
    sx_buf_puts(b, style == STYLE_OTLP ? "{\"values\":[" : "[");
    int64_t i = 0;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        if (i)
            sx_buf_putc(b, ',');
        sx_otlp__push(d, "values", i++);
        rc = render_any(d, fmt, v.s, style, b, depth + 1);
        sx_otlp__pop(d);
        if (rc)
            return rc;
    }
    if (rc < 0)
        return rc;
    sx_buf_puts(b, style == STYLE_OTLP ? "]}" : "]");
    return 0;
}

/* KeyValueList: OTLP {"values":[{"key":..,"value":..}]} or plain {"k":v}. */
static int render_kvlist(sx_otlp__dec_t *d, int fmt, sx_str_t msg, int style, sx_buf_t *b,
                         unsigned depth)
{
    sx_otlp__it_t it, kit;
    sx_otlp__val_t v, kv;
    int rc;
    if (depth >= SX_OTLP__MAX_DEPTH)
        return sx_otlp__fail(d, NULL, "attribute values nested more than %d deep", SX_OTLP__MAX_DEPTH);
    if ((rc = sx_otlp__it_init(&it, d, &kvlist_def, fmt, msg)))
        return rc;
    /* Plain maps come out as Go writes a map: keys sorted, a repeated key
     * once with its last value. Values are rendered into vals first. */
    bool plain = style == STYLE_PLAIN;
    sx_buf_t vals = SX_BUF_INIT;
    member_t *mv = NULL;
    size_t nm = 0, cm = 0;
    sx_buf_puts(b, plain ? "{" : "{\"values\":[");
    int64_t i = 0;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        if (i && !plain)
            sx_buf_putc(b, ',');
        sx_otlp__push(d, "values", i++);
        sx_str_t key = {"", 0}, val = {NULL, 0};
        bool have_val = false;
        if ((rc = sx_otlp__it_init(&kit, d, &sx_otlp__keyvalue_def, fmt, v.s)))
            break;
        while ((rc = sx_otlp__it_next(&kit, &kv)) > 0) {
            if (kv.num == SX_OTLP__KV_KEY)
                key = kv.s;
            else {
                val = kv.s;
                have_val = true;
            }
        }
        if (rc < 0)
            break;
        sx_buf_t *out = b;
        if (plain) {
            if (nm == cm) {
                cm = cm ? cm * 2 : 16;
                mv = sx_xrealloc(mv, cm * sizeof(*mv));
            }
            mv[nm] = (member_t){key, vals.len, 0, nm};
            out = &vals;
        } else {
            sx_buf_puts(b, "{\"key\":");
            sx_buf_json_str(b, key.ptr, key.len);
            sx_buf_puts(b, ",\"value\":");
        }
        if (have_val) {
            sx_otlp__push(d, "value", -1);
            rc = render_any(d, fmt, val, style, out, depth + 1);
            sx_otlp__pop(d);
            if (rc)
                break;
        } else {
            sx_buf_puts(out, plain ? "null" : "{}");
        }
        if (plain) {
            mv[nm].len = vals.len - mv[nm].off;
            nm++;
        } else {
            sx_buf_putc(b, '}');
        }
        sx_otlp__pop(d);
    }
    if (rc == 0 && plain) {
        if (nm > 1)
            qsort(mv, nm, sizeof(*mv), cmp_member);
        bool first = true;
        for (size_t k = 0; k < nm; k++) {
            if (k + 1 < nm && sx_str_eq(mv[k].key, mv[k + 1].key))
                continue; /* a later value of the same key follows */
            if (!first)
                sx_buf_putc(b, ',');
            first = false;
            put_go_str(b, mv[k].key.ptr, mv[k].key.len);
            sx_buf_putc(b, ':');
            if (mv[k].len)
                sx_buf_append(b, vals.ptr + mv[k].off, mv[k].len);
        }
    }
    free(mv);
    sx_buf_dispose(&vals);
    if (rc)
        return rc;
    sx_buf_puts(b, plain ? "}" : "]}");
    return 0;
}

/* AnyValue: the last oneof member set wins, as protobuf says. */
static int render_any(sx_otlp__dec_t *d, int fmt, sx_str_t msg, int style, sx_buf_t *b,
                      unsigned depth)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v, last;
    int rc;
    bool have = false;
    if ((rc = sx_otlp__it_init(&it, d, &sx_otlp__anyvalue_def, fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        last = v;
        have = true;
    }
    if (rc < 0)
        return rc;
    if (!have) {
        sx_buf_puts(b, style == STYLE_OTLP ? "{}" : "null");
        return 0;
    }
    bool otlp = style == STYLE_OTLP;
    if (otlp) {
        sx_buf_puts(b, "{");
        sx_buf_json_str(b, last.def->json, strlen(last.def->json));
        sx_buf_putc(b, ':');
    }
    switch (last.num) {
    case 1:
        put_str_styled(b, last.s, style);
        break;
    case 2:
        sx_buf_puts(b, last.u ? "true" : "false");
        break;
    case 3:
        sx_buf_printf(b, otlp ? "\"%lld\"" : "%lld", (long long)(int64_t)last.u);
        break;
    case 4:
        sx_span_json_double(b, last.d);
        break;
    case 5:
        if ((rc = render_array(d, fmt, last.s, style, b, depth + 1)))
            return rc;
        break;
    case 6:
        if ((rc = render_kvlist(d, fmt, last.s, style, b, depth + 1)))
            return rc;
        break;
    case 7:
        sx_buf_putc(b, '"');
        sx_buf_put_base64(b, last.s.ptr, last.s.len);
        sx_buf_putc(b, '"');
        break;
    }
    if (otlp)
        sx_buf_putc(b, '}');
    return 0;
}

/* Move a rendered buffer into the arena. */
static int buf_to_arena(sx_otlp__dec_t *d, sx_buf_t *b, sx_str_t *out)
{
    char *p = b->len ? sx_arena_alloc(d->arena, b->len) : (char *)"";
    if (!p) {
        sx_buf_dispose(b);
        return sx_otlp__oom(d);
    }
    if (b->len)
        memcpy(p, b->ptr, b->len);
    *out = (sx_str_t){p, b->len};
    sx_buf_dispose(b);
    return 0;
}

int sx_otlp__anyval(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_anyval_t *out)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v, last;
    int rc;
    bool have = false;
    memset(out, 0, sizeof(*out));
    if ((rc = sx_otlp__it_init(&it, d, &sx_otlp__anyvalue_def, fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        last = v;
        have = true;
    }
    if (rc < 0 || !have)
        return rc;
    sx_buf_t b = SX_BUF_INIT;
    switch (last.num) {
    case 1:
        out->type = SX_AV_STRING;
        out->s = last.s;
        return 0;
    case 2:
        out->type = SX_AV_BOOL;
        out->b = last.u != 0;
        return 0;
    case 3:
        out->type = SX_AV_INT;
        out->i = (int64_t)last.u;
        return 0;
    case 4:
        out->type = SX_AV_DOUBLE;
        out->d = last.d;
        return 0;
    case 7:
        out->type = SX_AV_BYTES;
        out->s = last.s;
        return 0;
    case 5:
        out->type = SX_AV_ARRAY;
        sx_otlp__push(d, "arrayValue", -1);
        rc = render_array(d, fmt, last.s, STYLE_OTLP, &b, 0);
        break;
    default:
        out->type = SX_AV_KVLIST;
        sx_otlp__push(d, "kvlistValue", -1);
        rc = render_kvlist(d, fmt, last.s, STYLE_OTLP, &b, 0);
        break;
    }
    sx_otlp__pop(d);
    if (rc) {
        sx_buf_dispose(&b);
        return rc;
    }
    return buf_to_arena(d, &b, &out->s);
}

int sx_otlp__attr_add(sx_otlp__dec_t *d, int fmt, const char *name, sx_str_t msg, sx_attr_t **attrs,
                      uint32_t *n, uint32_t *cap)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v;
    int rc;
    if (*n == *cap) {
        if (*cap >= UINT32_MAX / 4)
            return sx_otlp__oom(d);
        uint32_t ncap = *cap ? *cap * 2 : 8;
        sx_attr_t *na = sx_arena_realloc(d->arena, *attrs, (size_t)*cap * sizeof(**attrs),
                                         (size_t)ncap * sizeof(**attrs));
        if (!na)
            return sx_otlp__oom(d);
        *attrs = na;
        *cap = ncap;
    }
    sx_attr_t *a = &(*attrs)[*n];
    memset(a, 0, sizeof(*a));
    a->key = (sx_str_t){"", 0};
    sx_otlp__push(d, name, *n);
    if ((rc = sx_otlp__it_init(&it, d, &sx_otlp__keyvalue_def, fmt, msg)))
        goto out;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        if (v.num == SX_OTLP__KV_KEY) {
            a->key = v.s;
        } else {
            sx_otlp__push(d, "value", -1);
            rc = sx_otlp__anyval(d, fmt, v.s, &a->value);
            sx_otlp__pop(d);
            if (rc)
                goto out;
        }
    }
out:
    sx_otlp__pop(d);
    if (rc < 0)
        return rc;
    (*n)++;
    return 0;
}

int sx_otlp__anyval_string(sx_otlp__dec_t *d, const sx_anyval_t *v, sx_str_t *out)
{
    sx_buf_t b = SX_BUF_INIT;
    int rc = 0;
    switch (v->type) {
    case SX_AV_STRING:
        *out = v->s;
        return 0;
    case SX_AV_EMPTY:
        *out = (sx_str_t){"", 0};
        return 0;
    case SX_AV_BOOL:
        *out = v->b ? SX_STR_LIT("true") : SX_STR_LIT("false");
        return 0;
    case SX_AV_INT:
        sx_buf_printf(&b, "%lld", (long long)v->i);
        break;
    case SX_AV_DOUBLE:
        sx_span_json_double(&b, v->d);
        if (b.len && b.ptr[0] == '"') { /* NaN, Infinity: without the quotes */
            memmove(b.ptr, b.ptr + 1, b.len - 2);
            b.len -= 2;
        }
        break;
    case SX_AV_BYTES:
        sx_buf_put_base64(&b, v->s.ptr, v->s.len);
        break;
    case SX_AV_ARRAY:
        rc = render_array(d, SX_OTLP_JSON, v->s, STYLE_PLAIN, &b, 0);
        break;
    default:
        rc = render_kvlist(d, SX_OTLP_JSON, v->s, STYLE_PLAIN, &b, 0);
        break;
    }
    if (rc) {
        sx_buf_dispose(&b);
        return rc;
    }
    return buf_to_arena(d, &b, out);
}

int sx_otlp__anyval_plain(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_buf_t *out)
{
    return render_any(d, fmt, msg, STYLE_PLAIN, out, 0);
}

sx_str_t sx_otlp__label_name(sx_arena_t *a, sx_str_t name)
{
    if (name.len == 0)
        return name;
    bool ok = true;
    for (size_t i = 0; i < name.len && ok; i++) {
        char c = name.ptr[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
    }
    bool digit = name.ptr[0] >= '0' && name.ptr[0] <= '9';
    bool under = name.ptr[0] == '_' && !(name.len > 1 && name.ptr[1] == '_');
    if (ok && !digit && !under)
        return name;
    size_t pre = digit ? 4 : under ? 3 : 0;
    char *o = sx_arena_alloc(a, name.len + pre);
    if (!o)
        return (sx_str_t){NULL, 0};
    memcpy(o, digit ? "key_" : "key", pre);
    for (size_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        bool good = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
        o[pre + i] = good ? c : '_';
    }
    return (sx_str_t){o, name.len + pre};
}

int sx_otlp__label_push(sx_otlp__dec_t *d, sx_label_t **arr, uint32_t *n, uint32_t *cap,
                        sx_str_t name, sx_str_t value)
{
    if (*n == *cap) {
        if (*cap >= UINT32_MAX / 4)
            return sx_otlp__oom(d);
        uint32_t ncap = *cap ? *cap * 2 : 16;
        sx_label_t *na = sx_arena_realloc(d->arena, *arr, (size_t)*cap * sizeof(**arr),
                                          (size_t)ncap * sizeof(**arr));
        if (!na)
            return sx_otlp__oom(d);
        *arr = na;
        *cap = ncap;
    }
    (*arr)[*n].name = name;
    (*arr)[*n].value = value;
    (*n)++;
    return 0;
}

static int attr_labels(sx_otlp__dec_t *d, sx_str_t prefix, sx_str_t key, const sx_anyval_t *v,
                       bool flatten, sx_label_t **arr, uint32_t *n, uint32_t *cap, unsigned depth)
{
    sx_str_t raw = key;
    if (prefix.len) {
        char *p = sx_arena_alloc(d->arena, prefix.len + 1 + key.len);
        if (!p)
            return sx_otlp__oom(d);
        memcpy(p, prefix.ptr, prefix.len);
        p[prefix.len] = '_';
        if (key.len)
            memcpy(p + prefix.len + 1, key.ptr, key.len);
        raw = (sx_str_t){p, prefix.len + 1 + key.len};
    }
    sx_str_t name = sx_otlp__label_name(d->arena, raw);
    if (raw.len && !name.ptr)
        return sx_otlp__oom(d);
    if (!flatten || v->type != SX_AV_KVLIST || depth >= SX_OTLP__MAX_DEPTH) {
        sx_str_t val;
        int rc = sx_otlp__anyval_string(d, v, &val);
        if (rc)
            return rc;
        return sx_otlp__label_push(d, arr, n, cap, name, val);
    }
    /* Walk the map's OTLP JSON text (written by this file, so it parses). */
    sx_otlp__it_t it, kit;
    sx_otlp__val_t e, kv;
    int rc;
    if ((rc = sx_otlp__it_init(&it, d, &kvlist_def, SX_OTLP_JSON, v->s)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &e)) > 0) {
        sx_str_t k = {"", 0};
        sx_anyval_t sub;
        memset(&sub, 0, sizeof(sub));
        if ((rc = sx_otlp__it_init(&kit, d, &sx_otlp__keyvalue_def, SX_OTLP_JSON, e.s)))
            return rc;
        while ((rc = sx_otlp__it_next(&kit, &kv)) > 0) {
            if (kv.num == SX_OTLP__KV_KEY)
                k = kv.s;
            else if ((rc = sx_otlp__anyval(d, SX_OTLP_JSON, kv.s, &sub)))
                return rc;
        }
        if (rc < 0)
            return rc;
        if ((rc = attr_labels(d, name, k, &sub, true, arr, n, cap, depth + 1)))
            return rc;
    }
    return rc < 0 ? rc : 0;
}

int sx_otlp__attr_labels(sx_otlp__dec_t *d, sx_str_t prefix, sx_str_t key, const sx_anyval_t *v,
                         bool flatten, sx_label_t **arr, uint32_t *n, uint32_t *cap)
{
    return attr_labels(d, prefix, key, v, flatten, arr, n, cap, 0);
}

sx_str_t sx_otlp__hex(sx_arena_t *a, sx_str_t id)
{
    char *o = sx_arena_alloc(a, id.len * 2 + 1);
    if (!o)
        return (sx_str_t){NULL, 0};
    sx_span_id_hex((const uint8_t *)id.ptr, id.len, o);
    return (sx_str_t){o, id.len * 2};
}

/* ---- Responses ---- */

void sx_otlp_response_encode(int signal, int format, const sx_otlp_result_t *res, sx_buf_t *out)
{
    bool partial = res && (res->rejected > 0 || res->msg[0]);
    size_t mlen = partial ? strlen(res->msg) : 0;
    if (format == SX_OTLP_JSON) {
        if (!partial) {
            sx_buf_puts(out, "{}");
            return;
        }
        const char *count = signal == SX_OTLP_TRACES    ? "rejectedSpans"
                            : signal == SX_OTLP_METRICS ? "rejectedDataPoints"
                                                        : "rejectedLogRecords";
        sx_buf_printf(out, "{\"partialSuccess\":{\"%s\":\"%lld\",\"errorMessage\":", count,
                      (long long)res->rejected);
        sx_buf_json_str(out, res->msg, mlen);
        sx_buf_puts(out, "}}");
        return;
    }
    if (!partial)
        return;
    /* ExportXServiceResponse{1: partial_success{1: rejected int64, 2: error_message}} */
    sx_buf_t inner = SX_BUF_INIT;
    if (res->rejected) {
        sx_buf_putc(&inner, 1 << 3 | WT_VARINT);
        sx_buf_put_uvarint(&inner, (uint64_t)res->rejected);
    }
    if (mlen) {
        sx_buf_putc(&inner, 2 << 3 | WT_LEN);
        sx_buf_put_uvarint(&inner, mlen);
        sx_buf_append(&inner, res->msg, mlen);
    }
    sx_buf_putc(out, 1 << 3 | WT_LEN);
    sx_buf_put_uvarint(out, inner.len);
    sx_buf_append(out, inner.ptr, inner.len);
    sx_buf_dispose(&inner);
}

/* ---- Traces (trace.proto, trace_service.proto) ---- */

static const sx_otlp__enum_name_t span_kind_names[] = {
    {"SPAN_KIND_UNSPECIFIED", 0}, {"SPAN_KIND_INTERNAL", 1}, {"SPAN_KIND_SERVER", 2},
    {"SPAN_KIND_CLIENT", 3},      {"SPAN_KIND_PRODUCER", 4}, {"SPAN_KIND_CONSUMER", 5},
    {NULL, 0},
};

static const sx_otlp__enum_name_t status_code_names[] = {
    {"STATUS_CODE_UNSET", 0}, {"STATUS_CODE_OK", 1}, {"STATUS_CODE_ERROR", 2}, {NULL, 0},
};

static const sx_otlp__field_def_t status_fields[] = {
    F(2, SX_OTLP__STR, "message", "message"),
    FE(3, "code", "code", status_code_names),
};
static MSG(status_def, "Status", status_fields);

static const sx_otlp__field_def_t event_fields[] = {
    F(1, SX_OTLP__FIXED64, "timeUnixNano", "time_unix_nano"),
    F(2, SX_OTLP__STR, "name", "name"),
    FM(3, "attributes", "attributes", &sx_otlp__keyvalue_def),
    F(4, SX_OTLP__VARINT, "droppedAttributesCount", "dropped_attributes_count"),
};
static MSG(event_def, "Event", event_fields);

static const sx_otlp__field_def_t link_fields[] = {
    FID(1, 16, "traceId", "trace_id"),
    FID(2, 8, "spanId", "span_id"),
    F(3, SX_OTLP__STR, "traceState", "trace_state"),
    FM(4, "attributes", "attributes", &sx_otlp__keyvalue_def),
    F(5, SX_OTLP__VARINT, "droppedAttributesCount", "dropped_attributes_count"),
    F(6, SX_OTLP__FIXED32, "flags", "flags"),
};
static MSG(link_def, "Link", link_fields);

enum {
    SPAN_TRACE_ID = 1, SPAN_SPAN_ID = 2, SPAN_TRACE_STATE = 3, SPAN_PARENT = 4, SPAN_NAME = 5,
    SPAN_KIND = 6, SPAN_START = 7, SPAN_END = 8, SPAN_ATTRS = 9, SPAN_DROPPED_ATTRS = 10,
    SPAN_EVENTS = 11, SPAN_DROPPED_EVENTS = 12, SPAN_LINKS = 13, SPAN_DROPPED_LINKS = 14,
    SPAN_STATUS = 15, SPAN_FLAGS = 16,
};

static const sx_otlp__field_def_t span_fields[] = {
    FID(SPAN_TRACE_ID, 16, "traceId", "trace_id"),
    FID(SPAN_SPAN_ID, 8, "spanId", "span_id"),
    F(SPAN_TRACE_STATE, SX_OTLP__STR, "traceState", "trace_state"),
    FID(SPAN_PARENT, 8, "parentSpanId", "parent_span_id"),
    F(SPAN_FLAGS, SX_OTLP__FIXED32, "flags", "flags"),
    F(SPAN_NAME, SX_OTLP__STR, "name", "name"),
    FE(SPAN_KIND, "kind", "kind", span_kind_names),
    F(SPAN_START, SX_OTLP__FIXED64, "startTimeUnixNano", "start_time_unix_nano"),
    F(SPAN_END, SX_OTLP__FIXED64, "endTimeUnixNano", "end_time_unix_nano"),
    FM(SPAN_ATTRS, "attributes", "attributes", &sx_otlp__keyvalue_def),
    F(SPAN_DROPPED_ATTRS, SX_OTLP__VARINT, "droppedAttributesCount", "dropped_attributes_count"),
    FM(SPAN_EVENTS, "events", "events", &event_def),
    F(SPAN_DROPPED_EVENTS, SX_OTLP__VARINT, "droppedEventsCount", "dropped_events_count"),
    FM(SPAN_LINKS, "links", "links", &link_def),
    F(SPAN_DROPPED_LINKS, SX_OTLP__VARINT, "droppedLinksCount", "dropped_links_count"),
    FM(SPAN_STATUS, "status", "status", &status_def),
};
static MSG(span_def, "Span", span_fields);

static const sx_otlp__field_def_t scope_spans_fields[] = {
    FM(1, "scope", "scope", &sx_otlp__scope_def),
    FM(2, "spans", "spans", &span_def),
    F(3, SX_OTLP__STR, "schemaUrl", "schema_url"),
};
static MSG(scope_spans_def, "ScopeSpans", scope_spans_fields);

static const sx_otlp__field_def_t resource_spans_fields[] = {
    FM(1, "resource", "resource", &sx_otlp__resource_def),
    FM(2, "scopeSpans", "scope_spans", &scope_spans_def),
    F(3, SX_OTLP__STR, "schemaUrl", "schema_url"),
};
static MSG(resource_spans_def, "ResourceSpans", resource_spans_fields);

static const sx_otlp__field_def_t traces_request_fields[] = {
    FM(1, "resourceSpans", "resource_spans", &resource_spans_def),
};
MSG(sx_otlp__traces_request_def, "ExportTraceServiceRequest", traces_request_fields);

/* Grow an arena array of element size sz holding n, capacity *cap. */
static void *grow_arr(sx_otlp__dec_t *d, void *arr, uint32_t n, uint32_t *cap, size_t sz)
{
    if (n < *cap)
        return arr;
    if (*cap >= UINT32_MAX / 4)
        return NULL;
    uint32_t ncap = *cap ? *cap * 2 : 4;
    void *p = sx_arena_realloc(d->arena, arr, (size_t)n * sz, (size_t)ncap * sz);
    if (p)
        *cap = ncap;
    return p;
}

static uint32_t clamp32(uint64_t u)
{
    return u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
}

/* Walk a Resource or an InstrumentationScope's attribute list and counts
 * (both have attributes and dropped_attributes_count; the scope also has
 * name and version). */
static int decode_attrs_owner(sx_otlp__dec_t *d, int fmt, const sx_otlp__msg_def_t *md, sx_str_t msg,
                              sx_attr_t **attrs, uint32_t *n, uint32_t *dropped, sx_str_t *name,
                              sx_str_t *version)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v;
    uint32_t cap = 0;
    int rc;
    bool scope = md == &sx_otlp__scope_def;
    if ((rc = sx_otlp__it_init(&it, d, md, fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        if (v.def->kind == SX_OTLP__MSG) {
            if ((rc = sx_otlp__attr_add(d, fmt, "attributes", v.s, attrs, n, &cap)))
                return rc;
        } else if (scope && v.num == SX_OTLP__SCOPE_NAME) {
            *name = v.s;
        } else if (scope && v.num == SX_OTLP__SCOPE_VERSION) {
            *version = v.s;
        } else {
            *dropped = clamp32(v.u);
        }
    }
    return rc;
}

int sx_otlp__resource(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_attr_t **attrs, uint32_t *n,
                      uint32_t *dropped)
{
    sx_otlp__push(d, "resource", -1);
    int rc = decode_attrs_owner(d, fmt, &sx_otlp__resource_def, msg, attrs, n, dropped, NULL, NULL);
    sx_otlp__pop(d);
    return rc;
}

int sx_otlp__scope(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_str_t *name, sx_str_t *version,
                   sx_attr_t **attrs, uint32_t *n, uint32_t *dropped)
{
    sx_otlp__push(d, "scope", -1);
    int rc = decode_attrs_owner(d, fmt, &sx_otlp__scope_def, msg, attrs, n, dropped, name, version);
    sx_otlp__pop(d);
    return rc;
}

static void copy_id(uint8_t *dst, sx_str_t id, size_t n)
{
    if (id.len == n)
        memcpy(dst, id.ptr, n);
    else
        memset(dst, 0, n);
}

static int decode_event(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_span_event_t *e)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v;
    uint32_t cap = 0;
    int rc;
    memset(e, 0, sizeof(*e));
    if ((rc = sx_otlp__it_init(&it, d, &event_def, fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        switch (v.num) {
        case 1: e->time_ns = v.u; break;
        case 2: e->name = v.s; break;
        case 3:
            if ((rc = sx_otlp__attr_add(d, fmt, "attributes", v.s, &e->attrs, &e->nattrs, &cap)))
                return rc;
            break;
        case 4: e->dropped_attrs = clamp32(v.u); break;
        }
    }
    return rc;
}

static int decode_link(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_span_link_t *l)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v;
    uint32_t cap = 0;
    int rc;
    memset(l, 0, sizeof(*l));
    if ((rc = sx_otlp__it_init(&it, d, &link_def, fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        switch (v.num) {
        case 1: copy_id(l->trace_id, v.s, 16); break;
        case 2: copy_id(l->span_id, v.s, 8); break;
        case 3: l->trace_state = v.s; break;
        case 4:
            if ((rc = sx_otlp__attr_add(d, fmt, "attributes", v.s, &l->attrs, &l->nattrs, &cap)))
                return rc;
            break;
        case 5: l->dropped_attrs = clamp32(v.u); break;
        case 6: l->flags = (uint32_t)v.u; break;
        }
    }
    return rc;
}

static int decode_span(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_span_batch_t *b, uint32_t scope)
{
    sx_otlp__it_t it, sit;
    sx_otlp__val_t v, sv;
    uint32_t acap = 0, ecap = 0, lcap = 0;
    int rc;
    sx_span_t *sp = sx_span_batch_add(b);
    if (!sp)
        return sx_otlp__oom(d);
    uint32_t idx = b->nspans - 1;
    sx_span_t s;
    memset(&s, 0, sizeof(s));
    s.scope = scope;
    bool have_trace = false, have_span = false;
    if ((rc = sx_otlp__it_init(&it, d, &span_def, fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        switch (v.num) {
        case SPAN_TRACE_ID:
            copy_id(s.trace_id, v.s, 16);
            have_trace = v.s.len == 16;
            break;
        case SPAN_SPAN_ID:
            copy_id(s.span_id, v.s, 8);
            have_span = v.s.len == 8;
            break;
        case SPAN_PARENT:
            copy_id(s.parent_span_id, v.s, 8);
            break;
        case SPAN_TRACE_STATE: s.trace_state = v.s; break;
        case SPAN_NAME: s.name = v.s; break;
        case SPAN_KIND: s.kind = (int32_t)v.u; break;
        case SPAN_START: s.start_ns = v.u; break;
        case SPAN_END: s.end_ns = v.u; break;
        case SPAN_FLAGS: s.flags = (uint32_t)v.u; break;
        case SPAN_DROPPED_ATTRS: s.dropped_attrs = clamp32(v.u); break;
        case SPAN_DROPPED_EVENTS: s.dropped_events = clamp32(v.u); break;
        case SPAN_DROPPED_LINKS: s.dropped_links = clamp32(v.u); break;
        case SPAN_ATTRS:
            if ((rc = sx_otlp__attr_add(d, fmt, "attributes", v.s, &s.attrs, &s.nattrs, &acap)))
                return rc;
            break;
        case SPAN_EVENTS: {
            sx_span_event_t *ev = grow_arr(d, s.events, s.nevents, &ecap, sizeof(*ev));
            if (!ev)
                return sx_otlp__oom(d);
            s.events = ev;
            sx_otlp__push(d, "events", s.nevents);
            rc = decode_event(d, fmt, v.s, &s.events[s.nevents]);
            sx_otlp__pop(d);
            if (rc)
                return rc;
            s.nevents++;
            break;
        }
        case SPAN_LINKS: {
            sx_span_link_t *lk = grow_arr(d, s.links, s.nlinks, &lcap, sizeof(*lk));
            if (!lk)
                return sx_otlp__oom(d);
            s.links = lk;
            sx_otlp__push(d, "links", s.nlinks);
            rc = decode_link(d, fmt, v.s, &s.links[s.nlinks]);
            sx_otlp__pop(d);
            if (rc)
                return rc;
            s.nlinks++;
            break;
        }
        case SPAN_STATUS:
            sx_otlp__push(d, "status", -1);
            if ((rc = sx_otlp__it_init(&sit, d, &status_def, fmt, v.s)) == 0) {
                while ((rc = sx_otlp__it_next(&sit, &sv)) > 0) {
                    if (sv.num == 2)
                        s.status_message = sv.s;
                    else
                        s.status_code = (int32_t)sv.u;
                }
            }
            sx_otlp__pop(d);
            if (rc < 0)
                return rc;
            break;
        }
    }
    if (rc < 0)
        return rc;
    s.has_parent = !sx_span_id_is_zero(s.parent_span_id, 8);
    if (!have_trace || sx_span_id_is_zero(s.trace_id, 16) || !have_span ||
        sx_span_id_is_zero(s.span_id, 8)) {
        char path[200];
        path_format(d, NULL, path, sizeof(path));
        sx_otlp__reject(d, 1, "%s: %s is absent or all zero", path,
                        !have_trace || sx_span_id_is_zero(s.trace_id, 16) ? "traceId" : "spanId");
        b->nspans--;
        return 0;
    }
    b->spans[idx] = s;
    d->res->accepted++;
    return 0;
}

int sx_otlp_traces_decode(const char *buf, size_t len, int format, sx_span_batch_t *out,
                          sx_otlp_result_t *res, sx_err_t *err)
{
    sx_otlp__dec_t d;
    sx_otlp__it_t it, rit, sit;
    sx_otlp__val_t v, rv, sv;
    sx_str_t root;
    int rc;
    if ((rc = sx_otlp__begin(&d, buf, len, format, out->arena, res, err, &root)))
        return rc;
    if ((rc = sx_otlp__it_init(&it, &d, &sx_otlp__traces_request_def, format, root)))
        return rc;
    int64_t ri = 0;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        sx_span_resource_t *r = sx_span_batch_add_resource(out);
        if (!r)
            return sx_otlp__oom(&d);
        uint32_t rix = out->nresources - 1;
        sx_otlp__push(&d, "resourceSpans", ri++);
        if ((rc = sx_otlp__it_init(&rit, &d, &resource_spans_def, format, v.s)))
            return rc;
        int64_t si = 0;
        while ((rc = sx_otlp__it_next(&rit, &rv)) > 0) {
            r = &out->resources[rix];
            if (rv.num == 1) {
                r->nattrs = 0;
                if ((rc = sx_otlp__resource(&d, format, rv.s, &r->attrs, &r->nattrs,
                                            &r->dropped_attrs)))
                    return rc;
                for (uint32_t i = 0; i < r->nattrs; i++)
                    if (sx_str_eq_cstr(r->attrs[i].key, "service.name") &&
                        r->attrs[i].value.type == SX_AV_STRING)
                        r->service_name = r->attrs[i].value.s;
                continue;
            }
            if (rv.num == 3) {
                r->schema_url = rv.s;
                continue;
            }
            sx_span_scope_t *sc = sx_span_batch_add_scope(out);
            if (!sc)
                return sx_otlp__oom(&d);
            uint32_t six = out->nscopes - 1;
            sc->resource = rix;
            sx_otlp__push(&d, "scopeSpans", si++);
            if ((rc = sx_otlp__it_init(&sit, &d, &scope_spans_def, format, rv.s)))
                return rc;
            int64_t pi = 0;
            while ((rc = sx_otlp__it_next(&sit, &sv)) > 0) {
                sc = &out->scopes[six];
                if (sv.num == 1) {
                    sc->nattrs = 0;
                    rc = sx_otlp__scope(&d, format, sv.s, &sc->name, &sc->version, &sc->attrs,
                                        &sc->nattrs, &sc->dropped_attrs);
                } else if (sv.num == 3) {
                    sc->schema_url = sv.s;
                    rc = 0;
                } else {
                    sx_otlp__push(&d, "spans", pi++);
                    rc = decode_span(&d, format, sv.s, out, six);
                    sx_otlp__pop(&d);
                }
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

/* ---- JSON to protobuf ---- */

static void put_varint_tag(sx_buf_t *b, uint32_t num, int wt)
{
    sx_buf_put_uvarint(b, (uint64_t)num << 3 | (uint64_t)wt);
}

/* Re-encode one message read by the walker (any format) as protobuf. */
static int transcode(sx_otlp__dec_t *d, const sx_otlp__msg_def_t *md, int fmt, sx_str_t msg,
                     sx_buf_t *out, unsigned depth)
{
    sx_otlp__it_t it;
    sx_otlp__val_t v;
    int rc;
    if (depth > 2 * SX_OTLP__MAX_DEPTH)
        return sx_otlp__fail(d, NULL, "messages nested too deep");
    if ((rc = sx_otlp__it_init(&it, d, md, fmt, msg)))
        return rc;
    while ((rc = sx_otlp__it_next(&it, &v)) > 0) {
        switch (v.def->kind) {
        case SX_OTLP__STR:
        case SX_OTLP__BYTES:
        case SX_OTLP__ID:
            put_varint_tag(out, v.num, WT_LEN);
            sx_buf_put_uvarint(out, v.s.len);
            sx_buf_append(out, v.s.ptr, v.s.len);
            break;
        case SX_OTLP__MSG: {
            sx_buf_t sub = SX_BUF_INIT;
            rc = transcode(d, v.def->sub, fmt, v.s, &sub, depth + 1);
            if (rc == 0) {
                put_varint_tag(out, v.num, WT_LEN);
                sx_buf_put_uvarint(out, sub.len);
                sx_buf_append(out, sub.ptr, sub.len);
            }
            sx_buf_dispose(&sub);
            if (rc)
                return rc;
            break;
        }
        case SX_OTLP__FIXED64:
        case SX_OTLP__SFIXED64:
            put_varint_tag(out, v.num, WT_I64);
            sx_buf_put_u64le(out, v.u);
            break;
        case SX_OTLP__DOUBLE: {
            uint64_t u;
            memcpy(&u, &v.d, 8);
            put_varint_tag(out, v.num, WT_I64);
            sx_buf_put_u64le(out, u);
            break;
        }
        case SX_OTLP__FIXED32:
            put_varint_tag(out, v.num, WT_I32);
            sx_buf_put_u32le(out, (uint32_t)v.u);
            break;
        case SX_OTLP__SINT32: {
            int32_t x = (int32_t)(int64_t)v.u;
            put_varint_tag(out, v.num, WT_VARINT);
            sx_buf_put_uvarint(out, ((uint32_t)x << 1) ^ (uint32_t)(x >> 31));
            break;
        }
        default: /* varint, enum, bool; negative int32/int64 as 10-byte varints */
            put_varint_tag(out, v.num, WT_VARINT);
            sx_buf_put_uvarint(out, v.u);
            break;
        }
    }
    return rc < 0 ? rc : 0;
}

int sx_otlp_json_to_protobuf(int signal, const char *buf, size_t len, sx_arena_t *a, sx_buf_t *out,
                             sx_err_t *err)
{
    sx_otlp__dec_t d;
    sx_otlp_result_t res;
    sx_str_t root;
    int rc;
    if ((rc = sx_otlp__begin(&d, buf, len, SX_OTLP_JSON, a, &res, err, &root)))
        return rc;
    const sx_otlp__msg_def_t *md = signal == SX_OTLP_TRACES    ? &sx_otlp__traces_request_def
                                   : signal == SX_OTLP_METRICS ? &sx_otlp__metrics_request_def
                                                               : &sx_otlp__logs_request_def;
    return transcode(&d, md, SX_OTLP_JSON, root, out, 0);
}
