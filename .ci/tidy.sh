#!/usr/bin/env bash
# clang-tidy on lib/ and app/ with the committed .clang-tidy, using the compile commands of a
# configured build (default: build/). Fails on any finding. Usage: .ci/tidy.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
if ! command -v clang-tidy >/dev/null; then
  echo "tidy: installing clang-tidy"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-tidy >/dev/null
fi
test -f "$build/compile_commands.json" || { echo "tidy: $build/compile_commands.json missing: configure first" >&2; exit 1; }
runner=$(command -v run-clang-tidy || ls /usr/bin/run-clang-tidy-* 2>/dev/null | head -n1 || true)
jobs=${TIDY_JOBS:-2}
# The commands are g++'s: clang does not know -Wno-restrict, which is harmless here.
extra=(-extra-arg=-Wno-unknown-warning-option -extra-arg=-Wno-ignored-optimization-argument)
files=$(git ls-files 'lib/*.cpp' 'app/*.cpp')
echo "tidy: $(echo "$files" | wc -l) files, $(clang-tidy --version | grep -o 'version [0-9.]*'), $jobs jobs"
start=$(date +%s)
log=$(mktemp)
set +e
if [ -n "$runner" ]; then
  # run-clang-tidy takes regexes: anchor each file name.
  "$runner" -quiet -p "$build" -j "$jobs" "${extra[@]}" $(for f in $files; do printf '%s$ ' "$PWD/$f"; done) >"$log" 2>&1
  status=$?
else
  status=0
  for f in $files; do clang-tidy --quiet -p "$build" "${extra[@]}" "$f" >>"$log" 2>&1 || status=1; done
fi
set -e
grep -v -E '^(clang-tidy|[0-9]+ warnings? (and [0-9]+ errors? )?generated|Suppressed [0-9]+ warnings|Use -header-filter|Running clang-tidy|Enabled checks|$)' "$log" || true
rm -f "$log"
echo "tidy: done in $(( $(date +%s) - start )) s, status $status"
exit "$status"
