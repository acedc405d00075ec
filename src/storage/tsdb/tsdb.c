/* SPDX-License-Identifier: Apache-2.0 */
/* The metric store: open and replay, the append path (series.log, then the
 * write-ahead log, then the head), flushing the head into parts, reads,
 * compaction and retention. Files: <dir>/series.log, <dir>/wal/,
 * <dir>/parts/<day>/<seq>.part. */
#include "tsdb_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/hash.h"
#include "../../core/log.h"
#include "../../core/time.h"

enum { REC_SAMPLES = 1, REC_META = 2 };

static inline pthread_mutex_t *stripe(sx_tsdb_t *db, uint32_t id)
{
    return &db->stripes[id % NSTRIPES];
}

/* The series with this id, or NULL; the registry array may move while
 * series are created, so look it up under the lock. Series never move. */
static series_t *series_at(sx_tsdb_t *db, uint32_t id)
{
    pthread_rwlock_rdlock(&db->reg_lock);
    series_t *s = id < db->nseries ? db->series[id] : NULL;
    pthread_rwlock_unlock(&db->reg_lock);
    return s;
}

static int64_t day_of(int64_t ts)
{
    return ts >= 0 ? ts / DAY_MS : -((-ts + DAY_MS - 1) / DAY_MS);
}

/* ---- Parts list ---- */

static int cmp_part(const void *a, const void *b)
{
    const part_t *x = *(part_t *const *)a, *y = *(part_t *const *)b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Caller holds parts_lock exclusively. */
static void parts_add(sx_tsdb_t *db, part_t *p)
{
    if (db->nparts == db->partscap) {
        db->partscap = db->partscap ? db->partscap * 2 : 16;
        db->parts = sx_xrealloc(db->parts, db->partscap * sizeof(part_t *));
    }
    db->parts[db->nparts++] = p;
    qsort(db->parts, db->nparts, sizeof(part_t *), cmp_part);
}

/* Caller holds parts_lock exclusively. The file goes when the last reader
 * lets go of the part. */
static void parts_remove(sx_tsdb_t *db, part_t *p)
{
    for (size_t i = 0; i < db->nparts; i++)
        if (db->parts[i] == p) {
            memmove(db->parts + i, db->parts + i + 1, (db->nparts - i - 1) * sizeof(part_t *));
            db->nparts--;
            p->deleted = true;
            sx_tsdb__part_unref(p);
            return;
        }
}

/* Widen a series' time span; the caller holds its stripe lock. maxt is
 * also read without the lock by the append path's window check. */
static void series_extend(series_t *s, int64_t mint, int64_t maxt)
{
    if (mint < s->mint)
        s->mint = mint;
    if (maxt > s->maxt)
        __atomic_store_n(&s->maxt, maxt, __ATOMIC_RELAXED);
}

static int load_parts(sx_tsdb_t *db, sx_err_t *err)
{
    char pdir[4200];
    snprintf(pdir, sizeof(pdir), "%s/parts", db->dir);
    sx_mkdir_p(pdir);
    DIR *d = opendir(pdir);
    if (!d)
        return sx_err_set(err, SX_EIO, "cannot open %s: %s", pdir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long long day = strtoll(e->d_name, &end, 10);
        if (e->d_name[0] == '.' || *end)
            continue;
        char ddir[4400];
        snprintf(ddir, sizeof(ddir), "%s/%s", pdir, e->d_name);
        DIR *dd = opendir(ddir);
        if (!dd)
            continue;
        struct dirent *f;
        while ((f = readdir(dd))) {
            char path[4700];
            snprintf(path, sizeof(path), "%s/%s", ddir, f->d_name);
            size_t l = strlen(f->d_name);
            if (l > 4 && strcmp(f->d_name + l - 4, ".tmp") == 0) {
                unlink(path); /* an unfinished part from a crash */
                continue;
            }
            unsigned seq;
            char tail[8];
            if (sscanf(f->d_name, "%8u.par%1s", &seq, tail) != 2 || strcmp(tail, "t") != 0)
                continue;
            part_t *p = sx_tsdb__part_open(path, day, seq, err);
            if (!p) {
                closedir(dd);
                closedir(d);
                return err->code;
            }
            if (seq >= db->next_part_seq)
                db->next_part_seq = seq + 1;
            for (uint32_t i = 0; i < p->nseries; i++) {
                part_series_t *ps = &p->series[i];
                if (ps->id < db->nseries && db->series[ps->id])
                    series_extend(db->series[ps->id], ps->mint, ps->maxt);
            }
            parts_add(db, p);
        }
        closedir(dd);
    }
    closedir(d);
    return 0;
}

/* ---- WAL records ---- */

static void put_str(sx_buf_t *b, sx_str_t s)
{
    sx_buf_put_uvarint(b, s.len);
    sx_buf_append_str(b, s);
}

static void meta_set(sx_tsdb_t *db, sx_str_t metric, int type, sx_str_t help, sx_str_t unit)
{
    for (size_t i = 0; i < db->nmeta; i++) {
        meta_entry_t *m = &db->meta[i];
        if (strlen(m->metric) == metric.len && memcmp(m->metric, metric.ptr, metric.len) == 0) {
            if (m->type == type && strlen(m->help) == help.len &&
                memcmp(m->help, help.ptr, help.len) == 0 && strlen(m->unit) == unit.len &&
                memcmp(m->unit, unit.ptr, unit.len) == 0)
                return;
            free(m->help);
            free(m->unit);
            m->type = type;
            m->help = sx_xstrndup(help.ptr, help.len);
            m->unit = sx_xstrndup(unit.ptr, unit.len);
            return;
        }
    }
    if (db->nmeta == db->metacap) {
        db->metacap = db->metacap ? db->metacap * 2 : 64;
        db->meta = sx_xrealloc(db->meta, db->metacap * sizeof(meta_entry_t));
    }
    db->meta[db->nmeta++] = (meta_entry_t){sx_xstrndup(metric.ptr, metric.len),
                                           sx_xstrndup(help.ptr, help.len),
                                           sx_xstrndup(unit.ptr, unit.len), type};
}

/* metadata.snap: the metric metadata at the time of the last flush, so
 * that removing flushed log segments does not lose it. Written to a
 * temporary name, fsynced and renamed. Format: one REC_META record body. */
static void meta_encode(sx_tsdb_t *db, sx_buf_t *m)
{
    sx_buf_putc(m, REC_META);
    sx_buf_put_uvarint(m, db->nmeta);
    for (size_t i = 0; i < db->nmeta; i++) {
        put_str(m, sx_str(db->meta[i].metric));
        sx_buf_put_uvarint(m, (uint64_t)db->meta[i].type);
        put_str(m, sx_str(db->meta[i].help));
        put_str(m, sx_str(db->meta[i].unit));
    }
}

static int meta_snapshot_write(sx_tsdb_t *db, sx_err_t *err)
{
    sx_buf_t m = SX_BUF_INIT;
    pthread_rwlock_rdlock(&db->reg_lock);
    meta_encode(db, &m);
    pthread_rwlock_unlock(&db->reg_lock);
    char path[4200], tmp[4300];
    snprintf(path, sizeof(path), "%s/metadata.snap", db->dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || sx_write_full(fd, m.ptr, m.len) != 0 || fsync(fd) != 0 || rename(tmp, path) != 0)
        rc = sx_err_set(err, errno == ENOSPC ? SX_ENOSPC : SX_EIO, "cannot write %s: %s", path,
                        strerror(errno));
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        sx_fsync_dir(db->dir);
    sx_buf_dispose(&m);
    return rc;
}

static int replay_record(void *ctx, const char *data, size_t len);

static void meta_snapshot_load(sx_tsdb_t *db)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/metadata.snap", db->dir);
    sx_buf_t m = SX_BUF_INIT;
    if (sx_file_read_all(path, &m) == 0 && m.len)
        replay_record(db, m.ptr, m.len);
    sx_buf_dispose(&m);
}

