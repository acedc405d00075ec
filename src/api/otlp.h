/* SPDX-License-Identifier: Apache-2.0 */
/* OTLP/HTTP request and answer handling shared by the receivers
 * (otlp.c: /v1/metrics and /v1/logs; traces.c: /v1/traces): content
 * types, Content-Encoding, and the Export*ServiceResponse in the
 * request's own encoding, as the OTLP specification asks so that SDKs
 * retry correctly. */
#ifndef SX_API_OTLP_H
#define SX_API_OTLP_H

#include "../ingest/otlp.h"
#include "api.h"

/* The request body (the HTTP layer has undone Content-Encoding: gzip,
 * deflate, zstd, snappy; 413 past the body limit) and its format from
 * Content-Type (application/x-protobuf or application/json). On an
 * unknown content type answers 415 and returns NULL. */
const char *sx_api_otlp_body(sx_req_t *req, int *format, size_t *len);

/* Answer 200 with the signal's Export*ServiceResponse (partial_success
 * when res says something was rejected) in the request's format. */
void sx_api_otlp_ok(sx_req_t *req, int signal, int format, const sx_otlp_result_t *res);

/* Answer an error as OTLP asks: a google.rpc.Status in the request's
 * format (JSON {"code":..,"message":..} or its protobuf), with the HTTP
 * status; 429 and 503 carry Retry-After. */
void sx_api_otlp_error(sx_req_t *req, int format, int http_status, const char *msg);

/* Below --min-free-disk: answer 503 (retryable, nothing stored), count
 * the rejection and return false. */
bool sx_api_otlp_disk_ok(sx_api_ctx_t *ctx, sx_req_t *req, int format);

/* A storage failure as OTLP wants it: a full disk or an I/O error is
 * retryable (503 with Retry-After); counted and logged. */
void sx_api_otlp_storage_failed(sx_api_ctx_t *ctx, sx_req_t *req, int format, int rc,
                                const char *msg);

#endif
