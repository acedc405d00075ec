/* SPDX-License-Identifier: Apache-2.0 */
/* libmicrohttpd glue: one daemon per listen address with a thread pool,
 * body accumulation with limits, decompression, authentication, routing,
 * the access log and the HTTP self-metrics. Every request gets an arena
 * that is released when the response has been queued. */
#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../core/file.h"
#include "../core/log.h"
#include "../core/time.h"
#include "body.h"

#define MAX_ROUTES 256
#define MAX_DAEMONS 16
#define NSTAT_SLOTS 512

struct sx_hdr {
    struct sx_hdr *next;
    const char *name, *value;
};

typedef struct route_entry {
    sx_route_t r;
    void *ctx;
} route_entry_t;

/* Requests by (route, status) and duration sums by route. */
typedef struct stat_slot {
    /* Claimed once under stat_lock: status first, then route (release);
     * readers load route (acquire) before trusting status. */
    const char *_Atomic route;
    int status;
    _Atomic uint64_t count;
    _Atomic uint64_t dur_ns;
} stat_slot_t;

#define NBUCKETS 10
static const double dur_buckets[NBUCKETS] = {0.001, 0.005, 0.01, 0.025, 0.05,
                                             0.1,   0.25,  0.5,  1,     5};

typedef struct route_hist {
    const char *route;
    _Atomic uint64_t buckets[NBUCKETS];
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
} route_hist_t;

typedef struct reason_slot {
    char reason[48];
    _Atomic uint64_t count;
} reason_slot_t;

struct sx_http {
    const sx_config_t *cfg;
    route_entry_t routes[MAX_ROUTES];
    size_t nroutes;
    struct MHD_Daemon *daemons[MAX_DAEMONS];
    size_t ndaemons;
    char *tls_cert, *tls_key, *tls_ca;
    pthread_mutex_t stat_lock;
    stat_slot_t stats[NSTAT_SLOTS];
    route_hist_t hists[MAX_ROUTES + 1];
    reason_slot_t reasons[64];
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_in_decoded;
    /* Upgraded connections: counted so that shutdown can wait for them. */
    pthread_mutex_t up_lock;
    pthread_cond_t up_cond;
    size_t nupgraded;
    bool stopping;         /* under up_lock: refuse new upgrades */
    atomic_bool stop_flag; /* the same, for pollers of sx_upgraded_stopping */
    int stop_fd;           /* eventfd, readable once shutdown starts */
};

/* A handler's sx_resp_upgrade: what to call once the 101 is sent. Owned by
 * the request (freed in on_completed, which MHD calls after the upgrade
 * handler, or instead of it when the connection failed before). */
struct sx_upgrade_req {
    sx_upgrade_fn fn;
    void *arg;
    bool used; /* fn was called */
};

struct sx_upgraded {
    sx_http_t *h;
    struct MHD_UpgradeResponseHandle *urh;
    int fd;
    char *pending; /* bytes MHD read past the request */
    size_t npending;
};

/* Per-connection request state, from the first callback to completion. */
typedef struct conn_state {
    sx_req_t req;
    sx_buf_t raw;         /* body as received */
    sx_buf_t decoded;     /* body after Content-Encoding, when there was one */
    bool too_large;
    int64_t start_ns;
} conn_state_t;

/* A PEM file as a NUL-terminated string (what MHD wants), or NULL. */
static char *read_pem(const char *path)
{
    sx_buf_t b = SX_BUF_INIT;
    if (sx_file_read_all(path, &b)) {
        sx_buf_dispose(&b);
        return NULL;
    }
    sx_buf_putc(&b, '\0');
    return b.ptr;
}

void sx_http_add_routes(sx_http_t *h, const sx_route_t *routes, size_t n, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        if (h->nroutes == MAX_ROUTES)
            sx_panic("BUG: too many routes");
        h->routes[h->nroutes].r = routes[i];
        h->routes[h->nroutes].ctx = ctx;
        h->hists[h->nroutes].route = routes[i].path;
        h->nroutes++;
    }
}

