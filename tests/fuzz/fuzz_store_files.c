/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the metric store's own file formats, read back from a data
 * directory that a crash or a bad disk may have damaged. The input is a
 * sequence of sections [u8 kind][u32le length][bytes]; kind picks the file:
 * 0 series.log, 1 a write-ahead log segment, 2 a part, 3 metadata.snap.
 * The store is opened (replaying everything), every series is selected and
 * read, and the store is flushed and closed. Nothing may crash, leak or
 * allocate in proportion to a length field that the data does not back. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"
#include "storage/tsdb/tsdb_int.h"

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(p, 1, n, f);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *names[] = {"series.log", "wal/00000001.wal", "parts/0/00000001.part",
                                  "metadata.snap"};
    char dir[] = "/tmp/sx-fuzz-store-XXXXXX";
    if (!mkdtemp(dir))
        return 0;
    sx_log_set_level(99);
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/wal", dir);
    sx_mkdir_p(sub);
    snprintf(sub, sizeof(sub), "%s/parts/0", dir);
    sx_mkdir_p(sub);
    size_t off = 0;
    while (off + 5 <= size) {
        unsigned kind = data[off] % 4;
        uint32_t len = (uint32_t)data[off + 1] | (uint32_t)data[off + 2] << 8 |
                       (uint32_t)data[off + 3] << 16 | (uint32_t)data[off + 4] << 24;
        off += 5;
        if (len > size - off)
            len = (uint32_t)(size - off);
        char path[300];
        snprintf(path, sizeof(path), "%s/%s", dir, names[kind]);
        write_file(path, data + off, len);
        off += len;
    }
    sx_tsdb_opts_t o = {0, 3600000, 0};
    sx_err_t err;
    sx_tsdb_t *db = sx_tsdb__open(dir, &o, &err);
    if (db) {
        sx_arena_t a;
        sx_arena_init(&a);
        sx_series_set_t set;
        sx_tsdb_select(db, NULL, 0, INT64_MIN, INT64_MAX, &a, &set);
        for (size_t i = 0; i < set.n; i++) {
            sx_series_data_t d;
            sx_tsdb_series_read(db, set.ids[i], INT64_MIN, INT64_MAX, &a, &d);
        }
        sx_metric_meta_t *meta;
        size_t nmeta;
        sx_tsdb_metadata(db, (sx_str_t){"", 0}, 0, &a, &meta, &nmeta);
        sx_tsdb_flush(db);
        sx_arena_dispose(&a);
        sx_tsdb__close(db);
    }
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        abort();
    return 0;
}
