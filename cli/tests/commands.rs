//! Every subcommand against real zones written by the library: golden `dump` output in every
//! format, list, stats, verify (healthy, orphaned, damaged, repaired), rm, and each error case
//! with its exit code. Regenerate the golden files with `UPDATE_GOLDEN=1 cargo test -p
//! shmmetrics-cli --test commands` and review the diff.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use serde_json::Value as Json;
use shmmetrics::layout_table::{bucket_head, header};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

fn golden(name: &str, got: &str) {
    let path = Path::new(GOLDEN).join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(got, want, "{name} differs from the golden file");
}

#[test]
fn dump_text_prometheus_openmetrics_match_the_golden_files() {
    let d = TempDir::new("golden");
    let _z = golden_zone(d.path());
    for (format, file) in [("text", "dump.txt"), ("prometheus", "dump.prom"), ("openmetrics", "dump.om")] {
        let o = shm_in(d.path(), &["dump", "golden", "--format", format]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        golden(file, &stdout(&o));
        if format != "text" {
            assert!(stderr(&o).contains("skipped \"jobs_total\""), "the clash is reported: {}", stderr(&o));
        }
    }
    let o = shm_in(d.path(), &["dump", "golden", "--format", "prometheus", "--counters-as-gauges", "--namespace", "app"]);
    golden("dump-counters-as-gauges.prom", &stdout(&o));
}

#[test]
fn dump_json_matches_the_golden_file_and_the_library() {
    let d = TempDir::new("json");
    let z = golden_zone(d.path());
    let o = shm_in(d.path(), &["dump", "golden", "--format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let mut j: Json = serde_json::from_str(&stdout(&o)).unwrap();
    // What changes from run to run is checked against the library, then normalised.
    let info = z.info().unwrap();
    assert_eq!(j["zone"]["path"], info.path.display().to_string());
    assert_eq!(j["zone"]["created_unix_ns"], info.created_unix_ns);
    assert_eq!(j["zone"]["creator_pid"], info.creator_pid);
    j["zone"]["path"] = Json::from("PATH");
    j["zone"]["created_unix_ns"] = Json::from(0);
    j["zone"]["creator_pid"] = Json::from(0);
    let lib: std::collections::HashMap<String, (u64, u64)> = z.metrics().map(|s| (s.name, (s.generation, s.created_unix_ns))).collect();
    for m in j["metrics"].as_array_mut().unwrap() {
        let (generation, created) = lib[m["name"].as_str().unwrap()];
        assert_eq!(m["generation"], generation);
        assert_eq!(m["created_unix_ns"], created);
        m["generation"] = Json::from(0);
        m["created_unix_ns"] = Json::from(0);
    }
    golden("dump.json", &(serde_json::to_string_pretty(&j).unwrap() + "\n"));
}

#[test]
fn dump_selects_with_match_and_exclude() {
    let d = TempDir::new("select");
    let _z = golden_zone(d.path());
    let o = shm_in(d.path(), &["dump", "golden", "--match", "http_*", "--match", "jobs", "--exclude", "*POST*"]);
    let out = stdout(&o);
    let names: Vec<&str> = out.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(names, ["http_requests_total{method=\"GET\",code=\"200\"}", "jobs"]);
    let o = shm_in(d.path(), &["dump", "golden", "--match", "[oops"]);
    assert_eq!(code(&o), 2, "a bad glob is a usage error: {}", stderr(&o));
}

#[test]
fn a_zone_is_found_by_name_in_dir_or_env_or_by_path() {
    let d = TempDir::new("resolve");
    let _z = golden_zone(d.path());
    let by_dir = shm(&["--dir", d.path().to_str().unwrap(), "dump", "golden"]);
    let by_env = shm_in(d.path(), &["dump", "golden"]);
    let path = d.join("shmmetrics-golden");
    let by_path = shm(&["dump", path.to_str().unwrap()]);
    let by_file_name = shm_in(d.path(), &["dump", "shmmetrics-golden"]);
    for o in [&by_dir, &by_env, &by_path, &by_file_name] {
        assert_eq!(code(o), 0, "{}", stderr(o));
        assert_eq!(stdout(o), stdout(&by_dir));
    }
    assert!(stdout(&by_dir).contains("workers"));
}

#[test]
fn list_shows_zones_and_files_that_are_not() {
    let d = TempDir::new("list");
    let z = golden_zone(d.path());
    let _writer = z.counter("jobs").unwrap(); // this process stays attached
    std::fs::write(d.join("shmmetrics-junk"), vec![7u8; 8192]).unwrap();
    std::fs::write(d.join("unrelated"), b"x").unwrap();
    let o = shm(&["list", "--dir", d.path().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("ZONE") && lines[0].contains("USED/CAP") && lines[0].contains("WRITERS"), "{out}");
    let golden: Vec<&str> = lines[1].split_whitespace().collect();
    let cap = z.capacity();
    let info = z.info().unwrap();
    assert_eq!(golden[..3], ["golden", "shmmetrics", &format!("{}.{}", info.version_major, info.version_minor)], "{out}");
    assert!(lines[1].contains(&format!("9/{cap}")), "{out}");
    assert_eq!(golden[golden.len() - 2..], ["1", "0"], "one writer attached, no failed registrations: {out}");
    assert!(lines[2].starts_with("junk") && lines[2].contains("not a zone"), "{out}");
    let j: Json = serde_json::from_str(&stdout(&shm(&["list", "--dir", d.path().to_str().unwrap(), "--json"]))).unwrap();
    assert_eq!(j["zones"][0]["used"], 9);
    assert_eq!(j["zones"][1]["exit_code"], 4);
    let empty = TempDir::new("list-empty");
    assert!(stdout(&shm(&["list", "--dir", empty.path().to_str().unwrap()])).starts_with("no zones in"));
    let o = shm(&["list", "--dir", d.join("nope").to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
}

#[test]
fn stats_reports_occupancy_and_origin() {
    let d = TempDir::new("stats");
    let z = golden_zone(d.path());
    let o = shm_in(d.path(), &["stats", "golden"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains(&format!("9 of {} used", z.capacity())), "{out}");
    assert!(out.contains(&format!("by pid {}", std::process::id())), "{out}");
    assert!(out.contains("1 attached"), "{out}");
    assert!(out.contains("high water            9 ") && out.contains("registration lock     free; 0 timeouts, 0 takeovers"), "{out}");
    let j: Json = serde_json::from_str(&stdout(&shm_in(d.path(), &["stats", "golden", "--json"]))).unwrap();
    assert_eq!(j["used"], 9);
    assert_eq!(j["attached"], 1);
    assert_eq!((j["high_water"].as_u64(), j["lock_holder"].is_null(), j["lock_takeovers"].as_u64()), (Some(9), true, Some(0)));
    assert_eq!(j["mode"], "0600");
}

/// Edits the zone file at `path` (closed by every process) as an image, through the library's
/// layout table.
fn edit_image(path: &Path, edit: impl FnOnce(&mut [u8])) {
    let mut image = std::fs::read(path).unwrap();
    edit(&mut image);
    std::fs::write(path, image).unwrap();
}

#[test]
fn verify_healthy_orphaned_damaged_and_repaired() {
    let d = TempDir::new("verify");
    let path = d.join("shmmetrics-golden");
    {
        let z = golden_zone(d.path());
        z.counter("left_behind").unwrap().inc(1);
    } // closed without releasing: every metric is now an orphan, which is no damage
    let o = shm_in(d.path(), &["verify", "golden"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("healthy") && stdout(&o).contains("10 orphaned"), "{}", stdout(&o));
    // Point bucket 0 at an entry that does not exist.
    edit_image(&path, |image| bucket_head(image, 0).put(image, 0xFFFF_FFF0));
    let o = shm_in(d.path(), &["verify", "golden"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("DAMAGED") && stdout(&o).contains("out of range"), "{}", stdout(&o));
    let o = shm_in(d.path(), &["verify", "golden", "--repair"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("after repair: healthy"), "{}", stdout(&o));
    assert_eq!(code(&shm_in(d.path(), &["verify", "golden"])), 0);
    assert!(stdout(&shm_in(d.path(), &["dump", "golden"])).contains("left_behind"), "repair keeps the metrics");
}

#[test]
fn rm_refuses_while_writers_are_attached() {
    let d = TempDir::new("rm");
    let path = d.join("shmmetrics-golden");
    let z = golden_zone(d.path());
    let o = shm_in(d.path(), &["rm", "golden"]);
    assert_eq!(code(&o), 8, "{}", stderr(&o));
    assert!(stderr(&o).contains("1 writer(s) attached"), "{}", stderr(&o));
    assert!(path.exists());
    drop(z);
    let o = shm_in(d.path(), &["rm", "golden"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(!path.exists());
    let _z = golden_zone(d.path());
    assert_eq!(code(&shm_in(d.path(), &["rm", "golden", "--force"])), 0);
    assert!(!path.exists());
    std::fs::write(d.join("shmmetrics-junk"), vec![1u8; 8192]).unwrap();
    let o = shm_in(d.path(), &["rm", "junk", "--force"]);
    assert_eq!(code(&o), 4, "a file that is no zone is never removed: {}", stderr(&o));
    assert!(d.join("shmmetrics-junk").exists());
}

fn damaged_copy(d: &TempDir, name: &str, damage: impl FnOnce(&mut Vec<u8>)) {
    let mut image = std::fs::read(d.join("shmmetrics-golden")).unwrap();
    damage(&mut image);
    std::fs::write(d.join(&format!("shmmetrics-{name}")), image).unwrap();
}

#[test]
fn each_error_has_its_exit_code_and_a_clear_message() {
    let d = TempDir::new("errors");
    let _z = golden_zone(d.path());
    damaged_copy(&d, "v2", |image| header::version_major.put(image, 2));
    damaged_copy(&d, "short", |image| image.truncate(5000));
    std::fs::write(d.join("shmmetrics-junk"), vec![7u8; 8192]).unwrap();
    std::fs::create_dir(d.join("shmmetrics-adir")).unwrap();
    let cases: [(&[&str], i32, &str); 8] = [
        (&["dump", "nosuch"], 3, "does not exist"),
        (&["dump", "junk"], 4, "not a shmmetrics zone"),
        (&["dump", "adir"], 4, "not a regular file"),
        (&["dump", "v2"], 5, "version"),
        (&["dump", "short"], 6, "corrupt or truncated"),
        (&["dump", "bad name"], 2, "must be 1-200 characters"),
        (&["stats", "nosuch"], 3, "does not exist"),
        (&["verify", "short"], 6, "corrupt or truncated"),
    ];
    for (args, want, text) in cases {
        let o = shm_in(d.path(), args);
        assert_eq!(code(&o), want, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("shmmetrics: ") && stderr(&o).contains(text), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?} printed {}", stdout(&o));
    }
}

/// Runs the command as an unprivileged user (when the tests run as root) or as ourselves, on a
/// zone it may not read.
#[test]
fn a_zone_without_read_permission_is_exit_7() {
    let d = TempDir::new("perm");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let _z = golden_zone(d.path());
    let path = d.join("shmmetrics-golden");
    let mut cmd;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        // A copy of the binary that the unprivileged user can run, wherever the tree lives.
        let bin = d.join("shmmetrics");
        std::fs::copy(BIN, &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        cmd = std::process::Command::new(bin);
        std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
        std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
    } else {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        cmd = std::process::Command::new(BIN);
    }
    cmd.args(["dump", path.to_str().unwrap()]);
    // Another test's fork may briefly hold the copy open for writing (ETXTBSY): try again.
    let o = (0..100)
        .find_map(|_| match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                None
            }
            r => Some(r.unwrap()),
        })
        .expect("the copy stays busy");
    assert_eq!(code(&o), 7, "{}", stderr(&o));
    assert!(stderr(&o).contains("ermission denied"), "{}", stderr(&o));
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["list", "dump", "watch", "serve", "stats", "verify", "rm", "completions"] {
        let o = shm(&[sub, "--help"]);
        assert_eq!(code(&o), 0, "{sub}");
        assert!(stdout(&o).contains(&format!("Usage: shmmetrics {sub}")), "{sub}: {}", stdout(&o));
    }
    let o = shm(&["--help"]);
    assert!(stdout(&o).contains("Exit codes:") && stdout(&o).contains("3  zone not found"));
    assert_eq!(code(&shm(&["frobnicate"])), 2);
    let o = shm(&["completions", "bash"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("_shmmetrics()") && stdout(&o).contains("--counters-as-gauges"));
}
