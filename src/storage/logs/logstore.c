/* SPDX-License-Identifier: Apache-2.0 */
/* The log store of one tenant: stream registry (streams.log), write-ahead
 * log, per-stream heads, part files per UTC day, and the background
 * flush, compaction and retention. Layout of <dir>:
 *   wal/            write-ahead log segments (records carry stream labels)
 *   streams.log     framed records [id][labels] for streams in parts
 *   parts/<seq>.lpart
 * Locks, outermost first: compact_mu (one compaction or retention pass
 * at a time), flush_mu (one flush at a time; never held while compacting,
 * so a long merge does not hold back the head), append_lock (appends share it; a flush takes it alone to swap heads and
 * rotate the log together), reg_lock (registry), the stream stripes
 * (heads), parts_lock (the part list; readers pin parts with refs). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/file.h"
#include "../../core/log.h"
#include "../../core/time.h"
#include "../encoding/encoding.h"
#include "../wal/wal.h"
#include "logstore_int.h"
#include "logstore_store.h"

#define NSTRIPES 64
#define DAY_NS (86400LL * 1000000000LL)
#define HEAD_MAX_BYTES (160LL << 20)   /* flush when the head holds this many line bytes */
#define HEAD_HARD_BYTES (480LL << 20)  /* writers wait above this */
#define COMPACT_MIN_PARTS 6
#define COMPACT_MAX_PARTS 16
#define COMPACT_MAX_BYTES (4ULL << 30)
#define REC_ENTRIES 1

/* Entries of a stream not yet in a part. data holds, per entry, the line
 * followed by its metadata (count varint, then length-prefixed pairs). */
typedef struct lhead {
    int64_t *ts;
    uint64_t *off;
    uint32_t *len;
    uint32_t n, cap;
    sx_buf_t data;
    bool unsorted;
    int64_t mint, maxt;
} lhead_t;

typedef struct lstream {
    uint32_t id;
    uint32_t nlabels;
    sx_label_t *labels;     /* one allocation with the strings */
    uint64_t hash;
    _Atomic int64_t mint, maxt; /* over head and parts; widened by extend() */
    bool persisted;         /* in streams.log */
    lhead_t head, sealed;
} lstream_t;

struct sx_logstore {
    char *dir;
    sx_logstore_opts_t opts;
    sx_wal_t *wal;
    pthread_mutex_t flush_mu, compact_mu;
    pthread_mutex_t room_mu;  /* writers wait here while the head is over its hard limit */
    pthread_cond_t room_cv;
    pthread_rwlock_t append_lock, reg_lock, parts_lock;
    pthread_mutex_t stripes[NSTRIPES];
    lstream_t **streams;
    uint32_t nstreams, scap;
    uint32_t *table;        /* open addressing: id + 1, 0 = empty */
    uint32_t tcap;
    sx_lpart_t **parts;     /* sorted by (day, seq) */
    size_t nparts;
    uint64_t next_seq;
    int streams_fd;
    _Atomic int64_t head_bytes, head_entries;
    _Atomic int64_t appended, appended_bytes, dropped_ret;
    _Atomic int64_t head_since_ms; /* when the oldest unflushed entry arrived; 0 = none */
    int64_t last_flush_ms;
    _Atomic int64_t compactions;
};

static pthread_mutex_t *stripe(sx_logstore_t *ls, uint32_t id)
{
    return &ls->stripes[id % NSTRIPES];
}

static int64_t day_of(int64_t ns)
{
    return ns >= 0 ? ns / DAY_NS : -((-ns - 1) / DAY_NS) - 1;
}

/* ---- Registry ---- */

static bool labels_eq(const lstream_t *s, const sx_label_t *l, uint32_t n)
{
    if (s->nlabels != n)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!sx_str_eq(s->labels[i].name, l[i].name) || !sx_str_eq(s->labels[i].value, l[i].value))
            return false;
    return true;
}

static lstream_t *lookup(sx_logstore_t *ls, uint64_t h, const sx_label_t *l, uint32_t n)
{
    if (!ls->tcap)
        return NULL;
    for (uint32_t i = (uint32_t)h & (ls->tcap - 1);; i = (i + 1) & (ls->tcap - 1)) {
        uint32_t v = ls->table[i];
        if (!v)
            return NULL;
        lstream_t *s = ls->streams[v - 1];
        if (s && s->hash == h && labels_eq(s, l, n))
            return s;
    }
}

static void table_put(sx_logstore_t *ls, lstream_t *s)
{
    for (uint32_t i = (uint32_t)s->hash & (ls->tcap - 1);; i = (i + 1) & (ls->tcap - 1))
        if (!ls->table[i]) {
            ls->table[i] = s->id + 1;
            return;
        }
}

/* Add a stream under id (caller holds reg_lock exclusively). */
static lstream_t *stream_add(sx_logstore_t *ls, uint32_t id, const sx_label_t *l, uint32_t n,
                             uint64_t h)
{
    size_t bytes = n * sizeof(sx_label_t);
    for (uint32_t i = 0; i < n; i++)
        bytes += l[i].name.len + l[i].value.len;
    lstream_t *s = sx_xcalloc(1, sizeof(*s));
    s->labels = sx_xmalloc(bytes + 1);
    char *p = (char *)(s->labels + n);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(p, l[i].name.ptr, l[i].name.len);
        s->labels[i].name = (sx_str_t){p, l[i].name.len};
        p += l[i].name.len;
        memcpy(p, l[i].value.ptr, l[i].value.len);
        s->labels[i].value = (sx_str_t){p, l[i].value.len};
        p += l[i].value.len;
    }
    s->nlabels = n;
    s->hash = h;
    s->id = id;
    s->mint = INT64_MAX;
    s->maxt = INT64_MIN;
    if (id >= ls->scap) {
        uint32_t nc = ls->scap ? ls->scap * 2 : 64;
        while (nc <= id)
            nc *= 2;
        ls->streams = sx_xrealloc(ls->streams, nc * sizeof(lstream_t *));
        memset(ls->streams + ls->scap, 0, (nc - ls->scap) * sizeof(lstream_t *));
        ls->scap = nc;
    }
    ls->streams[id] = s;
    if (id >= ls->nstreams)
        ls->nstreams = id + 1;
    if ((uint64_t)ls->nstreams * 2 >= ls->tcap) {
        uint32_t nc = ls->tcap ? ls->tcap * 2 : 256;
        while ((uint64_t)ls->nstreams * 2 >= nc)
            nc *= 2;
        free(ls->table);
        ls->table = sx_xcalloc(nc, sizeof(uint32_t));
        ls->tcap = nc;
        for (uint32_t i = 0; i < ls->nstreams; i++)
            if (ls->streams[i])
                table_put(ls, ls->streams[i]);
    } else {
        table_put(ls, s);
    }
    return s;
}

static lstream_t *stream_get(sx_logstore_t *ls, uint32_t id)
{
    pthread_rwlock_rdlock(&ls->reg_lock);
    lstream_t *s = id < ls->nstreams ? ls->streams[id] : NULL;
    pthread_rwlock_unlock(&ls->reg_lock);
    return s;
}

/* Find or create the stream of a label set; *created counts new ones. */
static lstream_t *stream_resolve(sx_logstore_t *ls, const sx_label_t *l, uint32_t n, uint64_t *created)
{
    uint64_t h = sx_labels_hash(l, n);
    pthread_rwlock_rdlock(&ls->reg_lock);
    lstream_t *s = lookup(ls, h, l, n);
    pthread_rwlock_unlock(&ls->reg_lock);
    if (s)
        return s;
    pthread_rwlock_wrlock(&ls->reg_lock);
    s = lookup(ls, h, l, n);
    if (!s) {
        s = stream_add(ls, ls->nstreams, l, n, h);
        if (created)
            (*created)++;
    }
    pthread_rwlock_unlock(&ls->reg_lock);
    return s;
}

static void extend(lstream_t *s, int64_t mint, int64_t maxt)
{
    /* Called under the stream's stripe or the registry lock, so two may
     * run at once: compare-and-swap keeps either from undoing the other.
     * Readers hold only the registry lock shared, which does not keep out
     * a writer holding a stripe; a range they see an instant late was only
     * narrower by entries not yet acknowledged. */
    int64_t cur = atomic_load_explicit(&s->mint, memory_order_relaxed);
    while (mint < cur && !atomic_compare_exchange_weak_explicit(&s->mint, &cur, mint,
                                                                memory_order_relaxed,
                                                                memory_order_relaxed))
        ;
    cur = atomic_load_explicit(&s->maxt, memory_order_relaxed);
    while (maxt > cur && !atomic_compare_exchange_weak_explicit(&s->maxt, &cur, maxt,
                                                                memory_order_relaxed,
                                                                memory_order_relaxed))
        ;
}

