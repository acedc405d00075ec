#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""PromQL query benchmark: Sextant against Prometheus and VictoriaMetrics.

Loads the ingestion benchmark's data set (sx-loadgen: S node_exporter-like
series, one hour at 15 s, plus --histograms: a classic histogram per host)
into each server in turn, on a loopback port with a fresh temporary data
directory, with the same seed and the same start time, so all three hold
the same samples. Then it runs a fixed set of dashboard queries, each as
an instant query at the end of the hour and as a range query over the hour
at a 15 s step, one warm-up and --runs measured repetitions each, every
query on each server in turn (--sequential: one server at a time, the
others stopped), and measures the wall time of every request (from sending
it to reading the whole answer, over one keep-alive connection per server)
and the server's peak RSS while answering (VmHWM, reset when the queries
start, and VmRSS sampled every 0.2 s). The summary gives per query the median latency on each server, the
ratios Sextant/Prometheus and Sextant/VM, and PASS/MISS against the targets.
Python standard library only; the process helpers come from ingest.py.
Everything started here listens on 127.0.0.1 and is killed on exit.
"""

import argparse
import atexit
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingest  # noqa: E402  (process, HTTP and build helpers of the ingestion benchmark)
from ingest import free_port, http, log, spawn, stop, wait_ready  # noqa: E402

PROM_BIN = "/usr/bin/prometheus"
VM_BIN = ingest.VM_BIN
INTERVAL_MS = 15000
POINTS = 240          # one hour at 15 s
RANGE_S = 3600
STEP = "15s"
# Median latency targets: Sextant / other <= bound.
TARGET_PROM = 0.5
TARGET_VM = 0.7

# (class, expression): typical dashboard panels over node_exporter data.
QUERIES = [
    ("selector", 'node_load1'),
    ("selector", 'node_filesystem_avail_bytes{mountpoint="/"}'),
    ("regex", 'node_network_receive_bytes_total{device=~"eth[0-9]+",instance=~"host-00[0-4].*"}'),
    ("regex", 'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay",mountpoint=~"/|/data"}'),
    ("rate", 'sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))'),
    ("irate", 'sum by (job) (irate(node_network_receive_bytes_total{device!="lo"}[5m]))'),
    ("increase", 'sum by (instance) (increase(node_network_transmit_bytes_total[5m]))'),
    ("topk", 'topk(10, sum by (instance) (rate(node_cpu_seconds_total{mode="user"}[5m])))'),
    ("histogram_quantile",
     'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'),
    ("histogram_quantile",
     'histogram_quantile(0.9, sum by (handler, le) '
     '(rate(http_request_duration_seconds_bucket{handler=~"/api/v1/query.*"}[5m])))'),
    ("avg_over_time", 'avg_over_time(node_memory_MemAvailable_bytes[10m])'),
    ("binary_op", 'sum by (instance) (node_memory_MemAvailable_bytes) / '
                  'sum by (instance) (node_memory_MemTotal_bytes)'),
    ("binary_op", '1 - sum by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) / '
                  'sum by (instance) (rate(node_cpu_seconds_total[5m]))'),
    ("subquery", 'max_over_time(sum by (instance) '
                 '(rate(node_network_receive_bytes_total[5m]))[30m:1m])'),
    ("count", 'count by (cluster) (up == 1)'),
]


# ---- Servers ----

class Sextant:
    key, title = "sextant", "Sextant"
    health = None

    def __init__(self, binary, flush):
        self.binary, self.do_flush = binary, flush

    def command(self, port, data):
        return [self.binary, "serve", "--listen", f"127.0.0.1:{port}", "--data", data,
                "--access-log=false"]

    def settle(self, base):
        if not self.do_flush:
            return None
        st, body = http("POST", base + "/api/v1/admin/flush", body=b"", timeout=600)
        return None if 200 <= st < 300 else f"flush answered {st}: {body[:200]!r}"


class Prometheus:
    key, title = "prometheus", "Prometheus"
    health = "/-/ready"

    def command(self, port, data):
        cfg = os.path.join(data, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        return [PROM_BIN, "--config.file=" + cfg,
                "--storage.tsdb.path=" + os.path.join(data, "tsdb"),
                "--storage.tsdb.retention.time=30d", f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-remote-write-receiver", "--log.level=warn"]

    def settle(self, base):
        return None  # the remote-write receiver appends to the head synchronously


class Victoria:
    key, title = "vm", "VictoriaMetrics"
    health = "/health"

    def command(self, port, data):
        # No rollup result cache: repeated queries would be answered from it.
        return [VM_BIN, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={data}",
                "-retentionPeriod=100y", "-search.disableCache", "-search.latencyOffset=0s",
                "-search.maxQueryDuration=300s", "-loggerLevel=WARN"]

    def settle(self, base):
        st, body = http("GET", base + "/internal/force_flush", timeout=600)
        time.sleep(2)
        return None if 200 <= st < 300 else f"force_flush answered {st}: {body[:200]!r}"


# ---- Memory ----

def proc_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_hwm(pid):
    """Reset VmHWM to the current RSS (proc(5): clear_refs, value 5)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self._halt = pid, 0, threading.Event()

    def run(self):
        while not self._halt.wait(0.2):
            for field in ("VmRSS", "VmHWM"):
                v = proc_kib(self.pid, field)
                if v:
                    self.peak_kib = max(self.peak_kib, v)

    def finish(self):
        self._halt.set()
        self.join()
        for field in ("VmRSS", "VmHWM"):
            v = proc_kib(self.pid, field)
            if v:
                self.peak_kib = max(self.peak_kib, v)
        return self.peak_kib / 1024.0


