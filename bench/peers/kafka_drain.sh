#!/usr/bin/env bash
# hookloop's delivery throughput side by side with a bare libcurl loop and a
# Node.js dispatcher, all draining the same pre-filled Kafka egress topic into
# the same fast loopback partner (issue 21).
#
#   bench/peers/kafka_drain.sh            K=40000 records, R=3 rounds
#   K=20000 R=5 bench/peers/kafka_drain.sh
#   bench/peers/kafka_drain.sh profile    hookloop's Kafka drain once under
#                                         `perf record --call-graph dwarf`, and
#                                         the map of bench/peers/perf_map.py
#   DRAINERS="hookloop bare" bench/peers/kafka_drain.sh profile   the same for
#                                         each drainer named (not node: JIT frames)
#   DRAINERS="hookloop@h1tls hookloop@h2" bench/peers/kafka_drain.sh   the same drain
#                                         into nginx over TLS (bench/h2/run.sh)
#   bench/peers/kafka_drain.sh instructions   each C drainer (default "bare hookloop
#                                         embedded") under valgrind's callgrind, once
#                                         with K/2 records and once with K (default
#                                         10000): the user-space instructions a
#                                         delivery costs, by library, as the
#                                         difference of the two over K/2 (start-up
#                                         and set-up cancel out). Exact counts: the
#                                         machine's noise does not move them.
#                                         NAME@h1tls counts a drain into nginx over
#                                         TLS (OpenSSL then gets a column; use a
#                                         small CONC: 256 handshakes under
#                                         callgrind outlast MAXS); CG_KEEP=dir keeps
#                                         callgrind's files there (<K>/<drainer>.<pid>)
#   bench/peers/kafka_drain.sh syscalls   one drain of each drainer (default
#                                         "bare hookloop embedded"; node may be
#                                         named too) with `perf
#                                         stat` counting its system calls (calls
#                                         per delivery by kind; SYSCALLS="a b ..."
#                                         names the columns), its page faults
#                                         and, where perf
#                                         can place uprobes, its allocations (of
#                                         the C drainers: V8 keeps a heap of its
#                                         own): counts that the machine's noise
#                                         does not move
#
# Environment: K (records, ~1 KB each), R (rounds), CONC (in flight per
# drainer, 256), DRAINERS (any of: bare-post bare node hookloop hookloop-pg embedded embedded-pg),
# MAXS (seconds one drain may take before it counts as failed, 300),
# HL_LOG_LEVEL (hookloop's LOG_LEVEL, default info as shipped: a summary line
# per subscription per second and a line per failed attempt, to a file; debug
# adds a line per attempt), HL_BUILD (build dir, default build/),
# DRAIN_THREADS (a file: each drain's CPU per delivery by thread is appended
# to it, bench/peers/drain_clock.py), HL_RESULTS (where peers.md goes,
# default bench/results/), OUTNAME (its name without .md, default peers), PERF_DIR (profile mode: where perf-kafka-<drainer>.data
# go, default build/), PARTS_WANTED (the topic's partitions; default one per
# 2,500 records, at least 4; the mock broker keeps ~5 MB a partition),
# BROKER_RTT_MS (the mock broker's added round trip during the drains),
# IDS (the events' ids: seq, "ref-0", "ref-1", ... as before, the default;
# or uuid, random version-4 UUIDs as most producers send, which put each
# new status row of hookloop's store on a page of its own),
# HL_ENV (VAR=value words added to hookloop's environment, for an A/B of a
# setting the build does not hold, e.g.
# HL_ENV=LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 for another
# malloc, or HL_ENV=GLIBC_TUNABLES=glibc.malloc.tcache_count=512).
#
# Drainers (each pinned to CPU 0; the partner, the broker, the fill, the
# clock and this script on CPU 1):
#   bare-post  bench/peers/bare_curl.c --preload: the records read into memory
#              first, then POSTed — libcurl multi on libuv alone
#   bare       bench/peers/bare_curl.c: consume (librdkafka, partitions
#              assigned, no group) + POST, easy handles reused
#   node       bench/peers/node: kafkajs group consumer + undici Pool,
#              Standard Webhooks HMAC, retries with backoff, no status store
#   hookloop   `hookloop serve`, HOOKLOOP_ROLE=dispatcher, SQLite store (ledger
#              and status), on the same topic with its own consumer group
#   hookloop-pg  the same on the PostgreSQL store (HOOKLOOP_STORE=postgres): a
#              PostgreSQL 15 of bench/pg/hl_pg_server (fsync on, as SQLite's
#              synchronous=FULL) on CPU 1, every table emptied before each
#              drain; its processes' CPU over the drain is reported beside
#              hookloop's (hookloop's CPU alone leaves the store's work out)
#   embedded-pg  the same as embedded on PostgreSQL's queue and store (the
#              shared queue of docs/postgres.md), PostgreSQL as for hookloop-pg
#   embedded   `hookloop serve` on its embedded SQLite queue (no Kafka): the
#              same K events loaded while the subscription is held at 1/s, then
#              released
# A drainer named NAME@h2 or NAME@h1tls drains into nginx over TLS instead of
# the mock partner (tools/nginx_partner: 204 to every POST, a certificate of
# a CA made for the run by tests/e2e/tls_certs.sh, which every drainer is
# given as its CA file, verification on): @h2 offers only HTTP/2 (ALPN h2;
# bare_curl --h2, hookloop as it is; not node: undici's HTTP/2 fails there,
# see bench/peers/node/dispatcher.mjs), @h1tls only HTTP/1.1. The clock then reads nginx's stub_status, and the
# connections nginx accepted during each drain are reported.
# The topic (wh.egress.p.Payment, a partition per 2,500 records: the mock
# cluster keeps at most 5 MiB per partition) is filled once with K records
# (bench/reference/ref_dispatcher.py --fill-only) and drained from the start
# by every run; a fresh partner per run. One clock for all
# (bench/peers/drain_clock.py): from the partner's first request to its K-th,
# polled every 2 ms; and the drainer's CPU time over that window. Rounds are
# interleaved, and each round starts with a different drainer.
set -euo pipefail
mode=${1:-drain}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${HL_BUILD:-$root/build}
out=${HL_RESULTS:-$root/bench/results}
asked_k=${K:-}; K=${K:-40000}; R=${R:-3}; CONC=${CONC:-256}; MAXS=${MAXS:-300}; HL_LOG_LEVEL=${HL_LOG_LEVEL:-info}
IDS=${IDS:-seq}; case $IDS in seq|uuid) ;; *) echo "kafka_drain: IDS is seq or uuid" >&2; exit 2 ;; esac; export IDS
if [ "$IDS" = uuid ]; then IDS_NOTE="random UUIDs"; else IDS_NOTE='"ref-0", "ref-1", ...'; fi
asked=${DRAINERS:-}
DRAINERS=${asked:-bare-post bare node hookloop hookloop-pg embedded embedded-pg}
PY=/usr/bin/python3 # the Debian python with python3-confluent-kafka (the fill)
TOPIC=wh.egress.p.Payment
case "$mode" in
  drain) ;;
  profile) R=1; DRAINERS=${asked:-hookloop}; PERF_DIR=${PERF_DIR:-$root/build} ;;
  syscalls) R=1; DRAINERS=${asked:-bare hookloop embedded} ;;
  instructions|instructions-one) R=1; DRAINERS=${asked:-bare hookloop embedded}
    case " $DRAINERS " in *" node"*) echo "kafka_drain: $mode counts the C drainers only" >&2; exit 2 ;; esac ;;
  *) echo "usage: bench/peers/kafka_drain.sh [drain|profile|syscalls|instructions]" >&2; exit 2 ;;
