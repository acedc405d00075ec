/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the PromQL engine's own files only: the syntax tree the parser
 * builds (parse.c, lex.c), the step-wise values the evaluator passes
 * between nodes (eval.c, value.c), and the function table (funcs.c).
 *
 * Evaluation model: a query runs at nsteps timestamps at once (one for an
 * instant query). Every instant-vector node yields a set of series, each
 * with one value slot per step; a slot without a value holds PQ_ABSENT (a
 * NaN payload that no computation produces). Scalars are one double per
 * step. Range vectors are never materialised for the common functions:
 * the evaluator reads one series' raw samples at a time and calls the
 * function's window callback, which fills that series' output slots. */
#ifndef SX_QUERY_PROMQL_PROMQL_INT_H
#define SX_QUERY_PROMQL_PROMQL_INT_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "promql.h"

/* ---- Syntax tree ---- */

enum pq_kind {
    PQ_NUMBER,   /* number literal (durations in expression position too) */
    PQ_STRING,   /* string literal */
    PQ_VSEL,     /* instant vector selector */
    PQ_MSEL,     /* range vector selector: sel with range */
    PQ_SUBQUERY, /* expr[range:step] */
    PQ_PAREN,
    PQ_UNARY,    /* -x, +x */
    PQ_BINARY,
    PQ_AGG,
    PQ_CALL,
    PQ_DUR_STEP, /* step() inside a duration expression */
    PQ_EXTERN,   /* an instant vector computed outside PromQL (LogQL range aggregations) */
};

enum pq_op {
    PQ_OP_ADD, PQ_OP_SUB, PQ_OP_MUL, PQ_OP_DIV, PQ_OP_MOD, PQ_OP_POW, PQ_OP_ATAN2,
    PQ_OP_EQ, PQ_OP_NE, PQ_OP_GT, PQ_OP_LT, PQ_OP_GE, PQ_OP_LE,
    PQ_OP_AND, PQ_OP_OR, PQ_OP_UNLESS,
};
const char *sx_pq__op_name(int op); /* "+", "atan2", "and", ... */
static inline bool pq_op_is_comparison(int op) { return op >= PQ_OP_EQ && op <= PQ_OP_LE; }
static inline bool pq_op_is_set(int op) { return op >= PQ_OP_AND; }

enum pq_agg {
    PQ_AGG_SUM, PQ_AGG_MIN, PQ_AGG_MAX, PQ_AGG_AVG, PQ_AGG_GROUP, PQ_AGG_STDDEV,
    PQ_AGG_STDVAR, PQ_AGG_COUNT, PQ_AGG_COUNT_VALUES, PQ_AGG_BOTTOMK, PQ_AGG_TOPK,
    PQ_AGG_QUANTILE, PQ_AGG_LIMITK, PQ_AGG_LIMIT_RATIO,
};
const char *sx_pq__agg_name(int agg); /* "sum", ... */

enum pq_card { PQ_CARD_ONE_TO_ONE, PQ_CARD_MANY_TO_ONE, PQ_CARD_ONE_TO_MANY, PQ_CARD_MANY_TO_MANY };
enum pq_at { PQ_AT_NONE, PQ_AT_TIME, PQ_AT_START, PQ_AT_END };

typedef struct pq_node pq_node_t;

/* offset and @ of a selector or subquery. */
typedef struct pq_mod {
    int64_t offset_ms;      /* constant offset (negative allowed) */
    pq_node_t *offset_expr; /* duration expression instead, or NULL */
    int at;                 /* enum pq_at */
    int64_t at_ms;          /* PQ_AT_TIME */
} pq_mod_t;

/* Vector matching of a binary operation between two vectors. */
typedef struct pq_match {
    int card;          /* enum pq_card; set operators are many-to-many */
    bool on;           /* on(...) rather than ignoring(...) */
    sx_str_t *labels;  /* the on/ignoring list, in written order */
    size_t nlabels;
    sx_str_t *include; /* group_left/group_right extra labels */
    size_t ninclude;
} pq_match_t;

struct pq_func;
struct pq_ctx;
struct pq_value;

