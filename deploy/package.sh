#!/usr/bin/env bash
# Builds the Debian package and the release tarball of scb-backup for one architecture, reproducibly:
#   deploy/package.sh ARCH [--out DIR] [--work DIR] [--with-tests] [--no-lintian] [--commit REV] [--deps-only]
# ARCH: amd64 or arm64 (cross-compiled with cmake/toolchain-aarch64.cmake, run under qemu-user).
# Into DIR (default dist/): scb-backup_VERSION_ARCH.deb, scb-backup-VERSION-linux-ARCH.tar.gz, SHA256SUMS.
# - Source: the committed tree (`git archive HEAD`, or --commit REV), never the working tree's uncommitted edits.
#   Packaging files not committed yet (deploy/debian/, cmake/toolchain-aarch64.cmake, LICENSE) are
#   taken from the working tree, with a warning.
# - Reproducible: SOURCE_DATE_EPOCH = the commit's time, -ffile-prefix-map for the source and build
#   folders, sorted archives with clamped times, root owner, gzip -n. Same commit => same bytes.
# - --work DIR: build folder (default: a temporary one, deleted). --with-tests: also build test/unit_tests
#   (integration tests off) in DIR/build, for deploy/package-test.sh.
# Installs the Debian packages it needs (root, or sudo), like deploy/setup.sh.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)

ARCH=${1:-}
shift || true
OUT=$REPO/dist
WORK=""
WITH_TESTS=OFF
COMMIT=HEAD
LINTIAN=1
DEPS_ONLY=0
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --with-tests) WITH_TESTS=ON; shift ;;
    --no-lintian) LINTIAN=0; shift ;;
    --commit) COMMIT=$2; shift 2 ;;
    --deps-only) DEPS_ONLY=1; shift ;;  # install the build dependencies, then exit
    *) echo "package: unknown option $1" >&2; exit 2 ;;
  esac
done
case $ARCH in
  amd64) TRIPLET=x86_64-linux-gnu ;;
  arm64) TRIPLET=aarch64-linux-gnu ;;
  *) echo "usage: deploy/package.sh amd64|arm64 [--out DIR] [--work DIR] [--with-tests] [--no-lintian] [--commit REV] [--deps-only]" >&2; exit 2 ;;
esac
[ "$(dpkg --print-architecture)" = amd64 ] || { echo "package: runs on an amd64 Debian 12 machine" >&2; exit 2; }

T0=$(date +%s)
step_start=$T0
step() {  # step NAME: print the time the previous step took
  local now; now=$(date +%s)
  echo "package[$ARCH]: $1 ($((now - step_start)) s)" >&2
  step_start=$now
}

# --- 1. Build dependencies ------------------------------------------------------------------------
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PACKAGES=(g++ cmake ninja-build pkg-config dpkg-dev help2man lintian git
          libboost1.81-dev libboost-program-options1.81-dev libboost-url1.81-dev
          libssl-dev nlohmann-json3-dev catch2)
if [ "$ARCH" = arm64 ]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "package: adding the arm64 architecture (multiarch)" >&2
    $SUDO dpkg --add-architecture arm64
    NEED_UPDATE=1
  fi
  # Boost's headers package is per architecture (its -dev packages depend on the same architecture);
  # nlohmann-json3-dev and catch2 are header-only, Multi-Arch foreign: the build machine's serve.
  PACKAGES+=(crossbuild-essential-arm64 qemu-user-static
             libboost1.81-dev:arm64 libboost-program-options1.81-dev:arm64 libboost-url1.81-dev:arm64
             libssl-dev:arm64)
fi
update=()
if [ "${NEED_UPDATE:-0}" = 1 ]; then update=(--update); fi
"$REPO/deploy/install-packages.sh" "${update[@]}" package "${PACKAGES[@]}"
step "build dependencies"
[ "$DEPS_ONLY" = 0 ] || exit 0

