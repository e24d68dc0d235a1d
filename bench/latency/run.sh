#!/usr/bin/env bash
# Latency at half the peak rate, measured at the partner (issue 21, goal 5).
#   bench/latency/run.sh [quick|full]   (quick: under a minute; full: a few minutes)
# 1. The peak: a backlog of PEAK_N ~1 KB events, accepted while the
#    subscription is held at 1/s, drained to the fast mock partner once the
#    limit is lifted: deliveries/s (as scenario a of bench/run.sh).
# 2. RUNS runs, each on a fresh hookloop (embedded default: SQLite store and
#    queue, default settings and log level, the subscription's default
#    max_in_flight and retry schedule): events published at half that peak
#    (LAT_RATE overrides it) for LAT_S seconds by bench/latency/load.py
#    (bulk requests of BATCH events, RATE/200 and at least 10, over CONNS (8)
#    connections), every event
#    stamped with its request's send time; one in RETRY_EVERY is answered 503
#    with Retry-After: 2 on its first attempt by the mock partner (--timings),
#    which records every arrival. bench/latency/analyze.py turns the partner's
#    and the loader's records into the figures (see its header).
# hookloop on CPU 0, the partner and the loader on CPU 1; loopback only; every
# wait is bounded. Table on stdout and in bench/results/latency.md.
set -euo pipefail
mode=${1:-quick}
. "$(dirname "$0")/../lib.sh" latency
case "$mode" in
  quick) PEAK_N=10000; RUNS=1; LAT_S=5 ;;
  full) PEAK_N=40000; RUNS=3; LAT_S=20 ;;
  *) echo "usage: bench/latency/run.sh [quick|full]" >&2; exit 2 ;;
esac
BATCH=${BATCH:-} # events a bulk request: RATE/200 (at least 10), so the loader makes at most ~200 requests/s
CONNS=${CONNS:-8}; RETRY_EVERY=${RETRY_EVERY:-100}; RA=2 # Retry-After (s): above the default schedule's first delay with its jitter (1 s +20 %)
cpus=$(getconf _NPROCESSORS_ONLN); pcpu=$((cpus > 1 ? 1 : 0))
taskset -pc "$pcpu" $$ >/dev/null

launch() { # name command... -> PORT (from its "listening" line), LPID; stopped at exit
  local name=$1; shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  LPID=$!; pids+=($LPID)
  for _ in $(seq 1 200); do
    PORT=$(grep -m1 listening "$work/$name.out" 2>/dev/null | sed 's/.*[: ]//') && [ -n "$PORT" ] && return
    sleep 0.05
  done
  echo "bench/latency: $name did not start; see $work/$name.err" >&2; exit 1
}
start_hl() { # name -> HP, HLPID
  launch "$1" env HOOKLOOP_LISTEN=127.0.0.1:0 HOOKLOOP_DATA_DIR="$work/$1" HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 \
    taskset -c 0 "$bin/hookloop" serve
  HP=$PORT; HLPID=$LPID
  curl -s -o /dev/null "http://127.0.0.1:$HP/admin/schemas" \
    -d '{"event_type":"Payment","domain":"bench","schema":{"type":"object","required":["eventHeader"]}}'
}
subscribe() { # hookloop_port partner_port rate_limit_per_s
  curl -s -o /dev/null "http://127.0.0.1:$1/admin/subscriptions" \
    -d "{\"partner_id\":\"p\",\"event_type\":\"Payment\",\"url\":\"http://127.0.0.1:$2/hook/p\",\"rate_limit_per_s\":$3}"
}
stop_all() { for p in "$@"; do kill "$p" 2>/dev/null || true; done; wait "$@" 2>/dev/null || true; }
loop_fig() { # hookloop_port -> "busy_s turns turns_to_10ms max_s now_s" from /metrics (hl_loop_stats)
  curl -s "http://127.0.0.1:$1/metrics" | awk -v now="$(date +%s.%N)" '
    $1 == "hookloop_loop_busy_seconds_total" {b = $2} $1 == "hookloop_loop_turn_seconds_count" {n = $2}
    $1 == "hookloop_loop_turn_seconds_bucket{le=\"0.01\"}" {t = $2} $1 == "hookloop_loop_turn_max_seconds" {m = $2}
    END {print b + 0, n + 0, t + 0, m + 0, now}'
}

# 1. The peak.
peak() {
  launch peak-partner taskset -c "$pcpu" "$bin/tools/mock_partner/hl_mock_partner" --listen 127.0.0.1:0 --no-record
  local pp=$PORT ppid=$LPID
  start_hl peak-hl
  subscribe "$HP" "$pp" 1
  python3 "$root/bench/latency/load.py" "$HP" "$PEAK_N" 1 0 0 1000 1 "$work/peak-acks" >/dev/null # PEAK_N events
  local c0; c0=$(partner_stat "$pp"); local n; n=$(awk '$3 ~ /^20[027]$/ {s += $4} END {print s + 0}' "$work/peak-acks")
  local t0 t1; t0=$(date +%s.%N)
  subscribe "$HP" "$pp" 0
  if wait_count "$pp" "$n" 120; then t1=$(date +%s.%N); echo "($n - $c0) / ($t1 - $t0)" | bc -l | xargs printf '%.0f'; else echo failed; fi
  stop_all "$HLPID" "$ppid"
}

