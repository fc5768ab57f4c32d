#!/usr/bin/env bash
# Side-by-side load comparison: edgecache vs nginx proxy_cache vs Varnish.
#
# Starts a private origin (nginx) and private instances of each cache on
# 127.0.0.1, pins every cache to CPU 0 and the load generator (and the origin)
# to CPU 1, runs the scenarios in alternating rounds and prints same-round
# ratios to nginx as a markdown table. See benches/load/README.md.
#
# Usage: benches/load/compare.sh [--quick] [--only edgecache,nginx,varnish]
#                                [--scenarios hot1k,hit16k,...] [--keep]
# Environment: ROUNDS (3), DURATION (10 s), WARMUP (2 s), CONNS (32),
#   H2_CONNS (32), H2_STREAMS (10), RATE (20000), RATE_CONNS (100), KEYS (100000),
#   FULL_KEYS (1000000), FULL_PREFILL (40 s), EDGECACHE_RUNTIME (multi_thread),
#   PORT_BASE (18080), EDGECACHE_BIN, EDGECACHE_MEMORY_BYTES (256 MiB),
#   EDGECACHE_DISK_BYTES (1 GiB), EDGECACHE_WRITE_POLICY (insertion),
#   VARNISH_MALLOC (256m), RUN_DIR (default: mktemp -d /tmp/edgecache-load.XXXX).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

ALL_CACHES=(edgecache nginx varnish)
ALL_SCENARIOS=(hot1k hit16k hit1m spread100k pass h2c churn rate20k full1m)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-32}
H2_CONNS=${H2_CONNS:-32}
H2_STREAMS=${H2_STREAMS:-10}
RATE=${RATE:-20000}
RATE_CONNS=${RATE_CONNS:-100}
KEYS=${KEYS:-100000}
FULL_KEYS=${FULL_KEYS:-1000000}
FULL_PREFILL=${FULL_PREFILL:-40}
EDGECACHE_RUNTIME=${EDGECACHE_RUNTIME:-multi_thread}
PORT_BASE=${PORT_BASE:-18080}
EDGECACHE_BIN=${EDGECACHE_BIN:-$REPO/target/release/edgecache}
EDGECACHE_MEMORY_BYTES=${EDGECACHE_MEMORY_BYTES:-268435456}
EDGECACHE_DISK_BYTES=${EDGECACHE_DISK_BYTES:-1073741824}
EDGECACHE_WRITE_POLICY=${EDGECACHE_WRITE_POLICY:-insertion}
VARNISH_MALLOC=${VARNISH_MALLOC:-256m}
SCRIPT=compare.sh
USAGE_LINES=2,18
ALL_SERVERS=("${ALL_CACHES[@]}")
# shellcheck source=benches/load/prelude.sh
source "$HERE/prelude.sh"
CACHES=("${SERVERS[@]}")

if in_list edgecache "${CACHES[@]}" && [ ! -x "$EDGECACHE_BIN" ]; then
    if [ -n "$ONLY" ]; then
        die "edgecache binary not found at $EDGECACHE_BIN (build it with 'cargo build --release' or set EDGECACHE_BIN)"
    fi
    log "WARNING: $EDGECACHE_BIN not found: running without edgecache (build it with 'cargo build --release')"
    tmp=()
    for c in "${CACHES[@]}"; do [ "$c" = edgecache ] || tmp+=("$c"); done
    CACHES=("${tmp[@]}")
fi
[ "${#CACHES[@]}" -gt 0 ] || die "no cache to measure"
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (cache on CPU 0, load generator on CPU 1)"

# ---------------------------------------------------------------- tools
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

need_pkgs=()
command -v nginx >/dev/null 2>&1 || need_pkgs+=(nginx)
command -v varnishd >/dev/null 2>&1 || need_pkgs+=(varnish)
command -v wrk >/dev/null 2>&1 || need_pkgs+=(wrk)
command -v h2load >/dev/null 2>&1 || need_pkgs+=(nghttp2-client)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)
command -v taskset >/dev/null 2>&1 || need_pkgs+=(util-linux)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing tools (${need_pkgs[*]}) and no apt-get to install them"
    if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
        die "missing tools (${need_pkgs[*]}); not root and no sudo: install them as root"
    fi
    log "installing Debian packages: ${need_pkgs[*]}"
    $SUDO apt-get update -qq >&2 || log "WARNING: apt-get update failed; trying the install anyway"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >&2 \
        || die "apt-get install ${need_pkgs[*]} failed"
