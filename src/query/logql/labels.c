/* SPDX-License-Identifier: Apache-2.0 */
/* The per-line label set of a LogQL pipeline (see labels.h), and the small
 * UTF-8 and name helpers every stage shares. The set is one array sorted by
 * name: lookups are binary searches and an insert moves the tail, which for
 * the few dozen labels a line carries is cheaper than any hash table. */
#include "labels.h"

#include <string.h>

#include "../../core/error.h"
#include "../../core/hash.h"

#define LABELS_MIN_CAP 32

void sx_lq_labels_init(sx_lq_labels_t *lb, sx_arena_t *arena)
{
    memset(lb, 0, sizeof(*lb));
    lb->_arena = arena;
    sx_arena_init(&lb->_line);
}

void sx_lq_labels_dispose(sx_lq_labels_t *lb)
{
    sx_arena_dispose(&lb->_line);
    lb->v = NULL;
    lb->n = lb->_cap = 0;
}

/* Make room for one more entry. The old array stays in the arena (arenas
 * never free); growth doubles, so a warm set never grows again. */
static void grow(sx_lq_labels_t *lb, uint32_t need)
{
    if (need <= lb->_cap)
        return;
    uint32_t cap = lb->_cap ? lb->_cap : LABELS_MIN_CAP;
    while (cap < need)
        cap *= 2;
    sx_lq_label_t *v = sx_arena_alloc(lb->_arena, (size_t)cap * sizeof(*v));
    SX_ASSERT(v != NULL);
    if (lb->n)
        memcpy(v, lb->v, (size_t)lb->n * sizeof(*v));
    lb->v = v;
    lb->_cap = cap;
}

void sx_lq_labels_reset(sx_lq_labels_t *lb, const sx_label_t *base, size_t nbase)
{
    sx_arena_reset(&lb->_line);
    lb->_base = base;
    lb->_nbase = (uint32_t)nbase;
    lb->n = 0;
    grow(lb, (uint32_t)nbase + 8);
    for (size_t i = 0; i < nbase; i++) {
        lb->v[i].name = base[i].name;
        lb->v[i].value = base[i].value;
        lb->v[i].cat = SX_LQ_STREAM;
    }
    lb->n = (uint32_t)nbase;
}

/* sx_str_cmp's order, inlined: label names are short and usually differ
 * in their first bytes, where a memcmp call costs more than the compare. */
static inline int name_cmp(sx_str_t a, sx_str_t b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    const unsigned char *p = (const unsigned char *)a.ptr, *q = (const unsigned char *)b.ptr;
    for (size_t i = 0; i < n; i++)
        if (p[i] != q[i])
            return p[i] < q[i] ? -1 : 1;
    return a.len < b.len ? -1 : a.len > b.len;
}

