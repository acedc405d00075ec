/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON stages (see jsonx.h). The scanner follows the acceptance rules
 * of the jsonparser Loki uses, not RFC 8259: strings end at the first quote
 * not preceded by an odd run of backslashes, objects and arrays are skipped
 * by counting brackets outside strings, other values run to the next blank,
 * ',' ']' or '}' and are then classified by their first byte. Objects are
 * walked with an explicit stack, so nesting depth is bounded by the line,
 * not by the C stack. */
#include "jsonx.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Errors (jsonparser's messages) ---- */

enum {
    JE_OK = 0,
    JE_MALFORMED_JSON,
    JE_MALFORMED_STRING,
    JE_MALFORMED_ARRAY,
    JE_MALFORMED_OBJECT,
    JE_UNKNOWN_TYPE,
    JE_BAD_ESCAPE,
};

static const char *const je_msg[] = {
    [JE_OK] = "",
    [JE_MALFORMED_JSON] = "Malformed JSON error",
    [JE_MALFORMED_STRING] = "Value is string, but can't find closing '\"' symbol",
    [JE_MALFORMED_ARRAY] = "Value is array, but can't find closing ']' symbol",
    [JE_MALFORMED_OBJECT] = "Value looks like object, but can't find closing '}' symbol",
    [JE_UNKNOWN_TYPE] = "Unknown value type",
    [JE_BAD_ESCAPE] = "Encountered an invalid escape sequence in a string",
};

enum { JT_STRING = 1, JT_NUMBER, JT_OBJECT, JT_ARRAY, JT_BOOL, JT_NULL };

/* ---- Scanner ---- */

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* First non-blank index at or after i, or n. */
static inline size_t next_token(const char *d, size_t i, size_t n)
{
    while (i < n && is_ws(d[i]))
        i++;
    return i;
}

/* From i (just past an opening quote): the index just past the closing
 * quote, or 0 if there is none (0 can never be a valid answer). A quote
 * after an odd run of backslashes does not close the string; skipping the
 * byte after each backslash is the same rule. *esc tells whether a
 * backslash was seen. */
static size_t string_end(const char *d, size_t i, size_t n, bool *esc)
{
    bool seen = false;
    while (i < n) {
        char c = d[i];
        if (c == '\\') {
            seen = true;
            i += 2;
            continue;
        }
        if (c == '"') {
            if (esc)
                *esc = seen;
            return i + 1;
        }
        i++;
    }
    if (esc)
        *esc = seen;
    return 0;
}

/* From i (at the opening bracket): the index just past its match, or 0. */
static size_t block_end(const char *d, size_t i, size_t n, char open, char close)
{
    long level = 0;
    while (i < n) {
        char c = d[i];
        if (c == '"') {
            size_t e = string_end(d, i + 1, n, NULL);
            if (!e)
                return 0;
            i = e;
            continue;
        }
        if (c == open) {
            level++;
        } else if (c == close) {
            if (--level == 0)
                return i + 1;
        }
        i++;
    }
    return 0;
}

static inline size_t token_end(const char *d, size_t i, size_t n)
{
    while (i < n) {
        switch (d[i]) {
        case ' ': case '\n': case '\r': case '\t': case ',': case '}': case ']':
            return i;
        }
        i++;
    }
    return n;
}

typedef struct jval {
    int type;
    size_t vb, ve; /* the value; strings without their quotes */
    size_t end;    /* just past the value (past the closing quote) */
} jval_t;

/* jsonparser's Get with no path: the value starting at the first token at
 * or after i. */
