/* SPDX-License-Identifier: Apache-2.0 */
/* The series registry: ids for label sets, the inverted index from label
 * pairs to posting lists, and series.log, the append-only file that makes
 * ids stable across restarts. A series record is durable in series.log
 * before any write-ahead log record refers to its id. */
#include "tsdb_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/hash.h"
#include "../../core/log.h"

static bool labels_equal(const series_t *s, const sx_label_t *labels, uint32_t n)
{
    if (s->nlabels != n)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!sx_str_eq(s->labels[i].name, labels[i].name) ||
            !sx_str_eq(s->labels[i].value, labels[i].value))
            return false;
    return true;
}

int sx_tsdb__labels_cmp(const series_t *a, const series_t *b)
{
    uint32_t n = a->nlabels < b->nlabels ? a->nlabels : b->nlabels;
    for (uint32_t i = 0; i < n; i++) {
        int c = sx_str_cmp(a->labels[i].name, b->labels[i].name);
        if (c)
            return c;
        c = sx_str_cmp(a->labels[i].value, b->labels[i].value);
        if (c)
            return c;
    }
    return (a->nlabels > b->nlabels) - (a->nlabels < b->nlabels);
}

/* ---- Inverted index ---- */

static void postings_add(postings_t *p, uint32_t id)
{
    if (p->n && p->ids[p->n - 1] == id)
        return;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4;
        p->ids = sx_xrealloc(p->ids, p->cap * sizeof(uint32_t));
    }
    /* ids arrive ascending except during load, where they may not. */
    uint32_t i = p->n;
    while (i > 0 && p->ids[i - 1] > id)
        i--;
    if (i > 0 && p->ids[i - 1] == id)
        return;
    memmove(p->ids + i + 1, p->ids + i, (p->n - i) * sizeof(uint32_t));
    p->ids[i] = id;
    p->n++;
}

static uint64_t str_hash(const char *p, size_t n)
{
    return sx_hash64(p, n);
}

name_entry_t *sx_tsdb__name_find(sx_tsdb_t *db, sx_str_t name)
{
    if (!db->nnames_slots)
        return NULL;
    uint32_t mask = db->nnames_slots - 1, i = (uint32_t)str_hash(name.ptr, name.len) & mask;
    for (;; i = (i + 1) & mask) {
        name_entry_t *e = db->names[i];
        if (!e)
            return NULL;
        if (e->len == name.len && memcmp(e->name, name.ptr, name.len) == 0)
            return e;
    }
}

static void names_grow(sx_tsdb_t *db)
{
    uint32_t ns = db->nnames_slots ? db->nnames_slots * 2 : 64;
    name_entry_t **slots = sx_xcalloc(ns, sizeof(*slots));
    for (uint32_t k = 0; k < db->nnames_slots; k++) {
        name_entry_t *e = db->names[k];
        if (!e)
            continue;
        uint32_t i = (uint32_t)str_hash(e->name, e->len) & (ns - 1);
        while (slots[i])
            i = (i + 1) & (ns - 1);
        slots[i] = e;
    }
    free(db->names);
    db->names = slots;
    db->nnames_slots = ns;
}

static name_entry_t *name_get(sx_tsdb_t *db, sx_str_t name)
{
    name_entry_t *e = sx_tsdb__name_find(db, name);
    if (e)
        return e;
    if ((db->nnames + 1) * 2 > db->nnames_slots)
        names_grow(db);
    e = sx_xcalloc(1, sizeof(*e));
    e->name = sx_xstrndup(name.ptr, name.len);
    e->len = (uint32_t)name.len;
    uint32_t mask = db->nnames_slots - 1, i = (uint32_t)str_hash(name.ptr, name.len) & mask;
    while (db->names[i])
        i = (i + 1) & mask;
    db->names[i] = e;
    db->nnames++;
    return e;
}

