/* SPDX-License-Identifier: Apache-2.0 */
/* Span records: encoding and decoding (layout in spanrec.h). */
#include "spanrec.h"

#include <string.h>

#include "../encoding/encoding.h"

enum { B_PARENT = SX_SPANREC_PARENT, B_START = SX_SPANREC_START, B_END = SX_SPANREC_END };

/* ---- Encoding ---- */

static void put_str(sx_buf_t *b, sx_str_t s)
{
    sx_buf_put_uvarint(b, s.len);
    if (s.len)
        sx_buf_append(b, s.ptr, s.len);
}

static void put_attrs(sx_buf_t *b, const sx_attr_t *a, uint32_t n, uint32_t dropped)
{
    sx_buf_put_uvarint(b, n);
    for (uint32_t i = 0; i < n; i++) {
        const sx_anyval_t *v = &a[i].value;
        put_str(b, a[i].key);
        int t = v->type >= SX_AV_EMPTY && v->type <= SX_AV_KVLIST ? v->type : SX_AV_EMPTY;
        sx_buf_putc(b, (char)t);
        switch (t) {
        case SX_AV_STRING:
        case SX_AV_BYTES:
        case SX_AV_ARRAY:
        case SX_AV_KVLIST: put_str(b, v->s); break;
        case SX_AV_BOOL: sx_buf_putc(b, v->b ? 1 : 0); break;
        case SX_AV_INT: sx_buf_put_uvarint(b, sx_zigzag_enc(v->i)); break;
        case SX_AV_DOUBLE: {
            uint64_t u;
            memcpy(&u, &v->d, 8);
            sx_buf_put_u64le(b, u);
            break;
        }
        default: break;
        }
    }
    sx_buf_put_uvarint(b, dropped);
}

int64_t sx_spanrec_ts(const sx_span_t *sp)
{
    return sp->start_ns > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)sp->start_ns;
}

void sx_spanrec_encode(sx_buf_t *out, const sx_span_batch_t *b, const sx_span_t *sp)
{
    const sx_span_scope_t *sc = &b->scopes[sp->scope];
    const sx_span_resource_t *rs = &b->resources[sc->resource];
    int bits = (sp->has_parent ? B_PARENT : 0) |
               ((uint64_t)sx_spanrec_ts(sp) != sp->start_ns ? B_START : 0) |
               (sp->end_ns < sp->start_ns ? B_END : 0);
    sx_buf_putc(out, SX_SPANREC_V1);
    sx_buf_putc(out, (char)bits);
    char hex[33];
    sx_span_id_hex(sp->trace_id, 16, hex);
    sx_buf_append(out, hex, 32);
    sx_buf_append(out, sp->span_id, 8);
    if (bits & B_PARENT)
        sx_buf_append(out, sp->parent_span_id, 8);
    if (bits & B_START)
        sx_buf_put_uvarint(out, sp->start_ns);
    sx_buf_put_uvarint(out, bits & B_END ? sp->end_ns : sp->end_ns - sp->start_ns);
    put_str(out, sp->name);
    sx_buf_put_uvarint(out, sx_zigzag_enc(sp->kind));
    sx_buf_put_uvarint(out, sx_zigzag_enc(sp->status_code));
    put_str(out, sp->status_message);
    put_str(out, sp->trace_state);
    sx_buf_put_uvarint(out, sp->flags);
    put_attrs(out, sp->attrs, sp->nattrs, sp->dropped_attrs);
    sx_buf_put_uvarint(out, sp->nevents);
    for (uint32_t i = 0; i < sp->nevents; i++) {
        const sx_span_event_t *e = &sp->events[i];
        sx_buf_put_uvarint(out, e->time_ns);
        put_str(out, e->name);
        put_attrs(out, e->attrs, e->nattrs, e->dropped_attrs);
    }
    sx_buf_put_uvarint(out, sp->dropped_events);
    sx_buf_put_uvarint(out, sp->nlinks);
    for (uint32_t i = 0; i < sp->nlinks; i++) {
        const sx_span_link_t *l = &sp->links[i];
        sx_buf_append(out, l->trace_id, 16);
        sx_buf_append(out, l->span_id, 8);
        put_str(out, l->trace_state);
        put_attrs(out, l->attrs, l->nattrs, l->dropped_attrs);
        sx_buf_put_uvarint(out, l->flags);
    }
    sx_buf_put_uvarint(out, sp->dropped_links);
    put_attrs(out, rs->attrs, rs->nattrs, rs->dropped_attrs);
    put_str(out, rs->schema_url);
    put_str(out, sc->name);
    put_str(out, sc->version);
    put_attrs(out, sc->attrs, sc->nattrs, sc->dropped_attrs);
    put_str(out, sc->schema_url);
}

