#!/usr/bin/env bash
# Installs containerd-shim-spin-v2 on this node and adds the `spin` runtime
# to containerd's config (the snippet from deployments/containerd/ that
# matches the config's version). Idempotent. Run as root on the node.
#
#   install.sh [--shim PATH] [--bin-dir DIR] [--config FILE] [--restart]
#
#   --shim     the shim binary (default: target/release/containerd-shim-spin-v2
#              of this repository)
#   --bin-dir  where to install it; must be on containerd's PATH
#              (default /usr/local/bin)
#   --config   containerd's config (default /etc/containerd/config.toml)
#   --restart  restart containerd afterwards (systemctl); otherwise do it
#              yourself: the config is read only at start-up
# Then apply deployments/k8s/runtimeclass.yaml to the cluster.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHIM=$REPO/target/release/containerd-shim-spin-v2
BIN_DIR=/usr/local/bin
CONFIG=/etc/containerd/config.toml
RESTART=
while [ $# -gt 0 ]; do
    case "$1" in
        --shim) SHIM=$2; shift 2 ;;
        --bin-dir) BIN_DIR=$2; shift 2 ;;
        --config) CONFIG=$2; shift 2 ;;
        --restart) RESTART=1; shift ;;
        *) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
die() { echo "install.sh: $*" >&2; exit 1; }

[ -x "$SHIM" ] || die "no shim binary at $SHIM (build it with \`make build\`, or pass --shim)"
mkdir -p "$BIN_DIR"
install -m 0755 "$SHIM" "$BIN_DIR/containerd-shim-spin-v2.new"
mv -f "$BIN_DIR/containerd-shim-spin-v2.new" "$BIN_DIR/containerd-shim-spin-v2"
echo "installed $BIN_DIR/containerd-shim-spin-v2"

# The config's layout decides the snippet: version 3 is containerd 2.x's,
# version 2 works on 1.7 and (migrated at start-up) on 2.x.
if [ ! -s "$CONFIG" ]; then
    command -v containerd >/dev/null || die "$CONFIG is missing and containerd is not on PATH"
    mkdir -p "$(dirname "$CONFIG")"
    containerd config default > "$CONFIG"
    echo "wrote containerd's default config to $CONFIG"
fi
version=$(awk -F= '/^[[:space:]]*version[[:space:]]*=/ { gsub(/[[:space:]]/, "", $2); print $2; exit }' "$CONFIG")
case "$version" in
    3) snippet=$REPO/deployments/containerd/config-2.x.toml-snippet ;;
    2) snippet=$REPO/deployments/containerd/config-1.7.toml-snippet ;;
    *) die "$CONFIG is a version ${version:-1} config; migrate it first (\`containerd config migrate\`)" ;;
esac
if grep -Eq "runtimes\.spin\]|io\.containerd\.spin\.v2" "$CONFIG"; then
    echo "$CONFIG already has a spin runtime; left unchanged"
else
    cp -p "$CONFIG" "$CONFIG.bak-$(date +%Y%m%d%H%M%S)"
    { echo; cat "$snippet"; } >> "$CONFIG"
    echo "added the spin runtime ($(basename "$snippet")) to $CONFIG"
fi

if [ -n "$RESTART" ]; then
    systemctl restart containerd
    echo "restarted containerd"
else
    echo "restart containerd to load it (e.g. systemctl restart containerd)"
fi