static int get_value(const char *d, size_t i, size_t n, jval_t *v)
{
    i = next_token(d, i, n);
    if (i >= n)
        return JE_MALFORMED_JSON;
    char c = d[i];
    if (c == '"') {
        size_t e = string_end(d, i + 1, n, NULL);
        if (!e)
            return JE_MALFORMED_STRING;
        *v = (jval_t){JT_STRING, i + 1, e - 1, e};
        return JE_OK;
    }
    if (c == '[' || c == '{') {
        size_t e = block_end(d, i, n, c, c == '[' ? ']' : '}');
        if (!e)
            return c == '[' ? JE_MALFORMED_ARRAY : JE_MALFORMED_OBJECT;
        *v = (jval_t){c == '[' ? JT_ARRAY : JT_OBJECT, i, e, e};
        return JE_OK;
    }
    size_t e = token_end(d, i, n);
    size_t len = e - i;
    switch (c) {
    case 't': case 'f':
        if ((len == 4 && !memcmp(d + i, "true", 4)) || (len == 5 && !memcmp(d + i, "false", 5))) {
            *v = (jval_t){JT_BOOL, i, e, e};
            return JE_OK;
        }
        return JE_UNKNOWN_TYPE;
    case 'u': case 'n':
        if (len == 4 && !memcmp(d + i, "null", 4)) {
            *v = (jval_t){JT_NULL, i, e, e};
            return JE_OK;
        }
        return JE_UNKNOWN_TYPE;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        *v = (jval_t){JT_NUMBER, i, e, e};
        return JE_OK;
    default:
        return JE_UNKNOWN_TYPE;
    }
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static long hex4(const char *s)
{
    long r = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0)
            return -1;
        r = r * 16 + h;
    }
    return r;
}

/* jsonparser's Unescape of s[0..n) into out (n bytes suffice: no escape
 * grows). Returns the length or -1 on an invalid escape. */
static long unescape(const char *s, size_t n, char *out)
{
    size_t r = 0, w = 0;
    while (r < n) {
        const char *bs = memchr(s + r, '\\', n - r);
        size_t k = bs ? (size_t)(bs - s) : n;
        memcpy(out + w, s + r, k - r);
        w += k - r;
        r = k;
        if (r >= n)
            break;
        if (r + 1 >= n)
            return -1;
        char e = s[r + 1];
        switch (e) {
        case '"': case '\\': case '/': out[w++] = e; r += 2; break;
        case 'b': out[w++] = '\b'; r += 2; break;
        case 'f': out[w++] = '\f'; r += 2; break;
        case 'n': out[w++] = '\n'; r += 2; break;
        case 'r': out[w++] = '\r'; r += 2; break;
        case 't': out[w++] = '\t'; r += 2; break;
        case 'u': {
            if (n - r < 6)
                return -1;
            long u = hex4(s + r + 2);
            if (u < 0)
                return -1;
            if (u >= 0xD800 && u <= 0xDFFF) {
                /* A high surrogate must be followed by a low one. */
                if (u >= 0xDC00 || n - r < 12 || s[r + 6] != '\\' || s[r + 7] != 'u')
                    return -1;
                long u2 = hex4(s + r + 8);
                if (u2 < 0xDC00 || u2 > 0xDFFF)
                    return -1;
                w += sx_utf8_encode(out + w, (uint32_t)(0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00)));
                r += 12;
            } else {
                w += sx_utf8_encode(out + w, (uint32_t)u);
                r += 6;
            }
            break;
        }
        default:
            return -1;
        }
    }
    return (long)w;
}

/* Loki's unescapeJSONString: unescaped (into the per-line arena when
 * needed), "" on a bad escape, U+FFFD and invalid bytes turned to spaces. */
static sx_str_t string_value(sx_lq_labels_t *lb, const char *s, size_t n)
{
    sx_str_t v = {s, n};
    if (memchr(s, '\\', n)) {
        char *o = sx_lq_labels_alloc(lb, n + 1);
        long k = unescape(s, n, o);
        if (k < 0)
            return SX_STR_LIT("");
        v = (sx_str_t){o, (size_t)k};
    }
    return sx_lq_fix_rune_error(lb, v);
}

static void set_json_error(sx_lq_labels_t *lb, int je)
{
    sx_lq_labels_set_error(lb, SX_STR_LIT(SX_LQ_ERR_JSON),
                           je ? sx_str(je_msg[je]) : SX_STR_NULL);
}

/* ---- Object walk (jsonparser's ObjectEach, flattened) ---- */

typedef struct frame {
    size_t off;      /* parent: where to continue after the child object */
    size_t limit;    /* parent's limit */
    long last_comma; /* parent's */
    size_t prefix;   /* prefix length to restore */
} frame_t;

