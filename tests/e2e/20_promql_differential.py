#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# tags: needs:prometheus
"""Differential PromQL test: Sextant against the real Prometheus.

The same deterministic data set (seeded; about 320 series, a sample every
15 s over the two hours before now: counters with resets, gauges with
negative values and NaNs, classic histograms, a summary, series that stop
with and without a stale marker, series with short and long gaps, series
that start late) is remote-written to Debian's Prometheus (2.42, remote
write receiver on) and to Sextant. Then a corpus of about 320 PromQL
expressions, one or more from every function and operator family, runs on
both, each as instant queries at 8 times chosen around the events in the
data (gap, late start, end with and without stale marker, after the end)
and as three range queries: the last hour at steps of 15 s and 60 s, and
from 75 minutes before the end to 4 minutes after it at 37 s; about 3,500
queries in all. Answers must agree: HTTP status, status and errorType (not
the error text), resultType, the set of label sets, the timestamps, and
values within 1e-9 relative (NaN equals NaN, +Inf equals
+Inf; two values both below 1e-9 in magnitude count as equal, because
Prometheus 3 sums with Kahan compensation and 2.42 does not, so
cancellation noise near zero differs). Vectors are compared as sets, except
when the outermost call is sort(), sort_desc(), or topk()/bottomk() without
by/without, where the order of the values must agree too. Warnings and
infos are not compared (Prometheus 3 emits annotations 2.42 does not know).

Sextant follows Prometheus 3; the reference is 2.42. Known differences
between the two, and how this test keeps clear of them instead of
special-casing answers:

  * Range selectors and the lookback window are left-open in 3,
    (t - range, t], and closed in 2.42, [t - range, t]. Every sample sits at
    an odd millisecond offset (never .000 or .500 s), and every evaluation
    time ends in .500 s (explicit @ times are whole seconds), so no sample
    and no subquery step is ever on a window boundary and both rules select
    the same points.
  * holt_winters is called double_exponential_smoothing in 3 (and the old
    name is gone there); the corpus uses the 2.42 name, which Sextant keeps.
  * Regex `.` matches newline in 3 but not in 2.42: no label value holds a
    newline.
  * Numbers as durations (`x[300]`), limitk/limit_ratio, mad_over_time,
    sort_by_label, info() and native histograms are 3.x only: not used.
  * `@` and negative offsets need no feature flag in 2.42 (stable since
    2.33), so they are in the corpus.
  * Prometheus 3 normalises classic `le`/`quantile` label values ("1" ->
    "1.0") only when scraping; over remote write both keep what was sent.
  * Kahan summation in 3 (sum, avg, sum_over_time, avg_over_time, ...)
    changes the last bits; hence the tolerance above. No data value is
    infinite, so that compensation never turns an Inf into a NaN.
  * 2.42 reports no info annotations and 3 may; they are not compared.
  * Nested subqueries evaluate the inner one at multiples of its step, so
    an inner range that is a multiple of the inner step starts exactly on a
    point: 2.42 includes it and 3 does not. Inner ranges here are not
    multiples of their step (`[5m30s:1m]`).
  * atan2 keeps the metric name in 2.42 and drops it from 2.46 on
    (prometheus/prometheus#12595): the corpus applies atan2 to an
    expression that has no name already.
  * avg: 2.42 keeps an incremental mean, 3 divides a Kahan sum, so
    (29.1 + 54.8 + 3.4) / 3 is 29.1 in one and 29.099999999999998 in the
    other. Comparisons against an average flip on such ties; the corpus
    compares against min + 3 instead. (Values are compared with tolerance.)
  * Label names: 3 accepts any UTF-8 label name, so label_replace with a
    destination such as "invalid-name" fails in 2.42 and works in 3; the
    error case uses the empty name, invalid in both.
  * topk/bottomk pick arbitrarily among equal values: they run on
    cpu_usage_ratio (random six-decimal floats with NaNs), counters and
    rates, never on integer gauges with ties at the cut.

Set SX_DIFF_TARGET=prometheus (a second Prometheus) or vm (VictoriaMetrics,
which is only PromQL-like, so it differs a lot) to check the harness itself.
SX_DIFF_VERBOSE=1 prints every differing query.

The Prometheus binary comes from `scripts/deps.sh test`; when it is missing
this test FAILS, it never skips.
"""
import json
import os
import random
import re
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, log  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
VICTORIA = "/usr/bin/victoria-metrics"
SEED = 20251121
STEP_MS = 15000
NSTEPS = 480            # two hours of 15 s scrapes
CHUNK_STEPS = 40        # ten minutes of data per WriteRequest, in time order
REL_TOL = 1e-9
ZERO_TOL = 1e-9
STALE = t.Bits(t.STALE_NAN_BITS)
NAN = float("nan")

# ---- Data ----


class Series:
    def __init__(self, name, **labels):
        self.labels = dict(labels)
        self.labels["__name__"] = name
        self.samples = {}  # step -> value (float or Bits)

    def pairs(self):
        return sorted(self.labels.items())


