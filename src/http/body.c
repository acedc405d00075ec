/* SPDX-License-Identifier: Apache-2.0 */
/* Content-Encoding decoders for request bodies: gzip and deflate (zlib),
 * zstd, snappy block and snappy framing. A body is decompressed before any
 * wire-format decoder sees it. The invariant every codec here keeps: output
 * is written into a buffer whose capacity never passes the caller's limit
 * plus one byte (the byte that proves the limit was crossed), so neither a
 * decompression bomb nor a lying size header can make us allocate more. */
#include "body.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "../core/arena.h"

/* ---- Bounded output ---- */

/* Where a codec writes: the bytes appended to out since base count
 * against limit. */
typedef struct sink {
    sx_buf_t *out;
    size_t base;  /* out->len on entry */
    size_t limit; /* most bytes that may be appended */
} sink_t;

static inline size_t produced(const sink_t *k)
{
    return k->out->len - k->base;
}

/* The capacity out may grow to: base + limit + 1, saturating. */
static inline size_t hard_cap(const sink_t *k)
{
    return k->limit >= SIZE_MAX - k->base ? SIZE_MAX : k->base + k->limit + 1;
}

/* Make sure out has at least need free bytes after out->len, trying for
 * want (want >= need) and at least doubling what was produced so far, but
 * never growing its capacity past hard_cap. The caller guarantees that
 * out->len + need <= hard_cap. out->ptr may move. */
static void sink_reserve(sink_t *k, size_t need, size_t want)
{
    sx_buf_t *b = k->out;
    if (b->cap - b->len >= need)
        return;
    size_t max = hard_cap(k) - b->len;
    size_t grow = produced(k) > 4096 ? produced(k) : 4096;
    if (want < grow)
        want = grow;
    if (want > max)
        want = max;
    if (want < need)
        want = need;
    b->ptr = sx_xrealloc(b->ptr, b->len + want);
    b->cap = b->len + want;
}

/* Room for a streaming codec's next write: free bytes after out->len, up
 * to the hard cap, growing out when it is full (hint sizes the first
 * allocation). Returns 0 once limit + 1 bytes have been produced. */
static size_t sink_room(sink_t *k, size_t hint)
{
    sx_buf_t *b = k->out;
    size_t cap = hard_cap(k);
    if (b->len >= cap)
        return 0;
    if (b->cap <= b->len)
        sink_reserve(k, 1, hint);
    return (b->cap < cap ? b->cap : cap) - b->len;
}

static int too_large(const sink_t *k, sx_err_t *err)
{
    return sx_err_set(err, SX_ETOOLARGE, "decompressed body exceeds the limit of %zu bytes",
                      k->limit);
}

static int corrupt(sx_err_t *err, const char *codec, const char *why)
{
    return sx_err_set(err, SX_EPARSE, "cannot decompress %s body: %s", codec, why);
}

/* ---- gzip and deflate ---- */

