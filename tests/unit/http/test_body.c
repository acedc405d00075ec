/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for request body decompression (src/http/body.c): a round
 * trip through every codec, the output limit (including bombs and lying
 * headers), corrupt and truncated input, and snappy sniffing. body.c is
 * included to reach its CRC-32C for building snappy frames by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "../../../src/http/body.c"

/* ---- Helpers ---- */

/* Deterministic, mildly compressible test data. */
static char *make_data(size_t n, unsigned seed)
{
    char *p = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (char)("abcdefgh{}=\",_0123456789\n"[(x >> 16) % 25]);
    }
    return p;
}

/* zlib's deflate with the given window bits: 31 gzip, 15 zlib, -15 raw. */
static void zlib_compress(int window_bits, const char *in, size_t len, sx_buf_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t bound = deflateBound(&zs, len);
    char *dst = sx_buf_reserve(out, bound);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)dst;
    zs.avail_out = (uInt)bound;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out->len += zs.total_out;
    deflateEnd(&zs);
}

/* zstd with or without the content size in the frame header. */
static void zstd_compress(bool with_size, const char *in, size_t len, sx_buf_t *out)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, with_size ? 1 : 0);
    size_t bound = ZSTD_compressBound(len);
    char *dst = sx_buf_reserve(out, bound);
    ZSTD_inBuffer ib = {in, len, 0};
    ZSTD_outBuffer ob = {dst, bound, 0};
    if (!with_size) {
        /* Stream in pieces so the encoder cannot learn the size. */
        size_t piece = len / 3 + 1;
        while (ib.pos < ib.size) {
            ZSTD_inBuffer part = {in + ib.pos, ib.size - ib.pos < piece ? ib.size - ib.pos : piece,
                                  0};
            assert_false(ZSTD_isError(ZSTD_compressStream2(cc, &ob, &part, ZSTD_e_continue)));
            ib.pos += part.pos;
        }
        ZSTD_inBuffer none = {NULL, 0, 0};
        assert_int_equal(ZSTD_compressStream2(cc, &ob, &none, ZSTD_e_end), 0);
    } else {
        assert_int_equal(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end), 0);
    }
    out->len += ob.pos;
    ZSTD_freeCCtx(cc);
}

static void snappy_compress_block(const char *in, size_t len, sx_buf_t *out)
{
    size_t n = snappy_max_compressed_length(len);
    char *dst = sx_buf_reserve(out, n);
    assert_int_equal(snappy_compress(in, len, dst, &n), SNAPPY_OK);
    out->len += n;
}

static void put_chunk(sx_buf_t *out, unsigned type, const char *p, size_t n)
{
    sx_buf_putc(out, (char)type);
    sx_buf_putc(out, (char)n);
    sx_buf_putc(out, (char)(n >> 8));
    sx_buf_putc(out, (char)(n >> 16));
    sx_buf_append(out, p, n);
}

/* A snappy framing-format stream: the identifier, then 64 KiB data chunks
 * alternating compressed and uncompressed, with a padding chunk and a
 * reserved skippable chunk thrown in. */
static void snappy_compress_framed(const char *in, size_t len, sx_buf_t *out)
{
    sx_buf_append(out, snappy_stream_id, sizeof(snappy_stream_id));
    put_chunk(out, CHUNK_PADDING, "\0\0\0", 3);
    int i = 0;
    for (size_t pos = 0; pos < len; pos += CHUNK_MAX_DATA, i++) {
        size_t n = len - pos < CHUNK_MAX_DATA ? len - pos : CHUNK_MAX_DATA;
        sx_buf_t c = SX_BUF_INIT;
        sx_buf_put_u32le(&c, snappy_masked_crc(in + pos, n));
        if (i % 2 == 0)
            snappy_compress_block(in + pos, n, &c);
        else
            sx_buf_append(&c, in + pos, n);
        put_chunk(out, i % 2 == 0 ? CHUNK_COMPRESSED : CHUNK_UNCOMPRESSED, c.ptr, c.len);
        sx_buf_dispose(&c);
        if (i == 0)
            put_chunk(out, 0x80, "skip me", 7);
    }
}

typedef enum {
    C_GZIP,
    C_ZLIB,
    C_RAW_DEFLATE,
    C_ZSTD,
    C_ZSTD_NOSIZE,
    C_SNAPPY,
    C_SNAPPY_FRAMED,
    NCODEC
} codec_t;

