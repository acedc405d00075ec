#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: traces in through OTLP/HTTP (JSON, gzip JSON and protobuf),
out through Tempo's trace-by-id APIs (v1 {"batches"}, v2 TraceByIDResponse,
JSON and protobuf) and Jaeger's query API (/api/services,
/api/services/<svc>/operations, /api/operations, /jaeger/api/traces/<id>).

Every field of every span sent must come back: ids, names, kinds, times,
attributes of every AnyValue type, events, links, status, flags, trace
state, dropped counts, resource and scope (with schema URLs), grouped by
resource and scope. Unknown ids give 404, malformed ones 400; spans
without ids are a partial success. The data must survive a restart, a
flush into parts and a kill -9 (parts plus write-ahead log replay).

The protobuf encoder and decoder for OTLP traces are written by hand below
(standard library only)."""
import base64
import gzip
import json
import os
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, check_eq, log  # noqa: E402

CONFORMANCE = "/work/shared/conformance/otlp-json/trace.json"
NS = 1_000_000_000

# ---- OTLP protobuf (trace.proto, common.proto, resource.proto) ----
# Message schemas: field name -> (number, kind, submessage schema name).
SCHEMA = {
    "TracesData": {"resourceSpans": (1, "msg*", "ResourceSpans")},
    "ResourceSpans": {"resource": (1, "msg", "Resource"), "scopeSpans": (2, "msg*", "ScopeSpans"),
                      "schemaUrl": (3, "str", None)},
    "Resource": {"attributes": (1, "msg*", "KeyValue"), "droppedAttributesCount": (2, "u32", None)},
    "ScopeSpans": {"scope": (1, "msg", "Scope"), "spans": (2, "msg*", "Span"),
                   "schemaUrl": (3, "str", None)},
    "Scope": {"name": (1, "str", None), "version": (2, "str", None),
              "attributes": (3, "msg*", "KeyValue"), "droppedAttributesCount": (4, "u32", None)},
    "Span": {"traceId": (1, "id", None), "spanId": (2, "id", None), "traceState": (3, "str", None),
             "parentSpanId": (4, "id", None), "flags": (16, "f32", None), "name": (5, "str", None),
             "kind": (6, "u32", None), "startTimeUnixNano": (7, "f64", None),
             "endTimeUnixNano": (8, "f64", None), "attributes": (9, "msg*", "KeyValue"),
             "droppedAttributesCount": (10, "u32", None), "events": (11, "msg*", "Event"),
             "droppedEventsCount": (12, "u32", None), "links": (13, "msg*", "Link"),
             "droppedLinksCount": (14, "u32", None), "status": (15, "msg", "Status")},
    "Event": {"timeUnixNano": (1, "f64", None), "name": (2, "str", None),
              "attributes": (3, "msg*", "KeyValue"), "droppedAttributesCount": (4, "u32", None)},
    "Link": {"traceId": (1, "id", None), "spanId": (2, "id", None), "traceState": (3, "str", None),
             "attributes": (4, "msg*", "KeyValue"), "droppedAttributesCount": (5, "u32", None),
             "flags": (6, "f32", None)},
    "Status": {"message": (2, "str", None), "code": (3, "u32", None)},
    "KeyValue": {"key": (1, "str", None), "value": (2, "msg", "AnyValue")},
    "AnyValue": {"stringValue": (1, "str", None), "boolValue": (2, "bool", None),
                 "intValue": (3, "i64", None), "doubleValue": (4, "dbl", None),
                 "arrayValue": (5, "msg", "ArrayValue"), "kvlistValue": (6, "msg", "KvList"),
                 "bytesValue": (7, "b64", None)},
    "ArrayValue": {"values": (1, "msg*", "AnyValue")},
    "KvList": {"values": (1, "msg*", "KeyValue")},
}


def _varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def pb_encode(msg, schema="TracesData"):
    """Encode an OTLP JSON object (dict) as protobuf by SCHEMA."""
    out = bytearray()
    fields = SCHEMA[schema]
    for name, val in msg.items():
        if name not in fields or val is None:
            continue
        num, kind, sub = fields[name]
        vals = val if kind == "msg*" else [val]
        for v in vals:
            if kind in ("msg", "msg*"):
                b = pb_encode(v, sub)
                out += _varint(num << 3 | 2) + _varint(len(b)) + b
            elif kind == "str":
                b = v.encode()
                out += _varint(num << 3 | 2) + _varint(len(b)) + b
            elif kind == "id":
                b = bytes.fromhex(v)
                out += _varint(num << 3 | 2) + _varint(len(b)) + b
            elif kind == "b64":
                b = base64.b64decode(v)
                out += _varint(num << 3 | 2) + _varint(len(b)) + b
            elif kind in ("u32", "i64"):
                out += _varint(num << 3) + _varint(int(v))
            elif kind == "bool":
                out += _varint(num << 3) + _varint(1 if v else 0)
            elif kind == "f32":
                out += _varint(num << 3 | 5) + struct.pack("<I", int(v))
            elif kind == "f64":
                out += _varint(num << 3 | 1) + struct.pack("<Q", int(v))
            elif kind == "dbl":
                out += _varint(num << 3 | 1) + struct.pack("<d", float(v))
    return bytes(out)


def _fields(buf):
    """Split a protobuf message into (number, wire type, value) triples."""
    i, out = 0, []
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _read_varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        elif wt == 2:
            n, i = _read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, wt, v))
    return out


def _read_varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def pb_decode(buf, schema="TracesData"):
    """Decode protobuf into the OTLP JSON form (dict), by SCHEMA."""
    by_num = {num: (name, kind, sub) for name, (num, kind, sub) in SCHEMA[schema].items()}
    out = {}
    for num, wt, v in _fields(buf):
        if num not in by_num:
            continue
        name, kind, sub = by_num[num]
        if kind == "msg*":
            out.setdefault(name, []).append(pb_decode(v, sub))
        elif kind == "msg":
            out[name] = pb_decode(v, sub)
        elif kind == "str":
            out[name] = v.decode()
        elif kind == "id":
            out[name] = v.hex()
        elif kind == "b64":
            out[name] = base64.b64encode(v).decode()
        elif kind == "u32":
            out[name] = v
        elif kind == "i64":
            out[name] = str(v - (1 << 64) if v >= 1 << 63 else v)
        elif kind == "bool":
            out[name] = bool(v)
        elif kind == "f32":
            out[name] = struct.unpack("<I", v)[0]
        elif kind == "f64":
            out[name] = str(struct.unpack("<Q", v)[0])
        elif kind == "dbl":
            out[name] = struct.unpack("<d", v)[0]
    return out


# ---- Normal forms for comparison ----

def norm_value(v):
    v = v or {}
    if "stringValue" in v:
        return ("s", v["stringValue"])
    if "boolValue" in v:
        return ("b", bool(v["boolValue"]))
    if "intValue" in v:
        return ("i", int(v["intValue"]))
    if "doubleValue" in v:
        d = v["doubleValue"]
        return ("d", float(d) if not isinstance(d, str) else d)
    if "bytesValue" in v:
        return ("y", base64.b64decode(v["bytesValue"]))
    if "arrayValue" in v:
        return ("a", tuple(norm_value(x) for x in (v["arrayValue"] or {}).get("values", [])))
    if "kvlistValue" in v:
        return ("k", norm_attrs((v["kvlistValue"] or {}).get("values", [])))
    return ("e",)


def norm_attrs(attrs):
    return tuple((a["key"], norm_value(a.get("value"))) for a in attrs or [])


def _hex(s):
    return (s or "").lower()


def norm_span(s):
    st = s.get("status") or {}
    return {
        "traceId": _hex(s["traceId"]), "spanId": _hex(s["spanId"]),
        "parentSpanId": _hex(s.get("parentSpanId")), "traceState": s.get("traceState", ""),
        "flags": int(s.get("flags", 0)), "name": s.get("name", ""), "kind": int(s.get("kind", 0)),
        "start": int(s.get("startTimeUnixNano", 0)), "end": int(s.get("endTimeUnixNano", 0)),
        "attributes": norm_attrs(s.get("attributes")),
        "droppedAttributesCount": int(s.get("droppedAttributesCount", 0)),
        "events": tuple((int(e.get("timeUnixNano", 0)), e.get("name", ""),
                         norm_attrs(e.get("attributes")), int(e.get("droppedAttributesCount", 0)))
                        for e in s.get("events") or []),
        "droppedEventsCount": int(s.get("droppedEventsCount", 0)),
        "links": tuple((_hex(l.get("traceId")), _hex(l.get("spanId")), l.get("traceState", ""),
                        norm_attrs(l.get("attributes")), int(l.get("droppedAttributesCount", 0)),
                        int(l.get("flags", 0)))
                       for l in s.get("links") or []),
        "droppedLinksCount": int(s.get("droppedLinksCount", 0)),
        "status": (int(st.get("code", 0)), st.get("message", "")),
    }


def flatten(resource_spans):
    """{spanId: (span, resource, resource schema, scope, scope schema)} and
    the list of (resource, scope) group keys in answer order."""
    out, groups = {}, []
    for rs in resource_spans or []:
        res = rs.get("resource") or {}
        rkey = (norm_attrs(res.get("attributes")), int(res.get("droppedAttributesCount", 0)))
        for ss in rs.get("scopeSpans") or []:
            sc = ss.get("scope") or {}
            skey = (sc.get("name", ""), sc.get("version", ""), norm_attrs(sc.get("attributes")),
                    int(sc.get("droppedAttributesCount", 0)))
            groups.append((rkey, rs.get("schemaUrl", ""), skey, ss.get("schemaUrl", "")))
            for sp in ss.get("spans") or []:
                n = norm_span(sp)
                out[n["spanId"]] = (n, rkey, rs.get("schemaUrl", ""), skey, ss.get("schemaUrl", ""))
    return out, groups


# ---- Generated traces ----

def attr(k, v):
    return {"key": k, "value": v}


def S(v):
    return {"stringValue": v}


T0 = int(time.time()) * NS - 3600 * NS  # an hour ago


def gen_request(trace_id, other_trace_id, t0):
    """Three services (frontend in namespace shop, backend, db), parent and
    child spans, events, links, error status and every attribute type."""
    every_type = [
        attr("str", S("héllo \"quoted\" \\ back,\"resource\":{ tricky")),
        attr("bool.t", {"boolValue": True}), attr("bool.f", {"boolValue": False}),
        attr("int", {"intValue": "-9223372036854775808"}), attr("int.big", {"intValue": "9007199254740993"}),
        attr("dbl", {"doubleValue": 0.1}), attr("dbl.big", {"doubleValue": 1.5e300}),
        attr("bytes", {"bytesValue": base64.b64encode(b"\x00\xff\x10bin").decode()}),
        attr("arr", {"arrayValue": {"values": [S("a"), {"intValue": "7"}, {"boolValue": True},
                                               {"arrayValue": {"values": [{"doubleValue": 2.5}]}}]}}),
        attr("kv", {"kvlistValue": {"values": [attr("inner", S("x")),
                                               attr("deep", {"kvlistValue": {"values": [attr("n", {"intValue": "1"})]}})]}}),
        attr("empty", {}),
    ]
    root, child, back, dbs = "a1a1a1a1a1a1a1a1", "b2b2b2b2b2b2b2b2", "c3c3c3c3c3c3c3c3", "d4d4d4d4d4d4d4d4"
    return {"resourceSpans": [
        {"resource": {"attributes": [attr("service.name", S("frontend")),
                                     attr("service.namespace", S("shop")),
                                     attr("host.name", S("web-1")), attr("pid", {"intValue": "42"})],
                      "droppedAttributesCount": 2},
         "schemaUrl": "https://opentelemetry.io/schemas/1.21.0",
         "scopeSpans": [
             {"scope": {"name": "http-server", "version": "1.2.3",
                        "attributes": [attr("scope.attr", S("s"))], "droppedAttributesCount": 1},
              "schemaUrl": "https://opentelemetry.io/schemas/1.20.0",
              "spans": [
                  {"traceId": trace_id, "spanId": root, "name": "GET /checkout", "kind": 2,
                   "traceState": "vendor=abc", "flags": 257,
                   "startTimeUnixNano": str(t0), "endTimeUnixNano": str(t0 + 900_000_123),
                   "attributes": every_type, "droppedAttributesCount": 3,
                   "events": [{"timeUnixNano": str(t0 + 10_000), "name": "request.received",
                               "attributes": [attr("size", {"intValue": "512"})], "droppedAttributesCount": 1},
                              {"timeUnixNano": str(t0 + 20_000), "name": "no-attrs"}],
                   "droppedEventsCount": 4,
                   "links": [{"traceId": other_trace_id, "spanId": "e5e5e5e5e5e5e5e5",
                              "traceState": "k=v", "attributes": [attr("link.kind", S("batch"))],
                              "droppedAttributesCount": 1, "flags": 1}],
                   "droppedLinksCount": 5,
                   "status": {"code": 1, "message": "fine"}},
              ]},
             {"scope": {"name": "http-client"},
              "spans": [
                  {"traceId": trace_id, "spanId": child, "parentSpanId": root, "name": "POST backend",
                   "kind": 3, "startTimeUnixNano": str(t0 + 1000), "endTimeUnixNano": str(t0 + 800_000_000),
                   "attributes": [attr("http.method", S("POST"))], "status": {}},
              ]},
         ]},
        {"resource": {"attributes": [attr("service.name", S("backend"))]},
         "scopeSpans": [
             {"scope": {"name": "grpc", "version": "0.9"},
              "spans": [
                  {"traceId": trace_id, "spanId": back, "parentSpanId": child, "name": "Checkout",
                   "kind": 2, "startTimeUnixNano": str(t0 + 5000), "endTimeUnixNano": str(t0 + 700_000_000),
                   "events": [{"timeUnixNano": str(t0 + 6000), "name": "exception",
                               "attributes": [attr("exception.type", S("ValueError")),
                                              attr("exception.message", S("boom"))]}],
                   "status": {"code": 2, "message": "boom"}},
                  {"traceId": trace_id, "spanId": "f6f6f6f6f6f6f6f6", "parentSpanId": back,
                   "name": "enqueue", "kind": 4, "startTimeUnixNano": str(t0 + 7000),
                   "endTimeUnixNano": str(t0 + 8000)},
                  {"traceId": trace_id, "spanId": "0707070707070707", "parentSpanId": back,
                   "name": "internal work", "kind": 1, "startTimeUnixNano": str(t0 + 9000),
                   "endTimeUnixNano": str(t0 + 9500)},
              ]},
         ]},
        {"resource": {"attributes": [attr("service.name", S("db"))]},
         "scopeSpans": [
             {"scope": {},
              "spans": [
                  {"traceId": trace_id, "spanId": dbs, "parentSpanId": back, "name": "SELECT orders",
                   "kind": 5, "startTimeUnixNano": str(t0 + 10_000), "endTimeUnixNano": str(t0 + 600_000_000),
                   "attributes": [attr("db.system", S("postgresql"))]},
              ]},
         ]},
    ]}


def post_traces(srv, body, content_type="application/json", gz=False):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"Content-Type": content_type}
    if gz:
        data = gzip.compress(data)
        h["Content-Encoding"] = "gzip"
    return srv.request("POST", "/v1/traces", data, h)


# ---- Checks ----

def check_tempo(srv, trace_id, sent, what):
    """Tempo v1/v2, JSON/protobuf: every sent span comes back unchanged,
    grouped by resource and scope."""
    want, want_groups = flatten(sent["resourceSpans"])
    variants = [
        ("/api/traces/", {}, lambda r: r.json()["batches"]),
        ("/api/v2/traces/", {}, lambda r: r.json()["trace"]["resourceSpans"]),
        ("/api/traces/", {"Accept": "application/protobuf"},
         lambda r: pb_decode(r.body).get("resourceSpans")),
        ("/api/v2/traces/", {"Accept": "application/protobuf"},
         lambda r: pb_decode(dict((n, v) for n, _, v in _fields(r.body)).get(1, b"")).get("resourceSpans")),
    ]
    for path, hdr, extract in variants:
        tag = "%s: %s%s %s" % (what, path, trace_id, hdr.get("Accept", "json"))
        r = srv.get(path + trace_id, headers=hdr)
        if not check_eq(r.status, 200, tag + " status"):
            log(r.body[:300])
            continue
        ctype = r.headers.get("content-type", "")
        check(("protobuf" in ctype) == bool(hdr), tag + " content type", ctype)
        got, groups = flatten(extract(r))
        check_eq(sorted(got), sorted(want), tag + " span ids")
        bad = [k for k in want if got.get(k) != want[k]]
        check(not bad, tag + " every field of every span round-trips",
              "\n".join("%s\n  want %s\n  got  %s" % (k, want[k], got.get(k)) for k in bad[:3]))
        check_eq(sorted(set(groups), key=repr), sorted(set(want_groups), key=repr),
                 tag + " grouped by resource and scope")
        check_eq(len(groups), len(set(groups)), tag + " each (resource, scope) group once")


def check_jaeger(srv, trace_id, what):
    r = srv.get("/jaeger/api/traces/" + trace_id)
    if not check_eq(r.status, 200, what + ": jaeger trace status"):
        return
    d = r.json()
    check_eq((d["total"], d["limit"], d["offset"], d["errors"]), (0, 0, 0, None), what + ": jaeger envelope")
    tr = d["data"][0]
    check_eq(tr["traceID"], trace_id, what + ": jaeger traceID")
    spans = {s["spanID"]: s for s in tr["spans"]}
    check_eq(len(spans), 7, what + ": jaeger span count")
    procs = tr["processes"]
    svc = {s["spanID"]: procs[s["processID"]]["serviceName"] for s in tr["spans"]}
    check_eq(svc,
             {"a1a1a1a1a1a1a1a1": "frontend", "b2b2b2b2b2b2b2b2": "frontend",
              "c3c3c3c3c3c3c3c3": "backend", "f6f6f6f6f6f6f6f6": "backend",
              "0707070707070707": "backend", "d4d4d4d4d4d4d4d4": "db",
              "0808080808080808": "frontend"},
             what + ": jaeger processes by span")
    fe = [p for p in procs.values() if p["serviceName"] == "frontend"]
    check(any({"key": "host.name", "type": "string", "value": "web-1"} in p["tags"] for p in fe),
          what + ": jaeger process tags")
    root = spans["a1a1a1a1a1a1a1a1"]
    check_eq((root["operationName"], root["startTime"], root["duration"], root["flags"]),
             ("GET /checkout", T0 // 1000, 900_000, 1), what + ": jaeger root span fields")
    tags = {t_["key"]: (t_["type"], t_["value"]) for t_ in root["tags"]}
    check_eq(tags.get("span.kind"), ("string", "server"), what + ": span.kind tag")
    check_eq(tags.get("otel.status_code"), ("string", "OK"), what + ": otel.status_code tag")
    check_eq(tags.get("int"), ("int64", -9223372036854775808), what + ": int64 tag")
    check_eq(tags.get("bool.t"), ("bool", True), what + ": bool tag")
    check_eq(tags.get("dbl"), ("float64", 0.1), what + ": float64 tag")
    check_eq(tags.get("bytes"), ("binary", base64.b64encode(b"\x00\xff\x10bin").decode()),
             what + ": binary tag")
    check_eq(json.loads(tags.get("arr", ("", "null"))[1]), ["a", 7, True, [2.5]], what + ": array tag")
    check_eq(tags.get("otel.scope.name"), ("string", "http-server"), what + ": scope name tag")
    check_eq(tags.get("w3c.tracestate"), ("string", "vendor=abc"), what + ": tracestate tag")
    check_eq(root["references"], [{"refType": "FOLLOWS_FROM", "traceID": "ab" * 16,
                                   "spanID": "e5e5e5e5e5e5e5e5"}], what + ": link as FOLLOWS_FROM")
    check_eq(root["logs"][0], {"timestamp": (T0 + 10_000) // 1000,
                               "fields": [{"key": "event", "type": "string", "value": "request.received"},
                                          {"key": "size", "type": "int64", "value": 512}]},
             what + ": event as log")
    back = spans["c3c3c3c3c3c3c3c3"]
    check_eq(back["references"], [{"refType": "CHILD_OF", "traceID": trace_id,
                                   "spanID": "b2b2b2b2b2b2b2b2"}], what + ": parent as CHILD_OF")
    btags = {t_["key"]: (t_["type"], t_["value"]) for t_ in back["tags"]}
    check_eq((btags.get("error"), btags.get("otel.status_code"), btags.get("otel.status_description")),
             (("bool", True), ("string", "ERROR"), ("string", "boom")), what + ": error status tags")


def check_all(srv, what, trace1, req1, trace2, req2, conf_id, conf):
    check_tempo(srv, trace1, req1, what + " generated")
    check_tempo(srv, trace2, req2, what + " protobuf-sent")
    check_tempo(srv, conf_id, conf, what + " conformance trace.json")
    check_jaeger(srv, trace1, what)
    d = srv.get_json("/api/services")
    check_eq(d["data"], ["backend", "db", "frontend", "my.service", "proto-svc"], what + ": /api/services")
    check_eq(d["total"], 5, what + ": /api/services total")
    check_eq(srv.get_json("/jaeger/api/services")["data"], d["data"], what + ": /jaeger/api/services")
    ops = srv.get_json("/api/services/backend/operations")
    check_eq(ops["data"], ["Checkout", "enqueue", "internal work", "proto op"],
             what + ": /api/services/backend/operations")
    ops = srv.get_json("/api/operations", {"service": "backend", "spanKind": "server"})
    check_eq(ops["data"], [{"name": "Checkout", "spanKind": "server"}],
             what + ": /api/operations spanKind=server")


def main():
    with open(CONFORMANCE) as f:
        conf = json.load(f)
    conf_id = conf["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"].lower()

    srv = t.Server(name="traces").start()
    r = srv.get("/api/echo")
    check_eq((r.status, r.body, r.headers.get("content-type", "").split(";")[0]),
             (200, b"echo", "text/plain"), "/api/echo")

    # Conformance file, as gzip JSON.
    r = post_traces(srv, conf, gz=True)
    check_eq((r.status, r.json()), (200, {}), "POST trace.json (gzip JSON)")

    # Generated trace: JSON; a link to trace "abab...".
    trace1 = "1f2e3d4c5b6a79881f2e3d4c5b6a7988"
    req1 = gen_request(trace1, "ab" * 16, T0)
    # A span in a second request for the same trace (another batch, same
    # resource as the first frontend one but other scope).
    extra = {"resourceSpans": [{"resource": req1["resourceSpans"][0]["resource"],
                                "schemaUrl": req1["resourceSpans"][0]["schemaUrl"],
                                "scopeSpans": [{"scope": {"name": "late"},
                                                "spans": [{"traceId": trace1.upper(), "spanId": "0808080808080808",
                                                           "parentSpanId": "a1a1a1a1a1a1a1a1", "name": "late span",
                                                           "kind": 1, "startTimeUnixNano": str(T0 + 50),
                                                           "endTimeUnixNano": str(T0 + 60)}]}]}]}
    r = post_traces(srv, req1)
    check_eq((r.status, r.json()), (200, {}), "POST generated trace (JSON)")
    r = post_traces(srv, extra)
    check_eq(r.status, 200, "POST second batch of the same trace")
    # Sending the same request again must not duplicate spans.
    r = post_traces(srv, extra)
    check_eq(r.status, 200, "POST the second batch again (duplicate)")
    req1_all = {"resourceSpans": req1["resourceSpans"] + extra["resourceSpans"]}
    for sp in extra["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        sp["traceId"] = sp["traceId"].lower()

    # Protobuf trace with a short (left-padded) id.
    trace2 = "0000000000000000000123456789abcd"
    req2 = {"resourceSpans": [{"resource": {"attributes": [attr("service.name", S("proto-svc"))]},
                               "scopeSpans": [{"scope": {"name": "pb", "version": "1"},
                                               "spans": [{"traceId": trace2, "spanId": "1111111111111111",
                                                          "name": "pb root", "kind": 2,
                                                          "startTimeUnixNano": str(T0 + 100),
                                                          "endTimeUnixNano": str(T0 + 200),
                                                          "attributes": [attr("d", {"doubleValue": -2.25}),
                                                                         attr("b", {"bytesValue": "AAE="})],
                                                          "status": {"code": 2}}]}]},
                              {"resource": {"attributes": [attr("service.name", S("backend"))]},
                               "scopeSpans": [{"scope": {"name": "grpc", "version": "0.9"},
                                               "spans": [{"traceId": trace2, "spanId": "2222222222222222",
                                                          "parentSpanId": "1111111111111111",
                                                          "name": "proto op", "kind": 3,
                                                          "startTimeUnixNano": str(T0 + 150),
                                                          "endTimeUnixNano": str(T0 + 160)}]}]}]}
    r = post_traces(srv, pb_encode(req2), "application/x-protobuf")
    check_eq((r.status, r.headers.get("content-type"), r.body), (200, "application/x-protobuf", b""),
             "POST protobuf trace")

    # Partial success: one span without a span id, one with a zero trace id.
    bad = {"resourceSpans": [{"resource": {"attributes": [attr("service.name", S("frontend"))]},
                              "scopeSpans": [{"spans": [
                                  {"traceId": "99" * 16, "spanId": "", "name": "no span id"},
                                  {"traceId": "00" * 16, "spanId": "1234567812345678", "name": "zero trace"},
                                  {"traceId": "99" * 16, "spanId": "9999999999999999", "name": "ok one",
                                   "startTimeUnixNano": str(T0), "endTimeUnixNano": str(T0 + 1)}]}]}]}
    r = post_traces(srv, bad)
    ps = r.json().get("partialSuccess", {}) if r.status == 200 else {}
    check_eq((r.status, ps.get("rejectedSpans")), (200, "2"), "partial success counts bad ids")
    r = srv.get("/api/traces/" + "99" * 16)
    check_eq(r.status, 200, "the valid span of a partial success is stored")
    r = post_traces(srv, pb_encode(bad), "application/x-protobuf")
    check_eq(r.status, 200, "partial success (protobuf)")
    ps = {n: v for n, _, v in _fields(dict((n, v) for n, _, v in _fields(r.body)).get(1, b""))}
    check_eq(ps.get(1), 2, "protobuf partial_success.rejected_spans")

    # Errors.
    r = post_traces(srv, b"{not json")
    check_eq((r.status, r.headers.get("content-type")), (400, "application/json"), "undecodable JSON -> 400")
    check("code" in r.json(), "400 carries a google.rpc.Status", r.body)
    r = srv.request("POST", "/v1/traces", b"x", {"Content-Type": "text/plain"})
    check_eq(r.status, 415, "unsupported content type -> 415")
    r = srv.request("POST", "/otlp/v1/traces", json.dumps({"resourceSpans": []}).encode(),
                    {"Content-Type": "application/json"})
    check_eq((r.status, r.json()), (200, {}), "/otlp/v1/traces with an empty request")

    r = srv.get("/api/traces/" + "5" * 32)
    check_eq((r.status, r.body), (404, b"trace not found"), "Tempo v1 unknown id -> 404")
    r = srv.get("/api/v2/traces/" + "5" * 32)
    check_eq(r.status, 404, "Tempo v2 unknown id -> 404")
    for badid in ("xyz", "1" * 33, "0" * 32, ""):
        r = srv.get("/api/traces/" + badid)
        check_eq(r.status, 400, "Tempo malformed id %r -> 400" % badid)
    r = srv.get("/jaeger/api/traces/zz")
    check_eq((r.status, r.json()["errors"][0]["code"]), (400, 400), "Jaeger malformed id -> 400")
    r = srv.get("/jaeger/api/traces/" + "5" * 32)
    check_eq((r.status, r.json()["data"]), (404, None), "Jaeger unknown id -> 404")

    # Short and upper-case ids; start/end in Unix seconds.
    r = srv.get("/api/traces/123456789ABCD")
    check_eq(r.status, 200, "Tempo left-pads a short, upper-case id")
    s0 = T0 // NS
    r = srv.get("/api/traces/" + trace1, {"start": s0 - 10, "end": s0 + 10})
    check_eq(r.status, 200, "start/end around the trace -> found")
    r = srv.get("/api/traces/" + trace1, {"start": s0 + 100, "end": s0 + 200})
    check_eq(r.status, 404, "start/end after the trace -> 404")
    r = srv.get("/api/traces/" + trace1, {"start": "x"})
    check_eq(r.status, 400, "bad start -> 400")

    args = (trace1, req1_all, trace2, req2, conf_id, conf)
    check_all(srv, "live", *args)

    # Restart (WAL replay), flush into parts, kill -9 with data in parts and WAL.
    srv.stop()
    srv.start()
    check_all(srv, "after restart", *args)
    r = srv.request("POST", "/api/v1/admin/flush")
    check(r.status in (200, 204), "flush", r.status)
    check_all(srv, "after flush", *args)
    trace3 = "77" * 16
    req3 = {"resourceSpans": [{"resource": {"attributes": [attr("service.name", S("db"))]},
                               "scopeSpans": [{"scope": {"name": "after-flush"},
                                               "spans": [{"traceId": trace3, "spanId": "3333333333333333",
                                                          "name": "after flush", "kind": 3,
                                                          "startTimeUnixNano": str(T0 + 5),
                                                          "endTimeUnixNano": str(T0 + 6)}]}]}]}
    check_eq(post_traces(srv, req3).status, 200, "POST after flush")
    srv.kill9()
    srv.start()
    check_all(srv, "after kill -9", *args)
    check_tempo(srv, trace3, req3, "after kill -9 (WAL only)")
    check_eq(srv.sanitizer_reports(), [], "no sanitizer reports")
    srv.stop()


if __name__ == "__main__":
    t.run_main(main)
