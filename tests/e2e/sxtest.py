# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for Sextant's end-to-end tests (standard library only).

A test script imports this module, starts real servers with `Server`, drives
them over HTTP on 127.0.0.1, checks results with the `check*` helpers (which
print what failed and keep going) and ends with `finish()`, which prints
"N passed, N failed" and exits non-zero on any failure. Servers and other
child processes started through this module are killed when the script ends,
however it ends (they also get SIGKILL if the script itself is killed), the
tail of their logs is printed when a check failed, and their temporary
directories are removed (kept when SX_E2E_KEEP=1 and something failed).

Wire formats written by hand here:
  * prompb.WriteRequest protobuf (remote write 1.0) with samples, native
    histograms and metadata, labels kept in the order given so that tests
    can send invalid (unsorted, duplicate) label sets;
  * a snappy block encoder that emits literals only (valid, uncompressed).
"""
import atexit
import base64
import ctypes
import http.client
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

# ---- Results ----

_passed = 0
_failed = 0
_lock = threading.Lock()
_children = []       # every Popen started through this module
_tempdirs = []       # every temp dir made through this module
_keep_temp = False   # set when a check failed
_logs = []           # (name, path) of child process logs, shown on failure


def log(*args):
    print(*args, flush=True)


def _record(ok, what, detail=None):
    global _passed, _failed, _keep_temp
    with _lock:
        if ok:
            _passed += 1
        else:
            _failed += 1
            _keep_temp = True
    if ok:
        log("ok   - " + what)
    else:
        log("FAIL - " + what)
        if detail:
            for line in str(detail).splitlines():
                log("       " + line)
    return ok


def _short(v, n=600):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def check(cond, what, detail=None):
    """Record one check; cond is truthy for success."""
    return _record(bool(cond), what, detail)


def check_eq(got, want, what):
    if got == want:
        return _record(True, what)
    return _record(False, what, "want: %s\ngot:  %s" % (_short(want), _short(got)))


def check_status(resp, want, what):
    """resp is a Response; want an int or a collection of ints."""
    ok = resp.status in want if isinstance(want, (set, tuple, list)) else resp.status == want
    if ok:
        return _record(True, "%s (HTTP %d)" % (what, resp.status))
    return _record(False, what, "want status %s, got %d; body: %s" %
                   (want, resp.status, _short(resp.body[:800])))


def check_in(needle, haystack, what):
    if needle in haystack:
        return _record(True, what)
    return _record(False, what, "%s not found in %s" % (_short(needle), _short(haystack)))


def passed_failed():
    return _passed, _failed


def finish():
    """Print the summary line and exit: 0 when every check passed."""
    cleanup()
    log("%d passed, %d failed" % (_passed, _failed))
    sys.exit(0 if _failed == 0 and _passed > 0 else 1)


def run_main(main):
    """Run main(); an exception counts as a failure. Always cleans up and
    ends the process through finish()."""
    def on_signal(sig, frame):
        log("interrupted by signal %d" % sig)
        _record(False, "test interrupted by signal %d" % sig)
        finish()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        main()
    except SystemExit:
        raise
    except BaseException:
        _record(False, "unexpected exception", traceback.format_exc())
    finish()


# ---- Processes and directories ----

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when this script dies, so no
    server outlives a crashed or killed test."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


def make_temp_dir(prefix="sx-e2e-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _tempdirs.append(d)
    return d


def spawn(argv, log_path, env=None):
    """Start a child process with output to log_path; it is killed at exit."""
    if (os.path.basename(argv[0]), log_path) not in _logs:
        _logs.append((os.path.basename(argv[0]), log_path))
    f = open(log_path, "ab")
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         env=env, preexec_fn=_die_with_parent)
    f.close()
    _children.append(p)
    return p


def kill_children():
    for p in list(_children):
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
        try:
            p.wait(timeout=10)
        except Exception:
            pass


def cleanup():
    """Kill every child, show the tail of each child's log when a check
    failed, and remove the temp dirs (kept, and named, when the environment
    sets SX_E2E_KEEP=1 and a check failed)."""
    kill_children()
    if _keep_temp:
        for name, path in _logs:
            try:
                with open(path, "rb") as f:
                    lines = f.read().decode("utf-8", "replace").splitlines()
            except OSError:
                continue
            # Access-log lines drown the interesting ones.
            lines = [x for x in lines if "component=access" not in x]
            log("---- last lines of %s (%s), access log left out ----" % (name, path))
            for line in lines[-25:]:
                log("  " + line)
        del _logs[:]
    keep = _keep_temp and os.environ.get("SX_E2E_KEEP") == "1"
    for d in _tempdirs:
        if keep:
            log("kept temp dir for inspection: " + d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    del _tempdirs[:]


atexit.register(cleanup)


def free_port():
    """A loopback port that was free a moment ago (bind to port 0)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def sextant_bin():
    b = os.environ.get("SEXTANT_BIN")
    if b:
        return b
    src = os.environ.get("SX_SOURCE_DIR") or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", ".."))
    for cand in ("build/asan/sextant", "build/release/sextant", "build/sextant"):
        p = os.path.join(src, cand)
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError("SEXTANT_BIN is not set and no built sextant was found under " + src)


