# shellcheck shell=bash
# Reading the mock partner's /stats from a bench script; sourced by
# bench/run.sh and bench/lib.sh.
# The partner's stats are read with bash's builtins only. wait_count polls
# them every 20 ms while hookloop runs, on the partner's core, and a
# `curl | grep | head | cut` pipeline costs ~40 ms of CPU a poll there: the
# old poller took that core from the very partner the drain was timed
# against (bench/README.md, "the bench's own poller").
# shellcheck disable=SC2034 # out_ is a name reference to the caller's variable
stat_into() { # var port [field]: the field of the partner's /stats into var ("" when unreachable)
  local -n out_=$1
  local fd line body=""
  out_=""
  exec {fd}<>"/dev/tcp/127.0.0.1/$2" 2>/dev/null || return 0
  printf 'GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&"$fd"
  while IFS= read -r -u "$fd" line || [ -n "$line" ]; do body+=$line; done
  exec {fd}<&-
  [[ $body =~ \"${3:-requests}\":([0-9]+) ]] && out_=${BASH_REMATCH[1]}
  return 0
}
partner_stat() { local v; stat_into v "$@"; echo "${v:-0}"; } # port [field]
# wait_count port want seconds [field]: polls the partner's stats until field >= want; 1 when the time is up.
wait_count() {
  local deadline=$((SECONDS + $3)) v tick rc=0
  exec {tick}<> <(:) # both ends of a pipe: read -t on it sleeps without starting a process
  while stat_into v "$1" "${4:-requests}"; [ "${v:-0}" -lt "$2" ]; do
    [ "$SECONDS" -lt "$deadline" ] || { rc=1; break; }
    read -r -t 0.02 -u "$tick" _ || true
  done
  exec {tick}<&-
  return "$rc"
}
