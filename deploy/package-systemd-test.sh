#!/usr/bin/env bash
# CI check of the amd64 Debian package under a real systemd: boots a Debian 12 system container
# (debootstrap + systemd-nspawn --boot), installs the .deb, configures it for the local test S3 server,
# lets an lnd user swap channel.backup as lnd does, checks both versions reach S3, stops, purges.
#   deploy/package-systemd-test.sh DEB [--work DIR] [--rootfs-cache DIR] [--lnd-lifecycle]
#   deploy/package-systemd-test.sh --deps-only                       (install the host's packages, exit)
#   deploy/package-systemd-test.sh --prepare-rootfs --rootfs-cache DIR  (fill the cache, exit; CI runs it
#     in the background while it builds: debootstrap waits on the network, not on the CPU)
# DEB: scb-backup_VERSION_amd64.deb (deploy/package.sh amd64).
# --work DIR: where everything goes (default: a temporary folder, deleted at exit).
# --rootfs-cache DIR: keep the debootstrap result as a tarball in DIR (named after the debootstrap
#   arguments) and reuse it on later runs; without it the root filesystem is built fresh (~2-3 min).
# --lnd-lifecycle: also run the second scenario: an lnd stand-in service whose ExecStop swaps the file
#   (as lnd does when it closes), then a power-off; checks the shutdown version reached S3.
# Runs as root (debootstrap, nspawn, nsenter); installs debootstrap and systemd-container if missing.
# The container shares the host's network (no --private-network): it reaches the S3 server on the
# host's 127.0.0.1. Needs test/support/node_modules (deploy/setup.sh) and the Debian mirror (unless the
# rootfs cache is warm). Exit 0 when everything passes; otherwise one line
# "package-systemd-test: FAIL: ..." on stderr after the relevant log tail, exit 1.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ME=package-systemd-test

usage() { echo "usage: deploy/package-systemd-test.sh DEB [--work DIR] [--rootfs-cache DIR] [--lnd-lifecycle] | --deps-only | --prepare-rootfs --rootfs-cache DIR" >&2; exit 2; }
DEB=""
WORK=""
CACHE=""
LIFECYCLE=0
MODE=test
while [ $# -gt 0 ]; do
  case $1 in
    --deps-only) MODE=deps; shift ;;
    --prepare-rootfs) MODE=prepare; shift ;;
    --work) [ $# -ge 2 ] || usage; WORK=$2; shift 2 ;;
    --rootfs-cache) [ $# -ge 2 ] || usage; CACHE=$2; shift 2 ;;
    --lnd-lifecycle) LIFECYCLE=1; shift ;;
    -h|--help) usage ;;
    -*) echo "$ME: unknown option $1" >&2; usage ;;
    *) [ -z "$DEB" ] || usage; DEB=$1; shift ;;
  esac
done
if [ "$MODE" = test ]; then
  [ -n "$DEB" ] || usage
  [ -f "$DEB" ] || { echo "$ME: $DEB: no such file" >&2; exit 2; }
  DEB=$(cd "$(dirname "$DEB")" && pwd)/$(basename "$DEB")
fi
[ "$MODE" != prepare ] || [ -n "$CACHE" ] || usage
[ "$(id -u)" -eq 0 ] || { echo "$ME: run as root (debootstrap, systemd-nspawn, nsenter)" >&2; exit 2; }

SUITE=bookworm
MIRROR=http://deb.debian.org/debian
BUCKET=scb-test
PREFIX=nspawn-test/
LNDDIR=/home/lnd/.lnd/data/chain/bitcoin/mainnet
SCB=$LNDDIR/channel.backup
CT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# --- Bookkeeping: timing, failure, cleanup ------------------------------------------------------------
T0=$(date +%s); t=$T0
timing=()
lap() { local now; now=$(date +%s); timing+=("$1: $((now - t)) s"); echo "$ME: $1 ($((now - t)) s)" >&2; t=$now; }
# fail MESSAGE [LOG [LINES]]: the log's tail, then the one FAIL line.
fail() {
  local msg=$1 log=${2:-} n=${3:-30}
  if [ -n "$log" ] && [ -s "$log" ]; then
    echo "--- last $n lines of $log" >&2
    tail -n "$n" "$log" >&2
    echo "---" >&2
  fi
  echo "$ME: FAIL: $msg" >&2
  exit 1
}

