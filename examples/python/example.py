"""shmmetrics Python example: processes count into one zone, then everything is read back.

    python example.py [ZONE_PATH]   (default: zone "example" in $SHMMETRICS_DIR or /dev/shm)

The same zone as the C example (examples/c/example.c): two worker processes each add 1000 to
``example_requests_total`` (the C example's counter) and to their own labelled counter, one
started with ``fork`` (it uses the handle inherited from the parent) and one with ``spawn``
(the handle is pickled and reopened by path in the child). The parent then sets two gauges and
prints every metric in the zone, C's included, and the Prometheus exposition of the zone when
prometheus_client is installed. Run it again: the counters keep counting.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from typing import Optional

import shmmetrics


def open_zone(path: Optional[str]) -> shmmetrics.Zone:
    if path:
        return shmmetrics.Zone(path=path, size=1 << 20)
    return shmmetrics.Zone("example", size=1 << 20)


def worker(requests: shmmetrics.Counter, worker_id: int, n: int) -> None:
    """Runs in a child process. `requests` is usable either way: inherited (fork) or
    unpickled, which reopens the zone and the counter by name (spawn)."""
    jobs = requests.zone.counter(f'python_jobs_total{{worker="{worker_id}"}}')
    for _ in range(n):
        requests.inc()  # one atomic add in shared memory
        jobs.inc()
    jobs.close()  # free the handle; the counter stays in the zone


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else None
    zone = open_zone(path)
    requests = zone.counter("example_requests_total")
    before = requests.count  # what C (or an earlier run) already counted

    children = [
        mp.get_context("fork").Process(target=worker, args=(requests, 1, 1000)),
        mp.get_context("spawn").Process(target=worker, args=(requests, 2, 1000)),
    ]
    for child in children:
        child.start()
    for child in children:
        child.join()
        if child.exitcode != 0:
            print(f"worker failed: {child}", file=sys.stderr)
            return 1

    workers = zone.gauge("python_workers")
    workers.set(len(children))
    load = zone.gauge_f64("python_load_ratio")
    load.set(0.75)

    print(f"== Python: every metric in {zone.path}")
    for m in sorted(zone):  # MetricInfo(name, kind, value, generation, created_unix_ns)
        shown = f"{m.value:g}" if m.kind is shmmetrics.Kind.GAUGE_F64 else str(m.value)
        print(f"{m.name:40s} {str(m.kind):11s} {shown}")
    stats = zone.stats()
    print(f"zone: {stats.used}/{stats.capacity} entries used, {stats.attached} attached")
    added = requests.count - before
    print(f"example_requests_total: {before} already in the zone + {added} from the Python workers = {requests.count}")

    try:
        from prometheus_client import CollectorRegistry, generate_latest

        from shmmetrics.prometheus import ZoneCollector
    except ImportError:
        print("(pip install prometheus_client to see the Prometheus exposition)")
    else:
        registry = CollectorRegistry()
        ZoneCollector(zone, registry=registry)
        print("== Prometheus exposition")
        print(generate_latest(registry).decode(), end="")

    # close() keeps the metrics in the zone (run again: the counters go on from here);
    # release() would unregister them.
    for handle in (requests, workers, load):
        handle.close()
    zone.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