static int replay_record(void *ctx, const char *data, size_t len)
{
    sx_tsdb_t *db = ctx;
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    if (len == 0)
        return 0;
    int type = *p++;
    uint64_t n;
    if (sx_uvarint_next(&p, end, &n))
        goto bad;
    if (type == REC_META) {
        for (uint64_t i = 0; i < n; i++) {
            uint64_t l[3], t;
            sx_str_t s[3];
            for (int k = 0; k < 3; k++) {
                if (k == 1 && sx_uvarint_next(&p, end, &t))
                    goto bad;
                if (sx_uvarint_next(&p, end, &l[k]) || l[k] > (uint64_t)(end - p))
                    goto bad;
                s[k] = (sx_str_t){(const char *)p, l[k]};
                p += l[k];
            }
            pthread_rwlock_wrlock(&db->reg_lock);
            meta_set(db, s[0], (int)t, s[1], s[2]);
            pthread_rwlock_unlock(&db->reg_lock);
        }
        return 0;
    }
    if (type != REC_SAMPLES)
        goto bad;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id, ns, nh;
        if (sx_uvarint_next(&p, end, &id) || sx_uvarint_next(&p, end, &ns))
            goto bad;
        series_t *s = id < db->nseries ? db->series[id] : NULL;
        int64_t ts = 0;
        for (uint64_t k = 0; k < ns; k++) {
            uint64_t d;
            if (sx_uvarint_next(&p, end, &d) || end - p < 8)
                goto bad;
            /* A damaged record may overflow the sum: wrap, as the writer's
             * deltas did, rather than overflow a signed integer. */
            ts = (int64_t)((uint64_t)ts + (uint64_t)sx_zigzag_dec(d));
            uint64_t bits = 0;
            for (int b = 7; b >= 0; b--)
                bits = bits << 8 | p[b];
            p += 8;
            double v;
            memcpy(&v, &bits, 8);
            if (s && sx_tsdb__head_append(&s->head, ts, v)) {
                series_extend(s, ts, ts);
                db->head_samples++;
            }
        }
        if (sx_uvarint_next(&p, end, &nh))
            goto bad;
        for (uint64_t k = 0; k < nh; k++) {
            uint64_t d, l;
            if (sx_uvarint_next(&p, end, &d) || sx_uvarint_next(&p, end, &l) || l > (uint64_t)(end - p))
                goto bad;
            int64_t hts = sx_zigzag_dec(d);
            if (s) {
                sx_tsdb__head_append_hist(&s->head, hts, (const char *)p, (uint32_t)l);
                series_extend(s, hts, hts);
            }
            p += l;
        }
        if (!s)
            sx_log_warn("tsdb", "%s: write-ahead log names unknown series %llu; skipped", db->dir,
                        (unsigned long long)id);
    }
    return 0;
bad:
    sx_log_warn("tsdb", "%s: malformed write-ahead log record skipped", db->dir);
    return 0;
}

static void sel_cache_free(sx_tsdb_t *db);

/* ---- Open / close ---- */

sx_tsdb_t *sx_tsdb__open(const char *dir, const sx_tsdb_opts_t *opts, sx_err_t *err)
{
    if (sx_mkdir_p(dir)) {
        sx_err_set(err, SX_EIO, "cannot create %s: %s", dir, strerror(errno));
        return NULL;
    }
    sx_tsdb_t *db = sx_xcalloc(1, sizeof(*db));
    db->dir = sx_xstrdup(dir);
    db->opts = *opts;
    db->series_fd = -1;
    db->next_part_seq = 1;
    pthread_rwlock_init(&db->append_lock, NULL);
    pthread_rwlock_init(&db->reg_lock, NULL);
    pthread_rwlock_init(&db->parts_lock, NULL);
    pthread_mutex_init(&db->flush_mu, NULL);
    pthread_mutex_init(&db->sel_mu, NULL);
    db->sel_max_ids = SX_TSDB_SEL_MAX_IDS;
    for (int i = 0; i < NSTRIPES; i++)
        pthread_mutex_init(&db->stripes[i], NULL);
    int64_t t0 = sx_mono_ns();
    if (sx_tsdb__series_log_load(db, err) || load_parts(db, err))
        goto fail;
    meta_snapshot_load(db);
    char wdir[4200];
    snprintf(wdir, sizeof(wdir), "%s/wal", dir);
    db->wal = sx_wal_open(wdir, err);
    if (!db->wal)
        goto fail;
    sx_wal_replay(db->wal, replay_record, db);
    db->last_flush_ms = sx_now_ms();
    sx_log_info("tsdb", "opened %s: %u series, %zu parts, %lld head samples in %.1f ms", dir,
                db->nseries, db->nparts, (long long)db->head_samples,
                (double)(sx_mono_ns() - t0) / 1e6);
    return db;
fail:
    sx_tsdb__close(db);
    return NULL;
}

void sx_tsdb__close(sx_tsdb_t *db)
{
    if (!db)
        return;
    sx_wal_close(db->wal);
    if (db->series_fd >= 0)
        close(db->series_fd);
    for (size_t i = 0; i < db->nparts; i++)
        sx_tsdb__part_unref(db->parts[i]);
    free(db->parts);
    sx_tsdb__registry_free(db);
    sel_cache_free(db);
    for (int i = 0; i < NSTRIPES; i++)
        pthread_mutex_destroy(&db->stripes[i]);
    pthread_rwlock_destroy(&db->append_lock);
    pthread_rwlock_destroy(&db->reg_lock);
    pthread_rwlock_destroy(&db->parts_lock);
    pthread_mutex_destroy(&db->flush_mu);
    free(db->dir);
    free(db);
}

/* ---- Append ---- */

