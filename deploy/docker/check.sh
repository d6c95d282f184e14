#!/usr/bin/env bash
# CI checks of deploy/docker that need no Docker engine:
#  1. hadolint on the Dockerfile, when installed (Debian 12 does not package it: skipped with a message);
#  2. compose.yaml parses as YAML and has the expected shape (python3 + python3-yaml);
#  3. the runtime stage installs exactly the Debian packages that own the shared libraries the built
#     binary links (`ldd` + `dpkg -S`), apart from the base ones every Debian image has.
#   deploy/docker/check.sh [path/to/scb-backup]      (default: build/app/scb-backup)
# Exit status: 0 all good, 1 a check failed, 2 a tool or the binary is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

dockerfile=deploy/docker/Dockerfile
compose=deploy/docker/compose.yaml
binary=${1:-build/app/scb-backup}
failed=0

echo "== hadolint"
if command -v hadolint >/dev/null 2>&1; then
  hadolint "$dockerfile" || failed=1
else
  echo "skipped: hadolint is not installed (Debian 12 has no package; use its release binary or image)"
fi

echo "== compose.yaml"
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "python3 with PyYAML missing: apt-get install -y python3-yaml" >&2
  exit 2
fi
python3 - "$compose" <<'PY' || failed=1
import sys, yaml
with open(sys.argv[1]) as f:
    doc = yaml.safe_load(f)
errors = []
services = doc.get("services", {})
for name in ("lnd", "scb-backup"):
    if name not in services:
        errors.append(f"no service {name}")
lnd = services.get("lnd", {})
if ":" not in lnd.get("image", "") or lnd.get("image", "").endswith(":latest"):
    errors.append("lnd image is not pinned to a tag")
scb = services.get("scb-backup", {})
env = scb.get("environment", {})
vols = scb.get("volumes", [])
if not any(str(v).endswith(":ro") and str(v).startswith("lnd-data:") for v in vols):
    errors.append("scb-backup does not mount lnd-data read-only")
if "scb-backup" not in (lnd.get("depends_on") or []):
    errors.append("lnd does not depend on scb-backup (compose would stop scb-backup first and miss lnd's shutdown version)")
if "lnd" in (scb.get("depends_on") or []):
    errors.append("scb-backup depends on lnd: compose would stop it before lnd")
if "MONITOR_FILE_PATH" not in env:
    errors.append("scb-backup has no MONITOR_FILE_PATH")
spool = env.get("BACKUP_DIRECTORY")
if not any(str(v).split(":")[1:2] == [spool] for v in vols):
    errors.append(f"the spool {spool} is not a volume")
for v in vols:
    src = str(v).split(":")[0]
    if not src.startswith(("/", ".")) and src not in (doc.get("volumes") or {}):
        errors.append(f"volume {src} is not declared")
for e in errors:
    print("compose.yaml:", e)
print("ok" if not errors else "FAILED")
sys.exit(1 if errors else 0)
PY

echo "== runtime packages against ldd $binary"
if [ ! -x "$binary" ]; then
  echo "$binary is not an executable: build scb-backup first" >&2
  exit 2
fi
# The package owning a library: dpkg knows /lib/… or /usr/lib/… depending on the package (usrmerge).
owner() {
  local lib=$1 real
  real=$(realpath "$lib")
  for p in "$lib" "$real" "/usr${lib}" "${lib#/usr}" "/usr${real}" "${real#/usr}"; do
    if out=$(dpkg -S "$p" 2>/dev/null); then
      echo "${out%%:*}" | cut -d, -f1
      return 0
    fi
  done
  echo "?$lib"
}
# Always in debian:12-slim (essential or required by apt): not listed in the Dockerfile.
base_packages="libc6 libgcc-s1"
# Installed on purpose though no library needs them.
extra_allowed="ca-certificates"

needed=$(ldd "$binary" | awk '/=> \// { print $3 }' | while read -r lib; do owner "$lib"; done | sort -u)
# The apt-get install line of the last stage, continuation lines joined.
listed=$(awk '/^FROM /{ stage = "" } { stage = stage "\n" $0 } END { print stage }' "$dockerfile" |
  sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep -E 'apt-get install' |
  sed -e 's/.*apt-get install//' -e 's/&&.*//' | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u)

for p in $needed; do
  case " $base_packages " in *" $p "*) continue ;; esac
  if [[ $p == \?* ]]; then
    echo "no Debian package owns ${p#\?}"
    failed=1
  elif ! grep -qx "$p" <<<"$listed"; then
    echo "missing from the runtime stage: $p"
    failed=1
  else
    echo "ok: $p"
  fi
done
for p in $listed; do
  if ! grep -qx "$p" <<<"$needed" && [[ " $extra_allowed " != *" $p "* ]]; then
    echo "installed but not linked (remove it, or allow it in check.sh): $p"
    failed=1
  fi
done

if [ "$failed" -ne 0 ]; then
  echo "deploy/docker/check.sh: FAILED"
  exit 1
fi
echo "deploy/docker/check.sh: all checks passed"
