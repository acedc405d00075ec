/* SPDX-License-Identifier: Apache-2.0 */
/* What the storage front door (storage.c) needs of a log store: opening,
 * closing, background maintenance and figures. Not for other callers. */
#ifndef SX_STORAGE_LOGS_LOGSTORE_STORE_H
#define SX_STORAGE_LOGS_LOGSTORE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "logstore.h"

/* Open (creating if needed) the store in dir, replaying its log. */
sx_logstore_t *sx_logstore__open(const char *dir, const sx_logstore_opts_t *opts, sx_err_t *err);
/* Close without flushing: the write-ahead log keeps the head. */
void sx_logstore__close(sx_logstore_t *ls);
/* Flush a head that is old or big, compact days with many parts, and drop
 * parts past the retention (age) or over max_bytes (oldest first). */
void sx_logstore__maintain(sx_logstore_t *ls, int64_t now_ms, int64_t head_flush_ms,
                           int64_t max_bytes);

typedef struct sx_logstore_stats {
    int64_t streams, head_entries, head_bytes, appended, appended_bytes, dropped_retention;
    int64_t compactions, parts, part_bytes, part_raw_bytes, wal_bytes;
} sx_logstore_stats_t;
/* Add this store's figures to st. */
void sx_logstore__stats(sx_logstore_t *ls, sx_logstore_stats_t *st);

#endif
