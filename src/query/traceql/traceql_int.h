/* SPDX-License-Identifier: Apache-2.0 */
/* The TraceQL tree, shared by the parser (parse.c) and the evaluator
 * (eval.c) only. Chains of operators of one precedence level are folds
 * (k[0] op[1] k[1] op[2] k[2] ..., evaluated left to right) rather than
 * nested binary nodes, so that a long chain costs no recursion depth: the
 * depth of any tree is bounded by the nesting of parentheses and braces
 * (SX_TQL_MAX_DEPTH). */
#ifndef SX_QUERY_TRACEQL_TRACEQL_INT_H
#define SX_QUERY_TRACEQL_TRACEQL_INT_H

#include "traceql.h"

/* Operators. Field-level ones first, then spanset-level ones. */
typedef enum tql_op {
    OP_AND, OP_OR,                                   /* logical (both levels) */
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_RE, OP_NRE, /* comparisons */
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_POW,  /* arithmetic */
    /* Structural: the result is the right side's spans related to the left's. */
    OP_CHILD, OP_PARENT, OP_DESC, OP_ANCE, OP_SIBL,
    /* ... not related to any left span. */
    OP_NOT_CHILD, OP_NOT_PARENT, OP_NOT_DESC, OP_NOT_ANCE, OP_NOT_SIBL,
    /* ... and the left spans related to them as well. */
    OP_U_CHILD, OP_U_PARENT, OP_U_DESC, OP_U_ANCE, OP_U_SIBL,
} tql_op_t;

/* A field expression's type as far as the parser knows it: a
 * sx_tql_type_t, or TQL_T_DYN for attributes (known per span). */
#define TQL_T_DYN (-1)

typedef enum { X_STATIC, X_FIELD, X_FOLD, X_NOT, X_NEG } tql_expr_kind_t;

typedef struct tql_expr tql_expr_t;
struct tql_expr {
    int kind;  /* tql_expr_kind_t */
    int type;  /* static type: sx_tql_type_t or TQL_T_DYN */
    union {
        sx_tql_value_t v; /* X_STATIC */
        sx_tql_field_t f; /* X_FIELD */
        struct {
            tql_expr_t **k;
            uint8_t *op; /* op[j] joins k[j-1] and k[j]; op[0] unused */
            void **re;   /* re[j]: sx_matcher_t * of =~ and !~, else NULL */
            size_t n, cap;
        } fold;
        tql_expr_t *x; /* X_NOT, X_NEG */
    };
};

typedef enum { S_FILTER, S_FOLD, S_PIPELINE } tql_set_kind_t;
typedef enum { ST_SET, ST_SCALAR, ST_NOOP } tql_stage_kind_t;
typedef enum { AGG_COUNT, AGG_SUM, AGG_AVG, AGG_MIN, AGG_MAX } tql_agg_t;

typedef struct tql_set tql_set_t;

typedef struct tql_stage {
    int kind; /* tql_stage_kind_t */
    tql_set_t *set;      /* ST_SET: evaluated within the spans so far */
    int agg;             /* ST_SCALAR: agg(arg) op v */
    tql_expr_t *arg;     /* NULL for count() */
    int op;
    sx_tql_value_t v;
} tql_stage_t;

struct tql_set {
    int kind; /* tql_set_kind_t */
    union {
        tql_expr_t *cond; /* S_FILTER: NULL is {} */
        struct {
            tql_set_t **k;
            uint8_t *op;
            size_t n;
        } fold;
        struct {
            tql_stage_t *st;
            size_t n;
        } pipe;
    };
};

struct sx_tql_query {
    tql_set_t *root;
    tql_expr_t *pre; /* the scan's prefilter; NULL passes every span */
    bool exact;      /* pre is the answer (see sx_tql_query_exact) */
    const sx_tql_field_t **report;
    size_t nreport, capreport;
    void **re; /* compiled sx_matcher_t *, released by dispose */
    size_t nre, capre;
};

/* Derive q->pre, q->exact and the report list from q->root (eval.c). */
void sx_tql__finish(sx_arena_t *a, sx_tql_query_t *q);
/* Append kid (joined by op) to a fold expression, growing it in the arena. */
void sx_tql__fold_push(sx_arena_t *a, tql_expr_t *fold, int op, tql_expr_t *kid, void *re);
/* Add an attribute field to the report list unless there; false when the
 * arena is exhausted. */
bool sx_tql__report_add(sx_arena_t *a, sx_tql_query_t *q, const sx_tql_field_t *f);

#endif