size_t sx_spanrec_bloom_extent(const char *line, size_t len)
{
    return len >= 34 && (unsigned char)line[0] == SX_SPANREC_V1 ? 34 : len;
}

sx_str_t sx_spanrec_key(const char *line, size_t len)
{
    if (len >= 34 && (unsigned char)line[0] == SX_SPANREC_V1)
        return (sx_str_t){line + 2, 32};
    return (sx_str_t){"", 0};
}

/* ---- Decoding ---- */

typedef struct rd {
    const unsigned char *p, *end;
    sx_arena_t *a;
    bool bad;
} rd_t;

static uint64_t get_u(rd_t *r)
{
    uint64_t v = 0;
    if (!r->bad && sx_uvarint_next(&r->p, r->end, &v))
        r->bad = true;
    return r->bad ? 0 : v;
}

/* A count of items each at least min_bytes long: larger than what is left
 * means a corrupt record (and would ask the arena for too much). */
static uint32_t get_count(rd_t *r, size_t min_bytes)
{
    uint64_t n = get_u(r);
    if (n > (uint64_t)(r->end - r->p) / min_bytes || n > UINT32_MAX / 2)
        r->bad = true;
    return r->bad ? 0 : (uint32_t)n;
}

static uint32_t get_u32v(rd_t *r)
{
    uint64_t v = get_u(r);
    if (v > UINT32_MAX)
        r->bad = true;
    return r->bad ? 0 : (uint32_t)v;
}

static const unsigned char *get_raw(rd_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const unsigned char *q = r->p;
    r->p += n;
    return q;
}

static sx_str_t get_str(rd_t *r)
{
    uint64_t n = get_u(r);
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        r->bad = true;
        return (sx_str_t){"", 0};
    }
    sx_str_t s = {(const char *)r->p, (size_t)n};
    r->p += n;
    return s;
}

static int get_byte(rd_t *r)
{
    const unsigned char *q = get_raw(r, 1);
    return q ? *q : 0;
}

