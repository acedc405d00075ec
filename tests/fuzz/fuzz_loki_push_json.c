/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the Loki JSON push decoder (src/ingest/
 * loki_push.c), the JSON scanner it shares with the Kubernetes normalizer
 * (ingest_int.h), and the normalizer on what decodes. A decoded batch must
 * keep the decoder's promises or the target aborts: labels sorted, unique,
 * valid and within the limits, counters that add up, strings that are
 * slices of the input unless they were unescaped, and the same batch after
 * a trip through the protobuf encoder and decoder. A failure must come with
 * a known code and a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/log_ingest.h"
#include "model/log.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_labels(const sx_label_t *ls, uint32_t n, const sx_log_limits_t *lim)
{
    check(n > 0);
    for (uint32_t i = 0; i < n; i++) {
        check(sx_label_name_valid(ls[i].name) && ls[i].value.len > 0);
        check(ls[i].name.len <= lim->max_label_name_len && ls[i].value.len <= lim->max_label_value_len);
        check(sx_utf8_valid(ls[i].value.ptr, ls[i].value.len));
        if (i)
            check(sx_str_cmp(ls[i - 1].name, ls[i].name) < 0);
    }
}

static void check_same(const sx_log_batch_t *a, const sx_log_batch_t *b)
{
    check(a->nstreams == b->nstreams && a->nentries == b->nentries && a->nbytes == b->nbytes);
    for (size_t i = 0; i < a->nstreams; i++) {
        const sx_log_stream_in_t *x = &a->streams[i], *y = &b->streams[i];
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    sx_log_limits_t lim = SX_LOG_LIMITS_DEFAULT;
    lim.max_line_size = 4096; /* small enough for the fuzzer to reach */
    sx_arena_t arena;
    sx_arena_init(&arena);
    sx_log_batch_t batch;
    sx_log_batch_init(&batch, &arena);
    sx_err_t err;
    sx_err_clear(&err);

    int rc = sx_loki_push_decode_json(in, size, &lim, &batch, &err);
    if (rc) {
        check(rc == SX_EPARSE || rc == SX_EINVAL || rc == SX_ETOOLARGE);
        check(err.code == rc && err.msg[0] != '\0');
        sx_arena_dispose(&arena);
        return 0;
    }
    size_t nent = 0, nbytes = 0;
    for (size_t i = 0; i < batch.nstreams; i++) {
        const sx_log_stream_in_t *s = &batch.streams[i];
        check_labels(s->labels, s->nlabels, &lim);
        check(s->nentries > 0);
        for (uint32_t j = 0; j < s->nentries; j++) {
            const sx_log_entry_t *e = &s->entries[j];
            check(e->line.len <= lim.max_line_size && e->nmeta <= SX_LOKI_MAX_SM_ENTRIES);
            /* Decoded text is never longer than the input. */
            check(e->line.len <= size);
            for (uint32_t k = 1; k < e->nmeta; k++)
                for (uint32_t m = 0; m < k; m++)
                    check(!sx_str_eq(e->meta[k].name, e->meta[m].name));
            nbytes += e->line.len;
        }
        nent += s->nentries;
    }
    check(nent == batch.nentries && nbytes == batch.nbytes);

    sx_buf_t out = SX_BUF_INIT;
    sx_loki_push_encode_pb(&batch, &out);
    sx_log_batch_t again;
    sx_log_batch_init(&again, &arena);
    rc = sx_loki_push_decode_pb(out.ptr, out.len, &lim, &again, &err);
    check(rc == 0 || (batch.nstreams == 0 && rc == SX_EINVAL));
    if (rc == 0)
        check_same(&batch, &again);
    sx_buf_dispose(&out);

    size_t n0 = batch.nstreams;
    check(sx_log_k8s_normalize(&batch, &err) == 0);
    check(batch.nentries == nent && batch.nbytes == nbytes && batch.nstreams >= n0);
    for (size_t i = 0; i < batch.nstreams; i++) {
        const sx_log_stream_in_t *s = &batch.streams[i];
        check(s->nlabels <= (lim.max_label_names > SX_LOG_K8S_MAX_LABELS ? lim.max_label_names
                                                                          : SX_LOG_K8S_MAX_LABELS) +
                                 1 /* service_name is not counted */);
        for (uint32_t j = 1; j < s->nlabels; j++)
            check(sx_str_cmp(s->labels[j - 1].name, s->labels[j].name) < 0);
    }
    sx_arena_dispose(&arena);
    return 0;
}
