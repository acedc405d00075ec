/* SPDX-License-Identifier: Apache-2.0 */
/* Varint and zigzag helpers, and the power-of-ten table behind the decimal
 * value representation. The block codec is in chunk.c, the head chunk in
 * xchunk.c and the zstd wrappers in zstd.c. */
#include "encoding.h"

#include "encoding_int.h"

const double sx_enc__p10[SX_ENC__KMAX + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

size_t sx_uvarint_put(char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (char)v;
    return n;
}

size_t sx_uvarint_get(const char *p, size_t len, uint64_t *v)
{
    const uint8_t *s = (const uint8_t *)p;
    uint64_t r = 0;
    size_t max = len < SX_UVARINT_MAX ? len : SX_UVARINT_MAX;
    for (size_t i = 0; i < max; i++) {
        uint64_t b = s[i];
        if (i == 9 && b > 1)
            return 0; /* more than 64 bits */
        r |= (b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

size_t sx_uvarint_len(uint64_t v)
{
    return sx_enc__uvarint_len(v);
}

size_t sx_varint_put(char *p, int64_t v)
{
    return sx_uvarint_put(p, sx_zigzag_enc(v));
}

size_t sx_varint_get(const char *p, size_t len, int64_t *v)
{
    uint64_t u;
    size_t n = sx_uvarint_get(p, len, &u);
    if (n)
        *v = sx_zigzag_dec(u);
    return n;
}

void sx_varint_append(sx_buf_t *b, int64_t v)
{
    sx_buf_put_uvarint(b, sx_zigzag_enc(v));
}
