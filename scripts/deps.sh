#!/usr/bin/env bash
# Install the Debian packages Sextant needs to build, test and benchmark.
# Idempotent: packages already present are skipped, so `make run` and
# `make test` can call it every time at almost no cost.
set -euo pipefail

BUILD_PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
 libmicrohttpd-dev libgnutls28-dev libprotobuf-c-dev protobuf-c-compiler
 libsnappy-dev libzstd-dev zlib1g-dev libdeflate-dev liblz4-dev
 libjansson-dev libyajl-dev libpcre2-dev libxxhash-dev libroaring-dev
 libyaml-dev libcurl4-openssl-dev liblua5.4-dev libcmocka-dev"
TEST_PKGS="curl prometheus prometheus-node-exporter victoria-metrics python3"

want="$BUILD_PKGS"
case "${1:-build}" in
    test|bench)
        want="$BUILD_PKGS $TEST_PKGS"
        # The Loki client tests run Node (winston-loki, pino-loki). A Node
        # installed from elsewhere (NodeSource ships npm inside nodejs) is
        # kept; without one, Debian's nodejs and npm are installed.
        command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || want="$want nodejs npm"
        ;;
esac

missing=()
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing ${missing[*]}"
# Packages such as prometheus ship services; keep them from starting here:
# tests start their own copies on loopback with temporary data dirs.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    made_policy=1
fi
trap '[ $made_policy -eq 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
