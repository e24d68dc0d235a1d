#!/usr/bin/python3
"""Signs the DynamoDB requests of test_sigv4 and test_ddb_wire with botocore's
SigV4 signer and writes what it computed to dynamodb.json, so the tests
compare hookloop's signer with an outside implementation, not with itself.

Run with Debian's python3-botocore (scripts/install-deps.sh test):
    /usr/bin/python3 tests/vectors/sigv4-botocore/sign.py > tests/vectors/sigv4-botocore/dynamodb.json
"""
import datetime
import json
import sys
import types
from unittest import mock

import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
GET_BODY = '{"TableName":"idempotency_ledger","Key":{"idempotency_key":{"S":"sub_1#evt_1"}}}'
T = 1700000000

# name, endpoint, operation, region, access key, secret, session token, time, body
CASES = [
    ("get_item_session_token", "https://dynamodb.eu-west-1.amazonaws.com", "GetItem", "eu-west-1",
     "ASIAEXAMPLE", SUITE_SECRET, "FQoGZXIvYXdzEXAMPLE", T, GET_BODY),
    ("get_item_rotated_secret_no_token", "https://dynamodb.eu-west-1.amazonaws.com", "GetItem", "eu-west-1",
     "ASIAEXAMPLE", "another-secret", None, T, GET_BODY),
    ("get_item_next_day", "https://dynamodb.eu-west-1.amazonaws.com", "GetItem", "eu-west-1",
     "ASIAEXAMPLE", SUITE_SECRET, "FQoGZXIvYXdzEXAMPLE", T + 86400, GET_BODY),
    ("get_item_small_table", "https://dynamodb.eu-west-1.amazonaws.com", "GetItem", "eu-west-1",
     "ASIAEXAMPLE", "secret", "token", T, '{"TableName":"t","Key":{"pk":{"S":"a"}}}'),
    ("batch_write_item_unicode", "https://dynamodb.us-east-1.amazonaws.com", "BatchWriteItem", "us-east-1",
     "AKIDEXAMPLE", SUITE_SECRET, None, T + 12345,
     '{"RequestItems":{"event_delivery_status":[{"PutRequest":{"Item":{"event_id":{"S":"caf\u00e9-1"},'
     '"subscription_id":{"S":"sub_9"},"status":{"S":"SUCCESS"},"attempts":{"N":"2"}}}}]}}'),
    ("put_item_local_endpoint_with_port", "http://127.0.0.1:8000", "PutItem", "us-east-1",
     "AKIDEXAMPLE", SUITE_SECRET, None, T,
     '{"TableName":"idempotency_ledger","Item":{"idempotency_key":{"S":"s#e"},"expires_at":{"N":"1700086400"}},'
     '"ConditionExpression":"attribute_not_exists(idempotency_key)"}'),
]


class Recorder(SigV4Auth):
    """botocore's signer, keeping the canonical request and string to sign it made."""

    def canonical_request(self, request):
        self.creq = super().canonical_request(request)
        return self.creq

    def string_to_sign(self, request, canonical_request):
        self.sts = super().string_to_sign(request, canonical_request)
        return self.sts


def sign(endpoint, operation, region, akid, secret, token, t, body):
    req = AWSRequest(method="POST", url=endpoint + "/", data=body.encode("utf-8"),
                     headers={"Content-Type": "application/x-amz-json-1.0",
                              "X-Amz-Target": "DynamoDB_20120810." + operation})
    signer = Recorder(Credentials(akid, secret, token), "dynamodb", region)
    fixed = datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc).replace(tzinfo=None)

    class Clock(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

    with mock.patch("botocore.auth.datetime", types.SimpleNamespace(datetime=Clock)):
        signer.add_auth(req)
    return {"canonical_request": signer.creq, "string_to_sign": signer.sts,
            "authorization": req.headers["Authorization"], "x_amz_date": req.headers["X-Amz-Date"]}


def main():
    out = {"generator": "tests/vectors/sigv4-botocore/sign.py", "botocore": botocore.__version__,
           "python": sys.version.split()[0], "cases": []}
    for name, endpoint, op, region, akid, secret, token, t, body in CASES:
        case = {"name": name, "host": endpoint.split("://", 1)[1], "operation": op, "region": region,
                "access_key": akid, "secret_key": secret, "session_token": token, "time_s": t, "body": body}
        case.update(sign(endpoint, op, region, akid, secret, token, t, body))
        out["cases"].append(case)
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
