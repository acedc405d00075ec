/* SPDX-License-Identifier: Apache-2.0 */
/* The head of one series: in-order samples in a compressed appendable
 * chunk, out-of-order samples (within the window) in a small array, and
 * native histogram samples as opaque blobs. The caller holds the series'
 * stripe lock for every call here. */
#include "tsdb_int.h"

#include <stdlib.h>
#include <string.h>

void sx_tsdb__head_dispose(head_t *h)
{
    if (h->nxc)
        sx_xchunk_dispose(&h->xc);
    for (uint32_t i = 0; i < h->nfull; i++)
        sx_xchunk_dispose(&h->full[i]);
    free(h->full);
    free(h->ooo);
    for (uint32_t i = 0; i < h->nh; i++)
        free(h->hists[i].blob);
    free(h->hists);
    memset(h, 0, sizeof(*h));
}

int sx_tsdb__head_append(head_t *h, int64_t ts, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    if (h->nxc == 0) {
        sx_xchunk_init(&h->xc);
    } else if (ts <= h->last_ts) {
        if (ts == h->last_ts && bits == h->last_bits)
            return 0;
        /* Older than the newest sample (or a new value for its time): keep
         * it aside; reads merge and the newest write wins. */
        if (h->nooo == h->oooc) {
            h->oooc = h->oooc ? h->oooc * 2 : 4;
            h->ooo = sx_xrealloc(h->ooo, h->oooc * sizeof(sx_sample_t));
        }
        h->ooo[h->nooo++] = (sx_sample_t){ts, v};
        return 1;
    }
    if (sx_xchunk_count(&h->xc) >= SX_TSDB_HEAD_CHUNK_SAMPLES ||
        sx_xchunk_append(&h->xc, ts, v) == SX_ELIMIT) {
        /* The chunk is full: keep it and start a new one. */
        h->full = sx_xrealloc(h->full, (h->nfull + 1) * sizeof(sx_xchunk_t));
        h->full[h->nfull++] = h->xc;
        sx_xchunk_init(&h->xc);
        sx_xchunk_append(&h->xc, ts, v);
    }
    h->nxc++;
    h->last_ts = ts;
    h->last_bits = bits;
    return 1;
}

void sx_tsdb__head_append_hist(head_t *h, int64_t ts, const char *blob, uint32_t len)
{
    for (uint32_t i = h->nh; i > 0; i--)
        if (h->hists[i - 1].ts == ts && h->hists[i - 1].len == len &&
            memcmp(h->hists[i - 1].blob, blob, len) == 0)
            return;
    if (h->nh == h->hc) {
        h->hc = h->hc ? h->hc * 2 : 4;
        h->hists = sx_xrealloc(h->hists, h->hc * sizeof(hist_entry_t));
    }
    hist_entry_t *e = &h->hists[h->nh++];
    e->ts = ts;
    e->len = len;
    e->blob = sx_xmalloc(len ? len : 1);
    memcpy(e->blob, blob, len);
}

void sx_tsdb__vec_reserve(sample_vec_t *sv, size_t more)
{
    if (sv->cap - sv->n >= more)
        return;
    size_t nc = sv->cap ? sv->cap * 2 : 64;
    if (nc < sv->n + more)
        nc = sv->n + more;
    sv->cap = nc;
    sv->ts = sx_xrealloc(sv->ts, nc * sizeof(int64_t));
    sv->v = sx_xrealloc(sv->v, nc * sizeof(double));
}

void sx_tsdb__vec_push(sample_vec_t *sv, int64_t ts, double v)
{
    sx_tsdb__vec_reserve(sv, 1);
    sv->ts[sv->n] = ts;
    sv->v[sv->n] = v;
    sv->n++;
}

void sx_tsdb__head_collect(const head_t *h, int64_t mint, int64_t maxt, sample_vec_t *out)
{
    /* Chunks are in time order, each ending at its last timestamp: those
     * that end before mint are not decoded at all. */
    bool past = false;
    for (uint32_t c = 0; h->nxc && c <= h->nfull && !past; c++) {
        const sx_xchunk_t *xc = c < h->nfull ? &h->full[c] : &h->xc;
        if (sx_xchunk_last_ts(xc) < mint)
            continue;
        sx_tsdb__vec_reserve(out, sx_xchunk_count(xc));
        sx_xchunk_iter_t it;
        sx_xchunk_iter_init(&it, xc);
        int64_t ts;
        double v;
        while (sx_xchunk_iter_next(&it, &ts, &v)) {
            if (ts > maxt) {
                past = true;
                break;
            }
            if (ts >= mint) {
                out->ts[out->n] = ts;
                out->v[out->n++] = v;
            }
        }
    }
    for (uint32_t i = 0; i < h->nooo; i++)
        if (h->ooo[i].ts >= mint && h->ooo[i].ts <= maxt)
            sx_tsdb__vec_push(out, h->ooo[i].ts, h->ooo[i].v);
}

typedef struct ranked {
    int64_t ts;
    double v;
    size_t rank;
} ranked_t;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked_t *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

void sx_tsdb__vec_sort_dedup(sample_vec_t *sv)
{
    bool sorted = true;
    for (size_t i = 1; i < sv->n && sorted; i++)
        sorted = sv->ts[i - 1] < sv->ts[i];
    if (sorted)
        return;
    ranked_t *r = sx_xmalloc(sv->n * sizeof(*r));
    for (size_t i = 0; i < sv->n; i++)
        r[i] = (ranked_t){sv->ts[i], sv->v[i], i};
    qsort(r, sv->n, sizeof(*r), cmp_ranked);
    size_t o = 0;
    for (size_t i = 0; i < sv->n; i++) {
        if (o && sv->ts[o - 1] == r[i].ts) {
            sv->v[o - 1] = r[i].v; /* later rank wins */
            continue;
        }
        sv->ts[o] = r[i].ts;
        sv->v[o] = r[i].v;
        o++;
    }
    sv->n = o;
    free(r);
}
