#!/usr/bin/env bash
# HTTP/2 multiplexing to a partner that negotiates it over TLS (ALPN), against
# the same drain over HTTP/1.1+TLS (issue 21): bench/peers/kafka_drain.sh with
# every drainer twice, into nginx offering only h2 (NAME@h2) and only
# HTTP/1.1 (NAME@h1tls), interleaved round by round, with the same pinning
# (drainers on CPU 0; nginx, the broker and the clock on CPU 1). Table on
# stdout and in bench/results/h2.md; see "HTTP/2 to partners" in bench/README.md.
#
#   bench/h2/run.sh                 K=20000 records, R=3 rounds
#   K=40000 R=5 bench/h2/run.sh
#   DRAINERS="hookloop@h2 hookloop@h1tls" bench/h2/run.sh
#
# Environment: as bench/peers/kafka_drain.sh (K, R, CONC, MAXS, HL_BUILD, HL_RESULTS).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
d="node@h1tls" # not node@h2: undici's HTTP/2 fails against nginx (bench/peers/node/dispatcher.mjs)
for x in bare hookloop embedded; do d+=" $x@h1tls $x@h2"; done
export K=${K:-20000} R=${R:-3} DRAINERS=${DRAINERS:-$d} OUTNAME=h2
exec "$root/bench/peers/kafka_drain.sh" drain
