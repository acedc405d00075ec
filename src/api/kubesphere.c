/* SPDX-License-Identifier: Apache-2.0 */
/* KubeSphere's logging, events and auditing query API: the 3.4 tenant
 * routes (/kapis/tenant.kubesphere.io/v1alpha2/{logs,events,auditing/events})
 * and the WhizardTelemetry 4.x routes under logging.kubesphere.io, answered
 * from the tenant's log store, Kubernetes event store and audit store.
 *
 * KubeSphere turns each parameter into an OpenSearch clause; this file
 * gives every clause the meaning it has there (exact keyword equality,
 * match_phrase / match_phrase_prefix over the standard analyzer's tokens,
 * wildcard "*kw*" substrings, the apiserver's strings.Contains) and
 * evaluates it over stream labels (once per stream) and over entries.
 *
 * Invariant: memory grows with the page, never with the matches. Totals,
 * histograms and cardinalities are counted while scanning; a page of
 * from+size records is kept in a bounded heap. Without an entry filter the
 * page costs two passes: timestamps only (cheap: no line decompression) to
 * find the page's boundary, then the lines of just the streams and entries
 * on the page, each stream read newest first and left as soon as its share
 * of the page is complete. */
#include "api.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/hash.h"
#include "../core/time.h"

/* ---- Limits (OpenSearch's and KubeSphere's defaults) ---- */

#define KS_MAX_RESULT_WINDOW 10000 /* index.max_result_window: from + size */
#define KS_EXPORT_LIMIT 100000     /* exportLogsLimit: 100 scroll pages of 1000 */
#define KS_MAX_BUCKETS 65535       /* search.max_buckets */
#define KS_STOP 1                  /* a read callback's "enough" (error codes are negative) */

/* ---- Answers ---- */

/* KubeSphere answers a bad parameter with http.Error (text/plain, status
 * 500); we answer 400 with a small JSON object instead, as the API's
 * other clients of this server expect JSON. */
static void ks_error(sx_req_t *req, int status, const char *msg)
{
    sx_buf_clear(&req->out);
    sx_buf_puts(&req->out, "{\"message\":");
    sx_buf_json_str(&req->out, msg, strlen(msg));
    sx_buf_putc(&req->out, '}');
    sx_resp_set(req, status, "application/json");
}

/* ---- Parameters ---- */

/* Go's strconv.ParseInt(s, 10, 64). Returns 0, or -1 with *why set to
 * Go's reason ("invalid syntax", "value out of range"). */
static int go_parse_int(const char *s, int64_t *out, const char **why)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (!*p) {
        *why = "invalid syntax";
        return -1;
    }
    uint64_t v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') {
            *why = "invalid syntax";
            return -1;
        }
        unsigned d = (unsigned)(*p - '0');
        if (v > ((uint64_t)INT64_MAX + 1 - d) / 10) {
            *why = "value out of range"; /* Go stops at the first problem */
            return -1;
        }
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0)) {
        *why = "value out of range";
        return -1;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* start_time/end_time: Unix seconds (ParseInt). Absent or empty: *set is
 * false. Returns -1 after answering 400. */
static int secs_param(sx_req_t *req, const char *name, bool *set, int64_t *ns)
{
    const char *v = sx_req_param(req, name);
    *set = false;
    if (!v || !*v)
        return 0;
    int64_t sec;
    const char *why;
    if (go_parse_int(v, &sec, &why)) {
        ks_error(req, 400,
                 sx_arena_sprintf(&req->arena, "invalid %s: strconv.ParseInt: parsing \"%s\": %s",
                                  name, v, why));
        return -1;
    }
    if (sec > INT64_MAX / 1000000000LL)
        *ns = INT64_MAX;
    else if (sec < INT64_MIN / 1000000000LL)
        *ns = INT64_MIN;
    else
        *ns = sec * 1000000000LL;
    *set = true;
    return 0;
}

/* A comma-separated list as stringutils.Split gives it: absent or empty =
 * no list (n == 0); otherwise every piece, empty ones included. */
typedef struct ks_list {
    sx_str_t *v;
    size_t n;
} ks_list_t;

static ks_list_t list_param(sx_req_t *req, const char *name)
{
    ks_list_t l = {NULL, 0};
    const char *v = sx_req_param(req, name);
    if (!v || !*v)
        return l;
    size_t n = 1;
    for (const char *p = v; *p; p++)
        n += *p == ',';
    l.v = sx_arena_alloc(&req->arena, n * sizeof(sx_str_t));
    const char *s = v;
    for (;;) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        l.v[l.n++] = (sx_str_t){s, len};
        if (!c)
            break;
        s = c + 1;
    }
    return l;
}

static bool list_has(const ks_list_t *l, sx_str_t v)
{
    for (size_t i = 0; i < l->n; i++)
        if (sx_str_eq(l->v[i], v))
            return true;
    return false;
}

static bool str_contains(sx_str_t hay, sx_str_t needle)
{
    if (needle.len == 0)
        return true;
    return hay.len >= needle.len && sx_memmem(hay.ptr, hay.len, needle.ptr, needle.len) != NULL;
}

/* strings.Contains / wildcard "*kw*" on a keyword: any piece is a
 * (case-sensitive) substring. */
static bool list_contains_any(const ks_list_t *l, sx_str_t v)
{
    for (size_t i = 0; i < l->n; i++)
        if (str_contains(v, l->v[i]))
            return true;
    return false;
}

/* ---- The standard analyzer (Lucene's StandardTokenizer + lowercase) ----
 *
 * Word boundaries as UAX #29 draws them for the characters logs are made
 * of: letters, digits and '_' join; ':' and '.' and '\'' join two letters
 * ("foo.bar", "dog's", "k:v"); '.', ',', ';' and '\'' join two digits
 * ("3.14", "1,000"); anything else separates. A token needs a letter or a
 * digit. Han ideographs and Hiragana are one token per character, as
 * Lucene emits them. Other non-ASCII characters count as letters, except
 * common punctuation and symbol blocks. Lower-casing folds ASCII only. */

enum { C_BRK, C_L, C_N, C_E, C_ML, C_MNL, C_MN, C_IDEO };