esac
if [ "$mode" = instructions ]; then # two runs of instructions-one, K/2 and K records; their difference
  command -v valgrind >/dev/null || { echo "kafka_drain: valgrind is missing (scripts/install-deps.sh bench)" >&2; exit 1; }
  K=${asked_k:-10000}; cg=$(mktemp -d /tmp/hookloop-instr-XXXXXX)
  for k in $((K / 2)) "$K"; do
    CG_DIR=$cg/$k K=$k DRAINERS="$DRAINERS" HL_RESULTS=$cg OUTNAME=runs-$k "$0" instructions-one >&2 || exit 1
  done
  commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  echo "# User-space instructions per delivery — $(uname -m), commit $commit, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "_valgrind --tool=callgrind on each drainer (all its threads), one drain of $((K / 2)) records and one of $K (event ids: $IDS_NOTE), $CONC in flight; per delivery: (count at $K − count at $((K / 2))) / $((K / 2)). The kernel's work (system calls) is not counted: see syscalls mode._"
  echo
  "$PY" "$root/bench/peers/instr_table.py" "$cg" "$((K / 2))" "$K" $DRAINERS
  [ -n "${CG_KEEP:-}" ] && mkdir -p "$CG_KEEP" && cp -r "$cg/." "$CG_KEEP/"
  rm -rf "$cg"; exit 0
fi
OUTNAME=${OUTNAME:-peers}
case " $DRAINERS " in *" node@h2 "*)
  echo "kafka_drain: node@h2 is not offered: undici's HTTP/2 fails against nginx (bench/peers/node/dispatcher.mjs)" >&2; exit 2 ;;
esac
case " $DRAINERS " in
  *@h2*|*@h1tls*) [ -x /usr/sbin/nginx ] || { echo "kafka_drain: nginx is missing (scripts/install-deps.sh bench)" >&2; exit 1; } ;;
esac
for f in "$bin/hookloop" "$bin/bench/peers/bare_curl" "$bin/tools/mock_kafka/hl_mock_kafka" \
  "$bin/tools/mock_partner/hl_mock_partner"; do
  [ -x "$f" ] || { echo "kafka_drain: $f is missing (make build)" >&2; exit 1; }
done
case " $DRAINERS " in *"-pg "*|*"-pg@"*)
  [ -x "$bin/bench/pg/hl_pg_server" ] && [ -x /usr/lib/postgresql/15/bin/psql ] ||
    { echo "kafka_drain: hookloop-pg and embedded-pg need PostgreSQL 15 and $bin/bench/pg/hl_pg_server (make deps-test; make build)" >&2; exit 1; } ;;
esac
case " $DRAINERS " in *" node "*|*" node@"*) "$root/bench/peers/install.sh" ;; esac

