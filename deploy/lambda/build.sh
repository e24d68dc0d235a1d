#!/usr/bin/env bash
# Builds the Lambda deployment package (provided.al2023): bootstrap plus the
# shared libraries Amazon Linux 2023 lacks, found with ldd and loaded through
# an $ORIGIN-relative rpath, zipped; and, beside it, template.json: the SAM
# template to deploy, with one retry event source per tier of the template's
# HOOKLOOP_RETRY_SCHEDULE (deploy/lambda/template.cmake).
#   deploy/lambda/build.sh [OUTPUT_ZIP]      (default: build-lambda/hookloop-lambda.zip)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build-lambda/hookloop-lambda.zip}
build=$root/build-lambda
"$root/scripts/install-deps.sh" build
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHOOKLOOP_TESTS=OFF \
      -DHOOKLOOP_LAMBDA_RPATH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target hookloop >/dev/null
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib"
cp "$build/hookloop" "$stage/bootstrap"
strip "$stage/bootstrap" 2>/dev/null || true
# glibc and the loader come with the runtime; everything else travels along.
ldd "$stage/bootstrap" | awk '/=> \//{print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libresolv.so*) ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done
mkdir -p "$(dirname "$out")"
rm -f "$out"
(cd "$stage" && cmake -E tar cf "$out" --format=zip bootstrap lib)
cmake -DHOOKLOOP="$build/hookloop" -DSOURCE="$root/deploy/lambda/template.json" \
      -DOUTPUT="$(dirname "$out")/template.json" -DCODE_URI="$(basename "$out")" \
      -P "$root/deploy/lambda/template.cmake" >/dev/null
echo "$out"
echo "$(dirname "$out")/template.json"
