/* SPDX-License-Identifier: Apache-2.0 */
/* Part files: the immutable, compressed form of one day partition's
 * samples. Layout:
 *   "SXPART1\n"
 *   blocks: zstd frames, each holding the data of up to BLOCK_SERIES series
 *           (float chunk, then histogram section) in the order written
 *   index:  zstd frame: series entries sorted by id, then block entries
 *   footer: u64 index offset, u32 index length, u32 crc32c of the index,
 *           "SXPEND1\n"
 * A part is written to a temporary name, fsynced and renamed, so a crash
 * leaves either the whole part or none of it. */
#include "tsdb_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/hash.h"
#include "../../core/log.h"
#include "../../core/time.h"

#define MAGIC "SXPART1\n"
#define END_MAGIC "SXPEND1\n"
#define BLOCK_SERIES 256
#define BLOCK_BYTES (128 * 1024)
#define ZSTD_LEVEL 3
/* Largest decompressed block a reader accepts: a block holds whole series
 * chunks, at most SX_CHUNK_MAX_SAMPLES samples of at most 16 bytes each. */
#define MAX_BLOCK_RAW ((uint64_t)SX_CHUNK_MAX_SAMPLES * 16 + (1u << 20))

struct part_writer {
    sx_tsdb_t *db;
    int64_t day;
    uint32_t seq;
    int fd;
    char path[4200], tmp[4200], dir[4200];
    uint64_t off;
    sx_buf_t raw, comp;
    uint32_t block_series;
    part_series_t *series;
    size_t nseries, cap;
    part_block_t *blocks;
    size_t nblocks, bcap;
    int64_t mint, maxt;
};

static _Atomic uint64_t next_uid = 1;

static int io_err(sx_err_t *err, const char *what, const char *path, int e)
{
    return sx_err_set(err, e == ENOSPC || e == EDQUOT ? SX_ENOSPC : SX_EIO, "cannot %s %s: %s",
                      what, path, strerror(e));
}