def build_data(t0_ms):
    """The data set: a list of Series whose samples are keyed by step; the
    sample of step k is at t0_ms + k * 15 s + the series' offset. Offsets
    are odd-ish milliseconds, never a multiple of 500 ms (see the
    docstring)."""
    rnd = random.Random(SEED)
    out = []
    jobs = {"api": ["10.0.0.%d:8080" % i for i in (1, 2, 3)],
            "web": ["10.0.1.%d:80" % i for i in (1, 2, 3)]}
    targets = [(j, i) for j in sorted(jobs) for i in jobs[j]]

    def offset():
        while True:
            o = rnd.randrange(1, STEP_MS)
            if o % 500:
                return o

    def add(s, steps_values):
        s.offset = offset()
        s.samples = dict(steps_values)
        out.append(s)

    # Counters: http_requests_total{job,instance,method,status}.
    for job, inst in targets:
        for method in ("GET", "POST", "DELETE"):
            for status in ("200", "404", "500"):
                s = Series("http_requests_total", job=job, instance=inst, method=method,
                           status=status)
                per = {"200": 80, "404": 6, "500": 2}[status] * (3 if method == "GET" else 1)
                v = float(rnd.randrange(0, 10000))
                vals = {}
                key = (job, inst, method, status)
                for k in range(NSTEPS):
                    v += rnd.randrange(0, per + 1)
                    if key == ("api", "10.0.0.1:8080", "GET", "200") and k == 250:
                        v = float(rnd.randrange(0, 20))          # counter reset
                    if key == ("web", "10.0.1.2:80", "POST", "500") and k in (120, 333):
                        v = 0.0                                   # two resets
                    if key == ("api", "10.0.0.3:8080", "DELETE", "404") and k < 240:
                        continue                                  # starts late
                    if key == ("api", "10.0.0.2:8080", "POST", "404") and (
                            200 <= k < 230 or 300 <= k < 310):
                        continue                                  # a long and a short gap
                    if key == ("web", "10.0.1.3:80", "DELETE", "500") and k >= 380:
                        if k == 380:
                            vals[k] = STALE                       # stops, stale marker
                        continue
                    vals[k] = v
                add(s, vals)

    # Gauges with negative values: temperature_celsius{job,instance,sensor}.
    for n, (job, inst) in enumerate(targets):
        for sensor in ("cpu", "board", "ambient"):
            s = Series("temperature_celsius", job=job, instance=inst, sensor=sensor)
            v = rnd.uniform(-10, 45)
            vals = {}
            for k in range(NSTEPS):
                v = min(60.0, max(-25.0, v + rnd.uniform(-1.5, 1.5)))
                if n == 1 and sensor == "cpu" and k >= 350:
                    continue                                      # stops, no stale marker
                if n == 4 and sensor == "board" and k == 410:
                    vals[k] = STALE                               # stale, then back at 440
                    continue
                if n == 4 and sensor == "board" and 410 < k < 440:
                    continue
                vals[k] = round(v, 1)
            add(s, vals)

    # Gauges with NaNs: queue_depth{job,instance,queue}.
    for n, (job, inst) in enumerate(targets):
        for q in ("high", "low"):
            s = Series("queue_depth", job=job, instance=inst, queue=q)
            v = rnd.randrange(0, 50)
            vals = {}
            for k in range(NSTEPS):
                v = max(0, v + rnd.randrange(-5, 6))
                if n % 3 == 0 and rnd.random() < 0.04:
                    vals[k] = NAN
                elif n == 2 and q == "low" and 280 <= k < 300:
                    vals[k] = NAN                                 # 5 minutes of NaN
                else:
                    vals[k] = float(v)
            add(s, vals)

    # Floats without ties, with NaNs (for topk/bottomk/sort, where ties
    # make the answer implementation-defined): cpu_usage_ratio{job,instance,core}.
    for n, (job, inst) in enumerate(targets):
        for core in ("0", "1"):
            s = Series("cpu_usage_ratio", job=job, instance=inst, core=core)
            vals = {}
            for k in range(NSTEPS):
                if (n + int(core)) % 2 == 0 and rnd.random() < 0.05:
                    vals[k] = NAN
                else:
                    vals[k] = round(rnd.random(), 6)
            add(s, vals)

    # Large values: memory_usage_bytes{job,instance}.
    for job, inst in targets:
        s = Series("memory_usage_bytes", job=job, instance=inst)
        v = rnd.randrange(2 ** 29, 2 ** 33)
        vals = {}
        for k in range(NSTEPS):
            v = max(2 ** 28, v + rnd.randrange(-2 ** 22, 2 ** 22))
            vals[k] = float(v)
        add(s, vals)

    # Classic histograms: http_request_duration_seconds_{bucket,sum,count}.
    les = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    le_txt = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
              "+Inf"]
    for n, (job, inst) in enumerate(targets):
        for handler in ("/api/v1/query", "/metrics"):
            counts = [0] * 12
            total = 0.0
            mu = -3.0 if handler == "/metrics" else -1.5
            bvals = [dict() for _ in range(12)]
            svals, cvals = {}, {}
            for k in range(NSTEPS):
                if n == 3 and handler == "/metrics" and k == 300:
                    counts = [0] * 12                             # process restart
                    total = 0.0
                for _ in range(rnd.randrange(0, 25)):
                    x = rnd.lognormvariate(mu, 1.2)
                    total += round(x, 4)
                    for b in range(12):
                        if b == 11 or x <= les[b]:
                            counts[b] += 1
                for b in range(12):
                    bvals[b][k] = float(counts[b])
                svals[k] = round(total, 4)
                cvals[k] = float(counts[11])
            for b in range(12):
                add(Series("http_request_duration_seconds_bucket", job=job, instance=inst,
                           handler=handler, le=le_txt[b]), bvals[b])
            add(Series("http_request_duration_seconds_sum", job=job, instance=inst,
                       handler=handler), svals)
            add(Series("http_request_duration_seconds_count", job=job, instance=inst,
                       handler=handler), cvals)

    # A summary: rpc_duration_seconds{quantile} with _sum and _count.
    for job, inst in targets:
        qv = {q: {} for q in ("0.5", "0.9", "0.99")}
        svals, cvals = {}, {}
        total, count = rnd.uniform(0, 100), rnd.randrange(0, 1000)
        for k in range(NSTEPS):
            base = rnd.uniform(0.01, 0.2)
            qv["0.5"][k] = round(base, 4)
            qv["0.9"][k] = round(base * rnd.uniform(1.5, 3), 4)
            qv["0.99"][k] = round(base * rnd.uniform(3, 8), 4)
            n = rnd.randrange(0, 40)
            count += n
            total += round(n * base * 1.3, 4)
            svals[k] = round(total, 4)
            cvals[k] = float(count)
        for q in ("0.5", "0.9", "0.99"):
            add(Series("rpc_duration_seconds", job=job, instance=inst, quantile=q), qv[q])
        add(Series("rpc_duration_seconds_sum", job=job, instance=inst), svals)
        add(Series("rpc_duration_seconds_count", job=job, instance=inst), cvals)

    # up and build_info (for joins).
    for job, inst in targets:
        down = (job, inst) == ("web", "10.0.1.3:80")
        add(Series("up", job=job, instance=inst),
            {k: 0.0 if down and k >= 380 else 1.0 for k in range(NSTEPS)})
        add(Series("build_info", job=job, instance=inst,
                   version="1.2.3" if job == "api" else "2.0.0"),
            {k: 1.0 for k in range(NSTEPS)})

    # node_cpu_seconds_total with two-decimal values.
    for cpu in ("0", "1"):
        for mode in ("idle", "system", "user"):
            s = Series("node_cpu_seconds_total", job="node", instance="host-1:9100", cpu=cpu,
                       mode=mode)
            v = rnd.randrange(100000, 900000)
            per = {"idle": 1400, "system": 60, "user": 200}[mode]
            vals = {}
            for k in range(NSTEPS):
                v += rnd.randrange(0, per)
                vals[k] = v / 100.0
            add(s, vals)

    # Awkward label values (JSON escaping), and a late starter with few points.
    add(Series("weird_labels", job="api", path='/a "quoted" \\ back', text="h\u00e9llo \u2713"),
        {k: float(k % 7) for k in range(NSTEPS)})
    add(Series("late_gauge", job="web", instance="10.0.1.1:80"),
        {k: float(k) / 4 for k in range(NSTEPS - 12, NSTEPS)})

    for s in out:
        s.points = [(t0_ms + k * STEP_MS + s.offset, s.samples[k]) for k in sorted(s.samples)]
    return out


