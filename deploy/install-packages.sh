#!/usr/bin/env bash
# The deploy scripts' one way to install Debian packages: those of PKG... that are not installed yet,
# with apt-get (as root, or with sudo), quietly. --update: run `apt-get update` even when nothing is
# missing (after `dpkg --add-architecture`, so that the new architecture's lists are there).
#   deploy/install-packages.sh [--update] TAG PKG...      (TAG starts the progress line: setup, package, ...)
set -euo pipefail
update=0
if [ "${1:-}" = --update ]; then update=1; shift; fi
tag=${1:?usage: deploy/install-packages.sh [--update] TAG PKG...}
shift
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "$tag: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif [ "$update" = 1 ]; then
  $sudo apt-get update -qq
fi