part_writer_t *sx_tsdb__part_writer_create(sx_tsdb_t *db, int64_t day, sx_err_t *err)
{
    part_writer_t *pw = sx_xcalloc(1, sizeof(*pw));
    pw->db = db;
    pw->day = day;
    pw->seq = __atomic_fetch_add(&db->next_part_seq, 1, __ATOMIC_RELAXED);
    snprintf(pw->dir, sizeof(pw->dir), "%s/parts/%lld", db->dir, (long long)day);
    if (sx_mkdir_p(pw->dir)) {
        io_err(err, "create", pw->dir, errno);
        free(pw);
        return NULL;
    }
    snprintf(pw->path, sizeof(pw->path), "%s/%08u.part", pw->dir, pw->seq);
    snprintf(pw->tmp, sizeof(pw->tmp), "%s/%08u.part.tmp", pw->dir, pw->seq);
    pw->fd = open(pw->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (pw->fd < 0) {
        io_err(err, "create", pw->tmp, errno);
        free(pw);
        return NULL;
    }
    pw->mint = INT64_MAX;
    pw->maxt = INT64_MIN;
    int rc = sx_write_full(pw->fd, MAGIC, 8);
    if (rc) {
        io_err(err, "write", pw->tmp, -rc);
        sx_tsdb__part_writer_abort(pw);
        return NULL;
    }
    pw->off = 8;
    return pw;
}

static int flush_block(part_writer_t *pw, sx_err_t *err)
{
    if (!pw->raw.len)
        return 0;
    sx_buf_clear(&pw->comp);
    if (sx_zstd_compress(pw->raw.ptr, pw->raw.len, ZSTD_LEVEL, &pw->comp))
        return sx_err_set(err, SX_EIO, "cannot compress a part block");
    int rc = sx_write_full(pw->fd, pw->comp.ptr, pw->comp.len);
    if (rc)
        return io_err(err, "write", pw->tmp, -rc);
    if (pw->nblocks == pw->bcap) {
        pw->bcap = pw->bcap ? pw->bcap * 2 : 64;
        pw->blocks = sx_xrealloc(pw->blocks, pw->bcap * sizeof(part_block_t));
    }
    pw->blocks[pw->nblocks++] = (part_block_t){pw->off, (uint32_t)pw->comp.len, (uint32_t)pw->raw.len};
    pw->off += pw->comp.len;
    sx_buf_clear(&pw->raw);
    pw->block_series = 0;
    return 0;
}

int sx_tsdb__part_writer_add(part_writer_t *pw, uint32_t id, const int64_t *ts, const double *v,
                             size_t n, const hist_entry_t *h, size_t nh, sx_err_t *err)
{
    if (n == 0 && nh == 0)
        return 0;
    part_series_t e = {.id = id, .block = (uint32_t)pw->nblocks, .off = (uint32_t)pw->raw.len,
                       .n = (uint32_t)n, .mint = INT64_MAX, .maxt = INT64_MIN};
    if (n) {
        size_t before = pw->raw.len;
        if (sx_chunk_encode(ts, v, n, &pw->raw))
            return sx_err_set(err, SX_EIO, "cannot encode series %u", id);
        e.flen = (uint32_t)(pw->raw.len - before);
        e.mint = ts[0];
        e.maxt = ts[n - 1];
    }
    if (nh) {
        size_t before = pw->raw.len;
        sx_buf_put_uvarint(&pw->raw, nh);
        int64_t prev = 0;
        for (size_t i = 0; i < nh; i++) {
            sx_varint_append(&pw->raw, h[i].ts - prev);
            prev = h[i].ts;
            sx_buf_put_uvarint(&pw->raw, h[i].len);
            sx_buf_append(&pw->raw, h[i].blob, h[i].len);
            if (h[i].ts < e.mint)
                e.mint = h[i].ts;
            if (h[i].ts > e.maxt)
                e.maxt = h[i].ts;
        }
        e.hlen = (uint32_t)(pw->raw.len - before);
    }
    if (e.mint < pw->mint)
        pw->mint = e.mint;
    if (e.maxt > pw->maxt)
        pw->maxt = e.maxt;
    if (pw->nseries == pw->cap) {
        pw->cap = pw->cap ? pw->cap * 2 : 256;
        pw->series = sx_xrealloc(pw->series, pw->cap * sizeof(part_series_t));
    }
    pw->series[pw->nseries++] = e;
    if (++pw->block_series >= BLOCK_SERIES || pw->raw.len >= BLOCK_BYTES)
        return flush_block(pw, err);
    return 0;
}

static int cmp_ps(const void *a, const void *b)
{
    uint32_t x = ((const part_series_t *)a)->id, y = ((const part_series_t *)b)->id;
    return (x > y) - (x < y);
}

void sx_tsdb__part_writer_abort(part_writer_t *pw)
{
    if (!pw)
        return;
    if (pw->fd >= 0)
        close(pw->fd);
    unlink(pw->tmp);
    sx_buf_dispose(&pw->raw);
    sx_buf_dispose(&pw->comp);
    free(pw->series);
    free(pw->blocks);
    free(pw);
}

part_t *sx_tsdb__part_writer_finish(part_writer_t *pw, sx_err_t *err)
{
    if (flush_block(pw, err)) {
        sx_tsdb__part_writer_abort(pw);
        return NULL;
    }
    qsort(pw->series, pw->nseries, sizeof(part_series_t), cmp_ps);
    sx_buf_t idx = SX_BUF_INIT;
    sx_buf_put_uvarint(&idx, pw->nseries);
    uint32_t prev = 0;
    for (size_t i = 0; i < pw->nseries; i++) {
        part_series_t *e = &pw->series[i];
        sx_buf_put_uvarint(&idx, e->id - prev);
        prev = e->id;
        sx_buf_put_uvarint(&idx, e->block);
        sx_buf_put_uvarint(&idx, e->off);
        sx_buf_put_uvarint(&idx, e->flen);
        sx_buf_put_uvarint(&idx, e->hlen);
        sx_buf_put_uvarint(&idx, e->n);
        sx_varint_append(&idx, e->mint);
        sx_varint_append(&idx, e->maxt - e->mint);
    }
    sx_buf_put_uvarint(&idx, pw->nblocks);
    for (size_t i = 0; i < pw->nblocks; i++) {
        sx_buf_put_uvarint(&idx, pw->blocks[i].off);
        sx_buf_put_uvarint(&idx, pw->blocks[i].clen);
        sx_buf_put_uvarint(&idx, pw->blocks[i].rlen);
    }
    sx_buf_t comp = SX_BUF_INIT;
    sx_zstd_compress(idx.ptr, idx.len, ZSTD_LEVEL, &comp);
    sx_buf_t footer = SX_BUF_INIT;
    sx_buf_put_u64le(&footer, pw->off);
    sx_buf_put_u32le(&footer, (uint32_t)comp.len);
    sx_buf_put_u32le(&footer, sx_crc32c(0, comp.ptr, comp.len));
    sx_buf_append(&footer, END_MAGIC, 8);
    int rc = sx_write_full(pw->fd, comp.ptr, comp.len);
    if (!rc)
        rc = sx_write_full(pw->fd, footer.ptr, footer.len);
    if (!rc && fsync(pw->fd) != 0)
        rc = -errno;
    sx_buf_dispose(&idx);
    sx_buf_dispose(&comp);
    sx_buf_dispose(&footer);
    if (rc) {
        io_err(err, "write", pw->tmp, -rc);
        sx_tsdb__part_writer_abort(pw);
        return NULL;
    }
    close(pw->fd);
    pw->fd = -1;
    if (rename(pw->tmp, pw->path) != 0) {
        io_err(err, "rename", pw->tmp, errno);
        sx_tsdb__part_writer_abort(pw);
        return NULL;
    }
    sx_fsync_dir(pw->dir);
    part_t *p = sx_tsdb__part_open(pw->path, pw->day, pw->seq, err);
    sx_buf_dispose(&pw->raw);
    sx_buf_dispose(&pw->comp);
    free(pw->series);
    free(pw->blocks);
    free(pw);
    return p;
}

static int pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

part_t *sx_tsdb__part_open(const char *path, int64_t day, uint32_t seq, sx_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        io_err(err, "open", path, errno);
        return NULL;
    }
    struct stat st;
    fstat(fd, &st);
    unsigned char footer[24];
    part_t *p = NULL;
    sx_buf_t comp = SX_BUF_INIT, idx = SX_BUF_INIT;
    if (st.st_size < 32 || pread_full(fd, footer, 24, (uint64_t)st.st_size - 24) ||
        memcmp(footer + 16, END_MAGIC, 8) != 0)
        goto corrupt;
    uint64_t ioff = (uint64_t)sx_le32(footer) | (uint64_t)sx_le32(footer + 4) << 32;
    uint32_t ilen = sx_le32(footer + 8), icrc = sx_le32(footer + 12);
    if (ioff + ilen + 24 != (uint64_t)st.st_size)
        goto corrupt;
    sx_buf_reserve(&comp, ilen);
    if (pread_full(fd, comp.ptr, ilen, ioff) || sx_crc32c(0, comp.ptr, ilen) != icrc)
        goto corrupt;
    comp.len = ilen;
    sx_err_t e2;
    if (sx_zstd_decompress(comp.ptr, comp.len, 1u << 30, &idx, &e2))
        goto corrupt;
    const unsigned char *q = (const unsigned char *)idx.ptr, *end = q + idx.len;
    uint64_t ns, nb, v;
    if (sx_uvarint_next(&q, end, &ns) || ns > idx.len)
        goto corrupt;
    p = sx_xcalloc(1, sizeof(*p));
    p->series = sx_xcalloc(ns ? ns : 1, sizeof(part_series_t));
    p->nseries = (uint32_t)ns;
    p->mint = INT64_MAX;
    p->maxt = INT64_MIN;
    uint32_t prev = 0;
    for (uint64_t i = 0; i < ns; i++) {
        part_series_t *e = &p->series[i];
        int64_t span;
        if (sx_uvarint_next(&q, end, &v))
            goto corrupt;
        e->id = prev + (uint32_t)v;
        prev = e->id;
        uint64_t b, o, fl, hl, n;
        if (sx_uvarint_next(&q, end, &b) || sx_uvarint_next(&q, end, &o) || sx_uvarint_next(&q, end, &fl) ||
            sx_uvarint_next(&q, end, &hl) || sx_uvarint_next(&q, end, &n) || sx_varint_next(&q, end, &e->mint) ||
            sx_varint_next(&q, end, &span))
            goto corrupt;
        e->block = (uint32_t)b;
        e->off = (uint32_t)o;
        e->flen = (uint32_t)fl;
        e->hlen = (uint32_t)hl;
        if (n > SX_CHUNK_MAX_SAMPLES)
            goto corrupt;
        e->n = (uint32_t)n;
        e->maxt = e->mint + span;
        if (e->mint < p->mint)
            p->mint = e->mint;
        if (e->maxt > p->maxt)
            p->maxt = e->maxt;
    }
    if (sx_uvarint_next(&q, end, &nb) || nb > idx.len)
        goto corrupt;
    p->blocks = sx_xcalloc(nb ? nb : 1, sizeof(part_block_t));
    p->nblocks = (uint32_t)nb;
    for (uint64_t i = 0; i < nb; i++) {
        uint64_t o, c, r;
        if (sx_uvarint_next(&q, end, &o) || sx_uvarint_next(&q, end, &c) ||
            sx_uvarint_next(&q, end, &r) || o + c > ioff || r > MAX_BLOCK_RAW)
            goto corrupt;
        p->blocks[i] = (part_block_t){o, (uint32_t)c, (uint32_t)r};
    }
    for (uint64_t i = 0; i < ns; i++)
        if (p->series[i].block >= nb ||
            (uint64_t)p->series[i].off + p->series[i].flen + p->series[i].hlen >
                p->blocks[p->series[i].block].rlen)
            goto corrupt;
    sx_buf_dispose(&comp);
    sx_buf_dispose(&idx);
    p->refs = 1;
    p->uid = atomic_fetch_add(&next_uid, 1);
    p->day = day;
    p->seq = seq;
    p->path = sx_xstrdup(path);
    p->fd = fd;
    p->bytes = st.st_size;
    p->created_ms = (int64_t)st.st_mtime * 1000;
    return p;
corrupt:
    sx_err_set(err, SX_ECORRUPT, "part %s is corrupt", path);
    if (p) {
        free(p->series);
        free(p->blocks);
        free(p);
    }
    sx_buf_dispose(&comp);
    sx_buf_dispose(&idx);
    close(fd);
    return NULL;
}

