#!/usr/bin/env python3
"""Draw a benchmark run's figures as SVG charts, with gnuplot.

    bench/charts.py JSON_FILE... OUT_DIR

Each JSON_FILE is what bench/run.sh, bench/run_queue.sh, bench/run_sync.sh or
bench/run_pool.sh wrote with BENCH_JSON=file (several may be concatenated into
one file): one JSON line per run, after a {"meta": ...} line that names the
machine. A value drawn is the median over rounds of the per-run values, as in
the scripts' tables. One chart is written per family whose runs are present:

    start.svg   process start+join latency per start method (run.sh)
    queue.svg   queue throughput by message size (run_queue.sh)
    pipe.svg    pipe round trip, 16 B (run_queue.sh)
    locks.svg   lock acquire+release, uncontended and contended (run_sync.sh)
    events.svg  Event and Semaphore round trips (run_sync.sh)
    pool.svg    a pool's map of trivial tasks, tasks/s (run_pool.sh)
    pool_apply.svg  a pool's apply_async().get() beside a raw pipe round
                trip, by placement (run_pool.sh)

The manager has no benchmarks yet, so it has no chart.

Environment: GNUPLOT, the gnuplot program (default gnuplot). Only the
standard library is used; gnuplot draws, this script aggregates.
"""

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

SIZE_NAMES = {16: "16 B", 1024: "1 KiB", 65536: "64 KiB", 1048576: "1 MiB"}
PLACES = ("none", "same", "split")
PLACE_NAMES = {"none": "unpinned", "same": "same CPU", "split": "two CPUs"}


def load(paths):
    """Every result line of the files, and the meta lines apart."""
    rows, metas = [], []
    for p in paths:
        with open(p) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                except ValueError as e:
                    sys.exit(f"charts.py: {p}:{n}: not JSON: {e}")
                if "meta" in r:
                    metas.append(r)
                elif "impl" in r:
                    rows.append(r)
    return rows, metas


def medians(rows, key, value):
    """{key(row): median of value(row)} over the rows key() accepts."""
    got = {}
    for r in rows:
        k = key(r)
        if k is not None:
            got.setdefault(k, []).append(value(r))
    return {k: statistics.median(v) for k, v in got.items()}


def subtitle(metas, scripts):
    """The machine line of the run that made this chart's figures, on two
    lines: when and where; then the load, the build and the rounds."""
    for m in metas:
        if m["meta"] in scripts:
            parts = m.get("machine", "").split("; load ")
            first = [parts[0]]
            second = ["load " + parts[1]] if len(parts) > 1 else []
            if m.get("build_type"):
                second.append(f"{m['build_type']} build")
            if m.get("rounds"):
                second.append(f"median of {m['rounds']} rounds")
            return "\n".join(["; ".join(first), "; ".join(second)])
    return "machine not recorded"


def quote(s):
    """A gnuplot string literal (double quotes, escapes as in C)."""
    s = s.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + s.replace("\n", "\\n") + '"'


def fmt(v):
    return "?" if v is None else f"{v:.6g}"


def log_range(values):
    """A y range of whole decades around the values, for a log axis."""
    vs = [v for v in values if v is not None and v > 0]
    if not vs:
        return "[*:*]"
    lo = 10 ** math.floor(math.log10(min(vs)))
    hi = 10 ** math.ceil(math.log10(max(vs) * 1.5))
    return f"[{lo:g}:{hi:g}]"


def header(out, title, sub, ylabel):
    return [
        "set terminal svg size 960,540 dynamic noenhanced "
        "font 'sans,12' background rgb 'white'",
        f"set output {quote(out)}",
        f"set title {quote(title + chr(10) + sub)}",
        "set title font 'sans,14'",
        f"set ylabel {quote(ylabel)}",
        "set datafile missing '?'",
        "set key outside right top vertical",
        "set grid ytics mytics",
        "set logscale y",
        "set format y '%.10g'",
    ]


def bars(workdir, out, title, sub, ylabel, groups, series, value):
    """A clustered bar chart: one cluster per group, one bar per series;
    value(group, series) is the figure or None."""
    data = os.path.join(workdir, os.path.basename(out) + ".dat")
    vals = []
    with open(data, "w") as f:
        for gkey, gname in groups:
            row = [value(gkey, s) for s, _ in series]
            vals += row
            f.write(quote(gname) + " " + " ".join(fmt(v) for v in row) + "\n")
    gp = header(out, title, sub, ylabel) + [
        "set style data histogram",
        "set style histogram clustered gap 1",
        "set style fill solid 0.85 border -1",
        "set boxwidth 0.9",
        f"set yrange {log_range(vals)}",
        "set xtics nomirror",
        "set bmargin 4",
    ]
    plots = []
    for i, (_, sname) in enumerate(series):
        src = quote(data) if i == 0 else "''"
        plots.append(f"{src} using {i + 2}:xtic(1) title {quote(sname)}")
    gp.append("plot " + ", ".join(plots))
    return gp


