#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the Loki endpoints Grafana Logs Drilldown and the logs-volume
panel call, against data pushed here with known sizes, values and times.

  * /loki/api/v1/index/volume and /index/volume_range: bytes per series of
    the selector's label names, per targetLabels, per label
    (aggregateBy=labels), everything for {}; limit, the ordering (biggest
    first), Loki's buckets (aligned to step, stamped with their end minus
    1 ms, the last with end) and the vector/matrix choice; every number is
    the sum of the pushed line lengths in bytes;
  * /detected_labels: cardinalities, and which labels Loki leaves out (all
    values numbers or UUIDs) or keeps (0/1 booleans, pod);
  * /detected_fields and /detected_field/<name>/values: logfmt and JSON
    fields and structured metadata with their types, cardinalities and
    parsers; line_limit, limit/field_limit, a query with a line filter and
    with a parser, the _extracted suffix, byte values as Loki prints them;
  * /patterns: the patterns of three families of lines and their counts
    per step; each pattern, used as a `|>` filter in a metric query, must
    match exactly the lines it counts;
  * errors (400 with Loki's text), the defaults (start = end - 1h), the
    same answers after a flush (from parts), and tenants kept apart.
"""
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, check_eq, check_in, check_status, log  # noqa: E402

NS = 1_000_000_000
MS = 1_000_000
MIN = 60 * NS
API = "/loki/api/v1"

NOW = time.time_ns()
# Everything lies in the last hour (the default range), in separate windows.
T0 = (NOW - 45 * MIN) // MIN * MIN   # volume data: [T0, T0 + 5m)
T_DL = T0 + 10 * MIN                 # detected labels
T_DF = T0 + 12 * MIN                 # detected fields
T_PAT = T0 + 14 * MIN                # patterns: 4 minutes

# Per tenant header: what was pushed, as (labels, ts, line, meta).
PUSHED = []


def push(srv, streams, headers=None, what="push"):
    """streams: list of (labels, [(ts, line, meta or None)])."""
    body = {"streams": []}
    for labels, values in streams:
        vals = []
        for ts, line, meta in values:
            v = [str(ts), line]
            if meta:
                v.append(meta)
            vals.append(v)
            if headers is None:
                PUSHED.append((dict(labels), ts, line, dict(meta or {})))
        body["streams"].append({"stream": labels, "values": vals})
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    r = srv.request("POST", API + "/push", json.dumps(body).encode(), h)
    check_status(r, 204, what)


def get(srv, path, params, headers=None):
    return srv.get(API + path, params, headers)


def get_json(srv, path, params, what, headers=None):
    r = get(srv, path, params, headers)
    if not check_status(r, 200, what):
        return None
    return r.json()


def nbytes(line):
    return len(line.encode("utf-8"))


# ---- Volume ----

VOL_STREAMS = [
    {"app": "shop", "env": "prod", "team": "a"},
    {"app": "shop", "env": "dev", "team": "a"},
    {"app": "blog", "env": "prod", "team": "b"},
    {"app": "blog", "env": "dev", "team": "b"},
]


def vol_lines(k):
    """Stream k's entries: 5 minutes, several lines a minute, lengths that
    differ by stream; plus one line before T0 and one after T0 + 5m."""
    out = []
    for m in range(5):
        for j in range(3 + k):
            ts = T0 + m * MIN + j * 7 * NS + k * MS
            pad = "p" * ((m * 11 + j * 5 + k * 13) % 41)
            word = "café" if k == 2 else "cafe"
            out.append((ts, "%s-%d req %d %s %s" % (VOL_STREAMS[k]["app"], k, j, word, pad), None))
    out.append((T0 - NS, "before the window %d" % k, None))
    out.append((T0 + 5 * MIN + NS, "after the window %d" % k, None))
    return out


def push_volume(srv):
    push(srv, [(VOL_STREAMS[k], vol_lines(k)) for k in range(4)], what="push the volume streams")


def vol_sum(pred, lo, hi):
    """Bytes of the pushed volume lines in [lo, hi] whose stream passes pred."""
    s = 0
    for labels, ts, line, _ in PUSHED:
        if labels in VOL_STREAMS and pred(labels) and lo <= ts <= hi:
            s += nbytes(line)
    return s


def result_map(res):
    """{frozen metric: value str} and the order of the metrics."""
    out, order = {}, []
    for item in res["data"]["result"]:
        key = tuple(sorted(item["metric"].items()))
        out[key] = item.get("value") or item.get("values")
        order.append(key)
    return out, order


def key(**kw):
    return tuple(sorted(kw.items()))


def check_vector(res, want, end_ns, what):
    """want: {key: bytes}; every value stamped end (ms), biggest first."""
    if res is None:
        return
    check_eq(res.get("status"), "success", what + ": status success")
    check("warnings" not in res, what + ": complete (no warnings)")
    check_eq(res["data"]["resultType"], "vector", what + ": resultType vector")
    got, order = result_map(res)
    check_eq({k: v[1] for k, v in got.items()}, {k: str(v) for k, v in want.items()},
             what + ": bytes per series")
    check_eq({v[0] for v in got.values()} if got else set(),
             {end_ns // MS / 1000} if want else set(), what + ": stamped with end")
    ranked = sorted(want.items(), key=lambda kv: (-kv[1], kv[0]))
    check_eq(order, [k for k, _ in ranked], what + ": biggest first")


def volume_checks(srv, when):
    log("# volume (%s)" % when)
    lo, hi = T0, T0 + 5 * MIN
    win = {"start": str(lo), "end": str(hi)}

    res = get_json(srv, "/index/volume", dict(win, query='{app="shop", env=~".+"}'),
                   "volume {app=shop, env=~.+}")
    want = {key(app="shop", env=e): vol_sum(lambda l, e=e: l["app"] == "shop" and l["env"] == e,
                                            lo, hi)
            for e in ("prod", "dev")}
    check_vector(res, want, hi, "volume by the selector's names (%s)" % when)

    res = get_json(srv, "/index/volume", dict(win, query='{app=~"shop|blog"}', targetLabels="team"),
                   "volume targetLabels=team")
    want = {key(team=tm): vol_sum(lambda l, tm=tm: l["team"] == tm, lo, hi) for tm in ("a", "b")}
    check_vector(res, want, hi, "volume by targetLabels=team (%s)" % when)

    res = get_json(srv, "/index/volume", dict(win, query='{team="b", env!="dev"}',
                                              targetLabels="app,team"),
                   "volume targetLabels=app,team with a negative matcher")
    want = {key(app="blog", team="b"): vol_sum(lambda l: l["team"] == "b" and l["env"] != "dev",
                                               lo, hi)}
    check_vector(res, want, hi, "volume: the negated env is aggregated away (%s)" % when)

    res = get_json(srv, "/index/volume", dict(win, query='{app=~"shop|blog"}', aggregateBy="labels"),
                   "volume aggregateBy=labels")
    check_vector(res, {key(app=""): vol_sum(lambda l: True, lo, hi)}, hi,
                 "volume per label name (%s)" % when)

    res = get_json(srv, "/index/volume", dict(win, query='{app=~"shop|blog"}', aggregateBy="labels",
                                              targetLabels="env,team"),
                   "volume aggregateBy=labels targetLabels=env,team")
    total = vol_sum(lambda l: True, lo, hi)
    check_vector(res, {key(env=""): total, key(team=""): total}, hi,
                 "volume per target label name (%s)" % when)

    res = get_json(srv, "/index/volume", dict(win, query="{}"), "volume {}")
    want = {tuple(sorted(s.items())): vol_sum(lambda l, s=s: l == s, lo, hi) for s in VOL_STREAMS}
    check_vector(res, want, hi, "volume {} has every label (%s)" % when)

    res = get_json(srv, "/index/volume", dict(win, query="{}", limit="1"), "volume limit=1")
    best = max(want.items(), key=lambda kv: kv[1])
    check_vector(res, dict([best]), hi, "volume limit=1 keeps the biggest series (%s)" % when)

    # The default range: the last hour, which holds the lines outside the window too.
    r = get(srv, "/index/volume", {"query": '{app="shop"}'})
    check_status(r, 200, "volume without start/end")
    if r.status == 200:
        got, _ = result_map(r.json())
        allshop = sum(nbytes(line) for labels, _, line, _ in PUSHED
                      if labels in VOL_STREAMS and labels["app"] == "shop")
        check_eq({k: v[1] for k, v in got.items()}, {key(app="shop"): str(allshop)},
                 "volume defaults to the last hour (%s)" % when)

    # volume_range: buckets of step aligned to multiples of step, the first
    # from start, each stamped with its end - 1 ms, the last with end.
    step = 60 * NS
    rlo, rhi = T0 + 30 * NS, T0 + 4 * MIN + 30 * NS
    edges = [rlo] + [T0 + m * MIN for m in range(1, 5)] + [rhi]
    buckets = []
    for i in range(5):
        b_lo, b_end = edges[i], edges[i + 1]
        last = i == 4
        stamp = rhi if last else b_end - MS
        buckets.append((b_lo, b_end if last else b_end - 1, stamp))
    res = get_json(srv, "/index/volume_range",
                   {"query": '{app=~"shop|blog"}', "targetLabels": "app", "start": str(rlo),
                    "end": str(rhi), "step": "60s"}, "volume_range step=60s")
    if res is not None:
        check_eq(res["data"]["resultType"], "matrix", "volume_range: matrix (%s)" % when)
        got, order = result_map(res)
        want = {}
        for app in ("shop", "blog"):
            pts = []
            for b_lo, b_hi, stamp in buckets:
                v = sum(nbytes(line) for labels, ts, line, _ in PUSHED
                        if labels in VOL_STREAMS and labels["app"] == app and b_lo <= ts <= b_hi)
                if v:
                    pts.append([stamp // MS / 1000, str(v)])
            want[key(app=app)] = pts
        check_eq(got, want, "volume_range: bytes per bucket, Loki's bucket stamps (%s)" % when)
        first = {k: int(v[0][1]) for k, v in want.items()}
        check_eq(order, sorted(first, key=lambda k: (-first[k], k)),
                 "volume_range: ordered by the first sample, biggest first (%s)" % when)

    res = get_json(srv, "/index/volume_range",
                   {"query": '{app=~"shop|blog"}', "start": str(rlo), "end": str(rhi),
                    "step": "60s", "limit": "1"}, "volume_range limit=1")
    if res is not None:
        got, _ = result_map(res)
        want = {}
        for b_lo, b_hi, stamp in buckets:
            per = {}
            for labels, ts, line, _ in PUSHED:
                if labels in VOL_STREAMS and b_lo <= ts <= b_hi:
                    per[labels["app"]] = per.get(labels["app"], 0) + nbytes(line)
            app, v = sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            want.setdefault(key(app=app), []).append([stamp // MS / 1000, str(v)])
        check_eq(got, want, "volume_range limit=1: each bucket keeps its biggest (%s)" % when)

    # One bucket only: Loki answers a vector.
    res = get_json(srv, "/index/volume_range", {"query": '{app="shop"}', "start": str(T0),
                                                "end": str(T0 + 50 * NS), "step": "60s"},
                   "volume_range with one bucket")
    if res is not None:
        check_eq(res["data"]["resultType"], "vector", "volume_range of one bucket is a vector")
        got, _ = result_map(res)
        check_eq({k: v for k, v in got.items()},
                 {key(app="shop"): [(T0 + 50 * NS) // MS / 1000,
                                    str(vol_sum(lambda l: l["app"] == "shop", T0, T0 + 50 * NS))]},
                 "volume_range of one bucket: the bytes, stamped with end")


def volume_errors(srv):
    log("# volume errors")
    cases = [
        ({"query": '{app="shop"}', "aggregateBy": "streams"}, "invalid aggregation option"),
        ({"query": '{app="shop"}', "limit": "-3"}, "limit must be a positive value"),
        ({"query": '{app="shop"} |= "x"'}, "only label matchers are supported"),
        ({"query": '{app="shop"'}, "parse error"),
        ({}, "query parameter is required"),
        ({"query": '{app="shop"}', "start": "2000", "end": "1000"}, "end timestamp must not be"),
    ]
    for params, msg in cases:
        r = get(srv, "/index/volume", params)
        check_status(r, 400, "volume %s: 400" % params)
        check_in(msg, r.text(), "volume %s: Loki's message" % params)
        check_eq(r.header("content-type"), "text/plain; charset=utf-8",
                 "volume %s: plain text" % params)
    r = get(srv, "/index/volume_range", {"query": '{app="shop"}', "step": "0"})
    check_status(r, 400, "volume_range step=0: 400")
    check_in("zero or negative query resolution step", r.text(), "volume_range step=0: message")
    r = get(srv, "/index/volume_range", {"query": '{app="shop"}', "start": str(T0),
                                         "end": str(T0 + 3600 * NS), "step": "0.1"})
    check_status(r, 400, "volume_range with more than 11,000 steps: 400")
    check_in("11,000 points", r.text(), "volume_range too many steps: message")


# ---- Detected labels ----

UUIDS = ["0b9e4a1c-5d2f-4c3e-9a7b-1f2e3d4c5b6a", "{6f1d2c3b-4a59-4e8d-b7c6-a5b4c3d2e1f0}",
         "9a8b7c6d5e4f40312f1e0d9c8b7a6958"]


def push_detected_labels(srv):
    streams = []
    kinds = ["alpha", "beta", "1"]
    for i in range(3):
        labels = {"app": "ids", "req_id": str(1001 + i), "pod": str(7 + i), "flag": "01"[i > 0],
                  "uid": UUIDS[i], "kind": kinds[i], "shard": "5" if i == 0 else "6",
                  "ratio": "%.1f" % (0.5 + i)}
        streams.append((labels, [(T_DL + i * NS, "ids line %d" % i, None)]))
    push(srv, streams, what="push the detected-labels streams")


def detected_labels_checks(srv, when):
    log("# detected_labels (%s)" % when)
    win = {"start": str(T_DL), "end": str(T_DL + MIN)}
    want = {"app": 1, "flag": 2, "kind": 3, "pod": 3}
    for params, what in ((dict(win, query='{app="ids"}'), "query {app=ids}"),
                         (win, "no query: every stream of the range")):
        res = get_json(srv, "/detected_labels", params, "detected_labels " + what)
        if res is None:
            continue
        got = res.get("detectedLabels")
        check_eq(sorted(res.keys()), ["detectedLabels"], "detected_labels: Loki's shape (%s)" % what)
        check_eq({d["label"]: d["cardinality"] for d in got or []}, want,
                 "detected_labels: ID-only labels (numbers, UUIDs) left out, booleans and pod "
                 "kept, exact cardinalities (%s, %s)" % (what, when))
        check_eq([d["label"] for d in got or []], sorted(want),
                 "detected_labels: sorted by name (%s)" % what)
    res = get_json(srv, "/detected_labels", dict(win, query='{app="nothing"}'),
                   "detected_labels of no stream")
    check_eq(res, {"detectedLabels": []}, "detected_labels of no stream: empty list")
    r = get(srv, "/detected_labels", dict(win, query='{app="ids"} | json'))
    check_status(r, 400, "detected_labels with a pipeline: 400")


# ---- Detected fields ----

DF_LINES = [
    ('level=info msg="user login" status=200 latency=0.25 cached=true took=1.5s size=12KB',
     {"trace_id": "t1"}),
    ('level=error msg="db down" status=500 latency=1.75 cached=false took=250ms size=3MB',
     {"trace_id": "t2"}),
    ('{"level":"info","status":201,"req":{"method":"GET","path":"/a"},"ok":true}',
     {"trace_id": "t3"}),
    ("plain words only", None),
]


def push_detected_fields(srv):
    values = [(T_DF + i * NS, line, meta) for i, (line, meta) in enumerate(DF_LINES)]
    push(srv, [({"app": "df"}, values),
               ({"app": "df2", "level": "debug"}, [(T_DF + 5 * NS, "level=warn code=7", None)])],
         what="push the detected-fields streams")


def fields_of(res):
    return {f["label"]: (f["type"], f["cardinality"],
                         sorted(f["parsers"]) if f["parsers"] is not None else None)
            for f in res.get("fields") or []}


def detected_fields_checks(srv, when):
    log("# detected_fields (%s)" % when)
    win = {"start": str(T_DF), "end": str(T_DF + MIN)}
    both = ["json", "logfmt"]
    want = {
        "level": ("string", 2, both),
        "msg": ("string", 2, ["logfmt"]),
        "status": ("int", 3, both),
        "latency": ("float", 2, ["logfmt"]),
        "cached": ("boolean", 2, ["logfmt"]),
        "took": ("duration", 2, ["logfmt"]),
        "size": ("bytes", 2, ["logfmt"]),
        "req_method": ("string", 1, ["json"]),
        "req_path": ("string", 1, ["json"]),
        "ok": ("boolean", 1, ["json"]),
        "trace_id": ("string", 3, None),
    }
    res = get_json(srv, "/detected_fields", dict(win, query='{app="df"}'), "detected_fields")
    if res is not None:
        check_eq(fields_of(res), want, "detected_fields: types, cardinalities, parsers (%s)" % when)
        check_eq(res.get("limit"), 1000, "detected_fields: limit 1000 by default")
        check_eq([f["label"] for f in res["fields"]], sorted(want), "detected_fields: by name")
        check(all("parsers" in f for f in res["fields"]),
              "detected_fields: parsers always present (null for structured metadata)")

    # The two newest lines: the JSON one (with its metadata) and the plain one.
    res = get_json(srv, "/detected_fields", dict(win, query='{app="df"}', line_limit="2"),
                   "detected_fields line_limit=2")
    if res is not None:
        check_eq(fields_of(res), {"level": ("string", 1, ["json"]), "status": ("int", 1, ["json"]),
                                  "req_method": ("string", 1, ["json"]),
                                  "req_path": ("string", 1, ["json"]),
                                  "ok": ("boolean", 1, ["json"]), "trace_id": ("string", 1, None)},
                 "detected_fields line_limit=2: only the newest two lines")
    res = get_json(srv, "/detected_fields", dict(win, query='{app="df"}', line_limit="1"),
                   "detected_fields line_limit=1")
    check_eq(res, {"fields": []}, "detected_fields of a line without fields: empty, no limit")

    for name in ("limit", "field_limit"):
        res = get_json(srv, "/detected_fields", dict(win, query='{app="df"}', **{name: "3"}),
                       "detected_fields %s=3" % name)
        if res is not None:
            check_eq(len(res["fields"]), 3, "detected_fields %s=3: three fields" % name)
            check_eq(res.get("limit"), 3, "detected_fields %s=3: limit 3 answered" % name)
            check(set(f["label"] for f in res["fields"]) <= set(want),
                  "detected_fields %s=3: fields of the data" % name)

    res = get_json(srv, "/detected_fields", dict(win, query='{app="df"} |= "status=500"'),
                   "detected_fields with a line filter")
    if res is not None:
        got = fields_of(res)
        check_eq(got.get("status"), ("int", 1, ["logfmt"]), "line filter: status seen once")
        check_eq(got.get("trace_id"), ("string", 1, None), "line filter: one trace_id")
        check("req_method" not in got, "line filter: the JSON line is filtered out")

    res = get_json(srv, "/detected_fields", dict(win, query='{app="df"} | logfmt | status >= 500'),
                   "detected_fields with a parser and a label filter")
    if res is not None:
        got = fields_of(res)
        check_eq(got.get("status"), ("int", 1, ["logfmt"]), "parser query: status of one line")
        check_eq(got.get("msg"), ("string", 1, ["logfmt"]), "parser query: msg of one line")

    res = get_json(srv, "/detected_fields", dict(win, query='{app="df2"}'),
                   "detected_fields with a stream label in the line")
    if res is not None:
        check_eq(fields_of(res), {"level_extracted": ("string", 1, ["logfmt"]),
                                  "code": ("int", 1, ["logfmt"])},
                 "detected_fields: a key the stream labels have gets _extracted")

    values = {
        "status": ["200", "201", "500"],
        "size": ["12kB", "3.0MB"],
        "took": ["1.5s", "250ms"],
        "trace_id": ["t1", "t2", "t3"],
        "req_method": ["GET"],
    }
    for name, vals in values.items():
        for prefix in ("/detected_field/", "/detected_fields/"):
            res = get_json(srv, prefix + name + "/values", dict(win, query='{app="df"}'),
                           "%s%s/values" % (prefix, name))
            if res is not None:
                check_eq(res, {"values": vals, "limit": 1000},
                         "%s%s/values: the distinct values (%s)" % (prefix, name, when))
    res = get_json(srv, "/detected_field/status/values", dict(win, query='{app="df"}', limit="2"),
                   "detected_field values limit=2")
    if res is not None:
        check_eq(len(res["values"]), 2, "detected_field values limit=2: two values")
        check(set(res["values"]) <= set(values["status"]), "detected_field values limit=2: ours")
    res = get_json(srv, "/detected_field/nope/values", dict(win, query='{app="df"}'),
                   "values of an unknown field")
    check_eq(res, {"values": []}, "values of an unknown field: empty")
    r = get(srv, "/detected_field/status", dict(win, query='{app="df"}'))
    check_status(r, 404, "detected_field/<name> without /values: 404")


def detected_fields_errors(srv):
    log("# detected_fields errors")
    win = {"start": str(T_DF), "end": str(T_DF + MIN)}
    cases = [
        (dict(win, query='{app="df"}', line_limit="6000"),
         "max entries limit per query exceeded, limit > max_entries_limit (6000 > 5000)"),
        (dict(win, query='{app="df"}', line_limit="0"), "limit must be a positive value"),
        (dict(win, query='{app="df"}', limit="0"), "limit must be a positive value"),
        (dict(win, query='count_over_time({app="df"}[1m])'), "only log selector is supported"),
        (dict(win, query='{app="df"'), "parse error"),
        (win, "query parameter is required"),
    ]
    for params, msg in cases:
        r = get(srv, "/detected_fields", params)
        check_status(r, 400, "detected_fields %s: 400" % params)
        check_in(msg, r.text(), "detected_fields %s: Loki's message" % params)


# ---- Patterns ----

NAMES = ["alice", "bob", "carol", "dave"]
PATTERNS = {
    "user <_> logged in from <_>": lambda m: m + 1,
    "GET <_> 200 <_>": lambda m: 2,
    "level=info component=db msg=query took=<_>": lambda m: 3,
}


def push_patterns(srv):
    values = []
    for m in range(4):
        base = T_PAT + m * MIN
        i = 0
        for k in range(m + 1):
            values.append((base + i * NS, "user %s logged in from 10.0.%d.%d" % (NAMES[k], m, k),
                           None))
            i += 1
        for k in range(2):
            values.append((base + i * NS, "GET /api/items/%d 200 %dms" % (m * 10 + k, k + 3), None))
            i += 1
        for k in range(3):
            values.append((base + i * NS, "level=info component=db msg=query took=%dms" % (k * 7),
                           None))
            i += 1
    push(srv, [({"app": "pat"}, values)], what="push the pattern lines")


def patterns_checks(srv, when, headers=None):
    log("# patterns (%s)" % when)
    lo, hi = T_PAT, T_PAT + 5 * MIN
    res = get_json(srv, "/patterns", {"query": '{app="pat"}', "start": str(lo), "end": str(hi),
                                      "step": "60s"}, "patterns step=60s", headers)
    if res is None:
        return
    check_eq(res.get("status"), "success", "patterns: status success")
    got = {p["pattern"]: p["samples"] for p in res["data"]}
    want = {pat: [[(T_PAT + m * MIN) // NS, f(m)] for m in range(4)] for pat, f in PATTERNS.items()}
    check_eq(got, want, "patterns: the three families, counts per step (%s)" % when)
    totals = {p: sum(n for _, n in s) for p, s in want.items()}
    check_eq([p["pattern"] for p in res["data"]],
             sorted(totals, key=lambda p: (-totals[p], p)), "patterns: most frequent first")
    # Each pattern is a valid `|>` filter matching exactly the lines it counts.
    for pat, total in totals.items():
        q = 'sum(count_over_time({app="pat"} |> %s [1h]))' % json.dumps(pat)
        r = srv.get(API + "/query", {"query": q, "time": str(hi)}, headers)
        check_status(r, 200, "instant query with |> %s" % pat)
        if r.status == 200:
            res2 = r.json()["data"]["result"]
            check_eq(res2[0]["value"][1] if res2 else None, str(total),
                     "|> %s matches the %d lines it counts" % (pat, total))

    res = get_json(srv, "/patterns", {"query": '{app="pat"} |= "GET"', "start": str(lo),
                                      "end": str(hi), "step": "120s"},
                   "patterns with a line filter, step=120s", headers)
    if res is not None:
        got = {p["pattern"]: p["samples"] for p in res["data"]}
        step = 120 * NS
        per = {}
        for m in range(4):
            ts = T_PAT + m * MIN
            per[ts - ts % step] = per.get(ts - ts % step, 0) + 2
        check_eq(got, {"GET <_> 200 <_>": [[k // NS, v] for k, v in sorted(per.items())]},
                 "patterns: line filter and step=120s buckets")

    r = get(srv, "/patterns", {"query": '{app="pat"}', "step": "0"}, headers)
    check_status(r, 400, "patterns step=0: 400")
    r = get(srv, "/patterns", {"query": 'rate({app="pat"}[1m])'}, headers)
    check_status(r, 400, "patterns of a metric query: 400")
    check_in("only log selector is supported", r.text(), "patterns of a metric query: message")


# ---- Tenants ----

def tenant_checks():
    log("# tenants")
    srv = t.Server(name="explore-auth", retention="0",
                   args=["--auth-token", "tokA=alpha", "--auth-token", "tokB=beta"]).start()
    A = {"X-Auth-Token": "tokA"}
    B = {"X-Auth-Token": "tokB"}
    try:
        line = "level=info tenant=alpha took=5ms"
        push(srv, [({"app": "ten"}, [(T0 + NS, line, {"trace_id": "x"})])], headers=A,
             what="alpha: push")
        win = {"start": str(T0), "end": str(T0 + MIN)}
        ra = get_json(srv, "/index/volume", dict(win, query='{app="ten"}'), "alpha volume", A)
        rb = get_json(srv, "/index/volume", dict(win, query='{app="ten"}'), "beta volume", B)
        check_eq(ra and ra["data"]["result"][0]["value"][1], str(nbytes(line)),
                 "alpha: volume of its line")
        check_eq(rb and rb["data"]["result"], [], "beta: no volume from alpha's stream")
        rb = get_json(srv, "/index/volume", dict(win, query="{}"), "beta volume {}", B)
        check_eq(rb and rb["data"]["result"], [], "beta: {} sees nothing of alpha")
        ra = get_json(srv, "/detected_labels", win, "alpha detected_labels", A)
        rb = get_json(srv, "/detected_labels", win, "beta detected_labels", B)
        check_eq(ra, {"detectedLabels": [{"label": "app", "cardinality": 1}]},
                 "alpha: its detected labels")
        check_eq(rb, {"detectedLabels": []}, "beta: no detected labels of alpha")
        ra = get_json(srv, "/detected_fields", dict(win, query='{app="ten"}'), "alpha fields", A)
        rb = get_json(srv, "/detected_fields", dict(win, query='{app="ten"}'), "beta fields", B)
        check_eq(sorted(f["label"] for f in (ra or {}).get("fields", [])),
                 ["level", "tenant", "took", "trace_id"], "alpha: its detected fields")
        check_eq(rb, {"fields": []}, "beta: no fields of alpha")
        ra = get_json(srv, "/patterns", dict(win, query='{app="ten"}'), "alpha patterns", A)
        rb = get_json(srv, "/patterns", dict(win, query='{app="ten"}'), "beta patterns", B)
        check_eq([p["pattern"] for p in (ra or {}).get("data", [])], [line], "alpha: its pattern")
        check_eq(rb, {"status": "success", "data": []}, "beta: no patterns of alpha")
        r = get(srv, "/index/volume", dict(win, query='{app="ten"}'))
        check_status(r, 401, "no token: 401")
        check_eq(srv.stop(), 0, "auth server: SIGTERM exits 0")
        check_eq(srv.sanitizer_reports(), [], "auth server: no sanitizer reports")
    finally:
        srv.kill9()


def verify_all(srv, when):
    volume_checks(srv, when)
    detected_labels_checks(srv, when)
    detected_fields_checks(srv, when)
    patterns_checks(srv, when)


def main():
    srv = t.Server(name="explore", retention="0").start()
    try:
        push_volume(srv)
        push_detected_labels(srv)
        push_detected_fields(srv)
        push_patterns(srv)
        verify_all(srv, "from the head")
        volume_errors(srv)
        detected_fields_errors(srv)
        r = srv.request("POST", "/api/v1/admin/flush", b"", timeout=120)
        check_status(r, 200, "POST /api/v1/admin/flush")
        verify_all(srv, "after flush (from parts)")
        check_eq(srv.stop(), 0, "SIGTERM: server exits 0")
        check_eq(srv.sanitizer_reports(), [], "no sanitizer reports in the server log")
    finally:
        srv.kill9()
    tenant_checks()


if __name__ == "__main__":
    t.run_main(main)