static const struct {
    const char *encoding;
    const char *label; /* as it appears in error messages */
} codecs[NCODEC] = {
    [C_GZIP] = {"gzip", "gzip"},
    [C_ZLIB] = {"deflate", "deflate"},
    [C_RAW_DEFLATE] = {"deflate", "deflate"},
    [C_ZSTD] = {"zstd", "zstd"},
    [C_ZSTD_NOSIZE] = {"zstd", "zstd"},
    [C_SNAPPY] = {"snappy", "snappy"},
    [C_SNAPPY_FRAMED] = {"snappy", "snappy-framed"},
};

static void compress_with(codec_t c, const char *in, size_t len, sx_buf_t *out)
{
    switch (c) {
    case C_GZIP:
        zlib_compress(31, in, len, out);
        break;
    case C_ZLIB:
        zlib_compress(15, in, len, out);
        break;
    case C_RAW_DEFLATE:
        zlib_compress(-15, in, len, out);
        break;
    case C_ZSTD:
        zstd_compress(true, in, len, out);
        break;
    case C_ZSTD_NOSIZE:
        zstd_compress(false, in, len, out);
        break;
    case C_SNAPPY:
        snappy_compress_block(in, len, out);
        break;
    case C_SNAPPY_FRAMED:
        snappy_compress_framed(in, len, out);
        break;
    default:
        fail();
    }
}

static void assert_err_contains(const sx_err_t *err, const char *want)
{
    if (!strstr(err->msg, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err->msg, want);
}

/* ---- Round trips ---- */

static void test_body_identity_copies_input(void **state)
{
    const char *names[] = {NULL, "", "identity", " Identity ", "identity, identity"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        sx_buf_t out = SX_BUF_INIT;
        sx_err_t err;
        assert_int_equal(sx_body_decode(names[i], "hello", 5, 5, &out, &err), 0);
        assert_int_equal(out.len, 5);
        assert_memory_equal(out.ptr, "hello", 5);
        sx_buf_dispose(&out);
    }
}

static void test_body_every_codec_round_trips(void **state)
{
    const size_t sizes[] = {1, 100, 65536, 65537, 300000};
    for (int c = 0; c < NCODEC; c++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            char *data = make_data(sizes[s], (unsigned)(c * 10 + s));
            sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
            sx_err_t err;
            compress_with((codec_t)c, data, sizes[s], &z);
            int rc = sx_body_decode(codecs[c].encoding, z.ptr, z.len, sizes[s], &out, &err);
            if (rc)
                fail_msg("codec %d size %zu: %s", c, sizes[s], err.msg);
            assert_int_equal(out.len, sizes[s]);
            assert_memory_equal(out.ptr, data, sizes[s]);
            /* The exact limit suffices, and capacity never passes limit + 1. */
            assert_true(out.cap <= sizes[s] + 1);
            free(data);
            sx_buf_dispose(&z);
            sx_buf_dispose(&out);
        }
    }
}

static void test_body_encoding_names_ignore_case_and_blanks(void **state)
{
    const char *names[] = {"GZIP", "x-gzip", " gzip\t", "X-Gzip"};
    sx_buf_t z = SX_BUF_INIT;
    zlib_compress(31, "payload", 7, &z);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        sx_buf_t out = SX_BUF_INIT;
        sx_err_t err;
        assert_int_equal(sx_body_decode(names[i], z.ptr, z.len, 100, &out, &err), 0);
        assert_int_equal(out.len, 7);
        sx_buf_dispose(&out);
    }
    sx_buf_dispose(&z);
}

static void test_body_gzip_accepts_concatenated_members(void **state)
{
    sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_err_t err;
    zlib_compress(31, "first,", 6, &z);
    zlib_compress(31, "second", 6, &z);
    assert_int_equal(sx_body_decode("gzip", z.ptr, z.len, 100, &out, &err), 0);
    assert_int_equal(out.len, 12);
    assert_memory_equal(out.ptr, "first,second", 12);
    sx_buf_dispose(&z);
    sx_buf_dispose(&out);
}

