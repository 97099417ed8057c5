"""Zones and metric handles on top of the ctypes declarations in :mod:`shmmetrics._ffi`."""

from __future__ import annotations

import enum
import os
import re
import weakref
from ctypes import byref, c_double, c_int64, c_uint32, c_void_p
from dataclasses import dataclass
from operator import attrgetter, index
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple, Type, TypeVar, Union

from . import _ffi
from .errors import ClosedError, InvalidNameError

PathLike = Union[str, "os.PathLike[str]"]

#: Size of a newly created zone when none is given (1 MiB: 2,016 metrics).
DEFAULT_SIZE = 1 << 20

#: Where named zones live when neither ``directory=`` nor ``$SHMMETRICS_DIR`` says otherwise.
DEFAULT_DIR = "/dev/shm"

#: Zone files of named zones are called ``shmmetrics-<name>``.
FILE_PREFIX = "shmmetrics-"

_ZONE_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,200}")
_I64_MIN = -(1 << 63)
_I64_END = 1 << 63

_lib = _ffi.lib
_HOT = _ffi.HOT
_handle_arg = _ffi.handle_arg
_ONE = _ffi.ONE
_ONE_INT = 1
# Ready-made int64 arguments for small amounts: a dict hit costs a fraction of converting.
_SMALL_ARGS: Dict[int, Any] = {i: _ffi.int64_arg(i) for i in range(-1024, 1025)}
_read_value = attrgetter("_view.value")  # C-level: a property with no Python frame
_counter_inc = _HOT["shm_counter_inc"]
_counter_dec = _HOT["shm_counter_dec"]
_counter_clear = _HOT["shm_counter_clear"]
_gauge_update = _HOT["shm_gauge_update"]
_gauge_f64_update = _HOT["shm_gauge_f64_update"]
_gauge_f64_add = _HOT["shm_gauge_f64_add"]
_quiet = _ffi.QUIET
_LOCK = _ffi.LOCK

#: Re-attach every open writable zone in a forked child right after fork (see _after_fork_in_child).
REATTACH_AFTER_FORK = True
_open_zones: "weakref.WeakSet[Zone]" = weakref.WeakSet()


def _locked_call(fn: Any, *args: Any) -> Any:
    with _LOCK:
        return fn(*args)


class Kind(enum.IntEnum):
    """Metric kinds (``SHM_KIND_*``)."""

    COUNTER = _ffi.SHM_KIND_COUNTER
    GAUGE = _ffi.SHM_KIND_GAUGE
    GAUGE_FLOAT = _ffi.SHM_KIND_GAUGE_F64

    def __str__(self) -> str:
        return self.name.lower()


class MetricInfo(NamedTuple):
    """One metric of a zone, as read by iteration (a consistent snapshot of one entry)."""

    name: str
    kind: Kind
    value: Union[int, float]
    generation: int


@dataclass(frozen=True)
class ZoneStats:
    """Occupancy and health of a zone (``struct shm_stats``)."""

    capacity: int
    used: int
    free: int
    orphaned: int
    attached: int
    max_attached: int
    failed_registrations: int
    failed_zone_full: int
    file_size: int
    version_major: int
    version_minor: int
    name_max: int
    repairs: int


def _int64(n: Any, what: str = "value") -> int:
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
    return c_int64(_int64(n, what))


def _encode_name(name: Union[str, bytes]) -> bytes:
    if isinstance(name, str):
        return name.encode("utf-8", "surrogateescape")
    if isinstance(name, (bytes, bytearray, memoryview)):
        return bytes(name)
    raise TypeError(f"metric name must be str or bytes, not {type(name).__name__}")


def zone_directory() -> str:
    """The directory named zones live in now: ``$SHMMETRICS_DIR``, else ``/dev/shm``."""
    return os.environ.get("SHMMETRICS_DIR") or DEFAULT_DIR


