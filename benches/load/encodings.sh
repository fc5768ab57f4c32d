#!/usr/bin/env bash
# One stored copy, every encoding: CPU per hit and bytes on the wire for each
# content coding edgecache serves from its cache, beside nginx serving the
# same file with gzip_static (a pre-compressed .gz next to it: the cheapest
# possible gzip hit) and with on-the-fly `gzip on` (what nginx does for a
# proxied or uncompressed file). nginx has no br/zstd module in Debian, so
# those rows are edgecache only. docs/benchmarks.md records a run.
#
#   EDGECACHE_BIN=/tmp/edgecache-enc benches/load/encodings.sh
#   DURATION=10 CONNS=32 benches/load/encodings.sh
#
# Each server is pinned to CPU 0, wrk to CPU 1; everything listens on
# 127.0.0.1 in a fresh run directory that is removed on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${EDGECACHE_BIN:-$HERE/../../target/release/edgecache}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
PORT_BASE=${PORT_BASE:-18380}
ORIGIN_PORT=$PORT_BASE
NGINX_PORT=$((PORT_BASE + 1))
EC_PORT=$((PORT_BASE + 2))
EC_ADMIN=$((PORT_BASE + 3))
for t in nginx wrk curl taskset gzip awk; do
    command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "no edgecache binary at $BIN (set EDGECACHE_BIN)" >&2; exit 1; }

RUN=$(mktemp -d /tmp/edgecache-enc.XXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$RUN/origin/nginx.pid" ] && kill "$(cat "$RUN/origin/nginx.pid")" 2>/dev/null || true
    [ -f "$RUN/static/nginx.pid" ] && kill "$(cat "$RUN/static/nginx.pid")" 2>/dev/null || true
    sleep 0.3
    rm -rf "$RUN"
}
trap cleanup EXIT

# The object: 64 KiB of real text (this repository's docs), as HTML.
mkdir -p "$RUN/www"
cat "$HERE"/../../docs/*.md >"$RUN/docs.txt"
head -c 65536 "$RUN/docs.txt" >"$RUN/www/page.html"
gzip -6 -k "$RUN/www/page.html"   # for gzip_static (nginx's default level)

nginx_conf() { # dir port extra
    local user=""
    [ "$(id -u)" = 0 ] && user="user root;"
    mkdir -p "$1"
    cat >"$1/nginx.conf" <<EOF
$user
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $1/tmp; proxy_temp_path $1/tmp;
    fastcgi_temp_path $1/tmp; uwsgi_temp_path $1/tmp; scgi_temp_path $1/tmp;
    types { text/html html; }
    gzip_types text/plain;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$2;
        root $RUN/www;
        add_header Cache-Control "max-age=3600";
        etag on;
        $3
    }
}
EOF
}

nginx_conf "$RUN/origin" "$ORIGIN_PORT" ""
nginx -p "$RUN/origin" -c "$RUN/origin/nginx.conf" -e "$RUN/origin/error.log"
cat >"$RUN/ec.toml" <<EOF
origin = "http://127.0.0.1:$ORIGIN_PORT"
[server]
listen = "127.0.0.1:$EC_PORT"
data_dir = "$RUN/data"
runtime = "current_thread"
[storage]
memory_bytes = 268435456
disk_bytes = 1073741824
[admin]
listen = "127.0.0.1:$EC_ADMIN"
EOF
taskset -c 0 "$BIN" --config "$RUN/ec.toml" >"$RUN/ec.log" 2>&1 &
EC_PID=$!
PIDS+=("$EC_PID")
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$EC_PORT/page.html" && break; sleep 0.1; done

ticks() { # pid: utime+stime over the process and its children threads
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
HZ=$(getconf CLK_TCK)

# run NAME PID URL AE: wrk for DURATION, print a markdown row.
run() {
    local name=$1 pid=$2 url=$3 ae=$4 size t0 t1 out reqs rps
    size=$(curl -s -o /dev/null -w '%{size_download}' -H "Accept-Encoding: $ae" "$url")
    curl -s -o /dev/null -H "Accept-Encoding: $ae" "$url" # warm (makes the form)
    t0=$(ticks "$pid")
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" -H "Accept-Encoding: $ae" "$url")
    t1=$(ticks "$pid")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print int($2)}')
    awk -v n="$name" -v ae="$ae" -v s="$size" -v full=65536 -v r="$reqs" -v rps="$rps" \
        -v dt=$((t1 - t0)) -v hz="$HZ" 'BEGIN {
        printf "| %s | `%s` | %d | %.0f%% | %d | %.1f |\n",
            n, ae, s, 100 * (1 - s / full), rps, 1e6 * dt / hz / r }'
}

echo "| server | Accept-Encoding | body bytes | saved | req/s | CPU µs/hit |"
echo "|---|---|---|---|---|---|"
EC_URL="http://127.0.0.1:$EC_PORT/page.html"
for ae in identity gzip br zstd; do run edgecache "$EC_PID" "$EC_URL" "$ae"; done

for mode in "gzip_static on;" "gzip on; gzip_comp_level 6;" \
    "gzip on; gzip_comp_level 1;"; do
    rm -rf "$RUN/static"
    nginx_conf "$RUN/static" "$NGINX_PORT" "$mode"
    taskset -c 0 nginx -p "$RUN/static" -c "$RUN/static/nginx.conf" -e "$RUN/static/error.log"
    sleep 0.3
    NPID=$(pgrep -P "$(cat "$RUN/static/nginx.pid")" | head -1)
    label="nginx \`${mode%%;*}\`"
    [[ $mode == *level\ 1* ]] && label="nginx \`gzip on\` level 1"
    [[ $mode == *level\ 6* ]] && label="nginx \`gzip on\` level 6"
    [ "$mode" = "gzip_static on;" ] && run "nginx static" "$NPID" "http://127.0.0.1:$NGINX_PORT/page.html" identity
    run "$label" "$NPID" "http://127.0.0.1:$NGINX_PORT/page.html" gzip
    kill "$(cat "$RUN/static/nginx.pid")"
    sleep 0.3
done
