#!/usr/bin/env bash
# Every check edgecache has, from a clean checkout: formatting, lints, unit and
# integration tests, then the cache-tests conformance suite (which installs
# itself from npm). One cargo build: clippy only type-checks.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

# The fleet tests run against a real NATS JetStream server (Debian's
# nats-server). Install it when missing: as root, or through sudo without a
# prompt.
if ! command -v nats-server >/dev/null; then
    echo "== installing nats-server (apt)"
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server
fi
nats-server --version

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== conformance (http-cache-tests)"
EDGECACHE_BIN="$PWD/target/debug/edgecache" bash conformance/run.sh

echo "== all checks passed in $(( $(date +%s) - start )) s"
