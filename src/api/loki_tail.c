/* SPDX-License-Identifier: Apache-2.0 */
/* Loki's live tail, GET /loki/api/v1/tail over a WebSocket. The handler
 * checks the parameters (query: a log query; limit; start; delay_for) and
 * the WebSocket handshake, answering errors as plain text like every Loki
 * route, then takes one of --tail-max-connections slots and upgrades the
 * connection. A thread per tail then sends Loki's frames,
 * {"streams":[{"stream":{...},"values":[["<ns>","<line>"]]},...]}, one
 * stream object per entry and at most 100 entries a frame, oldest first:
 * first the newest `limit` entries since `start`, then new entries found by
 * running the query again every half second over the recent past (the
 * LogQL engine's own evaluation, so the whole pipeline applies).
 *
 * Invariant: an entry is sent at most once. The thread remembers a key
 * (timestamp, hash of labels and line) for every entry sent at or after
 * its read cursor, and each poll reads [cursor, now - delay_for) and sends
 * only entries it has no key for. The cursor trails the newest read time
 * by a window (15 s, less under heavy traffic) so that entries written a
 * little late, or by a stream whose clock lags, are still found; entries
 * written with timestamps older than that are not sent (Loki would send
 * them, as it tails the write path). Entries that existed before the tail
 * opened are remembered the same way, so that `start` bounds only the first
 * frames, as in Loki. A client too slow to take the frames gets Loki's
 * dropped_entries instead of the entries. The store is only read: nothing
 * on the write path knows about tails. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/hash.h"
#include "../core/log.h"
#include "../core/time.h"
#include "../http/websocket.h"
#include "../query/logql/engine.h"
#include "loki.h"

#define NS 1000000000LL
#define POLL_NS (500 * 1000000LL)   /* how often the query runs again */
#define PING_NS NS                  /* Loki's wsPingPeriod */
#define WINDOW_NS (15 * NS)         /* how far back each poll looks again */
#define PAGE 2000                   /* entries one poll reads at most */
#define FRAME_ENTRIES 100           /* Loki's maxEntriesPerTailResponse */
#define MAX_DROPPED 1000            /* Loki's maxDroppedEntriesPerTailResponse */
#define OUT_CAP (4u << 20)          /* unsent bytes past which entries are dropped */
#define MAX_CLIENT_MESSAGE (64 * 1024)

/* ---- Slots ---- */

/* Open tails, for --tail-max-connections. Static: one server per process. */
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static int slots_used;

static void slot_release(void)
{
    pthread_mutex_lock(&slot_lock);
    slots_used--;
    pthread_mutex_unlock(&slot_lock);
}

/* ---- One tail ---- */

/* An entry sent, remembered while the cursor may read it again. */
typedef struct sent_key {
    int64_t ts;
    uint64_t h;
} sent_key_t;

typedef struct dropped {
    int64_t ts;
    char *labels; /* the JSON object, heap */
} dropped_t;

typedef struct tail {
    sx_api_ctx_t *ctx;
    char *tenant;
    char *query;
    int64_t start_ns;
    int64_t delay_ns;
    size_t limit;
    bool categorize;
    char *refused;           /* over the limit: close at once with this message */
    sx_upgraded_t *up;
    int fd;
    /* Thread state. */
    sx_ws_reader_t rd;
    sx_buf_t out;            /* frames not yet written */
    bool close_sent;
    sx_arena_t qarena;       /* the parsed query */
    sx_logql_expr_t *expr;
    int init_rc;             /* of the first read, made by the handler */
    sx_err_t init_err;
    int64_t cursor;          /* next poll reads from here (ns, inclusive) */
    int64_t floor;           /* nothing older is ever sent */
    sent_key_t *keys;        /* sorted by (ts, h) */
    size_t nkeys, keycap;
    dropped_t *dropped;
    size_t ndropped;
    uint64_t dropped_total;
} tail_t;

