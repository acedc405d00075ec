#!/usr/bin/env bash
# Run every libFuzzer target in BUILD_DIR for SECONDS each, starting from its
# committed corpus (copied, so new inputs do not dirty the tree). Any crash
# fails the run and leaves the reproducer in build/fuzz/artifacts/.
set -euo pipefail
build=${1:-build/fuzz}
secs=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/artifacts"
fail=0
for bin in "$build"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin"); target=${name#fuzz_}
    work=$(mktemp -d)
    cp -r "$here/corpus/$target/." "$work/" 2>/dev/null || true
    dict=()
    [ -f "$here/dict/$target.dict" ] && dict=(-dict="$here/dict/$target.dict")
    echo "fuzz: $target for ${secs}s"
    if ! "$bin" "${dict[@]}" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
            -artifact_prefix="$build/artifacts/$target-" -print_final_stats=0 "$work" \
            >"$build/artifacts/$target.log" 2>&1; then
        echo "fuzz: $target FAILED, see $build/artifacts/$target.log"
        tail -30 "$build/artifacts/$target.log"
        fail=1
    fi
    rm -rf "$work"
done
exit $fail
