"""Queue throughput and Pipe round trips of Python's multiprocessing.

The counterpart of bench/queue.c, with the same protocols:

    python3 bench/queue.py tput IMPL SIZE N [AFFINITY]
    python3 bench/queue.py rtt IMPL AFFINITY N

tput   one-way throughput, one producer process -> one consumer process,
       unpinned unless AFFINITY is given (the consumer is A, the producer
       B). The parent (consumer) makes one payload of SIZE random
       bytes (os.urandom: incompressible) and starts a fork child (the
       producer) that puts that bytes object N times. The consumer gets N
       messages and checks each one's length, and the last one's bytes.
       time.perf_counter_ns() is read when the first get returns and when
       the last one returns; the value is (N - 1) / that time, in msgs/s,
       and "mb_per_s" is the same in MB/s (10^6 B of payload). "wall_s" is
       the whole run, from before the producer is started to the last get.
         queue         mp.Queue(): put / get
         simplequeue   mp.SimpleQueue(): put / get

rtt    ping-pong of a 16-byte bytes message between the parent (A) and a
       fork child (B): A sends and waits for the reply, B receives and
       sends back what it got. N timed round trips (time.perf_counter_ns)
       after N/10 (at least 100) untimed; the value is the median, in us.
         bytes          one Pipe() (duplex, a socketpair), send_bytes /
                        recv_bytes
         bytes_simplex  two Pipe(duplex=False) (pipes), send_bytes /
                        recv_bytes
         value          one Pipe() (duplex), send / recv of the bytes object

AFFINITY: none; same (both processes on CPU 0); split (A on CPU 0, B on
CPU 1). The JSON line of tput carries it too ("none" when it is not given).

It prints one JSON line in the C program's format, with "impl" set to
"python" (tput queue, rtt bytes), "python_simplequeue", "python_simplex"
or "python_value".
"""
import os
import sys

# This file's directory is sys.path[0], where this file would shadow the
# standard library's queue module that multiprocessing.queues imports.
if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

RTT_SIZE = 16
AFFINITIES = ("none", "same", "split")
TPUT_NAMES = {"queue": "python", "simplequeue": "python_simplequeue"}
RTT_NAMES = {"bytes": "python", "bytes_simplex": "python_simplex",
             "value": "python_value"}


def place(aff, who):
    """Party 0 (A) on CPU 0; party 1 (B) on CPU 0 (same) or 1 (split)."""
    if aff != "none":
        os.sched_setaffinity(0, {1 if aff == "split" and who == 1 else 0})


def producer(q, payload, n, aff):
    place(aff, 1)
    put = q.put
    for _ in range(n):
        put(payload)


def bench_tput(impl, size, n, aff):
    ctx = mp.get_context("fork")
    place(aff, 0)
    payload = os.urandom(size)
    q = ctx.Queue() if impl == "queue" else ctx.SimpleQueue()
    clock = time.perf_counter_ns
    start = clock()
    p = ctx.Process(target=producer, args=(q, payload, n, aff))
    p.start()
    get = q.get
    first = None
    m = b""
    for i in range(n):
        m = get()
        if i == 0:
            first = clock()
        if len(m) != size:
            raise SystemExit(f"queue.py: message {i} has {len(m)} bytes, "
                             f"not {size}")
    last = clock()
    if m != payload:
        raise SystemExit("queue.py: the last message differs from the "
                         "payload")
    p.join()
    if p.exitcode != 0:
        raise SystemExit(f"queue.py: child exit code {p.exitcode}")
    rate = (n - 1) / ((last - first) / 1e9)
    return {"impl": TPUT_NAMES[impl], "bench": "tput", "size": size,
            "affinity": aff, "n": n,
            "unit": "msgs/s", "value": round(rate, 1),
            "mb_per_s": round(rate * size / 1e6, 2),
            "wall_s": round((last - start) / 1e9, 4)}


def pong(impl, rx, tx, aff, total):
    place(aff, 1)
    if impl == "value":
        recv, send = rx.recv, tx.send
    else:
        recv, send = rx.recv_bytes, tx.send_bytes
    for _ in range(total):
        send(recv())


def bench_rtt(impl, aff, n):
    ctx = mp.get_context("fork")
    warm = max(n // 10, 100)
    place(aff, 0)
    if impl == "bytes_simplex":
        b_rx, a_tx = ctx.Pipe(duplex=False)
        a_rx, b_tx = ctx.Pipe(duplex=False)
    else:
        a_rx, b_rx = ctx.Pipe()
        a_tx, b_tx = a_rx, b_rx
    p = ctx.Process(target=pong, args=(impl, b_rx, b_tx, aff, n + warm))
    p.start()
    msg = b"a" * RTT_SIZE
    if impl == "value":
        recv, send = a_rx.recv, a_tx.send
    else:
        recv, send = a_rx.recv_bytes, a_tx.send_bytes
    t = []
    clock = time.perf_counter_ns
    for i in range(-warm, n):
        t0 = clock()
        send(msg)
        m = recv()
        if i >= 0:
            t.append((clock() - t0) / 1e3)
    if len(m) != RTT_SIZE:
        raise SystemExit("queue.py: wrong reply")
    p.join()
    if p.exitcode != 0:
        raise SystemExit(f"queue.py: child exit code {p.exitcode}")
    med = statistics.median(t)
    return {"impl": RTT_NAMES[impl], "bench": "rtt", "affinity": aff, "n": n,
            "unit": "us", "value": round(med, 2), "median_us": round(med, 2),
            "mean_us": round(statistics.fmean(t), 2),
            "min_us": round(min(t), 2)}


def main(argv):
    usage = ("usage: queue.py tput queue|simplequeue SIZE N [none|same|split]\n"
             "       queue.py rtt bytes|bytes_simplex|value "
             "none|same|split N")
    if len(argv) not in (5, 6):
        sys.exit(usage)
    bench, impl, arg, n = argv[1], argv[2], argv[3], int(argv[4])
    aff = argv[5] if len(argv) == 6 else "none"
    if n < 2 or aff not in AFFINITIES:
        sys.exit(usage)
    if bench == "tput" and impl in TPUT_NAMES:
        line = bench_tput(impl, int(arg), n, aff)
    elif bench == "rtt" and impl in RTT_NAMES and arg in AFFINITIES and \
            len(argv) == 5:
        line = bench_rtt(impl, arg, n)
    else:
        sys.exit(usage)
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main(sys.argv)
