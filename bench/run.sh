#!/usr/bin/env bash
# hookloop load benchmarks against the mock partner, on loopback only.
#   bench/run.sh quick    (< 2 min)      bench/run.sh full    (< 10 min)
#   bench/run.sh profile [a|b]  scenario a (or b) once under `perf record -g` (hookloop only, the drain only)
#   bench/run.sh count    scenario a 5 times under `perf stat`: hookloop's CPU time per delivery,
#                         which other load on the machine moves less than the rate (for A/B of a change)
#   bench/run.sh mem      scenario b alone, MEM_RUNS (3) runs of MEM_NB (40000) events: rate, peak RSS and its
#                         anonymous / file-backed split (smaps_rollup), for A/B of a memory change
#   bench/run.sh held     10,000 requests held in flight (the partner's hold=1), HELD_RUNS (3) runs: RSS and its
#                         anonymous part (smaps_rollup) once the partner holds them all; for A/B of a memory change
#   HL_ENV=VAR=value ...  words added to hookloop's environment in any mode (e.g. LD_PRELOAD of another malloc)
#   bench/run.sh pg       the PostgreSQL store beside SQLite: bulk ingest and drain, and the drain
#                         with two processes on one database (< 5 min)
# hookloop (and the Python reference) run on CPU 0, partners, the ceiling's
# target and the Kafka test broker on CPU 1 when there are two.
# Prints Markdown tables and writes them, with PNG plots, to bench/results/.
set -euo pipefail
mode=${1:-quick}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${HL_BUILD:-$root/build} # HL_BUILD: measure another build of the tree
out=${HL_RESULTS:-$root/bench/results} # HL_RESULTS: write the tables and plots elsewhere
mkdir -p "$out"
PY=/usr/bin/python3 # the Debian python with python3-httpx and python3-confluent-kafka
case "$mode" in
  quick) N=20000; RUNS=3; CRUNS=3; KRUNS=1; H2N=20000; REFN=2000; KN=20000; NB=20000; CSECS=3; SWEEP="32 2048"; PK=20000; PR=1 ;;
  full)  N=100000; RUNS=5; CRUNS=3; KRUNS=3; H2N=100000; REFN=20000; KN=50000; NB=40000; CSECS=10; SWEEP="16 64 256 2048"; PK=40000; PR=3 ;;
  profile) PSCEN=${2:-a}; [[ $PSCEN =~ ^[ab]$ ]] || { echo "usage: bench/run.sh profile [a|b]" >&2; exit 2; }
           N=20000; RUNS=1; CRUNS=0; KRUNS=0; H2N=0; REFN=0; KN=0; NB=20000; CSECS=0; SWEEP=""
           PERF_OUT=${PERF_OUT:-$root/build/perf-$PSCEN.data} ;;
  pg) N=20000; RUNS=3; CRUNS=0; KRUNS=0; H2N=0; REFN=0; KN=0; NB=0; CSECS=0; SWEEP="" ;;
  mem) N=0; RUNS=${MEM_RUNS:-3}; CRUNS=0; KRUNS=0; H2N=0; REFN=0; KN=0; NB=${MEM_NB:-40000}; CSECS=0; SWEEP="" ;;
  held) N=0; RUNS=${HELD_RUNS:-3}; CRUNS=0; KRUNS=0; H2N=0; REFN=0; KN=0; NB=20000; CSECS=0; SWEEP="" ;;
  count) N=20000; RUNS=${COUNT_RUNS:-5}; CRUNS=0; KRUNS=0; H2N=0; REFN=0; KN=0; NB=0; CSECS=0; SWEEP=""; PERF_STAT=$(mktemp /tmp/hookloop-perfstat-XXXXXX) ;;
  *) echo "usage: bench/run.sh quick|full|profile [a|b]|count|mem|held|pg" >&2; exit 2 ;;
esac
DRAIN_MAX_S=${DRAIN_MAX_S:-300} # every drain wait of a and b gives up after this many seconds
AMIF=512     # scenario a: the subscription's max_in_flight
REFC=64      # the Python reference's concurrent POSTs
CRATE=2000   # scenario c: events/s offered (each fans out to every subscription)
CSAT=20000   # scenario c, saturated: events/s offered, more than one core can accept and deliver
cpus=$(getconf _NPROCESSORS_ONLN)
pin_hl="taskset -c 0"; pin_p="taskset -c $((cpus > 1 ? 1 : 0))"
# The driver itself (its polling of the partner, the loaders) stays off hookloop's CPU.
taskset -pc "$((cpus > 1 ? 1 : 0))" $$ >/dev/null
work=$(mktemp -d /tmp/hookloop-bench-XXXXXX)
pids=()
# Peers started inside $(...) are not in this shell's pids: stop every
# process below this script, by parent pid.
kill_below() { local c; for c in $(pgrep -P "$1" 2>/dev/null); do kill_below "$c"; kill "$c" 2>/dev/null || true; done; }
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  kill_below $$
  wait 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT # then the EXIT trap (bash runs it once the step in progress returns)

# --- progress bar on stderr, only when it is a terminal -----------------------------------------
nsweep=$(wc -w <<<"$SWEEP")
STEPS=$((RUNS * 4 + nsweep + KRUNS + CRUNS * 5 + 3)); STEP=0
progress() { # label: the step about to run
  [ -t 2 ] || return 0
  local w=30 done=$((STEP * 30 / STEPS))
  printf '\r\033[K[%s%s] %d/%d %s' "$(printf '%*s' "$done" '' | tr ' ' '#')" "$(printf '%*s' $((w - done)) '' | tr ' ' '.')" \
    "$STEP" "$STEPS" "$1" >&2
  STEP=$((STEP + 1))
}
progress_end() { [ -t 2 ] && printf '\r\033[K' >&2 || true; }
note() { progress_end; echo "  $*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# Figures are numbers, or "failed" for a run that did not finish: medians
# and ratios are of the runs that did ("n/a" when none did).
median() { { grep -E '^[0-9.]+$' || true; } | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }
ratio() { [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ && $2 != 0 ]] && echo "$1 / $2" | bc -l | xargs printf '%.2f' || echo n/a; }
nfailed() { local n=0; for v in "$@"; do [ "$v" = failed ] && n=$((n + 1)); done; echo "$n"; }
# "median of 5" or "median of 4 (1 failed)": failed runs are shown, never counted as 0.
of() { local f; f=$(nfailed "$@"); echo "median of $(( $# - f ))$( [ "$f" -gt 0 ] && echo " ($f failed)")"; }

