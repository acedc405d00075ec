/* SPDX-License-Identifier: Apache-2.0 */
/* ip("...") filters: bounds compiled once, addresses parsed with
 * inet_pton; lines are scanned for runs of address characters. */
#include "ipfilter.h"

#include <arpa/inet.h>
#include <string.h>

static bool parse_addr(const char *p, size_t n, bool *v6, uint8_t out[16])
{
    char buf[64];
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, p, n);
    buf[n] = 0;
    if (inet_pton(AF_INET, buf, out) == 1) {
        *v6 = false;
        memset(out + 4, 0, 12);
        return true;
    }
    if (inet_pton(AF_INET6, buf, out) == 1) {
        *v6 = true;
        return true;
    }
    return false;
}

int sx_lq_ipfilter_compile(sx_str_t pat, sx_lq_ipfilter_t *f, sx_err_t *err)
{
    memset(f, 0, sizeof(*f));
    const char *p = pat.ptr ? pat.ptr : "";
    size_t n = pat.len;
    const char *dash = memchr(p, '-', n), *slash = memchr(p, '/', n);
    bool v6b;
    if (dash) {
        if (!parse_addr(p, (size_t)(dash - p), &f->v6, f->lo) ||
            !parse_addr(dash + 1, n - (size_t)(dash - p) - 1, &v6b, f->hi) || v6b != f->v6 ||
            memcmp(f->lo, f->hi, 16) > 0)
            return sx_err_set(err, SX_EPARSE, "invalid ip range: %.*s", (int)n, p);
        return 0;
    }
    if (slash) {
        if (!parse_addr(p, (size_t)(slash - p), &f->v6, f->lo))
            return sx_err_set(err, SX_EPARSE, "invalid ip prefix: %.*s", (int)n, p);
        int bits = 0;
        size_t i = (size_t)(slash - p) + 1;
        if (i >= n)
            return sx_err_set(err, SX_EPARSE, "invalid ip prefix: %.*s", (int)n, p);
        for (; i < n; i++) {
            if (p[i] < '0' || p[i] > '9' || bits > 128)
                return sx_err_set(err, SX_EPARSE, "invalid ip prefix: %.*s", (int)n, p);
            bits = bits * 10 + (p[i] - '0');
        }
        int max = f->v6 ? 128 : 32;
        if (bits > max)
            return sx_err_set(err, SX_EPARSE, "invalid ip prefix: %.*s", (int)n, p);
        memcpy(f->hi, f->lo, 16);
        for (int b = bits; b < max; b++) {
            f->lo[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
            f->hi[b / 8] |= (uint8_t)(0x80 >> (b % 8));
        }
        return 0;
    }
    if (!parse_addr(p, n, &f->v6, f->lo))
        return sx_err_set(err, SX_EPARSE, "invalid ip address: %.*s", (int)n, p);
    memcpy(f->hi, f->lo, 16);
    return 0;
}

static bool inside(const sx_lq_ipfilter_t *f, const char *p, size_t n)
{
    bool v6;
    uint8_t a[16];
    if (!parse_addr(p, n, &v6, a) || v6 != f->v6)
        return false;
    return memcmp(a, f->lo, 16) >= 0 && memcmp(a, f->hi, 16) <= 0;
}

bool sx_lq_ipfilter_value(const sx_lq_ipfilter_t *f, sx_str_t v)
{
    return f && inside(f, v.ptr ? v.ptr : "", v.len);
}

static bool addr_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
}

bool sx_lq_ipfilter_line(const sx_lq_ipfilter_t *f, sx_str_t line)
{
    const char *p = line.ptr ? line.ptr : "";
    size_t n = line.len, i = 0;
    while (i < n) {
        if (!addr_char(p[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && addr_char(p[j]))
            j++;
        /* Trim a trailing dot or colon (end of a sentence, "ip:"). */
        size_t e = j;
        while (e > i && (p[e - 1] == '.' || p[e - 1] == ':'))
            e--;
        if (e > i && inside(f, p + i, e - i))
            return true;
        i = j;
    }
    return false;
}
