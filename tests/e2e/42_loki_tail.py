#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: Loki's live tail, GET /loki/api/v1/tail over a WebSocket.

A server with two tenants (--auth-token) and --tail-max-connections 3 gets
log lines pushed as Loki JSON; a WebSocket client written here (socket,
base64 and hashlib only: the handshake and its Sec-WebSocket-Accept,
masked client frames, ping/pong, fragmentation-free reading of the
server's frames) opens tails and checks:

  * the handshake: 101 with the right Sec-WebSocket-Accept;
  * the first frames: the matching entries since `start` (default one hour
    ago; an older entry stays out), each once, oldest first, in Loki's
    shape ({"streams":[{"stream":{...},"values":[["<ns>","<line>"]]}]},
    one stream object per entry, no dropped_entries); with limit=3 only the
    newest three; with start= only the entries from then on;
  * live entries: lines pushed after the tail opened arrive once each and
    in order, filtered by the query's line filter, neither another
    stream's nor another tenant's lines (same labels, same text) appear,
    and nothing comes twice while the server reads its window again;
  * structured metadata: a stream label of the entry without the header,
    and with X-Loki-Response-Encoding-Flags: categorize-labels a third
    value element {"structuredMetadata":{...}} and "encodingFlags";
  * delay_for=5: an entry two seconds old is held back for a while, then
    sent; a pipeline with a parser and a label filter applies to new
    entries too;
  * the server's pings (Loki pings every second), a pong answering the
    client's ping with its payload, the close handshake (the client's
    close 1000 is echoed, then the connection ends), close 1002 for an
    unmasked client frame;
  * the concurrency limit: with three tails open a fourth gets the 101 and
    then a close frame 1011 with Loki's "max concurrent tail requests limit
    exceeded, count > limit (4 > 3)"; slots come back when tails end, also
    when a client just drops its TCP connection;
  * errors before the upgrade as plain-text 400 (metric query, bad query,
    no query, delay_for over 5, bad limit, bad start, a plain GET without
    the WebSocket headers, a wrong Sec-WebSocket-Version), 401 without a
    token;
  * a client that reads nothing while 30 MB of matching lines arrive gets
    Loki's dropped_entries (timestamp and labels, at most 1000 a frame) and the
    lines that were sent come in order, once each;
  * SIGTERM with two tails open: both get close 1001, the server exits 0
    well within the 30 s it would wait for stuck tails, and the sanitizers
    report nothing.