def wait_until(fn, timeout, interval=0.1, what="condition"):
    """Poll fn() until it returns a truthy value or timeout seconds pass.
    Returns the last value (falsy on timeout). Exceptions count as falsy."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except Exception:
            last = None
        if last:
            return last
        if time.monotonic() >= deadline:
            return last
        time.sleep(interval)


class Server:
    """One `sextant serve` process on a loopback port with its data dir.

    start() may be called again after stop()/kill9() to restart on the same
    data directory (on a new port)."""

    def __init__(self, args=(), data_dir=None, name="sextant", retention="0", env=None):
        self.base = make_temp_dir("sx-e2e-%s-" % name)
        self.data_dir = data_dir or os.path.join(self.base, "data")
        self.args = list(args)
        self.name = name
        self.retention = retention
        self.env = env
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.base, "server.log")
        self.starts = 0

    # -- lifecycle --

    def _env(self):
        env = dict(os.environ)
        # Options may come from the environment; a test sets them itself.
        for k in list(env):
            if k.startswith("SEXTANT_") and k != "SEXTANT_BIN":
                del env[k]
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        if self.env:
            env.update(self.env)
        return env

    def start(self, timeout=60, extra_args=None):
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        args = self.args if extra_args is None else list(extra_args)
        for attempt in range(5):
            self.port = free_port()
            argv = [sextant_bin(), "serve", "--listen", "127.0.0.1:%d" % self.port,
                    "--data", self.data_dir]
            if self.retention is not None:
                argv += ["--retention", self.retention]
            argv += args
            with open(self.log_path, "ab") as f:
                f.write(("\n=== start %d: %s\n" % (self.starts + 1, " ".join(argv))).encode())
            self.proc = spawn(argv, self.log_path, env=self._env())
            self.starts += 1
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    r = self.request("GET", "/-/ready", timeout=2)
                    if r.status == 200:
                        return self
                except (OSError, http.client.HTTPException):
                    pass
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("%s did not become ready within %ds; log:\n%s" %
                                   (self.name, timeout, self.log_tail()))
            # Exited: retry only when the port was taken in the meantime.
            if "cannot listen" not in self.log_tail(20):
                raise RuntimeError("%s exited with %s during start-up; log:\n%s" %
                                   (self.name, self.proc.returncode, self.log_tail()))
        raise RuntimeError("%s: could not find a free port" % self.name)

    def stop(self, timeout=60):
        """SIGTERM and wait. Returns the exit status (None if it had to be
        killed)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            log("%s did not stop within %ds after SIGTERM; killed" % (self.name, timeout))
            return None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    def sanitizer_reports(self):
        """Lines of ASan/UBSan/LSan reports in the server log."""
        out = []
        for line in self.log_text().splitlines():
            if ("ERROR: AddressSanitizer" in line or "ERROR: LeakSanitizer" in line
                    or "runtime error:" in line or "BUG: " in line):
                out.append(line)
        return out

    # -- HTTP --

    def request(self, method, path, body=None, headers=None, timeout=30, chunked=False):
        return http_request("127.0.0.1", self.port, method, path, body, headers, timeout, chunked)

    def get(self, path, params=None, headers=None, timeout=30):
        if params:
            path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(params, doseq=True)
        return self.request("GET", path, None, headers, timeout)

    def post_form(self, path, params, headers=None, timeout=30):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.request("POST", path, urllib.parse.urlencode(params, doseq=True).encode(), h,
                            timeout)

    def get_json(self, path, params=None, headers=None):
        r = self.get(path, params, headers)
        if r.status != 200:
            raise RuntimeError("GET %s %s -> %d %s" % (path, params, r.status, r.body[:500]))
        return r.json()

    def remote_write(self, series=(), metadata=(), path="/api/v1/write", headers=None,
                     content_encoding="snappy"):
        body = snappy_encode(write_request(series, metadata))
        h = {"Content-Type": "application/x-protobuf",
             "X-Prometheus-Remote-Write-Version": "0.1.0"}
        if content_encoding:
            h["Content-Encoding"] = content_encoding
        h.update(headers or {})
        return self.request("POST", path, body, h)

    def series(self, match, headers=None, prefix="/api/v1"):
        """Label sets (dicts) of the series matching match (str or list)."""
        m = [match] if isinstance(match, str) else list(match)
        return self.get_json(prefix + "/series", {"match[]": m}, headers)["data"]

    def export(self, match, headers=None):
        """Parsed /api/v1/export lines keyed by the frozen label set."""
        m = [match] if isinstance(match, str) else list(match)
        r = self.get("/api/v1/export", {"match[]": m}, headers)
        if r.status != 200:
            raise RuntimeError("export %s -> %d %s" % (m, r.status, r.body[:500]))
        return parse_export(r.body)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict of lower-case name -> value
        self.body = body        # bytes

    def header(self, name):
        return self.headers.get(name.lower())

    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Response(%d, %r)" % (self.status, self.body[:200])


