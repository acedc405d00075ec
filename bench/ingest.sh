#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Remote-write ingestion benchmark: Sextant against VictoriaMetrics.
# Installs dependencies, builds the release binaries, then runs
# bench/ingest.py (Python standard library only), which starts each server
# on loopback in turn, drives it with sx-loadgen and prints the figures.
# Usage: bench/ingest.sh [--series S] [--points T] [--runs R] [--help]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec /usr/bin/python3 "$here/ingest.py" "$@"
