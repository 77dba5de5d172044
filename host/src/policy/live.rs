//! The active policy, reloaded when its file changes.
//!
//! The file is polled (content hash, once a second by default): simple,
//! and it also sees edits on file systems without change notifications. A
//! new file that does not load is refused with a loud log line, and the
//! old policy stays in force.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::{Policy, PolicyError, SharedRuntime};

pub struct LivePolicy {
    current: RwLock<Arc<Policy>>,
    path: PathBuf,
    runtime: SharedRuntime,
    /// Counts the replacements of the policy in force.
    changed: watch::Sender<u64>,
}

impl LivePolicy {
    pub fn load(runtime: SharedRuntime, path: PathBuf) -> Result<Arc<LivePolicy>, PolicyError> {
        let policy = Policy::load(&runtime, &path)?;
        tracing::info!(target: "tgw::policy", "policy {} loaded: {}", path.display(), policy.digest);
        Ok(Arc::new(LivePolicy {
            current: RwLock::new(Arc::new(policy)),
            path,
            runtime,
            changed: watch::channel(0).0,
        }))
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Hears of every replacement of the policy in force.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Loads the file again; on success swaps it in atomically (and tells
    /// the subscribers, when the digest changed).
    pub fn reload(&self) -> Result<String, PolicyError> {
        match Policy::load(&self.runtime, &self.path) {
            Ok(policy) => {
                let digest = policy.digest.clone();
                let old = std::mem::replace(
                    &mut *self
                        .current
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                    Arc::new(policy),
                );
                tracing::info!(target: "tgw::policy", "policy {} reloaded: {digest}", self.path.display());
                if old.digest != digest {
                    self.changed.send_modify(|n| *n += 1);
                }
                Ok(digest)
            }
            Err(e) => {
                tracing::error!(
                    target: "tgw::policy",
                    "POLICY NOT RELOADED: the new {} is refused, the previous policy ({}) stays in force: {e}",
                    self.path.display(),
                    self.current().digest
                );
                Err(e)
            }
        }
    }

    /// Watches the file until the returned task is aborted.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let live = self.clone();
        tokio::spawn(async move {
            // Compared with what was loaded, so an edit made before the
            // watch starts is still seen; a refused file is tried once.
            let mut tried = Some(live.current().text_hash);
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let now = file_hash(&live.path);
                if now != tried && now.is_some() {
                    tried = now;
                    let reloader = live.clone();
                    // Compiling a new rule component can take a while.
                    let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
                }
            }
        })
    }
}

fn file_hash(path: &std::path::Path) -> Option<[u8; 32]> {
    std::fs::read(path)
        .ok()
        .map(|bytes| Sha256::digest(bytes).into())
}
