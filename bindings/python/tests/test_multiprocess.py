"""Several processes increment shared counters: exact totals under fork and spawn."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

import shmmetrics

import _workers

PROCS = 4
PER_PROC = 20_000


def _ctx(method: str) -> "mp.context.BaseContext":
    if method not in mp.get_all_start_methods():
        pytest.skip(f"start method {method} unavailable")
    return mp.get_context(method)


def _run(ctx: "mp.context.BaseContext", target: object, args_list: list) -> None:
    procs = [ctx.Process(target=target, args=args) for args in args_list]  # type: ignore[attr-defined]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0, f"{p} exited with {p.exitcode}"


def test_fork_children_use_inherited_handles(zone: shmmetrics.Zone) -> None:
    counter = zone.counter("fork_inherited_total")
    counter.inc(7)
    _run(_ctx("fork"), _workers.inc_inherited, [(counter, PER_PROC)] * PROCS)
    assert counter.count == 7 + PROCS * PER_PROC


def test_fork_children_register_on_inherited_zone(zone: shmmetrics.Zone) -> None:
    _run(_ctx("fork"), _workers.register_in_child, [(zone, "fork_registered_total", 10)] * PROCS)
    assert zone.snapshot()["fork_registered_total"] == PROCS * 10
    zone.verify()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pool_with_pickled_handles(zone: shmmetrics.Zone, method: str) -> None:
    counter = zone.counter("pool_total")
    total = zone.gauge_float("pool_float")
    n = 5000 if method != "fork" else PER_PROC
    with _ctx(method).Pool(PROCS) as pool:
        pids = pool.map(_workers.inc_pickled, [(counter, total, n)] * (PROCS * 2))
    assert os.getpid() not in pids
    assert counter.count == PROCS * 2 * 2 * n
    assert total.value == PROCS * 2 * 0.5 * n
    zone.verify()


def test_spawn_children_with_pickled_handles(zone: shmmetrics.Zone) -> None:
    counter = zone.counter("spawn_total")
    _run(_ctx("spawn"), _workers.inc_inherited, [(counter, PER_PROC)] * PROCS)
    assert counter.count == PROCS * PER_PROC


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_children_reopening_by_path(zone: shmmetrics.Zone, method: str) -> None:
    _run(_ctx(method), _workers.inc_by_path, [(zone.path, "by_path_total", PER_PROC)] * PROCS)
    c = zone.counter("by_path_total")
    assert c.count == PROCS * PER_PROC
    # The children closed their handles and exited: the metric stays, nobody else holds it.
    s = zone.stats()
    assert s.attached == 1


def test_bare_os_fork(zone: shmmetrics.Zone, tmp_path: Path) -> None:
    counter = zone.counter("os_fork_total")
    pids = []
    for _ in range(PROCS):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                for _ in range(PER_PROC):
                    counter.inc()
                zone.counter("child_made").inc()  # registration re-attaches the child
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    assert counter.count == PROCS * PER_PROC
    assert zone.snapshot()["child_made"] == PROCS


# ---- inherited handles stay claimed ------------------------------------------------------


def _fork_scenario(zone: shmmetrics.Zone, child_first: str) -> "tuple[int, object]":
    """A capacity-10 zone, full: 9 fillers and fork_x. A forked child keeps counting through
    its inherited fork_x handle while the parent releases its own fork_x and registers fork_y.
    Returns (fork_y's value or the error registering it, fork_x's final value)."""
    fillers = [zone.counter(f"filler_{i}") for i in range(9)]
    x = zone.counter("fork_x")
    x.inc()
    assert zone.stats().capacity == 10
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            if child_first == "stats":
                zone.stats()
            os.write(to_parent_w, b"r")
            os.read(to_child_r, 1)
            x.inc(5)  # the child keeps counting through its inherited handle
            code = 0
        finally:
            os._exit(code)
    os.read(to_parent_r, 1)
    x.release()  # the parent is done with fork_x
    try:
        y = zone.gauge("fork_y")
        y.set(1000)
        result: object = y
    except shmmetrics.ZoneFullError as e:
        result = e
    os.write(to_child_w, b"g")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    del fillers
    return zone.snapshot().get("fork_x"), (result.value if isinstance(result, shmmetrics.Gauge) else result)


def test_forked_child_inherited_handle_keeps_its_metric(tmp_path: Path) -> None:
    # The binding re-attaches the child right after fork: fork_x is claimed by the child, so
    # the parent's release does not free it (the full zone has no room for fork_y) and the
    # child's increments land in fork_x.
    with shmmetrics.Zone(path=tmp_path / "fork.zone", size=24576) as zone:
        x_value, y = _fork_scenario(zone, "nothing")
        assert x_value == 6
        assert isinstance(y, shmmetrics.ZoneFullError)


def test_core_forked_child_after_stats_keeps_its_metric(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shmmetrics import _core

    monkeypatch.setattr(_core, "REATTACH_AFTER_FORK", False)
    with shmmetrics.Zone(path=tmp_path / "fork.zone", size=24576) as zone:
        x_value, y = _fork_scenario(zone, "stats")
        # shm_zone_stats() re-attaches the child, so its inherited handle keeps fork_x claimed.
        assert x_value == 6 and isinstance(y, shmmetrics.ZoneFullError), (x_value, y)
