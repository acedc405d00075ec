/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the OTLP trace decoder (src/ingest/otlp.c) and the
 * field walker it shares with the log and metric decoders. The first byte
 * picks the format (odd: JSON, even: protobuf); the rest is the body. A
 * failure must come with a known code and a message; a decoded batch must
 * keep the decoder's promises (ids not zero, indices in range, counters
 * that add up), and a JSON body that decodes must give the same spans
 * after the JSON-to-protobuf transcoder and the protobuf decoder. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/otlp.h"
#include "model/span.h"

static void check_at(bool ok, int line)
{
    if (!ok) {
        fprintf(stderr, "check failed at line %d\n", line);
        abort();
    }
}
#define check(ok) check_at((ok), __LINE__)

static void check_attrs_same(const sx_attr_t *a, const sx_attr_t *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        check(sx_str_eq(a[i].key, b[i].key) && a[i].value.type == b[i].value.type);
        switch (a[i].value.type) {
        case SX_AV_STRING:
        case SX_AV_BYTES:
        case SX_AV_ARRAY:
        case SX_AV_KVLIST:
            check(sx_str_eq(a[i].value.s, b[i].value.s));
            break;
        case SX_AV_INT:
            check(a[i].value.i == b[i].value.i);
            break;
        case SX_AV_BOOL:
            check(a[i].value.b == b[i].value.b);
            break;
        case SX_AV_DOUBLE:
            check(memcmp(&a[i].value.d, &b[i].value.d, sizeof(double)) == 0 ||
                  (a[i].value.d != a[i].value.d && b[i].value.d != b[i].value.d));
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int fmt = (data[0] & 1) ? SX_OTLP_JSON : SX_OTLP_PROTOBUF;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    sx_arena_t arena;
    sx_arena_init(&arena);
    arena._limit = 256u << 20;
    sx_span_batch_t b;
    sx_span_batch_init(&b, &arena);
    sx_otlp_result_t res;
    sx_err_t err;
    sx_err_clear(&err);
    int rc = sx_otlp_traces_decode(in, len, fmt, &b, &res, &err);
    if (rc) {
        check(rc == SX_EPARSE || rc == SX_ETOOLARGE);
        check(err.code == rc && err.msg[0] != '\0');
        sx_arena_dispose(&arena);
        return 0;
    }
    check(res.accepted == (int64_t)b.nspans && res.rejected >= 0);
    check((res.rejected > 0) == (res.msg[0] != '\0'));
    for (uint32_t i = 0; i < b.nscopes; i++)
        check(b.scopes[i].resource < b.nresources);
    for (uint32_t i = 0; i < b.nspans; i++) {
        const sx_span_t *s = &b.spans[i];
        check(s->scope < b.nscopes);
        check(!sx_span_id_is_zero(s->trace_id, 16) && !sx_span_id_is_zero(s->span_id, 8));
        check(s->has_parent == !sx_span_id_is_zero(s->parent_span_id, 8));
        for (uint32_t j = 0; j < s->nattrs; j++)
            check(s->attrs[j].value.type >= SX_AV_EMPTY && s->attrs[j].value.type <= SX_AV_KVLIST);
    }
    sx_buf_t out = SX_BUF_INIT;
    sx_otlp_response_encode(SX_OTLP_TRACES, fmt, &res, &out);
    sx_buf_clear(&out);

    if (fmt == SX_OTLP_JSON &&
        sx_otlp_json_to_protobuf(SX_OTLP_TRACES, in, len, &arena, &out, &err) == 0) {
        sx_span_batch_t p;
        sx_otlp_result_t pres;
        sx_span_batch_init(&p, &arena);
        check(sx_otlp_traces_decode(out.ptr, out.len, SX_OTLP_PROTOBUF, &p, &pres, &err) == 0);
        check(p.nspans == b.nspans && p.nscopes == b.nscopes && p.nresources == b.nresources);
        check(pres.rejected == res.rejected);
        for (uint32_t i = 0; i < b.nspans; i++) {
            const sx_span_t *x = &b.spans[i], *y = &p.spans[i];
            check(memcmp(x->trace_id, y->trace_id, 16) == 0 && memcmp(x->span_id, y->span_id, 8) == 0);
            check(sx_str_eq(x->name, y->name) && x->kind == y->kind && x->start_ns == y->start_ns);
            check(x->nattrs == y->nattrs && x->nevents == y->nevents && x->nlinks == y->nlinks);
            check_attrs_same(x->attrs, y->attrs, x->nattrs);
        }
    }
    sx_buf_dispose(&out);
    sx_arena_dispose(&arena);
    return 0;
}