Not covered with a real client: Grafana's logcli is not packaged in Debian,
so only the client written here speaks to the server.
"""
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, check_eq, check_in, check_status, log  # noqa: E402

NS = 1_000_000_000
A = {"X-Auth-Token": "tokA"}
B = {"X-Auth-Token": "tokB"}
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RUN = "r%d" % (time.time_ns() // NS % 1000000)
TAIL = "/loki/api/v1/tail"


# ---- A minimal WebSocket client ----

class WSClosed(Exception):
    pass


class WS:
    """One WebSocket connection: handshake in the constructor (status,
    headers and body kept when it is not 101), then frames."""

    def __init__(self, port, path, headers=None, timeout=10, version="13"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port, "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + self.key,
                 "Sec-WebSocket-Version: " + version]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        hl = head.decode("latin-1").split("\r\n")
        self.status = int(hl[0].split()[1]) if hl and len(hl[0].split()) > 1 else 0
        self.headers = {}
        for line in hl[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.buf = rest
        self.body = b""
        self.pings = 0
        self.pongs = []
        if self.status != 101:
            n = int(self.headers.get("content-length", "0") or 0)
            self.body = rest
            while len(self.body) < n:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.body += chunk
            self.sock.close()

    def accept_ok(self):
        want = base64.b64encode(hashlib.sha1((self.key + GUID).encode()).digest()).decode()
        return self.headers.get("sec-websocket-accept") == want

    def _need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out waiting for a frame")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WSClosed("connection closed")
            self.buf += chunk

    def read_frame(self, timeout):
        """(fin, opcode, payload, masked) of the next frame."""
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            self._need(4, deadline)
            n = struct.unpack(">H", self.buf[2:4])[0]
            pos = 4
        elif n == 127:
            self._need(10, deadline)
            n = struct.unpack(">Q", self.buf[2:10])[0]
            pos = 10
        masked = bool(b1 & 0x80)
        if masked:
            pos += 4
        self._need(pos + n, deadline)
        payload = self.buf[pos:pos + n]
        self.buf = self.buf[pos + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload, masked

    def send_frame(self, opcode, payload=b"", mask=True):
        hdr = bytes([0x80 | opcode])
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr += bytes([mbit | n])
        elif n < 65536:
            hdr += bytes([mbit | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([mbit | 127]) + struct.pack(">Q", n)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            hdr += key
        self.sock.sendall(hdr + payload)

    def next_message(self, timeout):
        """The next text message (str) or ("close", code, reason); pings
        are answered and counted, pongs kept. None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                fin, op, payload, masked = self.read_frame(left)
            except socket.timeout:
                return None
            if masked:
                raise AssertionError("server frame is masked")
            if op == 0x9:
                self.pings += 1
                self.send_frame(0xA, payload)
            elif op == 0xA:
                self.pongs.append(payload)
            elif op == 0x8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                return ("close", code, payload[2:].decode("utf-8", "replace"))
            elif op == 0x1:
                if not fin:
                    raise AssertionError("server sent a fragmented message")
                return payload.decode("utf-8")
            else:
                raise AssertionError("unexpected opcode %d" % op)

    def wait_eof(self, timeout=5):
        """True when the server closes the TCP connection in time."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---- Helpers ----

def push(srv, headers, streams, what):
    """streams: [(labels dict, [(ts, line) or (ts, line, meta)])]."""
    body = {"streams": [{"stream": lbl, "values": [[str(v[0])] + list(v[1:]) for v in vals]}
                        for lbl, vals in streams]}
    h = {"Content-Type": "application/json"}
    h.update(headers)
    r = srv.request("POST", "/loki/api/v1/push", json.dumps(body).encode(), h)
    check_status(r, 204, what)


def tail_path(query, **params):
    q = {"query": query}
    q.update({k: str(v) for k, v in params.items()})
    return TAIL + "?" + urllib.parse.urlencode(q)


class Collector:
    """Reads a tail's messages into entries [(labels, ts, line, extra)],
    keeping the raw frames and noting shape problems."""

    def __init__(self, ws):
        self.ws = ws
        self.entries = []
        self.frames = []
        self.problems = []
        self.closed = None

    def read(self, timeout):
        m = self.ws.next_message(timeout)
        if m is None:
            return False
        if isinstance(m, tuple):
            self.closed = m
            return False
        try:
            obj = json.loads(m)
        except ValueError:
            self.problems.append("not JSON: %r" % m[:200])
            return True
        self.frames.append(obj)
        if set(obj) - {"streams", "dropped_entries", "encodingFlags"} or "streams" not in obj:
            self.problems.append("frame keys: %s" % sorted(obj))
        if "dropped_entries" in obj:
            self.problems.append("dropped_entries present: %r" % obj["dropped_entries"][:3])
        if len(obj.get("streams", [])) > 100:
            self.problems.append("more than 100 entries in a frame")
        for s in obj.get("streams", []):
            if set(s) != {"stream", "values"} or len(s["values"]) != 1:
                self.problems.append("stream object: %r" % s)
                continue
            v = s["values"][0]
            self.entries.append((s["stream"], int(v[0]), v[1], v[2] if len(v) > 2 else None))
        return True

    def until(self, n, timeout):
        """Read until at least n entries arrived or timeout."""
        deadline = time.monotonic() + timeout
        while len(self.entries) < n and time.monotonic() < deadline:
            if not self.read(deadline - time.monotonic()) and self.closed:
                break
        return self.entries

    def quiet(self, seconds):
        """Read for this long; returns the entries that arrived."""
        before = len(self.entries)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.read(deadline - time.monotonic()) and self.closed:
                break
        return self.entries[before:]


def lines_of(entries):
    return [e[2] for e in entries]


def is_sorted(entries):
    ts = [e[1] for e in entries]
    return ts == sorted(ts)


# ---- Checks ----

def check_refusals(srv):
    log("# errors before the upgrade")
    cases = [
        ({"query": 'count_over_time({app="tail"}[1m])'}, "only log selector is supported",
         "a metric query"),
        ({"query": '{app="tail"'}, "parse error", "a query that does not parse"),
        ({}, "query parameter is required", "no query"),
        ({"query": '{app="tail"}', "delay_for": "6"}, "delay_for can't be greater than 5",
         "delay_for 6"),
        ({"query": '{app="tail"}', "delay_for": "x"}, "invalid syntax", "delay_for not a number"),
        ({"query": '{app="tail"}', "limit": "-1"}, "limit must be a positive value", "limit -1"),
        ({"query": '{app="tail"}', "start": "yesterday"}, "invalid start", "a bad start"),
    ]
    for params, text, what in cases:
        ws = WS(srv.port, TAIL + "?" + urllib.parse.urlencode(params), headers=A)
        check_eq(ws.status, 400, "tail refuses %s with 400 before the upgrade" % what)
        check_in(text, ws.body.decode("utf-8", "replace"), "tail: %s: Loki's message" % what)
        check(ws.headers.get("content-type", "").startswith("text/plain"),
              "tail: %s: plain text like other Loki errors" % what, ws.headers)
    r = srv.get(tail_path('{app="tail"}'), headers=A)
    check_status(r, 400, "tail: a plain GET without WebSocket headers")
    check_eq(r.text(), "Bad Request\n", "tail: plain GET: gorilla/websocket's body")
    ws = WS(srv.port, tail_path('{app="tail"}'), headers=A, version="8")
    check_eq(ws.status, 400, "tail: Sec-WebSocket-Version 8 is refused")
    check_eq(ws.headers.get("sec-websocket-version"), "13", "tail: the refusal names version 13")
    ws = WS(srv.port, tail_path('{app="tail"}'))
    check_eq(ws.status, 401, "tail without a token: 401 as other routes")


def check_initial(srv, old):
    log("# the first frames: entries since start")
    ws = WS(srv.port, tail_path('{app="tail",run="%s"} |= "match"' % RUN), headers=A)
    check_eq(ws.status, 101, "tail: 101 Switching Protocols")
    check(ws.accept_ok(), "tail: Sec-WebSocket-Accept is base64(SHA-1(key + GUID))", ws.headers)
    check_eq(ws.headers.get("upgrade", "").lower(), "websocket", "tail: Upgrade: websocket")
    c = Collector(ws)
    want = [x for x in old if "match" in x[1] and x[0] >= time.time_ns() - 3600 * NS]
    c.until(len(want), 30)
    c.quiet(1.5)
    check_eq([(e[1], e[2]) for e in c.entries], [(x[0], x[1]) for x in want],
             "tail: first frames hold the matching entries of the last hour, oldest first, once")
    check(all(e[0] == {"app": "tail", "run": RUN} for e in c.entries),
          "tail: each entry carries its stream labels", c.entries[:3])
    check(not c.problems, "tail: frames have Loki's shape", c.problems[:5])
    ws.close()

    ws = WS(srv.port, tail_path('{app="tail",run="%s"} |= "match"' % RUN, limit=3), headers=A)
    c = Collector(ws)
    c.until(3, 30)
    c.quiet(1.0)
    check_eq([e[2] for e in c.entries], [x[1] for x in want[-3:]],
             "tail limit=3: the newest three, oldest first")
    ws.close()

    start = want[2][0]
    ws = WS(srv.port, tail_path('{app="tail",run="%s"} |= "match"' % RUN, start=start),
            headers=A)
    c = Collector(ws)
    c.until(len(want) - 2, 30)
    c.quiet(1.0)
    check_eq([e[2] for e in c.entries], [x[1] for x in want[2:]],
             "tail start=<ns>: entries from start on")
    ws.close()


def check_live(srv):
    log("# live entries")
    ws = WS(srv.port, tail_path('{app="tail",run="%s"} |= "match"' % RUN,
                                start=time.time_ns()), headers=A)
    check_eq(ws.status, 101, "live tail opens")
    c = Collector(ws)
    c.quiet(1.0)
    check_eq(c.entries, [], "live tail: nothing before the new pushes")
    want = []
    for i in range(12):
        now = time.time_ns()
        lines = [(now, "live-%02d match" % i), (now + 1, "live-%02d skip" % i)]
        if i % 4 == 0:
            push(srv, A, [({"app": "tail", "run": RUN}, lines)], "push live %d (two lines)" % i)
        else:
            for ln in lines:
                push(srv, A, [({"app": "tail", "run": RUN}, [ln])], "push %r" % ln[1])
        want.append("live-%02d match" % i)
        push(srv, A, [({"app": "other", "run": RUN}, [(now + 2, "other-%02d match" % i)])],
             "push to another stream %d" % i)
        push(srv, B, [({"app": "tail", "run": RUN}, [(now + 3, "beta-%02d match" % i)])],
             "push to tenant beta %d" % i)
        if i == 5:
            # Some entries arrive while the tail waits between polls.
            time.sleep(0.7)
    c.until(len(want), 30)
    # Several polls re-read the window: nothing may come twice.
    c.quiet(3.0)
    check_eq(lines_of(c.entries), want,
             "live tail: new matching lines arrive once each, in order, nothing else")
    check(is_sorted(c.entries), "live tail: timestamps ascending")
    check(not any("beta" in line for line in lines_of(c.entries)),
          "live tail: another tenant's lines never appear")
    check(not c.problems, "live tail: frames have Loki's shape", c.problems[:5])
    check(ws.pings >= 2, "live tail: the server pings about every second (%d pings)" % ws.pings)

    # A ping from the client gets a pong with the same payload.
    ws.send_frame(0x9, b"are you there")
    deadline = time.monotonic() + 5
    while not ws.pongs and time.monotonic() < deadline:
        c.read(0.5)
    check_eq(ws.pongs[:1], [b"are you there"], "live tail: the client's ping is answered")

    # The close handshake.
    ws.send_frame(0x8, struct.pack(">H", 1000) + b"bye")
    m = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m = ws.next_message(1)
        if isinstance(m, tuple):
            break
    check_eq(m[:2] if isinstance(m, tuple) else m, ("close", 1000),
             "live tail: the client's close 1000 is echoed")
    check(ws.wait_eof(), "live tail: the server then ends the connection")
    ws.close()


def check_pipeline_and_meta(srv):
    log("# pipeline, structured metadata, categorize-labels, delay_for")
    q = '{app="tail",run="%s"} | logfmt | level="error"' % RUN
    plain = WS(srv.port, tail_path(q, start=time.time_ns()), headers=A)
    cat_h = dict(A)
    cat_h["X-Loki-Response-Encoding-Flags"] = "categorize-labels"
    cat = WS(srv.port, tail_path(q, start=time.time_ns()), headers=cat_h)
    check_eq((plain.status, cat.status), (101, 101), "tails with a parser stage open")
    now = time.time_ns()
    push(srv, A, [({"app": "tail", "run": RUN},
                   [(now, "level=error msg=boom", {"trace_id": "t1"}),
                    (now + 1, "level=info msg=fine", {"trace_id": "t2"})])],
         "push logfmt lines with structured metadata")
    cp, cc = Collector(plain), Collector(cat)
    cp.until(1, 30)
    cc.until(1, 30)
    cp.quiet(1.0)
    cc.quiet(0.2)
    check_eq([(e[0], e[2]) for e in cp.entries],
             [({"app": "tail", "run": RUN, "level": "error", "msg": "boom", "trace_id": "t1"},
               "level=error msg=boom")],
             "tail | logfmt | level=\"error\": only the error line, parsed labels and metadata "
             "as labels")
    check_eq([(e[0], e[2], e[3]) for e in cc.entries],
             [({"app": "tail", "run": RUN}, "level=error msg=boom",
               {"structuredMetadata": {"trace_id": "t1"},
                "parsed": {"level": "error", "msg": "boom"}})],
             "categorize-labels: stream labels apart, metadata and parsed labels per entry")
    check(cc.frames and all(f.get("encodingFlags") == ["categorize-labels"] for f in cc.frames),
          "categorize-labels: frames carry encodingFlags", cc.frames[:2])
    plain.close()
    cat.close()

    ws = WS(srv.port, tail_path('{app="tail",run="%s"} |= "delayed"' % RUN, delay_for=5,
                                start=time.time_ns()), headers=A)
    check_eq(ws.status, 101, "tail delay_for=5 opens")
    c = Collector(ws)
    push(srv, A, [({"app": "tail", "run": RUN}, [(time.time_ns() - 2 * NS, "delayed line")])],
         "push a line two seconds old")
    early = c.quiet(1.2)
    check_eq(lines_of(early), [], "delay_for=5: a two-second-old entry is held back at first")
    c.until(1, 30)
    check_eq(lines_of(c.entries), ["delayed line"], "delay_for=5: then it is sent")
    ws.close()


def check_protocol_error(srv):
    log("# protocol errors")
    ws = WS(srv.port, tail_path('{app="tail",run="%s"}' % RUN, start=time.time_ns()),
            headers=A)
    ws.send_frame(0x1, b"unmasked", mask=False)
    m = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m = ws.next_message(1)
        if isinstance(m, tuple):
            break
    check(isinstance(m, tuple) and m[1] == 1002,
          "tail: an unmasked client frame gets close 1002", m)
    check(ws.wait_eof(), "tail: and the connection ends")
    ws.close()


def check_slow_client(srv):
    log("# a client that does not keep up")
    ws = WS(srv.port, tail_path('{app="slow",run="%s"}' % RUN, start=time.time_ns()), headers=A)
    check_eq(ws.status, 101, "slow client: tail opens")
    # 30 MB of matching lines while the client reads nothing: more than
    # the socket buffers and the server's 4 MiB of queued frames hold.
    pad = "x" * 1000
    total = 0
    for b in range(30):
        now = time.time_ns()
        vals = [(now + i, "%02d-%04d %s" % (b, i, pad)) for i in range(1000)]
        total += len(vals)
        push(srv, A, [({"app": "slow", "run": RUN}, vals)], "slow client: push batch %d" % b)
    time.sleep(2)
    c = Collector(ws)
    dropped = []
    most = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and c.read(4):
        d = c.frames[-1].get("dropped_entries", [])
        dropped += d
        most = max(most, len(d))
    got = [(e[1], e[2]) for e in c.entries]
    check(dropped and most <= 1000,
          "slow client: Loki's dropped_entries reported (%d, at most 1000 a frame), %d of %d "
          "lines sent" % (len(dropped), len(got), total))
    check(dropped and all(set(d) == {"timestamp", "labels"} and d["labels"] ==
                          {"app": "slow", "run": RUN} and d["timestamp"].isdigit()
                          for d in dropped),
          "slow client: each dropped entry has its timestamp and labels", dropped[:2])
    check(got == sorted(got) and len(set(got)) == len(got) and len(got) + len(dropped) <= total,
          "slow client: what was sent is in order, once each")
    ws.close()


def check_limit(srv):
    log("# --tail-max-connections 3")
    path = tail_path('{app="tail",run="%s"} |= "nothing-matches"' % RUN, start=time.time_ns())
    # The tails of the checks before give their slots back once their
    # threads have ended: try until three fit.
    open_ = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        open_ = [WS(srv.port, path, headers=A) for _ in range(3)]
        if all(w.status == 101 and w.next_message(0.5) is None for w in open_):
            break
        for w in open_:
            w.close()
        time.sleep(0.5)
    check_eq([w.status for w in open_], [101, 101, 101], "three tails open")
    extra = WS(srv.port, path, headers=B)
    check_eq(extra.status, 101, "a fourth tail gets the upgrade (as in Loki)")
    m = extra.next_message(5)
    check_eq(m, ("close", 1011, "max concurrent tail requests limit exceeded, count > limit "
                                "(4 > 3)"),
             "a fourth tail is closed with 1011 and Loki's message")
    extra.close()
    # Still open: the three first ones get pings, not a close.
    alive = [w.next_message(1.5) for w in open_]
    check(all(m is None for m in alive) and all(w.pings for w in open_),
          "the three tails stay open", alive)
    # One ends with a close handshake, one by dropping the connection.
    open_[0].send_frame(0x8, struct.pack(">H", 1000))
    open_[0].wait_eof()
    open_[0].close()
    open_[1].sock.shutdown(socket.SHUT_RDWR)
    open_[1].close()
    ok = t.wait_until(lambda: _try_tail(srv, path), 10, 0.3)
    check(ok, "slots come back after a close handshake and after a dropped connection")
    open_[2].close()


def _try_tail(srv, path):
    """Open two tails at once; True when both stay open."""
    ws = [WS(srv.port, path, headers=A) for _ in range(2)]
    try:
        if any(w.status != 101 for w in ws):
            return False
        return all(w.next_message(0.8) is None for w in ws)
    finally:
        for w in ws:
            w.close()


def check_sigterm(srv):
    log("# SIGTERM with tails open")
    path = tail_path('{app="tail",run="%s"}' % RUN, start=time.time_ns())
    tails = [WS(srv.port, path, headers=A) for _ in range(2)]
    check_eq([w.status for w in tails], [101, 101], "two tails open before SIGTERM")
    for w in tails:
        Collector(w).quiet(0.5)
    t0 = time.monotonic()
    rc = srv.stop(timeout=60)
    took = time.monotonic() - t0
    check_eq(rc, 0, "SIGTERM with tails open: the server exits 0")
    check(took < 15, "SIGTERM with tails open: stopped in %.1f s (the fallback waits 30 s)" % took)
    for i, w in enumerate(tails):
        m = None
        try:
            while True:
                m = w.next_message(2)
                if m is None or isinstance(m, tuple):
                    break
        except (WSClosed, OSError):
            pass
        check(isinstance(m, tuple) and m[1] == 1001,
              "SIGTERM: tail %d got close 1001 (going away)" % i, m)
        w.close()
    check_eq(srv.sanitizer_reports(), [], "no sanitizer reports in the server log")


def main():
    srv = t.Server(name="tail", args=["--auth-token", "tokA=alpha", "--auth-token", "tokB=beta",
                                      "--tail-max-connections", "3"])
    srv.start()
    now = time.time_ns()
    # Old entries: one before the default start (2 h ago), six in the last
    # hour, matching or not.
    old = [(now - 2 * 3600 * NS, "ancient match")]
    for i in range(6):
        ts = now - (50 - i) * 60 * NS
        old.append((ts, "old-%d match" % i))
        old.append((ts + 1, "old-%d other" % i))
    push(srv, A, [({"app": "tail", "run": RUN}, old)], "push old lines (alpha)")
    push(srv, B, [({"app": "tail", "run": RUN}, [(now - 40 * 60 * NS, "beta-old match")])],
         "push an old line (beta)")
    check_refusals(srv)
    check_initial(srv, old)
    check_live(srv)
    check_pipeline_and_meta(srv)
    check_protocol_error(srv)
    check_slow_client(srv)
    check_limit(srv)
    check_sigterm(srv)


if __name__ == "__main__":
    t.run_main(main)