cpus=$(getconf _NPROCESSORS_ONLN)
pin_d="taskset -c 0"; pin_p="taskset -c $((cpus > 1 ? 1 : 0))"
taskset -pc "$((cpus > 1 ? 1 : 0))" $$ >/dev/null
work=$(mktemp -d /tmp/hookloop-peers-XXXXXX)
pids=() # the processes started and not yet known to have ended: only these are ever signalled
forget() { # pids that have ended: out of the list, so a reused pid is never signalled
  local keep=() p q
  for p in "${pids[@]}"; do for q in "$@"; do [ "$p" = "$q" ] && continue 2; done; keep+=("$p"); done
  pids=("${keep[@]}")
}
stop_bounded() { # pids: SIGTERM, then SIGKILL after 5 s (60 s under callgrind, which writes its count at the exit); only those still alive and ours
  set -- $(for p in "$@"; do [ "$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)" = $$ ] && echo "$p"; done)
  (($#)) || return 0
  kill "$@" 2>/dev/null || true
  for _ in $(seq 1 $([ "$mode" = instructions-one ] && echo 600 || echo 50)); do kill -0 "$@" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$@" 2>/dev/null || true; wait "$@" 2>/dev/null || true
  forget "$@"
}
PROBES_ADDED=""
cleanup() {
  exec 5>&- 6>&- 2>/dev/null || true
  ((${#pids[@]})) && stop_bounded "${pids[@]}"
  [ -n "$PROBES_ADDED" ] && perf probe -q -d 'probe_libc:*' 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
note() { echo "  $*" >&2; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }

# --- the broker and the topic, once ----------------------------------------------------------
start_kafka() { # -> BOOT; the broker stops when fd 5 closes
  rm -f "$work/kfifo"; mkfifo "$work/kfifo"
  $pin_p "$bin/tools/mock_kafka/hl_mock_kafka" --brokers 1 <"$work/kfifo" >"$work/kafka.out" 2>"$work/kafka.err" &
  pids+=($!)
  exec 5>"$work/kfifo"
  for _ in $(seq 1 100); do grep -q '^bootstrap ' "$work/kafka.out" && break; sleep 0.05; done
  BOOT=$(awk '/^bootstrap /{print $2; exit}' "$work/kafka.out")
  [ -n "$BOOT" ] || { echo "kafka_drain: the mock broker did not start" >&2; exit 1; }
}
topic_records() { # -> the records the topic holds (sum over partitions of high - low watermark)
  "$PY" - "$BOOT" "$TOPIC" <<'PY'
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "kafka-drain-count"})
md = c.list_topics(sys.argv[2], timeout=10)
n = 0
for p in md.topics[sys.argv[2]].partitions:
    lo, hi = c.get_watermark_offsets(TopicPartition(sys.argv[2], p), timeout=10)
    n += hi - lo
c.close()
print(n)
PY
}
fill_topic() {
  local parts=${PARTS_WANTED:-$(( (K + 2499) / 2500 ))}; [ -n "${PARTS_WANTED:-}" ] || [ "$parts" -ge 4 ] || parts=4
  echo "create $TOPIC $parts 1" >&5
  $pin_p "$PY" "$root/bench/reference/ref_dispatcher.py" --bootstrap "$BOOT" --topic "$TOPIC" --url x \
    --secret whsec_AAAA --count "$K" --ids "$IDS" --fill-only 2>"$work/fill.err" || { cat "$work/fill.err" >&2; exit 1; }
  local held; held=$(topic_records) # bounded: each of its broker calls times out after 10 s
  [ "$held" = "$K" ] || { echo "kafka_drain: the topic holds $held records, not $K" >&2; exit 1; }
  PARTS=$parts
  # The broker's distance, for the drain only (the fill above ran without it).
  [ -z "${BROKER_RTT_MS:-}" ] || echo "rtt 1 $BROKER_RTT_MS" >&5
}

# --- PostgreSQL, once, for the -pg drainers --------------------------------------------------
. "$root/bench/pg/server.sh" # pg_server_start, pg_tables_empty, PSQL
pg_counts() { # -> "commits rows_written wal_bytes wal_syncs" so far, once hookloop's backends have ended (which flushes their statistics)
  local _
  for _ in $(seq 1 100); do
    [ "$("$PSQL" -qXtA "$PGURL" -c "SELECT count(*) FROM pg_stat_activity
      WHERE usename = current_user AND pid <> pg_backend_pid()" 2>/dev/null)" = 0 ] && break
    sleep 0.05
  done
  "$PSQL" -qXtA -F' ' "$PGURL" -c "SELECT d.xact_commit, d.tup_inserted + d.tup_updated + d.tup_deleted,
    w.wal_bytes, w.wal_sync FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()" 2>/dev/null
}
pg_cpu() { # -> CPU seconds (user + system) of the postmaster and its processes, the exited ones included
  "$PY" - "$PGPID" <<'PY'
import os, sys
root, tick, total = int(sys.argv[1]), os.sysconf("SC_CLK_TCK"), 0
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    if int(p) == root:
        total += sum(int(x) for x in f[11:15])  # utime, stime, cutime, cstime: exited backends too
    elif int(f[1]) == root:
        total += int(f[11]) + int(f[12])
print(total / tick)
PY
}

pg_env() { # drainer -> PGENV, hookloop's settings for the PostgreSQL store (none for the others)
  PGENV=(); case "$1" in *-pg) PGENV=(HOOKLOOP_STORE=postgres "DATABASE_URL=$PGURL") ;; esac
}
pg_begin() { pg_tables_empty && read -r -a pgc0 <<<"$(pg_counts)"; } # before hookloop starts: counts to its exit
pg_mark() { pg0=$(pg_cpu); } # when the drain is set going
pg_end() { # drainer -> PGCPU; stops hookloop (its backends flush their statistics) and notes the counts
  # PostgreSQL's CPU from pg_mark to the K-th answer (the clock's window is
  # shorter by the time to the first request): an upper bound, per delivery.
  # The counts run from pg_begin: for embedded-pg they include the backlog's load.
  PGCPU=$(echo "($(pg_cpu) - $pg0) * 1000000 / $K" | bc -l | xargs printf '%.1f')
  # hookloop's own count of what it sent (from its start: the backlog's load included).
  local m; m=$(curl -sf "http://127.0.0.1:$hp/metrics" | awk '/^hookloop_postgres_(statements|batches|merged_rows)_total /{print $2}' | xargs)
  [ -n "$m" ] && set -- "$1" $m && (($# == 4)) &&
    note "$1: per delivery $(echo "$2 / $K; $3 / $K; $4 / $K" | bc -l | xargs printf '%.2f statements, %.3f batches, %.2f rows carried by merged statements') (hookloop's metrics)"
  stop_bounded "$HLPID"
  local pgc1; read -r -a pgc1 <<<"$(pg_counts)"
  ((${#pgc0[@]} == 4 && ${#pgc1[@]} == 4)) &&
    note "$1: per delivery $(for i in 0 1 2 3; do echo "(${pgc1[$i]} - ${pgc0[$i]}) / $K"; done | bc -l |
      xargs printf '%.3f commits, %.2f rows written, %.0f WAL bytes, %.3f WAL syncs')"
  return 0
}

# --- one drain --------------------------------------------------------------------------------
start_partner() { # kind (http, h2, h1tls) -> PP (port posted to), SP (the clock's port), PPID_
  PP=$(free_port); SP=$PP
  if [ "$1" = http ]; then
    $pin_p "$bin/tools/mock_partner/hl_mock_partner" --listen 127.0.0.1:"$PP" --no-record >/dev/null 2>&1 &
    PPID_=$!; pids+=($PPID_)
    wait_port "$PP"
    return
  fi
  SP=$(free_port); rm -rf "$work/nginx"
  # The script execs nginx (one process, in the foreground): PPID_ is nginx.
  env "$([ "$1" = h2 ] && echo H2_PORT || echo H1_PORT)=$PP" STATUS_PORT="$SP" \
    $pin_p "$root/tools/nginx_partner/nginx_partner.sh" "$work/nginx" "$work/certs/server.pem" \
    "$work/certs/server.key" >/dev/null 2>"$work/nginx.err" &
  PPID_=$!; pids+=($PPID_)
  wait_port "$PP" && wait_port "$SP"
}
start_clock() { # [--from-now] -> CLOCK pid; result in $work/clock.out
  rm -f "$work/clock.out" "$work/clock.err" "$work/conns"
  $pin_p "$PY" "$root/bench/peers/drain_clock.py" "$SP" "$K" "$work/drainer.pid" "$MAXS" "$@" \
    $([ "$SP" != "$PP" ] && echo --stub-status "$work/conns") >"$work/clock.out" 2>"$work/clock.err" &
  CLOCK=$!; pids+=($CLOCK)
  for _ in $(seq 1 200); do grep -q ready "$work/clock.err" 2>/dev/null && return 0; sleep 0.02; done
  return 1
}
clock_result() { # -> "ok RATE SECONDS CPU" or "failed ..." (the clock gives up after MAXS itself)
  local i
  for ((i = 0; i < (MAXS + 10) * 20; i++)); do kill -0 "$CLOCK" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$CLOCK" 2>/dev/null && kill -9 "$CLOCK" 2>/dev/null # past its own deadline: stop it
  local r; r=$(cat "$work/clock.out" 2>/dev/null)
  echo "${r:-failed no_clock_output}"
}
hookloop_up() { # port datadir [env...]: starts hookloop on CPU 0 -> HLPID
  local port=$1 dir=$2; shift 2
  # shellcheck disable=SC2086 # HL_ENV: words, split on purpose
  env "$@" ${HL_ENV:-} ${CA_FILE:+HOOKLOOP_CA_FILE=$CA_FILE} HOOKLOOP_LISTEN=127.0.0.1:"$port" HOOKLOOP_DATA_DIR="$dir" HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 \
    LOG_LEVEL="$HL_LOG_LEVEL" HOOKLOOP_QUEUE_HIGH_WATER=10000000 $pin_d "${WRAP[@]}" "$bin/hookloop" serve 2>"$dir.log" &
  HLPID=$!; pids+=($HLPID); echo "$HLPID" >"$work/drainer.pid"
  wait_port "$port"
}
# The loop's busy time and the clock, from hookloop's /metrics (hl_loop_stats):
# LOOPBUSY is the share of the drain's wall time the loop spent running
# callbacks (100: it never waited for I/O, so the CPU is the limit). Embedded
# drains only: the window runs from the release to the last answer, while a
# Kafka drainer's would also hold the consumer group's join, idle.
loop_mark() { # hookloop_port -> "busy_s now_s" (busy_s "-": a build without the figure)
  curl -s "http://127.0.0.1:$1/metrics" | awk -v now="$(date +%s.%N)" \
    '$1 == "hookloop_loop_busy_seconds_total" {b = $2} END {print (b == "" ? "-" : b), now}'
}
loop_busy() { # "busy_s now_s" at the start, hookloop_port -> LOOPBUSY (%)
  LOOPBUSY=$(echo "$1 $(loop_mark "$2")" | awk '$1 != "-" && $3 != "-" && $4 > $2 {printf "%.0f", 100 * ($3 - $1) / ($4 - $2)}')
}
subscribe() { # hookloop_port rate_limit_per_s
  curl -sf -o /dev/null "http://127.0.0.1:$1/admin/schemas" \
    -d '{"event_type":"Payment","domain":"bench","schema":{"type":"object","required":["eventHeader"]}}' || return 1
  curl -sf -o /dev/null "http://127.0.0.1:$1/admin/subscriptions" \
    -d "{\"partner_id\":\"p\",\"event_type\":\"Payment\",\"url\":\"$SCHEME://127.0.0.1:$PP/hook/p\",\"max_in_flight\":$CONC,\"rate_limit_per_s\":$2}"
}
load_backlog() { # hookloop_port: K ~1 KB events, 1000 per request, made on CPU 1
  local i
  for ((i = 0; i < K; i += 1000)); do
    $pin_p "$PY" - "$work/bulk.json" "$i" "$((K - i < 1000 ? K - i : 1000))" "$IDS" <<'PY'
import random, sys, uuid
path, first, n, ids = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pad = "x" * 900
rng = random.Random(42 + first)
eid = (lambda j: "e-%d" % j) if ids == "seq" else (lambda j: str(uuid.UUID(int=rng.getrandbits(128), version=4)))
with open(path, "w") as f:
    f.write("[" + ",".join('{"eventHeader":{"uuid":"%s","eventType":"Payment"},"amount":12.50,"pad":"%s"}' % (eid(j), pad)
                           for j in range(first, first + n)) + "]")
PY
    curl -sf -o /dev/null "http://127.0.0.1:$1/api/v1/events/bulk" --data-binary @"$work/bulk.json" || return 1
  done
}

# The system calls syscalls mode counts one by one; the rest are summed.
SYSCALLS=${SYSCALLS:-"sendto recvfrom poll epoll_wait pwrite64 pread64 fdatasync futex"}
# Allocations, counted by uprobes on libc's malloc, calloc and realloc when
# perf can place them (root, a kernel with uprobes); the probes this script
# places are removed at its exit.
ALLOCS=""
alloc_probes() {
  local libc; libc=$(ldconfig -p | awk '/libc\.so\.6 .*x86-64/{print $NF; exit}')
  [ -n "$libc" ] || return 0
  if ! perf probe -l 2>/dev/null | grep -q 'probe_libc:malloc'; then
    perf probe -q -x "$libc" -a malloc -a calloc -a realloc >/dev/null 2>&1 && PROBES_ADDED=1 || return 0
  fi
  ALLOCS=",probe_libc:malloc,probe_libc:calloc,probe_libc:realloc"
}
perf_attach() { # pid drainer -> PERFPID (profile and syscalls modes only); perf itself runs on CPU 1
  PERFPID=""
  if [ "$mode" = syscalls ]; then
    local ev=raw_syscalls:sys_enter s
    for s in $SYSCALLS; do ev+=",syscalls:sys_enter_$s"; done
    ev+=",page-faults$ALLOCS"
    $pin_p perf stat -x, -e "$ev" -o "$work/sys-$2.csv" -p "$1" >/dev/null 2>"$work/perf.err" &
    PERFPID=$!
    return 0
  fi
  [ -n "${PERF_DIR:-}" ] || return 0
  # DWARF unwinding: the system libraries have no frame pointers.
  $pin_p perf record -q -F 999 --call-graph dwarf,16384 -o "$PERF_DIR/perf-kafka-$2.data" -p "$1" \
    >/dev/null 2>"$work/perf.err" &
  PERFPID=$!
}
perf_detach() { [ -n "${PERFPID:-}" ] && { kill -INT "$PERFPID" 2>/dev/null; wait "$PERFPID" || true; }; PERFPID=""; }

# Runs in this shell (not a $(...) subshell), so every process it starts is
# in pids and the EXIT trap stops it.
drain() { # drainer[@kind] round -> RESULT: "ok RATE SECONDS CPU [SELF]" or "failed REASON"
  local d=${1%@*} kind=http round=$2 res self="" dpid="" tls=()
  PGCPU=""; LOOPBUSY=""; pg_env "$d"
  [ "$d" = "$1" ] || kind=${1#*@}
  WRAP=(env) # instructions-one: the drainer under callgrind, its count in $CG_DIR/<drainer[@kind]>.<pid>
  [ "$mode" = instructions-one ] && mkdir -p "$CG_DIR" &&
    WRAP=(valgrind -q --tool=callgrind --callgrind-out-file="$CG_DIR/$1.%p")
  rm -f "$work/drainer.pid" "$work/drainer.out" "$work/drainer.err"
  start_partner "$kind" || { RESULT="failed partner_did_not_start"; return; }
  SCHEME=http; CA_FILE=""
  if [ "$kind" != http ]; then
    SCHEME=https; CA_FILE=$work/certs/ca.pem; tls=(--ca "$CA_FILE")
    [ "$kind" = h2 ] && [ "$d" != node ] && tls+=(--h2)
  fi
  local url="$SCHEME://127.0.0.1:$PP/hook/$d"
  case "$d" in
    bare-post|bare)
      start_clock || { stop_bounded "$PPID_"; RESULT="failed clock"; return; }
      $pin_d "${WRAP[@]}" "$bin/bench/peers/bare_curl" --bootstrap "$BOOT" --topic "$TOPIC" --url "$url" --count "$K" \
        --concurrency "$CONC" --max-seconds "$MAXS" $([ "$d" = bare-post ] && echo --preload) "${tls[@]}" \
        >"$work/drainer.out" 2>"$work/drainer.err" &
      dpid=$!; pids+=($dpid); echo "$dpid" >"$work/drainer.pid"
      perf_attach "$dpid" "$d"
      res=$(clock_result); forget "$CLOCK"
      perf_detach
      for _ in $(seq 1 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done # it exits after the count
      self=$(grep -o '"rate":[0-9.]*' "$work/drainer.out" | cut -d: -f2 || true) ;;
    node)
      start_clock || { stop_bounded "$PPID_"; RESULT="failed clock"; return; }
      $pin_d node "$root/bench/peers/node/dispatcher.mjs" --bootstrap "$BOOT" --topic "$TOPIC" --url "$url" \
        --secret "whsec_$(head -c 32 /dev/urandom | base64)" --count "$K" --concurrency "$CONC" \
        --group "node-peer-$round-$RANDOM" --max-seconds "$MAXS" "${tls[@]}" >"$work/drainer.out" 2>"$work/drainer.err" &
      dpid=$!; pids+=($dpid); echo "$dpid" >"$work/drainer.pid"
      [ "$mode" = syscalls ] && perf_attach "$dpid" "$d" # not profile: JIT frames have no symbols
      res=$(clock_result); forget "$CLOCK"
      perf_detach
      for _ in $(seq 1 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done # it exits after the count
      self=$(grep -o '"rate":[0-9.]*' "$work/drainer.out" | cut -d: -f2 || true) ;;
    hookloop|hookloop-pg)
      local hp; hp=$(free_port)
      [ "$d" = hookloop ] || pg_begin || { stop_bounded "$PPID_"; RESULT="failed emptying the tables: $(tail -1 "$work/psql.err")"; return; }
      start_clock || { stop_bounded "$PPID_"; RESULT="failed clock"; return; }
      hookloop_up "$hp" "$work/$d-$round-$kind" KAFKA_BROKERS="$BOOT" HOOKLOOP_ROLE=dispatcher \
        KAFKA_GROUP_ID="$d-$round-$RANDOM" "${PGENV[@]}" ||
        { stop_bounded "$HLPID" "$CLOCK" "$PPID_"; RESULT="failed hookloop_did_not_start"; return; }
      perf_attach "$HLPID" "$d"; [ -n "$PERFPID" ] && sleep 1 # perf is attached before the drain starts
      [ "$d" = hookloop ] || pg_mark
      subscribe "$hp" 0 || { stop_bounded "$HLPID" "$CLOCK" "$PPID_"; RESULT="failed subscription"; return; }
      res=$(clock_result); forget "$CLOCK"
      perf_detach
      [ "$d" = hookloop ] || pg_end "$d"
      dpid=$HLPID ;;
    embedded|embedded-pg)
      local hp; hp=$(free_port)
      [ "$d" = embedded ] || pg_begin || { stop_bounded "$PPID_"; RESULT="failed emptying the tables: $(tail -1 "$work/psql.err")"; return; }
      hookloop_up "$hp" "$work/$d-$round-$kind" "${PGENV[@]}" ||
        { stop_bounded "$HLPID" "$PPID_"; RESULT="failed hookloop_did_not_start"; return; }
      # Held at 1/s while the backlog is loaded, then released (an in-place update).
      { subscribe "$hp" 1 && load_backlog "$hp"; } || { stop_bounded "$HLPID" "$PPID_"; RESULT="failed backlog"; return; }
      perf_attach "$HLPID" "$d"; [ -n "$PERFPID" ] && sleep 1 # attached before the release
      # Under callgrind the count starts at the release: the backlog's intake is not the drain's.
      [ "$mode" = instructions-one ] && { callgrind_control -z "$HLPID" >/dev/null 2>&1 || note "callgrind_control -z failed"; }
      start_clock --from-now || { stop_bounded "$HLPID" "$PPID_"; RESULT="failed clock"; return; }
      [ "$d" = embedded ] || pg_mark
      local l0; l0=$(loop_mark "$hp")
      subscribe "$hp" 0 || { stop_bounded "$HLPID" "$CLOCK" "$PPID_"; RESULT="failed release"; return; }
      res=$(clock_result); forget "$CLOCK"
      loop_busy "$l0" "$hp"
      perf_detach
      [ "$d" = embedded ] || pg_end "$d"
      dpid=$HLPID ;;
  esac
  [ -n "$dpid" ] && stop_bounded "$dpid"
  kill -9 "$PPID_" 2>/dev/null; wait "$PPID_" 2>/dev/null || true; forget "$PPID_" # nothing of the partner's is needed
  if [ "${res%% *}" != ok ] && [ -s "$work/drainer.err" ]; then note "$d: $(tail -1 "$work/drainer.err")"; fi
  RESULT="$res${self:+ $self}"
  CONNS=$(cat "$work/conns" 2>/dev/null || echo -)
}

# --- main ---------------------------------------------------------------------------------------
case " $DRAINERS " in *@h2*|*@h1tls*) sh "$root/tests/e2e/tls_certs.sh" "$work/certs" >/dev/null ;; esac
[ "$mode" = syscalls ] && alloc_probes
start_kafka
fill_topic
case " $DRAINERS " in *"-pg "*|*"-pg@"*) pg_server_start ;; esac
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
machine="$cpus cores, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | xargs), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the start, commit $commit, $(date -u +%Y-%m-%dT%H:%MZ)"
read -r -a order <<<"$DRAINERS"
declare -A rates cpus_us selfs fails conns pgcpus
for ((r = 0; r < R; r++)); do
  for ((j = 0; j < ${#order[@]}; j++)); do
    d=${order[$(( (j + r) % ${#order[@]} ))]}
    drain "$d" "$r"
    read -r st rate secs cpu self <<<"$RESULT"
    if [ "$st" = ok ]; then
      rates[$d]+="$rate "; cpus_us[$d]+="$cpu "; selfs[$d]+="${self:--} "; conns[$d]+="$CONNS "; [ -n "$PGCPU" ] && pgcpus[$d]+="$PGCPU "
      note "round $((r + 1)): $d $rate deliveries/s, ${secs}s, $cpu µs CPU per delivery${PGCPU:+, PostgreSQL $PGCPU µs}${LOOPBUSY:+, loop busy $LOOPBUSY %}${self:+, self-reported $self/s}$([ "$CONNS" != - ] && echo ", $CONNS connections")"
    else
      fails[$d]+="x"; note "round $((r + 1)): $d FAILED ($rate $secs)"
    fi
  done
done

if [ "$mode" = profile ]; then
  for d in "${order[@]}"; do
    f=$PERF_DIR/perf-kafka-$d.data
    echo "## $d under perf: ${rates[$d]:-failed} deliveries/s (perf slows it down), ${cpus_us[$d]:-?}µs CPU per delivery; $f"
    perf script --no-inline -F comm,tid,ip,sym,dso -i "$f" 2>/dev/null | "$PY" "$root/bench/peers/perf_map.py" 40
    echo
  done
  exit 0
fi

label() {
  local k=""
  case "$1" in *@h2) k=" → nginx, HTTP/2 over TLS" ;; *@h1tls) k=" → nginx, HTTP/1.1 over TLS" ;; esac
  echo "$(label_of "${1%@*}")$k"
}
label_of() {
  case "$1" in
    bare-post) echo "bare libcurl multi on libuv, POST only (records read into memory first)" ;;
    bare) echo "bare libcurl multi on libuv, consume (librdkafka) + POST" ;;
    node) echo "Node.js peer: kafkajs + undici Pool, Standard Webhooks HMAC, retries, no status store" ;;
    hookloop) echo "hookloop \`serve\`, HOOKLOOP_ROLE=dispatcher, SQLite store" ;;
    hookloop-pg) echo "hookloop \`serve\`, HOOKLOOP_ROLE=dispatcher, PostgreSQL store (CPU: hookloop alone)" ;;
    embedded-pg) echo "hookloop \`serve\`, PostgreSQL queue and store (K events loaded, then released; CPU: hookloop alone)" ;;
    embedded) echo "hookloop \`serve\`, embedded SQLite queue (no Kafka; K events loaded, then released)" ;;
  esac
}
if [ "$mode" = syscalls ]; then
  echo "# System calls per delivery — $machine"
  echo
  echo "_K=$K records (event ids: $IDS_NOTE), $CONC in flight, one drain each; counted by \`perf stat\` over the drain (all threads), divided by K${ALLOCS:+; allocations: calls of malloc, calloc and realloc in libc (uprobes)}._"
  echo
  head="| drainer | all"; sep="|---|---:"
  for s in $SYSCALLS; do head+=" | $s"; sep+="|---:"; done
  echo "$head | other | page faults |${ALLOCS:+ allocations |}"; echo "$sep|---:|---:|${ALLOCS:+---:|}"
  per() { echo "$1 / $K" | bc -l | xargs printf "%.${2:-2}f"; } # count [decimals] -> per delivery
  for d in "${order[@]}"; do
    f=$work/sys-$d.csv
    [ -s "$f" ] || { echo "| $(label "$d") | failed |"; continue; }
    row="| $(label "$d")"
    all=$(awk -F, '$3=="raw_syscalls:sys_enter"{print $1}' "$f"); rest=$all
    row+=" | $(per "$all")"
    for s in $SYSCALLS; do
      n=$(awk -F, -v e="syscalls:sys_enter_$s" '$3==e{print $1}' "$f"); n=${n:-0}; rest=$((rest - n))
      row+=" | $(per "$n")"
    done
    row+=" | $(per "$rest") | $(per "$(awk -F, '$3=="page-faults"{print $1}' "$f")") |"
    if [ -n "$ALLOCS" ] && [ "$d" = node ]; then
      row+=" — |" # libc's malloc only; V8's objects live in a heap of its own
    elif [ -n "$ALLOCS" ]; then
      n=$(awk -F, '$3 ~ /^probe_libc:(malloc|calloc|realloc)$/{s+=$1} END{print s+0}' "$f")
      row+=" $(per "$n" 1) |"
    fi
    echo "$row"
  done
  exit 0
fi

stat_of() { # "numbers..." -> "median min max"
  local s; s=$(printf '%s\n' $1 | sort -n)
  echo "$(median <<<"$s") $(head -1 <<<"$s") $(tail -1 <<<"$s")"
}
declare -A med cmed
nfail() { local f=${fails[$1]:-}; echo "${#f}"; }
table="| drainer ($K records, $CONC in flight, $R rounds) | deliveries/s median | min | max | CPU µs per delivery (median) | runs (deliveries/s) | failed runs |
|---|---|---|---|---|---|---|"
for d in "${order[@]}"; do
  if [ -n "${rates[$d]:-}" ]; then
    read -r m lo hi <<<"$(stat_of "${rates[$d]}")"; med[$d]=$m
    cpu_m=$(printf '%s\n' ${cpus_us[$d]} | grep -v '^-$' | median || true); cpu_m=${cpu_m:--}
    [ "$cpu_m" != - ] && cmed[$d]=$cpu_m
    table+="
| $(label "$d") | $m | $lo | $hi | $cpu_m | ${rates[$d]% } | $(nfail "$d") |"
  else
    table+="
| $(label "$d") | failed | | | | | $(nfail "$d") |"
  fi
done
ratio() { # a b -> a/b or n/a
  if [ -n "${med[$1]:-}" ] && [ -n "${med[$2]:-}" ]; then echo "${med[$1]} / ${med[$2]}" | bc -l | xargs printf '%.2f'; else echo n/a; fi
}
cpu_ratio() { # a b -> CPU per delivery of b / of a: the rate ratio if both were CPU-bound on the core
  if [ -n "${cmed[$1]:-}" ] && [ -n "${cmed[$2]:-}" ]; then echo "${cmed[$2]} / ${cmed[$1]}" | bc -l | xargs printf '%.2f'; else echo n/a; fi
}
peer_ratios() { # suffix ("" or @h2 or @h1tls) -> the ratio rows of hookloop's two paths against the peers
  local x=$1
  echo "| hookloop / Node.js peer (goal ≥ 1.5) | $(ratio hookloop$x node$x) | $(cpu_ratio hookloop$x node$x) | $(ratio embedded$x node$x) | $(cpu_ratio embedded$x node$x) |
| hookloop / bare libcurl, consume + POST (goal ≥ 0.6) | $(ratio hookloop$x bare$x) | $(cpu_ratio hookloop$x bare$x) | $(ratio embedded$x bare$x) | $(cpu_ratio embedded$x bare$x) |
| hookloop / bare libcurl, POST only | $(ratio hookloop$x bare-post$x) | $(cpu_ratio hookloop$x bare-post$x) | $(ratio embedded$x bare-post$x) | $(cpu_ratio embedded$x bare-post$x) |"
}
kinds=(); for d in "${order[@]}"; do
  case "$d" in *@*) x="@${d#*@}" ;; *) x="" ;; esac
  case " ${kinds[*]-} " in *" [$x] "*) ;; *) kinds+=("[$x]") ;; esac