/* streams.log: framed records of [id][nlabels]([name][value])*. */
static int streams_log_load(sx_logstore_t *ls, sx_err_t *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/streams.log", ls->dir);
    sx_buf_t file = SX_BUF_INIT;
    int rc = sx_file_read_all(path, &file);
    if (rc && rc != -ENOENT) {
        sx_buf_dispose(&file);
        return sx_err_set(err, SX_EIO, "cannot read %s: %s", path, strerror(-rc));
    }
    size_t off = 0;
    sx_label_t *l = NULL;
    uint64_t lcap = 0;
    for (; file.len;) {
        const char *payload;
        uint32_t plen;
        size_t fl = sx_wal_frame_parse(file.ptr + off, file.len - off, &payload, &plen);
        if (!fl)
            break;
        const unsigned char *p = (const unsigned char *)payload, *end = p + plen;
        uint64_t id, n;
        bool ok = !sx_uvarint_next(&p, end, &id) && !sx_uvarint_next(&p, end, &n) &&
                  id < (1u << 30) && n <= 4096;
        if (ok && n > lcap) {
            lcap = n;
            l = sx_xrealloc(l, n * sizeof(*l));
        }
        for (uint64_t i = 0; ok && i < n; i++) {
            sx_str_t *f[2] = {&l[i].name, &l[i].value};
            for (int x = 0; x < 2 && ok; x++) {
                uint64_t len;
                ok = !sx_uvarint_next(&p, end, &len) && len <= (uint64_t)(end - p);
                if (ok) {
                    *f[x] = (sx_str_t){(const char *)p, (size_t)len};
                    p += len;
                }
            }
        }
        if (!ok)
            break;
        uint64_t h = sx_labels_hash(l, (uint32_t)n);
        if (!lookup(ls, h, l, (uint32_t)n) && (id >= ls->nstreams || !ls->streams[id])) {
            lstream_t *s = stream_add(ls, (uint32_t)id, l, (uint32_t)n, h);
            s->persisted = true;
        }
        off += fl;
    }
    free(l);
    /* A torn tail is cut off: those streams were never in a part. */
    ls->streams_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (ls->streams_fd < 0 || ftruncate(ls->streams_fd, (off_t)off) != 0 ||
        lseek(ls->streams_fd, (off_t)off, SEEK_SET) < 0) {
        sx_buf_dispose(&file);
        return sx_err_set(err, SX_EIO, "cannot open %s: %s", path, strerror(errno));
    }
    sx_buf_dispose(&file);
    return 0;
}

/* Make every stream with entries in a sealed head durable in streams.log. */
static int streams_log_persist(sx_logstore_t *ls, uint32_t nstreams, sx_err_t *err)
{
    sx_buf_t rec = SX_BUF_INIT, payload = SX_BUF_INIT;
    for (uint32_t id = 0; id < nstreams; id++) {
        lstream_t *s = stream_get(ls, id);
        if (!s || s->persisted)
            continue;
        sx_buf_clear(&payload);
        sx_buf_put_uvarint(&payload, id);
        sx_buf_put_uvarint(&payload, s->nlabels);
        for (uint32_t i = 0; i < s->nlabels; i++) {
            sx_buf_put_uvarint(&payload, s->labels[i].name.len);
            sx_buf_append_str(&payload, s->labels[i].name);
            sx_buf_put_uvarint(&payload, s->labels[i].value.len);
            sx_buf_append_str(&payload, s->labels[i].value);
        }
        sx_wal_frame_append(&rec, payload.ptr, payload.len);
    }
    int rc = 0;
    if (rec.len) {
        int w = sx_write_full(ls->streams_fd, rec.ptr, rec.len);
        if (!w && fdatasync(ls->streams_fd) != 0)
            w = -errno;
        if (w)
            rc = sx_err_set(err, w == -ENOSPC ? SX_ENOSPC : SX_EIO,
                            "cannot write %s/streams.log: %s", ls->dir, strerror(-w));
        else
            for (uint32_t id = 0; id < nstreams; id++) {
                lstream_t *s = stream_get(ls, id);
                if (s)
                    s->persisted = true;
            }
    }
    sx_buf_dispose(&rec);
    sx_buf_dispose(&payload);
    return rc;
}

/* ---- Heads ---- */

/* Room for one more entry at time ts; updates the time range. */
static void head_slot(lhead_t *h, int64_t ts)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->ts = sx_xrealloc(h->ts, h->cap * sizeof(int64_t));
        h->off = sx_xrealloc(h->off, h->cap * sizeof(uint64_t));
        h->len = sx_xrealloc(h->len, h->cap * sizeof(uint32_t));
    }
    if (h->n == 0) {
        h->mint = h->maxt = ts;
    } else {
        if (ts < h->maxt)
            h->unsorted = true;
        if (ts < h->mint)
            h->mint = ts;
        if (ts > h->maxt)
            h->maxt = ts;
    }
}

static void head_append(lhead_t *h, int64_t ts, sx_str_t line, const sx_label_t *meta, uint32_t nm)
{
    head_slot(h, ts);
    h->ts[h->n] = ts;
    h->off[h->n] = h->data.len;
    h->len[h->n] = (uint32_t)line.len;
    h->n++;
    sx_buf_append_str(&h->data, line);
    sx_buf_put_uvarint(&h->data, nm);
    for (uint32_t i = 0; i < nm; i++) {
        sx_buf_put_uvarint(&h->data, meta[i].name.len);
        sx_buf_append_str(&h->data, meta[i].name);
        sx_buf_put_uvarint(&h->data, meta[i].value.len);
        sx_buf_append_str(&h->data, meta[i].value);
    }
}

/* Move entry k of src (its line and encoded metadata as they are) to the
 * end of dst. */
static void head_move(lhead_t *dst, const lhead_t *src, uint32_t k)
{
    uint64_t next = k + 1 < src->n ? src->off[k + 1] : src->data.len;
    head_slot(dst, src->ts[k]);
    dst->ts[dst->n] = src->ts[k];
    dst->off[dst->n] = dst->data.len;
    dst->len[dst->n] = src->len[k];
    dst->n++;
    sx_buf_append(&dst->data, src->data.ptr + src->off[k], next - src->off[k]);
}

static void head_dispose(lhead_t *h)
{
    free(h->ts);
    free(h->off);
    free(h->len);
    sx_buf_dispose(&h->data);
    memset(h, 0, sizeof(*h));
}

typedef struct tskey {
    int64_t ts;
    size_t i;
} tskey_t;

