"""Iteration through the bulk read (shm_zone_read): chunk boundaries, every kind and field,
the decoder on rows the library would never write, and closing while other threads read."""

from __future__ import annotations

import ctypes
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple, Union

import pytest

import shmmetrics
from shmmetrics import _ffi, _read

Kind = shmmetrics.Kind


def populate(zone: shmmetrics.Zone, n: int) -> Dict[str, Tuple[Kind, Union[int, float]]]:
    """n metrics of every kind with distinct values and names of every length up to the limit."""
    want: Dict[str, Tuple[Kind, Union[int, float]]] = {}
    for i in range(n):
        name = f"m{i}_" + "é" * (i % 7) + "x" * (i * 37 % (shmmetrics.NAME_MAX - 20))
        kind = list(Kind)[i % 3]
        if kind is Kind.COUNTER:
            zone.counter(name).inc(i * 1_000_003 - 5)
            want[name] = (kind, i * 1_000_003 - 5)
        elif kind is Kind.GAUGE:
            zone.gauge(name).set(-(1 << 62) + i)
            want[name] = (kind, -(1 << 62) + i)
        else:
            zone.gauge_f64(name).set(i / 4 - 100)
            want[name] = (kind, i / 4 - 100)
    return want


@pytest.mark.parametrize("rows, names", [(4096, 256 * 1024), (7, 256 * 1024), (1, 256), (64, 1100)])
def test_every_metric_once_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int, names: int) -> None:
    monkeypatch.setattr(_read, "ROWS_PER_READ", rows)
    monkeypatch.setattr(_read, "NAMES_PER_READ", names)
    before = time.time_ns()
    with shmmetrics.Zone(path=tmp_path / "z", size=4 << 20) as zone:
        want = populate(zone, 300)
        after = time.time_ns()
        got = zone.metrics()
        assert list(zone) == got
        assert {m.name: (m.kind, m.value) for m in got} == want
        assert len(got) == len(want)
        for m in got:
            assert type(m) is shmmetrics.MetricInfo
            assert type(m.value) is (float if m.kind is Kind.GAUGE_F64 else int), m
            assert before <= m.created_unix_ns <= after
        assert len({m.generation for m in got}) == len(got) and all(m.generation > 0 for m in got)
        assert zone.snapshot() == {name: value for name, (_, value) in want.items()}


def test_a_released_and_reused_entry_has_a_new_generation(zone: shmmetrics.Zone) -> None:
    zone.counter("a").release()
    assert zone.metrics() == []  # released by its only holder: gone
    c = zone.counter("a")
    zone.gauge("b")
    gen = {m.name: m.generation for m in zone}
    c.release()
    zone.counter("a")
    assert {m.name: m.generation for m in zone}["a"] != gen["a"]


def test_metric_info_fields(zone: shmmetrics.Zone) -> None:
    zone.counter("c").inc(2)
    (m,) = zone.metrics()
    assert m._fields == ("name", "kind", "value", "generation", "created_unix_ns")
    assert m == ("c", Kind.COUNTER, 2, m.generation, m.created_unix_ns)
    assert repr(m).startswith("MetricInfo(name='c', kind=<Kind.COUNTER: 1>, value=2")


# ---- the decoder on crafted rows -------------------------------------------------------------


def crafted(rows: List[Tuple[int, int, int, float, int]], names: List[bytes]) -> Tuple[bytearray, bytearray]:
    """Row and names buffers as the library lays them out (rows: kind, gen, i64, f64, created)."""
    rbuf = bytearray(len(rows) * _read.ROW_SIZE)
    nbuf = bytearray(1024)
    arr = (_ffi.shm_metric_row * len(rows)).from_buffer(rbuf)
    offset = 0
    for i, ((kind, gen, i64, f64, created), name) in enumerate(zip(rows, names)):
        arr[i] = _ffi.shm_metric_row(gen, created, i64, f64, kind, len(name), offset, i)
        nbuf[offset : offset + len(name) + 1] = name + b"\0"
        offset += len(name) + 1
    del arr
    return rbuf, nbuf


def test_decode_reads_each_column() -> None:
    rows, names = crafted([(1, 7, -3, -3.0, 11), (3, 8, 0, 2.5, 12), (2, 9, 1 << 62, 4.0, 13)], [b"a", "é".encode(), b"ccc"])
    cols = _read.decode(rows, names, 3)
    assert cols == (["a", "é", "ccc"], [-3, 2.5, 1 << 62], [1, 3, 2], [7, 8, 9], [11, 12, 13])
    assert _read.decode(rows, names, 3, full=False)[:3] == cols[:3]
    assert _read.decode(rows, names, 0) == ([], [], [], [], [])


def test_decode_when_a_name_holds_a_nul_or_bad_utf8() -> None:
    # The library never writes these; a wrong split must not shift names onto other values.
    rows, names = crafted([(1, 1, 5, 5.0, 0), (2, 2, 6, 6.0, 0), (3, 3, 0, 7.5, 0)], [b"a\0b", b"\xff", b"c"])
    assert _read.decode(rows, names, 3)[:2] == (["a\0b", "\ufffd", "c"], [5, 6, 7.5])


@pytest.mark.parametrize("code", [0, 4, 9])
def test_an_unknown_kind_is_an_internal_error(code: int) -> None:
    rows, names = crafted([(1, 1, 0, 0.0, 0), (code, 1, 0, 0.0, 0)], [b"a", b"b"])
    with pytest.raises(shmmetrics.InternalError, match=f"unknown metric kind {code}"):
        shmmetrics.Zone._infos(_read.decode(rows, names, 2))


def test_read_errors_are_typed(zone: shmmetrics.Zone) -> None:
    with pytest.raises(shmmetrics.InvalidArgumentError) as e:  # no room for one name
        zone._call(_ffi.lib.shm_zone_read, ctypes.byref(ctypes.c_uint32(0)), (_ffi.shm_metric_row * 1)(), 1,
                   ctypes.create_string_buffer(16), 16, ctypes.byref(ctypes.c_size_t()), _ffi.shm_error())
    assert "SHM_NAME_MAX" in e.value.detail


# ---- closing while other threads use the zone ------------------------------------------------


def test_close_during_a_call_detaches_when_the_call_returns(tmp_path: Path) -> None:
    p = tmp_path / "z"
    zone = shmmetrics.Zone(path=p, remove_on_close=True)
    inside, leave = threading.Event(), threading.Event()
    seen: List[object] = []

    def slow_call(ptr: int) -> None:
        inside.set()
        leave.wait(30)
        seen.append(_ffi.lib.shm_zone_stats(ptr, ctypes.byref(_ffi.shm_stats())))  # still open

    t = threading.Thread(target=zone._call, args=(slow_call,))
    t.start()
    assert inside.wait(10)
    zone.close()  # returns at once: nobody waits
    assert zone.closed and p.exists()
    with pytest.raises(shmmetrics.ClosedError):
        zone.stats()
    leave.set()
    t.join(30)
    assert seen == [_ffi.SHM_OK]
    assert not p.exists()  # the last call out detached the zone


def test_threads_iterate_while_another_closes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_read, "ROWS_PER_READ", 3)
    zone = shmmetrics.Zone(path=tmp_path / "z")
    for i in range(50):
        zone.counter(f"c{i}").inc(i)
    outcomes: List[str] = []

    def reader() -> None:
        try:
            while True:
                assert len(zone.metrics()) == 50
        except shmmetrics.ClosedError:
            outcomes.append("closed")

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    zone.close()
    for t in threads:
        t.join(30)
    assert outcomes == ["closed"] * 4
    assert zone._users == 0 and zone._closing is None
