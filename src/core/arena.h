/* SPDX-License-Identifier: Apache-2.0 */
/* Per-request bump allocator. Everything a request parses (labels, slices,
 * ASTs, intermediate series) lives here and is released by one reset when
 * the request ends; nothing in an arena is freed one by one. */
#ifndef SX_CORE_ARENA_H
#define SX_CORE_ARENA_H

#include <stddef.h>

#include "str.h"

typedef struct sx_arena_chunk sx_arena_chunk_t;

typedef struct sx_arena {
    sx_arena_chunk_t *_head;
    size_t _used;     /* bytes used in _head */
    size_t _total;    /* bytes held in all chunks */
    size_t _limit;    /* 0 = unlimited; else sx_arena_alloc returns NULL past it */
} sx_arena_t;

void sx_arena_init(sx_arena_t *a);
/* Free every chunk; the arena may be reused after init. */
void sx_arena_dispose(sx_arena_t *a);
/* Release everything allocated so far but keep the first chunk for reuse. */
void sx_arena_reset(sx_arena_t *a);

/* Allocate n bytes aligned to 16. Aborts on OOM (server policy); returns
 * NULL only when the arena's _limit would be exceeded. */
void *sx_arena_alloc(sx_arena_t *a, size_t n);
void *sx_arena_calloc(sx_arena_t *a, size_t nmemb, size_t size);
/* Grow an array allocated from this arena: a new block, old contents copied.
 * The old pointer stays valid (arenas never free) but is stale. */
void *sx_arena_realloc(sx_arena_t *a, void *old, size_t oldn, size_t newn);
char *sx_arena_strndup(sx_arena_t *a, const char *s, size_t n);
sx_str_t sx_arena_strdup_str(sx_arena_t *a, sx_str_t s);
char *sx_arena_sprintf(sx_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t sx_arena_total(const sx_arena_t *a);
/* Move every chunk of from into a, so that what was allocated from it
 * lives as long as a; from is left empty. */
void sx_arena_adopt(sx_arena_t *a, sx_arena_t *from);

/* Heap allocation that logs and aborts on failure (server code only). */
void *sx_xmalloc(size_t n);
void *sx_xcalloc(size_t nmemb, size_t size);
void *sx_xrealloc(void *p, size_t n);
char *sx_xstrdup(const char *s);
char *sx_xstrndup(const char *s, size_t n);

#endif
