#!/usr/bin/env bash
# TLS side-by-side load comparison: edgecache vs nginx proxy_cache, both
# serving HTTPS with the same ECDSA P-256 certificate (generated here).
#
# Like compare.sh: a private origin (nginx) and one private instance of each
# server on 127.0.0.1, every server pinned to CPU 0, the load generator and
# the origin to CPU 1, alternating rounds, same-round ratios to nginx. Varnish
# has no TLS and is not part of it. See benches/load/README.md.
#
# Usage: benches/load/tls.sh [--quick] [--only edgecache,nginx]
#                            [--scenarios handshake,tls1k,...] [--keep]
# Scenarios: handshake handshake_mlkem tls1k h2tls1k h3_1k idle10k
# Environment: ROUNDS (3), DURATION (10 s), WARMUP (2 s), CONNS (32),
#   H2_CONNS (32), H2_STREAMS (10), HS_CONNS (32), H3_CONNS (32),
#   H3_STREAMS (10), IDLE_CONNS (10000), IDLE_SOURCES (20), PORT_BASE (18440),
#   EDGECACHE_BIN, TLSLOAD_BIN, H3LOAD_BIN, RUN_DIR.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

ALL_SERVERS=(edgecache nginx)
ALL_SCENARIOS=(handshake handshake_mlkem tls1k h2tls1k h3_1k idle10k)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
H2_CONNS=${H2_CONNS:-32}
H2_STREAMS=${H2_STREAMS:-10}
HS_CONNS=${HS_CONNS:-32}
H3_CONNS=${H3_CONNS:-32}
H3_STREAMS=${H3_STREAMS:-10}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_SOURCES=${IDLE_SOURCES:-20}
IDLE_SETTLE=${IDLE_SETTLE:-2}
PORT_BASE=${PORT_BASE:-18440}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
EDGECACHE_BIN=${EDGECACHE_BIN:-$TARGET_DIR/release/edgecache}
TLSLOAD_BIN=${TLSLOAD_BIN:-$TARGET_DIR/release/examples/tlsload}
H3LOAD_BIN=${H3LOAD_BIN:-$TARGET_DIR/release/examples/h3load}
EDGECACHE_MEMORY_BYTES=${EDGECACHE_MEMORY_BYTES:-268435456}
EDGECACHE_DISK_BYTES=${EDGECACHE_DISK_BYTES:-1073741824}
EDGECACHE_WRITE_POLICY=${EDGECACHE_WRITE_POLICY:-insertion}
SCRIPT=tls.sh
USAGE_LINES=2,16
# shellcheck source=benches/load/prelude.sh
source "$HERE/prelude.sh"
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (server on CPU 0, load generator on CPU 1)"

# ---------------------------------------------------------------- tools
PATH=$PATH:/usr/sbin:/sbin
for t in nginx wrk h2load curl openssl taskset python3 awk getconf ss; do
    command -v "$t" >/dev/null 2>&1 || die "required tool '$t' not found (see benches/load/README.md)"
done
if in_list edgecache "${SERVERS[@]}"; then
    [ -x "$EDGECACHE_BIN" ] || die "edgecache binary not found at $EDGECACHE_BIN (cargo build --release, or set EDGECACHE_BIN / CARGO_TARGET_DIR)"
fi
if in_list handshake "${SCENARIOS[@]}" || in_list handshake_mlkem "${SCENARIOS[@]}" || in_list idle10k "${SCENARIOS[@]}"; then
    [ -x "$TLSLOAD_BIN" ] || die "load client not found at $TLSLOAD_BIN (cargo build --release --example tlsload)"
fi
if in_list h3_1k "${SCENARIOS[@]}" && in_list edgecache "${SERVERS[@]}"; then
    [ -x "$H3LOAD_BIN" ] || die "HTTP/3 load client not found at $H3LOAD_BIN (cargo build --release --example h3load)"
