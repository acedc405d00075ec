/* SPDX-License-Identifier: Apache-2.0 */
/* A Go text/template subset with Loki's function map (see template.h).
 * Sections: values and Go formatting (numbers, times), exact decimals for
 * sprig's float functions, the lexer and parser (Go's grammar and error
 * messages), the evaluator (Go's calling and typing rules), the builtin
 * and Loki/sprig functions, and fmt's printf. Everything a line produces
 * lives in the label set's per-line arena; the program is read-only while
 * executing. */
#include "template.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/time.h"
#include "convert.h"

#define MAX_NEST 100            /* parenthesis / block nesting in a template */
#define MAX_RESULT (16u << 20)  /* largest string a function may build */
#define MAX_EXEC (128u << 20)   /* memory one execution may use, output included */

/* ---- Values ---- */

typedef struct gtime {
    int64_t sec;  /* Unix seconds */
    int32_t nsec; /* [0, 1e9) */
    int32_t off;  /* zone offset, seconds east of UTC */
    char zone[8]; /* zone name; "" prints as -0700 */
} gtime_t;

enum {
    V_INVALID = 0, /* Go's invalid reflect.Value: nil, "<no value>" */
    V_STRING,
    V_INT,   /* Go int */
    V_INT64, /* Go int64 (sprig arithmetic) */
    V_UINT8, /* a byte from index on a string */
    V_FLOAT,
    V_BOOL,
    V_TIME,
    V_MAP, /* the labels (dot) */
};

typedef struct val {
    uint8_t k;
    bool b;
    int64_t i;
    double f;
    sx_str_t s;
    gtime_t t;
} val_t;

static const char *const type_names[] = {
    [V_INVALID] = "<nil>", [V_STRING] = "string", [V_INT] = "int", [V_INT64] = "int64",
    [V_UINT8] = "uint8", [V_FLOAT] = "float64", [V_BOOL] = "bool", [V_TIME] = "time.Time",
    [V_MAP] = "map[string]string",
};

static val_t vstr(sx_str_t s)
{
    return (val_t){.k = V_STRING, .s = s};
}
static val_t vint(int64_t i)
{
    return (val_t){.k = V_INT, .i = i};
}
static val_t vint64(int64_t i)
{
    return (val_t){.k = V_INT64, .i = i};
}
static val_t vfloat(double f)
{
    return (val_t){.k = V_FLOAT, .f = f};
}
static val_t vbool(bool b)
{
    return (val_t){.k = V_BOOL, .b = b};
}
static val_t vtime(gtime_t t)
{
    return (val_t){.k = V_TIME, .t = t};
}

/* ---- Small buffers on the per-line arena ---- */

/* A growable string built in a heap sx_buf_t and copied to the arena. */
typedef struct sbuf {
    sx_buf_t b;
} sbuf_t;

static void sb_put(sbuf_t *s, const char *p, size_t n)
{
    sx_buf_append(&s->b, p, n);
}
static void sb_putc(sbuf_t *s, char c)
{
    sx_buf_putc(&s->b, c);
}
static void sb_puts(sbuf_t *s, const char *p)
{
    sx_buf_append(&s->b, p, strlen(p));
}

/* ---- Go float formatting ---- */

/* Shortest digits of v > 0 (finite) that read back as v: digits in d
 * (no dot, at most 17), *dp = position of the decimal point relative to
 * the first digit (Go's decimalSlice: value = 0.d * 10^dp). */
static int shortest_digits(double v, char *d, int *dp)
{
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
        if (p == 17 || strtod(buf, NULL) == v) {
            int n = 0;
            char *e = buf;
            for (; *e && *e != 'e'; e++)
                if (*e >= '0' && *e <= '9')
                    d[n++] = *e;
            int x = atoi(e + 1);
            while (n > 1 && d[n - 1] == '0')
                n--;
            *dp = x + 1;
            return n;
        }
    }
    return 0;
}

