/* SPDX-License-Identifier: Apache-2.0 */
/* VictoriaMetrics' JSON-lines format of /api/v1/export and /api/v1/import:
 * one JSON object per series and line,
 *   {"metric":{"__name__":"up","job":"x"},"values":[1,2.5],
 *    "timestamps":[1700000000000,1700000015000]}
 * (on one line).
 * Values that JSON numbers cannot carry follow VictoriaMetrics' export
 * (convertValueToSpecialJSON): "Infinity" and "-Infinity" for the
 * infinities, and null for NaN, which in VictoriaMetrics (it keeps no NaN
 * but staleness markers) is always the Prometheus stale marker; so null is
 * the stale marker here, and any other NaN is written "NaN", a string
 * VictoriaMetrics' import reads as NaN too. Native histogram samples go in
 * two extra keys that VictoriaMetrics ignores: "histograms" (base64 of the
 * remote-write Histogram message, standard alphabet with padding) and
 * "histogram_timestamps" (ms, equal to the message's own timestamp). An
 * export line decodes back to exactly the samples it was made from (every
 * non-stale NaN becomes the one quiet NaN). */
#ifndef SX_INGEST_VM_IMPORT_H
#define SX_INGEST_VM_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../model/metric.h"

/* Decode a whole import body (lines separated by \n, \r\n allowed, blank
 * lines skipped) into out: labels sorted (sx_labels_sort) and validated
 * (sx_labels_validate), everything copied into out's arena, so the body may
 * go as soon as this returns. Number strings "Inf", "+Inf", "-inf", "nan"
 * and the like are accepted as well. Returns 0, or SX_EPARSE/SX_EBADLABEL
 * with err naming the line ("line 3: ..."); out is then partly filled and
 * must be discarded (all or nothing). */
int sx_vm_import_decode(const char *buf, size_t len, sx_metric_batch_t *out, sx_err_t *err);

/* Append one export line for a series (terminated by \n) to out; may
 * reallocate out. labels are written in the given order; ts/v hold n float
 * samples and hists nhists histogram samples. A series without samples
 * writes nothing, as VictoriaMetrics does. */
void sx_vm_export_line(sx_buf_t *out, const sx_label_t *labels, uint32_t nlabels,
                       const int64_t *ts, const double *v, size_t n,
                       const sx_hist_sample_t *hists, size_t nhists);

#endif