KEEP=1
if [ -z "$WORK" ]; then WORK=$(mktemp -d /tmp/$ME.XXXXXX); KEEP=0; fi
mkdir -p "$WORK"; WORK=$(cd "$WORK" && pwd)
LOGS=$WORK/logs
mkdir -p "$LOGS"
ROOT=""          # the container's root folder (set by make_rootfs)
NSPAWN_PID=""    # systemd-nspawn, our child
CPID=""          # the container's init (systemd), as the host sees it
S3PID=""         # s3env.mjs

# Mounts whose mount point is under $1, deepest first (normally none: nspawn mounts in its own namespace).
mounts_under() { awk -v p="$1" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r; }

cleanup() {
  local rc=$?
  set +e
  if nspawn_alive; then
    # SIGTERM makes nspawn ask the container's systemd for an orderly power-off; SIGKILL after 20 s.
    kill -TERM "$NSPAWN_PID" 2>/dev/null
    for _ in $(seq 200); do nspawn_alive || break; sleep 0.1; done
    if nspawn_alive; then
      echo "$ME: cleanup: the container did not stop in 20 s; killing it" >&2
      [ -n "$CPID" ] && kill -KILL "$CPID" 2>/dev/null
      kill -KILL "$NSPAWN_PID" 2>/dev/null
    fi
    wait "$NSPAWN_PID" 2>/dev/null
  fi
  NSPAWN_PID=""
  if [ -n "$S3PID" ]; then kill "$S3PID" 2>/dev/null; wait "$S3PID" 2>/dev/null; S3PID=""; fi
  local m
  for m in $(mounts_under "$WORK"); do umount -l "$m" 2>/dev/null || echo "$ME: cleanup: cannot unmount $m" >&2; done
  if [ "$KEEP" = 0 ]; then
    if [ -n "$(mounts_under "$WORK")" ]; then
      echo "$ME: cleanup: mounts remain under $WORK; not deleting it" >&2
    else
      local t1; t1=$(date +%s)
      rm -rf --one-file-system "$WORK"
      echo "$ME: removed $WORK ($(( $(date +%s) - t1 )) s)" >&2
    fi
  elif [ "$rc" != 0 ]; then
    echo "$ME: logs and root filesystem kept in $WORK" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. Host packages -----------------------------------------------------------------------------------
install_host_packages() {
  "$REPO/deploy/install-packages.sh" "$ME" debootstrap systemd-container util-linux tar zstd 2>"$LOGS/apt-host.log" \
    || fail "installing debootstrap, systemd-container, zstd on the host" "$LOGS/apt-host.log"
  command -v node >/dev/null || fail "node is missing: run deploy/setup.sh"
  [ -d "$REPO/test/support/node_modules" ] || fail "test/support/node_modules is missing: run deploy/setup.sh"
}

# --- 2. Root filesystem -------------------------------------------------------------------------------
# The package's Depends (first alternative, no versions), so that installing the .deb needs no download.
deb_depends() {
  [ -n "$DEB" ] || return 0
  dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' \
    | grep -v '^$' | sort -u | paste -sd, -
}

make_rootfs() {  # make_rootfs DIR
  ROOT=$1
  local include="systemd,systemd-sysv,dbus,libc6,libssl3,ca-certificates,acl,sudo"
  local deps; deps=$(deb_depends)
  [ -z "$deps" ] || include="$include,$deps"
  include=$(echo "$include" | tr ',' '\n' | sort -u | paste -sd, -)
  local args=(--variant=minbase "--include=$include" "$SUITE" "$ROOT" "$MIRROR")
  local tarball=""
  if [ -n "$CACHE" ]; then
    mkdir -p "$CACHE"; CACHE=$(cd "$CACHE" && pwd)
    # Named after what it contains: another include list or suite makes another tarball.
    tarball=$CACHE/rootfs-$SUITE-$(printf '%s\n' --variant=minbase "$include" "$SUITE" "$MIRROR" | sha256sum | cut -c1-16).tar.zst
  fi
  if [ -d "$ROOT" ]; then
    [ -z "$(mounts_under "$ROOT")" ] || fail "$ROOT has mounts (a container still running?)"
    rm -rf --one-file-system "$ROOT"
  fi
  if [ -n "$tarball" ] && [ -s "$tarball" ]; then
    mkdir -p "$ROOT"
    tar --numeric-owner --xattrs --xattrs-include='*' --acls -I zstd -xpf "$tarball" -C "$ROOT" \
      2>"$LOGS/untar.log" || fail "cannot unpack the cached root filesystem $tarball (delete it)" "$LOGS/untar.log"
    echo "$ME: root filesystem from the cache $tarball" >&2
    return
  fi
  echo "$ME: debootstrap ${args[*]}" >&2
  debootstrap "${args[@]}" >"$LOGS/debootstrap.log" 2>&1 \
    || { [ -f "$ROOT/debootstrap/debootstrap.log" ] && tail -n 20 "$ROOT/debootstrap/debootstrap.log" >&2
         fail "debootstrap $SUITE (include: $include)" "$LOGS/debootstrap.log"; }
  if [ -n "$tarball" ]; then
    # Written aside, then renamed: a concurrent or interrupted run never sees half a tarball.
    tar --numeric-owner --xattrs --xattrs-include='*' --acls -I 'zstd -T0 -3' -cf "$tarball.tmp.$$" -C "$ROOT" . \
      2>"$LOGS/tar.log" || { rm -f "$tarball.tmp.$$"; fail "cannot write the rootfs cache $tarball" "$LOGS/tar.log"; }
    mv -f "$tarball.tmp.$$" "$tarball"
    echo "$ME: root filesystem cached as $tarball ($(du -h "$tarball" | cut -f1))" >&2
  fi
}

# --- 3. The container ---------------------------------------------------------------------------------
# in_ct CMD...: run CMD inside the container (all its namespaces), with a clean environment.
in_ct() {
  nsenter -t "$CPID" -a env -i PATH="$CT_PATH" LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 \
    DEBIAN_FRONTEND=noninteractive "$@"
}
# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds; 1 when the time is up.
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
# alive: not gone and not a zombie (nspawn is our child: it stays a zombie until `wait`).
pid_alive() { local s; s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1); [ -n "$s" ] && [ "$s" != Z ]; }
nspawn_alive() { [ -n "$NSPAWN_PID" ] && pid_alive "$NSPAWN_PID"; }
find_init() {  # sets CPID: the child of nspawn whose comm is systemd (0 also when nspawn is gone)
  local p
  nspawn_alive || return 0
  for p in $(ps -o pid= --ppid "$NSPAWN_PID"); do
    if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ]; then CPID=$p; return 0; fi
  done
  return 1
}
system_state() { in_ct systemctl is-system-running 2>/dev/null || true; }
system_up() { case $(system_state) in running|degraded) return 0 ;; *) nspawn_alive || return 0; return 1 ;; esac; }

