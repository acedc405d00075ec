/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the OTLP metric decoder (src/ingest/otlp_metrics.c)
 * and, through it, the native histogram encoder: every histogram blob it
 * writes must decode with the PromQL decoder (src/query/promql/hist.c).
 * The first byte picks the format (odd: JSON, even: protobuf). A failure
 * must come with a known code and a message; every series must pass
 * sx_labels_validate; counters must add up; a JSON body must decode to
 * the same series after the JSON-to-protobuf transcoder. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/otlp.h"
#include "model/metric.h"
#include "query/promql/hist.h"

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
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &arena);
    sx_otlp_result_t res;
    sx_err_t err;
    sx_err_clear(&err);
    static const char *const promote[] = {"k8s.cluster.name", "host.name"};
    sx_otlp_metric_opts_t opts = {promote, 2, (data[0] & 2) != 0, 1700000000000000000LL};
    int rc = sx_otlp_metrics_decode(in, len, fmt, &opts, &b, &res, &err);
    if (rc) {
        check(rc == SX_EPARSE || rc == SX_ETOOLARGE);
        check(err.code == rc && err.msg[0] != '\0');
        sx_arena_dispose(&arena);
        return 0;
    }
    size_t nsamples = 0;
    for (size_t i = 0; i < b.nseries; i++) {
        const sx_series_in_t *s = &b.series[i];
        sx_err_t verr;
        if (sx_labels_validate(s->labels, s->nlabels, &verr) != 0)
            abort();
        check(s->nsamples + s->nhists == 1);
        for (uint32_t j = 0; j < s->nhists; j++) {
            sx_promql_hist_t h;
            check(sx_promql_hist_decode(s->hists[j].blob, &arena, &h, &verr) == 0);
        }
        nsamples += s->nsamples + s->nhists;
    }
    check(nsamples == b.nsamples);
    for (size_t i = 0; i < b.nmeta; i++)
        check(sx_metric_name_valid(b.meta[i].metric));
    sx_buf_t out = SX_BUF_INIT;
    sx_otlp_response_encode(SX_OTLP_METRICS, fmt, &res, &out);
    sx_buf_clear(&out);

    if (fmt == SX_OTLP_JSON &&
        sx_otlp_json_to_protobuf(SX_OTLP_METRICS, in, len, &arena, &out, &err) == 0) {
        sx_metric_batch_t p;
        sx_otlp_result_t pres;
        sx_metric_batch_init(&p, &arena);
        check(sx_otlp_metrics_decode(out.ptr, out.len, SX_OTLP_PROTOBUF, &opts, &p, &pres, &err) == 0);
        check(p.nseries == b.nseries && p.nmeta == b.nmeta && pres.rejected == res.rejected);
        for (size_t i = 0; i < b.nseries; i++) {
            const sx_series_in_t *x = &b.series[i], *y = &p.series[i];
            check(x->nlabels == y->nlabels && x->nsamples == y->nsamples && x->nhists == y->nhists);
            for (uint32_t j = 0; j < x->nlabels; j++)
                check(sx_str_eq(x->labels[j].name, y->labels[j].name) &&
                      sx_str_eq(x->labels[j].value, y->labels[j].value));
            for (uint32_t j = 0; j < x->nsamples; j++)
                check(x->samples[j].ts == y->samples[j].ts &&
                      memcmp(&x->samples[j].v, &y->samples[j].v, sizeof(double)) == 0);
            for (uint32_t j = 0; j < x->nhists; j++)
                check(sx_str_eq(x->hists[j].blob, y->hists[j].blob));
        }
    }
    sx_buf_dispose(&out);
    sx_arena_dispose(&arena);
    return 0;
}
