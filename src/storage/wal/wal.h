/* SPDX-License-Identifier: Apache-2.0 */
/* Write-ahead log with group commit. Records are appended to numbered
 * segment files (<dir>/<n>.wal) as [u32 len][u32 crc32c][payload]; a commit
 * returns only after its record is written and fdatasync'd, and concurrent
 * commits share one write and one fdatasync (the first waiter leads). On
 * failure the segment is truncated back, so a failed commit leaves nothing
 * that replay would apply. */
#ifndef SX_STORAGE_WAL_WAL_H
#define SX_STORAGE_WAL_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/buf.h"
#include "../../core/error.h"
#include "../../core/file.h"

typedef struct sx_wal sx_wal_t;

typedef struct sx_wal_stats {
    int64_t bytes;      /* bytes in all live segments */
    int64_t fsyncs;
    int64_t fsync_ns;   /* total time in fdatasync */
} sx_wal_stats_t;

/* Open the log in dir (created if needed). Appends go to a new segment
 * after the existing ones, which stay for replay. NULL + err on failure. */
sx_wal_t *sx_wal_open(const char *dir, sx_err_t *err);
void sx_wal_close(sx_wal_t *w);

/* Call fn for every intact record of every segment, oldest first. A torn or
 * corrupt tail ends a segment (it is what a crash mid-write leaves); it is
 * logged and skipped. fn returning non-zero stops replay with that code. */
int sx_wal_replay(sx_wal_t *w, int (*fn)(void *ctx, const char *p, size_t n), void *ctx);

/* Append one record and wait until it is durable. Returns 0, SX_ENOSPC or
 * SX_EIO (err filled); on error the record is not in the log. */
int sx_wal_commit(sx_wal_t *w, const void *payload, size_t n, sx_err_t *err);

/* Start a new segment; *sealed receives the number of the last segment
 * that holds only records written before this call. The caller must ensure
 * no commit is in progress. */
int sx_wal_rotate(sx_wal_t *w, uint32_t *sealed, sx_err_t *err);
/* Delete segments numbered <= upto (their records are durable elsewhere). */
void sx_wal_remove_upto(sx_wal_t *w, uint32_t upto);

void sx_wal_stats(sx_wal_t *w, sx_wal_stats_t *out);

/* Record framing, shared with series.log: [u32 len][u32 crc32c][payload].
 * Append one framed record to out (may reallocate out). */
void sx_wal_frame_append(sx_buf_t *out, const void *payload, size_t n);
/* Parse the frame at data[0..len): set *payload and *plen and return the
 * frame's whole size, or return 0 if the rest is torn or fails its
 * checksum (what a crash mid-append leaves). */
size_t sx_wal_frame_parse(const char *data, size_t len, const char **payload, uint32_t *plen);

#endif