static void test_body_zstd_accepts_several_frames(void **state)
{
    sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_err_t err;
    zstd_compress(true, "one ", 4, &z);
    zstd_compress(false, "two ", 4, &z);
    /* A skippable frame: magic 0x184D2A50, length 3. */
    sx_buf_append(&z, "\x50\x2a\x4d\x18\x03\x00\x00\x00xyz", 11);
    zstd_compress(true, "three", 5, &z);
    assert_int_equal(sx_body_decode("zstd", z.ptr, z.len, 100, &out, &err), 0);
    assert_int_equal(out.len, 13);
    assert_memory_equal(out.ptr, "one two three", 13);
    sx_buf_dispose(&z);
    sx_buf_dispose(&out);
}

static void test_body_stacked_codings_are_undone_in_reverse(void **state)
{
    char *data = make_data(5000, 7);
    sx_buf_t g = SX_BUF_INIT, gz = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_err_t err;
    zlib_compress(31, data, 5000, &g);       /* first gzip ... */
    zstd_compress(false, g.ptr, g.len, &gz); /* ... then zstd */
    assert_int_equal(sx_body_decode("gzip, identity, zstd", gz.ptr, gz.len, 5000, &out, &err), 0);
    assert_int_equal(out.len, 5000);
    assert_memory_equal(out.ptr, data, 5000);
    /* The wrong order fails. */
    sx_buf_clear(&out);
    assert_int_equal(sx_body_decode("zstd, gzip", gz.ptr, gz.len, 5000, &out, &err), SX_EPARSE);
    free(data);
    sx_buf_dispose(&g);
    sx_buf_dispose(&gz);
    sx_buf_dispose(&out);
}

static void test_body_appends_to_existing_output(void **state)
{
    sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_err_t err;
    sx_buf_puts(&out, "head:");
    zstd_compress(true, "tail", 4, &z);
    assert_int_equal(sx_body_decode("zstd", z.ptr, z.len, 4, &out, &err), 0);
    assert_int_equal(out.len, 9);
    assert_memory_equal(out.ptr, "head:tail", 9);
    sx_buf_dispose(&z);
    sx_buf_dispose(&out);
}

static void test_body_empty_input_decodes_to_nothing(void **state)
{
    const char *names[] = {NULL, "gzip", "deflate", "zstd", "snappy", "x-snappy-framed"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        sx_buf_t out = SX_BUF_INIT;
        sx_err_t err;
        assert_int_equal(sx_body_decode(names[i], "", 0, 0, &out, &err), 0);
        assert_int_equal(out.len, 0);
        assert_null(out.ptr);
    }
}

/* ---- Limits ---- */

static void test_body_limit_exceeded_for_every_codec(void **state)
{
    enum { N = 200000 };
    char *data = make_data(N, 3);
    for (int c = 0; c < NCODEC; c++) {
        sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
        sx_err_t err;
        compress_with((codec_t)c, data, N, &z);
        sx_buf_puts(&out, "keep");
        int rc = sx_body_decode(codecs[c].encoding, z.ptr, z.len, N - 1, &out, &err);
        if (rc != SX_ETOOLARGE)
            fail_msg("codec %d: rc %d (%s)", c, rc, err.msg);
        assert_err_contains(&err, "199999");
        assert_int_equal(out.len, 4); /* restored */
        assert_true(out.cap <= 4 + N);
        sx_buf_dispose(&z);
        sx_buf_dispose(&out);
    }
    /* Identity too. */
    sx_buf_t out = SX_BUF_INIT;
    sx_err_t err;
    assert_int_equal(sx_body_decode(NULL, data, 10, 9, &out, &err), SX_ETOOLARGE);
    assert_err_contains(&err, "limit of 9 bytes");
    assert_null(out.ptr);
    free(data);
}

static void test_body_bomb_stops_at_the_limit(void **state)
{
    enum { N = 64 << 20, LIMIT = 1 << 20 };
    char *zeros = calloc(1, N);
    for (int c = 0; c < NCODEC; c++) {
        if (c == C_SNAPPY_FRAMED || c == C_SNAPPY)
            continue; /* snappy blocks state their size; tested below */
        sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
        sx_err_t err;
        compress_with((codec_t)c, zeros, N, &z);
        assert_int_equal(sx_body_decode(codecs[c].encoding, z.ptr, z.len, LIMIT, &out, &err),
                         SX_ETOOLARGE);
        assert_true(out.cap <= LIMIT + 1);
        sx_buf_dispose(&z);
        sx_buf_dispose(&out);
    }
    free(zeros);
}

