/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the Kubernetes event and audit decoders (src/ingest/
 * k8s_events.c) and for the canonical Kubernetes labels of log streams
 * (src/ingest/k8s_meta.c): the three body shapes, timestamp precedence,
 * labels and metadata of both event kinds, the KubeSphere audit shape,
 * and normalization: label aliases, Fluent Bit records, stream splitting,
 * workload names and the label limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/log_ingest.h"
#include "model/log.h"

#define NOW 1111111111000000000LL

/* ---- Helpers ---- */

typedef struct fixture {
    sx_arena_t arena;
    sx_log_batch_t batch;
    sx_err_t err;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = test_calloc(1, sizeof(*f));
    sx_arena_init(&f->arena);
    sx_log_batch_init(&f->batch, &f->arena);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    sx_arena_dispose(&f->arena);
    test_free(f);
    return 0;
}

static int events(fixture_t *f, const char *body)
{
    sx_log_batch_init(&f->batch, &f->arena);
    sx_err_clear(&f->err);
    return sx_k8s_events_decode(body, strlen(body), NOW, &f->batch, &f->err);
}

static int audit(fixture_t *f, const char *body)
{
    sx_log_batch_init(&f->batch, &f->arena);
    sx_err_clear(&f->err);
    return sx_k8s_audit_decode(body, strlen(body), NOW, &f->batch, &f->err);
}

static void assert_str_equal(sx_str_t s, const char *want)
{
    if (s.len != strlen(want) || (s.len && memcmp(s.ptr, want, s.len) != 0))
        fail_msg("got \"%.*s\", want \"%s\"", (int)s.len, s.ptr ? s.ptr : "", want);
}

static void assert_err_is(const fixture_t *f, int code, const char *want)
{
    if (f->err.code != code || strcmp(f->err.msg, want) != 0)
        fail_msg("error %d \"%s\"\n  want %d \"%s\"", f->err.code, f->err.msg, code, want);
}

/* The labels of a stream as "a=b,c=d". */
static const char *labels_of(fixture_t *f, const sx_log_stream_in_t *s)
{
    sx_buf_t b = SX_BUF_INIT;
    for (uint32_t i = 0; i < s->nlabels; i++)
        sx_buf_printf(&b, "%s%.*s=%.*s", i ? "," : "", (int)s->labels[i].name.len,
                      s->labels[i].name.ptr, (int)s->labels[i].value.len, s->labels[i].value.ptr);
    char *out = sx_arena_strndup(&f->arena, b.ptr ? b.ptr : "", b.len);
    sx_buf_dispose(&b);
    return out;
}

static const char *meta_of(fixture_t *f, const sx_log_entry_t *e)
{
    sx_buf_t b = SX_BUF_INIT;
    for (uint32_t i = 0; i < e->nmeta; i++)
        sx_buf_printf(&b, "%s%.*s=%.*s", i ? "," : "", (int)e->meta[i].name.len,
                      e->meta[i].name.ptr, (int)e->meta[i].value.len, e->meta[i].value.ptr);
    char *out = sx_arena_strndup(&f->arena, b.ptr ? b.ptr : "", b.len);
    sx_buf_dispose(&b);
    return out;
}

/* Build a stream by hand: labels as alternating name, value strings. */
static size_t add_stream(fixture_t *f, uint32_t nl, const char *const *kv)
{
    sx_log_stream_in_t *s = sx_log_batch_add(&f->batch);
    s->labels = sx_arena_alloc(&f->arena, nl * sizeof(sx_label_t) + 1);
    for (uint32_t i = 0; i < nl; i++)
        s->labels[i] = (sx_label_t){sx_str(kv[2 * i]), sx_str(kv[2 * i + 1])};
    s->nlabels = sx_labels_sort(s->labels, nl);
    return f->batch.nstreams - 1;
}

static void add_line(fixture_t *f, size_t si, int64_t ts, const char *line)
{
    sx_log_entry_t *e = sx_log_stream_add(&f->batch, &f->batch.streams[si]);
    e->ts = ts;
    e->line = sx_str(line);
    f->batch.nbytes += e->line.len;
}