static void tail_free(tail_t *t)
{
    if (!t)
        return;
    free(t->tenant);
    free(t->query);
    free(t->refused);
    sx_ws_reader_dispose(&t->rd);
    sx_buf_dispose(&t->out);
    if (t->expr)
        sx_logql_expr_dispose(t->expr);
    sx_arena_dispose(&t->qarena);
    free(t->keys);
    for (size_t i = 0; i < t->ndropped; i++)
        free(t->dropped[i].labels);
    free(t->dropped);
    free(t);
}

/* ---- Writing ---- */

/* Write what fits of t->out without blocking. Returns -1 when the
 * connection is gone. */
static int flush_some(tail_t *t)
{
    size_t done = 0;
    while (done < t->out.len) {
        ssize_t w = send(t->fd, t->out.ptr + done, t->out.len - done, MSG_NOSIGNAL);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return -1;
    }
    if (done) {
        memmove(t->out.ptr, t->out.ptr + done, t->out.len - done);
        t->out.len -= done;
    }
    return 0;
}

/* Write all of t->out, waiting up to timeout_ms for the socket (or less
 * when the server stops). Returns -1 if it could not. */
static int flush_all(tail_t *t, int timeout_ms)
{
    int64_t end = sx_mono_ns() + (int64_t)timeout_ms * 1000000;
    while (t->out.len) {
        if (flush_some(t))
            return -1;
        if (!t->out.len)
            break;
        int64_t left = (end - sx_mono_ns()) / 1000000;
        if (left <= 0)
            return -1;
        struct pollfd p = {t->fd, POLLOUT, 0};
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return -1;
    }
    return 0;
}

/* End the tail: send a close frame with code and reason (unless one was
 * sent, in answer to the client's), wait a little for the client's close
 * frame as RFC 6455 asks, then hand the socket back. */
static void finish(tail_t *t, uint16_t code, const char *reason)
{
    if (!t->close_sent) {
        sx_ws_close_put(&t->out, code, reason, NULL);
        t->close_sent = true;
        /* Shutting down, do not keep the server waiting long. */
        int64_t wait = code == SX_WS_CLOSE_GOING_AWAY ? NS / 2 : 2 * NS;
        if (flush_all(t, (int)(wait / 1000000)) == 0) {
            int64_t end = sx_mono_ns() + wait;
            char buf[4096];
            for (;;) {
                int64_t left = (end - sx_mono_ns()) / 1000000;
                if (left <= 0)
                    break;
                struct pollfd p = {t->fd, POLLIN, 0};
                int rc = poll(&p, 1, (int)left);
                if (rc < 0 && errno == EINTR)
                    continue;
                if (rc <= 0)
                    break;
                ssize_t n = recv(t->fd, buf, sizeof(buf), 0);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                    continue;
                if (n <= 0)
                    break;
                sx_ws_reader_feed(&t->rd, buf, (size_t)n);
                sx_ws_msg_t m;
                uint16_t cc;
                sx_err_t err;
                int r;
                bool closed = false;
                while ((r = sx_ws_reader_next(&t->rd, &m, &cc, &err)) == 1)
                    closed |= m.opcode == SX_WS_CLOSE;
                if (closed || r < 0)
                    break;
            }
        }
    } else {
        flush_all(t, 2000);
    }
    sx_upgraded_close(t->up);
    t->up = NULL;
}

/* ---- Frames ---- */

/* One entry of a poll's answer, in sending order. */
typedef struct item {
    int64_t ts;
    uint32_t s, e; /* stream and entry index in the result */
    uint64_t h;
} item_t;

static int cmp_item(const void *x, const void *y)
{
    const item_t *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->s != b->s)
        return a->s < b->s ? -1 : 1;
    return (a->e > b->e) - (a->e < b->e);
}

static int cmp_key(const void *x, const void *y)
{
    const sent_key_t *a = x, *b = y;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return (a->h > b->h) - (a->h < b->h);
}

static uint64_t hash_labels(const sx_label_t *l, uint32_t n, uint64_t h)
{
    for (uint32_t i = 0; i < n; i++) {
        h = sx_hash64_seed(l[i].name.ptr, l[i].name.len, h ^ 0x3d);
        h = sx_hash64_seed(l[i].value.ptr, l[i].value.len, h ^ 0x7f);
    }
    return h;
}