class Zone:
    """An open zone: a file-backed shared-memory region holding named metrics.

    Open a named zone (file ``shmmetrics-<name>`` in ``directory``, ``$SHMMETRICS_DIR`` or
    ``/dev/shm``)::

        with Zone("myapp", directory="/run/myapp") as zone:
            requests = zone.counter("http_requests_total")

    or a zone file anywhere with ``Zone(path="/run/myapp/metrics.zone")`` (same as
    :meth:`Zone.open_path`).

    Args:
        name: zone name, 1-200 characters of ``[A-Za-z0-9_.-]`` not starting with ``.``.
        size: bytes to allocate when the zone is created (rounded up to the page size);
            ignored when it already exists.
        path: open this file instead of a named zone (exclusive with ``name``/``directory``).
        directory: directory of a named zone (default ``$SHMMETRICS_DIR`` or ``/dev/shm``).
        create: create the zone if missing; default ``True`` unless ``readonly``.
        exclusive: with ``create``, fail with :class:`ExistsError` if it exists.
        readonly: map read-only (monitors): iteration and stats work, registration raises
            :class:`ReadOnlyError`. Works on a file the process may only read.
        fresh: atomically replace an existing zone with an empty one (processes attached to
            the old one keep it undisturbed).
        remove_on_close: remove the file when the last attached process closes it.
        mode: permission bits of a newly created file (0 means 0600; e.g. 0o640).

    A Zone is thread-safe. Metric handles stay usable after the zone is closed. After
    ``fork()`` the child keeps using the inherited zone and handles; pickling a Zone (as the
    ``spawn`` start method does) reopens the same file in the receiving process.
    """

    __slots__ = ("_ptr", "_path", "_name", "_size", "_flags", "_mode", "_finalizer", "__weakref__")

    def __init__(
        self,
        name: Optional[str] = None,
        size: int = DEFAULT_SIZE,
        *,
        path: Optional[PathLike] = None,
        directory: Optional[PathLike] = None,
        create: Optional[bool] = None,
        exclusive: bool = False,
        readonly: bool = False,
        fresh: bool = False,
        remove_on_close: bool = False,
        mode: int = 0,
    ) -> None:
        self._ptr: Optional[int] = None
        if (name is None) == (path is None):
            raise TypeError("Zone() needs exactly one of name or path=")
        if path is not None and directory is not None:
            raise TypeError("directory= applies to named zones, not to path=")
        if create is None:
            create = not readonly
        flags = 0
        if create:
            flags |= _ffi.SHM_OPEN_CREATE
        if exclusive:
            flags |= _ffi.SHM_OPEN_EXCLUSIVE
        if readonly:
            flags |= _ffi.SHM_OPEN_READONLY
        if fresh:
            flags |= _ffi.SHM_OPEN_FRESH
        if remove_on_close:
            flags |= _ffi.SHM_OPEN_REMOVE_ON_CLOSE
        size = _int64(size, "size")
        if size < 0:
            raise ValueError("size must not be negative")
        out = c_void_p()
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(f"zone name must be a str, not {type(name).__name__}")
            if "\0" in name:  # ctypes would pass only the part before the NUL
                raise InvalidNameError("zone name contains a NUL character", "invalid name")
            if directory is None:
                # The library resolves $SHMMETRICS_DIR itself; remember where it pointed.
                resolved = os.path.join(zone_directory(), FILE_PREFIX + name)
                with _LOCK:
                    _lib.shm_zone_open(_encode_name(name), size, flags, byref(out))
            else:
                if not _ZONE_NAME_RE.fullmatch(name) or name.startswith("."):
                    raise InvalidNameError(
                        f"zone name {name!r} must be 1-200 characters of [A-Za-z0-9_.-], "
                        "not starting with '.'",
                        "invalid name",
                    )
                resolved = os.path.join(os.fspath(directory), FILE_PREFIX + name)
                with _LOCK:
                    _lib.shm_zone_open_path(os.fsencode(resolved), size, flags, mode, byref(out))
        else:
            resolved = os.fspath(path)  # type: ignore[arg-type]
            encoded = os.fsencode(resolved)
            if b"\0" in encoded:
                raise InvalidNameError("zone path contains a NUL byte", "invalid name")
            with _LOCK:
                _lib.shm_zone_open_path(encoded, size, flags, mode, byref(out))
        self._ptr = out.value
        self._path = os.path.abspath(resolved)
        self._name = name
        self._size = size
        self._flags = flags
        self._mode = mode
        self._finalizer = weakref.finalize(self, _locked_call, _quiet["shm_zone_close"], self._ptr)
        _open_zones.add(self)

    @classmethod
    def open_path(cls, path: PathLike, size: int = DEFAULT_SIZE, **options: Any) -> "Zone":
        """Open the zone file at ``path`` (same options as the constructor)."""
        return cls(path=path, size=size, **options)

    # ---- properties ---------------------------------------------------------------------

    @property
    def path(self) -> str:
        """Absolute path of the zone file."""
        return self._path

    @property
    def name(self) -> Optional[str]:
        """The zone name for named zones, ``None`` for zones opened by path."""
        return self._name

    @property
    def readonly(self) -> bool:
        """True if the zone was opened read-only."""
        return bool(self._flags & _ffi.SHM_OPEN_READONLY)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._ptr is None

    def _zone(self) -> int:
        ptr = self._ptr
        if ptr is None:
            raise ClosedError("the zone was closed", "closed")
        return ptr

    # ---- metrics ------------------------------------------------------------------------

    def counter(self, name: Union[str, bytes]) -> "Counter":
        """Register (or find) the counter ``name`` and return a new handle to it.

        Every process that opens the same name in the same zone shares one value.
        Raises KindMismatchError, ZoneFullError, NameTooLongError, InvalidNameError,
        ReadOnlyError, ClosedError.
        """
        return Counter._open(self, name)

    def gauge(self, name: Union[str, bytes]) -> "Gauge":
        """Register (or find) the integer gauge ``name``; see :meth:`counter`."""
        return Gauge._open(self, name)

    def gauge_float(self, name: Union[str, bytes]) -> "GaugeFloat":
        """Register (or find) the float (double) gauge ``name``; see :meth:`counter`."""
        return GaugeFloat._open(self, name)

    def __iter__(self) -> Iterator[MetricInfo]:
        """Iterate over the live metrics without taking any lock (works read-only too).

        Each item is read atomically; metrics registered or released during the iteration
        may or may not be seen.
        """
        self._zone()
        cursor = c_uint32(0)
        info = _ffi.shm_metric_info()
        pc, pi = byref(cursor), byref(info)
        while self._next(pc, pi) == _ffi.SHM_OK:
            kind = Kind(info.kind)
            value: Union[int, float] = info.value_f64 if kind is Kind.GAUGE_FLOAT else info.value_i64
            yield MetricInfo(info.name.decode("utf-8", "replace"), kind, value, info.generation)

    def _next(self, cursor: Any, info: Any) -> int:
        # The pointer is taken under the lock close() takes: a concurrent close() makes the
        # iteration raise ClosedError instead of using a closed zone.
        with _LOCK:
            return _lib.shm_zone_next(self._zone(), cursor, info)  # type: ignore[no-any-return]

    def metrics(self) -> List[MetricInfo]:
        """Every live metric, as a list (see :meth:`__iter__`)."""
        return list(self)

    def snapshot(self) -> Dict[str, Union[int, float]]:
        """``{name: value}`` of every live metric."""
        return {m.name: m.value for m in self}

    def stats(self) -> ZoneStats:
        """Occupancy and health counters of the zone."""
        out = _ffi.shm_stats()
        with _LOCK:
            _lib.shm_zone_stats(self._zone(), byref(out))
        return ZoneStats(**{f[0]: getattr(out, f[0]) for f in _ffi.shm_stats._fields_})

    def verify(self) -> None:
        """Check the zone's structure; raise :class:`CorruptError` listing the problems."""
        with _LOCK:
            _lib.shm_zone_verify(self._zone())

    def repair(self) -> int:
        """Reclaim what crashed processes left behind; return the number of entries freed."""
        n = c_uint32(0)
        with _LOCK:
            _lib.shm_zone_repair(self._zone(), byref(n))
        return n.value

    # ---- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Detach from the zone (idempotent). Metric handles stay usable until closed."""
        ptr = self._ptr
        if ptr is None:
            return
        self._ptr = None
        self._finalizer.detach()
        _open_zones.discard(self)
        with _LOCK:
            _lib.shm_zone_close(ptr)

    def __enter__(self) -> "Zone":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> Tuple[Callable[..., "Zone"], Tuple[Any, ...]]:
        # Pickled (spawn, forkserver, Pool arguments): the receiving process reopens the same
        # file. Never create, replace or truncate there: the zone must still exist.
        self._zone()
        keep = self._flags & (_ffi.SHM_OPEN_READONLY | _ffi.SHM_OPEN_REMOVE_ON_CLOSE)
        return (_reopen_zone, (self._path, self._name, keep))

    def __repr__(self) -> str:
        state = "closed" if self._ptr is None else ("read-only" if self.readonly else "open")
        return f"<shmmetrics.Zone {self._path!r} {state}>"


