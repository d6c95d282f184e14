#!/usr/bin/env bash
# CI checks of deploy/docker that need no Docker engine:
#  1. hadolint on the Dockerfile, when installed (Debian 12 does not package it: skipped with a message);
#  2. compose.yaml parses as YAML and has the expected shape (python3 + python3-yaml);
#  3. `docker-compose config` (Debian 12's docker-compose 1.29.2: validates and interpolates without an
#     engine) on compose.yaml and on the three compose files of docs/operations.md, "Docker sidecar"
#     (taken from there by heading: the docs hold the only copy), then the hardening and the mounts of
#     each rendered file (python3 + python3-yaml);
#  4. the runtime stage installs exactly the Debian packages that own the shared libraries the built
#     binary links (`ldd` + `dpkg -S`), apart from the base ones every Debian image has.
#   deploy/docker/check.sh [path/to/scb-backup]      (default: build/app/scb-backup)
# Exit status: 0 all good, 1 a check failed, 2 a tool or the binary is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

dockerfile=deploy/docker/Dockerfile
compose=deploy/docker/compose.yaml
docs=docs/operations.md
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

echo "== docker-compose config: compose.yaml and the files of $docs"
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "docker-compose missing: apt-get install -y docker-compose" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# render DIR OUT [VAR=VALUE...]: DIR/compose.yaml as compose would run it, into OUT. `config` validates
# as `config -q` does and prints the normalized file. A clean environment, so that the caller's
# BITCOIN_NETWORK & co cannot leak in; any output on stderr (an unset variable...) is a failure.
render() {
  local dir=$1 out=$2
  shift 2
  if (cd "$dir" && env -i PATH="$PATH" HOME="$work" LANG=C.UTF-8 "$@" docker-compose -f compose.yaml config) \
       >"$out" 2>"$out.err" && [ ! -s "$out.err" ]; then
    return 0
  fi
  echo "docker-compose config of $dir/compose.yaml ${*:-}: FAILED"
  sed 's/^/  /' "$out.err"
  return 1
}