def write_requests(series):
    """Snappy-compressed WriteRequests, in time order: request i holds every
    series' samples of steps [i*CHUNK_STEPS, (i+1)*CHUNK_STEPS)."""
    bodies = []
    for c in range(0, NSTEPS, CHUNK_STEPS):
        ts = []
        for s in series:
            pts = [p for p in s.points if c * STEP_MS <= p[0] - s.t0 < (c + CHUNK_STEPS) * STEP_MS]
            if pts:
                ts.append((s.pairs(), pts))
        bodies.append(t.snappy_encode(t.write_request(ts)))
    return bodies


# ---- Targets ----


class Target:
    """A server that answers /api/v1/query and /api/v1/query_range."""

    def __init__(self, name, port, proc=None):
        self.name, self.port, self.proc = name, port, proc

    def write(self, body):
        h = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
             "X-Prometheus-Remote-Write-Version": "0.1.0"}
        return t.http_request("127.0.0.1", self.port, "POST", "/api/v1/write", body, h, timeout=60)

    def query(self, path, params):
        body = urllib.parse.urlencode(params).encode()
        try:
            r = t.http_request("127.0.0.1", self.port, "POST", path, body,
                               {"Content-Type": "application/x-www-form-urlencoded"}, timeout=60)
        except OSError as e:
            return {"http": 0, "error": "connection: %s" % e}
        try:
            doc = r.json()
        except ValueError:
            return {"http": r.status, "error": "not JSON: %r" % r.body[:200]}
        if not isinstance(doc, dict):
            return {"http": r.status, "error": "not a JSON object: %r" % r.body[:200]}
        doc["http"] = r.status
        return doc


