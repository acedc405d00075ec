/* SPDX-License-Identifier: Apache-2.0 */
/* Conformance runner for the line protocol parser: replays every decode
 * case of the influxdata line-protocol corpus (../shared/conformance/
 * line-protocol/corpus.json) through sx_lp_parser_next. Valid inputs must
 * give exactly the expected points (tags compared in key order, as the
 * corpus lists them; duplicate tag keys are an error, as in the corpus
 * generator); error inputs must be rejected, whatever the message. Prints
 * pass counts per source ("implementation") and exits non-zero on any
 * failure. Usage: conf_line_protocol <conformance dir> [-v]. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/line_protocol.h"

/* ---- Loading ---- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n > 0 ? (size_t)n + 1 : 1);
    *len = fread(buf, 1, n > 0 ? (size_t)n : 0, f);
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

/* jansson keeps integers in an int64 and rejects bigger ones, but the
 * corpus has uint64 values and float values written as long integers. Turn
 * the number after every "uint" or "float" key into a string so that it can
 * be converted exactly (strtoull / strtod) instead. */
static void quote_wide_numbers(const char *in, size_t len, sx_buf_t *out)
{
    size_t i = 0;
    while (i < len) {
        if (in[i] != '"') {
            sx_buf_putc(out, in[i++]);
            continue;
        }
        size_t start = i++;
        while (i < len && in[i] != '"')
            i += in[i] == '\\' ? 2 : 1;
        i++;
        size_t slen = i - start;
        sx_buf_append(out, in + start, slen);
        bool wide = (slen == 6 && !memcmp(in + start, "\"uint\"", 6)) ||
                    (slen == 7 && !memcmp(in + start, "\"float\"", 7));
        if (!wide)
            continue;
        size_t j = i;
        while (j < len && (in[j] == ' ' || in[j] == '\n' || in[j] == '\t' || in[j] == '\r'))
            j++;
        if (j >= len || in[j] != ':')
            continue;
        j++;
        while (j < len && (in[j] == ' ' || in[j] == '\n' || in[j] == '\t' || in[j] == '\r'))
            j++;
        if (j >= len || !(in[j] == '-' || (in[j] >= '0' && in[j] <= '9')))
            continue;
        sx_buf_append(out, in + i, j - i);
        size_t k = j;
        while (k < len && strchr("+-.eE0123456789", in[k]))
            k++;
        sx_buf_putc(out, '"');
        sx_buf_append(out, in + j, k - j);
        sx_buf_putc(out, '"');
        i = k;
    }
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with padding into the arena. */
static sx_str_t b64decode(sx_arena_t *a, const char *s, size_t n)
{
    char *o = sx_arena_alloc(a, n + 1);
    size_t k = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (char)((acc >> bits) & 0xff);
        }
    }
    return (sx_str_t){o, k};
}

/* A #StringOrBinary: a JSON string, or {"binary": base64}. */
static sx_str_t str_or_binary(sx_arena_t *a, json_t *j)
{
    if (json_is_string(j))
        return (sx_str_t){json_string_value(j), json_string_length(j)};
    json_t *b = json_object_get(j, "binary");
    if (json_is_string(b))
        return b64decode(a, json_string_value(b), json_string_length(b));
    return SX_STR_NULL;
}

static int64_t precision_ns(const char *p)
{
    if (!strcmp(p, "1ns"))
        return 1;
    if (!strcmp(p, "1\xc2\xb5s"))
        return 1000;
    if (!strcmp(p, "1ms"))
        return 1000000;
    if (!strcmp(p, "1s"))
        return 1000000000;
    if (!strcmp(p, "1m"))
        return 60000000000LL;
    if (!strcmp(p, "1h"))
        return 3600000000000LL;
    return 0;
}

/* ---- Comparing ---- */

static int cmp_tag(const void *a, const void *b)
{
    return sx_str_cmp(((const sx_lp_tag_t *)a)->key, ((const sx_lp_tag_t *)b)->key);
}

/* Compare one parsed point with an expected #Point. Returns NULL when they
 * match, else a description of the first difference (arena). */
