#!/usr/bin/env bash
# A local fleet on loopback: a real nats-server with JetStream (its store in
# the run directory), an origin (scripts/cluster-origin.py) and three
# edgecache nodes (a, b, c) sharing purges over NATS. Everything is started
# in the background and stopped by pid.
#
#   scripts/cluster.sh start     # build nothing; uses target/release/edgecache (or EDGECACHE_BIN)
#   scripts/cluster.sh status    # pids, ports, each node's /health
#   scripts/cluster.sh stop      # stop everything started by `start`
#
# Ports (change with BASE_PORT, default 18000):
#   nats      BASE+222      origin    BASE+100
#   node a    BASE+81 (admin BASE+91), b BASE+82 (BASE+92), c BASE+83 (BASE+93)
# Admin token for the purge API: "cluster-token-0123456789".
# EXTRA_TOML is appended to every node's config (e.g. a [tier] section).
# Files, logs and pids live in RUN_DIR (default ./cluster-run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN_DIR=${RUN_DIR:-$ROOT/cluster-run}
BASE_PORT=${BASE_PORT:-18000}
BIN=${EDGECACHE_BIN:-$ROOT/target/release/edgecache}
TOKEN=cluster-token-0123456789
NATS_PORT=$((BASE_PORT + 222))
ORIGIN_PORT=$((BASE_PORT + 100))
NODES=(a b c)

node_port() { echo $((BASE_PORT + 81 + $1)); }
admin_port() { echo $((BASE_PORT + 91 + $1)); }

need() {
    command -v "$1" >/dev/null && return
    if [ "$1" = nats-server ]; then
        echo "installing nats-server (apt)" >&2
        local as_root=()
        [ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >&2
    else
        echo "cluster.sh: $1 is required" >&2
        exit 1
    fi
}

wait_port() { # port what
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "cluster.sh: $2 did not listen on 127.0.0.1:$1 (see $RUN_DIR/*.log)" >&2
    return 1
}

start_one() { # name pidfile command...
    local name=$1 pidfile=$2
    shift 2
    setsid "$@" >"$RUN_DIR/$name.log" 2>&1 &
    echo $! >"$pidfile"
}

node_config() { # index id
    local i=$1 id=$2
    cat <<EOF
origin = "http://127.0.0.1:$ORIGIN_PORT"

[server]
listen = "127.0.0.1:$(node_port "$i")"
data_dir = "$RUN_DIR/node-$id"
cache_name = "edgecache-$id"

[admin]
listen = "127.0.0.1:$(admin_port "$i")"
tokens = [{ token = "$TOKEN", hosts = ["*"] }]

[fleet]
servers = ["nats://127.0.0.1:$NATS_PORT"]
node_id = "$id"
EOF
    echo "${EXTRA_TOML:-}" | sed "s/{id}/$id/g"
}

cmd_start() {
    need nats-server
    need python3
    [ -x "$BIN" ] || { echo "cluster.sh: no $BIN; run cargo build --release (or set EDGECACHE_BIN)" >&2; exit 1; }
    if [ -f "$RUN_DIR/nats.pid" ] && kill -0 "$(cat "$RUN_DIR/nats.pid")" 2>/dev/null; then
        echo "cluster.sh: already running ($RUN_DIR); stop it first" >&2
        exit 1
    fi
    mkdir -p "$RUN_DIR"
    start_one nats "$RUN_DIR/nats.pid" nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$RUN_DIR/nats-store"
    wait_port "$NATS_PORT" nats-server
    start_one origin "$RUN_DIR/origin.pid" python3 "$ROOT/scripts/cluster-origin.py" "$ORIGIN_PORT"
    wait_port "$ORIGIN_PORT" origin
    for i in 0 1 2; do
        local id=${NODES[$i]}
        node_config "$i" "$id" >"$RUN_DIR/node-$id.toml"
        "$BIN" check-config "$RUN_DIR/node-$id.toml" >/dev/null
        start_one "node-$id" "$RUN_DIR/node-$id.pid" "$BIN" --config "$RUN_DIR/node-$id.toml"
    done
    for i in 0 1 2; do
        wait_port "$(node_port "$i")" "node ${NODES[$i]}"
        wait_port "$(admin_port "$i")" "node ${NODES[$i]} admin"
    done
    cmd_status
}

cmd_status() {
    for f in nats origin node-a node-b node-c; do
        local pid=-
        [ -f "$RUN_DIR/$f.pid" ] && pid=$(cat "$RUN_DIR/$f.pid")
        local state=stopped
        [ "$pid" != - ] && kill -0 "$pid" 2>/dev/null && state=running
        printf '%-8s pid %-8s %s\n' "$f" "$pid" "$state"
    done
    echo "nats   nats://127.0.0.1:$NATS_PORT"
    echo "origin http://127.0.0.1:$ORIGIN_PORT  (GET /__origin/count)"
    for i in 0 1 2; do
        local h
        h=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(admin_port "$i")/health" || true)
        echo "node ${NODES[$i]} http://127.0.0.1:$(node_port "$i")  admin http://127.0.0.1:$(admin_port "$i")  health $h"
    done
    echo "purge: curl -X POST -H 'authorization: Bearer $TOKEN' 'http://127.0.0.1:$(admin_port 0)/purge/key/all?wait=fleet'"
}

stop_pid() { # pidfile
    [ -f "$1" ] || return 0
    local pid
    pid=$(cat "$1")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

cmd_stop() {
    for f in node-a node-b node-c origin nats; do
        stop_pid "$RUN_DIR/$f.pid"
    done
    echo "stopped (state kept in $RUN_DIR; rm -rf it for a fresh fleet)"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
    echo "usage: scripts/cluster.sh start|status|stop" >&2
    exit 2
    ;;
esac
