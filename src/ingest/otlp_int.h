/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the OTLP decoder files only (otlp.c, otlp_logs.c,
 * otlp_metrics.c; never included from outside src/ingest/). One field
 * walker reads both wire formats against the same schema tables, so each
 * message is decoded by one piece of code: the walker checks wire types
 * (protobuf) or JSON value types, expands packed repeated scalars and JSON
 * arrays into one value per element, converts ids, integers, doubles,
 * base64 and escapes, and hands out typed values with the field number.
 * Unknown fields never come out. */
#ifndef SX_INGEST_OTLP_INT_H
#define SX_INGEST_OTLP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/error.h"
#include "../core/str.h"
#include "../model/span.h"
#include "otlp.h"

/* Field value kinds. The protobuf wire type each expects is in brackets. */
enum {
    SX_OTLP__STR,     /* string [LEN]: s, valid UTF-8 */
    SX_OTLP__BYTES,   /* bytes [LEN]: s (JSON: base64-decoded) */
    SX_OTLP__ID,      /* trace or span id [LEN] of def->idlen bytes: s (JSON: hex); s.len 0 when absent */
    SX_OTLP__FIXED64, /* fixed64 [I64]: u */
    SX_OTLP__SFIXED64,/* sfixed64 [I64]: u (cast to int64) */
    SX_OTLP__DOUBLE,  /* double [I64]: d */
    SX_OTLP__FIXED32, /* fixed32 [I32]: u */
    SX_OTLP__VARINT,  /* uint32, uint64, int32, int64 [VARINT]: u (int types: cast) */
    SX_OTLP__SINT32,  /* sint32 [VARINT, zigzag]: u (cast to int32) */
    SX_OTLP__BOOL,    /* bool [VARINT]: u 0 or 1 */
    SX_OTLP__ENUM,    /* enum [VARINT]: u (cast to int32); JSON: number or a name of def->enums */
    SX_OTLP__MSG,     /* message [LEN]: s, the message bytes or JSON object text */
};

typedef struct sx_otlp__enum_name {
    const char *name;
    int32_t value;
} sx_otlp__enum_name_t;

typedef struct sx_otlp__msg_def sx_otlp__msg_def_t;

typedef struct sx_otlp__field_def {
    uint32_t num;                       /* protobuf field number */
    uint8_t kind;                       /* SX_OTLP__* */
    uint8_t idlen;                      /* SX_OTLP__ID: 16 or 8 */
    const char *json;                   /* lowerCamelCase name */
    const char *proto;                  /* snake_case name (accepted in JSON too) */
    const sx_otlp__msg_def_t *sub;      /* SX_OTLP__MSG: its message */
    const sx_otlp__enum_name_t *enums;  /* SX_OTLP__ENUM: names, NULL-ended; or NULL */
} sx_otlp__field_def_t;

struct sx_otlp__msg_def {
    const char *name;
    const sx_otlp__field_def_t *fields;
    size_t nfields;
};

/* Decoding state shared by all levels of one request. */
#define SX_OTLP__MAX_PATH 24
#define SX_OTLP__MAX_DEPTH 32 /* nesting of AnyValue arrays and maps */

typedef struct sx_otlp__dec {
    const char *base, *end; /* the whole body: error offsets are relative to base */
    int fmt;                /* SX_OTLP_PROTOBUF or SX_OTLP_JSON */
    sx_arena_t *arena;      /* the batch arena */
    sx_err_t *err;
    sx_otlp_result_t *res;
    struct {
        const char *name;
        int64_t idx; /* -1: not an array element */
    } path[SX_OTLP__MAX_PATH];
    unsigned depth; /* entries used in path (those beyond SX_OTLP__MAX_PATH not recorded) */
} sx_otlp__dec_t;

/* One value the walker hands out. */
typedef struct sx_otlp__val {
    const sx_otlp__field_def_t *def; /* which field (never NULL) */
    uint32_t num;                    /* def->num */
    uint64_t u;                      /* integer kinds, bool, enum */
    double d;                        /* SX_OTLP__DOUBLE */
    sx_str_t s;                      /* STR, BYTES, ID, MSG */
    const char *at;                  /* where the value starts in the body */
} sx_otlp__val_t;

/* A walker over one message's fields (either format). */
typedef struct sx_otlp__it {
    sx_otlp__dec_t *d;
    const sx_otlp__msg_def_t *md;
    int fmt;
    const char *p, *end;
    /* protobuf: the rest of a packed repeated scalar */
    const char *pk, *pkend;
    const sx_otlp__field_def_t *pkdef;
    /* JSON: inside an array value */
    const sx_otlp__field_def_t *adef;
    bool json_first;
} sx_otlp__it_t;

/* Start walking msg (protobuf bytes, or a JSON object's text from its
 * '{'), as message md in format fmt. Returns 0 or an error (JSON: not an
 * object). */
int sx_otlp__it_init(sx_otlp__it_t *it, sx_otlp__dec_t *d, const sx_otlp__msg_def_t *md, int fmt,
                     sx_str_t msg);

/* The next known field value: 1 with *v filled, 0 at the end of the
 * message, or a negative SX_E code with d->err set (path and field named). */
