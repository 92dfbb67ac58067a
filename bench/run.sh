#!/usr/bin/env bash
# Process start+join latency: mproc beside Python's multiprocessing and the
# raw OS calls, in the same run. See bench/README.md.
#
#   bench/run.sh [BUILD_DIR]          (default: build; nothing is built here)
#
# Environment:
#   BENCH_ROUNDS          rounds (default 5)
#   BENCH_N               iterations per mproc / raw run (default 200)
#   BENCH_N_PY_SPAWN      iterations per Python spawn run (default 20)
#   BENCH_N_PY_FORK       iterations per Python fork run (default 100)
#   BENCH_N_PY_FORKSERVER iterations per Python forkserver run (default 50)
#   BENCH_JSON            if set, a file that receives every JSON line
#   PYTHON                the interpreter (default python3)
#
# Each round runs every benchmark once, as a fresh process, so a burst of
# background load is spread over all of them instead of landing on one; the
# order rotates from round to round for the same reason. A cell of the table
# is the median over rounds of the per-run medians, with min-max over rounds.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
bench_start "${1:-build}" bench_start_latency 5
n=${BENCH_N:-200}
n_py_spawn=${BENCH_N_PY_SPAWN:-20}
n_py_fork=${BENCH_N_PY_FORK:-100}
n_py_forkserver=${BENCH_N_PY_FORKSERVER:-50}

# One entry per benchmark: "IMPL METHOD"; run_bench runs it once.
benches=(
    "mproc spawn" "mproc fork" "mproc forkserver"
    "raw fork" "raw posix_spawn"
    "python spawn" "python fork" "python forkserver"
)
run_bench() {
    local impl=$1 method=$2 count
    if [[ $impl == python ]]; then
        case $method in
        spawn) count=$n_py_spawn ;;
        fork) count=$n_py_fork ;;
        *) count=$n_py_forkserver ;;
        esac
        "$py" "$here/start_latency.py" "$method" "$count"
    else
        "$exe" "$impl" "$method" "$n"
    fi
}

results=$(mktemp)
trap 'rm -f "$results"' EXIT

echo "start+join latency: $rounds rounds; N = $n (mproc, raw)," \
    "$n_py_spawn/$n_py_fork/$n_py_forkserver (python spawn/fork/forkserver)"
bench_header
bench_rounds

"$py" - "$results" <<'EOF'
import json
import statistics
import sys

runs = {}     # (impl, method) -> [per-run median]
by_round = {}  # (impl, method) -> {round: per-run median}
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        key = (r["impl"], r["method"])
        runs.setdefault(key, []).append(r["median_us"])
        by_round.setdefault(key, {})[r["round"]] = r["median_us"]

def ratio(num, den):
    """num/den from the medians, and [min-max] of the per-round ratios:
    the two runs of one round are close in time, so their ratio is less
    disturbed by a burst of load than either figure alone."""
    a, b = agg(num), agg(den)
    if not a or not b:
        return "-", None
    rn, rd = by_round[num], by_round[den]
    per = [rn[k] / rd[k] for k in rn if k in rd]
    return f"{a[0] / b[0]:.2f}x [{min(per):.2f}-{max(per):.2f}]", a[0] / b[0]

def agg(key):
    v = runs.get(key)
    return (statistics.median(v), min(v), max(v)) if v else None

def cell(a):
    """median [min-max], all in the unit that suits the median."""
    if not a:
        return "-"
    if a[0] >= 10000:
        return "{:.1f} ms [{:.1f}-{:.1f}]".format(*(x / 1000 for x in a))
    return "{:.0f} us [{:.0f}-{:.0f}]".format(*a)

# The raw-OS reference of each start method: what it cannot beat.
raw_of = {"spawn": ("raw", "posix_spawn"), "fork": ("raw", "fork"),
          "forkserver": ("raw", "fork")}
head = ("method", "mproc", "python", "raw OS", "python/mproc",
        "mproc/raw [per round]")
table = [head]
got = {}
for m in ("spawn", "fork", "forkserver"):
    c, p, o = agg(("mproc", m)), agg(("python", m)), agg(raw_of[m])
    rraw, vraw = ratio(("mproc", m), raw_of[m])
    got[m] = (p[0] / c[0] if c and p else None, vraw)
    table.append((
        m, cell(c), cell(p),
        f"{cell(o)} ({raw_of[m][1]})",
        f"{p[0] / c[0]:.1f}x faster" if c and p else "-",
        rraw,
    ))
w = [max(len(r[i]) for r in table) for i in range(len(head))]
print()
for i, r in enumerate(table):
    print("  ".join(s.ljust(w[j]) for j, s in enumerate(r)).rstrip())
    if i == 0:
        print("  ".join("-" * x for x in w))
print()
print("cells: median over rounds of per-run medians [min-max over rounds];")
print("ratios: of those medians; [per round]: min-max of the ratio within"
      " each round")

# The project's targets (CI does not judge speed; this only reports).
def check(value, ok, text):
    if value is None:
        print(f"  ?       {text}: not measured")
    else:
        print(f"  {'met   ' if ok(value) else 'MISSED'}  {text}: {value:.2f}x")
print("targets (from the medians):")
check(got["spawn"][1], lambda v: v <= 1.5,
      "spawn <= 1.5x raw posix_spawn+exec of the same binary")
check(got["spawn"][0], lambda v: v >= 30,
      "spawn >= 30x faster than Python spawn")
check(got["fork"][1], lambda v: v <= 1.5, "fork <= 1.5x raw fork+waitpid")
check(got["forkserver"][0], lambda v: v >= 10,
      "forkserver >= 10x faster than Python forkserver")
EOF