struct pq_node {
    int kind;       /* enum pq_kind */
    int type;       /* enum sx_promql_type of the value it yields */
    uint32_t pos;   /* byte offsets of the node in the query text */
    uint32_t end;
    union {
        double number;
        sx_str_t string; /* unquoted */
        struct {         /* PQ_VSEL, PQ_MSEL */
            sx_str_t name;     /* metric name written before {...}, or empty */
            sx_matcher_t *m;   /* every matcher, including __name__="name" */
            size_t nm;
            int64_t range_ms;  /* PQ_MSEL */
            pq_node_t *range_expr; /* duration expression instead, or NULL */
            pq_mod_t mod;
        } sel;
        struct {         /* PQ_SUBQUERY */
            pq_node_t *expr;
            int64_t range_ms;
            pq_node_t *range_expr;
            int64_t step_ms;   /* 0 = default subquery step */
            pq_node_t *step_expr;
            pq_mod_t mod;
        } sub;
        struct {         /* PQ_PAREN */
            pq_node_t *expr;
        } paren;
        struct {         /* PQ_UNARY */
            int op;      /* PQ_OP_ADD or PQ_OP_SUB */
            pq_node_t *expr;
        } unary;
        struct {         /* PQ_BINARY */
            int op;
            pq_node_t *lhs, *rhs;
            bool return_bool;
            pq_match_t *match; /* NULL unless both sides are vectors */
        } binary;
        struct {         /* PQ_AGG */
            int op;      /* enum pq_agg */
            pq_node_t *expr;
            pq_node_t *param;  /* k, q or label name; NULL if none */
            bool without;
            bool grouping;     /* by/without written (even empty) */
            sx_str_t *labels;
            size_t nlabels;
        } agg;
        struct {         /* PQ_CALL */
            const struct pq_func *fn;
            pq_node_t **args;
            size_t nargs;
        } call;
        struct {         /* PQ_EXTERN: fn fills out with a vector over c's steps */
            int (*fn)(void *ctx, struct pq_ctx *c, struct pq_value *out);
            void *ctx;
        } ext;
    };
};

/* Resolve a duration expression (range, offset, subquery step) to ms at
 * evaluation time; step_ms is the query's step (0 for instant queries).
 * Fails with SX_EEXEC for a negative range or a non-finite result. */
int sx_pq__duration_eval(const pq_node_t *e, int64_t step_ms, int64_t *out, sx_err_t *err);
/* Offset of a modifier in ms, resolving its expression. */
int sx_pq__offset_eval(const pq_mod_t *m, int64_t step_ms, int64_t *out, sx_err_t *err);

/* ---- Values during evaluation ---- */

#define PQ_ABSENT_BITS 0x7ff8dead0000beefULL
static inline double pq_absent(void)
{
    union { uint64_t u; double d; } x = {.u = PQ_ABSENT_BITS};
    return x.d;
}
static inline bool pq_is_absent(double v)
{
    union { double d; uint64_t u; } x = {.d = v};
    return x.u == PQ_ABSENT_BITS;
}

/* An instant-vector series across the steps. */
typedef struct pq_series {
    sx_label_t *labels;   /* sorted by name; shared, never written through */
    uint32_t nlabels;
    bool drop_name;       /* delayed __name__ removal: drop when the query ends */
    double *v;            /* nsteps slots, PQ_ABSENT where the series has no value */
    sx_promql_hist_t **h; /* NULL, or nsteps slots: non-NULL = a histogram value */
    int64_t *ts;          /* NULL, or the sample timestamps (for timestamp()) */
} pq_series_t;

/* A series' raw points, as a range-vector function sees them. */
typedef struct pq_rseries {
    sx_label_t *labels;
    uint32_t nlabels;
    bool drop_name;
    int64_t *t;           /* float points, time order, stale markers removed */
    double *v;
    size_t n;
    int64_t *ht;          /* histogram points */
    sx_promql_hist_t **h;
    size_t nh;
} pq_rseries_t;

typedef struct pq_value {
    int type;             /* enum sx_promql_type */
    double *scalar;       /* SCALAR: nsteps values */
    sx_str_t str;         /* STRING */
    pq_series_t *s;       /* VECTOR */
    size_t n;
    pq_rseries_t *rs;     /* MATRIX (materialised; only where streaming is not possible) */
    size_t nrs;
    int64_t range_ms;     /* MATRIX: window length */
    int64_t *wend;        /* MATRIX: per step, the window end (inclusive) */
} pq_value_t;

typedef struct pq_ctx {
    sx_tsdb_t *db;
    sx_arena_t *a;
    const sx_promql_opts_t *opts;
    sx_err_t *err;
    int64_t start, end, step; /* ms; step 0 for an instant query */
    int64_t qstart, qend, qstep; /* the query's own range: start(), end(), step() */
    size_t nsteps;
    int64_t *ts;              /* the step timestamps */
    int64_t samples;          /* samples currently held */
    int64_t samples_total;    /* samples loaded overall */
    int64_t peak;
    bool ordered;             /* sort()/topk() decided the output order */
    sx_promql_notes_t notes;
    size_t _notes_cap[2];
    uint32_t _tick;
} pq_ctx_t;

/* Values and labels (value.c). */
double *sx_pq__steps_new(pq_ctx_t *c);           /* nsteps slots, all PQ_ABSENT */
pq_series_t *sx_pq__series_new(pq_ctx_t *c, size_t n); /* zeroed */
sx_str_t sx_pq__label_get(const sx_label_t *l, uint32_t n, sx_str_t name);
/* A copy of l with name set to value (removed when value is empty), in
 * the query arena. The input is not modified. */
void sx_pq__labels_set(pq_ctx_t *c, const sx_label_t *l, uint32_t n, sx_str_t name,
                       sx_str_t value, sx_label_t **out, uint32_t *nout);
/* A copy without __name__ (or l itself when it has none). */
void sx_pq__labels_drop_name(pq_ctx_t *c, const sx_label_t *l, uint32_t n, sx_label_t **out,
                             uint32_t *nout);
