/* SPDX-License-Identifier: Apache-2.0 */
/* Log part files: writing (chunks cut per stream, columns compressed,
 * bloom filters), opening (mmap + index), and decoding a chunk's columns.
 * The format is described in logstore_int.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/file.h"
#include "../../core/hash.h"
#include "../../core/log.h"
#include "../encoding/encoding.h"
#include "logstore_int.h"

struct sx_lpart_writer {
    char *dir, *tmp, *path;
    uint64_t seq;
    int64_t day;
    int level;
    int fd;
    uint64_t off;
    sx_buf_t col, z, index, blooms;
    uint8_t *bloom;
    size_t bloom_cap;
    uint32_t nchunks;
    uint32_t last_stream;
    uint32_t bloom_bytes_per_bit;
    size_t (*bloom_extent)(const char *line, size_t len);
    const sx_log_line_codec_t *codec;
    uint64_t *keys;           /* (hash << 32 | chunk) of each key and chunk */
    size_t nkeys, keys_cap;
    bool unkeyed;             /* a line without a key: no key index */
    bool any;
};

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* Note the keys of a chunk's lines (each once) for the key index. */
static void add_keys(sx_lpart_writer_t *w, const sx_lentries_t *e, size_t from, size_t to)
{
    if (!w->codec || !w->codec->key)
        return;
    size_t first = w->nkeys;
    for (size_t i = from; i < to; i++) {
        sx_str_t k = w->codec->key(e->lines[i].ptr, e->lines[i].len);
        if (!k.len) {
            w->unkeyed = true;
            continue;
        }
        if (w->nkeys == w->keys_cap) {
            w->keys_cap = w->keys_cap ? w->keys_cap * 2 : 4096;
            w->keys = sx_xrealloc(w->keys, w->keys_cap * sizeof(uint64_t));
        }
        w->keys[w->nkeys++] = (uint64_t)(uint32_t)sx_hash64(k.ptr, k.len) << 32 | w->nchunks;
    }
    size_t n = w->nkeys - first;
    if (n > 1) {
        qsort(w->keys + first, n, sizeof(uint64_t), cmp_u64);
        size_t k = first + 1;
        for (size_t i = first + 1; i < w->nkeys; i++)
            if (w->keys[i] != w->keys[k - 1])
                w->keys[k++] = w->keys[i];
        w->nkeys = k;
    }
}

static void put_u32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static void put_u64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (char)(v >> (8 * i));
}

static uint32_t get_u32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

static uint64_t get_u64(const char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

sx_lpart_writer_t *sx_lpart__writer_create(const char *dir, uint64_t seq, int64_t day,
                                           const sx_logstore_opts_t *opts, sx_err_t *err)
{
    sx_lpart_writer_t *w = sx_xcalloc(1, sizeof(*w));
    w->dir = sx_xstrdup(dir);
    w->seq = seq;
    w->day = day;
    w->level = opts->zstd_level > 0 ? opts->zstd_level : 3;
    w->bloom_bytes_per_bit = opts->bloom_bytes_per_bit;
    w->bloom_extent = opts->bloom_extent;
    w->codec = opts->line_codec;
    size_t n = strlen(dir) + 64;
    w->tmp = sx_xmalloc(n);
    w->path = sx_xmalloc(n);
    snprintf(w->tmp, n, "%s/%020llu.lpart.tmp", dir, (unsigned long long)seq);
    snprintf(w->path, n, "%s/%020llu.lpart", dir, (unsigned long long)seq);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        sx_err_set(err, SX_EIO, "cannot create %s: %s", w->tmp, strerror(errno));
        free(w->dir);
        free(w->tmp);
        free(w->path);
        free(w);
        return NULL;
    }
    w->off = 0;
    int rc = sx_write_full(w->fd, SX_LPART_MAGIC, 8);
    if (rc) {
        sx_err_set(err, SX_EIO, "cannot write %s: %s", w->tmp, strerror(-rc));
        sx_lpart__writer_abort(w);
        return NULL;
    }
    w->off = 8;
    return w;
}

