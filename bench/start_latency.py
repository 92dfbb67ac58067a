"""Process start+join latency of Python's multiprocessing.

The counterpart of bench/start_latency.c:

    python3 bench/start_latency.py spawn|fork|forkserver N

runs one untimed warm-up (it also starts the forkserver, whose start-up is
excluded), then N sequential

    p = ctx.Process(target=noop); p.start(); p.join()

with ctx = multiprocessing.get_context(method), each timed with
time.perf_counter_ns(). It prints one JSON line in the C program's format:

    {"impl": "python", "method": ..., "n": N,
     "median_us": ..., "mean_us": ..., "min_us": ...}

Without arguments it measures all three methods (N = 20 spawn, 100 fork,
50 forkserver) and prints three lines.
"""
import json
import multiprocessing as mp
import statistics
import sys
import time

DEFAULT_N = {"spawn": 20, "fork": 100, "forkserver": 50}


def noop():
    pass


def once(ctx):
    p = ctx.Process(target=noop)
    p.start()
    p.join()
    if p.exitcode != 0:
        raise SystemExit(f"start_latency.py: child exit code {p.exitcode}")


def bench(method, n):
    ctx = mp.get_context(method)
    once(ctx)  # warm-up
    t = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        once(ctx)
        t.append((time.perf_counter_ns() - t0) / 1e3)
    return {
        "impl": "python",
        "method": method,
        "n": n,
        "median_us": round(statistics.median(t), 1),
        "mean_us": round(statistics.fmean(t), 1),
        "min_us": round(min(t), 1),
    }


def main(argv):
    if len(argv) == 3 and argv[1] in DEFAULT_N:
        runs = [(argv[1], int(argv[2]))]
    elif len(argv) == 1:
        runs = list(DEFAULT_N.items())
    else:
        sys.exit("usage: start_latency.py [spawn|fork|forkserver N]")
    for method, n in runs:
        print(json.dumps(bench(method, n)), flush=True)


if __name__ == "__main__":
    main(sys.argv)
