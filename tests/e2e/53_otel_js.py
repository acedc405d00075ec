#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the real OpenTelemetry JavaScript SDK sends traces, metrics
and logs to Sextant over OTLP/HTTP, read back through Sextant's query APIs.

tests/e2e/clients/otel/send.js runs under Node twice against one server,
with a run tag each so that the runs stay apart:
  * proto: @opentelemetry/exporter-*-otlp-proto (application/x-protobuf,
    gzip);
  * json:  @opentelemetry/exporter-*-otlp-http (application/json).
Each run builds one trace across two services with their own resources and
providers (frontend SERVER -> CLIENT, W3C traceparent, checkout SERVER ->
CLIENT "SELECT orders" and INTERNAL "charge card" with status ERROR, events
and a link), metrics (counter, up-down counter, histogram, observable
gauges; cumulative) and log records carrying the trace context. send.js
fails unless every export succeeded without a partial success.

Read back, for each run:
  * Tempo GET /api/traces/<id> and /api/v2/traces/<id> (JSON; v2 also as
    protobuf): every span with its name, ids, parent, kind, times, flags,
    status, attributes (typed), events, links, resource and scope;
  * Jaeger GET /jaeger/api/traces/<id>: spans, references, tags, logs,
    processes per service; /jaeger/api/services, operations, and search;
  * Tempo GET /api/search with tags= (logfmt), q= (TraceQL filter) and
    min/maxDuration; tag value lists;
  * PromQL GET /api/v1/query: the metrics under their Prometheus names
    (app.requests in 1 -> app_requests_total, app.request.duration in ms ->
    app_request_duration_milliseconds_*, app.memory.usage in By ->
    app_memory_usage_bytes, app.cpu.utilization in 1 ->
    app_cpu_utilization_ratio, ...), job = service.name, instance =
    service.instance.id, target_info; histogram_quantile; an exponential
    histogram as a native histogram; metadata;
  * LogQL GET /loki/api/v1/query_range with
    {service_name="frontend"} | trace_id="<id>": the lines, their times,
    stream labels and structured metadata; a count_over_time. A map body
    becomes a line of compact JSON, compared parsed: Loki writes it with
    Go's encoding/json (pcommon Value.AsString: keys sorted, <>& escaped),
    Sextant in the order sent, and that difference is not asserted here.

