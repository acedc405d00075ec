/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the `| logfmt` stage. The first byte picks the flags
 * (bit 0 --strict, bit 1 --keep-empty, bit 2 with extraction parameters),
 * the rest is the log line, parsed against a fixed set of stream labels.
 * Every label must be a valid slice and the set must stay sorted with
 * unique names; any sanitizer report is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "query/logql/labels.h"
#include "query/logql/logfmt.h"

static void check_sorted(const sx_lq_labels_t *lb)
{
    for (uint32_t i = 1; i < lb->n; i++)
        if (sx_str_cmp(lb->v[i - 1].name, lb->v[i].name) >= 0)
            abort();
    volatile unsigned sum = 0;
    for (uint32_t i = 0; i < lb->n; i++) {
        for (size_t k = 0; k < lb->v[i].name.len; k++)
            sum += (unsigned char)lb->v[i].name.ptr[k];
        for (size_t k = 0; k < lb->v[i].value.len; k++)
            sum += (unsigned char)lb->v[i].value.ptr[k];
    }
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t flags = data[0];
    sx_str_t line = {(const char *)data + 1, size - 1};
    static const sx_label_t base[] = {
        {SX_STR_LIT("app"), SX_STR_LIT("web")},
        {SX_STR_LIT("level"), SX_STR_LIT("x")},
    };
    sx_arena_t a;
    sx_arena_init(&a);
    sx_lq_labels_t lb;
    sx_lq_labels_init(&lb, &a);
    sx_lq_logfmt_t p;
    sx_err_t err;
    sx_str_t ids[] = {SX_STR_LIT("level"), SX_STR_LIT("lvl"), SX_STR_LIT("m")};
    sx_str_t exprs[] = {SX_STR_LIT("level"), SX_STR_LIT("level"), SX_STR_LIT("\"msg\"")};
    size_t n = (flags & 4) ? 3 : 0;
    if (sx_lq_logfmt_init(&p, flags & 1, flags & 2, ids, exprs, n, &a, &err) != 0)
        abort();
    for (int round = 0; round < 2; round++) {
        sx_lq_labels_reset(&lb, base, 2);
        sx_lq_logfmt_process(&p, line, &lb);
        check_sorted(&lb);
        (void)sx_lq_labels_hash(&lb);
    }
    sx_lq_labels_dispose(&lb);
    sx_arena_dispose(&a);
    return 0;
}
