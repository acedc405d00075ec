#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: X-Auth-Token authentication and tenant isolation.

A server with `--auth-token tokA=alpha --auth-token tokB=beta` must refuse
requests without a token or with an unknown one (401, Prometheus error
JSON, nothing stored) while the probes stay open; each tenant must see only
its own series, label names, label values, samples and metadata, even for a
series both wrote under the same name. Restarted with auth off, the server
serves tenant "default" only and none of alpha's or beta's data. The same
tokens given in a YAML config file (auth_tokens mapping), or in the
environment, behave exactly like the flags.
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sxtest as t  # noqa: E402
from sxtest import check, check_eq, check_status, log  # noqa: E402

T0 = 1_700_000_000_000
ALL = '{__name__=~".+"}'
A = {"X-Auth-Token": "tokA"}
B = {"X-Auth-Token": "tokB"}

# What each tenant wrote: labels key -> [(ts, v)], and its metadata.
DATA = {
    "alpha": {
        frozenset({"__name__": "a_only", "job": "x"}.items()): [(T0, 1.5), (T0 + 1000, 2.5)],
        frozenset({"__name__": "shared", "job": "x"}.items()): [(T0, 1.0), (T0 + 1000, 2.0), (T0 + 2000, 3.0)],
        frozenset({"__name__": "lp_alpha_v", "db": "a", "host": "ha"}.items()): [(T0, 11.0)],
    },
    "beta": {
        frozenset({"__name__": "b_only", "job": "x", "zone": "z1"}.items()): [(T0, 7.0)],
        frozenset({"__name__": "shared", "job": "x"}.items()): [(T0, 10.0), (T0 + 1000, 20.0), (T0 + 2000, 30.0)],
        frozenset({"__name__": "lp_beta_v", "db": "b", "host": "hb"}.items()): [(T0, 22.0)],
    },
}
META = {
    "alpha": {"shared": [{"type": "counter", "help": "alpha's help", "unit": ""}]},
    "beta": {"shared": [{"type": "gauge", "help": "beta's help", "unit": "bytes"}],
             "b_only": [{"type": "gauge", "help": "only beta", "unit": ""}]},
}


def rw_labels(key):
    return sorted(key)


def write_tenant(s, tenant, headers):
    rw = [(rw_labels(k), v) for k, v in DATA[tenant].items() if not dict(k)["__name__"].startswith("lp_")]
    meta = [(name, m[0]["type"], m[0]["help"], m[0]["unit"]) for name, m in META[tenant].items()]
    r = s.remote_write(rw, meta, headers=headers)
    check_status(r, 204, "%s: remote write with its token" % tenant)
    for k, samples in DATA[tenant].items():
        d = dict(k)
        if not d["__name__"].startswith("lp_"):
            continue
        line = "lp_%s,host=%s v=%r %d\n" % (tenant, d["host"], samples[0][1], samples[0][0])
        r = s.request("POST", "/write?precision=ms&db=" + d["db"], line.encode(), headers)
        check_status(r, 204, "%s: line protocol write with its token" % tenant)


def names_of(data):
    return sorted({n for k in data for n, _ in k})


def values_of(data, label):
    return sorted({v for k in data for n, v in k if n == label})


