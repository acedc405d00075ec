/* SPDX-License-Identifier: Apache-2.0 */
/* LogQL syntax internals shared by the lexer (lex.c), the parser (parse.c)
 * and the printer (format.c) only. Tokens mirror the token types of Loki's
 * grammar so that error messages name them as Loki's parser does
 * ("unexpected IDENTIFIER", "unexpected |=", "expecting } or ,"). The
 * lexer reproduces Loki's (a text/scanner with lookahead tricks): which
 * words are keywords, when a number is a duration or a byte size, and
 * which tokens report "line 0" in error positions. */
#ifndef SX_QUERY_LOGQL_LOGQL_PARSE_INT_H
#define SX_QUERY_LOGQL_LOGQL_PARSE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "logql.h"

/* ---- Tokens ---- */

enum lq_tok {
    LT_EOF,
    LT_ERROR,  /* lexer error; msg holds the text */
    LT_IDENT,  /* identifier, or any lone character Loki has no token for */
    LT_STRING, /* "..." or `...`; the token spans the quotes */
    LT_NUMBER,
    LT_DURATION, /* a number (or '-' number) that parses as a duration: ns */
    LT_BYTES,    /* a number with a byte unit: bytes */
    LT_RANGE,    /* [duration]: ns; the token spans the brackets */
    LT_FLAG,     /* --strict, --keep-empty */
    /* Punctuation. */
    LT_COMMA,
    LT_DOT,
    LT_LBRACE,
    LT_RBRACE,
    LT_LPAREN,
    LT_RPAREN,
    LT_RBRACKET,
    LT_EQ,           /* = */
    LT_RE,           /* =~ */
    LT_NRE,          /* !~ */
    LT_NPA,          /* !> */
    LT_PIPE_EXACT,   /* |= */
    LT_PIPE_MATCH,   /* |~ */
    LT_PIPE_PATTERN, /* |> */
    LT_PIPE,         /* | */
    /* Binary operators. */
    LT_OR,
    LT_AND,
    LT_UNLESS,
    LT_ADD,
    LT_SUB,
    LT_MUL,
    LT_DIV,
    LT_MOD,
    LT_POW,
    LT_CMP_EQ, /* == */
    LT_NEQ,    /* != (also a line filter) */
    LT_GT,
    LT_GTE,
    LT_LT,
    LT_LTE,
    /* Reserved words (case-insensitive, anywhere). */
    LT_BY,
    LT_WITHOUT,
    LT_BOOL,
    LT_OFFSET,
    LT_ON,
    LT_IGNORING,
    LT_GROUP_LEFT,
    LT_GROUP_RIGHT,
    LT_JSON,
    LT_REGEXP,
    LT_LOGFMT,
    LT_UNPACK,
    LT_PATTERN,
    LT_LABEL_FMT,
    LT_LINE_FMT,
    LT_DECOLORIZE,
    LT_DROP,
    LT_KEEP,
    LT_UNWRAP,
    LT_VARIANTS,
    LT_OF,
    /* Function words: keywords only before '(' (or `by (`, `without (`).
     * Range operations first, in enum sx_logql_range_op order. */
    LT_RANGE_FIRST,
    LT_RANGE_LAST = LT_RANGE_FIRST + SX_LQ_RANGE_ABSENT_OVER_TIME,
    /* Vector operations, in enum sx_logql_vector_op order. */
    LT_VEC_FIRST,
    LT_VEC_LAST = LT_VEC_FIRST + SX_LQ_VEC_APPROX_TOPK,
    LT_VECTOR,
    LT_LABEL_REPLACE,
    LT_BYTES_CONV,
    LT_DURATION_CONV,
    LT_DURATION_SECONDS_CONV,
    LT_IP,
    LT_COUNT_ /* number of token types */
};

typedef struct lq_token {
    int type;        /* enum lq_tok */
    uint32_t pos;    /* byte offset of the first byte */
    uint32_t len;    /* bytes of the token text */
    bool line0;      /* Loki reports line 0 for errors at this token */
    int64_t ns;      /* LT_DURATION, LT_RANGE */
    double bytes;    /* LT_BYTES */
    const char *msg; /* LT_ERROR: the message (arena) */
} lq_token_t;

typedef struct lq_lexer {
    const char *in;
    uint32_t n;
    uint32_t pos;
    bool done; /* EOF or an error was returned: only EOF follows */
    sx_arena_t *a;
} lq_lexer_t;

void sx_lqp__lex_init(lq_lexer_t *l, const char *in, uint32_t n, sx_arena_t *a);
/* Scan the next token; comments (#, //, block) are skipped. After LT_EOF
 * or LT_ERROR every further call returns LT_EOF. */
void sx_lqp__lex_next(lq_lexer_t *l, lq_token_t *t);
/* How Loki's parser names a token type in "unexpected X". */
const char *sx_lqp__tok_name(int type);

/* Decode one UTF-8 rune at s[0..n): the rune and its width, -1 at the end,
 * or -2 with width 1 for an invalid byte. */
int32_t sx_lqp__utf8(const char *s, size_t n, uint32_t *width);

/* Prometheus' model.ParseDuration (units y w d h m s ms, each at most once,
 * in that order; "0" alone allowed): 0, or -1 with Prometheus' message. */
int sx_lqp__prom_duration(const char *s, size_t n, int64_t *ns, char *msg, size_t msgsz);
/* Go's time.ParseDuration (ns us µs ms s m h, fractions, a sign): 0 or -1. */
int sx_lqp__go_duration(const char *s, size_t n, int64_t *ns);
/* go-humanize's ParseBytes as Loki's lexer feeds it: 0 or -1. */
int sx_lqp__humanize_bytes(const char *s, size_t n, double *bytes);
/* strconv.ParseFloat(s, 64): 1 ok, 0 syntax error (*out = 0), -1 out of
 * range (*out = +-Inf). */
int sx_lqp__parse_float(const char *s, size_t n, double *out);

/* ---- Printing helpers (format.c) ---- */

/* Go's strconv.Quote. */
void sx_lqp__quote(sx_buf_t *b, const char *s, size_t n);
const char *sx_lqp__cmp_name(int cmp);

#endif
