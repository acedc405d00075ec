/* SPDX-License-Identifier: Apache-2.0 */
/* LogQL (Grafana Loki 3.x) syntax: the parser's interface and the tree it
 * builds. sx_logql_parse turns query text into an sx_logql_expr_t whose
 * every node, string and array lives in the caller's arena; the only
 * resources outside the arena are the compiled regular expressions (PCRE2),
 * which sx_logql_expr_dispose releases. The tree is read-only for its
 * consumers (the LogQL engine, the API layer); sx_logql_format prints it in
 * a canonical one-line form that parses back to the same tree.
 *
 * Acceptance follows Loki's grammar (pkg/logql/syntax) and its checks, and
 * error texts are Loki's: "parse error at line L, col C: syntax error:
 * unexpected X[, expecting Y]" for syntax errors, "parse error : <message>"
 * for the checks Loki makes after parsing (unwrap rules, parameters, the
 * stream selector requirement). Loki's lexer quirks are kept on purpose:
 * words like `json`, `by`, `on`, `offset` or `unwrap` are reserved and
 * cannot be label names; function names (`rate`, `sum`, `bytes`, ...) are
 * keywords only when an opening parenthesis (or `by (`/`without (`)
 * follows; queries of 5120 bytes or more are rejected. */
#ifndef SX_QUERY_LOGQL_LOGQL_H
#define SX_QUERY_LOGQL_LOGQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/buf.h"
#include "../../core/error.h"
#include "../../core/str.h"
#include "../../storage/tsdb/tsdb.h"

/* Loki's limits: longer queries fail ("input size too long"), deeper
 * nesting fails ("expression is nested too deeply"). */
#define SX_LOGQL_MAX_QUERY 5120
#define SX_LOGQL_MAX_DEPTH 1000

typedef struct sx_logql_expr sx_logql_expr_t;
typedef struct sx_logql_lfilter sx_logql_lfilter_t;

/* ---- Literals ---- */

/* A number as written: NUMBER tokens follow Go's literal syntax (1, 1.5,
 * .5, 1e3, 1_000, 0x1p-4). */
typedef struct sx_logql_num {
    sx_str_t raw;  /* token text as written, without any sign */
    double value;  /* parsed value with the sign applied (strconv.ParseFloat) */
    bool neg;      /* written with a leading '-' */
} sx_logql_num_t;

/* ---- Log pipeline ---- */

enum sx_logql_stage_kind {
    SX_LQ_STAGE_LINE_FILTER,  /* |= != |~ !~ |> !> */
    SX_LQ_STAGE_JSON,         /* | json [params] */
    SX_LQ_STAGE_LOGFMT,       /* | logfmt [--strict] [--keep-empty] [params] */
    SX_LQ_STAGE_REGEXP,       /* | regexp "re" */
    SX_LQ_STAGE_PATTERN,      /* | pattern "<a> <_> ..." */
    SX_LQ_STAGE_UNPACK,       /* | unpack */
    SX_LQ_STAGE_LABEL_FILTER, /* | name op value [and|or|, ...] */
    SX_LQ_STAGE_LINE_FORMAT,  /* | line_format "template" */
    SX_LQ_STAGE_LABEL_FORMAT, /* | label_format a="{{.b}}", c=d */
    SX_LQ_STAGE_DECOLORIZE,   /* | decolorize */
    SX_LQ_STAGE_DROP,         /* | drop a, b="v" */
    SX_LQ_STAGE_KEEP,         /* | keep a, b="v" */
};

enum sx_logql_line_op {
    SX_LQ_LINE_CONTAINS,     /* |=  line contains the string */
    SX_LQ_LINE_NOT_CONTAINS, /* !=  line does not contain it */
    SX_LQ_LINE_MATCH,        /* |~  regex matches somewhere in the line */
    SX_LQ_LINE_NOT_MATCH,    /* !~  regex matches nowhere */
    SX_LQ_LINE_PATTERN,      /* |>  line matches the pattern */
    SX_LQ_LINE_NOT_PATTERN,  /* !>  line does not match the pattern */
};

