//! A nats-server of the test's own, with JetStream, on a free port and a
//! temporary store, that the test can stop and start again.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    pub url: String,
    store: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NatsServer {
    /// Starts a server on a free port. Tests run in parallel: a port that
    /// was free a moment ago may be taken by another test's server, so a
    /// server that exits at once is started again on another port.
    pub fn start() -> Self {
        for _ in 0..5 {
            let port = free_port();
            let mut server = NatsServer {
                child: None,
                port,
                url: format!("nats://127.0.0.1:{port}"),
                store: tempfile::tempdir().unwrap(),
            };
            if server.try_start() {
                return server;
            }
        }
        panic!("nats-server did not start on any of five free ports");
    }

    /// Starts the server again on its port (after `stop`).
    pub fn restart(&mut self) {
        assert!(
            self.try_start(),
            "nats-server did not start again on port {}",
            self.port
        );
    }

    /// Spawns nats-server and waits until it listens; false if it exited
    /// (its port was taken).
    fn try_start(&mut self) -> bool {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed (.ci/run installs it)");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if self.exited() {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The listener may be another test's server on the same port: ours
        // then exits at once, failing to bind.
        std::thread::sleep(Duration::from_millis(100));
        !self.exited()
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| !matches!(c.try_wait(), Ok(None)))
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The backend of a gateway on the open server at `url` (it creates the
/// streams).
pub async fn backend(url: &str) -> tgw::backend::Backend {
    tgw::backend::nats::backend(
        &tgw::backend::nats::NatsConfig::url(url),
        tgw::backend::nats::Opener::Gateway,
    )
    .await
    .unwrap()
}
