/* SPDX-License-Identifier: Apache-2.0 */
/* The internal model of metric data between the decoders (ingest/) and the
 * metric store (storage/tsdb). A batch is what one request carries; all of
 * it lives in the request arena and points into the request body where it
 * can. Storage copies what it keeps (the ownership boundary). */
#ifndef SX_MODEL_METRIC_H
#define SX_MODEL_METRIC_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/error.h"
#include "../core/str.h"

typedef struct sx_label {
    sx_str_t name;
    sx_str_t value;
} sx_label_t;

typedef struct sx_sample {
    int64_t ts; /* ms since epoch */
    double v;
} sx_sample_t;

/* A native histogram sample kept opaque: the remote-write protobuf
 * Histogram message bytes (which carry their own timestamp). */
typedef struct sx_hist_sample {
    int64_t ts; /* ms since epoch */
    sx_str_t blob;
} sx_hist_sample_t;

typedef struct sx_series_in {
    sx_label_t *labels;     /* sorted by name, unique, validated */
    uint32_t nlabels;
    sx_sample_t *samples;
    uint32_t nsamples;
    sx_hist_sample_t *hists;
    uint32_t nhists;
} sx_series_in_t;

enum sx_metric_type {
    SX_MT_UNKNOWN = 0, SX_MT_COUNTER = 1, SX_MT_GAUGE = 2, SX_MT_HISTOGRAM = 3,
    SX_MT_GAUGEHISTOGRAM = 4, SX_MT_SUMMARY = 5, SX_MT_INFO = 6, SX_MT_STATESET = 7
};

typedef struct sx_metric_meta {
    sx_str_t metric; /* metric family name */
    int type;        /* enum sx_metric_type */
    sx_str_t help;
    sx_str_t unit;
} sx_metric_meta_t;

typedef struct sx_metric_batch {
    sx_arena_t *arena;
    sx_series_in_t *series;
    size_t nseries, _cap;
    sx_metric_meta_t *meta;
    size_t nmeta, _metacap;
    size_t nsamples; /* float + histogram samples in all series */
    /* Set by the caller before decoding: the decoder may skip label
     * validation, and storage validates only the series it does not know
     * yet (a known series was valid when it was created). Saves the
     * per-sample-batch validation cost on the ingest hot path. */
    bool labels_unchecked;
} sx_metric_batch_t;

/* Stale marker: the NaN bit pattern Prometheus uses to end a series. */
#define SX_STALE_NAN_BITS 0x7ff0000000000002ULL
bool sx_is_stale_nan(double v);
double sx_stale_nan(void);

void sx_metric_batch_init(sx_metric_batch_t *b, sx_arena_t *arena);
/* Append an empty series slot and return it (arena memory; the pointer is
 * valid until the next add call). */
sx_series_in_t *sx_metric_batch_add(sx_metric_batch_t *b);
sx_metric_meta_t *sx_metric_batch_add_meta(sx_metric_batch_t *b);

/* Label rules, as Prometheus: names match [a-zA-Z_][a-zA-Z0-9_]*, metric
 * names [a-zA-Z_:][a-zA-Z0-9_:]*, values are valid UTF-8. */
bool sx_label_name_valid(sx_str_t name);
bool sx_metric_name_valid(sx_str_t name);

/* Validate a series' label set as remote write requires: at least one
 * label, a non-empty __name__, valid names, valid UTF-8 values, sorted by
 * name with no duplicates and no empty values. Fills err naming the
 * problem and the series. */
int sx_labels_validate(const sx_label_t *labels, uint32_t n, sx_err_t *err);

/* Put the series an error is about in front of err's message:
 * `series 3 ({__name__="up", job="x"}): <reason>`. The label rendering is
 * cut at 300 bytes so the reason always fits. Returns err's code. */
int sx_labels_err_wrap(sx_err_t *err, size_t idx, const sx_label_t *labels, uint32_t n);

/* Sort labels by name (stable, for decoders whose input is unordered) and
 * drop empty-valued labels. Returns the new count. Duplicates are kept for
 * sx_labels_validate to report. */
uint32_t sx_labels_sort(sx_label_t *labels, uint32_t n);

/* Render a label set as {__name__="x", a="b"} (metric name in front, as
 * Prometheus prints series) into the arena, for error messages. */
const char *sx_labels_format(sx_arena_t *a, const sx_label_t *labels, uint32_t n);

/* Hash of a label set (sorted by name): one XXH3 pass over
 * "name\xffvalue\xff..." (0xff never occurs in UTF-8, so distinct sets
 * give distinct byte strings). */
uint64_t sx_labels_hash(const sx_label_t *labels, uint32_t n);

/* Replace every character that is not valid in a label name (or metric
 * name when metric is true) by '_' and prefix '_' if it starts with a
 * digit. Returns s itself when already valid, else an arena copy. */
sx_str_t sx_label_name_sanitize(sx_arena_t *a, sx_str_t s, bool metric);

#endif