# 2. One run at the offered rate.
one_run() { # run rate -> analyze.py's line, and "accepted=N"
  launch "lat-partner-$1" taskset -c "$pcpu" "$bin/tools/mock_partner/hl_mock_partner" --listen 127.0.0.1:0 \
    --no-record --timings --retry-after "$RA"
  local pp=$PORT ppid=$LPID
  start_hl "lat-hl-$1"
  subscribe "$HP" "$pp" 0
  local f0; f0=$(loop_fig "$HP")
  local acc took; read -r acc took < <(python3 "$root/bench/latency/load.py" "$HP" "$2" "$LAT_S" $(($1 * 10000000)) "$RETRY_EVERY" "$BATCH" "$CONNS" "$work/acks-$1")
  # Every accepted event once, and each retried one a second time.
  wait_count "$pp" $((acc + acc / RETRY_EVERY)) 60 || echo "  run $1: not every delivery arrived within 60 s" >&2
  curl -s "http://127.0.0.1:$pp/timings" >"$work/timings-$1"
  # The loop over the load and the drain after it: busy share, turns over
  # 10 ms, the longest turn (the run's: a fresh process).
  local loop; loop=$(echo "$f0 $(loop_fig "$HP")" | awk '{printf "loop_busy_pct=%.1f loop_slow=%d loop_max_ms=%.2f", 100 * ($6 - $1) / ($10 - $5), ($7 - $8) - ($2 - $3), 1000 * $9}')
  stop_all "$HLPID" "$ppid"
  echo "accepted=$acc acc_rate=$(echo "$acc / $took" | bc -l | xargs printf '%.0f') $loop $(python3 "$root/bench/latency/analyze.py" "$work/timings-$1" "$work/acks-$1" "$RA")"
}

echo "  latency: measuring the peak ($PEAK_N events)" >&2
peak >"$work/peak"; PEAK=$(cat "$work/peak")
RATE=${LAT_RATE:-}
if [ -z "$RATE" ]; then
  [[ $PEAK =~ ^[0-9]+$ ]] || { echo "bench/latency: the peak drain did not finish" >&2; exit 1; }
  RATE=$((PEAK / 2))
fi
[ -n "$BATCH" ] || BATCH=$((RATE / 200 > 10 ? RATE / 200 : 10))
lines=()
for ((r = 1; r <= RUNS; r++)); do
  echo "  latency: run $r of $RUNS, $RATE events/s for ${LAT_S}s" >&2
  one_run "$r" "$RATE" >"$work/line-$r"; lines+=("$(cat "$work/line-$r")")
done
field() { local k=$1; shift; for l in "$@"; do tr ' ' '\n' <<<"$l" | awk -F= -v k="$k" '$1 == k {print $2}'; done; }
med() { { grep -E '^-?[0-9.]+$' || true; } | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
row() { # label key
  local vals; vals=$(field "$2" "${lines[@]}" | tr '\n' ' ')
  echo "| $1 | $(field "$2" "${lines[@]}" | med) | ${vals% } |"
}
commit=$(git -C "$root" rev-parse --short HEAD)
machine="$cpus cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg), commit $commit, $(date -u +%Y-%m-%dT%H:%MZ)"
table="| \`bench/latency/run.sh $mode\`: peak $PEAK deliveries/s ($PEAK_N-event drain), offered $RATE events/s for ${LAT_S}s, $BATCH events a bulk request over $CONNS connections, 1 in $RETRY_EVERY answered 503 + Retry-After: ${RA} first; median of $RUNS | median | runs |
|---|---:|---|
$(row "events accepted" accepted)
$(row "events accepted per second (over the loader's whole run)" acc_rate)
$(row "first attempts timed at the partner" pub_n)
$(row "publish (bulk request sent) -> partner, p50 ms" pub_p50)
$(row "publish -> partner, p99 ms" pub_p99)
$(row "publish -> partner, p99.9 ms" pub_p999)
$(row "publish -> partner, max ms" pub_max)
$(row "producer's 2xx received -> partner, p50 ms" acc_p50)
$(row "producer's 2xx received -> partner, p99 ms" acc_p99)
$(row "retries timed (first attempt 503)" retry_n)
$(row "retry lateness (arrival - due), p50 ms" late_p50)
$(row "retry lateness, p99 ms" late_p99)
$(row "retry lateness, max ms" late_max)
$(row "hookloop's loop busy over the load and its drain, % (\`hookloop_loop_busy_seconds_total\`)" loop_busy_pct)
$(row "loop turns over 10 ms in that time" loop_slow)
$(row "the run's longest loop turn, ms (\`hookloop_loop_turn_max_seconds\`)" loop_max_ms)"
{ echo "# Latency at half the peak rate — $machine"; echo; echo "$table"; } >"$out/latency.md"
echo "$table"