static inline bool looks_gzip(const unsigned char *p, size_t len)
{
    return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* A zlib header: compression method 8, window at most 32K, and the 16-bit
 * check value divisible by 31 (RFC 1950). */
static inline bool looks_zlib(const unsigned char *p, size_t len)
{
    return len >= 2 && (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 && ((p[0] << 8) | p[1]) % 31 == 0;
}

/* Inflate in with zlib's window_bits (31 gzip, 15 zlib, -15 raw) into k.
 * With members, further gzip members after the first are decoded too (RFC
 * 1952 allows concatenation); any other trailing byte is an error. */
static int inflate_body(const char *codec, int window_bits, bool members, const char *in,
                        size_t len, sink_t *k, sx_err_t *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    int zrc = inflateInit2(&zs, window_bits);
    if (zrc != Z_OK)
        return sx_err_set(err, SX_ENOMEM, "cannot decompress %s body: %s", codec, zError(zrc));

    const char *next = in; /* input not yet handed to zlib (zlib's avail_in is 32-bit) */
    size_t left = len;
    size_t hint = len < SIZE_MAX / 4 ? len * 4 : len;
    int rc = 0;
    for (;;) {
        if (zs.avail_in == 0 && left) {
            uInt n = left > UINT_MAX ? UINT_MAX : (uInt)left;
            zs.next_in = (Bytef *)next;
            zs.avail_in = n;
            next += n;
            left -= n;
        }
        size_t room = sink_room(k, hint);
        if (!room) {
            rc = too_large(k, err);
            break;
        }
        if (room > UINT_MAX)
            room = UINT_MAX;
        zs.next_out = (Bytef *)(k->out->ptr + k->out->len);
        zs.avail_out = (uInt)room;
        zrc = inflate(&zs, Z_NO_FLUSH);
        k->out->len += room - zs.avail_out;

        if (zrc == Z_STREAM_END) {
            size_t rest = zs.avail_in + left;
            if (!rest)
                break;
            /* The unread input is contiguous: it starts at next_in. */
            if (members && looks_gzip(zs.next_in, rest) && inflateReset(&zs) == Z_OK)
                continue;
            rc = corrupt(err, codec, "trailing data after the compressed stream");
            break;
        }
        if (zrc == Z_OK)
            continue;
        if (zrc == Z_BUF_ERROR && zs.avail_out > 0 && zs.avail_in == 0) {
            if (left)
                continue;
            rc = corrupt(err, codec, "unexpected end of data");
            break;
        }
        if (zrc == Z_BUF_ERROR && zs.avail_out == 0)
            continue; /* out of room: the next round grows the buffer or fails */
        if (zrc == Z_MEM_ERROR)
            rc = sx_err_set(err, SX_ENOMEM, "cannot decompress %s body: out of memory", codec);
        else if (zrc == Z_NEED_DICT)
            rc = corrupt(err, codec, "stream needs a preset dictionary");
        else
            rc = corrupt(err, codec, zs.msg ? zs.msg : zError(zrc));
        break;
    }
    inflateEnd(&zs);
    /* The stream may end exactly on the byte past the limit. */
    if (!rc && produced(k) > k->limit)
        rc = too_large(k, err);
    return rc;
}

/* HTTP's "deflate" is meant to be zlib-wrapped (RFC 9110) but many clients
 * send raw deflate. Try zlib when the header says so, and raw deflate
 * otherwise or when zlib fails (a raw stream can pass the header check by
 * chance). The error reported is the first attempt's. */
static int deflate_body(const char *in, size_t len, sink_t *k, sx_err_t *err)
{
    if (!looks_zlib((const unsigned char *)in, len))
        return inflate_body("deflate", -MAX_WBITS, false, in, len, k, err);
    int rc = inflate_body("deflate", MAX_WBITS, false, in, len, k, err);
    if (rc != SX_EPARSE)
        return rc;
    k->out->len = k->base;
    sx_err_t raw_err;
    if (inflate_body("deflate", -MAX_WBITS, false, in, len, k, &raw_err) == 0) {
        sx_err_clear(err);
        return 0;
    }
    k->out->len = k->base;
    return rc;
}

/* ---- zstd ---- */

/* Largest window a frame may ask for: enough for every standard level up
 * to 19 when streaming without a content size (2^23), more when the limit
 * itself is bigger, never more than zstd's default cap (2^27). */
enum { ZSTD_WINDOW_LOG_MIN = 23, ZSTD_WINDOW_LOG_MAX = 27 };

static int zstd_window_log(size_t limit)
{
    int log = ZSTD_WINDOW_LOG_MIN;
    while (log < ZSTD_WINDOW_LOG_MAX && ((size_t)1 << log) < limit)
        log++;
    return log;
}

/* Decode any number of zstd frames (skippable ones included) with the
 * streaming API, so frames that do not state their content size work. */
static int zstd_body(const char *in, size_t len, sink_t *k, sx_err_t *err)
{
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    if (!dc)
        return sx_err_set(err, SX_ENOMEM, "cannot decompress zstd body: out of memory");
    ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, zstd_window_log(k->limit));

    unsigned long long claim = ZSTD_getFrameContentSize(in, len);
    size_t hint = claim < ZSTD_CONTENTSIZE_ERROR && claim < SIZE_MAX ? (size_t)claim + 1
                  : len < SIZE_MAX / 4                               ? len * 4
                                                                     : len;
    ZSTD_inBuffer ib = {in, len, 0};
    int rc = 0;
    for (;;) {
        size_t room = sink_room(k, hint);
        if (!room) {
            rc = too_large(k, err);
            break;
        }
        ZSTD_outBuffer ob = {k->out->ptr + k->out->len, room, 0};
        size_t in_before = ib.pos;
        size_t zr = ZSTD_decompressStream(dc, &ob, &ib);
        k->out->len += ob.pos;
        if (ZSTD_isError(zr)) {
            if (ZSTD_getErrorCode(zr) == ZSTD_error_frameParameter_windowTooLarge)
                rc = sx_err_set(err, SX_ETOOLARGE,
                                "cannot decompress zstd body: frame window larger than 2^%d bytes",
                                zstd_window_log(k->limit));
            else
                rc = corrupt(err, "zstd", ZSTD_getErrorName(zr));
            break;
        }
        if (ob.pos == room)
            continue; /* output full: there may be more to flush */
        if (ib.pos == ib.size) {
            /* All input read and everything decodable flushed. */
            if (zr != 0)
                rc = corrupt(err, "zstd", "unexpected end of data");
            break;
        }
        if (ob.pos == 0 && ib.pos == in_before) {
            /* zstd promises progress; never spin if it does not keep it. */
            rc = corrupt(err, "zstd", "decoder made no progress");
            break;
        }
    }
    ZSTD_freeDCtx(dc);
    if (!rc && produced(k) > k->limit)
        rc = too_large(k, err);
    return rc;
}

/* ---- snappy ---- */

/* A snappy element of n input bytes expands to at most 64 bytes per 3 (a
 * copy with a two-byte offset), so a block claiming more than 22 times
 * its input size is corrupt and must not be allowed to size an
 * allocation. */
static inline bool snappy_claim_possible(size_t claim, size_t len)
{
    return claim / 22 <= len;
}

/* Decode one snappy block into k, claimed length checked first. */
static int snappy_block(const char *codec, const char *in, size_t len, sink_t *k, sx_err_t *err)
{
    size_t n;
    if (snappy_uncompressed_length(in, len, &n) != SNAPPY_OK)
        return corrupt(err, codec, "invalid length header");
    /* An impossible claim is corruption (400), not a large body (413). */
    if (!snappy_claim_possible(n, len))
        return corrupt(err, codec, "claimed length is impossible for the input size");
    if (n > k->limit - produced(k))
        return sx_err_set(err, SX_ETOOLARGE,
                          "%s body would decompress to %zu bytes, over the limit of %zu bytes",
                          codec, n, k->limit);
    char dummy;
    char *dst = &dummy;
    if (n) {
        sink_reserve(k, n, n);
        dst = k->out->ptr + k->out->len;
    }
    size_t got = n ? n : 1;
    if (snappy_uncompress(in, len, dst, &got) != SNAPPY_OK || got != n)
        return corrupt(err, codec, "corrupt input");
    k->out->len += n;
    return 0;
}

/* CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), which the snappy
 * framing format checksums chunks with. Table-driven; the table is built
 * once. */
static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int j = 0; j < 8; j++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc32c_table[i] = c;
    }
}

