/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the WebSocket reader, frame writer and handshake check
 * (src/http/websocket.c), what a tail client's bytes reach. The low two
 * bits of the first byte pick a mode:
 *   0, 1  the rest is bytes from a client, fed in chunks of 1 + byte 1
 *         bytes with the message limit picked by byte 2; every message
 *         must respect the limits and the protocol (opcodes, UTF-8 text,
 *         close codes), and after an error the reader must stay failed;
 *   2     the rest describes messages (kind, length, mask, payload) that
 *         are written as masked client frames, fragmented with a ping in
 *         between when asked, then read back: they must come back equal;
 *   3     the rest is five newline-separated handshake fields (method,
 *         Connection, Upgrade, Sec-WebSocket-Version, Sec-WebSocket-Key).
 * Any sanitizer report or abort() is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "http/websocket.h"

static void touch(const uint8_t *p, size_t n)
{
    volatile unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += p[i];
    (void)sum;
}

static bool close_code_ok(uint16_t c)
{
    return c == SX_WS_CLOSE_NO_STATUS || (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
           (c >= 3000 && c <= 4999);
}

/* Drain the reader; returns the number of messages, -1 after an error. */
static int drain(sx_ws_reader_t *r)
{
    int count = 0;
    for (;;) {
        sx_ws_msg_t m;
        uint16_t code = 0;
        sx_err_t err;
        int rc = sx_ws_reader_next(r, &m, &code, &err);
        if (rc == 0)
            return count;
        if (rc < 0) {
            if (code != SX_WS_CLOSE_PROTOCOL && code != SX_WS_CLOSE_TOO_BIG &&
                code != SX_WS_CLOSE_INVALID_DATA)
                abort();
            /* Failed readers stay failed. */
            if (sx_ws_reader_next(r, &m, &code, &err) >= 0)
                abort();
            return -1;
        }
        if (m.len && !m.data)
            abort();
        touch(m.data, m.len);
        switch (m.opcode) {
        case SX_WS_TEXT:
            if (!sx_utf8_valid((const char *)m.data, m.len))
                abort();
            /* fallthrough */
        case SX_WS_BINARY:
            if (m.len > r->max_message)
                abort();
            break;
        case SX_WS_PING:
        case SX_WS_PONG:
            if (m.len > 125)
                abort();
            break;
        case SX_WS_CLOSE:
            if (m.len > 123 || !close_code_ok(m.close_code))
                abort();
            if (m.close_code == SX_WS_CLOSE_NO_STATUS && m.len)
                abort();
            break;
        default:
            abort();
        }
        count++;
    }
}

static void mode_raw(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    size_t chunk = 1 + data[0];
    static const size_t limits[4] = {16, 125, 4096, 65536};
    sx_ws_reader_t r;
    sx_ws_reader_init(&r, limits[data[1] & 3]);
    data += 2;
    size = size - 2;
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        sx_ws_reader_feed(&r, data + off, n);
        if (drain(&r) < 0)
            break;
    }
    sx_ws_reader_dispose(&r);
}

/* One message to write and read back. */
typedef struct want {
    int opcode;
    const uint8_t *p;
    size_t n;
} want_t;