boot_container() {  # boot_container LOG
  local log=$1
  # --console=read-only: the boot messages go to LOG and nspawn never reads the caller's terminal.
  # --machine: a name of our own (default: the folder's name), so that two runs never share
  # /run/systemd/nspawn/propagate/NAME.
  systemd-nspawn -D "$ROOT" --boot --register=no --keep-unit --console=read-only --machine="scb-pkg-test-$$" \
    </dev/null >"$log" 2>&1 &
  NSPAWN_PID=$!
  CPID=""
  wait_for 30 find_init || fail "systemd-nspawn did not start the container's systemd within 30 s" "$log"
  nspawn_alive || { wait "$NSPAWN_PID" || true; NSPAWN_PID=""; fail "systemd-nspawn exited at once" "$log"; }
  wait_for 120 system_up || fail "the container did not finish booting within 120 s (is-system-running: $(system_state))" "$log"
  nspawn_alive || { wait "$NSPAWN_PID" || true; NSPAWN_PID=""; fail "systemd-nspawn exited during the boot" "$log"; }
  local state; state=$(system_state)
  echo "$ME: container up: nspawn $NSPAWN_PID, init $CPID, is-system-running: $state" >&2
  if [ "$state" = degraded ]; then in_ct systemctl --failed --no-legend >&2 || true; fi
}