/* Compress w->col and append it to the file; off and len say where. */
static int put_column(sx_lpart_writer_t *w, uint64_t *off, uint32_t *len, sx_err_t *err)
{
    sx_buf_clear(&w->z);
    if (sx_zstd_compress(w->col.ptr, w->col.len, w->level, &w->z))
        return sx_err_set(err, SX_EIO, "cannot compress a log chunk column");
    int rc = sx_write_full(w->fd, w->z.ptr, w->z.len);
    if (rc)
        return sx_err_set(err, rc == -ENOSPC ? SX_ENOSPC : SX_EIO, "cannot write %s: %s", w->tmp,
                          strerror(-rc));
    *off = w->off;
    *len = (uint32_t)w->z.len;
    w->off += w->z.len;
    return 0;
}

static int write_chunk(sx_lpart_writer_t *w, uint32_t stream, const sx_lentries_t *e, size_t from,
                       size_t to, sx_err_t *err)
{
    sx_lchunk_t c = {0};
    c.stream = stream;
    c.n = (uint32_t)(to - from);
    c.mint = e->ts[from];
    c.maxt = e->ts[to - 1];
    /* timestamps */
    sx_buf_clear(&w->col);
    char *p = sx_buf_reserve(&w->col, (to - from) * SX_UVARINT_MAX);
    char *start = p;
    int64_t prev = 0;
    for (size_t i = from; i < to; i++) {
        p += sx_uvarint_put(p, sx_zigzag_enc(e->ts[i] - prev));
        prev = e->ts[i];
    }
    w->col.len += (size_t)(p - start);
    int rc = put_column(w, &c.off_ts, &c.len_ts, err);
    if (rc)
        return rc;
    /* lines: the codec's form, or lengths then bytes */
    sx_buf_clear(&w->col);
    for (size_t i = from; i < to; i++)
        c.raw += e->lines[i].len;
    if (w->codec && w->codec->encode(e->lines + from, to - from, &w->col)) {
        c.lines_fmt = 1;
    } else {
        for (size_t i = from; i < to; i++)
            sx_buf_put_uvarint(&w->col, e->lines[i].len);
        for (size_t i = from; i < to; i++)
            sx_buf_append(&w->col, e->lines[i].ptr, e->lines[i].len);
    }
    if ((rc = put_column(w, &c.off_lines, &c.len_lines, err)))
        return rc;
    /* metadata */
    if (e->meta_idx && e->meta_idx[to] > e->meta_idx[from]) {
        sx_buf_clear(&w->col);
        for (size_t i = from; i < to; i++) {
            uint32_t a = e->meta_idx[i], b = e->meta_idx[i + 1];
            sx_buf_put_uvarint(&w->col, b - a);
            for (uint32_t k = a; k < b; k++) {
                sx_buf_put_uvarint(&w->col, e->meta[k].name.len);
                sx_buf_append_str(&w->col, e->meta[k].name);
                sx_buf_put_uvarint(&w->col, e->meta[k].value.len);
                sx_buf_append_str(&w->col, e->meta[k].value);
            }
        }
        if ((rc = put_column(w, &c.off_meta, &c.len_meta, err)))
            return rc;
    }
    /* bloom filter */
    c.bloom_log2 = sx_logbloom__size_log2(c.raw, w->bloom_bytes_per_bit);
    size_t bbytes = (size_t)1 << (c.bloom_log2 - 3);
    if (bbytes > w->bloom_cap) {
        w->bloom = sx_xrealloc(w->bloom, bbytes);
        w->bloom_cap = bbytes;
    }
    memset(w->bloom, 0, bbytes);
    for (size_t i = from; i < to; i++) {
        sx_str_t l = e->lines[i];
        sx_logbloom__add(w->bloom, c.bloom_log2, l.ptr,
                         w->bloom_extent ? w->bloom_extent(l.ptr, l.len) : l.len);
    }
    add_keys(w, e, from, to);
    /* Kept apart and written after all columns; the offset is made
     * absolute in finish. */
    c.off_bloom = w->blooms.len;
    sx_buf_append(&w->blooms, w->bloom, bbytes);
    /* index record */
    char *r = sx_buf_reserve(&w->index, SX_LPART_INDEX_REC);
    memset(r, 0, SX_LPART_INDEX_REC);
    put_u32(r, c.stream);
    put_u32(r + 4, c.n);
    put_u64(r + 8, (uint64_t)c.mint);
    put_u64(r + 16, (uint64_t)c.maxt);
    put_u64(r + 24, c.raw);
    put_u64(r + 32, c.off_ts);
    put_u64(r + 40, c.off_lines);
    put_u64(r + 48, c.off_meta);
    put_u64(r + 56, c.off_bloom);
    put_u32(r + 64, c.len_ts);
    put_u32(r + 68, c.len_lines);
    put_u32(r + 72, c.len_meta);
    put_u32(r + 76, c.bloom_log2 | c.lines_fmt << 8);
    w->index.len += SX_LPART_INDEX_REC;
    w->nchunks++;
    return 0;
}

