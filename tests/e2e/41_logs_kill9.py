#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: kill -9 during sustained Loki pushes loses no acknowledged
log line and duplicates none.

Four writer threads push to /loki/api/v1/push as fast as they can, each to
its own stream {job="kill9", round, thread}, five lines per request with
distinct nanosecond timestamps; requests alternate between JSON (every
fourth gzip-compressed) and snappy protobuf, and the first line of each
request carries structured metadata req=<request number>. After a few
seconds the server gets SIGKILL while requests are in flight and is
restarted at once on the same data directory; the writers reconnect and go
on. Then every line of every request answered 204 must be readable through
/loki/api/v1/query_range exactly once, with its timestamp, stream and
metadata; lines of requests that got no answer may be there, whole or not
at all, and nothing else may be. Round 1 is plain; round 2 also seals the
heads into parts with POST /api/v1/admin/flush during the load; round 3
kills the server while a flush is running. Each restart must keep the
earlier rounds too, and a final SIGTERM restart must answer exactly what
the last kill -9 restart answered.
"""
import gzip
import http.client
import json
import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, check_eq, log  # noqa: E402

THREADS = 4
LINES = 5              # lines per request
LOAD_SECONDS = 6.0
KILL_AFTER = 3.0
NS = 1_000_000_000
MS = 1_000_000
T0 = (time.time_ns() - 3600 * NS) // NS * NS  # an hour ago, on a whole second
SLICE = 400            # requests per read window (2000 lines, below Loki's 5000 limit)


def ts_of(idx, i, k):
    """Request i of thread idx, line k: distinct across threads and lines,
    within the request's own millisecond."""
    return T0 + i * MS + idx * 10_000 + k * 1_000


def line_of(rnd, idx, i, k):
    return "kill9 r%d t%d req %06d line %d %s" % (rnd, idx, i, k, "x" * (k * 7))


# ---- Push bodies (logproto.PushRequest by hand, as in 40_loki_api.py) ----

def pb_entry(ts, line, meta):
    s, n = divmod(ts, NS)
    out = t.pb_len(1, t.pb_uint(1, s) + (t.pb_uint(2, n) if n else b"")) + t.pb_len(2, line)
    for k, v in meta.items():
        out += t.pb_len(3, t.pb_len(1, k) + t.pb_len(2, v))
    return out


def request_body(rnd, idx, i):
    """(body, headers) of request i: JSON for even i (gzip for i % 4 == 2),
    snappy protobuf for odd i."""
    labels = {"job": "kill9", "round": "r%d" % rnd, "thread": "t%d" % idx}
    entries = [(ts_of(idx, i, k), line_of(rnd, idx, i, k), {"req": str(i)} if k == 0 else {})
               for k in range(LINES)]
    if i % 2 == 0:
        body = json.dumps({"streams": [{"stream": labels, "values": [
            [str(ts), line, meta] if meta else [str(ts), line] for ts, line, meta in entries]}]}).encode()
        h = {"Content-Type": "application/json"}
        if i % 4 == 2:
            body = gzip.compress(body, 1)
            h["Content-Encoding"] = "gzip"
        return body, h
    text = "{" + ", ".join('%s="%s"' % kv for kv in labels.items()) + "}"
    stream = t.pb_len(1, text) + b"".join(t.pb_len(2, pb_entry(*e)) for e in entries)
    return t.snappy_encode(t.pb_len(1, stream)), {"Content-Type": "application/x-protobuf"}


class Writer(threading.Thread):
    """Sends request i = 0, 1, 2, ... and records which were answered 204
    and which were sent without an answer (cut off by the kill)."""

    def __init__(self, rnd, idx, port_fn, stop):
        super().__init__(daemon=True)
        self.rnd, self.idx, self.port_fn, self.stop = rnd, idx, port_fn, stop
        self.acked = []
        self.unanswered = []
        self.errors = []   # non-2xx answers: a bug

    def run(self):
        conn = None
        i = 0
        while not self.stop.is_set():
            body, h = request_body(self.rnd, self.idx, i)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port_fn(), timeout=10)
                conn.request("POST", "/loki/api/v1/push", body, h)
                r = conn.getresponse()
                text = r.read()
                if r.status == 204:
                    self.acked.append(i)
                else:
                    self.errors.append((i, r.status, text[:200]))
                    self.unanswered.append(i)
            except (OSError, http.client.HTTPException):
                self.unanswered.append(i)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.02)
            i += 1
        if conn is not None:
            conn.close()


