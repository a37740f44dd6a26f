#!/usr/bin/env bash
# Sets up and builds diffinv (scripts/setup.sh), then runs the whole test suite with CTest.
# Tests run in parallel processes with one intra-op thread each: on 2 cores that beats 2 processes
# fighting over 2 threads each, where tiny tensor ops become 10-100x slower.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" "$root/build"
export DIFFINV_THREADS="${DIFFINV_THREADS:-1}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
cd "$root/build"
ctest --output-on-failure -j "${DIFFINV_TEST_JOBS:-$(nproc)}" "$@"
