/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the tsdb files only (never include from outside
 * src/storage/tsdb/). Locking order: db->append_lock, then db->reg_lock,
 * then a series stripe lock, then db->parts_lock. */
#ifndef SX_STORAGE_TSDB_TSDB_INT_H
#define SX_STORAGE_TSDB_TSDB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "../../core/buf.h"
#include "../encoding/encoding.h"
#include "../wal/wal.h"
#include "../storage.h"
#include "tsdb.h"

#define NSTRIPES 1024
#define DAY_MS 86400000LL

/* ---- Head: the in-memory recent samples of one series ---- */

typedef struct hist_entry {
    int64_t ts;
    uint32_t len;
    char *blob; /* malloc'd */
} hist_entry_t;

/* In-order samples per head chunk: a read of the last minutes decodes
 * at most this many samples before its window (Prometheus cuts its head
 * chunks at 120 too). */
#define SX_TSDB_HEAD_CHUNK_SAMPLES 120u

/* Ids the selection cache holds in all: 16 MiB. */
#define SX_TSDB_SEL_MAX_IDS (4u << 20)

typedef struct head {
    sx_xchunk_t xc;         /* in-order samples (the newest ones) */
    sx_xchunk_t *full;      /* older chunks that filled up, oldest first */
    uint32_t nfull;
    uint32_t nxc;           /* in-order samples in all chunks */
    int64_t last_ts;        /* newest sample in xc */
    uint64_t last_bits;     /* its value's bits, for duplicate detection */
    sx_sample_t *ooo;       /* out-of-order samples, in arrival order */
    uint32_t nooo, oooc;
    hist_entry_t *hists;    /* histogram samples, in arrival order */
    uint32_t nh, hc;
} head_t;

/* ---- Series registry ---- */

typedef struct series {
    uint64_t hash;
    uint32_t id;
    uint32_t nlabels;
    sx_label_t *labels;     /* right after the struct, then the label bytes (one malloc) */
    int64_t mint, maxt;     /* over all stored data, ms; mint > maxt when empty */
    head_t head;            /* guarded by the stripe lock of id */
    head_t sealed;          /* head being written to a part by a flush */
} series_t;

typedef struct postings {
    uint32_t *ids;          /* ascending */
    uint32_t n, cap;
} postings_t;

typedef struct value_entry {
    char *value;
    uint32_t len;
    postings_t p;
} value_entry_t;

typedef struct name_entry {
    char *name;
    uint32_t len;
    value_entry_t **slots;  /* open addressing by value hash */
    uint32_t nslots, nvalues;
} name_entry_t;

/* ---- Parts: immutable files of one day partition ---- */

typedef struct part_series {
    uint32_t id;
    uint32_t block;
    uint32_t off;           /* offset of the series' data in the block */
    uint32_t flen;          /* float chunk bytes */
    uint32_t hlen;          /* histogram section bytes */
    uint32_t n;             /* float samples */
    int64_t mint, maxt;
} part_series_t;

typedef struct part_block {
    uint64_t off;
    uint32_t clen, rlen;
} part_block_t;

typedef struct part {
    _Atomic int refs;
    uint64_t uid;           /* unique per process, for block caches */
    int64_t day;            /* partition: floor(ts / DAY_MS) */
    uint32_t seq;
    char *path;
    int fd;
    int64_t mint, maxt;
    int64_t bytes;
    int64_t created_ms;
    uint32_t nseries;
    part_series_t *series;  /* sorted by id */
    uint32_t nblocks;
    part_block_t *blocks;
    bool deleted;           /* unlink the file on last unref */
} part_t;

/* ---- The store ---- */

typedef struct meta_entry {
    char *metric, *help, *unit;
    int type;
} meta_entry_t;

struct sx_tsdb {
    char *dir;
    sx_tsdb_opts_t opts;
    sx_wal_t *wal;
    int series_fd;          /* series.log, append-only */
    int64_t series_log_size;

    /* Appenders hold it shared across WAL commit and head apply; a flush
     * holds it exclusively to rotate the WAL and swap heads. */
    pthread_rwlock_t append_lock;
    pthread_mutex_t flush_mu; /* one flush or compaction at a time */

    pthread_rwlock_t reg_lock;
    series_t **series;      /* by id */
    uint32_t nseries, seriescap;
    struct hslot { uint64_t hash; uint32_t id1; } *hslots; /* series hash -> id+1 (0 = free) */
    uint32_t nhslots;
    name_entry_t **names;   /* label name index, open addressing */
    uint32_t nnames_slots, nnames;
    meta_entry_t *meta;
    size_t nmeta, metacap;

