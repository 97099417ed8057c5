"""Bulk reads (``shm_zone_read``): rows decoded column by column with C-level helpers.

One library call fills a buffer of ``shm_metric_row`` and a buffer of NUL-terminated names.
Each column (values, registration ids...) comes out of the row buffer as one strided
``memoryview`` slice converted by ``tolist()`` in C, and the names are one ``decode`` and one
``split`` of the names buffer, so Python code runs per chunk, not per metric (only float gauges
take one Python step each). ``make python-bench`` times it.
"""

from __future__ import annotations

import struct
from ctypes import byref, c_char, c_size_t, c_uint32, sizeof
from itertools import compress, repeat
from operator import eq
from typing import Any, Callable, Iterator, List, Literal, NamedTuple, Optional, Tuple

from . import _ffi
from .errors import InternalError

_Row = _ffi.shm_metric_row
ROW_SIZE = sizeof(_Row)
#: Rows and name bytes per library call: 4096 rows (192 KiB) and 256 KiB of names, enough for
#: 1,024 names of the maximum length. Tests lower ROWS_PER_READ to cross chunk boundaries.
ROWS_PER_READ = 4096
NAMES_PER_READ = 256 * 1024
_name_end = struct.Struct("=II")  # name_len, name_offset: adjacent in the row
assert _Row.name_offset.offset == _Row.name_len.offset + 4


_Format = Literal["I", "q", "Q", "d"]


def _column(view: memoryview, fmt: _Format, field: Any) -> "memoryview[Any]":
    """Every row's ``field`` (a ctypes field descriptor of shm_metric_row), as a strided view."""
    width: int = field.size
    return view.cast(fmt)[field.offset // width :: ROW_SIZE // width]


class Columns(NamedTuple):
    """One chunk of a bulk read: parallel sequences, one entry per metric, in entry order.
    ``kinds`` are SHM_KIND_* codes; the last two are None when the read skipped them."""

    names: List[str]
    values: List[Any]
    kinds: List[int]
    generations: Optional[List[int]]
    created: Optional[List[int]]


def _names(view: memoryview, names: bytearray, n: int) -> List[str]:
    if not n:
        return []
    length, offset = _name_end.unpack_from(view, (n - 1) * ROW_SIZE + _Row.name_len.offset)
    # The library writes the names one after another, each followed by a NUL, and a name never
    # holds a NUL: one decode and one split give them all (the count checks it).
    text = str(memoryview(names)[: offset + length + 1], "utf-8", "replace").split("\0")
    if len(text) == n + 1:
        text.pop()
        return text
    pairs = zip(_column(view, "I", _Row.name_offset).tolist(), _column(view, "I", _Row.name_len).tolist())
    return [names[o : o + size].decode("utf-8", "replace") for o, size in pairs]


def _values(view: memoryview, kinds: List[int]) -> List[Any]:
    """value_i64 for counters and integer gauges, value_f64 for float gauges."""
    values: List[Any] = _column(view, "q", _Row.value_i64).tolist()
    floats = kinds.count(_ffi.SHM_KIND_GAUGE_F64)
    if floats == len(kinds):
        return _column(view, "d", _Row.value_f64).tolist()
    if floats:
        f64 = _column(view, "d", _Row.value_f64)
        for i in compress(range(len(kinds)), map(eq, kinds, repeat(_ffi.SHM_KIND_GAUGE_F64))):
            values[i] = f64[i]
    return values


def decode(rows: bytearray, names: bytearray, n: int, full: bool = True) -> Columns:
    """The first ``n`` rows of ``rows`` and their names in ``names``, as columns; without
    ``full``, only names, values and kinds. The kinds are the library's codes, unchecked
    (:func:`unknown_kind` makes the error for a code nobody knows)."""
    view = memoryview(rows)[: n * ROW_SIZE]
    kinds = _column(view, "I", _Row.kind).tolist()
    values = _values(view, kinds)
    if not full:
        return Columns(_names(view, names, n), values, kinds, None, None)
    generations = _column(view, "Q", _Row.generation).tolist()
    created = _column(view, "Q", _Row.created_unix_ns).tolist()
    return Columns(_names(view, names, n), values, kinds, generations, created)


def unknown_kind(kinds: List[int], known: Any) -> InternalError:
    """The error for a chunk whose ``kinds`` hold a code not in ``known``."""
    code = next(k for k in kinds if k not in known)
    return InternalError(f"the library returned an unknown metric kind {code} (a newer library?)")


#: call(fn, *args) runs a library function on the zone pointer, as ``Zone._call`` does.
ZoneCall = Callable[..., Any]


def chunks(call: ZoneCall, full: bool = True) -> Iterator[Columns]:
    """Read a zone with ``shm_zone_read`` until SHM_DONE, one :class:`Columns` per call."""
    rows, names = bytearray(ROWS_PER_READ * ROW_SIZE), bytearray(NAMES_PER_READ)
    args: Tuple[Any, ...] = (
        (_Row * ROWS_PER_READ).from_buffer(rows),
        ROWS_PER_READ,
        (c_char * NAMES_PER_READ).from_buffer(names),
        NAMES_PER_READ,
    )
    cursor, count, err = c_uint32(0), c_size_t(0), _ffi.shm_error()
    read = _ffi.lib.shm_zone_read
    while call(read, byref(cursor), *args, byref(count), err) == _ffi.SHM_OK:
        yield decode(rows, names, count.value, full)
