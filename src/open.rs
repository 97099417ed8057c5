//! Finding, creating and validating zone files. No mapping pointers here: a file is checked
//! with `pread` before it is mapped, so a short or lying file is refused instead of SIGBUSing.

use std::fs::{File, OpenOptions as FsOpen, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result, Status};
use crate::layout::{self, Geometry, Mapping};
use crate::sys;

/// Zone `name` lives in `<dir>/shmmetrics-<name>`.
pub const FILE_PREFIX: &str = "shmmetrics-";
pub const DEFAULT_DIR: &str = "/dev/shm";
pub const DIR_ENV: &str = "SHMMETRICS_DIR";
pub const ZONE_NAME_MAX: usize = 200;
pub const DEFAULT_MODE: u32 = 0o600;
/// Size of a created zone when none is given: 1 MiB, 2,016 metrics.
pub const DEFAULT_SIZE: u64 = 1 << 20;
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// How to open a zone. `size`, `mode` and `max_writers` matter only when the zone is created
/// (`mode` also tells a writer which group/other write bits an existing zone may have).
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Bytes, rounded up to the page size (`DEFAULT_SIZE` by default).
    pub size: u64,
    pub create: bool,
    pub exclusive: bool,
    pub read_only: bool,
    pub fresh: bool,
    pub remove_on_close: bool,
    pub mode: u32,
    /// Attach for writing to a zone another user owns or may write (zones shared between
    /// users on purpose); without it a writer refuses such a file with `SHM_ERR_UNTRUSTED`.
    pub trust_shared: bool,
    /// Writer slots of a created zone; 0 means `layout::DEFAULT_WRITERS`.
    pub max_writers: u32,
    /// Longest wait for the registration lock before `SHM_ERR_LOCK_TIMEOUT`.
    pub lock_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            size: DEFAULT_SIZE,
            create: false,
            exclusive: false,
            read_only: false,
            fresh: false,
            remove_on_close: false,
            mode: DEFAULT_MODE,
            trust_shared: false,
            max_writers: 0,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
        }
    }
}

impl OpenOptions {
    pub(crate) fn check(&self) -> Result<()> {
        let invalid = |m: &str| Err(Error::new(Status::SHM_ERR_INVALID_ARGUMENT, m));
        if self.read_only && (self.create || self.exclusive || self.fresh || self.remove_on_close) {
            return invalid("read-only opens cannot create, replace or remove a zone");
        }
        if self.exclusive && self.fresh {
            return invalid("SHM_OPEN_EXCLUSIVE and SHM_OPEN_FRESH contradict each other");
        }
        if self.exclusive && !self.create {
            return invalid("SHM_OPEN_EXCLUSIVE needs SHM_OPEN_CREATE");
        }
        if self.mode & !0o777 != 0 || self.mode & 0o600 != 0o600 {
            return invalid("mode must be a permission mask that lets the owner read and write (e.g. 0600, 0640)");
        }
        if self.max_writers != 0 && layout::writer_slots_invalid(self.max_writers) {
            return Err(Error::new(Status::SHM_ERR_INVALID_ARGUMENT, layout::writer_slots_rule(self.max_writers)));
        }
        Ok(())
    }
}

/// The directory zones live in: `$SHMMETRICS_DIR`, else `/dev/shm`.
pub fn zone_dir() -> PathBuf {
    std::env::var_os(DIR_ENV).filter(|d| !d.is_empty()).map(PathBuf::from).unwrap_or_else(|| DEFAULT_DIR.into())
}

/// The file of zone `name` in `dir` (None: `zone_dir()`). A zone name is a plain file-name
/// fragment, so it can never escape the directory.
pub fn zone_path_in(dir: Option<&Path>, name: &str) -> Result<PathBuf> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || name.len() > ZONE_NAME_MAX || name.starts_with('.') || !name.chars().all(ok_char) {
        let msg = format!("zone name {name:?} must be 1-{ZONE_NAME_MAX} characters of [A-Za-z0-9_.-], not starting with '.'");
        return Err(Error::new(Status::SHM_ERR_INVALID_NAME, msg));
    }
    if dir.is_some_and(|d| d.as_os_str().is_empty()) {
        return Err(Error::new(Status::SHM_ERR_INVALID_NAME, "zone directory is empty"));
    }
    let dir = dir.map_or_else(zone_dir, Path::to_path_buf);
    Ok(dir.join(format!("{FILE_PREFIX}{name}")))
}

/// The file of zone `name` in `zone_dir()`.
pub fn zone_path(name: &str) -> Result<PathBuf> {
    zone_path_in(None, name)
}

