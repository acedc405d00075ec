#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# PromQL query benchmark: Sextant against Prometheus and VictoriaMetrics.
# bench/query.py (Python standard library only) installs the dependencies
# (scripts/deps.sh bench), builds the release binaries, loads the same
# sx-loadgen data set into each server in turn and times dashboard queries.
# Usage: bench/query.sh [--series S] [--runs R] [--quick] [--servers LIST] [--help]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec /usr/bin/python3 "$here/query.py" "$@"