/* strconv.FormatFloat(v, 'g', -1, 64) / fmt's %v: NaN, +Inf, -Inf. */
static void fmt_float_v(sbuf_t *o, double v)
{
    if (isnan(v)) {
        sb_puts(o, "NaN");
        return;
    }
    if (isinf(v)) {
        sb_puts(o, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (signbit(v))
        sb_putc(o, '-');
    v = fabs(v);
    if (v == 0) {
        sb_putc(o, '0');
        return;
    }
    char d[20];
    int dp, nd = shortest_digits(v, d, &dp);
    int exp = dp - 1;
    if (exp < -4 || exp >= 6) {
        sb_putc(o, d[0]);
        if (nd > 1) {
            sb_putc(o, '.');
            sb_put(o, d + 1, (size_t)nd - 1);
        }
        char e[16];
        snprintf(e, sizeof(e), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        sb_puts(o, e);
        return;
    }
    if (dp <= 0) {
        sb_puts(o, "0.");
        for (int i = 0; i < -dp; i++)
            sb_putc(o, '0');
        sb_put(o, d, (size_t)nd);
        return;
    }
    if (dp >= nd) {
        sb_put(o, d, (size_t)nd);
        for (int i = nd; i < dp; i++)
            sb_putc(o, '0');
        return;
    }
    sb_put(o, d, (size_t)dp);
    sb_putc(o, '.');
    sb_put(o, d + dp, (size_t)(nd - dp));
}

/* ---- Go time ---- */

static const char *const month_names[] = {"January", "February", "March",     "April",
                                          "May",     "June",     "July",      "August",
                                          "September", "October", "November", "December"};
static const char *const day_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in(int m, int64_t y)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

typedef struct civil {
    int64_t year;
    int month, day, hour, min, sec, wday, yday;
} civil_t;

static civil_t to_civil(const gtime_t *t)
{
    civil_t c;
    int64_t s = t->sec + t->off;
    int64_t days = floordiv(s, 86400);
    int64_t rem = s - days * 86400;
    civil_from_days(days, &c.year, &c.month, &c.day);
    c.hour = (int)(rem / 3600);
    c.min = (int)(rem % 3600 / 60);
    c.sec = (int)(rem % 60);
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    c.wday = (int)(w < 0 ? w + 7 : w);
    c.yday = (int)(days - days_from_civil(c.year, 1, 1)) + 1;
    return c;
}

static gtime_t time_utc(int64_t sec, int64_t nsec)
{
    gtime_t t = {0};
    sec += floordiv(nsec, 1000000000);
    nsec -= floordiv(nsec, 1000000000) * 1000000000;
    t.sec = sec;
    t.nsec = (int32_t)nsec;
    memcpy(t.zone, "UTC", 4);
    return t;
}

/* The zero time.Time: 0001-01-01 00:00:00 UTC. */
static gtime_t time_zero(void)
{
    return time_utc(-62135596800LL, 0);
}

/* Layout elements, as Go's nextStdChunk. */
enum {
    STD_NONE = 0, STD_LONG_MONTH, STD_MONTH, STD_NUM_MONTH, STD_ZERO_MONTH, STD_LONG_WEEKDAY,
    STD_WEEKDAY, STD_DAY, STD_UNDER_DAY, STD_ZERO_DAY, STD_UNDER_YDAY, STD_ZERO_YDAY, STD_HOUR,
    STD_HOUR12, STD_ZERO_HOUR12, STD_MINUTE, STD_ZERO_MINUTE, STD_SECOND, STD_ZERO_SECOND,
    STD_LONG_YEAR, STD_YEAR, STD_PM, STD_pm, STD_TZ, STD_ISO_TZ, STD_ISO_SECS_TZ, STD_ISO_SHORT_TZ,
    STD_ISO_COLON_TZ, STD_ISO_COLON_SECS_TZ, STD_NUM_TZ, STD_NUM_SECS_TZ, STD_NUM_SHORT_TZ,
    STD_NUM_COLON_TZ, STD_NUM_COLON_SECS_TZ, STD_FRAC0, STD_FRAC9,
};

static bool starts(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n >= l && memcmp(s, lit, l) == 0;
}

static bool is_dig(const char *s, size_t n, size_t i)
{
    return i < n && s[i] >= '0' && s[i] <= '9';
}

/* Find the next layout element in l[0..n): returns its kind, with the
 * literal prefix length in *pre and the element length in *len (for the
 * fraction kinds also its digit count in *frac). */
static int next_std(const char *l, size_t n, size_t *pre, size_t *len, int *frac)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = l + i;
        size_t r = n - i;
        *pre = i;
        switch (l[i]) {
        case 'J':
            if (starts(s, r, "Jan")) {
                if (starts(s, r, "January")) {
                    *len = 7;
                    return STD_LONG_MONTH;
                }
                if (!(r > 3 && s[3] >= 'a' && s[3] <= 'z')) {
                    *len = 3;
                    return STD_MONTH;
                }
            }
            break;
        case 'M':
            if (starts(s, r, "Mon")) {
                if (starts(s, r, "Monday")) {
                    *len = 6;
                    return STD_LONG_WEEKDAY;
                }
                if (!(r > 3 && s[3] >= 'a' && s[3] <= 'z')) {
                    *len = 3;
                    return STD_WEEKDAY;
                }
            }
            if (starts(s, r, "MST")) {
                *len = 3;
                return STD_TZ;
            }
            break;
        case '0':
            if (r >= 2 && s[1] >= '1' && s[1] <= '6') {
                static const int k[] = {STD_ZERO_MONTH, STD_ZERO_DAY, STD_ZERO_HOUR12,
                                        STD_ZERO_MINUTE, STD_ZERO_SECOND, STD_YEAR};
                *len = 2;
                return k[s[1] - '1'];
            }
            if (r >= 3 && s[1] == '0' && s[2] == '2') {
                *len = 3;
                return STD_ZERO_YDAY;
            }
            break;
        case '1':
            if (r >= 2 && s[1] == '5') {
                *len = 2;
                return STD_HOUR;
            }
            *len = 1;
            return STD_NUM_MONTH;
        case '2':
            if (starts(s, r, "2006")) {
                *len = 4;
                return STD_LONG_YEAR;
            }
            *len = 1;
            return STD_DAY;
        case '_':
            if (r >= 2 && s[1] == '2') {
                if (starts(s + 1, r - 1, "2006")) {
                    *pre = i + 1;
                    *len = 4;
                    return STD_LONG_YEAR;
                }
                *len = 2;
                return STD_UNDER_DAY;
            }
            if (r >= 3 && s[1] == '_' && s[2] == '2') {
                *len = 3;
                return STD_UNDER_YDAY;
            }
            break;
        case '3':
            *len = 1;
            return STD_HOUR12;
        case '4':
            *len = 1;
            return STD_MINUTE;
        case '5':
            *len = 1;
            return STD_SECOND;
        case 'P':
            if (r >= 2 && s[1] == 'M') {
                *len = 2;
                return STD_PM;
            }
            break;
        case 'p':
            if (r >= 2 && s[1] == 'm') {
                *len = 2;
                return STD_pm;
            }
            break;
        case '-':
            if (starts(s, r, "-070000")) { *len = 7; return STD_NUM_SECS_TZ; }
            if (starts(s, r, "-07:00:00")) { *len = 9; return STD_NUM_COLON_SECS_TZ; }
            if (starts(s, r, "-0700")) { *len = 5; return STD_NUM_TZ; }
            if (starts(s, r, "-07:00")) { *len = 6; return STD_NUM_COLON_TZ; }
            if (starts(s, r, "-07")) { *len = 3; return STD_NUM_SHORT_TZ; }
            break;
        case 'Z':
            if (starts(s, r, "Z070000")) { *len = 7; return STD_ISO_SECS_TZ; }
            if (starts(s, r, "Z07:00:00")) { *len = 9; return STD_ISO_COLON_SECS_TZ; }
            if (starts(s, r, "Z0700")) { *len = 5; return STD_ISO_TZ; }
            if (starts(s, r, "Z07:00")) { *len = 6; return STD_ISO_COLON_TZ; }
            if (starts(s, r, "Z07")) { *len = 3; return STD_ISO_SHORT_TZ; }
            break;
        case '.': case ',':
            if (r >= 2 && (s[1] == '0' || s[1] == '9')) {
                char ch = s[1];
                size_t j = 1;
                while (j < r && s[j] == ch)
                    j++;
                if (!is_dig(s, r, j)) {
                    *len = j;
                    *frac = (int)(j - 1);
                    return ch == '0' ? STD_FRAC0 : STD_FRAC9;
                }
            }
            break;
        }
    }
    *pre = n;
    *len = 0;
    return STD_NONE;
}

static void put_int(sbuf_t *o, int64_t v, int width, char pad)
{
    char b[32];
    bool neg = v < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = 0;
    do {
        b[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg)
        sb_putc(o, '-');
    for (int i = n; i < width; i++)
        sb_putc(o, pad);
    while (n)
        sb_putc(o, b[--n]);
}

/* time.Time.Format. */
static void time_format(sbuf_t *o, const gtime_t *t, sx_str_t layout)
{
    civil_t c = to_civil(t);
    const char *l = layout.ptr;
    size_t n = layout.len;
    while (n) {
        size_t pre, len;
        int frac = 0;
        int std = next_std(l, n, &pre, &len, &frac);
        sb_put(o, l, pre);
        if (std == STD_NONE)
            break;
        l += pre + len;
        n -= pre + len;
        switch (std) {
        case STD_YEAR: {
            int64_t y = c.year % 100;
            put_int(o, y < 0 ? -y : y, 2, '0');
            break;
        }
        case STD_LONG_YEAR: put_int(o, c.year, 4, '0'); break;
        case STD_MONTH: sb_put(o, month_names[c.month - 1], 3); break;
        case STD_LONG_MONTH: sb_puts(o, month_names[c.month - 1]); break;
        case STD_NUM_MONTH: put_int(o, c.month, 0, '0'); break;
        case STD_ZERO_MONTH: put_int(o, c.month, 2, '0'); break;
        case STD_WEEKDAY: sb_put(o, day_names[c.wday], 3); break;
        case STD_LONG_WEEKDAY: sb_puts(o, day_names[c.wday]); break;
        case STD_DAY: put_int(o, c.day, 0, '0'); break;
        case STD_UNDER_DAY: put_int(o, c.day, 2, ' '); break;
        case STD_ZERO_DAY: put_int(o, c.day, 2, '0'); break;
        case STD_UNDER_YDAY: put_int(o, c.yday, 3, ' '); break;
        case STD_ZERO_YDAY: put_int(o, c.yday, 3, '0'); break;
        case STD_HOUR: put_int(o, c.hour, 2, '0'); break;
        case STD_HOUR12: put_int(o, c.hour % 12 == 0 ? 12 : c.hour % 12, 0, '0'); break;
        case STD_ZERO_HOUR12: put_int(o, c.hour % 12 == 0 ? 12 : c.hour % 12, 2, '0'); break;
        case STD_MINUTE: put_int(o, c.min, 0, '0'); break;
        case STD_ZERO_MINUTE: put_int(o, c.min, 2, '0'); break;
        case STD_SECOND: put_int(o, c.sec, 0, '0'); break;
        case STD_ZERO_SECOND: put_int(o, c.sec, 2, '0'); break;
        case STD_PM: sb_puts(o, c.hour >= 12 ? "PM" : "AM"); break;
        case STD_pm: sb_puts(o, c.hour >= 12 ? "pm" : "am"); break;
        case STD_ISO_TZ: case STD_ISO_COLON_TZ: case STD_ISO_SECS_TZ: case STD_ISO_SHORT_TZ:
        case STD_ISO_COLON_SECS_TZ: case STD_NUM_TZ: case STD_NUM_COLON_TZ: case STD_NUM_SECS_TZ:
        case STD_NUM_SHORT_TZ: case STD_NUM_COLON_SECS_TZ: {
            bool iso = std == STD_ISO_TZ || std == STD_ISO_COLON_TZ || std == STD_ISO_SECS_TZ ||
                       std == STD_ISO_SHORT_TZ || std == STD_ISO_COLON_SECS_TZ;
            if (iso && t->off == 0) {
                sb_putc(o, 'Z');
                break;
            }
            int zone = t->off / 60, abs = t->off;
            if (zone < 0) {
                sb_putc(o, '-');
                zone = -zone;
                abs = -abs;
            } else {
                sb_putc(o, '+');
            }
            put_int(o, zone / 60, 2, '0');
            bool colon = std == STD_ISO_COLON_TZ || std == STD_NUM_COLON_TZ ||
                         std == STD_ISO_COLON_SECS_TZ || std == STD_NUM_COLON_SECS_TZ;
            if (colon)
                sb_putc(o, ':');
            if (std != STD_NUM_SHORT_TZ && std != STD_ISO_SHORT_TZ)
                put_int(o, zone % 60, 2, '0');
            if (std == STD_ISO_SECS_TZ || std == STD_NUM_SECS_TZ || std == STD_ISO_COLON_SECS_TZ ||
                std == STD_NUM_COLON_SECS_TZ) {
                if (colon)
                    sb_putc(o, ':');
                put_int(o, abs % 60, 2, '0');
            }
            break;
        }
        case STD_TZ:
            if (t->zone[0]) {
                sb_puts(o, t->zone);
            } else {
                int zone = t->off / 60;
                sb_putc(o, zone < 0 ? '-' : '+');
                if (zone < 0)
                    zone = -zone;
                put_int(o, zone / 60, 2, '0');
                put_int(o, zone % 60, 2, '0');
            }
            break;
        case STD_FRAC0: case STD_FRAC9: {
            char ds[10];
            snprintf(ds, sizeof(ds), "%09d", (int)t->nsec);
            int nd = frac > 9 ? 9 : frac;
            if (std == STD_FRAC9) {
                int k = nd;
                while (k > 0 && ds[k - 1] == '0')
                    k--;
                if (k == 0)
                    break;
                nd = k;
            }
            sb_putc(o, l[-(long)len]); /* '.' or ',' */
            sb_put(o, ds, (size_t)nd);
            break;
        }
        }
    }
}

static void time_string(sbuf_t *o, const gtime_t *t)
{
    time_format(o, t, SX_STR_LIT("2006-01-02 15:04:05.999999999 -0700 MST"));
}

/* Parse digits for Go's getnum: one or two (fixed: exactly two). */
static int getnum(const char **s, size_t *n, bool fixed, int *out)
{
    if (*n == 0 || !isdigit((unsigned char)(*s)[0]))
        return -1;
    if (*n < 2 || !isdigit((unsigned char)(*s)[1])) {
        if (fixed)
            return -1;
        *out = (*s)[0] - '0';
        (*s)++, (*n)--;
        return 0;
    }
    *out = ((*s)[0] - '0') * 10 + ((*s)[1] - '0');
    *s += 2, *n -= 2;
    return 0;
}

static int lookup_name(const char **s, size_t *n, const char *const *tab, int count, size_t fixed)
{
    for (int i = 0; i < count; i++) {
        size_t l = fixed ? fixed : strlen(tab[i]);
        if (*n >= l && strncasecmp(*s, tab[i], l) == 0) {
            *s += l, *n -= l;
            return i;
        }
    }
    return -1;
}

/* time.ParseInLocation(layout, value, UTC). Returns 0 or -1 (Go's parse
 * errors; callers that ignore them get the zero time). */
static int time_parse(sx_str_t layout, sx_str_t value, gtime_t *out)
{
    const char *l = layout.ptr, *v = value.ptr;
    size_t ln = layout.len, vn = value.len;
    int64_t year = 0;
    int month = -1, day = -1, hour = 0, min = 0, sec = 0, nsec = 0, yday = -1;
    bool pm = false, am = false, have_off = false, utc = false;
    int zoff = 0;
    char zname[8] = "";
    for (;;) {
        size_t pre, len;
        int frac = 0;
        int std = next_std(l, ln, &pre, &len, &frac);
        /* Match the literal prefix, runs of spaces being equivalent. */
        for (size_t i = 0; i < pre;) {
            if (l[i] == ' ') {
                if (vn && v[0] != ' ')
                    return -1;
                while (i < pre && l[i] == ' ')
                    i++;
                while (vn && v[0] == ' ')
                    v++, vn--;
                continue;
            }
            if (!vn || v[0] != l[i])
                return -1;
            v++, vn--, i++;
        }
        if (std == STD_NONE) {
            if (vn)
                return -1; /* extra text */
            break;
        }
        l += pre + len;
        ln -= pre + len;
        int x;
        switch (std) {
        case STD_YEAR:
            if (vn < 2 || !is_dig(v, vn, 0) || !is_dig(v, vn, 1))
                return -1;
            x = (v[0] - '0') * 10 + (v[1] - '0');
            year = x >= 69 ? 1900 + x : 2000 + x;
            v += 2, vn -= 2;
            break;
        case STD_LONG_YEAR:
            if (vn < 4 || !is_dig(v, vn, 0) || !is_dig(v, vn, 1) || !is_dig(v, vn, 2) || !is_dig(v, vn, 3))
                return -1;
            year = (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10 + (v[3] - '0');
            v += 4, vn -= 4;
            break;
        case STD_MONTH:
            if ((month = lookup_name(&v, &vn, month_names, 12, 3)) < 0)
                return -1;
            month++;
            break;
        case STD_LONG_MONTH:
            if ((month = lookup_name(&v, &vn, month_names, 12, 0)) < 0)
                return -1;
            month++;
            break;
        case STD_NUM_MONTH: case STD_ZERO_MONTH:
            if (getnum(&v, &vn, std == STD_ZERO_MONTH, &month) || month < 1 || month > 12)
                return -1;
            break;
        case STD_WEEKDAY:
            if (lookup_name(&v, &vn, day_names, 7, 3) < 0)
                return -1;
            break;
        case STD_LONG_WEEKDAY:
            if (lookup_name(&v, &vn, day_names, 7, 0) < 0)
                return -1;
            break;
        case STD_DAY: case STD_UNDER_DAY: case STD_ZERO_DAY:
            if (std == STD_UNDER_DAY && vn && v[0] == ' ')
                v++, vn--;
            if (getnum(&v, &vn, std == STD_ZERO_DAY, &day))
                return -1;
            break;
        case STD_UNDER_YDAY: case STD_ZERO_YDAY: {
            for (int k = 0; k < 2; k++)
                if (std == STD_UNDER_YDAY && vn && v[0] == ' ')
                    v++, vn--;
            int nd = 0;
            yday = 0;
            while (nd < 3 && is_dig(v, vn, 0)) {
                yday = yday * 10 + (v[0] - '0');
                v++, vn--, nd++;
            }
            if (nd == 0 || (std == STD_ZERO_YDAY && nd != 3) || yday < 1 || yday > 366)
                return -1;
            break;
        }
        case STD_HOUR:
            if (getnum(&v, &vn, false, &hour) || hour > 23)
                return -1;
            break;
        case STD_HOUR12: case STD_ZERO_HOUR12:
            if (getnum(&v, &vn, std == STD_ZERO_HOUR12, &hour) || hour > 12)
                return -1;
            break;
        case STD_MINUTE: case STD_ZERO_MINUTE:
            if (getnum(&v, &vn, std == STD_ZERO_MINUTE, &min) || min > 59)
                return -1;
            break;
        case STD_SECOND: case STD_ZERO_SECOND:
            if (getnum(&v, &vn, std == STD_ZERO_SECOND, &sec) || sec > 59)
                return -1;
            /* A fraction right after the seconds is read even when the
             * layout has none. */
            if (vn >= 2 && (v[0] == '.' || v[0] == ',') && is_dig(v, vn, 1)) {
                size_t p2, l2;
                int f2 = 0;
                int nx = next_std(l, ln, &p2, &l2, &f2);
                if (!(p2 == 0 && (nx == STD_FRAC0 || nx == STD_FRAC9))) {
                    size_t k = 1;
                    int64_t ns = 0, scale = 100000000;
                    while (k < vn && is_dig(v, vn, k)) {
                        ns += (v[k] - '0') * scale;
                        scale /= 10;
                        k++;
                    }
                    nsec = (int)ns;
                    v += k, vn -= k;
                }
            }
            break;
        case STD_PM:
            if (vn < 2)
                return -1;
            if (!strncmp(v, "PM", 2))
                pm = true;
            else if (!strncmp(v, "AM", 2))
                am = true;
            else
                return -1;
            v += 2, vn -= 2;
            break;
        case STD_pm:
            if (vn < 2)
                return -1;
            if (!strncmp(v, "pm", 2))
                pm = true;
            else if (!strncmp(v, "am", 2))
                am = true;
            else
                return -1;
            v += 2, vn -= 2;
            break;
        case STD_ISO_TZ: case STD_ISO_COLON_TZ: case STD_ISO_SECS_TZ: case STD_ISO_SHORT_TZ:
        case STD_ISO_COLON_SECS_TZ: case STD_NUM_TZ: case STD_NUM_COLON_TZ: case STD_NUM_SECS_TZ:
        case STD_NUM_SHORT_TZ: case STD_NUM_COLON_SECS_TZ: {
            bool iso = std == STD_ISO_TZ || std == STD_ISO_COLON_TZ || std == STD_ISO_SECS_TZ ||
                       std == STD_ISO_SHORT_TZ || std == STD_ISO_COLON_SECS_TZ;
            if (iso && vn >= 1 && v[0] == 'Z') {
                v++, vn--;
                utc = true;
                break;
            }
            if (!vn || (v[0] != '+' && v[0] != '-'))
                return -1;
            int sign = v[0] == '-' ? -1 : 1;
            v++, vn--;
            int hh = 0, mm = 0, ss = 0;
            bool colon = std == STD_ISO_COLON_TZ || std == STD_NUM_COLON_TZ ||
                         std == STD_ISO_COLON_SECS_TZ || std == STD_NUM_COLON_SECS_TZ;
            bool secs = std == STD_ISO_SECS_TZ || std == STD_NUM_SECS_TZ ||
                        std == STD_ISO_COLON_SECS_TZ || std == STD_NUM_COLON_SECS_TZ;
            bool shortz = std == STD_ISO_SHORT_TZ || std == STD_NUM_SHORT_TZ;
            if (getnum(&v, &vn, true, &hh))
                return -1;
            if (!shortz) {
                if (colon) {
                    if (!vn || v[0] != ':')
                        return -1;
                    v++, vn--;
                }
                if (getnum(&v, &vn, true, &mm))
                    return -1;
            }
            if (secs) {
                if (colon) {
                    if (!vn || v[0] != ':')
                        return -1;
                    v++, vn--;
                }
                if (getnum(&v, &vn, true, &ss))
                    return -1;
            }
            if (hh > 24 || mm > 60 || ss > 60)
                return -1;
            zoff = sign * (hh * 3600 + mm * 60 + ss);
            have_off = true;
            break;
        }
        case STD_TZ: {
            if (vn >= 3 && !strncmp(v, "UTC", 3)) {
                v += 3, vn -= 3;
                utc = true;
                break;
            }
            size_t k = 0;
            while (k < vn && k < 5 && v[k] >= 'A' && v[k] <= 'Z')
                k++;
            if (k < 3)
                return -1;
            memcpy(zname, v, k);
            zname[k] = '\0';
            v += k, vn -= k;
            break;
        }
        case STD_FRAC0: {
            size_t need = (size_t)frac + 1;
            if (vn < need || (v[0] != '.' && v[0] != ','))
                return -1;
            int64_t ns = 0, scale = 100000000;
            for (size_t k = 1; k < need; k++) {
                if (!is_dig(v, vn, k))
                    return -1;
                if (k <= 9) {
                    ns += (v[k] - '0') * scale;
                    scale /= 10;
                }
            }
            nsec = (int)ns;
            v += need, vn -= need;
            break;
        }
        case STD_FRAC9: {
            if (vn < 2 || (v[0] != '.' && v[0] != ',') || !is_dig(v, vn, 1))
                break;
            size_t k = 1;
            int64_t ns = 0, scale = 100000000;
            while (k < vn && is_dig(v, vn, k)) {
                if (k <= 9) {
                    ns += (v[k] - '0') * scale;
                    scale /= 10;
                }
                k++;
            }
            nsec = (int)ns;
            v += k, vn -= k;
            break;
        }
        }
    }
    if (pm && hour < 12)
        hour += 12;
    else if (am && hour == 12)
        hour = 0;
    if (yday >= 0) {
        /* Go: the day of the year gives month and day, which must agree
         * with any parsed ones. */
        static const int before[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365};
        int m = 0, d = 0;
        if (is_leap(year)) {
            if (yday == 31 + 29) {
                m = 2;
                d = 29;
            } else if (yday > 31 + 29) {
                yday--;
            }
        }
        if (m == 0) {
            m = yday / 31 + 1;
            if (before[m] < yday)
                m++;
            d = yday - before[m - 1];
        }
        if ((month >= 0 && month != m) || (day >= 0 && day != d))
            return -1;
        month = m;
        day = d;
    }
    if (month < 0)
        month = 1;
    if (day < 0)
        day = 1;
    if (day < 1 || day > days_in(month, year))
        return -1;
    int64_t s = days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
    gtime_t t = time_utc(s, nsec);
    if (!utc && have_off) {
        t.sec -= zoff;
        t.off = zoff;
        if (zoff != 0)
            t.zone[0] = '\0';
    } else if (!utc && zname[0]) {
        memcpy(t.zone, zname, sizeof(zname));
    }
    *out = t;
    return 0;
}

/* ---- Exact decimals (shopspring/decimal, as sprig's addf & co use) ---- */

/* value = (-1)^neg * digits * 10^exp; digits most significant first,
 * no leading zeros (n == 0 is zero). */
typedef struct dec {
    unsigned char *d;
    int n;
    int exp;
    bool neg;
} dec_t;

typedef struct ctx ctx_t;
static void *ctx_alloc(ctx_t *c, size_t n);

static void dec_norm(dec_t *x)
{
    int i = 0;
    while (i < x->n && x->d[i] == 0)
        i++;
    if (i) {
        memmove(x->d, x->d + i, (size_t)(x->n - i));
        x->n -= i;
    }
    if (x->n == 0)
        x->neg = false;
}

static dec_t dec_from_double(ctx_t *c, double v)
{
    dec_t x = {ctx_alloc(c, 20), 0, 0, signbit(v) != 0};
    v = fabs(v);
    if (v == 0) {
        x.neg = false;
        return x;
    }
    char d[20];
    int dp, nd = shortest_digits(v, d, &dp);
    for (int i = 0; i < nd; i++)
        x.d[i] = (unsigned char)(d[i] - '0');
    x.n = nd;
    x.exp = dp - nd;
    return x;
}

/* |a| with exponent lowered to e (e <= a.exp). */
static dec_t dec_rescale(ctx_t *c, const dec_t *a, int e)
{
    int extra = a->exp - e;
    dec_t x = {ctx_alloc(c, (size_t)(a->n + extra + 1)), a->n + extra, e, a->neg};
    memcpy(x.d, a->d, (size_t)a->n);
    memset(x.d + a->n, 0, (size_t)extra);
    return x;
}

static int mag_cmp(const dec_t *a, const dec_t *b) /* same exponent */
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    return memcmp(a->d, b->d, (size_t)a->n);
}

static dec_t dec_add(ctx_t *c, dec_t a, dec_t b)
{
    if (a.n == 0)
        return b;
    if (b.n == 0)
        return a;
    int e = a.exp < b.exp ? a.exp : b.exp;
    a = dec_rescale(c, &a, e);
    b = dec_rescale(c, &b, e);
    int n = (a.n > b.n ? a.n : b.n) + 1;
    dec_t r = {ctx_alloc(c, (size_t)n), n, e, false};
    if (a.neg == b.neg) {
        int carry = 0;
        for (int i = 0; i < n; i++) {
            int da = i < a.n ? a.d[a.n - 1 - i] : 0, db = i < b.n ? b.d[b.n - 1 - i] : 0;
            int s = da + db + carry;
            r.d[n - 1 - i] = (unsigned char)(s % 10);
            carry = s / 10;
        }
        r.neg = a.neg;
    } else {
        if (mag_cmp(&a, &b) < 0) {
            dec_t t = a;
            a = b;
            b = t;
        }
        int borrow = 0;
        for (int i = 0; i < n; i++) {
            int da = i < a.n ? a.d[a.n - 1 - i] : 0, db = i < b.n ? b.d[b.n - 1 - i] : 0;
            int s = da - db - borrow;
            borrow = s < 0;
            r.d[n - 1 - i] = (unsigned char)(s < 0 ? s + 10 : s);
        }
        r.neg = a.neg;
    }
    dec_norm(&r);
    return r;
}

static dec_t dec_mul(ctx_t *c, dec_t a, dec_t b)
{
    int n = a.n + b.n;
    dec_t r = {ctx_alloc(c, (size_t)n + 1), n, a.exp + b.exp, a.neg != b.neg};
    int *acc = ctx_alloc(c, ((size_t)n + 1) * sizeof(int));
    memset(acc, 0, ((size_t)n + 1) * sizeof(int));
    for (int i = a.n - 1; i >= 0; i--)
        for (int j = b.n - 1; j >= 0; j--)
            acc[i + j + 1] += a.d[i] * b.d[j];
    for (int k = n - 1; k > 0; k--) {
        acc[k - 1] += acc[k] / 10;
        acc[k] %= 10;
    }
    for (int k = 0; k < n; k++)
        r.d[k] = (unsigned char)acc[k];
    dec_norm(&r);
    return r;
}

/* a / b rounded half away from zero to 16 decimal places (DivRound). */
static dec_t dec_div16(ctx_t *c, dec_t a, dec_t b)
{
    const int prec = 16;
    /* q = round(A * 10^(ea - eb + prec) / B) * 10^-prec */
    int shift = a.exp - b.exp + prec;
    dec_t num = a, den = b;
    num.neg = den.neg = false;
    num.exp = den.exp = 0;
    if (shift >= 0)
        num = (dec_t){num.d, num.n, shift, false}, num = dec_rescale(c, &num, 0);
    else
        den = (dec_t){den.d, den.n, -shift, false}, den = dec_rescale(c, &den, 0);
    /* Long division of integers num / den, base 10. */
    int qn = num.n;
    dec_t q = {ctx_alloc(c, (size_t)qn + 1), qn, -prec, a.neg != b.neg};
    dec_t rem = {ctx_alloc(c, (size_t)den.n + 2), 0, 0, false};
    for (int i = 0; i < num.n; i++) {
        rem.d[rem.n++] = num.d[i];
        dec_norm(&rem);
        int digit = 0;
        while (rem.n > 0 && mag_cmp(&rem, &den) >= 0) {
            int borrow = 0;
            for (int k = 0; k < rem.n; k++) {
                int dr = rem.d[rem.n - 1 - k], dd = k < den.n ? den.d[den.n - 1 - k] : 0;
                int s = dr - dd - borrow;
                borrow = s < 0;
                rem.d[rem.n - 1 - k] = (unsigned char)(s < 0 ? s + 10 : s);
            }
            dec_norm(&rem);
            digit++;
        }
        q.d[i] = (unsigned char)digit;
    }
    /* Round half away from zero: compare 2 * rem with den. */
    dec_t two = {(unsigned char[]){2}, 1, 0, false};
    dec_t r2 = dec_mul(c, rem, two);
    r2.exp = 0;
    if (r2.n > 0 && mag_cmp(&r2, &den) >= 0) {
        dec_t one = {(unsigned char[]){1}, 1, -prec, q.neg};
        dec_norm(&q);
        q = dec_add(c, q, one);
    }
    dec_norm(&q);
    return q;
}

static double dec_to_double(ctx_t *c, const dec_t *x)
{
    if (x->n == 0)
        return 0;
    char *s = ctx_alloc(c, (size_t)x->n + 32);
    int w = 0;
    if (x->neg)
        s[w++] = '-';
    for (int i = 0; i < x->n; i++)
        s[w++] = (char)('0' + x->d[i]);
    w += snprintf(s + w, 32, "e%d", x->exp);
    return strtod(s, NULL);
}

/* ---- Program ---- */

enum {
    A_FIELD = 1, /* .a.b on dot */
    A_VAR,       /* $x or $x.a.b (and $, $.a) */
    A_DOT,
    A_STRING,
    A_NUMBER,
    A_BOOL,
    A_NIL,
    A_IDENT, /* function */
    A_PIPE,  /* ( pipeline ) */
};

typedef struct func func_t;
typedef struct pipe pipe_t;

typedef struct arg {
    uint8_t kind;
    bool b;                  /* A_BOOL */
    bool is_int, is_float;   /* A_NUMBER: representable as */
    bool float_text;         /* A_NUMBER: the ideal constant is a float */
    int64_t i;               /* A_NUMBER */
    double f;                /* A_NUMBER */
    sx_str_t text;           /* source text, for messages */
    sx_str_t str;            /* A_STRING: unquoted; A_VAR: the name */
    sx_str_t *idents;        /* A_FIELD / A_VAR: field chain */
    uint32_t nidents;
    const func_t *fn;        /* A_IDENT */
    pipe_t *pipe;            /* A_PIPE */
    pcre2_code *re;          /* a constant regex, compiled once */
    char *re_err;            /* its compile error */
    uint32_t pos;
} arg_t;

typedef struct cmd {
    arg_t *args;
    uint32_t nargs;
    uint32_t pos;
    sx_str_t text;
} cmd_t;

struct pipe {
    cmd_t *cmds;
    uint32_t ncmds;
    sx_str_t var; /* declared or assigned variable, if any */
    bool decl, assign;
    uint32_t pos;
    sx_str_t text;
};

enum { N_TEXT = 1, N_ACTION, N_IF, N_WITH };

typedef struct node {
    uint8_t kind;
    sx_str_t text; /* N_TEXT */
    pipe_t *pipe;
    struct node *list, *else_list;
    struct node *next;
    uint32_t pos;
} node_t;

struct sx_lq_tmpl {
    node_t *root;
    const char *name;
    sx_str_t src;
    pcre2_code **regexes; /* to free */
    size_t nregexes, capregexes;
    sx_str_t *fields; /* referenced field names */
    size_t nfields, capfields;
};

/* ---- Lexer ---- */

enum {
    T_EOF = 0, T_ERROR, T_TEXT, T_LDELIM, T_RDELIM, T_SPACE, T_FIELD, T_VAR, T_DOT, T_STRING,
    T_RAWSTRING, T_CHAR, T_NUMBER, T_IDENT, T_BOOL, T_NIL, T_PIPE, T_LPAREN, T_RPAREN, T_DECLARE,
    T_ASSIGN, T_CHARTOK, T_COMMENT,
    /* keywords */
    T_IF, T_ELSE, T_END, T_RANGE, T_WITH, T_DEFINE, T_TEMPLATE, T_BLOCK, T_BREAK, T_CONTINUE,
};

typedef struct tok {
    int type;
    sx_str_t val;
    uint32_t pos;
} tok_t;

typedef struct lexer {
    const char *s;
    size_t n, pos;
    bool in_action;
    int paren;
    bool trim_next_text; /* a right trim marker ended the last action */
    tok_t peeked[3];
    int npeek;
    char err[160];
} lexer_t;

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alnum_ch(unsigned char c)
{
    return c == '_' || isalnum(c) || c >= 0x80;
}

/* At a right delimiter, possibly with the trim marker " -}}"? */
static bool at_right_trim(const lexer_t *l, size_t p)
{
    return p + 4 <= l->n && is_space(l->s[p]) && l->s[p + 1] == '-' && l->s[p + 2] == '}' &&
           l->s[p + 3] == '}';
}

static tok_t mk(int type, const lexer_t *l, size_t b, size_t e)
{
    return (tok_t){type, {l->s + b, e - b}, (uint32_t)b};
}

static tok_t lex_err(lexer_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static tok_t lex_err(lexer_t *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, sizeof(l->err), fmt, ap);
    va_end(ap);
    return (tok_t){T_ERROR, SX_STR_NULL, (uint32_t)l->pos};
}

static bool at_terminator(const lexer_t *l, size_t p)
{
    if (p >= l->n)
        return true;
    char c = l->s[p];
    if (is_space(c) || c == '.' || c == ',' || c == '|' || c == ':' || c == ')' || c == '(')
        return true;
    return p + 2 <= l->n && c == '}' && l->s[p + 1] == '}';
}

static const struct {
    const char *w;
    int t;
} keywords[] = {
    {"if", T_IF}, {"else", T_ELSE}, {"end", T_END}, {"range", T_RANGE}, {"with", T_WITH},
    {"define", T_DEFINE}, {"template", T_TEMPLATE}, {"block", T_BLOCK}, {"break", T_BREAK},
    {"continue", T_CONTINUE}, {"nil", T_NIL}, {"true", T_BOOL}, {"false", T_BOOL},
};

static tok_t lex_number(lexer_t *l)
{
    size_t b = l->pos, p = l->pos;
    if (p < l->n && (l->s[p] == '+' || l->s[p] == '-'))
        p++;
    const char *digits = "0123456789_";
    if (p + 1 < l->n && l->s[p] == '0' && strchr("xXoObB", l->s[p + 1]) && l->s[p + 1]) {
        char c = (char)tolower((unsigned char)l->s[p + 1]);
        p += 2;
        digits = c == 'x' ? "0123456789abcdefABCDEF_" : c == 'o' ? "01234567_" : "01_";
    }
    while (p < l->n && strchr(digits, l->s[p]) && l->s[p])
        p++;
    if (p < l->n && l->s[p] == '.') {
        p++;
        while (p < l->n && strchr(digits, l->s[p]) && l->s[p])
            p++;
    }
    if (digits[2] == '2' && strlen(digits) == 11 && p < l->n && (l->s[p] == 'e' || l->s[p] == 'E')) {
        p++;
        if (p < l->n && (l->s[p] == '+' || l->s[p] == '-'))
            p++;
        while (p < l->n && strchr("0123456789_", l->s[p]) && l->s[p])
            p++;
    } else if (strlen(digits) > 12 && p < l->n && (l->s[p] == 'p' || l->s[p] == 'P')) {
        p++;
        if (p < l->n && (l->s[p] == '+' || l->s[p] == '-'))
            p++;
        while (p < l->n && strchr("0123456789_", l->s[p]) && l->s[p])
            p++;
    }
    if (p < l->n && l->s[p] == 'i')
        p++;
    if (p < l->n && is_alnum_ch((unsigned char)l->s[p])) {
        l->pos = p + 1;
        return lex_err(l, "bad number syntax: \"%.*s\"", (int)(p + 1 - b), l->s + b);
    }
    l->pos = p;
    return mk(T_NUMBER, l, b, p);
}

/* The next token inside an action. */
static tok_t lex_action(lexer_t *l)
{
    if (l->pos >= l->n)
        return lex_err(l, "unclosed action");
    size_t b = l->pos;
    char c = l->s[b];
    if (c == '}' && b + 1 < l->n && l->s[b + 1] == '}') {
        if (l->paren > 0)
            return lex_err(l, "unclosed left paren");
        l->pos += 2;
        l->in_action = false;
        return mk(T_RDELIM, l, b, b + 2);
    }
    if (is_space(c)) {
        if (at_right_trim(l, b)) {
            if (l->paren > 0)
                return lex_err(l, "unclosed left paren");
            l->pos = b + 4;
            l->in_action = false;
            l->trim_next_text = true;
            return mk(T_RDELIM, l, b, b + 4);
        }
        size_t p = b;
        while (p < l->n && is_space(l->s[p]) && !at_right_trim(l, p))
            p++;
        l->pos = p;
        return mk(T_SPACE, l, b, p);
    }
    l->pos++;
    switch (c) {
    case '=':
        return mk(T_ASSIGN, l, b, l->pos);
    case ':':
        if (l->pos >= l->n || l->s[l->pos] != '=')
            return lex_err(l, "expected :=");
        l->pos++;
        return mk(T_DECLARE, l, b, l->pos);
    case '|':
        return mk(T_PIPE, l, b, l->pos);
    case '"': {
        size_t p = l->pos;
        for (;;) {
            if (p >= l->n || l->s[p] == '\n')
                return lex_err(l, "unterminated quoted string");
            if (l->s[p] == '\\') {
                p += 2;
                continue;
            }
            if (l->s[p] == '"')
                break;
            p++;
        }
        l->pos = p + 1;
        return mk(T_STRING, l, b, l->pos);
    }
    case '`': {
        const char *q = memchr(l->s + l->pos, '`', l->n - l->pos);
        if (!q)
            return lex_err(l, "unterminated raw quoted string");
        l->pos = (size_t)(q - l->s) + 1;
        return mk(T_RAWSTRING, l, b, l->pos);
    }
    case '\'': {
        size_t p = l->pos;
        for (;;) {
            if (p >= l->n || l->s[p] == '\n')
                return lex_err(l, "unterminated character constant");
            if (l->s[p] == '\\') {
                p += 2;
                continue;
            }
            if (l->s[p] == '\'')
                break;
            p++;
        }
        l->pos = p + 1;
        return mk(T_CHAR, l, b, l->pos);
    }
    case '$': {
        size_t p = l->pos;
        while (p < l->n && is_alnum_ch((unsigned char)l->s[p]))
            p++;
        l->pos = p;
        if (!at_terminator(l, p))
            return lex_err(l, "bad character %c", l->s[p]);
        return mk(T_VAR, l, b, p);
    }
    case '.':
        if (l->pos < l->n && !(l->s[l->pos] >= '0' && l->s[l->pos] <= '9')) {
            size_t p = l->pos;
            while (p < l->n && is_alnum_ch((unsigned char)l->s[p]))
                p++;
            l->pos = p;
            if (!at_terminator(l, p))
                return lex_err(l, "bad character %c", l->s[p]);
            return mk(p == b + 1 ? T_DOT : T_FIELD, l, b, p);
        }
        if (l->pos >= l->n)
            return mk(T_DOT, l, b, l->pos);
        l->pos = b;
        return lex_number(l);
    case '(':
        l->paren++;
        return mk(T_LPAREN, l, b, l->pos);
    case ')':
        if (--l->paren < 0)
            return lex_err(l, "unexpected right paren");
        return mk(T_RPAREN, l, b, l->pos);
    default:
        break;
    }
    if (c == '+' || c == '-' || (c >= '0' && c <= '9')) {
        l->pos = b;
        return lex_number(l);
    }
    if (is_alnum_ch((unsigned char)c)) {
        size_t p = l->pos;
        while (p < l->n && is_alnum_ch((unsigned char)l->s[p]))
            p++;
        l->pos = p;
        if (!at_terminator(l, p))
            return lex_err(l, "bad character %c", l->s[p]);
        for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
            if (strlen(keywords[k].w) == p - b && !memcmp(keywords[k].w, l->s + b, p - b))
                return mk(keywords[k].t, l, b, p);
        return mk(T_IDENT, l, b, p);
    }
    if ((unsigned char)c < 0x80 && isprint((unsigned char)c))
        return mk(T_CHARTOK, l, b, l->pos);
    return lex_err(l, "unrecognized character in action: U+%04X", (unsigned char)c);
}

/* The next token: text, or an action's delimiters and insides. */
static tok_t lex_next(lexer_t *l)
{
    if (l->npeek)
        return l->peeked[--l->npeek];
    if (l->in_action)
        return lex_action(l);
    if (l->pos >= l->n)
        return mk(T_EOF, l, l->n, l->n);
    size_t b = l->pos;
    if (l->trim_next_text) {
        l->trim_next_text = false;
        while (b < l->n && is_space(l->s[b]))
            b++;
        l->pos = b;
        if (b >= l->n)
            return mk(T_EOF, l, l->n, l->n);
    }
    const char *d = NULL;
    for (size_t p = b; p + 1 < l->n; p++)
        if (l->s[p] == '{' && l->s[p + 1] == '{') {
            d = l->s + p;
            break;
        }
    if (d != l->s + b) {
        size_t e = d ? (size_t)(d - l->s) : l->n;
        size_t te = e;
        /* A left trim marker trims the text before it. */
        if (d && e + 3 < l->n + 1 && e + 2 < l->n && l->s[e + 2] == '-' && e + 3 < l->n &&
            is_space(l->s[e + 3]))
            while (te > b && is_space(l->s[te - 1]))
                te--;
        l->pos = e;
        if (te > b)
            return mk(T_TEXT, l, b, te);
        if (!d)
            return mk(T_EOF, l, l->n, l->n);
    }
    /* At "{{". */
    size_t p = b + 2;
    if (p + 1 < l->n && l->s[p] == '-' && is_space(l->s[p + 1])) {
        p += 2;
        while (p < l->n && is_space(l->s[p]))
            p++;
    }
    if (p + 1 < l->n && l->s[p] == '/' && l->s[p + 1] == '*') {
        const char *end = NULL;
        for (size_t q = p + 2; q + 1 < l->n; q++)
            if (l->s[q] == '*' && l->s[q + 1] == '/') {
                end = l->s + q;
                break;
            }
        if (!end) {
            l->pos = l->n;
            return lex_err(l, "unclosed comment");
        }
        size_t q = (size_t)(end - l->s) + 2;
        if (at_right_trim(l, q)) {
            l->pos = q + 4;
            l->trim_next_text = true;
        } else if (q + 1 < l->n && l->s[q] == '}' && l->s[q + 1] == '}') {
            l->pos = q + 2;
        } else {
            l->pos = q;
            return lex_err(l, "comment ends before closing delimiter");
        }
        return mk(T_COMMENT, l, b, l->pos);
    }
    l->pos = p;
    l->in_action = true;
    l->paren = 0;
    return mk(T_LDELIM, l, b, p);
}

static void lex_backup(lexer_t *l, tok_t t)
{
    SX_ASSERT(l->npeek < 3);
    l->peeked[l->npeek++] = t;
}

/* ---- Parser ---- */

typedef struct parser {
    lexer_t lx;
    sx_arena_t *a;
    sx_err_t *err;
    sx_lq_tmpl_t *t;
    bool failed;
    sx_str_t vars[64]; /* declared variables in scope */
    int nvars;
    int depth;
} parser_t;

static void perr(parser_t *p, uint32_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void perr(parser_t *p, uint32_t pos, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    int line = 1;
    for (uint32_t i = 0; i < pos && i < p->lx.n; i++)
        line += p->lx.s[i] == '\n';
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sx_err_set(p->err, SX_EPARSE, "template: %s:%d: %s", p->t->name, line, msg);
}

static tok_t next_tok(parser_t *p)
{
    tok_t t = lex_next(&p->lx);
    if (t.type == T_ERROR)
        perr(p, t.pos, "%s", p->lx.err);
    return t;
}

static tok_t next_nonspace(parser_t *p)
{
    tok_t t;
    do
        t = next_tok(p);
    while (t.type == T_SPACE);
    return t;
}

static tok_t peek_nonspace(parser_t *p)
{
    tok_t t = next_nonspace(p);
    lex_backup(&p->lx, t);
    return t;
}

static void *palloc(parser_t *p, size_t n)
{
    void *m = sx_arena_calloc(p->a, 1, n);
    if (!m) {
        perr(p, 0, "out of memory");
        static char dummy[256];
        return dummy;
    }
    return m;
}

static const char *tok_desc(const tok_t *t, char *buf, size_t cap)
{
    switch (t->type) {
    case T_EOF: return "EOF";
    case T_RDELIM: return "}}";
    default:
        snprintf(buf, cap, "\"%.*s\"", (int)(t->val.len > 40 ? 40 : t->val.len), t->val.ptr);
        return buf;
    }
}

static void unexpected(parser_t *p, const tok_t *t, const char *context)
{
    char b[64];
    if (t->type == T_ERROR)
        return;
    if (t->type == T_EOF) {
        perr(p, t->pos, "unexpected EOF");
        return;
    }
    perr(p, t->pos, "unexpected %s in %s", tok_desc(t, b, sizeof(b)), context);
}

/* Go's strconv.Unquote for "..." and '...' (the quotes included). */
static bool go_unquote(sx_arena_t *a, sx_str_t q, sx_str_t *out, uint32_t *rune)
{
    const char *s = q.ptr + 1;
    size_t n = q.len - 2;
    char *o = sx_arena_alloc(a, n * 3 + 1);
    if (!o)
        return false;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            o[w++] = s[i++];
            continue;
        }
        if (i + 1 >= n)
            return false;
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case 'a': o[w++] = '\a'; break;
        case 'b': o[w++] = '\b'; break;
        case 'f': o[w++] = '\f'; break;
        case 'n': o[w++] = '\n'; break;
        case 'r': o[w++] = '\r'; break;
        case 't': o[w++] = '\t'; break;
        case 'v': o[w++] = '\v'; break;
        case '\\': o[w++] = '\\'; break;
        case '"':
            if (q.ptr[0] != '"')
                return false;
            o[w++] = '"';
            break;
        case '\'':
            if (q.ptr[0] != '\'')
                return false;
            o[w++] = '\'';
            break;
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
            if (i + 2 > n)
                return false;
            int v = e - '0';
            for (int k = 0; k < 2; k++) {
                char d = s[i + (size_t)k];
                if (d < '0' || d > '7')
                    return false;
                v = v * 8 + (d - '0');
            }
            if (v > 255)
                return false;
            i += 2;
            o[w++] = (char)v;
            break;
        }
        case 'x': case 'u': case 'U': {
            int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            if (i + (size_t)nd > n)
                return false;
            uint32_t v = 0;
            for (int k = 0; k < nd; k++) {
                char d = s[i + (size_t)k];
                int h = isdigit((unsigned char)d) ? d - '0'
                        : (d >= 'a' && d <= 'f') ? d - 'a' + 10
                        : (d >= 'A' && d <= 'F') ? d - 'A' + 10 : -1;
                if (h < 0)
                    return false;
                v = v * 16 + (uint32_t)h;
            }
            i += (size_t)nd;
            if (e == 'x') {
                o[w++] = (char)v;
            } else {
                if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
                    return false;
                w += sx_utf8_encode(o + w, v);
            }
            break;
        }
        default:
            return false;
        }
    }
    o[w] = '\0';
    *out = (sx_str_t){o, w};
    if (rune) {
        /* A char constant is exactly one rune. */
        uint32_t r;
        size_t k = sx_lq_utf8_decode(o, w, &r);
        if (w == 0 || k != w)
            return false;
        *rune = r;
    }
    return true;
}