Needs node and npm (the SDK is installed with `npm ci` into
tests/e2e/clients/otel/node_modules when missing; a failed install is a
failed test, not a skip).
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, check_eq, check_status, log  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_DIR = os.path.join(HERE, "clients", "otel")
SEND_JS = os.path.join(CLIENT_DIR, "send.js")
NS = 1_000_000_000
RUN = "r%d" % (time.time_ns() // NS % 1000000)
MODES = (("proto", RUN + "p"), ("json", RUN + "j"))

PACKAGES = ["@opentelemetry/api", "@opentelemetry/api-logs", "@opentelemetry/core",
            "@opentelemetry/resources", "@opentelemetry/sdk-trace-base",
            "@opentelemetry/sdk-metrics", "@opentelemetry/sdk-logs",
            "@opentelemetry/semantic-conventions"] + [
    "@opentelemetry/exporter-%s-otlp-%s" % (sig, enc)
    for sig in ("trace", "metrics", "logs") for enc in ("proto", "http")]

# The trace send.js builds: key -> (service, name, kind, parent key).
SHAPE = {
    "root": ("frontend", "GET /checkout", "SERVER", None),
    "call": ("frontend", "POST /api/checkout", "CLIENT", "root"),
    "server": ("checkout", "POST /api/checkout", "SERVER", "call"),
    "db": ("checkout", "SELECT orders", "CLIENT", "server"),
    "charge": ("checkout", "charge card", "INTERNAL", "server"),
}
KINDS = {"UNSPECIFIED": 0, "INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}


# ---- Node client ----

def ensure_client():
    """node must be on PATH (a failure, not a skip, when it is not); the
    SDK is installed with `npm ci` when it cannot be loaded."""
    node = shutil.which("node")
    if not check(node, "node is on PATH (needed to run the OpenTelemetry JS SDK)",
                 "install Node.js 20 or later (Debian: apt-get install nodejs npm)"):
        return False
    probe = ["node", "-e", "".join("require(%s);" % json.dumps(p) for p in PACKAGES)]
    r = subprocess.run(probe, cwd=CLIENT_DIR, capture_output=True, timeout=60)
    if r.returncode != 0:
        npm = shutil.which("npm")
        if not check(npm, "npm is on PATH (needed to install the OpenTelemetry JS SDK)"):
            return False
        log("installing the OpenTelemetry JS SDK: npm ci --prefix %s" % CLIENT_DIR)
        try:
            r = subprocess.run([npm, "ci", "--prefix", CLIENT_DIR, "--no-audit", "--no-fund",
                                "--loglevel=error"], capture_output=True, timeout=300)
            ok, detail = r.returncode == 0, (r.stdout + r.stderr).decode("utf-8", "replace")[-2000:]
        except subprocess.TimeoutExpired:
            ok, detail = False, "npm ci did not finish within 300 s"
        if not check(ok, "npm ci installed the OpenTelemetry JS SDK", detail):
            return False
        r = subprocess.run(probe, cwd=CLIENT_DIR, capture_output=True, timeout=60)
    return check(r.returncode == 0, "the OpenTelemetry JS SDK packages load under node",
                 r.stderr.decode("utf-8", "replace")[-1500:])


def run_send(srv, mode, tag):
    """Run send.js; returns its report or None (after a failed check)."""
    argv = ["node", SEND_JS, "http://127.0.0.1:%d" % srv.port, mode, tag]
    log("# %s: node send.js ... %s %s" % (mode, mode, tag))
    # OTEL_* variables (temporality, headers, batch sizes, ...) would change
    # what the SDK sends: send.js configures everything itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    try:
        r = subprocess.run(argv, capture_output=True, timeout=120, cwd=CLIENT_DIR, env=env)
    except subprocess.TimeoutExpired:
        check(False, "%s: send.js finished within 120 s" % mode)
        return None
    err = r.stderr.decode("utf-8", "replace")
    check_eq(r.returncode, 0, "%s: send.js exits 0 (every export succeeded, no partial success)" % mode)
    if r.returncode != 0:
        log(err[-3000:])
    try:
        rep = json.loads(r.stdout.decode("utf-8"))
    except ValueError:
        check(False, "%s: send.js printed its report" % mode, err[-2000:])
        return None
    ctype = "application/x-protobuf" if mode == "proto" else "application/json"
    enc = "gzip" if mode == "proto" else None
    got = sorted((q["path"], q["contentType"], q["contentEncoding"], q["status"]) for q in rep["requests"])
    want = sorted([("/v1/traces", ctype, enc, 200)] * 2 + [("/v1/logs", ctype, enc, 200)] * 2 +
                  [("/v1/metrics", ctype, enc, 200)] * 4)
    check_eq(got, want, "%s: the SDK's requests (path, Content-Type, Content-Encoding) all got 200" % mode)
    check(all(x["ok"] for x in rep["exportResults"]) and len(rep["exportResults"]) == 8,
          "%s: 8 export results, all SUCCESS" % mode, rep["exportResults"])
    check_eq(len(rep["traceId"]), 32, "%s: the SDK made a trace id" % mode)
    return rep


# ---- Values ----

def typed_any(v):
    """An OTLP JSON AnyValue as (type, value); arrays and maps nested."""
    if not isinstance(v, dict) or len(v) != 1:
        return ("?", v)
    k, x = next(iter(v.items()))
    if k == "stringValue":
        return ("str", x)
    if k == "intValue":
        return ("int", int(x))
    if k == "doubleValue":
        return ("double", float(x))
    if k == "boolValue":
        return ("bool", x)
    if k == "arrayValue":
        return ("array", [typed_any(e) for e in x.get("values", [])])
    if k == "kvlistValue":
        return ("map", {e["key"]: typed_any(e["value"]) for e in x.get("values", [])})
    if k == "bytesValue":
        return ("bytes", x)
    return ("?", v)


def typed_js(v):
    """A JS attribute value (as send.js printed it) as the AnyValue the SDK
    sends: integers intValue, other numbers doubleValue."""
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("double", v)
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, list):
        return ("array", [typed_js(e) for e in v])
    return ("?", v)


def otlp_attrs(kvs):
    return {kv["key"]: typed_any(kv.get("value", {})) for kv in kvs or []}


def js_attrs(d):
    return {k: typed_js(v) for k, v in d.items()}


def hex_id(v, n):
    """A trace or span id as lower-case hex, whether the answer wrote it in
    hex (OTLP JSON) or base64 (proto3 JSON)."""
    if not isinstance(v, str) or not v:
        return ""
    if len(v) == 2 * n and all(c in "0123456789abcdefABCDEF" for c in v):
        return v.lower()
    try:
        return base64.b64decode(v).hex()
    except ValueError:
        return "?" + v


def kind_num(k):
    if isinstance(k, str):
        return KINDS.get(k.replace("SPAN_KIND_", ""), -1)
    return k


def status_num(c):
    if isinstance(c, str):
        return STATUS.get(c.replace("STATUS_CODE_", ""), -1)
    return c


def span_flags(s):
    """The OTLP span flags the SDK sends: the W3C trace flags, bit 8 (the
    parent's remoteness is known) and bit 9 (the parent is remote)."""
    return (s["traceFlags"] & 0xFF) | 0x100 | (0x200 if s["parentIsRemote"] else 0)


# ---- Traces: Tempo ----

def flat_spans(resource_spans):
    """{span id: (service, resource attrs, scope, span)} of OTLP JSON
    ResourceSpans, and the number of spans seen (duplicates included)."""
    out, n = {}, 0
    for rs in resource_spans or []:
        rattrs = otlp_attrs(rs.get("resource", {}).get("attributes"))
        svc = rattrs.get("service.name", ("str", ""))[1]
        for ss in rs.get("scopeSpans", []) or []:
            scope = ss.get("scope", {})
            for s in ss.get("spans", []) or []:
                n += 1
                out[hex_id(s.get("spanId"), 8)] = (svc, rattrs, scope, s)
    return out, n


def compare_otlp_trace(rep, resource_spans, what):
    """Every span of the report against the OTLP JSON answer."""
    got, n = flat_spans(resource_spans)
    check_eq(n, len(SHAPE), "%s: %d spans, each once" % (what, len(SHAPE)))
    tid = rep["traceId"]
    for key, (svc, name, kind, parent) in SHAPE.items():
        s = rep["spans"][key]
        w = "%s: span %s (%s)" % (what, key, name)
        g = got.get(s["spanId"])
        if not check(g is not None, w + " is there", sorted(got)):
            continue
        gsvc, rattrs, scope, gs = g
        problems = []

        def want(field, got_v, want_v):
            if got_v != want_v:
                problems.append("%s: want %r, got %r" % (field, want_v, got_v))
        want("service.name", gsvc, svc)
        want("traceId", hex_id(gs.get("traceId"), 16), tid)
        want("name", gs.get("name"), name)
        want("kind", kind_num(gs.get("kind")), KINDS[kind])
        want("parentSpanId", hex_id(gs.get("parentSpanId", ""), 8),
             rep["spans"][parent]["spanId"] if parent else "")
        want("startTimeUnixNano", str(gs.get("startTimeUnixNano")), s["startNs"])
        want("endTimeUnixNano", str(gs.get("endTimeUnixNano")), s["endNs"])
        want("flags", gs.get("flags"), span_flags(s))
        st = gs.get("status", {}) or {}
        want("status.code", status_num(st.get("code", 0)), STATUS[s["status"]["code"]])
        want("status.message", st.get("message", ""), s["status"]["message"])
        want("attributes", otlp_attrs(gs.get("attributes")), js_attrs(s["attributes"]))
        want("events", [(e.get("name"), str(e.get("timeUnixNano")), otlp_attrs(e.get("attributes")))
                        for e in gs.get("events", []) or []],
             [(e["name"], e["tsNs"], js_attrs(e["attributes"])) for e in s["events"]])
        want("links", [(hex_id(x.get("traceId"), 16), hex_id(x.get("spanId"), 8),
                         otlp_attrs(x.get("attributes"))) for x in gs.get("links", []) or []],
             [(x["traceId"], x["spanId"], js_attrs(x["attributes"])) for x in s["links"]])
        want("scope", (scope.get("name"), scope.get("version")), ("sextant-e2e", "1.0.0"))
        want("resource service.instance.id", rattrs.get("service.instance.id"),
             ("str", "%s-%s" % (svc, rep["tag"])))
        want("resource sextant.e2e.run", rattrs.get("sextant.e2e.run"), ("str", rep["tag"]))
        want("resource telemetry.sdk.language", rattrs.get("telemetry.sdk.language"), ("str", "nodejs"))
        check(not problems, w + ": ids, parent, kind, times, flags, status, attributes, events, "
              "links, scope and resource", "\n".join(problems))
    # OTLP nests spans by resource: one ResourceSpans per service.
    svcs = sorted(otlp_attrs(rs.get("resource", {}).get("attributes")).get("service.name", ("", ""))[1]
                  for rs in resource_spans or [])
    check_eq(svcs, ["checkout", "frontend"], "%s: one ResourceSpans per service" % what)


def check_tempo(srv, rep, mode):
    tid = rep["traceId"]
    r = srv.get("/api/traces/" + tid)
    if check_status(r, 200, "%s: GET /api/traces/<id>" % mode):
        compare_otlp_trace(rep, r.json().get("batches"), "%s: Tempo v1" % mode)
    r = srv.get("/api/v2/traces/" + tid)
    if check_status(r, 200, "%s: GET /api/v2/traces/<id>" % mode):
        j = r.json()
        check_eq(j.get("status"), "COMPLETE", "%s: Tempo v2 status COMPLETE" % mode)
        compare_otlp_trace(rep, (j.get("trace") or {}).get("resourceSpans"), "%s: Tempo v2" % mode)
    # Protobuf (what Grafana asks for first): the ids and names are in it.
    r = srv.get("/api/v2/traces/" + tid, headers={"Accept": "application/protobuf"})
    if check_status(r, 200, "%s: GET /api/v2/traces/<id> with Accept: application/protobuf" % mode):
        body = r.body
        missing = [k for k, s in rep["spans"].items() if bytes.fromhex(s["spanId"]) not in body]
        missing += [n for n in ("GET /checkout", "SELECT orders", "charge card", "frontend", "checkout")
                    if n.encode() not in body]
        check(r.header("Content-Type").startswith("application/protobuf") and
              bytes.fromhex(tid) in body and not missing,
              "%s: protobuf answer holds the trace id, every span id, names and services" % mode,
              "Content-Type %s; missing %s" % (r.header("Content-Type"), missing))
    # A range that ends before the trace starts finds nothing.
    before = int(rep["spans"]["root"]["startNs"]) // NS - 3600
    r = srv.get("/api/traces/" + tid, {"start": before - 60, "end": before})
    check_status(r, 404, "%s: GET /api/traces/<id> with an earlier start/end range" % mode)


# ---- Traces: Jaeger ----

def jaeger_tag(tag):
    return (tag.get("key"), tag.get("type"), tag.get("value"))


def jaeger_js_tags(d):
    out = []
    for k, v in d.items():
        if isinstance(v, bool):
            out.append((k, "bool", v))
        elif isinstance(v, int):
            out.append((k, "int64", v))
        elif isinstance(v, float):
            out.append((k, "float64", v))
        elif isinstance(v, list):
            # Jaeger's OTLP translator writes arrays and maps as JSON text.
            out.append((k, "string", json.dumps(v, separators=(",", ":"))))
        else:
            out.append((k, "string", v))
    return out


def check_jaeger(srv, rep, mode):
    tid = rep["traceId"]
    r = srv.get("/jaeger/api/traces/" + tid)
    if not check_status(r, 200, "%s: GET /jaeger/api/traces/<id>" % mode):
        return
    data = r.json().get("data") or []
    if not check_eq(len(data), 1, "%s: Jaeger answers one trace" % mode):
        return
    tr = data[0]
    check_eq(tr.get("traceID"), tid, "%s: Jaeger traceID" % mode)
    procs = tr.get("processes", {})
    by_svc = {p.get("serviceName"): pid for pid, p in procs.items()}
    check_eq(sorted(by_svc), ["checkout", "frontend"], "%s: Jaeger processes: one per service" % mode)
    for svc, pid in by_svc.items():
        tags = {x["key"]: x["value"] for x in procs[pid].get("tags", [])}
        check(tags.get("service.instance.id") == "%s-%s" % (svc, rep["tag"]) and
              tags.get("telemetry.sdk.language") == "nodejs" and "service.name" not in tags,
              "%s: Jaeger process %s tags (resource attributes but service.name)" % (mode, svc), tags)
    spans = {s.get("spanID"): s for s in tr.get("spans", [])}
    check_eq(len(tr.get("spans", [])), len(SHAPE), "%s: Jaeger trace has %d spans" % (mode, len(SHAPE)))
    for key, (svc, name, kind, parent) in SHAPE.items():
        s = rep["spans"][key]
        g = spans.get(s["spanId"])
        w = "%s: Jaeger span %s (%s)" % (mode, key, name)
        if not check(g is not None, w + " is there", sorted(spans)):
            continue
        problems = []

        def want(field, got_v, want_v):
            if got_v != want_v:
                problems.append("%s: want %r, got %r" % (field, want_v, got_v))
        want("operationName", g.get("operationName"), name)
        want("traceID", g.get("traceID"), tid)
        want("process", procs.get(g.get("processID"), {}).get("serviceName"), svc)
        refs = [("CHILD_OF", tid, rep["spans"][parent]["spanId"])] if parent else []
        refs += [("FOLLOWS_FROM", x["traceId"], x["spanId"]) for x in s["links"]]
        want("references", [(x.get("refType"), x.get("traceID"), x.get("spanID"))
                            for x in g.get("references", [])], refs)
        want("startTime (us)", g.get("startTime"), int(s["startNs"]) // 1000)
        want("duration (us)", g.get("duration"), (int(s["endNs"]) - int(s["startNs"])) // 1000)
        want("flags", g.get("flags"), s["traceFlags"])
        tags = [jaeger_tag(x) for x in g.get("tags", [])]
        wtags = jaeger_js_tags(s["attributes"]) + [
            ("otel.scope.name", "string", "sextant-e2e"), ("otel.scope.version", "string", "1.0.0"),
            ("span.kind", "string", kind.lower())]
        if s["status"]["code"] == "ERROR":
            wtags += [("otel.status_code", "string", "ERROR"), ("error", "bool", True)]
        if s["status"]["message"]:
            wtags.append(("otel.status_description", "string", s["status"]["message"]))
        want("tags", sorted(tags, key=repr), sorted(wtags, key=repr))
        want("logs", [(lg.get("timestamp"), sorted((jaeger_tag(f) for f in lg.get("fields", [])), key=repr))
                      for lg in g.get("logs", [])],
             [(int(e["tsNs"]) // 1000,
               sorted([("event", "string", e["name"])] + jaeger_js_tags(e["attributes"]), key=repr))
              for e in s["events"]])
        check(not problems, w + ": operation, process, references, times, flags, tags and logs",
              "\n".join(problems))

    j = srv.get_json("/jaeger/api/services/checkout/operations")
    check_eq(sorted(j.get("data") or []), ["POST /api/checkout", "SELECT orders", "charge card"],
             "%s: Jaeger operations of checkout" % mode)
    j = srv.get_json("/api/operations", {"service": "checkout", "spanKind": "client"})
    check_eq(j.get("data"), [{"name": "SELECT orders", "spanKind": "client"}],
             "%s: Jaeger /api/operations of checkout, kind client" % mode)
    start_us = int(rep["spans"]["root"]["startNs"]) // 1000
    r = srv.get("/jaeger/api/traces", {
        "service": "checkout", "operation": "charge card",
        "tags": json.dumps({"error": "true", "sextant.e2e.run": rep["tag"]}),
        "start": start_us - 60_000_000, "end": start_us + 60_000_000, "limit": 20})
    if check_status(r, 200, "%s: Jaeger search service=checkout operation=\"charge card\" "
                    "tags={error, sextant.e2e.run}" % mode):
        found = r.json().get("data") or []
        check_eq([(x.get("traceID"), len(x.get("spans", []))) for x in found], [(tid, len(SHAPE))],
                 "%s: Jaeger search finds exactly this run's trace, whole" % mode)
    r = srv.get("/jaeger/api/traces", {
        "service": "frontend", "tags": json.dumps({"sextant.e2e.run": rep["tag"]}),
        "minDuration": "200ms", "start": start_us - 60_000_000, "end": start_us + 60_000_000})
    if check_status(r, 200, "%s: Jaeger search minDuration=200ms" % mode):
        check_eq(r.json().get("data"), [], "%s: the 120 ms trace is not longer than 200ms" % mode)


# ---- Traces: search ----

def search(srv, mode, params, what):
    r = srv.get("/api/search", params)
    if not check_status(r, 200, "%s: GET /api/search %s" % (mode, what)):
        return None
    return r.json().get("traces")


def norm_tid(x):
    return x.rjust(32, "0")


def check_search(srv, rep, mode):
    tid = rep["traceId"]
    sp = rep["spans"]
    start = int(sp["root"]["startNs"]) // NS
    rng = {"start": start - 60, "end": start + 60, "limit": 100}
    tr = search(srv, mode, dict(rng, tags="service.name=frontend"), "tags=service.name=frontend")
    if tr is not None:
        hit = [x for x in tr if norm_tid(x.get("traceID", "")) == tid]
        if check_eq(len(hit), 1, "%s: tags=service.name=frontend finds the trace" % mode):
            h = hit[0]
            check_eq((h.get("rootServiceName"), h.get("rootTraceName"), h.get("startTimeUnixNano"),
                      h.get("durationMs")),
                     ("frontend", "GET /checkout", sp["root"]["startNs"], 120),
                     "%s: the search result's root service, root name, start and duration" % mode)
            ids = sorted(s.get("spanID") for s in (h.get("spanSet") or {}).get("spans", []))
            check_eq(ids, sorted([sp["root"]["spanId"], sp["call"]["spanId"]]),
                     "%s: the spanSet holds frontend's two spans" % mode)
    tr = search(srv, mode, dict(rng, tags="sextant.e2e.run=%s" % rep["tag"]), "tags=sextant.e2e.run=<tag>")
    if tr is not None:
        check_eq([norm_tid(x.get("traceID", "")) for x in tr], [tid],
                 "%s: tags=sextant.e2e.run=<tag> finds only this run's trace" % mode)
    q = '{ resource.service.name = "checkout" && span.db.system = "postgresql" }'
    tr = search(srv, mode, dict(rng, q=q), "q=" + q)
    if tr is not None:
        hit = [x for x in tr if norm_tid(x.get("traceID", "")) == tid]
        spans = hit and (hit[0].get("spanSet") or {}).get("spans", [])
        check_eq([(s.get("spanID"), s.get("name")) for s in spans or []],
                 [(sp["db"]["spanId"], "SELECT orders")],
                 "%s: TraceQL service checkout && db.system postgresql matches SELECT orders" % mode)
    q = '{ resource.sextant.e2e.run = "%s" && status = error }' % rep["tag"]
    tr = search(srv, mode, dict(rng, q=q), "q=" + q)
    if tr is not None:
        check_eq([(norm_tid(x.get("traceID", "")),
                   [s.get("spanID") for s in (x.get("spanSet") or {}).get("spans", [])]) for x in tr],
                 [(tid, [sp["charge"]["spanId"]])],
                 "%s: TraceQL status = error matches this run's charge card span only" % mode)
    q = '{ resource.sextant.e2e.run = "%s" && kind = server }' % rep["tag"]
    tr = search(srv, mode, dict(rng, q=q), "q=" + q)
    if tr is not None:
        got = sorted(s.get("spanID") for x in tr for s in (x.get("spanSet") or {}).get("spans", []))
        check_eq(got, sorted([sp["root"]["spanId"], sp["server"]["spanId"]]),
                 "%s: TraceQL kind = server matches both SERVER spans" % mode)
    tag = "sextant.e2e.run=%s" % rep["tag"]
    tr = search(srv, mode, dict(rng, tags=tag, minDuration="100ms"), "minDuration=100ms")
    if tr is not None:
        check_eq([norm_tid(x.get("traceID", "")) for x in tr], [tid],
                 "%s: minDuration=100ms keeps the 120 ms trace" % mode)
    tr = search(srv, mode, dict(rng, tags=tag, maxDuration="50ms"), "maxDuration=50ms")
    if tr is not None:
        check_eq(tr, [], "%s: maxDuration=50ms drops the 120 ms trace" % mode)


# ---- Logs ----

def loki_meta_value(v):
    """A log attribute as Loki's structured metadata text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def sanitize(k):
    return "".join(c if c.isalnum() or c == "_" else "_" for c in k)


def line_value(line):
    """A log line as send.js reports its body: a map body (a JSON object
    line) parsed, so that key order does not count (see the module
    docstring), any other line as it is."""
    if line.startswith("{"):
        try:
            return json.loads(line)
        except ValueError:
            pass
    return line


def check_logs(srv, rep, mode):
    tid = rep["traceId"]
    t0 = int(rep["spans"]["root"]["startNs"])
    rng = {"start": t0 - 60 * NS, "end": t0 + 60 * NS, "limit": 100, "direction": "forward"}
    for svc in ("frontend", "checkout"):
        q = '{service_name="%s"} | trace_id="%s"' % (svc, tid)
        want = sorted((int(x["tsNs"]), x) for x in rep["logs"] if x["service"] == svc)
        r = srv.get("/loki/api/v1/query_range", dict(rng, query=q),
                    headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"})
        if not check_status(r, 200, "%s: LogQL %s" % (mode, q)):
            continue
        res = r.json()["data"]["result"]
        got = [(int(v[0]), v[1], st["stream"], (v[2] if len(v) > 2 else {}).get("structuredMetadata", {}))
               for st in res for v in st["values"]]
        got.sort(key=lambda g: g[0])
        check_eq([(g[0], line_value(g[1])) for g in got], [(ts, x["body"]) for ts, x in want],
                 "%s: %s's log lines of the trace, with their nanosecond times" % (mode, svc))
        maps = [g[1] for g in got if isinstance(line_value(g[1]), dict)]
        if svc == "checkout":
            check(len(maps) == 1 and ": " not in maps[0] and "\n" not in maps[0],
                  "%s: the map body is one line of compact JSON" % mode, maps)
        check_eq([g[2] for g in got],
                 [{"service_name": svc, "service_instance_id": "%s-%s" % (svc, rep["tag"]),
                   "deployment_environment": "e2e"}] * len(want),
                 "%s: %s's stream labels are Loki's index attributes of the resource" % (mode, svc))
        problems = []
        for (ts, x), g in zip(want, got):
            meta = g[3]
            w = {"trace_id": tid, "span_id": x["spanId"], "severity_text": x["severityText"],
                 "severity_number": str(x["severityNumber"]), "scope_name": "sextant-e2e",
                 "scope_version": "1.0.0", "service_version": "1.4.2" if svc == "frontend" else "2.0.1",
                 "sextant_e2e_run": rep["tag"], "telemetry_sdk_language": "nodejs"}
            w.update({sanitize(k): loki_meta_value(v) for k, v in x["attributes"].items()})
            diff = {k: (v, meta.get(k)) for k, v in w.items() if meta.get(k) != v}
            if diff:
                problems.append("%s: (want, got) %s" % (x["body"], diff))
        check(not problems and len(got) == len(want),
              "%s: %s's structured metadata: trace and span ids, severity, scope, resource and "
              "log attributes" % (mode, svc), "\n".join(problems))
    q = '{service_name="checkout"} | trace_id="%s" | severity_text="ERROR"' % tid
    j = srv.get_json("/loki/api/v1/query_range", dict(rng, query=q))
    check_eq([v[1] for st in j["data"]["result"] for v in st["values"]], ["card declined %s" % rep["tag"]],
             "%s: LogQL severity_text=\"ERROR\" keeps the one error line" % mode)
    q = ('sum by (service_name) (count_over_time({service_instance_id=~".+-%s"} | trace_id="%s" [10m]))'
         % (rep["tag"], tid))
    j = srv.get_json("/loki/api/v1/query", {"query": q, "time": (t0 + 60 * NS)})
    got = {s["metric"].get("service_name"): s["value"][1] for s in j["data"]["result"]}
    want = {}
    for x in rep["logs"]:
        want[x["service"]] = str(int(want.get(x["service"], "0")) + 1)
    check_eq(got, want,
             "%s: LogQL count_over_time of the trace's lines by service" % mode)


# ---- Metrics ----

def prom(srv, q):
    j = srv.get_json("/api/v1/query", {"query": q})
    return {json.dumps(s["metric"], sort_keys=True): float(s["value"][1]) for s in j["data"]["result"]}


def series_key(name, labels):
    return json.dumps(dict(labels, __name__=name), sort_keys=True)


def check_metrics(srv, rep, mode):
    tag = rep["tag"]
    m = rep["metrics"]
    res = {"frontend": {"job": "frontend", "instance": "frontend-" + tag},
           "checkout": {"job": "checkout", "instance": "checkout-" + tag}}
    for name, svc in (("app_requests_total", "frontend"), ("app_active_requests", "frontend"),
                      ("app_memory_usage_bytes", "frontend"), ("app_cpu_utilization_ratio", "frontend"),
                      ("orders_placed_total", "checkout")):
        q = '%s{instance="%s"}' % (name, res[svc]["instance"])
        want = {series_key(name, dict(labels, **res[svc])): float(v) for labels, v in m[name]}
        check_eq(prom(srv, q), want, "%s: PromQL %s" % (mode, q))
    h = m["app_request_duration_milliseconds"]
    base = dict(h["labels"], **res["frontend"])
    sel = '{instance="%s"}' % res["frontend"]["instance"]
    want = {series_key("app_request_duration_milliseconds_bucket", dict(base, le=le)): float(v)
            for le, v in h["buckets"].items()}
    check_eq(prom(srv, "app_request_duration_milliseconds_bucket" + sel), want,
             "%s: PromQL app_request_duration_milliseconds_bucket (cumulative buckets, le)" % mode)
    check_eq(prom(srv, "app_request_duration_milliseconds_count" + sel),
             {series_key("app_request_duration_milliseconds_count", base): float(h["count"])},
             "%s: PromQL app_request_duration_milliseconds_count" % mode)
    check_eq(prom(srv, "app_request_duration_milliseconds_sum" + sel),
             {series_key("app_request_duration_milliseconds_sum", base): float(h["sum"])},
             "%s: PromQL app_request_duration_milliseconds_sum" % mode)
    # Rank 2.5 of 5 falls in (10, 50] holding ranks 2..3: 10 + 40 * 1.5 / 2.
    q = "histogram_quantile(0.5, app_request_duration_milliseconds_bucket%s)" % sel
    check_eq(list(prom(srv, q).values()), [40.0], "%s: PromQL %s" % (mode, q))
    # The exponential histogram is a native histogram, without classic series.
    p = m["app_payload_size_bytes"]
    for fn, v in (("histogram_count", p["count"]), ("histogram_sum", p["sum"])):
        q = "%s(app_payload_size_bytes%s)" % (fn, sel)
        check_eq(prom(srv, q), {json.dumps(dict(p["labels"], **res["frontend"]), sort_keys=True): float(v)},
                 "%s: PromQL %s (exponential histogram as a native histogram)" % (mode, q))
    j = srv.get_json("/api/v1/query", {"query": "app_payload_size_bytes" + sel})
    check(len(j["data"]["result"]) == 1 and "histogram" in j["data"]["result"][0],
          "%s: app_payload_size_bytes answers one native histogram sample" % mode, j["data"]["result"])
    q = '{__name__=~"app_payload_size_bytes_(bucket|count|sum)", instance="%s"}' % res["frontend"]["instance"]
    check_eq(prom(srv, q), {}, "%s: no classic _bucket/_count/_sum series for it" % mode)
    q = 'sum by (job) (app_requests_total{instance=~".+-%s"})' % tag
    check_eq(prom(srv, q), {json.dumps({"job": "frontend"}): 6.0}, "%s: PromQL %s" % (mode, q))
    for svc, version in (("frontend", "1.4.2"), ("checkout", "2.0.1")):
        q = 'target_info{instance="%s"}' % res[svc]["instance"]
        want = {series_key("target_info", dict(res[svc], deployment_environment="e2e",
                                               service_version=version, sextant_e2e_run=tag,
                                               telemetry_sdk_language="nodejs",
                                               telemetry_sdk_name="opentelemetry",
                                               telemetry_sdk_version=rep["sdkVersion"])): 1.0}
        check_eq(prom(srv, q), want, "%s: PromQL %s (the other resource attributes)" % (mode, q))


def check_metadata(srv):
    j = srv.get_json("/api/v1/metadata")["data"]
    got = {k: [(x.get("type"), x.get("unit"), x.get("help")) for x in j.get(k, [])]
           for k in ("app_requests_total", "app_active_requests", "app_request_duration_milliseconds",
                     "app_memory_usage_bytes")}
    check_eq(got, {"app_requests_total": [("counter", "", "Requests handled")],
                   "app_active_requests": [("gauge", "", "")],
                   "app_request_duration_milliseconds": [("histogram", "milliseconds", "Request duration")],
                   "app_memory_usage_bytes": [("gauge", "bytes", "")]},
             "/api/v1/metadata: types (a non-monotonic sum is a gauge), units and descriptions")


# ---- Main ----

def main():
    if not ensure_client():
        return
    srv = t.Server(name="otel-js", retention="0").start()
    try:
        reports = []
        for mode, tag in MODES:
            rep = run_send(srv, mode, tag)
            if rep:
                reports.append((mode, rep))
        if not check_eq(len(reports), len(MODES), "send.js reported on every run"):
            return
        check(reports[0][1]["traceId"] != reports[1][1]["traceId"], "the runs made different traces")
        for mode, rep in reports:
            log("# %s: reading back trace %s (tag %s)" % (mode, rep["traceId"], rep["tag"]))
            check_tempo(srv, rep, mode)
            check_jaeger(srv, rep, mode)
            check_search(srv, rep, mode)
            check_logs(srv, rep, mode)
            check_metrics(srv, rep, mode)
        log("# across runs")
        j = srv.get_json("/jaeger/api/services")
        check_eq(j.get("data"), ["checkout", "frontend"], "Jaeger /jaeger/api/services lists both services")
        j = srv.get_json("/api/search/tag/service.name/values")
        check_eq(j.get("tagValues"), ["checkout", "frontend"], "Tempo /api/search/tag/service.name/values")
        j = srv.get_json("/api/v2/search/tag/resource.service.name/values")
        check_eq(j.get("tagValues"), [{"type": "string", "value": "checkout"},
                                      {"type": "string", "value": "frontend"}],
                 "Tempo /api/v2/search/tag/resource.service.name/values")
        check_metadata(srv)
        check_eq(srv.stop(), 0, "SIGTERM: server exits 0")
        check_eq(srv.sanitizer_reports(), [], "no sanitizer reports in the server log")
    finally:
        srv.kill9()


if __name__ == "__main__":
    t.run_main(main)
