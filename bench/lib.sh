# Shared prologue of the bench scripts that start peers on loopback.
# Source it after `set -euo pipefail` with the bench's name:
#   . "$(dirname "$0")/../lib.sh" aimd
# It sets root, bin (HL_BUILD or build/), out (HL_RESULTS or bench/results),
# work (a fresh /tmp directory, removed at exit unless KEEP is set) and pids
# (every process started through start_peer, killed at exit).
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${HL_BUILD:-$root/build}
out=${HL_RESULTS:-$root/bench/results}
mkdir -p "$out"
work=$(mktemp -d "/tmp/hookloop-bench-$1-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
. "$root/bench/partner_stats.sh" # partner_stat, wait_count: the partner's /stats without starting a process

# Starts a peer that prints a line "listening ...:PORT" and echoes PORT.
# Its output goes to $work/NAME.out and NAME.err.
start_peer() { # name, command...
  local name=$1; shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  for _ in $(seq 1 200); do
    if grep -q listening "$work/$name.out" 2>/dev/null; then
      grep -m1 listening "$work/$name.out" | sed 's/.*[: ]//'; return
    fi
    sleep 0.05
  done
  echo "bench: $name did not start; see $work/$name.err" >&2; exit 1
}
