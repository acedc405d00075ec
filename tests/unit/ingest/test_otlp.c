/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the OTLP decoders (src/ingest/otlp*.c) and the span model
 * (src/model/span.c): the OpenTelemetry conformance examples read in place
 * from ../shared/conformance/otlp-json, protobuf round trips through the
 * JSON-to-protobuf transcoder and hand-built wire bytes, the JSON rules
 * (hex ids, int64 strings, enum names, snake_case, null, unknown fields),
 * the Prometheus naming table, histogram / summary / exponential histogram
 * translation (blobs checked by the PromQL histogram decoder), delta
 * rejection, the Loki log mapping and the partial-success responses. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/file.h"
#include "ingest/otlp.h"
#include "model/span.h"
#include "query/promql/hist.h"

/* ---- Helpers ---- */

typedef struct fixture {
    sx_arena_t arena;
    sx_err_t err;
    sx_otlp_result_t res;
    sx_buf_t file, pb;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = test_calloc(1, sizeof(*f));
    sx_arena_init(&f->arena);
    f->file = f->pb = SX_BUF_INIT;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sx_buf_dispose(&f->file);
    sx_buf_dispose(&f->pb);
    sx_arena_dispose(&f->arena);
    test_free(f);
    return 0;
}

/* Read ../shared/conformance/otlp-json/<name> into f->file. */
static void load_example(fixture_t *f, const char *name)
{
    const char *shared = getenv("SX_SHARED");
    char path[1024];
    snprintf(path, sizeof(path), "%s/conformance/otlp-json/%s", shared ? shared : "../shared", name);
    sx_buf_clear(&f->file);
    if (sx_file_read_all(path, &f->file) != 0)
        fail_msg("cannot read %s (is SX_SHARED set?)", path);
}

static void assert_str_equal(sx_str_t s, const char *want)
{
    if (s.len != strlen(want) || (s.len && memcmp(s.ptr, want, s.len) != 0))
        fail_msg("got \"%.*s\" (%zu bytes), want \"%s\"", (int)s.len, s.ptr ? s.ptr : "", s.len,
                 want);
}

static const sx_label_t *find_label(const sx_label_t *ls, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (sx_str_eq_cstr(ls[i].name, name))
            return &ls[i];
    return NULL;
}

static void assert_label(const sx_label_t *ls, uint32_t n, const char *name, const char *value)
{
    const sx_label_t *l = find_label(ls, n, name);
    if (!l)
        fail_msg("label %s missing", name);
    assert_str_equal(l->value, value);
}

static void assert_sorted_unique(const sx_label_t *ls, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++)
        assert_true(sx_str_cmp(ls[i - 1].name, ls[i].name) < 0);
}

static void assert_id(const uint8_t *id, size_t n, const char *hex)
{
    char buf[40];
    sx_span_id_hex(id, n, buf);
    assert_string_equal(buf, hex);
}

/* Replace every occurrence of from by to in s (heap result). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    size_t n = 0, fl = strlen(from), tl = strlen(to);
    for (const char *p = s; (p = strstr(p, from)); p += fl)
        n++;
    char *out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1), *o = out;
    const char *p = s, *q;
    while ((q = strstr(p, from))) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, tl);
        o += tl;
        p = q + fl;
    }
    strcpy(o, p);
    return out;
}

static int traces_json(fixture_t *f, const char *body, sx_span_batch_t *b)
{
    sx_span_batch_init(b, &f->arena);
    sx_err_clear(&f->err);
    return sx_otlp_traces_decode(body, strlen(body), SX_OTLP_JSON, b, &f->res, &f->err);
}

static int metrics_json(fixture_t *f, const char *body, const sx_otlp_metric_opts_t *o,
                        sx_metric_batch_t *b)
{
    sx_metric_batch_init(b, &f->arena);
    sx_err_clear(&f->err);
    return sx_otlp_metrics_decode(body, strlen(body), SX_OTLP_JSON, o, b, &f->res, &f->err);
}

static int logs_json(fixture_t *f, const char *body, const sx_otlp_log_opts_t *o, sx_log_batch_t *b)
{
    sx_log_batch_init(b, &f->arena);
    sx_err_clear(&f->err);
    return sx_otlp_logs_decode(body, strlen(body), SX_OTLP_JSON, o, b, &f->res, &f->err);
}

/* The series whose __name__ and (optional) extra label match. */
static const sx_series_in_t *find_series(const sx_metric_batch_t *b, const char *name,
                                         const char *lname, const char *lvalue)
{
    for (size_t i = 0; i < b->nseries; i++) {
        const sx_series_in_t *s = &b->series[i];
        const sx_label_t *n = find_label(s->labels, s->nlabels, "__name__");
        if (!n || !sx_str_eq_cstr(n->value, name))
            continue;
        if (lname) {
            const sx_label_t *l = find_label(s->labels, s->nlabels, lname);
            if (!l || !sx_str_eq_cstr(l->value, lvalue))
                continue;
        }
        return s;
    }
    return NULL;
}

static double series_value(const sx_metric_batch_t *b, const char *name, const char *lname,
                           const char *lvalue)
{
    const sx_series_in_t *s = find_series(b, name, lname, lvalue);
    if (!s)
        fail_msg("series %s{%s=%s} missing", name, lname ? lname : "", lvalue ? lvalue : "");
    assert_int_equal(s->nsamples, 1);
    return s->samples[0].v;
}

/* ---- Traces ---- */

static void check_trace_example(const sx_span_batch_t *b)
{
    assert_int_equal(b->nresources, 1);
    assert_int_equal(b->nscopes, 1);
    assert_int_equal(b->nspans, 1);
    const sx_span_resource_t *r = &b->resources[0];
    assert_str_equal(r->service_name, "my.service");
    assert_int_equal(r->nattrs, 1);
    assert_str_equal(r->attrs[0].key, "service.name");
    const sx_span_scope_t *sc = &b->scopes[0];
    assert_int_equal(sc->resource, 0);
    assert_str_equal(sc->name, "my.library");
    assert_str_equal(sc->version, "1.0.0");
    assert_int_equal(sc->nattrs, 1);
    assert_str_equal(sc->attrs[0].key, "my.scope.attribute");
    assert_str_equal(sc->attrs[0].value.s, "some scope attribute");
    const sx_span_t *s = &b->spans[0];
    assert_int_equal(s->scope, 0);
    assert_id(s->trace_id, 16, "5b8efff798038103d269b633813fc60c");
    assert_id(s->span_id, 8, "eee19b7ec3c1b174");
    assert_id(s->parent_span_id, 8, "eee19b7ec3c1b173");
    assert_true(s->has_parent);
    assert_str_equal(s->name, "I'm a server span");
    assert_int_equal(s->kind, SX_SPAN_KIND_SERVER);
    assert_true(s->start_ns == 1544712660000000000ULL);
    assert_true(s->end_ns == 1544712661000000000ULL);
    assert_int_equal(s->nattrs, 1);
    assert_str_equal(s->attrs[0].key, "my.span.attr");
    assert_int_equal(s->attrs[0].value.type, SX_AV_STRING);
    assert_str_equal(s->attrs[0].value.s, "some value");
}

