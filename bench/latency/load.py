#!/usr/bin/env python3
"""Paced publisher for bench/latency/run.sh (loopback only, bounded in time).

  load.py PORT RATE SECONDS FIRST_ID RETRY_EVERY BATCH CONNS ACKS_FILE

Posts ~1 KB events to POST /api/v1/events/bulk at RATE events/s for
SECONDS, BATCH events a request, spread over CONNS connections (one thread
each, so a request waiting for its durable commit does not hold the
others). Every event carries "bench_sent_us": the wall clock (µs) just
before its request was sent; one event in RETRY_EVERY (0: none) also
carries "bench_retry":1, which the mock partner (--timings) answers 503
with Retry-After on its first attempt. ACKS_FILE gets a line per request:
"sent_us acked_us http_status events". Prints the events accepted and the
seconds the loader took (longer than SECONDS when it could not keep up).
"""
import http.client
import sys
import threading
import time

port, rate, secs, first, retry_every, batch, conns = (int(a) for a in sys.argv[1:8])
acks_path = sys.argv[8]
pad = "x" * 900
lock = threading.Lock()
acks = []
accepted = [0]


def worker(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    per = batch * conns / rate  # seconds between this thread's requests
    t0 = time.monotonic() + k * batch / rate  # the threads' requests interleave
    j = 0
    mine = []
    while True:
        due = t0 + j * per
        if due - (t0 - k * batch / rate) >= secs:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        base = first + (j * conns + k) * batch
        sent = time.time_ns() // 1000
        evs = []
        for i in range(base, base + batch):
            extra = ',"bench_retry":1' if retry_every and i % retry_every == 0 else ""
            evs.append('{"eventHeader":{"uuid":"l-%d","eventType":"Payment"},"amount":12.50,"bench_sent_us":%d%s,"pad":"%s"}'
                       % (i, sent, extra, pad))
        try:
            c.request("POST", "/api/v1/events/bulk", "[" + ",".join(evs) + "]", {"content-type": "application/json"})
            r = c.getresponse()
            r.read()
            status = r.status
        except OSError:
            status = 0
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine.append("%d %d %d %d" % (sent, time.time_ns() // 1000, status, batch))
        j += 1
    with lock:
        acks.extend(mine)
        accepted[0] += sum(batch for line in mine if line.split()[2] in ("200", "202", "207"))


start = time.monotonic()
threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(acks_path, "w") as f:
    f.write("\n".join(acks) + "\n")
print(accepted[0], "%.2f" % (time.monotonic() - start))
