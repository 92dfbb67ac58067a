#!/usr/bin/env bash
# Runs one Windows program under Wine for ctest (the cross build's
# CMAKE_CROSSCOMPILING_EMULATOR): `tools/wine-run.sh prog.exe args...`.
#
# It adds two things to a plain `wine prog.exe args...`:
#  * A non-zero exit is named on stderr with the time it took, so a failure
#    that printed nothing still says how the program ended.
#  * Under a heavily loaded machine, Wine itself now and then fails to start
#    a program: `wine` exits non-zero within a few milliseconds, before the
#    program has run a line, and prints nothing. No Windows program starts
#    and ends that fast under Wine (a start alone takes 150 ms or more), so
#    such an exit with nothing on stdout is Wine's failure, not the
#    program's: it is reported and the program is started once more. A
#    program that printed anything, or ran longer, is never started again.
set -u
quick_ms=60

run_once() {
    local out=$1 err=$2 t0 t1
    t0=$(date +%s%N)
    # Output still streams to the caller (a timeout shows what was printed);
    # the copies only tell whether anything was. The pipeline waits for the
    # copy of stdout; the copy of stderr may lag, so stdout decides.
    wine "${args[@]}" 2> >(tee "$err" >&2) | tee "$out"
    status=${PIPESTATUS[0]}
    t1=$(date +%s%N)
    elapsed_ms=$(((t1 - t0) / 1000000))
}

args=("$@")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
run_once "$dir/out" "$dir/err"
if [ "$status" -ne 0 ] && [ "$elapsed_ms" -lt "$quick_ms" ] &&
    [ ! -s "$dir/out" ]; then
    echo "wine-run.sh: wine exited with status $status after ${elapsed_ms} ms" \
        "without starting ${1:-the program}; starting it once more" >&2
    run_once "$dir/out2" "$dir/err2"
fi
if [ "$status" -ne 0 ]; then
    echo "wine-run.sh: ${1:-the program} exited with status $status" \
        "after ${elapsed_ms} ms" >&2
fi
exit "$status"