int sx_pq__labels_cmp(const sx_label_t *a, uint32_t na, const sx_label_t *b, uint32_t nb);
uint64_t sx_pq__labels_hash(const sx_label_t *l, uint32_t n);
/* Go's strconv.FormatFloat(v, 'f', -1, 64) into the arena. */
sx_str_t sx_pq__float_str(pq_ctx_t *c, double v);
/* Go's %g of v (NaN, +Inf, 1e+06, 0.25), for annotation texts; arena string. */
const char *sx_pq__go_g(pq_ctx_t *c, double v);
/* Go's %q of s, for error texts that quote user strings; arena string. */
const char *sx_pq__go_quote(pq_ctx_t *c, sx_str_t s);
/* A histogram as Prometheus prints it (count_values labels). */
sx_str_t sx_pq__hist_string(pq_ctx_t *c, const sx_promql_hist_t *h);
/* Fail the query with code (SX_EEXEC ...) and a message; returns code. */
int sx_pq__fail(pq_ctx_t *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Add a "PromQL warning: ..." / "PromQL info: ..." annotation (the
 * prefix is added here; duplicates are dropped). */
void sx_pq__warn(pq_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sx_pq__info(pq_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Add an annotation text that already has its prefix (merging the notes of
 * a worker context); copied into c's arena, duplicates dropped. */
void sx_pq__note_add_raw(pq_ctx_t *c, bool info, const char *msg);
/* Count samples held for the max-samples limit; fails with SX_ELIMIT. */
int sx_pq__samples_add(pq_ctx_t *c, int64_t n);
/* Check deadline and cancellation (cheap; call in loops). */
int sx_pq__check(pq_ctx_t *c);

/* ---- Functions (funcs.c) ---- */

/* Kahan-Neumaier summation step, as Prometheus' kahanSumInc: once the sum
 * is infinite the compensation is dropped so it cannot turn into NaN. */
static inline void pq_kahan_inc(double inc, double *sum, double *c)
{
    double t = *sum + inc;
    if (isinf(t))
        *c = 0;
    else if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

/* Prometheus' quantile() of n values (sorted in place; NaN for none,
 * -Inf/+Inf for q below 0/above 1), and the warning for such a q. */
double sx_pq__quantile(double q, double *vals, size_t n);
void sx_pq__warn_quantile(pq_ctx_t *c, double q);


/* A call being evaluated. Arguments are evaluated left to right before
 * eval() runs, except a range-vector argument of a function with a window
 * callback, which the evaluator streams one series at a time. */
typedef struct pq_call {
    pq_ctx_t *ctx;
    const pq_node_t *node; /* the PQ_CALL node (absent() reads its selector) */
    pq_value_t *args;
    size_t nargs;
} pq_call_t;

/* One series of a range-vector argument with every step's window. */
typedef struct pq_window {
    pq_ctx_t *ctx;
    const pq_call_t *call;    /* the other (scalar/string) arguments are evaluated */
    const pq_rseries_t *in;   /* every raw point any window needs */
    const int64_t *wend;      /* per step: window end; the window is (wend - range, wend] */
    int64_t range_ms;
    double *out;              /* nsteps slots, pre-set to PQ_ABSENT */
    sx_promql_hist_t **hout;  /* nsteps slots, pre-set to NULL */
} pq_window_t;

enum pq_func_flags {
    PQ_F_KEEP_NAME = 1,     /* the result keeps __name__ (last_over_time, sort, label_*) */
    PQ_F_STEP_VARIANT = 2,  /* depends on the step time (time()), not cacheable under @ */
    PQ_F_EXPERIMENTAL = 4,
    PQ_F_SORTS = 8,         /* orders an instant query's result */
    PQ_F_SAMPLE_TS = 16,    /* reads the sample timestamps of a selector argument (timestamp()) */
};

typedef struct pq_func {
    const char *name;
    int ret;           /* enum sx_promql_type */
    int argtypes[6];   /* enum sx_promql_type of argument i; arguments past the
                        * listed ones repeat the last type */
    int ntypes;        /* entries in argtypes */
    int min_args;      /* fewest arguments accepted */
    int max_args;      /* most arguments accepted; -1 = unlimited (label_join) */
    unsigned flags;    /* enum pq_func_flags */
    /* Exactly one of these is set. */
    int (*eval)(pq_call_t *c, pq_value_t *out);
    void (*window)(pq_window_t *w);
} pq_func_t;

const pq_func_t *sx_pq__func_lookup(sx_str_t name);

/* Point lookup within a window: the index of the first point with t > lo
 * and the index after the last point with t <= hi. */
static inline void pq_window_bounds(const int64_t *t, size_t n, int64_t lo, int64_t hi,
                                    size_t *first, size_t *last)
{
    size_t a = 0, b = n;
    while (a < b) {
        size_t m = (a + b) / 2;
        if (t[m] <= lo) a = m + 1; else b = m;
    }
    *first = a;
    b = n;
    while (a < b) {
        size_t m = (a + b) / 2;
        if (t[m] <= hi) a = m + 1; else b = m;
    }
    *last = a;
}

#endif
