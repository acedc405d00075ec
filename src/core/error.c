/* SPDX-License-Identifier: Apache-2.0 */
/* Error code table lookups and the sx_err_t helpers. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct row {
    int code;
    const char *name;
    const char *msg;
    int status;
};

static const struct row rows[] = {
#define X(name, msg, status) {SX_##name, #name, msg, status},
    SX_ERRNO_MAP(X)
#undef X
};

static const struct row *find(int rc)
{
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].code == rc)
            return &rows[i];
    return NULL;
}

const char *sx_strerror(int rc)
{
    if (rc == 0)
        return "success";
    const struct row *r = find(rc);
    return r ? r->msg : "unknown error";
}

const char *sx_errname(int rc)
{
    const struct row *r = find(rc);
    return r ? r->name : "EUNKNOWN";
}

int sx_err_http_status(int rc)
{
    const struct row *r = find(rc);
    return r ? r->status : 500;
}

int sx_err_set(sx_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

int sx_err_wrap(sx_err_t *err, const char *fmt, ...)
{
    if (!err)
        return 0;
    char prefix[256], old[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s%s", prefix, old);
    return err->code;
}

void sx_err_clear(sx_err_t *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

void sx_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
