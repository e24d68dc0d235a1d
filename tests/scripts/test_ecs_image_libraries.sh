#!/usr/bin/env bash
# deploy/ecs/Dockerfile's runtime stage installs every shared library the
# built hookloop links (its NEEDED entries), by the Debian package that
# holds it here (the image is the same Debian release). A library missing
# from that list left an image whose hookloop could not start.
#   test_ecs_image_libraries.sh <hookloop binary> <Dockerfile>
set -uo pipefail
bin="$1" dockerfile="$2"
command -v objdump >/dev/null && command -v dpkg >/dev/null || { echo "skip: objdump or dpkg missing"; exit 77; }
# The runtime stage: from the last FROM on.
stage="$(awk '/^FROM /{s=""} {s=s $0 "\n"} END{printf "%s", s}' "$dockerfile")"
missing=0 checked=0
for lib in $(objdump -p "$bin" | awk '/NEEDED/{print $2}'); do
  pkg="$(dpkg -S "*/$lib" 2>/dev/null | head -1 | cut -d: -f1)"
  if [ -z "$pkg" ]; then echo "FAIL: no Debian package holds $lib"; missing=$((missing + 1)); continue; fi
  case "$pkg" in libc6) continue ;; esac # in every image
  checked=$((checked + 1))
  if ! grep -Eq "(^|[[:space:]])$pkg([[:space:]]|\\\\|\$)" <<<"$stage"; then
    echo "FAIL: $lib is in $pkg, which the runtime stage of $dockerfile does not install"
    missing=$((missing + 1))
  fi
done
[ "$checked" -gt 5 ] || { echo "FAIL: only $checked libraries read from $bin"; exit 1; }
[ "$missing" -eq 0 ] || exit 1
echo "ok: the $checked libraries hookloop links are installed by the image"