int sx_lpart__writer_add(sx_lpart_writer_t *w, uint32_t stream, const sx_lentries_t *e,
                         sx_err_t *err)
{
    if (e->n == 0)
        return 0;
    /* The same stream again continues it (a merge writes a stream one
     * chunk at a time); the caller keeps its entries in time order. */
    if (w->any && stream < w->last_stream)
        return sx_err_set(err, SX_EINVAL, "log part streams out of order");
    w->any = true;
    w->last_stream = stream;
    size_t from = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < e->n; i++) {
        if (i > from && (bytes + e->lines[i].len > SX_LCHUNK_MAX_BYTES ||
                         i - from >= SX_LCHUNK_MAX_ENTRIES)) {
            int rc = write_chunk(w, stream, e, from, i, err);
            if (rc)
                return rc;
            from = i;
            bytes = 0;
        }
        bytes += e->lines[i].len;
    }
    return write_chunk(w, stream, e, from, e->n, err);
}

static void writer_free(sx_lpart_writer_t *w)
{
    sx_buf_dispose(&w->col);
    sx_buf_dispose(&w->z);
    sx_buf_dispose(&w->index);
    sx_buf_dispose(&w->blooms);
    free(w->bloom);
    free(w->keys);
    free(w->dir);
    free(w->tmp);
    free(w->path);
    free(w);
}

void sx_lpart__writer_abort(sx_lpart_writer_t *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    unlink(w->tmp);
    writer_free(w);
}

sx_lpart_t *sx_lpart__writer_finish(sx_lpart_writer_t *w, sx_err_t *err)
{
    /* The bloom section, then the index with absolute bloom offsets. */
    int rc = w->blooms.len ? sx_write_full(w->fd, w->blooms.ptr, w->blooms.len) : 0;
    for (uint32_t i = 0; i < w->nchunks; i++) {
        char *r = w->index.ptr + (size_t)i * SX_LPART_INDEX_REC;
        put_u64(r + 56, get_u64(r + 56) + w->off);
    }
    w->off += w->blooms.len;
    /* The key index: entries of all chunks, sorted, little-endian. */
    bool keyed = w->codec && w->codec->key && !w->unkeyed;
    uint64_t keys_off = w->off;
    if (keyed && w->nkeys) {
        qsort(w->keys, w->nkeys, sizeof(uint64_t), cmp_u64);
        /* In place: a day's part may hold tens of millions of entries. */
        for (size_t i = 0; i < w->nkeys; i++) {
            uint64_t v = w->keys[i];
            char *q = (char *)&w->keys[i];
            put_u32(q, (uint32_t)(v >> 32));
            put_u32(q + 4, (uint32_t)v);
        }
        if (!rc)
            rc = sx_write_full(w->fd, w->keys, w->nkeys * 8);
        w->off += w->nkeys * 8;
    }
    char foot[SX_LPART_FOOTER_KEYS];
    char *f = foot;
    if (keyed) {
        put_u64(f, keys_off);
        put_u64(f + 8, w->nkeys);
        f += 16;
    }
    put_u64(f, w->off);
    put_u32(f + 8, w->nchunks);
    put_u32(f + 12, sx_crc32c(0, w->index.ptr, w->index.len));
    memcpy(f + 16, keyed ? SX_LPART_END_KEYS : SX_LPART_END, 8);
    if (!rc)
        rc = sx_write_full(w->fd, w->index.ptr, w->index.len);
    if (!rc)
        rc = sx_write_full(w->fd, foot, keyed ? SX_LPART_FOOTER_KEYS : SX_LPART_FOOTER);
    if (!rc && fdatasync(w->fd) != 0)
        rc = -errno;
    if (rc) {
        sx_err_set(err, rc == -ENOSPC ? SX_ENOSPC : SX_EIO, "cannot write %s: %s", w->tmp,
                   strerror(-rc));
        sx_lpart__writer_abort(w);
        return NULL;
    }
    close(w->fd);
    w->fd = -1;
    if (rename(w->tmp, w->path) != 0 || sx_fsync_dir(w->dir) != 0) {
        sx_err_set(err, SX_EIO, "cannot rename %s: %s", w->tmp, strerror(errno));
        sx_lpart__writer_abort(w);
        return NULL;
    }
    sx_lpart_t *p = sx_lpart__open(w->path, w->seq, w->codec, err);
    writer_free(w);
    return p;
}

