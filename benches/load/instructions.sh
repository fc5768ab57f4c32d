#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind: stable
# on this noisy shared machine where CPU time is not. Starts a small origin
# (python3, on 127.0.0.1) and edgecache under callgrind, sends N1 and then N2
# requests (h2load --h1, 4 connections) in two separate runs, and prints
# (Ir(N2) - Ir(N1)) / (N2 - N1): start-up and shutdown cancel out.
#
#   benches/load/instructions.sh                 # 1 KiB hits
#   benches/load/instructions.sh /nostore        # pass-through
#   RUNTIME=current_thread benches/load/instructions.sh
#   EDGECACHE_BIN=/path/to/edgecache N1=2000 N2=12000 benches/load/instructions.sh
#   EXTRA_TOML="$(printf '[access_log]\nenabled = true\npath = \"/tmp/a.log\"\n')" benches/load/instructions.sh
#       (appended to the node's config: measure a feature's cost per request)
#   KEEP=1 benches/load/instructions.sh /nostore   # keep the callgrind files
#       (callgrind_annotate --inclusive=yes DIR/run-12000/callgrind.out)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${EDGECACHE_BIN:-$PWD/target/release/edgecache}
REQ_PATH=${1:-/1k}
N1=${N1:-2000}
N2=${N2:-12000}
PORT=${PORT_BASE:-18180}
for tool in valgrind callgrind_annotate h2load python3 curl; do
    command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is missing (apt-get install valgrind nghttp2-client)" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "instructions.sh: no edgecache binary at $BIN (cargo build --release)" >&2; exit 1; }
RUN=$(mktemp -d /tmp/edgecache-instr.XXXX)
cleanup() { [ -n "${ORIGIN_PID:-}" ] && kill "$ORIGIN_PID" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$RUN"; [ -n "${KEEP:-}" ] && echo "kept $RUN" >&2; }
trap cleanup EXIT

cat > "$RUN/origin.py" <<'PY'
import http.server, sys
BODY = b"x" * 1024
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Cache-Control", "no-store" if self.path.startswith("/nostore") else "max-age=3600")
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$RUN/origin.py" "$PORT" & ORIGIN_PID=$!

count() {
    local n=$1 dir="$RUN/run-$1"
    mkdir -p "$dir"
    cat > "$dir/edgecache.toml" <<TOML
origin = "http://127.0.0.1:$PORT"
[server]
listen = "127.0.0.1:$((PORT + 1))"
data_dir = "$dir/data"
runtime = "${RUNTIME:-multi_thread}"
[admin]
listen = "127.0.0.1:$((PORT + 2))"
${EXTRA_TOML:-}
TOML
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" "$BIN" --config "$dir/edgecache.toml" >"$dir/log" 2>&1 &
    local vp=$!
    for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$((PORT + 1))$REQ_PATH" && break; sleep 0.2; done
    curl -s -o /dev/null "http://127.0.0.1:$((PORT + 1))$REQ_PATH"
    h2load --h1 -n "$n" -c 4 "http://127.0.0.1:$((PORT + 1))$REQ_PATH" >"$dir/h2load.out" 2>&1
    grep -q "$n succeeded" "$dir/h2load.out" || { echo "instructions.sh: not every request succeeded:" >&2; cat "$dir/h2load.out" >&2; exit 1; }
    kill -TERM "$vp"; wait "$vp" || true
    callgrind_annotate "$dir/callgrind.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
a=$(count "$N1")
b=$(count "$N2")
echo "$REQ_PATH: $(( (b - a) / (N2 - N1) )) instructions per request (callgrind, user space, $N1 vs $N2 requests)"
