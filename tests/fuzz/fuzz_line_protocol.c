/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the line protocol decoder (src/ingest/
 * line_protocol.c). Each input goes through the low-level parser and
 * through sx_line_protocol_decode in plain InfluxDB and DataKit modes.
 * Besides surviving any input, the results must hold the decoder's
 * promises or the target aborts: parsed points have a measurement, at
 * least one field, non-empty keys and tag values, valid UTF-8 and finite
 * floats; decoded series pass sx_labels_validate and the sample count
 * adds up; a failed decode leaves the batch empty. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/ingest.h"
#include "ingest/line_protocol.h"
#include "model/metric.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_points(sx_arena_t *a, const char *buf, size_t len, unsigned flags)
{
    sx_lp_parser_t p;
    sx_lp_point_t pt;
    sx_err_t err;
    int rc;
    sx_lp_parser_init(&p, buf, len, a, flags);
    uint32_t line = 0;
    while ((rc = sx_lp_parser_next(&p, &pt, &err)) == 1) {
        check(pt.line > line);
        line = pt.line;
        check(pt.measurement.len > 0 && pt.nfields > 0);
        check(sx_utf8_valid(pt.measurement.ptr, pt.measurement.len));
        for (uint32_t i = 0; i < pt.ntags; i++) {
            check(pt.tags[i].key.len > 0 && pt.tags[i].value.len > 0);
            check(sx_utf8_valid(pt.tags[i].key.ptr, pt.tags[i].key.len));
            check(sx_utf8_valid(pt.tags[i].value.ptr, pt.tags[i].value.len));
        }
        for (uint32_t i = 0; i < pt.nfields; i++) {
            const sx_lp_field_t *f = &pt.fields[i];
            check(f->key.len > 0 && sx_utf8_valid(f->key.ptr, f->key.len));
            if (f->kind == SX_LP_FLOAT)
                check(isfinite(f->v.f));
            if (f->kind == SX_LP_STRING)
                check(sx_utf8_valid(f->v.s.ptr, f->v.s.len));
        }
        if (flags == 0)
            sx_lp_point_datakit_fix(&pt, a);
    }
    check(rc == 0 || (rc < 0 && err.msg[0] != '\0'));
}

static void check_decode(sx_arena_t *a, const char *buf, size_t len, bool datakit)
{
    sx_metric_batch_t batch;
    sx_err_t err;
    sx_lp_opts_t opts = {
        .precision_ns = datakit ? 1000000000 : 1,
        .now_ns = 1700000000000000000LL,
        .extra_label = SX_STR_LIT("db"),
        .extra_value = SX_STR_LIT("fuzz"),
        .datakit = datakit,
    };
    sx_metric_batch_init(&batch, a);
    sx_err_clear(&err);
    int rc = sx_line_protocol_decode(buf, len, &opts, &batch, &err);
    if (rc < 0) {
        check(err.msg[0] != '\0' && batch.nseries == 0 && batch.nsamples == 0);
        return;
    }
    check(rc == 0);
    size_t n = 0;
    for (size_t i = 0; i < batch.nseries; i++) {
        const sx_series_in_t *s = &batch.series[i];
        check(sx_labels_validate(s->labels, s->nlabels, &err) == 0);
        check(s->nsamples == 1);
        n += s->nsamples;
    }
    check(n == batch.nsamples);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sx_arena_t arena;
    static bool ready;
    if (!ready) {
        sx_arena_init(&arena);
        ready = true;
    }
    const char *buf = (const char *)data;
    sx_arena_reset(&arena);
    check_points(&arena, buf, size, SX_LP_REJECT_DUP_TAGS);
    sx_arena_reset(&arena);
    check_points(&arena, buf, size, 0);
    sx_arena_reset(&arena);
    check_decode(&arena, buf, size, false);
    sx_arena_reset(&arena);
    check_decode(&arena, buf, size, true);
    return 0;
}
