"""Metric kinds and handles (Counter, Gauge, GaugeF64) on top of :mod:`shmmetrics._ffi`."""

from __future__ import annotations

import enum
import weakref
from ctypes import byref, c_double, c_int64, c_void_p
from operator import attrgetter, index
from typing import TYPE_CHECKING, Any, Callable, Dict, Tuple, Type, TypeVar, Union

from . import _ffi
from .errors import ClosedError

if TYPE_CHECKING:
    from ._zone import Zone

_I64_MIN = -(1 << 63)
_I64_END = 1 << 63

_lib = _ffi.lib
_HOT = _ffi.HOT
_handle_arg = _ffi.handle_arg
_ONE = _ffi.ONE
_ONE_INT = 1
# Ready-made int64 arguments for small amounts: a dict hit costs a fraction of converting.
_SMALL_ARGS: Dict[int, Any] = {i: _ffi.int64_arg(i) for i in range(-1024, 1025)}
_MINUS_ONE = _SMALL_ARGS[-1]
_read_value = attrgetter("_view.value")  # C-level: a property with no Python frame
_counter_inc = _HOT["shm_counter_inc"]
_counter_dec = _HOT["shm_counter_dec"]
_counter_clear = _HOT["shm_counter_clear"]
_gauge_update = _HOT["shm_gauge_update"]
_gauge_add = _HOT["shm_gauge_add"]
_gauge_f64_update = _HOT["shm_gauge_f64_update"]
_gauge_f64_add = _HOT["shm_gauge_f64_add"]
_quiet = _ffi.QUIET


class Kind(enum.IntEnum):
    """Metric kinds (``SHM_KIND_*``); ``str(kind)`` is the kind's one name, e.g. ``gauge_f64``."""

    COUNTER = _ffi.SHM_KIND_COUNTER
    GAUGE = _ffi.SHM_KIND_GAUGE
    GAUGE_F64 = _ffi.SHM_KIND_GAUGE_F64

    def __str__(self) -> str:
        return self.name.lower()


def int64(n: Any, what: str = "value") -> int:
    """``n`` as an int in int64 range (ctypes would silently wrap anything bigger)."""
    try:
        i: int = index(n)
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(n).__name__}") from None
    if not _I64_MIN <= i < _I64_END:
        raise OverflowError(f"{what} {i} is outside the int64 range")
    return i


def _arg64(n: Any, what: str) -> Any:
    """A checked int64 ctypes argument for ``n`` (the slow path of inc/dec/set)."""
    return c_int64(int64(n, what))


def _encode_name(name: Union[str, bytes]) -> bytes:
    if isinstance(name, str):
        return name.encode("utf-8", "surrogateescape")
    if isinstance(name, (bytes, bytearray, memoryview)):
        return bytes(name)
    raise TypeError(f"metric name must be str or bytes, not {type(name).__name__}")


M = TypeVar("M", bound="_Metric")