/* One alternative of a line filter. */
typedef struct sx_logql_line_alt {
    sx_str_t value; /* unquoted string (the CIDR/range inside ip("...") when ip) */
    bool ip;        /* written as ip("...") */
    void *re;       /* |~ and !~ (and not ip): the compiled regex (pcre2_code *,
                     * unanchored, UTF, DOLLAR_ENDONLY like Go's regexp); NULL otherwise */
} sx_logql_line_alt_t;

/* `|= "a" or "b"`: the alternatives joined by `or`. For the positive
 * operators a line passes when any alternative matches; for the negative
 * ones (!=, !~, !>) when none does (Loki reads `!= "a" or "b"` as
 * `!= "a" != "b"`). */
typedef struct sx_logql_line_filter {
    int op;                    /* enum sx_logql_line_op */
    sx_logql_line_alt_t *alts; /* at least one, in written order */
    size_t nalts;
} sx_logql_line_filter_t;

/* A json/logfmt parameter: `label="expression"` or a bare `label`. */
typedef struct sx_logql_extract {
    sx_str_t label; /* label to set */
    sx_str_t expr;  /* json path (`a.b[0]`, `["x"]`) or logfmt key; equals label when bare */
    bool bare;      /* written without `="..."` */
} sx_logql_extract_t;

/* One `dst=...` of label_format. */
typedef struct sx_logql_label_fmt {
    sx_str_t dst;   /* label written */
    sx_str_t value; /* template (unquoted) or, when rename, the source label name */
    bool rename;    /* `dst=src`: rename src to dst; else `dst="template"` */
} sx_logql_label_fmt_t;

/* One name of drop/keep: a bare label name, or a matcher that selects the
 * label only when its value matches. */
typedef struct sx_logql_named {
    sx_str_t name;   /* the label name (also m.name when has_matcher) */
    bool has_matcher;
    sx_matcher_t m;  /* has_matcher: name op "value", regex compiled (anchored) */
} sx_logql_named_t;

enum sx_logql_lf_kind {
    SX_LQ_LF_AND,      /* all kids pass; `and`, `,` and juxtaposition all mean and */
    SX_LQ_LF_OR,       /* any kid passes (Loki stops at the first that passes) */
    SX_LQ_LF_STRING,   /* name =|!=|=~|!~ "value" */
    SX_LQ_LF_NUMBER,   /* name cmp number: the label value parsed as a float */
    SX_LQ_LF_DURATION, /* name cmp 5s: the label value parsed as a Go duration */
    SX_LQ_LF_BYTES,    /* name cmp 20MB: the label value parsed as a byte size */
    SX_LQ_LF_IP,       /* name = ip("...") / name != ip("...") */
};

enum sx_logql_cmp {
    SX_LQ_CMP_EQ, /* = or == */
    SX_LQ_CMP_NE, /* != */
    SX_LQ_CMP_GT, /* > */
    SX_LQ_CMP_GE, /* >= */
    SX_LQ_CMP_LT, /* < */
    SX_LQ_CMP_LE, /* <= */
};

/* A label filter: a small tree of and/or nodes over leaves. Same-kind
 * nodes are flattened (a and (b and c) has three kids), which is exact
 * because both operators are associative; evaluation order is kid order.
 * Precedence is Loki's: `and` binds tighter than `or`, while `,` and
 * juxtaposition take everything to their right (`a, b or c` is
 * a and (b or c)). __error__ and __error_details__ are ordinary names. */
struct sx_logql_lfilter {
    int kind; /* enum sx_logql_lf_kind */
    uint32_t pos; /* byte offset in the query */
    union {
        struct { /* SX_LQ_LF_AND, SX_LQ_LF_OR */
            sx_logql_lfilter_t **kids; /* at least two */
            size_t nkids;
        } group;
        struct { /* leaves */
            sx_str_t name;    /* the label tested */
            int cmp;          /* enum sx_logql_cmp (STRING: see m.op instead; IP: EQ or NE) */
            sx_matcher_t m;   /* STRING: name, op, unquoted value, compiled anchored regex */
            sx_logql_num_t num; /* NUMBER: value as written (ParseFloat errors give 0, as Loki) */
            sx_str_t raw;     /* DURATION/BYTES: the literal as written (e.g. "1h30m", "-5s",
                               * "1.5KiB"); IP: the unquoted pattern */
            int64_t ns;       /* DURATION: nanoseconds (may be negative) */
            double bytes;     /* BYTES: the size in bytes, truncated to an integer */
        } leaf;
    };
};

