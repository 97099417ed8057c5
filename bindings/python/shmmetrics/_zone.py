"""Zones: opening (every rule about names, directories and trust is the library's), bulk reads,
statistics, and the bookkeeping that lets one thread close a zone while others use it."""

from __future__ import annotations

import math
import os
import threading
import weakref
from ctypes import byref, c_size_t, c_uint32, c_void_p, create_string_buffer
from dataclasses import dataclass
from itertools import chain, repeat
from operator import index
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

from . import _ffi, _read
from ._metrics import Counter, Gauge, GaugeF64, Kind
from .errors import ClosedError, InvalidNameError

PathLike = Union[str, "os.PathLike[str]"]

#: Size of a newly created zone when none is given (``SHM_DEFAULT_SIZE``, 1 MiB: 2,016 metrics).
DEFAULT_SIZE = _ffi.SHM_DEFAULT_SIZE

_lib = _ffi.lib
_U32_END = 1 << 32
_U64_END = 1 << 64
# Flags a pickled zone keeps when it is reopened elsewhere (never CREATE/FRESH/EXCLUSIVE).
_REOPEN_FLAGS = _ffi.SHM_OPEN_READONLY | _ffi.SHM_OPEN_REMOVE_ON_CLOSE | _ffi.SHM_OPEN_TRUST_SHARED
_KIND_OF: Dict[int, Kind] = {k.value: k for k in Kind}
_open_zones: "weakref.WeakSet[Zone]" = weakref.WeakSet()


class MetricInfo(NamedTuple):
    """One metric of a zone, as read by iteration (a consistent snapshot of one entry)."""

    name: str
    kind: Kind
    value: Union[int, float]
    #: Registration id: changes when the entry is freed and reused (a counter was reset).
    generation: int
    #: When the metric was registered, nanoseconds since the Unix epoch (0 if unknown).
    created_unix_ns: int


_METRIC_INFOS = repeat(MetricInfo)  # with tuple.__new__: a C-level MetricInfo from a 5-tuple


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


def _unsigned(n: Any, what: str, end: int) -> int:
    """``n`` as an int in [0, end): ctypes would silently wrap anything else."""
    try:
        i: int = index(n)
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(n).__name__}") from None
    if i < 0:
        raise ValueError(f"{what} must not be negative")
    if i >= end:
        raise OverflowError(f"{what} {i} is too large")
    return i


def _timeout_ms(seconds: Optional[float]) -> int:
    """``lock_timeout`` in whole milliseconds, rounded up; 0 (the library's default) for None."""
    if seconds is None:
        return 0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"lock_timeout must be a number of seconds or None, not {type(seconds).__name__}")
    ms = seconds * 1000
    if not (ms > 0 and math.isfinite(ms)):
        raise ValueError(f"lock_timeout must be a positive number of seconds, not {seconds!r}")
    whole = math.ceil(round(ms, 3))  # 0.007 s is 7 ms, not the 8 that 7.000000000000001 rounds up to
    if whole >= _U32_END:
        raise ValueError(f"lock_timeout {seconds!r} s is longer than the library can wait ({(_U32_END - 1) / 1000} s)")
    return whole


def _options(size: int, flags: int, mode: int, max_writers: int, lock_timeout: Optional[float]) -> Any:
    opts = _ffi.shm_open_options()
    opts.size = _unsigned(size, "size", _U64_END)
    opts.flags = flags
    opts.mode = _unsigned(mode, "mode", _U32_END)
    opts.max_writers = _unsigned(max_writers, "max_writers", _U32_END)
    opts.lock_timeout_ms = _timeout_ms(lock_timeout)
    return opts


def _c_string(value: Union[PathLike, bytes], what: str) -> bytes:
    raw = os.fsencode(value)
    if b"\0" in raw:  # ctypes would pass only the part before the NUL
        raise InvalidNameError(f"{what} contains a NUL character", "invalid name")
    return raw