static uint64_t entry_hash(const sx_logql_stream_t *s, const sx_logql_entry_t *e)
{
    uint64_t h = hash_labels(s->labels, s->nlabels, 0x5851f42d4c957f2dULL);
    h = hash_labels(e->meta, e->nmeta, h ^ 1);
    h = hash_labels(e->parsed, e->nparsed, h ^ 2);
    return sx_hash64_seed(e->line.ptr, e->line.len, h);
}

static bool key_known(const tail_t *t, int64_t ts, uint64_t h)
{
    sent_key_t k = {ts, h};
    return t->nkeys && bsearch(&k, t->keys, t->nkeys, sizeof(k), cmp_key) != NULL;
}

static void frame_begin(tail_t *t, sx_buf_t *f)
{
    (void)t;
    sx_buf_clear(f);
    sx_buf_puts(f, "{\"streams\":[");
}

/* Close the frame in f (adding the dropped entries reported so far and
 * the encoding flags) and queue it as one text message. */
static void frame_end(tail_t *t, sx_buf_t *f)
{
    sx_buf_putc(f, ']');
    if (t->ndropped) {
        sx_buf_puts(f, ",\"dropped_entries\":[");
        for (size_t i = 0; i < t->ndropped; i++) {
            if (i)
                sx_buf_putc(f, ',');
            sx_buf_printf(f, "{\"timestamp\":\"%lld\",\"labels\":%s}",
                          (long long)t->dropped[i].ts, t->dropped[i].labels);
            free(t->dropped[i].labels);
        }
        sx_buf_putc(f, ']');
        t->ndropped = 0;
    }
    if (t->categorize)
        sx_buf_puts(f, ",\"encodingFlags\":[\"categorize-labels\"]");
    sx_buf_putc(f, '}');
    sx_ws_frame_put(&t->out, SX_WS_TEXT, true, f->ptr, f->len, NULL);
}

static void put_entry(tail_t *t, sx_buf_t *f, const sx_logql_stream_t *s,
                      const sx_logql_entry_t *e, bool first)
{
    if (!first)
        sx_buf_putc(f, ',');
    sx_api_loki_put_stream(f, s, e, 1, t->categorize);
}

static void drop_entry(tail_t *t, const sx_logql_stream_t *s, const sx_logql_entry_t *e)
{
    t->dropped_total++;
    if (t->ndropped >= MAX_DROPPED)
        return;
    if (!t->dropped)
        t->dropped = sx_xcalloc(MAX_DROPPED, sizeof(dropped_t));
    sx_buf_t b = SX_BUF_INIT;
    if (t->categorize)
        sx_api_put_labelset(&b, s->stream, s->nstream);
    else
        sx_api_put_labelset(&b, s->labels, s->nlabels);
    sx_buf_putc(&b, '\0');
    t->dropped[t->ndropped].ts = e->ts;
    t->dropped[t->ndropped].labels = b.ptr;
    t->ndropped++;
}

/* ---- Polling ---- */

/* Run the query over [lo, hi) (forward, or the newest `limit` with
 * backward), queue the entries not sent before, oldest first, and
 * remember them (with send false, only remember them). *n gets the number
 * of entries the query returned (sent or not), *newest their newest
 * timestamp. Returns 0 or an engine error code with err set. */