static int normalize(fixture_t *f)
{
    sx_err_clear(&f->err);
    return sx_log_k8s_normalize(&f->batch, &f->err);
}

static const char core_event[] =
    "{\"kind\":\"Event\",\"apiVersion\":\"v1\","
    "\"metadata\":{\"name\":\"web-1.17a\",\"namespace\":\"shop\",\"uid\":\"e-uid\","
    "\"creationTimestamp\":\"2024-01-01T00:00:03Z\","
    "\"annotations\":{\"kubesphere.io/workspace\":\"ws-ann\"}},"
    "\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"shop\",\"name\":\"web-1\","
    "\"uid\":\"pod-uid\",\"apiVersion\":\"v1\"},"
    "\"reason\":\"BackOff\",\"message\":\"Back-off restarting failed container\","
    "\"source\":{\"component\":\"kubelet\",\"host\":\"node-1\"},"
    "\"firstTimestamp\":\"2024-01-01T00:00:01Z\",\"lastTimestamp\":\"2024-01-01T00:00:05.5Z\","
    "\"count\":7,\"type\":\"Warning\",\"eventTime\":null}";

/* ---- Events ---- */

static void test_k8s_event_single_object(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(events(f, core_event), 0);
    assert_int_equal(f->batch.nstreams, 1);
    const sx_log_stream_in_t *s = &f->batch.streams[0];
    assert_string_equal(labels_of(f, s), "kind=Pod,namespace=shop,reason=BackOff,type=Warning");
    assert_int_equal(s->nentries, 1);
    const sx_log_entry_t *e = &s->entries[0];
    assert_int_equal(e->ts, 1704067205500000000LL);
    /* The line is the object, compact, keys in the order received. */
    assert_str_equal(e->line, core_event);
    assert_string_equal(meta_of(f, e),
                        "name=web-1,uid=pod-uid,api_version=v1,event_name=web-1.17a,"
                        "source_component=kubelet,source_host=node-1,count=7,"
                        "first_timestamp=2024-01-01T00:00:01Z,"
                        "last_timestamp=2024-01-01T00:00:05.5Z,"
                        "message=Back-off restarting failed container,workspace=ws-ann");
    assert_int_equal(f->batch.nentries, 1);
    assert_int_equal(f->batch.nbytes, strlen(core_event));
}

static void test_k8s_event_line_is_compacted(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(events(f, " { \"type\" : \"Normal\" ,\n \"z\": [1, 2],\"a\":{ } } "), 0);
    assert_str_equal(f->batch.streams[0].entries[0].line, "{\"type\":\"Normal\",\"z\":[1,2],\"a\":{}}");
    assert_int_equal(f->batch.streams[0].entries[0].ts, NOW);
}

static void test_k8s_event_array_groups_equal_labels(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "[{\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"a\"},\"type\":\"Normal\",\"reason\":\"Pulled\"},"
        " {\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"b\"},\"type\":\"Normal\",\"reason\":\"Pulled\"},"
        " {\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"a\"},\"type\":\"Normal\",\"reason\":\"Pulled\",\"count\":2}]";
    assert_int_equal(events(f, body), 0);
    assert_int_equal(f->batch.nstreams, 2);
    assert_int_equal(f->batch.nentries, 3);
    assert_string_equal(labels_of(f, &f->batch.streams[0]), "kind=Pod,namespace=a,reason=Pulled,type=Normal");
    assert_int_equal(f->batch.streams[0].nentries, 2);
    assert_string_equal(meta_of(f, &f->batch.streams[0].entries[1]), "count=2");
    assert_int_equal(f->batch.streams[1].nentries, 1);
}