# ---- Queries ----

def run_query(base, expr, mode, end_s, timeout):
    """One request. Returns (seconds, None, (series, points)) or (seconds,
    error text, None)."""
    if mode == "instant":
        path, params = "/api/v1/query", {"query": expr, "time": f"{end_s:.3f}"}
    else:
        path, params = "/api/v1/query_range", {"query": expr, "start": f"{end_s - RANGE_S:.3f}",
                                               "end": f"{end_s:.3f}", "step": STEP}
    body = urllib.parse.urlencode(params).encode()
    t0 = time.perf_counter()
    st, raw = http_post(base + path, body, timeout)
    secs = time.perf_counter() - t0
    if st != 200:
        return secs, f"HTTP {st}: {raw[:160].decode('utf-8', 'replace')}", None
    try:
        doc = json.loads(raw)
        if doc.get("status") != "success":
            return secs, f"{doc.get('errorType')}: {doc.get('error')}"[:200], None
        res = doc["data"]["result"]
        if doc["data"]["resultType"] == "matrix":
            return secs, None, (len(res), sum(len(r["values"]) for r in res))
        if doc["data"]["resultType"] == "vector":
            return secs, None, (len(res), len(res))
        return secs, None, (1, 1)
    except (ValueError, KeyError, TypeError) as e:
        return secs, f"bad answer ({e}): {raw[:120]!r}", None


_local = threading.local()


def http_post(url, body, timeout):
    """POST over one keep-alive connection per server, as a dashboard's
    HTTP client does, so that the figures are the server's work and not a
    new TCP connection and urllib's set-up per query (the same for every
    server). A connection the server closed is opened again once."""
    import http.client
    _conns = _local.__dict__.setdefault("conns", {})  # http.client is not thread-safe
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    for attempt in (0, 1):
        c = _conns.get(u.netloc)
        if c is None:
            c = _conns[u.netloc] = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        try:
            c.timeout = timeout
            c.request("POST", path, body=body,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                c.close()
                _conns.pop(u.netloc, None)
            return r.status, data
        except (http.client.HTTPException, OSError) as e:
            c.close()
            _conns.pop(u.netloc, None)
            # Only a connection the server dropped between requests is
            # worth a second try; a timeout is an answer.
            stale = isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError,
                                   BrokenPipeError))
            if attempt or not stale:
                return 0, str(e).encode()
    return 0, b"unreachable"


# ---- One server ----

