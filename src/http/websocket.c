/* SPDX-License-Identifier: Apache-2.0 */
/* WebSocket handshake check and framing (RFC 6455). The reader keeps the
 * bytes received in one buffer and parses frames from its front; data
 * frames are unmasked into a second buffer where a fragmented message is
 * joined, control frames are unmasked in place and handed out at once.
 * Every length is checked against the limits before anything is buffered
 * for it, so a client cannot make the reader hold more than one frame of
 * at most max_message bytes. */
#include "websocket.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <strings.h>

#include "../core/str.h"

/* ---- Handshake ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Whether s is standard base64 (with padding) of exactly 16 bytes: 22
 * symbols, the last carrying only 2 bits, then "==". */
static bool key_is_16_bytes(const char *s)
{
    if (strlen(s) != 24 || s[22] != '=' || s[23] != '=')
        return false;
    for (int i = 0; i < 22; i++) {
        const char *p = strchr(b64_alphabet, s[i]);
        if (!s[i] || !p)
            return false;
        /* Go's StdEncoding is strict: unused low bits must be zero. */
        if (i == 21 && ((p - b64_alphabet) & 15) != 0)
            return false;
    }
    return true;
}

/* Whether a comma-separated header value has token (case-insensitive),
 * as gorilla's tokenListContainsValue reads it. */
static bool has_token(const char *v, const char *token)
{
    if (!v)
        return false;
    size_t tl = strlen(token);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *s = v;
        while (*v && *v != ',')
            v++;
        const char *e = v;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0)
            return true;
    }
    return false;
}

int sx_ws_handshake_check(const char *method, const char *connection, const char *upgrade,
                          const char *version, const char *key,
                          char accept[SX_WS_ACCEPT_LEN + 1], int *status, sx_err_t *err)
{
    static const char bad[] = "websocket: the client is not using the websocket protocol: ";
    *status = 400;
    if (!has_token(connection, "upgrade"))
        return sx_err_set(err, SX_EPARSE, "%s'upgrade' token not found in 'Connection' header",
                          bad);
    if (!has_token(upgrade, "websocket"))
        return sx_err_set(err, SX_EPARSE, "%s'websocket' token not found in 'Upgrade' header",
                          bad);
    if (!method || strcmp(method, "GET") != 0) {
        *status = 405;
        return sx_err_set(err, SX_EPARSE, "%srequest method is not GET", bad);
    }
    if (!has_token(version, "13"))
        return sx_err_set(err, SX_EPARSE,
                          "websocket: unsupported version: 13 not found in "
                          "'Sec-Websocket-Version' header");
    if (!key || !key_is_16_bytes(key))
        return sx_err_set(err, SX_EPARSE,
                          "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header "
                          "must be Base64 encoded value of 16-byte in length");
    char text[24 + 36 + 1];
    memcpy(text, key, 24);
    memcpy(text + 24, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
    uint8_t digest[20];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, text, 60, digest) != 0) {
        *status = 500;
        return sx_err_set(err, SX_EIO, "cannot compute SHA-1 for Sec-WebSocket-Accept");
    }
    accept[sx_base64_encode(digest, sizeof(digest), accept)] = '\0';
    *status = 101;
    return 0;
}

/* ---- Reader ---- */

void sx_ws_reader_init(sx_ws_reader_t *r, size_t max_message)
{
    memset(r, 0, sizeof(*r));
    r->max_message = max_message;
}

void sx_ws_reader_dispose(sx_ws_reader_t *r)
{
    sx_buf_dispose(&r->_in);
    sx_buf_dispose(&r->_msg);
}

/* Drop the consumed front of _in once it is most of the buffer. Only at
 * the start of a call: data handed out before may point into _in. */
static void compact(sx_ws_reader_t *r)
{
    if (r->_off == 0)
        return;
    if (r->_off == r->_in.len) {
        r->_in.len = 0;
        r->_off = 0;
    } else if (r->_off * 2 >= r->_in.len) {
        memmove(r->_in.ptr, r->_in.ptr + r->_off, r->_in.len - r->_off);
        r->_in.len -= r->_off;
        r->_off = 0;
    }
}