def check_tenant_view(s, tenant, headers, data, meta, what):
    """tenant (with headers) sees exactly data and meta."""
    got = sorted(sorted(d.items()) for d in s.series(ALL, headers=headers))
    check_eq(got, sorted(sorted(k) for k in data), "%s: %s sees exactly its own series" % (what, tenant))
    got = s.series(ALL, headers=headers, prefix="/prometheus/api/v1")
    check_eq(len(got), len(data), "%s: %s: same under /prometheus/api/v1/series" % (what, tenant))
    check_eq(s.get_json("/api/v1/labels", headers=headers)["data"], names_of(data),
             "%s: %s sees only its own label names" % (what, tenant))
    for label in ("__name__", "job", "host", "zone"):
        check_eq(s.get_json("/api/v1/label/%s/values" % label, headers=headers)["data"],
                 values_of(data, label), "%s: %s: label/%s/values" % (what, tenant, label))
    r = s.post_form("/prometheus/api/v1/label/__name__/values", {"match[]": [ALL]}, headers=headers)
    check_eq(r.json().get("data") if r.status == 200 else r.status, values_of(data, "__name__"),
             "%s: %s: form POST label/__name__/values" % (what, tenant))
    t.compare_export(s.export(ALL, headers=headers), data,
                     "%s: %s exports exactly its own samples" % (what, tenant))
    check_eq(s.get_json("/api/v1/metadata", headers=headers)["data"], meta,
             "%s: %s sees only its own metadata" % (what, tenant))


def check_auth_refusals(s, what):
    for hdrs, why in (({}, "missing"), ({"X-Auth-Token": "nope"}, "unknown"),
                      ({"X-Auth-Token": ""}, "empty"), ({"X-Auth-Token": "toka"}, "wrong-case")):
        for method, path in (("GET", "/api/v1/series?match[]=shared"), ("GET", "/api/v1/labels"),
                             ("GET", "/api/v1/export?match[]=shared"), ("GET", "/api/v1/metadata"),
                             ("POST", "/api/v1/admin/flush")):
            r = s.request(method, path, b"" if method == "POST" else None, hdrs)
            check_status(r, 401, "%s: %s token: %s %s" % (what, why, method, path))
        r = s.request("GET", "/api/v1/labels", None, hdrs)
        try:
            j = r.json()
        except Exception:
            j = None
        check(isinstance(j, dict) and j.get("status") == "error" and j.get("errorType") == "unauthorized"
              and "token" in (j.get("error") or "").lower(),
              "%s: %s token: 401 body is error JSON naming the token" % (what, why), j)
        # Writes without a valid token store nothing.
        r = s.remote_write([([("__name__", "unauth_rw"), ("job", "x")], [(T0, 1.0)])], headers=hdrs)
        check_status(r, 401, "%s: %s token: remote write refused" % (what, why))
        r = s.request("POST", "/write?db=u&precision=ms", b"unauth_lp v=1 1700000000000", hdrs)
        check_status(r, 401, "%s: %s token: line protocol write refused" % (what, why))
        r = s.request("POST", "/v1/write/metric?precision=ms", b"unauth_dk v=1 1700000000000", hdrs)
        check_status(r, 401, "%s: %s token: DataKit write refused" % (what, why))
    for path, code in (("/health", 200), ("/-/ready", 200), ("/-/healthy", 200), ("/ping", 204),
                       ("/v1/ping", 200), ("/metrics", 200)):
        r = s.request("GET", path)
        check_status(r, code, "%s: %s works without a token" % (what, path))
    for tenant, hdrs in (("alpha", A), ("beta", B)):
        check_eq(s.series('{__name__=~"unauth.*"}', headers=hdrs), [],
                 "%s: refused writes stored nothing visible to %s" % (what, tenant))