static int char_class(const char *s, size_t len, size_t i, size_t *clen)
{
    unsigned char c = (unsigned char)s[i];
    *clen = 1;
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            return C_L;
        if (c >= '0' && c <= '9')
            return C_N;
        switch (c) {
        case '_':
            return C_E;
        case ':':
            return C_ML;
        case '.':
        case '\'':
            return C_MNL;
        case ',':
        case ';':
            return C_MN;
        default:
            return C_BRK;
        }
    }
    /* Decode one UTF-8 sequence; an invalid byte counts as a letter. */
    uint32_t cp;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF)
        cp = c & 0x1F, n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        cp = c & 0x0F, n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        cp = c & 0x07, n = 4;
    else
        return C_L;
    if (i + n > len)
        return C_L;
    for (size_t k = 1; k < n; k++) {
        unsigned char d = (unsigned char)s[i + k];
        if ((d & 0xC0) != 0x80)
            return C_L;
        cp = (cp << 6) | (d & 0x3F);
    }
    *clen = n;
    if ((cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||
        (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2FFFF) ||
        (cp >= 0x3040 && cp <= 0x309F))
        return C_IDEO;
    if (cp == 0xB7)
        return C_ML;
    if (cp == 0x2018 || cp == 0x2019 || cp == 0x2024 || cp == 0xFE52 || cp == 0xFF07 ||
        cp == 0xFF0E)
        return C_MNL;
    if ((cp >= 0x80 && cp <= 0xBF && cp != 0xAA && cp != 0xB5 && cp != 0xBA) || cp == 0xD7 ||
        cp == 0xF7 || (cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x2190 && cp <= 0x2BFF) ||
        (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
        (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
        (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) ||
        (cp >= 0x1F000 && cp <= 0x1FAFF))
        return C_BRK;
    return C_L;
}

/* The next token at or after *pos (a slice of s, not lower-cased); false
 * at the end. */
static bool next_token(const char *s, size_t len, size_t *pos, sx_str_t *tok)
{
    size_t i = *pos, cl;
    while (i < len) {
        int c = char_class(s, len, i, &cl);
        if (c == C_IDEO) {
            *tok = (sx_str_t){s + i, cl};
            *pos = i + cl;
            return true;
        }
        if (c != C_L && c != C_N && c != C_E) {
            i += cl;
            continue;
        }
        size_t start = i;
        bool alnum = c != C_E;
        int prev = c;
        i += cl;
        while (i < len) {
            int d = char_class(s, len, i, &cl);
            if (d == C_L || d == C_N || d == C_E) {
                alnum |= d != C_E;
                prev = d;
                i += cl;
                continue;
            }
            if ((d == C_ML || d == C_MNL || d == C_MN) && i + cl < len) {
                size_t cl2;
                int e = char_class(s, len, i + cl, &cl2);
                if (((d == C_ML || d == C_MNL) && prev == C_L && e == C_L) ||
                    ((d == C_MN || d == C_MNL) && prev == C_N && e == C_N)) {
                    i += cl + cl2;
                    prev = e;
                    continue;
                }
            }
            break;
        }
        if (alnum) {
            *tok = (sx_str_t){s + start, i - start};
            *pos = i;
            return true;
        }
    }
    *pos = len;
    return false;
}

static inline char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* A keyword analyzed: its tokens, lower-cased, in the request arena. */
typedef struct ks_phrase {
    sx_str_t *tok;
    size_t n;
} ks_phrase_t;

typedef struct ks_phrases {
    ks_phrase_t *p;
    size_t n;
} ks_phrases_t;

static ks_phrase_t phrase_make(sx_arena_t *a, sx_str_t kw)
{
    ks_phrase_t ph = {NULL, 0};
    size_t cap = 0, pos = 0;
    sx_str_t t;
    while (next_token(kw.ptr, kw.len, &pos, &t)) {
        if (ph.n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            ph.tok = sx_arena_realloc(a, ph.tok, cap * sizeof(sx_str_t), ncap * sizeof(sx_str_t));
            cap = ncap;
        }
        char *c = sx_arena_strndup(a, t.ptr, t.len);
        for (size_t i = 0; i < t.len; i++)
            c[i] = lower(c[i]);
        ph.tok[ph.n++] = (sx_str_t){c, t.len};
    }
    return ph;
}

static ks_phrases_t phrases_param(sx_req_t *req, const char *name)
{
    ks_list_t l = list_param(req, name);
    ks_phrases_t ps = {NULL, l.n};
    if (l.n) {
        ps.p = sx_arena_alloc(&req->arena, l.n * sizeof(ks_phrase_t));
        for (size_t i = 0; i < l.n; i++)
            ps.p[i] = phrase_make(&req->arena, l.v[i]);
    }
    return ps;
}

/* Case-insensitive (ASCII) substring test; needle is lower-case. The
 * first byte is found with memchr in both cases (fast on long lines). */
static bool ci_contains(sx_str_t hay, sx_str_t needle)
{
    if (needle.len == 0)
        return true;
    if (hay.len < needle.len)
        return false;
    char f = needle.ptr[0], u = f >= 'a' && f <= 'z' ? (char)(f - 32) : f;
    const char *p = hay.ptr, *end = hay.ptr + hay.len - needle.len + 1;
    const char *pl = memchr(p, f, (size_t)(end - p));
    const char *pu = u != f ? memchr(p, u, (size_t)(end - p)) : NULL;
    while (pl || pu) {
        const char *c = !pu || (pl && pl < pu) ? pl : pu;
        size_t k = 1;
        while (k < needle.len && lower(c[k]) == needle.ptr[k])
            k++;
        if (k == needle.len)
            return true;
        if (c == pl)
            pl = c + 1 < end ? memchr(c + 1, f, (size_t)(end - c - 1)) : NULL;
        else
            pu = c + 1 < end ? memchr(c + 1, u, (size_t)(end - c - 1)) : NULL;
    }
    return false;
}

static bool ci_prefix(sx_str_t tok, sx_str_t q)
{
    if (tok.len < q.len)
        return false;
    for (size_t i = 0; i < q.len; i++)
        if (lower(tok.ptr[i]) != q.ptr[i])
            return false;
    return true;
}

/* Reusable token array for one request. */
typedef struct ks_toks {
    sx_str_t *t;
    size_t n, cap;
} ks_toks_t;

/* match_phrase (prefix false) or match_phrase_prefix (prefix true) of one
 * analyzed keyword against a text: the keyword's tokens appear in order
 * and adjacent; with prefix, the last one only has to start a token. A
 * keyword without tokens matches nothing (zero_terms_query "none"). */
static bool phrase_match(ks_toks_t *tb, sx_str_t text, const ks_phrase_t *q, bool prefix)
{
    if (q->n == 0 || !text.ptr)
        return false;
    for (size_t i = 0; i < q->n; i++)
        if (!ci_contains(text, q->tok[i]))
            return false;
    /* Tokenize, checking the window that ends at each new token, and
     * stop at the first match. */
    tb->n = 0;
    size_t pos = 0;
    sx_str_t t;
    while (next_token(text.ptr, text.len, &pos, &t)) {
        if (tb->n == tb->cap) {
            tb->cap = tb->cap ? tb->cap * 2 : 64;
            tb->t = sx_xrealloc(tb->t, tb->cap * sizeof(sx_str_t));
        }
        tb->t[tb->n++] = t;
        if (tb->n < q->n)
            continue;
        const sx_str_t *w = &tb->t[tb->n - q->n];
        size_t j = 0;
        for (; j < q->n; j++) {
            bool last = j + 1 == q->n;
            if (!ci_prefix(w[j], q->tok[j]) || (!(last && prefix) && w[j].len != q->tok[j].len))
                break;
        }
        if (j == q->n)
            return true;
    }
    return false;
}

static bool phrases_any(ks_toks_t *tb, sx_str_t text, const ks_phrases_t *ps, bool prefix)
{
    for (size_t i = 0; i < ps->n; i++)
        if (phrase_match(tb, text, &ps->p[i], prefix))
            return true;
    return false;
}

/* ---- Workloads: pod names as Kubernetes controllers make them ---- */

static bool all_in(const char *p, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!p[i] || !strchr(set, p[i]))
            return false;
    return true;
}

#define KS_RS_CHARS "bcdfghjklmnpqrstvwxz2456789" /* ReplicaSet hash alphabet */
#define KS_AN_CHARS "abcdefghijklmnopqrstuvwxyz0123456789"
#define KS_DIGITS "0123456789"

/* Whether pod matches KubeSphere's podNameRegexp(wl), the anchored regexp
 *   wl-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[a-z0-9]{5} | wl-[0-9]+ | wl-[a-z0-9]{5}
 * (Deployment, StatefulSet, DaemonSet/Job pods), with its variants for
 * names near the 63-character limit of a pod name. */
static bool pod_of_workload(sx_str_t wl, sx_str_t pod)
{
    const size_t max = 63, sfx = 6, rs = 11;
    size_t L = wl.len;
    if (!pod.ptr)
        return false;
    if (L > max - sfx) {
        size_t k = max - sfx + 1; /* the name is cut and the suffix glued on */
        if (pod.len == k + 5 && memcmp(pod.ptr, wl.ptr, k) == 0 &&
            all_in(pod.ptr + k, 5, KS_AN_CHARS))
            return true;
    }
    if (pod.len <= L + 1 || memcmp(pod.ptr, wl.ptr, L) != 0 || pod.ptr[L] != '-')
        return false;
    const char *r = pod.ptr + L + 1;
    size_t rn = pod.len - L - 1;
    if (all_in(r, rn, KS_DIGITS))
        return true;
    if (L > max - sfx)
        return false;
    if (rn == 5 && all_in(r, 5, KS_AN_CHARS))
        return true;
    if (L <= max - rs - sfx)
        return rn >= 7 && rn <= 16 && r[rn - 6] == '-' && all_in(r, rn - 6, KS_RS_CHARS) &&
               all_in(r + rn - 5, 5, KS_AN_CHARS);
    size_t k = max - sfx - L; /* wl-[rs]{k}[a-z0-9]{5}, no second hyphen */
    return rn == k + 5 && all_in(r, k, KS_RS_CHARS) && all_in(r + k, 5, KS_AN_CHARS);
}

/* ---- Histogram intervals (OpenSearch date_histogram "interval") ---- */

typedef struct ks_interval {
    char cal;       /* 0 = fixed; 'w', 'M', 'q', 'y' = calendar unit */
    int64_t ms;     /* fixed width */
} ks_interval_t;

/* [0-9]+[smhdwMqy] as KubeSphere documents it. One unit of anything is a
 * calendar interval; several seconds, minutes, hours or days are a fixed
 * one; several weeks, months, quarters or years are refused, as
 * OpenSearch refuses them. Returns -1 after answering 400. */
static int interval_param(sx_req_t *req, const char *v, ks_interval_t *iv)
{
    size_t n = strlen(v), d = 0;
    while (d < n && v[d] >= '0' && v[d] <= '9')
        d++;
    if (d == 0 || d + 1 != n || !strchr("smhdwMqy", v[d])) {
        ks_error(req, 400,
                 sx_arena_sprintf(&req->arena,
                                  "invalid interval \"%s\": the format is [0-9]+[smhdwMqy]", v));
        return -1;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < d; i++) {
        x = x * 10 + (uint64_t)(v[i] - '0');
        if (x > (uint64_t)1 << 40)
            break;
    }
    char u = v[d];
    iv->cal = 0;
    if (x == 1 && strchr("wMqy", u)) {
        iv->cal = u;
        iv->ms = 0;
        return 0;
    }
    int64_t unit = u == 's'   ? 1000
                   : u == 'm' ? 60000
                   : u == 'h' ? 3600000
                   : u == 'd' ? 86400000
                              : 0;
    if (!unit) {
        ks_error(req, 400,
                 sx_arena_sprintf(&req->arena,
                                  "failed to parse setting [date_histogram.interval] with value "
                                  "[%s] as a time value: unit is missing or unrecognized",
                                  v));
        return -1;
    }
    if (x == 0) {
        ks_error(req, 400, "Zero or negative time interval not supported");
        return -1;
    }
    if (x > (uint64_t)(INT64_MAX / 4 / unit)) {
        ks_error(req, 400, sx_arena_sprintf(&req->arena, "interval \"%s\" is too large", v));
        return -1;
    }
    iv->ms = (int64_t)x * unit;
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

#define DAY_MS 86400000LL

/* The bucket holding ms (UTC, weeks start on Monday), and the next one. */
static int64_t bucket_floor(const ks_interval_t *iv, int64_t ms)
{
    if (!iv->cal)
        return floor_div(ms, iv->ms) * iv->ms;
    int64_t days = floor_div(ms, DAY_MS);
    if (iv->cal == 'w')
        return (days - (days + 3 - floor_div(days + 3, 7) * 7)) * DAY_MS;
    int64_t y;
    int m;
    civil_from_days(days, &y, &m);
    if (iv->cal == 'q')
        m = (m - 1) / 3 * 3 + 1;
    else if (iv->cal == 'y')
        m = 1;
    return days_from_civil(y, m, 1) * DAY_MS;
}

static int64_t bucket_next(const ks_interval_t *iv, int64_t key)
{
    if (!iv->cal)
        return key + iv->ms;
    if (iv->cal == 'w')
        return key + 7 * DAY_MS;
    int64_t y;
    int m;
    civil_from_days(floor_div(key, DAY_MS), &y, &m);
    m += iv->cal == 'M' ? 1 : iv->cal == 'q' ? 3 : 12;
    y += (m - 1) / 12;
    m = (m - 1) % 12 + 1;
    return days_from_civil(y, m, 1) * DAY_MS;
}

/* ---- Small hash tables ---- */

/* Bucket key (ms) -> count. */
typedef struct ks_hist {
    int64_t *key;
    uint64_t *cnt;
    bool *used;
    size_t cap, n;
    ks_interval_t iv;
    int64_t lo, hi; /* the last bucket touched: [lo, hi) */
    size_t cur;     /* its slot */
    bool have_cur;
} ks_hist_t;

static size_t hist_slot(const ks_hist_t *h, int64_t k)
{
    size_t i = (size_t)sx_hash64(&k, sizeof(k)) & (h->cap - 1);
    while (h->used[i] && h->key[i] != k)
        i = (i + 1) & (h->cap - 1);
    return i;
}

static void hist_grow(ks_hist_t *h)
{
    ks_hist_t o = *h;
    h->cap = o.cap ? o.cap * 2 : 64;
    h->key = sx_xcalloc(h->cap, sizeof(int64_t));
    h->cnt = sx_xcalloc(h->cap, sizeof(uint64_t));
    h->used = sx_xcalloc(h->cap, sizeof(bool));
    for (size_t i = 0; i < o.cap; i++)
        if (o.used[i]) {
            size_t j = hist_slot(h, o.key[i]);
            h->used[j] = true;
            h->key[j] = o.key[i];
            h->cnt[j] = o.cnt[i];
        }
    free(o.key);
    free(o.cnt);
    free(o.used);
    if (h->have_cur)
        h->cur = hist_slot(h, h->lo);
}

static void hist_add(ks_hist_t *h, int64_t ns)
{
    int64_t ms = floor_div(ns, 1000000);
    if (!h->have_cur || ms < h->lo || ms >= h->hi) {
        int64_t k = bucket_floor(&h->iv, ms);
        if ((h->n + 1) * 2 > h->cap)
            hist_grow(h);
        size_t i = hist_slot(h, k);
        if (!h->used[i]) {
            h->used[i] = true;
            h->key[i] = k;
            h->cnt[i] = 0;
            h->n++;
        }
        h->lo = k;
        h->hi = bucket_next(&h->iv, k);
        h->cur = i;
        h->have_cur = true;
    }
    h->cnt[h->cur]++;
}

static void hist_dispose(ks_hist_t *h)
{
    free(h->key);
    free(h->cnt);
    free(h->used);
}

/* A set of strings (copies in an arena), for cardinalities. */
typedef struct ks_set {
    sx_str_t *v;
    uint64_t *h;
    size_t cap, n;
} ks_set_t;

static void set_add(ks_set_t *s, sx_arena_t *a, sx_str_t v)
{
    if ((s->n + 1) * 2 > s->cap) {
        ks_set_t o = *s;
        s->cap = o.cap ? o.cap * 2 : 64;
        s->v = sx_xcalloc(s->cap, sizeof(sx_str_t));
        s->h = sx_xcalloc(s->cap, sizeof(uint64_t));
        for (size_t i = 0; i < o.cap; i++)
            if (o.v[i].ptr) {
                size_t j = (size_t)o.h[i] & (s->cap - 1);
                while (s->v[j].ptr)
                    j = (j + 1) & (s->cap - 1);
                s->v[j] = o.v[i];
                s->h[j] = o.h[i];
            }
        free(o.v);
        free(o.h);
    }
    uint64_t h = sx_hash64(v.ptr ? v.ptr : "", v.len);
    size_t i = (size_t)h & (s->cap - 1);
    while (s->v[i].ptr) {
        if (s->h[i] == h && sx_str_eq(s->v[i], v))
            return;
        i = (i + 1) & (s->cap - 1);
    }
    s->v[i] = sx_arena_strdup_str(a, v);
    if (!s->v[i].ptr)
        s->v[i].ptr = "";
    s->h[i] = h;
    s->n++;
}

static void set_dispose(ks_set_t *s)
{
    free(s->v);
    free(s->h);
}

/* ---- Records kept for a page ---- */

typedef struct ks_rec {
    int64_t ts;
    uint32_t stream; /* index into the selected streams (sorted by labels) */
    uint64_t seq;    /* delivery order: ties keep it */
    char *text;      /* heap copy of the log text or the line; NULL in the counting pass */
    size_t len;
} ks_rec_t;

/* Whether a comes before b in the answer: by time (newest first when
 * desc), then by stream, then in the order read. */
static bool rec_before(const ks_rec_t *a, const ks_rec_t *b, bool desc)
{
    if (a->ts != b->ts)
        return desc ? a->ts > b->ts : a->ts < b->ts;
    if (a->stream != b->stream)
        return a->stream < b->stream;
    return a->seq < b->seq;
}

static int cmp_rec(const void *x, const void *y, void *arg)
{
    bool desc = *(const bool *)arg;
    const ks_rec_t *a = x, *b = y;
    return rec_before(a, b, desc) ? -1 : rec_before(b, a, desc) ? 1 : 0;
}

/* The best cap records seen so far; the root is the one that comes last. */
typedef struct ks_heap {
    ks_rec_t *r;
    size_t n, cap;
    bool desc;
} ks_heap_t;

static void heap_sift_down(ks_heap_t *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && rec_before(&h->r[m], &h->r[l], h->desc))
            m = l;
        if (r < h->n && rec_before(&h->r[m], &h->r[r], h->desc))
            m = r;
        if (m == i)
            return;
        ks_rec_t t = h->r[i];
        h->r[i] = h->r[m];
        h->r[m] = t;
        i = m;
    }
}