static void test_k8s_event_list_shape(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(events(f, "{\"kind\":\"EventList\",\"apiVersion\":\"v1\",\"metadata\":{},"
                               "\"items\":[{\"reason\":\"A\"},{\"reason\":\"B\"}]}"),
                     0);
    assert_int_equal(f->batch.nstreams, 2);
    assert_string_equal(labels_of(f, &f->batch.streams[1]), "reason=B");
    assert_int_equal(events(f, "{\"kind\":\"EventList\",\"items\":[]}"), 0);
    assert_int_equal(f->batch.nstreams, 0);
    assert_int_equal(events(f, "{\"kind\":\"EventList\",\"items\":null}"), 0);
    assert_int_equal(f->batch.nstreams, 0);
    assert_int_equal(events(f, "[]"), 0);
    assert_int_equal(f->batch.nstreams, 0);
}

static void test_k8s_event_events_k8s_io_v1(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"apiVersion\":\"events.k8s.io/v1\",\"kind\":\"Event\","
        "\"metadata\":{\"name\":\"n1\",\"namespace\":\"meta-ns\",\"labels\":{\"kubesphere.io/workspace\":\"ws1\"}},"
        "\"eventTime\":\"2024-02-02T10:00:00.123456Z\",\"reportingController\":\"ctl\","
        "\"reportingInstance\":\"ctl-1\",\"action\":\"Binding\",\"reason\":\"Scheduled\","
        "\"regarding\":{\"kind\":\"Pod\",\"namespace\":\"reg-ns\",\"name\":\"p\",\"uid\":\"u\","
        "\"apiVersion\":\"v1\"},\"note\":\"Successfully assigned\",\"type\":\"Normal\","
        "\"series\":{\"count\":3,\"lastObservedTime\":\"2024-02-02T11:00:00Z\"},"
        "\"deprecatedLastTimestamp\":null}";
    assert_int_equal(events(f, body), 0);
    const sx_log_stream_in_t *s = &f->batch.streams[0];
    assert_string_equal(labels_of(f, s), "kind=Pod,namespace=reg-ns,reason=Scheduled,type=Normal");
    assert_int_equal(s->entries[0].ts, 1706868000123456000LL);
    assert_string_equal(meta_of(f, &s->entries[0]),
                        "name=p,uid=u,api_version=v1,event_name=n1,source_component=ctl,"
                        "source_host=ctl-1,count=3,message=Successfully assigned,workspace=ws1");
}

static void test_k8s_event_timestamp_precedence(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *body;
        int64_t ts;
    } cases[] = {
        {"{\"lastTimestamp\":\"1970-01-01T00:00:01Z\",\"eventTime\":\"1970-01-01T00:00:02Z\","
         "\"series\":{\"lastObservedTime\":\"1970-01-01T00:00:03Z\"},"
         "\"metadata\":{\"creationTimestamp\":\"1970-01-01T00:00:04Z\"},"
         "\"firstTimestamp\":\"1970-01-01T00:00:05Z\"}",
         1000000000},
        {"{\"deprecatedLastTimestamp\":\"1970-01-01T00:00:01.5Z\",\"eventTime\":\"1970-01-01T00:00:02Z\"}",
         1500000000},
        {"{\"lastTimestamp\":null,\"eventTime\":\"1970-01-01T00:00:02Z\","
         "\"series\":{\"lastObservedTime\":\"1970-01-01T00:00:03Z\"}}",
         2000000000},
        {"{\"lastTimestamp\":\"garbage\",\"eventTime\":\"\","
         "\"series\":{\"lastObservedTime\":\"1970-01-01T00:00:03+01:00\"},"
         "\"metadata\":{\"creationTimestamp\":\"1970-01-01T00:00:04Z\"}}",
         3000000000 - 3600000000000LL},
        {"{\"metadata\":{\"creationTimestamp\":\"1970-01-01T00:00:04Z\"},"
         "\"firstTimestamp\":\"1970-01-01T00:00:05Z\"}",
         4000000000},
        {"{\"firstTimestamp\":\"1970-01-01T00:00:05Z\"}", 5000000000},
        {"{\"deprecatedFirstTimestamp\":\"1970-01-01T00:00:06Z\"}", 6000000000},
        {"{\"lastTimestamp\":\"0001-01-01T00:00:00Z\"}", NOW},
        {"{}", NOW},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(events(f, cases[i].body), 0);
        if (f->batch.streams[0].entries[0].ts != cases[i].ts)
            fail_msg("case %zu: ts %lld, want %lld", i, (long long)f->batch.streams[0].entries[0].ts,
                     (long long)cases[i].ts);
    }
}

