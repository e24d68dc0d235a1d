#!/usr/bin/env bash
# Installs the Node.js peer's packages (kafkajs, undici), pinned by
# bench/peers/node/package-lock.json, with `npm ci`; again only when the lock
# changed. Called by scripts/install-deps.sh bench and by kafka_drain.sh.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/node"
stamp="$dir/node_modules/.hookloop-lock"
if ! cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null; then
  command -v npm >/dev/null || { echo "bench/peers/install.sh: npm is missing (scripts/install-deps.sh bench)" >&2; exit 1; }
  echo "bench/peers/install.sh: npm ci (bench/peers/node: kafkajs, undici)" >&2
  "$(cd "$(dirname "$0")/../.." && pwd)/scripts/npm-ci.sh" "$dir"
  cp "$dir/package-lock.json" "$stamp"
fi
