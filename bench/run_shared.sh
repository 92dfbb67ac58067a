#!/usr/bin/env bash
# Shared Value and Array: mproc beside Python's multiprocessing in one run.
# See bench/README.md ("Shared memory").
#
#   bench/run_shared.sh [BUILD_DIR]   (default: build; nothing is built here)
#
# Environment: BENCH_ROUNDS (3), PYTHON (python3). Prints one JSON line per
# figure and round; figures are M operations per second.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exe=${1:-build}/bench/bench_shared
py=${PYTHON:-python3}
for ((r = 0; r < ${BENCH_ROUNDS:-3}; r++)); do
    "$exe" value 2000000
    "$py" "$here/shared.py" value 200000
    "$exe" array 50000000
    "$py" "$here/shared.py" array 2000000
done
