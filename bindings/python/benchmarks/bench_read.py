"""Reading a whole zone from Python (issue 9: ``list(zone)`` of 100,000 metrics in <= 60 ms).

    python bench_read.py [--metrics N] [--rounds R] [--quick]

Fills a zone with N metrics (80% counters, 10% integer gauges, 10% float gauges, names with
labels like a real application's), then times, best of R rounds each, interleaved:

* ``list(zone)``, ``zone.metrics()`` and ``zone.snapshot()`` (the bulk read, ``shm_zone_read``);
* ``list(zone)`` with the cyclic garbage collector paused by the caller (``gc.disable()``): the
  100,000 ``MetricInfo`` tuples are container objects, and building them triggers the
  collector about 140 times, once over the whole heap;
* the baseline measured in the same run: one ``shm_zone_next`` call per metric into a
  ``shm_metric_info``, decoded field by field (what iteration did before the bulk read);
* once, the Prometheus text of the whole zone (``ZoneCollector`` + ``generate_latest``) when
  prometheus_client is installed.

It prints each time scaled to 100,000 metrics, the ratio of ``list(zone)`` to the 60 ms target
and the speed-up over the baseline. Nothing is asserted: ``make python-bench`` runs it, ``make
python-test`` runs ``--quick`` as a smoke.

On a busy machine times mean little; instruction counts do not depend on the load. ``--once
CASE`` fills the zone and runs one case once (``none`` runs nothing), for a profiler::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python bench_read.py --once list
    (minus the same with --once none)
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Callable, Dict, List

import shmmetrics
from shmmetrics import _ffi

TARGET_MS = 60.0
PER = 100_000


def fill(path: str, n: int) -> shmmetrics.Zone:
    """A zone at `path` holding n metrics (grown until the library says they fit)."""
    size = max(n * 640, 1 << 20)
    while True:
        zone = shmmetrics.Zone(path=path, size=size, fresh=True)
        if zone.stats().capacity >= n:
            break
        zone.close()
        size *= 2
    for i in range(n):
        name = f'app_requests_total{{handler="/api/v1/item/{i}",code="200"}}'
        if i % 10 == 0:
            zone.gauge_f64(f"app_temperature_celsius{{sensor=\"{i}\"}}").set(i / 8)
        elif i % 10 == 1:
            zone.gauge(f"app_in_flight{{worker=\"{i}\"}}").set(i)
        else:
            zone.counter(name).inc(i * 7919)
    return zone


def one_by_one(zone: shmmetrics.Zone) -> List[shmmetrics.MetricInfo]:
    """The baseline: shm_zone_next per metric, as iteration worked before the bulk read."""
    out = []
    cursor, info = ctypes.c_uint32(0), _ffi.shm_metric_info()
    pc, pi = ctypes.byref(cursor), ctypes.byref(info)
    nxt = _ffi.lib.shm_zone_next
    while zone._call(nxt, pc, pi) == _ffi.SHM_OK:
        kind = shmmetrics.Kind(info.kind)
        value = info.value_f64 if kind is shmmetrics.Kind.GAUGE_F64 else info.value_i64
        out.append(shmmetrics.MetricInfo(info.name.decode("utf-8", "replace"), kind, value, info.generation, 0))
    return out


def without_gc(fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        gc.disable()
        try:
            return fn()
        finally:
            gc.enable()

    return run


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--metrics", type=int, default=PER, help="metrics in the zone")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds; the best counts")
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny numbers, results meaningless")
    ap.add_argument("--once", metavar="CASE", choices=["none", "list", "metrics", "snapshot", "baseline"], help="run one case once, for a profiler")
    args = ap.parse_args(argv)
    if args.quick:
        args.metrics, args.rounds = 500, 1
    where = "/dev/shm" if os.path.isdir("/dev/shm") else None
    workdir = tempfile.mkdtemp(prefix="shmmetrics-bench-", dir=where)
    try:
        zone = fill(os.path.join(workdir, "read.zone"), args.metrics)
        cases: Dict[str, Callable[[], object]] = {
            "list(zone)": lambda: list(zone),
            "zone.metrics()": zone.metrics,
            "zone.snapshot()": zone.snapshot,
            "list(zone), gc paused by the caller": without_gc(lambda: list(zone)),
            "baseline: shm_zone_next per metric": lambda: one_by_one(zone),
        }
        if args.once:
            once = {"none": lambda: None, "list": lambda: list(zone), "metrics": zone.metrics, "snapshot": zone.snapshot}
            once.get(args.once, lambda: one_by_one(zone))()
            return 0
        assert len(list(zone)) == len(one_by_one(zone)) == len(zone.snapshot()) == args.metrics
        best = {label: float("inf") for label in cases}
        for _ in range(args.rounds):
            for label, fn in cases.items():
                start = time.perf_counter()
                result = fn()
                best[label] = min(best[label], time.perf_counter() - start)
                del result  # freed outside the timing, as a caller would after using it
        scale = PER / args.metrics * 1e3  # seconds for N metrics -> ms for 100k
        print(f"shmmetrics Python bulk read: {args.metrics} metrics, best of {args.rounds} rounds")
        print(f"python {platform.python_version()}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}")
        print(f"{'case':40s} {'ms per 100k':>12s}")
        for label in cases:
            print(f"{label:40s} {best[label] * scale:12.1f}")
        try:
            from prometheus_client import CollectorRegistry, generate_latest

            from shmmetrics.prometheus import ZoneCollector
        except ImportError:
            print("(prometheus_client not installed: no exposition timing)")
        else:
            registry = CollectorRegistry()
            ZoneCollector(zone, registry=registry)
            start = time.perf_counter()
            generate_latest(registry)
            print(f"{'Prometheus text (ZoneCollector, once)':40s} {(time.perf_counter() - start) * scale:12.1f}")
        listed = best["list(zone)"] * scale
        print(f"ratio: list(zone) / {TARGET_MS:.0f} ms target = {listed / TARGET_MS:.2f} (target <= 1)")
        for label in ("zone.snapshot()", "list(zone), gc paused by the caller"):
            print(f"ratio: {label} / {TARGET_MS:.0f} ms target = {best[label] * scale / TARGET_MS:.2f}")
        print(f"ratio: baseline / list(zone) = {best['baseline: shm_zone_next per metric'] * scale / listed:.1f}x faster")
        zone.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