class _Metric:
    """Common part of the metric handles."""

    __slots__ = ("_zone", "_name", "_ptr", "_ha", "_a1", "_view", "_finalizer", "__weakref__")

    kind: Kind
    _OPEN: str
    _RELEASE: str
    _CLOSE: str
    _SLOT: str
    _VIEW: Any = c_int64
    _closed_class: "Type[_Metric]"

    # These are set by _open; declared for type checkers.
    _zone: "Zone"
    _name: str
    _ptr: int
    _ha: Any
    _a1: Tuple[Any, Any]
    _view: Any
    _finalizer: Any

    def __init__(self) -> None:
        raise TypeError(f"use Zone.{self._factory_name()}(name) to get a {type(self).__name__}")

    @classmethod
    def _factory_name(cls) -> str:
        return str(cls.kind)

    @classmethod
    def _open(cls: Type[M], zone: "Zone", name: Union[str, bytes]) -> M:
        raw = _encode_name(name)
        out = c_void_p()
        zone._call(getattr(_lib, cls._OPEN), raw, len(raw), byref(out))
        ptr = out.value
        assert ptr is not None
        self = cls.__new__(cls)
        self._zone = zone
        self._name = raw.decode("utf-8", "surrogateescape")
        self._ptr = ptr
        self._finalizer = weakref.finalize(self, _quiet[cls._CLOSE], ptr)
        # Converted once: the hot path passes these ready-made ctypes arguments.
        self._ha = _handle_arg(ptr)
        self._a1 = (self._ha, _ONE)
        # The value slot's address is stable until the handle is released; an aligned 8-byte
        # load is atomic on x86-64 and arm64, so reads need no foreign call.
        slot = getattr(_lib, cls._SLOT)(ptr)
        assert slot, "the library returned no value slot for a live handle"
        self._view = cls._VIEW.from_address(slot)
        return self

    @property
    def name(self) -> str:
        """The metric's name in the zone."""
        return self._name

    @property
    def zone(self) -> "Zone":
        """The zone this handle was opened from."""
        return self._zone

    @property
    def closed(self) -> bool:
        """True once the handle was released or closed."""
        return False

    @property
    def slot_address(self) -> int:
        """Address of the metric's 8-byte value slot (valid until release/close)."""
        return getattr(_lib, self._SLOT)(self._ptr)  # type: ignore[no-any-return]

    def _end(self, fn_name: str) -> None:
        ptr = self._ptr
        self._finalizer.detach()
        # Swap in the closed class first: every later call raises ClosedError at no cost to
        # the hot path (which never checks a flag), and no read uses the slot again.
        self.__class__ = self._closed_class
        self._view = None
        getattr(_lib, fn_name)(ptr)

    def release(self) -> None:
        """Unregister: give up this process's claim on the metric and free the handle.

        When no process claims the metric any more, its entry and value are freed
        (go-metrics ``Stop``). The handle is unusable afterwards; it must not be in use by
        another thread during the call.
        """
        self._end(self._RELEASE)

    def close(self) -> None:
        """Free the handle but keep the metric registered, its value kept for others.

        This process's claim lasts until it closes the zone or exits. Garbage-collecting a
        handle does the same.
        """
        self._end(self._CLOSE)

    def __enter__(self: M) -> M:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.closed:
            self.close()

    def __reduce__(self) -> Tuple[Callable[..., "_Metric"], Tuple[Any, ...]]:
        # Pickled: reopen the zone (see Zone.__reduce__) and register the name again there.
        return (_reopen_metric, (self._zone, int(self.kind), self._name))

    def __repr__(self) -> str:
        return f"<shmmetrics.{type(self).__name__} {self._name!r} value={self._view.value!r}>"


def _reopen_metric(zone: "Zone", kind: int, name: str) -> "_Metric":
    return _KINDS[Kind(kind)]._open(zone, name)


class Counter(_Metric):
    """A shared integer counter (go-metrics ``Counter``). Thread- and process-safe.

    ``inc``/``dec`` are one atomic add on the shared slot; ``count`` is a plain load.
    """

    __slots__ = ()
    kind = Kind.COUNTER
    _OPEN, _RELEASE, _CLOSE, _SLOT = "shm_counter_open", "shm_counter_release", "shm_counter_close", "shm_counter_slot"

    def inc(self, n: int = 1) -> None:
        """Add ``n`` (default 1) atomically. ``n`` must be an int in int64 range."""
        # `is`: the default 1 is CPython's cached small int, so inc() takes the prebuilt
        # argument tuple with no comparison cost; any other amount takes the checked path.
        if n is _ONE_INT:
            _counter_inc(*self._a1)
        else:
            arg = _SMALL_ARGS.get(n) if type(n) is int else None
            _counter_inc(self._ha, _arg64(n, "increment") if arg is None else arg)

    def dec(self, n: int = 1) -> None:
        """Subtract ``n`` (default 1) atomically."""
        if n is _ONE_INT:
            _counter_dec(*self._a1)
        else:
            arg = _SMALL_ARGS.get(n) if type(n) is int else None
            _counter_dec(self._ha, _arg64(n, "decrement") if arg is None else arg)

    if TYPE_CHECKING:

        @property
        def count(self) -> int:
            """The current count, shared by every process."""

        @property
        def value(self) -> int:
            """Same as :attr:`count`."""

    else:
        count = property(_read_value, doc="The current count, shared by every process.")
        value = property(_read_value, doc="Same as :attr:`count`.")

    def clear(self) -> None:
        """Set the count to 0."""
        _counter_clear(self._ha)


