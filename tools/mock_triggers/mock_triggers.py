#!/usr/bin/python3
"""mock_triggers — a stand-in for the "Triggers API" inbox that hookloop's
inbox source pulls from, for tests, on 127.0.0.1.

    /usr/bin/python3 mock_triggers.py [--api-key K] [--jwt-secret S]
        [--auth token|jwt] [--token-lifetime SECONDS] [--page-size N]

binds 127.0.0.1 on a free port (--port 0, the default) and prints
"listening 127.0.0.1:<port>" as its first line of stdout.

The protocol (docs/inbox.md):

  POST /auth/token  {"api_key": K}  -> 200 {"access_token", "token_type":
        "Bearer", "expires_in"}   (401 for another key; 404 in jwt mode)
        The token is an HS256 JWT the mock signs with a key of its own,
        claims sub, iat, exp (iat + the lifetime) and jti (1, 2, ...).
  Every other route but /_control/* needs "Authorization: Bearer <token>":
        401 when it is missing, malformed, signed with another key, not
        HS256, or expired (exp <= now), with a JSON error body and
        WWW-Authenticate. In token mode the token must be one the mock
        issued; with --auth jwt it must be an HS256 JWT signed with the
        shared jwt_secret (minted by the client itself) carrying sub, iat
        and exp.
  GET /inbox?status=pending&limit=N[&cursor=C] -> 200 {"events": [{"id",
        "payload", "created_at", "attempts"}], "next": C | null}
        Pending events in the order they were seeded, from the cursor on.
        A page holds at most min(limit, page size) events; the page sizes
        can be a list (the k-th page served gets the k-th size, the last one
        repeating), so pages may hold fewer events than the limit. `next`
        is null once no pending event follows. status must be "pending",
        limit 1..1000 and a cursor one the mock gave out (400 otherwise).
        A payload is served exactly as it was seeded, byte for byte.
  POST /inbox/{id}/ack -> 200 {"id", "status": "acked"}; 404 for an
        unknown id. Every successful ack is counted per id (acking twice
        counts two).

Control (no token needed):
  GET  /_control/state   config, counters, events (id, status, acks) and a
                         log of every request in order (method, path,
                         status, the bearer's jti/iat/sub and why it was
                         refused)
  POST /_control/seed    {"count": N, "prefix": "evt", "payloads": [raw JSON
                         text, ...]} or {"events": [{"id", "payload"}]}:
                         adds pending events; payloads are JSON *strings*
                         holding the payload's exact text (default
                         {"seq":<n>,"amount":100.10}); answers {"ids": [...]}
  POST /_control/config  merges settings: api_key, jwt_secret, auth,
                         token_lifetime_s, report_expires_in (false: leave
                         expires_in out), page_sizes ([n, ...]), clock_offset_s
                         (moves the mock's clock, so tokens expire without
                         waiting), and faults that count down as they fire:
                         fail_auth (N /auth/token answered auth_fail_status,
                         default 500), reject_bearer (N valid bearers
                         refused with 401), fail_inbox (N GET /inbox answered
                         500; with inbox_retry_after_in_s: S, each carries
                         Retry-After as an HTTP-date S seconds ahead of the
                         mock's clock, in the form inbox_retry_after_form
                         names: imf (default), rfc850 or asctime), fail_acks (N acks answered ack_fail_status,
                         default 500), fail_ack_ids ({id: N}); delay_ms
                         ({"auth"|"inbox"|"ack": ms}: slow answers); hold
                         (["auth"|"inbox"|"ack"]: requests of those routes
                         wait, before their bearer is checked, until the
                         route leaves the list; counts.holding says how many
                         wait); and a misbehaving inbox: ignore_limit (a
                         page holds the page size even beyond the limit),
                         stuck_cursor (next is the cursor just given, "c0"
                         at first)
  POST /_control/reset   forgets events, counters, log and settings

Why Python: the mock's JWT code (hmac, hashlib, base64 from the standard
library) must not be hookloop's own, or a mistake in hl_jwt would be
checked against itself; and fault injection and inspection are a few lines
each here. Traffic stays on 127.0.0.1.
"""
import argparse
import base64
import hashlib
import hmac
import json
import re
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_LIMIT = 1000
LOG_MAX = 100000


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding (RFC 7515 section 2)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    std = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
    return base64.b64decode(std, validate=True)


def jwt_sign(key: bytes, claims: dict) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    return f"{header}.{payload}." + b64url(hmac.new(key, signing_input, hashlib.sha256).digest())