def run_round(srv, rnd, mode):
    """mode: "plain", "flush" (a flush half-way before the kill) or
    "kill-in-flush" (the kill lands while a flush runs)."""
    log("# round %d (%s): %d threads x %d lines per request for %.0f s, kill -9 after %.0f s" %
        (rnd, mode, THREADS, LINES, LOAD_SECONDS, KILL_AFTER))
    stop = threading.Event()
    writers = [Writer(rnd, k, lambda: srv.port, stop) for k in range(THREADS)]
    start = time.monotonic()
    for w in writers:
        w.start()
    flush_result = {}
    if mode == "flush":
        time.sleep(KILL_AFTER / 2)
        r = srv.request("POST", "/api/v1/admin/flush", b"", timeout=60)
        check_eq(r.status, 200, "round %d: POST /api/v1/admin/flush during the load" % rnd)
        log("flush answered %d with %d requests acknowledged so far" %
            (r.status, sum(len(w.acked) for w in writers)))
    while time.monotonic() - start < KILL_AFTER:
        time.sleep(0.02)
    before = sum(len(w.acked) for w in writers)
    if mode == "kill-in-flush":
        port = srv.port

        def flush():
            try:
                r = t.http_request("127.0.0.1", port, "POST", "/api/v1/admin/flush", b"", timeout=60)
                flush_result["status"] = r.status
            except (OSError, http.client.HTTPException) as e:
                flush_result["error"] = str(e)
        ft = threading.Thread(target=flush, daemon=True)
        ft.start()
        time.sleep(0.03)
    srv.kill9()
    killed_at = time.monotonic() - start
    if mode == "kill-in-flush":
        ft.join(timeout=30)
        log("flush when the kill came: %s" % (flush_result or "no answer yet"))
    srv.start()
    restarted_at = time.monotonic() - start
    while time.monotonic() - start < LOAD_SECONDS:
        time.sleep(0.05)
    stop.set()
    for w in writers:
        w.join(timeout=30)
        check(not w.is_alive(), "round %d: writer %d stopped" % (rnd, w.idx))
    acked = sum(len(w.acked) for w in writers)
    unanswered = sum(len(w.unanswered) for w in writers)
    log("round %d: kill -9 at %.1f s (%d requests acknowledged before it), ready again at %.1f s; "
        "%d requests acknowledged in total (%d lines), %d unanswered" %
        (rnd, killed_at, before, restarted_at, acked, acked * LINES, unanswered))
    for w in writers:
        check_eq(w.errors, [], "round %d: writer %d got no answer other than 204" % (rnd, w.idx))
    check(before >= THREADS * 5, "round %d: the load got going before the kill (%d requests)" % (rnd, before))
    check(acked > before, "round %d: pushes were acknowledged again after the restart" % rnd)
    check(unanswered >= 1, "round %d: requests were cut off by the kill (%d)" % (rnd, unanswered))
    return writers


def read_thread(srv, rnd, idx, last_i):
    """Every entry of one writer's stream as (ts, line, labels), read with
    query_range over windows of SLICE requests (each below Loki's default
    max_entries_limit_per_query of 5000)."""
    out = []
    full = []
    q = '{job="kill9", round="r%d", thread="t%d"}' % (rnd, idx)
    a = 0
    while a <= last_i:
        lo, hi = T0 + a * MS, T0 + (a + SLICE) * MS
        r = srv.get("/loki/api/v1/query_range", {"query": q, "start": str(lo), "end": str(hi),
                                                  "limit": "5000", "direction": "forward"})
        if r.status != 200:
            raise RuntimeError("query_range %s [%d, %d) -> %d %s" % (q, lo, hi, r.status, r.body[:300]))
        n = 0
        for s in r.json()["data"]["result"]:
            for v in s["values"]:
                out.append((int(v[0]), v[1], s["stream"]))
                n += 1
        if n >= 5000:
            full.append((lo, hi))
        a += SLICE
    return out, full