static int poll_range(tail_t *t, int64_t lo, int64_t hi, size_t limit, bool backward, bool send,
                      size_t *n, int64_t *newest, sx_err_t *err)
{
    *n = 0;
    *newest = lo;
    if (hi <= lo)
        return 0;
    sx_logstore_t *ls = sx_storage_logs_peek(t->ctx->storage, t->tenant, SX_LOGS);
    if (!ls)
        return 0;
    sx_logql_params_t p = {0};
    p.start_ns = lo;
    p.end_ns = hi;
    p.limit = limit;
    p.backward = backward;
    p.categorize = t->categorize;
    sx_logql_opts_t o;
    sx_logql_opts_default(&o);
    int64_t timeout_ms =
        t->ctx->cfg->query_timeout_ms > 0 ? t->ctx->cfg->query_timeout_ms : 120000;
    o.deadline_ns = sx_mono_ns() + timeout_ms * 1000000LL;
    o.cancel = t->up ? sx_upgraded_stopping(t->up) : NULL; /* none before the upgrade */
    o.parallelism = 1;
    sx_arena_t a;
    sx_arena_init(&a);
    sx_logql_result_t r;
    int rc = sx_logql_eval(ls, t->expr, &p, &o, &a, &r, err);
    if (rc) {
        sx_arena_dispose(&a);
        return rc;
    }
    size_t total = 0;
    for (size_t i = 0; i < r.nstreams; i++)
        total += r.streams[i].n;
    item_t *items = sx_xmalloc((total ? total : 1) * sizeof(item_t));
    size_t k = 0;
    for (size_t i = 0; i < r.nstreams; i++) {
        const sx_logql_stream_t *s = &r.streams[i];
        for (size_t j = 0; j < s->n; j++) {
            const sx_logql_entry_t *e = &s->e[j];
            if (e->ts > *newest)
                *newest = e->ts;
            uint64_t h = entry_hash(s, e);
            if (key_known(t, e->ts, h))
                continue;
            items[k++] = (item_t){e->ts, (uint32_t)i, (uint32_t)j, h};
        }
    }
    *n = total;
    if (k)
        qsort(items, k, sizeof(item_t), cmp_item);
    sx_buf_t f = SX_BUF_INIT;
    size_t in_frame = 0;
    for (size_t i = 0; i < k; i++) {
        const sx_logql_stream_t *s = &r.streams[items[i].s];
        const sx_logql_entry_t *e = &s->e[items[i].e];
        if (!send) {
            /* Only remembered. */
        } else if (t->out.len > OUT_CAP) {
            /* The client does not keep up: report instead of buffering. */
            drop_entry(t, s, e);
        } else {
            if (in_frame == 0)
                frame_begin(t, &f);
            put_entry(t, &f, s, e, in_frame == 0);
            if (++in_frame == FRAME_ENTRIES) {
                frame_end(t, &f);
                in_frame = 0;
            }
        }
        if (t->nkeys == t->keycap) {
            t->keycap = t->keycap ? t->keycap * 2 : 256;
            t->keys = sx_xrealloc(t->keys, t->keycap * sizeof(sent_key_t));
        }
        t->keys[t->nkeys++] = (sent_key_t){items[i].ts, items[i].h};
    }
    if (in_frame)
        frame_end(t, &f);
    else if (t->ndropped && t->out.len <= OUT_CAP) {
        /* Dropped entries ride on the next frame; send one now that the
         * client has room, as Loki does with its next response. */
        frame_begin(t, &f);
        frame_end(t, &f);
    }
    sx_buf_dispose(&f);
    free(items);
    sx_arena_dispose(&a);
    if (t->nkeys)
        qsort(t->keys, t->nkeys, sizeof(sent_key_t), cmp_key);
    return 0;
}

/* Forget the keys older than the cursor: no poll reads them again. */
static void prune_keys(tail_t *t)
{
    size_t i = 0;
    while (i < t->nkeys && t->keys[i].ts < t->cursor)
        i++;
    if (i) {
        memmove(t->keys, t->keys + i, (t->nkeys - i) * sizeof(sent_key_t));
        t->nkeys -= i;
    }
}

/* One live poll. Returns 1 when the page was full (poll again at once),
 * 0, or an engine error code. */
