/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the OTLP log decoder (src/ingest/otlp_logs.c). The
 * first byte picks the format (odd: JSON, even: protobuf). A failure must
 * come with a known code and a message; a decoded batch must have sorted,
 * unique, valid stream labels including service_name, counters that add
 * up, and a JSON body must decode to the same streams after the
 * JSON-to-protobuf transcoder. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/otlp.h"
#include "model/log.h"

static void check_at(bool ok, int line)
{
    if (!ok) {
        fprintf(stderr, "check failed at line %d\n", line);
        abort();
    }
}
#define check(ok) check_at((ok), __LINE__)

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
    sx_log_batch_t b;
    sx_log_batch_init(&b, &arena);
    sx_otlp_result_t res;
    sx_err_t err;
    sx_err_clear(&err);
    sx_otlp_log_opts_t opts = {NULL, 0, 42};
    int rc = sx_otlp_logs_decode(in, len, fmt, &opts, &b, &res, &err);
    if (rc) {
        check(rc == SX_EPARSE || rc == SX_ETOOLARGE);
        check(err.code == rc && err.msg[0] != '\0');
        sx_arena_dispose(&arena);
        return 0;
    }
    size_t nent = 0, nbytes = 0;
    for (size_t i = 0; i < b.nstreams; i++) {
        const sx_log_stream_in_t *s = &b.streams[i];
        bool svc = false;
        check(s->nlabels > 0 && s->nentries > 0);
        for (uint32_t j = 0; j < s->nlabels; j++) {
            check(sx_label_name_valid(s->labels[j].name) && s->labels[j].value.len > 0);
            check(sx_utf8_valid(s->labels[j].value.ptr, s->labels[j].value.len));
            if (j)
                check(sx_str_cmp(s->labels[j - 1].name, s->labels[j].name) < 0);
            svc |= sx_str_eq_cstr(s->labels[j].name, "service_name");
        }
        check(svc);
        for (uint32_t j = 0; j < s->nentries; j++) {
            const sx_log_entry_t *e = &s->entries[j];
            nbytes += e->line.len;
            for (uint32_t k = 0; k < e->nmeta; k++)
                check(sx_label_name_valid(e->meta[k].name) && e->meta[k].value.len > 0);
        }
        nent += s->nentries;
    }
    check(nent == b.nentries && nbytes == b.nbytes && (int64_t)nent == res.accepted);
    sx_buf_t out = SX_BUF_INIT;
    sx_otlp_response_encode(SX_OTLP_LOGS, fmt, &res, &out);
    sx_buf_clear(&out);

    if (fmt == SX_OTLP_JSON && sx_otlp_json_to_protobuf(SX_OTLP_LOGS, in, len, &arena, &out, &err) == 0) {
        sx_log_batch_t p;
        sx_otlp_result_t pres;
        sx_log_batch_init(&p, &arena);
        check(sx_otlp_logs_decode(out.ptr, out.len, SX_OTLP_PROTOBUF, &opts, &p, &pres, &err) == 0);
        check(p.nstreams == b.nstreams && p.nentries == b.nentries && p.nbytes == b.nbytes);
        for (size_t i = 0; i < b.nstreams; i++) {
            const sx_log_stream_in_t *x = &b.streams[i], *y = &p.streams[i];
            check(x->nlabels == y->nlabels && x->nentries == y->nentries);
            for (uint32_t j = 0; j < x->nlabels; j++)
                check(sx_str_eq(x->labels[j].name, y->labels[j].name) &&
                      sx_str_eq(x->labels[j].value, y->labels[j].value));
            for (uint32_t j = 0; j < x->nentries; j++) {
                const sx_log_entry_t *e = &x->entries[j], *g = &y->entries[j];
                check(e->ts == g->ts && sx_str_eq(e->line, g->line) && e->nmeta == g->nmeta);
                for (uint32_t k = 0; k < e->nmeta; k++)
                    check(sx_str_eq(e->meta[k].name, g->meta[k].name) &&
                          sx_str_eq(e->meta[k].value, g->meta[k].value));
            }
        }
    }
    sx_buf_dispose(&out);
    sx_arena_dispose(&arena);
    return 0;
}