static void test_otlp_traces_decode_conformance_example(void **state)
{
    fixture_t *f = *state;
    load_example(f, "trace.json");
    sx_span_batch_t b;
    sx_span_batch_init(&b, &f->arena);
    assert_int_equal(sx_otlp_traces_decode(f->file.ptr, f->file.len, SX_OTLP_JSON, &b, &f->res,
                                           &f->err), 0);
    check_trace_example(&b);
    assert_int_equal(f->res.rejected, 0);
    assert_int_equal(f->res.accepted, 1);
}

static void test_otlp_traces_protobuf_round_trip(void **state)
{
    fixture_t *f = *state;
    load_example(f, "trace.json");
    assert_int_equal(sx_otlp_json_to_protobuf(SX_OTLP_TRACES, f->file.ptr, f->file.len, &f->arena,
                                              &f->pb, &f->err), 0);
    sx_span_batch_t b;
    sx_span_batch_init(&b, &f->arena);
    assert_int_equal(sx_otlp_traces_decode(f->pb.ptr, f->pb.len, SX_OTLP_PROTOBUF, &b, &f->res,
                                           &f->err), 0);
    check_trace_example(&b);
}

static void test_otlp_traces_reads_events_links_status_and_value_types(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"resource_spans\":[{\"scope_spans\":[{\"spans\":[{"
        "\"trace_id\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\","
        "\"kind\":\"SPAN_KIND_CLIENT\",\"startTimeUnixNano\":1000,\"endTimeUnixNano\":\"2000\","
        "\"flags\":257,\"droppedAttributesCount\":3,\"parentSpanId\":\"\","
        "\"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":\"boom\"},"
        "\"attributes\":[{\"key\":\"b\",\"value\":{\"boolValue\":true}},"
        "{\"key\":\"i\",\"value\":{\"intValue\":\"-42\"}},"
        "{\"key\":\"d\",\"value\":{\"doubleValue\":\"NaN\"}},"
        "{\"key\":\"y\",\"value\":{\"bytesValue\":\"aGVsbG8\"}},"
        "{\"key\":\"a\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"x\"},{\"intValue\":1},{}]}}},"
        "{\"key\":\"m\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":{\"doubleValue\":1.5}}]}}},"
        "{\"key\":\"e\",\"value\":{}},{\"key\":\"n\",\"value\":null}],"
        "\"events\":[{\"timeUnixNano\":\"1500\",\"name\":\"exception\",\"attributes\":[{\"key\":\"x\",\"value\":{\"stringValue\":\"y\"}}]}],"
        "\"links\":[{\"traceId\":\"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF\",\"spanId\":\"00000000000000aa\",\"traceState\":\"k=v\",\"flags\":1}],"
        "\"unknownField\":{\"deep\":[1,2,{\"x\":null}]}}]}]}]}";
    sx_span_batch_t b;
    assert_int_equal(traces_json(f, body, &b), 0);
    assert_int_equal(b.nspans, 1);
    const sx_span_t *s = &b.spans[0];
    assert_int_equal(s->kind, SX_SPAN_KIND_CLIENT);
    assert_int_equal(s->start_ns, 1000);
    assert_int_equal(s->end_ns, 2000);
    assert_int_equal(s->flags, 257);
    assert_int_equal(s->dropped_attrs, 3);
    assert_false(s->has_parent);
    assert_int_equal(s->status_code, SX_SPAN_STATUS_ERROR);
    assert_str_equal(s->status_message, "boom");
    assert_int_equal(s->nattrs, 8);
    assert_int_equal(s->attrs[0].value.type, SX_AV_BOOL);
    assert_true(s->attrs[0].value.b);
    assert_int_equal(s->attrs[1].value.type, SX_AV_INT);
    assert_int_equal(s->attrs[1].value.i, -42);
    assert_int_equal(s->attrs[2].value.type, SX_AV_DOUBLE);
    assert_true(isnan(s->attrs[2].value.d));
    assert_int_equal(s->attrs[3].value.type, SX_AV_BYTES);
    assert_str_equal(s->attrs[3].value.s, "hello");
    assert_int_equal(s->attrs[4].value.type, SX_AV_ARRAY);
    assert_str_equal(s->attrs[4].value.s,
                     "{\"values\":[{\"stringValue\":\"x\"},{\"intValue\":\"1\"},{}]}");
    assert_int_equal(s->attrs[5].value.type, SX_AV_KVLIST);
    assert_str_equal(s->attrs[5].value.s,
                     "{\"values\":[{\"key\":\"k\",\"value\":{\"doubleValue\":1.5}}]}");
    assert_int_equal(s->attrs[6].value.type, SX_AV_EMPTY);
    assert_int_equal(s->attrs[7].value.type, SX_AV_EMPTY);
    assert_int_equal(s->nevents, 1);
    assert_int_equal(s->events[0].time_ns, 1500);
    assert_str_equal(s->events[0].name, "exception");
    assert_int_equal(s->events[0].nattrs, 1);
    assert_int_equal(s->nlinks, 1);
    assert_id(s->links[0].trace_id, 16, "ffffffffffffffffffffffffffffffff");
    assert_id(s->links[0].span_id, 8, "00000000000000aa");
    assert_str_equal(s->links[0].trace_state, "k=v");
    assert_int_equal(s->links[0].flags, 1);

    /* The same through protobuf: arrays and maps keep the same JSON text. */
    sx_buf_clear(&f->pb);
    assert_int_equal(sx_otlp_json_to_protobuf(SX_OTLP_TRACES, body, strlen(body), &f->arena, &f->pb,
                                              &f->err), 0);
    sx_span_batch_t p;
    sx_span_batch_init(&p, &f->arena);
    assert_int_equal(sx_otlp_traces_decode(f->pb.ptr, f->pb.len, SX_OTLP_PROTOBUF, &p, &f->res,
                                           &f->err), 0);
    assert_int_equal(p.nspans, 1);
    assert_str_equal(p.spans[0].attrs[4].value.s,
                     "{\"values\":[{\"stringValue\":\"x\"},{\"intValue\":\"1\"},{}]}");
    assert_str_equal(p.spans[0].attrs[5].value.s,
                     "{\"values\":[{\"key\":\"k\",\"value\":{\"doubleValue\":1.5}}]}");
    assert_str_equal(p.spans[0].attrs[3].value.s, "hello");
    assert_int_equal(p.spans[0].links[0].flags, 1);
    assert_int_equal(p.spans[0].status_code, SX_SPAN_STATUS_ERROR);
}

static void test_otlp_traces_bad_ids_fail_with_the_path(void **state)
{
    fixture_t *f = *state;
    sx_span_batch_t b;
    const char *body = "{\"resourceSpans\":[{\"scopeSpans\":[{},{\"spans\":[{},{},{},"
                       "{\"traceId\":\"abc\"}]}]}]}";
    assert_int_equal(traces_json(f, body, &b), SX_EPARSE);
    assert_string_equal(f->err.msg,
                        "resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex digits");
    body = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"spanId\":\"zz00000000000000\"}]}]}]}";
    assert_int_equal(traces_json(f, body, &b), SX_EPARSE);
    assert_string_equal(f->err.msg, "resourceSpans[0].scopeSpans[0].spans[0].spanId: expected 16 hex digits");
    body = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":\"SPAN_KIND_NOPE\"}]}]}]}";
    assert_int_equal(traces_json(f, body, &b), SX_EPARSE);
    assert_non_null(strstr(f->err.msg, "spans[0].kind: unknown enum value"));
    body = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"-1\"}]}]}]}";
    assert_int_equal(traces_json(f, body, &b), SX_EPARSE);
    assert_non_null(strstr(f->err.msg, "startTimeUnixNano: expected a non-negative integer"));
    /* Protobuf: an id of the wrong size. */
    const char pb[] = {0x0a, 0x08, 0x12, 0x06, 0x12, 0x04, 0x0a, 0x02, 0x01, 0x02};
    sx_span_batch_init(&b, &f->arena);
    assert_int_equal(sx_otlp_traces_decode(pb, sizeof(pb), SX_OTLP_PROTOBUF, &b, &f->res, &f->err),
                     SX_EPARSE);
    assert_string_equal(f->err.msg,
                        "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 16 bytes, got 2");
}

static void test_otlp_traces_rejects_spans_without_ids_as_partial_success(void **state)
{
    fixture_t *f = *state;
    sx_span_batch_t b;
    const char *body =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"0000000000000001\"},"
        "{\"traceId\":\"00000000000000000000000000000001\",\"spanId\":\"0000000000000001\",\"name\":\"ok\"},"
        "{\"traceId\":\"00000000000000000000000000000001\"}]}]}]}";
    assert_int_equal(traces_json(f, body, &b), 0);
    assert_int_equal(b.nspans, 1);
    assert_str_equal(b.spans[0].name, "ok");
    assert_int_equal(f->res.rejected, 2);
    assert_int_equal(f->res.accepted, 1);
    assert_string_equal(f->res.msg,
                        "resourceSpans[0].scopeSpans[0].spans[0]: traceId is absent or all zero; "
                        "resourceSpans[0].scopeSpans[0].spans[2]: spanId is absent or all zero");
}

static void test_otlp_json_syntax_errors_and_empty_requests(void **state)
{
    fixture_t *f = *state;
    sx_span_batch_t b;
    assert_int_equal(traces_json(f, "{}", &b), 0);
    assert_int_equal(b.nspans, 0);
    assert_int_equal(traces_json(f, " {\"resourceSpans\":null} ", &b), 0);
    assert_int_equal(traces_json(f, "[]", &b), SX_EPARSE);
    assert_int_equal(traces_json(f, "{} x", &b), SX_EPARSE);
    assert_non_null(strstr(f->err.msg, "unexpected data after the object at offset 3"));
    assert_int_equal(traces_json(f, "{\"resourceSpans\":[{\"resource\":5}]}", &b), SX_EPARSE);
    assert_string_equal(f->err.msg, "resourceSpans[0].resource: expected an object at offset 30");
    assert_int_equal(traces_json(f, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":7}]}]}]}", &b),
                     SX_EPARSE);
    assert_non_null(strstr(f->err.msg, "spans[0].name: expected a string"));
    assert_int_equal(traces_json(f, "{\"resourceSpans\":[1 2]}", &b), SX_EPARSE);
    /* An empty protobuf body is an empty request. */
    sx_span_batch_init(&b, &f->arena);
    assert_int_equal(sx_otlp_traces_decode("", 0, SX_OTLP_PROTOBUF, &b, &f->res, &f->err), 0);
    /* Truncated protobuf. */
    const char pb[] = {0x0a, 0x05, 0x12};
    assert_int_equal(sx_otlp_traces_decode(pb, sizeof(pb), SX_OTLP_PROTOBUF, &b, &f->res, &f->err),
                     SX_EPARSE);
    assert_non_null(strstr(f->err.msg, "runs past the end"));
}

/* Fuzzer find: a schemaUrl after the spans made the decoder return 1. */
static void test_otlp_traces_schema_url_after_spans_is_success(void **state)
{
    fixture_t *f = *state;
    sx_span_batch_t b;
    const char *body = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                       "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\"}],"
                       "\"schemaUrl\":\"https://opentelemetry.io/schemas/1.21.0\"}],\"schemaUrl\":\"x\"}]}";
    assert_int_equal(traces_json(f, body, &b), 0);
    assert_int_equal(b.nspans, 1);
    assert_str_equal(b.scopes[0].schema_url, "https://opentelemetry.io/schemas/1.21.0");
    assert_str_equal(b.resources[0].schema_url, "x");
}

/* ---- Metric names ---- */

static void test_otlp_metric_names_follow_the_compatibility_rules(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *name, *unit;
        int type;
        const char *want;
    } cases[] = {
        {"my.counter", "1", SX_MT_COUNTER, "my_counter_total"},
        {"my.gauge", "1", SX_MT_GAUGE, "my_gauge_ratio"},
        {"my.histogram", "1", SX_MT_HISTOGRAM, "my_histogram"},
        {"http.server.duration", "ms", SX_MT_HISTOGRAM, "http_server_duration_milliseconds"},
        {"http.server.request.duration", "s", SX_MT_HISTOGRAM, "http_server_request_duration_seconds"},
        {"system.memory.usage", "By", SX_MT_GAUGE, "system_memory_usage_bytes"},
        {"network.io", "By", SX_MT_COUNTER, "network_io_bytes_total"},
        {"requests", "{request}", SX_MT_COUNTER, "requests_total"},
        {"requests_total", "", SX_MT_COUNTER, "requests_total"},
        {"throughput", "By/s", SX_MT_GAUGE, "throughput_bytes_per_second"},
        {"rate", "1/s", SX_MT_GAUGE, "rate_per_second"},
        {"packets", "{packet}/s", SX_MT_COUNTER, "packets_per_second_total"},
        {"temp", "Cel", SX_MT_GAUGE, "temp_celsius"},
        {"cpu.utilization", "%", SX_MT_GAUGE, "cpu_utilization_percent"},
        {"latency_seconds", "s", SX_MT_GAUGE, "latency_seconds"},
        {"total.requests", "", SX_MT_COUNTER, "requests_total"},
        {"2xx.count", "", SX_MT_COUNTER, "_2xx_count_total"},
        {"a..b__c", "", SX_MT_GAUGE, "a_b_c"},
        {"ns:metric.x", "KiBy", SX_MT_GAUGE, "ns:metric_x_kibibytes"},
        {"foo", "custom unit", SX_MT_GAUGE, "foo_custom_unit"},
        {"ratio.thing", "1", SX_MT_GAUGE, "thing_ratio"},
        {"...", "", SX_MT_GAUGE, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sx_str_t got = sx_otlp_metric_name(&f->arena, sx_str(cases[i].name), sx_str(cases[i].unit),
                                           cases[i].type);
        if (!sx_str_eq_cstr(got, cases[i].want))
            fail_msg("%s [%s]: got \"%.*s\", want \"%s\"", cases[i].name, cases[i].unit,
                     (int)got.len, got.ptr, cases[i].want);
    }
}

/* ---- Metrics ---- */

static void test_otlp_metrics_conformance_example_rejects_delta(void **state)
{
    fixture_t *f = *state;
    load_example(f, "metrics.json");
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &f->arena);
    assert_int_equal(sx_otlp_metrics_decode(f->file.ptr, f->file.len, SX_OTLP_JSON, NULL, &b,
                                            &f->res, &f->err), 0);
    /* The example's sum and histograms are delta: three data points refused. */
    assert_int_equal(f->res.rejected, 3);
    assert_int_equal(f->res.accepted, 1);
    assert_non_null(strstr(f->res.msg, "metric \"my.counter\": delta temporality is not supported"));
    assert_non_null(strstr(f->res.msg, "metric \"my.histogram\""));
    assert_int_equal(b.nseries, 1);
    const sx_series_in_t *s = &b.series[0];
    assert_sorted_unique(s->labels, s->nlabels);
    assert_int_equal(s->nlabels, 3);
    assert_label(s->labels, s->nlabels, "__name__", "my_gauge_ratio");
    assert_label(s->labels, s->nlabels, "job", "my.service");
    assert_label(s->labels, s->nlabels, "my_gauge_attr", "some value");
    assert_int_equal(s->samples[0].ts, 1544712660300);
    assert_true(s->samples[0].v == 10);
    assert_int_equal(b.nmeta, 1);
    assert_str_equal(b.meta[0].metric, "my_gauge_ratio");
    assert_int_equal(b.meta[0].type, SX_MT_GAUGE);
    assert_str_equal(b.meta[0].help, "I am a Gauge");
    assert_str_equal(b.meta[0].unit, "");
}