typedef struct walk {
    const char *d;
    sx_lq_labels_t *lb;
    /* Called for each member: returns 1 to descend into an object value,
     * 0 to go on, -1 to stop with w->err set. key is unescaped; it points
     * into the line unless key_in_line is false (then it is only valid for
     * the call). */
    int (*member)(struct walk *w, sx_str_t key, const jval_t *v);
    bool key_in_line;
    void (*enter)(struct walk *w, sx_str_t key);
    char *prefix;
    size_t prefix_len, prefix_cap;
    bool packed;
    bool set_labels;
    sx_str_t entry;
    int err;
} walk_t;

/* Walk the object at d[0..n) calling w->member for each member, descending
 * on request. Returns a JE_ code. */
static int object_each(walk_t *w, size_t n)
{
    const char *d = w->d;
    frame_t *stack = NULL;
    size_t depth = 0, cap = 0;
    size_t off = 0, limit = n;
    long last_comma = -1;
    char kbuf[128];

enter_object:
    off = next_token(d, off, limit);
    if (off >= limit || d[off] != '{')
        return JE_MALFORMED_OBJECT;
    off++;
    off = next_token(d, off, limit);
    if (off >= limit)
        return JE_MALFORMED_JSON;
    last_comma = -1;
    if (d[off] == '}')
        goto object_done;

    for (;;) {
        /* Step 1: the key. */
        if (off >= limit)
            return JE_MALFORMED_OBJECT;
        if (d[off] == '}') {
            if (last_comma != -1 && (size_t)last_comma + 1 == off)
                return JE_MALFORMED_OBJECT;
            goto object_done;
        }
        if (d[off] != '"')
            return JE_MALFORMED_OBJECT;
        off++;
        bool kesc;
        size_t ke = string_end(d, off, limit, &kesc);
        if (!ke)
            return JE_MALFORMED_JSON;
        sx_str_t key = {d + off, ke - 1 - off};
        off = ke;
        w->key_in_line = !kesc;
        if (kesc) {
            char *o = key.len < sizeof(kbuf) ? kbuf : sx_lq_labels_alloc(w->lb, key.len);
            long k = unescape(key.ptr, key.len, o);
            if (k < 0)
                return JE_BAD_ESCAPE;
            key = (sx_str_t){o, (size_t)k};
        }
        /* Step 2: the colon. */
        off = next_token(d, off, limit);
        if (off >= limit || d[off] != ':')
            return JE_MALFORMED_JSON;
        off++;
        /* Step 3: the value. */
        jval_t v;
        int rc = get_value(d, off, limit, &v);
        if (rc)
            return rc;
        off = v.end;
        int act = w->member(w, key, &v);
        if (act < 0)
            return w->err;
        if (act == 1) {
            if (depth == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                frame_t *ns = (frame_t *)sx_lq_labels_alloc(w->lb, ncap * sizeof(*ns));
                if (depth)
                    memcpy(ns, stack, depth * sizeof(*ns));
                stack = ns;
                cap = ncap;
            }
            stack[depth++] = (frame_t){off, limit, last_comma, w->prefix_len};
            w->enter(w, key);
            limit = v.end;
            off = v.vb;
            goto enter_object;
        }
    after_value:
        /* Step 4: ',' or '}'. */
        off = next_token(d, off, limit);
        if (off >= limit)
            return JE_MALFORMED_ARRAY;
        if (d[off] == '}')
            goto object_done;
        if (d[off] != ',')
            return JE_MALFORMED_OBJECT;
        last_comma = (long)off;
        off++;
        size_t nt = next_token(d, off, limit);
        if (nt >= limit)
            return JE_MALFORMED_ARRAY;
        /* jsonparser moves its comma mark along the blanks it skips, so only
         * a '}' right after the comma is an error. */
        if (nt > off)
            last_comma += (long)(nt - off) - 1;
        off = nt;
    }

object_done:
    if (depth == 0)
        return JE_OK;
    depth--;
    off = stack[depth].off;
    limit = stack[depth].limit;
    last_comma = stack[depth].last_comma;
    w->prefix_len = stack[depth].prefix;
    goto after_value;
}

/* ---- `| json` ---- */

static void prefix_reserve(walk_t *w, size_t more)
{
    if (w->prefix_len + more <= w->prefix_cap)
        return;
    size_t cap = w->prefix_cap ? w->prefix_cap * 2 : 256;
    while (cap < w->prefix_len + more)
        cap *= 2;
    char *p = sx_lq_labels_alloc(w->lb, cap);
    if (w->prefix_len)
        memcpy(p, w->prefix, w->prefix_len);
    w->prefix = p;
    w->prefix_cap = cap;
}