# shape OUT LABEL KIND NETWORK EXTRA: the rendered file's scb-backup against what KIND promises.
#   NETWORK: what MONITOR_FILE_PATH must contain as a folder ("-": none);
#   EXTRA: sidecar: the external volume's name; umbrel: the host folder of lnd's data.
shape() {
  python3 - "$@" <<'PY'
import shlex, sys, yaml
out, label, kind, network, extra = sys.argv[1:6]
with open(out) as f:
    # BaseLoader: every scalar a string. docker-compose 1.29 prints `user:` unquoted, and YAML 1.1
    # reads some uid:gid pairs as base-60 integers (1000:50 is 60050).
    doc = yaml.load(f, Loader=yaml.BaseLoader) or {}
errors = []
services = doc.get("services") or {}
scb = services.get("scb-backup")
if scb is None:
    print(f"{label}: no service scb-backup")
    sys.exit(1)

def mounts(svc):
    """(source, target, read_only, is_bind) of each volume, short or long syntax."""
    result = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            result.append((v.get("source", ""), v.get("target", ""),
                           str(v.get("read_only", "false")).lower() == "true", v.get("type") == "bind"))
            continue
        parts = str(v).split(":")
        src, dst, mode = (parts + [""])[:3] if len(parts) > 1 else ("", parts[0], "")
        result.append((src, dst, "ro" in mode.split(","), src.startswith(("/", ".", "~"))))
    return result

def under(path, folder):
    return bool(folder) and path.startswith(folder.rstrip("/") + "/")

def dependencies(svc):
    d = svc.get("depends_on") or []
    return list(d.keys()) if isinstance(d, dict) else list(d)

env = scb.get("environment") or {}
if isinstance(env, list):
    env = dict(e.split("=", 1) for e in env if "=" in e)
vols = mounts(scb)
watched = env.get("MONITOR_FILE_PATH", "")
spool = env.get("BACKUP_DIRECTORY", "/var/lib/scb-backup")  # the image's ENV
if not watched:
    errors.append("no MONITOR_FILE_PATH")
lnd_mount = next((m for m in vols if watched and under(watched, m[1])), None)
if lnd_mount is None:
    errors.append(f"MONITOR_FILE_PATH {watched} is under no mount")
elif not lnd_mount[2]:
    errors.append(f"lnd's data ({lnd_mount[0]} on {lnd_mount[1]}) is not mounted read-only")
spool_mount = next((m for m in vols if m[1].rstrip("/") == spool.rstrip("/")), None)
if spool_mount is None:
    errors.append(f"the spool {spool} is not a mount (it would be lost with the container)")
elif spool_mount[2]:
    errors.append(f"the spool {spool} is mounted read-only")
for m in vols:
    if m is not spool_mount and not m[2]:
        errors.append(f"{m[0]} on {m[1]} is writable (only the spool may be)")
if network != "-" and f"/{network}/" not in watched:
    errors.append(f"MONITOR_FILE_PATH {watched} does not follow BITCOIN_NETWORK={network}")

if "ALL" not in (scb.get("cap_drop") or []):
    errors.append("cap_drop has no ALL")
if str(scb.get("read_only", "")).lower() != "true":
    errors.append("the root file system is not read_only")
if not {"no-new-privileges:true", "no-new-privileges"} & set(scb.get("security_opt") or []):
    errors.append("no no-new-privileges in security_opt")
if scb.get("restart") != "unless-stopped":
    errors.append(f"restart is {scb.get('restart')}, not unless-stopped")
if scb.get("stop_grace_period") != "30s":
    errors.append(f"stop_grace_period is {scb.get('stop_grace_period')}, not 30s (more than SCB_SHUTDOWN_TIMEOUT)")
listen_port = env.get("SCB_LISTEN", "0.0.0.0:9580").rsplit(":", 1)[-1]  # the image's ENV
ports = scb.get("ports") or []
if not ports:
    errors.append("the health port is not published")
for p in ports:
    if isinstance(p, dict):
        host_ip, target = p.get("host_ip", ""), str(p.get("target", ""))
    else:
        fields = str(p).split("/")[0].split(":")
        host_ip, target = (fields[0] if len(fields) == 3 else ""), fields[-1]
    if host_ip != "127.0.0.1":
        errors.append(f"port {p} is not bound to 127.0.0.1 (the health endpoint has no authentication)")
    if target != listen_port:
        errors.append(f"port {p} does not reach SCB_LISTEN's port {listen_port}")

user = scb.get("user")
expected_user = {"compose": "0:0", "sidecar": "0:0", "umbrel": "1000:1000"}.get(kind)
if kind == "backupfilepath":
    if user not in (None, "10001", "10001:10001"):
        errors.append(f"user is {user}: the image's uid 10001 is expected (no user:)")
elif user != expected_user:
    errors.append(f"user is {user}, not {expected_user}")

top_volumes = doc.get("volumes") or {}
lnd = services.get("lnd") or {}
if kind in ("compose", "backupfilepath") and "scb-backup" not in dependencies(lnd):
    errors.append("lnd does not depend on scb-backup (compose would stop scb-backup first)")
if "lnd" in dependencies(scb):
    errors.append("scb-backup depends on lnd: compose would stop it before lnd")
if kind == "sidecar" and lnd_mount:
    decl = top_volumes.get(lnd_mount[0]) or {}
    if str(decl.get("external", "false")).lower() != "true":
        errors.append(f"lnd's volume {lnd_mount[0]} is not external (compose would create an empty one)")
    if decl.get("name") != extra:
        errors.append(f"lnd's volume is named {decl.get('name')}, not LND_VOLUME={extra}")
if kind == "umbrel":
    if lnd_mount and lnd_mount[0] != extra:
        errors.append(f"lnd's data comes from {lnd_mount[0]}, not {extra}")
    if spool_mount and not (spool_mount[3] and spool_mount[0].startswith("/")):
        errors.append(f"the spool {spool_mount[0]} is not a host folder (a named volume is not uid 1000's)")
if kind == "backupfilepath":
    command = lnd.get("command") or []
    args = shlex.split(command) if isinstance(command, str) else command
    target = next((a.split("=", 1)[1] for a in args if a.startswith("--backupfilepath=")), "")
    lnd_vols = mounts(lnd)
    shared = next((m for m in lnd_vols if target and under(target, m[1])), None)
    if shared is None or shared[2]:
        errors.append(f"lnd's --backupfilepath={target} is on no writable mount of lnd")
    elif lnd_mount and (lnd_mount[0] != shared[0] or
                        watched != lnd_mount[1].rstrip("/") + target[len(shared[1].rstrip("/")):]):
        errors.append(f"MONITOR_FILE_PATH {watched} is not lnd's {target} on volume {shared[0]}")
    for m in vols:
        if m is not lnd_mount and m is not spool_mount:
            errors.append(f"scb-backup mounts {m[0]} too: only lnd-scb and its spool are expected")
    if spool != "/var/lib/scb-backup":
        errors.append(f"the spool {spool} is not the image's /var/lib/scb-backup (the folder uid 10001 owns)")
for e in errors:
    print(f"{label}: {e}")
print(f"{label}: " + ("ok" if not errors else "FAILED"))
sys.exit(1 if errors else 0)
PY
}

