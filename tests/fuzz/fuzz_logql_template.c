/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the line_format / label_format template engine. The first
 * line of the input is the template; each following line "name=value"
 * becomes a label (sorted, deduplicated), the last line also serves as the
 * log line. A template that compiles is executed twice (the program must
 * be reusable) at a fixed timestamp. Any sanitizer report is a finding;
 * execution errors are expected. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "query/logql/labels.h"
#include "query/logql/template.h"

static int cmp(const void *x, const void *y)
{
    return sx_str_cmp(((const sx_label_t *)x)->name, ((const sx_label_t *)y)->name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    const char *s = (const char *)data, *end = s + size;
    const char *nl = memchr(s, '\n', size);
    sx_str_t src = {s, nl ? (size_t)(nl - s) : size};
    sx_label_t labels[32];
    size_t n = 0;
    sx_str_t line = SX_STR_LIT("");
    for (const char *cur = nl ? nl + 1 : end; cur < end && n < 32;) {
        const char *e = memchr(cur, '\n', (size_t)(end - cur));
        sx_str_t l = {cur, e ? (size_t)(e - cur) : (size_t)(end - cur)};
        line = l;
        const char *eq = memchr(l.ptr, '=', l.len);
        if (eq && eq > l.ptr) {
            sx_label_t lab = {{l.ptr, (size_t)(eq - l.ptr)}, {eq + 1, l.len - (size_t)(eq - l.ptr) - 1}};
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = sx_str_eq(labels[k].name, lab.name);
            if (!dup)
                labels[n++] = lab;
        }
        if (!e)
            break;
        cur = e + 1;
    }
    qsort(labels, n, sizeof(labels[0]), cmp);

    sx_arena_t a;
    sx_arena_init(&a);
    sx_lq_labels_t lb;
    sx_lq_labels_init(&lb, &a);
    sx_err_t err;
    sx_lq_tmpl_t *t = sx_lq_tmpl_compile(src, "line", &a, &err);
    if (t) {
        for (int round = 0; round < 2; round++) {
            sx_lq_labels_reset(&lb, labels, n);
            sx_buf_t out = SX_BUF_INIT, emsg = SX_BUF_INIT;
            (void)sx_lq_tmpl_exec(t, &lb, line, 1679577215500000000LL, &out, &emsg);
            sx_buf_dispose(&out);
            sx_buf_dispose(&emsg);
        }
        (void)sx_lq_tmpl_simple_field(t, NULL);
        sx_str_t names[4];
        (void)sx_lq_tmpl_fields(t, names, 4);
        sx_lq_tmpl_dispose(t);
    }
    sx_lq_labels_dispose(&lb);
    sx_arena_dispose(&a);
    return 0;
}