int sx_tsdb_append(sx_tsdb_t *db, const sx_metric_batch_t *b, sx_append_result_t *res,
                   sx_err_t *err)
{
    sx_append_result_t r = {0};
    int rc = 0;
    if (b->nseries == 0 && b->nmeta == 0) {
        if (res)
            *res = r;
        return 0;
    }
    uint64_t *hashes = sx_xmalloc((b->nseries + 1) * sizeof(uint64_t));
    series_t **ser = sx_xmalloc((b->nseries + 1) * sizeof(series_t *));
    /* Per series: the samples that pass the window and retention checks,
     * as index ranges into a kept-sample list (only built when something is
     * dropped). */
    uint8_t *filtered = sx_xcalloc(b->nseries + 1, 1);
    sample_vec_t kept = {0};
    size_t *kept_off = NULL;
    sx_buf_t rec = SX_BUF_INIT;

    for (size_t i = 0; i < b->nseries; i++)
        hashes[i] = sx_labels_hash(b->series[i].labels, b->series[i].nlabels);

    pthread_rwlock_rdlock(&db->append_lock);
    rc = sx_tsdb__series_resolve(db, b, hashes, ser, &r.new_series, err);
    if (rc)
        goto out;

    int64_t now = sx_now_ms();
    int64_t ret_cut = db->opts.retention_ms > 0 ? now - db->opts.retention_ms : INT64_MIN;
    kept_off = sx_xmalloc((b->nseries + 1) * sizeof(size_t));
    for (size_t i = 0; i < b->nseries; i++) {
        const sx_series_in_t *si = &b->series[i];
        series_t *s = ser[i];
        int64_t maxt = __atomic_load_n(&s->maxt, __ATOMIC_RELAXED);
        int64_t lim = maxt == INT64_MIN ? INT64_MIN : maxt - db->opts.ooo_window_ms;
        if (lim < ret_cut)
            lim = ret_cut;
        kept_off[i] = kept.n;
        bool any_drop = false;
        for (uint32_t k = 0; k < si->nsamples && !any_drop; k++)
            any_drop = si->samples[k].ts < lim;
        if (!any_drop)
            continue;
        filtered[i] = 1;
        for (uint32_t k = 0; k < si->nsamples; k++) {
            int64_t ts = si->samples[k].ts;
            if (ts < ret_cut)
                r.dropped_retention++;
            else if (ts < lim)
                r.dropped_ooo++;
            else
                sx_tsdb__vec_push(&kept, ts, si->samples[k].v);
        }
    }
    kept_off[b->nseries] = kept.n;

    /* The write-ahead log record. */
    sx_buf_putc(&rec, REC_SAMPLES);
    sx_buf_put_uvarint(&rec, b->nseries);
    for (size_t i = 0; i < b->nseries; i++) {
        const sx_series_in_t *si = &b->series[i];
        sx_buf_put_uvarint(&rec, ser[i]->id);
        size_t n = filtered[i] ? kept_off[i + 1] - kept_off[i] : si->nsamples;
        sx_buf_put_uvarint(&rec, n);
        char *p = sx_buf_reserve(&rec, n * 18);
        char *start = p;
        int64_t prev = 0;
        for (size_t k = 0; k < n; k++) {
            int64_t ts;
            double v;
            if (filtered[i]) {
                ts = kept.ts[kept_off[i] + k];
                v = kept.v[kept_off[i] + k];
            } else {
                ts = si->samples[k].ts;
                v = si->samples[k].v;
            }
            p += sx_uvarint_put(p, sx_zigzag_enc(ts - prev));
            prev = ts;
            uint64_t bits;
            memcpy(&bits, &v, 8);
            for (int bb = 0; bb < 8; bb++)
                *p++ = (char)(bits >> (8 * bb));
        }
        rec.len += (size_t)(p - start);
        uint32_t nh = 0;
        for (uint32_t k = 0; k < si->nhists; k++)
            nh += si->hists[k].ts >= ret_cut;
        r.dropped_retention += si->nhists - nh;
        sx_buf_put_uvarint(&rec, nh);
        for (uint32_t k = 0; k < si->nhists; k++) {
            if (si->hists[k].ts < ret_cut)
                continue;
            sx_varint_append(&rec, si->hists[k].ts);
            put_str(&rec, si->hists[k].blob);
        }
    }
    if (b->nmeta) {
        sx_buf_t m = SX_BUF_INIT;
        sx_buf_putc(&m, REC_META);
        sx_buf_put_uvarint(&m, b->nmeta);
        for (size_t i = 0; i < b->nmeta; i++) {
            put_str(&m, b->meta[i].metric);
            sx_buf_put_uvarint(&m, (uint64_t)b->meta[i].type);
            put_str(&m, b->meta[i].help);
            put_str(&m, b->meta[i].unit);
        }
        /* Metadata rides in its own record; both are committed together
         * below because the samples record is committed second. */
        rc = sx_wal_commit(db->wal, m.ptr, m.len, err);
        sx_buf_dispose(&m);
        if (rc)
            goto out;
    }
    if (b->nseries) {
        rc = sx_wal_commit(db->wal, rec.ptr, rec.len, err);
        if (rc)
            goto out;
    }

    /* Durable: apply to the head. */
    for (size_t i = 0; i < b->nseries; i++) {
        const sx_series_in_t *si = &b->series[i];
        series_t *s = ser[i];
        pthread_mutex_t *mu = stripe(db, s->id);
        pthread_mutex_lock(mu);
        size_t n = filtered[i] ? kept_off[i + 1] - kept_off[i] : si->nsamples;
        for (size_t k = 0; k < n; k++) {
            int64_t ts = filtered[i] ? kept.ts[kept_off[i] + k] : si->samples[k].ts;
            double v = filtered[i] ? kept.v[kept_off[i] + k] : si->samples[k].v;
            if (sx_tsdb__head_append(&s->head, ts, v)) {
                r.appended++;
                series_extend(s, ts, ts);
            } else {
                r.dropped_dup++;
            }
        }
        for (uint32_t k = 0; k < si->nhists; k++) {
            if (si->hists[k].ts < ret_cut)
                continue;
            sx_tsdb__head_append_hist(&s->head, si->hists[k].ts, si->hists[k].blob.ptr,
                                      (uint32_t)si->hists[k].blob.len);
            series_extend(s, si->hists[k].ts, si->hists[k].ts);
            r.appended++;
        }
        pthread_mutex_unlock(mu);
    }
    if (b->nmeta) {
        pthread_rwlock_wrlock(&db->reg_lock);
        for (size_t i = 0; i < b->nmeta; i++)
            meta_set(db, b->meta[i].metric, b->meta[i].type, b->meta[i].help, b->meta[i].unit);
        pthread_rwlock_unlock(&db->reg_lock);
    }
    atomic_fetch_add(&db->head_samples, (int64_t)r.appended);
    atomic_fetch_add(&db->appended, (int64_t)r.appended);
    atomic_fetch_add(&db->dropped_ooo, (int64_t)r.dropped_ooo);
    atomic_fetch_add(&db->dropped_ret, (int64_t)r.dropped_retention);
    atomic_fetch_add(&db->dropped_dup, (int64_t)r.dropped_dup);
out:
    pthread_rwlock_unlock(&db->append_lock);
    free(hashes);
    free(ser);
    free(filtered);
    free(kept_off);
    free(kept.ts);
    free(kept.v);
    sx_buf_dispose(&rec);
    if (res)
        *res = r;
    return rc;
}

/* ---- Flush ---- */

typedef struct day_writer {
    int64_t day;
    part_writer_t *pw;
} day_writer_t;

static part_writer_t *writer_for(sx_tsdb_t *db, day_writer_t **dws, size_t *n, int64_t day,
                                 sx_err_t *err)
{
    for (size_t i = 0; i < *n; i++)
        if ((*dws)[i].day == day)
            return (*dws)[i].pw;
    part_writer_t *pw = sx_tsdb__part_writer_create(db, day, err);
    if (!pw)
        return NULL;
    *dws = sx_xrealloc(*dws, (*n + 1) * sizeof(day_writer_t));
    (*dws)[(*n)++] = (day_writer_t){day, pw};
    return pw;
}

