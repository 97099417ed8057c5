"""ctypes declarations for every function of ``include/shmmetrics.h``.

This module is the only place that knows the C ABI. It loads ``libshmmetrics`` by explicit
path (never through the system search path), declares ``argtypes``/``restype`` for every
function of the header, and attaches an ``errcheck`` to every fallible one so that a status
code becomes a typed :class:`~shmmetrics.errors.ShmMetricsError`.

Library lookup order:

1. ``$SHMMETRICS_LIB`` (a file path) when set and non-empty;
2. the library installed next to this file by ``pip install`` (``libshmmetrics*.so``);
3. ``libshmmetrics.so`` next to this file (a development copy or symlink).

Hot-path calls (``inc``, ``update``...) do not go through these declared functions: see
:data:`HOT` for the prepared pointers the metric classes use.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_double,
    c_int32,
    c_int64,
    c_size_t,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import errors

# ---- constants (mirrors of the header's #defines; the test suite checks them) --------------

SHM_ABI_VERSION_MAJOR = 1
SHM_ABI_VERSION_MINOR = 1

SHM_OPEN_CREATE = 1
SHM_OPEN_EXCLUSIVE = 2
SHM_OPEN_READONLY = 4
SHM_OPEN_FRESH = 8
SHM_OPEN_REMOVE_ON_CLOSE = 16
SHM_OPEN_TRUST_SHARED = 32

SHM_KIND_COUNTER = 1
SHM_KIND_GAUGE = 2
SHM_KIND_GAUGE_F64 = 3

SHM_NAME_MAX = 255
SHM_MAX_ATTACHED = 256
SHM_MAX_WRITERS = 16384
SHM_DEFAULT_SIZE = 1048576
SHM_DEFAULT_LOCK_TIMEOUT_MS = 5000
SHM_ERROR_MESSAGE_MAX = 1024

SHM_OK = 0
SHM_DONE = 1

# ---- structures -----------------------------------------------------------------------------


class shm_stats(Structure):
    """``struct shm_stats``: zone occupancy, filled by ``shm_zone_stats()``."""

    _fields_ = [
        ("capacity", c_uint32),
        ("used", c_uint32),
        ("free", c_uint32),
        ("orphaned", c_uint32),
        ("attached", c_uint32),
        ("max_attached", c_uint32),
        ("failed_registrations", c_uint64),
        ("failed_zone_full", c_uint64),
        ("file_size", c_uint64),
        ("version_major", c_uint16),
        ("version_minor", c_uint16),
        ("name_max", c_uint32),
        ("repairs", c_uint64),
    ]


class shm_metric_info(Structure):
    """``struct shm_metric_info``: one metric, filled by ``shm_zone_next()``."""

    _fields_ = [
        ("kind", c_uint32),
        ("name_len", c_uint32),
        ("generation", c_uint64),
        ("value_i64", c_int64),
        ("value_f64", c_double),
        ("name", c_char * 256),
    ]


class shm_error(Structure):
    """``struct shm_error``: a failed call's status and message (ABI 1.1)."""

    _fields_ = [
        ("status", c_int32),
        ("message_len", c_uint32),
        ("message", c_char * SHM_ERROR_MESSAGE_MAX),
    ]


class shm_open_options(Structure):
    """``struct shm_open_options`` (ABI 1.1); zero fields mean the defaults."""

    _fields_ = [
        ("size", c_uint64),
        ("flags", c_uint32),
        ("mode", c_uint32),
        ("max_writers", c_uint32),
        ("lock_timeout_ms", c_uint32),
        ("reserved", c_uint64 * 6),
    ]


class shm_info(Structure):
    """``struct shm_info``: what a zone is and how full, filled by ``shm_zone_info()``."""

    _fields_ = [
        ("file_size", c_uint64),
        ("created_unix_ns", c_uint64),
        ("failed_registrations", c_uint64),
        ("failed_zone_full", c_uint64),
        ("lock_timeouts", c_uint64),
        ("repairs", c_uint64),
        ("capacity", c_uint32),
        ("used", c_uint32),
        ("free", c_uint32),
        ("orphaned", c_uint32),
        ("high_water", c_uint32),
        ("attached", c_uint32),
        ("max_writers", c_uint32),
        ("creator_pid", c_uint32),
        ("owner_uid", c_uint32),
        ("mode", c_uint32),
        ("version_major", c_uint16),
        ("version_minor", c_uint16),
        ("read_only", c_uint32),
        ("reserved", c_uint64 * 8),
    ]


class shm_metric_ref(Structure):
    """``struct shm_metric_ref``: a registration's value slot and identity (ABI 1.1)."""

    _fields_ = [
        ("slot", c_void_p),
        ("generation", c_uint64),
        ("index", c_uint32),
        ("kind", c_uint32),
    ]


class shm_metric_row(Structure):
    """``struct shm_metric_row``: one metric of a bulk read (ABI 1.1)."""

    _fields_ = [
        ("generation", c_uint64),
        ("created_unix_ns", c_uint64),
        ("value_i64", c_int64),
        ("value_f64", c_double),
        ("kind", c_uint32),
        ("name_len", c_uint32),
        ("name_offset", c_uint32),
        ("index", c_uint32),
    ]


