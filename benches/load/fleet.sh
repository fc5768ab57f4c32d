#!/usr/bin/env bash
# Purge propagation across a local three-node fleet (scripts/cluster.sh: a
# real nats-server with JetStream, three edgecache nodes, an origin), at 1
# and at 1,000 purges per second, measured with benches/fleet_propagation.rs.
#
#   cargo build --release && benches/load/fleet.sh
#   RATES="1:30 100:2000 1000:5000" benches/load/fleet.sh
#
# Uses target/release/edgecache (or EDGECACHE_BIN); never builds it.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATES=${RATES:-"1:30 1000:5000"}
export BASE_PORT=${BASE_PORT:-18000}
# A fresh run directory, deleted on exit (each node's disk store is 1 GiB);
# KEEP=1 keeps it.
if [ -z "${RUN_DIR:-}" ]; then
    RUN_DIR=$(mktemp -d /tmp/edgecache-fleet.XXXX)
    OWN_DIR=1
fi
export RUN_DIR
cleanup() {
    scripts/cluster.sh stop >/dev/null 2>&1 || true
    if [ "${OWN_DIR:-0}" = 1 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$RUN_DIR"; fi
}
trap cleanup EXIT
scripts/cluster.sh start >/dev/null
# Every node announced itself and caught up.
for _ in $(seq 1 100); do
    live=$(curl -s "http://127.0.0.1:$((BASE_PORT + 91))/metrics" | awk '$1=="edgecache_fleet_live_nodes"{print $2}')
    [ "${live:-0}" = 3 ] && break
    sleep 0.1
done
echo "fleet: 3 nodes, nats-server $(nats-server --version | awk '{print $2}'), $(nproc) CPUs"
# shellcheck disable=SC2086
cargo bench --quiet --bench fleet_propagation -- "127.0.0.1:$((BASE_PORT + 91))" cluster-token-0123456789 $RATES
for i in 1 2 3; do
    echo "node $i: $(curl -s "http://127.0.0.1:$((BASE_PORT + 90 + i))/metrics" | grep -E '^edgecache_fleet_(applied|published|publish_failures)_total' | tr '\n' ' ')"
done
