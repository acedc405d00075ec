# SPDX-License-Identifier: Apache-2.0
"""OTLP/HTTP receivers for metrics and logs: JSON bodies (plain and gzip)
built from the OTLP examples in ../shared/conformance/otlp-json and from
generated data; answers in OTLP's shapes (partial success, google.rpc.Status
errors, 415 for unknown content types); the data read back through PromQL
and LogQL with the names the OpenTelemetry-to-Prometheus and Loki rules
give."""
import sys

sys.dont_write_bytecode = True

import copy  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import sxtest as t  # noqa: E402
from sxtest import check, check_eq, check_status  # noqa: E402

SHARED = os.environ.get("SX_SHARED", os.path.join(os.path.dirname(__file__), "../../../shared"))
EXAMPLES = os.path.join(SHARED, "conformance", "otlp-json")


def post(srv, path, doc, ctype="application/json", encoding=None):
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    headers = {"Content-Type": ctype}
    if encoding == "gzip":
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return srv.request("POST", path, body, headers)


def cumulative_metrics(now_ns):
    """A counter, a gauge and a histogram, cumulative, for service shop/api."""
    start = str(now_ns - 60 * 10**9)
    ts = str(now_ns)
    res = {"attributes": [
        {"key": "service.name", "value": {"stringValue": "api"}},
        {"key": "service.namespace", "value": {"stringValue": "shop"}},
        {"key": "service.instance.id", "value": {"stringValue": "pod-1"}},
        {"key": "host.arch", "value": {"stringValue": "amd64"}},
    ]}
    metrics = [
        {"name": "http.server.requests", "unit": "1", "sum": {
            "aggregationTemporality": 2, "isMonotonic": True,
            "dataPoints": [{"startTimeUnixNano": start, "timeUnixNano": ts, "asInt": "42",
                            "attributes": [{"key": "http.route",
                                            "value": {"stringValue": "/cart"}}]}]}},
        {"name": "queue.size", "unit": "By", "gauge": {
            "dataPoints": [{"timeUnixNano": ts, "asDouble": 12.5}]}},
        {"name": "http.server.duration", "unit": "ms", "histogram": {
            "aggregationTemporality": 2,
            "dataPoints": [{"startTimeUnixNano": start, "timeUnixNano": ts, "count": "6",
                            "sum": 61.5, "bucketCounts": ["1", "2", "3"],
                            "explicitBounds": [5, 10]}]}},
    ]
    return {"resourceMetrics": [{"resource": res, "scopeMetrics": [
        {"scope": {"name": "e2e"}, "metrics": metrics}]}]}


def promql(srv, q, at):
    r = srv.get_json("/api/v1/query", {"query": q, "time": "%.3f" % at})
    return {json.dumps(s["metric"], sort_keys=True): s["value"][1] for s in r["data"]["result"]}


