/* SPDX-License-Identifier: Apache-2.0 */
/* Request body decompression (Content-Encoding) for every API family.
 * Output is bounded while it is produced: a body that would decompress past
 * the caller's limit fails with SX_ETOOLARGE before more than the limit
 * (plus one byte) is ever allocated, whatever sizes its headers claim. */
#ifndef SX_HTTP_BODY_H
#define SX_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/buf.h"
#include "../core/error.h"

/* Decompress a request body according to its Content-Encoding header and
 * append the result to out (which may be reallocated: old pointers into it
 * are invalid after the call).
 *
 * content_encoding may be NULL or empty (identity). Names are matched
 * without regard to case or surrounding blanks: identity; gzip and x-gzip
 * (concatenated members are accepted); deflate (zlib-wrapped or raw);
 * zstd (any number of frames, with or without a content size); snappy (the
 * block format remote write uses, or the framing format when the body
 * starts with its stream identifier chunk) and x-snappy-framed. A list such
 * as "gzip, zstd" is undone from the last coding to the first. An empty
 * body decodes to nothing under every coding.
 *
 * limit bounds the bytes this call appends. Returns 0; SX_ETOOLARGE when
 * the output would exceed limit; SX_EPARSE for corrupt or truncated input
 * ("cannot decompress gzip body: ..."); SX_EUNSUPPORTED for an unknown
 * coding; SX_ENOMEM when a codec cannot get its working memory. On error
 * out->len is restored to its value on entry. */
int sx_body_decode(const char *content_encoding, const char *in, size_t len, size_t limit,
                   sx_buf_t *out, sx_err_t *err);

/* Decompress one snappy block (the format of snappy_compress, used raw by
 * Prometheus remote write and Loki push) and append it to out. Same limit,
 * error and out->len rules as sx_body_decode; the length the block claims
 * is checked against limit and against what the input could possibly
 * expand to before anything is allocated. */
int sx_snappy_block_decode(const char *in, size_t len, size_t limit, sx_buf_t *out, sx_err_t *err);

/* True if in is a well-formed snappy block. For handlers that must sniff:
 * remote-write clients send snappy with or without Content-Encoding. It
 * walks the whole block without writing output, so its cost is about that
 * of decompressing. */
bool sx_snappy_block_looks_valid(const char *in, size_t len);

#endif
