#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Trace benchmark: OTLP protobuf span ingestion, bytes on disk per span,
# trace lookup by id and trace search (Tempo and Jaeger APIs) over --spans
# spans (default 1M). bench/traces.py (Python standard library only)
# installs the build dependencies (scripts/deps.sh build), builds sextant
# and sx-spanload in $BUILD_DIR (default build/release, Release), starts
# `sextant serve --retention 0` on a free loopback port with a temporary
# data directory, runs the phases, prints a table and cleans up.
# Usage: bench/traces.sh [--spans N] [--runs R] [--ids N] [--perf S] [--keep] [--help]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export BUILD_DIR="${BUILD_DIR:-build/release}"
exec /usr/bin/python3 "$here/traces.py" "$@"
