/* SPDX-License-Identifier: Apache-2.0 */
/* The stored form of one span: a compact binary record holding the span
 * with its resource and scope, so that each log-store entry of the trace
 * store is self-contained (entries are read one by one, in any order).
 * About a third the size of the span's OTLP JSON before compression.
 *
 * Layout (uvarint lengths and counts; "str" is uvarint length + bytes):
 *   u8 version (SX_SPANREC_V1; OTLP JSON lines of older stores start
 *      with '{', so the two are told apart by the first byte)
 *   u8 bits: 1 has parent, 2 start differs from the entry time,
 *      4 end before start
 *   32 lower-case hex digits of the trace id (text, so the store's
 *      4-gram bloom filters find a trace by its id)
 *   8 span id, 8 parent span id (when it has one)
 *   [uvarint start ns] uvarint duration ns (or end ns when bit 4)
 *   str name, svarint kind, svarint status code, str status message,
 *   str trace state, uvarint flags
 *   attrs, uvarint dropped attributes
 *   uvarint events, each: uvarint time ns, str name, attrs, uvarint dropped
 *   uvarint dropped events
 *   uvarint links, each: 16 trace id, 8 span id, str trace state, attrs,
 *     uvarint dropped, uvarint flags
 *   uvarint dropped links
 *   resource: attrs, uvarint dropped, str schema url
 *   scope: str name, str version, attrs, uvarint dropped, str schema url
 * attrs = uvarint count, each: str key, u8 type (enum sx_anyval_type),
 * then the value: str for string, bytes, array and kvlist (their OTLP
 * JSON), u8 for bool, svarint for int, 8 bytes little-endian for double,
 * nothing for empty. */
#ifndef SX_STORAGE_TRACES_SPANREC_H
#define SX_STORAGE_TRACES_SPANREC_H

#include <stdint.h>

#include "../../core/buf.h"
#include "../../model/span.h"

#define SX_SPANREC_V1 0x01
/* The bits byte. */
#define SX_SPANREC_PARENT 1
#define SX_SPANREC_START 2
#define SX_SPANREC_END 4

/* Append the record of span sp of batch b to out. The entry time the
 * record is stored under must be sx_spanrec_ts(sp). */
void sx_spanrec_encode(sx_buf_t *out, const sx_span_batch_t *b, const sx_span_t *sp);
/* The log-store entry time of a span: its start, clamped to int64. */
int64_t sx_spanrec_ts(const sx_span_t *sp);
/* The leading bytes of a stored line that carry its trace id (the bloom
 * filters index those only): a record's version, bits and hex id; a whole
 * older OTLP JSON line, whose id is somewhere inside. */
size_t sx_spanrec_bloom_extent(const char *line, size_t len);
/* The key of a stored line: a record's trace id (hex); empty for an older
 * OTLP JSON line. */
sx_str_t sx_spanrec_key(const char *line, size_t len);
/* Decode record p[0..n), stored at entry time ts, into out (initialised by
 * the caller on an arena; the record becomes its one resource, scope and
 * span; strings point into p). Returns 0, or -1 when the record is
 * truncated or malformed. */
int sx_spanrec_decode(const char *p, size_t n, int64_t ts, sx_span_batch_t *out);

#endif