static void test_body_snappy_size_claims_allocate_nothing(void **state)
{
    sx_buf_t out = SX_BUF_INIT;
    sx_err_t err;
    /* Claims 2^31 bytes from six: impossible, so corrupt (400) even though
     * it is also over the limit; nothing is allocated. */
    const char over[] = "\x80\x80\x80\x80\x08\x00";
    assert_int_equal(sx_snappy_block_decode(over, 6, 1 << 20, &out, &err), SX_EPARSE);
    assert_err_contains(&err, "claimed length is impossible");
    assert_null(out.ptr);
    /* Claims 1 GiB from six bytes: under a huge limit but impossible. */
    const char lie[] = "\x80\x80\x80\x80\x04\x00";
    assert_int_equal(sx_snappy_block_decode(lie, 6, SIZE_MAX, &out, &err), SX_EPARSE);
    assert_err_contains(&err, "cannot decompress snappy body: claimed length is impossible");
    assert_null(out.ptr);
}

static void test_body_zstd_content_size_claim_is_capped_by_the_limit(void **state)
{
    /* The frame header states 100000 bytes; the buffer may not grow past
     * the limit because of it. */
    char *data = make_data(100000, 1);
    sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_err_t err;
    zstd_compress(true, data, 100000, &z);
    assert_int_equal(ZSTD_getFrameContentSize(z.ptr, z.len), 100000);
    assert_int_equal(sx_body_decode("zstd", z.ptr, z.len, 4096, &out, &err), SX_ETOOLARGE);
    assert_true(out.cap <= 4097);
    free(data);
    sx_buf_dispose(&z);
    sx_buf_dispose(&out);
}

/* ---- Corrupt input ---- */

static void test_body_corrupt_input_for_every_codec(void **state)
{
    char *data = make_data(20000, 5);
    for (int c = 0; c < NCODEC; c++) {
        sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
        sx_err_t err;
        compress_with((codec_t)c, data, 20000, &z);
        /* Flip bytes well inside the stream. Snappy blocks, raw deflate
         * and zstd frames without the optional checksum have nothing to
         * catch that: change the length the block claims, make the first
         * deflate block type reserved, break the zstd magic number. */
        if (c == C_SNAPPY)
            z.ptr[0] ^= 1;
        else if (c == C_RAW_DEFLATE)
            z.ptr[0] |= 0x06;
        else if (c == C_ZSTD || c == C_ZSTD_NOSIZE)
            z.ptr[1] ^= 0x40;
        else
            for (size_t i = z.len / 3; i < z.len / 3 + 8; i++)
                z.ptr[i] ^= 0x5a;
        /* Corrupt deflate data may expand a lot before its checksum is
         * reached: give it room so that the corruption is what fails. */
        int rc = sx_body_decode(codecs[c].encoding, z.ptr, z.len, 1 << 24, &out, &err);
        if (rc != SX_EPARSE)
            fail_msg("codec %d: rc %d (%s)", c, rc, rc ? err.msg : "");
        char want[64];
        snprintf(want, sizeof(want), "cannot decompress %s body: ", codecs[c].label);
        assert_err_contains(&err, want);
        assert_int_equal(out.len, 0);
        sx_buf_dispose(&z);
        sx_buf_dispose(&out);
    }
    free(data);
}

static void test_body_truncated_input_for_every_codec(void **state)
{
    char *data = make_data(20000, 9);
    for (int c = 0; c < NCODEC; c++) {
        sx_buf_t z = SX_BUF_INIT;
        compress_with((codec_t)c, data, 20000, &z);
        const size_t cuts[] = {1, 2, 5, z.len / 2, z.len - 1};
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
            sx_buf_t out = SX_BUF_INIT;
            sx_err_t err;
            int rc = sx_body_decode(codecs[c].encoding, z.ptr, cuts[i], 20000, &out, &err);
            if (rc != SX_EPARSE)
                fail_msg("codec %d cut %zu: rc %d", c, cuts[i], rc);
            sx_buf_dispose(&out);
        }
        sx_buf_dispose(&z);
    }
    free(data);
}