/* Whether a record would enter the heap (checked before copying text). */
static bool heap_wants(const ks_heap_t *h, const ks_rec_t *x)
{
    return h->n < h->cap || (h->cap && rec_before(x, &h->r[0], h->desc));
}

/* Insert x (which heap_wants); its text becomes the heap's. */
static void heap_put(ks_heap_t *h, ks_rec_t x)
{
    if (h->n < h->cap) {
        size_t i = h->n++;
        h->r[i] = x;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!rec_before(&h->r[p], &h->r[i], h->desc))
                break;
            ks_rec_t t = h->r[p];
            h->r[p] = h->r[i];
            h->r[i] = t;
            i = p;
        }
        return;
    }
    free(h->r[0].text);
    h->r[0] = x;
    heap_sift_down(h, 0);
}

static void recs_free(ks_rec_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].text);
}

/* ---- Queries ---- */

enum { OP_QUERY, OP_STATISTICS, OP_HISTOGRAM, OP_EXPORT };

typedef struct ks_logs_filter {
    ks_list_t ns, ns_sub, workloads, pods, containers;
    ks_phrases_t workload_q, pod_q, container_q, log_q;
} ks_logs_filter_t;

typedef struct ks_events_filter {
    ks_list_t ws, ws_sub, ns, ns_sub, names, reason_sub;
    ks_phrases_t name_q, kinds, reasons, message_q;
    ks_phrase_t type;
    bool have_type, scoped;
} ks_events_filter_t;

