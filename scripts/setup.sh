#!/usr/bin/env bash
# Installs the Debian packages diffinv needs (only the missing ones), then configures and builds
# diffinv in Release with Ninja and ccache. Idempotent; run as root on Debian bookworm (or with sudo).
# Usage: scripts/setup.sh [build-dir]   (default: build)
#   DIFFINV_FUZZ=1 also installs clang; DIFFINV_SETUP_PACKAGES_ONLY=1 stops after the packages.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"

packages=(build-essential cmake ninja-build ccache libtorch-dev libgtest-dev libyaml-cpp-dev
          libstb-dev libjpeg-dev nlohmann-json3-dev zlib1g-dev dataset-fashion-mnist
          libopenblas0-openmp)  # libtorch-dev alone pulls the reference BLAS: 10-50x slower matmuls
# The fuzz harnesses (scripts/fuzz_smoke.sh) need clang and its libFuzzer/sanitizer runtimes.
if [ "${DIFFINV_FUZZ:-0}" = 1 ]; then packages+=(clang libclang-rt-dev); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [ "${DIFFINV_SETUP_PACKAGES_ONLY:-0}" = 1 ]; then exit 0; fi

jobs="${DIFFINV_JOBS:-$(nproc)}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
cmake --build "$build" -j "$jobs" >&2
