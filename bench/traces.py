#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Trace benchmark: OTLP span ingestion, bytes on disk per span, trace
lookup and search.

Starts `sextant serve` on a loopback port with a fresh temporary data
directory and --retention 0, pushes --spans spans of realistic traces with
sx-spanload (bench/spanload.c) to /v1/traces as OTLP protobuf, flushes
(POST /api/v1/admin/flush), lets compaction settle and measures the trace
store (<data>/tenants/<tenant>/traces, a log store of kind "traces") per
span stored. Then it times trace lookups by id (Tempo GET /api/traces/<id>
for --ids random ids from the sample sx-spanload wrote, cold after a
restart with the data directory's pages evicted, then warm) and searches
(Tempo /api/search by service and duration, by attribute in TraceQL and in
tags= form; Jaeger /jaeger/api/traces by service and by tag), checking
every answer against what was sent, so that an error can never pass for a
fast answer. Prints every figure with its target and PASS/MISS. Python
standard library only; everything started here listens on 127.0.0.1 and is
killed on exit.
"""

import argparse
import atexit
import ctypes
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Targets (issue 5).
TARGET_SPANS_S = 200_000
TARGET_BYTES_PER_SPAN = 40
TARGET_BY_ID_MS = 10          # at 100 million spans stored
TARGET_ATTR_SEARCH_MS = 500   # over an hour of data

# What the searches look for; sx-spanload's frontend serves /api/cart and
# calls checkout in many traces, a few of which take 100 ms or more.
SEARCH_SERVICE = "checkout"
SEARCH_MIN_DURATION_MS = 100
SEARCH_ROUTE = "/api/cart"
SEARCH_LIMIT = 20

_children = []
NICE = 0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- Processes ----

def _die_with_parent():
    """In the child before exec: die with this script (even on SIGKILL);
    apply --nice."""
    if NICE:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_die_with_parent, **kw)
    _children.append(p)
    return p


def stop(p, grace=60):
    """SIGTERM to the process group we started, SIGKILL after grace."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    if p in _children:
        _children.remove(p)


def _cleanup():
    for p in list(_children):
        stop(p, grace=5)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid):
    """utime + stime of all threads of pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_mb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def system_busy_s():
    """CPU seconds all cores spent not idle since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK


def du_bytes(path):
    if not os.path.exists(path):
        return 0
    out = subprocess.run(["du", "-sb", path], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


def evict_page_cache(path, drop_all):
    """Make the next reads of path's files come from disk. With drop_all
    (--drop-caches, root): sync and drop the whole page cache. Otherwise
    drop only these files' clean pages (posix_fadvise DONTNEED), so the
    rest of a shared machine keeps its cache. The server must not be
    running: pages it maps stay."""
    if drop_all:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:
                pass
            finally:
                os.close(fd)


# ---- HTTP ----

class Client:
    """One keep-alive connection (reopened after errors), so that query
    latencies are the server's, not TCP set-up's."""

    def __init__(self, port, timeout):
        self.port, self.timeout, self.conn = port, timeout, None

    def request(self, method, path, body=None, headers=None):
        """Returns (status, body bytes, seconds); status 0 when the
        connection failed, -1 on a timeout."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            t0 = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data, time.perf_counter() - t0
            except socket.timeout as e:
                self.close()
                return -1, str(e).encode(), time.perf_counter() - t0
            except (http.client.HTTPException, OSError) as e:
                self.close()
                if attempt == 1:
                    return 0, str(e).encode(), time.perf_counter() - t0
        return 0, b"", 0.0

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def metrics(client):
    st, body, _ = client.request("GET", "/metrics")
    out = {}
    if st != 200:
        return out
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("sextant_") and " " in line:
            k, v = line.rsplit(" ", 1)
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


# ---- The server ----

class Server:
    """sextant serve on a free loopback port. A watchdog thread samples its
    RSS every 0.2 s, keeps the peak (see take_peak) and kills it (SIGKILL)
    past --max-rss-gb, so that a runaway query or compaction fails the
    figure instead of making the kernel's OOM killer pick a process of
    whoever else shares the machine."""

    def __init__(self, binary, data, logdir, args):
        self.binary, self.data, self.args = binary, data, args
        self.port = free_port()
        self.logpath = os.path.join(logdir, "server.log")
        self.p = None
        self.client = Client(self.port, args.query_timeout)
        self.peak_mb, self.killed = 0.0, None
        self._watch_stop = None

    def start(self):
        logf = open(self.logpath, "ab")
        cmd = [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", self.data,
               "--retention", "0"] + self.args.server_arg
        t0 = time.time()
        self.p = spawn(cmd, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        self.killed = None
        self._watch_stop = threading.Event()
        threading.Thread(target=self._watch, args=(self.p, self._watch_stop), daemon=True).start()
        deadline = time.time() + 600
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"sextant exited with {self.p.returncode} at start; see "
                                   f"{self.logpath}")
            st, _, _ = self.client.request("GET", "/-/ready")
            if st == 200:
                return time.time() - t0
            self.client.close()
            time.sleep(0.1)
        raise RuntimeError("sextant did not become ready in 600 s")

    def _watch(self, p, ev):
        limit = self.args.max_rss_gb * 1024
        while not ev.wait(0.2) and p.poll() is None:
            rss = proc_status_mb(p.pid, "VmRSS")
            if rss != rss:
                continue
            self.peak_mb = max(self.peak_mb, rss)
            if rss > limit:
                self.killed = (f"killed by the benchmark at {rss / 1024:.1f} GiB RSS "
                               f"(--max-rss-gb {self.args.max_rss_gb:g})")
                log(f"traces: sextant {self.killed}")
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return

    def take_peak(self):
        """Peak RSS (MiB) since the last call."""
        v, self.peak_mb = self.peak_mb, 0.0
        return v

    def death(self):
        """Why the server is gone: the watchdog's kill, or its exit status."""
        if self.killed:
            return self.killed
        rc = self.p.poll() if self.p else None
        oom = ", SIGKILL: the OOM killer? see dmesg" if rc == -9 else ""
        return (f"sextant died (exit {rc}{oom}"
                f"; see {self.logpath})")

    def stop(self):
        self.client.close()
        if self._watch_stop:
            self._watch_stop.set()
        if self.p is not None:
            stop(self.p)
            self.p = None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p is not None and self.p.poll() is None


# ---- perf ----

def perf_during(pid, seconds, out_txt, delay=3):
    """Sample the server with perf record -g for `seconds` after `delay`,
    in the background; the report goes to out_txt. Returns the thread."""
    if not shutil.which("perf"):
        log("traces: perf is not installed; no profile")
        return None

    def run():
        time.sleep(delay)
        data = out_txt + ".data"
        r = subprocess.run(["perf", "record", "-g", "-o", data, "-p", str(pid), "--",
                            "sleep", str(seconds)], capture_output=True, text=True)
        if r.returncode != 0:
            with open(out_txt, "w") as f:
                f.write("perf record failed: " + r.stderr)
            return
        rep = [subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children"] + a,
                              capture_output=True, text=True).stdout
               for a in (["-g", "none", "--percent-limit", "0.3"],
                         ["-g", "none", "--sort", "dso", "--percent-limit", "0.5"],
                         ["--children", "-g", "none", "--percent-limit", "2"],
                         ["--percent-limit", "0.5"])]
        with open(out_txt, "w") as f:
            f.write("# flat profile (self time)\n" + rep[0])
            f.write("\n# by object (self time)\n" + rep[1])
            f.write("\n# with children (inclusive time)\n" + rep[2])
            f.write("\n# with call graphs\n" + rep[3])
        try:
            os.unlink(data)
        except OSError:
            pass

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def perf_top_lines(path, n=25):
    """The first n lines of the flat profile, then the by-object summary."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return []
    flat, _, rest = text.partition("# by object")
    dso = rest.split("# with children")[0]

    def pct(block):
        return [ln.rstrip() for ln in block.splitlines()
                if "%" in ln and not ln.lstrip().startswith("#")]
    return pct(flat)[:n] + ["by object:"] + pct(dso)[:8]


# ---- Phase 1: ingestion ----

class Sampler:
    """Samples the server's RSS and log-store figures every `period` s
    during a load."""

    KEYS = ("sextant_log_head_entries", "sextant_log_parts", "sextant_log_compactions_total")

    def __init__(self, server, period=5):
        self.server, self.period = server, period
        self.client = Client(server.port, 30)
        self.rows, self._stop = [], threading.Event()
        self.t0 = time.time()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(self.period):
            if not self.server.alive():
                return
            m = metrics(self.client)
            row = {"t": time.time() - self.t0,
                   "rss_mb": proc_status_mb(self.server.pid, "VmRSS")}
            row.update({k: m.get(k) for k in self.KEYS})
            self.rows.append(row)

    def stop(self):
        self._stop.set()
        self._t.join()
        self.client.close()
        return self.rows


def run_load(server, loadgen, args, ids_out=None, perf_out=None):
    """Push --spans spans; returns a dict of figures."""
    cmd = [loadgen, "--url", server.base + "/v1/traces", "--spans", str(args.spans),
           "--conns", str(args.conns), "--batch", str(args.batch), "--seed", str(args.seed),
           "--progress", str(args.progress)] + args.loadgen_arg
    if args.rate:
        cmd += ["--rate", str(args.rate)]
    if args.gzip:
        cmd.append("--gzip")
    if ids_out:
        cmd += ["--ids-out", ids_out, "--ids-max", str(max(2000, 4 * args.ids))]
    log("traces: " + " ".join(cmd))
    lg = spawn(cmd, stdout=subprocess.PIPE, text=True)
    res, cpu0, sys0, perf_t, sampler = {}, None, None, None, None
    for line in lg.stdout:
        line = line.rstrip("\n")
        if line == "SEND_START":
            cpu0, sys0 = proc_cpu_s(server.pid), system_busy_s()
            sampler = Sampler(server)
            if perf_out:
                perf_t = perf_during(server.pid, args.perf, perf_out)
        elif line.startswith("RESULT "):
            res = dict(x.split("=", 1) for x in line.split()[1:])
        if args.verbose or not line.startswith(("RESULT", "SEND_START")):
            log("    " + line)
    lg.wait()
    if lg in _children:
        _children.remove(lg)
    samples = sampler.stop() if sampler else []
    if perf_t:
        perf_t.join()
    if not server.alive():
        raise RuntimeError(f"sextant exited during the load; see {server.logpath}")
    if not res:
        raise RuntimeError(f"sx-spanload gave no RESULT line (exit {lg.returncode})")
    cpu1, sys1 = proc_cpu_s(server.pid), system_busy_s()
    out = {k: float(v) for k, v in res.items() if k != "mode"}
    for k in ("spans", "traces", "requests", "errors", "rejected", "min_ts", "max_ts",
              "body_bytes", "error_spans"):
        out[k] = int(res.get(k, 0))
    out["exit"] = lg.returncode
    secs = out["seconds"]
    out["server_cpu0"] = cpu0
    out["server_cpu_s"] = cpu1 - cpu0
    out["client_cpu_s"] = out["cpu_s"]
    out["server_cores"] = out["server_cpu_s"] / secs if secs else float("nan")
    out["client_cores"] = out["client_cpu_s"] / secs if secs else float("nan")
    other = (sys1 - sys0) - out["server_cpu_s"] - out["client_cpu_s"]
    out["other_cores"] = max(0.0, other) / secs if secs else float("nan")
    out["server_us_per_span"] = 1e6 * out["server_cpu_s"] / out["spans"] if out["spans"] else 0
    out["rss_mb"] = proc_status_mb(server.pid, "VmHWM")
    out["samples"] = samples
    heads = [r["sextant_log_head_entries"] for r in samples if r.get("sextant_log_head_entries")]
    out["peak_head_entries"] = max(heads) if heads else 0
    return out


# ---- Phase 2: flush and size ----

class ServerDied(Exception):
    pass


def settle(server, args):
    """Flush, then wait for compaction: until the part count and the
    compaction counter have not moved and the server has been idle (under
    0.2 cores) for --settle seconds, at most --settle-max. The background
    thread looks for merges every 10 s and a merge changes no metric until
    it ends, hence the idle test and the wait of two periods at least.
    Returns (flush s, s until the server went idle, s waited)."""
    c = Client(server.port, 3600)
    t0 = time.time()
    st, body, _ = c.request("POST", "/api/v1/admin/flush", body=b"")
    flush_s = time.time() - t0
    if not 200 <= st < 300:
        raise RuntimeError(f"POST /api/v1/admin/flush answered {st}: {body[:300]!r}")
    keys = ("sextant_log_parts", "sextant_log_compactions_total", "sextant_log_part_bytes")
    last, t1 = None, time.time()
    since, cpu_prev, t_prev = t1, proc_cpu_s(server.pid), t1
    while time.time() - t1 < args.settle_max:
        time.sleep(1)
        if not server.alive():
            c.close()
            raise ServerDied(server.death())
        m = metrics(c)
        cur = tuple(m.get(k) for k in keys)
        now, cpu = time.time(), proc_cpu_s(server.pid)
        busy = (cpu - cpu_prev) / max(now - t_prev, 1e-3) > 0.2
        cpu_prev, t_prev = cpu, now
        if cur != last or busy:
            if cur != last and last is not None and None not in cur:
                log(f"traces:   parts {cur[0]:.0f}, compactions {cur[1]:.0f}")
            last, since = cur, now
        elif now - since >= args.settle and now - t1 >= 21:
            break
    c.close()
    return flush_s, since - t1, time.time() - t1


def measure_size(data):
    """Bytes of the trace stores (every tenant's traces/ directory), and
    of their parts and write-ahead logs."""
    out = {"disk_bytes": du_bytes(data), "traces_bytes": 0, "parts_bytes": 0, "wal_bytes": 0,
           "parts": 0}
    tdir = os.path.join(data, "tenants")
    if os.path.isdir(tdir):
        for t in os.listdir(tdir):
            td = os.path.join(tdir, t, "traces")
            out["traces_bytes"] += du_bytes(td)
            out["parts_bytes"] += du_bytes(os.path.join(td, "parts"))
            out["wal_bytes"] += du_bytes(os.path.join(td, "wal"))
            if os.path.isdir(os.path.join(td, "parts")):
                out["parts"] += len(os.listdir(os.path.join(td, "parts")))
    return out


# ---- Phase 3: queries ----

def read_ids(path):
    """The sample sx-spanload wrote: one dict per trace."""
    out = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 9:
                continue
            out.append({"id": p[0], "spans": int(p[1]), "start": int(p[2]), "end": int(p[3]),
                        "errors": int(p[4]), "root_service": p[5], "root_name": p[6],
                        "services": set(p[7].split(",")),
                        "routes": set(x.split("|", 1)[1] for x in p[8].split(",") if "|" in x),
                        "service_routes": set(p[8].split(","))})
    return out


def tempo_spans(ans):
    """(service, span) pairs of a Tempo trace answer (OTLP JSON)."""
    out = []
    for b in ans.get("batches") or ans.get("resourceSpans") or []:
        svc = ""
        for a in (b.get("resource") or {}).get("attributes") or []:
            if a.get("key") == "service.name":
                svc = (a.get("value") or {}).get("stringValue", "")
        for ss in b.get("scopeSpans") or []:
            for sp in ss.get("spans") or []:
                out.append((svc, sp))
    return out


def span_attr(sp, key):
    for a in sp.get("attributes") or []:
        if a.get("key") == key:
            v = a.get("value") or {}
            return v.get("stringValue", v.get("intValue"))
    return None


def pctl(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


def fmt_ms(s):
    if s is None or s != s:
        return "n/a"
    ms = s * 1000
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.0f} ms" if ms < 10000 else f"{s:.1f} s"


def restart_cold(server, data, args):
    """Stop the server, evict the data directory from the page cache,
    start it again. Returns the restart time."""
    server.stop()
    evict_page_cache(data, args.drop_caches)
    return server.start()


def get_trace(server, tid):
    st, body, secs = server.client.request("GET", "/api/traces/" + tid)
    ans = None
    if st == 200:
        try:
            ans = json.loads(body)
        except ValueError:
            st = "bad JSON"
    return st, ans, secs, body


def check_trace(rec, st, ans, body):
    """None when the answer is the trace that was sent, else what is wrong."""
    if st != 200:
        return f"HTTP {st}: {body[:200]!r}"
    spans = tempo_spans(ans)
    if len(spans) != rec["spans"]:
        return f"{len(spans)} spans instead of {rec['spans']}"
    bad = [sp for _, sp in spans if sp.get("traceId") != rec["id"]]
    if bad:
        return f"{len(bad)} spans of another trace"
    svcs = set(s for s, _ in spans)
    if svcs != rec["services"]:
        return f"services {sorted(svcs)} instead of {sorted(rec['services'])}"
    return None


def by_id_phase(server, data, ids, args):
    """Trace by id: a cold pass over the ids (server restarted, its files
    evicted), then warm passes; every answer is checked."""
    out = {"n": len(ids), "errors": [], "cold": [], "warm": []}
    out["restart_s"] = restart_cold(server, data, args) if not args.no_cold else None
    server.take_peak()
    passes = ([("cold", out["cold"])] if not args.no_cold else []) + \
        [("warm", out["warm"])] * args.warm_passes
    cpu0 = proc_cpu_s(server.pid)
    for k, (name, into) in enumerate(passes):
        if name == "warm" and into:
            into.clear()  # keep the last warm pass only
        t0 = time.time()
        for i, rec in enumerate(ids):
            if not server.alive():
                out["died"] = server.death()
                server.start()
                return out
            st, ans, secs, body = get_trace(server, rec["id"])
            err = check_trace(rec, st, ans, body)
            if err:
                out["errors"].append(f"{rec['id']}: {err}")
                if len(out["errors"]) <= 3:
                    log(f"traces: trace {rec['id']}: {err}")
            into.append(secs)
            if time.time() - t0 > 10 and i % 50 == 49:
                log(f"traces:   by id, {name} pass {k + 1}/{len(passes)}: {i + 1}/{len(ids)}, "
                    f"median so far {fmt_ms(statistics.median(into))}")
        if name == "cold":
            out["cold_cpu_s"] = proc_cpu_s(server.pid) - cpu0
            cpu0 = proc_cpu_s(server.pid)
    out["warm_cpu_s"] = proc_cpu_s(server.pid) - cpu0
    out["peak_mb"] = server.take_peak()
    return out


# A search: (name, path, params(window), check(answer, ctx), target ms or
# None, what it shows). Params get start/end added as the API wants them.

def check_tempo_service_duration(server, ans, expect):
    tr = ans.get("traces")
    if tr is None:
        return "no traces member"
    if not tr:
        return "no traces found" if expect else None
    short = [t for t in tr if int(t.get("durationMs", 0)) < SEARCH_MIN_DURATION_MS]
    if short:
        return f"{len(short)} traces shorter than {SEARCH_MIN_DURATION_MS} ms"
    st, a, _, body = get_trace(server, tr[0]["traceID"].rjust(32, "0"))
    if st != 200:
        return f"trace {tr[0]['traceID']} of the answer: HTTP {st}"
    if not any(s == SEARCH_SERVICE for s, _ in tempo_spans(a)):
        return f"trace {tr[0]['traceID']} has no {SEARCH_SERVICE} span"
    return None


def check_tempo_route(server, ans, expect):
    tr = ans.get("traces")
    if tr is None:
        return "no traces member"
    if not tr:
        return "no traces found" if expect else None
    for t in tr:
        sets = t.get("spanSets") or [t.get("spanSet") or {}]
        ok = any(span_attr(sp, "http.route") == SEARCH_ROUTE
                 for s in sets for sp in s.get("spans") or [])
        if not ok:
            # Tempo lists the matched attributes; fall back to the trace.
            st, a, _, _ = get_trace(server, t["traceID"].rjust(32, "0"))
            if st != 200 or not any(span_attr(sp, "http.route") == SEARCH_ROUTE
                                    for _, sp in tempo_spans(a)):
                return f"trace {t['traceID']} has no span with http.route={SEARCH_ROUTE}"
    return None


def check_jaeger(service, tag):
    def check(server, ans, expect):
        data = ans.get("data")
        if data is None:
            return "no data member"
        if not data:
            return "no traces found" if expect else None
        for t in data:
            procs = t.get("processes") or {}
            names = {p.get("serviceName") for p in procs.values()}
            if service not in names:
                return f"trace {t.get('traceID')} has no {service} process"
            if tag:
                k, v = tag
                if not any(tg.get("key") == k and str(tg.get("value")) == v
                           for sp in t.get("spans") or [] for tg in sp.get("tags") or []):
                    return f"trace {t.get('traceID')} has no span with {k}={v}"
        return None
    return check


def searches(ids, win):
    """The search queries and whether the sample says each must find
    something in the window [win0, win1] (ns)."""
    w0, w1 = win
    inwin = [r for r in ids if r["start"] >= w0 and r["end"] <= w1]
    exp_svc_dur = any(SEARCH_SERVICE in r["services"] and
                      r["end"] - r["start"] >= SEARCH_MIN_DURATION_MS * 1e6 for r in inwin)
    exp_route = any(SEARCH_ROUTE in r["routes"] for r in inwin)
    exp_svc = any(SEARCH_SERVICE in r["services"] for r in inwin)
    exp_fe_route = any(f"frontend|{SEARCH_ROUTE}" in r["service_routes"] for r in inwin)
    s_sec, e_sec = w0 // 1_000_000_000, w1 // 1_000_000_000 + 1
    tempo_win = {"start": str(s_sec), "end": str(e_sec), "limit": str(SEARCH_LIMIT)}
    jaeger_win = {"start": str(w0 // 1000), "end": str(w1 // 1000 + 1),
                  "limit": str(SEARCH_LIMIT)}
    return [
        ("service_duration", "/api/search",
         dict(tempo_win, tags=f"service.name={SEARCH_SERVICE}",
              minDuration=f"{SEARCH_MIN_DURATION_MS}ms"),
         check_tempo_service_duration, exp_svc_dur, None,
         f"Tempo search: traces through {SEARCH_SERVICE} lasting {SEARCH_MIN_DURATION_MS} ms "
         f"or more (tags= and minDuration)"),
        ("attr_traceql", "/api/search",
         dict(tempo_win, q='{ span.http.route = "%s" }' % SEARCH_ROUTE),
         check_tempo_route, exp_route, TARGET_ATTR_SEARCH_MS,
         "Tempo search by a span attribute, TraceQL"),
        ("attr_tags", "/api/search",
         dict(tempo_win, tags=f"http.route={SEARCH_ROUTE}"),
         check_tempo_route, exp_route, TARGET_ATTR_SEARCH_MS,
         "Tempo search by an attribute, tags= form (span or resource)"),
        ("jaeger_service", "/jaeger/api/traces",
         dict(jaeger_win, service=SEARCH_SERVICE),
         check_jaeger(SEARCH_SERVICE, None), exp_svc, None,
         f"Jaeger search by service ({SEARCH_SERVICE})"),
        ("jaeger_tag", "/jaeger/api/traces",
         dict(jaeger_win, service="frontend", tags=json.dumps({"http.route": SEARCH_ROUTE})),
         check_jaeger("frontend", ("http.route", SEARCH_ROUTE)), exp_fe_route, None,
         "Jaeger search by service and tag"),
    ]


def one_search(server, path, params):
    url = path + "?" + urllib.parse.urlencode(params)
    cpu0 = proc_cpu_s(server.pid)
    st, body, secs = server.client.request("GET", url)
    cpu = proc_cpu_s(server.pid) - cpu0 if server.alive() else float("nan")
    r = {"status": st, "wall_s": secs, "cpu_s": cpu}
    if st == 200:
        try:
            r["answer"] = json.loads(body)
        except ValueError:
            r["status"] = "bad JSON"
    else:
        r["error"] = ("no answer within --query-timeout" if st == -1
                      else body[:300].decode(errors="replace"))
    return r


def describe(ans):
    if "traces" in ans:
        m = ans.get("metrics") or {}
        return (f"{len(ans['traces'])} traces; inspectedTraces {m.get('inspectedTraces')}, "
                f"inspectedBytes {int(m.get('inspectedBytes') or 0) / 1e6:.1f} MB")
    if "data" in ans:
        data = ans["data"] or []
        return f"{len(data)} traces, {sum(len(t.get('spans') or []) for t in data)} spans"
    return "?"


def search_phase(server, data, ids, win, args):
    out = []
    for name, path, params, check, expect, target, what in searches(ids, win):
        if args.queries and name not in args.queries.split(","):
            continue
        log(f"traces: search {name}: GET {path}?{urllib.parse.urlencode(params)}")
        r = {"name": name, "path": path, "params": params, "target_ms": target, "about": what,
             "expect": expect, "runs": [], "cold": None}
        if not args.no_cold:
            r["restart_s"] = restart_cold(server, data, args)
        server.take_peak()
        first = one_search(server, path, params)
        r["peak_mb"] = server.take_peak()
        if first["status"] != 200:
            r["error"] = f"HTTP {first['status']}: {first.get('error', '')}"
            if first["status"] == 0:
                time.sleep(1)  # a killed server may not have been reaped yet
            if not server.alive():
                r["error"] = server.death() + f", after {first['wall_s']:.0f} s"
                server.start()
            out.append(r)
            log(f"traces:   {r['error']}")
            continue
        r["wrong"] = check(server, first["answer"], expect)
        r["what"] = describe(first["answer"])
        if args.no_cold:
            r["runs"].append(first)
        else:
            r["cold"] = first
        # A search slower than the budget is CPU-bound: the cold run is
        # the figure, and warm runs would only take more time.
        if first["wall_s"] > args.query_budget:
            r["only_one"] = True
            r["runs"] = [first]
        t0 = time.time()
        while len(r["runs"]) < args.query_runs and time.time() - t0 < args.query_budget:
            x = one_search(server, path, params)
            if x["status"] != 200:
                r["error"] = f"HTTP {x['status']}: {x.get('error', '')}"
                break
            r["runs"].append(x)
        r["peak_mb"] = max(r["peak_mb"], server.take_peak())
        if r["runs"]:
            r["median_s"] = statistics.median(x["wall_s"] for x in r["runs"])
            r["cpu_s"] = statistics.median(x["cpu_s"] for x in r["runs"])
        for x in r["runs"] + [first]:
            x.pop("answer", None)
        log(f"traces:   cold {fmt_ms((r['cold'] or {}).get('wall_s'))}, median "
            f"{fmt_ms(r.get('median_s'))}, peak RSS {r['peak_mb']:,.0f} MiB; {r['what']}"
            + (f"; WRONG: {r['wrong']}" if r["wrong"] else ""))
        out.append(r)
    return out


# ---- Build ----

def build(args):
    bdir = os.path.join(ROOT, args.build_dir)
    if not args.no_deps:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "deps.sh"), "build"], check=True)
    loadgen = os.path.join(bdir, "bench", "sx-spanload")
    sextant = os.path.join(bdir, "sextant")
    if not args.no_build:
        jobs = os.environ.get("JOBS", str(os.cpu_count() or 2))
        subprocess.run(["cmake", "-S", ROOT, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", bdir, "-j", jobs, "--target", "sextant",
                        "sx-spanload"], check=True, stdout=sys.stderr)
    for b in (loadgen, sextant):
        if not os.access(b, os.X_OK):
            sys.exit(f"traces: {b} is missing (build it, or drop --no-build)")
    return loadgen, sextant


def machine_info():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1048576
    return (f"{os.cpu_count()} CPUs ({model}), {mem:.0f} GiB RAM, Linux "
            f"{platform.release()}, load average {os.getloadavg()[0]:.2f} at the start")


def mem_total_gib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1048576
    return 8


def git_rev():
    r = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


# ---- Main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", default="1M",
                    help="spans to push for the size and query phases (default 1M; k, M, G). "
                         "From about 2M on, the compaction after the load needs more than half "
                         "the RAM of this machine (see bench/README.md)")
    ap.add_argument("--runs", type=int, default=1,
                    help="ingestion runs (default 1); runs after the first use fresh data "
                         "directories and only measure the rate")
    ap.add_argument("--conns", type=int, default=4, help="sx-spanload connections (4)")
    ap.add_argument("--batch", type=int, default=1000, help="spans per request (1000)")
    ap.add_argument("--rate", type=float, default=0, help="spans/s; 0 = as fast as possible")
    ap.add_argument("--gzip", action="store_true", help="gzip the request bodies")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ids", type=int, default=200,
                    help="trace ids to look up (default 200), drawn from sx-spanload's sample")
    ap.add_argument("--warm-passes", type=int, default=2,
                    help="warm passes over the ids after the cold one; the last is reported (2)")
    ap.add_argument("--query-runs", type=int, default=3,
                    help="warm runs per search after the cold one (default 3)")
    ap.add_argument("--query-budget", type=float, default=30,
                    help="stop a search's warm runs after this many seconds (default 30)")
    ap.add_argument("--query-timeout", type=float, default=600,
                    help="HTTP timeout of one query, s (default 600)")
    ap.add_argument("--queries", default="",
                    help="comma-separated subset of the searches: service_duration, "
                         "attr_traceql, attr_tags, jaeger_service, jaeger_tag")
    ap.add_argument("--no-cold", action="store_true",
                    help="do not restart the server and evict its files before each query")
    ap.add_argument("--drop-caches", action="store_true",
                    help="for cold runs, sync and drop the whole page cache (root) instead of "
                         "evicting only the data directory's files")
    ap.add_argument("--settle", type=float, default=15,
                    help="after the flush, wait until parts and compactions are unchanged "
                         "and the server idle this long, s (15)")
    ap.add_argument("--settle-max", type=float, default=1800)
    ap.add_argument("--max-rss-gb", type=float, default=round(mem_total_gib() / 2),
                    help="kill sextant (and count the phase as failed) when its RSS passes this "
                         "(default: half the RAM)")
    ap.add_argument("--perf", type=int, default=0,
                    help="profile the server with perf record -g for this many seconds "
                         "during the first ingestion")
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR", "build/release"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-deps", action="store_true")
    ap.add_argument("--tmpdir", default=None, help="where the data directory goes")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra argument for sextant serve (repeatable)")
    ap.add_argument("--loadgen-arg", action="append", default=[],
                    help="extra argument for sx-spanload (repeatable)")
    ap.add_argument("--progress", type=int, default=10, help="sx-spanload progress period, s")
    ap.add_argument("--nice", type=int, default=0,
                    help="run sextant and sx-spanload at this nice level (negative needs root)")
    ap.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    ap.add_argument("--json", help="also write all figures to this file")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    mult = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
    s = args.spans.strip()
    args.spans = int(float(s[:-1]) * mult[s[-1]]) if s and s[-1] in mult else int(s)
    global NICE
    NICE = args.nice

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(_cleanup)

    loadgen, sextant = build(args)
    info = machine_info()
    tmp_parent = args.tmpdir or tempfile.gettempdir()
    free = shutil.disk_usage(tmp_parent).free
    # Parts take ~40 bytes a span; the write-ahead log ~700 bytes a span
    # until each 160 MiB head is flushed, and merges need room for their
    # output next to their inputs.
    need = args.spans * 100 + 4e9
    if free < need:
        sys.exit(f"traces: {tmp_parent} has {free / 1e9:.1f} GB free; --spans {args.spans} needs "
                 f"up to {need / 1e9:.1f} GB (use --tmpdir or fewer --spans)")
    work = tempfile.mkdtemp(prefix="sx-bench-traces-", dir=tmp_parent)
    data = os.path.join(work, "data")
    ids_path = os.path.join(work, "ids.tsv")
    log(f"traces: data directory {data}; {info}")
    results = {"args": vars(args), "machine": info, "revision": git_rev(), "ingest": []}
    server = None
    ok = True
    try:
        # ---- Phase 1: ingestion ----
        server = Server(sextant, data, work, args)
        server.start()
        perf_out = os.path.join(work, "perf-ingest.txt") if args.perf else None
        log(f"traces: phase 1: pushing {args.spans:,} spans")
        ing = run_load(server, loadgen, args, ids_out=ids_path, perf_out=perf_out)
        results["ingest"].append(ing)
        print(f"ingest run 1: {ing['spans']:,} spans in {ing['traces']:,} traces in "
              f"{ing['seconds']:.1f} s: {ing['spans_per_s']:,.0f} spans/s, "
              f"{ing['requests_per_s']:.1f} requests/s; server {ing['server_cores']:.2f} cores "
              f"({ing['server_us_per_span']:.1f} CPU us per span), client "
              f"{ing['client_cores']:.2f} cores, other load {ing['other_cores']:.2f} cores, "
              f"p99 {ing['p99_ms']:.0f} ms, errors {ing['errors']}, peak RSS "
              f"{ing['rss_mb']:,.0f} MiB", flush=True)
        if ing["samples"]:
            rows = ing["samples"]
            step = max(1, len(rows) // 12)
            print("  samples (t s: head entries, parts, RSS MiB): " + "; ".join(
                f"{r['t']:.0f}: {r.get('sextant_log_head_entries') or 0:,.0f}, "
                f"{r.get('sextant_log_parts') or 0:.0f}, {r['rss_mb']:,.0f}"
                for r in rows[::step]))
        if perf_out:
            print("server profile during ingestion (perf, self time):")
            for ln in perf_top_lines(perf_out):
                print("    " + ln)
        if ing["errors"] or ing["exit"]:
            ok = False

        # ---- Phase 2: flush and size ----
        log("traces: phase 2: flush and size")
        before = measure_size(data)
        m0 = metrics(server.client)
        server.take_peak()
        deaths = []
        try:
            flush_s, compact_s, waited = settle(server, args)
        except ServerDied as e:
            # Compaction is what runs now: say so, and go on with the
            # parts as they are (a new process retries the merge later).
            deaths.append(str(e))
            print(f"  flush/compaction: {e}", flush=True)
            flush_s, compact_s, waited = float("nan"), float("nan"), float("nan")
            server.stop()
            server.start()
        size = measure_size(data)
        m = metrics(server.client) if not deaths else m0
        stored = int(m.get("sextant_log_entries_ingested_total") or 0)
        size.update(flush_s=flush_s, compact_s=compact_s, settle_s=waited, before=before,
                    stored=stored, deaths=deaths, peak_mb=server.take_peak(),
                    json_bytes=m.get("sextant_log_bytes_ingested_total"),
                    compactions=m.get("sextant_log_compactions_total"),
                    rss_mb=proc_status_mb(server.pid, "VmHWM"))
        spans = ing["spans"]
        size["per_span"] = size["traces_bytes"] / spans if spans else float("nan")
        size["parts_per_span"] = size["parts_bytes"] / spans if spans else float("nan")
        if not deaths:
            ing["server_us_per_span_flushed"] = \
                1e6 * (proc_cpu_s(server.pid) - ing["server_cpu0"]) / spans
        results["size"] = size
        print(f"size: {spans:,} spans sent, {stored:,} stored; trace store "
              f"{size['traces_bytes'] / 1e6:,.1f} MB after the flush "
              f"({before['traces_bytes'] / 1e6:,.1f} MB before): {size['per_span']:.1f} bytes "
              f"per span (parts {size['parts_per_span']:.1f}, WAL {size['wal_bytes']:,} bytes, "
              f"{size['parts']} part files); OTLP protobuf sent {ing['body_bytes'] / spans:.0f} "
              f"bytes/span, stored JSON lines {(size['json_bytes'] or 0) / spans:.0f} bytes/span; "
              f"flush {flush_s:.1f} s, then busy (compaction) {compact_s:.0f} s, "
              f"{size['compactions'] or 0:.0f} compactions; peak RSS meanwhile "
              f"{size['peak_mb']:,.0f} MiB", flush=True)
        if stored and stored != spans and not deaths:
            print(f"  WARNING: {spans:,} spans accepted but the store counts {stored:,}")

        # ---- Phase 3: queries ----
        ids = read_ids(ids_path)
        rng = random.Random(args.seed)
        pick = rng.sample(ids, min(args.ids, len(ids)))
        log(f"traces: phase 3: trace by id ({len(pick)} of {len(ids)} sampled ids)")
        byid = by_id_phase(server, data, pick, args)
        results["by_id"] = byid
        w, c = byid["warm"], byid["cold"]
        if byid.get("died") or not w:
            print(f"trace by id: {byid.get('died', 'no answers')}", flush=True)
            ok = False
        else:
            print(f"trace by id over {spans:,} spans: {len(pick)} ids; "
                  + (f"cold pass median {fmt_ms(statistics.median(c))}, p90 "
                     f"{fmt_ms(pctl(c, .9))}, first {fmt_ms(c[0])} (restart "
                     f"{byid['restart_s']:.1f} s); " if c else "")
                  + f"warm median {fmt_ms(statistics.median(w))}, p90 {fmt_ms(pctl(w, .9))}, "
                  f"max {fmt_ms(max(w))}; server CPU {1000 * byid['warm_cpu_s'] / len(w):.2f} ms "
                  f"per warm lookup; peak RSS {byid['peak_mb']:,.0f} MiB; wrong answers "
                  f"{len(byid['errors'])}", flush=True)
        if byid["errors"]:
            ok = False
        now_ns = time.time_ns()
        win = (now_ns - 3600 * 10**9, now_ns)
        in_win = ing["min_ts"] >= win[0]
        print(f"searches over [now - 1 h, now]: " + (
            f"all {spans:,} spans are in it (sent in {ing['seconds']:.0f} s)" if in_win else
            "it holds only part of the data (the load took longer than an hour)"), flush=True)
        sres = search_phase(server, data, ids, win, args)
        results["searches"] = sres
        for r in sres:
            if r.get("error"):
                print(f"  {r['name']:17s} FAILED: {r['error'][:200]}")
                ok = False
                continue
            cold = (r.get("cold") or {}).get("wall_s")
            print(f"  {r['name']:17s} cold {fmt_ms(cold):>9s}  median "
                  f"{fmt_ms(r.get('median_s')):>9s}"
                  f"  ({len(r['runs'])} warm runs, server CPU {r.get('cpu_s', float('nan')):.2f} s,"
                  f" peak RSS {r['peak_mb']:,.0f} MiB)"
                  f"  {r['what']}" + (f"  WRONG: {r['wrong']}" if r.get("wrong") else ""))
            if r.get("wrong"):
                ok = False
        sys.stdout.flush()
        server.stop()
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)

        # ---- Extra ingestion runs ----
        for run in range(2, args.runs + 1):
            d2 = os.path.join(work, f"data-{run}")
            s2 = Server(sextant, d2, work, args)
            s2.start()
            log(f"traces: ingestion run {run}/{args.runs}")
            try:
                r2 = run_load(s2, loadgen, args)
            finally:
                s2.stop()
                shutil.rmtree(d2, ignore_errors=True)
            results["ingest"].append(r2)
            print(f"ingest run {run}: {r2['spans_per_s']:,.0f} spans/s, server "
                  f"{r2['server_cores']:.2f} cores ({r2['server_us_per_span']:.1f} us/span), "
                  f"client {r2['client_cores']:.2f}, other {r2['other_cores']:.2f}, errors "
                  f"{r2['errors']}", flush=True)
            if r2["errors"] or r2["exit"]:
                ok = False
    except RuntimeError as e:
        print(f"traces: FAILED: {e}")
        ok = False
    finally:
        if server:
            server.stop()

    summary(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=str)
    if args.keep:
        print(f"kept {work}")
    else:
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"server log kept in {os.path.join(work, 'server.log')}")
            shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)
    return 0 if ok else 1


def summary(results, args):
    ing = [r for r in results["ingest"] if r]
    rows = []

    def verdict(ok):
        return "n/a" if ok is None else ("PASS" if ok else "MISS")

    if ing:
        sps = statistics.median(r["spans_per_s"] for r in ing)
        note = f" (median of {len(ing)})" if len(ing) > 1 else ""
        rows.append(("ingestion, spans/s" + note, f"{sps:,.0f}", f">= {TARGET_SPANS_S:,}",
                     verdict(sps >= TARGET_SPANS_S)))
        rows.append(("ingestion, requests/s" + note,
                     f"{statistics.median(r['requests_per_s'] for r in ing):,.1f}", "", ""))
    size = results.get("size")
    if ing and size and size.get("flush_s") == size.get("flush_s"):  # not NaN: no death
        i0 = ing[0]
        rows.append(("ingestion run 1 including its final flush, spans/s",
                     f"{i0['spans'] / (i0['seconds'] + size['flush_s']):,.0f}", "", ""))
        rows.append(("ingestion run 1 including flush and compaction, spans/s",
                     f"{i0['spans'] / (i0['seconds'] + size['flush_s'] + size['compact_s']):,.0f}",
                     "", ""))
    if size and size.get("deaths"):
        rows.append(("flush and compaction after the load", size["deaths"][0][:90], "", "MISS"))
    if size:
        rows.append(("bytes on disk per span (trace store after flush)",
                     f"{size['per_span']:.1f}", f"<= {TARGET_BYTES_PER_SPAN}",
                     verdict(size["per_span"] <= TARGET_BYTES_PER_SPAN)))
    spans = ing[0]["spans"] if ing else 0
    b = results.get("by_id")
    if b and b.get("died"):
        rows.append(("trace by id", b["died"][:90], f"< {TARGET_BY_ID_MS} ms", "MISS"))
    elif b and b["warm"]:
        scale = f"at {spans / 1e6:.1f}M spans"
        wm, wp = statistics.median(b["warm"]), pctl(b["warm"], 0.9)
        rows.append((f"trace by id, warm median ({scale}; target at 100M)", fmt_ms(wm),
                     f"< {TARGET_BY_ID_MS} ms", verdict(wm * 1000 < TARGET_BY_ID_MS)))
        rows.append((f"trace by id, warm p90 ({scale})", fmt_ms(wp), f"< {TARGET_BY_ID_MS} ms",
                     verdict(wp * 1000 < TARGET_BY_ID_MS)))
        if b["cold"]:
            rows.append((f"trace by id, cold pass median / p90 (restart, files evicted)",
                         f"{fmt_ms(statistics.median(b['cold']))} / {fmt_ms(pctl(b['cold'], .9))}",
                         "", ""))
            rows.append(("trace by id, first lookup after the restart", fmt_ms(b["cold"][0]),
                         "", ""))
        if b["errors"]:
            rows.append(("trace by id, wrong answers", f"{len(b['errors'])} of {b['n']}", "0",
                         "MISS"))
    for r in results.get("searches", []):
        title = {"service_duration": f"search service={SEARCH_SERVICE} & minDuration="
                                     f"{SEARCH_MIN_DURATION_MS}ms (Tempo)",
                 "attr_traceql": "attribute search { span.http.route = \"%s\" }, 1 h"
                                 % SEARCH_ROUTE,
                 "attr_tags": f"attribute search tags=http.route={SEARCH_ROUTE}, 1 h",
                 "jaeger_service": f"Jaeger search service={SEARCH_SERVICE}",
                 "jaeger_tag": f"Jaeger search service=frontend & http.route tag"}[r["name"]]
        t = r.get("target_ms")
        tgt = f"< {t} ms" if t else ""
        if r.get("error"):
            rows.append((title, r["error"][:60], tgt, "MISS"))
            continue
        if r.get("wrong"):
            rows.append((title, "wrong answer: " + r["wrong"][:60], tgt, "MISS"))
            continue
        cold = (r.get("cold") or {}).get("wall_s")
        med = r.get("median_s")
        val = fmt_ms(med) + (" (one run: the cold one)" if r.get("only_one") else
                             f" (cold {fmt_ms(cold)})" if cold is not None else "")
        rows.append((title + ", median", val, tgt,
                     verdict(med * 1000 < t) if t and med is not None else ""))
    if ing:
        i0 = ing[0]
        rows.append(("server CPU us per span ingested", f"{i0['server_us_per_span']:.1f}", "", ""))
        if i0.get("server_us_per_span_flushed"):
            rows.append(("server CPU us per span, incl. flush and compaction",
                         f"{i0['server_us_per_span_flushed']:.1f}", "", ""))
        rows.append(("server peak RSS during ingestion, MiB", f"{i0['rss_mb']:,.0f}", "", ""))
        if size and size.get("peak_mb"):
            rows.append(("server peak RSS during flush and compaction, MiB",
                         f"{size['peak_mb']:,.0f}", "", ""))
        sr = [r for r in results.get("searches", []) if r.get("peak_mb")]
        if sr:
            top = max(sr, key=lambda r: r["peak_mb"])
            rows.append(("server peak RSS during searches, MiB",
                         f"{top['peak_mb']:,.0f} ({top['name']})", "", ""))
        rows.append(("client (sx-spanload) CPU while sending, cores", f"{i0['client_cores']:.2f}",
                     "", ""))
        rows.append(("other CPU load during ingestion, cores", f"{i0['other_cores']:.2f}", "", ""))
        rows.append(("OTLP protobuf sent, bytes per span", f"{i0['body_bytes'] / i0['spans']:.0f}"
                     if i0["spans"] else "n/a", "", ""))

    print()
    print(f"Trace benchmark: {args.spans:,} spans, {args.conns} connections, ~{args.batch} spans "
          f"per request, OTLP protobuf{' (gzip)' if args.gzip else ''}; revision "
          f"{results['revision']}")
    print(f"Machine: {results['machine']}" + (f"; sextant and sx-spanload at nice {args.nice}"
                                               if args.nice else ""))
    print()
    print("| figure | measured | target | verdict |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    print()


if __name__ == "__main__":
    sys.exit(main())