typedef struct ks_audit_filter {
    ks_list_t ws, ws_sub, ns, ns_sub, names, name_sub, levels, verbs, users, user_sub,
        group_sub, ip_sub, statuses;
    ks_phrases_t resources, subresources;
    int64_t *codes;
    size_t ncodes;
} ks_audit_filter_t;

typedef struct ks_q {
    int kind; /* SX_LOGS, SX_EVENTS, SX_AUDIT */
    sx_req_t *req;
    sx_logstore_t *ls;
    int64_t mint, maxt, deadline;
    bool desc;
    union {
        ks_logs_filter_t logs;
        ks_events_filter_t ev;
        ks_audit_filter_t au;
    } f;
    bool f_lines, f_meta; /* the entry filter reads lines / metadata */
    sx_str_t needles[16];
    sx_log_hint_t hint;
    /* selected streams and whether each passes the label filters */
    sx_log_stream_t *st;
    size_t nst;
    bool *st_ok;
    /* scan state */
    uint32_t cur;
    bool cur_matched;
    uint64_t total, seq;
    ks_hist_t *hist;
    ks_set_t *distinct;
    const char *distinct_meta; /* events/auditing: the metadata counted */
    ks_heap_t heap;
    bool keep_text;
    /* second pass of a page: quotas per stream and the collected records */
    bool pass2;
    int64_t T;
    uint32_t g_rem, e_rem;
    ks_rec_t *out;
    size_t nout, outcap;
    /* scratch */
    ks_toks_t toks;
    sx_buf_t scratch;
} ks_q_t;

static sx_str_t label_get(const sx_label_t *l, uint32_t n, const char *name)
{
    size_t len = strlen(name);
    for (uint32_t i = 0; i < n; i++)
        if (l[i].name.len == len && memcmp(l[i].name.ptr, name, len) == 0)
            return l[i].value.ptr ? l[i].value : (sx_str_t){"", 0};
    return SX_STR_NULL;
}

static sx_str_t stream_label(const ks_q_t *q, uint32_t s, const char *name)
{
    return label_get(q->st[s].labels, q->st[s].nlabels, name);
}

/* The text a log entry stands for: the line, or the "log" field of a
 * Fluent Bit record ({"log":..., "kubernetes":{...}}), which is what
 * KubeSphere stores and searches. Valid until the next call. */
static sx_str_t entry_text(ks_q_t *q, sx_str_t line)
{
    if (q->kind != SX_LOGS || !line.ptr)
        return line;
    size_t i = 0;
    while (i < line.len && (line.ptr[i] == ' ' || line.ptr[i] == '\t'))
        i++;
    if (i == line.len || line.ptr[i] != '{' ||
        !memmem(line.ptr, line.len, "\"kubernetes\"", 12) ||
        !memmem(line.ptr, line.len, "\"log\"", 5))
        return line;
    json_error_t je;
    json_t *o = json_loadb(line.ptr, line.len, JSON_ALLOW_NUL, &je);
    if (!o)
        return line;
    sx_str_t r = line;
    json_t *lg = json_object_get(o, "log"), *k8s = json_object_get(o, "kubernetes");
    if (json_is_string(lg) && json_is_object(k8s)) {
        sx_buf_clear(&q->scratch);
        sx_buf_append(&q->scratch, json_string_value(lg), json_string_length(lg));
        sx_buf_putc(&q->scratch, 0);
        r = (sx_str_t){q->scratch.ptr, q->scratch.len - 1};
    }
    json_decref(o);
    return r;
}

/* ---- Label filters (once per stream) ---- */

static bool logs_stream_ok(ks_q_t *q, uint32_t s)
{
    const ks_logs_filter_t *f = &q->f.logs;
    sx_str_t ns = stream_label(q, s, "namespace"), pod = stream_label(q, s, "pod"),
             cont = stream_label(q, s, "container");
    if (f->ns.n || f->ns_sub.n) {
        if (!ns.ptr || (f->ns.n && !list_has(&f->ns, ns)) ||
            (f->ns_sub.n && !list_contains_any(&f->ns_sub, ns)))
            return false;
    }
    if (f->workloads.n) {
        sx_str_t wl = stream_label(q, s, "workload");
        bool ok = false;
        for (size_t i = 0; i < f->workloads.n && !ok; i++)
            ok = (wl.ptr && sx_str_eq(wl, f->workloads.v[i])) ||
                 pod_of_workload(f->workloads.v[i], pod);
        if (!ok)
            return false;
    }
    if (f->pods.n && (!pod.ptr || !list_has(&f->pods, pod)))
        return false;
    if (f->containers.n && (!cont.ptr || !list_has(&f->containers, cont)))
        return false;
    if (f->workload_q.n && !phrases_any(&q->toks, pod, &f->workload_q, true))
        return false;
    if (f->pod_q.n && !phrases_any(&q->toks, pod, &f->pod_q, true))
        return false;
    if (f->container_q.n && !phrases_any(&q->toks, cont, &f->container_q, true))
        return false;
    return true;
}

static bool events_stream_ok(ks_q_t *q, uint32_t s)
{
    const ks_events_filter_t *f = &q->f.ev;
    sx_str_t ns = stream_label(q, s, "namespace");
    if (f->scoped) {
        /* Only namespaced events, in the namespaces the parameters pick. */
        if (!ns.ptr || (f->ns.n && !list_has(&f->ns, ns)) ||
            (f->ns_sub.n && !list_contains_any(&f->ns_sub, ns)))
            return false;
    }
    if (f->kinds.n && !phrases_any(&q->toks, stream_label(q, s, "kind"), &f->kinds, false))
        return false;
    sx_str_t reason = stream_label(q, s, "reason");
    if (f->reasons.n && !phrases_any(&q->toks, reason, &f->reasons, false))
        return false;
    if (f->reason_sub.n && (!reason.ptr || !list_contains_any(&f->reason_sub, reason)))
        return false;
    if (f->have_type && !phrase_match(&q->toks, stream_label(q, s, "type"), &f->type, false))
        return false;
    return true;
}

static bool audit_stream_ok(ks_q_t *q, uint32_t s)
{
    const ks_audit_filter_t *f = &q->f.au;
    sx_str_t ns = stream_label(q, s, "namespace"), verb = stream_label(q, s, "verb"),
             level = stream_label(q, s, "level"), res = stream_label(q, s, "resource");
    if (f->ns.n && (!ns.ptr || !list_has(&f->ns, ns)))
        return false;
    if (f->ns_sub.n && (!ns.ptr || !list_contains_any(&f->ns_sub, ns)))
        return false;
    if (f->verbs.n && (!verb.ptr || !list_has(&f->verbs, verb)))
        return false;
    if (f->levels.n && (!level.ptr || !list_has(&f->levels, level)))
        return false;
    if (f->resources.n && !phrases_any(&q->toks, res, &f->resources, true))
        return false;
    return true;
}

/* ---- Entry filters ---- */

/* A member of a JSON object under key or, failing that, under key with its
 * first letter upper-cased (KubeSphere stores Go field names). */
static json_t *jget(json_t *o, const char *key)
{
    if (!json_is_object(o))
        return NULL;
    json_t *v = json_object_get(o, key);
    if (!v && key[0] >= 'a' && key[0] <= 'z') {
        char k[64];
        snprintf(k, sizeof(k), "%s", key);
        k[0] = (char)(k[0] - 32);
        v = json_object_get(o, k);
    }
    return v;
}

static bool json_any_contains(json_t *v, const ks_list_t *l)
{
    if (json_is_string(v))
        return list_contains_any(l, (sx_str_t){json_string_value(v), json_string_length(v)});
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (json_is_string(x) &&
                list_contains_any(l, (sx_str_t){json_string_value(x), json_string_length(x)}))
                return true;
        }
    }
    return false;
}

static bool meta_in(const sx_label_t *m, uint32_t nm, const char *name, const ks_list_t *l)
{
    sx_str_t v = label_get(m, nm, name);
    return v.ptr && list_has(l, v);
}