static const char *compare_point(sx_arena_t *a, sx_lp_point_t *pt, int64_t ns, json_t *want)
{
    sx_str_t name = str_or_binary(a, json_object_get(want, "name"));
    if (!sx_str_eq(name, pt->measurement))
        return sx_arena_sprintf(a, "measurement \"%.*s\", want \"%.*s\"", (int)pt->measurement.len,
                                pt->measurement.ptr, (int)name.len, name.ptr);
    json_t *time = json_object_get(want, "time");
    if (!json_is_integer(time) || json_integer_value(time) != ns)
        return sx_arena_sprintf(a, "time %lld, want %lld", (long long)ns,
                                (long long)json_integer_value(time));

    json_t *tags = json_object_get(want, "tags");
    size_t ntags = json_array_size(tags);
    if (ntags != pt->ntags)
        return sx_arena_sprintf(a, "%u tags, want %zu", pt->ntags, ntags);
    if (pt->ntags > 1)
        qsort(pt->tags, pt->ntags, sizeof(sx_lp_tag_t), cmp_tag);
    for (size_t i = 0; i < ntags; i++) {
        json_t *t = json_array_get(tags, i);
        sx_str_t k = str_or_binary(a, json_object_get(t, "key"));
        sx_str_t v = str_or_binary(a, json_object_get(t, "value"));
        if (!sx_str_eq(k, pt->tags[i].key) || !sx_str_eq(v, pt->tags[i].value))
            return sx_arena_sprintf(a, "tag %zu is \"%.*s\"=\"%.*s\", want \"%.*s\"=\"%.*s\"", i,
                                    (int)pt->tags[i].key.len, pt->tags[i].key.ptr,
                                    (int)pt->tags[i].value.len, pt->tags[i].value.ptr, (int)k.len,
                                    k.ptr, (int)v.len, v.ptr);
    }

    json_t *fields = json_object_get(want, "fields");
    size_t nfields = json_array_size(fields);
    if (nfields != pt->nfields)
        return sx_arena_sprintf(a, "%u fields, want %zu", pt->nfields, nfields);
    for (size_t i = 0; i < nfields; i++) {
        json_t *f = json_array_get(fields, i);
        const sx_lp_field_t *got = &pt->fields[i];
        sx_str_t k = str_or_binary(a, json_object_get(f, "key"));
        if (!sx_str_eq(k, got->key))
            return sx_arena_sprintf(a, "field %zu key \"%.*s\", want \"%.*s\"", i,
                                    (int)got->key.len, got->key.ptr, (int)k.len, k.ptr);
        json_t *val = json_object_get(f, "value"), *x;
        bool ok;
        if ((x = json_object_get(val, "int")))
            ok = got->kind == SX_LP_INT && json_is_integer(x) && got->v.i == json_integer_value(x);
        else if ((x = json_object_get(val, "uint")))
            ok = got->kind == SX_LP_UINT && json_is_string(x) &&
                 got->v.u == strtoull(json_string_value(x), NULL, 10);
        else if ((x = json_object_get(val, "float"))) {
            double w =
                json_is_string(x) ? strtod(json_string_value(x), NULL) : json_number_value(x);
            /* -0 == 0: the corpus export writes negative zero as 0. */
            ok = got->kind == SX_LP_FLOAT && got->v.f == w;
        } else if ((x = json_object_get(val, "bool")))
            ok = got->kind == SX_LP_BOOL && got->v.b == json_is_true(x);
        else if ((x = json_object_get(val, "string")))
            ok = got->kind == SX_LP_STRING &&
                 sx_str_eq(got->v.s, (sx_str_t){json_string_value(x), json_string_length(x)});
        else if ((x = json_object_get(val, "binary")))
            ok = got->kind == SX_LP_STRING && sx_str_eq(got->v.s, str_or_binary(a, val));
        else
            ok = false;
        if (!ok) {
            char *dump = json_dumps(val, JSON_COMPACT);
            const char *msg = sx_arena_sprintf(a, "field %zu (\"%.*s\") has kind %d, want %s", i,
                                               (int)k.len, k.ptr, got->kind, dump);
            free(dump);
            return msg;
        }
    }
    return NULL;
}

/* ---- Running ---- */

typedef struct category {
    char name[64];
    int valid_pass, valid_total, error_pass, error_total;
} category_t;

