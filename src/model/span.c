/* SPDX-License-Identifier: Apache-2.0 */
/* Span batches: the growable arrays the OTLP trace decoder fills. Memory
 * comes from the batch arena and grows by doubling, as log and metric
 * batches do; old arrays stay in the arena until it is reset. */
#include "span.h"

#include <string.h>

void sx_span_batch_init(sx_span_batch_t *b, sx_arena_t *arena)
{
    memset(b, 0, sizeof(*b));
    b->arena = arena;
}

/* Make room for one more element of size sz in *arr (n used, *cap
 * allocated). Returns false when the arena refuses or the count is absurd. */
static bool grow(sx_arena_t *a, void **arr, uint32_t n, uint32_t *cap, size_t sz)
{
    if (n < *cap)
        return true;
    if (*cap >= UINT32_MAX / 2)
        return false;
    uint32_t ncap = *cap ? *cap * 2 : 8;
    void *p = sx_arena_realloc(a, *arr, (size_t)n * sz, (size_t)ncap * sz);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

sx_span_resource_t *sx_span_batch_add_resource(sx_span_batch_t *b)
{
    if (!grow(b->arena, (void **)&b->resources, b->nresources, &b->_rcap, sizeof(*b->resources)))
        return NULL;
    sx_span_resource_t *r = &b->resources[b->nresources++];
    memset(r, 0, sizeof(*r));
    return r;
}

sx_span_scope_t *sx_span_batch_add_scope(sx_span_batch_t *b)
{
    if (!grow(b->arena, (void **)&b->scopes, b->nscopes, &b->_scap, sizeof(*b->scopes)))
        return NULL;
    sx_span_scope_t *s = &b->scopes[b->nscopes++];
    memset(s, 0, sizeof(*s));
    return s;
}

sx_span_t *sx_span_batch_add(sx_span_batch_t *b)
{
    if (!grow(b->arena, (void **)&b->spans, b->nspans, &b->_cap, sizeof(*b->spans)))
        return NULL;
    sx_span_t *s = &b->spans[b->nspans++];
    memset(s, 0, sizeof(*s));
    return s;
}

void sx_span_id_hex(const uint8_t *id, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 15];
    }
    out[2 * n] = '\0';
}

bool sx_span_id_is_zero(const uint8_t *id, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (id[i])
            return false;
    return true;
}