static bool meta_contains(const sx_label_t *m, uint32_t nm, const char *name, const ks_list_t *l)
{
    sx_str_t v = label_get(m, nm, name);
    return v.ptr && list_contains_any(l, v);
}

static bool entry_ok(ks_q_t *q, sx_str_t text, const sx_label_t *m, uint32_t nm)
{
    if (q->kind == SX_LOGS)
        return !q->f.logs.log_q.n || phrases_any(&q->toks, text, &q->f.logs.log_q, true);
    if (q->kind == SX_EVENTS) {
        const ks_events_filter_t *f = &q->f.ev;
        if (f->ws.n || f->ws_sub.n) {
            sx_str_t ws = label_get(m, nm, "workspace");
            if (!ws.ptr || !ws.len || (f->ws.n && !list_has(&f->ws, ws)) ||
                (f->ws_sub.n && !list_contains_any(&f->ws_sub, ws)))
                return false;
        }
        if (f->names.n && !meta_in(m, nm, "name", &f->names))
            return false;
        if (f->name_q.n && !phrases_any(&q->toks, label_get(m, nm, "name"), &f->name_q, true))
            return false;
        if (f->message_q.n &&
            !phrases_any(&q->toks, label_get(m, nm, "message"), &f->message_q, true))
            return false;
        return true;
    }
    const ks_audit_filter_t *f = &q->f.au;
    if (f->ws.n && !meta_in(m, nm, "workspace", &f->ws))
        return false;
    if (f->ws_sub.n && !meta_contains(m, nm, "workspace", &f->ws_sub))
        return false;
    if (f->names.n && !meta_in(m, nm, "name", &f->names))
        return false;
    if (f->name_sub.n && !meta_contains(m, nm, "name", &f->name_sub))
        return false;
    if (f->users.n && !meta_in(m, nm, "user", &f->users))
        return false;
    if (f->user_sub.n && !meta_contains(m, nm, "user", &f->user_sub))
        return false;
    if (f->subresources.n &&
        !phrases_any(&q->toks, label_get(m, nm, "subresource"), &f->subresources, true))
        return false;
    if (f->ncodes) {
        sx_str_t c = label_get(m, nm, "code");
        char buf[32];
        int64_t code;
        const char *why;
        if (!c.ptr || c.len >= sizeof(buf))
            return false;
        memcpy(buf, c.ptr, c.len);
        buf[c.len] = 0;
        if (go_parse_int(buf, &code, &why))
            return false;
        size_t i = 0;
        while (i < f->ncodes && f->codes[i] != code)
            i++;
        if (i == f->ncodes)
            return false;
    }
    if (f->group_sub.n || f->ip_sub.n || f->statuses.n) {
        json_error_t je;
        json_t *o = text.ptr ? json_loadb(text.ptr, text.len, JSON_ALLOW_NUL, &je) : NULL;
        bool ok = o != NULL;
        if (ok && f->group_sub.n)
            ok = json_any_contains(jget(jget(o, "user"), "groups"), &f->group_sub);
        if (ok && f->ip_sub.n)
            ok = json_any_contains(jget(o, "sourceIPs"), &f->ip_sub);
        if (ok && f->statuses.n) {
            json_t *st = jget(jget(o, "responseStatus"), "status");
            ok = json_is_string(st) &&
                 list_has(&f->statuses, (sx_str_t){json_string_value(st), json_string_length(st)});
        }
        json_decref(o);
        if (!ok)
            return false;
    }
    return true;
}

/* ---- Scanning ---- */

static ks_rec_t rec_copy(ks_q_t *q, int64_t ts, sx_str_t text)
{
    ks_rec_t r = {ts, q->cur, q->seq, NULL, 0};
    if (text.ptr) {
        r.text = sx_xmalloc(text.len + 1);
        memcpy(r.text, text.ptr, text.len);
        r.text[text.len] = 0;
        r.len = text.len;
    }
    return r;
}

static int on_block(void *arg, const sx_log_block_t *b)
{
    ks_q_t *q = arg;
    if (sx_mono_ns() > q->deadline)
        return SX_ETIMEOUT;
    bool entry_filter = (q->f_lines || q->f_meta) && !q->pass2;
    for (size_t k = 0; k < b->n; k++) {
        size_t i = q->desc ? b->n - 1 - k : k;
        int64_t ts = b->ts[i];
        q->seq++;
        if (q->pass2) {
            bool take = false;
            if (q->g_rem && (q->desc ? ts > q->T : ts < q->T)) {
                q->g_rem--;
                take = true;
            } else if (q->e_rem && ts == q->T) {
                q->e_rem--;
                take = true;
            }
            if (take) {
                if (q->nout == q->outcap) {
                    q->outcap = q->outcap ? q->outcap * 2 : 64;
                    q->out = sx_xrealloc(q->out, q->outcap * sizeof(ks_rec_t));
                }
                q->out[q->nout++] = rec_copy(q, ts, entry_text(q, b->lines[i]));
            }
            if (!q->g_rem && !q->e_rem)
                return KS_STOP;
            continue;
        }
        const sx_label_t *meta = NULL;
        uint32_t nmeta = 0;
        if (b->meta_idx) {
            meta = &b->meta[b->meta_idx[i]];
            nmeta = b->meta_idx[i + 1] - b->meta_idx[i];
        }
        sx_str_t text = SX_STR_NULL;
        bool have_text = false;
        if (entry_filter) {
            if (b->lines) {
                text = entry_text(q, b->lines[i]);
                have_text = true;
            }
            if (!entry_ok(q, text, meta, nmeta))
                continue;
        }
        q->total++;
        q->cur_matched = true;
        if (q->hist)
            hist_add(q->hist, ts);
        if (q->distinct && q->distinct_meta) {
            sx_str_t v = label_get(meta, nmeta, q->distinct_meta);
            if (v.ptr && v.len)
                set_add(q->distinct, &q->req->arena, v);
        }
        if (q->heap.cap) {
            ks_rec_t r = {ts, q->cur, q->seq, NULL, 0};
            if (!heap_wants(&q->heap, &r))
                continue;
            if (q->keep_text && !have_text && b->lines)
                text = entry_text(q, b->lines[i]);
            heap_put(&q->heap, q->keep_text ? rec_copy(q, ts, text) : r);
        }
    }
    return 0;
}

/* Read every selected stream that passes the label filters once. flags
 * as sx_logstore_read's; the direction comes from q->desc. */
static int scan_streams(ks_q_t *q, int flags)
{
    flags |= q->desc ? SX_LOGREAD_BACKWARD : 0;
    const sx_log_hint_t *hint = (flags & SX_LOGREAD_LINES) && q->hint.n ? &q->hint : NULL;
    for (size_t s = 0; s < q->nst; s++) {
        if (!q->st_ok[s])
            continue;
        q->cur = (uint32_t)s;
        q->cur_matched = false;
        int rc = sx_logstore_read(q->ls, q->st[s].id, q->mint, q->maxt, flags, hint, on_block, q,
                                  NULL);
        if (rc && rc != KS_STOP)
            return rc;
        if (q->distinct && !q->distinct_meta && q->cur_matched) {
            /* Logs: distinct containers (KubeSphere counts docker ids;
             * a stream without pod or container has none). */
            sx_buf_clear(&q->scratch);
            const char *names[3] = {"namespace", "pod", "container"};
            bool any = false;
            for (int k = 0; k < 3; k++) {
                sx_str_t v = stream_label(q, (uint32_t)s, names[k]);
                any |= k > 0 && v.len > 0;
                sx_buf_append_str(&q->scratch, v);
                sx_buf_putc(&q->scratch, 0);
            }
            if (any)
                set_add(q->distinct, &q->req->arena, (sx_str_t){q->scratch.ptr, q->scratch.len});
        }
    }
    return 0;
}

/* The flags that let the entry filter run (and metadata be counted). */
static int filter_flags(const ks_q_t *q)
{
    return (q->f_lines ? SX_LOGREAD_LINES : 0) |
           (q->f_meta || (q->distinct && q->distinct_meta) ? SX_LOGREAD_META : 0);
}

/* The first k records in answer order; *out is malloc'd (texts too),
 * *n <= k. */