/* Write each series' samples, split by day, through per-day writers. */
static int write_series_days(sx_tsdb_t *db, day_writer_t **dws, size_t *ndw, uint32_t id,
                             sample_vec_t *sv, hist_entry_t *h, size_t nh, sx_err_t *err)
{
    size_t i = 0, j = 0;
    while (i < sv->n || j < nh) {
        int64_t day = i < sv->n ? day_of(sv->ts[i]) : day_of(h[j].ts);
        if (j < nh && day_of(h[j].ts) < day)
            day = day_of(h[j].ts);
        size_t i2 = i, j2 = j;
        while (i2 < sv->n && day_of(sv->ts[i2]) == day)
            i2++;
        while (j2 < nh && day_of(h[j2].ts) == day)
            j2++;
        part_writer_t *pw = writer_for(db, dws, ndw, day, err);
        if (!pw)
            return err->code;
        /* No pointer arithmetic on an empty (NULL) side. */
        int rc = sx_tsdb__part_writer_add(pw, id, i2 > i ? sv->ts + i : NULL,
                                          i2 > i ? sv->v + i : NULL, i2 - i,
                                          j2 > j ? h + j : NULL, j2 - j, err);
        if (rc)
            return rc;
        i = i2;
        j = j2;
    }
    return 0;
}

static int cmp_hist(const void *a, const void *b)
{
    int64_t x = ((const hist_entry_t *)a)->ts, y = ((const hist_entry_t *)b)->ts;
    return (x > y) - (x < y);
}

int sx_tsdb_flush(sx_tsdb_t *db)
{
    sx_err_t err;
    sx_err_clear(&err);
    pthread_mutex_lock(&db->flush_mu);
    int64_t t0 = sx_mono_ns();

    /* Swap heads under the exclusive append lock, so every WAL record in
     * the sealed segments is in a sealed head. */
    pthread_rwlock_wrlock(&db->append_lock);
    uint32_t sealed_seg = 0;
    int rc = sx_wal_rotate(db->wal, &sealed_seg, &err);
    if (rc) {
        pthread_rwlock_unlock(&db->append_lock);
        pthread_mutex_unlock(&db->flush_mu);
        sx_log_error("tsdb", "%s: flush failed: %s", db->dir, err.msg);
        return rc;
    }
    pthread_rwlock_rdlock(&db->reg_lock);
    uint32_t nseries = db->nseries;
    pthread_rwlock_unlock(&db->reg_lock);
    for (uint32_t id = 0; id < nseries; id++) {
        series_t *s = series_at(db, id);
        if (!s || (!s->head.nxc && !s->head.nooo && !s->head.nh))
            continue;
        pthread_mutex_lock(stripe(db, id));
        if (!s->sealed.nxc && !s->sealed.nooo && !s->sealed.nh) {
            s->sealed = s->head;
        } else {
            /* A previous flush failed: fold the head into what is sealed. */
            sample_vec_t sv = {0};
            sx_tsdb__head_collect(&s->head, INT64_MIN, INT64_MAX, &sv);
            for (size_t k = 0; k < sv.n; k++)
                sx_tsdb__head_append(&s->sealed, sv.ts[k], sv.v[k]);
            for (uint32_t k = 0; k < s->head.nh; k++)
                sx_tsdb__head_append_hist(&s->sealed, s->head.hists[k].ts, s->head.hists[k].blob,
                                          s->head.hists[k].len);
            free(sv.ts);
            free(sv.v);
            sx_tsdb__head_dispose(&s->head);
        }
        memset(&s->head, 0, sizeof(s->head));
        pthread_mutex_unlock(stripe(db, id));
    }
    int64_t sealed_samples = atomic_exchange(&db->head_samples, 0);
    pthread_rwlock_unlock(&db->append_lock);

    /* Write the sealed heads; readers still see them until the parts are
     * in the list. */
    day_writer_t *dws = NULL;
    size_t ndw = 0;
    sample_vec_t sv = {0};
    for (uint32_t id = 0; id < nseries && rc == 0; id++) {
        series_t *s = series_at(db, id);
        if (!s)
            continue;
        pthread_mutex_lock(stripe(db, id));
        sv.n = 0;
        sx_tsdb__head_collect(&s->sealed, INT64_MIN, INT64_MAX, &sv);
        size_t nh = s->sealed.nh;
        hist_entry_t *h = NULL;
        if (nh) {
            h = sx_xmalloc(nh * sizeof(*h));
            memcpy(h, s->sealed.hists, nh * sizeof(*h));
        }
        pthread_mutex_unlock(stripe(db, id));
        if (!sv.n && !nh)
            continue;
        sx_tsdb__vec_sort_dedup(&sv);
        if (nh)
            qsort(h, nh, sizeof(*h), cmp_hist);
        rc = write_series_days(db, &dws, &ndw, id, &sv, h, nh, &err);
        free(h);
    }
    free(sv.ts);
    free(sv.v);
    part_t **made = sx_xcalloc(ndw + 1, sizeof(part_t *));
    for (size_t i = 0; i < ndw; i++) {
        if (rc == 0) {
            made[i] = sx_tsdb__part_writer_finish(dws[i].pw, &err);
            if (!made[i])
                rc = err.code;
        } else {
            sx_tsdb__part_writer_abort(dws[i].pw);
        }
    }
    free(dws);
    if (rc) {
        for (size_t i = 0; i < ndw; i++)
            if (made[i]) {
                made[i]->deleted = true;
                sx_tsdb__part_unref(made[i]);
            }
        free(made);
        atomic_fetch_add(&db->head_samples, sealed_samples);
        pthread_mutex_unlock(&db->flush_mu);
        sx_log_error("tsdb", "%s: flush failed, head kept in memory and log: %s", db->dir, err.msg);
        return rc;
    }
    pthread_rwlock_wrlock(&db->parts_lock);
    for (size_t i = 0; i < ndw; i++)
        parts_add(db, made[i]);
    pthread_rwlock_unlock(&db->parts_lock);
    free(made);
    /* Metadata lives only in the log until now: snapshot it before the
     * sealed segments go. If that fails, keep the segments. */
    if (meta_snapshot_write(db, &err)) {
        sx_log_error("tsdb", "%s: %s; keeping the write-ahead log", db->dir, err.msg);
        sealed_seg = 0;
    }
    for (uint32_t id = 0; id < nseries; id++) {
        series_t *s = series_at(db, id);
        if (!s)
            continue;
        pthread_mutex_lock(stripe(db, id));
        sx_tsdb__head_dispose(&s->sealed);
        pthread_mutex_unlock(stripe(db, id));
    }
    sx_wal_remove_upto(db->wal, sealed_seg);
    db->last_flush_ms = sx_now_ms();
    pthread_mutex_unlock(&db->flush_mu);
    if (ndw)
        sx_log_info("tsdb", "%s: flushed %lld samples into %zu parts in %.1f ms", db->dir,
                    (long long)sealed_samples, ndw, (double)(sx_mono_ns() - t0) / 1e6);
    return 0;
}

/* ---- Compaction and retention ---- */