/* Go's parse.NumberNode: which of int and float the text denotes. */
static bool parse_number(parser_t *p, const tok_t *t, arg_t *a)
{
    sx_str_t s = t->val;
    char buf[128];
    if (t->type == T_CHAR) {
        sx_str_t u;
        uint32_t r;
        if (!go_unquote(p->a, s, &u, &r)) {
            perr(p, t->pos, "malformed character constant: %.*s", (int)s.len, s.ptr);
            return false;
        }
        a->is_int = a->is_float = true;
        a->i = r;
        a->f = r;
        return true;
    }
    if (s.len >= sizeof(buf) || (s.len && s.ptr[s.len - 1] == 'i')) {
        perr(p, t->pos, "illegal number syntax: \"%.*s\"", (int)s.len, s.ptr);
        return false;
    }
    size_t w = 0;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != '_')
            buf[w++] = s.ptr[i];
    buf[w] = '\0';
    bool hex = w > 2 && (buf[0] == '0' || ((buf[0] == '+' || buf[0] == '-') && buf[1] == '0')) &&
               strpbrk(buf, "xX");
    bool hex_int = hex && !strpbrk(buf, "pP");
    /* Integer forms: Go's ParseInt(text, 0, 64), with 0o/0b and legacy
     * octal. */
    {
        const char *q = buf;
        bool neg = false;
        if (*q == '+' || *q == '-')
            neg = *q++ == '-';
        int base = 10;
        if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X'))
            base = 16, q += 2;
        else if (q[0] == '0' && (q[1] == 'o' || q[1] == 'O'))
            base = 8, q += 2;
        else if (q[0] == '0' && (q[1] == 'b' || q[1] == 'B'))
            base = 2, q += 2;
        else if (q[0] == '0' && q[1])
            base = 8, q += 1;
        char *end;
        if (*q && isalnum((unsigned char)*q)) {
            errno = 0;
            unsigned long long u = strtoull(q, &end, base);
            if (*end == '\0' && errno == 0 && u <= (neg ? (unsigned long long)INT64_MAX + 1 : INT64_MAX)) {
                a->is_int = true;
                a->i = neg ? (int64_t)(0 - u) : (int64_t)u;
            }
        }
    }
    double f;
    if (sx_lq_parse_float((sx_str_t){s.ptr, s.len}, &f, NULL) == 0 ||
        (a->is_int && (f = (double)a->i, true))) {
        if (!a->is_int && !strpbrk(buf, ".eEpP")) {
            perr(p, t->pos, "integer overflow: \"%.*s\"", (int)s.len, s.ptr);
            return false;
        }
        a->is_float = true;
        a->f = f;
        if (!a->is_int && fabs(f) < 9.2e18 && f == (double)(int64_t)f) {
            a->is_int = true;
            a->i = (int64_t)f;
        }
    }
    if (!a->is_int && !a->is_float) {
        perr(p, t->pos, "illegal number syntax: \"%.*s\"", (int)s.len, s.ptr);
        return false;
    }
    /* idealConstant: a float if written like one. */
    a->float_text = a->is_float && !hex_int && strpbrk(buf, ".eEpP") != NULL;
    return true;
}

static const func_t *find_func(sx_str_t name);
static pipe_t *parse_pipeline(parser_t *p, const char *context, int end);

static void note_field(parser_t *p, sx_str_t name)
{
    sx_lq_tmpl_t *t = p->t;
    for (size_t i = 0; i < t->nfields; i++)
        if (sx_str_eq(t->fields[i], name))
            return;
    if (t->nfields == t->capfields) {
        size_t cap = t->capfields ? t->capfields * 2 : 8;
        sx_str_t *nf = palloc(p, cap * sizeof(*nf));
        if (t->nfields)
            memcpy(nf, t->fields, t->nfields * sizeof(*nf));
        t->fields = nf;
        t->capfields = cap;
    }
    t->fields[t->nfields++] = name;
}

/* Split ".a.b" / "$x.a.b" into the chain after the head. */
static void split_chain(parser_t *p, arg_t *a, sx_str_t s, size_t start)
{
    size_t cnt = 0;
    for (size_t i = start; i < s.len; i++)
        cnt += s.ptr[i] == '.';
    a->idents = palloc(p, (cnt + 1) * sizeof(sx_str_t));
    a->nidents = 0;
    size_t i = start;
    while (i < s.len) {
        /* at '.' */
        size_t b = ++i;
        while (i < s.len && s.ptr[i] != '.')
            i++;
        a->idents[a->nidents++] = (sx_str_t){s.ptr + b, i - b};
    }
}

static bool var_known(parser_t *p, sx_str_t name)
{
    if (sx_str_eq(name, SX_STR_LIT("$")))
        return true;
    for (int i = p->nvars - 1; i >= 0; i--)
        if (sx_str_eq(p->vars[i], name))
            return true;
    return false;
}

/* term: one operand, or NULL (token pushed back). */
static arg_t *parse_term(parser_t *p)
{
    tok_t t = next_nonspace(p);
    if (p->failed)
        return NULL;
    arg_t *a = palloc(p, sizeof(*a));
    a->pos = t.pos;
    a->text = t.val;
    switch (t.type) {
    case T_IDENT:
        a->kind = A_IDENT;
        a->fn = find_func(t.val);
        if (!a->fn) {
            perr(p, t.pos, "function \"%.*s\" not defined", (int)t.val.len, t.val.ptr);
            return NULL;
        }
        return a;
    case T_DOT:
        a->kind = A_DOT;
        return a;
    case T_NIL:
        a->kind = A_NIL;
        return a;
    case T_VAR:
        if (!var_known(p, t.val)) {
            perr(p, t.pos, "undefined variable \"%.*s\"", (int)t.val.len, t.val.ptr);
            return NULL;
        }
        a->kind = A_VAR;
        a->str = t.val;
        return a;
    case T_FIELD:
        a->kind = A_FIELD;
        split_chain(p, a, t.val, 0);
        note_field(p, a->idents[0]);
        return a;
    case T_BOOL:
        a->kind = A_BOOL;
        a->b = t.val.ptr[0] == 't';
        return a;
    case T_CHAR: case T_NUMBER:
        a->kind = A_NUMBER;
        if (!parse_number(p, &t, a))
            return NULL;
        return a;
    case T_LPAREN:
        if (++p->depth > MAX_NEST) {
            perr(p, t.pos, "expression nested too deeply");
            return NULL;
        }
        a->kind = A_PIPE;
        a->pipe = parse_pipeline(p, "parenthesized pipeline", T_RPAREN);
        p->depth--;
        return p->failed ? NULL : a;
    case T_STRING: case T_RAWSTRING:
        a->kind = A_STRING;
        if (t.type == T_RAWSTRING) {
            a->str = (sx_str_t){t.val.ptr + 1, t.val.len - 2};
        } else if (!go_unquote(p->a, t.val, &a->str, NULL)) {
            perr(p, t.pos, "invalid syntax");
            return NULL;
        }
        return a;
    default:
        lex_backup(&p->lx, t);
        return NULL;
    }
}

/* operand: a term followed by .field chains. */
static arg_t *parse_operand(parser_t *p)
{
    arg_t *a = parse_term(p);
    if (!a)
        return NULL;
    tok_t t = next_tok(p);
    if (t.type != T_FIELD) {
        lex_backup(&p->lx, t);
        return a;
    }
    /* Gather the chain. */
    size_t extra = 0;
    tok_t fields[64];
    while (t.type == T_FIELD && extra < 64) {
        fields[extra++] = t;
        t = next_tok(p);
    }
    lex_backup(&p->lx, t);
    if (a->kind == A_FIELD || a->kind == A_VAR) {
        sx_str_t *ids = palloc(p, (a->nidents + extra) * sizeof(sx_str_t));
        if (a->nidents)
            memcpy(ids, a->idents, a->nidents * sizeof(sx_str_t));
        for (size_t k = 0; k < extra; k++)
            ids[a->nidents + k] = (sx_str_t){fields[k].val.ptr + 1, fields[k].val.len - 1};
        a->idents = ids;
        a->nidents += (uint32_t)extra;
        const tok_t *last = &fields[extra - 1];
        a->text.len = (size_t)(last->val.ptr + last->val.len - a->text.ptr);
        a->pos = fields[0].pos; /* Go reports a chain at its second link */
        return a;
    }
    if (a->kind == A_BOOL || a->kind == A_STRING || a->kind == A_NUMBER || a->kind == A_NIL ||
        a->kind == A_DOT) {
        perr(p, fields[0].pos, "unexpected . after term \"%.*s\"", (int)a->text.len, a->text.ptr);
        return NULL;
    }
    perr(p, fields[0].pos, "field chains on function results are not supported");
    return NULL;
}

