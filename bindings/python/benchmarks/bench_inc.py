"""Cost of one increment, measured in one run:

* ``shmmetrics.Counter.inc()``;
* prometheus_client's ``Counter.inc()`` in multiprocess mode (PROMETHEUS_MULTIPROC_DIR set,
  the mode whose job shmmetrics does: values shared between processes through files);
* a bare ctypes call to a no-op-sized C function (``shm_abi_version()`` declared the usual
  way: CDLL, ``argtypes = []``, ``restype = c_uint32``).

plus a few other operations for context. Usage::

    python bench_inc.py [--number N] [--rounds R] [--quick]

Each round times N calls of every case in turn (interleaved, so a slow moment of the machine
hits every case alike); a case's figure is its best round, minus the best round of an empty
statement (the timing loop's own cost). Ratios come from the same run. Nothing is asserted:
the script prints, ``make python-bench`` runs it, docs/BENCHMARKS.md records results.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import shutil
import sys
import tempfile
import timeit
from typing import Dict, List, Tuple


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--number", type=int, default=200_000, help="calls per case per round")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds; the best counts")
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny numbers, results meaningless")
    args = ap.parse_args(argv)
    if args.quick:
        args.number, args.rounds = 2000, 2

    workdir = tempfile.mkdtemp(prefix="shmmetrics-bench-")
    try:
        # prometheus_client picks its value class at import: multiprocess mode needs the
        # directory in the environment before the import.
        prom_dir = os.path.join(workdir, "prometheus")
        os.mkdir(prom_dir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prom_dir
        import prometheus_client
        from prometheus_client import values

        import shmmetrics
        from shmmetrics import _ffi

        assert values.ValueClass.__name__ != "MutexValue", "prometheus_client is not in multiprocess mode"

        zone = shmmetrics.Zone(path=os.path.join(workdir, "bench.zone"))
        counter = zone.counter("bench_requests_total")
        gauge = zone.gauge("bench_gauge")
        gauge_f = zone.gauge_f64("bench_gauge_f64")
        prom = prometheus_client.Counter("bench_requests", "bench", registry=None)

        # The baseline: a bare ctypes call, declared the usual way.
        cdll = ctypes.CDLL(_ffi.LIBRARY_PATH)
        abi = cdll.shm_abi_version
        abi.argtypes = []
        abi.restype = ctypes.c_uint32
        pydll = ctypes.PyDLL(_ffi.LIBRARY_PATH)
        abi_py = pydll.shm_abi_version
        abi_py.argtypes = []
        abi_py.restype = ctypes.c_uint32
        # What a straightforward binding would do: the declared function, argtypes converting
        # the handle and the amount on every call.
        naive = _ffi.lib.shm_counter_inc
        handle = counter._ptr

        cases: List[Tuple[str, str]] = [
            ("shm", "counter.inc()"),
            ("prom", "prom.inc()"),
            ("bare", "abi()"),
            ("bare_pydll", "abi_py()"),
            ("naive", "naive(handle, 1)"),
            ("inc5", "counter.inc(5)"),
            ("count", "counter.count"),
            ("gauge_set", "gauge.set(42)"),
            ("gauge_inc", "gauge.inc()"),
            ("float_add", "gauge_f.add(0.5)"),
            ("empty", "pass"),
        ]
        labels: Dict[str, str] = {
            "shm": "shmmetrics Counter.inc()",
            "prom": "prometheus_client multiprocess Counter.inc()",
            "bare": "bare ctypes call shm_abi_version() (CDLL)",
            "bare_pydll": "bare ctypes call shm_abi_version() (PyDLL)",
            "naive": "declared shm_counter_inc(h, 1) (argtypes, CDLL)",
            "inc5": "shmmetrics Counter.inc(5)",
            "count": "shmmetrics Counter.count (read)",
            "gauge_set": "shmmetrics Gauge.set(42)",
            "gauge_inc": "shmmetrics Gauge.inc()",
            "float_add": "shmmetrics GaugeF64.add(0.5)",
            "empty": "empty statement (loop overhead)",
        }
        env = {
            "counter": counter,
            "prom": prom,
            "abi": abi,
            "abi_py": abi_py,
            "naive": naive,
            "handle": handle,
            "gauge": gauge,
            "gauge_f": gauge_f,
        }
        timers = [(key, timeit.Timer(stmt, globals=env)) for key, stmt in cases]
        for _, t in timers:  # warm up (specialisation, page faults of the prometheus file)
            t.timeit(min(args.number, 10_000))
        best = {key: float("inf") for key, _ in cases}
        for _ in range(args.rounds):
            for key, t in timers:
                best[key] = min(best[key], t.timeit(args.number) / args.number * 1e9)
        loop = best["empty"]
        net = {key: max(best[key] - loop, 0.001) for key in best}

        print(f"shmmetrics Python benchmark: {args.rounds} rounds x {args.number} calls per case, best round")
        try:
            from importlib.metadata import version

            prom_version = version("prometheus_client")
        except Exception:  # pragma: no cover
            prom_version = "?"
        print(f"python {platform.python_version()} ({sys.executable}), prometheus_client {prom_version}")
        print(f"load average before the run: {os.getloadavg()[0]:.2f}")
        print(f"cpu: {cpu_model()}, {os.cpu_count()} cpus; library {_ffi.LIBRARY_PATH}")
        print()
        print(f"{'case':52s} {'ns/op':>8s} {'raw':>8s}")
        for key, _ in cases:
            if key == "empty":
                continue
            print(f"{labels[key]:52s} {net[key]:8.1f} {best[key]:8.1f}")
        print(f"{labels['empty']:52s} {'':8s} {loop:8.1f}")
        print()
        speedup = net["prom"] / net["shm"]
        overhead = net["shm"] / net["bare"]
        print("(ns/op: best round minus the empty loop; raw: best round as timed)")
        print(f"ratio: prometheus_client multiprocess / Counter.inc() = {speedup:.2f}x faster (target >= 3)")
        print(f"ratio: Counter.inc() / bare ctypes call = {overhead:.2f}x (target <= 1.25)")
        print(f"ratio: Counter.inc() / bare ctypes call (PyDLL) = {net['shm'] / net['bare_pydll']:.2f}x")
        print(f"ratio: declared-function call / Counter.inc() = {net['naive'] / net['shm']:.2f}x")
        counter.close()
        zone.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
