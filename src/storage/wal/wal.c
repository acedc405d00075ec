/* SPDX-License-Identifier: Apache-2.0 */
/* Segment files, group commit and replay of the write-ahead log. */
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/arena.h"
#include "../../core/buf.h"
#include "../../core/hash.h"
#include "../../core/log.h"
#include "../../core/time.h"
#include "../encoding/encoding.h"

#define MAX_RECORD (1u << 30)

typedef struct waiter {
    struct waiter *next;
    int done;
    int rc;
} waiter_t;

struct sx_wal {
    char *dir;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;
    uint32_t seg;          /* current segment number */
    int64_t seg_size;      /* bytes durable in the current segment */
    int64_t old_bytes;     /* bytes in older segments */
    sx_buf_t pend;         /* records waiting for the next group */
    waiter_t *pend_waiters;
    int syncing;
    int64_t fsyncs, fsync_ns;
};

void sx_wal_frame_append(sx_buf_t *out, const void *payload, size_t n)
{
    sx_buf_put_u32le(out, (uint32_t)n);
    sx_buf_put_u32le(out, sx_crc32c(0, payload, n));
    sx_buf_append(out, payload, n);
}

size_t sx_wal_frame_parse(const char *data, size_t len, const char **payload, uint32_t *plen)
{
    if (len < 8)
        return 0;
    uint32_t n = sx_le32(data), crc = sx_le32(data + 4);
    if (n > MAX_RECORD || n > len - 8 || sx_crc32c(0, data + 8, n) != crc)
        return 0;
    *payload = data + 8;
    *plen = n;
    return 8 + (size_t)n;
}

static int seg_path(const sx_wal_t *w, uint32_t seg, char *out, size_t n)
{
    return snprintf(out, n, "%s/%08u.wal", w->dir, seg);
}

/* Sorted list of segment numbers in the directory. */
static size_t list_segments(const char *dir, uint32_t **out)
{
    DIR *d = opendir(dir);
    size_t n = 0, cap = 0;
    *out = NULL;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned v;
        char tail[8];
        if (sscanf(e->d_name, "%8u.wa%1s", &v, tail) == 2 && strcmp(tail, "l") == 0 &&
            strlen(e->d_name) == 12) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                *out = sx_xrealloc(*out, cap * sizeof(uint32_t));
            }
            (*out)[n++] = v;
        }
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && (*out)[j - 1] > (*out)[j]; j--) {
            uint32_t t = (*out)[j];
            (*out)[j] = (*out)[j - 1];
            (*out)[j - 1] = t;
        }
    return n;
}

static int open_segment(sx_wal_t *w, uint32_t seg, sx_err_t *err)
{
    char path[4200];
    seg_path(w, seg, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return sx_err_set(err, errno == ENOSPC ? SX_ENOSPC : SX_EIO, "cannot create %s: %s", path,
                          strerror(errno));
    sx_fsync_dir(w->dir);
    w->fd = fd;
    w->seg = seg;
    w->seg_size = 0;
    return 0;
}

sx_wal_t *sx_wal_open(const char *dir, sx_err_t *err)
{
    if (sx_mkdir_p(dir)) {
        sx_err_set(err, SX_EIO, "cannot create %s: %s", dir, strerror(errno));
        return NULL;
    }
    sx_wal_t *w = sx_xcalloc(1, sizeof(*w));
    w->dir = sx_xstrdup(dir);
    w->fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    uint32_t *segs;
    size_t n = list_segments(dir, &segs);
    uint32_t next = n ? segs[n - 1] + 1 : 1;
    for (size_t i = 0; i < n; i++) {
        char path[4200];
        struct stat st;
        seg_path(w, segs[i], path, sizeof(path));
        if (stat(path, &st) == 0)
            w->old_bytes += st.st_size;
    }
    free(segs);
    if (open_segment(w, next, err)) {
        sx_wal_close(w);
        return NULL;
    }
    return w;
}

void sx_wal_close(sx_wal_t *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    sx_buf_dispose(&w->pend);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->dir);
    free(w);
}

int sx_wal_replay(sx_wal_t *w, int (*fn)(void *ctx, const char *p, size_t n), void *ctx)
{
    uint32_t *segs;
    size_t nseg = list_segments(w->dir, &segs);
    int rc = 0;
    for (size_t i = 0; i < nseg && rc == 0; i++) {
        if (segs[i] >= w->seg)
            continue;
        char path[4200];
        seg_path(w, segs[i], path, sizeof(path));
        sx_buf_t data = SX_BUF_INIT;
        if (sx_file_read_all(path, &data)) {
            sx_buf_dispose(&data);
            continue;
        }
        size_t off = 0, records = 0, got = data.len;
        for (;;) {
            const char *payload;
            uint32_t len;
            size_t fl = sx_wal_frame_parse(data.ptr + off, got - off, &payload, &len);
            if (!fl)
                break;
            rc = fn(ctx, payload, len);
            if (rc)
                break;
            off += fl;
            records++;
        }
        if (rc == 0 && off != got)
            sx_log_warn("wal", "segment %s: ignoring %zu bytes of torn or corrupt tail after %zu records",
                        path, got - off, records);
        sx_buf_dispose(&data);
    }
    free(segs);
    return rc;
}