def http_request(host, port, method, path, body=None, headers=None, timeout=30, chunked=False):
    """One request on a fresh connection. With chunked, body (bytes or an
    iterable of bytes) is sent with Transfer-Encoding: chunked and no
    Content-Length."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        h = dict(headers or {})
        if chunked:
            chunks = [body] if isinstance(body, (bytes, bytearray)) else body
            conn.request(method, path, body=iter(chunks), headers=h, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


# ---- Protobuf (prompb) ----

def pb_varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def pb_zigzag(v):
    return (v << 1) ^ (v >> 63)


def pb_key(num, wt):
    return pb_varint((num << 3) | wt)


def pb_len(num, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return pb_key(num, 2) + pb_varint(len(data)) + bytes(data)


def pb_uint(num, v):
    return pb_key(num, 0) + pb_varint(v)


def pb_double(num, v):
    return pb_key(num, 1) + struct.pack("<d", v)


def pb_fixed64(num, bits):
    return pb_key(num, 1) + struct.pack("<Q", bits)


STALE_NAN_BITS = 0x7FF0000000000002


class Bits:
    """A sample value given as its raw IEEE-754 bits (NaN payloads)."""

    def __init__(self, bits):
        self.bits = bits


def float_bits(v):
    if isinstance(v, Bits):
        return v.bits
    return struct.unpack("<Q", struct.pack("<d", float(v)))[0]


def bits_float(bits):
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def pb_label(name, value):
    return pb_len(1, name) + pb_len(2, value)


def pb_sample(ts, value):
    # Always write both fields (a decoder must accept explicit defaults).
    return pb_fixed64(1, float_bits(value)) + pb_uint(2, ts)


def pb_histogram(ts, count, zero_count, sum_, schema, zero_threshold, spans, deltas, reset_hint=0):
    """A prompb.Histogram with integer counts: count_int=1, sum=3,
    schema=4 (sint32), zero_threshold=5, zero_count_int=6,
    positive_spans=11 (BucketSpan offset=1 sint32, length=2),
    positive_deltas=12 (packed sint64), reset_hint=14, timestamp=15."""
    out = pb_uint(1, count) + pb_double(3, sum_) + pb_uint(4, pb_zigzag(schema) & 0xFFFFFFFF)
    out += pb_double(5, zero_threshold) + pb_uint(6, zero_count)
    for off, length in spans:
        out += pb_len(11, pb_uint(1, pb_zigzag(off) & 0xFFFFFFFF) + pb_uint(2, length))
    out += pb_len(12, b"".join(pb_varint(pb_zigzag(d) & 0xFFFFFFFFFFFFFFFF) for d in deltas))
    if reset_hint:
        out += pb_uint(14, reset_hint)
    out += pb_uint(15, ts)
    return out


# prompb MetricMetadata.MetricType
MT = {"unknown": 0, "counter": 1, "gauge": 2, "histogram": 3, "gaugehistogram": 4,
      "summary": 5, "info": 6, "stateset": 7}


def pb_timeseries(labels, samples=(), histograms=()):
    """labels: list of (name, value) pairs, written in that order.
    samples: (ts_ms, value) pairs. histograms: encoded Histogram messages."""
    out = b"".join(pb_len(1, pb_label(n, v)) for n, v in labels)
    out += b"".join(pb_len(2, pb_sample(ts, v)) for ts, v in samples)
    out += b"".join(pb_len(4, h) for h in histograms)
    return out


def pb_metadata(family, type_name, help_="", unit=""):
    out = pb_uint(1, MT[type_name]) + pb_len(2, family)
    if help_:
        out += pb_len(4, help_)
    if unit:
        out += pb_len(5, unit)
    return out


def write_request(series=(), metadata=()):
    """series: (labels, samples) or (labels, samples, histograms) tuples, or
    already-encoded TimeSeries bytes; metadata: (family, type, help, unit)
    tuples. Returns the WriteRequest bytes."""
    out = bytearray()
    for s in series:
        if isinstance(s, (bytes, bytearray)):
            out += pb_len(1, bytes(s))
        else:
            out += pb_len(1, pb_timeseries(*s))
    for m in metadata:
        out += pb_len(3, pb_metadata(*m))
    return bytes(out)


# ---- Snappy (block format, literals only) ----

def snappy_encode(data):
    """A valid snappy block holding data as literal elements only: the
    uncompressed length as a varint, then literals of at most 64 KiB, each a
    tag byte (low bits 00) with length-1 in the upper 6 bits when below 60,
    else 60..63 followed by 1..4 little-endian bytes of length-1."""
    data = bytes(data)
    out = bytearray(pb_varint(len(data)))
    pos = 0
    while pos < len(data):
        chunk = data[pos:pos + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 1 << 8:
            out.append(60 << 2)
            out += struct.pack("<B", n)
        elif n < 1 << 16:
            out.append(61 << 2)
            out += struct.pack("<H", n)
        elif n < 1 << 24:
            out.append(62 << 2)
            out += struct.pack("<I", n)[:3]
        else:
            out.append(63 << 2)
            out += struct.pack("<I", n)
        out += chunk
        pos += len(chunk)
    return bytes(out)


# ---- Export format ----

def parse_export(body):
    """{frozenset(label items): {"values": [...], "timestamps": [...],
    "histograms": [...], "histogram_timestamps": [...]}} from export lines."""
    out = {}
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    for line in text.splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        key = frozenset(obj["metric"].items())
        if key in out:
            raise AssertionError("series exported twice: %s" % obj["metric"])
        out[key] = obj
    return out


def export_value(v):
    """The export spelling of a sample value (see ingest/vm_import.h): null
    for the stale marker, "NaN" for other NaNs, "Infinity"/"-Infinity", else
    the number."""
    if isinstance(v, Bits):
        f = bits_float(v.bits)
        if v.bits == STALE_NAN_BITS:
            return None
        v = f
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
    return v


def same_value(got, want):
    """Compare an exported value with the export spelling of what was sent;
    numbers must be equal as float64 (the export is shortest round-trip)."""
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        return isinstance(got, (int, float)) and not isinstance(got, bool) and float(got) == float(want)
    return got == want


def labels_key(d):
    return frozenset(d.items())


def fmt_labels(key):
    d = dict(key)
    name = d.pop("__name__", "")
    return name + "{" + ",".join('%s="%s"' % (k, d[k]) for k in sorted(d)) + "}"


def compare_export(exported, expected, what, exact_keys=True):
    """expected: {labels dict as frozenset: [(ts, value), ...]} (sorted by
    ts). Checks every expected series is exported with exactly those samples
    and, with exact_keys, that no other series is. Returns True when all
    matched."""
    problems = []
    for key, samples in expected.items():
        got = exported.get(key)
        if got is None:
            problems.append("missing series %s" % fmt_labels(key))
            continue
        want_ts = [ts for ts, _ in samples]
        want_v = [export_value(v) for _, v in samples]
        if got["timestamps"] != want_ts:
            problems.append("%s: timestamps want %s got %s" %
                            (fmt_labels(key), _short(want_ts, 200), _short(got["timestamps"], 200)))
        elif len(got["values"]) != len(want_v) or not all(
                same_value(g, w) for g, w in zip(got["values"], want_v)):
            problems.append("%s: values want %s got %s" %
                            (fmt_labels(key), _short(want_v, 200), _short(got["values"], 200)))
    if exact_keys:
        for key in exported:
            if key not in expected:
                problems.append("unexpected series %s" % fmt_labels(key))
    return check(not problems, what, "\n".join(problems[:20]) +
                 ("\n... %d more" % (len(problems) - 20) if len(problems) > 20 else ""))


def b64(data):
    return base64.b64encode(data).decode("ascii")
