"""shmmetrics: counters and gauges in a file-backed shared-memory zone, shared by processes.

Python binding (ctypes) of ``libshmmetrics``::

    import shmmetrics

    with shmmetrics.Zone("myapp") as zone:          # /dev/shm/shmmetrics-myapp
        requests = zone.counter("http_requests_total")
        requests.inc()                              # one atomic add, visible to every process
        for m in zone:                              # MetricInfo(name, kind, value, generation)
            print(m.name, m.kind, m.value)

See docs/PYTHON.md for fork/spawn behaviour and the Prometheus collector
(:mod:`shmmetrics.prometheus`).
"""

from __future__ import annotations

from . import _ffi
from ._core import (
    DEFAULT_DIR,
    DEFAULT_SIZE,
    Counter,
    Gauge,
    GaugeFloat,
    Kind,
    MetricInfo,
    Zone,
    ZoneStats,
    zone_directory,
)
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
    NameTooLongError,
    NoSpaceError,
    NotAFileError,
    NotFoundError,
    NullArgumentError,
    PermissionDeniedError,
    ReadOnlyError,
    ShmMetricsError,
    VersionError,
    ZoneFullError,
    ZoneIOError,
)

__version__ = "0.1.0"

#: Longest metric name in bytes (``SHM_NAME_MAX``).
NAME_MAX = _ffi.SHM_NAME_MAX
#: Most processes that can attach one zone for writing at once (``SHM_MAX_ATTACHED``).
MAX_ATTACHED = _ffi.SHM_MAX_ATTACHED
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
    "GaugeFloat",
    "Kind",
    "MetricInfo",
    "ZoneStats",
    "DEFAULT_SIZE",
    "DEFAULT_DIR",
    "NAME_MAX",
    "MAX_ATTACHED",
    "LIBRARY_PATH",
    "abi_version",
    "zone_directory",
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
]