def jwt_check(key: bytes, token: str, now: float):
    """Returns (None, claims) for a valid token, else (reason, claims or None)."""
    parts = token.split(".")
    if len(parts) != 3:
        return "malformed", None
    try:
        header = json.loads(b64url_decode(parts[0]))
        signature = b64url_decode(parts[2])
    except ValueError:
        return "malformed", None
    if not isinstance(header, dict) or header.get("alg") != "HS256" or "crit" in header:
        return "algorithm", None
    want = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(want, signature):
        return "signature", None
    try:
        claims = json.loads(b64url_decode(parts[1]))
    except ValueError:
        return "malformed", None
    if not isinstance(claims, dict):
        return "malformed", None
    for name in ("iat", "exp"):
        if not isinstance(claims.get(name), (int, float)) or isinstance(claims.get(name), bool):
            return "claims", claims
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        return "claims", claims
    if now >= claims["exp"]:
        return "expired", claims
    return None, claims


def default_config(args):
    return {
        "api_key": args.api_key,
        "jwt_secret": args.jwt_secret,
        "auth": args.auth,
        "token_lifetime_s": args.token_lifetime,
        "report_expires_in": True,
        "page_sizes": [args.page_size] if args.page_size else [],
        "clock_offset_s": 0,
        "fail_auth": 0,
        "auth_fail_status": 500,
        "reject_bearer": 0,
        "fail_inbox": 0,
        "inbox_retry_after_in_s": None,
        "inbox_retry_after_form": "imf",
        "fail_acks": 0,
        "ack_fail_status": 500,
        "fail_ack_ids": {},
        "delay_ms": {},
        "hold": [],
        "ignore_limit": False,
        "stuck_cursor": False,
    }


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)  # wakes held requests
        self.server_key = secrets.token_bytes(32)  # signs the tokens of token mode
        self.reset()

    def reset(self):
        holding = self.counts["holding"] if hasattr(self, "counts") else 0  # threads still waiting
        self.config = default_config(self.args)
        self.events = []  # dicts: id, payload (raw text), status, acks, created_at
        self.by_id = {}
        self.counts = {k: 0 for k in (
            "auth_requests", "tokens_issued", "auth_refused", "auth_faults", "unauthorized",
            "inbox_requests", "pages_served", "events_served", "inbox_faults",
            "ack_requests", "acks", "ack_faults", "ack_unknown")}
        self.counts["holding"] = holding
        self.log = []
        self.jti = 0

    def now(self):
        return time.time() + self.config["clock_offset_s"]

    def record(self, entry):
        if len(self.log) < LOG_MAX:
            self.log.append(entry)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock_triggers"

    def log_message(self, fmt, *args):  # quiet: the state endpoint has the log
        pass

    # --- plumbing --------------------------------------------------------
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, body, headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":"))
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message, headers=()):
        self.send(status, {"error": code, "message": message, "details": []}, headers)

    def delay(self, route):
        """Slows or holds a request of a route before anything else is done
        with it (its bearer check included), as a slow server would."""
        st = self.server.state
        ms = st.config["delay_ms"].get(route, 0)
        if ms:
            time.sleep(ms / 1000.0)
        with st.cond:
            if route not in st.config["hold"]:
                return
            st.counts["holding"] += 1
            deadline = time.monotonic() + 60  # never held forever
            while route in st.config["hold"] and time.monotonic() < deadline:
                st.cond.wait(deadline - time.monotonic())
            st.counts["holding"] -= 1

    # --- routes ----------------------------------------------------------
    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, url.query
        payload = self.body()
        st = self.server.state
        if path.startswith("/_control/"):
            return self.control(method, path, payload)
        entry = {"method": method, "path": path, "query": query}
        ack = re.fullmatch(r"/inbox/([^/]+)/ack", path)
        self.delay("auth" if path == "/auth/token" else "ack" if ack else "inbox")
        if method == "POST" and path == "/auth/token":
            return self.auth_token(payload, entry)
        with st.lock:
            refusal, claims = self.bearer(st)
            entry["bearer"] = claims and {k: claims.get(k) for k in ("jti", "sub", "iat", "exp")}
            if refusal:
                st.counts["unauthorized"] += 1
                entry.update(status=401, refused=refusal)
                st.record(entry)
        if refusal:
            return self.error(401, "unauthorized", "bearer token " + refusal,
                              [("WWW-Authenticate", f'Bearer error="invalid_token", error_description="{refusal}"')])
        if method == "GET" and path == "/inbox":
            return self.inbox(query, entry)
        if method == "POST" and ack:
            return self.ack(urllib.parse.unquote(ack.group(1)), entry)
        with st.lock:
            entry["status"] = 404
            st.record(entry)
        return self.error(404, "not_found", f"no route {method} {path}")

    def bearer(self, st):
        """(refusal reason or None, claims) for this request's bearer token."""
        auth = self.headers.get("Authorization")
        if not auth:
            return "missing", None
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "malformed", None
        cfg = st.config
        key = st.server_key if cfg["auth"] == "token" else cfg["jwt_secret"].encode()
        reason, claims = jwt_check(key, token.strip(), st.now())
        if reason:
            return reason, claims
        if cfg["reject_bearer"] > 0:
            cfg["reject_bearer"] -= 1
            return "rejected", claims
        return None, claims

    def auth_token(self, payload, entry):
        st = self.server.state
        with st.lock:
            cfg = st.config
            st.counts["auth_requests"] += 1
            status, answer = 200, None
            if cfg["auth"] != "token":
                status, answer = 404, ("not_found", "tokens are minted by the client in jwt mode")
            elif cfg["fail_auth"] > 0:
                cfg["fail_auth"] -= 1
                st.counts["auth_faults"] += 1
                status, answer = cfg["auth_fail_status"], ("injected", "injected auth failure")
            else:
                try:
                    req = json.loads(payload)
                except ValueError:
                    req = None
                if not isinstance(req, dict) or not isinstance(req.get("api_key"), str):
                    status, answer = 400, ("bad_request", "body must be {\"api_key\": string}")
                elif not hmac.compare_digest(req["api_key"].encode(), cfg["api_key"].encode()):
                    st.counts["auth_refused"] += 1
                    status, answer = 401, ("invalid_api_key", "unknown api key")
            if status == 200:
                st.jti += 1
                now = int(st.now())
                lifetime = cfg["token_lifetime_s"]
                claims = {"sub": "inbox-client", "iat": now, "exp": now + lifetime, "jti": st.jti}
                token = jwt_sign(st.server_key, claims)
                st.counts["tokens_issued"] += 1
                answer = {"access_token": token, "token_type": "Bearer"}
                if cfg["report_expires_in"]:
                    answer["expires_in"] = lifetime
                entry["issued"] = claims
            entry["status"] = status
            st.record(entry)
        if status == 200:
            return self.send(200, answer)
        return self.error(status, *answer)

    def inbox(self, query, entry):
        st = self.server.state
        q = urllib.parse.parse_qs(query, keep_blank_values=True)
        with st.lock:
            st.counts["inbox_requests"] += 1
            cfg = st.config
            status, text, err, headers = 200, None, None, []
            lim = q.get("limit", [])
            cur = q.get("cursor")
            pos = 0
            if q.get("status") != ["pending"]:
                err = ("/status", "status must be pending")
            elif (len(lim) != 1 or not re.fullmatch(r"[0-9]{1,5}", lim[0])
                  or not 1 <= int(lim[0]) <= MAX_LIMIT):
                err = ("/limit", f"limit must be an integer 1..{MAX_LIMIT}")
            elif cur is not None:
                m = re.fullmatch(r"c([0-9]+)", cur[0]) if len(cur) == 1 else None
                if not m or int(m.group(1)) > len(st.events):
                    err = ("/cursor", "unknown cursor")
                else:
                    pos = int(m.group(1))
            if err:
                status = 400
                text = json.dumps({"error": "bad_request", "message": err[1], "details": [{"path": err[0]}]})
            elif cfg["fail_inbox"] > 0:
                cfg["fail_inbox"] -= 1
                st.counts["inbox_faults"] += 1
                status = 500
                text = json.dumps({"error": "injected", "message": "injected inbox failure", "details": []})
                if cfg["inbox_retry_after_in_s"] is not None:
                    at = time.gmtime(st.now() + cfg["inbox_retry_after_in_s"])
                    form = {"imf": "%a, %d %b %Y %H:%M:%S GMT", "rfc850": "%A, %d-%b-%y %H:%M:%S GMT",
                            "asctime": "%a %b %e %H:%M:%S %Y"}[cfg["inbox_retry_after_form"]]
                    headers = [("Retry-After", time.strftime(form, at))]
            else:
                limit = int(lim[0])
                sizes = cfg["page_sizes"]
                k = st.counts["pages_served"]
                cap = sizes[min(k, len(sizes) - 1)] if sizes else limit
                if not cfg["ignore_limit"]:
                    cap = min(cap, limit)
                page, i = [], pos
                while i < len(st.events) and len(page) < cap:
                    ev = st.events[i]
                    i += 1
                    if ev["status"] == "pending":
                        page.append(ev)
                more = any(ev["status"] == "pending" for ev in st.events[i:])
                nxt = f"c{i}" if more else None
                if cfg["stuck_cursor"]:
                    nxt = cur[0] if cur else "c0"
                st.counts["pages_served"] += 1
                st.counts["events_served"] += len(page)
                # The payload goes out as the exact text it was seeded with.
                items = ",".join(
                    '{"id":%s,"payload":%s,"created_at":%s,"attempts":0}'
                    % (json.dumps(ev["id"]), ev["payload"], json.dumps(ev["created_at"])) for ev in page)
                text = '{"events":[%s],"next":%s}' % (items, json.dumps(nxt))
                entry.update(ids=[ev["id"] for ev in page], next=nxt, limit=limit)
            entry["status"] = status
            st.record(entry)
        return self.send(status, text, headers)

    def ack(self, event_id, entry):
        st = self.server.state
        with st.lock:
            cfg = st.config
            st.counts["ack_requests"] += 1
            entry["id"] = event_id
            ev = st.by_id.get(event_id)
            per_id = cfg["fail_ack_ids"].get(event_id, 0)
            if ev is None:
                st.counts["ack_unknown"] += 1
                status = 404
            elif cfg["fail_acks"] > 0 or per_id > 0:
                if per_id > 0:
                    cfg["fail_ack_ids"][event_id] = per_id - 1
                else:
                    cfg["fail_acks"] -= 1
                st.counts["ack_faults"] += 1
                status = cfg["ack_fail_status"]
            else:
                ev["acks"] += 1
                ev["status"] = "acked"
                st.counts["acks"] += 1
                status = 200
            entry["status"] = status
            st.record(entry)
        if status == 200:
            return self.send(200, {"id": event_id, "status": "acked"})
        if status == 404:
            return self.error(404, "not_found", "no such event")
        return self.error(status, "injected", "injected ack failure")

    # --- control ---------------------------------------------------------
    def control(self, method, path, payload):
        st = self.server.state
        if method == "GET" and path == "/_control/state":
            with st.lock:
                state = {
                    "config": st.config,
                    "counts": st.counts,
                    "events": [{"id": e["id"], "status": e["status"], "acks": e["acks"]} for e in st.events],
                    "log": st.log,
                }
                text = json.dumps(state, separators=(",", ":"))
            return self.send(200, text)
        if method != "POST":
            return self.error(404, "not_found", f"no route {method} {path}")
        try:
            req = json.loads(payload) if payload else {}
        except ValueError:
            return self.error(400, "bad_request", "body is not JSON")
        if not isinstance(req, dict):
            return self.error(400, "bad_request", "body must be an object")
        if path == "/_control/reset":
            with st.lock:
                st.reset()
                st.cond.notify_all()
            return self.send(200, {"status": "reset"})
        if path == "/_control/config":
            with st.lock:
                for k, v in req.items():
                    if k not in st.config:
                        return self.error(400, "bad_request", f"unknown setting {k}")
                    st.config[k] = v
                st.cond.notify_all()
                text = json.dumps(st.config)
            return self.send(200, text)
        if path == "/_control/seed":
            return self.seed(req)
        return self.error(404, "not_found", f"no route {method} {path}")

    def seed(self, req):
        st = self.server.state
        new = []
        if "events" in req:
            for e in req["events"]:
                new.append((str(e["id"]), e["payload"]))
        else:
            count = int(req.get("count", 0))
            payloads = req.get("payloads") or []
            prefix = req.get("prefix", "evt")
            with st.lock:
                base = len(st.events)
            for i in range(count):
                n = base + i + 1
                text = payloads[i % len(payloads)] if payloads else '{"seq":%d,"amount":100.10}' % n
                new.append((f"{prefix}-{n:06d}", text))
        for eid, text in new:
            if not isinstance(text, str):
                return self.error(400, "bad_request", "a payload is given as a JSON string holding its text")
            try:
                json.loads(text)
            except ValueError:
                return self.error(400, "bad_request", f"payload of {eid} is not JSON")
        with st.lock:
            for eid, _ in new:
                if eid in st.by_id:
                    return self.error(409, "conflict", f"event {eid} exists")
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            for eid, text in new:
                ev = {"id": eid, "payload": text, "status": "pending", "acks": 0, "created_at": stamp}
                st.events.append(ev)
                st.by_id[eid] = ev
        return self.send(200, {"ids": [eid for eid, _ in new]})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver listens with a backlog of 5: a client opening a hundred
    # connections at once (a pass acknowledging its events concurrently)
    # would have its SYNs dropped and retried after 1, 3, 7, 15 s.
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser(description="a mock Triggers API inbox for tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default="test-api-key")
    ap.add_argument("--jwt-secret", default="a-shared-jwt-secret-of-at-least-32-bytes")
    ap.add_argument("--auth", choices=("token", "jwt"), default="token")
    ap.add_argument("--token-lifetime", type=int, default=3600)
    ap.add_argument("--page-size", type=int, default=0)
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args)
    print(f"listening 127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
