/* SPDX-License-Identifier: Apache-2.0 */
/* Bump allocator chunks and the aborting heap wrappers. */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

struct sx_arena_chunk {
    sx_arena_chunk_t *next;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

#define ARENA_MIN_CHUNK (64 * 1024 - sizeof(sx_arena_chunk_t))

void *sx_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        sx_panic("out of memory allocating %zu bytes", n);
    return p;
}

void *sx_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        sx_panic("out of memory allocating %zu x %zu bytes", nmemb, size);
    return p;
}

void *sx_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        sx_panic("out of memory reallocating %zu bytes", n);
    return q;
}

char *sx_xstrdup(const char *s)
{
    return sx_xstrndup(s, strlen(s));
}

char *sx_xstrndup(const char *s, size_t n)
{
    char *p = sx_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void sx_arena_init(sx_arena_t *a)
{
    memset(a, 0, sizeof(*a));
}

void sx_arena_dispose(sx_arena_t *a)
{
    sx_arena_chunk_t *c = a->_head;
    while (c) {
        sx_arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->_head = NULL;
    a->_used = a->_total = 0;
}

void sx_arena_reset(sx_arena_t *a)
{
    if (!a->_head)
        return;
    /* Keep the last (oldest) chunk if it is the small default size. */
    sx_arena_chunk_t *c = a->_head, *keep = NULL;
    while (c) {
        sx_arena_chunk_t *next = c->next;
        if (!next && c->cap == ARENA_MIN_CHUNK)
            keep = c;
        else
            free(c);
        c = next;
    }
    a->_head = keep;
    if (keep)
        keep->next = NULL;
    a->_used = 0;
    a->_total = keep ? keep->cap : 0;
}

void *sx_arena_alloc(sx_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (a->_head && a->_head->cap - a->_used >= n) {
        void *p = a->_head->data + a->_used;
        a->_used += n;
        return p;
    }
    size_t cap = n > ARENA_MIN_CHUNK ? n : ARENA_MIN_CHUNK;
    if (a->_limit && a->_total + cap > a->_limit)
        return NULL;
    sx_arena_chunk_t *c = sx_xmalloc(sizeof(*c) + cap);
    c->cap = cap;
    a->_total += cap;
    if (a->_head && n > ARENA_MIN_CHUNK / 4 && a->_head->cap - a->_used > ARENA_MIN_CHUNK / 4) {
        /* A big block: put it behind the current chunk so the current
         * chunk's free space is not wasted. */
        c->next = a->_head->next;
        a->_head->next = c;
        return c->data;
    }
    c->next = a->_head;
    a->_head = c;
    a->_used = n;
    return c->data;
}

void sx_arena_adopt(sx_arena_t *a, sx_arena_t *from)
{
    sx_arena_chunk_t *h = from->_head;
    if (!h)
        return;
    a->_total += from->_total;
    if (!a->_head) {
        a->_head = h;
        a->_used = from->_used;
    } else {
        /* Behind the current chunk, which goes on serving allocations. */
        sx_arena_chunk_t *t = h;
        while (t->next)
            t = t->next;
        t->next = a->_head->next;
        a->_head->next = h;
    }
    from->_head = NULL;
    from->_used = from->_total = 0;
}

void *sx_arena_calloc(sx_arena_t *a, size_t nmemb, size_t size)
{
    if (size && nmemb > SIZE_MAX / size)
        return NULL;
    void *p = sx_arena_alloc(a, nmemb * size);
    if (p)
        memset(p, 0, nmemb * size);
    return p;
}

void *sx_arena_realloc(sx_arena_t *a, void *old, size_t oldn, size_t newn)
{
    void *p = sx_arena_alloc(a, newn);
    if (p && old && oldn)
        memcpy(p, old, oldn < newn ? oldn : newn);
    return p;
}

char *sx_arena_strndup(sx_arena_t *a, const char *s, size_t n)
{
    char *p = sx_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

sx_str_t sx_arena_strdup_str(sx_arena_t *a, sx_str_t s)
{
    char *p = sx_arena_strndup(a, s.ptr, s.len);
    return (sx_str_t){p, p ? s.len : 0};
}

char *sx_arena_sprintf(sx_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = sx_arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t sx_arena_total(const sx_arena_t *a)
{
    return a->_total;
}