static void check_cumulative_example(fixture_t *f, const sx_metric_batch_t *b)
{
    assert_int_equal(f->res.rejected, 0);
    assert_int_equal(f->res.accepted, 4);
    assert_true(series_value(b, "my_counter_total", NULL, NULL) == 5);
    assert_true(series_value(b, "my_gauge_ratio", NULL, NULL) == 10);
    assert_true(series_value(b, "my_histogram_bucket", "le", "1") == 1);
    assert_true(series_value(b, "my_histogram_bucket", "le", "+Inf") == 2);
    assert_true(series_value(b, "my_histogram_sum", NULL, NULL) == 2);
    assert_true(series_value(b, "my_histogram_count", NULL, NULL) == 2);
    const sx_series_in_t *s = find_series(b, "my_histogram_bucket", "le", "1");
    assert_label(s->labels, s->nlabels, "my_histogram_attr", "some value");
    assert_label(s->labels, s->nlabels, "job", "my.service");
    for (size_t i = 0; i < b->nseries; i++)
        assert_sorted_unique(b->series[i].labels, b->series[i].nlabels);

    /* The exponential histogram is a native histogram the engine reads. */
    s = find_series(b, "my_exponential_histogram", NULL, NULL);
    assert_non_null(s);
    assert_int_equal(s->nsamples, 0);
    assert_int_equal(s->nhists, 1);
    assert_int_equal(s->hists[0].ts, 1544712660300);
    sx_promql_hist_t h;
    assert_int_equal(sx_promql_hist_decode(s->hists[0].blob, &f->arena, &h, &f->err), 0);
    assert_int_equal(h.schema, 0);
    assert_true(h.count == 3);
    assert_true(h.sum == 10);
    assert_true(h.zero_count == 1);
    /* OTLP bucket 2 (offset 1 + index 1) is Prometheus bucket 3. */
    assert_int_equal(h.npos_spans, 1);
    assert_int_equal(h.pos_spans[0].offset, 3);
    assert_int_equal(h.pos_spans[0].len, 1);
    assert_int_equal(h.npos, 1);
    assert_true(h.pos[0] == 2);
    assert_int_equal(h.nneg, 0);

    assert_int_equal(b->nmeta, 4);
    assert_str_equal(b->meta[0].metric, "my_counter_total");
    assert_int_equal(b->meta[0].type, SX_MT_COUNTER);
    assert_str_equal(b->meta[2].metric, "my_histogram");
    assert_int_equal(b->meta[2].type, SX_MT_HISTOGRAM);
    assert_int_equal(b->meta[3].type, SX_MT_HISTOGRAM);
}

