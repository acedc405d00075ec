/* SPDX-License-Identifier: Apache-2.0 */
/* The data directory: one store per tenant, opened lazily and kept for the
 * life of the process, and the background thread that flushes heads by
 * age, compacts parts and applies retention. */
#include "storage.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../core/arena.h"
#include "../core/log.h"
#include "../core/time.h"
#include "logs/logstore_store.h"
#include "traces/spancol.h"
#include "traces/spanrec.h"
#include "tsdb/tsdb_int.h"
#include "wal/wal.h"

#define MAX_TENANTS 4096

typedef struct tenant {
    char *name;
    sx_tsdb_t *tsdb;
    _Atomic(sx_logstore_t *) logs[SX_LOG_KINDS];
} tenant_t;

static const char *const log_dirs[SX_LOG_KINDS] = {"logs", "events", "auditing", "traces"};

struct sx_storage {
    sx_storage_opts_t opts;
    char *dir;
    pthread_rwlock_t lock;
    tenant_t *tenants;
    size_t ntenants;
    pthread_t bg;
    pthread_mutex_t bg_mu;
    pthread_cond_t bg_cv;
    bool stop;
    /* Log heads that fill up are flushed by their own thread, so that a
     * long compaction on the background thread never holds them back. */
    pthread_t flusher;
    pthread_cond_t flush_cv;
    bool flush_kicked;
    _Atomic int64_t free_cache;     /* bytes */
    _Atomic int64_t free_cache_at;  /* ms */
};

static bool tenant_name_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 64 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* Spans are stored by column, each chunk's records cut into fields, and
 * parts index which chunks hold each trace id. */
static const sx_log_line_codec_t span_columns = {sx_spancol_encode, sx_spancol_decode,
                                                 sx_spanrec_key, true};

static sx_logstore_t *open_logstore(sx_storage_t *s, const char *dir, int kind, sx_err_t *err)
{
    sx_logstore_opts_t o = {s->opts.retention_ms, s->opts.min_free_bytes, 0, 0, NULL};
    /* Spans are looked up by trace id and never by another needle (trace
     * searches scan), so their filters hold only the trace id's grams,
     * about 10 a span, in a quarter of the bits of a log store's. */
    if (kind == SX_TRACES) {
        o.bloom_bytes_per_bit = 32;
        o.bloom_extent = sx_spanrec_bloom_extent;
        o.zstd_level = 6;
        o.line_codec = &span_columns;
    }
    return sx_logstore__open(dir, &o, err);
}

static void close_tenant(tenant_t *t)
{
    sx_tsdb__close(t->tsdb);
    for (int k = 0; k < SX_LOG_KINDS; k++)
        sx_logstore__close(atomic_load(&t->logs[k]));
    free(t->name);
}

static sx_tsdb_t *open_tenant(sx_storage_t *s, const char *tenant, sx_err_t *err)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/tenants/%s/tsdb", s->dir, tenant);
    sx_tsdb_opts_t o = {s->opts.retention_ms, s->opts.ooo_window_ms, s->opts.min_free_bytes};
    sx_tsdb_t *db = sx_tsdb__open(dir, &o, err);
    if (!db)
        return NULL;
    /* Tenants are never removed, so the array only grows; log stores are
     * reached through it under the lock. */
    s->tenants = sx_xrealloc(s->tenants, (s->ntenants + 1) * sizeof(tenant_t));
    tenant_t *t = &s->tenants[s->ntenants++];
    memset(t, 0, sizeof(*t));
    t->name = sx_xstrdup(tenant);
    t->tsdb = db;
    for (int k = 0; k < SX_LOG_KINDS; k++) {
        char ldir[4200];
        snprintf(ldir, sizeof(ldir), "%s/tenants/%s/%s", s->dir, tenant, log_dirs[k]);
        if (access(ldir, F_OK) != 0)
            continue;
        sx_logstore_t *ls = open_logstore(s, ldir, k, err);
        if (!ls)
            return NULL;
        atomic_store(&t->logs[k], ls);
    }
    return db;
}