sx_lpart_t *sx_lpart__open(const char *path, uint64_t seq, const sx_log_line_codec_t *codec,
                           sx_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        sx_err_set(err, SX_EIO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 8 + SX_LPART_FOOTER) {
        close(fd);
        sx_err_set(err, SX_ECORRUPT, "%s: truncated log part", path);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    const char *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        sx_err_set(err, SX_EIO, "cannot map %s: %s", path, strerror(errno));
        return NULL;
    }
    /* The footer's last 8 bytes say which footer it is. */
    bool keyed = size >= 8 + SX_LPART_FOOTER_KEYS &&
                 memcmp(map + size - 8, SX_LPART_END_KEYS, 8) == 0;
    size_t flen = keyed ? SX_LPART_FOOTER_KEYS : SX_LPART_FOOTER;
    const char *foot = map + size - flen;
    uint64_t koff = keyed ? get_u64(foot) : 0, nkeys = keyed ? get_u64(foot + 8) : 0;
    if (keyed)
        foot += 16;
    uint64_t ioff = get_u64(foot);
    uint32_t n = get_u32(foot + 8);
    if (memcmp(map, SX_LPART_MAGIC, 8) != 0 ||
        (!keyed && memcmp(foot + 16, SX_LPART_END, 8) != 0) || ioff < 8 ||
        ioff > size - flen || (size - flen - ioff) != (uint64_t)n * SX_LPART_INDEX_REC ||
        (keyed && (koff < 8 || koff > ioff || nkeys > (ioff - koff) / 8)) ||
        sx_crc32c(0, map + ioff, (size_t)n * SX_LPART_INDEX_REC) != get_u32(foot + 12)) {
        munmap((void *)map, size);
        sx_err_set(err, SX_ECORRUPT, "%s: corrupt log part (bad header, footer or index)", path);
        return NULL;
    }
    sx_lpart_t *p = sx_xcalloc(1, sizeof(*p));
    p->path = sx_xstrdup(path);
    p->seq = seq;
    p->map = map;
    p->size = size;
    p->nchunks = n;
    p->codec = codec;
    p->keys = keyed && nkeys ? map + koff : NULL;
    p->nkeys = keyed ? nkeys : 0;
    p->chunks = sx_xcalloc(n + 1, sizeof(sx_lchunk_t));
    p->mint = INT64_MAX;
    p->maxt = INT64_MIN;
    atomic_init(&p->refs, 1);
    for (uint32_t i = 0; i < n; i++) {
        const char *r = map + ioff + (size_t)i * SX_LPART_INDEX_REC;
        sx_lchunk_t *c = &p->chunks[i];
        c->stream = get_u32(r);
        c->n = get_u32(r + 4);
        c->mint = (int64_t)get_u64(r + 8);
        c->maxt = (int64_t)get_u64(r + 16);
        c->raw = get_u64(r + 24);
        c->off_ts = get_u64(r + 32);
        c->off_lines = get_u64(r + 40);
        c->off_meta = get_u64(r + 48);
        c->off_bloom = get_u64(r + 56);
        c->len_ts = get_u32(r + 64);
        c->len_lines = get_u32(r + 68);
        c->len_meta = get_u32(r + 72);
        uint32_t fmt = get_u32(r + 76);
        c->bloom_log2 = fmt & 0xff;
        c->lines_fmt = fmt >> 8;
        bool bad = c->lines_fmt > (codec ? 1u : 0u) || c->n == 0 || c->mint > c->maxt ||
                   c->off_ts + c->len_ts > ioff || c->off_lines + c->len_lines > ioff ||
                   c->off_meta + c->len_meta > ioff ||
                   (c->bloom_log2 && (c->bloom_log2 < 3 || c->bloom_log2 > 40 ||
                                      c->off_bloom + ((uint64_t)1 << (c->bloom_log2 - 3)) > ioff)) ||
                   (i > 0 && (c->stream < p->chunks[i - 1].stream ||
                              (c->stream == p->chunks[i - 1].stream &&
                               c->mint < p->chunks[i - 1].mint)));
        if (bad) {
            munmap((void *)map, size);
            free(p->chunks);
            free(p->path);
            free(p);
            sx_err_set(err, SX_ECORRUPT, "%s: corrupt log part index (chunk %u)", path, i);
            return NULL;
        }
        if (c->mint < p->mint)
            p->mint = c->mint;
        if (c->maxt > p->maxt)
            p->maxt = c->maxt;
        p->entries += c->n;
        p->raw += c->raw;
    }
    int64_t mid = n ? p->mint : 0;
    p->day = mid >= 0 ? mid / (86400LL * 1000000000LL) : -((-mid - 1) / (86400LL * 1000000000LL)) - 1;
    return p;
}