static void test_k8s_event_without_labels_gets_kind_event(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(events(f, "{\"message\":\"m\",\"type\":\"\",\"involvedObject\":{}}"), 0);
    assert_string_equal(labels_of(f, &f->batch.streams[0]), "kind=Event");
    assert_string_equal(meta_of(f, &f->batch.streams[0].entries[0]), "message=m");
    /* The namespace falls back to the event's own. */
    assert_int_equal(events(f, "{\"metadata\":{\"namespace\":\"own\"}}"), 0);
    assert_string_equal(labels_of(f, &f->batch.streams[0]), "namespace=own");
}

static void test_k8s_event_rejects_bad_bodies(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(events(f, "not json"), SX_EPARSE);
    assert_err_is(f, SX_EPARSE, "invalid JSON at line 1 col 3: '[' or '{' expected near 'not'");
    assert_int_equal(events(f, "[{\"reason\":\"A\"},\"oops\"]"), SX_EPARSE);
    assert_err_is(f, SX_EPARSE, "item 1 is a string, want an Event object");
    assert_int_equal(events(f, "{\"items\":[null]}"), SX_EPARSE);
    assert_err_is(f, SX_EPARSE, "item 0 is null, want an Event object");
    assert_int_equal(audit(f, "[[1]]"), SX_EPARSE);
    assert_err_is(f, SX_EPARSE, "item 0 is an array, want an audit Event object");
    assert_int_equal(events(f, "{\"a\":1"), SX_EPARSE);
}

/* ---- Audit ---- */

static const char audit_list[] =
    "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},\"items\":["
    "{\"level\":\"Metadata\",\"auditID\":\"a-1\",\"stage\":\"ResponseComplete\","
    "\"requestURI\":\"/api/v1/namespaces/dev/pods/p1\",\"verb\":\"get\","
    "\"user\":{\"username\":\"admin\",\"groups\":[\"system:masters\"]},"
    "\"sourceIPs\":[\"10.0.0.1\",\"10.0.0.2\"],\"userAgent\":\"kubectl/v1.29\","
    "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"dev\",\"name\":\"p1\",\"apiVersion\":\"v1\","
    "\"subresource\":\"log\"},"
    "\"responseStatus\":{\"metadata\":{},\"code\":200},"
    "\"requestReceivedTimestamp\":\"2024-03-03T03:03:03.000001Z\","
    "\"stageTimestamp\":\"2024-03-03T03:03:03.000900Z\","
    "\"annotations\":{\"authorization.k8s.io/decision\":\"allow\"}},"
    "{\"level\":\"Request\",\"auditID\":\"a-2\",\"stage\":\"RequestReceived\",\"verb\":\"create\","
    "\"objectRef\":{\"resource\":\"deployments\",\"namespace\":\"dev\",\"apiGroup\":\"apps\"},"
    "\"requestReceivedTimestamp\":\"2024-03-03T03:03:04Z\","
    "\"annotations\":{\"kubesphere.io/workspace\":\"team\"}}]}";

static void test_k8s_audit_event_list(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(audit(f, audit_list), 0);
    assert_int_equal(f->batch.nstreams, 2);
    const sx_log_stream_in_t *s = &f->batch.streams[0];
    assert_string_equal(labels_of(f, s), "level=Metadata,namespace=dev,resource=pods,verb=get");
    assert_int_equal(s->entries[0].ts, 1709434983000900000LL);
    assert_string_equal(meta_of(f, &s->entries[0]),
                        "audit_id=a-1,stage=ResponseComplete,user=admin,name=p1,subresource=log,"
                        "code=200,source_ip=10.0.0.1,request_uri=/api/v1/namespaces/dev/pods/p1,"
                        "user_agent=kubectl/v1.29");
    assert_int_equal(s->entries[0].line.ptr[0], '{');
    s = &f->batch.streams[1];
    assert_string_equal(labels_of(f, s), "level=Request,namespace=dev,resource=deployments,verb=create");
    assert_int_equal(s->entries[0].ts, 1709434984000000000LL); /* no stageTimestamp */
    assert_string_equal(meta_of(f, &s->entries[0]),
                        "audit_id=a-2,stage=RequestReceived,api_group=apps,workspace=team");
}