static int merge_parts(sx_tsdb_t *db, part_t **in, size_t n, sx_err_t *err)
{
    int64_t day = in[0]->day;
    part_writer_t *pw = sx_tsdb__part_writer_create(db, day, err);
    if (!pw)
        return err->code;
    size_t *pos = sx_xcalloc(n, sizeof(size_t));
    sample_vec_t sv = {0};
    sx_arena_t a;
    sx_arena_init(&a);
    int rc = 0;
    for (;;) {
        uint32_t id = UINT32_MAX;
        for (size_t i = 0; i < n; i++)
            if (pos[i] < in[i]->nseries && in[i]->series[pos[i]].id < id)
                id = in[i]->series[pos[i]].id;
        if (id == UINT32_MAX)
            break;
        sv.n = 0;
        sx_hist_sample_t *hs = NULL;
        size_t nh = 0, hcap = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (pos[i] < in[i]->nseries && in[i]->series[pos[i]].id == id) {
                rc = sx_tsdb__part_read(in[i], id, INT64_MIN, INT64_MAX, &sv, &a, &hs, &nh, &hcap, err);
                pos[i]++;
            }
        }
        if (rc)
            break;
        sx_tsdb__vec_sort_dedup(&sv);
        hist_entry_t *h = nh ? sx_xmalloc(nh * sizeof(*h)) : NULL;
        for (size_t k = 0; k < nh; k++)
            h[k] = (hist_entry_t){hs[k].ts, (uint32_t)hs[k].blob.len, (char *)hs[k].blob.ptr};
        if (nh)
            qsort(h, nh, sizeof(*h), cmp_hist);
        size_t o = 0;
        for (size_t k = 0; k < nh; k++) {
            if (o && h[o - 1].ts == h[k].ts)
                h[o - 1] = h[k];
            else
                h[o++] = h[k];
        }
        rc = sx_tsdb__part_writer_add(pw, id, sv.ts, sv.v, sv.n, h, o, err);
        free(h);
        sx_arena_reset(&a);
        if (rc)
            break;
    }
    free(pos);
    free(sv.ts);
    free(sv.v);
    sx_arena_dispose(&a);
    if (rc) {
        sx_tsdb__part_writer_abort(pw);
        return rc;
    }
    part_t *out = sx_tsdb__part_writer_finish(pw, err);
    if (!out)
        return err->code;
    pthread_rwlock_wrlock(&db->parts_lock);
    parts_add(db, out);
    for (size_t i = 0; i < n; i++)
        parts_remove(db, in[i]);
    pthread_rwlock_unlock(&db->parts_lock);
    atomic_fetch_add(&db->compactions, 1);
    return 0;
}

/* Merge the parts of a partition once it has several. */
static void compact(sx_tsdb_t *db, int64_t now)
{
    for (;;) {
        part_t **in = NULL;
        size_t n = 0;
        pthread_rwlock_rdlock(&db->parts_lock);
        for (size_t i = 0; i < db->nparts && !n; i++) {
            size_t j = i;
            bool old = true;
            while (j < db->nparts && db->parts[j]->day == db->parts[i]->day) {
                old = old && now - db->parts[j]->created_ms > 10 * 60 * 1000;
                j++;
            }
            size_t cnt = j - i;
            if (cnt >= 4 || (cnt >= 2 && old)) {
                in = sx_xmalloc(cnt * sizeof(part_t *));
                for (size_t k = 0; k < cnt; k++) {
                    in[k] = db->parts[i + k];
                    atomic_fetch_add(&in[k]->refs, 1);
                }
                n = cnt;
            }
            i = j - 1;
        }
        pthread_rwlock_unlock(&db->parts_lock);
        if (!n)
            return;
        sx_err_t err;
        sx_err_clear(&err);
        int64_t t0 = sx_mono_ns();
        pthread_mutex_lock(&db->flush_mu);
        int rc = merge_parts(db, in, n, &err);
        pthread_mutex_unlock(&db->flush_mu);
        if (rc)
            sx_log_error("tsdb", "%s: compaction of day %lld failed: %s", db->dir,
                         (long long)in[0]->day, err.msg);
        else
            sx_log_info("tsdb", "%s: merged %zu parts of day %lld in %.1f ms", db->dir, n,
                        (long long)in[0]->day, (double)(sx_mono_ns() - t0) / 1e6);
        for (size_t k = 0; k < n; k++)
            sx_tsdb__part_unref(in[k]);
        free(in);
        if (rc)
            return;
    }
}

static void retain(sx_tsdb_t *db, int64_t now, int64_t max_bytes)
{
    pthread_rwlock_wrlock(&db->parts_lock);
    if (db->opts.retention_ms > 0) {
        int64_t cut = now - db->opts.retention_ms;
        for (size_t i = 0; i < db->nparts;) {
            part_t *p = db->parts[i];
            if (p->maxt < cut) {
                sx_log_info("tsdb", "%s: retention removes part %s", db->dir, p->path);
                parts_remove(db, p);
            } else {
                i++;
            }
        }
    }
    if (max_bytes > 0) {
        int64_t total = 0;
        for (size_t i = 0; i < db->nparts; i++)
            total += db->parts[i]->bytes;
        while (total > max_bytes && db->nparts > 0) {
            int64_t day = db->parts[0]->day;
            while (db->nparts > 0 && db->parts[0]->day == day) {
                total -= db->parts[0]->bytes;
                sx_log_info("tsdb", "%s: size retention removes part %s", db->dir, db->parts[0]->path);
                parts_remove(db, db->parts[0]);
            }
        }
    }
    pthread_rwlock_unlock(&db->parts_lock);
}

void sx_tsdb__maintain(sx_tsdb_t *db, int64_t now, int64_t head_flush_ms, int64_t max_bytes)
{
    if ((head_flush_ms > 0 && now - db->last_flush_ms >= head_flush_ms) ||
        atomic_load(&db->head_samples) > 200 * 1000 * 1000)
        sx_tsdb_flush(db);
    compact(db, now);
    retain(db, now, max_bytes);
}

int64_t sx_tsdb__part_bytes(sx_tsdb_t *db, int64_t *nparts)
{
    int64_t total = 0;
    pthread_rwlock_rdlock(&db->parts_lock);
    for (size_t i = 0; i < db->nparts; i++)
        total += db->parts[i]->bytes;
    *nparts = (int64_t)db->nparts;
    pthread_rwlock_unlock(&db->parts_lock);
    return total;
}

void sx_tsdb__stats(sx_tsdb_t *db, sx_storage_stats_t *st)
{
    pthread_rwlock_rdlock(&db->reg_lock);
    st->series += db->nseries;
    pthread_rwlock_unlock(&db->reg_lock);
    int64_t np;
    st->part_bytes += sx_tsdb__part_bytes(db, &np);
    st->parts += np;
    sx_wal_stats_t ws;
    sx_wal_stats(db->wal, &ws);
    st->wal_bytes += ws.bytes;
    st->wal_fsyncs += ws.fsyncs;
    st->wal_fsync_ns_total += ws.fsync_ns;
    st->head_samples += atomic_load(&db->head_samples);
    st->samples_appended += atomic_load(&db->appended);
    st->samples_dropped_ooo += atomic_load(&db->dropped_ooo);
    st->samples_dropped_retention += atomic_load(&db->dropped_ret);
    st->samples_dropped_dup += atomic_load(&db->dropped_dup);
    st->compactions += atomic_load(&db->compactions);
}

/* ---- Reading ---- */

