//! `tgw` as a process of the test's own: run to the end, or started, read
//! until it is ready, and killed when dropped.

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

/// `tgw` with `args`, and `data` and `skills` as its folders.
fn tgw(args: &[&str], data: &Path, skills: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tgw"));
    command
        .args(args)
        .env("TGW_DATA_DIR", data)
        .env("TGW_SKILLS_DIR", skills);
    command
}

/// Starts `tgw` with `args` and reads its stdout until a line starting
/// with `ready`; returns the process and the lines read.
/// Its standard error goes to `<data>/stderr.log`.
pub fn start(args: &[&str], data: &Path, skills: &Path, ready: &str) -> (Killed, Vec<String>) {
    std::fs::create_dir_all(data).unwrap();
    let stderr = std::fs::File::create(data.join("stderr.log")).unwrap();
    let mut child = tgw(args, data, skills)
        .env_remove("TGW_NATS")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout).lines();
    for line in reader.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with(ready);
        lines.push(line);
        if done {
            // Keep reading what it prints later: a closed pipe would make
            // its next line fail.
            std::thread::spawn(move || reader.for_each(drop));
            return (child, lines);
        }
    }
    panic!("tgw {args:?} ended before saying {ready:?}: {lines:?}");
}

/// Runs `tgw` with `args` to the end, `data` and `skills` as its folders
/// and `stdin` as its input.
pub fn run(data: &Path, skills: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write as _;
    let mut child = tgw(args, data, skills)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// What a command that must succeed printed; its output when it did not.
pub fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