def wait_ok(port, path, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            if t.http_request("127.0.0.1", port, "GET", path, timeout=2).status == 200:
                return True
        except Exception:
            pass
        time.sleep(0.1)
    return False


def start_prometheus(name):
    base = t.make_temp_dir("sx-e2e-%s-" % name)
    cfg = os.path.join(base, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 15s\n  evaluation_interval: 1m\nscrape_configs: []\n")
    for _ in range(5):
        port = t.free_port()
        logp = os.path.join(base, "prometheus.log")
        p = t.spawn([PROMETHEUS, "--config.file=" + cfg,
                     "--storage.tsdb.path=" + os.path.join(base, "data"),
                     "--storage.tsdb.retention.time=30d",
                     "--web.listen-address=127.0.0.1:%d" % port,
                     "--web.enable-remote-write-receiver"], logp)
        if wait_ok(port, "/-/ready", p, 60):
            return Target(name, port, p)
        if p.poll() is None:
            p.kill()
        p.wait()
    raise RuntimeError("%s did not start; log:\n%s" % (name, tail(logp)))


def start_vm():
    base = t.make_temp_dir("sx-e2e-vm-")
    port = t.free_port()
    logp = os.path.join(base, "vm.log")
    p = t.spawn([VICTORIA, "-httpListenAddr=127.0.0.1:%d" % port,
                 "-storageDataPath=" + os.path.join(base, "data"), "-retentionPeriod=100y",
                 "-search.latencyOffset=0s", "-search.disableCache"], logp)
    if not wait_ok(port, "/health", p, 60):
        raise RuntimeError("VictoriaMetrics did not start; log:\n%s" % tail(logp))
    return Target("victoria-metrics", port, p)


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return ""


# ---- Query corpus ----

# (family, expression). {AT} is an explicit whole-second time inside the
# data, for the @ modifier.
CORPUS = [
    # Selectors: =, !=, =~, !~, __name__ regex, empty matchers.
    ("selector", 'http_requests_total'),
    ("selector", 'http_requests_total{job="api"}'),
    ("selector", 'http_requests_total{job!="api",status="200"}'),
    ("selector", 'http_requests_total{status=~"5.."}'),
    ("selector", 'http_requests_total{status!~"2..",method="GET"}'),
    ("selector", 'http_requests_total{instance=~"10.0.0.1:.*|10.0.1.2:80"}'),
    ("selector", 'http_requests_total{method=~"get"}'),
    ("selector", 'http_requests_total{method=~"(?i)get"}'),
    ("selector", 'http_requests_total{method=~"GET|POST",status!="404"}'),
    ("selector", '{__name__=~"rpc_duration_seconds.*"}'),
    ("selector", '{__name__=~"http_request_duration_seconds_(sum|count)",job="web"}'),
    ("selector", '{__name__!~"http_.*|rpc_.*",job="api"}'),
    ("selector", '{__name__="up"}'),
    ("selector", 'up{nonexistent=""}'),
    ("selector", 'up{job=~""}'),
    ("selector", 'up{job=~".+",instance!=""}'),
    ("selector", 'temperature_celsius'),
    ("selector", 'queue_depth'),
    ("selector", 'memory_usage_bytes'),
    ("selector", 'weird_labels'),
    ("selector", 'late_gauge'),
    ("selector", 'nonexistent_metric'),
    ("selector", 'http_requests_total{job="api",method="POST"}[5m]'),
    ("selector", 'queue_depth{queue="low"}[2m]'),
    ("selector", 'temperature_celsius{sensor="board"}[10m]'),
    ("selector", 'http_requests_total{status="500",job="web"}[3m]'),
    ("selector", 'node_cpu_seconds_total{mode=~"user|system"}[1m]'),
    # offset, also negative.
    ("offset", 'http_requests_total{status="200"} offset 5m'),
    ("offset", 'temperature_celsius offset -5m'),
    ("offset", 'temperature_celsius offset 1h'),
    ("offset", 'rate(http_requests_total[5m] offset 10m)'),
    ("offset", 'sum(temperature_celsius offset 30s)'),
    ("offset", 'queue_depth offset -90s'),
    ("offset", 'http_requests_total - http_requests_total offset 5m'),
    ("offset", 'max_over_time(temperature_celsius[10m] offset -10m)'),
    # @ modifier.
    ("at", 'http_requests_total{job="web"} @ start()'),
    ("at", 'http_requests_total{job="api"} @ end()'),
    ("at", 'rate(http_requests_total[5m] @ end())'),
    ("at", 'temperature_celsius @ {AT}'),
    ("at", 'sum(rate(http_requests_total[5m] @ {AT} offset 5m))'),
    ("at", 'max_over_time(temperature_celsius[10m] @ start())'),
    ("at", 'temperature_celsius - temperature_celsius @ {AT}'),
    ("at", 'sum by (job) (queue_depth @ end())'),
    ("at", 'topk(3, http_requests_total @ {AT})'),
    # Subqueries.
    ("subquery", 'max_over_time(rate(http_requests_total[5m])[30m:1m])'),
    ("subquery", 'avg_over_time(temperature_celsius[10m:30s])'),
    ("subquery", 'min_over_time(sum(queue_depth)[15m:])'),
    ("subquery", 'sum_over_time(up[10m:2m] offset 5m)'),
    ("subquery", 'quantile_over_time(0.9, rate(http_requests_total{job="api"}[2m])[20m:1m])'),
    ("subquery", 'deriv(sum(temperature_celsius)[20m:1m])'),
    ("subquery", 'max_over_time(temperature_celsius[5m:1m] @ end())'),
    ("subquery", 'max_over_time(avg_over_time(temperature_celsius[5m30s:1m])[15m:5m])'),
    ("subquery", 'rate(http_requests_total{status="404"}[10m:15s])'),
    ("subquery", 'count_over_time(queue_depth[7m:45s])'),
    # Aggregations.
    ("aggregation", 'sum(http_requests_total)'),
    ("aggregation", 'sum by (job) (http_requests_total)'),
    ("aggregation", 'sum without (instance) (http_requests_total)'),
    ("aggregation", 'sum by (job, status) (rate(http_requests_total[5m]))'),
    ("aggregation", 'sum by () (up)'),
    ("aggregation", 'avg by (instance) (temperature_celsius)'),
    ("aggregation", 'avg(queue_depth)'),
    ("aggregation", 'min(temperature_celsius)'),
    ("aggregation", 'min by (job) (queue_depth)'),
    ("aggregation", 'max by (job) (temperature_celsius)'),
    ("aggregation", 'max(queue_depth)'),
    ("aggregation", 'count(http_requests_total)'),
    ("aggregation", 'count by (status) (http_requests_total)'),
    ("aggregation", 'count without (le) (http_request_duration_seconds_bucket)'),
    ("aggregation", 'group by (job) (http_requests_total)'),
    ("aggregation", 'group(up)'),
    ("aggregation", 'stddev(temperature_celsius)'),
    ("aggregation", 'stddev by (job) (queue_depth)'),
    ("aggregation", 'stdvar by (job) (temperature_celsius)'),
    ("aggregation", 'stdvar(memory_usage_bytes)'),
    ("aggregation", 'topk(3, http_requests_total)'),
    ("aggregation", 'topk by (job) (2, rate(http_requests_total[5m]))'),
    ("aggregation", 'topk(2, sum by (instance) (rate(http_requests_total[5m])))'),
    ("aggregation", 'bottomk(2, temperature_celsius)'),
    ("aggregation", 'bottomk(3, cpu_usage_ratio)'),
    ("aggregation", 'topk(4, cpu_usage_ratio)'),
    ("aggregation", 'max by (job) (cpu_usage_ratio)'),
    ("aggregation", 'bottomk without (sensor) (1, temperature_celsius)'),
    ("aggregation", 'quantile(0.9, temperature_celsius)'),
    ("aggregation", 'quantile by (job) (0.5, rate(http_requests_total[5m]))'),
    ("aggregation", 'quantile(0, queue_depth)'),
    ("aggregation", 'quantile(1.5, temperature_celsius)'),
    ("aggregation", 'count_values("val", up)'),
    ("aggregation", 'count_values by (job) ("t", round(temperature_celsius))'),
    ("aggregation", 'count_values("v", rpc_duration_seconds)'),
    ("aggregation", 'sum by (__name__) ({__name__=~"rpc_duration_seconds.*"})'),
    ("aggregation", 'max without (job, instance) (http_request_duration_seconds_sum)'),
    ("aggregation", 'avg without (method, status) (rate(http_requests_total[1m]))'),
    # Binary arithmetic.
    ("arithmetic", 'http_requests_total + 1'),
    ("arithmetic", '2 * temperature_celsius'),
    ("arithmetic", 'temperature_celsius / 0'),
    ("arithmetic", '-temperature_celsius'),
    ("arithmetic", 'temperature_celsius % 7'),
    ("arithmetic", 'temperature_celsius ^ 2'),
    ("arithmetic", '(temperature_celsius / 10) atan2 2'),
    ("arithmetic", 'queue_depth * 2 - 1'),
    ("arithmetic", 'memory_usage_bytes / 1024 / 1024'),
    ("arithmetic", 'http_request_duration_seconds_sum / http_request_duration_seconds_count'),
    ("arithmetic", 'rate(http_request_duration_seconds_sum[5m]) / '
                   'rate(http_request_duration_seconds_count[5m])'),
    ("arithmetic", 'sum(rate(http_requests_total{status="500"}[5m])) / '
                   'sum(rate(http_requests_total[5m]))'),
    ("arithmetic", '2 ^ 3 ^ 2'),
    ("arithmetic", '(1 + 2) * 3 - 4 / 8'),
    ("arithmetic", '-7 % 3'),
    ("arithmetic", '0 / 0'),
    ("arithmetic", '-1 / 0'),
    ("arithmetic", '1 - -1'),
    ("arithmetic", 'up + up'),
    ("arithmetic", 'queue_depth % 0'),
    # Comparisons, with and without bool.
    ("comparison", 'temperature_celsius > 20'),
    ("comparison", 'temperature_celsius > bool 20'),
    ("comparison", 'temperature_celsius < 0'),
    ("comparison", 'queue_depth >= 5'),
    ("comparison", 'queue_depth == bool 0'),
    ("comparison", 'http_requests_total != 0'),
    ("comparison", 'up == 0'),
    ("comparison", '1 > bool 2'),
    ("comparison", '2 >= bool 2'),
    ("comparison", 'rate(http_requests_total[5m]) > 0.5'),
    ("comparison", 'temperature_celsius >= bool temperature_celsius offset 1m'),
    ("comparison", '20 < temperature_celsius'),
    ("comparison", 'queue_depth <= bool 10'),
    ("comparison", 'temperature_celsius > on(job, instance) group_left '
                   'min by (job, instance) (temperature_celsius) + 3'),
    # Set operators.
    ("set", 'http_requests_total and http_requests_total{status="200"}'),
    ("set", 'up or vector(1)'),
    ("set", 'temperature_celsius unless temperature_celsius > 20'),
    ("set", 'http_requests_total and on(job, instance) up == 1'),
    ("set", 'http_requests_total unless ignoring(method, status) up == 0'),
    ("set", '(temperature_celsius > 30) or (temperature_celsius < 0)'),
    ("set", 'sum by (job) (up) or on() vector(0)'),
    ("set", 'queue_depth and queue_depth'),
    ("set", 'temperature_celsius or queue_depth'),
    ("set", 'late_gauge or on(job) up'),
    # Vector matching.
    ("matching", 'http_requests_total * on(job, instance) group_left(version) build_info'),
    ("matching", 'build_info * on(job, instance) group_right(version) http_requests_total'),
    ("matching", 'http_requests_total / ignoring(method, status) group_left up'),
    ("matching", 'sum by (job, instance) (http_requests_total) / on(job, instance) up'),
    ("matching", 'temperature_celsius - ignoring(sensor) group_left '
                 'avg without (sensor) (temperature_celsius)'),
    ("matching", 'rate(http_requests_total[5m]) / on(job, instance) group_left '
                 'sum by (job, instance) (rate(http_requests_total[5m]))'),
    ("matching", 'queue_depth + on(job, instance, queue) queue_depth offset 1m'),
    ("matching", 'up * on(instance) group_left(sensor) temperature_celsius{sensor="cpu"}'),
    ("matching", 'http_request_duration_seconds_bucket / ignoring(le) group_left '
                 'http_request_duration_seconds_count'),
    # Scalars and vector(), scalar().
    ("scalar", 'vector(1)'),
    ("scalar", 'vector(time())'),
    ("scalar", 'scalar(sum(up))'),
    ("scalar", 'scalar(up)'),
    ("scalar", 'sum(up) * scalar(count(up))'),
    ("scalar", 'time()'),
    ("scalar", 'vector(scalar(up{job="api",instance="10.0.0.1:8080"}))'),
    ("scalar", 'pi()'),
    ("scalar", '1'),
    ("scalar", '-2.5'),
    ("scalar", 'NaN'),
    ("scalar", 'Inf'),
    ("scalar", '-Inf'),
    ("scalar", '"hello"'),
    ("scalar", 'scalar(nonexistent_metric)'),
    ("scalar", 'temperature_celsius * scalar(up{job="web",instance="10.0.1.1:80"})'),
    # Counters and deltas.
    ("rate", 'rate(http_requests_total[5m])'),
    ("rate", 'rate(http_requests_total[1m])'),
    ("rate", 'rate(http_requests_total[37s])'),
    ("rate", 'rate(http_requests_total[1h])'),
    ("rate", 'irate(http_requests_total[5m])'),
    ("rate", 'irate(up[2m])'),
    ("rate", 'increase(http_requests_total[10m])'),
    ("rate", 'increase(http_requests_total[1h])'),
    ("rate", 'increase(rpc_duration_seconds_count[5m])'),
    ("rate", 'rate(http_request_duration_seconds_count[5m])'),
    ("rate", 'rate(node_cpu_seconds_total[2m])'),
    ("rate", 'delta(temperature_celsius[10m])'),
    ("rate", 'delta(queue_depth[5m])'),
    ("rate", 'idelta(temperature_celsius[5m])'),
    ("rate", 'deriv(temperature_celsius[10m])'),
    ("rate", 'deriv(memory_usage_bytes[30m])'),
    ("rate", 'predict_linear(temperature_celsius[30m], 3600)'),
    ("rate", 'predict_linear(memory_usage_bytes[10m], 600)'),
    ("rate", 'holt_winters(temperature_celsius[10m], 0.5, 0.5)'),
    ("rate", 'holt_winters(queue_depth[30m], 0.1, 0.9)'),
    ("rate", 'changes(temperature_celsius[10m])'),
    ("rate", 'changes(queue_depth[15m])'),
    ("rate", 'resets(http_requests_total[30m])'),
    ("rate", 'resets(http_request_duration_seconds_bucket[1h])'),
    # *_over_time.
    ("over_time", 'avg_over_time(temperature_celsius[10m])'),
    ("over_time", 'avg_over_time(queue_depth[5m])'),
    ("over_time", 'min_over_time(temperature_celsius[15m])'),
    ("over_time", 'min_over_time(queue_depth[10m])'),
    ("over_time", 'max_over_time(queue_depth[10m])'),
    ("over_time", 'max_over_time(memory_usage_bytes[1h])'),
    ("over_time", 'sum_over_time(up[10m])'),
    ("over_time", 'sum_over_time(temperature_celsius[7m])'),
    ("over_time", 'count_over_time(http_requests_total[10m])'),
    ("over_time", 'count_over_time({__name__=~"temperature_celsius|late_gauge"}[30m])'),
    ("over_time", 'quantile_over_time(0.5, temperature_celsius[10m])'),
    ("over_time", 'quantile_over_time(0.99, queue_depth[30m])'),
    ("over_time", 'quantile_over_time(-1, temperature_celsius[5m])'),
    ("over_time", 'stddev_over_time(temperature_celsius[10m])'),
    ("over_time", 'stddev_over_time(queue_depth[10m])'),
    ("over_time", 'stdvar_over_time(memory_usage_bytes[20m])'),
    ("over_time", 'last_over_time(temperature_celsius[10m])'),
    ("over_time", 'last_over_time(http_requests_total{job="web"}[15m])'),
    ("over_time", 'present_over_time(http_requests_total{method="DELETE"}[10m])'),
    ("over_time", 'present_over_time(temperature_celsius[1m])'),
    # Classic histograms.
    ("histogram", 'histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m]))'),
    ("histogram", 'histogram_quantile(0.5, sum by (le) '
                  '(rate(http_request_duration_seconds_bucket[5m])))'),
    ("histogram", 'histogram_quantile(0.99, sum by (job, le) '
                  '(rate(http_request_duration_seconds_bucket[10m])))'),
    ("histogram", 'histogram_quantile(0, sum by (le, handler) '
                  '(rate(http_request_duration_seconds_bucket[5m])))'),
    ("histogram", 'histogram_quantile(1, sum by (le) '
                  '(rate(http_request_duration_seconds_bucket[5m])))'),
    ("histogram", 'histogram_quantile(1.5, sum by (le) (http_request_duration_seconds_bucket))'),
    ("histogram", 'histogram_quantile(-0.5, sum by (le) (http_request_duration_seconds_bucket))'),
    ("histogram", 'histogram_quantile(0.75, http_request_duration_seconds_bucket)'),
    ("histogram", 'histogram_quantile(0.5, sum without (instance) '
                  '(increase(http_request_duration_seconds_bucket[15m])))'),
    ("histogram", 'histogram_quantile(0.5, http_request_duration_seconds_bucket{le!="+Inf"})'),
    ("histogram", 'histogram_quantile(0.95, sum by (le) '
                  '(rate(http_request_duration_seconds_bucket{handler="/metrics"}[1m])))'),
    # label_replace / label_join.
    ("label", 'label_replace(http_requests_total, "host", "$1", "instance", "(.*):.*")'),
    ("label", 'label_replace(up, "new", "x-$1-$2", "instance", "(\\\\d+)\\\\.(\\\\d+).*")'),
    ("label", 'label_replace(up, "job", "$0", "job", "nomatch")'),
    ("label", 'label_replace(up, "foo", "bar", "", "")'),
    ("label", 'label_replace(temperature_celsius, "sensor", "", "sensor", "cpu")'),
    ("label", 'label_join(up, "combo", "/", "job", "instance")'),
    ("label", 'label_join(http_requests_total{job="api"}, "combo", ",", '
              '"method", "status", "job")'),
    ("label", 'label_join(up, "job", "-", "nothere")'),
    ("label", 'sum by (host) (label_replace(rate(http_requests_total[5m]), '
              '"host", "$1", "instance", "([^:]+):.*"))'),
    # Math.
    ("math", 'abs(temperature_celsius)'),
    ("math", 'ceil(temperature_celsius)'),
    ("math", 'floor(temperature_celsius)'),
    ("math", 'round(temperature_celsius)'),
    ("math", 'round(temperature_celsius, 5)'),
    ("math", 'round(rpc_duration_seconds, 0.01)'),
    ("math", 'exp(temperature_celsius / 10)'),
    ("math", 'ln(temperature_celsius)'),
    ("math", 'log2(queue_depth)'),
    ("math", 'log10(memory_usage_bytes)'),
    ("math", 'sqrt(temperature_celsius)'),
    ("math", 'sgn(temperature_celsius)'),
    ("math", 'clamp(temperature_celsius, 0, 30)'),
    ("math", 'clamp(temperature_celsius, 30, 0)'),
    ("math", 'clamp_min(temperature_celsius, 10)'),
    ("math", 'clamp_max(queue_depth, 20)'),
    ("math", 'sin(temperature_celsius)'),
    ("math", 'cos(temperature_celsius)'),
    ("math", 'tan(temperature_celsius)'),
    ("math", 'asin(temperature_celsius / 60)'),
    ("math", 'acos(temperature_celsius / 60)'),
    ("math", 'atan(temperature_celsius)'),
    ("math", 'sinh(temperature_celsius / 10)'),
    ("math", 'cosh(temperature_celsius / 10)'),
    ("math", 'tanh(temperature_celsius)'),
    ("math", 'asinh(temperature_celsius)'),
    ("math", 'acosh(temperature_celsius)'),
    ("math", 'atanh(temperature_celsius / 100)'),
    ("math", 'deg(temperature_celsius)'),
    ("math", 'rad(temperature_celsius)'),
    # Time functions.
    ("time", 'timestamp(temperature_celsius)'),
    ("time", 'timestamp(http_requests_total{status="500"} offset 5m)'),
    ("time", 'time() - timestamp(up)'),
    ("time", 'timestamp(sum(up))'),
    ("time", 'minute()'),
    ("time", 'hour()'),
    ("time", 'day_of_week()'),
    ("time", 'day_of_month()'),
    ("time", 'days_in_month()'),
    ("time", 'month()'),
    ("time", 'year()'),
    ("time", 'hour(timestamp(up))'),
    ("time", 'minute(vector(1700000000))'),
    ("time", 'year(vector(0))'),
    ("time", 'day_of_week(vector(1700000000))'),
    ("time", 'days_in_month(vector(1709251199))'),
    ("time", 'month(temperature_celsius * 1e7)'),
    # absent / absent_over_time.
    ("absent", 'absent(nonexistent_metric)'),
    ("absent", 'absent(up)'),
    ("absent", 'absent(nonexistent_metric{job="x",instance=~"y"})'),
    ("absent", 'absent(sum(nonexistent_metric))'),
    ("absent", 'absent_over_time(nonexistent_metric[5m])'),
    ("absent", 'absent_over_time(http_requests_total{job="web",instance="10.0.1.3:80",'
               'method="DELETE",status="500"}[5m])'),
    ("absent", 'absent_over_time(up{job="nope"}[1h])'),
    ("absent", 'absent_over_time(late_gauge[1m])'),
    # sort / sort_desc.
    ("sort", 'sort(temperature_celsius)'),
    ("sort", 'sort_desc(rate(http_requests_total[5m]))'),
    ("sort", 'sort(queue_depth)'),
    ("sort", 'sort_desc(cpu_usage_ratio)'),
    ("sort", 'sort_desc(sum by (job) (up))'),
    ("sort", 'sort_desc(memory_usage_bytes)'),
    # Syntax: quoting, number forms, durations, keywords, comments.
    ("syntax", "up{job='api'}"),
    ("syntax", 'up{job=`api`}'),
    ("syntax", 'up{job="api",}'),
    ("syntax", '0x1F + 1e3 - .5'),
    ("syntax", '1 == bool 1.0'),
    ("syntax", 'Inf + -Inf'),
    ("syntax", 'rate(http_requests_total{status="200"}[1h30m])'),
    ("syntax", 'sum(up) # a comment'),
    ("syntax", 'SUM BY (job) (up)'),
    ("syntax", 'sum(up) by (job)'),
    ("syntax", 'count(http_requests_total) without (method)'),
    ("syntax", '-(-up)'),
    ("syntax", '+temperature_celsius'),
    ("syntax", 'weird_labels{path="/a \\"quoted\\" \\\\ back"}'),
    ("syntax", '{__name__="weird_labels",text=~"h.llo .*"}'),
    ("syntax", 'temperature_celsius{sensor="cpu"} offset 5m * 2'),
    ("syntax", 'day_of_year()'),
    ("syntax", 'timestamp(temperature_celsius @ {AT})'),
    ("syntax", 'rate(http_requests_total[5m] @ start() offset -1m)'),
    # Errors: parse, type and execution errors must agree (status, errorType).
    ("error", 'sum('),
    ("error", 'rate(http_requests_total)'),
    ("error", 'http_requests_total[5m] + 1'),
    ("error", '1 < 2'),
    ("error", 'http_requests_total * on(job) up'),
    ("error", 'label_replace(up, "instance", "", "", "")'),
    ("error", '{job=~".*"}'),
    ("error", 'nonexistent_function(up)'),
    ("error", 'histogram_quantile(0.5)'),
    ("error", 'label_replace(up, "", "x", "", "")'),
    ("error", 'up offset'),
    ("error", 'sum by (job) (up) * on(job) group_left http_requests_total'),
]

ORDERED_RE = re.compile(r'^\s*(sort|sort_desc)\s*\(|^\s*(topk|bottomk)\s*\(')


def ordered(expr):
    """Whether Prometheus defines the order of an instant vector answer."""
    return bool(ORDERED_RE.match(expr))


# ---- Comparison ----


def fnum(s):
    return float(s)  # handles "NaN", "+Inf", "-Inf"


def same_float(a, b):
    if a == b:
        return True
    if a != a and b != b:
        return True
    if a != a or b != b:
        return False
    if abs(a) < ZERO_TOL and abs(b) < ZERO_TOL:
        return True
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b))