int sx_tsdb_series_labels(sx_tsdb_t *db, uint32_t id, sx_arena_t *a, sx_label_t **labels,
                          uint32_t *n)
{
    pthread_rwlock_rdlock(&db->reg_lock);
    series_t *s = id < db->nseries ? db->series[id] : NULL;
    if (!s) {
        pthread_rwlock_unlock(&db->reg_lock);
        return SX_ENOTFOUND;
    }
    *labels = sx_arena_alloc(a, (s->nlabels ? s->nlabels : 1) * sizeof(sx_label_t));
    for (uint32_t i = 0; i < s->nlabels; i++) {
        (*labels)[i].name = sx_arena_strdup_str(a, s->labels[i].name);
        (*labels)[i].value = sx_arena_strdup_str(a, s->labels[i].value);
    }
    *n = s->nlabels;
    pthread_rwlock_unlock(&db->reg_lock);
    return 0;
}

int sx_tsdb_series_read(sx_tsdb_t *db, uint32_t id, int64_t mint, int64_t maxt, sx_arena_t *a,
                        sx_series_data_t *out)
{
    memset(out, 0, sizeof(*out));
    series_t *s = series_at(db, id);
    if (!s)
        return SX_ENOTFOUND;
    part_t *stack[64], **parts = stack;
    size_t np = 0;
    pthread_rwlock_rdlock(&db->parts_lock);
    if (db->nparts > 64)
        parts = sx_xmalloc(db->nparts * sizeof(part_t *));
    for (size_t i = 0; i < db->nparts; i++) {
        part_t *p = db->parts[i];
        if (p->maxt < mint || p->mint > maxt)
            continue;
        atomic_fetch_add(&p->refs, 1);
        parts[np++] = p;
    }
    pthread_rwlock_unlock(&db->parts_lock);
    sample_vec_t sv = {0};
    size_t hcap = 0;
    int rc = 0;
    sx_err_t err;
    for (size_t i = 0; i < np; i++) {
        if (rc == 0)
            rc = sx_tsdb__part_read(parts[i], id, mint, maxt, &sv, a, &out->hists, &out->nhists,
                                    &hcap, &err);
        sx_tsdb__part_unref(parts[i]);
    }
    if (parts != stack)
        free(parts);
    pthread_mutex_lock(stripe(db, id));
    sx_tsdb__head_collect(&s->sealed, mint, maxt, &sv);
    sx_tsdb__head_collect(&s->head, mint, maxt, &sv);
    const head_t *hs[2] = {&s->sealed, &s->head};
    for (int k = 0; k < 2; k++)
        for (uint32_t i = 0; i < hs[k]->nh; i++) {
            const hist_entry_t *h = &hs[k]->hists[i];
            if (h->ts < mint || h->ts > maxt)
                continue;
            if (out->nhists == hcap) {
                size_t nc = hcap ? hcap * 2 : 16;
                out->hists = sx_arena_realloc(a, out->hists, out->nhists * sizeof(sx_hist_sample_t),
                                              nc * sizeof(sx_hist_sample_t));
                hcap = nc;
            }
            out->hists[out->nhists++] =
                (sx_hist_sample_t){h->ts, sx_arena_strdup_str(a, (sx_str_t){h->blob, h->len})};
        }
    pthread_mutex_unlock(stripe(db, id));
    sx_tsdb__vec_sort_dedup(&sv);
    if (out->nhists > 1) {
        /* Sort by time, the newest write wins on equal times. */
        for (size_t i = 1; i < out->nhists; i++)
            for (size_t j = i; j > 0 && out->hists[j - 1].ts > out->hists[j].ts; j--) {
                sx_hist_sample_t t = out->hists[j];
                out->hists[j] = out->hists[j - 1];
                out->hists[j - 1] = t;
            }
        size_t o = 0;
        for (size_t i = 0; i < out->nhists; i++) {
            if (o && out->hists[o - 1].ts == out->hists[i].ts)
                out->hists[o - 1] = out->hists[i];
            else
                out->hists[o++] = out->hists[i];
        }
        out->nhists = o;
    }
    out->n = sv.n;
    out->ts = sx_arena_alloc(a, (sv.n ? sv.n : 1) * sizeof(int64_t));
    out->v = sx_arena_alloc(a, (sv.n ? sv.n : 1) * sizeof(double));
    if (sv.n) {
        memcpy(out->ts, sv.ts, sv.n * sizeof(int64_t));
        memcpy(out->v, sv.v, sv.n * sizeof(double));
    }
    free(sv.ts);
    free(sv.v);
    return rc;
}

/* ---- Selection ---- */

static bool matcher_matches_empty(const sx_matcher_t *m)
{
    return sx_matcher_matches(m, (sx_str_t){"", 0});
}

static sx_str_t label_value(const series_t *s, sx_str_t name)
{
    for (uint32_t i = 0; i < s->nlabels; i++)
        if (sx_str_eq(s->labels[i].name, name))
            return s->labels[i].value;
    return (sx_str_t){"", 0};
}

static void ids_union(uint32_t **acc, size_t *n, size_t *cap, const postings_t *p)
{
    uint32_t *out = sx_xmalloc((*n + p->n + 1) * sizeof(uint32_t));
    size_t i = 0, j = 0, k = 0;
    while (i < *n || j < p->n) {
        uint32_t x;
        if (j >= p->n || (i < *n && (*acc)[i] < p->ids[j]))
            x = (*acc)[i++];
        else if (i >= *n || p->ids[j] < (*acc)[i])
            x = p->ids[j++];
        else {
            x = (*acc)[i++];
            j++;
        }
        out[k++] = x;
    }
    free(*acc);
    *acc = out;
    *n = k;
    *cap = k;
}

/* Candidate ids for one matcher that does not match the empty string. */
static void matcher_ids(sx_tsdb_t *db, const sx_matcher_t *m, uint32_t **ids, size_t *n)
{
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    if (m->op == SX_MATCH_EQ) {
        const postings_t *p = sx_tsdb__postings(db, m->name, m->value);
        if (p) {
            *ids = sx_xmalloc((p->n + 1) * sizeof(uint32_t));
            memcpy(*ids, p->ids, p->n * sizeof(uint32_t));
            *n = p->n;
        }
        return;
    }
    name_entry_t *ne = sx_tsdb__name_find(db, m->name);
    if (!ne)
        return;
    for (uint32_t k = 0; k < ne->nslots; k++) {
        value_entry_t *v = ne->slots[k];
        if (v && sx_matcher_matches(m, (sx_str_t){v->value, v->len}))
            ids_union(ids, n, &cap, &v->p);
    }
}

static int cmp_ids_by_labels(const void *a, const void *b, void *ctx)
{
    sx_tsdb_t *db = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return sx_tsdb__labels_cmp(db->series[x], db->series[y]);
}

/* ---- Selection cache ----
 *
 * Dashboards send the same selectors again and again. The ids a set of
 * matchers selects, in label order, are kept for as long as no series is
 * added (series are never removed from the registry), so that a repeated
 * selector costs a copy instead of postings intersections, a check of
 * every candidate against every matcher and a sort by labels. Time ranges
 * are applied after the cache. Series added since an entry was made are
 * merged into it (sel_extend), so churn does not empty the cache. */

#define SEL_CACHE_ENTRIES 64

typedef struct sel_entry {
    char *key;
    size_t keylen;
    uint64_t hash, gen, used;
    uint32_t nseries; /* db->nseries when the ids were right */
    uint32_t *ids;
    size_t n;
} sel_entry_t;