void sx_lpart__ref(sx_lpart_t *p)
{
    atomic_fetch_add(&p->refs, 1);
}

void sx_lpart__unref(sx_lpart_t *p)
{
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    munmap((void *)p->map, p->size);
    if (atomic_load(&p->deleted) && unlink(p->path) != 0)
        sx_log_warn("logs", "cannot remove %s: %s", p->path, strerror(errno));
    free(p->chunks);
    free(p->path);
    free(p);
}

size_t sx_lpart__key_chunks(const sx_lpart_t *p, sx_str_t key, uint32_t *out, size_t max)
{
    if (!p->keys)
        return SIZE_MAX;
    uint32_t h = (uint32_t)sx_hash64(key.ptr, key.len);
    size_t a = 0, b = (size_t)p->nkeys;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (get_u32(p->keys + 8 * m) < h)
            a = m + 1;
        else
            b = m;
    }
    size_t n = 0;
    for (; a < p->nkeys && get_u32(p->keys + 8 * a) == h; a++) {
        uint32_t c = get_u32(p->keys + 8 * a + 4);
        if (n == max || c >= p->nchunks)
            return SIZE_MAX; /* too many, or a damaged index: no shortcut */
        out[n++] = c;
    }
    return n;
}

void sx_lpart__stream_chunks(const sx_lpart_t *p, uint32_t stream, size_t *lo, size_t *hi)
{
    size_t a = 0, b = p->nchunks;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (p->chunks[m].stream < stream)
            a = m + 1;
        else
            b = m;
    }
    size_t e = a;
    while (e < p->nchunks && p->chunks[e].stream == stream)
        e++;
    *lo = a;
    *hi = e;
}

static int decompress(const sx_lpart_t *p, uint64_t off, uint32_t len, sx_buf_t *out,
                      sx_err_t *err)
{
    sx_buf_clear(out);
    if (sx_zstd_decompress(p->map + off, len, 1u << 30, out, err))
        return sx_err_set(err, SX_ECORRUPT, "%s: corrupt log chunk at %llu: %s", p->path,
                          (unsigned long long)off, err->msg);
    return 0;
}

/* Whether buffer b lacks one of hint's values: then no line of it is
 * wanted (lines keep string values verbatim, plain or coded). */
static bool lacks_value(const sx_log_hint_t *hint, const sx_buf_t *b)
{
    for (size_t i = 0; hint && i < hint->nvalues; i++)
        if (hint->values[i].len &&
            !sx_memmem(b->ptr, b->len, hint->values[i].ptr, hint->values[i].len))
            return true;
    return false;
}

/* All n lines empty. */
static void empty_lines(sx_lchunk_data_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d->lines[i] = (sx_str_t){"", 0};
}