def chart_start(rows, metas, workdir, outdir):
    med = medians([r for r in rows if "method" in r],
                  lambda r: (r["impl"], r["method"]),
                  lambda r: r["median_us"])
    if not med:
        return None
    # The raw OS reference of each method: what it cannot beat.
    raw_of = {"spawn": "posix_spawn", "fork": "fork", "forkserver": "fork"}
    methods = [m for m in ("spawn", "fork", "forkserver")
               if any(k[1] == m for k in med)]
    out = os.path.join(outdir, "start.svg")
    return out, bars(
        workdir, out, "Process start + join latency (lower is better)",
        subtitle(metas, ("run.sh",)), "median time per process (us, log)",
        [(m, f"{m} (raw: {raw_of[m]})") for m in methods],
        [("mproc", "mproc"), ("python", "Python multiprocessing"),
         ("raw", "raw OS calls")],
        lambda m, s: med.get((s, raw_of[m] if s == "raw" else m)))


def chart_queue(rows, metas, workdir, outdir):
    tput = [r for r in rows if r.get("bench") == "tput"
            and r.get("affinity", "none") == "none"]
    med = medians(tput, lambda r: (r["impl"], r["size"]),
                  lambda r: r["mb_per_s"])
    impls = [(i, n) for i, n in (
        ("mproc", "mproc Queue"),
        ("mproc_p4c4", "mproc Queue, 4 producers and 4 consumers"),
        ("python", "Python multiprocessing.Queue"),
        ("raw_pipe1m", "raw pipe (1 MiB buffer)"),
        ("raw_shmring", "raw shared-memory ring"),
        ("raw_shmring_crc32", "raw shared-memory ring with zlib crc32"))
        if any(k[0] == i for k in med)]
    if not impls:
        return None
    sizes = sorted({k[1] for k in med})
    data = os.path.join(workdir, "queue.dat")
    with open(data, "w") as f:
        for s in sizes:
            f.write(f"{s} " + " ".join(fmt(med.get((i, s))) for i, _ in impls)
                    + "\n")
    out = os.path.join(outdir, "queue.svg")
    gp = header(out, "Queue throughput, one producer to one consumer process"
                " (higher is better)", subtitle(metas, ("run_queue.sh",)),
                "median throughput (MB/s, log)") + [
        "set logscale x 2",
        "set xlabel 'message size (log)'",
        "set xtics (" + ", ".join(f"{quote(SIZE_NAMES.get(s, str(s)))} {s}"
                                  for s in sizes) + ")",
        f"set xrange [{sizes[0] / 2:g}:{sizes[-1] * 2:g}]",
        f"set yrange {log_range(list(med.values()))}",
    ]
    plots = []
    for n, (_, name) in enumerate(impls):
        src = quote(data) if n == 0 else "''"
        plots.append(f"{src} using 1:{n + 2} with linespoints lw 2 pt 7 "
                     f"title {quote(name)}")
    gp.append("plot " + ", ".join(plots))
    return out, gp


def chart_pipe(rows, metas, workdir, outdir):
    med = medians([r for r in rows if r.get("bench") == "rtt"
                   and r["impl"] in RTT_SERIES_KEYS],
                  lambda r: (r["impl"], r["affinity"]),
                  lambda r: r["value"])
    if not med:
        return None
    places = [a for a in PLACES if any(k[1] == a for k in med)]
    series = [(i, n) for i, n in RTT_SERIES if any(k[0] == i for k in med)]
    out = os.path.join(outdir, "pipe.svg")
    return out, bars(
        workdir, out, "Pipe round trip, 16 B message (lower is better)",
        subtitle(metas, ("run_queue.sh",)),
        "median round trip (us, log)",
        [(a, PLACE_NAMES[a]) for a in places], series,
        lambda a, s: med.get((s, a)))


RTT_SERIES = (
    ("mproc_bytes", "mproc send_bytes (duplex)"),
    ("mproc_bytes_simplex", "mproc send_bytes (two one-way)"),
    ("mproc_value", "mproc send (a value)"),
    ("python", "Python send_bytes (duplex)"),
    ("python_simplex", "Python send_bytes (two one-way)"),
    ("python_value", "Python send (a value)"),
    ("raw_pipe", "raw pipe pair"),
    ("raw_socketpair", "raw socketpair"),
)
RTT_SERIES_KEYS = {i for i, _ in RTT_SERIES}
SYNC_SERIES = (("mproc", "mproc"), ("python", "Python multiprocessing"),
               ("raw", "raw POSIX"), ("raw_robust", "raw POSIX, robust"))


