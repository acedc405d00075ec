/* SPDX-License-Identifier: Apache-2.0 */
/* LogQL's JSON stages, as Loki 3: `| json` (flatten every string, number
 * and boolean of the object into labels, nested keys joined with "_",
 * arrays and nulls skipped), `| json a="x.y[0]", b="[\"k\"]"` (extract the
 * addressed values; objects and arrays as their JSON text) and `| unpack`
 * (string members become labels, `_entry` replaces the line). The scanner
 * is this module's own: it never allocates per value, walks nesting
 * iteratively, and accepts and rejects input as Loki's jsonparser does
 * (it checks structure, not every token: a number is any run up to a
 * delimiter, and text after the closing brace is ignored). Errors set
 * __error__=JSONParserErr and __error_details__ with jsonparser's message. */
#ifndef SX_QUERY_LOGQL_JSONX_H
#define SX_QUERY_LOGQL_JSONX_H

#include <stdbool.h>
#include <stddef.h>

#include "../../core/arena.h"
#include "../../core/error.h"
#include "../../core/str.h"
#include "labels.h"

/* One step of a JSON path: an object key or an array index. */
typedef struct sx_lq_jsonpath_step {
    sx_str_t key; /* when index < 0 */
    long index;   /* >= 0: array index */
} sx_lq_jsonpath_step_t;

typedef struct sx_lq_jsonpath {
    sx_lq_jsonpath_step_t *steps;
    size_t n;
} sx_lq_jsonpath_t;

/* A compiled `| json` stage with parameters. Immutable after compile. */
typedef struct sx_lq_json {
    sx_str_t *ids;
    sx_lq_jsonpath_t *paths;
    size_t n;
} sx_lq_json_t;

/* Parse a path expression as Loki's jsonexpr grammar: `a.b`, `a["b c"]`,
 * `["a"].b`, `list[0]`, any mix. Keys in ["..."] end at the first '"' or
 * ']' and take no escapes. Steps are allocated in a; keys point into expr
 * (which must outlive the path). Returns 0 or SX_EPARSE with err set
 * ("syntax error: unexpected DOT, expecting FIELD" and the like). */
int sx_lq_jsonpath_parse(sx_str_t expr, sx_lq_jsonpath_t *out, sx_arena_t *a, sx_err_t *err);

/* Compile `| json ids[0]=exprs[0], ...` (n > 0). Everything is copied into
 * a. Returns 0 or SX_EPARSE ("cannot parse expression [x]: syntax error:
 * ...", "invalid extracted label name 'x'"). */
int sx_lq_json_compile(sx_lq_json_t *j, const sx_str_t *ids, const sx_str_t *exprs, size_t n,
                       sx_arena_t *a, sx_err_t *err);

/* `| json` without parameters: flatten line into parsed labels of lb. */
void sx_lq_json_flatten(sx_str_t line, sx_lq_labels_t *lb);

/* `| json` with parameters: set each id to the value its path addresses
 * (missing paths give ""; an id the stream already has becomes
 * id_extracted when found). An empty line is left alone; a line that does
 * not start with '{', '[' or '"' only gets __error__. */
void sx_lq_json_extract(const sx_lq_json_t *j, sx_str_t line, sx_lq_labels_t *lb);

/* `| unpack`: returns the new line (the `_entry` member, unescaped into
 * the per-line arena) or line itself when there is none or on error. Labels
 * are added only when `_entry` is present, as Loki does. */
sx_str_t sx_lq_unpack(sx_str_t line, sx_lq_labels_t *lb);

#endif
