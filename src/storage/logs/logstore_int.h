/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of the log store shared by its files: the part file format
 * (lpart.c), the bloom filter (bloom.c) and the store itself (logstore.c).
 *
 * Part file (<dir>/parts/<seq>.lpart), immutable once renamed in place:
 *   "SXLPART1"
 *   chunk columns, each a zstd frame: timestamps (zigzag delta varints),
 *     lines (n length varints, then the bytes; or, in format 1, the
 *     store's line codec's form), metadata (per entry a
 *     count varint, then name/value length-prefixed pairs; absent when no
 *     entry has any)
 *   the bloom filters of all chunks, raw bits, together (a search reads
 *     them and the index, not the columns)
 *   key index (when the store's line codec has keys): 8-byte entries
 *     (u32 hash of a key, u32 chunk number), one per key and chunk
 *     holding it, sorted
 *   index: one fixed 80-byte record per chunk, sorted by (stream, mint);
 *     its last u32 holds the bloom filter's log2 in the low byte and the
 *     lines' format in the next
 *   footer: u64 index offset, u32 chunk count, u32 crc32c of the index,
 *     "SXLPEND1"; or, with a key index, u64 key index offset, u64 entries,
 *     then those fields and "SXLPEND2"
 * All integers little-endian. */
#ifndef SX_STORAGE_LOGS_LOGSTORE_INT_H
#define SX_STORAGE_LOGS_LOGSTORE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../core/buf.h"
#include "logstore.h"

#define SX_LPART_MAGIC "SXLPART2"
#define SX_LPART_END "SXLPEND1"
#define SX_LPART_END_KEYS "SXLPEND2"
#define SX_LPART_INDEX_REC 80
#define SX_LPART_FOOTER 24
#define SX_LPART_FOOTER_KEYS 40
/* A chunk is cut at this many line bytes or entries. */
#define SX_LCHUNK_MAX_BYTES (2u << 20)
#define SX_LCHUNK_MAX_ENTRIES 65536u

typedef struct sx_lchunk {
    uint32_t stream;
    uint32_t n;
    int64_t mint, maxt;
    uint64_t raw;             /* line bytes */
    uint64_t off_ts, off_lines, off_meta, off_bloom;
    uint32_t len_ts, len_lines, len_meta;
    uint32_t bloom_log2;      /* 0 = no bloom filter */
    uint32_t lines_fmt;       /* 0 plain, 1 the store's line codec */
} sx_lchunk_t;

typedef struct sx_lpart {
    char *path;
    uint64_t seq;
    int64_t day;              /* UTC day number of its entries */
    const char *map;
    size_t size;
    sx_lchunk_t *chunks;
    size_t nchunks;
    int64_t mint, maxt;
    uint64_t entries, raw;
    _Atomic int refs;
    _Atomic bool deleted;     /* unlink when the last reference goes */
    const sx_log_line_codec_t *codec; /* the store's, for format-1 lines */
    const char *keys;         /* key index entries (8 bytes each), or NULL */
    uint64_t nkeys;
} sx_lpart_t;

/* Entries of one stream gathered for writing, sorted by timestamp. Lines
 * and metadata point into memory the caller keeps alive. */
typedef struct sx_lentries {
    int64_t *ts;
    sx_str_t *lines;
    uint32_t *meta_idx;       /* n+1 offsets into meta, or NULL */
    sx_label_t *meta;
    size_t n;
} sx_lentries_t;

typedef struct sx_lpart_writer sx_lpart_writer_t;

sx_lpart_writer_t *sx_lpart__writer_create(const char *dir, uint64_t seq, int64_t day,
                                           const sx_logstore_opts_t *opts,
                                           sx_err_t *err);
/* Add a stream's entries (sorted by ts); streams must come in increasing
 * id order, and a call for the stream of the previous call continues it
 * (its entries no older than those before). Cuts chunks by
 * SX_LCHUNK_MAX_BYTES / SX_LCHUNK_MAX_ENTRIES. */
int sx_lpart__writer_add(sx_lpart_writer_t *w, uint32_t stream, const sx_lentries_t *e,
                         sx_err_t *err);
/* Write the index and footer, fsync, rename into place and open it.
 * Returns NULL (and removes the temporary file) on failure. */
sx_lpart_t *sx_lpart__writer_finish(sx_lpart_writer_t *w, sx_err_t *err);
void sx_lpart__writer_abort(sx_lpart_writer_t *w);

/* Open a finished part (mmap + index) of a store with line codec codec
 * (may be NULL). NULL + err if it is corrupt. */
sx_lpart_t *sx_lpart__open(const char *path, uint64_t seq, const sx_log_line_codec_t *codec,
                           sx_err_t *err);
void sx_lpart__ref(sx_lpart_t *p);
void sx_lpart__unref(sx_lpart_t *p);

/* The chunks of part p that hold key (ascending), at most max of them,
 * into out. Returns how many, or SIZE_MAX when the part has no key index
 * or more than max chunks match (every chunk must then be considered). */
size_t sx_lpart__key_chunks(const sx_lpart_t *p, sx_str_t key, uint32_t *out, size_t max);

/* Index range [*lo, *hi) of a stream's chunks in a part. */
void sx_lpart__stream_chunks(const sx_lpart_t *p, uint32_t stream, size_t *lo, size_t *hi);

/* Decoded columns of a chunk, in buffers the caller reuses across calls. */
typedef struct sx_lchunk_data {
    sx_buf_t raw_ts, raw_lines, raw_meta, raw_coded;
    int64_t *ts;
    sx_str_t *lines;
    uint32_t *meta_idx;
    sx_label_t *meta;
    size_t cap, meta_cap, n;
} sx_lchunk_data_t;

/* Decode the columns asked for (SX_LOGREAD_LINES / _META) of chunk c,
 * with hint's key and values (may be NULL) applied to the lines. Returns 0
 * or SX_ECORRUPT (err filled). */
int sx_lpart__chunk_decode(const sx_lpart_t *p, const sx_lchunk_t *c, int flags,
                           const sx_log_hint_t *hint, sx_lchunk_data_t *d, sx_err_t *err);
void sx_lchunk_data_dispose(sx_lchunk_data_t *d);

/* ---- bloom.c ---- */

/* Bloom filter bits to use for a chunk with raw line bytes (log2). */
uint32_t sx_logbloom__size_log2(uint64_t raw, uint32_t bytes_per_bit);
/* Set the bits of every 4-gram of line's tokens. */
void sx_logbloom__add(uint8_t *bits, uint32_t log2, const char *line, size_t len);
/* Whether every 4-gram of the needle's tokens is set (true when the
 * needle has none: the filter cannot rule it out). */
bool sx_logbloom__may_contain(const uint8_t *bits, uint32_t log2, sx_str_t needle);

#endif