static sx_attr_t *get_attrs(rd_t *r, uint32_t *n, uint32_t *dropped)
{
    /* An attribute takes at least 2 bytes (empty key, type). */
    uint32_t c = get_count(r, 2);
    sx_attr_t *a = c ? sx_arena_calloc(r->a, c, sizeof(*a)) : NULL;
    if (c && !a)
        r->bad = true;
    for (uint32_t i = 0; i < c && !r->bad; i++) {
        a[i].key = get_str(r);
        int t = get_byte(r);
        a[i].value.type = t;
        switch (t) {
        case SX_AV_EMPTY: break;
        case SX_AV_STRING:
        case SX_AV_BYTES:
        case SX_AV_ARRAY:
        case SX_AV_KVLIST: a[i].value.s = get_str(r); break;
        case SX_AV_BOOL: a[i].value.b = get_byte(r) != 0; break;
        case SX_AV_INT: a[i].value.i = sx_zigzag_dec(get_u(r)); break;
        case SX_AV_DOUBLE: {
            const unsigned char *q = get_raw(r, 8);
            if (q) {
                uint64_t u = 0;
                for (int k = 7; k >= 0; k--)
                    u = u << 8 | q[k];
                memcpy(&a[i].value.d, &u, 8);
            }
            break;
        }
        default: r->bad = true;
        }
    }
    *dropped = get_u32v(r);
    *n = r->bad ? 0 : c;
    return r->bad ? NULL : a;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int sx_spanrec_decode(const char *p, size_t n, int64_t ts, sx_span_batch_t *out)
{
    rd_t r = {(const unsigned char *)p, (const unsigned char *)p + n, out->arena, false};
    if (get_byte(&r) != SX_SPANREC_V1)
        return -1;
    int bits = get_byte(&r);
    sx_span_resource_t *rs = sx_span_batch_add_resource(out);
    sx_span_scope_t *sc = rs ? sx_span_batch_add_scope(out) : NULL;
    sx_span_t *sp = sc ? sx_span_batch_add(out) : NULL;
    if (!sp || (bits & ~(B_PARENT | B_START | B_END)))
        return -1;
    sc->resource = out->nresources - 1;
    sp->scope = out->nscopes - 1;
    const unsigned char *hex = get_raw(&r, 32);
    for (int i = 0; hex && i < 16; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        sp->trace_id[i] = (uint8_t)(hi << 4 | lo);
    }
    const unsigned char *q = get_raw(&r, 8);
    if (q)
        memcpy(sp->span_id, q, 8);
    if (bits & B_PARENT) {
        if ((q = get_raw(&r, 8)))
            memcpy(sp->parent_span_id, q, 8);
        sp->has_parent = true;
    }
    sp->start_ns = bits & B_START ? get_u(&r) : (uint64_t)ts;
    uint64_t d = get_u(&r);
    sp->end_ns = bits & B_END ? d : sp->start_ns + d;
    sp->name = get_str(&r);
    sp->kind = (int32_t)sx_zigzag_dec(get_u(&r));
    sp->status_code = (int32_t)sx_zigzag_dec(get_u(&r));
    sp->status_message = get_str(&r);
    sp->trace_state = get_str(&r);
    sp->flags = get_u32v(&r);
    sp->attrs = get_attrs(&r, &sp->nattrs, &sp->dropped_attrs);
    /* An event takes at least 4 bytes, a link at least 28. */
    sp->nevents = get_count(&r, 4);
    if (sp->nevents && !(sp->events = sx_arena_calloc(r.a, sp->nevents, sizeof(*sp->events))))
        return -1;
    for (uint32_t i = 0; i < sp->nevents && !r.bad; i++) {
        sx_span_event_t *e = &sp->events[i];
        e->time_ns = get_u(&r);
        e->name = get_str(&r);
        e->attrs = get_attrs(&r, &e->nattrs, &e->dropped_attrs);
    }
    sp->dropped_events = get_u32v(&r);
    sp->nlinks = get_count(&r, 28);
    if (sp->nlinks && !(sp->links = sx_arena_calloc(r.a, sp->nlinks, sizeof(*sp->links))))
        return -1;
    for (uint32_t i = 0; i < sp->nlinks && !r.bad; i++) {
        sx_span_link_t *l = &sp->links[i];
        if ((q = get_raw(&r, 16)))
            memcpy(l->trace_id, q, 16);
        if ((q = get_raw(&r, 8)))
            memcpy(l->span_id, q, 8);
        l->trace_state = get_str(&r);
        l->attrs = get_attrs(&r, &l->nattrs, &l->dropped_attrs);
        l->flags = get_u32v(&r);
    }
    sp->dropped_links = get_u32v(&r);
    rs->attrs = get_attrs(&r, &rs->nattrs, &rs->dropped_attrs);
    rs->schema_url = get_str(&r);
    for (uint32_t i = 0; i < rs->nattrs; i++)
        if (rs->attrs[i].value.type == SX_AV_STRING &&
            sx_str_eq_cstr(rs->attrs[i].key, "service.name")) {
            rs->service_name = rs->attrs[i].value.s;
            break;
        }
    sc->name = get_str(&r);
    sc->version = get_str(&r);
    sc->attrs = get_attrs(&r, &sc->nattrs, &sc->dropped_attrs);
    sc->schema_url = get_str(&r);
    return r.bad || r.p != r.end ? -1 : 0;
}
