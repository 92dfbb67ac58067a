#!/usr/bin/env bash
# Installs what is missing, builds mproc for Linux and for Windows, and runs
# every test: the native suites, the same suites under AddressSanitizer and
# UndefinedBehaviorSanitizer (with the Lock on its pthread path), and the
# Windows build under Wine, and the fuzz harnesses (clang, libFuzzer): each
# replays its seed corpus, then is fuzzed for a short while. The API
# reference is built too, with Doxygen's warnings as errors.
#
#   tools/test-all.sh            (what .ci/run runs)
#   MPROC_FUZZ_SECONDS=60 tools/test-all.sh   fuzz each harness 60 s (default
#                                              15; 0: replay the corpora only)
#
# Build trees go to build/{native,sanitize,fuzz,win64}; the cross-built Windows
# dependencies and the Wine prefix are cached outside the checkout (see
# tools/build-win-deps.sh). Ends with one line "total: N passed, N failed".
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)
logs="$root/build/logs"
passed=0
failed=0

step() { printf '\n== %s\n' "$*"; }

# run_ctest <name> <build dir> [NAME=value... | ctest argument...]: ctest
# with its summary counted; NAME=value goes to its environment.
run_ctest() {
    local name=$1 dir=$2 log="$logs/$1.ctest.log" rc=0 a
    local envs=() args=()
    shift 2
    for a in "$@"; do
        case $a in
            *=*) envs+=("$a") ;;
            *) args+=("$a") ;;
        esac
    done
    (cd "$dir" && env "${envs[@]}" ctest --output-on-failure -j"$jobs" \
        --timeout 300 "${args[@]}") \
        2>&1 | tee "$log" || rc=$?
    local line total bad
    line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1 || true)
    if [ -z "$line" ]; then
        echo "$name: ctest printed no summary" >&2
        failed=$((failed + 1))
        return
    fi
    bad=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + total - bad))
    failed=$((failed + bad))
    [ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || failed=$((failed + 1))
}

step "dependencies"
tools/install-deps.sh --windows
mkdir -p "$logs"

step "Linux: build"
cmake -S . -B build/native -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPROC_FUZZ=OFF \
      >"$logs/native.cmake.log"
cmake --build build/native -j"$jobs"
step "Linux: tests"
run_ctest native build/native

step "API reference (Doxygen, warnings as errors)"
# One item of the total: an undocumented or mis-documented public symbol
# fails it, each named as file:line in the log.
if cmake --build build/native --target docs 2>&1 | tee "$logs/docs.log"; then
    passed=$((passed + 1))
else
    echo "docs: the API reference has warnings (above; $logs/docs.log)" >&2
    failed=$((failed + 1))
fi

step "Linux, ASan + UBSan, the Lock's pthread path: build"
# The native build's Locks take the glibc path; this one is built without
# it (as on a C library other than glibc), so every suite runs on both. The
# sanitizers slow every test: its timeout (30 s) is tripled.
cmake -S . -B build/sanitize -DCMAKE_BUILD_TYPE=Debug -DMPROC_SANITIZE=ON \
      -DMPROC_BUILD_BENCH=OFF -DMPROC_LOCK_GLIBC_FAST=OFF \
      -DMPROC_TEST_TIMEOUT_MULTIPLIER=3 -DMPROC_FUZZ=OFF >"$logs/sanitize.cmake.log"
cmake --build build/sanitize -j"$jobs"
step "Linux, ASan + UBSan, the Lock's pthread path: tests"
# A crashing child must die of its signal (handle_segv=0); any report fails
# the test through its FAIL_REGULAR_EXPRESSION and the non-zero exit codes.
run_ctest sanitize build/sanitize \
    ASAN_OPTIONS=handle_segv=0:detect_leaks=1:abort_on_error=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

step "Linux, ThreadSanitizer: build"
# The Lock's pthread path, so that TSan sees every lock the library takes
# (it cannot see a futex). Under TSan every test is several times slower:
# every suite runs under one start method, spawn, which holds the threads
# suite and every object's use; the other methods add processes, not threads.
cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=Debug -DMPROC_SANITIZE=thread \
      -DMPROC_BUILD_BENCH=OFF -DMPROC_LOCK_GLIBC_FAST=OFF \
      -DMPROC_TEST_TIMEOUT_MULTIPLIER=3 -DMPROC_FUZZ=OFF >"$logs/tsan.cmake.log"
cmake --build build/tsan -j"$jobs"
step "Linux, ThreadSanitizer: tests (spawn)"
run_ctest tsan build/tsan -L '^(spawn|none)$' \
    TSAN_OPTIONS=halt_on_error=1:handle_segv=0:suppressions=$PWD/tools/tsan.supp

step "Fuzzing (clang, libFuzzer + ASan + UBSan): build"
# Its own build with clang: the harnesses of fuzz/ and an instrumented copy
# of the library. Each harness has two ctest entries: the replay of its
# corpus (fuzz/corpus/<name>) and a run of MPROC_FUZZ_SECONDS.
fuzz_seconds=${MPROC_FUZZ_SECONDS:-15}
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DMPROC_BUILD_TESTS=OFF -DMPROC_BUILD_EXAMPLES=OFF -DMPROC_BUILD_BENCH=OFF \
      -DMPROC_FUZZ=ON -DMPROC_FUZZ_SECONDS="$fuzz_seconds" >"$logs/fuzz.cmake.log"
cmake --build build/fuzz -j"$jobs"
step "Fuzzing: replay the corpora, then ${fuzz_seconds} s per harness"
fuzz_failed_before=$failed
run_ctest fuzz build/fuzz
if [ "$failed" -gt "$fuzz_failed_before" ]; then
    # libFuzzer wrote each crashing input there ("Test unit written to").
    echo "fuzz: failures above; their inputs are in build/fuzz/fuzz/findings/:" >&2
    ls -l build/fuzz/fuzz/findings >&2 || true
fi

step "Windows (mingw-w64): dependencies"
win_deps=$(tools/build-win-deps.sh)
echo "$win_deps"
step "Windows (mingw-w64): build"
cmake -S . -B build/win64 -DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64-x86_64.cmake" \
      -DMPROC_WIN_DEPS="$win_deps" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DMPROC_TEST_TIMEOUT_MULTIPLIER=3 >"$logs/win64.cmake.log"
cmake --build build/win64 -j"$jobs"
step "Windows under Wine: tests"
# shellcheck source=tools/wine-env.sh
source tools/wine-env.sh
run_ctest wine build/win64
mproc_wine_stop || true

echo
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