static cmd_t *parse_command(parser_t *p)
{
    cmd_t *c = palloc(p, sizeof(*c));
    arg_t *args[64];
    uint32_t n = 0;
    tok_t first = peek_nonspace(p);
    c->pos = first.pos;
    for (;;) {
        peek_nonspace(p);
        if (p->failed)
            return NULL;
        arg_t *a = parse_operand(p);
        if (p->failed)
            return NULL;
        if (a) {
            if (n == 64) {
                perr(p, a->pos, "too many arguments");
                return NULL;
            }
            args[n++] = a;
        }
        tok_t t = next_tok(p);
        if (p->failed)
            return NULL;
        if (t.type == T_SPACE)
            continue;
        if (t.type == T_RDELIM || t.type == T_RPAREN) {
            lex_backup(&p->lx, t);
        } else if (t.type != T_PIPE) {
            unexpected(p, &t, "operand");
            return NULL;
        }
        c->text = (sx_str_t){p->lx.s + c->pos, t.pos > c->pos ? t.pos - c->pos : 0};
        break;
    }
    if (n == 0) {
        perr(p, c->pos, "empty command");
        return NULL;
    }
    c->args = palloc(p, n * sizeof(arg_t));
    for (uint32_t i = 0; i < n; i++)
        c->args[i] = *args[i];
    c->nargs = n;
    while (c->text.len && is_space(c->text.ptr[c->text.len - 1]))
        c->text.len--;
    return c;
}

static pipe_t *parse_pipeline(parser_t *p, const char *context, int end)
{
    pipe_t *pp = palloc(p, sizeof(*pp));
    tok_t v = peek_nonspace(p);
    pp->pos = v.pos;
    if (v.type == T_VAR) {
        tok_t vt = next_nonspace(p);
        tok_t after = next_tok(p);
        tok_t nx = after;
        tok_t sp = {T_EOF, SX_STR_NULL, 0};
        if (nx.type == T_SPACE) {
            sp = nx;
            nx = next_nonspace(p);
        }
        if (nx.type == T_DECLARE || nx.type == T_ASSIGN) {
            pp->var = vt.val;
            pp->decl = nx.type == T_DECLARE;
            pp->assign = nx.type == T_ASSIGN;
            if (pp->assign && !var_known(p, vt.val)) {
                perr(p, vt.pos, "undefined variable \"%.*s\"", (int)vt.val.len, vt.val.ptr);
                return NULL;
            }
        } else {
            lex_backup(&p->lx, nx);
            if (sp.type == T_SPACE)
                lex_backup(&p->lx, sp);
            lex_backup(&p->lx, vt);
        }
    }
    cmd_t *cmds[64];
    uint32_t n = 0;
    for (;;) {
        tok_t t = next_nonspace(p);
        if (p->failed)
            return NULL;
        if (t.type == end) {
            if (n == 0) {
                perr(p, t.pos, "missing value for %s", context);
                return NULL;
            }
            for (uint32_t i = 1; i < n; i++) {
                int k = cmds[i]->args[0].kind;
                if (k == A_BOOL || k == A_DOT || k == A_NIL || k == A_NUMBER || k == A_STRING) {
                    perr(p, t.pos, "non executable command in pipeline stage %u", i + 1);
                    return NULL;
                }
            }
            pp->text = (sx_str_t){p->lx.s + pp->pos, t.pos > pp->pos ? t.pos - pp->pos : 0};
            while (pp->text.len && is_space(pp->text.ptr[pp->text.len - 1]))
                pp->text.len--;
            break;
        }
        switch (t.type) {
        case T_BOOL: case T_CHAR: case T_DOT: case T_FIELD: case T_IDENT: case T_NUMBER: case T_NIL:
        case T_RAWSTRING: case T_STRING: case T_VAR: case T_LPAREN:
            lex_backup(&p->lx, t);
            if (n == 64) {
                perr(p, t.pos, "pipeline too long");
                return NULL;
            }
            cmds[n] = parse_command(p);
            if (!cmds[n])
                return NULL;
            n++;
            break;
        default:
            unexpected(p, &t, context);
            return NULL;
        }
    }
    pp->cmds = palloc(p, n * sizeof(cmd_t));
    for (uint32_t i = 0; i < n; i++)
        pp->cmds[i] = *cmds[i];
    pp->ncmds = n;
    if (pp->decl) {
        if (p->nvars == (int)(sizeof(p->vars) / sizeof(p->vars[0]))) {
            perr(p, pp->pos, "too many variables");
            return NULL;
        }
        p->vars[p->nvars++] = pp->var;
    }
    return pp;
}

/* itemList: nodes until {{end}}, {{else}} or EOF; *stop gets the token
 * that ended it (T_END / T_ELSE / T_EOF). */
static node_t *parse_list(parser_t *p, int *stop, tok_t *stoptok);

static node_t *parse_control(parser_t *p, int kind, const char *context, uint32_t pos)
{
    if (++p->depth > MAX_NEST) {
        perr(p, pos, "blocks nested too deeply");
        return NULL;
    }
    int save_vars = p->nvars;
    node_t *nd = palloc(p, sizeof(*nd));
    nd->kind = (uint8_t)kind;
    nd->pos = pos;
    nd->pipe = parse_pipeline(p, context, T_RDELIM);
    if (p->failed)
        return NULL;
    int stop;
    tok_t st;
    nd->list = parse_list(p, &stop, &st);
    if (p->failed)
        return NULL;
    if (stop == T_ELSE) {
        /* {{else if ...}} / {{else with ...}} chain a nested block that
         * shares our {{end}}. */
        tok_t t = peek_nonspace(p);
        if ((kind == N_IF && t.type == T_IF) || (kind == N_WITH && t.type == T_WITH)) {
            next_nonspace(p);
            nd->else_list = parse_control(p, kind, context, t.pos);
            if (p->failed)
                return NULL;
            p->nvars = save_vars;
            p->depth--;
            return nd;
        }
        tok_t r = next_nonspace(p);
        if (r.type != T_RDELIM) {
            unexpected(p, &r, "else");
            return NULL;
        }
        nd->else_list = parse_list(p, &stop, &st);
        if (p->failed)
            return NULL;
        if (stop != T_END) {
            if (stop == T_ELSE)
                perr(p, st.pos, "expected end; found {{else}}");
            else
                perr(p, st.pos, "unexpected EOF");
            return NULL;
        }
    } else if (stop != T_END) {
        perr(p, st.pos, "unexpected EOF");
        return NULL;
    }
    p->nvars = save_vars;
    p->depth--;
    return nd;
}

static node_t *parse_action(parser_t *p, int *stop, tok_t *stoptok)
{
    tok_t t = peek_nonspace(p);
    if (p->failed)
        return NULL;
    switch (t.type) {
    case T_ELSE:
        next_nonspace(p);
        *stop = T_ELSE;
        *stoptok = t;
        return NULL;
    case T_END: {
        next_nonspace(p);
        tok_t r = next_nonspace(p);
        if (r.type != T_RDELIM) {
            unexpected(p, &r, "end");
            return NULL;
        }
        *stop = T_END;
        *stoptok = t;
        return NULL;
    }
    case T_IF:
        next_nonspace(p);
        return parse_control(p, N_IF, "if", t.pos);
    case T_WITH:
        next_nonspace(p);
        return parse_control(p, N_WITH, "with", t.pos);
    case T_RANGE: case T_DEFINE: case T_TEMPLATE: case T_BLOCK: case T_BREAK: case T_CONTINUE:
        perr(p, t.pos, "{{%.*s}} is not supported in LogQL templates", (int)t.val.len, t.val.ptr);
        return NULL;
    default: {
        node_t *nd = palloc(p, sizeof(*nd));
        nd->kind = N_ACTION;
        nd->pos = t.pos;
        nd->pipe = parse_pipeline(p, "command", T_RDELIM);
        return p->failed ? NULL : nd;
    }
    }
}

static node_t *parse_list(parser_t *p, int *stop, tok_t *stoptok)
{
    node_t *head = NULL, **tail = &head;
    *stop = T_EOF;
    for (;;) {
        tok_t t = next_tok(p);
        if (p->failed)
            return NULL;
        if (t.type == T_EOF) {
            *stoptok = t;
            return head;
        }
        if (t.type == T_COMMENT)
            continue;
        node_t *nd = NULL;
        if (t.type == T_TEXT) {
            nd = palloc(p, sizeof(*nd));
            nd->kind = N_TEXT;
            nd->text = t.val;
            nd->pos = t.pos;
        } else if (t.type == T_LDELIM) {
            int st = 0;
            nd = parse_action(p, &st, stoptok);
            if (p->failed)
                return NULL;
            if (st) {
                *stop = st;
                return head;
            }
        } else {
            unexpected(p, &t, "input");
            return NULL;
        }
        if (nd) {
            *tail = nd;
            tail = &nd->next;
        }
    }
}

/* ---- Evaluation context ---- */

typedef struct var {
    sx_str_t name;
    val_t v;
} var_t;

struct ctx {
    const sx_lq_tmpl_t *t;
    sx_lq_labels_t *lb;
    sx_str_t line;
    int64_t ts;
    sx_buf_t *out;
    sx_buf_t *errmsg;
    var_t *vars;
    size_t nvars, capvars;
    bool failed;
    uint32_t at_pos;   /* node being evaluated, for messages */
    sx_str_t at_text;
    const char *fname; /* function being called */
    size_t used;       /* bytes allocated so far (Go has no limit; we do) */
};

static int fail(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Per-line arena memory. Every allocation is bounded by MAX_RESULT by the
 * functions' own checks; the sum is bounded here (the execution fails). */
static void *ctx_alloc(ctx_t *c, size_t n)
{
    c->used += n;
    if (c->used > MAX_EXEC)
        fail(c, "template execution exceeds %u MiB", MAX_EXEC >> 20);
    return sx_lq_labels_alloc(c->lb, n ? n : 1);
}

static sx_str_t ctx_str(ctx_t *c, const char *p, size_t n)
{
    return sx_lq_labels_strdup(c->lb, p, n);
}

/* Move a heap buffer's contents to the arena as a string value. */
static sx_str_t sb_take(ctx_t *c, sbuf_t *b)
{
    sx_str_t s = ctx_str(c, b->b.ptr ? b->b.ptr : "", b->b.len);
    sx_buf_dispose(&b->b);
    return s;
}

/* Record an execution error (the first one wins) in Go's format. */
static int fail(ctx_t *c, const char *fmt, ...)
{
    if (c->failed)
        return -1;
    c->failed = true;
    if (!c->errmsg)
        return -1;
    const char *src = c->t->src.ptr;
    uint32_t pos = c->at_pos;
    int line = 1;
    uint32_t col0 = 0;
    for (uint32_t i = 0; i < pos && i < c->t->src.len; i++)
        if (src[i] == '\n') {
            line++;
            col0 = i + 1;
        }
    sx_str_t at = c->at_text;
    bool cut = false;
    if (at.len > 20) {
        at.len = 20;
        cut = true;
    }
    sx_buf_printf(c->errmsg, "template: %s:%d:%u: executing \"%s\" at <%.*s%s>: ", c->t->name, line,
                  pos - col0, c->t->name, (int)at.len, at.ptr ? at.ptr : "", cut ? "..." : "");
    va_list ap;
    va_start(ap, fmt);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sx_buf_puts(c->errmsg, msg);
    return -1;
}

/* "error calling NAME: msg" from inside a function. */
static int call_err(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int call_err(ctx_t *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return fail(c, "error calling %s: %s", c->fname, msg);
}

static void at(ctx_t *c, uint32_t pos, sx_str_t text)
{
    c->at_pos = pos;
    c->at_text = text;
}

/* ---- Printing values (fmt's %v) ---- */

static void fmt_v(ctx_t *c, sbuf_t *o, const val_t *v, bool top);

static void fmt_v(ctx_t *c, sbuf_t *o, const val_t *v, bool top)
{
    switch (v->k) {
    case V_INVALID:
        sb_puts(o, top ? "<no value>" : "<nil>");
        break;
    case V_STRING:
        sb_put(o, v->s.ptr, v->s.len);
        break;
    case V_INT: case V_INT64: case V_UINT8:
        put_int(o, v->i, 0, '0');
        break;
    case V_FLOAT:
        fmt_float_v(o, v->f);
        break;
    case V_BOOL:
        sb_puts(o, v->b ? "true" : "false");
        break;
    case V_TIME:
        time_string(o, &v->t);
        break;
    case V_MAP:
        sb_puts(o, "map[");
        for (uint32_t i = 0; i < c->lb->n; i++) {
            if (i)
                sb_putc(o, ' ');
            sb_put(o, c->lb->v[i].name.ptr, c->lb->v[i].name.len);
            sb_putc(o, ':');
            sb_put(o, c->lb->v[i].value.ptr, c->lb->v[i].value.len);
        }
        sb_putc(o, ']');
        break;
    }
}

static bool truth(ctx_t *c, const val_t *v)
{
    switch (v->k) {
    case V_STRING: return v->s.len > 0;
    case V_INT: case V_INT64: case V_UINT8: return v->i != 0;
    case V_FLOAT: return v->f != 0;
    case V_BOOL: return v->b;
    case V_TIME: return true;
    case V_MAP: return c->lb->n > 0;
    default: return false;
    }
}

/* ---- Functions ---- */

typedef int (*impl_t)(ctx_t *c, val_t *a, int n, val_t *out);

struct func {
    const char *name;
    const char *params; /* S string, I int, F float64, T time.Time, A any */
    bool variadic;      /* the last param repeats */
    impl_t impl;
    uint8_t special;    /* 1 and, 2 or */
};

/* cast.ToInt64 as sprig uses it (errors become 0). */
static int64_t go_parse_int0(sx_str_t s, bool *ok);

static int64_t to_int64(const val_t *v)
{
    switch (v->k) {
    case V_INT: case V_INT64: case V_UINT8: return v->i;
    case V_FLOAT:
        if (isnan(v->f) || v->f >= 9223372036854775808.0 || v->f < -9223372036854775808.0)
            return INT64_MIN;
        return (int64_t)v->f;
    case V_BOOL: return v->b ? 1 : 0;
    case V_STRING: {
        /* trimZeroDecimal: "3.00" -> "3" */
        sx_str_t s = v->s;
        bool zero = false;
        for (size_t i = s.len; i > 0; i--) {
            char ch = s.ptr[i - 1];
            if (ch == '.') {
                if (zero)
                    s.len = i - 1;
                break;
            }
            if (ch == '0') {
                zero = true;
                continue;
            }
            break;
        }
        bool ok;
        int64_t r = go_parse_int0(s, &ok);
        return ok ? r : 0;
    }
    default: return 0;
    }
}

static double to_float64(const val_t *v)
{
    switch (v->k) {
    case V_INT: case V_INT64: case V_UINT8: return (double)v->i;
    case V_FLOAT: return v->f;
    case V_BOOL: return v->b ? 1 : 0;
    case V_STRING: {
        double f;
        return sx_lq_parse_float(v->s, &f, NULL) == 0 ? f : 0;
    }
    default: return 0;
    }
}

/* strconv.ParseInt(s, 0, 64): sign, 0x/0o/0b or legacy 0 octal prefix,
 * underscores between digits. */
static int64_t go_parse_int0(sx_str_t s, bool *ok)
{
    *ok = false;
    size_t i = 0;
    bool neg = false;
    if (s.len && (s.ptr[0] == '+' || s.ptr[0] == '-')) {
        neg = s.ptr[0] == '-';
        i = 1;
    }
    if (i >= s.len)
        return 0;
    int base = 10;
    char prev = '^';
    if (s.ptr[i] == '0' && i + 1 < s.len) {
        char b = (char)tolower((unsigned char)s.ptr[i + 1]);
        if (b == 'x' || b == 'o' || b == 'b') {
            base = b == 'x' ? 16 : b == 'o' ? 8 : 2;
            i += 2;
            if (i >= s.len)
                return 0;
        } else {
            base = 8;
            i += 1;
        }
        prev = '0';
    }
    uint64_t acc = 0;
    for (; i < s.len; i++) {
        char ch = s.ptr[i];
        if (ch == '_') {
            if (prev != '0')
                return 0;
            prev = '_';
            continue;
        }
        int d = isdigit((unsigned char)ch) ? ch - '0'
                : isalpha((unsigned char)ch) ? tolower((unsigned char)ch) - 'a' + 10 : 99;
        if (d >= base)
            return 0;
        if (acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return 0;
        acc = acc * (uint64_t)base + (uint64_t)d;
        prev = '0';
    }
    if (prev != '0')
        return 0;
    if (acc > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
        return 0;
    *ok = true;
    return neg ? (int64_t)(0 - acc) : (int64_t)acc;
}

static bool empty_val(ctx_t *c, const val_t *v)
{
    switch (v->k) {
    case V_INVALID: return true;
    case V_STRING: return v->s.len == 0;
    case V_INT: case V_INT64: case V_UINT8: return v->i == 0;
    case V_FLOAT: return v->f == 0;
    case V_BOOL: return !v->b;
    case V_MAP: return c->lb->n == 0;
    default: return false;
    }
}

/* -- Go's comparison builtins -- */

enum { K_INVALID, K_BOOL, K_INT, K_UINT, K_FLOAT, K_STRING };

static int basic_kind(const val_t *v)
{
    switch (v->k) {
    case V_BOOL: return K_BOOL;
    case V_INT: case V_INT64: return K_INT;
    case V_UINT8: return K_UINT;
    case V_FLOAT: return K_FLOAT;
    case V_STRING: return K_STRING;
    default: return K_INVALID;
    }
}

static int f_eq(ctx_t *c, val_t *a, int n, val_t *out)
{
    if (n < 2)
        return call_err(c, "missing argument for comparison");
    int k1 = basic_kind(&a[0]);
    for (int i = 1; i < n; i++) {
        int k2 = basic_kind(&a[i]);
        bool t = false;
        if (k1 != k2) {
            if ((k1 == K_INT && k2 == K_UINT) || (k1 == K_UINT && k2 == K_INT)) {
                t = a[0].i == a[i].i && a[0].i >= 0;
            } else if (a[0].k != V_INVALID && a[i].k != V_INVALID) {
                return call_err(c, "incompatible types for comparison");
            }
        } else {
            switch (k1) {
            case K_BOOL: t = a[0].b == a[i].b; break;
            case K_FLOAT: t = a[0].f == a[i].f; break;
            case K_INT: case K_UINT: t = a[0].i == a[i].i; break;
            case K_STRING: t = sx_str_eq(a[0].s, a[i].s); break;
            default:
                if (a[0].k != a[i].k) {
                    if (a[0].k != V_INVALID && a[i].k != V_INVALID)
                        return call_err(c, "incompatible types for comparison");
                } else if (a[0].k == V_MAP) {
                    return call_err(c, "non-comparable type map[string]string");
                } else if (a[0].k == V_TIME) {
                    t = a[0].t.sec == a[i].t.sec && a[0].t.nsec == a[i].t.nsec &&
                        a[0].t.off == a[i].t.off;
                } else {
                    t = true; /* nil == nil */
                }
            }
        }
        if (t) {
            *out = vbool(true);
            return 0;
        }
    }
    *out = vbool(false);
    return 0;
}

static int f_ne(ctx_t *c, val_t *a, int n, val_t *out)
{
    if (f_eq(c, a, n, out))
        return -1;
    out->b = !out->b;
    return 0;
}

static int f_lt(ctx_t *c, val_t *a, int n, val_t *out)
{
    int k1 = basic_kind(&a[0]), k2 = basic_kind(&a[1]);
    if (k1 == K_INVALID || k2 == K_INVALID)
        return call_err(c, "invalid type for comparison");
    bool t;
    if (k1 != k2) {
        if (k1 == K_INT && k2 == K_UINT)
            t = a[0].i < 0 || a[0].i < a[1].i;
        else if (k1 == K_UINT && k2 == K_INT)
            t = a[1].i >= 0 && a[0].i < a[1].i;
        else
            return call_err(c, "incompatible types for comparison");
    } else {
        switch (k1) {
        case K_BOOL: return call_err(c, "invalid type for comparison");
        case K_FLOAT: t = a[0].f < a[1].f; break;
        case K_STRING: t = sx_str_cmp(a[0].s, a[1].s) < 0; break;
        default: t = a[0].i < a[1].i; break;
        }
    }
    *out = vbool(t);
    return 0;
}

static int f_le(ctx_t *c, val_t *a, int n, val_t *out)
{
    if (f_lt(c, a, 2, out))
        return -1;
    if (out->b)
        return 0;
    return f_eq(c, a, 2, out);
}

static int f_gt(ctx_t *c, val_t *a, int n, val_t *out)
{
    if (f_le(c, a, 2, out))
        return -1;
    out->b = !out->b;
    return 0;
}

static int f_ge(ctx_t *c, val_t *a, int n, val_t *out)
{
    if (f_lt(c, a, 2, out))
        return -1;
    out->b = !out->b;
    return 0;
}

static int f_not(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vbool(!truth(c, &a[0]));
    return 0;
}

static int f_len(ctx_t *c, val_t *a, int n, val_t *out)
{
    switch (a[0].k) {
    case V_STRING: *out = vint((int64_t)a[0].s.len); return 0;
    case V_MAP: *out = vint(c->lb->n); return 0;
    case V_INVALID: return call_err(c, "len of nil pointer");
    default: return call_err(c, "len of type %s", type_names[a[0].k]);
    }
}

static int index_arg(ctx_t *c, const val_t *v, int64_t cap, int64_t *out, bool slice)
{
    if (v->k == V_INVALID)
        return call_err(c, "cannot index slice/array with nil");
    if (v->k != V_INT && v->k != V_INT64 && v->k != V_UINT8)
        return call_err(c, "cannot index slice/array with type %s", type_names[v->k]);
    if (v->i < 0 || (slice ? v->i > cap : v->i >= cap))
        return call_err(c, "index out of range: %lld", (long long)v->i);
    *out = v->i;
    return 0;
}

static int f_index(ctx_t *c, val_t *a, int n, val_t *out)
{
    val_t item = a[0];
    if (item.k == V_INVALID)
        return call_err(c, "index of untyped nil");
    for (int i = 1; i < n; i++) {
        if (item.k == V_MAP) {
            if (a[i].k != V_STRING)
                return call_err(c, "value has type %s; should be string", type_names[a[i].k]);
            sx_str_t v = SX_STR_LIT("");
            sx_lq_labels_get(c->lb, a[i].s, &v);
            item = vstr(v);
        } else if (item.k == V_STRING) {
            int64_t x = 0;
            if (index_arg(c, &a[i], (int64_t)item.s.len, &x, false))
                return -1;
            item = (val_t){.k = V_UINT8, .i = (unsigned char)item.s.ptr[x]};
        } else if (item.k == V_INVALID) {
            return call_err(c, "index of nil pointer");
        } else {
            return call_err(c, "can't index item of type %s", type_names[item.k]);
        }
    }
    *out = item;
    return 0;
}

static int f_slice(ctx_t *c, val_t *a, int n, val_t *out)
{
    val_t item = a[0];
    if (item.k == V_INVALID)
        return call_err(c, "slice of untyped nil");
    if (n > 4)
        return call_err(c, "too many slice indexes: %d", n - 1);
    if (item.k != V_STRING)
        return call_err(c, "can't slice item of type %s", type_names[item.k]);
    if (n == 4)
        return call_err(c, "cannot 3-index slice a string");
    int64_t idx[2] = {0, (int64_t)item.s.len};
    for (int i = 1; i < n; i++)
        if (index_arg(c, &a[i], (int64_t)item.s.len, &idx[i - 1], true))
            return -1;
    if (idx[0] > idx[1])
        return call_err(c, "invalid slice index: %lld > %lld", (long long)idx[0], (long long)idx[1]);
    *out = vstr((sx_str_t){item.s.ptr + idx[0], (size_t)(idx[1] - idx[0])});
    return 0;
}

/* fmt.Sprint / Sprintln of the arguments. */
static void sprint(ctx_t *c, sbuf_t *o, val_t *a, int n, bool ln)
{
    for (int i = 0; i < n; i++) {
        bool is_str = a[i].k == V_STRING;
        if (i > 0 && (ln || (!is_str && a[i - 1].k != V_STRING)))
            sb_putc(o, ' ');
        fmt_v(c, o, &a[i], false);
        if (o->b.len > MAX_RESULT)
            break; /* the caller's result check fails the call */
    }
    if (ln)
        sb_putc(o, '\n');
}

static int f_print(ctx_t *c, val_t *a, int n, val_t *out)
{
    sbuf_t o = {SX_BUF_INIT};
    sprint(c, &o, a, n, false);
    *out = vstr(sb_take(c, &o));
    return 0;
}

static int f_println(ctx_t *c, val_t *a, int n, val_t *out)
{
    sbuf_t o = {SX_BUF_INIT};
    sprint(c, &o, a, n, true);
    *out = vstr(sb_take(c, &o));
    return 0;
}

/* text/template's evalArgs: a lone string as is, else Sprint with
 * "<no value>" for nil. */
static sx_str_t eval_args_str(ctx_t *c, val_t *a, int n)
{
    if (n == 1 && a[0].k == V_STRING)
        return a[0].s;
    sbuf_t o = {SX_BUF_INIT};
    for (int i = 0; i < n; i++) {
        bool is_str = a[i].k == V_STRING || a[i].k == V_INVALID;
        bool prev = i > 0 && (a[i - 1].k == V_STRING || a[i - 1].k == V_INVALID);
        if (i > 0 && !is_str && !prev)
            sb_putc(&o, ' ');
        fmt_v(c, &o, &a[i], true);
        if (o.b.len > MAX_RESULT)
            break;
    }
    return sb_take(c, &o);
}

static int f_html(ctx_t *c, val_t *a, int n, val_t *out)
{
    sx_str_t s = eval_args_str(c, a, n);
    if (s.len > MAX_RESULT / 5)
        return call_err(c, "result too large");
    sbuf_t o = {SX_BUF_INIT};
    for (size_t i = 0; i < s.len; i++) {
        switch (s.ptr[i]) {
        case '"': sb_puts(&o, "&#34;"); break;
        case '\'': sb_puts(&o, "&#39;"); break;
        case '&': sb_puts(&o, "&amp;"); break;
        case '<': sb_puts(&o, "&lt;"); break;
        case '>': sb_puts(&o, "&gt;"); break;
        case '\0': sb_puts(&o, "\xef\xbf\xbd"); break;
        default: sb_putc(&o, s.ptr[i]);
        }
    }
    *out = vstr(sb_take(c, &o));
    return 0;
}

static int f_js(ctx_t *c, val_t *a, int n, val_t *out)
{
    sx_str_t s = eval_args_str(c, a, n);
    if (s.len > MAX_RESULT / 6)
        return call_err(c, "result too large");
    sbuf_t o = {SX_BUF_INIT};
    for (size_t i = 0; i < s.len;) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch < 0x80) {
            switch (ch) {
            case '\\': sb_puts(&o, "\\\\"); break;
            case '\'': sb_puts(&o, "\\'"); break;
            case '"': sb_puts(&o, "\\\""); break;
            case '<': sb_puts(&o, "\\u003C"); break;
            case '>': sb_puts(&o, "\\u003E"); break;
            case '&': sb_puts(&o, "\\u0026"); break;
            case '=': sb_puts(&o, "\\u003D"); break;
            default:
                if (ch < ' ') {
                    char b[8];
                    snprintf(b, sizeof(b), "\\u%04X", ch);
                    sb_puts(&o, b);
                } else {
                    sb_putc(&o, (char)ch);
                }
            }
            i++;
            continue;
        }
        uint32_t r;
        size_t w = sx_lq_utf8_decode(s.ptr + i, s.len - i, &r);
        sb_put(&o, s.ptr + i, w);
        i += w;
    }
    *out = vstr(sb_take(c, &o));
    return 0;
}

static void query_escape(sbuf_t *o, sx_str_t s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            sb_putc(o, (char)ch);
        } else if (ch == ' ') {
            sb_putc(o, '+');
        } else {
            char b[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            sb_put(o, b, 3);
        }
    }
}

static int f_urlquery(ctx_t *c, val_t *a, int n, val_t *out)
{
    sx_str_t s = eval_args_str(c, a, n);
    if (s.len > MAX_RESULT / 3)
        return call_err(c, "result too large");
    sbuf_t o = {SX_BUF_INIT};
    query_escape(&o, s);
    *out = vstr(sb_take(c, &o));
    return 0;
}

/* -- fmt.Sprintf -- */

typedef struct fspec {
    bool plus, minus, sharp, space, zero;
    int wid, prec; /* -1: absent */
} fspec_t;

static size_t rune_count(sx_str_t s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len;) {
        uint32_t r;
        i += sx_lq_utf8_decode(s.ptr + i, s.len - i, &r);
        n++;
    }
    return n;
}