def start_and_load(server, loadgen, args, start_ms):
    """Start the server and load the data; returns its state (a dict with
    "res", and "p", "base", "data", "logf" while it runs)."""
    st = {"server": server, "p": None, "data": tempfile.mkdtemp(prefix=f"sx-qbench-{server.key}-")}
    port = free_port()
    st["base"] = base = f"http://127.0.0.1:{port}"
    st["logf"] = logf = open(st["data"] + ".log", "wb")
    st["res"] = res = {"server": server.key, "ok": False, "queries": {}}
    try:
        st["p"] = p = spawn(server.command(port, st["data"]), stdout=logf, stderr=subprocess.STDOUT)
    except OSError as e:
        res["error"] = f"cannot start {server.title}: {e}"
        return st
    if not wait_ready(p, port, server.health):
        res["error"] = f"{server.title} did not start (see {logf.name})"
        return st
    time.sleep(0.5)
    log(f"query-bench: {server.title}: loading {args.series:,} series x {POINTS} points")
    cmd = [loadgen, "--url", base + "/api/v1/write", "--series", str(args.series),
           "--points", str(POINTS), "--interval", f"{INTERVAL_MS}ms", "--concurrency", "4",
           "--batch", "2000", "--start-ms", str(start_ms), "--seed", str(args.seed),
           "--histograms", "--plain-snappy", "--progress", "10"]
    t0 = time.time()
    lg = spawn(cmd, stdout=subprocess.PIPE, text=True)
    result = {}
    for line in lg.stdout:
        if line.startswith("RESULT "):
            result = dict(kv.split("=") for kv in line.split()[1:])
    lg.wait()
    stop(lg, 5)
    if not result or int(result.get("errors", 1)) != 0:
        res["error"] = f"loading failed: {result or 'sx-loadgen did not finish'}"
        return st
    res["load_s"] = time.time() - t0
    res["load_rate"] = float(result["rate"])
    err = server.settle(base)
    if err:
        log(f"query-bench: {server.title}: {err}")
    if p.poll() is not None:
        res["error"] = f"{server.title} exited during the load (see {logf.name})"
        return st
    res["load_rss_mb"] = (proc_kib(p.pid, "VmHWM") or 0) / 1024.0
    log(f"query-bench: {server.title}: loaded in {res['load_s']:.0f} s "
        f"({res['load_rate']:,.0f} samples/s), peak RSS {res['load_rss_mb']:,.0f} MiB")
    return st


def begin_queries(st, args, end_s):
    """Warm-up (every query once: page cache, lazily built indexes), then
    the RSS high-water mark is reset and sampled while querying."""
    for qi, (cls, expr) in enumerate(QUERIES):
        for mode in ("instant", "range"):
            run_query(st["base"], expr, mode, end_s, args.timeout)
    reset_hwm(st["p"].pid)
    st["sampler"] = RssSampler(st["p"].pid)
    st["sampler"].start()
    st["times"] = {}


def query_once(st, args, end_s, qi, expr, mode):
    secs, err, shape = run_query(st["base"], expr, mode, end_s, args.timeout)
    q = st["res"]["queries"].setdefault(f"{qi}/{mode}", {"errors": 0})
    if err:
        q["errors"] += 1
        q.setdefault("error", err)
    else:
        st["times"].setdefault(f"{qi}/{mode}", []).append(secs)
        q["shape"] = shape


def end_queries(st):
    res, p = st["res"], st["p"]
    res["query_rss_mb"] = st["sampler"].finish()
    for k, v in st["times"].items():
        res["queries"][k]["median_s"] = statistics.median(v)
        res["queries"][k]["times"] = v
    res["ok"] = p.poll() is None
    if not res["ok"]:
        res["error"] = f"{st['server'].title} exited while answering (see {st['logf'].name})"


def shut_down(st, args):
    if st.get("p") is not None:
        stop(st["p"])
        st["p"] = None
    st["logf"].close()
    if not args.keep:
        shutil.rmtree(st["data"], ignore_errors=True)
        try:
            os.unlink(st["logf"].name)
        except OSError:
            pass


def query_rounds(live, args, end_s):
    """The warm-up, then --runs rounds of every query on each live server
    in turn, then the figures."""
    log(f"query-bench: querying {', '.join(st['server'].title for st in live)} "
        f"({args.runs} runs)")
    for st in live:
        begin_queries(st, args, end_s)
    for r in range(args.runs):
        for qi, (cls, expr) in enumerate(QUERIES):
            for mode in ("instant", "range"):
                for st in live:
                    query_once(st, args, end_s, qi, expr, mode)
        log(f"query-bench: run {r + 1}/{args.runs} done")
    for st in live:
        end_queries(st)