poweroff_container() {  # poweroff_container LOG: orderly power-off, wait for nspawn to exit (0)
  local log=$1 rc=0
  in_ct systemctl poweroff >/dev/null 2>&1 || true
  wait_for 90 eval '! nspawn_alive' \
    || fail "the container did not power off within 90 s" "$log"
  wait "$NSPAWN_PID" || rc=$?
  NSPAWN_PID=""; CPID=""
  [ "$rc" = 0 ] || fail "systemd-nspawn exited $rc after the power-off" "$log"
}

# apt_ct LOG ARGS...: apt-get inside, its output (without dpkg's "Reading database ... N%" progress) in LOG.
apt_ct() {
  local log=$1 rc=0; shift
  in_ct apt-get "$@" >"$log" 2>&1 || rc=$?
  sed -i 's/(Reading database \.\.\. [0-9]*%//g' "$log"
  return "$rc"
}

# ct_journal UNIT: the unit's journal inside the container, into a log file; prints its path.
ct_journal() {
  local f=$LOGS/journal-$1.log
  in_ct journalctl -u "$1" --no-pager -o short-monotonic >"$f" 2>&1 || true
  echo "$f"
}

# --- 4. The local S3 server (host) ----------------------------------------------------------------------
start_s3() {
  (cd "$REPO" && exec node --openssl-legacy-provider test/support/s3env.mjs --ignore-stdin \
     >"$WORK/s3env.json" 2>"$LOGS/s3env.err") </dev/null &
  S3PID=$!
  wait_for 20 test -s "$WORK/s3env.json" || fail "the local S3 server did not start" "$LOGS/s3env.err"
  S3_HTTP=$(node -e "process.stdout.write(String(JSON.parse(require('fs').readFileSync('$WORK/s3env.json', 'utf8')).http))")
  S3_CONTROL=$(node -e "process.stdout.write(String(JSON.parse(require('fs').readFileSync('$WORK/s3env.json', 'utf8')).control))")
  echo "$ME: S3 server: http://127.0.0.1:$S3_HTTP (control $S3_CONTROL)" >&2
}
# s3_wait_sha SHA256 SECONDS: wait until an object under PREFIX has this sha256; prints its key.
s3_wait_sha() {
  node -e '
    const [ctl, bucket, prefix, want, secs] = process.argv.slice(1);
    const deadline = Date.now() + Number(secs) * 1000;
    let last = "";
    (async () => {
      for (;;) {
        try {
          const o = await (await fetch(`http://127.0.0.1:${ctl}/objects?bucket=${bucket}`)).json();
          last = JSON.stringify(o.map(x => [x.key, x.size, x.sha256.slice(0, 12)]));
          const hit = o.find(x => x.key.startsWith(prefix) && x.sha256 === want);
          if (hit) { console.log(`${hit.key} (${hit.size} bytes)`); return; }
        } catch (e) { last = String(e); }
        if (Date.now() > deadline) { console.error(`objects: ${last}`); process.exit(1); }
        await new Promise(r => setTimeout(r, 200));
      }
    })();' "$S3_CONTROL" "$BUCKET" "$PREFIX" "$1" "$2"
}

# --- 5-8. Inside the container ------------------------------------------------------------------------------
ct_sha() { in_ct sha256sum "$1" | cut -d' ' -f1; }

