//! Status codes (shared with C: cbindgen reads this file) and the core's error type.

use std::fmt;

/// Result of every fallible call: 0 is success, `SHM_DONE` ends an iteration, anything else is
/// an error whose text `shm_status_str()` gives; `shm_last_error()` has the detailed message.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum shm_status {
    /// Success.
    SHM_OK = 0,
    /// Iteration finished: no more metrics (not an error).
    SHM_DONE = 1,
    /// A required pointer argument was NULL.
    SHM_ERR_NULL_ARGUMENT = 2,
    /// An argument is out of range (unknown flag or kind, bad mode).
    SHM_ERR_INVALID_ARGUMENT = 3,
    /// Empty name, name with NUL, invalid UTF-8, or a zone name that is not a plain file name.
    SHM_ERR_INVALID_NAME = 4,
    /// Metric name longer than SHM_NAME_MAX bytes (names are never truncated).
    SHM_ERR_NAME_TOO_LONG = 5,
    /// Zone size zero, too small for one metric, or above the maximum.
    SHM_ERR_INVALID_SIZE = 6,
    /// The zone does not exist and SHM_OPEN_CREATE was not given.
    SHM_ERR_NOT_FOUND = 7,
    /// The zone exists and SHM_OPEN_EXCLUSIVE was given.
    SHM_ERR_EXISTS = 8,
    /// The name is registered with another kind.
    SHM_ERR_KIND_MISMATCH = 9,
    /// Every entry is in use; counted in the zone statistics.
    SHM_ERR_ZONE_FULL = 10,
    /// The zone was opened with SHM_OPEN_READONLY.
    SHM_ERR_READ_ONLY = 11,
    /// The file is not a shmmetrics zone (wrong magic or endianness).
    SHM_ERR_BAD_MAGIC = 12,
    /// The zone's format major version is not supported.
    SHM_ERR_VERSION = 13,
    /// The file is truncated or its header is inconsistent, or verify found damage.
    SHM_ERR_CORRUPT = 14,
    /// The zone path is not a regular file (directory, FIFO, symlink, device).
    SHM_ERR_NOT_A_FILE = 15,
    /// The operating system refused access to the zone file.
    SHM_ERR_PERMISSION = 16,
    /// No space left to reserve the zone file.
    SHM_ERR_NO_SPACE = 17,
    /// Another operating-system error; see shm_last_error().
    SHM_ERR_IO = 18,
    /// The zone was closed or the handle released.
    SHM_ERR_CLOSED = 19,
    /// Every attach slot of the zone is held by a live process.
    SHM_ERR_ATTACH_LIMIT = 20,
    /// An internal error (a bug): the call did nothing.
    SHM_ERR_INTERNAL = 21,
    /// A writer refused a zone file another user owns or could write (see SHM_OPEN_TRUST_SHARED).
    SHM_ERR_UNTRUSTED = 22,
    /// The registration lock stayed held by a live process for longer than the lock timeout.
    SHM_ERR_LOCK_TIMEOUT = 23,
}

pub use shm_status as Status;

impl Status {
    pub fn text(self) -> &'static str {
        match self {
            Status::SHM_OK => "ok",
            Status::SHM_DONE => "no more metrics",
            Status::SHM_ERR_NULL_ARGUMENT => "a required argument is NULL",
            Status::SHM_ERR_INVALID_ARGUMENT => "invalid argument",
            Status::SHM_ERR_INVALID_NAME => "invalid name",
            Status::SHM_ERR_NAME_TOO_LONG => "name too long",
            Status::SHM_ERR_INVALID_SIZE => "invalid zone size",
            Status::SHM_ERR_NOT_FOUND => "zone not found",
            Status::SHM_ERR_EXISTS => "zone already exists",
            Status::SHM_ERR_KIND_MISMATCH => "metric exists with another kind",
            Status::SHM_ERR_ZONE_FULL => "zone full",
            Status::SHM_ERR_READ_ONLY => "zone is read-only",
            Status::SHM_ERR_BAD_MAGIC => "not a shmmetrics zone",
            Status::SHM_ERR_VERSION => "unsupported zone format version",
            Status::SHM_ERR_CORRUPT => "zone file is corrupt or truncated",
            Status::SHM_ERR_NOT_A_FILE => "zone path is not a regular file",
            Status::SHM_ERR_PERMISSION => "permission denied",
            Status::SHM_ERR_NO_SPACE => "no space left for the zone",
            Status::SHM_ERR_IO => "I/O error",
            Status::SHM_ERR_CLOSED => "zone closed or handle released",
            Status::SHM_ERR_ATTACH_LIMIT => "too many processes attached",
            Status::SHM_ERR_INTERNAL => "internal error",
            Status::SHM_ERR_UNTRUSTED => "zone file is owned or writable by another user",
            Status::SHM_ERR_LOCK_TIMEOUT => "timed out waiting for the registration lock",
        }
    }

    /// Maps a raw code from C; unknown codes give None.
    pub fn from_code(code: i32) -> Option<Status> {
        ALL.iter().copied().find(|s| *s as i32 == code)
    }
}

const ALL: [Status; 24] = [
    Status::SHM_OK,
    Status::SHM_DONE,
    Status::SHM_ERR_NULL_ARGUMENT,
    Status::SHM_ERR_INVALID_ARGUMENT,
    Status::SHM_ERR_INVALID_NAME,
    Status::SHM_ERR_NAME_TOO_LONG,
    Status::SHM_ERR_INVALID_SIZE,
    Status::SHM_ERR_NOT_FOUND,
    Status::SHM_ERR_EXISTS,
    Status::SHM_ERR_KIND_MISMATCH,
    Status::SHM_ERR_ZONE_FULL,
    Status::SHM_ERR_READ_ONLY,
    Status::SHM_ERR_BAD_MAGIC,
    Status::SHM_ERR_VERSION,
    Status::SHM_ERR_CORRUPT,
    Status::SHM_ERR_NOT_A_FILE,
    Status::SHM_ERR_PERMISSION,
    Status::SHM_ERR_NO_SPACE,
    Status::SHM_ERR_IO,
    Status::SHM_ERR_CLOSED,
    Status::SHM_ERR_ATTACH_LIMIT,
    Status::SHM_ERR_INTERNAL,
    Status::SHM_ERR_UNTRUSTED,
    Status::SHM_ERR_LOCK_TIMEOUT,
];

/// An error from the core: a status for programs and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub status: Status,
    pub message: String,
}

impl Error {
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }

    /// Wraps an OS error met while doing `what`, keeping the useful distinctions.
    pub fn io(what: &str, e: std::io::Error) -> Error {
        let status = match e.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => Status::SHM_ERR_PERMISSION,
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Status::SHM_ERR_NO_SPACE,
            Some(libc::ENOENT) => Status::SHM_ERR_NOT_FOUND,
            Some(libc::EISDIR) | Some(libc::ELOOP) | Some(libc::ENXIO) => Status::SHM_ERR_NOT_A_FILE,
            _ => Status::SHM_ERR_IO,
        };
        Error::new(status, format!("{what}: {e}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status.text())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_dense() {
        for (i, s) in ALL.iter().enumerate() {
            assert_eq!(*s as i32, i as i32);
            assert_eq!(Status::from_code(i as i32), Some(*s));
            assert!(!s.text().is_empty());
        }
        assert_eq!(Status::from_code(-1), None);
        assert_eq!(Status::from_code(ALL.len() as i32), None);
    }
}
