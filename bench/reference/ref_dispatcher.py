#!/usr/bin/python3
"""A reference webhook dispatcher in plain Python, for bench/run.sh.

The same job as hookloop's dispatcher, written the way a small service
would be: consume records from a Kafka topic (confluent-kafka), sign each
per Standard Webhooks (HMAC-SHA256 of "<id>.<timestamp>.<body>"), POST it
with httpx on asyncio, count the 2xx answers, commit the offsets.

    /usr/bin/python3 bench/reference/ref_dispatcher.py --bootstrap HOST:PORT \
        --topic T --url URL --secret whsec_... --count N [--fill] [--concurrency C]

--fill first produces N ~1 KB events to the topic (not timed), their ids
"ref-0", "ref-1", ... or, with --ids uuid, random UUIDs; --fill-only
does only that (bench/run.sh pre-fills hookloop's own egress topic with it). Timing starts
at the first record consumed and ends when the N-th POST has been answered.
Prints one JSON line: {"deliveries": N, "seconds": S, "rate": N/S, "errors": E}.

Needs the Debian python3-confluent-kafka and python3-httpx, so run it with
/usr/bin/python3. Loopback only.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import random
import sys
import time
import uuid

import httpx
from confluent_kafka import Consumer, Producer


def event_ids(kind, count):
    """The records' event ids: "ref-0", "ref-1", ... (seq), or random
    version-4 UUIDs, as most producers send (uuid; a fixed seed, so every
    run and every drainer gets the same ids)."""
    if kind == "seq":
        return ("ref-%d" % i for i in range(count))
    rng = random.Random(42)
    return (str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count))


def fill(bootstrap, topic, count, ids="seq"):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})
    pad = "x" * 900
    for eid in event_ids(ids, count):
        body = '{"eventHeader":{"uuid":"%s","eventType":"Payment"},"amount":12.50,"pad":"%s"}' % (eid, pad)
        while True:
            try:
                p.produce(topic, key=eid, value=body)
                break
            except BufferError:  # the local queue is full: let it drain
                p.poll(0.05)
        p.poll(0)
    if p.flush(30) != 0:
        sys.exit("ref_dispatcher: could not fill the topic")


def signer(secret):
    key = base64.b64decode(secret[len("whsec_"):])

    def sign(msg_id, ts, body):
        mac = hmac.new(key, b"%s.%d.%s" % (msg_id, ts, body), hashlib.sha256).digest()
        return "v1," + base64.b64encode(mac).decode()
    return sign


async def dispatch(args):
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap, "group.id": "ref-dispatcher",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })
    consumer.subscribe([args.topic])
    sign = signer(args.secret)
    loop = asyncio.get_running_loop()
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    gate = asyncio.Semaphore(args.concurrency)
    done = 0
    errors = 0
    finished = asyncio.Event()
    t0 = None

    async def post(client, msg):
        nonlocal done, errors
        try:
            msg_id = msg.key() or b""
            ts = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id.decode(),
                "webhook-timestamp": str(ts),
                "webhook-signature": sign(msg_id, ts, msg.value()),
            }
            try:
                r = await client.post(args.url, content=msg.value(), headers=headers)
                if not 200 <= r.status_code < 300:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
        finally:
            gate.release()
            done += 1
            if done >= args.count:
                finished.set()

    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        consumed = 0
        deadline = time.monotonic() + args.max_seconds
        while consumed < args.count and time.monotonic() < deadline:
            # confluent-kafka blocks: poll it off the event loop.
            msgs = await loop.run_in_executor(None, consumer.consume, 500, 0.1)
            for m in msgs:
                if m.error():
                    continue
                if t0 is None:
                    t0 = time.monotonic()
                await gate.acquire()
                asyncio.ensure_future(post(client, m))
                consumed += 1
                if consumed >= args.count:
                    break
        if consumed < args.count:
            sys.exit("ref_dispatcher: consumed %d of %d records before the deadline" % (consumed, args.count))
        await finished.wait()
        t1 = time.monotonic()
    consumer.commit(asynchronous=False)
    consumer.close()
    secs = t1 - t0
    print(json.dumps({"deliveries": done, "seconds": round(secs, 3), "rate": round(done / secs, 1),
                      "errors": errors}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=512)
    ap.add_argument("--fill", action="store_true")
    ap.add_argument("--fill-only", action="store_true")
    ap.add_argument("--max-seconds", type=float, default=300.0)
    ap.add_argument("--ids", choices=("seq", "uuid"), default="seq")
    args = ap.parse_args()
    if args.fill or args.fill_only:
        fill(args.bootstrap, args.topic, args.count, args.ids)
    if not args.fill_only:
        asyncio.run(dispatch(args))


if __name__ == "__main__":
    main()