/* Write s padded to the width (in runes). */
static void pad(sbuf_t *o, const fspec_t *f, sx_str_t s, bool zero_ok)
{
    size_t rc = f->wid > 0 ? rune_count(s) : 0;
    size_t fill = f->wid > 0 && (size_t)f->wid > rc ? (size_t)f->wid - rc : 0;
    if (f->minus) {
        sb_put(o, s.ptr, s.len);
        for (size_t i = 0; i < fill; i++)
            sb_putc(o, ' ');
        return;
    }
    for (size_t i = 0; i < fill; i++)
        sb_putc(o, f->zero && zero_ok ? '0' : ' ');
    sb_put(o, s.ptr, s.len);
}

/* strconv.Quote (ascii: QuoteToASCII). */
static void go_quote(sbuf_t *o, sx_str_t s, bool ascii)
{
    sb_putc(o, '"');
    for (size_t i = 0; i < s.len;) {
        unsigned char ch = (unsigned char)s.ptr[i];
        uint32_t r;
        size_t w = sx_lq_utf8_decode(s.ptr + i, s.len - i, &r);
        if (r == 0xFFFD && w == 1 && ch >= 0x80) {
            char b[8];
            snprintf(b, sizeof(b), "\\x%02x", ch);
            sb_puts(o, b);
            i += w;
            continue;
        }
        i += w;
        switch (r) {
        case '"': sb_puts(o, "\\\""); continue;
        case '\\': sb_puts(o, "\\\\"); continue;
        case '\a': sb_puts(o, "\\a"); continue;
        case '\b': sb_puts(o, "\\b"); continue;
        case '\f': sb_puts(o, "\\f"); continue;
        case '\n': sb_puts(o, "\\n"); continue;
        case '\r': sb_puts(o, "\\r"); continue;
        case '\t': sb_puts(o, "\\t"); continue;
        case '\v': sb_puts(o, "\\v"); continue;
        }
        if (r < 0x80 && !isprint((int)r)) {
            char b[8];
            snprintf(b, sizeof(b), "\\x%02x", r);
            sb_puts(o, b);
        } else if (r >= 0x80 && (ascii || r <= 0xA0 || r == 0xAD || r == 0xFEFF)) {
            char b[12];
            if (r < 0x10000)
                snprintf(b, sizeof(b), "\\u%04x", r);
            else
                snprintf(b, sizeof(b), "\\U%08x", r);
            sb_puts(o, b);
        } else {
            sb_put(o, s.ptr + i - w, w);
        }
    }
    sb_putc(o, '"');
}

static void bad_verb(ctx_t *c, sbuf_t *o, uint32_t verb, const val_t *v)
{
    char vb[8];
    size_t vn = sx_utf8_encode(vb, verb);
    sb_puts(o, "%!");
    sb_put(o, vb, vn);
    sb_putc(o, '(');
    if (v->k == V_INVALID) {
        sb_puts(o, "<nil>");
    } else {
        sb_puts(o, type_names[v->k]);
        sb_putc(o, '=');
        fmt_v(c, o, v, false);
    }
    sb_putc(o, ')');
}

static void fmt_integer(sbuf_t *o, const fspec_t *f, uint64_t u, bool neg, int base, bool upper,
                        uint32_t verb)
{
    char digits[80];
    int n = 0;
    const char *dg = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int prec = f->prec;
    if (f->zero && f->wid > 0 && !f->minus && prec < 0) {
        prec = f->wid;
        if (neg || f->plus || f->space)
            prec--;
    }
    if (prec == 0 && u == 0) {
        fspec_t g = *f;
        g.zero = false;
        pad(o, &g, SX_STR_LIT(""), false);
        return;
    }
    do {
        digits[n++] = dg[u % (uint64_t)base];
        u /= (uint64_t)base;
    } while (u && n < 70);
    char tmp[160];
    size_t w = 0;
    if (neg)
        tmp[w++] = '-';
    else if (f->plus)
        tmp[w++] = '+';
    else if (f->space)
        tmp[w++] = ' ';
    if (f->sharp) {
        if (base == 16) {
            tmp[w++] = '0';
            tmp[w++] = upper ? 'X' : 'x';
        } else if (base == 8 && verb == 'o') {
            if (!(prec > n))
                tmp[w++] = '0';
        } else if (base == 2) {
            tmp[w++] = '0';
            tmp[w++] = 'b';
        }
    }
    if (verb == 'O') {
        tmp[w++] = '0';
        tmp[w++] = 'o';
    }
    for (int i = n; i < prec && w < sizeof(tmp) - 80; i++)
        tmp[w++] = '0';
    while (n)
        tmp[w++] = digits[--n];
    fspec_t g = *f;
    g.zero = false;
    pad(o, &g, (sx_str_t){tmp, w}, false);
}

static void fmt_float_verb(sbuf_t *o, const fspec_t *f, double v, uint32_t verb)
{
    char num[400];
    if (isnan(v) || isinf(v)) {
        /* Go: infinities always carry a sign ('+' or, with the space flag,
         * ' '); NaN only when asked for. Never zero-padded. */
        char b[8];
        if (isinf(v))
            snprintf(b, sizeof(b), "%cInf", v < 0 ? '-' : (f->space && !f->plus) ? ' ' : '+');
        else
            snprintf(b, sizeof(b), "%sNaN", f->plus ? "+" : f->space ? " " : "");
        fspec_t g = *f;
        g.zero = false;
        pad(o, &g, sx_str(b), false);
        return;
    }
    if (verb == 'v' && f->prec >= 0)
        verb = 'g';
    if (verb == 'v' || ((verb == 'g' || verb == 'G') && f->prec < 0)) {
        sbuf_t t = {SX_BUF_INIT};
        fmt_float_v(&t, v);
        size_t l = t.b.len < sizeof(num) - 2 ? t.b.len : sizeof(num) - 2;
        memcpy(num, t.b.ptr, l);
        num[l] = '\0';
        sx_buf_dispose(&t.b);
        if (verb == 'G')
            for (char *p = num; *p; p++)
                if (*p == 'e')
                    *p = 'E';
    } else {
        char spec[16];
        int prec = f->prec < 0 ? 6 : f->prec;
        if (prec > 300)
            prec = 300;
        char cv = verb == 'F' ? 'f' : verb == 'x' ? 'a' : verb == 'X' ? 'A' : (char)verb;
        snprintf(spec, sizeof(spec), "%%%s.%d%c", f->sharp ? "#" : "", prec, cv);
        if (verb == 'x' || verb == 'X')
            snprintf(spec, sizeof(spec), "%%%s%c", f->sharp ? "#" : "", cv);
        if (fabs(v) > 1e300 && (cv == 'f'))
            snprintf(num, sizeof(num), "%.17e", v);
        else
            snprintf(num, sizeof(num), spec, v);
    }
    /* Sign flags and zero padding after the sign. */
    char tmp[420];
    size_t w = 0;
    const char *digits = num;
    bool neg = num[0] == '-';
    if (neg) {
        tmp[w++] = '-';
        digits++;
    } else if (f->plus) {
        tmp[w++] = '+';
    } else if (f->space) {
        tmp[w++] = ' ';
    }
    size_t dl = strlen(digits);
    if (f->zero && !f->minus && f->wid > 0 && (size_t)f->wid > w + dl)
        for (size_t k = (size_t)f->wid - w - dl; k > 0 && w < 40; k--)
            tmp[w++] = '0';
    memcpy(tmp + w, digits, dl);
    w += dl;
    fspec_t g = *f;
    g.zero = false;
    pad(o, &g, (sx_str_t){tmp, w}, false);
}

static bool is_intval(const val_t *v)
{
    return v->k == V_INT || v->k == V_INT64 || v->k == V_UINT8;
}

static void fmt_arg(ctx_t *c, sbuf_t *o, const fspec_t *f, uint32_t verb, const val_t *v)
{
    if (verb == 'T') {
        pad(o, f, sx_str(type_names[v->k]), false);
        return;
    }
    switch (v->k) {
    case V_INVALID:
        if (verb == 'v')
            pad(o, f, SX_STR_LIT("<nil>"), false);
        else
            bad_verb(c, o, verb, v);
        return;
    case V_BOOL:
        if (verb == 't' || verb == 'v')
            pad(o, f, v->b ? SX_STR_LIT("true") : SX_STR_LIT("false"), false);
        else
            bad_verb(c, o, verb, v);
        return;
    case V_INT: case V_INT64: case V_UINT8: {
        bool neg = v->k != V_UINT8 && v->i < 0;
        uint64_t u = neg ? (uint64_t)0 - (uint64_t)v->i : (uint64_t)v->i;
        switch (verb) {
        case 'v': case 'd': fmt_integer(o, f, u, neg, 10, false, verb); return;
        case 'b': fmt_integer(o, f, u, neg, 2, false, verb); return;
        case 'o': case 'O': fmt_integer(o, f, u, neg, 8, false, verb); return;
        case 'x': fmt_integer(o, f, u, neg, 16, false, verb); return;
        case 'X': fmt_integer(o, f, u, neg, 16, true, verb); return;
        case 'c': {
            char b[4];
            uint32_t r = neg || u > 0x10FFFF ? 0xFFFD : (uint32_t)u;
            size_t n = sx_utf8_encode(b, r);
            pad(o, f, (sx_str_t){b, n}, false);
            return;
        }
        case 'q': {
            sbuf_t t = {SX_BUF_INIT};
            char b[4];
            uint32_t r = neg || u > 0x10FFFF ? 0xFFFD : (uint32_t)u;
            size_t n = sx_utf8_encode(b, r);
            go_quote(&t, (sx_str_t){b, n}, f->plus);
            t.b.ptr[0] = '\'';
            t.b.ptr[t.b.len - 1] = '\'';
            pad(o, f, (sx_str_t){t.b.ptr, t.b.len}, false);
            sx_buf_dispose(&t.b);
            return;
        }
        case 'U': {
            char b[24];
            snprintf(b, sizeof(b), "U+%04llX", (unsigned long long)u);
            pad(o, f, sx_str(b), false);
            return;
        }
        default:
            bad_verb(c, o, verb, v);
            return;
        }
    }
    case V_FLOAT:
        switch (verb) {
        case 'v': case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'x': case 'X':
            fmt_float_verb(o, f, v->f, verb);
            return;
        default:
            bad_verb(c, o, verb, v);
            return;
        }
    case V_STRING: case V_TIME: case V_MAP: {
        sx_str_t s = v->s;
        sbuf_t t = {SX_BUF_INIT};
        if (v->k != V_STRING) {
            if (verb != 'v' && verb != 's' && verb != 'q' && verb != 'x' && verb != 'X') {
                bad_verb(c, o, verb, v);
                return;
            }
            fmt_v(c, &t, v, false);
            s = (sx_str_t){t.b.ptr ? t.b.ptr : "", t.b.len};
        }
        switch (verb) {
        case 'v': case 's': {
            if (f->prec >= 0) {
                size_t i = 0;
                for (int k = 0; k < f->prec && i < s.len; k++) {
                    uint32_t r;
                    i += sx_lq_utf8_decode(s.ptr + i, s.len - i, &r);
                }
                s.len = i;
            }
            pad(o, f, s, true);
            break;
        }
        case 'q': {
            sbuf_t q = {SX_BUF_INIT};
            bool bq = f->sharp && !sx_lq_has_rune_error(s);
            for (size_t i = 0; bq && i < s.len; i++) {
                unsigned char ch = (unsigned char)s.ptr[i];
                if (ch == '`' || (ch < ' ' && ch != '\t') || ch == 0x7f)
                    bq = false;
            }
            if (bq && memmem(s.ptr ? s.ptr : "", s.len, "\xef\xbb\xbf", 3))
                bq = false;
            if (bq) {
                sb_putc(&q, '`');
                sb_put(&q, s.ptr, s.len);
                sb_putc(&q, '`');
            } else {
                go_quote(&q, s, f->plus);
            }
            pad(o, f, (sx_str_t){q.b.ptr, q.b.len}, false);
            sx_buf_dispose(&q.b);
            break;
        }
        case 'x': case 'X': {
            sbuf_t q = {SX_BUF_INIT};
            const char *dg = verb == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
            size_t lim = s.len;
            if (f->prec >= 0 && (size_t)f->prec < lim)
                lim = (size_t)f->prec;
            for (size_t i = 0; i < lim; i++) {
                if (i && f->space)
                    sb_putc(&q, ' ');
                if (f->sharp && (i == 0 || f->space)) {
                    sb_putc(&q, '0');
                    sb_putc(&q, verb == 'X' ? 'X' : 'x');
                }
                sb_putc(&q, dg[(unsigned char)s.ptr[i] >> 4]);
                sb_putc(&q, dg[(unsigned char)s.ptr[i] & 15]);
            }
            pad(o, f, (sx_str_t){q.b.ptr ? q.b.ptr : "", q.b.len}, false);
            sx_buf_dispose(&q.b);
            break;
        }
        default:
            bad_verb(c, o, verb, v);
        }
        sx_buf_dispose(&t.b);
        return;
    }
    }
}