. "$root/bench/partner_stats.sh" # partner_stat, wait_count
start_partner() { # port [args...]
  local port=$1; shift
  $pin_p "$bin/tools/mock_partner/hl_mock_partner" --listen 127.0.0.1:"$port" --no-record "$@" >/dev/null 2>&1 &
  pids+=($!); wait_port "$port"
}
HLENV=() # more settings for hookloop (the postgres store)
start_hookloop() { # port datadir loglevel [cpu]
  # shellcheck disable=SC2086 # HL_ENV: words, split on purpose (as in bench/peers/kafka_drain.sh)
  env ${HLENV[@]+"${HLENV[@]}"} ${HL_ENV:-} HOOKLOOP_LISTEN=127.0.0.1:$1 HOOKLOOP_DATA_DIR=$2 HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 LOG_LEVEL=$3 \
    HOOKLOOP_QUEUE_HIGH_WATER=10000000 taskset -c "${4:-0}" "$bin/hookloop" serve >"$2.out" 2>"$2.log" & # stdout: its "listening" line
  HLPID=$!; pids+=($HLPID); wait_port "$1"
}
stop() { kill "$@" 2>/dev/null || true; wait "$@" 2>/dev/null || true; }
stop_bounded() { # pids: SIGTERM, then SIGKILL after 5 s, so a slow shutdown cannot stall the run
  kill "$@" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$@" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$@" 2>/dev/null || true; wait "$@" 2>/dev/null || true
}
start_kafka() { # -> KPID, BOOT; the broker stops when fd 5 closes or on SIGTERM
  local kout=$work/kafka-$RANDOM.out
  rm -f "$work/kfifo"; mkfifo "$work/kfifo"
  $pin_p "$bin/tools/mock_kafka/hl_mock_kafka" --brokers 1 <"$work/kfifo" >"$kout" 2>/dev/null &
  KPID=$!; pids+=($KPID)
  exec 5>"$work/kfifo" # holds the broker's stdin open
  for _ in $(seq 1 100); do grep -q '^bootstrap ' "$kout" && break; sleep 0.05; done
  BOOT=$(awk '/^bootstrap /{print $2; exit}' "$kout")
}
schema() { # hookloop_port
  curl -s -o /dev/null "http://127.0.0.1:$1/admin/schemas" -d '{"event_type":"Payment","domain":"bench","schema":{"type":"object","required":["eventHeader"]}}'
}
subscribe() { # hookloop_port partner_id partner_port max_in_flight rate_limit_per_s [timeout_ms] -> subscription id
  curl -s "http://127.0.0.1:$1/admin/subscriptions" \
    -d "{\"partner_id\":\"$2\",\"event_type\":\"Payment\",\"url\":\"http://127.0.0.1:$3/hook/$2\",\"max_in_flight\":$4,\"rate_limit_per_s\":$5${6:+,\"timeout_ms\":$6}}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["subscription_id"])'
}
setup() { # hookloop_port partner_port max_in_flight [rate_limit_per_s]
  schema "$1"; subscribe "$1" p "$2" "$3" "${4:-0}" >/dev/null
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
load_backlog() { # hookloop_port first count
  for ((i = 0; i < $3; i += 1000)); do
    make_bulk "$work/bulk.json" "$(($2 + i))" 1000
    curl -s -o /dev/null "http://127.0.0.1:$1/api/v1/events/bulk" --data-binary @"$work/bulk.json"
  done
}
proc_figures() { # pid -> "cpu_seconds peak_rss_mb"
  local tck; tck=$(getconf CLK_TCK)
  awk -v t="$tck" '{print ($14+$15)/t}' "/proc/$1/stat" | tr '\n' ' '
  awk '/VmHWM/{printf "%.1f\n", $2/1024}' "/proc/$1/status"
}
pct() { # file of numbers, sorted -> "p50 p99 p99.9"
  awk '{a[NR]=$1} END {if (NR == 0) {print "- - -"; exit} i50=int(NR*0.5); i99=int(NR*0.99); i999=int(NR*0.999);
    if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1; if (i999 < 1) i999 = 1; printf "%s %s %s", a[i50], a[i99], a[i999]}' "$1"
}

# perf on hookloop for a drain only: `perf record` (profile) or `perf stat` (count).
perf_attach() { # -> PERFPID
  PERFPID=
  if [ -n "${PERF_OUT:-}" ]; then # DWARF unwinding: the system libraries have no frame pointers
    perf record -q -F 999 --call-graph dwarf,16384 -o "$PERF_OUT" -p "$HLPID" >/dev/null 2>&1 &
    PERFPID=$!; sleep 1
  elif [ -n "${PERF_STAT:-}" ]; then
    perf stat -x, -e task-clock -o "$PERF_STAT" -p "$HLPID" 2>/dev/null &
    PERFPID=$!; sleep 0.5
  fi
}
perf_detach() { if [ -n "$PERFPID" ]; then kill -INT "$PERFPID"; wait "$PERFPID" || true; fi; }

# --- scenario a: deliveries/s to a fast partner, embedded queue -----------------------------
scenario_a() { # max_in_flight -> "rate cpu rss" (rate "failed" when the drain did not end)
  local mif=$1 hp pp dir; hp=$(free_port); pp=$(free_port); dir=$work/a-$RANDOM
  start_partner "$pp"; local ppid=${pids[-1]}
  start_hookloop "$hp" "$dir" info
  # Load the backlog while the subscription is held at 1 delivery/s, then
  # lift the limit (an in-place update) and time the drain of the backlog.
  setup "$hp" "$pp" "$mif" 1
  load_backlog "$hp" 0 "$N"
  local c0; c0=$(partner_stat "$pp")
  perf_attach
  local t0 t1 done=1; t0=$(date +%s.%N)
  setup "$hp" "$pp" "$mif" 0
  wait_count "$pp" "$N" "$DRAIN_MAX_S" || done=0
  t1=$(date +%s.%N)
  perf_detach
  local figs; figs=$(proc_figures "$HLPID")
  local got; got=$(partner_stat "$pp")
  stop "$HLPID" "$ppid"
  # No latency here: the backlog is held before the drain, so its age says
  # nothing about latency under load; scenario g measures that at the partner.
  if [ "$done" = 0 ]; then
    note "scenario a drain incomplete: $got of $N after ${DRAIN_MAX_S}s"
    echo "failed $figs"; return
  fi
  echo "$(echo "($N - $c0) / ($t1 - $t0)" | bc -l | xargs printf '%.0f') $figs"
}

# --- the ceiling: h2load straight to the same partner ----------------------------------------
one_event() { # file id
  python3 -c "import sys; open(sys.argv[1],'w').write('{\"eventHeader\":{\"uuid\":\"e-%s\",\"eventType\":\"Payment\"},\"amount\":12.50,\"pad\":\"%s\"}' % (sys.argv[2], 'x'*900))" "$1" "$2"
}
ceiling() {
  local pp; pp=$(free_port)
  start_partner "$pp"; local ppid=${pids[-1]}
  one_event "$work/one.json" 0
  local r; r=$($pin_hl h2load --h1 -n "$H2N" -c 64 -d "$work/one.json" -H 'content-type: application/json' "http://127.0.0.1:$pp/hook/c" 2>/dev/null \
    | awk '/^finished in/{gsub(",","",$4); print $4}')
  stop "$ppid"
  [ -n "$r" ] && echo "${r%.*}" || echo failed
}

