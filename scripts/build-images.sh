#!/usr/bin/env bash
# Build the sample guest apps under images/ (a separate cargo workspace) for wasm32-wasip2
# (and the WASI commands for wasm32-wasip1 too).
# Idempotent; exits non-zero on any failure. Extra arguments are passed to cargo build
# (e.g. `-p hello`).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
images_dir="${repo_root}/images"
target="wasm32-wasip2"

if ! rustup target list --installed 2>/dev/null | grep -x "${target}" >/dev/null; then
    rustup target add "${target}" >/dev/null 2>&1 || rustup target add "${target}"
fi

cd "${images_dir}"
cargo build --release --target "${target}" "$@"

# The WASI commands also as preview1 core modules, which the host turns
# into components at load (images/target/wasm32-wasip1/release/*.wasm).
core_target="wasm32-wasip1"
if ! rustup target list --installed 2>/dev/null | grep -x "${core_target}" >/dev/null; then
    rustup target add "${core_target}" >/dev/null 2>&1 || rustup target add "${core_target}"
fi
cargo build --release --target "${core_target}" -p wagi -p command -p spin1 -p http-rc-2023-10-18

out_dir="${images_dir}/target/${target}/release"
shopt -s nullglob
wasms=("${out_dir}"/*.wasm)
if [ "${#wasms[@]}" -eq 0 ]; then
    echo "error: no .wasm files in ${out_dir}" >&2
    exit 1
fi

echo "built components:"
for f in "${wasms[@]}"; do
    size=$(wc -c <"${f}")
    printf '  %-70s %10s bytes\n' "${f}" "${size}"
done
