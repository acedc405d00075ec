/* SPDX-License-Identifier: Apache-2.0 */
/* The internal model of log data between the decoders (ingest/) and the
 * log stores (storage/logs): a batch of streams, each a label set with
 * entries of a nanosecond timestamp, a line and structured metadata.
 * Kubernetes events and audit events use the same model (their stores are
 * log stores too): the line is the object's JSON, the indexed fields are
 * stream labels and structured metadata. All of a batch lives in the
 * request arena and points into the request body where it can; storage
 * copies what it keeps. */
#ifndef SX_MODEL_LOG_H
#define SX_MODEL_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/error.h"
#include "../core/str.h"
#include "metric.h"

typedef struct sx_log_entry {
    int64_t ts;           /* ns since epoch */
    sx_str_t line;
    sx_label_t *meta;     /* structured metadata, in arrival order */
    uint32_t nmeta;
} sx_log_entry_t;

typedef struct sx_log_stream_in {
    sx_label_t *labels;   /* sorted by name, unique, validated */
    uint32_t nlabels;
    sx_log_entry_t *entries;
    uint32_t nentries, _cap;
} sx_log_stream_in_t;

typedef struct sx_log_batch {
    sx_arena_t *arena;
    sx_log_stream_in_t *streams;
    size_t nstreams, _cap;
    size_t nentries;      /* over all streams */
    size_t nbytes;        /* line bytes over all streams */
} sx_log_batch_t;

void sx_log_batch_init(sx_log_batch_t *b, sx_arena_t *arena);
/* Append an empty stream slot (arena memory; valid until the next add). */
sx_log_stream_in_t *sx_log_batch_add(sx_log_batch_t *b);
/* Append an entry to a stream (arena memory) and count it in the batch. */
sx_log_entry_t *sx_log_stream_add(sx_log_batch_t *b, sx_log_stream_in_t *s);

/* Limits applied to every log request, as Loki's defaults. */
typedef struct sx_log_limits {
    uint32_t max_label_names;       /* per stream; Loki: 15 */
    uint32_t max_label_name_len;    /* Loki: 1024 */
    uint32_t max_label_value_len;   /* Loki: 2048 */
    uint32_t max_line_size;         /* bytes; Loki: 256 KiB; 0 = none */
} sx_log_limits_t;

#define SX_LOG_LIMITS_DEFAULT ((sx_log_limits_t){15, 1024, 2048, 256 * 1024})

#endif
