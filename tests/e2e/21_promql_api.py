#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the PromQL query API's parameters, limits and error shapes.

A server started with a small --query-max-samples must refuse a query that
would hold more samples with 422 errorType "execution", and still answer
small ones. query_range must reject a bad step, end before start and more
than 11,000 points per series with 400 bad_data and Prometheus' wording;
a parse error names its position. GET and form POST give the same answer
under both prefixes; the `limit` parameter truncates with a warning;
format_query and parse_query answer; a native histogram answers with
the "histogram" key and its buckets; tenants only see their own data
through PromQL too. Many concurrent queries with --query-max-concurrency 1
all succeed (they wait for the slot), and the server shuts down cleanly.
"""
import os
import sys
import threading

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, check_eq, check_status, log  # noqa: E402

T0 = 1_700_000_000_000  # ms
STEP = 15_000


def load(srv, headers=None, prefix="m"):
    series = []
    for i in range(40):
        labels = [("__name__", prefix + "_total"), ("i", "%02d" % i), ("job", "j%d" % (i % 4))]
        samples = [(T0 + k * STEP, float(k * (i + 1))) for k in range(241)]
        series.append((labels, samples))
    r = srv.remote_write(series, headers=headers)
    check_status(r, (200, 204), "remote write of 40 series x 241 samples")


def query(srv, q, t=None, headers=None, post=False, prefix="/api/v1", extra=None):
    params = {"query": q, "time": "%.3f" % ((t if t is not None else T0 + 3_600_000) / 1000)}
    params.update(extra or {})
    if post:
        return srv.post_form(prefix + "/query", params, headers=headers)
    return srv.get(prefix + "/query", params, headers=headers)


def query_range(srv, q, start, end, step, headers=None):
    return srv.get("/api/v1/query_range", {"query": q, "start": start, "end": end, "step": step},
                   headers=headers)


def main():
    srv = t.Server(["--query-max-samples", "2000", "--query-max-concurrency", "1",
                    "--auth-token", "tokA=alpha", "--auth-token", "tokB=beta"], name="promql-api")
    A = {"X-Auth-Token": "tokA"}
    B = {"X-Auth-Token": "tokB"}
    try:
        srv.start()
        load(srv, A, "m")
        load(srv, B, "other")

        # Answers: GET and POST, both prefixes.
        r = query(srv, "sum(m_total)", headers=A)
        check_status(r, 200, "instant sum")
        j = r.json()
        check_eq(j["data"]["resultType"], "vector", "sum is a vector")
        want = sum(240.0 * (i + 1) for i in range(40))
        check_eq(j["data"]["result"][0]["value"], [T0 / 1000 + 3600, "%g" % want],
                 "sum of the last samples at t0+1h, value as a string")
        for post in (False, True):
            for prefix in ("/api/v1", "/prometheus/api/v1"):
                r2 = query(srv, "sum(m_total)", headers=A, post=post, prefix=prefix)
                check_eq(r2.json(), j, "same answer (post=%s, %s)" % (post, prefix))

        # Tenants see only their own series through PromQL.
        check_eq(query(srv, "count(m_total)", headers=B).json()["data"]["result"], [],
                 "tenant beta does not see alpha's m_total")
        check_eq(query(srv, "count(other_total)", headers=B).json()["data"]["result"][0]["value"][1],
                 "40", "tenant beta sees its own 40 series")
        check_status(query(srv, "up"), 401, "no token: 401")

        # Sample limit: 40 series x 41 points in a 10m range = 1640 < 2000 passes;
        # a 30m range holds 40 x 121 = 4840 and fails.
        check_status(query(srv, "count_over_time(m_total[10m])", headers=A), 200,
                     "query under --query-max-samples")
        r = query(srv, "m_total[30m]", headers=A)
        check_status(r, 422, "query over --query-max-samples")
        check_eq(r.json().get("errorType"), "execution", "errorType execution")
        check("too many samples" in r.json().get("error", ""), "error names the sample limit",
              r.json())
        r = query_range(srv, "m_total", T0 / 1000, T0 / 1000 + 3600, "15s", headers=A)
        check_status(r, 422, "range query holding 40 x 241 points hits the limit")

        # query_range parameter errors (400 bad_data, Prometheus' wording).
        for step, what in (("0", "zero step"), ("-5", "negative step"), ("abc", "bad step")):
            r = query_range(srv, "m_total", T0 / 1000, T0 / 1000 + 60, step, headers=A)
            check_status(r, 400, "query_range with %s" % what)
            check_eq(r.json().get("errorType"), "bad_data", "%s: bad_data" % what)
        r = query_range(srv, "m_total", T0 / 1000 + 60, T0 / 1000, "15s", headers=A)
        check_status(r, 400, "end before start")
        r = query_range(srv, "m_total", T0 / 1000, T0 / 1000 + 11001, "1", headers=A)
        check_status(r, 400, "11,001 points per series")
        check("11,000 points" in r.json().get("error", ""), "error names the 11,000 points",
              r.json())
        r = query(srv, "sum(m_total", headers=A)
        check_status(r, 400, "parse error")
        check_eq(r.json().get("errorType"), "bad_data", "parse error is bad_data")
        check("parse error" in r.json().get("error", "") and "1:" in r.json().get("error", ""),
              "parse error names line:col", r.json())
        r = query(srv, "m_total", headers=A, extra={"time": "yesterday"})
        check_status(r, 400, "bad time parameter")

        # limit truncates with a warning.
        r = query(srv, "m_total", headers=A, extra={"limit": "5"})
        check_status(r, 200, "query with limit=5")
        check_eq(len(r.json()["data"]["result"]), 5, "limit=5 returns 5 series")
        check("results truncated due to limit" in r.json().get("warnings", []),
              "limit adds the truncation warning", r.json())

        # format_query / parse_query.
        r = srv.get("/api/v1/format_query", {"query": "sum(rate(m_total{job=~'j1|j2'}[5m]))by(job)"},
                    headers=A)
        check_eq(r.json().get("data"), 'sum by (job) (rate(m_total{job=~"j1|j2"}[5m]))',
                 "format_query prints the canonical form")
        r = srv.get("/api/v1/parse_query", {"query": "m_total + 1"}, headers=A)
        check_eq(r.json()["data"].get("type"), "binaryExpr", "parse_query gives the AST")

        # A native histogram answers with Prometheus' "histogram" key: count,
        # sum and the non-empty buckets as [rule, lower, upper, count]
        # (zero bucket closed on both sides, positive ones open on the left).
        hist = t.pb_histogram(T0, 6, 1, 10.0, 0, 0.001, [(0, 2)], [2, 1])
        r = srv.remote_write([([("__name__", "lat_seconds"), ("job", "h")], [], [hist])],
                             headers=A)
        check_status(r, (200, 204), "remote write of a native histogram")
        r = query(srv, "lat_seconds", t=T0, headers=A)
        res = r.json()["data"]["result"]
        check_eq(res, [{"metric": {"__name__": "lat_seconds", "job": "h"},
                        "histogram": [T0 / 1000, {"count": "6", "sum": "10", "buckets": [
                            [3, "-0.001", "0.001", "1"], [0, "0.5", "1", "2"],
                            [0, "1", "2", "3"]]}]}],
                 "native histogram in the query answer")
        r = query(srv, 'count_values("h", lat_seconds)', t=T0, headers=A)
        check_eq(r.json()["data"]["result"][0]["metric"],
                 {"h": "{count:6, sum:10, [-0.001,0.001]:1, (0.5,1]:2, (1,2]:3}"},
                 "count_values labels a histogram with its text form")

        # Concurrency 1: eight queries at once all succeed (they queue).
        results = []

        def worker():
            results.append(query(srv, "sum by (job) (rate(m_total[5m]))", headers=A).status)
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        check_eq(results, [200] * 8, "8 concurrent queries with --query-max-concurrency 1")

        check_eq(srv.stop(), 0, "exits 0 after SIGTERM")
        check_eq(srv.sanitizer_reports(), [], "no sanitizer reports")
    finally:
        srv.kill9()


if __name__ == "__main__":
    t.run_main(main)
