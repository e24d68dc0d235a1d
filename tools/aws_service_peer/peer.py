#!/usr/bin/python3
"""aws_service_peer — SNS, SQS, EventBridge and KMS stand-ins for hookloop's
tests, on 127.0.0.1, that check every request's SigV4 signature with an
implementation independent of hookloop's: botocore's SigV4Auth (Debian's
python3-botocore).

    /usr/bin/python3 peer.py --access-key AKID --secret-key SECRET [--token T]

binds 127.0.0.1 on port 0 (or --port) and prints "listening 127.0.0.1:<port>"
on stdout once it listens, as the other test peers do.

Every POST / is first authenticated: the Authorization header must name the
access key, a scope <date>/<region>/<service>/aws4_request, and signed headers
that include host, x-amz-date, content-type (x-amz-target for the JSON
protocol, x-amz-security-token when a token is configured); X-Amz-Date must
be within 15 minutes of now; and the signature botocore computes over the
same request with the same credentials must equal the one given. Anything
else is answered 403 (SignatureDoesNotMatch, IncompleteSignature,
InvalidClientTokenId) in the service's own error format. Then:

  SNS  (Query, Action=Publish)                XML PublishResponse
  SQS  (JSON 1.0, AmazonSQS.SendMessage)      MessageId, MD5OfMessageBody
  EventBridge (JSON 1.1, AWSEvents.PutEvents) per-entry EventId
  KMS  (JSON 1.1, TrentService.GenerateDataKey / Decrypt): a real
       AES-256-GCM key per KMS key id; CiphertextBlob is
       key-id length | key id | nonce | AES-GCM(data key, AAD = context),
       so Decrypt returns exactly what GenerateDataKey produced.

FIFO rules are enforced as the services do: a .fifo topic or queue needs
MessageGroupId; a standard one refuses MessageGroupId and
MessageDeduplicationId.

Control endpoints (not signed):
  GET  /_peer/requests   every accepted request, in order, as JSON: the
                         action, region, service and the parameters, with
                         Message / MessageBody / Detail exactly as received
                         (GenerateDataKey also with its "Answer": the
                         Plaintext and CiphertextBlob it gave)
  GET  /_peer/stats      counters (accepted, rejected signatures, faults)
  POST /_peer/fault      {"action": "Publish"|"SendMessage"|"PutEvents"|
                         "GenerateDataKey"|"Decrypt"|"*", "kind": ...,
                         "count": N} answers the next N such requests with
                         the fault instead: throttle, error500, access_denied,
                         not_found, disabled, expired_token, delay (sleeps
                         "delay_ms" then answers normally), corrupt_md5 (SQS
                         answers a wrong MD5OfMessageBody), partial (PutEvents:
                         entries whose index is in "fail" get "code", default
                         ThrottlingException). Faulted requests are not
                         recorded.
  POST /_peer/reset      forgets requests, faults and counters

Traffic stays on 127.0.0.1.
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

STATE_LOCK = threading.Lock()
STATE = {"requests": [], "faults": [], "stats": {}}
ARGS = None
KMS_KEYS = {}  # key id -> 32-byte AES key

SNS_NS = "https://sns.amazonaws.com/doc/2010-03-31/"

# The faults, per protocol: (HTTP status, code). SQS also names its Query
# code in x-amzn-query-error, as the real service does.
FAULTS = {
    "sns": {
        "throttle": (400, "Throttling"), "error500": (500, "InternalError"),
        "access_denied": (403, "AuthorizationError"), "not_found": (404, "NotFound"),
        "disabled": (400, "KMSDisabled"), "expired_token": (403, "ExpiredToken"),
    },
    "sqs": {
        "throttle": (400, "RequestThrottled", "RequestThrottled;Sender"),
        "error500": (500, "InternalError", "InternalError;Receiver"),
        "access_denied": (403, "AccessDeniedException", "AccessDenied;Sender"),
        "not_found": (400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue;Sender"),
        "disabled": (400, "KmsDisabled", "KMS.DisabledException;Sender"),
        "expired_token": (403, "ExpiredToken", "ExpiredToken;Sender"),
    },
    "events": {
        "throttle": (400, "ThrottlingException"), "error500": (500, "InternalException"),
        "access_denied": (400, "AccessDeniedException"), "not_found": (400, "ResourceNotFoundException"),
        "disabled": (400, "OperationDisabledException"), "expired_token": (400, "ExpiredTokenException"),
    },
    "kms": {
        "throttle": (400, "ThrottlingException"), "error500": (500, "KMSInternalException"),
        "access_denied": (400, "AccessDeniedException"), "not_found": (400, "NotFoundException"),
        "disabled": (400, "DisabledException"), "expired_token": (400, "ExpiredTokenException"),
    },
}

JSON_TARGETS = {
    "AmazonSQS.SendMessage": ("sqs", "SendMessage", "application/x-amz-json-1.0"),
    "AWSEvents.PutEvents": ("events", "PutEvents", "application/x-amz-json-1.1"),
    "TrentService.GenerateDataKey": ("kms", "GenerateDataKey", "application/x-amz-json-1.1"),
    "TrentService.Decrypt": ("kms", "Decrypt", "application/x-amz-json-1.1"),
}


def count(name, n=1):
    with STATE_LOCK:
        STATE["stats"][name] = STATE["stats"].get(name, 0) + n


def take_fault(action):
    with STATE_LOCK:
        for f in STATE["faults"]:
            if f["count"] > 0 and f["action"] in (action, "*"):
                f["count"] -= 1
                return dict(f)
    return None


class ApiError(Exception):
    def __init__(self, status, code, message, query_error=None):
        super().__init__(message)
        self.status, self.code, self.message, self.query_error = status, code, message, query_error


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    # --- plumbing -------------------------------------------------------
    def send(self, status, body, ctype, extra=None):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, obj, ctype="application/json"):
        self.send(status, json.dumps(obj), ctype)

    def send_error_for(self, service, err, ctype):
        if service == "sns":
            body = ('<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message>'
                    '</Error><RequestId>%s</RequestId></ErrorResponse>' % (
                        SNS_NS, "Receiver" if err.status >= 500 else "Sender", err.code,
                        xml_escape(err.message), uuid.uuid4()))
            self.send(err.status, body, "text/xml")
            return
        extra = {"x-amzn-query-error": err.query_error} if err.query_error else None
        prefix = {"sqs": "com.amazonaws.sqs#", "events": "", "kms": ""}.get(service, "")
        body = json.dumps({"__type": prefix + err.code, "message": err.message})
        self.send(err.status, body, ctype, extra)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # --- control --------------------------------------------------------
    def do_GET(self):
        if self.path == "/_peer/requests":
            with STATE_LOCK:
                self.send_json(200, {"requests": STATE["requests"]})
        elif self.path == "/_peer/stats":
            with STATE_LOCK:
                self.send_json(200, dict(STATE["stats"]))
        else:
            self.send_json(404, {"error": "not_found"})

    def do_POST(self):
        body = self.read_body()
        if self.path == "/_peer/fault":
            f = json.loads(body)
            f.setdefault("count", 1)
            f.setdefault("action", "*")
            with STATE_LOCK:
                STATE["faults"].append(f)
            self.send_json(200, {"ok": True})
            return
        if self.path == "/_peer/reset":
            with STATE_LOCK:
                STATE["requests"].clear()
                STATE["faults"].clear()
                STATE["stats"].clear()
            self.send_json(200, {"ok": True})
            return
        self.aws(body)

    # --- AWS ------------------------------------------------------------
    def aws(self, body):
        target = self.headers.get("X-Amz-Target")
        ctype = self.headers.get("Content-Type", "")
        if target:
            if target not in JSON_TARGETS:
                self.send_json(400, {"__type": "UnknownOperationException", "message": target},
                               "application/x-amz-json-1.1")
                return
            service, action, want_ctype = JSON_TARGETS[target]
            if ctype != want_ctype:
                self.send_json(400, {"__type": "SerializationException", "message": "content type " + ctype},
                               want_ctype)
                return
            resp_ctype = want_ctype
        else:
            service, resp_ctype = "sns", "text/xml"
            action = None
        try:
            self.authenticate(body, service, bool(target))
            if service == "sns":
                params = parse_form(body)
                action = params.get("Action")
                if action != "Publish":
                    raise ApiError(400, "InvalidAction", "unknown action %r" % action)
            else:
                params = json.loads(body.decode("utf-8"))
            fault = take_fault(action)
            if fault:
                count("faults")
                kind = fault["kind"]
                if kind == "delay":
                    time.sleep(fault.get("delay_ms", 1000) / 1000.0)
                    fault = None
                elif kind in FAULTS[service]:
                    raise ApiError(*FAULTS[service][kind][:2], "injected %s" % kind,
                                   *FAULTS[service][kind][2:])
            handler = getattr(self, "op_" + action)
            status, answer = handler(params, fault)
            count("accepted")
            if service == "sns":
                self.send(status, answer, "text/xml")
            else:
                self.send(status, json.dumps(answer), resp_ctype)
        except ApiError as e:
            count("errors")
            self.send_error_for(service, e, resp_ctype)

    def authenticate(self, body, service, json_protocol):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            count("auth_rejected")
            raise ApiError(403, "IncompleteSignature", "no SigV4 Authorization header")
        fields = {}
        for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
            k, _, v = part.strip().partition("=")
            fields[k] = v
        cred = fields.get("Credential", "").split("/")
        signed = fields.get("SignedHeaders", "").split(";")
        if len(cred) != 5 or cred[4] != "aws4_request" or not fields.get("Signature"):
            count("auth_rejected")
            raise ApiError(403, "IncompleteSignature", "malformed Authorization header")
        akid, date, region, svc = cred[:4]
        if akid != ARGS.access_key:
            count("auth_rejected")
            raise ApiError(403, "InvalidClientTokenId", "unknown access key")
        if svc != service:
            count("auth_rejected")
            raise ApiError(403, "SignatureDoesNotMatch", "signed for %s, sent to %s" % (svc, service))
        need = {"host", "x-amz-date", "content-type"}
        if json_protocol:
            need.add("x-amz-target")
        if ARGS.token:
            need.add("x-amz-security-token")
            if self.headers.get("X-Amz-Security-Token") != ARGS.token:
                count("auth_rejected")
                raise ApiError(403, "InvalidClientTokenId", "wrong or missing security token")
        if not need.issubset(signed) or signed != sorted(signed):
            count("auth_rejected")
            raise ApiError(403, "IncompleteSignature", "signed headers %s miss %s" % (signed, need))
        amz_date = self.headers.get("X-Amz-Date", "")
        try:
            t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            count("auth_rejected")
            raise ApiError(403, "IncompleteSignature", "bad X-Amz-Date")
        if abs((datetime.datetime.utcnow() - t).total_seconds()) > 900 or amz_date[:8] != date:
            count("auth_rejected")
            raise ApiError(403, "SignatureDoesNotMatch", "Signature expired or date out of scope")
        # botocore signs every header it is given: give it exactly the signed ones.
        headers = {}
        for name in signed:
            v = self.headers.get_all(name)
            if v is None:
                count("auth_rejected")
                raise ApiError(403, "IncompleteSignature", "signed header %s is missing" % name)
            headers[name] = ",".join(v)
        req = AWSRequest(method="POST", url="http://%s%s" % (headers["host"], self.path), data=body,
                         headers=headers)
        req.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(ARGS.access_key, ARGS.secret_key, ARGS.token or None), svc, region)
        canonical = signer.canonical_request(req)
        sts = signer.string_to_sign(req, canonical)
        want = signer.signature(sts, req)
        if want != fields["Signature"]:
            count("auth_rejected")
            raise ApiError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided.")
        count("auth_ok")
        self.region = region

    def record(self, entry):
        entry["region"] = self.region
        with STATE_LOCK:
            STATE["requests"].append(entry)

    # --- operations ---------------------------------------------------------
    def op_Publish(self, p, fault):
        arn = p.get("TopicArn", "")
        if not arn.startswith("arn:") or "Message" not in p:
            raise ApiError(400, "InvalidParameter", "TopicArn and Message are required")
        fifo = arn.endswith(".fifo")
        if fifo and "MessageGroupId" not in p:
            raise ApiError(400, "InvalidParameter", "The MessageGroupId parameter is required for FIFO topics")
        if not fifo and ("MessageGroupId" in p or "MessageDeduplicationId" in p):
            raise ApiError(400, "InvalidParameter", "MessageGroupId is not valid for a standard topic")
        attrs, i = {}, 1
        while "MessageAttributes.entry.%d.Name" % i in p:
            pre = "MessageAttributes.entry.%d." % i
            if p.get(pre + "Value.DataType") != "String":
                raise ApiError(400, "ParameterValueInvalid", "only String attributes are expected")
            attrs[p[pre + "Name"]] = p[pre + "Value.StringValue"]
            i += 1
        mid = str(uuid.uuid4())
        self.record({"service": "sns", "action": "Publish", "TopicArn": arn, "Message": p["Message"],
                     "MessageAttributes": attrs, "MessageGroupId": p.get("MessageGroupId"),
                     "MessageDeduplicationId": p.get("MessageDeduplicationId"), "MessageId": mid})
        seq = "<SequenceNumber>10000000000000%06d000</SequenceNumber>" % len(STATE["requests"]) if fifo else ""
        return 200, ('<PublishResponse xmlns="%s"><PublishResult><MessageId>%s</MessageId>%s</PublishResult>'
                     '<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></PublishResponse>'
                     % (SNS_NS, mid, seq, uuid.uuid4()))

    def op_SendMessage(self, p, fault):
        url = p.get("QueueUrl", "")
        if "MessageBody" not in p or not url:
            raise ApiError(400, "MissingParameter", "QueueUrl and MessageBody are required",
                           "MissingParameter;Sender")
        fifo = url.endswith(".fifo")
        if fifo and "MessageGroupId" not in p:
            raise ApiError(400, "MissingParameter", "The request must contain the parameter MessageGroupId.",
                           "MissingParameter;Sender")
        if not fifo and ("MessageGroupId" in p or "MessageDeduplicationId" in p):
            raise ApiError(400, "InvalidParameterValue", "MessageGroupId is not valid for a standard queue",
                           "InvalidParameterValue;Sender")
        attrs = {}
        for name, v in (p.get("MessageAttributes") or {}).items():
            if v.get("DataType") != "String":
                raise ApiError(400, "InvalidParameterValue", "only String attributes are expected")
            attrs[name] = v["StringValue"]
        mid = str(uuid.uuid4())
        self.record({"service": "sqs", "action": "SendMessage", "QueueUrl": url, "MessageBody": p["MessageBody"],
                     "MessageAttributes": attrs, "MessageGroupId": p.get("MessageGroupId"),
                     "MessageDeduplicationId": p.get("MessageDeduplicationId"), "MessageId": mid})
        md5 = hashlib.md5(p["MessageBody"].encode("utf-8")).hexdigest()
        if fault and fault["kind"] == "corrupt_md5":
            md5 = hashlib.md5(b"something else").hexdigest()
        answer = {"MessageId": mid, "MD5OfMessageBody": md5}
        if fifo:
            answer["SequenceNumber"] = "1%019d" % len(STATE["requests"])
        return 200, answer

    def op_PutEvents(self, p, fault):
        entries = p.get("Entries") or []
        if not 1 <= len(entries) <= 10:
            raise ApiError(400, "ValidationException", "1 to 10 entries")
        fail = set(fault.get("fail", [])) if fault and fault["kind"] == "partial" else set()
        code = fault.get("code", "ThrottlingException") if fault else None
        out, failed = [], 0
        for i, e in enumerate(entries):
            if i in fail:
                failed += 1
                out.append({"ErrorCode": code, "ErrorMessage": "injected partial failure"})
                continue
            try:
                detail = json.loads(e.get("Detail", ""))
            except ValueError:
                detail = None
            if not isinstance(detail, dict):
                failed += 1
                out.append({"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."})
                continue
            eid = str(uuid.uuid4())
            self.record({"service": "events", "action": "PutEvents", "EventBusName": e.get("EventBusName"),
                         "Source": e.get("Source"), "DetailType": e.get("DetailType"), "Detail": e["Detail"],
                         "Resources": e.get("Resources"), "EventId": eid})
            out.append({"EventId": eid})
        return 200, {"FailedEntryCount": failed, "Entries": out}

    def kms_key(self, key_id):
        if key_id.startswith("alias/missing") or "missing" in key_id:
            raise ApiError(400, "NotFoundException", "Key '%s' does not exist" % key_id)
        with STATE_LOCK:
            if key_id not in KMS_KEYS:
                KMS_KEYS[key_id] = AESGCM.generate_key(bit_length=256)
            return KMS_KEYS[key_id]

    @staticmethod
    def aad(ctx):
        return json.dumps(ctx or {}, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def op_GenerateDataKey(self, p, fault):
        key_id = p.get("KeyId", "")
        if p.get("KeySpec") != "AES_256":
            raise ApiError(400, "ValidationException", "KeySpec must be AES_256 here")
        master = self.kms_key(key_id)
        plaintext = os.urandom(32)
        nonce = os.urandom(12)
        kid = key_id.encode("utf-8")
        blob = struct.pack(">H", len(kid)) + kid + nonce + AESGCM(master).encrypt(nonce, plaintext,
                                                                                 self.aad(p.get("EncryptionContext")))
        arn = "arn:aws:kms:%s:123456789012:key/%s" % (self.region, key_id)
        answer = {"KeyId": arn, "Plaintext": base64.b64encode(plaintext).decode(),
                  "CiphertextBlob": base64.b64encode(blob).decode()}
        # The answer is recorded too: a test looks for the plaintext key
        # where it must not be (a store's raw bytes).
        self.record({"service": "kms", "action": "GenerateDataKey", "KeyId": key_id,
                     "EncryptionContext": p.get("EncryptionContext"), "Answer": answer})
        return 200, answer

    def op_Decrypt(self, p, fault):
        try:
            blob = base64.b64decode(p.get("CiphertextBlob", ""), validate=True)
            (n,) = struct.unpack(">H", blob[:2])
            key_id = blob[2:2 + n].decode("utf-8")
            nonce, ct = blob[2 + n:14 + n], blob[14 + n:]
        except Exception:
            raise ApiError(400, "InvalidCiphertextException", "not a ciphertext of this peer")
        if p.get("KeyId"):
            self.kms_key(p["KeyId"])  # an unknown key is NotFoundException first, as KMS answers
            if p["KeyId"] != key_id:
                raise ApiError(400, "IncorrectKeyException", "the ciphertext is not under this key")
        master = self.kms_key(key_id)
        try:
            plaintext = AESGCM(master).decrypt(nonce, ct, self.aad(p.get("EncryptionContext")))
        except Exception:
            raise ApiError(400, "InvalidCiphertextException", "the ciphertext or its encryption context is wrong")
        # The ciphertext too: a test checks which data key was asked for.
        self.record({"service": "kms", "action": "Decrypt", "KeyId": key_id,
                     "EncryptionContext": p.get("EncryptionContext"), "CiphertextBlob": p.get("CiphertextBlob")})
        return 200, {"KeyId": "arn:aws:kms:%s:123456789012:key/%s" % (self.region, key_id),
                     "Plaintext": base64.b64encode(plaintext).decode(), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}


def parse_form(body):
    """Form fields, decoded strictly: the message must come back byte for byte."""
    try:
        text = body.decode("ascii")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=True, encoding="utf-8",
                                       errors="strict")
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiError(400, "MalformedQueryString", str(e))
    return dict(pairs)


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--token", default="")
    ap.add_argument("--port", type=int, default=0)
    ARGS = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    print("listening 127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