static int f_printf(ctx_t *c, val_t *a, int n, val_t *out)
{
    sx_str_t f = a[0].s;
    val_t *args = a + 1;
    int nargs = n - 1, argi = 0;
    sbuf_t o = {SX_BUF_INIT};
    size_t i = 0;
    while (i < f.len) {
        const char *pc = memchr(f.ptr + i, '%', f.len - i);
        size_t e = pc ? (size_t)(pc - f.ptr) : f.len;
        sb_put(&o, f.ptr + i, e - i);
        i = e;
        if (i >= f.len)
            break;
        i++;
        fspec_t fs = {.wid = -1, .prec = -1};
        for (; i < f.len; i++) {
            char ch = f.ptr[i];
            if (ch == '+') fs.plus = true;
            else if (ch == '-') fs.minus = true;
            else if (ch == '#') fs.sharp = true;
            else if (ch == ' ') fs.space = true;
            else if (ch == '0') fs.zero = !fs.minus;
            else break;
        }
        if (fs.minus)
            fs.zero = false;
        bool badwid = false, badprec = false;
        if (i < f.len && f.ptr[i] == '*') {
            i++;
            if (argi < nargs && is_intval(&args[argi]) && llabs(args[argi].i) <= 1000000) {
                fs.wid = (int)args[argi].i;
                if (fs.wid < 0) {
                    fs.minus = true;
                    fs.zero = false;
                    fs.wid = -fs.wid;
                }
            } else {
                badwid = true;
            }
            argi++;
        } else {
            int w = 0;
            bool any = false;
            while (i < f.len && isdigit((unsigned char)f.ptr[i])) {
                if (w <= 1000000)
                    w = w * 10 + (f.ptr[i] - '0');
                any = true;
                i++;
            }
            if (any)
                fs.wid = w > 1000000 ? 0 : w;
        }
        if (i < f.len && f.ptr[i] == '.') {
            i++;
            if (i < f.len && f.ptr[i] == '*') {
                i++;
                if (argi < nargs && is_intval(&args[argi]) && llabs(args[argi].i) <= 1000000) {
                    fs.prec = (int)args[argi].i;
                    if (fs.prec < 0) {
                        fs.prec = -1;
                        badprec = true;
                    }
                } else {
                    badprec = true;
                }
                argi++;
            } else {
                int p = 0;
                while (i < f.len && isdigit((unsigned char)f.ptr[i])) {
                    if (p <= 1000000)
                        p = p * 10 + (f.ptr[i] - '0');
                    i++;
                }
                fs.prec = p > 1000000 ? 0 : p;
            }
        }
        if (badwid)
            sb_puts(&o, "%!(BADWIDTH)");
        if (badprec)
            sb_puts(&o, "%!(BADPREC)");
        if (i >= f.len) {
            sb_puts(&o, "%!(NOVERB)");
            break;
        }
        uint32_t verb;
        i += sx_lq_utf8_decode(f.ptr + i, f.len - i, &verb);
        if (verb == '%') {
            sb_putc(&o, '%');
            continue;
        }
        if (argi >= nargs) {
            char vb[4];
            size_t vn = sx_utf8_encode(vb, verb);
            sb_puts(&o, "%!");
            sb_put(&o, vb, vn);
            sb_puts(&o, "(MISSING)");
            continue;
        }
        fmt_arg(c, &o, &fs, verb, &args[argi++]);
        if (o.b.len > MAX_RESULT) {
            sx_buf_dispose(&o.b);
            return call_err(c, "result too large");
        }
    }
    if (argi < nargs) {
        sb_puts(&o, "%!(EXTRA ");
        for (int k = argi; k < nargs; k++) {
            if (k > argi)
                sb_puts(&o, ", ");
            if (args[k].k == V_INVALID) {
                sb_puts(&o, "<nil>");
                continue;
            }
            sb_puts(&o, type_names[args[k].k]);
            sb_putc(&o, '=');
            fmt_v(c, &o, &args[k], false);
        }
        sb_putc(&o, ')');
    }
    *out = vstr(sb_take(c, &o));
    return 0;
}

/* -- Strings (Go's strings package and sprig) -- */

static uint32_t rune_upper(uint32_t r)
{
    if (r < 0x80)
        return r >= 'a' && r <= 'z' ? r - 32 : r;
    if (r == 0xB5)
        return 0x39C;
    if (r >= 0xE0 && r <= 0xFE && r != 0xF7)
        return r - 32;
    if (r == 0xFF)
        return 0x178;
    if ((r >= 0x100 && r <= 0x12F) || (r >= 0x132 && r <= 0x137) || (r >= 0x14A && r <= 0x177))
        return r & 1 ? r - 1 : r;
    if ((r >= 0x139 && r <= 0x148) || (r >= 0x179 && r <= 0x17E))
        return r & 1 ? r : r - 1;
    if (r == 0x131)
        return 'I';
    if (r == 0x17F)
        return 'S';
    if (r >= 0x3B1 && r <= 0x3C9)
        return r == 0x3C2 ? 0x3A3 : r - 32;
    if (r == 0x3AC)
        return 0x386;
    if (r >= 0x3AD && r <= 0x3AF)
        return r - 37;
    if (r == 0x3CC)
        return 0x38C;
    if (r == 0x3CD || r == 0x3CE)
        return r - 63;
    if (r >= 0x430 && r <= 0x44F)
        return r - 32;
    if (r >= 0x450 && r <= 0x45F)
        return r - 80;
    return r;
}

static uint32_t rune_lower(uint32_t r)
{
    if (r < 0x80)
        return r >= 'A' && r <= 'Z' ? r + 32 : r;
    if (r >= 0xC0 && r <= 0xDE && r != 0xD7)
        return r + 32;
    if (r == 0x178)
        return 0xFF;
    if ((r >= 0x100 && r <= 0x12F) || (r >= 0x132 && r <= 0x137) || (r >= 0x14A && r <= 0x177))
        return r & 1 ? r : r + 1;
    if ((r >= 0x139 && r <= 0x148) || (r >= 0x179 && r <= 0x17E))
        return r & 1 ? r + 1 : r;
    if (r == 0x130)
        return 'i';
    if (r >= 0x391 && r <= 0x3A9 && r != 0x3A2)
        return r + 32;
    if (r == 0x386)
        return 0x3AC;
    if (r >= 0x388 && r <= 0x38A)
        return r + 37;
    if (r == 0x38C)
        return 0x3CC;
    if (r == 0x38E || r == 0x38F)
        return r + 63;
    if (r >= 0x410 && r <= 0x42F)
        return r + 32;
    if (r >= 0x400 && r <= 0x40F)
        return r + 80;
    return r;
}

/* strings.Map with a rune mapping: invalid bytes become U+FFFD. */
static sx_str_t map_runes(ctx_t *c, sx_str_t s, uint32_t (*fn)(uint32_t))
{
    bool ascii = true;
    for (size_t i = 0; i < s.len && ascii; i++)
        ascii = (unsigned char)s.ptr[i] < 0x80;
    char *o = ctx_alloc(c, s.len * 3 + 1);
    size_t w = 0;
    if (ascii) {
        for (size_t i = 0; i < s.len; i++)
            o[w++] = (char)fn((unsigned char)s.ptr[i]);
        return (sx_str_t){o, w};
    }
    for (size_t i = 0; i < s.len;) {
        uint32_t r;
        i += sx_lq_utf8_decode(s.ptr + i, s.len - i, &r);
        w += sx_utf8_encode(o + w, fn(r));
    }
    return (sx_str_t){o, w};
}

static int f_lower(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vstr(map_runes(c, a[0].s, rune_lower));
    return 0;
}

static int f_upper(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vstr(map_runes(c, a[0].s, rune_upper));
    return 0;
}

static bool title_sep(uint32_t r)
{
    if (r < 0x80)
        return !(isalnum((int)r) || r == '_');
    return sx_lq_is_space_rune(r);
}

static int f_title(ctx_t *c, val_t *a, int n, val_t *out)
{
    sx_str_t s = a[0].s;
    char *o = ctx_alloc(c, s.len * 3 + 1);
    size_t w = 0;
    uint32_t prev = ' ';
    for (size_t i = 0; i < s.len;) {
        uint32_t r;
        i += sx_lq_utf8_decode(s.ptr + i, s.len - i, &r);
        uint32_t m = title_sep(prev) ? rune_upper(r) : r;
        prev = r;
        w += sx_utf8_encode(o + w, m);
    }
    *out = vstr((sx_str_t){o, w});
    return 0;
}

static bool in_cutset(sx_str_t cut, uint32_t r)
{
    for (size_t i = 0; i < cut.len;) {
        uint32_t x;
        i += sx_lq_utf8_decode(cut.ptr + i, cut.len - i, &x);
        if (x == r)
            return true;
    }
    return false;
}

/* Width of the last rune of s[0..n) (Go's DecodeLastRune), and the rune. */
static size_t last_rune(const char *s, size_t n, uint32_t *r)
{
    size_t st = n - 1;
    while (st > 0 && n - st < 4 && ((unsigned char)s[st] & 0xC0) == 0x80)
        st--;
    size_t w = sx_lq_utf8_decode(s + st, n - st, r);
    if (st + w != n) {
        *r = 0xFFFD;
        return 1;
    }
    return w;
}

static sx_str_t trim_cut(sx_str_t s, sx_str_t cut, bool left, bool right)
{
    if (cut.len == 0)
        return s;
    if (left)
        while (s.len) {
            uint32_t r;
            size_t w = sx_lq_utf8_decode(s.ptr, s.len, &r);
            if (!in_cutset(cut, r))
                break;
            s.ptr += w;
            s.len -= w;
        }
    if (right)
        while (s.len) {
            uint32_t r;
            size_t w = last_rune(s.ptr, s.len, &r);
            if (!in_cutset(cut, r))
                break;
            s.len -= w;
        }
    return s;
}

static int f_Trim(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vstr(trim_cut(a[0].s, a[1].s, true, true));
    return 0;
}
static int f_TrimLeft(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vstr(trim_cut(a[0].s, a[1].s, true, false));
    return 0;
}
static int f_TrimRight(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vstr(trim_cut(a[0].s, a[1].s, false, true));
    return 0;
}
static int f_trimAll(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vstr(trim_cut(a[1].s, a[0].s, true, true));
    return 0;
}

static bool has_prefix(sx_str_t s, sx_str_t p)
{
    return s.len >= p.len && (p.len == 0 || memcmp(s.ptr, p.ptr, p.len) == 0);
}
static bool has_suffix(sx_str_t s, sx_str_t p)
{
    return s.len >= p.len && (p.len == 0 || memcmp(s.ptr + s.len - p.len, p.ptr, p.len) == 0);
}

static int f_TrimPrefix(ctx_t *c, val_t *a, int n, val_t *out)
{
    sx_str_t s = a[0].s;
    if (has_prefix(s, a[1].s))
        s.ptr += a[1].s.len, s.len -= a[1].s.len;
    *out = vstr(s);
    return 0;
}
static int f_TrimSuffix(ctx_t *c, val_t *a, int n, val_t *out)
{
    sx_str_t s = a[0].s;
    if (has_suffix(s, a[1].s))
        s.len -= a[1].s.len;
    *out = vstr(s);
    return 0;
}
static int f_trimPrefix(ctx_t *c, val_t *a, int n, val_t *out)
{
    val_t b[2] = {a[1], a[0]};
    return f_TrimPrefix(c, b, 2, out);
}
static int f_trimSuffix(ctx_t *c, val_t *a, int n, val_t *out)
{
    val_t b[2] = {a[1], a[0]};
    return f_TrimSuffix(c, b, 2, out);
}
static int f_TrimSpace(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vstr(sx_lq_trim_space(a[0].s));
    return 0;
}

static const char *find_sub(sx_str_t h, sx_str_t nd)
{
    if (nd.len == 0)
        return h.ptr ? h.ptr : "";
    if (!h.len)
        return NULL;
    return memmem(h.ptr, h.len, nd.ptr, nd.len);
}

static int f_contains(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vbool(find_sub(a[1].s, a[0].s) != NULL);
    return 0;
}
static int f_hasPrefix(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vbool(has_prefix(a[1].s, a[0].s));
    return 0;
}
static int f_hasSuffix(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vbool(has_suffix(a[1].s, a[0].s));
    return 0;
}

/* strings.Replace(s, old, new, n). */
static int go_replace(ctx_t *c, sx_str_t s, sx_str_t old, sx_str_t nw, int64_t n, val_t *out)
{
    if (sx_str_eq(old, nw) || n == 0) {
        *out = vstr(s);
        return 0;
    }
    int64_t m = 0;
    if (old.len == 0) {
        m = (int64_t)rune_count(s) + 1;
    } else {
        for (const char *p = s.ptr, *e = s.ptr + s.len; p && p < e;) {
            const char *q = memmem(p, (size_t)(e - p), old.ptr, old.len);
            if (!q)
                break;
            m++;
            p = q + old.len;
        }
    }
    if (m == 0) {
        *out = vstr(s);
        return 0;
    }
    if (n < 0 || m < n)
        n = m;
    if ((uint64_t)s.len + (uint64_t)n * nw.len > MAX_RESULT)
        return call_err(c, "result too large");
    sbuf_t o = {SX_BUF_INIT};
    size_t start = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t j = start;
        if (old.len == 0) {
            if (i > 0) {
                uint32_t r;
                j += sx_lq_utf8_decode(s.ptr + start, s.len - start, &r);
            }
        } else {
            j += (size_t)((const char *)memmem(s.ptr + start, s.len - start, old.ptr, old.len) -
                          (s.ptr + start));
        }
        sb_put(&o, s.ptr + start, j - start);
        sb_put(&o, nw.ptr, nw.len);
        start = j + old.len;
    }
    if (start < s.len)
        sb_put(&o, s.ptr + start, s.len - start);
    *out = vstr(sb_take(c, &o));
    return 0;
}

static int f_Replace(ctx_t *c, val_t *a, int n, val_t *out)
{
    return go_replace(c, a[0].s, a[1].s, a[2].s, a[3].i, out);
}
static int f_replace(ctx_t *c, val_t *a, int n, val_t *out)
{
    return go_replace(c, a[2].s, a[0].s, a[1].s, -1, out);
}

static int go_repeat(ctx_t *c, sx_str_t s, int64_t count, sbuf_t *o)
{
    if (count < 0)
        return call_err(c, "strings: negative Repeat count");
    if (s.len && (uint64_t)count > MAX_RESULT / s.len)
        return call_err(c, "result too large");
    for (int64_t i = 0; i < count; i++)
        sb_put(o, s.ptr, s.len);
    return 0;
}

static int f_repeat(ctx_t *c, val_t *a, int n, val_t *out)
{
    sbuf_t o = {SX_BUF_INIT};
    if (go_repeat(c, a[1].s, a[0].i, &o)) {
        sx_buf_dispose(&o.b);
        return -1;
    }
    *out = vstr(sb_take(c, &o));
    return 0;
}

static int do_indent(ctx_t *c, int64_t sp, sx_str_t s, bool nl, val_t *out)
{
    if (sp < 0)
        return call_err(c, "strings: negative Repeat count");
    size_t lines = 1;
    for (size_t i = 0; i < s.len; i++)
        lines += s.ptr[i] == '\n';
    if ((uint64_t)sp > MAX_RESULT / lines)
        return call_err(c, "result too large");
    sbuf_t o = {SX_BUF_INIT};
    if (nl)
        sb_putc(&o, '\n');
    for (int64_t k = 0; k < sp; k++)
        sb_putc(&o, ' ');
    for (size_t i = 0; i < s.len; i++) {
        sb_putc(&o, s.ptr[i]);
        if (s.ptr[i] == '\n')
            for (int64_t k = 0; k < sp; k++)
                sb_putc(&o, ' ');
    }
    *out = vstr(sb_take(c, &o));
    return 0;
}

static int f_indent(ctx_t *c, val_t *a, int n, val_t *out)
{
    return do_indent(c, a[0].i, a[1].s, false, out);
}
static int f_nindent(ctx_t *c, val_t *a, int n, val_t *out)
{
    return do_indent(c, a[0].i, a[1].s, true, out);
}

/* sprig's trunc and substr slice bytes (and substr can panic). */
static int f_trunc(ctx_t *c, val_t *a, int n, val_t *out)
{
    int64_t k = a[0].i, l = (int64_t)a[1].s.len;
    sx_str_t s = a[1].s;
    if (k < 0 && l + k > 0)
        s = (sx_str_t){s.ptr + l + k, (size_t)-k};
    else if (k >= 0 && l > k)
        s.len = (size_t)k;
    *out = vstr(s);
    return 0;
}

static int f_substr(ctx_t *c, val_t *a, int n, val_t *out)
{
    int64_t st = a[0].i, en = a[1].i, l = (int64_t)a[2].s.len;
    sx_str_t s = a[2].s;
    if (st < 0) {
        if (en < 0 || en > l)
            return call_err(c, "runtime error: slice bounds out of range [:%lld] with length %lld",
                            (long long)en, (long long)l);
        *out = vstr((sx_str_t){s.ptr, (size_t)en});
        return 0;
    }
    if (en < 0 || en > l) {
        if (st > l)
            return call_err(c, "runtime error: slice bounds out of range [%lld:%lld]", (long long)st,
                            (long long)l);
        *out = vstr((sx_str_t){s.ptr + st, (size_t)(l - st)});
        return 0;
    }
    if (st > en)
        return call_err(c, "runtime error: slice bounds out of range [%lld:%lld]", (long long)st,
                        (long long)en);
    *out = vstr((sx_str_t){s.ptr + st, (size_t)(en - st)});
    return 0;
}

/* Loki's alignLeft / alignRight count runes. */
static int align(ctx_t *c, int64_t count, sx_str_t s, bool left, val_t *out)
{
    int64_t l = (int64_t)rune_count(s);
    if (count < 0 || count == l) {
        *out = vstr(s);
        return 0;
    }
    if (count > l) {
        if ((uint64_t)count > MAX_RESULT)
            return call_err(c, "result too large");
        sbuf_t o = {SX_BUF_INIT};
        if (left)
            sb_put(&o, s.ptr, s.len);
        for (int64_t i = l; i < count; i++)
            sb_putc(&o, ' ');
        if (!left)
            sb_put(&o, s.ptr, s.len);
        *out = vstr(sb_take(c, &o));
        return 0;
    }
    /* Keep count runes: the first (left) or the last (right). */
    size_t i = 0;
    int64_t skip = left ? count : l - count;
    for (int64_t k = 0; k < skip; k++) {
        uint32_t r;
        i += sx_lq_utf8_decode(s.ptr + i, s.len - i, &r);
    }
    *out = vstr(left ? (sx_str_t){s.ptr, i} : (sx_str_t){s.ptr + i, s.len - i});
    return 0;
}

