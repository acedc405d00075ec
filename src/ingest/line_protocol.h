/* SPDX-License-Identifier: Apache-2.0 */
/* InfluxDB line protocol: a low-level, mostly zero-copy parser that yields
 * one point at a time, and the mapping from a parsed point to Prometheus
 * style series that the line protocol and DataKit JSON decoders share.
 * DataKit's logging and object categories reuse the parser directly. Every
 * string the parser returns points into the body, or into the arena when
 * escapes had to be removed, so it lives as long as both of those. */
#ifndef SX_INGEST_LINE_PROTOCOL_H
#define SX_INGEST_LINE_PROTOCOL_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/error.h"
#include "../core/str.h"
#include "../model/metric.h"
#include "ingest.h"

/* ---- Points ---- */

enum sx_lp_kind {
    SX_LP_FLOAT = 0, /* 1.5, -2e3 */
    SX_LP_INT,       /* 12i */
    SX_LP_UINT,      /* 12u */
    SX_LP_BOOL,      /* t, true, F, FALSE, ... */
    SX_LP_STRING     /* "quoted", with \" and \\ removed */
};

typedef struct sx_lp_tag {
    sx_str_t key;
    sx_str_t value;
} sx_lp_tag_t;

typedef struct sx_lp_field {
    sx_str_t key;
    int kind; /* enum sx_lp_kind */
    union {
        double f;
        int64_t i;
        uint64_t u;
        bool b;
        sx_str_t s;
    } v;
} sx_lp_field_t;

typedef struct sx_lp_point {
    sx_str_t measurement;
    sx_lp_tag_t *tags; /* in input order (NULL if none); owned by the parser, see below */
    uint32_t ntags;
    sx_lp_field_t *fields; /* in input order, at least one */
    uint32_t nfields;
    bool has_ts;
    int64_t ts;    /* as written, in the body's precision units */
    uint32_t line; /* 1-based line where the point starts */
} sx_lp_point_t;

/* ---- Parser ---- */

/* Parser flags. */
#define SX_LP_REJECT_DUP_TAGS 0x1u /* a tag key given twice in one point is an error */

typedef struct sx_lp_parser {
    const char *_p, *_end;
    const char *_bol; /* start of the current line, for columns */
    uint32_t _line;   /* 1-based line of _p */
    unsigned _flags;
    sx_arena_t *_arena;
    sx_lp_tag_t *_tags; /* scratch reused for every point */
    uint32_t _tagcap;
    sx_lp_field_t *_fields;
    uint32_t _fieldcap;
    sx_str_t *_keys; /* scratch for the duplicate tag check */
    uint32_t _keycap;
} sx_lp_parser_t;

/* Prepare to parse buf[0..len). The body must stay alive and unchanged
 * while the parser and the points it returns are in use; unescaped strings
 * and scratch arrays come from arena. */
void sx_lp_parser_init(sx_lp_parser_t *p, const char *buf, size_t len, sx_arena_t *arena,
                       unsigned flags);

/* Parse the next point into *pt, skipping blank lines, comment lines and
 * leading spaces. Returns 1 when *pt was filled, 0 at the end of the body,
 * or a negative code (SX_EPARSE, or SX_ENOMEM when the arena's limit is
 * reached) with err naming the line, column and problem; after an error
 * the parser must not be used again. pt->tags and pt->fields are scratch
 * arrays valid until the next call (the caller may reorder or shrink them);
 * the strings they point to stay valid as described at the top. */
int sx_lp_parser_next(sx_lp_parser_t *p, sx_lp_point_t *pt, sx_err_t *err);

/* Convert a timestamp in precision units to nanoseconds. Returns false if
 * the result does not fit in an int64. */
bool sx_lp_ts_to_ns(int64_t ts, int64_t precision_ns, int64_t *ns);

/* ---- DataKit data constraints (seed 002) ---- */

#define SX_DK_MAX_TAGS 256
#define SX_DK_MAX_FIELDS 1024
#define SX_DK_MAX_KEY_LEN 256
#define SX_DK_MAX_TAG_VALUE_LEN 1024
#define SX_DK_MAX_FIELD_VALUE_LEN (32 * 1024 * 1024)

/* Repair a point in place the way DataKit does instead of rejecting it:
 * keys longer than 256 bytes and tag values longer than 1024 bytes are
 * truncated (on a UTF-8 boundary), string field values to 32 MiB; of keys
 * given twice among the tags or among the fields the first is kept; a field
 * whose key is also a tag key is dropped; past 256 tags or 1024 fields the
 * keys are sorted and the extras dropped. Tags and fields may be reordered.
 * Scratch for sorting comes from arena; never fails. */
void sx_lp_point_datakit_fix(sx_lp_point_t *pt, sx_arena_t *arena);

/* ---- Point to series ---- */

/* State shared by the points of one body: where series go, and a cache of
 * the previous point's series names (bodies usually repeat a measurement
 * with the same fields line after line). */
typedef struct sx_lp_mapper {
    const sx_lp_opts_t *opts;
    sx_metric_batch_t *out;
    sx_str_t _meas;   /* measurement of the cached names */
    sx_str_t *_fkeys; /* field keys of the cached names */
    sx_str_t *_names; /* sanitized "<measurement>_<field>" per cached key */
    uint32_t _nnames, _namecap;
    sx_label_t *_labels; /* scratch label template */
    uint32_t _labelcap;
} sx_lp_mapper_t;

void sx_lp_mapper_init(sx_lp_mapper_t *m, const sx_lp_opts_t *opts, sx_metric_batch_t *out);

/* Append the series for one point to m->out: each integer, unsigned, float
 * or boolean field f of measurement m becomes series m_f (sanitized metric
 * name) whose labels are the tags (sanitized names) plus opts->extra_label
 * unless a tag already has that name; string fields are skipped. The sample
 * time is pt->ts * opts->precision_ns (or opts->now_ns without one) cut to
 * milliseconds. With opts->datakit the point is first repaired with
 * sx_lp_point_datakit_fix (so pt may be reordered) and tags that collide
 * after sanitizing keep the first; without it such a collision is an error.
 * A tag named __name__, and a timestamp that overflows int64 nanoseconds,
 * are always errors. Label names and values stay pointing into pt's
 * strings, which must live as long as the batch. On error nothing is
 * appended and err says what is wrong without naming the line (the caller
 * adds that). */
int sx_lp_mapper_add(sx_lp_mapper_t *m, sx_lp_point_t *pt, sx_err_t *err);

#endif