static int collect_page(ks_q_t *q, size_t k, ks_rec_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    q->heap = (ks_heap_t){k ? sx_xmalloc(k * sizeof(ks_rec_t)) : NULL, 0, k, q->desc};
    int rc;
    if (q->f_lines || q->f_meta) {
        /* The filter needs the entries anyway: one pass, lines kept. */
        q->keep_text = true;
        rc = scan_streams(q, filter_flags(q) | SX_LOGREAD_LINES);
        if (rc) {
            recs_free(q->heap.r, q->heap.n);
            free(q->heap.r);
            return rc;
        }
        *out = q->heap.r;
        *n = q->heap.n;
    } else {
        /* Pass 1, timestamps only: the page's last record and how many
         * records each stream gives to the page. */
        q->keep_text = false;
        rc = scan_streams(q, 0);
        if (rc || q->heap.n == 0) {
            free(q->heap.r);
            return rc;
        }
        const ks_rec_t *root = &q->heap.r[0];
        q->T = root->ts;
        uint32_t *g = sx_xcalloc(q->nst, sizeof(uint32_t));
        uint32_t *e = sx_xcalloc(q->nst, sizeof(uint32_t));
        for (size_t i = 0; i < q->heap.n; i++) {
            const ks_rec_t *r = &q->heap.r[i];
            if (r->ts == q->T)
                e[r->stream]++;
            else
                g[r->stream]++;
        }
        free(q->heap.r);
        q->heap = (ks_heap_t){NULL, 0, 0, q->desc};
        /* Pass 2: the lines of just those records, newest first (or
         * oldest first), each stream left when its share is complete. A
         * record better than the boundary is on the page for sure; of
         * those equal to it, the first e[s] read. */
        q->pass2 = true;
        int flags = SX_LOGREAD_LINES | (q->desc ? SX_LOGREAD_BACKWARD : 0);
        for (size_t s = 0; s < q->nst && !rc; s++) {
            if (!g[s] && !e[s])
                continue;
            q->cur = (uint32_t)s;
            q->g_rem = g[s];
            q->e_rem = e[s];
            rc = sx_logstore_read(q->ls, q->st[s].id, q->mint, q->maxt, flags, NULL, on_block, q,
                                  NULL);
            if (rc == KS_STOP)
                rc = 0;
        }
        q->pass2 = false;
        free(g);
        free(e);
        if (rc) {
            recs_free(q->out, q->nout);
            free(q->out);
            q->out = NULL;
            q->nout = 0;
            return rc;
        }
        *out = q->out;
        *n = q->nout;
        q->out = NULL;
        q->nout = q->outcap = 0;
    }
    bool desc = q->desc;
    if (*n > 1)
        qsort_r(*out, *n, sizeof(ks_rec_t), cmp_rec, &desc);
    return 0;
}

/* ---- Common request handling ---- */

typedef struct ks_common {
    int op;
    bool unknown_op;
    int64_t mint, maxt;
    ks_interval_t iv;
    int64_t from, size;
    bool desc;
} ks_common_t;

static int op_parse(const char *v, bool with_export, bool *unknown)
{
    *unknown = false;
    if (!v || !*v || strcmp(v, "query") == 0)
        return OP_QUERY;
    if (strcmp(v, "statistics") == 0)
        return OP_STATISTICS;
    if (strcmp(v, "histogram") == 0)
        return OP_HISTOGRAM;
    if (with_export && strcmp(v, "export") == 0)
        return OP_EXPORT;
    *unknown = true; /* KubeSphere runs a query for anything else */
    return OP_QUERY;
}

/* from/size/sort as KubeSphere parses them (from: bad = 0; size: bad =
 * 10; sort: anything but asc = desc), then OpenSearch's own checks.
 * Returns -1 after answering 400. */
static int paging_params(sx_req_t *req, ks_common_t *c)
{
    const char *v = sx_req_param(req, "from"), *why;
    c->from = 0;
    if (v && go_parse_int(v, &c->from, &why))
        c->from = 0;
    v = sx_req_param(req, "size");
    if (!v || go_parse_int(v, &c->size, &why))
        c->size = 10;
    v = sx_req_param(req, "sort");
    c->desc = !(v && strcmp(v, "asc") == 0);
    if (c->from < 0) {
        ks_error(req, 400, "[from] parameter cannot be negative");
        return -1;
    }
    if (c->size < 0) {
        ks_error(req, 400,
                 sx_arena_sprintf(&req->arena, "[size] parameter cannot be negative, found [%lld]",
                                  (long long)c->size));
        return -1;
    }
    if (c->from > KS_MAX_RESULT_WINDOW || c->size > KS_MAX_RESULT_WINDOW ||
        c->from + c->size > KS_MAX_RESULT_WINDOW) {
        ks_error(req, 400,
                 sx_arena_sprintf(&req->arena,
                                  "Result window is too large, from + size must be less than or "
                                  "equal to: [%d] but was [%lld]. See the scroll api for a more "
                                  "efficient way to request large data sets. This limit can be "
                                  "set by changing the [index.max_result_window] index level "
                                  "setting.",
                                  KS_MAX_RESULT_WINDOW, (long long)(c->from + c->size)));
        return -1;
    }
    return 0;
}

/* operation, start_time, end_time, interval (histogram), and from, size,
 * sort when paging applies. Returns -1 after answering 400. */
static int common_params(sx_req_t *req, bool logs, ks_common_t *c)
{
    memset(c, 0, sizeof(*c));
    c->op = op_parse(sx_req_param(req, "operation"), logs, &c->unknown_op);
    bool have_s, have_e;
    int64_t s = 0, e = 0;
    if (secs_param(req, "start_time", &have_s, &s) || secs_param(req, "end_time", &have_e, &e))
        return -1;
    c->mint = have_s ? s : INT64_MIN;
    c->maxt = have_e ? e : INT64_MAX;
    c->desc = true;
    if (c->op == OP_HISTOGRAM) {
        const char *iv = sx_req_param(req, "interval");
        if (interval_param(req, iv && *iv ? iv : "15m", &c->iv))
            return -1;
    }
    if (c->op == OP_QUERY) {
        if (logs && c->unknown_op) {
            /* The logs API reads from/size/sort only for "query": an
             * unknown operation searches with size 0. */
            c->from = c->size = 0;
        } else if (paging_params(req, c)) {
            return -1;
        }
    }
    return 0;
}

static void q_init(ks_q_t *q, sx_api_ctx_t *ctx, sx_req_t *req, int kind, const ks_common_t *c)
{
    memset(q, 0, sizeof(*q));
    q->kind = kind;
    q->req = req;
    q->ls = sx_storage_logs_peek(ctx->storage, req->tenant, kind);
    q->mint = c->mint;
    q->maxt = c->maxt;
    q->desc = c->desc;
    int64_t timeout_ms = ctx->cfg->query_timeout_ms > 0 ? ctx->cfg->query_timeout_ms : 120000;
    q->deadline = sx_mono_ns() + timeout_ms * 1000000LL;
}

static void q_dispose(ks_q_t *q)
{
    free(q->toks.t);
    sx_buf_dispose(&q->scratch);
}

/* Needles for the bloom filters from one keyword that every match must
 * contain (a single-keyword fuzzy filter): its ASCII tokens long enough to
 * be checked. */
static void add_needles(ks_q_t *q, const ks_phrases_t *ps)
{
    if (ps->n != 1)
        return;
    const ks_phrase_t *p = &ps->p[0];
    for (size_t i = 0; i < p->n && q->hint.n < sizeof(q->needles) / sizeof(q->needles[0]); i++) {
        bool ascii = true;
        for (size_t k = 0; k < p->tok[i].len && ascii; k++)
            ascii = (unsigned char)p->tok[i].ptr[k] < 0x80;
        if (ascii && sx_logbloom_usable(p->tok[i]))
            q->needles[q->hint.n++] = p->tok[i];
    }
    q->hint.needles = q->needles;
}

/* Select the streams in range and apply the label filters. */
static void select_streams(ks_q_t *q, const sx_matcher_t *m, size_t nm)
{
    q->nst = 0;
    if (!q->ls || q->mint > q->maxt)
        return;
    sx_logstore_select(q->ls, m, nm, q->mint, q->maxt, &q->req->arena, &q->st, &q->nst);
    q->st_ok = sx_arena_calloc(&q->req->arena, q->nst + 1, sizeof(bool));
    for (size_t s = 0; s < q->nst; s++) {
        uint32_t i = (uint32_t)s;
        q->st_ok[s] = q->kind == SX_LOGS     ? logs_stream_ok(q, i)
                      : q->kind == SX_EVENTS ? events_stream_ok(q, i)
                                             : audit_stream_ok(q, i);
    }
}

/* An equality matcher for a one-value exact list, so that the store's
 * selection does part of the label filtering. */
static void eq_matcher(sx_matcher_t *m, size_t *nm, const char *name, const ks_list_t *l)
{
    if (l->n == 1 && l->v[0].len) {
        m[*nm] = (sx_matcher_t){sx_str(name), l->v[0], SX_MATCH_EQ, NULL};
        (*nm)++;
    }
}

static void put_int(sx_buf_t *b, const char *key, uint64_t v)
{
    sx_buf_printf(b, "\"%s\":%llu", key, (unsigned long long)v);
}

