/* SPDX-License-Identifier: Apache-2.0 */
/* Chunk bloom filters over the 4-grams of line tokens. A token is a run of
 * [A-Za-z0-9_] or bytes >= 0x80; every 4 consecutive bytes inside a token,
 * ASCII-folded to lower case, are one gram, set with two hash positions.
 * A substring needle can only occur in a chunk whose filter holds all the
 * grams inside the needle's own tokens: those grams are inside some token
 * of the matching line, whatever surrounds the needle. Grams never span a
 * separator, so needles such as "rare-token" check "rare", "toke" and
 * "oken". The filter has about one bit per 8 line bytes; case folding
 * lets one filter serve case-sensitive and case-insensitive searches. */
#include <stdint.h>

#include "logstore_int.h"

static const uint8_t tok_class[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0), R16(0),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,       /* 0-9 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,       /* @ A-O */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,       /* P-Z _ */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,       /* ` a-o */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,       /* p-z */
    R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1), R16(1),
#undef R16
};

static inline uint8_t fold(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c | 0x20) : c;
}

uint32_t sx_logbloom__size_log2(uint64_t raw, uint32_t bytes_per_bit)
{
    uint64_t bits = raw / (bytes_per_bit ? bytes_per_bit : 8);
    uint32_t l = 10;
    while (l < 24 && (1ULL << (l + 1)) <= bits)
        l++;
    return l;
}

/* Two positions from one multiplication: the top bits, and a window
 * below them (at most 24 bits each, so the two do not overlap). */
static inline void positions(uint32_t g, uint32_t log2, uint64_t *a, uint64_t *b)
{
    uint64_t h = (uint64_t)(g ^ 0x5bd1e995u) * 0x9e3779b97f4a7c15ULL;
    *a = h >> (64 - log2);
    *b = (h >> 16) & ((1ULL << log2) - 1);
}

static inline void set_gram(uint8_t *bits, uint32_t log2, uint32_t g)
{
    uint64_t a, b;
    positions(g, log2, &a, &b);
    bits[a >> 3] |= (uint8_t)(1u << (a & 7));
    bits[b >> 3] |= (uint8_t)(1u << (b & 7));
}

static inline bool has_gram(const uint8_t *bits, uint32_t log2, uint32_t g)
{
    uint64_t a, b;
    positions(g, log2, &a, &b);
    return (bits[a >> 3] >> (a & 7) & 1) && (bits[b >> 3] >> (b & 7) & 1);
}

void sx_logbloom__add(uint8_t *bits, uint32_t log2, const char *line, size_t len)
{
    const uint8_t *p = (const uint8_t *)line;
    uint32_t g = 0, run = 0, last = 0;
    bool have_last = false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (!tok_class[c]) {
            run = 0;
            continue;
        }
        g = (g << 8) | fold(c);
        if (++run >= 4) {
            /* Repeated grams (runs of one character, words seen twice in a
             * row) cost nothing to skip. */
            if (!have_last || g != last)
                set_gram(bits, log2, g);
            last = g;
            have_last = true;
        }
    }
}

bool sx_logbloom__may_contain(const uint8_t *bits, uint32_t log2, sx_str_t needle)
{
    const uint8_t *p = (const uint8_t *)needle.ptr;
    uint32_t g = 0, run = 0;
    for (size_t i = 0; i < needle.len; i++) {
        uint8_t c = p[i];
        if (!tok_class[c]) {
            run = 0;
            continue;
        }
        g = (g << 8) | fold(c);
        if (++run >= 4 && !has_gram(bits, log2, g))
            return false;
    }
    return true;
}

bool sx_logbloom_usable(sx_str_t needle)
{
    uint32_t run = 0;
    for (size_t i = 0; i < needle.len; i++) {
        run = tok_class[(uint8_t)needle.ptr[i]] ? run + 1 : 0;
        if (run >= 4)
            return true;
    }
    return false;
}