# ---- loading --------------------------------------------------------------------------------

_HERE = Path(__file__).resolve().parent


def _candidates() -> List[Path]:
    found: List[Path] = []
    # setuptools-rust names the copied cdylib like an extension module
    # (libshmmetrics.cpython-311-x86_64-linux-gnu.so); any interpreter can load it.
    found.extend(sorted(_HERE.glob("libshmmetrics.*.so")))
    found.append(_HERE / "libshmmetrics.so")
    return found


def library_path() -> str:
    """The path of the ``libshmmetrics`` file this process loads (see module docstring)."""
    env = os.environ.get("SHMMETRICS_LIB")
    if env:
        return env
    for path in _candidates():
        if path.is_file():
            return str(path)
    raise ImportError(
        "shmmetrics: libshmmetrics.so not found next to the package "
        f"({_HERE}); reinstall with `pip install ./bindings/python` or set SHMMETRICS_LIB "
        "to the library file"
    )


LIBRARY_PATH = library_path()
# CDLL: the declared functions release the GIL during the call (registration takes a kernel
# lock and may wait). PyDLL: the hot-path copies keep the GIL; each is one atomic instruction,
# and skipping the GIL release/re-acquire is a third of a bare call's cost.
lib = ctypes.CDLL(LIBRARY_PATH)
_pylib = ctypes.PyDLL(LIBRARY_PATH)

# ---- errcheck -------------------------------------------------------------------------------


def last_error() -> str:
    """The calling thread's last failure message from the library ("" if none)."""
    raw = lib.shm_last_error()
    return raw.decode("utf-8", "replace") if raw else ""


def status_text(status: int) -> str:
    """The library's static text for a status code."""
    raw = lib.shm_status_str(status)
    return raw.decode("utf-8", "replace") if raw else "unknown status"


def _raise_for(status: int, args: Tuple[Any, ...]) -> "errors.ShmMetricsError":
    # ABI 1.1 calls take a `struct shm_error *` last: when the caller passed one, its message
    # is this call's own; otherwise the thread's last error (the same OS thread made the call).
    err = getattr(args[-1], "_obj", args[-1]) if args else None
    if isinstance(err, shm_error) and err.status == status:
        detail = err.message.decode("utf-8", "replace")
    else:
        detail = last_error()
    return errors.error_for_status(status, detail, status_text(status))


def _check_status(result: int, func: Any, args: Tuple[Any, ...]) -> int:
    """errcheck for calls that return SHM_OK or an error."""
    if result != SHM_OK:
        raise _raise_for(result, args)
    return result


def _check_iter(result: int, func: Any, args: Tuple[Any, ...]) -> int:
    """errcheck for shm_zone_next/shm_zone_read: SHM_OK and SHM_DONE are both successes."""
    if result != SHM_OK and result != SHM_DONE:
        raise _raise_for(result, args)
    return result


# ---- declarations ---------------------------------------------------------------------------

_status = c_int32
_p = c_void_p  # opaque handles: shm_zone*, shm_counter*, shm_gauge*, shm_gauge_f64*
_pp = POINTER(c_void_p)  # out-parameters: shm_xxx**