static void test_otlp_metrics_translate_cumulative_example(void **state)
{
    fixture_t *f = *state;
    load_example(f, "metrics.json");
    sx_buf_putc(&f->file, '\0');
    char *cum = replace_all(f->file.ptr, "\"aggregationTemporality\": 1", "\"aggregationTemporality\": 2");
    sx_metric_batch_t b;
    assert_int_equal(metrics_json(f, cum, NULL, &b), 0);
    check_cumulative_example(f, &b);

    /* The same request as protobuf gives the same series. */
    assert_int_equal(sx_otlp_json_to_protobuf(SX_OTLP_METRICS, cum, strlen(cum), &f->arena, &f->pb,
                                              &f->err), 0);
    sx_metric_batch_t p;
    sx_metric_batch_init(&p, &f->arena);
    assert_int_equal(sx_otlp_metrics_decode(f->pb.ptr, f->pb.len, SX_OTLP_PROTOBUF, NULL, &p,
                                            &f->res, &f->err), 0);
    check_cumulative_example(f, &p);
    assert_int_equal(p.nseries, b.nseries);
    for (size_t i = 0; i < b.nseries; i++) {
        assert_int_equal(p.series[i].nlabels, b.series[i].nlabels);
        for (uint32_t j = 0; j < b.series[i].nlabels; j++) {
            assert_true(sx_str_eq(p.series[i].labels[j].name, b.series[i].labels[j].name));
            assert_true(sx_str_eq(p.series[i].labels[j].value, b.series[i].labels[j].value));
        }
        if (b.series[i].nhists)
            assert_true(sx_str_eq(p.series[i].hists[0].blob, b.series[i].hists[0].blob));
    }
    free(cum);
}