def _reopen_zone(path: str, name: Optional[str], flags: int) -> Zone:
    zone = Zone(
        path=path,
        create=False,
        readonly=bool(flags & _ffi.SHM_OPEN_READONLY),
        remove_on_close=bool(flags & _ffi.SHM_OPEN_REMOVE_ON_CLOSE),
    )
    zone._name = name
    return zone


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
    _zone: Zone
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
        return {Kind.COUNTER: "counter", Kind.GAUGE: "gauge", Kind.GAUGE_FLOAT: "gauge_float"}[cls.kind]

    @classmethod
    def _open(cls: Type[M], zone: Zone, name: Union[str, bytes]) -> M:
        raw = _encode_name(name)
        out = c_void_p()
        with _LOCK:
            getattr(_lib, cls._OPEN)(zone._zone(), raw, len(raw), byref(out))
        ptr = out.value
        assert ptr is not None
        self = cls.__new__(cls)
        self._zone = zone
        self._name = raw.decode("utf-8", "surrogateescape")
        self._ptr = ptr
        self._finalizer = weakref.finalize(self, _locked_call, _quiet[cls._CLOSE], ptr)
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
    def zone(self) -> Zone:
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
        with _LOCK:
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


def _reopen_metric(zone: Zone, kind: int, name: str) -> "_Metric":
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
    """A shared integer gauge (go-metrics ``Gauge``): set and read.

    There is no ``inc``/``dec``: the C ABI has no atomic add for integer gauges, and a
    load-then-store would lose updates between processes. Count up and down with a
    :class:`Counter` (``dec`` exists) or a :class:`GaugeFloat` (``add`` is atomic).
    """

    __slots__ = ()
    kind = Kind.GAUGE
    _OPEN, _RELEASE, _CLOSE, _SLOT = "shm_gauge_open", "shm_gauge_release", "shm_gauge_close", "shm_gauge_slot"

    def set(self, value: int) -> None:
        """Store ``value`` (an int in int64 range) atomically."""
        arg = _SMALL_ARGS.get(value) if type(value) is int else None
        _gauge_update(self._ha, _arg64(value, "value") if arg is None else arg)

    if TYPE_CHECKING:

        @property
        def value(self) -> int:
            """The gauge's current value."""

    else:
        value = property(_read_value, doc="The gauge's current value.")