static void test_k8s_audit_kubesphere_shape_and_fallbacks(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"Level\":\"RequestResponse\",\"AuditID\":\"k-1\",\"Stage\":\"ResponseComplete\","
        "\"RequestURI\":\"/apis/apps/v1/namespaces/x/deployments\",\"Verb\":\"list\","
        "\"User\":{\"Username\":\"bob\"},\"SourceIPs\":[\"1.2.3.4\"],\"UserAgent\":\"ua\","
        "\"ObjectRef\":{\"Resource\":\"deployments\",\"Namespace\":\"x\",\"APIGroup\":\"apps\"},"
        "\"ResponseStatus\":{\"code\":403},\"RequestReceivedTimestamp\":\"2024-03-03T03:03:04Z\","
        "\"Workspace\":\"ws-k\",\"Cluster\":\"host\"}";
    assert_int_equal(audit(f, body), 0);
    const sx_log_stream_in_t *s = &f->batch.streams[0];
    assert_string_equal(labels_of(f, s), "level=RequestResponse,namespace=x,resource=deployments,verb=list");
    assert_int_equal(s->entries[0].ts, 1709434984000000000LL);
    assert_string_equal(meta_of(f, &s->entries[0]),
                        "audit_id=k-1,stage=ResponseComplete,user=bob,api_group=apps,code=403,"
                        "source_ip=1.2.3.4,request_uri=/apis/apps/v1/namespaces/x/deployments,"
                        "user_agent=ua,workspace=ws-k");
    assert_int_equal(audit(f, "[{}]"), 0);
    assert_string_equal(labels_of(f, &f->batch.streams[0]), "verb=unknown");
    assert_int_equal(f->batch.streams[0].entries[0].ts, NOW);
    assert_int_equal(audit(f, "{\"verb\":\"get\",\"requestObject\":{\"metadata\":{\"labels\":"
                              "{\"kubesphere.io/workspace\":\"from-object\"}}}}"),
                     0);
    assert_string_equal(meta_of(f, &f->batch.streams[0].entries[0]), "workspace=from-object");
}

/* ---- Normalization ---- */

static void test_k8s_workload_from_pod_names(void **state)
{
    static const struct {
        const char *pod, *workload;
    } cases[] = {
        {"web-7d9c5b8f4-x2x7q", "web"},
        {"my-app-5f7b8c9d6b-abcdz", NULL}, /* 'a' is not in the alphabet */
        {"my-app-5f7b8c9d6b-bcdfz", "my-app"},
        {"coredns-5d78c9869d-x7k2p", "coredns"},
        {"api-6d4f8-zz2x4", "api"}, /* a 5-character hash */
        {"db-0", "db"},
        {"kafka-broker-12", "kafka-broker"},
        {"db-01", NULL},
        {"kube-proxy-x7k2p", "kube-proxy"},
        {"backup-28391234-x9z2w", "backup-28391234"},
        {"etcd-master", NULL},
        {"nginx", NULL},
        {"-0", NULL},
        {"-bcdfg", NULL},
        {"x-bcdfghjklmn-bcdfg", "x-bcdfghjklmn"}, /* an 11-character "hash" is a DaemonSet name */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sx_str_t w = SX_STR_NULL;
        bool ok = sx_k8s_workload_from_pod(sx_str(cases[i].pod), &w);
        if (ok != (cases[i].workload != NULL) ||
            (ok && (w.len != strlen(cases[i].workload) || memcmp(w.ptr, cases[i].workload, w.len))))
            fail_msg("%s: got %d \"%.*s\", want %s", cases[i].pod, ok, (int)w.len, w.ptr ? w.ptr : "",
                     cases[i].workload ? cases[i].workload : "none");
    }
    (void)state;
}