sx_http_t *sx_http_create(const sx_config_t *cfg, sx_err_t *err)
{
    sx_http_t *h = sx_xcalloc(1, sizeof(*h));
    h->cfg = cfg;
    pthread_mutex_init(&h->stat_lock, NULL);
    pthread_mutex_init(&h->up_lock, NULL);
    pthread_cond_init(&h->up_cond, NULL);
    h->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (h->stop_fd < 0) {
        sx_err_set(err, SX_EIO, "cannot create an eventfd for shutdown");
        sx_http_destroy(h);
        return NULL;
    }
    h->hists[MAX_ROUTES].route = "other";
    if ((cfg->tls_cert && *cfg->tls_cert) != (cfg->tls_key && *cfg->tls_key)) {
        sx_err_set(err, SX_EINVAL, "TLS needs both --tls-cert and --tls-key");
        sx_http_destroy(h);
        return NULL;
    }
    if (cfg->tls_cert && *cfg->tls_cert) {
        h->tls_cert = read_pem(cfg->tls_cert);
        h->tls_key = read_pem(cfg->tls_key);
        if (!h->tls_cert || !h->tls_key) {
            sx_err_set(err, SX_EIO, "cannot read TLS certificate or key (%s, %s)", cfg->tls_cert,
                       cfg->tls_key);
            sx_http_destroy(h);
            return NULL;
        }
        if (cfg->tls_client_ca && *cfg->tls_client_ca) {
            h->tls_ca = read_pem(cfg->tls_client_ca);
            if (!h->tls_ca) {
                sx_err_set(err, SX_EIO, "cannot read client CA file %s", cfg->tls_client_ca);
                sx_http_destroy(h);
                return NULL;
            }
        }
    }
    return h;
}

/* ---- Statistics ---- */

static void record_stat(sx_http_t *h, const char *route, size_t route_idx, int status,
                        int64_t dur_ns)
{
    size_t slot = ((uintptr_t)route / 16 * 31 + (size_t)status) % NSTAT_SLOTS;
    for (size_t probe = 0; probe < NSTAT_SLOTS; probe++) {
        stat_slot_t *s = &h->stats[(slot + probe) % NSTAT_SLOTS];
        const char *r = atomic_load_explicit(&s->route, memory_order_acquire);
        if (r == route && s->status == status) {
            atomic_fetch_add(&s->count, 1);
            break;
        }
        if (!r) {
            pthread_mutex_lock(&h->stat_lock);
            if (!atomic_load_explicit(&s->route, memory_order_relaxed)) {
                s->status = status;
                atomic_store_explicit(&s->route, route, memory_order_release);
            }
            pthread_mutex_unlock(&h->stat_lock);
            r = atomic_load_explicit(&s->route, memory_order_acquire);
            if (r == route && s->status == status) {
                atomic_fetch_add(&s->count, 1);
                break;
            }
        }
    }
    route_hist_t *rh = &h->hists[route_idx];
    double secs = (double)dur_ns / 1e9;
    for (int i = 0; i < NBUCKETS; i++)
        if (secs <= dur_buckets[i])
            atomic_fetch_add(&rh->buckets[i], 1);
    atomic_fetch_add(&rh->count, 1);
    atomic_fetch_add(&rh->sum_ns, (uint64_t)dur_ns);
}

void sx_http_count_rejected(sx_http_t *h, const char *reason, uint64_t n)
{
    if (!h || !n)
        return;
    for (size_t i = 0; i < 64; i++) {
        reason_slot_t *r = &h->reasons[i];
        if (r->reason[0] && strcmp(r->reason, reason) == 0) {
            atomic_fetch_add(&r->count, n);
            return;
        }
        if (!r->reason[0]) {
            pthread_mutex_lock(&h->stat_lock);
            if (!r->reason[0])
                snprintf(r->reason, sizeof(r->reason), "%s", reason);
            pthread_mutex_unlock(&h->stat_lock);
            if (strcmp(r->reason, reason) == 0) {
                atomic_fetch_add(&r->count, n);
                return;
            }
        }
    }
}

