#!/usr/bin/env bash
# Deliveries over TLS with keep-alive (issue 19), on loopback only.
#   bench/tls/run.sh [runs] [deliveries]     (defaults 3 and 10000; about a minute per run)
# Per run, interleaved:
#   1. hookloop: `deliveries` ~1 KB events loaded while the subscription
#      (https://127.0.0.1:<port>, max_in_flight CONNS) is held at 1/s, then
#      the hold is lifted and the drain timed until the partner has them all.
#      Also hookloop's CPU time over the drain (/proc): CPU µs per delivery.
#   2. h2load over TLS (HTTP/1.1, CONNS connections) posting as many
#      requests of the same ~1 KB body to the same partner: the ceiling.
# The partner is tools/tls_partner (Python's ssl, a thread per connection;
# certificates from tests/e2e/tls_certs.sh), so both rates are bounded by it;
# it counts, among the connections that carried a POST, the handshakes and
# the resumed ones, over the whole run (held phase and drain; the partner is
# fresh per run): handshakes per 10,000 deliveries (target: one per
# connection, i.e. at most CONNS per run when nothing is re-opened).
# hookloop and h2load run on CPU 0, the partner and this script on CPU 1.
# Prints a Markdown table and writes it to bench/results/tls.md.
set -euo pipefail
RUNS=${1:-3}
N=${2:-10000}
CONNS=${CONNS:-32}
DRAIN_MAX_S=${DRAIN_MAX_S:-240}
. "$(dirname "$0")/../lib.sh" tls
cpus=$(getconf _NPROCESSORS_ONLN)
pin_hl="taskset -c 0"; pin_p="taskset -c $((cpus > 1 ? 1 : 0))"
taskset -pc "$((cpus > 1 ? 1 : 0))" $$ >/dev/null
trap 'exit 143' TERM INT

sh "$root/tests/e2e/tls_certs.sh" "$work/certs" >/dev/null 2>&1
wait_line() { # file: waits for "listening ...:PORT", echoes PORT
  for _ in $(seq 1 200); do
    if grep -q listening "$1" 2>/dev/null; then grep -m1 listening "$1" | sed 's/.*://'; return; fi
    sleep 0.05
  done
  echo "bench: no listening line in $1" >&2; exit 1
}
stat_of() { # partner_port field (over TLS: a /stats connection carries no POST, so it is not counted)
  curl -s --cacert "$work/certs/ca.pem" "https://127.0.0.1:$1/stats" | grep -o "\"$2\": *[0-9]*" | head -1 | sed 's/.*: *//'
}
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14+$15)/t}' "/proc/$1/stat"; }
median() { printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "n/a"}'; }

python3 - "$work/bulk" "$N" <<'PY' # the backlog, in files of 1000 (~1 KB events, as bench/run.sh makes them)
import sys
d, n = sys.argv[1], int(sys.argv[2])
pad = "x" * 900
import os
os.makedirs(d, exist_ok=True)
for f in range(0, n, 1000):
    with open("%s/%d.json" % (d, f), "w") as o:
        o.write("[" + ",".join('{"eventHeader":{"uuid":"e-%d","eventType":"Payment"},"amount":12.50,"pad":"%s"}' % (i, pad)
                               for i in range(f, min(f + 1000, n))) + "]")
with open("%s/one.json" % d, "w") as o:
    o.write('{"eventHeader":{"uuid":"e-one","eventType":"Payment"},"amount":12.50,"pad":"%s"}' % pad)
PY

start_partner() { # -> PP (port), PPID_
  $pin_p /usr/bin/python3 "$root/tools/tls_partner/partner.py" --cert "$work/certs/server.pem" \
    --key "$work/certs/server.key" --no-record >"$work/partner.out" 2>"$work/partner.err" &
  PPID_=$!; pids+=($PPID_); PP=$(wait_line "$work/partner.out")
}

