/* SPDX-License-Identifier: Apache-2.0 */
/* The log store of one tenant (Kubernetes events and audit events use
 * separate instances of it): streams (label sets) with entries of a
 * nanosecond timestamp, a line and structured metadata.
 *
 * Writing: a batch goes to the write-ahead log (fsynced, group commit)
 * and then into the in-memory head of each stream. Flushing seals the
 * head into immutable part files, one per UTC day, in which each stream's
 * entries are cut into chunks of columns (timestamps, lines, metadata),
 * each zstd-compressed, with a bloom filter of the 4-grams of the line
 * tokens so that substring searches skip chunks that cannot match.
 * Compaction merges a day's parts into bigger chunks; retention drops
 * whole days by age and the oldest days by size.
 *
 * Reading: select streams with label matchers, then read a stream's
 * entries in a time range as blocks of sorted columns. */
#ifndef SX_STORAGE_LOGS_LOGSTORE_H
#define SX_STORAGE_LOGS_LOGSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/buf.h"
#include "../../core/error.h"
#include "../../model/log.h"
#include "../tsdb/tsdb.h"

typedef struct sx_logstore sx_logstore_t;

/* Another form for a chunk's lines in part files, such as span records
 * cut into field columns. encode appends lines[0..n) to out, or returns
 * false (out untouched) to keep the chunk in plain form; decode rebuilds
 * the n lines of in[0..len) into out, lines[i] pointing there, returning
 * 0 or -1 when the input is malformed. With a non-empty key, decode may
 * leave empty the lines whose key (the codec's to define) differs. */
typedef struct sx_log_line_codec {
    bool (*encode)(const sx_str_t *lines, size_t n, sx_buf_t *out);
    int (*decode)(const char *in, size_t len, size_t n, sx_str_t key, sx_buf_t *out,
                  sx_str_t *lines);
    /* The key of a line (empty: none). Part files index which chunks hold
     * each key, so a read whose hint has a key visits only those. */
    sx_str_t (*key)(const char *line, size_t len);
    /* The coded form holds each string value of a line (the codec's to
     * define: a span record's string fields) verbatim, so a hint's values
     * can rule a chunk out before it is decoded. */
    bool verbatim;
} sx_log_line_codec_t;

typedef struct sx_logstore_opts {
    int64_t retention_ms;     /* 0 = keep forever */
    int64_t min_free_bytes;   /* appends fail with SX_ENOSPC below this */
    int zstd_level;           /* 0 = default (3) */
    /* Line bytes per bloom filter bit; 0 = 8. A store searched only for
     * long needles (trace ids: 29 grams each) keeps far fewer bits. */
    uint32_t bloom_bytes_per_bit;
    /* How many leading bytes of a line its chunk's bloom filter indexes;
     * NULL indexes whole lines. A store whose only needle sits at a fixed
     * place (a trace id) keeps the rest out of its filters. */
    size_t (*bloom_extent)(const char *line, size_t len);
    /* NULL: chunks keep their lines in plain form. */
    const sx_log_line_codec_t *line_codec;
} sx_logstore_opts_t;

/* ---- Writing ---- */

typedef struct sx_log_append_result {
    uint64_t appended;          /* entries stored */
    uint64_t bytes;             /* line bytes stored */
    uint64_t dropped_retention; /* older than the retention */
    uint64_t new_streams;
} sx_log_append_result_t;

/* Append a validated batch (labels sorted, unique, valid). The batch stays
 * the caller's. It is in the write-ahead log before this returns 0; on
 * error (SX_ENOSPC, SX_EIO) nothing of it is applied. */
int sx_logstore_append(sx_logstore_t *ls, const sx_log_batch_t *b, sx_log_append_result_t *res,
                       sx_err_t *err);

/* Seal the heads into parts; returns when they are durable. */
int sx_logstore_flush(sx_logstore_t *ls);

/* Whether the in-memory head is over its size limit: the writer should
 * wake the background thread (sx_storage_kick) to flush it. */
bool sx_logstore_head_full(sx_logstore_t *ls);

/* ---- Reading ---- */

typedef struct sx_log_stream {
    uint32_t id;
    uint32_t nlabels;
    sx_label_t *labels;   /* sorted by name, in the caller's arena */
    int64_t mint, maxt;   /* times of the stream's oldest and newest entries (ns) */
} sx_log_stream_t;

