#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Log benchmark: Loki JSON push ingestion, bytes on disk and LogQL query
# speed over --gb of raw logs (default 10). bench/logs.py (Python standard
# library only) installs the dependencies (scripts/deps.sh bench), builds
# sextant and sx-logload in $BUILD_DIR (default build/release, Release),
# starts `sextant serve --retention 0` on a free loopback port with a
# temporary data directory, runs the phases, prints a table and cleans up.
# Usage: bench/logs.sh [--gb N] [--runs R] [--ingest-seconds S] [--keep] [--help]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export BUILD_DIR="${BUILD_DIR:-build/release}"
exec /usr/bin/python3 "$here/logs.py" "$@"
