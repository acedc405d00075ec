/* SPDX-License-Identifier: Apache-2.0 */
/* Growing byte buffer on the heap. Functions that may reallocate say so:
 * after them, any pointer into the old ptr is invalid. */
#ifndef SX_CORE_BUF_H
#define SX_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "str.h"

typedef struct sx_buf {
    char *ptr;
    size_t len;
    size_t cap;
} sx_buf_t;

#define SX_BUF_INIT ((sx_buf_t){NULL, 0, 0})

void sx_buf_dispose(sx_buf_t *b);
/* Make room for n more bytes; may reallocate. Returns pointer to the end. */
char *sx_buf_reserve(sx_buf_t *b, size_t n);
void sx_buf_append(sx_buf_t *b, const void *p, size_t n);
void sx_buf_putc(sx_buf_t *b, char c);
void sx_buf_puts(sx_buf_t *b, const char *s);
void sx_buf_append_str(sx_buf_t *b, sx_str_t s);
void sx_buf_printf(sx_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal with quotes and escapes. */
void sx_buf_json_str(sx_buf_t *b, const char *s, size_t n);
/* Append a double the way Prometheus formats sample values: shortest
 * round-trip form, "NaN", "+Inf", "-Inf". */
void sx_buf_prom_float(sx_buf_t *b, double v);
void sx_buf_put_uvarint(sx_buf_t *b, uint64_t v);
/* Standard base64 (RFC 4648 alphabet, '=' padding) of in[0..n): written to
 * out, which must hold SX_BASE64_LEN(n) bytes (no NUL); returns that length. */
#define SX_BASE64_LEN(n) (((n) + 2) / 3 * 4)
size_t sx_base64_encode(const void *in, size_t n, char *out);
/* Append the standard base64 of p[0..n). */
void sx_buf_put_base64(sx_buf_t *b, const void *p, size_t n);
void sx_buf_put_u32le(sx_buf_t *b, uint32_t v);
void sx_buf_put_u64le(sx_buf_t *b, uint64_t v);
static inline void sx_buf_clear(sx_buf_t *b)
{
    b->len = 0;
}

/* Format a double in the shortest form that parses back to the same value,
 * without exponent (Go's 'f', -1). buf must hold SX_FLOAT_BUF bytes.
 * Returns the length written (NUL-terminated). */
#define SX_FLOAT_BUF 360
int sx_format_float(char *buf, double v);
/* 10^0 .. 10^19, every power of ten a uint64_t holds. */
extern const uint64_t sx_pow10_u64[20];

#endif
