#!/usr/bin/env bash
# Every check edgecache has, from a clean checkout: formatting, lints, unit and
# integration tests, then the cache-tests conformance suite (which installs
# itself from npm). One cargo build: clippy only type-checks.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== conformance (http-cache-tests)"
EDGECACHE_BIN="$PWD/target/debug/edgecache" bash conformance/run.sh

echo "== all checks passed in $(( $(date +%s) - start )) s"