class Zone:
    """An open zone: a file-backed shared-memory region holding named metrics.

    Open a named zone (file ``shmmetrics-<name>`` in ``directory``, else ``$SHMMETRICS_DIR``,
    else ``/dev/shm``; the library applies these rules)::

        with Zone("myapp", directory="/run/myapp") as zone:
            requests = zone.counter("http_requests_total")

    or a zone file anywhere with ``Zone(path="/run/myapp/metrics.zone")`` (same as
    :meth:`Zone.open_path`).

    Args:
        name: zone name, 1-200 characters of ``[A-Za-z0-9_.-]`` not starting with ``.``.
        size: bytes to allocate when the zone is created (rounded up to the page size; 0 means
            the default); ignored when it already exists.
        path: open this file instead of a named zone (exclusive with ``name``/``directory``).
        directory: directory of a named zone (default ``$SHMMETRICS_DIR`` or ``/dev/shm``).
        create: create the zone if missing; default ``True`` unless ``readonly``.
        exclusive: with ``create``, fail with :class:`ExistsError` if it exists.
        readonly: map read-only (monitors): iteration and stats work, registration raises
            :class:`ReadOnlyError`. Works on any file the process may read, whoever owns it.
        fresh: atomically replace an existing zone with an empty one (processes attached to
            the old one keep it undisturbed).
        remove_on_close: remove the file when the last attached process closes it.
        mode: permission bits of a newly created file (0 means 0600; e.g. 0o640). Its group and
            other write bits are also the ones a writer accepts on an existing file.
        trust_shared: write to a zone file another user owns or could write (a zone shared
            between users on purpose); without it a writer raises :class:`UntrustedError`.
        max_writers: writer slots of a created zone (0: the default, ``MAX_ATTACHED``).
        lock_timeout: longest wait in seconds for the registration lock held by another live
            process before a registration raises :class:`LockTimeoutError` (None: the
            library's default, 5 s).

    A Zone is thread-safe; closing it while other threads use it is safe too (their calls
    after the close raise :class:`ClosedError`). Metric handles stay usable after the zone is
    closed. After ``fork()`` the child keeps using the inherited zone and handles; pickling a
    Zone (as the ``spawn`` start method does) reopens the same file in the receiving process.
    """

    __slots__ = ("_ptr", "_path", "_name", "_flags", "_mode", "_timeout_ms", "_guard", "_users", "_closing", "_finalizer", "__weakref__")

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
        trust_shared: bool = False,
        max_writers: int = 0,
        lock_timeout: Optional[float] = None,
    ) -> None:
        self._ptr: Optional[int] = None
        if (name is None) == (path is None):
            raise TypeError("Zone() needs exactly one of name or path=")
        if path is not None and directory is not None:
            raise TypeError("directory= applies to named zones, not to path=")
        if create is None:
            create = not readonly
        flags = 0
        for wanted, flag in (
            (create, _ffi.SHM_OPEN_CREATE),
            (exclusive, _ffi.SHM_OPEN_EXCLUSIVE),
            (readonly, _ffi.SHM_OPEN_READONLY),
            (fresh, _ffi.SHM_OPEN_FRESH),
            (remove_on_close, _ffi.SHM_OPEN_REMOVE_ON_CLOSE),
            (trust_shared, _ffi.SHM_OPEN_TRUST_SHARED),
        ):
            if wanted:
                flags |= flag
        opts = _options(size, flags, mode, max_writers, lock_timeout)
        out, err = c_void_p(), _ffi.shm_error()
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(f"zone name must be a str, not {type(name).__name__}")
            where = None if directory is None else _c_string(directory, "zone directory")
            raw = name.encode("utf-8", "surrogatepass")  # the library refuses what is not a name
            _lib.shm_zone_open_in(where, _c_string(raw, "zone name"), opts, byref(out), err)
        else:
            assert path is not None
            _lib.shm_zone_open_file(_c_string(path, "zone path"), opts, byref(out), err)
        ptr = out.value
        assert ptr is not None
        self._ptr = ptr
        self._name = name
        self._flags = flags
        self._mode = opts.mode
        self._timeout_ms = opts.lock_timeout_ms
        self._guard = threading.Lock()
        self._users = 0
        self._closing: Optional[int] = None
        self._finalizer = weakref.finalize(self, _ffi.QUIET["shm_zone_close"], ptr)
        _open_zones.add(self)
        self._path = self._library_path()

    def _library_path(self) -> str:
        """The zone file's path as the library opened it, made absolute (for pickling)."""
        buf, n = create_string_buffer(4096), c_size_t(0)  # PATH_MAX bytes always suffice
        self._call(_lib.shm_zone_path, buf, len(buf), byref(n), _ffi.shm_error())
        path = os.fsdecode(buf.raw[: n.value])
        return path if os.path.isabs(path) else os.path.join(os.getcwd(), path)

    @classmethod
    def open_path(cls, path: PathLike, size: int = DEFAULT_SIZE, **options: Any) -> "Zone":
        """Open the zone file at ``path`` (same options as the constructor)."""
        return cls(path=path, size=size, **options)

    # ---- properties ---------------------------------------------------------------------

    @property
    def path(self) -> str:
        """Absolute path of the zone file (``shm_zone_path``)."""
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

    # ---- calls on the zone pointer --------------------------------------------------------
    #
    # A call counts itself in _users while it runs. close() takes the pointer away at once (later
    # calls raise ClosedError) and, if calls are still running, leaves shm_zone_close to the last
    # of them: the library never sees a closed zone pointer, and nobody waits. _guard is only
    # held for this bookkeeping, never across a library call.

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._guard:
            ptr = self._ptr
            if ptr is None:
                raise ClosedError("the zone was closed", "closed")
            self._users += 1
        try:
            return fn(ptr, *args)
        finally:
            with self._guard:
                self._users -= 1
                last = self._closing if not self._users else None
                if last is not None:
                    self._closing = None
            if last is not None:
                _ffi.QUIET["shm_zone_close"](last)

    # ---- metrics ------------------------------------------------------------------------

    def counter(self, name: Union[str, bytes]) -> Counter:
        """Register (or find) the counter ``name`` and return a new handle to it.

        Every process that opens the same name in the same zone shares one value.
        Raises KindMismatchError, ZoneFullError, NameTooLongError, InvalidNameError,
        ReadOnlyError, LockTimeoutError, ClosedError.
        """
        return Counter._open(self, name)

    def gauge(self, name: Union[str, bytes]) -> Gauge:
        """Register (or find) the integer gauge ``name``; see :meth:`counter`."""
        return Gauge._open(self, name)

    def gauge_f64(self, name: Union[str, bytes]) -> GaugeF64:
        """Register (or find) the float (double) gauge ``name``; see :meth:`counter`."""
        return GaugeF64._open(self, name)

    @staticmethod
    def _infos(c: _read.Columns) -> List[MetricInfo]:
        kinds = map(_KIND_OF.__getitem__, c.kinds)
        try:
            return list(map(tuple.__new__, _METRIC_INFOS, zip(c.names, kinds, c.values, c.generations, c.created)))  # type: ignore[arg-type]
        except KeyError:
            raise _read.unknown_kind(c.kinds, _KIND_OF) from None

    def __iter__(self) -> Iterator[MetricInfo]:
        """Iterate over the live metrics without taking any lock (works read-only too).

        The zone is read in chunks of up to 4096 metrics, one library call each (the bulk
        read ``shm_zone_read``); each value is read atomically. Metrics registered or released
        during the iteration may or may not be seen. Closing the zone ends the iteration with
        :class:`ClosedError` at the next chunk.
        """
        # chain and map are C iterators: no Python frame resumes per metric.
        return chain.from_iterable(map(self._infos, _read.chunks(self._call)))

    def metrics(self) -> List[MetricInfo]:
        """Every live metric, as a list (see :meth:`__iter__`)."""
        out: List[MetricInfo] = []
        for chunk in _read.chunks(self._call):
            out += self._infos(chunk)
        return out

    def snapshot(self) -> Dict[str, Union[int, float]]:
        """``{name: value}`` of every live metric."""
        out: Dict[str, Union[int, float]] = {}
        for chunk in _read.chunks(self._call, full=False):
            out.update(zip(chunk.names, chunk.values))
        return out

    def stats(self) -> ZoneStats:
        """Occupancy and health counters of the zone."""
        out = _ffi.shm_stats()
        self._call(_lib.shm_zone_stats, byref(out))
        return ZoneStats(**{f[0]: getattr(out, f[0]) for f in _ffi.shm_stats._fields_})

    def verify(self) -> None:
        """Check the zone's structure; raise :class:`CorruptError` listing the problems."""
        self._call(_lib.shm_zone_check, _ffi.shm_error())

    def repair(self) -> int:
        """Reclaim what crashed processes left behind; return the number of entries freed."""
        n = c_uint32(0)
        self._call(_lib.shm_zone_repair, byref(n))
        return n.value

    # ---- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        """Detach from the zone (idempotent). Metric handles stay usable until closed."""
        with self._guard:
            ptr, self._ptr = self._ptr, None
            if ptr is None:
                return
            self._finalizer.detach()
            if self._users:
                self._closing, ptr = ptr, None  # the last running call closes it
        _open_zones.discard(self)
        if ptr is not None:
            _lib.shm_zone_close(ptr)

    def __enter__(self) -> "Zone":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> Tuple[Callable[..., "Zone"], Tuple[Any, ...]]:
        # Pickled (spawn, forkserver, Pool arguments): the receiving process reopens the same
        # file with the same trust, mode and lock timeout. Never create, replace or truncate
        # there: the zone must still exist.
        if self._ptr is None:
            raise ClosedError("the zone was closed", "closed")
        return (_reopen_zone, (self._path, self._name, self._flags & _REOPEN_FLAGS, self._mode, self._timeout_ms))

    def __repr__(self) -> str:
        state = "closed" if self._ptr is None else ("read-only" if self.readonly else "open")
        return f"<shmmetrics.Zone {self._path!r} {state}>"


def _reopen_zone(path: str, name: Optional[str], flags: int, mode: int = 0, timeout_ms: int = 0) -> Zone:
    zone = Zone(
        path=path,
        create=False,
        readonly=bool(flags & _ffi.SHM_OPEN_READONLY),
        remove_on_close=bool(flags & _ffi.SHM_OPEN_REMOVE_ON_CLOSE),
        trust_shared=bool(flags & _ffi.SHM_OPEN_TRUST_SHARED),
        mode=mode,
        lock_timeout=timeout_ms / 1000 if timeout_ms else None,
    )
    zone._name = name
    return zone


def _after_fork_in_child() -> None:
    # The library gives the child its own attachment by itself (pthread_atfork in the core).
    # What is left is Python's own bookkeeping: the parent's other threads do not exist here, so
    # their calls in progress never end and a _guard one of them held stays held. Fresh ones.
    for zone in list(_open_zones):
        zone._guard = threading.Lock()
        zone._users = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
