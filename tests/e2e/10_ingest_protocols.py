#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: every metric ingestion protocol against a real server.

Writes through Prometheus remote write (/api/v1/push, /api/v1/write,
/prometheus/api/v1/write; snappy with and without Content-Encoding, chunked
bodies, stale markers and other special floats, native histograms,
metadata), InfluxDB line protocol (/write with gzip, deflate, an empty and a
form Content-Type, leading spaces, every precision; /api/v2/write) and
DataKit (/v1/write/metric, line protocol and JSON). Then checks through
/api/v1/series, /labels, /label/<name>/values (GET, form POST, and under
/prometheus/api/v1/) and /api/v1/export that exactly what was sent is
stored, values and timestamps bit for bit, also once sealed into parts by
POST /api/v1/admin/flush and after a restart.
Error cases must answer the right status with a message naming the problem
and store nothing from the failed request.
"""
import gzip
import json
import os
import sys
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import Bits, check, check_eq, check_status, log  # noqa: E402

T0 = 1_700_000_000_000  # ms
ALL = '{__name__=~".+"}'

# What the store must hold: labels key -> [(ts, value)], and histograms.
expected = {}
expected_hists = {}


def key(**labels):
    return frozenset(labels.items())


def expect(labels, samples):
    expected.setdefault(frozenset(labels.items()), []).extend(samples)


def expect_hist(labels, hists):
    k = frozenset(labels.items())
    expected.setdefault(k, [])
    expected_hists.setdefault(k, []).extend(hists)


def rw_headers(ce="snappy"):
    h = {"Content-Type": "application/x-protobuf", "X-Prometheus-Remote-Write-Version": "0.1.0",
         "User-Agent": "Prometheus/2.42.0"}
    if ce:
        h["Content-Encoding"] = ce
    return h


def is_prom_error(resp, words, what, error_type="bad_data"):
    """The body is Prometheus' error JSON and the message names the problem
    (contains one of words, case-insensitive)."""
    try:
        j = resp.json()
    except Exception:
        return check(False, what + ": error body is JSON", resp.body[:300])
    ok = (isinstance(j, dict) and j.get("status") == "error" and j.get("errorType") == error_type
          and isinstance(j.get("error"), str))
    check(ok, what + ": error JSON {status:error, errorType:%s, error}" % error_type, j)
    msg = (j.get("error") or "") if isinstance(j, dict) else ""
    return check(any(w.lower() in msg.lower() for w in words),
                 what + ": message names the problem (%s)" % " / ".join(words), msg)


def msg_names(resp, words, what):
    text = resp.text()
    return check(any(w.lower() in text.lower() for w in words),
                 what + ": message names the problem (%s)" % " / ".join(words), text[:400])


# ---- Remote write ----

def remote_write_cases(s):
    log("# remote write")
    push_series = [
        ([("__name__", "rw_push"), ("instance", "host:9100"), ("job", "push")],
         [(T0, 0.1), (T0 + 15000, -2.5e-300), (T0 + 30000, 1.7976931348623157e308),
          (T0 + 45000, 42.0), (T0 + 60000, 123456789.123456789)]),
        ([("__name__", "rw_push"), ("instance", 'q"uo\\te ünï 😀'), ("job", "push")],
         [(T0, 5e-324), (T0 + 1, -0.5)]),
    ]
    body = t.snappy_encode(t.write_request(push_series))
    r = s.request("POST", "/api/v1/push", body, rw_headers("snappy"))
    check_status(r, 204, "remote write /api/v1/push, Content-Encoding: snappy")
    for labels, samples in push_series:
        expect(dict(labels), samples)

    ser = [([("__name__", "rw_write"), ("job", "nohdr")], [(T0 + i * 1000, i * 1.5) for i in range(10)])]
    r = s.request("POST", "/api/v1/write", t.snappy_encode(t.write_request(ser)), rw_headers(None))
    check_status(r, 204, "remote write /api/v1/write, raw snappy without Content-Encoding")
    expect(dict(ser[0][0]), ser[0][1])

    ser = [([("__name__", "rw_prefixed"), ("job", "p")], [(T0, 7.0)])]
    r = s.request("POST", "/prometheus/api/v1/write", t.snappy_encode(t.write_request(ser)),
                  rw_headers())
    check_status(r, 204, "remote write /prometheus/api/v1/write")
    expect(dict(ser[0][0]), ser[0][1])

    # Chunked transfer: no Content-Length, the body in small pieces.
    ser = [([("__name__", "rw_chunked"), ("job", "c"), ("n", str(i))],
            [(T0 + k, float(i * 100 + k)) for k in range(20)]) for i in range(30)]
    body = t.snappy_encode(t.write_request(ser))
    r = s.request("POST", "/api/v1/write", [body[i:i + 97] for i in range(0, len(body), 97)],
                  rw_headers(), chunked=True)
    check_status(r, 204, "remote write with Transfer-Encoding: chunked (%d bytes)" % len(body))
    for labels, samples in ser:
        expect(dict(labels), samples)
    ser = [([("__name__", "rw_chunked_nohdr"), ("job", "c")], [(T0, 1.0), (T0 + 1, 2.0)])]
    body = t.snappy_encode(t.write_request(ser))
    r = s.request("POST", "/api/v1/push", [body[:5], body[5:]], rw_headers(None), chunked=True)
    check_status(r, 204, "remote write chunked without Content-Encoding")
    expect(dict(ser[0][0]), ser[0][1])

    # Special values: the stale marker's payload must survive.
    stale = Bits(t.STALE_NAN_BITS)
    specials = [
        ([("__name__", "rw_special"), ("kind", "stale")], [(T0, 1.0), (T0 + 1000, stale), (T0 + 2000, 2.0)]),
        ([("__name__", "rw_special"), ("kind", "nan")], [(T0, float("nan"))]),
        ([("__name__", "rw_special"), ("kind", "inf")], [(T0, float("inf")), (T0 + 1, float("-inf"))]),
        ([("__name__", "rw_special"), ("kind", "only_stale")], [(T0, stale)]),
        ([("__name__", "rw_special"), ("kind", "zero_ts")], [(0, 3.0)]),
        ([("__name__", "rw_special"), ("kind", "negative_ts")], [(-5000, 4.0), (-1, 5.0)]),
    ]
    r = s.remote_write(specials)
    check_status(r, 204, "remote write of stale marker, NaN, +-Inf, zero and negative timestamps")
    for labels, samples in specials:
        expect(dict(labels), samples)

    # Native histograms (integer counts), two samples, plus a float series
    # in the same request.
    h1 = t.pb_histogram(T0 + 1000, count=6, zero_count=1, sum_=12.5, schema=3,
                        zero_threshold=1e-128, spans=[(0, 2), (3, 1)], deltas=[2, 1, -1])
    h2 = t.pb_histogram(T0 + 2000, count=9, zero_count=2, sum_=20.25, schema=3,
                        zero_threshold=1e-128, spans=[(0, 2), (3, 1)], deltas=[3, 1, -1])
    ser = [([("__name__", "rw_hist"), ("job", "h")], [], [h1, h2]),
           ([("__name__", "rw_hist_sum"), ("job", "h")], [(T0 + 1000, 12.5)])]
    r = s.remote_write(ser)
    check_status(r, 204, "remote write of native histogram samples")
    expect_hist({"__name__": "rw_hist", "job": "h"}, [(T0 + 1000, h1), (T0 + 2000, h2)])
    expect({"__name__": "rw_hist_sum", "job": "h"}, [(T0 + 1000, 12.5)])

    # Metadata alone, and metadata riding with samples.
    meta = [("rw_meta_total", "counter", "Total things done.", "seconds"),
            ("rw_meta_gauge", "gauge", "A gauge with \"quotes\" and ünï.", "")]
    r = s.remote_write([], meta)
    check_status(r, 204, "remote write with metadata only")
    ser = [([("__name__", "rw_meta_summary"), ("job", "m")], [(T0, 1.0)])]
    r = s.remote_write(ser, [("rw_meta_summary", "summary", "A summary.", "bytes")])
    check_status(r, 204, "remote write with samples and metadata")
    expect(dict(ser[0][0]), ser[0][1])


def check_metadata(s, what):
    md = s.get_json("/api/v1/metadata")["data"]
    want = {
        "rw_meta_total": [{"type": "counter", "help": "Total things done.", "unit": "seconds"}],
        "rw_meta_gauge": [{"type": "gauge", "help": "A gauge with \"quotes\" and ünï.", "unit": ""}],
        "rw_meta_summary": [{"type": "summary", "help": "A summary.", "unit": "bytes"}],
    }
    check_eq(md, want, what + ": GET /api/v1/metadata has exactly the metadata sent")
    one = s.get_json("/api/v1/metadata", {"metric": "rw_meta_total"})["data"]
    check_eq(one, {"rw_meta_total": want["rw_meta_total"]}, what + ": /api/v1/metadata?metric=")
    r = s.post_form("/prometheus/api/v1/metadata", {"metric": "rw_meta_gauge"})
    check_status(r, 200, what + ": form POST /prometheus/api/v1/metadata")
    if r.status == 200:
        check_eq(r.json()["data"], {"rw_meta_gauge": want["rw_meta_gauge"]},
                 what + ": form POST metadata answer")


# ---- Line protocol and DataKit ----

def lp(s, path, body, headers=None, want=204, what="", chunked=False):
    r = s.request("POST", path, body, headers or {}, chunked=chunked)
    check_status(r, want, what or ("line protocol " + path))
    return r


def line_protocol_cases(s):
    log("# line protocol")
    body = (b"lp_gzip,host=a usage=0.5,idle=99i 1700000000\n"
            b"lp_gzip,host=b usage=1.25 1700000001\n")
    lp(s, "/write?db=app&precision=s", gzip.compress(body), {"Content-Encoding": "gzip"},
       what="/write with Content-Encoding: gzip")
    expect({"__name__": "lp_gzip_usage", "db": "app", "host": "a"}, [(T0, 0.5)])
    expect({"__name__": "lp_gzip_idle", "db": "app", "host": "a"}, [(T0, 99.0)])
    expect({"__name__": "lp_gzip_usage", "db": "app", "host": "b"}, [(T0 + 1000, 1.25)])

    lp(s, "/write?db=app&precision=ms", zlib.compress(b"lp_deflate,host=a v=-3 1700000000000\n"),
       {"Content-Encoding": "deflate"}, what="/write with Content-Encoding: deflate")
    expect({"__name__": "lp_deflate_v", "db": "app", "host": "a"}, [(T0, -3.0)])

    lp(s, "/write?db=app&precision=ms", b"lp_noct,host=a v=1 1700000000000\n",
       {"Content-Type": ""}, what="/write with an empty Content-Type")
    expect({"__name__": "lp_noct_v", "db": "app", "host": "a"}, [(T0, 1.0)])

    lp(s, "/write?db=app&precision=ms", b"lp_form,host=a v=2 1700000000000\nlp_form,host=b v=3 1700000000000",
       {"Content-Type": "application/x-www-form-urlencoded"},
       what="/write with Content-Type application/x-www-form-urlencoded")
    expect({"__name__": "lp_form_v", "db": "app", "host": "a"}, [(T0, 2.0)])
    expect({"__name__": "lp_form_v", "db": "app", "host": "b"}, [(T0, 3.0)])

    lp(s, "/write?db=app&precision=ms",
       b"   lp_space,host=a v=4 1700000000000\n\n# a comment\n lp_space,host=b v=5 1700000000000\r\n",
       what="/write with leading spaces, a blank line, a comment and CRLF")
    expect({"__name__": "lp_space_v", "db": "app", "host": "a"}, [(T0, 4.0)])
    expect({"__name__": "lp_space_v", "db": "app", "host": "b"}, [(T0, 5.0)])

    lp(s, "/write?db=app&precision=ms", [b"lp_chunk,host=a v=6 17000", b"00000000\nlp_chunk,host=b v=7 1700000000001\n"],
       chunked=True, what="/write with Transfer-Encoding: chunked")
    expect({"__name__": "lp_chunk_v", "db": "app", "host": "a"}, [(T0, 6.0)])
    expect({"__name__": "lp_chunk_v", "db": "app", "host": "b"}, [(T0 + 1, 7.0)])

    # Precisions: all land on ms, cut toward minus infinity.
    precisions = [
        ("s", b"1700000000", T0),
        ("ms", b"1700000000123", T0 + 123),
        ("u", b"1700000000123456", T0 + 123),
        ("us", b"1700000000456999", T0 + 456),
        ("ns", b"1700000000123456789", T0 + 123),
        ("", b"1700000000999999999", T0 + 999),
        ("m", b"28333334", 28333334 * 60000),
        ("h", b"472223", 472223 * 3600000),
    ]
    for p, ts, want_ms in precisions:
        path = "/write?db=prec" + ("&precision=" + p if p else "")
        lp(s, path, b"lp_prec,p=" + (p or "none").encode() + b" v=1.5 " + ts,
           what="/write precision=%s" % (p or "(default ns)"))
        expect({"__name__": "lp_prec_v", "db": "prec", "p": p or "none"}, [(want_ms, 1.5)])

    lp(s, "/api/v2/write?bucket=b&org=o&precision=ms", b"lp_v2,host=a v=8,n=9i 1700000000000\n",
       what="/api/v2/write?bucket=b")
    expect({"__name__": "lp_v2_v", "bucket": "b", "host": "a"}, [(T0, 8.0)])
    expect({"__name__": "lp_v2_n", "bucket": "b", "host": "a"}, [(T0, 9.0)])
    lp(s, "/api/v2/write?bucket=b&precision=s", gzip.compress(b"lp_v2gz,host=a v=1 1700000000"),
       {"Content-Encoding": "gzip"}, what="/api/v2/write with gzip")
    expect({"__name__": "lp_v2gz_v", "bucket": "b", "host": "a"}, [(T0, 1.0)])

    # Field types, escapes, and a tag named like the db label.
    lp(s, "/write?db=types&precision=ms",
       b'lp_types,host=a,sp\\ ace=x\\,y f=1.5,i=-7i,u=7u,b=t,bf=FALSE,s="skipped" 1700000000000\n'
       b'lp_types,db=mine,host=z f=2 1700000000000\n',
       what="/write with every field type and escaped tags")
    for name, v in (("f", 1.5), ("i", -7.0), ("u", 7.0), ("b", 1.0), ("bf", 0.0)):
        expect({"__name__": "lp_types_" + name, "db": "types", "host": "a", "sp_ace": "x,y"}, [(T0, v)])
    expect({"__name__": "lp_types_f", "db": "mine", "host": "z"}, [(T0, 2.0)])

    r = s.request("GET", "/ping")
    check_status(r, 204, "GET /ping")
    check(r.header("X-Influxdb-Version"), "GET /ping carries X-Influxdb-Version", r.headers)

    log("# DataKit")
    r = s.request("POST", "/v1/write/metric?precision=s&input=e2e",
                  b'dk_mem,host=a used=12i,free=3.5,name="x" 1700000000\n'
                  b'dk_mem,host=b used=13i 1700000001\n')
    check_status(r, 200, "DataKit /v1/write/metric with line protocol")
    check(r.header("X-DataKit"), "DataKit write answer carries X-DataKit", r.headers)
    expect({"__name__": "dk_mem_used", "host": "a"}, [(T0, 12.0)])
    expect({"__name__": "dk_mem_free", "host": "a"}, [(T0, 3.5)])
    expect({"__name__": "dk_mem_used", "host": "b"}, [(T0 + 1000, 13.0)])

    doc = [{"measurement": "dk_json", "tags": {"host": "b", "t2": "d"},
            "fields": {"f1": 123, "f2": 3.4, "f3": "strval", "ok": True}, "time": 1700000000123},
           {"measurement": "dk_json", "tags": {"host": "c"}, "fields": {"f1": -1},
            "time": 1700000000124}]
    r = s.request("POST", "/v1/write/metric?precision=ms", json.dumps(doc).encode(),
                  {"Content-Type": "application/json"})
    check_status(r, 200, "DataKit /v1/write/metric with a JSON body")
    check(r.header("X-DataKit"), "DataKit JSON write answer carries X-DataKit", r.headers)
    for f, v in (("f1", 123.0), ("f2", 3.4), ("ok", 1.0)):
        expect({"__name__": "dk_json_" + f, "host": "b", "t2": "d"}, [(T0 + 123, v)])
    expect({"__name__": "dk_json_f1", "host": "c"}, [(T0 + 124, -1.0)])
    r = s.request("POST", "/v1/write/metric",
                  json.dumps({"measurement": "dk_json1", "fields": {"v": 1},
                              "tags": {"host": "n"}, "time": 1700000000000000000}).encode(),
                  {"Content-Type": "application/json; charset=utf-8"})
    check_status(r, 200, "DataKit JSON single object, default precision n")
    expect({"__name__": "dk_json1_v", "host": "n"}, [(T0, 1.0)])

    r = s.request("GET", "/v1/ping")
    check_status(r, 200, "GET /v1/ping")
    check(r.header("X-DataKit"), "GET /v1/ping carries X-DataKit", r.headers)


# ---- Errors ----

def error_cases(s):
    log("# error cases (nothing from a failed request may be stored)")
    good = ([("__name__", "err_good"), ("job", "e")], [(T0, 1.0)])

    # Malformed protobuf after a good series: length runs past the end.
    body = t.write_request([good]) + b"\x0a\x10\x0a\x05ab"
    r = s.request("POST", "/api/v1/write", t.snappy_encode(body), rw_headers())
    check_status(r, 400, "malformed protobuf (length past the end)")
    is_prom_error(r, ["offset", "length", "truncated", "protobuf"], "malformed protobuf")

    body = t.write_request([good]) + b"\x08\x01"
    r = s.request("POST", "/api/v1/write", t.snappy_encode(body), rw_headers())
    check_status(r, 400, "malformed protobuf (field 1 with the wrong wire type)")
    is_prom_error(r, ["wire type"], "malformed protobuf wire type")

    body = t.write_request([good]) + b"\x0a\x03\x0a\x01\x0a"  # a label that is cut short
    r = s.request("POST", "/api/v1/write", t.snappy_encode(body), rw_headers())
    check_status(r, 400, "malformed protobuf (truncated label)")

    # Bad snappy with the header saying snappy.
    r = s.request("POST", "/api/v1/write", b"\xff\xff\xff\xff\x0f\x01\x02\x03garbage", rw_headers())
    check_status(r, 400, "bad snappy body")
    is_prom_error(r, ["snappy"], "bad snappy body")
    real = t.snappy_encode(t.write_request([good]))
    r = s.request("POST", "/api/v1/write", real[:-3], rw_headers())
    check_status(r, 400, "truncated snappy body")
    is_prom_error(r, ["snappy"], "truncated snappy body")

    bad_series = [
        ("invalid label name", [("__name__", "err_badname"), ("bad-name", "x")], ["invalid label name", "bad-name"]),
        ("label name starting with a digit", [("__name__", "err_digit"), ("0abc", "x")], ["invalid label name", "0abc"]),
        ("duplicate labels", [("__name__", "err_dup"), ("a", "1"), ("a", "2")], ["duplicate"]),
        ("unsorted labels", [("__name__", "err_unsorted"), ("b", "1"), ("a", "2")], ["sorted"]),
        ("missing metric name", [("job", "err_noname")], ["__name__", "metric name"]),
        ("invalid metric name", [("__name__", "1err-bad")], ["metric name"]),
        ("no labels at all", [], ["label"]),
        ("label value not UTF-8", [("__name__", "err_utf8"), ("v", "\udcff")], ["utf-8", "utf8"]),
    ]
    for what, labels, words in bad_series:
        enc = [(n, v.encode("utf-8", "surrogateescape")) for n, v in labels]
        ser = t.pb_timeseries(enc, [(T0, 2.0)])
        r = s.remote_write([good, ser])
        check_status(r, 400, "remote write with " + what)
        is_prom_error(r, words, what)

    # Line protocol: one bad line among good ones.
    body = (b"err_lp,host=a v=1 1700000000000\n"
            b"err_lp,host=b v= 1700000000000\n"
            b"err_lp,host=c v=3 1700000000000\n")
    r = s.request("POST", "/write?db=e&precision=ms", body)
    check_status(r, 400, "line protocol with one bad line among good ones")
    msg_names(r, ["line 2"], "bad line protocol")
    r = s.request("POST", "/api/v2/write?bucket=e&precision=ms",
                  b"err_lp2,host=a v=1 1700000000000\nerr_lp2,host=b v=1 1700000000000 extra\n")
    check_status(r, 400, "/api/v2/write with one bad line")
    msg_names(r, ["line 2"], "bad line protocol v2")
    r = s.request("POST", "/v1/write/metric?precision=ms",
                  b"err_dk,host=a v=1 1700000000000\nerr_dk,host=b v=\"unterminated 1700000000000\n")
    check_status(r, 400, "DataKit line protocol with one bad line")
    check(r.header("X-DataKit"), "DataKit error answer carries X-DataKit", r.headers)
    r = s.request("POST", "/v1/write/metric?precision=ms",
                  b'[{"measurement":"err_dkj","fields":{"v":1},"time":1700000000000},'
                  b'{"measurement":"err_dkj","fields":{"v":[1]},"time":1700000000000}]',
                  {"Content-Type": "application/json"})
    check_status(r, 400, "DataKit JSON with one bad point")
    msg_names(r, ["point 1", "field"], "bad DataKit JSON")
    r = s.request("POST", "/write?db=e&precision=ms",
                  b"err_lpdup,host=a,host=b v=1 1700000000000\n")
    check_status(r, 400, "line protocol with a duplicate tag key")
    msg_names(r, ["duplicate"], "duplicate tag key")

    r = s.request("POST", "/api/v2/write?precision=ms", b"err_nobucket v=1 1700000000000")
    check_status(r, 400, "/api/v2/write without bucket")
    msg_names(r, ["bucket"], "missing bucket")
    r = s.request("POST", "/write?db=e&precision=fortnight", b"err_prec v=1 1700000000")
    check_status(r, 400, "/write with an invalid precision")
    msg_names(r, ["precision"], "invalid precision")

    # Encodings.
    r = s.request("POST", "/write?db=e", b"\x1f\x8b\x08\x00garbage-not-gzip",
                  {"Content-Encoding": "gzip"})
    check_status(r, 400, "/write with a corrupt gzip body")
    msg_names(r, ["gzip"], "corrupt gzip")
    r = s.request("POST", "/write?db=e&precision=ms", b"err_br v=1 1700000000000",
                  {"Content-Encoding": "br"})
    check_status(r, 415, "/write with unknown Content-Encoding br")
    msg_names(r, ["br", "encoding"], "unknown encoding")
    r = s.request("POST", "/api/v1/write", t.snappy_encode(t.write_request([good])),
                  rw_headers("br"))
    check_status(r, 415, "remote write with unknown Content-Encoding br")
    msg_names(r, ["br", "encoding"], "unknown encoding (remote write)")

    # Query errors: the Prometheus error shape.
    for path in ("/api/v1/series", "/prometheus/api/v1/series"):
        r = s.get(path)
        check_status(r, 400, "GET %s without match[]" % path)
        try:
            j = r.json()
        except Exception:
            j = None
        check(isinstance(j, dict) and set(j) == {"status", "errorType", "error"}
              and j["status"] == "error" and j["errorType"] == "bad_data" and j["error"],
              "%s without match[]: {status, errorType: bad_data, error}" % path, j)
    r = s.get("/api/v1/series", {"match[]": "{job=~\"(\"}"})
    check_status(r, 400, "series with an invalid regular expression")
    r = s.get("/api/v1/label/bad-name/values")
    check_status(r, 400, "label values of an invalid label name")

    leaked = s.series('{__name__=~"err.*"}')
    check_eq(leaked, [], "nothing from any failed request is stored")


# ---- Verification ----

def verify_all(s, what):
    log("# verify (%s)" % what)
    exported = s.export(ALL)
    t.compare_export(exported, expected, what + ": /api/v1/export holds exactly the samples sent")
    for k, hists in expected_hists.items():
        got = exported.get(k, {})
        check_eq(got.get("histograms"), [t.b64(h) for _, h in hists],
                 what + ": native histogram blobs of %s round-trip byte for byte" % t.fmt_labels(k))
        check_eq(got.get("histogram_timestamps"), [ts for ts, _ in hists],
                 what + ": native histogram timestamps of %s" % t.fmt_labels(k))
    stale = exported.get(key(__name__="rw_special", kind="stale"), {})
    check_eq(stale.get("values"), [1, None, 2], what + ": stale marker exported as null")

    want_sets = sorted(sorted(k) for k in expected)
    names = sorted({n for k in expected for n, _ in k})
    for prefix in ("/api/v1", "/prometheus/api/v1"):
        got = sorted(sorted(d.items()) for d in s.series(ALL, prefix=prefix))
        check_eq(got, want_sets, what + ": GET %s/series returns every series sent" % prefix)
        r = s.post_form(prefix + "/series", {"match[]": [ALL]})
        got = sorted(sorted(d.items()) for d in r.json()["data"]) if r.status == 200 else r.status
        check_eq(got, want_sets, what + ": form POST %s/series" % prefix)
        check_eq(s.get_json(prefix + "/labels")["data"], names, what + ": GET %s/labels" % prefix)
        r = s.post_form(prefix + "/labels", {"match[]": ['{__name__="rw_push"}']})
        check_eq(r.json()["data"] if r.status == 200 else r.status,
                 ["__name__", "instance", "job"], what + ": form POST %s/labels with match[]" % prefix)
        for label in ("__name__", "job", "host", "db", "bucket", "instance"):
            want = sorted({v for k in expected for n, v in k if n == label})
            got = s.get_json("%s/label/%s/values" % (prefix, label))["data"]
            check_eq(got, want, what + ": GET %s/label/%s/values" % (prefix, label))
        r = s.post_form(prefix + "/label/host/values", {"match[]": ['{__name__="lp_gzip_usage"}']})
        check_eq(r.json()["data"] if r.status == 200 else r.status, ["a", "b"],
                 what + ": form POST %s/label/host/values with match[]" % prefix)

    got = s.series(['rw_push', '{__name__="rw_write"}'])
    check_eq(sorted(d["__name__"] for d in got), ["rw_push", "rw_push", "rw_write"],
             what + ": series with two match[] selectors")
    got = s.export('{__name__="lp_prec_v",p=~"u|us"}')
    check_eq(sorted(dict(k)["p"] for k in got), ["u", "us"], what + ": export with a regex matcher")
    got = s.get_json("/api/v1/series",
                     {"match[]": "rw_write", "start": str((T0 + 3000) / 1000), "end": str((T0 + 4000) / 1000)})
    check_eq(len(got["data"]), 1, what + ": series with start/end inside the data")
    r = s.get("/api/v1/export", {"match[]": "rw_write", "start": str((T0 + 3000) / 1000),
                                 "end": str((T0 + 5000) / 1000)})
    if check_status(r, 200, what + ": export with start and end"):
        rows = list(t.parse_export(r.body).values())
        check_eq([(row["timestamps"], row["values"]) for row in rows],
                 [([T0 + 3000, T0 + 4000, T0 + 5000], [4.5, 6, 7.5])],
                 what + ": export with start/end returns only that range (inclusive)")
    check_metadata(s, what)


# ---- Body limits ----

def body_limit_cases():
    log("# --max-body-size")
    s = t.Server(name="small", args=["--max-body-size", "2048"]).start()
    try:
        big = b"".join(b"big_lp,host=h%04d v=%d 1700000000000\n" % (i, i) for i in range(200))
        r = s.request("POST", "/write?db=x&precision=ms", big)
        check_status(r, 413, "line protocol body of %d bytes over --max-body-size 2048" % len(big))
        msg_names(r, ["limit", "large"], "body too large")
        r = s.request("POST", "/write?db=x&precision=ms", [big[i:i + 500] for i in range(0, len(big), 500)],
                      chunked=True)
        check_status(r, 413, "chunked line protocol body over --max-body-size")
        gz = gzip.compress(big)
        check(len(gz) < 2048, "gzip body is under the limit (%d bytes)" % len(gz))
        r = s.request("POST", "/write?db=x&precision=ms", gz, {"Content-Encoding": "gzip"})
        check_status(r, 413, "gzip body that decompresses past --max-body-size")
        ser = [([("__name__", "big_rw"), ("n", str(i))], [(T0, 1.0)]) for i in range(100)]
        body = t.snappy_encode(t.write_request(ser))
        r = s.request("POST", "/api/v1/write", body, rw_headers())
        check_status(r, 413, "remote write body of %d bytes over --max-body-size" % len(body))
        r = s.request("POST", "/api/v1/write", t.snappy_encode(t.write_request(ser[:5])), rw_headers())
        check_status(r, 204, "remote write under --max-body-size")
        small = big[:big.rindex(b"\n", 0, 1000) + 1]
        r = s.request("POST", "/write?db=x&precision=ms", small)
        check_status(r, 204, "line protocol under --max-body-size")
        want = {frozenset({"__name__": "big_rw", "n": str(i)}.items()): [(T0, 1.0)] for i in range(5)}
        for line in small.splitlines():
            tags, field, _ = line.split(b" ")
            host = tags.split(b"=")[1].decode()
            want[frozenset({"__name__": "big_lp_v", "db": "x", "host": host}.items())] = \
                [(T0, float(field.split(b"=")[1]))]
        t.compare_export(s.export(ALL), want,
                         "after the 413s only the accepted requests are stored")
        rc = s.stop()
        check_eq(rc, 0, "small-limit server exits 0 after SIGTERM")
        check_eq(s.sanitizer_reports(), [], "no sanitizer reports in the small-limit server's log")
    finally:
        s.kill9()


def zstd_case(s):
    try:
        from compression import zstd  # Python 3.14+
    except ImportError:
        log("# Content-Encoding: zstd skipped: this Python has no zstd module")
        return
    r = s.request("POST", "/write?db=app&precision=ms",
                  zstd.compress(b"lp_zstd,host=a v=1 1700000000000\n"), {"Content-Encoding": "zstd"})
    check_status(r, 204, "/write with Content-Encoding: zstd")
    expect({"__name__": "lp_zstd_v", "db": "app", "host": "a"}, [(T0, 1.0)])


def main():
    s = t.Server(name="ingest").start()
    try:
        remote_write_cases(s)
        line_protocol_cases(s)
        zstd_case(s)
        error_cases(s)
        verify_all(s, "live")
        r = s.request("POST", "/api/v1/admin/flush", b"", timeout=120)
        check_status(r, 200, "POST /api/v1/admin/flush")
        verify_all(s, "after flush (read from parts)")
        rc = s.stop()
        check_eq(rc, 0, "server exits 0 after SIGTERM")
        check_eq(s.sanitizer_reports(), [], "no sanitizer reports in the server log")
        s.start()
        verify_all(s, "after restart")
        rc = s.stop()
        check_eq(rc, 0, "restarted server exits 0 after SIGTERM")
    finally:
        s.kill9()
    body_limit_cases()


if __name__ == "__main__":
    t.run_main(main)
