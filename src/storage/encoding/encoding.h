/* SPDX-License-Identifier: Apache-2.0 */
/* Pure sample codecs for the metric store: varints, the on-disk block codec
 * (sx_chunk_*), zstd wrappers and the appendable in-memory head chunk
 * (sx_xchunk_*). Nothing here touches files, locks or global state beyond
 * per-thread zstd contexts. Every codec round-trips values bit-exactly,
 * NaN payloads and -0.0 included; decoders treat their input as untrusted
 * and never read outside it. */
#ifndef SX_STORAGE_ENCODING_ENCODING_H
#define SX_STORAGE_ENCODING_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

/* ---- Varints ---- */

/* Longest encoded uvarint. */
#define SX_UVARINT_MAX 10

/* Write v as a little-endian base-128 varint to p, which must have room for
 * SX_UVARINT_MAX bytes. Returns the number of bytes written (1..10). */
size_t sx_uvarint_put(char *p, uint64_t v);

/* Read a uvarint from p[0..len). Returns the bytes consumed (1..10), or 0 if
 * the input is truncated or does not fit in 64 bits; *v is then untouched. */
size_t sx_uvarint_get(const char *p, size_t len, uint64_t *v);

/* Bytes sx_uvarint_put would write for v. */
size_t sx_uvarint_len(uint64_t v);

static inline uint64_t sx_zigzag_enc(int64_t v)
{
    return ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
}

static inline int64_t sx_zigzag_dec(uint64_t u)
{
    return (int64_t)((u >> 1) ^ (0 - (u & 1)));
}

/* Cursor forms for the store's file formats: read at *p (before end),
 * advance *p and return 0, or return -1 on truncated or overlong input. */
static inline int sx_uvarint_next(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    size_t n = sx_uvarint_get((const char *)*p, (size_t)(end - *p), v);
    if (!n)
        return -1;
    *p += n;
    return 0;
}

static inline int sx_varint_next(const unsigned char **p, const unsigned char *end, int64_t *v)
{
    uint64_t u;
    if (sx_uvarint_next(p, end, &u))
        return -1;
    *v = sx_zigzag_dec(u);
    return 0;
}

