#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: trace search. Tempo's /api/search (tags=, minDuration,
maxDuration, limit, start/end and TraceQL q=: filters, spanset and
structural operators, pipelines, trace intrinsics), its tag name and
value lists (v1 and v2), and Jaeger's trace search (/jaeger/api/traces and
/api/traces with service=...), checked against the expected trace id sets
of a few pushed traces, plus 400s for bad parameters."""
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, check_eq  # noqa: E402

NS = 1_000_000_000
MS = 1_000_000
T0 = (int(time.time()) - 600) * NS  # ten minutes ago, on a whole second

A, B, C, D = "a1" * 16, "b2" * 16, "c3" * 16, "d4" * 16


def attr(k, v):
    return {"key": k, "value": v}


def S(v):
    return {"stringValue": v}


def I(v):
    return {"intValue": str(v)}


def span(tid, sid, name, start, dur, kind=2, parent=None, attrs=(), code=0):
    sp = {"traceId": tid, "spanId": sid, "name": name, "kind": kind,
          "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + dur),
          "attributes": list(attrs), "status": {"code": code} if code else {}}
    if parent:
        sp["parentSpanId"] = parent
    return sp


def rs(service, spans, extra=()):
    return {"resource": {"attributes": [attr("service.name", S(service))] + list(extra)},
            "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}


def post_traces(srv, body):
    return srv.request("POST", "/v1/traces", json.dumps(body).encode(),
                       {"Content-Type": "application/json"})


def build():
    a0, b0, c0, d0 = T0 + 1 * NS, T0 + 2 * NS, T0 + 3 * NS, T0
    return {"resourceSpans": [
        rs("api", [
            span(A, "a000000000000001", "GET /users", a0, 50 * MS, attrs=[attr("http.status_code", I(200))], code=1),
            span(B, "b000000000000001", "POST /orders", b0, 300 * MS, attrs=[attr("http.status_code", I(500))], code=2),
            span(C, "c000000000000002", "GET /users", c0 + 100 * MS, 1000 * MS, parent="c000000000000001"),
            span(D, "d000000000000001", "GET /health", d0, 1 * MS, attrs=[attr("http.status_code", I(200))]),
        ]),
        rs("db", [span(A, "a000000000000002", "SELECT", a0 + 10 * MS, 20 * MS, kind=3, parent="a000000000000001",
                       attrs=[attr("db.system", S("postgresql"))])]),
        rs("pay", [span(B, "b000000000000002", "charge", b0 + 10 * MS, 250 * MS, kind=3, parent="b000000000000001",
                        attrs=[attr("pay.provider", S("stripe"))], code=2)]),
        rs("web", [span(C, "c000000000000001", "GET /", c0, 1200 * MS, attrs=[attr("http.status_code", I(200))])],
           extra=[attr("deployment.environment", S("prod"))]),
    ]}


def short(tid):
    return tid.lstrip("0") or "0"


def search(srv, params):
    r = srv.get("/api/search", params)
    if r.status != 200:
        return r.status, r.body
    return [x["traceID"] for x in r.json()["traces"]]


def ids(*tids):
    return [short(x) for x in tids]


def jaeger_ids(srv, path, params):
    r = srv.get(path, params)
    if r.status != 200:
        return r.status, r.body
    return sorted(x["traceID"] for x in r.json()["data"])


def main():
    srv = t.Server(name="trace-search").start()
    check_eq(post_traces(srv, build()).status, 200, "POST traces")

    # ---- Tempo tags= and durations, limit, start/end ----
    cases = [
        ({}, [C, B, A, D]),
        ({"limit": 2}, [C, B]),
        ({"tags": "service.name=api"}, [C, B, A, D]),
        ({"tags": "http.status_code=500"}, [B]),
        ({"tags": "service.name=pay"}, [B]),
        ({"tags": 'name="GET /users"'}, [C, A]),
        ({"tags": "status=error"}, [B]),
        ({"tags": "service.name=api http.status_code=200"}, [A, D]),
        ({"tags": "deployment.environment=prod"}, [C]),
        ({"tags": "service.name=nope"}, []),
        ({"minDuration": "200ms"}, [C, B]),
        ({"maxDuration": "100ms"}, [A, D]),
        ({"minDuration": "200ms", "maxDuration": "1s"}, [B]),
        ({"tags": "service.name=api", "minDuration": "100ms"}, [C, B]),
        ({"start": T0 // NS + 3, "end": T0 // NS + 100}, [C]),
        ({"start": T0 // NS - 10, "end": T0 // NS + 1}, [A, D]),
        # TraceQL
        ({"q": '{ resource.service.name = "api" && span.http.status_code = 500 }'}, [B]),
        ({"q": "{ span.http.status_code >= 200 && span.http.status_code < 300 }"}, [C, A, D]),
        ({"q": "{ duration > 1s }"}, [C]),
        ({"q": "{ duration >= 1s }"}, [C]),
        ({"q": "{ status = error && kind = server }"}, [B]),
        ({"q": "{ status = error }"}, [B]),
        ({"q": '{ name = "charge" }'}, [B]),
        ({"q": '{ name != "GET /users" && kind = client }'}, [B, A]),
        ({"q": '{ resource.deployment.environment = "prod" }'}, [C]),
        ({"q": '{ .pay.provider != "stripe" }'}, []),
        ({"q": '{ .db.system = "postgresql" }'}, [A]),
        ({"q": '{ span.http.status_code = "500" }'}, []),
        ({"q": "{ resource.http.status_code = 500 }"}, []),
        ({"q": "{}"}, [C, B, A, D]),
        ({"q": "{ .http.status_code = 200 }", "limit": 1}, [C]),
        ({"q": "{ .http.status_code = 200 }", "maxDuration": "100ms"}, [A, D]),
    ]
    for params, want in cases:
        check_eq(search(srv, params), ids(*want), "search %r" % (params,))

    # TraceQL beyond one filter: operators, regexes, spanset operators,
    # structure, pipelines, trace-level intrinsics.
    tql_cases = [
        ('{ name =~ "GET .*" }', [C, A, D]),
        ('{ name =~ "GET" }', []),  # anchored, as in Tempo
        ('{ name !~ "GET.*" && kind = server }', [B]),
        ("{ .http.status_code = 200 || status = error }", [C, B, A, D]),
        ('{ !(resource.service.name = "api") && kind = client }', [B, A]),
        ("{ duration > 5 }", [C, B, A, D]),  # a number compares with a duration as ns
        ('{ span:name = "charge" && span:kind = client }', [B]),
        ('{ statusMessage = "x" }', []),
        ('{ .http.status_code != nil && status = unset }', [C, D]),
        ('{ resource.service.name = "api" } && { resource.service.name = "pay" }', [B]),
        ('{ resource.service.name = "db" } || { resource.service.name = "pay" }', [B, A]),
        ('{ resource.service.name = "api" } >> { resource.service.name = "db" }', [A]),
        ('{ resource.service.name = "api" } > { status = error }', [B]),
        ('{ resource.service.name = "web" } > { name = "GET /users" }', [C]),
        ('{ .db.system = "postgresql" } << { }', [A]),
        ('{ name = "SELECT" } < { kind = server }', [A]),
        ('{ } !< { resource.service.name = "api" }', [C, D]),  # api leaf spans
        ('{ resource.service.name = "db" } ~ { }', []),
        ('({ kind = server } > { }) && { .db.system = "postgresql" }', [A]),
        ("{ status = error } | count() > 1", [B]),
        ("{ status = error } | count() > 2", []),
        ("{ } | count() = 1", [D]),
        ('{ resource.service.name = "api" } | avg(duration) > 200ms', [C, B]),
        ("{ } | max(duration) >= 1s", [C]),
        ("{ kind = server } | { status = error }", [B]),
        ('{ trace:rootService = "web" }', [C]),
        ('{ rootServiceName = "api" && status = error }', [B]),
        ("{ trace:duration > 1s }", [C]),
        ("{ traceDuration < 10ms }", [D]),
        ('{ trace:rootName = "GET /users" }', [A]),
        ("{ span:childCount > 0 }", [C, B, A]),
        ('{ nestedSetParent < 0 && resource.service.name = "api" }', [B, A, D]),  # api roots
        ("{ } with (most_recent=true)", [C, B, A, D]),
    ]
    for q, want in tql_cases:
        check_eq(search(srv, {"q": q}), ids(*want), "search q=%s" % q)
    # Whole-trace evaluation keeps the limit, newest first, and the trace filters.
    check_eq(search(srv, {"q": "{ } | count() > 0", "limit": 2}), ids(C, B), "pipeline with limit")
    check_eq(search(srv, {"q": "{ kind = server } >> { }", "minDuration": "500ms"}), ids(C),
             "structural with minDuration")

    # Answer shape.
    r = srv.get_json("/api/search", {"q": "{ span.http.status_code = 500 }"})
    tr = r["traces"][0]
    check_eq((tr["rootServiceName"], tr["rootTraceName"], tr["durationMs"], tr["startTimeUnixNano"]),
             ("api", "POST /orders", 300, str(T0 + 2 * NS)), "search result summary")
    ss = tr["spanSet"]
    check_eq((ss["matched"], ss["spans"][0]["spanID"], ss["spans"][0]["durationNanos"],
              ss["spans"][0]["attributes"]),
             (1, "b000000000000001", str(300 * MS), [attr("http.status_code", I(500))]), "spanSet")
    check_eq(tr["spanSets"], [ss], "spanSets")
    check("inspectedTraces" in r["metrics"] and isinstance(r["metrics"]["inspectedBytes"], str),
          "metrics", r["metrics"])
    tr = srv.get_json("/api/search", {"tags": "service.name=web"})["traces"][0]
    check_eq((tr["rootServiceName"], tr["rootTraceName"], tr["durationMs"]), ("web", "GET /", 1200),
             "root of a multi-service trace")
    # The spanset of a structural query holds the right side's spans; of a
    # pipeline, its final spans; select() adds attributes.
    ss = srv.get_json("/api/search", {"q": '{ resource.service.name = "api" } > { status = error }'}
                      )["traces"][0]["spanSet"]
    check_eq((ss["matched"], [x["spanID"] for x in ss["spans"]], ss["spans"][0]["name"]),
             (1, ["b000000000000002"], "charge"), "structural spanSet")
    ss = srv.get_json("/api/search", {"q": "{ status = error } | count() > 1"})["traces"][0]["spanSet"]
    check_eq((ss["matched"], [x["spanID"] for x in ss["spans"]], ss["spans"][1]["durationNanos"]),
             (2, ["b000000000000001", "b000000000000002"], str(250 * MS)), "pipeline spanSet")
    ss = srv.get_json("/api/search", {"q": "{ span.http.status_code = 500 } | select(resource.service.name)"}
                      )["traces"][0]["spanSet"]
    check_eq(ss["spans"][0]["attributes"],
             [attr("service.name", S("api")), attr("http.status_code", I(500))], "select() attributes")

    # Bad parameters.
    for params in ({"limit": "x"}, {"limit": "0"}, {"minDuration": "abc"}, {"maxDuration": "5"},
                   {"start": "x"}, {"start": 100, "end": 50}, {"minDuration": "2s", "maxDuration": "1s"},
                   {"q": "foo"}, {"q": "{ status = 5 }"}, {"q": "{ kind = error }"},
                   {"q": '{ name =~ "(" }'}, {"q": "{ .a = 1 } | by(.b)"}, {"q": "{ .a = 1 } >>"},
                   {"q": "{ parent.a = 1 }"}, {"q": '{ .a = "x }'}, {"tags": "novalue"}):
        r = srv.get("/api/search", params)
        check_eq(r.status, 400, "search %r -> 400" % (params,))
    r = srv.get("/api/search", {"q": "{ status = 5 }"})
    check_eq(r.body.decode(), "invalid TraceQL query: col 10: cannot compare status with int",
             "TraceQL error names the place and the problem")

    # ---- Tags ----
    names = srv.get_json("/api/search/tags")["tagNames"]
    for k in ("service.name", "http.status_code", "pay.provider", "deployment.environment", "db.system"):
        check(k in names, "tagNames has " + k, names)
    check_eq(names, sorted(set(names)), "tagNames sorted, unique")
    res = srv.get_json("/api/search/tags", {"scope": "resource"})["tagNames"]
    check_eq(res, ["deployment.environment", "service.name"], "tagNames scope=resource")
    v2 = srv.get_json("/api/v2/search/tags")["scopes"]
    sc = {s["name"]: s["tags"] for s in v2}
    check_eq(sorted(sc["span"]), ["db.system", "http.status_code", "pay.provider"], "v2 span scope")
    check_eq(sorted(sc["resource"]), ["deployment.environment", "service.name"], "v2 resource scope")
    check("name" in sc.get("intrinsic", []), "v2 intrinsic scope", sc)
    check_eq(srv.get("/api/search/tags", {"scope": "bogus"}).status, 400, "bad scope -> 400")

    vals = srv.get_json("/api/search/tag/service.name/values")["tagValues"]
    check_eq(vals, ["api", "db", "pay", "web"], "service.name values")
    vals = srv.get_json("/api/search/tag/http.status_code/values")["tagValues"]
    check_eq(vals, ["200", "500"], "http.status_code values")
    vals = srv.get_json("/api/v2/search/tag/.http.status_code/values")["tagValues"]
    check_eq(vals, [{"type": "int", "value": "200"}, {"type": "int", "value": "500"}], "v2 typed values")
    vals = srv.get_json("/api/v2/search/tag/resource.service.name/values")["tagValues"]
    check_eq([v["value"] for v in vals], ["api", "db", "pay", "web"], "v2 resource.service.name values")
    vals = srv.get_json("/api/v2/search/tag/span.service.name/values")["tagValues"]
    check_eq(vals, [], "v2 span.service.name has no values")
    vals = srv.get_json("/api/v2/search/tag/status/values")["tagValues"]
    check_eq(vals, [{"type": "keyword", "value": s} for s in ("error", "ok", "unset")], "v2 status values")
    vals = srv.get_json("/api/v2/search/tag/name/values")["tagValues"]
    check_eq(sorted(v["value"] for v in vals), sorted(["GET /users", "POST /orders", "GET /health", "SELECT",
                                                       "charge", "GET /"]), "v2 name values")
    check_eq(srv.get("/api/v2/search/tag/bogus/values").status, 400, "v2 unscoped tag -> 400")
    vals = srv.get_json("/api/v2/search/tag/span:kind/values")["tagValues"]
    check_eq(vals, [{"type": "keyword", "value": s} for s in ("client", "server")], "v2 span:kind values")
    check("trace:rootService" in sc.get("intrinsic", []), "v2 intrinsic scope lists trace:rootService", sc)
    check_eq(srv.get("/api/search/tag/service.name").status, 404, "tag path without /values -> 404")

    # ---- Jaeger search ----
    for path in ("/jaeger/api/traces", "/api/traces"):
        jcases = [
            ({"service": "pay"}, [B]),
            ({"service": "api"}, [A, B, C, D]),
            ({"service": "api", "operation": "GET /users"}, [A, C]),
            ({"service": "api", "tags": json.dumps({"http.status_code": "500"})}, [B]),
            ({"service": "api", "tags": json.dumps({"error": "true"})}, [B]),
            ({"service": "web", "tags": json.dumps({"deployment.environment": "prod"})}, [C]),
            ({"service": "api", "tag": "http.status_code:200"}, [A, D]),
            ({"service": "api", "minDuration": "1s"}, [C]),
            ({"service": "api", "maxDuration": "10ms"}, [D]),
            ({"service": "api", "start": (T0 + NS) // 1000, "end": (T0 + NS + NS // 2) // 1000}, [A]),
            ({"service": "nope"}, []),
            ({"traceID": [A, short(D)]}, [A, D]),
        ]
        for params, want in jcases:
            check_eq(jaeger_ids(srv, path, params), sorted(want), "%s %r" % (path, params))
        r = srv.get_json(path, {"service": "api", "limit": 1})
        check_eq((len(r["data"]), r["total"], r["errors"]), (1, 1, None), path + " limit=1")
        r = srv.get_json(path, {"service": "pay"})
        tr = r["data"][0]
        check_eq((len(tr["spans"]), sorted(p["serviceName"] for p in tr["processes"].values())),
                 (2, ["api", "pay"]), path + " full trace in Jaeger's model")
        by_id = srv.get_json("/jaeger/api/traces/" + B)["data"][0]
        check_eq(tr, by_id, path + " search answer equals the by-id answer")
        for params in ({}, {"service": "api", "tags": "{bad"}, {"service": "api", "tags": '{"a":1}'},
                       {"service": "api", "minDuration": "x"}, {"service": "api", "start": "x"},
                       {"service": "api", "limit": "-1"}, {"service": "api", "tag": "nocolon"},
                       {"traceID": "zz"}):
            r = srv.get(path, params)
            check_eq((r.status, (r.json().get("errors") or [{}])[0].get("code")), (400, 400),
                     "%s %r -> 400" % (path, params))

    # Tempo's by-id route is untouched.
    check_eq(srv.get("/api/traces/" + B).status, 200, "Tempo /api/traces/<id> still served")

    # After a flush into parts the answers are the same.
    r = srv.request("POST", "/api/v1/admin/flush")
    check(r.status in (200, 204), "flush", r.status)
    for params, want in cases[:6] + cases[16:20]:
        check_eq(search(srv, params), ids(*want), "after flush: search %r" % (params,))
    for q, want in tql_cases:
        check_eq(search(srv, {"q": q}), ids(*want), "after flush: search q=%s" % q)
    check_eq(jaeger_ids(srv, "/jaeger/api/traces", {"service": "api", "operation": "GET /users"}),
             sorted([A, C]), "after flush: Jaeger search")

    # A trace larger than the evaluator keeps parsed whole (4096 spans): a
    # root with 4500 children, one marked, its child an error.
    E = "e5" * 16
    e0 = T0 - 100 * NS
    kids = [span(E, "e1%014x" % k, "work", e0 + k * 1000, 1000, kind=1, parent="e" + "0" * 15,
                 attrs=[attr("big.marker", S("x"))] if k == 4321 else []) for k in range(1, 4501)]
    kids.append(span(E, "e2%014x" % 1, "fail", e0 + 5 * MS, 1000, kind=1,
                     parent="e1%014x" % 4321, code=2))
    big = {"resourceSpans": [rs("big", [span(E, "e" + "0" * 15, "big-root", e0, 50 * MS)] + kids)]}
    check_eq(post_traces(srv, big).status, 200, "POST a 4502-span trace")
    rng = {"start": e0 // NS - 1, "end": e0 // NS + 1}
    for q, want in [('{ name = "big-root" } > { .big.marker = "x" }', [E]),
                    ('{ .big.marker = "x" } > { status = error }', [E]),
                    ('{ name = "big-root" } >> { status = error } | count() = 1', [E]),
                    ('{ resource.service.name = "big" } | count() > 4500', [E]),
                    ('{ name = "work" } ~ { .big.marker = "x" }', [E]),
                    ('{ .big.marker = "x" } < { name = "big-root" }', [E]),
                    ('{ name = "fail" } < { name = "big-root" }', [])]:
        check_eq(search(srv, dict(rng, q=q)), ids(*want), "big trace: q=%s" % q)
    ss = srv.get_json("/api/search", dict(rng, q="{ resource.service.name = \"big\" } | count() > 4500"))
    check_eq(ss["traces"][0]["spanSet"]["matched"], 4502, "big trace: matched counts every span")

    # A root whose resource has no service.name: the summary names
    # unknown_service, whether the trace is summed up from its records
    # (a lone filter) or evaluated whole (a structural query); a rarer
    # child name is found by the string shortcut in both.
    F = "f6" * 16
    f0 = T0 - 200 * NS
    nosvc = {"resourceSpans": [
        {"resource": {"attributes": [attr("host.name", S("h1"))]},
         "scopeSpans": [{"scope": {"name": "test"},
                         "spans": [span(F, "f" + "0" * 15, "anon-root", f0, 40 * MS)]}]},
        rs("kid", [span(F, "f1" + "0" * 14, "anon-kid", f0 + MS, 5 * MS, parent="f" + "0" * 15)]),
    ]}
    check_eq(post_traces(srv, nosvc).status, 200, "POST a trace whose root has no service")
    rng = {"start": f0 // NS - 1, "end": f0 // NS + 1}
    for q in ('{ name = "anon-kid" }', '{ name = "anon-root" } > { name = "anon-kid" }'):
        for flushed in (False, True):
            if flushed:
                srv.request("POST", "/api/v1/admin/flush")
            r = srv.get_json("/api/search", dict(rng, q=q))
            got = [(x["traceID"], x["rootServiceName"], x.get("rootTraceName"), x["durationMs"])
                   for x in r["traces"]]
            check_eq(got, [(F, "unknown_service", "anon-root", 40)],
                     "root without service.name: q=%s%s" % (q, " after flush" if flushed else ""))

    check_eq(srv.sanitizer_reports(), [], "no sanitizer reports")
    srv.stop()


if __name__ == "__main__":
    t.run_main(main)