static uint32_t crc32c(const char *p, size_t n)
{
    pthread_once(&crc32c_once, crc32c_init);
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc32c_table[(c ^ (unsigned char)p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* The framing format stores CRCs rotated and offset ("masked"). */
static inline uint32_t snappy_masked_crc(const char *p, size_t n)
{
    uint32_t c = crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static inline uint32_t le32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

static const char snappy_stream_id[10] = {'\xff', 6, 0, 0, 's', 'N', 'a', 'P', 'p', 'Y'};

static inline bool looks_snappy_framed(const char *in, size_t len)
{
    return len >= sizeof(snappy_stream_id) &&
           memcmp(in, snappy_stream_id, sizeof(snappy_stream_id)) == 0;
}

enum {
    CHUNK_COMPRESSED = 0x00,
    CHUNK_UNCOMPRESSED = 0x01,
    CHUNK_PADDING = 0xfe,
    CHUNK_STREAM_ID = 0xff,
    CHUNK_MAX_DATA = 65536, /* uncompressed bytes per data chunk */
};

/* Decode a snappy framing-format stream: chunks of a type byte and a
 * 24-bit length; data chunks carry a masked CRC-32C of their uncompressed
 * bytes, which is checked. The stream must open with its identifier. */
static int snappy_framed(const char *in, size_t len, sink_t *k, sx_err_t *err)
{
    static const char codec[] = "snappy-framed";
    if (!looks_snappy_framed(in, len))
        return corrupt(err, codec, "missing stream identifier");
    size_t pos = 0;
    while (pos < len) {
        if (len - pos < 4)
            return corrupt(err, codec, "truncated chunk header");
        unsigned type = (unsigned char)in[pos];
        size_t clen = le32(in + pos) >> 8;
        pos += 4;
        if (clen > len - pos)
            return corrupt(err, codec, "chunk runs past the end of the body");
        const char *c = in + pos;
        pos += clen;

        if (type == CHUNK_STREAM_ID) {
            if (clen != 6 || memcmp(c, snappy_stream_id + 4, 6) != 0)
                return corrupt(err, codec, "invalid stream identifier");
            continue;
        }
        if (type == CHUNK_PADDING || type >= 0x80)
            continue; /* padding and reserved skippable chunks */
        if (type != CHUNK_COMPRESSED && type != CHUNK_UNCOMPRESSED)
            return corrupt(err, codec, "reserved unskippable chunk type");
        if (clen < 4)
            return corrupt(err, codec, "data chunk shorter than its checksum");

        uint32_t want_crc = le32(c);
        const char *data = c + 4;
        size_t dlen = clen - 4;
        size_t start = k->out->len;
        if (type == CHUNK_COMPRESSED) {
            size_t n;
            if (snappy_uncompressed_length(data, dlen, &n) != SNAPPY_OK)
                return corrupt(err, codec, "invalid length header");
            if (n > CHUNK_MAX_DATA)
                return corrupt(err, codec, "chunk decompresses to more than 65536 bytes");
            int rc = snappy_block(codec, data, dlen, k, err);
            if (rc == SX_ETOOLARGE)
                return too_large(k, err);
            if (rc)
                return rc;
        } else {
            if (dlen > CHUNK_MAX_DATA)
                return corrupt(err, codec, "uncompressed chunk larger than 65536 bytes");
            if (dlen > k->limit - produced(k))
                return too_large(k, err);
            if (dlen) {
                sink_reserve(k, dlen, dlen);
                memcpy(k->out->ptr + k->out->len, data, dlen);
                k->out->len += dlen;
            }
        }
        const char *got = k->out->len > start ? k->out->ptr + start : "";
        if (snappy_masked_crc(got, k->out->len - start) != want_crc)
            return corrupt(err, codec, "checksum mismatch");
    }
    return 0;
}

/* ---- Content-Encoding ---- */

typedef enum coding {
    CODING_IDENTITY,
    CODING_GZIP,
    CODING_DEFLATE,
    CODING_ZSTD,
    CODING_SNAPPY,
    CODING_SNAPPY_FRAMED,
} coding_t;

static const struct {
    const char *name;
    coding_t coding;
} coding_names[] = {
    {"identity", CODING_IDENTITY},
    {"gzip", CODING_GZIP},
    {"x-gzip", CODING_GZIP},
    {"deflate", CODING_DEFLATE},
    {"zstd", CODING_ZSTD},
    {"snappy", CODING_SNAPPY},
    {"x-snappy-framed", CODING_SNAPPY_FRAMED},
};

#define MAX_CODINGS 4

static inline bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Split a Content-Encoding value into codings, identity dropped. Returns
 * the count (0 for identity alone), or SX_EUNSUPPORTED. */
static int parse_codings(const char *ce, coding_t *list, sx_err_t *err)
{
    int n = 0;
    if (!ce)
        return 0;
    const char *p = ce;
    for (;;) {
        while (blank(*p))
            p++;
        const char *tok = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > tok && blank(e[-1]))
            e--;
        size_t tlen = (size_t)(e - tok);
        if (tlen) {
            size_t i;
            for (i = 0; i < sizeof(coding_names) / sizeof(coding_names[0]); i++)
                if (strlen(coding_names[i].name) == tlen &&
                    strncasecmp(coding_names[i].name, tok, tlen) == 0)
                    break;
            if (i == sizeof(coding_names) / sizeof(coding_names[0]))
                return sx_err_set(err, SX_EUNSUPPORTED, "unsupported Content-Encoding \"%.*s\"",
                                  (int)(tlen > 64 ? 64 : tlen), tok);
            if (coding_names[i].coding != CODING_IDENTITY) {
                if (n == MAX_CODINGS)
                    return sx_err_set(err, SX_EUNSUPPORTED,
                                      "Content-Encoding lists more than %d codings", MAX_CODINGS);
                list[n++] = coding_names[i].coding;
            }
        }
        if (!*p)
            return n;
        p++;
    }
}

/* Undo one coding of a non-empty input into k. */
static int decode_one(coding_t c, const char *in, size_t len, sink_t *k, sx_err_t *err)
{
    switch (c) {
    case CODING_GZIP:
        return inflate_body("gzip", 16 + MAX_WBITS, true, in, len, k, err);
    case CODING_DEFLATE:
        return deflate_body(in, len, k, err);
    case CODING_ZSTD:
        return zstd_body(in, len, k, err);
    case CODING_SNAPPY:
        if (looks_snappy_framed(in, len))
            return snappy_framed(in, len, k, err);
        return snappy_block("snappy", in, len, k, err);
    case CODING_SNAPPY_FRAMED:
        return snappy_framed(in, len, k, err);
    case CODING_IDENTITY:
        break;
    }
    sx_panic("BUG: coding %d reached decode_one", (int)c);
}

int sx_body_decode(const char *content_encoding, const char *in, size_t len, size_t limit,
                   sx_buf_t *out, sx_err_t *err)
{
    coding_t list[MAX_CODINGS];
    int n = parse_codings(content_encoding, list, err);
    if (n < 0)
        return n;
    if (len == 0)
        return 0;
    if (n == 0) {
        if (len > limit)
            return sx_err_set(err, SX_ETOOLARGE, "body of %zu bytes exceeds the limit of %zu bytes",
                              len, limit);
        sink_t k = {out, out->len, limit};
        sink_reserve(&k, len, len);
        memcpy(out->ptr + out->len, in, len);
        out->len += len;
        return 0;
    }

    /* Codings were applied in the order listed: undo the last first, through
     * two scratch buffers, the first coding writing straight into out. */
    size_t base = out->len;
    sx_buf_t tmp[2] = {SX_BUF_INIT, SX_BUF_INIT};
    const char *cur = in;
    size_t curlen = len;
    int rc = 0;
    for (int i = n - 1; i >= 0 && curlen; i--) {
        sx_buf_t *dst = i == 0 ? out : &tmp[i & 1];
        if (dst != out)
            dst->len = 0;
        sink_t k = {dst, dst->len, limit};
        if ((rc = decode_one(list[i], cur, curlen, &k, err)))
            break;
        curlen = dst->len - k.base;
        cur = curlen ? dst->ptr + k.base : "";
    }
    sx_buf_dispose(&tmp[0]);
    sx_buf_dispose(&tmp[1]);
    if (rc)
        out->len = base;
    return rc;
}

int sx_snappy_block_decode(const char *in, size_t len, size_t limit, sx_buf_t *out, sx_err_t *err)
{
    sink_t k = {out, out->len, limit};
    int rc = snappy_block("snappy", in, len, &k, err);
    if (rc)
        out->len = k.base;
    return rc;
}

bool sx_snappy_block_looks_valid(const char *in, size_t len)
{
    return len > 0 && snappy_validate_compressed_buffer(in, len) == SNAPPY_OK;
}