void sx_ws_reader_feed(sx_ws_reader_t *r, const void *p, size_t n)
{
    compact(r);
    sx_buf_append(&r->_in, p, n);
}

static int fail(sx_ws_reader_t *r, uint16_t code, uint16_t *close_code)
{
    r->_failed = true;
    *close_code = code;
    return SX_EPARSE;
}

static bool close_code_valid(uint16_t c)
{
    /* RFC 6455 7.4 and the IANA registry: 1004-1006 and 1015 are never
     * sent, 1016-2999 are reserved, 3000-4999 belong to applications. */
    if (c >= 3000 && c <= 4999)
        return true;
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014);
}

int sx_ws_reader_next(sx_ws_reader_t *r, sx_ws_msg_t *m, uint16_t *close_code, sx_err_t *err)
{
    if (r->_failed) {
        *close_code = SX_WS_CLOSE_PROTOCOL;
        return sx_err_set(err, SX_EPARSE, "websocket: protocol error reported before");
    }
    if (r->_msg_done) {
        sx_buf_clear(&r->_msg);
        r->_msg_done = false;
    }
    compact(r);
    for (;;) {
        size_t avail = r->_in.len - r->_off;
        if (avail < 2)
            return 0;
        const uint8_t *p = (const uint8_t *)r->_in.ptr + r->_off;
        bool fin = p[0] & 0x80;
        int op = p[0] & 0x0F;
        bool masked = p[1] & 0x80;
        uint64_t len = p[1] & 0x7F;
        size_t hdr = 2;
        if (p[0] & 0x70) {
            sx_err_set(err, SX_EPARSE, "websocket: RSV bits set, but no extension was negotiated");
            return fail(r, SX_WS_CLOSE_PROTOCOL, close_code);
        }
        bool control = op & 0x8;
        if (op != SX_WS_CONT && op != SX_WS_TEXT && op != SX_WS_BINARY && op != SX_WS_CLOSE &&
            op != SX_WS_PING && op != SX_WS_PONG) {
            sx_err_set(err, SX_EPARSE, "websocket: unknown opcode %d", op);
            return fail(r, SX_WS_CLOSE_PROTOCOL, close_code);
        }
        if (control && (!fin || len > 125)) {
            sx_err_set(err, SX_EPARSE, "websocket: control frame %s",
                       !fin ? "fragmented" : "longer than 125 bytes");
            return fail(r, SX_WS_CLOSE_PROTOCOL, close_code);
        }
        if (!masked) {
            sx_err_set(err, SX_EPARSE, "websocket: client frame is not masked");
            return fail(r, SX_WS_CLOSE_PROTOCOL, close_code);
        }
        if (len == 126) {
            if (avail < 4)
                return 0;
            len = (uint64_t)p[2] << 8 | p[3];
            hdr = 4;
        } else if (len == 127) {
            if (avail < 10)
                return 0;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            hdr = 10;
            if (len >> 63) {
                sx_err_set(err, SX_EPARSE, "websocket: frame length has its top bit set");
                return fail(r, SX_WS_CLOSE_PROTOCOL, close_code);
            }
        }
        if (!control) {
            if (op == SX_WS_CONT && r->_msg_op == 0) {
                sx_err_set(err, SX_EPARSE, "websocket: continuation frame without a message");
                return fail(r, SX_WS_CLOSE_PROTOCOL, close_code);
            }
            if (op != SX_WS_CONT && r->_msg_op != 0) {
                sx_err_set(err, SX_EPARSE, "websocket: new message before the last one ended");
                return fail(r, SX_WS_CLOSE_PROTOCOL, close_code);
            }
            /* Checked before waiting for the payload: nothing larger than
             * the limit is ever buffered. */
            if (len > r->max_message || r->_msg.len + len > r->max_message) {
                sx_err_set(err, SX_EPARSE, "websocket: message longer than %zu bytes",
                           r->max_message);
                return fail(r, SX_WS_CLOSE_TOO_BIG, close_code);
            }
        }
        if (avail - hdr < 4 || avail - hdr - 4 < len)
            return 0;
        const uint8_t *key = p + hdr;
        uint8_t *payload = (uint8_t *)r->_in.ptr + r->_off + hdr + 4;
        size_t n = (size_t)len;
        r->_off += hdr + 4 + n;
        if (control) {
            for (size_t i = 0; i < n; i++)
                payload[i] ^= key[i & 3];
            m->opcode = op;
            m->data = payload;
            m->len = n;
            m->close_code = 0;
            if (op == SX_WS_CLOSE) {
                if (n == 1) {
                    sx_err_set(err, SX_EPARSE, "websocket: close frame with a 1-byte payload");
                    return fail(r, SX_WS_CLOSE_PROTOCOL, close_code);
                }
                m->close_code = SX_WS_CLOSE_NO_STATUS;
                if (n >= 2) {
                    m->close_code = (uint16_t)(payload[0] << 8 | payload[1]);
                    m->data = payload + 2;
                    m->len = n - 2;
                    if (!close_code_valid(m->close_code)) {
                        sx_err_set(err, SX_EPARSE, "websocket: invalid close code %u",
                                   m->close_code);
                        return fail(r, SX_WS_CLOSE_PROTOCOL, close_code);
                    }
                    if (!sx_utf8_valid((const char *)m->data, m->len)) {
                        sx_err_set(err, SX_EPARSE, "websocket: close reason is not UTF-8");
                        return fail(r, SX_WS_CLOSE_INVALID_DATA, close_code);
                    }
                }
            }
            return 1;
        }
        if (op != SX_WS_CONT)
            r->_msg_op = op;
        char *dst = sx_buf_reserve(&r->_msg, n);
        for (size_t i = 0; i < n; i++)
            dst[i] = (char)(payload[i] ^ key[i & 3]);
        r->_msg.len += n;
        if (!fin)
            continue;
        m->opcode = r->_msg_op;
        m->data = (const uint8_t *)(r->_msg.ptr ? r->_msg.ptr : "");
        m->len = r->_msg.len;
        m->close_code = 0;
        r->_msg_op = 0;
        r->_msg_done = true;
        if (m->opcode == SX_WS_TEXT && !sx_utf8_valid((const char *)m->data, m->len)) {
            sx_err_set(err, SX_EPARSE, "websocket: text message is not UTF-8");
            return fail(r, SX_WS_CLOSE_INVALID_DATA, close_code);
        }
        return 1;
    }
}