fi
# Debian puts nginx/varnishd in /usr/sbin, which a non-root PATH may lack.
PATH=$PATH:/usr/sbin:/sbin
for t in nginx varnishd wrk h2load curl taskset python3 awk getconf; do
    command -v "$t" >/dev/null 2>&1 || die "required tool '$t' not found"
done
CLK_TCK=$(getconf CLK_TCK)
# Every connection costs a file descriptor in the caches and the load tools.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- run dir
RUN=${RUN_DIR:-$(mktemp -d /tmp/edgecache-load.XXXX)}
mkdir -p "$RUN/raw"
RESULTS=$RUN/results.csv
log "run directory: $RUN"

ORIGIN_PORT=$PORT_BASE
NGINX_PORT=$((PORT_BASE + 1))
NGINX_H2C_PORT=$((PORT_BASE + 2))
VARNISH_PORT=$((PORT_BASE + 3))
EDGECACHE_PORT=$((PORT_BASE + 4))
EDGECACHE_ADMIN_PORT=$((PORT_BASE + 5))

if [ "$(id -u)" -eq 0 ]; then
    # Root nginx would run its workers as 'nobody', which cannot read the
    # private (0700) run directory.
    USER_LINE="user root;"
else
    USER_LINE=""
fi

render() { # template out DIR
    sed -e "s#@DIR@#$3#g" \
        -e "s#@USER_LINE@#$USER_LINE#g" \
        -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" \
        -e "s#@NGINX_PORT@#$NGINX_PORT#g" \
        -e "s#@NGINX_H2C_PORT@#$NGINX_H2C_PORT#g" \
        -e "s#@EDGECACHE_PORT@#$EDGECACHE_PORT#g" \
        -e "s#@EDGECACHE_ADMIN_PORT@#$EDGECACHE_ADMIN_PORT#g" \
        -e "s#@EDGECACHE_MEMORY_BYTES@#$EDGECACHE_MEMORY_BYTES#g" \
        -e "s#@EDGECACHE_DISK_BYTES@#$EDGECACHE_DISK_BYTES#g" \
        -e "s#@EDGECACHE_WRITE_POLICY@#$EDGECACHE_WRITE_POLICY#g" \
        -e "s#@EDGECACHE_RUNTIME@#$EDGECACHE_RUNTIME#g" \
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
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local c
    for c in "${!ROOT_PID[@]}"; do stop_pid "${ROOT_PID[$c]}" "$c"; done
    stop_pid "$ORIGIN_PID" origin
    # The stores can be large; results and logs stay.
    if [ "$KEEP" -eq 0 ]; then
        rm -rf "$RUN/edgecache/data" "$RUN/nginx/cache" "$RUN/varnish/work" \
            "$RUN/origin/html" "$RUN/warm-urls.cfg" 2>/dev/null || true
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

# All pids of a process tree (the root and its descendants).
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

# utime+stime (clock ticks) summed over a cache's processes.
cpu_ticks() {
    local p sum=0 t
    for p in $(tree_pids "$1"); do
        t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

# utime alone (clock ticks): user-space CPU, the part the cache's own code
# decides; the rest is kernel time (socket calls, wake-ups).
user_ticks() {
    local p sum=0 t
    for p in $(tree_pids "$1"); do
        t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12}') || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

# Sum of a /proc/PID/status field (kB) over a cache's processes.
mem_kb() { # root field
    local p sum=0 v
    for p in $(tree_pids "$1"); do
        v=$(awk -v f="$2:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

# The origin's access log: a byte offset marks a point in time; origin_count
# prints "requests-from-CACHE requests-from-anyone" logged since that offset.
origin_mark() { stat -c %s "$RUN/origin/access.log"; }
origin_count() { # offset cache
    tail -c +"$(($1 + 1))" "$RUN/origin/access.log" | awk -v c="$2" '
        $4 == c { own++ } { all++ } END { printf "%d %d\n", own, all }'
}

now() { date +%s.%N; }

# "busy0 total0 busy1 total1" (clock ticks) for CPUs 0 and 1 from /proc/stat.
cpu01() {
    awk '$1 == "cpu0" || $1 == "cpu1" {
            busy = $2 + $3 + $4 + $7 + $8 + $9; printf "%d %d ", busy, busy + $5 + $6 }
         END { print "" }' /proc/stat
}

ec_metric() { # name -> value (empty if unavailable)
    curl -s --max-time 2 "http://127.0.0.1:$EDGECACHE_ADMIN_PORT/metrics" 2>/dev/null \
        | awk -v n="edgecache_$1" '$1 == n {print $2}' || true
}

cache_port() { # cache scenario
    case "$1" in
        edgecache) echo "$EDGECACHE_PORT" ;;
        nginx) if [ "$2" = h2c ]; then echo "$NGINX_H2C_PORT"; else echo "$NGINX_PORT"; fi ;;
        varnish) echo "$VARNISH_PORT" ;;
    esac
}

