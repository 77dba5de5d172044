//! Updates that wait for an admin's yes.
//!
//! `tgw skill update NAME` without `--yes`, for an update that widens
//! what a skill may do, parks the checked folder in
//! `<skills dir>/.pending/NAME/` (hidden: no loader reads it) beside
//! `NAME.json`, the lock entry it would pin and the changes it was shown
//! with. The installed version keeps serving. An admin accepts it on the
//! dashboard's Skills page, naming the digest they were shown: the
//! signature and the trust policy are checked again, and the changes
//! computed again against what is installed now; if either differs, the
//! update is refused and stays parked.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tgw_parse::names::Digest;

use super::Skill;
use super::install::{self, Change};
use super::provenance::{self, Lock, Locked, SkillTrust};
use crate::runtime::Runtime;
use crate::secrets::SecretStore;

/// The hidden folder of the skills dir where updates wait.
pub const PENDING_DIR: &str = ".pending";

/// An update that waits: what it would pin, and what it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub entry: Locked,
    pub changes: Vec<Change>,
}

impl Pending {
    /// The digest an admin is shown and names to accept it: the OCI
    /// manifest's, else the component's.
    pub fn shown_digest(&self) -> &str {
        self.entry
            .digest
            .as_deref()
            .unwrap_or(&self.entry.component)
    }
}

fn folder(skills_dir: &Path, name: &str) -> PathBuf {
    skills_dir.join(PENDING_DIR).join(name)
}

fn record(skills_dir: &Path, name: &str) -> PathBuf {
    skills_dir.join(PENDING_DIR).join(format!("{name}.json"))
}

/// Parks `staged` until an admin says yes, in place of any update of the
/// same skill that waited.
pub fn park(
    skills_dir: &Path,
    staged: install::Staged,
    changes: Vec<Change>,
) -> anyhow::Result<Pending> {
    let name = staged.entry.name.clone();
    drop_pending(skills_dir, &name)?;
    std::fs::create_dir_all(skills_dir.join(PENDING_DIR))?;
    let pending = Pending {
        entry: staged.entry.clone(),
        changes,
    };
    staged.move_to(&folder(skills_dir, &name))?;
    std::fs::write(
        record(skills_dir, &name),
        serde_json::to_vec_pretty(&pending)?,
    )?;
    Ok(pending)
}

/// The updates that wait, by name. A record that cannot be read is left
/// out, with an error in the log.
pub fn list(skills_dir: &Path) -> Vec<Pending> {
    let Ok(entries) = std::fs::read_dir(skills_dir.join(PENDING_DIR)) else {
        return Vec::new();
    };
    let mut waiting: Vec<Pending> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|path| {
            let read = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()));
            read.map_err(|e| {
                tracing::error!(target: "tgw::registry", "the waiting update {} cannot be read: {e}", path.display());
            })
            .ok()
        })
        .collect();
    waiting.sort_by(|a, b| a.entry.name.cmp(&b.entry.name));
    waiting
}

/// Removes the update of `name` that waits; whether there was one.
pub fn drop_pending(skills_dir: &Path, name: &str) -> std::io::Result<bool> {
    let had = record(skills_dir, name).exists();
    for result in [
        std::fs::remove_file(record(skills_dir, name)),
        std::fs::remove_dir_all(folder(skills_dir, name)),
    ] {
        match result {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    // Gone once nothing waits.
    let _ = std::fs::remove_dir(skills_dir.join(PENDING_DIR));
    Ok(had)
}

/// What the update of `name` in `skills_dir` was recorded with.
fn read(skills_dir: &Path, name: &str) -> anyhow::Result<Pending> {
    let bytes = match std::fs::read(record(skills_dir, name)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("no update of {name} waits")
        }
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("the waiting update of {name} cannot be read: {e}"))
}

/// The update of `name` that waits, if it is the one an admin was shown
/// as `shown` (its digest).
fn read_shown(skills_dir: &Path, name: &str, shown: &str) -> anyhow::Result<Pending> {
    let pending = read(skills_dir, name)?;
    if pending.shown_digest() != shown {
        anyhow::bail!(
            "the update of {name} that waits is {}, not the {shown} you were shown: look at it again",
            pending.shown_digest()
        );
    }
    Ok(pending)
}

/// Drops the update of `name` that an admin was shown as `shown`; the
/// installed version goes on serving. Returns what waited.
pub fn reject(skills_dir: &Path, name: &str, shown: &str) -> anyhow::Result<Pending> {
    let pending = read_shown(skills_dir, name, shown)?;
    drop_pending(skills_dir, name)?;
    Ok(pending)
}

/// Accepts the update of `name` that an admin was shown with `shown` (its
/// digest): checks it again and puts it in place. Returns what waited.
pub async fn accept(
    skills_dir: &Path,
    name: &str,
    shown: &str,
    trust: &SkillTrust,
    runtime: &Runtime,
    secrets: &SecretStore,
) -> anyhow::Result<Pending> {
    let pending = read_shown(skills_dir, name, shown)?;
    let parked = folder(skills_dir, name);
    let skill = Skill::load(&parked)?;
    let component = std::fs::read(skill.component_path())?;
    if Digest::of(&component).as_str() != pending.entry.component {
        anyhow::bail!("the waiting update of {name} holds other bytes than it was checked with");
    }
    let would_be = Lock {
        skills: vec![pending.entry.clone()],
    };
    provenance::check(&skill, &component, trust, &Ok(would_be))
        .map_err(|e| anyhow::anyhow!("the update of {name} is refused: {e}"))?;
    let installed = Skill::load(&skills_dir.join(name))?;
    let changes = install::changes(runtime, secrets, &installed, &skill).await?;
    if changes != pending.changes {
        anyhow::bail!(
            "{name} changed since this update was shown (what it changes is not what you saw): \
             run `tgw skill update {name}` again"
        );
    }
    let staged = install::Staged::adopt(skills_dir, skill, pending.entry.clone())?;
    install::put_in_place(skills_dir, staged)?;
    drop_pending(skills_dir, name)?;
    Ok(pending)
}
