//! Exit codes and the command's error type. The codes are documented in docs/CLI.md and in
//! `shmmetrics --help`; scripts may rely on them.

use std::fmt;

use shmmetrics::Status;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    /// `verify` found damage.
    Damaged = 1,
    /// Bad arguments (clap uses 2 as well).
    Usage = 2,
    NotFound = 3,
    /// The file exists but is neither a shmmetrics zone nor a MOSN zone, or is not a regular file.
    NotAZone = 4,
    /// A shmmetrics zone of a format major version this build does not read.
    Version = 5,
    /// Truncated, or its header is inconsistent.
    Corrupt = 6,
    Permission = 7,
    /// `rm` refused: writers are attached.
    Busy = 8,
    /// Anything else (I/O errors, the listen address taken, ...).
    Failure = 9,
}

pub const HELP: &str = "\
Exit codes:
  0  success (verify: the zone is healthy)
  1  verify: the zone is damaged
  2  usage error (bad arguments, bad zone name or glob)
  3  zone not found
  4  not a zone (neither a shmmetrics nor a MOSN zone, or not a regular file)
  5  unsupported zone format version
  6  zone truncated or corrupt
  7  permission denied
  8  rm: writers are attached (use --force)
  9  other error (I/O, address in use, ...)";

#[derive(Debug)]
pub struct CliError {
    pub code: Code,
    pub message: String,
}

impl CliError {
    pub fn new(code: Code, message: impl Into<String>) -> CliError {
        CliError { code, message: message.into() }
    }

    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(Code::Usage, message)
    }

    pub fn io(what: &str, e: std::io::Error) -> CliError {
        let code = match e.raw_os_error() {
            Some(libc::ENOENT) => Code::NotFound,
            Some(libc::EACCES) | Some(libc::EPERM) => Code::Permission,
            _ => Code::Failure,
        };
        CliError::new(code, format!("{what}: {e}"))
    }
}

pub fn code_of(status: Status) -> Code {
    match status {
        Status::SHM_ERR_NOT_FOUND => Code::NotFound,
        Status::SHM_ERR_BAD_MAGIC | Status::SHM_ERR_NOT_A_FILE => Code::NotAZone,
        Status::SHM_ERR_VERSION => Code::Version,
        Status::SHM_ERR_CORRUPT => Code::Corrupt,
        Status::SHM_ERR_PERMISSION | Status::SHM_ERR_UNTRUSTED => Code::Permission,
        Status::SHM_ERR_INVALID_NAME => Code::Usage,
        _ => Code::Failure,
    }
}

impl From<shmmetrics::Error> for CliError {
    fn from(e: shmmetrics::Error) -> CliError {
        CliError::new(code_of(e.status), e.to_string())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// eprintln! that never panics: a server whose log pipe was closed (its reader gone) keeps
/// serving and still shuts down cleanly.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
pub(crate) use note;
