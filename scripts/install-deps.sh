#!/usr/bin/env bash
# Installs the Debian packages hookloop needs to build, test and run, but only
# those that are missing, so a second run costs one dpkg query.
# Usage: scripts/install-deps.sh [build|test|bench|analyze]   (default: test)
set -euo pipefail

want=(cmake make gcc pkg-config
      libuv1-dev librdkafka-dev libcurl4-openssl-dev libmbedtls-dev
      libsqlite3-dev libhttp-parser-dev libpcre2-dev libpq-dev libsodium-dev libexpat1-dev libidn2-dev libunistring-dev curl)
# postgresql: the throwaway PostgreSQL 15 servers of tests/pg and bench/pg
# (initdb/postgres under /usr/lib/postgresql/15/bin, and the `postgres`
# account they run as when we are root); openssl: the tests' TLS certificates;
# clang-14 and its runtimes: the libFuzzer targets of fuzz/ (make test-fuzz).
# libsodium-dev: SipHash for the JSON hash tables, and Ed25519 ("v1a" webhook
# signatures), which mbedTLS 2.28 lacks.
# libidn2-dev, libunistring-dev: IDNA2008 checks of host names (labels, context
# and Bidi rules) in JSON Schema's asserted hostname and idn-hostname formats.
# python3: the mock Triggers API of the inbox tests (tools/mock_triggers) and
# the HTTPS partner of the TLS tests (tools/tls_partner, the ssl module).
case "${1:-test}" in
  build) ;;
  # python3-botocore: tests/vectors/sigv4-botocore/sign.py, the outside signer the SigV4 tests compare with,
  # and tools/aws_service_peer (with python3-cryptography for its KMS keys), which verifies every request with it.
  # python3-yaml: reads docs/openapi.yaml back (scripts/openapi-yaml.py --check).
  # python3-cryptography and nodejs also run the signature checks of docs/partners.md (tests/e2e/partner_snippets.py):
  # OpenSSL's Ed25519 and node:crypto verify hookloop's deliveries independently of libsodium.
  # chromium: the console's browser tests (tests/console), headless, driven by playwright-core from npm.
  # nginx, libnginx-mod-http-echo: the HTTP/2 partner over TLS of tests/e2e/test_tls.c (tools/nginx_partner;
  # the echo module reads each request's body before the 204).
  test)  want+=(kcat nodejs npm postgresql openssl python3 python3-botocore python3-cryptography python3-yaml chromium
                clang-14 libclang-rt-14-dev nginx libnginx-mod-http-echo) ;;
  # nghttp2-client: h2load (scenario a's ceiling, bench/tls/run.sh over TLS); openssl: bench/tls/run.sh's
  # certificates (tests/e2e/tls_certs.sh); python3-cryptography: the service peer of bench_destinations.
  # nginx, libnginx-mod-http-echo: the h2 and HTTP/1.1 TLS partner of bench/h2/run.sh (tools/nginx_partner).
  # libssl-dev: bench_sign's OpenSSL reference row (the SHA-256 of the CPU's SHA extensions), found when present.
  bench) want+=(kcat nodejs npm python3-botocore python3-cryptography nghttp2-client valgrind openssl libssl-dev gnuplot-nox python3
                python3-httpx python3-confluent-kafka bc util-linux postgresql nginx libnginx-mod-http-echo) ;;
  # cppcheck, clang-tidy: the static analysis of `make analyze` (docs/static-analysis.md).
  analyze) want+=(cppcheck clang-tidy python3) ;;
  *) echo "install-deps: unknown profile '$1' (use build, test, bench or analyze)" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node/npm may come from elsewhere than Debian; accept any working npm.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]:-}"
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Retries cover a mirror that drops a connection now and then.
  $SUDO apt-get -o Acquire::Retries=5 update -qq
  $SUDO apt-get -o Acquire::Retries=5 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Test tools from the npm registry (dynalite, a DynamoDB-compatible server;
# playwright-core, which drives Debian's chromium — it downloads no browser),
# pinned by tests/package-lock.json; reinstalled only when the lock changed.
if [ "${1:-test}" != build ]; then
  root="$(cd "$(dirname "$0")/.." && pwd)"
  stamp="$root/tests/node_modules/.hookloop-lock"
  if ! cmp -s "$root/tests/package-lock.json" "$stamp" 2>/dev/null; then
    echo "install-deps: npm ci (tests/: dynalite, playwright-core)" >&2
    "$root/scripts/npm-ci.sh" "$root/tests"
    cp "$root/tests/package-lock.json" "$stamp"
  fi
fi
# The Node.js peer of bench/peers/kafka_drain.sh (kafkajs, undici), pinned by its lock.
if [ "${1:-test}" = bench ]; then
  "$(cd "$(dirname "$0")/.." && pwd)/bench/peers/install.sh"
fi
exit 0
