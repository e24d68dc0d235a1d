#!/usr/bin/python3
"""tls_partner — a webhook receiver over HTTPS for hookloop's TLS tests, on
127.0.0.1, built on Python's ssl module (OpenSSL), independent of libcurl.

    /usr/bin/python3 partner.py --cert CERT.pem --key KEY.pem
        [--tls-max 1.2|1.3] [--client-ca CA.pem [--client-cert-optional]] [--no-record]

binds 127.0.0.1 on port 0 and prints "listening 127.0.0.1:<port>" on stdout
once it listens, as the other test peers do. HTTP/1.1 with keep-alive: one
TLS handshake per connection, so the handshake count says how many
connections the client opened. With --tls-max 1.2 it speaks TLS 1.2 at most;
with --client-ca every client must present a certificate issued by that CA
(mTLS), and the certificate's common name is recorded; with
--client-cert-optional as well, a client without a certificate is served
too (its common name recorded as ""), one with a certificate not issued by
that CA is refused. With --no-record (benchmarks) requests are counted,
not kept.

  POST <path>[?together=N]
                    with together=N, answered only once N requests to this
                    path arrived (at most 10 s): N requests surely in flight
                    at once, hence on N connections
                    answered 200 and recorded: the path, the webhook-id,
                    webhook-timestamp and webhook-signature headers, the
                    body, the TLS version and the client certificate's CN
  GET  /stats       {"handshakes": completed handshakes, "resumed": those
                    that resumed an earlier TLS session, "handshake_failures",
                    "last_failure": the last handshake error's text,
                    "posts": POSTs answered, "post_connections": connections
                    that carried at least one POST (each made one handshake;
                    so GETs of /stats are left out), "post_resumed": those of
                    them whose handshake resumed a session,
                    "requests": [...]}: the requests in arrival order
"""
import argparse
import json
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
ARRIVED = {}  # path -> requests received there
ARRIVAL = threading.Condition(LOCK)
STATS = {"handshakes": 0, "resumed": 0, "handshake_failures": 0, "last_failure": "", "posts": 0,
         "post_connections": 0, "post_resumed": 0, "requests": []}
RECORD = True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        # The handshake runs here, in the connection's own thread, so a
        # client that fails it is counted and cannot stall the others.
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError) as e:
            with LOCK:
                STATS["handshake_failures"] += 1
                STATS["last_failure"] = str(e)
            self.request.close()
            raise
        with LOCK:
            STATS["handshakes"] += 1
            if self.request.session_reused:
                STATS["resumed"] += 1
        super().setup()

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/stats":
            return self.answer(404, {"error": "not_found"})
        with LOCK:
            body = json.loads(json.dumps(STATS))
        self.answer(200, body)

    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        # One handler per connection: its first POST counts the connection.
        first = not getattr(self, "posted", False)
        self.posted = True
        with LOCK:
            STATS["posts"] += 1
            if first:
                STATS["post_connections"] += 1
                if self.request.session_reused:
                    STATS["post_resumed"] += 1
        if not RECORD:
            return self.answer(200, {"ok": True})
        cert = self.request.getpeercert()
        cn = ""
        for rdn in (cert or {}).get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
        rec = {"path": self.path, "webhook-id": self.headers.get("webhook-id", ""),
               "webhook-timestamp": self.headers.get("webhook-timestamp", ""),
               "webhook-signature": self.headers.get("webhook-signature", ""),
               "body": body, "tls_version": self.request.version(), "client_cn": cn}
        together = 0
        if "?together=" in self.path:
            together = int(self.path.split("?together=", 1)[1])
        with ARRIVAL:
            STATS["requests"].append(rec)
            ARRIVED[self.path] = ARRIVED.get(self.path, 0) + 1
            ARRIVAL.notify_all()
            ARRIVAL.wait_for(lambda: ARRIVED[self.path] >= together, timeout=10)
        self.answer(200, {"ok": True})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # socketserver's 5 drops SYNs when many clients connect at once

    def __init__(self, ctx):
        self.ctx = ctx
        super().__init__(("127.0.0.1", 0), Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        pass  # handshake failures are counted in setup


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--tls-max", choices=["1.2", "1.3"], default="1.3")
    ap.add_argument("--client-ca")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--client-cert-optional", action="store_true")
    a = ap.parse_args()
    global RECORD
    RECORD = not a.no_record
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2 if a.tls_max == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(a.cert, a.key)
    if a.client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL if a.client_cert_optional else ssl.CERT_REQUIRED
        ctx.load_verify_locations(a.client_ca)
    srv = Server(ctx)
    print("listening 127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
