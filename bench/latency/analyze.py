#!/usr/bin/env python3
"""Figures of one bench/latency run from the partner's and the loader's records.

  analyze.py TIMINGS ACKS RETRY_AFTER_S

TIMINGS: the mock partner's GET /timings ("arrival_us sent_us seen status
webhook-id" a line); ACKS: the loader's "sent_us acked_us http_status events".
Prints one line of key=value figures (ms, nearest-rank percentiles):
  pub_n, pub_p50, pub_p99, pub_p999, pub_max  publish (bulk request sent) -> first attempt at the partner
  acc_p50, acc_p99                             the producer's 2xx received -> first attempt at the partner
                                               (negative: it arrived before the producer had its answer)
  retry_n, late_p50, late_p99, late_max        a retry's arrival minus its due time: the first attempt's
                                               503 (answered on arrival) + Retry-After
"""
import math
import sys


def pct(a, q):
    if not a:
        return "-"
    return "%.1f" % a[max(0, math.ceil(q * len(a)) - 1)]


timings, acks_path, ra = sys.argv[1], sys.argv[2], float(sys.argv[3])
acked = {}
with open(acks_path) as f:
    for line in f:
        p = line.split()
        if len(p) == 4:
            acked[int(p[0])] = int(p[1])
pub, acc, first503, late = [], [], {}, []
rows = []
with open(timings) as f:
    for line in f:
        p = line.split()
        if len(p) == 5:
            rows.append((int(p[0]), int(p[1]), int(p[2]), int(p[3]), p[4]))
for arr, sent, seen, status, wid in rows:
    if seen == 0:
        pub.append((arr - sent) / 1000)
        if sent in acked:
            acc.append((arr - acked[sent]) / 1000)
        if status == 503:
            first503[wid] = arr
for arr, sent, seen, status, wid in rows:
    if seen == 1 and wid in first503:
        late.append((arr - first503[wid]) / 1000 - ra * 1000)
pub.sort(); acc.sort(); late.sort()
print("pub_n=%d pub_p50=%s pub_p99=%s pub_p999=%s pub_max=%s acc_p50=%s acc_p99=%s retry_n=%d late_p50=%s late_p99=%s late_max=%s"
      % (len(pub), pct(pub, .5), pct(pub, .99), pct(pub, .999), pct(pub, 1), pct(acc, .5), pct(acc, .99),
         len(late), pct(late, .5), pct(late, .99), pct(late, 1)))