# name: (restype, argtypes, errcheck or None). One row per function of the header; the test
# suite parses include/shmmetrics.h and checks this table against it.
PROTOTYPES: Dict[str, Tuple[Any, List[Any], Optional[Callable[..., Any]]]] = {
    "shm_status_str": (c_char_p, [c_int32], None),
    "shm_last_error": (c_char_p, [], None),
    "shm_abi_version": (c_uint32, [], None),
    "shm_zone_open": (_status, [c_char_p, c_uint64, c_uint32, _pp], _check_status),
    "shm_zone_open_path": (_status, [c_char_p, c_uint64, c_uint32, c_uint32, _pp], _check_status),
    "shm_zone_close": (_status, [_p], _check_status),
    "shm_zone_stats": (_status, [_p, POINTER(shm_stats)], _check_status),
    "shm_zone_next": (_status, [_p, POINTER(c_uint32), POINTER(shm_metric_info)], _check_iter),
    "shm_zone_verify": (_status, [_p], _check_status),
    "shm_zone_repair": (_status, [_p, POINTER(c_uint32)], _check_status),
    "shm_zone_open_in": (_status, [c_char_p, c_char_p, POINTER(shm_open_options), _pp, POINTER(shm_error)], _check_status),
    "shm_zone_open_file": (_status, [c_char_p, POINTER(shm_open_options), _pp, POINTER(shm_error)], _check_status),
    "shm_zone_info": (_status, [_p, POINTER(shm_info), POINTER(shm_error)], _check_status),
    "shm_zone_check": (_status, [_p, POINTER(shm_error)], _check_status),
    "shm_zone_path": (_status, [_p, c_char_p, c_size_t, POINTER(c_size_t), POINTER(shm_error)], _check_status),
    "shm_zone_register": (_status, [_p, c_uint32, c_char_p, c_size_t, POINTER(shm_metric_ref), POINTER(shm_error)], _check_status),
    "shm_zone_unregister": (_status, [_p, POINTER(shm_metric_ref), POINTER(shm_error)], _check_status),
    "shm_zone_read": (
        _status,
        [_p, POINTER(c_uint32), POINTER(shm_metric_row), c_size_t, c_char_p, c_size_t, POINTER(c_size_t), POINTER(shm_error)],
        _check_iter,
    ),
    # counters
    "shm_counter_open": (_status, [_p, c_char_p, c_size_t, _pp], _check_status),
    "shm_counter_release": (_status, [_p], _check_status),
    "shm_counter_close": (_status, [_p], _check_status),
    "shm_counter_inc": (None, [_p, c_int64], None),
    "shm_counter_dec": (None, [_p, c_int64], None),
    "shm_counter_count": (c_int64, [_p], None),
    "shm_counter_clear": (None, [_p], None),
    "shm_counter_slot": (c_void_p, [_p], None),
    # integer gauges
    "shm_gauge_open": (_status, [_p, c_char_p, c_size_t, _pp], _check_status),
    "shm_gauge_release": (_status, [_p], _check_status),
    "shm_gauge_close": (_status, [_p], _check_status),
    "shm_gauge_update": (None, [_p, c_int64], None),
    "shm_gauge_add": (None, [_p, c_int64], None),
    "shm_gauge_value": (c_int64, [_p], None),
    "shm_gauge_slot": (c_void_p, [_p], None),
    # float gauges
    "shm_gauge_f64_open": (_status, [_p, c_char_p, c_size_t, _pp], _check_status),
    "shm_gauge_f64_release": (_status, [_p], _check_status),
    "shm_gauge_f64_close": (_status, [_p], _check_status),
    "shm_gauge_f64_update": (None, [_p, c_double], None),
    "shm_gauge_f64_add": (None, [_p, c_double], None),
    "shm_gauge_f64_value": (c_double, [_p], None),
    "shm_gauge_f64_slot": (c_void_p, [_p], None),
}

for _name, (_restype, _argtypes, _errcheck) in PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _restype
    _fn.argtypes = _argtypes
    if _errcheck is not None:
        _fn.errcheck = _errcheck

_abi = lib.shm_abi_version()
if _abi >> 16 != SHM_ABI_VERSION_MAJOR:
    raise ImportError(
        f"shmmetrics: {LIBRARY_PATH} has ABI {_abi >> 16}.{_abi & 0xFFFF}, this binding needs "
        f"{SHM_ABI_VERSION_MAJOR}.x"
    )

# ---- hot path -------------------------------------------------------------------------------
#
# The declared functions above convert every argument on every call (c_void_p.from_param on
# the handle, c_int64.from_param on the amount) and, for CDLL, release and re-take the GIL. The
# hot path instead calls second foreign-function objects of the same symbols, from the PyDLL
# handle, with no argtypes, and passes arguments converted in advance: ``c_void_p.from_param(h)``
# and ``c_int64.from_param(n)`` return CArgObjects that ctypes copies as they are (their ffi types
# are pointer and sint64, so the C call is exactly the declared one). The metric classes keep a
# prebuilt ``(handle, 1)`` tuple and call ``fn(*args)``, so not even the argument tuple is
# allocated per call, and keep CArgObjects for small amounts; other amounts become
# ``c_int64(n)``/``c_double(x)`` instances, range-checked first (ctypes would silently wrap).
# These functions return nothing and cannot fail, so no errcheck is involved.


def _hot(name: str, restype: Any = None) -> Any:
    fn = _pylib._FuncPtr((name, _pylib))
    fn.restype = restype
    return fn


# name -> raw function; restype None for void functions.
HOT: Dict[str, Any] = {
    "shm_counter_inc": _hot("shm_counter_inc"),
    "shm_counter_dec": _hot("shm_counter_dec"),
    "shm_counter_clear": _hot("shm_counter_clear"),
    "shm_gauge_update": _hot("shm_gauge_update"),
    "shm_gauge_add": _hot("shm_gauge_add"),
    "shm_gauge_f64_update": _hot("shm_gauge_f64_update"),
    "shm_gauge_f64_add": _hot("shm_gauge_f64_add"),
}


def _quiet(name: str) -> Any:
    fn = lib._FuncPtr((name, lib))  # CDLL: closing a zone may wait for the zone's lock
    fn.restype = c_int32
    fn.argtypes = [c_void_p]
    return fn


# Functions without errcheck, for weakref finalizers (which must not raise).
QUIET: Dict[str, Any] = {name: _quiet(name) for name in ("shm_zone_close", "shm_counter_close", "shm_gauge_close", "shm_gauge_f64_close")}

handle_arg = c_void_p.from_param
int64_arg = c_int64.from_param
ONE = int64_arg(1)

__all__ = ["lib", "HOT", "PROTOTYPES", "LIBRARY_PATH", "library_path", "last_error", "status_text"]
