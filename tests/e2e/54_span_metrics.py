# SPDX-License-Identifier: Apache-2.0
"""Span metrics and the service graph: spans pushed over OTLP become
Tempo's metrics-generator series (traces_spanmetrics_calls_total,
traces_spanmetrics_latency_*, traces_service_graph_*), read back with
PromQL: counts per service, span name, kind and status; latency buckets
that histogram_quantile reads; calls paired across requests, database and
user nodes, unpaired halves; spans outside the ingestion slack not counted;
tenants kept apart; a last write on SIGTERM; and the option to turn it
off."""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import sxtest as t  # noqa: E402
from sxtest import check, check_eq, check_status  # noqa: E402

FAST = ["--span-metrics-interval", "200ms", "--service-graph-wait", "1s"]


def attr(k, v):
    if isinstance(v, bool):
        return {"key": k, "value": {"boolValue": v}}
    return {"key": k, "value": {"stringValue": v}}


def span(tid, sid, name, kind, dur_ms, parent=None, status=0, attrs=(), end_ns=None):
    end = end_ns if end_ns is not None else time.time_ns()
    s = {"traceId": tid, "spanId": sid, "name": name, "kind": kind,
         "startTimeUnixNano": str(end - int(dur_ms * 1e6)), "endTimeUnixNano": str(end),
         "attributes": [attr(k, v) for k, v in attrs]}
    if parent:
        s["parentSpanId"] = parent
    if status:
        s["status"] = {"code": status}
    return s


def push(srv, by_service, headers=None):
    doc = {"resourceSpans": [
        {"resource": {"attributes": [attr("service.name", svc)]},
         "scopeSpans": [{"scope": {"name": "e2e"}, "spans": spans}]}
        for svc, spans in by_service.items()]}
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    r = srv.request("POST", "/v1/traces", json.dumps(doc).encode(), h)
    check_status(r, 200, "spans accepted")


def query(srv, q, headers=None):
    r = srv.get_json("/api/v1/query", {"query": q}, headers=headers)
    if r.get("status") != "success":
        return None
    return {tuple(sorted((k, v) for k, v in s["metric"].items() if k != "__name__")):
            float(s["value"][1]) for s in r["data"]["result"]}


def wait_value(srv, q, want, what, headers=None, timeout=10):
    """Poll q until its single value is want (the writer runs on a timer)."""
    got = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = query(srv, q, headers)
        if got and len(got) == 1 and abs(list(got.values())[0] - want) < 1e-9:
            break
        time.sleep(0.1)
    vals = list(got.values()) if got else []
    check(len(vals) == 1 and abs(vals[0] - want) < 1e-9, what, "%s = %r, want %r" % (q, got, want))
    return got


TID = "%032x"


def main():
    srv = t.Server(FAST, name="spanmetrics").start()
    try:
        red_metrics(srv)
        service_graph(srv)
        many_calls(srv)
        slack(srv)
    finally:
        srv.stop()
    shutdown_write()
    tenants()
    turned_off()
    t.finish()