# The lnd user and its data folder as lnd makes it (folders 0700, home 0700), with a first channel.backup.
make_lnd() {
  in_ct sh -euc '
    useradd --create-home --shell /bin/sh lnd
    chmod 0700 /home/lnd
    runuser -u lnd -- sh -euc "umask 077; mkdir -p '"$LNDDIR"'; head -c 4096 /dev/urandom > '"$SCB"'"
    ls -ld /home/lnd '"$LNDDIR"' '"$SCB"'
  ' >"$LOGS/lnd-user.log" 2>&1 || fail "creating the lnd user and its channel.backup" "$LOGS/lnd-user.log"
}

# swap_as_lnd: a new channel.backup, exactly as lnd writes it (chanbackup.MultiFile.UpdateAndSwap):
# os.Create (mode 0666, lnd's umask 077) of temp-dont-use.backup in the same folder, write, fsync, rename.
SWAP_SCRIPT='umask 077; cd '"$LNDDIR"'; rm -f temp-dont-use.backup; head -c $(( 3000 + $$ % 2000 )) /dev/urandom > temp-dont-use.backup; sync temp-dont-use.backup; mv temp-dont-use.backup channel.backup'
swap_as_lnd() {
  in_ct runuser -u lnd -- sh -euc "$SWAP_SCRIPT" >"$LOGS/swap.log" 2>&1 || fail "the swap of channel.backup as user lnd" "$LOGS/swap.log"
}

install_deb() {
  cp "$DEB" "$ROOT/root/"
  local d; d=/root/$(basename "$DEB")
  # (apt-get's --no-download rejects a local .deb: check instead that nothing but the package came in.)
  apt_ct "$LOGS/apt-install.log" install -y "$d" \
    || fail "apt-get install $(basename "$DEB") in the container" "$LOGS/apt-install.log"
  grep -q '^0 upgraded, 1 newly installed, 0 to remove' "$LOGS/apt-install.log" \
    || fail "installing the package pulled in other packages: add them to the debootstrap --include" "$LOGS/apt-install.log"
  grep -q '^scb-backup: next step: ' "$LOGS/apt-install.log" \
    || fail "the install did not print the 'scb-backup: next step:' line" "$LOGS/apt-install.log"
  grep '^scb-backup: next step: ' "$LOGS/apt-install.log" >&2
  local active; active=$(in_ct systemctl is-active scb-backup 2>&1 || true)
  [ "$active" = inactive ] || fail "the install started the service (is-active: $active)" "$(ct_journal scb-backup)"
  local enabled; enabled=$(in_ct systemctl is-enabled scb-backup 2>&1 || true)
  [ "$enabled" = disabled ] || fail "the install enabled the service (is-enabled: $enabled)"
  in_ct getent passwd scb-backup >&2 || fail "the install did not create the scb-backup user"
  in_ct stat -c '%a %U:%G %n' /etc/default/scb-backup >"$LOGS/default-mode.log" 2>&1
  grep -qx '600 root:root /etc/default/scb-backup' "$LOGS/default-mode.log" \
    || fail "/etc/default/scb-backup is not 600 root:root" "$LOGS/default-mode.log"
}

# The one ACL recipe the docs give (docs/operations.md, "Letting the service read lnd's file"), taken
# from there verbatim and run once as root; lnd's later swaps (umask 077) must stay readable.
grant_acls() {
  awk '/^### Letting the service read lnd.s file/ { s = 1 } s && /^```sh$/ { c = 1; next } c && /^```$/ { exit } c' \
    "$REPO/docs/operations.md" >"$LOGS/acl-recipe.sh"
  grep -q setfacl "$LOGS/acl-recipe.sh" || fail "no ACL recipe found in docs/operations.md" "$LOGS/acl-recipe.sh"
  grep -q "^f=$SCB " "$LOGS/acl-recipe.sh" || fail "the docs' recipe does not start with f=$SCB" "$LOGS/acl-recipe.sh"
  cp "$LOGS/acl-recipe.sh" "$ROOT/root/acl-recipe.sh"
  in_ct sh -eu /root/acl-recipe.sh >"$LOGS/acl.log" 2>&1 || fail "the docs' ACL recipe does not let scb-backup read $SCB" "$LOGS/acl.log"
}