def main():
    srv = t.Server(name="otlp", retention="0").start()
    try:
        # ---- logs ----
        logs = json.load(open(os.path.join(EXAMPLES, "logs.json")))
        r = post(srv, "/v1/logs", logs)
        check_status(r, 200, "POST /v1/logs (the OTLP example)")
        check_eq(r.json(), {}, "full success is an empty ExportLogsServiceResponse")
        r = post(srv, "/v1/logs", logs, encoding="gzip")
        check_status(r, 200, "POST /v1/logs with Content-Encoding: gzip")
        q = srv.get_json("/loki/api/v1/query_range",
                         {"query": '{service_name="my.service"}', "start": "0", "limit": "10",
                          "direction": "forward"})
        res = q["data"]["result"]
        check_eq(len(res), 1, "the example's records are one stream")
        if res:
            st = res[0]["stream"]
            check_eq(st.get("service_name"), "my.service", "service.name becomes service_name")
            check_eq(st.get("trace_id"), "5b8efff798038103d269b633813fc60c",
                     "trace_id as lowercase hex structured metadata")
            check_eq(st.get("severity_text"), "Information", "severity_text kept")
            check_eq(res[0]["values"][0][1], "Example log record", "the body is the line")
            check_eq(res[0]["values"][0][0], "1544712660300000000", "timeUnixNano is the time")
        q = srv.get_json("/loki/api/v1/query_range",
                         {"query": '{service_name="my.service"} | severity_number >= 9',
                          "start": "0"})
        check_eq(sum(len(s["values"]) for s in q["data"]["result"]), 1,
                 "LogQL filters on the severity metadata (the second push repeats the first: "
                 "one entry, as Loki reads retried pushes)")

        before = srv.get_json("/loki/api/v1/query_range",
                              {"query": '{service_name="my.service"}', "start": "0"})
        n_before = sum(len(s["values"]) for s in before["data"]["result"])
        check_eq(n_before, 1, "two pushes of the same record read back once")

        # ---- errors ----
        r = post(srv, "/v1/logs", b"x", ctype="text/plain")
        check_status(r, 415, "unknown content type: 415")
        check_eq(r.json().get("code"), 3, "415 body is a google.rpc.Status")
        bad = copy.deepcopy(logs)
        bad["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] = "xyz"
        r = post(srv, "/v1/logs", bad)
        check_status(r, 400, "a malformed trace id: 400")
        check("traceId" in r.json().get("message", ""), "the 400 names the field",
              r.body[:300])
        r = post(srv, "/v1/metrics", b"{not json")
        check_status(r, 400, "undecodable JSON: 400")
        r = post(srv, "/v1/logs", b"\x0a\x05\x0a\x03\x0a\x01", ctype="application/x-protobuf")
        check_status(r, 400, "truncated protobuf: 400")
        check((r.header("Content-Type") or "").startswith("application/x-protobuf"),
              "a protobuf request gets a protobuf error body", r.headers)

        # ---- metrics ----
        delta = json.load(open(os.path.join(EXAMPLES, "metrics.json")))
        r = post(srv, "/v1/metrics", delta)
        check_status(r, 200, "POST /v1/metrics (the example, delta temporality)")
        ps = r.json().get("partialSuccess", {})
        check_eq(ps.get("rejectedDataPoints"), "3", "delta points rejected as partial success")
        check("delta" in ps.get("errorMessage", ""), "the partial success says why", ps)
        now = time.time()
        r = post(srv, "/v1/metrics", cumulative_metrics(int(now * 1e9)))
        check_status(r, 200, "POST /v1/metrics (cumulative counter, gauge, histogram)")
        check_eq(r.json(), {}, "nothing rejected")
        at = now + 1
        got = promql(srv, "http_server_requests_total", at)
        want = json.dumps({"__name__": "http_server_requests_total", "http_route": "/cart",
                           "instance": "pod-1", "job": "shop/api"}, sort_keys=True)
        check_eq(got, {want: "42"}, "monotonic sum: _total, job = namespace/name, instance")
        got = promql(srv, "queue_size_bytes", at)
        check_eq(list(got.values()), ["12.5"], "gauge with unit By: _bytes suffix")
        got = promql(srv, 'http_server_duration_milliseconds_bucket{le="10"}', at)
        check_eq(list(got.values()), ["3"], "histogram buckets are cumulative (le=10: 1+2)")
        got = promql(srv, 'http_server_duration_milliseconds_bucket{le="+Inf"}', at)
        check_eq(list(got.values()), ["6"], "histogram +Inf bucket is the count")
        got = promql(srv, "http_server_duration_milliseconds_sum", at)
        check_eq(list(got.values()), ["61.5"], "histogram _sum")
        got = promql(srv, "target_info", at)
        check_eq(len(got), 1, "one target_info for the resource")
        if got:
            labels = json.loads(next(iter(got)))
            check_eq(labels.get("host_arch"), "amd64", "target_info carries the other resource attributes")

        # ---- durability ----
        srv.kill9()
        srv.start()
        got = promql(srv, "http_server_requests_total", at)
        check_eq(list(got.values()), ["42"], "metrics survive kill -9")
        q = srv.get_json("/loki/api/v1/query_range",
                         {"query": '{service_name="my.service"}', "start": "0"})
        check_eq(sum(len(s["values"]) for s in q["data"]["result"]), n_before,
                 "logs survive kill -9")
        check_eq(srv.stop(), 0, "SIGTERM: server exits 0")
        check_eq(srv.sanitizer_reports(), [], "no sanitizer reports in the server log")
    finally:
        srv.kill9()
    full_disk()


def full_disk():
    """Below --min-free-disk the receivers refuse with 503 and Retry-After
    (OTLP's retryable answer) and store nothing."""
    srv = t.Server(["--min-free-disk", "1000TB"], name="otlp-full", retention="0").start()
    try:
        logs = json.load(open(os.path.join(EXAMPLES, "logs.json")))
        trace = json.load(open(os.path.join(EXAMPLES, "trace.json")))
        for path, doc in (("/v1/logs", logs), ("/v1/metrics", cumulative_metrics(int(time.time() * 1e9))),
                          ("/v1/traces", trace)):
            r = post(srv, path, doc)
            check_status(r, 503, "%s with the disk full: 503" % path)
            check_eq(r.header("Retry-After"), "5", "%s with the disk full: Retry-After" % path)
            check_eq(r.json().get("code"), 14, "%s with the disk full: UNAVAILABLE status" % path)
        q = srv.get_json("/loki/api/v1/query_range", {"query": '{service_name=~".+"}', "start": "0"})
        check_eq(q["data"]["result"], [], "nothing stored while the disk is full")
        tid = trace["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
        check_status(srv.get("/api/traces/" + tid), 404, "no span stored while the disk is full")
    finally:
        srv.kill9()


if __name__ == "__main__":
    t.run_main(main)