static value_entry_t *value_find(const name_entry_t *ne, sx_str_t value)
{
    if (!ne->nslots)
        return NULL;
    uint32_t mask = ne->nslots - 1, i = (uint32_t)str_hash(value.ptr, value.len) & mask;
    for (;; i = (i + 1) & mask) {
        value_entry_t *v = ne->slots[i];
        if (!v)
            return NULL;
        if (v->len == value.len && memcmp(v->value, value.ptr, value.len) == 0)
            return v;
    }
}

static value_entry_t *value_get(name_entry_t *ne, sx_str_t value)
{
    value_entry_t *v = value_find(ne, value);
    if (v)
        return v;
    if ((ne->nvalues + 1) * 2 > ne->nslots) {
        uint32_t ns = ne->nslots ? ne->nslots * 2 : 8;
        value_entry_t **slots = sx_xcalloc(ns, sizeof(*slots));
        for (uint32_t k = 0; k < ne->nslots; k++) {
            value_entry_t *x = ne->slots[k];
            if (!x)
                continue;
            uint32_t i = (uint32_t)str_hash(x->value, x->len) & (ns - 1);
            while (slots[i])
                i = (i + 1) & (ns - 1);
            slots[i] = x;
        }
        free(ne->slots);
        ne->slots = slots;
        ne->nslots = ns;
    }
    v = sx_xcalloc(1, sizeof(*v));
    v->value = sx_xstrndup(value.ptr, value.len);
    v->len = (uint32_t)value.len;
    uint32_t mask = ne->nslots - 1, i = (uint32_t)str_hash(value.ptr, value.len) & mask;
    while (ne->slots[i])
        i = (i + 1) & mask;
    ne->slots[i] = v;
    ne->nvalues++;
    return v;
}

const postings_t *sx_tsdb__postings(sx_tsdb_t *db, sx_str_t name, sx_str_t value)
{
    name_entry_t *ne = sx_tsdb__name_find(db, name);
    if (!ne)
        return NULL;
    value_entry_t *v = value_find(ne, value);
    return v ? &v->p : NULL;
}

/* ---- Series table ---- */

static void hslots_insert(sx_tsdb_t *db, series_t *s)
{
    uint32_t mask = db->nhslots - 1, i = (uint32_t)s->hash & mask;
    while (db->hslots[i].id1)
        i = (i + 1) & mask;
    db->hslots[i].hash = s->hash;
    db->hslots[i].id1 = s->id + 1;
}

/* Register a series under a given id (from series.log or a new one).
 * Caller holds reg_lock exclusively. */
series_t *sx_tsdb__series_add(sx_tsdb_t *db, uint32_t id, const sx_label_t *labels, uint32_t n)
{
    if (id < db->nseries && db->series[id])
        return db->series[id];
    db->series_gen++;
    size_t bytes = 0;
    for (uint32_t i = 0; i < n; i++)
        bytes += labels[i].name.len + labels[i].value.len + 2;
    /* One allocation: the series, its labels, then their bytes, so a
     * lookup that compares labels touches adjacent cache lines. */
    series_t *s = sx_xcalloc(1, sizeof(*s) + n * sizeof(sx_label_t) + bytes);
    s->labels = (sx_label_t *)(s + 1);
    char *p = (char *)(s->labels + n);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(p, labels[i].name.ptr, labels[i].name.len);
        p[labels[i].name.len] = '\0';
        s->labels[i].name = (sx_str_t){p, labels[i].name.len};
        p += labels[i].name.len + 1;
        memcpy(p, labels[i].value.ptr, labels[i].value.len);
        p[labels[i].value.len] = '\0';
        s->labels[i].value = (sx_str_t){p, labels[i].value.len};
        p += labels[i].value.len + 1;
    }
    s->nlabels = n;
    s->id = id;
    s->hash = sx_labels_hash(s->labels, n);
    s->mint = INT64_MAX;
    s->maxt = INT64_MIN;
    if (id >= db->seriescap) {
        uint32_t cap = db->seriescap ? db->seriescap : 1024;
        while (cap <= id)
            cap *= 2;
        db->series = sx_xrealloc(db->series, cap * sizeof(series_t *));
        memset(db->series + db->seriescap, 0, (cap - db->seriescap) * sizeof(series_t *));
        db->seriescap = cap;
    }
    db->series[id] = s;
    if (id >= db->nseries)
        db->nseries = id + 1;
    if ((size_t)(db->nseries + 1) * 2 > db->nhslots) {
        uint32_t ns = db->nhslots ? db->nhslots : 1024;
        while ((size_t)(db->nseries + 1) * 2 > ns)
            ns *= 2;
        free(db->hslots);
        db->hslots = sx_xcalloc(ns, sizeof(*db->hslots));
        db->nhslots = ns;
        for (uint32_t k = 0; k < db->nseries; k++)
            if (db->series[k])
                hslots_insert(db, db->series[k]);
    } else {
        hslots_insert(db, s);
    }
    for (uint32_t i = 0; i < n; i++)
        postings_add(&value_get(name_get(db, s->labels[i].name), s->labels[i].value)->p, id);
    return s;
}

