#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the LogQL conformance suite in tests/conformance/logql/.

Every *.test file there (format: tests/conformance/logql/README.md) is read
first; a file that does not parse is a bug in the suite and fails this
script before any server starts. Then, for each file, a fresh server (from
$SEXTANT_BIN, through sxtest) receives the file's streams with
POST /loki/api/v1/push (application/json) and answers each `eval` through
GET /loki/api/v1/query_range (range) or /loki/api/v1/query (instant). The
answer is compared with the expectation:

  * log queries (resultType "streams"): the set of stream label sets, and
    within each stream the entries, in order, nanosecond timestamps exact;
    the order of the streams themselves is not compared (Loki's querier and
    its query frontend order them differently);
  * metric queries (matrix, vector, scalar): series label sets in Loki's
    order (label-sorted, see the README), timestamps to the millisecond,
    values as numbers within 1e-9 relative (NaN equals NaN);
  * errors: the HTTP status and, when given, a substring of the body.

`stats` and any other key is ignored. It prints the pass count per file and
in total, and every failure with what was expected and what came back when
SX_CONF_VERBOSE=1. SX_CONF_ONLY=<substring> runs only the files whose name
contains it. It exits non-zero when a case file does not parse, when the
runner itself fails, or when fewer cases pass than the number in
tests/conformance/logql/threshold.txt.
"""
import json
import math
import os
import re
import signal
import sys
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402

SRC = os.environ.get("SX_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CASE_DIR = os.path.join(SRC, "tests", "conformance", "logql")
THRESHOLD_FILE = os.path.join(CASE_DIR, "threshold.txt")
VERBOSE = os.environ.get("SX_CONF_VERBOSE") == "1"
ONLY = os.environ.get("SX_CONF_ONLY", "")

DEFAULT_BASE_NS = 1704067200 * 10**9  # 2024-01-01T00:00:00Z
REL_TOL = 1e-9
ABS_TOL = 1e-12


def log(*args):
    print(*args, flush=True)


# ---------------------------------------------------------------------------
# Case file parsing
# ---------------------------------------------------------------------------

class ParseError(Exception):
    def __init__(self, path, lineno, msg):
        super().__init__("%s:%d: %s" % (os.path.basename(path), lineno, msg))


_DUR_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9,
              "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9,
              "w": 7 * 86400 * 10**9}
_DUR_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w)")


def parse_duration_ns(s):
    """A Go-style duration ("1h30m", "500ms", "-2s") in nanoseconds."""
    sign = 1
    body = s
    if body[:1] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if not body:
        raise ValueError("empty duration %r" % s)
    if body == "0":
        return 0
    pos = 0
    total = 0
    while pos < len(body):
        m = _DUR_PART.match(body, pos)
        if not m:
            raise ValueError("bad duration %r" % s)
        num = m.group(1)
        unit = _DUR_UNITS[m.group(2)]
        if "." in num:
            whole, frac = num.split(".")
            val = int(whole or "0") * unit
            if frac:
                val += int(frac) * unit // (10 ** len(frac))
        else:
            val = int(num) * unit
        total += val
        pos = m.end()
    return sign * total


_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                      r"(Z|z|[+-]\d{2}:\d{2})$")


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_rfc3339_ns(s):
    m = _RFC3339.match(s)
    if not m:
        raise ValueError("bad RFC3339 time %r" % s)
    y, mo, d, hh, mi, ss = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    ns = int(frac.ljust(9, "0")) if frac else 0
    secs = _days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss
    tz = m.group(8)
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        secs -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return secs * 10**9 + ns


def parse_time_ns(tok, base_ns):
    """A time as the case files write it, in nanoseconds:
    +dur / -dur relative to the base; an integer of at most 10 digits is Unix
    seconds, a longer one Unix nanoseconds; a decimal number is Unix seconds
    (Loki's own rules for its time parameters); else RFC3339."""
    if tok[:1] in ("+", "-"):
        return base_ns + parse_duration_ns(tok)
    if tok.isdigit():
        return int(tok) * 10**9 if len(tok) <= 10 else int(tok)
    if re.fullmatch(r"\d+\.\d*", tok):
        whole, frac = tok.split(".")
        return int(whole) * 10**9 + (int(frac[:9].ljust(9, "0")) if frac else 0)
    return parse_rfc3339_ns(tok)


def is_relative(tok):
    return tok[:1] in ("+", "-")


_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_labels(s, pos=0):
    """{name="value", ...} starting at s[pos]; returns (dict, end position)."""
    if pos >= len(s) or s[pos] != "{":
        raise ValueError("expected '{' at column %d" % (pos + 1))
    pos += 1
    out = {}
    while True:
        while pos < len(s) and s[pos] in " \t":
            pos += 1
        if pos < len(s) and s[pos] == "}":
            return out, pos + 1
        m = _LABEL_NAME.match(s, pos)
        if not m:
            raise ValueError("expected a label name at column %d" % (pos + 1))
        name = m.group(0)
        pos = m.end()
        while pos < len(s) and s[pos] in " \t":
            pos += 1
        if pos >= len(s) or s[pos] != "=":
            raise ValueError("expected '=' after label %s" % name)
        pos += 1
        while pos < len(s) and s[pos] in " \t":
            pos += 1
        value, pos = parse_line_string(s, pos)
        if name in out:
            raise ValueError("label %s given twice" % name)
        out[name] = value
        while pos < len(s) and s[pos] in " \t":
            pos += 1
        if pos < len(s) and s[pos] == ",":
            pos += 1
            continue
        if pos < len(s) and s[pos] == "}":
            return out, pos + 1
        raise ValueError("expected ',' or '}' at column %d" % (pos + 1))


_DECODER = json.JSONDecoder()


def parse_json_string(s, pos):
    if pos >= len(s) or s[pos] != '"':
        raise ValueError("expected a double-quoted (JSON) string at column %d" % (pos + 1))
    value, end = _DECODER.raw_decode(s, pos)
    if not isinstance(value, str):
        raise ValueError("expected a string at column %d" % (pos + 1))
    return value, end


def parse_line_string(s, pos):
    """A log line: a JSON string ("...", with JSON escapes) or a raw string
    between backticks (no escapes; cannot hold a backtick)."""
    if pos < len(s) and s[pos] == "`":
        end = s.find("`", pos + 1)
        if end < 0:
            raise ValueError("unterminated backtick string at column %d" % (pos + 1))
        return s[pos + 1:end], end + 1
    return parse_json_string(s, pos)


def parse_json_object(s, pos):
    value, end = _DECODER.raw_decode(s, pos)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("structured metadata must be a JSON object of strings")
    return value, end


def skip_ws(s, pos):
    while pos < len(s) and s[pos] in " \t":
        pos += 1
    return pos


def parse_number(tok):
    low = tok.lower()
    if low in ("nan", "+nan", "-nan"):
        return math.nan
    if low in ("inf", "+inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    return float(tok)


class Push:
    def __init__(self, lineno, labels):
        self.lineno = lineno
        self.labels = labels
        self.entries = []  # (ns, line, structured metadata dict or None)


class Clear:
    def __init__(self, lineno):
        self.lineno = lineno


class Expect:
    def __init__(self, lineno, kind):
        self.lineno = lineno
        self.kind = kind          # streams | matrix | vector | scalar | error
        self.ordered = False      # matrix/vector: compare in the written order
        self.streams = []         # [(labels, [(ns, line)])]
        self.series = []          # matrix: [(labels, [(ms, value)])]; vector: [(labels, value)]
        self.scalar = None
        self.status = None
        self.substring = None


class Eval:
    def __init__(self, lineno, kind, params, name):
        self.lineno = lineno
        self.kind = kind          # range | instant
        self.params = params      # start/end/time as ns; step as text; limit; direction
        self.name = name
        self.query = None
        self.expect = None


class CaseFile:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.items = []           # Push | Clear | Eval, in file order

    @property
    def evals(self):
        return [x for x in self.items if isinstance(x, Eval)]


def _entry_from_line(body, base_ns):
    """`<ts> "<line>" [{sm}]` or `repeat N from <ts> every <dur> "<line>" [{sm}]`
    -> list of (ns, line, sm)."""
    if body.startswith("repeat "):
        m = re.match(r"repeat\s+(\d+)\s+from\s+(\S+)\s+every\s+(\S+)\s+", body)
        if not m:
            raise ValueError("expected: repeat <count> from <time> every <duration> \"<line>\"")
        count = int(m.group(1))
        start = parse_time_ns(m.group(2), base_ns)
        every = parse_duration_ns(m.group(3))
        if count < 1 or every == 0:
            raise ValueError("repeat needs a positive count and a non-zero step")
        pos = m.end()
        line, pos = parse_line_string(body, pos)
        sm = None
        pos = skip_ws(body, pos)
        if pos < len(body):
            sm, pos = parse_json_object(body, pos)
            pos = skip_ws(body, pos)
        if pos != len(body):
            raise ValueError("unexpected text after the entry: %r" % body[pos:])
        return [(start + i * every, line, sm) for i in range(count)]
    parts = body.split(None, 1)
    if len(parts) != 2:
        raise ValueError("expected: <time> \"<line>\" [<structured metadata object>]")
    ts = parse_time_ns(parts[0], base_ns)
    rest = parts[1]
    line, pos = parse_line_string(rest, 0)
    sm = None
    pos = skip_ws(rest, pos)
    if pos < len(rest):
        sm, pos = parse_json_object(rest, pos)
        pos = skip_ws(rest, pos)
    if pos != len(rest):
        raise ValueError("unexpected text after the entry: %r" % rest[pos:])
    return [(ts, line, sm)]


def _parse_point(tok, base_ns):
    if ":" not in tok:
        raise ValueError("a point is <time>:<value>, got %r" % tok)
    ts_tok, val_tok = tok.rsplit(":", 1)
    ns = parse_time_ns(ts_tok, base_ns)
    if ns % 10**6:
        raise ValueError("metric timestamps are milliseconds; %r is not" % ts_tok)
    return ns // 10**6, parse_number(val_tok)


def parse_case_file(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    cf = CaseFile(path)
    base_ns = DEFAULT_BASE_NS
    i = 0
    n = len(lines)
    current_eval = None       # an Eval waiting for its expect

    def body_lines(start):
        """Indented, non-comment lines following a directive."""
        j = start
        out = []
        while j < n:
            raw = lines[j].rstrip("\r")
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                j += 1
                continue
            if raw[0] not in " \t":
                break
            out.append((j + 1, stripped))
            j += 1
        return out, j

    while i < n:
        raw = lines[i].rstrip("\r")
        lineno = i + 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        if raw[0] in " \t":
            raise ParseError(path, lineno, "indented line outside of a block: %r" % stripped)
        word = stripped.split(None, 1)[0]
        rest = stripped[len(word):].strip()
        if current_eval is not None and word != "expect":
            raise ParseError(path, current_eval.lineno, "eval without an expect line")
        try:
            if word == "base":
                base_ns = parse_time_ns(rest, DEFAULT_BASE_NS)
                i += 1
            elif word == "clear":
                if rest:
                    raise ValueError("clear takes no argument")
                cf.items.append(Clear(lineno))
                i += 1
            elif word == "push":
                labels, end = parse_labels(rest, 0)
                if skip_ws(rest, end) != len(rest):
                    raise ValueError("unexpected text after the labels")
                if not labels:
                    raise ValueError("a pushed stream needs at least one label")
                p = Push(lineno, labels)
                body, i = body_lines(i + 1)
                if not body:
                    raise ValueError("push without entries")
                for bl, text in body:
                    try:
                        p.entries.extend(_entry_from_line(text, base_ns))
                    except ValueError as e:
                        raise ParseError(path, bl, str(e))
                cf.items.append(p)
            elif word == "eval":
                parts = rest.split()
                if not parts or parts[0] not in ("range", "instant"):
                    raise ValueError("eval range|instant <params>")
                kind = parts[0]
                params = {}
                name = None
                for p in parts[1:]:
                    if "=" not in p:
                        raise ValueError("parameter %r is not key=value" % p)
                    k, v = p.split("=", 1)
                    if k in ("start", "end", "time"):
                        params[k] = parse_time_ns(v, base_ns)
                        # Absolute times are sent as written (exercising the
                        # server's parsing); relative ones as nanoseconds.
                        params[k + "_raw"] = str(params[k]) if is_relative(v) else v
                    elif k == "step":
                        if re.fullmatch(r"\d+(\.\d+)?", v):
                            step_ns = int(float(v) * 10**9)
                        else:
                            step_ns = parse_duration_ns(v)
                        if step_ns <= 0:
                            raise ValueError("step must be positive")
                        params["step"] = v
                        params["step_ns"] = step_ns
                    elif k == "limit":
                        params["limit"] = str(int(v))
                    elif k == "direction":
                        if v not in ("forward", "backward"):
                            raise ValueError("direction is forward or backward")
                        params["direction"] = v
                    elif k == "name":
                        name = v
                    else:
                        raise ValueError("unknown eval parameter %r" % k)
                if kind == "range" and ("start" not in params or "end" not in params):
                    raise ValueError("eval range needs start= and end=")
                if kind == "range" and "time" in params:
                    raise ValueError("eval range takes start/end, not time")
                if kind == "instant" and ("time" not in params or "start" in params
                                          or "end" in params or "step" in params):
                    raise ValueError("eval instant takes time= (and no start/end/step)")
                ev = Eval(lineno, kind, params, name or "%s:%d" % (cf.name, lineno))
                body, i = body_lines(i + 1)
                if len(body) != 1:
                    raise ValueError("eval needs exactly one indented query line, got %d"
                                     % len(body))
                ev.query = body[0][1]
                current_eval = ev
            elif word == "expect":
                ev = current_eval
                if ev is None:
                    raise ValueError("expect without a preceding eval")
                current_eval = None
                ev.expect = _parse_expect(path, lineno, rest, ev, base_ns, lines, i)
                _, i = body_lines(i + 1)
                cf.items.append(ev)
            else:
                raise ValueError("unknown directive %r" % word)
        except ParseError:
            raise
        except ValueError as e:
            raise ParseError(path, lineno, str(e))
    if current_eval is not None:
        raise ParseError(path, current_eval.lineno, "eval without an expect line")
    if not cf.evals:
        raise ParseError(path, 1, "no eval in file")
    names = {}
    for ev in cf.evals:
        if ev.name in names:
            raise ParseError(path, ev.lineno, "case name %r also used on line %d"
                             % (ev.name, names[ev.name]))
        names[ev.name] = ev.lineno
    return cf


def _parse_expect(path, lineno, rest, ev, base_ns, lines, i):
    words = rest.split()
    if not words:
        raise ValueError("expect streams|matrix|vector|scalar|error")
    kind = words[0]
    ex = Expect(lineno, kind)
    # Collect the body (indented, non-comment lines).
    body = []
    j = i + 1
    while j < len(lines):
        raw = lines[j].rstrip("\r")
        s = raw.strip()
        if not s or s.startswith("#"):
            j += 1
            continue
        if raw[0] not in " \t":
            break
        body.append((j + 1, s))
        j += 1

    def fail(bl, msg):
        raise ParseError(path, bl, msg)

    if kind == "error":
        if len(words) < 2 or not words[1].isdigit():
            raise ValueError("expect error <status> [substring]")
        ex.status = int(words[1])
        sub = rest.split(None, 2)
        ex.substring = sub[2].strip() if len(sub) > 2 else None
        if body:
            fail(body[0][0], "expect error takes no body")
        return ex
    if kind == "scalar":
        if len(words) != 2 or body:
            raise ValueError("expect scalar <value>")
        if ev.kind != "instant":
            raise ValueError("a scalar comes from an instant query (a range query gives a matrix)")
        ex.scalar = parse_number(words[1])
        return ex
    if kind not in ("streams", "matrix", "vector"):
        raise ValueError("unknown expectation %r" % kind)
    flags = words[1:]
    for fl in flags:
        if fl == "ordered" and kind in ("matrix", "vector"):
            ex.ordered = True
        else:
            raise ValueError("unknown flag %r for expect %s" % (fl, kind))
    if kind == "streams":
        if ev.kind != "range":
            raise ValueError("log queries only run as range queries (instant ones are a 400)")
        cur = None
        seen = set()
        for bl, s in body:
            try:
                if s.startswith("{"):
                    labels, end = parse_labels(s, 0)
                    if skip_ws(s, end) != len(s):
                        raise ValueError("unexpected text after the stream labels")
                    key = frozenset(labels.items())
                    if key in seen:
                        raise ValueError("stream %s listed twice" % fmt_labels(labels))
                    seen.add(key)
                    cur = (labels, [])
                    ex.streams.append(cur)
                else:
                    if cur is None:
                        raise ValueError("an entry before any stream label set")
                    for ns, line, sm in _entry_from_line(s, base_ns):
                        if sm is not None:
                            raise ValueError("expected entries carry no structured metadata")
                        cur[1].append((ns, line))
            except ValueError as e:
                fail(bl, str(e))
        for labels, entries in ex.streams:
            if not entries:
                raise ValueError("stream %s has no entries" % fmt_labels(labels))
        return ex
    if kind == "matrix":
        if ev.kind != "range":
            raise ValueError("a matrix comes from a range query")
        if "step" not in ev.params:
            raise ValueError("a metric range query needs step=")
        cur = None
        seen = set()
        for bl, s in body:
            try:
                if s.startswith("{"):
                    labels, end = parse_labels(s, 0)
                    key = frozenset(labels.items())
                    if key in seen:
                        raise ValueError("series %s listed twice" % fmt_labels(labels))
                    seen.add(key)
                    cur = (labels, [])
                    ex.series.append(cur)
                    toks = s[end:].split()
                else:
                    if cur is None:
                        raise ValueError("points before any series label set")
                    toks = s.split()
                for tok in toks:
                    cur[1].append(_parse_point(tok, base_ns))
            except ValueError as e:
                fail(bl, str(e))
        for labels, pts in ex.series:
            if not pts:
                fail(lineno, "series %s has no points" % fmt_labels(labels))
            ms = [p[0] for p in pts]
            if ms != sorted(ms) or len(set(ms)) != len(ms):
                fail(lineno, "points of %s are not in increasing time order" % fmt_labels(labels))
        return ex
    # vector
    if ev.kind != "instant":
        raise ValueError("a vector comes from an instant query")
    seen = set()
    for bl, s in body:
        try:
            if not s.startswith("{"):
                raise ValueError("a vector element is {labels} <value>")
            labels, end = parse_labels(s, 0)
            toks = s[end:].split()
            if len(toks) != 1:
                raise ValueError("a vector element is {labels} <value>")
            key = frozenset(labels.items())
            if key in seen:
                raise ValueError("element %s listed twice" % fmt_labels(labels))
            seen.add(key)
            ex.series.append((labels, parse_number(toks[0])))
        except ValueError as e:
            fail(bl, str(e))
    return ex


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------

def go_quote(v):
    return json.dumps(v, ensure_ascii=False)


def fmt_labels(d):
    return "{" + ", ".join("%s=%s" % (k, go_quote(d[k])) for k in sorted(d)) + "}"


def label_sort_key(d):
    """Prometheus labels.Compare: label by label (name, then value), a prefix first."""
    return [(k.encode("utf-8"), d[k].encode("utf-8")) for k in sorted(d)]


def label_string_key(d):
    """The order of a label set's string form (what Loki's frontend sorts by)."""
    return fmt_labels(d).encode("utf-8")


def loki_order(items, get_labels):
    """Sort by labels.Compare; None when the string-form order would differ,
    in which case only the set is compared."""
    a = sorted(items, key=lambda x: label_sort_key(get_labels(x)))
    b = sorted(items, key=lambda x: label_string_key(get_labels(x)))
    if [frozenset(get_labels(x).items()) for x in a] != [frozenset(get_labels(x).items()) for x in b]:
        return None
    return a


def same_number(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    diff = abs(a - b)
    return diff <= ABS_TOL or diff <= REL_TOL * max(abs(a), abs(b))


def fmt_num(v):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v) if v != int(v) or abs(v) >= 1e16 else str(int(v))


def fmt_time_ns(ns, base_ns=DEFAULT_BASE_NS):
    d = ns - base_ns
    sign = "+" if d >= 0 else "-"
    d = abs(d)
    if d % 10**9 == 0:
        return "%s%ds" % (sign, d // 10**9)
    if d % 10**6 == 0:
        return "%s%dms" % (sign, d // 10**6)
    return "%s%dns" % (sign, d)


class Mismatch(Exception):
    pass


def _as_number(v, what):
    if isinstance(v, str):
        try:
            return parse_number(v)
        except ValueError:
            raise Mismatch("%s: %r is not a number" % (what, v))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    raise Mismatch("%s: %r is not a number" % (what, v))


def _as_ms(v, what):
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise Mismatch("%s: timestamp %r is not a number" % (what, v))
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise Mismatch("%s: timestamp %r is not a number" % (what, v))
    return int(round(float(v) * 1000))


def _result(body, want_type):
    if not isinstance(body, dict):
        raise Mismatch("answer is not a JSON object")
    if body.get("status") != "success":
        raise Mismatch("status is %r, want \"success\"" % body.get("status"))
    data = body.get("data")
    if not isinstance(data, dict):
        raise Mismatch("no data object")
    if data.get("resultType") != want_type:
        raise Mismatch("resultType is %r, want %r" % (data.get("resultType"), want_type))
    return data.get("result")


def _labels_of(obj, key, what):
    labels = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise Mismatch("%s: %r is not a label object" % (what, key))
    return labels


def compare_streams(ex, body):
    result = _result(body, "streams")
    if not isinstance(result, list):
        raise Mismatch("result is not a list")
    got = {}
    for s in result:
        labels = _labels_of(s, "stream", "stream")
        key = frozenset(labels.items())
        if key in got:
            raise Mismatch("stream %s returned twice" % fmt_labels(labels))
        values = s.get("values")
        if not isinstance(values, list):
            raise Mismatch("stream %s: values is not a list" % fmt_labels(labels))
        entries = []
        for v in values:
            if not isinstance(v, list) or len(v) < 2 or not isinstance(v[0], str) \
                    or not v[0].isdigit() or not isinstance(v[1], str):
                raise Mismatch("stream %s: bad entry %r (want [\"<ns>\", \"<line>\", ...])"
                               % (fmt_labels(labels), v))
            entries.append((int(v[0]), v[1]))
        got[key] = (labels, entries)
    want = {frozenset(l.items()): (l, e) for l, e in ex.streams}
    problems = []
    for key, (labels, entries) in want.items():
        if key not in got:
            problems.append("missing stream %s" % fmt_labels(labels))
            continue
        g = got[key][1]
        if g != entries:
            problems.append("stream %s entries differ:\n    want %s\n    got  %s" % (
                fmt_labels(labels), _fmt_entries(entries), _fmt_entries(g)))
    for key, (labels, entries) in got.items():
        if key not in want:
            problems.append("unexpected stream %s with %d entries: %s" % (
                fmt_labels(labels), len(entries), _fmt_entries(entries)))
    if problems:
        raise Mismatch("\n".join(problems))


def _fmt_entries(entries, limit=12):
    parts = ["%s %s" % (fmt_time_ns(ns), go_quote(line)) for ns, line in entries[:limit]]
    more = " ... (%d in all)" % len(entries) if len(entries) > limit else ""
    return "[" + ", ".join(parts) + more + "]"


def _check_order(ex, got_labels):
    """got_labels: label dicts in the order returned; ex.series in written order."""
    if ex.ordered:
        want = [l for l, _ in ex.series]
    else:
        ordered = loki_order(ex.series, lambda x: x[0])
        if ordered is None:
            return  # Loki's two orders disagree here: the set is compared elsewhere
        want = [l for l, _ in ordered]
    if [frozenset(x.items()) for x in got_labels] != [frozenset(x.items()) for x in want]:
        raise Mismatch("series order differs:\n    want %s\n    got  %s" % (
            ", ".join(fmt_labels(x) for x in want), ", ".join(fmt_labels(x) for x in got_labels)))


def compare_matrix(ex, body):
    result = _result(body, "matrix")
    if not isinstance(result, list):
        raise Mismatch("result is not a list")
    got = {}
    order = []
    for s in result:
        labels = _labels_of(s, "metric", "series")
        key = frozenset(labels.items())
        if key in got:
            raise Mismatch("series %s returned twice" % fmt_labels(labels))
        values = s.get("values")
        if not isinstance(values, list):
            raise Mismatch("series %s: values is not a list" % fmt_labels(labels))
        pts = []
        for v in values:
            if not isinstance(v, list) or len(v) != 2:
                raise Mismatch("series %s: bad point %r" % (fmt_labels(labels), v))
            pts.append((_as_ms(v[0], fmt_labels(labels)), _as_number(v[1], fmt_labels(labels))))
        got[key] = pts
        order.append(labels)
    problems = []
    want = {frozenset(l.items()): (l, p) for l, p in ex.series}
    for key, (labels, pts) in want.items():
        if key not in got:
            problems.append("missing series %s %s" % (fmt_labels(labels), _fmt_points(pts)))
            continue
        g = got[key]
        if len(g) != len(pts) or any(a[0] != b[0] or not same_number(a[1], b[1])
                                     for a, b in zip(g, pts)):
            problems.append("series %s:\n    want %s\n    got  %s" % (
                fmt_labels(labels), _fmt_points(pts), _fmt_points(g)))
    for key, pts in got.items():
        if key not in want:
            problems.append("unexpected series %s %s" % (fmt_labels(dict(key)), _fmt_points(pts)))
    if problems:
        raise Mismatch("\n".join(problems))
    _check_order(ex, order)


def _fmt_points(pts, limit=20):
    parts = ["%s:%s" % (fmt_time_ns(ms * 10**6), fmt_num(v)) for ms, v in pts[:limit]]
    more = " ... (%d in all)" % len(pts) if len(pts) > limit else ""
    return " ".join(parts) + more


def compare_vector(ex, body, time_ns):
    result = _result(body, "vector")
    if not isinstance(result, list):
        raise Mismatch("result is not a list")
    want_ms = time_ns // 10**6
    got = {}
    order = []
    for s in result:
        labels = _labels_of(s, "metric", "element")
        key = frozenset(labels.items())
        if key in got:
            raise Mismatch("element %s returned twice" % fmt_labels(labels))
        v = s.get("value")
        if not isinstance(v, list) or len(v) != 2:
            raise Mismatch("element %s: bad value %r" % (fmt_labels(labels), v))
        ms = _as_ms(v[0], fmt_labels(labels))
        if ms != want_ms:
            raise Mismatch("element %s has timestamp %s, want the query time %s" % (
                fmt_labels(labels), fmt_time_ns(ms * 10**6), fmt_time_ns(want_ms * 10**6)))
        got[key] = _as_number(v[1], fmt_labels(labels))
        order.append(labels)
    problems = []
    want = {frozenset(l.items()): (l, v) for l, v in ex.series}
    for key, (labels, value) in want.items():
        if key not in got:
            problems.append("missing element %s %s" % (fmt_labels(labels), fmt_num(value)))
        elif not same_number(got[key], value):
            problems.append("element %s: want %s, got %s" % (
                fmt_labels(labels), fmt_num(value), fmt_num(got[key])))
    for key, value in got.items():
        if key not in want:
            problems.append("unexpected element %s %s" % (fmt_labels(dict(key)), fmt_num(value)))
    if problems:
        raise Mismatch("\n".join(problems))
    _check_order(ex, order)


def compare_scalar(ex, body, time_ns):
    result = _result(body, "scalar")
    if not isinstance(result, list) or len(result) != 2:
        raise Mismatch("scalar result %r is not [<time>, \"<value>\"]" % (result,))
    ms = _as_ms(result[0], "scalar")
    if ms != time_ns // 10**6:
        raise Mismatch("scalar timestamp %s, want the query time %s" % (
            fmt_time_ns(ms * 10**6), fmt_time_ns(time_ns)))
    v = _as_number(result[1], "scalar")
    if not same_number(v, ex.scalar):
        raise Mismatch("scalar: want %s, got %s" % (fmt_num(ex.scalar), fmt_num(v)))


def describe_expect(ev):
    ex = ev.expect
    out = []
    if ex.kind == "error":
        out.append("HTTP %d%s" % (ex.status, " containing %r" % ex.substring if ex.substring else ""))
    elif ex.kind == "scalar":
        out.append("scalar %s" % fmt_num(ex.scalar))
    elif ex.kind == "streams":
        out.append("streams (%d)" % len(ex.streams))
        for labels, entries in ex.streams:
            out.append("  %s %s" % (fmt_labels(labels), _fmt_entries(entries)))
    elif ex.kind == "matrix":
        out.append("matrix (%d series)%s" % (len(ex.series), " ordered" if ex.ordered else ""))
        for labels, pts in ex.series:
            out.append("  %s %s" % (fmt_labels(labels), _fmt_points(pts)))
    else:
        out.append("vector (%d)%s" % (len(ex.series), " ordered" if ex.ordered else ""))
        for labels, v in ex.series:
            out.append("  %s %s" % (fmt_labels(labels), fmt_num(v)))
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

def push(srv, p):
    values = []
    for ns, line, sm in p.entries:
        values.append([str(ns), line, sm] if sm is not None else [str(ns), line])
    body = json.dumps({"streams": [{"stream": p.labels, "values": values}]}).encode("utf-8")
    return srv.request("POST", "/loki/api/v1/push", body, {"Content-Type": "application/json"})


def run_eval(srv, ev):
    """Returns (passed, detail)."""
    params = {"query": ev.query}
    if ev.kind == "range":
        path = "/loki/api/v1/query_range"
        params["start"] = ev.params["start_raw"]
        params["end"] = ev.params["end_raw"]
        if "step" in ev.params:
            params["step"] = ev.params["step"]
        time_ns = None
    else:
        path = "/loki/api/v1/query"
        params["time"] = ev.params["time_raw"]
        time_ns = ev.params["time"]
    for k in ("limit", "direction"):
        if k in ev.params:
            params[k] = ev.params[k]
    try:
        r = srv.get(path, params)
    except Exception as e:  # connection refused, reset, timeout: the server died or hung
        return False, "request failed: %s" % e
    text = r.body.decode("utf-8", "replace")
    ex = ev.expect
    if ex.kind == "error":
        if r.status != ex.status:
            return False, "HTTP %d, want %d; body: %s" % (r.status, ex.status, _short(text))
        if ex.substring and ex.substring not in text:
            decoded = text
            try:
                obj = json.loads(text)
                decoded = json.dumps(obj, ensure_ascii=False)
                if isinstance(obj, dict):
                    decoded = " ".join(str(v) for v in obj.values())
            except ValueError:
                pass
            if ex.substring not in decoded:
                return False, "HTTP %d as wanted, but the body lacks %r: %s" % (
                    r.status, ex.substring, _short(text))
        return True, None
    if r.status != 200:
        return False, "HTTP %d; body: %s" % (r.status, _short(text))
    try:
        body = json.loads(text)
    except ValueError as e:
        return False, "answer is not JSON (%s): %s" % (e, _short(text))
    try:
        if ex.kind == "streams":
            compare_streams(ex, body)
        elif ex.kind == "matrix":
            compare_matrix(ex, body)
        elif ex.kind == "vector":
            compare_vector(ex, body, time_ns)
        else:
            compare_scalar(ex, body, time_ns)
    except Mismatch as e:
        return False, "%s\n  answer: %s" % (e, _short(text, 1500))
    return True, None


def _short(s, n=600):
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def read_threshold():
    with open(THRESHOLD_FILE, encoding="utf-8") as f:
        for line in f:
            s = line.strip()
            if s and not s.startswith("#"):
                return int(s)
    raise ValueError("no number in %s" % THRESHOLD_FILE)


def run_file(cf, counts):
    passed = 0
    srv = None
    push_failures = []
    failures = []

    def fresh():
        nonlocal srv
        if srv is not None:
            srv.stop()
        srv = t.Server(name="logql-" + os.path.splitext(cf.name)[0])
        srv.start()

    try:
        fresh()
        for item in cf.items:
            if isinstance(item, Clear):
                fresh()
            elif isinstance(item, Push):
                try:
                    r = push(srv, item)
                    if r.status not in (200, 204):
                        push_failures.append("line %d: HTTP %d %s" % (
                            item.lineno, r.status, _short(r.body.decode("utf-8", "replace"), 200)))
                except Exception as e:
                    push_failures.append("line %d: %s" % (item.lineno, e))
            else:
                ok, detail = run_eval(srv, item)
                if ok:
                    passed += 1
                else:
                    failures.append((item, detail))
    finally:
        if srv is not None:
            srv.stop()
    total = len(cf.evals)
    counts.append((cf.name, passed, total))
    log("%-28s %4d / %-4d passed%s" % (cf.name, passed, total,
                                       "   (%d pushes refused)" % len(push_failures)
                                       if push_failures else ""))
    if VERBOSE:
        for msg in push_failures[:5]:
            log("    push refused, " + msg)
        if len(push_failures) > 5:
            log("    ... %d more pushes refused" % (len(push_failures) - 5))
        for ev, detail in failures:
            where = "" if ev.name == "%s:%d" % (cf.name, ev.lineno) else " (line %d)" % ev.lineno
            log("  FAIL %s%s" % (ev.name, where))
            p = " ".join("%s=%s" % (k, fmt_time_ns(v) if k in ("start", "end", "time") else v)
                         for k, v in ev.params.items()
                         if k != "step_ns" and not k.endswith("_raw"))
            log("    %s %s" % (ev.kind, p))
            log("    query: %s" % ev.query)
            for line in describe_expect(ev).splitlines():
                log("    want: " + line)
            for line in str(detail).splitlines():
                log("    got:  " + line)


def main():
    def on_signal(sig, frame):
        log("interrupted by signal %d" % sig)
        t.cleanup()
        os._exit(1)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    files = sorted(f for f in os.listdir(CASE_DIR) if f.endswith(".test"))
    if not files:
        log("no case files in " + CASE_DIR)
        return 1
    parsed = []
    errors = []
    for f in files:
        try:
            parsed.append(parse_case_file(os.path.join(CASE_DIR, f)))
        except ParseError as e:
            errors.append(str(e))
        except (OSError, UnicodeDecodeError) as e:
            errors.append("%s: %s" % (f, e))
    if errors:
        for e in errors:
            log("PARSE ERROR " + e)
        log("%d case file(s) do not parse; a broken case file is a bug in the suite" % len(errors))
        return 1
    threshold = read_threshold()
    total_cases = sum(len(cf.evals) for cf in parsed)
    log("LogQL conformance: %d cases in %d files, server %s" % (total_cases, len(parsed),
                                                                  t.sextant_bin()))
    counts = []
    for cf in parsed:
        if ONLY and ONLY not in cf.name:
            continue
        run_file(cf, counts)
    passed = sum(c[1] for c in counts)
    run = sum(c[2] for c in counts)
    log("LogQL conformance: %d / %d cases passed (threshold %d)" % (passed, run, threshold))
    if passed < threshold:
        log("FAIL: fewer passing cases than tests/conformance/logql/threshold.txt requires")
        return 1
    return 0


if __name__ == "__main__":
    rc = 1
    try:
        rc = main()
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException:
        log("runner failed:\n" + traceback.format_exc())
        rc = 1
    finally:
        t.cleanup()
    sys.exit(rc)