static int cmp_tskey(const void *a, const void *b)
{
    const tskey_t *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Copy the head's entries in [mint, maxt] into the arena as sorted
 * columns (caller holds the stream's stripe). */
static void head_collect(const lhead_t *h, int64_t mint, int64_t maxt, bool want_meta,
                         sx_arena_t *a, sx_lentries_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!h->n || h->maxt < mint || h->mint > maxt)
        return;
    uint32_t *idx = sx_arena_alloc(a, h->n * sizeof(uint32_t));
    size_t n = 0;
    for (uint32_t i = 0; i < h->n; i++)
        if (h->ts[i] >= mint && h->ts[i] <= maxt)
            idx[n++] = i;
    if (!n)
        return;
    if (h->unsorted) {
        /* Sort by (ts, arrival): stable, so equal timestamps keep the
         * order they were pushed in. */
        tskey_t *keys = sx_arena_alloc(a, n * sizeof(tskey_t));
        for (size_t i = 0; i < n; i++)
            keys[i] = (tskey_t){h->ts[idx[i]], idx[i]};
        qsort(keys, n, sizeof(tskey_t), cmp_tskey);
        for (size_t i = 0; i < n; i++)
            idx[i] = (uint32_t)keys[i].i;
    }
    out->n = n;
    out->ts = sx_arena_alloc(a, n * sizeof(int64_t));
    out->lines = sx_arena_alloc(a, n * sizeof(sx_str_t));
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += h->len[idx[i]];
    char *buf = sx_arena_alloc(a, bytes + 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t k = idx[i];
        out->ts[i] = h->ts[k];
        memcpy(buf, h->data.ptr + h->off[k], h->len[k]);
        out->lines[i] = (sx_str_t){buf, h->len[k]};
        buf += h->len[k];
    }
    if (!want_meta)
        return;
    /* Decode metadata in a second pass (counts first, then pairs). */
    out->meta_idx = sx_arena_alloc(a, (n + 1) * sizeof(uint32_t));
    size_t mcap = 16, m = 0;
    out->meta = sx_arena_alloc(a, mcap * sizeof(sx_label_t));
    for (size_t i = 0; i < n; i++) {
        uint32_t k = idx[i];
        const unsigned char *p = (const unsigned char *)h->data.ptr + h->off[k] + h->len[k];
        const unsigned char *end = (const unsigned char *)h->data.ptr + h->data.len;
        uint64_t c;
        sx_uvarint_next(&p, end, &c);
        out->meta_idx[i] = (uint32_t)m;
        for (uint64_t j = 0; j < c; j++) {
            if (m == mcap) {
                out->meta = sx_arena_realloc(a, out->meta, mcap * sizeof(sx_label_t),
                                             mcap * 2 * sizeof(sx_label_t));
                mcap *= 2;
            }
            uint64_t l;
            sx_uvarint_next(&p, end, &l);
            out->meta[m].name = sx_arena_strdup_str(a, (sx_str_t){(const char *)p, (size_t)l});
            p += l;
            sx_uvarint_next(&p, end, &l);
            out->meta[m].value = sx_arena_strdup_str(a, (sx_str_t){(const char *)p, (size_t)l});
            p += l;
            m++;
        }
    }
    out->meta_idx[n] = (uint32_t)m;
    if (m == 0)
        out->meta_idx = NULL;
}

/* ---- Open, replay, close ---- */

static int apply_record(sx_logstore_t *ls, const char *data, size_t len, bool replay,
                        sx_log_append_result_t *res);

static int replay_fn(void *ctx, const char *p, size_t n)
{
    sx_logstore_t *ls = ctx;
    if (apply_record(ls, p, n, true, NULL))
        sx_log_warn("logs", "%s: skipping a malformed write-ahead log record", ls->dir);
    return 0;
}

static int cmp_part(const void *a, const void *b)
{
    const sx_lpart_t *x = *(sx_lpart_t *const *)a, *y = *(sx_lpart_t *const *)b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static int load_parts(sx_logstore_t *ls, sx_err_t *err)
{
    char pdir[4200];
    snprintf(pdir, sizeof(pdir), "%s/parts", ls->dir);
    if (sx_mkdir_p(pdir))
        return sx_err_set(err, SX_EIO, "cannot create %s: %s", pdir, strerror(errno));
    DIR *d = opendir(pdir);
    if (!d)
        return sx_err_set(err, SX_EIO, "cannot open %s: %s", pdir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[4600];
        snprintf(path, sizeof(path), "%s/%s", pdir, e->d_name);
        size_t nl = strlen(e->d_name);
        if (nl > 4 && strcmp(e->d_name + nl - 4, ".tmp") == 0) {
            unlink(path); /* an interrupted flush or compaction */
            continue;
        }
        if (nl < 7 || strcmp(e->d_name + nl - 6, ".lpart") != 0)
            continue;
        uint64_t seq = strtoull(e->d_name, NULL, 10);
        sx_lpart_t *p = sx_lpart__open(path, seq, ls->opts.line_codec, err);
        if (!p) {
            closedir(d);
            return err->code;
        }
        ls->parts = sx_xrealloc(ls->parts, (ls->nparts + 1) * sizeof(*ls->parts));
        ls->parts[ls->nparts++] = p;
        if (seq >= ls->next_seq)
            ls->next_seq = seq + 1;
    }
    closedir(d);
    if (ls->nparts)
        qsort(ls->parts, ls->nparts, sizeof(*ls->parts), cmp_part);
    /* Stream time ranges from the part indexes. */
    for (size_t i = 0; i < ls->nparts; i++) {
        sx_lpart_t *p = ls->parts[i];
        for (size_t k = 0; k < p->nchunks; k++) {
            const sx_lchunk_t *c = &p->chunks[k];
            if (c->stream < ls->nstreams && ls->streams[c->stream])
                extend(ls->streams[c->stream], c->mint, c->maxt);
        }
    }
    return 0;
}

sx_logstore_t *sx_logstore__open(const char *dir, const sx_logstore_opts_t *opts, sx_err_t *err)
{
    sx_logstore_t *ls = sx_xcalloc(1, sizeof(*ls));
    ls->dir = sx_xstrdup(dir);
    ls->opts = *opts;
    ls->streams_fd = -1;
    pthread_mutex_init(&ls->flush_mu, NULL);
    pthread_mutex_init(&ls->compact_mu, NULL);
    pthread_mutex_init(&ls->room_mu, NULL);
    pthread_cond_init(&ls->room_cv, NULL);
    pthread_rwlock_init(&ls->append_lock, NULL);
    pthread_rwlock_init(&ls->reg_lock, NULL);
    pthread_rwlock_init(&ls->parts_lock, NULL);
    for (int i = 0; i < NSTRIPES; i++)
        pthread_mutex_init(&ls->stripes[i], NULL);
    ls->last_flush_ms = sx_now_ms();
    char wdir[4200];
    snprintf(wdir, sizeof(wdir), "%s/wal", dir);
    if (sx_mkdir_p(dir)) {
        sx_err_set(err, SX_EIO, "cannot create %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (streams_log_load(ls, err) || load_parts(ls, err))
        goto fail;
    ls->wal = sx_wal_open(wdir, err);
    if (!ls->wal)
        goto fail;
    sx_wal_replay(ls->wal, replay_fn, ls);
    if (atomic_load(&ls->head_entries))
        atomic_store(&ls->head_since_ms, sx_now_ms());
    return ls;
fail:
    sx_logstore__close(ls);
    return NULL;
}

void sx_logstore__close(sx_logstore_t *ls)
{
    if (!ls)
        return;
    if (ls->wal)
        sx_wal_close(ls->wal);
    for (size_t i = 0; i < ls->nparts; i++)
        sx_lpart__unref(ls->parts[i]);
    free(ls->parts);
    for (uint32_t i = 0; i < ls->nstreams; i++) {
        lstream_t *s = ls->streams[i];
        if (!s)
            continue;
        head_dispose(&s->head);
        head_dispose(&s->sealed);
        free(s->labels);
        free(s);
    }
    free(ls->streams);
    free(ls->table);
    if (ls->streams_fd >= 0)
        close(ls->streams_fd);
    pthread_mutex_destroy(&ls->flush_mu);
    pthread_mutex_destroy(&ls->compact_mu);
    pthread_mutex_destroy(&ls->room_mu);
    pthread_cond_destroy(&ls->room_cv);
    pthread_rwlock_destroy(&ls->append_lock);
    pthread_rwlock_destroy(&ls->reg_lock);
    pthread_rwlock_destroy(&ls->parts_lock);
    for (int i = 0; i < NSTRIPES; i++)
        pthread_mutex_destroy(&ls->stripes[i]);
    free(ls->dir);
    free(ls);
}

/* ---- Append ---- */

static void put_str(sx_buf_t *b, sx_str_t s)
{
    sx_buf_put_uvarint(b, s.len);
    sx_buf_append_str(b, s);
}

static bool get_str(const unsigned char **p, const unsigned char *end, sx_str_t *out)
{
    uint64_t l;
    if (sx_uvarint_next(p, end, &l) || l > (uint64_t)(end - *p))
        return false;
    *out = (sx_str_t){(const char *)*p, (size_t)l};
    *p += l;
    return true;
}

/* Apply one write-ahead log record to the heads (a record is what one
 * append wrote: [type][nstreams] per stream [labels][entries]). */
static int apply_record(sx_logstore_t *ls, const char *data, size_t len, bool replay,
                        sx_log_append_result_t *res)
{
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    if (len < 1 || *p++ != REC_ENTRIES)
        return SX_ECORRUPT;
    uint64_t ns;
    if (sx_uvarint_next(&p, end, &ns))
        return SX_ECORRUPT;
    int64_t cut = ls->opts.retention_ms > 0 ? (sx_now_ms() - ls->opts.retention_ms) * 1000000LL
                                            : INT64_MIN;
    sx_label_t lstack[32], *labels = lstack, mstack[32], *meta = mstack;
    uint64_t lcap = 32, mcap = 32;
    int rc = 0;
    int64_t bytes = 0, entries = 0;
    for (uint64_t i = 0; i < ns && !rc; i++) {
        uint64_t nl, ne;
        if (sx_uvarint_next(&p, end, &nl) || nl > 4096) {
            rc = SX_ECORRUPT;
            break;
        }
        if (nl > lcap) {
            labels = labels == lstack ? sx_xmalloc(nl * sizeof(*labels))
                                      : sx_xrealloc(labels, nl * sizeof(*labels));
            lcap = nl;
        }
        for (uint64_t k = 0; k < nl && !rc; k++)
            if (!get_str(&p, end, &labels[k].name) || !get_str(&p, end, &labels[k].value))
                rc = SX_ECORRUPT;
        if (rc || sx_uvarint_next(&p, end, &ne)) {
            rc = SX_ECORRUPT;
            break;
        }
        lstream_t *s = stream_resolve(ls, labels, (uint32_t)nl, res ? &res->new_streams : NULL);
        pthread_mutex_lock(stripe(ls, s->id));
        int64_t prev = 0;
        for (uint64_t k = 0; k < ne; k++) {
            int64_t d;
            sx_str_t line;
            uint64_t nm;
            if (sx_varint_next(&p, end, &d) || !get_str(&p, end, &line) ||
                sx_uvarint_next(&p, end, &nm) || nm > (uint64_t)(end - p)) {
                rc = SX_ECORRUPT;
                break;
            }
            int64_t ts = prev + d;
            prev = ts;
            if (nm > mcap) {
                meta = meta == mstack ? sx_xmalloc(nm * sizeof(*meta))
                                      : sx_xrealloc(meta, nm * sizeof(*meta));
                mcap = nm;
            }
            for (uint64_t j = 0; j < nm && !rc; j++)
                if (!get_str(&p, end, &meta[j].name) || !get_str(&p, end, &meta[j].value))
                    rc = SX_ECORRUPT;
            if (rc)
                break;
            if (replay && ts < cut)
                continue;
            head_append(&s->head, ts, line, meta, (uint32_t)nm);
            extend(s, ts, ts);
            bytes += (int64_t)line.len;
            entries++;
        }
        pthread_mutex_unlock(stripe(ls, s->id));
    }
    if (labels != lstack)
        free(labels);
    if (meta != mstack)
        free(meta);
    atomic_fetch_add(&ls->head_bytes, bytes);
    atomic_fetch_add(&ls->head_entries, entries);
    if (!replay) {
        atomic_fetch_add(&ls->appended, entries);
        atomic_fetch_add(&ls->appended_bytes, bytes);
    }
    if (res) {
        res->appended += (uint64_t)entries;
        res->bytes += (uint64_t)bytes;
    }
    return rc;
}

int sx_logstore_append(sx_logstore_t *ls, const sx_log_batch_t *b, sx_log_append_result_t *res,
                       sx_err_t *err)
{
    sx_log_append_result_t r = {0};
    if (b->nentries == 0) {
        if (res)
            *res = r;
        return 0;
    }
    int64_t cut = ls->opts.retention_ms > 0 ? (sx_now_ms() - ls->opts.retention_ms) * 1000000LL
                                            : INT64_MIN;
    sx_buf_t rec = SX_BUF_INIT;
    sx_buf_reserve(&rec, b->nbytes + b->nentries * 12 + b->nstreams * 64 + 16);
    sx_buf_putc(&rec, REC_ENTRIES);
    sx_buf_put_uvarint(&rec, b->nstreams);
    for (size_t i = 0; i < b->nstreams; i++) {
        const sx_log_stream_in_t *s = &b->streams[i];
        sx_buf_put_uvarint(&rec, s->nlabels);
        for (uint32_t k = 0; k < s->nlabels; k++) {
            put_str(&rec, s->labels[k].name);
            put_str(&rec, s->labels[k].value);
        }
        uint32_t kept = 0;
        for (uint32_t k = 0; k < s->nentries; k++)
            kept += s->entries[k].ts >= cut;
        r.dropped_retention += s->nentries - kept;
        sx_buf_put_uvarint(&rec, kept);
        int64_t prev = 0;
        for (uint32_t k = 0; k < s->nentries; k++) {
            const sx_log_entry_t *e = &s->entries[k];
            if (e->ts < cut)
                continue;
            sx_varint_append(&rec, e->ts - prev);
            prev = e->ts;
            put_str(&rec, e->line);
            sx_buf_put_uvarint(&rec, e->nmeta);
            for (uint32_t j = 0; j < e->nmeta; j++) {
                put_str(&rec, e->meta[j].name);
                put_str(&rec, e->meta[j].value);
            }
        }
    }
    /* Back-pressure: past the hard limit, writers wait for a flush to
     * make room (the sealed head is already being written), at most a
     * few seconds, rather than letting memory grow without bound. */
    if (atomic_load(&ls->head_bytes) >= HEAD_HARD_BYTES) {
        int64_t until = sx_mono_ns() + 10LL * 1000000000LL;
        pthread_mutex_lock(&ls->room_mu);
        while (atomic_load(&ls->head_bytes) >= HEAD_HARD_BYTES && sx_mono_ns() < until) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&ls->room_cv, &ls->room_mu, &ts);
        }
        pthread_mutex_unlock(&ls->room_mu);
    }
    pthread_rwlock_rdlock(&ls->append_lock);
    int rc = sx_wal_commit(ls->wal, rec.ptr, rec.len, err);
    if (!rc) {
        /* The first entry of an empty head starts its clock (appenders
         * share append_lock, so a flush's swap cannot come between). */
        if (atomic_load(&ls->head_entries) == 0)
            atomic_store(&ls->head_since_ms, sx_now_ms());
        apply_record(ls, rec.ptr, rec.len, false, &r);
    }
    pthread_rwlock_unlock(&ls->append_lock);
    sx_buf_dispose(&rec);
    atomic_fetch_add(&ls->dropped_ret, (int64_t)r.dropped_retention);
    if (res)
        *res = r;
    return rc;
}

/* ---- Flush ---- */

typedef struct day_writer {
    int64_t day;
    sx_lpart_writer_t *w;
} day_writer_t;

static uint64_t take_seq(sx_logstore_t *ls)
{
    pthread_rwlock_wrlock(&ls->parts_lock);
    uint64_t s = ls->next_seq++;
    pthread_rwlock_unlock(&ls->parts_lock);
    return s;
}

static void parts_publish(sx_logstore_t *ls, sx_lpart_t **add, size_t nadd, sx_lpart_t **del,
                          size_t ndel)
{
    pthread_rwlock_wrlock(&ls->parts_lock);
    size_t k = 0;
    for (size_t i = 0; i < ls->nparts; i++) {
        bool gone = false;
        for (size_t j = 0; j < ndel && !gone; j++)
            gone = ls->parts[i] == del[j];
        if (gone) {
            atomic_store(&ls->parts[i]->deleted, true);
            sx_lpart__unref(ls->parts[i]);
        } else {
            ls->parts[k++] = ls->parts[i];
        }
    }
    ls->nparts = k;
    ls->parts = sx_xrealloc(ls->parts, (ls->nparts + nadd + 1) * sizeof(*ls->parts));
    for (size_t i = 0; i < nadd; i++)
        ls->parts[ls->nparts++] = add[i];
    qsort(ls->parts, ls->nparts, sizeof(*ls->parts), cmp_part);
    pthread_rwlock_unlock(&ls->parts_lock);
}

/* Split sorted entries by UTC day and hand each day's run to its writer. */
static int write_days(sx_logstore_t *ls, day_writer_t **dws, size_t *ndw, uint32_t id,
                      const sx_lentries_t *e, sx_err_t *err)
{
    char pdir[4200];
    snprintf(pdir, sizeof(pdir), "%s/parts", ls->dir);
    size_t from = 0;
    while (from < e->n) {
        int64_t day = day_of(e->ts[from]);
        size_t to = from;
        while (to < e->n && day_of(e->ts[to]) == day)
            to++;
        day_writer_t *dw = NULL;
        for (size_t i = 0; i < *ndw && !dw; i++)
            if ((*dws)[i].day == day)
                dw = &(*dws)[i];
        if (!dw) {
            sx_lpart_writer_t *w = sx_lpart__writer_create(pdir, take_seq(ls), day, &ls->opts,
                                                           err);
            if (!w)
                return err->code;
            *dws = sx_xrealloc(*dws, (*ndw + 1) * sizeof(**dws));
            dw = &(*dws)[(*ndw)++];
            *dw = (day_writer_t){day, w};
        }
        sx_lentries_t sub = {e->ts + from, e->lines + from, NULL, e->meta, to - from};
        uint32_t *mi = NULL;
        if (e->meta_idx) {
            mi = sx_xmalloc((to - from + 1) * sizeof(uint32_t));
            for (size_t k = from; k <= to; k++)
                mi[k - from] = e->meta_idx[k];
            sub.meta_idx = mi;
        }
        int rc = sx_lpart__writer_add(dw->w, id, &sub, err);
        free(mi);
        if (rc)
            return rc;
        from = to;
    }
    return 0;
}

static int finish_writers(day_writer_t *dws, size_t ndw, int rc, sx_lpart_t ***made, sx_err_t *err)
{
    *made = sx_xcalloc(ndw + 1, sizeof(sx_lpart_t *));
    for (size_t i = 0; i < ndw; i++) {
        if (rc == 0) {
            (*made)[i] = sx_lpart__writer_finish(dws[i].w, err);
            if (!(*made)[i])
                rc = err->code;
        } else {
            sx_lpart__writer_abort(dws[i].w);
        }
    }
    if (rc)
        for (size_t i = 0; i < ndw; i++)
            if ((*made)[i]) {
                atomic_store(&(*made)[i]->deleted, true);
                sx_lpart__unref((*made)[i]);
                (*made)[i] = NULL;
            }
    return rc;
}

int sx_logstore_flush(sx_logstore_t *ls)
{
    sx_err_t err;
    sx_err_clear(&err);
    pthread_mutex_lock(&ls->flush_mu);
    int64_t t0 = sx_mono_ns();
    pthread_rwlock_wrlock(&ls->append_lock);
    uint32_t sealed_seg = 0;
    int rc = sx_wal_rotate(ls->wal, &sealed_seg, &err);
    if (rc) {
        pthread_rwlock_unlock(&ls->append_lock);
        pthread_mutex_unlock(&ls->flush_mu);
        sx_log_error("logs", "%s: flush failed: %s", ls->dir, err.msg);
        return rc;
    }
    pthread_rwlock_rdlock(&ls->reg_lock);
    uint32_t nstreams = ls->nstreams;
    pthread_rwlock_unlock(&ls->reg_lock);
    for (uint32_t id = 0; id < nstreams; id++) {
        lstream_t *s = stream_get(ls, id);
        if (!s || !s->head.n)
            continue;
        pthread_mutex_lock(stripe(ls, id));
        if (!s->sealed.n) {
            s->sealed = s->head;
        } else {
            /* A previous flush failed: fold the head into the sealed one. */
            for (uint32_t k = 0; k < s->head.n; k++)
                head_move(&s->sealed, &s->head, k);
            head_dispose(&s->head);
        }
        memset(&s->head, 0, sizeof(s->head));
        pthread_mutex_unlock(stripe(ls, id));
    }
    int64_t sealed_entries = atomic_exchange(&ls->head_entries, 0);
    int64_t sealed_bytes = atomic_exchange(&ls->head_bytes, 0);
    /* Entries appended from here on start the new head's clock; resetting
     * it only after the parts were written would stop the timer of those
     * that arrived meanwhile. */
    int64_t sealed_since = atomic_exchange(&ls->head_since_ms, 0);
    pthread_rwlock_unlock(&ls->append_lock);

    rc = streams_log_persist(ls, nstreams, &err);
    day_writer_t *dws = NULL;
    size_t ndw = 0;
    sx_arena_t a;
    sx_arena_init(&a);
    for (uint32_t id = 0; id < nstreams && rc == 0; id++) {
        lstream_t *s = stream_get(ls, id);
        if (!s)
            continue;
        sx_lentries_t e;
        pthread_mutex_lock(stripe(ls, id));
        head_collect(&s->sealed, INT64_MIN, INT64_MAX, true, &a, &e);
        pthread_mutex_unlock(stripe(ls, id));
        if (e.n)
            rc = write_days(ls, &dws, &ndw, id, &e, &err);
        sx_arena_reset(&a);
    }
    sx_arena_dispose(&a);
    sx_lpart_t **made;
    rc = finish_writers(dws, ndw, rc, &made, &err);
    free(dws);
    if (rc) {
        free(made);
        atomic_fetch_add(&ls->head_entries, sealed_entries);
        atomic_fetch_add(&ls->head_bytes, sealed_bytes);
        if (sealed_since)
            atomic_store(&ls->head_since_ms, sealed_since); /* the older clock */
        pthread_mutex_unlock(&ls->flush_mu);
        sx_log_error("logs", "%s: flush failed, head kept in memory and log: %s", ls->dir, err.msg);
        return rc;
    }
    parts_publish(ls, made, ndw, NULL, 0);
    free(made);
    for (uint32_t id = 0; id < nstreams; id++) {
        lstream_t *s = stream_get(ls, id);
        if (!s)
            continue;
        pthread_mutex_lock(stripe(ls, id));
        head_dispose(&s->sealed);
        pthread_mutex_unlock(stripe(ls, id));
    }
    sx_wal_remove_upto(ls->wal, sealed_seg);
    ls->last_flush_ms = sx_now_ms();
    pthread_mutex_unlock(&ls->flush_mu);
    pthread_mutex_lock(&ls->room_mu);
    pthread_cond_broadcast(&ls->room_cv);
    pthread_mutex_unlock(&ls->room_mu);
    if (ndw)
        sx_log_info("logs", "%s: flushed %lld entries (%lld bytes) into %zu parts in %.1f ms",
                    ls->dir, (long long)sealed_entries, (long long)sealed_bytes, ndw,
                    (double)(sx_mono_ns() - t0) / 1e6);
    return 0;
}

/* ---- Reading ---- */

static bool stream_matches(const lstream_t *s, const sx_matcher_t *m, size_t nm)
{
    for (size_t i = 0; i < nm; i++) {
        sx_str_t v = SX_STR_NULL;
        for (uint32_t k = 0; k < s->nlabels; k++)
            if (sx_str_eq(s->labels[k].name, m[i].name)) {
                v = s->labels[k].value;
                break;
            }
        if (!sx_matcher_matches(&m[i], v))
            return false;
    }
    return true;
}

static int cmp_stream(const void *a, const void *b)
{
    const sx_log_stream_t *x = a, *y = b;
    uint32_t n = x->nlabels < y->nlabels ? x->nlabels : y->nlabels;
    for (uint32_t i = 0; i < n; i++) {
        int c = sx_str_cmp(x->labels[i].name, y->labels[i].name);
        if (c)
            return c;
        c = sx_str_cmp(x->labels[i].value, y->labels[i].value);
        if (c)
            return c;
    }
    return (x->nlabels > y->nlabels) - (x->nlabels < y->nlabels);
}

int sx_logstore_select(sx_logstore_t *ls, const sx_matcher_t *m, size_t nm, int64_t mint,
                       int64_t maxt, sx_arena_t *a, sx_log_stream_t **out, size_t *n)
{
    pthread_rwlock_rdlock(&ls->reg_lock);
    size_t cap = 16, k = 0;
    sx_log_stream_t *res = sx_arena_alloc(a, cap * sizeof(*res));
    for (uint32_t id = 0; id < ls->nstreams; id++) {
        lstream_t *s = ls->streams[id];
        if (!s)
            continue;
        int64_t smin = atomic_load_explicit(&s->mint, memory_order_relaxed);
        int64_t smax = atomic_load_explicit(&s->maxt, memory_order_relaxed);
        if (smax < mint || smin > maxt || smin == INT64_MAX)
            continue;
        if (!stream_matches(s, m, nm))
            continue;
        if (k == cap) {
            res = sx_arena_realloc(a, res, cap * sizeof(*res), cap * 2 * sizeof(*res));
            cap *= 2;
        }
        sx_label_t *l = sx_arena_alloc(a, (s->nlabels + 1) * sizeof(sx_label_t));
        for (uint32_t i = 0; i < s->nlabels; i++) {
            l[i].name = sx_arena_strdup_str(a, s->labels[i].name);
            l[i].value = sx_arena_strdup_str(a, s->labels[i].value);
        }
        res[k++] = (sx_log_stream_t){id, s->nlabels, l, smin, smax};
    }
    pthread_rwlock_unlock(&ls->reg_lock);
    qsort(res, k, sizeof(*res), cmp_stream);
    *out = res;
    *n = k;
    return 0;
}

static size_t lower_ts(const int64_t *ts, size_t n, int64_t t)
{
    size_t a = 0, b = n;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (ts[m] < t)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

static bool chunk_may_match(const sx_lpart_t *p, const sx_lchunk_t *c, const sx_log_hint_t *hint)
{
    if (!hint || !c->bloom_log2)
        return true;
    const uint8_t *bits = (const uint8_t *)p->map + c->off_bloom;
    for (size_t i = 0; i < hint->n; i++)
        if (!sx_logbloom__may_contain(bits, c->bloom_log2, hint->needles[i]))
            return false;
    return true;
}

/* A key in more chunks of a part than this is looked for in all of them. */
#define KEY_CHUNKS_MAX 256

/* Whether ascending list kc[0..n) has c. */
static bool has_chunk(const uint32_t *kc, size_t n, uint32_t c)
{
    size_t a = 0, b = n;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (kc[m] < c)
            a = m + 1;
        else
            b = m;
    }
    return a < n && kc[a] == c;
}

/* Deliver entries [mint, maxt] of decoded columns as one block. */
static int deliver(const int64_t *ts, const sx_str_t *lines, const uint32_t *mi,
                   const sx_label_t *meta, size_t n, int64_t mint, int64_t maxt, bool head,
                   sx_log_block_fn fn, void *ctx, sx_log_read_stats_t *st)
{
    size_t lo = lower_ts(ts, n, mint), hi = lower_ts(ts, n, maxt == INT64_MAX ? maxt : maxt + 1);
    if (maxt == INT64_MAX)
        hi = n;
    if (lo >= hi)
        return 0;
    sx_log_block_t b = {hi - lo, ts + lo, lines ? lines + lo : NULL, mi ? mi + lo : NULL, meta, head};
    if (st)
        st->entries += b.n;
    return fn(ctx, &b);
}

/* A chunk to read: its part and index. */
typedef struct ref {
    sx_lpart_t *p;
    size_t c;
} ref_t;

static int cmp_ref(const void *a, const void *b)
{
    const ref_t *x = a, *y = b;
    int64_t mx = x->p->chunks[x->c].mint, my = y->p->chunks[y->c].mint;
    if (mx != my)
        return mx < my ? -1 : 1;
    if (x->p->seq != y->p->seq)
        return x->p->seq < y->p->seq ? -1 : 1;
    return (x->c > y->c) - (x->c < y->c);
}

int sx_logstore_read(sx_logstore_t *ls, uint32_t id, int64_t mint, int64_t maxt, int flags,
                     const sx_log_hint_t *hint, sx_log_block_fn fn, void *ctx,
                     sx_log_read_stats_t *stats)
{
    lstream_t *s = stream_get(ls, id);
    if (!s)
        return 0;
    /* Pin the parts holding this stream's chunks in range. */
    ref_t *refs = NULL;
    size_t nrefs = 0, rcap = 0;
    sx_lpart_t **pinned_parts = NULL;
    size_t npinned = 0;
    pthread_rwlock_rdlock(&ls->parts_lock);
    /* With a key, a part's key index names the chunks that can hold it. */
    uint32_t kc[KEY_CHUNKS_MAX];
    bool by_key = hint && hint->key.len && (flags & SX_LOGREAD_LINES);
    for (size_t i = 0; i < ls->nparts; i++) {
        sx_lpart_t *p = ls->parts[i];
        if (p->maxt < mint || p->mint > maxt)
            continue;
        size_t lo, hi;
        sx_lpart__stream_chunks(p, id, &lo, &hi);
        size_t nkc = by_key && lo < hi ? sx_lpart__key_chunks(p, hint->key, kc, KEY_CHUNKS_MAX)
                                       : SIZE_MAX;
        bool pinned = false;
        for (size_t c = lo; c < hi; c++) {
            if (p->chunks[c].maxt < mint || p->chunks[c].mint > maxt)
                continue;
            if (nkc != SIZE_MAX && !has_chunk(kc, nkc, (uint32_t)c)) {
                if (stats)
                    stats->chunks_skipped++;
                continue;
            }
            if (nrefs == rcap) {
                rcap = rcap ? rcap * 2 : 16;
                refs = sx_xrealloc(refs, rcap * sizeof(*refs));
            }
            if (!pinned) {
                sx_lpart__ref(p);
                pinned = true;
                pinned_parts = sx_xrealloc(pinned_parts, (npinned + 1) * sizeof(*pinned_parts));
                pinned_parts[npinned++] = p;
            }
            refs[nrefs++] = (ref_t){p, c};
        }
    }
    pthread_rwlock_unlock(&ls->parts_lock);
    /* Chunks in time order (forward) or reversed. Parts of one day may
     * overlap after out-of-order writes; order by mint either way. */
    if (nrefs > 1)
        qsort(refs, nrefs, sizeof(*refs), cmp_ref);
    bool back = flags & SX_LOGREAD_BACKWARD;
    int rc = 0;
    sx_arena_t a;
    sx_arena_init(&a);
    /* Head entries: copied under the stripe lock, delivered first when
     * reading backward (they are usually the newest), last otherwise. */
    sx_lentries_t he[2];
    pthread_mutex_lock(stripe(ls, id));
    head_collect(&s->sealed, mint, maxt, flags & SX_LOGREAD_META, &a, &he[0]);
    head_collect(&s->head, mint, maxt, flags & SX_LOGREAD_META, &a, &he[1]);
    pthread_mutex_unlock(stripe(ls, id));
    if (back)
        for (int h = 1; h >= 0 && !rc; h--)
            if (he[h].n)
                rc = deliver(he[h].ts, he[h].lines, he[h].meta_idx, he[h].meta, he[h].n, mint, maxt,
                             true, fn, ctx, stats);
    sx_lchunk_data_t d = {0};
    sx_err_t err;
    for (size_t k = 0; k < nrefs && !rc; k++) {
        ref_t r = refs[back ? nrefs - 1 - k : k];
        const sx_lchunk_t *c = &r.p->chunks[r.c];
        if ((flags & SX_LOGREAD_LINES) && !chunk_may_match(r.p, c, hint)) {
            if (stats)
                stats->chunks_skipped++;
            continue;
        }
        rc = sx_lpart__chunk_decode(r.p, c, flags, hint, &d, &err);
        if (rc) {
            sx_log_error("logs", "%s", err.msg);
            break;
        }
        if (stats) {
            stats->chunks_read++;
            stats->bytes_decompressed += d.raw_ts.len + d.raw_lines.len + d.raw_meta.len;
        }
        bool meta = (flags & SX_LOGREAD_META) && c->len_meta;
        rc = deliver(d.ts, (flags & SX_LOGREAD_LINES) ? d.lines : NULL, meta ? d.meta_idx : NULL,
                     d.meta, d.n, mint, maxt, false, fn, ctx, stats);
    }
    if (!back)
        for (int h = 0; h < 2 && !rc; h++)
            if (he[h].n)
                rc = deliver(he[h].ts, he[h].lines, he[h].meta_idx, he[h].meta, he[h].n, mint, maxt,
                             true, fn, ctx, stats);
    sx_lchunk_data_dispose(&d);
    sx_arena_dispose(&a);
    for (size_t k = 0; k < npinned; k++)
        sx_lpart__unref(pinned_parts[k]);
    free(pinned_parts);
    free(refs);
    return rc;
}

int sx_logstore_index_stats(sx_logstore_t *ls, const sx_matcher_t *m, size_t nm, int64_t mint,
                            int64_t maxt, sx_log_index_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    sx_arena_t a;
    sx_arena_init(&a);
    sx_log_stream_t *st;
    size_t n;
    sx_logstore_select(ls, m, nm, mint, maxt, &a, &st, &n);
    out->streams = n;
    pthread_rwlock_rdlock(&ls->parts_lock);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ls->nparts; k++) {
            sx_lpart_t *p = ls->parts[k];
            if (p->maxt < mint || p->mint > maxt)
                continue;
            size_t lo, hi;
            sx_lpart__stream_chunks(p, st[i].id, &lo, &hi);
            for (size_t c = lo; c < hi; c++) {
                if (p->chunks[c].maxt < mint || p->chunks[c].mint > maxt)
                    continue;
                out->chunks++;
                out->entries += p->chunks[c].n;
                out->bytes += p->chunks[c].raw;
            }
        }
    }
    pthread_rwlock_unlock(&ls->parts_lock);
    for (size_t i = 0; i < n; i++) {
        lstream_t *s = stream_get(ls, st[i].id);
        pthread_mutex_lock(stripe(ls, st[i].id));
        const lhead_t *hs[2] = {&s->sealed, &s->head};
        for (int h = 0; h < 2; h++) {
            bool any = false;
            for (uint32_t k = 0; k < hs[h]->n; k++)
                if (hs[h]->ts[k] >= mint && hs[h]->ts[k] <= maxt) {
                    out->entries++;
                    out->bytes += hs[h]->len[k];
                    any = true;
                }
            out->chunks += any;
        }
        pthread_mutex_unlock(stripe(ls, st[i].id));
    }
    sx_arena_dispose(&a);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return sx_str_cmp(*(const sx_str_t *)a, *(const sx_str_t *)b);
}