/* Loki's appendSanitized: key trimmed; nothing when blank; "_" before a
 * leading digit only at the start of the name. */
static void prefix_append(walk_t *w, sx_str_t key)
{
    prefix_reserve(w, key.len + 1);
    w->prefix_len += sx_lq_sanitize_key(key, w->prefix_len == 0, w->prefix + w->prefix_len);
}

static void flatten_enter(walk_t *w, sx_str_t key)
{
    if (w->prefix_len) {
        prefix_reserve(w, 1);
        w->prefix[w->prefix_len++] = '_';
    }
    prefix_append(w, key);
}

static sx_str_t add_suffix(sx_lq_labels_t *lb, sx_str_t name)
{
    size_t sl = sizeof(SX_LQ_DUPLICATE_SUFFIX) - 1;
    char *o = sx_lq_labels_alloc(lb, name.len + sl);
    if (name.len)
        memcpy(o, name.ptr, name.len);
    memcpy(o + name.len, SX_LQ_DUPLICATE_SUFFIX, sl);
    return (sx_str_t){o, name.len + sl};
}

static int flatten_member(walk_t *w, sx_str_t key, const jval_t *v)
{
    if (v->type == JT_OBJECT)
        return 1;
    if (v->type != JT_STRING && v->type != JT_NUMBER && v->type != JT_BOOL)
        return 0;
    sx_lq_labels_t *lb = w->lb;
    sx_str_t name;
    if (w->prefix_len == 0) {
        if (w->key_in_line && sx_lq_label_name_valid(key)) {
            name = key; /* points into the line */
        } else {
            char *o = sx_lq_labels_alloc(lb, key.len + 1);
            name = (sx_str_t){o, sx_lq_sanitize_key(key, true, o)};
        }
    } else {
        size_t keep = w->prefix_len;
        prefix_reserve(w, key.len + 2);
        w->prefix[w->prefix_len++] = '_';
        prefix_append(w, key);
        name = sx_lq_labels_strdup(lb, w->prefix, w->prefix_len);
        w->prefix_len = keep;
    }
    if (sx_lq_labels_base_has(lb, name))
        name = add_suffix(lb, name);
    sx_str_t value;
    if (v->type == JT_STRING)
        value = string_value(lb, w->d + v->vb, v->ve - v->vb);
    else
        value = (sx_str_t){w->d + v->vb, v->ve - v->vb};
    sx_lq_labels_set(lb, SX_LQ_PARSED, name, value);
    return 0;
}

void sx_lq_json_flatten(sx_str_t line, sx_lq_labels_t *lb)
{
    walk_t w = {.d = line.ptr, .lb = lb, .member = flatten_member, .enter = flatten_enter};
    int rc = object_each(&w, line.len);
    if (rc)
        set_json_error(lb, rc);
}

/* ---- `| unpack` ---- */

static int unpack_member(walk_t *w, sx_str_t key, const jval_t *v)
{
    if (v->type != JT_STRING)
        return 0;
    sx_lq_labels_t *lb = w->lb;
    const char *s = w->d + v->vb;
    size_t n = v->ve - v->vb;
    if (sx_str_eq(key, SX_STR_LIT("_entry"))) {
        sx_str_t e = {s, n};
        if (memchr(s, '\\', n)) {
            char *o = sx_lq_labels_alloc(lb, n + 1);
            long k = unescape(s, n, o);
            if (k < 0) {
                w->err = JE_BAD_ESCAPE;
                return -1;
            }
            e = (sx_str_t){o, (size_t)k};
        }
        w->entry = e;
        w->packed = true;
        return 0;
    }
    if (!w->set_labels)
        return 0;
    /* Loki adds the suffix before sanitizing. */
    sx_str_t name = key;
    bool stable = w->key_in_line;
    if (sx_lq_labels_base_has(lb, name)) {
        name = add_suffix(lb, name);
        stable = true;
    }
    if (!stable || !sx_lq_label_name_valid(name)) {
        char *o = sx_lq_labels_alloc(lb, name.len + 1);
        name = (sx_str_t){o, sx_lq_sanitize_key(name, true, o)};
    }
    sx_lq_labels_set(lb, SX_LQ_PARSED, name, string_value(lb, s, n));
    return 0;
}

