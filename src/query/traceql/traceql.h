/* SPDX-License-Identifier: Apache-2.0 */
/* Trace search conditions: the TraceQL that Tempo's q= takes here (one
 * spanset filter `{ c && c ... }`, each c `field op value` on .attr,
 * span.attr, resource.attr, name, status, kind or duration) and Tempo's
 * logfmt tags= parameter. The trace API evaluates the conditions. */
#ifndef SX_QUERY_TRACEQL_TRACEQL_H
#define SX_QUERY_TRACEQL_TRACEQL_H

#include <stdbool.h>
#include <stddef.h>

#include "../../core/arena.h"

enum { SX_TQL_F_ATTR_ANY, SX_TQL_F_ATTR_SPAN, SX_TQL_F_ATTR_RES, SX_TQL_F_NAME, SX_TQL_F_STATUS,
       SX_TQL_F_KIND, SX_TQL_F_DURATION };
enum { SX_TQL_OP_EQ, SX_TQL_OP_NE, SX_TQL_OP_GT, SX_TQL_OP_LT, SX_TQL_OP_GE, SX_TQL_OP_LE };
/* SX_TQL_V_INT: a status or kind code, or a duration in ns. */
enum { SX_TQL_V_STR, SX_TQL_V_NUM, SX_TQL_V_BOOL, SX_TQL_V_INT };

typedef struct sx_tql_cond {
    int field, op, vt;
    bool text;       /* compare the text form (Tempo tags=, Jaeger tags) */
    const char *key; /* attribute key */
    const char *s;
    double num;
    long long i;
    bool b;
} sx_tql_cond_t;

/* OTLP span kinds and status codes by number, for parsing and printing. */
extern const char *const sx_tql_kind_names[6];
extern const char *const sx_tql_status_names[3];
/* Index of s[0..n) in names (case-insensitive), or -1. */
int sx_tql_name_index(const char *s, size_t n, const char *const *names, int count);

/* Parse q (NUL-terminated) into conditions in the arena. Returns NULL, or
 * a static message saying what is not supported or malformed. */
const char *sx_tql_parse(sx_arena_t *a, const char *q, sx_tql_cond_t **out, size_t *n);
/* Parse Tempo's tags= (logfmt key=value, values optionally quoted),
 * appending text conditions to *out (capacity *cap). NULL or a message. */
const char *sx_tql_tags_parse(sx_arena_t *a, const char *s, sx_tql_cond_t **out, size_t *n,
                              size_t *cap);
/* Append the condition "attribute k equals val" (name, status, error and
 * kind map to the span's own fields) to *v. */
void sx_tql_cond_add_text(sx_arena_t *a, sx_tql_cond_t **v, size_t *n, size_t *cap, const char *k,
                          const char *val);

#endif
