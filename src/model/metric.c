/* SPDX-License-Identifier: Apache-2.0 */
/* Metric batches and the label rules every metric decoder applies. */
#include "metric.h"

#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/hash.h"

bool sx_is_stale_nan(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return bits == SX_STALE_NAN_BITS;
}

double sx_stale_nan(void)
{
    uint64_t bits = SX_STALE_NAN_BITS;
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

void sx_metric_batch_init(sx_metric_batch_t *b, sx_arena_t *arena)
{
    memset(b, 0, sizeof(*b));
    b->arena = arena;
}

sx_series_in_t *sx_metric_batch_add(sx_metric_batch_t *b)
{
    if (b->nseries == b->_cap) {
        size_t cap = b->_cap ? b->_cap * 2 : 64;
        b->series = sx_arena_realloc(b->arena, b->series, b->nseries * sizeof(*b->series),
                                     cap * sizeof(*b->series));
        b->_cap = cap;
    }
    sx_series_in_t *s = &b->series[b->nseries++];
    memset(s, 0, sizeof(*s));
    return s;
}

sx_metric_meta_t *sx_metric_batch_add_meta(sx_metric_batch_t *b)
{
    if (b->nmeta == b->_metacap) {
        size_t cap = b->_metacap ? b->_metacap * 2 : 16;
        b->meta = sx_arena_realloc(b->arena, b->meta, b->nmeta * sizeof(*b->meta), cap * sizeof(*b->meta));
        b->_metacap = cap;
    }
    sx_metric_meta_t *m = &b->meta[b->nmeta++];
    memset(m, 0, sizeof(*m));
    return m;
}

static inline bool name_char(char c, bool first, bool metric)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (metric && c == ':')
        return true;
    return !first && c >= '0' && c <= '9';
}

bool sx_label_name_valid(sx_str_t name)
{
    if (name.len == 0)
        return false;
    for (size_t i = 0; i < name.len; i++)
        if (!name_char(name.ptr[i], i == 0, false))
            return false;
    return true;
}

bool sx_metric_name_valid(sx_str_t name)
{
    if (name.len == 0)
        return false;
    for (size_t i = 0; i < name.len; i++)
        if (!name_char(name.ptr[i], i == 0, true))
            return false;
    return true;
}

int sx_labels_validate(const sx_label_t *labels, uint32_t n, sx_err_t *err)
{
    if (n == 0)
        return sx_err_set(err, SX_EBADLABEL, "series has no labels");
    bool have_name = false;
    for (uint32_t i = 0; i < n; i++) {
        const sx_label_t *l = &labels[i];
        if (!sx_label_name_valid(l->name))
            return sx_err_set(err, SX_EBADLABEL, "invalid label name \"%.*s\"", (int)l->name.len,
                              l->name.ptr ? l->name.ptr : "");
        if (!sx_utf8_valid(l->value.ptr, l->value.len))
            return sx_err_set(err, SX_EBADLABEL, "label %.*s has a value that is not valid UTF-8",
                              (int)l->name.len, l->name.ptr);
        if (l->value.len == 0)
            return sx_err_set(err, SX_EBADLABEL, "label %.*s has an empty value", (int)l->name.len,
                              l->name.ptr);
        if (i > 0) {
            int c = sx_str_cmp(labels[i - 1].name, l->name);
            if (c == 0)
                return sx_err_set(err, SX_EBADLABEL, "duplicate label name \"%.*s\"", (int)l->name.len,
                                  l->name.ptr);
            if (c > 0)
                return sx_err_set(err, SX_EBADLABEL, "labels are not sorted: \"%.*s\" after \"%.*s\"",
                                  (int)l->name.len, l->name.ptr, (int)labels[i - 1].name.len,
                                  labels[i - 1].name.ptr);
        }
        if (sx_str_eq_cstr(l->name, "__name__")) {
            if (!sx_metric_name_valid(l->value))
                return sx_err_set(err, SX_EBADLABEL, "invalid metric name \"%.*s\"", (int)l->value.len,
                                  l->value.ptr);
            have_name = true;
        }
    }
    if (!have_name)
        return sx_err_set(err, SX_EBADLABEL, "series has no __name__ label");
    return 0;
}

