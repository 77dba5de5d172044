//! The loaded skills, reloaded when the skills folder changes (or, on an
//! executor that runs what a gateway serves, when the gateway's record
//! `skills.served` changes: see [`super::served`]).
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

use super::pending::{self, Pending};
use super::served::FromGateway;
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
    runtime: Arc<Runtime>,
    secrets: Arc<SecretStore>,
    from: From,
}

/// Where the skills come from.
enum From {
    /// A skills folder, whose components this host checks itself.
    Folder { dir: PathBuf, trust: SkillTrust },
    /// What a gateway serves ([`super::served`]): an executor on NATS.
    Gateway(FromGateway),
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
                runtime,
                secrets,
                from: From::Folder {
                    dir: dir.to_owned(),
                    trust,
                },
            }),
        }))
    }

    /// The skills `gateway` serves (see [`super::served`]), fetched by
    /// digest; none yet while the gateway has published none.
    pub async fn from_gateway(
        runtime: Arc<Runtime>,
        gateway: FromGateway,
        secrets: Arc<SecretStore>,
    ) -> anyhow::Result<Arc<Self>> {
        let live = Arc::new(LiveSkills {
            current: RwLock::new(Arc::new(SkillSet::default())),
            changed: watch::channel(0).0,
            source: Some(Source {
                runtime,
                secrets,
                from: From::Gateway(gateway),
            }),
        });
        live.reload().await?;
        Ok(live)
    }

    /// Whether the skills come from a gateway's record.
    pub fn from_a_gateway(&self) -> bool {
        matches!(
            self.source,
            Some(Source {
                from: From::Gateway(_),
                ..
            })
        )
    }

    /// The skills folder and trust of a host that loads its own folder.
    pub fn folder(&self) -> Option<(&Path, &SkillTrust)> {
        match &self.source.as_ref()?.from {
            From::Folder { dir, trust } => Some((dir, trust)),
            From::Gateway(_) => None,
        }
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
        let set = match &source.from {
            From::Folder { dir, trust } => {
                SkillSet::load_after(
                    &source.runtime,
                    dir,
                    &source.secrets,
                    trust,
                    &self.current(),
                )
                .await?
            }
            From::Gateway(gateway) => {
                // No record (or a forged one): what serves keeps serving.
                let Some(served) = super::served::read(&*gateway.people).await? else {
                    return Ok(false);
                };
                gateway
                    .load(&served, &source.runtime, &source.secrets, &self.current())
                    .await
            }
        };
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

    /// The updates that wait for an admin's yes ([`super::pending`]).
    pub fn pending(&self) -> Vec<Pending> {
        self.folder()
            .map(|(dir, _)| pending::list(dir))
            .unwrap_or_default()
    }

    /// Accepts the waiting update of `name` that an admin was shown as
    /// `shown`, and serves it.
    pub async fn accept_pending(&self, name: &str, shown: &str) -> anyhow::Result<Pending> {
        let (Some(source), Some((dir, trust))) = (&self.source, self.folder()) else {
            anyhow::bail!("this host has no skills folder of its own");
        };
        let accepted =
            pending::accept(dir, name, shown, trust, &source.runtime, &source.secrets).await?;
        self.reload().await?;
        Ok(accepted)
    }

    /// Drops the waiting update of `name` that an admin was shown as
    /// `shown`; the installed version goes on serving.
    pub fn reject_pending(&self, name: &str, shown: &str) -> anyhow::Result<Pending> {
        let Some((dir, _)) = self.folder() else {
            anyhow::bail!("this host has no skills folder of its own");
        };
        pending::reject(dir, name, shown)
    }

    /// Before a call to `skill` at `component`: if this executor runs
    /// what a gateway serves and has another set, it reads the gateway's
    /// record once more (the record may have changed since the last poll).
    pub async fn catch_up(&self, skill: &str, component: &str) {
        if !self.from_a_gateway()
            || self
                .current()
                .get(skill)
                .is_some_and(|s| s.component.digest.as_str() == component)
        {
            return;
        }
        self.reload_logged().await;
    }

    /// Polls the folder, or the gateway's record, until the returned task
    /// is aborted.
    pub fn watch(self: &Arc<Self>, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let source = self.source.as_ref()?;
        let live = self.clone();
        let task = match &source.from {
            From::Folder { dir, .. } => {
                let dir = dir.clone();
                tokio::spawn(async move {
                    let mut seen = fingerprint(&dir);
                    let mut tick = tokio::time::interval(every);
                    loop {
                        tick.tick().await;
                        let now = fingerprint(&dir);
                        if now != seen && now.is_some() {
                            seen = now;
                            live.reload_logged().await;
                        }
                    }
                })
            }
            From::Gateway(gateway) => {
                let people = gateway.people.clone();
                tokio::spawn(async move {
                    let mut seen = None;
                    let mut tick = tokio::time::interval(every);
                    loop {
                        tick.tick().await;
                        let Ok(Some(now)) = people.get(super::served::KEY).await else {
                            continue;
                        };
                        if seen.as_ref() != Some(&now.value) {
                            seen = Some(now.value);
                            live.reload_logged().await;
                        }
                    }
                })
            }
        };
        Some(task)
    }

    async fn reload_logged(&self) {
        if let Err(e) = self.reload().await {
            tracing::error!(target: "tgw::registry", "skills not reloaded: {e}");
        }
    }
}
