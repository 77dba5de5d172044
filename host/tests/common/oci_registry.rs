//! A real OCI registry for the tests: Debian's `docker-registry` (the CNCF
//! distribution registry 2.8), on a free port, storing in a temp dir,
//! killed when dropped.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct DockerRegistry {
    child: Child,
    /// `127.0.0.1:<port>`, for references.
    pub host: String,
    storage: tempfile::TempDir,
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DockerRegistry {
    /// Starts a registry; a port taken between choosing and binding makes
    /// it exit, and it is started again on another.
    pub fn start() -> Self {
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let storage = tempfile::tempdir().unwrap();
            let config = storage.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                    storage.path().join("data").display()
                ),
            )
            .unwrap();
            let mut child = Command::new("/usr/bin/docker-registry")
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("docker-registry is installed (apt-get install docker-registry; .ci/run does this)");
            let started = Instant::now();
            let up = loop {
                if child.try_wait().unwrap().is_some() {
                    break false;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break true;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "docker-registry did not listen"
                );
                std::thread::sleep(Duration::from_millis(50));
            };
            if up {
                return DockerRegistry {
                    child,
                    host: format!("127.0.0.1:{port}"),
                    storage,
                };
            }
        }
        panic!("docker-registry did not start on any of five free ports");
    }

    /// Where the registry keeps the blob `sha256:<hex>`.
    pub fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}