def ts_ms(x):
    return int(round(float(x) * 1000))


def lab(m):
    d = dict(m)
    name = d.pop("__name__", "")
    return name + "{" + ",".join('%s=%s' % (k, json.dumps(d[k], ensure_ascii=False))
                                 for k in sorted(d)) + "}"


def compare(want, got, is_ordered):
    """None when the two answers agree, else a short description."""
    if want.get("http") != got.get("http"):
        return "HTTP status %s vs %s (%s)" % (want.get("http"), got.get("http"),
                                               str(got.get("error", ""))[:160])
    if want.get("status") != got.get("status"):
        return "status %r vs %r (%s)" % (want.get("status"), got.get("status"),
                                          str(got.get("error") or want.get("error"))[:160])
    if want.get("status") != "success":
        if want.get("errorType") != got.get("errorType"):
            return "errorType %r vs %r (errors: %r / %r)" % (
                want.get("errorType"), got.get("errorType"), str(want.get("error"))[:100],
                str(got.get("error"))[:100])
        return None
    wd, gd = want.get("data") or {}, got.get("data") or {}
    if wd.get("resultType") != gd.get("resultType"):
        return "resultType %r vs %r" % (wd.get("resultType"), gd.get("resultType"))
    rt, wr, gr = wd.get("resultType"), wd.get("result"), gd.get("result")
    if rt in ("scalar", "string"):
        if not isinstance(gr, list) or len(gr) != 2:
            return "malformed %s result %r" % (rt, gr)
        if ts_ms(wr[0]) != ts_ms(gr[0]):
            return "timestamp %s vs %s" % (wr[0], gr[0])
        if rt == "string":
            return None if wr[1] == gr[1] else "value %r vs %r" % (wr[1], gr[1])
        return None if same_float(fnum(wr[1]), fnum(gr[1])) else "value %s vs %s" % (wr[1], gr[1])
    if not isinstance(gr, list):
        return "malformed result %r" % (gr,)
    wmap, gmap = {}, {}
    for name, rows, m in (("reference", wr, wmap), ("target", gr, gmap)):
        for row in rows:
            k = tuple(sorted(row.get("metric", {}).items()))
            if k in m:
                return "%s answer has %s twice" % (name, lab(k))
            m[k] = row
    only_w = [k for k in wmap if k not in gmap]
    only_g = [k for k in gmap if k not in wmap]
    if only_w or only_g:
        return "series sets differ (%d vs %d): missing %s; extra %s" % (
            len(wmap), len(gmap), ", ".join(lab(k) for k in only_w[:2]) or "-",
            ", ".join(lab(k) for k in only_g[:2]) or "-")
    for k, w in wmap.items():
        g = gmap[k]
        if rt == "vector":
            wp, gp = [w.get("value")], [g.get("value")]
        else:
            wp, gp = w.get("values") or [], g.get("values") or []
        if w.get("histogram") or g.get("histograms") or w.get("histograms") or g.get("histogram"):
            if json.dumps(w, sort_keys=True) != json.dumps(g, sort_keys=True):
                return "%s: native histogram samples differ" % lab(k)
        if len(wp) != len(gp):
            wts = [ts_ms(x[0]) for x in wp if x]
            gts = [ts_ms(x[0]) for x in gp if x]
            only = sorted(set(wts) ^ set(gts))
            return "%s: %d vs %d points (first point in only one: @%s, in %s)" % (
                lab(k), len(wp), len(gp), only[0] / 1000.0 if only else "?",
                "reference" if only and only[0] in wts else "target")
        for a, b in zip(wp, gp):
            if a is None or b is None:
                if a != b:
                    return "%s: point %r vs %r" % (lab(k), a, b)
                continue
            if ts_ms(a[0]) != ts_ms(b[0]):
                return "%s: timestamp %s vs %s" % (lab(k), a[0], b[0])
            if not same_float(fnum(a[1]), fnum(b[1])):
                return "%s @%s: value %s vs %s" % (lab(k), a[0], a[1], b[1])
    if rt == "vector" and is_ordered:
        wv = [fnum(r["value"][1]) for r in wr]
        gv = [fnum(r["value"][1]) for r in gr]
        if not all(same_float(a, b) for a, b in zip(wv, gv)):
            return "order differs: %s vs %s" % (
                [lab(tuple(sorted(r["metric"].items()))) for r in wr[:3]],
                [lab(tuple(sorted(r["metric"].items()))) for r in gr[:3]])
    return None