static void mode_roundtrip(const uint8_t *data, size_t size)
{
    sx_buf_t wire = SX_BUF_INIT;
    want_t want[64];
    size_t nwant = 0;
    size_t i = 0;
    while (i + 6 <= size && nwant + 2 <= 64) {
        uint8_t kind = data[i];
        /* Bit 3 scales the length so that 16- and 64-bit lengths occur. */
        size_t len = (size_t)data[i + 1] * ((kind & 8) ? 300 : 1);
        const uint8_t *mask = data + i + 2;
        i += 6;
        if (len > size - i)
            len = size - i;
        const uint8_t *p = data + i;
        i += len;
        switch (kind & 3) {
        case 0: /* a binary message, fragmented around a ping when bit 2 is set */
            if ((kind & 4) && len >= 2) {
                size_t half = len / 2;
                sx_ws_frame_put(&wire, SX_WS_BINARY, false, p, half, mask);
                sx_ws_frame_put(&wire, SX_WS_PING, true, p, half > 125 ? 125 : half, mask);
                want[nwant++] = (want_t){SX_WS_PING, p, half > 125 ? 125 : half};
                sx_ws_frame_put(&wire, SX_WS_CONT, true, p + half, len - half, mask);
            } else {
                sx_ws_frame_put(&wire, SX_WS_BINARY, true, p, len, mask);
            }
            want[nwant++] = (want_t){SX_WS_BINARY, p, len};
            break;
        case 1: /* text, when the bytes are UTF-8 */
            if (!sx_utf8_valid((const char *)p, len))
                continue;
            sx_ws_frame_put(&wire, SX_WS_TEXT, true, p, len, mask);
            want[nwant++] = (want_t){SX_WS_TEXT, p, len};
            break;
        case 2: /* ping or pong */
            if (len > 125)
                len = 125;
            sx_ws_frame_put(&wire, (kind & 4) ? SX_WS_PONG : SX_WS_PING, true, p, len, mask);
            want[nwant++] = (want_t){(kind & 4) ? SX_WS_PONG : SX_WS_PING, p, len};
            break;
        case 3: { /* a close frame with a reason, cut to fit */
            char reason[300];
            size_t rl = len < sizeof(reason) - 1 ? len : sizeof(reason) - 1;
            memcpy(reason, p, rl);
            reason[rl] = '\0';
            rl = strlen(reason);
            sx_ws_close_put(&wire, 1000, reason, mask);
            sx_ws_reader_t r;
            sx_ws_reader_init(&r, 1 << 20);
            sx_ws_reader_feed(&r, wire.ptr, wire.len);
            sx_ws_msg_t m;
            uint16_t code;
            sx_err_t err;
            /* Everything before is checked below; here only the close. */
            int rc;
            while ((rc = sx_ws_reader_next(&r, &m, &code, &err)) == 1 && m.opcode != SX_WS_CLOSE)
                ;
            if (rc == 1) {
                if (m.close_code != 1000 || m.len > 123 || m.len > rl ||
                    memcmp(m.data, reason, m.len) != 0)
                    abort();
            } else if (rc == 0 || sx_utf8_valid(reason, rl)) {
                /* A whole close frame with a UTF-8 reason (cut at a
                 * character boundary) must be read back. */
                abort();
            }
            sx_ws_reader_dispose(&r);
            sx_buf_dispose(&wire);
            return;
        }
        }
    }
    if (!wire.len)
        return;
    sx_ws_reader_t r;
    sx_ws_reader_init(&r, 1 << 20);
    /* Fed in two parts, split where the data says. */
    size_t cut = size ? data[0] % (wire.len + 1) : 0;
    sx_ws_reader_feed(&r, wire.ptr, cut);
    size_t got = 0;
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            sx_ws_reader_feed(&r, wire.ptr + cut, wire.len - cut);
        sx_ws_msg_t m;
        uint16_t code;
        sx_err_t err;
        int rc;
        while ((rc = sx_ws_reader_next(&r, &m, &code, &err)) == 1) {
            if (got >= nwant || m.opcode != want[got].opcode || m.len != want[got].n ||
                (m.len && memcmp(m.data, want[got].p, m.len) != 0))
                abort();
            got++;
        }
        if (rc < 0)
            abort();
    }
    if (got != nwant)
        abort();
    sx_ws_reader_dispose(&r);
    sx_buf_dispose(&wire);
}

static void mode_handshake(const uint8_t *data, size_t size)
{
    char buf[1024];
    size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
    memcpy(buf, data, n);
    buf[n] = '\0';
    const char *field[5] = {NULL, NULL, NULL, NULL, NULL};
    char *p = buf;
    for (int k = 0; k < 5 && p; k++) {
        field[k] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    char accept[SX_WS_ACCEPT_LEN + 1];
    int status = 0;
    sx_err_t err;
    int rc = sx_ws_handshake_check(field[0], field[1], field[2], field[3], field[4], accept,
                                   &status, &err);
    if (rc == 0) {
        if (status != 101 || strlen(accept) != SX_WS_ACCEPT_LEN || accept[27] != '=')
            abort();
    } else if (status != 400 && status != 405) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] & 3) {
    case 0:
    case 1:
        mode_raw(data + 1, size - 1);
        break;
    case 2:
        mode_roundtrip(data + 1, size - 1);
        break;
    default:
        mode_handshake(data + 1, size - 1);
        break;
    }
    return 0;
}