static series_t *lookup(sx_tsdb_t *db, const sx_label_t *labels, uint32_t n, uint64_t hash)
{
    if (!db->nhslots)
        return NULL;
    uint32_t mask = db->nhslots - 1, i = (uint32_t)hash & mask;
    /* The hash sits in the slot, so probing past other series touches
     * no series memory; only a hash hit compares labels. */
    for (;; i = (i + 1) & mask) {
        uint32_t v = db->hslots[i].id1;
        if (!v)
            return NULL;
        if (db->hslots[i].hash != hash)
            continue;
        series_t *s = db->series[v - 1];
        if (labels_equal(s, labels, n))
            return s;
    }
}

/* series.log records: [u32 len][u32 crc32c][payload]; payload is a format
 * byte (0 raw, 1 zstd) and then series entries, each varint id, varint label
 * count and the names and values as varint-length strings. One record
 * holds all series a request created, compressed together. */
static void encode_series_entry(sx_buf_t *b, uint32_t id, const sx_label_t *labels, uint32_t n)
{
    sx_buf_put_uvarint(b, id);
    sx_buf_put_uvarint(b, n);
    for (uint32_t i = 0; i < n; i++) {
        sx_buf_put_uvarint(b, labels[i].name.len);
        sx_buf_append_str(b, labels[i].name);
        sx_buf_put_uvarint(b, labels[i].value.len);
        sx_buf_append_str(b, labels[i].value);
    }
}

static void wrap_record(sx_buf_t *out, const sx_buf_t *entries)
{
    sx_buf_t comp = SX_BUF_INIT;
    sx_buf_putc(&comp, 1);
    if (entries->len < 256 || sx_zstd_compress(entries->ptr, entries->len, 3, &comp) ||
        comp.len >= entries->len) {
        sx_buf_clear(&comp);
        sx_buf_putc(&comp, 0);
        sx_buf_append(&comp, entries->ptr, entries->len);
    }
    sx_wal_frame_append(out, comp.ptr, comp.len);
    sx_buf_dispose(&comp);
}

/* Resolve every series of a batch to its registry entry, creating the
 * missing ones. New series are written to series.log with one write and one
 * fdatasync before this returns, so a WAL record may refer to their ids.
 * hashes[i] is the label hash of batch series i. On error nothing is
 * registered. */
