#!/usr/bin/env bash
# npm ci in the directory given, pinned by its package-lock.json, retried.
# The registry sometimes drops a connection mid-install (EIDLETIMEOUT,
# ECONNRESET); a fresh attempt after a pause almost always gets through, and
# a failed `npm ci` leaves nothing half-installed because it starts by
# removing node_modules. Gives up after four attempts (about two minutes).
# HOOKLOOP_NPM_CI_DELAYS overrides the three pauses, in seconds
# (tests/scripts sets them to 0).
set -uo pipefail
dir="$1"
read -r -a delays <<<"${HOOKLOOP_NPM_CI_DELAYS:-10 30 60}"
for attempt in 1 2 3 4; do
  if (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error \
        --fetch-retries=4 --fetch-retry-mintimeout=5000 --fetch-retry-maxtimeout=60000 \
        --fetch-timeout=120000 >/dev/null); then
    exit 0
  fi
  ((attempt < 4)) || break
  d=${delays[attempt - 1]:-0}
  echo "npm-ci.sh: npm ci in $dir failed (attempt $attempt of 4); again in ${d}s" >&2
  sleep "$d"
done
echo "npm-ci.sh: npm ci in $dir failed four times; is registry.npmjs.org reachable?" >&2
exit 1