void sx_http_metrics_write(sx_http_t *h, sx_buf_t *out)
{
    sx_buf_puts(out, "# HELP sextant_http_requests_total HTTP requests by route and status code.\n"
                     "# TYPE sextant_http_requests_total counter\n");
    for (size_t i = 0; i < NSTAT_SLOTS; i++) {
        stat_slot_t *s = &h->stats[i];
        const char *r = atomic_load_explicit(&s->route, memory_order_acquire);
        if (r)
            sx_buf_printf(out, "sextant_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                          r, s->status, (unsigned long long)atomic_load(&s->count));
    }
    sx_buf_puts(out, "# HELP sextant_http_request_duration_seconds Time to answer HTTP requests.\n"
                     "# TYPE sextant_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i <= MAX_ROUTES; i++) {
        route_hist_t *rh = &h->hists[i];
        uint64_t count = atomic_load(&rh->count);
        if (!rh->route || !count)
            continue;
        for (int b = 0; b < NBUCKETS; b++) {
            char le[32];
            sx_format_float(le, dur_buckets[b]);
            sx_buf_printf(out, "sextant_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %llu\n",
                          rh->route, le, (unsigned long long)atomic_load(&rh->buckets[b]));
        }
        sx_buf_printf(out, "sextant_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                      rh->route, (unsigned long long)count);
        sx_buf_printf(out, "sextant_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n", rh->route,
                      (double)atomic_load(&rh->sum_ns) / 1e9);
        sx_buf_printf(out, "sextant_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                      rh->route, (unsigned long long)count);
    }
    sx_buf_puts(out, "# HELP sextant_rejected_total Rejected requests and rows by reason.\n"
                     "# TYPE sextant_rejected_total counter\n");
    for (size_t i = 0; i < 64; i++)
        if (h->reasons[i].reason[0])
            sx_buf_printf(out, "sextant_rejected_total{reason=\"%s\"} %llu\n", h->reasons[i].reason,
                          (unsigned long long)atomic_load(&h->reasons[i].count));
    sx_buf_printf(out,
                  "# HELP sextant_http_request_bytes_total Request body bytes as received and decoded.\n"
                  "# TYPE sextant_http_request_bytes_total counter\n"
                  "sextant_http_request_bytes_total{stage=\"received\"} %llu\n"
                  "sextant_http_request_bytes_total{stage=\"decoded\"} %llu\n",
                  (unsigned long long)atomic_load(&h->bytes_in),
                  (unsigned long long)atomic_load(&h->bytes_in_decoded));
}

/* ---- Request helpers ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static sx_str_t url_decode(sx_arena_t *a, const char *p, size_t n)
{
    char *o = sx_arena_alloc(a, n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '+') {
            o[k++] = ' ';
        } else if (p[i] == '%' && i + 2 < n && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
            o[k++] = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
            i += 2;
        } else {
            o[k++] = p[i];
        }
    }
    o[k] = '\0';
    return (sx_str_t){o, k};
}

static void add_param(sx_req_t *req, sx_str_t name, sx_str_t value, size_t *cap)
{
    if (req->nparams == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        req->params = sx_arena_realloc(&req->arena, req->params, req->nparams * sizeof(sx_param_t),
                                       nc * sizeof(sx_param_t));
        *cap = nc;
    }
    req->params[req->nparams++] = (sx_param_t){name, value};
}

/* Parse a&b=c pairs (URL-encoded) into params. */
static void parse_form(sx_req_t *req, const char *p, size_t n, size_t *cap)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && p[j] != '&')
            j++;
        if (j > i) {
            size_t eq = i;
            while (eq < j && p[eq] != '=')
                eq++;
            sx_str_t name = url_decode(&req->arena, p + i, eq - i);
            sx_str_t value = eq < j ? url_decode(&req->arena, p + eq + 1, j - eq - 1)
                                    : (sx_str_t){"", 0};
            add_param(req, name, value, cap);
        }
        i = j + 1;
    }
}

const char *sx_req_param(sx_req_t *req, const char *name)
{
    sx_str_t n = sx_str(name);
    for (size_t i = 0; i < req->nparams; i++)
        if (sx_str_eq(req->params[i].name, n))
            return req->params[i].value.ptr;
    return NULL;
}

size_t sx_req_params(sx_req_t *req, const char *name, sx_str_t **out)
{
    sx_str_t n = sx_str(name);
    size_t cnt = 0;
    for (size_t i = 0; i < req->nparams; i++)
        cnt += sx_str_eq(req->params[i].name, n);
    *out = sx_arena_alloc(&req->arena, (cnt ? cnt : 1) * sizeof(sx_str_t));
    size_t k = 0;
    for (size_t i = 0; i < req->nparams; i++)
        if (sx_str_eq(req->params[i].name, n))
            (*out)[k++] = req->params[i].value;
    return cnt;
}

const char *sx_req_header(sx_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->_conn, MHD_HEADER_KIND, name);
}