    pthread_mutex_t stripes[NSTRIPES];

    /* Registry changes (series added), for the selection cache; written
     * under reg_lock held exclusively. */
    uint64_t series_gen;
    pthread_mutex_t sel_mu;
    struct sel_entry *sel;  /* SEL_CACHE_ENTRIES, least recently used evicted */
    size_t sel_ids;         /* ids held by all entries */
    size_t sel_max_ids;     /* SX_TSDB_SEL_MAX_IDS (a test lowers it) */
    uint64_t sel_tick;

    pthread_rwlock_t parts_lock;
    part_t **parts;         /* sorted by (day, seq) */
    size_t nparts, partscap;
    uint32_t next_part_seq;

    int64_t last_flush_ms;
    _Atomic int64_t head_samples;
    _Atomic int64_t appended, dropped_ooo, dropped_ret, dropped_dup, compactions;
};

/* registry.c */
int sx_tsdb__series_resolve(sx_tsdb_t *db, const sx_metric_batch_t *b, const uint64_t *hashes,
                            series_t **out, uint64_t *created, sx_err_t *err);
series_t *sx_tsdb__series_add(sx_tsdb_t *db, uint32_t id, const sx_label_t *labels, uint32_t n);
int sx_tsdb__series_log_load(sx_tsdb_t *db, sx_err_t *err);
void sx_tsdb__registry_free(sx_tsdb_t *db);
int sx_tsdb__labels_cmp(const series_t *a, const series_t *b);
const postings_t *sx_tsdb__postings(sx_tsdb_t *db, sx_str_t name, sx_str_t value);
name_entry_t *sx_tsdb__name_find(sx_tsdb_t *db, sx_str_t name);

/* head.c */
void sx_tsdb__head_dispose(head_t *h);
/* Append one sample; returns 1 appended, 0 dropped as duplicate. */
int sx_tsdb__head_append(head_t *h, int64_t ts, double v);
void sx_tsdb__head_append_hist(head_t *h, int64_t ts, const char *blob, uint32_t len);
/* Samples of a head in [mint, maxt] appended to out arrays (unsorted
 * between the in-order and out-of-order parts). */
typedef struct sample_vec {
    int64_t *ts;
    double *v;
    size_t n, cap;
} sample_vec_t;
void sx_tsdb__vec_push(sample_vec_t *sv, int64_t ts, double v);
/* Room for at least more samples past sv->n. */
void sx_tsdb__vec_reserve(sample_vec_t *sv, size_t more);
void sx_tsdb__head_collect(const head_t *h, int64_t mint, int64_t maxt, sample_vec_t *out);
/* Sort by time; on equal times keep the later element. */
void sx_tsdb__vec_sort_dedup(sample_vec_t *sv);

/* part.c */
typedef struct part_writer part_writer_t;
part_writer_t *sx_tsdb__part_writer_create(sx_tsdb_t *db, int64_t day, sx_err_t *err);
/* Add one series (called in the order the file should hold them). */
int sx_tsdb__part_writer_add(part_writer_t *pw, uint32_t id, const int64_t *ts, const double *v,
                             size_t n, const hist_entry_t *h, size_t nh, sx_err_t *err);
/* Finish, fsync and rename into place; returns the opened part. */
part_t *sx_tsdb__part_writer_finish(part_writer_t *pw, sx_err_t *err);
void sx_tsdb__part_writer_abort(part_writer_t *pw);
part_t *sx_tsdb__part_open(const char *path, int64_t day, uint32_t seq, sx_err_t *err);
void sx_tsdb__part_unref(part_t *p);
/* Read a series' samples in [mint, maxt] from a part into out; histogram
 * samples (if hout) are copied into the arena. */
int sx_tsdb__part_read(part_t *p, uint32_t id, int64_t mint, int64_t maxt, sample_vec_t *out,
                       sx_arena_t *a, sx_hist_sample_t **hout, size_t *nh, size_t *hcap,
                       sx_err_t *err);

/* tsdb.c, for storage.c */
sx_tsdb_t *sx_tsdb__open(const char *dir, const sx_tsdb_opts_t *opts, sx_err_t *err);
void sx_tsdb__close(sx_tsdb_t *db);
void sx_tsdb__maintain(sx_tsdb_t *db, int64_t now, int64_t head_flush_ms, int64_t max_bytes);
void sx_tsdb__stats(sx_tsdb_t *db, sx_storage_stats_t *st);

#endif