/* "total":N,"<key>":[{"time":ms,"count":n},...] with the empty buckets
 * between the first and the last (date_histogram's min_doc_count 0), or
 * null when nothing matched. Returns -1 after answering 400 when there
 * would be too many buckets. */
static int put_histogram(sx_req_t *req, ks_hist_t *h, uint64_t total, const char *key)
{
    int64_t first = INT64_MAX, last = INT64_MIN;
    for (size_t i = 0; i < h->cap; i++)
        if (h->used[i]) {
            first = h->key[i] < first ? h->key[i] : first;
            last = h->key[i] > last ? h->key[i] : last;
        }
    uint64_t nb = 0;
    if (h->n) {
        if (!h->iv.cal) {
            nb = (uint64_t)((last - first) / h->iv.ms) + 1;
        } else {
            for (int64_t k = first; k <= last && nb <= KS_MAX_BUCKETS; k = bucket_next(&h->iv, k))
                nb++;
        }
    }
    if (nb > KS_MAX_BUCKETS) {
        ks_error(req, 400,
                 sx_arena_sprintf(&req->arena,
                                  "Trying to create too many buckets. Must be less than or equal "
                                  "to: [%d] but was [%llu]. This limit can be set by changing the "
                                  "[search.max_buckets] cluster level setting.",
                                  KS_MAX_BUCKETS, (unsigned long long)nb));
        return -1;
    }
    sx_buf_t *b = &req->out;
    put_int(b, "total", total);
    sx_buf_printf(b, ",\"%s\":", key);
    if (!h->n) {
        sx_buf_puts(b, "null");
        return 0;
    }
    sx_buf_putc(b, '[');
    uint64_t i = 0;
    for (int64_t k = first; i < nb; k = bucket_next(&h->iv, k), i++) {
        size_t j = hist_slot(h, k);
        sx_buf_printf(b, "%s{\"time\":%lld,\"count\":%llu}", i ? "," : "", (long long)k,
                      (unsigned long long)(h->used[j] ? h->cnt[j] : 0));
    }
    sx_buf_putc(b, ']');
    return 0;
}

static void answer_scan_error(sx_req_t *req, int rc)
{
    int status = sx_err_http_status(rc);
    if (rc == SX_ETIMEOUT)
        ks_error(req, 503, "query timed out");
    else
        ks_error(req, status >= 400 ? status : 500, sx_strerror(rc));
}

/* statistics and histogram: one counting pass. Appends the operation's
 * object (after the caller's opening) and answers. */
static void run_counts(ks_q_t *q, const ks_common_t *c, const char *k_resources,
                       const char *k_events, const char *k_buckets)
{
    sx_req_t *req = q->req;
    ks_hist_t hist = {0};
    ks_set_t distinct = {0};
    if (c->op == OP_HISTOGRAM) {
        hist.iv = c->iv;
        q->hist = &hist;
    } else {
        q->distinct = &distinct;
    }
    int rc = scan_streams(q, filter_flags(q));
    if (rc) {
        answer_scan_error(req, rc);
    } else {
        sx_buf_t *b = &req->out;
        sx_buf_clear(b);
        if (c->op == OP_HISTOGRAM) {
            sx_buf_puts(b, "{\"histogram\":{");
            if (put_histogram(req, &hist, q->total, k_buckets) == 0) {
                sx_buf_puts(b, "}}");
                sx_resp_set(req, 200, "application/json");
            }
        } else {
            sx_buf_puts(b, "{\"statistics\":{");
            put_int(b, k_resources, distinct.n);
            sx_buf_putc(b, ',');
            put_int(b, k_events, q->total);
            sx_buf_puts(b, "}}");
            sx_resp_set(req, 200, "application/json");
        }
    }
    hist_dispose(&hist);
    set_dispose(&distinct);
    q->hist = NULL;
    q->distinct = NULL;
}

/* ---- Logs ---- */

static void put_rfc3339_ns(sx_buf_t *b, int64_t ns)
{
    int64_t sec = floor_div(ns, 1000000000LL), frac = ns - sec * 1000000000LL;
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    sx_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
}

static void put_opt_str(sx_buf_t *b, bool *first, const char *key, sx_str_t v)
{
    if (!v.len)
        return; /* omitempty */
    sx_buf_printf(b, "%s\"%s\":", *first ? "" : ",", key);
    sx_buf_json_str(b, v.ptr, v.len);
    *first = false;
}

/* Go's stringutils.StripAnsi: the regexp
 *   [\x1b\x9b][[\]()#;?]*(?:(?:(?:[a-zA-Z\d]*(?:;[a-zA-Z\d]*)*)?\x07)
 *   |(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PRZcf-ntqry=><~]))
 * with leftmost-first matches removed (U+009B is the two bytes C2 9B). */
static size_t ansi_match(const char *s, size_t len, size_t i)
{
    size_t p;
    if ((unsigned char)s[i] == 0x1b)
        p = i + 1;
    else if ((unsigned char)s[i] == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] == 0x9b)
        p = i + 2;
    else
        return 0;
    while (p < len && strchr("[]()#;?", s[p]) && s[p])
        p++;
    /* First alternative: [a-zA-Z0-9;]* then BEL. */
    size_t a = p;
    while (a < len && (isalnum((unsigned char)s[a]) || s[a] == ';'))
        a++;
    if (a < len && s[a] == 0x07)
        return a + 1 - i;
    /* Second: digits{1,4} (; digits{0,4})* greedily, then a final char;
     * backtracking ends the match after the last digit taken. */
    size_t q = p, last_digit = 0;
    bool any = false;
    if (q < len && isdigit((unsigned char)s[q])) {
        size_t k = 0;
        while (k < 4 && q < len && isdigit((unsigned char)s[q]))
            q++, k++;
        last_digit = q;
        any = true;
        while (q < len && s[q] == ';') {
            size_t r = q + 1;
            k = 0;
            while (k < 4 && r < len && isdigit((unsigned char)s[r]))
                r++, k++;
            q = r;
            if (k) {
                last_digit = q;
            }
        }
    }
    if (q < len) {
        char c = s[q];
        if (isdigit((unsigned char)c) || (c >= 'A' && c <= 'P') || c == 'R' || c == 'Z' ||
            c == 'c' || (c >= 'f' && c <= 'n') || c == 'q' || c == 'r' || c == 't' || c == 'y' ||
            c == '=' || c == '>' || c == '<' || c == '~')
            return q + 1 - i;
    }
    return any ? last_digit - i : 0;
}

static void put_stripped(sx_buf_t *b, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] != 0x1b && (unsigned char)s[i] != 0xc2)
            continue;
        size_t m = ansi_match(s, len, i);
        if (!m)
            continue;
        sx_buf_append(b, s + start, i - start);
        i += m - 1;
        start = i + 1;
    }
    sx_buf_append(b, s + start, len - start);
}

static void logs_filter_parse(sx_req_t *req, ks_logs_filter_t *f)
{
    f->ns = list_param(req, "namespaces");
    f->ns_sub = list_param(req, "namespace_query");
    f->workloads = list_param(req, "workloads");
    f->workload_q = phrases_param(req, "workload_query");
    f->pods = list_param(req, "pods");
    f->pod_q = phrases_param(req, "pod_query");
    f->containers = list_param(req, "containers");
    f->container_q = phrases_param(req, "container_query");
    f->log_q = phrases_param(req, "log_query");
}