fi
CLK_TCK=$(getconf CLK_TCK)
# 10,000 idle connections need 10,000 descriptors in the server and in the
# client: raise the soft limit to the hard one (20000 here).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if in_list idle10k "${SCENARIOS[@]}" && [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((IDLE_CONNS + 500)) ]; then
    IDLE_CONNS=$((NOFILE - 500))
    log "WARNING: descriptor limit $NOFILE: idle10k opens $IDLE_CONNS connections instead"
fi
[ "$NOFILE" = unlimited ] && NOFILE=1048576
WORKER_CONNECTIONS=$(( NOFILE > 16384 ? 16384 : NOFILE ))

# ---------------------------------------------------------------- run dir
RUN=${RUN_DIR:-$(mktemp -d /tmp/edgecache-tls.XXXX)}
mkdir -p "$RUN/raw" "$RUN/tls"
RESULTS=$RUN/results.csv
IDLE=$RUN/idle.csv
log "run directory: $RUN"

ORIGIN_PORT=$PORT_BASE
NGINX_TLS_PORT=$((PORT_BASE + 1))
EDGECACHE_PORT=$((PORT_BASE + 2))
EDGECACHE_TLS_PORT=$((PORT_BASE + 3))
EDGECACHE_ADMIN_PORT=$((PORT_BASE + 4))

if [ "$(id -u)" -eq 0 ]; then
    USER_LINE="user root;"
else
    USER_LINE=""
fi

render() { # template out DIR
    sed -e "s#@DIR@#$3#g" \
        -e "s#@USER_LINE@#$USER_LINE#g" \
        -e "s#@TLS_DIR@#$RUN/tls#g" \
        -e "s#@NOFILE@#$NOFILE#g" \
        -e "s#@WORKER_CONNECTIONS@#$WORKER_CONNECTIONS#g" \
        -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" \
        -e "s#@NGINX_TLS_PORT@#$NGINX_TLS_PORT#g" \
        -e "s#@EDGECACHE_PORT@#$EDGECACHE_PORT#g" \
        -e "s#@EDGECACHE_ADMIN_PORT@#$EDGECACHE_ADMIN_PORT#g" \
        -e "s#@EDGECACHE_MEMORY_BYTES@#$EDGECACHE_MEMORY_BYTES#g" \
        -e "s#@EDGECACHE_DISK_BYTES@#$EDGECACHE_DISK_BYTES#g" \
        -e "s#@EDGECACHE_WRITE_POLICY@#$EDGECACHE_WRITE_POLICY#g" \
        "$1" >"$2"
}

# ---------------------------------------------------------------- cleanup
ORIGIN_PID=""
declare -A ROOT_PID=()
stop_pid() { # pid name
    local pid=$1 name=$2 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "WARNING: $name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}
HOLD_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local c
    stop_pid "$HOLD_PID" "idle client"
    for c in "${!ROOT_PID[@]}"; do stop_pid "${ROOT_PID[$c]}" "$c"; done
    stop_pid "$ORIGIN_PID" origin
    if [ "$KEEP" -eq 0 ]; then
        rm -rf "$RUN/edgecache/data" "$RUN/nginx/cache" "$RUN/origin/html" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ]; then
        log "FAILED (exit $rc); logs are in $RUN"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port pid name
    local i
    for i in $(seq 1 200); do
        port_busy "$1" && return 0
        if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
            die "$3 exited during startup; see its log in $RUN/$3/"
        fi
        sleep 0.1
    done
    die "$3 did not listen on 127.0.0.1:$1 within 20 s; see $RUN/$3/"
}

wait_pidfile() { # file name
    local i
    for i in $(seq 1 100); do
        if [ -s "$1" ]; then cat "$1"; return 0; fi
        sleep 0.1
    done
    die "$2 wrote no pid file ($1); see $RUN/$2/"
}

tree_pids() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2; pids[NR] = $1 }
        END {
            keep[root] = 1; changed = 1
            while (changed) {
                changed = 0
                for (i in pids) { p = pids[i]
                    if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
            }
            for (p in keep) print p
        }'
}

