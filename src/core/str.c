/* SPDX-License-Identifier: Apache-2.0 */
/* String helpers that are too long to inline. */
#include "str.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <stdint.h>

/* Strict UTF-8 validation: no overlongs, no surrogates, max U+10FFFF. */
bool sx_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) {
            n = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) < n)
            return false;
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n;
    }
    return true;
}

const char *sx_memmem(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0)
        return hay;
    if (m > n)
        return NULL;
    if (m == 1)
        return memchr(hay, (unsigned char)needle[0], n);
    size_t i = 0, last = n - m; /* candidate starts are 0..last */
#ifdef __SSE2__
    const __m128i first = _mm_set1_epi8(needle[0]), lastb = _mm_set1_epi8(needle[m - 1]);
    for (; i + 16 <= last + 1; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(hay + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(hay + i + m - 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, lastb)));
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctz(mask);
            if (memcmp(hay + i + bit + 1, needle + 1, m - 2) == 0)
                return hay + i + bit;
            mask &= mask - 1;
        }
    }
#endif
    for (; i <= last; i++)
        if (hay[i] == needle[0] && hay[i + m - 1] == needle[m - 1] &&
            memcmp(hay + i + 1, needle + 1, m - 2) == 0)
            return hay + i;
    return NULL;
}

size_t sx_utf8_encode(char *out, uint32_t r)
{
    unsigned char *o = (unsigned char *)out;
    if ((r >= 0xD800 && r <= 0xDFFF) || r > 0x10FFFF)
        r = 0xFFFD;
    if (r < 0x80) {
        o[0] = (unsigned char)r;
        return 1;
    }
    if (r < 0x800) {
        o[0] = (unsigned char)(0xC0 | (r >> 6));
        o[1] = (unsigned char)(0x80 | (r & 0x3F));
        return 2;
    }
    if (r < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (r >> 12));
        o[1] = (unsigned char)(0x80 | ((r >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (r & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (r >> 18));
    o[1] = (unsigned char)(0x80 | ((r >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((r >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (r & 0x3F));
    return 4;
}

static uint32_t unhex(char c)
{
    return c >= '0' && c <= '9'   ? (uint32_t)(c - '0')
           : c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10)
                                  : (uint32_t)(c - 'A' + 10);
}

size_t sx_go_unescape(const char *s, size_t n, char *o)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        char c = s[i++];
        if (c != '\\') {
            o[k++] = c;
            continue;
        }
        char e = s[i++];
        switch (e) {
        case 'a': o[k++] = '\a'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'n': o[k++] = '\n'; break;
        case 'r': o[k++] = '\r'; break;
        case 't': o[k++] = '\t'; break;
        case 'v': o[k++] = '\v'; break;
        case 'x': case 'u': case 'U': {
            int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t v = 0;
            for (int j = 0; j < nd; j++)
                v = v * 16 + unhex(s[i++]);
            if (e == 'x')
                o[k++] = (char)v;
            else
                k += sx_utf8_encode(o + k, v);
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                uint32_t v = (uint32_t)(e - '0');
                for (int j = 0; j < 2; j++)
                    v = v * 8 + (uint32_t)(s[i++] - '0');
                o[k++] = (char)v;
            } else {
                o[k++] = e; /* \\, \" or \' */
            }
        }
    }
    return k;
}
