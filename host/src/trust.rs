//! Trusted keys that follow their file: a set an executor (the gateway
//! keys whose grants it runs) or a gateway (the executor keys whose
//! receipts it believes) reads on every check, reloaded from the data dir
//! once a second. So `tgw keys untrust`, `tgw keys trust` after a rotation
//! and `tgw executors untrust` take effect within seconds, without a
//! restart. A file that can no longer be read trusts nobody (fail closed)
//! until it can.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tgw_proto::grant::TrustedKey;

use crate::keys::KeyError;

#[derive(Clone)]
pub struct LiveTrust {
    keys: Arc<RwLock<Vec<TrustedKey>>>,
}

impl LiveTrust {
    /// A set that changes only when [`LiveTrust::set`] or a watch says so.
    pub fn fixed(keys: Vec<TrustedKey>) -> Self {
        LiveTrust {
            keys: Arc::new(RwLock::new(keys)),
        }
    }

    /// The keys trusted now.
    pub fn current(&self) -> Vec<TrustedKey> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the set; true if it changed.
    pub fn set(&self, keys: Vec<TrustedKey>) -> bool {
        let mut current = self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ids = |keys: &[TrustedKey]| {
            let mut ids: Vec<(String, [u8; 32])> = keys
                .iter()
                .map(|k| (k.kid.clone(), k.key.to_bytes()))
                .collect();
            ids.sort();
            ids
        };
        if ids(&current) == ids(&keys) {
            return false;
        }
        *current = keys;
        true
    }

    /// Reloads the set with `load` every `every` until the task is
    /// aborted; `what` names it in the log.
    pub fn watch(
        &self,
        what: &'static str,
        every: Duration,
        load: impl Fn() -> Result<Vec<TrustedKey>, KeyError> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let trust = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let keys = match load() {
                    Ok(keys) => keys,
                    Err(e) => {
                        if !trust.current().is_empty() {
                            tracing::error!(target: "tgw::keys", "{what} cannot be read, so none is trusted until it can: {e}");
                        }
                        Vec::new()
                    }
                };
                if trust.set(keys) {
                    let kids: Vec<String> = trust.current().into_iter().map(|k| k.kid).collect();
                    tracing::info!(target: "tgw::keys", "{what} changed: now {kids:?}");
                }
            }
        })
    }
}
