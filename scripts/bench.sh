#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `make bench`: spinshim against its peers on this machine, in one run, and
# docs/PERFORMANCE.md + docs/perf/*.png from the results (issue 4).
#
#   scripts/bench.sh            full mode: 5 repetitions, 10 s wrk runs (~15 min of
#                               measurements + ~3 min criterion + the build)
#   make bench-quick            quick mode: 2 repetitions, 3 s wrk runs (~2 min of
#                               measurements + ~2 min criterion + the build)
#
# What it does:
#   1. installs its tools when missing: wrk (Debian), matplotlib (pip, for
#      the charts), wasmtime-cli 48.0.8 (cargo install into .bench/tools);
#   2. builds the release binaries and the sample apps (make build images);
#   3. starts a private rig with containerd 1.7 only (scripts/rig.sh up),
#      pushes images/hello with `spinshim push` and pulls it into containerd;
#   4. measures (scripts/bench/run.py): throughput and latency (wrk; hello,
#      hello-p3, and images/state-bench with one key-value get or one SQLite
#      select per request),
#      process start -> first 200, `ctr run -d` -> first 200
#      (scripts/coldstart.py), memory of idle pods (PSS/RSS);
#   5. takes the rig down, runs the criterion micro-benchmarks of
#      spinshim-runtime (when it has any);
#   6. writes docs/PERFORMANCE.md and docs/perf/*.png
#      (scripts/bench/report.py, from .bench/results.json; rerun it alone
#      to regenerate the report from the same results).
# Servers, pods and the rig are always stopped, on failure too.
#
# Environment (defaults are the full mode):
#   BENCH_REPS=5          repetitions of each wrk measurement (median reported)
#   BENCH_DURATION=10     seconds per wrk run
#   BENCH_WARMUP=2        seconds of untimed wrk per server before measuring
#   BENCH_CONNS="1 10 50" wrk connection counts
#   BENCH_COLD_RUNS=10    runs of each start-up measurement
#   BENCH_PODS="1 10 50"  pod counts for the density measurement
#   BENCH_MEM_REPS        repetitions of the density ramp (default BENCH_REPS)
#   BENCH_PHASES          subset of "throughput trigger procstart coldstart memory"
#                         (trigger: Redis-trigger messages per second)
#   BENCH_SERVERS         throughput: only these servers (keys as in run.py,
#                         e.g. "up-redis up-pg"; up-hello always runs);
#                         wasmtime-cli is installed only when a phase needs it
#   BENCH_CRITERION=0     skip the criterion micro-benchmarks
#   BENCH_CRITERION_ARGS  extra criterion arguments (quick mode: shorter times)
#   BENCH_MODE            label for the report (default: full, or custom
#                         when any of the above differs from the defaults)
#   BENCH_SKIP_BUILD=1    use the binaries and images already built
#   BENCH_DIR             where tools and results go (default .bench)
# Needs root (containerd), like `make test`.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"
# shellcheck source=rig/lib.sh
. "$HERE/rig/lib.sh"
RIG_LOG_PREFIX=bench
T0=$(now_ms)

BENCH_DIR=${BENCH_DIR:-$REPO/.bench}
BENCH_REPS=${BENCH_REPS:-5}
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_CONNS=${BENCH_CONNS:-1 10 50}
BENCH_COLD_RUNS=${BENCH_COLD_RUNS:-10}
BENCH_PODS=${BENCH_PODS:-1 10 50}
BENCH_MEM_REPS=${BENCH_MEM_REPS:-$BENCH_REPS}
BENCH_PHASES=${BENCH_PHASES:-throughput trigger procstart coldstart memory}
BENCH_SERVERS=${BENCH_SERVERS:-}
BENCH_CRITERION=${BENCH_CRITERION:-1}
BENCH_CRITERION_ARGS=${BENCH_CRITERION_ARGS:-}
WASMTIME_VERSION=48.0.8
PYTHON=${PYTHON:-python3}
CARGO=${CARGO:-cargo}
if [ -z "${BENCH_MODE:-}" ]; then
    if [ "$BENCH_REPS/$BENCH_DURATION/$BENCH_CONNS/$BENCH_COLD_RUNS/$BENCH_PODS/$BENCH_MEM_REPS/$BENCH_PHASES/$BENCH_CRITERION_ARGS" \
        = "5/10/1 10 50/10/1 10 50/5/throughput trigger procstart coldstart memory/" ]; then
        BENCH_MODE=full
    else
        BENCH_MODE=custom
    fi
fi

for v in BENCH_REPS BENCH_DURATION BENCH_WARMUP BENCH_COLD_RUNS BENCH_MEM_REPS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
[ "$(id -u)" = 0 ] || die "the bench runs containerd (scripts/rig.sh) and needs root"

mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
WORK=$BENCH_DIR/run
TOOLS=$BENCH_DIR/tools
WASMTIME=$TOOLS/bin/wasmtime
RESULTS=$BENCH_DIR/results.json