int sx_otlp__it_next(sx_otlp__it_t *it, sx_otlp__val_t *v);

/* Path handling for messages: push a segment before descending, pop after. */
void sx_otlp__push(sx_otlp__dec_t *d, const char *name, int64_t idx);
void sx_otlp__pop(sx_otlp__dec_t *d);

/* Fail with SX_EPARSE: "<path>[.field]: <message>". field may be NULL. */
int sx_otlp__fail(sx_otlp__dec_t *d, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sx_otlp__oom(sx_otlp__dec_t *d);

/* Count n rejected items and add reason (printf) to d->res->msg. */
void sx_otlp__reject(sx_otlp__dec_t *d, int64_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Start decoding a whole request: checks the format, sets up d, and for
 * JSON that the body is one object and nothing else. *root is the
 * message to walk with sx_otlp__it_init. */
int sx_otlp__begin(sx_otlp__dec_t *d, const char *buf, size_t len, int fmt, sx_arena_t *a,
                   sx_otlp_result_t *res, sx_err_t *err, sx_str_t *root);

/* Common messages. */
extern const sx_otlp__msg_def_t sx_otlp__resource_def, sx_otlp__scope_def, sx_otlp__anyvalue_def,
    sx_otlp__keyvalue_def;
/* The three request messages. */
extern const sx_otlp__msg_def_t sx_otlp__traces_request_def, sx_otlp__logs_request_def,
    sx_otlp__metrics_request_def;

/* Field numbers shared by the files. */
enum {
    SX_OTLP__RESOURCE_ATTRS = 1,
    SX_OTLP__RESOURCE_DROPPED = 2,
    SX_OTLP__SCOPE_NAME = 1,
    SX_OTLP__SCOPE_VERSION = 2,
    SX_OTLP__SCOPE_ATTRS = 3,
    SX_OTLP__SCOPE_DROPPED = 4,
    SX_OTLP__KV_KEY = 1,
    SX_OTLP__KV_VALUE = 2,
};

/* Decode an AnyValue message (v->s of a MSG value) into *out; arrays and
 * maps become their compact OTLP JSON text in the arena. */
int sx_otlp__anyval(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_anyval_t *out);

/* Decode a KeyValue message and append it to the growable array
 * (*attrs, *n, *cap) in the arena. name is the path segment of the array
 * ("attributes") and idx its index. */
int sx_otlp__attr_add(sx_otlp__dec_t *d, int fmt, const char *name, sx_str_t msg, sx_attr_t **attrs,
                      uint32_t *n, uint32_t *cap);

/* Decode a Resource (path segment "resource") or an InstrumentationScope
 * ("scope") message: attributes appended to (*attrs, *n), counts and
 * names filled. */
int sx_otlp__resource(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_attr_t **attrs, uint32_t *n,
                      uint32_t *dropped);
int sx_otlp__scope(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_str_t *name, sx_str_t *version,
                   sx_attr_t **attrs, uint32_t *n, uint32_t *dropped);

/* A value as Prometheus and Loki print attribute values (pdata's AsString):
 * strings as they are, integers in decimal, doubles in the shortest form,
 * bools as true/false, bytes as base64, arrays and maps as plain JSON
 * ("[\"a\",1]", "{\"k\":\"v\"}"). Result in the arena (or v's own text). */
int sx_otlp__anyval_string(sx_otlp__dec_t *d, const sx_anyval_t *v, sx_str_t *out);

/* Append the plain JSON of an AnyValue message (fmt) to out: what a log
 * body other than a string becomes. */
int sx_otlp__anyval_plain(sx_otlp__dec_t *d, int fmt, sx_str_t msg, sx_buf_t *out);

/* Sanitize an attribute name into a Prometheus label name as
 * otlptranslator's NormalizeLabel: invalid characters to '_', "key_" in
 * front of a leading digit, "key" in front of a single leading '_'. The
 * result is name itself when nothing changes, else arena memory; an empty
 * name stays empty. */
sx_str_t sx_otlp__label_name(sx_arena_t *a, sx_str_t name);

/* Append an entry to the growable label array (*arr, *n, *cap) in the
 * arena. Returns 0 or SX_ETOOLARGE (d->err set). */
int sx_otlp__label_push(sx_otlp__dec_t *d, sx_label_t **arr, uint32_t *n, uint32_t *cap,
                        sx_str_t name, sx_str_t value);

/* Append attribute (key, v) to a label array: the name sanitized
 * (sx_otlp__label_name, after prefix + "_" when prefix is not empty), the
 * value as sx_otlp__anyval_string. With flatten, a map value becomes one
 * entry per leaf, named prefix_key_subkey..., as Loki stores OTLP
 * attributes. */
int sx_otlp__attr_labels(sx_otlp__dec_t *d, sx_str_t prefix, sx_str_t key, const sx_anyval_t *v,
                         bool flatten, sx_label_t **arr, uint32_t *n, uint32_t *cap);

/* Lower-case hex of an id in the arena ({NULL, 0} when the arena is full). */
sx_str_t sx_otlp__hex(sx_arena_t *a, sx_str_t id);

#endif