scenario_path() {
    case "$1" in
        hot1k|h2c|churn|rate20k) echo /obj/1k ;;
        hit16k) echo /obj/16k ;;
        hit1m) echo /obj/1m ;;
        spread100k) echo /k/00000 ;;
        full1m) echo /f/0000000 ;;
        pass) echo /nostore/1k ;;
    esac
}

# One response's cache verdict: HIT / MISS / PASS / ? from the cache's own header.
verdict() { # cache url [curl-flag]
    local h
    h=$(curl -s --max-time 10 ${3:+"$3"} -o /dev/null -D - "$2" | tr -d '\r') || { echo ERR; return; }
    case "$1" in
        edgecache)
            h=$(printf '%s\n' "$h" | awk -F': ' 'tolower($1) == "cache-status" {print $2}')
            case "$h" in
                *"; hit"*) echo HIT ;;
                "") echo "?" ;;
                *) # e.g. "edgecache; fwd=uri-miss; fwd-status=200; detail=no-store"
                   echo "MISS($(printf '%s' "$h" | tr -d ' ' | tr ';' '\n' \
                       | awk -F= '$1 == "fwd" || $1 == "detail" {printf "%s%s", n++ ? "+" : "", $2}'))" ;;
            esac ;;
        nginx)
            h=$(printf '%s\n' "$h" | awk -F': ' 'tolower($1) == "x-cache-status" {print $2}')
            echo "${h:-?}" ;;
        varnish)
            h=$(printf '%s\n' "$h" | awk -F': ' 'tolower($1) == "x-cache" {print $2}')
            echo "${h:-?}" ;;
    esac
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
    # The origin shares CPU 1 with the load generator so that CPU 0 runs
    # nothing but the cache under test.
    taskset -c 1 nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
        || die "origin nginx failed to start; see $d/error.log"
    ORIGIN_PID=$(wait_pidfile "$d/nginx.pid" origin)
    wait_port "$ORIGIN_PORT" "$ORIGIN_PID" origin
    curl -sf -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/obj/1k" || die "origin does not serve /obj/1k"
}

# ---------------------------------------------------------------- caches
start_nginx() {
    local d=$RUN/nginx
    mkdir -p "$d/tmp" "$d/cache"
    render "$HERE/nginx-cache.conf" "$d/nginx.conf" "$d"
    port_busy "$NGINX_PORT" && die "port $NGINX_PORT is in use (set PORT_BASE)"
    port_busy "$NGINX_H2C_PORT" && die "port $NGINX_H2C_PORT is in use (set PORT_BASE)"
    taskset -c 0 nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
        || die "nginx failed to start; see $d/error.log"
    ROOT_PID[nginx]=$(wait_pidfile "$d/nginx.pid" nginx)
    wait_port "$NGINX_PORT" "${ROOT_PID[nginx]}" nginx
    wait_port "$NGINX_H2C_PORT" "${ROOT_PID[nginx]}" nginx
}