static size_t sort_unique(sx_str_t *v, size_t n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof(*v), cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (!sx_str_eq(v[i], v[k - 1]))
            v[k++] = v[i];
    return k;
}

static int label_collect(sx_logstore_t *ls, sx_str_t name, const sx_matcher_t *m, size_t nm,
                         int64_t mint, int64_t maxt, sx_arena_t *a, sx_str_t **out, size_t *n)
{
    sx_log_stream_t *st;
    size_t ns;
    sx_logstore_select(ls, m, nm, mint, maxt, a, &st, &ns);
    size_t cap = 16, k = 0;
    sx_str_t *v = sx_arena_alloc(a, cap * sizeof(*v));
    for (size_t i = 0; i < ns; i++)
        for (uint32_t j = 0; j < st[i].nlabels; j++) {
            if (name.len && !sx_str_eq(st[i].labels[j].name, name))
                continue;
            if (k == cap) {
                v = sx_arena_realloc(a, v, cap * sizeof(*v), cap * 2 * sizeof(*v));
                cap *= 2;
            }
            v[k++] = name.len ? st[i].labels[j].value : st[i].labels[j].name;
        }
    *out = v;
    *n = sort_unique(v, k);
    return 0;
}

int sx_logstore_label_names(sx_logstore_t *ls, const sx_matcher_t *m, size_t nm, int64_t mint,
                            int64_t maxt, sx_arena_t *a, sx_str_t **out, size_t *n)
{
    return label_collect(ls, SX_STR_NULL, m, nm, mint, maxt, a, out, n);
}