# One bench at a time on this checkout.
exec 8>"$BENCH_DIR/bench.lock"
flock -n 8 || die "another bench holds $BENCH_DIR/bench.lock"

# --- cleanup, always --------------------------------------------------------------

RIG_DIR=
CHILD=
SPINSHIM=$WORK/bin/spinshim
# Runs a long step in the background and waits for it, so a signal to this
# script is handled at once (bash runs traps only between commands) and
# cleanup can stop the step.
step() {
    "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=
    return "$rc"
}

# Processes run.py started (it records each in $WORK/pids; it stops them
# itself unless it was killed): TERM, then KILL. A pid is only signalled
# while its command line is still ours (a spinshim or wasmtime binary).
stop_recorded() {
    local f pid cmd i
    [ -d "$WORK/pids" ] || return 0
    for f in "$WORK"/pids/*; do
        [ -f "$f" ] || continue
        pid=$(cat "$f"); rm -f "$f"
        cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)
        case "$cmd" in
            "$SPINSHIM "*|"$WASMTIME "*) ;;
            *) continue ;;
        esac
        kill -TERM "$pid" 2>/dev/null || continue
        for i in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        say "stopped leftover server (pid $pid)"
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$CHILD" ] && alive "$CHILD"; then
        # run.py stops its servers and pods on SIGTERM; give it a moment.
        kill -TERM "$CHILD" 2>/dev/null || true
        for _ in $(seq 1 100); do alive "$CHILD" || break; sleep 0.1; done
        kill -KILL "$CHILD" 2>/dev/null || true
    fi
    stop_recorded
    if [ -n "$RIG_DIR" ]; then
        "$HERE/rig.sh" down "$RIG_DIR" || say "warning: scripts/rig.sh down $RIG_DIR failed"
        RIG_DIR=
    fi
    if [ "$rc" != 0 ]; then say "bench failed (exit $rc) after $(since "$T0"); logs in $WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. tools -----------------------------------------------------------------------

ensure_packages wrk procps
if ! "$PYTHON" -c 'import matplotlib' 2>/dev/null; then
    say "installing matplotlib (pip) for the charts"
    "$PYTHON" -m pip install --quiet matplotlib || die "pip install matplotlib failed"
fi

wasmtime_ok() { [ -x "$WASMTIME" ] && "$WASMTIME" --version 2>/dev/null | grep "^wasmtime $WASMTIME_VERSION\b" >/dev/null; }
# wasmtime serve is a peer in the throughput phase (unless BENCH_SERVERS
# leaves it out) and in the process-start phase.
needs_wasmtime=
case " $BENCH_PHASES " in *" procstart "*) needs_wasmtime=1 ;; esac
case " $BENCH_PHASES " in
    *" throughput "*) [ -z "$BENCH_SERVERS" ] || [[ $BENCH_SERVERS == *wasmtime* ]] && needs_wasmtime=1 ;;
esac
if [ -n "$needs_wasmtime" ] && ! wasmtime_ok; then
    # Someone (e.g. an earlier bench) may be installing it into the same root.
    while pgrep -f "cargo install --root $TOOLS wasmtime-cli" >/dev/null; do
        say "waiting for a running 'cargo install wasmtime-cli' into $TOOLS"
        sleep 20
    done
fi
if [ -n "$needs_wasmtime" ] && ! wasmtime_ok; then
    t=$(now_ms)
    say "installing wasmtime-cli $WASMTIME_VERSION into $TOOLS (cargo install; takes a while on 2 cores)"
    step "$CARGO" install --root "$TOOLS" wasmtime-cli --version "$WASMTIME_VERSION" --locked \
        > "$BENCH_DIR/wasmtime-install.log" 2>&1 \
        || { log_tail "$BENCH_DIR/wasmtime-install.log"; die "cargo install wasmtime-cli failed"; }
    say "wasmtime-cli installed in $(since "$t")"
fi
[ -z "$needs_wasmtime" ] || wasmtime_ok || die "$WASMTIME is not wasmtime $WASMTIME_VERSION"

# wasmtime's compile cache is on by default (wasmtime-cli-flags: enabled
# unless -C cache=n; directory from ~/.config/wasmtime/config.toml, else
# ~/.cache/wasmtime). The bench gives it its own directory under .bench.
mkdir -p "$BENCH_DIR/wasmtime-cache"
cat > "$BENCH_DIR/wasmtime-cache.toml" <<EOF
[cache]
directory = "$BENCH_DIR/wasmtime-cache"
EOF

# --- 2. build -------------------------------------------------------------------------

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
    t=$(now_ms)
    step make --no-print-directory build images CARGO="$CARGO" >&2
    say "build: $(since "$t")"
fi
for f in "$REPO/target/release/spinshim" "$REPO/target/release/containerd-shim-spin-v2" \
    images/target/wasm32-wasip2/release/hello.wasm images/target/wasm32-wasip2/release/hello_p3.wasm; do
    [ -f "$f" ] || die "$f is missing: run make build images (or unset BENCH_SKIP_BUILD)"
done

# --- 3. rig and image ---------------------------------------------------------------

# The whole run uses copies of the binaries as built now (a later cargo
# build in this checkout must not change them halfway; the rig copies the
# shim the same way).
rm -rf "$WORK"
mkdir -p "$WORK/bin"
cp "$REPO/target/release/spinshim" "$WORK/bin/spinshim"
SPINSHIM=$WORK/bin/spinshim
env_file=$(RIG_CONTAINERD2=0 "$HERE/rig.sh" up | tail -n 1)
RIG_DIR=$(dirname "$env_file")
# shellcheck disable=SC1090
. "$env_file"
IMAGE=$RIG_REGISTRY/bench/hello:v1
"$SPINSHIM" push --from images/hello "$IMAGE" > "$WORK/push.log" 2>&1 \
    || { log_tail "$WORK/push.log"; die "spinshim push failed"; }
"$RIG_CTR" --address "$RIG_CONTAINERD_SOCK" images pull --plain-http "$IMAGE" > "$WORK/pull.log" 2>&1 \
    || { log_tail "$WORK/pull.log"; die "ctr images pull failed"; }
say "pushed and pulled $IMAGE"

"$PYTHON" "$HERE/bench/meta.py" --repo "$REPO" --spinshim "$SPINSHIM" --wasmtime "$WASMTIME" \
    --rig-env "$env_file" --mode "$BENCH_MODE" --wasmtime-cache-dir "$BENCH_DIR/wasmtime-cache" \
    > "$WORK/meta.json"

# --- 4. measure -------------------------------------------------------------------------

step "$PYTHON" "$HERE/bench/run.py" --rig-env "$env_file" --out "$RESULTS" --work "$WORK" \
    --spinshim "$SPINSHIM" --wasmtime "$WASMTIME" \
    --wasmtime-cache-config "$BENCH_DIR/wasmtime-cache.toml" --image "$IMAGE" \
    --reps "$BENCH_REPS" --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" \
    --conns "$BENCH_CONNS" --cold-runs "$BENCH_COLD_RUNS" --pods "$BENCH_PODS" \
    --mem-reps "$BENCH_MEM_REPS" --phases "$BENCH_PHASES" --servers "$BENCH_SERVERS" --meta "$WORK/meta.json"

"$HERE/rig.sh" down "$RIG_DIR"
RIG_DIR=

# --- 5. criterion ------------------------------------------------------------------------

benches=$("$CARGO" metadata --no-deps --format-version 1 | "$PYTHON" -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "spinshim-runtime":
        print(" ".join(t["name"] for t in p["targets"] if "bench" in t["kind"]))')
if [ "$BENCH_CRITERION" = 0 ]; then
    "$PYTHON" "$HERE/bench/criterion.py" --results "$RESULTS" --status skipped
elif [ -z "$benches" ]; then
    say "spinshim-runtime has no bench targets: no micro-benchmarks"
    "$PYTHON" "$HERE/bench/criterion.py" --results "$RESULTS" --status absent
else
    args=(bench -p spinshim-runtime)
    for b in $benches; do args+=(--bench "$b"); done
    # shellcheck disable=SC2206
    args+=(-- --noplot $BENCH_CRITERION_ARGS)
    # criterion writes its results under CRITERION_HOME: a directory of this
    # run only, so nothing stale or from someone else's `cargo bench` mixes in.
    rm -rf "$BENCH_DIR/criterion"
    since=$(date +%s)
    t=$(now_ms)
    say "\$ cargo ${args[*]}"
    status=ok
    CRITERION_HOME=$BENCH_DIR/criterion step "$CARGO" "${args[@]}" > "$BENCH_DIR/criterion.log" 2>&1 || status=failed
    say "criterion: $status in $(since "$t") (log $BENCH_DIR/criterion.log)"
    "$PYTHON" "$HERE/bench/criterion.py" --results "$RESULTS" --status "$status" --since "$since" \
        --criterion-dir "$BENCH_DIR/criterion" --log "$BENCH_DIR/criterion.log" \
        --command "cargo ${args[*]}"
fi

# --- 6. report ---------------------------------------------------------------------------

BENCH_TOTAL_MS=$(( $(now_ms) - T0 )) "$PYTHON" - "$RESULTS" <<'PY'
import json, os, sys
path = sys.argv[1]
r = json.load(open(path))
r["meta"]["bench_total_s"] = round(int(os.environ["BENCH_TOTAL_MS"]) / 1000, 1)
json.dump(r, open(path + ".tmp", "w"), indent=1)
os.replace(path + ".tmp", path)
PY
cp "$RESULTS" "$BENCH_DIR/results-$(date +%Y%m%d-%H%M%S).json"
"$PYTHON" "$HERE/bench/report.py" "$RESULTS" --out docs/PERFORMANCE.md --charts docs/perf \
    --notes docs/performance-notes.md
say "bench ($BENCH_MODE) done in $(since "$T0"): docs/PERFORMANCE.md, docs/perf/*.png"
