#!/usr/bin/env bash
# Coverage-guided fuzzing with cargo-fuzz (needs a nightly toolchain and
# `cargo install cargo-fuzz`): each target runs FUZZ_SECONDS (default 1800)
# from its committed corpus, FUZZ_JOBS targets at a time (default 1), with
# new inputs kept in fuzz/work/<target>. Afterwards the inputs that add
# coverage are merged into fuzz/corpus/<target> (kept small: libFuzzer's
# -merge keeps only inputs that cover something new). Crashes are left in
# fuzz/artifacts/<target>/ and make the script fail.
#
#   scripts/fuzz.sh [TARGET...]     default: every target in fuzz/fuzz_targets
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-1800}
jobs=${FUZZ_JOBS:-1}
toolchain=${FUZZ_TOOLCHAIN:-nightly}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for file in fuzz/fuzz_targets/*.rs; do
        targets+=("$(basename "$file" .rs)")
    done
fi

# Build once, then run the binaries themselves: edits made while the
# fuzzers run do not change what they fuzz.
cargo "+$toolchain" fuzz build -O
bin_dir=fuzz/target/$(rustc "+$toolchain" -vV | sed -n 's/^host: //p')/release
mkdir -p fuzz/work fuzz/logs fuzz/bin
for target in "${targets[@]}"; do
    cp "$bin_dir/$target" "fuzz/bin/$target"
done

run_one() {
    local target=$1
    mkdir -p "fuzz/work/$target" "fuzz/artifacts/$target"
    echo "== $target: ${seconds}s"
    # -timeout: an input taking 10 s is a finding; -rss_limit_mb bounds memory.
    "fuzz/bin/$target" "fuzz/work/$target" "fuzz/corpus/$target" \
        -artifact_prefix="fuzz/artifacts/$target/" -max_total_time="$seconds" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"fuzz/logs/$target.log" 2>&1 || {
        echo "!! $target failed: see fuzz/logs/$target.log and fuzz/artifacts/$target/"
        return 1
    }
    # The committed corpus: the seeds, plus the fewest inputs that reach every
    # edge the run reached (-use_counters=0: edges, not hit counts).
    local before merged
    before=$(ls "fuzz/corpus/$target" | wc -l)
    merged=$(mktemp -d)
    "fuzz/bin/$target" -merge=1 -use_counters=0 "$merged" "fuzz/corpus/$target" "fuzz/work/$target" \
        >"fuzz/logs/$target.merge.log" 2>&1
    find "fuzz/corpus/$target" -type f ! -name 'seed-*' -delete
    cp -n "$merged"/* "fuzz/corpus/$target/" 2>/dev/null || true
    rm -rf "$merged"
    echo "== $target: $(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz/logs/$target.log") runs," \
        "$(grep -oE 'cov: [0-9]+' "fuzz/logs/$target.log" | tail -n 1)," \
        "corpus $before -> $(ls "fuzz/corpus/$target" | wc -l) files ($(du -sh --apparent-size "fuzz/corpus/$target" | cut -f1))"
}

status=0
pids=()
for target in "${targets[@]}"; do
    run_one "$target" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$jobs" ]; then
        wait "${pids[0]}" || status=1
        pids=("${pids[@]:1}")
    fi
done
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
exit $status