static void test_body_rejects_trailing_garbage(void **state)
{
    sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_err_t err;
    zlib_compress(31, "abc", 3, &z);
    sx_buf_puts(&z, "junk");
    assert_int_equal(sx_body_decode("gzip", z.ptr, z.len, 100, &out, &err), SX_EPARSE);
    assert_err_contains(&err, "cannot decompress gzip body: trailing data");
    sx_buf_clear(&z);
    zlib_compress(15, "abc", 3, &z);
    sx_buf_puts(&z, "junk");
    assert_int_equal(sx_body_decode("deflate", z.ptr, z.len, 100, &out, &err), SX_EPARSE);
    sx_buf_clear(&z);
    zstd_compress(true, "abc", 3, &z);
    sx_buf_puts(&z, "junk");
    assert_int_equal(sx_body_decode("zstd", z.ptr, z.len, 100, &out, &err), SX_EPARSE);
    assert_err_contains(&err, "cannot decompress zstd body: ");
    sx_buf_dispose(&z);
    sx_buf_dispose(&out);
}

static void test_body_snappy_framed_checks_chunks(void **state)
{
    char *data = make_data(1000, 2);
    sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_err_t err;
    snappy_compress_framed(data, 1000, &z);
    /* The checksum of the first data chunk sits after the identifier (10),
     * the padding chunk (7) and the data chunk's header (4). */
    z.ptr[21] ^= 1;
    assert_int_equal(sx_body_decode("x-snappy-framed", z.ptr, z.len, 1000, &out, &err), SX_EPARSE);
    assert_err_contains(&err, "checksum mismatch");

    /* A reserved unskippable chunk. */
    sx_buf_clear(&z);
    sx_buf_append(&z, snappy_stream_id, sizeof(snappy_stream_id));
    put_chunk(&z, 0x02, "xx", 2);
    assert_int_equal(sx_body_decode("snappy", z.ptr, z.len, 1000, &out, &err), SX_EPARSE);
    assert_err_contains(&err, "unskippable");

    /* x-snappy-framed requires the identifier. */
    sx_buf_clear(&z);
    snappy_compress_block("abc", 3, &z);
    assert_int_equal(sx_body_decode("x-snappy-framed", z.ptr, z.len, 1000, &out, &err), SX_EPARSE);
    assert_err_contains(&err, "missing stream identifier");

    /* An uncompressed chunk larger than 64 KiB. */
    sx_buf_clear(&z);
    sx_buf_append(&z, snappy_stream_id, sizeof(snappy_stream_id));
    char *big = make_data(CHUNK_MAX_DATA + 1, 3);
    sx_buf_t c = SX_BUF_INIT;
    sx_buf_put_u32le(&c, snappy_masked_crc(big, CHUNK_MAX_DATA + 1));
    sx_buf_append(&c, big, CHUNK_MAX_DATA + 1);
    put_chunk(&z, CHUNK_UNCOMPRESSED, c.ptr, c.len);
    assert_int_equal(sx_body_decode("snappy", z.ptr, z.len, 1 << 20, &out, &err), SX_EPARSE);
    assert_err_contains(&err, "larger than 65536");

    /* A stream of the identifier alone is an empty body. */
    assert_int_equal(
        sx_body_decode("snappy", snappy_stream_id, sizeof(snappy_stream_id), 0, &out, &err), 0);
    assert_int_equal(out.len, 0);
    free(data);
    free(big);
    sx_buf_dispose(&c);
    sx_buf_dispose(&z);
    sx_buf_dispose(&out);
}

