#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Log benchmark: Loki JSON push ingestion, bytes on disk, LogQL queries.

Starts `sextant serve` on a loopback port with a fresh temporary data
directory and --retention 0, pushes --gb of raw log text with sx-logload
(bench/logload.c) to /loki/api/v1/push, flushes (POST /api/v1/admin/flush),
lets compaction settle, measures the data directory with du, and times
LogQL queries over all of it through GET /loki/api/v1/query_range (and the
KubeSphere logging API when the server has it). Prints every figure with
its target and PASS/MISS. Python standard library only; everything started
here listens on 127.0.0.1 and is killed on exit. There is no peer run:
Loki has no Debian package, so it is not available on this machine.
"""

import argparse
import atexit
import ctypes
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
NEEDLE = "rare-needle-7f3a"
# A filter with no 4-character token, so no bloom gram can skip a chunk,
# that matches no line sx-logload makes: a full scan of every line.
SCAN_NEEDLE = "zq"

# (key, LogQL, kind, what it shows). "{ALL}" is a selector that matches
# every stream. Metric queries run with step --step.
QUERIES = [
    ("needle", '{ALL} |= "%s"' % NEEDLE, "logs",
     "needle search: a token in a few lines of 3 streams, in one chunk each"),
    ("regex", '{ALL} |~ "status=5[0-9]{2}"', "logs",
     "regex filter that every chunk must be scanned for (limit 100)"),
    ("json", '{app="api"} | json | level="error"', "logs",
     "json parser and label filter over one app's streams (limit 100)"),
    ("metric", 'sum by (level) (count_over_time({namespace=~"monitoring|platform"} | logfmt [5m]))',
     "metric", "logfmt parser in a metric query over the logfmt streams, step 5m"),
    ("metric_field", 'sum by (level) (count_over_time({namespace=~"monitoring|platform"} '
     '| logfmt level [5m]))', "metric",
     "the same, extracting only the level field (| logfmt level)"),
    ("metric_json", 'sum by (status) (count_over_time({app="api"} | json status [5m]))',
     "metric", "json parser extracting one field in a metric query, step 5m"),
    ("scan", '{ALL} |= "%s"' % SCAN_NEEDLE, "logs",
     "full scan: 2-letter filter (no bloom gram) that matches nothing"),
]
KS_QUERIES = [
    ("ks_needle", {"log_query": NEEDLE, "from": "0", "size": "10"},
     "KubeSphere keyword search for the needle, page 1 of 10"),
    ("ks_common", {"log_query": "timeout", "from": "10", "size": "10"},
     "KubeSphere keyword search for a common word, page 2 of 10"),
]
ALL_SELECTOR = '{namespace=~".+"}'

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


def proc_hwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
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


def evict_page_cache(path):
    """Drop the clean page-cache pages of every file under path (the
    server must not be running: mapped pages stay). Only these files'
    pages go; the rest of the machine keeps its cache."""
    n = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                n += 1
            except OSError:
                pass
            finally:
                os.close(fd)
    return n


def cached_fraction(path):
    """Share of the bytes under path in the page cache (fincore), or None."""
    if not shutil.which("fincore"):
        return None
    files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    if not files:
        return None
    out = subprocess.run(["fincore", "-b", "-n", "-o", "RES,SIZE"] + files,
                         capture_output=True, text=True)
    res = size = 0
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            res += int(parts[0])
            size += int(parts[1])
    return res / size if size else None


# ---- HTTP ----

def http(method, url, body=None, timeout=120, headers=None):
    """Returns (status, body bytes); status 0 when the connection failed,
    -1 on a timeout."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except socket.timeout as e:
        return -1, str(e).encode()
    except (urllib.error.URLError, OSError) as e:
        if "timed out" in str(e):
            return -1, str(e).encode()
        return 0, str(e).encode()


def metrics(base):
    st, body = http("GET", base + "/metrics", timeout=30)
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
    def __init__(self, binary, data, logdir, args):
        self.binary, self.data, self.args = binary, data, args
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.logpath = os.path.join(logdir, "server.log")
        self.p = None
        self.starts = 0

    def start(self):
        logf = open(self.logpath, "ab")
        cmd = [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", self.data,
               "--retention", "0"] + self.args.server_arg
        t0 = time.time()
        self.p = spawn(cmd, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        self.starts += 1
        deadline = time.time() + 600
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"sextant exited with {self.p.returncode} at start; see "
                                   f"{self.logpath}")
            st, _ = http("GET", self.base + "/-/ready", timeout=5)
            if st == 200:
                return time.time() - t0
            time.sleep(0.1)
        raise RuntimeError("sextant did not become ready in 600 s")

    def stop(self):
        if self.p is not None:
            stop(self.p)
            self.p = None

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p is not None and self.p.poll() is None