static void test_otlp_metrics_resource_gives_job_instance_and_target_info(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"scope\":{\"name\":\"lib\",\"version\":\"2\"},"
        "\"metrics\":[{\"name\":\"up.down\",\"sum\":{\"aggregationTemporality\":\"AGGREGATION_TEMPORALITY_CUMULATIVE\","
        "\"dataPoints\":[{\"asInt\":\"-3\",\"timeUnixNano\":\"2000000000\",\"attributes\":["
        "{\"key\":\"a.b\",\"value\":{\"stringValue\":\"1\"}},{\"key\":\"a_b\",\"value\":{\"stringValue\":\"2\"}},"
        "{\"key\":\"job\",\"value\":{\"stringValue\":\"mine\"}},{\"key\":\"9lives\",\"value\":{\"intValue\":9}},"
        "{\"key\":\"_x\",\"value\":{\"boolValue\":false}},{\"key\":\"empty\",\"value\":{\"stringValue\":\"\"}}]}]}}]}],"
        "\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"api\"}},"
        "{\"key\":\"service.namespace\",\"value\":{\"stringValue\":\"shop\"}},"
        "{\"key\":\"service.instance.id\",\"value\":{\"stringValue\":\"pod-1\"}},"
        "{\"key\":\"k8s.cluster.name\",\"value\":{\"stringValue\":\"prod\"}},"
        "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"h1\"}}]}}]}";
    const char *promote[] = {"k8s.cluster.name"};
    sx_otlp_metric_opts_t o = {promote, 1, true, 0};
    sx_metric_batch_t b;
    assert_int_equal(metrics_json(f, body, &o, &b), 0);
    assert_int_equal(b.nseries, 2);
    const sx_series_in_t *s = find_series(&b, "up_down", NULL, NULL);
    assert_non_null(s);
    assert_sorted_unique(s->labels, s->nlabels);
    assert_true(s->samples[0].v == -3);
    assert_int_equal(s->samples[0].ts, 2000);
    assert_label(s->labels, s->nlabels, "a_b", "1;2");
    assert_label(s->labels, s->nlabels, "job", "shop/api");
    assert_label(s->labels, s->nlabels, "instance", "pod-1");
    assert_label(s->labels, s->nlabels, "key_9lives", "9");
    assert_label(s->labels, s->nlabels, "key_x", "false");
    assert_label(s->labels, s->nlabels, "k8s_cluster_name", "prod");
    assert_label(s->labels, s->nlabels, "otel_scope_name", "lib");
    assert_label(s->labels, s->nlabels, "otel_scope_version", "2");
    assert_null(find_label(s->labels, s->nlabels, "empty"));
    assert_null(find_label(s->labels, s->nlabels, "host_name"));
    assert_int_equal(b.meta[0].type, SX_MT_GAUGE);

    s = find_series(&b, "target_info", NULL, NULL);
    assert_non_null(s);
    assert_sorted_unique(s->labels, s->nlabels);
    assert_true(s->samples[0].v == 1);
    assert_int_equal(s->samples[0].ts, 2000);
    assert_int_equal(s->nlabels, 5);
    assert_label(s->labels, s->nlabels, "job", "shop/api");
    assert_label(s->labels, s->nlabels, "instance", "pod-1");
    assert_label(s->labels, s->nlabels, "host_name", "h1");
    assert_label(s->labels, s->nlabels, "k8s_cluster_name", "prod");
    assert_int_equal(b.nmeta, 2);
    assert_str_equal(b.meta[1].metric, "target_info");
}

static void test_otlp_metrics_summary_stale_and_bad_histograms(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":["
        "{\"name\":\"rpc.latency\",\"unit\":\"ms\",\"summary\":{\"dataPoints\":[{\"timeUnixNano\":\"5000000\","
        "\"count\":\"4\",\"sum\":12.5,\"quantileValues\":[{\"quantile\":0.5,\"value\":2},{\"quantile\":0.99,\"value\":7}]}]}},"
        "{\"name\":\"gone\",\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"6000000\",\"asDouble\":1,\"flags\":1}]}},"
        "{\"name\":\"h\",\"histogram\":{\"aggregationTemporality\":2,\"dataPoints\":["
        "{\"bucketCounts\":[\"1\",\"2\",\"3\"],\"explicitBounds\":[1],\"count\":6},"
        "{\"bucketCounts\":[1,2,3],\"explicitBounds\":[0.5,10],\"count\":\"6\",\"flags\":1,\"timeUnixNano\":\"7000000\"}]}},"
        "{\"name\":\"e\",\"exponentialHistogram\":{\"aggregationTemporality\":2,\"dataPoints\":[{\"scale\":-5,\"count\":1}]}},"
        "{\"name\":\"d\",\"sum\":{\"isMonotonic\":true,\"dataPoints\":[{\"asInt\":1},{\"asInt\":2}]}}"
        "]}]}]}";
    sx_otlp_metric_opts_t o = {NULL, 0, false, 9000000000LL};
    sx_metric_batch_t b;
    assert_int_equal(metrics_json(f, body, &o, &b), 0);
    assert_true(series_value(&b, "rpc_latency_milliseconds", "quantile", "0.5") == 2);
    assert_true(series_value(&b, "rpc_latency_milliseconds", "quantile", "0.99") == 7);
    assert_true(series_value(&b, "rpc_latency_milliseconds_sum", NULL, NULL) == 12.5);
    assert_true(series_value(&b, "rpc_latency_milliseconds_count", NULL, NULL) == 4);
    assert_int_equal(find_series(&b, "rpc_latency_milliseconds_count", NULL, NULL)->samples[0].ts, 5);
    assert_true(sx_is_stale_nan(series_value(&b, "gone", NULL, NULL)));
    assert_true(sx_is_stale_nan(series_value(&b, "h_bucket", "le", "10")));
    assert_true(sx_is_stale_nan(series_value(&b, "h_count", NULL, NULL)));
    /* Rejected: 3 buckets for 1 bound, scale -5, two points without temporality. */
    assert_int_equal(f->res.rejected, 4);
    assert_non_null(strstr(f->res.msg, "metric \"h\": histogram data point has 3 bucket counts for 1 bounds"));
    assert_non_null(strstr(f->res.msg, "metric \"e\": exponential histogram scale -5 is below -4"));
    assert_non_null(strstr(f->res.msg, "metric \"d\": aggregation temporality is unspecified"));
    const sx_metric_meta_t *m = NULL;
    for (size_t i = 0; i < b.nmeta; i++)
        if (sx_str_eq_cstr(b.meta[i].metric, "rpc_latency_milliseconds"))
            m = &b.meta[i];
    assert_non_null(m);
    assert_int_equal(m->type, SX_MT_SUMMARY);
    assert_str_equal(m->unit, "milliseconds");
}

/* Build a protobuf ExportMetricsServiceRequest with one exponential
 * histogram data point, by hand: packed and unpacked bucket counts. */
static void put_tag(sx_buf_t *b, uint32_t num, int wt)
{
    sx_buf_put_uvarint(b, (uint64_t)num << 3 | (uint64_t)wt);
}

static void put_msg(sx_buf_t *b, uint32_t num, const sx_buf_t *m)
{
    put_tag(b, num, 2);
    sx_buf_put_uvarint(b, m->len);
    sx_buf_append(b, m->ptr, m->len);
}

