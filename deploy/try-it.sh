#!/usr/bin/env bash
# Runs scb-backup for real on this machine, until Ctrl-C.
# - With S3_BUCKET_NAME (and AWS credentials) set: against that bucket.
# - Without: against a local S3 server (s3rver behind the SigV4-verifying front from
#   test/support) that this script starts and stops.
# Either way, unless MONITOR_FILE_PATH is set, the watched file is a sample channel.backup
# that this script replaces the way lnd does (temp file, fsync, rename) every few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SCB_BINARY:-build/app/scb-backup}
INTERVAL=${DEMO_INTERVAL:-3}
[ -x "$BIN" ] || { echo "try-it: $BIN is missing: build first (see README.md)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

if [ -z "${MONITOR_FILE_PATH:-}" ]; then
  lnd_dir="$work/lnd/data/chain/bitcoin/regtest"
  mkdir -p "$lnd_dir"
  export MONITOR_FILE_PATH="$lnd_dir/channel.backup"
  swap() {  # what lnd does: write a temp file, fsync it, rename it over channel.backup
    head -c $(( 2000 + RANDOM % 3000 )) /dev/urandom > "$lnd_dir/temp-dont-use.backup"
    sync "$lnd_dir/temp-dont-use.backup"
    mv "$lnd_dir/temp-dont-use.backup" "$MONITOR_FILE_PATH"
  }
  swap
  ( while sleep "$INTERVAL"; do swap; echo "try-it: lnd-style swap of $MONITOR_FILE_PATH" >&2; done ) &
  pids+=($!)
fi
export BACKUP_DIRECTORY=${BACKUP_DIRECTORY:-$work/spool}

if [ -z "${S3_BUCKET_NAME:-}" ]; then
  [ -d test/support/node_modules ] || { echo "try-it: run deploy/setup.sh first (npm packages missing)" >&2; exit 1; }
  node --openssl-legacy-provider test/support/s3env.mjs --ignore-stdin > "$work/s3env.json" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/s3env.json" ] && break; sleep 0.1; done
  [ -s "$work/s3env.json" ] || { echo "try-it: the local S3 server did not start" >&2; exit 1; }
  field() { node -e "process.stdout.write(String(JSON.parse(require('fs').readFileSync('$work/s3env.json'))['$1']))"; }
  export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$(field http)"
  export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_CA_BUNDLE=
  export S3_BUCKET_NAME=scb-test S3_BACKUP_PREFIX=${S3_BACKUP_PREFIX:-demo-node/}
  echo "try-it: local S3 at $AWS_ENDPOINT_URL_S3 (bucket scb-test); Ctrl-C stops everything" >&2
fi

"$BIN" run &
pids+=($!)
wait "${pids[-1]}"
