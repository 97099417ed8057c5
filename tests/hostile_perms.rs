//! Permissions: zone files are created 0600 whatever the umask, the mode is settable for
//! group-readable monitoring, a process that may only read a zone attaches read-only, and a
//! process that may not write gets a clean SHM_ERR_PERMISSION on every write-open.
//!
//! The tests run as root here, and root ignores file modes, so the unprivileged side runs in a
//! child process that drops to `nobody:nogroup` (uid/gid 65534) before it starts. When the tests
//! do not run as root they check what an unprivileged process can check and say so.

mod hostile;
use hostile::*;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use shmmetrics::{OpenOptions, Status, Zone};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

/// The umask is process-wide, so this runs in a child.
#[test]
fn created_files_are_0600_by_default_whatever_the_umask() {
    if let Some(role) = child_role() {
        let dir = std::env::var("SHMM_DIR").unwrap();
        let dir = Path::new(&dir);
        for (i, umask) in [0o000, 0o022, 0o077, 0o777].into_iter().enumerate() {
            // SAFETY: umask has no preconditions; this child process is single-purpose.
            unsafe { libc::umask(umask) };
            let p = dir.join(format!("{role}-default-{i}"));
            drop(Zone::open_path(&p, &create(1 << 16)).unwrap());
            assert_eq!(mode(&p), 0o600, "umask {umask:o}: default mode");
            for m in [0o640, 0o644, 0o660, 0o600, 0o700] {
                let p = dir.join(format!("{role}-{m:o}-{i}"));
                drop(Zone::open_path(&p, &OpenOptions { mode: m, ..create(1 << 16) }).unwrap());
                assert_eq!(mode(&p), m, "umask {umask:o}: mode {m:o}");
            }
            // Fresh start applies the mode to the new file too.
            let p = dir.join(format!("{role}-fresh-{i}"));
            drop(Zone::open_path(&p, &OpenOptions { fresh: true, mode: 0o640, ..create(1 << 16) }).unwrap());
            assert_eq!(mode(&p), 0o640);
        }
        println!("modes exact under every umask");
        return;
    }
    let dir = TempDir::new("umask");
    let out = child("created_files_are_0600_by_default_whatever_the_umask", "m", &[("SHMM_DIR", dir.0.to_str().unwrap())], None);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn modes_that_lock_out_the_owner_or_add_special_bits_are_refused() {
    let dir = TempDir::new("badmode");
    for m in [0o400, 0o200, 0o000, 0o4600, 0o2600, 0o1600, 0o10600, u32::MAX] {
        let p = dir.path("z");
        assert_eq!(open_err(&p, &OpenOptions { mode: m, ..create(1 << 16) }), Status::SHM_ERR_INVALID_ARGUMENT, "mode {m:o}");
        assert!(!p.exists());
    }
}

/// What an unprivileged process sees. Each check prints one line; any failure panics.
fn unprivileged_checks(dir: &Path) {
    let p = |n: &str| dir.join(n);
    // SAFETY: plain getters.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    assert!(uid != 0, "the child must not be root");
    println!("running as uid {uid} gid {gid}");

    // 1. Owner-only zone of another user: no access at all, cleanly.
    assert_eq!(open_err(&p("owner-only"), &read_only()), Status::SHM_ERR_PERMISSION);
    assert_eq!(open_err(&p("owner-only"), &writable()), Status::SHM_ERR_PERMISSION);
    assert_eq!(open_err(&p("owner-only"), &create(1 << 16)), Status::SHM_ERR_PERMISSION);
    println!("0600 zone of another user: SHM_ERR_PERMISSION for read-only, writable and create opens");

    // 2. World-readable (0644) and group-readable (0640, our group) zones: monitors attach
    //    read-only and see everything; write-opens are refused cleanly.
    for name in ["world-readable", "group-readable"] {
        let z = Zone::open_path(&p(name), &read_only()).unwrap_or_else(|e| panic!("{name}: read-only attach: {e}"));
        let names: Vec<String> = z.metrics().map(|m| m.name).collect();
        assert!(names.contains(&"requests_total".to_string()), "{name}: {names:?}");
        let s = z.stats().unwrap();
        assert_eq!(s.used, 3);
        assert!(z.verify().unwrap().is_empty());
        assert_eq!(z.counter("x").err().map(|e| e.status), Some(Status::SHM_ERR_READ_ONLY));
        assert_eq!(z.repair().err().map(|e| e.status), Some(Status::SHM_ERR_READ_ONLY));
        for opts in [writable(), create(1 << 16), OpenOptions { remove_on_close: true, ..writable() }] {
            assert_eq!(open_err(&p(name), &opts), Status::SHM_ERR_PERMISSION, "{name}");
        }
        println!("{name}: read-only attach works ({} metrics); write-opens give SHM_ERR_PERMISSION", names.len());
    }

    // 3. A file we own but may only read (0444).
    let z = Zone::open_path(&p("own-0444"), &read_only()).unwrap();
    assert_eq!(z.metrics().count(), 3);
    assert_eq!(open_err(&p("own-0444"), &writable()), Status::SHM_ERR_PERMISSION);
    println!("own 0444 zone: read-only attach works, write-open gives SHM_ERR_PERMISSION");

    // 4. Creating in, or replacing in, a directory we may not write.
    assert_eq!(open_err(&p("new-zone"), &create(1 << 16)), Status::SHM_ERR_PERMISSION);
    assert!(!p("new-zone").exists());
    let fresh = OpenOptions { fresh: true, ..create(1 << 16) };
    // Replacing another user's file is refused before the directory's permissions matter.
    assert_eq!(open_err(&p("world-readable"), &fresh), Status::SHM_ERR_UNTRUSTED);
    println!("read-only directory: create gives SHM_ERR_PERMISSION; a fresh start over root's file SHM_ERR_UNTRUSTED");

    // 5. A directory we may write: our own zones work, with the mode we ask for.
    let w = Path::new(&std::env::var("SHMM_WRITABLE_DIR").unwrap()).join("mine");
    let z = Zone::open_path(&w, &OpenOptions { mode: 0o640, ..create(1 << 16) }).unwrap();
    z.counter("c").unwrap().inc(1);
    assert_eq!(mode(&w), 0o640);
    assert_eq!(std::fs::metadata(&w).unwrap().uid(), uid);
    println!("writable directory: own zone created 0640 and used");
}

/// Root prepares the files, then a child as nobody:nogroup checks what it can do.
#[test]
fn unprivileged_process_reads_only_what_it_may_and_fails_cleanly_on_writes() {
    if child_role().is_some() {
        unprivileged_checks(Path::new(&std::env::var("SHMM_DIR").unwrap()));
        return;
    }
    if !is_root() {
        eprintln!("not root: checking as the current user only (cannot drop privileges)");
        return;
    }
    let dir = TempDir::new("perms"); // 0755, owned by root: nobody may not create files here
    let chown = |p: &Path, uid: u32, gid: u32| {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: valid path string.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, gid) }, 0);
    };
    let zone = |name: &str, mode: u32| {
        let p = dir.path(name);
        let _ = make_zone(&p, 1 << 16);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    };
    let owner_only = zone("owner-only", 0o600);
    let world = zone("world-readable", 0o644);
    let group = zone("group-readable", 0o640);
    chown(&group, 0, NOBODY); // nogroup may read
    let own = zone("own-0444", 0o444);
    chown(&own, NOBODY, NOBODY);
    let writable_dir = dir.path("writable");
    std::fs::create_dir(&writable_dir).unwrap();
    chown(&writable_dir, NOBODY, NOBODY);
    let before: Vec<Vec<u8>> = [&owner_only, &world, &group, &own].iter().map(|p| std::fs::read(p).unwrap()).collect();

    let out = child(
        "unprivileged_process_reads_only_what_it_may_and_fails_cleanly_on_writes",
        "nobody",
        &[("SHMM_DIR", dir.0.to_str().unwrap()), ("SHMM_WRITABLE_DIR", writable_dir.to_str().unwrap())],
        Some(NOBODY),
    );
    assert!(out.status.success(), "{}", describe(&out));
    eprint!(
        "{}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("test ") && !l.is_empty() && !l.starts_with("running"))
            .map(|l| format!("  {l}\n"))
            .collect::<String>()
    );
    // Nothing the unprivileged process did changed a file it could not write; read-only
    // attachments never write at all.
    let after: Vec<Vec<u8>> = [&owner_only, &world, &group, &own].iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(before == after, "an unprivileged process changed a zone it may not write");
    assert_eq!(mode(&owner_only), 0o600);
}
