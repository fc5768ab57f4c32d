#!/usr/bin/env python3
"""Ranges that fill the cache (issue 15): origin offload and client latency
for a seeking workload, edgecache against nginx's slice module, in one run.

The origin is a small threaded Python server that serves generated objects,
honours single byte ranges, and counts the requests and body bytes it sends.
The workload: OBJECTS objects of SMALL_MB MiB (a cacheable size: edgecache
fetches each whole once) and BIG objects of BIG_MB MiB (above edgecache's
slice threshold: fetched in 1 MiB slices), and REQUESTS single ranges of
RANGE_KB KiB at seeded random offsets, one after another over one keep-alive
connection, Zipf-free (uniform over objects). Each cache starts empty.

Caches measured, each in turn against the same origin:
  edgecache            default config (range_fill on, slices above 16 MiB)
  edgecache-no-fill    [cache] range_fill = false (ranges forwarded as sent)
  nginx-slice          nginx proxy_cache with `slice 1m` (the nginx way)

Usage: benches/load/ranges.py
Environment: EDGECACHE_BIN (target/release/edgecache; never built here),
  REQUESTS (400), OBJECTS (20), SMALL_MB (4), BIG (2), BIG_MB (64),
  RANGE_KB (64), SEED (15), PORT_BASE (18380).
Prints a markdown table.
"""
import http.client
import http.server
import os
import random
import shutil
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("EDGECACHE_BIN", os.path.join(REPO, "target", "release", "edgecache"))
REQUESTS = int(os.environ.get("REQUESTS", "400"))
OBJECTS = int(os.environ.get("OBJECTS", "20"))
SMALL = int(os.environ.get("SMALL_MB", "4")) << 20
BIG = int(os.environ.get("BIG", "2"))
BIG_LEN = int(os.environ.get("BIG_MB", "64")) << 20
RANGE = int(os.environ.get("RANGE_KB", "64")) << 10
SEED = int(os.environ.get("SEED", "15"))
PORT = int(os.environ.get("PORT_BASE", "18380"))

BLOCK = bytes((i * 7) % 251 for i in range(1 << 16))


def content(a, b):
    """Bytes a..=b of every object (a repeating pattern)."""
    out = bytearray()
    pos = a
    while pos <= b:
        off = pos % len(BLOCK)
        n = min(len(BLOCK) - off, b - pos + 1)
        out += BLOCK[off:off + n]
        pos += n
    return bytes(out)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.bytes = 0

    def add(self, n):
        with self.lock:
            self.requests += 1
            self.bytes += n

    def take(self):
        with self.lock:
            r = (self.requests, self.bytes)
            self.requests = self.bytes = 0
            return r


STATS = Stats()


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.split("?")[0]
        length = BIG_LEN if name.startswith("/big") else SMALL
        status, a, b = 200, 0, length - 1
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and "," not in rng:
            first, _, last = rng[6:].partition("-")
            try:
                if first == "":
                    a, b = max(0, length - int(last)), length - 1
                else:
                    a = int(first)
                    b = min(int(last), length - 1) if last else length - 1
                status = 206
            except ValueError:
                pass
        if a > b:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{length}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body_len = b - a + 1
        self.send_response(status)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Cache-Control", "max-age=3600")
        self.send_header("ETag", '"v1"')
        self.send_header("Last-Modified", "Tue, 01 Dec 2026 00:00:00 GMT")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(body_len))
        if status == 206:
            self.send_header("Content-Range", f"bytes {a}-{b}/{length}")
        self.end_headers()
        sent = 0
        try:
            pos = a
            while pos <= b:
                chunk = content(pos, min(b, pos + (1 << 20) - 1))
                self.wfile.write(chunk)
                sent += len(chunk)
                pos += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        STATS.add(sent)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def wait_port(port):
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def workload():
    rnd = random.Random(SEED)
    reqs = []
    for _ in range(REQUESTS):
        if rnd.random() < BIG / (BIG + OBJECTS):
            path, length = f"/big{rnd.randrange(BIG)}.mp4", BIG_LEN
        else:
            path, length = f"/obj{rnd.randrange(OBJECTS)}.mp4", SMALL
        a = rnd.randrange(0, length - RANGE)
        reqs.append((path, a, a + RANGE - 1))
    return reqs


