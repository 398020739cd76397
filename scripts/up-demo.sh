#!/usr/bin/env bash
# `make up-demo`: run images/hello with `spinshim up` on a free local port,
# curl it, stop it (no containerd involved).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SPINSHIM_BIN:-target/release/spinshim}
. scripts/rig/lib.sh
PORT=$(free_port)
LOG=$(mktemp)
"$BIN" up --from images/hello --listen "127.0.0.1:$PORT" >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 600); do
  if curl -s -o /dev/null "http://127.0.0.1:$PORT/.well-known/spin/health"; then break; fi
  if ! kill -0 $PID 2>/dev/null; then cat "$LOG"; echo "spinshim up exited early" >&2; exit 1; fi
  sleep 0.1
done
cat "$LOG"
echo "\$ curl -i http://127.0.0.1:$PORT/"
curl -sS -i "http://127.0.0.1:$PORT/"
echo
echo "Stopping spinshim up (SIGTERM)."
kill -TERM $PID
status=0; wait $PID || status=$?
trap 'rm -f "$LOG"' EXIT   # the server is gone: never signal its PID again
if [ "$status" = 0 ]; then echo "spinshim up exited cleanly."; else echo "spinshim up exited with $status" >&2; exit 1; fi