static void test_k8s_normalize_maps_label_aliases(void **state)
{
    fixture_t *f = *state;
    const char *fb[] = {"kubernetes_namespace_name", "shop", "kubernetes_pod_name",
                        "web-7d9c5b8f4-x2x7q", "kubernetes_container_name", "nginx", "job", "fb"};
    size_t a = add_stream(f, 4, fb);
    add_line(f, a, 1, "plain text");
    const char *otel[] = {"k8s_namespace_name", "ns", "k8s_pod_name", "db-0",
                          "k8s_container_name", "pg", "k8s_statefulset_name", "database"};
    size_t b = add_stream(f, 4, otel);
    add_line(f, b, 2, "x");
    /* Canonical labels win over aliases; nothing to add here. */
    const char *canon[] = {"namespace", "a", "kubernetes_namespace_name", "b", "pod", "p",
                           "container", "c", "workload", "w"};
    size_t c = add_stream(f, 5, canon);
    add_line(f, c, 3, "x");
    sx_label_t *before = f->batch.streams[c].labels;
    assert_int_equal(normalize(f), 0);
    assert_int_equal(f->batch.nstreams, 3);
    assert_string_equal(labels_of(f, &f->batch.streams[a]),
                        "container=nginx,job=fb,kubernetes_container_name=nginx,"
                        "kubernetes_namespace_name=shop,kubernetes_pod_name=web-7d9c5b8f4-x2x7q,"
                        "namespace=shop,pod=web-7d9c5b8f4-x2x7q,workload=web");
    assert_string_equal(labels_of(f, &f->batch.streams[b]),
                        "container=pg,k8s_container_name=pg,k8s_namespace_name=ns,k8s_pod_name=db-0,"
                        "k8s_statefulset_name=database,namespace=ns,pod=db-0,workload=database");
    assert_ptr_equal(f->batch.streams[c].labels, before);
}

static void test_k8s_normalize_leaves_other_streams_alone(void **state)
{
    fixture_t *f = *state;
    const char *kv[] = {"app", "x"};
    size_t a = add_stream(f, 1, kv);
    add_line(f, a, 1, "{\"level\":\"info\",\"msg\":\"no kubernetes here\"}");
    add_line(f, a, 2, "not json {");
    add_line(f, a, 3, "{\"namespace\":\"Not A Name\"}");
    add_line(f, a, 4, "{\"kubernetes\":{\"pod_name\":\"p\"} trailing");
    sx_label_t *before = f->batch.streams[a].labels;
    assert_int_equal(normalize(f), 0);
    assert_int_equal(f->batch.nstreams, 1);
    assert_ptr_equal(f->batch.streams[a].labels, before);
    assert_int_equal(f->batch.streams[a].nentries, 4);
}

