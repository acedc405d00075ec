/* SPDX-License-Identifier: Apache-2.0 */
/* The LogQL log pipeline: line filters, parsers, label filters,
 * formatters, drop/keep and unwrap, applied to one entry at a time with
 * Loki's semantics (stage order, __error__ handling, the category of each
 * label). Compiled once per query; one instance per thread. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "engine_int.h"
#include "ipfilter.h"
#include "jsonx.h"
#include "logfmt.h"
#include "pattern.h"
#include "template.h"

typedef struct stage_rt {
    const sx_logql_stage_t *st;
    sx_lq_logfmt_t logfmt;
    sx_lq_json_t json;
    sx_lq_pattern_t pattern;
    sx_lq_pattern_t *alt_patterns;  /* line filters |> !> */
    sx_lq_ipfilter_t *alt_ips;      /* line filters ip("...") */
    sx_lq_tmpl_t *tmpl;         /* line_format */
    sx_lq_tmpl_t **label_tmpls; /* label_format (NULL for renames) */
} stage_rt_t;

/* Compiled label filter leaves that need more than the AST: ip(). */
typedef struct lf_rt {
    const sx_logql_lfilter_t *f;
    sx_lq_ipfilter_t ip;
} lf_rt_t;

typedef struct shared {
    const sx_logql_expr_t *log;
    stage_rt_t *stages;
    size_t nstages;
    const sx_logql_unwrap_t *unwrap;
    lf_rt_t *lfs;
    size_t nlfs;
    bool lines_only;
} shared_t;

struct sx_lq_pipe {
    shared_t *sh;
    bool owner; /* the first instance releases the compiled templates */
    sx_lq_labels_t lb;
    sx_buf_t line_a, line_b, scratch;
    pcre2_match_data *md;
};

static const sx_lq_ipfilter_t *lf_ip(const shared_t *sh, const sx_logql_lfilter_t *f)
{
    for (size_t i = 0; i < sh->nlfs; i++)
        if (sh->lfs[i].f == f)
            return &sh->lfs[i].ip;
    return NULL;
}

static void release(shared_t *sh)
{
    for (size_t i = 0; i < sh->nstages; i++) {
        stage_rt_t *r = &sh->stages[i];
        sx_lq_tmpl_dispose(r->tmpl);
        r->tmpl = NULL;
        if (r->label_tmpls && r->st)
            for (size_t k = 0; k < r->st->label_fmt.n; k++) {
                sx_lq_tmpl_dispose(r->label_tmpls[k]);
                r->label_tmpls[k] = NULL;
            }
    }
}