int sx_lpart__chunk_decode(const sx_lpart_t *p, const sx_lchunk_t *c, int flags,
                           const sx_log_hint_t *hint, sx_lchunk_data_t *d, sx_err_t *err)
{
    size_t n = c->n;
    if (n > d->cap) {
        d->ts = sx_xrealloc(d->ts, n * sizeof(int64_t));
        d->lines = sx_xrealloc(d->lines, n * sizeof(sx_str_t));
        d->meta_idx = sx_xrealloc(d->meta_idx, (n + 1) * sizeof(uint32_t));
        d->cap = n;
    }
    d->n = 0;
    int rc = decompress(p, c->off_ts, c->len_ts, &d->raw_ts, err);
    if (rc)
        return rc;
    const unsigned char *q = (const unsigned char *)d->raw_ts.ptr, *end = q + d->raw_ts.len;
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        if (sx_uvarint_next(&q, end, &u))
            return sx_err_set(err, SX_ECORRUPT, "%s: corrupt log chunk timestamps", p->path);
        prev += sx_zigzag_dec(u);
        d->ts[i] = prev;
    }
    if ((flags & SX_LOGREAD_LINES) && c->lines_fmt == 1) {
        if ((rc = decompress(p, c->off_lines, c->len_lines, &d->raw_coded, err)))
            return rc;
        sx_str_t key = hint ? hint->key : (sx_str_t){NULL, 0};
        if (p->codec->verbatim && lacks_value(hint, &d->raw_coded))
            empty_lines(d, n);
        else if (p->codec->decode(d->raw_coded.ptr, d->raw_coded.len, n, key, &d->raw_lines,
                                  d->lines))
            return sx_err_set(err, SX_ECORRUPT, "%s: corrupt log chunk lines (coded)", p->path);
    } else if (flags & SX_LOGREAD_LINES) {
        if ((rc = decompress(p, c->off_lines, c->len_lines, &d->raw_lines, err)))
            return rc;
        q = (const unsigned char *)d->raw_lines.ptr;
        end = q + d->raw_lines.len;
        for (size_t i = 0; i < n; i++) {
            uint64_t u;
            if (sx_uvarint_next(&q, end, &u))
                return sx_err_set(err, SX_ECORRUPT, "%s: corrupt log chunk lines", p->path);
            d->lines[i].len = (size_t)u;
        }
        for (size_t i = 0; i < n; i++) {
            if ((size_t)(end - q) < d->lines[i].len)
                return sx_err_set(err, SX_ECORRUPT, "%s: corrupt log chunk lines", p->path);
            d->lines[i].ptr = (const char *)q;
            q += d->lines[i].len;
        }
    }
    bool meta = (flags & SX_LOGREAD_META) && c->len_meta;
    if (meta) {
        if ((rc = decompress(p, c->off_meta, c->len_meta, &d->raw_meta, err)))
            return rc;
        q = (const unsigned char *)d->raw_meta.ptr;
        end = q + d->raw_meta.len;
        uint32_t k = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t cnt;
            if (sx_uvarint_next(&q, end, &cnt) || cnt > (uint64_t)(end - q))
                return sx_err_set(err, SX_ECORRUPT, "%s: corrupt log chunk metadata", p->path);
            d->meta_idx[i] = k;
            if (k + cnt > d->meta_cap) {
                d->meta_cap = (k + cnt) * 2 + 16;
                d->meta = sx_xrealloc(d->meta, d->meta_cap * sizeof(sx_label_t));
            }
            for (uint64_t j = 0; j < cnt; j++, k++) {
                sx_str_t *f[2] = {&d->meta[k].name, &d->meta[k].value};
                for (int x = 0; x < 2; x++) {
                    uint64_t l;
                    if (sx_uvarint_next(&q, end, &l) || l > (uint64_t)(end - q))
                        return sx_err_set(err, SX_ECORRUPT, "%s: corrupt log chunk metadata",
                                          p->path);
                    f[x]->ptr = (const char *)q;
                    f[x]->len = (size_t)l;
                    q += l;
                }
            }
        }
        d->meta_idx[n] = k;
    }
    d->n = n;
    return 0;
}

void sx_lchunk_data_dispose(sx_lchunk_data_t *d)
{
    sx_buf_dispose(&d->raw_ts);
    sx_buf_dispose(&d->raw_lines);
    sx_buf_dispose(&d->raw_meta);
    sx_buf_dispose(&d->raw_coded);
    free(d->ts);
    free(d->lines);
    free(d->meta_idx);
    free(d->meta);
    memset(d, 0, sizeof(*d));
}