# --- the Python reference: consume from Kafka, sign, POST (bench/reference) ------------------
reference() { # -> rate, or "failed" (a failed run is not a rate of 0)
  local pp; pp=$(free_port)
  start_partner "$pp"; local ppid=${pids[-1]}
  start_kafka
  local secret; secret=whsec_$(head -c 32 /dev/urandom | base64)
  local res; res=$($pin_hl "$PY" "$root/bench/reference/ref_dispatcher.py" --bootstrap "$BOOT" --topic wh.egress.p.Payment \
    --url "http://127.0.0.1:$pp/hook/ref" --secret "$secret" --count "$REFN" --concurrency "$REFC" --fill 2>"$work/ref.err" || true)
  exec 5>&-
  stop_bounded "$KPID" "$ppid"
  [ -n "$res" ] || { note "reference failed: $(tail -1 "$work/ref.err")"; echo failed; return; }
  python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["rate"]))' "$res"
}

# --- scenario a on Kafka: hookloop's dispatcher draining a pre-filled egress topic -------------
# The same source as the Python reference: records keyed by event id on
# wh.egress.p.Payment, filled while the subscription is held at 1/s.
# The test broker keeps at most 5 MiB per partition (librdkafka's mock
# cluster drops older records beyond that), about 5,000 of these records:
# the topic gets a partition per 2,500 records (at least 4), or the oldest
# of a large backlog are gone before they are read.
scenario_a_kafka() { # -> rate, or "failed"
  local hp pp dir; hp=$(free_port); pp=$(free_port); dir=$work/ak-$RANDOM
  start_partner "$pp"; local ppid=${pids[-1]}
  start_kafka
  local parts=$(( (KN + 2499) / 2500 )); [ "$parts" -ge 4 ] || parts=4
  echo "create wh.egress.p.Payment $parts 1" >&5
  KAFKA_BROKERS=$BOOT HOOKLOOP_ROLE=dispatcher start_hookloop "$hp" "$dir" warn
  setup "$hp" "$pp" "$AMIF" 1
  # One record first: once the partner has it, the partitions are assigned
  # and the backlog is read (and held) while it is filled; otherwise the
  # timed drain would include the group's assignment (several seconds).
  "$PY" "$root/bench/reference/ref_dispatcher.py" --bootstrap "$BOOT" --topic wh.egress.p.Payment --url x \
    --secret whsec_AAAA --count 1 --fill-only 2>"$work/fill.err" || true
  wait_count "$pp" 1 30 || true
  "$PY" "$root/bench/reference/ref_dispatcher.py" --bootstrap "$BOOT" --topic wh.egress.p.Payment --url x \
    --secret whsec_AAAA --count "$KN" --fill-only 2>"$work/fill.err" || true
  sleep 1
  # The first record and the backlog's first share their id (ref-0): the
  # idempotency ledger sends it once, so the partner ends with KN requests.
  local want=$KN
  local c0; c0=$(partner_stat "$pp")
  local t0 t1; t0=$(date +%s.%N)
  setup "$hp" "$pp" "$AMIF" 0
  wait_count "$pp" "$want" 60 || true
  t1=$(date +%s.%N)
  local got; got=$(partner_stat "$pp")
  exec 5>&-
  stop_bounded "$HLPID" "$KPID" "$ppid"
  [ "$got" -ge "$want" ] || { note "Kafka drain incomplete: $got of $KN"; echo failed; return; }
  echo "($want - $c0) / ($t1 - $t0)" | bc -l | xargs printf '%.0f'
}

# --- scenario b: 10,000 in flight to a partner that answers after 1 s -----------------------
rss_sampler() { # pid file: every 0.1 s; the file keeps "rss anonymous file_and_shared" (MB, smaps_rollup) of the largest sample
  local best=0 r a
  while read -r r a < <(awk '/^Rss:/{r=$2} /^Anonymous:/{a=$2} END{if (r) print r, a}' "/proc/$1/smaps_rollup" 2>/dev/null); do
    if [ "$r" -gt "$best" ]; then # written whole, then renamed: the sampler is killed when the drain ends
      best=$r; awk -v r="$r" -v a="$a" 'BEGIN{printf "%.1f %.1f %.1f\n", r/1024, a/1024, (r-a)/1024}' >"$2.tmp" && mv "$2.tmp" "$2"
    fi
    sleep 0.1
  done
}
# Two rates. Over the whole backlog: from the release to the last request,
# which with 1 s answers is at most backlog / (backlog / 10,000 s + the
# first wave's start), whatever the engine: the first 10,000 requests each
# open a connection, and that start is a fixed share of a drain of a few
# waves. Sustained: 10,000 over the time from the 10,001st request after
# the release (the first sent into a slot an answer freed) to the
# 20,001st, a full turn of every slot on kept connections (answer, record,
# claim, sign, send): the rate with 10,000 in flight. It needs a backlog of
# 20,001 past what went out while it was loaded ("failed" otherwise).
scenario_b() { # -> "rate max_concurrent rss rss_before_drain anon_at_peak file_at_peak sustained" (rate "failed" when the drain did not end)
  local hp pp dir; hp=$(free_port); pp=$(free_port); dir=$work/b-$RANDOM
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  start_partner "$pp" --latency-ms 1000; local ppid=${pids[-1]}
  HOOKLOOP_MAX_IN_FLIGHT=10000 start_hookloop "$hp" "$dir" warn
  setup "$hp" "$pp" 10000 1
  local nb=$NB
  load_backlog "$hp" 2000000 "$nb"
  local c0; c0=$(partner_stat "$pp")
  local before; before=$(awk '/VmRSS/{printf "%.1f\n", $2/1024}' "/proc/$HLPID/status")
  perf_attach
  echo "- - -" >"$dir.rss"; rss_sampler "$HLPID" "$dir.rss" & local spid=$!
  local t0 t1 tw done=1; t0=$(date +%s.%N)
  setup "$hp" "$pp" 10000 0
  # c0 of the backlog went out at 1/s while it was loaded: the partner
  # ends at nb requests in all.
  local w2=$((c0 + 10001)) w3=$((c0 + 20001)) tw2 tw3 # the first request of the second and third waves
  [ "$w3" -le "$nb" ] || { w2=$nb; w3=$nb; }
  wait_count "$pp" "$w2" "$DRAIN_MAX_S" || done=0
  tw2=$(date +%s.%N)
  [ "$done" = 0 ] || wait_count "$pp" "$w3" "$DRAIN_MAX_S" || done=0
  tw3=$(date +%s.%N)
  [ "$done" = 0 ] || wait_count "$pp" "$nb" "$DRAIN_MAX_S" || done=0
  t1=$(date +%s.%N)
  perf_detach
  local maxc; maxc=$(partner_stat "$pp" max_concurrent)
  local mem; mem=$(awk '/VmHWM/{printf "%.1f\n", $2/1024}' "/proc/$HLPID/status")
  local got; got=$(partner_stat "$pp")
  # The sampler stops with the drain: hookloop's shutdown (SIGTERM hands
  # the 10,000 requests in flight back) is no part of the drain's peak.
  kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
  stop "$HLPID" "$ppid"
  local split; read -r _ split <"$dir.rss" # the sampled peak's anonymous and file-backed parts
  if [ "$done" = 0 ]; then
    note "scenario b drain incomplete: $got of $nb after ${DRAIN_MAX_S}s"
    echo "failed $maxc $mem $before $split failed"; return
  fi
  local sustained=failed
  [ "$w3" -gt "$w2" ] && sustained=$(echo "($w3 - $w2) / ($tw3 - $tw2)" | bc -l | xargs printf '%.0f')
  echo "$(echo "($nb - $c0) / ($t1 - $t0)" | bc -l | xargs printf '%.0f') $maxc $mem $before $split $sustained"
}

