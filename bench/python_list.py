"""Python's side of the bulk-read rows of `make bench` (issue 9: ``list(zone)`` of 100,000
metrics in <= 60 ms): times, through the installed binding as it is, ``list(zone)`` and the
Prometheus text of a whole zone (``ZoneCollector`` + ``generate_latest``), on the zone
bench_zone filled, the very metrics the C rows read.

    python python_list.py PATH ROUNDS

Prints ``RESULT`` lines (medians of ROUNDS, CPU time of this process, in ms) for bench/run.py,
and which C call the binding iterates with. Nothing is asserted beyond the count of metrics.
"""

from __future__ import annotations

import inspect
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
    source = inspect.getsource(sys.modules[type(zone).__module__])
    path_used = "shm_zone_read" if "shm_zone_read(" in source or "shm_zone_read\"" in source else "shm_zone_next"
    print(f"RESULT python.iterates_with {path_used}")
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
