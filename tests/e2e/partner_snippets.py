#!/usr/bin/env python3
"""Runs the verification snippets of docs/partners.md against one real delivery.

usage: partner_snippets.py <docs/partners.md> <delivery.json>

delivery.json: {"webhook_id", "webhook_timestamp", "webhook_signature", "body",
"secret" or "public_key", "other_key"}: what the mock partner recorded and the
key to verify with ("other_key": a key of the same kind that must not verify).

The Python block defining verify_webhook and the JavaScript block defining
verifyWebhook are taken out of the page as they are written there. Each must
accept the delivery, and refuse it with one byte of the body changed and with
the other key. Prints one line per check; exits 0 when all hold, 1 otherwise.
"""
import json
import os
import re
import subprocess
import sys
import tempfile


def block(markdown, lang, marker):
    for m in re.finditer(r"```" + lang + r"\n(.*?)```", markdown, re.S):
        if marker in m.group(1):
            return m.group(1)
    sys.exit(f"partner_snippets: no ```{lang} block with {marker} in the page")


NODE_HARNESS = r"""
const d = JSON.parse(require("node:fs").readFileSync(process.argv[2], "utf8"));
const headers = {"webhook-id": d.webhook_id, "webhook-timestamp": d.webhook_timestamp,
                 "webhook-signature": d.webhook_signature};
const opts = (k) => d.secret ? {secret: k} : {publicKey: k};
const good = d.secret || d.public_key;
const body = Buffer.from(d.body, "utf8");
const tampered = Buffer.from(body); tampered[tampered.length - 2] ^= 1;
console.log(JSON.stringify([verifyWebhook(headers, body, opts(good)),
                            verifyWebhook(headers, tampered, opts(good)),
                            verifyWebhook(headers, body, opts(d.other_key))]));
"""


def main():
    md = open(sys.argv[1], encoding="utf-8").read()
    d = json.load(open(sys.argv[2], encoding="utf-8"))
    good = d.get("secret") or d.get("public_key")
    kind = "secret" if d.get("secret") else "public_key"
    headers = {"webhook-id": d["webhook_id"], "webhook-timestamp": d["webhook_timestamp"],
               "webhook-signature": d["webhook_signature"]}
    body = d["body"].encode("utf-8")
    tampered = bytearray(body)
    tampered[-2] ^= 1

    ns = {}
    exec(block(md, "python", "def verify_webhook"), ns)
    verify = ns["verify_webhook"]
    py = [verify(headers, body, **{kind: good}), verify(headers, bytes(tampered), **{kind: good}),
          verify(headers, body, **{kind: d["other_key"]})]

    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(block(md, "js", "function verifyWebhook") + NODE_HARNESS)
        script = f.name
    try:
        out = subprocess.run(["node", script, sys.argv[2]], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(script)
    if out.returncode != 0:
        print("node failed:", out.stderr.strip())
        return 1
    js = json.loads(out.stdout)

    ok = True
    for lang, got in (("python", py), ("node", js)):
        for what, want, have in zip(("delivery", "tampered body", "other key"), (True, False, False), got):
            print(f"{lang} {kind} {what}: {'accepted' if have else 'refused'}")
            ok &= have == want
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