static void *bg_main(void *arg)
{
    sx_storage_t *s = arg;
    pthread_mutex_lock(&s->bg_mu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 10;
        pthread_cond_timedwait(&s->bg_cv, &s->bg_mu, &ts);
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->bg_mu);
        pthread_rwlock_rdlock(&s->lock);
        size_t n = s->ntenants;
        int64_t per_tenant = s->opts.retention_max_bytes && n ? s->opts.retention_max_bytes / (int64_t)n : 0;
        for (size_t i = 0; i < n; i++) {
            sx_tsdb__maintain(s->tenants[i].tsdb, sx_now_ms(), s->opts.head_flush_ms, per_tenant);
            for (int k = 0; k < SX_LOG_KINDS; k++) {
                sx_logstore_t *ls = atomic_load(&s->tenants[i].logs[k]);
                if (ls)
                    sx_logstore__maintain(ls, sx_now_ms(), s->opts.head_flush_ms, per_tenant);
            }
        }
        pthread_rwlock_unlock(&s->lock);
        pthread_mutex_lock(&s->bg_mu);
    }
    pthread_mutex_unlock(&s->bg_mu);
    return NULL;
}

static void *flusher_main(void *arg)
{
    sx_storage_t *s = arg;
    pthread_mutex_lock(&s->bg_mu);
    while (!s->stop) {
        if (!s->flush_kicked) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&s->flush_cv, &s->bg_mu, &ts);
        }
        s->flush_kicked = false;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->bg_mu);
        pthread_rwlock_rdlock(&s->lock);
        for (size_t i = 0; i < s->ntenants; i++)
            for (int k = 0; k < SX_LOG_KINDS; k++) {
                sx_logstore_t *ls = atomic_load(&s->tenants[i].logs[k]);
                if (ls && sx_logstore_head_full(ls))
                    sx_logstore_flush(ls);
            }
        pthread_rwlock_unlock(&s->lock);
        pthread_mutex_lock(&s->bg_mu);
    }
    pthread_mutex_unlock(&s->bg_mu);
    return NULL;
}

sx_storage_t *sx_storage_open(const sx_storage_opts_t *opts, sx_err_t *err)
{
    sx_storage_t *s = sx_xcalloc(1, sizeof(*s));
    s->opts = *opts;
    s->dir = sx_xstrdup(opts->data_dir);
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->bg_mu, NULL);
    pthread_cond_init(&s->bg_cv, NULL);
    pthread_cond_init(&s->flush_cv, NULL);
    char tdir[4200];
    snprintf(tdir, sizeof(tdir), "%s/tenants", s->dir);
    if (sx_mkdir_p(tdir)) {
        sx_err_set(err, SX_EIO, "cannot create data directory %s: %s", tdir, strerror(errno));
        goto fail;
    }
    DIR *d = opendir(tdir);
    if (!d) {
        sx_err_set(err, SX_EIO, "cannot open %s: %s", tdir, strerror(errno));
        goto fail;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!tenant_name_ok(e->d_name))
            continue;
        if (!open_tenant(s, e->d_name, err)) {
            closedir(d);
            goto fail;
        }
    }
    closedir(d);
    pthread_create(&s->bg, NULL, bg_main, s);
    pthread_create(&s->flusher, NULL, flusher_main, s);
    return s;
fail:
    for (size_t i = 0; i < s->ntenants; i++)
        close_tenant(&s->tenants[i]);
    free(s->tenants);
    free(s->dir);
    free(s);
    return NULL;
}

void sx_storage_close(sx_storage_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->bg_mu);
    s->stop = true;
    pthread_cond_signal(&s->bg_cv);
    pthread_cond_signal(&s->flush_cv);
    pthread_mutex_unlock(&s->bg_mu);
    pthread_join(s->bg, NULL);
    pthread_join(s->flusher, NULL);
    for (size_t i = 0; i < s->ntenants; i++)
        close_tenant(&s->tenants[i]);
    free(s->tenants);
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->bg_mu);
    pthread_cond_destroy(&s->bg_cv);
    pthread_cond_destroy(&s->flush_cv);
    free(s->dir);
    free(s);
}

sx_tsdb_t *sx_storage_tsdb_peek(sx_storage_t *s, const char *tenant)
{
    sx_tsdb_t *db = NULL;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->ntenants; i++)
        if (strcmp(s->tenants[i].name, tenant) == 0)
            db = s->tenants[i].tsdb;
    pthread_rwlock_unlock(&s->lock);
    return db;
}

