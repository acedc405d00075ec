/* SPDX-License-Identifier: Apache-2.0 */
/* Protobuf wire reading shared by the decoders of this module (remote
 * write, Loki push, OTLP): one field at a time, any wire type, with every
 * length checked against the end of its message, so callers skip unknown
 * fields by ignoring them. Module-internal. */
#ifndef SX_INGEST_PROTOBUF_H
#define SX_INGEST_PROTOBUF_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../core/str.h"

/* Protobuf wire types. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

typedef struct pb_field {
    uint32_t num; /* field number, never 0 */
    uint32_t wt;  /* wire type: 0, 1, 2 or 5 */
    uint64_t u;   /* value of a varint, fixed64 or fixed32 field */
    sx_str_t s;   /* contents of a length-delimited field (a slice of the input) */
} pb_field_t;

static inline uint64_t load_le64(const char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | u[i];
    return v;
#endif
}

static inline uint32_t load_le32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* Read a varint of any length at *pp. Returns NULL and advances *pp, or a
 * static description of the problem. A tenth byte may only carry bit 63. */
static inline const char *uvarint_slow(const char **pp, const char *end, uint64_t *out)
{
    const unsigned char *p = (const unsigned char *)*pp;
    uint64_t v = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (p == (const unsigned char *)end)
            return "truncated varint";
        unsigned b = *p++;
        if (i == 9 && b > 1)
            return "varint overflows 64 bits";
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *pp = (const char *)p;
            *out = v;
            return NULL;
        }
    }
    return "varint overflows 64 bits"; /* not reached: the tenth byte returns */
}

static inline const char *read_uvarint(const char **pp, const char *end, uint64_t *out)
{
    const char *p = *pp;
    if (p < end && (unsigned char)*p < 0x80) {
        *out = (unsigned char)*p;
        *pp = p + 1;
        return NULL;
    }
    return uvarint_slow(pp, end, out);
}

/* Read the field starting at *pp (which must be below end): its tag and its
 * value, whatever the wire type, so callers skip unknown fields by ignoring
 * them. Returns NULL and advances *pp past the field, or a static
 * description of what is wrong (*pp is then unchanged). Length-delimited
 * contents are checked to lie inside [*pp, end) without overflow. */
static inline const char *pb_next(const char **pp, const char *end, pb_field_t *f)
{
    const char *p = *pp, *why;
    uint64_t tag, n;
    if ((why = read_uvarint(&p, end, &tag)))
        return why;
    if (tag > UINT32_MAX)
        return "field tag overflows 32 bits";
    f->num = (uint32_t)(tag >> 3);
    f->wt = (uint32_t)(tag & 7);
    if (f->num == 0)
        return "invalid field number 0";
    switch (f->wt) {
    case WT_VARINT:
        if ((why = read_uvarint(&p, end, &f->u)))
            return why;
        break;
    case WT_I64:
        if (end - p < 8)
            return "truncated fixed64 field";
        f->u = load_le64(p);
        p += 8;
        break;
    case WT_LEN:
        if ((why = read_uvarint(&p, end, &n)))
            return why;
        if (n > (uint64_t)(end - p))
            return "length-delimited field runs past the end of its message";
        f->s = (sx_str_t){p, (size_t)n};
        p += n;
        break;
    case WT_I32:
        if (end - p < 4)
            return "truncated fixed32 field";
        f->u = load_le32(p);
        p += 4;
        break;
    case WT_SGROUP:
    case WT_EGROUP:
        return "groups (wire types 3 and 4) are not supported";
    default:
        return "invalid wire type";
    }
    *pp = p;
    return NULL;
}

/* The common case of pb_next, inlined into the hot loops: a one-byte tag
 * (field numbers 1 to 15) of a length-delimited field whose length takes
 * one or two bytes and fits. Returns false, consuming nothing, for
 * anything else; the caller then takes pb_next, which also reports any
 * error. */
static inline __attribute__((always_inline)) bool next_len_fast(const char **pp, const char *end,
                                                                uint32_t *num, sx_str_t *s)
{
    const unsigned char *p = (const unsigned char *)*pp;
    size_t avail = (size_t)(end - *pp), n, head;
    if (avail < 2 || (p[0] & 0x87) != WT_LEN || p[0] < 0x08)
        return false;
    if (p[1] < 0x80) {
        n = p[1];
        head = 2;
    } else if (avail >= 3 && p[2] < 0x80) {
        n = (size_t)(p[1] & 0x7f) | (size_t)p[2] << 7;
        head = 3;
    } else {
        return false;
    }
    if (n > avail - head)
        return false;
    *num = p[0] >> 3;
    s->ptr = *pp + head;
    s->len = n;
    *pp += head + n;
    return true;
}

#endif