def measure_all(servers, loadgen, args, start_ms):
    """Every server measured; returns their results in order.

    Interleaved (the default): all servers are loaded first and stay up,
    then each query runs on one server after the other, run after run, so
    that a noisy neighbour on a shared machine slows all of them alike
    rather than whichever happened to be measured at that moment.
    Sequential (--sequential): one server at a time, alone."""
    end_s = (start_ms + POINTS * INTERVAL_MS) / 1000.0
    states = []
    try:
        if args.sequential:
            for s in servers:
                log(f"query-bench: {s.title}")
                st = start_and_load(s, loadgen, args, start_ms)
                states.append(st)
                if not st["res"].get("error"):
                    query_rounds([st], args, end_s)
                shut_down(st, args)
                time.sleep(1)
        else:
            for s in servers:
                log(f"query-bench: {s.title}")
                states.append(start_and_load(s, loadgen, args, start_ms))
            query_rounds([st for st in states if not st["res"].get("error")], args, end_s)
    finally:
        for st in states:
            if st.get("p") is not None:
                shut_down(st, args)
    for st in states:
        if st["res"].get("error"):
            log(f"query-bench: {st['server'].title}: {st['res']['error']}")
    return [st["res"] for st in states]


# ---- Summary ----

def fmt_ms(q):
    if q is None:
        return "n/a"
    if "median_s" not in q:
        return "error"
    return f"{q['median_s'] * 1000:,.1f}"


def summary(servers, results, args):
    by = {r["server"]: r for r in results}
    keys = [s.key for s in servers]
    titles = {s.key: s.title for s in servers}
    print()
    print(f"PromQL queries on S={args.series:,} series x {POINTS} points (1 h at 15 s) with "
          f"histograms; median of {args.runs} run(s) after one warm-up; latency in ms; "
          f"range queries: 1 h at step {STEP}; {os.cpu_count()} CPUs")
    print()
    head = "| query | mode | " + " | ".join(titles[k] for k in keys)
    ratios = []
    if "sextant" in by and "prometheus" in by:
        ratios.append(("prometheus", "Sextant/Prom", TARGET_PROM))
    if "sextant" in by and "vm" in by:
        ratios.append(("vm", "Sextant/VM", TARGET_VM))
    for _, title, bound in ratios:
        head += f" | {title} (<= {bound}x)"
    head += " | series |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    verdicts = {k: [] for k, _, _ in ratios}
    logs = {k: [] for k, _, _ in ratios}
    errors = {}
    for qi, (cls, expr) in enumerate(QUERIES):
        for mode in ("instant", "range"):
            key = f"{qi}/{mode}"
            qs = {k: by[k]["queries"].get(key) if k in by else None for k in keys}
            row = f"| {cls} #{qi} | {mode} | " + " | ".join(fmt_ms(qs[k]) for k in keys)
            for other, _, bound in ratios:
                a, b = qs.get("sextant"), qs.get(other)
                if a and b and "median_s" in a and "median_s" in b and b["median_s"] > 0:
                    ratio = a["median_s"] / b["median_s"]
                    ok = ratio <= bound
                    verdicts[other].append(ok)
                    logs[other].append(ratio)
                    row += f" | {ratio:.2f}x {'PASS' if ok else 'MISS'}"
                else:
                    verdicts[other].append(False)
                    row += " | n/a"
            shapes = [qs[k]["shape"][0] if qs[k] and qs[k].get("shape") else None for k in keys]
            known = [s for s in shapes if s is not None]
            mark = "" if len(set(known)) <= 1 else " DIFFER"
            row += " | " + "/".join("-" if s is None else str(s) for s in shapes) + mark + " |"
            print(row)
            for k in keys:
                if qs[k] and qs[k].get("errors"):
                    errors.setdefault(k, []).append(f"{cls} #{qi} {mode}: {qs[k].get('error')}")
    print()
    for other, title, bound in ratios:
        v, lr = verdicts[other], logs[other]
        gm = statistics.geometric_mean(lr) if lr else None
        print(f"{title}: {sum(v)}/{len(v)} queries PASS (<= {bound}x)"
              + (f", geometric mean ratio {gm:.2f}x" if gm else ", no ratios (errors)"))
    print()
    print("| figure | " + " | ".join(titles[k] for k in keys) + " |")
    print("|" + "---|" * (len(keys) + 1))

    def cell(k, f, fmt):
        v = by.get(k, {}).get(f)
        return "n/a" if v is None else fmt.format(v)
    print("| peak RSS while querying, MiB | " +
          " | ".join(cell(k, "query_rss_mb", "{:,.0f}") for k in keys) + " |")
    print("| peak RSS after loading, MiB | " +
          " | ".join(cell(k, "load_rss_mb", "{:,.0f}") for k in keys) + " |")
    print("| load time, s | " + " | ".join(cell(k, "load_s", "{:,.0f}") for k in keys) + " |")
    print()
    print("'series' gives the number of series in each server's answer (in column order); "
          "DIFFER marks disagreement.")
    for k in keys:
        if k in by and by[k].get("error"):
            print(f"{titles[k]}: FAILED: {by[k]['error']}")
        if errors.get(k):
            print(f"{titles[k]}: {len(errors[k])} query/mode pairs failed, e.g.:")
            for e in errors[k][:3]:
                print("    " + e)
    print()
    for qi, (cls, expr) in enumerate(QUERIES):
        print(f"  #{qi} {cls}: {expr}")


