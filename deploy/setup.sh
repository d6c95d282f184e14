#!/usr/bin/env bash
# Installs everything scb-backup needs to build and test on Debian 12: the compiler, the
# libraries, and the Node packages of the local S3 test server (test/support). Run as root
# (or it uses sudo). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(g++ cmake ninja-build pkg-config
          libboost1.81-dev libboost-program-options1.81-dev libboost-url1.81-dev
          libssl-dev nlohmann-json3-dev catch2 openssl ca-certificates
          systemd python3-yaml faketime docker-compose
          microsocks tinyproxy-bin)
# Node.js runs the local S3 server for the demo and the tests; keep a newer one if present.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

deploy/install-packages.sh setup "${PACKAGES[@]}"

# The local S3 server (s3rver) and AWS's own SigV4 signer, pinned by package-lock.json.
npm ci --prefix test/support --no-audit --no-fund --loglevel=error
echo "setup: done" >&2
