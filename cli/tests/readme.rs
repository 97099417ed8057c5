//! The README's `shmmetrics` commands, run exactly as printed against a zone `myapp`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = &readme[readme.find("## The `shmmetrics` command").expect("README section")..];
    let block = &section[section.find("```sh\n").unwrap() + 6..];
    let block = &block[..block.find("```").unwrap()];
    block.lines().map(|l| l.split('#').next().unwrap().trim().to_string()).filter(|l| !l.is_empty()).collect()
}

#[test]
fn the_readme_commands_work_as_printed() {
    let d = TempDir::new("readme");
    let z = create(d.path(), "myapp");
    z.counter("http_requests_total{method=\"GET\"}").unwrap().inc(3);
    let commands = readme_commands();
    assert!(commands.len() >= 5, "{commands:?}");
    for line in commands {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "shmmetrics", "{line}");
        let mut cmd = Command::new(BIN);
        cmd.args(&words[1..]).env("SHMMETRICS_DIR", d.path()).stdout(Stdio::piped()).stderr(Stdio::piped());
        if matches!(words[1], "watch" | "serve") {
            // Long-running: wait for its first output (watch off a terminal prints snapshots,
            // serve says where it listens), then stop it as a service manager would. The
            // reader is gone by then: a closed output pipe must not turn the stop into a crash.
            let mut child = cmd.spawn().unwrap();
            let first = if words[1] == "watch" {
                BufReader::new(child.stdout.take().unwrap()).lines().nth(1).unwrap().unwrap()
            } else {
                BufReader::new(child.stderr.take().unwrap()).lines().next().unwrap().unwrap()
            };
            assert!(first.contains("NAME") || first.contains("listening on"), "{line}: {first}");
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            assert!(child.wait().unwrap().success(), "{line}");
        } else {
            let o = cmd.output().unwrap();
            assert!(o.status.success(), "{line}: {}", stderr(&o));
            assert!(!o.stdout.is_empty(), "{line}");
        }
    }
}