/* Little-endian u32 at p. */
static inline uint32_t sx_le32(const void *p)
{
    const unsigned char *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Signed (zigzag) varints; same contracts as the unsigned ones. */
size_t sx_varint_put(char *p, int64_t v);
size_t sx_varint_get(const char *p, size_t len, int64_t *v);
/* Append a zigzag varint to b; may reallocate b. */
void sx_varint_append(sx_buf_t *b, int64_t v);

/* ---- Sample blocks (on disk) ---- */

/* Most samples one block may hold. Decoders reject larger counts, so a
 * caller may size its arrays from sx_chunk_count without further checks. */
#define SX_CHUNK_MAX_SAMPLES (1u << 20)

/* Append one self-describing block holding n samples to out (may
 * reallocate out). ts must be strictly ascending (ms since the epoch, any
 * int64); v may hold any bit patterns. The encoder tries several timestamp
 * and value representations (delta, delta-of-delta or linear residuals,
 * packed, sparse, run-length or varint; values as scaled decimals with
 * exceptions, near decimals with ulp corrections, Gorilla XOR, or a
 * constant) and keeps the smallest; its output is
 * byte-aligned so a column of blocks still compresses with zstd. Takes
 * about 43 bytes of scratch heap per sample for the call; aborts on OOM.
 * Returns 0; SX_EINVAL if n > SX_CHUNK_MAX_SAMPLES or ts is not strictly
 * ascending, in which case out is unchanged. */
int sx_chunk_encode(const int64_t *ts, const double *v, size_t n, sx_buf_t *out);

/* Decode the block p[0..len) (exactly one block, nothing after it) into
 * ts[0..n) and v[0..n), with n stored in *n_out. Returns 0; SX_EINVAL if the
 * block holds more than cap samples; SX_ECORRUPT if the bytes are not a
 * valid block. On error err says why and the arrays hold garbage. Never
 * reads outside p[0..len) or writes past ts[cap-1] and v[cap-1]; needs no
 * heap except 8 bytes per sample for near-decimal blocks. */
int sx_chunk_decode(const char *p, size_t len, int64_t *ts, double *v, size_t cap, size_t *n_out,
                    sx_err_t *err);

/* Read only the sample count from a block's header. Returns 0, or
 * SX_ECORRUPT if the header is malformed. */
int sx_chunk_count(const char *p, size_t len, size_t *n);

/* ---- zstd ---- */

/* Append the zstd frame of in[0..n) at level to out (may reallocate out).
 * Returns 0, or SX_EINVAL if zstd rejects the input; out is then unchanged. */
int sx_zstd_compress(const void *in, size_t n, int level, sx_buf_t *out);

/* Append the decompressed contents of the zstd frame(s) in[0..n) to out (may
 * reallocate out). At most limit bytes are appended: a frame that declares
 * or produces more fails with SX_ETOOLARGE before the memory is taken.
 * Returns 0, SX_ECORRUPT for malformed input or SX_ETOOLARGE; on error out
 * keeps its old length and err says why. */
int sx_zstd_decompress(const void *in, size_t n, size_t limit, sx_buf_t *out, sx_err_t *err);

/* ---- Head chunks (in memory) ---- */

/* Most samples one head chunk holds; append fails with SX_ELIMIT after. */
#define SX_XCHUNK_MAX_SAMPLES 65535u

/* An append-only bit-packed chunk for recent samples. Timestamps are
 * delta-of-delta coded, values as decimal deltas when they are short
 * decimals and Gorilla XOR otherwise. The whole encoded stream lives in
 * one malloc'd byte array; the struct holds the running state the next
 * append needs.
 *
 * Not thread-safe: the caller must hold a lock that excludes appends while
 * any iterator over the chunk is in use (an append may move the array). */
typedef struct sx_xchunk {
    uint8_t *_data;    /* encoded bits, MSB first; NULL before the first append */
    int64_t _t;        /* last timestamp, ms */
    uint64_t _v;       /* last value, IEEE bits */
    int32_t _dt;       /* last timestamp delta clamped to int32, ms */
    uint32_t _nbits;   /* bits written to _data */
    uint16_t _n;       /* samples */
    uint16_t _cap16;   /* allocated size of _data in 16-byte units */
    uint32_t _lead : 5; /* XOR window: leading zeros */
    uint32_t _sig : 7;  /* XOR window: width in bits; 0 = no window yet */
    uint32_t _pex : 1;  /* the last value is decimal at scale _k */
    uint32_t _k : 5;    /* decimal scale: values are integers / 10^_k */
    uint32_t _dlen : 6; /* width of the decimal delta field; 0 = none yet */
    uint32_t _uns : 1;  /* delta fields are unsigned (counters) */
    uint32_t _shift : 4; /* delta fields are shifted left by this many bits */
    uint32_t _npos : 3; /* consecutive positive deltas, saturating */
} sx_xchunk_t;

/* Initialize an empty chunk; no memory is allocated until the first append. */
void sx_xchunk_init(sx_xchunk_t *c);
/* Free the chunk's array. The chunk may be initialized again. */
void sx_xchunk_dispose(sx_xchunk_t *c);

/* Append one sample in O(1) amortized time; may move the byte array.
 * Returns 0; SX_EINVAL if ts is not after the last timestamp; SX_ELIMIT if
 * the chunk is full (cut a new one). On error the chunk is unchanged. */
int sx_xchunk_append(sx_xchunk_t *c, int64_t ts, double v);

static inline uint32_t sx_xchunk_count(const sx_xchunk_t *c)
{
    return c->_n;
}

/* Last appended timestamp; meaningless when the chunk is empty. */
static inline int64_t sx_xchunk_last_ts(const sx_xchunk_t *c)
{
    return c->_t;
}

/* First timestamp (decoded from the stream); meaningless when empty. */
int64_t sx_xchunk_first_ts(const sx_xchunk_t *c);

/* Heap bytes held by the chunk (the array's capacity, not the struct). */
size_t sx_xchunk_mem(const sx_xchunk_t *c);
/* Encoded bytes in use. */
size_t sx_xchunk_len(const sx_xchunk_t *c);
/* Give back the array's spare capacity, e.g. when the chunk is cut; later
 * appends still work (they grow it again). */
void sx_xchunk_shrink(sx_xchunk_t *c);

/* Re-encode the whole chunk as one sx_chunk block appended to out (may
 * reallocate out). Returns 0 or the error of sx_chunk_encode. */
int sx_xchunk_encode_chunk(const sx_xchunk_t *c, sx_buf_t *out);

/* Reads a chunk back in order. Valid until the next append to the chunk. */
typedef struct sx_xchunk_iter {
    const uint8_t *_p;   /* next byte to load */
    const uint8_t *_end; /* end of the encoded bytes */
    uint64_t _acc;       /* pending bits, MSB-aligned */
    unsigned _nacc;      /* pending bit count */
    uint32_t _left;      /* samples still to read */
    uint32_t _i;         /* samples read */
    int64_t _t;
    int32_t _dt;
    uint64_t _v;
    int64_t _iv;         /* _v as an integer at scale _k, when _ivok */
    uint8_t _lead, _sig, _k, _dlen, _uns, _shift, _ivok;
} sx_xchunk_iter_t;

void sx_xchunk_iter_init(sx_xchunk_iter_t *it, const sx_xchunk_t *c);
/* Store the next sample in *ts and *v and return true, or return false at
 * the end. */
bool sx_xchunk_iter_next(sx_xchunk_iter_t *it, int64_t *ts, double *v);

#endif