typedef struct sx_logql_stage {
    int kind;     /* enum sx_logql_stage_kind */
    uint32_t pos; /* byte offset of the stage's first token */
    union {
        sx_logql_line_filter_t line; /* LINE_FILTER */
        struct {                     /* JSON, LOGFMT */
            sx_logql_extract_t *params; /* NULL/0 when none: extract everything */
            size_t nparams;
            bool strict;     /* LOGFMT: --strict */
            bool keep_empty; /* LOGFMT: --keep-empty */
        } parser;
        struct {              /* REGEXP */
            sx_str_t expr;    /* the regex as written (unquoted) */
            void *re;         /* compiled (pcre2_code *), unanchored, UTF, DOLLAR_ENDONLY */
            sx_str_t *names;  /* named groups, in group order */
            uint32_t *groups; /* their capture group numbers */
            size_t nnames;    /* at least one */
        } regexp;
        sx_str_t pattern;            /* PATTERN: the pattern (validated as Loki does) */
        sx_logql_lfilter_t *filter;  /* LABEL_FILTER */
        sx_str_t tmpl;               /* LINE_FORMAT: the template (unquoted) */
        struct {                     /* LABEL_FORMAT */
            sx_logql_label_fmt_t *f;
            size_t n;
        } label_fmt;
        struct {                     /* DROP, KEEP */
            sx_logql_named_t *labels;
            size_t n;
        } names;
    };
} sx_logql_stage_t;

/* ---- Metric expressions ---- */

enum sx_logql_kind {
    SX_LQ_EXPR_LOG,           /* log query: stream selector and pipeline */
    SX_LQ_EXPR_RANGE_AGG,     /* rate(...), count_over_time(...), ... */
    SX_LQ_EXPR_VECTOR_AGG,    /* sum(...), topk(k, ...), ... */
    SX_LQ_EXPR_BINARY,        /* a + b, a and b, ... */
    SX_LQ_EXPR_NUMBER,        /* number literal */
    SX_LQ_EXPR_VECTOR,        /* vector(n) */
    SX_LQ_EXPR_LABEL_REPLACE, /* label_replace(expr, "dst", "repl", "src", "regex") */
};

enum sx_logql_range_op {
    SX_LQ_RANGE_COUNT_OVER_TIME,
    SX_LQ_RANGE_RATE,
    SX_LQ_RANGE_RATE_COUNTER,
    SX_LQ_RANGE_BYTES_OVER_TIME,
    SX_LQ_RANGE_BYTES_RATE,
    SX_LQ_RANGE_AVG_OVER_TIME,
    SX_LQ_RANGE_SUM_OVER_TIME,
    SX_LQ_RANGE_MIN_OVER_TIME,
    SX_LQ_RANGE_MAX_OVER_TIME,
    SX_LQ_RANGE_STDVAR_OVER_TIME,
    SX_LQ_RANGE_STDDEV_OVER_TIME,
    SX_LQ_RANGE_QUANTILE_OVER_TIME,
    SX_LQ_RANGE_FIRST_OVER_TIME,
    SX_LQ_RANGE_LAST_OVER_TIME,
    SX_LQ_RANGE_ABSENT_OVER_TIME,
};

enum sx_logql_vector_op {
    SX_LQ_VEC_SUM,
    SX_LQ_VEC_AVG,
    SX_LQ_VEC_COUNT,
    SX_LQ_VEC_MAX,
    SX_LQ_VEC_MIN,
    SX_LQ_VEC_STDDEV,
    SX_LQ_VEC_STDVAR,
    SX_LQ_VEC_BOTTOMK,
    SX_LQ_VEC_TOPK,
    SX_LQ_VEC_SORT,
    SX_LQ_VEC_SORT_DESC,
    SX_LQ_VEC_APPROX_TOPK,
};

