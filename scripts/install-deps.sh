#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The Debian packages needed to BUILD spinshim and containerd-shim-spin-v2
# (libseccomp for the shim's container library, protoc and pkg-config for
# the gRPC/ttrpc code generation, a C toolchain). Installs only what is
# missing: when everything is present it runs no apt at all.
# The rig's own run-time packages are installed by scripts/rig.sh up.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=rig/lib.sh
. "$HERE/rig/lib.sh"
RIG_LOG_PREFIX="deps"

ensure_packages libseccomp-dev pkg-config protobuf-compiler gcc libc6-dev make curl ca-certificates

command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup) first"
