#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# tags: needs:prometheus
"""End-to-end with real clients: Debian's prometheus-node-exporter is scraped
every second by Debian's Prometheus server, which remote-writes everything
to Sextant's /api/v1/write. Sextant must end up with exactly what Prometheus
stored: the same series (label sets) for {job="node"}, the same label names
and job values, the same raw samples (timestamps and values) over a recent
window, and the metadata Prometheus sends through remote write (node_load1
is a gauge, with Prometheus' own help text).

The Prometheus binaries come from `scripts/deps.sh test` (what `make test`
runs). When they are missing this test FAILS; it never skips.
"""
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, check_eq, log  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
NODE = '{job="node"}'
METRICS = ["node_cpu_seconds_total", "node_load1", "node_memory_MemTotal_bytes", "up",
           "scrape_duration_seconds"]
# Collectors that read only /proc and uname: they work in containers and
# always export the same series.
COLLECTORS = ["cpu", "loadavg", "meminfo", "stat", "time", "uname"]


def http_json(port, path, params=None):
    import urllib.parse
    if params:
        path += "?" + urllib.parse.urlencode(params, doseq=True)
    r = t.http_request("127.0.0.1", port, "GET", path, timeout=10)
    if r.status != 200:
        raise RuntimeError("GET %s -> %d %s" % (path, r.status, r.body[:300]))
    return r.json()


def wait_http_ok(port, path, proc, timeout, what):
    def ready():
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        return t.http_request("127.0.0.1", port, "GET", path, timeout=2).status == 200
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return True
        except RuntimeError:
            return False
        except Exception:
            pass
        time.sleep(0.1)
    return False


def label_sets(data):
    return sorted(tuple(sorted(d.items())) for d in data)


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return ""


