/* SPDX-License-Identifier: Apache-2.0 */
/* Error codes shared by every module. Each row of SX_ERRNO_MAP gives the
 * code's name, its default message and the HTTP status an API maps it to
 * unless the API family knows better. Functions return 0 or a negative code;
 * anything that parses user input also fills an sx_err_t with a message. */
#ifndef SX_CORE_ERROR_H
#define SX_CORE_ERROR_H

#include <stddef.h>

#define SX_ERRNO_MAP(X)                                                        \
    X(EINVAL, "invalid argument", 400)                                         \
    X(EPARSE, "cannot parse input", 400)                                       \
    X(EBADLABEL, "invalid label", 400)                                         \
    X(ETOOLARGE, "request entity too large", 413)                              \
    X(EUNSUPPORTED, "unsupported media type", 415)                             \
    X(ENOMEM, "out of memory", 500)                                            \
    X(EIO, "input/output error", 500)                                          \
    X(ENOSPC, "no space left on device", 507)                                  \
    X(ECORRUPT, "corrupt data on disk", 500)                                   \
    X(ENOTFOUND, "not found", 404)                                             \
    X(EAUTH, "unauthorized", 401)                                              \
    X(EOUTOFBOUNDS, "sample timestamp out of bounds", 400)                     \
    X(ELIMIT, "limit exceeded", 422)                                           \
    X(ETIMEOUT, "timeout", 503)                                                \
    X(ECANCELED, "canceled", 499)                                              \
    X(EUNAVAIL, "service unavailable", 503)                                    \
    X(EEXEC, "execution error", 422)

enum {
    SX_OK = 0,
#define X(name, msg, status) SX_##name,
    SX__ERRNO_FIRST = -1000,
    SX_ERRNO_MAP(X)
#undef X
};

/* A parse or validation error: a code and a human message. The message is
 * owned by the struct, so it survives the request arena. */
typedef struct sx_err {
    int code;
    char msg[512];
} sx_err_t;

const char *sx_strerror(int rc);
const char *sx_errname(int rc);
int sx_err_http_status(int rc);

/* Set err (if not NULL) to code with a printf-style message. Returns code,
 * so callers can write `return sx_err_set(err, SX_EPARSE, "...")`. */
int sx_err_set(sx_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message already in err with more context: "series 3: " + old. */
int sx_err_wrap(sx_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void sx_err_clear(sx_err_t *err);

#define SX_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond))                                                           \
            sx_panic("BUG: assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__); \
    } while (0)

_Noreturn void sx_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