int sx_tsdb__series_resolve(sx_tsdb_t *db, const sx_metric_batch_t *b, const uint64_t *hashes,
                            series_t **out, uint64_t *created, sx_err_t *err)
{
    size_t missing = 0;
    *created = 0;
    pthread_rwlock_rdlock(&db->reg_lock);
    for (size_t i = 0; i < b->nseries; i++) {
        /* Lookups miss the cache; start loading a later series' slot and,
         * once its slot is here, the series itself. */
        if (db->nhslots) {
            uint32_t mask = db->nhslots - 1;
            if (i + 16 < b->nseries)
                __builtin_prefetch(&db->hslots[(uint32_t)hashes[i + 16] & mask]);
            if (i + 8 < b->nseries) {
                uint32_t v = db->hslots[(uint32_t)hashes[i + 8] & mask].id1;
                if (v) {
                    __builtin_prefetch(db->series[v - 1]);
                    __builtin_prefetch((char *)db->series[v - 1] + 256);
                }
            }
        }
        out[i] = lookup(db, b->series[i].labels, b->series[i].nlabels, hashes[i]);
        missing += out[i] == NULL;
    }
    pthread_rwlock_unlock(&db->reg_lock);
    if (!missing)
        return 0;
    if (b->labels_unchecked) {
        /* Only unknown series can be invalid: every registered one passed. */
        for (size_t i = 0; i < b->nseries; i++) {
            if (out[i])
                continue;
            const sx_series_in_t *si = &b->series[i];
            if (sx_labels_validate(si->labels, si->nlabels, err))
                return sx_labels_err_wrap(err, i, si->labels, si->nlabels);
        }
    }
    pthread_rwlock_wrlock(&db->reg_lock);
    sx_buf_t rec = SX_BUF_INIT, entries = SX_BUF_INIT;
    uint32_t next = db->nseries;
    /* First pass: assign ids (a batch may name the same new series twice). */
    uint32_t *newid = sx_xmalloc(b->nseries * sizeof(uint32_t));
    for (size_t i = 0; i < b->nseries; i++) {
        newid[i] = UINT32_MAX;
        if (out[i])
            continue;
        const sx_series_in_t *si = &b->series[i];
        series_t *s = lookup(db, si->labels, si->nlabels, hashes[i]);
        if (s) {
            out[i] = s;
            continue;
        }
        for (size_t k = 0; k < i; k++)
            if (newid[k] != UINT32_MAX && hashes[k] == hashes[i] &&
                b->series[k].nlabels == si->nlabels) {
                bool same = true;
                for (uint32_t l = 0; l < si->nlabels && same; l++)
                    same = sx_str_eq(b->series[k].labels[l].name, si->labels[l].name) &&
                           sx_str_eq(b->series[k].labels[l].value, si->labels[l].value);
                if (same) {
                    newid[i] = newid[k];
                    break;
                }
            }
        if (newid[i] == UINT32_MAX) {
            newid[i] = next++;
            encode_series_entry(&entries, newid[i], si->labels, si->nlabels);
        }
    }
    int rc = 0;
    if (entries.len)
        wrap_record(&rec, &entries);
    sx_buf_dispose(&entries);
    if (rec.len) {
        rc = sx_write_full(db->series_fd, rec.ptr, rec.len);
        if (rc == 0 && fdatasync(db->series_fd) != 0)
            rc = -errno;
        if (rc) {
            if (ftruncate(db->series_fd, db->series_log_size) != 0)
                sx_log_error("tsdb", "cannot truncate series.log: %s", strerror(errno));
            sx_err_set(err, rc == -ENOSPC || rc == -EDQUOT ? SX_ENOSPC : SX_EIO,
                       "cannot write series.log: %s", strerror(-rc));
            rc = err ? err->code : SX_EIO;
        } else {
            db->series_log_size += (int64_t)rec.len;
        }
    }
    if (rc == 0) {
        for (size_t i = 0; i < b->nseries; i++) {
            if (newid[i] == UINT32_MAX)
                continue;
            bool fresh = newid[i] >= db->nseries || !db->series[newid[i]];
            out[i] = sx_tsdb__series_add(db, newid[i], b->series[i].labels, b->series[i].nlabels);
            *created += fresh;
        }
    }
    pthread_rwlock_unlock(&db->reg_lock);
    free(newid);
    sx_buf_dispose(&rec);
    return rc;
}

/* Load series.log into the registry. A torn tail (crash mid-append) is cut
 * off: those series were never referenced by an acknowledged write. */