static void on_logs(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    ks_common_t c;
    if (common_params(req, true, &c))
        return;
    if (c.op == OP_EXPORT)
        c.desc = true;
    ks_q_t q;
    q_init(&q, ctx, req, SX_LOGS, &c);
    logs_filter_parse(req, &q.f.logs);
    q.f_lines = q.f.logs.log_q.n > 0;
    add_needles(&q, &q.f.logs.log_q);
    sx_matcher_t m[3];
    size_t nm = 0;
    eq_matcher(m, &nm, "namespace", &q.f.logs.ns);
    eq_matcher(m, &nm, "pod", &q.f.logs.pods);
    eq_matcher(m, &nm, "container", &q.f.logs.containers);
    select_streams(&q, m, nm);

    if (c.op == OP_STATISTICS || c.op == OP_HISTOGRAM) {
        run_counts(&q, &c, "containers", "logs", "histograms");
        q_dispose(&q);
        return;
    }
    size_t k = 0;
    if (c.op == OP_EXPORT) {
        k = KS_EXPORT_LIMIT;
        const char *lim = sx_req_param(req, "exportLineLimit"), *why;
        int64_t x;
        if (lim && *lim && go_parse_int(lim, &x, &why) == 0 && x > 0 && x < KS_EXPORT_LIMIT)
            k = (size_t)x;
    } else {
        k = (size_t)(c.from + c.size);
    }
    ks_rec_t *recs;
    size_t n;
    int rc = collect_page(&q, k, &recs, &n);
    if (rc) {
        answer_scan_error(req, rc);
        q_dispose(&q);
        return;
    }
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    if (c.op == OP_EXPORT) {
        /* The raw log texts, newest first, ANSI escapes removed; a text
         * without a final newline gets one (Loki lines have none). */
        for (size_t i = 0; i < n; i++) {
            put_stripped(b, recs[i].text ? recs[i].text : "", recs[i].len);
            if (!recs[i].len || recs[i].text[recs[i].len - 1] != '\n')
                sx_buf_putc(b, '\n');
        }
        sx_resp_header(req, "Content-Disposition", "attachment");
        sx_resp_set(req, 200, "text/plain");
    } else {
        sx_buf_puts(b, "{\"query\":{");
        put_int(b, "total", q.total);
        if ((size_t)c.from < n) {
            sx_buf_puts(b, ",\"records\":[");
            for (size_t i = (size_t)c.from; i < n; i++) {
                const ks_rec_t *r = &recs[i];
                bool first = true;
                sx_buf_puts(b, i > (size_t)c.from ? ",{" : "{");
                put_opt_str(b, &first, "log", (sx_str_t){r->text, r->len});
                sx_buf_printf(b, "%s\"time\":", first ? "" : ",");
                put_rfc3339_ns(b, r->ts);
                first = false;
                put_opt_str(b, &first, "namespace", stream_label(&q, r->stream, "namespace"));
                put_opt_str(b, &first, "pod", stream_label(&q, r->stream, "pod"));
                put_opt_str(b, &first, "container", stream_label(&q, r->stream, "container"));
                sx_buf_putc(b, '}');
            }
            sx_buf_putc(b, ']');
        }
        sx_buf_puts(b, "}}");
        sx_resp_set(req, 200, "application/json");
    }
    recs_free(recs, n);
    free(recs);
    q_dispose(&q);
}

/* ---- Events and auditing ---- */

/* query: {"query":{"total":N,"records":[<stored objects>]}}, records null
 * when the page is empty. */
static void run_records(ks_q_t *q, const ks_common_t *c)
{
    sx_req_t *req = q->req;
    ks_rec_t *recs;
    size_t n;
    int rc = collect_page(q, (size_t)(c->from + c->size), &recs, &n);
    if (rc) {
        answer_scan_error(req, rc);
        return;
    }
    sx_buf_t *b = &req->out;
    sx_buf_clear(b);
    sx_buf_puts(b, "{\"query\":{");
    put_int(b, "total", q->total);
    sx_buf_puts(b, ",\"records\":");
    if ((size_t)c->from < n) {
        sx_buf_putc(b, '[');
        for (size_t i = (size_t)c->from; i < n; i++) {
            if (i > (size_t)c->from)
                sx_buf_putc(b, ',');
            /* The stored line is the object's compact JSON. */
            if (recs[i].len)
                sx_buf_append(b, recs[i].text, recs[i].len);
            else
                sx_buf_puts(b, "null");
        }
        sx_buf_putc(b, ']');
    } else {
        sx_buf_puts(b, "null");
    }
    sx_buf_puts(b, "}}");
    sx_resp_set(req, 200, "application/json");
    recs_free(recs, n);
    free(recs);
}

static void on_events(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    ks_common_t c;
    if (common_params(req, false, &c))
        return;
    ks_q_t q;
    q_init(&q, ctx, req, SX_EVENTS, &c);
    ks_events_filter_t *f = &q.f.ev;
    f->ws = list_param(req, "workspace_filter");
    f->ws_sub = list_param(req, "workspace_search");
    f->ns = list_param(req, "involved_object_namespace_filter");
    f->ns_sub = list_param(req, "involved_object_namespace_search");
    f->names = list_param(req, "involved_object_name_filter");
    f->name_q = phrases_param(req, "involved_object_name_search");
    f->kinds = phrases_param(req, "involved_object_kind_filter");
    f->reasons = phrases_param(req, "reason_filter");
    f->reason_sub = list_param(req, "reason_search");
    f->message_q = phrases_param(req, "message_search");
    const char *type = sx_req_param(req, "type_filter");
    if (type && *type) {
        /* One phrase, not a list: KubeSphere does not split it. */
        f->type = phrase_make(&req->arena, sx_str(type));
        f->have_type = true;
    }
    /* Without any namespace or workspace parameter, cluster-scoped events
     * are listed too; with one, only events of the namespaces it picks. */
    f->scoped = f->ws.n || f->ws_sub.n || f->ns.n || f->ns_sub.n;
    q.f_meta = f->ws.n || f->ws_sub.n || f->names.n || f->name_q.n || f->message_q.n;
    add_needles(&q, &f->message_q);
    q.distinct_meta = "uid";
    sx_matcher_t m[1];
    size_t nm = 0;
    eq_matcher(m, &nm, "namespace", &f->ns);
    select_streams(&q, m, nm);
    if (c.op == OP_STATISTICS || c.op == OP_HISTOGRAM)
        run_counts(&q, &c, "resources", "events", "buckets");
    else
        run_records(&q, &c);
    q_dispose(&q);
}

static void on_auditing(sx_req_t *req, void *arg)
{
    sx_api_ctx_t *ctx = arg;
    ks_common_t c;
    if (common_params(req, false, &c))
        return;
    ks_q_t q;
    q_init(&q, ctx, req, SX_AUDIT, &c);
    ks_audit_filter_t *f = &q.f.au;
    f->ws = list_param(req, "workspace_filter");
    f->ws_sub = list_param(req, "workspace_search");
    f->ns = list_param(req, "objectref_namespace_filter");
    f->ns_sub = list_param(req, "objectref_namespace_search");
    f->names = list_param(req, "objectref_name_filter");
    f->name_sub = list_param(req, "objectref_name_search");
    f->levels = list_param(req, "level_filter");
    f->verbs = list_param(req, "verb_filter");
    f->users = list_param(req, "user_filter");
    f->user_sub = list_param(req, "user_search");
    f->group_sub = list_param(req, "group_search");
    f->ip_sub = list_param(req, "source_ip_search");
    f->resources = phrases_param(req, "objectref_resource_filter");
    f->subresources = phrases_param(req, "objectref_subresource_filter");
    f->statuses = list_param(req, "response_status_filter");
    ks_list_t codes = list_param(req, "response_code_filter");
    if (codes.n) {
        f->codes = sx_arena_alloc(&req->arena, codes.n * sizeof(int64_t));
        for (size_t i = 0; i < codes.n; i++) {
            char *s = sx_arena_strndup(&req->arena, codes.v[i].ptr, codes.v[i].len);
            const char *why;
            if (go_parse_int(s, &f->codes[f->ncodes], &why) == 0)
                f->ncodes++; /* unparsable codes are skipped */
        }
    }
    q.f_meta = f->ws.n || f->ws_sub.n || f->names.n || f->name_sub.n || f->users.n ||
               f->user_sub.n || f->subresources.n || f->ncodes;
    q.f_lines = f->group_sub.n || f->ip_sub.n || f->statuses.n;
    q.distinct_meta = "audit_id";
    sx_matcher_t m[3];
    size_t nm = 0;
    eq_matcher(m, &nm, "namespace", &f->ns);
    eq_matcher(m, &nm, "verb", &f->verbs);
    eq_matcher(m, &nm, "level", &f->levels);
    select_streams(&q, m, nm);
    if (c.op == OP_STATISTICS || c.op == OP_HISTOGRAM)
        run_counts(&q, &c, "resources", "events", "buckets");
    else
        run_records(&q, &c);
    q_dispose(&q);
}

static const sx_route_t routes[] = {
    {"GET", "/kapis/logging.kubesphere.io/v1alpha2/logging", on_logs, 0, 0},
    {"GET", "/kapis/logging.kubesphere.io/v1alpha2/logs", on_logs, 0, 0},
    {"GET", "/kapis/tenant.kubesphere.io/v1alpha2/logs", on_logs, 0, 0},
    {"GET", "/kapis/logging.kubesphere.io/v1alpha2/events", on_events, 0, 0},
    {"GET", "/kapis/tenant.kubesphere.io/v1alpha2/events", on_events, 0, 0},
    {"GET", "/kapis/logging.kubesphere.io/v1alpha2/auditing", on_auditing, 0, 0},
    {"GET", "/kapis/tenant.kubesphere.io/v1alpha2/auditing/events", on_auditing, 0, 0},
};

void sx_api_kubesphere_register(sx_http_t *h, sx_api_ctx_t *ctx)
{
    sx_http_add_routes(h, routes, sizeof(routes) / sizeof(routes[0]), ctx);
}
