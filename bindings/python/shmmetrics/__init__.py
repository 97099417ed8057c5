"""shmmetrics: counters and gauges in a file-backed shared-memory zone, shared by processes.

Python binding (ctypes) of ``libshmmetrics``::

    import shmmetrics

    with shmmetrics.Zone("myapp") as zone:          # $SHMMETRICS_DIR or /dev/shm/shmmetrics-myapp
        requests = zone.counter("http_requests_total")
        requests.inc()                              # one atomic add, visible to every process
        for m in zone:                              # MetricInfo(name, kind, value, generation, created_unix_ns)
            print(m.name, m.kind, m.value)

See docs/PYTHON.md for fork/spawn behaviour and the Prometheus collector
(:mod:`shmmetrics.prometheus`).
"""

from __future__ import annotations

from . import _ffi
from ._metrics import Counter, Gauge, GaugeF64, Kind
from ._zone import DEFAULT_SIZE, MetricInfo, Zone, ZoneStats
from .errors import (
    AttachLimitError,
    BadMagicError,
    ClosedError,
    CorruptError,
    ExistsError,
    InternalError,
    InvalidArgumentError,
    InvalidNameError,
    InvalidSizeError,
    KindMismatchError,
    LockTimeoutError,
    NameTooLongError,
    NoSpaceError,
    NotAFileError,
    NotFoundError,
    NullArgumentError,
    PermissionDeniedError,
    ReadOnlyError,
    ShmMetricsError,
    UntrustedError,
    VersionError,
    ZoneFullError,
    ZoneIOError,
)

__version__ = "0.1.0"

#: Longest metric name in bytes (``SHM_NAME_MAX``).
NAME_MAX = _ffi.SHM_NAME_MAX
#: Writer slots of a zone created without ``max_writers`` (``SHM_MAX_ATTACHED``): the most
#: processes attached to it for writing at once.
MAX_ATTACHED = _ffi.SHM_MAX_ATTACHED
#: Most writer slots a zone can be created with (``SHM_MAX_WRITERS``).
MAX_WRITERS = _ffi.SHM_MAX_WRITERS
#: Path of the loaded ``libshmmetrics`` file.
LIBRARY_PATH = _ffi.LIBRARY_PATH


def abi_version() -> "tuple[int, int]":
    """(major, minor) ABI version of the loaded library."""
    v = _ffi.lib.shm_abi_version()
    return (v >> 16, v & 0xFFFF)


__all__ = [
    "Zone",
    "Counter",
    "Gauge",
    "GaugeF64",
    "Kind",
    "MetricInfo",
    "ZoneStats",
    "DEFAULT_SIZE",
    "NAME_MAX",
    "MAX_ATTACHED",
    "MAX_WRITERS",
    "LIBRARY_PATH",
    "abi_version",
    "ShmMetricsError",
    "NullArgumentError",
    "InvalidArgumentError",
    "InvalidNameError",
    "NameTooLongError",
    "InvalidSizeError",
    "NotFoundError",
    "ExistsError",
    "KindMismatchError",
    "ZoneFullError",
    "ReadOnlyError",
    "BadMagicError",
    "VersionError",
    "CorruptError",
    "NotAFileError",
    "PermissionDeniedError",
    "NoSpaceError",
    "ZoneIOError",
    "ClosedError",
    "AttachLimitError",
    "InternalError",
    "UntrustedError",
    "LockTimeoutError",
]
