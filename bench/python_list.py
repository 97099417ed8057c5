"""Python's side of the bulk-read rows of `make bench` (issue 9: ``list(zone)`` of 100,000
metrics in <= 60 ms): times, through the installed binding as it is, ``list(zone)`` and the
Prometheus text of a whole zone (``ZoneCollector`` + ``generate_latest``), on the zone
bench_zone filled, the very metrics the C rows read.

    python python_list.py PATH ROUNDS

Prints ``RESULT`` lines (medians of ROUNDS, CPU time of this process, in ms) for bench/run.py,
and which C call the binding's iteration makes (the bulk ``shm_zone_read`` or one
``shm_zone_next`` per metric), so the rows say which binding they measured. Nothing is asserted beyond the count of metrics.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Callable, List


def cpu_ms(fn: Callable[[], object], rounds: int) -> float:
    times: List[float] = []
    for _ in range(rounds):
        start = time.process_time()
        result = fn()
        times.append((time.process_time() - start) * 1e3)
        del result  # freed outside the timing, as a caller would after using it
    return statistics.median(times)


def iteration_call(zone: object) -> str:
    """Which C call list(zone) makes (shm_zone_read: the bulk read; shm_zone_next: one call a
    metric), seen by counting calls through the binding's library object for one iteration."""
    try:
        from shmmetrics import _ffi

        lib = _ffi.lib
    except (ImportError, AttributeError):
        return "unknown"
    calls = {"shm_zone_read": 0, "shm_zone_next": 0}
    originals = {name: getattr(lib, name) for name in calls}

    def counting(name: str) -> Callable[..., object]:
        def call(*args: object) -> object:
            calls[name] += 1
            return originals[name](*args)

        return call

    try:
        for name in calls:
            setattr(lib, name, counting(name))
        list(zone)  # type: ignore[call-overload]
    finally:
        for name, fn in originals.items():
            setattr(lib, name, fn)
    used = [name for name, n in calls.items() if n]
    return "+".join(used) if used else "unknown"


def main(argv: List[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit() or int(argv[1]) < 1:
        print("usage: python_list.py PATH ROUNDS", file=sys.stderr)
        return 2
    path, rounds = argv[0], int(argv[1])
    import shmmetrics

    zone = shmmetrics.Zone(path=path, readonly=True)
    used = zone.stats().used
    if len(list(zone)) != used:
        print("python_list.py: list(zone) missed metrics", file=sys.stderr)
        return 1
    print(f"RESULT python.iterates_with {iteration_call(zone)}")
    print(f"RESULT python.used {used}")
    print(f"RESULT python.list_ms {cpu_ms(lambda: list(zone), rounds):.2f}")
    try:
        from prometheus_client import CollectorRegistry, generate_latest

        from shmmetrics.prometheus import ZoneCollector
    except ImportError:
        print("RESULT python.prometheus_ms nan")
    else:
        registry = CollectorRegistry()
        ZoneCollector(zone, registry=registry)
        print(f"RESULT python.prometheus_ms {cpu_ms(lambda: generate_latest(registry), max(1, rounds // 3)):.2f}")
    zone.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