start_varnish() {
    local d=$RUN/varnish
    mkdir -p "$d"
    render "$HERE/varnish.vcl" "$d/varnish.vcl" "$d"
    port_busy "$VARNISH_PORT" && die "port $VARNISH_PORT is in use (set PORT_BASE)"
    # -j none: no privilege separation, so it runs as whoever runs this script
    # (works unprivileged, and as root with a private 0700 run directory).
    # -T none: no management CLI port. http2 is off by default in Varnish.
    taskset -c 0 varnishd -a "127.0.0.1:$VARNISH_PORT" -f "$d/varnish.vcl" \
        -n "$d/work" -s "malloc,$VARNISH_MALLOC" -P "$d/varnishd.pid" \
        -j none -T none -p feature=+http2 >"$d/varnishd.log" 2>&1 \
        || die "varnishd failed to start: $(cat "$d/varnishd.log")"
    ROOT_PID[varnish]=$(wait_pidfile "$d/varnishd.pid" varnish)
    wait_port "$VARNISH_PORT" "${ROOT_PID[varnish]}" varnish
}

start_edgecache() {
    local d=$RUN/edgecache
    mkdir -p "$d/data"
    render "$HERE/edgecache.toml" "$d/edgecache.toml" "$d"
    port_busy "$EDGECACHE_PORT" && die "port $EDGECACHE_PORT is in use (set PORT_BASE)"
    port_busy "$EDGECACHE_ADMIN_PORT" && die "port $EDGECACHE_ADMIN_PORT is in use (set PORT_BASE)"
    "$EDGECACHE_BIN" check-config "$d/edgecache.toml" >/dev/null \
        || die "edgecache rejects $d/edgecache.toml"
    # No worker-thread setting exists: tokio sizes its runtime from the CPUs
    # this process may run on, which taskset limits to one.
    taskset -c 0 "$EDGECACHE_BIN" --config "$d/edgecache.toml" >"$d/edgecache.log" 2>&1 &
    ROOT_PID[edgecache]=$!
    wait_port "$EDGECACHE_PORT" "${ROOT_PID[edgecache]}" edgecache
    wait_port "$EDGECACHE_ADMIN_PORT" "${ROOT_PID[edgecache]}" edgecache
    {
        echo "binary: $EDGECACHE_BIN"
        "$EDGECACHE_BIN" --version 2>/dev/null || true
        echo "threads at start (name count):"
        cat /proc/"${ROOT_PID[edgecache]}"/task/*/comm | sort | uniq -c
    } >"$d/threads.txt"
}

# ---------------------------------------------------------------- load
RAW_OUT=""
# Runs the load generator for one scenario against one cache, pinned to CPU 1.
# Prints: rps requests errors non2xx p50_ms p99_ms
run_load() { # scenario cache secs outfile
    local s=$1 c=$2 secs=$3 out=$4 port url
    port=$(cache_port "$c" "$s")
    url="http://127.0.0.1:$port$(scenario_path "$s")"
    case "$s" in
        hot1k|hit16k|hit1m|pass)
            taskset -c 1 wrk -t1 -c"$CONNS" -d"${secs}s" --latency "$url" >"$out" 2>&1 || true
            parse_wrk "$out" ;;
        churn)
            taskset -c 1 wrk -t1 -c"$CONNS" -d"${secs}s" --latency -H 'Connection: close' "$url" >"$out" 2>&1 || true
            parse_wrk "$out" ;;
        spread100k|full1m)
            local keys=("$KEYS")
            if [ "$s" = full1m ]; then keys=("$FULL_KEYS" /f/ 7 zipf); fi
            taskset -c 1 wrk -t1 -c"$CONNS" -d"${secs}s" --latency -s "$HERE/random-keys.lua" \
                "http://127.0.0.1:$port/" -- "${keys[@]}" >"$out" 2>&1 || true
            parse_wrk "$out" ;;
        h2c)
            # h2load speaks h2c with prior knowledge to http:// URIs.
            taskset -c 1 h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D"$secs" "$url" >"$out" 2>&1 || true
            parse_h2load "$out" "" ;;
        rate20k)
            local per=$(( (RATE + RATE_CONNS - 1) / RATE_CONNS ))
            taskset -c 1 h2load --h1 -t1 -c"$RATE_CONNS" --rps="$per" -D"$secs" \
                --log-file="$out.log" "$url" >"$out" 2>&1 || true
            parse_h2load "$out" "$out.log"
            rm -f "$out.log" ;;
    esac
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

parse_h2load() { # out [logfile]
    local p50=- p99=-
    if [ -n "$2" ] && [ -s "$2" ]; then
        read -r p50 p99 < <(awk -F'\t' '{print $3}' "$2" | sort -n | awk '
            { v[NR] = $1 }
            END { if (NR == 0) { print "- -"; exit }
                  i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
                  i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
                  printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000 }')
    fi
    awk -v p50="$p50" -v p99="$p99" '
        /^finished in/ { rps = $4 }
        /^requests:/ { gsub(",", ""); done = $6; err = $10 + $12 + $14 }
        /^status codes:/ { gsub(",", ""); non2xx = $7 + $9 }
        END { printf "%s %s %s %s %s %s\n", rps + 0, done + 0, err + 0, non2xx + 0, p50, p99 }' "$1"
}

# ---------------------------------------------------------------- 100k fill
declare -A FILLED=()
fill_keys() { # cache
    local c=$1 port t0 t1 rss0 rss1 o0 o1 bad m1 codes
    port=$(cache_port "$c" spread100k)
    log "  filling $KEYS keys into $c"
    rss0=$(mem_kb "${ROOT_PID[$c]}" VmRSS)
    o0=$(origin_mark)
    awk -v n="$KEYS" -v p="$port" 'BEGIN {
        for (i = 0; i < n; i++) {
            printf "url = \"http://127.0.0.1:%s/k/%05d\"\noutput = \"/dev/null\"\n", p, i } }' \
        >"$RUN/warm-urls.cfg"
    codes=$RUN/raw/fill-$c.codes
    t0=$(now)
    taskset -c 1 curl -s --no-progress-meter --parallel --parallel-max 32 -K "$RUN/warm-urls.cfg" \
        -w '%{http_code}\n' >"$codes" 2>"$RUN/raw/fill-$c.err" || true
    t1=$(now)
    read -r o1 _ < <(origin_count "$o0" "$c")
    bad=$(awk '$1 != 200' "$codes" | wc -l)
    sleep 1
    rss1=$(mem_kb "${ROOT_PID[$c]}" VmRSS)
    m1=""; [ "$c" = edgecache ] && m1=$(ec_metric store_memory_bytes)
    printf '%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$c" "$KEYS" "$(wc -l <"$codes")" "$bad" "$o1" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}')" "$rss0" "$rss1" "$m1" \
        >>"$RUN/fill.csv"
    [ "$bad" -eq 0 ] || log "  WARNING: $bad of $KEYS fill requests to $c did not answer 200"
    FILLED[$c]=1
}

# ---------------------------------------------------------------- measure
is_hit_scenario() { [ "$1" != pass ] && [ "$1" != full1m ]; }

# full1m: Zipf-distributed keys over FULL_KEYS URLs, more than any cache
# here holds. The first time a cache meets it, FULL_PREFILL seconds of the
# same load, unmeasured, so that the cache is full and evicting (steady
# state) before any measurement. Its rounds run after every other
# scenario's: it evicts their objects.
declare -A PREFILLED=()

measure() { # round scenario cache
    local r=$1 s=$2 c=$3 port url pid base v1 v2 tk0 tk1 o0 od oall w0 w1
    local b0a t0a b1a t1a b0b t0b b1b t1b cpu0 cpu1
    local rps reqs err non2xx p50 p99 hwm rss wall cpu_us cpu_pct check ecm0 ecm1 ech0 ech1
    pid=${ROOT_PID[$c]}
    port=$(cache_port "$c" "$s")
    url="http://127.0.0.1:$port$(scenario_path "$s")"
    kill -0 "$pid" 2>/dev/null || die "$c (pid $pid) is gone; see $RUN/$c/"
    base=$RUN/raw/r$r-$s-$c
    # Warm-up: fill (and check the cache's own verdict), then a short unmeasured load.
    if [ "$s" = full1m ]; then
        if [ -z "${PREFILLED[$c]:-}" ]; then
            log "  pre-filling $c: ${FULL_PREFILL}s of random load over $FULL_KEYS keys"
            run_load full1m "$c" "$FULL_PREFILL" "$RUN/raw/prefill-$c.txt" >/dev/null
            PREFILLED[$c]=1
        fi
        v1=$(verdict "$c" "http://127.0.0.1:$port/f/0000000")
        v2=$(verdict "$c" "http://127.0.0.1:$port/f/0000000")
    elif [ "$s" = spread100k ]; then
        [ -n "${FILLED[$c]:-}" ] || fill_keys "$c"
        v1=$(verdict "$c" "http://127.0.0.1:$port/k/00000")
        v2=$(verdict "$c" "http://127.0.0.1:$port/k/$(printf %05d $((KEYS - 1)))")
    elif [ "$s" = h2c ]; then
        v1=$(verdict "$c" "$url" --http2-prior-knowledge)
        v2=$(verdict "$c" "$url" --http2-prior-knowledge)
    else
        v1=$(verdict "$c" "$url")
        v2=$(verdict "$c" "$url")
    fi
    # results.csv has no quoting: keep commas out of the verdicts.
    v1=${v1//,/+}; v2=${v2//,/+}
    if [ "$WARMUP" != 0 ]; then
        run_load "$s" "$c" "$WARMUP" "$base.warmup.txt" >/dev/null
    fi
    sleep 0.2
    o0=$(origin_mark)
    ecm0=""; ech0=""
    if [ "$c" = edgecache ]; then ecm0=$(ec_metric store_misses_total); ech0=$(ec_metric store_memory_hits_total); fi
    read -r b0a t0a b1a t1a < <(cpu01)
    tk0=$(cpu_ticks "$pid")
    uk0=$(user_ticks "$pid")
    w0=$(now)
    read -r rps reqs err non2xx p50 p99 < <(run_load "$s" "$c" "$DURATION" "$base.txt")
    w1=$(now)
    tk1=$(cpu_ticks "$pid")
    uk1=$(user_ticks "$pid")
    read -r b0b t0b b1b t1b < <(cpu01)
    read -r od oall < <(origin_count "$o0" "$c")
    ecm1=""; ech1=""
    if [ "$c" = edgecache ]; then ecm1=$(ec_metric store_misses_total); ech1=$(ec_metric store_memory_hits_total); fi
    hwm=$(mem_kb "$pid" VmHWM)
    rss=$(mem_kb "$pid" VmRSS)
    wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN{printf "%.3f", b - a}')
    cpu_us=$(awk -v t=$((tk1 - tk0)) -v n="$reqs" -v hz="$CLK_TCK" \
        'BEGIN{ if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "" }')
    user_us=$(awk -v t=$((uk1 - uk0)) -v n="$reqs" -v hz="$CLK_TCK" \
        'BEGIN{ if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "" }')
    cpu_pct=$(awk -v t=$((tk1 - tk0)) -v w="$wall" -v hz="$CLK_TCK" \
        'BEGIN{ printf "%.1f", t / hz / w * 100 }')
    # Whole-CPU load: CPU 0 should be busy with the cache alone, CPU 1 with
    # the load generator (and the origin).
    cpu0=$(awk -v b=$((b0b - b0a)) -v t=$((t0b - t0a)) 'BEGIN{ printf "%.1f", (t > 0 ? b / t * 100 : 0) }')
    cpu1=$(awk -v b=$((b1b - b1a)) -v t=$((t1b - t1a)) 'BEGIN{ printf "%.1f", (t > 0 ? b / t * 100 : 0) }')
    if is_hit_scenario "$s"; then
        if [ "$od" -eq 0 ]; then check=ok; else check="FAIL"; fi
    elif [ "$s" = full1m ]; then
        check=full
    else
        check=pass
    fi
    local ecmiss="" echits=""
    [ -n "$ecm0" ] && [ -n "$ecm1" ] && ecmiss=$((ecm1 - ecm0))
    [ -n "$ech0" ] && [ -n "$ech1" ] && echits=$((ech1 - ech0))
    printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' \
        "$r" "$s" "$c" "$rps" "$reqs" "$err" "$non2xx" "$p50" "$p99" "$((tk1 - tk0))" \
        "$cpu_us" "$cpu_pct" "$wall" "$hwm" "$rss" "$od" "$oall" "$check" "$v1" "$v2" "$ecmiss" "$echits" "$cpu0" "$cpu1" "$user_us" \
        >>"$RESULTS"
    log "  r$r $s $c: ${rps} req/s, ${cpu_us:-?} CPU us/req, ${cpu_pct}% CPU (CPU 0 ${cpu0}% busy, CPU 1 ${cpu1}%), p99 ${p99} ms, errors $err, non-2xx $non2xx, origin reqs $od ($check; $oall from all caches), warm-up verdicts $v1/$v2"
    if [ "$reqs" = 0 ]; then
        log "  WARNING: no request completed; see $base.txt"
    fi
}

# ---------------------------------------------------------------- main
read -r load1 _ </proc/loadavg
if awk -v l="$load1" 'BEGIN{ exit !(l > 0.5) }'; then
    log "WARNING: load average is $load1: other work on this machine will distort the numbers (see the 'CPU 0 other' column)"
fi
log "caches: ${CACHES[*]}; scenarios: ${SCENARIOS[*]}; rounds: $ROUNDS x ${DURATION}s (warm-up ${WARMUP}s)"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "host: $(uname -srm), $(nproc) CPUs"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "caches: ${CACHES[*]}"
    echo "scenarios: ${SCENARIOS[*]}"
    echo "ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS H2_CONNS=$H2_CONNS H2_STREAMS=$H2_STREAMS RATE=$RATE RATE_CONNS=$RATE_CONNS KEYS=$KEYS FULL_KEYS=$FULL_KEYS FULL_PREFILL=$FULL_PREFILL"
    echo "EDGECACHE_RUNTIME=$EDGECACHE_RUNTIME EDGECACHE_MEMORY_BYTES=$EDGECACHE_MEMORY_BYTES EDGECACHE_DISK_BYTES=$EDGECACHE_DISK_BYTES EDGECACHE_WRITE_POLICY=$EDGECACHE_WRITE_POLICY VARNISH_MALLOC=$VARNISH_MALLOC"
    echo "nginx: $(nginx -v 2>&1)"
    echo "varnishd: $(varnishd -V 2>&1 | head -1)"
    echo "wrk: $(wrk -v 2>&1 | head -1)"
    echo "h2load: $(h2load --version 2>&1 | head -1)"
    echo "git: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
} >"$RUN/env.txt"

echo "round,scenario,cache,rps,requests,errors,non2xx,p50_ms,p99_ms,cpu_ticks,cpu_us_per_req,cpu_pct,wall_s,peak_rss_kb,rss_kb,origin_requests,origin_requests_all,origin_check,warm_verdict1,warm_verdict2,ec_store_misses,ec_store_memory_hits,cpu0_busy_pct,cpu1_busy_pct,user_us_per_req" >"$RESULTS"
echo "cache,keys,responses,non_200,origin_requests,fill_s,rss_before_kb,rss_after_kb,ec_store_memory_bytes" >"$RUN/fill.csv"

start_origin
for c in "${CACHES[@]}"; do
    log "starting $c (pinned to CPU 0)"
    "start_$c"
done
if [ -n "${ROOT_PID[edgecache]:-}" ]; then
    log "edgecache threads at start (count name): $(cat /proc/"${ROOT_PID[edgecache]}"/task/*/comm | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')"
fi

n=${#CACHES[@]}
# full1m fills every cache past its capacity, evicting the other scenarios'
# objects: its rounds run after all the others'.
for phase in main full; do
    for ((r = 1; r <= ROUNDS; r++)); do
        si=0
        for s in "${SCENARIOS[@]}"; do
            if [ "$s" = full1m ]; then [ "$phase" = full ] || continue; else [ "$phase" = main ] || continue; fi
            [ "$si" -eq 0 ] && log "round $r of $ROUNDS ($phase)"
            for ((k = 0; k < n; k++)); do
                c=${CACHES[$(( (r - 1 + si + k) % n ))]}
                measure "$r" "$s" "$c"
            done
            si=$((si + 1))
        done
    done
done

for c in "${CACHES[@]}"; do
    echo "$c: final VmRSS $(mem_kb "${ROOT_PID[$c]}" VmRSS) kB, VmHWM $(mem_kb "${ROOT_PID[$c]}" VmHWM) kB" >>"$RUN/env.txt"
done
if [ -n "${ROOT_PID[edgecache]:-}" ]; then
    curl -s "http://127.0.0.1:$EDGECACHE_ADMIN_PORT/metrics" >"$RUN/edgecache/metrics-final.txt" || true
fi

python3 "$HERE/report.py" "$RUN" "$EDGECACHE_MEMORY_BYTES" "$RATE" | tee "$RUN/summary.md"
log "raw results: $RESULTS, $RUN/results.json, $RUN/fill.csv; per-run output in $RUN/raw/"