static int f_alignLeft(ctx_t *c, val_t *a, int n, val_t *out)
{
    return align(c, a[0].i, a[1].s, true, out);
}
static int f_alignRight(ctx_t *c, val_t *a, int n, val_t *out)
{
    return align(c, a[0].i, a[1].s, false, out);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int f_b64enc(ctx_t *c, val_t *a, int n, val_t *out)
{
    sx_str_t s = a[0].s;
    if (s.len > MAX_RESULT / 2)
        return call_err(c, "result too large");
    char *o = ctx_alloc(c, SX_BASE64_LEN(s.len) + 1);
    *out = vstr((sx_str_t){o, sx_base64_encode(s.ptr, s.len, o)});
    return 0;
}

/* base64.StdEncoding.DecodeString; sprig returns the error text. */
static int f_b64dec(ctx_t *c, val_t *a, int n, val_t *out)
{
    sx_str_t s = a[0].s;
    char *o = ctx_alloc(c, s.len + 1);
    size_t w = 0, si = 0;
    long bad = -1;
    while (si < s.len && bad < 0) {
        unsigned char q[4];
        int j = 0;
        size_t dlen = 3;
        while (j < 4) {
            if (si == s.len) {
                if (j != 0)
                    bad = (long)(si - (size_t)j);
                break;
            }
            char ch = s.ptr[si++];
            if (ch == '\n' || ch == '\r') {
                j--;
                j++;
                continue;
            }
            if (ch == '=') {
                if (j < 2) {
                    bad = (long)si - 1;
                    break;
                }
                /* Skip newlines; "==" needs a second '='. */
                while (si < s.len && (s.ptr[si] == '\n' || s.ptr[si] == '\r'))
                    si++;
                if (j == 2) {
                    if (si == s.len) {
                        bad = (long)s.len;
                        break;
                    }
                    if (s.ptr[si] != '=') {
                        bad = (long)si - 1;
                        break;
                    }
                    si++;
                    while (si < s.len && (s.ptr[si] == '\n' || s.ptr[si] == '\r'))
                        si++;
                }
                if (si < s.len)
                    bad = (long)si;
                dlen = (size_t)j - 1;
                break;
            }
            const char *p = strchr(b64chars, ch);
            if (!p || ch == '\0') {
                bad = (long)si - 1;
                break;
            }
            q[j++] = (unsigned char)(p - b64chars);
        }
        if (bad >= 0 || j == 0)
            break;
        uint32_t v = ((uint32_t)q[0] << 18) | ((uint32_t)q[1] << 12) |
                     (j > 2 ? (uint32_t)q[2] << 6 : 0) | (j > 3 ? q[3] : 0);
        o[w++] = (char)(v >> 16);
        if (dlen > 1)
            o[w++] = (char)(v >> 8);
        if (dlen > 2)
            o[w++] = (char)v;
        if (dlen < 3)
            break;
    }
    if (bad >= 0) {
        char m[64];
        int k = snprintf(m, sizeof(m), "illegal base64 data at input byte %ld", bad);
        *out = vstr(ctx_str(c, m, (size_t)k));
        return 0;
    }
    *out = vstr((sx_str_t){o, w});
    return 0;
}

static int f_urlencode(ctx_t *c, val_t *a, int n, val_t *out)
{
    if (a[0].s.len > MAX_RESULT / 3)
        return call_err(c, "result too large");
    sbuf_t o = {SX_BUF_INIT};
    query_escape(&o, a[0].s);
    *out = vstr(sb_take(c, &o));
    return 0;
}

static int hexval_c(char ch)
{
    return isdigit((unsigned char)ch) ? ch - '0' : tolower((unsigned char)ch) - 'a' + 10;
}

static int f_urldecode(ctx_t *c, val_t *a, int n, val_t *out)
{
    sx_str_t s = a[0].s;
    char *o = ctx_alloc(c, s.len + 1);
    size_t w = 0;
    for (size_t i = 0; i < s.len;) {
        char ch = s.ptr[i];
        if (ch == '%') {
            if (i + 2 >= s.len || !isxdigit((unsigned char)s.ptr[i + 1]) ||
                !isxdigit((unsigned char)s.ptr[i + 2])) {
                sx_str_t e = {s.ptr + i, s.len - i > 3 ? 3 : s.len - i};
                sbuf_t q = {SX_BUF_INIT};
                go_quote(&q, e, false);
                call_err(c, "invalid URL escape %.*s", (int)q.b.len, q.b.ptr);
                sx_buf_dispose(&q.b);
                return -1;
            }
            int hi = hexval_c(s.ptr[i + 1]), lo = hexval_c(s.ptr[i + 2]);
            o[w++] = (char)(hi * 16 + lo);
            i += 3;
        } else {
            o[w++] = ch == '+' ? ' ' : ch;
            i++;
        }
    }
    *out = vstr((sx_str_t){o, w});
    return 0;
}

static int f_default(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = (n < 2 || empty_val(c, &a[1])) ? a[0] : a[1];
    return 0;
}

/* -- Numbers (sprig) -- */

static int f_int(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vint(to_int64(&a[0]));
    return 0;
}
static int f_float64(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vfloat(to_float64(&a[0]));
    return 0;
}
static int f_add(ctx_t *c, val_t *a, int n, val_t *out)
{
    uint64_t s = 0;
    for (int i = 0; i < n; i++)
        s += (uint64_t)to_int64(&a[i]);
    *out = vint64((int64_t)s);
    return 0;
}
static int f_sub(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vint64((int64_t)((uint64_t)to_int64(&a[0]) - (uint64_t)to_int64(&a[1])));
    return 0;
}
static int f_mul(ctx_t *c, val_t *a, int n, val_t *out)
{
    uint64_t s = (uint64_t)to_int64(&a[0]);
    for (int i = 1; i < n; i++)
        s *= (uint64_t)to_int64(&a[i]);
    *out = vint64((int64_t)s);
    return 0;
}
static int f_div(ctx_t *c, val_t *a, int n, val_t *out)
{
    int64_t x = to_int64(&a[0]), y = to_int64(&a[1]);
    if (y == 0)
        return call_err(c, "runtime error: integer divide by zero");
    *out = vint64(y == -1 ? (int64_t)(0 - (uint64_t)x) : x / y);
    return 0;
}
static int f_mod(ctx_t *c, val_t *a, int n, val_t *out)
{
    int64_t x = to_int64(&a[0]), y = to_int64(&a[1]);
    if (y == 0)
        return call_err(c, "runtime error: integer divide by zero");
    *out = vint64(y == -1 ? 0 : x % y);
    return 0;
}
static int f_max(ctx_t *c, val_t *a, int n, val_t *out)
{
    int64_t m = to_int64(&a[0]);
    for (int i = 1; i < n; i++) {
        int64_t v = to_int64(&a[i]);
        if (v > m)
            m = v;
    }
    *out = vint64(m);
    return 0;
}
static int f_min(ctx_t *c, val_t *a, int n, val_t *out)
{
    int64_t m = to_int64(&a[0]);
    for (int i = 1; i < n; i++) {
        int64_t v = to_int64(&a[i]);
        if (v < m)
            m = v;
    }
    *out = vint64(m);
    return 0;
}

/* math.Max / math.Min: NaN wins, +0 beats -0. */
static double go_max(double x, double y)
{
    if (isinf(x) && x > 0) return x;
    if (isinf(y) && y > 0) return y;
    if (isnan(x) || isnan(y)) return NAN;
    if (x == 0 && x == y) return signbit(x) ? y : x;
    return x > y ? x : y;
}
static double go_min(double x, double y)
{
    if (isinf(x) && x < 0) return x;
    if (isinf(y) && y < 0) return y;
    if (isnan(x) || isnan(y)) return NAN;
    if (x == 0 && x == y) return signbit(x) ? x : y;
    return x < y ? x : y;
}
static int f_maxf(ctx_t *c, val_t *a, int n, val_t *out)
{
    double m = to_float64(&a[0]);
    for (int i = 1; i < n; i++)
        m = go_max(m, to_float64(&a[i]));
    *out = vfloat(m);
    return 0;
}
static int f_minf(ctx_t *c, val_t *a, int n, val_t *out)
{
    double m = to_float64(&a[0]);
    for (int i = 1; i < n; i++)
        m = go_min(m, to_float64(&a[i]));
    *out = vfloat(m);
    return 0;
}

/* sprig's execDecimalOp: exact decimal arithmetic on the shortest decimal
 * forms of the operands, then the nearest float64. */
static int decimal_op(ctx_t *c, double first, val_t *a, int n, int op, val_t *out)
{
    if (isnan(first) || isinf(first)) {
        sbuf_t t = {SX_BUF_INIT};
        fmt_float_v(&t, first);
        call_err(c, "Cannot create a Decimal from %.*s", (int)t.b.len, t.b.ptr);
        sx_buf_dispose(&t.b);
        return -1;
    }
    dec_t acc = dec_from_double(c, first);
    for (int i = 0; i < n; i++) {
        double f = to_float64(&a[i]);
        if (isnan(f) || isinf(f)) {
            sbuf_t t = {SX_BUF_INIT};
            fmt_float_v(&t, f);
            call_err(c, "Cannot create a Decimal from %.*s", (int)t.b.len, t.b.ptr);
            sx_buf_dispose(&t.b);
            return -1;
        }
        dec_t x = dec_from_double(c, f);
        switch (op) {
        case '+': acc = dec_add(c, acc, x); break;
        case '-': x.neg = x.n ? !x.neg : false; acc = dec_add(c, acc, x); break;
        case '*': acc = dec_mul(c, acc, x); break;
        case '/':
            if (x.n == 0)
                return call_err(c, "decimal division by 0");
            acc = dec_div16(c, acc, x);
            break;
        }
    }
    *out = vfloat(dec_to_double(c, &acc));
    return 0;
}

static int f_addf(ctx_t *c, val_t *a, int n, val_t *out)
{
    return decimal_op(c, 0, a, n, '+', out);
}
static int f_subf(ctx_t *c, val_t *a, int n, val_t *out)
{
    return decimal_op(c, to_float64(&a[0]), a + 1, n - 1, '-', out);
}
static int f_mulf(ctx_t *c, val_t *a, int n, val_t *out)
{
    return decimal_op(c, to_float64(&a[0]), a + 1, n - 1, '*', out);
}
static int f_divf(ctx_t *c, val_t *a, int n, val_t *out)
{
    return decimal_op(c, to_float64(&a[0]), a + 1, n - 1, '/', out);
}
static int f_ceil(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vfloat(ceil(to_float64(&a[0])));
    return 0;
}
static int f_floor(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vfloat(floor(to_float64(&a[0])));
    return 0;
}
static int f_round(ctx_t *c, val_t *a, int n, val_t *out)
{
    double on = n > 2 ? a[2].f : .5;
    double v = to_float64(&a[0]);
    double pw = pow(10, (double)a[1].i);
    double digit = pw * v;
    double ip;
    double frac = modf(digit, &ip);
    double r = frac >= on ? ceil(digit) : floor(digit);
    *out = vfloat(r / pw);
    return 0;
}

/* -- Loki conversions -- */

static int f_bytes(ctx_t *c, val_t *a, int n, val_t *out)
{
    uint64_t b;
    sx_err_t err;
    if (sx_lq_parse_bytes(a[0].s, &b, &err))
        return call_err(c, "%s", err.msg);
    *out = vfloat((double)b);
    return 0;
}

static int f_duration(ctx_t *c, val_t *a, int n, val_t *out)
{
    double s;
    sx_err_t err;
    if (sx_lq_parse_duration_seconds(a[0].s, &s, &err))
        return call_err(c, "%s", err.msg);
    *out = vfloat(s);
    return 0;
}

/* -- Time -- */

static gtime_t as_utc(gtime_t t)
{
    t.off = 0;
    memcpy(t.zone, "UTC", 4);
    return t;
}

static int f_now(ctx_t *c, val_t *a, int n, val_t *out)
{
    int64_t ns = sx_now_ns();
    *out = vtime(time_utc(floordiv(ns, 1000000000), ns - floordiv(ns, 1000000000) * 1000000000));
    return 0;
}

static int f_timestamp(ctx_t *c, val_t *a, int n, val_t *out)
{
    int64_t ns = c->ts;
    *out = vtime(time_utc(floordiv(ns, 1000000000), ns - floordiv(ns, 1000000000) * 1000000000));
    return 0;
}

static int f_line(ctx_t *c, val_t *a, int n, val_t *out)
{
    *out = vstr(c->line);
    return 0;
}

static int f_date(ctx_t *c, val_t *a, int n, val_t *out)
{
    gtime_t t;
    if (a[1].k == V_TIME)
        t = a[1].t;
    else if (a[1].k == V_INT || a[1].k == V_INT64)
        t = time_utc(a[1].i, 0);
    else {
        val_t now;
        f_now(c, NULL, 0, &now);
        t = now.t;
    }
    t = as_utc(t);
    sbuf_t o = {SX_BUF_INIT};
    time_format(&o, &t, a[0].s);
    *out = vstr(sb_take(c, &o));
    return 0;
}

static int f_toDate(ctx_t *c, val_t *a, int n, val_t *out)
{
    gtime_t t;
    if (time_parse(a[0].s, a[1].s, &t))
        t = time_zero();
    *out = vtime(t);
    return 0;
}

static int f_toDateInZone(ctx_t *c, val_t *a, int n, val_t *out)
{
    /* Only UTC (and Local, which is UTC here) are known zones; Loki falls
     * back to UTC for unknown ones. */
    gtime_t t;
    if (time_parse(a[0].s, a[2].s, &t))
        t = time_zero();
    *out = vtime(t);
    return 0;
}

static int f_unixEpoch(ctx_t *c, val_t *a, int n, val_t *out)
{
    char b[32];
    int k = snprintf(b, sizeof(b), "%lld", (long long)a[0].t.sec);
    *out = vstr(ctx_str(c, b, (size_t)k));
    return 0;
}

static int f_unixEpochMillis(ctx_t *c, val_t *a, int n, val_t *out)
{
    char b[32];
    int64_t v = (int64_t)((uint64_t)a[0].t.sec * 1000u + (uint64_t)(a[0].t.nsec / 1000000));
    int k = snprintf(b, sizeof(b), "%lld", (long long)v);
    *out = vstr(ctx_str(c, b, (size_t)k));
    return 0;
}

static int f_unixEpochNanos(ctx_t *c, val_t *a, int n, val_t *out)
{
    char b[32];
    int64_t v = (int64_t)((uint64_t)a[0].t.sec * 1000000000u + (uint64_t)a[0].t.nsec);
    int k = snprintf(b, sizeof(b), "%lld", (long long)v);
    *out = vstr(ctx_str(c, b, (size_t)k));
    return 0;
}

static int f_unixToTime(ctx_t *c, val_t *a, int n, val_t *out)
{
    sx_str_t s = a[0].s;
    /* strconv.ParseInt(s, 10, 64) */
    size_t i = 0;
    bool neg = false, ok = s.len > 0;
    if (ok && (s.ptr[0] == '+' || s.ptr[0] == '-')) {
        neg = s.ptr[0] == '-';
        i = 1;
        ok = s.len > 1;
    }
    uint64_t u = 0;
    bool range = false;
    for (; ok && i < s.len; i++) {
        if (!isdigit((unsigned char)s.ptr[i])) {
            ok = false;
            break;
        }
        if (u > (UINT64_MAX - 9) / 10)
            range = true;
        else
            u = u * 10 + (uint64_t)(s.ptr[i] - '0');
    }
    if (ok && (range || u > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)))
        return call_err(c, "unable to parse time '%.*s': strconv.ParseInt: parsing \"%.*s\": value out of range",
                        (int)s.len, s.ptr, (int)s.len, s.ptr);
    if (!ok)
        return call_err(c, "unable to parse time '%.*s': strconv.ParseInt: parsing \"%.*s\": invalid syntax",
                        (int)s.len, s.ptr, (int)s.len, s.ptr);
    int64_t v = neg ? (int64_t)(0 - u) : (int64_t)u;
    gtime_t t;
    switch (s.len) {
    case 5: t = time_utc((int64_t)((uint64_t)v * 86400u), 0); break;
    case 10: t = time_utc(v, 0); break;
    case 13: t = time_utc(floordiv(v, 1000), (v - floordiv(v, 1000) * 1000) * 1000000); break;
    case 16: t = time_utc(floordiv(v, 1000000), (v - floordiv(v, 1000000) * 1000000) * 1000); break;
    case 19: t = time_utc(floordiv(v, 1000000000), v - floordiv(v, 1000000000) * 1000000000); break;
    default:
        return call_err(c, "unable to parse time '%.*s': %%!w(<nil>)", (int)s.len, s.ptr);
    }
    *out = vtime(t);
    return 0;
}

/* -- Regular expressions (Go's regexp semantics on PCRE2) -- */

static pcre2_code *re_compile(sx_str_t pat, char *err, size_t cap)
{
    int ec;
    PCRE2_SIZE eo;
    /* DOLLAR_ENDONLY: Go's $ (without (?m)) matches only at the end. */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(pat.ptr ? pat.ptr : ""), pat.len,
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &ec, &eo,
                                   NULL);
    if (!re) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        snprintf(err, cap, "error parsing regexp: %s: `%.*s`", (char *)msg,
                 (int)(pat.len > 60 ? 60 : pat.len), pat.ptr ? pat.ptr : "");
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

/* The compiled regex for argument 0 of the current call: the one compiled
 * with the program when the argument is that constant, else compiled now
 * (*owned: the caller frees it). */
typedef struct call_site {
    const arg_t *args; /* the call's argument nodes (after the name) */
    uint32_t nargs;
} call_site_t;

static _Thread_local const call_site_t *cur_site;

static pcre2_code *get_regex(ctx_t *c, sx_str_t pat, bool *owned)
{
    *owned = false;
    const call_site_t *cs = cur_site;
    if (cs && cs->nargs > 0 && cs->args[0].kind == A_STRING && sx_str_eq(cs->args[0].str, pat)) {
        if (cs->args[0].re)
            return cs->args[0].re;
        if (cs->args[0].re_err) {
            call_err(c, "%s", cs->args[0].re_err);
            return NULL;
        }
    }
    char err[300];
    pcre2_code *re = re_compile(pat, err, sizeof(err));
    if (!re) {
        call_err(c, "%s", err);
        return NULL;
    }
    *owned = true;
    return re;
}

/* Next match at or after pos: 1 found (ovector in md), 0 none, -1 error. */
static int re_exec(ctx_t *c, pcre2_code *re, sx_str_t s, size_t pos, pcre2_match_data *md)
{
    int rc = pcre2_match(re, (PCRE2_SPTR)(s.ptr ? s.ptr : ""), s.len, pos, 0, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[200];
        pcre2_get_error_message(rc, msg, sizeof(msg));
        call_err(c, "%s", (char *)msg);
        return -1;
    }
    return 1;
}

static size_t rune_width_at(sx_str_t s, size_t pos)
{
    if (pos >= s.len)
        return 0;
    uint32_t r;
    return sx_lq_utf8_decode(s.ptr + pos, s.len - pos, &r);
}