static void sel_cache_free(sx_tsdb_t *db)
{
    for (size_t i = 0; db->sel && i < SEL_CACHE_ENTRIES; i++) {
        free(db->sel[i].key);
        free(db->sel[i].ids);
    }
    free(db->sel);
    db->sel = NULL;
    pthread_mutex_destroy(&db->sel_mu);
}

/* The matchers as one string: op, name and value of each, with lengths. */
static void sel_key(const sx_matcher_t *m, size_t n, sx_buf_t *k)
{
    sx_buf_putc(k, 'M'); /* never empty, even without matchers */
    for (size_t i = 0; i < n; i++) {
        sx_buf_putc(k, (char)('0' + m[i].op));
        sx_buf_put_uvarint(k, m[i].name.len);
        sx_buf_append(k, m[i].name.ptr, m[i].name.len);
        sx_buf_put_uvarint(k, m[i].value.len);
        sx_buf_append(k, m[i].value.ptr, m[i].value.len);
    }
}

/* The entry of key, whatever its generation, or NULL (sel_mu held). */
static sel_entry_t *sel_find(sx_tsdb_t *db, const sx_buf_t *k, uint64_t hash)
{
    for (size_t i = 0; db->sel && i < SEL_CACHE_ENTRIES; i++) {
        sel_entry_t *e = &db->sel[i];
        if (e->key && e->hash == hash && e->keylen == k->len &&
            memcmp(e->key, k->ptr, k->len) == 0)
            return e;
    }
    return NULL;
}

/* The cached ids for key at generation gen, copied into a; false if none. */
static bool sel_lookup(sx_tsdb_t *db, const sx_buf_t *k, uint64_t hash, uint64_t gen,
                       sx_arena_t *a, uint32_t **ids, size_t *n)
{
    pthread_mutex_lock(&db->sel_mu);
    sel_entry_t *e = sel_find(db, k, hash);
    bool hit = e && e->gen == gen;
    if (hit) {
        e->used = ++db->sel_tick;
        *ids = sx_arena_alloc(a, (e->n ? e->n : 1) * sizeof(uint32_t));
        if (e->n)
            memcpy(*ids, e->ids, e->n * sizeof(uint32_t));
        *n = e->n;
    }
    pthread_mutex_unlock(&db->sel_mu);
    return hit;
}

static bool series_matches(const series_t *s, const sx_matcher_t *m, size_t n)
{
    for (size_t j = 0; j < n; j++)
        if (!sx_matcher_matches(&m[j], label_value(s, m[j].name)))
            return false;
    return true;
}

/* The ids of a stale entry for key brought up to date, or NULL: when the
 * only change since is series appended after it (the usual case: new
 * series come with new ids, none is ever removed), the new ones that the
 * matchers select are put into place by label order, instead of the
 * whole selection being made and sorted again. Caller holds reg_lock
 * shared. */
static uint32_t *sel_extend(sx_tsdb_t *db, const sx_buf_t *k, uint64_t hash, uint64_t gen,
                            const sx_matcher_t *m, size_t nm, size_t *nout)
{
    uint32_t *old = NULL, from = 0;
    size_t n = 0;
    pthread_mutex_lock(&db->sel_mu);
    sel_entry_t *e = sel_find(db, k, hash);
    /* Appends only: one generation per id past the entry's count. */
    if (e && db->nseries >= e->nseries && gen - e->gen == (uint64_t)(db->nseries - e->nseries) &&
        db->nseries - e->nseries <= db->nseries / 4 + 1024) {
        old = sx_xmalloc((e->n ? e->n : 1) * sizeof(uint32_t));
        if (e->n)
            memcpy(old, e->ids, e->n * sizeof(uint32_t));
        n = e->n;
        from = e->nseries;
    }
    pthread_mutex_unlock(&db->sel_mu);
    if (!old)
        return NULL;
    uint32_t *add = sx_xmalloc((db->nseries - from + 1) * sizeof(uint32_t));
    size_t na = 0;
    for (uint32_t id = from; id < db->nseries; id++)
        if (db->series[id] && series_matches(db->series[id], m, nm))
            add[na++] = id;
    if (na > 1)
        qsort_r(add, na, sizeof(uint32_t), cmp_ids_by_labels, db);
    uint32_t *ids = sx_xmalloc((n + na ? n + na : 1) * sizeof(uint32_t));
    size_t o = 0, lo = 0;
    for (size_t a = 0; a < na; a++) {
        /* The first old id that sorts after this new one, from where the
         * previous new one went. */
        size_t l = lo, h = n;
        while (l < h) {
            size_t mid = l + (h - l) / 2;
            if (sx_tsdb__labels_cmp(db->series[old[mid]], db->series[add[a]]) < 0)
                l = mid + 1;
            else
                h = mid;
        }
        memcpy(ids + o, old + lo, (l - lo) * sizeof(uint32_t));
        o += l - lo;
        ids[o++] = add[a];
        lo = l;
    }
    memcpy(ids + o, old + lo, (n - lo) * sizeof(uint32_t));
    o += n - lo;
    free(old);
    free(add);
    *nout = o;
    return ids;
}

static void sel_drop(sx_tsdb_t *db, sel_entry_t *e)
{
    db->sel_ids -= e->n;
    free(e->key);
    free(e->ids);
    memset(e, 0, sizeof(*e));
}

/* The least recently used entry in use, or NULL (sel_mu held). */
static sel_entry_t *sel_lru(sx_tsdb_t *db)
{
    sel_entry_t *lru = NULL;
    for (size_t i = 0; i < SEL_CACHE_ENTRIES; i++)
        if (db->sel[i].key && (!lru || db->sel[i].used < lru->used))
            lru = &db->sel[i];
    return lru;
}

/* Keep ids (malloc'd; the cache takes them, or frees them when they are
 * too many) as key's entry at generation gen: in key's old entry, else a
 * free one, else the least recently used; older entries go until the ids
 * fit in db->sel_max_ids. */
static void sel_store(sx_tsdb_t *db, const sx_buf_t *k, uint64_t hash, uint64_t gen,
                      uint32_t *ids, size_t n)
{
    if (n > db->sel_max_ids / 4) {
        free(ids);
        return;
    }
    pthread_mutex_lock(&db->sel_mu);
    if (!db->sel)
        db->sel = sx_xcalloc(SEL_CACHE_ENTRIES, sizeof(sel_entry_t));
    sel_entry_t *slot = sel_find(db, k, hash);
    if (slot)
        sel_drop(db, slot);
    while (db->sel_ids + n > db->sel_max_ids)
        sel_drop(db, sel_lru(db)); /* in use while sel_ids > 0 */
    for (size_t i = 0; !slot && i < SEL_CACHE_ENTRIES; i++)
        if (!db->sel[i].key)
            slot = &db->sel[i];
    if (!slot) {
        slot = sel_lru(db);
        sel_drop(db, slot);
    }
    slot->key = sx_xmalloc(k->len);
    memcpy(slot->key, k->ptr, k->len);
    slot->keylen = k->len;
    slot->hash = hash;
    slot->gen = gen;
    slot->nseries = db->nseries;
    slot->used = ++db->sel_tick;
    slot->ids = ids;
    slot->n = n;
    db->sel_ids += n;
    pthread_mutex_unlock(&db->sel_mu);
}

/* Every series the matchers select, in label order (caller holds
 * reg_lock shared). Returns a malloc'd array. */
