"""Process and thread bodies for test_multiprocess.py (importable by spawned children)."""

from __future__ import annotations

import os
from typing import Any, Tuple

import shmmetrics


def inc_inherited(counter: shmmetrics.Counter, n: int) -> None:
    """fork: use the handle inherited from the parent as is."""
    for _ in range(n):
        counter.inc()


def up_down(gauge: shmmetrics.Gauge, n: int) -> None:
    """fork: an up-down gauge moved by every process at once (net +1 per round)."""
    for _ in range(n):
        gauge.inc(2)
        gauge.dec()


def inc_pickled(args: Tuple[shmmetrics.Counter, shmmetrics.GaugeF64, int]) -> int:
    """Pool task: the handles arrive pickled, i.e. reopened in this process."""
    counter, total, n = args
    for _ in range(n):
        counter.inc()
    counter.inc(n)
    total.add(0.5 * n)
    return os.getpid()


def inc_by_path(path: str, name: str, n: int) -> None:
    """Reopen the zone by path and the counter by name, as any other program would."""
    with shmmetrics.Zone(path=path, create=False) as zone:
        counter = zone.counter(name)
        for _ in range(n):
            counter.inc()
        counter.close()


def register_in_child(zone: shmmetrics.Zone, name: str, n: int) -> None:
    """fork: register a new metric on the inherited zone (the child has its own attachment)."""
    counter = zone.counter(name)
    counter.inc(n)
    stats = zone.stats()
    assert stats.attached >= 2, stats
    counter.close()


def describe(obj: Any) -> str:
    return repr(obj)