# ---- perf ----

def perf_during(pid, seconds, out_txt, delay=3):
    """Sample the server with perf for `seconds` after `delay`, in the
    background; the report goes to out_txt. Returns the thread or None."""
    if not shutil.which("perf"):
        log("logs: perf is not installed; no profile")
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
        rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                              "--percent-limit", "0.5"], capture_output=True, text=True)
        flat = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-g",
                               "none", "--percent-limit", "0.3"], capture_output=True, text=True)
        dso = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-g",
                              "none", "--sort", "dso", "--percent-limit", "0.5"],
                             capture_output=True, text=True)
        with open(out_txt, "w") as f:
            f.write("# flat profile (self time)\n")
            f.write(flat.stdout)
            f.write("\n# by object (self time)\n")
            f.write(dso.stdout)
            f.write("\n# with call graphs\n")
            f.write(rep.stdout)
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
    _, _, dso = rest.partition("\n")
    dso = dso.split("# with call graphs")[0]

    def pct(block):
        return [ln.rstrip() for ln in block.splitlines()
                if "%" in ln and not ln.lstrip().startswith("#")]
    return pct(flat)[:n] + ["by object:"] + pct(dso)[:8]


# ---- Phase 1: ingestion ----

class Sampler:
    """Samples the server's /metrics and RSS every `period` s during a load:
    how far the in-memory log head grows and whether flushes keep up."""

    KEYS = ("sextant_log_head_entries", "sextant_log_parts", "sextant_log_compactions_total",
            "sextant_log_part_raw_bytes")

    def __init__(self, server, period=5):
        self.server, self.period = server, period
        self.rows, self._stop = [], threading.Event()
        self.t0 = time.time()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(self.period):
            if not self.server.alive():
                return
            m = metrics(self.server.base)
            rss = 0.0
            try:
                with open(f"/proc/{self.server.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss = int(line.split()[1]) / 1024.0
            except OSError:
                pass
            row = {"t": time.time() - self.t0, "rss_mb": rss,
                   "disk_mb": du_bytes(self.server.data) / 1e6}
            row.update({k: m.get(k) for k in self.KEYS})
            self.rows.append(row)
            if self.server.args.verbose:
                log("    sample: " + json.dumps(row))

    def stop(self):
        self._stop.set()
        self._t.join()
        return self.rows


def run_load(server, loadgen, args, gb, seconds=None, perf_out=None):
    """Push gb GB of raw text; returns a dict of figures."""
    cmd = [loadgen, "--url", server.base + "/loki/api/v1/push", "--bytes", f"{gb}G",
           "--streams", str(args.streams), "--concurrency", str(args.concurrency),
           "--hours", str(args.hours), "--seed", str(args.seed), "--progress",
           str(args.progress), "--needle", NEEDLE] + args.loadgen_arg
    if seconds:
        cmd += ["--seconds", str(seconds)]
    if args.gzip:
        cmd.append("--gzip")
    log("logs: " + " ".join(cmd))
    lg = spawn(cmd, stdout=subprocess.PIPE, text=True)
    res, cpu0, sys0, perf_t, sampler = {}, None, None, None, None
    for line in lg.stdout:
        line = line.rstrip("\n")
        if line == "SEND_START":
            cpu0, sys0 = proc_cpu_s(server.pid), system_busy_s()
            sampler = Sampler(server)
            if perf_out:
                perf_t = perf_during(server.pid, args.perf, perf_out)
        elif line.startswith(("RESULT ", "NEEDLE ", "RANGE ")):
            kv = dict(x.split("=", 1) for x in line.split()[1:])
            res[line.split()[0].lower()] = kv
        if args.verbose or not line.startswith(("RESULT", "SEND_START", "STREAMS", "RANGE")):
            log("    " + line)
    lg.wait()
    if lg in _children:
        _children.remove(lg)
    samples = sampler.stop() if sampler else []
    if not server.alive():
        raise RuntimeError(f"sextant exited during the load; see {server.logpath}")
    cpu1, sys1 = proc_cpu_s(server.pid), system_busy_s()
    if "result" not in res or cpu0 is None:
        raise RuntimeError("sx-logload did not finish (see its output above)")
    r = res["result"]
    out = {
        "lines": int(r["lines"]), "raw_bytes": int(r["raw_bytes"]),
        "body_bytes": int(r["body_bytes"]), "seconds": float(r["seconds"]),
        "lines_per_s": float(r["lines_per_s"]), "mb_per_s": float(r["mb_per_s"]),
        "errors": int(r["errors"]), "p50_ms": float(r["p50_ms"]), "p99_ms": float(r["p99_ms"]),
        "client_cpu_s": float(r["cpu_s"]), "min_ts": int(r["min_ts"]), "max_ts": int(r["max_ts"]),
        "server_cpu_s": cpu1 - cpu0, "rss_mb": proc_hwm_mb(server.pid), "server_cpu0": cpu0,
        "exit": lg.returncode,
    }
    secs = out["seconds"]
    other = (sys1 - sys0) - out["server_cpu_s"] - out["client_cpu_s"]
    out["server_cores"] = out["server_cpu_s"] / secs if secs else float("nan")
    out["client_cores"] = out["client_cpu_s"] / secs if secs else float("nan")
    out["other_cores"] = max(0.0, other) / secs if secs else float("nan")
    out["server_cpu_s_per_gb"] = out["server_cpu_s"] / (out["raw_bytes"] / 1e9) \
        if out["raw_bytes"] else float("nan")
    if "needle" in res:
        out["needle_lines"] = int(res["needle"]["lines"])
    out["samples"] = samples
    heads = [r["sextant_log_head_entries"] for r in samples if r.get("sextant_log_head_entries")]
    out["peak_head_entries"] = max(heads) if heads else 0
    out["peak_head_share"] = out["peak_head_entries"] / out["lines"] if out["lines"] else 0
    if perf_t:
        perf_t.join()
    return out


# ---- Phase 2: size ----

def settle(server, args):
    """Flush, then wait until the part count and compactions stop moving
    for --settle seconds (at most --settle-max). Returns (flush s, waited s)."""
    t0 = time.time()
    st, body = http("POST", server.base + "/api/v1/admin/flush", body=b"", timeout=3600)
    flush_s = time.time() - t0
    if not 200 <= st < 300:
        raise RuntimeError(f"POST /api/v1/admin/flush answered {st}: {body[:300]!r}")
    keys = ("sextant_log_parts", "sextant_log_compactions_total", "sextant_log_part_bytes")
    last, since, t1 = None, time.time(), time.time()
    while time.time() - t1 < args.settle_max:
        m = metrics(server.base)
        cur = tuple(m.get(k) for k in keys)
        if cur != last:
            last, since = cur, time.time()
        elif time.time() - since >= args.settle:
            break
        time.sleep(1)
    return flush_s, time.time() - t1


def measure_size(data):
    out = {"disk_bytes": du_bytes(data), "parts_bytes": 0, "wal_bytes": 0}
    tdir = os.path.join(data, "tenants")
    if os.path.isdir(tdir):
        for t in os.listdir(tdir):
            out["parts_bytes"] += du_bytes(os.path.join(tdir, t, "logs", "parts"))
            out["wal_bytes"] += du_bytes(os.path.join(tdir, t, "logs", "wal"))
    return out


# ---- Phase 3: queries ----

def loki_stats(d):
    s = (d.get("data") or {}).get("stats") or {}
    summ = s.get("summary") or {}
    store = ((s.get("querier") or {}).get("store") or {})
    return {
        "bytes": summ.get("totalBytesProcessed"), "lines": summ.get("totalLinesProcessed"),
        "exec_s": summ.get("execTime"), "post_filter": summ.get("totalPostFilterLines"),
        "returned": summ.get("totalEntriesReturned"),
        "chunks_ref": store.get("totalChunksRef"), "chunks_read": store.get("totalChunksDownloaded"),
    }


def one_query(server, path, params, timeout):
    """One GET; returns dict with wall s, server CPU s, status, answer."""
    url = server.base + path + "?" + urllib.parse.urlencode(params)
    cpu0 = proc_cpu_s(server.pid)
    t0 = time.perf_counter()
    st, body = http("GET", url, timeout=timeout)
    wall = time.perf_counter() - t0
    cpu = proc_cpu_s(server.pid) - cpu0 if server.alive() else float("nan")
    r = {"status": st, "wall_s": wall, "cpu_s": cpu}
    if st == 200:
        try:
            r["answer"] = json.loads(body)
        except ValueError:
            r["status"] = "bad JSON"
    else:
        r["error"] = body[:300].decode(errors="replace")
    return r


def describe_answer(kind, ans):
    """(count, text) of what came back."""
    if kind == "ks":
        q = ans.get("query") or {}
        recs = q.get("records") or []
        return len(recs), f"total {q.get('total')}, {len(recs)} records"
    res = (ans.get("data") or {}).get("result") or []
    if kind == "metric":
        pts = sum(len(r.get("values") or []) for r in res)
        return len(res), f"{len(res)} series, {pts} points"
    n = sum(len(r.get("values") or []) for r in res)
    return n, f"{n} lines in {len(res)} streams"


def run_query(server, data, name, path, params, kind, args):
    """Cold run (server restarted, its files evicted from the page cache),
    then warm runs until --query-runs or --query-budget seconds."""
    out = {"name": name, "runs": [], "cold": None}
    if not args.no_cold:
        server.stop()
        evict_page_cache(data)
        out["cached_before_cold"] = cached_fraction(data)
        out["restart_s"] = server.start()
    t_begin = time.time()
    first = one_query(server, path, params, args.query_timeout)
    if first["status"] == 404 and kind == "ks":
        out["unavailable"] = f"404: {first.get('error', '')[:120]}"
        return out
    if first["status"] != 200:
        out["error"] = f"HTTP {first['status']}: {first.get('error', '')}"
        if first["status"] == -1:
            out["error"] = f"no answer within --query-timeout {args.query_timeout} s"
        if not server.alive():
            out["error"] += f"; the server died (see {server.logpath})"
        return out
    if args.no_cold:
        out["runs"].append(first)
    else:
        out["cold"] = first
        if kind != "ks":
            out["cold_stats"] = loki_stats(first["answer"])
    while len(out["runs"]) < args.query_runs and time.time() - t_begin < args.query_budget:
        r = one_query(server, path, params, args.query_timeout)
        if r["status"] != 200:
            out["error"] = f"HTTP {r['status']}: {r.get('error', '')}"
            break
        out["runs"].append(r)
    ref = out["runs"][-1] if out["runs"] else first
    out["count"], out["what"] = describe_answer(kind, ref["answer"])
    out["stats"] = loki_stats(ref["answer"]) if kind != "ks" else {}
    walls = [r["wall_s"] for r in out["runs"]]
    cpus = [r["cpu_s"] for r in out["runs"]]
    if walls:
        out["median_s"] = statistics.median(walls)
        out["min_s"] = min(walls)
        out["cpu_s"] = statistics.median(cpus)
    for r in out["runs"] + [first]:
        r.pop("answer", None)
    return out


def fmt_s(v):
    if v is None:
        return "n/a"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def print_query(q, raw_bytes):
    if q.get("unavailable"):
        print(f"  {q['name']:10s} not available ({q['unavailable']})")
        return
    if q.get("error") and not q.get("runs"):
        print(f"  {q['name']:10s} FAILED: {q['error']}")
        return
    cold = q["cold"]["wall_s"] if q.get("cold") else None
    s = q.get("stats") or {}
    line = (f"  {q['name']:10s} cold {fmt_s(cold):>9s}  median {fmt_s(q.get('median_s')):>9s}"
            f"  min {fmt_s(q.get('min_s')):>9s}  ({len(q['runs'])} warm runs)  server CPU "
            f"{q.get('cpu_s', float('nan')):.2f} s;  {q['what']}")
    print(line)
    if s.get("bytes") is not None:
        gbps = s["bytes"] / q["median_s"] / 1e9 if q.get("median_s") else float("nan")
        print(f"             stats: {s['bytes'] / 1e9:.3f} GB / {s['lines']:,} lines processed "
              f"({100.0 * s['bytes'] / raw_bytes:.1f}% of the data), {gbps:.2f} GB/s, "
              f"post-filter {s['post_filter']:,}, returned {s['returned']:,}, chunks "
              f"{s['chunks_read']}/{s['chunks_ref']} read/referenced, execTime "
              f"{s['exec_s']:.3f} s")
    cs = q.get("cold_stats") or {}
    if cs.get("exec_s") is not None and q.get("cold"):
        print(f"             cold run: execTime {cs['exec_s']:.3f} s of {q['cold']['wall_s']:.3f} s, "
              f"chunks {cs['chunks_read']}/{cs['chunks_ref']}, server CPU "
              f"{q['cold']['cpu_s']:.2f} s; {100 * (q.get('cached_before_cold') or 0):.0f}% of "
              f"the data directory in the page cache before it, restart {q.get('restart_s', 0):.2f} s")
    if q.get("error"):
        print(f"             (then: {q['error']})")


# ---- Build ----

def build(args):
    bdir = os.path.join(ROOT, args.build_dir)
    if not args.no_deps:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "deps.sh"), "bench"], check=True)
    loadgen = os.path.join(bdir, "bench", "sx-logload")
    sextant = os.path.join(bdir, "sextant")
    if not args.no_build:
        jobs = os.environ.get("JOBS", str(os.cpu_count() or 2))
        subprocess.run(["cmake", "-S", ROOT, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", bdir, "-j", jobs, "--target", "sextant",
                        "sx-logload"], check=True, stdout=sys.stderr)
    for b in (loadgen, sextant):
        if not os.access(b, os.X_OK):
            sys.exit(f"logs: {b} is missing")
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