/* The streams matching all matchers (compiled, see sx_matcher_compile)
 * that may hold entries in [mint, maxt] (ns, inclusive), sorted by label
 * set, labels copied into the arena. */
int sx_logstore_select(sx_logstore_t *ls, const sx_matcher_t *m, size_t nm, int64_t mint,
                       int64_t maxt, sx_arena_t *a, sx_log_stream_t **out, size_t *n);

/* A run of entries of one stream, sorted by timestamp (ascending), all in
 * the requested range. Memory is valid only during the callback. */
typedef struct sx_log_block {
    size_t n;
    const int64_t *ts;
    const sx_str_t *lines;      /* NULL unless SX_LOGREAD_LINES */
    const uint32_t *meta_idx;   /* n+1 offsets into meta, or NULL when no metadata */
    const sx_label_t *meta;
    bool from_head;             /* not yet in a part (may overlap other blocks) */
} sx_log_block_t;

enum {
    SX_LOGREAD_LINES = 1,     /* decode lines (and their lengths) */
    SX_LOGREAD_META = 2,      /* decode structured metadata */
    SX_LOGREAD_BACKWARD = 4,  /* deliver blocks newest first (entries stay ascending) */
};

/* Substrings every matching line contains (the filters may be case-
 * sensitive or not: the bloom filters fold ASCII case); chunks whose bloom
 * filter rules one out are skipped unread. */
typedef struct sx_log_hint {
    const sx_str_t *needles;
    size_t n;
    /* Non-empty: in chunks kept by a line codec, lines whose codec key
     * (a span record's trace id) is not this may come back empty. */
    sx_str_t key;
    /* Strings every wanted line holds as a whole value (a span record's
     * string field, for the span codec): a chunk kept by a verbatim line
     * codec whose stored form lacks one is not decoded, its lines coming
     * back empty. Other chunks ignore them. */
    const sx_str_t *values;
    size_t nvalues;
} sx_log_hint_t;

typedef int (*sx_log_block_fn)(void *ctx, const sx_log_block_t *blk);

/* Call fn for the entries of stream id in [mint, maxt] (ns, inclusive), in
 * blocks ordered by time (forward, or newest first with
 * SX_LOGREAD_BACKWARD). Blocks from parts do not overlap each other;
 * blocks from the head may overlap anything (the flag says so). fn
 * returning non-zero stops the read and is returned. hint may be NULL.
 * Chunk reads and skips are counted in stats if it is not NULL. */
typedef struct sx_log_read_stats {
    uint64_t chunks_read, chunks_skipped, bytes_decompressed, entries;
} sx_log_read_stats_t;
int sx_logstore_read(sx_logstore_t *ls, uint32_t id, int64_t mint, int64_t maxt, int flags,
                     const sx_log_hint_t *hint, sx_log_block_fn fn, void *ctx,
                     sx_log_read_stats_t *stats);

/* Index figures for the streams matching m in [mint, maxt], without
 * reading entries (what Loki's index/stats answers): chunk counts and
 * sizes come from the part indexes; a chunk partly in range counts whole. */
typedef struct sx_log_index_stats {
    uint64_t streams, chunks, entries, bytes;
} sx_log_index_stats_t;
int sx_logstore_index_stats(sx_logstore_t *ls, const sx_matcher_t *m, size_t nm, int64_t mint,
                            int64_t maxt, sx_log_index_stats_t *out);

/* Label names of the streams with entries in [mint, maxt] (sorted, unique,
 * arena copies), or the values of one name (name.len > 0), optionally
 * restricted to streams matching m. */
int sx_logstore_label_names(sx_logstore_t *ls, const sx_matcher_t *m, size_t nm, int64_t mint,
                            int64_t maxt, sx_arena_t *a, sx_str_t **out, size_t *n);
int sx_logstore_label_values(sx_logstore_t *ls, sx_str_t name, const sx_matcher_t *m, size_t nm,
                             int64_t mint, int64_t maxt, sx_arena_t *a, sx_str_t **out, size_t *n);

/* ---- Bloom filter over line 4-grams (exposed for tests and tools) ---- */

/* Whether a needle can be checked against the bloom filters at all: it
 * needs a run of at least 4 token characters ([A-Za-z0-9_] or bytes >=
 * 0x80). */
bool sx_logbloom_usable(sx_str_t needle);

#endif
