/* SPDX-License-Identifier: Apache-2.0 */
/* Metrics derived from spans, named and labelled as Tempo's metrics
 * generator names them, so dashboards built for Tempo work unchanged:
 *
 *   span metrics, per service, span_name, span_kind and status_code:
 *     traces_spanmetrics_calls_total       counter of spans
 *     traces_spanmetrics_latency_bucket    histogram of durations (seconds),
 *       _sum, _count                         buckets 2 ms .. 16.384 s
 *   service graph, per client, server and connection_type:
 *     traces_service_graph_request_total          calls between services
 *     traces_service_graph_request_failed_total   of which either side erred
 *     traces_service_graph_request_server_seconds histogram of server spans
 *     traces_service_graph_request_client_seconds histogram of client spans
 *     traces_service_graph_unpaired_spans_total   one side never arrived
 *     traces_service_graph_dropped_spans_total    no room to wait for a pair
 *
 * A call is a CLIENT (or PRODUCER) span and the SERVER (or CONSUMER) span
 * whose parent it is; the two may arrive in different requests, so one
 * side waits up to `wait` for the other. A client span with database
 * attributes is a call to a "database" node named after the database; a
 * server span without a parent is a call from the node "user".
 *
 * Counts accumulate in memory per tenant and are written to the tenant's
 * metric store every interval as cumulative counters (a counter resets
 * when the server restarts, which rate() absorbs); a label set that has
 * not moved for 15 minutes is no longer written. */
#ifndef SX_STORAGE_TRACES_SPANMETRICS_H
#define SX_STORAGE_TRACES_SPANMETRICS_H

#include <stdint.h>

#include "../../model/span.h"
#include "../storage.h"

typedef struct sx_spanmetrics sx_spanmetrics_t;

typedef struct sx_spanmetrics_opts {
    int64_t interval_ms; /* write period; > 0 */
    int64_t slack_ms;    /* count spans that ended within this of now; 0 = all */
    int64_t wait_ms;     /* how long half a call waits for its pair */
    uint32_t max_series; /* label sets per tenant (pending calls capped the same) */
} sx_spanmetrics_opts_t;

/* Start the generator and its writer thread. NULL only when the thread
 * cannot start (err filled). */
sx_spanmetrics_t *sx_spanmetrics_open(sx_storage_t *st, const sx_spanmetrics_opts_t *o,
                                      sx_err_t *err);
/* Count the spans of a batch the trace store accepted for tenant. Thread
 * safe; now_ns is the receive time. */
void sx_spanmetrics_observe(sx_spanmetrics_t *m, const char *tenant, const sx_span_batch_t *b,
                            int64_t now_ns);
/* Expire waiting calls and write every live series at now_ms (also what
 * the writer thread does each interval). Returns 0 or the first storage
 * error. */
int sx_spanmetrics_flush(sx_spanmetrics_t *m, int64_t now_ms);
/* Stop the writer thread, write a last time and free everything. */
void sx_spanmetrics_close(sx_spanmetrics_t *m);

#endif
