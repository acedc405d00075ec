/* SPDX-License-Identifier: Apache-2.0 */
/* A span as one OTLP JSON object (see sx_span_json in span.h): the form
 * the trace APIs answer with and assemble traces from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "span.h"


static void put_id(sx_buf_t *b, const uint8_t *id, size_t n)
{
    char hex[33];
    sx_span_id_hex(id, n, hex);
    sx_buf_putc(b, '"');
    sx_buf_append(b, hex, 2 * n);
    sx_buf_putc(b, '"');
}

/* A member name: a comma unless it is the object's first member. */
static void key(sx_buf_t *b, bool *first, const char *k)
{
    if (!*first)
        sx_buf_putc(b, ',');
    *first = false;
    sx_buf_putc(b, '"');
    sx_buf_puts(b, k);
    sx_buf_puts(b, "\":");
}

void sx_span_json_double(sx_buf_t *b, double d)
{
    if (d != d) {
        sx_buf_puts(b, "\"NaN\"");
    } else if (d > 1.7976931348623157e308) {
        sx_buf_puts(b, "\"Infinity\"");
    } else if (d < -1.7976931348623157e308) {
        sx_buf_puts(b, "\"-Infinity\"");
    } else {
        /* The shortest %g form that reads back as d (exponent form keeps
         * 1e300 short, and JSON allows it). */
        char tmp[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
        sx_buf_puts(b, tmp);
    }
}

static void put_anyval(sx_buf_t *b, const sx_anyval_t *v)
{
    switch (v->type) {
    case SX_AV_STRING:
        sx_buf_puts(b, "{\"stringValue\":");
        sx_buf_json_str(b, v->s.ptr, v->s.len);
        break;
    case SX_AV_BOOL:
        sx_buf_puts(b, v->b ? "{\"boolValue\":true" : "{\"boolValue\":false");
        break;
    case SX_AV_INT:
        sx_buf_printf(b, "{\"intValue\":\"%lld\"", (long long)v->i);
        break;
    case SX_AV_DOUBLE:
        sx_buf_puts(b, "{\"doubleValue\":");
        sx_span_json_double(b, v->d);
        break;
    case SX_AV_BYTES:
        sx_buf_puts(b, "{\"bytesValue\":\"");
        sx_buf_put_base64(b, v->s.ptr, v->s.len);
        sx_buf_putc(b, '"');
        break;
    case SX_AV_ARRAY:
        sx_buf_puts(b, "{\"arrayValue\":");
        sx_buf_append_str(b, v->s);
        break;
    case SX_AV_KVLIST:
        sx_buf_puts(b, "{\"kvlistValue\":");
        sx_buf_append_str(b, v->s);
        break;
    default:
        sx_buf_putc(b, '{');
        break;
    }
    sx_buf_putc(b, '}');
}

void sx_span_json_kv(sx_buf_t *b, const sx_attr_t *a)
{
    sx_buf_puts(b, "{\"key\":");
    sx_buf_json_str(b, a->key.ptr, a->key.len);
    sx_buf_puts(b, ",\"value\":");
    put_anyval(b, &a->value);
    sx_buf_putc(b, '}');
}

/* "attributes":[...] and "droppedAttributesCount":N, each only when not
 * empty (proto3 JSON leaves defaults out). */
static void put_attrs(sx_buf_t *b, bool *first, const sx_attr_t *a, uint32_t n, uint32_t dropped)
{
    if (n) {
        key(b, first, "attributes");
        sx_buf_putc(b, '[');
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                sx_buf_putc(b, ',');
            sx_span_json_kv(b, &a[i]);
        }
        sx_buf_putc(b, ']');
    }
    if (dropped) {
        key(b, first, "droppedAttributesCount");
        sx_buf_printf(b, "%u", dropped);
    }
}

static void put_str_member(sx_buf_t *b, bool *first, const char *k, sx_str_t s)
{
    if (!s.len)
        return;
    key(b, first, k);
    sx_buf_json_str(b, s.ptr, s.len);
}

