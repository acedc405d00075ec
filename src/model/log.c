/* SPDX-License-Identifier: Apache-2.0 */
/* Log batches: the growable arrays of streams and entries that every log
 * decoder fills (Loki push, Kubernetes events and audit, OTLP logs). All
 * memory comes from the batch arena and grows by doubling, as metric
 * batches do; the old arrays stay in the arena until it is reset. */
#include "log.h"

#include <string.h>

void sx_log_batch_init(sx_log_batch_t *b, sx_arena_t *arena)
{
    memset(b, 0, sizeof(*b));
    b->arena = arena;
}

/* Append an empty stream slot. Returns NULL only when the arena refuses to
 * grow (its per-request limit); callers report that as SX_ETOOLARGE. The
 * pointer is valid until the next sx_log_batch_add, which may move the
 * array: hold indices, not pointers, across adds. */
sx_log_stream_in_t *sx_log_batch_add(sx_log_batch_t *b)
{
    if (b->nstreams == b->_cap) {
        size_t cap = b->_cap ? b->_cap * 2 : 16;
        sx_log_stream_in_t *n = sx_arena_realloc(b->arena, b->streams,
                                                 b->nstreams * sizeof(*b->streams),
                                                 cap * sizeof(*b->streams));
        if (!n)
            return NULL;
        b->streams = n;
        b->_cap = cap;
    }
    sx_log_stream_in_t *s = &b->streams[b->nstreams++];
    memset(s, 0, sizeof(*s));
    return s;
}

/* Append a zeroed entry to s and count it in b->nentries. The caller fills
 * the entry and adds its line length to b->nbytes itself (the line is not
 * known here). A decoder that knows the entry count in advance may set
 * s->entries to an array of that size and s->_cap to the size: no growth
 * then happens. Returns NULL when the arena refuses to grow or the stream
 * already holds UINT32_MAX entries. */
sx_log_entry_t *sx_log_stream_add(sx_log_batch_t *b, sx_log_stream_in_t *s)
{
    if (s->nentries == s->_cap) {
        if (s->_cap >= UINT32_MAX / 2)
            return NULL;
        uint32_t cap = s->_cap ? s->_cap * 2 : 8;
        sx_log_entry_t *n = sx_arena_realloc(b->arena, s->entries,
                                             (size_t)s->nentries * sizeof(*s->entries),
                                             (size_t)cap * sizeof(*s->entries));
        if (!n)
            return NULL;
        s->entries = n;
        s->_cap = cap;
    }
    sx_log_entry_t *e = &s->entries[s->nentries++];
    memset(e, 0, sizeof(*e));
    b->nentries++;
    return e;
}
