/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for stored span records (src/storage/traces/spanrec.c).
 * The first byte picks the mode:
 *   0: the rest is a record as read from disk; a record that decodes must
 *      render, re-encode and decode again to the same OTLP JSON;
 *   1, 2: the rest is an OTLP trace request (protobuf, JSON); every span it
 *      decodes to must survive record encoding: the record decodes, and
 *      renders to exactly the JSON of the span as received. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/otlp.h"
#include "model/span.h"
#include "storage/traces/spanrec.h"

static void check_at(bool ok, int line)
{
    if (!ok) {
        fprintf(stderr, "check failed at line %d\n", line);
        abort();
    }
}
#define check(ok) check_at((ok), __LINE__)

/* Encode span sp of b, decode the record, and compare JSON renderings. */
static void round_trip(sx_arena_t *a, const sx_span_batch_t *b, const sx_span_t *sp)
{
    sx_buf_t rec = SX_BUF_INIT, j1 = SX_BUF_INIT, j2 = SX_BUF_INIT;
    sx_spanrec_encode(&rec, b, sp);
    sx_span_batch_t d;
    sx_span_batch_init(&d, a);
    check(sx_spanrec_decode(rec.ptr, rec.len, sx_spanrec_ts(sp), &d) == 0);
    check(d.nspans == 1 && d.nscopes == 1 && d.nresources == 1);
    sx_span_json(&j1, b, sp);
    sx_span_json(&j2, &d, &d.spans[0]);
    check(j1.len == j2.len && memcmp(j1.ptr, j2.ptr, j1.len) == 0);
    const sx_span_resource_t *r0 = &b->resources[b->scopes[sp->scope].resource];
    check(sx_str_eq(r0->service_name, d.resources[0].service_name) || !r0->service_name.len);
    sx_buf_dispose(&rec);
    sx_buf_dispose(&j1);
    sx_buf_dispose(&j2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    sx_arena_t a;
    sx_arena_init(&a);
    if (data[0] % 3 == 0) {
        sx_span_batch_t d;
        sx_span_batch_init(&d, &a);
        if (sx_spanrec_decode(p, n, 1700000000000000000LL, &d) == 0) {
            check(d.nspans == 1);
            sx_buf_t j = SX_BUF_INIT;
            sx_span_json(&j, &d, &d.spans[0]);
            round_trip(&a, &d, &d.spans[0]);
            sx_buf_dispose(&j);
        }
    } else {
        sx_span_batch_t b;
        sx_span_batch_init(&b, &a);
        sx_otlp_result_t res;
        sx_otlp_result_init(&res);
        sx_err_t err;
        sx_err_clear(&err);
        int fmt = data[0] % 3 == 1 ? SX_OTLP_PROTOBUF : SX_OTLP_JSON;
        if (sx_otlp_traces_decode(p, n, fmt, &b, &res, &err) == 0)
            for (uint32_t i = 0; i < b.nspans; i++)
                round_trip(&a, &b, &b.spans[i]);
    }
    sx_arena_dispose(&a);
    return 0;
}