# --- 2. A clean copy of the committed tree ---------------------------------------------------------
umask 022
export LC_ALL=C.UTF-8 TZ=UTC
cd "$REPO"
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct "$COMMIT")
export SOURCE_DATE_EPOCH
KEEP_WORK=1
if [ -z "$WORK" ]; then WORK=$(mktemp -d); KEEP_WORK=0; fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cleanup() { if [ "$KEEP_WORK" = 0 ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT
SRC=$WORK/src
BUILD=$WORK/build
STAGE=$WORK/stage
rm -rf "$SRC" "$STAGE" "$WORK/tar" "$WORK/shlibs"
mkdir -p "$SRC"
git archive --format=tar "$COMMIT" | tar -x -C "$SRC"
for f in LICENSE cmake/toolchain-aarch64.cmake deploy/package.sh deploy/package-test.sh \
         $(cd "$REPO" && find deploy/debian -type f | sort); do
  if [ -z "$(git ls-files -- "$f")" ] && [ -e "$REPO/$f" ]; then
    echo "package: warning: $f is not committed; using the working tree's copy" >&2
    mkdir -p "$(dirname "$SRC/$f")"
    cp -p "$REPO/$f" "$SRC/$f"
  fi
done
VERSION=$(sed -n 's/^project(scb-backup VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
DEB_VERSION=$(dpkg-parsechangelog -l "$SRC/deploy/debian/changelog" -S Version)
[ -n "$VERSION" ] || { echo "package: no VERSION in CMakeLists.txt project()" >&2; exit 1; }
[ "$VERSION" = "$DEB_VERSION" ] || {
  echo "package: CMakeLists.txt says $VERSION but deploy/debian/changelog says $DEB_VERSION: add a changelog entry" >&2; exit 1; }
step "source tree $VERSION (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"

# --- 3. Release build --------------------------------------------------------------------------------
# Debian's hardening flags (as dpkg-buildflags gives them for this architecture, without -g: the
# binary is stripped), and no build folder in the binary.
flags() { DEB_BUILD_MAINT_OPTIONS="hardening=+all" dpkg-architecture -a"$ARCH" -c dpkg-buildflags --get "$1" 2>/dev/null; }
CXXFLAGS="$(flags CPPFLAGS) $(flags CXXFLAGS | sed -e 's/^-g //' -e 's/ -g / /' -e 's/-ffile-prefix-map=[^ ]*//g')"
CXXFLAGS="$CXXFLAGS -ffile-prefix-map=$SRC=. -ffile-prefix-map=$BUILD=."
LDFLAGS="$(flags LDFLAGS)"
CMAKE_ARGS=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
            -DCMAKE_CXX_FLAGS="$CXXFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS"
            -DSCB_WERROR=OFF -DSCB_BUILD_TESTS=$WITH_TESTS -DSCB_INTEGRATION_TESTS=OFF)
if [ "$ARCH" = arm64 ]; then
  CMAKE_ARGS+=(-DCMAKE_TOOLCHAIN_FILE="$SRC/cmake/toolchain-aarch64.cmake")
  RUN=(qemu-aarch64-static -L /)  # multiarch libc6:arm64, see cmake/toolchain-aarch64.cmake
  STRIP=aarch64-linux-gnu-strip
else
  RUN=()
  STRIP=strip
fi
(cd "$SRC" && cmake -S . -B "$BUILD" "${CMAKE_ARGS[@]}" >"$WORK/cmake.log") || { cat "$WORK/cmake.log" >&2; exit 1; }
step "configure"
cmake --build "$BUILD" -j2 >"$WORK/build.log" 2>&1 || { tail -50 "$WORK/build.log" >&2; echo "package: build failed ($WORK/build.log)" >&2; exit 1; }
file "$BUILD/app/scb-backup" | grep -q "$( [ "$ARCH" = arm64 ] && echo aarch64 || echo x86-64)" \
  || { echo "package: $BUILD/app/scb-backup is not an $ARCH binary" >&2; exit 1; }
step "build (-j2, tests $WITH_TESTS)"

# --- 4. Staging: the CMake install rules, then the Debian files --------------------------------------
DESTDIR=$STAGE cmake --install "$BUILD" >/dev/null
BIN=$STAGE/usr/bin/scb-backup
"$STRIP" --remove-section=.comment --remove-section=.note --strip-unneeded "$BIN"
if grep -q -a -e "$WORK" -e "$REPO" "$BIN"; then
  echo "package: the binary contains a build path" >&2; exit 1
fi
grep -qx 'ExecStart=/usr/bin/scb-backup run' "$STAGE/usr/lib/systemd/system/scb-backup.service" \
  || { echo "package: the installed unit does not say ExecStart=/usr/bin/scb-backup run" >&2; exit 1; }
DOC=$STAGE/usr/share/doc/scb-backup
install -D -m 0600 "$SRC/deploy/systemd/scb-backup.env.example" "$STAGE/etc/default/scb-backup"
install -D -m 0644 "$SRC/deploy/debian/sysusers.conf" "$STAGE/usr/lib/sysusers.d/scb-backup.conf"
install -D -m 0644 "$SRC/deploy/debian/copyright" "$DOC/copyright"
gzip -9n -c "$SRC/deploy/debian/changelog" >"$DOC/changelog.gz"
gzip -9n -c "$SRC/README.md" >"$DOC/README.md.gz"
gzip -9n -c "$SRC/docs/operations.md" >"$DOC/operations.md.gz"
# The example env file is /etc/default/scb-backup itself in the package.
rm -f "$DOC/scb-backup.env.example"
# (test/unit/docs_drift_test.cpp checks that every setting of --help is in it, with its default.)
# Man page from --help (help2man takes the date from SOURCE_DATE_EPOCH).
mkdir -p "$WORK/h2m"
printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${RUN[*]}" "$BUILD/app/scb-backup" >"$WORK/h2m/scb-backup"
chmod 0755 "$WORK/h2m/scb-backup"
mkdir -p "$STAGE/usr/share/man/man1"
help2man --no-info --section=1 --name="keeps lnd's channel.backup in S3" \
         --include=<(printf '[FILES]\n.TP\n/etc/default/scb-backup\nsettings and credentials of scb-backup.service\n.TP\n/usr/lib/systemd/system/scb-backup.service\nthe systemd unit\n.TP\n/var/lib/scb-backup\nthe spool (StateDirectory)\n[SEE ALSO]\n.BR systemctl (1),\n.BR systemd.exec (5)\n') \
         "$WORK/h2m/scb-backup" >"$WORK/scb-backup.1"
gzip -9n -c "$WORK/scb-backup.1" >"$STAGE/usr/share/man/man1/scb-backup.1.gz"
chmod 0644 "$STAGE/usr/share/man/man1/scb-backup.1.gz" "$DOC"/*

# Dependencies from the binary (dpkg-shlibdeps wants a debian/control next to it).
mkdir -p "$WORK/shlibs/debian"
printf 'Source: scb-backup\n\nPackage: scb-backup\nArchitecture: any\n' >"$WORK/shlibs/debian/control"
DEPENDS=$(cd "$WORK/shlibs" && dpkg-architecture -a"$ARCH" -c dpkg-shlibdeps -O "$BIN" 2>"$WORK/shlibdeps.log" | sed -n 's/^shlibs:Depends=//p') \
  || { cat "$WORK/shlibdeps.log" >&2; exit 1; }
[ -n "$DEPENDS" ] || { cat "$WORK/shlibdeps.log" >&2; echo "package: dpkg-shlibdeps found no dependency" >&2; exit 1; }

# Control area.
mkdir -p "$STAGE/DEBIAN"
for f in postinst prerm postrm; do install -m 0755 "$SRC/deploy/debian/$f" "$STAGE/DEBIAN/$f"; done
install -m 0644 "$SRC/deploy/debian/conffiles" "$STAGE/DEBIAN/conffiles"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
   | grep -zv '^etc/' | xargs -0 md5sum) >"$STAGE/DEBIAN/md5sums"
chmod 0644 "$STAGE/DEBIAN/md5sums"
INSTALLED_SIZE=$(du -s -k --apparent-size --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$INSTALLED_SIZE/" \
    -e "s/@DEPENDS@/$DEPENDS/" "$SRC/deploy/debian/control.in" >"$STAGE/DEBIAN/control"
find "$STAGE" -type d -exec chmod 0755 {} +
find "$STAGE" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
step "staging (Depends: $DEPENDS)"

# --- 5. The .deb, the tarball, SHA256SUMS ------------------------------------------------------------
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DEB=scb-backup_${VERSION}_${ARCH}.deb
TGZ=scb-backup-${VERSION}-linux-${ARCH}.tar.gz
rm -f "$OUT/$DEB" "$OUT/$TGZ"
# dpkg-deb sorts the entries and takes the ar member times from SOURCE_DATE_EPOCH.
dpkg-deb --root-owner-group -Zxz -z9 --build "$STAGE" "$OUT/$DEB" >/dev/null

# Tarball: the binary, the unit as in the repository (ExecStart=/usr/local/bin/scb-backup, for a manual
# install as its header describes), the example env file, README, LICENSE.
T=$WORK/tar/scb-backup-$VERSION-linux-$ARCH
mkdir -p "$T"
install -m 0755 "$BIN" "$T/scb-backup"
install -m 0644 "$SRC/deploy/systemd/scb-backup.service" "$SRC/deploy/systemd/scb-backup.env.example" \
        "$SRC/README.md" "$SRC/LICENSE" "$T/"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --format=gnu -C "$WORK/tar" -cf - "scb-backup-$VERSION-linux-$ARCH" | gzip -9n >"$OUT/$TGZ"
# SHA256SUMS covers every architecture built into OUT so far (package.sh amd64, then arm64).
(cd "$OUT" && sha256sum scb-backup_"$VERSION"_*.deb scb-backup-"$VERSION"-linux-*.tar.gz >SHA256SUMS)
step "archives"

# --- 6. lintian --------------------------------------------------------------------------------------
if [ "$LINTIAN" = 1 ]; then
  lintian --display-info --pedantic --tag-display-limit 0 "$OUT/$DEB" >"$WORK/lintian.txt" 2>&1 || true
  sed 's/^/  /' "$WORK/lintian.txt" >&2
  if grep -q '^E:' "$WORK/lintian.txt"; then
    echo "package: lintian reports errors on $DEB" >&2; exit 1
  fi
  step "lintian"
fi

ls -l "$OUT/$DEB" "$OUT/$TGZ" >&2
cat "$OUT/SHA256SUMS"
echo "package[$ARCH]: done in $(( $(date +%s) - T0 )) s -> $OUT" >&2