void sx_resp_header(sx_req_t *req, const char *name, const char *value)
{
    struct sx_hdr *h = sx_arena_alloc(&req->arena, sizeof(*h));
    h->name = sx_arena_strndup(&req->arena, name, strlen(name));
    h->value = sx_arena_strndup(&req->arena, value, strlen(value));
    h->next = req->_hdrs;
    req->_hdrs = h;
}

void sx_resp_set(sx_req_t *req, int status, const char *content_type)
{
    req->status = status;
    req->out_type = content_type;
}

void sx_resp_json(sx_req_t *req, int status, const char *json, size_t len)
{
    sx_buf_clear(&req->out);
    sx_buf_append(&req->out, json, len);
    sx_resp_set(req, status, "application/json");
}

void sx_resp_text(sx_req_t *req, int status, const char *text)
{
    sx_buf_clear(&req->out);
    sx_buf_puts(&req->out, text);
    sx_resp_set(req, status, "text/plain; charset=utf-8");
}

/* ---- Protocol upgrade ---- */

void sx_resp_upgrade(sx_req_t *req, sx_upgrade_fn fn, void *arg)
{
    SX_ASSERT(!req->_upgrade);
    req->_upgrade = sx_xcalloc(1, sizeof(*req->_upgrade));
    req->_upgrade->fn = fn;
    req->_upgrade->arg = arg;
    sx_buf_clear(&req->out);
    sx_resp_set(req, 101, NULL);
}

int sx_upgraded_fd(const sx_upgraded_t *up)
{
    return up->fd;
}

sx_str_t sx_upgraded_pending(const sx_upgraded_t *up)
{
    return (sx_str_t){up->pending ? up->pending : "", up->npending};
}

int sx_upgraded_stop_fd(const sx_upgraded_t *up)
{
    return up->h->stop_fd;
}

atomic_bool *sx_upgraded_stopping(sx_upgraded_t *up)
{
    return &up->h->stop_flag;
}

void sx_upgraded_close(sx_upgraded_t *up)
{
    sx_http_t *h = up->h;
    /* MHD closes the socket; the daemon must still be running here, which
     * the count below guarantees (sx_http_destroy waits for zero). */
    MHD_upgrade_action(up->urh, MHD_UPGRADE_ACTION_CLOSE);
    free(up->pending);
    free(up);
    pthread_mutex_lock(&h->up_lock);
    if (--h->nupgraded == 0)
        pthread_cond_broadcast(&h->up_cond);
    pthread_mutex_unlock(&h->up_lock);
}

/* MHD's upgrade handler: runs on the connection's worker thread right
 * after the 101 headers were sent. */
static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock,
                       struct MHD_UpgradeResponseHandle *urh)
{
    conn_state_t *cs = con_cls;
    struct sx_upgrade_req *ur = cls;
    sx_http_t *h = cs->req._http;
    ur->used = true;
    pthread_mutex_lock(&h->up_lock);
    bool refuse = h->stopping;
    if (!refuse)
        h->nupgraded++;
    pthread_mutex_unlock(&h->up_lock);
    if (refuse) {
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        ur->fn(ur->arg, NULL);
        return;
    }
    sx_upgraded_t *up = sx_xcalloc(1, sizeof(*up));
    up->h = h;
    up->urh = urh;
    up->fd = sock;
    if (extra_in_size) {
        up->pending = sx_xmalloc(extra_in_size);
        memcpy(up->pending, extra_in, extra_in_size);
        up->npending = extra_in_size;
    }
    ur->fn(ur->arg, up);
}

static void json_error(sx_req_t *req, int status, const char *type, const char *msg)
{
    sx_buf_clear(&req->out);
    sx_buf_puts(&req->out, "{\"status\":\"error\",\"errorType\":\"");
    sx_buf_puts(&req->out, type);
    sx_buf_puts(&req->out, "\",\"error\":");
    sx_buf_json_str(&req->out, msg, strlen(msg));
    sx_buf_putc(&req->out, '}');
    sx_resp_set(req, status, "application/json");
}

/* ---- Routing ---- */