class Gauge(_Metric):
    """A shared integer gauge (go-metrics ``Gauge``): one value for every process.

    ``set`` is an atomic store (the last writer wins); ``inc``/``dec`` are one atomic add, exact
    under concurrency (an up-down counter: prometheus_client ``Gauge.inc/dec``, OpenTelemetry
    ``UpDownCounter``).
    """

    __slots__ = ()
    kind = Kind.GAUGE
    _OPEN, _RELEASE, _CLOSE, _SLOT = "shm_gauge_open", "shm_gauge_release", "shm_gauge_close", "shm_gauge_slot"

    def set(self, value: int) -> None:
        """Store ``value`` (an int in int64 range) atomically."""
        arg = _SMALL_ARGS.get(value) if type(value) is int else None
        _gauge_update(self._ha, _arg64(value, "value") if arg is None else arg)

    def inc(self, n: int = 1) -> None:
        """Add ``n`` (default 1) atomically; wraps like the C atomic add at the int64 ends."""
        if n is _ONE_INT:
            _gauge_add(*self._a1)
        else:
            arg = _SMALL_ARGS.get(n) if type(n) is int else None
            _gauge_add(self._ha, _arg64(n, "increment") if arg is None else arg)

    def dec(self, n: int = 1) -> None:
        """Subtract ``n`` (default 1) atomically."""
        if n is _ONE_INT:
            _gauge_add(self._ha, _MINUS_ONE)
        else:
            arg = _SMALL_ARGS.get(-n) if type(n) is int else None
            # Adding -n is subtracting n in two's complement, -(-2**63) included (c_int64 wraps).
            _gauge_add(self._ha, c_int64(-int64(n, "decrement")) if arg is None else arg)

    if TYPE_CHECKING:

        @property
        def value(self) -> int:
            """The gauge's current value."""

    else:
        value = property(_read_value, doc="The gauge's current value.")


class GaugeF64(_Metric):
    """A shared float (IEEE-754 double) gauge (go-metrics ``GaugeFloat64``).

    ``set`` is an atomic store; ``add``/``inc``/``dec`` are exact under concurrency (a
    compare-and-swap loop in the library).
    """

    __slots__ = ()
    kind = Kind.GAUGE_F64
    _OPEN, _RELEASE, _CLOSE, _SLOT = "shm_gauge_f64_open", "shm_gauge_f64_release", "shm_gauge_f64_close", "shm_gauge_f64_slot"
    _VIEW = c_double

    def set(self, value: float) -> None:
        """Store ``value`` atomically."""
        _gauge_f64_update(self._ha, c_double(value))

    def add(self, delta: float) -> None:
        """Add ``delta`` atomically (may be negative)."""
        _gauge_f64_add(self._ha, c_double(delta))

    def inc(self, n: float = 1.0) -> None:
        """Add ``n`` (default 1)."""
        _gauge_f64_add(self._ha, c_double(n))

    def dec(self, n: float = 1.0) -> None:
        """Subtract ``n`` (default 1)."""
        _gauge_f64_add(self._ha, c_double(-n))

    if TYPE_CHECKING:

        @property
        def value(self) -> float:
            """The gauge's current value."""

    else:
        value = property(_read_value, doc="The gauge's current value.")


_KINDS: Dict[Kind, Type[_Metric]] = {Kind.COUNTER: Counter, Kind.GAUGE: Gauge, Kind.GAUGE_F64: GaugeF64}


def _closed_variant(cls: Type[_Metric]) -> Type[_Metric]:
    """A layout-compatible subclass whose every operation raises ClosedError."""

    def closed(self: _Metric, *args: Any, **kwargs: Any) -> Any:
        raise ClosedError(f"the {self.kind} handle {self._name!r} was released or closed", "closed")

    def closed_property(self: _Metric) -> Any:
        return closed(self)

    def noop_end(self: _Metric) -> None:
        raise ClosedError(f"the {self.kind} handle {self._name!r} was already released or closed", "closed")

    ns: Dict[str, Any] = {"__slots__": (), "__doc__": f"A released or closed {cls.__name__} handle."}
    keep = {"name", "zone", "kind", "closed"}
    for klass in cls.__mro__:
        for attr, value in vars(klass).items():
            if attr.startswith("_") or attr in keep or attr in ns:
                continue
            if isinstance(value, property):
                ns[attr] = property(closed_property)
            elif callable(value):
                ns[attr] = closed
    ns["release"] = noop_end
    ns["close"] = noop_end
    ns["closed"] = property(lambda self: True)
    ns["__reduce__"] = closed
    ns["__repr__"] = lambda self: f"<shmmetrics.{cls.__name__} {self._name!r} closed>"
    return type(f"Closed{cls.__name__}", (cls,), ns)


for _cls in (Counter, Gauge, GaugeF64):
    _cls._closed_class = _closed_variant(_cls)
