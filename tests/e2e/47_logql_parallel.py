#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: LogQL over many streams, which the engine reads on several
threads (one per online CPU, up to 8), must answer as a single thread does.

Pushes 50 streams (about 4,000 logfmt entries, half of them flushed into
parts and half left in the head, some with structured metadata, and one
timestamp shared by every stream so that ties cross threads), then checks
against answers computed here from the pushed data:
  * log queries in both directions and with several limits, with a line
    filter and with a parser (an output stream per entry: outputs made by
    different threads merged by label set);
  * metric queries: count_over_time, rate, sum by (pushed into the range
    aggregation), quantile_over_time with unwrap and by (), topk;
  * the totalLinesProcessed statistic (summed over the threads);
  * determinism: repeated queries give byte-identical answers, including a
    last_over_time whose window ends on the shared timestamp and a
    pipeline error, which names the first failing series in stream order.

On a single-CPU machine the engine uses one thread and this is a plain
correctness test.
"""
import json
import math
import os
import random
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, check_eq, log  # noqa: E402

NS = 1_000_000_000
MIN = 60 * NS
BASE = 1_700_000_000 * NS          # a whole minute
SPAN = 2 * 3600 * NS               # entries spread over two hours
TIE = BASE + 3600 * NS             # every stream has an entry here
NSTREAMS = 50
LEVELS = ("info", "warn", "error", "debug")
PUSH = "/loki/api/v1/push"


def make_data():
    rnd = random.Random(47)
    entries = []  # dicts: stream, meta, ts, line, parsed, sidx
    for s in range(NSTREAMS):
        stream = {"app": "par", "s": "%02d" % s, "inst": "i-%d" % (s % 7)}
        n = rnd.randint(60, 100)
        stamps = {TIE}
        while len(stamps) < n:
            stamps.add(BASE + rnd.randrange(SPAN // 1000) * 1000)
        for i, ts in enumerate(sorted(stamps)):
            parsed = {"level": rnd.choice(LEVELS), "latency_ms": str(rnd.randint(1, 5000)),
                      "status": str(rnd.choice((200, 200, 200, 404, 500))),
                      "path": "/api/v%d" % rnd.randint(1, 3), "msg": "req %d" % i}
            line = 'level=%s latency_ms=%s status=%s path=%s msg="%s"' % (
                parsed["level"], parsed["latency_ms"], parsed["status"], parsed["path"],
                parsed["msg"])
            meta = {"trace": "t%d" % rnd.randint(0, 2)} if s % 5 == 0 and i % 2 else {}
            entries.append({"stream": stream, "meta": meta, "ts": ts, "line": line,
                             "parsed": parsed})
    # The engine's stream order: label sets sorted.
    rank = {k: i for i, k in enumerate(sorted({fz(e["stream"]) for e in entries}))}
    for e in entries:
        e["sidx"] = rank[fz(e["stream"])]
    return entries


def push(srv, entries):
    by = {}
    for e in entries:
        by.setdefault(e["stream"]["s"], (e["stream"], []))[1].append(e)
    streams = []
    for stream, es in by.values():
        vals = []
        for e in es:
            row = [str(e["ts"]), e["line"]]
            if e["meta"]:
                row.append(e["meta"])
            vals.append(row)
        streams.append({"stream": stream, "values": vals})
    body = json.dumps({"streams": streams}).encode()
    r = srv.request("POST", PUSH, body, {"Content-Type": "application/json"})
    return r.status


def fz(d):
    return tuple(sorted(d.items()))


def get_json(srv, path, params, what):
    r = srv.get(path, {k: str(v) for k, v in params.items()})
    if r.status != 200:
        check(False, what, "HTTP %d: %s" % (r.status, r.body[:500]))
        return None, r
    return r.json(), r


# ---- Log queries ----

def expected_log(entries, backward, limit):
    """Result streams (labels, [[ts, line]...]) sorted by labels: the first
    `limit` entries in the direction, ties between streams broken by the
    stream order (label sets sorted), as the engine does."""
    order = sorted(entries, key=lambda e: ((-e["ts"] if backward else e["ts"]), e["sidx"]))
    out = {}
    for e in order[:limit]:
        out.setdefault(e["key"], []).append([str(e["ts"]), e["line"]])
    return sorted(out.items())


def log_checks(srv, entries):
    for e in entries:
        e["key"] = fz({**e["stream"], **e["meta"]})
    cases = [
        ('{app="par"}', entries, "all"),
        ('{app="par"} |= "error"', [e for e in entries if "error" in e["line"]], "|= error"),
    ]
    parsed = []
    for e in entries:
        if e["parsed"]["level"] == "error":
            p = dict(e)
            p["key"] = fz({**e["stream"], **e["meta"], **e["parsed"]})
            parsed.append(p)
    cases.append(('{app="par"} | logfmt | level="error"', parsed, "logfmt, level=error"))
    for query, sel, name in cases:
        for backward in (True, False):
            for limit in (1, 7, 100, 1000, 5000):
                d = "backward" if backward else "forward"
                j, _ = get_json(srv, "/loki/api/v1/query_range", {
                    "query": query, "start": BASE, "end": BASE + SPAN + NS, "limit": limit,
                    "direction": d}, name)
                if j is None:
                    continue
                got = sorted((fz(s["stream"]), s["values"]) for s in j["data"]["result"])
                want = expected_log(sel, backward, limit)
                check_eq(got, want, "%s, %s, limit %d: %d streams, %d entries" % (
                    name, d, limit, len(want), sum(len(v) for _, v in want)))


# ---- Metric queries ----

def steps(start, end, step):
    return list(range(start, end + 1, step))


def window(entries, end, rng):
    return [e for e in entries if end - rng < e["ts"] <= end]


def quantile(q, values):
    v = sorted(values)
    rank = q * (len(v) - 1)
    lo = max(0, math.floor(rank))
    hi = min(len(v) - 1, lo + 1)
    w = rank - math.floor(rank)
    return v[lo] * (1 - w) + v[hi] * w


def expected_matrix(entries, start, end, step, rng, key_fn, value_fn):
    """{series key: {step ts (ns): value}} for steps with samples."""
    groups = {}
    for e in entries:
        groups.setdefault(key_fn(e), []).append(e)
    out = {}
    for key, es in groups.items():
        vals = {}
        for t0 in steps(start, end, step):
            w = window(es, t0, rng)
            if w:
                vals[t0] = value_fn(w)
        if vals:
            out[key] = vals
    return out


def parse_matrix(j):
    out = {}
    for s in j["data"]["result"]:
        out[fz(s["metric"])] = {int(round(float(v[0]) * 1000)) * 1_000_000: float(v[1])
                                for v in s["values"]}
    return out


def close(a, b):
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def same_matrix(got, want):
    if set(got) != set(want):
        return False
    for k in want:
        if set(got[k]) != set(want[k]):
            return False
        if not all(close(got[k][t0], want[k][t0]) for t0 in want[k]):
            return False
    return True


def metric_checks(srv, entries):
    start, end, step = BASE + 5 * MIN, BASE + SPAN, 5 * MIN
    rng = 5 * MIN
    series_key = lambda e: fz({**e["stream"], **e["meta"]})  # noqa: E731
    cases = [
        ('count_over_time({app="par"}[5m])', series_key, len),
        ('rate({app="par"}[5m])', series_key, lambda w: len(w) / 300.0),
        ('sum by (level) (count_over_time({app="par"} | logfmt [5m]))',
         lambda e: fz({"level": e["parsed"]["level"]}), len),
        ('sum by (inst) (count_over_time({app="par"} |= "status=500" [5m]))',
         lambda e: fz({"inst": e["stream"]["inst"]}), len),
        ('quantile_over_time(0.9, {app="par"} | logfmt | unwrap latency_ms [5m]) by (inst)',
         lambda e: fz({"inst": e["stream"]["inst"]}),
         lambda w: quantile(0.9, [float(e["parsed"]["latency_ms"]) for e in w])),
        ('sum by (s) (sum_over_time({app="par"} | logfmt | unwrap latency_ms [5m]))',
         lambda e: fz({"s": e["stream"]["s"]}),
         lambda w: sum(float(e["parsed"]["latency_ms"]) for e in w)),
    ]
    for query, key_fn, value_fn in cases:
        sel = entries
        if "status=500" in query:
            sel = [e for e in entries if "status=500" in e["line"]]
        j, _ = get_json(srv, "/loki/api/v1/query_range", {
            "query": query, "start": start, "end": end, "step": "300"}, query)
        if j is None:
            continue
        got = parse_matrix(j)
        want = expected_matrix(sel, start, end, step, rng, key_fn, value_fn)
        ok = same_matrix(got, want)
        detail = None
        if not ok:
            detail = "series want %d got %d; first differing: %s" % (
                len(want), len(got),
                next(((k, want.get(k), got.get(k)) for k in sorted(set(want) | set(got))
                      if not same_matrix({k: got.get(k, {})}, {k: want.get(k, {})})), None))
        check(ok, "%s: %d series over %d steps" % (query, len(want), len(steps(start, end, step))),
              detail)
    # topk at one time: ties make the chosen series a matter of order, so
    # check the values are the top ones and each is its series' own.
    at = BASE + 90 * MIN
    counts = {}
    for e in window(entries, at, 10 * MIN):
        counts[e["stream"]["s"]] = counts.get(e["stream"]["s"], 0) + 1
    j, _ = get_json(srv, "/loki/api/v1/query", {
        "query": 'topk(3, sum by (s) (count_over_time({app="par"}[10m])))', "time": at}, "topk")
    if j is not None:
        got = [(s["metric"]["s"], float(s["value"][1])) for s in j["data"]["result"]]
        top = sorted(counts.values(), reverse=True)[:3]
        check(sorted((v for _, v in got), reverse=True) == top and
              all(counts[s] == v for s, v in got),
              "topk(3) over 50 streams: the three largest counts", "want values %s, got %s" %
              (top, got))
    # Lines processed, summed over the threads: a window that covers
    # everything reads every entry once.
    j, _ = get_json(srv, "/loki/api/v1/query", {
        "query": 'sum(count_over_time({app="par"}[3h]))', "time": BASE + SPAN + NS}, "count all")
    if j is not None:
        check_eq(float(j["data"]["result"][0]["value"][1]), float(len(entries)),
                 "count over all 50 streams")
        check_eq(j["data"]["stats"]["summary"]["totalLinesProcessed"], len(entries),
                 "totalLinesProcessed is the sum over the threads")


def determinism_checks(srv, entries):
    """Answers whose content depends on the order samples and series meet
    in must not depend on which thread read which stream."""
    queries = [
        ("/loki/api/v1/query", {
            "query": 'last_over_time({app="par"} | logfmt | unwrap latency_ms [1h]) by (app)',
            "time": TIE}),
        ("/loki/api/v1/query", {
            "query": 'first_over_time({app="par"} | logfmt | unwrap latency_ms [1h]) by (app)',
            "time": TIE + MIN}),
        ("/loki/api/v1/query_range", {
            "query": '{app="par"}', "start": TIE, "end": TIE + 1, "limit": 17,
            "direction": "forward"}),
    ]
    for path, params in queries:
        bodies = set()
        for _ in range(6):
            j, _ = get_json(srv, path, params, params["query"])
            if j is None:
                break
            j["data"].pop("stats", None)
            bodies.add(json.dumps(j["data"], sort_keys=True))
        check_eq(len(bodies), 1, "6 runs give one answer: %s" % params["query"])
    tie_lat = {float(e["parsed"]["latency_ms"]) for e in entries if e["ts"] == TIE}
    j, _ = get_json(srv, "/loki/api/v1/query", queries[0][1], "last_over_time at the tie")
    if j is not None:
        check(float(j["data"]["result"][0]["value"][1]) in tie_lat,
              "last_over_time at the shared timestamp is one of its samples")
    # The entries at the shared timestamp, 17 of 50: those of the first
    # streams in label order.
    j, _ = get_json(srv, "/loki/api/v1/query_range", queries[2][1], "tie limit")
    if j is not None:
        got = sorted(s["stream"]["s"] for s in j["data"]["result"])
        want = sorted(e["stream"]["s"] for e in entries if e["ts"] == TIE and e["sidx"] < 17)
        check_eq(got, want, "17 of 50 entries with one timestamp: those of the first streams")
    # A pipeline error names the first failing series in the serial order:
    # the first entry of the first stream in the window.
    msgs = set()
    for _ in range(6):
        r = srv.get("/loki/api/v1/query", {
            "query": 'sum_over_time({app="par"} | logfmt | unwrap msg [3h])',
            "time": str(BASE + SPAN + NS)})
        msgs.add((r.status, r.body))
    first = min((e for e in entries if e["sidx"] == 0), key=lambda e: e["ts"])
    status, body = next(iter(msgs))
    check_eq(len(msgs), 1, "6 runs give one pipeline error")
    check(status == 400 and ('s="%s"' % first["stream"]["s"]).encode() in body and
          b'msg=' not in body and
          ('latency_ms="%s"' % first["parsed"]["latency_ms"]).encode() in body,
          "the pipeline error names stream 00's first series", body[:600])


def main():
    srv = t.Server(name="logql-par", retention="0").start()
    entries = make_data()
    half = [e for e in entries if e["ts"] < BASE + SPAN // 2]
    rest = [e for e in entries if e["ts"] >= BASE + SPAN // 2]
    check_eq(push(srv, half), 204, "push the first hour of 50 streams")
    r = srv.request("POST", "/api/v1/admin/flush")
    check(r.status in (200, 204), "flush into parts")
    check_eq(push(srv, rest), 204, "push the second hour (stays in the head)")
    log("%d entries in %d streams" % (len(entries), NSTREAMS))
    log_checks(srv, entries)
    metric_checks(srv, entries)
    determinism_checks(srv, entries)
    check_eq(srv.stop(), 0, "server exits 0 after SIGTERM")
    check_eq(srv.sanitizer_reports(), [], "no sanitizer reports")


if __name__ == "__main__":
    t.run_main(main)