/// A writer attaches only to a file its own user owns and no other user may write (beyond the
/// group/other write bits it asked for in `mode`), unless it opted in with `trust_shared`.
/// Checked on the open descriptor, so the file cannot be swapped between check and use.
fn check_trust(meta: &std::fs::Metadata, path: &Path, opts: &OpenOptions) -> Result<()> {
    if opts.read_only || opts.trust_shared {
        return Ok(());
    }
    let me = sys::effective_uid();
    let hint = "pass SHM_OPEN_TRUST_SHARED (trust_shared) to share a zone between users on purpose, or use a private $SHMMETRICS_DIR";
    if meta.uid() != me {
        let msg =
            format!("{} is owned by {}, not by this process's user {}; refusing to write to it ({hint})", path.display(), sys::describe_user(meta.uid()), sys::describe_user(me));
        return Err(Error::new(Status::SHM_ERR_UNTRUSTED, msg));
    }
    let foreign_write = meta.mode() & 0o022 & !opts.mode;
    if foreign_write != 0 {
        let who = if foreign_write & 0o002 != 0 { "any user" } else { "its group" };
        let msg = format!("{} has mode {:04o}: {who} may write it; refusing to write to it ({hint})", path.display(), meta.mode() & 0o7777);
        return Err(Error::new(Status::SHM_ERR_UNTRUSTED, msg));
    }
    Ok(())
}

pub struct Opened {
    pub file: File,
    pub map: Mapping,
}

fn open_existing(path: &Path, read_only: bool) -> io::Result<File> {
    // O_NOFOLLOW: a symlink planted at the zone path is refused. O_NONBLOCK: a FIFO there does
    // not hang the open (it is then refused as not a regular file).
    FsOpen::new().read(true).write(!read_only).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
}

/// Checks that `file` is a regular file holding a valid zone that this opener may trust, and
/// maps it.
fn validate_and_map(file: File, path: &Path, opts: &OpenOptions) -> Result<Opened> {
    let writable = !opts.read_only;
    let meta = file.metadata().map_err(|e| Error::io("fstat", e))?;
    if !meta.file_type().is_file() {
        return Err(Error::new(Status::SHM_ERR_NOT_A_FILE, format!("{} is not a regular file", path.display())));
    }
    check_trust(&meta, path, opts)?;
    if meta.len() < layout::HEADER_REGION {
        let msg = format!("{} is {} bytes, shorter than a zone header", path.display(), meta.len());
        return Err(Error::new(Status::SHM_ERR_CORRUPT, msg));
    }
    let header = layout::read_header_bytes(&file).map_err(|e| Error::io("read zone header", e))?;
    let geo = Geometry::from_header_bytes(&header, meta.len()).map_err(|e| Error::new(e.status, format!("{}: {}", path.display(), e.message)))?;
    let map = Mapping::map(&file, geo, writable).map_err(|e| Error::io("mmap", e))?;
    Ok(Opened { file, map })
}

fn open_error(path: &Path, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) => Error::new(Status::SHM_ERR_NOT_A_FILE, format!("{} is a symlink (refused)", path.display())),
        Some(libc::ENOENT) => Error::new(Status::SHM_ERR_NOT_FOUND, format!("{} does not exist", path.display())),
        _ => Error::io(&format!("open {}", path.display()), e),
    }
}

/// `SHM_OPEN_FRESH` never renames over another user's file. In a sticky directory such as
/// `/dev/shm` only root could, and only the owner can replace a file there, so the answer
/// cannot change between this check and the rename.
fn refuse_foreign_replacement(path: &Path, opts: &OpenOptions) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !opts.trust_shared && meta.uid() != sys::effective_uid() => {
            let msg = format!("{} is owned by {}; refusing to replace another user's file", path.display(), sys::describe_user(meta.uid()));
            Err(Error::new(Status::SHM_ERR_UNTRUSTED, msg))
        }
        _ => Ok(()),
    }
}

/// Page-rounds and checks a creation size for a zone with `max_writers` writer slots (0: the
/// default).
pub fn creation_geometry(size: u64, max_writers: u32) -> Result<Geometry> {
    let slots = if max_writers == 0 { layout::DEFAULT_WRITERS } else { max_writers };
    let page = sys::page_size();
    let rounded = size.checked_next_multiple_of(page).unwrap_or(u64::MAX);
    Geometry::for_file_size(rounded, slots).ok_or_else(|| {
        let msg = format!("zone size {size} is outside {}..={} bytes (for {slots} writer slots)", Geometry::min_file_size(slots), layout::MAX_FILE_SIZE);
        Error::new(Status::SHM_ERR_INVALID_SIZE, msg)
    })
}

