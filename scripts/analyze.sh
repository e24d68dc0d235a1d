#!/usr/bin/env bash
# Static analysis of src/ (docs/static-analysis.md): cppcheck and clang's
# static analyzer, both reading the compile commands CMake writes, so they
# see the same defines and include paths as the build.
# Usage: scripts/analyze.sh [build-dir] [jobs]
# Writes <build-dir>/cppcheck.txt and <build-dir>/clang-analyzer.txt and
# prints one count of each. Exits 0 on findings: each one is read and
# triaged by a person (most path-sensitive reports here are paths the
# callers rule out), and the triage is kept in the doc.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-build-analyze} jobs=${2:-2}
case $dir in /*) ;; *) dir=$root/$dir ;; esac
cmake -S "$root" -B "$dir" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DHOOKLOOP_TESTS=OFF >/dev/null
# Only the service's own sources, each once.
mkdir -p "$dir/src-db"
python3 - "$dir/compile_commands.json" "$dir/src-db/compile_commands.json" "$root/src/" <<'PY'
import json, sys
src, dst, prefix = sys.argv[1:]
seen, out = set(), []
for e in json.load(open(src)):
    if e["file"].startswith(prefix) and e["file"] not in seen:
        seen.add(e["file"]); out.append(e)
json.dump(out, open(dst, "w"), indent=1)
print("analyze: %d files under src/" % len(out), file=sys.stderr)
PY
cppcheck --project="$dir/src-db/compile_commands.json" -j "$jobs" --quiet \
  --enable=warning,portability,performance --suppress=missingIncludeSystem \
  --template='{file}:{line}: {severity}/{id}: {message}' 2>"$dir/cppcheck.txt" || true
# insecureAPI flags every memcpy and snprintf; the rest is the analyzer proper.
run-clang-tidy -quiet -j "$jobs" -p "$dir/src-db" -checks='-*,clang-analyzer-*,-clang-analyzer-security.insecureAPI.*' \
  "$root/src/" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' >"$dir/clang-analyzer.txt" || true # without its colours
echo "cppcheck: $(grep -c ': \(error\|warning\|portability\|performance\)/' "$dir/cppcheck.txt" || true) reports in $dir/cppcheck.txt"
echo "clang static analyzer: $(grep -c 'warning:' "$dir/clang-analyzer.txt" || true) reports in $dir/clang-analyzer.txt"
