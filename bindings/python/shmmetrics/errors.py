"""Exceptions: one class per ``shm_status`` error code, all under :class:`ShmMetricsError`.

Every exception carries the status code (``status``), its C name (``status_name``), the
library's static text for it (``status_text``) and the library's detailed message for this
failure (``detail``: the call's own ``shm_error`` where the call takes one, else
``shm_last_error()`` of the calling thread). Where a built-in exception means the same thing, the class
also derives from it (``NotFoundError`` is a ``FileNotFoundError``, ``InvalidNameError`` a
``ValueError``...), so generic handlers keep working.
"""

from __future__ import annotations

from typing import Dict, Type


class ShmMetricsError(Exception):
    """Base class of every error the library reports.

    Attributes:
        status: the ``shm_status`` code (an int, 2 and above).
        status_name: its C name, e.g. ``"SHM_ERR_ZONE_FULL"``.
        status_text: the library's short text for the code.
        detail: the library's detailed message for this failure.
    """

    status: int = -1
    status_name: str = "SHM_ERR_UNKNOWN"

    def __init__(self, detail: str = "", status_text: str = "", status: "int | None" = None) -> None:
        if status is not None:
            self.status = status
        self.detail = detail
        self.status_text = status_text
        message = detail or status_text or self.status_name
        if status_text and detail and status_text not in detail:
            message = f"{detail} ({status_text})"
        super().__init__(message)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keep the attributes across pickling (multiprocessing sends exceptions back).
        return (_rebuild, (type(self), self.detail, self.status_text, self.status))


def _rebuild(cls: "Type[ShmMetricsError]", detail: str, text: str, status: int) -> ShmMetricsError:
    return cls(detail, text, status)


class NullArgumentError(ShmMetricsError, ValueError):
    """A required pointer argument was NULL (a binding bug if it ever shows up)."""

    status, status_name = 2, "SHM_ERR_NULL_ARGUMENT"


class InvalidArgumentError(ShmMetricsError, ValueError):
    """An argument is out of range (unknown flag or kind, bad mode, contradictory options)."""

    status, status_name = 3, "SHM_ERR_INVALID_ARGUMENT"


class InvalidNameError(ShmMetricsError, ValueError):
    """Empty name, name with NUL, invalid UTF-8, or a zone name that is not a plain file name."""

    status, status_name = 4, "SHM_ERR_INVALID_NAME"


class NameTooLongError(ShmMetricsError, ValueError):
    """Metric name longer than SHM_NAME_MAX (255) bytes; names are never truncated."""

    status, status_name = 5, "SHM_ERR_NAME_TOO_LONG"


class InvalidSizeError(ShmMetricsError, ValueError):
    """Zone size zero, too small for one metric, or above the maximum."""

    status, status_name = 6, "SHM_ERR_INVALID_SIZE"


class NotFoundError(ShmMetricsError, FileNotFoundError):
    """The zone does not exist and ``create`` was false."""

    status, status_name = 7, "SHM_ERR_NOT_FOUND"


class ExistsError(ShmMetricsError, FileExistsError):
    """The zone exists and ``exclusive`` was given."""

    status, status_name = 8, "SHM_ERR_EXISTS"


class KindMismatchError(ShmMetricsError, TypeError):
    """The name is registered in the zone with another kind."""

    status, status_name = 9, "SHM_ERR_KIND_MISMATCH"


class ZoneFullError(ShmMetricsError):
    """Every entry of the zone is in use (counted in the zone statistics)."""

    status, status_name = 10, "SHM_ERR_ZONE_FULL"


class ReadOnlyError(ShmMetricsError):
    """The zone was opened read-only: registration is refused (iteration and stats work)."""

    status, status_name = 11, "SHM_ERR_READ_ONLY"


class BadMagicError(ShmMetricsError):
    """The file is not a shmmetrics zone (wrong magic or endianness)."""

    status, status_name = 12, "SHM_ERR_BAD_MAGIC"


class VersionError(ShmMetricsError):
    """The zone's format major version is not supported by this library."""

    status, status_name = 13, "SHM_ERR_VERSION"


class CorruptError(ShmMetricsError):
    """The file is truncated or inconsistent, or ``verify()`` found damage."""

    status, status_name = 14, "SHM_ERR_CORRUPT"


class NotAFileError(ShmMetricsError, OSError):
    """The zone path is not a regular file (directory, FIFO, symlink, device)."""

    status, status_name = 15, "SHM_ERR_NOT_A_FILE"


class PermissionDeniedError(ShmMetricsError, PermissionError):
    """The operating system refused access to the zone file."""

    status, status_name = 16, "SHM_ERR_PERMISSION"


class NoSpaceError(ShmMetricsError, OSError):
    """No space left to reserve the zone file."""

    status, status_name = 17, "SHM_ERR_NO_SPACE"


class ZoneIOError(ShmMetricsError, OSError):
    """Another operating-system error; ``detail`` has the library's message."""

    status, status_name = 18, "SHM_ERR_IO"


class ClosedError(ShmMetricsError, ValueError):
    """The zone was closed or the metric handle released/closed (like I/O on a closed file)."""

    status, status_name = 19, "SHM_ERR_CLOSED"


class AttachLimitError(ShmMetricsError):
    """Every attach slot (SHM_MAX_ATTACHED) of the zone is held by a live process."""

    status, status_name = 20, "SHM_ERR_ATTACH_LIMIT"


class InternalError(ShmMetricsError):
    """An internal error (a library bug): the call did nothing."""

    status, status_name = 21, "SHM_ERR_INTERNAL"


class UntrustedError(ShmMetricsError, PermissionError):
    """A writer refused a zone file another user owns or could write (opt in with
    ``trust_shared=True`` for zones shared between users on purpose)."""

    status, status_name = 22, "SHM_ERR_UNTRUSTED"


class LockTimeoutError(ShmMetricsError, TimeoutError):
    """The registration lock stayed held by a live process longer than the lock timeout."""

    status, status_name = 23, "SHM_ERR_LOCK_TIMEOUT"


ERRORS: Dict[int, Type[ShmMetricsError]] = {
    cls.status: cls
    for cls in (
        NullArgumentError,
        InvalidArgumentError,
        InvalidNameError,
        NameTooLongError,
        InvalidSizeError,
        NotFoundError,
        ExistsError,
        KindMismatchError,
        ZoneFullError,
        ReadOnlyError,
        BadMagicError,
        VersionError,
        CorruptError,
        NotAFileError,
        PermissionDeniedError,
        NoSpaceError,
        ZoneIOError,
        ClosedError,
        AttachLimitError,
        InternalError,
        UntrustedError,
        LockTimeoutError,
    )
}


def error_for_status(status: int, detail: str = "", status_text: str = "") -> ShmMetricsError:
    """The exception instance for a status code (a plain ShmMetricsError for unknown codes)."""
    cls = ERRORS.get(status)
    if cls is None:
        err = ShmMetricsError(detail, status_text or f"unknown status {status}", status)
        err.status_name = f"SHM_STATUS_{status}"
        return err
    return cls(detail, status_text)


__all__ = ["ShmMetricsError", "ERRORS", "error_for_status"] + [c.__name__ for c in ERRORS.values()]
