/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for span records by column (src/storage/traces/
 * spancol.c), the form trace chunks take on disk. The first byte picks
 * the mode:
 *   0: byte 1 is a span count, the rest a column form as read from disk.
 *      What decodes must encode and decode again to the same records, and
 *      decoding for one trace must give exactly that trace's records;
 *   1, 2: the rest is an OTLP trace request (protobuf, JSON); the records
 *      of its spans must come back from their column form byte for byte,
 *      for the whole chunk and trace by trace. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/otlp.h"
#include "model/span.h"
#include "storage/traces/spancol.h"
#include "storage/traces/spanrec.h"

static void check_at(bool ok, int line)
{
    if (!ok) {
        fprintf(stderr, "check failed at line %d\n", line);
        abort();
    }
}
#define check(ok) check_at((ok), __LINE__)

static bool same(sx_str_t a, sx_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* lines[0..n) are records; their column form must decode to them, and a
 * keyed decode for the trace of each of the first few to their subset. */
static void check_columns(const sx_str_t *lines, size_t n)
{
    sx_buf_t col = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_str_t *back = calloc(n + 1, sizeof(sx_str_t));
    check(sx_spancol_encode(lines, n, &col));
    check(sx_spancol_decode(col.ptr, col.len, n, (sx_str_t){NULL, 0}, &out, back) == 0);
    for (size_t i = 0; i < n; i++)
        check(same(back[i], lines[i]));
    for (size_t k = 0; k < n && k < 4; k++) {
        sx_str_t key = {lines[k].ptr + 2, 32};
        check(sx_spancol_decode(col.ptr, col.len, n, key, &out, back) == 0);
        for (size_t i = 0; i < n; i++) {
            bool mine = memcmp(lines[i].ptr + 2, key.ptr, 32) == 0;
            check(mine ? same(back[i], lines[i]) : back[i].len == 0);
        }
    }
    free(back);
    sx_buf_dispose(&col);
    sx_buf_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] % 3 == 0) {
        if (size < 2)
            return 0;
        size_t n = data[1];
        const char *p = (const char *)data + 2;
        sx_buf_t out = SX_BUF_INIT, copy = SX_BUF_INIT;
        sx_str_t *lines = calloc(n + 1, sizeof(sx_str_t));
        if (sx_spancol_decode(p, size - 2, n, (sx_str_t){NULL, 0}, &out, lines) == 0) {
            /* The records own their bytes before the next decode reuses out. */
            sx_buf_append(&copy, out.ptr, out.len);
            size_t off = 0;
            for (size_t i = 0; i < n; i++) {
                lines[i].ptr = copy.ptr + off;
                off += lines[i].len;
            }
            check_columns(lines, n);
        }
        /* A keyed decode of any input must not read out of bounds either. */
        sx_str_t key = SX_STR_LIT("000102030405060708090a0b0c0d0e0f");
        (void)sx_spancol_decode(p, size - 2, n, key, &out, lines);
        free(lines);
        sx_buf_dispose(&out);
        sx_buf_dispose(&copy);
        return 0;
    }
    sx_arena_t a;
    sx_arena_init(&a);
    sx_span_batch_t b;
    sx_span_batch_init(&b, &a);
    sx_otlp_result_t res;
    sx_otlp_result_init(&res);
    sx_err_t err;
    sx_err_clear(&err);
    int fmt = data[0] % 3 == 1 ? SX_OTLP_PROTOBUF : SX_OTLP_JSON;
    if (sx_otlp_traces_decode((const char *)data + 1, size - 1, fmt, &b, &res, &err) == 0 &&
        b.nspans) {
        sx_buf_t recs = SX_BUF_INIT;
        size_t *off = calloc(b.nspans + 1, sizeof(size_t));
        for (uint32_t i = 0; i < b.nspans; i++) {
            off[i] = recs.len;
            sx_spanrec_encode(&recs, &b, &b.spans[i]);
        }
        off[b.nspans] = recs.len;
        sx_str_t *lines = calloc(b.nspans, sizeof(sx_str_t));
        for (uint32_t i = 0; i < b.nspans; i++)
            lines[i] = (sx_str_t){recs.ptr + off[i], off[i + 1] - off[i]};
        check_columns(lines, b.nspans);
        free(lines);
        free(off);
        sx_buf_dispose(&recs);
    }
    sx_arena_dispose(&a);
    return 0;
}