static int compile_lf(shared_t *sh, const sx_logql_lfilter_t *f, sx_arena_t *a, sx_err_t *err)
{
    if (f->kind == SX_LQ_LF_AND || f->kind == SX_LQ_LF_OR) {
        for (size_t i = 0; i < f->group.nkids; i++) {
            int rc = compile_lf(sh, f->group.kids[i], a, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (f->kind != SX_LQ_LF_IP)
        return 0;
    sh->lfs = sx_arena_realloc(a, sh->lfs, sh->nlfs * sizeof(lf_rt_t), (sh->nlfs + 1) * sizeof(lf_rt_t));
    lf_rt_t *r = &sh->lfs[sh->nlfs++];
    r->f = f;
    return sx_lq_ipfilter_compile(f->leaf.raw, &r->ip, err);
}

sx_lq_pipe_t *sx_lq__pipe_create(const sx_logql_expr_t *log, const sx_logql_unwrap_t *unwrap,
                                 sx_arena_t *a, sx_err_t *err)
{
    shared_t *sh = sx_arena_calloc(a, 1, sizeof(*sh));
    sh->log = log;
    sh->unwrap = unwrap;
    sh->nstages = log->log.nstages;
    sh->stages = sx_arena_calloc(a, sh->nstages + 1, sizeof(stage_rt_t));
    sh->lines_only = true;
    int rc = 0;
    for (size_t i = 0; i < sh->nstages && !rc; i++) {
        const sx_logql_stage_t *st = &log->log.stages[i];
        stage_rt_t *r = &sh->stages[i];
        r->st = st;
        if (st->kind != SX_LQ_STAGE_LINE_FILTER)
            sh->lines_only = false;
        switch (st->kind) {
        case SX_LQ_STAGE_LINE_FILTER: {
            const sx_logql_line_filter_t *lf = &st->line;
            if (lf->op == SX_LQ_LINE_PATTERN || lf->op == SX_LQ_LINE_NOT_PATTERN) {
                r->alt_patterns = sx_arena_calloc(a, lf->nalts, sizeof(sx_lq_pattern_t));
                for (size_t k = 0; k < lf->nalts && !rc; k++)
                    rc = sx_lq_pattern_compile_filter(lf->alts[k].value, &r->alt_patterns[k], a, err);
            }
            for (size_t k = 0; k < lf->nalts && !rc; k++)
                if (lf->alts[k].ip) {
                    if (!r->alt_ips)
                        r->alt_ips = sx_arena_calloc(a, lf->nalts, sizeof(sx_lq_ipfilter_t));
                    rc = sx_lq_ipfilter_compile(lf->alts[k].value, &r->alt_ips[k], err);
                }
            break;
        }
        case SX_LQ_STAGE_JSON:
        case SX_LQ_STAGE_LOGFMT: {
            size_t n = st->parser.nparams;
            sx_str_t *ids = sx_arena_alloc(a, (n + 1) * sizeof(sx_str_t));
            sx_str_t *ex = sx_arena_alloc(a, (n + 1) * sizeof(sx_str_t));
            for (size_t k = 0; k < n; k++) {
                ids[k] = st->parser.params[k].label;
                ex[k] = st->parser.params[k].expr;
            }
            if (st->kind == SX_LQ_STAGE_JSON) {
                if (n)
                    rc = sx_lq_json_compile(&r->json, ids, ex, n, a, err);
            } else {
                rc = sx_lq_logfmt_init(&r->logfmt, st->parser.strict, st->parser.keep_empty, ids,
                                       ex, n, a, err);
            }
            break;
        }
        case SX_LQ_STAGE_PATTERN:
            rc = sx_lq_pattern_compile(st->pattern, &r->pattern, a, err);
            break;
        case SX_LQ_STAGE_LINE_FORMAT:
            r->tmpl = sx_lq_tmpl_compile(st->tmpl, "line", a, err);
            if (!r->tmpl)
                rc = err->code ? err->code : SX_EPARSE;
            break;
        case SX_LQ_STAGE_LABEL_FORMAT:
            r->label_tmpls = sx_arena_calloc(a, st->label_fmt.n + 1, sizeof(sx_lq_tmpl_t *));
            for (size_t k = 0; k < st->label_fmt.n && !rc; k++) {
                sx_str_t dst = st->label_fmt.f[k].dst;
                if (sx_str_eq_cstr(dst, SX_LQ_ERROR_LABEL) ||
                    sx_str_eq_cstr(dst, SX_LQ_ERROR_DETAILS_LABEL))
                    rc = sx_err_set(err, SX_EPARSE, "%.*s cannot be formatted", (int)dst.len,
                                    dst.ptr);
                for (size_t j = 0; j < k && !rc; j++)
                    if (sx_str_eq(st->label_fmt.f[j].dst, dst))
                        rc = sx_err_set(err, SX_EPARSE,
                                        "label_format: multiple label name '%.*s' not allowed "
                                        "in a single format operation",
                                        (int)dst.len, dst.ptr);
            }
            for (size_t k = 0; k < st->label_fmt.n && !rc; k++) {
                if (st->label_fmt.f[k].rename)
                    continue;
                r->label_tmpls[k] = sx_lq_tmpl_compile(st->label_fmt.f[k].value, "label", a, err);
                if (!r->label_tmpls[k])
                    rc = err->code ? err->code : SX_EPARSE;
            }
            break;
        case SX_LQ_STAGE_LABEL_FILTER:
            rc = compile_lf(sh, st->filter, a, err);
            break;
        default:
            break;
        }
    }
    for (size_t i = 0; unwrap && i < unwrap->npost && !rc; i++)
        rc = compile_lf(sh, unwrap->post[i], a, err);
    if (unwrap)
        sh->lines_only = false;
    if (rc) {
        release(sh);
        return NULL;
    }
    sx_lq_pipe_t *p = sx_lq__pipe_clone(NULL, a);
    p->sh = sh;
    p->owner = true;
    return p;
}

sx_lq_pipe_t *sx_lq__pipe_clone(const sx_lq_pipe_t *src, sx_arena_t *a)
{
    sx_lq_pipe_t *p = sx_xcalloc(1, sizeof(*p));
    p->sh = src ? src->sh : NULL;
    sx_lq_labels_init(&p->lb, a);
    p->md = pcre2_match_data_create(64, NULL);
    return p;
}

void sx_lq__pipe_destroy(sx_lq_pipe_t *p)
{
    if (!p)
        return;
    if (p->owner)
        release(p->sh);
    sx_lq_labels_dispose(&p->lb);
    sx_buf_dispose(&p->line_a);
    sx_buf_dispose(&p->line_b);
    sx_buf_dispose(&p->scratch);
    pcre2_match_data_free(p->md);
    free(p);
}

sx_lq_labels_t *sx_lq__pipe_labels(sx_lq_pipe_t *p)
{
    return &p->lb;
}

bool sx_lq__pipe_lines_only(const sx_lq_pipe_t *p)
{
    return p->sh->lines_only;
}

size_t sx_lq__pipe_needles(const sx_lq_pipe_t *p, sx_str_t **out, sx_arena_t *a)
{
    size_t n = 0;
    sx_str_t *v = sx_arena_alloc(a, (p->sh->nstages + 1) * sizeof(sx_str_t));
    for (size_t i = 0; i < p->sh->nstages; i++) {
        const sx_logql_stage_t *st = p->sh->stages[i].st;
        /* Only filters on the line as stored: stop at the first stage that
         * may rewrite it. */
        if (st->kind == SX_LQ_STAGE_LINE_FORMAT || st->kind == SX_LQ_STAGE_DECOLORIZE ||
            st->kind == SX_LQ_STAGE_UNPACK)
            break;
        if (st->kind != SX_LQ_STAGE_LINE_FILTER || st->line.op != SX_LQ_LINE_CONTAINS ||
            st->line.nalts != 1 || st->line.alts[0].ip)
            continue;
        v[n++] = st->line.alts[0].value;
    }
    *out = v;
    return n;
}

bool sx_lq__pipe_prefilter(const sx_lq_pipe_t *p, const sx_str_t *lines, size_t n, uint8_t *mask)
{
    /* The longest leading needle: the most selective and the fastest to
     * search for. */
    sx_str_t needle = SX_STR_NULL;
    for (size_t i = 0; i < p->sh->nstages; i++) {
        const sx_logql_stage_t *st = p->sh->stages[i].st;
        if (st->kind == SX_LQ_STAGE_LINE_FORMAT || st->kind == SX_LQ_STAGE_DECOLORIZE ||
            st->kind == SX_LQ_STAGE_UNPACK)
            break;
        if (st->kind == SX_LQ_STAGE_LINE_FILTER && st->line.op == SX_LQ_LINE_CONTAINS &&
            st->line.nalts == 1 && !st->line.alts[0].ip && st->line.alts[0].value.len > needle.len)
            needle = st->line.alts[0].value;
    }
    if (needle.len == 0 || n == 0 || !lines[0].ptr)
        return false;
    const char *base = lines[0].ptr, *end = lines[n - 1].ptr + lines[n - 1].len;
    /* Adjacent lines only (what the store delivers); otherwise fall back. */
    if (end < base || (size_t)(end - base) > ((size_t)1 << 31))
        return false;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += lines[i].len;
    if (total != (size_t)(end - base))
        return false;
    memset(mask, 0, n);
    const char *q = base;
    size_t li = 0;
    while (q < end && li < n) {
        const char *m = sx_memmem(q, (size_t)(end - q), needle.ptr, needle.len);
        if (!m)
            break;
        while (li < n && lines[li].ptr + lines[li].len <= m)
            li++;
        if (li == n)
            break;
        if (m + needle.len <= lines[li].ptr + lines[li].len) {
            mask[li] = 1;
            q = lines[li].ptr + lines[li].len;
            li++;
        } else {
            q = m + 1; /* the match spans two lines */
        }
    }
    return true;
}

/* ---- Line filters ---- */

static bool mem_contains(sx_str_t hay, sx_str_t needle)
{
    if (needle.len == 0)
        return true;
    return sx_memmem(hay.ptr ? hay.ptr : "", hay.len, needle.ptr, needle.len) != NULL;
}

static bool line_alt_matches(const stage_rt_t *r, size_t k, sx_str_t line)
{
    const sx_logql_line_filter_t *lf = &r->st->line;
    const sx_logql_line_alt_t *alt = &lf->alts[k];
    if (alt->ip)
        return sx_lq_ipfilter_line(&r->alt_ips[k], line);
    switch (lf->op) {
    case SX_LQ_LINE_CONTAINS:
    case SX_LQ_LINE_NOT_CONTAINS:
        return mem_contains(line, alt->value);
    case SX_LQ_LINE_MATCH:
    case SX_LQ_LINE_NOT_MATCH:
        return sx_logql_re_search(alt->re, line.ptr ? line.ptr : "", line.len);
    default:
        return sx_lq_pattern_test(&r->alt_patterns[k], line);
    }
}

static bool line_filter(const stage_rt_t *r, sx_str_t line)
{
    const sx_logql_line_filter_t *lf = &r->st->line;
    bool neg = lf->op == SX_LQ_LINE_NOT_CONTAINS || lf->op == SX_LQ_LINE_NOT_MATCH ||
               lf->op == SX_LQ_LINE_NOT_PATTERN;
    for (size_t k = 0; k < lf->nalts; k++)
        if (line_alt_matches(r, k, line))
            return !neg;
    return neg;
}

/* ---- Label filters ---- */

static bool cmp_num(int cmp, double a, double b)
{
    switch (cmp) {
    case SX_LQ_CMP_EQ: return a == b;
    case SX_LQ_CMP_NE: return a != b;
    case SX_LQ_CMP_GT: return a > b;
    case SX_LQ_CMP_GE: return a >= b;
    case SX_LQ_CMP_LT: return a < b;
    default: return a <= b;
    }
}

static bool run_lf(sx_lq_pipe_t *p, const sx_logql_lfilter_t *f)
{
    sx_lq_labels_t *lb = &p->lb;
    switch (f->kind) {
    case SX_LQ_LF_AND: {
        /* Loki evaluates both sides (a failing left side still lets the
         * right one set its error label). */
        bool ok = true;
        for (size_t i = 0; i < f->group.nkids; i++)
            ok = run_lf(p, f->group.kids[i]) && ok;
        return ok;
    }
    case SX_LQ_LF_OR:
        for (size_t i = 0; i < f->group.nkids; i++)
            if (run_lf(p, f->group.kids[i]))
                return true;
        return false;
    case SX_LQ_LF_STRING: {
        sx_str_t v = SX_STR_NULL;
        sx_lq_labels_get(lb, f->leaf.name, &v);
        return sx_matcher_matches(&f->leaf.m, v);
    }
    case SX_LQ_LF_IP: {
        sx_str_t v = SX_STR_NULL;
        if (!sx_lq_labels_get(lb, f->leaf.name, &v))
            return false;
        bool in = sx_lq_ipfilter_value(lf_ip(p->sh, f), v);
        return f->leaf.cmp == SX_LQ_CMP_NE ? !in : in;
    }
    default:
        break;
    }
    /* Numeric, duration and bytes comparisons: only string matchers can
     * filter a line that already carries an error. */
    if (sx_lq_labels_has_error(lb))
        return true;
    sx_str_t v;
    if (!sx_lq_labels_get(lb, f->leaf.name, &v))
        return false;
    sx_err_t err;
    double x = 0, want = 0;
    int rc;
    if (f->kind == SX_LQ_LF_NUMBER) {
        rc = sx_lq_parse_float(v, &x, &err);
        want = f->leaf.num.value;
    } else if (f->kind == SX_LQ_LF_DURATION) {
        int64_t ns = 0;
        rc = sx_lq_parse_duration(v, &ns, &err);
        x = (double)ns;
        want = (double)f->leaf.ns;
    } else {
        uint64_t b = 0;
        rc = sx_lq_parse_bytes(v, &b, &err);
        x = (double)b;
        want = f->leaf.bytes;
    }
    if (rc) {
        sx_lq_labels_set_error(lb, SX_STR_LIT(SX_LQ_ERR_LABEL_FILTER),
                               sx_lq_labels_strdup(lb, err.msg, strlen(err.msg)));
        return true;
    }
    return cmp_num(f->leaf.cmp, x, want);
}

/* ---- Stages ---- */

static void regexp_stage(sx_lq_pipe_t *p, const sx_logql_stage_t *st, sx_str_t line)
{
    int rc = pcre2_match((const pcre2_code *)st->regexp.re, (PCRE2_SPTR)(line.ptr ? line.ptr : ""),
                         line.len, 0, 0, p->md, NULL);
    if (rc < 0)
        return;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
    uint32_t novec = pcre2_get_ovector_count(p->md);
    for (size_t i = 0; i < st->regexp.nnames; i++) {
        uint32_t g = st->regexp.groups[i];
        if (g >= novec || ov[2 * g] == PCRE2_UNSET)
            continue;
        sx_str_t name = st->regexp.names[i];
        sx_str_t val = sx_lq_labels_strdup(&p->lb, line.ptr + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
        if (sx_lq_labels_base_has(&p->lb, name)) {
            char *nn = sx_lq_labels_alloc(&p->lb, name.len + sizeof(SX_LQ_DUPLICATE_SUFFIX));
            memcpy(nn, name.ptr, name.len);
            memcpy(nn + name.len, SX_LQ_DUPLICATE_SUFFIX, sizeof(SX_LQ_DUPLICATE_SUFFIX));
            name = (sx_str_t){nn, name.len + sizeof(SX_LQ_DUPLICATE_SUFFIX) - 1};
        }
        sx_lq_labels_set(&p->lb, SX_LQ_PARSED, name, val);
    }
}

static void drop_keep(sx_lq_pipe_t *p, const sx_logql_stage_t *st)
{
    sx_lq_labels_t *lb = &p->lb;
    bool keep = st->kind == SX_LQ_STAGE_KEEP;
    if (!keep) {
        for (size_t i = 0; i < st->names.n; i++) {
            const sx_logql_named_t *nm = &st->names.labels[i];
            sx_str_t v;
            if (!sx_lq_labels_get(lb, nm->name, &v))
                continue;
            if (!nm->has_matcher || sx_matcher_matches(&nm->m, v))
                sx_lq_labels_del(lb, nm->name);
        }
        return;
    }
    /* keep: every label not named (or whose matcher fails) goes, except
     * the error labels. Collect names first: deleting changes the array. */
    uint32_t n = lb->n;
    sx_str_t *gone = (sx_str_t *)sx_lq_labels_alloc(lb, (n + 1) * sizeof(sx_str_t));
    size_t ng = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (sx_str_eq_cstr(lb->v[i].name, SX_LQ_ERROR_LABEL) ||
            sx_str_eq_cstr(lb->v[i].name, SX_LQ_ERROR_DETAILS_LABEL))
            continue;
        bool kept = false;
        for (size_t k = 0; k < st->names.n && !kept; k++) {
            const sx_logql_named_t *nm = &st->names.labels[k];
            if (sx_str_eq(nm->name, lb->v[i].name))
                kept = !nm->has_matcher || sx_matcher_matches(&nm->m, lb->v[i].value);
        }
        if (!kept)
            gone[ng++] = lb->v[i].name;
    }
    for (size_t i = 0; i < ng; i++)
        sx_lq_labels_del(lb, gone[i]);
}

static sx_str_t put_line(sx_lq_pipe_t *p, sx_buf_t *b)
{
    /* Alternate two buffers so a stage may read the previous line while
     * writing the next. */
    sx_str_t s = sx_lq_labels_strdup(&p->lb, b->ptr ? b->ptr : "", b->len);
    return s;
}

bool sx_lq__pipe_run(sx_lq_pipe_t *p, const sx_label_t *stream, uint32_t nstream, int64_t ts,
                     sx_str_t *linep, const sx_label_t *meta, uint32_t nmeta, double *value)
{
    shared_t *sh = p->sh;
    sx_lq_labels_t *lb = &p->lb;
    if (sh->lines_only) {
        /* Only line filters: test the line before building any labels. */
        for (size_t i = 0; i < sh->nstages; i++)
            if (!line_filter(&sh->stages[i], *linep))
                return false;
        sx_lq_labels_reset(lb, stream, nstream);
        for (uint32_t i = 0; i < nmeta; i++)
            sx_lq_labels_add(lb, SX_LQ_META, meta[i].name, meta[i].value);
        return true;
    }
    sx_lq_labels_reset(lb, stream, nstream);
    for (uint32_t i = 0; i < nmeta; i++)
        sx_lq_labels_add(lb, SX_LQ_META, meta[i].name, meta[i].value);
    sx_str_t line = *linep;
    for (size_t i = 0; i < sh->nstages; i++) {
        stage_rt_t *r = &sh->stages[i];
        const sx_logql_stage_t *st = r->st;
        switch (st->kind) {
        case SX_LQ_STAGE_LINE_FILTER:
            if (!line_filter(r, line))
                return false;
            break;
        case SX_LQ_STAGE_JSON:
            if (st->parser.nparams)
                sx_lq_json_extract(&r->json, line, lb);
            else
                sx_lq_json_flatten(line, lb);
            break;
        case SX_LQ_STAGE_LOGFMT:
            sx_lq_logfmt_process(&r->logfmt, line, lb);
            break;
        case SX_LQ_STAGE_REGEXP:
            regexp_stage(p, st, line);
            break;
        case SX_LQ_STAGE_PATTERN:
            sx_lq_pattern_process(&r->pattern, line, lb);
            break;
        case SX_LQ_STAGE_UNPACK:
            line = sx_lq_unpack(line, lb);
            break;
        case SX_LQ_STAGE_LABEL_FILTER:
            if (!run_lf(p, st->filter))
                return false;
            break;
        case SX_LQ_STAGE_LINE_FORMAT:
            sx_buf_clear(&p->line_a);
            sx_buf_clear(&p->scratch);
            if (sx_lq_tmpl_exec(r->tmpl, lb, line, ts, &p->line_a, &p->scratch))
                sx_lq_labels_set_error(lb, SX_STR_LIT(SX_LQ_ERR_TEMPLATE),
                                       sx_lq_labels_strdup(lb, p->scratch.ptr ? p->scratch.ptr : "",
                                                           p->scratch.len));
            else
                line = put_line(p, &p->line_a);
            break;
        case SX_LQ_STAGE_LABEL_FORMAT:
            for (size_t k = 0; k < st->label_fmt.n; k++) {
                const sx_logql_label_fmt_t *f = &st->label_fmt.f[k];
                if (f->rename) {
                    sx_str_t v;
                    if (sx_lq_labels_get(lb, f->value, &v)) {
                        sx_lq_labels_set(lb, SX_LQ_PARSED, f->dst, v);
                        if (!sx_str_eq(f->dst, f->value))
                            sx_lq_labels_del(lb, f->value);
                    }
                    continue;
                }
                sx_buf_clear(&p->line_b);
                sx_buf_clear(&p->scratch);
                if (sx_lq_tmpl_exec(r->label_tmpls[k], lb, line, ts, &p->line_b, &p->scratch)) {
                    sx_lq_labels_set_error(lb, SX_STR_LIT(SX_LQ_ERR_TEMPLATE),
                                           sx_lq_labels_strdup(lb, p->scratch.ptr ? p->scratch.ptr : "",
                                                               p->scratch.len));
                    continue;
                }
                sx_str_t v = sx_lq_labels_strdup(lb, p->line_b.ptr ? p->line_b.ptr : "", p->line_b.len);
                sx_lq_labels_set(lb, SX_LQ_PARSED, f->dst, v);
            }
            break;
        case SX_LQ_STAGE_DECOLORIZE:
            line = sx_lq_decolorize(line, &p->scratch);
            line = sx_lq_labels_strdup(lb, line.ptr ? line.ptr : "", line.len);
            break;
        case SX_LQ_STAGE_DROP:
        case SX_LQ_STAGE_KEEP:
            drop_keep(p, st);
            break;
        default:
            break;
        }
    }
    if (sh->unwrap) {
        const sx_logql_unwrap_t *u = sh->unwrap;
        double v = 0;
        sx_str_t s;
        if (!sx_lq_labels_has_error(lb)) {
            if (!sx_lq_labels_get(lb, u->label, &s)) {
                /* Loki skips lines without the label. */
                return false;
            }
            sx_err_t err;
            int conv = u->conv == SX_LQ_UNWRAP_BYTES ? SX_LQ_CONV_BYTES
                       : u->conv == SX_LQ_UNWRAP_FLOAT ? SX_LQ_CONV_FLOAT
                                                        : SX_LQ_CONV_DURATION;
            if (sx_lq_convert(conv, s, &v, &err)) {
                v = 0;
                /* The message into the line's arena: err is gone on return. */
                sx_lq_labels_set_error(lb, SX_STR_LIT(SX_LQ_ERR_SAMPLE),
                                       sx_lq_labels_strdup(lb, err.msg, strlen(err.msg)));
            }
        }
        for (size_t i = 0; i < u->npost; i++)
            if (!run_lf(p, u->post[i]))
                return false;
        sx_lq_labels_del(lb, u->label);
        *value = v;
    }
    *linep = line;
    return true;
}