def git_rev():
    r = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


# ---- Main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=10,
                    help="raw log text to push for the size and query phases, GB (default 10)")
    ap.add_argument("--runs", type=int, default=1,
                    help="ingestion runs (default 1); runs after the first use fresh data "
                         "directories and only measure the rate")
    ap.add_argument("--ingest-seconds", type=float, default=0,
                    help="stop the extra ingestion runs (2..runs) after this many seconds "
                         "(default: push --gb in each)")
    ap.add_argument("--query-runs", type=int, default=5,
                    help="warm runs per query after the cold one (default 5)")
    ap.add_argument("--query-budget", type=float, default=300,
                    help="stop a query's warm runs after this many seconds (default 300)")
    ap.add_argument("--query-timeout", type=float, default=900,
                    help="HTTP timeout of one query, s (default 900)")
    ap.add_argument("--no-cold", action="store_true",
                    help="do not restart the server and evict its files before each query")
    ap.add_argument("--queries", default="",
                    help="comma-separated subset of: " + ",".join(
                        [q[0] for q in QUERIES] + [q[0] for q in KS_QUERIES]))
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--hours", type=float, default=24, help="time range of the data (24)")
    ap.add_argument("--step", default="300", help="step of metric queries, s (300)")
    ap.add_argument("--gzip", action="store_true", help="gzip the push bodies")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--settle", type=float, default=10,
                    help="after the flush, wait until parts and compactions are unchanged "
                         "this long, s (10)")
    ap.add_argument("--settle-max", type=float, default=600)
    ap.add_argument("--perf", type=int, default=0,
                    help="profile the server with perf record -g for this many seconds "
                         "during the first ingestion and the warm scan query")
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR", "build/release"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-deps", action="store_true")
    ap.add_argument("--tmpdir", default=None, help="where the data directory goes")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra argument for sextant serve (repeatable)")
    ap.add_argument("--loadgen-arg", action="append", default=[],
                    help="extra argument for sx-logload (repeatable)")
    ap.add_argument("--progress", type=int, default=10)
    ap.add_argument("--nice", type=int, default=0,
                    help="run sextant and sx-logload at this nice level (e.g. -10 on a shared "
                         "machine; negative needs root)")
    ap.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    ap.add_argument("--json", help="also write all figures to this file")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    global NICE
    NICE = args.nice

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(_cleanup)

    loadgen, sextant = build(args)
    info = machine_info()
    tmp_parent = args.tmpdir or tempfile.gettempdir()
    free = shutil.disk_usage(tmp_parent).free
    need = args.gb * 1e9 * 1.3 + 2e9  # the log WAL holds raw text until the head is sealed
    if free < need:
        sys.exit(f"logs: {tmp_parent} has {free / 1e9:.1f} GB free; --gb {args.gb} needs about "
                 f"{need / 1e9:.1f} GB (use --tmpdir or a smaller --gb)")
    work = tempfile.mkdtemp(prefix="sx-bench-logs-", dir=tmp_parent)
    data = os.path.join(work, "data")
    log(f"logs: data directory {data}; {info}")
    wanted = set(x for x in args.queries.split(",") if x)
    results = {"args": vars(args), "machine": info, "revision": git_rev(), "ingest": []}
    server = None
    ok = True
    try:
        # ---- Phase 1 ----
        server = Server(sextant, data, work, args)
        server.start()
        perf_out = os.path.join(work, "perf-ingest.txt") if args.perf else None
        log(f"logs: phase 1: pushing {args.gb} GB of raw log text")
        ing = run_load(server, loadgen, args, args.gb, perf_out=perf_out)
        results["ingest"].append(ing)
        print(f"ingest run 1: {ing['lines']:,} lines, {ing['raw_bytes'] / 1e9:.2f} GB raw in "
              f"{ing['seconds']:.1f} s: {ing['lines_per_s']:,.0f} lines/s, "
              f"{ing['mb_per_s']:.1f} MB/s; server {ing['server_cores']:.2f} cores "
              f"({ing['server_cpu_s_per_gb']:.1f} CPU s per GB), client "
              f"{ing['client_cores']:.2f} cores, other load {ing['other_cores']:.2f} cores, "
              f"p99 {ing['p99_ms']:.0f} ms, errors {ing['errors']}, peak RSS "
              f"{ing['rss_mb']:.0f} MiB", flush=True)
        if ing["samples"]:
            print(f"  in-memory log head: peak {ing['peak_head_entries']:,.0f} entries "
                  f"({100 * ing['peak_head_share']:.0f}% of all lines); samples every 5 s "
                  f"(t s: head entries, parts, compactions, RSS MiB, data dir MB):")
            rows = ing["samples"]
            step = max(1, len(rows) // 12)
            print("    " + "; ".join(
                f"{r['t']:.0f}: {r.get('sextant_log_head_entries') or 0:,.0f}, "
                f"{r.get('sextant_log_parts') or 0:.0f}, "
                f"{r.get('sextant_log_compactions_total') or 0:.0f}, {r['rss_mb']:,.0f}, "
                f"{r['disk_mb']:,.0f}" for r in rows[::step]))
        if perf_out:
            print("server profile during ingestion (perf, self time):")
            for ln in perf_top_lines(perf_out):
                print("    " + ln)
        if ing["errors"]:
            ok = False

        # ---- Phase 2 ----
        log("logs: phase 2: flush and size")
        before = measure_size(data)
        flush_s, waited = settle(server, args)
        size = measure_size(data)
        m = metrics(server.base)
        size.update(flush_s=flush_s, settle_s=waited, before_flush_bytes=before["disk_bytes"],
                    parts=m.get("sextant_log_parts"), part_raw=m.get("sextant_log_part_raw_bytes"),
                    compactions=m.get("sextant_log_compactions_total"),
                    rss_mb=proc_hwm_mb(server.pid))
        raw = ing["raw_bytes"]
        ing["server_cpu_s_per_gb_flushed"] = (proc_cpu_s(server.pid) - ing["server_cpu0"]) / (raw / 1e9)
        size["ratio"] = raw / size["disk_bytes"] if size["disk_bytes"] else float("nan")
        size["parts_ratio"] = raw / size["parts_bytes"] if size["parts_bytes"] else float("nan")
        results["size"] = size
        print(f"size: raw {raw / 1e9:.3f} GB; data directory {size['disk_bytes'] / 1e6:,.1f} MB "
              f"after the flush ({size['before_flush_bytes'] / 1e6:,.1f} MB before), raw/disk "
              f"{size['ratio']:.2f}x; logs/parts {size['parts_bytes'] / 1e6:,.1f} MB "
              f"({size['parts_ratio']:.2f}x), log WAL {size['wal_bytes'] / 1e6:,.1f} MB; "
              f"{size['parts']:.0f} parts, {size['compactions']:.0f} compactions; flush "
              f"{flush_s:.1f} s, settled after {waited:.0f} s", flush=True)

        # ---- Phase 3 ----
        log("logs: phase 3: queries")
        start_ns, end_ns = ing["min_ts"] - 1_000_000_000, ing["max_ts"] + 1_000_000_000
        qres = []
        print(f"queries over {raw / 1e9:.2f} GB raw, {ing['lines']:,} lines, "
              f"[{start_ns}, {end_ns}] ns; limit 100; each: "
              + ("warm runs only (--no-cold)" if args.no_cold else
                 "one cold run after a server restart with its files evicted from the page "
                 "cache, then warm runs"), flush=True)
        for name, q, kind, what in QUERIES:
            if wanted and name not in wanted:
                continue
            q = q.replace("{ALL}", ALL_SELECTOR)
            params = {"query": q, "start": str(start_ns), "end": str(end_ns), "limit": "100"}
            if kind == "metric":
                params["step"] = args.step
            log(f"logs: query {name}: {q}")
            perf_t = None
            if args.perf and name == "scan":
                perf_t = "pending"
            r = run_query(server, data, name, "/loki/api/v1/query_range", params, kind, args)
            if perf_t and r.get("runs"):
                pf = os.path.join(work, "perf-scan.txt")
                th = perf_during(server.pid, min(args.perf, 30), pf, delay=0.5)
                one_query(server, "/loki/api/v1/query_range", params, args.query_timeout)
                if th:
                    th.join()
                r["perf"] = pf
            r["logql"], r["about"] = q, what
            qres.append(r)
            print(f"  {name}: {q}")
            print_query(r, raw)
            sys.stdout.flush()
        s_sec, e_sec = start_ns // 1_000_000_000, end_ns // 1_000_000_000 + 1
        for name, params, what in KS_QUERIES:
            if wanted and name not in wanted:
                continue
            p = dict(params, operation="query", start_time=str(s_sec), end_time=str(e_sec))
            log(f"logs: KubeSphere query {name}: {p}")
            r = run_query(server, data, name, "/kapis/logging.kubesphere.io/v1alpha2/logging",
                          p, "ks", args)
            r["params"], r["about"] = p, what
            qres.append(r)
            print(f"  {name}: GET /kapis/logging.kubesphere.io/v1alpha2/logging?"
                  + urllib.parse.urlencode(p))
            print_query(r, raw)
            sys.stdout.flush()
        results["queries"] = qres
        for r in qres:
            if r.get("perf"):
                print(f"server profile during the warm {r['name']} query (perf, self time):")
                for ln in perf_top_lines(r["perf"]):
                    print("    " + ln)
        server.stop()
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)

        # ---- Extra ingestion runs ----
        for run in range(2, args.runs + 1):
            d2 = os.path.join(work, f"data-{run}")
            s2 = Server(sextant, d2, work, args)
            s2.start()
            log(f"logs: ingestion run {run}/{args.runs}")
            try:
                r2 = run_load(s2, loadgen, args, args.gb, seconds=args.ingest_seconds or None)
            finally:
                s2.stop()
                shutil.rmtree(d2, ignore_errors=True)
            results["ingest"].append(r2)
            print(f"ingest run {run}: {r2['lines_per_s']:,.0f} lines/s, {r2['mb_per_s']:.1f} MB/s, "
                  f"server {r2['server_cores']:.2f} cores, client {r2['client_cores']:.2f}, other "
                  f"{r2['other_cores']:.2f}, errors {r2['errors']}", flush=True)
    except RuntimeError as e:
        print(f"logs: FAILED: {e}")
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
        log_path = os.path.join(work, "server.log")
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"server log kept in {log_path}")
            shutil.rmtree(os.path.join(work, "data"), ignore_errors=True)
    return 0 if ok else 1


