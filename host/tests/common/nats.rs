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
    /// A configuration file to start with (it names the port).
    config: Option<std::path::PathBuf>,
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
        Self::start_with(|_| None, "nats")
    }

    /// Starts a server with the configuration `config(port)` writes (it
    /// must listen on that port); its URL has `scheme`.
    pub fn start_with(config: impl Fn(u16) -> Option<std::path::PathBuf>, scheme: &str) -> Self {
        for _ in 0..5 {
            let port = free_port();
            let mut server = NatsServer {
                child: None,
                port,
                url: format!("{scheme}://127.0.0.1:{port}"),
                store: tempfile::tempdir().unwrap(),
                config: config(port),
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
        let mut command = Command::new("nats-server");
        match &self.config {
            Some(config) => command.arg("-c").arg(config),
            None => command.args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()]),
        };
        let child = command
            .arg("-sd")
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

/// A deployment as `tgw nats config` makes it: the least-privilege
/// configuration with TLS, its server, and each identity's seed.
pub struct Deployment {
    pub server: NatsServer,
    pub dir: tempfile::TempDir,
}

impl Deployment {
    /// Writes the configuration with `tgw nats config` (pools `default` and
    /// `billing`, TLS for 127.0.0.1) and starts a server with it.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_owned();
        let server = NatsServer::start_with(
            |port| {
                let status = Command::new(env!("CARGO_BIN_EXE_tgw"))
                    .args(["nats", "config", "--out"])
                    .arg(&out)
                    .args(["--pool", "default", "--pool", "billing"])
                    .args(["--listen", &format!("127.0.0.1:{port}")])
                    .args(["--tls-host", "127.0.0.1"])
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success(), "tgw nats config failed");
                Some(out.join("nats-server.conf"))
            },
            "tls",
        );
        Deployment { server, dir }
    }

    pub fn path(&self, file: &str) -> std::path::PathBuf {
        self.dir.path().join(file)
    }

    /// How `identity` (`gateway`, `executor_default`, `auditor`, …)
    /// connects: its nkey, and the deployment's CA.
    pub fn config(&self, identity: &str) -> tgw::backend::nats::NatsConfig {
        tgw::backend::nats::NatsConfig {
            nkey: Some(self.path(&format!("{identity}.nk"))),
            ca: Some(self.path("ca.pem")),
            ..tgw::backend::nats::NatsConfig::url(&self.server.url)
        }
    }

    /// The flags of a `tgw` process connecting as `identity`.
    pub fn flags(&self, identity: &str) -> Vec<String> {
        vec![
            "--nats".into(),
            self.server.url.clone(),
            "--nats-nkey".into(),
            self.path(&format!("{identity}.nk")).display().to_string(),
            "--nats-ca".into(),
            self.path("ca.pem").display().to_string(),
        ]
    }
}