static category_t *find_category(category_t *cats, int *ncats, const char *name)
{
    for (int i = 0; i < *ncats; i++)
        if (!strcmp(cats[i].name, name))
            return &cats[i];
    category_t *c = &cats[(*ncats)++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    return c;
}

static void show_input(sx_str_t text)
{
    fputs("    input: \"", stderr);
    for (size_t i = 0; i < text.len && i < 200; i++) {
        unsigned char c = (unsigned char)text.ptr[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fputs(text.len > 200 ? "...\"\n" : "\"\n", stderr);
}

/* Run one decode case. Returns true when it passes; *why explains a
 * failure. */
static bool run_case(sx_arena_t *a, json_t *input, json_t *output, sx_str_t text, const char **why)
{
    int64_t prec = precision_ns(json_string_value(json_object_get(input, "precision")));
    int64_t deftime = json_integer_value(json_object_get(input, "defaultTime"));
    json_t *want = json_object_get(output, "result");
    bool want_error = want == NULL;
    if (prec == 0) {
        *why = "unknown precision";
        return false;
    }
    /* Points without a timestamp take the default time cut down to the
     * precision. */
    int64_t def = deftime - ((deftime % prec) + prec) % prec;

    sx_lp_parser_t p;
    sx_lp_point_t pt;
    sx_err_t err = {0};
    sx_lp_parser_init(&p, text.ptr, text.len, a, SX_LP_REJECT_DUP_TAGS);
    size_t i = 0;
    int rc;
    while ((rc = sx_lp_parser_next(&p, &pt, &err)) == 1) {
        int64_t ns = def;
        if (pt.has_ts && !sx_lp_ts_to_ns(pt.ts, prec, &ns)) {
            rc = sx_err_set(&err, SX_EPARSE, "line %u: timestamp out of range", pt.line);
            break;
        }
        if (want_error)
            continue;
        if (i >= json_array_size(want)) {
            *why = sx_arena_sprintf(a, "more points than the %zu expected", json_array_size(want));
            return false;
        }
        const char *diff = compare_point(a, &pt, ns, json_array_get(want, i));
        if (diff) {
            *why = sx_arena_sprintf(a, "point %zu: %s", i, diff);
            return false;
        }
        i++;
    }
    if (want_error) {
        if (rc < 0)
            return true;
        *why = sx_arena_sprintf(a, "accepted, want error: %s",
                                json_string_value(json_object_get(output, "error")));
        return false;
    }
    if (rc < 0) {
        *why = sx_arena_sprintf(a, "rejected: %s", err.msg);
        return false;
    }
    if (i != json_array_size(want)) {
        *why = sx_arena_sprintf(a, "%zu points, want %zu", i, json_array_size(want));
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <conformance dir> [-v]\n", argv[0]);
        return 2;
    }
    bool verbose = argc > 2 && !strcmp(argv[2], "-v");
    char path[4096];
    snprintf(path, sizeof(path), "%s/line-protocol/corpus.json", argv[1]);
    size_t len;
    char *raw = read_file(path, &len);
    if (!raw) {
        fprintf(stderr, "cannot read %s\n", path);
        return 2;
    }
    sx_buf_t text = SX_BUF_INIT;
    quote_wide_numbers(raw, len, &text);
    free(raw);
    json_error_t jerr;
    json_t *root = json_loadb(text.ptr, text.len, JSON_ALLOW_NUL, &jerr);
    sx_buf_dispose(&text);
    if (!root) {
        fprintf(stderr, "%s:%d: %s\n", path, jerr.line, jerr.text);
        return 2;
    }
    json_t *decode = json_object_get(root, "decode");
    if (!json_is_object(decode)) {
        fprintf(stderr, "%s: no decode cases\n", path);
        return 2;
    }

    category_t cats[32];
    int ncats = 0, passed = 0, failed = 0, shown = 0;
    sx_arena_t arena;
    sx_arena_init(&arena);
    const char *key;
    json_t *c;
    json_object_foreach(decode, key, c)
    {
        sx_arena_reset(&arena);
        json_t *input = json_object_get(c, "input"), *output = json_object_get(c, "output");
        const char *impl = json_string_value(json_object_get(input, "implementation"));
        category_t *cat = find_category(cats, &ncats, impl ? impl : "?");
        if (ncats == (int)(sizeof(cats) / sizeof(cats[0])))
            ncats--;
        sx_str_t in = str_or_binary(&arena, json_object_get(input, "text"));
        bool want_error = json_object_get(output, "result") == NULL;
        const char *why = NULL;
        bool ok = run_case(&arena, input, output, in, &why);
        if (want_error) {
            cat->error_total++;
            cat->error_pass += ok;
        } else {
            cat->valid_total++;
            cat->valid_pass += ok;
        }
        if (ok) {
            passed++;
            continue;
        }
        failed++;
        if (verbose || shown < 25) {
            shown++;
            fprintf(stderr, "FAIL %s (%s): %s\n", key, impl ? impl : "?", why);
            show_input(in);
        }
    }
    for (int i = 0; i < ncats; i++)
        printf("%-18s valid %4d/%-4d  error %4d/%-4d\n", cats[i].name, cats[i].valid_pass,
               cats[i].valid_total, cats[i].error_pass, cats[i].error_total);
    printf("line protocol decode: %d passed, %d failed\n", passed, failed);
    sx_arena_dispose(&arena);
    json_decref(root);
    return failed ? 1 : 0;
}
