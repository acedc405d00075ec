/* SPDX-License-Identifier: Apache-2.0 */
/* Duration and timestamp parsing. Strict: anything left over is an error. */
#include "time.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t sx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sx_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t sx_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sx_duration_parse(sx_str_t s, int64_t *ms, sx_err_t *err)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
                 {"h", 3600000},          {"m", 60000},          {"s", 1000},
                 {"ms", 1}};
    const char *p = s.ptr, *end = s.ptr + s.len;
    if (s.len == 0)
        return sx_err_set(err, SX_EPARSE, "empty duration string");
    /* Prometheus allows a bare zero without a unit. */
    if (s.len == 1 && s.ptr[0] == '0') {
        *ms = 0;
        return 0;
    }
    int64_t total = 0;
    int last = -1;
    while (p < end) {
        if (!isdigit((unsigned char)*p))
            goto bad;
        int64_t n = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (n > (INT64_MAX - 9) / 10)
                goto bad;
            n = n * 10 + (*p++ - '0');
        }
        const char *u = p;
        while (p < end && isalpha((unsigned char)*p))
            p++;
        size_t ulen = (size_t)(p - u);
        int idx = -1;
        for (int i = 0; i < 7; i++)
            if (strlen(units[i].unit) == ulen && memcmp(units[i].unit, u, ulen) == 0)
                idx = i;
        if (idx < 0 || idx <= last)
            goto bad;
        last = idx;
        if (n > INT64_MAX / units[idx].ms || total > INT64_MAX - n * units[idx].ms)
            goto bad;
        total += n * units[idx].ms;
    }
    *ms = total;
    return 0;
bad:
    return sx_err_set(err, SX_EPARSE, "not a valid duration string: \"%.*s\"", (int)s.len, s.ptr);
}