def main():
    missing = [p for p in (PROMETHEUS, NODE_EXPORTER) if not os.access(p, os.X_OK)]
    if missing:
        check(False, "Prometheus binaries are installed",
              "missing %s; install them with `bash scripts/deps.sh test` (Debian packages "
              "prometheus and prometheus-node-exporter)" % ", ".join(missing))
        return

    sx = t.Server(name="promrw").start()
    base = t.make_temp_dir("sx-e2e-prom-")
    ne_port = t.free_port()
    ne_log = os.path.join(base, "node_exporter.log")
    ne = t.spawn([NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % ne_port,
                  "--collector.disable-defaults"] + ["--collector." + c for c in COLLECTORS], ne_log)
    if not check(wait_http_ok(ne_port, "/metrics", ne, 30, "node exporter"),
                 "node exporter serves /metrics on 127.0.0.1:%d" % ne_port, tail(ne_log)):
        return

    prom_port = t.free_port()
    prom_log = os.path.join(base, "prometheus.log")
    cfg = os.path.join(base, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    scrape_interval: 1s
    static_configs:
      - targets: ["127.0.0.1:%d"]
remote_write:
  - url: http://127.0.0.1:%d/api/v1/write
    remote_timeout: 10s
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send: true
      send_interval: 2s
""" % (ne_port, sx.port))
    prom = t.spawn([PROMETHEUS, "--config.file=" + cfg, "--storage.tsdb.path=" + os.path.join(base, "data"),
                    "--web.listen-address=127.0.0.1:%d" % prom_port], prom_log)
    if not check(wait_http_ok(prom_port, "/-/ready", prom, 60, "prometheus"),
                 "Prometheus is ready on 127.0.0.1:%d" % prom_port, tail(prom_log)):
        return
    start = time.monotonic()

    # 1. Both have node series, and Sextant has every series Prometheus has.
    def series_pair():
        p = label_sets(http_json(prom_port, "/api/v1/series", {"match[]": NODE})["data"])
        s = label_sets(sx.series(NODE))
        return p, s

    def converged():
        p, s = series_pair()
        names = {dict(ls)["__name__"] for ls in p}
        return p and p == s and all(m in names for m in METRICS)
    ok = t.wait_until(converged, 60, 0.5)
    p, s = series_pair()
    log("after %.1f s: Prometheus has %d node series, Sextant %d" % (time.monotonic() - start, len(p), len(s)))
    check(p, "Prometheus scraped the node exporter", tail(prom_log))
    if not check(ok, "Sextant's /api/v1/series for {job=\"node\"} equals Prometheus' (%d series)" % len(p),
                 "only in Prometheus: %s\nonly in Sextant: %s\nprometheus log:\n%s" %
                 (sorted(set(p) - set(s))[:10], sorted(set(s) - set(p))[:10], tail(prom_log, 20))):
        return

    for m in METRICS:
        sel = '{__name__="%s",job="node"}' % m
        pm = label_sets(http_json(prom_port, "/api/v1/series", {"match[]": sel})["data"])
        sm = label_sets(sx.series(sel))
        check(pm and pm == sm, "series of %s agree (%d)" % (m, len(pm)), "prometheus %s\nsextant %s" % (pm, sm))

    # The last minute only, through start/end.
    now = time.time()
    win = {"match[]": NODE, "start": "%.3f" % (now - 60), "end": "%.3f" % now}
    check_eq(label_sets(sx.get_json("/api/v1/series", win)["data"]),
             label_sets(http_json(prom_port, "/api/v1/series", win)["data"]),
             "series over the last minute (start/end) agree")

    # 2. Label names and job values.
    check_eq(sx.get_json("/api/v1/labels")["data"], http_json(prom_port, "/api/v1/labels")["data"],
             "/api/v1/labels agree")
    check_eq(sx.get_json("/api/v1/label/job/values")["data"], ["node"], "Sextant's job values are [node]")
    check_eq(sx.get_json("/api/v1/label/job/values")["data"],
             http_json(prom_port, "/api/v1/label/job/values")["data"], "/api/v1/label/job/values agree")
    check_eq(sx.get_json("/prometheus/api/v1/label/instance/values")["data"],
             http_json(prom_port, "/api/v1/label/instance/values")["data"],
             "/prometheus/api/v1/label/instance/values agrees with Prometheus")
    sel = {"match[]": '{__name__="node_cpu_seconds_total"}'}
    check_eq(sx.get_json("/api/v1/label/mode/values", sel)["data"],
             http_json(prom_port, "/api/v1/label/mode/values", sel)["data"],
             "label/mode/values with match[] agree")

    # 3. Raw samples over a window after the first scrapes that remote
    # write has certainly covered (batch_send_deadline is 1 s).
    while time.monotonic() - start < 14:
        time.sleep(0.2)
    end = time.time() - 3
    begin = end - 10
    end_ms, begin_ms = int(end * 1000), int(begin * 1000)

    def samples_agree():
        problems = []
        compared = [0, 0]
        for m in ("up", "node_load1", "node_cpu_seconds_total", "node_memory_MemTotal_bytes"):
            res = http_json(prom_port, "/api/v1/query",
                            {"query": '%s{job="node"}[12s]' % m, "time": "%.3f" % end})["data"]["result"]
            want = {}
            for row in res:
                pts = [(int(round(float(ts) * 1000)), float(v)) for ts, v in row["values"]]
                want[tuple(sorted(row["metric"].items()))] = [x for x in pts if begin_ms < x[0] < end_ms]
            exp = sx.export('{__name__="%s",job="node"}' % m)
            got = {}
            for k, row in exp.items():
                pts = [(ts, v) for ts, v in zip(row["timestamps"], row["values"])
                       if begin_ms < ts < end_ms and v is not None]
                if pts:
                    got[tuple(sorted(k))] = [(ts, float(v)) for ts, v in pts]
            want = {k: v for k, v in want.items() if v}
            compared[0] += sum(len(v) for v in want.values())
            compared[1] += len(want)
            if not want:
                problems.append("%s: Prometheus returned no samples" % m)
            if got != want:
                bad = [k for k in set(want) | set(got) if want.get(k) != got.get(k)]
                problems.append("%s: %d series differ, e.g. %s\n  prometheus %s\n  sextant    %s" %
                                (m, len(bad), bad[0], want.get(bad[0]), got.get(bad[0])))
        log("compared %d samples of %d series" % (compared[0], compared[1]))
        return problems
    problems = []
    deadline = time.monotonic() + 20
    while True:
        problems = samples_agree()
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(1)
    check(not problems, "raw samples of up, node_load1, node_cpu_seconds_total, node_memory_MemTotal_bytes "
          "over 10 s are identical in Prometheus and Sextant", "\n".join(problems))

    # 4. Metadata sent by Prometheus through remote write.
    def meta():
        return sx.get_json("/api/v1/metadata", {"metric": "node_load1"})["data"].get("node_load1")
    got = t.wait_until(meta, 30, 0.5)
    check(got and got[0].get("type") == "gauge", "Sextant's /api/v1/metadata has node_load1 as a gauge", got)
    want = http_json(prom_port, "/api/v1/metadata", {"metric": "node_load1"})["data"].get("node_load1")
    check_eq(got, want, "node_load1 metadata equals Prometheus' own /api/v1/metadata")
    got = sx.get_json("/api/v1/metadata", {"metric": "node_cpu_seconds_total"})["data"]
    check_eq([m.get("type") for m in got.get("node_cpu_seconds_total", [])], ["counter"],
             "node_cpu_seconds_total metadata is a counter")

    # 5. Sextant answered every remote write with 2xx: Prometheus' own
    # counters (from its /metrics; it does not scrape itself here).
    def prom_counters():
        r = t.http_request("127.0.0.1", prom_port, "GET", "/metrics", timeout=10)
        sums = {}
        for line in r.text().splitlines():
            if line.startswith("prometheus_remote_storage_"):
                name = line.split("{")[0].split(" ")[0]
                sums[name] = sums.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return sums
    c = prom_counters()
    sent = c.get("prometheus_remote_storage_samples_total", 0.0)
    check(sent > 0, "Prometheus reports remote-written samples (%d)" % sent, c)
    check_eq(c.get("prometheus_remote_storage_samples_failed_total"), 0.0,
             "Prometheus reports no failed remote-write samples")
    check_eq(c.get("prometheus_remote_storage_metadata_failed_total", 0.0), 0.0,
             "Prometheus reports no failed metadata sends")
    check(c.get("prometheus_remote_storage_metadata_total", 0.0) > 0,
          "Prometheus sent metadata through remote write", c)
    log("Prometheus remote-wrote %d samples in %.1f s" % (sent, time.monotonic() - start))

    for proc, name in ((prom, "prometheus"), (ne, "node exporter")):
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except Exception:
            proc.kill()
    check_eq(sx.stop(), 0, "Sextant exits 0 after SIGTERM")
    check_eq(sx.sanitizer_reports(), [], "no sanitizer reports in Sextant's log")


if __name__ == "__main__":
    t.run_main(main)
