#!/usr/bin/env bash
# What access logs and tracing cost on the hit path: two edgecache nodes,
# same binary, same config as compare.sh's (benches/load/edgecache.toml),
# except that "ops" also writes a JSON access log to a file and traces 1 %
# of requests to an OTLP/HTTP collector on loopback. Both are pinned to
# CPU 0 in turn (the load generator and the origin to CPU 1) and measured
# in alternating rounds: off, ops, ops, off, off, ops, ...
#
# Usage: benches/load/ops-overhead.sh [--quick]
# Environment: ROUNDS (4), DURATION (10 s), WARMUP (2 s), CONNS (32),
#   PATH_1K (/obj/1k), PORT_BASE (18180), EDGECACHE_BIN (target/release/edgecache),
#   SAMPLE (0.01), OPS (both | log | trace: what the "ops" node turns on),
#   RUN_DIR (default: mktemp -d /tmp/edgecache-ops.XXXX).
# Prints a markdown table: req/s and CPU per request of each, and the ratio.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
PATH_1K=${PATH_1K:-/obj/1k}
PORT_BASE=${PORT_BASE:-18180}
SAMPLE=${SAMPLE:-0.01}
OPS=${OPS:-both}
EDGECACHE_BIN=${EDGECACHE_BIN:-$REPO/target/release/edgecache}
[ "${1:-}" = --quick ] && { ROUNDS=2; DURATION=3; WARMUP=1; }

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'ops-overhead.sh: error: %s\n' "$*" >&2; exit 1; }

for tool in wrk nginx python3 taskset curl; do
    command -v "$tool" >/dev/null || {
        log "installing $tool (apt)"
        case "$tool" in
            taskset) pkg=util-linux ;;
            python3) pkg=python3 ;;
            *) pkg=$tool ;;
        esac
        apt-get install -y "$pkg" >/dev/null 2>&1 || die "$tool is missing and apt-get install $pkg failed"
    }
done
if [ ! -x "$EDGECACHE_BIN" ]; then
    log "building edgecache (release)"
    (cd "$REPO" && cargo build --release --bin edgecache) || die "cargo build --release failed"
fi

RUN=${RUN_DIR:-$(mktemp -d /tmp/edgecache-ops.XXXX)}
mkdir -p "$RUN/raw"
ORIGIN_PORT=$PORT_BASE
OFF_PORT=$((PORT_BASE + 1)); OFF_ADMIN=$((PORT_BASE + 2))
OPS_PORT=$((PORT_BASE + 3)); OPS_ADMIN=$((PORT_BASE + 4))
OTLP_PORT=$((PORT_BASE + 5))
CLK_TCK=$(getconf CLK_TCK)
declare -A PID=()

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$RUN"/off/data "$RUN"/ops/data
    [ "$rc" -eq 0 ] || log "FAILED (exit $rc); logs are in $RUN"
    exit "$rc"
}
trap cleanup EXIT INT TERM

wait_port() { # port name
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    die "$2 did not listen on $1"
}