# `scb-backup check` as README.md gives it (sudo dropped: we are root in the container): the service's
# user and its settings. It must see the setup's problem before the ACL recipe and pass after it.
CHECK_CMD='systemd-run --pipe --wait --quiet --uid=scb-backup -p EnvironmentFile=/etc/default/scb-backup -p StateDirectory=scb-backup scb-backup check'
check_as_service() {  # check_as_service EXPECTED_EXIT_STATUS LOG
  grep -qF "sudo $CHECK_CMD" "$REPO/README.md" || fail "README.md no longer gives: sudo $CHECK_CMD"
  local rc=0
  # shellcheck disable=SC2086 # CHECK_CMD is a command line, split on purpose
  in_ct $CHECK_CMD >"$2" 2>&1 || rc=$?
  [ "$rc" = "$1" ] || fail "scb-backup check as the service's user exited $rc, not $1" "$2"
  echo "$ME: scb-backup check: $(tail -n 1 "$2")" >&2
}

configure_service() {
  in_ct sh -euc 'cat >> /etc/default/scb-backup' <<EOF || fail "writing /etc/default/scb-backup"

# Added by deploy/package-systemd-test.sh
S3_BUCKET_NAME=$BUCKET
S3_BACKUP_PREFIX=$PREFIX
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$S3_HTTP
AWS_ACCESS_KEY_ID=S3RVER
AWS_SECRET_ACCESS_KEY=S3RVER
AWS_REGION=us-east-1
MONITOR_FILE_PATH=$SCB
EOF
}

start_service() {
  in_ct systemctl enable --now scb-backup >"$LOGS/enable.log" 2>&1 \
    || { cat "$LOGS/enable.log" >&2; fail "systemctl enable --now scb-backup" "$(ct_journal scb-backup)" 40; }
  local active; active=$(in_ct systemctl is-active scb-backup 2>&1 || true)
  [ "$active" = active ] || fail "scb-backup is '$active' right after enable --now (Type=notify: should be active)" "$(ct_journal scb-backup)" 40
}

expect_in_s3() {  # expect_in_s3 WHAT SHA256 SECONDS
  local key
  key=$(s3_wait_sha "$2" "$3" 2>"$LOGS/s3-wait.log") \
    || { local j; j=$(ct_journal scb-backup); cat "$LOGS/s3-wait.log" >>"$j"
         fail "$1 (sha256 ${2:0:12}) did not reach S3 within $3 s" "$j" 40; }
  echo "$ME: S3 has $1: $key" >&2
}

show_status() {
  in_ct systemctl status scb-backup --no-pager -l >"$LOGS/status.log" 2>&1 || true
  local line; line=$(grep -m1 'Status: "' "$LOGS/status.log" | sed 's/^[[:space:]]*//')
  [ -n "$line" ] || fail "systemctl status scb-backup shows no Status: line (no STATUS= from the daemon)" "$LOGS/status.log"
  echo "$ME: $line" >&2
}

stop_service() {
  in_ct systemctl stop scb-backup >"$LOGS/stop.log" 2>&1 || fail "systemctl stop scb-backup" "$LOGS/stop.log"
  local result; result=$(in_ct systemctl show -p Result --value scb-backup 2>&1 || true)
  [ "$result" = success ] || fail "scb-backup stopped with Result=$result" "$(ct_journal scb-backup)" 40
}