def chart_locks(rows, metas, workdir, outdir):
    # Both figures as the time one operation takes: 1000 / (M ops/s) ns.
    med = medians([r for r in rows
                   if r.get("bench") in ("lock", "contended")],
                  lambda r: (r["impl"], r["bench"], r["affinity"]),
                  lambda r: 1000.0 / r["value"])
    if not med:
        return None
    groups = []
    if any(k[1] == "lock" for k in med):
        groups.append((("lock", "none"), "uncontended"))
    for a in PLACES:
        if any(k[1:] == ("contended", a) for k in med):
            groups.append((("contended", a),
                           f"2 contending\n{PLACE_NAMES[a]}"))
    series = [s for s in SYNC_SERIES if any(k[0] == s[0] for k in med)]
    out = os.path.join(outdir, "locks.svg")
    return out, bars(
        workdir, out, "Lock: acquire + release, alone and with 2 processes"
        " contending (lower is better)", subtitle(metas, ("run_sync.sh",)),
        "median time per acquire+release (ns, log)",
        groups, series, lambda g, s: med.get((s,) + g))


def chart_events(rows, metas, workdir, outdir):
    med = medians([r for r in rows if r.get("bench") in ("event", "sem")],
                  lambda r: (r["impl"], r["bench"], r["affinity"]),
                  lambda r: r["value"])
    if not med:
        return None
    names = {"event": "Event", "sem": "Semaphore"}
    groups = [((b, a), f"{names[b]}\n{PLACE_NAMES[a]}")
              for b in ("event", "sem") for a in PLACES
              if any(k[1:] == (b, a) for k in med)]
    series = [s for s in SYNC_SERIES if any(k[0] == s[0] for k in med)]
    out = os.path.join(outdir, "events.svg")
    return out, bars(
        workdir, out, "Event and Semaphore: signal and wake another process,"
        " round trip (lower is better)", subtitle(metas, ("run_sync.sh",)),
        "median round trip (us, log)", groups, series,
        lambda g, s: med.get((s,) + g))


def chart_pool(rows, metas, workdir, outdir):
    med = medians([r for r in rows
                   if r.get("bench") in ("map-c1", "map-default")],
                  lambda r: (r["impl"], r["bench"]),
                  lambda r: r["value"])
    if not med:
        return None
    groups = [(b, n) for b, n in (("map-c1", "chunksize 1"),
                                  ("map-default", "default chunksize"))
              if any(k[1] == b for k in med)]
    series = [(i, n) for i, n in (("mproc", "mproc Pool"),
                                  ("python", "Python multiprocessing.Pool"))
              if any(k[0] == i for k in med)]
    out = os.path.join(outdir, "pool.svg")
    return out, bars(
        workdir, out, "Pool(2): map of trivial tasks (higher is better)",
        subtitle(metas, ("run_pool.sh",)), "median tasks/s (log)",
        groups, series, lambda b, s: med.get((s, b)))


def chart_pool_apply(rows, metas, workdir, outdir):
    med = medians([r for r in rows if r.get("bench") in ("apply", "raw-rtt")],
                  lambda r: (r["impl"], r.get("affinity", "none")),
                  lambda r: r["value"])
    if not med:
        return None
    places = [a for a in PLACES if any(k[1] == a for k in med)]
    series = [(i, n) for i, n in (
        ("mproc", "mproc apply_async().get()"),
        ("python", "Python apply_async().get()"),
        ("raw", "raw pipe round trip"))
        if any(k[0] == i for k in med)]
    out = os.path.join(outdir, "pool_apply.svg")
    return out, bars(
        workdir, out, "Pool(2): one call's round trip (lower is better)",
        subtitle(metas, ("run_pool.sh",)), "median latency (us, log)",
        [(a, PLACE_NAMES[a]) for a in places], series,
        lambda a, s: med.get((s, a)))


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    rows, metas = load(argv[1:-1])
    outdir = argv[-1]
    os.makedirs(outdir, exist_ok=True)
    gnuplot = os.environ.get("GNUPLOT", "gnuplot")
    made = []
    with tempfile.TemporaryDirectory() as workdir:
        for chart in (chart_start, chart_queue, chart_pipe, chart_locks,
                      chart_events, chart_pool, chart_pool_apply):
            got = chart(rows, metas, workdir, outdir)
            if got is None:
                continue
            out, gp = got
            script = os.path.join(workdir, os.path.basename(out) + ".gp")
            with open(script, "w") as f:
                f.write("\n".join(gp) + "\n")
            try:
                subprocess.run([gnuplot, script], check=True)
            except (OSError, subprocess.CalledProcessError) as e:
                sys.exit(f"charts.py: {gnuplot} failed on {out}: {e}")
            made.append(out)
    if not made:
        sys.exit("charts.py: no benchmark results in " + " ".join(argv[1:-1]))
    for out in made:
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