int sx_logstore_label_values(sx_logstore_t *ls, sx_str_t name, const sx_matcher_t *m, size_t nm,
                             int64_t mint, int64_t maxt, sx_arena_t *a, sx_str_t **out, size_t *n)
{
    if (!name.len) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    return label_collect(ls, name, m, nm, mint, maxt, a, out, n);
}

/* ---- Compaction and retention ---- */

/* One input of a merge: a part's chunks of the stream being merged, read
 * one chunk at a time. */
typedef struct msrc {
    sx_lpart_t *p;
    size_t c, end;      /* next chunk to decode; end of the stream's chunks */
    sx_lchunk_data_t d; /* the chunk being read */
    size_t j;           /* its next entry */
    bool meta;          /* the chunk has metadata */
} msrc_t;

/* Make src's next entry available (decoding its next chunk when the
 * current one is used up). *more says whether there is one. */
static int msrc_next(msrc_t *m, bool *more, sx_err_t *err)
{
    while (m->j >= m->d.n) {
        if (m->c >= m->end) {
            *more = false;
            return 0;
        }
        const sx_lchunk_t *c = &m->p->chunks[m->c++];
        int rc = sx_lpart__chunk_decode(m->p, c, SX_LOGREAD_LINES | SX_LOGREAD_META, NULL, &m->d,
                                        err);
        if (rc)
            return rc;
        m->j = 0;
        m->meta = c->len_meta != 0;
    }
    *more = true;
    return 0;
}

