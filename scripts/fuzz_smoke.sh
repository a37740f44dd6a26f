#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ with clang (sanitizers: address, undefined) and runs each
# on its seed corpus for a while. Any finding (a sanitizer report, an exception other than
# diffinv::Error, an input taking over 10 s or one allocation over 512 MB) fails the script, and the
# input is kept under $build/findings/<harness>/.
#
# Usage: scripts/fuzz_smoke.sh [seconds per harness, default 20] [harness ...]
#   harnesses: image safetensors torch_pt task_config model_config (default: all)
#   DIFFINV_FUZZ_BUILD  build folder (default build-fuzz); its corpus/<harness>/ grows run by run
#   DIFFINV_FUZZ_NICE   niceness of the fuzzers (default 10: they yield to other work)
#
# Not part of .ci/run: the sanitized build alone took 5.4 minutes on the 2-core machine (2.6 CPU
# minutes, beside other jobs), so with a 20 s smoke per harness CI would grow from about 8 to about
# 15 minutes, and CI would need clang. Run it after changing a reader.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-20}"
shift || true
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(image safetensors torch_pt task_config model_config)
build="${DIFFINV_FUZZ_BUILD:-$root/build-fuzz}"

DIFFINV_FUZZ=1 DIFFINV_SETUP_PACKAGES_ONLY=1 "$root/scripts/setup.sh"
CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIFFINV_FUZZ=ON >&2
cmake --build "$build" -j "${DIFFINV_JOBS:-$(nproc)}" >&2

failed=()
for h in "${harnesses[@]}"; do
  corpus="$build/corpus/$h" findings="$build/findings/$h"
  mkdir -p "$corpus" "$findings"
  log="$build/fuzz_$h.log"
  # -detect_leaks=0: a leak check after every input that frees less than it allocated scans
  # libtorch's heap (hundreds of MB) and made the YAML harness 100x slower; unbounded growth still
  # hits -rss_limit_mb.
  status=0
  /usr/bin/time -f "cpu_seconds %U %S" -o "$build/fuzz_$h.time" \
    nice -n "${DIFFINV_FUZZ_NICE:-10}" "$build/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=512 -detect_leaks=0 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$corpus" "$root/fuzz/corpus/$h" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cpu=$(awk '/^cpu_seconds/ {print $2 + $3}' "$build/fuzz_$h.time")
  echo "fuzz_$h: ${runs:-?} executions, ${cpu:-?} CPU seconds, exit $status (log: $log)"
  ((status == 0)) || failed+=("$h")
done
if ((${#failed[@]})); then
  echo "findings in: ${failed[*]} (inputs under $build/findings/)" >&2
  exit 1
fi