class GaugeFloat(_Metric):
    """A shared float (IEEE-754 double) gauge (go-metrics ``GaugeFloat64``).

    ``set`` is an atomic store; ``add``/``inc``/``dec`` are exact under concurrency (a
    compare-and-swap loop in the library).
    """

    __slots__ = ()
    kind = Kind.GAUGE_FLOAT
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


_KINDS: Dict[Kind, Type[_Metric]] = {Kind.COUNTER: Counter, Kind.GAUGE: Gauge, Kind.GAUGE_FLOAT: GaugeFloat}


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


for _cls in (Counter, Gauge, GaugeFloat):
    _cls._closed_class = _closed_variant(_cls)


# ---- fork ----------------------------------------------------------------------------------
#
# The library re-attaches a forked child (own file description, own attach slot, claims on
# the entries its inherited handles use) only on the child's first *locked* call (registration,
# release, verify, repair). Until then the child's inherited handles are unclaimed: if the
# parent releases such a metric, its entry is freed and reused, and the child's increments land
# in another metric (and shm_zone_stats() does not re-attach). So the binding re-attaches every
# open writable zone in the child at once, with a locked call that changes nothing
# (shm_zone_verify). _LOCK is held across fork() so no other thread of the parent is inside a
# library call, whose mutexes the child would inherit locked.


def _before_fork() -> None:
    _LOCK.acquire()


def _after_fork_in_parent() -> None:
    _LOCK.release()


def _after_fork_in_child() -> None:
    _LOCK.release()  # the forking thread is the child's only thread and owns the lock
    if not REATTACH_AFTER_FORK:
        return
    verify = _quiet["shm_zone_verify"]
    for zone in list(_open_zones):
        ptr = zone._ptr
        if ptr is not None and not zone.readonly:
            verify(ptr)  # errors (e.g. the attach limit) surface at the next registration


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