static void put_str(sx_buf_t *b, uint32_t num, const char *s)
{
    put_tag(b, num, 2);
    sx_buf_put_uvarint(b, strlen(s));
    sx_buf_append(b, s, strlen(s));
}

static void exp_request(sx_buf_t *out, int32_t scale, int32_t pos_off, const uint64_t *pos, size_t npos,
                        int32_t neg_off, const uint64_t *neg, size_t nneg, bool packed)
{
    sx_buf_t dp = SX_BUF_INIT, bk = SX_BUF_INIT, eh = SX_BUF_INIT, met = SX_BUF_INIT,
             sm = SX_BUF_INIT, rm = SX_BUF_INIT;
    uint64_t count = 0;
    for (size_t i = 0; i < npos; i++)
        count += pos[i];
    for (size_t i = 0; i < nneg; i++)
        count += neg[i];
    put_tag(&dp, 3, 1);
    sx_buf_put_u64le(&dp, 1000000000ULL);
    put_tag(&dp, 4, 1);
    sx_buf_put_u64le(&dp, count);
    put_tag(&dp, 6, 0);
    sx_buf_put_uvarint(&dp, ((uint32_t)scale << 1) ^ (uint32_t)(scale >> 31));
    for (int side = 0; side < 2; side++) {
        const uint64_t *c = side ? neg : pos;
        size_t n = side ? nneg : npos;
        int32_t off = side ? neg_off : pos_off;
        if (!n)
            continue;
        sx_buf_clear(&bk);
        put_tag(&bk, 1, 0);
        sx_buf_put_uvarint(&bk, ((uint32_t)off << 1) ^ (uint32_t)(off >> 31));
        if (packed) {
            sx_buf_t pk = SX_BUF_INIT;
            for (size_t i = 0; i < n; i++)
                sx_buf_put_uvarint(&pk, c[i]);
            put_msg(&bk, 2, &pk);
            sx_buf_dispose(&pk);
        } else {
            for (size_t i = 0; i < n; i++) {
                put_tag(&bk, 2, 0);
                sx_buf_put_uvarint(&bk, c[i]);
            }
        }
        put_tag(&bk, 99, 0); /* unknown field */
        sx_buf_put_uvarint(&bk, 7);
        put_msg(&dp, side ? 9 : 8, &bk);
    }
    put_msg(&eh, 1, &dp);
    put_tag(&eh, 2, 0);
    sx_buf_put_uvarint(&eh, 2);
    put_str(&met, 1, "lat");
    put_msg(&met, 10, &eh);
    put_msg(&sm, 2, &met);
    put_msg(&rm, 2, &sm);
    sx_buf_clear(out);
    put_msg(out, 1, &rm);
    sx_buf_dispose(&dp);
    sx_buf_dispose(&bk);
    sx_buf_dispose(&eh);
    sx_buf_dispose(&met);
    sx_buf_dispose(&sm);
    sx_buf_dispose(&rm);
}

/* Decode the request's single native histogram with the PromQL decoder. */
static void decode_exp(fixture_t *f, sx_promql_hist_t *h)
{
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &f->arena);
    assert_int_equal(sx_otlp_metrics_decode(f->pb.ptr, f->pb.len, SX_OTLP_PROTOBUF, NULL, &b,
                                            &f->res, &f->err), 0);
    assert_int_equal(f->res.rejected, 0);
    assert_int_equal(b.nseries, 1);
    assert_int_equal(b.series[0].nhists, 1);
    assert_int_equal(sx_promql_hist_decode(b.series[0].hists[0].blob, &f->arena, h, &f->err), 0);
}

/* Expand a side of a decoded histogram into (index, count) pairs. */
static size_t expand(const sx_promql_span_t *sp, uint32_t nsp, const double *c, int64_t *idx, double *cnt)
{
    size_t k = 0, ci = 0;
    int64_t at = 0;
    for (uint32_t i = 0; i < nsp; i++) {
        at += sp[i].offset;
        for (uint32_t j = 0; j < sp[i].len; j++) {
            if (c[ci])
                idx[k] = at, cnt[k++] = c[ci];
            ci++;
            at++;
        }
    }
    return k;
}

static void test_otlp_exponential_histograms_round_trip_through_the_promql_decoder(void **state)
{
    fixture_t *f = *state;
    sx_promql_hist_t h;
    int64_t idx[16];
    double cnt[16];

    /* Gaps: short ones filled with zeros, long ones split the span. */
    static const uint64_t pos[] = {1, 0, 2, 0, 0, 0, 0, 3};
    static const uint64_t neg[] = {4};
    for (int packed = 0; packed < 2; packed++) {
        exp_request(&f->pb, 3, -2, pos, 8, 5, neg, 1, packed);
        decode_exp(f, &h);
        assert_int_equal(h.schema, 3);
        assert_true(h.count == 10);
        size_t k = expand(h.pos_spans, h.npos_spans, h.pos, idx, cnt);
        assert_int_equal(k, 3);
        assert_int_equal(idx[0], -1);
        assert_true(cnt[0] == 1);
        assert_int_equal(idx[1], 1);
        assert_true(cnt[1] == 2);
        assert_int_equal(idx[2], 6);
        assert_true(cnt[2] == 3);
        assert_int_equal(h.npos_spans, 2);
        k = expand(h.neg_spans, h.nneg_spans, h.neg, idx, cnt);
        assert_int_equal(k, 1);
        assert_int_equal(idx[0], 6);
        assert_true(cnt[0] == 4);
    }

    /* Scale 10 is merged down to 8: four OTLP buckets per Prometheus bucket. */
    static const uint64_t fine[] = {1, 1, 1, 1, 2, 2};
    exp_request(&f->pb, 10, 4, fine, 6, 0, NULL, 0, true);
    decode_exp(f, &h);
    assert_int_equal(h.schema, 8);
    size_t k = expand(h.pos_spans, h.npos_spans, h.pos, idx, cnt);
    assert_int_equal(k, 2);
    assert_int_equal(idx[0], 2); /* (4 >> 2) + 1 */
    assert_true(cnt[0] == 4);
    assert_int_equal(idx[1], 3);
    assert_true(cnt[1] == 4);

    /* Fuzzer find: a scale far beyond the specification's 20 merges
     * everything without an undefined shift. */
    exp_request(&f->pb, 100, 4, fine, 6, 0, NULL, 0, true);
    decode_exp(f, &h);
    assert_int_equal(h.schema, 8);
    k = expand(h.pos_spans, h.npos_spans, h.pos, idx, cnt);
    assert_int_equal(k, 1);
    assert_int_equal(idx[0], 1);
    assert_true(cnt[0] == 8);

    /* Negative offsets floor when merged. */
    static const uint64_t negfine[] = {5, 0, 0, 0, 0, 7};
    exp_request(&f->pb, 9, -3, negfine, 6, 0, NULL, 0, false);
    decode_exp(f, &h);
    k = expand(h.pos_spans, h.npos_spans, h.pos, idx, cnt);
    assert_int_equal(k, 2);
    assert_int_equal(idx[0], -1); /* (-3 >> 1) + 1 */
    assert_true(cnt[0] == 5);
    assert_int_equal(idx[1], 2); /* (2 >> 1) + 1 */
    assert_true(cnt[1] == 7);
}

