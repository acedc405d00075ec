/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the remote write decoder (src/ingest/
 * remote_write.c). Besides surviving any input, a decoded batch must keep
 * the decoder's promises or the target aborts: every label and histogram
 * slice lies inside the input, labels pass sx_labels_validate, the sample
 * count adds up, and encoding the batch and decoding the result gives the
 * same batch bit for bit (NaN payloads included). A failure must come
 * with a known code and a message, and decoding with labels_unchecked may
 * fail only on framing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/ingest.h"
#include "model/metric.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static bool inside(sx_str_t s, const char *base, size_t len)
{
    return s.len == 0 ||
           (s.ptr >= base && s.len <= len && s.ptr - base <= (ptrdiff_t)(len - s.len));
}

static bool same_str(sx_str_t a, sx_str_t b)
{
    return sx_str_eq(a, b);
}

static void check_same(const sx_metric_batch_t *a, const sx_metric_batch_t *b)
{
    check(a->nseries == b->nseries && a->nmeta == b->nmeta && a->nsamples == b->nsamples);
    for (size_t i = 0; i < a->nseries; i++) {
        const sx_series_in_t *x = &a->series[i], *y = &b->series[i];
        check(x->nlabels == y->nlabels && x->nsamples == y->nsamples && x->nhists == y->nhists);
        for (uint32_t j = 0; j < x->nlabels; j++)
            check(same_str(x->labels[j].name, y->labels[j].name) &&
                  same_str(x->labels[j].value, y->labels[j].value));
        for (uint32_t j = 0; j < x->nsamples; j++)
            check(x->samples[j].ts == y->samples[j].ts &&
                  memcmp(&x->samples[j].v, &y->samples[j].v, sizeof(double)) == 0);
        for (uint32_t j = 0; j < x->nhists; j++)
            check(x->hists[j].ts == y->hists[j].ts && same_str(x->hists[j].blob, y->hists[j].blob));
    }
    for (size_t i = 0; i < a->nmeta; i++) {
        const sx_metric_meta_t *x = &a->meta[i], *y = &b->meta[i];
        check(x->type == y->type && same_str(x->metric, y->metric) && same_str(x->help, y->help) &&
              same_str(x->unit, y->unit));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    sx_arena_t arena;
    sx_arena_init(&arena);
    sx_metric_batch_t batch;
    sx_metric_batch_init(&batch, &arena);
    sx_err_t err;
    sx_err_clear(&err);

    int rc = sx_remote_write_decode(in, size, &batch, &err);

    /* Without label checks only framing can fail, and never more often. */
    sx_metric_batch_t unchecked;
    sx_metric_batch_init(&unchecked, &arena);
    unchecked.labels_unchecked = true;
    int urc = sx_remote_write_decode(in, size, &unchecked, NULL);
    check(urc != SX_EBADLABEL && (rc != 0 || urc == 0));

    if (rc) {
        check(rc == SX_EPARSE || rc == SX_EBADLABEL || rc == SX_ETOOLARGE);
        check(err.code == rc && err.msg[0] != '\0');
        sx_arena_dispose(&arena);
        return 0;
    }

    size_t nsamples = 0;
    for (size_t i = 0; i < batch.nseries; i++) {
        const sx_series_in_t *s = &batch.series[i];
        check(sx_labels_validate(s->labels, s->nlabels, NULL) == 0);
        for (uint32_t j = 0; j < s->nlabels; j++)
            check(inside(s->labels[j].name, in, size) && inside(s->labels[j].value, in, size));
        for (uint32_t j = 0; j < s->nhists; j++)
            check(inside(s->hists[j].blob, in, size));
        nsamples += s->nsamples + s->nhists;
    }
    check(nsamples == batch.nsamples);
    for (size_t i = 0; i < batch.nmeta; i++) {
        const sx_metric_meta_t *m = &batch.meta[i];
        check(m->type >= SX_MT_UNKNOWN && m->type <= SX_MT_STATESET);
        check(inside(m->metric, in, size) && inside(m->help, in, size) &&
              inside(m->unit, in, size));
    }

    sx_buf_t out = SX_BUF_INIT;
    sx_remote_write_encode(&batch, &out);
    check(out.len <= size); /* canonical form drops unknown fields and never grows */
    sx_metric_batch_t again;
    sx_metric_batch_init(&again, &arena);
    check(sx_remote_write_decode(out.ptr, out.len, &again, &err) == 0);
    check_same(&batch, &again);

    sx_buf_dispose(&out);
    sx_arena_dispose(&arena);
    return 0;
}
