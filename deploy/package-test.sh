#!/usr/bin/env bash
# CI check of the packages (issue #15): builds both with deploy/package.sh (lintian: no errors), runs
# the arm64 unit tests under qemu-user, uploads once with the arm64 binary (under qemu) to the local
# test S3 server, and builds amd64 twice to compare the checksums.
#   deploy/package-test.sh [--work DIR] [--skip-repro] [--unit-timeout S] [--unit-filter REGEX]
# --work DIR: where everything goes (default: a temporary folder, deleted). Needs test/support/node_modules
# (deploy/setup.sh). Exit 0 when everything passes; otherwise one line "package-test: FAIL: ..." on stderr.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=""
REPRO=1
UNIT_TIMEOUT=60        # per test case, seconds (qemu-user is 5-20x slower than native)
UNIT_FILTER='^unit:'   # ctest -R; narrow it to a subset if the budget needs it
while [ $# -gt 0 ]; do
  case $1 in
    --work) WORK=$2; shift 2 ;;
    --skip-repro) REPRO=0; shift ;;
    --unit-timeout) UNIT_TIMEOUT=$2; shift 2 ;;
    --unit-filter) UNIT_FILTER=$2; shift 2 ;;
    *) echo "package-test: unknown option $1" >&2; exit 2 ;;
  esac
done
KEEP=1
if [ -z "$WORK" ]; then WORK=$(mktemp -d); KEEP=0; fi
mkdir -p "$WORK"; WORK=$(cd "$WORK" && pwd)
S3PID=""
cleanup() {
  if [ -n "$S3PID" ]; then kill "$S3PID" 2>/dev/null || true; wait "$S3PID" 2>/dev/null || true; fi
  if [ "$KEEP" = 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
T0=$(date +%s); t=$T0
timing=()
lap() { local now; now=$(date +%s); timing+=("$1: $((now - t)) s"); echo "package-test: $1 ($((now - t)) s)" >&2; t=$now; }

cd "$REPO"
COMMIT=$(git log -1 --format=%H)   # both amd64 builds use this commit even if HEAD moves meanwhile
QEMU=(qemu-aarch64-static -L /)  # multiarch libc6:arm64, see cmake/toolchain-aarch64.cmake

# 1. arm64 package, with the unit tests (integration tests need node on the target: not built).
deploy/package.sh arm64 --commit "$COMMIT" --with-tests --out "$WORK/dist" --work "$WORK/arm64" \
  >"$WORK/arm64.log" 2>&1 || { tail -20 "$WORK/arm64.log" >&2; fail "arm64 package build or lintian ($WORK/arm64.log)"; }
lap "arm64 package (build incl. unit_tests, lintian)"

# 2. arm64 unit tests under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR via catch_discover_tests).
ctest --test-dir "$WORK/arm64/build/test" -j2 --timeout "$UNIT_TIMEOUT" -R "$UNIT_FILTER" \
  >"$WORK/unit-arm64.log" 2>&1 || { grep -E 'Failed|Timeout|tests passed' "$WORK/unit-arm64.log" | tail -20 >&2
                                     fail "arm64 unit tests under qemu ($WORK/unit-arm64.log)"; }
grep 'tests passed' "$WORK/unit-arm64.log" >&2
lap "arm64 unit tests under qemu"

# 3. One real upload with the packaged arm64 binary, under qemu, to the local S3 server.
[ -d test/support/node_modules ] || fail "test/support/node_modules is missing: run deploy/setup.sh"
rm -rf "$WORK/x"; mkdir -p "$WORK/x/lnd"
dpkg-deb -x "$WORK/dist/scb-backup_"*"_arm64.deb" "$WORK/x/root"
file "$WORK/x/root/usr/bin/scb-backup" | grep -q aarch64 || fail "the arm64 package's binary is not aarch64"
node --openssl-legacy-provider test/support/s3env.mjs --ignore-stdin >"$WORK/s3env.json" 2>"$WORK/s3env.err" &
S3PID=$!
for _ in $(seq 100); do [ -s "$WORK/s3env.json" ] && break; sleep 0.1; done
[ -s "$WORK/s3env.json" ] || fail "the local S3 server did not start ($WORK/s3env.err)"
field() { node -e "process.stdout.write(String(JSON.parse(require('fs').readFileSync('$WORK/s3env.json'))['$1']))"; }
HTTP=$(field http); CONTROL=$(field control)
head -c 3000 /dev/urandom >"$WORK/x/lnd/channel.backup"
WANT=$(sha256sum "$WORK/x/lnd/channel.backup" | cut -d' ' -f1)
set +e
env -i PATH="$PATH" HOME="$WORK/x" \
  MONITOR_FILE_PATH="$WORK/x/lnd/channel.backup" BACKUP_DIRECTORY="$WORK/x/spool" \
  AWS_ENDPOINT_URL_S3="http://127.0.0.1:$HTTP" AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER \
  AWS_REGION=us-east-1 S3_BUCKET_NAME=scb-test S3_BACKUP_PREFIX=pkg-test/ \
  timeout 120 "${QEMU[@]}" "$WORK/x/root/usr/bin/scb-backup" once >"$WORK/once.log" 2>&1
rc=$?
set -e
[ "$rc" = 0 ] || { tail -5 "$WORK/once.log" >&2; fail "scb-backup once (arm64, qemu) exited $rc ($WORK/once.log)"; }
node -e "
  fetch('http://127.0.0.1:$CONTROL/objects?bucket=scb-test').then(r => r.json()).then(o => {
    const hit = o.filter(x => x.key.startsWith('pkg-test/') && x.sha256 === '$WANT');
    if (hit.length !== 1) { console.error(JSON.stringify(o)); process.exit(1); }
    console.error('package-test: S3 has ' + hit[0].key + ' (' + hit[0].size + ' bytes, sha256 matches)');
  }).catch(e => { console.error(e); process.exit(1); });" || fail "the object uploaded by the arm64 binary is not in S3"
kill "$S3PID"; wait "$S3PID" 2>/dev/null || true; S3PID=""
lap "arm64 once upload under qemu"

# 4. amd64 twice, in different folders: byte-identical .deb and .tar.gz.
deploy/package.sh amd64 --commit "$COMMIT" --out "$WORK/dist" --work "$WORK/amd64-a" >"$WORK/amd64-a.log" 2>&1 \
  || { tail -20 "$WORK/amd64-a.log" >&2; fail "amd64 package build or lintian ($WORK/amd64-a.log)"; }
lap "amd64 package (build, lintian)"
if [ "$REPRO" = 1 ]; then
  deploy/package.sh amd64 --commit "$COMMIT" --out "$WORK/dist-b" --work "$WORK/amd64-b" --no-lintian >"$WORK/amd64-b.log" 2>&1 \
    || { tail -20 "$WORK/amd64-b.log" >&2; fail "second amd64 build ($WORK/amd64-b.log)"; }
  for f in "$WORK/dist-b"/scb-backup*amd64*; do
    cmp -s "$f" "$WORK/dist/$(basename "$f")" || fail "not reproducible: $(basename "$f") differs between two builds (diffoscope them)"
  done
  lap "amd64 second build, checksums identical"
fi

grep -h -E '^  [EW]:' "$WORK"/arm64.log "$WORK"/amd64-a.log >&2 || true
cat "$WORK/dist/SHA256SUMS"
for l in "${timing[@]}"; do echo "  $l" >&2; done
echo "package-test: OK in $(( $(date +%s) - T0 )) s" >&2