static int poll_live(tail_t *t, sx_err_t *err)
{
    int64_t hi = sx_now_ns() - t->delay_ns;
    size_t n;
    int64_t newest;
    int rc = poll_range(t, t->cursor, hi, PAGE, false, true, &n, &newest, err);
    if (rc)
        return rc;
    if (n >= PAGE) {
        /* More than a page: go on from the newest entry read (its keys
         * are known) rather than re-reading the window. */
        t->cursor = newest > t->cursor ? newest : t->cursor + 1;
        prune_keys(t);
        return 1;
    }
    if (hi <= t->cursor)
        return 0;
    int64_t c = hi - WINDOW_NS;
    /* Heavy traffic: keep at most half a page of known entries in the
     * window, so that one read per poll still reaches new ones. */
    if (t->nkeys > PAGE / 2 && t->keys[t->nkeys - PAGE / 2].ts > c)
        c = t->keys[t->nkeys - PAGE / 2].ts;
    if (c < t->floor)
        c = t->floor;
    if (c > t->cursor)
        t->cursor = c;
    prune_keys(t);
    return 0;
}

/* The first frames: the newest `limit` entries in [start, now - delay).
 * Then where live polls start: entries pushed from now on are sent even
 * when a little older than start (Loki's live tail does not look at
 * start), so the entries of the window before start that exist already
 * are remembered as if sent. */
static int poll_initial(tail_t *t, sx_err_t *err)
{
    int64_t hi = sx_now_ns() - t->delay_ns;
    size_t n = 0;
    int64_t newest;
    if (t->limit && hi > t->start_ns) {
        int rc = poll_range(t, t->start_ns, hi, t->limit, true, true, &n, &newest, err);
        if (rc)
            return rc;
    }
    int64_t win = hi - WINDOW_NS;
    if (n >= t->limit && t->nkeys) {
        /* Cut by the limit: older entries are not part of this tail. */
        t->floor = t->keys[0].ts + 1;
    } else if (t->start_ns > win) {
        size_t nk = t->nkeys;
        int rc = poll_range(t, win, t->start_ns, PAGE, true, false, &n, &newest, err);
        if (rc)
            return rc;
        t->floor = win;
        if (n >= PAGE && t->nkeys > nk) {
            /* More than a page before start: skip what was not read. */
            int64_t oldest = newest;
            for (size_t i = 0; i < t->nkeys; i++)
                if (t->keys[i].ts < oldest)
                    oldest = t->keys[i].ts;
            t->floor = oldest + 1;
        }
    } else {
        t->floor = t->start_ns;
    }
    t->cursor = win > t->floor ? win : t->floor;
    prune_keys(t);
    return 0;
}

/* ---- The tail's thread ---- */

/* Read what the client sent. Returns 0 to go on, or 1 when the tail
 * ended (closed here). */
static int read_client(tail_t *t)
{
    char buf[8192];
    for (;;) {
        ssize_t n = recv(t->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            /* The client went away without a close frame. */
            t->close_sent = true;
            finish(t, 0, NULL);
            return 1;
        }
        sx_ws_reader_feed(&t->rd, buf, (size_t)n);
        if ((size_t)n < sizeof(buf))
            break;
    }
    sx_ws_msg_t m;
    uint16_t code;
    sx_err_t err;
    int rc;
    while ((rc = sx_ws_reader_next(&t->rd, &m, &code, &err)) == 1) {
        if (m.opcode == SX_WS_PING) {
            sx_ws_frame_put(&t->out, SX_WS_PONG, true, m.data, m.len, NULL);
        } else if (m.opcode == SX_WS_CLOSE) {
            /* Echo the code, as gorilla/websocket's close handler does,
             * then close the connection. */
            sx_ws_close_put(&t->out, m.close_code == SX_WS_CLOSE_NO_STATUS ? 0 : m.close_code,
                            "", NULL);
            t->close_sent = true;
            finish(t, 0, NULL);
            return 1;
        }
        /* Data messages and pongs are read and ignored, as Loki does. */
    }
    if (rc < 0) {
        sx_log_debug("loki", "tail: client protocol error: %s", err.msg);
        finish(t, code, err.msg);
        return 1;
    }
    return 0;
}

