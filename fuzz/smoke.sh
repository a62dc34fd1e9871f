#!/usr/bin/env bash
# Runs every lpa-core fuzz target for N seconds each (default 20), for CI.
#
#   fuzz/smoke.sh          # 20 s per target
#   fuzz/smoke.sh 60       # 60 s per target
#   FUZZ_TOOLCHAIN=nightly-2026-05-01 fuzz/smoke.sh
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). New inputs go to
# fuzz/corpus/<target>/ (git-ignored); fuzz/seeds/<target>/ is only read. Crashes are written
# to fuzz/artifacts/<target>/ (git-ignored). Exits non-zero if any target failed, after
# running all of them.
set -uo pipefail

seconds="${1:-20}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
cd "$(dirname "$0")"

if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
    echo "smoke.sh: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 2
fi

cargo "+$toolchain" fuzz build || exit 1

failed=()
for target in $(cargo "+$toolchain" fuzz list); do
    echo "=== $target (${seconds}s)"
    mkdir -p "corpus/$target" "seeds/$target"
    dict=()
    if [[ -f "dicts/$target.dict" ]]; then
        dict=("-dict=dicts/$target.dict")
    fi
    # -timeout: one input running longer than 10 s counts as a hang (the exchanges and the
    # procedures must be bounded). -rss_limit_mb: the apdu target builds requests of up to 64 KiB.
    if ! cargo "+$toolchain" fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}"; then
        failed+=("$target")
    fi
done

if ((${#failed[@]})); then
    echo "smoke.sh: FAILED: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
    exit 1
fi
echo "smoke.sh: all targets ran ${seconds}s without a crash"
