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

echo "== layers (docs/architecture.md): imports only go down"
./scripts/layers.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== conformance (http-cache-tests@0.4.5 from npm)"
EDGECACHE_BIN="$PWD/target/debug/edgecache" bash conformance/run.sh

# The current suite (the one cache-tests.fyi runs) when its snapshot is next
# to the repository (CI has ../shared); a fresh clone without it runs the npm
# suite only. EDGECACHE_CURRENT_SUITE points at another copy.
current_suite="${EDGECACHE_CURRENT_SUITE:-../shared/conformance/cache-tests-b55b8bd.tar.gz}"
if [ -f "$current_suite" ]; then
  echo "== conformance (current suite: $current_suite)"
  EDGECACHE_BIN="$PWD/target/debug/edgecache" bash conformance/run.sh --suite "$current_suite"
else
  echo "== conformance (current suite): $current_suite not present; skipped"
fi

echo "== all checks passed in $(( $(date +%s) - start )) s"