/* The output chunk being filled: entries copied out of the inputs'
 * decoded chunks (which are reused), written when full. */
typedef struct mout {
    sx_arena_t a;
    int64_t *ts;
    sx_str_t *lines;
    uint32_t *mi;
    sx_label_t *meta;
    size_t n, nmeta, cap, mcap;
    uint64_t bytes;
} mout_t;

static int mout_write(mout_t *o, sx_lpart_writer_t *w, uint32_t id, sx_err_t *err)
{
    if (o->n == 0)
        return 0;
    o->mi[o->n] = (uint32_t)o->nmeta;
    sx_lentries_t e = {0};
    e.n = o->n;
    e.ts = o->ts;
    e.lines = o->lines;
    e.meta_idx = o->nmeta ? o->mi : NULL;
    e.meta = o->meta;
    int rc = sx_lpart__writer_add(w, id, &e, err);
    o->n = o->nmeta = 0;
    o->bytes = 0;
    sx_arena_reset(&o->a);
    return rc;
}

/* Append entry j of m's chunk, writing the chunk first when the entry
 * would not fit: the writer's own limits, so one write is one chunk. */
static int mout_add(mout_t *o, sx_lpart_writer_t *w, uint32_t id, const msrc_t *m, sx_err_t *err)
{
    const sx_lchunk_data_t *d = &m->d;
    size_t j = m->j;
    int rc;
    if (o->n && (o->bytes + d->lines[j].len > SX_LCHUNK_MAX_BYTES ||
                 o->n >= SX_LCHUNK_MAX_ENTRIES) &&
        (rc = mout_write(o, w, id, err)))
        return rc;
    if (o->n + 1 >= o->cap) {
        o->cap = o->cap ? o->cap * 2 : 1024;
        o->ts = sx_xrealloc(o->ts, o->cap * sizeof(*o->ts));
        o->lines = sx_xrealloc(o->lines, o->cap * sizeof(*o->lines));
        o->mi = sx_xrealloc(o->mi, o->cap * sizeof(*o->mi));
    }
    uint32_t nm = m->meta ? d->meta_idx[j + 1] - d->meta_idx[j] : 0;
    if (o->nmeta + nm > o->mcap) {
        o->mcap = (o->nmeta + nm) * 2 + 64;
        o->meta = sx_xrealloc(o->meta, o->mcap * sizeof(*o->meta));
    }
    o->ts[o->n] = d->ts[j];
    o->lines[o->n] = sx_arena_strdup_str(&o->a, d->lines[j]);
    o->mi[o->n] = (uint32_t)o->nmeta;
    for (uint32_t q = 0; q < nm; q++) {
        const sx_label_t *l = &d->meta[d->meta_idx[j] + q];
        o->meta[o->nmeta++] = (sx_label_t){sx_arena_strdup_str(&o->a, l->name),
                                           sx_arena_strdup_str(&o->a, l->value)};
    }
    o->bytes += d->lines[j].len;
    o->n++;
    return 0;
}

