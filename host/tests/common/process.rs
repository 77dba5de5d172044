//! `tgw` as a process of the test's own: started, read until it is ready,
//! killed when dropped.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A process that is killed (SIGKILL) when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tgw` with `args` and reads its stdout until a line starting
/// with `ready`; returns the process and the lines read.
pub fn start(args: &[&str], data: &Path, skills: &Path, ready: &str) -> (Killed, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tgw"))
        .args(args)
        .env("TGW_DATA_DIR", data)
        .env("TGW_SKILLS_DIR", skills)
        .env_remove("TGW_NATS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.starts_with(ready);
        lines.push(line);
        if done {
            return (child, lines);
        }
    }
    panic!("tgw {args:?} ended before saying {ready:?}: {lines:?}");
}
