#!/usr/bin/env bash
# The process pool: mproc's Pool beside Python's multiprocessing.Pool, a raw
# pipe round trip and a serial loop, in the same run. See bench/README.md
# ("Pool").
#
#   bench/run_pool.sh [BUILD_DIR]     (default: build; nothing is built here)
#
# Environment:
#   BENCH_ROUNDS        rounds (default 7)
#   BENCH_N_MAP         items of each trivial map, both sides (default 100000)
#   BENCH_N_PY_C1       items of Python's chunksize-1 map (default 20000)
#   BENCH_N_APPLY       timed apply round trips per C run (default 5000)
#   BENCH_N_PY_APPLY    the same for Python (default 2000)
#   BENCH_N_CPU         CPU-bound items, both sides (default 40)
#   BENCH_JSON          if set, a file that receives every JSON line
#   PYTHON              the interpreter (default python3)
#
# Each round runs every benchmark once, as a fresh process, in an order that
# rotates from round to round, so that a burst of background load is spread
# over all of them. A cell is the median over rounds of the per-run values,
# with min-max over rounds.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
bench_start "${1:-build}" bench_pool 7
n_map=${BENCH_N_MAP:-100000}
n_py_c1=${BENCH_N_PY_C1:-20000}
n_apply=${BENCH_N_APPLY:-5000}
n_py_apply=${BENCH_N_PY_APPLY:-2000}
n_cpu=${BENCH_N_CPU:-40}
bench_need_two_cpus "the split placement and the speed-up"

# One entry per benchmark: "IMPL BENCH [AFFINITY]"; run_bench runs it once.
benches=()
for i in mproc python; do
    benches+=("$i map-c1" "$i map-default" "$i cpu")
done
benches+=("python apply")
for a in none same split; do
    benches+=("mproc apply $a" "raw raw-rtt $a")
done
run_bench() {
    local impl=$1 bench=$2 aff=${3:-} count
    if [[ $impl == python ]]; then
        case $bench in
        map-c1) count=$n_py_c1 ;;
        map-default) count=$n_map ;;
        apply) count=$n_py_apply ;;
        cpu) count=$n_cpu ;;
        esac
        "$py" "$here/pool.py" "$bench" "$count"
    else
        case $bench in
        map-c1 | map-default) count=$n_map ;;
        apply | raw-rtt) count=$n_apply ;;
        cpu) count=$n_cpu ;;
        esac
        # shellcheck disable=SC2086
        "$exe" "$bench" "$count" $aff
    fi
}

results=$(mktemp)
trap 'rm -f "$results"' EXIT

echo "pool: $rounds rounds of ${#benches[@]} runs; N (C/Python): maps" \
    "$n_map/$n_map (chunksize 1: $n_map/$n_py_c1), apply $n_apply/$n_py_apply," \
    "CPU-bound $n_cpu/$n_cpu"
bench_header
bench_rounds

"$py" - "$results" <<'EOF'
import json
import statistics
import sys

runs = {}      # (impl, bench, affinity) -> [per-run value]
by_round = {}  # (impl, bench, affinity) -> {round: per-run value}
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        key = (r["impl"], r["bench"], r.get("affinity", "none"))
        runs.setdefault(key, []).append(r["value"])
        by_round.setdefault(key, {})[r["round"]] = r["value"]


def agg(key):
    v = runs.get(key)
    return (statistics.median(v), min(v), max(v)) if v else None


def cell(a, unit):
    if not a:
        return "-"
    if unit == "rate":
        return "{:.3g}M [{:.3g}-{:.3g}]".format(*(x / 1e6 for x in a))
    if unit == "us":
        return "{:.2f} us [{:.2f}-{:.2f}]".format(*a)
    return "{:.2f}x [{:.2f}-{:.2f}]".format(*a)


def ratio(a, b, higher_better):
    """a's advantage over b from the medians (>1: a is better), and
    [min-max] of the same ratio within each round."""
    x, y = agg(a), agg(b)
    if not x or not y:
        return "-", None
    ra, rb = by_round[a], by_round[b]
    if higher_better:
        v = x[0] / y[0]
        per = [ra[k] / rb[k] for k in ra if k in rb]
    else:
        v = y[0] / x[0]
        per = [rb[k] / ra[k] for k in ra if k in rb]
    return f"{v:.2f}x [{min(per):.2f}-{max(per):.2f}]", v


def cost(a, b):
    """How many times b's time a's is (>1: a is slower), from the medians,
    and [min-max] of the same ratio within each round."""
    x, y = agg(a), agg(b)
    if not x or not y:
        return "-", None
    ra, rb = by_round[a], by_round[b]
    per = [ra[k] / rb[k] for k in ra if k in rb]
    return f"{x[0] / y[0]:.2f}x [{min(per):.2f}-{max(per):.2f}]", x[0] / y[0]


def table(title, head, rows):
    w = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    print()
    print(title)
    print("  ".join(s.ljust(w[j]) for j, s in enumerate(head)).rstrip())
    print("  ".join("-" * x for x in w))
    for r in rows:
        print("  ".join(s.ljust(w[j]) for j, s in enumerate(r)).rstrip())


got = {}
rows = []
for bench, name in (("map-c1", "chunksize 1"),
                    ("map-default", "default chunksize")):
    m, p = ("mproc", bench, "none"), ("python", bench, "none")
    text, got[bench] = ratio(m, p, True)
    rows.append([name, cell(agg(m), "rate"), cell(agg(p), "rate"), text])
table("1. map of trivial tasks, Pool(2), tasks/s",
      ["map", "mproc", "python", "mproc speed-up"], rows)

rows = []
for a in ("none", "same", "split"):
    m, r = ("mproc", "apply", a), ("raw", "raw-rtt", a)
    p = ("python", "apply", a)
    text, v = cost(m, r)
    got[("apply", a)] = v
    rows.append([a, cell(agg(m), "us"), cell(agg(r), "us"),
                 cell(agg(p), "us"), text])
table("2. apply_async().get(), one at a time, median latency",
      ["placement", "mproc", "raw pipe round trip", "python",
       "mproc/raw (time)"], rows)

rows = []
for i in ("mproc", "python"):
    a = agg((i, "cpu", "none"))
    rows.append([i, cell(a, "x")])
    got[("cpu", i)] = a[0] if a else None
table("3. CPU-bound map on 2 workers, speed-up over a serial loop",
      ["impl", "speed-up"], rows)
print()
print("cells: median over rounds of per-run values [min-max over rounds];"
      " ratios from the medians, [min-max of that ratio within each round]")


def check(value, ok, text):
    if value is None:
        print(f"  ?       {text}: not measured")
    else:
        print(f"  {'met   ' if ok(value) else 'MISSED'}  {text}: {value:.2f}x")


print("targets (from the medians; CI does not judge speed):")
check(got.get("map-c1"), lambda v: v >= 20,
      "chunksize-1 map >= 20x Python's rate")
check(got.get("map-default"), lambda v: v >= 3,
      "default-chunksize map >= 3x Python's rate")
check(got.get(("apply", "none")), lambda v: v <= 1.5,
      "apply_async().get() within 1.5x of a raw pipe round trip (unpinned)")
for a in ("same", "split"):
    v = got.get(("apply", a))
    print(f"  (info)  the same, {a}: {v or 0:.2f}x")
check(got.get(("cpu", "mproc")), lambda v: v >= 1.8,
      "CPU-bound speed-up on 2 workers >= 1.8x")
EOF