run_b() { # -> table_b: scenario b RUNS times
  brates=(); bmaxs=(); bmems=(); bbefores=(); banons=(); bfiles=(); bsusts=()
  for ((r = 0; r < RUNS; r++)); do
    progress "b: 10,000 in flight to a 1 s partner, run $((r + 1))"
    read -r brate bmax bmem bbefore banon bfile bsust <<<"$(scenario_b)"
    brates+=("$brate"); bmaxs+=("$bmax"); bmems+=("$bmem"); bbefores+=("$bbefore"); banons+=("$banon"); bfiles+=("$bfile")
    bsusts+=("$bsust")
  done
  table_b="| scenario b ($NB events, 1 s partner, HOOKLOOP_MAX_IN_FLIGHT and max_in_flight 10,000; $RUNS runs) | value |
|---|---|
| deliveries/s sustained with 10,000 in flight: one turn of every slot, the 10,001st to the 20,001st request ($(of "${bsusts[@]}")) | $(printf '%s\n' "${bsusts[@]}" | median) (target >= 9000; runs: ${bsusts[*]}) |
| deliveries/s over the whole backlog, the first 10,000 connections' start included ($(of "${brates[@]}")) | $(printf '%s\n' "${brates[@]}" | median) (runs: ${brates[*]}) |
| most requests the partner saw at once | $(printf '%s\n' "${bmaxs[@]}" | median) (runs: ${bmaxs[*]}) |
| hookloop peak RSS (MB, VmHWM) | $(printf '%s\n' "${bmems[@]}" | median) (target <= 160; runs: ${bmems[*]}) |
| hookloop RSS with the backlog loaded, before the drain (MB) | $(printf '%s\n' "${bbefores[@]}" | median) (runs: ${bbefores[*]}) |
| of the largest RSS sampled during the drain (smaps_rollup every 0.1 s): anonymous / file-backed and shared (MB) | $(printf '%s\n' "${banons[@]}" | median) / $(printf '%s\n' "${bfiles[@]}" | median) (runs: ${banons[*]} / ${bfiles[*]}) |"
}
# --- 10,000 requests held in flight: the memory of scenario b without the machine's speed ---------
# The subscription's URL carries the mock partner's hold=1: every request
# stays unanswered until POST /release, so all 10,000 are in flight at once
# however loaded the core is (scenario b's 1 s partner reaches 10,000 only on
# a quiet machine). The backlog is loaded while the subscription is held at
# 1/s, then lifted; RSS is read once the partner holds 10,000 and 2 s later
# (the larger of the two), well inside the 120 s timeout.
scenario_held() { # -> "rss anonymous rss_before_lift" (MB), or "failed"
  local hp pp dir; hp=$(free_port); pp=$(free_port); dir=$work/h-$RANDOM
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  start_partner "$pp"; local ppid=${pids[-1]}
  HOOKLOOP_MAX_IN_FLIGHT=10000 start_hookloop "$hp" "$dir" warn
  schema "$hp"
  local sub='{"partner_id":"p","event_type":"Payment","url":"http://127.0.0.1:'$pp'/hook/p?hold=1","max_in_flight":10000,"timeout_ms":120000,"rate_limit_per_s":'
  curl -s -o /dev/null "http://127.0.0.1:$hp/admin/subscriptions" -d "${sub}1}"
  load_backlog "$hp" 3000000 "$NB"
  local before; before=$(awk '/VmRSS/{printf "%.1f\n", $2/1024}' "/proc/$HLPID/status")
  curl -s -o /dev/null "http://127.0.0.1:$hp/admin/subscriptions" -d "${sub}0}"
  local ok=1 best=0 anon=0 r a
  wait_count "$pp" 10000 60 held || ok=0
  for _ in 1 2; do
    read -r r a < <(awk '/^Rss:/{r=$2} /^Anonymous:/{a=$2} END{print r, a}' "/proc/$HLPID/smaps_rollup")
    [ "$r" -gt "$best" ] && { best=$r; anon=$a; }
    sleep 2
  done
  curl -s -o /dev/null -X POST "http://127.0.0.1:$pp/release"
  stop_bounded "$HLPID" "$ppid"
  [ "$ok" = 1 ] || { note "held: the partner never held 10,000"; echo failed; return; }
  awk -v r="$best" -v a="$anon" -v b="$before" 'BEGIN{printf "%.1f %.1f %s\n", r/1024, a/1024, b}'
}

