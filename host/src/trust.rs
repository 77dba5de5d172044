//! Trusted keys that follow their file: a set an executor (the gateway
//! keys whose grants it runs) or a gateway (the executor keys whose
//! receipts it believes) reads on every check, reloaded from the data dir
//! once a second. So `tgw keys untrust`, `tgw keys trust` after a rotation
//! and `tgw executors untrust` take effect within seconds, without a
//! restart. A file that can no longer be read trusts nobody (fail closed)
//! until it can.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::json;
use tgw_proto::grant::TrustedKey;

use crate::audit::{Audit, AuditKind};
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
    /// aborted; `what` names it in the log. Each change this process
    /// takes up is audited (`trust.changed`, in `audit`'s chain), so a
    /// key trusted or untrusted with the command line is in the log from
    /// the moment it counts, on every machine that applies it.
    pub fn watch(
        &self,
        what: &'static str,
        every: Duration,
        audit: Audit,
        load: impl Fn() -> Result<Vec<TrustedKey>, KeyError> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let trust = self.clone();
        tokio::spawn(async move {
            // What this process starts with, so that a change made while
            // nothing ran shows between two starts.
            let detail = json!({"keys": what, "start": true, "trusted": kids(&trust.current())});
            audit.record(AuditKind::TrustChanged, "", detail).await;
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let (keys, unreadable) = match load() {
                    Ok(keys) => (keys, None),
                    Err(e) => {
                        if !trust.current().is_empty() {
                            tracing::error!(target: "tgw::keys", "{what} cannot be read, so none is trusted until it can: {e}");
                        }
                        (Vec::new(), Some(e.to_string()))
                    }
                };
                let before = kids(&trust.current());
                if trust.set(keys) {
                    let now = kids(&trust.current());
                    tracing::info!(target: "tgw::keys", "{what} changed: now {now:?}");
                    let detail = json!({
                        "keys": what,
                        "added": now.difference(&before).collect::<Vec<_>>(),
                        "removed": before.difference(&now).collect::<Vec<_>>(),
                        "unreadable": unreadable,
                    });
                    audit.record(AuditKind::TrustChanged, "", detail).await;
                }
            }
        })
    }
}

fn kids(keys: &[TrustedKey]) -> BTreeSet<String> {
    keys.iter().map(|k| k.kid.clone()).collect()
}
