/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the Loki protobuf push decoder and the label text
 * parser (src/ingest/loki_push.c), plus the Kubernetes normalizer on what
 * decodes. Besides surviving any input, a decoded batch must keep the
 * decoder's promises or the target aborts: labels sorted, unique, valid and
 * within the limits, lines and metadata slices of the input, counters that
 * add up, and encode then decode giving the same batch. A failure must come
 * with a known code and a message. The whole input is also parsed as a
 * label text: what parses must format and parse back to the same labels. */
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

static bool inside(sx_str_t s, const char *base, size_t len)
{
    return s.len == 0 ||
           (s.ptr >= base && s.len <= len && s.ptr - base <= (ptrdiff_t)(len - s.len));
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

/* The normalizer keeps every entry and byte and leaves label sets sorted
 * and unique; it adds at most up to SX_LOG_K8S_MAX_LABELS. */
static void check_normalize(sx_log_batch_t *b)
{
    size_t nent = b->nentries, nbytes = b->nbytes, n0 = b->nstreams;
    uint32_t maxl = SX_LOG_K8S_MAX_LABELS;
    uint64_t tsum = 0;
    for (size_t i = 0; i < b->nstreams; i++) {
        if (b->streams[i].nlabels > maxl)
            maxl = b->streams[i].nlabels;
        for (uint32_t j = 0; j < b->streams[i].nentries; j++)
            tsum += (uint64_t)b->streams[i].entries[j].ts * 31;
    }
    sx_err_t err;
    check(sx_log_k8s_normalize(b, &err) == 0);
    check(b->nentries == nent && b->nbytes == nbytes && b->nstreams >= n0);
    size_t cnt = 0, bytes = 0;
    uint64_t tsum2 = 0;
    for (size_t i = 0; i < b->nstreams; i++) {
        const sx_log_stream_in_t *s = &b->streams[i];
        check(s->nlabels <= maxl && s->nentries > 0);
        for (uint32_t j = 1; j < s->nlabels; j++)
            check(sx_str_cmp(s->labels[j - 1].name, s->labels[j].name) < 0);
        for (uint32_t j = 0; j < s->nentries; j++) {
            bytes += s->entries[j].line.len;
            tsum2 += (uint64_t)s->entries[j].ts * 31;
        }
        cnt += s->nentries;
    }
    check(cnt == nent && bytes == nbytes && tsum == tsum2);
}

static void fuzz_labels(const char *in, size_t size)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_label_t *ls;
    uint32_t n;
    sx_err_t err;
    int rc = sx_loki_labels_parse((sx_str_t){in, size}, &a, &ls, &n, &err);
    if (rc) {
        check(rc == SX_EPARSE && err.code == rc && err.msg[0]);
    } else {
        for (uint32_t i = 1; i < n; i++)
            check(sx_str_cmp(ls[i - 1].name, ls[i].name) <= 0);
        sx_buf_t b = SX_BUF_INIT;
        sx_loki_labels_format(&b, ls, n);
        sx_label_t *again;
        uint32_t m;
        check(sx_loki_labels_parse((sx_str_t){b.ptr, b.len}, &a, &again, &m, &err) == 0);
        check(m == n);
        for (uint32_t i = 0; i < n; i++)
            check(sx_str_eq(ls[i].name, again[i].name) && sx_str_eq(ls[i].value, again[i].value));
        sx_buf_dispose(&b);
    }
    sx_arena_dispose(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const sx_log_limits_t lim = SX_LOG_LIMITS_DEFAULT;
    sx_arena_t arena;
    sx_arena_init(&arena);
    sx_log_batch_t batch;
    sx_log_batch_init(&batch, &arena);
    sx_err_t err;
    sx_err_clear(&err);

    fuzz_labels(in, size);

    int rc = sx_loki_push_decode_pb(in, size, &lim, &batch, &err);
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
            check(inside(e->line, in, size) && e->line.len <= lim.max_line_size);
            check(e->nmeta <= SX_LOKI_MAX_SM_ENTRIES);
            for (uint32_t k = 0; k < e->nmeta; k++)
                check(inside(e->meta[k].name, in, size) && inside(e->meta[k].value, in, size));
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
    /* Only a request whose every stream was empty fails the second time. */
    check(rc == 0 || (batch.nstreams == 0 && rc == SX_EINVAL));
    if (rc == 0)
        check_same(&batch, &again);
    sx_buf_dispose(&out);

    check_normalize(&batch);
    sx_arena_dispose(&arena);
    return 0;
}
