"""Python's Manager, the counterpart of bench/manager.c.

    python3 bench/manager.py pair N [P] a child: d['k'] = i; d['k'], N times:
                                        median us per pair; P places the
                                        manager and the child: none (the
                                        default), same (CPU 0) or split
                                        (manager on CPU 0, child on 1)
    python3 bench/manager.py tput N     4 children each do N d[key] = i at
                                        once: k operations/s
    python3 bench/manager.py create N   N m.dict() calls: median us each
    python3 bench/manager.py copy N     N d.copy() of a dict of 10,000
                                        integers: median us each

The manager and the children start by the platform's default method (fork
on Linux with Python 3.11), as in reference/baseline.md.
"""
import os
import sys

# bench/queue.py would shadow the standard library's queue, which the
# manager imports: this directory is not searched.
sys.path = [p for p in sys.path
            if os.path.abspath(p or ".") != os.path.dirname(
                os.path.abspath(__file__))]

import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

CLIENTS = 4


def warmup(n):
    return max(100, n // 10)


def place(aff, who):
    if aff != "none":
        os.sched_setaffinity(0, {1 if aff == "split" and who == 1 else 0})


def pair_child(d, n, aff, q):
    place(aff, 1)
    t = []
    for i in range(-warmup(n), n):
        t0 = time.perf_counter_ns()
        d['k'] = i
        d['k']
        if i >= 0:
            t.append((time.perf_counter_ns() - t0) / 1e3)
    q.put(statistics.median(t))


def tput_child(d, key, n):
    for i in range(n):
        d[key] = i


def emit(bench, aff, value):
    print(json.dumps({"impl": "python", "bench": bench, "affinity": aff,
                      "value": round(value, 3)}))


def main():
    bench, n = sys.argv[1], int(sys.argv[2])
    aff = sys.argv[3] if len(sys.argv) > 3 else "none"
    place(aff, 0)  # the manager's process inherits it
    with mp.Manager() as m:
        d = m.dict()
        if bench == "pair":
            q = mp.Queue()
            p = mp.Process(target=pair_child, args=(d, n, aff, q))
            p.start()
            value = q.get()
            p.join()
        elif bench == "tput":
            t0 = time.monotonic()
            ps = [mp.Process(target=tput_child, args=(d, k, n))
                  for k in range(CLIENTS)]
            for p in ps:
                p.start()
            for p in ps:
                p.join()
            value = CLIENTS * n / (time.monotonic() - t0) / 1e3
        elif bench == "copy":
            d.update({i: i for i in range(10000)})
            t = []
            for _ in range(n):
                t0 = time.perf_counter_ns()
                c = d.copy()
                t.append((time.perf_counter_ns() - t0) / 1e3)
                assert len(c) == 10000
            value = statistics.median(t)
        else:
            t, made = [], []
            for _ in range(n):
                t0 = time.perf_counter_ns()
                made.append(m.dict())
                t.append((time.perf_counter_ns() - t0) / 1e3)
            value = statistics.median(t)
        emit(bench, aff, value)


if __name__ == "__main__":
    main()