def run_client(port, reqs):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    lat = []
    bad = 0
    for path, a, b in reqs:
        t0 = time.perf_counter()
        conn.request("GET", path, headers={"Range": f"bytes={a}-{b}", "Host": "bench.test"})
        r = conn.getresponse()
        body = r.read()
        lat.append(time.perf_counter() - t0)
        if r.status != 206 or body != content(a, b):
            if bad == 0:
                print(f"port {port}: {path} bytes={a}-{b}: status {r.status}, {len(body)} bytes",
                      file=sys.stderr)
            bad += 1
    conn.close()
    return lat, bad


def edgecache(run, port, admin, origin, extra):
    cfg = os.path.join(run, f"edgecache-{port}.toml")
    with open(cfg, "w") as f:
        f.write(f'origin = "http://127.0.0.1:{origin}"\n[server]\nlisten = "127.0.0.1:{port}"\n'
                f'data_dir = "{run}/data-{port}"\n[admin]\nlisten = "127.0.0.1:{admin}"\n{extra}')
    log = open(os.path.join(run, f"edgecache-{port}.log"), "w")
    return subprocess.Popen([BIN, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)


NGINX = """
{user}
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  client_body_temp_path {run}/tmp-cb; proxy_temp_path {run}/tmp-proxy;
  fastcgi_temp_path {run}/tmp-f; uwsgi_temp_path {run}/tmp-u; scgi_temp_path {run}/tmp-s;
  access_log off;
  proxy_cache_path {run}/nginx-cache levels=1:2 keys_zone=c:64m max_size=4g inactive=1h use_temp_path=off;
  upstream origin {{ server 127.0.0.1:{origin}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      slice 1m;
      proxy_cache c;
      proxy_cache_key $uri$is_args$args$slice_range;
      proxy_set_header Range $slice_range;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache_valid 200 206 1h;
      proxy_pass http://origin;
    }}
  }}
}}
"""


def main():
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN} is missing: run cargo build --release first")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    run = tempfile.mkdtemp(prefix="edgecache-ranges.")
    origin_port = PORT
    srv = Server(("127.0.0.1", origin_port), Origin)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    reqs = workload()
    rows = []
    cases = [
        ("edgecache (default: range_fill, slices above 16 MiB)", "edgecache", ""),
        ("edgecache, range_fill = false", "edgecache", "[cache]\nrange_fill = false\n"),
        ("nginx 1.22 proxy_cache + slice 1m", "nginx", None),
    ]
    try:
        for i, (label, kind, extra) in enumerate(cases):
            port = PORT + 1 + 2 * i
            if kind == "edgecache":
                proc = edgecache(run, port, port + 1, origin_port, extra)
            else:
                conf = os.path.join(run, "nginx.conf")
                with open(conf, "w") as f:
                    user = "user root;" if os.geteuid() == 0 else ""
                    f.write(NGINX.format(user=user, run=run, origin=origin_port, port=port))
                proc = subprocess.Popen([nginx, "-p", run, "-c", conf, "-g", "daemon off;", "-e",
                                         os.path.join(run, "nginx-error.log")])
            wait_port(port)
            STATS.take()
            t0 = time.perf_counter()
            lat, bad = run_client(port, reqs)
            wall = time.perf_counter() - t0
            time.sleep(1.0)  # background fills finish
            o_req, o_bytes = STATS.take()
            proc.terminate()
            proc.wait(timeout=30)
            lat.sort()
            rows.append((label, o_req, o_bytes / (1 << 20), statistics.median(lat) * 1000,
                         lat[int(len(lat) * 0.99) - 1] * 1000, wall, bad))
    finally:
        srv.shutdown()
        shutil.rmtree(run, ignore_errors=True)
    client_mib = REQUESTS * RANGE / (1 << 20)
    print(f"{REQUESTS} ranges of {RANGE >> 10} KiB over {OBJECTS} x {SMALL >> 20} MiB + "
          f"{BIG} x {BIG_LEN >> 20} MiB objects (seed {SEED}); clients received {client_mib:.0f} MiB\n")
    print("| cache | origin requests | origin MiB | client p50 ms | client p99 ms | wall s | wrong answers |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.0f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.1f} | {r[6]} |")


if __name__ == "__main__":
    main()
