#!/usr/bin/env python3
"""A Partner Info service for the end-to-end tests (docs/enrichment.md).

Binds 127.0.0.1 on a free port and prints the port on its first stdout line.

  GET  /partners/<id>   the answer (--answer, sent byte for byte) with
                        Cache-Control: max-age=<--max-age> when given; 401
                        unless "Authorization: Bearer <--token>" (when given);
                        503 while failing. Every such request is counted.
  GET  /_stats          {"requests": N, "unauthorized": N}
  POST /_fail, /_ok     start or stop failing (503)
  POST /_release        answers the requests held (--hold: every answer
                        waits for this), and holds no more
"""
import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--answer", default='{"tier":"gold"}')
    ap.add_argument("--max-age", type=int, default=None)
    ap.add_argument("--token", default=None)
    ap.add_argument("--fail", action="store_true")
    ap.add_argument("--hold", action="store_true")
    args = ap.parse_args()
    state = {"requests": 0, "unauthorized": 0, "fail": args.fail}
    released = threading.Event()
    if not args.hold:
        released.set()
    lock = threading.Lock()  # one thread per connection (hookloop keeps its connection open)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, code, body, extra=()):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/_stats":
                with lock:
                    stats = {k: state[k] for k in ("requests", "unauthorized")}
                self.reply(200, json.dumps(stats))
                return
            if not self.path.startswith("/partners/"):
                self.reply(404, '{"error":"not_found"}')
                return
            with lock:
                state["requests"] += 1
            released.wait(60)
            if args.token and self.headers.get("Authorization") != "Bearer " + args.token:
                with lock:
                    state["unauthorized"] += 1
                self.reply(401, '{"error":"unauthorized"}')
                return
            with lock:
                failing = state["fail"]
            if failing:
                self.reply(503, '{"error":"unavailable"}')
                return
            extra = [("Cache-Control", "max-age=%d" % args.max_age)] if args.max_age is not None else []
            self.reply(200, args.answer, extra)

        def do_POST(self):
            if self.path == "/_release":
                released.set()
                self.reply(200, "{}")
            elif self.path in ("/_fail", "/_ok"):
                with lock:
                    state["fail"] = self.path == "/_fail"
                self.reply(200, "{}")
            else:
                self.reply(404, '{"error":"not_found"}')

        def log_message(self, fmt, *a):
            pass

    ThreadingHTTPServer.daemon_threads = True
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