static int parse_float_exact(sx_str_t s, double *out)
{
    char tmp[64];
    /* strtod would skip leading blanks; Go's ParseFloat does not. */
    if (s.len == 0 || s.len >= sizeof(tmp) || isspace((unsigned char)s.ptr[0]))
        return -1;
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (*end || end == tmp || errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

int sx_duration_or_seconds_parse(sx_str_t s, int64_t *ms, sx_err_t *err)
{
    double v;
    if (parse_float_exact(s, &v) == 0) {
        if (!isfinite(v) || v * 1000 > 9.2e18 || v * 1000 < -9.2e18)
            return sx_err_set(err, SX_EPARSE, "cannot parse \"%.*s\" to a valid duration. It overflows int64",
                              (int)s.len, s.ptr);
        *ms = (int64_t)llround(v * 1000);
        return 0;
    }
    sx_err_t e;
    if (sx_duration_parse(s, ms, &e) == 0)
        return 0;
    return sx_err_set(err, SX_EPARSE, "cannot parse \"%.*s\" to a valid duration", (int)s.len, s.ptr);
}

static int digits(const char **p, const char *end, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (*p >= end || !isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (*(*p)++ - '0');
    }
    *out = v;
    return 0;
}

/* days since 1970-01-01 for a proleptic Gregorian date */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* RFC 3339 to seconds since the epoch and nanoseconds within the second
 * (0..999999999). Kept apart because years past 2262 overflow int64
 * nanoseconds but not milliseconds. */
static int rfc3339_parse(sx_str_t s, int64_t *secs_out, int64_t *frac_out)
{
    const char *p = s.ptr, *end = s.ptr + s.len;
    int Y, M, D, h, m, sec;
    if (digits(&p, end, 4, &Y) || p >= end || *p++ != '-' || digits(&p, end, 2, &M) ||
        p >= end || *p++ != '-' || digits(&p, end, 2, &D) || p >= end ||
        (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, end, 2, &h) || p >= end || *p++ != ':' || digits(&p, end, 2, &m) ||
        p >= end || *p++ != ':' || digits(&p, end, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    int64_t frac = 0;
    if (p < end && *p == '.') {
        p++;
        int nd = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (nd < 9) {
                frac = frac * 10 + (*p - '0');
                nd++;
            }
            p++;
        }
        if (nd == 0)
            return -1;
        while (nd++ < 9)
            frac *= 10;
    }
    int64_t off = 0;
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, end, 2, &oh) || p >= end || *p++ != ':' || digits(&p, end, 2, &om))
            return -1;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (p != end)
        return -1;
    *secs_out =
        days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec - off;
    *frac_out = frac;
    return 0;
}

/* RFC 3339 to nanoseconds; -1 also when the time does not fit (after 2262). */
static int rfc3339_ns(sx_str_t s, int64_t *ns)
{
    int64_t secs, frac;
    if (rfc3339_parse(s, &secs, &frac) || secs > INT64_MAX / 1000000000 - 1 ||
        secs < INT64_MIN / 1000000000 + 1)
        return -1;
    *ns = secs * 1000000000 + frac;
    return 0;
}

int sx_timestamp_parse(sx_str_t s, int64_t *ms, sx_err_t *err)
{
    double v;
    if (parse_float_exact(s, &v) == 0 && isfinite(v)) {
        /* Same range Prometheus accepts (about ±292 million years in ms
         * would overflow; clamp to int64 ms). */
        double msd = v * 1000.0;
        if (msd > 9.2e18 || msd < -9.2e18)
            return sx_err_set(err, SX_EPARSE, "cannot parse \"%.*s\" to a valid timestamp", (int)s.len, s.ptr);
        /* Round to the millisecond the way Prometheus does: split seconds
         * and fraction to avoid float error on values like 1435781451.781. */
        double ip;
        double fp = modf(v, &ip);
        *ms = (int64_t)ip * 1000 + (int64_t)llround(fp * 1000);
        return 0;
    }
    int64_t secs, frac;
    if (rfc3339_parse(s, &secs, &frac) == 0) {
        /* frac is never negative, so this floors like Prometheus. */
        *ms = secs * 1000 + frac / 1000000;
        return 0;
    }
    return sx_err_set(err, SX_EPARSE, "cannot parse \"%.*s\" to a valid timestamp", (int)s.len, s.ptr);
}

int sx_timestamp_parse_ns(sx_str_t s, int64_t *ns, sx_err_t *err)
{
    bool all_digits = s.len > 0;
    for (size_t i = 0; i < s.len; i++)
        if (!isdigit((unsigned char)s.ptr[i]) && !(i == 0 && s.ptr[i] == '-'))
            all_digits = false;
    if (all_digits && s.len > 10) {
        char tmp[32];
        if (s.len >= sizeof(tmp))
            return sx_err_set(err, SX_EPARSE, "timestamp out of range: \"%.*s\"", (int)s.len, s.ptr);
        memcpy(tmp, s.ptr, s.len);
        tmp[s.len] = '\0';
        errno = 0;
        long long v = strtoll(tmp, NULL, 10);
        if (errno)
            return sx_err_set(err, SX_EPARSE, "timestamp out of range: \"%.*s\"", (int)s.len, s.ptr);
        *ns = v;
        return 0;
    }
    if (rfc3339_ns(s, ns) == 0)
        return 0;
    double v;
    if (parse_float_exact(s, &v) == 0 && isfinite(v) && fabs(v) < 9.2e9) {
        double ip;
        double fp = modf(v, &ip);
        *ns = (int64_t)ip * 1000000000 + (int64_t)llround(fp * 1e9);
        return 0;
    }
    return sx_err_set(err, SX_EPARSE, "cannot parse \"%.*s\" to a valid timestamp", (int)s.len, s.ptr);
}

void sx_format_rfc3339_ms(char *buf, int64_t ms)
{
    time_t secs = (time_t)(ms / 1000 - (ms % 1000 < 0));
    int64_t frac = ms - (int64_t)secs * 1000;
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}
