/* SPDX-License-Identifier: Apache-2.0 */
/* Conformance runner for the LogQL parser: reads the parse cases of
 * ../shared/conformance/logql-parse/ (Grafana's lezer-logql test corpus, in
 * the lezer test format: "# name", the query, "==>", the expected Lezer
 * tree, where a tree containing "⚠" marks a query with a syntax error) and
 * checks that every valid query parses and every invalid one is rejected.
 *
 * The corpus is about syntax: some of its valid queries break Loki's
 * semantic checks (a stream selector needs a matcher that rejects the
 * empty string; sort takes no `by`; a `| regexp` needs a named capture),
 * so queries are parsed for their syntax (SX_LOGQL_PARSE_SYNTAX_ONLY) and
 * the valid ones a full parse rejects, as Loki does, are listed for
 * information. Invalid queries must be rejected even by the syntax-only
 * parse. Every accepted query must also survive the formatter's round trip
 * (format, parse, format the same text).
 *
 * Usage: conf_logql_parse <conformance dir> [-v]
 * Prints `logql-parse <file>: valid a/b, invalid c/d` per file and a total
 * line; -v (or SX_CONF_VERBOSE=1) adds a line per case. Exits non-zero on
 * any failure or when no case was found. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"
#include "query/logql/logql.h"

typedef struct counts {
    int valid, valid_ok, invalid, invalid_ok, unvalidated, roundtrip_bad;
} counts_t;

static bool verbose;

static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n > 0 ? (size_t)n + 1 : 1);
    size_t got = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    buf[got] = '\0';
    *len = got;
    return buf;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static bool is_arrow(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return n == 3 && memcmp(s, "==>", 3) == 0;
}

/* Format q's tree, parse that again and compare; true when stable. */
static bool round_trip(const sx_logql_expr_t *e, char **shown)
{
    sx_buf_t f1 = SX_BUF_INIT, f2 = SX_BUF_INIT;
    sx_logql_format(e, &f1);
    sx_arena_t a;
    sx_arena_init(&a);
    sx_err_t err;
    unsigned fl = SX_LOGQL_PARSE_SYNTAX_ONLY | SX_LOGQL_PARSE_NO_SIZE_LIMIT;
    sx_logql_expr_t *e2 = sx_logql_parse_ex(f1.ptr ? f1.ptr : "", f1.len, fl, &a, &err);
    bool ok = false;
    if (e2) {
        sx_logql_format(e2, &f2);
        ok = f1.len == f2.len && (f1.len == 0 || memcmp(f1.ptr, f2.ptr, f1.len) == 0);
        sx_logql_expr_dispose(e2);
    }
    sx_buf_putc(&f1, '\0');
    *shown = f1.ptr;
    sx_buf_dispose(&f2);
    sx_arena_dispose(&a);
    return ok;
}

static void run_case(const char *file, const char *name, const char *q, size_t qlen, bool valid,
                     counts_t *c)
{
    sx_arena_t a;
    sx_arena_init(&a);
    sx_err_t err;
    memset(&err, 0, sizeof(err));
    sx_logql_expr_t *e = sx_logql_parse_ex(q, qlen, SX_LOGQL_PARSE_SYNTAX_ONLY, &a, &err);
    if (valid) {
        c->valid++;
        if (!e) {
            printf("FAIL %s: %s: valid query rejected: %.*s\n  %s\n", file, name, (int)qlen, q,
                   err.msg);
        } else {
            char *shown = NULL;
            if (!round_trip(e, &shown)) {
                c->roundtrip_bad++;
                printf("FAIL %s: %s: round trip: %s\n", file, name, shown ? shown : "");
            } else {
                c->valid_ok++;
                if (verbose)
                    printf("ok   %s: %s\n     %s\n", file, name, shown ? shown : "");
            }
            free(shown);
            /* Loki's full validation, for information. */
            sx_arena_t b;
            sx_arena_init(&b);
            sx_err_t verr;
            sx_logql_expr_t *v = sx_logql_parse(q, qlen, &b, &verr);
            if (!v) {
                c->unvalidated++;
                printf("note %s: %s: a full parse rejects it, as Loki: %s\n", file, name,
                       verr.msg);
            }
            sx_logql_expr_dispose(v);
            sx_arena_dispose(&b);
        }
    } else {
        c->invalid++;
        if (e) {
            sx_buf_t f = SX_BUF_INIT;
            sx_logql_format(e, &f);
            printf("FAIL %s: %s: invalid query accepted: %.*s\n  as %.*s\n", file, name,
                   (int)qlen, q, (int)f.len, f.ptr ? f.ptr : "");
            sx_buf_dispose(&f);
        } else {
            c->invalid_ok++;
            if (verbose)
                printf("ok   %s: %s (rejected: %s)\n", file, name, err.msg);
        }
    }
    sx_logql_expr_dispose(e);
    sx_arena_dispose(&a);
}