static void test_body_deflate_falls_back_to_raw(void **state)
{
    /* Raw deflate whose first two bytes pass the zlib header check: 0x08
     * starts a non-final stored block, and 0x08 0x1d is divisible by 31.
     * Read as raw deflate, 0x1d 0x00 is the block's length (29) and
     * 0xe2 0xff its complement; a final stored block of "y" follows. */
    unsigned char raw[5 + 29 + 6] = {0x08, 0x1d, 0x00, 0xe2, 0xff};
    memset(raw + 5, 'x', 29);
    memcpy(raw + 34, "\x01\x01\x00\xfe\xffy", 6);
    assert_true(looks_zlib(raw, sizeof(raw)));
    sx_buf_t out = SX_BUF_INIT;
    sx_err_t err;
    assert_int_equal(sx_body_decode("deflate", (const char *)raw, sizeof(raw), 100, &out, &err), 0);
    assert_int_equal(out.len, 30);
    assert_memory_equal(out.ptr, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxy", 30);
    /* When both readings fail, the zlib error is the one reported. */
    raw[3] = 0;
    sx_buf_clear(&out);
    assert_int_equal(sx_body_decode("deflate", (const char *)raw, sizeof(raw), 100, &out, &err),
                     SX_EPARSE);
    assert_err_contains(&err, "cannot decompress deflate body: ");
    assert_int_equal(out.len, 0);
    sx_buf_dispose(&out);
}

/* ---- Encodings ---- */

static void test_body_unknown_encoding_is_unsupported(void **state)
{
    const char *names[] = {"br", "gzip, br", "compress", "snappyx", "gzip,gzip,gzip,gzip,gzip"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        sx_buf_t out = SX_BUF_INIT;
        sx_err_t err;
        assert_int_equal(sx_body_decode(names[i], "abc", 3, 100, &out, &err), SX_EUNSUPPORTED);
        assert_null(out.ptr);
    }
    sx_err_t err;
    sx_buf_t out = SX_BUF_INIT;
    sx_body_decode("br", "abc", 3, 100, &out, &err);
    assert_string_equal(err.msg, "unsupported Content-Encoding \"br\"");
}

/* ---- Snappy sniffing ---- */

static void test_body_snappy_sniffing(void **state)
{
    /* A remote-write body (protobuf) as clients send it: raw snappy. */
    static const char pb[] = "\x0a\x1e\x0a\x0e\x0a\x08__name__\x12\x02up\x12\x0c"
                             "\x09\x00\x00\x00\x00\x00\x00\xf0\x3f\x10\xe8\x07";
    sx_buf_t z = SX_BUF_INIT, out = SX_BUF_INIT;
    sx_err_t err;
    snappy_compress_block(pb, sizeof(pb) - 1, &z);
    assert_true(sx_snappy_block_looks_valid(z.ptr, z.len));
    assert_false(sx_snappy_block_looks_valid(pb, sizeof(pb) - 1));
    assert_false(sx_snappy_block_looks_valid(z.ptr, z.len - 1));
    assert_false(sx_snappy_block_looks_valid("", 0));
    assert_int_equal(sx_snappy_block_decode(z.ptr, z.len, 1000, &out, &err), 0);
    assert_int_equal(out.len, sizeof(pb) - 1);
    assert_memory_equal(out.ptr, pb, sizeof(pb) - 1);
    /* The same bytes through Content-Encoding: snappy. */
    sx_buf_clear(&out);
    assert_int_equal(sx_body_decode("snappy", z.ptr, z.len, 1000, &out, &err), 0);
    assert_int_equal(out.len, sizeof(pb) - 1);
    /* A failed block decode leaves out as it was. */
    sx_buf_clear(&out);
    sx_buf_puts(&out, "x");
    assert_int_equal(sx_snappy_block_decode(pb, sizeof(pb) - 1, 1000, &out, &err), SX_EPARSE);
    assert_int_equal(out.len, 1);
    sx_buf_dispose(&z);
    sx_buf_dispose(&out);
}

static void test_body_crc32c_matches_the_standard_check_value(void **state)
{
    assert_int_equal(crc32c("123456789", 9), 0xe3069283u);
    assert_int_equal(crc32c("", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_identity_copies_input),
        cmocka_unit_test(test_body_every_codec_round_trips),
        cmocka_unit_test(test_body_encoding_names_ignore_case_and_blanks),
        cmocka_unit_test(test_body_gzip_accepts_concatenated_members),
        cmocka_unit_test(test_body_zstd_accepts_several_frames),
        cmocka_unit_test(test_body_stacked_codings_are_undone_in_reverse),
        cmocka_unit_test(test_body_appends_to_existing_output),
        cmocka_unit_test(test_body_empty_input_decodes_to_nothing),
        cmocka_unit_test(test_body_limit_exceeded_for_every_codec),
        cmocka_unit_test(test_body_bomb_stops_at_the_limit),
        cmocka_unit_test(test_body_snappy_size_claims_allocate_nothing),
        cmocka_unit_test(test_body_zstd_content_size_claim_is_capped_by_the_limit),
        cmocka_unit_test(test_body_corrupt_input_for_every_codec),
        cmocka_unit_test(test_body_truncated_input_for_every_codec),
        cmocka_unit_test(test_body_rejects_trailing_garbage),
        cmocka_unit_test(test_body_snappy_framed_checks_chunks),
        cmocka_unit_test(test_body_deflate_falls_back_to_raw),
        cmocka_unit_test(test_body_unknown_encoding_is_unsupported),
        cmocka_unit_test(test_body_snappy_sniffing),
        cmocka_unit_test(test_body_crc32c_matches_the_standard_check_value),
    };
    return cmocka_run_group_tests_name("body", tests, NULL, NULL);
}
