/* SPDX-License-Identifier: Apache-2.0 */
/* WebSocket (RFC 6455), server side: the check of a client's opening
 * handshake and its Sec-WebSocket-Accept key, a reader that turns the bytes
 * a client sends into whole messages and control frames, and the encoding
 * of frames. No extensions and no subprotocols are negotiated, so every
 * RSV bit must be zero. The reader does no I/O (the caller feeds it what
 * it received), which is what lets tests/fuzz/fuzz_ws_frame.c drive it. */
#ifndef SX_HTTP_WEBSOCKET_H
#define SX_HTTP_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/error.h"

/* Frame opcodes. */
enum {
    SX_WS_CONT = 0x0,
    SX_WS_TEXT = 0x1,
    SX_WS_BINARY = 0x2,
    SX_WS_CLOSE = 0x8,
    SX_WS_PING = 0x9,
    SX_WS_PONG = 0xA,
};

/* Close status codes (RFC 6455 section 7.4.1). */
enum {
    SX_WS_CLOSE_NORMAL = 1000,
    SX_WS_CLOSE_GOING_AWAY = 1001,
    SX_WS_CLOSE_PROTOCOL = 1002,
    SX_WS_CLOSE_NO_STATUS = 1005, /* never sent: a close frame without a code */
    SX_WS_CLOSE_INVALID_DATA = 1007,
    SX_WS_CLOSE_TOO_BIG = 1009,
    SX_WS_CLOSE_INTERNAL = 1011,
};

#define SX_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

/* Check a client's opening handshake from its method and headers (NULL
 * when absent), in the order gorilla/websocket (Loki's library) checks
 * them: Connection has the token "upgrade", Upgrade has "websocket", the
 * method is GET, Sec-WebSocket-Version has "13", Sec-WebSocket-Key is the
 * base64 of 16 bytes. Returns 0 and writes the NUL-terminated
 * Sec-WebSocket-Accept value, base64(SHA-1(key + RFC 6455 GUID)), to
 * accept; or SX_EPARSE with err saying what is wrong and *status the HTTP
 * status to refuse with (405 for the method, else 400). */
int sx_ws_handshake_check(const char *method, const char *connection, const char *upgrade,
                          const char *version, const char *key,
                          char accept[SX_WS_ACCEPT_LEN + 1], int *status, sx_err_t *err);

/* What the reader hands out: a whole data message (fragments joined) or a
 * control frame. */
typedef struct sx_ws_msg {
    int opcode;          /* SX_WS_TEXT, SX_WS_BINARY, SX_WS_PING, SX_WS_PONG, SX_WS_CLOSE */
    const uint8_t *data; /* payload, unmasked; for CLOSE the reason after the code */
    size_t len;
    uint16_t close_code; /* CLOSE: the code, or SX_WS_CLOSE_NO_STATUS for an empty frame */
} sx_ws_msg_t;

/* Reassembles a client's frames. Client frames must be masked; control
 * frames may come between the fragments of a message. */
typedef struct sx_ws_reader {
    size_t max_message; /* largest data message (after reassembly) accepted */
    sx_buf_t _in;       /* bytes received and not yet consumed (from _off) */
    size_t _off;
    sx_buf_t _msg;      /* payload of the data message being reassembled */
    int _msg_op;        /* its opcode; 0 when none is in progress */
    bool _msg_done;     /* _msg was handed out: clear it on the next call */
    bool _failed;       /* a protocol error was reported */
} sx_ws_reader_t;

void sx_ws_reader_init(sx_ws_reader_t *r, size_t max_message);
void sx_ws_reader_dispose(sx_ws_reader_t *r);

/* Add n bytes received from the client. May reallocate: the data of
 * messages returned before is invalid after the call. */
void sx_ws_reader_feed(sx_ws_reader_t *r, const void *p, size_t n);

/* The next message or control frame. Returns 1 with *m filled (m->data
 * stays valid until the next feed or next call), 0 when more bytes are
 * needed, or SX_EPARSE for a protocol violation: *close_code is the code
 * to close with (1002 protocol error, 1009 message too big, 1007 a text
 * message or close reason that is not UTF-8) and err says why. After an
 * error every call returns the same error. */
int sx_ws_reader_next(sx_ws_reader_t *r, sx_ws_msg_t *m, uint16_t *close_code, sx_err_t *err);

/* Append one frame to out (may reallocate). A server's frames are not
 * masked (mask NULL); a client's are masked with the 4-byte key given.
 * fin false starts or continues a fragmented message. */
void sx_ws_frame_put(sx_buf_t *out, int opcode, bool fin, const void *p, size_t n,
                     const uint8_t *mask);

/* Append a close frame with code and reason (cut at a UTF-8 boundary to
 * fit a control frame's 125 bytes); code 0 sends no payload at all. */
void sx_ws_close_put(sx_buf_t *out, uint16_t code, const char *reason, const uint8_t *mask);

#endif
