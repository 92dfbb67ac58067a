"""Python's multiprocessing.Pool, the counterpart of bench/pool.c.

    python3 bench/pool.py BENCH N

    map-c1       pool.map(f, range(N) as a list, chunksize=1)
    map-default  the same with the default chunksize
    apply        pool.apply_async(f, (i,)).get(), one at a time
    cpu          a CPU-bound map with chunksize 1, 2 workers vs a loop

The pool has 2 workers, started with Python's default method (fork on
Linux) before the clock runs; the trivial task returns its argument. The
protocols are bench/pool.c's: the map rates are the median of 5 maps after
one untimed; apply is the median latency of N calls after N/10 (at least
100) untimed; cpu times a loop over the items in this process, then the
pool's map of the same, and gives the loop's time over the pool's. Each
CPU-bound item is a loop of 2,000,000 steps of the C program's multiply-add,
which takes Python far longer than C: the speed-up, not the time, is what
compares.

It prints one JSON line in the C program's format:

    {"impl": "python", "bench": ..., "n": N, "unit": ..., "value": ...}
"""
import os
import sys

# bench/queue.py, beside this file, would stand in for the standard queue
# module that multiprocessing.pool imports: this directory goes first.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

CPU_ROUNDS = 2_000_000 // 50  # Python is about 50x slower per step
MASK = (1 << 64) - 1


def identity(x):
    return x


def burn(seed):
    acc = seed | 1
    for _ in range(CPU_ROUNDS):
        acc = (acc * 6364136223846793005 + 1442695040888963407) & MASK
    return acc


def line(bench, n, unit, value, **extra):
    d = {"impl": "python", "bench": bench, "n": n, "unit": unit,
         "value": round(value, 3)}
    d.update(extra)
    print(json.dumps(d), flush=True)


def bench_map(pool, n, chunksize, name):
    items = list(range(n))
    rates = []
    for r in range(-1, 5):
        t0 = time.perf_counter()
        out = pool.map(identity, items, chunksize) if chunksize else \
            pool.map(identity, items)
        dt = time.perf_counter() - t0
        assert len(out) == n and out[-1] == n - 1
        if r >= 0:
            rates.append(n / dt)
    line(name, n, "tasks/s", statistics.median(rates))


def bench_apply(pool, n):
    warm = max(n // 10, 100)
    times = []
    for i in range(-warm, n):
        t0 = time.perf_counter()
        v = pool.apply_async(identity, (i,)).get()
        dt = time.perf_counter() - t0
        assert v == i
        if i >= 0:
            times.append(dt * 1e6)
    line("apply", n, "us", statistics.median(times),
         mean_us=round(statistics.mean(times), 2))


def bench_cpu(pool, n):
    items = list(range(n))
    t0 = time.perf_counter()
    serial = [burn(i) for i in items]
    ts = time.perf_counter() - t0
    t0 = time.perf_counter()
    pooled = pool.map(burn, items, 1)
    tp = time.perf_counter() - t0
    assert serial == pooled
    line("cpu", n, "x", ts / tp, serial_s=round(ts, 4), pool_s=round(tp, 4))


def main():
    bench, n = sys.argv[1], int(sys.argv[2])
    with mp.Pool(2) as pool:
        pool.map(identity, range(4))
        if bench == "map-c1":
            bench_map(pool, n, 1, bench)
        elif bench == "map-default":
            bench_map(pool, n, None, bench)
        elif bench == "apply":
            bench_apply(pool, n)
        elif bench == "cpu":
            bench_cpu(pool, n)
        else:
            sys.exit(f"unknown benchmark {bench}")


if __name__ == "__main__":
    main()
