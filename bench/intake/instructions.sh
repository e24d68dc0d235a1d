#!/usr/bin/env bash
# The user-space instructions an accepted event costs on the embedded path:
# `hookloop serve` under valgrind's callgrind accepting K/2 and then K ~1 KB
# events (bulks of 1,000, one client, one subscription held at 1 delivery/s
# so that almost nothing is delivered), per event the difference of the two
# counts over K/2 (start-up, set-up and shut-down cancel out). Exact counts:
# the machine's noise does not move them (bench/README.md, "the embedded
# intake, end to end").
#
#   bench/intake/instructions.sh            K=8000
#   K=20000 HL_BUILD=/path/to/build bench/intake/instructions.sh
#   IDS=uuid bench/intake/instructions.sh   the events' ids random UUIDs (a
#                                           fixed seed) instead of "e-0", "e-1", ...
set -euo pipefail
. "$(dirname "$0")/../lib.sh" intake # root, bin, work, pids, and their cleanup at exit
K=${K:-8000}
IDS=${IDS:-seq}
case $IDS in seq|uuid) ;; *) echo "intake: IDS is seq or uuid" >&2; exit 2 ;; esac
[ "$K" -ge 2000 ] && [ $((K % 2000)) -eq 0 ] || { echo "intake: K must be a multiple of 2000" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "intake: valgrind is missing (scripts/install-deps.sh bench)" >&2; exit 1; }
for f in "$bin/hookloop" "$bin/tools/mock_partner/hl_mock_partner"; do
  [ -x "$f" ] || { echo "intake: $f is missing (make build)" >&2; exit 1; }
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

python3 - "$work" "$K" "$IDS" <<'PY'
import random, sys, uuid
work, n, ids = sys.argv[1], int(sys.argv[2]), sys.argv[3]
pad = "x" * 900
rng = random.Random(42)
eid = (lambda i: "e-%d" % i) if ids == "seq" else (lambda i: str(uuid.UUID(int=rng.getrandbits(128), version=4)))
for first in range(0, n, 1000):
    with open("%s/bulk-%d.json" % (work, first), "w") as f:
        f.write("[" + ",".join('{"eventHeader":{"uuid":"%s","eventType":"Payment"},"amount":12.50,"pad":"%s"}'
                               % (eid(i), pad) for i in range(first, first + 1000)) + "]")
PY
pp=$(free_port)
"$bin/tools/mock_partner/hl_mock_partner" --listen 127.0.0.1:"$pp" --no-record >/dev/null 2>&1 &
pids+=($!); wait_port "$pp"

count() { # events -> the process's instructions, all threads
  local n=$1 hp; hp=$(free_port)
  rm -rf "$work/data"
  HOOKLOOP_LISTEN=127.0.0.1:$hp HOOKLOOP_DATA_DIR=$work/data HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 LOG_LEVEL=info \
    HOOKLOOP_QUEUE_HIGH_WATER=10000000 valgrind -q --tool=callgrind --callgrind-out-file="$work/cg.$n" \
    "$bin/hookloop" serve >"$work/out" 2>"$work/log" &
  local hpid=$!; pids+=($hpid)
  wait_port "$hp" || { echo "intake: hookloop did not start" >&2; exit 1; }
  curl -sf -o /dev/null "http://127.0.0.1:$hp/admin/schemas" \
    -d '{"event_type":"Payment","domain":"bench","schema":{"type":"object","required":["eventHeader"]}}'
  curl -sf -o /dev/null "http://127.0.0.1:$hp/admin/subscriptions" -d "{\"partner_id\":\"p\",\"event_type\":\"Payment\",\
\"url\":\"http://127.0.0.1:$pp/hook/p\",\"max_in_flight\":1,\"rate_limit_per_s\":1}"
  local i code
  for ((i = 0; i < n; i += 1000)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 "http://127.0.0.1:$hp/api/v1/events/bulk" \
      --data-binary @"$work/bulk-$i.json")
    [ "$code" = 200 ] || { echo "intake: a bulk request answered $code" >&2; exit 1; }
  done
  kill "$hpid"; wait "$hpid" || true
  callgrind_annotate "$work/cg.$n" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
a=$(count $((K / 2)))
b=$(count "$K")
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "embedded intake, commit $commit: $(( (b - a) / (K / 2) )) instructions an accepted event" \
  "($((K / 2)) and $K events, ~1 KB, bulks of 1,000, one subscription held; event ids: $IDS)"
