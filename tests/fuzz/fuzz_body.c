/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for body decompression (src/http/body.c). The first
 * input byte picks a Content-Encoding from the table below (and, through
 * its high bits, a small or a large output limit); the rest is the body.
 * Besides surviving any input, the target aborts if a promise is broken:
 * output within the limit and capacity within limit + 1 bytes, out->len
 * restored on error, only the documented error codes, and snappy sniffing
 * agreeing with snappy block decoding (a valid block never fails to
 * decode, except for size; an invalid one never decodes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "http/body.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static const char *const encodings[] = {
    NULL,     "identity",        "gzip",  "x-gzip",     "deflate",         "zstd",
    "snappy", "x-snappy-framed", "GZip ", "gzip, zstd", "snappy, deflate", "br",
    "",       " , identity ,",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned pick = data[0];
    const char *enc = encodings[(pick & 0x3f) % (sizeof(encodings) / sizeof(encodings[0]))];
    size_t limit = pick & 0x80 ? 1 << 20 : 4096;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;

    sx_buf_t out = SX_BUF_INIT;
    sx_err_t err;
    sx_err_clear(&err);
    int rc = sx_body_decode(enc, in, len, limit, &out, &err);
    if (rc == 0) {
        check(out.len <= limit);
    } else {
        check(rc == SX_EPARSE || rc == SX_ETOOLARGE || rc == SX_EUNSUPPORTED || rc == SX_ENOMEM);
        check(err.code == rc && err.msg[0] != '\0');
        check(out.len == 0);
    }
    check(out.cap <= limit + 1 || out.cap <= 256);
    sx_buf_dispose(&out);

    /* Sniffing and block decoding must agree. */
    bool valid = sx_snappy_block_looks_valid(in, len);
    sx_buf_t blk = SX_BUF_INIT;
    rc = sx_snappy_block_decode(in, len, limit, &blk, &err);
    /* A claimed length over the limit is refused before the block is
     * looked at, so an invalid block may still be "too large". */
    if (valid)
        check(rc == 0 || rc == SX_ETOOLARGE);
    else
        check(rc == SX_EPARSE || rc == SX_ETOOLARGE);
    check(rc != 0 || blk.len <= limit);
    sx_buf_dispose(&blk);
    return 0;
}