/* ---- Writing ---- */

void sx_ws_frame_put(sx_buf_t *out, int opcode, bool fin, const void *p, size_t n,
                     const uint8_t *mask)
{
    uint8_t hdr[14];
    size_t k = 0;
    hdr[k++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    uint8_t mbit = mask ? 0x80 : 0;
    if (n < 126) {
        hdr[k++] = (uint8_t)(mbit | n);
    } else if (n <= 0xFFFF) {
        hdr[k++] = mbit | 126;
        hdr[k++] = (uint8_t)(n >> 8);
        hdr[k++] = (uint8_t)n;
    } else {
        hdr[k++] = mbit | 127;
        for (int i = 7; i >= 0; i--)
            hdr[k++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    if (mask) {
        memcpy(hdr + k, mask, 4);
        k += 4;
    }
    sx_buf_append(out, hdr, k);
    if (!n)
        return;
    char *dst = sx_buf_reserve(out, n);
    memcpy(dst, p, n);
    if (mask)
        for (size_t i = 0; i < n; i++)
            dst[i] ^= (char)mask[i & 3];
    out->len += n;
}

void sx_ws_close_put(sx_buf_t *out, uint16_t code, const char *reason, const uint8_t *mask)
{
    uint8_t payload[125];
    size_t n = 0;
    if (code) {
        payload[0] = (uint8_t)(code >> 8);
        payload[1] = (uint8_t)code;
        n = 2;
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > sizeof(payload) - 2) {
            rl = sizeof(payload) - 2;
            /* Do not cut a UTF-8 sequence: back up over continuation bytes. */
            while (rl > 0 && ((unsigned char)reason[rl] & 0xC0) == 0x80)
                rl--;
        }
        memcpy(payload + 2, reason, rl);
        n += rl;
    }
    sx_ws_frame_put(out, SX_WS_CLOSE, true, payload, n, mask);
}
