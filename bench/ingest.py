#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Remote-write ingestion benchmark: Sextant against VictoriaMetrics.

Starts each server in turn (never both at once, so they do not compete for
the cores) on a loopback port with a fresh temporary data directory, drives
it with sx-loadgen, and measures: samples/s (from sx-loadgen), server CPU
seconds per million samples (utime+stime of the server process around the
send phase), peak RSS (VmHWM) and bytes on disk per sample after a flush
(du -sb of the data directory). Each server runs --runs times; the summary
gives medians, Sextant/VM ratios and PASS/MISS against the targets. Python
standard library only. Everything started here listens on 127.0.0.1 and is
killed on exit.
"""

import argparse
import atexit
import ctypes
import json
import os
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
VM_BIN = "/usr/bin/victoria-metrics"

# (key, row title, comparison, bound on Sextant/VM, format)
TARGETS = [
    ("rate", "ingestion rate, samples/s", ">=", 1.5, "{:,.0f}"),
    ("cpu_per_m", "server CPU s per million samples", "<=", 0.7, "{:.2f}"),
    ("rss_mb", "peak RSS, MiB", "<=", 1.0, "{:,.0f}"),
    ("bytes_per_sample", "bytes on disk per sample", "<=", 1.0, "{:.3f}"),
]
INFO_ROWS = [
    ("cpu_flush_per_m", "server CPU s per million, incl. flush/merge", "{:.2f}"),
    ("disk_mb", "data directory after flush, MiB", "{:,.1f}"),
    ("p99_ms", "request latency p99, ms", "{:,.1f}"),
    ("other_cores", "other CPU load during the run, cores", "{:.2f}"),
]

_children = []  # Popen objects of processes we started (own process groups)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- Process handling ----

NICE = 0


def _die_with_parent():
    """Runs in the child before exec: die if this script dies (even by
    SIGKILL), so no server outlives a benchmark; apply --nice."""
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


def stop(p, grace=30):
    """Stop a process we started: SIGTERM to its group, SIGKILL after grace."""
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
    out = subprocess.run(["du", "-sb", path], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


# ---- HTTP ----

def http(method, url, body=None, timeout=120):
    """Returns (status, body bytes); status 0 when the connection failed."""
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e).encode()


def wait_ready(p, port, health, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            if health is None:
                return True
            st, _ = http("GET", f"http://127.0.0.1:{port}{health}", timeout=5)
            if 200 <= st < 300:
                return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


# ---- Servers ----

class Sextant:
    key, title = "sextant", "Sextant"
    write_path = "/api/v1/write"

    def __init__(self, binary):
        self.binary = binary

    def command(self, port, data):
        return [self.binary, "serve", "--listen", f"127.0.0.1:{port}", "--data", data]

    health = None

    def flush(self, base):
        st, body = http("POST", base + "/api/v1/admin/flush", body=b"", timeout=600)
        if not 200 <= st < 300:
            return f"POST /api/v1/admin/flush answered {st}: {body[:200]!r}"
        return None


class Victoria:
    key, title = "vm", "VictoriaMetrics"
    write_path = "/api/v1/write"
    health = "/health"

    def __init__(self, force_merge):
        self.force_merge = force_merge

    def command(self, port, data):
        # -search.maxSeries only lifts the /api/v1/series answer limit (30000)
        # for the stored-data check; it does not touch ingestion.
        return [VM_BIN, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={data}",
                "-retentionPeriod=100y", "-search.maxSeries=100000000"]

    def flush(self, base):
        st, body = http("GET", base + "/internal/force_flush", timeout=600)
        if not 200 <= st < 300:
            return f"GET /internal/force_flush answered {st}: {body[:200]!r}"
        time.sleep(3)
        if self.force_merge:
            st, body = http("GET", base + "/internal/force_merge", timeout=600)
            if not 200 <= st < 300:
                return f"GET /internal/force_merge answered {st}: {body[:200]!r}"
            # The merge runs in the background: wait until no merge is active.
            deadline = time.time() + 900
            time.sleep(1)
            while time.time() < deadline:
                st, body = http("GET", base + "/metrics", timeout=30)
                active = 0.0
                for line in body.decode(errors="replace").splitlines():
                    if line.startswith(("vm_active_force_merges", "vm_active_merges")):
                        active += float(line.rsplit(" ", 1)[1])
                if st == 200 and active == 0:
                    break
                time.sleep(1)
            time.sleep(1)
        return None


# ---- Stored-data check ----

def check_stored(base, meta, args):
    """Ask the server what it stored: the number of node_* series and the
    samples of one series. Tries the root and the /prometheus prefix.
    Returns a dict; values are None where the API is not answering."""
    start_s = meta["start_ms"] // 1000 - 60
    end_s = (meta["start_ms"] + meta["points"] * meta["interval_ms"]) // 1000 + 60
    out = {"node_series": None, "one_series_samples": None, "expected_node_series": meta["node"],
           "expected_samples": meta["points"], "why": []}
    for prefix in ("", "/prometheus"):
        q = urllib.parse.urlencode({"match[]": '{__name__=~"node_.+"}', "start": start_s,
                                    "end": end_s})
        st, body = http("GET", f"{base}{prefix}/api/v1/series?{q}", timeout=600)
        try:
            out["node_series"] = len(json.loads(body)["data"]) if st == 200 else None
        except (ValueError, KeyError, TypeError):
            pass
        if out["node_series"] is not None:
            break
        out["why"].append(f"{prefix}/api/v1/series: {st} {body[:120]!r}")
    rng_s = (meta["points"] * meta["interval_ms"]) // 1000 + 1
    t = (meta["start_ms"] + meta["points"] * meta["interval_ms"]) / 1000.0
    query = f'count_over_time(node_load1{{instance="host-0000:9100"}}[{rng_s}s])'
    for prefix in ("", "/prometheus"):
        q = urllib.parse.urlencode({"query": query, "time": f"{t:.3f}"})
        st, body = http("GET", f"{base}{prefix}/api/v1/query?{q}", timeout=120)
        try:
            if st == 200:
                res = json.loads(body)["data"]["result"]
                out["one_series_samples"] = int(float(res[0]["value"][1])) if res else 0
        except (ValueError, KeyError, TypeError, IndexError):
            pass
        if out["one_series_samples"] is not None:
            break
        out["why"].append(f"{prefix}/api/v1/query: {st} {body[:120]!r}")
    if out["one_series_samples"] is None:
        # VictoriaMetrics-style export: JSON lines with "values".
        q = urllib.parse.urlencode({"match[]": 'node_load1{instance="host-0000:9100"}',
                                    "start": start_s, "end": end_s})
        st, body = http("GET", f"{base}/api/v1/export?{q}", timeout=120)
        try:
            if st == 200:
                out["one_series_samples"] = sum(
                    len(json.loads(line)["values"]) for line in body.splitlines() if line.strip())
        except (ValueError, KeyError, TypeError):
            pass
        if out["one_series_samples"] is None:
            out["why"].append(f"/api/v1/export: {st} {body[:120]!r}")
    return out


# ---- One run ----

def run_once(server, loadgen, args, run_no):
    data = tempfile.mkdtemp(prefix=f"sx-bench-{server.key}-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logf = open(os.path.join(data + ".log"), "wb")
    res = {"server": server.key, "run": run_no, "data_dir": data, "ok": False}
    p = None
    try:
        p = spawn(server.command(port, data), stdout=logf, stderr=subprocess.STDOUT)
        if not wait_ready(p, port, server.health):
            res["error"] = f"{server.title} did not start (see {logf.name})"
            return res
        time.sleep(1)
        start_ms = int(time.time() * 1000) - args.points * args.interval_ms - 60000
        cmd = [loadgen, "--url", base + server.write_path, "--series", str(args.series),
               "--points", str(args.points), "--interval", f"{args.interval_ms}ms",
               "--concurrency", str(args.concurrency), "--batch", str(args.batch),
               "--start-ms", str(start_ms), "--seed", str(args.seed),
               "--progress", str(args.progress)]
        if not args.template_snappy:
            cmd.append("--plain-snappy")
        cmd += args.loadgen_arg
        lg = spawn(cmd, stdout=subprocess.PIPE, text=True)
        watchdog = threading.Timer(args.run_timeout, stop, [lg, 5])
        watchdog.daemon = True
        watchdog.start()
        meta, result = {}, {}
        cpu0 = sys0 = None
        deadline = time.time() + args.run_timeout
        for line in lg.stdout:
            line = line.rstrip("\n")
            if line == "SEND_START":
                cpu0, sys0 = proc_cpu_s(p.pid), system_busy_s()
            elif line.startswith("SERIES "):
                meta = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
            elif line.startswith("RESULT "):
                result = dict(kv.split("=") for kv in line.split()[1:])
            elif args.verbose:
                log("    " + line)
        try:
            lg.wait(max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            pass
        watchdog.cancel()
        stop(lg, grace=5)
        if p.poll() is not None:
            res["error"] = f"{server.title} exited during the load (see {logf.name})"
            return res
        cpu1, sys1 = proc_cpu_s(p.pid), system_busy_s()
        if not result or cpu0 is None:
            res["error"] = "sx-loadgen did not finish (see its output above)"
            return res
        samples = int(result["samples"])
        secs = float(result["seconds"])
        res.update(samples=samples, seconds=secs, rate=float(result["rate"]),
                   errors=int(result["errors"]), p99_ms=float(result["p99_ms"]),
                   loadgen_cpu_s=float(result["cpu_s"]), server_cpu_s=cpu1 - cpu0)
        res["cpu_per_m"] = res["server_cpu_s"] / samples * 1e6 if samples else float("nan")
        other = (sys1 - sys0) - (cpu1 - cpu0) - res["loadgen_cpu_s"]
        res["other_cores"] = max(0.0, other) / secs if secs > 0 else float("nan")
        if res["errors"] or samples != args.series * args.points:
            res["error"] = f"{res['errors']} failed requests; {samples} samples accepted"
        t0 = time.time()
        ferr = server.flush(base)
        if ferr:
            res["flush_error"] = ferr
        res["flush_s"] = time.time() - t0
        if p.poll() is not None:
            res["error"] = f"{server.title} exited during the flush (see {logf.name})"
            return res
        res["cpu_flush_per_m"] = (proc_cpu_s(p.pid) - cpu0) / samples * 1e6 if samples else 0
        res["rss_mb"] = proc_hwm_mb(p.pid)
        disk = du_bytes(data)
        res["disk_mb"] = disk / 1048576.0
        res["bytes_per_sample"] = disk / samples if samples else float("nan")
        if not args.no_check and meta:
            res["stored"] = check_stored(base, meta, args)
        res["ok"] = "error" not in res
        return res
    finally:
        if p is not None:
            stop(p)
        logf.close()
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
            if res.get("ok"):
                try:
                    os.unlink(logf.name)
                except OSError:
                    pass


def describe(server, res):
    if "samples" not in res:
        return f"{server.title}: FAILED: {res.get('error')}"
    s = (f"{server.title}: {res['rate']:,.0f} samples/s, CPU {res['server_cpu_s']:.1f} s "
         f"({res['cpu_per_m']:.2f} s/M; {res.get('cpu_flush_per_m', float('nan')):.2f} s/M "
         f"with flush), peak RSS {res.get('rss_mb', float('nan')):,.0f} MiB, disk "
         f"{res.get('disk_mb', float('nan')):,.1f} MiB = "
         f"{res.get('bytes_per_sample', float('nan')):.3f} B/sample, other load "
         f"{res['other_cores']:.2f} cores")
    st = res.get("stored")
    if st:
        def fmt(got, want):
            return "n/a (API not answering)" if got is None else \
                f"{got}/{want}" + ("" if got == want else " MISMATCH")
        s += (f"\n      stored: node_* series {fmt(st['node_series'], st['expected_node_series'])}"
              f", samples of node_load1{{instance=\"host-0000:9100\"}} "
              f"{fmt(st['one_series_samples'], st['expected_samples'])}")
    if st and (st["node_series"] is None or st["one_series_samples"] is None) and st["why"]:
        s += "\n      (" + "; ".join(st["why"]) + ")"
    if res.get("flush_error"):
        s += f"\n      flush: {res['flush_error']}"
    if res.get("error"):
        s += f"\n      ERROR: {res['error']}"
    return s


# ---- Summary ----

def median(results, key):
    vals = [r[key] for r in results if r.get("ok") and isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def summary(servers, results, args):
    med = {s.key: {} for s in servers}
    for s in servers:
        mine = [r for r in results if r["server"] == s.key]
        for key, *_ in TARGETS:
            med[s.key][key] = median(mine, key)
        for key, *_ in INFO_ROWS:
            med[s.key][key] = median(mine, key)
        med[s.key]["runs_ok"] = sum(1 for r in mine if r.get("ok"))
        med[s.key]["runs"] = len(mine)
    total = args.series * args.points
    print()
    print(f"Remote-write ingestion, S={args.series:,} series x T={args.points} points "
          f"= {total / 1e6:.2f} M samples, concurrency {args.concurrency}, batch {args.batch}, "
          f"median of {args.runs} run(s); {os.cpu_count()} CPUs")
    print()
    both = len(servers) == 2
    head = "| figure | " + " | ".join(s.title for s in servers)
    head += " | Sextant/VM | target | verdict |" if both else " |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    verdicts = []

    def cell(v, fmt):
        return "n/a" if v is None else fmt.format(v)

    for key, title, op, bound, fmt in TARGETS:
        row = f"| {title} | " + " | ".join(cell(med[s.key][key], fmt) for s in servers)
        if both:
            a, b = med["sextant"][key], med["vm"][key]
            if a is None or b is None or b == 0:
                row += " | n/a | " + f"{op} {bound}x | n/a |"
                verdicts.append(False)
            else:
                ratio = a / b
                ok = ratio >= bound if op == ">=" else ratio <= bound
                verdicts.append(ok)
                row += f" | {ratio:.2f}x | {op} {bound}x | {'PASS' if ok else 'MISS'} |"
        else:
            row += " |"
        print(row)
    for key, title, fmt in INFO_ROWS:
        row = f"| {title} | " + " | ".join(cell(med[s.key][key], fmt) for s in servers)
        if both:
            a, b = med["sextant"][key], med["vm"][key]
            ratio = f"{a / b:.2f}x" if a is not None and b else "n/a"
            row += f" | {ratio} | | |"
        else:
            row += " |"
        print(row)
    print()
    for s in servers:
        m = med[s.key]
        if m["runs_ok"] != m["runs"]:
            print(f"{s.title}: only {m['runs_ok']} of {m['runs']} runs succeeded")
    return med, verdicts


# ---- Build ----

def build(args, want_sextant):
    """Install dependencies and build sx-loadgen (and sextant). Returns
    (loadgen path, sextant path or None)."""
    bdir = os.path.join(ROOT, args.build_dir)
    if not args.no_deps:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "deps.sh"), "bench"], check=True)
    loadgen = os.path.join(bdir, "bench", "sx-loadgen")
    sextant = os.path.join(bdir, "sextant")
    if args.no_build:
        return loadgen, sextant if want_sextant else None
    jobs = str(os.cpu_count() or 2)
    conf = subprocess.run(["cmake", "-S", ROOT, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release"])
    built = conf.returncode == 0 and subprocess.run(
        ["cmake", "--build", bdir, "--target", "sx-loadgen", "-j", jobs]).returncode == 0
    if not built:
        # The rest of the tree may not configure yet; sx-loadgen needs only
        # libsnappy and libcurl, so build it on its own.
        log("bench: cmake could not build sx-loadgen; compiling it directly")
        loadgen = os.path.join(ROOT, "build", "bench-standalone", "sx-loadgen")
        os.makedirs(os.path.dirname(loadgen), exist_ok=True)
        subprocess.run(["cc", "-std=gnu17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                        "-o", loadgen, os.path.join(ROOT, "bench", "loadgen.c"), "-lsnappy",
                        "-lcurl", "-lpthread", "-lm"], check=True)
    if want_sextant:
        if conf.returncode != 0 or subprocess.run(
                ["cmake", "--build", bdir, "--target", "sextant", "-j", jobs]).returncode != 0:
            sys.exit("bench: cannot build sextant; run with --servers vm to measure "
                     "VictoriaMetrics alone")
    return loadgen, sextant if want_sextant else None


def parse_interval_ms(s):
    units = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000}
    for u in ("ms", "s", "m", "h"):
        if s.endswith(u):
            return int(float(s[: -len(u)]) * units[u])
    return int(float(s) * 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=100000, help="S (default 100000)")
    ap.add_argument("--points", type=int, default=240, help="T (default 240)")
    ap.add_argument("--interval", default="15s", help="scrape interval (default 15s)")
    ap.add_argument("--runs", type=int, default=3, help="runs per server (default 3)")
    ap.add_argument("--concurrency", type=int, default=4, help="connections (default 4)")
    ap.add_argument("--batch", type=int, default=2000, help="samples per request (default 2000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--servers", default="sextant,vm",
                    help="comma-separated: sextant, vm (default both)")
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--no-deps", action="store_true", help="skip scripts/deps.sh bench")
    ap.add_argument("--no-check", action="store_true", help="skip the stored-data queries")
    ap.add_argument("--no-vm-force-merge", action="store_true",
                    help="measure VictoriaMetrics' disk after force_flush only")
    ap.add_argument("--template-snappy", action="store_true",
                    help="let sx-loadgen patch snappy templates instead of compressing "
                         "every request with snappy_compress")
    ap.add_argument("--loadgen-arg", action="append", default=[],
                    help="extra argument for sx-loadgen (repeatable)")
    ap.add_argument("--run-timeout", type=int, default=3600, help="seconds per load (3600)")
    ap.add_argument("--progress", type=int, default=10, help="sx-loadgen progress period")
    ap.add_argument("--nice", type=int, default=0,
                    help="run servers and sx-loadgen at this nice level (e.g. -5 on a "
                         "shared machine; negative needs root)")
    ap.add_argument("--keep", action="store_true", help="keep data directories and logs")
    ap.add_argument("--json", help="also write all figures to this file")
    ap.add_argument("--verbose", action="store_true", help="echo sx-loadgen's report")
    args = ap.parse_args()
    args.interval_ms = parse_interval_ms(args.interval)
    global NICE
    NICE = args.nice
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    if not names or any(n not in ("sextant", "vm") for n in names):
        ap.error("--servers takes sextant and/or vm")

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    atexit.register(_cleanup)

    loadgen, sextant_bin = build(args, "sextant" in names)
    servers = []
    for n in ("sextant", "vm"):
        if n in names:
            servers.append(Sextant(sextant_bin) if n == "sextant"
                           else Victoria(not args.no_vm_force_merge))
    results = []
    for r in range(args.runs):
        order = servers if r % 2 == 0 else list(reversed(servers))
        for s in order:
            log(f"bench: run {r + 1}/{args.runs}: {s.title}")
            res = run_once(s, loadgen, args, r + 1)
            results.append(res)
            print(f"run {r + 1}/{args.runs} " + describe(s, res), flush=True)
            time.sleep(2)
    med, verdicts = summary(servers, results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": results, "median": med}, f, indent=2)
    failed = any(not r.get("ok") for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
