#!/usr/bin/env bash
# CI check of the systemd unit: `systemd-analyze verify` on a copy whose ExecStart= points at the
# binary just built (verify insists the program exists), then the offline `systemd-analyze security`
# score, failing above a ceiling. Needs no running systemd (works in containers).
#   deploy/systemd/verify.sh [path/to/scb-backup]      (default: build/app/scb-backup)
# Env: SCB_MAX_EXPOSURE (default 2.0), SCB_CREATE_USER=1 to create the scb-backup system user if missing
# (only useful on a real host; verify does not need it).
set -euo pipefail
cd "$(dirname "$0")/../.."

unit=deploy/systemd/scb-backup.service
binary=$(realpath "${1:-build/app/scb-backup}")
max_exposure=${SCB_MAX_EXPOSURE:-2.0}

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "verify: systemd-analyze missing: apt-get install -y systemd" >&2
  exit 2
fi
if [ ! -x "$binary" ]; then
  echo "verify: $binary is not an executable: build scb-backup first" >&2
  exit 2
fi
if [ "${SCB_CREATE_USER:-0}" = 1 ] && ! getent passwd scb-backup >/dev/null; then
  useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin scb-backup
  echo "verify: created the scb-backup system user" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Same file name: verify derives the unit name from it.
sed "s|^ExecStart=/usr/local/bin/scb-backup |ExecStart=$binary |" "$unit" >"$work/scb-backup.service"
grep -q "^ExecStart=$binary run\$" "$work/scb-backup.service" || {
  echo "verify: ExecStart= in $unit is not '/usr/local/bin/scb-backup run' any more: update verify.sh" >&2
  exit 1
}

echo "== systemd-analyze verify"
# verify prints problems but can exit 0 for some of them: any output counts as a failure.
# (--man=no: Documentation=man:scb-backup(1) is the Debian package's page, generated from --help.)
out=$(systemd-analyze verify --man=no "$work/scb-backup.service" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "ok"

echo "== systemd-analyze security (offline)"
if report=$(systemd-analyze security --offline=yes "$work/scb-backup.service" 2>&1); then
  echo "$report" | grep -E '^(✗|→)' || true
  score=$(echo "$report" | sed -n 's/.*Overall exposure level for scb-backup.service: \([0-9.]*\).*/\1/p')
  if [ -z "$score" ]; then echo "verify: no exposure score in the report" >&2; exit 1; fi
  if awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s > m) }'; then
    echo "verify: exposure $score is above $max_exposure" >&2
    exit 1
  fi
  echo "exposure $score (ceiling $max_exposure)"
else
  # systemd < 250 has no --offline; without a running systemd the check cannot run.
  echo "verify: systemd-analyze security --offline unavailable here, skipped: $report" >&2
fi