/* Index of name in v, or -(insertion point) - 1. */
static long search(const sx_lq_label_t *v, uint32_t n, sx_str_t name)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(v[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

const sx_lq_label_t *sx_lq_labels_find(const sx_lq_labels_t *lb, sx_str_t name)
{
    long i = search(lb->v, lb->n, name);
    return i >= 0 ? &lb->v[i] : NULL;
}

bool sx_lq_labels_get(const sx_lq_labels_t *lb, sx_str_t name, sx_str_t *value)
{
    const sx_lq_label_t *l = sx_lq_labels_find(lb, name);
    if (!l)
        return false;
    if (value)
        *value = l->value;
    return true;
}

bool sx_lq_labels_has(const sx_lq_labels_t *lb, sx_str_t name)
{
    return sx_lq_labels_find(lb, name) != NULL;
}

bool sx_lq_labels_base_has(const sx_lq_labels_t *lb, sx_str_t name)
{
    uint32_t lo = 0, hi = lb->_nbase;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(lb->_base[mid].name, name);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

void sx_lq_labels_set(sx_lq_labels_t *lb, sx_lq_cat_t cat, sx_str_t name, sx_str_t value)
{
    long i = search(lb->v, lb->n, name);
    if (i >= 0) {
        sx_lq_label_t *l = &lb->v[i];
        /* Parsed > structured metadata > stream: a lower category never
         * overwrites a higher one. */
        if ((int)cat < (int)l->cat)
            return;
        l->value = value;
        l->cat = (uint8_t)cat;
        return;
    }
    uint32_t at = (uint32_t)(-i - 1);
    grow(lb, lb->n + 1);
    if (at < lb->n)
        memmove(&lb->v[at + 1], &lb->v[at], (size_t)(lb->n - at) * sizeof(*lb->v));
    lb->v[at].name = name;
    lb->v[at].value = value;
    lb->v[at].cat = (uint8_t)cat;
    lb->n++;
}

void sx_lq_labels_set_copy(sx_lq_labels_t *lb, sx_lq_cat_t cat, sx_str_t name, sx_str_t value)
{
    sx_lq_labels_set(lb, cat, sx_lq_labels_strdup(lb, name.ptr, name.len),
                     sx_lq_labels_strdup(lb, value.ptr, value.len));
}

void sx_lq_labels_add(sx_lq_labels_t *lb, sx_lq_cat_t cat, sx_str_t name, sx_str_t value)
{
    if (sx_lq_labels_base_has(lb, name)) {
        size_t sl = sizeof(SX_LQ_DUPLICATE_SUFFIX) - 1;
        char *p = sx_lq_labels_alloc(lb, name.len + sl);
        if (name.len)
            memcpy(p, name.ptr, name.len);
        memcpy(p + name.len, SX_LQ_DUPLICATE_SUFFIX, sl);
        name = (sx_str_t){p, name.len + sl};
    }
    if (sx_str_eq(name, SX_STR_LIT(SX_LQ_ERROR_LABEL))) {
        sx_lq_labels_set_error(lb, value, SX_STR_NULL);
        return;
    }
    if (sx_str_eq(name, SX_STR_LIT(SX_LQ_ERROR_DETAILS_LABEL))) {
        sx_lq_labels_set(lb, SX_LQ_PARSED, name, value);
        return;
    }
    sx_lq_labels_set(lb, cat, name, value);
}

bool sx_lq_labels_del(sx_lq_labels_t *lb, sx_str_t name)
{
    long i = search(lb->v, lb->n, name);
    if (i < 0)
        return false;
    memmove(&lb->v[i], &lb->v[i + 1], (size_t)(lb->n - (uint32_t)i - 1) * sizeof(*lb->v));
    lb->n--;
    return true;
}

void sx_lq_labels_set_error(sx_lq_labels_t *lb, sx_str_t err, sx_str_t details)
{
    sx_lq_labels_set(lb, SX_LQ_PARSED, SX_STR_LIT(SX_LQ_ERROR_LABEL), err);
    if (details.len)
        sx_lq_labels_set(lb, SX_LQ_PARSED, SX_STR_LIT(SX_LQ_ERROR_DETAILS_LABEL), details);
}

bool sx_lq_labels_has_error(const sx_lq_labels_t *lb)
{
    sx_str_t v;
    return sx_lq_labels_get(lb, SX_STR_LIT(SX_LQ_ERROR_LABEL), &v) && v.len > 0;
}

sx_str_t sx_lq_labels_error(const sx_lq_labels_t *lb)
{
    sx_str_t v = SX_STR_LIT("");
    sx_lq_labels_get(lb, SX_STR_LIT(SX_LQ_ERROR_LABEL), &v);
    return v;
}

char *sx_lq_labels_alloc(sx_lq_labels_t *lb, size_t n)
{
    char *p = sx_arena_alloc(&lb->_line, n ? n : 1);
    SX_ASSERT(p != NULL);
    return p;
}

sx_str_t sx_lq_labels_strdup(sx_lq_labels_t *lb, const char *p, size_t n)
{
    char *q = sx_lq_labels_alloc(lb, n + 1);
    if (n)
        memcpy(q, p, n);
    q[n] = '\0';
    return (sx_str_t){q, n};
}

/* Each string hashed on its own, chained through the seed: ("ab","c") and
 * ("a","bc") differ without separators. */
static uint64_t hash_label(uint64_t h, const sx_lq_label_t *l)
{
    h = sx_hash64_seed(l->name.ptr ? l->name.ptr : "", l->name.len, h);
    return sx_hash64_seed(l->value.ptr ? l->value.ptr : "", l->value.len, h ^ 0xff);
}

uint64_t sx_lq_labels_hash(const sx_lq_labels_t *lb)
{
    uint64_t h = 0x5851f42d4c957f2dULL;
    for (uint32_t i = 0; i < lb->n; i++)
        h = hash_label(h, &lb->v[i]);
    return h;
}

uint64_t sx_lq_labels_hash_subset(const sx_lq_labels_t *lb, const sx_str_t *names, size_t n,
                                  bool without)
{
    uint64_t h = 0x5851f42d4c957f2dULL;
    for (uint32_t i = 0; i < lb->n; i++) {
        bool listed = false;
        for (size_t k = 0; k < n && !listed; k++)
            listed = sx_str_eq(lb->v[i].name, names[k]);
        if (listed != without)
            h = hash_label(h, &lb->v[i]);
    }
    return h;
}

/* ---- UTF-8 and names ---- */

size_t sx_lq_utf8_decode(const char *s, size_t n, uint32_t *r)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0) {
        *r = 0xFFFD;
        return 0;
    }
    unsigned c = p[0];
    if (c < 0x80) {
        *r = c;
        return 1;
    }
    size_t w;
    uint32_t v, min;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        w = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        w = 3, v = c & 0x0F, min = 0x800;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        w = 4, v = c & 0x07, min = 0x10000;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *r = 0xFFFD;
        return 1;
    }
    if (n < w || p[1] < lo || p[1] > hi) {
        *r = 0xFFFD;
        return 1;
    }
    v = (v << 6) | (p[1] & 0x3F);
    for (size_t i = 2; i < w; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF) {
            *r = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (p[i] & 0x3F);
    }
    (void)min;
    *r = v;
    return w;
}

