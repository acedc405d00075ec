/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: pattern expressions. The first line of the input is the
 * pattern, every following line an input line: each is matched with the
 * `| pattern` stage (when the pattern compiles as a parser) and tested
 * with the `|>` filter (when it compiles as a filter). Captures must lie
 * inside the line; any sanitizer report is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "query/logql/labels.h"
#include "query/logql/pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    sx_str_t pat = {s, nl ? (size_t)(nl - s) : size};
    sx_arena_t a;
    sx_arena_init(&a);
    sx_lq_labels_t lb;
    sx_lq_labels_init(&lb, &a);
    sx_err_t err;
    sx_lq_pattern_t p, f;
    bool parser = sx_lq_pattern_compile(pat, &p, &a, &err) == 0;
    bool filter = sx_lq_pattern_compile_filter(pat, &f, &a, &err) == 0;
    const char *cur = nl ? nl + 1 : s + size, *end = s + size;
    while (cur <= end) {
        const char *e = memchr(cur, '\n', (size_t)(end - cur));
        sx_str_t line = {cur, e ? (size_t)(e - cur) : (size_t)(end - cur)};
        if (parser) {
            sx_str_t caps[64];
            if (p.n_names <= 64) {
                size_t n = sx_lq_pattern_match(&p, line, caps);
                if (n > p.n_names)
                    abort();
                for (size_t i = 0; i < n; i++)
                    if (caps[i].len && (caps[i].ptr < line.ptr || caps[i].ptr + caps[i].len > line.ptr + line.len))
                        abort();
            }
            sx_lq_labels_reset(&lb, NULL, 0);
            sx_lq_pattern_process(&p, line, &lb);
        }
        if (filter)
            (void)sx_lq_pattern_test(&f, line);
        if (!e)
            break;
        cur = e + 1;
    }
    sx_lq_labels_dispose(&lb);
    sx_arena_dispose(&a);
    return 0;
}
