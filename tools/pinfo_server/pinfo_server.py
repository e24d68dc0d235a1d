#!/usr/bin/env python3
"""A Partner Info service for the end-to-end tests (docs/enrichment.md).

Binds 127.0.0.1 on a free port and prints the port on its first stdout line.

  GET  /partners/<id>   the answer (--answer, sent byte for byte) with
                        Cache-Control: max-age=<--max-age> when given (or
                        Cache-Control: <--cache-control> as it is); 401
                        unless "Authorization: Bearer <--token>" (when given);
                        503 while failing. Every such request is counted.
                        With --sigv4 AKID:SECRET[:TOKEN] --region R, 403
                        unless the request is SigV4-signed for R and
                        execute-api with those credentials, as botocore's
                        SigV4Auth (an implementation independent of
                        hookloop's) computes it over the same request, with
                        Host, X-Amz-Date (within 15 minutes) and, with a
                        token, X-Amz-Security-Token among the signed headers.
  GET  /_stats          {"requests": N, "unauthorized": N, "paths": [...]}
                        (paths: the raw request paths, in order)
  POST /_fail, /_ok     start or stop failing (503)
  POST /_release        answers the requests held (--hold: every answer
                        waits for this), and holds no more
"""
import argparse
import datetime
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--answer", default='{"tier":"gold"}')
    ap.add_argument("--max-age", type=int, default=None)
    ap.add_argument("--cache-control", default=None)
    ap.add_argument("--token", default=None)
    ap.add_argument("--fail", action="store_true")
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--sigv4", default=None, help="AKID:SECRET[:TOKEN]")
    ap.add_argument("--region", default="us-east-1")
    args = ap.parse_args()
    state = {"requests": 0, "unauthorized": 0, "fail": args.fail, "paths": []}
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

        def sigv4_ok(self):
            """The Authorization header checked as API Gateway's IAM authorizer would."""
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
            akid, secret, token = (args.sigv4.split(":") + [None])[:3]
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("AWS4-HMAC-SHA256 "):
                return False
            fields = dict(p.strip().partition("=")[::2] for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
            cred = fields.get("Credential", "").split("/")
            signed = fields.get("SignedHeaders", "").split(";")
            if len(cred) != 5 or cred[0] != akid or cred[2] != args.region or cred[3] != "execute-api":
                return False
            need = {"host", "x-amz-date"} | ({"x-amz-security-token"} if token else set())
            if not need.issubset(signed) or (token and self.headers.get("X-Amz-Security-Token") != token):
                return False
            amz_date = self.headers.get("X-Amz-Date", "")
            try:
                t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
            except ValueError:
                return False
            if abs((datetime.datetime.utcnow() - t).total_seconds()) > 900 or amz_date[:8] != cred[1]:
                return False
            headers = {}
            for name in signed:
                v = self.headers.get_all(name)
                if v is None:
                    return False
                headers[name] = ",".join(v)
            req = AWSRequest(method="GET", url="http://%s%s" % (headers["host"], self.path), data=b"",
                             headers=headers)
            req.context["timestamp"] = amz_date
            signer = SigV4Auth(Credentials(akid, secret, token), "execute-api", args.region)
            sts = signer.string_to_sign(req, signer.canonical_request(req))
            return signer.signature(sts, req) == fields.get("Signature")

        def do_GET(self):
            if self.path == "/_stats":
                with lock:
                    stats = {k: state[k] for k in ("requests", "unauthorized", "paths")}
                self.reply(200, json.dumps(stats))
                return
            if not self.path.startswith("/partners/"):
                self.reply(404, '{"error":"not_found"}')
                return
            with lock:
                state["requests"] += 1
                state["paths"].append(self.path)
            released.wait(60)
            if args.sigv4 and not self.sigv4_ok():
                with lock:
                    state["unauthorized"] += 1
                self.reply(403, '{"message":"The request signature we calculated does not match the signature you provided."}')
                return
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
            if args.cache_control is not None:
                extra = [("Cache-Control", args.cache_control)]
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
