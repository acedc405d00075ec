/* SPDX-License-Identifier: Apache-2.0 */
/* zstd wrappers for part columns. Each thread keeps one compression and one
 * decompression context, created on first use and freed at thread exit, so
 * hot query paths do not pay zstd's context setup per block. Decompression
 * never allocates beyond the caller's limit, whatever a frame header says. */
#include "encoding.h"

#include <pthread.h>
#include <stdlib.h>
#include <zstd.h>

#include "core/arena.h"

typedef struct tls {
    ZSTD_CCtx *c;
    ZSTD_DCtx *d;
} tls_t;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p)
{
    tls_t *t = p;
    ZSTD_freeCCtx(t->c);
    ZSTD_freeDCtx(t->d);
    free(t);
}

static void tls_make_key(void)
{
    if (pthread_key_create(&tls_key, tls_free) != 0)
        sx_panic("BUG: cannot create the zstd context key");
}

static tls_t *tls_get(void)
{
    pthread_once(&tls_once, tls_make_key);
    tls_t *t = pthread_getspecific(tls_key);
    if (!t) {
        t = sx_xcalloc(1, sizeof(*t));
        pthread_setspecific(tls_key, t);
    }
    return t;
}

int sx_zstd_compress(const void *in, size_t n, int level, sx_buf_t *out)
{
    size_t bound = ZSTD_compressBound(n);
    if (bound == 0 || ZSTD_isError(bound))
        return SX_EINVAL;
    tls_t *t = tls_get();
    if (!t->c && !(t->c = ZSTD_createCCtx()))
        return SX_ENOMEM;
    char *dst = sx_buf_reserve(out, bound);
    size_t r = ZSTD_compressCCtx(t->c, dst, bound, in, n, level);
    if (ZSTD_isError(r))
        return SX_EINVAL;
    out->len += r;
    return 0;
}

/* Window limit for streamed frames: enough for the caller's limit and for
 * what zstd's own levels pick, never zstd's 128 MiB default maximum unless
 * the limit needs it. */
static int window_log_max(size_t limit)
{
    int wl = 23;
    while (wl < 27 && ((size_t)1 << wl) < limit)
        wl++;
    return wl;
}

static int stream(ZSTD_DCtx *d, const void *in, size_t n, size_t limit, sx_buf_t *out,
                  sx_err_t *err)
{
    ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters);
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, window_log_max(limit));
    ZSTD_inBuffer ib = {in, n, 0};
    size_t produced = 0;
    for (;;) {
        size_t room = limit - produced;
        size_t want = room < 65536 ? room + 1 : 65536;
        char *dst = sx_buf_reserve(out, want);
        ZSTD_outBuffer ob = {dst, want, 0};
        size_t before = ib.pos;
        size_t r = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(r))
            return sx_err_set(err, SX_ECORRUPT, "zstd: %s", ZSTD_getErrorName(r));
        out->len += ob.pos;
        produced += ob.pos;
        if (produced > limit)
            return sx_err_set(err, SX_ETOOLARGE, "zstd: more than %zu bytes", limit);
        if (r == 0 && ib.pos == ib.size)
            return 0;
        if (ob.pos < ob.size && ib.pos == ib.size)
            return sx_err_set(err, SX_ECORRUPT, "zstd: truncated frame");
        if (ob.pos == 0 && ib.pos == before)
            return sx_err_set(err, SX_ECORRUPT, "zstd: no progress");
    }
}

int sx_zstd_decompress(const void *in, size_t n, size_t limit, sx_buf_t *out, sx_err_t *err)
{
    if (n == 0)
        return sx_err_set(err, SX_ECORRUPT, "zstd: empty input");
    tls_t *t = tls_get();
    if (!t->d && !(t->d = ZSTD_createDCtx()))
        return sx_err_set(err, SX_ENOMEM, "zstd: cannot create context");
    size_t old = out->len;
    unsigned long long fsz = ZSTD_getFrameContentSize(in, n);
    if (fsz == ZSTD_CONTENTSIZE_ERROR)
        return sx_err_set(err, SX_ECORRUPT, "zstd: not a zstd frame");
    size_t csz = ZSTD_findFrameCompressedSize(in, n);
    if (fsz != ZSTD_CONTENTSIZE_UNKNOWN && !ZSTD_isError(csz) && csz == n) {
        /* One frame with a declared size: decompress in one call. */
        if (fsz > limit)
            return sx_err_set(err, SX_ETOOLARGE, "zstd: frame declares %llu bytes, limit %zu",
                              fsz, limit);
        /* Reserve at least a byte: an empty buffer has no pointer yet. */
        char *dst = sx_buf_reserve(out, fsz ? (size_t)fsz : 1);
        size_t r = ZSTD_decompressDCtx(t->d, dst, (size_t)fsz, in, n);
        if (ZSTD_isError(r))
            return sx_err_set(err, SX_ECORRUPT, "zstd: %s", ZSTD_getErrorName(r));
        if (r != fsz)
            return sx_err_set(err, SX_ECORRUPT, "zstd: frame size mismatch");
        out->len += r;
        return 0;
    }
    int rc = stream(t->d, in, n, limit, out, err);
    if (rc)
        out->len = old;
    return rc;
}