# "utime stime" (clock ticks) summed over a server's processes.
cpu_ticks() {
    local p u=0 s=0 a b
    for p in $(tree_pids "$1"); do
        read -r a b < <(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12, $13}') || { a=0; b=0; }
        u=$((u + ${a:-0})); s=$((s + ${b:-0}))
    done
    echo "$u $s"
}

mem_kb() { # root field
    local p sum=0 v
    for p in $(tree_pids "$1"); do
        v=$(awk -v f="$2:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

origin_mark() { stat -c %s "$RUN/origin/access.log"; }
origin_count() { # offset server
    tail -c +"$(($1 + 1))" "$RUN/origin/access.log" | awk -v c="$2" '
        $4 == c { own++ } { all++ } END { printf "%d %d\n", own, all }'
}

now() { date +%s.%N; }

cpu01() {
    awk '$1 == "cpu0" || $1 == "cpu1" {
            busy = $2 + $3 + $4 + $7 + $8 + $9; printf "%d %d ", busy, busy + $5 + $6 }
         END { print "" }' /proc/stat
}

tls_port() {
    case "$1" in
        edgecache) echo "$EDGECACHE_TLS_PORT" ;;
        nginx) echo "$NGINX_TLS_PORT" ;;
    esac
}

# One response's cache verdict over HTTPS: HIT / MISS(...) / ? / ERR.
verdict() { # server url [curl-flag...]
    local c=$1 url=$2 h
    shift 2
    h=$(curl -sk --max-time 10 "$@" -o /dev/null -D - "$url" | tr -d '\r') || { echo ERR; return; }
    case "$c" in
        edgecache)
            h=$(printf '%s\n' "$h" | awk -F': ' 'tolower($1) == "cache-status" {print $2}')
            case "$h" in
                *"; hit"*) echo HIT ;;
                "") echo "?" ;;
                *) echo "MISS" ;;
            esac ;;
        nginx)
            h=$(printf '%s\n' "$h" | awk -F': ' 'tolower($1) == "x-cache-status" {print $2}')
            echo "${h:-?}" ;;
    esac
}

# ---------------------------------------------------------------- certificate
make_cert() {
    # ECDSA P-256, self-signed, for "localhost" and 127.0.0.1: both servers
    # load these same two files.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$RUN/tls/key.pem" -out "$RUN/tls/cert.pem" -days 30 \
        -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        >"$RUN/tls/openssl.log" 2>&1 || die "openssl could not make the certificate: $(cat "$RUN/tls/openssl.log")"
    chmod 600 "$RUN/tls/key.pem"
}

# ---------------------------------------------------------------- origin
start_origin() {
    local d=$RUN/origin
    mkdir -p "$d/html/obj" "$d/html/nostore" "$d/tmp"
    head -c 1024 /dev/urandom >"$d/html/obj/1k"
    head -c 16384 /dev/urandom >"$d/html/obj/16k"
    head -c 1048576 /dev/urandom >"$d/html/obj/1m"
    cp "$d/html/obj/1k" "$d/html/nostore/1k"
    : >"$d/access.log"
    render "$HERE/nginx-origin.conf" "$d/nginx.conf" "$d"
    port_busy "$ORIGIN_PORT" && die "port $ORIGIN_PORT is in use (set PORT_BASE)"
    taskset -c 1 nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
        || die "origin nginx failed to start; see $d/error.log"
    ORIGIN_PID=$(wait_pidfile "$d/nginx.pid" origin)
    wait_port "$ORIGIN_PORT" "$ORIGIN_PID" origin
    curl -sf -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/obj/1k" || die "origin does not serve /obj/1k"
}

# ---------------------------------------------------------------- servers
start_nginx() {
    local d=$RUN/nginx
    mkdir -p "$d/tmp" "$d/cache"
    render "$HERE/nginx-tls.conf" "$d/nginx.conf" "$d"
    rm -f "$d/nginx.pid"
    port_busy "$NGINX_TLS_PORT" && die "port $NGINX_TLS_PORT is in use (set PORT_BASE)"
    taskset -c 0 nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
        || die "nginx failed to start; see $d/error.log"
    ROOT_PID[nginx]=$(wait_pidfile "$d/nginx.pid" nginx)
    wait_port "$NGINX_TLS_PORT" "${ROOT_PID[nginx]}" nginx
}

