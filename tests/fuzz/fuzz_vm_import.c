/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the VictoriaMetrics JSON-lines import decoder
 * (src/ingest/vm_import.c). Besides surviving any input, whatever decodes
 * must survive a round trip: exporting each decoded series and importing
 * the lines again gives the same labels, timestamps, value bits (any
 * non-stale NaN compares as NaN) and histogram blobs, or the target
 * aborts. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/vm_import.h"
#include "model/metric.h"

static bool same_value(double a, double b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b) && sx_is_stale_nan(a) == sx_is_stale_nan(b);
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static bool same_series(const sx_series_in_t *a, const sx_series_in_t *b)
{
    if (a->nlabels != b->nlabels || a->nsamples != b->nsamples || a->nhists != b->nhists)
        return false;
    for (uint32_t i = 0; i < a->nlabels; i++)
        if (!sx_str_eq(a->labels[i].name, b->labels[i].name) ||
            !sx_str_eq(a->labels[i].value, b->labels[i].value))
            return false;
    for (uint32_t i = 0; i < a->nsamples; i++)
        if (a->samples[i].ts != b->samples[i].ts || !same_value(a->samples[i].v, b->samples[i].v))
            return false;
    for (uint32_t i = 0; i < a->nhists; i++)
        if (a->hists[i].ts != b->hists[i].ts || !sx_str_eq(a->hists[i].blob, b->hists[i].blob))
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sx_arena_t arena;
    sx_arena_init(&arena);
    sx_metric_batch_t batch, again;
    sx_metric_batch_init(&batch, &arena);
    sx_err_t err;
    sx_err_clear(&err);
    if (sx_vm_import_decode((const char *)data, size, &batch, &err) == 0) {
        sx_buf_t out = SX_BUF_INIT;
        for (size_t i = 0; i < batch.nseries; i++) {
            const sx_series_in_t *s = &batch.series[i];
            int64_t *ts = sx_arena_alloc(&arena, (s->nsamples + 1) * sizeof(*ts));
            double *v = sx_arena_alloc(&arena, (s->nsamples + 1) * sizeof(*v));
            for (uint32_t k = 0; k < s->nsamples; k++) {
                ts[k] = s->samples[k].ts;
                v[k] = s->samples[k].v;
            }
            sx_vm_export_line(&out, s->labels, s->nlabels, ts, v, s->nsamples, s->hists, s->nhists);
        }
        sx_metric_batch_init(&again, &arena);
        if (sx_vm_import_decode(out.ptr ? out.ptr : "", out.len, &again, &err) != 0)
            abort();
        if (again.nseries != batch.nseries || again.nsamples != batch.nsamples)
            abort();
        for (size_t i = 0; i < batch.nseries; i++)
            if (!same_series(&batch.series[i], &again.series[i]))
                abort();
        sx_buf_dispose(&out);
    }
    sx_arena_dispose(&arena);
    return 0;
}