def red_metrics(srv):
    """Calls, errors and latency per service / span name / kind / status."""
    tid = TID % 0xa1
    fe = [span(tid, "00000000000000a1", "GET /cart", 2, 3),          # 3 ms
          span(tid, "00000000000000a2", "GET /cart", 2, 300, status=2)]  # 300 ms, error
    fe += [span(tid, "00000000000000b%d" % i, "GET /cart", 2, 40) for i in range(8)]  # 40 ms
    push(srv, {"shop-frontend": fe})
    base = '{service="shop-frontend",span_name="GET /cart",span_kind="SPAN_KIND_SERVER"'
    wait_value(srv, 'traces_spanmetrics_calls_total%s,status_code="STATUS_CODE_UNSET"}' % base, 9,
               "9 unset-status server spans counted")
    wait_value(srv, 'traces_spanmetrics_calls_total%s,status_code="STATUS_CODE_ERROR"}' % base, 1,
               "the error span counted under STATUS_CODE_ERROR")
    lat = 'traces_spanmetrics_latency_bucket%s,status_code="STATUS_CODE_UNSET"}' % base
    got = query(srv, lat)
    by_le = {dict(k)["le"]: v for k, v in (got or {}).items()}
    check_eq(by_le.get("0.002"), 0.0, "no span at or under 2 ms")
    check_eq(by_le.get("0.004"), 1.0, "the 3 ms span in the 4 ms bucket")
    check_eq(by_le.get("0.064"), 9.0, "all nine at or under 64 ms (cumulative)")
    check_eq(by_le.get("+Inf"), 9.0, "+Inf bucket = count")
    check_eq(len(by_le), 15, "14 Tempo buckets plus +Inf")
    s = query(srv, 'traces_spanmetrics_latency_sum%s,status_code="STATUS_CODE_UNSET"}' % base)
    check(s and abs(list(s.values())[0] - (0.003 + 8 * 0.04)) < 1e-6, "latency sum in seconds",
          s)
    q = query(srv, 'histogram_quantile(0.5, sum by (le) (traces_spanmetrics_latency_bucket'
                   '{service="shop-frontend"}))')
    v = list(q.values())[0] if q else None
    check(v is not None and 0.032 < v <= 0.064, "median latency in the 32-64 ms bucket", q)
    # Counters move: a second push raises them, and increase() sees it.
    push(srv, {"shop-frontend": [span(tid, "00000000000000c1", "GET /cart", 2, 5)]})
    wait_value(srv, 'traces_spanmetrics_calls_total%s,status_code="STATUS_CODE_UNSET"}' % base, 10,
               "a second push raises the counter")
    inc = query(srv, 'sum(increase(traces_spanmetrics_calls_total{service="shop-frontend"}[1m]))')
    v = list(inc.values())[0] if inc else None
    # The first write of a series is a 0, so even the first push counts
    # towards increase(); extrapolation may stretch it a little.
    check(v is not None and v >= 10.9, "increase() counts every span from the first", inc)
    md = srv.get_json("/api/v1/metadata", {"metric": "traces_spanmetrics_latency"})
    entry = (md.get("data") or {}).get("traces_spanmetrics_latency") or [{}]
    check_eq(entry[0].get("type"), "histogram", "metadata: latency is a histogram")


def service_graph(srv):
    tid = TID % 0xb2
    # Client half first, server half in a later request: still one call.
    push(srv, {"cart": [span(tid, "1000000000000001", "GET /price", 3, 120)]})
    time.sleep(0.4)
    push(srv, {"pricing": [span(tid, "1000000000000002", "GET /price", 2, 100,
                                parent="1000000000000001", status=2)]})
    edge = '{client="cart",server="pricing"}'
    wait_value(srv, "traces_service_graph_request_total" + edge, 1,
               "client and server halves in two requests make one call")
    wait_value(srv, "traces_service_graph_request_failed_total" + edge, 1,
               "an erring server makes the call failed")
    wait_value(srv, "traces_service_graph_request_server_seconds_count" + edge, 1,
               "server seconds observed once")
    b = query(srv, 'traces_service_graph_request_client_seconds_bucket%s' % edge[:-1] +
              ',le="0.2"}')
    check_eq(list((b or {}).values()), [1.0], "client span of 120 ms in the 0.2 s bucket")
    b = query(srv, 'traces_service_graph_request_server_seconds_bucket%s' % edge[:-1] +
              ',le="0.1"}')
    check_eq(list((b or {}).values()), [1.0], "server span of 100 ms in the 0.1 s bucket")
    # The same server half again (a retried push) is not a second call.
    push(srv, {"pricing": [span(tid, "1000000000000002", "GET /price", 2, 100,
                                parent="1000000000000001", status=2)]})
    # A database call, a root server span, a lone client and a lone server.
    tid = TID % 0xb3
    push(srv, {"cart": [
        span(tid, "2000000000000001", "SELECT carts", 3, 2,
             attrs=[("db.system", "postgresql"), ("db.name", "carts")]),
        span(tid, "2000000000000002", "GET /lonely", 3, 2),
        span(tid, "2000000000000004", "GET /queue", 3, 2, attrs=[("peer.service", "queue")]),
    ], "gateway": [span(tid, "2000000000000003", "GET /", 2, 9)],
        "orphan": [span(tid, "2000000000000005", "GET /x", 2, 1, parent="20000000000000ff")]})
    wait_value(srv, 'traces_service_graph_request_total{client="cart",server="carts",'
                    'connection_type="database"}', 1, "db.name makes a database node")
    wait_value(srv, 'traces_service_graph_request_total{client="user",server="gateway",'
                    'connection_type="virtual_node"}', 1, "a root server span is called by user")
    wait_value(srv, 'traces_service_graph_unpaired_spans_total{client="cart"}', 1,
               "a client span whose server never came is unpaired after the wait")
    wait_value(srv, 'traces_service_graph_unpaired_spans_total{server="orphan"}', 1,
               "a server span whose client never came is unpaired after the wait")
    wait_value(srv, 'traces_service_graph_request_total{client="cart",server="queue",'
                    'connection_type="virtual_node"}', 1,
               "an unpaired client with peer.service calls that peer")
    wait_value(srv, "traces_service_graph_request_total" + edge, 1,
               "a retried server half is not a second call")


