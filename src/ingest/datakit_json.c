/* SPDX-License-Identifier: Apache-2.0 */
/* DataKit JSON write bodies (/v1/write/:category with Content-Type
 * application/json): an array of {measurement, tags, fields, time}
 * objects, or one such object. Each object becomes an sx_lp_point_t and
 * goes through the same point -> series mapping as line protocol, so both
 * bodies give identical series. JSON cannot tell integers from floats, so
 * every number is a float field (as DataKit does). The whole body is
 * rejected if any point is invalid. */
#include <jansson.h>
#include <string.h>

#include "ingest.h"
#include "line_protocol.h"

typedef struct dk_ctx {
    sx_arena_t *arena;
    sx_lp_tag_t *tags;
    uint32_t tagcap;
    sx_lp_field_t *fields;
    uint32_t fieldcap;
} dk_ctx_t;

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Grow a scratch array (arena memory, contents copied). */
static bool reserve(sx_arena_t *a, void **arr, uint32_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    if (need > UINT32_MAX / 2)
        return false;
    uint32_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    void *n = sx_arena_realloc(a, *arr, (size_t)*cap * elem, (size_t)ncap * elem);
    if (!n)
        return false;
    *arr = n;
    *cap = ncap;
    return true;
}

/* Fill pt from one JSON object. Tag keys and values are copied into the
 * arena (they become labels, which outlive the JSON document); the
 * measurement, field keys and string values stay in the document, which
 * the caller keeps alive until the batch is built. The message in err
 * names the offending key but not the point (the caller adds that). */
static int to_point(dk_ctx_t *c, json_t *obj, sx_lp_point_t *pt, sx_err_t *err)
{
    memset(pt, 0, sizeof(*pt));
    if (!json_is_object(obj))
        return sx_err_set(err, SX_EPARSE, "is %s, want an object", json_kind(obj));
    json_t *m = json_object_get(obj, "measurement");
    if (!json_is_string(m) || json_string_length(m) == 0)
        return sx_err_set(err, SX_EPARSE, "\"measurement\" must be a non-empty string");
    pt->measurement = (sx_str_t){json_string_value(m), json_string_length(m)};

    const char *key;
    size_t klen;
    json_t *v;
    json_t *tags = json_object_get(obj, "tags");
    if (tags && !json_is_null(tags)) {
        if (!json_is_object(tags))
            return sx_err_set(err, SX_EPARSE, "\"tags\" is %s, want an object", json_kind(tags));
        if (!reserve(c->arena, (void **)&c->tags, &c->tagcap, json_object_size(tags),
                     sizeof(sx_lp_tag_t)))
            return sx_err_set(err, SX_ENOMEM, "request needs more memory than allowed");
        json_object_keylen_foreach(tags, key, klen, v)
        {
            if (!json_is_string(v))
                return sx_err_set(err, SX_EPARSE, "tag \"%.*s\" is %s, want a string",
                                  (int)(klen > 64 ? 64 : klen), key, json_kind(v));
            sx_str_t k = sx_arena_strdup_str(c->arena, (sx_str_t){key, klen});
            sx_str_t val = sx_arena_strdup_str(
                c->arena, (sx_str_t){json_string_value(v), json_string_length(v)});
            if (!k.ptr || !val.ptr)
                return sx_err_set(err, SX_ENOMEM, "request needs more memory than allowed");
            c->tags[pt->ntags++] = (sx_lp_tag_t){k, val};
        }
    }

    json_t *fields = json_object_get(obj, "fields");
    if (!json_is_object(fields) || json_object_size(fields) == 0)
        return sx_err_set(err, SX_EPARSE, "\"fields\" must be a non-empty object");
    if (!reserve(c->arena, (void **)&c->fields, &c->fieldcap, json_object_size(fields),
                 sizeof(sx_lp_field_t)))
        return sx_err_set(err, SX_ENOMEM, "request needs more memory than allowed");
    json_object_keylen_foreach(fields, key, klen, v)
    {
        sx_lp_field_t f = {.key = {key, klen}};
        switch (json_typeof(v)) {
        case JSON_INTEGER:
            f.kind = SX_LP_FLOAT;
            f.v.f = (double)json_integer_value(v);
            break;
        case JSON_REAL:
            f.kind = SX_LP_FLOAT;
            f.v.f = json_real_value(v);
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            f.kind = SX_LP_BOOL;
            f.v.b = json_is_true(v);
            break;
        case JSON_STRING:
            f.kind = SX_LP_STRING;
            f.v.s = (sx_str_t){json_string_value(v), json_string_length(v)};
            break;
        default:
            return sx_err_set(err, SX_EPARSE,
                              "field \"%.*s\" is %s; fields must be numbers, booleans or strings",
                              (int)(klen > 64 ? 64 : klen), key, json_kind(v));
        }
        c->fields[pt->nfields++] = f;
    }

    json_t *t = json_object_get(obj, "time");
    if (t && !json_is_null(t)) {
        if (!json_is_integer(t))
            return sx_err_set(err, SX_EPARSE, "\"time\" is %s, want an integer", json_kind(t));
        pt->has_ts = true;
        pt->ts = json_integer_value(t);
    }
    pt->tags = c->tags;
    pt->fields = c->fields;
    return 0;
}

int sx_datakit_json_decode(const char *buf, size_t len, const sx_lp_opts_t *opts,
                           sx_metric_batch_t *out, sx_err_t *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, 0, &jerr);
    if (!root)
        return sx_err_set(err, SX_EPARSE, "invalid JSON at line %d col %d: %s", jerr.line,
                          jerr.column, jerr.text);
    if (!json_is_array(root) && !json_is_object(root)) {
        int rc = sx_err_set(err, SX_EPARSE, "body is %s, want an object or an array of objects",
                            json_kind(root));
        json_decref(root);
        return rc;
    }
    size_t nseries0 = out->nseries, nsamples0 = out->nsamples;
    size_t n = json_is_array(root) ? json_array_size(root) : 1;
    int rc = 0;
    dk_ctx_t c = {.arena = out->arena};
    sx_lp_mapper_t m;
    sx_lp_mapper_init(&m, opts, out);
    for (size_t i = 0; i < n; i++) {
        json_t *obj = json_is_array(root) ? json_array_get(root, i) : root;
        sx_lp_point_t pt;
        rc = to_point(&c, obj, &pt, err);
        if (rc == 0)
            rc = sx_lp_mapper_add(&m, &pt, err);
        if (rc < 0) {
            if (pt.measurement.len)
                sx_err_wrap(err, "point %zu (measurement \"%.*s\"): ", i,
                            (int)(pt.measurement.len > 64 ? 64 : pt.measurement.len),
                            pt.measurement.ptr);
            else
                sx_err_wrap(err, "point %zu: ", i);
            break;
        }
    }
    if (rc < 0) {
        out->nseries = nseries0;
        out->nsamples = nsamples0;
    }
    json_decref(root);
    return rc;
}
