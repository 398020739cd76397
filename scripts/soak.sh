#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `make soak`: churn and soak, outside `make test` (tens of minutes).
#   1. a private rig (scripts/rig.sh); images/faults pushed and pulled into
#      containerd 2.x; SOAK_CYCLES (1000) pod lifecycles through it, then
#      what is left: shim processes, cgroups, runwasi state, tasks,
#      containers, leases, mounts (scripts/soak.py churn);
#   2. SOAK_REQUESTS (100000) mixed requests (ok, trap, timeout, 1 MiB up,
#      4 MiB down) against `spinshim up`, RSS sampled (soak.py requests);
#   3. writes the figures to docs/RELIABILITY.md.
# Needs root and the release binaries and sample apps (make build images).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"
# shellcheck source=rig/lib.sh
. "$HERE/rig/lib.sh"
RIG_LOG_PREFIX=soak
CYCLES=${SOAK_CYCLES:-1000}
REQUESTS=${SOAK_REQUESTS:-100000}
OUT=$(mktemp -d)

env_file=$("$HERE/rig.sh" up | tail -n 1)
rig_dir=$(dirname "$env_file")
trap '"$HERE/rig.sh" down "$rig_dir" >/dev/null 2>&1 || say "run scripts/rig.sh down $rig_dir"; rm -rf "$OUT"' EXIT
registry=$(sed -n 's/^RIG_REGISTRY=//p' "$env_file")
image="$registry/soak/faults:v1"
target/release/spinshim push --from images/faults "$image" >/dev/null
ctr2() { "$(sed -n 's/^RIG_CTR2=//p' "$env_file")" --address "$(sed -n 's/^RIG_CONTAINERD2_SOCK=//p' "$env_file")" "$@"; }
ctr2 images pull --plain-http "$image" >/dev/null

say "churn: $CYCLES pod lifecycles on containerd 2.x"
rc=0
python3 "$HERE/soak.py" churn --rig-env "$env_file" --image "$image" --cycles "$CYCLES" | tee "$OUT/churn" || rc=1
say "soak: $REQUESTS mixed requests against spinshim up"
python3 "$HERE/soak.py" requests --spinshim target/release/spinshim --app images/faults \
    --requests "$REQUESTS" --concurrency 16 | tee "$OUT/requests" || rc=1

v() { sed -n "s/^$1=//p" "$OUT/churn" "$OUT/requests"; }
cat > docs/RELIABILITY.md <<MD
# Reliability: churn and soak

Written by \`make soak\` (scripts/soak.sh) on $(date -u +%Y-%m-%d), commit
$(git rev-parse --short HEAD), $(nproc) cores. The fault suite
(tests/faults_up.rs, tests/faults_shim.rs) runs in \`make test\`; this is
what takes too long for it.

## Churn: pods started and stopped through containerd 2.x

| figure | value |
|---|---|
| pod lifecycles (\`ctr run -d\` → first 200 → SIGTERM → exit → delete) | $(v churn_cycles) |
| wall time | $(v churn_seconds) s |
| \`ctr run -d\` → first 200, median / max | $(v churn_first_200_median_ms) / $(v churn_first_200_max_ms) ms |
| left afterwards: shim processes, cgroups, runwasi state, tasks, containers, leases, mounts | $(v churn_leftovers) |
| containerd leases, after minus before | $(v churn_lease_delta) |

## Soak: mixed requests against \`spinshim up\`

The mix, in order, repeated: 6 × \`/ok\` (200), \`/trap\` (500), \`/sleep?n=3000\`
cut by \`--request-timeout 0.2\` (500), a 1 MiB upload to \`/count-body\`
(200), a 4 MiB download from \`/big?n=4\` (200); 16 keep-alive clients.
RSS is sampled every 0.5 s; "warm" is the first sample after a tenth of the
requests.

| figure | value |
|---|---|
| requests | $(v soak_requests) |
| wall time | $(v soak_seconds) s ($(v soak_req_per_s) req/s) |
| answers other than expected | $(v soak_unexpected) |
| RSS warm / end / max | $(v soak_rss_warm_mib) / $(v soak_rss_end_mib) / $(v soak_rss_max_mib) MiB |
| RSS drift, end minus warm | $(v soak_rss_drift_mib) MiB |
MD
say "figures written to docs/RELIABILITY.md"
exit "$rc"