void sx_tsdb__part_unref(part_t *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    close(p->fd);
    if (p->deleted)
        unlink(p->path);
    free(p->path);
    free(p->series);
    free(p->blocks);
    free(p);
}

/* One decompressed block per thread: consecutive reads of series that sit
 * in the same block (the usual case: selections are sorted by id ranges)
 * decompress it once. */
typedef struct block_cache {
    uint64_t uid;
    uint32_t block;
    sx_buf_t data;
} block_cache_t;

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_free(void *p)
{
    block_cache_t *c = p;
    sx_buf_dispose(&c->data);
    free(c);
}

static void cache_init(void)
{
    pthread_key_create(&cache_key, cache_free);
}

/* The calling thread's cache; freed when the thread exits. */
static block_cache_t *thread_cache(void)
{
    pthread_once(&cache_once, cache_init);
    block_cache_t *c = pthread_getspecific(cache_key);
    if (!c) {
        c = sx_xcalloc(1, sizeof(*c));
        pthread_setspecific(cache_key, c);
    }
    return c;
}

static const char *block_data(part_t *p, uint32_t b, sx_err_t *err)
{
    block_cache_t *cc = thread_cache();
#define cache (*cc)
    if (cache.uid == p->uid && cache.block == b && cache.data.ptr)
        return cache.data.ptr;
    part_block_t *blk = &p->blocks[b];
    char *comp = sx_xmalloc(blk->clen ? blk->clen : 1);
    if (pread_full(p->fd, comp, blk->clen, blk->off)) {
        free(comp);
        sx_err_set(err, SX_EIO, "cannot read part %s: %s", p->path, strerror(errno));
        return NULL;
    }
    sx_buf_clear(&cache.data);
    int rc = sx_zstd_decompress(comp, blk->clen, blk->rlen, &cache.data, err);
    free(comp);
    if (rc || cache.data.len != blk->rlen) {
        cache.uid = 0;
        sx_err_set(err, SX_ECORRUPT, "part %s: block %u is corrupt", p->path, b);
        return NULL;
    }
    cache.uid = p->uid;
    cache.block = b;
    return cache.data.ptr;
#undef cache
}

