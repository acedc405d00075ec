/* SPDX-License-Identifier: Apache-2.0 */
/* Loki's pattern expressions: `| pattern "<ip> - <_> [<ts>] \"<method> ..."`
 * (capture named fields between literals) and the `|>` / `!>` line filters
 * (test a line against a pattern of literals and unnamed captures). A
 * capture is <name> with name [A-Za-z_][A-Za-z0-9_]*; <_> skips text;
 * anything else, including a '<' that does not open a capture, is literal.
 * Matching is literal search (memmem), no regular expressions: compiled
 * patterns need no disposal. */
#ifndef SX_QUERY_LOGQL_PATTERN_H
#define SX_QUERY_LOGQL_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "../../core/arena.h"
#include "../../core/error.h"
#include "../../core/str.h"
#include "labels.h"

typedef struct sx_lq_pattern_node {
    sx_str_t text; /* literal bytes, or the capture name ("_" when unnamed) */
    bool capture;
} sx_lq_pattern_node_t;

/* A compiled pattern: literal and capture nodes alternate (two literals are
 * always merged; two captures in a row are rejected). Immutable. */
typedef struct sx_lq_pattern {
    sx_lq_pattern_node_t *nodes;
    size_t n;
    size_t n_names; /* named captures */
} sx_lq_pattern_t;

/* Compile a `| pattern` expression into *p (storage from a; the
 * expression is copied). Loki's validation: SX_EPARSE when it is empty, has
 * no named capture ("at least one capture is required"), two captures in a
 * row ("found consecutive capture: invalid expression") or the same name
 * twice ("duplicate capture name (x): invalid expression"). */
int sx_lq_pattern_compile(sx_str_t expr, sx_lq_pattern_t *p, sx_arena_t *a, sx_err_t *err);

/* Compile a `|>` / `!>` line-filter pattern: empty is allowed, captures
 * must be unnamed ("named captures are not allowed") and never
 * consecutive. */
int sx_lq_pattern_compile_filter(sx_str_t expr, sx_lq_pattern_t *p, sx_arena_t *a, sx_err_t *err);

/* The name of the i-th named capture (i < p->n_names). */
sx_str_t sx_lq_pattern_name(const sx_lq_pattern_t *p, size_t i);

/* Match line, writing the named captures in order to caps[0..n_names).
 * Returns how many were captured: Loki stops at the first literal it
 * cannot find, giving the rest of the line to that capture and leaving
 * the following ones out; a line that does not start with a leading
 * literal captures nothing. Captures point into line. */
size_t sx_lq_pattern_match(const sx_lq_pattern_t *p, sx_str_t line, sx_str_t *caps);

/* The `| pattern` stage: set the captured fields as parsed labels (with
 * the _extracted suffix for names the stream labels have). */
void sx_lq_pattern_process(const sx_lq_pattern_t *p, sx_str_t line, sx_lq_labels_t *lb);

/* The line-filter test (`|>` keeps lines for which it is true, `!>` the
 * others): every literal must occur in order, captures must not be empty,
 * and the line must end with the last literal unless the pattern ends with
 * a capture (which then must not be empty). */
bool sx_lq_pattern_test(const sx_lq_pattern_t *p, sx_str_t line);

#endif
