/* SPDX-License-Identifier: Apache-2.0 */
/* The label set a log line carries through a LogQL pipeline, as Loki's
 * LabelsBuilder: it starts as the stream labels (the "base") and the stages
 * add structured metadata, parsed labels, the __error__ and
 * __error_details__ labels, rename and drop. One sorted array holds the
 * visible set, one entry per name, each with the category it came from;
 * Loki's precedence (parsed over structured metadata over stream) is applied
 * by sx_lq_labels_set. Reset to the next line's base costs a copy of the base
 * and no allocation once warm: strings made per line (unescaped values,
 * flattened JSON keys) live in a per-line arena that reset releases. */
#ifndef SX_QUERY_LOGQL_LABELS_H
#define SX_QUERY_LOGQL_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../core/arena.h"
#include "../../core/str.h"
#include "../../model/metric.h"

/* Label names Loki reserves for errors, and the error values its stages set. */
#define SX_LQ_ERROR_LABEL "__error__"
#define SX_LQ_ERROR_DETAILS_LABEL "__error_details__"
#define SX_LQ_ERR_JSON "JSONParserErr"
#define SX_LQ_ERR_LOGFMT "LogfmtParserErr"
#define SX_LQ_ERR_SAMPLE "SampleExtractionErr"
#define SX_LQ_ERR_LABEL_FILTER "LabelFilterErr"
#define SX_LQ_ERR_TEMPLATE "TemplateFormatErr"
/* Suffix a parser appends to a key that collides with a stream label. */
#define SX_LQ_DUPLICATE_SUFFIX "_extracted"

typedef enum sx_lq_cat {
    SX_LQ_STREAM = 0, /* stream label (the base, or set as such) */
    SX_LQ_META = 1,   /* structured metadata */
    SX_LQ_PARSED = 2, /* set by a parser or a formatting stage; errors too */
} sx_lq_cat_t;

typedef struct sx_lq_label {
    sx_str_t name;
    sx_str_t value;
    uint8_t cat; /* sx_lq_cat_t */
} sx_lq_label_t;

typedef struct sx_lq_labels {
    /* The visible set, sorted by name (byte order), names unique. Read it
     * directly to iterate: for (i = 0; i < lb->n; i++) lb->v[i]. Valid until
     * the next call that modifies the set. */
    sx_lq_label_t *v;
    uint32_t n;
    uint32_t _cap;
    const sx_label_t *_base; /* stream labels of the current line, sorted */
    uint32_t _nbase;
    sx_arena_t *_arena; /* holds v; the caller's (query) arena */
    sx_arena_t _line;   /* per-line strings; released by reset */
} sx_lq_labels_t;

/* Prepare an empty set whose array lives in arena (typically the query
 * arena; it grows a few times and is then reused for every line). Call
 * sx_lq_labels_dispose when done: it frees the per-line arena. */
void sx_lq_labels_init(sx_lq_labels_t *lb, sx_arena_t *arena);
/* Free the per-line arena. The set must not be used afterwards. */
void sx_lq_labels_dispose(sx_lq_labels_t *lb);

/* Start a new line: the set becomes the stream labels base[0..nbase)
 * (sorted by name, unique; the caller keeps them alive while the set is in
 * use), all of category SX_LQ_STREAM, without errors. Everything allocated
 * with sx_lq_labels_alloc/strdup for the previous line is released, so
 * values set from it must not be used after this call. */
void sx_lq_labels_reset(sx_lq_labels_t *lb, const sx_label_t *base, size_t nbase);

/* The entry called name, or NULL. */
const sx_lq_label_t *sx_lq_labels_find(const sx_lq_labels_t *lb, sx_str_t name);
/* Whether name is in the set; its value in *value (may be NULL) if so. */
bool sx_lq_labels_get(const sx_lq_labels_t *lb, sx_str_t name, sx_str_t *value);
bool sx_lq_labels_has(const sx_lq_labels_t *lb, sx_str_t name);
/* Whether the stream labels of the line (the base given to reset, not the
 * current set) contain name: Loki's rule for the _extracted suffix. */
bool sx_lq_labels_base_has(const sx_lq_labels_t *lb, sx_str_t name);

/* Set name to value with Loki's category precedence: SX_LQ_PARSED always
 * wins (the entry becomes parsed); SX_LQ_META replaces a stream value but
 * not a parsed one; SX_LQ_STREAM only replaces a stream value. name and
 * value are not copied: they must outlive the set's use for this line
 * (point into the line, the stream labels, the query or the per-line
 * arena). Invalidates pointers into lb->v. */
