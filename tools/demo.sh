#!/usr/bin/env bash
# Installs what is missing, builds mproc, and runs the flagship demo: one
# child under each start method and what it sees.
#
#   tools/demo.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
tools/install-deps.sh
cmake -S . -B build/native -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/native -j"$(nproc 2>/dev/null || echo 2)" --target example_start_methods >/dev/null
exec build/native/examples/example_start_methods