static uint32_t *select_all(sx_tsdb_t *db, const sx_matcher_t *m, size_t n, size_t *nout)
{
    uint32_t *cand = NULL;
    size_t ncand = 0;
    bool have = false;
    for (size_t i = 0; i < n; i++) {
        if (matcher_matches_empty(&m[i]))
            continue;
        uint32_t *ids;
        size_t nids;
        matcher_ids(db, &m[i], &ids, &nids);
        if (!have) {
            cand = ids;
            ncand = nids;
            have = true;
        } else {
            size_t x = 0, y = 0, k = 0;
            while (x < ncand && y < nids) {
                if (cand[x] < ids[y])
                    x++;
                else if (cand[x] > ids[y])
                    y++;
                else {
                    cand[k++] = cand[x];
                    x++;
                    y++;
                }
            }
            ncand = k;
            free(ids);
        }
        if (ncand == 0)
            break;
    }
    if (!have) {
        cand = sx_xmalloc((db->nseries + 1) * sizeof(uint32_t));
        for (uint32_t id = 0; id < db->nseries; id++)
            cand[ncand++] = id;
    }
    size_t k = 0;
    for (size_t i = 0; i < ncand; i++) {
        series_t *s = db->series[cand[i]];
        if (s && series_matches(s, m, n))
            cand[k++] = s->id;
    }
    if (k > 1)
        qsort_r(cand, k, sizeof(uint32_t), cmp_ids_by_labels, db);
    *nout = k;
    return cand;
}

int sx_tsdb_select(sx_tsdb_t *db, const sx_matcher_t *m, size_t n, int64_t mint, int64_t maxt,
                   sx_arena_t *a, sx_series_set_t *out)
{
    sx_buf_t key = SX_BUF_INIT;
    sel_key(m, n, &key);
    uint64_t hash = sx_hash64(key.ptr, key.len);
    pthread_rwlock_rdlock(&db->reg_lock);
    uint64_t gen = db->series_gen;
    size_t nall = 0;
    if (!sel_lookup(db, &key, hash, gen, a, &out->ids, &nall)) {
        uint32_t *all = sel_extend(db, &key, hash, gen, m, n, &nall);
        if (!all)
            all = select_all(db, m, n, &nall);
        out->ids = sx_arena_alloc(a, (nall ? nall : 1) * sizeof(uint32_t));
        if (nall)
            memcpy(out->ids, all, nall * sizeof(uint32_t));
        sel_store(db, &key, hash, gen, all, nall);
    }
    /* The time range, in place. */
    out->n = 0;
    for (size_t i = 0; i < nall; i++) {
        series_t *s = db->series[out->ids[i]];
        pthread_mutex_lock(stripe(db, s->id));
        bool in_range = s->mint <= maxt && s->maxt >= mint;
        pthread_mutex_unlock(stripe(db, s->id));
        if (in_range)
            out->ids[out->n++] = s->id;
    }
    pthread_rwlock_unlock(&db->reg_lock);
    sx_buf_dispose(&key);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return sx_str_cmp(*(const sx_str_t *)a, *(const sx_str_t *)b);
}

static void sort_unique(sx_str_t *v, size_t *n)
{
    qsort(v, *n, sizeof(sx_str_t), cmp_str);
    size_t o = 0;
    for (size_t i = 0; i < *n; i++)
        if (!o || !sx_str_eq(v[o - 1], v[i]))
            v[o++] = v[i];
    *n = o;
}

int sx_tsdb_label_names(sx_tsdb_t *db, const sx_matcher_t *m, size_t n, int64_t mint, int64_t maxt,
                        sx_arena_t *a, sx_str_t **out, size_t *nout)
{
    sx_series_set_t set;
    sx_tsdb_select(db, m, n, mint, maxt, a, &set);
    pthread_rwlock_rdlock(&db->reg_lock);
    size_t cap = 64, k = 0;
    sx_str_t *v = sx_xmalloc(cap * sizeof(sx_str_t));
    for (size_t i = 0; i < set.n; i++) {
        series_t *s = db->series[set.ids[i]];
        for (uint32_t l = 0; l < s->nlabels; l++) {
            if (k == cap) {
                sort_unique(v, &k);
                if (k * 2 > cap) {
                    cap *= 2;
                    v = sx_xrealloc(v, cap * sizeof(sx_str_t));
                }
            }
            v[k++] = s->labels[l].name;
        }
    }
    sort_unique(v, &k);
    *out = sx_arena_alloc(a, (k ? k : 1) * sizeof(sx_str_t));
    for (size_t i = 0; i < k; i++)
        (*out)[i] = sx_arena_strdup_str(a, v[i]);
    *nout = k;
    pthread_rwlock_unlock(&db->reg_lock);
    free(v);
    return 0;
}

int sx_tsdb_label_values(sx_tsdb_t *db, sx_str_t name, const sx_matcher_t *m, size_t n,
                         int64_t mint, int64_t maxt, sx_arena_t *a, sx_str_t **out, size_t *nout)
{
    sx_series_set_t set;
    sx_tsdb_select(db, m, n, mint, maxt, a, &set);
    pthread_rwlock_rdlock(&db->reg_lock);
    size_t cap = 64, k = 0;
    sx_str_t *v = sx_xmalloc(cap * sizeof(sx_str_t));
    for (size_t i = 0; i < set.n; i++) {
        sx_str_t val = label_value(db->series[set.ids[i]], name);
        if (!val.len)
            continue;
        if (k == cap) {
            sort_unique(v, &k);
            if (k * 2 > cap) {
                cap *= 2;
                v = sx_xrealloc(v, cap * sizeof(sx_str_t));
            }
        }
        v[k++] = val;
    }
    sort_unique(v, &k);
    *out = sx_arena_alloc(a, (k ? k : 1) * sizeof(sx_str_t));
    for (size_t i = 0; i < k; i++)
        (*out)[i] = sx_arena_strdup_str(a, v[i]);
    *nout = k;
    pthread_rwlock_unlock(&db->reg_lock);
    free(v);
    return 0;
}

static int cmp_meta(const void *a, const void *b)
{
    return sx_str_cmp(((const sx_metric_meta_t *)a)->metric, ((const sx_metric_meta_t *)b)->metric);
}

int sx_tsdb_metadata(sx_tsdb_t *db, sx_str_t metric, size_t limit, sx_arena_t *a,
                     sx_metric_meta_t **out, size_t *nout)
{
    pthread_rwlock_rdlock(&db->reg_lock);
    *out = sx_arena_alloc(a, (db->nmeta ? db->nmeta : 1) * sizeof(sx_metric_meta_t));
    size_t k = 0;
    for (size_t i = 0; i < db->nmeta; i++) {
        meta_entry_t *m = &db->meta[i];
        if (metric.len && !sx_str_eq_cstr(metric, m->metric))
            continue;
        (*out)[k++] = (sx_metric_meta_t){sx_arena_strdup_str(a, sx_str(m->metric)), m->type,
                                         sx_arena_strdup_str(a, sx_str(m->help)),
                                         sx_arena_strdup_str(a, sx_str(m->unit))};
    }
    pthread_rwlock_unlock(&db->reg_lock);
    qsort(*out, k, sizeof(sx_metric_meta_t), cmp_meta);
    if (limit && k > limit)
        k = limit;
    *nout = k;
    return 0;
}