/// Makes an unnamed, initialised zone file in `dir`. The file is sparse: only the header, the
/// writer slots and the buckets are reserved now; entry records are reserved as registrations
/// reach them (a full filesystem then fails a registration with SHM_ERR_NO_SPACE, never as a
/// SIGBUS), so creating a zone costs the same whatever its size, and all-zero records are valid
/// empty ones. A zone larger than the filesystem's free space is refused at once.
fn create_unnamed(dir: &Path, geo: Geometry, mode: u32) -> Result<Opened> {
    let file =
        FsOpen::new().read(true).write(true).mode(mode).custom_flags(libc::O_TMPFILE).open(dir).map_err(|e| Error::io(&format!("create a zone file in {}", dir.display()), e))?;
    // Apply the mode exactly, whatever the umask.
    file.set_permissions(Permissions::from_mode(mode)).map_err(|e| Error::io("chmod", e))?;
    if let Some(free) = sys::free_space(&file).filter(|&free| free < geo.file_size) {
        let msg = format!("a zone of {} bytes does not fit in {} ({free} bytes free)", geo.file_size, dir.display());
        return Err(Error::new(Status::SHM_ERR_NO_SPACE, msg));
    }
    file.set_len(geo.file_size).map_err(|e| Error::io(&format!("size the zone file to {} bytes", geo.file_size), e))?;
    sys::allocate_range(&file, 0, geo.meta_offset).map_err(|e| Error::io(&format!("reserve {} bytes", geo.meta_offset), e))?;
    let map = Mapping::map(&file, geo, true).map_err(|e| Error::io("mmap", e))?;
    init_header(&map);
    Ok(Opened { file, map })
}

fn init_header(map: &Mapping) {
    let g = *map.geometry();
    let h = map.header();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    h.version_major.store(layout::VERSION_MAJOR, Ordering::Relaxed);
    h.version_minor.store(layout::VERSION_MINOR, Ordering::Relaxed);
    h.header_size.store(layout::HEADER_REGION as u32, Ordering::Relaxed);
    h.file_size.store(g.file_size, Ordering::Relaxed);
    h.page_size.store(sys::page_size() as u32, Ordering::Relaxed);
    h.hash_id.store(layout::HASH_FNV1A_32, Ordering::Relaxed);
    h.capacity.store(g.capacity, Ordering::Relaxed);
    h.bucket_count.store(g.bucket_count, Ordering::Relaxed);
    h.attach_offset.store(g.attach_offset, Ordering::Relaxed);
    h.attach_slots.store(g.slots, Ordering::Relaxed);
    h.attach_record_size.store(layout::ATTACH_RECORD, Ordering::Relaxed);
    h.buckets_offset.store(g.buckets_offset, Ordering::Relaxed);
    h.meta_offset.store(g.meta_offset, Ordering::Relaxed);
    h.meta_record_size.store(g.meta_record_size, Ordering::Relaxed);
    h.value_record_size.store(layout::VALUE_RECORD, Ordering::Relaxed);
    h.values_offset.store(g.values_offset, Ordering::Relaxed);
    h.created_unix_ns.store(now, Ordering::Relaxed);
    h.creator_pid.store(std::process::id(), Ordering::Relaxed);
    h.magic.store(layout::MAGIC, Ordering::Release);
}

/// Opens (and if asked, creates or replaces) the zone file at `path`.
pub fn open(path: &Path, opts: &OpenOptions) -> Result<Opened> {
    opts.check()?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // A concurrent creator or remover can make each step race; a few rounds always settle it.
    for _ in 0..64 {
        if !opts.fresh {
            match open_existing(path, opts.read_only) {
                Ok(_) if opts.exclusive => {
                    return Err(Error::new(Status::SHM_ERR_EXISTS, format!("{} already exists", path.display())));
                }
                Ok(file) => return validate_and_map(file, path, opts),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && opts.create => {}
                Err(e) => return Err(open_error(path, e)),
            }
        }
        if opts.fresh {
            refuse_foreign_replacement(path, opts)?;
        }
        let opened = create_unnamed(dir, creation_geometry(opts.size, opts.max_writers)?, opts.mode)?;
        if opts.fresh {
            // Replace atomically: processes still mapping the old file keep it, unharmed.
            static SEQ: AtomicU64 = AtomicU64::new(0);
            let unique = format!("{}.{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
            let tmp = dir.join(format!(".{}.{unique}.tmp", path.file_name().unwrap_or_default().to_string_lossy()));
            let _ = std::fs::remove_file(&tmp);
            sys::link_unnamed(&opened.file, &tmp).map_err(|e| Error::io("link zone", e))?;
            if let Err(e) = std::fs::rename(&tmp, path) {
                let _ = std::fs::remove_file(&tmp);
                return Err(Error::io(&format!("replace {}", path.display()), e));
            }
            return Ok(opened);
        }
        match sys::link_unnamed(&opened.file, path) {
            Ok(()) => return Ok(opened),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && opts.exclusive => {
                return Err(Error::new(Status::SHM_ERR_EXISTS, format!("{} already exists", path.display())));
            }
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue, // lost the race: attach
            Err(e) => return Err(Error::io(&format!("link {}", path.display()), e)),
        }
    }
    Err(Error::new(Status::SHM_ERR_IO, format!("{} keeps appearing and disappearing", path.display())))
}

/// Whether `path` still names the file open as `file` (it may have been replaced or removed).
pub fn same_file(path: &Path, file: &File) -> bool {
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