sx_tsdb_t *sx_storage_tsdb(sx_storage_t *s, const char *tenant, sx_err_t *err)
{
    sx_tsdb_t *db = sx_storage_tsdb_peek(s, tenant);
    if (db)
        return db;
    if (!tenant_name_ok(tenant)) {
        sx_err_set(err, SX_EINVAL, "invalid tenant name \"%s\"", tenant);
        return NULL;
    }
    pthread_rwlock_wrlock(&s->lock);
    for (size_t i = 0; i < s->ntenants && !db; i++)
        if (strcmp(s->tenants[i].name, tenant) == 0)
            db = s->tenants[i].tsdb;
    if (!db) {
        if (s->ntenants >= MAX_TENANTS)
            sx_err_set(err, SX_ELIMIT, "too many tenants");
        else
            db = open_tenant(s, tenant, err);
    }
    pthread_rwlock_unlock(&s->lock);
    return db;
}

sx_logstore_t *sx_storage_logs_peek(sx_storage_t *s, const char *tenant, int kind)
{
    sx_logstore_t *ls = NULL;
    if (kind < 0 || kind >= SX_LOG_KINDS)
        return NULL;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->ntenants; i++)
        if (strcmp(s->tenants[i].name, tenant) == 0)
            ls = atomic_load(&s->tenants[i].logs[kind]);
    pthread_rwlock_unlock(&s->lock);
    return ls;
}

sx_logstore_t *sx_storage_logs(sx_storage_t *s, const char *tenant, int kind, sx_err_t *err)
{
    sx_logstore_t *ls = sx_storage_logs_peek(s, tenant, kind);
    if (ls)
        return ls;
    if (kind < 0 || kind >= SX_LOG_KINDS) {
        sx_err_set(err, SX_EINVAL, "invalid log store kind %d", kind);
        return NULL;
    }
    /* The tenant's metric store makes the tenant (and its directory). */
    if (!sx_storage_tsdb(s, tenant, err))
        return NULL;
    pthread_rwlock_wrlock(&s->lock);
    for (size_t i = 0; i < s->ntenants && !ls; i++) {
        tenant_t *t = &s->tenants[i];
        if (strcmp(t->name, tenant) != 0)
            continue;
        ls = atomic_load(&t->logs[kind]);
        if (!ls) {
            char ldir[4200];
            snprintf(ldir, sizeof(ldir), "%s/tenants/%s/%s", s->dir, tenant, log_dirs[kind]);
            ls = open_logstore(s, ldir, kind, err);
            if (ls)
                atomic_store(&t->logs[kind], ls);
            break;
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return ls;
}

void sx_storage_kick(sx_storage_t *s)
{
    pthread_mutex_lock(&s->bg_mu);
    s->flush_kicked = true;
    pthread_cond_signal(&s->flush_cv);
    pthread_mutex_unlock(&s->bg_mu);
}

int sx_storage_flush(sx_storage_t *s)
{
    int rc = 0;
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->ntenants; i++) {
        int r = sx_tsdb_flush(s->tenants[i].tsdb);
        if (r && !rc)
            rc = r;
        for (int k = 0; k < SX_LOG_KINDS; k++) {
            sx_logstore_t *ls = atomic_load(&s->tenants[i].logs[k]);
            if (ls && (r = sx_logstore_flush(ls)) && !rc)
                rc = r;
        }
    }
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

int64_t sx_storage_free_bytes(sx_storage_t *s)
{
    int64_t now = sx_now_ms();
    if (now - s->free_cache_at < 1000)
        return s->free_cache;
    struct statvfs st;
    if (statvfs(s->dir, &st) != 0)
        return INT64_MAX;
    int64_t v = (int64_t)st.f_bavail * (int64_t)st.f_frsize;
    s->free_cache = v;
    s->free_cache_at = now;
    return v;
}

void sx_storage_stats(sx_storage_t *s, sx_storage_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&s->lock);
    out->tenants = (int64_t)s->ntenants;
    sx_logstore_stats_t ls = {0};
    for (size_t i = 0; i < s->ntenants; i++) {
        sx_tsdb__stats(s->tenants[i].tsdb, out);
        for (int k = 0; k < SX_LOG_KINDS; k++) {
            sx_logstore_t *l = atomic_load(&s->tenants[i].logs[k]);
            if (l)
                sx_logstore__stats(l, &ls);
        }
    }
    pthread_rwlock_unlock(&s->lock);
    out->log_streams = ls.streams;
    out->log_head_entries = ls.head_entries;
    out->log_entries_appended = ls.appended;
    out->log_bytes_appended = ls.appended_bytes;
    out->log_dropped_retention = ls.dropped_retention;
    out->log_parts = ls.parts;
    out->log_part_bytes = ls.part_bytes;
    out->log_part_raw_bytes = ls.part_raw_bytes;
    out->log_wal_bytes = ls.wal_bytes;
    out->log_compactions = ls.compactions;
}
