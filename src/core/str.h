/* SPDX-License-Identifier: Apache-2.0 */
/* String slices: a pointer and a length into memory someone else owns
 * (usually a request body or an arena). Never NUL-terminated by contract. */
#ifndef SX_CORE_STR_H
#define SX_CORE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct sx_str {
    const char *ptr;
    size_t len;
} sx_str_t;

#define SX_STR_LIT(s) ((sx_str_t){(s), sizeof(s) - 1})
#define SX_STR_NULL ((sx_str_t){NULL, 0})

static inline sx_str_t sx_str(const char *s)
{
    return (sx_str_t){s, s ? strlen(s) : 0};
}

static inline bool sx_str_eq(sx_str_t a, sx_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool sx_str_eq_cstr(sx_str_t a, const char *b)
{
    return sx_str_eq(a, sx_str(b));
}

/* Byte-wise comparison, shorter first on a common prefix (the order
 * Prometheus uses for label names and values). */
static inline int sx_str_cmp(sx_str_t a, sx_str_t b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

bool sx_utf8_valid(const char *s, size_t len);

/* Write rune r as UTF-8 to out (room for 4 bytes) and return its length,
 * as Go's utf8.EncodeRune: surrogates and runes past U+10FFFF become
 * U+FFFD. */
size_t sx_utf8_encode(char *out, uint32_t r);

/* Decode the body s[0..n) of a Go (PromQL, LogQL) double- or
 * single-quoted string whose escapes the lexer has already validated:
 * \a \b \f \n \r \t \v, \x and octal as raw bytes, \u and \U as UTF-8,
 * anything else as the escaped character. out needs n bytes; returns the
 * decoded length. */
size_t sx_go_unescape(const char *s, size_t n, char *out);

/* First occurrence of needle[0..m) in hay[0..n), or NULL; m == 0 finds
 * hay. Compares the needle's first and last bytes 16 positions at a time
 * (SSE2), which is several times faster than glibc's memmem for the short
 * needles of log searches. */
const char *sx_memmem(const char *hay, size_t n, const char *needle, size_t m);

#endif