purge_and_check() {
  apt_ct "$LOGS/apt-purge.log" purge -y scb-backup || fail "apt-get purge scb-backup" "$LOGS/apt-purge.log"
  local left=() type path
  # Every file and symlink of the package; its folders when no other package owns them.
  while read -r type path; do
    path=${path#.}; path=${path%/}
    [ -n "$path" ] || continue
    if [ "$type" = d ]; then
      [ -d "$ROOT$path" ] || continue
      in_ct dpkg-query -S "$path" >/dev/null 2>&1 || left+=("$path/")
    elif [ -e "$ROOT$path" ] || [ -L "$ROOT$path" ]; then
      left+=("$path")
    fi
  done < <(dpkg-deb -c "$DEB" | awk '{ t = substr($1, 1, 1); sub(/ -> .*/, ""); print t, $6 }')
  for path in /etc/default/scb-backup /var/lib/scb-backup /var/lib/private/scb-backup \
              /etc/systemd/system/multi-user.target.wants/scb-backup.service; do
    if [ -e "$ROOT$path" ] || [ -L "$ROOT$path" ]; then left+=("$path"); fi
  done
  [ "${#left[@]}" = 0 ] || fail "left after apt-get purge: ${left[*]}" "$LOGS/apt-purge.log"
  local status; status=$(in_ct dpkg-query -W -f='${Status}' scb-backup 2>/dev/null || true)
  case $status in ""|"unknown ok not-installed"|"purge ok not-installed") ;;
    *) fail "dpkg still knows scb-backup after the purge: '$status'" ;; esac
  echo "$ME: dpkg -l scb-backup: $(in_ct dpkg -l scb-backup 2>&1 | tail -n 1)" >&2
  local load; load=$(in_ct systemctl show -p LoadState --value scb-backup 2>&1 || true)
  [ "$load" = not-found ] || fail "systemd still has scb-backup.service after the purge (LoadState=$load)"
  # Not required: Debian usually leaves system users (deploy/debian/postrm).
  if in_ct getent passwd scb-backup >/dev/null; then echo "$ME: the system user scb-backup stays (as postrm documents)" >&2; fi
}

# --- Scenarios ---------------------------------------------------------------------------------------------
# The package's life: install, configure, two versions to S3, status, stop, purge, power-off.
scenario_package() {
  local log=$LOGS/nspawn-package.log
  boot_container "$log";                                  lap "boot the container (systemd up)"
  make_lnd;                                               lap "lnd user and its channel.backup"
  install_deb;                                            lap "apt-get install (not started, next-step line)"
  configure_service
  check_as_service 1 "$LOGS/check-before-acl.log"
  grep -q "PROBLEM  file: .*Permission denied" "$LOGS/check-before-acl.log" \
    || fail "check did not name the unreadable file before the ACL recipe" "$LOGS/check-before-acl.log"
  lap "scb-backup check: the unreadable file found"
  grant_acls;                                             lap "ACLs for scb-backup"
  check_as_service 0 "$LOGS/check-after-acl.log"
  grep -q "back: the same SHA-256" "$LOGS/check-after-acl.log" || fail "check did not read its upload back" "$LOGS/check-after-acl.log"
  lap "scb-backup check: all well, upload read back"
  swap_as_lnd  # a version the check has not uploaded, for the service's start
  local sha1; sha1=$(ct_sha "$SCB")
  start_service;                                          lap "systemctl enable --now: active"
  expect_in_s3 "the start-up version" "$sha1" 60;         lap "start-up version in S3"
  # Each new file lnd writes (umask 077) must inherit the recipe's read access.
  local i sha2 prev=$sha1
  for i in 1 2; do
    swap_as_lnd
    sha2=$(ct_sha "$SCB")
    [ "$prev" != "$sha2" ] || fail "the swap did not change channel.backup"
    expect_in_s3 "the version swapped in by lnd ($i)" "$sha2" 60
    prev=$sha2
  done
  lap "lnd's swaps in S3"
  show_status
  stop_service;                                           lap "systemctl stop: Result=success"
  purge_and_check;                                        lap "apt-get purge: nothing left"
  poweroff_container "$log";                              lap "power-off"
}

