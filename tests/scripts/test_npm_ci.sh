#!/usr/bin/env bash
# scripts/npm-ci.sh: `npm ci` in the directory named, retried after a
# failure, four attempts at most. A stand-in `npm` first on PATH records
# each call (its directory and arguments) and fails as many times as told.
set -uo pipefail
script="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/pkg"
cat >"$work/bin/npm" <<'STUB'
#!/usr/bin/env bash
echo "$PWD $*" >>"$STUB_LOG"
n=$(wc -l <"$STUB_LOG")
[ "$n" -gt "$STUB_FAILS" ] || { echo "npm error code EIDLETIMEOUT" >&2; exit 1; }
exit 0
STUB
chmod +x "$work/bin/npm"
export HOOKLOOP_NPM_CI_DELAYS="0 0 0"
fails=0

# run <failures the stub makes> <expected exit> <expected calls>
run() {
  local want_rc="$2" want_calls="$3" rc calls
  : >"$work/log"
  STUB_LOG="$work/log" STUB_FAILS="$1" PATH="$work/bin:$PATH" "$script" "$work/pkg" 2>"$work/err"
  rc=$?
  calls=$(wc -l <"$work/log")
  if [ "$rc" != "$want_rc" ] || [ "$calls" != "$want_calls" ]; then
    echo "FAIL: npm failing $1 times: exit $rc after $calls calls, want exit $want_rc after $want_calls" >&2
    cat "$work/err" >&2
    fails=$((fails + 1))
  else
    echo "ok: npm failing $1 times: exit $rc after $calls calls"
  fi
}

run 0 0 1
run 2 0 3
run 3 0 4
run 4 1 4
grep -q "failed four times" "$work/err" || { echo "FAIL: no final message after four failures" >&2; fails=$((fails + 1)); }

# Every call is `npm ci` in the directory given.
: >"$work/log"
STUB_LOG="$work/log" STUB_FAILS=1 PATH="$work/bin:$PATH" "$script" "$work/pkg" 2>/dev/null
while read -r dir verb _; do
  if [ "$dir" != "$work/pkg" ] || [ "$verb" != ci ]; then
    echo "FAIL: a call ran '$verb' in $dir" >&2
    fails=$((fails + 1))
  fi
done <"$work/log"
[ "$(wc -l <"$work/log")" = 2 ] || { echo "FAIL: want 2 calls with one failure" >&2; fails=$((fails + 1)); }

[ "$fails" = 0 ] && echo "test_npm_ci: all passed"
exit $((fails > 0))