static const route_entry_t *find_route(sx_http_t *h, const char *method, const char *path,
                                       const char **rest, bool *method_mismatch, size_t *idx)
{
    *method_mismatch = false;
    for (size_t i = 0; i < h->nroutes; i++) {
        const sx_route_t *r = &h->routes[i].r;
        size_t plen = strlen(r->path);
        bool match;
        if (r->flags & SX_ROUTE_PREFIX)
            match = strncmp(path, r->path, plen) == 0;
        else
            match = strcmp(path, r->path) == 0;
        if (!match)
            continue;
        if (r->method && strcmp(r->method, method) != 0 &&
            !(strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0)) {
            *method_mismatch = true;
            continue;
        }
        *rest = (r->flags & SX_ROUTE_PREFIX) ? path + plen : "";
        *idx = i;
        return &h->routes[i];
    }
    return NULL;
}

static const char *tenant_for(sx_http_t *h, const char *token)
{
    if (!token)
        return NULL;
    for (size_t i = 0; i < h->cfg->ntokens; i++)
        if (strcmp(h->cfg->tokens[i].token, token) == 0)
            return h->cfg->tokens[i].tenant;
    return NULL;
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    void **pair = cls;
    sx_req_t *req = pair[0];
    size_t *cap = pair[1];
    sx_str_t k = sx_arena_strdup_str(&req->arena, sx_str(key));
    sx_str_t v = sx_arena_strdup_str(&req->arena, sx_str(value ? value : ""));
    add_param(req, k, v, cap);
    return MHD_YES;
}

static bool is_form(const char *ct)
{
    return ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
}

static void dispatch(sx_http_t *h, conn_state_t *cs, struct MHD_Connection *conn, size_t *route_idx)
{
    sx_req_t *req = &cs->req;
    const char *rest = "";
    bool mismatch;
    size_t idx = MAX_ROUTES;
    const route_entry_t *re = find_route(h, req->method, req->path, &rest, &mismatch, &idx);
    *route_idx = idx;
    if (!re) {
        if (mismatch)
            json_error(req, 405, "bad_data", "method not allowed");
        else
            json_error(req, 404, "not_found", "page not found");
        return;
    }
    req->route = &re->r;
    req->path_rest = rest;

    /* Authentication: with tokens configured every route but the NOAUTH
     * ones needs a known X-Auth-Token. */
    if (h->cfg->ntokens > 0) {
        const char *token = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Auth-Token");
        const char *tenant = tenant_for(h, token);
        if (!tenant && !(re->r.flags & SX_ROUTE_NOAUTH)) {
            sx_http_count_rejected(h, "unauthorized", 1);
            json_error(req, 401, "unauthorized",
                       token ? "unknown X-Auth-Token" : "missing X-Auth-Token header");
            return;
        }
        req->tenant = tenant ? tenant : "default";
    } else {
        req->tenant = "default";
    }

    if (cs->too_large) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body larger than the limit of %zu bytes", req->max_body);
        sx_http_count_rejected(h, "too_large", 1);
        json_error(req, 413, "bad_data", msg);
        return;
    }
    atomic_fetch_add(&h->bytes_in, cs->raw.len);

    /* Decompress per Content-Encoding unless the handler sniffs itself. */
    sx_buf_t *decoded = &cs->decoded;
    req->body = (sx_str_t){cs->raw.ptr ? cs->raw.ptr : "", cs->raw.len};
    if (!(re->r.flags & SX_ROUTE_RAWBODY) && req->content_encoding && cs->raw.len &&
        strcasecmp(req->content_encoding, "identity") != 0) {
        sx_err_t err;
        int rc = sx_body_decode(req->content_encoding, cs->raw.ptr, cs->raw.len, req->max_body,
                                decoded, &err);
        if (rc) {
            sx_http_count_rejected(h, rc == SX_ETOOLARGE ? "too_large" : "bad_encoding", 1);
            json_error(req, sx_err_http_status(rc), "bad_data", err.msg);
            return;
        }
        /* The decoded buffer lives until the request completes; no copy. */
        sx_buf_putc(decoded, '\0');
        decoded->len--;
        req->body = (sx_str_t){decoded->ptr, decoded->len};
    }
    atomic_fetch_add(&h->bytes_in_decoded, req->body.len);

    /* Parameters: query string, then a form-encoded body. */
    size_t cap = 0;
    void *pair[2] = {req, &cap};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, pair);
    if (strcmp(req->method, "POST") == 0 && is_form(req->content_type))
        parse_form(req, req->body.ptr, req->body.len, &cap);

    re->r.handler(req, re->ctx);
    if (!req->status)
        sx_resp_set(req, 204, NULL);
}

