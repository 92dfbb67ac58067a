"""Python's Value and Array, the counterpart of bench/shared.c.

    python3 bench/shared.py value N   two processes: with v.get_lock(): v.value += 1
    python3 bench/shared.py array N   a[i % 1000] = float(i) on Array('d', 1000)
"""
import json
import multiprocessing as mp
import sys
import time


def adder(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def main():
    bench, n = sys.argv[1], int(sys.argv[2])
    if bench == "value":
        v = mp.Value("q", 0)
        t0 = time.monotonic()
        ps = [mp.Process(target=adder, args=(v, n)) for _ in range(2)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        dt = time.monotonic() - t0
        assert v.value == 2 * n
        rate = 2 * n / dt
    else:
        a = mp.Array("d", 1000)
        t0 = time.monotonic()
        for i in range(n):
            a[i % 1000] = float(i)
        rate = n / (time.monotonic() - t0)
    print(json.dumps({"impl": "python", "bench": bench,
                      "value": round(rate / 1e6, 3)}))


if __name__ == "__main__":
    main()
