#!/usr/bin/env bash
# hookloop load benchmarks against the mock partner, on loopback only.
#   bench/run.sh quick    (< 2 min)      bench/run.sh full    (< 10 min)
# hookloop is pinned to CPU 0 and the partner to CPU 1 when there are two.
# Prints Markdown tables and writes them to bench/results/<scenario>.md.
set -euo pipefail
mode=${1:-quick}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build
out=$root/bench/results
mkdir -p "$out"
case "$mode" in
  quick) N=20000; RUNS=3; H2N=20000 ;;
  full)  N=100000; RUNS=5; H2N=100000 ;;
  *) echo "usage: bench/run.sh quick|full" >&2; exit 2 ;;
esac
cpus=$(nproc)
pin_hl="taskset -c 0"; pin_p="taskset -c $((cpus > 1 ? 1 : 0))"
work=$(mktemp -d /tmp/hookloop-bench-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

start_partner() { # port [args...]
  local port=$1; shift
  $pin_p "$bin/tools/mock_partner/hl_mock_partner" --listen 127.0.0.1:"$port" --no-record "$@" >/dev/null 2>&1 &
  pids+=($!); wait_port "$port"
}
start_hookloop() { # port datadir loglevel
  HOOKLOOP_LISTEN=127.0.0.1:$1 HOOKLOOP_DATA_DIR=$2 HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 LOG_LEVEL=$3 \
    HOOKLOOP_QUEUE_HIGH_WATER=10000000 $pin_hl "$bin/hookloop" serve 2>"$2.log" &
  HLPID=$!; pids+=($HLPID); wait_port "$1"
}
partner_requests() { curl -s "http://127.0.0.1:$1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }
setup() { # hookloop_port partner_port max_in_flight [rate_limit_per_s]
  curl -s -o /dev/null "http://127.0.0.1:$1/admin/schemas" -d '{"event_type":"Payment","domain":"bench","schema":{"type":"object","required":["eventHeader"]}}'
  curl -s -o /dev/null "http://127.0.0.1:$1/admin/subscriptions" -d "{\"partner_id\":\"p\",\"event_type\":\"Payment\",\"url\":\"http://127.0.0.1:$2/hook/p\",\"max_in_flight\":$3,\"rate_limit_per_s\":${4:-0}}"
}
make_bulk() { # file first count : ~1 KB events
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
path, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pad = "x" * 900
with open(path, "w") as f:
    f.write("[" + ",".join('{"eventHeader":{"uuid":"e-%d","eventType":"Payment"},"amount":12.50,"pad":"%s"}' % (i, pad)
                           for i in range(first, first + n)) + "]")
PY
}
proc_figures() { # pid -> "cpu_seconds peak_rss_mb"
  local tck; tck=$(getconf CLK_TCK)
  awk -v t="$tck" '{print ($14+$15)/t}' "/proc/$1/stat" | tr '\n' ' '
  awk '/VmHWM/{printf "%.1f\n", $2/1024}' "/proc/$1/status"
}

# --- scenario a: deliveries/s to a fast partner, embedded queue -----------------------------
scenario_a() { # -> "rate p50 p99 p999 cpu rss"
  local hp pp dir; hp=$(free_port); pp=$(free_port); dir=$work/a-$RANDOM
  start_partner "$pp"; local ppid=${pids[-1]}
  start_hookloop "$hp" "$dir" info
  # Load the backlog while the subscription is held at 1 delivery/s, then
  # lift the limit (an in-place update) and time the drain of the backlog.
  setup "$hp" "$pp" 512 1
  for ((i = 0; i < N; i += 1000)); do make_bulk "$work/bulk.json" "$i" 1000; curl -s -o /dev/null "http://127.0.0.1:$hp/api/v1/events/bulk" --data-binary @"$work/bulk.json"; done
  local c0; c0=$(partner_requests "$pp")
  local t0 t1; t0=$(date +%s.%N)
  setup "$hp" "$pp" 512 0
  until [ "$(partner_requests "$pp")" -ge "$N" ]; do sleep 0.05; done
  t1=$(date +%s.%N)
  local figs; figs=$(proc_figures "$HLPID")
  local lat; lat=$(grep -o '"since_accept_ms":[0-9.]*' "$dir.log" | cut -d: -f2 | sort -n | awk '{a[NR]=$1} END {printf "%s %s %s", a[int(NR*0.5)], a[int(NR*0.99)], a[int(NR*0.999)]}')
  kill "$HLPID" "$ppid"; wait "$HLPID" "$ppid" 2>/dev/null || true
  echo "$(echo "($N - $c0) / ($t1 - $t0)" | bc -l | xargs printf '%.0f') $lat $figs"
}

# --- scenario b: 10,000 in flight to a partner that answers after 1 s -----------------------
scenario_b() { # -> "rate max_concurrent rss"
  local hp pp dir; hp=$(free_port); pp=$(free_port); dir=$work/b-$RANDOM
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  start_partner "$pp" --latency-ms 1000; local ppid=${pids[-1]}
  HOOKLOOP_MAX_IN_FLIGHT=10000 start_hookloop "$hp" "$dir" warn
  setup "$hp" "$pp" 10000 1
  local nb=$((N < 40000 ? 40000 : N))
  for ((i = 0; i < nb; i += 1000)); do make_bulk "$work/bulk.json" "$((2000000 + i))" 1000; curl -s -o /dev/null "http://127.0.0.1:$hp/api/v1/events/bulk" --data-binary @"$work/bulk.json"; done
  local c0; c0=$(partner_requests "$pp")
  local t0 t1; t0=$(date +%s.%N)
  setup "$hp" "$pp" 10000 0
  until [ "$(partner_requests "$pp")" -ge "$nb" ]; do sleep 0.1; done
  t1=$(date +%s.%N)
  local maxc; maxc=$(curl -s "http://127.0.0.1:$pp/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["max_concurrent"])')
  local mem; mem=$(awk '/VmHWM/{printf "%.1f\n", $2/1024}' "/proc/$HLPID/status")
  kill "$HLPID" "$ppid"; wait "$HLPID" "$ppid" 2>/dev/null || true
  echo "$(echo "($nb - $c0) / ($t1 - $t0)" | bc -l | xargs printf '%.0f') $maxc $mem"
}

# --- the ceiling: h2load straight to the same partner ----------------------------------------
ceiling() {
  local pp; pp=$(free_port)
  start_partner "$pp"; local ppid=${pids[-1]}
  make_bulk "$work/one.json" 0 1 && python3 -c "import json;d=json.load(open('$work/one.json'));open('$work/one.json','w').write(json.dumps(d[0]))"
  local r; r=$($pin_hl h2load --h1 -n "$H2N" -c 64 -d "$work/one.json" -H 'content-type: application/json' "http://127.0.0.1:$pp/hook/c" 2>/dev/null \
    | awk '/^finished in/{gsub(",","",$4); print $4}')
  kill "$ppid"; wait "$ppid" 2>/dev/null || true
  echo "${r%.*}"
}

# --- scenario d: producer API ingest ------------------------------------------------------------
scenario_d() { # -> "bulk_events_per_s single_dup_req_per_s"
  local hp pp dir; hp=$(free_port); pp=$(free_port); dir=$work/d-$RANDOM
  start_partner "$pp"; local ppid=${pids[-1]}
  start_hookloop "$hp" "$dir" warn
  setup "$hp" "$pp" 256
  local n=$((N / 2)); for ((i = 0; i < n; i += 1000)); do make_bulk "$work/bulk-$i.json" "$((1000000 + i))" 1000; done
  local t0 t1; t0=$(date +%s.%N)
  for ((i = 0; i < n; i += 1000)); do curl -s -o /dev/null "http://127.0.0.1:$hp/api/v1/events/bulk" --data-binary @"$work/bulk-$i.json"; done
  t1=$(date +%s.%N)
  local bulk; bulk=$(echo "$n / ($t1 - $t0)" | bc -l | xargs printf '%.0f')
  make_bulk "$work/one.json" 5 1 && python3 -c "import json;d=json.load(open('$work/one.json'));open('$work/one.json','w').write(json.dumps(d[0]))"
  local single; single=$(h2load --h1 -n "$H2N" -c 64 -d "$work/one.json" -H 'content-type: application/json' "http://127.0.0.1:$hp/api/v1/events" 2>/dev/null \
    | awk '/^finished in/{gsub(",","",$4); print $4}')
  kill "$HLPID" "$ppid"; wait "$HLPID" "$ppid" 2>/dev/null || true
  echo "$bulk ${single%.*}"
}

machine="$(nproc) cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | xargs), commit $(git -C "$root" rev-parse --short HEAD)"
echo "# hookloop bench ($mode): $machine"
rates=(); ceils=(); p50s=(); p99s=(); p999s=(); cpus_used=(); rss=()
for ((r = 0; r < RUNS; r++)); do   # A B A B: hookloop and the ceiling interleaved
  read -r rate p50 p99 p999 cpu mem <<<"$(scenario_a)"
  rates+=("$rate"); p50s+=("$p50"); p99s+=("$p99"); p999s+=("$p999"); cpus_used+=("$cpu"); rss+=("$mem")
  ceils+=("$(ceiling)")
  echo "  run $((r + 1)): hookloop $rate deliveries/s, ceiling ${ceils[-1]} req/s" >&2
done
m_rate=$(printf '%s\n' "${rates[@]}" | median); m_ceil=$(printf '%s\n' "${ceils[@]}" | median)
table_a="| scenario a ($N events, fast partner, embedded queue, median of $RUNS) | value |
|---|---|
| deliveries/s, draining the accepted backlog | $m_rate |
| h2load ceiling against the same partner, req/s | $m_ceil |
| ratio to the ceiling | $(echo "$m_rate / $m_ceil" | bc -l | xargs printf '%.2f') (target >= 0.5) |
| time from acceptance to partner 2xx, p50 / p99 / p99.9 (ms; includes the held backlog, not a latency under load) | $(printf '%s\n' "${p50s[@]}" | median) / $(printf '%s\n' "${p99s[@]}" | median) / $(printf '%s\n' "${p999s[@]}" | median) |
| hookloop CPU seconds for the run / peak RSS (MB) | $(printf '%s\n' "${cpus_used[@]}" | median) / $(printf '%s\n' "${rss[@]}" | median) |"
read -r brate bmax bmem <<<"$(scenario_b)"
table_b="| scenario b (1 s partner, HOOKLOOP_MAX_IN_FLIGHT and max_in_flight 10,000) | value |
|---|---|
| deliveries/s, sustained over the whole backlog | $brate (target >= 9000) |
| most requests the partner saw at once | $bmax |
| hookloop peak RSS (MB) | $bmem (target <= 256) |"
{ echo "# Scenario b — $machine"; echo; echo "$table_b"; } > "$out/b.md"
read -r bulk single <<<"$(scenario_d)"
table_d="| scenario d (producer API) | value |
|---|---|
| bulk ingest, accepted events/s (1000 unique ~1 KB events per request, one client) | $bulk (target >= 20000) |
| POST /api/v1/events, requests/s (h2load, 64 connections; one id, so all but the first are answered 200 duplicate) | $single |"
{ echo "# Scenario a — $machine"; echo; echo "$table_a"; } > "$out/a.md"
{ echo "# Scenario d — $machine"; echo; echo "$table_d"; } > "$out/d.md"
echo; echo "$table_a"; echo; echo "$table_b"; echo; echo "$table_d"