/* Go's Regexp.expand of template for one match. */
static void re_expand(sbuf_t *o, pcre2_code *re, sx_str_t tpl, sx_str_t src, PCRE2_SIZE *ov, int ngroups)
{
    size_t i = 0;
    while (i < tpl.len) {
        const char *d = memchr(tpl.ptr + i, '$', tpl.len - i);
        if (!d)
            break;
        size_t k = (size_t)(d - tpl.ptr);
        sb_put(o, tpl.ptr + i, k - i);
        i = k + 1;
        if (i < tpl.len && tpl.ptr[i] == '$') {
            sb_putc(o, '$');
            i++;
            continue;
        }
        /* extract: name, optionally in braces. */
        size_t p = i;
        bool brace = false;
        if (p < tpl.len && tpl.ptr[p] == '{') {
            brace = true;
            p++;
        }
        size_t nb = p;
        while (p < tpl.len) {
            uint32_t r;
            size_t w = sx_lq_utf8_decode(tpl.ptr + p, tpl.len - p, &r);
            bool ok = r < 0x80 ? (isalnum((int)r) || r == '_') : (r != 0xFFFD && !sx_lq_is_space_rune(r));
            if (!ok)
                break;
            p += w;
        }
        sx_str_t name = {tpl.ptr + nb, p - nb};
        if (name.len == 0 || (brace && (p >= tpl.len || tpl.ptr[p] != '}'))) {
            sb_putc(o, '$');
            continue;
        }
        if (brace)
            p++;
        i = p;
        long num = 0;
        for (size_t q = 0; q < name.len; q++) {
            if (!isdigit((unsigned char)name.ptr[q]) || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (name.ptr[q] - '0');
        }
        if (name.ptr[0] == '0' && name.len > 1)
            num = -1;
        if (num < 0) {
            char nm[128];
            if (name.len < sizeof(nm)) {
                memcpy(nm, name.ptr, name.len);
                nm[name.len] = '\0';
                int g = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nm);
                num = g > 0 ? g : -1;
            }
        }
        if (num >= 0 && num < ngroups && ov[2 * num] != PCRE2_UNSET)
            sb_put(o, src.ptr + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
    }
    sb_put(o, tpl.ptr + i, tpl.len - i);
}

static int regex_replace(ctx_t *c, val_t *a, val_t *out, bool literal)
{
    bool owned;
    pcre2_code *re = get_regex(c, a[0].s, &owned);
    if (!re)
        return -1;
    sx_str_t src = a[1].s, repl = a[2].s;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    uint32_t ngroups = pcre2_get_ovector_count(md);
    sbuf_t o = {SX_BUF_INIT};
    size_t last = 0, pos = 0;
    int rc = 0;
    while (pos <= src.len) {
        int m = re_exec(c, re, src, pos, md);
        if (m < 0) {
            rc = -1;
            break;
        }
        if (m == 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        sb_put(&o, src.ptr + last, ms - last);
        /* No replacement for an empty match right after another match. */
        if (me > last || ms == 0) {
            if (literal)
                sb_put(&o, repl.ptr, repl.len);
            else
                re_expand(&o, re, repl, src, ov, (int)ngroups);
            if (o.b.len > MAX_RESULT) {
                rc = call_err(c, "result too large");
                break;
            }
        }
        last = me;
        size_t w = rune_width_at(src, pos);
        if (pos + w > me)
            pos += w;
        else if (pos + 1 > me)
            pos++;
        else
            pos = me;
    }
    pcre2_match_data_free(md);
    if (owned)
        pcre2_code_free(re);
    if (rc) {
        sx_buf_dispose(&o.b);
        return -1;
    }
    if (last < src.len)
        sb_put(&o, src.ptr + last, src.len - last);
    *out = vstr(sb_take(c, &o));
    return 0;
}

static int f_regexReplaceAll(ctx_t *c, val_t *a, int n, val_t *out)
{
    return regex_replace(c, a, out, false);
}
static int f_regexReplaceAllLiteral(ctx_t *c, val_t *a, int n, val_t *out)
{
    return regex_replace(c, a, out, true);
}

/* FindAllStringIndex(s, -1) count: no empty match right after a match. */
static int f_count(ctx_t *c, val_t *a, int n, val_t *out)
{
    bool owned;
    pcre2_code *re = get_regex(c, a[0].s, &owned);
    if (!re)
        return -1;
    sx_str_t s = a[1].s;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int64_t cnt = 0;
    size_t pos = 0;
    long prev_end = -1;
    int rc = 0;
    while (pos <= s.len) {
        int m = re_exec(c, re, s, pos, md);
        if (m < 0) {
            rc = -1;
            break;
        }
        if (m == 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        bool accept = true;
        if (ov[1] == pos) {
            if ((long)ov[0] == prev_end)
                accept = false;
            size_t w = rune_width_at(s, pos);
            pos += w ? w : 1;
        } else {
            pos = ov[1];
        }
        prev_end = (long)ov[1];
        if (accept)
            cnt++;
    }
    pcre2_match_data_free(md);
    if (owned)
        pcre2_code_free(re);
    if (rc)
        return -1;
    *out = vint(cnt);
    return 0;
}

/* ---- Function table ---- */

static const func_t funcs[] = {
    /* Go text/template builtins */
    {"and", "AA", true, NULL, 1},
    {"or", "AA", true, NULL, 2},
    {"not", "A", false, f_not, 0},
    {"len", "A", false, f_len, 0},
    {"index", "AA", true, f_index, 0},
    {"slice", "AA", true, f_slice, 0},
    {"print", "A", true, f_print, 0},
    {"printf", "SA", true, f_printf, 0},
    {"println", "A", true, f_println, 0},
    {"html", "A", true, f_html, 0},
    {"js", "A", true, f_js, 0},
    {"urlquery", "A", true, f_urlquery, 0},
    {"eq", "AA", true, f_eq, 0},
    {"ne", "AA", false, f_ne, 0},
    {"lt", "AA", false, f_lt, 0},
    {"le", "AA", false, f_le, 0},
    {"gt", "AA", false, f_gt, 0},
    {"ge", "AA", false, f_ge, 0},
    /* Loki */
    {"ToLower", "S", false, f_lower, 0},
    {"ToUpper", "S", false, f_upper, 0},
    {"Replace", "SSSI", false, f_Replace, 0},
    {"Trim", "SS", false, f_Trim, 0},
    {"TrimLeft", "SS", false, f_TrimLeft, 0},
    {"TrimRight", "SS", false, f_TrimRight, 0},
    {"TrimPrefix", "SS", false, f_TrimPrefix, 0},
    {"TrimSuffix", "SS", false, f_TrimSuffix, 0},
    {"TrimSpace", "S", false, f_TrimSpace, 0},
    {"regexReplaceAll", "SSS", false, f_regexReplaceAll, 0},
    {"regexReplaceAllLiteral", "SSS", false, f_regexReplaceAllLiteral, 0},
    {"count", "SS", false, f_count, 0},
    {"urldecode", "S", false, f_urldecode, 0},
    {"urlencode", "S", false, f_urlencode, 0},
    {"bytes", "S", false, f_bytes, 0},
    {"duration", "S", false, f_duration, 0},
    {"duration_seconds", "S", false, f_duration, 0},
    {"unixEpochMillis", "T", false, f_unixEpochMillis, 0},
    {"unixEpochNanos", "T", false, f_unixEpochNanos, 0},
    {"toDateInZone", "SSS", false, f_toDateInZone, 0},
    {"unixToTime", "S", false, f_unixToTime, 0},
    {"alignLeft", "IS", false, f_alignLeft, 0},
    {"alignRight", "IS", false, f_alignRight, 0},
    {"__line__", "", false, f_line, 0},
    {"__timestamp__", "", false, f_timestamp, 0},
    /* sprig, as Loki registers them */
    {"b64enc", "S", false, f_b64enc, 0},
    {"b64dec", "S", false, f_b64dec, 0},
    {"lower", "S", false, f_lower, 0},
    {"upper", "S", false, f_upper, 0},
    {"title", "S", false, f_title, 0},
    {"trunc", "IS", false, f_trunc, 0},
    {"substr", "IIS", false, f_substr, 0},
    {"contains", "SS", false, f_contains, 0},
    {"hasPrefix", "SS", false, f_hasPrefix, 0},
    {"hasSuffix", "SS", false, f_hasSuffix, 0},
    {"indent", "IS", false, f_indent, 0},
    {"nindent", "IS", false, f_nindent, 0},
    {"replace", "SSS", false, f_replace, 0},
    {"repeat", "IS", false, f_repeat, 0},
    {"trim", "S", false, f_TrimSpace, 0},
    {"trimAll", "SS", false, f_trimAll, 0},
    {"trimSuffix", "SS", false, f_trimSuffix, 0},
    {"trimPrefix", "SS", false, f_trimPrefix, 0},
    {"int", "A", false, f_int, 0},
    {"float64", "A", false, f_float64, 0},
    {"add", "A", true, f_add, 0},
    {"sub", "AA", false, f_sub, 0},
    {"mul", "AA", true, f_mul, 0},
    {"div", "AA", false, f_div, 0},
    {"mod", "AA", false, f_mod, 0},
    {"addf", "A", true, f_addf, 0},
    {"subf", "AA", true, f_subf, 0},
    {"mulf", "AA", true, f_mulf, 0},
    {"divf", "AA", true, f_divf, 0},
    {"max", "AA", true, f_max, 0},
    {"min", "AA", true, f_min, 0},
    {"maxf", "AA", true, f_maxf, 0},
    {"minf", "AA", true, f_minf, 0},
    {"ceil", "A", false, f_ceil, 0},
    {"floor", "A", false, f_floor, 0},
    {"round", "AIF", true, f_round, 0},
    {"date", "SA", false, f_date, 0},
    {"toDate", "SS", false, f_toDate, 0},
    {"now", "", false, f_now, 0},
    {"unixEpoch", "T", false, f_unixEpoch, 0},
    {"default", "AA", true, f_default, 0},
};

static const func_t *find_func(sx_str_t name)
{
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
        if (sx_str_eq_cstr(name, funcs[i].name))
            return &funcs[i];
    return NULL;
}

/* ---- Evaluation ---- */

static const char *ptype_name(char p)
{
    switch (p) {
    case 'S': return "string";
    case 'I': return "int";
    case 'F': return "float64";
    case 'T': return "time.Time";
    default: return "interface {}";
    }
}

static int validate(ctx_t *c, char p, const val_t *v, val_t *out)
{
    if (p == 'A') {
        *out = *v;
        return 0;
    }
    if (v->k == V_INVALID)
        return fail(c, "invalid value; expected %s", ptype_name(p));
    int want = p == 'S' ? V_STRING : p == 'I' ? V_INT : p == 'F' ? V_FLOAT : V_TIME;
    if (v->k != want)
        return fail(c, "wrong type for value; expected %s; got %s", ptype_name(p), type_names[v->k]);
    *out = *v;
    return 0;
}

static int var_lookup(ctx_t *c, sx_str_t name, val_t *out)
{
    for (size_t i = c->nvars; i > 0; i--)
        if (sx_str_eq(c->vars[i - 1].name, name)) {
            *out = c->vars[i - 1].v;
            return 0;
        }
    return fail(c, "undefined variable: %.*s", (int)name.len, name.ptr);
}

static void var_push(ctx_t *c, sx_str_t name, const val_t *v)
{
    if (c->nvars == c->capvars) {
        size_t cap = c->capvars ? c->capvars * 2 : 8;
        var_t *nv = ctx_alloc(c, cap * sizeof(*nv));
        if (c->nvars)
            memcpy(nv, c->vars, c->nvars * sizeof(*nv));
        c->vars = nv;
        c->capvars = cap;
    }
    c->vars[c->nvars].name = name;
    c->vars[c->nvars].v = *v;
    c->nvars++;
}

static int eval_pipeline(ctx_t *c, const val_t *dot, const pipe_t *p, val_t *out);
static int eval_call(ctx_t *c, const val_t *dot, const func_t *fn, const arg_t *args, uint32_t nargs,
                     const val_t *final, uint32_t pos, sx_str_t text, val_t *out);

/* Field access on a value: the labels map, or an error. */
static int eval_field(ctx_t *c, const val_t *recv, sx_str_t name, bool has_args, val_t *out)
{
    if (recv->k == V_INVALID) {
        *out = (val_t){0};
        return 0;
    }
    if (recv->k == V_MAP) {
        if (has_args)
            return fail(c, "%.*s is not a method but has arguments", (int)name.len, name.ptr);
        sx_str_t v = SX_STR_LIT("");
        sx_lq_labels_get(c->lb, name, &v); /* missingkey=zero */
        *out = vstr(v);
        return 0;
    }
    return fail(c, "can't evaluate field %.*s in type %s", (int)name.len, name.ptr, type_names[recv->k]);
}

static int eval_chain(ctx_t *c, val_t recv, const sx_str_t *ids, uint32_t n, bool has_args, val_t *out)
{
    for (uint32_t i = 0; i < n; i++) {
        val_t nx;
        if (eval_field(c, &recv, ids[i], i + 1 == n && has_args, &nx))
            return -1;
        recv = nx;
    }
    *out = recv;
    return 0;
}

static int eval_var(ctx_t *c, const arg_t *a, bool has_args, val_t *out)
{
    val_t v;
    if (var_lookup(c, a->str, &v))
        return -1;
    if (a->nidents == 0) {
        if (has_args)
            return fail(c, "can't give argument to non-function %.*s", (int)a->text.len, a->text.ptr);
        *out = v;
        return 0;
    }
    return eval_chain(c, v, a->idents, a->nidents, has_args, out);
}

/* An argument for a parameter of type p (Go's evalArg). */
static int eval_arg(ctx_t *c, const val_t *dot, char p, const arg_t *a, val_t *out)
{
    at(c, a->pos, a->text);
    val_t v;
    switch (a->kind) {
    case A_DOT:
        return validate(c, p, dot, out);
    case A_NIL:
        if (p == 'A') {
            *out = (val_t){0};
            return 0;
        }
        return fail(c, "cannot assign nil to %s", ptype_name(p));
    case A_FIELD:
        if (eval_chain(c, *dot, a->idents, a->nidents, false, &v))
            return -1;
        return validate(c, p, &v, out);
    case A_VAR:
        if (eval_var(c, a, false, &v))
            return -1;
        return validate(c, p, &v, out);
    case A_PIPE:
        if (eval_pipeline(c, dot, a->pipe, &v))
            return -1;
        at(c, a->pos, a->text);
        return validate(c, p, &v, out);
    case A_IDENT:
        if (eval_call(c, dot, a->fn, NULL, 0, NULL, a->pos, a->text, &v))
            return -1;
        at(c, a->pos, a->text);
        return validate(c, p, &v, out);
    default:
        break;
    }
    switch (p) {
    case 'S':
        if (a->kind == A_STRING) {
            *out = vstr(a->str);
            return 0;
        }
        return fail(c, "expected string; found %.*s", (int)a->text.len, a->text.ptr);
    case 'I':
        if (a->kind == A_NUMBER && a->is_int) {
            *out = vint(a->i);
            return 0;
        }
        return fail(c, "expected integer; found %.*s", (int)a->text.len, a->text.ptr);
    case 'F':
        if (a->kind == A_NUMBER && a->is_float) {
            *out = vfloat(a->f);
            return 0;
        }
        return fail(c, "expected float; found %.*s", (int)a->text.len, a->text.ptr);
    case 'T':
        return fail(c, "can't handle %.*s for arg of type time.Time", (int)a->text.len, a->text.ptr);
    default:
        if (a->kind == A_STRING) {
            *out = vstr(a->str);
        } else if (a->kind == A_BOOL) {
            *out = vbool(a->b);
        } else {
            if (a->float_text)
                *out = vfloat(a->f);
            else if (a->is_int)
                *out = vint(a->i);
            else
                return fail(c, "%.*s overflows int", (int)a->text.len, a->text.ptr);
        }
        return 0;
    }
}

static int eval_call(ctx_t *c, const val_t *dot, const func_t *fn, const arg_t *args, uint32_t nargs,
                     const val_t *final, uint32_t pos, sx_str_t text, val_t *out)
{
    at(c, pos, text);
    int np = (int)strlen(fn->params);
    int num_in = (int)nargs + (final ? 1 : 0);
    int num_fixed = (int)nargs;
    if (fn->variadic) {
        num_fixed = np - 1;
        if (num_in < num_fixed) {
            at(c, pos, sx_str(fn->name));
            return fail(c, "wrong number of args for %s: want at least %d got %u", fn->name, np - 1, nargs);
        }
    } else if (num_in != np) {
        at(c, pos, sx_str(fn->name));
        return fail(c, "wrong number of args for %s: want %d got %d", fn->name, np, num_in);
    }
    if (fn->special) {
        /* and / or: evaluate left to right, stop at the deciding value. */
        val_t v = {0};
        for (uint32_t i = 0; i < nargs; i++) {
            if (eval_arg(c, dot, 'A', &args[i], &v))
                return -1;
            if (truth(c, &v) == (fn->special == 2)) {
                *out = v;
                return 0;
            }
        }
        if (final)
            v = *final;
        *out = v;
        return 0;
    }
    val_t small[8];
    val_t *argv = num_in <= 8 ? small : ctx_alloc(c, (size_t)num_in * sizeof(val_t));
    int i = 0;
    for (; i < num_fixed && i < (int)nargs; i++)
        if (eval_arg(c, dot, fn->params[i], &args[i], &argv[i]))
            return -1;
    if (fn->variadic)
        for (; i < (int)nargs; i++)
            if (eval_arg(c, dot, fn->params[np - 1], &args[i], &argv[i]))
                return -1;
    if (final) {
        char t = fn->params[np - 1];
        if (fn->variadic && num_in - 1 < num_fixed)
            t = fn->params[num_in - 1];
        at(c, pos, text);
        if (validate(c, t, final, &argv[i]))
            return -1;
    }
    at(c, pos, text);
    c->fname = fn->name;
    call_site_t cs = {args, nargs};
    const call_site_t *saved = cur_site;
    cur_site = &cs;
    int rc = fn->impl(c, argv, num_in, out);
    cur_site = saved;
    if (rc || c->failed)
        return -1;
    if (out->k == V_STRING && out->s.len > MAX_RESULT)
        return call_err(c, "result too large");
    return 0;
}

static int eval_command(ctx_t *c, const val_t *dot, const cmd_t *cmd, const val_t *final, val_t *out)
{
    const arg_t *first = &cmd->args[0];
    bool has_args = cmd->nargs > 1 || final;
    at(c, first->pos, first->text);
    switch (first->kind) {
    case A_FIELD:
        return eval_chain(c, *dot, first->idents, first->nidents, has_args, out);
    case A_IDENT:
        return eval_call(c, dot, first->fn, cmd->args + 1, cmd->nargs - 1, final, cmd->pos, cmd->text, out);
    case A_VAR:
        return eval_var(c, first, has_args, out);
    default:
        break;
    }
    if (has_args)
        return fail(c, "can't give argument to non-function %.*s", (int)first->text.len, first->text.ptr);
    switch (first->kind) {
    case A_PIPE:
        return eval_pipeline(c, dot, first->pipe, out);
    case A_BOOL:
        *out = vbool(first->b);
        return 0;
    case A_DOT:
        *out = *dot;
        return 0;
    case A_NIL:
        return fail(c, "nil is not a command");
    case A_STRING:
        *out = vstr(first->str);
        return 0;
    case A_NUMBER:
        if (first->float_text)
            *out = vfloat(first->f);
        else if (first->is_int)
            *out = vint(first->i);
        else
            return fail(c, "%.*s overflows int", (int)first->text.len, first->text.ptr);
        return 0;
    default:
        return fail(c, "can't evaluate command");
    }
}

static int eval_pipeline(ctx_t *c, const val_t *dot, const pipe_t *p, val_t *out)
{
    val_t v = {0};
    for (uint32_t i = 0; i < p->ncmds; i++) {
        val_t nv;
        if (eval_command(c, dot, &p->cmds[i], i ? &v : NULL, &nv))
            return -1;
        v = nv;
    }
    if (p->decl) {
        var_push(c, p->var, &v);
    } else if (p->assign) {
        for (size_t i = c->nvars; i > 0; i--)
            if (sx_str_eq(c->vars[i - 1].name, p->var)) {
                c->vars[i - 1].v = v;
                break;
            }
    }
    *out = v;
    return 0;
}

static int walk(ctx_t *c, const val_t *dot, const node_t *nd)
{
    for (; nd; nd = nd->next) {
        switch (nd->kind) {
        case N_TEXT:
            sx_buf_append(c->out, nd->text.ptr, nd->text.len);
            if (c->out->len > MAX_EXEC)
                return fail(c, "template output exceeds %u MiB", MAX_EXEC >> 20);
            break;
        case N_ACTION: {
            val_t v;
            if (eval_pipeline(c, dot, nd->pipe, &v))
                return -1;
            if (!nd->pipe->decl && !nd->pipe->assign) {
                sbuf_t o = {*c->out};
                fmt_v(c, &o, &v, true);
                *c->out = o.b;
                if (c->out->len > MAX_EXEC)
                    return fail(c, "template output exceeds %u MiB", MAX_EXEC >> 20);
            }
            break;
        }
        case N_IF: case N_WITH: {
            size_t mark = c->nvars;
            val_t v;
            if (eval_pipeline(c, dot, nd->pipe, &v))
                return -1;
            int rc = 0;
            if (truth(c, &v))
                rc = walk(c, nd->kind == N_WITH ? &v : dot, nd->list);
            else if (nd->else_list)
                rc = walk(c, dot, nd->else_list);
            c->nvars = mark;
            if (rc)
                return -1;
            break;
        }
        }
    }
    return 0;
}

/* ---- Public interface ---- */

static void precompile_pipe(parser_t *p, pipe_t *pp);

static void precompile_args(parser_t *p, cmd_t *cmd)
{
    for (uint32_t i = 0; i < cmd->nargs; i++)
        if (cmd->args[i].kind == A_PIPE)
            precompile_pipe(p, cmd->args[i].pipe);
    const arg_t *f = &cmd->args[0];
    if (f->kind != A_IDENT || cmd->nargs < 2 || cmd->args[1].kind != A_STRING)
        return;
    if (strcmp(f->fn->name, "regexReplaceAll") && strcmp(f->fn->name, "regexReplaceAllLiteral") &&
        strcmp(f->fn->name, "count"))
        return;
    arg_t *ra = &cmd->args[1];
    char err[300];
    ra->re = re_compile(ra->str, err, sizeof(err));
    if (!ra->re) {
        ra->re_err = sx_arena_strndup(p->a, err, strlen(err));
        return;
    }
    sx_lq_tmpl_t *t = p->t;
    if (t->nregexes == t->capregexes) {
        size_t cap = t->capregexes ? t->capregexes * 2 : 4;
        pcre2_code **nr = palloc(p, cap * sizeof(*nr));
        if (t->nregexes)
            memcpy(nr, t->regexes, t->nregexes * sizeof(*nr));
        t->regexes = nr;
        t->capregexes = cap;
    }
    t->regexes[t->nregexes++] = ra->re;
}

static void precompile_pipe(parser_t *p, pipe_t *pp)
{
    for (uint32_t i = 0; i < pp->ncmds; i++)
        precompile_args(p, &pp->cmds[i]);
}

static void precompile(parser_t *p, node_t *nd)
{
    for (; nd; nd = nd->next) {
        if (nd->pipe)
            precompile_pipe(p, nd->pipe);
        precompile(p, nd->list);
        precompile(p, nd->else_list);
    }
}

sx_lq_tmpl_t *sx_lq_tmpl_compile(sx_str_t src, const char *name, sx_arena_t *a, sx_err_t *err)
{
    sx_lq_tmpl_t *t = sx_arena_calloc(a, 1, sizeof(*t));
    char *copy = sx_arena_strndup(a, src.ptr ? src.ptr : "", src.len);
    char *nm = sx_arena_strndup(a, name ? name : "template", name ? strlen(name) : 8);
    if (!t || !copy || !nm) {
        sx_err_set(err, SX_ENOMEM, "out of memory");
        return NULL;
    }
    t->src = (sx_str_t){copy, src.len};
    t->name = nm;
    parser_t p = {.lx = {.s = copy, .n = src.len}, .a = a, .err = err, .t = t};
    int stop;
    tok_t st;
    t->root = parse_list(&p, &stop, &st);
    if (!p.failed && stop == T_END)
        perr(&p, st.pos, "unexpected {{end}}");
    if (!p.failed && stop == T_ELSE)
        perr(&p, st.pos, "unexpected {{else}}");
    if (p.failed)
        return NULL;
    precompile(&p, t->root);
    return t;
}

void sx_lq_tmpl_dispose(sx_lq_tmpl_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nregexes; i++)
        pcre2_code_free(t->regexes[i]);
    t->nregexes = 0;
}

int sx_lq_tmpl_exec(const sx_lq_tmpl_t *t, sx_lq_labels_t *lb, sx_str_t line, int64_t ts_ns,
                    sx_buf_t *out, sx_buf_t *errmsg)
{
    ctx_t c = {.t = t, .lb = lb, .line = line, .ts = ts_ns, .out = out, .errmsg = errmsg};
    val_t dot = {.k = V_MAP};
    var_push(&c, SX_STR_LIT("$"), &dot);
    return walk(&c, &dot, t->root) ? SX_EEXEC : 0;
}

bool sx_lq_tmpl_simple_field(const sx_lq_tmpl_t *t, sx_str_t *name)
{
    const node_t *n = t->root;
    if (!n || n->next || n->kind != N_ACTION)
        return false;
    const pipe_t *p = n->pipe;
    if (p->decl || p->assign || p->ncmds != 1 || p->cmds[0].nargs != 1)
        return false;
    const arg_t *a = &p->cmds[0].args[0];
    if (a->kind != A_FIELD || a->nidents != 1)
        return false;
    if (name)
        *name = a->idents[0];
    return true;
}

size_t sx_lq_tmpl_fields(const sx_lq_tmpl_t *t, sx_str_t *names, size_t max)
{
    for (size_t i = 0; i < t->nfields && i < max; i++)
        names[i] = t->fields[i];
    return t->nfields;
}