# The origin: nginx serving a 1 KiB object, cacheable for an hour.
mkdir -p "$RUN/origin/html/obj" "$RUN/origin/tmp"
head -c 1024 /dev/urandom >"$RUN/origin/html/obj/1k"
USER_LINE=""; [ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
sed -e "s#@DIR@#$RUN/origin#g" -e "s#@USER_LINE@#$USER_LINE#g" -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" \
    "$HERE/nginx-origin.conf" >"$RUN/origin/nginx.conf"
taskset -c 1 nginx -p "$RUN/origin" -c "$RUN/origin/nginx.conf" -e "$RUN/origin/error.log"
for _ in $(seq 1 100); do [ -s "$RUN/origin/nginx.pid" ] && break; sleep 0.05; done
PID[origin]=$(cat "$RUN/origin/nginx.pid")
wait_port "$ORIGIN_PORT" origin

# The collector: accepts OTLP/HTTP exports and counts them.
cat >"$RUN/otlp-sink.py" <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    count = 0
    def do_POST(self):
        n = int(self.headers.get("content-length", 0)); self.rfile.read(n)
        H.count += 1
        self.send_response(200); self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0"); self.end_headers()
        with open(sys.argv[2], "w") as f: f.write(str(H.count))
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
taskset -c 1 python3 "$RUN/otlp-sink.py" "$OTLP_PORT" "$RUN/otlp-exports" &
PID[otlp]=$!
wait_port "$OTLP_PORT" otlp-sink

config() { # name port admin
    local d=$RUN/$1
    mkdir -p "$d"
    sed -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" -e "s#@EDGECACHE_PORT@#$2#g" \
        -e "s#@EDGECACHE_ADMIN_PORT@#$3#g" -e "s#@DIR@#$d#g" \
        -e "s#@EDGECACHE_MEMORY_BYTES@#268435456#g" -e "s#@EDGECACHE_DISK_BYTES@#1073741824#g" \
        -e "s#@EDGECACHE_WRITE_POLICY@#insertion#g" "$HERE/edgecache.toml" >"$d/edgecache.toml"
}
config off "$OFF_PORT" "$OFF_ADMIN"
config ops "$OPS_PORT" "$OPS_ADMIN"
if [ "$OPS" != trace ]; then cat >>"$RUN/ops/edgecache.toml" <<EOF

[access_log]
enabled = true
path = "$RUN/ops/access.log"
format = "json"
EOF
fi
if [ "$OPS" != log ]; then cat >>"$RUN/ops/edgecache.toml" <<EOF

[tracing]
enabled = true
protocol = "http"
endpoint = "http://127.0.0.1:$OTLP_PORT"
sample_ratio = $SAMPLE
EOF
fi
for n in off ops; do
    "$EDGECACHE_BIN" check-config "$RUN/$n/edgecache.toml" >/dev/null || die "edgecache rejects $RUN/$n/edgecache.toml"
    taskset -c 0 "$EDGECACHE_BIN" --config "$RUN/$n/edgecache.toml" >"$RUN/$n/node.log" 2>&1 &
    PID[$n]=$!
done
wait_port "$OFF_PORT" off; wait_port "$OPS_PORT" ops

port_of() { [ "$1" = off ] && echo "$OFF_PORT" || echo "$OPS_PORT"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

measure() { # round name
    local r=$1 n=$2 url t0 t1 out rps reqs
    url="http://127.0.0.1:$(port_of "$n")$PATH_1K"
    curl -s -o /dev/null "$url"; curl -s -o /dev/null "$url"
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
    out=$RUN/raw/r$r-$n.txt
    t0=$(ticks "${PID[$n]}")
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" >"$out" 2>&1 || true
    t1=$(ticks "${PID[$n]}")
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    reqs=$(awk '/requests in/ {print $1}' "$out")
    awk -v r="$r" -v n="$n" -v rps="$rps" -v t=$((t1 - t0)) -v q="$reqs" -v hz="$CLK_TCK" \
        'BEGIN { printf "%s,%s,%s,%.2f\n", r, n, rps, (q > 0 ? t * 1e6 / hz / q : 0) }' >>"$RUN/results.csv"
    log "round $r $n: $rps req/s"
}

echo "round,node,rps,cpu_us_per_req" >"$RUN/results.csv"
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then order="off ops"; else order="ops off"; fi
    for n in $order; do measure "$r" "$n"; done
done

lines=$(wc -l <"$RUN/ops/access.log" 2>/dev/null || echo 0)
exports=$(cat "$RUN/otlp-exports" 2>/dev/null || echo 0)
spans=$(curl -s "http://127.0.0.1:$OPS_ADMIN/metrics" | awk '/^edgecache_trace_spans_exported_total / {print $2}')
dropped=$(curl -s "http://127.0.0.1:$OPS_ADMIN/metrics" | awk '/^edgecache_access_log_dropped_total / {print $2}')
awk -F, -v lines="$lines" -v exports="$exports" -v spans="${spans:-?}" -v dropped="${dropped:-?}" \
    -v sample="$SAMPLE" -v ops="$OPS" -v rounds="$ROUNDS" -v dur="$DURATION" '
    NR > 1 { rps[$2] += $3; cpu[$2] += $4; n[$2]++ }
    END {
        printf "| node | req/s (mean of %d × %d s) | CPU µs per request |\n|---|---|---|\n", rounds, dur
        printf "| off | %.0f | %.2f |\n", rps["off"] / n["off"], cpu["off"] / n["off"]
        what = (ops == "log") ? "access log (JSON, file)" : (ops == "trace") ? "tracing at " sample : "access log (JSON, file) + tracing at " sample
        printf "| %s | %.0f | %.2f |\n", what, rps["ops"] / n["ops"], cpu["ops"] / n["ops"]
        printf "| **ops / off** | **%.3f** | **%.3f** |\n", (rps["ops"] / n["ops"]) / (rps["off"] / n["off"]), (cpu["ops"] / n["ops"]) / (cpu["off"] / n["off"])
        printf "\naccess-log lines written: %s (dropped: %s); OTLP exports received: %s; spans exported: %s\n", lines, dropped, exports, spans
    }' "$RUN/results.csv"
echo "raw results: $RUN/results.csv" >&2