static void *tail_main(void *arg)
{
    tail_t *t = arg;
    t->fd = sx_upgraded_fd(t->up);
    int fl = fcntl(t->fd, F_GETFL);
    if (fl >= 0)
        fcntl(t->fd, F_SETFL, fl | O_NONBLOCK);
    sx_ws_reader_init(&t->rd, MAX_CLIENT_MESSAGE);
    sx_str_t pending = sx_upgraded_pending(t->up);
    if (pending.len)
        sx_ws_reader_feed(&t->rd, pending.ptr, pending.len);
    if (t->refused) {
        /* As Loki: the limit is checked after the upgrade and reported
         * in the close frame. */
        finish(t, SX_WS_CLOSE_INTERNAL, t->refused);
        tail_free(t);
        return NULL;
    }
    sx_log_info("loki", "starting to tail logs tenant=%s query=%s", t->tenant, t->query);
    sx_err_t err = t->init_err;
    int rc = t->init_rc;
    int64_t now = sx_mono_ns();
    int64_t next_poll = now + POLL_NS, next_ping = now + PING_NS;
    while (!rc && t->up) {
        if (flush_some(t)) {
            t->close_sent = true; /* nothing more can be written */
            finish(t, 0, NULL);
            break;
        }
        now = sx_mono_ns();
        int64_t wake = next_poll < next_ping ? next_poll : next_ping;
        int timeout = wake > now ? (int)((wake - now) / 1000000) + 1 : 0;
        struct pollfd p[2] = {{t->fd, POLLIN | (t->out.len ? POLLOUT : 0), 0},
                              {sx_upgraded_stop_fd(t->up), POLLIN, 0}};
        int n = poll(p, 2, timeout);
        if (n < 0 && errno != EINTR) {
            rc = SX_EIO;
            sx_err_set(&err, SX_EIO, "poll: %s", strerror(errno));
            break;
        }
        if (n > 0 && p[1].revents) {
            finish(t, SX_WS_CLOSE_GOING_AWAY, "server shutting down");
            break;
        }
        if (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) && read_client(t))
            break;
        now = sx_mono_ns();
        if (now >= next_ping) {
            sx_ws_frame_put(&t->out, SX_WS_PING, true, NULL, 0, NULL);
            next_ping = now + PING_NS;
        }
        if (now >= next_poll) {
            rc = poll_live(t, &err);
            if (rc == 1) {
                rc = 0;
                next_poll = now; /* a full page: go on at once */
            } else {
                next_poll = now + POLL_NS;
            }
        }
    }
    if (t->up) {
        if (rc == SX_ECANCELED && atomic_load(sx_upgraded_stopping(t->up)))
            finish(t, SX_WS_CLOSE_GOING_AWAY, "server shutting down");
        else
            finish(t, SX_WS_CLOSE_INTERNAL, err.msg[0] ? err.msg : sx_strerror(rc));
    }
    if (t->dropped_total)
        sx_log_info("loki", "tail of tenant %s dropped %llu entries (slow client)", t->tenant,
                    (unsigned long long)t->dropped_total);
    sx_log_info("loki", "ended tailing logs tenant=%s query=%s", t->tenant, t->query);
    tail_free(t);
    slot_release();
    return NULL;
}

/* The HTTP layer's upgrade callback: start the tail's thread. */
static void on_upgraded(void *arg, sx_upgraded_t *up)
{
    tail_t *t = arg;
    bool counted = !t->refused;
    if (!up) {
        tail_free(t);
        if (counted)
            slot_release();
        return;
    }
    t->up = up;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, tail_main, t);
    pthread_attr_destroy(&attr);
    if (rc) {
        sx_log_warn("loki", "cannot start a tail thread: %s", strerror(rc));
        sx_upgraded_close(up);
        tail_free(t);
        if (counted)
            slot_release();
    }
}

/* ---- The handler ---- */

/* A status text as Go's http.StatusText, for handshake refusals (what
 * gorilla/websocket answers). */
static void handshake_refuse(sx_req_t *req, int status)
{
    sx_resp_header(req, "Sec-Websocket-Version", "13");
    sx_resp_text(req, status, status == 405 ? "Method Not Allowed\n" : "Bad Request\n");
}