sx_str_t sx_lq_unpack(sx_str_t line, sx_lq_labels_t *lb)
{
    if (line.len == 0)
        return line;
    if (line.ptr[0] != '{') {
        sx_lq_labels_set_error(lb, SX_STR_LIT(SX_LQ_ERR_JSON),
                               SX_STR_LIT("expecting json object(6), but it is not"));
        return line;
    }
    /* First pass: validate and find _entry; labels only if both hold. */
    walk_t w = {.d = line.ptr, .lb = lb, .member = unpack_member};
    int rc = object_each(&w, line.len);
    if (rc) {
        set_json_error(lb, rc);
        return line;
    }
    if (!w.packed)
        return line;
    sx_str_t entry = w.entry;
    walk_t w2 = {.d = line.ptr, .lb = lb, .member = unpack_member, .set_labels = true};
    (void)object_each(&w2, line.len);
    return w2.packed ? w2.entry : entry;
}

/* ---- JSON paths ---- */

enum { TK_END, TK_LSB, TK_RSB, TK_DOT, TK_FIELD, TK_STRING, TK_INDEX, TK_ERR };
static const char *const tk_name[] = {"$end", "LSB", "RSB", "DOT", "FIELD", "STRING", "INDEX", "?"};

typedef struct plex {
    const char *p, *end;
    sx_str_t str;
    long num;
    char msg[64];
} plex_t;

static int plex_next(plex_t *l)
{
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n'))
        l->p++;
    if (l->p >= l->end || *l->p == '\0')
        return TK_END;
    char c = *l->p;
    if (c >= '0' && c <= '9') {
        long v = 0;
        bool ovf = false;
        while (l->p < l->end) {
            char d = *l->p;
            if (d == ' ' || d == '\t' || d == '\n' || d == ']')
                break;
            if (d == '.') {
                snprintf(l->msg, sizeof(l->msg), "cannot use float as array index");
                return TK_ERR;
            }
            if (d < '0' || d > '9') {
                snprintf(l->msg, sizeof(l->msg), "non-integer value: %c", d);
                return TK_ERR;
            }
            if (v > (LONG_MAX - 9) / 10)
                ovf = true;
            else
                v = v * 10 + (d - '0');
            l->p++;
        }
        if (l->p >= l->end) {
            snprintf(l->msg, sizeof(l->msg), "non-integer value: \\x00");
            return TK_ERR;
        }
        if (ovf) {
            snprintf(l->msg, sizeof(l->msg), "value out of range");
            return TK_ERR;
        }
        l->num = v;
        return TK_INDEX;
    }
    l->p++;
    switch (c) {
    case '[': return TK_LSB;
    case ']': return TK_RSB;
    case '.': return TK_DOT;
    case '"': {
        const char *b = l->p;
        while (l->p < l->end && *l->p != '"' && *l->p != ']' && *l->p != '\0')
            l->p++;
        l->str = (sx_str_t){b, (size_t)(l->p - b)};
        if (l->p < l->end && *l->p != '\0')
            l->p++;
        return TK_STRING;
    }
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
            const char *b = l->p - 1;
            while (l->p < l->end && ((*l->p >= 'a' && *l->p <= 'z') || (*l->p >= 'A' && *l->p <= 'Z') ||
                                     (*l->p >= '0' && *l->p <= '9') || *l->p == '_'))
                l->p++;
            l->str = (sx_str_t){b, (size_t)(l->p - b)};
            return TK_FIELD;
        }
        snprintf(l->msg, sizeof(l->msg), "unexpected char %c", c);
        return TK_ERR;
    }
}