enum sx_logql_bin_op {
    SX_LQ_BIN_OR,
    SX_LQ_BIN_AND,
    SX_LQ_BIN_UNLESS,
    SX_LQ_BIN_ADD,
    SX_LQ_BIN_SUB,
    SX_LQ_BIN_MUL,
    SX_LQ_BIN_DIV,
    SX_LQ_BIN_MOD,
    SX_LQ_BIN_POW,
    SX_LQ_BIN_EQ, /* == */
    SX_LQ_BIN_NE, /* != */
    SX_LQ_BIN_GT,
    SX_LQ_BIN_GE,
    SX_LQ_BIN_LT,
    SX_LQ_BIN_LE,
};

enum sx_logql_unwrap_conv {
    SX_LQ_UNWRAP_FLOAT,            /* unwrap x: the value as a float */
    SX_LQ_UNWRAP_BYTES,            /* unwrap bytes(x): a byte size ("1.5KB") */
    SX_LQ_UNWRAP_DURATION,         /* unwrap duration(x): a Go duration, in seconds */
    SX_LQ_UNWRAP_DURATION_SECONDS, /* unwrap duration_seconds(x): same as duration */
};

enum sx_logql_card {
    SX_LQ_CARD_ONE_TO_ONE,
    SX_LQ_CARD_MANY_TO_ONE, /* group_left */
    SX_LQ_CARD_ONE_TO_MANY, /* group_right */
};

/* by (...) / without (...). */
typedef struct sx_logql_grouping {
    bool without;     /* without (...) rather than by (...) */
    sx_str_t *labels; /* in written order; may be empty: `by ()` */
    size_t nlabels;
} sx_logql_grouping_t;

/* `| unwrap [conv(]label[)]` and the label filters written after it
 * (`| unwrap latency | __error__=""`), which only a range aggregation may
 * have. */
typedef struct sx_logql_unwrap {
    sx_str_t label;
    int conv;                    /* enum sx_logql_unwrap_conv */
    sx_logql_lfilter_t **post;   /* one per `| filter` after the unwrap, in order */
    size_t npost;
} sx_logql_unwrap_t;

/* on(...)/ignoring(...) with group_left/group_right. */
typedef struct sx_logql_matching {
    bool on;           /* on (...) rather than ignoring (...) */
    sx_str_t *labels;  /* the on/ignoring list, possibly empty */
    size_t nlabels;
    int card;          /* enum sx_logql_card */
    sx_str_t *include; /* group_left/group_right (...) labels, possibly empty */
    size_t ninclude;
} sx_logql_matching_t;

struct sx_logql_expr {
    int kind;     /* enum sx_logql_kind */
    uint32_t pos; /* byte offset of the node's first token in the query */
    union {
        struct { /* SX_LQ_EXPR_LOG */
            sx_matcher_t *matchers;  /* stream selector; regexes compiled and anchored */
            size_t nmatchers;        /* >= 1 after a successful parse */
            sx_logql_stage_t *stages; /* pipeline, in order; NULL/0 when none */
            size_t nstages;
        } log;
        struct { /* SX_LQ_EXPR_RANGE_AGG */
            int op;                  /* enum sx_logql_range_op */
            sx_logql_num_t *param;   /* quantile_over_time's quantile; NULL otherwise */
            sx_logql_expr_t *sel;    /* SX_LQ_EXPR_LOG: selector and pipeline (before the unwrap) */
            int64_t range_ns;        /* [range], > 0 unless written [0] */
            sx_str_t range_raw;      /* text between the brackets */
            int64_t offset_ns;       /* offset (may be negative); 0 when none */
            sx_str_t offset_raw;     /* as written; empty when none */
            bool has_unwrap;
            sx_logql_unwrap_t unwrap; /* when has_unwrap */
            sx_logql_grouping_t *grouping; /* `) by (...)`; NULL when not written */
        } range;
        struct { /* SX_LQ_EXPR_VECTOR_AGG */
            int op;                  /* enum sx_logql_vector_op */
            sx_logql_num_t *param;   /* topk/bottomk/approx_topk: k; NULL otherwise */
            int64_t k;               /* the parameter as an integer (> 0) */
            sx_logql_expr_t *expr;   /* a metric expression */
            sx_logql_grouping_t *grouping; /* NULL when not written (= by ()) */
        } vec;
        struct { /* SX_LQ_EXPR_BINARY */
            int op;                  /* enum sx_logql_bin_op */
            bool return_bool;        /* `bool` modifier */
            /* Metric expressions; never both literals: as Loki does, the
             * parser folds literal-op-literal into one literal, with Loki's
             * arithmetic (x/0 and x%0 give NaN, comparisons give 1 or 0). */
            sx_logql_expr_t *lhs, *rhs;
            sx_logql_matching_t *match; /* NULL unless on/ignoring was written */
        } bin;
        /* SX_LQ_EXPR_NUMBER, SX_LQ_EXPR_VECTOR. A literal folded from
         * literal arithmetic has an empty raw. */
        sx_logql_num_t num;
        struct { /* SX_LQ_EXPR_LABEL_REPLACE */
            sx_logql_expr_t *expr;
            sx_str_t dst, replacement, src, regex; /* unquoted */
            void *re;                /* regex compiled as ^(?:regex)$ (pcre2_code *) */
        } lrep;
    };
    /* Private: the parser's bookkeeping. */
    uint32_t _depth;                 /* height of the subtree */
    const char *_err;                /* deferred check failure (reported after parsing) */
    void **_codes;                   /* root only: pcre2 codes the tree owns */
    size_t _ncodes;
    void **_mres;                    /* root only: regexes of sx_matcher_compile */
    size_t _nmres;
};