/* Write the pending group and fdatasync; called by the leader without the
 * lock. On failure the segment is cut back to its last durable size. */
static int write_group(sx_wal_t *w, const char *p, size_t n, int64_t *size, sx_err_t *err)
{
    int rc = sx_write_full(w->fd, p, n);
    int64_t t0 = sx_mono_ns();
    if (rc == 0 && fdatasync(w->fd) != 0)
        rc = -errno;
    w->fsync_ns += sx_mono_ns() - t0;
    w->fsyncs++;
    if (rc) {
        if (ftruncate(w->fd, *size) != 0)
            sx_log_error("wal", "cannot truncate segment after a failed write: %s", strerror(errno));
        return sx_err_set(err, rc == -ENOSPC || rc == -EDQUOT ? SX_ENOSPC : SX_EIO,
                          "cannot write the write-ahead log: %s", strerror(-rc));
    }
    *size += (int64_t)n;
    return 0;
}

int sx_wal_commit(sx_wal_t *w, const void *payload, size_t n, sx_err_t *err)
{
    if (n > MAX_RECORD)
        return sx_err_set(err, SX_ETOOLARGE, "write-ahead log record of %zu bytes is too large", n);
    waiter_t me = {0};
    pthread_mutex_lock(&w->mu);
    sx_wal_frame_append(&w->pend, payload, n);
    me.next = w->pend_waiters;
    w->pend_waiters = &me;
    sx_err_t gerr;
    while (!me.done) {
        if (!w->syncing) {
            /* Lead a group: take everything pending and make it durable. */
            sx_buf_t group = w->pend;
            waiter_t *ws = w->pend_waiters;
            w->pend = SX_BUF_INIT;
            w->pend_waiters = NULL;
            w->syncing = 1;
            int64_t size = w->seg_size;
            pthread_mutex_unlock(&w->mu);
            sx_err_clear(&gerr);
            int rc = write_group(w, group.ptr, group.len, &size, &gerr);
            pthread_mutex_lock(&w->mu);
            w->seg_size = size;
            w->syncing = 0;
            for (waiter_t *x = ws; x; x = x->next) {
                x->rc = rc;
                x->done = 1;
            }
            if (rc && err && me.done)
                *err = gerr;
            sx_buf_dispose(&group);
            pthread_cond_broadcast(&w->cv);
        } else {
            pthread_cond_wait(&w->cv, &w->mu);
        }
    }
    pthread_mutex_unlock(&w->mu);
    if (me.rc && err && err->code != me.rc)
        sx_err_set(err, me.rc, "cannot write the write-ahead log: %s", sx_strerror(me.rc));
    return me.rc;
}

int sx_wal_rotate(sx_wal_t *w, uint32_t *sealed, sx_err_t *err)
{
    pthread_mutex_lock(&w->mu);
    while (w->syncing)
        pthread_cond_wait(&w->cv, &w->mu);
    SX_ASSERT(w->pend.len == 0);
    int oldfd = w->fd;
    uint32_t old = w->seg;
    int64_t oldsize = w->seg_size;
    int rc = open_segment(w, old + 1, err);
    if (rc == 0) {
        close(oldfd);
        w->old_bytes += oldsize;
        *sealed = old;
    } else {
        w->fd = oldfd;
        w->seg = old;
        w->seg_size = oldsize;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void sx_wal_remove_upto(sx_wal_t *w, uint32_t upto)
{
    uint32_t *segs;
    size_t n = list_segments(w->dir, &segs);
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        if (segs[i] > upto || segs[i] >= w->seg)
            continue;
        char path[4200];
        struct stat st;
        seg_path(w, segs[i], path, sizeof(path));
        if (stat(path, &st) == 0)
            w->old_bytes -= st.st_size;
        unlink(path);
    }
    if (w->old_bytes < 0)
        w->old_bytes = 0;
    pthread_mutex_unlock(&w->mu);
    free(segs);
    sx_fsync_dir(w->dir);
}

void sx_wal_stats(sx_wal_t *w, sx_wal_stats_t *out)
{
    pthread_mutex_lock(&w->mu);
    out->bytes = w->old_bytes + w->seg_size;
    out->fsyncs = w->fsyncs;
    out->fsync_ns = w->fsync_ns;
    pthread_mutex_unlock(&w->mu);
}