done
ratios=""
for k in "${kinds[@]}"; do
  x=${k#[}; x=${x%]}
  ratios+="| ratio of medians${x:+, partner $x} | Kafka (hookloop), by rate | by CPU per delivery | embedded queue, by rate | by CPU per delivery |
|---|---|---|---|---|
$(peer_ratios "$x")

"
done
ratios+="\"by CPU per delivery\" is the inverse ratio of the drainers' CPU time per delivery: the ratio the rates would have if each drainer were CPU-bound on a core of its own (other load on the machine moves it much less than the rates)."
# HTTP/2 against HTTP/1.1 over TLS, drainer by drainer, and the connections nginx accepted.
protocols=""
for d in bare-post bare node hookloop embedded; do
  [ -n "${rates[$d@h2]:-}${rates[$d@h1tls]:-}" ] || continue
  c2=$(printf '%s\n' ${conns[$d@h2]:-} | grep -v '^-$' | median || true)
  c1=$(printf '%s\n' ${conns[$d@h1tls]:-} | grep -v '^-$' | median || true)
  protocols+="
| $(label_of "$d") | $(ratio "$d@h2" "$d@h1tls") | $(cpu_ratio "$d@h2" "$d@h1tls") | ${cmed[$d@h1tls]:--} → ${cmed[$d@h2]:--} | ${c1:--} → ${c2:--} |"
done
[ -n "$protocols" ] && ratios+="

| HTTP/2 against HTTP/1.1, both over TLS to nginx | h2 / h1.1, by rate | by CPU per delivery | CPU µs per delivery, h1.1 → h2 | connections nginx accepted per drain (median), h1.1 → h2 |
|---|---|---|---|---|$protocols"
# The PostgreSQL store: hookloop's CPU alone, and with PostgreSQL's processes' (on CPU 1) added.
pg_note=""
for d in "${order[@]}"; do
  case "${d%@*}" in *-pg) ;; *) continue ;; esac
  [ -n "${cmed[$d]:-}" ] && [ -n "${pgcpus[$d]:-}" ] || continue
  x=""; case "$d" in *@*) x="@${d#*@}" ;; esac
  pgm=$(printf '%s\n' ${pgcpus[$d]} | median)
  both=$(echo "${cmed[$d]} + $pgm" | bc -l | xargs printf '%.1f')
  cmed[$d+pg]=$both
  pg_note+="

