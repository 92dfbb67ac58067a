#!/usr/bin/env bash
# Managers: mproc's beside Python's multiprocessing.Manager, and beside two
# raw round trips on the same transport, in the same run. See
# bench/README.md ("Managers").
#
#   bench/run_manager.sh [BUILD_DIR]     (default: build; nothing is built here)
#
# Environment:
#   BENCH_ROUNDS        rounds (default 7)
#   BENCH_N_PAIR        set+get pairs per C run, and raw round-trip pairs (20000)
#   BENCH_N_PY_PAIR     the same for Python (default 5000)
#   BENCH_N_TPUT        sets per client, 4 clients, C (default 20000)
#   BENCH_N_PY_TPUT     the same for Python (default 3000)
#   BENCH_N_CREATE      dicts created per C run (default 2000)
#   BENCH_N_PY_CREATE   the same for Python (default 200)
#   BENCH_N_COPY        copies of a 10,000-entry dict per C run (default 100)
#   BENCH_N_PY_COPY     the same for Python (default 50)
#   BENCH_JSON          if set, a file that receives every JSON line
#   PYTHON              the interpreter (default python3)
#
# Each round runs every benchmark once, as a fresh process, in an order that
# rotates from round to round. A cell is the median over rounds of the
# per-run values, with min-max over rounds.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
bench_start "${1:-build}" bench_manager 7
n_pair=${BENCH_N_PAIR:-20000}
n_py_pair=${BENCH_N_PY_PAIR:-5000}
n_tput=${BENCH_N_TPUT:-20000}
n_py_tput=${BENCH_N_PY_TPUT:-3000}
n_create=${BENCH_N_CREATE:-2000}
n_py_create=${BENCH_N_PY_CREATE:-200}
n_copy=${BENCH_N_COPY:-100}
n_py_copy=${BENCH_N_PY_COPY:-50}

bench_need_two_cpus "the split placement"
# One entry per benchmark: "IMPL BENCH PLACEMENT"; run_bench runs it once.
benches=()
for a in none same split; do
    benches+=("mproc pair $a" "raw raw $a" "python pair $a")
done
benches+=("mproc tput none" "python tput none" "mproc create none"
    "python create none" "mproc copy none" "python copy none")
run_bench() {
    local impl=$1 bench=$2 aff=$3
    case $impl/$bench in
    mproc/pair) "$exe" pair "$n_pair" "$aff" ;;
    raw/raw) "$exe" raw "$n_pair" "$aff" ;;
    python/pair) "$py" "$here/manager.py" pair "$n_py_pair" "$aff" ;;
    mproc/tput) "$exe" tput "$n_tput" ;;
    python/tput) "$py" "$here/manager.py" tput "$n_py_tput" ;;
    mproc/create) "$exe" create "$n_create" ;;
    python/create) "$py" "$here/manager.py" create "$n_py_create" ;;
    mproc/copy) "$exe" copy "$n_copy" ;;
    python/copy) "$py" "$here/manager.py" copy "$n_py_copy" ;;
    esac
}

results=$(mktemp)
trap 'rm -f "$results"' EXIT

echo "managers: $rounds rounds of ${#benches[@]} runs; N (C/Python):" \
    "pairs $n_pair/$n_py_pair, sets per client $n_tput/$n_py_tput," \
    "creations $n_create/$n_py_create, copies $n_copy/$n_py_copy"
bench_header
bench_rounds

"$py" - "$results" <<'PY'
import json
import statistics
import sys

runs, by_round = {}, {}
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        key = (r["impl"], r["bench"], r["affinity"])
        runs.setdefault(key, []).append(r["value"])
        by_round.setdefault(key, {})[r["round"]] = r["value"]


def agg(key):
    v = runs.get(key)
    return (statistics.median(v), min(v), max(v)) if v else None


def cell(a, unit):
    if not a:
        return "-"
    return "{:.1f} {} [{:.1f}-{:.1f}]".format(a[0], unit, a[1], a[2])


def ratio(a, b):
    """a's median over b's, and [min-max] of the same within each round."""
    x, y = agg(a), agg(b)
    if not x or not y:
        return None, "-"
    ra, rb = by_round[a], by_round[b]
    per = [ra[k] / rb[k] for k in ra if k in rb]
    v = x[0] / y[0]
    return v, f"{v:.2f}x [{min(per):.2f}-{max(per):.2f}]"


got = {}
print()
print("set+get pair from a child, median us per pair; raw = two round trips"
      " of a 16-byte message on the same transport")
head = ["placement", "mproc", "raw", "Python", "mproc's speed-up",
        "pair / raw"]
table = [head]
for a in ("none", "same", "split"):
    m, r, p = ("mproc", "pair", a), ("raw", "raw", a), ("python", "pair", a)
    speed, stext = ratio(p, m)
    over, otext = ratio(m, r)
    got[("pair", a)] = speed
    got[("raw", a)] = over
    table.append([a, cell(agg(m), "us"), cell(agg(r), "us"),
                  cell(agg(p), "us"), stext, otext])
w = [max(len(row[i]) for row in table) for i in range(len(head))]
for i, row in enumerate(table):
    print("  ".join(x.ljust(w[j]) for j, x in enumerate(row)).rstrip())
    if i == 0:
        print("  ".join("-" * x for x in w))

print()
rows = [("throughput, 4 client processes", "tput", "k ops/s"),
        ("create a dict", "create", "us"),
        ("copy of a 10,000-entry dict", "copy", "us")]
head = ["", "mproc", "Python", "mproc's speed-up"]
table = [head]
for title, bench, unit in rows:
    m, p = ("mproc", bench, "none"), ("python", bench, "none")
    v, text = ratio(m, p) if bench == "tput" else ratio(p, m)
    got[bench] = v
    table.append([title, cell(agg(m), unit), cell(agg(p), unit), text])
w = [max(len(row[i]) for row in table) for i in range(len(head))]
for i, row in enumerate(table):
    print("  ".join(x.ljust(w[j]) for j, x in enumerate(row)).rstrip())
    if i == 0:
        print("  ".join("-" * x for x in w))
print()
print("cells: median over rounds of per-run values [min-max over rounds];")
print("ratios from the medians, [min-max of the ratio within each round]")


def check(value, ok, text):
    if value is None:
        print(f"  ?       {text}: not measured")
    else:
        print(f"  {'met   ' if ok(value) else 'MISSED'}  {text}: {value:.2f}x")


print("targets (from the medians):")
for a in ("none", "same", "split"):
    check(got.get(("pair", a)), lambda v: v >= 10,
          f"pair ({a}) >= 10x faster than Python")
    check(got.get(("raw", a)), lambda v: v <= 1.5,
          f"pair ({a}) within 1.5x of two raw round trips")
check(got.get("create"), lambda v: v >= 50,
      "creation >= 50x faster than Python")
print(f"  (info)  throughput: {got.get('tput') or 0:.2f}x Python's;"
      f" copy: {got.get('copy') or 0:.2f}x Python's speed")
PY
