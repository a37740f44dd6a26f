#!/usr/bin/env bash
# Sets up and builds diffinv (scripts/setup.sh), then runs the whole test suite with CTest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" "$root/build"
cd "$root/build"
ctest --output-on-failure -j "${DIFFINV_TEST_JOBS:-$(nproc)}" "$@"