def many_calls(srv):
    """Thousands of calls whose halves arrive in two requests, the second
    shuffled: every one pairs (the waiting table grows and deletes in any
    order), none is left unpaired."""
    import random
    n = 3000
    tid = TID % 0xbb
    clients = [span(tid, "%016x" % (0x7000000000000000 + i), "call", 3, 1) for i in range(n)]
    servers = [span(tid, "%016x" % (0x7100000000000000 + i), "serve", 2, 1,
                    parent="%016x" % (0x7000000000000000 + i)) for i in range(n)]
    random.Random(7).shuffle(servers)
    push(srv, {"many-client": clients})
    push(srv, {"many-server": servers[:n // 2]})
    push(srv, {"many-server": servers[n // 2:]})
    wait_value(srv, 'traces_service_graph_request_total{client="many-client",server="many-server"}',
               n, "%d calls paired across requests" % n)
    time.sleep(1.5)
    got = query(srv, 'traces_service_graph_unpaired_spans_total{client="many-client"} or '
                     'traces_service_graph_unpaired_spans_total{server="many-server"}')
    check_eq(got, {}, "no half of those calls left unpaired")


def slack(srv):
    """Spans that ended long ago (a backfill) are stored but not counted."""
    tid = TID % 0xc3
    old = time.time_ns() - 3600 * 10**9
    push(srv, {"backfill": [span(tid, "3000000000000001", "old", 2, 5, end_ns=old)]})
    push(srv, {"backfill": [span(tid, "3000000000000002", "new", 2, 5)]})
    wait_value(srv, 'count(traces_spanmetrics_calls_total{service="backfill"})', 1,
               "only the span inside the slack is counted")
    r = srv.get_json("/api/traces/" + tid)
    n = sum(len(ss["spans"]) for rs in r.get("batches", []) for ss in rs["scopeSpans"])
    check_eq(n, 2, "the old span is stored all the same")


def shutdown_write():
    """Counts not yet written when SIGTERM arrives are written on the way
    out."""
    srv = t.Server(["--span-metrics-interval", "1h"], name="spanmetrics-term").start()
    push(srv, {"svc": [span(TID % 0xd4, "4000000000000001", "op", 1, 1)]})
    check_eq(srv.stop(), 0, "clean exit on SIGTERM")
    srv.start()
    try:
        wait_value(srv, 'traces_spanmetrics_calls_total{service="svc"}', 1,
                   "the count survives a restart through the last write")
    finally:
        srv.stop()


def tenants():
    a, b = {"X-Auth-Token": "tokA"}, {"X-Auth-Token": "tokB"}
    srv = t.Server(FAST + ["--auth-token", "tokA=alpha", "--auth-token", "tokB=beta"],
                   name="spanmetrics-tenants").start()
    try:
        push(srv, {"alpha-svc": [span(TID % 0xe5, "5000000000000001", "op", 2, 1)]}, a)
        wait_value(srv, 'traces_spanmetrics_calls_total{service="alpha-svc"}', 1,
                   "tenant alpha sees its span metrics", headers=a)
        time.sleep(0.5)
        got = query(srv, '{__name__=~"traces_.+"}', b)
        check_eq(got, {}, "tenant beta sees none of alpha's span metrics")
    finally:
        srv.stop()


def turned_off():
    srv = t.Server(["--span-metrics=false", "--span-metrics-interval", "200ms"],
                   name="spanmetrics-off").start()
    try:
        push(srv, {"svc": [span(TID % 0xf6, "6000000000000001", "op", 2, 1)]})
        time.sleep(1)
        check_eq(query(srv, '{__name__=~"traces_.+"}'), {}, "--span-metrics=false: no series")
    finally:
        srv.stop()


if __name__ == "__main__":
    t.run_main(main)