# --- scenario c: a healthy partner next to a dead one and a flaky one --------------------------
# Events are offered for CSECS seconds, at CRATE/s (below what the core can
# deliver: the healthy partner's rate is the offered rate whatever happens,
# so its acceptance -> 2xx percentiles are what can show the others' cost)
# and at CSAT/s (more than the core can accept and deliver: the healthy
# partner's rate is then what is left for it); each is compared with a run
# where the healthy partner is alone.
pace() { # hookloop_port events_per_s seconds first_id -> events accepted
  python3 - "$@" <<'PY'
import http.client, sys, time
port, rate, secs, first = (int(a) for a in sys.argv[1:5])
batch = min(1000, max(1, rate // 10)) # the bulk API takes at most 1000 events a request
pad = "x" * 900
c = http.client.HTTPConnection("127.0.0.1", port)
t0 = time.monotonic(); i = first; k = 0
while time.monotonic() - t0 < secs:
    sent = time.time_ns() // 1000 # the send time, for the partner's --timings
    body = "[" + ",".join('{"eventHeader":{"uuid":"c-%d","eventType":"Payment"},"amount":12.50,"bench_sent_us":%d,"pad":"%s"}'
                          % (j, sent, pad) for j in range(i, i + batch)) + "]"
    c.request("POST", "/api/v1/events/bulk", body, {"content-type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status in (200, 202, 207): i += batch
    k += 1
    time.sleep(max(0.0, t0 + k * batch / rate - time.monotonic()))
print(i - first)
PY
}
scenario_c() { # with_others(0|1) events_per_s -> "healthy_rate p50 p99 p999 others_requests accepted_per_s"
  local hp dir; hp=$(free_port); dir=$work/c-$RANDOM
  local ph pf pd; ph=$(free_port); pf=$(free_port); pd=$(free_port)
  start_partner "$ph" --timings; local pids_c=(${pids[-1]})
  start_hookloop "$hp" "$dir" info
  schema "$hp"
  subscribe "$hp" healthy "$ph" 256 0 >/dev/null
  if [ "$1" = 1 ]; then
    start_partner "$pf" --mix 200:50,503:50; pids_c+=(${pids[-1]})
    start_partner "$pd" --latency-ms 600000; pids_c+=(${pids[-1]})
    subscribe "$hp" flaky "$pf" 256 0 >/dev/null
    subscribe "$hp" dead "$pd" 256 0 1000 >/dev/null   # every attempt times out after 1 s
  fi
  local c0 c1 t0 t1 acc; c0=$(partner_stat "$ph"); t0=$(date +%s.%N)
  acc=$(pace "$hp" "$2" "$CSECS" $((3000000 + $1 * 1000000)))
  c1=$(partner_stat "$ph"); t1=$(date +%s.%N)
  local others=0
  if [ "$1" = 1 ]; then others=$(( $(partner_stat "$pf") + $(partner_stat "$pd") )); fi
  # Publish -> the healthy partner, measured there: its arrival time minus the
  # send time its request carried (first requests of each event; not from
  # hookloop's log, whose info level may aggregate).
  curl -s "http://127.0.0.1:$ph/timings" | awk '$3 == 0 {printf "%.1f\n", ($1 - $2) / 1000}' | sort -n >"$work/c-since.txt"
  stop "$HLPID" "${pids_c[@]}"
  echo "$(echo "($c1 - $c0) / ($t1 - $t0)" | bc -l | xargs printf '%.0f') $(pct "$work/c-since.txt") $others" \
       "$(echo "$acc / ($t1 - $t0)" | bc -l | xargs printf '%.0f')"
}

# --- scenario d: producer API ingest ------------------------------------------------------------
bulk_ingest() { # hookloop_port first count -> accepted events/s, 1000 per request, one client
  local n=$3
  for ((i = 0; i < n; i += 1000)); do make_bulk "$work/bulk-$i.json" "$(($2 + i))" 1000; done
  local t0 t1; t0=$(date +%s.%N)
  for ((i = 0; i < n; i += 1000)); do curl -s -o /dev/null "http://127.0.0.1:$1/api/v1/events/bulk" --data-binary @"$work/bulk-$i.json"; done
  t1=$(date +%s.%N)
  echo "$n / ($t1 - $t0)" | bc -l | xargs printf '%.0f'
}
scenario_d() { # -> "bulk_alone bulk_delivering single_dup_req_per_s"
  local hp pp dir; hp=$(free_port); pp=$(free_port); dir=$work/d-$RANDOM
  start_partner "$pp"; local ppid=${pids[-1]}
  start_hookloop "$hp" "$dir" warn
  # Ingest alone: the subscription held at 1 delivery/s, so the API has the core.
  setup "$hp" "$pp" 256 1
  local alone; alone=$(bulk_ingest "$hp" 1000000 $((N / 2)))
  # Ingest while the same core delivers the backlog and the new events.
  setup "$hp" "$pp" 256 0
  local busy; busy=$(bulk_ingest "$hp" 4000000 $((N / 2)))
  one_event "$work/one.json" 5
  local single; single=$($pin_p h2load --h1 -n "$H2N" -c 64 -d "$work/one.json" -H 'content-type: application/json' "http://127.0.0.1:$hp/api/v1/events" 2>/dev/null \
    | awk '/^finished in/{gsub(",","",$4); print $4}')
  stop "$HLPID" "$ppid"
  [ -n "$single" ] && single=${single%.*} || single=failed
  echo "$alone $busy $single"
}

# --- mode pg: the PostgreSQL store beside SQLite ------------------------------------------------
. "$root/bench/pg/server.sh" # pg_server_start (fsync on, on the partner's CPU), pg_tables_empty
scenario_p() { # store(sqlite|postgres) processes(1|2) -> "ingest_per_s drain_per_s" ("failed" for a drain that did not end)
  local hp hp2 pp dir; hp=$(free_port); hp2=$(free_port); pp=$(free_port); dir=$work/p-$RANDOM
  if [ "$1" = postgres ]; then pg_tables_empty || true; HLENV=(HOOKLOOP_STORE=postgres "DATABASE_URL=$PGURL"); else HLENV=(); fi
  start_partner "$pp"; local ppid=${pids[-1]}
  start_hookloop "$hp" "$dir" warn 0; local h1=$HLPID h2=
  # Ingest with deliveries held (1/s), as scenario d; then lift the limit and
  # time the drain, as scenario a. A second process starts as the limit is
  # lifted, so that it reads the lifted subscription at start.
  setup "$hp" "$pp" "$AMIF" 1
  local ingest; ingest=$(bulk_ingest "$hp" 0 "$N")
  local c0; c0=$(partner_stat "$pp")
  local t0 t1 done=1; t0=$(date +%s.%N)
  setup "$hp" "$pp" "$AMIF" 0
  if [ "$2" = 2 ]; then start_hookloop "$hp2" "$dir-2" warn "$((cpus > 1 ? 1 : 0))"; h2=$HLPID; fi
  wait_count "$pp" "$N" "$DRAIN_MAX_S" || done=0
  t1=$(date +%s.%N)
  stop_bounded $h1 $h2; stop "$ppid"
  HLENV=()
  if [ "$done" = 0 ]; then echo "$ingest failed"; return; fi
  echo "$ingest $(echo "($N - $c0) / ($t1 - $t0)" | bc -l | xargs printf '%.0f')"
}
if [ "$mode" = pg ]; then
  pg_server_start
  si=(); sd=(); pi=(); pd=(); p2i=(); p2d=()
  STEPS=$((RUNS * 3)); STEP=0
  for ((r = 0; r < RUNS; r++)); do # interleaved, so that the machine's moods fall on all three
    progress "pg: sqlite, run $((r + 1))"; read -r a b <<<"$(scenario_p sqlite 1)"; si+=("$a"); sd+=("$b")
    progress "pg: postgres, run $((r + 1))"; read -r a b <<<"$(scenario_p postgres 1)"; pi+=("$a"); pd+=("$b")
    progress "pg: postgres, two processes, run $((r + 1))"; read -r a b <<<"$(scenario_p postgres 2)"; p2i+=("$a"); p2d+=("$b")
  done
  progress_end
  exec 6>&-
  med() { local m; m=$(printf '%s\n' "$@" | median); local f; f=$(nfailed "$@"); [ "$f" -gt 0 ] && echo "$m (median of $(($# - f)), $f failed)" || echo "$m"; }
  mi=$(printf '%s\n' "${si[@]}" | median); md=$(printf '%s\n' "${sd[@]}" | median)
  mpi=$(printf '%s\n' "${pi[@]}" | median); mpd=$(printf '%s\n' "${pd[@]}" | median); mp2d=$(printf '%s\n' "${p2d[@]}" | median)
  commit=$(git -C "$root" rev-parse --short HEAD)
  machine="$cpus cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | xargs), $(uname -r), commit $commit, $(date -u +%Y-%m-%dT%H:%MZ)"
  table_p="| \`bench/run.sh pg\`: $N ~1 KB events, 1000 per bulk request, one client; drain to the fast partner, max_in_flight $AMIF; median of $RUNS interleaved runs | SQLite | PostgreSQL | PostgreSQL / SQLite |
|---|---:|---:|---:|
| bulk ingest, accepted events/s (deliveries held) | $(med "${si[@]}") | $(med "${pi[@]}") | $(ratio "$mpi" "$mi") (target >= 0.50) |
| drain, deliveries/s, one process | $(med "${sd[@]}") | $(med "${pd[@]}") | $(ratio "$mpd" "$md") (target >= 0.70) |
| drain, deliveries/s, two processes on one database (CPU 0 and CPU 1) | | $(med "${p2d[@]}") | two / one: $(ratio "$mp2d" "$mpd") |

Runs — SQLite ingest: ${si[*]}; drain: ${sd[*]}. PostgreSQL ingest: ${pi[*]}; drain: ${pd[*]}. Two processes: ingest ${p2i[*]}; drain: ${p2d[*]}.
hookloop on CPU 0 (the second process on CPU 1); the mock partner and PostgreSQL 15 (\`build/bench/pg/hl_pg_server\`: 127.0.0.1, fsync on, like SQLite's synchronous=FULL) on CPU 1."
  { echo "# PostgreSQL store beside SQLite — $machine"; echo; echo "$table_p"; } >"$out/pg.md"
  echo "$table_p"
  exit 0
fi

if [ "$mode" = profile ]; then
  if [ "$PSCEN" = a ]; then read -r rate _ <<<"$(scenario_a "$AMIF")"; else read -r rate _ <<<"$(scenario_b)"; fi
  echo "scenario $PSCEN under perf: $rate deliveries/s (perf slows it down); profile in $PERF_OUT"
  echo "## self time by library"
  perf report -i "$PERF_OUT" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -12
  echo "## inclusive time of hookloop's own functions and the libraries' entry points"
  perf report -i "$PERF_OUT" --children --sort sym --stdio -g none 2>/dev/null | grep '%' | grep -v '\[k\]' | grep -v ' 0x0' | head -60
  exit 0
fi
if [ "$mode" = count ]; then # CPU per delivery during the drain, median of RUNS
  for ((r = 0; r < RUNS; r++)); do
    read -r rate _ <<<"$(scenario_a "$AMIF")"
    [ "$rate" = failed ] && continue # a drain that did not end measures nothing
    awk -F, -v n="$N" -v rate="$rate" '$3 ~ /task-clock/ {printf "%.1f %s\n", $1 * 1000 / n, rate}' "$PERF_STAT"
  done | sort -n | tee "$work/count.txt" | sed 's/^/  run: µs per delivery, deliveries\/s: /' >&2
  RUNS=$(wc -l <"$work/count.txt")
  [ "$RUNS" -gt 0 ] || { echo "scenario a: no drain ended within ${DRAIN_MAX_S}s" >&2; exit 1; }
  read -r us rate <<<"$(sed -n "$(((RUNS + 1) / 2))p" "$work/count.txt")"
  echo "scenario a, $N deliveries, median of $RUNS: $us µs of hookloop CPU per delivery ($rate deliveries/s in that run)"
  rm -f "$PERF_STAT"; exit 0
fi

if [ "$mode" = held ]; then # RUNS (HELD_RUNS, 3) runs of 10,000 requests held in flight
  hr=(); ha=(); hb=()
  for ((r = 0; r < RUNS; r++)); do
    read -r x y z <<<"$(scenario_held)"; hr+=("$x"); ha+=("${y:-}"); hb+=("${z:-}")
    echo "  run $((r + 1)): RSS $x MB, anonymous ${y:-} MB (with the backlog loaded, before: ${z:-} MB)" >&2
  done
  echo "10,000 held in flight, $bin, median of $RUNS: RSS $(printf "%s\n" "${hr[@]}" | median) MB (runs ${hr[*]}), anonymous $(printf "%s\n" "${ha[@]}" | median) MB; load $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

if [ "$mode" = mem ]; then # scenario b alone: rate and memory, RUNS (MEM_RUNS, 3) runs of NB (MEM_NB, 40000) events
  STEPS=$RUNS; STEP=0
  run_b; progress_end
  echo "$table_b"; echo "$table_b" >"$out/b-mem.md"
  exit 0
fi

commit=$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src tools bench ":!bench/results" 2>/dev/null || echo "+changes")
[ -n "${HL_BUILD:-}" ] && commit="$commit, binaries from $HL_BUILD"
machine="$cpus cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | xargs), $(awk '/MemTotal/{printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -r), commit $commit, $(date -u +%Y-%m-%dT%H:%MZ)"
params="mode $mode (\`bench/run.sh $mode\`): N=$N events (~1 KB), runs=$RUNS, h2load -n $H2N -c 64, scenario a max_in_flight=$AMIF, reference $REFN records at $REFC concurrent POSTs, hookloop on Kafka $KN records ($KRUNS runs), scenario b $NB events, scenario c $CRATE and $CSAT events/s for ${CSECS}s, scenarios c and d $CRUNS runs, drains bounded at ${DRAIN_MAX_S}s"
echo "# hookloop bench ($mode): $machine"
echo "_${params}_"

# Scenario a, interleaved per run: hookloop, the h2load ceiling, the Python reference.
rates=(); ceils=(); refs=(); cpus_used=(); rss=()
for ((r = 0; r < RUNS; r++)); do
  progress "a: hookloop, run $((r + 1))"
  read -r rate cpu mem <<<"$(scenario_a "$AMIF")"
  rates+=("$rate"); cpus_used+=("$cpu"); rss+=("$mem")
  progress "a: h2load ceiling, run $((r + 1))"
  ceils+=("$(ceiling)")
  progress "a: Python reference, run $((r + 1))"
  refs+=("$(reference)")
  note "run $((r + 1)): hookloop $rate deliveries/s, ceiling ${ceils[-1]} req/s, Python reference ${refs[-1]} deliveries/s"
done
m_rate=$(printf '%s\n' "${rates[@]}" | median); m_ceil=$(printf '%s\n' "${ceils[@]}" | median)
m_ref=$(printf '%s\n' "${refs[@]}" | median)
: >"$work/sweep.dat"
for mif in $SWEEP; do
  progress "a: max_in_flight $mif"
  read -r rate _ <<<"$(scenario_a "$mif")"
  echo "$mif $rate" >>"$work/sweep.dat"
done
echo "$AMIF $m_rate" >>"$work/sweep.dat"; sort -n -o "$work/sweep.dat" "$work/sweep.dat"
grep -E '^[0-9]+ [0-9.]+$' "$work/sweep.dat" >"$work/sweep-ok.dat" || true # the plot leaves failed points out
k_rates=()
for ((r = 0; r < KRUNS; r++)); do
  progress "a: hookloop on Kafka egress, run $((r + 1))"
  k_rates+=("$(scenario_a_kafka)")
done
k_rate=$(printf '%s\n' "${k_rates[@]}" | median)

plots=""
if command -v gnuplot >/dev/null && [[ $m_ceil =~ ^[0-9.]+$ ]]; then
  gnuplot <<EOF && plots=yes
set terminal pngcairo noenhanced size 800,480 font ",10"
set output "$out/a-inflight.png"
set title "Scenario a: deliveries/s vs the subscription's max_in_flight ($N events, fast partner)"
set xlabel "max_in_flight"; set ylabel "deliveries/s"; set logscale x 2; set yrange [0:*]; set key below; set grid
plot "$work/sweep-ok.dat" using 1:2 with linespoints lw 2 pt 7 title "hookloop", \
     $m_ceil with lines dt 2 title "h2load ceiling ($m_ceil req/s)", \
     $m_ceil / 2 with lines dt 3 title "target: 0.5 x ceiling"
EOF
fi

table_a="| scenario a ($N events, fast partner, embedded queue, max_in_flight $AMIF; $RUNS runs, interleaved) | value |
|---|---|
| deliveries/s, draining the accepted backlog ($(of "${rates[@]}")) | $m_rate (runs: ${rates[*]}) |
| h2load ceiling against the same partner, req/s ($(of "${ceils[@]}")) | $m_ceil (runs: ${ceils[*]}) |
| ratio to the ceiling | $(ratio "$m_rate" "$m_ceil") (target >= 0.5) |
| Python reference (Kafka consumer + httpx asyncio, $REFN records, $REFC concurrent POSTs), deliveries/s ($(of "${refs[@]}")) | $m_ref (runs: ${refs[*]}) |
| hookloop as a multiple of the Python reference | $(ratio "$m_rate" "$m_ref") (target >= 50) |
| hookloop draining the same pre-filled Kafka egress topic as the reference ($KN records, role dispatcher, mock broker; $(of "${k_rates[@]}")), deliveries/s | $k_rate (runs: ${k_rates[*]}; $(ratio "$k_rate" "$m_ref")x the reference) |
| latency (accept to partner, at half the peak rate) | scenario g, \`latency.md\` |
| hookloop CPU seconds for the whole run (ingest and drain) / peak RSS (MB) | $(printf '%s\n' "${cpus_used[@]}" | median) / $(printf '%s\n' "${rss[@]}" | median) (runs: ${cpus_used[*]} / ${rss[*]}) |
| deliveries/s by max_in_flight (one run each; $AMIF: the median above) | $(awk '{printf "%s%s: %s", (NR > 1 ? ", " : ""), $1, $2}' "$work/sweep.dat") |"
[ -n "$plots" ] && table_a="$table_a

![deliveries/s vs max_in_flight](a-inflight.png)"

run_b

# Scenario c, interleaved per run: alone, then with the others, at the
# offered rate and saturated; the ratios are of the medians.
calones=(); cwiths=(); ca50s=(); ca99s=(); ca999s=(); cw50s=(); cw99s=(); cw999s=(); cotherss=()
csalones=(); cswiths=(); csaccs_alone=(); csaccs_with=()
for ((r = 0; r < CRUNS; r++)); do
  progress "c: healthy partner alone, run $((r + 1))"
  read -r calone ca50 ca99 ca999 _ _ <<<"$(scenario_c 0 "$CRATE")"
  progress "c: healthy partner with a dead and a flaky one, run $((r + 1))"
  read -r cwith cw50 cw99 cw999 cothers _ <<<"$(scenario_c 1 "$CRATE")"
  progress "c: saturated, healthy partner alone, run $((r + 1))"
  read -r csalone _ _ _ _ csacc_alone <<<"$(scenario_c 0 "$CSAT")"
  progress "c: saturated, with a dead and a flaky one, run $((r + 1))"
  read -r cswith _ _ _ _ csacc_with <<<"$(scenario_c 1 "$CSAT")"
  calones+=("$calone"); ca50s+=("$ca50"); ca99s+=("$ca99"); ca999s+=("$ca999")
  cwiths+=("$cwith"); cw50s+=("$cw50"); cw99s+=("$cw99"); cw999s+=("$cw999"); cotherss+=("$cothers")
  csalones+=("$csalone"); cswiths+=("$cswith"); csaccs_alone+=("$csacc_alone"); csaccs_with+=("$csacc_with")
done
med() { printf '%s\n' "$@" | median; }
calone=$(med "${calones[@]}"); cwith=$(med "${cwiths[@]}")
csalone=$(med "${csalones[@]}"); cswith=$(med "${cswiths[@]}")
table_c="| scenario c (dead partner: no answer, 1 s timeout; flaky: 50 % 503; every event fans out to each; ${CSECS}s windows, median of $CRUNS, interleaved) | alone | with the others |
|---|---|---|
| **$CRATE events/s offered** (below what the core delivers: the rate follows the offer, so the percentiles below are the measure) | | |
| healthy partner's deliveries/s over the window | $calone (runs: ${calones[*]}) | $cwith (runs: ${cwiths[*]}) |
| healthy partner's rate with the others, relative to alone | | $(ratio "$cwith" "$calone") (target >= 0.90) |
| healthy partner: publish (bulk request sent) -> arrival at the partner, p50 / p99 / p99.9 ms (measured by the partner) | $(med "${ca50s[@]}") / $(med "${ca99s[@]}") / $(med "${ca999s[@]}") | $(med "${cw50s[@]}") / $(med "${cw99s[@]}") / $(med "${cw999s[@]}") |
| healthy partner's p99 with the others, relative to alone | | $(ratio "$(med "${cw99s[@]}")" "$(med "${ca99s[@]}")") |
| requests the dead and flaky partners received | | $(med "${cotherss[@]}") |
| **$CSAT events/s offered** (more than the core accepts and delivers: the healthy partner gets what is left) | | |
| events accepted per second | $(med "${csaccs_alone[@]}") (runs: ${csaccs_alone[*]}) | $(med "${csaccs_with[@]}") (runs: ${csaccs_with[*]}) |
| healthy partner's deliveries/s over the window | $csalone (runs: ${csalones[*]}) | $cswith (runs: ${cswiths[*]}) |
| healthy partner's rate with the others, relative to alone | | $(ratio "$cswith" "$csalone") |"

bulks=(); busys=(); singles=()
for ((r = 0; r < CRUNS; r++)); do
  progress "d: producer API, run $((r + 1))"
  read -r bulk bulkbusy single <<<"$(scenario_d)"
  bulks+=("$bulk"); busys+=("$bulkbusy"); singles+=("$single")
done
table_d="| scenario d (producer API, median of $CRUNS; $((N / 2)) unique ~1 KB events per figure, 1000 per request, one client) | value |
|---|---|
| bulk ingest, accepted events/s, deliveries held (the API alone on its core) | $(med "${bulks[@]}") (target >= 20000; runs: ${bulks[*]}) |
| bulk ingest, accepted events/s, while the same core delivers them to the partner | $(med "${busys[@]}") (runs: ${busys[*]}) |
| POST /api/v1/events, requests/s (h2load, 64 connections; one id, so all but the first are answered 200 duplicate) | $(med "${singles[@]}") (runs: ${singles[*]}) |"

progress "e: schema, transformations, signing and Lambda"
schema_out=$($pin_p "$bin/bench/schema/bench_schema" 2 2>&1 || true)
transform_out=$($pin_p "$bin/bench/transform/bench_transform" 1 5 2>&1 || true)
sign_out=$($pin_p "$bin/bench/sign/bench_sign" 0.5 5 2>&1 || true)
lambda_out=$("$bin/bench/lambda/bench_lambda" 2>&1 || true)
table_e="Scenario e: \`build/bench/schema/bench_schema 2\`, \`build/bench/transform/bench_transform 1 5\` and \`build/bench/sign/bench_sign 0.5 5\` (pinned to CPU 1), \`build/bench/lambda/bench_lambda\`

\`\`\`
$schema_out
$transform_out
$sign_out
$lambda_out
\`\`\`"
# Scenario f: the Kafka egress drain and the embedded drain side by side with
# a bare libcurl loop and the Node.js peer (bench/peers/kafka_drain.sh, which
# writes peers.md itself; its own progress goes to the terminal).
progress "f: drains beside bare libcurl and the Node.js peer ($PK records, $PR rounds)"
progress_end
if K=$PK R=$PR HL_BUILD="$bin" HL_RESULTS="$out" GOALS_OUT="$work/goals-f" "$root/bench/peers/kafka_drain.sh" >"$work/peers.out" 2>"$work/peers.err"; then
  table_f="Scenario f: \`K=$PK R=$PR bench/peers/kafka_drain.sh\`

$(sed 1d "$out/peers.md")"
else
  table_f="Scenario f: \`K=$PK R=$PR bench/peers/kafka_drain.sh\` failed: $(tail -n 3 "$work/peers.err" | tr '\n' ' ')"
fi

# Scenario g: latency at half the peak rate, measured at the partner
# (bench/latency/run.sh, which writes latency.md itself).
progress "g: latency at half the peak rate"
progress_end
if HL_BUILD="$bin" HL_RESULTS="$out" "$root/bench/latency/run.sh" "$mode" >"$work/latency.out" 2>"$work/latency.err"; then
  table_g="Scenario g: \`bench/latency/run.sh $mode\`

$(cat "$work/latency.out")"
else
  table_g="Scenario g: \`bench/latency/run.sh $mode\` failed: $(tail -n 3 "$work/latency.err" | tr '\n' ' ')"
fi

# Issue 21's goals, each from a figure of this run: goals 1 and 2 from
# scenario f, 3 from `bench/run.sh count` (run here) and f's CPU column, 4
# from b, 5 from g.
progress "goal 3: bench/run.sh count"
progress_end
count_line=$(COUNT_RUNS=$((RUNS < 5 ? RUNS : 5)) HL_BUILD="$bin" HL_RESULTS="$work/count" "$root/bench/run.sh" count 2>/dev/null | tail -n 1 || true)
count_us=$(sed -n 's/.*: \([0-9.]*\) µs of hookloop CPU per delivery.*/\1/p' <<<"$count_line"); count_us=${count_us:-failed}
gf() { sed -n "s/^$1=//p" "$work/goals-f" 2>/dev/null | head -1 | grep . || echo n/a; }
gg() { sed -n "s/^| $1 | \([^|]*\) |.*/\1/p" "$work/latency.out" 2>/dev/null | head -1 | xargs | grep . || echo n/a; }
table_goals="| issue 21's goals, this run | measured | goal |
|---|---|---|
| 1. Kafka egress drain: hookloop / Node.js peer, by rate, by CPU (scenario f) | $(gf kafka_node_rate), $(gf kafka_node_cpu) | ≥ 1.5 |
| 1. Kafka egress drain: hookloop / bare libcurl (consume + POST), by rate, by CPU | $(gf kafka_bare_rate), $(gf kafka_bare_cpu) | ≥ 0.6 |
| 2. Embedded queue drain: hookloop / Node.js peer, by rate, by CPU | $(gf embedded_node_rate), $(gf embedded_node_cpu) | ≥ 1.5 |
| 2. Embedded queue drain: hookloop / bare libcurl, by rate, by CPU | $(gf embedded_bare_rate), $(gf embedded_bare_cpu) | ≥ 0.6 |
| 3. CPU µs per delivery: embedded (\`bench/run.sh count\`, median of $((RUNS < 5 ? RUNS : 5))); Kafka (f's CPU column); the bare loop and the Node.js peer beside them (f) | $count_us; $(gf hookloop_us); bare $(gf bare_us), Node.js $(gf node_us) | ≤ 25 on both paths |
| 4. 10,000 in flight to a 1 s partner: peak RSS MB, deliveries/s sustained after the first wave (scenario b; over the whole backlog, the start included) | $(printf '%s\n' "${bmems[@]}" | median), $(printf '%s\n' "${bsusts[@]}" | median) ($(printf '%s\n' "${brates[@]}" | median)) | ≤ 160, ≥ 9,000 |
| 5. Accept to partner at half the peak rate, p50 / p99 ms; a due retry's lateness, p99 ms (scenario g) | $(gg "publish (bulk request sent) -> partner, p50 ms") / $(gg "publish -> partner, p99 ms"); $(gg "retry lateness, p99 ms") | published |"

for s in a b c d e goals; do
  t=table_$s
  title="Scenario $s"; [ "$s" = goals ] && title="Issue 21's goals"
  { echo "# $title — $machine"; echo; echo "_${params}_"; echo; echo "${!t}"; } >"$out/$s.md"
done
echo; echo "$table_a"; echo; echo "$table_b"; echo; echo "$table_c"; echo; echo "$table_d"; echo; echo "$table_e"; echo; echo "$table_f"; echo; echo "$table_g"; echo; echo "$table_goals"
