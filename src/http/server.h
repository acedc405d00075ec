/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP layer: one libmicrohttpd daemon per --listen address, all
 * serving the same route table. A request's body is read whole (up to the
 * route's limit, 413 past it), decompressed per Content-Encoding, and
 * handed to the route's handler with a per-request arena. Handlers only
 * parse parameters, call a decoder or an engine and encode the answer. */
#ifndef SX_HTTP_SERVER_H
#define SX_HTTP_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/config.h"
#include "../core/error.h"
#include "../core/str.h"

typedef struct sx_http sx_http_t;
typedef struct sx_req sx_req_t;

typedef void (*sx_handler_fn)(sx_req_t *req, void *ctx);

enum {
    SX_ROUTE_NOAUTH = 1,   /* served without a token even when auth is on */
    SX_ROUTE_RAWBODY = 2,  /* do not decompress the body (handler sniffs) */
    SX_ROUTE_PREFIX = 4,   /* path is a prefix; the rest is in req->path_rest */
};

/* One row of an API family's const route table. method NULL = any. */
typedef struct sx_route {
    const char *method;
    const char *path;
    sx_handler_fn handler;
    int flags;
    size_t body_limit; /* 0 = the server's --max-body-size */
} sx_route_t;

typedef struct sx_param {
    sx_str_t name;
    sx_str_t value;
} sx_param_t;

struct sx_req {
    const char *method;
    const char *path;        /* without the query string */
    const char *path_rest;   /* for SX_ROUTE_PREFIX routes: the part after the prefix */
    const char *tenant;      /* from X-Auth-Token; "default" in single-tenant mode */
    const sx_route_t *route;
    sx_str_t body;           /* decompressed unless SX_ROUTE_RAWBODY */
    const char *content_type;     /* NULL if absent */
    const char *content_encoding; /* NULL if absent */
    sx_arena_t arena;
    sx_param_t *params;      /* query string and form-encoded body, in order */
    size_t nparams;
    size_t max_body;         /* limit that applied to this request */
    /* Response, filled by the handler through the functions below. */
    int status;
    sx_buf_t out;
    const char *out_type;
    struct sx_hdr *_hdrs;
    struct sx_upgrade_req *_upgrade; /* set by sx_resp_upgrade */
    void *_conn;
    sx_http_t *_http;
};

/* Register a family's routes; ctx is passed to each handler. Must be
 * called before sx_http_start. */
void sx_http_add_routes(sx_http_t *h, const sx_route_t *routes, size_t n, void *ctx);

sx_http_t *sx_http_create(const sx_config_t *cfg, sx_err_t *err);
/* Bind every listen address and start serving. */
int sx_http_start(sx_http_t *h, sx_err_t *err);
/* Stop accepting, tell upgraded connections to stop (their stop fd) and
 * wait until they are closed, let running requests finish, and release
 * everything. */
void sx_http_destroy(sx_http_t *h);

/* ---- For handlers ---- */

/* First value of a query or form parameter, or NULL (a NUL-terminated
 * arena string). */
const char *sx_req_param(sx_req_t *req, const char *name);
/* All values of a repeated parameter (match[]); array in the arena. */
size_t sx_req_params(sx_req_t *req, const char *name, sx_str_t **out);
/* A request header, or NULL. */
const char *sx_req_header(sx_req_t *req, const char *name);

void sx_resp_header(sx_req_t *req, const char *name, const char *value);
/* Set status and content type; the body is req->out. */
void sx_resp_set(sx_req_t *req, int status, const char *content_type);
/* Convenience: status + JSON body copied from s. */
void sx_resp_json(sx_req_t *req, int status, const char *json, size_t len);
void sx_resp_text(sx_req_t *req, int status, const char *text);

/* ---- Protocol upgrade (WebSocket) ---- */

/* A connection taken over after a 101 Switching Protocols answer. */
typedef struct sx_upgraded sx_upgraded_t;

/* Called once the 101 answer has been sent, with up owning the
 * connection; or with up NULL when the upgrade did not happen (the client
 * went away first, or the server is stopping), to release arg. It runs
 * on an HTTP worker thread and must not block: it hands the connection
 * to a thread of its own. */
typedef void (*sx_upgrade_fn)(void *arg, sx_upgraded_t *up);

/* Answer 101 Switching Protocols with the headers added through
 * sx_resp_header (MHD adds "Connection: Upgrade"), then call fn. */
void sx_resp_upgrade(sx_req_t *req, sx_upgrade_fn fn, void *arg);

/* The connection's socket, for recv, send and poll (non-blocking). Never
 * close it: sx_upgraded_close does. */
int sx_upgraded_fd(const sx_upgraded_t *up);
/* Bytes the client sent after its request that the HTTP layer had
 * already read: they come before anything recv returns. */
sx_str_t sx_upgraded_pending(const sx_upgraded_t *up);
/* A descriptor that becomes readable when the server starts shutting
 * down: poll it beside the socket. */
int sx_upgraded_stop_fd(const sx_upgraded_t *up);
/* Set when the server starts shutting down (for sx_logql_opts_t.cancel). */
atomic_bool *sx_upgraded_stopping(sx_upgraded_t *up);
/* Close the connection and release up. Every upgraded connection must be
 * closed: sx_http_destroy waits for them before it stops the daemons, so
 * the holder must not touch the server's state (storage) afterwards. */
void sx_upgraded_close(sx_upgraded_t *up);

/* ---- Self metrics ---- */

/* Write the HTTP layer's own metrics (requests by route and status,
 * durations, rejected by reason, bytes read) in Prometheus text format. */
void sx_http_metrics_write(sx_http_t *h, sx_buf_t *out);
/* Count a rejected request or row by reason (for /metrics). */
void sx_http_count_rejected(sx_http_t *h, const char *reason, uint64_t n);

#endif