void sx_span_json(sx_buf_t *b, const sx_span_batch_t *batch, const sx_span_t *sp)
{
    const sx_span_scope_t *sc = &batch->scopes[sp->scope];
    const sx_span_resource_t *rs = &batch->resources[sc->resource];
    bool first = true;
    sx_buf_putc(b, '{');
    key(b, &first, "traceId");
    put_id(b, sp->trace_id, 16);
    key(b, &first, "spanId");
    put_id(b, sp->span_id, 8);
    put_str_member(b, &first, "traceState", sp->trace_state);
    if (sp->has_parent) {
        key(b, &first, "parentSpanId");
        put_id(b, sp->parent_span_id, 8);
    }
    if (sp->flags) {
        key(b, &first, "flags");
        sx_buf_printf(b, "%u", sp->flags);
    }
    key(b, &first, "name");
    sx_buf_json_str(b, sp->name.ptr, sp->name.len);
    key(b, &first, "kind");
    sx_buf_printf(b, "%d", (int)sp->kind);
    key(b, &first, "startTimeUnixNano");
    sx_buf_printf(b, "\"%llu\"", (unsigned long long)sp->start_ns);
    key(b, &first, "endTimeUnixNano");
    sx_buf_printf(b, "\"%llu\"", (unsigned long long)sp->end_ns);
    put_attrs(b, &first, sp->attrs, sp->nattrs, sp->dropped_attrs);
    if (sp->nevents) {
        key(b, &first, "events");
        sx_buf_putc(b, '[');
        for (uint32_t i = 0; i < sp->nevents; i++) {
            const sx_span_event_t *e = &sp->events[i];
            bool f = true;
            sx_buf_puts(b, i ? ",{" : "{");
            key(b, &f, "timeUnixNano");
            sx_buf_printf(b, "\"%llu\"", (unsigned long long)e->time_ns);
            key(b, &f, "name");
            sx_buf_json_str(b, e->name.ptr, e->name.len);
            put_attrs(b, &f, e->attrs, e->nattrs, e->dropped_attrs);
            sx_buf_putc(b, '}');
        }
        sx_buf_putc(b, ']');
    }
    if (sp->dropped_events) {
        key(b, &first, "droppedEventsCount");
        sx_buf_printf(b, "%u", sp->dropped_events);
    }
    if (sp->nlinks) {
        key(b, &first, "links");
        sx_buf_putc(b, '[');
        for (uint32_t i = 0; i < sp->nlinks; i++) {
            const sx_span_link_t *l = &sp->links[i];
            bool f = true;
            sx_buf_puts(b, i ? ",{" : "{");
            key(b, &f, "traceId");
            put_id(b, l->trace_id, 16);
            key(b, &f, "spanId");
            put_id(b, l->span_id, 8);
            put_str_member(b, &f, "traceState", l->trace_state);
            put_attrs(b, &f, l->attrs, l->nattrs, l->dropped_attrs);
            if (l->flags) {
                key(b, &f, "flags");
                sx_buf_printf(b, "%u", l->flags);
            }
            sx_buf_putc(b, '}');
        }
        sx_buf_putc(b, ']');
    }
    if (sp->dropped_links) {
        key(b, &first, "droppedLinksCount");
        sx_buf_printf(b, "%u", sp->dropped_links);
    }
    key(b, &first, "status");
    {
        bool f = true;
        sx_buf_putc(b, '{');
        put_str_member(b, &f, "message", sp->status_message);
        if (sp->status_code) {
            key(b, &f, "code");
            sx_buf_printf(b, "%d", (int)sp->status_code);
        }
        sx_buf_putc(b, '}');
    }
    key(b, &first, "resource");
    {
        bool f = true;
        sx_buf_putc(b, '{');
        put_attrs(b, &f, rs->attrs, rs->nattrs, rs->dropped_attrs);
        sx_buf_putc(b, '}');
    }
    key(b, &first, "scope");
    {
        bool f = true;
        sx_buf_putc(b, '{');
        put_str_member(b, &f, "name", sc->name);
        put_str_member(b, &f, "version", sc->version);
        put_attrs(b, &f, sc->attrs, sc->nattrs, sc->dropped_attrs);
        sx_buf_putc(b, '}');
    }
    put_str_member(b, &first, "resourceSchemaUrl", rs->schema_url);
    put_str_member(b, &first, "scopeSchemaUrl", sc->schema_url);
    sx_buf_putc(b, '}');
}