static void test_otlp_metrics_protobuf_wire_type_errors_name_the_field(void **state)
{
    fixture_t *f = *state;
    sx_buf_t met = SX_BUF_INIT, sm = SX_BUF_INIT, rm = SX_BUF_INIT;
    put_tag(&met, 1, 0); /* name as a varint */
    sx_buf_put_uvarint(&met, 1);
    put_msg(&sm, 2, &met);
    put_msg(&rm, 2, &sm);
    sx_buf_clear(&f->pb);
    put_msg(&f->pb, 1, &rm);
    sx_metric_batch_t b;
    sx_metric_batch_init(&b, &f->arena);
    assert_int_equal(sx_otlp_metrics_decode(f->pb.ptr, f->pb.len, SX_OTLP_PROTOBUF, NULL, &b,
                                            &f->res, &f->err), SX_EPARSE);
    assert_string_equal(f->err.msg, "resourceMetrics[0].scopeMetrics[0].metrics[0].name: wrong wire "
                                    "type 0 (want 2) at offset 6");
    sx_buf_dispose(&met);
    sx_buf_dispose(&sm);
    sx_buf_dispose(&rm);
}

/* ---- Logs ---- */

static void check_logs_example(const sx_log_batch_t *b)
{
    assert_int_equal(b->nstreams, 1);
    const sx_log_stream_in_t *s = &b->streams[0];
    assert_int_equal(s->nlabels, 1);
    assert_label(s->labels, s->nlabels, "service_name", "my.service");
    assert_int_equal(s->nentries, 1);
    const sx_log_entry_t *e = &s->entries[0];
    assert_true(e->ts == 1544712660300000000LL);
    assert_str_equal(e->line, "Example log record");
    static const char *const want[][2] = {
        {"string_attribute", "some string"},
        {"boolean_attribute", "true"},
        {"int_attribute", "10"},
        {"double_attribute", "637.704"},
        {"array_attribute", "[\"many\",\"values\"]"},
        {"map_attribute_some_map_key", "some value"},
        {"severity_number", "10"},
        {"severity_text", "Information"},
        {"observed_timestamp", "1544712660300000000"},
        {"trace_id", "5b8efff798038103d269b633813fc60c"},
        {"span_id", "eee19b7ec3c1b174"},
        {"scope_name", "my.library"},
        {"scope_version", "1.0.0"},
        {"my_scope_attribute", "some scope attribute"},
    };
    assert_int_equal(e->nmeta, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_str_equal(e->meta[i].name, want[i][0]);
        assert_str_equal(e->meta[i].value, want[i][1]);
    }
    assert_int_equal(b->nentries, 1);
    assert_int_equal(b->nbytes, strlen("Example log record"));
}

static void test_otlp_logs_decode_conformance_example(void **state)
{
    fixture_t *f = *state;
    load_example(f, "logs.json");
    sx_log_batch_t b;
    sx_log_batch_init(&b, &f->arena);
    assert_int_equal(sx_otlp_logs_decode(f->file.ptr, f->file.len, SX_OTLP_JSON, NULL, &b, &f->res,
                                         &f->err), 0);
    check_logs_example(&b);
    assert_int_equal(f->res.accepted, 1);

    assert_int_equal(sx_otlp_json_to_protobuf(SX_OTLP_LOGS, f->file.ptr, f->file.len, &f->arena,
                                              &f->pb, &f->err), 0);
    sx_log_batch_init(&b, &f->arena);
    assert_int_equal(sx_otlp_logs_decode(f->pb.ptr, f->pb.len, SX_OTLP_PROTOBUF, NULL, &b, &f->res,
                                         &f->err), 0);
    check_logs_example(&b);
}

/* Map and array bodies as Go's encoding/json writes them: keys sorted, a
 * repeated key once with its last value, nested maps sorted too, <, > and
 * & escaped, \b and \f short, U+2028 escaped. */
static void test_otlp_logs_map_body_as_go_writes_it(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":\"1\",\"body\":"
        "{\"kvlistValue\":{\"values\":["
        "{\"key\":\"zeta\",\"value\":{\"stringValue\":\"<b>&\\b\\f\\u2028\"}},"
        "{\"key\":\"alpha\",\"value\":{\"intValue\":\"1\"}},"
        "{\"key\":\"mid\",\"value\":{\"kvlistValue\":{\"values\":["
        "{\"key\":\"y\",\"value\":{\"boolValue\":true}},"
        "{\"key\":\"b\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"x>\"}]}}}]}}},"
        "{\"key\":\"alpha\",\"value\":{\"intValue\":\"2\"}}]}}}]}]}]}";
    sx_log_batch_t b;
    sx_log_batch_init(&b, &f->arena);
    assert_int_equal(sx_otlp_logs_decode(body, strlen(body), SX_OTLP_JSON, NULL, &b, &f->res,
                                         &f->err), 0);
    assert_str_equal(b.streams[0].entries[0].line,
                     "{\"alpha\":2,\"mid\":{\"b\":[\"x\\u003e\"],\"y\":true},"
                     "\"zeta\":\"\\u003cb\\u003e\\u0026\\b\\f\\u2028\"}");
}

static void test_otlp_logs_decode_event_example(void **state)
{
    fixture_t *f = *state;
    load_example(f, "events.json");
    sx_log_batch_t b;
    sx_log_batch_init(&b, &f->arena);
    assert_int_equal(sx_otlp_logs_decode(f->file.ptr, f->file.len, SX_OTLP_JSON, NULL, &b, &f->res,
                                         &f->err), 0);
    assert_int_equal(b.nstreams, 1);
    const sx_log_entry_t *e = &b.streams[0].entries[0];
    /* A map body is written as Loki writes it (Go's encoding/json): keys
     * sorted, whatever order they came in. */
    assert_str_equal(e->line, "{\"referrer\":\"https://wwww.google.com\",\"title\":\"Free Online GUID "
                              "Generator\",\"type\":0,\"url\":\"https://www.guidgenerator.com/"
                              "online-guid-generator.aspx\"}");
    assert_label(e->meta, e->nmeta, "event_name", "browser.page_view");
    assert_label(e->meta, e->nmeta, "event_attribute", "some event attribute");
    assert_label(e->meta, e->nmeta, "severity_number", "9");
    assert_null(find_label(e->meta, e->nmeta, "trace_id"));
}