/* Merge parts (all of one day) into one, re-cutting each stream's chunks.
 * Each stream's chunks are merged by time as they are read, so memory is
 * one decoded chunk per input plus the chunk being written, whatever the
 * size of the stream; entries of equal time keep the order their parts
 * were written in. The inputs stay readable until the new part replaces
 * them. */
static int merge_parts(sx_logstore_t *ls, sx_lpart_t **in, size_t n, sx_err_t *err)
{
    char pdir[4200];
    snprintf(pdir, sizeof(pdir), "%s/parts", ls->dir);
    sx_lpart_writer_t *w = sx_lpart__writer_create(pdir, take_seq(ls), in[0]->day, &ls->opts,
                                                   err);
    if (!w)
        return err->code;
    /* Inputs in the order they were written, so that entries of equal
     * time come out in the order they were stored. */
    sx_lpart_t **ord = sx_xmalloc(n * sizeof(*ord));
    memcpy(ord, in, n * sizeof(*ord));
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && ord[b]->seq < ord[b - 1]->seq; b--) {
            sx_lpart_t *t = ord[b];
            ord[b] = ord[b - 1];
            ord[b - 1] = t;
        }
    size_t *pos = sx_xcalloc(n, sizeof(size_t));
    msrc_t *src = sx_xcalloc(n, sizeof(msrc_t));
    bool *live = sx_xcalloc(n, sizeof(bool)); /* the input has entries left */
    mout_t o = {0};
    sx_arena_init(&o.a);
    int rc = 0;
    /* Streams in id order across the inputs. */
    for (;;) {
        uint32_t id = UINT32_MAX;
        for (size_t i = 0; i < n; i++)
            if (pos[i] < ord[i]->nchunks && ord[i]->chunks[pos[i]].stream < id)
                id = ord[i]->chunks[pos[i]].stream;
        if (id == UINT32_MAX)
            break;
        for (size_t i = 0; i < n && !rc; i++) {
            size_t end = pos[i];
            while (end < ord[i]->nchunks && ord[i]->chunks[end].stream == id)
                end++;
            src[i].p = ord[i];
            src[i].c = pos[i];
            src[i].end = end;
            src[i].j = src[i].d.n = 0;
            pos[i] = end;
            rc = msrc_next(&src[i], &live[i], err);
        }
        while (!rc) {
            size_t best = SIZE_MAX;
            for (size_t i = 0; i < n; i++)
                if (live[i] && (best == SIZE_MAX ||
                                src[i].d.ts[src[i].j] < src[best].d.ts[src[best].j]))
                    best = i;
            if (best == SIZE_MAX)
                break;
            if ((rc = mout_add(&o, w, id, &src[best], err)))
                break;
            src[best].j++;
            rc = msrc_next(&src[best], &live[best], err);
        }
        if (!rc)
            rc = mout_write(&o, w, id, err);
        if (rc)
            break;
    }
    for (size_t i = 0; i < n; i++)
        sx_lchunk_data_dispose(&src[i].d);
    free(src);
    free(live);
    free(pos);
    free(ord);
    free(o.ts);
    free(o.lines);
    free(o.mi);
    free(o.meta);
    sx_arena_dispose(&o.a);
    if (rc) {
        sx_lpart__writer_abort(w);
        return rc;
    }
    sx_lpart_t *out = sx_lpart__writer_finish(w, err);
    if (!out)
        return err->code;
    parts_publish(ls, &out, 1, in, n);
    atomic_fetch_add(&ls->compactions, 1);
    return 0;
}

