/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the native histogram blob decoder the PromQL engine runs on
 * every histogram sample storage hands it (remote-write Histogram message
 * bytes, integer or float form). A decoded histogram must be consistent
 * (span lengths cover the bucket arrays, custom bucket indices within the
 * bounds), and encoding it must decode again to the same histogram. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "query/promql/hist.h"

static void check_side(const sx_promql_span_t *s, uint32_t ns, uint32_t nb)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < ns; i++)
        total += s[i].len;
    SX_ASSERT(total == nb);
}

static bool same_doubles(const double *a, const double *b, uint32_t n)
{
    return n == 0 || memcmp(a, b, n * sizeof(double)) == 0;
}

static bool same_spans(const sx_promql_span_t *a, const sx_promql_span_t *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i].offset != b[i].offset || a[i].len != b[i].len)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_promql_hist_t h, h2;
    sx_err_t err;
    if (sx_promql_hist_decode((sx_str_t){(const char *)data, size}, &a, &h, &err) == 0) {
        check_side(h.pos_spans, h.npos_spans, h.npos);
        check_side(h.neg_spans, h.nneg_spans, h.nneg);
        sx_buf_t b = SX_BUF_INIT;
        sx_promql_hist_encode(&h, 1, &b);
        int rc = sx_promql_hist_decode((sx_str_t){b.ptr, b.len}, &a, &h2, &err);
        SX_ASSERT(rc == 0);
        SX_ASSERT(h2.schema == h.schema && h2.counter_reset_hint == h.counter_reset_hint);
        SX_ASSERT(same_doubles(&h.count, &h2.count, 1) && same_doubles(&h.sum, &h2.sum, 1));
        SX_ASSERT(same_doubles(&h.zero_count, &h2.zero_count, 1));
        SX_ASSERT(same_doubles(&h.zero_threshold, &h2.zero_threshold, 1));
        SX_ASSERT(h2.npos == h.npos && h2.nneg == h.nneg && h2.ncustom == h.ncustom);
        SX_ASSERT(h2.npos_spans == h.npos_spans && h2.nneg_spans == h.nneg_spans);
        SX_ASSERT(same_doubles(h.pos, h2.pos, h.npos) && same_doubles(h.neg, h2.neg, h.nneg));
        SX_ASSERT(same_doubles(h.custom_values, h2.custom_values, h.ncustom));
        SX_ASSERT(same_spans(h.pos_spans, h2.pos_spans, h.npos_spans));
        SX_ASSERT(same_spans(h.neg_spans, h2.neg_spans, h.nneg_spans));
        sx_buf_dispose(&b);
    }
    sx_arena_dispose(&a);
    return 0;
}