static void test_k8s_normalize_splits_streams_by_record(void **state)
{
    fixture_t *f = *state;
    const char *kv[] = {"job", "fluent-bit"};
    size_t a = add_stream(f, 1, kv);
    add_line(f, a, 1,
             "{\"log\":\"GET /\\n\",\"stream\":\"stdout\",\"kubernetes\":{\"pod_name\":"
             "\"web-7d9c5b8f4-x2x7q\",\"namespace_name\":\"shop\",\"pod_id\":\"u\",\"labels\":"
             "{\"app\":\"web\",\"pod-template-hash\":\"7d9c5b8f4\"},\"host\":\"n1\","
             "\"container_name\":\"nginx\",\"docker_id\":\"d\"}}");
    add_line(f, a, 2, "plain line without metadata");
    add_line(f, a, 3,
             "{\"log\":\"x\",\"kubernetes\":{\"pod_name\":\"db-0\",\"namespace_name\":\"data\","
             "\"container_name\":\"pg\"}}");
    add_line(f, a, 4,
             "{\"kubernetes\":{\"namespace_name\":\"shop\",\"pod_name\":\"web-7d9c5b8f4-x2x7q\","
             "\"container_name\":\"nginx\",\"labels\":{\"pod-template-hash\":\"7d9c5b8f4\"}},"
             "\"log\":\"POST /\"}");
    /* Top-level keys of an application's JSON are not trusted. */
    add_line(f, a, 5, "{\"namespace\":\"top\",\"pod\":\"cron-x9z2w\",\"container\":\"c\",\"msg\":\"m\"}");
    add_line(f, a, 6,
             "{\"kubernetes\":{\"namespace_name\":\"jobs\",\"pod_name\":\"migrate-bcdfg\","
             "\"container_name\":\"m\",\"labels\":{\"job-name\":\"migrate\"}}}");
    size_t before_bytes = f->batch.nbytes;
    assert_int_equal(normalize(f), 0);
    assert_int_equal(f->batch.nstreams, 4);
    assert_int_equal(f->batch.nentries, 6);
    assert_int_equal(f->batch.nbytes, before_bytes);

    const sx_log_stream_in_t *s = &f->batch.streams[0];
    assert_string_equal(labels_of(f, s),
                        "container=nginx,job=fluent-bit,namespace=shop,pod=web-7d9c5b8f4-x2x7q,workload=web");
    assert_int_equal(s->nentries, 2);
    assert_int_equal(s->entries[0].ts, 1);
    assert_int_equal(s->entries[1].ts, 4);
    s = &f->batch.streams[1];
    assert_string_equal(labels_of(f, s), "job=fluent-bit");
    assert_int_equal(s->nentries, 2);
    assert_int_equal(s->entries[0].ts, 2);
    assert_int_equal(s->entries[1].ts, 5);
    s = &f->batch.streams[2];
    assert_string_equal(labels_of(f, s), "container=pg,job=fluent-bit,namespace=data,pod=db-0,workload=db");
    s = &f->batch.streams[3];
    assert_string_equal(labels_of(f, s),
                        "container=m,job=fluent-bit,namespace=jobs,pod=migrate-bcdfg,workload=migrate");
}

static void test_k8s_normalize_labels_win_over_lines(void **state)
{
    fixture_t *f = *state;
    const char *kv[] = {"namespace", "from-label", "app", "x"};
    size_t a = add_stream(f, 2, kv);
    add_line(f, a, 1, "{\"kubernetes\":{\"namespace_name\":\"from-line\",\"pod_name\":\"p-0\",\"container_name\":\"c\"}}");
    add_line(f, a, 2, "{\"kubernetes\":{\"namespace_name\":\"other\",\"pod_name\":\"p-0\",\"container_name\":\"c\"}}");
    assert_int_equal(normalize(f), 0);
    assert_int_equal(f->batch.nstreams, 1);
    assert_string_equal(labels_of(f, &f->batch.streams[0]), "app=x,container=c,namespace=from-label,pod=p-0,workload=p");
    assert_int_equal(f->batch.streams[0].nentries, 2);
}

static void test_k8s_normalize_respects_the_label_limit(void **state)
{
    fixture_t *f = *state;
    /* 13 labels: room for namespace and pod only; container's alias is
     * renamed, workload (derived) is dropped. */
    const char *kv[] = {"l0", "v", "l1", "v", "l2", "v", "l3", "v", "l4", "v", "l5", "v", "l6", "v",
                        "l7", "v", "l8", "v", "l9", "v", "kubernetes_namespace_name", "ns",
                        "kubernetes_pod_name", "web-0", "kubernetes_container_name", "c"};
    size_t a = add_stream(f, 13, kv);
    add_line(f, a, 1, "x");
    assert_int_equal(normalize(f), 0);
    const sx_log_stream_in_t *s = &f->batch.streams[a];
    assert_int_equal(s->nlabels, 15);
    assert_string_equal(labels_of(f, s),
                        "container=c,kubernetes_namespace_name=ns,kubernetes_pod_name=web-0,l0=v,l1=v,"
                        "l2=v,l3=v,l4=v,l5=v,l6=v,l7=v,l8=v,l9=v,namespace=ns,pod=web-0");

    /* A full stream: values from lines do not fit and are dropped. */
    const char *full[] = {"l0", "v", "l1", "v", "l2", "v", "l3", "v", "l4", "v", "l5", "v",
                          "l6", "v", "l7", "v", "l8", "v", "l9", "v", "la", "v", "lb", "v",
                          "lc", "v", "ld", "v", "le", "v"};
    size_t b = add_stream(f, 15, full);
    add_line(f, b, 1, "{\"kubernetes\":{\"namespace_name\":\"n\",\"pod_name\":\"p-0\",\"container_name\":\"c\"}}");
    add_line(f, b, 2, "{\"kubernetes\":{\"namespace_name\":\"m\",\"pod_name\":\"p-0\",\"container_name\":\"c\"}}");
    assert_int_equal(normalize(f), 0);
    assert_int_equal(f->batch.nstreams, 3); /* still split: the entries differ */
    assert_int_equal(f->batch.streams[b].nlabels, 15);
    assert_int_equal(f->batch.streams[2].nlabels, 15);
    assert_int_equal(f->batch.streams[b].nentries, 1);
}