static void free_buf(void *cls)
{
    free(cls);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    sx_http_t *h = cls;
    conn_state_t *cs = *con_cls;
    if (!cs) {
        cs = sx_xcalloc(1, sizeof(*cs));
        cs->start_ns = sx_mono_ns();
        sx_arena_init(&cs->req.arena);
        cs->req._conn = conn;
        cs->req._http = h;
        cs->req.method = sx_arena_strndup(&cs->req.arena, method, strlen(method));
        cs->req.path = sx_arena_strndup(&cs->req.arena, url, strlen(url));
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        const char *ce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
        cs->req.content_type = ct ? sx_arena_strndup(&cs->req.arena, ct, strlen(ct)) : NULL;
        cs->req.content_encoding = ce ? sx_arena_strndup(&cs->req.arena, ce, strlen(ce)) : NULL;
        /* The body limit of the route, found before reading the body. */
        const char *rest;
        bool mismatch;
        size_t idx;
        const route_entry_t *re = find_route(h, method, url, &rest, &mismatch, &idx);
        cs->req.max_body = re && re->r.body_limit ? re->r.body_limit
                                                  : (size_t)h->cfg->max_body_bytes;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > cs->req.max_body)
            cs->too_large = true;
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cs->too_large) {
            if (cs->raw.len + *upload_size > cs->req.max_body) {
                cs->too_large = true;
                sx_buf_dispose(&cs->raw);
            } else {
                sx_buf_append(&cs->raw, upload_data, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }

    size_t route_idx = MAX_ROUTES;
    dispatch(h, cs, conn, &route_idx);
    sx_req_t *req = &cs->req;

    size_t len = req->out.len;
    char *body = req->out.ptr;
    req->out = SX_BUF_INIT;
    struct MHD_Response *resp;
    if (req->_upgrade && req->status == 101) {
        free(body);
        len = 0;
        resp = MHD_create_response_for_upgrade(on_upgrade, req->_upgrade);
        if (!resp) {
            sx_log_error("http", "cannot create an upgrade response for %s", req->path);
            req->_upgrade->used = true;
            req->_upgrade->fn(req->_upgrade->arg, NULL);
            req->status = 500;
            resp = MHD_create_response_from_buffer_with_free_callback(0, sx_xcalloc(1, 1),
                                                                      free_buf);
        }
    } else {
        resp = MHD_create_response_from_buffer_with_free_callback(
            len, body ? body : (char *)sx_xcalloc(1, 1), free_buf);
    }
    if (req->out_type)
        MHD_add_response_header(resp, "Content-Type", req->out_type);
    for (struct sx_hdr *hd = req->_hdrs; hd; hd = hd->next)
        MHD_add_response_header(resp, hd->name, hd->value);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)req->status, resp);
    MHD_destroy_response(resp);

    int64_t dur = sx_mono_ns() - cs->start_ns;
    const char *route_name = route_idx < MAX_ROUTES ? h->routes[route_idx].r.path : "other";
    record_stat(h, route_name, route_idx < MAX_ROUTES ? route_idx : MAX_ROUTES, req->status, dur);
    if (h->cfg->access_log) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char addr[64] = "-";
        if (ci && ci->client_addr) {
            if (ci->client_addr->sa_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, addr,
                          sizeof(addr));
            else if (ci->client_addr->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ci->client_addr)->sin6_addr, addr,
                          sizeof(addr));
        }
        sx_log_info("access", "%s %s %s status=%d bytes_in=%zu bytes_out=%zu tenant=%s dur_ms=%.3f",
                    addr, req->method, req->path, req->status, cs->raw.len, len,
                    req->tenant ? req->tenant : "-", (double)dur / 1e6);
    }
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    conn_state_t *cs = *con_cls;
    if (!cs)
        return;
    struct sx_upgrade_req *ur = cs->req._upgrade;
    if (ur) {
        /* The connection ended before the upgrade handler ran. */
        if (!ur->used)
            ur->fn(ur->arg, NULL);
        free(ur);
    }
    sx_buf_dispose(&cs->raw);
    sx_buf_dispose(&cs->decoded);
    sx_buf_dispose(&cs->req.out);
    sx_arena_dispose(&cs->req.arena);
    free(cs);
    *con_cls = NULL;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    sx_log_debug("http", "%s", msg);
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl, sx_err_t *err)
{
    char host[256], port[16];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return sx_err_set(err, SX_EINVAL, "--listen %s: expected HOST:PORT", s);
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
        return sx_err_set(err, SX_EINVAL, "--listen %s: address too long", s);
    memcpy(host, s, hl);
    host[hl] = '\0';
    snprintf(port, sizeof(port), "%s", colon + 1);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res;
    int rc = getaddrinfo(hl ? host : NULL, port, &hints, &res);
    if (rc)
        return sx_err_set(err, SX_EINVAL, "--listen %s: %s", s, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int sx_http_start(sx_http_t *h, sx_err_t *err)
{
    /* A write handler blocks while its write-ahead log group is fsynced.
     * In a pool, libmicrohttpd serves each connection from the thread that
     * accepted it, so a blocked handler stalls the other connections of its
     * thread. By default every connection has a thread of its own: a
     * request waits only for its own fsync, and requests arriving meanwhile
     * share the next one. --workers N serves connections from a pool of N
     * threads instead (many mostly idle connections). */
    int workers = h->cfg->workers;
    for (size_t i = 0; i < h->cfg->nlisten && i < MAX_DAEMONS; i++) {
        struct sockaddr_storage ss;
        socklen_t sl;
        if (parse_listen(h->cfg->listen[i], &ss, &sl, err))
            return err->code;
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
                         MHD_ALLOW_UPGRADE;
        flags |= workers > 0 ? MHD_USE_EPOLL : MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
        if (ss.ss_family == AF_INET6)
            flags |= MHD_USE_IPv6;
        if (h->tls_cert)
            flags |= MHD_USE_TLS;
        struct MHD_OptionItem opts[16];
        int k = 0;
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
        if (workers > 0)
            opts[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, workers, NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 300, NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, 4096, NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 256 * 1024, NULL};
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)log_mhd, NULL};
        if (h->tls_cert) {
            opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
            opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
            if (h->tls_ca)
                opts[k++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, h->tls_ca};
        }
        opts[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
        struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                                                MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
        if (!d)
            return sx_err_set(err, SX_EIO, "cannot listen on %s (address in use or not permitted)",
                              h->cfg->listen[i]);
        h->daemons[h->ndaemons++] = d;
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        char threads[48];
        if (workers > 0)
            snprintf(threads, sizeof(threads), "%d workers", workers);
        else
            snprintf(threads, sizeof(threads), "a thread per connection");
        sx_log_info("http", "listening on %s%s (port %u, %s)", h->tls_cert ? "https://" : "http://",
                    h->cfg->listen[i], di ? di->port : 0, threads);
    }
    return 0;
}

void sx_http_destroy(sx_http_t *h)
{
    if (!h)
        return;
    /* Stop accepting first on every daemon, then ask the holders of
     * upgraded connections to close them (MHD must not be stopped under
     * them), then wait for running requests as MHD_stop_daemon joins the
     * worker threads. */
    for (size_t i = 0; i < h->ndaemons; i++)
        MHD_quiesce_daemon(h->daemons[i]);
    pthread_mutex_lock(&h->up_lock);
    h->stopping = true;
    atomic_store(&h->stop_flag, true);
    if (h->stop_fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(h->stop_fd, &one, sizeof(one));
        (void)w;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    while (h->nupgraded > 0 &&
           pthread_cond_timedwait(&h->up_cond, &h->up_lock, &deadline) == 0)
        ;
    size_t left = h->nupgraded;
    pthread_mutex_unlock(&h->up_lock);
    if (left) {
        /* Stopping MHD now would pull the sockets from under their
         * holders: leave everything to the process exit instead. */
        sx_log_error("http", "%zu upgraded connections still open after 30 s; not stopping the "
                             "HTTP daemons", left);
        return;
    }
    for (size_t i = 0; i < h->ndaemons; i++)
        MHD_stop_daemon(h->daemons[i]);
    free(h->tls_cert);
    free(h->tls_key);
    free(h->tls_ca);
    if (h->stop_fd >= 0)
        close(h->stop_fd);
    pthread_mutex_destroy(&h->stat_lock);
    pthread_mutex_destroy(&h->up_lock);
    pthread_cond_destroy(&h->up_cond);
    free(h);
}