static void on_tail(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    sx_err_t err;
    sx_err_clear(&err);
    /* Parameters, in the order Loki's ParseTailQuery reads them. */
    const char *q = sx_req_param(req, "query");
    sx_logql_expr_t *e = sx_api_loki_query_param(req, true);
    if (!e)
        return;
    sx_logql_expr_dispose(e);
    size_t limit = 100;
    const char *v = sx_req_param(req, "limit");
    if (v && *v) {
        char *end;
        long long x = strtoll(v, &end, 10);
        if (*end || end == v || x <= 0) {
            sx_api_loki_error(req, 400, "limit must be a positive value");
            return;
        }
        limit = (size_t)x;
    }
    int64_t start = sx_now_ns() - 3600 * NS;
    v = sx_req_param(req, "start");
    if (v && *v && sx_api_loki_parse_time(v, &start, &err)) {
        sx_api_loki_error(req, 400, sx_arena_sprintf(&req->arena, "invalid start: %s", err.msg));
        return;
    }
    int64_t delay = 0;
    v = sx_req_param(req, "delay_for");
    if (v && *v) {
        char *end;
        long long x = strtoll(v, &end, 10);
        if (*end || end == v) {
            sx_api_loki_error(req, 400,
                              sx_arena_sprintf(&req->arena,
                                               "strconv.Atoi: parsing \"%s\": invalid syntax", v));
            return;
        }
        if (x < 0 || x > 5) {
            sx_api_loki_error(req, 400, "delay_for can't be greater than 5");
            return;
        }
        delay = x * NS;
    }
    char accept[SX_WS_ACCEPT_LEN + 1];
    int status;
    if (sx_ws_handshake_check(req->method, sx_req_header(req, "Connection"),
                              sx_req_header(req, "Upgrade"),
                              sx_req_header(req, "Sec-WebSocket-Version"),
                              sx_req_header(req, "Sec-WebSocket-Key"), accept, &status, &err)) {
        sx_log_debug("loki", "tail: %s", err.msg);
        handshake_refuse(req, status);
        return;
    }
    const char *flags = sx_req_header(req, "X-Loki-Response-Encoding-Flags");
    tail_t *t = sx_xcalloc(1, sizeof(*t));
    t->ctx = ctx;
    t->tenant = sx_xstrdup(req->tenant);
    t->query = sx_xstrdup(q);
    t->start_ns = start;
    t->delay_ns = delay;
    t->limit = limit;
    t->categorize = flags && strstr(flags, "categorize-labels");
    int max = ctx->cfg->tail_max_connections;
    pthread_mutex_lock(&slot_lock);
    if (slots_used >= max) {
        char msg[128];
        snprintf(msg, sizeof(msg),
                 "max concurrent tail requests limit exceeded, count > limit (%d > %d)",
                 slots_used + 1, max);
        t->refused = sx_xstrdup(msg);
    } else {
        slots_used++;
    }
    pthread_mutex_unlock(&slot_lock);
    if (t->refused) {
        sx_http_count_rejected(ctx->http, "tail_limit", 1);
    } else {
        /* The first frames are read, and the entries already in the window
         * remembered, before the 101 goes out: a line pushed once the
         * client has its answer is always new to the tail, however late
         * the tail's thread starts. */
        sx_arena_init(&t->qarena);
        sx_err_clear(&t->init_err);
        t->expr = sx_logql_parse(t->query, strlen(t->query), &t->qarena, &t->init_err);
        t->init_rc = t->expr ? poll_initial(t, &t->init_err) : t->init_err.code;
    }
    sx_resp_header(req, "Upgrade", "websocket");
    sx_resp_header(req, "Sec-WebSocket-Accept", accept);
    sx_resp_upgrade(req, on_upgraded, t);
}

static const sx_route_t routes[] = {
    {NULL, "/loki/api/v1/tail", on_tail, 0, 0},
};

void sx_api_loki_tail_register(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_http_add_routes(h, routes, sizeof(routes) / sizeof(routes[0]), ctx);
}
