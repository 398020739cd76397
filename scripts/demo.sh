#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `make demo`: the hello app as a containerd task, end to end on this machine.
#   build -> private registry + containerd 1.7 (scripts/rig.sh) ->
#   spinshim push images/hello -> ctr images pull -> ctr run with the
#   spin runtime (containerd-shim-spin-v2) -> curl it.
# A Spin artifact has no entrypoint, and an OCI process needs an argument:
# `ctr run` gets "/" as its command, as pods get `command: ["/"]`.
# The app keeps running afterwards; the last lines say how to stop it.
# Environment: DEMO_SKIP_BUILD=1 uses the binaries already in target/release.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"
# shellcheck source=rig/lib.sh
. "$HERE/rig/lib.sh"
RIG_LOG_PREFIX="demo"
CARGO=${CARGO:-cargo}
SPINSHIM=${SPINSHIM_BIN:-$REPO/target/release/spinshim}
T0=$(now_ms)

# Echoes a command, then runs it.
run() { printf '$ %s\n' "$*" >&2; "$@"; }

if [ -z "${DEMO_SKIP_BUILD:-}" ]; then
    "$HERE/install-deps.sh"
    "$HERE/build-images.sh" -p hello >/dev/null
    "$CARGO" build --release --workspace
fi

env_file=$(RIG_CONTAINERD2=0 "$HERE/rig.sh" up | tail -n 1)
# shellcheck disable=SC1090
. "$env_file"
# On failure, show why and take the rig down; on success it stays up.
on_exit() {
    local rc=$?
    [ "$rc" = 0 ] && return 0
    say "demo failed; containerd log: $RIG_CONTAINERD_LOG"
    log_tail "$RIG_CONTAINERD_LOG" 30
    if [ -z "${DEMO_KEEP_ON_FAIL:-}" ]; then
        "$HERE/rig.sh" down "$RIG_DIR" || true
    else
        say "rig left running: scripts/rig.sh down $RIG_DIR"
    fi
    exit "$rc"
}
trap on_exit EXIT

IMAGE=$RIG_REGISTRY/spinshim/hello:latest
CTR=("$RIG_CTR" --address "$RIG_CONTAINERD_SOCK")
PORT=$(free_port)

echo >&2
run "$SPINSHIM" push --from images/hello "$IMAGE"
run "${CTR[@]}" images pull --plain-http "$IMAGE" >/dev/null
run "${CTR[@]}" run -d --net-host --runtime io.containerd.spin.v2 \
    --env "SPIN_HTTP_LISTEN_ADDR=127.0.0.1:$PORT" "$IMAGE" hello-demo /

t=$(now_ms)
deadline=$(( t + 60000 ))
until curl -s -o /dev/null "http://127.0.0.1:$PORT/.well-known/spin/health"; do
    if ! "${CTR[@]}" tasks ls 2>/dev/null | awk '$1 == "hello-demo" && $3 == "RUNNING"' | grep . >/dev/null; then
        "${CTR[@]}" tasks ls >&2 || true
        die "the hello-demo task is not running"
    fi
    [ "$(now_ms)" -lt "$deadline" ] || die "the app did not answer on 127.0.0.1:$PORT within 60s"
    sleep 0.1
done
say "serving on 127.0.0.1:$PORT $(since "$t") after ctr run"
echo >&2
run curl -sS -i "http://127.0.0.1:$PORT/"
echo
echo
say "demo done in $(since "$T0"); hello-demo keeps running. To stop it:"
cat <<EOF
  $RIG_CTR --address $RIG_CONTAINERD_SOCK tasks kill hello-demo
  scripts/rig.sh down $RIG_DIR      # stops the task too, then containerd and the registry
EOF
