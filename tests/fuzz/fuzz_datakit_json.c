/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the DataKit JSON write decoder (src/ingest/
 * datakit_json.c), in plain and DataKit-constraint modes. Besides
 * surviving any input, a successful decode must give series that pass
 * sx_labels_validate with one sample each, and a failed one must leave
 * the batch empty with a message, or the target aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/ingest.h"
#include "model/metric.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_decode(sx_arena_t *a, const char *buf, size_t len, bool datakit)
{
    sx_metric_batch_t batch;
    sx_err_t err;
    sx_lp_opts_t opts = {
        .precision_ns = datakit ? 1000000 : 1,
        .now_ns = 1700000000000000000LL,
        .extra_label = SX_STR_LIT("db"),
        .extra_value = SX_STR_LIT("fuzz"),
        .datakit = datakit,
    };
    sx_metric_batch_init(&batch, a);
    sx_err_clear(&err);
    int rc = sx_datakit_json_decode(buf, len, &opts, &batch, &err);
    if (rc < 0) {
        check(err.msg[0] != '\0' && batch.nseries == 0 && batch.nsamples == 0);
        return;
    }
    check(rc == 0);
    for (size_t i = 0; i < batch.nseries; i++) {
        const sx_series_in_t *s = &batch.series[i];
        check(sx_labels_validate(s->labels, s->nlabels, &err) == 0);
        check(s->nsamples == 1);
    }
    check(batch.nsamples == batch.nseries);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sx_arena_t arena;
    static bool ready;
    if (!ready) {
        sx_arena_init(&arena);
        ready = true;
    }
    sx_arena_reset(&arena);
    check_decode(&arena, (const char *)data, size, false);
    sx_arena_reset(&arena);
    check_decode(&arena, (const char *)data, size, true);
    return 0;
}