def main():
    srv = t.Server(name="auth", args=["--auth-token", "tokA=alpha", "--auth-token", "tokB=beta"])
    srv.start()
    try:
        log("# auth with --auth-token flags")
        check_auth_refusals(srv, "flags")
        write_tenant(srv, "alpha", A)
        write_tenant(srv, "beta", B)
        check_auth_refusals(srv, "flags, after writes")
        for tenant, hdrs in (("alpha", A), ("beta", B)):
            check_tenant_view(srv, tenant, hdrs, DATA[tenant], META[tenant], "flags")
        ex = srv.export('{__name__="shared"}', headers=A)
        check_eq([r["values"] for r in ex.values()], [[1, 2, 3]], "alpha's shared{job=x} has alpha's values")
        ex = srv.export('{__name__="shared"}', headers=B)
        check_eq([r["values"] for r in ex.values()], [[10, 20, 30]], "beta's shared{job=x} has beta's values")
        tenants = sorted(os.listdir(os.path.join(srv.data_dir, "tenants")))
        check_eq(tenants, ["alpha", "beta"], "data dir holds one directory per tenant")
        r = srv.request("POST", "/api/v1/admin/flush", b"", A)
        check_status(r, 200, "alpha may flush")
        check_eq(srv.stop(), 0, "server with auth exits 0 after SIGTERM")
        check_eq(srv.sanitizer_reports(), [], "no sanitizer reports (auth run)")

        log("# restart with auth off")
        srv.start(extra_args=[])
        empty_checks(srv, {}, "auth off")
        empty_checks(srv, A, "auth off, alpha's token sent anyway")
        r = srv.remote_write([([("__name__", "default_only"), ("job", "d")], [(T0, 5.0)])])
        check_status(r, 204, "auth off: write without a token")
        default = {frozenset({"__name__": "default_only", "job": "d"}.items()): [(T0, 5.0)]}
        check_tenant_view(srv, "default", {}, default, {}, "auth off")
        check_tenant_view(srv, "default", B, default, {}, "auth off, beta's token ignored")
        check_eq(sorted(os.listdir(os.path.join(srv.data_dir, "tenants"))), ["alpha", "beta", "default"],
                 "auth off writes go to tenant directory default")
        check_eq(srv.stop(), 0, "server without auth exits 0 after SIGTERM")

        log("# restart with auth_tokens from a YAML config file")
        cfg = os.path.join(srv.base, "sextant.yml")
        with open(cfg, "w") as f:
            f.write("# e2e config\nauth_tokens:\n  tokA: alpha\n  tokB: beta\nlog_level: info\n")
        srv.start(extra_args=["--config", cfg])
        config_checks(srv, default, "config file")
        # The file works for writes too.
        r = srv.remote_write([([("__name__", "a_cfg"), ("job", "x")], [(T0, 9.0)])], headers=A)
        check_status(r, 204, "config file: alpha writes")
        check_eq(srv.series("a_cfg", headers=B), [], "config file: beta does not see alpha's new series")
        check_eq(len(srv.series("a_cfg", headers=A)), 1, "config file: alpha sees its new series")
        check_eq(srv.stop(), 0, "server with config file exits 0 after SIGTERM")

        log("# restart with SEXTANT_AUTH_TOKENS in the environment")
        srv.env = {"SEXTANT_AUTH_TOKENS": "tokA=alpha,tokB=beta"}
        srv.start(extra_args=[])
        DATA["alpha"][frozenset({"__name__": "a_cfg", "job": "x"}.items())] = [(T0, 9.0)]
        config_checks(srv, default, "environment")
        check_eq(srv.stop(), 0, "server with env tokens exits 0 after SIGTERM")
        check_eq(srv.sanitizer_reports(), [], "no sanitizer reports in any run")
    finally:
        srv.kill9()


def empty_checks(srv, hdrs, what):
    check_eq(srv.series(ALL, headers=hdrs), [], "%s: no series of alpha or beta visible" % what)
    check_eq(srv.get_json("/api/v1/labels", headers=hdrs)["data"], [], "%s: no label names" % what)
    check_eq(srv.get_json("/api/v1/label/__name__/values", headers=hdrs)["data"], [],
             "%s: no metric names" % what)
    check_eq(srv.export(ALL, headers=hdrs), {}, "%s: export is empty" % what)
    check_eq(srv.get_json("/api/v1/metadata", headers=hdrs)["data"], {}, "%s: no metadata" % what)


def config_checks(srv, default, what):
    check_auth_refusals(srv, what)
    for tenant, hdrs in (("alpha", A), ("beta", B)):
        check_tenant_view(srv, tenant, hdrs, DATA[tenant], META[tenant], what)
        check_eq(srv.series("default_only", headers=hdrs), [],
                 "%s: %s does not see tenant default's data" % (what, tenant))


if __name__ == "__main__":
    t.run_main(main)
