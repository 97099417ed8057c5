"""Every method of Counter, Gauge and GaugeF64, and handle lifetime (release vs close)."""

from __future__ import annotations

import gc
import math
import pickle
import threading
from ctypes import c_int64
from pathlib import Path

import pytest

import shmmetrics
from shmmetrics import _ffi

I64_MAX = (1 << 63) - 1
I64_MIN = -(1 << 63)


# ---- Counter -------------------------------------------------------------------------------


def test_counter_inc_dec_count(zone: shmmetrics.Zone) -> None:
    c = zone.counter("requests_total")
    assert isinstance(c, shmmetrics.Counter)
    assert c.kind is shmmetrics.Kind.COUNTER and c.name == "requests_total" and c.zone is zone
    assert c.count == 0 and c.value == 0
    c.inc()
    c.inc(1)
    c.inc(n=5)
    c.inc(0)
    assert c.count == 7
    c.dec()
    c.dec(3)
    assert c.count == 3 and c.value == 3
    c.inc(-2)  # like go-metrics, inc takes any int64
    assert c.count == 1
    c.dec(-4)
    assert c.count == 5
    assert "value=5" in repr(c)


def test_counter_values_agree_with_the_c_reader(zone: shmmetrics.Zone) -> None:
    c = zone.counter("c")
    c.inc(123456789)
    assert _ffi.lib.shm_counter_count(c._ptr) == c.count == 123456789
    assert zone.snapshot()["c"] == 123456789


def test_counter_clear(zone: shmmetrics.Zone) -> None:
    c = zone.counter("c")
    c.inc(41)
    c.clear()
    assert c.count == 0
    c.inc()
    assert c.count == 1


def test_counter_int64_range(zone: shmmetrics.Zone) -> None:
    c = zone.counter("big")
    c.inc(I64_MAX)
    assert c.count == I64_MAX
    c.inc()  # wraps like the C atomic add (two's complement)
    assert c.count == I64_MIN
    c.clear()
    c.dec(I64_MIN + 1)
    assert c.count == I64_MAX
    for bad in (1 << 63, I64_MIN - 1, 1 << 64):
        with pytest.raises(OverflowError):
            c.inc(bad)
        with pytest.raises(OverflowError):
            c.dec(bad)
    assert c.count == I64_MAX  # nothing was added by the refused calls


