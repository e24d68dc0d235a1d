#!/usr/bin/env bash
# Runs the libFuzzer targets (docs/fuzzing.md).
#   run.sh replay <binary> <target>            every input of corpus/<target> and crashes/<target> once
#   run.sh run    <binary> <target> <seconds>  fuzzes from the corpus with a fixed seed; fails on a finding
#   run.sh fuzz   <dir> <seconds> [jobs]       every fuzz_* in <dir> (or $FUZZ_TARGETS) for <seconds>,
#                                              <jobs> at a time, unattended (findings are saved and
#                                              fuzzing goes on); one summary line per target
# Findings go to <cwd or dir>/artifacts/<target>/; once fixed, a finding is
# committed to fuzz/crashes/<target>/ and replayed by every `make test`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# Options every mode shares: 10 s for one input is a hang (the service
# promises a few ms per loop turn), inputs up to 8 KiB, the target's
# dictionary of tokens when it has one.
common_opts() {
  local t="$1"
  opts=(-timeout=10 -max_len=8192 -rss_limit_mb=2048)
  [ -f "$here/dict/$t.dict" ] && opts+=("-dict=$here/dict/$t.dict")
  return 0
}

seed_dirs() {
  local t="$1"
  dirs=()
  [ -d "$here/corpus/$t" ] && dirs+=("$here/corpus/$t")
  [ -d "$here/crashes/$t" ] && dirs+=("$here/crashes/$t")
  return 0
}

mode="${1:-}"
case "$mode" in
replay)
  bin="$2" t="$3"
  seed_dirs "$t"
  mapfile -t files < <(find "${dirs[@]}" -type f | sort)
  if [ "${#files[@]}" -eq 0 ]; then echo "fuzz_$t: no corpus under fuzz/corpus/$t" >&2; exit 1; fi
  echo "fuzz_$t: replaying ${#files[@]} inputs"
  exec "$bin" -timeout=10 -rss_limit_mb=2048 "${files[@]}"
  ;;
run)
  bin="$2" t="$3" secs="$4"
  common_opts "$t"
  seed_dirs "$t"
  art="$PWD/artifacts/$t"
  mkdir -p "$art"
  scratch="$(mktemp -d)"   # new inputs land here, never in the repository's corpus
  trap 'rm -rf "$scratch"' EXIT
  if ! "$bin" "${opts[@]}" -seed=1 -max_total_time="$secs" -print_final_stats=1 \
       -artifact_prefix="$art/" "$scratch" "${dirs[@]}"; then
    echo "fuzz_$t: a failing input was saved under $art/ — fix the cause, then commit it to fuzz/crashes/$t/" >&2
    exit 1
  fi
  ;;
fuzz-one)  # internal: one target of `fuzz`
  bin="$2" secs="$3" dir="$4"
  t="$(basename "$bin")"; t="${t#fuzz_}"
  common_opts "$t"
  seed_dirs "$t"
  corpus="$dir/corpus/$t" art="$dir/artifacts/$t" log="$dir/logs/$t.log"
  mkdir -p "$corpus" "$art" "$dir/logs"
  : >"$log"
  before="$(find "$art" -type f | wc -l)"
  start=$(date +%s) execs=0 runs=0 last=""
  # One process for the whole time; after a finding (saved in $art) it
  # starts again from the grown corpus with the time left, at most 20 times.
  while left=$(( secs - ($(date +%s) - start) )); [ "$left" -gt 2 ] && [ "$runs" -lt 20 ]; do
    runs=$((runs + 1))
    "$bin" "${opts[@]}" -max_total_time="$left" -print_final_stats=1 -artifact_prefix="$art/" \
      "$corpus" "${dirs[@]}" >"$log.run" 2>&1 || true
    cat "$log.run" >>"$log"
    n="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log.run" | tail -n 1)"
    execs=$(( execs + ${n:-0} ))
    l="$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log.run" | tail -n 1 || true)"
    [ -n "$l" ] && last="$l"
  done
  rm -f "$log.run"
  took=$(( $(date +%s) - start ))
  found=$(( $(find "$art" -type f | wc -l) - before ))
  if [ -z "$last" ]; then
    line="fuzz_$t: no statistics (see $log)"
  else
    cov="$(sed -E 's/.* cov: ([0-9]+).*/\1/' <<<"$last")"
    ft="$(sed -E 's/.* ft: ([0-9]+).*/\1/' <<<"$last")"
    corp="$(sed -E 's#.* corp: ([0-9]+)/.*#\1#' <<<"$last")"
    line="fuzz_$t: ${execs} execs in ${took} s, cov: ${cov} ft: ${ft}, corpus ${corp}, new findings ${found}"
  fi
  [ "$found" -gt 0 ] && line+=" (in $art/)"
  echo "$line"
  echo "$line" >>"$dir/summary.txt"
  ;;
fuzz)
  dir="$(cd "$2" && pwd)" secs="$3" jobs="${4:-1}"
  if [ -n "${FUZZ_TARGETS:-}" ]; then   # e.g. FUZZ_TARGETS="json http"
    bins=(); for t in $FUZZ_TARGETS; do bins+=("$dir/fuzz_${t#fuzz_}"); done # "http" or "fuzz_http"
    for b in "${bins[@]}"; do [ -x "$b" ] || { echo "no fuzz target $b (make build-fuzz)" >&2; exit 1; }; done
  else
    mapfile -t bins < <(find "$dir" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x | sort)
  fi
  if [ "${#bins[@]}" -eq 0 ]; then echo "no fuzz targets in $dir (make build-fuzz)" >&2; exit 1; fi
  echo "fuzzing ${#bins[@]} targets for ${secs} s each, ${jobs} at a time (logs in $dir/logs/)"
  echo "--- $(date -u +%FT%TZ) ${secs} s per target" >>"$dir/summary.txt"
  first=$(( $(wc -l <"$dir/summary.txt") + 1 ))
  printf '%s\n' "${bins[@]}" | xargs -P "$jobs" -I{} "$0" fuzz-one {} "$secs" "$dir"
  if tail -n +"$first" "$dir/summary.txt" | grep -qv 'new findings 0$'; then
    echo "fuzz: findings or missing statistics above (summary in $dir/summary.txt)" >&2
    exit 1
  fi
  ;;
*)
  sed -n '2,9p' "$0" >&2
  exit 2
  ;;
esac