int sx_lq_jsonpath_parse(sx_str_t expr, sx_lq_jsonpath_t *out, sx_arena_t *a, sx_err_t *err)
{
    plex_t l = {.p = expr.ptr, .end = expr.ptr + expr.len};
    size_t cap = 4, n = 0;
    sx_lq_jsonpath_step_t *steps = sx_arena_alloc(a, cap * sizeof(*steps));
    if (!steps)
        return sx_err_set(err, SX_ENOMEM, "out of memory");
    bool first = true;
    for (;;) {
        int t = plex_next(&l);
        if (t == TK_ERR)
            return sx_err_set(err, SX_EPARSE, "%s", l.msg);
        if (t == TK_END) {
            if (first)
                return sx_err_set(err, SX_EPARSE, "syntax error: unexpected $end, expecting LSB or FIELD");
            break;
        }
        sx_lq_jsonpath_step_t st = {.index = -1};
        if (t == TK_FIELD && first) {
            st.key = l.str;
        } else if (t == TK_DOT && !first) {
            int t2 = plex_next(&l);
            if (t2 == TK_ERR)
                return sx_err_set(err, SX_EPARSE, "%s", l.msg);
            if (t2 != TK_FIELD)
                return sx_err_set(err, SX_EPARSE, "syntax error: unexpected %s, expecting FIELD", tk_name[t2]);
            st.key = l.str;
        } else if (t == TK_LSB) {
            int t2 = plex_next(&l);
            if (t2 == TK_ERR)
                return sx_err_set(err, SX_EPARSE, "%s", l.msg);
            if (t2 == TK_STRING)
                st.key = l.str;
            else if (t2 == TK_INDEX)
                st.index = l.num;
            else
                return sx_err_set(err, SX_EPARSE, "syntax error: unexpected %s, expecting STRING or INDEX",
                                  tk_name[t2]);
            int t3 = plex_next(&l);
            if (t3 == TK_ERR)
                return sx_err_set(err, SX_EPARSE, "%s", l.msg);
            if (t3 != TK_RSB)
                return sx_err_set(err, SX_EPARSE, "syntax error: unexpected %s, expecting RSB", tk_name[t3]);
        } else if (first) {
            return sx_err_set(err, SX_EPARSE, "syntax error: unexpected %s, expecting LSB or FIELD", tk_name[t]);
        } else {
            return sx_err_set(err, SX_EPARSE, "syntax error: unexpected %s", tk_name[t]);
        }
        if (n == cap) {
            steps = sx_arena_realloc(a, steps, cap * sizeof(*steps), 2 * cap * sizeof(*steps));
            if (!steps)
                return sx_err_set(err, SX_ENOMEM, "out of memory");
            cap *= 2;
        }
        steps[n++] = st;
        first = false;
    }
    out->steps = steps;
    out->n = n;
    return 0;
}

int sx_lq_json_compile(sx_lq_json_t *j, const sx_str_t *ids, const sx_str_t *exprs, size_t n,
                       sx_arena_t *a, sx_err_t *err)
{
    memset(j, 0, sizeof(*j));
    j->ids = sx_arena_calloc(a, n ? n : 1, sizeof(*j->ids));
    j->paths = sx_arena_calloc(a, n ? n : 1, sizeof(*j->paths));
    if (!j->ids || !j->paths)
        return sx_err_set(err, SX_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        sx_str_t e = sx_arena_strdup_str(a, exprs[i]);
        if (sx_lq_jsonpath_parse(e, &j->paths[i], a, err) != 0) {
            sx_err_wrap(err, "cannot parse expression [%.*s]: ", (int)exprs[i].len, exprs[i].ptr);
            return SX_EPARSE;
        }
        if (!sx_lq_label_name_valid(ids[i]))
            return sx_err_set(err, SX_EPARSE, "invalid extracted label name '%.*s'", (int)ids[i].len,
                              ids[i].ptr);
        j->ids[i] = sx_arena_strdup_str(a, ids[i]);
    }
    j->n = n;
    return 0;
}

/* Walk a path from cur, trying every member with the wanted key (the
 * first one whose subtree has the rest of the path wins, as jsonparser's
 * key search does). Lenient: structural trouble on the way means "not
 * found". Returns true with *out set; out->type == 0 means the addressed
 * value is malformed (out->vb is where it starts). */
