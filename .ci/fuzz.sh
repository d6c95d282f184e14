#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer targets of test/fuzz with clang (ASan + UBSan) in build-fuzz and runs
# each for a bounded time from its committed seed corpus. A crash fails the step; the reproducer is
# left in build-fuzz/artifacts/ (turn it into a regression test in test/unit/ and fix the parser).
# Usage: .ci/fuzz.sh [SECONDS_PER_TARGET]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-30}}
if ! command -v clang++ >/dev/null || ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "fuzz: installing clang and its libFuzzer runtime"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
fi
start=$(date +%s)
echo "fuzz: configuring build-fuzz with clang++ (only the fuzz targets are built)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
      -DSCB_FUZZ=ON -DSCB_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz --target fuzz_targets -j "${FUZZ_JOBS:-2}"
echo "fuzz: built in $(( $(date +%s) - start )) s"
mkdir -p build-fuzz/artifacts
# One target per core at a time: each libFuzzer run is single-threaded.
jobs=${FUZZ_PARALLEL:-$(nproc)}
run_target() {
  local name=$1 corpus=build-fuzz/corpus/$1
  # Work on a copy: what the run finds stays out of the tree; the committed seeds stay small.
  mkdir -p "$corpus"
  cp -n test/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
  build-fuzz/test/fuzz/"$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix=build-fuzz/artifacts/"$name"- "$corpus" >build-fuzz/"$name".log 2>&1
}
names=()
for src in test/fuzz/*_fuzz.cpp; do names+=("$(basename "$src" .cpp)"); done
for name in "${names[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "fuzz: $name for ${seconds}s"
  rm -f build-fuzz/"$name".rc
  { if run_target "$name"; then echo 0; else echo 1; fi >build-fuzz/"$name".rc; } &
done
wait
status=0
for name in "${names[@]}"; do
  if [ "$(cat build-fuzz/"$name".rc 2>/dev/null)" != 0 ]; then
    echo "fuzz: $name FAILED:"; tail -n 60 build-fuzz/"$name".log
    status=1
  else
    echo "fuzz: $name: $(grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' build-fuzz/"$name".log | tr '\n' ' ')"
  fi
done
echo "fuzz: done in $(( $(date +%s) - start )) s"
exit "$status"