static void test_otlp_logs_stream_labels_and_timestamps(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":["
        "{\"observedTimeUnixNano\":\"5\",\"body\":{\"intValue\":\"7\"}},"
        "{\"body\":{\"arrayValue\":{\"values\":[{\"boolValue\":false},{\"doubleValue\":0.5}]}},\"severityNumber\":\"SEVERITY_NUMBER_WARN\"},"
        "{\"timeUnixNano\":\"9\",\"observed_time_unix_nano\":\"5\",\"flags\":1,"
        "\"traceId\":\"\",\"spanId\":\"0000000000000000\"}]}],"
        "\"resource\":{\"attributes\":[{\"key\":\"k8s.namespace.name\",\"value\":{\"stringValue\":\"ns1\"}},"
        "{\"key\":\"k8s.pod.name\",\"value\":{\"stringValue\":\"p\"}},"
        "{\"key\":\"host.name\",\"value\":{\"stringValue\":\"h\"}},"
        "{\"key\":\"deployment.environment\",\"value\":{\"stringValue\":\"\"}}]}},"
        "{\"resource\":{},\"scopeLogs\":[]}]}";
    sx_otlp_log_opts_t o = {NULL, 0, 123};
    sx_log_batch_t b;
    assert_int_equal(logs_json(f, body, &o, &b), 0);
    assert_int_equal(b.nstreams, 1); /* the second resource has no records */
    const sx_log_stream_in_t *s = &b.streams[0];
    assert_int_equal(s->nlabels, 3);
    assert_sorted_unique(s->labels, s->nlabels);
    assert_label(s->labels, s->nlabels, "k8s_namespace_name", "ns1");
    assert_label(s->labels, s->nlabels, "k8s_pod_name", "p");
    assert_label(s->labels, s->nlabels, "service_name", "unknown_service");
    assert_int_equal(s->nentries, 3);
    assert_int_equal(s->entries[0].ts, 5);
    assert_str_equal(s->entries[0].line, "7");
    assert_label(s->entries[0].meta, s->entries[0].nmeta, "host_name", "h");
    assert_int_equal(s->entries[1].ts, 123);
    assert_str_equal(s->entries[1].line, "[false,0.5]");
    assert_label(s->entries[1].meta, s->entries[1].nmeta, "severity_number", "13");
    assert_int_equal(s->entries[2].ts, 9);
    assert_str_equal(s->entries[2].line, "");
    assert_label(s->entries[2].meta, s->entries[2].nmeta, "flags", "1");
    assert_null(find_label(s->entries[2].meta, s->entries[2].nmeta, "span_id"));

    /* A custom list: only service.name and host.name are labels. */
    const char *idx[] = {"host.name"};
    o.index_attrs = idx;
    o.nindex_attrs = 1;
    assert_int_equal(logs_json(f, body, &o, &b), 0);
    s = &b.streams[0];
    assert_int_equal(s->nlabels, 2);
    assert_label(s->labels, s->nlabels, "host_name", "h");
    assert_label(s->entries[0].meta, s->entries[0].nmeta, "k8s_pod_name", "p");
}

/* ---- Responses ---- */

static void test_otlp_response_encoding(void **state)
{
    (void)state;
    sx_otlp_result_t r;
    sx_otlp_result_init(&r);
    sx_buf_t b = SX_BUF_INIT;
    sx_otlp_response_encode(SX_OTLP_TRACES, SX_OTLP_JSON, &r, &b);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.ptr, "{}", 2);
    sx_buf_clear(&b);
    sx_otlp_response_encode(SX_OTLP_TRACES, SX_OTLP_PROTOBUF, &r, &b);
    assert_int_equal(b.len, 0);

    r.rejected = 3;
    strcpy(r.msg, "metric \"x\": bad");
    sx_otlp_response_encode(SX_OTLP_METRICS, SX_OTLP_JSON, &r, &b);
    sx_buf_putc(&b, '\0');
    assert_string_equal(b.ptr, "{\"partialSuccess\":{\"rejectedDataPoints\":\"3\",\"errorMessage\":"
                               "\"metric \\\"x\\\": bad\"}}");
    sx_buf_clear(&b);
    sx_otlp_response_encode(SX_OTLP_LOGS, SX_OTLP_JSON, &r, &b);
    sx_buf_putc(&b, '\0');
    assert_non_null(strstr(b.ptr, "\"rejectedLogRecords\":\"3\""));
    sx_buf_clear(&b);
    sx_otlp_response_encode(SX_OTLP_TRACES, SX_OTLP_JSON, &r, &b);
    sx_buf_putc(&b, '\0');
    assert_non_null(strstr(b.ptr, "\"rejectedSpans\":\"3\""));
    sx_buf_clear(&b);
    sx_otlp_response_encode(SX_OTLP_LOGS, SX_OTLP_PROTOBUF, &r, &b);
    const char want[] = "\x0a\x13\x08\x03\x12\x0fmetric \"x\": bad";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.ptr, want, sizeof(want) - 1);
    sx_buf_dispose(&b);
}

static void test_span_model_helpers(void **state)
{
    fixture_t *f = *state;
    sx_span_batch_t b;
    sx_span_batch_init(&b, &f->arena);
    for (int i = 0; i < 100; i++) {
        sx_span_t *s = sx_span_batch_add(&b);
        assert_non_null(s);
        s->kind = i;
    }
    assert_int_equal(b.nspans, 100);
    assert_int_equal(b.spans[99].kind, 99);
    uint8_t id[8] = {0};
    assert_true(sx_span_id_is_zero(id, 8));
    id[7] = 0xab;
    assert_false(sx_span_id_is_zero(id, 8));
    assert_id(id, 8, "00000000000000ab");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_otlp_traces_decode_conformance_example),
        T(test_otlp_traces_protobuf_round_trip),
        T(test_otlp_traces_reads_events_links_status_and_value_types),
        T(test_otlp_traces_bad_ids_fail_with_the_path),
        T(test_otlp_traces_rejects_spans_without_ids_as_partial_success),
        T(test_otlp_json_syntax_errors_and_empty_requests),
        T(test_otlp_traces_schema_url_after_spans_is_success),
        T(test_otlp_metric_names_follow_the_compatibility_rules),
        T(test_otlp_metrics_conformance_example_rejects_delta),
        T(test_otlp_metrics_translate_cumulative_example),
        T(test_otlp_metrics_resource_gives_job_instance_and_target_info),
        T(test_otlp_metrics_summary_stale_and_bad_histograms),
        T(test_otlp_exponential_histograms_round_trip_through_the_promql_decoder),
        T(test_otlp_metrics_protobuf_wire_type_errors_name_the_field),
        T(test_otlp_logs_decode_conformance_example),
        T(test_otlp_logs_map_body_as_go_writes_it),
        T(test_otlp_logs_decode_event_example),
        T(test_otlp_logs_stream_labels_and_timestamps),
        T(test_otlp_response_encoding),
        T(test_span_model_helpers),
    };
    return cmocka_run_group_tests_name("otlp", tests, NULL, NULL);
}
