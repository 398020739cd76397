#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `make test`, what CI runs: build deps, sample apps, release binaries,
# format and lint checks, then the whole test suite against a private rig
# (registry + containerd 1.7 + containerd 2.x running the freshly built
# shim; scripts/rig.sh), which is always stopped afterwards.
#
#   scripts/test.sh [ARGS...]   ARGS go to `cargo test --release --workspace`
#                               (e.g. `--test rig_smoke` or `-- some_name`)
# Environment: SKIP_LINT=1 skips fmt/clippy (local iteration only).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"
# shellcheck source=rig/lib.sh
. "$HERE/rig/lib.sh"
RIG_LOG_PREFIX="test"
CARGO=${CARGO:-cargo}

T_ALL=$(now_ms)
TIMINGS=()
# step NAME COMMAND...: runs COMMAND, records how long it took.
step() {
    local name=$1 t; shift
    say "== $name"
    t=$(now_ms)
    "$@"
    TIMINGS+=("$name $(since "$t")")
}
summary() {
    local IFS=', '
    say "timings: ${TIMINGS[*]}; total $(since "$T_ALL")"
}

# deployments/: the Kubernetes manifests parse (the containerd snippets are
# checked for real: the rig's containerds load them).
check_deployments() {
    if python3 -c 'import yaml' 2>/dev/null; then
        python3 - deployments/k8s/*.yaml <<'PY'
import sys, yaml
for f in sys.argv[1:]:
    docs = [d for d in yaml.safe_load_all(open(f)) if d]
    assert docs and all("kind" in d for d in docs), f
    print(f"  {f}: {', '.join(d['kind'] for d in docs)}")
PY
    else
        say "python3 yaml not available: YAML check skipped"
    fi
}

step deps "$HERE/install-deps.sh"
step deployments check_deployments
step images "$HERE/build-images.sh"
step build "$CARGO" build --release --workspace
if [ -z "${SKIP_LINT:-}" ]; then
    step fmt "$CARGO" fmt --all -- --check
    step clippy "$CARGO" clippy --release --workspace --all-targets -- -D warnings
fi

say "== rig up"
t=$(now_ms)
# The shim logs at `error` by default; at `info` runwasi reports each call
# of our precompiler, which tests/shim_containerd.rs counts.
env_file=$(RIG_RUST_LOG=${RIG_RUST_LOG:-info} "$HERE/rig.sh" up | tail -n 1)
rig_dir=$(dirname "$env_file")
TIMINGS+=("rig-up $(since "$t")")
# From here on the rig is always stopped, whatever happens.
on_exit() {
    local rc=$? t
    t=$(now_ms)
    "$HERE/rig.sh" down "$rig_dir" || say "warning: rig down failed; run scripts/rig.sh down $rig_dir"
    TIMINGS+=("rig-down $(since "$t")")
    summary
    [ -n "${SUITE_SUMMARY:-}" ] && echo "$SUITE_SUMMARY"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export SPINSHIM_RIG_ENV=$env_file
say "== cargo test (SPINSHIM_RIG_ENV=$env_file)"
t=$(now_ms)
rc=0
test_log=$(mktemp)
# --no-fail-fast: one failing test binary does not hide the others.
"$CARGO" test --release --workspace --no-fail-fast "$@" 2>&1 | tee "$test_log" || rc=${PIPESTATUS[0]}
TIMINGS+=("tests $(since "$t")")
# One closing line for the whole suite, summed over every test binary,
# printed last (after the rig is down) by on_exit.
SUITE_SUMMARY=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "summary: %d passed, %d failed\n", p, f }' "$test_log")
rm -f "$test_log"
exit "$rc"