static void test_k8s_normalize_pod_template_hash_beats_heuristics(void **state)
{
    fixture_t *f = *state;
    const char *kv[] = {"app", "x"};
    size_t a = add_stream(f, 1, kv);
    /* A 4-character hash that the name heuristics would not recognize. */
    add_line(f, a, 1,
             "{\"kubernetes\":{\"namespace_name\":\"n\",\"pod_name\":\"front-end-bcdf-x2x7q\","
             "\"container_name\":\"c\",\"labels\":{\"pod-template-hash\":\"bcdf\"}}}");
    assert_int_equal(normalize(f), 0);
    assert_string_equal(labels_of(f, &f->batch.streams[0]),
                        "app=x,container=c,namespace=n,pod=front-end-bcdf-x2x7q,workload=front-end");
}

static void test_k8s_normalize_after_decoding_a_push(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"streams\":[{\"stream\":{\"job\":\"fb\"},\"values\":["
        "[\"1\",\"{\\\"log\\\":\\\"a\\\",\\\"kubernetes\\\":{\\\"namespace_name\\\":\\\"n1\\\","
        "\\\"pod_name\\\":\\\"p-0\\\",\\\"container_name\\\":\\\"c\\\"}}\"],"
        "[\"2\",\"{\\\"log\\\":\\\"b\\\",\\\"kubernetes\\\":{\\\"namespace_name\\\":\\\"n2\\\","
        "\\\"pod_name\\\":\\\"p-1\\\",\\\"container_name\\\":\\\"c\\\"}}\"]]}]}";
    sx_log_batch_init(&f->batch, &f->arena);
    assert_int_equal(sx_loki_push_decode_json(body, strlen(body), NULL, &f->batch, &f->err), 0);
    assert_int_equal(normalize(f), 0);
    assert_int_equal(f->batch.nstreams, 2);
    assert_string_equal(labels_of(f, &f->batch.streams[0]), "container=c,job=fb,namespace=n1,pod=p-0,workload=p");
    assert_string_equal(labels_of(f, &f->batch.streams[1]), "container=c,job=fb,namespace=n2,pod=p-1,workload=p");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_k8s_event_single_object),
        T(test_k8s_event_line_is_compacted),
        T(test_k8s_event_array_groups_equal_labels),
        T(test_k8s_event_list_shape),
        T(test_k8s_event_events_k8s_io_v1),
        T(test_k8s_event_timestamp_precedence),
        T(test_k8s_event_without_labels_gets_kind_event),
        T(test_k8s_event_rejects_bad_bodies),
        T(test_k8s_audit_event_list),
        T(test_k8s_audit_kubesphere_shape_and_fallbacks),
        T(test_k8s_workload_from_pod_names),
        T(test_k8s_normalize_maps_label_aliases),
        T(test_k8s_normalize_leaves_other_streams_alone),
        T(test_k8s_normalize_splits_streams_by_record),
        T(test_k8s_normalize_labels_win_over_lines),
        T(test_k8s_normalize_respects_the_label_limit),
        T(test_k8s_normalize_pod_template_hash_beats_heuristics),
        T(test_k8s_normalize_after_decoding_a_push),
    };
    return cmocka_run_group_tests_name("k8s_events", tests, NULL, NULL);
}
