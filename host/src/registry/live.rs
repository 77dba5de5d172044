//! The loaded skills, reloaded when the skills folder changes.
//!
//! Like the policy, the folder is polled (once a second): each skill's
//! `skill.toml` and `skill.sig` and the folder's `skills.lock` by content,
//! and its `.wasm` files by size and time, not the
//! data folders tools write into. A change loads the whole set again and
//! swaps it in; watchers (the MCP front door) hear of it when any skill's
//! component digest or presence changed, and send
//! `notifications/tools/list_changed`. Approvals and grants are pinned to
//! the digest they were proposed with, so a call proposed against the old
//! build of a skill can be neither approved nor run after it changed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use tgw_parse::names::Digest;
use tokio::sync::watch;

use super::{SkillSet, SkillTrust};
use crate::runtime::Runtime;
use crate::secrets::SecretStore;

pub struct LiveSkills {
    current: RwLock<Arc<SkillSet>>,
    /// Bumped on every change of the set's digests.
    changed: watch::Sender<u64>,
    source: Option<Source>,
}

struct Source {
    dir: PathBuf,
    runtime: Arc<Runtime>,
    secrets: Arc<SecretStore>,
    trust: SkillTrust,
}

/// `(name, component digest)` of every skill: what a change is.
fn identity(set: &SkillSet) -> Vec<(String, Digest)> {
    set.iter()
        .map(|s| (s.skill.name().to_owned(), s.component.digest.clone()))
        .collect()
}

/// What the poll compares: skill.toml contents, `.wasm` sizes and times.
fn fingerprint(dir: &Path) -> Option<String> {
    let mut hash = Sha256::new();
    let mut skills: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    skills.sort();
    if let Ok(lock) = std::fs::read(dir.join(super::provenance::LOCK_FILE)) {
        hash.update(Sha256::digest(&lock));
    }
    for skill in skills {
        hash.update(skill.as_os_str().as_encoded_bytes());
        for file in ["skill.toml", super::provenance::SIGNATURE_FILE] {
            if let Ok(bytes) = std::fs::read(skill.join(file)) {
                hash.update(file.as_bytes());
                hash.update(Sha256::digest(&bytes));
            }
        }
        let Ok(entries) = std::fs::read_dir(&skill) else {
            continue;
        };
        let mut components: Vec<_> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
            .filter_map(|e| Some((e.path(), e.metadata().ok()?)))
            .collect();
        components.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, meta) in components {
            hash.update(path.as_os_str().as_encoded_bytes());
            hash.update(meta.len().to_le_bytes());
            if let Ok(modified) = meta.modified() {
                hash.update(format!("{modified:?}").as_bytes());
            }
        }
    }
    Some(hex::encode(hash.finalize()))
}

impl LiveSkills {
    /// A set that never changes (tests, benchmarks).
    pub fn fixed(set: Arc<SkillSet>) -> Arc<Self> {
        Arc::new(LiveSkills {
            current: RwLock::new(set),
            changed: watch::channel(0).0,
            source: None,
        })
    }

    /// Loads `dir` (see [`SkillSet::load`]) and can reload it.
    pub async fn load(
        runtime: Arc<Runtime>,
        dir: &Path,
        secrets: Arc<SecretStore>,
        trust: SkillTrust,
    ) -> anyhow::Result<Arc<Self>> {
        let set = SkillSet::load(&runtime, dir, &secrets, &trust).await?;
        Ok(Arc::new(LiveSkills {
            current: RwLock::new(Arc::new(set)),
            changed: watch::channel(0).0,
            source: Some(Source {
                dir: dir.to_owned(),
                runtime,
                secrets,
                trust,
            }),
        }))
    }

    /// The skills in force now.
    pub fn current(&self) -> Arc<SkillSet> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Hears of every change (the value only counts changes).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Loads the folder again and swaps the set in. Returns whether any
    /// skill was added, removed or changed its component.
    pub async fn reload(&self) -> anyhow::Result<bool> {
        let Some(source) = &self.source else {
            return Ok(false);
        };
        let set = SkillSet::load_after(
            &source.runtime,
            &source.dir,
            &source.secrets,
            &source.trust,
            &self.current(),
        )
        .await?;
        let refused_changed = set.refused() != self.current().refused();
        let changed = identity(&set) != identity(&self.current());
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
        if changed {
            tracing::info!(target: "tgw::registry", "skills reloaded: {:?}", identity(&self.current()));
        }
        if changed || refused_changed {
            self.changed.send_modify(|n| *n += 1);
        }
        Ok(changed)
    }

    /// Polls the folder until the returned task is aborted.
    pub fn watch(self: &Arc<Self>, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let dir = self.source.as_ref()?.dir.clone();
        let live = self.clone();
        Some(tokio::spawn(async move {
            let mut seen = fingerprint(&dir);
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let now = fingerprint(&dir);
                if now != seen && now.is_some() {
                    seen = now;
                    if let Err(e) = live.reload().await {
                        tracing::error!(target: "tgw::registry", "skills not reloaded: {e}");
                    }
                }
            }
        }))
    }
}
