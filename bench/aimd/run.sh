#!/usr/bin/env bash
# Adaptive concurrency (HOOKLOOP_ADAPTIVE_CONCURRENCY) against a partner
# whose capacity changes mid-run, on loopback only.
#   bench/aimd/run.sh [phase_seconds]    (default 10: about a minute)
# The mock partner works on at most CAP requests at once (50 ms each) and
# answers 429 to any more (--capacity; POST /capacity changes it). A backlog
# of 15,000 events is loaded while the subscription is held at 1 delivery/s,
# then it is lifted to max_in_flight 64 (an in-place update) and the drain
# runs three phases: capacity 32, then 8, then 32 again. Per phase:
# deliveries/s (2xx answers) and 429s, with AIMD off and on.
# Prints a Markdown table and writes it to bench/results/aimd.md.
set -euo pipefail
PHASE_S=${1:-10}
N=15000
. "$(dirname "$0")/../lib.sh" aimd

stat() { curl -s "http://127.0.0.1:$1/stats" | grep -o "\"$2\":[0-9]*" | head -1 | cut -d: -f2 || true; }
status_429() { curl -s "http://127.0.0.1:$1/stats" | grep -o '"429":[0-9]*' | head -1 | cut -d: -f2 || true; }

run() { # adaptive(0|1) -> one table row per phase
  local adaptive=$1
  local P H
  P=$(start_peer "partner$adaptive" "$bin/tools/mock_partner/hl_mock_partner" --listen 127.0.0.1:0 --no-record \
      --latency-ms 50 --capacity 32)
  HOOKLOOP_LISTEN=127.0.0.1:0 HOOKLOOP_DATA_DIR="$work/d$adaptive" HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 LOG_LEVEL=warn \
    HOOKLOOP_ADAPTIVE_CONCURRENCY=$adaptive HOOKLOOP_BREAKER_FAILURES=0 HOOKLOOP_DISABLE_AFTER_FAILURES=0 \
    HOOKLOOP_RETRY_SCHEDULE=100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,100ms,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s \
    "$bin/hookloop" serve >"$work/hl$adaptive.out" 2>"$work/hl$adaptive.err" &
  pids+=($!)
  for _ in $(seq 1 200); do grep -q listening "$work/hl$adaptive.out" 2>/dev/null && break; sleep 0.05; done
  H=$(grep -m1 listening "$work/hl$adaptive.out" | sed 's/.*://')
  local base="http://127.0.0.1:$H"
  curl -s -o /dev/null "$base/admin/schemas" -d '{"event_type":"Payment","domain":"bench","schema":{"type":"object","required":["eventHeader"]}}'
  local sub='{"partner_id":"bench","event_type":"Payment","url":"http://127.0.0.1:'$P'/hook/b"'
  curl -s -o /dev/null "$base/admin/subscriptions" -d "$sub,\"rate_limit_per_s\":1}"
  for f in "$work"/bulk-*.json; do
    curl -s -m 30 -o /dev/null "$base/api/v1/events/bulk" -H 'content-type: application/json' --data-binary @"$f"
  done
  sleep 1
  curl -s -o /dev/null "$base/admin/subscriptions" -d "$sub,\"max_in_flight\":64}"
  local caps=(32 8 32)
  for ph in 0 1 2; do
    curl -s -o /dev/null -XPOST "http://127.0.0.1:$P/capacity?n=${caps[$ph]}"
    local ok0 r0 ok1 r1
    ok0=$(stat "$P" ok_ids); r0=$(status_429 "$P"); r0=${r0:-0}
    sleep "$PHASE_S"
    ok1=$(stat "$P" ok_ids); r1=$(status_429 "$P"); r1=${r1:-0}
    local mode=off; [ "$adaptive" = 1 ] && mode=on
    printf '| %s | %d | %s | %s | %s |\n' "$mode" "$((ph + 1))" "${caps[$ph]}" \
      "$(awk -v a="$ok0" -v b="$ok1" -v s="$PHASE_S" 'BEGIN{printf "%.0f", (b-a)/s}')" "$((r1 - r0))"
  done
}

python3 - "$N" "$work" <<'PY'
import json, sys
n, work = int(sys.argv[1]), sys.argv[2]
for b in range(n // 100):
    with open(f"{work}/bulk-{b:03d}.json", "w") as f:
        json.dump([{"eventHeader": {"uuid": f"evt-{b}-{i}", "eventType": "Payment"}, "amount": i} for i in range(100)], f)
PY

{
  echo "# Adaptive concurrency: a partner whose capacity changes mid-run"
  echo
  echo "machine: $(getconf _NPROCESSORS_ONLN) cores, $(uname -sr); commit $(git -C "$root" rev-parse --short HEAD); command: bench/aimd/run.sh $PHASE_S"
  echo
  echo "Partner: 50 ms per request, 429 beyond its capacity; subscription max_in_flight 64; $PHASE_S s per phase."
  echo
  echo "| AIMD | phase | capacity | deliveries/s | 429s |"
  echo "|---|---|---|---|---|"
  run 0
  run 1
} | tee "$out/aimd.md"