static bool nav(sx_lq_labels_t *lb, const char *d, const jval_t *cur, const sx_lq_jsonpath_t *p, size_t s,
                jval_t *out)
{
    if (s == p->n) {
        *out = *cur;
        return true;
    }
    const sx_lq_jsonpath_step_t *st = &p->steps[s];
    size_t off = cur->vb + 1, limit = cur->end;
    if (st->index >= 0) {
        if (cur->type != JT_ARRAY)
            return false;
        off = next_token(d, off, limit);
        if (off >= limit || d[off] == ']')
            return false;
        for (long i = 0;; i++) {
            jval_t v;
            if (get_value(d, off, limit, &v) != JE_OK) {
                if (i == st->index && s + 1 == p->n) {
                    *out = (jval_t){0, off, off, off};
                    return true;
                }
                return false;
            }
            if (i == st->index)
                return nav(lb, d, &v, p, s + 1, out);
            off = next_token(d, v.end, limit);
            if (off >= limit || d[off] != ',')
                return false;
            off++;
        }
    }
    if (cur->type != JT_OBJECT)
        return false;
    for (;;) {
        off = next_token(d, off, limit);
        if (off >= limit || d[off] != '"')
            return false;
        bool kesc;
        size_t ke = string_end(d, off + 1, limit, &kesc);
        if (!ke)
            return false;
        sx_str_t k = {d + off + 1, ke - 2 - off};
        off = ke;
        bool match;
        if (kesc) {
            char kbuf[256];
            char *o = k.len <= sizeof(kbuf) ? kbuf : sx_lq_labels_alloc(lb, k.len);
            long m = unescape(k.ptr, k.len, o);
            match = m >= 0 && sx_str_eq((sx_str_t){o, (size_t)m}, st->key);
        } else {
            match = sx_str_eq(k, st->key);
        }
        off = next_token(d, off, limit);
        if (off >= limit || d[off] != ':')
            return false;
        jval_t v;
        if (get_value(d, off + 1, limit, &v) != JE_OK) {
            if (match && s + 1 == p->n) {
                *out = (jval_t){0, off + 1, off + 1, off + 1};
                return true;
            }
            return false;
        }
        if (match && nav(lb, d, &v, p, s + 1, out))
            return true;
        off = next_token(d, v.end, limit);
        if (off >= limit || d[off] != ',')
            return false;
        off++;
    }
}

void sx_lq_json_extract(const sx_lq_json_t *j, sx_str_t line, sx_lq_labels_t *lb)
{
    if (line.len == 0)
        return;
    char c0 = line.ptr[0];
    if (c0 != '"' && c0 != '{' && c0 != '[') {
        set_json_error(lb, JE_OK);
        return;
    }
    const char *d = line.ptr;
    jval_t root;
    int rrc = get_value(d, 0, line.len, &root);
    if (rrc == JE_MALFORMED_OBJECT || rrc == JE_MALFORMED_ARRAY) {
        /* jsonparser finds keys without needing the closing bracket. */
        root = (jval_t){c0 == '{' ? JT_OBJECT : JT_ARRAY, 0, line.len, line.len};
        rrc = JE_OK;
    }
    size_t matches = 0;
    for (size_t i = 0; i < j->n; i++) {
        const sx_lq_jsonpath_t *p = &j->paths[i];
        if (rrc != JE_OK)
            break;
        jval_t cur;
        if (!nav(lb, d, &root, p, 0, &cur))
            continue;
        if (cur.type == 0) {
            /* The addressed value is malformed: Get's error. */
            jval_t v;
            int rc = get_value(d, cur.vb, line.len, &v);
            set_json_error(lb, rc ? rc : JE_MALFORMED_JSON);
            continue;
        }
        sx_str_t id = j->ids[i];
        if (sx_lq_labels_base_has(lb, id))
            id = add_suffix(lb, id);
        sx_str_t value;
        switch (cur.type) {
        case JT_NULL:
            value = SX_STR_LIT("");
            break;
        case JT_OBJECT:
            value = (sx_str_t){d + cur.vb, cur.ve - cur.vb};
            break;
        default:
            /* Strings, numbers, booleans and (as Loki does) arrays go
             * through the string unescaper. */
            value = string_value(lb, d + cur.vb, cur.ve - cur.vb);
            break;
        }
        sx_lq_labels_set(lb, SX_LQ_PARSED, id, value);
        matches++;
    }
    if (matches < j->n) {
        for (size_t i = 0; i < j->n; i++)
            if (!sx_lq_labels_has(lb, j->ids[i]))
                sx_lq_labels_set(lb, SX_LQ_PARSED, j->ids[i], SX_STR_LIT(""));
    }
}