# lnd's shutdown: a stand-in lnd.service whose ExecStop swaps the file one last time (lnd updates
# channel.backup while closing), then a power-off. The shutdown version must reach S3 before scb-backup
# is stopped. Ordering: as a user would write it, lnd.service has no dependency on scb-backup; what the
# package should provide for this to work is the question this scenario answers.
scenario_lnd_lifecycle() {
  local log=$LOGS/nspawn-lifecycle.log
  make_rootfs "$WORK/rootfs-lifecycle";                   lap "root filesystem (lifecycle)"
  boot_container "$log";                                  lap "boot the container (lifecycle)"
  make_lnd
  install_deb
  grant_acls
  configure_service
  in_ct sh -euc 'cat > /usr/local/bin/lnd-standin-stop; chmod 0755 /usr/local/bin/lnd-standin-stop' <<EOF
#!/bin/sh
# lnd's last channel.backup update while it shuts down.
set -eu
$SWAP_SCRIPT
sha256sum $SCB > /var/tmp/shutdown-version
EOF
  in_ct sh -euc 'cat > /etc/systemd/system/lnd.service' <<'EOF'
[Unit]
Description=lnd stand-in: its ExecStop swaps channel.backup as lnd does when it closes
Wants=network-online.target
After=network-online.target

[Service]
User=lnd
ExecStart=/bin/sleep infinity
ExecStop=/usr/local/bin/lnd-standin-stop
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
EOF
  in_ct systemctl daemon-reload
  in_ct systemctl enable --now lnd scb-backup >"$LOGS/enable.log" 2>&1 || fail "systemctl enable --now lnd scb-backup" "$LOGS/enable.log"
  expect_in_s3 "the start-up version (lifecycle)" "$(ct_sha "$SCB")" 60
  lap "lnd stand-in and scb-backup running"
  # ExecStop writes the shutdown version's sha256 to /var/tmp (on disk): read from the rootfs afterwards.
  poweroff_container "$log";                              lap "power-off (lnd swaps in ExecStop)"
  [ -s "$ROOT/var/tmp/shutdown-version" ] || fail "lnd's ExecStop did not run at power-off" "$log"
  local sha3; sha3=$(cut -d' ' -f1 "$ROOT/var/tmp/shutdown-version")
  local key
  if key=$(s3_wait_sha "$sha3" 5 2>"$LOGS/s3-wait.log"); then
    echo "$ME: S3 has the shutdown version: $key" >&2
  else
    # The container is off: its journal is in the rootfs.
    journalctl -D "$ROOT/var/log/journal" --no-pager -o short-monotonic -u scb-backup -u lnd \
      >"$LOGS/journal-lifecycle.log" 2>&1 || true
    cat "$LOGS/s3-wait.log" >>"$LOGS/journal-lifecycle.log"
    fail "the shutdown version (written by lnd's ExecStop, sha256 ${sha3:0:12}) did not reach S3" "$LOGS/journal-lifecycle.log" 40
  fi
  lap "shutdown version in S3"
}

# --- Main ----------------------------------------------------------------------------------------------------
if [ "$MODE" = deps ]; then install_host_packages; exit 0; fi
if [ "$MODE" = prepare ]; then
  install_host_packages
  make_rootfs "$WORK/rootfs"
  lap "root filesystem cached in $CACHE"
  exit 0
fi
echo "$ME: $(basename "$DEB") ($(dpkg-deb -f "$DEB" Version), Depends: $(dpkg-deb -f "$DEB" Depends)); work $WORK" >&2
[ "$(dpkg-deb -f "$DEB" Architecture)" = amd64 ] || fail "$DEB is not an amd64 package"
# The second scenario needs a second, pristine root filesystem: keep the first as a tarball in WORK.
if [ "$LIFECYCLE" = 1 ] && [ -z "$CACHE" ]; then CACHE=$WORK/rootfs-cache; fi
install_host_packages;                                    lap "host packages"
make_rootfs "$WORK/rootfs";                               lap "root filesystem"
start_s3;                                                 lap "local S3 server"
scenario_package
if [ "$LIFECYCLE" = 1 ]; then scenario_lnd_lifecycle; fi

for l in "${timing[@]}"; do echo "  $l" >&2; done
echo "$ME: OK in $(( $(date +%s) - T0 )) s" >&2
