"""Synchronization speed of Python's multiprocessing.

The counterpart of bench/sync.c, with the same protocols:

    python3 bench/sync.py BENCH AFFINITY N

    lock       N uncontended `acquire(); release()` pairs of an mp.Lock in
               one process (bound methods looked up once), in 10 chunks of
               N/10 after an untimed warm-up of N/10; the value is the median
               chunk rate, in M ops/s.
    contended  two fork children each do N times
                   with lock: v.value += 1
               on an mp.Lock and v = Value('q', 0, lock=False). They meet at
               a sched_yield() barrier in a RawArray, then each reads
               time.monotonic_ns() (CLOCK_MONOTONIC, as the C side) before
               and after its loop; the value is 2N / (last end - first
               start), in M increments/s. v.value is checked to be 2N.
    event      ping-pong between the parent (A) and a fork child (B) on two
               mp.Event: A sets e1, waits e2, clears e2; B waits e1, clears
               e1, sets e2. N timed round trips (time.perf_counter_ns) after
               N/10 (at least 100) untimed; the value is the median, in us.
    sem        the same with two mp.Semaphore(0): A releases s1 and acquires
               s2; B acquires s1 and releases s2.

AFFINITY: none; same (both processes on CPU 0); split (CPU 0 and CPU 1;
for event and sem the parent is on CPU 0). `lock` takes only none.

It prints one JSON line in the C program's format:

    {"impl": "python", "bench": ..., "affinity": ..., "n": N, "unit": ...,
     "value": ..., ...}
"""
import json
import multiprocessing as mp
import os
import statistics
import sys
import time

CHUNKS = 10


def place(aff, who):
    """Party 0 on CPU 0; party 1 on CPU 0 (same) or CPU 1 (split)."""
    if aff != "none":
        os.sched_setaffinity(0, {1 if aff == "split" and who == 1 else 0})


def rate_line(bench, aff, n, unit, ops_per_s):
    return {"impl": "python", "bench": bench, "affinity": aff, "n": n,
            "unit": unit, "value": round(ops_per_s / 1e6, 3),
            "ns_per_op": round(1e9 / ops_per_s, 2)}


def bench_lock(n):
    lock = mp.Lock()
    acquire, release = lock.acquire, lock.release
    chunk = max(n // CHUNKS, 1)
    rates = []
    for c in range(-1, CHUNKS):
        t0 = time.perf_counter_ns()
        for _ in range(chunk):
            acquire()
            release()
        dt = time.perf_counter_ns() - t0
        if c >= 0:
            rates.append(chunk / (dt / 1e9))
    return rate_line("lock", "none", chunk * CHUNKS, "Mops/s",
                     statistics.median(rates))


def contender(lock, v, ready, times, who, aff, n):
    place(aff, who)
    ready[who] = 1
    while not (ready[0] and ready[1]):
        os.sched_yield()
    times[2 * who] = time.monotonic_ns()
    for _ in range(n):
        with lock:
            v.value += 1
    times[2 * who + 1] = time.monotonic_ns()


def bench_contended(aff, n):
    ctx = mp.get_context("fork")
    lock = ctx.Lock()
    v = ctx.Value("q", 0, lock=False)
    ready = ctx.RawArray("i", 2)
    times = ctx.RawArray("q", 4)
    ps = [ctx.Process(target=contender,
                      args=(lock, v, ready, times, who, aff, n))
          for who in (0, 1)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"sync.py: child exit code {p.exitcode}")
    if v.value != 2 * n:
        raise SystemExit(f"sync.py: counter is {v.value}, not {2 * n}")
    elapsed = (max(times[1], times[3]) - min(times[0], times[2])) / 1e9
    return rate_line("contended", aff, n, "Mincr/s", 2 * n / elapsed)


def pong_event(e1, e2, aff, total):
    place(aff, 1)
    for _ in range(total):
        e1.wait()
        e1.clear()
        e2.set()


def pong_sem(s1, s2, aff, total):
    place(aff, 1)
    for _ in range(total):
        s1.acquire()
        s2.release()


def bench_rtt(bench, aff, n):
    ctx = mp.get_context("fork")
    warm = max(n // 10, 100)
    place(aff, 0)
    if bench == "event":
        a, b = ctx.Event(), ctx.Event()
        target = pong_event
    else:
        a, b = ctx.Semaphore(0), ctx.Semaphore(0)
        target = pong_sem
    p = ctx.Process(target=target, args=(a, b, aff, n + warm))
    p.start()
    t = []
    clock = time.perf_counter_ns
    if bench == "event":
        for i in range(-warm, n):
            t0 = clock()
            a.set()
            b.wait()
            b.clear()
            if i >= 0:
                t.append((clock() - t0) / 1e3)
    else:
        for i in range(-warm, n):
            t0 = clock()
            a.release()
            b.acquire()
            if i >= 0:
                t.append((clock() - t0) / 1e3)
    p.join()
    if p.exitcode != 0:
        raise SystemExit(f"sync.py: child exit code {p.exitcode}")
    med = statistics.median(t)
    return {"impl": "python", "bench": bench, "affinity": aff, "n": n,
            "unit": "us", "value": round(med, 2), "median_us": round(med, 2),
            "mean_us": round(statistics.fmean(t), 2),
            "min_us": round(min(t), 2)}


def main(argv):
    usage = "usage: sync.py lock|contended|event|sem none|same|split N"
    if len(argv) != 4 or argv[2] not in ("none", "same", "split"):
        sys.exit(usage)
    bench, aff, n = argv[1], argv[2], int(argv[3])
    if bench == "lock" and aff == "none":
        line = bench_lock(n)
    elif bench == "contended":
        line = bench_contended(aff, n)
    elif bench in ("event", "sem"):
        line = bench_rtt(bench, aff, n)
    else:
        sys.exit(usage)
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main(sys.argv)
