#!/usr/bin/env bash
# Tiered caching's origin offload (issue 14): three edgecache nodes over one
# origin, a Zipf workload spread over the three, and the number of requests
# the origin sees with tiering off and on. Each run starts from empty
# stores. The origin is a small Python server that counts requests per
# path; the client sends every request to a node chosen at random (seeded),
# one at a time over keep-alive connections, with one Host for the site.
#
# Usage: benches/load/tier-offload.sh
# Environment: REQUESTS (20000), OBJECTS (2000), ZIPF_S (1.0), SEED (14),
#   PORT_BASE (18280), EDGECACHE_BIN (target/release/edgecache; never built
#   here: run `cargo build --release` first), RUN_DIR (default: mktemp -d
#   /tmp/edgecache-tier.XXXX).
# Prints a markdown table: origin requests without and with tiering, and
# the offload (1 - with / without).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
REQUESTS=${REQUESTS:-20000}
OBJECTS=${OBJECTS:-2000}
ZIPF_S=${ZIPF_S:-1.0}
SEED=${SEED:-14}
PORT_BASE=${PORT_BASE:-18280}
EDGECACHE_BIN=${EDGECACHE_BIN:-$REPO/target/release/edgecache}

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { printf 'tier-offload.sh: error: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 is missing"
[ -x "$EDGECACHE_BIN" ] || die "$EDGECACHE_BIN is missing: run cargo build --release first"

RUN=${RUN_DIR:-$(mktemp -d /tmp/edgecache-tier.XXXX)}
ORIGIN_PORT=$PORT_BASE
# Node i: public port PORT_BASE + 1 + 2i, admin port PORT_BASE + 2 + 2i.
declare -A PID=()

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$RUN"/node*/data
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

stop() { # name
    local p=${PID[$1]:-}
    [ -n "$p" ] || return 0
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset "PID[$1]"
}

# The origin: every path is a small object cacheable for an hour; GET
# /__count answers the number of requests seen, /__reset zeroes it.
cat >"$RUN/origin.py" <<'EOF'
import http.server, sys, threading
lock = threading.Lock()
count = 0
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        global count
        if self.path in ("/__count", "/__reset"):
            with lock:
                if self.path == "/__reset":
                    count = 0
                body = str(count).encode()
            cc = "no-store"
        else:
            with lock:
                count += 1
            body = ("object " + self.path + "\n").encode() * 16
            cc = "max-age=3600"
        self.send_response(200)
        self.send_header("cache-control", cc)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 "$RUN/origin.py" "$ORIGIN_PORT" &
PID[origin]=$!
wait_port "$ORIGIN_PORT" origin

# The client: Zipf(s) over OBJECTS paths, each request to a random node.
cat >"$RUN/client.py" <<'EOF'
import bisect, http.client, random, socket, sys
requests, objects, s, seed = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
ports = [int(p) for p in sys.argv[5:]]
rng = random.Random(seed)
weights = [1.0 / (k ** s) for k in range(1, objects + 1)]
cum, total = [], 0.0
for w in weights:
    total += w
    cum.append(total)
conns = [http.client.HTTPConnection("127.0.0.1", p) for p in ports]
for c in conns:
    c.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
failed = 0
for _ in range(requests):
    obj = bisect.bisect_left(cum, rng.random() * total)
    c = conns[rng.randrange(len(conns))]
    c.request("GET", f"/zipf/{obj}", headers={"Host": "bench.test"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        failed += 1
print(failed)
EOF

origin_count() { python3 - "$ORIGIN_PORT" "$1" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
c.request("GET", sys.argv[2]); print(c.getresponse().read().decode())
EOF
}

run() { # tiered: on | off
    local peers="" i port admin
    for i in 0 1 2; do
        peers+="\"127.0.0.1:$((PORT_BASE + 1 + 2 * i))\", "
    done
    for i in 0 1 2; do
        port=$((PORT_BASE + 1 + 2 * i)); admin=$((PORT_BASE + 2 + 2 * i))
        mkdir -p "$RUN/node$i"
        rm -rf "$RUN/node$i/data"
        cat >"$RUN/node$i/edgecache.toml" <<EOF
origin = "http://127.0.0.1:$ORIGIN_PORT"

[server]
listen = "127.0.0.1:$port"
data_dir = "$RUN/node$i/data"
cache_name = "edge-$i"
runtime = "current_thread"

[storage]
memory_bytes = 67108864
disk_bytes = 134217728
block_bytes = 4194304
max_object_bytes = 1048576

[admin]
listen = "127.0.0.1:$admin"
EOF
        if [ "$1" = on ]; then
            cat >>"$RUN/node$i/edgecache.toml" <<EOF

[tier]
peers = [${peers%, }]
self_addr = "127.0.0.1:$port"
EOF
        fi
        "$EDGECACHE_BIN" --config "$RUN/node$i/edgecache.toml" >"$RUN/node$i-$1.log" 2>&1 &
        PID[node$i]=$!
    done
    for i in 0 1 2; do wait_port $((PORT_BASE + 1 + 2 * i)) "node$i"; done
    origin_count /__reset >/dev/null
    local failed
    failed=$(python3 "$RUN/client.py" "$REQUESTS" "$OBJECTS" "$ZIPF_S" "$SEED" \
        $((PORT_BASE + 1)) $((PORT_BASE + 3)) $((PORT_BASE + 5)))
    [ "$failed" = 0 ] || die "$failed requests failed (tiering $1); see $RUN/node*-$1.log"
    origin_count /__count
    for i in 0 1 2; do stop "node$i"; done
}

log "tiering off: $REQUESTS requests, Zipf s=$ZIPF_S over $OBJECTS objects, 3 nodes"
OFF=$(run off)
log "tiering on"
ON=$(run on)
DISTINCT=$(python3 - "$REQUESTS" "$OBJECTS" "$ZIPF_S" "$SEED" <<'EOF'
import bisect, random, sys
requests, objects, s, seed = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
cum, total = [], 0.0
for k in range(1, objects + 1):
    total += 1.0 / (k ** s)
    cum.append(total)
seen = set()
for _ in range(requests):
    seen.add(bisect.bisect_left(cum, rng.random() * total))
    rng.randrange(3)
print(len(seen))
EOF
)
python3 - "$OFF" "$ON" "$DISTINCT" "$REQUESTS" <<'EOF'
import sys
off, on, distinct, requests = map(int, sys.argv[1:])
print("| tiering | origin requests | of client requests | distinct objects requested |")
print("|---|---:|---:|---:|")
print(f"| off | {off} | {100 * off / requests:.1f} % | {distinct} |")
print(f"| on (3-node ring) | {on} | {100 * on / requests:.1f} % | {distinct} |")
print()
print(f"Origin offload from tiering: {100 * (1 - on / off):.1f} % fewer origin requests ({off / on:.2f}x).")
EOF
