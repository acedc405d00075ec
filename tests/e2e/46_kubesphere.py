#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: KubeSphere's logging, events and auditing query API.

A fresh server (from $SEXTANT_BIN, through sxtest) receives logs with
POST /loki/api/v1/push (application/json: streams with namespace/pod/
container labels, one with Fluent Bit's kubernetes_* labels, one whose lines
are Fluent Bit records and one without Kubernetes labels), Kubernetes events
with POST /api/v1/k8s/events (an EventList and single events, one through
POST /kapis/logging.kubesphere.io/v1alpha2/events) and audit events with
POST /api/v1/k8s/audit (audit.k8s.io keys and KubeSphere's Go field names).

Then every operation (query, statistics, histogram, export) and every kind
of filter (exact lists, fuzzy token-prefix and substring searches, workload
to pod matching, AND across and OR within parameters, time ranges, paging
and sort) is checked against answers worked out by hand from that data,
first from the in-memory heads, then again after POST /api/v1/admin/flush
(reads from parts), and after late and out-of-order entries that make the
head and two parts of one day overlap.
"""
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402

BASE = 1704067200  # 2024-01-01T00:00:00Z, aligned to every bucket size used
NS = 10**9
LOGS = "/kapis/logging.kubesphere.io/v1alpha2/logs"
LOGGING = "/kapis/logging.kubesphere.io/v1alpha2/logging"
TENANT_LOGS = "/kapis/tenant.kubesphere.io/v1alpha2/logs"
EVENTS = "/kapis/logging.kubesphere.io/v1alpha2/events"
TENANT_EVENTS = "/kapis/tenant.kubesphere.io/v1alpha2/events"
AUDIT = "/kapis/logging.kubesphere.io/v1alpha2/auditing"
TENANT_AUDIT = "/kapis/tenant.kubesphere.io/v1alpha2/auditing/events"

# ---- Data ----

WEB1 = {"namespace": "prod", "pod": "web-7d9c5b8f4-x2x7q", "container": "nginx"}
WEB2 = {"namespace": "prod", "pod": "web-7d9c5b8f4-k8s2p", "container": "sidecar"}
DB = {"namespace": "prod", "pod": "db-0", "container": "postgres"}
# "aeiou" is no ReplicaSet hash and no DaemonSet suffix the normalizer
# accepts, so this stream has no workload label; KubeSphere's pod name
# regexp (web-[a-z0-9]{5}) still finds it for workloads=web.
STG = {"namespace": "staging", "pod": "web-aeiou", "container": "nginx"}
FB_LABELS = {"kubernetes_namespace_name": "fb-ns", "kubernetes_pod_name": "fluent-7bd4f",
             "kubernetes_container_name": "agent"}
FB = {"namespace": "fb-ns", "pod": "fluent-7bd4f", "container": "agent"}
JS = {"namespace": "jsonns", "pod": "jpod-0", "container": "jc"}

# (stream labels as pushed, record fields, [(second offset, line, log text)])
STREAMS = [
    (WEB1, WEB1, [(0, "GET /index.html 200", None),
                  (10, "Error: connection refused", None),
                  (20, "terror alert", None),
                  (30, "error: disk full", None),
                  (40, "\x1b[31mred alert\x1b[0m", None)]),
    (WEB2, WEB2, [(5, "sidecar started", None),
                  (15, "WARN retrying request_id=abc.def", None),
                  (25, "sidecar error count=3", None)]),
    (DB, DB, [(12, "database system is ready to accept connections", None),
              (22, "FATAL: password authentication failed", None)]),
    (STG, STG, [(7, "staging hello", None),
                (17, "staging Errors everywhere", None)]),
    (FB_LABELS, FB, [(3, "fluent line one", None),
                     (33, "fluent line two error", None)]),
    ({"job": "fluent-bit"}, JS,
     [(8, json.dumps({"log": "json hello world\n", "stream": "stdout",
                      "kubernetes": {"namespace_name": "jsonns", "pod_name": "jpod-0",
                                     "container_name": "jc", "labels": {"app": "j"}}}),
       "json hello world\n")]),
    ({"job": "syslog"}, {}, [(9, "kernel: eth0 link up", None)]),
]

# Every entry as (offset, log text, record fields), for expected answers.
ENTRIES = []
for _labels, fields, values in STREAMS:
    for off, line, text in values:
        ENTRIES.append((off, text if text is not None else line, fields))


def push_logs(srv, streams):
    body = {"streams": [{"stream": labels,
                         "values": [[str((BASE + off) * NS), line] for off, line, _ in values]}
                        for labels, _fields, values in streams]}
    r = srv.request("POST", "/loki/api/v1/push", json.dumps(body).encode(),
                    {"Content-Type": "application/json"})
    t.check_status(r, 204, "push %d log streams" % len(streams))


def ts(off):
    s = BASE + off
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".000000000Z"


def event(name, ns, kind, obj, uid, reason, typ, msg, last, ws=None):
    md = {"name": name, "uid": "ev-" + name}
    if ns:
        md["namespace"] = ns
    if ws:
        md["annotations"] = {"kubesphere.io/workspace": ws}
    io = {"kind": kind, "name": obj, "uid": uid, "apiVersion": "v1"}
    if ns:
        io["namespace"] = ns
    return {"apiVersion": "v1", "kind": "Event", "metadata": md, "involvedObject": io,
            "reason": reason, "type": typ, "message": msg, "count": 1,
            "source": {"component": "kubelet"},
            "firstTimestamp": ts(last - 50)[:19] + "Z", "lastTimestamp": ts(last)[:19] + "Z"}


E1 = event("e1", "prod", "Pod", "web-7d9c5b8f4-x2x7q", "u1", "BackOff", "Warning",
           "Back-off restarting failed container nginx", 100, "ws-a")
E2 = event("e2", "prod", "Pod", "web-7d9c5b8f4-x2x7q", "u1", "Pulled", "Normal",
           'Successfully pulled image "nginx:1.25"', 110, "ws-a")
E3 = event("e3", "staging", "Deployment", "web", "u2", "ScalingReplicaSet", "Normal",
           "Scaled up replica set web-7d9c5b8f4 to 3", 120, "ws-b")
E4 = event("e4", None, "Node", "node-1", "u3", "NodeNotReady", "Warning",
           "Node node-1 status is now: NodeNotReady", 130)
E5 = event("e5", "kube-system", "Pod", "coredns-5d78c9869d-abcde", "u4", "FailedScheduling",
           "Warning", "0/3 nodes are available: insufficient cpu", 140)
E6 = event("e6", "prod", "Pod", "db-0", "u5", "Unhealthy", "Warning",
           "Readiness probe failed: connection refused", 200, "ws-a")


def audit(aid, level, verb, user, groups, ips, ref, code, status, off, ws=None, caps=False):
    ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": aid,
          "stage": "ResponseComplete", "level": level, "verb": verb,
          "requestURI": "/api/v1/x", "user": {"username": user, "groups": groups},
          "sourceIPs": ips, "objectRef": ref, "responseStatus": {"code": code},
          "requestReceivedTimestamp": ts(off)[:19] + ".000000Z",
          "stageTimestamp": ts(off)[:19] + ".000000Z"}
    if status:
        ev["responseStatus"]["status"] = status
    if ws:
        ev["annotations"] = {"kubesphere.io/workspace": ws}
    if caps:
        # KubeSphere's re-emitted events: Go field names at the top level.
        ev = {k[0].upper() + k[1:]: v for k, v in ev.items()}
        ev["ObjectRef"] = {k[0].upper() + k[1:]: v for k, v in ref.items()}
        if ws:
            del ev["Annotations"]
            ev["Workspace"] = ws
    return ev


A1 = audit("a1", "Metadata", "create", "admin", ["system:authenticated", "workspaces-manager"],
           ["10.0.0.1"], {"resource": "pods", "namespace": "prod", "name": "web-1"}, 201, None,
           300, "ws-a")
A2 = audit("a2", "Request", "delete", "alice", ["devs"], ["192.168.1.20", "10.0.0.9"],
           {"resource": "deployments", "namespace": "staging", "name": "web"}, 200, "Success",
           310, "ws-b", caps=True)
A3 = audit("a3", "RequestResponse", "get", "system:serviceaccount:kube-system:coredns",
           ["system:serviceaccounts"], ["10.0.0.5"],
           {"resource": "pods", "subresource": "log", "namespace": "prod", "name": "db-0"}, 403,
           "Failure", 320)
A4 = audit("a4", "Metadata", "list", "admin", ["system:authenticated"], ["10.0.0.1"],
           {"resource": "nodes"}, 200, None, 330)
A5 = audit("a5", "Metadata", "update", "bob", ["system:authenticated"], ["10.1.2.3"],
           {"resource": "configmaps", "namespace": "prod", "name": "cfg"}, 500, "Failure", 400,
           "ws-a")


# ---- Helpers ----

def get(srv, path, params=None):
    r = srv.get(path, params)
    if r.status != 200:
        raise RuntimeError("GET %s %s -> %d %s" % (path, params, r.status, r.body[:300]))
    return r.json()


def want_logs(pred=lambda off, text, f: True, desc=True):
    """Expected (offset, text, fields) matching pred, in answer order."""
    es = [e for e in ENTRIES if pred(*e)]
    return sorted(es, key=lambda e: -e[0] if desc else e[0])


def record(e):
    off, text, f = e
    r = {"log": text, "time": ts(off)}
    r.update(f)
    return r


def check_logs(srv, params, want, what, size=None, frm=0, path=LOGS):
    p = dict(params)
    p.setdefault("size", str(size if size is not None else 1000))
    if frm:
        p["from"] = str(frm)
    q = get(srv, path, p)
    recs = [record(e) for e in want]
    got = q.get("query", {})
    exp = {"total": len(want)}
    page = recs[frm:frm + int(p["size"])]
    if page:
        exp["records"] = page
    return t.check_eq(got, exp, what)


def ev_names(q):
    return [r["metadata"]["name"] for r in (q["query"]["records"] or [])]


def audit_ids(q):
    return [r.get("auditID", r.get("AuditID")) for r in (q["query"]["records"] or [])]


def hist(off_counts):
    return [{"time": (BASE + off) * 1000, "count": c} for off, c in off_counts]


# ---- Checks ----

def logs_checks(srv, label):
    L = "logs (%s): " % label
    everything = want_logs()
    # Default query: newest 10 of 16.
    q = get(srv, LOGS)
    t.check_eq(q, {"query": {"total": 16, "records": [record(e) for e in everything[:10]]}},
               L + "default query: total, 10 newest records, RFC 3339 time, omitted empty fields")
    for p in (LOGGING, TENANT_LOGS):
        t.check_eq(get(srv, p), q, L + "same answer at " + p)
    check_logs(srv, {"sort": "asc"}, want_logs(desc=False), L + "sort=asc", size=3)
    check_logs(srv, {}, everything, L + "from=14 size=10 (last two)", size=10, frm=14)
    t.check_eq(get(srv, LOGS, {"from": "16"}), {"query": {"total": 16}},
               L + "from past the end: no records key")
    pages = []
    for f in range(0, 16, 4):
        pages += get(srv, LOGS, {"from": str(f), "size": "4"})["query"]["records"]
    t.check_eq(pages, [record(e) for e in everything], L + "four pages of 4 = the whole list")
    pages = []
    for f in range(0, 16, 5):
        pages += get(srv, LOGS, {"from": str(f), "size": "5", "sort": "asc"})["query"]["records"]
    t.check_eq(pages, [record(e) for e in want_logs(desc=False)], L + "asc pages of 5")
    t.check_eq(len(get(srv, LOGS, {"size": "abc"})["query"]["records"]), 10,
               L + "size=abc gives 10 records")
    t.check_eq(get(srv, LOGS, {"from": "x", "size": "2"})["query"]["records"],
               [record(e) for e in everything[:2]], L + "bad from falls back to 0")
    t.check_eq(get(srv, LOGS, {"operation": "bogus"}), {"query": {"total": 16}},
               L + "unknown operation: a query with size 0")
    t.check_eq(get(srv, LOGS, {"sort": "ASC", "size": "1"})["query"]["records"],
               [record(everything[0])], L + "sort other than asc is desc")

    def ns(*names):
        return lambda o, x, f: f.get("namespace") in names

    # Namespaces: exact list, substring query, AND between them.
    check_logs(srv, {"namespaces": "prod"}, want_logs(ns("prod")), L + "namespaces=prod")
    check_logs(srv, {"namespaces": "prod,staging"}, want_logs(ns("prod", "staging")),
               L + "namespaces OR within the list")
    check_logs(srv, {"namespaces": "nope"}, [], L + "unknown namespace: nothing")
    check_logs(srv, {"namespace_query": "rod"}, want_logs(ns("prod")),
               L + "namespace_query substring")
    check_logs(srv, {"namespace_query": "PROD"}, [], L + "namespace_query is case-sensitive")
    check_logs(srv, {"namespace_query": "stag,fb"}, want_logs(ns("staging", "fb-ns")),
               L + "namespace_query OR of substrings")
    check_logs(srv, {"namespaces": "prod", "namespace_query": "stag"}, [],
               L + "namespaces AND namespace_query")
    check_logs(srv, {"namespaces": "fb-ns"}, want_logs(ns("fb-ns")),
               L + "Fluent Bit kubernetes_* labels are found by namespace")
    check_logs(srv, {"namespaces": "jsonns"}, want_logs(ns("jsonns")),
               L + "Fluent Bit record lines: namespace from the record, log field as text")

    def pod(*names):
        return lambda o, x, f: f.get("pod") in names

    def cont(*names):
        return lambda o, x, f: f.get("container") in names

    check_logs(srv, {"pods": "db-0"}, want_logs(pod("db-0")), L + "pods=db-0")
    check_logs(srv, {"pods": "db-0,web-aeiou"}, want_logs(pod("db-0", "web-aeiou")),
               L + "pods OR")
    check_logs(srv, {"pods": "db"}, [], L + "pods is exact")
    check_logs(srv, {"containers": "nginx"}, want_logs(cont("nginx")), L + "containers=nginx")
    check_logs(srv, {"containers": "nginx", "namespaces": "staging"}, want_logs(pod("web-aeiou")),
               L + "containers AND namespaces")
    # Workloads: label or KubeSphere's pod-name regexp.
    web = pod("web-7d9c5b8f4-x2x7q", "web-7d9c5b8f4-k8s2p", "web-aeiou")
    check_logs(srv, {"workloads": "web"}, want_logs(web),
               L + "workloads=web: Deployment pods and a pod matched by name only")
    check_logs(srv, {"workloads": "db"}, want_logs(pod("db-0")), L + "workloads=db (StatefulSet)")
    check_logs(srv, {"workloads": "fluent"}, want_logs(pod("fluent-7bd4f")),
               L + "workloads=fluent (DaemonSet)")
    check_logs(srv, {"workloads": "we"}, [], L + "workloads is no prefix match")
    check_logs(srv, {"workloads": "db,fluent"}, want_logs(pod("db-0", "fluent-7bd4f")),
               L + "workloads OR")
    # Fuzzy: token prefix on the pod and container names.
    check_logs(srv, {"workload_query": "web"}, want_logs(web), L + "workload_query=web")
    check_logs(srv, {"pod_query": "7d9"}, want_logs(pod("web-7d9c5b8f4-x2x7q",
                                                        "web-7d9c5b8f4-k8s2p")),
               L + "pod_query matches the start of any token")
    check_logs(srv, {"pod_query": "eb"}, [], L + "pod_query does not match inside a token")
    check_logs(srv, {"pod_query": "WEB"}, want_logs(web), L + "pod_query is case-insensitive")
    check_logs(srv, {"pod_query": "web-7d9c5b8f4-x2"}, want_logs(pod("web-7d9c5b8f4-x2x7q")),
               L + "pod_query phrase, last token a prefix")
    check_logs(srv, {"pod_query": "db,jpod"}, want_logs(pod("db-0", "jpod-0")),
               L + "pod_query OR")
    check_logs(srv, {"container_query": "side"}, want_logs(cont("sidecar")),
               L + "container_query prefix")
    check_logs(srv, {"container_query": "Ngin"}, want_logs(cont("nginx")),
               L + "container_query case-insensitive")
    check_logs(srv, {"container_query": "inx"}, [], L + "container_query no infix")
    # log_query: match_phrase_prefix over the standard analyzer's tokens.
    err = [10, 17, 25, 30, 33]
    check_logs(srv, {"log_query": "err"}, want_logs(lambda o, x, f: o in err),
               L + "log_query=err: Error, error:, Errors but not terror")
    check_logs(srv, {"log_query": "ERROR"}, want_logs(lambda o, x, f: o in err),
               L + "log_query case-insensitive, last token a prefix")
    check_logs(srv, {"log_query": "err,fatal"}, want_logs(lambda o, x, f: o in err + [22]),
               L + "log_query keywords ORed")
    check_logs(srv, {"log_query": "connection ref"}, want_logs(lambda o, x, f: o == 10),
               L + "log_query phrase")
    check_logs(srv, {"log_query": "ref connection"}, [], L + "log_query phrase order counts")
    check_logs(srv, {"log_query": "abc.def"}, want_logs(lambda o, x, f: o == 15),
               L + "log_query token with a dot")
    check_logs(srv, {"log_query": "abc"}, want_logs(lambda o, x, f: o == 15),
               L + "log_query prefix of a dotted token")
    check_logs(srv, {"log_query": "def"}, [], L + "log_query not inside a token")
    check_logs(srv, {"log_query": "json"}, want_logs(lambda o, x, f: o == 8),
               L + "log_query searches a Fluent Bit record's log field")
    check_logs(srv, {"log_query": "jsonns"}, [],
               L + "log_query does not search the record's kubernetes metadata")
    q = get(srv, LOGS, {"log_query": "kernel"})
    t.check_eq(q, {"query": {"total": 1, "records": [{"log": "kernel: eth0 link up",
                                                        "time": ts(9)}]}},
               L + "record without Kubernetes fields has only log and time")
    check_logs(srv, {"log_query": ","}, [], L + "empty keywords match nothing")
    # AND across parameters.
    check_logs(srv, {"namespaces": "prod", "log_query": "err"},
               want_logs(lambda o, x, f: o in (10, 25, 30)), L + "namespaces AND log_query")
    check_logs(srv, {"containers": "nginx", "log_query": "err"},
               want_logs(lambda o, x, f: o in (10, 17, 30)), L + "containers AND log_query")
    check_logs(srv, {"pods": "db-0", "log_query": "err"}, [], L + "pods AND log_query: none")
    check_logs(srv, {"workloads": "web", "log_query": "err", "sort": "asc"},
               want_logs(lambda o, x, f: o in (10, 17, 25, 30), desc=False),
               L + "workloads AND log_query, asc")
    t.check_eq(get(srv, LOGS, {"log_query": "err", "size": "2", "from": "1"})["query"],
               {"total": 5, "records": [record(e) for e in
                                        want_logs(lambda o, x, f: o in err)[1:3]]},
               L + "log_query paging")
    # Time range, seconds, both ends inclusive.
    check_logs(srv, {"start_time": str(BASE + 10), "end_time": str(BASE + 20)},
               want_logs(lambda o, x, f: 10 <= o <= 20), L + "start_time..end_time inclusive")
    check_logs(srv, {"start_time": str(BASE + 30)}, want_logs(lambda o, x, f: o >= 30),
               L + "start_time only")
    check_logs(srv, {"end_time": str(BASE + 5)}, want_logs(lambda o, x, f: o <= 5),
               L + "end_time only")
    check_logs(srv, {"start_time": str(BASE + 20), "end_time": str(BASE + 10)}, [],
               L + "start after end: nothing")
    # Statistics.
    t.check_eq(get(srv, LOGS, {"operation": "statistics"}),
               {"statistics": {"containers": 6, "logs": 16}}, L + "statistics")
    t.check_eq(get(srv, LOGS, {"operation": "statistics", "log_query": "err"}),
               {"statistics": {"containers": 4, "logs": 5}}, L + "statistics with log_query")
    t.check_eq(get(srv, LOGS, {"operation": "statistics", "namespaces": "prod"}),
               {"statistics": {"containers": 3, "logs": 10}}, L + "statistics of a namespace")
    t.check_eq(get(srv, LOGS, {"operation": "statistics", "namespaces": "x"}),
               {"statistics": {"containers": 0, "logs": 0}}, L + "statistics of nothing")
    # Histograms.
    t.check_eq(get(srv, LOGS, {"operation": "histogram", "interval": "10s"}),
               {"histogram": {"total": 16, "histograms": hist([(0, 6), (10, 4), (20, 3),
                                                               (30, 2), (40, 1)])}},
               L + "histogram 10s")
    t.check_eq(get(srv, LOGS, {"operation": "histogram", "interval": "5s",
                               "log_query": "fatal,kernel"}),
               {"histogram": {"total": 2, "histograms": hist([(5, 1), (10, 0), (15, 0),
                                                              (20, 1)])}},
               L + "histogram with empty buckets between")
    t.check_eq(get(srv, LOGS, {"operation": "histogram"}),
               {"histogram": {"total": 16, "histograms": hist([(0, 16)])}},
               L + "histogram default interval 15m")
    for iv in ("1d", "1w", "1M", "1q", "1y"):
        want = BASE * 1000  # 2024-01-01 is a Monday, the first of a month, quarter and year
        t.check_eq(get(srv, LOGS, {"operation": "histogram", "interval": iv})["histogram"],
                   {"total": 16, "histograms": [{"time": want, "count": 16}]},
                   L + "histogram calendar interval " + iv)
    t.check_eq(get(srv, LOGS, {"operation": "histogram", "pods": "none"}),
               {"histogram": {"total": 0, "histograms": None}}, L + "histogram of nothing")
    # Export.
    r = srv.get(LOGS, {"operation": "export"})
    t.check_status(r, 200, L + "export")
    t.check_eq(r.header("content-type"), "text/plain", L + "export content type")
    t.check_eq(r.header("content-disposition"), "attachment", L + "export disposition")
    body = "".join((x if x.endswith("\n") else x + "\n") for _, x, _ in everything)
    body = body.replace("\x1b[31m", "").replace("\x1b[0m", "")
    t.check_eq(r.text(), body, L + "export body: newest first, ANSI stripped, one per line")
    r = srv.get(LOGS, {"operation": "export", "log_query": "err", "size": "1"})
    t.check_eq(r.text(), "".join(x + "\n" for _, x, _ in want_logs(lambda o, x, f: o in err)),
               L + "export with log_query (size ignored)")
    r = srv.get(LOGS, {"operation": "export", "exportLineLimit": "3"})
    t.check_eq(r.text().splitlines(), ["red alert", "fluent line two error", "error: disk full"],
               L + "export exportLineLimit=3")
    r = srv.get(LOGS, {"operation": "export", "namespaces": "none"})
    t.check_eq((r.status, r.body), (200, b""), L + "export of nothing is empty")


def logs_error_checks(srv):
    for params, what in (({"start_time": "abc"}, "bad start_time"),
                         ({"end_time": "1.5"}, "fractional end_time"),
                         ({"start_time": "99999999999999999999"}, "start_time out of range"),
                         ({"operation": "histogram", "interval": "abc"}, "bad interval"),
                         ({"operation": "histogram", "interval": "2w"}, "2w interval"),
                         ({"operation": "histogram", "interval": "0s"}, "zero interval"),
                         ({"operation": "histogram", "interval": "1ms"}, "ms interval"),
                         ({"size": "-1"}, "negative size"),
                         ({"from": "-5"}, "negative from"),
                         ({"from": "9995", "size": "10"}, "result window too large")):
        r = srv.get(LOGS, params)
        ok = r.status == 400
        try:
            ok = ok and isinstance(r.json().get("message"), str) and r.json()["message"]
        except ValueError:
            ok = False
        t.check(ok, "logs: %s -> 400 {\"message\":...}" % what, "got %d %r" % (r.status, r.body))
    r = srv.get(LOGS, {"start_time": "abc"})
    t.check_in("strconv.ParseInt: parsing \"abc\": invalid syntax", r.json().get("message", ""),
               "logs: bad start_time message names Go's parse error")
    r = srv.get(LOGS, {"operation": "query", "interval": "abc"})
    t.check_status(r, 200, "logs: interval is only read for histograms")
    r = srv.request("POST", LOGS, b"", {"Content-Type": "application/json"})
    t.check_status(r, 405, "logs: POST is not a query")
    r = srv.get(LOGS, {"operation": "histogram", "interval": "1s",
                       "start_time": "0"})
    t.check_status(r, 200, "logs: 1s histogram over 40 s of data is fine")
    # A 1 s histogram from the 1970 entry to 2024 needs too many buckets.
    push_logs(srv, [({"namespace": "old", "pod": "p", "container": "c"}, {},
                     [(-BASE + 1, "ancient", None)])])
    r = srv.get(LOGS, {"operation": "histogram", "interval": "1s"})
    t.check(r.status == 400 and "too many buckets" in r.text(),
            "logs: too many histogram buckets -> 400", "got %d %r" % (r.status, r.body[:200]))
    t.check_eq(get(srv, LOGS, {"namespaces": "old"})["query"]["records"],
               [{"log": "ancient", "time": "1970-01-01T00:00:01.000000000Z", "namespace": "old",
                 "pod": "p", "container": "c"}], "logs: 1970 timestamp formats")


def events_checks(srv, label):
    L = "events (%s): " % label

    def names_of(params):
        return ev_names(get(srv, EVENTS, dict(params, size="100")))

    q = get(srv, EVENTS)
    t.check_eq(q["query"]["total"], 6, L + "total")
    t.check_eq(ev_names(q), ["e6", "e5", "e4", "e3", "e2", "e1"],
               L + "records newest lastTimestamp first")
    t.check_eq(q["query"]["records"][0], E6, L + "records are the stored Event objects")
    t.check_eq(get(srv, TENANT_EVENTS), q, L + "same answer at the tenant route")
    t.check_eq(names_of({"sort": "asc", "size": "2"})[:2], ["e1", "e2"], L + "sort=asc")
    t.check_eq(ev_names(get(srv, EVENTS, {"sort": "asc", "size": "2"})), ["e1", "e2"],
               L + "size=2")
    t.check_eq(ev_names(get(srv, EVENTS, {"from": "4", "size": "10"})), ["e2", "e1"],
               L + "from=4")
    t.check_eq(get(srv, EVENTS, {"from": "6"}), {"query": {"total": 6, "records": None}},
               L + "past the end: records null")
    t.check_eq(names_of({"involved_object_namespace_filter": "prod"}), ["e6", "e2", "e1"],
               L + "namespace filter")
    t.check_eq(names_of({"involved_object_namespace_filter": "prod,staging"}),
               ["e6", "e3", "e2", "e1"], L + "namespace filter OR (no cluster-scoped events)")
    t.check_eq(names_of({"involved_object_namespace_search": "kube"}), ["e5"],
               L + "namespace search substring")
    t.check_eq(names_of({"involved_object_namespace_search": "Kube"}), [],
               L + "namespace search case-sensitive")
    t.check_eq(names_of({"workspace_filter": "ws-a"}), ["e6", "e2", "e1"], L + "workspace filter")
    t.check_eq(names_of({"workspace_search": "ws"}), ["e6", "e3", "e2", "e1"],
               L + "workspace search")
    t.check_eq(names_of({"workspace_filter": "ws-b", "involved_object_namespace_filter": "prod"}),
               [], L + "workspace AND namespace")
    t.check_eq(names_of({"involved_object_name_filter": "db-0"}), ["e6"], L + "name filter")
    t.check_eq(names_of({"involved_object_name_filter": "web"}), ["e3"], L + "name filter exact")
    t.check_eq(names_of({"involved_object_name_search": "web"}), ["e3", "e2", "e1"],
               L + "name search token prefix")
    t.check_eq(names_of({"involved_object_name_search": "dns"}), [],
               L + "name search not inside a token")
    t.check_eq(names_of({"involved_object_kind_filter": "Pod"}), ["e6", "e5", "e2", "e1"],
               L + "kind filter")
    t.check_eq(names_of({"involved_object_kind_filter": "pod"}), ["e6", "e5", "e2", "e1"],
               L + "kind filter case-insensitive (analyzed field)")
    t.check_eq(names_of({"involved_object_kind_filter": "Node,Deployment"}), ["e4", "e3"],
               L + "kind filter OR")
    t.check_eq(names_of({"reason_filter": "backoff"}), ["e1"], L + "reason filter")
    t.check_eq(names_of({"reason_search": "Fail"}), ["e5"], L + "reason search substring")
    t.check_eq(names_of({"reason_search": "fail"}), [], L + "reason search case-sensitive")
    t.check_eq(names_of({"reason_search": "Not,Pull"}), ["e4", "e2"], L + "reason search OR")
    t.check_eq(names_of({"message_search": "connection"}), ["e6"], L + "message search")
    t.check_eq(names_of({"message_search": "nodes are"}), ["e5"], L + "message search phrase")
    t.check_eq(names_of({"message_search": "insuff"}), ["e5"], L + "message search prefix")
    t.check_eq(names_of({"message_search": "sufficient"}), [], L + "message search no infix")
    t.check_eq(names_of({"type_filter": "Warning"}), ["e6", "e5", "e4", "e1"], L + "type filter")
    t.check_eq(names_of({"type_filter": "normal"}), ["e3", "e2"], L + "type filter analyzed")
    t.check_eq(names_of({"type_filter": "Warning,Normal"}), [],
               L + "type filter is one phrase, not a list")
    t.check_eq(names_of({"start_time": str(BASE + 110), "end_time": str(BASE + 130)}),
               ["e4", "e3", "e2"], L + "time range on lastTimestamp")
    t.check_eq(names_of({"type_filter": "Warning", "involved_object_kind_filter": "Pod",
                         "involved_object_namespace_filter": "prod"}), ["e6", "e1"],
               L + "three filters ANDed")
    t.check_eq(get(srv, EVENTS, {"operation": "statistics"}),
               {"statistics": {"resources": 5, "events": 6}}, L + "statistics")
    t.check_eq(get(srv, EVENTS, {"operation": "statistics", "type_filter": "Warning"}),
               {"statistics": {"resources": 4, "events": 4}}, L + "statistics filtered")
    t.check_eq(get(srv, EVENTS, {"operation": "histogram", "interval": "1m"}),
               {"histogram": {"total": 6, "buckets": hist([(60, 2), (120, 3), (180, 1)])}},
               L + "histogram buckets")
    t.check_eq(get(srv, EVENTS, {"operation": "histogram", "reason_filter": "none"}),
               {"histogram": {"total": 0, "buckets": None}}, L + "empty histogram")
    t.check_eq(get(srv, EVENTS, {"reason_filter": "none"}),
               {"query": {"total": 0, "records": None}}, L + "no match")
    r = srv.get(EVENTS, {"start_time": "x"})
    t.check_status(r, 400, L + "bad start_time")


def audit_checks(srv, label):
    L = "auditing (%s): " % label

    def ids(params):
        return audit_ids(get(srv, AUDIT, dict(params, size="100")))

    q = get(srv, AUDIT)
    t.check_eq(q["query"]["total"], 5, L + "total")
    t.check_eq(audit_ids(q), ["a5", "a4", "a3", "a2", "a1"], L + "newest first")
    t.check_eq(q["query"]["records"][2], A3, L + "records are the stored audit events")
    t.check_eq(q["query"]["records"][3], A2, L + "KubeSphere-style record kept as sent")
    t.check_eq(get(srv, TENANT_AUDIT), q, L + "same answer at the tenant route")
    t.check_eq(ids({"sort": "asc"}), ["a1", "a2", "a3", "a4", "a5"], L + "asc")
    t.check_eq(ids({"objectref_namespace_filter": "prod"}), ["a5", "a3", "a1"],
               L + "namespace filter")
    t.check_eq(ids({"objectref_namespace_search": "stag"}), ["a2"], L + "namespace search")
    t.check_eq(ids({"workspace_filter": "ws-a"}), ["a5", "a1"], L + "workspace filter")
    t.check_eq(ids({"workspace_search": "ws"}), ["a5", "a2", "a1"], L + "workspace search")
    t.check_eq(ids({"objectref_name_filter": "web"}), ["a2"], L + "name filter exact")
    t.check_eq(ids({"objectref_name_search": "e"}), ["a2", "a1"], L + "name search substring")
    t.check_eq(ids({"level_filter": "Metadata"}), ["a5", "a4", "a1"], L + "level filter")
    t.check_eq(ids({"level_filter": "Request,RequestResponse"}), ["a3", "a2"],
               L + "level filter OR")
    t.check_eq(ids({"verb_filter": "get,list"}), ["a4", "a3"], L + "verb filter")
    t.check_eq(ids({"user_filter": "admin"}), ["a4", "a1"], L + "user filter")
    t.check_eq(ids({"user_search": "system"}), ["a3"], L + "user search")
    t.check_eq(ids({"user_search": "Admin"}), [], L + "user search case-sensitive")
    t.check_eq(ids({"group_search": "dev"}), ["a2"], L + "group search")
    t.check_eq(ids({"group_search": "serviceaccounts,manager"}), ["a3", "a1"],
               L + "group search OR")
    t.check_eq(ids({"source_ip_search": "10.0.0"}), ["a4", "a3", "a2", "a1"],
               L + "source IP search over every address")
    t.check_eq(ids({"source_ip_search": "192.168"}), ["a2"],
               L + "source IP search matches a second address")
    t.check_eq(ids({"objectref_resource_filter": "pod"}), ["a3", "a1"], L + "resource prefix")
    t.check_eq(ids({"objectref_resource_filter": "ods"}), [], L + "resource no infix")
    t.check_eq(ids({"objectref_subresource_filter": "log"}), ["a3"], L + "subresource")
    t.check_eq(ids({"response_code_filter": "200"}), ["a4", "a2"], L + "response code")
    t.check_eq(ids({"response_code_filter": "200,403,abc"}), ["a4", "a3", "a2"],
               L + "response codes, unparsable skipped")
    t.check_eq(ids({"response_code_filter": "abc"}), ["a5", "a4", "a3", "a2", "a1"],
               L + "only unparsable codes: no filter")
    t.check_eq(ids({"response_status_filter": "Failure"}), ["a5", "a3"], L + "response status")
    t.check_eq(ids({"start_time": str(BASE + 310), "end_time": str(BASE + 330)}),
               ["a4", "a3", "a2"], L + "time range")
    t.check_eq(ids({"user_filter": "admin", "verb_filter": "create"}), ["a1"], L + "AND")
    t.check_eq(get(srv, AUDIT, {"operation": "statistics"}),
               {"statistics": {"resources": 5, "events": 5}}, L + "statistics")
    t.check_eq(get(srv, AUDIT, {"operation": "histogram", "interval": "1m"}),
               {"histogram": {"total": 5, "buckets": hist([(300, 4), (360, 1)])}},
               L + "histogram")


def volume_checks():
    """Many entries in four interleaved streams, half in parts and half in
    the heads: deep paging, both sort orders, a rare keyword (the bloom
    filters' case), counts, histogram and export against computed answers."""
    srv = t.Server(name="ks-vol").start()
    nper, nstreams = 5000, 4
    t0 = (BASE + 1000) * NS

    def line(j, k):
        if j % 1000 == 7:
            return "rare needle Zqxjk marker %d/%d" % (k, j)
        return "request id=%d status=ok stream=%d" % (j, k)

    entries = []  # (ns, line, k)
    for half in (0, 1):
        streams = []
        for k in range(nstreams):
            vals = []
            for j in range(half * nper // 2, (half + 1) * nper // 2):
                ts_ns = t0 + (j * nstreams + k) * 10**6
                vals.append([str(ts_ns), line(j, k)])
                entries.append((ts_ns, line(j, k), k))
            streams.append({"stream": {"namespace": "vol", "pod": "vol-%d" % k, "container": "c"},
                            "values": vals})
        r = srv.request("POST", "/loki/api/v1/push", json.dumps({"streams": streams}).encode(),
                        {"Content-Type": "application/json"})
        t.check_status(r, 204, "volume: push half %d" % half)
        if half == 0:
            t.check_status(srv.request("POST", "/api/v1/admin/flush"), 200, "volume: flush half")

    def fmt(ts_ns):
        sec, frac = divmod(ts_ns, NS)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + ".%09dZ" % frac

    def recs(es):
        return [{"log": x, "time": fmt(n), "namespace": "vol", "pod": "vol-%d" % k,
                 "container": "c"} for n, x, k in es]

    desc = sorted(entries, key=lambda e: -e[0])
    asc = desc[::-1]
    total = len(entries)
    q = get(srv, LOGS, {"size": "5"})["query"]
    t.check_eq(q, {"total": total, "records": recs(desc[:5])}, "volume: newest 5")
    q = get(srv, LOGS, {"from": "9990", "size": "10"})["query"]
    t.check_eq(q["records"], recs(desc[9990:10000]), "volume: from=9990 size=10")
    q = get(srv, LOGS, {"from": "4998", "size": "4", "sort": "asc"})["query"]
    t.check_eq(q["records"], recs(asc[4998:5002]), "volume: asc page across the flush")
    rare = [e for e in desc if "Zqxjk" in e[1]]
    q = get(srv, LOGS, {"log_query": "zqxjk", "size": "3"})["query"]
    t.check_eq(q, {"total": len(rare), "records": recs(rare[:3])}, "volume: rare keyword")
    q = get(srv, LOGS, {"log_query": "needle zqx", "size": "2", "sort": "asc"})["query"]
    t.check_eq(q, {"total": len(rare), "records": recs(rare[::-1][:2])},
               "volume: rare phrase, asc")
    t.check_eq(get(srv, LOGS, {"log_query": "zqxjkk"})["query"], {"total": 0},
               "volume: absent keyword")
    t.check_eq(get(srv, LOGS, {"operation": "statistics"}),
               {"statistics": {"containers": nstreams, "logs": total}}, "volume: statistics")
    h = get(srv, LOGS, {"operation": "histogram", "interval": "5s"})["histogram"]
    want = {}
    for n, _, _ in entries:
        key = (n // NS) // 5 * 5 * 1000
        want[key] = want.get(key, 0) + 1
    t.check_eq(h, {"total": total, "histograms": [{"time": k, "count": want[k]}
                                                  for k in sorted(want)]},
               "volume: histogram")
    r = srv.get(LOGS, {"operation": "export", "exportLineLimit": "50", "pods": "vol-1,vol-2"})
    t.check_eq(r.text(), "".join(x + "\n" for _, x, _ in [e for e in desc if e[2] in (1, 2)][:50]),
               "volume: export of two pods, 50 lines")

    # Ideographs are one token each (so any run of them is a phrase);
    # other letters join into words.
    cjk = [(1, "错误信息: 连接失败"), (2, "Café ouvert"), (3, "no match here")]
    body = {"streams": [{"stream": {"namespace": "cjk", "pod": "p-0", "container": "c"},
                         "values": [[str((BASE + o) * NS), x] for o, x in cjk]}]}
    t.check_status(srv.request("POST", "/loki/api/v1/push", json.dumps(body).encode(),
                               {"Content-Type": "application/json"}), 204, "volume: push CJK")
    for kw, want in (("连接", [1]), ("误信", [1]), ("失败,ouv", [2, 1]), ("café", [2]),
                     ("caf", [2]), ("afé", []), ("信息 连", [1])):
        q = get(srv, LOGS, {"namespaces": "cjk", "log_query": kw})["query"]
        t.check_eq([r["log"] for r in q.get("records", [])], [dict(cjk)[o] for o in want],
                   "volume: log_query=%s" % kw)
    srv.stop()
    reports = srv.sanitizer_reports()
    t.check(not reports, "volume: no sanitizer reports (leaks included)", "\n".join(reports[:20]))


def main():
    srv = t.Server(name="ks").start()
    push_logs(srv, STREAMS)
    r = srv.request("POST", "/api/v1/k8s/events",
                    json.dumps({"kind": "EventList", "apiVersion": "v1",
                                "items": [E1, E2, E3, E4]}).encode(),
                    {"Content-Type": "application/json"})
    t.check_status(r, 200, "post an EventList")
    r = srv.request("POST", "/api/v1/k8s/events", json.dumps(E5).encode(),
                    {"Content-Type": "application/json"})
    t.check_status(r, 200, "post a single event")
    r = srv.request("POST", EVENTS, json.dumps(E6).encode(), {"Content-Type": "application/json"})
    t.check_status(r, 200, "post an event to the KubeSphere path (ingestion, not a query)")
    r = srv.request("POST", "/api/v1/k8s/audit",
                    json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
                                "items": [A1, A2, A3, A4]}).encode(),
                    {"Content-Type": "application/json"})
    t.check_status(r, 200, "post an audit EventList")
    r = srv.request("POST", "/api/v1/k8s/audit", json.dumps(A5).encode(),
                    {"Content-Type": "application/json"})
    t.check_status(r, 200, "post a single audit event")

    series = srv.get_json("/loki/api/v1/series",
                          {"match[]": '{pod="web-aeiou"}', "start": str(BASE),
                           "end": str(BASE + 60)})["data"]
    t.check(len(series) == 1 and "workload" not in series[0],
            "the web-aeiou stream has no workload label (regexp path)", series)

    logs_checks(srv, "head")
    events_checks(srv, "head")
    audit_checks(srv, "head")

    snapshot = [(p, get(srv, LOGS, p)) for p in ({}, {"log_query": "err"}, {"size": "16"},
                                                {"operation": "statistics"},
                                                {"operation": "histogram", "interval": "10s"})]
    r = srv.request("POST", "/api/v1/admin/flush")
    t.check_status(r, 200, "flush heads to parts")
    for p, want in snapshot:
        t.check_eq(get(srv, LOGS, p), want, "logs: same answer from parts for %s" % p)
    logs_checks(srv, "parts")
    events_checks(srv, "parts")
    audit_checks(srv, "parts")

    # Late entries: one newer than most, one older than everything flushed,
    # so the head overlaps the part; then a second part of the same day.
    late = [(WEB1, WEB1, [(1, "late old entry", None), (35, "late error entry", None)])]
    push_logs(srv, late)
    ENTRIES.extend([(1, "late old entry", WEB1), (35, "late error entry", WEB1)])
    for label in ("head over part", "two overlapping parts"):
        everything = want_logs()
        t.check_eq(get(srv, LOGS, {"size": "18"})["query"],
                   {"total": 18, "records": [record(e) for e in everything]},
                   "logs (%s): full order" % label)
        pages = []
        for f in range(0, 18, 3):
            pages += get(srv, LOGS, {"from": str(f), "size": "3"})["query"]["records"]
        t.check_eq(pages, [record(e) for e in everything], "logs (%s): pages of 3" % label)
        t.check_eq(get(srv, LOGS, {"size": "2", "sort": "asc"})["query"]["records"],
                   [record(e) for e in want_logs(desc=False)[:2]],
                   "logs (%s): oldest two" % label)
        t.check_eq(get(srv, LOGS, {"log_query": "err", "size": "3"})["query"],
                   {"total": 6, "records": [record(e) for e in want_logs(
                       lambda o, x, f: o in (10, 17, 25, 30, 33, 35))[:3]]},
                   "logs (%s): log_query across head and parts" % label)
        t.check_eq(get(srv, LOGS, {"operation": "statistics", "pods": "web-7d9c5b8f4-x2x7q"}),
                   {"statistics": {"containers": 1, "logs": 7}},
                   "logs (%s): statistics" % label)
        srv.request("POST", "/api/v1/admin/flush")

    logs_error_checks(srv)
    t.check_eq(srv.stop(), 0, "server stops cleanly")
    reports = srv.sanitizer_reports()
    t.check(not reports, "no sanitizer reports (leaks included)", "\n".join(reports[:20]))
    volume_checks()


if __name__ == "__main__":
    t.run_main(main)