/* Pick parts of one day to merge, tiered so that data is rewritten a
 * logarithmic number of times: the smallest parts of the day, as many as
 * keep the merge worthwhile (the output at least twice its biggest
 * input), at most COMPACT_MAX_PARTS and COMPACT_MAX_BYTES. Caller holds
 * parts_lock; the picked parts are pinned. */
static size_t pick_merge(sx_logstore_t *ls, sx_lpart_t ***out)
{
    for (size_t i = 0; i < ls->nparts;) {
        size_t j = i;
        while (j < ls->nparts && ls->parts[j]->day == ls->parts[i]->day)
            j++;
        size_t n = j - i;
        if (n >= COMPACT_MIN_PARTS) {
            sx_lpart_t **by = sx_xmalloc(n * sizeof(*by));
            memcpy(by, ls->parts + i, n * sizeof(*by));
            for (size_t a = 1; a < n; a++)
                for (size_t b = a; b > 0 && by[b]->size < by[b - 1]->size; b--) {
                    sx_lpart_t *t = by[b];
                    by[b] = by[b - 1];
                    by[b - 1] = t;
                }
            size_t k = 0;
            uint64_t total = 0;
            while (k < n && k < COMPACT_MAX_PARTS && total + by[k]->size <= COMPACT_MAX_BYTES) {
                total += by[k]->size;
                k++;
            }
            if (k >= COMPACT_MIN_PARTS / 2 + 1 && total >= 2 * by[k - 1]->size) {
                for (size_t x = 0; x < k; x++)
                    sx_lpart__ref(by[x]);
                *out = by;
                return k;
            }
            free(by);
        }
        i = j;
    }
    return 0;
}

static void compact(sx_logstore_t *ls)
{
    for (;;) {
        /* A full head goes first: flushing keeps memory bounded. */
        if (sx_logstore_head_full(ls))
            return;
        pthread_rwlock_rdlock(&ls->parts_lock);
        sx_lpart_t **pick = NULL;
        size_t npick = pick_merge(ls, &pick);
        pthread_rwlock_unlock(&ls->parts_lock);
        if (!npick)
            return;
        sx_err_t err;
        sx_err_clear(&err);
        pthread_mutex_lock(&ls->compact_mu);
        int64_t t0 = sx_mono_ns();
        int rc = merge_parts(ls, pick, npick, &err);
        pthread_mutex_unlock(&ls->compact_mu);
        if (rc)
            sx_log_error("logs", "%s: compaction failed: %s", ls->dir, err.msg);
        else
            sx_log_info("logs", "%s: merged %zu parts of day %lld in %.1f ms", ls->dir, npick,
                        (long long)pick[0]->day, (double)(sx_mono_ns() - t0) / 1e6);
        for (size_t k = 0; k < npick; k++)
            sx_lpart__unref(pick[k]);
        free(pick);
        if (rc)
            return;
    }
}

static void retain(sx_logstore_t *ls, int64_t now_ms, int64_t max_bytes)
{
    pthread_rwlock_rdlock(&ls->parts_lock);
    sx_lpart_t **del = sx_xmalloc((ls->nparts + 1) * sizeof(*del));
    size_t ndel = 0;
    int64_t cut = ls->opts.retention_ms > 0 ? (now_ms - ls->opts.retention_ms) * 1000000LL : INT64_MIN;
    int64_t total = 0;
    for (size_t i = 0; i < ls->nparts; i++)
        total += (int64_t)ls->parts[i]->size;
    for (size_t i = 0; i < ls->nparts; i++) {
        sx_lpart_t *p = ls->parts[i];
        bool old = p->maxt < cut;
        bool over = max_bytes > 0 && total > max_bytes;
        if (old || over) {
            del[ndel++] = p;
            total -= (int64_t)p->size;
        }
    }
    pthread_rwlock_unlock(&ls->parts_lock);
    if (ndel) {
        pthread_mutex_lock(&ls->compact_mu);
        parts_publish(ls, NULL, 0, del, ndel);
        pthread_mutex_unlock(&ls->compact_mu);
        sx_log_info("logs", "%s: retention removed %zu parts", ls->dir, ndel);
    }
    free(del);
}

void sx_logstore__maintain(sx_logstore_t *ls, int64_t now_ms, int64_t head_flush_ms,
                           int64_t max_bytes)
{
    int64_t since = atomic_load(&ls->head_since_ms);
    bool due = atomic_load(&ls->head_entries) > 0 &&
               (atomic_load(&ls->head_bytes) >= HEAD_MAX_BYTES ||
                (head_flush_ms > 0 && since && now_ms - since >= head_flush_ms));
    if (due)
        sx_logstore_flush(ls);
    compact(ls);
    retain(ls, now_ms, max_bytes);
}

bool sx_logstore_head_full(sx_logstore_t *ls)
{
    return atomic_load(&ls->head_bytes) >= HEAD_MAX_BYTES;
}

void sx_logstore__stats(sx_logstore_t *ls, sx_logstore_stats_t *st)
{
    pthread_rwlock_rdlock(&ls->reg_lock);
    st->streams += ls->nstreams;
    pthread_rwlock_unlock(&ls->reg_lock);
    st->head_entries += atomic_load(&ls->head_entries);
    st->head_bytes += atomic_load(&ls->head_bytes);
    st->appended += atomic_load(&ls->appended);
    st->appended_bytes += atomic_load(&ls->appended_bytes);
    st->dropped_retention += atomic_load(&ls->dropped_ret);
    st->compactions += atomic_load(&ls->compactions);
    pthread_rwlock_rdlock(&ls->parts_lock);
    st->parts += (int64_t)ls->nparts;
    for (size_t i = 0; i < ls->nparts; i++) {
        st->part_bytes += (int64_t)ls->parts[i]->size;
        st->part_raw_bytes += (int64_t)ls->parts[i]->raw;
    }
    pthread_rwlock_unlock(&ls->parts_lock);
    sx_wal_stats_t ws;
    sx_wal_stats(ls->wal, &ws);
    st->wal_bytes += ws.bytes;
}
