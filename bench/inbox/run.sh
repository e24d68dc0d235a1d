#!/usr/bin/env bash
# The inbox source (issue 18) against tools/mock_triggers, the mock partner
# and the Secrets Manager peer, on loopback only.
#   bench/inbox/run.sh [runs]    (about a minute)
# 1. One pass of 100 pending events to a partner answering after 50 ms:
#    `hookloop inbox` from start to exit (secret read, token, page, 100
#    signed POSTs, 100 acks), median of `runs` (5). The seed's design does
#    this work once per 5-minute EventBridge cycle (its ceiling of ~1,200
#    events/hour is 100 per cycle).
# 2. The sustained rate of `serve` with HOOKLOOP_ROLE=inbox,
#    INBOX_POLL_INTERVAL_S=1 and MAX_EVENTS_PER_RUN=500 to a partner answering
#    at once: 2,000 events seeded, timed until the inbox has every ack. The
#    inbox here is the Python mock (one thread per connection), which bounds
#    the figure.
# Prints a Markdown table and writes it to bench/results/inbox.md.
set -euo pipefail
RUNS=${1:-5}
. "$(dirname "$0")/../lib.sh" inbox


now_ms() { date +%s%3N; }
acks() { curl -s "http://127.0.0.1:$MT/_control/state" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["acks"])'; }

WH=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
MT=$(start_peer triggers /usr/bin/python3 "$root/tools/mock_triggers/mock_triggers.py" --api-key bench-key)
SLOW=$(start_peer slow "$bin/tools/mock_partner/hl_mock_partner" --listen 127.0.0.1:0 --latency-ms 50 --no-record)
FAST=$(start_peer fast "$bin/tools/mock_partner/hl_mock_partner" --listen 127.0.0.1:0 --no-record)
secret() { # partner port
  printf '{"zapier_api_key":"bench-key","zapier_webhook_url":"http://127.0.0.1:%s/hook/inbox","webhook_secret":"%s"}' "$1" "$WH"
}
SM_SLOW=$(start_peer sm-slow "$bin/tools/aws_peer/hl_aws_peer" --listen 127.0.0.1:0 --upstream http://127.0.0.1:1/ --secret-value "$(secret "$SLOW")")
SM_FAST=$(start_peer sm-fast "$bin/tools/aws_peer/hl_aws_peer" --listen 127.0.0.1:0 --upstream http://127.0.0.1:1/ --secret-value "$(secret "$FAST")")
common=(API_BASE_URL="http://127.0.0.1:$MT" SECRET_ARN=arn:aws:secretsmanager:eu-west-1:123456789012:secret:inbox-AbCdEf
        AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=bench HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 LOG_LEVEL=warn)

# 1. One pass of 100 to the 50 ms partner.
times=()
for r in $(seq 1 "$RUNS"); do
  curl -s -XPOST "http://127.0.0.1:$MT/_control/reset" >/dev/null
  curl -s -XPOST "http://127.0.0.1:$MT/_control/config" -d '{"api_key":"bench-key"}' >/dev/null
  curl -s -XPOST "http://127.0.0.1:$MT/_control/seed" -d '{"count":100}' >/dev/null
  t0=$(now_ms)
  env "${common[@]}" HOOKLOOP_SECRETSMANAGER_ENDPOINT="http://127.0.0.1:$SM_SLOW" HOOKLOOP_DATA_DIR="$work/d$r" \
    MAX_EVENTS_PER_RUN=100 "$bin/hookloop" inbox >"$work/pass$r.out" 2>"$work/pass$r.err"
  t1=$(now_ms)
  grep -q '"acked":100' "$work/pass$r.out" || { echo "bench: pass $r did not ack 100; see $work/pass$r.*" >&2; exit 1; }
  times+=($((t1 - t0)))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
pass_ms=$(median "${times[@]}")

# 2. Sustained: serve polling every second, 1,000 per pass, fast partner.
N=2000
curl -s -XPOST "http://127.0.0.1:$MT/_control/reset" >/dev/null
curl -s -XPOST "http://127.0.0.1:$MT/_control/config" -d '{"api_key":"bench-key"}' >/dev/null
curl -s -XPOST "http://127.0.0.1:$MT/_control/seed" -d "{\"count\":$N}" >/dev/null
env "${common[@]}" HOOKLOOP_SECRETSMANAGER_ENDPOINT="http://127.0.0.1:$SM_FAST" HOOKLOOP_DATA_DIR="$work/serve" \
  HOOKLOOP_ROLE=inbox INBOX_POLL_INTERVAL_S=1 MAX_EVENTS_PER_RUN=500 HOOKLOOP_LISTEN=127.0.0.1:0 \
  "$bin/hookloop" serve >"$work/serve.out" 2>"$work/serve.err" &
spid=$!
pids+=($spid)
t0=$(now_ms)
deadline=$((t0 + 240000))
while [ "$(acks)" -lt "$N" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || { echo "bench: serve did not ack $N within 240 s; see $work/serve.err" >&2; exit 1; }
  sleep 0.2
done
t1=$(now_ms)
kill -TERM "$spid"; wait "$spid" || true
rate=$((N * 1000 / (t1 - t0)))

{
  echo "# Inbox source ($(date -u +%Y-%m-%d), $(getconf _NPROCESSORS_ONLN) cores, commit $(git -C "$root" rev-parse --short HEAD), bench/inbox/run.sh $RUNS)"
  echo
  echo "| what | figure |"
  echo "|---|---|"
  echo "| one pass of 100 events to a 50 ms partner, \`hookloop inbox\` start to exit (median of $RUNS: ${times[*]} ms) | ${pass_ms} ms |"
  echo "| the seed's design for the same 100 events | one 5-minute cycle (300,000 ms; ~1,200 events/hour) |"
  echo "| sustained, \`serve\` HOOKLOOP_ROLE=inbox, 1 s poll, 500 per pass, $N events, fast partner, Python mock inbox | ${rate} events/s ($((rate * 3600)) /hour) |"
} | tee "$out/inbox.md"