int sx_tsdb__series_log_load(sx_tsdb_t *db, sx_err_t *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/series.log", db->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return sx_err_set(err, SX_EIO, "cannot open %s: %s", path, strerror(errno));
    sx_buf_t file = SX_BUF_INIT;
    int rrc = sx_file_read_all(path, &file);
    if (rrc) {
        close(fd);
        sx_buf_dispose(&file);
        return sx_err_set(err, SX_EIO, "cannot read %s: %s", path, strerror(-rrc));
    }
    const char *data = file.ptr;
    size_t got = file.len, off = 0;
    sx_label_t *labels = NULL;
    uint32_t lcap = 0;
    sx_buf_t plain = SX_BUF_INIT;
    for (;;) {
        const char *payload;
        uint32_t len;
        size_t fl = sx_wal_frame_parse(data + off, got - off, &payload, &len);
        if (!fl || len == 0)
            break;
        const unsigned char *p = (const unsigned char *)payload + 1, *end = p + len - 1;
        if (payload[0] == 1) {
            sx_err_t zerr;
            sx_buf_clear(&plain);
            if (sx_zstd_decompress(p, (size_t)(end - p), 1u << 30, &plain, &zerr))
                break;
            p = (const unsigned char *)plain.ptr;
            end = p + plain.len;
        } else if (payload[0] != 0) {
            break;
        }
        bool ok = true;
        while (p < end && ok) {
            uint64_t id, n;
            /* Ids are handed out densely, so a record never names an id
             * past the next free one; a larger id is corruption (and must
             * not size the series array). */
            if (sx_uvarint_next(&p, end, &id) || sx_uvarint_next(&p, end, &n) || n > 100000 ||
                id > db->nseries) {
                ok = false;
                break;
            }
            if (n > lcap) {
                lcap = (uint32_t)n;
                labels = sx_xrealloc(labels, lcap * sizeof(*labels));
            }
            for (uint64_t i = 0; i < n && ok; i++) {
                uint64_t l;
                ok = sx_uvarint_next(&p, end, &l) == 0 && l <= (uint64_t)(end - p);
                if (!ok)
                    break;
                labels[i].name = (sx_str_t){(const char *)p, l};
                p += l;
                ok = sx_uvarint_next(&p, end, &l) == 0 && l <= (uint64_t)(end - p);
                if (!ok)
                    break;
                labels[i].value = (sx_str_t){(const char *)p, l};
                p += l;
            }
            if (ok)
                sx_tsdb__series_add(db, (uint32_t)id, labels, (uint32_t)n);
        }
        if (!ok)
            break;
        off += fl;
    }
    sx_buf_dispose(&plain);
    free(labels);
    sx_buf_dispose(&file);
    if (off != got) {
        sx_log_warn("tsdb", "%s: cutting %zu bytes of torn tail", path, got - off);
        if (ftruncate(fd, (off_t)off) != 0) {
            close(fd);
            return sx_err_set(err, SX_EIO, "cannot truncate %s: %s", path, strerror(errno));
        }
    }
    db->series_fd = fd;
    db->series_log_size = (int64_t)off;
    return 0;
}

void sx_tsdb__registry_free(sx_tsdb_t *db)
{
    for (uint32_t i = 0; i < db->nseries; i++) {
        series_t *s = db->series[i];
        if (!s)
            continue;
        sx_tsdb__head_dispose(&s->head);
        sx_tsdb__head_dispose(&s->sealed);
        free(s);
    }
    free(db->series);
    free(db->hslots);
    for (uint32_t i = 0; i < db->nnames_slots; i++) {
        name_entry_t *ne = db->names[i];
        if (!ne)
            continue;
        for (uint32_t k = 0; k < ne->nslots; k++) {
            value_entry_t *v = ne->slots[k];
            if (!v)
                continue;
            free(v->p.ids);
            free(v->value);
            free(v);
        }
        free(ne->slots);
        free(ne->name);
        free(ne);
    }
    free(db->names);
    for (size_t i = 0; i < db->nmeta; i++) {
        free(db->meta[i].metric);
        free(db->meta[i].help);
        free(db->meta[i].unit);
    }
    free(db->meta);
}
