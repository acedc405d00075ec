/* SPDX-License-Identifier: Apache-2.0 */
/* PromQL syntax internals shared by the lexer (lex.c), the parser
 * (parse.c) and the printers (format.c) only; the evaluator sees the tree
 * through promql_int.h. Tokens mirror Prometheus' item types so that error
 * messages can name them the way Prometheus does ("unexpected <op:+>").
 * Every node the parser builds is a pq_pnode: the public pq_node_t plus
 * bookkeeping that only the parser and printers need. */
#ifndef SX_QUERY_PROMQL_SYNTAX_H
#define SX_QUERY_PROMQL_SYNTAX_H

#include <stdbool.h>
#include <stdint.h>

#include "promql_int.h"

/* ---- Tokens ---- */

enum pq_tok {
    T_EOF,
    T_ERROR, /* lexer error; msg holds the text */
    T_IDENT,
    T_METRIC_IDENT, /* identifier containing ':' */
    T_NUMBER,
    T_DURATION,
    T_STRING, /* quoted, as written */
    T_LPAREN,
    T_RPAREN,
    T_LBRACE,
    T_RBRACE,
    T_LBRACKET,
    T_RBRACKET,
    T_COMMA,
    T_EQL, /* "=" inside braces */
    T_COLON,
    /* Operators, in Prometheus' operator group. */
    T_OPS_FIRST,
    T_ADD = T_OPS_FIRST,
    T_SUB,
    T_MUL,
    T_DIV,
    T_MOD,
    T_POW,
    T_ATAN2,
    T_EQLC,
    T_NEQ,
    T_GTR,
    T_LSS,
    T_GTE,
    T_LTE,
    T_LAND,
    T_LOR,
    T_LUNLESS,
    T_EQL_REGEX,
    T_NEQ_REGEX,
    T_AT,
    T_OPS_LAST = T_AT,
    /* Aggregators, in enum pq_agg order. */
    T_AGG_FIRST,
    T_SUM = T_AGG_FIRST,
    T_MIN,
    T_MAX,
    T_AVG,
    T_GROUP,
    T_STDDEV,
    T_STDVAR,
    T_COUNT,
    T_COUNT_VALUES,
    T_BOTTOMK,
    T_TOPK,
    T_QUANTILE,
    T_LIMITK,
    T_LIMIT_RATIO,
    T_AGG_LAST = T_LIMIT_RATIO,
    /* Keywords. */
    T_KW_FIRST,
    T_BOOL = T_KW_FIRST,
    T_BY,
    T_GROUP_LEFT,
    T_GROUP_RIGHT,
    T_IGNORING,
    T_OFFSET,
    T_ON,
    T_WITHOUT,
    T_KW_LAST = T_WITHOUT,
    /* Preprocessors: @ start(), @ end(), step() in durations. */
    T_START,
    T_END,
    T_STEP,
};

typedef struct pq_token {
    int type;        /* enum pq_tok */
    uint32_t pos;    /* byte offset of the first byte */
    uint32_t len;    /* bytes of the token text */
    const char *msg; /* T_ERROR: the message (arena) */
} pq_token_t;

/* The lexer's state, as Prometheus' state machine keeps it. */
typedef struct pq_lexer {
    const char *in;
    uint32_t n;
    uint32_t pos, start, width;
    int paren_depth;
    bool brace_open, bracket_open, got_colon, got_duration;
    bool in_dur;  /* the next token is scanned as part of a duration expression */
    bool done;    /* EOF or an error was returned: only EOF follows */
    int32_t string_open;
    sx_arena_t *a;
} pq_lexer_t;

void sx_pq__lex_init(pq_lexer_t *l, const char *in, uint32_t n, sx_arena_t *a);
/* Scan the next token (comments are skipped). After T_EOF or T_ERROR
 * every further call returns T_EOF. */
void sx_pq__lex_next(pq_lexer_t *l, pq_token_t *t);

/* Decode one UTF-8 rune at s[0..n): returns the rune (0xFFFD for an
 * invalid sequence, width 1) and its width, or -1 with width 0 at the end. */
int32_t sx_pq__utf8_decode(const char *s, size_t n, uint32_t *width);

/* ---- Nodes ---- */

typedef struct pq_pnode {
    pq_node_t n;           /* first: a pq_node_t * converts to pq_pnode_t * */
    uint32_t depth;        /* height of the subtree (1 for a leaf) */
    bool duration;         /* PQ_NUMBER written as a duration (prints as 5m) */
    /* Constant duration expressions are folded into range_ms/step_ms/
     * offset_ms for the evaluator; the written expression is kept here for
     * printing. NULL when the value was a plain literal. */
    pq_node_t *range_src, *step_src, *offset_src;
} pq_pnode_t;

static inline pq_pnode_t *pq_pn(const pq_node_t *n)
{
    return (pq_pnode_t *)n;
}

/* ---- Go-compatible formatting helpers (format.c) ---- */

/* strconv.Quote(s) / strconv.QuoteRune(r) ('%q' in fmt). */
void sx_pq__quote(sx_buf_t *b, const char *s, size_t n);
void sx_pq__quote_rune(sx_buf_t *b, int32_t r);
/* fmt's %#U: U+0041 'A'. */
void sx_pq__rune_u(sx_buf_t *b, int32_t r);
/* Prometheus' model.Duration String(): 1h30m, 0s. ms must be >= 0. */
void sx_pq__duration_str(sx_buf_t *b, int64_t ms);
/* Prometheus' model.ParseDuration: 0 and *seconds, or -1 and the message. */
int sx_pq__parse_duration(const char *s, size_t n, double *seconds, char *msg, size_t msgsz);
/* A valid legacy label name: [a-zA-Z_][a-zA-Z0-9_]*. */
bool sx_pq__legacy_label(sx_str_t s);
const char *sx_pq__documented_type(int type);

#endif
