#!/usr/bin/env python3
"""A small origin for scripts/cluster.sh: every path answers 200 with a body
naming it, `Cache-Control: max-age=<MAX_AGE>`, an ETag and a `Surrogate-Key`
(the path's first segment and `all`). It counts the requests it serves;
`GET /__origin/count` answers the count (and is not counted),
`POST /__origin/reset` sets it to 0.

usage: cluster-origin.py PORT [MAX_AGE]
"""
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
COUNT = 0
MAX_AGE = int(sys.argv[2]) if len(sys.argv) > 2 else 300


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        global COUNT
        if self.path == "/__origin/count":
            with LOCK:
                n = COUNT
            return self.answer(200, f"{n}\n".encode(), [("Cache-Control", "no-store")])
        with LOCK:
            COUNT += 1
        first = self.path.strip("/").split("/")[0].split("?")[0] or "root"
        body = f"origin body for {self.path}\n".encode()
        self.answer(200, body, [
            ("Cache-Control", f"max-age={MAX_AGE}"),
            ("ETag", '"1"'),
            ("Surrogate-Key", f"{first} all"),
            ("Content-Type", "text/plain"),
        ])

    do_HEAD = do_GET

    def do_POST(self):
        global COUNT
        if self.path == "/__origin/reset":
            with LOCK:
                COUNT = 0
            return self.answer(200, b"0\n")
        self.answer(405, b"")


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()
