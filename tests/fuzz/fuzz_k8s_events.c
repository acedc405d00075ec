/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the Kubernetes event and audit decoders (src/
 * ingest/k8s_events.c) and the Kubernetes normalizer (src/ingest/
 * k8s_meta.c). The input is decoded as events and as audit events; every
 * stream must have sorted, unique labels and each entry a non-empty line.
 * Then the input, cut at newlines, becomes the lines of one stream (so the
 * fuzzer reaches the record scanner directly) and is normalized: every
 * entry and byte must survive, each entry keep its relative order within
 * its new stream, and label sets stay sorted and unique. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/log_ingest.h"
#include "model/log.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_batch(const sx_log_batch_t *b)
{
    size_t nent = 0, nbytes = 0;
    for (size_t i = 0; i < b->nstreams; i++) {
        const sx_log_stream_in_t *s = &b->streams[i];
        check(s->nlabels > 0 && s->nentries > 0);
        for (uint32_t j = 0; j < s->nlabels; j++) {
            check(sx_label_name_valid(s->labels[j].name) && s->labels[j].value.len > 0);
            if (j)
                check(sx_str_cmp(s->labels[j - 1].name, s->labels[j].name) < 0);
        }
        for (uint32_t j = 0; j < s->nentries; j++) {
            check(s->entries[j].line.len >= 2 && s->entries[j].line.ptr[0] == '{');
            nbytes += s->entries[j].line.len;
        }
        nent += s->nentries;
    }
    check(nent == b->nentries && nbytes == b->nbytes);
}

static void decode(const char *in, size_t size, bool is_audit)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_log_batch_t b;
    sx_log_batch_init(&b, &a);
    sx_err_t err;
    int rc = is_audit ? sx_k8s_audit_decode(in, size, 42, &b, &err)
                      : sx_k8s_events_decode(in, size, 42, &b, &err);
    if (rc) {
        check(rc == SX_EPARSE || rc == SX_ETOOLARGE || rc == SX_ENOMEM);
        check(err.code == rc && err.msg[0]);
    } else {
        check_batch(&b);
        size_t n = b.nentries;
        check(sx_log_k8s_normalize(&b, &err) == 0 && b.nentries == n);
    }
    sx_arena_dispose(&a);
}

static void normalize_lines(const char *in, size_t size)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_log_batch_t b;
    sx_log_batch_init(&b, &a);
    sx_log_stream_in_t *s = sx_log_batch_add(&b);
    static sx_label_t job = {{"job", 3}, {"fb", 2}};
    s->labels = &job;
    s->nlabels = 1;
    int64_t ts = 0;
    for (size_t i = 0; i <= size;) {
        const char *nl = i < size ? memchr(in + i, '\n', size - i) : NULL;
        size_t end = nl ? (size_t)(nl - in) : size;
        sx_log_entry_t *e = sx_log_stream_add(&b, s);
        e->ts = ts++;
        e->line = (sx_str_t){in + i, end - i};
        b.nbytes += end - i;
        i = end + 1;
    }
    size_t n = b.nentries, bytes = b.nbytes;
    sx_err_t err;
    check(sx_log_k8s_normalize(&b, &err) == 0);
    check(b.nentries == n && b.nbytes == bytes);
    size_t cnt = 0, by = 0;
    for (size_t i = 0; i < b.nstreams; i++) {
        const sx_log_stream_in_t *t = &b.streams[i];
        check(t->nentries > 0 && t->nlabels >= 1 && t->nlabels <= 1 + 4);
        for (uint32_t j = 1; j < t->nlabels; j++)
            check(sx_str_cmp(t->labels[j - 1].name, t->labels[j].name) < 0);
        for (uint32_t j = 0; j < t->nentries; j++) {
            if (j)
                check(t->entries[j - 1].ts < t->entries[j].ts);
            by += t->entries[j].line.len;
        }
        cnt += t->nentries;
    }
    check(cnt == n && by == bytes);
    sx_arena_dispose(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    decode(in, size, false);
    decode(in, size, true);
    normalize_lines(in, size);
    return 0;
}
