//! `shmmetrics watch` in a pseudo-terminal (openpty; no tmux needed): it draws, refreshes while
//! a writer counts, filters, quits on q, Ctrl-C and SIGTERM, and restores the terminal every
//! time, a panic included. Off a terminal it prints plain snapshots, with resets shown as such.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

struct Pty {
    child: Child,
    master: std::fs::File,
    slave: OwnedFd,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Pty {
        let (mut master, mut slave) = (0, 0);
        let ws = libc::winsize { ws_row: 30, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty writes two descriptors; the pointers are valid.
        assert_eq!(unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &ws) }, 0);
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe { (std::fs::File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let io = || Stdio::from(slave.try_clone().unwrap());
        let mut cmd = Command::new(BIN);
        cmd.args(args).envs(env.iter().copied()).env("TERM", "xterm").stdin(io()).stdout(io()).stderr(io());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let screen = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().unwrap(), screen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty { child, master, slave, screen }
    }

    fn raw(&self) -> Vec<u8> {
        self.screen.lock().unwrap().clone()
    }

    /// The output without escape sequences, split into frames (each redraw starts with the title).
    fn frames(&self) -> Vec<String> {
        let text = strip_ansi(&self.raw());
        text.split("shmmetrics watch ").skip(1).map(str::to_owned).collect()
    }

    fn wait_for(&self, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let frames = self.frames();
            if ok(&frames) {
                return frames;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}; screen:\n{}", strip_ansi(&self.raw()));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn send(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    fn lflag(&self) -> libc::tcflag_t {
        // SAFETY: termios is plain data; tcgetattr fills it.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(self.slave.as_raw_fd(), &mut t) }, 0);
        t.c_lflag
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100)); // let the reader drain
                return s;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("watch did not exit; screen:\n{}", strip_ansi(&self.raw()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Exited with the terminal as it found it: cooked mode, echo, main screen, cursor shown.
    fn assert_restored(&self) {
        let l = self.lflag();
        assert!(l & libc::ICANON != 0 && l & libc::ECHO != 0, "terminal left in raw mode");
        let raw = String::from_utf8_lossy(&self.raw()).into_owned();
        let leave = raw.rfind("\x1b[?1049l").expect("left the alternate screen");
        assert!(leave > raw.rfind("\x1b[?1049h").unwrap());
        assert!(raw.rfind("\x1b[?25h").expect("cursor shown again") > raw.rfind("\x1b[?25l").unwrap());
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.next_if_eq(&'[').is_some() {
            // The parameters, up to and including the final byte.
            chars.by_ref().find(|c| ('@'..='~').contains(c));
        } else {
            chars.next();
        }
    }
    out
}

/// The value column of `name` in a frame.
fn value_in(frame: &str, name: &str) -> Option<i64> {
    let rest = &frame[frame.find(name)? + name.len()..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn writer(dir: &std::path::Path) -> (shmmetrics::Zone, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let z = create(dir, "w");
    z.counter("beta_jobs_total").unwrap().inc(5);
    z.gauge("gamma_level").unwrap().update(42);
    let alpha = z.counter("alpha_requests_total").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let t = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            alpha.inc(10);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    (z, stop, t)
}

#[test]
fn draws_refreshes_filters_and_quits_restoring_the_terminal() {
    let d = TempDir::new("watch");
    let (_z, stop, t) = writer(d.path());
    let zone = d.join("shmmetrics-w");
    let mut pty = Pty::spawn(&["watch", zone.to_str().unwrap(), "--interval", "0.2"], &[]);
    let frames = pty.wait_for("three frames with every metric", |f| f.len() >= 3 && f.last().is_some_and(|l| l.contains("gamma_level")));
    assert!(pty.lflag() & libc::ECHO == 0, "raw mode while running");
    let last = frames.last().unwrap();
    assert!(last.contains("RATE/s") && last.contains("TREND") && last.contains("beta_jobs_total"), "{last}");
    // Refreshes: alpha's value grows from frame to frame.
    let frames = pty.wait_for("alpha to grow", |f| {
        let vals: Vec<i64> = f.iter().filter_map(|fr| value_in(fr, "alpha_requests_total")).collect();
        vals.len() >= 2 && vals.last() > vals.first()
    });
    assert!(frames.last().unwrap().contains('▁') || frames.last().unwrap().contains('█'), "a trend is drawn");
    pty.send(b"/beta\r");
    pty.wait_for("the filter to apply", |f| f.last().is_some_and(|l| l.contains("filter: beta") && l.contains("beta_jobs_total") && !l.contains("alpha_requests_total")));
    pty.send(b"s");
    pty.wait_for("sort by value", |f| f.last().is_some_and(|l| l.contains("sort: value")));
    pty.send(b"p");
    pty.wait_for("pause", |f| f.last().is_some_and(|l| l.contains("[paused]")));
    pty.send(b"q");
    assert!(pty.wait_exit().success());
    pty.assert_restored();
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
}

#[test]
fn ctrl_c_sigterm_and_a_panic_restore_the_terminal() {
    let d = TempDir::new("watch-exit");
    let z = create(d.path(), "w");
    z.counter("c").unwrap().inc(1);
    let zone = d.join("shmmetrics-w");
    let zone = zone.to_str().unwrap();

    let mut pty = Pty::spawn(&["watch", zone, "--interval", "0.1"], &[]);
    pty.wait_for("a frame", |f| !f.is_empty());
    pty.send(b"\x03");
    assert!(pty.wait_exit().success());
    pty.assert_restored();

    let mut pty = Pty::spawn(&["watch", zone, "--interval", "0.1"], &[]);
    pty.wait_for("a frame", |f| !f.is_empty());
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pty.child.id() as i32, libc::SIGTERM) };
    assert!(pty.wait_exit().success());
    pty.assert_restored();

    let mut pty = Pty::spawn(&["watch", zone, "--interval", "0.1"], &[("SHMMETRICS_TEST_WATCH_PANIC", "2")]);
    let status = pty.wait_exit();
    assert_eq!(status.code(), Some(101), "a panic exits 101");
    pty.assert_restored();
    // The panic hook restores the terminal before the message is printed, so the message is on
    // the main screen; and the terminal is restored once (leaving the alternate screen again
    // would move the cursor back over the message).
    let raw = String::from_utf8_lossy(&pty.raw()).into_owned();
    let after_enter = &raw[raw.rfind("\x1b[?1049h").unwrap()..];
    assert_eq!(after_enter.matches("\x1b[?1049l").count(), 1, "restored once");
    let leave = after_enter.find("\x1b[?1049l").unwrap();
    assert!(strip_ansi(&after_enter.as_bytes()[leave..]).contains("panicking after 2 refreshes"), "the panic message is printed after the restore");
}

#[test]
fn plain_snapshots_off_a_terminal_with_resets_not_negative_rates() {
    let d = TempDir::new("watch-plain");
    let z = create(d.path(), "w");
    let c = z.counter("c").unwrap();
    c.inc(100);
    z.gauge("g").unwrap().update(7);
    let zone = d.join("shmmetrics-w");
    let mut child = Command::new(BIN).args(["watch", zone.to_str().unwrap(), "--interval", "0.5", "--count", "2"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines().map(Result::unwrap);
    let first: Vec<String> = lines.by_ref().take_while(|l| !l.is_empty()).collect();
    assert!(first[0].starts_with("# ") && first[0].contains("(2 metrics)"), "{first:?}");
    assert_eq!(first[1].split_whitespace().collect::<Vec<_>>(), ["NAME", "KIND", "VALUE", "RATE/s"]);
    assert_eq!(first[2].split_whitespace().collect::<Vec<_>>(), ["c", "counter", "100", "-"]);
    // Re-register `c` with a lower value before the next snapshot: a reset, not -95/s.
    c.release().unwrap();
    z.counter("c").unwrap().inc(5);
    let second: Vec<String> = lines.by_ref().take_while(|l| !l.is_empty()).collect();
    assert_eq!(second[2].split_whitespace().collect::<Vec<_>>(), ["c", "counter", "5", "reset"], "{second:?}");
    assert_eq!(second[3].split_whitespace().collect::<Vec<_>>(), ["g", "gauge", "7", "0"]);
    assert!(child.wait().unwrap().success());
    assert_eq!(lines.count(), 0, "--count 2 prints two snapshots");
}
