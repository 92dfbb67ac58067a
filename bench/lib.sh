# shellcheck shell=bash
# What the bench/run*.sh scripts share; sourced, not run.
#
# bench_start BUILD PROGRAM ROUNDS: bench_locate, then $py (PYTHON, default
#   python3) and $rounds (BENCH_ROUNDS, default ROUNDS).
# bench_need_two_cpus WHAT: stops, saying WHAT needs them, on one CPU.
# bench_locate BUILD PROGRAM: sets $exe to BUILD/bench/PROGRAM (BUILD may
#   also be relative to the project), or stops with the build command.
# bench_header: one line with the date, the machine and the build type;
#   also kept in $bench_machine and $bench_btype for the BENCH_JSON file.
# bench_rounds: runs "run_bench <words of each entry of benches>" for
#   every entry of the benches array, $rounds times, into $results, one
#   JSON line each tagged with its round. Each round runs every benchmark
#   once, as a fresh process, in an order that rotates from round to
#   round, so a burst of background load is spread over all of them.
#   With BENCH_JSON set, that file gets a first line {"meta": SCRIPT,
#   "rounds", "build_type", "machine"} and then every result line.

bench_locate() {
    local here build=$1 program=$2
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    if [[ ! -d $build && -d $here/../$build ]]; then
        build=$here/../$build
    fi
    exe=$build/bench/$program
    bench_build=$build
    if [[ ! -x $exe ]]; then
        echo "$(basename "$0"): $exe not found; build first:" >&2
        echo "  cmake -S . -B build && cmake --build build -j2" >&2
        exit 1
    fi
}

bench_start() {
    bench_locate "$1" "$2"
    py=${PYTHON:-python3}
    rounds=${BENCH_ROUNDS:-$3}
}

bench_need_two_cpus() {
    if (($(nproc) < 2)); then
        echo "$(basename "$0"): $1 needs 2 CPUs" >&2
        exit 1
    fi
}

bench_header() {
    local btype
    btype=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$bench_build/CMakeCache.txt" 2>/dev/null || true)
    echo "build: $bench_build (${btype:-unknown build type})"
    if [[ $btype == Debug ]]; then
        echo "note: a Debug build runs the library unoptimised;" \
            "figures in bench/README.md use RelWithDebInfo"
    fi
    bench_machine="$(date -u +%Y-%m-%dT%H:%MZ); machine: $(nproc) CPUs, $(uname -sr),"
    bench_machine+=" $("$py" -c 'import platform; print("Python", platform.python_version())');"
    bench_machine+=" load $(cut -d' ' -f1-3 /proc/loadavg)"
    bench_btype=${btype:-unknown}
    echo "$bench_machine"
}

bench_rounds() {
    local r i b
    for ((r = 0; r < rounds; r++)); do
        printf 'round %d/%d ' $((r + 1)) "$rounds" >&2
        for ((i = 0; i < ${#benches[@]}; i++)); do
            b=${benches[$(((i + r) % ${#benches[@]}))]}
            # shellcheck disable=SC2086
            run_bench $b | sed "s/^{/{\"round\": $((r + 1)), /" >>"$results"
            printf '.' >&2
        done
        printf '\n' >&2
    done
    if [[ -n ${BENCH_JSON:-} ]]; then
        # A first line that says which run this was, for bench/charts.py;
        # it has no "impl", so readers of the result lines skip it.
        "$py" -c 'import json, sys
print(json.dumps({"meta": sys.argv[1], "rounds": int(sys.argv[2]),
                  "build_type": sys.argv[3], "machine": sys.argv[4]}))' \
            "$(basename "$0")" "$rounds" "${bench_btype:-unknown}" \
            "${bench_machine:-}" >"$BENCH_JSON"
        cat "$results" >>"$BENCH_JSON"
    fi
}