bool sx_lq_has_rune_error(sx_str_t s)
{
    for (size_t i = 0; i < s.len;) {
        if ((unsigned char)s.ptr[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t r;
        size_t w = sx_lq_utf8_decode(s.ptr + i, s.len - i, &r);
        if (r == 0xFFFD)
            return true;
        i += w;
    }
    return false;
}

sx_str_t sx_lq_fix_rune_error(sx_lq_labels_t *lb, sx_str_t s)
{
    if (!sx_lq_has_rune_error(s))
        return s;
    char *o = sx_lq_labels_alloc(lb, s.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < s.len;) {
        uint32_t r;
        size_t w = sx_lq_utf8_decode(s.ptr + i, s.len - i, &r);
        if (r == 0xFFFD) {
            o[n++] = ' ';
        } else {
            memcpy(o + n, s.ptr + i, w);
            n += w;
        }
        i += w;
    }
    o[n] = '\0';
    return (sx_str_t){o, n};
}

bool sx_lq_is_space_rune(uint32_t r)
{
    switch (r) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200A;
    }
}

sx_str_t sx_lq_trim_space(sx_str_t s)
{
    size_t b = 0, e = s.len;
    while (b < e) {
        uint32_t r;
        size_t w = sx_lq_utf8_decode(s.ptr + b, e - b, &r);
        if (!sx_lq_is_space_rune(r))
            break;
        b += w;
    }
    while (e > b) {
        /* Step back to the start of the last rune. */
        size_t st = e - 1;
        while (st > b && e - st < 4 && ((unsigned char)s.ptr[st] & 0xC0) == 0x80)
            st--;
        uint32_t r;
        size_t w = sx_lq_utf8_decode(s.ptr + st, e - st, &r);
        if (st + w != e) { /* invalid tail byte: not space */
            break;
        }
        if (!sx_lq_is_space_rune(r))
            break;
        e = st;
    }
    return (sx_str_t){s.ptr + b, e - b};
}

static inline bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

size_t sx_lq_sanitize_key(sx_str_t key, bool is_prefix, char *out)
{
    key = sx_lq_trim_space(key);
    size_t n = 0;
    if (key.len == 0)
        return 0;
    if (is_prefix && key.ptr[0] >= '0' && key.ptr[0] <= '9')
        out[n++] = '_';
    for (size_t i = 0; i < key.len;) {
        unsigned char c = (unsigned char)key.ptr[i];
        if (c < 0x80) {
            out[n++] = name_char(c) ? (char)c : '_';
            i++;
            continue;
        }
        uint32_t r;
        i += sx_lq_utf8_decode(key.ptr + i, key.len - i, &r);
        out[n++] = '_';
    }
    return n;
}

bool sx_lq_label_name_valid(sx_str_t s)
{
    if (s.len == 0 || (s.ptr[0] >= '0' && s.ptr[0] <= '9'))
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!name_char((unsigned char)s.ptr[i]))
            return false;
    return true;
}