def summary(results, args):
    ing = [r for r in results["ingest"] if r]
    rows = []

    def verdict(ok):
        return "n/a" if ok is None else ("PASS" if ok else "MISS")

    if ing:
        lps = statistics.median(r["lines_per_s"] for r in ing)
        mbs = statistics.median(r["mb_per_s"] for r in ing)
        note = f" (median of {len(ing)})" if len(ing) > 1 else ""
        rows.append(("ingestion, lines/s" + note, f"{lps:,.0f}", ">= 300,000", verdict(lps >= 3e5)))
        rows.append(("ingestion, MB/s of raw text" + note, f"{mbs:.1f}", ">= 100", verdict(mbs >= 100)))
    size = results.get("size")
    if ing and size and size.get("flush_s") is not None:
        i0 = ing[0]
        sus = i0["raw_bytes"] / (i0["seconds"] + size["flush_s"]) / 1e6
        rows.append(("ingestion run 1 including its final flush, MB/s", f"{sus:.1f}", "", ""))
    if size:
        rows.append(("bytes on disk / raw bytes (data dir after flush)",
                     f"1/{size['ratio']:.1f}", "<= 1/10", verdict(size["ratio"] >= 10)))
    q = {r["name"]: r for r in results.get("queries", [])}
    raw = ing[0]["raw_bytes"] if ing else 0
    n = q.get("needle")
    if n and (n.get("runs") or n.get("cold")):
        if n.get("cold"):
            c = n["cold"]["wall_s"]
            rows.append(("needle search, cold (restart, files evicted)", fmt_s(c), "< 1 s",
                         verdict(c < 1)))
        if n.get("median_s") is not None:
            rows.append(("needle search, warm median", fmt_s(n["median_s"]), "< 1 s",
                         verdict(n["median_s"] < 1)))
        want = ing[0].get("needle_lines")
        if want is not None and n.get("count") != want:
            rows.append(("needle lines found", f"{n.get('count')} of {want}", f"{want}", "MISS"))
    elif n:
        rows.append(("needle search", n.get("error", "failed"), "< 1 s", "MISS"))
    s = q.get("scan")
    if s and s.get("median_s"):
        scanned = (s.get("stats") or {}).get("bytes") or raw
        wall = s["median_s"]
        cpu = s.get("cpu_s") or float("nan")
        per_core = scanned / cpu / 1e9 if cpu and cpu == cpu and cpu > 0 else float("nan")
        rows.append(("full scan, GB/s of raw text per core (server CPU)", f"{per_core:.2f}", "> 1",
                     verdict(per_core > 1) if per_core == per_core else "n/a"))
        rows.append(("full scan, GB/s of raw text (wall)", f"{scanned / wall / 1e9:.2f}", "", ""))
        if s.get("cold"):
            rows.append(("full scan, cold", fmt_s(s["cold"]["wall_s"]), "", ""))
    elif s:
        rows.append(("full scan", s.get("error", "failed"), "> 1 GB/s/core", "MISS"))
    for name, title in (("regex", "regex filter, median"), ("json", "json | level=\"error\", median"),
                        ("metric", "sum by (level) count_over_time | logfmt, median"),
                        ("metric_field", "sum by (level) count_over_time | logfmt level, median"),
                        ("metric_json", "sum by (status) count_over_time | json status, median"),
                        ("ks_needle", "KubeSphere keyword (needle), median"),
                        ("ks_common", "KubeSphere keyword (common, page 2), median")):
        r = q.get(name)
        if not r:
            continue
        if r.get("unavailable"):
            rows.append((title, "not available", "", ""))
        elif r.get("median_s") is not None:
            rows.append((title, fmt_s(r["median_s"]) + f" (cold {fmt_s((r.get('cold') or {}).get('wall_s'))})", "", ""))
        else:
            rows.append((title, r.get("error", "failed")[:60], "", ""))
    if ing:
        i0 = ing[0]
        rows.append(("server CPU s per GB ingested", f"{i0['server_cpu_s_per_gb']:.1f}", "", ""))
        if i0.get("server_cpu_s_per_gb_flushed"):
            rows.append(("server CPU s per GB, incl. flush and compaction",
                         f"{i0['server_cpu_s_per_gb_flushed']:.1f}", "", ""))
        rows.append(("server peak RSS, MiB", f"{(size or i0).get('rss_mb', i0['rss_mb']):.0f}", "", ""))
        rows.append(("client (sx-logload) CPU while sending, cores", f"{i0['client_cores']:.2f}", "", ""))
        rows.append(("other CPU load during ingestion, cores", f"{i0['other_cores']:.2f}", "", ""))
        if i0.get("samples"):
            rows.append(("peak in-memory log head, entries (share of all)",
                         f"{i0['peak_head_entries']:,.0f} ({100 * i0['peak_head_share']:.0f}%)", "", ""))

    print()
    print(f"Log benchmark: {args.gb} GB raw, {args.streams} streams, {args.concurrency} "
          f"connections, JSON push{' (gzip)' if args.gzip else ''}; revision "
          f"{results['revision']}")
    print(f"Machine: {results['machine']}" + (f"; sextant and sx-logload at nice {args.nice}"
                                               if args.nice else ""))
    print("Peer: none. Loki is not available on this machine (no Debian package), so there "
          "is no Loki run to compare with.")
    print()
    print("| metric | measured | target | verdict |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    print()


if __name__ == "__main__":
    sys.exit(main())