/* Run every case of one lezer test file. Returns the number of cases. */
static int run_file(const char *path, const char *file, counts_t *c)
{
    size_t len;
    char *buf = read_whole(path, &len);
    if (!buf) {
        fprintf(stderr, "conf_logql_parse: cannot read %s\n", path);
        return 0;
    }
    /* Split into lines (kept in place, not terminated). */
    size_t nl = 0, cap = 256;
    const char **lp = malloc(cap * sizeof(*lp));
    size_t *ll = malloc(cap * sizeof(*ll));
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && buf[j] != '\n')
            j++;
        if (nl == cap) {
            cap *= 2;
            lp = realloc(lp, cap * sizeof(*lp));
            ll = realloc(ll, cap * sizeof(*ll));
        }
        lp[nl] = buf + i;
        ll[nl++] = j - i;
        i = j + 1;
    }
    int cases = 0;
    size_t i = 0;
    while (i < nl) {
        if (!(ll[i] >= 2 && lp[i][0] == '#' && lp[i][1] == ' ')) {
            i++;
            continue;
        }
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(ll[i] - 2), lp[i] + 2);
        size_t q0 = ++i;
        while (i < nl && !is_arrow(lp[i], ll[i]))
            i++;
        if (i == nl)
            break;
        size_t q1 = i; /* exclusive */
        while (q0 < q1 && blank(lp[q0], ll[q0]))
            q0++;
        while (q1 > q0 && blank(lp[q1 - 1], ll[q1 - 1]))
            q1--;
        /* The tree: the lines up to the next case header. */
        bool valid = true;
        for (i++; i < nl && !(ll[i] >= 2 && lp[i][0] == '#' && lp[i][1] == ' '); i++)
            if (memmem(lp[i], ll[i], "\xE2\x9A\xA0", 3)) /* ⚠ */
                valid = false;
        sx_buf_t q = SX_BUF_INIT;
        for (size_t k = q0; k < q1; k++) {
            if (k > q0)
                sx_buf_putc(&q, '\n');
            sx_buf_append(&q, lp[k], ll[k]);
        }
        run_case(file, name, q.ptr ? q.ptr : "", q.len, valid, c);
        sx_buf_dispose(&q);
        cases++;
    }
    free(lp);
    free(ll);
    free(buf);
    return cases;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = true;
        else if (!dir)
            dir = argv[i];
    }
    const char *env = getenv("SX_CONF_VERBOSE");
    if (env && *env && strcmp(env, "0") != 0)
        verbose = true;
    if (!dir) {
        fprintf(stderr, "usage: conf_logql_parse <conformance dir> [-v]\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/logql-parse", dir);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "conf_logql_parse: cannot open %s\n", path);
        return 2;
    }
    char *names[256];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nn < 256) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 5 || strcmp(de->d_name + l - 4, ".txt") != 0 ||
            strcmp(de->d_name, "SOURCE.txt") == 0)
            continue;
        names[nn++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof(*names), cmp_str);
    counts_t total;
    memset(&total, 0, sizeof(total));
    int cases = 0;
    for (size_t i = 0; i < nn; i++) {
        counts_t c;
        memset(&c, 0, sizeof(c));
        char fp[4400];
        snprintf(fp, sizeof(fp), "%s/%s", path, names[i]);
        int n = run_file(fp, names[i], &c);
        if (n > 0) {
            printf("logql-parse %s: valid %d/%d, invalid %d/%d (%d valid ones fail Loki's "
                   "semantic checks)\n",
                   names[i], c.valid_ok, c.valid, c.invalid_ok, c.invalid, c.unvalidated);
            cases += n;
            total.valid += c.valid;
            total.valid_ok += c.valid_ok;
            total.invalid += c.invalid;
            total.invalid_ok += c.invalid_ok;
            total.unvalidated += c.unvalidated;
            total.roundtrip_bad += c.roundtrip_bad;
        }
        free(names[i]);
    }
    int passed = total.valid_ok + total.invalid_ok;
    printf("logql-parse total: %d/%d passed (valid %d/%d, invalid %d/%d)\n", passed, cases,
           total.valid_ok, total.valid, total.invalid_ok, total.invalid);
    if (cases == 0) {
        fprintf(stderr, "conf_logql_parse: no cases found in %s\n", path);
        return 1;
    }
    return passed == cases ? 0 : 1;
}