def verify_round(srv, rnd, writers, what):
    problems = []
    total = kept_unacked = 0
    snapshot = {}
    for w in writers:
        acked, maybe = set(w.acked), set(w.unanswered)
        last = max(acked | maybe | {0})
        got, full = read_thread(srv, rnd, w.idx, last)
        for lo, hi in full:
            problems.append("t%d: window [%d, %d) hit the limit of 5000 entries" % (w.idx, lo, hi))
        snapshot[w.idx] = sorted((ts, line, tuple(sorted(lb.items()))) for ts, line, lb in got)
        seen = {}
        for ts, line, labels in got:
            d = ts - T0
            i, rem = divmod(d, MS)
            k = (rem - w.idx * 10_000) // 1_000
            want_labels = {"job": "kill9", "round": "r%d" % rnd, "thread": "t%d" % w.idx}
            if k == 0:
                want_labels["req"] = str(i)
            if (d < 0 or not 0 <= k < LINES or ts != ts_of(w.idx, i, k) or line != line_of(rnd, w.idx, i, k)
                    or (i not in acked and i not in maybe)):
                problems.append("t%d: entry never sent: ts=%d %r" % (w.idx, ts, line[:60]))
                continue
            if labels != want_labels:
                problems.append("t%d: req %d line %d: labels %s, want %s" % (w.idx, i, k, labels, want_labels))
            seen.setdefault(i, []).append(k)
        for i in sorted(acked):
            ks = sorted(seen.get(i, []))
            total += LINES
            if ks != list(range(LINES)):
                missing = sorted(set(range(LINES)) - set(ks))
                dup = sorted(k for k in set(ks) if ks.count(k) > 1)
                if missing:
                    problems.append("t%d: acknowledged req %d: lines %s missing" % (w.idx, i, missing))
                if dup:
                    problems.append("t%d: acknowledged req %d: lines %s read more than once" % (w.idx, i, dup))
        for i in sorted(set(seen) - acked):
            ks = sorted(seen[i])
            kept_unacked += 1
            if ks != list(range(LINES)):
                problems.append("t%d: unacknowledged req %d is partly stored or duplicated: lines %s" %
                                (w.idx, i, ks))
    # No other streams of this round.
    r = srv.get("/loki/api/v1/series", {"match[]": '{job="kill9", round="r%d"}' % rnd,
                                        "start": str(T0), "end": str(T0 + 3600 * NS)})
    if r.status == 200:
        threads = sorted(d.get("thread", "?") for d in r.json()["data"])
        if threads != ["t%d" % k for k in range(THREADS)]:
            problems.append("series of round %d: %s" % (rnd, r.json()["data"]))
    else:
        problems.append("/series -> %d %s" % (r.status, r.body[:200]))
    log("%s: round %d: %d acknowledged lines checked, %d unacknowledged requests stored whole" %
        (what, rnd, total, kept_unacked))
    check(not problems, "%s: every acknowledged line of round %d is read back exactly once" % (what, rnd),
          "\n".join(problems[:20]) + ("\n... %d more" % (len(problems) - 20) if len(problems) > 20 else ""))
    return snapshot


def lpart_files(srv):
    out = []
    for root, _, files in os.walk(os.path.join(srv.data_dir, "tenants")):
        out += [f for f in files if f.endswith(".lpart")]
    return out


def main():
    srv = t.Server(name="logs-kill9", retention="0").start()
    rounds = []
    try:
        for rnd, mode in ((1, "plain"), (2, "flush"), (3, "kill-in-flush")):
            writers = run_round(srv, rnd, mode)
            rounds.append(writers)
            what = "after round %d kill -9 restart" % rnd
            for k, ws in enumerate(rounds):
                verify_round(srv, k + 1, ws, what)
            if mode == "flush":
                check(lpart_files(srv), "round 2: the flush left log parts on disk (%d)" % len(lpart_files(srv)))
        before = [verify_round(srv, k + 1, ws, "before the final SIGTERM") for k, ws in enumerate(rounds)]
        check_eq(srv.stop(), 0, "SIGTERM: server exits 0")
        check_eq(srv.sanitizer_reports(), [], "no sanitizer reports in the server log")
        srv.start()
        after = [verify_round(srv, k + 1, ws, "after SIGTERM restart") for k, ws in enumerate(rounds)]
        check(before == after, "after SIGTERM restart: every round reads back exactly as before")
        check_eq(srv.stop(), 0, "final SIGTERM: server exits 0")
        check_eq(srv.sanitizer_reports(), [], "no sanitizer reports after the final restart")
    finally:
        srv.kill9()


if __name__ == "__main__":
    t.run_main(main)