void sx_lq_labels_set(sx_lq_labels_t *lb, sx_lq_cat_t cat, sx_str_t name, sx_str_t value);
/* Same, copying name and value into the per-line arena first. */
void sx_lq_labels_set_copy(sx_lq_labels_t *lb, sx_lq_cat_t cat, sx_str_t name, sx_str_t value);
/* Loki's LabelsBuilder.Add, used for structured metadata: a name the stream
 * labels already have gets the _extracted suffix (copied into the per-line
 * arena), and __error__ / __error_details__ set the error instead. Not
 * copied otherwise, as sx_lq_labels_set. */
void sx_lq_labels_add(sx_lq_labels_t *lb, sx_lq_cat_t cat, sx_str_t name, sx_str_t value);
/* Remove name; returns whether it was there. Deleting __error__ is how
 * Loki's `drop __error__` clears an error. */
bool sx_lq_labels_del(sx_lq_labels_t *lb, sx_str_t name);

/* Set __error__ to err (a static string such as SX_LQ_ERR_JSON, or any
 * string that outlives the line) and, when details is not empty,
 * __error_details__ to details (not copied either; use
 * sx_lq_labels_strdup for a formatted message). As Loki's SetErr and
 * SetErrorDetails: an existing error is overwritten, and empty details keep
 * the previous ones. */
void sx_lq_labels_set_error(sx_lq_labels_t *lb, sx_str_t err, sx_str_t details);
bool sx_lq_labels_has_error(const sx_lq_labels_t *lb);
/* The __error__ value, or an empty string. */
sx_str_t sx_lq_labels_error(const sx_lq_labels_t *lb);

/* n bytes (uninitialised) in the per-line arena, released by the next
 * reset. Never NULL (aborts on OOM, server policy). */
char *sx_lq_labels_alloc(sx_lq_labels_t *lb, size_t n);
/* A copy of p[0..n) in the per-line arena (NUL-terminated, not counted). */
sx_str_t sx_lq_labels_strdup(sx_lq_labels_t *lb, const char *p, size_t n);

/* A hash of the whole set (names, values; not categories), for grouping.
 * Equal sets hash equal whatever the order the labels were set in. */
uint64_t sx_lq_labels_hash(const sx_lq_labels_t *lb);
/* A hash of the labels named in names[0..n) (`by`), or of all the others
 * (`without`). names need not be sorted. */
uint64_t sx_lq_labels_hash_subset(const sx_lq_labels_t *lb, const sx_str_t *names, size_t n,
                                  bool without);

/* Loki's label name sanitizer (sanitizeLabelKey): trims Unicode white
 * space, prefixes "_" when is_prefix and the key starts with a digit, and
 * replaces each character (rune, or invalid byte) outside [A-Za-z0-9_] with
 * "_". The result is written to out, which must hold key.len + 1 bytes;
 * returns its length (0 for an empty or blank key). */
size_t sx_lq_sanitize_key(sx_str_t key, bool is_prefix, char *out);
/* Whether s is a valid Prometheus label name [a-zA-Z_][a-zA-Z0-9_]*. */
bool sx_lq_label_name_valid(sx_str_t s);

/* ---- UTF-8 helpers shared by the stages (Go's rules) ---- */

/* Decode the rune at p[0..n) as Go's utf8.DecodeRune: returns its width
 * and the rune in *r; an invalid or truncated sequence gives U+FFFD with
 * width 1; n == 0 gives width 0. */
size_t sx_lq_utf8_decode(const char *p, size_t n, uint32_t *r);
/* Loki's removeInvalidUtf: if s holds U+FFFD or invalid UTF-8, a copy in
 * the per-line arena with each such rune (or invalid byte) replaced by a
 * space; otherwise s itself. */
sx_str_t sx_lq_fix_rune_error(sx_lq_labels_t *lb, sx_str_t s);
/* Whether s holds U+FFFD or invalid UTF-8 (Go's ContainsRune(s, RuneError)). */
bool sx_lq_has_rune_error(sx_str_t s);
/* Go's unicode.IsSpace for a rune. */
bool sx_lq_is_space_rune(uint32_t r);
/* Go's strings.TrimSpace: s without leading and trailing Unicode space. */
sx_str_t sx_lq_trim_space(sx_str_t s);

#endif
