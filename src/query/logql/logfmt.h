/* SPDX-License-Identifier: Apache-2.0 */
/* LogQL's `| logfmt` stage, as Loki 3's LogfmtParser and
 * LogfmtExpressionParser: key=value pairs, quoted values with JSON-style
 * escapes, bare keys, --strict (stop at the first malformed pair and set
 * __error__=LogfmtParserErr with __error_details__ "logfmt syntax error at
 * pos N : ..."), --keep-empty, key sanitization, the _extracted suffix for
 * keys the stream labels already have, and extraction parameters
 * (`| logfmt host, fwd_ip="fwd"`). Values point into the line unless they
 * had to be unescaped or cleaned of invalid UTF-8 (then they live in the
 * label set's per-line arena). */
#ifndef SX_QUERY_LOGQL_LOGFMT_H
#define SX_QUERY_LOGQL_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>

#include "../../core/arena.h"
#include "../../core/error.h"
#include "../../core/str.h"
#include "labels.h"

typedef struct sx_lq_logfmt_param {
    sx_str_t id;  /* label to set */
    sx_str_t key; /* sanitized line key it is taken from */
} sx_lq_logfmt_param_t;

/* A compiled `| logfmt` stage. Immutable after init: one may serve several
 * threads. */
typedef struct sx_lq_logfmt {
    bool strict;
    bool keep_empty; /* ignored with parameters, as in Loki */
    sx_lq_logfmt_param_t *params; /* NULL when n_params == 0 */
    size_t n_params;
} sx_lq_logfmt_t;

/* Compile the stage. With n == 0 every key is extracted; otherwise only
 * ids[i] from expression exprs[i] (an identifier, or a "quoted" key, as
 * Loki's logfmt expression grammar; the short form `| logfmt host` is
 * ids[i] == exprs[i] == "host"). Parameter storage comes from a (the
 * query arena); ids and exprs are copied. Returns 0, or SX_EPARSE with err
 * filled ("cannot parse expression [x]: syntax error: ...", "invalid
 * extracted label name 'x'"). */
int sx_lq_logfmt_init(sx_lq_logfmt_t *p, bool strict, bool keep_empty, const sx_str_t *ids,
                      const sx_str_t *exprs, size_t n, sx_arena_t *a, sx_err_t *err);

/* Run the stage over one line, adding parsed labels to lb (which the caller
 * has reset to the line's stream labels). Never fails: malformed input
 * becomes the error labels in strict mode and is skipped otherwise. */
void sx_lq_logfmt_process(const sx_lq_logfmt_t *p, sx_str_t line, sx_lq_labels_t *lb);

#endif