H3_ON=0
start_edgecache() {
    local d=$RUN/edgecache h3
    mkdir -p "$d/data"
    # The plaintext listener of the template stays (idle); the HTTPS listener
    # is appended. Everything else is the template's (see compare.sh).
    for h3 in true false; do
        render "$HERE/edgecache.toml" "$d/edgecache.toml" "$d"
        cat "$HERE/edgecache-https.toml" >>"$d/edgecache.toml"
        sed -i -e "s#@EDGECACHE_TLS_PORT@#$EDGECACHE_TLS_PORT#g" -e "s#@TLS_DIR@#$RUN/tls#g" \
            -e "s#@HTTP3@#$h3#g" "$d/edgecache.toml"
        if "$EDGECACHE_BIN" check-config "$d/edgecache.toml" >"$d/check-config.log" 2>&1; then
            break
        fi
        if [ "$h3" = true ]; then
            log "WARNING: edgecache rejects http3 = true ($(tail -1 "$d/check-config.log")): no HTTP/3 (h3_1k skipped)"
        else
            die "edgecache rejects $d/edgecache.toml: $(cat "$d/check-config.log")"
        fi
    done
    [ "$h3" = true ] && H3_ON=1 || H3_ON=0
    port_busy "$EDGECACHE_TLS_PORT" && die "port $EDGECACHE_TLS_PORT is in use (set PORT_BASE)"
    port_busy "$EDGECACHE_PORT" && die "port $EDGECACHE_PORT is in use (set PORT_BASE)"
    taskset -c 0 "$EDGECACHE_BIN" --config "$d/edgecache.toml" >>"$d/edgecache.log" 2>&1 &
    ROOT_PID[edgecache]=$!
    wait_port "$EDGECACHE_TLS_PORT" "${ROOT_PID[edgecache]}" edgecache
    wait_port "$EDGECACHE_ADMIN_PORT" "${ROOT_PID[edgecache]}" edgecache
    if [ "$H3_ON" = 1 ] && [ -z "$(ss -Huan "( sport = :$EDGECACHE_TLS_PORT )")" ]; then
        log "WARNING: edgecache accepted http3 = true but has no UDP socket on $EDGECACHE_TLS_PORT: h3_1k skipped"
        H3_ON=0
    fi
}

stop_server() { # server
    stop_pid "${ROOT_PID[$1]}" "$1"
    unset "ROOT_PID[$1]"
}

# Fills the cache with /obj/1k over HTTPS; prints the second verdict.
warm() { # server
    local url v
    url="https://127.0.0.1:$(tls_port "$1")/obj/1k"
    verdict "$1" "$url" --http1.1 >/dev/null
    v=$(verdict "$1" "$url" --http1.1)
    echo "$v"
}

# ---------------------------------------------------------------- load
# Prints: rate requests errors non2xx p50_ms p99_ms
run_load() { # scenario server secs outfile
    local s=$1 c=$2 secs=$3 out=$4 port url
    port=$(tls_port "$c")
    url="https://127.0.0.1:$port/obj/1k"
    case "$s" in
        handshake|handshake_mlkem)
            local group=x25519
            [ "$s" = handshake_mlkem ] && group=x25519mlkem768
            taskset -c 1 "$TLSLOAD_BIN" --addr "127.0.0.1:$port" --group "$group" \
                --concurrency "$HS_CONNS" handshake --duration "$secs" >"$out" 2>&1 || true
            parse_result "$out" connections ;;
        tls1k)
            taskset -c 1 wrk -t1 -c"$CONNS" -d"${secs}s" --latency "$url" >"$out" 2>&1 || true
            parse_wrk "$out" ;;
        h2tls1k)
            taskset -c 1 h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D"$secs" "$url" >"$out" 2>&1 || true
            if ! grep -q '^Application protocol: h2$' "$out"; then
                log "  WARNING: h2load did not negotiate h2 with $c (see $out)"
            fi
            parse_h2load "$out" ;;
        h3_1k)
            taskset -c 1 "$H3LOAD_BIN" --addr "127.0.0.1:$port" --connections "$H3_CONNS" \
                --streams "$H3_STREAMS" --duration "$secs" --expect-bytes 1024 >"$out" 2>&1 || true
            parse_result "$out" requests ;;
    esac
}

