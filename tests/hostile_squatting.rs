//! Zones other users can write (issue 10): a writer refuses a zone file that another user owns or
//! that group/others may write beyond what it asked for, whether it opens, creates or starts
//! fresh, and whoever it runs as (root included); read-only monitors read anything the OS lets
//! them; `trust_shared` opts in. Nothing in a refused file changes.
//!
//! Ownership needs root to set up (chown); without root only the mode checks run.

mod hostile;
use hostile::*;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use shmmetrics::{OpenOptions, Status, Zone};

fn chown(p: &Path, uid: u32, gid: u32) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: valid path string.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, gid) }, 0);
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `opts` must refuse `p` with SHM_ERR_UNTRUSTED, naming why, and leave every byte as it was;
/// a read-only open must list the planted metric.
fn refused_untouched(p: &Path, opts: &OpenOptions, why: &str) {
    let before = std::fs::read(p).unwrap();
    let e = Zone::open_path(p, opts).err().unwrap_or_else(|| panic!("{}: a writer attached to it", p.display()));
    assert_eq!(e.status, Status::SHM_ERR_UNTRUSTED, "{}: {}", p.display(), e.message);
    assert!(e.message.contains(why), "{}: message {:?} does not say {why:?}", p.display(), e.message);
    assert!(std::fs::read(p).unwrap() == before, "{}: a refused open wrote the file", p.display());
    let ro = Zone::open_path(p, &read_only()).unwrap();
    assert_eq!(ro.metrics().find(|m| m.name == "requests_total").map(|m| m.bits as i64), Some(42), "monitors read it");
    assert!(std::fs::read(p).unwrap() == before, "{}: a read-only open wrote the file", p.display());
}

#[test]
fn writers_refuse_zones_other_users_own() {
    if !is_root() {
        eprintln!("not root: cannot give a file to another user; ownership checks skipped");
        return;
    }
    let dir = TempDir::new("squat");
    for mode in [0o666, 0o644, 0o600] {
        let p = dir.path(&format!("nobody-{mode:o}"));
        make_zone(&p, 1 << 16);
        chown(&p, NOBODY, NOBODY);
        chmod(&p, mode);
        for opts in [writable(), create(1 << 16), OpenOptions { mode: 0o666, ..create(1 << 16) }] {
            refused_untouched(&p, &opts, "uid 65534");
        }
        // A fresh start never renames over another user's file either.
        refused_untouched(&p, &OpenOptions { fresh: true, ..create(1 << 16) }, "another user's file");
        // Opting in attaches (a zone shared between users on purpose).
        let z = Zone::open_path(&p, &OpenOptions { trust_shared: true, ..writable() }).unwrap();
        assert_eq!(z.counter("requests_total").unwrap().count(), 42);
    }
    // By name, in a shared directory, as the service would open it.
    let p = dir.path("shmmetrics-myapp");
    make_zone(&p, 1 << 16);
    chown(&p, NOBODY, NOBODY);
    chmod(&p, 0o666);
    let e = Zone::open_in(Some(&dir.0), "myapp", &create(1 << 16)).err().unwrap();
    assert_eq!(e.status, Status::SHM_ERR_UNTRUSTED);
    println!("files of uid 65534 (0666, 0644, 0600): writers refuse, monitors read, trust_shared attaches");
}

#[test]
fn writers_refuse_zones_others_may_write() {
    let dir = TempDir::new("modes");
    for (mode, why) in [(0o666, "any user"), (0o646, "any user"), (0o662, "any user"), (0o660, "its group"), (0o620, "its group")] {
        let p = dir.path(&format!("own-{mode:o}"));
        make_zone(&p, 1 << 16);
        chmod(&p, mode);
        refused_untouched(&p, &writable(), why);
        refused_untouched(&p, &create(1 << 16), why);
    }
    // Write bits the opener asked for itself are fine: a group-writable zone for a service run
    // by several users of one group, and nothing more.
    let p = dir.path("group-shared");
    make_zone(&p, 1 << 16);
    chmod(&p, 0o660);
    let z = Zone::open_path(&p, &OpenOptions { mode: 0o660, ..writable() }).unwrap();
    drop(z);
    chmod(&p, 0o662);
    refused_untouched(&p, &OpenOptions { mode: 0o660, ..writable() }, "any user");
    // A zone the opener creates with group write passes its own check.
    let q = dir.path("created-660");
    drop(Zone::open_path(&q, &OpenOptions { mode: 0o660, ..create(1 << 16) }).unwrap());
    assert!(Zone::open_path(&q, &OpenOptions { mode: 0o660, ..writable() }).is_ok());
    assert_eq!(open_err(&q, &writable()), Status::SHM_ERR_UNTRUSTED, "a 0600 opener refuses it");
}