def test_counter_argument_types(zone: shmmetrics.Zone) -> None:
    c = zone.counter("t")
    for bad in (1.5, "2", None, 2.0, 1.0):
        with pytest.raises(TypeError):
            c.inc(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            c.dec(bad)  # type: ignore[arg-type]
    c.inc(True)  # bool is an int (== 1)
    c.inc(1)

    class Index:
        def __index__(self) -> int:
            return 40

    c.inc(Index())  # type: ignore[arg-type]
    assert c.count == 42
    c.dec(Index())
    c.dec(1000)
    c.inc(1000)
    assert c.count == 2


def test_two_handles_share_one_value(zone: shmmetrics.Zone) -> None:
    a = zone.counter("shared")
    b = zone.counter("shared")
    a.inc(2)
    b.inc(3)
    assert a.count == b.count == 5
    assert a.slot_address == b.slot_address
    assert zone.stats().used == 1


def test_slot_address_reads_the_value(zone: shmmetrics.Zone) -> None:
    c = zone.counter("slot")
    c.inc(9)
    assert c_int64.from_address(c.slot_address).value == 9


# ---- Gauge ---------------------------------------------------------------------------------


def test_gauge_set_value(zone: shmmetrics.Zone) -> None:
    g = zone.gauge("workers")
    assert isinstance(g, shmmetrics.Gauge) and g.kind is shmmetrics.Kind.GAUGE
    assert g.value == 0
    g.set(3)
    assert g.value == 3
    g.set(-17)
    assert g.value == -17
    g.set(I64_MAX)
    assert g.value == I64_MAX
    g.set(I64_MIN)
    assert g.value == I64_MIN
    g.set(True)
    assert g.value == 1
    assert _ffi.lib.shm_gauge_value(g._ptr) == 1


def test_gauge_inc_dec(zone: shmmetrics.Zone) -> None:
    g = zone.gauge("in_flight")
    g.inc()
    g.inc(1)
    g.inc(n=5)
    g.inc(2000)  # beyond the table of ready-made arguments
    g.dec()
    g.dec(3)
    g.dec(1500)
    assert g.value == 503
    g.inc(-3)
    g.dec(-1)
    g.dec(True)
    assert g.value == 500
    g.set(0)
    g.dec(1024)
    g.dec(1025)
    assert g.value == -2049
    assert _ffi.lib.shm_gauge_value(g._ptr) == -2049


def test_gauge_inc_dec_int64_range(zone: shmmetrics.Zone) -> None:
    g = zone.gauge("edge")
    g.set(I64_MAX)
    g.inc()  # wraps like the C atomic add
    assert g.value == I64_MIN
    g.dec()
    assert g.value == I64_MAX
    g.set(0)
    g.dec(I64_MIN)  # subtracting -2**63 is adding it, modulo 2**64
    assert g.value == I64_MIN
    g.set(5)
    for bad in (1 << 63, I64_MIN - 1):
        with pytest.raises(OverflowError):
            g.inc(bad)
        with pytest.raises(OverflowError):
            g.dec(bad)
    for bad in (1.5, "1", None, 1.0):
        with pytest.raises(TypeError):
            g.inc(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            g.dec(bad)  # type: ignore[arg-type]
    assert g.value == 5  # nothing was added by the refused calls


def test_gauge_rejects_bad_values(zone: shmmetrics.Zone) -> None:
    g = zone.gauge("g")
    g.set(5)
    for bad in (1 << 63, I64_MIN - 1):
        with pytest.raises(OverflowError):
            g.set(bad)
    for bad in (1.5, "1", None):
        with pytest.raises(TypeError):
            g.set(bad)  # type: ignore[arg-type]
    assert g.value == 5


# ---- GaugeF64 ----------------------------------------------------------------------------


def test_gauge_f64(zone: shmmetrics.Zone) -> None:
    f = zone.gauge_f64("temperature_celsius")
    assert isinstance(f, shmmetrics.GaugeF64) and f.kind is shmmetrics.Kind.GAUGE_F64
    assert f.value == 0.0
    f.set(21.5)
    assert f.value == 21.5
    f.set(3)  # ints are converted
    assert f.value == 3.0 and isinstance(f.value, float)
    f.add(0.25)
    f.add(-1)
    assert f.value == 2.25
    f.inc()
    f.inc(0.5)
    f.dec()
    f.dec(0.25)
    assert f.value == 2.5
    assert _ffi.lib.shm_gauge_f64_value(f._ptr) == 2.5
    f.set(float("inf"))
    assert f.value == math.inf
    f.set(float("nan"))
    assert math.isnan(f.value)
    f.set(-0.0)
    assert math.copysign(1, f.value) == -1
    for bad in ("1", None):
        with pytest.raises(TypeError):
            f.set(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            f.add(bad)  # type: ignore[arg-type]


# ---- release vs close ----------------------------------------------------------------------


@pytest.mark.parametrize("factory", ["counter", "gauge", "gauge_f64"])
def test_release_unregisters(zone: shmmetrics.Zone, factory: str) -> None:
    m = getattr(zone, factory)("m")
    (m.inc if factory == "counter" else m.set)(7)
    assert zone.stats().used == 1
    m.release()
    assert m.closed and "closed" in repr(m)
    assert zone.stats().used == 0  # the only claim is gone: entry and value freed
    again = getattr(zone, factory)("m")
    assert again.value == 0


@pytest.mark.parametrize("factory", ["counter", "gauge", "gauge_f64"])
def test_close_keeps_the_metric(zone: shmmetrics.Zone, factory: str) -> None:
    m = getattr(zone, factory)("m")
    (m.inc if factory == "counter" else m.set)(7)
    m.close()
    assert m.closed
    assert zone.stats().used == 1
    assert zone.snapshot() == {"m": 7}
    assert getattr(zone, factory)("m").value == 7


def test_release_keeps_metric_other_handles_hold(zone: shmmetrics.Zone) -> None:
    a = zone.counter("held")
    b = zone.counter("held")
    a.inc(4)
    a.release()
    assert zone.stats().used == 1 and b.count == 4


@pytest.mark.parametrize("end", ["release", "close"])
@pytest.mark.parametrize("factory", ["counter", "gauge", "gauge_f64"])
def test_every_operation_on_an_ended_handle_raises_closed(zone: shmmetrics.Zone, factory: str, end: str) -> None:
    m = getattr(zone, factory)("m")
    getattr(m, end)()
    assert isinstance(m, type(getattr(zone, factory)("other")))  # still a Counter/Gauge/...
    ops = {
        "counter": [lambda: m.inc(), lambda: m.inc(5), lambda: m.dec(), lambda: m.count, lambda: m.value, lambda: m.clear()],
        "gauge": [lambda: m.set(1), lambda: m.inc(), lambda: m.dec(2), lambda: m.value],
        "gauge_f64": [lambda: m.set(1.0), lambda: m.add(1.0), lambda: m.inc(), lambda: m.dec(), lambda: m.value],
    }[factory]
    for op in ops + [lambda: m.release(), lambda: m.close(), lambda: m.slot_address, lambda: pickle.dumps(m)]:
        with pytest.raises(shmmetrics.ClosedError):
            op()
    assert m.name == "m" and m.zone is zone and m.closed
    m.__exit__(None, None, None)  # leaving a with-block after an explicit end is fine


def test_handle_context_manager_closes(zone: shmmetrics.Zone) -> None:
    with zone.counter("cm") as c:
        c.inc()
    assert c.closed
    assert zone.snapshot() == {"cm": 1}


def test_garbage_collected_handle_is_closed_not_released(zone: shmmetrics.Zone) -> None:
    c = zone.counter("gc")
    c.inc(3)
    del c
    gc.collect()
    assert zone.snapshot() == {"gc": 3}


def test_handles_cannot_be_constructed_directly() -> None:
    with pytest.raises(TypeError):
        shmmetrics.Counter()
    with pytest.raises(TypeError):
        shmmetrics.GaugeF64()


def test_handles_work_after_the_zone_is_closed(zone_dir: Path) -> None:
    z = shmmetrics.Zone("after")
    c = z.counter("c")
    g = z.gauge_f64("g")
    z.close()
    c.inc(2)
    g.add(1.5)
    assert (c.count, g.value) == (2, 1.5)
    c.release()
    g.close()


def test_pickled_handle_reopens_by_name(zone: shmmetrics.Zone) -> None:
    c = zone.counter("pc")
    f = zone.gauge_f64("pf")
    c.inc(5)
    c2, f2 = pickle.loads(pickle.dumps((c, f)))
    assert type(c2) is shmmetrics.Counter and type(f2) is shmmetrics.GaugeF64
    assert c2 is not c and c2.zone is f2.zone  # one reopened zone for the whole pickle
    c2.inc()
    f2.set(2.0)
    assert c.count == 6 and f.value == 2.0
    c2.zone.close()


# ---- threads -------------------------------------------------------------------------------


def test_threads_share_handles_exactly(zone: shmmetrics.Zone) -> None:
    c = zone.counter("threads_total")
    g = zone.gauge("threads_gauge")
    f = zone.gauge_f64("threads_float")
    n, per = 8, 5000

    def work(i: int) -> None:
        own = zone.counter("threads_total")  # registration from several threads at once
        for _ in range(per):
            c.inc()
            own.inc(2)
            f.add(0.5)
            g.inc(3)
            g.dec()
        own.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.count == n * per * 3
    assert g.value == n * per * 2
    assert f.value == n * per * 0.5
