/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the log API files (loki.c, loki_query.c, loki_tail.c,
 * loki_explore.c, kubesphere.c): Loki's plain-text errors, its time and
 * duration parameters, its query parameter and stream answers. */
#ifndef SX_API_LOKI_H
#define SX_API_LOKI_H

#include <stdbool.h>
#include <stdint.h>

#include "../query/logql/engine.h"
#include "api.h"

/* Answer an error as Loki does: the message as text/plain with status. */
void sx_api_loki_error(sx_req_t *req, int status, const char *msg);
/* The HTTP status Loki gives an error of this kind. */
int sx_api_loki_status(int rc);
/* Loki's timestamp forms: float seconds ("1700000000.5"), an integer of at
 * most 10 digits as seconds, a longer one as nanoseconds, or RFC 3339. */
int sx_api_loki_parse_time(const char *v, int64_t *ns, sx_err_t *err);
/* A duration parameter (Prometheus duration or float seconds) in ns;
 * *set says whether it was given. Returns -1 after answering 400. */
int sx_api_loki_duration(sx_req_t *req, const char *name, int64_t *ns, bool *set);
/* start/end/since with Loki's defaults: end = now, start = end - def_ns
 * (or end - since). Returns -1 after answering 400. */
int sx_api_loki_range(sx_req_t *req, int64_t def_ns, int64_t *start, int64_t *end);

/* The query parameter, parsed into the request arena. With log_only a
 * metric query is refused as Loki's ParseLogSelector refuses it. NULL
 * after answering 400. The caller disposes the expression. */
sx_logql_expr_t *sx_api_loki_query_param(sx_req_t *req, bool log_only);
/* One stream of a log answer, {"stream":{...},"values":[["<ns>","<line>"
 * (,{"structuredMetadata":{...},"parsed":{...}} with categorize)],...]},
 * for its entries e[0..n). With categorize the stream shows its stream
 * labels only, as Loki's categorize-labels encoding does. */
void sx_api_loki_put_stream(sx_buf_t *b, const sx_logql_stream_t *s, const sx_logql_entry_t *e,
                            size_t n, bool categorize);

/* loki_query.c: query, query_range, format_query. */
void sx_api_loki_query_register(sx_http_t *h, sx_api_ctx_t *ctx);
/* loki_tail.c: the live tail over a WebSocket. */
void sx_api_loki_tail_register(sx_http_t *h, sx_api_ctx_t *ctx);

#endif