int sx_labels_err_wrap(sx_err_t *err, size_t idx, const sx_label_t *labels, uint32_t n)
{
    if (!err)
        return 0;
    char reason[sizeof(err->msg)];
    memcpy(reason, err->msg, sizeof(reason));
    sx_arena_t a;
    sx_arena_init(&a);
    const char *ls = sx_labels_format(&a, labels, n);
    if (!ls)
        ls = "?";
    const int max = 300;
    sx_err_set(err, err->code, "series %zu (%.*s%s): %s", idx, max, ls,
               strlen(ls) > (size_t)max ? "..." : "", reason);
    sx_arena_dispose(&a);
    return err->code;
}

static int cmp_label(const void *a, const void *b)
{
    return sx_str_cmp(((const sx_label_t *)a)->name, ((const sx_label_t *)b)->name);
}

uint32_t sx_labels_sort(sx_label_t *labels, uint32_t n)
{
    uint32_t out = 0;
    for (uint32_t i = 0; i < n; i++)
        if (labels[i].value.len)
            labels[out++] = labels[i];
    /* Insertion sort: label sets are small and this keeps it stable. */
    for (uint32_t i = 1; i < out; i++) {
        sx_label_t t = labels[i];
        uint32_t j = i;
        while (j > 0 && cmp_label(&labels[j - 1], &t) > 0) {
            labels[j] = labels[j - 1];
            j--;
        }
        labels[j] = t;
    }
    return out;
}

const char *sx_labels_format(sx_arena_t *a, const sx_label_t *labels, uint32_t n)
{
    sx_buf_t b = SX_BUF_INIT;
    for (uint32_t i = 0; i < n; i++)
        if (sx_str_eq_cstr(labels[i].name, "__name__"))
            sx_buf_append_str(&b, labels[i].value);
    sx_buf_putc(&b, '{');
    bool first = true;
    for (uint32_t i = 0; i < n; i++) {
        if (sx_str_eq_cstr(labels[i].name, "__name__"))
            continue;
        if (!first)
            sx_buf_puts(&b, ", ");
        first = false;
        sx_buf_append_str(&b, labels[i].name);
        sx_buf_putc(&b, '=');
        sx_buf_json_str(&b, labels[i].value.ptr, labels[i].value.len);
    }
    sx_buf_putc(&b, '}');
    char *s = sx_arena_strndup(a, b.ptr, b.len);
    sx_buf_dispose(&b);
    return s;
}

sx_str_t sx_label_name_sanitize(sx_arena_t *a, sx_str_t s, bool metric)
{
    bool ok = s.len > 0;
    for (size_t i = 0; ok && i < s.len; i++)
        ok = name_char(s.ptr[i], i == 0, metric);
    if (ok)
        return s;
    bool lead = s.len == 0 || (s.ptr[0] >= '0' && s.ptr[0] <= '9');
    char *p = sx_arena_alloc(a, s.len + 2);
    size_t o = 0;
    if (lead)
        p[o++] = '_';
    for (size_t i = 0; i < s.len; i++)
        p[o++] = name_char(s.ptr[i], false, metric) ? s.ptr[i] : '_';
    p[o] = '\0';
    return (sx_str_t){p, o};
}

/* Hash of a label set: one XXH3 pass over "name\xffvalue\xff..." (0xff
 * never occurs in UTF-8, so distinct sets give distinct byte strings). */
uint64_t sx_labels_hash(const sx_label_t *labels, uint32_t n)
{
    char stack[1024], *buf = stack;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += labels[i].name.len + labels[i].value.len + 2;
    if (total == 0)
        return sx_hash64("", 0);
    if (total > sizeof(stack))
        buf = sx_xmalloc(total);
    char *p = buf;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(p, labels[i].name.ptr, labels[i].name.len);
        p += labels[i].name.len;
        *p++ = (char)0xff;
        memcpy(p, labels[i].value.ptr, labels[i].value.len);
        p += labels[i].value.len;
        *p++ = (char)0xff;
    }
    uint64_t h = sx_hash64(buf, total);
    if (buf != stack)
        free(buf);
    return h;
}