int sx_tsdb__part_read(part_t *p, uint32_t id, int64_t mint, int64_t maxt, sample_vec_t *out,
                       sx_arena_t *a, sx_hist_sample_t **hout, size_t *nh, size_t *hcap,
                       sx_err_t *err)
{
    size_t lo = 0, hi = p->nseries;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->series[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == p->nseries || p->series[lo].id != id)
        return 0;
    part_series_t *e = &p->series[lo];
    if (e->maxt < mint || e->mint > maxt)
        return 0;
    const char *data = block_data(p, e->block, err);
    if (!data)
        return err ? err->code : SX_EIO;
    if (e->n) {
        int64_t *ts = sx_xmalloc(e->n * sizeof(int64_t));
        double *v = sx_xmalloc(e->n * sizeof(double));
        size_t got = 0;
        int rc = sx_chunk_decode(data + e->off, e->flen, ts, v, e->n, &got, err);
        if (rc) {
            free(ts);
            free(v);
            return rc;
        }
        for (size_t i = 0; i < got; i++)
            if (ts[i] >= mint && ts[i] <= maxt)
                sx_tsdb__vec_push(out, ts[i], v[i]);
        free(ts);
        free(v);
    }
    if (e->hlen && hout) {
        const unsigned char *q = (const unsigned char *)data + e->off + e->flen, *end = q + e->hlen;
        uint64_t cnt;
        if (sx_uvarint_next(&q, end, &cnt))
            return sx_err_set(err, SX_ECORRUPT, "part %s: bad histogram section", p->path);
        int64_t prev = 0;
        for (uint64_t i = 0; i < cnt; i++) {
            int64_t d;
            uint64_t len;
            if (sx_varint_next(&q, end, &d) || sx_uvarint_next(&q, end, &len) || len > (uint64_t)(end - q))
                return sx_err_set(err, SX_ECORRUPT, "part %s: bad histogram section", p->path);
            int64_t ts = prev + d;
            prev = ts;
            if (ts >= mint && ts <= maxt) {
                if (*nh == *hcap) {
                    size_t nc = *hcap ? *hcap * 2 : 16;
                    *hout = sx_arena_realloc(a, *hout, *nh * sizeof(sx_hist_sample_t),
                                             nc * sizeof(sx_hist_sample_t));
                    *hcap = nc;
                }
                (*hout)[(*nh)++] = (sx_hist_sample_t){ts, sx_arena_strdup_str(a, (sx_str_t){(const char *)q, len})};
            }
            q += len;
        }
    }
    return 0;
}
