"""Several processes increment shared counters: exact totals under fork and spawn."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
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
    total = zone.gauge_f64("pool_float")
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
                zone.counter("child_made").inc()  # the child registers on the inherited zone
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


@pytest.mark.parametrize("child_first", ["nothing", "stats"])
def test_forked_child_inherited_handle_keeps_its_metric(tmp_path: Path, child_first: str) -> None:
    # The library gives the child its own attachment at fork, claiming fork_x: the parent's
    # release does not free it (the full zone has no room for fork_y) and the child's
    # increments land in fork_x, whatever the child did first.
    with shmmetrics.Zone(path=tmp_path / "fork.zone", size=24576) as zone:
        x_value, y = _fork_scenario(zone, child_first)
        assert x_value == 6
        assert isinstance(y, shmmetrics.ZoneFullError), y


def test_gauge_inc_dec_across_processes(zone: shmmetrics.Zone) -> None:
    gauge = zone.gauge("in_flight")
    gauge.set(10)
    _run(_ctx("fork"), _workers.up_down, [(gauge, PER_PROC)] * PROCS)
    assert gauge.value == 10 + PROCS * PER_PROC


# ---- fork never waits on the binding ---------------------------------------------------------


def _fork_and_use(zone: shmmetrics.Zone) -> int:
    """Fork; the child registers and counts on the inherited zone. The child's exit code."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            signal.alarm(20)  # a deadlock in the child fails the test instead of hanging it
            zone.counter("after_fork").inc()
            code = 0 if zone.snapshot()["after_fork"] >= 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_fork_while_another_thread_holds_the_zone_bookkeeping(zone: shmmetrics.Zone) -> None:
    # Another thread is inside the zone's bookkeeping at the fork: its lock is copied held into
    # the child, where that thread does not exist. The child must not wait for it.
    zone._guard.acquire()
    try:
        assert _fork_and_use(zone) == 0
    finally:
        zone._guard.release()
    assert zone.snapshot()["after_fork"] == 1


def test_fork_while_another_thread_is_in_a_library_call(zone: shmmetrics.Zone) -> None:
    # A thread is inside a call on the zone (here one that waits, as a registration waiting for
    # the registration lock does): fork() in this thread neither waits for it, nor leaves the
    # child unable to close the zone.
    inside, leave = threading.Event(), threading.Event()

    def waiting_call(ptr: int) -> None:
        inside.set()
        leave.wait(30)

    t = threading.Thread(target=zone._call, args=(waiting_call,))
    t.start()
    try:
        assert inside.wait(10)
        assert _fork_and_use(zone) == 0
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            signal.alarm(20)
            zone.close()
            os._exit(0 if zone._users == 0 and zone._closing is None else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        leave.set()
        t.join()
