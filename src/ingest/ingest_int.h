/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the files of the ingest module only (never included
 * from outside src/ingest/): a zero-allocation JSON scanner for the log hot
 * paths. The Loki JSON push decoder and the Kubernetes label normalizer
 * read their shapes with it; documents of unknown shape go to jansson
 * instead. Every function takes a cursor (*pp) and the end of the input;
 * on error it returns a static reason and leaves *pp at the offending byte,
 * so callers can report an offset. */
#ifndef SX_INGEST_INGEST_INT_H
#define SX_INGEST_INGEST_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../core/arena.h"
#include "../core/str.h"

/* Returned (as the reason) when the arena refused memory: callers turn it
 * into SX_ETOOLARGE instead of SX_EPARSE. */
extern const char sx_ingest__json_oom[];

/* Nesting allowed in values that are skipped (unknown keys). */
#define SX_INGEST_JSON_MAX_DEPTH 64

static inline const char *sx_ingest__json_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* The first '"' or '\\' in [p, end), or end. Sixteen bytes at a time where
 * SSE2 is available (every x86-64), eight with SWAR elsewhere: log lines are
 * long strings and this loop is most of the JSON decoding time. */
static inline const char *sx_ingest__json_find_qb(const char *p, const char *end)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)));
        if (m)
            return p + __builtin_ctz((unsigned)m);
        p += 16;
    }
#else
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t a = w ^ (ones * '"'), b = w ^ (ones * '\\');
        uint64_t za = (a - ones) & ~a & highs, zb = (b - ones) & ~b & highs;
        if (za | zb)
            break; /* the byte loop below finds which */
        p += 8;
    }
#endif
    while (p < end && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* Decode the string whose opening quote is at *pp, given esc, the first
 * '"' or '\\' after the quote (from sx_ingest__json_find_qb). Out of line:
 * the slow path of sx_ingest__json_string. */
const char *sx_ingest__json_string_slow(const char **pp, const char *end, const char *esc,
                                        sx_arena_t *a, sx_str_t *out);

/* Read the JSON string whose opening quote is at *pp. On success *pp is
 * past the closing quote and *out holds the contents: a slice of the input
 * when the string has no escapes, else a decoded copy in a (so only
 * escaped strings allocate). \uXXXX escapes become UTF-8, surrogate pairs
 * are joined and lone surrogates become U+FFFD (as Go's decoder does).
 * Other bytes are taken as they are: neither raw control characters nor
 * invalid UTF-8 are rejected (Loki accepts both). */
static inline const char *sx_ingest__json_string(const char **pp, const char *end, sx_arena_t *a,
                                                 sx_str_t *out)
{
    const char *p = *pp + 1;
    const char *s = sx_ingest__json_find_qb(p, end);
    if (s < end && *s == '"') {
        out->ptr = p;
        out->len = (size_t)(s - p);
        *pp = s + 1;
        return NULL;
    }
    return sx_ingest__json_string_slow(pp, end, s, a, out);
}

/* Skip one JSON value of any type at *pp (leading whitespace allowed),
 * checking its syntax. depth bounds the nesting of arrays and objects. */
const char *sx_ingest__json_skip(const char **pp, const char *end, unsigned depth);

/* Match the literal lit (e.g. "null") at *pp and advance past it. */
static inline int sx_ingest__json_literal(const char **pp, const char *end, const char *lit, size_t n)
{
    if ((size_t)(end - *pp) < n || memcmp(*pp, lit, n) != 0)
        return 0;
    *pp += n;
    return 1;
}

#endif