# The RESULT line of tlsload/h3load.
parse_result() { # out count-key
    awk -v k="$2" '
        $1 == "RESULT" {
            for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            rate = (k == "connections") ? v["rate"] : v["rps"]
            bad = (k == "connections") ? v["non200"] : v["bad"]
            printf "%s %s %s %s %s %s\n", rate + 0, v[k] + 0, v["errors"] + 0, bad + 0, v["p50_ms"], v["p99_ms"]
            found = 1
        }
        END { if (!found) print "0 0 0 0 - -" }' "$1"
}

parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return v + 0
        }
        / requests in / { reqs = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Socket errors:/ { gsub(",", ""); err = $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { non2xx = $5 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        END { printf "%s %s %s %s %s %s\n", rps + 0, reqs + 0, err + 0, non2xx + 0,
                     (p50 == "" ? "-" : p50), (p99 == "" ? "-" : p99) }' "$1"
}

parse_h2load() { # out
    awk '
        /^finished in/ { rps = $4 }
        /^requests:/ { gsub(",", ""); done = $6; err = $10 + $12 + $14 }
        /^status codes:/ { gsub(",", ""); non2xx = $7 + $9 }
        END { printf "%s %s %s %s - -\n", rps + 0, done + 0, err + 0, non2xx + 0 }' "$1"
}

# ---------------------------------------------------------------- measure
measure() { # round scenario server
    local r=$1 s=$2 c=$3 pid base v2 u0 s0 u1 s1 o0 od oall w0 w1
    local b0a t0a b1a t1a b0b t0b b1b t1b cpu0 cpu1
    local rate reqs err non2xx p50 p99 hwm wall cpu_us user_us cpu_pct check
    pid=${ROOT_PID[$c]}
    kill -0 "$pid" 2>/dev/null || die "$c (pid $pid) is gone; see $RUN/$c/"
    base=$RUN/raw/r$r-$s-$c
    v2=$(warm "$c")
    if [ "$WARMUP" != 0 ]; then
        run_load "$s" "$c" "$WARMUP" "$base.warmup.txt" >/dev/null
    fi
    sleep 0.2
    o0=$(origin_mark)
    read -r b0a t0a b1a t1a < <(cpu01)
    read -r u0 s0 < <(cpu_ticks "$pid")
    w0=$(now)
    read -r rate reqs err non2xx p50 p99 < <(run_load "$s" "$c" "$DURATION" "$base.txt")
    w1=$(now)
    read -r u1 s1 < <(cpu_ticks "$pid")
    read -r b0b t0b b1b t1b < <(cpu01)
    read -r od oall < <(origin_count "$o0" "$c")
    hwm=$(mem_kb "$pid" VmHWM)
    wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN{printf "%.3f", b - a}')
    local tk=$(( (u1 - u0) + (s1 - s0) ))
    cpu_us=$(awk -v t="$tk" -v n="$reqs" -v hz="$CLK_TCK" \
        'BEGIN{ if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "" }')
    user_us=$(awk -v t=$((u1 - u0)) -v n="$reqs" -v hz="$CLK_TCK" \
        'BEGIN{ if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "" }')
    cpu_pct=$(awk -v t="$tk" -v w="$wall" -v hz="$CLK_TCK" 'BEGIN{ printf "%.1f", t / hz / w * 100 }')
    cpu0=$(awk -v b=$((b0b - b0a)) -v t=$((t0b - t0a)) 'BEGIN{ printf "%.1f", (t > 0 ? b / t * 100 : 0) }')
    cpu1=$(awk -v b=$((b1b - b1a)) -v t=$((t1b - t1a)) 'BEGIN{ printf "%.1f", (t > 0 ? b / t * 100 : 0) }')
    if [ "$od" -eq 0 ]; then check=ok; else check=FAIL; fi
    printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' \
        "$r" "$s" "$c" "$rate" "$reqs" "$err" "$non2xx" "$p50" "$p99" "$tk" \
        "$cpu_us" "$user_us" "$cpu_pct" "$wall" "$cpu0" "$cpu1" "$hwm" "$od" "$check" "${v2//,/+}" \
        >>"$RESULTS"
    log "  r$r $s $c: $rate/s, ${cpu_us:-?} CPU us each (user $user_us), server CPU ${cpu_pct}% (CPU 0 ${cpu0}%, CPU 1 ${cpu1}%), p99 $p99 ms, errors $err, bad $non2xx, origin reqs $od ($check), verdict $v2"
    [ "$reqs" != 0 ] || log "  WARNING: nothing completed; see $base.txt"
    grep -h '^first error:' "$base.txt" 2>/dev/null | head -1 | sed 's/^/  /' >&2 || true
}

# idle10k: fresh server, one cached object, RSS; then IDLE_CONNS idle TLS
# keep-alive connections (each: full handshake + one request), RSS again.
measure_idle() { # round server
    local r=$1 c=$2 pid port rss0 rss1 rss2 est out opened errors open_secs alive i v2
    port=$(tls_port "$c")
    out=$RUN/raw/r$r-idle10k-$c.txt
    stop_server "$c"
    "start_$c"
    pid=${ROOT_PID[$c]}
    v2=$(warm "$c")
    sleep 1
    rss0=$(mem_kb "$pid" VmRSS)
    taskset -c 1 "$TLSLOAD_BIN" --addr "127.0.0.1:$port" --group x25519 --sources "$IDLE_SOURCES" \
        --concurrency 64 hold --count "$IDLE_CONNS" --hold-secs $((IDLE_SETTLE + 3)) >"$out" 2>&1 &
    HOLD_PID=$!
    for i in $(seq 1 600); do
        grep -q '^READY' "$out" && break
        kill -0 "$HOLD_PID" 2>/dev/null || break
        sleep 0.1
    done
    sleep "$IDLE_SETTLE"
    rss1=$(mem_kb "$pid" VmRSS)
    est=$(ss -Htn state established "( sport = :$port )" | wc -l)
    wait "$HOLD_PID" || true
    HOLD_PID=""
    sleep 1
    rss2=$(mem_kb "$pid" VmRSS)
    read -r opened errors open_secs alive < <(awk '
        $1 == "RESULT" { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                         print v["opened"] + 0, v["errors"] + 0, v["open_secs"], v["alive_after_hold"] + 0; f = 1 }
        END { if (!f) print "0 0 - 0" }' "$out")
    local per
    per=$(awk -v a="$rss0" -v b="$rss1" -v n="$opened" 'BEGIN{ if (n > 0) printf "%.2f", (b - a) / n; else print "" }')
    echo "$r,$c,$opened,$errors,$open_secs,$est,$alive,$rss0,$rss1,$rss2,$per,${v2//,/+}" >>"$IDLE"
    log "  r$r idle10k $c: $opened open ($errors errors, ${open_secs}s), $est established at the RSS sample, $alive alive after the hold; RSS $rss0 -> $rss1 kB (${per:-?} KiB per connection), $rss2 kB after they closed"
    grep -h '^first error:' "$out" 2>/dev/null | head -1 | sed 's/^/  /' >&2 || true
}

# ---------------------------------------------------------------- main
read -r load1 _ </proc/loadavg
if awk -v l="$load1" 'BEGIN{ exit !(l > 0.5) }'; then
    log "WARNING: load average is $load1: other work on this machine will distort the numbers"
fi
log "servers: ${SERVERS[*]}; scenarios: ${SCENARIOS[*]}; rounds: $ROUNDS x ${DURATION}s (warm-up ${WARMUP}s)"

echo "round,scenario,server,rate,count,errors,non2xx,p50_ms,p99_ms,cpu_ticks,cpu_us_each,user_us_each,cpu_pct,wall_s,cpu0_busy_pct,cpu1_busy_pct,peak_rss_kb,origin_requests,origin_check,warm_verdict" >"$RESULTS"
echo "round,server,opened,errors,open_s,established,alive_after_hold,rss_before_kb,rss_with_kb,rss_after_close_kb,kib_per_conn,warm_verdict" >"$IDLE"

make_cert
start_origin
for c in "${SERVERS[@]}"; do
    log "starting $c (pinned to CPU 0)"
    "start_$c"
    log "  $c warm-up verdict: $(warm "$c")"
done

{
    echo "date: $(date -u +%FT%TZ)"
    echo "host: $(uname -srm), $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "servers: ${SERVERS[*]}"
    echo "scenarios: ${SCENARIOS[*]}"
    echo "ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS H2_CONNS=$H2_CONNS H2_STREAMS=$H2_STREAMS HS_CONNS=$HS_CONNS H3_CONNS=$H3_CONNS H3_STREAMS=$H3_STREAMS IDLE_CONNS=$IDLE_CONNS IDLE_SOURCES=$IDLE_SOURCES NOFILE=$NOFILE"
    echo "nginx: $(nginx -V 2>&1 | head -2 | tr '\n' ' ')"
    echo "wrk: $(wrk -v 2>&1 | head -1)"
    echo "h2load: $(h2load --version 2>&1 | head -1)"
    echo "openssl: $(openssl version)"
    echo "certificate: $(openssl x509 -in "$RUN/tls/cert.pem" -noout -text | awk '/Public Key Algorithm|NIST CURVE|Signature Algorithm/ {$1=$1; print}' | sort -u | tr '\n' ';')"
    echo "edgecache: $EDGECACHE_BIN (http3: $H3_ON)"
    echo "git: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
    for c in "${SERVERS[@]}"; do
        # What an OpenSSL client (wrk, h2load) negotiates with each server.
        echo "$c with an OpenSSL client: $(openssl s_client -connect "127.0.0.1:$(tls_port "$c")" \
            -servername localhost -alpn h2,http/1.1 </dev/null 2>/dev/null \
            | awk '/^New, |Server Temp Key|^ALPN protocol/ {$1=$1; printf "%s; ", $0}')"
    done
} >"$RUN/env.txt"

n=${#SERVERS[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    log "round $r of $ROUNDS"
    si=0
    for s in "${SCENARIOS[@]}"; do
        for ((k = 0; k < n; k++)); do
            c=${SERVERS[$(( (r - 1 + si + k) % n ))]}
            case "$s" in
                handshake_mlkem)
                    # OpenSSL 3.0 has no ML-KEM: edgecache only.
                    [ "$c" = edgecache ] || continue ;;
                h3_1k)
                    # Debian's nginx 1.22 has no HTTP/3 module.
                    [ "$c" = edgecache ] || continue
                    if [ "$H3_ON" = 0 ]; then log "  h3_1k skipped: this edgecache has no HTTP/3"; continue; fi ;;
            esac
            if [ "$s" = idle10k ]; then
                measure_idle "$r" "$c"
            else
                measure "$r" "$s" "$c"
            fi
        done
        si=$((si + 1))
    done
done

for c in "${SERVERS[@]}"; do
    echo "$c: final VmRSS $(mem_kb "${ROOT_PID[$c]}" VmRSS) kB, VmHWM $(mem_kb "${ROOT_PID[$c]}" VmHWM) kB" >>"$RUN/env.txt"
done

python3 "$HERE/tls-report.py" "$RUN" | tee "$RUN/summary.md"
log "raw results: $RESULTS, $IDLE, $RUN/env.txt; per-run output in $RUN/raw/"