| $(label "$d") | by rate | by CPU, hookloop alone | by CPU, hookloop + PostgreSQL |
|---|---|---|---|
| CPU µs per delivery (median) | | ${cmed[$d]} | ${cmed[$d]} + $pgm (PostgreSQL's processes; runs: ${pgcpus[$d]% }) = $both |
| / Node.js peer (goal ≥ 1.5) | $(ratio "$d" "node$x") | $(cpu_ratio "$d" "node$x") | $(cpu_ratio "$d+pg" "node$x") |
| / bare libcurl, consume + POST (goal ≥ 0.6) | $(ratio "$d" "bare$x") | $(cpu_ratio "$d" "bare$x") | $(cpu_ratio "$d+pg" "bare$x") |
| / the same on SQLite | $(ratio "$d" "${d%%-pg*}$x") | $(cpu_ratio "$d" "${d%%-pg*}$x") | $(cpu_ratio "$d+pg" "${d%%-pg*}$x") |"
done
[ -n "$pg_note" ] && ratios+="$pg_note

PostgreSQL's CPU is counted from the moment the drain is set going (the subscription, or the release of the held one) to the K-th answer, a little longer than the clock's window: an upper bound. It runs on CPU 1 beside the partner and the broker."
self_note="Self-reported rates (first record read → last answer), for comparison with the partner's clock: $(for d in "${order[@]}"; do case "${d%@*}" in bare-post|bare|node) ;; *) continue ;; esac; [ -n "${selfs[$d]:-}" ] && printf '%s: %s; ' "$d" "${selfs[$d]% }"; done || true)"
report="# Kafka egress drain, side by side — $machine

_K=$K records (~1 KB; event ids: $IDS_NOTE) on $TOPIC ($PARTS partitions, librdkafka mock cluster), fast loopback partner (the mock partner over plain HTTP; nginx over TLS for drainers marked @h2 and @h1tls), $CONC in flight, $R interleaved rounds, hookloop at LOG_LEVEL=$HL_LOG_LEVEL; drainers on CPU 0, partner, broker and clock on CPU 1. Rate: partner's first request to its K-th (drain_clock.py); CPU: the drainer process's CPU time over that window, all threads._

$table

$ratios

$self_note"
mkdir -p "$out"
echo "$report" >"$out/$OUTNAME.md"
# For bench/run.sh's table of issue 21's goals: the figures it quotes, one
# name=value a line (n/a or - where a drainer did not run or failed).
if [ -n "${GOALS_OUT:-}" ]; then
  for p in node bare; do
    echo "kafka_${p}_rate=$(ratio hookloop "$p")"; echo "kafka_${p}_cpu=$(cpu_ratio hookloop "$p")"
    echo "embedded_${p}_rate=$(ratio embedded "$p")"; echo "embedded_${p}_cpu=$(cpu_ratio embedded "$p")"
  done >"$GOALS_OUT"
  for d in bare node hookloop embedded; do echo "${d}_us=${cmed[$d]:--}"; done >>"$GOALS_OUT"
fi
echo "$report"