# ---- Main ----


def main():
    target_kind = os.environ.get("SX_DIFF_TARGET", "sextant")
    verbose = os.environ.get("SX_DIFF_VERBOSE") == "1"
    if not os.access(PROMETHEUS, os.X_OK):
        check(False, "Prometheus is installed",
              "missing %s; install it with `bash scripts/deps.sh test` (Debian package "
              "prometheus)" % PROMETHEUS)
        return
    began = time.monotonic()

    # Two hours of data ending a minute or two before now; t0 on a minute.
    now_ms = int(time.time() * 1000)
    t0_ms = (now_ms // 60000) * 60000 - NSTEPS * STEP_MS - 60000
    series = build_data(t0_ms)
    for s in series:
        s.t0 = t0_ms
    bodies = write_requests(series)
    nsamples = sum(len(s.points) for s in series)
    nstale = sum(1 for s in series for _, v in s.points if isinstance(v, t.Bits))
    log("data: %d series, %d samples (%d stale markers) from %s, %d requests, %.1f s" % (
        len(series), nsamples, nstale, time.strftime("%H:%M:%S", time.gmtime(t0_ms / 1000)),
        len(bodies), time.monotonic() - began))

    ref = start_prometheus("prometheus")
    if target_kind == "prometheus":
        tgt = start_prometheus("prometheus-2")
    elif target_kind == "vm":
        tgt = start_vm()
    else:
        sx = t.Server(name="promql-diff").start()
        tgt = Target("sextant", sx.port, sx.proc)
    log("reference: Prometheus on 127.0.0.1:%d; target: %s on 127.0.0.1:%d" %
        (ref.port, tgt.name, tgt.port))

    for srv in (ref, tgt):
        bad = []
        for i, body in enumerate(bodies):
            r = srv.write(body)
            if r.status // 100 != 2:
                bad.append("request %d: HTTP %d %r" % (i, r.status, r.body[:200]))
        if not check(not bad, "%s accepted all %d remote-write requests" % (srv.name, len(bodies)),
                     "\n".join(bad[:5])):
            return
    if target_kind == "vm":
        t.http_request("127.0.0.1", tgt.port, "GET", "/internal/force_flush", timeout=60)
        time.sleep(2)

    end_s = (t0_ms + NSTEPS * STEP_MS) / 1000.0
    t0_s = t0_ms / 1000.0
    at_s = int(t0_s + 5400)
    # Instant queries: in steady state, inside the long gap (after the
    # lookback), at the late start, just after a series ended without a
    # stale marker (still in the lookback) and later, just after a stale
    # marker, after the end of the data within and beyond the lookback.
    instant_times = [t0_s + x for x in (1800.5, 3400.5, 3700.5, 5400.5, 5760.5, 6321.5)] + [
        end_s + 90.5, end_s + 400.5]
    # Range queries: the last hour at 15 s and 60 s (resets, late start,
    # NaN stretch, stale marker, ended series), and at 37 s from before the
    # long gap to four minutes past the end.
    ranges = [(end_s - 3600 + 0.5, end_s + 0.5, "15s"),
              (end_s - 3600 + 0.5, end_s + 0.5, "60s"),
              (t0_s + 2700.5, end_s + 240.5, "37s")]

    # The same data must be there: every raw sample of every series (stale
    # markers are never returned).
    probe = '{__name__=~".+"}[3h]'
    pw = ref.query("/api/v1/query", {"query": probe, "time": "%.3f" % (end_s + 60.5)})
    pg = tgt.query("/api/v1/query", {"query": probe, "time": "%.3f" % (end_s + 60.5)})
    diff = compare(pw, pg, False)
    got = sum(len(r["values"]) for r in (pw.get("data") or {}).get("result") or [])
    check(got == nsamples - nstale and diff is None,
          "both return the same %d raw samples for %s (Prometheus has %d)" % (
              nsamples - nstale, probe, got), diff)

    # Run the corpus.
    families = []
    stats = {}
    diffs = []
    nonempty = set()
    ref_errors = []
    nq = 0
    for fam, expr in CORPUS:
        expr = expr.replace("{AT}", str(at_s))
        if fam not in stats:
            families.append(fam)
            stats[fam] = [0, 0, 0, 0]  # queries, agree, reference errors, empty
        runs = [("/api/v1/query", {"query": expr, "time": "%.3f" % ts}, "instant at end%+.1fm" %
                 ((ts - end_s) / 60)) for ts in instant_times]
        for start, end, step in ranges:
            runs.append(("/api/v1/query_range", {"query": expr, "start": "%.3f" % start,
                                                 "end": "%.3f" % end, "step": step},
                         "range step %s" % step))
        for path, params, what in runs:
            nq += 1
            a = ref.query(path, params)
            b = tgt.query(path, params)
            d = compare(a, b, path.endswith("query") and ordered(expr))
            stats[fam][0] += 1
            if a.get("status") != "success":
                stats[fam][2] += 1
                # Only the error family, and range queries of a range vector
                # or a string, are meant to fail; anything else is a bug in
                # this corpus (an answer nobody checks).
                if fam != "error" and not (path.endswith("query_range") and (
                        expr.endswith("]") or expr.startswith('"'))):
                    ref_errors.append("%s (%s): %s" % (expr, what, str(a.get("error"))[:120]))
            elif not (a.get("data") or {}).get("result"):
                stats[fam][3] += 1
            else:
                nonempty.add(expr)
            if d is None:
                stats[fam][1] += 1
            else:
                diffs.append((fam, expr, what, d))
                if verbose:
                    log("DIFF [%s] %s (%s): %s" % (fam, expr, what, d))

    log("")
    log("%-12s %8s %8s %8s %10s %10s" % ("family", "queries", "agree", "differ", "ref-error",
                                          "ref-empty"))
    for fam in families:
        n, ok, nerr, nempty = stats[fam]
        log("%-12s %8d %8d %8d %10d %10d" % (fam, n, ok, n - ok, nerr, nempty))
    total_ok = sum(v[1] for v in stats.values())
    log("%-12s %8d %8d %8d %10d %10d   (%d expressions, %.1f s)" % (
        "total", nq, total_ok, nq - total_ok, sum(v[2] for v in stats.values()),
        sum(v[3] for v in stats.values()), len(CORPUS), time.monotonic() - began))
    never = [e for f, e in CORPUS if f != "error" and e.replace("{AT}", str(at_s)) not in nonempty]
    if never:
        log("expressions with no data in any reference answer (intended): " + "; ".join(never))
    check(not ref_errors, "Prometheus answers every query outside the error family",
          "\n".join(ref_errors[:10]))
    exprs_bad = {}
    for fam, expr, what, d in diffs:
        exprs_bad.setdefault(expr, []).append((what, d))
    shown = []
    for expr, lst in list(exprs_bad.items())[:25]:
        more = "  (+%d more runs)" % (len(lst) - 1) if len(lst) > 1 else ""
        shown.append("%s\n    [%s] %s%s" % (expr, lst[0][0], lst[0][1], more))
    if len(exprs_bad) > 25:
        shown.append("... %d more expressions differ" % (len(exprs_bad) - 25))
    check(not diffs, "%s answers all %d queries (%d expressions) as Prometheus %s does" % (
        tgt.name, nq, len(CORPUS), "2.42"),
        "%d queries of %d expressions differ (reference vs %s):\n%s" % (
            len(diffs), len(exprs_bad), tgt.name, "\n".join(shown)))
    if target_kind == "sextant":
        t.check_eq(sx.stop(), 0, "Sextant exits 0 after SIGTERM")
        t.check_eq(sx.sanitizer_reports(), [], "no sanitizer reports in Sextant's log")


if __name__ == "__main__":
    t.run_main(main)
