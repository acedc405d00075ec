/* SPDX-License-Identifier: Apache-2.0 */
/* Span records of a stored chunk, column by column: the log-store line
 * codec of the trace store. A chunk's records (spanrec.h) are cut into
 * their fields and each field is written with its like, so that zstd sees
 * runs of trace ids, of durations, of span names, of attribute lists, and
 * each resource once; decoding rebuilds the records byte for byte. Every
 * string field of a record (name, status message, attribute values,
 * resource and scope strings) lies whole in one column, so a string that
 * the column form lacks is no record's field value.
 *
 * Layout (after the store's zstd): u8 version, uvarint column count, one
 * uvarint byte length per column, then the columns in this order:
 *   bits     1 byte a span (the record's flag byte)
 *   tid      uvarint a span: index into tidtab
 *   tidtab   16 bytes each: the chunk's distinct trace ids, binary, in
 *            order of first use
 *   span     8 bytes a span: span ids
 *   parent   uvarint a span with a parent: 1 + index of the chunk's span
 *            whose id it is, or 0 when none is (the id is then in praw)
 *   praw     8 bytes each: parent ids not in the chunk
 *   time     the record's start (when flagged) and duration varints
 *   name     uvarint a span: index into nametab
 *   nametab  the distinct span names (record form: uvarint length, bytes)
 *   misc     kind, status code and message, trace state, flags
 *   attrs    the span attributes
 *   evl      events and links
 *   res      uvarint a span: index into restab
 *   restab   the distinct resource-and-scope tails of the records
 *   groups   for each group of 32 spans after the first, where it starts
 *            in tid, parent, praw, time, name, misc, attrs, evl and res
 *            (uvarint byte deltas from the group before), so that one
 *            trace's spans are rebuilt without walking the whole chunk */
#ifndef SX_STORAGE_TRACES_SPANCOL_H
#define SX_STORAGE_TRACES_SPANCOL_H

#include <stdbool.h>
#include <stddef.h>

#include "../../core/buf.h"
#include "../../core/str.h"

/* Append the column form of records lines[0..n) to out. False (out as it
 * was) when a line is not a well-formed record, such as an older store's
 * JSON line: the chunk is then kept line by line. */
bool sx_spancol_encode(const sx_str_t *lines, size_t n, sx_buf_t *out);

/* Rebuild the n records of column form in[0..len) into out (cleared
 * first); lines[i] point into out. With a non-empty key (a trace id in
 * hex), only the records of that trace are rebuilt and the others are
 * left empty. Returns 0, or -1 when the input is malformed. */
int sx_spancol_decode(const char *in, size_t len, size_t n, sx_str_t key, sx_buf_t *out,
                      sx_str_t *lines);

#endif