/* ---- Interface ---- */

/* Parse a LogQL query of len bytes. Returns the tree (all of it in a) or
 * NULL with err set: SX_EPARSE with Loki's message ("parse error at line
 * 1, col 13: syntax error: unexpected IDENTIFIER"), or SX_ELIMIT when the
 * arena's limit is reached. Nothing needs releasing after a failure. After
 * success the caller must call sx_logql_expr_dispose before resetting a. */
sx_logql_expr_t *sx_logql_parse(const char *q, size_t len, sx_arena_t *a, sx_err_t *err);

/* sx_logql_parse_ex flags. */
enum sx_logql_parse_flags {
    /* Skip Loki's validateExpr: the stream selector requirement and the
     * sort grouping rule (as Loki's parseExprWithoutValidation does). The
     * checks made while building nodes (unwrap rules, parameters, operand
     * types, regexes) still apply. */
    SX_LOGQL_PARSE_NO_VALIDATE = 1,
    /* Accept queries of SX_LOGQL_MAX_QUERY bytes or more. */
    SX_LOGQL_PARSE_NO_SIZE_LIMIT = 2,
    /* Accept what Loki's grammar accepts and skip every semantic check
     * (implies NO_VALIDATE): for syntax checkers and the conformance corpus.
     * A regex that does not compile is left NULL, so such a tree is for
     * printing, not for evaluation. */
    SX_LOGQL_PARSE_SYNTAX_ONLY = 4,
};

/* sx_logql_parse with flags (enum sx_logql_parse_flags). */
sx_logql_expr_t *sx_logql_parse_ex(const char *q, size_t len, unsigned flags, sx_arena_t *a,
                                   sx_err_t *err);

/* Append the canonical one-line form of e to out (may reallocate out):
 * parsing it gives a tree that prints the same. Literals print as
 * written, strings re-quoted with Go's escapes, parentheses only where
 * precedence needs them. */
void sx_logql_format(const sx_logql_expr_t *e, sx_buf_t *out);

/* True for metric queries (samples), false for log queries (lines). */
bool sx_logql_is_metric(const sx_logql_expr_t *e);

/* Release the compiled regular expressions of a tree returned by
 * sx_logql_parse (the root only). NULL is a no-op; the arena memory stays
 * the arena's. */
void sx_logql_expr_dispose(sx_logql_expr_t *e);

/* Names for printing and errors: "count_over_time", "topk", "+", "|=". */
const char *sx_logql_range_op_name(int op);
const char *sx_logql_vector_op_name(int op);
const char *sx_logql_bin_op_name(int op);
const char *sx_logql_line_op_name(int op);

/* Unanchored search of one of the tree's compiled regexes (re from a line
 * filter alternative, a regexp stage or label_replace) in s. Thread-safe. */
bool sx_logql_re_search(const void *re, const char *s, size_t n);

#endif