def build(args, want_sextant):
    """sx-loadgen through ingest.py's build; then sextant. When sextant does
    not build (the tree is being worked on), fall back to the binary already
    in the build directory, or measure Sextant as failed."""
    bargs = argparse.Namespace(build_dir=args.build_dir, no_deps=args.no_deps,
                               no_build=args.no_build)
    loadgen, _ = ingest.build(bargs, False)
    if not want_sextant:
        return loadgen, None
    bdir = os.path.join(ingest.ROOT, args.build_dir)
    sextant = os.path.join(bdir, "sextant")
    if not args.no_build:
        rc = subprocess.run(["cmake", "--build", bdir, "--target", "sextant", "-j",
                             str(os.cpu_count() or 2)], stdout=subprocess.DEVNULL).returncode
        if rc != 0:
            log(f"query-bench: sextant does not build; "
                + (f"using the older {sextant}" if os.access(sextant, os.X_OK)
                   else "Sextant's column will show errors"))
    return loadgen, sextant if os.access(sextant, os.X_OK) else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=100000, help="S (default 100000)")
    ap.add_argument("--runs", type=int, default=5, help="measured runs per query (default 5)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 4000 series, 2 runs (unless given)")
    ap.add_argument("--servers", default="sextant,prometheus,vm",
                    help="comma-separated: sextant, prometheus, vm (default all three)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sextant-flush", action="store_true",
                    help="seal Sextant's head into parts before querying (default: query the "
                         "head, as Prometheus does for the last hour)")
    ap.add_argument("--timeout", type=int, default=300, help="per-request timeout, s")
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--no-deps", action="store_true", help="skip scripts/deps.sh bench")
    ap.add_argument("--nice", type=int, default=0, help="nice level for servers and sx-loadgen")
    ap.add_argument("--keep", action="store_true", help="keep data directories and logs")
    ap.add_argument("--sequential", action="store_true",
                    help="load and query one server at a time, the others stopped (default: "
                         "load all, then run each query on each server in turn)")
    ap.add_argument("--json", help="also write all figures to this file")
    args = ap.parse_args()
    if args.quick:
        if "--series" not in sys.argv:
            args.series = 4000
        if "--runs" not in sys.argv:
            args.runs = 2
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    if not names or any(n not in ("sextant", "prometheus", "vm") for n in names):
        ap.error("--servers takes sextant, prometheus and/or vm")
    ingest.NICE = args.nice

    signal.signal(signal.SIGTERM, ingest._on_signal)
    signal.signal(signal.SIGHUP, ingest._on_signal)
    atexit.register(ingest._cleanup)

    loadgen, sextant_bin = build(args, "sextant" in names)
    servers = []
    for n in ("sextant", "prometheus", "vm"):
        if n not in names:
            continue
        if n == "sextant":
            servers.append(Sextant(sextant_bin or "/nonexistent/sextant", args.sextant_flush))
        elif n == "prometheus":
            if not os.access(PROM_BIN, os.X_OK):
                sys.exit(f"query-bench: {PROM_BIN} is missing (scripts/deps.sh bench installs it)")
            servers.append(Prometheus())
        else:
            servers.append(Victoria())
    # One start time for every server: the same samples everywhere. The
    # hour ends two minutes before now, so it is in Prometheus' head range.
    start_ms = (int(time.time() * 1000) // 60000) * 60000 - POINTS * INTERVAL_MS - 120000
    results = measure_all(servers, loadgen, args, start_ms)
    summary(servers, results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "start_ms": start_ms, "queries": QUERIES,
                       "results": results}, f, indent=2)
    return 0 if all(r.get("ok") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