hookloop_run() { # -> "rate cpu_us_per_delivery handshakes resumed" or "failed ..."
  start_partner
  local dir=$work/hl-$RANDOM
  env HOOKLOOP_LISTEN=127.0.0.1:0 HOOKLOOP_DATA_DIR="$dir" HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 LOG_LEVEL=warn \
    HOOKLOOP_CA_FILE="$work/certs/ca.pem" HOOKLOOP_QUEUE_HIGH_WATER=10000000 \
    $pin_hl "$bin/hookloop" serve >"$dir.out" 2>"$dir.log" &
  local hl=$!; pids+=($hl)
  local hp; hp=$(wait_line "$dir.out")
  local api=http://127.0.0.1:$hp
  curl -s -o /dev/null "$api/admin/schemas" -d '{"event_type":"Payment","domain":"bench","schema":{"type":"object"}}'
  local sub="{\"partner_id\":\"tls\",\"event_type\":\"Payment\",\"url\":\"https://127.0.0.1:$PP/hook/tls\",\"max_in_flight\":$CONNS"
  curl -s -o /dev/null "$api/admin/subscriptions" -d "$sub,\"rate_limit_per_s\":1}"
  for f in "$work"/bulk/[0-9]*.json; do curl -s -o /dev/null "$api/api/v1/events/bulk" --data-binary @"$f"; done
  local c0 p0 t0 t1 c1 got done=1
  p0=$(stat_of "$PP" posts)
  c0=$(cpu_s "$hl"); t0=$(date +%s.%N)
  curl -s -o /dev/null "$api/admin/subscriptions" -d "$sub,\"rate_limit_per_s\":0}"
  local deadline=$((SECONDS + DRAIN_MAX_S))
  until [ "$(stat_of "$PP" posts)" -ge "$N" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { done=0; break; }
    sleep 0.1
  done
  t1=$(date +%s.%N); c1=$(cpu_s "$hl"); got=$(stat_of "$PP" posts)
  # Handshakes over the whole run (the partner is fresh): the held
  # subscription's first deliveries open a connection while the backlog
  # loads, the drain opens the rest; all N deliveries went over them.
  local hs rs; hs=$(stat_of "$PP" post_connections); rs=$(stat_of "$PP" post_resumed)
  kill "$hl" "$PPID_" 2>/dev/null || true; wait "$hl" "$PPID_" 2>/dev/null || true
  if [ "$done" = 0 ]; then echo "bench: drain incomplete, $got of $N after ${DRAIN_MAX_S}s" >&2; echo "failed failed $hs $rs"; return; fi
  local n=$((got - p0))
  echo "$(echo "$n / ($t1 - $t0)" | bc -l | xargs printf '%.0f') $(echo "($c1 - $c0) * 1000000 / $n" | bc -l | xargs printf '%.1f') $hs $rs"
}

h2load_run() { # -> "rate handshakes"
  start_partner
  local r; r=$($pin_hl h2load --h1 -n "$N" -c "$CONNS" -d "$work/bulk/one.json" -H 'content-type: application/json' \
    "https://127.0.0.1:$PP/hook/h2load" 2>/dev/null | awk '/^finished in/ {print $4}' | tr -d ',' || true)
  local hs; hs=$(stat_of "$PP" post_connections)
  kill "$PPID_" 2>/dev/null || true; wait "$PPID_" 2>/dev/null || true
  [[ $r =~ ^[0-9.]+$ ]] && printf '%.0f %s\n' "$r" "$hs" || echo "failed $hs"
}

rates=(); cpus_us=(); hss=(); rss=(); ceil=(); chs=()
for r in $(seq 1 "$RUNS"); do
  read -r a b c d <<<"$(hookloop_run)"; rates+=("$a"); cpus_us+=("$b"); hss+=("$c"); rss+=("$d")
  read -r e f <<<"$(h2load_run)"; ceil+=("$e"); chs+=("$f")
  echo "run $r: hookloop $a deliveries/s, $b CPU µs/delivery, $c handshakes ($d resumed); h2load $e req/s, $f handshakes" >&2
done
per10k() { echo "$1 * 10000 / $N" | bc -l | xargs printf '%.0f'; }
m_rate=$(median "${rates[@]}"); m_ceil=$(median "${ceil[@]}")
ratio=n/a
[[ $m_rate =~ ^[0-9.]+$ && $m_ceil =~ ^[0-9.]+$ ]] && ratio=$(echo "$m_rate / $m_ceil" | bc -l | xargs printf '%.2f')
{
  echo "# Deliveries over TLS ($(date -u +%Y-%m-%d), $cpus cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$root" rev-parse --short HEAD), \`bench/tls/run.sh $RUNS $N\`, CONNS=$CONNS)"
  echo
  echo "Partner: tools/tls_partner (Python ssl, TLS 1.3, a thread per connection) on CPU 1; hookloop and h2load on CPU 0. Medians of $RUNS interleaved runs."
  echo
  echo "| figure | median | runs |"
  echo "|---|---:|---|"
  echo "| hookloop: deliveries/s over TLS, keep-alive, max_in_flight $CONNS ($N deliveries) | $m_rate | ${rates[*]} |"
  echo "| h2load --h1 -c $CONNS over TLS to the same partner, req/s | $m_ceil | ${ceil[*]} |"
  echo "| hookloop / h2load | $ratio | |"
  echo "| hookloop: CPU µs per delivery during the drain (/proc) | $(median "${cpus_us[@]}") | ${cpus_us[*]} |"
  echo "| hookloop: TLS handshakes per 10,000 deliveries (= connections that carried one; at most $CONNS in flight) | $(per10k "$(median "${hss[@]}")") | ${hss[*]} per $N |"
  echo "| of those handshakes, resumed TLS sessions | $(median "${rss[@]}") | ${rss[*]} |"
  echo "| h2load: TLS handshakes per $N requests | $(median "${chs[@]}") | ${chs[*]} |"
} | tee "$out/tls.md"
