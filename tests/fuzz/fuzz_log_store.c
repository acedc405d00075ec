/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the log store's own files, read back from a data directory
 * that a crash or a bad disk may have damaged. The input is a sequence of
 * sections [u8 kind][u32le length][bytes]; kind picks the file: 0
 * streams.log, 1 a write-ahead log segment, 2 a part file. The store is
 * opened (replaying the log), every stream is selected and read (with and
 * without a bloom hint and key, both directions), then flushed, compacted
 * and closed. The store has the trace store's line codec, so part files
 * may hold span columns and a key index. Nothing may crash, leak or allocate in proportion to a length
 * field that the data does not back. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"
#include "core/time.h"
#include "storage/logs/logstore_store.h"
#include "storage/traces/spancol.h"
#include "storage/traces/spanrec.h"

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(p, 1, n, f);
    fclose(f);
}

static int count_block(void *ctx, const sx_log_block_t *b)
{
    size_t *n = ctx;
    for (size_t i = 0; i < b->n; i++)
        *n += b->lines ? b->lines[i].len : 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *names[] = {"streams.log", "wal/00000001.wal",
                                  "parts/00000000000000000001.lpart"};
    char dir[] = "/tmp/sx-fuzz-logs-XXXXXX";
    if (!mkdtemp(dir))
        return 0;
    sx_log_set_level(99);
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/wal", dir);
    sx_mkdir_p(sub);
    snprintf(sub, sizeof(sub), "%s/parts", dir);
    sx_mkdir_p(sub);
    size_t off = 0;
    while (off + 5 <= size) {
        unsigned kind = data[off] % 3;
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
    static const sx_log_line_codec_t codec = {sx_spancol_encode, sx_spancol_decode,
                                              sx_spanrec_key, true};
    sx_logstore_opts_t o = {0, 0, 1, 0, NULL, &codec};
    sx_err_t err;
    sx_logstore_t *ls = sx_logstore__open(dir, &o, &err);
    if (ls) {
        sx_arena_t a;
        sx_arena_init(&a);
        sx_log_stream_t *st;
        size_t n;
        sx_logstore_select(ls, NULL, 0, INT64_MIN, INT64_MAX, &a, &st, &n);
        sx_str_t needle = SX_STR_LIT("error");
        sx_str_t value = SX_STR_LIT("api");
        sx_log_hint_t hint = {&needle, 1, SX_STR_LIT("0102030405060708090a0b0c0d0e0f10"), &value,
                              1};
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
            sx_logstore_read(ls, st[i].id, INT64_MIN, INT64_MAX,
                             SX_LOGREAD_LINES | SX_LOGREAD_META, NULL, count_block, &total, NULL);
            sx_logstore_read(ls, st[i].id, INT64_MIN, INT64_MAX,
                             SX_LOGREAD_LINES | SX_LOGREAD_BACKWARD, &hint, count_block, &total,
                             NULL);
        }
        sx_log_index_stats_t is;
        sx_logstore_index_stats(ls, NULL, 0, INT64_MIN, INT64_MAX, &is);
        sx_str_t *names_out;
        sx_logstore_label_names(ls, NULL, 0, INT64_MIN, INT64_MAX, &a, &names_out, &n);
        sx_logstore_flush(ls);
        sx_logstore__maintain(ls, sx_now_ms(), 0, 0);
        sx_arena_dispose(&a);
        sx_logstore__close(ls);
    }
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 0;
    return 0;
}
