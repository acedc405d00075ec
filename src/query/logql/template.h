/* SPDX-License-Identifier: Apache-2.0 */
/* The Go text/template subset behind LogQL's `| line_format` and
 * `| label_format`, with Loki's function map. A template is compiled once
 * per query into a program (arena memory) and executed per line against the
 * line's labels (`.name`, missing labels render as ""), the line
 * (`__line__`) and its timestamp (`__timestamp__`), writing into a buffer.
 *
 * Supported: text and {{ actions }} with trim markers and comments;
 * pipelines and parenthesised pipelines; fields `.a`, `$`, `$.a`,
 * variables (`$x := ...`, `$x = ...`); string (quoted and raw), number,
 * char, bool and nil constants; if / else if / else / with / end. Not
 * supported (compile errors): range, define, template, block, break,
 * continue, and the functions fromJson, call and slice-of-map helpers.
 * Functions: Go's and, or, not, eq, ne, lt, le, gt, ge, len, index, slice,
 * print, printf, println, html, js, urlquery; Loki's ToLower ToUpper
 * Replace Trim TrimLeft TrimRight TrimPrefix TrimSuffix TrimSpace
 * regexReplaceAll regexReplaceAllLiteral count urldecode urlencode bytes
 * duration duration_seconds unixEpochMillis unixEpochNanos toDateInZone
 * unixToTime alignLeft alignRight __line__ __timestamp__; and sprig's b64enc
 * b64dec lower upper title trunc substr contains hasPrefix hasSuffix indent
 * nindent replace repeat trim trimAll trimSuffix trimPrefix int float64 add
 * sub mul div mod addf subf mulf divf max min maxf minf ceil floor round date
 * toDate now unixEpoch default. Go's type rules apply at execution (a string
 * label passed where an int is expected is an error, eq between a string and
 * a number is an error), as do Go's value printing and fmt verbs. Time zones:
 * the server's "Local" zone is UTC. */
#ifndef SX_QUERY_LOGQL_TEMPLATE_H
#define SX_QUERY_LOGQL_TEMPLATE_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/buf.h"
#include "../../core/error.h"
#include "../../core/str.h"
#include "labels.h"

typedef struct sx_lq_tmpl sx_lq_tmpl_t;

/* Compile src. name is the template's name in error messages, as Loki uses
 * them: "line" for line_format, "label" for label_format. The program and
 * its strings live in a (src is copied); regular expressions given as
 * constants are compiled now and freed by sx_lq_tmpl_dispose. Returns the
 * program, or NULL with err = SX_EPARSE and Go's message
 * ("template: line:1: function \"foo\" not defined"); Loki's prefix
 * ("invalid line template: ...") is the caller's to add. */
sx_lq_tmpl_t *sx_lq_tmpl_compile(sx_str_t src, const char *name, sx_arena_t *a, sx_err_t *err);

/* Free what the program holds outside the arena (compiled regexes).
 * NULL is a no-op. The arena memory is released with the arena. */
void sx_lq_tmpl_dispose(sx_lq_tmpl_t *t);

/* Execute for one line: labels lb (read; intermediate strings go to its
 * per-line arena), the current line and its timestamp (ns since epoch).
 * Appends the output to out (which may reallocate). Returns 0, or SX_EEXEC
 * with Go's execution error message appended to errmsg (when not NULL):
 * the caller then sets __error__=TemplateFormatErr and
 * __error_details__, and (for line_format) keeps the line unchanged. out
 * may hold partial output after an error. A program may be executed by
 * several threads at once. */
int sx_lq_tmpl_exec(const sx_lq_tmpl_t *t, sx_lq_labels_t *lb, sx_str_t line, int64_t ts_ns,
                    sx_buf_t *out, sx_buf_t *errmsg);

/* Whether the template is just {{.name}} (Loki's fast path: the output is
 * the label's value, or "" when missing). */
bool sx_lq_tmpl_simple_field(const sx_lq_tmpl_t *t, sx_str_t *name);

/* The label names the template references as fields (.a, $.a), unique, in
 * first-use order: Loki's RequiredLabelNames. Up to max names go to
 * names; returns the total count. */
size_t sx_lq_tmpl_fields(const sx_lq_tmpl_t *t, sx_str_t *names, size_t max);

#endif
