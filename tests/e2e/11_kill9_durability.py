#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: kill -9 during sustained remote write loses nothing that was
acknowledged (README "Where the data lives": a write is answered 2xx only
once it is in the fsynced write-ahead log, which is replayed at start-up).

Four writer threads, each with its own 50 series, send one sample per series
per request with increasing timestamps as fast as they can for about 8 s.
After about 4 s the server gets SIGKILL while requests are in flight and is
restarted at once on the same data directory; the writers reconnect and go
on. Every acknowledged sample must then be exported with its exact value and
timestamp; samples whose request got no answer may or may not be
there, but nothing else may be (no invented, duplicated or altered samples,
no other series). Round 1 is plain;
round 2 also issues POST /api/v1/admin/flush during the load, so the answer
needs both sealed parts and the log. A final SIGTERM restart must keep
everything of both rounds.
"""
import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, check_eq, log  # noqa: E402

THREADS = 4
SERIES = 50
LOAD_SECONDS = 8.0
KILL_AFTER = 4.0
T0 = 1_700_000_000_000


def value_of(rnd, thread, series, i):
    # Distinct, exactly representable, and different per round/thread/series.
    return rnd * 1e9 + thread * 1e7 + series * 1e5 + i + 0.25


class Writer(threading.Thread):
    """Sends request i = 0, 1, 2, ... (one sample per series at T0 + i*1000)
    and records which requests were acknowledged (2xx) and which were sent
    but got no answer (connection reset by the kill)."""

    def __init__(self, rnd, idx, port_fn, stop):
        super().__init__(daemon=True)
        self.rnd, self.idx, self.port_fn, self.stop = rnd, idx, port_fn, stop
        self.acked = []        # request numbers answered 2xx
        self.unanswered = []   # request numbers sent without a 2xx answer
        self.errors = []       # non-2xx HTTP answers (a bug unless during shutdown)
        self.labels = [[("__name__", "load_r%d" % rnd), ("series", "s%02d" % k), ("thread", "t%d" % idx)]
                       for k in range(SERIES)]

    def body(self, i):
        ts = T0 + i * 1000
        return t.snappy_encode(t.write_request(
            [(self.labels[k], [(ts, value_of(self.rnd, self.idx, k, i))]) for k in range(SERIES)]))

    def run(self):
        import http.client
        conn = None
        i = 0
        while not self.stop.is_set():
            body = self.body(i)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port_fn(), timeout=10)
                conn.request("POST", "/api/v1/write", body,
                             {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                              "X-Prometheus-Remote-Write-Version": "0.1.0"})
                r = conn.getresponse()
                r.read()
                if 200 <= r.status < 300:
                    self.acked.append(i)
                else:
                    self.errors.append((i, r.status))
                    self.unanswered.append(i)
            except (OSError, http.client.HTTPException):
                # The server is gone: this request may or may not be stored.
                self.unanswered.append(i)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.02)
            i += 1
        if conn is not None:
            conn.close()


def run_round(srv, rnd, flush):
    """Load for LOAD_SECONDS; kill -9 after KILL_AFTER and restart at once on
    the same data directory while the writers keep going (they reconnect to
    the new port). Returns the writers with their records."""
    log("# round %d: %d threads x %d series for %.0f s, kill -9 after %.0f s%s" %
        (rnd, THREADS, SERIES, LOAD_SECONDS, KILL_AFTER,
         ", with a flush during the load" if flush else ""))
    stop = threading.Event()
    writers = [Writer(rnd, k, lambda: srv.port, stop) for k in range(THREADS)]
    start = time.monotonic()
    for w in writers:
        w.start()
    flushed = None
    if flush:
        time.sleep(KILL_AFTER / 2)
        r = srv.request("POST", "/api/v1/admin/flush", b"", timeout=60)
        flushed = r.status
        log("flush answered %d with %d requests acknowledged so far" %
            (r.status, sum(len(w.acked) for w in writers)))
    while time.monotonic() - start < KILL_AFTER:
        time.sleep(0.02)
    before = sum(len(w.acked) for w in writers)
    srv.kill9()
    killed_at = time.monotonic() - start
    srv.start()
    restarted_at = time.monotonic() - start
    while time.monotonic() - start < LOAD_SECONDS:
        time.sleep(0.05)
    stop.set()
    for w in writers:
        w.join(timeout=30)
        check(not w.is_alive(), "round %d: writer %d stopped" % (rnd, w.idx))
    if flush:
        check_eq(flushed, 200, "round %d: POST /api/v1/admin/flush during the load" % rnd)
    acked = sum(len(w.acked) for w in writers)
    unanswered = sum(len(w.unanswered) for w in writers)
    log("round %d: kill -9 at %.1f s (%d requests acknowledged before it), ready again at %.1f s; "
        "in total %d requests acknowledged (%d samples), %d unanswered" %
        (rnd, killed_at, before, restarted_at, acked, acked * SERIES, unanswered))
    for w in writers:
        check_eq(w.errors, [], "round %d: writer %d got no non-2xx answers" % (rnd, w.idx))
    check(before >= THREADS * 5, "round %d: the load got going before the kill (%d requests)" % (rnd, before))
    check(acked > before, "round %d: writes were acknowledged again after the restart" % rnd)
    check(unanswered >= THREADS, "round %d: requests were cut off by the kill (%d)" % (rnd, unanswered))
    return writers


def verify_round(srv, rnd, writers, what):
    exported = srv.export('{__name__="load_r%d"}' % rnd)
    problems = []
    kept_unacked = 0
    total = 0
    for w in writers:
        acked = set(w.acked)
        maybe = set(w.unanswered)
        for k in range(SERIES):
            key = frozenset(dict(w.labels[k]).items())
            row = exported.get(key)
            want_ts = sorted(T0 + i * 1000 for i in acked)
            if row is None:
                if acked:
                    problems.append("series %s missing (%d acknowledged samples)" % (t.fmt_labels(key), len(acked)))
                continue
            got = dict(zip(row["timestamps"], row["values"]))
            if len(got) != len(row["timestamps"]):
                problems.append("%s: duplicate timestamps" % t.fmt_labels(key))
            for i in sorted(acked):
                ts = T0 + i * 1000
                total += 1
                if ts not in got:
                    problems.append("%s: acknowledged sample ts=%d missing" % (t.fmt_labels(key), ts))
                elif got[ts] != value_of(w.rnd, w.idx, k, i):
                    problems.append("%s: ts=%d value %r, want %r" %
                                    (t.fmt_labels(key), ts, got[ts], value_of(w.rnd, w.idx, k, i)))
            for ts, v in got.items():
                i, rem = divmod(ts - T0, 1000)
                if rem or (i not in acked and i not in maybe):
                    problems.append("%s: sample ts=%d was never sent" % (t.fmt_labels(key), ts))
                elif i not in acked:
                    kept_unacked += 1
                    if v != value_of(w.rnd, w.idx, k, i):
                        problems.append("%s: unacknowledged ts=%d has a wrong value %r" % (t.fmt_labels(key), ts, v))
            if row["timestamps"] != sorted(row["timestamps"]):
                problems.append("%s: timestamps not sorted" % t.fmt_labels(key))
    extra = [k for k in exported if dict(k).get("thread") not in {"t%d" % w.idx for w in writers}]
    for k in extra:
        problems.append("unexpected series %s" % t.fmt_labels(k))
    log("%s: round %d: %d acknowledged samples checked, %d unacknowledged samples also present" %
        (what, rnd, total, kept_unacked))
    check(not problems, "%s: every acknowledged sample of round %d is exported exactly" % (what, rnd),
          "\n".join(problems[:20]) + ("\n... %d more" % (len(problems) - 20) if len(problems) > 20 else ""))
    return exported


def main():
    srv = t.Server(name="kill9").start()
    try:
        w1 = run_round(srv, 1, flush=False)
        e1 = verify_round(srv, 1, w1, "after kill -9 restart")

        w2 = run_round(srv, 2, flush=True)
        verify_round(srv, 1, w1, "after second kill -9 restart")
        e2 = verify_round(srv, 2, w2, "after second kill -9 restart")
        parts = []
        for root, _, files in os.walk(os.path.join(srv.data_dir, "tenants")):
            parts += [f for f in files if f.endswith(".part")]
        check(parts, "round 2: the flush left on-disk parts (%d)" % len(parts))

        # A clean restart keeps exactly what the kill -9 restart showed.
        rc = srv.stop()
        check_eq(rc, 0, "SIGTERM: server exits 0")
        check_eq(srv.sanitizer_reports(), [], "no sanitizer reports in the server log")
        srv.start()
        check_eq(srv.export('{__name__="load_r1"}'), e1, "after SIGTERM restart: round 1 data unchanged")
        check_eq(srv.export('{__name__="load_r2"}'), e2, "after SIGTERM restart: round 2 data unchanged")
        rc = srv.stop()
        check_eq(rc, 0, "final SIGTERM: server exits 0")
    finally:
        srv.kill9()


if __name__ == "__main__":
    t.run_main(main)