# compose.yaml itself. Its top-level `name:` is Compose v2's; 1.29.2 rejects it ("'name' does not
# match any of the regexes"), so the copy checked here goes without that line. The copy sits at the
# same depth as the original: `build.context: ../..` must exist for `config` (no engine is asked).
mkdir -p "$work/compose/deploy/docker"
sed '/^name:/d' "$compose" >"$work/compose/deploy/docker/compose.yaml"
: >"$work/compose/deploy/docker/.env"
if render "$work/compose/deploy/docker" "$work/compose.out"; then
  shape "$work/compose.out" compose.yaml compose mainnet - || failed=1
else
  failed=1
fi

# recipe KIND HEADING: the yaml block under HEADING (exactly one such heading) into $work/KIND/.
recipe() {
  local kind=$1 heading=$2 n
  mkdir -p "$work/$kind"
  n=$(grep -cxF -- "$heading" "$docs" || true)
  if [ "$n" != 1 ]; then
    echo "$docs: heading '$heading' found $n times (one expected)"
    return 1
  fi
  awk -v h="$heading" '$0 == h { s = 1; next } s && !c && /^#/ { exit }
    s && /^```yaml$/ { c = 1; next } c && /^```$/ { exit } c' "$docs" >"$work/$kind/compose.yaml"
  if [ ! -s "$work/$kind/compose.yaml" ]; then
    echo "$docs: no yaml block under '$heading'"
    return 1
  fi
  # The operator's .env (bucket, credentials): `config` requires the file, empty is enough.
  if grep -q 'env_file' "$work/$kind/compose.yaml"; then : >"$work/$kind/.env"; fi
}

if recipe sidecar "### Sidecar for an existing lnd stack"; then
  for net in mainnet testnet; do
    vars=(LND_VOLUME=lnd_lnd-data)
    # mainnet is the default of ${BITCOIN_NETWORK:-mainnet}: left unset.
    [ "$net" = mainnet ] || vars+=(BITCOIN_NETWORK="$net")
    if render "$work/sidecar" "$work/sidecar-$net.out" "${vars[@]}"; then
      shape "$work/sidecar-$net.out" "sidecar ($net)" sidecar "$net" lnd_lnd-data || failed=1
    else
      failed=1
    fi
  done
else
  failed=1
fi

if recipe umbrel "### Umbrel"; then
  # The defaults first, then every variable set.
  if render "$work/umbrel" "$work/umbrel-mainnet.out"; then
    shape "$work/umbrel-mainnet.out" "Umbrel (defaults)" umbrel mainnet \
      /home/umbrel/umbrel/app-data/lightning/data/lnd || failed=1
  else
    failed=1
  fi
  if render "$work/umbrel" "$work/umbrel-testnet.out" BITCOIN_NETWORK=testnet UMBREL_ROOT=/srv/umbrel \
       SPOOL_DIR=/srv/scb-spool; then
    shape "$work/umbrel-testnet.out" "Umbrel (testnet)" umbrel testnet \
      /srv/umbrel/app-data/lightning/data/lnd || failed=1
  else
    failed=1
  fi
else
  failed=1
fi

if recipe backupfilepath "### lnd's --backupfilepath on its own volume"; then
  if render "$work/backupfilepath" "$work/backupfilepath.out"; then
    shape "$work/backupfilepath.out" "--backupfilepath" backupfilepath - - || failed=1
  else
    failed=1
  fi
else
  failed=1
fi

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
